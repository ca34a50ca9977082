/* The per-child relay link: one Unix-socket connection to siod per daemon
 * socket path and httpd child, opened lazily, checked with HELLO and a
 * mutual proof of the relay secret (AUTH), re-opened after a failure, and
 * shared by every request and WebSocket thread of the child through
 * waiters (frame queue + eventfd) keyed by conn. This file holds the
 * link's life: opening it (socketio_link_ensure_open), the outage flags in
 * shared memory, its creation, the child's list of links and the hooks.
 *
 * The link is seven files sharing socketio_link_int.h (the structs, the
 * limits and the cross-file functions); they call one way, top first:
 * - socketio_link_waiter.c: the waiter registry and the threads' own
 *   writes and waits. Calls this file (ensure_open, child_is_stopping),
 *   the reader's frame memory, the output queue and the fd helpers.
 * - socketio_link.c (this one): open, create, child init/stopping.
 *   Starts the reader thread, connects through socketio_link_hello.c and
 *   notes the link up or failed through socketio_link_state.c.
 * - socketio_link_read.c: the reader thread, frame reassembly, dispatch
 *   and WS_FANOUT (decoded by shared/). Takes the link down through
 *   socketio_link_state.c.
 * - socketio_link_hello.c: connect, HELLO and AUTH.
 * - socketio_link_state.c: taking the link down (it frees the output
 *   queue) and the outage lines.
 * - socketio_link_oq.c: the reactor's output queue and its sink calls,
 *   and the frame building both writers share
 *   (socketio_waiter_frame_parts).
 * - socketio_link_fd.c: deadline polls, whole writes, waiter wake-ups.
 * No two files of the link call each other.
 *
 * Who reads: a reader thread per link, except under mpm_event, where the
 * child's reactor (socketio_reactor.c) registers a sink and reads every
 * link itself (socketio_link_reactor_read): frames for waiters bound to
 * it (its WebSockets) go straight to the sink's callbacks, frames for
 * request threads are queued for them as usual. Both readers share
 * link_pump, which never blocks. WS_FANOUT is split there: one call per
 * bound recipient on a message encoded once, a copy per thread waiter.
 *
 * Threads and memory (APR pools are not thread-safe, so who allocates where
 * is fixed):
 * - link->pool (a subpool of pchild) is allocated from in child_init and
 *   afterwards only with link->mutex held (the waiter hash grows there, the
 *   reader thread is created there). Its pre-cleanup stops the reader.
 * - Frames from siod are copied by the reading thread into memory nodes of
 *   link->alloc, an apr_allocator with its own mutex, so any thread may
 *   allocate or free them; the consumer frees each with
 *   socketio_frame_release. A waiter's queued bytes are bounded.
 * - A waiter is allocated from its owner's pool (r->pool or a WebSocket's
 *   pool) by the owning thread; the reader thread only touches its queue,
 *   flags and wake fd with link->mutex held, and a cleanup on the owner's
 *   pool unregisters it (under the mutex) before that memory goes away.
 * - The reader and socket fds are raw descriptors closed by cleanups.
 * Locks, always taken in this order: open_mutex (one connect at a time),
 * write_mutex (whole frames, guards the fd for writing), mutex (state,
 * waiters, queues). fd, gen and the state (socketio_link_transit: down,
 * up, and closing / exited at the child's exit) change only with mutex
 * held, fd, gen and down <-> up with write_mutex too.
 *
 * Writing: request and WebSocket threads write their frames themselves,
 * blocking under write_mutex up to LINK_WRITE_TIMEOUT_MS. The reactor never
 * waits on siod: it appends whole frames to the link's output queue (oq_*,
 * chunks of link->alloc, guarded by mutex) and sends from it without
 * blocking when it gets write_mutex with trylock (socketio_link_reactor_
 * flush, again when the socket is writable). The queue's memory is
 * bounded (SocketIORelayQueue): the reactor asks for room before it takes
 * a client's message and stops reading that client when there is none
 * (socketio_waiter_reactor_room). A thread that takes write_mutex first
 * sends every byte queued before it (so frames never interleave on the
 * stream), then its own frame, and after letting go of the lock tells the
 * reactor (sink->output) if queued bytes or paused clients are left.
 * socketio_link_down shuts the socket down before it takes write_mutex, so a
 * writer blocked on siod lets go at once.
 *
 * Holding WebSockets across a restart of siod (docs/relay-protocol.md,
 * "Handing WebSockets over"): unless SocketIOHandoverTimeout is 0, HELLO
 * offers SIO_RELAY_CAP_HANDOVER. A WS_CLOSE with SIO_RF_KEEP marks its
 * waiter held (the reading thread, as it dispatches the frame, so before
 * the link's drop that follows); socketio_link_down fails every waiter
 * but the held ones. While any is held and the link is down, a keeper
 * thread (one per link, started by the first hold an owner sees,
 * socketio_waiter_held) opens it again every
 * LINK_KEEP_RETRY, as a request would; each open tells the held waiters'
 * owners (the reactor through sink->link_up, threads through their wake
 * fd), and each owner moves its waiter to the new generation
 * (socketio_waiter_rebind) and sends WS_RESUME itself, so that the
 * WebSocket's frames keep their order. A held waiter keeps its conn: conn
 * numbers are unique per link across generations.
 */
