/* The relay links on the reactor (see socketio_reactor.c for the whole
 * reactor): the links' sockets in the epoll set, flushing the links'
 * output queues, resuming clients paused for room, and the callbacks of
 * the sink the reactor registers with the links (reactor thread): frames
 * from siod go to the WebSockets' output queues, which write them at once
 * when they can; those left waiting mark their connection for the loop.
 * Calls no other reactor file; socketio_reactor_loop.c calls in (refresh,
 * flush, on_link) and socketio_reactor.c registers socketio_reactor_sink. */
#include "socketio_reactor_int.h"

APLOG_USE_MODULE(socketio);

/* Polls the sockets of links that (re)opened. */
void socketio_reactor_refresh_links(socketio_reactor *re)
{
    struct epoll_event ev;
    unsigned gen;
    int i, fd;

    for (i = 0; i < re->nlinks; i++) {
        rlink *rl = &re->links[i];

        fd = socketio_link_reactor_fd(rl->link, &gen);
        if (fd < 0 || (rl->fd >= 0 && rl->gen == gen))
            continue;
        if (rl->fd >= 0)
            epoll_ctl(re->epfd, EPOLL_CTL_DEL, rl->fd, NULL);
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = rl;
        rl->fd = -1;
        if (epoll_ctl(re->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, errno, re->s,
                         "mod_socketio: reactor cannot poll the relay link");
            continue;
        }
        rl->fd = fd;
        rl->gen = gen;
        rl->events = EPOLLIN;
    }
}

/* The relay queues have room again: reads the clients paused for it
 * (each pauses again if its link is still full). */
static void resume_paused(socketio_reactor *re)
{
    rconn *rc;

    for (rc = re->conns; rc && re->npaused; rc = rc->next) {
        if (!rc->paused)
            continue;
        rc->paused = 0;
        re->npaused--;
        if (rc->ws)
            rc->ws->relay_wait = 0;
        rc->read_more = 1;
        mark_dirty(rc);
    }
}

/* Sends what the link's queue holds without blocking; watches POLLOUT
 * while some is left. */
static void flush_link(socketio_reactor *re, rlink *rl)
{
    struct epoll_event ev;
    apr_status_t rv;
    unsigned want;

    if (rl->fd < 0)
        return;
    rv = socketio_link_reactor_flush(rl->link, rl->gen);
    want = EPOLLIN | (APR_STATUS_IS_EAGAIN(rv) ? EPOLLOUT : 0);
    if (want != rl->events) {
        memset(&ev, 0, sizeof(ev));
        ev.events = want;
        ev.data.ptr = rl;
        if (epoll_ctl(re->epfd, EPOLL_CTL_MOD, rl->fd, &ev) == 0)
            rl->events = want;
    }
    if (re->npaused && socketio_link_reactor_drained(rl->link))
        resume_paused(re);
}

/* Sends what every link's output queue holds (see flush_link) and
 * clears want_flush. */
void socketio_reactor_flush_links(socketio_reactor *re)
{
    int i;

    re->want_flush = 0;
    for (i = 0; i < re->nlinks; i++)
        flush_link(re, &re->links[i]);
}

/* Events on link rl's socket: flushes on POLLOUT, reads on input or
 * hang-up; forgets the socket when the read took the link down. */
void socketio_reactor_on_link(socketio_reactor *re, rlink *rl,
                              unsigned events)
{
    apr_status_t rv;

    if (events & EPOLLOUT)
        flush_link(re, rl);
    if (rl->fd < 0 || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    rv = socketio_link_reactor_read(rl->link, rl->gen);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv))
        rl->fd = -1;   /* closed by the link; epoll forgot it */
}

/* ---- sink callbacks (reactor thread) -------------------------------- */

/* Marks rc for the loop when a frame from siod left it work: bytes
 * queued, a close, a failure, a hand-over (held: stop reading, time it).
 * A frame written whole needs none. */
static void want_turn(rconn *rc)
{
    socketio_ws *ws = rc->ws;

    if (!APR_BRIGADE_EMPTY(ws->outbb) || socketio_ws_is_closed(ws) ||
        ws->oom || ws->overflow || ws->held)
        mark_dirty(rc);
}

/* Link not locked: the output queue writes the frame at once when it
 * can (socketio_ws_out.c). */
static void sink_frame(void *owner, const sio_relay_frame *f)
{
    rconn *rc = owner;

    if (rc->phase != RC_WS || !rc->ws)
        return;
    socketio_ws_siod_frame(rc->ws, f);
    want_turn(rc);
}

/* Link locked: begin and add only note the message and its recipients;
 * end, with the link unlocked, sends it to each (socketio_ws_fan_send),
 * so no write to a client happens under the link's lock. One fan-out at
 * a time: the reactor reads the links one frame after another. */
static void *sink_fanout_begin(void *ctx, int flags, const unsigned char *msg,
                               apr_size_t len)
{
    socketio_reactor *re = ctx;

    socketio_ws_fan_begin(&re->fan, re->ba, flags, msg, len);
    re->fan_list = NULL;
    re->fan_tail = &re->fan_list;
    return re;
}

static void sink_fanout_add(void *handle, void *owner)
{
    socketio_reactor *re = handle;
    rconn *rc = owner;

    if (rc->phase != RC_WS || !rc->ws || socketio_ws_is_closed(rc->ws) ||
        rc->fan_listed)
        return;
    rc->fan_listed = 1;
    rc->fan_next = NULL;
    *re->fan_tail = rc;
    re->fan_tail = &rc->fan_next;
}

static void sink_fanout_end(void *handle)
{
    socketio_reactor *re = handle;
    rconn *rc, *next;

    for (rc = re->fan_list; rc; rc = next) {
        next = rc->fan_next;
        rc->fan_next = NULL;
        rc->fan_listed = 0;
        if (rc->phase != RC_WS || !rc->ws)
            continue;
        socketio_ws_fan_send(rc->ws, &re->fan);
        want_turn(rc);
    }
    re->fan_list = NULL;
    re->fan_tail = &re->fan_list;
    socketio_ws_fan_end(&re->fan);
}

static void sink_failed(void *owner)
{
    rconn *rc = owner;

    rc->link_failed = 1;
    mark_dirty(rc);
}

static void sink_link_up(void *ctx)
{
    socketio_reactor *re = ctx;

    apr_thread_mutex_lock(re->mutex);
    re->links_changed = 1;
    apr_thread_mutex_unlock(re->mutex);
    wake(re);
}

static void sink_output(void *ctx)
{
    socketio_reactor *re = ctx;

    apr_thread_mutex_lock(re->mutex);
    re->links_output = 1;
    apr_thread_mutex_unlock(re->mutex);
    wake(re);
}

static void sink_undelivered(void *owner)
{
    rconn *rc = owner;

    if (rc->phase != RC_WS || !rc->ws)
        return;
    rc->ws->oom = 1;
    mark_dirty(rc);
}

const socketio_link_sink socketio_reactor_sink = {
    sink_frame, sink_fanout_begin, sink_fanout_add, sink_fanout_end,
    sink_failed, sink_link_up, sink_undelivered, sink_output
};
