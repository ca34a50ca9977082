/* Held GETs without a thread under mpm_event (httpd 2.4.63 and later): a
 * GET that siod does not answer at once is parked in the MPM. Its handler
 * returns SUSPENDED and the connection is handed back to the MPM in
 * CONN_STATE_ASYNC_WAITIO, where the MPM polls the connection's descriptor
 * for input; for that time the descriptor stands for the GET's waiter:
 * the socket is kept on a spare descriptor and the waiter's eventfd is
 * duplicated onto the socket's number. When siod answers (or the link
 * fails, or the child stops and wakes every waiter) the eventfd becomes
 * readable, the MPM gives the connection to a worker, and the
 * process_connection hook (socketio_keepalive.c) resumes it here: the
 * socket is put back on its descriptor, the answer written, the request
 * finished; the connection then goes on as any other, kept alive. No
 * thread waits, no connection is suspended for good, and the MPM owns the
 * connection all along.
 *
 * This relies on what mpm_event does with a connection in that state: it
 * only adds the descriptor to its pollset (by number, when the hook
 * returns) and removes it again before anything else, on a wake-up or at
 * Timeout; on a wake-up the first module code to run is the
 * process_connection hook, and before any close pre_close_connection,
 * where the socket is put back first. A parked GET the MPM times out
 * (Timeout shorter than siod's pingInterval) is released (siod keeps the
 * session) and its connection closed without an answer (logged once per
 * child); the client polls again.
 *
 * While a GET of an idle client is parked, its connection's allocator
 * keeps no free memory: the blocks earlier requests gave back (kept for
 * the next request, up to MaxMemFree) are returned to the system when it
 * parks, and the limit is set back when it resumes. A connection counts as
 * idle once one of its GETs stayed parked for PARK_LONG, and again as busy
 * after a shorter park: a busy client reuses its blocks with no allocation
 * call (giving them back on every park costs more CPU than it saves
 * memory), an idle one costs only what its GET holds.
 *
 * A parked GET holds three descriptors and no thread, so it is parked
 * only while the child has descriptors to spare (socketio_fd.h: its
 * spare and its eventfd under the threshold, the connection not served in
 * the reserve, socketio_fd_guard.c); else it holds its thread within
 * SocketIOPollThreads (socketio_poll_cap.c), or is answered at once.
 *
 * Also the release of a held GET when the child stops, for held and
 * parked GETs alike. Called by socketio_polling.c and
 * socketio_keepalive.c; calls socketio_respond.c, socketio_request.c,
 * socketio_poll_cap.c and socketio_fd_guard.c. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "apr_allocator.h"
#include "apr_atomic.h"

#include "sio_relay.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* The parked GET of a connection, in c->pool's user data under this key
 * (the record itself is in r->pool). */
#define PARK_KEY "socketio-park"
/* In c->pool's user data (any non-NULL value) while the connection's
 * last parked GET waited PARK_LONG or more. */
#define IDLE_KEY "socketio-park-idle"
#define PARK_LONG apr_time_from_sec(1)

struct socketio_parked {
    socketio_req *sr;
    socketio_waiter *w;
    int sock_fd;                /* the socket's descriptor number */
    int spare_fd;               /* the socket while parked, else -1 */
    int no_room;                /* not parked for want of descriptors */
    int trimmed;                /* the allocator's free blocks given back */
    apr_time_t since;           /* parked since (0: not yet parked) */
};

/* Most free blocks given back at one park (the allocator keeps at most
 * MaxMemFree; a connection rarely has more than a few). */
#define TRIM_MAX 64
/* Bytes after a block's header that tell a block just mapped (all zero)
 * from one taken back from the allocator's free list. */
#define FRESH_PROBE 256

/* Set by socketio_keepalive.c in child_init: its hook that resumes
 * parked GETs runs. */
static int can_park;

/* See socketio_http_int.h. */
void socketio_park_enable(int on)
{
    can_park = on;
}

