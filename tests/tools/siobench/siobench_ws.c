/* siobench: the WebSocket Socket.IO client: connect, upgrade (checking
 * Sec-WebSocket-Accept with a local SHA-1), the Engine.IO open packet,
 * CONNECT, then frames, pings, ticks and acks as they arrive. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sio.h"
#include "sio_base64.h"
#include "sio_eio.h"
#include "sio_ws.h"
#include "siobench.h"

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

static int send_frame(struct worker *w, struct client *c, int opcode,
                      const void *payload, size_t len)
{
    unsigned char mask[4];
    uint64_t r = sb_rnd(w);
    size_t h;

    memcpy(mask, &r, 4);
    h = sio_ws_write_header(w->obuf, 1, opcode, len, mask);
    memcpy(w->obuf + h, payload, len);
    sio_ws_mask(w->obuf + h, len, mask, 0);
    return sb_client_send(w, c, w->obuf, h + len);
}

int sb_ws_send_text(struct worker *w, struct client *c, const char *s,
                     size_t len)
{
    return send_frame(w, c, SIO_WS_TEXT, s, len);
}

/* ---- worker: the handshake ---- */

void sb_ws_start(struct worker *w, struct client *c)
{
    c->state = C_TCP;
    c->fd = -1;
    c->t_start = w->now;
    if (!c->tries) {            /* a retry is still pending */
        c->t_first = w->now;
        w->st.attempted++;
        w->st.pending++;
    }
    if (sb_sock_connect(w, c) < 0)
        sb_client_close(w, c, W_CONNECT);
}

/* The TCP connection is up (or failed): send the upgrade request. */
void sb_ws_connected(struct worker *w, struct client *c)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char raw[16], digest[20];
    char key[32], cat[80], req[2048];
    uint64_t r1 = sb_rnd(w), r2 = sb_rnd(w);
    int err = 0, n;
    socklen_t elen = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
        sb_client_close(w, c, W_CONNECT);
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
        sb_client_close(w, c, W_HTTP);
        return;
    }
    c->state = C_HTTP;
    sio_ws_parser_init(&c->wp, 0, w->cfg->max_message);
    if (sb_client_send(w, c, (const unsigned char *)req, (size_t)n) < 0)
        return;
    if (c->woff == c->wlen && sb_set_out(w, c, 0) < 0)
        sb_client_close(w, c, W_IO);
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
    uint64_t max_us = 0;
    int64_t lat;

    w->st.ticks++;
    if (sb_in_window(w))
        w->st.ticks_window++;
    if (atomic_load(&b->seq) == n) {
        atomic_fetch_add(&b->received, 1);
        lat = w->now - atomic_load(&b->sent);
        sb_hist_add(w->hist[H_LAT], &w->st.max_lat_us, lat);
        /* the senders are worker 0's clients, on the first URL */
        if (w->cfg->nurls > 1)
            sb_hist_add(w->hist[w->cfg->url_index ? H_LAT_OTHER : H_LAT_SENDER],
                        &max_us, lat);
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
    if (sb_in_window(w))
        w->st.acks_window++;
    sb_hist_add(w->hist[H_LAT], &w->st.max_lat_us, w->now - a->t);
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
        if (c->state == C_SIO_CONNECT && (c->rflags & R_AWAY)) {
            sb_recover_connected(w, c, s, n);   /* back */
            break;
        }
        if (c->state == C_SIO_CONNECT) {
            c->state = C_READY;
            c->t_ready = w->now;
            w->st.pending--;
            w->st.connected++;
            w->st.established++;
            sb_shm_connected(w);
            sb_hist_add(w->hist[H_CONNECT], &w->st.max_connect_us, w->now - c->t_start);
            if (w->cfg->mode == M_RECOVER)
                sb_recover_connected(w, c, s, n);
        }
        break;
    case '1':
        sb_client_close(w, c, W_SIO);
        break;
    case '4':
        if (c->state == C_SIO_CONNECT)
            sb_client_close(w, c, W_SIO);
        break;
    case '2':
        if (w->cfg->mode == M_RECOVER &&
            (c->state == C_READY || c->state == C_SIO_CONNECT)) {
            /* socket.io-client keeps events that come before the
             * CONNECT reply (a recovery's replay may) for after it */
            sb_recover_event(w, c, s, n);
            break;
        }
        if (c->state == C_READY && n > 1 + tl && memcmp(s + 1, tick, tl) == 0) {
            i = 1 + tl;
            /* more arguments may follow: the offset of connection
             * state recovery */
            if (digits(s, n, &i, &v) > 0 && i < n && (s[i] == ']' || s[i] == ','))
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
        sb_client_close(w, c, W_EIO);
        return -1;
    }
    if (c->state == C_EIO_OPEN) {
        if (p.type != SIO_EIO_OPEN || parse_open(w, p.data, p.len) < 0) {
            sb_client_close(w, c, W_EIO);
            return -1;
        }
        c->state = C_SIO_CONNECT;
        if (w->cfg->mode == M_RECOVER)
            return sb_recover_send_connect(w, c);
        return sb_ws_send_text(w, c, "40", 2);
    }
    switch (p.type) {
    case SIO_EIO_PING:
        if (p.len > sizeof(pong) - 1) {
            sb_client_close(w, c, W_EIO);
            return -1;
        }
        pong[0] = '3';
        memcpy(pong + 1, p.data, p.len);
        c->pings++;
        c->t_ping = w->now;
        w->st.pings++;
        return sb_ws_send_text(w, c, (const char *)pong, p.len + 1);
    case SIO_EIO_CLOSE:
        sb_client_close(w, c, W_CLOSED);
        return -1;
    case SIO_EIO_MESSAGE:
        if (!p.binary)
            on_sio(w, c, p.data, p.len);
        return c->fd < 0 ? -1 : 0;     /* closed (recover: to reconnect) */
    case SIO_EIO_OPEN:
        sb_client_close(w, c, W_EIO);
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
        sb_client_close(w, c, W_IO);
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
                sb_client_close(w, c, W_HTTP);
                return -1;
            }
            return 0;
        }
        off = (size_t)(eoh - buf) + 4;
        if (check_upgrade((const char *)buf, off, c->accept) < 0) {
            sb_client_close(w, c, W_HTTP);
            return -1;
        }
        c->state = C_EIO_OPEN;
    }
    while (off < len) {
        rc = sio_ws_parse(&c->wp, buf + off, len - off, &used, &f);
        if (rc == SIO_AGAIN)
            break;
        if (rc != SIO_OK) {
            sb_client_close(w, c, W_WS);
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
            sb_client_close(w, c, W_CLOSED);
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
                if (c->fd < 0)
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

void sb_ws_readable(struct worker *w, struct client *c)
{
    size_t have = c->rlen, left;
    ssize_t r;
    long used;
    unsigned char *nb;

    if (have)
        memcpy(w->scratch, c->rbuf, have);
    r = recv(c->fd, w->scratch + have, w->scratch_cap - have, 0);
    if (r == 0) {
        sb_client_close(w, c, W_CLOSED);
        return;
    }
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            sb_client_close(w, c, W_IO);
        return;
    }
    used = consume(w, c, w->scratch, have + (size_t)r);
    if (used < 0)
        return;
    left = have + (size_t)r - (size_t)used;
    if (left > c->rcap) {
        nb = realloc(c->rbuf, left);
        if (!nb) {
            sb_client_close(w, c, W_IO);
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

