/* The thread-per-WebSocket fallback (prefork, worker, or wherever the
 * reactor cannot take a connection): the WebSocket runs on the worker
 * thread that upgraded it, and SocketIOWebSocketThreads caps how many
 * worker threads the whole server lets WebSockets hold. */
#ifndef SOCKETIO_WS_THREAD_H
#define SOCKETIO_WS_THREAD_H

#include "httpd.h"
#include "ap_mpm.h"

#include "socketio_wsconn.h"

/* post_config (parent): computes the cap (SocketIOWebSocketThreads, or a
 * quarter of MaxRequestWorkers) and creates the shared counters. Returns
 * OK. */
int socketio_ws_thread_post_config(apr_pool_t *pconf, server_rec *s);

/* child_status hook (parent): forgets the slots a dead child held. */
void socketio_ws_thread_child_status(server_rec *s, pid_t pid,
                                     ap_generation_t gen, int slot,
                                     mpm_child_status state);

/* Returns the cap (0: no WebSocket may hold a thread). */
int socketio_ws_thread_cap(void);

/* Takes one of the cap's slots for this request's thread, given back by a
 * cleanup on r->pool. Returns 1, or 0 when the server is at the cap (the
 * refusal is logged, at most once a minute per child). */
int socketio_ws_thread_acquire(request_rec *r);

/* Runs the WebSocket on this thread until it is closed (client, siod,
 * link failure, child stopping); the caller then calls
 * socketio_ws_finish. */
void socketio_ws_thread_run(socketio_ws *ws);

#endif
