/* The per-child reactor (mpm_event only). After the WebSocket handshake the
 * handler returns SUSPENDED; the suspend_connection hook, which runs on the
 * worker once the MPM has let go of the connection, queues it for the
 * reactor thread and wakes it (this file). From then on
 * that thread alone touches the connection (pools, buckets, filters,
 * mod_ssl state) until it destroys c->pool, which also settles the MPM's
 * connection counts.
 *
 * One epoll set holds every WebSocket's socket, an eventfd for wake-ups and
 * the sockets of this child's relay links: while the reactor runs it is the
 * links' only reader (no reader thread), so siod's frames for its
 * WebSockets reach them with no thread hop; frames for request threads
 * (long-polls, handshakes) are queued for them as before.
 *
 * Nor does it ever wait for siod: its WebSockets' frames for siod go to
 * the link's output queue (socketio_waiter_reactor_send), sent when the
 * link's socket takes them (POLLOUT is watched while some are left). When
 * the queue is at SocketIORelayQueue a client's next message waits, and
 * that client's socket is not read (back-pressure) until the queue is
 * down to half; pings and closes of other clients are still answered.
 *
 * I/O follows what httpd 2.4's core filters allow on a non-blocking
 * socket: reads with ap_get_brigade(APR_NONBLOCK_READ), re-driven after
 * adopting a connection and whenever its output drains (mod_ssl may hold
 * input the socket will never signal); writes pass at most WRITE_CHUNK
 * bytes, without FLUSH, only while nothing is pending, then re-drive the
 * core output filter with a NULL brigade; POLLOUT is watched while
 * c->data_in_output_filters. Where the core output filter is the only one
 * (no TLS), queued frames are written straight to the socket instead, all
 * that a turn queued for a client in one writev, and a frame for one
 * client that finds its queue empty is written as it comes; the socket is
 * read into the reactor's memory by a filter just above the core's
 * (socketio_reactor_io.c): a message costs no allocation from the system.
 * Messages waiting to be written are bounded
 * per WebSocket (SocketIOWebSocketQueue): volatile messages are dropped
 * first (socketio_ws_out.c); a client that stops reading is closed (1008) and
 * dropped after CLOSE_TIMEOUT.
 *
 * The reactor is five files sharing socketio_reactor_int.h (its structs,
 * limits, small list helpers and the functions one file calls in another),
 * calling one way, top first:
 * - socketio_reactor.c (this one): the entry points, on other threads:
 *   start and stop in the child, the handler's hand-off and the
 *   suspend_connection / process_connection hooks (worker threads; the
 *   worker marks). Starts the thread on socketio_reactor_main and
 *   registers the link sink (socketio_reactor_sink).
 * - socketio_reactor_loop.c: the event loop (socketio_reactor_main),
 *   reading, writing, timers, the per-connection state machine and the
 *   close and lingering close. Calls the adopt and links files.
 * - socketio_reactor_adopt.c: adoption of handed-off connections and the
 *   freeing of closed ones' pools (the pool lifetime after SUSPENDED,
 *   explained there).
 * - socketio_reactor_links.c: the relay links' sockets on the epoll set,
 *   flushing their output queues, and the link sink's callbacks.
 * - socketio_reactor_io.c: the reactor's own socket I/O (input filter,
 *   direct writer), put on a connection at adoption.
 * Of the last three only adopt calls another (io). Every function of the
 * loop, adopt, links and io files runs on the reactor thread; this
 * file's run where their naming block (socketio_ws.h,
 * socketio_reactor.h) says. */
#include "socketio_reactor_int.h"
#include "socketio_ws.h"

APLOG_USE_MODULE(socketio);

static socketio_reactor *child_reactor;

/* The calling thread's mark, valid for the reactor it was made for. */
static __thread worker_mark *my_mark;
static __thread socketio_reactor *my_mark_re;

#ifdef SOCKETIO_FAULT_INJECTION
/* Tests only (SAN builds): SOCKETIO_FI_HANDOFF_DELAY_MS in httpd's
 * environment makes every worker stall that long right after a hand-off,
 * then store to c as the MPM does once the hooks return. */
static apr_interval_time_t fi_handoff_delay;
#endif

/* ---- life cycle --------------------------------------------------- */

