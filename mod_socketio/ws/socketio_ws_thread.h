/* The thread-per-WebSocket fallback (prefork, worker, a WebSocket over
 * HTTP/2 under any MPM, or wherever the reactor cannot take a
 * connection), as the upgrade sees it: the WebSocket runs on the worker
 * thread that upgraded it (for HTTP/2, mod_http2's worker), and
 * SocketIOWebSocketThreads caps how many worker threads the whole server
 * lets WebSockets hold. Private to ws/ (its hooks are in socketio_ws.h).
 *
 * Who may call:
 * - socketio_ws_thread_cap: any thread.
 * - socketio_ws_thread_acquire, _run: the worker thread of the upgrade
 *   request, which then owns the WebSocket. */
#ifndef SOCKETIO_WS_THREAD_H
#define SOCKETIO_WS_THREAD_H

#include "httpd.h"

#include "socketio_wsconn.h"

/* Returns the cap (0: no WebSocket may hold a thread). */
int socketio_ws_thread_cap(void);

/* Takes one of the cap's slots for this request's thread, given back by a
 * cleanup on r->pool; for an HTTP/2 stream also one of the child's
 * mod_http2 workers that WebSockets may hold. Returns 1, or 0 when the
 * server (or the child's mod_http2 workers) is at the cap (the refusal is
 * logged, throttled). */
int socketio_ws_thread_acquire(request_rec *r);

/* Runs the WebSocket on this thread until it is closed (client, siod,
 * link failure, child stopping); the caller then calls
 * socketio_ws_finish. */
void socketio_ws_thread_run(socketio_ws *ws);

#endif
