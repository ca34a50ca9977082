/* siobench: a load generator of raw WebSocket Socket.IO v4 (Engine.IO v4)
 * clients, thousands per process on one epoll loop, in three modes (hold,
 * bcast, ack). A parent forks the worker processes, sets the shared
 * schedule and aggregates their results into per-second lines and one
 * final JSON line (see docs/benchmarks.md). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sio.h"
#include "sio_base64.h"
#include "sio_eio.h"
#include "sio_ws.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NS 1000000000LL
#define MS 1000000LL

#define MAX_PROCS 64
#define MAX_WINDOW 4096        /* bcast: broadcasts in flight */
#define RING 65536             /* bcast: slots shared by all workers */
#define ACK_RING 32            /* ack: outstanding acks per client */
#define HTTP_MAX 8192          /* longest upgrade response we accept */
#define WBUF_MAX (1 << 20)     /* a client's unsent bytes before it fails */
#define RBUF_KEEP 4096         /* leftover buffers above this are freed */
#define MAX_SIZE 65536         /* largest echo payload (--size) */
#define EVENTS 1024

enum mode { M_HOLD, M_BCAST, M_ACK };
static const char *const mode_names[] = { "hold", "bcast", "ack" };

/* client states, in the order a handshake passes them */
enum cstate { C_IDLE, C_TCP, C_HTTP, C_EIO_OPEN, C_SIO_CONNECT, C_READY, C_DONE };

/* why a client failed (before READY) or dropped (after) */
enum why { W_CONNECT, W_TIMEOUT, W_HTTP, W_WS, W_EIO, W_SIO, W_CLOSED, W_IO, W_N };
static const char *const why_names[] = {
    "connect", "timeout", "http", "ws", "eio", "sio", "closed", "io"
};

struct cfg {
    int mode;
    long clients;
    int procs;
    double duration;
    double rate;            /* hold: connects/s; bcast: bcasts/s; ack: acks/s */
    double connect_rate;    /* connects/s, 0 = as fast as max_pending allows */
    int window;
    int senders;
    long size;
    double connect_timeout;
    double timeout;
    double drain;
    int max_pending;
    size_t max_message;
    int quiet;
    char url[1024];
    char host[256];         /* as written in the Host header */
    char path[1024];        /* request target, with the query */
    struct sockaddr_storage dst;
    socklen_t dstlen;
    struct sockaddr_in *src;
    int nsrc;
    int64_t t0;
};

/* counters a worker reports, cumulative since it started */
struct wstats {
    uint64_t attempted, established, failed, dropped, connected, pending;
    uint64_t pings, ticks, ticks_window, late, bcasts, bcast_timeouts;
    uint64_t expected, lost;
    uint64_t acks_sent, acks, acks_window, ack_lost, skipped;
    uint64_t held, alive, unpinged;
    uint64_t max_connect_us, max_lat_us;
    uint64_t failk[W_N], dropk[W_N];
};

/* log-linear histogram of microseconds: exact below 128, then 64 steps per
 * power of two (about 1.6% wide) */
#define HSUB 64
#define HBUCKETS (128 + 40 * HSUB)
#define HCHUNK 900
enum { H_CONNECT, H_LAT, H_N };

enum msgtype { MSG_STATS = 1, MSG_READY, MSG_HIST, MSG_FINAL };

/* one record on the results pipe; at most PIPE_BUF bytes, so writes from
 * several workers never interleave */
struct msg {
    uint32_t type;
    uint32_t worker;
    union {
        struct wstats st;
        struct {
            uint32_t which, start, n;
            uint32_t counts[HCHUNK];
        } h;
    } u;
};
_Static_assert(sizeof(struct msg) <= 4096, "pipe records must be atomic");

/* one broadcast in flight, in memory shared by every worker */
struct bslot {
    _Atomic uint64_t seq;
    _Atomic int64_t sent;
    _Atomic uint32_t expected;
    _Atomic uint32_t received;
};

struct shm {
    _Atomic int64_t go_at;      /* measurement start, 0 until all connected */
    _Atomic int64_t stop_at;    /* measurement end */
    _Atomic uint64_t connected[MAX_PROCS];
    struct bslot ring[RING];
};

struct client {
    int fd;
    uint8_t state;
    uint8_t ev_out;             /* EPOLLOUT is registered */
    uint16_t outstanding;       /* ack: echoes waiting for their ack */
    uint32_t ack_next;
    uint32_t pings;
    uint32_t rlen, rcap;        /* leftover bytes of a partial frame */
    uint32_t woff, wlen, wcap;  /* unsent bytes */
    uint32_t flen;              /* bytes of a fragmented message so far */
    int64_t t_start, t_ready, t_ping;
    unsigned char *rbuf, *wbuf, *frag;
    sio_ws_parser wp;
    char accept[32];            /* Sec-WebSocket-Accept we expect */
};

struct ackslot {
    uint32_t id;                /* 0: free */
    int64_t t;
};