/* Pre-cleanup of pchild (the MPM has joined its workers): stops the
 * reactor, which closes what is left, and joins it. */
static apr_status_t reactor_cleanup(void *data)
{
    socketio_reactor *re = data;
    apr_status_t trv;

    apr_thread_mutex_lock(re->mutex);
    re->exiting = 1;
    re->stop_mode = STOP_NOW;
    apr_thread_mutex_unlock(re->mutex);
    wake(re);
    if (re->thread)
        apr_thread_join(&trv, re->thread);
    re->thread = NULL;
    child_reactor = NULL;
    return APR_SUCCESS;
}

static apr_status_t fds_cleanup(void *data)
{
    socketio_reactor *re = data;

    if (re->epfd >= 0)
        close(re->epfd);
    if (re->wakefd >= 0)
        close(re->wakefd);
    re->epfd = re->wakefd = -1;
    if (re->alloc)
        apr_allocator_destroy(re->alloc);
    re->alloc = NULL;
    return APR_SUCCESS;
}

/* Returns 1 if no other module's suspend_connection hook runs after
 * ours (socketio_reactor_adopt.c, its opening comment's first point). */
static int suspend_hook_last(void)
{
    apr_array_header_t *hooks = ap_hook_get_suspend_connection();
    ap_LINK_suspend_connection_t *l;

    if (!hooks || hooks->nelts < 1)
        return 0;
    l = (ap_LINK_suspend_connection_t *)hooks->elts;
    return l[hooks->nelts - 1].pFunc == socketio_reactor_suspend_connection;
}

/* See socketio_ws.h. */
void socketio_reactor_child_init(apr_pool_t *pchild, server_rec *s)
{
    socketio_reactor *re;
    struct epoll_event ev;
    sigset_t all, old;
    apr_status_t rv;
    int async = 0, i;

    child_reactor = NULL;
    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) != APR_SUCCESS || !async)
        return;
    if (!suspend_hook_last()) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "mod_socketio: another module's suspend_connection "
                     "hook runs after mod_socketio's, so a suspended "
                     "connection cannot be handed over safely; WebSockets "
                     "will hold worker threads (SocketIOWebSocketThreads)");
        return;
    }
#ifdef SOCKETIO_FAULT_INJECTION
    {
        const char *d = getenv("SOCKETIO_FI_HANDOFF_DELAY_MS");

        fi_handoff_delay = d ? apr_time_from_msec(atoi(d)) : 0;
    }
#endif
    re = apr_pcalloc(pchild, sizeof(*re));
    re->pool = pchild;
    re->s = s;
    re->wake_kind = EV_WAKE;
    re->epfd = epoll_create1(EPOLL_CLOEXEC);
    re->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    apr_pool_cleanup_register(pchild, re, fds_cleanup, apr_pool_cleanup_null);
    if (re->epfd < 0 || re->wakefd < 0 ||
        apr_thread_mutex_create(&re->mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS ||
        apr_pool_create(&re->marks, pchild) != APR_SUCCESS ||
        apr_pool_create(&re->own, pchild) != APR_SUCCESS ||
        apr_allocator_create(&re->alloc) != APR_SUCCESS)
        goto fail;
    apr_allocator_max_free_set(re->alloc, 4 * 1024 * 1024);
    re->ba = apr_bucket_alloc_create_ex(re->alloc);
    re->scratch = apr_palloc(pchild, SCRATCH_SIZE);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &re->wake_kind;
    if (!re->ba || epoll_ctl(re->epfd, EPOLL_CTL_ADD, re->wakefd, &ev) != 0)
        goto fail;
    re->nlinks = socketio_link_count();
    re->links = apr_pcalloc(pchild, sizeof(rlink) * (re->nlinks + 1));
    re->fan_tail = &re->fan_list;
    for (i = 0; i < re->nlinks; i++) {
        re->links[i].kind = EV_LINK;
        re->links[i].link = socketio_link_at(i);
        re->links[i].fd = -1;
    }
    socketio_reactor_io_register();
    socketio_link_set_sink(&socketio_reactor_sink, re);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&re->thread, NULL, socketio_reactor_main, re,
                           pchild);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != APR_SUCCESS) {
        socketio_link_set_sink(NULL, NULL);
        goto fail;
    }
    apr_pool_pre_cleanup_register(pchild, re, reactor_cleanup);
    child_reactor = re;
    return;
