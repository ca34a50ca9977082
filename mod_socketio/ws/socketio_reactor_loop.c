/* The reactor's event loop (see socketio_reactor.c for the whole
 * reactor): one epoll set of WebSockets, relay links and a wake fd;
 * reading, writing, timers, the per-connection state machine and the
 * close and lingering close. Runs on the reactor thread only. Calls
 * socketio_reactor_adopt.c to take handed-off connections over and free
 * closed ones, socketio_reactor_links.c for the links, and the connection
 * (socketio_wsconn.h); nothing in the reactor calls back here but the
 * thread start (socketio_reactor_main). */
#include "socketio_reactor_int.h"

APLOG_USE_MODULE(socketio);

/* ---- small helpers ------------------------------------------------ */

static void set_deadline(rconn *rc, apr_time_t when)
{
    if (!rc->deadline && when)
        rc->re->ntimed++;
    else if (rc->deadline && !when)
        rc->re->ntimed--;
    rc->deadline = when;
}

/* Logs why a client was dropped: at most one warning per interval per
 * child, the others at debug and counted. */
static void log_drop(rconn *rc, const char *msg)
{
    socketio_reactor *re = rc->re;
    apr_time_t now = apr_time_now();

    if (now - re->drop_logged_at >= DROP_LOG_INTERVAL) {
        ap_log_cerror(APLOG_MARK, APLOG_WARNING, 0, rc->c,
                      "mod_socketio: %s (%u more dropped since the last "
                      "such message)", msg, re->drops_unlogged);
        re->drop_logged_at = now;
        re->drops_unlogged = 0;
    } else {
        re->drops_unlogged++;
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, rc->c, "mod_socketio: %s",
                      msg);
    }
}

static void set_events(rconn *rc, unsigned want)
{
    struct epoll_event ev;

    if (rc->events == want || !rc->events)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = want;
    ev.data.ptr = rc;
    if (epoll_ctl(rc->re->epfd, EPOLL_CTL_MOD, rc->fd, &ev) == 0)
        rc->events = want;
}

/* ---- writing ------------------------------------------------------ */

/* Pushes what the core output filter holds (it sends without waiting). */
static apr_status_t redrive(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    while (f->next)
        f = f->next;
    return f->frec->filter_func.out_func(f, NULL);
}

/* Takes the first len bytes of ws->outbb off the queue (written). */
static void drop_written(rconn *rc, apr_size_t len)
{
    socketio_ws *ws = rc->ws;
    apr_bucket *after;

    apr_brigade_partition(ws->outbb, len, &after);
    apr_brigade_split_ex(ws->outbb, after, rc->tmpbb);
    socketio_ws_dequeued(ws, ws->outbb);
    apr_brigade_cleanup(ws->outbb);
    APR_BRIGADE_CONCAT(ws->outbb, rc->tmpbb);
}

/* Where the core output filter is the only one and holds nothing: writes
 * queued frames straight to the socket, many buckets per writev (what a
 * turn queued for the client, fan-out frames from their shared blocks),
 * while it takes them; rc->out_blocked tells that some are left. Returns
 * APR_SUCCESS or the write's failure. */
static apr_status_t write_direct(rconn *rc)
{
    socketio_ws *ws = rc->ws;
    struct iovec vec[WRITE_IOV];
    apr_bucket *b;
    const char *data;
    apr_size_t len, total;
    apr_status_t rv;
    int n;

    rc->out_blocked = 0;
    while (!APR_BRIGADE_EMPTY(ws->outbb)) {
        n = 0;
        total = 0;
        for (b = APR_BRIGADE_FIRST(ws->outbb);
             b != APR_BRIGADE_SENTINEL(ws->outbb) && n < WRITE_IOV;
             b = APR_BUCKET_NEXT(b)) {
            /* heap buckets only: read at once */
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS)
                return rv;
            if (!len)
                continue;
            vec[n].iov_base = (void *)data;
            vec[n++].iov_len = len;
            total += len;
        }
        if (!n) {
            /* nothing but empty buckets */
            socketio_ws_dequeued(ws, ws->outbb);
            apr_brigade_cleanup(ws->outbb);
            break;
        }
        len = 0;
        rv = apr_socket_sendv(rc->csd, vec, n, &len);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EAGAIN(rv))
            return rv;
        if (len)
            drop_written(rc, len);
        if (len < total) {
            rc->out_blocked = 1;
            break;
        }
    }
    return APR_SUCCESS;
}

