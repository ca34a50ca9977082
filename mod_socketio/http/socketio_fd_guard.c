/* The descriptor guard: a child whose descriptors are nearly all in use
 * keeps serving what ends soon, takes on nothing that lasts, and lets the
 * MPM give new connections to its other children or start one. Without
 * it the MPM's listener gets EMFILE from accept, stops the child for want
 * of resources, and the child's WebSockets close with it.
 *
 * How a child knows it is full: a new connection's socket has the lowest
 * free descriptor number, so one at or over the threshold (socketio_fd.h:
 * the limit less the reserve) means fewer than `reserve` were free. The
 * first process_connection hook then asks for the lowest free descriptor
 * (a dup of the socket) and, if one under the threshold came free since,
 * moves the socket there (the high number is given back, so what lasts
 * never eats the reserve). Otherwise the connection is served "in the
 * reserve": each of its requests is answered and the connection closed
 * after it (post_read_request: no keep-alive), a long-poll is not parked
 * (it holds its thread within SocketIOPollThreads or is answered at once),
 * and a WebSocket upgrade waits up to GUARD_ADMIT_MS for a descriptor
 * under the threshold, else is refused with 503 (socketio_upgrade.c): a
 * client tries again. So the connections over the threshold are at most
 * those the workers have in hand, which the reserve is sized for.
 *
 * How the MPM learns it: a worker that refused a WebSocket stays here up
 * to GUARD_HOLD_MS while the child is full (it goes back at once when a
 * descriptor comes free or the child stops). Many refusals leave the child
 * no idle worker: the listener of mpm_event (and mpm_worker) takes nothing
 * more there, and the MPM's idle-server maintenance starts another child
 * when none is left with idle workers. This matters because a full
 * child's listener wins most races for new connections (it is woken first
 * after each time it re-enabled itself; measured: 24 of 30 connections
 * went to two full children beside one with room). Under mpm_event the
 * child is also marked as not accepting in the scoreboard while it is
 * full, as the MPM marks a child whose listener is off: the parent then
 * counts only the other children's idle workers (MinSpareThreads) and
 * starts a child before they run out, even while few connections come.
 * prefork runs one connection per process: its children never come near
 * the threshold.
 *
 * child_init runs on the child's main thread, everything else on the
 * worker thread of the connection. Calls core (the budget) and link/
 * (whether the child stops); no other file of http/. */
#include <fcntl.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "apr_atomic.h"
#include "apr_portable.h"
#include "apr_thread_mutex.h"

#include "socketio_http.h"
#include "socketio_http_int.h"

APLOG_USE_MODULE(socketio);

/* How long a WebSocket upgrade in a full child waits for a descriptor,
 * how long a worker that refused one stays away from the MPM while the
 * child is full (a few seconds: long enough for the MPM to see the child
 * busy and start another), and how often both look. */
#define GUARD_ADMIT_MS 250
#define GUARD_HOLD_MS 3000
#define GUARD_STEP_MS 25

/* One line per child every 10 s, the others counted below. */
static socketio_log_throttle full_log = SOCKETIO_LOG_THROTTLE(10, 1);
/* Since the last line: connections served in the reserve, moved under the
 * threshold, WebSockets refused. */
static volatile apr_uint32_t n_reserve, n_moved, n_refused;
static volatile apr_uint32_t n_held;       /* workers held here now */

/* One look for a free descriptor at a time: each takes one (a dup) for
 * a moment, and workers looking together over the line would otherwise
 * take as many, beside the reserve's one per thread, and could leave the
 * listener's accept none (EMFILE: the MPM stops the child). NULL if it
 * could not be made (then looks are not serialised). */
static apr_thread_mutex_t *look_mutex;

/* mpm_event: whether to mark the child in the scoreboard, its slot there
 * (-2: not looked up yet, -1: not found), whether this file marked it. */
static int mark_scoreboard;
static volatile int my_slot = -2;
static volatile apr_uint32_t marked;

/* See socketio_http.h. */
void socketio_fd_guard_child_init(apr_pool_t *pchild, server_rec *s)
{
    int async = 0;

    mark_scoreboard = ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) == APR_SUCCESS &&
                      async;
    if (apr_thread_mutex_create(&look_mutex, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS)
        look_mutex = NULL;
    my_slot = -2;
    marked = 0;
}

