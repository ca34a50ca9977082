/* siod's command line: the long options, the usage text, and the
 * parsing and checks of every option into struct options. */
#include "siod_args.h"

#include "app/siod_app_loader.h"
#include "callback/siod_callback.h"
#include "cluster/siod_cluster.h"
#include "core/siod_core.h"
#include "relay/siod_relay.h"
#include "sio/siod_sio.h"
#include "siod_echo_engine.h"
#include "sio_relay.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* Limit defaults (docs/limits.md says why each is what it is). */
#define DEF_MAX_SESSIONS 100000
#define DEF_MAX_SESSIONS_PER_ADDR 1000
#define DEF_MAX_HANDSHAKE_BYTES (64u * 1024u)
#define DEF_MAX_ROOMS_PER_SOCKET 1000
#define DEF_MAX_DYNAMIC_NSPS 10000
#define DEF_MAX_NSPS_PER_SESSION 100
#define DEF_MAX_ATTACHMENTS 10
#define MAX_MAX_ATTACHMENTS 1000
#define DEF_MAX_BINARY_BYTES (16u * 1024u * 1024u)
#define DEF_MAX_LINK_OUTPUT (64u * 1024u * 1024u)
#define MIN_MAX_LINK_OUTPUT (1024u * 1024u)
#define DEF_MAX_RECOVERY_PACKETS 100000
#define DEF_MAX_RECOVERY_LOG_BYTES (64u * 1024u * 1024u)
#define DEF_MAX_RECOVERY_SESSIONS 100000
#define DEF_MAX_RECOVERY_SESSION_BYTES (64u * 1024u * 1024u)
#define DEF_EVENT_RATE 100
#define DEF_EVENT_BURST 200
#define DEF_FLOOD_DROPS 100
#define DEF_FLOOD_WINDOW_MS 10000
#define DEF_HANDSHAKE_RATE 50
#define DEF_HANDSHAKE_BURST 200

/* Long options with no short letter: ids past any character; the
 * limits from OPT_MAX_SESSIONS on. */
enum {
    OPT_NODE = 200,
    OPT_CHECK,
    OPT_NODE_URL,
    OPT_NODE_TTL,
    OPT_RECOVERY,
    OPT_RECOVERY_MW,
    OPT_STATE_FILE,
    OPT_MAX_SESSIONS = 256,
    OPT_MAX_SESSIONS_PER_ADDR,
    OPT_MAX_HANDSHAKE_BYTES,
    OPT_MAX_ROOMS_PER_SOCKET,
    OPT_MAX_DYNAMIC_NSPS,
    OPT_MAX_NSPS_PER_SESSION,
    OPT_MAX_ATTACHMENTS,
    OPT_MAX_BINARY_BYTES,
    OPT_MAX_LINK_OUTPUT,
    OPT_MAX_LINKS,
    OPT_MAX_RECOVERY_PACKETS,
    OPT_MAX_RECOVERY_LOG_BYTES,
    OPT_MAX_RECOVERY_SESSIONS,
    OPT_MAX_RECOVERY_SESSION_BYTES,
    OPT_EVENT_RATE,
    OPT_EVENT_BURST,
    OPT_FLOOD_DROPS,
    OPT_FLOOD_WINDOW,
    OPT_HANDSHAKE_RATE,
    OPT_HANDSHAKE_BURST,
    OPT_SCHEMAS,
    OPT_REDIS = 512,
    OPT_REDIS_PREFIX,
    OPT_REDIS_MODE,
    OPT_REDIS_SUBMODE,
    /* the callback layer's, in the order of enum siod_callback_opt */
    OPT_CALLBACK = 600,
    OPT_CALLBACK_END = OPT_CALLBACK + SIOD_CALLBACK_OPT_COUNT
};

