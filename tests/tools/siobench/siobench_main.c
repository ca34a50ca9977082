/* siobench: a load generator of raw Socket.IO v4 (Engine.IO v4) clients,
 * thousands per process on one epoll loop: WebSocket (hold, bcast, ack) or
 * long-polling (lpsession, lphold), or clients reconnecting (recover). This
 * file is the parent: it forks the worker processes, sets the shared
 * schedule, samples
 * the servers' CPU at the window's edges and aggregates the results into
 * per-second lines and one final JSON line (see docs/benchmarks.md). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
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

static const char *const why_names[] = {
    "connect", "timeout", "http", "ws", "eio", "sio", "closed", "io", "status", "hangup"
};
_Static_assert(sizeof(why_names) / sizeof(why_names[0]) == W_N, "a name per reason");

/* ---- parent ---- */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted++;
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
    case M_RECOVER:
        printf("t=%4.0fs %-12s connected %6llu failed %5llu offsets %6llu "
               "away %6llu back %6llu (recovered %llu) refused %llu\n", secs, phase,
               (unsigned long long)t->connected, (unsigned long long)t->failed,
               (unsigned long long)t->offsets, (unsigned long long)t->away,
               (unsigned long long)t->back, (unsigned long long)t->recovered,
               (unsigned long long)t->refused);
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
    case M_RECOVER:
        *ops = t->back;
        return "reconnection";
    default:
        *ops = 0;
        return NULL;
    }
}

/* The CPU line of the text report or (json=1) its JSON fields. */
static void print_cpu(const struct cfg *cfg, const struct wstats *t,
                      const struct cpuwin *cw, int json)
{
    uint64_t ops;
    const char *op = op_name(cfg, t, &ops);

    sb_cpu_print(cfg, op, ops, cw, json);
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
           sb_mode_names[cfg->mode], cfg->clients, cfg->procs, dur);
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
           sb_mode_names[cfg->mode], cfg->clients, cfg->procs, dur,
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

/* What the workers have reported through the pipe (fd): READY, STATS,
 * FINAL and histogram messages, read in chunks of up to 16. */
struct inbox {
    int fd, eof;
    unsigned char buf[sizeof(struct msg) * 16];
    size_t len;
    uint64_t hist[H_N][HBUCKETS];
    struct wstats last[MAX_PROCS];
    int ready[MAX_PROCS], final[MAX_PROCS], nready, nfinal, procs;
};

/* One read from the pipe, waiting up to wait_ms (0: none), and the whole
 * messages it completes taken in. 1 if a read returned data or EOF. */
static int inbox_take(struct inbox *in, int wait_ms)
{
    struct pollfd pfd = { .fd = in->fd, .events = POLLIN };
    struct msg *m;
    size_t off;
    ssize_t r;
    unsigned j;

    if (in->eof || poll(&pfd, 1, wait_ms) <= 0)
        return 0;
    r = read(in->fd, in->buf + in->len, sizeof(in->buf) - in->len);
    if (r <= 0) {
        in->eof = r == 0;
        return r == 0;
    }
    in->len += (size_t)r;
    for (off = 0; in->len - off >= sizeof(struct msg); off += sizeof(struct msg)) {
        m = (struct msg *)(in->buf + off);
        if (m->worker >= (uint32_t)in->procs)
            continue;
        switch (m->type) {
        case MSG_READY:
            if (!in->ready[m->worker]++)
                in->nready++;
            in->last[m->worker] = m->u.st;
            break;
        case MSG_STATS:
            in->last[m->worker] = m->u.st;
            break;
        case MSG_FINAL:
            if (!in->final[m->worker]++)
                in->nfinal++;
            in->last[m->worker] = m->u.st;
            break;
        case MSG_HIST:
            if (m->u.h.which < H_N && m->u.h.start < HBUCKETS &&
                m->u.h.n <= HCHUNK && m->u.h.n <= HBUCKETS - m->u.h.start)
                for (j = 0; j < m->u.h.n; j++)
                    in->hist[m->u.h.which][m->u.h.start + j] += m->u.h.counts[j];
            break;
        default:
            break;
        }
    }
    memmove(in->buf, in->buf + off, in->len - off);
    in->len -= off;
    return 1;
}

/* Worker i has exited: 1 if it never sent its FINAL report. Everything it
 * wrote is in the pipe by now, maybe behind more than one read's worth,
 * so the pipe is read until it is empty before judging. */
