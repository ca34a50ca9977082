/* siobench: one worker process: its epoll loop, the socket output its
 * clients share, and the modes' schedules (the connect ramp, acks at a
 * rate, broadcasts in a window), sweeps and the final report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "siobench.h"

/* ---- worker: sockets ---- */

void sb_shm_connected(struct worker *w)
{
    atomic_store(&w->shm->connected[w->id], w->st.connected);
}

/* See siobench.h. */
void sb_count_lost(struct worker *w, int was_ready, int why)
{
    if (was_ready) {
        w->st.dropped++;
        w->st.dropk[why]++;
        w->st.connected--;
        sb_shm_connected(w);
    } else {
        w->st.failed++;
        w->st.failk[why]++;
        w->st.pending--;
    }
}

int sb_in_window(const struct worker *w)
{
    return w->go && w->now >= w->go && w->now < w->stop;
}

int sb_sock_connect(struct worker *w, struct client *c)
{
    const struct cfg *cfg = w->cfg;
    long g = w->base + (c - w->c);
    struct epoll_event ev;
    int fd, one = 1;

    fd = socket(cfg->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (cfg->nsrc) {
        /* the port is picked at connect() time, per destination, so each
         * source address gives the whole ephemeral range */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (const struct sockaddr *)&cfg->src[g % cfg->nsrc],
                 sizeof(struct sockaddr_in)) < 0)
            goto fail;
    }
    if (connect(fd, (const struct sockaddr *)&cfg->dst, cfg->dstlen) < 0 &&
        errno != EINPROGRESS)
        goto fail;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLOUT;
    ev.data.u64 = (uint64_t)(c - w->c);
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        goto fail;
    c->fd = fd;
    c->ev_out = 1;
    return 0;
fail:
    close(fd);
    return -1;
}

void sb_client_free_buffers(struct client *c)
{
    free(c->rbuf);
    free(c->wbuf);
    free(c->frag);
    c->rbuf = c->wbuf = c->frag = NULL;
    c->rlen = c->rcap = c->woff = c->wlen = c->wcap = c->flen = 0;
}

/* Closes c and counts it as failed (before READY) or dropped (after);
 * with --retry, a WebSocket client refused before READY tries again;
 * recover: a ready or reconnecting client reconnects later. */
void sb_client_close(struct worker *w, struct client *c, int why)
{
    long idx = c - w->c;
    int i;

    if (IS_POLLING(w->cfg->mode)) {
        /* the output paths say W_IO: a connection the server cut under a
         * request is a hang-up */
        if (why == W_IO && (errno == EPIPE || errno == ECONNRESET))
            why = W_HANGUP;
        sb_poll_fail(w, c, why);
        return;
    }
    if (c->state == C_DONE || c->state == C_IDLE)
        return;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (w->cfg->mode == M_RECOVER && sb_recover_closed(w, c, why))
        return;
    if (why == W_HTTP && c->state < C_READY && w->cfg->retry > 0 &&
        w->now + (int64_t)(w->cfg->retry * NS) - c->t_first <
            (int64_t)(w->cfg->connect_timeout * NS)) {
        /* refused (a status other than 101): again later, as a
         * socket.io client reconnects; it stays pending */
        sb_client_free_buffers(c);
        c->state = C_IDLE;
        c->tries++;
        c->t_next = w->now + (int64_t)(w->cfg->retry * NS);
        w->st.retried++;
        return;
    }
    sb_count_lost(w, c->state == C_READY, why);
    if (w->acks && c->outstanding) {
        for (i = 0; i < ACK_RING; i++)
            w->acks[idx * ACK_RING + i].id = 0;
        w->st.ack_lost += c->outstanding;
        c->outstanding = 0;
    }
    sb_client_free_buffers(c);
    c->state = C_DONE;
}

int sb_set_out(struct worker *w, struct client *c, int out)
{
    struct epoll_event ev;

    if (c->ev_out == out)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0);
    ev.data.u64 = (uint64_t)(c - w->c);
    if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
        return -1;
    c->ev_out = (uint8_t)out;
    return 0;
}

