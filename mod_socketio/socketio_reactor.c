/* The per-child reactor (mpm_event only). After the WebSocket handshake the
 * handler returns SUSPENDED; the suspend_connection hook, which runs on the
 * worker once the MPM has let go of the connection, queues it here and
 * wakes the reactor thread. From then on that thread alone touches the
 * connection (pools, buckets, filters, mod_ssl state) until it destroys
 * c->pool, which also settles the MPM's connection counts.
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
 * c->data_in_output_filters. Messages waiting to be written are bounded
 * per WebSocket (SocketIOWebSocketQueue): volatile messages are dropped
 * first (socketio_ws.c); a client that stops reading is closed (1008) and
 * dropped after CLOSE_TIMEOUT.
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
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "util_filter.h"
#include "apr_atomic.h"
#include "apr_buckets.h"
#include "apr_thread_mutex.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "sio_ws.h"
#include "socketio_config.h"
#include "socketio_link.h"
#include "socketio_log.h"
#include "socketio_reactor.h"
#include "socketio_wsconn.h"

APLOG_USE_MODULE(socketio);

#define MAX_EVENTS 256
#define SCRATCH_SIZE (64 * 1024)
/* Bytes passed to the filters at once: below the core output filter's
 * FlushMaxThreshold (64 KB) even with TLS record overhead, so a
 * non-blocking pass never turns into a "blocking" one that times out. */
#define WRITE_CHUNK (16 * 1024)
/* Reads per readable event before other connections get their turn. */
#define READ_BUDGET 16
/* A closing WebSocket must take its close frame within this. */
#define CLOSE_TIMEOUT apr_time_from_sec(5)
/* Lingering close: read until EOF, at most this long. */
#define LINGER_TIMEOUT apr_time_from_sec(2)
/* Timer resolution while some connection has a deadline. */
#define TICK_MS 250
/* At most one "dropped a client" warning per reactor this often. */
#define DROP_LOG_INTERVAL apr_time_from_sec(10)

typedef enum { EV_WAKE, EV_LINK, EV_CONN } ev_kind;

typedef struct socketio_reactor socketio_reactor;

/* Every epoll registration points at a record starting with its kind. */
typedef struct rlink {
    ev_kind kind;
    socketio_link *link;
    int fd;                    /* registered socket, -1 if none */
    unsigned gen;
    unsigned events;           /* registered epoll events */
} rlink;

typedef enum { RC_WS, RC_LINGER, RC_DEAD } rc_phase;

/* A worker thread that handed connections off (see the opening comment):
 * units counts the process_connection hooks it has begun, bumped by that
 * thread only; awaited asks it to wake the reactor when it bumps. Lives
 * until pchild goes. */
typedef struct worker_mark {
    volatile apr_uint64_t units;
    volatile apr_uint32_t awaited;
} worker_mark;

/* The memory of a closed connection's pool, kept until its worker moves. */
typedef struct set_aside {
    apr_allocator_t *alloc;
    worker_mark *worker;
    apr_uint64_t units;
    struct set_aside *next;
} set_aside;

/* One adopted connection, allocated from c->pool. */
typedef struct rconn {
    ev_kind kind;
    socketio_reactor *re;
    socketio_ws *ws;           /* NULL once finished */
    conn_rec *c;
    request_rec *r;            /* NULL once the request is finished */
    apr_socket_t *csd;
    int fd;
    rc_phase phase;
    unsigned events;           /* registered epoll events, 0: none */
    int read_more;             /* input may be waiting: read it */
    int paused;                /* not read: waits for the relay queue */
    int link_failed;
    int dirty;
    worker_mark *worker;       /* the thread that handed it off */
    apr_uint64_t worker_units; /* its units at the hand-off */
    apr_time_t deadline;       /* 0: none */
    apr_time_t pending_since;  /* output continuously pending since */
    apr_time_t closed_at;
    apr_bucket_brigade *tmpbb;
    struct rconn *prev, *next; /* all connections, or the grave */
    struct rconn *dirty_next;
} rconn;

