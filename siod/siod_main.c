/* siod's entry point: command line, logging, pid file, signals, and the
 * order of startup and shutdown around the libevent loop. siod always runs
 * in the foreground; scripts or systemd supervise it. main is where
 * startup failures are logged (to stderr for the command line, to the log
 * after it is open): the layers return a code and the detail. */
#include "app/siod_app_loader.h"
#include "cluster/siod_cluster.h"
#include "core/siod_core.h"
#include "engine/siod_engine.h"
#include "relay/siod_relay.h"
#include "sio/siod_sio.h"
#include "siod_echo_engine.h"
#include "sio_relay.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_UIDS 32
#define SHUTDOWN_FLUSH_SECONDS 5

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

/* Long options with no short letter: ids past any character; the
 * limits from OPT_MAX_SESSIONS on. */
enum {
    OPT_NODE = 200,
    OPT_NODE_URL,
    OPT_NODE_TTL,
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
    OPT_REDIS = 512,
    OPT_REDIS_PREFIX
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
    { "redis", required_argument, NULL, OPT_REDIS },
    { "redis-prefix", required_argument, NULL, OPT_REDIS_PREFIX },
    { "node-url", required_argument, NULL, OPT_NODE_URL },
    { "node-ttl", required_argument, NULL, OPT_NODE_TTL },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 }
};

struct options {
    const char *socket_path;
    const char *secret_path;    /* -k; default <socket>.secret */
    uid_t uids[MAX_UIDS];
    size_t n_uids;
    siod_engine_config engine;
    int echo_engine;            /* -a echo-engine */
    int sio_options;            /* -n / -a for the Socket.IO layer */
    const char *log_path;
    const char *pid_path;
    int verbose;
    size_t max_link_output;     /* --max-link-output */
    size_t max_links;           /* --max-links */
    const char *redis_url;      /* --redis */
    const char *redis_prefix;   /* --redis-prefix */
    const char *node_url;       /* --node-url, or NULL */
    unsigned node_ttl_ms;       /* --node-ttl */
};

static struct event_base *base;
static struct event *flush_timer;
static int stopping;

static void usage(FILE *f)
{
    fprintf(f,
        "usage: siod -s SOCKET [-k SECRETFILE] [-u UID[,UID...]] [-i PING_INTERVAL_MS]\n"
        "            [-t PING_TIMEOUT_MS] [-c CONNECT_TIMEOUT_MS]\n"
        "            [-m MAX_PAYLOAD] [-R CLOSED_BYTES] [-n NSP=APP]...\n"
        "            [-a APP]... [-A APPDIR] [-l LOGFILE] [-p PIDFILE] [-v]\n"
        "            [--node=TAG] [--max-...=N]...\n"
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
        "  -A  application directory (default: <siod's directory>/apps)\n"
        "  -l  log file (default: stderr); SIGHUP reopens it\n"
        "  -p  pid file\n"
        "  -v  debug logging\n"
        "  --node=TAG  this node's tag in a cluster: 2 characters of\n"
        "      A-Z a-z 0-9 - _; every session id begins with it, and httpd\n"
        "      forwards a session's requests to the node its id names\n"
        "      (docs/cluster.md)\n"
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
        "cluster (docs/siod.md):\n"
        "  --redis=URL                     join the servers sharing Redis at\n"
        "                                  redis://[user:password@]host[:port][/db]\n"
        "                                  (@socket.io/redis-adapter, classic)\n"
        "  --redis-prefix=KEY              channel prefix (default socket.io)\n"
        "  --node-url=URL                  with --redis and --node: advertise\n"
        "                                  this node's base URL (http[s]://host[:port])\n"
        "                                  in Redis; httpd learns the others'\n"
        "                                  (docs/cluster.md)\n"
        "  --node-ttl=MS                   a node's entry lives MS without a\n"
        "                                  heartbeat (every MS/4; default %u)\n",
        DEF_MAX_SESSIONS, DEF_MAX_SESSIONS_PER_ADDR, DEF_MAX_HANDSHAKE_BYTES,
        DEF_MAX_ROOMS_PER_SOCKET, DEF_MAX_DYNAMIC_NSPS,
        DEF_MAX_NSPS_PER_SESSION, MAX_MAX_ATTACHMENTS, DEF_MAX_ATTACHMENTS,
        DEF_MAX_BINARY_BYTES, MIN_MAX_LINK_OUTPUT, DEF_MAX_LINK_OUTPUT,
        SIOD_LINKS_MAX_DEFAULT, SIOD_NODE_TTL_DEFAULT);
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
    default:
        return -EINVAL;
    }
}

/* Fills o from the command line. Returns 0, or -EINVAL after saying why
 * on stderr (a usage error). */