struct worker {
    const struct cfg *cfg;
    struct shm *shm;
    int id, out_fd, ep;
    long n;                     /* clients of this worker */
    long base;                  /* global index of the first */
    struct client *c;
    struct ackslot *acks;
    long next_connect;
    long rr;                    /* ack: round-robin cursor */
    uint64_t rng;
    unsigned char *scratch;
    size_t scratch_cap;
    unsigned char *obuf;
    char *text;                 /* Socket.IO packet being built */
    char *pad;                  /* echo payload */
    int64_t now, go, stop;
    int64_t pi_ns, pt_ns;       /* ping interval/timeout from the server */
    int ready_sent;
    uint64_t issued;            /* ack: echoes issued in the window */
    /* bcast (worker 0 only) */
    uint64_t seq, bissued;
    uint64_t inflight[MAX_WINDOW];
    int ninflight;
    long sender_rr;
    struct wstats st;
    uint32_t hist[H_N][HBUCKETS];
};

static int64_t mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("siobench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- SHA-1, only for Sec-WebSocket-Accept (RFC 3174) ---- */

static uint32_t rol(uint32_t x, int n)
{
    return x << n | x >> (32 - n);
}

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80], a, b, c, d, e, f, k, t;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];
    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;
        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }
        t = rol(a, 5) + f + e + k + w[i];
        e = d; d = c; c = rol(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

static void sha1(const void *data, size_t len, unsigned char out[20])
{
    uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
    const unsigned char *p = data;
    unsigned char blk[128];
    size_t rest, tail, i;
    uint64_t bits = (uint64_t)len * 8;

    for (; len >= 64; p += 64, len -= 64)
        sha1_block(h, p);
    rest = len;
    memset(blk, 0, sizeof(blk));
    memcpy(blk, p, rest);
    blk[rest] = 0x80;
    tail = rest + 1 + 8 <= 64 ? 64 : 128;
    for (i = 0; i < 8; i++)
        blk[tail - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, blk);
    if (tail == 128)
        sha1_block(h, blk + 64);
    for (i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(h[i] >> 8);
        out[4 * i + 3] = (unsigned char)h[i];
    }
}

/* ---- histograms ---- */

static unsigned hist_index(uint64_t v)
{
    unsigned bits, shift, idx;

    if (v < 128)
        return (unsigned)v;
    bits = 64 - (unsigned)__builtin_clzll(v);
    shift = bits - 7;
    idx = 128 + (shift - 1) * HSUB + (unsigned)((v >> shift) - 64);
    return idx < HBUCKETS ? idx : HBUCKETS - 1;
}

/* middle of a bucket, in microseconds */
static double hist_value(unsigned idx)
{
    unsigned shift, top;

    if (idx < 128)
        return idx;
    shift = (idx - 128) / HSUB + 1;
    top = (idx - 128) % HSUB + 64;
    return ((double)top + 0.5) * (double)(1ULL << shift);
}

static void hist_add(uint32_t *h, uint64_t *max_us, int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;

    h[hist_index(us)]++;
    if (us > *max_us)
        *max_us = us;
}

/* q-quantile in milliseconds; 0 for an empty histogram */
static double hist_quantile(const uint64_t *h, double q)
{
    uint64_t total = 0, acc = 0, want;
    unsigned i;

    for (i = 0; i < HBUCKETS; i++)
        total += h[i];
    if (total == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)total);
    if (want == 0)
        want = 1;
    for (i = 0; i < HBUCKETS; i++) {
        acc += h[i];
        if (acc >= want)
            return hist_value(i) / 1000.0;
    }
    return hist_value(HBUCKETS - 1) / 1000.0;
}

/* ---- worker: sockets ---- */

static uint64_t rnd(struct worker *w)
{
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 0x2545f4914f6cdd1dULL;
}

static void shm_connected(struct worker *w)
{
    atomic_store(&w->shm->connected[w->id], w->st.connected);
}

static int in_window(const struct worker *w)
{
    return w->go && w->now >= w->go && w->now < w->stop;
}

/* Closes c and counts it as failed (before READY) or dropped (after). */
static void client_close(struct worker *w, struct client *c, int why)
{
    long idx = c - w->c;
    int i;

    if (c->state == C_DONE || c->state == C_IDLE)
        return;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->state == C_READY) {
        w->st.dropped++;
        w->st.dropk[why]++;
        w->st.connected--;
        shm_connected(w);
    } else {
        w->st.failed++;
        w->st.failk[why]++;
        w->st.pending--;
    }
    if (w->acks && c->outstanding) {
        for (i = 0; i < ACK_RING; i++)
            w->acks[idx * ACK_RING + i].id = 0;
        w->st.ack_lost += c->outstanding;
        c->outstanding = 0;
    }
    free(c->rbuf);
    free(c->wbuf);
    free(c->frag);
    c->rbuf = c->wbuf = c->frag = NULL;
    c->rlen = c->rcap = c->woff = c->wlen = c->wcap = c->flen = 0;
    c->state = C_DONE;
}

