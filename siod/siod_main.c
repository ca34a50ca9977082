/* siod's entry point: command line, logging, pid file, signals, and the
 * order of startup and shutdown around the libevent loop. siod always runs
 * in the foreground; scripts or systemd supervise it. */
#include "siod_engine.h"
#include "siod_link.h"
#include "siod_listen.h"
#include "siod_log.h"
#include "siod_secret.h"
#include "siod_session.h"
#include "siod_sio.h"

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
        "  -v  debug logging\n");
}

/* Parses a decimal in [min, max]; returns 0 or -1. */
static int parse_num(const char *s, unsigned long long min,
                     unsigned long long max, unsigned long long *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_uids(const char *arg, struct options *o)
{
    char *copy = strdup(arg);
    if (copy == NULL)
        return -1;
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
                rc = -1;
                break;
            }
            uid = pw->pw_uid;
        }
        if (o->n_uids == MAX_UIDS) {
            fprintf(stderr, "siod: -u: at most %d uids\n", MAX_UIDS);
            rc = -1;
            break;
        }
        o->uids[o->n_uids++] = uid;
    }
    free(copy);
    return rc;
}

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
    while ((c = getopt(argc, argv, "s:k:u:i:t:c:m:R:n:a:A:l:p:vh")) != -1) {
        switch (c) {
        case 's':
            o->socket_path = optarg;
            break;
        case 'k':
            o->secret_path = optarg;
            break;
        case 'u':
            if (parse_uids(optarg, o) < 0)
                return -1;
            break;
        case 'i':
        case 't':
        case 'c':
            if (parse_num(optarg, 1, 86400000, &v) < 0) {
                fprintf(stderr, "siod: -%c: expected 1..86400000 ms\n", c);
                return -1;
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
                return -1;
            }
            o->engine.max_payload = (size_t)v;
            break;
        case 'R':
            if (parse_num(optarg, 0, 1ull << 40, &v) < 0) {
                fprintf(stderr, "siod: -R: expected a byte count\n");
                return -1;
            }
            o->engine.closed_max_bytes = (size_t)v;
            break;
        case 'n':
            if (siod_sio_conf_nsp(optarg) < 0)
                return -1;
            o->sio_options = 1;
            break;
        case 'a':
            if (strcmp(optarg, siod_app_echo_engine.name) == 0) {
                o->echo_engine = 1;
            } else {
                if (siod_sio_conf_app(optarg) < 0)
                    return -1;
                o->sio_options = 1;
            }
            break;
        case 'A':
            siod_sio_conf_appdir(optarg);
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
            return -1;
        }
    }
    if (optind != argc || o->socket_path == NULL) {
        usage(stderr);
        return -1;
    }
    if (o->secret_path == NULL) {
        static char def[4096];
        if (snprintf(def, sizeof def, "%s.secret", o->socket_path) >=
            (int)sizeof def) {
            fprintf(stderr, "siod: -s: path too long\n");
            return -1;
        }
        o->secret_path = def;
    }
    if (o->echo_engine && o->sio_options) {
        fprintf(stderr, "siod: -a echo-engine serves no Socket.IO "
                "namespaces: it cannot be combined with -n or other -a\n");
        return -1;
    }
    if (!o->echo_engine && siod_sio_conf_empty() &&
        siod_sio_conf_app("echo") < 0)
        return -1;
    return 0;
}

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

/* Reads (or creates) the relay secret and hands it to the links. Returns
 * 0, or -1 after logging why siod cannot start. */
static int load_secret(const char *path)
{
    unsigned char key[SIO_RELAY_SECRET_MAX];
    size_t len = 0;
    char err[256] = "";
    int rc = siod_secret_load(path, key, &len, err, sizeof err);

    if (rc == 0)
        rc = siod_link_set_secret(key, len);
    memset(key, 0, sizeof key);
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "relay secret %s: %s", path,
                 rc == -EINVAL && err[0] == '\0' ? strerror(-rc) : err);
        return -1;
    }
    siod_log(SIOD_LOG_INFO, "relay secret %s: %zu bytes", path, len);
    return 0;
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
            siod_log(SIOD_LOG_ERROR, "reopening the log: %s", strerror(-rc));
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

    if (parse_args(argc, argv, &o) < 0) {
        siod_sio_apps_destroy();
        return 2;
    }
    app = o.echo_engine ? &siod_app_echo_engine : &siod_app_socketio;
    int rc = siod_log_open(o.log_path, o.verbose);
    if (rc < 0) {
        fprintf(stderr, "siod: -l %s: %s\n", o.log_path, strerror(-rc));
        siod_sio_apps_destroy();
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    if (!o.echo_engine && siod_sio_load() < 0)
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
    rc = siod_sessions_init(base, &o.engine, app);
    sessions_up = 1;
    if (rc < 0) {
        siod_log(SIOD_LOG_ERROR, "cannot start %s: %s", app->name,
                 strerror(-rc));
        goto out;
    }
    if (load_secret(o.secret_path) < 0)
        goto out;
    if (siod_listen_open(base, o.socket_path, o.uids, o.n_uids) < 0)
        goto out;
    if (o.pid_path != NULL) {
        rc = write_pidfile(o.pid_path);
        if (rc < 0) {
            siod_log(SIOD_LOG_ERROR, "pid file %s: %s", o.pid_path,
                     strerror(-rc));
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
    siod_sio_apps_destroy();   /* if the layer never started */
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