static int parse_args(int argc, char **argv, struct options *o)
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
    while ((c = getopt_long(argc, argv, "s:k:u:i:t:c:m:R:n:a:A:l:p:vh", long_opts,
                            NULL)) != -1) {
        if (c == OPT_REDIS || c == OPT_REDIS_PREFIX) {
            if (c == OPT_REDIS)
                o->redis_url = optarg;
            else
                o->redis_prefix = optarg;
            continue;
        }
        if (c >= OPT_MAX_SESSIONS) {
            if (parse_limit_opt(c, optarg, o) < 0)
                return -EINVAL;
            continue;
        }
        switch (c) {
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
    if (o->node_url != NULL &&
        (o->redis_url == NULL || siod_sid_node()[0] == '\0')) {
        fprintf(stderr, "siod: --node-url is advertised through Redis: "
                "it needs --redis and --node\n");
        return -EINVAL;
    }
    if (o->echo_engine && o->sio_options) {
        fprintf(stderr, "siod: -a echo-engine serves no Socket.IO "
                "namespaces: it cannot be combined with -n or other -a\n");
        return -EINVAL;
    }
    if (!o->echo_engine && siod_app_loader_conf_empty() &&
        siod_app_loader_conf_app("echo") < 0)
        return -EINVAL;
    return 0;
}

/* Writes siod's pid to path. Returns 0 or a negative errno. */
static int write_pidfile(const char *path)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    int rc = write(fd, buf, (size_t)n) == n ? 0 : -EIO;
    close(fd);
    return rc;
}

/* Reads (or creates) the relay secret and hands it to the links; *len
 * is its length. Returns 0, or a negative errno with why[0..cap) set. */
static int load_secret(const char *path, size_t *len, char *why, size_t cap)
{
    unsigned char key[SIO_RELAY_SECRET_MAX];
    int rc = siod_secret_load(path, key, len, why, cap);

    if (rc == 0) {
        rc = siod_link_set_secret(key, *len);
        if (rc < 0)
            siod_err_set(why, cap, rc, "%s", siod_strerror(rc));
    }
    memset(key, 0, sizeof key);
    return rc;
}

/* The node registry's table (siod_cluster_nodes_start) as a PEERS body
 * for the modules, which use it for ttl (the registry's TTL) unless it
 * comes again. */
static void on_nodes(void *ud, const char *const *tags,
                     const char *const *urls, size_t n)
{
    unsigned char body[SIO_RELAY_PEERS_HEAD_LEN +
                       SIO_RELAY_PEERS_MAX *
                           SIO_RELAY_PEER_LEN(SIO_RELAY_PEER_URL_MAX)];
    size_t len = SIO_RELAY_PEERS_HEAD_LEN, k = 0, w;
    const unsigned *ttl = ud;

    for (size_t i = 0; i < n && k < SIO_RELAY_PEERS_MAX; i++) {
        w = sio_relay_peer_put(body + len, tags[i], urls[i], strlen(urls[i]));
        len += w;
        k += w > 0;
    }
    sio_relay_peers_head(body, *ttl, (uint16_t)k);
    if (siod_links_set_peers(body, len) < 0)
        siod_log_limited(SIOD_LOG_WARN, "cluster: out of memory for the "
                         "peers table");
}

static void drained(void)
{
    event_base_loopbreak(base);
}

static void flush_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    siod_log(SIOD_LOG_WARN, "shutdown: links did not drain in %d s",
             SHUTDOWN_FLUSH_SECONDS);
    event_base_loopbreak(base);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    if (sig == SIGHUP) {
        int rc = siod_log_reopen();
        if (rc < 0)
            siod_log(SIOD_LOG_ERROR, "reopening the log: %s",
                     siod_strerror(rc));
        else
            siod_log(SIOD_LOG_INFO, "log reopened");
        return;
    }
    if (stopping) {
        siod_log(SIOD_LOG_WARN, "second %s: exiting now", strsignal(sig));
        event_base_loopbreak(base);
        return;
    }
    stopping = 1;
    siod_cluster_nodes_stop();
    siod_log(SIOD_LOG_INFO, "%s: closing %zu sessions on %u links",
             strsignal(sig), siod_sessions_count(), siod_links_count());
    siod_listen_close();
    siod_sessions_close_all("server shutting down", 1001);
    struct timeval tv = { SHUTDOWN_FLUSH_SECONDS, 0 };
    flush_timer = evtimer_new(base, flush_timeout_cb, NULL);
    if (flush_timer != NULL)
        evtimer_add(flush_timer, &tv);
    siod_links_drain(drained);
}

