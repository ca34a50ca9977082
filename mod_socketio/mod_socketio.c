/* mod_socketio: serves Engine.IO v4 (long-polling and WebSocket) from
 * httpd and relays every session to siod. This file holds only the module
 * record, the directive table and the hook registration. */
#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mpm_common.h"
#include "mod_status.h"

#include "socketio_core.h"
#include "socketio_http.h"
#include "socketio_link.h"
#include "socketio_ws.h"

/* A directive with one value names its kind's handler and, as cmd_data,
 * the descriptor of the field it fills and the values it takes
 * (socketio_config.c); the list directives have handlers of their own. */
static const command_rec socketio_cmds[] = {
    AP_INIT_FLAG("SocketIO", socketio_cmd_flag,
                 SOCKETIO_CONF_INFO(socketio_field_enable),
                 ACCESS_CONF,
                 "On to serve Engine.IO / Socket.IO here"),
    AP_INIT_TAKE1("SocketIODaemonSocket", socketio_cmd_path,
                  SOCKETIO_CONF_INFO(socketio_field_daemon_socket),
                  RSRC_CONF,
                  "Unix socket of the Socket.IO daemon (siod)"),
    AP_INIT_TAKE1("SocketIODaemon", socketio_cmd_daemon, NULL, RSRC_CONF,
                  "managed (the default: httpd starts siod and restarts it "
                  "when it dies) or external (siod runs on its own)"),
    AP_INIT_TAKE1("SocketIODaemonPath", socketio_cmd_path,
                  SOCKETIO_CONF_INFO(socketio_field_daemon_path),
                  RSRC_CONF,
                  "The siod program a managed daemon runs (default "
                  SOCKETIO_SIOD_PATH ")"),
    AP_INIT_RAW_ARGS("SocketIODaemonArgs", socketio_cmd_daemon_args, NULL,
                     RSRC_CONF,
                     "More options for a managed siod (applications, "
                     "limits, --redis, ...)"),
    AP_INIT_TAKE1("SocketIODaemonSecret", socketio_cmd_path,
                  SOCKETIO_CONF_INFO(socketio_field_daemon_secret),
                  RSRC_CONF,
                  "File holding the secret httpd proves to siod "
                  "(default: the daemon socket's path + .secret)"),
    AP_INIT_RAW_ARGS("SocketIOTransports", socketio_cmd_transports, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "Allowed transports: polling and/or websocket"),
    AP_INIT_FLAG("SocketIOAllowUpgrades", socketio_cmd_flag,
                 SOCKETIO_CONF_INFO(socketio_field_allow_upgrades),
                 RSRC_CONF | ACCESS_CONF,
                 "On to let polling sessions upgrade to WebSocket"),
    AP_INIT_FLAG("SocketIOAllowEIO3", socketio_cmd_flag,
                 SOCKETIO_CONF_INFO(socketio_field_allow_eio3),
                 RSRC_CONF | ACCESS_CONF,
                 "On to serve Engine.IO 3 clients (Socket.IO 2); "
                 "default Off"),
    AP_INIT_RAW_ARGS("SocketIOCorsOrigin", socketio_cmd_cors_origin, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "'*' or the origins allowed to connect cross-origin"),
    AP_INIT_FLAG("SocketIOCorsCredentials", socketio_cmd_flag,
                 SOCKETIO_CONF_INFO(socketio_field_cors_credentials),
                 RSRC_CONF | ACCESS_CONF,
                 "On to send Access-Control-Allow-Credentials: true to "
                 "allowed cross-origin requests (default: On for a list of "
                 "origins, Off for '*')"),
    AP_INIT_TAKE1("SocketIOMaxPayload", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_max_payload),
                  RSRC_CONF | ACCESS_CONF,
                  "Largest POST body / WebSocket message in bytes"),
    AP_INIT_TAKE1("SocketIOReplyTimeout", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_reply_timeout),
                  RSRC_CONF,
                  "Seconds a request waits for siod's answer"),
    AP_INIT_FLAG("SocketIOServeClient", socketio_cmd_flag,
                 SOCKETIO_CONF_INFO(socketio_field_serve_client),
                 RSRC_CONF | ACCESS_CONF,
                 "On to serve the Socket.IO client bundle (socket.io.js)"),
    AP_INIT_TAKE1("SocketIOClientScript", socketio_cmd_path,
                  SOCKETIO_CONF_INFO(socketio_field_client_script),
                  RSRC_CONF,
                  "The socket.io.js file to serve; its siblings "
                  "(socket.io.min.js, .map) are served from its directory"),
    AP_INIT_TAKE1("SocketIOWebSocketThreads", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_ws_threads),
                  RSRC_CONF,
                  "Most worker threads WebSockets may hold where "
                  "connections cannot be suspended (0: none)"),
    AP_INIT_TAKE1("SocketIOPollThreads", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_poll_threads),
                  RSRC_CONF,
                  "Most worker threads of a child (prefork: of the server) "
                  "long-polling GETs may hold while they wait (0: none)"),
    AP_INIT_TAKE1("SocketIOWebSocketQueue", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_ws_queue),
                  RSRC_CONF | ACCESS_CONF,
                  "Bytes a WebSocket may have waiting to be sent before its "
                  "client is dropped"),
    AP_INIT_FLAG("SocketIOWebSocketCompression", socketio_cmd_flag,
                 SOCKETIO_CONF_INFO(socketio_field_ws_compress),
                 RSRC_CONF | ACCESS_CONF,
                 "On to compress WebSocket messages (permessage-deflate) "
                 "for clients that offer it"),
    AP_INIT_TAKE1("SocketIOWebSocketCompressionThreshold",
                  socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_ws_compress_min),
                  RSRC_CONF | ACCESS_CONF,
                  "Smallest WebSocket message compressed, in bytes "
                  "(default 1024)"),
    AP_INIT_TAKE1("SocketIOWebSocketWriteTimeout", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_ws_write_timeout),
                  RSRC_CONF,
                  "Seconds a WebSocket client holding a worker thread "
                  "(prefork, worker) gets to take one batch of messages"),
    AP_INIT_TAKE1("SocketIOPollReleaseTimeout", socketio_cmd_time,
                  SOCKETIO_CONF_INFO(socketio_field_poll_release_timeout),
                  RSRC_CONF,
                  "How long a held long-poll GET that a stopping child ends "
                  "waits for siod's answer (seconds, or e.g. 500ms)"),
    AP_INIT_TAKE1("SocketIORelayQueue", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_relay_queue),
                  RSRC_CONF,
                  "Bytes of WebSocket messages a child may hold "
                  "for siod before it stops reading the senders (mpm_event)"),
    AP_INIT_TAKE1("SocketIOHandoverTimeout", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_handover_timeout),
                  RSRC_CONF,
                  "Seconds a WebSocket is held open across a restart of "
                  "siod for the next siod to take it back (0: off)"),
    AP_INIT_TAKE1("SocketIONode", socketio_cmd_node, NULL, RSRC_CONF,
                  "This node's tag in a cluster (as siod --node): session "
                  "ids begin with it"),
    AP_INIT_TAKE2("SocketIOPeer", socketio_cmd_peer, NULL, RSRC_CONF,
                  "A cluster node's tag and base URL (http://host:port): "
                  "requests for its sessions are forwarded there; "
                  "repeatable"),
    AP_INIT_FLAG("SocketIOPinChildren", socketio_cmd_flag,
                 SOCKETIO_CONF_INFO(socketio_field_pin_children),
                 RSRC_CONF,
                 "On: each child of a threaded MPM runs on one CPU (the "
                 "children spread over the CPUs)"),
    AP_INIT_TAKE1("SocketIODescriptorReserve", socketio_cmd_number,
                  SOCKETIO_CONF_INFO(socketio_field_fd_reserve),
                  RSRC_CONF,
                  "Descriptors a child keeps free under its ulimit -n: "
                  "past that line it refuses WebSockets (503) and keeps "
                  "no connection alive, instead of failing (default: the "
                  "largest of 128, 4 x ThreadsPerChild and 1/32 of the "
                  "limit; 0: off)"),
    { NULL }
};

