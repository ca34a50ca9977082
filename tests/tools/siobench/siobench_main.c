/* siobench: a load generator of raw Socket.IO v4 (Engine.IO v4) clients,
 * thousands per process on one epoll loop: WebSocket (hold, bcast, ack) or
 * long-polling (lpsession, lphold). This file is the parent: it parses the
 * options, forks the worker processes, sets the shared schedule, samples
 * the servers' CPU at the window's edges and aggregates the results into
 * per-second lines and one final JSON line (see docs/benchmarks.md). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "siobench.h"

static const char *const mode_names[] = { "hold", "bcast", "ack", "lpsession", "lphold" };
static const char *const why_names[] = {
    "connect", "timeout", "http", "ws", "eio", "sio", "closed", "io", "status", "hangup"
};
_Static_assert(sizeof(mode_names) / sizeof(mode_names[0]) == M_NMODES, "a name per mode");
_Static_assert(sizeof(why_names) / sizeof(why_names[0]) == W_N, "a name per reason");

/* ---- parent ---- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted++;
}

static void usage(FILE *f)
{
    fputs(
"usage: siobench MODE [options]      (or --mode MODE)\n"
"  WebSocket:    hold | bcast | ack\n"
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
"                         server's pingInterval + pingTimeout (5)\n"
"  --connect-timeout S    per client, TCP through Socket.IO connect (10)\n"
"  --retry S              WebSocket: a client refused (an HTTP status instead\n"
"                         of 101) tries again after S seconds, within\n"
"                         --connect-timeout of its first try (0: never)\n"
"  --drain S              bcast/ack/lpsession: wait after the window for\n"
"                         stragglers (2)\n"
"  --max-message B        largest WebSocket message accepted (1048576)\n"
"  --cpu NAME=PID         report the CPU time PID and its descendants spend\n"
"                         in the window, per ack, delivery or session\n"
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

/* cfg->url, http://host[:port][/path], into the connect address, Host and
 * request targets. */
static void parse_url(struct cfg *cfg)
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

static void parse_args(struct cfg *cfg, int argc, char **argv)
{
    int i, mode_set = 0, rate_set = 0;
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
                if (!strcmp(a, mode_names[cfg->mode]))
                    break;
            if (cfg->mode == M_NMODES)
                sb_die("unknown mode '%s' (hold, bcast, ack, lpsession, lphold)", a);
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
        else if (!strcmp(a, "--timeout"))
            cfg->timeout = num_arg(a, v, 0.001, 1e6);
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
    }
    if (!cfg->nurls)
        strcpy(cfg->urls[cfg->nurls++], cfg->url);
    if (cfg->procs % cfg->nurls)
        sb_die("--procs (%d) must be a multiple of the %d --url, so that each "
               "gets the same share of clients", cfg->procs, cfg->nurls);
    for (i = cfg->nurls - 1; i >= 0; i--) {     /* checks each, keeps the first */
        strcpy(cfg->url, cfg->urls[i]);
        parse_url(cfg);
    }
    /* siobench's own processes (the parent and its workers) */
    strcpy(cfg->cpu[cfg->ncpu].name, "client");
    cfg->cpu[cfg->ncpu++].pid = getpid();
}

static void raise_nofile(const struct cfg *cfg)
{
    struct rlimit rl;
    long per = (cfg->clients + cfg->procs - 1) / cfg->procs;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)per + 32 > rl.rlim_cur)
        sb_die("%ld clients per process exceed the open-file limit %llu: "
            "raise --procs", per, (unsigned long long)rl.rlim_cur);
}

