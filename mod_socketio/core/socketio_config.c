/* mod_socketio configuration records: creation, merging, the directive
 * handlers and the accessors that apply each directive's default. Nothing
 * here runs per request except the accessors. */
#include <string.h>
#include <sys/un.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"

#include "sio_relay.h"
#include "socketio_config.h"

APLOG_USE_MODULE(socketio);

/* Returns a fresh per-directory record, everything unset. */
void *socketio_config_create_dir(apr_pool_t *p, char *dir)
{
    socketio_dir_conf *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = -1;
    d->allow_upgrades = -1;
    d->max_payload = -1;
    d->serve_client = -1;
    d->ws_queue = -1;
    d->cors_credentials = -1;
    return d;
}

/* Returns the merge of base and add: what add sets wins. */
void *socketio_config_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    const socketio_dir_conf *base = basev, *add = addv;
    socketio_dir_conf *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = add->enabled != -1 ? add->enabled : base->enabled;
    d->transports = add->transports ? add->transports : base->transports;
    d->allow_upgrades = add->allow_upgrades != -1 ? add->allow_upgrades
                                                  : base->allow_upgrades;
    if (add->cors_set) {
        d->cors_set = 1;
        d->cors_any = add->cors_any;
        d->cors_origins = add->cors_origins;
    } else {
        d->cors_set = base->cors_set;
        d->cors_any = base->cors_any;
        d->cors_origins = base->cors_origins;
    }
    d->cors_credentials = add->cors_credentials != -1
                              ? add->cors_credentials
                              : base->cors_credentials;
    d->max_payload = add->max_payload != -1 ? add->max_payload
                                            : base->max_payload;
    d->serve_client = add->serve_client != -1 ? add->serve_client
                                              : base->serve_client;
    d->ws_queue = add->ws_queue != -1 ? add->ws_queue : base->ws_queue;
    return d;
}

/* Returns a fresh per-server record, everything unset. */
void *socketio_config_create_server(apr_pool_t *p, server_rec *s)
{
    socketio_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->reply_timeout = -1;
    sc->ws_threads = -1;
    sc->ws_write_timeout = -1;
    sc->poll_release_timeout = -1;
    sc->relay_queue = -1;
    return sc;
}

/* Returns the merge of base (main server) and add (virtual host). */
void *socketio_config_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    const socketio_server_conf *base = basev, *add = addv;
    socketio_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->daemon_socket = add->daemon_socket ? add->daemon_socket
                                           : base->daemon_socket;
    sc->daemon_secret = add->daemon_secret ? add->daemon_secret
                                           : base->daemon_secret;
    sc->reply_timeout = add->reply_timeout != -1 ? add->reply_timeout
                                                 : base->reply_timeout;
    sc->client_script = add->client_script ? add->client_script
                                           : base->client_script;
    sc->ws_threads = add->ws_threads != -1 ? add->ws_threads
                                           : base->ws_threads;
    sc->ws_write_timeout = add->ws_write_timeout != -1
                               ? add->ws_write_timeout
                               : base->ws_write_timeout;
    sc->poll_release_timeout = add->poll_release_timeout != -1
                                   ? add->poll_release_timeout
                                   : base->poll_release_timeout;
    sc->relay_queue = add->relay_queue != -1 ? add->relay_queue
                                             : base->relay_queue;
    return sc;
}

/* SocketIO On|Off */
const char *socketio_cmd_enable(cmd_parms *cmd, void *dconf, int on)
{
    ((socketio_dir_conf *)dconf)->enabled = on ? 1 : 0;
    return NULL;
}

static const char *check_socket_path(apr_pool_t *p, const char *path)
{
    struct sockaddr_un sun;

    if (strlen(path) >= sizeof(sun.sun_path))
        return apr_psprintf(p, "SocketIODaemonSocket: path longer than %d "
                            "bytes: %s", (int)sizeof(sun.sun_path) - 1, path);
    return NULL;
}

/* SocketIODaemonSocket path (relative paths are under the runtime dir) */
const char *socketio_cmd_daemon_socket(cmd_parms *cmd, void *dconf,
                                       const char *path)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    const char *full;

    if (err)
        return err;
    if (!*path)
        return "SocketIODaemonSocket: empty path";
    full = ap_runtime_dir_relative(cmd->pool, path);
    if (!full)
        return apr_pstrcat(cmd->pool, "SocketIODaemonSocket: invalid path ",
                           path, NULL);
    if ((err = check_socket_path(cmd->pool, full)) != NULL)
        return err;
    sc->daemon_socket = full;
    return NULL;
}

/* SocketIOTransports polling websocket: RAW_ARGS, so each directive line
 * replaces the set rather than adding to an inherited one. */
