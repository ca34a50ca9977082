/* The reactor's hand-off and pool lifetime (see socketio_reactor.c for the
 * whole reactor): its start and stop in the child, the handler's hand-off
 * and the suspend_connection / process_connection hooks (worker threads),
 * adoption of a handed-off connection and the freeing of a closed one's
 * pool (reactor thread). Calls socketio_reactor.c only to start the thread
 * (socketio_reactor_main) and socketio_reactor_links.c only for the sink
 * it registers with the links.
 *
 * Memory: on adoption the upgrade request is finished with
 * ap_process_request_after_handler (the access log line, then r->pool
 * goes) and CONN_STATE_SUSPENDED restored; the WebSocket's state lives in
 * c->pool, so a held client keeps only c->pool and the connection's bucket
 * allocator. The end: close frame, WS_CLOSED to siod, a non-blocking
 * lingering close, then c->pool is destroyed, or its memory set aside
 * until the worker that handed it off has moved on (below).
 *
 * Pool lifetime after SUSPENDED. The worker W that suspended the
 * connection runs the suspend_connection hooks, then the MPM stores to
 * the connection's memory (httpd 2.4 event.c notify_suspend:
 * c->sbh = NULL, cs->suspended = 1, both in c->pool) and returns from
 * process_socket; nothing in 2.4 tells a module when that is done (there
 * is no resume call for a suspended connection). So no fixed delay is
 * trusted; instead:
 * 1. Our suspend_connection hook must be the last one (checked in
 *    child_init, else no reactor: WebSockets hold threads). After it W
 *    runs no module code with c or r, only the MPM's stores above, which
 *    touch c->pool's memory but never r, never allocate and never call the
 *    pool API. Hence r->pool may go at adoption.
 * 2. Each thread that hands a connection off has a worker_mark whose
 *    units count the process_connection hooks it has begun (our hook runs
 *    REALLY_FIRST; the count is bumped only by the thread owning the mark,
 *    through thread-local storage). The hook records W's count under the
 *    hand-off mutex. W begins another process_connection only in a later
 *    process_socket call, after the one that suspended this connection has
 *    returned, so a count seen different (atomics: W's increment is a full
 *    barrier, the reactor's read follows it) proves W has left the MPM's
 *    code for this connection, whatever the scheduling. The counter is 64
 *    bits: it cannot wrap back to the recorded value.
 * 3. When the connection ends and W has moved on, c->pool is destroyed.
 *    Otherwise its cleanups must still run now (the MPM's graceful stop
 *    waits for its connection count, so waiting for an idle W could hang
 *    the child): the reactor takes c->pool's allocator (the MPM gives each
 *    connection pool its own, owned by that pool; socketio_reactor_accepts
 *    checks it), makes it keep every block, destroys the pool (cleanups
 *    run, counts settle) and sets the allocator aside. W's stores land in
 *    memory still allocated and never reused. The allocator is destroyed
 *    once W's count moves (W wakes the reactor then, as asked by
 *    worker_mark.awaited) or, at the latest, in the pchild pre-cleanup,
 *    after the MPM has joined its workers. W's next connection proves every
 *    earlier hand-off of W, so at most one allocator per worker thread is
 *    set aside at any time. No time is involved anywhere. */
#include "socketio_reactor_int.h"

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

/* ---- the end of the upgrade request ------------------------------ */

/* Finishes the upgrade request: the EOR bucket logs the access line and
 * destroys r->pool, so a held WebSocket keeps only c->pool (its state and
 * waiter live there). Safe at adoption: no hook runs after ours with r
 * (see the opening comment). Later calls do nothing. */
static void release_request(rconn *rc)
{
    request_rec *r = rc->r;

    if (!r)
        return;
    rc->r = NULL;
    if (rc->ws) {
        rc->ws->r = NULL;
        rc->ws->sr = NULL;
    }
    ap_process_request_after_handler(r);
    /* The MPM counts the connection as suspended until its pool goes. */
    rc->c->cs->state = CONN_STATE_SUSPENDED;
}

/* ---- the end of a connection -------------------------------------- */

/* Returns 1 once the worker that recorded units has begun other work, so
 * it has left the MPM's code for the connections it handed off before. */
static int worker_moved(const worker_mark *m, apr_uint64_t units)
{
    return apr_atomic_read64((volatile apr_uint64_t *)&m->units) != units;
}

/* Destroys c->pool if its worker has moved on (or force: the workers are
 * joined); otherwise runs its cleanups now and sets its memory aside (see
 * the opening comment). rc, which lives in that pool, is gone after. */
static void free_conn_pool(socketio_reactor *re, rconn *rc, int force)
{
    apr_pool_t *p = rc->c->pool;
    worker_mark *m = rc->worker;
    apr_uint64_t units = rc->worker_units;
    apr_allocator_t *alloc;
    set_aside *sa;

    if (force || worker_moved(m, units)) {
        ap_log_cerror(APLOG_MARK, APLOG_TRACE2, 0, rc->c,
                      "mod_socketio: reactor: pool freed");
        apr_pool_destroy(p);
        return;
    }
    ap_log_cerror(APLOG_MARK, APLOG_TRACE2, 0, rc->c,
                  "mod_socketio: reactor: pool set aside until its worker "
                  "thread moves on");
    if ((sa = re->aside_free) != NULL)
        re->aside_free = sa->next;
    else
        sa = apr_palloc(re->own, sizeof(*sa));
    alloc = apr_pool_allocator_get(p);
    apr_allocator_owner_set(alloc, NULL);
    /* Keep every block: the worker may still store to them. */
    apr_allocator_max_free_set(alloc, 0);
    apr_pool_destroy(p);
    sa->alloc = alloc;
    sa->worker = m;
    sa->units = units;
    sa->next = re->aside;
    re->aside = sa;
    /* Dekker with socketio_reactor_process_connection: set the flag, then
     * look at units (release_aside, next); it bumps units, then looks at
     * the flag. One of the two sees the other. */
    apr_atomic_xchg32(&m->awaited, 1);
}

