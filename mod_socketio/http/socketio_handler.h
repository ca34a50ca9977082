/* The Engine.IO request handler: one parsed request (query, transport,
 * CORS) and the response helpers that the WebSocket handshake
 * (socketio_ws_handshake.c) shares with the long-polling code. */
#ifndef SOCKETIO_HANDLER_H
#define SOCKETIO_HANDLER_H

#include "httpd.h"

#include "socketio_config.h"
#include "socketio_cors.h"
#include "socketio_link.h"

/* Engine.IO error codes (the reference server's Server.errors) */
#define SOCKETIO_ERR_UNKNOWN_TRANSPORT 0
#define SOCKETIO_ERR_UNKNOWN_SID 1
#define SOCKETIO_ERR_BAD_HANDSHAKE_METHOD 2
#define SOCKETIO_ERR_BAD_REQUEST 3
#define SOCKETIO_ERR_FORBIDDEN 4
#define SOCKETIO_ERR_UNSUPPORTED_PROTOCOL 5

/* One Engine.IO request, allocated from r->pool by the handler. */
typedef struct socketio_req {
    request_rec *r;
    const socketio_dir_conf *dconf;
    const socketio_server_conf *sconf;
    const char *eio;            /* query values, URL-decoded; NULL if absent */
    const char *transport;
    const char *sid;
    int transport_bit;          /* SOCKETIO_T_* of transport, 0 if unknown */
    int upgrade;                /* Upgrade + Connection: upgrade present */
    socketio_cors cors;         /* CORS headers to send */
    apr_off_t max_payload;
} socketio_req;

/* The handler hook: serves Engine.IO where SocketIO On applies, declines
 * elsewhere. Returns OK/DONE after answering, or DECLINED. */
int socketio_handler(request_rec *r);

/* Adds the CORS headers SocketIOCorsOrigin asks for to the response. */
void socketio_add_cors_headers(socketio_req *sr);

/* Answers with status, Content-Type ctype (NULL: none) and body; adds the
 * CORS headers. Returns OK (the handler's result). */
int socketio_respond(socketio_req *sr, int status, const char *ctype,
                     const char *body, apr_size_t len);

/* Answers an Engine.IO error the way the reference server does: JSON
 * {"code","message"} with 400 (403 for FORBIDDEN), or, for an upgrade
 * request, "400 Bad Request" with the message as text and the connection
 * closed. Returns OK. */
int socketio_respond_error(socketio_req *sr, int code);

/* Answers siod's RESPONSE frame f. Returns OK. */
int socketio_respond_frame(socketio_req *sr, const sio_relay_frame *f);

/* Answers 503 "Socket.IO daemon unavailable". Returns OK. */
int socketio_respond_unavailable(socketio_req *sr);

/* Answers the outcome of a failed wait for siod (status from
 * socketio_waiter_wait), sending CANCEL for conn where siod still holds
 * the request. Returns OK or DONE (client gone: connection aborted). */
int socketio_respond_wait_error(socketio_req *sr, socketio_waiter *w,
                                apr_status_t rv);

/* Builds the OPEN/UPGRADE info key/value body (see sio_relay.h) in pool.
 * Returns the body and sets *len. */
unsigned char *socketio_req_info(socketio_req *sr, apr_pool_t *pool,
                                 apr_size_t *len);

/* Returns the client socket's fd for hang-up polling, or -1 where the
 * connection has no socket of its own (HTTP/2 streams). */
int socketio_req_client_fd(conn_rec *c);

#endif