/* Sends what is queued; returns 0, or -1 after closing c. */
int sb_client_flush(struct worker *w, struct client *c)
{
    ssize_t r;

    while (c->woff < c->wlen) {
        r = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return sb_set_out(w, c, 1) < 0 ? (sb_client_close(w, c, W_IO), -1) : 0;
            sb_client_close(w, c, W_IO);
            return -1;
        }
        c->woff += (uint32_t)r;
    }
    c->woff = c->wlen = 0;
    if (sb_set_out(w, c, 0) < 0) {
        sb_client_close(w, c, W_IO);
        return -1;
    }
    return 0;
}

/* Sends data[0..len) now or queues it behind what waits; returns 0, or -1
 * after closing c (error, or more than WBUF_MAX waiting). */
int sb_client_send(struct worker *w, struct client *c,
                       const unsigned char *data, size_t len)
{
    ssize_t r = 0;
    size_t need;
    unsigned char *nb;

    if (c->woff == c->wlen) {
        r = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                sb_client_close(w, c, W_IO);
                return -1;
            }
            r = 0;
        }
        if ((size_t)r == len)
            return 0;
        c->woff = c->wlen = 0;
    }
    data += r;
    len -= (size_t)r;
    if (c->woff > 0) {
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    need = c->wlen + len;
    if (need > WBUF_MAX) {
        sb_client_close(w, c, W_IO);
        return -1;
    }
    if (need > c->wcap) {
        nb = realloc(c->wbuf, need < 4096 ? 4096 : need);
        if (!nb) {
            sb_client_close(w, c, W_IO);
            return -1;
        }
        c->wbuf = nb;
        c->wcap = (uint32_t)(need < 4096 ? 4096 : need);
    }
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += (uint32_t)len;
    if (sb_set_out(w, c, 1) < 0) {
        sb_client_close(w, c, W_IO);
        return -1;
    }
    return 0;
}

/* Sends one masked frame; returns 0 or -1 after closing c. */
static void on_event(struct worker *w, uint64_t idx, uint32_t events)
{
    struct client *c;

    if (idx >= (uint64_t)w->n)
        return;
    c = &w->c[idx];
    if (IS_POLLING(w->cfg->mode)) {
        sb_poll_event(w, c, events);
        return;
    }
    if (c->state == C_DONE || c->state == C_IDLE)
        return;
    if (c->state == C_TCP) {
        sb_ws_connected(w, c);
        return;
    }
    if ((events & EPOLLOUT) && sb_client_flush(w, c) < 0)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        sb_ws_readable(w, c);
}

/* ---- worker: the modes ---- */

static void ramp(struct worker *w)
{
    const struct cfg *cfg = w->cfg;
    long allowed = w->n, k = 0;
    double per = cfg->connect_rate / cfg->procs;

    if (w->stop && w->now >= w->stop)
        return;
    if (per > 0)
        allowed = (long)((double)(w->now - cfg->t0) / NS * per) + 1;
    while (w->next_connect < w->n && w->next_connect < allowed &&
           (long)w->st.pending < cfg->max_pending && k++ < 512) {
        if (IS_POLLING(cfg->mode))
            sb_poll_start(w, &w->c[w->next_connect++]);
        else
            sb_ws_start(w, &w->c[w->next_connect++]);
    }
}

/* ack: issue echoes at this worker's share of --rate, open loop: the k-th
 * echo is due at go + k / share whatever the answers, and its round trip
 * counts from that time, so a send the loop could only make late (the
 * generator or the machine busy) adds its delay to the latency instead of
 * hiding it; max_lag_us records the worst such delay. */