static const struct option long_opts[] = {
    { "node", required_argument, NULL, OPT_NODE },
    { "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
    { "max-sessions-per-address", required_argument, NULL,
      OPT_MAX_SESSIONS_PER_ADDR },
    { "max-handshake-bytes", required_argument, NULL,
      OPT_MAX_HANDSHAKE_BYTES },
    { "max-rooms-per-socket", required_argument, NULL,
      OPT_MAX_ROOMS_PER_SOCKET },
    { "max-dynamic-namespaces", required_argument, NULL,
      OPT_MAX_DYNAMIC_NSPS },
    { "max-namespaces-per-session", required_argument, NULL,
      OPT_MAX_NSPS_PER_SESSION },
    { "max-attachments", required_argument, NULL, OPT_MAX_ATTACHMENTS },
    { "max-binary-bytes", required_argument, NULL, OPT_MAX_BINARY_BYTES },
    { "max-link-output", required_argument, NULL, OPT_MAX_LINK_OUTPUT },
    { "max-links", required_argument, NULL, OPT_MAX_LINKS },
    { "recovery", required_argument, NULL, OPT_RECOVERY },
    { "recovery-middlewares", no_argument, NULL, OPT_RECOVERY_MW },
    { "state-file", required_argument, NULL, OPT_STATE_FILE },
    { "max-recovery-packets", required_argument, NULL,
      OPT_MAX_RECOVERY_PACKETS },
    { "max-recovery-log-bytes", required_argument, NULL,
      OPT_MAX_RECOVERY_LOG_BYTES },
    { "max-recovery-sessions", required_argument, NULL,
      OPT_MAX_RECOVERY_SESSIONS },
    { "max-recovery-session-bytes", required_argument, NULL,
      OPT_MAX_RECOVERY_SESSION_BYTES },
    { "event-rate", required_argument, NULL, OPT_EVENT_RATE },
    { "event-burst", required_argument, NULL, OPT_EVENT_BURST },
    { "event-flood-drops", required_argument, NULL, OPT_FLOOD_DROPS },
    { "event-flood-window", required_argument, NULL, OPT_FLOOD_WINDOW },
    { "handshake-rate", required_argument, NULL, OPT_HANDSHAKE_RATE },
    { "handshake-burst", required_argument, NULL, OPT_HANDSHAKE_BURST },
    { "schemas", required_argument, NULL, OPT_SCHEMAS },
    { "redis", required_argument, NULL, OPT_REDIS },
    { "redis-prefix", required_argument, NULL, OPT_REDIS_PREFIX },
    { "redis-mode", required_argument, NULL, OPT_REDIS_MODE },
    { "redis-subscription-mode", required_argument, NULL, OPT_REDIS_SUBMODE },
    { "callback", required_argument, NULL,
      OPT_CALLBACK + SIOD_CALLBACK_OPT_URL },
    { "callback-timeout", required_argument, NULL,
      OPT_CALLBACK + SIOD_CALLBACK_OPT_TIMEOUT },
    { "callback-requests", required_argument, NULL,
      OPT_CALLBACK + SIOD_CALLBACK_OPT_REQUESTS },
    { "callback-queue", required_argument, NULL,
      OPT_CALLBACK + SIOD_CALLBACK_OPT_QUEUE },
    { "node-url", required_argument, NULL, OPT_NODE_URL },
    { "node-ttl", required_argument, NULL, OPT_NODE_TTL },
    { "check", no_argument, NULL, OPT_CHECK },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

/* The sharded adapter's subscription modes, by enum siod_cluster_submode. */
const char *const siod_args_submode_names[3] = { "sharded, static",
                                             "sharded, dynamic",
                                             "sharded, dynamic-private" };

/* --redis-mode=classic|sharded, --redis-subscription-mode=static|dynamic|
 * dynamic-private. Returns 0, or -EINVAL after the error line. */
static int parse_redis_mode(int c, const char *arg, struct options *o)
{
    static const char *const subs[] = { "static", "dynamic",
                                        "dynamic-private" };
    if (c == OPT_REDIS_MODE) {
        if (strcmp(arg, "classic") == 0 || strcmp(arg, "sharded") == 0) {
            o->redis_sharded = arg[0] == 's';
            return 0;
        }
        fprintf(stderr, "siod: --redis-mode: expected classic or sharded, "
                "got '%s'\n", arg);
        return -EINVAL;
    }
    for (int i = 0; i < 3; i++)
        if (strcmp(arg, subs[i]) == 0) {
            o->redis_submode = i;
            return 0;
        }
    fprintf(stderr, "siod: --redis-subscription-mode: expected static, "
            "dynamic or dynamic-private, got '%s'\n", arg);
    return -EINVAL;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: siod -s SOCKET [-k SECRETFILE] [-u UID[,UID...]] [-i PING_INTERVAL_MS]\n"
        "            [-t PING_TIMEOUT_MS] [-c CONNECT_TIMEOUT_MS]\n"
        "            [-m MAX_PAYLOAD] [-R CLOSED_BYTES] [-n NSP=APP]...\n"
        "            [-a APP]... [-A APPDIR] [-l LOGFILE] [-p PIDFILE] [-v]\n"
        "            [--node=TAG] [--recovery=MS] [--max-...=N]...\n"
        "  -s  Unix socket to listen on (its directory must exist)\n"
        "  -k  relay secret file the module must prove it knows (default\n"
        "      SOCKET.secret; created, mode 0600, if absent)\n"
        "  -u  uids (or user names) allowed to connect besides root and siod's own\n"
        "  -i  ping interval, ms (default 25000)\n"
        "  -t  ping timeout, ms (default 20000)\n"
        "  -c  Socket.IO connect timeout, ms (default 45000)\n"
        "  -m  max payload, bytes, when the module does not say (default 1000000)\n"
        "  -R  bytes of queued packets kept for the next poll of sessions the\n"
        "      server just closed, all together (default 16777216)\n"
        "  -n  namespace NSP (or ~REGEX for dynamic ones) served by application\n"
        "      APP (a .so path, or a name: APPDIR/APP.so); repeatable\n"
        "  -a  application APP serves the namespaces it declares; repeatable;\n"
        "      -a echo-engine: Engine.IO echo without Socket.IO (alone)\n"
        "      (default with neither -n nor -a: -a echo)\n"
        "  -A  application directory (default: <siod's directory>/apps, else\n"
        "      <siod's directory>/../lib/siod/apps: an installed siod)\n"
        "  -l  log file (default: stderr); SIGHUP reopens it\n"
        "  -p  pid file\n"
        "  -v  debug logging\n"
        "  --check  check the options, applications, schemas and Redis URL,\n"
        "      print what is wrong, and exit (0: all usable); httpd runs it\n"
        "      for a managed siod when it checks its configuration\n"
        "  --node=TAG  this node's tag in a cluster: 2 characters of\n"
        "      A-Z a-z 0-9 - _; every session id begins with it, and httpd\n"
        "      forwards a session's requests to the node its id names\n"
        "      (docs/cluster.md)\n"
        "  --recovery=MS  connection state recovery: a client back within MS\n"
        "      gets its socket (id, rooms, data) and the events it missed\n"
        "      (default: off; Socket.IO's default window is 120000); with\n"
        "      --redis its state lives in Redis: any node restores a socket,\n"
        "      a crash of siod loses none\n"
        "  --recovery-middlewares  connect middleware runs for recovered\n"
        "      sockets too (default: skipped)\n"
        "  --state-file=PATH  with --recovery: a clean stop (SIGTERM) keeps\n"
        "      every session for recovery and writes them here (0600); the\n"
        "      next siod reads and removes it, so clients recover across a\n"
        "      restart of siod (default: none; httpd gives a managed siod\n"
        "      <socket>.state)\n"
        "limits (0: none, where allowed; docs/limits.md):\n"
        "  --max-sessions=N                open sessions in all (default %u);\n"
        "                                  a handshake past it gets 503\n"
        "  --max-sessions-per-address=N    per client address (default %u); 429\n"
        "  --max-handshake-bytes=N         handshake info kept per session\n"
        "                                  (default %u); 431\n"
        "  --max-rooms-per-socket=N        rooms a socket joins besides its own\n"
        "                                  (default %u); the join fails\n"
        "  --max-dynamic-namespaces=N      live namespaces made by ~patterns\n"
        "                                  (default %u); CONNECT_ERROR\n"
        "  --max-namespaces-per-session=N  namespaces one session is on at once\n"
        "                                  (default %u); CONNECT_ERROR\n"
        "  --max-attachments=N             per binary packet, 1..%u (default\n"
        "                                  %u); more closes the session\n"
        "  --max-binary-bytes=N            bytes buffered for a binary packet\n"
        "                                  (default %u); more closes the session\n"
        "  --max-link-output=N             output queued to one httpd child, at\n"
        "                                  least %u (default %u); its input\n"
        "                                  waits past half, it closes past all\n"
        "  --max-links=N                   relay links open at once (default\n"
        "                                  %u); more connections are closed\n"
        "  --max-recovery-packets=N        packets logged for recovery (default\n"
        "                                  %u); the oldest go\n"
        "  --max-recovery-log-bytes=N      their bytes (default %u)\n"
        "  --max-recovery-sessions=N       sockets kept for recovery (default\n"
        "                                  %u); the oldest go\n"
        "  --max-recovery-session-bytes=N  their bytes (default %u)\n"
        "  --event-rate=R, --event-burst=B events a socket may send a second\n"
        "                                  (default %u, burst %u); the event\n"
        "                                  over it is dropped, its ack errs\n"
        "  --event-flood-drops=N           drops within --event-flood-window=MS\n"
        "                                  that disconnect (default %u in %u)\n"
        "  --handshake-rate=R, --handshake-burst=B  handshakes a client\n"
        "                                  address may make a second (default\n"
        "                                  %u, burst %u); 429\n"
        "payload schemas (docs/schemas.md):\n"
        "  --schemas=DIR                   DIR/EVENT.json: the JSON Schema of\n"
        "                                  EVENT's arguments (events without\n"
        "                                  one are not checked)\n"
        "cluster (docs/siod.md):\n"
        "  --redis=URL                     join the servers sharing Redis at\n"
        "                                  redis://[user:password@]host[:port][/db]\n"
        "                                  (@socket.io/redis-adapter)\n"
        "  --redis-prefix=KEY              channel prefix (default socket.io)\n"
        "  --redis-mode=MODE               classic (createAdapter, default) or\n"
        "                                  sharded (createShardedAdapter, Redis 7)\n"
        "  --redis-subscription-mode=MODE  sharded: static, dynamic (default) or\n"
        "                                  dynamic-private\n"
        "  --node-url=URL                  with --redis and --node: advertise\n"
        "                                  this node's base URL (http[s]://host[:port])\n"
        "                                  in Redis; httpd learns the others'\n"
        "                                  (docs/cluster.md)\n"
        "  --node-ttl=MS                   a node's entry lives MS without a\n"
        "                                  heartbeat (every MS/4; default %u)\n"
        "HTTP callbacks (docs/callbacks.md):\n"
        "  --callback=NSP,KIND,URL         POST NSP's KIND (connect, event,\n"
        "                                  disconnect) to URL; repeatable\n"
        "  --callback-timeout=MS           per callback (default 5000)\n"
        "  --callback-requests=N           callbacks at once (default 64)\n"
        "  --callback-queue=N              events waiting per socket (default 32)\n",
        DEF_MAX_SESSIONS, DEF_MAX_SESSIONS_PER_ADDR, DEF_MAX_HANDSHAKE_BYTES,
        DEF_MAX_ROOMS_PER_SOCKET, DEF_MAX_DYNAMIC_NSPS,
        DEF_MAX_NSPS_PER_SESSION, MAX_MAX_ATTACHMENTS, DEF_MAX_ATTACHMENTS,
        DEF_MAX_BINARY_BYTES, MIN_MAX_LINK_OUTPUT, DEF_MAX_LINK_OUTPUT,
        SIOD_LINKS_MAX_DEFAULT, DEF_MAX_RECOVERY_PACKETS,
        DEF_MAX_RECOVERY_LOG_BYTES, DEF_MAX_RECOVERY_SESSIONS,
        DEF_MAX_RECOVERY_SESSION_BYTES, DEF_EVENT_RATE, DEF_EVENT_BURST,
        DEF_FLOOD_DROPS, DEF_FLOOD_WINDOW_MS, DEF_HANDSHAKE_RATE,
        DEF_HANDSHAKE_BURST, SIOD_NODE_TTL_DEFAULT);
}

/* Parses a decimal in [min, max]; returns 0, -EINVAL (not a decimal) or
 * -ERANGE (outside [min, max]). Says nothing: the caller knows the
 * option. */
static int parse_num(const char *s, unsigned long long min,
                     unsigned long long max, unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno != 0 || v < min || v > max)
        return -ERANGE;
    *out = v;
    return 0;
}