const char *socketio_cmd_transports(cmd_parms *cmd, void *dconf,
                                    const char *args)
{
    socketio_dir_conf *d = dconf;
    const char *word;
    int set = 0;

    while (*(word = ap_getword_conf(cmd->temp_pool, &args)) != '\0') {
        if (!strcasecmp(word, "polling"))
            set |= SOCKETIO_T_POLLING;
        else if (!strcasecmp(word, "websocket"))
            set |= SOCKETIO_T_WEBSOCKET;
        else
            return apr_pstrcat(cmd->pool, "SocketIOTransports: unknown "
                               "transport '", word, "' (polling, websocket)",
                               NULL);
    }
    if (!set)
        return "SocketIOTransports: name at least one transport";
    d->transports = set;
    return NULL;
}

/* SocketIOAllowUpgrades On|Off */
const char *socketio_cmd_allow_upgrades(cmd_parms *cmd, void *dconf, int on)
{
    ((socketio_dir_conf *)dconf)->allow_upgrades = on ? 1 : 0;
    return NULL;
}

static const char *check_origin(apr_pool_t *p, const char *origin)
{
    const char *c;

    for (c = origin; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == ',')
            return apr_pstrcat(p, "SocketIOCorsOrigin: invalid origin '",
                               origin, "'", NULL);
    }
    if (!strstr(origin, "://"))
        return apr_pstrcat(p, "SocketIOCorsOrigin: '", origin,
                           "' is not an origin (scheme://host[:port])", NULL);
    /* Browsers send origins without a trailing slash. */
    if (origin[strlen(origin) - 1] == '/')
        return apr_pstrcat(p, "SocketIOCorsOrigin: '", origin,
                           "' must not end with '/'", NULL);
    return NULL;
}

/* SocketIOCorsOrigin * | origin [origin ...]: RAW_ARGS, each line
 * replaces the list. */
const char *socketio_cmd_cors_origin(cmd_parms *cmd, void *dconf,
                                     const char *args)
{
    socketio_dir_conf *d = dconf;
    apr_array_header_t *list = apr_array_make(cmd->pool, 4,
                                              sizeof(const char *));
    const char *word, *err;
    int any = 0;

    while (*(word = ap_getword_conf(cmd->pool, &args)) != '\0') {
        if (!strcmp(word, "*")) {
            any = 1;
            continue;
        }
        if ((err = check_origin(cmd->pool, word)) != NULL)
            return err;
        APR_ARRAY_PUSH(list, const char *) = word;
    }
    if (!any && list->nelts == 0)
        return "SocketIOCorsOrigin: name '*' or at least one origin";
    if (any && list->nelts)
        return "SocketIOCorsOrigin: '*' allows every origin; list no others";
    d->cors_set = 1;
    d->cors_any = any;
    d->cors_origins = list;
    return NULL;
}

/* SocketIOCorsCredentials On|Off */
const char *socketio_cmd_cors_credentials(cmd_parms *cmd, void *dconf,
                                          int on)
{
    ((socketio_dir_conf *)dconf)->cors_credentials = on ? 1 : 0;
    return NULL;
}

/* SocketIODaemonSecret path (relative paths are under the runtime dir) */
const char *socketio_cmd_daemon_secret(cmd_parms *cmd, void *dconf,
                                       const char *path)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    const char *full;

    if (err)
        return err;
    if (!*path)
        return "SocketIODaemonSecret: empty path";
    full = ap_runtime_dir_relative(cmd->pool, path);
    if (!full)
        return apr_pstrcat(cmd->pool, "SocketIODaemonSecret: invalid path ",
                           path, NULL);
    sc->daemon_secret = full;
    return NULL;
}

/* SocketIOMaxPayload bytes */
const char *socketio_cmd_max_payload(cmd_parms *cmd, void *dconf,
                                     const char *bytes)
{
    socketio_dir_conf *d = dconf;
    apr_off_t n;
    char *end;

    if (apr_strtoff(&n, bytes, &end, 10) != APR_SUCCESS || *end || n < 1 ||
        n > (apr_off_t)SIO_RELAY_MAX_BODY)
        return apr_psprintf(cmd->pool, "SocketIOMaxPayload: expected a number "
                            "of bytes from 1 to %u, got '%s'",
                            SIO_RELAY_MAX_BODY, bytes);
    d->max_payload = n;
    return NULL;
}

/* SocketIOReplyTimeout seconds */
const char *socketio_cmd_reply_timeout(cmd_parms *cmd, void *dconf,
                                       const char *secs)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    char *end;
    long n;

    if (err)
        return err;
    n = strtol(secs, &end, 10);
    if (end == secs || *end || n < 1 || n > 3600)
        return apr_pstrcat(cmd->pool, "SocketIOReplyTimeout: expected seconds "
                           "from 1 to 3600, got '", secs, "'", NULL);
    sc->reply_timeout = apr_time_from_sec(n);
    return NULL;
}

