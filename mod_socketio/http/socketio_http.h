/* The module's HTTP layer, the one header mod_socketio.c includes for it:
 * the handler hook that serves the Engine.IO endpoint (long-polling, the
 * WebSocket request, CORS, the client script), the hooks of the cap on
 * threads held by long-polls, those that keep its connections alive
 * under mpm_event and the descriptor guard's. http/ calls ws/, link/ and
 * core/; nothing below calls it. Its files call one way (listed in socketio_http_int.h);
 * no two of them call each other.
 *
 * Who may call: socketio_handler is httpd's handler hook, on the worker
 * thread of the request, as are socketio_translate_name and
 * socketio_map_to_storage; socketio_poll_cap_post_config and
 * socketio_poll_cap_child_status are httpd's post_config and child_status
 * hooks (the parent); socketio_keepalive_child_init and _child_stopping
 * run on the child's main thread (child_init, child_stopping hooks),
 * socketio_fd_guard_child_init on the child's main thread too;
 * socketio_keepalive_process_connection and _pre_close and
 * socketio_fd_guard_process_connection and _post_read_request on the
 * worker thread of the connection. */
#ifndef SOCKETIO_HTTP_H
#define SOCKETIO_HTTP_H

#include "httpd.h"
#include "ap_mpm.h"

/* translate_name and map_to_storage hooks (worker thread of the
 * request): a request where a <Location>'s SocketIO On applies names no
 * file, so it is not mapped to the filesystem (no <Directory> or
 * .htaccess walk: a dozen stat calls a poll otherwise pays), as
 * mod_proxy does for what it proxies. translate_name notes it and
 * declines; map_to_storage returns OK for it, DECLINED for the rest. */
int socketio_translate_name(request_rec *r);
int socketio_map_to_storage(request_rec *r);

/* The handler hook: serves Engine.IO where SocketIO On applies, declines
 * elsewhere. Returns OK/DONE after answering, SUSPENDED when the reactor
 * took a WebSocket over or a GET was parked (mpm_event), or DECLINED. */
int socketio_handler(request_rec *r);

/* The handler hook of the HTTP emit API (SetHandler socketio-emit,
 * socketio_emit.c): a POSTed JSON request relayed to siod, its answer
 * written back. Returns OK after answering, or DECLINED for other
 * handlers. */
int socketio_emit_handler(request_rec *r);

/* The handler hook of the metrics (SetHandler socketio-metrics,
 * socketio_metrics.c): Prometheus text of siod's figures and whether siod
 * answered. Returns OK, HTTP_METHOD_NOT_ALLOWED, or DECLINED for other
 * handlers. */
int socketio_metrics_handler(request_rec *r);

/* mod_status's status_hook (worker thread of the status request): a
 * Socket.IO section, or "SocketIO...: value" lines with AP_STATUS_SHORT.
 * Returns OK. */
int socketio_status_hook(request_rec *r, int flags);

/* post_config (parent): works out SocketIOPollThreads (default: half of
 * a child's threads, or half of MaxRequestWorkers where each child is one
 * thread) and, where it counts across the server, sets up its shared
 * counts. Returns OK. */
int socketio_poll_cap_post_config(apr_pool_t *pconf, server_rec *s);

/* child_status (parent): gives back the long-poll slots a child that
 * exited still held. */
void socketio_poll_cap_child_status(server_rec *s, pid_t pid,
                                    ap_generation_t gen, int slot,
                                    mpm_child_status state);

/* child_init: turns the keep-alive of socketio_keepalive.c on where the
 * MPM can wait for a connection's next request in CONN_STATE_ASYNC_WAITIO
 * (mpm_event of httpd 2.4.63 and later). */
void socketio_keepalive_child_init(apr_pool_t *pchild, server_rec *s);

/* child_stopping: shuts every connection waiting so for reading, so the
 * MPM closes them now instead of after Timeout. */
void socketio_keepalive_child_stopping(void);

/* process_connection hook (REALLY_FIRST, after the reactor's): runs the
 * connection's other hooks itself and, when the module answered the
 * request and the connection stays open, has the MPM wait for its next
 * request in CONN_STATE_ASYNC_WAITIO; hands a GET its handler parked to
 * the MPM, and resumes it when the MPM wakes the connection. Returns what
 * the hooks return (OK for a parked or resumed GET), or DECLINED where it
 * does not apply. */
int socketio_keepalive_process_connection(conn_rec *c);

/* pre_close_connection hook: forgets a connection the MPM closes, and
 * gives up its parked GET if it has one. Returns OK. */
int socketio_keepalive_pre_close(conn_rec *c);

/* child_init: the descriptor guard (socketio_fd_guard.c) marks a full
 * child in the scoreboard under mpm_event only. */
void socketio_fd_guard_child_init(apr_pool_t *pchild, server_rec *s);

/* process_connection hook (REALLY_FIRST, after the reactor's, before the
 * keep-alive's): a new connection whose descriptor is at or over the
 * child's threshold (socketio_fd.h) is moved to a free descriptor under
 * it if there is one, else served "in the reserve" (socketio_fd_guard.c)
 * and the child is noted full. Returns DECLINED: the other hooks serve
 * the connection. */
int socketio_fd_guard_process_connection(conn_rec *c);

/* post_read_request hook: a connection in the reserve is closed after
 * this request (no keep-alive). Returns DECLINED. */
int socketio_fd_guard_post_read_request(request_rec *r);

#endif
