/* The thread-per-WebSocket driver: the worker thread that completed the
 * handshake polls the client socket and its waiter's wake fd, reads with
 * socketio_ws_read and writes the queued frames with blocking, flushed
 * passes. The cap on such threads is counted across every child in
 * anonymous shared memory: a total, checked and raised with compare-and-
 * swap, and one counter per scoreboard slot so the parent can give back
 * what a child that died (crashed, killed) still held. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "util_filter.h"
#include "apr_atomic.h"
#include "apr_shm.h"

#include "socketio_config.h"
#include "socketio_link.h"
#include "socketio_ws_thread.h"
#include "socketio_wsconn.h"

APLOG_USE_MODULE(socketio);

/* How often a waiting WebSocket thread looks at the MPM's state anyway. */
#define WS_POLL_MS 10000
/* Bytes of frames from siod written per flush. */
#define WS_BATCH_BYTES (256 * 1024)
#define WS_SCRATCH (16 * 1024)
/* At most one refusal line per child this often. */
#define REFUSAL_LOG_SECS 60

typedef struct cap_counts {
    volatile apr_uint32_t total;
    volatile apr_uint32_t slot[1];  /* cap_slots of them */
} cap_counts;

static apr_shm_t *cap_shm;
static int cap_limit;
static int cap_slots;
static int my_slot = -2;            /* -2: not looked up yet, -1: unknown */
static volatile apr_uint32_t refused_since;
static volatile apr_uint32_t last_log_sec;

static cap_counts *counts(void)
{
    return cap_shm ? apr_shm_baseaddr_get(cap_shm) : NULL;
}

/* See the header. */
int socketio_ws_thread_post_config(apr_pool_t *pconf, server_rec *s)
{
    socketio_server_conf *sc = socketio_config_server(s);
    int daemons = 0, threads = 0, limit = 0, workers;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    workers = daemons * (threads > 0 ? threads : 1);
    if (sc->ws_threads >= 0)
        cap_limit = sc->ws_threads;
    else
        cap_limit = workers / SOCKETIO_DEFAULT_THREADS_DIVISOR > 0
                        ? workers / SOCKETIO_DEFAULT_THREADS_DIVISOR : 1;
    cap_slots = limit > 0 ? limit : 1;
    cap_shm = NULL;
    rv = apr_shm_create(&cap_shm, sizeof(cap_counts) +
                        sizeof(apr_uint32_t) * (apr_size_t)cap_slots,
                        NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "mod_socketio: no shared memory for the WebSocket "
                     "thread count; SocketIOWebSocketThreads applies per "
                     "child");
        cap_shm = NULL;
    } else {
        memset(apr_shm_baseaddr_get(cap_shm), 0, apr_shm_size_get(cap_shm));
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "mod_socketio: WebSockets may hold up to %d worker threads "
                 "(MaxRequestWorkers %d)", cap_limit, workers);
    return OK;
}

/* See the header. */
void socketio_ws_thread_child_status(server_rec *s, pid_t pid,
                                     ap_generation_t gen, int slot,
                                     mpm_child_status state)
{
    cap_counts *cc = counts();
    apr_uint32_t n;

    if (!cc || state != MPM_CHILD_EXITED || slot < 0 || slot >= cap_slots)
        return;
    n = apr_atomic_xchg32(&cc->slot[slot], 0);
    if (n)
        apr_atomic_sub32(&cc->total, n);
}

/* See the header. */
int socketio_ws_thread_cap(void)
{
    return cap_limit;
}

/* This child's scoreboard slot (the parent writes the pid right after the
 * fork, long before a WebSocket arrives). */
static int find_slot(void)
{
    pid_t me = getpid();
    int i, n = cap_slots;

    if (my_slot != -2)
        return my_slot;
    if (ap_scoreboard_image && ap_scoreboard_image->global &&
        ap_scoreboard_image->global->server_limit < n)
        n = ap_scoreboard_image->global->server_limit;
    for (i = 0; ap_scoreboard_image && i < n; i++) {
        if (ap_scoreboard_image->parent[i].pid == me) {
            my_slot = i;
            return i;
        }
    }
    my_slot = -1;
    return -1;
}

static volatile apr_uint32_t local_total;

static apr_status_t release_slot(void *data)
{
    cap_counts *cc = counts();
    int slot = find_slot();

    if (!cc) {
        apr_atomic_dec32(&local_total);
        return APR_SUCCESS;
    }
    apr_atomic_dec32(&cc->total);
    if (slot >= 0)
        apr_atomic_dec32(&cc->slot[slot]);
    return APR_SUCCESS;
}

static void log_refusal(request_rec *r, apr_uint32_t held)
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
                  "this child since the last such message)", held, cap_limit,
                  n);
}

