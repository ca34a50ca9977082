/* siobench's command line: the options, their checks and defaults per
 * mode, and the server URL turned into the connect address, the Host header
 * and the request targets (siobench_main.c calls sb_parse_args, and
 * sb_parse_url again in a worker of another --url). */
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "siobench.h"

const char *const sb_mode_names[M_NMODES] = {
    "hold", "bcast", "ack", "recover", "lpsession", "lphold"
};

static void usage(FILE *f)
{
    fputs(
"usage: siobench MODE [options]      (or --mode MODE)\n"
"  WebSocket:    hold | bcast | ack | recover (connected as by hold; a\n"
"                client whose connection ends reconnects as socket.io-client\n"
"                does, with its pid and last offset: recovered or not)\n"
"  long-polling: lpsession (whole sessions: open, CONNECT, an acked echo,\n"
"                close, again) | lphold (clients each keeping a GET pending)\n"
"  -n, --clients N        clients in all (100); lpsession: sessions at once\n"
"  --procs P              worker processes, N/P clients each (1)\n"
"  --url URL              http://HOST:PORT/PATH (http://127.0.0.1:3000/socket.io/);\n"
"                         repeatable: worker i uses the (i mod count)-th, so\n"
"                         --procs must be a multiple of the count\n"
"  --src A-B|A,B,...      IPv4 source addresses to bind, round-robin\n"
"  --duration S           seconds to measure once all clients are up (10)\n"
"  --rate R               hold, lphold: connects/s; bcast: broadcasts/s (0: window\n"
"                         only); ack: echoes/s in all (hold 0, bcast 0, ack 1000)\n"
"  --connect-rate R       connects/s while opening (0: bounded by --max-pending)\n"
"  --max-pending M        handshakes under way per process (200)\n"
"  --window K             bcast: broadcasts in flight (1)\n"
"  --senders S            bcast: clients taking turns to emit, 1..16 (1)\n"
"  --size B               ack, lpsession: bytes of the echoed string (16)\n"
"  --timeout S            bcast/ack: when a broadcast or ack counts as lost;\n"
"                         long-polling: a POST's answer, a GET's beyond the\n"
"                         server's pingInterval + pingTimeout (5);\n"
"                         recover: from the epoch until a client counts\n"
"                         as lost (30)\n"
"  --connect-timeout S    per client, TCP through Socket.IO connect (10)\n"
"  --retry S              WebSocket: a client refused (an HTTP status instead\n"
"                         of 101) tries again after S seconds, within\n"
"                         --connect-timeout of its first try (0: never)\n"
"  --drain S              bcast/ack/lpsession: wait after the window for\n"
"                         stragglers; recover: after the last client back (2)\n"
"  --max-message B        largest WebSocket message accepted (1048576)\n"
"  --t0-file PATH         recover: holds the epoch, CLOCK_REALTIME ms (waited\n"
"                         for up to --duration after the clients resolved);\n"
"                         the times of return count from it\n"
"  --expect EVENT         recover: count this event received after the\n"
"                         return (once, twice or more per client)\n"
"  --reconnect-delay S    recover: the first reconnection's delay, x(1+-0.5),\n"
"                         doubling per refusal up to 5 times S (1)\n"
"  --cpu NAME=PID         report the CPU time PID and its descendants spend\n"
"                         in the window, per ack, delivery or session\n"
"                         (recover: from the epoch to the last client back)\n"
"                         (repeatable)\n"
"  -q, --quiet            no per-second lines\n", f);
}

static double num_arg(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    double d;

    if (!v)
        sb_die("%s needs a value", opt);
    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= lo && d <= hi))
        sb_die("%s: bad value '%s' (expected %g..%g)", opt, v, lo, hi);
    return d;
}

static void parse_src(struct cfg *cfg, const char *v)
{
    char buf[1024], *tok, *save = NULL, *dash;
    struct in_addr a, b;
    uint32_t x, lo, hi;
    int cap = 0;

    if (strlen(v) >= sizeof(buf))
        sb_die("--src too long");
    strcpy(buf, v);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        dash = strchr(tok, '-');
        if (dash)
            *dash = '\0';
        if (inet_pton(AF_INET, tok, &a) != 1 ||
            (dash && inet_pton(AF_INET, dash + 1, &b) != 1))
            sb_die("--src: bad IPv4 address or range '%s'", v);
        lo = ntohl(a.s_addr);
        hi = dash ? ntohl(b.s_addr) : lo;
        if (hi < lo || hi - lo > 65535)
            sb_die("--src: bad range '%s'", v);
        for (x = lo;; x++) {
            if (cfg->nsrc == cap) {
                cap = cap ? cap * 2 : 16;
                cfg->src = realloc(cfg->src, (size_t)cap * sizeof(*cfg->src));
                if (!cfg->src)
                    sb_die("out of memory");
            }
            memset(&cfg->src[cfg->nsrc], 0, sizeof(*cfg->src));
            cfg->src[cfg->nsrc].sin_family = AF_INET;
            cfg->src[cfg->nsrc].sin_addr.s_addr = htonl(x);
            cfg->nsrc++;
            if (x == hi)
                break;
        }
    }
    if (!cfg->nsrc)
        sb_die("--src: no address");
}