/* Writes queued frames while the socket takes them. */
static void write_out(rconn *rc)
{
    socketio_ws *ws = rc->ws;
    conn_rec *c = rc->c;
    apr_bucket *after;
    apr_status_t rv;

    if (socketio_ws_is_lost(ws))
        return;
    if (c->data_in_output_filters) {
        rv = redrive(c);
        if (rv != APR_SUCCESS || c->aborted) {
            socketio_ws_lost(ws, rv, "write failed");
            return;
        }
        if (c->data_in_output_filters)
            return;
        /* Drained: filters may hold input the socket will not signal. */
        rc->read_more = 1;
    }
    if (rc->direct_out) {
        rv = write_direct(rc);
        if (rv != APR_SUCCESS)
            socketio_ws_lost(ws, rv, "write failed");
        return;
    }
    while (!APR_BRIGADE_EMPTY(ws->outbb) && !c->data_in_output_filters) {
        apr_brigade_partition(ws->outbb, WRITE_CHUNK, &after);
        apr_brigade_split_ex(ws->outbb, after, rc->tmpbb);
        socketio_ws_dequeued(ws, ws->outbb);
        rv = ap_pass_brigade(c->output_filters, ws->outbb);
        apr_brigade_cleanup(ws->outbb);
        APR_BRIGADE_CONCAT(ws->outbb, rc->tmpbb);
        if (rv == APR_SUCCESS && !c->aborted)
            rv = redrive(c);
        if (rv != APR_SUCCESS || c->aborted) {
            socketio_ws_lost(ws, rv, "write failed");
            return;
        }
    }
}

/* Closes the socket; socketio_reactor_bury() then frees the pool. */
static void close_now(rconn *rc)
{
    socketio_reactor *re = rc->re;

    if (rc->phase == RC_DEAD)
        return;
    if (rc->events)
        epoll_ctl(re->epfd, EPOLL_CTL_DEL, rc->fd, NULL);
    rc->events = 0;
    apr_socket_close(rc->csd);
    set_deadline(rc, 0);
    list_remove(&re->conns, rc);
    re->nconns--;
    rc->phase = RC_DEAD;
    list_add(&re->grave, rc);
}

/* The WebSocket is over: tells siod, logs the request, starts the
 * lingering close (or closes at once when the client is gone or linger
 * is 0). */
static void finish(rconn *rc, int linger)
{
    socketio_ws *ws = rc->ws;
    conn_rec *c = rc->c;

    if (socketio_ws_is_lost(ws) || !linger)
        c->aborted = 1;
    socketio_ws_finish(ws);
    rc->re->want_flush = 1;
    if (rc->paused) {
        rc->paused = 0;
        rc->re->npaused--;
    }
    apr_brigade_cleanup(ws->outbb);
    rc->ws = NULL;
    set_deadline(rc, 0);
    if (c->aborted || ap_start_lingering_close(c)) {
        close_now(rc);
        return;
    }
    rc->phase = RC_LINGER;
    set_deadline(rc, apr_time_now() + LINGER_TIMEOUT);
    set_events(rc, EPOLLIN);
}

/* Lingering close: discards input until EOF, an error or the deadline. */
static void linger_read(rconn *rc)
{
    apr_size_t n;
    apr_status_t rv;

    for (;;) {
        n = SCRATCH_SIZE;
        rv = apr_socket_recv(rc->csd, (char *)rc->re->scratch, &n);
        if (rv == APR_SUCCESS && n > 0)
            continue;
        if (APR_STATUS_IS_EAGAIN(rv))
            return;
        close_now(rc);
        return;
    }
}