#include "socketio_link_int.h"

APLOG_USE_MODULE(socketio);
/* Outage flags shared by all children (anonymous shm from post_config),
 * one per daemon socket path; and this child's links. */
static apr_shm_t *outage_shm;
static apr_hash_t *outage_slots;   /* path -> int index, in pconf */
static apr_array_header_t *child_links;
static volatile int child_stopping_mode;

/* Returns OK; without shared memory each child logs its own outages. */
int socketio_link_post_config(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_t *slots = apr_hash_make(pconf);
    server_rec *v;
    int n = 0;
    apr_status_t rv;

    for (v = s; v; v = v->next) {
        socketio_server_conf *sc = socketio_config_server(v);
        int *idx;

        if (!sc->daemon_socket ||
            apr_hash_get(slots, sc->daemon_socket, APR_HASH_KEY_STRING))
            continue;
        idx = apr_palloc(pconf, sizeof(*idx));
        *idx = n++;
        apr_hash_set(slots, sc->daemon_socket, APR_HASH_KEY_STRING, idx);
    }
    outage_shm = NULL;
    outage_slots = slots;
    rv = apr_shm_create(&outage_shm, sizeof(apr_uint32_t) * (n ? n : 1),
                        NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "mod_socketio: no shared memory for outage flags; each "
                     "child will log siod outages itself");
        outage_shm = NULL;
    } else {
        memset(apr_shm_baseaddr_get(outage_shm), 0,
               sizeof(apr_uint32_t) * (n ? n : 1));
    }
    return OK;
}

/* Starts the reader thread (link->mutex held). Signals are blocked in it
 * so the MPM's handlers (prefork's SIGTERM/graceful) never run there. */
static apr_status_t start_reader_locked(socketio_link *link)
{
    sigset_t all, old;
    apr_status_t rv;

    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&link->reader, NULL, socketio_link_reader_main,
                           link,
                           link->pool);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rv != APR_SUCCESS)
        link->reader = NULL;
    return rv;
}

/* The keeper thread: while waiters are held and the link is down, opens
 * it every LINK_KEEP_RETRY (see "Holding WebSockets" above); otherwise
 * waits on keep_cond (socketio_link_down and the exit signal it). Ends
 * when the child exits. */
static void *APR_THREAD_FUNC keeper_main(apr_thread_t *t, void *data)
{
    socketio_link *link = data;

    apr_thread_mutex_lock(link->mutex);
    while (!link_exiting(link)) {
        if (!link->n_held || link->state != LINK_DOWN) {
            apr_thread_cond_wait(link->keep_cond, link->mutex);
            continue;
        }
        apr_thread_mutex_unlock(link->mutex);
        socketio_link_ensure_open(link);
        apr_thread_mutex_lock(link->mutex);
        if (link->n_held && link->state == LINK_DOWN)
            apr_thread_cond_timedwait(link->keep_cond, link->mutex,
                                      LINK_KEEP_RETRY);
    }
    apr_thread_mutex_unlock(link->mutex);
    return NULL;
}