/* SocketIOServeClient On|Off */
const char *socketio_cmd_serve_client(cmd_parms *cmd, void *dconf, int on)
{
    ((socketio_dir_conf *)dconf)->serve_client = on ? 1 : 0;
    return NULL;
}

/* SocketIOClientScript path (relative paths are under ServerRoot) */
const char *socketio_cmd_client_script(cmd_parms *cmd, void *dconf,
                                       const char *path)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    const char *full;

    if (err)
        return err;
    if (!*path)
        return "SocketIOClientScript: empty path";
    full = ap_server_root_relative(cmd->pool, path);
    if (!full)
        return apr_pstrcat(cmd->pool, "SocketIOClientScript: invalid path ",
                           path, NULL);
    sc->client_script = full;
    return NULL;
}

/* SocketIOWebSocketThreads n: one value for the whole server. */
const char *socketio_cmd_ws_threads(cmd_parms *cmd, void *dconf,
                                    const char *n)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long v;

    if (err)
        return err;
    v = strtol(n, &end, 10);
    if (end == n || *end || v < 0 || v > 1000000)
        return apr_pstrcat(cmd->pool, "SocketIOWebSocketThreads: expected a "
                           "number of threads from 0 to 1000000, got '", n,
                           "'", NULL);
    sc->ws_threads = (int)v;
    return NULL;
}

/* SocketIOWebSocketQueue bytes */
const char *socketio_cmd_ws_queue(cmd_parms *cmd, void *dconf,
                                  const char *bytes)
{
    socketio_dir_conf *d = dconf;
    apr_off_t n;
    char *end;

    if (apr_strtoff(&n, bytes, &end, 10) != APR_SUCCESS || *end ||
        n < 1024 || n > (apr_off_t)4 * SIO_RELAY_MAX_BODY)
        return apr_psprintf(cmd->pool, "SocketIOWebSocketQueue: expected a "
                            "number of bytes from 1024 to %u, got '%s'",
                            4 * SIO_RELAY_MAX_BODY, bytes);
    d->ws_queue = n;
    return NULL;
}

/* SocketIOWebSocketWriteTimeout seconds */
const char *socketio_cmd_ws_write_timeout(cmd_parms *cmd, void *dconf,
                                          const char *secs)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    char *end;
    long n;

    if (err)
        return err;
    n = strtol(secs, &end, 10);
    if (end == secs || *end || n < 1 || n > 3600)
        return apr_pstrcat(cmd->pool, "SocketIOWebSocketWriteTimeout: "
                           "expected seconds from 1 to 3600, got '", secs,
                           "'", NULL);
    sc->ws_write_timeout = apr_time_from_sec(n);
    return NULL;
}

/* SocketIOPollReleaseTimeout time (seconds, or with a unit: 500ms) */
const char *socketio_cmd_poll_release_timeout(cmd_parms *cmd, void *dconf,
                                              const char *time)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    apr_interval_time_t t;

    if (err)
        return err;
    if (ap_timeout_parameter_parse(time, &t, "s") != APR_SUCCESS ||
        t < apr_time_from_msec(10) || t > apr_time_from_sec(60))
        return apr_pstrcat(cmd->pool, "SocketIOPollReleaseTimeout: expected "
                           "a time from 10ms to 60 (seconds), got '", time,
                           "'", NULL);
    sc->poll_release_timeout = t;
    return NULL;
}

/* SocketIORelayQueue bytes: one value for the whole server (every link of
 * a child takes it). */
