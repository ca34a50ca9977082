/* The per-child reactor (mpm_event): after the WebSocket handshake the
 * handler returns SUSPENDED and one thread per child owns the connection
 * from then on, multiplexing all its WebSockets and the child's relay
 * links with epoll, so idle clients cost no worker thread.
 *
 * Who may call (the code is in socketio_reactor.c and its
 * socketio_reactor_*.c files, see there):
 * - socketio_reactor_child_init: the child_init hook.
 * - socketio_reactor_handoff, _suspend_connection: the worker thread that
 *   runs the upgrade request (handler, then the MPM's hook).
 * - socketio_reactor_process_connection: any worker thread (a hook).
 * - socketio_reactor_child_stopping, _running, _accepts: any thread.
 * - socketio_reactor_fan_vol_free: the reactor thread only (a bucket free
 *   function; the block's count is not atomic). */
#ifndef SOCKETIO_REACTOR_H
#define SOCKETIO_REACTOR_H

#include "httpd.h"

#include "socketio_wsconn.h"

/* child_init: starts the reactor thread when the MPM is asynchronous
 * (AP_MPMQ_IS_ASYNC) and makes it the reader of this child's relay links
 * (call after socketio_link_child_init). A pre-cleanup on pchild stops
 * and joins it. */
void socketio_reactor_child_init(apr_pool_t *pchild, server_rec *s);

/* child_stopping: graceful: every WebSocket is closed with 1001 and
 * finished; otherwise they are closed at once. Any thread. */
void socketio_reactor_child_stopping(int graceful);

/* Returns 1 while this child's reactor runs and is not stopping. */
int socketio_reactor_running(void);

/* Returns 1 if the reactor can take connection c over (a reactor runs and
 * is not stopping; c is an HTTP/1 connection the MPM can suspend). */
int socketio_reactor_accepts(conn_rec *c);

/* Handler (worker thread), after the 101: prepares ws's connection for
 * the reactor (non-blocking socket) and marks it for hand-off. Returns
 * SUSPENDED, the handler's result; the hand-off itself happens in the
 * suspend_connection hook, once the MPM has let go of the connection. */
int socketio_reactor_handoff(socketio_ws *ws);

/* Frees a volatile fan-out block reference: the heap-bucket free function
 * that marks a queued fan-out frame volatile (socketio_ws_queue_bucket). */
void socketio_reactor_fan_vol_free(void *data);

/* suspend_connection hook (worker thread), registered
 * APR_HOOK_REALLY_LAST and required to be the last one: queues a
 * connection marked by socketio_reactor_handoff for the reactor, with the
 * calling thread's count of units of work, and wakes it. */
void socketio_reactor_suspend_connection(conn_rec *c, request_rec *r);

/* process_connection hook (any thread), registered APR_HOOK_REALLY_FIRST:
 * counts a unit of work begun by a thread that handed connections off,
 * which proves it has left the MPM's code for them (wakes the reactor if
 * it waits for that). Returns DECLINED. */
int socketio_reactor_process_connection(conn_rec *c);

#endif
