/* siobench: long-polling Socket.IO clients (Engine.IO v4 over HTTP/1.1
 * with keep-alive). Each client has one connection and one request at a
 * time: the handshake GET, POST "40", GETs until the CONNECT reply; then
 * lphold holds a GET until the server sends something (a ping is answered
 * by POST "3" before the next GET), and lpsession posts one acked echo,
 * GETs its ack, posts "1" (close) and starts the next session at once. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <json-c/json.h>

#include "sio.h"
#include "sio_eio.h"
#include "siobench.h"

/* the request awaiting its answer (client.pstep) */
enum { P_NONE, P_OPEN, P_CONNECT, P_POLL, P_PONG, P_ECHO, P_CLOSE };

/* client.pflags */
enum {
    F_SENT40 = 1,       /* CONNECT posted */
    F_PONG = 2,         /* a ping came: post "3" next */
    F_ECHO = 4,         /* lpsession: the echo was posted */
    F_ACKED = 8         /* lpsession: its ack came */
};

/* client.conn */
enum { K_NONE, K_CONNECTING, K_OPEN };

/* a pause before a virtual client that failed starts its next session, so
 * a refusing server does not turn the run into a connect loop */
#define RETRY_NS (50 * MS)

/* one HTTP response found in a buffer */
struct hresp {
    int status;
    int close;          /* the server closes the connection after it */
    size_t body, blen;  /* the body's offset and length (de-chunked) */
    size_t total;       /* bytes of the whole response */
};

/* ---- HTTP/1.1 responses ---- */

/* 1 when the header value v[0..n) holds token (case-insensitive). */
static int has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token), i;

    for (i = 0; i + tl <= n; i++)
        if (strncasecmp(v + i, token, tl) == 0)
            return 1;
    return 0;
}

/* Walks the chunked body of buf[0..len) from off. Returns SIO_OK with
 * *blen (data bytes) and *end (past the last CRLF), SIO_AGAIN, SIO_EPROTO
 * or SIO_ETOOBIG. compact=1 (on a complete body) moves the data to off. */
static int chunks(unsigned char *buf, size_t len, size_t off, size_t max,
                  int compact, size_t *blen, size_t *end)
{
    size_t q = off, out = off, size, i;
    const unsigned char *eol;
    int digits, d;

    *blen = 0;
    for (;;) {
        eol = memmem(buf + q, len - q, "\r\n", 2);
        if (!eol)
            return len - q > 64 ? SIO_EPROTO : SIO_AGAIN;
        size = 0;
        digits = 0;
        for (i = q; buf + i < eol; i++) {
            d = buf[i] >= '0' && buf[i] <= '9' ? buf[i] - '0' :
                (buf[i] | 0x20) >= 'a' && (buf[i] | 0x20) <= 'f' ? (buf[i] | 0x20) - 'a' + 10 : -1;
            if (d < 0)
                break;          /* a chunk extension (;...) follows */
            if (++digits > 8)
                return SIO_EPROTO;
            size = size * 16 + (size_t)d;
        }
        if (!digits)
            return SIO_EPROTO;
        q = (size_t)(eol - buf) + 2;
        if (size == 0)
            break;
        if (*blen + size > max)
            return SIO_ETOOBIG;
        if (len - q < size + 2)
            return SIO_AGAIN;
        if (buf[q + size] != '\r' || buf[q + size + 1] != '\n')
            return SIO_EPROTO;
        if (compact)
            memmove(buf + out, buf + q, size);
        out += size;
        *blen += size;
        q += size + 2;
    }
    /* trailers, up to the empty line */
    for (;;) {
        eol = memmem(buf + q, len - q, "\r\n", 2);
        if (!eol)
            return SIO_AGAIN;
        if (eol == buf + q)
            break;
        q = (size_t)(eol - buf) + 2;
    }
    *end = q + 2;
    return SIO_OK;
}

/* Finds the response at the start of buf[0..len); eof: the connection has
 * ended (a body without length ends there). Returns SIO_OK with *r (a
 * chunked body de-chunked in place), SIO_AGAIN, SIO_EPROTO or SIO_ETOOBIG
 * (head over HTTP_MAX, body over max). */
static int http_parse(unsigned char *buf, size_t len, int eof, size_t max,
                      struct hresp *r)
{
    const unsigned char *eoh, *p, *eol, *colon, *end;
    const char *v;
    size_t hlen, nlen, vlen, blen, cend;
    long long clen = -1;
    int chunked = 0, rc;
    char *num_end;