static void ack_send(struct worker *w)
{
    const struct cfg *cfg = w->cfg;
    double share = cfg->rate / cfg->procs;
    uint64_t target;
    long tries;
    int k = 0, len;
    struct client *c = NULL;
    struct ackslot *a;
    uint32_t id = 0;
    int64_t due;

    if (!sb_in_window(w) || share <= 0)
        return;
    target = (uint64_t)((double)(w->now - w->go) / NS * share);
    while (w->issued < target && k++ < 2000) {
        due = w->go + (int64_t)((double)w->issued * NS / share);
        /* next connected client with a free slot */
        a = NULL;
        for (tries = 0; tries < w->n && !a; tries++) {
            c = &w->c[w->rr];
            w->rr = (w->rr + 1) % w->n;
            if (c->state != C_READY)
                continue;
            id = c->ack_next == UINT32_MAX ? 1 : c->ack_next + 1;
            a = &w->acks[(c - w->c) * ACK_RING + id % ACK_RING];
            if (a->id != 0)
                a = NULL;
        }
        w->issued++;
        if (!a) {
            w->st.skipped++;
            continue;
        }
        if (w->now - due > 0 && (uint64_t)(w->now - due) / 1000 > w->st.max_lag_us)
            w->st.max_lag_us = (uint64_t)(w->now - due) / 1000;
        c->ack_next = id;
        len = snprintf(w->text, (size_t)cfg->size + 64,
                       "42%u[\"echo\",%u,\"%s\"]", id, id, w->pad);
        a->id = id;
        a->t = due;
        c->outstanding++;
        w->st.acks_sent++;
        sb_ws_send_text(w, c, w->text, (size_t)len);
    }
}

static void ack_sweep(struct worker *w)
{
    int64_t limit = (int64_t)(w->cfg->timeout * NS);
    long i;
    int j;
    struct ackslot *a;

    for (i = 0; i < w->n; i++) {
        if (!w->c[i].outstanding)
            continue;
        for (j = 0; j < ACK_RING; j++) {
            a = &w->acks[i * ACK_RING + j];
            if (a->id && w->now - a->t > limit) {
                a->id = 0;
                w->c[i].outstanding--;
                w->st.ack_lost++;
            }
        }
    }
}

static uint32_t global_connected(struct worker *w)
{
    uint64_t sum = 0;
    int i;

    for (i = 0; i < w->cfg->procs; i++)
        sum += atomic_load(&w->shm->connected[i]);
    return (uint32_t)sum;
}

/* bcast: retire finished broadcasts; all=1 retires every one left. */
static void bcast_retire(struct worker *w, int all)
{
    int64_t limit = (int64_t)(w->cfg->timeout * NS);
    struct bslot *b;
    uint32_t exp, got;
    int i = 0;

    while (i < w->ninflight) {
        b = &w->shm->ring[w->inflight[i] % RING];
        exp = atomic_load(&b->expected);
        got = atomic_load(&b->received);
        if (!all && got < exp && w->now - atomic_load(&b->sent) <= limit) {
            i++;
            continue;
        }
        if (got < exp) {
            w->st.lost += exp - got;
            w->st.bcast_timeouts++;
        }
        w->inflight[i] = w->inflight[--w->ninflight];
    }
}

/* bcast: the next of the first --senders connected clients, in turn;
 * NULL when none is connected. */
static struct client *pick_sender(struct worker *w)
{
    struct client *found[16];
    long i, k = 0, want = w->cfg->senders;

    if (want > 16)
        want = 16;
    for (i = 0; i < w->n && k < want; i++)
        if (w->c[i].state == C_READY)
            found[k++] = &w->c[i];
    if (k == 0)
        return NULL;
    return found[w->sender_rr++ % k];
}

