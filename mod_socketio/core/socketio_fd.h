/* A child's descriptor budget: its RLIMIT_NOFILE, the reserve kept free
 * under it (SocketIODescriptorReserve, or worked out) and the threshold
 * between them. The kernel gives each new descriptor the lowest free
 * number, so a number at or over the threshold means fewer than `reserve`
 * descriptors were free when it was made. What the module holds for long
 * (a WebSocket's socket, a parked long-poll's descriptors) must stay
 * under the threshold; the reserve is for what lasts a moment or is
 * bounded by the workers: connections the MPM accepted and the guard
 * (http/socketio_fd_guard.c) has not admitted yet, a request's wake-up
 * eventfd, a relay link reconnecting, the listener's next accept. */
#ifndef SOCKETIO_FD_H
#define SOCKETIO_FD_H

#include "httpd.h"
#include "apr_pools.h"

/* The automatic reserve: the largest of these (see socketio_fd.c). */
#define SOCKETIO_FD_RESERVE_MIN 128
#define SOCKETIO_FD_RESERVE_PER_THREAD 4
#define SOCKETIO_FD_RESERVE_DIVISOR 32

/* child_init: reads the child's descriptor limit and works out the
 * reserve and the threshold (logged at debug; at warn when a configured
 * reserve had to be lowered to half the limit). The guard is off with
 * SocketIODescriptorReserve 0 or without a finite limit. */
void socketio_fd_child_init(apr_pool_t *pchild, server_rec *s);

/* Returns 1 if descriptor fd (>= 0) is under the threshold, or the guard
 * is off: what the module may hold on to. Any thread. */
int socketio_fd_room(int fd);

/* The threshold (0: the guard is off), the limit and the reserve, for log
 * lines. Any thread. */
int socketio_fd_threshold(void);
int socketio_fd_limit(void);
int socketio_fd_reserve(void);

/* Returns 1 if rv says the process or the system is out of descriptors
 * (EMFILE, ENFILE). */
int socketio_fd_exhausted(apr_status_t rv);

/* " (descriptors: limit L, reserve R; ...)" — the numbers and what to do
 * (raise ulimit -n / LimitNOFILE, or run more children), for the end of
 * a log line; allocated from p. */
const char *socketio_fd_advice(apr_pool_t *p);

#endif
