/* The thread-per-WebSocket driver: the worker thread that completed the
 * handshake polls the client socket and its waiter's wake fd, reads with
 * socketio_ws_read and writes the queued frames with blocking, flushed
 * passes. An HTTP/2 stream (RFC 8441) runs here too, on mod_http2's
 * worker: it polls the stream's input pipe instead of a socket and writes
 * into the stream's output through mod_http2's filters. The cap on such
 * threads is counted across every child (core/socketio_cap.c); HTTP/2
 * streams also leave a quarter of the child's mod_http2 workers to other
 * streams. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "util_filter.h"
#include "apr_atomic.h"
#include "apr_optional.h"
#include "mod_http2.h"

#include "sio_ws.h"
#include "socketio_core.h"
#include "socketio_link.h"
#include "socketio_ws.h"
#include "socketio_ws_thread.h"
#include "socketio_wsconn.h"

APLOG_USE_MODULE(socketio);

/* How often a waiting WebSocket thread looks at the MPM's state anyway. */
#define WS_POLL_MS 10000
/* How often an HTTP/2 stream's thread looks whether the stream was reset
 * anyway: mod_http2 closes the stream's input first, which wakes the
 * pipe, but it stops signalling the pipe before it marks the connection
 * aborted, so this is the safety net. */
#define H2_POLL_MS 1000
/* Bytes of frames from siod written per flush. */
#define WS_BATCH_BYTES (256 * 1024)
#define WS_SCRATCH (16 * 1024)
/* At most one refusal line per child this often. */
#define REFUSAL_LOG_SECS 60

static socketio_cap *cap;
/* Per child: the mod_http2 workers HTTP/2 WebSockets may hold; NULL
 * without mod_http2. */
static socketio_cap *h2cap;
static volatile apr_uint32_t refused_since;
static volatile apr_uint32_t last_log_sec;

/* The cap on mod_http2 workers a child's HTTP/2 WebSockets may hold: all
 * but a quarter (at least one) of H2MaxWorkers, so that the child's other
 * streams are still served. NULL when mod_http2 is not loaded. */
static socketio_cap *h2_workers_cap(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(http2_get_num_workers) *num_workers =
        APR_RETRIEVE_OPTIONAL_FN(http2_get_num_workers);
    int minw = 0, maxw = 0, limit;

    if (!num_workers)
        return NULL;
    num_workers(s, &minw, &maxw);
    limit = maxw - (maxw / 4 > 1 ? maxw / 4 : 1);
    if (limit < 0)
        limit = 0;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "mod_socketio: HTTP/2 WebSockets may hold up to %d of a "
                 "child's %d mod_http2 workers", limit, maxw);
    return socketio_cap_create(pconf, s, limit, 0, "H2MaxWorkers");
}

/* See socketio_ws.h. */
int socketio_ws_thread_post_config(apr_pool_t *pconf, server_rec *s)
{
    socketio_server_conf *sc = socketio_config_server(s);
    int daemons = 0, threads = 0, limit, workers;

    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    workers = daemons * (threads > 0 ? threads : 1);
    if (sc->ws_threads >= 0)
        limit = sc->ws_threads;
    else
        limit = workers / SOCKETIO_DEFAULT_THREADS_DIVISOR > 0
                    ? workers / SOCKETIO_DEFAULT_THREADS_DIVISOR : 1;
    cap = socketio_cap_create(pconf, s, limit, 1, "SocketIOWebSocketThreads");
    h2cap = h2_workers_cap(pconf, s);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "mod_socketio: WebSockets may hold up to %d worker threads "
                 "(MaxRequestWorkers %d)", limit, workers);
    return OK;
}

/* See socketio_ws.h. */
void socketio_ws_thread_child_status(server_rec *s, pid_t pid,
                                     ap_generation_t gen, int slot,
                                     mpm_child_status state)
{
    if (state == MPM_CHILD_EXITED)
        socketio_cap_child_exited(cap, slot);
}

/* See the header. */
int socketio_ws_thread_cap(void)
{
    return cap ? socketio_cap_limit(cap) : 0;
}

