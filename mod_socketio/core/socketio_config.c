/* mod_socketio configuration records: creation, merging, the directive
 * handlers and the accessors that apply each directive's default. A
 * directive whose value is one number, time, path or On/Off is described
 * by a socketio_conf_field below and parsed by its kind's handler; lists
 * have handlers of their own. Nothing here runs per request except the
 * accessors. */
#include <errno.h>
#include <string.h>
#include <sys/un.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_strings.h"
#include "apr_uri.h"

#include "sio_relay.h"
#include "socketio_config.h"

APLOG_USE_MODULE(socketio);

/* Set when the configuration being read has SocketIO On somewhere (read
 * in the parent only, between pre_config and post_config). */
static int enabled_somewhere;

/* The longest path a Unix socket address holds. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Returns a fresh per-directory record, everything unset. */
void *socketio_config_create_dir(apr_pool_t *p, char *dir)
{
    socketio_dir_conf *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = -1;
    d->allow_upgrades = -1;
    d->allow_eio3 = -1;
    d->max_payload = -1;
    d->serve_client = -1;
    d->ws_queue = -1;
    d->cors_credentials = -1;
    d->ws_compress = -1;
    d->ws_compress_min = -1;
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
    d->allow_eio3 = add->allow_eio3 != -1 ? add->allow_eio3
                                          : base->allow_eio3;
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
    d->ws_compress = add->ws_compress != -1 ? add->ws_compress
                                            : base->ws_compress;
    d->ws_compress_min = add->ws_compress_min != -1 ? add->ws_compress_min
                                                    : base->ws_compress_min;
    return d;
}

/* Returns a fresh per-server record, everything unset. */
void *socketio_config_create_server(apr_pool_t *p, server_rec *s)
{
    socketio_server_conf *sc = apr_pcalloc(p, sizeof(*sc));

    sc->reply_timeout = -1;
    sc->ws_threads = -1;
    sc->poll_threads = -1;
    sc->ws_write_timeout = -1;
    sc->poll_release_timeout = -1;
    sc->relay_queue = -1;
    sc->handover_timeout = -1;
    sc->fd_reserve = -1;
    sc->pin_children = -1;
    sc->daemon_managed = -1;
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
    sc->poll_threads = add->poll_threads != -1 ? add->poll_threads
                                               : base->poll_threads;
    sc->ws_write_timeout = add->ws_write_timeout != -1
                               ? add->ws_write_timeout
                               : base->ws_write_timeout;
    sc->poll_release_timeout = add->poll_release_timeout != -1
                                   ? add->poll_release_timeout
                                   : base->poll_release_timeout;
    sc->relay_queue = add->relay_queue != -1 ? add->relay_queue
                                             : base->relay_queue;
    sc->handover_timeout = add->handover_timeout != -1
                               ? add->handover_timeout
                               : base->handover_timeout;
    sc->node = add->node ? add->node : base->node;
    sc->peers = add->peers ? add->peers : base->peers;
    sc->fd_reserve = add->fd_reserve != -1 ? add->fd_reserve
                                           : base->fd_reserve;
    sc->pin_children = add->pin_children != -1 ? add->pin_children
                                               : base->pin_children;
    sc->daemon_managed = add->daemon_managed != -1 ? add->daemon_managed
                                                   : base->daemon_managed;
    sc->daemon_path = add->daemon_path ? add->daemon_path : base->daemon_path;
    sc->daemon_args = add->daemon_args ? add->daemon_args : base->daemon_args;
    return sc;
}

/* Every directive whose value is one number, time, path or On/Off: the
 * record and field it fills, its range and the words its error uses.
 * IN_DIR(field, KIND) and IN_SERVER(field, KIND) name the field and its
 * socketio_conf_type (SOCKETIO_CONF_KIND), and do not compile unless the
 * field has the C type that kind's handler writes. */
#define CTYPE_FLAG int
#define CTYPE_COUNT int
#define CTYPE_BYTES apr_off_t
#define CTYPE_SECONDS apr_interval_time_t
#define CTYPE_TIME apr_interval_time_t
#define CTYPE_ROOT_PATH const char *
#define CTYPE_RUNTIME_PATH const char *
#define TYPED_OFFSET(rec, field, ctype) \
    (APR_OFFSETOF(rec, field) + 0 * sizeof(char[ \
        __builtin_types_compatible_p(__typeof__(((rec *)0)->field), ctype) \
            ? 1 : -1]))