/* -u: a comma-separated list of uids or user names, added to o->uids.
 * Returns 0, or -EINVAL / -ENOMEM after saying why on stderr. */
static int parse_uids(const char *arg, struct options *o)
{
    char *copy = strdup(arg);
    if (copy == NULL) {
        fprintf(stderr, "siod: -u: %s\n", siod_strerror(-ENOMEM));
        return -ENOMEM;
    }
    int rc = 0;
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        unsigned long long v;
        uid_t uid;
        if (parse_num(t, 0, (uid_t)-2, &v) == 0) {
            uid = (uid_t)v;
        } else {
            struct passwd *pw = getpwnam(t);
            if (pw == NULL) {
                fprintf(stderr, "siod: -u: unknown user %s\n", t);
                rc = -EINVAL;
                break;
            }
            uid = pw->pw_uid;
        }
        if (o->n_uids == MAX_UIDS) {
            fprintf(stderr, "siod: -u: at most %d uids\n", MAX_UIDS);
            rc = -EINVAL;
            break;
        }
        o->uids[o->n_uids++] = uid;
    }
    free(copy);
    return rc;
}

/* Parses the value of limit option name into *out within [min, max].
 * Returns 0, or parse_num's code after saying what was expected. */
static int parse_limit(const char *name, const char *arg,
                       unsigned long long min, unsigned long long max,
                       size_t *out)
{
    unsigned long long v;
    int rc = parse_num(arg, min, max, &v);
    if (rc < 0) {
        fprintf(stderr, "siod: --%s: expected %llu..%llu\n", name, min, max);
        return rc;
    }
    *out = (size_t)v;
    return 0;
}

