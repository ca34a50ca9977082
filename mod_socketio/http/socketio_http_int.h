/* Private to the HTTP layer's files: one parsed Engine.IO request
 * (socketio_req) and what one file of http/ calls in another. Nothing
 * outside http/ includes it.
 *
 * The files call one way, from routing down to answering:
 * - socketio_handler.c: routing only (query, transport, Origin); calls
 *   the others, and socketio_keepalive.c to mark the connection.
 * - socketio_forward.c: requests for another node's session, handed to
 *   mod_proxy (translate_name); calls no other file of http/.
 * - socketio_client.c, socketio_polling.c, socketio_upgrade.c,
 *   socketio_emit.c, socketio_metrics.c: the client script, long-polling,
 *   the HTTP side of a WebSocket request, the HTTP emit API and the
 *   metrics and status section (their own hooks); each
 *   calls socketio_respond.c and socketio_request.c, none calls another;
 *   socketio_polling.c also calls socketio_poll_cap.c and
 *   socketio_poll_park.c; socketio_upgrade.c also calls
 *   socketio_fd_guard.c.
 * - socketio_poll_cap.c: the cap on threads held by long-polls
 *   (SocketIOPollThreads); calls no other file of http/.
 * - socketio_keepalive.c: keep-alive under mpm_event (its hooks are in
 *   socketio_http.h); calls socketio_poll_park.c to resume parked GETs.
 * - socketio_poll_park.c: GETs parked in mpm_event without a thread, and
 *   the release of held GETs; calls socketio_respond.c,
 *   socketio_request.c, socketio_poll_cap.c and socketio_fd_guard.c.
 * - socketio_fd_guard.c: the descriptor guard (its hooks are in
 *   socketio_http.h; socketio_upgrade.c and socketio_poll_park.c ask it
 *   whether a connection may last); calls no other file of http/.
 * - socketio_respond.c: the answers (calls socketio_cors.c for headers).
 * - socketio_request.c: what a request tells siod (the OPEN/UPGRADE info)
 *   and its client socket; calls ws/ for socketio_ws_available.
 * - socketio_cors.c (socketio_cors.h): Origin decisions and CORS headers.
 * All of it runs on the worker thread of the request (or, for a parked
 * GET, of its connection when it is resumed), but the hooks socketio_http.h
 * names. */
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
#define SOCKETIO_CT_BINARY "application/octet-stream"

/* One Engine.IO request, allocated from r->pool by the handler. */
typedef struct socketio_req {
    request_rec *r;
    const socketio_dir_conf *dconf;
    const socketio_server_conf *sconf;
    const char *eio;            /* query values, URL-decoded; NULL if absent */
    const char *transport;
    const char *sid;
    const char *b64;            /* Engine.IO 3: "1" when the client takes
                                 * no binary in polling */
    const char *jsonp;          /* Engine.IO 3 JSONP's "j" */
    int eio3;                   /* an Engine.IO 3 request, allowed */
    int transport_bit;          /* SOCKETIO_T_* of transport, 0 if unknown */
    int upgrade;                /* Upgrade + Connection: upgrade present */
    socketio_cors cors;         /* CORS headers to send */
    apr_off_t max_payload;
} socketio_req;

/* ---- socketio_forward.c ------------------------------------------- */

/* translate_name, for a request where SocketIO On applies on a server
 * with SocketIONode or SocketIOPeer: when its sid names another node,
 * hands it to mod_proxy for that node's SocketIOPeer URL (r->filename
 * "proxy:URL", handler proxy-server) and returns OK. Returns DECLINED to
 * serve it here: a session of this node, no sid, this node's tag unknown
 * (siod unreachable), or a session no node here owns (a tag no
 * SocketIOPeer lists, or a request a peer already forwarded: logged,
 * throttled, and noted for socketio_forward_refused). */
int socketio_forward(request_rec *r, const socketio_server_conf *sc);

/* Returns 1 when socketio_forward found that no node here owns r's
 * session: the handler answers "Session ID unknown". */
int socketio_forward_refused(request_rec *r);

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

/* As socketio_respond_error with message msg (a JSON string's contents,
 * no quote or backslash) in place of the code's own. Returns OK. */
int socketio_respond_error_msg(socketio_req *sr, int code, const char *msg);

/* Answers a poll with a noop packet the module writes itself: "6", or
 * "1:6" for an Engine.IO 3 client (EIO=3 in the query). Returns OK. */
int socketio_respond_noop(socketio_req *sr);

/* Answers siod's RESPONSE frame f (SIO_RF_JSON: application/json;
 * SIO_RF_BINARY: application/octet-stream; else text). Returns OK. */
int socketio_respond_frame(socketio_req *sr, const sio_relay_frame *f);

/* Answers 503 "Socket.IO daemon unavailable". Returns OK. */
int socketio_respond_unavailable(socketio_req *sr);

/* Answers 503 with Retry-After and Connection: close for a request the
 * child cannot serve for want of descriptors (what: "a WebSocket", "a
 * long-poll", ...; rv: the error, or 0 where the guard refused before
 * one), logged at warn (one line per child every 10 s, with the limit
 * and the advice; the guard's refusals at debug: it logs its own).
 * Returns OK. */
int socketio_respond_no_descriptor(socketio_req *sr, const char *what,
                                   apr_status_t rv);

/* Answers the outcome of a failed wait for siod (status from
 * socketio_waiter_wait), sending CANCEL through w where siod still holds
 * the request. Returns OK or DONE (client gone: connection aborted). */
int socketio_respond_wait_error(socketio_req *sr, socketio_waiter *w,
                                apr_status_t rv);