#define IN_REC(which, rec, field, kind) \
    .record = which, .offset = TYPED_OFFSET(rec, field, CTYPE_##kind), \
    .type = SOCKETIO_CONF_##kind
#define IN_DIR(field, kind) \
    IN_REC(SOCKETIO_CONF_DIR, socketio_dir_conf, field, kind)
#define IN_SERVER(field, kind) \
    IN_REC(SOCKETIO_CONF_SERVER, socketio_server_conf, field, kind)

const socketio_conf_field socketio_field_enable = {
    IN_DIR(enabled, FLAG) };
const socketio_conf_field socketio_field_allow_upgrades = {
    IN_DIR(allow_upgrades, FLAG) };
const socketio_conf_field socketio_field_allow_eio3 = {
    IN_DIR(allow_eio3, FLAG) };
const socketio_conf_field socketio_field_cors_credentials = {
    IN_DIR(cors_credentials, FLAG) };
const socketio_conf_field socketio_field_serve_client = {
    IN_DIR(serve_client, FLAG) };
const socketio_conf_field socketio_field_max_payload = {
    IN_DIR(max_payload, BYTES),
    .min = 1, .max = SIO_RELAY_MAX_BODY, .unit = "a number of bytes" };
const socketio_conf_field socketio_field_ws_compress = {
    IN_DIR(ws_compress, FLAG) };
const socketio_conf_field socketio_field_ws_compress_min = {
    IN_DIR(ws_compress_min, BYTES),
    .min = 0, .max = SIO_RELAY_MAX_BODY, .unit = "a number of bytes" };
const socketio_conf_field socketio_field_ws_queue = {
    IN_DIR(ws_queue, BYTES),
    .min = 1024, .max = 4 * (apr_int64_t)SIO_RELAY_MAX_BODY,
    .unit = "a number of bytes" };
const socketio_conf_field socketio_field_daemon_socket = {
    IN_SERVER(daemon_socket, RUNTIME_PATH),
    .context = NOT_IN_DIR_CONTEXT, .max = SOCKET_PATH_MAX };
const socketio_conf_field socketio_field_daemon_secret = {
    IN_SERVER(daemon_secret, RUNTIME_PATH),
    .context = NOT_IN_DIR_CONTEXT };
const socketio_conf_field socketio_field_daemon_path = {
    IN_SERVER(daemon_path, ROOT_PATH),
    .context = NOT_IN_DIR_CONTEXT };
const socketio_conf_field socketio_field_client_script = {
    IN_SERVER(client_script, ROOT_PATH),
    .context = NOT_IN_DIR_CONTEXT };
const socketio_conf_field socketio_field_reply_timeout = {
    IN_SERVER(reply_timeout, SECONDS),
    .context = NOT_IN_DIR_CONTEXT, .min = 1, .max = 3600, .unit = "seconds" };
const socketio_conf_field socketio_field_ws_write_timeout = {
    IN_SERVER(ws_write_timeout, SECONDS),
    .context = NOT_IN_DIR_CONTEXT, .min = 1, .max = 3600, .unit = "seconds" };
const socketio_conf_field socketio_field_poll_release_timeout = {
    IN_SERVER(poll_release_timeout, TIME),
    .context = NOT_IN_DIR_CONTEXT, .min = apr_time_from_msec(10),
    .max = apr_time_from_sec(60), .unit = "a time" };
/* One value for the whole server. */
const socketio_conf_field socketio_field_ws_threads = {
    IN_SERVER(ws_threads, COUNT),
    .context = GLOBAL_ONLY, .min = 0, .max = 1000000,
    .unit = "a number of threads" };
/* One value for the whole server. */
const socketio_conf_field socketio_field_poll_threads = {
    IN_SERVER(poll_threads, COUNT),
    .context = GLOBAL_ONLY, .min = 0, .max = 1000000,
    .unit = "a number of threads" };
/* One value for the whole server: every link of a child takes it. */
const socketio_conf_field socketio_field_relay_queue = {
    IN_SERVER(relay_queue, BYTES),
    .context = GLOBAL_ONLY, .min = SOCKETIO_MIN_RELAY_QUEUE,
    .max = 1024 * 1024 * 1024, .unit = "a number of bytes" };
/* One value for the whole server: a child's links offer the hand-over to
 * siod or not (0: off). */
const socketio_conf_field socketio_field_handover_timeout = {
    IN_SERVER(handover_timeout, SECONDS),
    .context = GLOBAL_ONLY, .min = 0, .max = 3600, .unit = "seconds" };
/* One value for the whole server: each child's guard reads it (0: off). */
const socketio_conf_field socketio_field_fd_reserve = {
    IN_SERVER(fd_reserve, COUNT),
    .context = GLOBAL_ONLY, .min = 0, .max = 1024 * 1024,
    .unit = "a number of descriptors" };
const socketio_conf_field socketio_field_pin_children = {
    IN_SERVER(pin_children, FLAG), .context = GLOBAL_ONLY };

/* Finds the field cmd's descriptor names, if the descriptor is of one of
 * the types in kinds (SOCKETIO_CONF_KIND bits), and checks the directive's
 * context; returns NULL with *f and *field set, or the error. */
static const char *field_of(cmd_parms *cmd, void *dconf, unsigned kinds,
                            const socketio_conf_field **f, void **field)
{
    char *rec;

    *f = cmd->info;
    /* A descriptor handed to another kind's handler: the table's bug. */
    if (!*f || !(kinds & SOCKETIO_CONF_KIND((*f)->type)))
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": no handler for "
                           "this kind of value", NULL);
    if ((*f)->context) {
        const char *err = ap_check_cmd_context(cmd, (*f)->context);

        if (err)
            return err;
    }
    rec = (*f)->record == SOCKETIO_CONF_DIR
              ? dconf
              : ap_get_module_config(cmd->server->module_config,
                                     &socketio_module);
    *field = rec + (*f)->offset;
    return NULL;
}