static int set_out(struct worker *w, struct client *c, int out)
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
static int client_flush(struct worker *w, struct client *c)
{
    ssize_t r;

    while (c->woff < c->wlen) {
        r = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return set_out(w, c, 1) < 0 ? (client_close(w, c, W_IO), -1) : 0;
            client_close(w, c, W_IO);
            return -1;
        }
        c->woff += (uint32_t)r;
    }
    c->woff = c->wlen = 0;
    if (set_out(w, c, 0) < 0) {
        client_close(w, c, W_IO);
        return -1;
    }
    return 0;
}

/* Sends data[0..len) now or queues it behind what waits; returns 0, or -1
 * after closing c (error, or more than WBUF_MAX waiting). */
static int client_send(struct worker *w, struct client *c,
                       const unsigned char *data, size_t len)
{
    ssize_t r = 0;
    size_t need;
    unsigned char *nb;

    if (c->woff == c->wlen) {
        r = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                client_close(w, c, W_IO);
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
        client_close(w, c, W_IO);
        return -1;
    }
    if (need > c->wcap) {
        nb = realloc(c->wbuf, need < 4096 ? 4096 : need);
        if (!nb) {
            client_close(w, c, W_IO);
            return -1;
        }
        c->wbuf = nb;
        c->wcap = (uint32_t)(need < 4096 ? 4096 : need);
    }
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += (uint32_t)len;
    if (set_out(w, c, 1) < 0) {
        client_close(w, c, W_IO);
        return -1;
    }
    return 0;
}

/* Sends one masked frame; returns 0 or -1 after closing c. */
static int send_frame(struct worker *w, struct client *c, int opcode,
                      const void *payload, size_t len)
{
    unsigned char mask[4];
    uint64_t r = rnd(w);
    size_t h;

    memcpy(mask, &r, 4);
    h = sio_ws_write_header(w->obuf, 1, opcode, len, mask);
    memcpy(w->obuf + h, payload, len);
    sio_ws_mask(w->obuf + h, len, mask, 0);
    return client_send(w, c, w->obuf, h + len);
}

static int send_text(struct worker *w, struct client *c, const char *s,
                     size_t len)
{
    return send_frame(w, c, SIO_WS_TEXT, s, len);
}

/* ---- worker: the handshake ---- */

static void client_start(struct worker *w, struct client *c)
{
    const struct cfg *cfg = w->cfg;
    long g = w->base + (c - w->c);
    struct epoll_event ev;
    int fd, one = 1;

    c->state = C_TCP;
    c->fd = -1;
    c->t_start = w->now;
    w->st.attempted++;
    w->st.pending++;
    fd = socket(cfg->dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    c->fd = fd;
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
    c->ev_out = 1;
    return;
fail:
    client_close(w, c, W_CONNECT);
}

/* The TCP connection is up (or failed): send the upgrade request. */
static void client_connected(struct worker *w, struct client *c)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char raw[16], digest[20];
    char key[32], cat[80], req[2048];
    uint64_t r1 = rnd(w), r2 = rnd(w);
    int err = 0, n;
    socklen_t elen = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
        client_close(w, c, W_CONNECT);
        return;
    }
    memcpy(raw, &r1, 8);
    memcpy(raw + 8, &r2, 8);
    key[sio_base64_encode(key, raw, 16)] = '\0';
    n = snprintf(cat, sizeof(cat), "%s%s", key, guid);
    sha1(cat, (size_t)n, digest);
    c->accept[sio_base64_encode(c->accept, digest, 20)] = '\0';
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n\r\n",
                 w->cfg->path, w->cfg->host, key);
    if (n <= 0 || (size_t)n >= sizeof(req)) {
        client_close(w, c, W_HTTP);
        return;
    }
    c->state = C_HTTP;
    sio_ws_parser_init(&c->wp, 0, w->cfg->max_message);
    if (client_send(w, c, (const unsigned char *)req, (size_t)n) < 0)
        return;
    if (c->woff == c->wlen && set_out(w, c, 0) < 0)
        client_close(w, c, W_IO);
}

/* Checks an upgrade response h[0..n) (through its blank line): status 101
 * and the Sec-WebSocket-Accept we computed. Returns 0 or -1. */
static int check_upgrade(const char *h, size_t n, const char *accept)
{
    static const char name[] = "sec-websocket-accept:";
    const char *p = h, *end = h + n, *eol, *v;
    size_t nl = sizeof(name) - 1, alen = strlen(accept);
    int ok = 0;

    if (n < 12 || memcmp(h, "HTTP/1.1 101", 12) != 0)
        return -1;
    while (p < end && (eol = memmem(p, (size_t)(end - p), "\r\n", 2)) != NULL) {
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0) {
            v = p + nl;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
                eol--;
            ok = (size_t)(eol - v) == alen && memcmp(v, accept, alen) == 0;
            eol = memmem(v, (size_t)(end - v), "\r\n", 2);
            if (!eol)
                break;
        }
        p = eol + 2;
    }
    return ok ? 0 : -1;
}