fail:
    ap_log_error(APLOG_MARK, APLOG_ERR, errno, s,
                 "mod_socketio: cannot start the WebSocket reactor; "
                 "WebSockets will hold worker threads "
                 "(SocketIOWebSocketThreads)");
}

/* See socketio_ws.h. */
void socketio_reactor_child_stopping(int graceful)
{
    socketio_reactor *re = child_reactor;

    if (!re)
        return;
    apr_thread_mutex_lock(re->mutex);
    if (re->stop_mode < (graceful ? STOP_GRACEFUL : STOP_NOW))
        re->stop_mode = graceful ? STOP_GRACEFUL : STOP_NOW;
    apr_thread_mutex_unlock(re->mutex);
    wake(re);
}

/* See socketio_reactor.h. */
int socketio_reactor_running(void)
{
    socketio_reactor *re = child_reactor;

    return re && !re->stop_mode;
}

/* See socketio_reactor.h. */
int socketio_reactor_accepts(conn_rec *c)
{
    socketio_reactor *re = child_reactor;

    /* The pool must own its allocator to be set aside (see
     * socketio_reactor_adopt.c); the event MPM gives each connection
     * one. */
    return re && !re->stop_mode && c->cs && !c->master &&
           ap_get_conn_socket(c) &&
           apr_allocator_owner_get(apr_pool_allocator_get(c->pool)) ==
               c->pool;
}

/* See socketio_reactor.h. */
int socketio_reactor_handoff(socketio_ws *ws)
{
    conn_rec *c = ws->c;
    rconn *rc = apr_pcalloc(c->pool, sizeof(*rc));

    rc->kind = EV_CONN;
    rc->ws = ws;
    rc->c = c;
    rc->r = ws->r;
    rc->csd = ap_get_conn_socket(c);
    rc->fd = ws->client_fd;
    rc->tmpbb = apr_brigade_create(c->pool, c->bucket_alloc);
    apr_socket_timeout_set(rc->csd, 0);
    ap_set_module_config(c->conn_config, &socketio_module, rc);
    return SUSPENDED;
}

/* See socketio_ws.h. The hand-off rules are in socketio_reactor_adopt.c
 * (its opening comment, points 1 and 2). */
void socketio_reactor_suspend_connection(conn_rec *c, request_rec *r)
{
    socketio_reactor *re = child_reactor;
    rconn *rc = ap_get_module_config(c->conn_config, &socketio_module);

    if (!rc)
        return;
    ap_set_module_config(c->conn_config, &socketio_module, NULL);
    if (!re || !c->cs || c->cs->state != CONN_STATE_SUSPENDED) {
        /* Cannot happen: the handler returned SUSPENDED on a live
         * connection of an async MPM. */
        ap_log_cerror(APLOG_MARK, APLOG_CRIT, 0, c,
                      "mod_socketio: WebSocket not suspended as expected; "
                      "its connection is lost");
        return;
    }
    c->sbh = NULL;
    apr_thread_mutex_lock(re->mutex);
    if (my_mark_re != re) {
        my_mark = apr_pcalloc(re->marks, sizeof(*my_mark));
        my_mark_re = re;
    }
    rc->worker = my_mark;
    rc->worker_units = apr_atomic_read64(&my_mark->units);
    rc->next = re->incoming;
    re->incoming = rc;
    apr_thread_mutex_unlock(re->mutex);
    wake(re);
#ifdef SOCKETIO_FAULT_INJECTION
    if (fi_handoff_delay > 0) {
        apr_sleep(fi_handoff_delay);
        c->sbh = NULL;
    }
#endif
}

/* See socketio_ws.h. */
int socketio_reactor_process_connection(conn_rec *c)
{
    worker_mark *m = my_mark;
    socketio_reactor *re = child_reactor;

    if (!m || my_mark_re != re)
        return DECLINED;
    apr_atomic_inc64(&m->units);
    if (apr_atomic_read32(&m->awaited) && apr_atomic_xchg32(&m->awaited, 0))
        wake(re);
    return DECLINED;
}