/* Answers the outcome of a wait for siod: siod's frame f (released here)
 * when rv is APR_SUCCESS, else as socketio_respond_wait_error. Returns
 * OK or DONE. */
int socketio_respond_waited(socketio_req *sr, socketio_waiter *w,
                            apr_status_t rv, socketio_frame *f);

/* Sends one request frame through w (sid from sr, body iov) and answers
 * with siod's reply, waiting up to SocketIOReplyTimeout; 503 when the
 * frame cannot be sent. Returns OK or DONE. */
int socketio_respond_relay(socketio_req *sr, socketio_waiter *w, int type,
                           int flags, const struct iovec *iov, int iovcnt);

/* ---- socketio_request.c ------------------------------------------- */

/* Builds the OPEN/UPGRADE info key/value body (see sio_relay.h) in pool.
 * Returns the body and sets *len. */
unsigned char *socketio_req_info(socketio_req *sr, apr_pool_t *pool,
                                 apr_size_t *len);

/* Returns the client socket's fd for hang-up polling, or -1 where the
 * connection has no socket of its own (HTTP/2 streams). */
int socketio_req_client_fd(conn_rec *c);

/* Reads r's body into r->pool, up to limit bytes. Returns OK with *body
 * and *len (NULL and 0 for none), HTTP_REQUEST_ENTITY_TOO_LARGE when it is
 * longer (not all read: the connection cannot be reused), or another HTTP
 * status when the body cannot be read. */
int socketio_req_read_body(request_rec *r, apr_size_t limit, char **body,
                           apr_size_t *len);

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
 * result: the handshake (OPEN, no sid), a held GET (SUSPENDED when it is
 * parked) and a POST of packets (with a sid). */
int socketio_polling_open(socketio_req *sr);
int socketio_polling_get(socketio_req *sr);
int socketio_polling_post(socketio_req *sr);

/* ---- socketio_poll_cap.c ------------------------------------------ */

/* Takes one of SocketIOPollThreads' slots for this request's thread while
 * its GET waits, given back by a cleanup on r->pool. Returns 1, or 0 at
 * the cap: the GET is then answered at once (counted and logged, at warn
 * at most once a minute per child). */
int socketio_poll_cap_acquire(request_rec *r);

/* ---- socketio_poll_park.c ----------------------------------------- */

typedef struct socketio_parked socketio_parked;

/* child_init (socketio_keepalive.c): on when its process_connection hook,
 * which resumes parked GETs, runs (mpm_event of httpd 2.4.63 and later). */
void socketio_park_enable(int on);

/* Returns 1 if a GET on c can be parked (on, an HTTP/1 connection of its
 * own socket). */
int socketio_park_possible(conn_rec *c);

/* Handler: parks sr's GET, whose POLL_GET w sent (siod has not answered
 * yet): records it on the connection for the process_connection hook.
 * Returns SUSPENDED, the handler's result. */
int socketio_park(socketio_req *sr, socketio_waiter *w);

/* The GET parked on c, or NULL. */
socketio_parked *socketio_parked_of(conn_rec *c);

/* process_connection hook, once the handler returned SUSPENDED: hands
 * the connection to the MPM in CONN_STATE_ASYNC_WAITIO with the waiter's
 * eventfd in the socket's place. Returns 1, or 0 if it cannot (nothing
 * changed: the caller resumes with wait set). */
int socketio_park_hand_over(socketio_parked *pk);

/* process_connection hook, on the connection's worker: puts the socket
 * back and answers the GET (siod's answer; the release if the child is
 * stopping; an error), then finishes its request (r is gone after; the
 * connection's state is the MPM's write completion, or linger). Without
 * wait, a wake-up with nothing to answer parks it again (state
 * CONN_STATE_ASYNC_WAITIO); with wait, this thread waits for siod. */
void socketio_park_resume(socketio_parked *pk, int wait);

/* pre_close_connection hook: the MPM closes a connection whose GET is
 * parked (its Timeout): puts the socket back and has siod release the GET
 * (the session stays). */
void socketio_park_abandon(socketio_parked *pk);

/* A GET held or parked when the child stops: asks siod to release it
 * (CANCEL + SIO_RF_KEEP: the session stays, queued packets wait for the
 * client's next GET) and answers with what siod answers, or with a noop
 * if siod is silent for SocketIOPollReleaseTimeout. siod answers a GET
 * once: either that answer was already on its way (it is the one waited
 * for here) or siod answers the release with a noop. Only an answer siod
 * sent and that arrives after the wait can be lost; without the wait,
 * every answer in flight would be. Connection: close, so the client's
 * next GET reaches a child that is not stopping. Returns the handler's
 * result. */
int socketio_poll_release(socketio_req *sr, socketio_waiter *w);

/* ---- socketio_fd_guard.c ------------------------------------------ */

/* Returns 1 if c is served in the reserve: its socket's descriptor is at
 * or over the child's threshold (socketio_fd.h). Nothing that lasts (a
 * parked GET, a WebSocket) may be kept on it. */
int socketio_fd_guard_in_reserve(conn_rec *c);

/* A WebSocket upgrade on c: returns 1 if c's socket is under the
 * threshold, or was moved there as a descriptor came free within a short
 * wait (GUARD_ADMIT_MS); 0 if the child stays full (the caller refuses
 * it). */
int socketio_fd_guard_admit(conn_rec *c);

/* After a refusal for want of descriptors, once the answer is flushed:
 * keeps this worker away from the MPM while the child stays full, up to
 * a few seconds (GUARD_HOLD_MS), so the child stops taking connections
 * (see socketio_fd_guard.c). */
void socketio_fd_guard_hold(conn_rec *c);

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