static void log_refusal(request_rec *r, unsigned held)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t prev = apr_atomic_read32(&last_log_sec), n;

    apr_atomic_inc32(&refused_since);
    if (prev && now - prev < REFUSAL_LOG_SECS)
        return;
    if (apr_atomic_cas32(&last_log_sec, now, prev) != prev)
        return;
    n = apr_atomic_xchg32(&refused_since, 0);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "mod_socketio: WebSocket refused (503): %u of "
                  "SocketIOWebSocketThreads %d worker threads already hold "
                  "WebSockets; clients stay on long-polling (%u refused in "
                  "this child since the last such message)", held,
                  socketio_cap_limit(cap), n);
}

static volatile apr_uint32_t slow_since;
static volatile apr_uint32_t slow_log_sec;

/* Logs a client dropped for not taking its data within limit: at most
 * one warning per child per REFUSAL_LOG_SECS, the others at debug and
 * counted in the next warning. */
static void log_slow(socketio_ws *ws, apr_interval_time_t limit)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t prev = apr_atomic_read32(&slow_log_sec), n;
    int warn = (!prev || now - prev >= REFUSAL_LOG_SECS) &&
               apr_atomic_cas32(&slow_log_sec, now, prev) == prev;

    if (!warn) {
        apr_atomic_inc32(&slow_since);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, ws->r,
                      "mod_socketio: WebSocket client too slow: it did not "
                      "take its messages within SocketIOWebSocketWriteTimeout; "
                      "dropped");
        return;
    }
    n = apr_atomic_xchg32(&slow_since, 0);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, ws->r,
                  "mod_socketio: WebSocket client too slow: it did not take "
                  "its messages within SocketIOWebSocketWriteTimeout (%d s); "
                  "dropping it (%u more dropped since the last such message)",
                  (int)apr_time_sec(limit), n);
}

/* See the header. */
int socketio_ws_thread_acquire(request_rec *r)
{
    unsigned held;

    if (r->connection->master && h2cap &&
        !socketio_cap_take(h2cap, r->pool, &held)) {
        socketio_log_rerror_limited(APLOG_WARNING, 0, r,
                                    "mod_socketio: WebSocket over HTTP/2 "
                                    "refused (503): this child's HTTP/2 "
                                    "WebSockets already hold %u of its "
                                    "mod_http2 workers (H2MaxWorkers less "
                                    "a quarter)", held);
        return 0;
    }
    if (socketio_cap_take(cap, r->pool, &held))
        return 1;
    log_refusal(r, held);
    return 0;
}

/* Bytes passed to the filters at once, and only while nothing is pending
 * in them: below the core output filter's FlushMaxThreshold (64 KB), so a
 * pass on the non-blocking socket never turns into a blocking one. */
#define WS_WRITE_CHUNK (16 * 1024)

/* Pushes what the core output filter holds (it sends without waiting). */
static apr_status_t redrive(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    while (f->next)
        f = f->next;
    return f->frec->filter_func.out_func(f, NULL);
}

/* An HTTP/2 stream: passes everything queued, with a flush, into
 * mod_http2's output for the stream. The pass waits while the stream's
 * buffer is full (the client's flow control), at most the stream's
 * timeout (H2StreamTimeout, else Timeout), and fails at once when the
 * client reset the stream; either way the WebSocket is lost. */
static void flush_stream(socketio_ws *ws)
{
    conn_rec *c = ws->c;
    apr_status_t rv = APR_ECONNABORTED;

    if (socketio_ws_is_lost(ws) || APR_BRIGADE_EMPTY(ws->outbb))
        return;
    APR_BRIGADE_INSERT_TAIL(ws->outbb,
                            apr_bucket_flush_create(c->bucket_alloc));
    if (!c->aborted)
        rv = ap_pass_brigade(c->output_filters, ws->outbb);
    apr_brigade_cleanup(ws->outbb);
    ws->out_bytes = 0;
    if (rv == APR_SUCCESS && c->aborted)
        rv = APR_ECONNABORTED;
    if (rv != APR_SUCCESS)
        socketio_ws_lost(ws, rv, "HTTP/2 stream write failed");
}

/* Writes everything queued before a deadline on the whole write
 * (SocketIOWebSocketWriteTimeout from the first byte), however the client
 * trickles: the socket is made non-blocking for the write, chunks are
 * passed only while the filters hold nothing, and the thread waits for
 * writability with what is left of the deadline. A client that misses it
 * is dropped and logged (at most once a minute per child at warn). */