/* See socketio_http_int.h. */
int socketio_park_possible(conn_rec *c)
{
    return can_park && c->cs && !c->master && !c->clogging_input_filters &&
           socketio_req_client_fd(c) >= 0 && !socketio_fd_guard_in_reserve(c);
}

/* r->pool's cleanup: a connection torn down while its GET is parked
 * without pre_close_connection (an error path of the MPM's, which closed
 * the descriptor itself): the socket on the spare one is closed too. */
static apr_status_t park_cleanup(void *data)
{
    socketio_parked *pk = data;

    if (pk->spare_fd >= 0)
        close(pk->spare_fd);
    pk->spare_fd = -1;
    return APR_SUCCESS;
}

/* See socketio_http_int.h. */
int socketio_park(socketio_req *sr, socketio_waiter *w)
{
    conn_rec *c = sr->r->connection;
    socketio_parked *pk = apr_pcalloc(sr->r->pool, sizeof(*pk));

    pk->sr = sr;
    pk->w = w;
    pk->sock_fd = socketio_req_client_fd(c);
    pk->spare_fd = -1;
    apr_pool_cleanup_register(sr->r->pool, pk, park_cleanup,
                              apr_pool_cleanup_null);
    apr_pool_userdata_setn(pk, PARK_KEY, NULL, c->pool);
    return SUSPENDED;
}

/* See socketio_http_int.h. */
socketio_parked *socketio_parked_of(conn_rec *c)
{
    void *pk = NULL;

    apr_pool_userdata_get(&pk, PARK_KEY, c->pool);
    return pk;
}

/* Puts the socket back on its descriptor. Returns 0, or -1 if it could
 * not (the connection is then lost: aborted). */
static int unswap(socketio_parked *pk)
{
    int rc = 0;

    if (pk->spare_fd < 0)
        return 0;
    while (dup3(pk->spare_fd, pk->sock_fd, O_CLOEXEC) < 0) {
        if (errno != EINTR) {
            rc = -1;
            break;
        }
    }
    close(pk->spare_fd);
    pk->spare_fd = -1;
    return rc;
}

/* 1 if node was just mapped by the allocator (every byte after its header
 * still zero), 0 if it came from the allocator's free list. */
static int node_is_fresh(const apr_memnode_t *node)
{
    const unsigned char *p = (const unsigned char *)node + APR_MEMNODE_T_SIZE;
    size_t i;

    for (i = 0; i < FRESH_PROBE && p + i < (const unsigned char *)node->endp;
         i++)
        if (p[i])
            return 0;
    return 1;
}

/* Gives the free blocks c's allocator keeps back to the system and keeps
 * it from keeping more while the GET is parked. APR has no call for this:
 * with the limit at its least, each block taken from the free list and
 * freed again goes back to the system, until the allocator hands out a
 * block it just mapped (the free list is then empty; that one goes back
 * too). Only the thread that owns c may call it. */
static void park_trim(socketio_parked *pk, conn_rec *c)
{
    apr_allocator_t *a = apr_pool_allocator_get(c->pool);
    apr_memnode_t *node;
    int i, fresh;

    void *idle = NULL;

    apr_pool_userdata_get(&idle, IDLE_KEY, c->pool);
    if (pk->trimmed || !a || !idle)
        return;
    pk->trimmed = 1;
    apr_allocator_max_free_set(a, 1);
    for (i = 0; i < TRIM_MAX; i++) {
        node = apr_allocator_alloc(a, 1);
        if (!node)
            break;
        fresh = node_is_fresh(node);
        apr_allocator_free(a, node);
        if (fresh)
            break;
    }
    ap_log_cerror(APLOG_MARK, APLOG_TRACE2, 0, c,
                  "mod_socketio: idle long-poll parked: %d free blocks of "
                  "its connection given back", i);
}

/* Sets c's allocator's limit back to what the MPM gives every connection
 * (MaxMemFree), once the GET is no longer parked, and notes whether it
 * waited long enough for the connection to count as idle. */