/* bcast: worker 0 emits the broadcasts from its first --senders clients. */
static void bcast_send(struct worker *w)
{
    const struct cfg *cfg = w->cfg;
    struct client *c;
    struct bslot *b;
    uint64_t target = UINT64_MAX;
    int len;

    if (w->id != 0)
        return;
    bcast_retire(w, 0);
    if (!sb_in_window(w))
        return;
    if (cfg->rate > 0)
        target = (uint64_t)((double)(w->now - w->go) / NS * cfg->rate) + 1;
    while (w->ninflight < cfg->window && w->bissued < target) {
        c = pick_sender(w);
        if (!c)
            return;
        w->seq++;
        w->bissued++;
        b = &w->shm->ring[w->seq % RING];
        atomic_store(&b->received, 0);
        atomic_store(&b->expected, global_connected(w));
        atomic_store(&b->sent, w->now);
        atomic_store(&b->seq, w->seq);
        w->st.expected += atomic_load(&b->expected);
        w->st.bcasts++;
        w->inflight[w->ninflight++] = w->seq;
        len = snprintf(w->text, 64, "42[\"bcast\",%llu]", (unsigned long long)w->seq);
        sb_ws_send_text(w, c, w->text, (size_t)len);
    }
}

/* Connect timeouts, silent servers and (ack) overdue acks. */
static void sweep(struct worker *w)
{
    int64_t ct = (int64_t)(w->cfg->connect_timeout * NS), last;
    struct client *c;
    long i;

    if (IS_POLLING(w->cfg->mode)) {
        sb_poll_sweep(w);
        return;
    }
    if (w->cfg->mode == M_RECOVER)
        sb_recover_sweep(w);
    for (i = 0; i < w->n; i++) {
        c = &w->c[i];
        if (c->state == C_IDLE && c->tries && !(c->rflags & R_AWAY) &&
            w->now >= c->t_next) {
            sb_ws_start(w, c);
        } else if (c->state >= C_TCP && c->state < C_READY) {
            if (w->now - c->t_start > ct)
                sb_client_close(w, c, W_TIMEOUT);
        } else if (c->state == C_READY && w->pi_ns) {
            /* what socket.io-client does: no ping for interval+timeout */
            last = c->t_ping > c->t_ready ? c->t_ping : c->t_ready;
            if (w->now - last > w->pi_ns + w->pt_ns + NS)
                sb_client_close(w, c, W_TIMEOUT);
        }
    }
    if (w->acks)
        ack_sweep(w);
}

static void put_msg(struct worker *w, struct msg *m)
{
    const char *p = (const char *)m;
    size_t left = sizeof(*m);
    ssize_t r;

    m->worker = (uint32_t)w->id;
    while (left > 0) {
        r = write(w->out_fd, p, left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            _exit(3);       /* the parent is gone */
        }
        p += r;
        left -= (size_t)r;
    }
}

static void put_stats(struct worker *w, uint32_t type)
{
    struct msg m;

    memset(&m, 0, sizeof(m));
    m.type = type;
    m.u.st = w->st;
    put_msg(w, &m);
}

static void finish(struct worker *w)
{
    int64_t window = w->pi_ns + w->pt_ns;
    struct client *c;
    struct msg m;
    long i;
    unsigned h, s;

    if (w->id == 0 && w->cfg->mode == M_BCAST)
        bcast_retire(w, 1);
    if (w->cfg->mode == M_RECOVER)
        sb_recover_finish(w);
    if (w->cfg->mode == M_LPSESSION)
        sb_poll_finish(w);
    for (i = 0; i < w->n && w->cfg->mode != M_LPSESSION; i++) {
        c = &w->c[i];
        if (c->state != C_READY)
            continue;
        w->st.held++;
        if (c->pings == 0)
            w->st.unpinged++;
        else if (w->now - c->t_ping <= window)
            w->st.alive++;
    }
    for (h = 0; h < H_N; h++) {
        for (s = 0; s < HBUCKETS; s += HCHUNK) {
            memset(&m, 0, sizeof(m));
            m.type = MSG_HIST;
            m.u.h.which = h;
            m.u.h.start = s;
            m.u.h.n = HBUCKETS - s < HCHUNK ? HBUCKETS - s : HCHUNK;
            memcpy(m.u.h.counts, w->hist[h] + s, m.u.h.n * sizeof(uint32_t));
            put_msg(w, &m);
        }
    }
    put_stats(w, MSG_FINAL);
    for (i = 0; i < w->n; i++)
        if (w->c[i].fd >= 0)
            close(w->c[i].fd);
}

