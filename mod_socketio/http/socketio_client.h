/* Serving the Socket.IO client bundle (socket.io.js and its siblings) from
 * the Engine.IO location, as the reference server's serveClient does. */
#ifndef SOCKETIO_CLIENT_H
#define SOCKETIO_CLIENT_H

#include "socketio_handler.h"

/* Answers a GET/HEAD for one of the client file names (the last path
 * segment: socket.io.js, socket.io.min.js, their .map files, ...) when
 * SocketIOServeClient is On: 200 with the file named by
 * SocketIOClientScript (or the sibling of that name next to it), 304 when
 * If-None-Match matches, 404 when no such file is configured or present.
 * Returns OK after answering, or DECLINED when the request is not for a
 * client file (Engine.IO handles it). */
int socketio_client_serve(socketio_req *sr);

#endif