struct socketio_reactor {
    apr_pool_t *pool;
    server_rec *s;
    apr_thread_t *thread;
    int epfd;
    int wakefd;
    ev_kind wake_kind;
    apr_thread_mutex_t *mutex;   /* guards the fields down to exiting */
    apr_pool_t *marks;           /* worker_marks come from here */
    rconn *incoming;             /* handed off, not yet adopted */
    int links_changed;
    int links_output;            /* a link's queue needs the reactor */
    int exiting;
    volatile int stop_mode;      /* 0, STOP_GRACEFUL, STOP_NOW */
    /* reactor thread only: */
    int stopping;
    rconn *conns;                /* RC_WS and RC_LINGER */
    rconn *grave;                /* closed, pool not yet destroyed */
    rconn *dirty;
    set_aside *aside;            /* pools' memory waiting for a worker */
    set_aside *aside_free;       /* spare records, from own */
    apr_pool_t *own;             /* reactor thread only */
    int nconns;
    int ntimed;
    int npaused;                 /* connections with paused set */
    int want_flush;              /* frames may have been queued for siod */
    rlink *links;
    int nlinks;
    apr_allocator_t *alloc;
    apr_bucket_alloc_t *ba;      /* bytes of queued frames */
    unsigned char *scratch;
    apr_time_t next_tick;
    apr_time_t drop_logged_at;
    unsigned drops_unlogged;
};

#define STOP_GRACEFUL 1
#define STOP_NOW 2

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

/* ---- small helpers ------------------------------------------------ */

