/* mod_socketio configuration: the per-directory and per-server records, the
 * directive handlers that fill them (one per kind of value, each driven by
 * a descriptor of the field it fills) and accessors that apply the
 * defaults. The command table itself lives in mod_socketio.c. */
#ifndef SOCKETIO_CONFIG_H
#define SOCKETIO_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "apr_hash.h"

extern module AP_MODULE_DECLARE_DATA socketio_module;

/* Transport bits (SocketIOTransports) */
#define SOCKETIO_T_POLLING 0x1
#define SOCKETIO_T_WEBSOCKET 0x2

#define SOCKETIO_DEFAULT_MAX_PAYLOAD 1000000
#define SOCKETIO_DEFAULT_REPLY_TIMEOUT apr_time_from_sec(60)
/* Messages shorter than this go uncompressed (Node's default threshold). */
#define SOCKETIO_DEFAULT_COMPRESS_MIN 1024
#define SOCKETIO_DEFAULT_SOCKET "socketio/siod.sock"
/* SocketIODaemonPath unset: the build's SIOD_PATH (the Makefile's: where
 * `make install` or a package puts siod). */
#ifndef SOCKETIO_SIOD_PATH
#define SOCKETIO_SIOD_PATH "/usr/local/sbin/siod"
#endif
/* SocketIODaemonSecret unset: the socket's path with this appended. */
#define SOCKETIO_SECRET_SUFFIX ".secret"
/* A WebSocket's unsent messages may reach SocketIOMaxPayload plus this
 * before the client is dropped (SocketIOWebSocketQueue unset). */
#define SOCKETIO_DEFAULT_QUEUE_EXTRA (1024 * 1024)
/* SocketIOWebSocketWriteTimeout unset: a thread-served WebSocket client
 * must take each batch of queued frames within this. */
#define SOCKETIO_DEFAULT_WS_WRITE_TIMEOUT apr_time_from_sec(10)
/* SocketIOPollReleaseTimeout: how long a held GET that a stopping child
 * ends waits for siod's answer to the release. */
#define SOCKETIO_DEFAULT_POLL_RELEASE_TIMEOUT apr_time_from_sec(1)
/* SocketIOHandoverTimeout unset: how long a WebSocket that a stopping
 * siod handed over is held for the next one. */
#define SOCKETIO_DEFAULT_HANDOVER_TIMEOUT apr_time_from_sec(10)
/* SocketIOWebSocketThreads unset: this share of MaxRequestWorkers. */
#define SOCKETIO_DEFAULT_THREADS_DIVISOR 4
/* SocketIOPollThreads unset: this share of a child's threads, or of
 * MaxRequestWorkers where each child is one thread (prefork). */
#define SOCKETIO_DEFAULT_POLL_DIVISOR 2
/* SocketIORelayQueue unset: memory the reactor may hold in frames siod has
 * not taken yet, per relay link (one link per child and daemon socket). */
#define SOCKETIO_DEFAULT_RELAY_QUEUE (1024 * 1024)
#define SOCKETIO_MIN_RELAY_QUEUE (256 * 1024)

struct socketio_link;

/* Per directory/location. Fields hold -1 (or 0 for bit masks and NULL for
 * pointers) while unset so a merge can tell "not configured" apart. */
typedef struct socketio_dir_conf {
    int enabled;                      /* SocketIO */
    int transports;                   /* SOCKETIO_T_* bits */
    int allow_upgrades;               /* SocketIOAllowUpgrades */
    int allow_eio3;                   /* SocketIOAllowEIO3 */
    int cors_set;                     /* SocketIOCorsOrigin seen */
    int cors_any;                     /* "*" */
    apr_array_header_t *cors_origins; /* const char *, exact origins */
    int cors_credentials;             /* SocketIOCorsCredentials, -1 */
    apr_off_t max_payload;            /* SocketIOMaxPayload */
    int serve_client;                 /* SocketIOServeClient */
    apr_off_t ws_queue;               /* SocketIOWebSocketQueue */
    int ws_compress;                  /* SocketIOWebSocketCompression, -1 */
    apr_off_t ws_compress_min;        /* ...CompressionThreshold, -1 */
} socketio_dir_conf;

/* Per virtual host. */
typedef struct socketio_server_conf {
    const char *daemon_socket;          /* filled in post_config if unset */
    const char *daemon_secret;          /* SocketIODaemonSecret; post_config
                                         * fills it in if unset */
    const struct socketio_secret *secret; /* loaded in post_config (pconf);
                                           * NULL if it could not be */
    apr_interval_time_t reply_timeout;  /* -1 while unset */
    const char *client_script;          /* SocketIOClientScript, or NULL */
    int ws_threads;                     /* SocketIOWebSocketThreads, -1 */
    int poll_threads;                   /* SocketIOPollThreads, -1 */
    apr_interval_time_t ws_write_timeout;/* SocketIOWebSocketWriteTimeout,
                                          * -1 while unset */
    apr_interval_time_t poll_release_timeout; /* SocketIOPollReleaseTimeout,
                                               * -1 while unset */
    apr_off_t relay_queue;              /* SocketIORelayQueue, -1 while
                                         * unset (main server only) */
    apr_interval_time_t handover_timeout; /* SocketIOHandoverTimeout, -1
                                           * while unset, 0 off (main
                                           * server only) */
    const char *node;                   /* SocketIONode tag, or NULL */
    apr_hash_t *peers;                  /* SocketIOPeer: tag -> base URL
                                         * (no trailing '/'), or NULL */
    int fd_reserve;                     /* SocketIODescriptorReserve, -1
                                         * while unset (main server only) */
    int pin_children;                   /* SocketIOPinChildren, -1 while
                                         * unset (main server only) */
    int daemon_managed;                 /* SocketIODaemon: 1 managed (the
                                         * default), 0 external, -1 unset */
    const char *daemon_path;            /* SocketIODaemonPath, or NULL */
    const char *daemon_args;            /* SocketIODaemonArgs, or NULL */
    struct socketio_link *link;         /* this child's link, child_init */
} socketio_server_conf;

