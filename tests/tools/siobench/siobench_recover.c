/* siobench's recover mode: clients that reconnect after the server closes
 * them (a restart's 1012) as socket.io-client does (its delays, its CONNECT
 * with {"pid","offset"}, its rule recovered = the same pid back), and the
 * parent's side: the epoch from --t0-file, the CPU until the last client is
 * back, the report. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "siobench.h"

/* ---- a worker's clients ---- */

/* socket.io-client's backoff: reconnectionDelay x 2^attempt, then one
 * random number gives both a deviation of up to half of it and its sign,
 * then the cap (reconnectionDelayMax, here 5 times the delay). */
static int64_t backoff(struct worker *w, uint32_t attempt)
{
    double base = w->cfg->reconnect_delay * (double)NS;
    double r = (double)(sb_rnd(w) >> 11) / 9007199254740992.0;
    double d = base * ldexp(1.0, attempt < 30 ? (int)attempt : 30);
    double dev = floor(r * 0.5 * d);

    d = ((int)floor(r * 10) & 1) == 0 ? d - dev : d + dev;
    return (int64_t)fmin(d, 5 * base);
}

int sb_recover_closed(struct worker *w, struct client *c, int why)
{
    int was_ready = c->state == C_READY;

    if (!(c->rflags & R_AWAY) && !(was_ready && why != W_SIO))
        return 0;
    if (was_ready) {
        w->st.connected--;
        sb_shm_connected(w);
        w->st.closes++;
        w->st.away++;
        c->rflags |= R_AWAY;
        c->tries = 0;
    } else {
        if (why == W_HTTP)
            w->st.refused++;
        c->tries++;
    }
    sb_client_free_buffers(c);
    c->state = C_IDLE;
    c->t_next = w->now + backoff(w, was_ready ? 0 : c->tries);
    return 1;
}

/* A reconnection attempt: the TCP connect, then as sb_ws_start's (the
 * client is no longer pending: its failures go to sb_recover_closed). */
static void reconnect(struct worker *w, struct client *c)
{
    c->state = C_TCP;
    c->fd = -1;
    c->t_start = w->now;
    w->st.reconnects++;
    if (sb_sock_connect(w, c) < 0)
        sb_client_close(w, c, W_CONNECT);
}

int sb_recover_sweep(struct worker *w)
{
    struct client *c;
    long i;

    if (!w->st.away)
        return 0;
    for (i = 0; i < w->n; i++) {
        c = &w->c[i];
        if (c->state == C_IDLE && (c->rflags & R_AWAY) && w->now >= c->t_next)
            reconnect(w, c);
    }
    return w->st.away > 0;
}

int sb_recover_send_connect(struct worker *w, struct client *c)
{
    char buf[128];
    int n;

    if (!c->pid[0])
        return sb_ws_send_text(w, c, "40", 2);
    if (c->rflags & R_OFFSET)
        n = snprintf(buf, sizeof(buf), "40{\"pid\":\"%s\",\"offset\":\"%s\"}",
                     c->pid, c->offset);
    else
        n = snprintf(buf, sizeof(buf), "40{\"pid\":\"%s\"}", c->pid);
    return sb_ws_send_text(w, c, buf, (size_t)n);
}

/* 1 if s[0..n) fits in a buffer of cap and can stand in a JSON string as
 * it is (no quote, backslash or control character). */
static int plain(const char *s, size_t n, size_t cap)
{
    size_t i;

    if (n >= cap)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20)
            return 0;
    return 1;
}

/* The pid of a CONNECT reply's payload s[0..n) into out (cap bytes): "" when
 * it has none (no recovery) or an unusable one. */
static void reply_pid(const unsigned char *s, size_t n, char *out, size_t cap)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, (const char *)s, (int)n) : NULL;
    json_object *pid;
    const char *v;

    out[0] = '\0';
    if (o && json_object_is_type(o, json_type_object) &&
        json_object_object_get_ex(o, "pid", &pid) &&
        json_object_is_type(pid, json_type_string)) {
        v = json_object_get_string(pid);
        if (plain(v, strlen(v), cap))
            strcpy(out, v);
    }
    json_object_put(o);
    if (tok)
        json_tokener_free(tok);
}

void sb_recover_connected(struct worker *w, struct client *c,
                          const unsigned char *s, size_t n)
{
    char pid[sizeof(c->pid)];
    int recovered;

    reply_pid(s + 1, n - 1, pid, sizeof(pid));
    if (!(c->rflags & R_AWAY)) {                /* the first connection */
        memcpy(c->pid, pid, sizeof(pid));
        c->rflags |= R_UP;
        atomic_fetch_add(&w->shm->established, 1);
        return;
    }
    /* socket.io-client: recovered = pid && previous pid === pid */
    recovered = pid[0] && strcmp(pid, c->pid) == 0;
    memcpy(c->pid, pid, sizeof(pid));
    c->state = C_READY;
    c->t_ready = w->now;
    c->rflags &= (uint8_t)~R_AWAY;
    w->st.away--;
    w->st.connected++;
    sb_shm_connected(w);
    if (c->rflags & R_BACK)
        return;
    c->rflags |= R_BACK | (recovered ? R_RECOVERED : 0);
    c->t_back = w->now;
    w->st.back++;
    if (recovered)
        w->st.recovered++;
    else
        w->st.fresh++;
    atomic_fetch_add(&w->shm->back, 1);
}