/* A rate option's value: a decimal number (2, 0.5) in [min, 1e9] into
 * *out. Returns 0, or -EINVAL after saying what was expected. */
static int parse_rate(const char *name, const char *arg, double min,
                      double *out)
{
    char *end = (char *)arg;
    double v = (*arg >= '0' && *arg <= '9') ? strtod(arg, &end) : -1;

    if (v < min || v > 1e9 || *end != '\0') {
        fprintf(stderr, "siod: --%s: expected a number, %g..1e9\n", name,
                min);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* One of the guard layer's options (c, an OPT_* id) with its argument.
 * Returns 0, or a negative code after saying why. */
static int parse_guard_opt(int c, const char *arg, struct options *o)
{
    siod_guard_config *g = &o->guard;
    size_t v;
    int rc;

    switch (c) {
    case OPT_EVENT_RATE:
        return parse_rate("event-rate", arg, 0, &g->event_rate);
    case OPT_EVENT_BURST:
        return parse_rate("event-burst", arg, 1, &g->event_burst);
    case OPT_HANDSHAKE_RATE:
        return parse_rate("handshake-rate", arg, 0, &g->handshake_rate);
    case OPT_HANDSHAKE_BURST:
        return parse_rate("handshake-burst", arg, 1, &g->handshake_burst);
    case OPT_FLOOD_DROPS:
    case OPT_FLOOD_WINDOW:
        rc = parse_limit(c == OPT_FLOOD_DROPS ? "event-flood-drops"
                                              : "event-flood-window",
                         arg, c == OPT_FLOOD_DROPS ? 0 : 1, 86400000, &v);
        if (rc == 0 && c == OPT_FLOOD_DROPS)
            g->flood_drops = (unsigned)v;
        else if (rc == 0)
            g->flood_window_ms = (unsigned)v;
        return rc;
    case OPT_SCHEMAS:
        o->schemas_dir = arg;
        return 0;
    default:
        return -EINVAL;
    }
}

/* One of the limit options (c, an OPT_* id) with its argument. Returns 0,
 * or a negative code after saying why. */
static int parse_limit_opt(int c, const char *arg, struct options *o)
{
    siod_engine_config *e = &o->engine;
    const unsigned long long big = 1ull << 40;
    size_t v;

    switch (c) {
    case OPT_MAX_SESSIONS:
        return parse_limit("max-sessions", arg, 0, big, &e->max_sessions);
    case OPT_MAX_SESSIONS_PER_ADDR:
        return parse_limit("max-sessions-per-address", arg, 0, big,
                           &e->max_sessions_per_addr);
    case OPT_MAX_HANDSHAKE_BYTES:
        return parse_limit("max-handshake-bytes", arg, 0, SIO_RELAY_MAX_BODY,
                           &e->max_handshake_bytes);
    case OPT_MAX_ROOMS_PER_SOCKET:
        return parse_limit("max-rooms-per-socket", arg, 0, big,
                           &e->max_rooms_per_socket);
    case OPT_MAX_DYNAMIC_NSPS:
        return parse_limit("max-dynamic-namespaces", arg, 0, big,
                           &e->max_dynamic_nsps);
    case OPT_MAX_NSPS_PER_SESSION:
        return parse_limit("max-namespaces-per-session", arg, 0, big,
                           &e->max_nsps_per_session);
    case OPT_MAX_ATTACHMENTS: {
        int rc = parse_limit("max-attachments", arg, 1, MAX_MAX_ATTACHMENTS,
                             &v);
        if (rc < 0)
            return rc;
        e->max_attachments = (unsigned)v;
        return 0;
    }
    case OPT_MAX_BINARY_BYTES:
        return parse_limit("max-binary-bytes", arg, 0, big,
                           &e->max_binary_bytes);
    case OPT_MAX_LINK_OUTPUT:
        return parse_limit("max-link-output", arg, MIN_MAX_LINK_OUTPUT, big,
                           &o->max_link_output);
    case OPT_MAX_LINKS:
        return parse_limit("max-links", arg, 0, 1u << 20, &o->max_links);
    case OPT_MAX_RECOVERY_PACKETS:
        return parse_limit("max-recovery-packets", arg, 0, big,
                           &o->recovery.max_packets);
    case OPT_MAX_RECOVERY_LOG_BYTES:
        return parse_limit("max-recovery-log-bytes", arg, 0, big,
                           &o->recovery.max_log_bytes);
    case OPT_MAX_RECOVERY_SESSIONS:
        return parse_limit("max-recovery-sessions", arg, 0, big,
                           &o->recovery.max_sessions);
    case OPT_MAX_RECOVERY_SESSION_BYTES:
        return parse_limit("max-recovery-session-bytes", arg, 0, big,
                           &o->recovery.max_session_bytes);
    case OPT_EVENT_RATE:
    case OPT_EVENT_BURST:
    case OPT_FLOOD_DROPS:
    case OPT_FLOOD_WINDOW:
    case OPT_HANDSHAKE_RATE:
    case OPT_HANDSHAKE_BURST:
    case OPT_SCHEMAS:
        return parse_guard_opt(c, arg, o);
    default:
        return -EINVAL;
    }
}

/* Fills o from the command line. Returns 0, or -EINVAL after saying why
 * on stderr (a usage error). */
/* See siod_args.h. */
int siod_args_parse(int argc, char **argv, struct options *o)
{
    unsigned long long v;
    int c;

    memset(o, 0, sizeof *o);
    o->engine.ping_interval_ms = 25000;
    o->engine.ping_timeout_ms = 20000;
    o->engine.connect_timeout_ms = 45000;
    o->engine.max_payload = 1000000;
    o->engine.closed_max_bytes = 16u * 1024u * 1024u;
    o->engine.max_sessions = DEF_MAX_SESSIONS;
    o->engine.max_sessions_per_addr = DEF_MAX_SESSIONS_PER_ADDR;
    o->engine.max_handshake_bytes = DEF_MAX_HANDSHAKE_BYTES;
    o->engine.max_rooms_per_socket = DEF_MAX_ROOMS_PER_SOCKET;
    o->engine.max_dynamic_nsps = DEF_MAX_DYNAMIC_NSPS;
    o->engine.max_nsps_per_session = DEF_MAX_NSPS_PER_SESSION;
    o->engine.max_attachments = DEF_MAX_ATTACHMENTS;
    o->engine.max_binary_bytes = DEF_MAX_BINARY_BYTES;
    o->max_link_output = DEF_MAX_LINK_OUTPUT;
    o->max_links = SIOD_LINKS_MAX_DEFAULT;
    o->redis_prefix = "socket.io";
    o->node_ttl_ms = SIOD_NODE_TTL_DEFAULT;
    o->recovery.max_packets = DEF_MAX_RECOVERY_PACKETS;
    o->recovery.max_log_bytes = DEF_MAX_RECOVERY_LOG_BYTES;
    o->recovery.max_sessions = DEF_MAX_RECOVERY_SESSIONS;
    o->recovery.max_session_bytes = DEF_MAX_RECOVERY_SESSION_BYTES;
    o->guard.event_rate = DEF_EVENT_RATE;
    o->guard.event_burst = DEF_EVENT_BURST;
    o->guard.flood_drops = DEF_FLOOD_DROPS;
    o->guard.flood_window_ms = DEF_FLOOD_WINDOW_MS;
    o->guard.handshake_rate = DEF_HANDSHAKE_RATE;
    o->guard.handshake_burst = DEF_HANDSHAKE_BURST;
    o->redis_submode = -1;
    while ((c = getopt_long(argc, argv, "s:k:u:i:t:c:m:R:n:a:A:l:p:vh", long_opts,
                            NULL)) != -1) {
        if (c == OPT_REDIS || c == OPT_REDIS_PREFIX) {
            if (c == OPT_REDIS)
                o->redis_url = optarg;
            else
                o->redis_prefix = optarg;
            continue;
        }
        if (c == OPT_REDIS_MODE || c == OPT_REDIS_SUBMODE) {
            if (parse_redis_mode(c, optarg, o) < 0)
                return -EINVAL;
            continue;
        }
        if (c >= OPT_CALLBACK && c < OPT_CALLBACK_END) {
            if (siod_callback_conf(c - OPT_CALLBACK, optarg) < 0)
                return -EINVAL;
            o->sio_options |= c == OPT_CALLBACK;
            continue;
        }
        if (c >= OPT_MAX_SESSIONS) {
            if (parse_limit_opt(c, optarg, o) < 0)
                return -EINVAL;
            continue;
        }
        switch (c) {
        case OPT_RECOVERY:
            if (parse_num(optarg, 1, 86400000, &v) < 0) {
                fprintf(stderr, "siod: --recovery: expected 1..86400000 "
                        "ms\n");
                return -EINVAL;
            }
            o->recovery.window_ms = (unsigned)v;
            break;
        case OPT_RECOVERY_MW:
            o->recovery.run_middlewares = 1;
            break;
        case OPT_STATE_FILE:
            if (optarg[0] == '\0') {
                fprintf(stderr, "siod: --state-file: expected a path\n");
                return -EINVAL;
            }
            o->recovery.state_file = optarg;
            break;
        case OPT_NODE_URL:
            /* kept without a trailing '/': the request's path follows */
            if (optarg[0] && optarg[strlen(optarg) - 1] == '/')
                optarg[strlen(optarg) - 1] = '\0';
            if (!sio_relay_peer_url_valid(optarg, strlen(optarg))) {
                fprintf(stderr, "siod: --node-url: expected http:// or "
                        "https:// host[:port] without a path, got '%s'\n",
                        optarg);
                return -EINVAL;
            }
            o->node_url = optarg;
            break;
        case OPT_NODE_TTL:
            if (parse_num(optarg, SIOD_NODE_TTL_MIN, 86400000, &v) < 0) {
                fprintf(stderr, "siod: --node-ttl: expected %u..86400000 "
                        "ms\n", SIOD_NODE_TTL_MIN);
                return -EINVAL;
            }
            o->node_ttl_ms = (unsigned)v;
            break;
        case OPT_NODE:
            if (siod_sid_set_node(optarg) < 0) {
                fprintf(stderr, "siod: --node: expected %d characters of "
                        "A-Z a-z 0-9 - _, got '%s'\n", SIO_NODE_TAG_LEN,
                        optarg);
                return -EINVAL;
            }
            break;
        case 's':
            o->socket_path = optarg;
            break;
        case 'k':
            o->secret_path = optarg;
            break;
        case 'u':
            if (parse_uids(optarg, o) < 0)
                return -EINVAL;
            break;
        case 'i':
        case 't':
        case 'c':
            if (parse_num(optarg, 1, 86400000, &v) < 0) {
                fprintf(stderr, "siod: -%c: expected 1..86400000 ms\n", c);
                return -EINVAL;
            }
            if (c == 'i')
                o->engine.ping_interval_ms = (unsigned)v;
            else if (c == 't')
                o->engine.ping_timeout_ms = (unsigned)v;
            else
                o->engine.connect_timeout_ms = (unsigned)v;
            break;
        case 'm':
            if (parse_num(optarg, 1, 1ull << 40, &v) < 0) {
                fprintf(stderr, "siod: -m: expected a byte count\n");
                return -EINVAL;
            }
            o->engine.max_payload = (size_t)v;
            break;
        case 'R':
            if (parse_num(optarg, 0, 1ull << 40, &v) < 0) {
                fprintf(stderr, "siod: -R: expected a byte count\n");
                return -EINVAL;
            }
            o->engine.closed_max_bytes = (size_t)v;
            break;
        case 'n':
            if (siod_app_loader_conf_nsp(optarg) < 0)
                return -EINVAL;
            o->sio_options = 1;
            break;
        case 'a':
            if (strcmp(optarg, siod_app_echo_engine.name) == 0) {
                o->echo_engine = 1;
            } else {
                if (siod_app_loader_conf_app(optarg) < 0)
                    return -EINVAL;
                o->sio_options = 1;
            }
            break;
        case 'A':
            siod_app_loader_conf_appdir(optarg);
            break;
        case 'l':
            o->log_path = optarg;
            break;
        case 'p':
            o->pid_path = optarg;
            break;
        case OPT_CHECK:
            o->check = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind != argc || o->socket_path == NULL) {
        usage(stderr);
        return -EINVAL;
    }
    if (o->secret_path == NULL) {
        static char def[4096];
        if (snprintf(def, sizeof def, "%s.secret", o->socket_path) >=
            (int)sizeof def) {
            fprintf(stderr, "siod: -s: path too long\n");
            return -EINVAL;
        }
        o->secret_path = def;
    }
    if (o->redis_submode >= 0 && !o->redis_sharded) {
        fprintf(stderr, "siod: --redis-subscription-mode needs "
                "--redis-mode=sharded\n");
        return -EINVAL;
    }
    if (o->redis_submode < 0)
        o->redis_submode = SIOD_CLUSTER_DYNAMIC;
    if (o->echo_engine && o->sio_options) {
        fprintf(stderr, "siod: -a echo-engine serves no Socket.IO "
                "namespaces: it cannot be combined with -n or other -a\n");
        return -EINVAL;
    }
    if (o->node_url != NULL &&
        (o->redis_url == NULL || siod_sid_node()[0] == '\0')) {
        fprintf(stderr, "siod: --node-url is advertised through Redis: "
                "it needs --redis and --node\n");
        return -EINVAL;
    }
    if (!o->echo_engine && siod_app_loader_conf_empty() &&
        siod_app_loader_conf_app("echo") < 0)
        return -EINVAL;
    return 0;
}