/* Config record constructors and mergers for the module record; each
 * returns a record allocated from p. */
void *socketio_config_create_dir(apr_pool_t *p, char *dir);
void *socketio_config_merge_dir(apr_pool_t *p, void *basev, void *addv);
void *socketio_config_create_server(apr_pool_t *p, server_rec *s);
void *socketio_config_merge_server(apr_pool_t *p, void *basev, void *addv);

/* Which record a directive fills. */
typedef enum socketio_conf_record {
    SOCKETIO_CONF_DIR,              /* socketio_dir_conf */
    SOCKETIO_CONF_SERVER            /* socketio_server_conf */
} socketio_conf_record;

/* The field's C type, how a value becomes it and which handler parses it. */
typedef enum socketio_conf_type {
    SOCKETIO_CONF_FLAG,             /* int 1/0 from On/Off: socketio_cmd_flag */
    SOCKETIO_CONF_COUNT,            /* int: socketio_cmd_number */
    SOCKETIO_CONF_BYTES,            /* apr_off_t: socketio_cmd_number */
    SOCKETIO_CONF_SECONDS,          /* apr_interval_time_t, given in whole
                                     * seconds: socketio_cmd_number */
    SOCKETIO_CONF_TIME,             /* apr_interval_time_t, given in seconds
                                     * or with a unit (500ms):
                                     * socketio_cmd_time */
    SOCKETIO_CONF_ROOT_PATH,        /* const char *, relative to ServerRoot:
                                     * socketio_cmd_path */
    SOCKETIO_CONF_RUNTIME_PATH      /* const char *, relative to
                                     * DefaultRuntimeDir: socketio_cmd_path */
} socketio_conf_type;

/* A socketio_conf_type as a bit, for the set of types a handler takes. */
#define SOCKETIO_CONF_KIND(type) (1u << (type))

/* What a directive with one value fills and accepts. Each is the cmd_data
 * of its directive in the command table (SOCKETIO_CONF_INFO) and reaches
 * its handler as cmd->info. A number or time out of range or malformed is
 * refused with "<directive>: expected <unit> from <min> to <max>, got
 * '<value>'". */
typedef struct socketio_conf_field {
    socketio_conf_record record;
    apr_size_t offset;              /* APR_OFFSETOF the field in the record */
    socketio_conf_type type;
    unsigned context;               /* forbidden contexts, checked with
                                     * ap_check_cmd_context (0: none) */
    apr_int64_t min, max;           /* the range (times: microseconds);
                                     * paths: max is the longest, 0: any */
    const char *unit;               /* "a number of bytes", "seconds", ... */
} socketio_conf_field;

/* A descriptor as command_rec's cmd_data, which is not const: the handlers
 * only read it. */
#define SOCKETIO_CONF_INFO(field) ((void *)&(field))

/* The descriptors (socketio_config.c), one per directive with one value. */
extern const socketio_conf_field
    socketio_field_enable,                  /* SocketIO */
    socketio_field_allow_upgrades,          /* SocketIOAllowUpgrades */
    socketio_field_allow_eio3,              /* SocketIOAllowEIO3 */
    socketio_field_cors_credentials,        /* SocketIOCorsCredentials */
    socketio_field_serve_client,            /* SocketIOServeClient */
    socketio_field_max_payload,             /* SocketIOMaxPayload */
    socketio_field_ws_queue,                /* SocketIOWebSocketQueue */
    socketio_field_ws_compress,             /* SocketIOWebSocketCompression */
    socketio_field_ws_compress_min,         /* ...CompressionThreshold */
    socketio_field_daemon_socket,           /* SocketIODaemonSocket */
    socketio_field_daemon_secret,           /* SocketIODaemonSecret */
    socketio_field_client_script,           /* SocketIOClientScript */
    socketio_field_reply_timeout,           /* SocketIOReplyTimeout */
    socketio_field_ws_write_timeout,        /* SocketIOWebSocketWriteTimeout */
    socketio_field_poll_release_timeout,    /* SocketIOPollReleaseTimeout */
    socketio_field_ws_threads,              /* SocketIOWebSocketThreads */
    socketio_field_poll_threads,            /* SocketIOPollThreads */
    socketio_field_pin_children,            /* SocketIOPinChildren */
    socketio_field_relay_queue,             /* SocketIORelayQueue */
    socketio_field_handover_timeout,        /* SocketIOHandoverTimeout */
    socketio_field_fd_reserve,              /* SocketIODescriptorReserve */
    socketio_field_daemon_path;             /* SocketIODaemonPath */

