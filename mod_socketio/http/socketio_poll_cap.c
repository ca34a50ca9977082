/* SocketIOPollThreads: the cap on worker threads that long-polling GETs
 * hold while they wait for siod, so pages, PHP and POSTs always keep
 * workers. Where children have several threads (worker, event) the count
 * is per child: a child's own connections (and under mpm_event the
 * kept-alive ones it already accepted) can only be served by its own
 * threads. Where each child is one thread (prefork) it is counted across
 * the server (core/socketio_cap.c, as for WebSockets on the thread path).
 * Called by socketio_polling.c; calls nothing of http/. */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "apr_atomic.h"

#include "socketio_http.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* At most one "answered at once" warning per child this often. */
#define OVER_LOG_SECS 60

static socketio_cap *cap;
static volatile apr_uint32_t over_since;
static volatile apr_uint32_t over_log_sec;

/* See socketio_http.h. */
int socketio_poll_cap_post_config(apr_pool_t *pconf, server_rec *s)
{
    socketio_server_conf *sc = socketio_config_server(s);
    int daemons = 0, threads = 0, limit, server_wide;

    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    server_wide = threads <= 1;
    if (sc->poll_threads >= 0)
        limit = sc->poll_threads;
    else if (server_wide)
        limit = daemons / SOCKETIO_DEFAULT_POLL_DIVISOR;
    else
        limit = threads / SOCKETIO_DEFAULT_POLL_DIVISOR;
    if (sc->poll_threads < 0 && limit < 1)
        limit = 1;
    cap = socketio_cap_create(pconf, s, limit, server_wide,
                              "SocketIOPollThreads");
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "mod_socketio: long-polls may hold up to %d worker threads "
                 "%s", limit, socketio_cap_server_wide(cap)
                                  ? "across the server" : "per child");
    return OK;
}

/* See socketio_http.h. */
void socketio_poll_cap_child_status(server_rec *s, pid_t pid,
                                    ap_generation_t gen, int slot,
                                    mpm_child_status state)
{
    if (state == MPM_CHILD_EXITED)
        socketio_cap_child_exited(cap, slot);
}

/* Counts a GET answered at once and logs it: at debug each time, and at
 * warn at most once per OVER_LOG_SECS per child with the count since. */
static void log_over(request_rec *r, unsigned held)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t prev = apr_atomic_read32(&over_log_sec), n;

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "mod_socketio: long-poll over SocketIOPollThreads (%u of "
                  "%d held): answered at once", held, socketio_cap_limit(cap));
    apr_atomic_inc32(&over_since);
    if (prev && now - prev < OVER_LOG_SECS)
        return;
    if (apr_atomic_cas32(&over_log_sec, now, prev) != prev)
        return;
    n = apr_atomic_xchg32(&over_since, 0);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "mod_socketio: long-poll answered at once instead of held: "
                  "%u of SocketIOPollThreads %d worker threads %s already "
                  "hold polls; its client polls again (%u answered so in "
                  "this child since the last such message)", held,
                  socketio_cap_limit(cap),
                  socketio_cap_server_wide(cap) ? "of the server"
                                                : "of this child", n);
}

/* See socketio_http_int.h. */
int socketio_poll_cap_acquire(request_rec *r)
{
    unsigned held;

    if (socketio_cap_take(cap, r->pool, &held))
        return 1;
    log_over(r, held);
    return 0;
}