static void wake(socketio_reactor *re)
{
    uint64_t one = 1;
    ssize_t n;

    do {
        n = write(re->wakefd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}

static void mark_dirty(rconn *rc)
{
    socketio_reactor *re = rc->re;

    if (rc->dirty || rc->phase == RC_DEAD)
        return;
    rc->dirty = 1;
    rc->dirty_next = re->dirty;
    re->dirty = rc;
}

static void set_deadline(rconn *rc, apr_time_t when)
{
    if (!rc->deadline && when)
        rc->re->ntimed++;
    else if (rc->deadline && !when)
        rc->re->ntimed--;
    rc->deadline = when;
}

static void list_remove(rconn **head, rconn *rc)
{
    if (rc->prev)
        rc->prev->next = rc->next;
    else
        *head = rc->next;
    if (rc->next)
        rc->next->prev = rc->prev;
    rc->prev = rc->next = NULL;
}

static void list_add(rconn **head, rconn *rc)
{
    rc->prev = NULL;
    rc->next = *head;
    if (*head)
        (*head)->prev = rc;
    *head = rc;
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

/* Writes queued frames while the socket takes them. */
static void write_out(rconn *rc)
{
    socketio_ws *ws = rc->ws;
    conn_rec *c = rc->c;
    apr_bucket *after;
    apr_status_t rv;

    if (ws->lost)
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
static void bury(socketio_reactor *re, int force)
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

/* Closes the socket; bury() then frees the pool. */
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

    socketio_ws_finish(ws);
    rc->re->want_flush = 1;
    if (rc->paused) {
        rc->paused = 0;
        rc->re->npaused--;
    }
    if (ws->lost || !linger)
        c->aborted = 1;
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

    if (c->data_in_output_filters) {
        if (!rc->pending_since)
            rc->pending_since = now;
    } else {
        rc->pending_since = 0;
    }
    if (ws->closed) {
        if (!rc->closed_at)
            rc->closed_at = now;
        set_deadline(rc, rc->closed_at + CLOSE_TIMEOUT);
    } else if (rc->pending_since) {
        set_deadline(rc, rc->pending_since + c->base_server->timeout);
    } else {
        set_deadline(rc, 0);
    }
    want = (ws->closed || ws->relay_wait ? 0 : EPOLLIN) |
           (c->data_in_output_filters ? EPOLLOUT : 0);
    /* Paused for the relay queue: only a hang-up or an error (epoll
     * reports them whatever is asked) wakes it. */
    if (!want)
        want = ws->relay_wait && !ws->closed ? EPOLLERR : EPOLLIN;
    set_events(rc, want);
}

static void process(rconn *rc)
{
    socketio_ws *ws = rc->ws;
    socketio_reactor *re = rc->re;

    if (rc->phase != RC_WS)
        return;
    if (rc->read_more && !ws->closed && !ws->relay_wait) {
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
    if (!ws->closed) {
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
    /* Done once the close frame is out; when stopping at once, after one
     * attempt to send it. */
    if (ws->lost || (ws->closed && ((APR_BRIGADE_EMPTY(ws->outbb) &&
                                     !rc->c->data_in_output_filters) ||
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
        if (rc->ws->closed)
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

/* ---- taking connections over -------------------------------------- */

static void adopt(socketio_reactor *re, rconn *rc)
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

/* Polls the sockets of links that (re)opened. */
static void refresh_links(socketio_reactor *re)
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

static void flush_links(socketio_reactor *re)
{
    int i;

    re->want_flush = 0;
    for (i = 0; i < re->nlinks; i++)
        flush_link(re, &re->links[i]);
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
    if (links)
        refresh_links(re);
    if (output)
        re->want_flush = 1;
    while ((rc = list) != NULL) {
        list = rc->next;
        rc->next = NULL;
        adopt(re, rc);
    }
    apply_stop(re, mode);
}

static void on_link(socketio_reactor *re, rlink *rl, unsigned events)
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
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        rc->read_more = 1;
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

static void *APR_THREAD_FUNC reactor_main(apr_thread_t *t, void *data)
{
    socketio_reactor *re = data;
    struct epoll_event evs[MAX_EVENTS];
    int i, n, timeout;

    refresh_links(re);
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
                on_link(re, (rlink *)kind, evs[i].events);
            else
                on_conn((rconn *)kind, evs[i].events);
        }
        process_dirty(re);
        run_timers(re, 0);
        bury(re, 0);
        /* Queued frames go out once per turn, many in one write; while
         * clients are paused the queues are tried every tick as well. */
        if (re->want_flush || (re->npaused && timeout != 0))
            flush_links(re);
        if (re->stopping == STOP_NOW && exiting(re) && !re->conns) {
            on_wake(re);
            process_dirty(re);
            if (!re->conns) {
                run_timers(re, 1);
                /* The MPM has joined its workers (reactor_cleanup). */
                bury(re, 1);
                flush_links(re);
                break;
            }
        }
    }
    return NULL;
}

/* ---- sink callbacks (reactor thread, link locked) ------------------ */

static void sink_frame(void *owner, const sio_relay_frame *f)
{
    rconn *rc = owner;

    if (rc->phase != RC_WS || !rc->ws)
        return;
    socketio_ws_siod_frame(rc->ws, f);
    mark_dirty(rc);
}

/* A fan-out message: one reference-counted block (WebSocket header and
 * payload) shared by every recipient's heap bucket. */
typedef struct fan_block {
    apr_size_t refs;
    apr_size_t len;
    int volatile_;                 /* SIO_RF_VOLATILE */
} fan_block;

#define FAN_HDR APR_ALIGN_DEFAULT(sizeof(fan_block))
/* A fan-out message up to this long is copied into each recipient's
 * queue (socketio_ws_queue_copy) rather than shared through a bucket of
 * its own: the bucket would cost more than the copy. */
#define FAN_COPY_MAX 1024

static void fan_unref(void *data)
{
    fan_block *b = (fan_block *)((char *)data - FAN_HDR);

    if (--b->refs == 0)
        apr_bucket_free(b);
}

/* See socketio_reactor.h. */
void socketio_reactor_fan_vol_free(void *data)
{
    fan_unref(data);
}

static void *sink_fanout_begin(void *ctx, int flags, const unsigned char *msg,
                               apr_size_t len)
{
    socketio_reactor *re = ctx;
    unsigned char hdr[SIO_WS_MAX_HEADER];
    apr_size_t hl = sio_ws_write_header(hdr, 1, (flags & SIO_RF_BINARY)
                                                    ? SIO_WS_BINARY
                                                    : SIO_WS_TEXT,
                                        len, NULL);
    fan_block *b = apr_bucket_alloc(FAN_HDR + hl + len, re->ba);

    if (!b)
        return NULL;
    b->refs = 1;
    b->len = hl + len;
    b->volatile_ = (flags & SIO_RF_VOLATILE) != 0;
    memcpy((char *)b + FAN_HDR, hdr, hl);
    if (len)
        memcpy((char *)b + FAN_HDR + hl, msg, len);
    return b;
}

static void sink_fanout_add(void *handle, void *owner)
{
    fan_block *b = handle;
    rconn *rc = owner;
    apr_bucket *bk;

    if (rc->phase != RC_WS || !rc->ws || rc->ws->closed)
        return;
    if (!b->volatile_ && b->len <= FAN_COPY_MAX) {
        socketio_ws_queue_copy(rc->ws, (char *)b + FAN_HDR, b->len);
        mark_dirty(rc);
        return;
    }
    b->refs++;
    bk = apr_bucket_heap_create((char *)b + FAN_HDR, b->len,
                                b->volatile_ ? socketio_reactor_fan_vol_free
                                             : fan_unref,
                                rc->c->bucket_alloc);
    socketio_ws_queue_bucket(rc->ws, bk, b->len, b->volatile_);
    mark_dirty(rc);
}

static void sink_fanout_end(void *handle)
{
    fan_unref((char *)handle + FAN_HDR);
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

static const socketio_link_sink reactor_sink = {
    sink_frame, sink_fanout_begin, sink_fanout_add, sink_fanout_end,
    sink_failed, sink_link_up, sink_undelivered, sink_output
};

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
    socketio_link_set_sink(&reactor_sink, re);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rv = apr_thread_create(&re->thread, NULL, reactor_main, re, pchild);
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
