/* The WebSocket transport: the RFC 6455 upgrade handshake (asked of siod
 * first; socketio_ws_handshake.c), then the WebSocket is handed to the
 * per-child reactor (mpm_event) or run on the worker thread (other MPMs,
 * within SocketIOWebSocketThreads). Both functions: the worker thread of
 * the request (the handler). */
#ifndef SOCKETIO_WS_H
#define SOCKETIO_WS_H

#include "socketio_handler.h"

/* Serves a validated Engine.IO WebSocket request (transport=websocket with
 * an upgrade): checks the RFC 6455 headers and that a WebSocket can be
 * held (reactor, or a free thread slot: else 503), sends OPEN (no sid) or
 * UPGRADE to siod, completes the handshake on WS_ACCEPT, then either
 * returns SUSPENDED (the reactor takes the connection over) or runs the
 * WebSocket on this thread until it closes (DONE). Returns OK when an
 * HTTP answer was written instead. */
int socketio_ws_handle(socketio_req *sr);

/* Returns 1 if this child could hold a WebSocket now (reactor running,
 * or SocketIOWebSocketThreads above 0), so upgrades are worth offering;
 * c is the polling request's connection. */
int socketio_ws_available(conn_rec *c);

#endif