static int socketio_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp, server_rec *s)
{
    int rc = socketio_config_post_config(pconf, s);

    if (rc != OK)
        return rc;
    /* Still root here: children inherit the secret, never read it. */
    if ((rc = socketio_secret_post_config(pconf, s)) != OK)
        return rc;
    /* after the secret: a managed siod reads the same file */
    if ((rc = socketio_daemon_post_config(pconf, ptemp, s)) != OK)
        return rc;
    if ((rc = socketio_ws_thread_post_config(pconf, s)) != OK)
        return rc;
    if ((rc = socketio_poll_cap_post_config(pconf, s)) != OK)
        return rc;
    return socketio_link_post_config(pconf, s);
}

/* check_config runs for a configuration test (apachectl configtest) as
 * well: what only the whole configuration can tell is checked here, each
 * error naming its directive. post_config checks the same again. */
static int socketio_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp, server_rec *s)
{
    int rc = socketio_config_post_config(pconf, s);

    if (rc != OK)
        return rc;
    return socketio_daemon_check_config(ptemp, s);
}

static void socketio_child_init(apr_pool_t *pchild, server_rec *s)
{
    /* first: the threads started below inherit the child's CPU */
    socketio_affinity_child_init(pchild, s);
    socketio_fd_child_init(pchild, s);
    socketio_ws_child_init(pchild);
    socketio_link_child_init(pchild, s);
    socketio_reactor_child_init(pchild, s);
    socketio_keepalive_child_init(pchild, s);
    socketio_fd_guard_child_init(pchild, s);
}