static void park_untrim(socketio_parked *pk, conn_rec *c)
{
    apr_allocator_t *a = apr_pool_allocator_get(c->pool);
    static char idle_mark;

    if (pk->since)
        apr_pool_userdata_setn(
            apr_time_now() - pk->since >= PARK_LONG ? &idle_mark : NULL,
            IDLE_KEY, NULL, c->pool);
    pk->since = 0;
    if (!pk->trimmed || !a)
        return;
    pk->trimmed = 0;
    apr_allocator_max_free_set(a, ap_max_mem_free);
}

#ifdef AP_MPMQ_CAN_WAITIO
/* Puts the waiter's eventfd on the socket's descriptor, the socket on a
 * spare one. A parked GET holds both for as long as it waits, with no
 * thread to bound how many there are: both must be under the child's
 * threshold (socketio_fd.h), else it is not parked (no_room set, as for
 * EMFILE). Returns 0, or -1 (nothing changed). */
static int swap(socketio_parked *pk)
{
    int spare = fcntl(pk->sock_fd, F_DUPFD_CLOEXEC, 0);

    if (spare < 0) {
        pk->no_room = socketio_fd_exhausted(errno);
        return -1;
    }
    if (!socketio_fd_room(spare) ||
        !socketio_fd_room(socketio_waiter_wakefd(pk->w))) {
        close(spare);
        pk->no_room = 1;
        errno = EMFILE;
        return -1;
    }
    while (dup3(socketio_waiter_wakefd(pk->w), pk->sock_fd, O_CLOEXEC) < 0) {
        if (errno != EINTR) {
            close(spare);
            return -1;
        }
    }
    pk->spare_fd = spare;
    return 0;
}
#endif

/* See socketio_http_int.h. */
int socketio_park_hand_over(socketio_parked *pk)
{
#ifdef AP_MPMQ_CAN_WAITIO
    conn_rec *c = pk->sr->r->connection;

    pk->no_room = 0;
    if (swap(pk) == 0) {
        c->cs->state = CONN_STATE_ASYNC_WAITIO;
        c->cs->sense = CONN_SENSE_WANT_READ;
        if (!pk->since)
            pk->since = apr_time_now();
        park_trim(pk, c);
        ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, pk->sr->r,
                      "mod_socketio: long-poll parked");
        return 1;
    }
    if (pk->no_room)
        socketio_log_rerror_limited(APLOG_INFO, 0, pk->sr->r,
                                    "mod_socketio: long-poll not parked: "
                                    "this child's descriptors are nearly "
                                    "all in use; it holds its thread "
                                    "within SocketIOPollThreads, or is "
                                    "answered at once");
    else
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, errno, pk->sr->r,
                      "mod_socketio: cannot park a long-poll; it holds its "
                      "thread");
#endif
    return 0;
}

/* A GET that could not be parked waits for siod on this thread; one not
 * parked for want of descriptors only within SocketIOPollThreads, else it
 * is released at once (APR_INCOMPLETE: answered now with what siod has,
 * the connection closed). Returns as socketio_waiter_wait_held. */
static apr_status_t wait_here(socketio_parked *pk, socketio_frame **f)
{
    socketio_req *sr = pk->sr;

    if (pk->no_room && !socketio_poll_cap_acquire(sr->r))
        return APR_INCOMPLETE;
    return socketio_waiter_wait_held(pk->w,
                                     socketio_config_reply_timeout(sr->sconf),
                                     socketio_req_client_fd(sr->r->connection),
                                     f);
}

