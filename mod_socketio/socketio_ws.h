/* The WebSocket transport: the RFC 6455 upgrade handshake (asked of siod
 * first) and the WebSocket's I/O between the client and the relay link. */
#ifndef SOCKETIO_WS_H
#define SOCKETIO_WS_H

#include "socketio_handler.h"

/* Serves a validated Engine.IO WebSocket request (transport=websocket with
 * an upgrade): checks the RFC 6455 headers, sends OPEN (no sid) or UPGRADE
 * to siod, completes the handshake on WS_ACCEPT and then runs the
 * WebSocket on this worker thread until either side closes it. Returns OK
 * when an HTTP answer was written instead, DONE after a WebSocket. */
int socketio_ws_handle(socketio_req *sr);

#endif