    eoh = memmem(buf, len < HTTP_MAX ? len : HTTP_MAX, "\r\n\r\n", 4);
    if (!eoh)
        return len >= HTTP_MAX ? SIO_ETOOBIG : SIO_AGAIN;
    hlen = (size_t)(eoh - buf) + 4;
    end = eoh + 2;              /* past the last header line's CRLF */
    if (hlen < 16 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' ||
        buf[9] < '1' || buf[9] > '5' || buf[10] < '0' || buf[10] > '9' ||
        buf[11] < '0' || buf[11] > '9' || (buf[12] != ' ' && buf[12] != '\r'))
        return SIO_EPROTO;
    r->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    r->close = buf[7] == '0';   /* HTTP/1.0 closes unless told otherwise */
    p = (const unsigned char *)memmem(buf, hlen, "\r\n", 2) + 2;
    while (p < end) {
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        colon = memchr(p, ':', (size_t)(eol - p));
        if (!colon)
            return SIO_EPROTO;
        nlen = (size_t)(colon - p);
        v = (const char *)colon + 1;
        while (v < (const char *)eol && (*v == ' ' || *v == '\t'))
            v++;
        vlen = (size_t)((const char *)eol - v);
        if (nlen == 14 && strncasecmp((const char *)p, "content-length", 14) == 0) {
            if (vlen == 0 || vlen > 18 || *v < '0' || *v > '9')
                return SIO_EPROTO;
            clen = strtoll(v, &num_end, 10);
            if (num_end != v + vlen && *num_end != ' ' && *num_end != '\t')
                return SIO_EPROTO;
        } else if (nlen == 17 && strncasecmp((const char *)p, "transfer-encoding", 17) == 0) {
            chunked = has_token(v, vlen, "chunked");
        } else if (nlen == 10 && strncasecmp((const char *)p, "connection", 10) == 0) {
            if (has_token(v, vlen, "close"))
                r->close = 1;
            else if (has_token(v, vlen, "keep-alive"))
                r->close = 0;
        }
        p = eol + 2;
    }
    r->body = hlen;
    if (r->status / 100 == 1 || r->status == 204 || r->status == 304) {
        r->blen = 0;
        r->total = hlen;
        return SIO_OK;
    }
    if (chunked) {
        rc = chunks(buf, len, hlen, max, 0, &blen, &cend);
        if (rc != SIO_OK)
            return rc;
        chunks(buf, len, hlen, max, 1, &blen, &cend);
        r->blen = blen;
        r->total = cend;
        return SIO_OK;
    }
    if (clen >= 0) {
        if ((unsigned long long)clen > max)
            return SIO_ETOOBIG;
        if (len - hlen < (size_t)clen)
            return SIO_AGAIN;
        r->blen = (size_t)clen;
        r->total = hlen + (size_t)clen;
        return SIO_OK;
    }
    /* no length: the body runs to the end of the connection */
    if (len - hlen > max)
        return SIO_ETOOBIG;
    if (!eof)
        return SIO_AGAIN;
    r->blen = len - hlen;
    r->total = len;
    r->close = 1;
    return SIO_OK;
}

/* ---- connections and requests ---- */

/* Closes c's connection without counting anything; the next request opens
 * another. */
static void conn_drop(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->conn = K_NONE;
    c->ev_out = 0;
    c->rlen = 0;
    c->woff = c->wlen = 0;
}

/* Sends a GET (body NULL) or a POST of body[0..blen) for step on c's
 * connection, opening one if it has none. Returns 0, or -1 after failing c. */
static int send_req(struct worker *w, struct client *c, int step,
                    const char *body, size_t blen)
{
    static char req[2048 + MAX_SIZE + 256];
    const struct cfg *cfg = w->cfg;
    int n;

    n = snprintf(req, sizeof(req), "%s %s%s%s HTTP/1.1\r\nHost: %s\r\nAccept: */*\r\n",
                 body ? "POST" : "GET", cfg->poll_path, c->sid[0] ? "&sid=" : "",
                 c->sid, cfg->host);
    if (n > 0 && body)
        n += snprintf(req + n, sizeof(req) - (size_t)n,
                      "Content-Type: text/plain;charset=UTF-8\r\n"
                      "Content-Length: %zu\r\n\r\n", blen);
    else if (n > 0)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    if (n <= 0 || (size_t)n + blen >= sizeof(req)) {
        sb_poll_fail(w, c, W_HTTP);
        return -1;
    }
    if (body) {
        memcpy(req + n, body, blen);
        n += (int)blen;
    }
    c->pstep = (uint8_t)step;
    c->t_req = w->now;
    w->st.requests++;
    if (c->fd < 0) {
        if (sb_sock_connect(w, c) < 0) {
            sb_poll_fail(w, c, W_CONNECT);
            return -1;
        }
        c->conn = K_CONNECTING;
        w->st.conns++;
    }
    /* while connecting, send() says EAGAIN and the request waits in wbuf */
    return sb_client_send(w, c, (const unsigned char *)req, (size_t)n);
}