/* ---- the state machine -------------------------------------------- */

/* Brings the timers and the polled events in line with the state. */
static void update_waits(rconn *rc)
{
    socketio_ws *ws = rc->ws;
    conn_rec *c = rc->c;
    apr_time_t now = apr_time_now();
    unsigned want;

    if (c->data_in_output_filters || rc->out_blocked) {
        if (!rc->pending_since)
            rc->pending_since = now;
    } else {
        rc->pending_since = 0;
    }
    if (socketio_ws_is_closed(ws)) {
        if (!rc->closed_at)
            rc->closed_at = now;
        set_deadline(rc, rc->closed_at + CLOSE_TIMEOUT);
    } else if (rc->pending_since &&
               (!ws->held || rc->pending_since + c->base_server->timeout <
                                 ws->held_until)) {
        set_deadline(rc, rc->pending_since + c->base_server->timeout);
    } else {
        set_deadline(rc, ws->held ? ws->held_until : 0);
    }
    want = (socketio_ws_is_closed(ws) || ws->relay_wait || ws->held
                ? 0 : EPOLLIN) |
           (c->data_in_output_filters || rc->out_blocked ? EPOLLOUT : 0);
    /* Held for the next siod: not read, but its client's going away
     * (EPOLLRDHUP) frees it at once. */
    if (socketio_ws_is_held(ws))
        want |= EPOLLRDHUP;
    /* Paused for the relay queue (or held): only a hang-up or an error
     * (epoll reports them whatever is asked) wakes it. */
    if (!want)
        want = ws->relay_wait && !socketio_ws_is_closed(ws) ? EPOLLERR
                                                            : EPOLLIN;
    set_events(rc, want);
}

static void process(rconn *rc)
{
    socketio_ws *ws = rc->ws;
    socketio_reactor *re = rc->re;
    int failing;

    if (rc->phase != RC_WS)
        return;
    if (socketio_ws_is_held(ws)) {
        /* Its link may be up again, or the child stops. */
        if (re->stopping)
            socketio_ws_close(ws, ws->held_status, "Server restarting",
                              ws->held_status);
        else if (socketio_ws_try_resume(ws) && !socketio_ws_is_closed(ws))
            rc->read_more = 1;   /* what the client sent meanwhile */
        re->want_flush = 1;
    }
    if (rc->read_more && !socketio_ws_is_closed(ws) && !ws->relay_wait &&
        !ws->held) {
        rc->read_more = socketio_ws_read(ws, re->scratch, SCRATCH_SIZE,
                                         READ_BUDGET);
        if (rc->read_more)
            mark_dirty(rc);
        re->want_flush = 1;
    }
    if (ws->relay_wait && !rc->paused) {
        rc->paused = 1;
        re->npaused++;
    }
    if (!socketio_ws_is_closed(ws)) {
        if (rc->link_failed) {
            socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL,
                              "Socket.IO daemon unavailable",
                              SIO_WS_CLOSE_INTERNAL);
        } else if (ws->oom) {
            /* A message it should have had is lost: it must not go on as
             * if nothing were missing; it reconnects (and recovers). */
            log_drop(rc, "WebSocket message could not be queued (out of "
                     "memory); closing the client (1011)");
            apr_brigade_cleanup(ws->outbb);
            ws->out_bytes = 0;
            socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Out of memory",
                              SIO_WS_CLOSE_INTERNAL);
        } else if (ws->overflow) {
            log_drop(rc, apr_psprintf(rc->c->pool, "WebSocket client not "
                     "reading: a message would put it over "
                     "SocketIOWebSocketQueue (%" APR_SIZE_T_FMT " bytes, %"
                     APR_SIZE_T_FMT " waiting); closing it (1008)",
                     ws->out_limit, ws->out_bytes));
            apr_brigade_cleanup(ws->outbb);
            ws->out_bytes = 0;
            socketio_ws_close(ws, SIO_WS_CLOSE_POLICY, "Send queue overflow",
                              SIO_WS_CLOSE_POLICY);
        } else if (re->stopping) {
            socketio_ws_close(ws, SIO_WS_CLOSE_GOING_AWAY,
                              "Server restarting", SIO_WS_CLOSE_GOING_AWAY);
        }
    }
    write_out(rc);
    /* What fan-out frames are left no longer share their blocks; at that
     * cost they may put the client over its bound (handled next turn). */
    failing = ws->overflow || ws->oom;
    socketio_ws_settle(ws, rc->tmpbb);
    if (!failing && (ws->overflow || ws->oom) && !socketio_ws_is_closed(ws))
        mark_dirty(rc);
    /* Done once the close frame is out; when stopping at once, after one
     * attempt to send it. */
    if (socketio_ws_is_lost(ws) ||
        (socketio_ws_is_closed(ws) &&
         ((APR_BRIGADE_EMPTY(ws->outbb) && !rc->c->data_in_output_filters) ||
          re->stopping == STOP_NOW))) {
        finish(rc, re->stopping != STOP_NOW);
        return;
    }
    update_waits(rc);
}

