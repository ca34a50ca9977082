/* The reactor's side of a hand-off (see socketio_reactor.c for the whole
 * reactor): adopting a connection the hooks queued, and freeing a closed
 * one's pool, on the reactor thread. Calls the connection
 * (socketio_wsconn.h), link/ and the reactor's own I/O
 * (socketio_reactor_io.c, which it puts on the connection); no other
 * reactor file.
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
    if (rc->ws)
        rc->ws->r = NULL;
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
/* See socketio_reactor_int.h. */
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

/* See socketio_reactor_int.h. */
void socketio_reactor_adopt(socketio_reactor *re, rconn *rc)
{
    socketio_ws *ws = rc->ws;
    socketio_frame *queued, *f;
    struct epoll_event ev;
    apr_status_t rv;

    /* An upgraded connection lives long: memory it frees goes back to the
     * system instead of staying on the connection's own free list
     * (MaxMemFree would let it keep 2 MB). What every message needs (read
     * buffers, frames) comes from the reactor's memory instead
     * (socketio_reactor_io.c), so this costs no system call per message. */
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
        int err = errno;

        socketio_log_cerror_limited(APLOG_ERR, err, rc->c,
                                    "mod_socketio: reactor cannot poll a "
                                    "WebSocket; closing it");
        socketio_ws_lost(ws, err, "not pollable");
    } else {
        rc->events = EPOLLIN;
    }
    /* The access log line, then r->pool goes. */
    release_request(rc);
    /* Frames replayed above are queued; from now on they may be written
     * at once. */
    socketio_reactor_io_adopt(rc);
    rc->read_more = 1;
    mark_dirty(rc);   /* the EOR may have written or failed */
}