static int died_without_report(struct inbox *in, int i)
{
    while (!in->final[i] && inbox_take(in, 0))
        ;
    if (in->final[i])
        return 0;
    fprintf(stderr, "siobench: worker %d died without a report\n", i);
    return 1;
}

int main(int argc, char **argv)
{
    static struct cfg cfg;
    static struct inbox in;
    static struct wstats total, prev;
    static int exited[MAX_PROCS];
    static pid_t pids[MAX_PROCS];
    static struct cpuwin cw;
    static struct sb_recover rs;
    struct shm *shm;
    struct sigaction sa;
    int fds[2], i, dead = 0, st;
    int64_t now, next_print, go = 0, stop = 0, wait_ms, wake;
    pid_t pid;
    const char *phase;

    setvbuf(stdout, NULL, _IOLBF, 0);
    sb_parse_args(&cfg, argc, argv);
    raise_nofile(&cfg);
    signal(SIGPIPE, SIG_IGN);

    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        sb_die("mmap: %s", strerror(errno));
    if (pipe2(fds, O_CLOEXEC) < 0)
        sb_die("pipe: %s", strerror(errno));
    /* room for every report of every worker, so that none waits on a
     * parent busy elsewhere (the default 64 KiB holds 18 messages) */
    (void)fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);

    printf("siobench %s: %ld clients, %d procs, target %s%s%s\n",
           sb_mode_names[cfg.mode], cfg.clients, cfg.procs, cfg.url,
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
                sb_parse_url(&cfg);
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
    in.fd = fds[0];
    in.procs = cfg.procs;
    while (!in.eof) {
        now = sb_mono();
        /* wake at the window's edges too, to sample the CPU there */
        wake = next_print;
        if (go && !cw.have_go && go < wake)
            wake = go;
        if (go && !cw.have_stop && stop < wake)
            wake = stop;
        if (go && cfg.mode == M_RECOVER && now + 10 * MS < wake)
            wake = now + 10 * MS;       /* the epoch's file, the last back */
        wait_ms = wake > now ? (wake - now + MS - 1) / MS : 0;
        inbox_take(&in, (int)wait_ms);
        for (i = 0; i < cfg.procs; i++) {
            if (!exited[i] && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
                exited[i] = 1;
                dead += died_without_report(&in, i);
            }
        }
        now = sb_mono();
        /* every client resolves within --connect-timeout of its start, so
         * each live worker reports READY in the end */
        if (!go && cfg.mode == M_RECOVER && (in.nready + dead >= cfg.procs || interrupted)) {
            /* the end comes from sb_recover_tick */
            go = rs.resolved = now;
            stop = interrupted ? now : INT64_MAX / 4;
            atomic_store(&shm->stop_at, stop);
            atomic_store(&shm->go_at, go);
            printf("-- %s after %.1f s: waiting for the epoch in %s\n",
                   interrupted ? "interrupted" : "all clients resolved",
                   (double)(now - cfg.t0) / NS, cfg.t0_file);
        }
        if (!go && (in.nready + dead >= cfg.procs || interrupted)) {
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
        if (go && cfg.mode == M_RECOVER && !interrupted && now < stop) {
            stop = sb_recover_tick(&rs, &cfg, shm, &cw, now, stop);
            atomic_store(&shm->stop_at, stop);
        }
        if (go && !cw.have_go && now >= go && cfg.mode != M_RECOVER) {
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
            sum_stats(&total, in.last, cfg.procs);
            phase = !go || now < go ? "connecting" : now < stop ? "measuring" :
                    "draining";
            if (cfg.mode == M_RECOVER && go)
                phase = !rs.epoch ? "holding" : !rs.last_back ? "reconnecting" :
                        "draining";
            if (!cfg.quiet && in.nfinal < cfg.procs)
                print_line(&cfg, &total, &prev, (double)(now - cfg.t0) / NS, phase);
            prev = total;
            while (next_print <= now)
                next_print += NS;
        }
    }
    for (i = 0; i < cfg.procs; i++) {
        if (!exited[i] && waitpid(pids[i], &st, 0) == pids[i])
            dead += died_without_report(&in, i);
    }
    sum_stats(&total, in.last, cfg.procs);
    if (cfg.mode == M_RECOVER)
        sb_recover_report(&cfg, &total, in.hist[H_LAT], dead, &cw, &rs);
    else
        report(&cfg, &total, in.hist, go && stop > go ? (double)(stop - go) / NS : 0, dead, &cw);
    return total.established == 0 || dead ? 1 : 0;
}