static void process_dirty(socketio_reactor *re)
{
    rconn *list = re->dirty, *rc;

    re->dirty = NULL;
    while ((rc = list) != NULL) {
        list = rc->dirty_next;
        rc->dirty = 0;
        rc->dirty_next = NULL;
        process(rc);
    }
}

/* Deadlines: closing clients that do not drain, stalled clients,
 * lingering closes. */
static void run_timers(socketio_reactor *re, int force)
{
    apr_time_t now = apr_time_now();
    rconn *rc, *next;

    if (!force && now < re->next_tick)
        return;
    re->next_tick = now + apr_time_from_msec(TICK_MS);
    for (rc = re->conns; re->ntimed && rc; rc = next) {
        next = rc->next;
        if (!rc->deadline || rc->deadline > now)
            continue;
        if (rc->phase == RC_LINGER) {
            close_now(rc);
            continue;
        }
        if (socketio_ws_is_held(rc->ws) && now >= rc->ws->held_until) {
            /* No siod took it back: closed with its status (logged once
             * for all of them, socketio_ws_hold_expired). */
            socketio_ws_hold_expired(rc->ws);
            set_deadline(rc, 0);
            mark_dirty(rc);
            continue;
        }
        if (socketio_ws_is_closed(rc->ws))
            log_drop(rc, apr_psprintf(rc->c->pool, "WebSocket client did not "
                     "take its close frame within %d s; dropping it",
                     (int)apr_time_sec(CLOSE_TIMEOUT)));
        else
            log_drop(rc, apr_psprintf(rc->c->pool, "WebSocket client took "
                     "no data for %d s (Timeout); dropping it",
                     (int)apr_time_sec(rc->c->base_server->timeout)));
        socketio_ws_lost(rc->ws, APR_TIMEUP, "timed out");
        finish(rc, 0);
    }
}

static void apply_stop(socketio_reactor *re, int mode)
{
    rconn *rc, *next;

    if (mode <= re->stopping)
        return;
    re->stopping = mode;
    for (rc = re->conns; rc; rc = next) {
        next = rc->next;
        if (mode == STOP_NOW && rc->phase == RC_LINGER) {
            close_now(rc);
            continue;
        }
        if (rc->phase == RC_WS)
            mark_dirty(rc);
    }
}