static void socketio_child_stopping(apr_pool_t *pchild, int graceful)
{
    socketio_link_child_stopping(pchild, graceful);
    socketio_reactor_child_stopping(graceful);
    socketio_keepalive_child_stopping();
}

static void socketio_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(socketio_config_pre_config, NULL, NULL,
                       APR_HOOK_MIDDLE);
    ap_hook_check_config(socketio_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(socketio_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(socketio_daemon_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(socketio_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_stopping(socketio_child_stopping, NULL, NULL,
                           APR_HOOK_MIDDLE);
    ap_hook_child_status(socketio_ws_thread_child_status, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_child_status(socketio_poll_cap_child_status, NULL, NULL,
                         APR_HOOK_MIDDLE);
    /* Last: the reactor may free the request once this hook has run;
     * checked in child_init. */
    ap_hook_suspend_connection(socketio_reactor_suspend_connection, NULL,
                               NULL, APR_HOOK_REALLY_LAST);
    ap_hook_process_connection(socketio_reactor_process_connection, NULL,
                               NULL, APR_HOOK_REALLY_FIRST);
    /* The descriptor guard before any other hook touches a new
     * connection (it may move its socket), after the reactor's count. */
    ap_hook_process_connection(socketio_fd_guard_process_connection, NULL,
                               NULL, APR_HOOK_REALLY_FIRST);
    /* After the reactor's and the guard's (registered first): it runs the
     * other hooks itself, the reactor's must have counted before. */
    ap_hook_process_connection(socketio_keepalive_process_connection, NULL,
                               NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_pre_close_connection(socketio_keepalive_pre_close, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_translate_name(socketio_translate_name, NULL, NULL,
                           APR_HOOK_FIRST);
    ap_hook_map_to_storage(socketio_map_to_storage, NULL, NULL,
                           APR_HOOK_FIRST);
    ap_hook_post_read_request(socketio_fd_guard_post_read_request, NULL,
                              NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(socketio_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(socketio_emit_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(socketio_metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, socketio_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(socketio) = {
    STANDARD20_MODULE_STUFF,
    socketio_config_create_dir,
    socketio_config_merge_dir,
    socketio_config_create_server,
    socketio_config_merge_server,
    socketio_cmds,
    socketio_register_hooks,
    AP_MODULE_FLAG_NONE
};
