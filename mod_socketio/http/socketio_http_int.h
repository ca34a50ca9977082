/* Private to the HTTP layer's files: one parsed Engine.IO request
 * (socketio_req) and what one file of http/ calls in another. Nothing
 * outside http/ includes it.
 *
 * The files call one way, from routing down to answering:
 * - socketio_handler.c: routing only (query, transport, Origin); calls
 *   the others, and socketio_keepalive.c to mark the connection.
 * - socketio_client.c, socketio_polling.c, socketio_upgrade.c: the client
 *   script, long-polling, the HTTP side of a WebSocket request; each
 *   calls socketio_respond.c and socketio_request.c, none calls another;
 *   socketio_polling.c also calls socketio_poll_cap.c.
 * - socketio_poll_cap.c: the cap on threads held by long-polls
 *   (SocketIOPollThreads); calls no other file of http/.
 * - socketio_keepalive.c: keep-alive under mpm_event (its hooks are in
 *   socketio_http.h); calls no other file of http/.
 * - socketio_respond.c: the answers (calls socketio_cors.c for headers).
 * - socketio_request.c: what a request tells siod (the OPEN/UPGRADE info)
 *   and its client socket; calls ws/ for socketio_ws_available.
 * - socketio_cors.c (socketio_cors.h): Origin decisions and CORS headers.
 * All of it runs on the worker thread of the request, but the hooks
 * socketio_http.h names. */
#ifndef SOCKETIO_HTTP_INT_H
#define SOCKETIO_HTTP_INT_H

#include "httpd.h"

#include "sio_relay.h"
#include "socketio_core.h"
#include "socketio_cors.h"
#include "socketio_link.h"

/* Engine.IO error codes (the reference server's Server.errors) */
#define SOCKETIO_ERR_UNKNOWN_TRANSPORT 0
#define SOCKETIO_ERR_UNKNOWN_SID 1
#define SOCKETIO_ERR_BAD_HANDSHAKE_METHOD 2
#define SOCKETIO_ERR_BAD_REQUEST 3
#define SOCKETIO_ERR_FORBIDDEN 4
#define SOCKETIO_ERR_UNSUPPORTED_PROTOCOL 5

#define SOCKETIO_CT_JSON "application/json"
#define SOCKETIO_CT_TEXT "text/plain; charset=UTF-8"

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

/* ---- socketio_respond.c ------------------------------------------- */

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
 * socketio_waiter_wait), sending CANCEL through w where siod still holds
 * the request. Returns OK or DONE (client gone: connection aborted). */
int socketio_respond_wait_error(socketio_req *sr, socketio_waiter *w,
                                apr_status_t rv);

/* ---- socketio_request.c ------------------------------------------- */

/* Builds the OPEN/UPGRADE info key/value body (see sio_relay.h) in pool.
 * Returns the body and sets *len. */
unsigned char *socketio_req_info(socketio_req *sr, apr_pool_t *pool,
                                 apr_size_t *len);

/* Returns the client socket's fd for hang-up polling, or -1 where the
 * connection has no socket of its own (HTTP/2 streams). */
int socketio_req_client_fd(conn_rec *c);

/* ---- socketio_client.c -------------------------------------------- */

/* Answers a GET/HEAD for one of the client file names (the last path
 * segment: socket.io.js, socket.io.min.js, their .map files, ...) when
 * SocketIOServeClient is On: 200 with the file named by
 * SocketIOClientScript (or the sibling of that name next to it), 304 when
 * If-None-Match matches, 404 when no such file is configured or present.
 * Returns OK after answering, or DECLINED when the request is not for a
 * client file (Engine.IO handles it). */
int socketio_client_serve(socketio_req *sr);

/* ---- socketio_polling.c ------------------------------------------- */

/* Each serves a validated long-polling request and returns the handler's
 * result: the handshake (OPEN, no sid), a held GET and a POST of
 * packets (with a sid). */
int socketio_polling_open(socketio_req *sr);
int socketio_polling_get(socketio_req *sr);
int socketio_polling_post(socketio_req *sr);

/* ---- socketio_poll_cap.c ------------------------------------------ */

/* Takes one of SocketIOPollThreads' slots for this request's thread while
 * its GET waits, given back by a cleanup on r->pool. Returns 1, or 0 at
 * the cap: the GET is then answered at once (counted and logged, at warn
 * at most once a minute per child). */
int socketio_poll_cap_acquire(request_rec *r);

/* ---- socketio_keepalive.c ----------------------------------------- */

/* Marks the connection of a request the module answers: after it, the
 * connection waits for its next request as socketio_keepalive.c says
 * (mpm_event; elsewhere nothing). */
void socketio_keepalive_mark(conn_rec *c);

/* ---- socketio_upgrade.c ------------------------------------------- */

/* Serves a validated Engine.IO WebSocket request (transport=websocket
 * with an upgrade) through ws/ (socketio_ws_upgrade) and answers what
 * that could not serve. Returns the handler's result: SUSPENDED (the
 * reactor took the connection over), DONE (the WebSocket ran on this
 * thread), or OK after an HTTP answer. */
int socketio_upgrade_serve(socketio_req *sr);

#endif