/* Reads pingInterval and pingTimeout from the Engine.IO open packet. */
static int parse_open(struct worker *w, const unsigned char *d, size_t len)
{
    char buf[2048];
    json_object *o, *pi, *pt;
    int ok;

    if (len >= sizeof(buf))
        return -1;
    memcpy(buf, d, len);
    buf[len] = '\0';
    o = json_tokener_parse(buf);
    if (!o)
        return -1;
    ok = json_object_is_type(o, json_type_object) &&
         json_object_object_get_ex(o, "pingInterval", &pi) &&
         json_object_object_get_ex(o, "pingTimeout", &pt) &&
         json_object_is_type(pi, json_type_int) &&
         json_object_is_type(pt, json_type_int) &&
         json_object_get_int64(pi) > 0 && json_object_get_int64(pt) > 0;
    if (ok) {
        w->pi_ns = json_object_get_int64(pi) * MS;
        w->pt_ns = json_object_get_int64(pt) * MS;
    }
    json_object_put(o);
    return ok ? 0 : -1;
}

/* ---- worker: Socket.IO packets ---- */

/* Reads decimal digits at s[*i..n) into *v; returns the digit count. */
static int digits(const unsigned char *s, size_t n, size_t *i, uint64_t *v)
{
    int k = 0;

    *v = 0;
    while (*i < n && s[*i] >= '0' && s[*i] <= '9' && k < 19) {
        *v = *v * 10 + (uint64_t)(s[*i] - '0');
        (*i)++;
        k++;
    }
    return k;
}

static void on_tick(struct worker *w, uint64_t n)
{
    struct bslot *b = &w->shm->ring[n % RING];

    w->st.ticks++;
    if (in_window(w))
        w->st.ticks_window++;
    if (atomic_load(&b->seq) == n) {
        atomic_fetch_add(&b->received, 1);
        hist_add(w->hist[H_LAT], &w->st.max_lat_us, w->now - atomic_load(&b->sent));
    } else {
        w->st.late++;
    }
}

static void on_ack(struct worker *w, struct client *c, uint64_t id)
{
    struct ackslot *a = &w->acks[(c - w->c) * ACK_RING + id % ACK_RING];

    if (id == 0 || a->id != id) {
        w->st.late++;
        return;
    }
    a->id = 0;
    c->outstanding--;
    w->st.acks++;
    if (in_window(w))
        w->st.acks_window++;
    hist_add(w->hist[H_LAT], &w->st.max_lat_us, w->now - a->t);
}

/* A Socket.IO packet s[0..n) (an Engine.IO message, without its '4'). */
static void on_sio(struct worker *w, struct client *c, const unsigned char *s,
                   size_t n)
{
    static const char tick[] = "[\"tick\",";
    size_t i = 1, tl = sizeof(tick) - 1;
    uint64_t v;

    if (n == 0)
        return;
    switch (s[0]) {
    case '0':
        if (c->state == C_SIO_CONNECT) {
            c->state = C_READY;
            c->t_ready = w->now;
            w->st.pending--;
            w->st.connected++;
            w->st.established++;
            shm_connected(w);
            hist_add(w->hist[H_CONNECT], &w->st.max_connect_us, w->now - c->t_start);
        }
        break;
    case '1':
        client_close(w, c, W_SIO);
        break;
    case '4':
        if (c->state == C_SIO_CONNECT)
            client_close(w, c, W_SIO);
        break;
    case '2':
        if (c->state == C_READY && n > 1 + tl && memcmp(s + 1, tick, tl) == 0) {
            i = 1 + tl;
            if (digits(s, n, &i, &v) > 0 && i < n && s[i] == ']')
                on_tick(w, v);
        }
        break;
    case '3':
        if (c->state == C_READY && w->acks && digits(s, n, &i, &v) > 0 &&
            i < n && s[i] == '[')
            on_ack(w, c, v);
        break;
    default:
        break;
    }
}

/* One whole WebSocket data message. Returns 0, or -1 after closing c. */
static int on_message(struct worker *w, struct client *c,
                      const unsigned char *d, size_t len, int binary)
{
    sio_eio_packet p;
    unsigned char pong[SIO_WS_MAX_CONTROL];

    if (sio_eio_decode_ws(d, len, binary, &p) != SIO_OK) {
        client_close(w, c, W_EIO);
        return -1;
    }
    if (c->state == C_EIO_OPEN) {
        if (p.type != SIO_EIO_OPEN || parse_open(w, p.data, p.len) < 0) {
            client_close(w, c, W_EIO);
            return -1;
        }
        c->state = C_SIO_CONNECT;
        return send_text(w, c, "40", 2);
    }
    switch (p.type) {
    case SIO_EIO_PING:
        if (p.len > sizeof(pong) - 1) {
            client_close(w, c, W_EIO);
            return -1;
        }
        pong[0] = '3';
        memcpy(pong + 1, p.data, p.len);
        c->pings++;
        c->t_ping = w->now;
        w->st.pings++;
        return send_text(w, c, (const char *)pong, p.len + 1);
    case SIO_EIO_CLOSE:
        client_close(w, c, W_CLOSED);
        return -1;
    case SIO_EIO_MESSAGE:
        if (!p.binary)
            on_sio(w, c, p.data, p.len);
        return c->state == C_DONE ? -1 : 0;
    case SIO_EIO_OPEN:
        client_close(w, c, W_EIO);
        return -1;
    default:
        return 0;
    }
}