void sb_worker_main(const struct cfg *cfg, struct shm *shm, int id, int out_fd)
{
    struct worker *w;
    struct epoll_event evs[EVENTS];
    int64_t next_stats, next_sweep, drain = (int64_t)(cfg->drain * NS);
    long share = cfg->clients / cfg->procs, i;
    int n, k, timeout;

    w = calloc(1, sizeof(*w));
    if (!w)
        _exit(3);
    w->cfg = cfg;
    w->shm = shm;
    w->id = id;
    w->out_fd = out_fd;
    w->n = share + (id < cfg->clients % cfg->procs ? 1 : 0);
    w->base = id * share + (id < cfg->clients % cfg->procs ? id : cfg->clients % cfg->procs);
    w->rng = (uint64_t)sb_mono() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
    w->c = calloc((size_t)(w->n ? w->n : 1), sizeof(*w->c));
    w->scratch_cap = cfg->max_message + 16 + 65536;
    w->scratch = malloc(w->scratch_cap);
    w->obuf = malloc((size_t)cfg->size + 256);
    w->text = malloc((size_t)cfg->size + 128);
    w->pad = malloc((size_t)cfg->size + 1);
    if (cfg->mode == M_ACK)
        w->acks = calloc((size_t)(w->n ? w->n : 1) * ACK_RING, sizeof(*w->acks));
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!w->c || !w->scratch || !w->obuf || !w->text || !w->pad ||
        (cfg->mode == M_ACK && !w->acks) || w->ep < 0) {
        fprintf(stderr, "siobench: worker %d: out of memory or epoll\n", id);
        _exit(3);
    }
    memset(w->pad, 'x', (size_t)cfg->size);
    w->pad[cfg->size] = '\0';
    for (i = 0; i < w->n; i++)
        w->c[i].fd = -1;
    if (cfg->mode == M_LPSESSION)
        w->next_connect = w->n;     /* virtual clients start at the window */

    next_stats = cfg->t0 + NS;
    next_sweep = cfg->t0;
    for (;;) {
        w->now = sb_mono();
        w->go = atomic_load(&shm->go_at);
        w->stop = atomic_load(&shm->stop_at);
        if (w->stop && w->now >= w->stop + drain)
            break;
        ramp(w);
        if (!w->ready_sent && w->next_connect == w->n && w->st.pending == 0) {
            w->ready_sent = 1;
            put_stats(w, MSG_READY);
        }
        if (cfg->mode == M_LPSESSION && !w->started && sb_in_window(w)) {
            w->started = 1;
            sb_poll_sweep(w);       /* every virtual client starts now */
        }
        if (cfg->mode == M_ACK)
            ack_send(w);
        else if (cfg->mode == M_BCAST)
            bcast_send(w);
        if (w->now >= next_sweep) {
            sweep(w);
            /* recover: a reconnection is due within 10 ms of its time */
            next_sweep = w->now + (w->st.away ? 10 : 100) * MS;
        }
        if (w->now >= next_stats) {
            put_stats(w, MSG_STATS);
            while (next_stats <= w->now)
                next_stats += NS;
        }
        timeout = w->st.away ? 10 : 20;
        if (w->next_connect < w->n || (cfg->mode == M_ACK && sb_in_window(w)) ||
            (cfg->mode == M_BCAST && w->id == 0 && (sb_in_window(w) || w->ninflight)))
            timeout = 1;
        /* the window's first sends are due at go itself */
        if (w->go && w->now < w->go && (w->go - w->now) / MS + 1 < timeout)
            timeout = (int)((w->go - w->now) / MS + 1);
        n = epoll_wait(w->ep, evs, EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "siobench: epoll_wait: %s\n", strerror(errno));
            break;
        }
        w->now = sb_mono();
        for (k = 0; k < n; k++)
            on_event(w, evs[k].data.u64, evs[k].events);
    }
    w->now = sb_mono();
    finish(w);
    _exit(0);
}