/* See the header. */
int socketio_ws_thread_acquire(request_rec *r)
{
    cap_counts *cc = counts();
    volatile apr_uint32_t *total = cc ? &cc->total : &local_total;
    apr_uint32_t cur;
    int slot;

    for (;;) {
        cur = apr_atomic_read32(total);
        if (cur >= (apr_uint32_t)cap_limit) {
            log_refusal(r, cur);
            return 0;
        }
        if (apr_atomic_cas32(total, cur + 1, cur) == cur)
            break;
    }
    if (cc && (slot = find_slot()) >= 0)
        apr_atomic_inc32(&cc->slot[slot]);
    apr_pool_cleanup_register(r->pool, NULL, release_slot,
                              apr_pool_cleanup_null);
    return 1;
}

/* A thread-served client whose TCP window stays full this long while we
 * have data for it has stopped reading: it is dropped. (The thread cannot
 * see its queue overflow while it blocks in the write.) */
#define WS_WRITE_STALL apr_time_from_sec(5)

/* Writes what is queued, blocking for at most WS_WRITE_STALL without
 * progress (or the connection's Timeout if shorter). */
static void flush_blocking(socketio_ws *ws)
{
    apr_socket_t *sock = ap_get_conn_socket(ws->c);
    apr_interval_time_t saved = -1;
    apr_status_t rv;

    if (ws->lost || APR_BRIGADE_EMPTY(ws->outbb))
        return;
    if (sock && apr_socket_timeout_get(sock, &saved) == APR_SUCCESS &&
        (saved < 0 || saved > WS_WRITE_STALL))
        apr_socket_timeout_set(sock, WS_WRITE_STALL);
    APR_BRIGADE_INSERT_TAIL(ws->outbb,
                            apr_bucket_flush_create(ws->c->bucket_alloc));
    rv = ap_pass_brigade(ws->c->output_filters, ws->outbb);
    apr_brigade_cleanup(ws->outbb);
    if (sock && saved != -1)
        apr_socket_timeout_set(sock, saved);
    ws->out_bytes = 0;
    if (rv == APR_SUCCESS && ws->c->aborted)
        rv = APR_ECONNABORTED;
    if (APR_STATUS_IS_TIMEUP(rv))
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, ws->r,
                      "mod_socketio: WebSocket client too slow: it stopped "
                      "reading (no write progress for %d s); dropping it",
                      (int)apr_time_sec(WS_WRITE_STALL));
    if (rv != APR_SUCCESS)
        socketio_ws_lost(ws, rv, "write failed");
}

/* Event: the waiter's wake fd fired (or might have). Writes what siod
 * queued, in batches, and handles its close or the link's failure. */
static void on_siod_wake(socketio_ws *ws)
{
    socketio_frame *f;
    apr_status_t rv = APR_SUCCESS;

    socketio_waiter_clear_wake(ws->w);
    while (!ws->closed) {
        rv = socketio_waiter_take(ws->w, &f);
        if (rv != APR_SUCCESS)
            break;
        socketio_ws_siod_frame(ws, &f->f);
        socketio_frame_release(f);
        if (ws->out_bytes >= WS_BATCH_BYTES)
            flush_blocking(ws);
    }
    flush_blocking(ws);
    if (ws->closed)
        return;
    if (rv == APR_ECONNRESET) {
        socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL,
                          "Socket.IO daemon unavailable",
                          SIO_WS_CLOSE_INTERNAL);
    } else if (rv == APR_ENOSPC) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, ws->r,
                      "mod_socketio: WebSocket client too slow: its send "
                      "queue overflowed (SocketIOWebSocketQueue); closing it");
        socketio_ws_close(ws, SIO_WS_CLOSE_POLICY, "Send queue overflow",
                          SIO_WS_CLOSE_POLICY);
    }
}

/* See the header. */
void socketio_ws_thread_run(socketio_ws *ws)
{
    unsigned char *scratch = apr_palloc(ws->r->pool, WS_SCRATCH);
    struct pollfd pfd[2];
    int n;

    while (socketio_ws_read(ws, scratch, WS_SCRATCH, 64))
        flush_blocking(ws);
    flush_blocking(ws);
    while (!ws->closed) {
        on_siod_wake(ws);
        if (ws->closed)
            break;
        if (socketio_link_child_is_stopping()) {
            socketio_ws_close(ws, SIO_WS_CLOSE_GOING_AWAY,
                              "Server restarting", SIO_WS_CLOSE_GOING_AWAY);
            break;
        }
        pfd[0].fd = ws->client_fd;
        pfd[0].events = POLLIN;
        pfd[0].revents = 0;
        pfd[1].fd = socketio_waiter_wakefd(ws->w);
        pfd[1].events = POLLIN;
        pfd[1].revents = 0;
        n = poll(pfd, 2, WS_POLL_MS);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            socketio_ws_close(ws, SIO_WS_CLOSE_INTERNAL, "Internal error",
                              SIO_WS_CLOSE_INTERNAL);
            break;
        }
        if (n > 0 && pfd[0].revents) {
            while (socketio_ws_read(ws, scratch, WS_SCRATCH, 64))
                flush_blocking(ws);
            flush_blocking(ws);
        }
    }
    flush_blocking(ws);
}
