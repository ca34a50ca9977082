/* Private to the WebSocket's files (socketio_ws.c, socketio_ws_out.c,
 * socketio_ws_handshake.c): what one of them calls in another beyond
 * socketio_wsconn.h. */
#ifndef SOCKETIO_WS_INT_H
#define SOCKETIO_WS_INT_H

#include "apr_pools.h"

/* Pool cleanup of a WebSocket's state (data is the socketio_ws), which
 * the handshake registers on the pool the state lives in: frees the
 * input memory if the WebSocket ends without socketio_ws_finish. Returns
 * APR_SUCCESS. */
apr_status_t socketio_ws_pool_cleanup(void *data);

#endif