static void sum_stats(struct wstats *dst, const struct wstats *src, int n)
{
    const uint64_t *s;
    uint64_t *d = (uint64_t *)dst;
    size_t words = sizeof(*dst) / sizeof(uint64_t), j;
    int i;

    memset(dst, 0, sizeof(*dst));
    for (i = 0; i < n; i++) {
        s = (const uint64_t *)&src[i];
        for (j = 0; j < words; j++)
            d[j] += s[j];
    }
    /* maxima are not sums */
    dst->max_connect_us = dst->max_lat_us = dst->max_lag_us = 0;
    for (i = 0; i < n; i++) {
        if (src[i].max_lag_us > dst->max_lag_us)
            dst->max_lag_us = src[i].max_lag_us;
        if (src[i].max_connect_us > dst->max_connect_us)
            dst->max_connect_us = src[i].max_connect_us;
        if (src[i].max_lat_us > dst->max_lat_us)
            dst->max_lat_us = src[i].max_lat_us;
    }
}

static void print_line(const struct cfg *cfg, const struct wstats *t,
                       const struct wstats *prev, double secs, const char *phase)
{
    switch (cfg->mode) {
    case M_LPSESSION:
        printf("t=%4.0fs %-10s sessions %7llu (+%llu/s) failed %5llu "
               "requests %8llu (+%llu/s) connections %6llu\n", secs, phase,
               (unsigned long long)t->sessions,
               (unsigned long long)(t->sessions - prev->sessions),
               (unsigned long long)t->failed, (unsigned long long)t->requests,
               (unsigned long long)(t->requests - prev->requests),
               (unsigned long long)t->conns);
        break;
    case M_HOLD:
    case M_LPHOLD:
        printf("t=%4.0fs %-10s connected %6llu pending %5llu failed %5llu "
               "dropped %5llu pings %7llu (+%llu/s)\n", secs, phase,
               (unsigned long long)t->connected, (unsigned long long)t->pending,
               (unsigned long long)t->failed, (unsigned long long)t->dropped,
               (unsigned long long)t->pings,
               (unsigned long long)(t->pings - prev->pings));
        break;
    case M_BCAST:
        printf("t=%4.0fs %-10s connected %6llu failed %5llu dropped %5llu "
               "bcasts %7llu (+%llu/s) deliveries %9llu (+%llu/s)\n", secs, phase,
               (unsigned long long)t->connected, (unsigned long long)t->failed,
               (unsigned long long)t->dropped, (unsigned long long)t->bcasts,
               (unsigned long long)(t->bcasts - prev->bcasts),
               (unsigned long long)t->ticks,
               (unsigned long long)(t->ticks - prev->ticks));
        break;
    default:
        printf("t=%4.0fs %-10s connected %6llu failed %5llu dropped %5llu "
               "acks %8llu (+%llu/s) lost %llu skipped %llu\n", secs, phase,
               (unsigned long long)t->connected, (unsigned long long)t->failed,
               (unsigned long long)t->dropped, (unsigned long long)t->acks,
               (unsigned long long)(t->acks - prev->acks),
               (unsigned long long)t->ack_lost, (unsigned long long)t->skipped);
        break;
    }
    fflush(stdout);
}

/* CPU samples of the --cpu targets at the window's start and end */
struct cpuwin {
    long long at_go[CPU_MAX], at_stop[CPU_MAX];
    int have_go, have_stop;
};

/* What one "op" of the mode is, for CPU per op, and how many the window
 * saw; NULL name for modes with none. */
static const char *op_name(const struct cfg *cfg, const struct wstats *t,
                           uint64_t *ops)
{
    switch (cfg->mode) {
    case M_ACK:
        *ops = t->acks_window;
        return "ack";
    case M_BCAST:
        *ops = t->ticks_window;
        return "delivery";
    case M_LPSESSION:
        *ops = t->sessions_window;
        return "session";
    default:
        *ops = 0;
        return NULL;
    }
}

/* ms of CPU target i spent in the window; -1 when not measured. */
static double cpu_delta_ms(const struct cpuwin *cw, int i)
{
    if (!cw->have_go || !cw->have_stop || cw->at_go[i] < 0 || cw->at_stop[i] < 0)
        return -1;
    return sb_cpu_ms(cw->at_stop[i] - cw->at_go[i]);
}

/* The CPU lines of the text report and, json=1, the JSON fields
 * "cpu_ms":{...},"cpu_us_per_op":{...} (-1 where not measured). */