static void flush_blocking(socketio_ws *ws)
{
    conn_rec *c = ws->c;
    apr_socket_t *sock = ap_get_conn_socket(c);
    apr_interval_time_t saved = -1, limit;
    apr_bucket_brigade *rest;
    apr_bucket *after;
    apr_time_t deadline;
    apr_status_t rv = APR_SUCCESS;
    struct pollfd pfd;
    int ms;

    if (ws->h2) {
        flush_stream(ws);
        return;
    }
    if (socketio_ws_is_lost(ws) || (APR_BRIGADE_EMPTY(ws->outbb) &&
                     !c->data_in_output_filters))
        return;
    limit = socketio_config_ws_write_timeout(ws->sconf);
    deadline = apr_time_now() + limit;
    if (!sock || apr_socket_timeout_get(sock, &saved) != APR_SUCCESS) {
        socketio_ws_lost(ws, APR_ENOTSOCK, "has no socket");
        return;
    }
    apr_socket_timeout_set(sock, 0);
    rest = apr_brigade_create(ws->r->pool, c->bucket_alloc);
    for (;;) {
        if (c->data_in_output_filters)
            rv = redrive(c);
        while (rv == APR_SUCCESS && !c->aborted &&
               !APR_BRIGADE_EMPTY(ws->outbb) && !c->data_in_output_filters) {
            apr_brigade_partition(ws->outbb, WS_WRITE_CHUNK, &after);
            apr_brigade_split_ex(ws->outbb, after, rest);
            rv = ap_pass_brigade(c->output_filters, ws->outbb);
            apr_brigade_cleanup(ws->outbb);
            APR_BRIGADE_CONCAT(ws->outbb, rest);
            if (rv == APR_SUCCESS && !c->aborted)
                rv = redrive(c);
        }
        if (rv == APR_SUCCESS && c->aborted)
            rv = APR_ECONNABORTED;
        if (rv != APR_SUCCESS || (APR_BRIGADE_EMPTY(ws->outbb) &&
                                  !c->data_in_output_filters))
            break;
        ms = (int)apr_time_as_msec(deadline - apr_time_now());
        if (ms <= 0) {
            rv = APR_TIMEUP;
            break;
        }
        pfd.fd = ws->client_fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        if (poll(&pfd, 1, ms) < 0 && errno != EINTR) {
            rv = errno;
            break;
        }
    }
    apr_brigade_destroy(rest);
    apr_socket_timeout_set(sock, saved);
    ws->out_bytes = 0;
    if (APR_STATUS_IS_TIMEUP(rv))
        log_slow(ws, limit);
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(ws->outbb);
        socketio_ws_lost(ws, rv, "write failed");
    }
}

/* Event: the waiter's wake fd fired (or might have). Writes what siod
 * queued, in batches, and handles its close or the link's failure. */
static void on_siod_wake(socketio_ws *ws)
{
    socketio_frame *f;
    apr_status_t rv = APR_SUCCESS;

    socketio_waiter_clear_wake(ws->w);
    while (!socketio_ws_is_closed(ws)) {
        rv = socketio_waiter_take(ws->w, &f);
        if (rv != APR_SUCCESS)
            break;
        socketio_ws_siod_frame(ws, &f->f);
        socketio_frame_release(f);
        if (ws->out_bytes >= WS_BATCH_BYTES)
            flush_blocking(ws);
    }
    flush_blocking(ws);
    if (socketio_ws_is_closed(ws))
        return;
    if (ws->oom) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, ws->r,
                      "mod_socketio: WebSocket message could not be queued "
                      "(out of memory); closing the client (1011)");
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Out of memory",
                          SIO_WS_CLOSE_INTERNAL);
    } else if (rv == APR_ECONNRESET) {
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL,
                          "Socket.IO daemon unavailable",
                          SIO_WS_CLOSE_INTERNAL);
    } else if (rv == APR_ENOSPC) {
        socketio_log_rerror_limited(APLOG_WARNING, 0, ws->r,
                                    "mod_socketio: WebSocket client too "
                                    "slow: its send queue overflowed "
                                    "(SocketIOWebSocketQueue); closing it");
        socketio_ws_close(ws, SIO_WS_CLOSE_POLICY, "Send queue overflow",
                          SIO_WS_CLOSE_POLICY);
    }
}

/* The descriptor that becomes readable when the client sent something:
 * its socket, or for an HTTP/2 stream the pipe mod_http2 writes to when
 * the stream's input grows (-1: none, the stream's input has ended). */