/* See the header. */
const char *socketio_cmd_flag(cmd_parms *cmd, void *dconf, int on)
{
    const socketio_conf_field *f;
    void *field;
    const char *err = field_of(cmd, dconf,
                               SOCKETIO_CONF_KIND(SOCKETIO_CONF_FLAG), &f,
                               &field);

    if (err)
        return err;
    *(int *)field = on ? 1 : 0;
    if (on && f == &socketio_field_enable)
        enabled_somewhere = 1;
    return NULL;
}

/* See the header. */
int socketio_config_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp)
{
    enabled_somewhere = 0;
    return OK;
}

/* See the header. */
int socketio_config_any_enabled(void)
{
    return enabled_somewhere;
}

/* See the header. */
const char *socketio_cmd_number(cmd_parms *cmd, void *dconf, const char *arg)
{
    const socketio_conf_field *f;
    void *field;
    const char *err = field_of(cmd, dconf,
                               SOCKETIO_CONF_KIND(SOCKETIO_CONF_COUNT) |
                               SOCKETIO_CONF_KIND(SOCKETIO_CONF_BYTES) |
                               SOCKETIO_CONF_KIND(SOCKETIO_CONF_SECONDS),
                               &f, &field);
    char *end;
    apr_int64_t n;

    if (err)
        return err;
    n = apr_strtoi64(arg, &end, 10);
    if (end == arg || *end || errno == ERANGE || n < f->min || n > f->max)
        return apr_psprintf(cmd->pool, "%s: expected %s from %"
                            APR_INT64_T_FMT " to %" APR_INT64_T_FMT
                            ", got '%s'", cmd->cmd->name, f->unit, f->min,
                            f->max, arg);
    if (f->type == SOCKETIO_CONF_COUNT)
        *(int *)field = (int)n;
    else if (f->type == SOCKETIO_CONF_BYTES)
        *(apr_off_t *)field = (apr_off_t)n;
    else
        *(apr_interval_time_t *)field = apr_time_from_sec(n);
    return NULL;
}

/* A time in an error: whole seconds as the bare number a value means,
 * anything shorter in milliseconds. */
static const char *time_text(apr_pool_t *p, apr_int64_t t)
{
    if (t % APR_USEC_PER_SEC == 0)
        return apr_psprintf(p, "%" APR_INT64_T_FMT " (seconds)",
                            t / APR_USEC_PER_SEC);
    return apr_psprintf(p, "%" APR_INT64_T_FMT "ms", t / 1000);
}