void sb_recover_event(struct worker *w, struct client *c,
                      const unsigned char *s, size_t n)
{
    const char *p = (const char *)s, *end = p + n, *q;
    size_t el = strlen(w->cfg->expect);

    p++;                                /* '2' */
    if (p < end && *p == '/')           /* another namespace's */
        return;
    while (p < end && *p >= '0' && *p <= '9')   /* an ack id */
        p++;
    if (end - p < 4 || p[0] != '[' || p[1] != '"' || end[-1] != ']')
        return;
    if (el && (size_t)(end - p) > el + 3 && memcmp(p + 2, w->cfg->expect, el) == 0 &&
        p[2 + el] == '"') {
        int64_t epoch = atomic_load(&w->shm->epoch);
        /* a client whose connection the restart left open is served
         * again when the event emitted after it reaches it */
        if (!(c->rflags & (R_BACK | R_AWAY)) && epoch && !c->t_served) {
            c->t_served = w->now;
            atomic_fetch_add(&w->shm->served, 1);
        }
        if (((c->rflags & (R_BACK | R_AWAY)) || epoch) && c->expect_n < UINT8_MAX)
            c->expect_n++;
    }
    /* the offset: a last argument that is a string, after a comma */
    if (end[-2] != '"')
        return;
    for (q = end - 3; q > p && *q != '"'; q--)
        ;
    if (q <= p + 1 || q[-1] != ',' || !plain(q + 1, (size_t)(end - 2 - (q + 1)),
                                              sizeof(c->offset)))
        return;
    memcpy(c->offset, q + 1, (size_t)(end - 2 - (q + 1)));
    c->offset[end - 2 - (q + 1)] = '\0';
    if (!(c->rflags & R_OFFSET)) {
        c->rflags |= R_OFFSET;
        w->st.offsets++;
        atomic_fetch_add(&w->shm->offsets, 1);
    }
}

void sb_recover_finish(struct worker *w)
{
    int64_t epoch = atomic_load(&w->shm->epoch), dt;
    struct client *c;
    long i, s;

    for (i = 0; i < w->n; i++) {
        c = &w->c[i];
        if (!(c->rflags & R_UP))
            continue;
        if (c->expect_n == 1)
            w->st.expect_once++;
        else if (c->expect_n > 1)
            w->st.expect_twice++;
        if (!(c->rflags & R_BACK)) {
            if (c->state != C_READY) {
                w->st.rlost++;
                continue;
            }
            w->st.stayed++;
            if (!c->t_served || !epoch)
                continue;
            w->st.served++;
            dt = c->t_served - epoch;
        } else if (!(c->rflags & R_RECOVERED) || !epoch) {
            continue;
        } else {
            dt = c->t_back - epoch;
        }
        sb_hist_add(w->hist[H_LAT], &w->st.max_lat_us, dt);
        if (dt <= 5 * NS)
            w->st.within_5s++;
        s = dt > 0 ? dt / NS : 0;
        w->st.back_sec[s < BACK_SECS ? s : BACK_SECS - 1]++;
    }
}

/* ---- the parent ---- */

/* The epoch in --t0-file as a CLOCK_MONOTONIC time; 0 while the file is
 * absent or does not hold a time yet. */
static int64_t read_epoch(const struct cfg *cfg)
{
    char buf[64], *end;
    struct timespec ts;
    double ms, now_ms;
    ssize_t r;
    FILE *f = fopen(cfg->t0_file, "r");

    if (!f)
        return 0;
    r = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    if (r <= 0)
        return 0;
    buf[r] = '\0';
    ms = strtod(buf, &end);
    if (end == buf || ms < 1e12)
        return 0;
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
    return sb_mono() - (int64_t)((now_ms - ms) * (double)MS);
}