static int input_fd(socketio_ws *ws)
{
    apr_pollfd_t pfd;
    apr_os_file_t fd;

    if (!ws->h2)
        return ws->client_fd;
    memset(&pfd, 0, sizeof(pfd));
    if (ap_get_pollfd_from_conn(ws->c, &pfd, NULL) != APR_SUCCESS ||
        pfd.desc_type != APR_POLL_FILE ||
        apr_os_file_get(&fd, pfd.desc.f) != APR_SUCCESS)
        return -1;
    return fd;
}

/* Reads what the client sent (the budget per pass keeps the writes
 * going) and writes what that queued. */
static void read_client(socketio_ws *ws, unsigned char *scratch)
{
    while (socketio_ws_read(ws, scratch, WS_SCRATCH, 64))
        flush_blocking(ws);
    flush_blocking(ws);
}

/* A WebSocket held for the next siod (ws->held): hands it over once the
 * link is up again (the link wakes this thread then), else closes it
 * with its status when the child stops or SocketIOHandoverTimeout has
 * passed. Returns the poll timeout for the wait that follows (ms), or -1
 * when it is no longer held (taken back: what the client sent meanwhile
 * has been read; or closed). */
static int on_held(socketio_ws *ws, unsigned char *scratch)
{
    apr_time_t now, left;

    if (socketio_link_child_is_stopping()) {
        socketio_ws_close(ws, ws->held_status, "Server restarting",
                          ws->held_status);
        return -1;
    }
    if (socketio_ws_try_resume(ws)) {
        if (!socketio_ws_is_closed(ws))
            read_client(ws, scratch);
        return -1;
    }
    now = apr_time_now();
    if (now >= ws->held_until) {
        socketio_ws_hold_expired(ws);
        return -1;
    }
    left = apr_time_as_msec(ws->held_until - now) + 1;
    return left < WS_POLL_MS ? (int)left : WS_POLL_MS;
}

/* See the header. While the WebSocket is held its input is not polled,
 * only its hang-up (an HTTP/2 stream's reset: c->aborted). */
void socketio_ws_thread_run(socketio_ws *ws)
{
    unsigned char *scratch = apr_palloc(ws->r->pool, WS_SCRATCH);
    int in_fd = input_fd(ws);
    struct pollfd pfd[2];
    int n, held_ms, timeout;

    read_client(ws, scratch);
    while (!socketio_ws_is_closed(ws)) {
        on_siod_wake(ws);
        if (socketio_ws_is_closed(ws))
            break;
        held_ms = socketio_ws_is_held(ws) ? on_held(ws, scratch) : -1;
        if (socketio_ws_is_closed(ws))
            break;
        if (held_ms < 0 && socketio_link_child_is_stopping()) {
            socketio_ws_close(ws, SIO_WS_CLOSE_GOING_AWAY,
                              "Server restarting", SIO_WS_CLOSE_GOING_AWAY);
            break;
        }
        pfd[0].fd = held_ms >= 0 && ws->h2 ? -1 : in_fd;
        pfd[0].events = held_ms >= 0 ? POLLRDHUP : POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = socketio_waiter_wakefd(ws->w);
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        timeout = ws->h2 ? H2_POLL_MS : WS_POLL_MS;
        if (held_ms >= 0 && held_ms < timeout)
            timeout = held_ms;
        n = poll(pfd, 2, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Internal error",
                              SIO_WS_CLOSE_INTERNAL);
            break;
        }
        if (ws->h2 && ws->c->aborted) {
            socketio_ws_lost(ws, APR_ECONNABORTED,
                             "HTTP/2 stream reset by the client");
            break;
        }
        if (n > 0 && pfd[0].revents && held_ms >= 0) {
            /* Held: only the client's going away wakes this. */
            socketio_ws_lost(ws, APR_ECONNRESET,
                             "closed by the client while held");
            break;
        }
        if (n > 0 && pfd[0].revents) {
            /* siod's frames first: a hand-over among them stops the
             * reading, so that what the client sent since goes to the
             * next siod. */
            if (pfd[1].revents) {
                on_siod_wake(ws);
                if (socketio_ws_is_closed(ws) || ws->held)
                    continue;
            }
            read_client(ws, scratch);
        }
    }
    flush_blocking(ws);
}