static void print_cpu(const struct cfg *cfg, const struct wstats *t,
                      const struct cpuwin *cw, int json)
{
    uint64_t ops;
    const char *op = op_name(cfg, t, &ops);
    double ms;
    int i;

    if (!json) {
        printf("CPU in the window:");
        for (i = 0; i < cfg->ncpu; i++) {
            ms = cpu_delta_ms(cw, i);
            if (ms < 0)
                printf(" %s gone", cfg->cpu[i].name);
            else if (op && ops)
                printf(" %s %.0f ms (%.1f us/%s)", cfg->cpu[i].name, ms,
                       ms * 1000.0 / (double)ops, op);
            else
                printf(" %s %.0f ms", cfg->cpu[i].name, ms);
            printf(i + 1 < cfg->ncpu ? ";" : "\n");
        }
        return;
    }
    printf("\"cpu_op\":\"%s\",\"cpu_ms\":{", op ? op : "");
    for (i = 0; i < cfg->ncpu; i++)
        printf("%s\"%s\":%.1f", i ? "," : "", cfg->cpu[i].name, cpu_delta_ms(cw, i));
    printf("},\"cpu_us_per_op\":{");
    for (i = 0; i < cfg->ncpu; i++) {
        ms = cpu_delta_ms(cw, i);
        printf("%s\"%s\":%.2f", i ? "," : "", cfg->cpu[i].name,
               ms >= 0 && ops ? ms * 1000.0 / (double)ops : -1.0);
    }
    printf("},");
}

