/* The module's HTTP layer, the one header mod_socketio.c includes for it:
 * the handler hook that serves the Engine.IO endpoint (long-polling, the
 * WebSocket request, CORS, the client script). http/ calls ws/, link/
 * and core/; nothing below calls it. Its files call one way (listed in
 * socketio_http_int.h); no two of them call each other.
 *
 * Who may call: socketio_handler is httpd's handler hook, on the worker
 * thread of the request. */
#ifndef SOCKETIO_HTTP_H
#define SOCKETIO_HTTP_H

#include "httpd.h"

/* The handler hook: serves Engine.IO where SocketIO On applies, declines
 * elsewhere. Returns OK/DONE after answering, SUSPENDED when the reactor
 * took a WebSocket over, or DECLINED. */
int socketio_handler(request_rec *r);

#endif
