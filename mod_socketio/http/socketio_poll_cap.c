/* SocketIOPollThreads: the cap on worker threads that long-polling GETs
 * hold while they wait for siod, so pages, PHP and POSTs always keep
 * workers. Where children have several threads (worker, event) the count
 * is per child: a child's own connections (and under mpm_event the
 * kept-alive ones it already accepted) can only be served by its own
 * threads. Where each child is one thread (prefork) it is counted across
 * the server in anonymous shared memory: a total, checked and raised with
 * compare-and-swap, and one counter per scoreboard slot so the parent can
 * give back what a child that died still held (as socketio_ws_thread.c
 * does for WebSockets). Called by socketio_polling.c; calls nothing of
 * http/. */
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "apr_atomic.h"
#include "apr_shm.h"

#include "socketio_http.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* At most one "answered at once" warning per child this often. */
#define OVER_LOG_SECS 60

typedef struct cap_counts {
    volatile apr_uint32_t total;
    volatile apr_uint32_t slot[1];  /* cap_slots of them */
} cap_counts;

static apr_shm_t *cap_shm;          /* server-wide counts, or NULL */
static int cap_limit;
static int cap_slots;
static int cap_server_wide;         /* 1: one thread per child (prefork) */
static int my_slot = -2;            /* -2: not looked up yet, -1: unknown */
static volatile apr_uint32_t child_held;   /* per child, or no shared memory */
static volatile apr_uint32_t over_since;
static volatile apr_uint32_t over_log_sec;

static cap_counts *counts(void)
{
    return cap_shm ? apr_shm_baseaddr_get(cap_shm) : NULL;
}

/* See socketio_http.h. */
int socketio_poll_cap_post_config(apr_pool_t *pconf, server_rec *s)
{
    socketio_server_conf *sc = socketio_config_server(s);
    int daemons = 0, threads = 0, limit = 0;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    cap_server_wide = threads <= 1;
    if (sc->poll_threads >= 0)
        cap_limit = sc->poll_threads;
    else if (cap_server_wide)
        cap_limit = daemons / SOCKETIO_DEFAULT_POLL_DIVISOR;
    else
        cap_limit = threads / SOCKETIO_DEFAULT_POLL_DIVISOR;
    if (sc->poll_threads < 0 && cap_limit < 1)
        cap_limit = 1;
    cap_slots = limit > 0 ? limit : 1;
    cap_shm = NULL;
    if (cap_server_wide) {
        rv = apr_shm_create(&cap_shm, sizeof(cap_counts) +
                            sizeof(apr_uint32_t) * (apr_size_t)cap_slots,
                            NULL, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                         "mod_socketio: no shared memory for the long-poll "
                         "thread count; SocketIOPollThreads applies per "
                         "child");
            cap_shm = NULL;
        } else {
            memset(apr_shm_baseaddr_get(cap_shm), 0,
                   apr_shm_size_get(cap_shm));
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "mod_socketio: long-polls may hold up to %d worker threads "
                 "%s", cap_limit, cap_server_wide ? "across the server"
                                                  : "per child");
    return OK;
}

/* See socketio_http.h. */
void socketio_poll_cap_child_status(server_rec *s, pid_t pid,
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

/* This child's scoreboard slot (the parent writes the pid right after the
 * fork, long before a request arrives). */
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

static apr_status_t release_slot(void *data)
{
    cap_counts *cc = counts();
    int slot;

    if (!cc) {
        apr_atomic_dec32(&child_held);
        return APR_SUCCESS;
    }
    apr_atomic_dec32(&cc->total);
    if ((slot = find_slot()) >= 0)
        apr_atomic_dec32(&cc->slot[slot]);
    return APR_SUCCESS;
}

/* Counts a GET answered at once and logs it: at debug each time, and at
 * warn at most once per OVER_LOG_SECS per child with the count since. */
static void log_over(request_rec *r, apr_uint32_t held)
{
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t prev = apr_atomic_read32(&over_log_sec), n;

    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  "mod_socketio: long-poll over SocketIOPollThreads (%u of "
                  "%d held): answered at once", held, cap_limit);
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
                  "this child since the last such message)", held, cap_limit,
                  cap_server_wide ? "of the server" : "of this child", n);
}

/* See socketio_http_int.h. */
int socketio_poll_cap_acquire(request_rec *r)
{
    cap_counts *cc = counts();
    volatile apr_uint32_t *total = cc ? &cc->total : &child_held;
    apr_uint32_t cur;
    int slot;

    for (;;) {
        cur = apr_atomic_read32(total);
        if (cur >= (apr_uint32_t)cap_limit) {
            log_over(r, cur);
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