/* See socketio_link_int.h. Started on the first hold, not with the
 * link: a child that never holds a WebSocket runs no thread for it.
 * Signals are blocked in it as in the reader. Without it held
 * WebSockets wait for a request to reopen the link. */
void socketio_link_keeper_start(socketio_link *link)
{
    sigset_t all, old;

    apr_thread_mutex_lock(link->mutex);
    if (!link->handover || link->keeper || link_exiting(link)) {
        apr_thread_mutex_unlock(link->mutex);
        return;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (apr_thread_create(&link->keeper, NULL, keeper_main, link,
                          link->pool) != APR_SUCCESS) {
        link->keeper = NULL;
        link->handover = 0;   /* nothing would reopen the link for them */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, link->s,
                     "mod_socketio: cannot start the relay keeper thread; "
                     "WebSockets will not be held across a restart of siod");
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    apr_thread_mutex_unlock(link->mutex);
}

/* The link just opened: wakes the owners of held waiters served by a
 * thread, to hand them to this siod (the reactor hears of it through
 * sink->link_up). mutex held. */
static void wake_held_locked(socketio_link *link)
{
    apr_hash_index_t *hi;

    if (!link->n_held)
        return;
    for (hi = apr_hash_first(NULL, link->waiters); hi; hi = apr_hash_next(hi)) {
        socketio_waiter *w = apr_hash_this_val(hi);

        if (w->held && !w->owner)
            socketio_waiter_wake(w);
    }
}

/* Opens the link if it is down. Returns APR_SUCCESS when it is up. */
apr_status_t socketio_link_ensure_open(socketio_link *link)
{
    apr_status_t rv = APR_SUCCESS;
    apr_size_t peer_max = 0;
    unsigned peer_caps = 0;
    apr_uint32_t peer_node = 0;
    const char *why = NULL;
    char whybuf[160];
    apr_time_t start;
    int fd = -1, up;
    socketio_link_state st = __atomic_load_n(&link->state, __ATOMIC_ACQUIRE);

    /* Every request passes here: no lock on the way when the link is up.
     * A link that goes down right after is caught by the caller, which
     * checks again with the mutex held (socketio_waiter_create). */
    if (st == LINK_UP || st == LINK_CLOSING)
        return APR_SUCCESS;

    apr_thread_mutex_lock(link->open_mutex);
    apr_thread_mutex_lock(link->mutex);
    up = link_up(link);
    if (link_exiting(link))
        rv = APR_EOF;
    apr_thread_mutex_unlock(link->mutex);
    if (up || rv != APR_SUCCESS)
        goto out;

    start = apr_time_now();
    if (start - link->slow_fail_at < LINK_OPEN_HOLDOFF) {
        rv = link->slow_fail_rv;
        goto out;
    }
    rv = socketio_link_connect(link, &fd, &peer_max, &peer_caps, &peer_node,
                               &why, whybuf, sizeof(whybuf));
    if (rv != APR_SUCCESS && socketio_fd_exhausted(rv)) {
        /* This child is out of descriptors, siod may be fine: no outage;
         * the caller answers and logs it. */
        ap_log_error(APLOG_MARK, APLOG_DEBUG, rv, link->s,
                     "mod_socketio: no descriptor left to connect to siod "
                     "at %s: %s", link->path, why);
        goto out;
    }
    if (rv != APR_SUCCESS) {
        if (apr_time_now() - start >= LINK_OPEN_SLOW) {
            link->slow_fail_at = apr_time_now();
            link->slow_fail_rv = rv;
        }
        socketio_link_note_outage(link, rv, why);
        goto out;
    }
    link->slow_fail_at = 0;
    apr_thread_mutex_lock(link->write_mutex);
    apr_thread_mutex_lock(link->mutex);
    if (link_exiting(link)) {
        /* The child began to exit during the handshake (the keeper
         * thread opens links while the MPM stops). */
        apr_thread_mutex_unlock(link->mutex);
        apr_thread_mutex_unlock(link->write_mutex);
        close(fd);
        rv = APR_EOF;
        goto out;
    }
    if (!link->sink && !link->reader &&
        (rv = start_reader_locked(link)) != APR_SUCCESS) {
        apr_thread_mutex_unlock(link->mutex);
        apr_thread_mutex_unlock(link->write_mutex);
        close(fd);
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, link->s,
                     "mod_socketio: cannot start the relay reader thread");
        goto out;
    }
    link->fd = fd;
    link->peer_max_body = peer_max;
    link->peer_caps = peer_caps;
    apr_atomic_set32(&link->peers_fresh, 0);
    __atomic_store_n(&link->node, peer_node, __ATOMIC_RELEASE);
    link->gen++;
    socketio_link_transit(link, LINK_UP, "HELLO and AUTH done");
    apr_thread_cond_signal(link->cond);
    wake_held_locked(link);
    apr_thread_mutex_unlock(link->mutex);
    apr_thread_mutex_unlock(link->write_mutex);
    socketio_link_note_connected(link);
    if (link->sink)
        link->sink->link_up(link->sink_ctx);
out:
    apr_thread_mutex_unlock(link->open_mutex);
    return rv;
}

