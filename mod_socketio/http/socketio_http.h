/* The module's HTTP layer, the one header mod_socketio.c includes for it:
 * the handler hook that serves the Engine.IO endpoint (long-polling, the
 * WebSocket request, CORS, the client script) and the hooks of the cap on
 * threads held by long-polls. http/ calls ws/, link/ and core/; nothing
 * below calls it. Its files call one way (listed in socketio_http_int.h);
 * no two of them call each other.
 *
 * Who may call: socketio_handler is httpd's handler hook, on the worker
 * thread of the request; socketio_poll_cap_post_config and
 * socketio_poll_cap_child_status are httpd's post_config and child_status
 * hooks (the parent). */
#ifndef SOCKETIO_HTTP_H
#define SOCKETIO_HTTP_H

#include "httpd.h"
#include "ap_mpm.h"

/* The handler hook: serves Engine.IO where SocketIO On applies, declines
 * elsewhere. Returns OK/DONE after answering, SUSPENDED when the reactor
 * took a WebSocket over, or DECLINED. */
int socketio_handler(request_rec *r);

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

#endif