/* NAME=PID for --cpu; the last slot stays for the client itself. */
static void parse_cpu(struct cfg *cfg, const char *v)
{
    const char *eq = v ? strchr(v, '=') : NULL;
    struct cpu_target *t;
    char *end;
    long pid;

    if (!eq || eq == v || (size_t)(eq - v) >= sizeof(t->name))
        sb_die("--cpu needs NAME=PID (a name of 1..31 characters)");
    if (cfg->ncpu >= CPU_MAX - 1)
        sb_die("--cpu: at most %d targets", CPU_MAX - 1);
    pid = strtol(eq + 1, &end, 10);
    if (end == eq + 1 || *end || pid <= 0)
        sb_die("--cpu: bad pid in '%s'", v);
    if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
        (size_t)(eq - v))
        sb_die("--cpu: NAME may hold letters, digits, '_' and '-' only");
    t = &cfg->cpu[cfg->ncpu++];
    memcpy(t->name, v, (size_t)(eq - v));
    t->name[eq - v] = '\0';
    t->pid = (pid_t)pid;
}

/* See siobench.h. */
void sb_parse_url(struct cfg *cfg)
{
    const char *u = cfg->url, *p, *hs, *he, *ps;
    char host[256], port[16] = "80";
    struct addrinfo hints, *res;
    int rc;

    if (strncmp(u, "http://", 7) != 0)
        sb_die("--url must start with http:// (no TLS): '%s'", u);
    hs = u + 7;
    ps = strchr(hs, '/');
    if (!ps)
        ps = hs + strlen(hs);
    if (*hs == '[') {
        he = memchr(hs, ']', (size_t)(ps - hs));
        if (!he)
            sb_die("--url: bad IPv6 host");
        p = he + 1;
        hs++;
    } else {
        he = memchr(hs, ':', (size_t)(ps - hs));
        if (!he)
            he = ps;
        p = he;
    }
    if ((size_t)(he - hs) >= sizeof(host) || he == hs)
        sb_die("--url: bad host");
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    if (*p == ':') {
        if ((size_t)(ps - p - 1) >= sizeof(port) || ps - p - 1 == 0)
            sb_die("--url: bad port");
        memcpy(port, p + 1, (size_t)(ps - p - 1));
        port[ps - p - 1] = '\0';
    }
    if ((size_t)(ps - (u + 7)) >= sizeof(cfg->host))
        sb_die("--url: host too long");
    memcpy(cfg->host, u + 7, (size_t)(ps - (u + 7)));
    cfg->host[ps - (u + 7)] = '\0';
    if (snprintf(cfg->path, sizeof(cfg->path), "%s%sEIO=4&transport=websocket",
                 *ps ? ps : "/socket.io/", strchr(ps, '?') ? "&" : "?") >=
        (int)sizeof(cfg->path) ||
        snprintf(cfg->poll_path, sizeof(cfg->poll_path), "%s%sEIO=4&transport=polling",
                 *ps ? ps : "/socket.io/", strchr(ps, '?') ? "&" : "?") >=
        (int)sizeof(cfg->poll_path))
        sb_die("--url: path too long");
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        sb_die("--url: %s: %s", host, gai_strerror(rc));
    memcpy(&cfg->dst, res->ai_addr, res->ai_addrlen);
    cfg->dstlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (cfg->nsrc && cfg->dst.ss_family != AF_INET)
        sb_die("--src needs an IPv4 server address");
}