/* ---- Engine.IO and Socket.IO ---- */

/* The handshake's answer: an open packet with sid, pingInterval and
 * pingTimeout. Returns 0 or -1. */
static int on_open(struct worker *w, struct client *c, unsigned char *body,
                   size_t blen)
{
    sio_eio_payload_iter it;
    sio_eio_packet p;
    char buf[2048];
    json_object *o, *sid, *pi, *pt;
    int ok;

    sio_eio_payload_init(&it, body, blen);
    if (sio_eio_payload_next(&it, &p) != SIO_OK || p.type != SIO_EIO_OPEN ||
        p.len >= sizeof(buf))
        return -1;
    memcpy(buf, p.data, p.len);
    buf[p.len] = '\0';
    o = json_tokener_parse(buf);
    if (!o)
        return -1;
    ok = json_object_is_type(o, json_type_object) &&
         json_object_object_get_ex(o, "sid", &sid) &&
         json_object_object_get_ex(o, "pingInterval", &pi) &&
         json_object_object_get_ex(o, "pingTimeout", &pt) &&
         json_object_is_type(sid, json_type_string) &&
         json_object_get_string_len(sid) > 0 &&
         (size_t)json_object_get_string_len(sid) < sizeof(c->sid) &&
         strspn(json_object_get_string(sid), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
             (size_t)json_object_get_string_len(sid) &&
         json_object_is_type(pi, json_type_int) &&
         json_object_is_type(pt, json_type_int) &&
         json_object_get_int64(pi) > 0 && json_object_get_int64(pt) > 0;
    if (ok) {
        strcpy(c->sid, json_object_get_string(sid));
        w->pi_ns = json_object_get_int64(pi) * MS;
        w->pt_ns = json_object_get_int64(pt) * MS;
    }
    json_object_put(o);
    return ok ? 0 : -1;
}

/* A Socket.IO packet s[0..n) (an Engine.IO message without its '4').
 * Returns 0, or -1 after failing c. */
static int on_sio(struct worker *w, struct client *c, const unsigned char *s,
                  size_t n)
{
    size_t i = 1;
    uint64_t id = 0;

    if (n == 0)
        return 0;
    switch (s[0]) {
    case '0':
        if (c->state != C_SIO_CONNECT)
            break;
        c->state = C_READY;
        c->t_ready = w->now;
        w->st.connected++;
        w->st.established++;
        if (w->cfg->mode == M_LPHOLD) {
            w->st.pending--;
            sb_shm_connected(w);
        }
        sb_hist_add(w->hist[H_CONNECT], &w->st.max_connect_us, w->now - c->t_start);
        break;
    case '1':
        sb_poll_fail(w, c, W_SIO);
        return -1;
    case '4':
        if (c->state == C_SIO_CONNECT) {
            sb_poll_fail(w, c, W_SIO);
            return -1;
        }
        break;
    case '3':
        while (i < n && s[i] >= '0' && s[i] <= '9' && i < 12)
            id = id * 10 + (uint64_t)(s[i++] - '0');
        if (id == 1 && i < n && s[i] == '[' && (c->pflags & F_ECHO))
            c->pflags |= F_ACKED;
        break;
    default:
        break;
    }
    return 0;
}

/* A GET's answer: the packets of a polling payload. Returns 0, or -1 after
 * failing c. */
static int on_payload(struct worker *w, struct client *c, unsigned char *body,
                      size_t blen)
{
    sio_eio_payload_iter it;
    sio_eio_packet p;
    int rc;

    if (blen == 0)
        return 0;
    sio_eio_payload_init(&it, body, blen);
    while ((rc = sio_eio_payload_next(&it, &p)) == SIO_OK) {
        switch (p.type) {
        case SIO_EIO_PING:
            c->pflags |= F_PONG;
            c->pings++;
            c->t_ping = w->now;
            w->st.pings++;
            break;
        case SIO_EIO_PONG:
        case SIO_EIO_NOOP:
            break;
        case SIO_EIO_MESSAGE:
            if (!p.binary && on_sio(w, c, p.data, p.len) < 0)
                return -1;
            break;
        case SIO_EIO_CLOSE:
            sb_poll_fail(w, c, W_CLOSED);
            return -1;
        default:
            sb_poll_fail(w, c, W_EIO);
            return -1;
        }
    }
    if (rc != SIO_DONE) {
        sb_poll_fail(w, c, W_EIO);
        return -1;
    }
    return 0;
}

/* The next request: a pong owed, CONNECT, lpsession's echo and close,
 * else a GET. */
static void poll_next(struct worker *w, struct client *c)
{
    int len;

    if (c->pflags & F_PONG) {
        c->pflags &= (uint8_t)~F_PONG;
        send_req(w, c, P_PONG, "3", 1);
    } else if (c->state == C_SIO_CONNECT && !(c->pflags & F_SENT40)) {
        c->pflags |= F_SENT40;
        send_req(w, c, P_CONNECT, "40", 2);
    } else if (w->cfg->mode == M_LPSESSION && c->state == C_READY &&
               !(c->pflags & F_ECHO)) {
        c->pflags |= F_ECHO;
        len = snprintf(w->text, (size_t)w->cfg->size + 64,
                       "421[\"echo\",1,\"%s\"]", w->pad);
        send_req(w, c, P_ECHO, w->text, (size_t)len);
    } else if (w->cfg->mode == M_LPSESSION && c->state == C_READY &&
               (c->pflags & F_ACKED)) {
        send_req(w, c, P_CLOSE, "1", 1);
    } else {
        send_req(w, c, P_POLL, NULL, 0);
    }
}

/* lpsession: the close was answered; the session counts, and the next one
 * starts while the window lasts. */
static void session_done(struct worker *w, struct client *c)
{
    w->st.sessions++;
    if (sb_in_window(w))
        w->st.sessions_window++;
    sb_hist_add(w->hist[H_LAT], &w->st.max_lat_us, w->now - c->t_start);
    w->st.connected--;
    c->state = C_IDLE;
    c->sid[0] = '\0';
    c->pflags = 0;
    c->t_next = 0;
    if (sb_in_window(w))
        sb_poll_start(w, c);
}

static void on_response(struct worker *w, struct client *c, int status,
                        unsigned char *body, size_t blen)
{
    int step = c->pstep;

    c->pstep = P_NONE;
    if (status != 200) {
        sb_poll_fail(w, c, W_STATUS);
        return;
    }
    switch (step) {
    case P_OPEN:
        if (on_open(w, c, body, blen) < 0) {
            sb_poll_fail(w, c, W_EIO);
            return;
        }
        c->state = C_SIO_CONNECT;
        break;
    case P_POLL:
        if (on_payload(w, c, body, blen) < 0)
            return;
        break;
    case P_CLOSE:
        session_done(w, c);
        return;
    default:
        break;                  /* a POST's "ok" */
    }
    poll_next(w, c);
}

/* Keeps buf[0..len) for the next read; returns 0 or -1 after failing c. */
static int keep(struct worker *w, struct client *c, const unsigned char *buf,
                size_t len)
{
    unsigned char *nb;

    if (len > c->rcap) {
        nb = realloc(c->rbuf, len);
        if (!nb) {
            sb_poll_fail(w, c, W_IO);
            return -1;
        }
        c->rbuf = nb;
        c->rcap = (uint32_t)len;
    }
    memcpy(c->rbuf, buf, len);
    c->rlen = (uint32_t)len;
    return 0;
}

static void poll_readable(struct worker *w, struct client *c)
{
    size_t have = c->rlen, len;
    struct hresp resp;
    ssize_t r;
    int eof, rc;

    if (have)
        memcpy(w->scratch, c->rbuf, have);
    r = recv(c->fd, w->scratch + have, w->scratch_cap - have, 0);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (c->pstep == P_NONE) {
        /* nothing asked: the server closed an idle connection (fine), or
         * sent what nobody asked for */
        if (r > 0) {
            sb_poll_fail(w, c, W_HTTP);
            return;
        }
        conn_drop(c);
        w->st.server_closes++;
        return;
    }
    if (r < 0) {
        sb_poll_fail(w, c, errno == ECONNRESET || errno == EPIPE ? W_HANGUP : W_IO);
        return;
    }
    eof = r == 0;
    len = have + (size_t)r;
    rc = http_parse(w->scratch, len, eof, w->cfg->max_message, &resp);
    if (rc == SIO_AGAIN) {
        if (eof)
            sb_poll_fail(w, c, W_HANGUP);
        else
            keep(w, c, w->scratch, len);
        return;
    }
    if (rc != SIO_OK || resp.total != len) {
        /* malformed, or more than the one answer asked for */
        sb_poll_fail(w, c, W_HTTP);
        return;
    }
    c->rlen = 0;
    if (c->rcap > RBUF_KEEP) {
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
    }
    if (resp.close || eof) {
        /* the next request goes on a new connection */
        conn_drop(c);
        w->st.server_closes++;
    }
    on_response(w, c, resp.status, w->scratch + resp.body, resp.blen);
}

/* ---- the client's life ---- */

void sb_poll_start(struct worker *w, struct client *c)
{
    c->state = C_EIO_OPEN;
    c->t_start = w->now;
    c->t_ready = c->t_ping = 0;
    c->pflags = 0;
    c->sid[0] = '\0';
    w->st.attempted++;
    if (w->cfg->mode == M_LPHOLD)
        w->st.pending++;
    send_req(w, c, P_OPEN, NULL, 0);
}

void sb_poll_event(struct worker *w, struct client *c, uint32_t events)
{
    int err = 0;
    socklen_t elen = sizeof(err);

    if (c->state == C_DONE || c->fd < 0)
        return;
    if (c->conn == K_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
            sb_poll_fail(w, c, W_CONNECT);
            return;
        }
        c->conn = K_OPEN;
        events |= EPOLLOUT;
    }
    if ((events & EPOLLOUT) && sb_client_flush(w, c) < 0)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        poll_readable(w, c);
}