/* See socketio_http_int.h. */
int socketio_poll_release(socketio_req *sr, socketio_waiter *w)
{
    static volatile apr_uint32_t slow_logged;
    socketio_frame *f = NULL;
    apr_status_t rv;
    int status, level;

    sr->r->connection->keepalive = AP_CONN_CLOSE;
    rv = socketio_waiter_send(w, SIO_R_CANCEL, SIO_RF_KEEP, 0, sr->sid, NULL,
                              0);
    if (rv == APR_SUCCESS)
        rv = socketio_waiter_wait(w,
                                  socketio_config_poll_release_timeout(
                                      sr->sconf),
                                  socketio_req_client_fd(sr->r->connection),
                                  &f);
    if (rv == APR_SUCCESS) {
        status = socketio_respond_frame(sr, &f->f);
        socketio_frame_release(f);
        return status;
    }
    if (rv == APR_TIMEUP) {
        /* Once per child: a stopping child may hold many polls. (The
         * level is worked out first: ap_log_rerror evaluates it twice.) */
        level = apr_atomic_cas32(&slow_logged, 1, 0) == 0 ? APLOG_WARNING
                                                          : APLOG_DEBUG;
        ap_log_rerror(APLOG_MARK, level, 0, sr->r,
                      "mod_socketio: child stopping: siod did not answer the "
                      "release of a held poll within "
                      "SocketIOPollReleaseTimeout; answering a noop");
        return socketio_respond_noop(sr);
    }
    if (rv == APR_ECONNABORTED) {
        sr->r->connection->aborted = 1;
        return DONE;
    }
    return socketio_respond_unavailable(sr);
}

/* See socketio_http_int.h. */
void socketio_park_resume(socketio_parked *pk, int wait)
{
    socketio_req *sr = pk->sr;
    request_rec *r = sr->r;
    conn_rec *c = r->connection;
    socketio_frame *f = NULL;
    apr_status_t rv;

    ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r,
                  "mod_socketio: parked long-poll resumed");
    if (unswap(pk) != 0) {
        c->aborted = 1;
        rv = APR_ECONNABORTED;
    } else if (wait) {
        rv = wait_here(pk, &f);
    } else {
        socketio_waiter_clear_wake(pk->w);
        rv = socketio_waiter_take(pk->w, &f);
        if (rv == APR_EAGAIN && socketio_link_child_is_stopping())
            rv = APR_INCOMPLETE;
        /* Woken for nothing (another thread's wake-up): parked again. */
        if (rv == APR_EAGAIN && socketio_park_hand_over(pk))
            return;
        if (rv == APR_EAGAIN)
            rv = wait_here(pk, &f);
    }
    park_untrim(pk, c);
    apr_pool_userdata_setn(NULL, PARK_KEY, NULL, c->pool);
#if APR_HAS_THREADS
    apr_thread_mutex_lock(r->invoke_mtx);
#endif
    if (rv == APR_SUCCESS) {
        socketio_respond_frame(sr, &f->f);
        socketio_frame_release(f);
    } else if (rv == APR_INCOMPLETE) {
        socketio_poll_release(sr, pk->w);
    } else {
        socketio_respond_wait_error(sr, pk->w, rv);
    }
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(r->invoke_mtx);
#endif
    /* As the MPM's request processing ends a request its handler
     * answered; r is gone after. */
    ap_finalize_request_protocol(r);
    ap_process_request_after_handler(r);
}

/* See socketio_http_int.h. */
void socketio_park_abandon(socketio_parked *pk)
{
    static volatile apr_uint32_t logged;
    socketio_req *sr = pk->sr;
    conn_rec *c = sr->r->connection;
    int level;

    unswap(pk);
    park_untrim(pk, c);
    apr_pool_userdata_setn(NULL, PARK_KEY, NULL, c->pool);
    /* Released, not cancelled: the session stays for the client's next
     * GET (parked GETs are only those of a siod that takes a release). */
    socketio_waiter_send(pk->w, SIO_R_CANCEL, SIO_RF_KEEP, 0, sr->sid, NULL,
                         0);
    level = apr_atomic_cas32(&logged, 1, 0) == 0 ? APLOG_WARNING
                                                 : APLOG_DEBUG;
    ap_log_rerror(APLOG_MARK, level, 0, sr->r,
                  "mod_socketio: the MPM closed a connection whose "
                  "long-poll was still waiting for siod (Timeout shorter "
                  "than siod's pingInterval?); the client polls again");
}
