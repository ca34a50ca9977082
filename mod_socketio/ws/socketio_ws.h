/* The module's WebSocket layer, the one header the layers above include
 * for it: the upgrade of an Engine.IO WebSocket request (the RFC 6455
 * handshake, asked of siod first), after which the WebSocket is handed to
 * the per-child reactor (mpm_event) or runs on the worker thread (other
 * MPMs, and HTTP/2 streams under any MPM, within
 * SocketIOWebSocketThreads); and the hooks that set both up.
 * ws/ calls link/ and core/; nothing below calls it. The upgrade answers
 * no HTTP error itself: it says what happened (socketio_ws_outcome) and
 * the HTTP layer answers.
 *
 * Its files call one way, top first:
 * - socketio_ws_handshake.c: the upgrade; hands the WebSocket to a driver.
 * - the drivers: the reactor (socketio_reactor.c, socketio_reactor_*.c;
 *   socketio_reactor.h) and the thread driver (socketio_ws_thread.c;
 *   socketio_ws_thread.h). Neither calls the other.
 * - the connection (socketio_wsconn.c, its protocol and close policy,
 *   and socketio_ws_out.c, its output queue; socketio_wsconn.h): called
 *   by the drivers and the upgrade; socketio_wsconn.c calls
 *   socketio_ws_out.c (which uses only the inline state accessors of
 *   socketio_wsconn.h), and both call link/.
 * No two files of ws/ call each other.
 *
 * Who may call:
 * - socketio_ws_upgrade: the worker thread of the request (the handler).
 * - socketio_ws_available, socketio_ws_held_now: any thread.
 * - socketio_ws_thread_post_config, _child_status: httpd's hooks in the
 *   parent.
 * - socketio_ws_child_init, socketio_reactor_child_init: the child_init
 *   hook.
 * - socketio_reactor_child_stopping: any thread (the child_stopping
 *   hook).
 * - socketio_reactor_suspend_connection: the worker thread that ran the
 *   upgrade request (the MPM calls the hook after the handler).
 * - socketio_reactor_process_connection: any worker thread (a hook). */
#ifndef SOCKETIO_WS_H
#define SOCKETIO_WS_H

#include "httpd.h"
#include "ap_mpm.h"

#include "socketio_core.h"
#include "socketio_link.h"

/* A WebSocket request the handler has validated as Engine.IO's
 * (transport=websocket, with Upgrade and Connection: upgrade). Everything
 * in it belongs to the request. */
typedef struct socketio_ws_request {
    request_rec *r;
    const socketio_dir_conf *dconf;
    const socketio_server_conf *sconf;
    const char *sid;              /* the polling session to upgrade
                                   * (UPGRADE), or NULL: a new one (OPEN) */
    const unsigned char *info;    /* the OPEN/UPGRADE info body for siod
                                   * (key/value pairs, sio_relay.h) */
    apr_size_t info_len;
    apr_table_t *headers;         /* headers the 101 carries besides the
                                   * WebSocket ones (CORS); NULL: none */
    int client_fd;                /* the client's socket, -1 if none */
} socketio_ws_request;

/* What socketio_ws_upgrade did: it served the WebSocket, or it tells the
 * caller what to answer instead (over plain HTTP). */
typedef enum socketio_ws_outcome {
    SOCKETIO_WS_SERVED,      /* 101 sent: return res->status */
    SOCKETIO_WS_BAD_METHOD,  /* not a GET */
    SOCKETIO_WS_BAD_REQUEST, /* no RFC 6455 request this serves (HTTP/2
                              * but not an RFC 8441 stream of mod_http2,
                              * headers; for a wrong version
                              * Sec-WebSocket-Version is already set on
                              * r->headers_out) */
    SOCKETIO_WS_BUSY,        /* no reactor, and the threads WebSockets may
                              * hold are taken (logged): 503 */
    SOCKETIO_WS_NO_SOCKET,   /* the connection has no socket (logged): 500 */
    SOCKETIO_WS_UNAVAILABLE, /* siod is unreachable, or the link dropped;
                              * or no descriptor was left for its waiter
                              * (res->rv EMFILE or ENFILE) */
    SOCKETIO_WS_WAIT_FAILED, /* siod's answer did not come: res->rv, as
                              * socketio_waiter_wait returned it */
    SOCKETIO_WS_REFUSED      /* siod answered res->frame (a RESPONSE)
                              * instead of WS_ACCEPT */
} socketio_ws_outcome;