int64_t sb_recover_tick(struct sb_recover *r, const struct cfg *cfg,
                        struct shm *shm, struct cpuwin *cw, int64_t now,
                        int64_t stop)
{
    uint64_t est = atomic_load(&shm->established);

    if (!r->offsets_said && est && atomic_load(&shm->offsets) >= est) {
        r->offsets_said = 1;
        printf("-- every client holds an offset (%llu)\n", (unsigned long long)est);
    }
    if (r->last_back)
        return stop;
    if (!r->epoch) {
        r->epoch = read_epoch(cfg);
        if (r->epoch) {
            sb_cpu_sample(cfg, cw->at_go);
            cw->have_go = 1;
            atomic_store(&shm->epoch, r->epoch);
            printf("-- epoch read from %s, %.0f ms ago\n", cfg->t0_file,
                   (double)(now - r->epoch) / MS);
        } else if (now - r->resolved > (int64_t)(cfg->duration * NS)) {
            printf("-- no epoch in %s within %.0f s\n", cfg->t0_file, cfg->duration);
            r->last_back = now;
            return now;
        }
        return stop;
    }
    uint64_t back = atomic_load(&shm->back) + atomic_load(&shm->served);
    if (back >= est || now - r->epoch > (int64_t)(cfg->timeout * NS)) {
        r->timed_out = back < est;
        r->last_back = now;
        sb_cpu_sample(cfg, cw->at_stop);
        cw->have_stop = 1;
        printf("-- %s %.2f s after the epoch\n", r->timed_out ?
               "--timeout passed" : "every client back", (double)(now - r->epoch) / NS);
        return now;
    }
    return stop;
}

void sb_recover_report(const struct cfg *cfg, const struct wstats *t,
                       const uint64_t *hist, int dead, const struct cpuwin *cw,
                       const struct sb_recover *r)
{
    double mx = (double)t->max_lat_us / 1000.0;
    double p50 = fmin(sb_hist_quantile(hist, 0.50), mx);
    double p99 = fmin(sb_hist_quantile(hist, 0.99), mx);
    double span = r->epoch && r->last_back ? (double)(r->last_back - r->epoch) / MS : -1;
    int i, last = -1;

    printf("== recover: %ld clients, %d procs\n", cfg->clients, cfg->procs);
    printf("connect: %llu up, %llu failed; %llu held an offset; %llu closes, "
           "%llu reconnection attempts, %llu refused\n",
           (unsigned long long)t->established, (unsigned long long)t->failed,
           (unsigned long long)t->offsets, (unsigned long long)t->closes,
           (unsigned long long)t->reconnects, (unsigned long long)t->refused);
    printf("back: %llu recovered, %llu fresh (not recovered), %llu lost, %llu "
           "never left (%llu of them got \"%s\"); recovered or served within "
           "5 s %llu\n", (unsigned long long)t->recovered,
           (unsigned long long)t->fresh, (unsigned long long)t->rlost,
           (unsigned long long)t->stayed, (unsigned long long)t->served,
           cfg->expect, (unsigned long long)t->within_5s);
    if (t->recovered || t->served)
        printf("time from the epoch to recovered or served: p50 %.0f ms p99 "
               "%.0f ms max %.0f ms\n", p50, p99, mx);
    if (cfg->expect[0])
        printf("\"%s\" after the return: once %llu, twice or more %llu\n", cfg->expect,
               (unsigned long long)t->expect_once, (unsigned long long)t->expect_twice);
    sb_cpu_print(cfg, "reconnection", t->back, cw, 0);
    if (dead)
        printf("WARNING: %d worker(s) died without a report\n", dead);
    printf("{\"mode\":\"recover\",\"clients\":%ld,\"procs\":%d,\"connected\":%llu,"
           "\"failed\":%llu,\"offsets\":%llu,\"epoch\":%s,\"recovered\":%llu,"
           "\"fresh\":%llu,\"not_recovered\":%llu,\"lost\":%llu,\"stayed\":%llu,"
           "\"served\":%llu,\"within_5s\":%llu,", cfg->clients, cfg->procs,
           (unsigned long long)t->established, (unsigned long long)t->failed,
           (unsigned long long)t->offsets, r->epoch ? "true" : "false",
           (unsigned long long)t->recovered, (unsigned long long)t->fresh,
           (unsigned long long)t->fresh, (unsigned long long)t->rlost,
           (unsigned long long)t->stayed, (unsigned long long)t->served,
           (unsigned long long)t->within_5s);
    if (t->recovered || t->served)
        printf("\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"max_ms\":%.1f,", p50, p99, mx);
    else
        printf("\"p50_ms\":null,\"p99_ms\":null,\"max_ms\":null,");
    printf("\"expect\":\"%s\",\"expect_once\":%llu,\"expect_twice\":%llu,"
           "\"closes\":%llu,\"reconnects\":%llu,\"refused\":%llu,\"timed_out\":%s,"
           "\"cpu_window_ms\":%.1f,\"back_per_second\":[", cfg->expect,
           (unsigned long long)t->expect_once, (unsigned long long)t->expect_twice,
           (unsigned long long)t->closes, (unsigned long long)t->reconnects,
           (unsigned long long)t->refused, r->timed_out ? "true" : "false", span);
    for (i = 0; i < BACK_SECS; i++)
        if (t->back_sec[i])
            last = i;
    for (i = 0; i <= last; i++)
        printf("%s%llu", i ? "," : "", (unsigned long long)t->back_sec[i]);
    printf("],");
    sb_cpu_print(cfg, "reconnection", t->back, cw, 1);
    printf("\"dead_workers\":%d}\n", dead);
    fflush(stdout);
}