/* See the header. */
const char *socketio_cmd_time(cmd_parms *cmd, void *dconf, const char *arg)
{
    const socketio_conf_field *f;
    void *field;
    const char *err = field_of(cmd, dconf,
                               SOCKETIO_CONF_KIND(SOCKETIO_CONF_TIME), &f,
                               &field);
    apr_interval_time_t t;

    if (err)
        return err;
    if (ap_timeout_parameter_parse(arg, &t, "s") != APR_SUCCESS ||
        t < f->min || t > f->max)
        return apr_psprintf(cmd->pool, "%s: expected %s from %s to %s, got "
                            "'%s'", cmd->cmd->name, f->unit,
                            time_text(cmd->pool, f->min),
                            time_text(cmd->pool, f->max), arg);
    *(apr_interval_time_t *)field = t;
    return NULL;
}

/* See the header. */
const char *socketio_cmd_path(cmd_parms *cmd, void *dconf, const char *arg)
{
    const socketio_conf_field *f;
    void *field;
    const char *err = field_of(cmd, dconf,
                               SOCKETIO_CONF_KIND(SOCKETIO_CONF_ROOT_PATH) |
                               SOCKETIO_CONF_KIND(SOCKETIO_CONF_RUNTIME_PATH),
                               &f, &field);
    const char *full;

    if (err)
        return err;
    if (!*arg)
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": empty path", NULL);
    full = f->type == SOCKETIO_CONF_ROOT_PATH
               ? ap_server_root_relative(cmd->pool, arg)
               : ap_runtime_dir_relative(cmd->pool, arg);
    if (!full)
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": invalid path ", arg,
                           NULL);
    if (f->max && (apr_int64_t)strlen(full) > f->max)
        return apr_psprintf(cmd->pool, "%s: path longer than %d bytes: %s",
                            cmd->cmd->name, (int)f->max, full);
    *(const char **)field = full;
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

/* See the header. */
const char *socketio_cmd_node(cmd_parms *cmd, void *dconf, const char *tag)
{
    socketio_server_conf *sc = socketio_config_server(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);

    if (err)
        return err;
    if (!sio_node_tag_valid(tag, strlen(tag)))
        return apr_psprintf(cmd->pool, "SocketIONode: expected %d "
                            "characters of A-Z a-z 0-9 - _, got '%s'",
                            SIO_NODE_TAG_LEN, tag);
    sc->node = apr_pstrdup(cmd->pool, tag);
    return NULL;
}

/* See the header. */
const char *socketio_cmd_daemon(cmd_parms *cmd, void *dconf, const char *arg)
{
    socketio_server_conf *sc = socketio_config_server(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);

    if (err)
        return err;
    if (!strcasecmp(arg, "managed"))
        sc->daemon_managed = 1;
    else if (!strcasecmp(arg, "external"))
        sc->daemon_managed = 0;
    else
        return apr_psprintf(cmd->pool, "SocketIODaemon: expected managed or "
                            "external, got '%s'", arg);
    return NULL;
}

/* See the header. Checked for quoting here; split again when siod
 * starts. */