/* The wake fd fired: hand-offs, link changes, stop requests. */
static void on_wake(socketio_reactor *re)
{
    rconn *list, *rc;
    uint64_t v;
    int mode, links, output;

    while (read(re->wakefd, &v, sizeof(v)) < 0 && errno == EINTR)
        ;
    apr_thread_mutex_lock(re->mutex);
    list = re->incoming;
    re->incoming = NULL;
    links = re->links_changed;
    re->links_changed = 0;
    output = re->links_output;
    re->links_output = 0;
    mode = re->stop_mode;
    apr_thread_mutex_unlock(re->mutex);
    if (links) {
        socketio_reactor_refresh_links(re);
        /* A link opened: WebSockets held for the next siod may go to
         * it (process, socketio_ws_try_resume). */
        for (rc = re->conns; rc; rc = rc->next)
            if (rc->phase == RC_WS && rc->ws && socketio_ws_is_held(rc->ws))
                mark_dirty(rc);
        re->want_flush = 1;
    }
    if (output)
        re->want_flush = 1;
    while ((rc = list) != NULL) {
        list = rc->next;
        rc->next = NULL;
        socketio_reactor_adopt(re, rc);
    }
    apply_stop(re, mode);
}

static void on_conn(rconn *rc, unsigned events)
{
    if (rc->phase == RC_LINGER) {
        linger_read(rc);
        return;
    }
    if (rc->phase != RC_WS)
        return;
    if (rc->ws->relay_wait && (events & (EPOLLHUP | EPOLLERR)))
        socketio_ws_lost(rc->ws, APR_ECONNRESET, "reset while paused");
    else if (socketio_ws_is_held(rc->ws) &&
             (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        socketio_ws_lost(rc->ws, APR_ECONNRESET,
                         "closed by the client while held");
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        rc->read_more = 1;
        rc->in_drained = 0;
    }
    mark_dirty(rc);
}

static int exiting(socketio_reactor *re)
{
    int x;

    apr_thread_mutex_lock(re->mutex);
    x = re->exiting && !re->incoming;
    apr_thread_mutex_unlock(re->mutex);
    return x;
}

/* See socketio_reactor_int.h. */
void *APR_THREAD_FUNC socketio_reactor_main(apr_thread_t *t, void *data)
{
    socketio_reactor *re = data;
    struct epoll_event evs[MAX_EVENTS];
    int i, n, timeout;

    socketio_reactor_refresh_links(re);
    for (;;) {
        if (re->dirty)
            timeout = 0;
        else if (re->ntimed || re->npaused)
            timeout = TICK_MS;
        else
            timeout = -1;
        n = epoll_wait(re->epfd, evs, MAX_EVENTS, timeout);
        if (n < 0) {
            if (errno != EINTR) {
                ap_log_error(APLOG_MARK, APLOG_ERR, errno, re->s,
                             "mod_socketio: reactor: epoll_wait failed");
                apr_sleep(apr_time_from_msec(100));
            }
            n = 0;
        }
        for (i = 0; i < n; i++) {
            ev_kind *kind = evs[i].data.ptr;

            if (*kind == EV_WAKE)
                on_wake(re);
            else if (*kind == EV_LINK)
                socketio_reactor_on_link(re, (rlink *)kind, evs[i].events);
            else
                on_conn((rconn *)kind, evs[i].events);
        }
        process_dirty(re);
        run_timers(re, 0);
        socketio_reactor_bury(re, 0);
        /* Queued frames go out once per turn, many in one write; while
         * clients are paused the queues are tried every tick as well. */
        if (re->want_flush || (re->npaused && timeout != 0))
            socketio_reactor_flush_links(re);
        if (re->stopping == STOP_NOW && exiting(re) && !re->conns) {
            on_wake(re);
            process_dirty(re);
            if (!re->conns) {
                run_timers(re, 1);
                /* The MPM has joined its workers (reactor_cleanup). */
                socketio_reactor_bury(re, 1);
                socketio_reactor_flush_links(re);
                ap_log_error(APLOG_MARK, APLOG_TRACE2, 0, re->s,
                             "mod_socketio: reactor: stopped");
                break;
            }
        }
    }
    return NULL;
}
