/* The per-child reactor (mpm_event), as the upgrade sees it: after the
 * WebSocket handshake the handler returns SUSPENDED and one thread per
 * child owns the connection from then on, multiplexing all its
 * WebSockets and the child's relay links with epoll, so idle clients
 * cost no worker thread. Private to ws/ (its hooks are in socketio_ws.h;
 * its internals in socketio_reactor_int.h).
 *
 * Who may call:
 * - socketio_reactor_handoff: the worker thread that runs the upgrade
 *   request (the handler).
 * - socketio_reactor_running, _accepts: any thread. */
#ifndef SOCKETIO_REACTOR_H
#define SOCKETIO_REACTOR_H

#include "httpd.h"

#include "socketio_wsconn.h"

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

#endif