const char *socketio_cmd_daemon_args(cmd_parms *cmd, void *dconf,
                                     const char *args)
{
    socketio_server_conf *sc = socketio_config_server(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    char **argv;

    if (err)
        return err;
    if (apr_tokenize_to_argv(args, &argv, cmd->temp_pool) != APR_SUCCESS)
        return "SocketIODaemonArgs: cannot split the options";
    for (; *argv; argv++)
        if (!strcmp(*argv, "-s") || !strcmp(*argv, "-k"))
            return apr_psprintf(cmd->pool, "SocketIODaemonArgs: %s is set "
                                "by the module (SocketIODaemonSocket, "
                                "SocketIODaemonSecret)", *argv);
    sc->daemon_args = apr_pstrdup(cmd->pool, args);
    return NULL;
}

/* See the header. The URL is kept without a trailing '/': the request's
 * path follows it. */
const char *socketio_cmd_peer(cmd_parms *cmd, void *dconf, const char *tag,
                              const char *url)
{
    socketio_server_conf *sc = socketio_config_server(cmd->server);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    const char *old;
    apr_uri_t u;
    char *base;

    if (err)
        return err;
    if (!sio_node_tag_valid(tag, strlen(tag)))
        return apr_psprintf(cmd->pool, "SocketIOPeer: expected a tag of %d "
                            "characters of A-Z a-z 0-9 - _, got '%s'",
                            SIO_NODE_TAG_LEN, tag);
    if (apr_uri_parse(cmd->temp_pool, url, &u) != APR_SUCCESS ||
        !u.scheme || (strcasecmp(u.scheme, "http") &&
                      strcasecmp(u.scheme, "https")) ||
        !u.hostname || !*u.hostname || u.query || u.fragment || u.user ||
        (u.path && strcmp(u.path, "/")))
        return apr_pstrcat(cmd->pool, "SocketIOPeer: '", url, "' is not "
                           "http:// or https:// host[:port] without a path",
                           NULL);
    base = apr_pstrdup(cmd->pool, url);
    if (base[strlen(base) - 1] == '/')
        base[strlen(base) - 1] = '\0';
    if (!sc->peers)
        sc->peers = apr_hash_make(cmd->pool);
    old = apr_hash_get(sc->peers, tag, APR_HASH_KEY_STRING);
    if (old && strcmp(old, base))
        return apr_pstrcat(cmd->pool, "SocketIOPeer: tag '", tag, "' is "
                           "already ", old, NULL);
    apr_hash_set(sc->peers, apr_pstrdup(cmd->pool, tag), APR_HASH_KEY_STRING,
                 base);
    return NULL;
}

/* Returns OK, or HTTP_INTERNAL_SERVER_ERROR when SocketIOPeer is used
 * without the proxy modules it hands requests to, or when two servers on
 * one daemon socket (one siod) name different SocketIONode tags. */
static int check_cluster(apr_pool_t *pconf, server_rec *s)
{
    apr_hash_t *tags = apr_hash_make(pconf);
    server_rec *v;

    for (v = s; v; v = v->next) {
        socketio_server_conf *sc = socketio_config_server(v);
        const char *other;

        if (sc->peers && (!ap_find_linked_module("mod_proxy.c") ||
                          !ap_find_linked_module("mod_proxy_http.c"))) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, v,
                         "mod_socketio: SocketIOPeer forwards requests "
                         "through mod_proxy and mod_proxy_http: load both "
                         "(LoadModule proxy_module, proxy_http_module)");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        other = apr_hash_get(tags, sc->daemon_socket, APR_HASH_KEY_STRING);
        if (other && strcmp(other, sc->node ? sc->node : "")) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, v,
                         "mod_socketio: servers sharing the daemon socket "
                         "%s name different SocketIONode tags",
                         sc->daemon_socket);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        apr_hash_set(tags, sc->daemon_socket, APR_HASH_KEY_STRING,
                     sc->node ? sc->node : "");
    }
    return OK;
}

/* Returns OK, or HTTP_INTERNAL_SERVER_ERROR (startup fails) when the
 * default socket path does not fit a Unix socket address, or the cluster
 * directives are unusable (check_cluster). Fills in the default daemon
 * socket and secret paths. */
int socketio_config_post_config(apr_pool_t *pconf, server_rec *s)
{
    const char *def = NULL;
    server_rec *v;

    for (v = s; v; v = v->next) {
        socketio_server_conf *sc =
            ap_get_module_config(v->module_config, &socketio_module);

        if (!sc->daemon_socket) {
            if (!def) {
                def = ap_runtime_dir_relative(pconf, SOCKETIO_DEFAULT_SOCKET);
                if (!def || strlen(def) > SOCKET_PATH_MAX) {
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
    return check_cluster(pconf, s);
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

/* Returns 1 if Engine.IO 3 clients are served (default Off). */
int socketio_config_allow_eio3(const socketio_dir_conf *d)
{
    return d->allow_eio3 == 1;
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

/* See the header. */
int socketio_config_ws_compress(const socketio_dir_conf *d)
{
    return d->ws_compress == 1;
}

/* See the header. */
apr_size_t socketio_config_ws_compress_min(const socketio_dir_conf *d)
{
    return d->ws_compress_min >= 0 ? (apr_size_t)d->ws_compress_min
                                   : SOCKETIO_DEFAULT_COMPRESS_MIN;
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

/* Returns how long a handed-over WebSocket waits for the next siod
 * (default 10 s; 0: the hand-over is off). */
apr_interval_time_t
socketio_config_handover_timeout(const socketio_server_conf *s)
{
    return s->handover_timeout >= 0 ? s->handover_timeout
                                    : SOCKETIO_DEFAULT_HANDOVER_TIMEOUT;
}