/* This child's scoreboard record, or NULL. The parent writes the pid
 * right after the fork, before a connection can come; looked up once
 * (threads racing here find the same slot). */
static process_score *score(void)
{
    int slot = my_slot, i, n = 0;
    pid_t me;

    if (slot == -2) {
        me = getpid();
        slot = -1;
        ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &n);
        if (ap_scoreboard_image && ap_scoreboard_image->global &&
            ap_scoreboard_image->global->server_limit < n)
            n = ap_scoreboard_image->global->server_limit;
        for (i = 0; ap_scoreboard_image && i < n; i++) {
            if (ap_scoreboard_image->parent[i].pid == me) {
                slot = i;
                break;
            }
        }
        my_slot = slot;
    }
    return slot >= 0 ? &ap_scoreboard_image->parent[slot] : NULL;
}

/* Marks the child not accepting (full) in the scoreboard, under
 * mpm_event, or accepting again if this file marked it (the MPM marks and
 * unmarks it too, as its listener goes off and on; the last write wins
 * until the next connection comes). */
static void mark_full(int full)
{
    process_score *ps;

    if (!mark_scoreboard)
        return;
    if (full) {
        apr_atomic_xchg32(&marked, 1);
        if ((ps = score()) != NULL && !ps->not_accepting)
            ps->not_accepting = 1;
    } else if (apr_atomic_read32(&marked) && apr_atomic_xchg32(&marked, 0) &&
               (ps = score()) != NULL) {
        ps->not_accepting = 0;
    }
}

/* Returns the descriptor of c's socket, or -1. */
static int conn_fd(conn_rec *c, apr_socket_t **sockp)
{
    apr_socket_t *sock;
    apr_os_sock_t fd;

    if (c->master || !(sock = ap_get_conn_socket(c)) ||
        apr_os_sock_get(&fd, sock) != APR_SUCCESS)
        return -1;
    if (sockp)
        *sockp = sock;
    return fd;
}

/* Around a look (look_mutex). */
static void look_begin(void)
{
    if (look_mutex != NULL)
        apr_thread_mutex_lock(look_mutex);
}

static void look_end(void)
{
    if (look_mutex != NULL)
        apr_thread_mutex_unlock(look_mutex);
}

/* Moves sock (descriptor fd) to the lowest free descriptor if that is
 * under the threshold; the dup claims it, so two connections never take
 * the same one. Returns 1 once moved. */
static int move_down(apr_socket_t *sock, int fd)
{
    apr_os_sock_t low;

    look_begin();
    low = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (low < 0 || !socketio_fd_room(low)) {
        if (low >= 0)
            close(low);
        look_end();
        return 0;
    }
    /* Nothing else holds the number: the MPM polls the socket through its
     * record, the core filters and mod_ssl's BIO go through the record,
     * and its pool cleanup closes whatever number the record holds; this
     * module reads it afresh for each request. The open file (O_NONBLOCK,
     * socket options) is the same under both numbers. */
    apr_os_sock_put(&sock, &low, NULL);
    close(fd);
    look_end();
    apr_atomic_inc32(&n_moved);
    return 1;
}

/* Returns 1 if a descriptor under the threshold is free now (fd: any
 * open descriptor to dup). */
static int room_now(int fd)
{
    int probe;

    look_begin();
    probe = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (probe >= 0)
        close(probe);
    look_end();
    return probe >= 0 && socketio_fd_room(probe);
}

/* Milliseconds to the next look: GUARD_STEP_MS, or less before until;
 * 0 once until has passed. */
static int step_ms(apr_time_t until)
{
    apr_time_t left = until - apr_time_now();

    if (left <= 0)
        return 0;
    if (left >= apr_time_from_msec(GUARD_STEP_MS))
        return GUARD_STEP_MS;
    return (int)apr_time_as_msec(left) + 1;
}

/* Logs that the child is full (once per 10 s per child), with what
 * happened since the last such line. */