/* Pre-cleanup of a link's pool: wakes and joins the reader, closes the
 * socket. Runs at child exit, after the MPM has joined its workers. */
static apr_status_t link_cleanup(void *data)
{
    socketio_link *link = data;
    apr_status_t trv;

    apr_thread_mutex_lock(link->mutex);
    if (link->fd >= 0)
        shutdown(link->fd, SHUT_RDWR);
    socketio_link_transit(link, link->state == LINK_UP ? LINK_CLOSING
                                                       : LINK_EXITED,
                          "child exiting");
    apr_thread_cond_broadcast(link->cond);
    apr_thread_cond_broadcast(link->keep_cond);
    apr_thread_mutex_unlock(link->mutex);
    if (link->reader) {
        apr_thread_join(&trv, link->reader);
        link->reader = NULL;
    }
    /* At most one open attempt (LINK_OPEN_TIMEOUT_MS) to wait for: the
     * open refuses once the link is exiting. */
    if (link->keeper) {
        apr_thread_join(&trv, link->keeper);
        link->keeper = NULL;
    }
    /* No other thread is left (the reactor stopped first); a link the
     * reactor read is still closing here. */
    if (link->fd >= 0) {
        close(link->fd);
        link->fd = -1;
    }
    if (link->state != LINK_EXITED)
        socketio_link_transit(link, LINK_EXITED, "socket closed at exit");
    socketio_link_oq_free_locked(link);
    return APR_SUCCESS;
}

static apr_status_t alloc_cleanup(void *data)
{
    apr_allocator_destroy(data);
    return APR_SUCCESS;
}