/* Filled by socketio_ws_upgrade. w and frame, when set, are the caller's
 * once it returns: it answers, then gives them back
 * (socketio_frame_release, socketio_waiter_destroy). */
typedef struct socketio_ws_result {
    int status;                   /* SERVED: the handler's result,
                                   * SUSPENDED (the reactor took the
                                   * connection) or DONE (it ran here) */
    apr_status_t rv;              /* WAIT_FAILED, UNAVAILABLE: why */
    socketio_waiter *w;           /* WAIT_FAILED, REFUSED: the request's
                                   * waiter (to send CANCEL); else NULL */
    socketio_frame *frame;        /* REFUSED: siod's answer; else NULL */
} socketio_ws_result;

/* Serves req: checks the RFC 6455 headers and that a WebSocket can be
 * held (the reactor takes it, or a thread slot is free), sends OPEN (no
 * sid) or UPGRADE to siod, and on WS_ACCEPT completes the handshake (101)
 * and hands the WebSocket to the reactor or runs it on this thread until
 * it closes. Returns SOCKETIO_WS_SERVED, or what the caller must answer
 * (nothing was written then). */
socketio_ws_outcome socketio_ws_upgrade(const socketio_ws_request *req,
                                        socketio_ws_result *res);

/* Returns 1 if this child could hold a WebSocket now (reactor running,
 * or SocketIOWebSocketThreads above 0), so upgrades are worth offering;
 * c is the polling request's connection. */
int socketio_ws_available(conn_rec *c);

/* WebSockets this child holds now for the next siod (handed over across
 * a restart of siod, SocketIOHandoverTimeout). Any thread. */
unsigned socketio_ws_held_now(void);

/* child_init: sets up the memory WebSockets keep input in. */
void socketio_ws_child_init(apr_pool_t *pchild);

/* post_config (parent): computes the cap on threads WebSockets may hold
 * (SocketIOWebSocketThreads, or a quarter of MaxRequestWorkers) and
 * creates the shared counters. Returns OK. */
int socketio_ws_thread_post_config(apr_pool_t *pconf, server_rec *s);

/* child_status hook (parent): forgets the thread slots a dead child
 * held. */
void socketio_ws_thread_child_status(server_rec *s, pid_t pid,
                                     ap_generation_t gen, int slot,
                                     mpm_child_status state);

/* child_init: starts the reactor thread when the MPM is asynchronous
 * (AP_MPMQ_IS_ASYNC) and makes it the reader of this child's relay links
 * (call after socketio_link_child_init). A pre-cleanup on pchild stops
 * and joins it. */
void socketio_reactor_child_init(apr_pool_t *pchild, server_rec *s);

/* child_stopping: graceful: every WebSocket is closed with 1001 and
 * finished; otherwise they are closed at once. Any thread. */
void socketio_reactor_child_stopping(int graceful);

/* suspend_connection hook (worker thread), registered
 * APR_HOOK_REALLY_LAST and required to be the last one: queues a
 * connection the upgrade marked for hand-off for the reactor, with the
 * calling thread's count of units of work, and wakes it. */
void socketio_reactor_suspend_connection(conn_rec *c, request_rec *r);

/* process_connection hook (any thread), registered APR_HOOK_REALLY_FIRST:
 * counts a unit of work begun by a thread that handed connections off,
 * which proves it has left the MPM's code for them (wakes the reactor if
 * it waits for that). Returns DECLINED. */
int socketio_reactor_process_connection(conn_rec *c);

#endif