void sb_parse_args(struct cfg *cfg, int argc, char **argv)
{
    int i, mode_set = 0, rate_set = 0, timeout_set = 0;
    const char *a, *v;

    cfg->mode = M_HOLD;
    cfg->clients = 100;
    cfg->procs = 1;
    cfg->duration = 10;
    cfg->window = 1;
    cfg->senders = 1;
    cfg->size = 16;
    cfg->connect_timeout = 10;
    cfg->timeout = 5;
    cfg->drain = 2;
    cfg->max_pending = 200;
    cfg->max_message = 1 << 20;
    cfg->reconnect_delay = 1;
    strcpy(cfg->url, "http://127.0.0.1:3000/socket.io/");
    for (i = 1; i < argc; i++) {
        a = argv[i];
        v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-' || !strcmp(a, "--mode")) {
            if (a[0] == '-') {
                a = v;
                i++;
            }
            if (!a)
                sb_die("--mode needs a value");
            for (cfg->mode = 0; cfg->mode < M_NMODES; cfg->mode++)
                if (!strcmp(a, sb_mode_names[cfg->mode]))
                    break;
            if (cfg->mode == M_NMODES)
                sb_die("unknown mode '%s' (hold, bcast, ack, recover, lpsession, lphold)", a);
            mode_set = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            cfg->quiet = 1;
            continue;
        }
        i++;
        if (!strcmp(a, "-n") || !strcmp(a, "--clients"))
            cfg->clients = (long)num_arg(a, v, 1, 10000000);
        else if (!strcmp(a, "--procs"))
            cfg->procs = (int)num_arg(a, v, 1, MAX_PROCS);
        else if (!strcmp(a, "--url")) {
            if (!v || strlen(v) >= sizeof(cfg->url))
                sb_die("--url needs a value");
            if (cfg->nurls >= MAX_URLS)
                sb_die("--url: at most %d", MAX_URLS);
            strcpy(cfg->urls[cfg->nurls++], v);
        } else if (!strcmp(a, "--src")) {
            if (!v)
                sb_die("--src needs a value");
            parse_src(cfg, v);
        } else if (!strcmp(a, "--duration"))
            cfg->duration = num_arg(a, v, 0, 1e7);
        else if (!strcmp(a, "--rate")) {
            cfg->rate = num_arg(a, v, 0, 1e9);
            rate_set = 1;
        } else if (!strcmp(a, "--connect-rate"))
            cfg->connect_rate = num_arg(a, v, 0, 1e9);
        else if (!strcmp(a, "--max-pending"))
            cfg->max_pending = (int)num_arg(a, v, 1, 1000000);
        else if (!strcmp(a, "--window"))
            cfg->window = (int)num_arg(a, v, 1, MAX_WINDOW);
        else if (!strcmp(a, "--senders"))
            cfg->senders = (int)num_arg(a, v, 1, 16);
        else if (!strcmp(a, "--size"))
            cfg->size = (long)num_arg(a, v, 0, MAX_SIZE);
        else if (!strcmp(a, "--timeout")) {
            cfg->timeout = num_arg(a, v, 0.001, 1e6);
            timeout_set = 1;
        } else if (!strcmp(a, "--t0-file")) {
            if (!v || !*v || strlen(v) >= sizeof(cfg->t0_file))
                sb_die("--t0-file needs a path");
            strcpy(cfg->t0_file, v);
        } else if (!strcmp(a, "--expect")) {
            if (!v || !*v || strlen(v) >= sizeof(cfg->expect) || strpbrk(v, "\"\\"))
                sb_die("--expect needs an event name (1..63 characters, no quote)");
            strcpy(cfg->expect, v);
        } else if (!strcmp(a, "--reconnect-delay"))
            cfg->reconnect_delay = num_arg(a, v, 0.001, 3600);
        else if (!strcmp(a, "--connect-timeout"))
            cfg->connect_timeout = num_arg(a, v, 0.001, 1e6);
        else if (!strcmp(a, "--retry"))
            cfg->retry = num_arg(a, v, 0.001, 1e6);
        else if (!strcmp(a, "--drain"))
            cfg->drain = num_arg(a, v, 0, 1e6);
        else if (!strcmp(a, "--max-message"))
            cfg->max_message = (size_t)num_arg(a, v, 1024, 1 << 30);
        else if (!strcmp(a, "--cpu"))
            parse_cpu(cfg, v);
        else {
            usage(stderr);
            sb_die("unknown option '%s'", a);
        }
    }
    if (!mode_set) {
        usage(stderr);
        sb_die("no mode given");
    }
    if (cfg->procs > cfg->clients)
        cfg->procs = (int)cfg->clients;
    if (cfg->mode == M_HOLD || cfg->mode == M_LPHOLD) {
        if (rate_set && cfg->connect_rate == 0)
            cfg->connect_rate = cfg->rate;
        cfg->drain = 0;
    } else if (cfg->mode == M_ACK && !rate_set) {
        cfg->rate = 1000;
    } else if (cfg->mode == M_RECOVER) {
        if (!cfg->t0_file[0])
            sb_die("recover needs --t0-file");
        if (!timeout_set)
            cfg->timeout = 30;
    }
    if (!cfg->nurls)
        strcpy(cfg->urls[cfg->nurls++], cfg->url);
    if (cfg->procs % cfg->nurls)
        sb_die("--procs (%d) must be a multiple of the %d --url, so that each "
               "gets the same share of clients", cfg->procs, cfg->nurls);
    for (i = cfg->nurls - 1; i >= 0; i--) {     /* checks each, keeps the first */
        strcpy(cfg->url, cfg->urls[i]);
        sb_parse_url(cfg);
    }
    /* siobench's own processes (the parent and its workers) */
    strcpy(cfg->cpu[cfg->ncpu].name, "client");
    cfg->cpu[cfg->ncpu++].pid = getpid();
}