static void log_full(conn_rec *c, int fd)
{
    apr_uint32_t dropped;
    int level = socketio_log_level(&full_log, APLOG_WARNING, &dropped);

    if (level == APLOG_DEBUG && !APLOG_C_IS_LEVEL(c, APLOG_DEBUG))
        return;
    ap_log_cerror(APLOG_MARK, level, 0, c,
                  "mod_socketio: this child's descriptors are nearly all in "
                  "use: a new connection got descriptor %d, at or over %d "
                  "(the limit %d less the reserve %d). Until some come "
                  "free its connections are closed after one request and "
                  "WebSocket upgrades are refused (503, the client tries "
                  "again), so the MPM gives new ones to its other children "
                  "or starts one (since the last such line: %u connections "
                  "served so, %u moved under the limit as descriptors came "
                  "free, %u WebSockets refused; workers held now: %u)%s",
                  fd, socketio_fd_threshold(), socketio_fd_limit(),
                  socketio_fd_reserve(), apr_atomic_xchg32(&n_reserve, 0),
                  apr_atomic_xchg32(&n_moved, 0),
                  apr_atomic_xchg32(&n_refused, 0),
                  apr_atomic_read32(&n_held), socketio_fd_advice(c->pool));
}

/* See socketio_http.h. */
int socketio_fd_guard_process_connection(conn_rec *c)
{
    apr_socket_t *sock;
    int fd;

    if (!socketio_fd_threshold() || (fd = conn_fd(c, &sock)) < 0)
        return DECLINED;
    if (socketio_fd_room(fd)) {
        /* While marked full: a new connection under the threshold, or any
         * other woken here, tells nothing; a free one under it does. */
        if (apr_atomic_read32(&marked) && room_now(fd))
            mark_full(0);
        return DECLINED;
    }
    /* Already served in the reserve (a later request or wake-up of the
     * same connection) or moved now. */
    if (apr_table_get(c->notes, "socketio-fd-reserve") || move_down(sock, fd))
        return DECLINED;
    apr_table_setn(c->notes, "socketio-fd-reserve", "1");
    apr_atomic_inc32(&n_reserve);
    mark_full(1);
    log_full(c, fd);
    return DECLINED;
}

/* See socketio_http.h. */
int socketio_fd_guard_post_read_request(request_rec *r)
{
    if (socketio_fd_guard_in_reserve(r->connection))
        r->connection->keepalive = AP_CONN_CLOSE;
    return DECLINED;
}

/* See socketio_http_int.h. */
int socketio_fd_guard_in_reserve(conn_rec *c)
{
    int fd;

    return socketio_fd_threshold() && (fd = conn_fd(c, NULL)) >= 0 &&
           !socketio_fd_room(fd);
}

/* See socketio_http_int.h. */
int socketio_fd_guard_admit(conn_rec *c)
{
    apr_time_t until = apr_time_now() + apr_time_from_msec(GUARD_ADMIT_MS);
    apr_socket_t *sock;
    int fd, ms;

    if (!socketio_fd_threshold() || (fd = conn_fd(c, &sock)) < 0 ||
        socketio_fd_room(fd))
        return 1;
    for (;;) {
        if (move_down(sock, fd))
            return 1;
        if (socketio_link_child_is_stopping() || (ms = step_ms(until)) == 0)
            break;
        apr_sleep(apr_time_from_msec(ms));
    }
    apr_atomic_inc32(&n_refused);
    ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, c,
                  "mod_socketio: WebSocket refused: no descriptor under %d "
                  "came free within %d ms (descriptor %d, limit %d)",
                  socketio_fd_threshold(), GUARD_ADMIT_MS, fd,
                  socketio_fd_limit());
    return 0;
}

/* See socketio_http_int.h. */
void socketio_fd_guard_hold(conn_rec *c)
{
    apr_time_t until = apr_time_now() + apr_time_from_msec(GUARD_HOLD_MS);
    int fd = conn_fd(c, NULL), ms;

    if (fd < 0)
        return;
    apr_atomic_inc32(&n_held);
    while (!socketio_link_child_is_stopping() && !room_now(fd) &&
           (ms = step_ms(until)) > 0)
        apr_sleep(apr_time_from_msec(ms));
    apr_atomic_dec32(&n_held);
}