int main(int argc, char **argv)
{
    struct options o;
    struct event *sigs[3] = { NULL, NULL, NULL };
    static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };
    const siod_engine_app *app = NULL;
    int status = 1, sessions_up = 0, pid_written = 0;
    char why[512];
    size_t secret_len = 0;

    if (parse_args(argc, argv, &o) < 0) {
        siod_app_loader_destroy();
        return 2;
    }
    app = o.echo_engine ? &siod_app_echo_engine : &siod_app_socketio;
    int rc = siod_log_open(o.log_path, o.verbose);
    if (rc < 0) {
        fprintf(stderr, "siod: -l %s: %s\n", o.log_path, siod_strerror(rc));
        siod_app_loader_destroy();
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    if (!o.echo_engine && siod_app_loader_load() < 0)
        goto out;
    base = event_base_new();
    if (base == NULL) {
        siod_log(SIOD_LOG_ERROR, "cannot create the event loop");
        goto out;
    }
    for (int i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(base, signums[i], signal_cb, NULL);
        if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) < 0) {
            siod_log(SIOD_LOG_ERROR, "cannot install signal handlers");
            goto out;
        }
    }
    if (o.redis_url != NULL && !o.echo_engine) {
        rc = siod_cluster_start(base, o.redis_url, o.redis_prefix, why,
                                sizeof why);
        if (rc < 0) {
            siod_log(SIOD_LOG_ERROR, "--redis: %s", why);
            goto out;
        }
        siod_sio_set_adapter(&siod_adapter_redis);
        siod_log(SIOD_LOG_INFO, "cluster: Redis adapter, prefix %s, uid %s",
                 o.redis_prefix, siod_cluster_uid());
        if (siod_sid_node()[0] != '\0') {
            rc = siod_cluster_nodes_start(base, siod_sid_node(), o.node_url,
                                          o.node_ttl_ms, on_nodes,
                                          &o.node_ttl_ms, why, sizeof why);
            if (rc < 0) {
                siod_log(SIOD_LOG_ERROR, "--node-url: %s", why);
                goto out;
            }
            siod_log(SIOD_LOG_INFO, "cluster: node %s %s%s, entries live "
                     "%u ms", siod_sid_node(), o.node_url ? "advertised at "
                     : "learns its peers, not advertised (no --node-url)",
                     o.node_url ? o.node_url : "", o.node_ttl_ms);
        }
    }
    rc = siod_sessions_init(base, &o.engine, app);
    sessions_up = 1;
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "cannot start %s: %s", app->name,
                 siod_strerror(rc));
        goto out;
    }
    rc = load_secret(o.secret_path, &secret_len, why, sizeof why);
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "relay secret %s: %s", o.secret_path, why);
        goto out;
    }
    siod_log(SIOD_LOG_INFO, "relay secret %s: %zu bytes", o.secret_path,
             secret_len);
    siod_links_set_output_max(o.max_link_output);
    siod_links_set_max((unsigned)o.max_links);
    rc = siod_listen_open(base, o.socket_path, o.uids, o.n_uids, why,
                          sizeof why);
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "%s", why);
        goto out;
    }
    siod_log(SIOD_LOG_INFO, "listening on %s", o.socket_path);
    if (siod_sid_node()[0] != '\0')
        siod_log(SIOD_LOG_INFO, "node tag '%s': session ids begin with it",
                 siod_sid_node());
    if (o.pid_path != NULL) {
        rc = write_pidfile(o.pid_path);
        if (rc < 0) {
            siod_log(SIOD_LOG_ERROR, "pid file %s: %s", o.pid_path,
                     siod_strerror(rc));
            goto out;
        }
        pid_written = 1;
    }
    siod_log(SIOD_LOG_INFO, "siod started: app %s, pingInterval %u ms, "
             "pingTimeout %u ms, connectTimeout %u ms, maxPayload %zu, "
             "libevent %s (%s)", app->name, o.engine.ping_interval_ms,
             o.engine.ping_timeout_ms, o.engine.connect_timeout_ms,
             o.engine.max_payload, event_get_version(),
             event_base_get_method(base));
    siod_log(SIOD_LOG_INFO, "limits (0: none): sessions %zu, per address %zu, "
             "handshake bytes %zu, rooms per socket %zu, dynamic namespaces "
             "%zu, namespaces per session %zu, attachments %u, binary bytes "
             "%zu, link output %zu, links %zu", o.engine.max_sessions,
             o.engine.max_sessions_per_addr, o.engine.max_handshake_bytes,
             o.engine.max_rooms_per_socket, o.engine.max_dynamic_nsps,
             o.engine.max_nsps_per_session, o.engine.max_attachments,
             o.engine.max_binary_bytes, o.max_link_output, o.max_links);

    if (event_base_dispatch(base) < 0)
        siod_log(SIOD_LOG_ERROR, "event loop failed");
    else
        status = 0;

out:
    siod_listen_close();
    if (sessions_up)
        siod_sessions_close_all("server shutting down", 1001);
    siod_links_free_all();
    if (sessions_up)
        siod_sessions_cleanup();
    siod_app_loader_destroy();   /* if the layer never started */
    siod_cluster_nodes_stop();
    siod_cluster_stop();
    siod_links_peers_free();
    if (flush_timer != NULL)
        event_free(flush_timer);
    for (int i = 0; i < 3; i++)
        if (sigs[i] != NULL)
            event_free(sigs[i]);
    if (base != NULL)
        event_base_free(base);
    libevent_global_shutdown();
    if (pid_written)
        unlink(o.pid_path);
    siod_log(status == 0 ? SIOD_LOG_INFO : SIOD_LOG_ERROR, "siod exiting (%d)",
             status);
    siod_log_close();
    return status;
}