/* Frees the memory set aside for workers that have moved on (all: every
 * worker is joined). */
static void release_aside(socketio_reactor *re, int all)
{
    set_aside **pp = &re->aside, *sa;

    while ((sa = *pp) != NULL) {
        if (!all && !worker_moved(sa->worker, sa->units)) {
            pp = &sa->next;
            continue;
        }
        *pp = sa->next;
        apr_allocator_destroy(sa->alloc);
        ap_log_error(APLOG_MARK, APLOG_TRACE2, 0, re->s,
                     "mod_socketio: reactor: set-aside pool freed");
        sa->next = re->aside_free;
        re->aside_free = sa;
    }
}

/* The pools of closed connections: each goes (or is set aside) once no
 * record of it is on the dirty list; force: all, the workers are joined. */
void socketio_reactor_bury(socketio_reactor *re, int force)
{
    rconn *rc, *next;

    for (rc = re->grave; rc; rc = next) {
        next = rc->next;
        if (rc->dirty && !force)
            continue;
        list_remove(&re->grave, rc);
        free_conn_pool(re, rc, force);
    }
    release_aside(re, force);
}

/* ---- taking connections over -------------------------------------- */

void socketio_reactor_adopt(socketio_reactor *re, rconn *rc)
{
    socketio_ws *ws = rc->ws;
    socketio_frame *queued, *f;
    struct epoll_event ev;
    apr_status_t rv;

    /* An upgraded connection lives long: memory it frees (read buffers,
     * written frames) goes back to the system instead of staying on the
     * connection's own free list (MaxMemFree would let it keep 2 MB). */
    apr_allocator_max_free_set(apr_pool_allocator_get(rc->c->pool), 1);
    rc->re = re;
    rc->phase = RC_WS;
    list_add(&re->conns, rc);
    re->nconns++;
    ap_log_cerror(APLOG_MARK, APLOG_TRACE2, 0, rc->c,
                  "mod_socketio: reactor: adopted a WebSocket");
    ws->out_alloc = re->ba;
    ws->on_reactor = 1;
    rv = socketio_waiter_bind(ws->w, rc, &queued);
    while ((f = queued) != NULL) {
        queued = f->next;
        socketio_ws_siod_frame(ws, &f->f);
        socketio_frame_release(f);
    }
    if (rv == APR_ECONNRESET)
        rc->link_failed = 1;
    else if (rv == APR_ENOSPC)
        ws->overflow = 1;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = rc;
    if (epoll_ctl(re->epfd, EPOLL_CTL_ADD, rc->fd, &ev) != 0) {
        static socketio_log_throttle poll_log;
        int err = errno;
        apr_uint32_t n;
        int level = socketio_log_level(&poll_log, APLOG_ERR, &n);

        ap_log_cerror(APLOG_MARK, level, err, rc->c,
                      "mod_socketio: reactor cannot poll a WebSocket; "
                      "closing it%s",
                      socketio_log_dropped_note(rc->c->pool, n));
        socketio_ws_lost(ws, err, "not pollable");
    } else {
        rc->events = EPOLLIN;
    }
    /* The access log line, then r->pool goes. */
    release_request(rc);
    rc->read_more = 1;
    mark_dirty(rc);   /* the EOR may have written or failed */
}

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
 * ours (the opening comment's first point). */
static int suspend_hook_last(void)
{
    apr_array_header_t *hooks = ap_hook_get_suspend_connection();
    ap_LINK_suspend_connection_t *l;

    if (!hooks || hooks->nelts < 1)
        return 0;
    l = (ap_LINK_suspend_connection_t *)hooks->elts;
    return l[hooks->nelts - 1].pFunc == socketio_reactor_suspend_connection;
}

/* See the header. */
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
    for (i = 0; i < re->nlinks; i++) {
        re->links[i].kind = EV_LINK;
        re->links[i].link = socketio_link_at(i);
        re->links[i].fd = -1;
    }
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

/* See the header. */
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

/* See the header. */
int socketio_reactor_running(void)
{
    socketio_reactor *re = child_reactor;

    return re && !re->stop_mode;
}

/* See the header. */
int socketio_reactor_accepts(conn_rec *c)
{
    socketio_reactor *re = child_reactor;

    /* The pool must own its allocator to be set aside (see the opening
     * comment); the event MPM gives each connection one. */
    return re && !re->stop_mode && c->cs && !c->master &&
           ap_get_conn_socket(c) &&
           apr_allocator_owner_get(apr_pool_allocator_get(c->pool)) ==
               c->pool;
}

/* See the header. */
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

/* See the header. */
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

/* See the header. */
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
