/* The counted cap of socketio_cap.h, shared by SocketIOPollThreads
 * (http/socketio_poll_cap.c) and SocketIOWebSocketThreads
 * (ws/socketio_ws_thread.c). */
#include <string.h>
#include <unistd.h>

#include "httpd.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "apr_atomic.h"
#include "apr_shm.h"

#include "socketio_cap.h"

APLOG_USE_MODULE(socketio);

typedef struct shared_counts {
    volatile apr_uint32_t total;
    volatile apr_uint32_t slot[1];  /* nslots of them */
} shared_counts;

struct socketio_cap {
    int limit;
    int nslots;
    int server_wide;
    shared_counts *shared;          /* server-wide counts, or NULL */
    volatile apr_uint32_t local;    /* per child (copied at the fork) */
};

/* This child's scoreboard slot: -2 not looked up yet, -1 unknown. A
 * child's own (each child looks it up after its fork). */
static int my_slot = -2;

/* See socketio_cap.h. */
socketio_cap *socketio_cap_create(apr_pool_t *pconf, server_rec *s, int limit,
                                  int server_wide, const char *directive)
{
    socketio_cap *cap = apr_pcalloc(pconf, sizeof(*cap));
    int hard = 0;
    apr_shm_t *shm;
    apr_status_t rv;

    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &hard);
    cap->limit = limit;
    cap->nslots = hard > 0 ? hard : 1;
    if (!server_wide)
        return cap;
    rv = apr_shm_create(&shm, sizeof(shared_counts) +
                        sizeof(apr_uint32_t) * (apr_size_t)cap->nslots,
                        NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s,
                     "mod_socketio: no shared memory to count %s across the "
                     "server; it applies per child", directive);
        return cap;
    }
    cap->shared = apr_shm_baseaddr_get(shm);
    memset(cap->shared, 0, apr_shm_size_get(shm));
    cap->server_wide = 1;
    return cap;
}

/* See socketio_cap.h. */
void socketio_cap_child_exited(socketio_cap *cap, int slot)
{
    apr_uint32_t n;

    if (!cap || !cap->shared || slot < 0 || slot >= cap->nslots)
        return;
    n = apr_atomic_xchg32(&cap->shared->slot[slot], 0);
    if (n)
        apr_atomic_sub32(&cap->shared->total, n);
}

/* This child's scoreboard slot (the parent writes the pid right after the
 * fork, long before a request arrives). */
static int find_slot(int nslots)
{
    pid_t me = getpid();
    int i, n = nslots;

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

static apr_status_t give_back(void *data)
{
    socketio_cap *cap = data;
    int slot;

    if (!cap->shared) {
        apr_atomic_dec32(&cap->local);
        return APR_SUCCESS;
    }
    apr_atomic_dec32(&cap->shared->total);
    if ((slot = find_slot(cap->nslots)) >= 0)
        apr_atomic_dec32(&cap->shared->slot[slot]);
    return APR_SUCCESS;
}

/* See socketio_cap.h. */
int socketio_cap_take(socketio_cap *cap, apr_pool_t *pool, unsigned *held)
{
    volatile apr_uint32_t *total = cap->shared ? &cap->shared->total
                                               : &cap->local;
    apr_uint32_t cur;
    int slot;

    for (;;) {
        cur = apr_atomic_read32(total);
        if (cur >= (apr_uint32_t)cap->limit) {
            *held = cur;
            return 0;
        }
        if (apr_atomic_cas32(total, cur + 1, cur) == cur)
            break;
    }
    if (cap->shared && (slot = find_slot(cap->nslots)) >= 0)
        apr_atomic_inc32(&cap->shared->slot[slot]);
    apr_pool_cleanup_register(pool, cap, give_back, apr_pool_cleanup_null);
    return 1;
}

/* See socketio_cap.h. */
int socketio_cap_limit(const socketio_cap *cap)
{
    return cap->limit;
}

/* See socketio_cap.h. */
int socketio_cap_server_wide(const socketio_cap *cap)
{
    return cap->server_wide;
}