static void report(const struct cfg *cfg, const struct wstats *t,
                   uint64_t hist[H_N][HBUCKETS], double dur, int dead,
                   const struct cpuwin *cw)
{
    double cmax = (double)t->max_connect_us / 1000.0;
    double pmax = (double)t->max_lat_us / 1000.0;
    /* a bucket's middle may lie past the largest value seen */
    double c50 = fmin(sb_hist_quantile(hist[H_CONNECT], 0.50), cmax);
    double c99 = fmin(sb_hist_quantile(hist[H_CONNECT], 0.99), cmax);
    double p50 = fmin(sb_hist_quantile(hist[H_LAT], 0.50), pmax);
    double p90 = fmin(sb_hist_quantile(hist[H_LAT], 0.90), pmax);
    double p99 = fmin(sb_hist_quantile(hist[H_LAT], 0.99), pmax);
    double s50 = fmin(sb_hist_quantile(hist[H_LAT_SENDER], 0.50), pmax);
    double s99 = fmin(sb_hist_quantile(hist[H_LAT_SENDER], 0.99), pmax);
    double o50 = fmin(sb_hist_quantile(hist[H_LAT_OTHER], 0.50), pmax);
    double o99 = fmin(sb_hist_quantile(hist[H_LAT_OTHER], 0.99), pmax);
    double dps = dur > 0 ? (double)t->ticks_window / dur : 0;
    double aps = dur > 0 ? (double)t->acks_window / dur : 0;
    double sps = dur > 0 ? (double)t->sessions_window / dur : 0;
    int i;

    printf("== %s: %ld clients, %d procs, %.1f s measured\n",
           mode_names[cfg->mode], cfg->clients, cfg->procs, dur);
    printf("connect: %llu up, %llu failed, %llu dropped, %llu held at the end; "
           "handshake p50 %.2f ms p99 %.2f ms max %.2f ms",
           (unsigned long long)t->established, (unsigned long long)t->failed,
           (unsigned long long)t->dropped, (unsigned long long)t->held,
           c50, c99, cmax);
    if (t->retried)
        printf("; %llu refusals retried", (unsigned long long)t->retried);
    printf("\n");
    if (t->failed || t->dropped) {
        printf("errors (failed+dropped):");
        for (i = 0; i < W_N; i++)
            if (t->failk[i] + t->dropk[i])
                printf(" %s %llu", why_names[i],
                       (unsigned long long)(t->failk[i] + t->dropk[i]));
        printf("\n");
    }
    if (cfg->mode == M_LPSESSION) {
        printf("sessions %llu completed, %.0f/s in the window, %llu failed, "
               "%llu unfinished at the end\n",
               (unsigned long long)t->sessions, sps, (unsigned long long)t->failed,
               (unsigned long long)t->unfinished);
        printf("session time (open to the close's answer): p50 %.2f ms p90 %.2f ms "
               "p99 %.2f ms max %.2f ms\n", p50, p90, p99, pmax);
    }
    if (IS_POLLING(cfg->mode))
        printf("requests %llu (%llu failed), TCP connections %llu, closed by the "
               "server between requests %llu\n", (unsigned long long)t->requests,
               (unsigned long long)(t->failed + t->dropped), (unsigned long long)t->conns,
               (unsigned long long)t->server_closes);
    if (cfg->mode == M_HOLD || cfg->mode == M_LPHOLD) {
        printf("pings answered %llu; alive %llu (answered a ping in the last "
               "pingInterval+pingTimeout), not pinged yet %llu\n",
               (unsigned long long)t->pings, (unsigned long long)t->alive,
               (unsigned long long)t->unpinged);
        if (t->unpinged)
            printf("(clients not pinged yet were connected for less than the "
                   "server's pingInterval: hold longer to test heartbeats)\n");
    } else if (cfg->mode == M_BCAST) {
        printf("bcasts %llu (%llu timed out), deliveries %llu in the window = "
               "%.0f/s, expected %llu, lost %llu, late %llu\n",
               (unsigned long long)t->bcasts, (unsigned long long)t->bcast_timeouts,
               (unsigned long long)t->ticks_window, dps,
               (unsigned long long)t->expected, (unsigned long long)t->lost,
               (unsigned long long)t->late);
        printf("tick latency (emit to receipt): p50 %.2f ms p90 %.2f ms "
               "p99 %.2f ms max %.2f ms\n", p50, p90, p99, pmax);
        if (cfg->nurls > 1)
            printf("tick latency by URL: the senders' (%s) p50 %.2f ms p99 %.2f ms; "
                   "the others' p50 %.2f ms p99 %.2f ms\n", cfg->urls[0], s50, s99, o50, o99);
    } else if (cfg->mode == M_ACK) {
        printf("acks %llu of %llu sent, %.0f/s in the window, lost %llu, "
               "skipped %llu (no free client)\n",
               (unsigned long long)t->acks, (unsigned long long)t->acks_sent, aps,
               (unsigned long long)t->ack_lost, (unsigned long long)t->skipped);
        printf("ack round trip (open loop, from each echo's scheduled send): "
               "p50 %.2f ms p90 %.2f ms p99 %.2f ms max %.2f ms; sends behind "
               "schedule by at most %.2f ms\n",
               p50, p90, p99, pmax, (double)t->max_lag_us / 1000.0);
    }
    print_cpu(cfg, t, cw, 0);
    if (dead)
        printf("WARNING: %d worker(s) died without a report\n", dead);
    printf("{\"mode\":\"%s\",\"clients\":%ld,\"procs\":%d,\"duration_s\":%.3f,"
           "\"connected\":%llu,\"failed\":%llu,\"dropped\":%llu,\"held\":%llu,"
           "\"retried\":%llu,\"alive\":%llu,\"unpinged\":%llu,\"pings\":%llu,"
           "\"connect_p50_ms\":%.3f,\"connect_p99_ms\":%.3f,"
           "\"bcasts\":%llu,\"bcast_timeouts\":%llu,\"deliveries\":%llu,"
           "\"deliveries_per_s\":%.1f,\"expected\":%llu,\"lost\":%llu,\"late\":%llu,"
           "\"acks_sent\":%llu,\"acks\":%llu,\"acks_per_s\":%.1f,\"ack_lost\":%llu,"
           "\"skipped\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"dead_workers\":%d,",
           mode_names[cfg->mode], cfg->clients, cfg->procs, dur,
           (unsigned long long)t->established, (unsigned long long)t->failed,
           (unsigned long long)t->dropped, (unsigned long long)t->held,
           (unsigned long long)t->retried,
           (unsigned long long)t->alive, (unsigned long long)t->unpinged,
           (unsigned long long)t->pings, c50, c99,
           (unsigned long long)t->bcasts, (unsigned long long)t->bcast_timeouts,
           (unsigned long long)t->ticks_window, dps,
           (unsigned long long)t->expected, (unsigned long long)t->lost,
           (unsigned long long)t->late, (unsigned long long)t->acks_sent,
           (unsigned long long)t->acks, aps, (unsigned long long)t->ack_lost,
           (unsigned long long)t->skipped, p50, p90, p99, pmax, dead);
    printf("\"acks_window\":%llu,\"max_lag_ms\":%.3f,",
           (unsigned long long)t->acks_window, (double)t->max_lag_us / 1000.0);
    printf("\"urls\":%d,\"sender_url_p50_ms\":%.3f,\"sender_url_p99_ms\":%.3f,"
           "\"other_url_p50_ms\":%.3f,\"other_url_p99_ms\":%.3f,", cfg->nurls,
           s50, s99, o50, o99);
    printf("\"sessions\":%llu,\"sessions_window\":%llu,\"sessions_per_s\":%.1f,"
           "\"unfinished\":%llu,\"requests\":%llu,\"requests_failed\":%llu,"
           "\"conns\":%llu,\"server_closes\":%llu,",
           (unsigned long long)t->sessions, (unsigned long long)t->sessions_window, sps,
           (unsigned long long)t->unfinished, (unsigned long long)t->requests,
           (unsigned long long)(IS_POLLING(cfg->mode) ? t->failed + t->dropped : 0),
           (unsigned long long)t->conns, (unsigned long long)t->server_closes);
    print_cpu(cfg, t, cw, 1);
    printf("\"errors\":{");
    for (i = 0; i < W_N; i++)
        printf("%s\"%s\":%llu", i ? "," : "", why_names[i],
               (unsigned long long)(t->failk[i] + t->dropk[i]));
    printf("}}\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static struct cfg cfg;
    static uint64_t hist[H_N][HBUCKETS];
    static struct wstats last[MAX_PROCS], total, prev;
    static unsigned char rbuf[sizeof(struct msg) * 16];
    static int ready[MAX_PROCS], final[MAX_PROCS], exited[MAX_PROCS];
    static pid_t pids[MAX_PROCS];
    static struct cpuwin cw;
    struct shm *shm;
    struct sigaction sa;
    struct pollfd pfd;
    struct msg *m;
    size_t rlen = 0, off;
    ssize_t r;
    int fds[2], i, nready = 0, nfinal = 0, eof = 0, dead = 0, st;
    unsigned j;
    int64_t now, next_print, go = 0, stop = 0, wait_ms, wake;
    pid_t pid;
    const char *phase;

    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_args(&cfg, argc, argv);
    raise_nofile(&cfg);
    signal(SIGPIPE, SIG_IGN);

    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        sb_die("mmap: %s", strerror(errno));
    if (pipe2(fds, O_CLOEXEC) < 0)
        sb_die("pipe: %s", strerror(errno));

    printf("siobench %s: %ld clients, %d procs, target %s%s%s\n",
           mode_names[cfg.mode], cfg.clients, cfg.procs, cfg.url,
           cfg.nurls > 1 ? " and more (--url)" : "",
           cfg.nsrc ? " (bound source addresses)" : "");
    cfg.t0 = sb_mono();
    for (i = 0; i < cfg.procs; i++) {
        pid = fork();
        if (pid < 0)
            sb_die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            if (cfg.nurls > 1) {
                cfg.url_index = i % cfg.nurls;
                strcpy(cfg.url, cfg.urls[cfg.url_index]);
                parse_url(&cfg);
            }
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            signal(SIGINT, SIG_IGN);     /* the parent ends the run */
            sb_worker_main(&cfg, shm, i, fds[1]);
        }
        pids[i] = pid;
    }
    close(fds[1]);

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    next_print = cfg.t0 + NS + 200 * MS;
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    while (!eof) {
        now = sb_mono();
        /* wake at the window's edges too, to sample the CPU there */
        wake = next_print;
        if (go && !cw.have_go && go < wake)
            wake = go;
        if (go && !cw.have_stop && stop < wake)
            wake = stop;
        wait_ms = wake > now ? (wake - now + MS - 1) / MS : 0;
        r = poll(&pfd, 1, (int)wait_ms);
        if (r > 0) {
            r = read(fds[0], rbuf + rlen, sizeof(rbuf) - rlen);
            if (r == 0)
                eof = 1;
            else if (r > 0)
                rlen += (size_t)r;
        }
        for (off = 0; rlen - off >= sizeof(struct msg); off += sizeof(struct msg)) {
            m = (struct msg *)(rbuf + off);
            if (m->worker >= (uint32_t)cfg.procs)
                continue;
            switch (m->type) {
            case MSG_READY:
                if (!ready[m->worker]++)
                    nready++;
                last[m->worker] = m->u.st;
                break;
            case MSG_STATS:
                last[m->worker] = m->u.st;
                break;
            case MSG_FINAL:
                if (!final[m->worker]++)
                    nfinal++;
                last[m->worker] = m->u.st;
                break;
            case MSG_HIST:
                if (m->u.h.which < H_N && m->u.h.start < HBUCKETS &&
                    m->u.h.n <= HCHUNK && m->u.h.n <= HBUCKETS - m->u.h.start)
                    for (j = 0; j < m->u.h.n; j++)
                        hist[m->u.h.which][m->u.h.start + j] += m->u.h.counts[j];
                break;
            default:
                break;
            }
        }
        memmove(rbuf, rbuf + off, rlen - off);
        rlen -= off;

        for (i = 0; i < cfg.procs; i++) {
            if (!exited[i] && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                exited[i] = 1;
                if (!final[i]) {
                    dead++;
                    fprintf(stderr, "siobench: worker %d died without a report\n", i);
                }
            }
        }
        now = sb_mono();
        /* every client resolves within --connect-timeout of its start, so
         * each live worker reports READY in the end */
        if (!go && (nready + dead >= cfg.procs || interrupted)) {
            go = now + (interrupted ? 0 : 100 * MS);
            stop = go + (interrupted ? 0 : (int64_t)(cfg.duration * NS));
            atomic_store(&shm->stop_at, stop);
            atomic_store(&shm->go_at, go);
            if (!cfg.quiet)
                printf("-- %s after %.1f s: measuring for %.1f s\n",
                       interrupted ? "interrupted" : "all clients resolved", (double)(now - cfg.t0) / NS,
                       (double)(stop - go) / NS);
        }
        if (interrupted && go && now < stop) {
            stop = now;
            atomic_store(&shm->stop_at, stop);
        }
        if (go && !cw.have_go && now >= go) {
            sb_cpu_sample(&cfg, cw.at_go);
            cw.have_go = 1;
        }
        if (cw.have_go && !cw.have_stop && now >= stop) {
            sb_cpu_sample(&cfg, cw.at_stop);
            cw.have_stop = 1;
        }
        if (interrupted > 1) {
            for (i = 0; i < cfg.procs; i++)
                if (!exited[i])
                    kill(pids[i], SIGKILL);
        }
        if (now >= next_print) {
            sum_stats(&total, last, cfg.procs);
            phase = !go || now < go ? "connecting" : now < stop ? "measuring" :
                    "draining";
            if (!cfg.quiet && nfinal < cfg.procs)
                print_line(&cfg, &total, &prev, (double)(now - cfg.t0) / NS, phase);
            prev = total;
            while (next_print <= now)
                next_print += NS;
        }
    }
    for (i = 0; i < cfg.procs; i++) {
        if (!exited[i] && waitpid(pids[i], &st, 0) == pids[i] && !final[i]) {
            dead++;
            fprintf(stderr, "siobench: worker %d died without a report\n", i);
        }
    }
    sum_stats(&total, last, cfg.procs);
    report(&cfg, &total, hist, go && stop > go ? (double)(stop - go) / NS : 0, dead, &cw);
    return total.established == 0 || dead ? 1 : 0;
}