/* Appends a fragment; returns 0 or -1 after closing c. */
static int frag_add(struct worker *w, struct client *c,
                    const unsigned char *d, size_t len)
{
    unsigned char *nb;

    /* the parser bounds a message by max_message */
    nb = realloc(c->frag, c->flen + len + 1);
    if (!nb) {
        client_close(w, c, W_IO);
        return -1;
    }
    c->frag = nb;
    memcpy(c->frag + c->flen, d, len);
    c->flen += (uint32_t)len;
    return 0;
}

/* Consumes what it can of buf[0..len): the upgrade response, then frames.
 * Returns the bytes consumed, or -1 after closing c. */
static long consume(struct worker *w, struct client *c, unsigned char *buf,
                    size_t len)
{
    size_t off = 0, used;
    const unsigned char *eoh;
    sio_ws_frame f;
    unsigned char cp[SIO_WS_MAX_CONTROL];
    int rc;

    if (c->state == C_HTTP) {
        eoh = memmem(buf, len, "\r\n\r\n", 4);
        if (!eoh) {
            if (len > HTTP_MAX) {
                client_close(w, c, W_HTTP);
                return -1;
            }
            return 0;
        }
        off = (size_t)(eoh - buf) + 4;
        if (check_upgrade((const char *)buf, off, c->accept) < 0) {
            client_close(w, c, W_HTTP);
            return -1;
        }
        c->state = C_EIO_OPEN;
    }
    while (off < len) {
        rc = sio_ws_parse(&c->wp, buf + off, len - off, &used, &f);
        if (rc == SIO_AGAIN)
            break;
        if (rc != SIO_OK) {
            client_close(w, c, W_WS);
            return -1;
        }
        off += used;
        switch (f.opcode) {
        case SIO_WS_PING:
            memcpy(cp, f.payload, (size_t)f.len);
            if (send_frame(w, c, SIO_WS_PONG, cp, (size_t)f.len) < 0)
                return -1;
            break;
        case SIO_WS_PONG:
            break;
        case SIO_WS_CLOSE:
            send_frame(w, c, SIO_WS_CLOSE, f.payload, f.len >= 2 ? 2 : 0);
            client_close(w, c, W_CLOSED);
            return -1;
        default:
            if (f.fin && f.opcode != SIO_WS_CONT) {
                if (on_message(w, c, f.payload, (size_t)f.len,
                               f.opcode == SIO_WS_BINARY) < 0)
                    return -1;
                break;
            }
            if (frag_add(w, c, f.payload, (size_t)f.len) < 0)
                return -1;
            if (f.fin) {
                rc = on_message(w, c, c->frag, c->flen,
                                f.message_opcode == SIO_WS_BINARY);
                if (c->state == C_DONE)
                    return -1;
                free(c->frag);
                c->frag = NULL;
                c->flen = 0;
                if (rc < 0)
                    return -1;
            }
            break;
        }
    }
    return (long)off;
}

static void client_readable(struct worker *w, struct client *c)
{
    size_t have = c->rlen, left;
    ssize_t r;
    long used;
    unsigned char *nb;

    if (have)
        memcpy(w->scratch, c->rbuf, have);
    r = recv(c->fd, w->scratch + have, w->scratch_cap - have, 0);
    if (r == 0) {
        client_close(w, c, W_CLOSED);
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            client_close(w, c, W_IO);
        return;
    }
    used = consume(w, c, w->scratch, have + (size_t)r);
    if (used < 0)
        return;
    left = have + (size_t)r - (size_t)used;
    if (left > c->rcap) {
        nb = realloc(c->rbuf, left);
        if (!nb) {
            client_close(w, c, W_IO);
            return;
        }
        c->rbuf = nb;
        c->rcap = (uint32_t)left;
    }
    if (left)
        memcpy(c->rbuf, w->scratch + used, left);
    c->rlen = (uint32_t)left;
    if (!left && c->rcap > RBUF_KEEP) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
}

static void on_event(struct worker *w, uint64_t idx, uint32_t events)
{
    struct client *c;

    if (idx >= (uint64_t)w->n)
        return;
    c = &w->c[idx];
    if (c->state == C_DONE || c->state == C_IDLE)
        return;
    if (c->state == C_TCP) {
        client_connected(w, c);
        return;
    }
    if ((events & EPOLLOUT) && client_flush(w, c) < 0)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        client_readable(w, c);
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
           (long)w->st.pending < cfg->max_pending && k++ < 512)
        client_start(w, &w->c[w->next_connect++]);
}