void sb_poll_fail(struct worker *w, struct client *c, int why)
{
    if (c->state == C_DONE)
        return;
    if (c->conn == K_CONNECTING && (why == W_IO || why == W_HANGUP))
        why = W_CONNECT;
    conn_drop(c);
    c->pstep = P_NONE;
    if (w->cfg->mode == M_LPSESSION) {
        if (c->state == C_IDLE)
            return;             /* no session under way */
        w->st.failed++;
        w->st.failk[why]++;
        if (c->state == C_READY)
            w->st.connected--;
        c->state = C_IDLE;
        c->sid[0] = '\0';
        c->pflags = 0;
        c->t_next = w->now + RETRY_NS;
        return;
    }
    sb_count_lost(w, c->state == C_READY, why);
    free(c->rbuf);
    free(c->wbuf);
    c->rbuf = c->wbuf = NULL;
    c->rcap = c->wcap = 0;
    c->state = C_DONE;
}

void sb_poll_sweep(struct worker *w)
{
    const struct cfg *cfg = w->cfg;
    int64_t ct = (int64_t)(cfg->connect_timeout * NS);
    int64_t rt = (int64_t)(cfg->timeout * NS);
    int64_t hb = w->pi_ns ? w->pi_ns + w->pt_ns + NS : 0, limit, last;
    struct client *c;
    long i;

    for (i = 0; i < w->n; i++) {
        c = &w->c[i];
        if (c->state == C_IDLE) {
            if (cfg->mode == M_LPSESSION && sb_in_window(w) && w->now >= c->t_next)
                sb_poll_start(w, c);
            continue;
        }
        if (c->state == C_DONE)
            continue;
        if (c->state < C_READY && w->now - c->t_start > ct) {
            sb_poll_fail(w, c, W_TIMEOUT);
            continue;
        }
        if (c->pstep != P_NONE) {
            /* a GET may be held until the server's next ping */
            limit = c->pstep == P_POLL && hb > rt ? hb : rt;
            if (w->now - c->t_req > limit) {
                sb_poll_fail(w, c, W_TIMEOUT);
                continue;
            }
        }
        if (cfg->mode == M_LPHOLD && c->state == C_READY && hb) {
            /* what socket.io-client does: no ping for interval+timeout */
            last = c->t_ping > c->t_ready ? c->t_ping : c->t_ready;
            if (w->now - last > hb)
                sb_poll_fail(w, c, W_TIMEOUT);
        }
    }
}

void sb_poll_finish(struct worker *w)
{
    long i;

    for (i = 0; i < w->n; i++)
        if (w->c[i].state > C_IDLE && w->c[i].state < C_DONE)
            w->st.unfinished++;
}