/* Directive handlers: each returns NULL or an error message allocated from
 * cmd->pool. The first four take the socketio_conf_field in cmd->info and
 * check its context first:
 * - socketio_cmd_flag: On/Off (FLAG).
 * - socketio_cmd_number: a decimal integer within the range (TAKE1).
 * - socketio_cmd_time: a time within the range, in seconds unless the
 *   value names a unit, as in 500ms (TAKE1).
 * - socketio_cmd_path: a non-empty path, made absolute against ServerRoot
 *   or the runtime directory, no longer than max (TAKE1).
 * The list directives have their own (RAW_ARGS; each line replaces the
 * list an outer section set). */
const char *socketio_cmd_flag(cmd_parms *cmd, void *dconf, int on);
const char *socketio_cmd_number(cmd_parms *cmd, void *dconf, const char *arg);
const char *socketio_cmd_time(cmd_parms *cmd, void *dconf, const char *arg);
const char *socketio_cmd_path(cmd_parms *cmd, void *dconf, const char *arg);
const char *socketio_cmd_transports(cmd_parms *cmd, void *dconf,
                                    const char *args);
const char *socketio_cmd_cors_origin(cmd_parms *cmd, void *dconf,
                                     const char *args);
/* SocketIODaemon managed|external (TAKE1) and SocketIODaemonArgs
 * (RAW_ARGS: siod's options, quoted as a shell would): server config and
 * virtual hosts. */
const char *socketio_cmd_daemon(cmd_parms *cmd, void *dconf, const char *arg);
const char *socketio_cmd_daemon_args(cmd_parms *cmd, void *dconf,
                                     const char *args);
/* SocketIONode TAG (TAKE1) and SocketIOPeer TAG URL (TAKE2, repeatable;
 * URL is http:// or https:// host[:port] with no path): a tag must be
 * valid (sio_node_tag_valid); a tag listed twice with two URLs is
 * refused. */
const char *socketio_cmd_node(cmd_parms *cmd, void *dconf, const char *tag);
const char *socketio_cmd_peer(cmd_parms *cmd, void *dconf, const char *tag,
                              const char *url);

/* post_config: gives every server without SocketIODaemonSocket the default
 * path under the runtime directory, and every server without
 * SocketIODaemonSecret "<socket path>.secret". Returns OK, or
 * HTTP_INTERNAL_SERVER_ERROR (logged) when the default socket path is
 * unusable, when SocketIOPeer is used without mod_proxy and
 * mod_proxy_http loaded, or when servers sharing a daemon socket name
 * different SocketIONode tags. */
int socketio_config_post_config(apr_pool_t *pconf, server_rec *s);

/* pre_config: forgets that SocketIO On was seen (each reading of the
 * configuration starts over). */
int socketio_config_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp);
/* 1 when the configuration just read has SocketIO On somewhere (so a
 * managed siod has clients to serve), else 0. */
int socketio_config_any_enabled(void);

/* Accessors applying defaults; the records belong to the configuration. */
socketio_dir_conf *socketio_config_dir(request_rec *r);
socketio_server_conf *socketio_config_server(server_rec *s);
int socketio_config_enabled(const socketio_dir_conf *d);
int socketio_config_transports(const socketio_dir_conf *d);
int socketio_config_allow_upgrades(const socketio_dir_conf *d);

/* Returns 1 if Engine.IO 3 (Socket.IO 2) clients are served:
 * SocketIOAllowEIO3 On (default Off). */
int socketio_config_allow_eio3(const socketio_dir_conf *d);
apr_off_t socketio_config_max_payload(const socketio_dir_conf *d);
apr_interval_time_t socketio_config_reply_timeout(const socketio_server_conf *s);
int socketio_config_serve_client(const socketio_dir_conf *d);
int socketio_config_cors_credentials(const socketio_dir_conf *d);
apr_size_t socketio_config_ws_queue(const socketio_dir_conf *d);
/* SocketIOWebSocketCompression (default Off), and the smallest message
 * compressed (SocketIOWebSocketCompressionThreshold, default 1024). */
int socketio_config_ws_compress(const socketio_dir_conf *d);
apr_size_t socketio_config_ws_compress_min(const socketio_dir_conf *d);
apr_interval_time_t
socketio_config_ws_write_timeout(const socketio_server_conf *s);
apr_interval_time_t
socketio_config_poll_release_timeout(const socketio_server_conf *s);
apr_size_t socketio_config_relay_queue(const socketio_server_conf *s);
/* How long a WebSocket that a stopping siod hands over (WS_CLOSE with
 * SIO_RF_KEEP) is held for the next siod (SocketIOHandoverTimeout,
 * default 10 s); 0: hand-over is off. */
apr_interval_time_t
socketio_config_handover_timeout(const socketio_server_conf *s);

#endif