/* ack: issue echoes at this worker's share of --rate. */
static void ack_send(struct worker *w)
{
    const struct cfg *cfg = w->cfg;
    uint64_t target;
    long tries;
    int k = 0, len;
    struct client *c = NULL;
    struct ackslot *a;
    uint32_t id = 0;

    if (!in_window(w))
        return;
    target = (uint64_t)((double)(w->now - w->go) / NS * cfg->rate / cfg->procs);
    while (w->issued < target && k++ < 2000) {
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
        c->ack_next = id;
        len = snprintf(w->text, (size_t)cfg->size + 64,
                       "42%u[\"echo\",%u,\"%s\"]", id, id, w->pad);
        a->id = id;
        a->t = w->now;
        c->outstanding++;
        w->st.acks_sent++;
        send_text(w, c, w->text, (size_t)len);
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
    if (!in_window(w))
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
        send_text(w, c, w->text, (size_t)len);
    }
}

/* Connect timeouts, silent servers and (ack) overdue acks. */
static void sweep(struct worker *w)
{
    int64_t ct = (int64_t)(w->cfg->connect_timeout * NS), last;
    struct client *c;
    long i;

    for (i = 0; i < w->n; i++) {
        c = &w->c[i];
        if (c->state >= C_TCP && c->state < C_READY) {
            if (w->now - c->t_start > ct)
                client_close(w, c, W_TIMEOUT);
        } else if (c->state == C_READY && w->pi_ns) {
            /* what socket.io-client does: no ping for interval+timeout */
            last = c->t_ping > c->t_ready ? c->t_ping : c->t_ready;
            if (w->now - last > w->pi_ns + w->pt_ns + NS)
                client_close(w, c, W_TIMEOUT);
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
    for (i = 0; i < w->n; i++) {
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

static void worker_main(const struct cfg *cfg, struct shm *shm, int id, int out_fd)
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
    w->rng = (uint64_t)mono() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
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

    next_stats = cfg->t0 + NS;
    next_sweep = cfg->t0;
    for (;;) {
        w->now = mono();
        w->go = atomic_load(&shm->go_at);
        w->stop = atomic_load(&shm->stop_at);
        if (w->stop && w->now >= w->stop + drain)
            break;
        ramp(w);
        if (!w->ready_sent && w->next_connect == w->n && w->st.pending == 0) {
            w->ready_sent = 1;
            put_stats(w, MSG_READY);
        }
        if (cfg->mode == M_ACK)
            ack_send(w);
        else if (cfg->mode == M_BCAST)
            bcast_send(w);
        if (w->now >= next_sweep) {
            sweep(w);
            next_sweep = w->now + 100 * MS;
        }
        if (w->now >= next_stats) {
            put_stats(w, MSG_STATS);
            while (next_stats <= w->now)
                next_stats += NS;
        }
        timeout = 20;
        if (w->next_connect < w->n || (cfg->mode == M_ACK && in_window(w)) ||
            (cfg->mode == M_BCAST && w->id == 0 && (in_window(w) || w->ninflight)))
            timeout = 1;
        n = epoll_wait(w->ep, evs, EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "siobench: epoll_wait: %s\n", strerror(errno));
            break;
        }
        w->now = mono();
        for (k = 0; k < n; k++)
            on_event(w, evs[k].data.u64, evs[k].events);
    }
    w->now = mono();
    finish(w);
    _exit(0);
}

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
"usage: siobench MODE [options]      MODE: hold | bcast | ack (or --mode)\n"
"  -n, --clients N        clients in all (100)\n"
"  --procs P              worker processes, N/P clients each (1)\n"
"  --url URL              http://HOST:PORT/PATH (http://127.0.0.1:3000/socket.io/)\n"
"  --src A-B|A,B,...      IPv4 source addresses to bind, round-robin\n"
"  --duration S           seconds to measure once all clients are up (10)\n"
"  --rate R               hold: connects/s; bcast: broadcasts/s (0: window\n"
"                         only); ack: echoes/s in all (hold 0, bcast 0, ack 1000)\n"
"  --connect-rate R       connects/s while opening (0: bounded by --max-pending)\n"
"  --max-pending M        handshakes under way per process (200)\n"
"  --window K             bcast: broadcasts in flight (1)\n"
"  --senders S            bcast: clients taking turns to emit, 1..16 (1)\n"
"  --size B               ack: bytes of the echoed string (16)\n"
"  --timeout S            bcast/ack: when a broadcast or ack counts as lost (5)\n"
"  --connect-timeout S    per client, TCP through Socket.IO connect (10)\n"
"  --drain S              bcast/ack: wait after the window for stragglers (2)\n"
"  --max-message B        largest WebSocket message accepted (1048576)\n"
"  -q, --quiet            no per-second lines\n", f);
}

static double num_arg(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    double d;

    if (!v)
        die("%s needs a value", opt);
    errno = 0;
    d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= lo && d <= hi))
        die("%s: bad value '%s' (expected %g..%g)", opt, v, lo, hi);
    return d;
}