static socketio_link *link_create(apr_pool_t *pchild, server_rec *s,
                                  const char *path)
{
    socketio_link *link;
    apr_thread_mutex_t *amutex;
    apr_pool_t *p;
    int *idx;

    if (apr_pool_create(&p, pchild) != APR_SUCCESS)
        return NULL;
    apr_pool_tag(p, "socketio_link");
    link = apr_pcalloc(p, sizeof(*link));
    link->pool = p;
    link->s = s;
    link->path = apr_pstrdup(p, path);
    link->fd = -1;
    link->rbuf = apr_palloc(p, LINK_READ_BUF);
    link->waiters = apr_hash_make(p);
    link->outage = &link->local_outage;
    link->oq_limit = socketio_config_relay_queue(socketio_config_server(s));
    link->handover =
        socketio_config_handover_timeout(socketio_config_server(s)) > 0;
    idx = outage_slots ? apr_hash_get(outage_slots, path, APR_HASH_KEY_STRING)
                       : NULL;
    if (outage_shm && idx)
        link->outage = (apr_uint32_t *)apr_shm_baseaddr_get(outage_shm) + *idx;
    if (apr_thread_mutex_create(&link->open_mutex, APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_mutex_create(&link->write_mutex,
                                   APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_mutex_create(&link->mutex, APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_mutex_create(&amutex, APR_THREAD_MUTEX_DEFAULT, p)
        || apr_thread_cond_create(&link->cond, p)
        || apr_thread_cond_create(&link->keep_cond, p)
        || socketio_link_peers_init(link)
        || apr_allocator_create(&link->alloc) != APR_SUCCESS) {
        apr_pool_destroy(p);
        return NULL;
    }
    apr_allocator_mutex_set(link->alloc, amutex);
    apr_allocator_max_free_set(link->alloc, LINK_ALLOC_MAX_FREE);
    /* Registered before the link cleanup so it runs after it (LIFO). */
    apr_pool_cleanup_register(p, link->alloc, alloc_cleanup,
                              apr_pool_cleanup_null);
    apr_pool_pre_cleanup_register(p, link, link_cleanup);
    return link;
}

/* See the header. Links are keyed by socket path. */
void socketio_link_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_hash_t *by_path = apr_hash_make(pchild);
    server_rec *v;

    child_stopping_mode = 0;
    child_links = apr_array_make(pchild, 2, sizeof(socketio_link *));
    for (v = s; v; v = v->next) {
        socketio_server_conf *sc = socketio_config_server(v);
        socketio_link *link;

        if (!sc->daemon_socket)
            continue;
        link = apr_hash_get(by_path, sc->daemon_socket, APR_HASH_KEY_STRING);
        if (!link) {
            link = link_create(pchild, s, sc->daemon_socket);
            if (!link) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                             "mod_socketio: cannot set up the relay link "
                             "for %s", sc->daemon_socket);
                continue;
            }
            /* The secret of the first server naming this socket. */
            link->secret = sc->secret;
            apr_hash_set(by_path, link->path, APR_HASH_KEY_STRING, link);
            APR_ARRAY_PUSH(child_links, socketio_link *) = link;
        }
        sc->link = link;
        /* post_config saw that every server on the socket names one
         * SocketIONode (or none) */
        if (sc->node)
            apr_cpystrn(link->want_node, sc->node, sizeof(link->want_node));
        if (sc->node || sc->peers)
            link->cluster = 1;
    }
}

/* See the header. */
int socketio_link_node(socketio_link *link, char tag[SIO_NODE_TAG_LEN + 1])
{
    apr_uint32_t node;

    if (socketio_link_ensure_open(link) != APR_SUCCESS)
        return 0;
    node = __atomic_load_n(&link->node, __ATOMIC_ACQUIRE);
    if (!node)
        return 0;
    tag[0] = (char)(node >> 24);
    tag[1] = (char)(node >> 16);
    tag[SIO_NODE_TAG_LEN] = '\0';
    return 1;
}

/* See the header. Runs on an MPM thread; wakes everyone. */
void socketio_link_child_stopping(apr_pool_t *pchild, int graceful)
{
    apr_hash_index_t *hi;
    int i;

    child_stopping_mode = graceful ? 1 : 2;
    if (!child_links)
        return;
    for (i = 0; i < child_links->nelts; i++) {
        socketio_link *link = APR_ARRAY_IDX(child_links, i, socketio_link *);

        apr_thread_mutex_lock(link->mutex);
        for (hi = apr_hash_first(NULL, link->waiters); hi;
             hi = apr_hash_next(hi))
            socketio_waiter_wake(apr_hash_this_val(hi));
        apr_thread_mutex_unlock(link->mutex);
    }
}

/* See the header. */
int socketio_link_child_is_stopping(void)
{
    int state = 0;

    if (child_stopping_mode)
        return 1;
    if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS &&
        state == AP_MPMQ_STOPPING)
        return 1;
    return 0;
}

/* See the header. */
void socketio_link_set_sink(const socketio_link_sink *sink, void *ctx)
{
    int i;

    for (i = 0; child_links && i < child_links->nelts; i++) {
        socketio_link *link = APR_ARRAY_IDX(child_links, i, socketio_link *);

        link->sink = sink;
        link->sink_ctx = ctx;
    }
}

/* See the header. */
int socketio_link_count(void)
{
    return child_links ? child_links->nelts : 0;
}

/* See the header. */
socketio_link *socketio_link_at(int i)
{
    return APR_ARRAY_IDX(child_links, i, socketio_link *);
}