const char *socketio_cmd_relay_queue(cmd_parms *cmd, void *dconf,
                                     const char *bytes)
{
    socketio_server_conf *sc =
        ap_get_module_config(cmd->server->module_config, &socketio_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_off_t n;
    char *end;

    if (err)
        return err;
    if (apr_strtoff(&n, bytes, &end, 10) != APR_SUCCESS || *end ||
        n < SOCKETIO_MIN_RELAY_QUEUE || n > (apr_off_t)1024 * 1024 * 1024)
        return apr_psprintf(cmd->pool, "SocketIORelayQueue: expected a "
                            "number of bytes from %d to %d, got '%s'",
                            SOCKETIO_MIN_RELAY_QUEUE, 1024 * 1024 * 1024,
                            bytes);
    sc->relay_queue = n;
    return NULL;
}

/* Returns OK, or HTTP_INTERNAL_SERVER_ERROR (startup fails) when the
 * default socket path does not fit a Unix socket address. Fills in the
 * default daemon socket and secret paths. */
int socketio_config_post_config(apr_pool_t *pconf, server_rec *s)
{
    const char *def = NULL, *err;
    server_rec *v;

    for (v = s; v; v = v->next) {
        socketio_server_conf *sc =
            ap_get_module_config(v->module_config, &socketio_module);

        if (!sc->daemon_socket) {
            if (!def) {
                def = ap_runtime_dir_relative(pconf, SOCKETIO_DEFAULT_SOCKET);
                if (!def || (err = check_socket_path(pconf, def)) != NULL) {
                    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                                 "mod_socketio: no usable default daemon "
                                 "socket path; set SocketIODaemonSocket");
                    return HTTP_INTERNAL_SERVER_ERROR;
                }
            }
            sc->daemon_socket = def;
        }
        /* Beside the socket, as siod's default (-k) is. */
        if (!sc->daemon_secret)
            sc->daemon_secret = apr_pstrcat(pconf, sc->daemon_socket,
                                            SOCKETIO_SECRET_SUFFIX, NULL);
    }
    return OK;
}

/* Returns the request's merged per-directory record. */
socketio_dir_conf *socketio_config_dir(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &socketio_module);
}

/* Returns the server's record. */
socketio_server_conf *socketio_config_server(server_rec *s)
{
    return ap_get_module_config(s->module_config, &socketio_module);
}

/* Returns 1 if SocketIO On applies (default Off). */
int socketio_config_enabled(const socketio_dir_conf *d)
{
    return d && d->enabled == 1;
}

/* Returns the allowed transport bits (default both). */
int socketio_config_transports(const socketio_dir_conf *d)
{
    return d->transports ? d->transports
                         : (SOCKETIO_T_POLLING | SOCKETIO_T_WEBSOCKET);
}

/* Returns 1 if upgrades are offered (default On). */
int socketio_config_allow_upgrades(const socketio_dir_conf *d)
{
    return d->allow_upgrades != 0;
}

/* Returns the payload limit in bytes (default 1000000). */
apr_off_t socketio_config_max_payload(const socketio_dir_conf *d)
{
    return d->max_payload > 0 ? d->max_payload : SOCKETIO_DEFAULT_MAX_PAYLOAD;
}

/* Returns the reply timeout (default 60 s). */
apr_interval_time_t socketio_config_reply_timeout(const socketio_server_conf *s)
{
    return s->reply_timeout > 0 ? s->reply_timeout
                                : SOCKETIO_DEFAULT_REPLY_TIMEOUT;
}

/* Returns 1 if the client bundle is served (default On). */
int socketio_config_serve_client(const socketio_dir_conf *d)
{
    return d->serve_client != 0;
}

/* Returns 1 if allowed cross-origin requests get
 * Access-Control-Allow-Credentials: true. Unset: On for an explicit
 * SocketIOCorsOrigin list, Off for '*'. */
int socketio_config_cors_credentials(const socketio_dir_conf *d)
{
    if (d->cors_credentials != -1)
        return d->cors_credentials;
    return !d->cors_any;
}

/* Returns the bound on a WebSocket's unsent bytes: SocketIOWebSocketQueue,
 * never below SocketIOMaxPayload (one whole message always fits); default
 * SocketIOMaxPayload + 1 MiB. */
apr_size_t socketio_config_ws_queue(const socketio_dir_conf *d)
{
    apr_off_t max = socketio_config_max_payload(d);

    if (d->ws_queue <= 0)
        return (apr_size_t)max + SOCKETIO_DEFAULT_QUEUE_EXTRA;
    return (apr_size_t)(d->ws_queue > max ? d->ws_queue : max);
}

/* Returns the time a thread-served WebSocket client gets to take one
 * batch of frames (default 10 s). */
apr_interval_time_t
socketio_config_ws_write_timeout(const socketio_server_conf *s)
{
    return s->ws_write_timeout > 0 ? s->ws_write_timeout
                                   : SOCKETIO_DEFAULT_WS_WRITE_TIMEOUT;
}

/* Returns how long a held GET that a stopping child releases waits for
 * siod's answer (default 1 s). */
apr_interval_time_t
socketio_config_poll_release_timeout(const socketio_server_conf *s)
{
    return s->poll_release_timeout > 0 ? s->poll_release_timeout
                                       : SOCKETIO_DEFAULT_POLL_RELEASE_TIMEOUT;
}

/* Returns the memory the reactor may hold in frames queued for one relay
 * link (default 1 MiB). */
apr_size_t socketio_config_relay_queue(const socketio_server_conf *s)
{
    return s->relay_queue > 0 ? (apr_size_t)s->relay_queue
                              : SOCKETIO_DEFAULT_RELAY_QUEUE;
}