static void parse_src(struct cfg *cfg, const char *v)
{
    char buf[1024], *tok, *save = NULL, *dash;
    struct in_addr a, b;
    uint32_t x, lo, hi;
    int cap = 0;

    if (strlen(v) >= sizeof(buf))
        die("--src too long");
    strcpy(buf, v);
    for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        dash = strchr(tok, '-');
        if (dash)
            *dash = '\0';
        if (inet_pton(AF_INET, tok, &a) != 1 ||
            (dash && inet_pton(AF_INET, dash + 1, &b) != 1))
            die("--src: bad IPv4 address or range '%s'", v);
        lo = ntohl(a.s_addr);
        hi = dash ? ntohl(b.s_addr) : lo;
        if (hi < lo || hi - lo > 65535)
            die("--src: bad range '%s'", v);
        for (x = lo;; x++) {
            if (cfg->nsrc == cap) {
                cap = cap ? cap * 2 : 16;
                cfg->src = realloc(cfg->src, (size_t)cap * sizeof(*cfg->src));
                if (!cfg->src)
                    die("out of memory");
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
        die("--src: no address");
}

/* http://host[:port][/path] into the connect address, Host and target. */
static void parse_url(struct cfg *cfg)
{
    const char *u = cfg->url, *p, *hs, *he, *ps;
    char host[256], port[16] = "80";
    struct addrinfo hints, *res;
    int rc;

    if (strncmp(u, "http://", 7) != 0)
        die("--url must start with http:// (no TLS): '%s'", u);
    hs = u + 7;
    ps = strchr(hs, '/');
    if (!ps)
        ps = hs + strlen(hs);
    if (*hs == '[') {
        he = memchr(hs, ']', (size_t)(ps - hs));
        if (!he)
            die("--url: bad IPv6 host");
        p = he + 1;
        hs++;
    } else {
        he = memchr(hs, ':', (size_t)(ps - hs));
        if (!he)
            he = ps;
        p = he;
    }
    if ((size_t)(he - hs) >= sizeof(host) || he == hs)
        die("--url: bad host");
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = '\0';
    if (*p == ':') {
        if ((size_t)(ps - p - 1) >= sizeof(port) || ps - p - 1 == 0)
            die("--url: bad port");
        memcpy(port, p + 1, (size_t)(ps - p - 1));
        port[ps - p - 1] = '\0';
    }
    if ((size_t)(ps - (u + 7)) >= sizeof(cfg->host))
        die("--url: host too long");
    memcpy(cfg->host, u + 7, (size_t)(ps - (u + 7)));
    cfg->host[ps - (u + 7)] = '\0';
    if (snprintf(cfg->path, sizeof(cfg->path), "%s%sEIO=4&transport=websocket",
                 *ps ? ps : "/socket.io/", strchr(ps, '?') ? "&" : "?") >=
        (int)sizeof(cfg->path))
        die("--url: path too long");
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        die("--url: %s: %s", host, gai_strerror(rc));
    memcpy(&cfg->dst, res->ai_addr, res->ai_addrlen);
    cfg->dstlen = res->ai_addrlen;
    freeaddrinfo(res);
    if (cfg->nsrc && cfg->dst.ss_family != AF_INET)
        die("--src needs an IPv4 server address");
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
                die("--mode needs a value");
            for (cfg->mode = 0; cfg->mode < 3; cfg->mode++)
                if (!strcmp(a, mode_names[cfg->mode]))
                    break;
            if (cfg->mode == 3)
                die("unknown mode '%s' (hold, bcast, ack)", a);
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
                die("--url needs a value");
            strcpy(cfg->url, v);
        } else if (!strcmp(a, "--src")) {
            if (!v)
                die("--src needs a value");
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
        else if (!strcmp(a, "--drain"))
            cfg->drain = num_arg(a, v, 0, 1e6);
        else if (!strcmp(a, "--max-message"))
            cfg->max_message = (size_t)num_arg(a, v, 1024, 1 << 30);
        else {
            usage(stderr);
            die("unknown option '%s'", a);
        }
    }
    if (!mode_set) {
        usage(stderr);
        die("no mode given");
    }
    if (cfg->procs > cfg->clients)
        cfg->procs = (int)cfg->clients;
    if (cfg->mode == M_HOLD) {
        if (rate_set && cfg->connect_rate == 0)
            cfg->connect_rate = cfg->rate;
        cfg->drain = 0;
    } else if (cfg->mode == M_ACK && !rate_set) {
        cfg->rate = 1000;
    }
    parse_url(cfg);
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
        die("%ld clients per process exceed the open-file limit %llu: "
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
    dst->max_connect_us = dst->max_lat_us = 0;
    for (i = 0; i < n; i++) {
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
    case M_HOLD:
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

static void report(const struct cfg *cfg, const struct wstats *t,
                   uint64_t hist[H_N][HBUCKETS], double dur, int dead)
{
    double cmax = (double)t->max_connect_us / 1000.0;
    double pmax = (double)t->max_lat_us / 1000.0;
    /* a bucket's middle may lie past the largest value seen */
    double c50 = fmin(hist_quantile(hist[H_CONNECT], 0.50), cmax);
    double c99 = fmin(hist_quantile(hist[H_CONNECT], 0.99), cmax);
    double p50 = fmin(hist_quantile(hist[H_LAT], 0.50), pmax);
    double p90 = fmin(hist_quantile(hist[H_LAT], 0.90), pmax);
    double p99 = fmin(hist_quantile(hist[H_LAT], 0.99), pmax);
    double dps = dur > 0 ? (double)t->ticks_window / dur : 0;
    double aps = dur > 0 ? (double)t->acks_window / dur : 0;
    int i;

    printf("== %s: %ld clients, %d procs, %.1f s measured\n",
           mode_names[cfg->mode], cfg->clients, cfg->procs, dur);
    printf("connect: %llu up, %llu failed, %llu dropped, %llu held at the end; "
           "handshake p50 %.2f ms p99 %.2f ms max %.2f ms\n",
           (unsigned long long)t->established, (unsigned long long)t->failed,
           (unsigned long long)t->dropped, (unsigned long long)t->held,
           c50, c99, cmax);
    if (t->failed || t->dropped) {
        printf("errors (failed+dropped):");
        for (i = 0; i < W_N; i++)
            if (t->failk[i] + t->dropk[i])
                printf(" %s %llu", why_names[i],
                       (unsigned long long)(t->failk[i] + t->dropk[i]));
        printf("\n");
    }
    if (cfg->mode == M_HOLD) {
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
    } else {
        printf("acks %llu of %llu sent, %.0f/s in the window, lost %llu, "
               "skipped %llu (no free client)\n",
               (unsigned long long)t->acks, (unsigned long long)t->acks_sent, aps,
               (unsigned long long)t->ack_lost, (unsigned long long)t->skipped);
        printf("ack round trip: p50 %.2f ms p90 %.2f ms p99 %.2f ms max %.2f ms\n",
               p50, p90, p99, pmax);
    }
    if (dead)
        printf("WARNING: %d worker(s) died without a report\n", dead);
    printf("{\"mode\":\"%s\",\"clients\":%ld,\"procs\":%d,\"duration_s\":%.3f,"
           "\"connected\":%llu,\"failed\":%llu,\"dropped\":%llu,\"held\":%llu,"
           "\"alive\":%llu,\"unpinged\":%llu,\"pings\":%llu,"
           "\"connect_p50_ms\":%.3f,\"connect_p99_ms\":%.3f,"
           "\"bcasts\":%llu,\"bcast_timeouts\":%llu,\"deliveries\":%llu,"
           "\"deliveries_per_s\":%.1f,\"expected\":%llu,\"lost\":%llu,\"late\":%llu,"
           "\"acks_sent\":%llu,\"acks\":%llu,\"acks_per_s\":%.1f,\"ack_lost\":%llu,"
           "\"skipped\":%llu,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,"
           "\"max_ms\":%.3f,\"dead_workers\":%d,\"errors\":{",
           mode_names[cfg->mode], cfg->clients, cfg->procs, dur,
           (unsigned long long)t->established, (unsigned long long)t->failed,
           (unsigned long long)t->dropped, (unsigned long long)t->held,
           (unsigned long long)t->alive, (unsigned long long)t->unpinged,
           (unsigned long long)t->pings, c50, c99,
           (unsigned long long)t->bcasts, (unsigned long long)t->bcast_timeouts,
           (unsigned long long)t->ticks_window, dps,
           (unsigned long long)t->expected, (unsigned long long)t->lost,
           (unsigned long long)t->late, (unsigned long long)t->acks_sent,
           (unsigned long long)t->acks, aps, (unsigned long long)t->ack_lost,
           (unsigned long long)t->skipped, p50, p90, p99, pmax, dead);
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
    struct shm *shm;
    struct sigaction sa;
    struct pollfd pfd;
    struct msg *m;
    size_t rlen = 0, off;
    ssize_t r;
    int fds[2], i, nready = 0, nfinal = 0, eof = 0, dead = 0, st;
    unsigned j;
    int64_t now, next_print, go = 0, stop = 0, wait_ms;
    pid_t pid;
    const char *phase;

    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_args(&cfg, argc, argv);
    raise_nofile(&cfg);
    signal(SIGPIPE, SIG_IGN);

    shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shm == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    if (pipe2(fds, O_CLOEXEC) < 0)
        die("pipe: %s", strerror(errno));

    printf("siobench %s: %ld clients, %d procs, target %s%s\n",
           mode_names[cfg.mode], cfg.clients, cfg.procs, cfg.url,
           cfg.nsrc ? " (bound source addresses)" : "");
    cfg.t0 = mono();
    for (i = 0; i < cfg.procs; i++) {
        pid = fork();
        if (pid < 0)
            die("fork: %s", strerror(errno));
        if (pid == 0) {
            close(fds[0]);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            signal(SIGINT, SIG_IGN);     /* the parent ends the run */
            worker_main(&cfg, shm, i, fds[1]);
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
        now = mono();
        wait_ms = next_print > now ? (next_print - now) / MS + 1 : 0;
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
        now = mono();
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
    report(&cfg, &total, hist, go && stop > go ? (double)(stop - go) / NS : 0, dead);
    return total.established == 0 || dead ? 1 : 0;
}
