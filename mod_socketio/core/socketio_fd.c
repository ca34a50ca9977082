/* The child's descriptor budget (socketio_fd.h): worked out once in
 * child_init, read by every layer.
 *
 * Why the automatic reserve is max(128, 4 x ThreadsPerChild, limit / 32):
 * above the threshold the child only ever holds what its worker threads
 * have in hand, at most about one descriptor per thread at a time: a
 * connection accepted but not admitted yet (the guard holds it on its
 * worker; the listener of mpm_event and mpm_worker takes an idle worker
 * before each accept, so these are at most the threads), the wake-up
 * eventfd of the request a thread serves (a WebSocket served by a thread,
 * mpm_worker, keeps it: one per thread), the socket of a relay link
 * reconnecting, the client script a thread sends. Parked long-polls,
 * which hold no thread, take their extra descriptors only under the
 * threshold (else they are answered at once). One thread's worth covers
 * the module; four leave as much again three times over for other
 * modules' descriptors per request (a proxied backend, a CGI's pipes, a
 * file sent). 128 keeps room where ThreadsPerChild is small (piped logs,
 * mod_cgid, a graceful restart's overlap), and 1/32 of a large limit is
 * cheap headroom for what nobody counted. The reserve is never more than
 * half the limit, or a child would hold almost nothing. */
#include <errno.h>
#include <limits.h>
#include <sys/resource.h>

#include "httpd.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "apr_strings.h"

#include "socketio_config.h"
#include "socketio_fd.h"

APLOG_USE_MODULE(socketio);

/* Set by child_init before the workers start; read-only after. */
static int fd_limit;
static int fd_reserve;
static int fd_threshold;           /* 0: off */

/* Returns the automatic reserve for limit (see the opening comment). */
static int auto_reserve(int limit)
{
    int threads = 0, r = SOCKETIO_FD_RESERVE_MIN;

    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS)
        threads = 0;
    if (threads > 0 && threads <= INT_MAX / SOCKETIO_FD_RESERVE_PER_THREAD &&
        threads * SOCKETIO_FD_RESERVE_PER_THREAD > r)
        r = threads * SOCKETIO_FD_RESERVE_PER_THREAD;
    if (limit / SOCKETIO_FD_RESERVE_DIVISOR > r)
        r = limit / SOCKETIO_FD_RESERVE_DIVISOR;
    return r;
}

/* See socketio_fd.h. */
void socketio_fd_child_init(apr_pool_t *pchild, server_rec *s)
{
    socketio_server_conf *sc = socketio_config_server(s);
    struct rlimit rl;
    int configured = sc->fd_reserve;

    fd_limit = fd_reserve = fd_threshold = 0;
    if (configured == 0)
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > (rlim_t)INT_MAX || rl.rlim_cur < 4) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, errno, s,
                     "mod_socketio: no finite descriptor limit; the "
                     "descriptor guard is off");
        return;
    }
    fd_limit = (int)rl.rlim_cur;
    fd_reserve = configured > 0 ? configured : auto_reserve(fd_limit);
    if (fd_reserve > fd_limit / 2) {
        if (configured > 0)
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "mod_socketio: SocketIODescriptorReserve %d is more "
                         "than half this child's descriptor limit (%d); "
                         "using %d", configured, fd_limit, fd_limit / 2);
        fd_reserve = fd_limit / 2;
    }
    fd_threshold = fd_limit - fd_reserve;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 "mod_socketio: descriptor limit %d, reserve %d%s: new "
                 "connections from descriptor %d on wait for room",
                 fd_limit, fd_reserve, configured > 0 ? "" : " (automatic)",
                 fd_threshold);
}

/* See socketio_fd.h. */
int socketio_fd_room(int fd)
{
    return fd_threshold == 0 || fd < fd_threshold;
}

/* See socketio_fd.h. */
int socketio_fd_threshold(void)
{
    return fd_threshold;
}

/* See socketio_fd.h. */
int socketio_fd_limit(void)
{
    return fd_limit;
}

/* See socketio_fd.h. */
int socketio_fd_reserve(void)
{
    return fd_reserve;
}

/* See socketio_fd.h. */
int socketio_fd_exhausted(apr_status_t rv)
{
    return rv == EMFILE || rv == ENFILE;
}

/* See socketio_fd.h. */
const char *socketio_fd_advice(apr_pool_t *p)
{
    if (!fd_threshold)
        return " (raise this child's descriptor limit: ulimit -n, or "
               "LimitNOFILE under systemd; or run more children)";
    return apr_psprintf(p, " (descriptors: limit %d, reserve %d "
                        "(SocketIODescriptorReserve); raise the limit: "
                        "ulimit -n, or LimitNOFILE under systemd; or run "
                        "more children: ServerLimit, MaxRequestWorkers)",
                        fd_limit, fd_reserve);
}
