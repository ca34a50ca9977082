/* The decoder of classic @socket.io/redis-adapter broadcasts: msgpack
 * [uid, packet, opts] into a Socket.IO packet as siod sends it (text with
 * binary attachments). It reads the msgpack bytes directly and writes
 * JSON as it goes: a count in the input never allocates before its
 * elements are there (msgpack-c's unpacker allocates a whole array from
 * its header), so a short message cannot ask for much memory. Pure: no
 * loop, no log, no global state (fuzzed by tests/fuzz/fuzz_cluster.c). */
#include "siod_cluster.h"
#include "core/siod_core.h"
#include "sio_json.h"
#include "sio_packet.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Nesting the decoder follows in a packet's data. */
#define DECODE_DEPTH 64

/* ---- reading msgpack --------------------------------------------------- */

enum mp_kind { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN,
               MP_ARR, MP_MAP, MP_EXT };

struct mp {
    enum mp_kind kind;
    uint64_t u;                      /* BOOL, UINT; ARR/MAP count */
    int64_t i;                       /* INT (negative) */
    double f;
    const unsigned char *ptr;        /* STR, BIN, EXT bytes */
    size_t len;
    int8_t ext;                      /* EXT type */
};

struct rd {
    const unsigned char *p, *end;
};

static int take(struct rd *r, size_t n, const unsigned char **out)
{
    if ((size_t)(r->end - r->p) < n)
        return -EPROTO;
    *out = r->p;
    r->p += n;
    return 0;
}

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Reads an unsigned big-endian integer of n bytes. */
static int rd_uint(struct rd *r, size_t n, uint64_t *v)
{
    const unsigned char *p;
    if (take(r, n, &p) < 0)
        return -EPROTO;
    *v = be(p, n);
    return 0;
}

static int rd_bytes(struct rd *r, size_t n, struct mp *v)
{
    v->len = n;
    return take(r, n, &v->ptr);
}

/* Reads one object's header into *v: scalars whole, str/bin/ext with
 * their bytes, arrays and maps with their count (checked against the
 * bytes left: every element takes one at least). */
static int rd_head(struct rd *r, struct mp *v)
{
    const unsigned char *p;
    uint64_t n;
    memset(v, 0, sizeof *v);
    if (take(r, 1, &p) < 0)
        return -EPROTO;
    unsigned c = *p;
    if (c <= 0x7f) {
        v->kind = MP_UINT;
        v->u = c;
        return 0;
    }
    if (c >= 0xe0) {
        v->kind = MP_INT;
        v->i = (int8_t)c;
        return 0;
    }
    if ((c & 0xe0) == 0xa0) {
        v->kind = MP_STR;
        return rd_bytes(r, c & 0x1f, v);
    }
    if ((c & 0xf0) == 0x90 || (c & 0xf0) == 0x80) {
        v->kind = (c & 0xf0) == 0x90 ? MP_ARR : MP_MAP;
        n = c & 0x0f;
        goto count;
    }
    switch (c) {
    case 0xc0: v->kind = MP_NIL; return 0;
    case 0xc2: case 0xc3: v->kind = MP_BOOL; v->u = c == 0xc3; return 0;
    case 0xc4: case 0xc5: case 0xc6:
        if (rd_uint(r, (size_t)1 << (c - 0xc4), &n) < 0)
            return -EPROTO;
        v->kind = MP_BIN;
        return rd_bytes(r, n, v);
    case 0xd9: case 0xda: case 0xdb:
        if (rd_uint(r, (size_t)1 << (c - 0xd9), &n) < 0)
            return -EPROTO;
        v->kind = MP_STR;
        return rd_bytes(r, n, v);
    case 0xca: case 0xcb: {
        uint64_t bits;
        if (rd_uint(r, c == 0xca ? 4 : 8, &bits) < 0)
            return -EPROTO;
        v->kind = MP_FLOAT;
        if (c == 0xca) {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, sizeof f);
            v->f = f;
        } else {
            memcpy(&v->f, &bits, sizeof v->f);
        }
        return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        v->kind = MP_UINT;
        return rd_uint(r, (size_t)1 << (c - 0xcc), &v->u);
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
        size_t k = (size_t)1 << (c - 0xd0);
        if (rd_uint(r, k, &n) < 0)
            return -EPROTO;
        if (k < 8 && (n >> (k * 8 - 1)) != 0)   /* sign-extend */
            n |= ~(uint64_t)0 << (k * 8);
        v->i = (int64_t)n;
        v->kind = v->i < 0 ? MP_INT : MP_UINT;
        v->u = (uint64_t)v->i;
        return 0;
    }
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        n = (uint64_t)1 << (c - 0xd4);
        goto ext;
    case 0xc7: case 0xc8: case 0xc9:
        if (rd_uint(r, (size_t)1 << (c - 0xc7), &n) < 0)
            return -EPROTO;
        goto ext;
    case 0xdc: case 0xdd:
        v->kind = MP_ARR;
        if (rd_uint(r, c == 0xdc ? 2 : 4, &n) < 0)
            return -EPROTO;
        goto count;
    case 0xde: case 0xdf:
        v->kind = MP_MAP;
        if (rd_uint(r, c == 0xde ? 2 : 4, &n) < 0)
            return -EPROTO;
        goto count;
    default:
        return -EPROTO;              /* 0xc1, never used */
    }
ext:
    if (take(r, 1, &p) < 0)
        return -EPROTO;
    v->kind = MP_EXT;
    v->ext = (int8_t)*p;
    return rd_bytes(r, n, v);
count:
    v->u = n;
    if (n > (uint64_t)(r->end - r->p) / (v->kind == MP_MAP ? 2 : 1))
        return -EPROTO;
    return 0;
}

/* Skips one whole object. */
static int rd_skip(struct rd *r, int depth)
{
    struct mp v;
    if (depth > DECODE_DEPTH || rd_head(r, &v) < 0)
        return -EPROTO;
    if (v.kind == MP_ARR || v.kind == MP_MAP) {
        uint64_t n = v.kind == MP_MAP ? v.u * 2 : v.u;
        for (uint64_t k = 0; k < n; k++)
            if (rd_skip(r, depth + 1) < 0)
                return -EPROTO;
    }
    return 0;
}

/* Reads a map key: its header, and its elements when it is an array or a
 * map (which match no name). */
static int rd_key(struct rd *r, struct mp *k)
{
    if (rd_head(r, k) < 0)
        return -EPROTO;
    if (k->kind == MP_ARR || k->kind == MP_MAP) {
        uint64_t n = k->kind == MP_MAP ? k->u * 2 : k->u;
        for (uint64_t i = 0; i < n; i++)
            if (rd_skip(r, 1) < 0)
                return -EPROTO;
    }
    return 0;
}

static int is_key(const struct mp *v, const char *name)
{
    size_t n = strlen(name);
    return v->kind == MP_STR && v->len == n && memcmp(v->ptr, name, n) == 0;
}

/* ---- writing JSON ------------------------------------------------------- */

struct text {
    char *p;
    size_t len, cap;
};

static int text_reserve(struct text *t, size_t n)
{
    if (t->cap - t->len < n + 1) {
        size_t nc = t->cap ? t->cap : 64;
        while (nc - t->len < n + 1)
            nc *= 2;
        char *np = realloc(t->p, nc);
        if (np == NULL)
            return -ENOMEM;
        t->p = np;
        t->cap = nc;
    }
    return 0;
}

static int text_add(struct text *t, const char *s, size_t n)
{
    if (text_reserve(t, n) < 0)
        return -ENOMEM;
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
    return 0;
}

static int text_str(struct text *t, const unsigned char *s, size_t n)
{
    size_t need = sio_json_string_size((const char *)s, n), w;
    if (text_reserve(t, need) < 0)
        return -ENOMEM;
    if (sio_json_write_string((const char *)s, n, t->p + t->len, need, &w) !=
        SIO_OK)
        return -EPROTO;
    t->len += w;
    t->p[t->len] = '\0';
    return 0;
}

/* A number as JavaScript writes it (shortest form that reads back). */
static int text_num(struct text *t, double d)
{
    char tmp[40];
    if (!isfinite(d))
        return text_add(t, "null", 4);       /* JSON.stringify's */
    if (d == trunc(d) && fabs(d) < 1e21) {
        snprintf(tmp, sizeof tmp, "%.0f", d == 0 ? 0.0 : d);
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (strtod(tmp, NULL) == d)
                break;
        }
    }
    return text_add(t, tmp, strlen(tmp));
}

/* A msgpack timestamp (extension -1) as JSON.stringify writes a Date. */
static int text_date(struct text *t, const struct mp *v)
{
    int64_t sec;
    uint32_t ns;
    char tmp[48];
    if (v->len == 4) {
        sec = (int64_t)be(v->ptr, 4);
        ns = 0;
    } else if (v->len == 8) {
        uint64_t x = be(v->ptr, 8);
        ns = (uint32_t)(x >> 34);
        sec = (int64_t)(x & 0x3ffffffffull);
    } else if (v->len == 12) {
        ns = (uint32_t)be(v->ptr, 4);
        sec = (int64_t)be(v->ptr + 4, 8);
    } else {
        return -EPROTO;
    }
    /* JavaScript's Date range: 8.64e15 ms either side of the epoch */
    if (ns >= 1000000000u || sec > 8640000000000 || sec < -8640000000000)
        return text_add(t, "null", 4);
    int64_t ms = sec * 1000 + ns / 1000000;
    int64_t s = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t tt = (time_t)s;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL)
        return text_add(t, "null", 4);
    long long year = (long long)tm.tm_year + 1900;
    char ys[16];
    if (year >= 0 && year <= 9999)
        snprintf(ys, sizeof ys, "%04lld", year);
    else
        snprintf(ys, sizeof ys, "%c%06lld", year < 0 ? '-' : '+',
                 year < 0 ? -year : year);
    snprintf(tmp, sizeof tmp, "\"%s-%02d-%02dT%02d:%02d:%02d.%03dZ\"", ys,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(ms - s * 1000));
    return text_add(t, tmp, strlen(tmp));
}

struct dec {
    struct rd r;
    siod_cluster_bin *bins;
    unsigned nbins, bins_cap;
};

static int add_bin(struct dec *d, const struct mp *v, struct text *t)
{
    char tmp[SIO_PACKET_PLACEHOLDER_MAX];
    size_t n;
    if (d->nbins >= SIOD_CLUSTER_MAX_BINS)
        return -EPROTO;
    if (d->nbins == d->bins_cap) {
        unsigned nc = d->bins_cap ? d->bins_cap * 2 : 4;
        siod_cluster_bin *nb = realloc(d->bins, nc * sizeof *nb);
        if (nb == NULL)
            return -ENOMEM;
        d->bins = nb;
        d->bins_cap = nc;
    }
    d->bins[d->nbins] = (siod_cluster_bin){ v->ptr, v->len };
    sio_packet_write_placeholder(d->nbins++, tmp, sizeof tmp, &n);
    return text_add(t, tmp, n);
}

/* Writes the next object as JSON into t. */
static int to_json(struct dec *d, struct text *t, int depth)
{
    struct mp v;
    char tmp[32];
    int rc;

    if (depth > DECODE_DEPTH || rd_head(&d->r, &v) < 0)
        return -EPROTO;
    switch (v.kind) {
    case MP_NIL:
        return text_add(t, "null", 4);
    case MP_BOOL:
        return v.u ? text_add(t, "true", 4) : text_add(t, "false", 5);
    case MP_UINT:
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v.u);
        return text_add(t, tmp, strlen(tmp));
    case MP_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)v.i);
        return text_add(t, tmp, strlen(tmp));
    case MP_FLOAT:
        return text_num(t, v.f);
    case MP_STR:
        return text_str(t, v.ptr, v.len);
    case MP_BIN:
        return add_bin(d, &v, t);
    case MP_EXT:
        if (v.ext == -1)
            return text_date(t, &v);
        if (v.ext == 0 && v.len == 1)    /* notepack's old undefined */
            return text_add(t, "null", 4);
        return -EPROTO;
    case MP_ARR:
        rc = text_add(t, "[", 1);
        for (uint64_t k = 0; k < v.u && rc == 0; k++) {
            if (k > 0)
                rc = text_add(t, ",", 1);
            if (rc == 0)
                rc = to_json(d, t, depth + 1);
        }
        return rc < 0 ? rc : text_add(t, "]", 1);
    case MP_MAP:
        rc = text_add(t, "{", 1);
        for (uint64_t k = 0; k < v.u && rc == 0; k++) {
            struct mp key;
            if (k > 0)
                rc = text_add(t, ",", 1);
            if (rc < 0 || rd_head(&d->r, &key) < 0)
                return rc < 0 ? rc : -EPROTO;
            if (key.kind == MP_STR) {
                rc = text_str(t, key.ptr, key.len);
            } else if (key.kind == MP_UINT || key.kind == MP_INT) {
                if (key.kind == MP_UINT)
                    snprintf(tmp, sizeof tmp, "\"%llu\"",
                             (unsigned long long)key.u);
                else
                    snprintf(tmp, sizeof tmp, "\"%lld\"", (long long)key.i);
                rc = text_add(t, tmp, strlen(tmp));
            } else {
                return -EPROTO;
            }
            if (rc == 0)
                rc = text_add(t, ":", 1);
            if (rc == 0)
                rc = to_json(d, t, depth + 1);
        }
        return rc < 0 ? rc : text_add(t, "}", 1);
    }
    return -EPROTO;
}

/* A NUL-terminated copy of a str (or an integer, as rooms may be). */
static int dup_name(const struct mp *v, char **out)
{
    char tmp[32];
    const char *s = tmp;
    size_t n;
    if (v->kind == MP_STR) {
        s = (const char *)v->ptr;
        n = v->len;
        if (memchr(s, '\0', n) != NULL)
            return -EPROTO;
    } else if (v->kind == MP_UINT) {
        n = (size_t)snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v->u);
    } else if (v->kind == MP_INT) {
        n = (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)v->i);
    } else {
        return -EPROTO;
    }
    *out = malloc(n + 1);
    if (*out == NULL)
        return -ENOMEM;
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return 0;
}

/* Reads an array of room names (nil: none) into *v, *n. */
static int rd_names(struct rd *r, char ***v, size_t *n)
{
    struct mp h, e;
    int rc;
    if (rd_head(r, &h) < 0)
        return -EPROTO;
    if (h.kind == MP_NIL)
        return 0;
    if (h.kind != MP_ARR)
        return -EPROTO;
    *v = calloc(h.u ? h.u : 1, sizeof **v);
    if (*v == NULL)
        return -ENOMEM;
    for (uint64_t k = 0; k < h.u; k++) {
        if (rd_head(r, &e) < 0)
            return -EPROTO;
        rc = dup_name(&e, &(*v)[*n]);
        if (rc < 0)
            return rc;
        (*n)++;
    }
    return 0;
}

static int rd_flags(struct rd *r, siod_cluster_bcast *out)
{
    unsigned *flags = &out->flags;
    struct mp h, k, v;
    if (rd_head(r, &h) < 0)
        return -EPROTO;
    if (h.kind == MP_NIL)
        return 0;
    if (h.kind != MP_MAP)
        return -EPROTO;
    for (uint64_t i = 0; i < h.u; i++) {
        if (rd_key(r, &k) < 0)
            return -EPROTO;
        struct rd save = *r;
        if (rd_head(r, &v) < 0)
            return -EPROTO;
        if (is_key(&k, "timeout") && (v.kind == MP_UINT || v.kind == MP_FLOAT)) {
            double ms = v.kind == MP_UINT ? (double)v.u : v.f;
            out->timeout_ms = ms >= 1 && ms < 86400000.0 ? (unsigned)ms : 0;
            continue;
        }
        if (v.kind != MP_BOOL) {
            *r = save;
            if (rd_skip(r, 1) < 0)
                return -EPROTO;
            continue;
        }
        if (is_key(&k, "volatile") && v.u)
            *flags |= SIOD_CLUSTER_VOLATILE;
        else if (is_key(&k, "compress") && !v.u)
            *flags |= SIOD_CLUSTER_NO_COMPRESS;
        else if (is_key(&k, "local") && v.u)
            *flags |= SIOD_CLUSTER_LOCAL;
    }
    return 0;
}

static int rd_opts(struct rd *r, siod_cluster_bcast *out)
{
    struct mp h, k;
    int rc;
    if (rd_head(r, &h) < 0)
        return -EPROTO;
    if (h.kind == MP_NIL)
        return 0;
    if (h.kind != MP_MAP)
        return -EPROTO;
    for (uint64_t i = 0; i < h.u; i++) {
        if (rd_key(r, &k) < 0)
            return -EPROTO;
        if (is_key(&k, "rooms") && out->rooms == NULL)
            rc = rd_names(r, &out->rooms, &out->nrooms);
        else if (is_key(&k, "except") && out->except == NULL)
            rc = rd_names(r, &out->except, &out->nexcept);
        else if (is_key(&k, "flags"))
            rc = rd_flags(r, out);
        else
            rc = rd_skip(r, 1);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The packet map: its data as JSON into data, its namespace into out. */
static int rd_packet(struct dec *d, struct text *data, siod_cluster_bcast *out)
{
    struct mp h, k, v;
    int rc, type = -1;
    if (rd_head(&d->r, &h) < 0 || h.kind != MP_MAP)
        return -EPROTO;
    for (uint64_t i = 0; i < h.u; i++) {
        if (rd_key(&d->r, &k) < 0)
            return -EPROTO;
        if (is_key(&k, "data") && data->p == NULL) {
            struct rd save = d->r;
            if (rd_head(&d->r, &v) < 0 || v.kind != MP_ARR || v.u == 0)
                return -EPROTO;
            d->r = save;
            rc = to_json(d, data, 1);
        } else if (is_key(&k, "nsp") && out->nsp == NULL) {
            if (rd_head(&d->r, &v) < 0)
                return -EPROTO;
            rc = dup_name(&v, &out->nsp);
        } else if (is_key(&k, "type")) {
            if (rd_head(&d->r, &v) < 0 || v.kind != MP_UINT)
                return -EPROTO;
            type = v.u <= 6 ? (int)v.u : -1;
            rc = 0;
        } else {
            rc = rd_skip(&d->r, 1);
        }
        if (rc < 0)
            return rc;
    }
    /* events only: the type stays 2 (EVENT) even with binary data */
    if ((type != SIO_PACKET_EVENT && type != SIO_PACKET_BINARY_EVENT) ||
        data->p == NULL)
        return -EPROTO;
    return 0;
}

void siod_cluster_bcast_clear(siod_cluster_bcast *b)
{
    free(b->uid);
    free(b->nsp);
    free(b->packet);
    free(b->bins);
    for (size_t i = 0; i < b->nrooms; i++)
        free(b->rooms[i]);
    for (size_t i = 0; i < b->nexcept; i++)
        free(b->except[i]);
    free(b->rooms);
    free(b->except);
    memset(b, 0, sizeof *b);
}

/* The decoded parts as siod's packet: the packet text of *out from its
 * namespace and data, the attachments moved from d. Returns 0, -ENOMEM or
 * -EPROTO (*what says why). */
static int finish(struct dec *d, struct text *data, siod_cluster_bcast *out,
                  const char **what)
{
    struct sio_packet p;
    struct sio_packet_opts po = { SIOD_CLUSTER_MAX_BINS, 128,
                                  SIO_JSON_LONE_SURROGATES };
    size_t hlen, n;

    if (out->nsp == NULL && (out->nsp = strdup("/")) == NULL)
        return -ENOMEM;
    *what = "a packet siod cannot encode";
    memset(&p, 0, sizeof p);
    p.type = d->nbins > 0 ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT;
    p.attachments = d->nbins;
    p.nsp = out->nsp;
    p.nsp_len = strlen(out->nsp);
    hlen = sio_packet_encoded_size(&p);
    out->packet = malloc(hlen + data->len + 1);
    if (out->packet == NULL)
        return -ENOMEM;
    if (sio_packet_encode(&p, out->packet, hlen, &n) != SIO_OK)
        return -EPROTO;
    memcpy(out->packet + n, data->p, data->len);
    out->packet_len = n + data->len;
    out->packet[out->packet_len] = '\0';
    /* what clients get must be what siod's own parser accepts */
    *what = "an invalid Socket.IO packet";
    if (sio_packet_parse(out->packet, out->packet_len, &po, &p) != SIO_OK)
        return -EPROTO;
    out->bins = d->bins;
    out->nbins = d->nbins;
    d->bins = NULL;
    return 0;
}

int siod_cluster_decode_bcast(const unsigned char *msg, size_t len,
                              siod_cluster_bcast *out, char *why, size_t cap)
{
    struct dec d = { { msg, msg + len }, NULL, 0, 0 };
    struct text data = { NULL, 0, 0 };
    struct mp h, v;
    const char *what = "not a broadcast";
    int rc = -EPROTO;

    memset(out, 0, sizeof *out);
    if (msg == NULL || rd_head(&d.r, &h) < 0 || h.kind != MP_ARR || h.u < 2)
        goto fail;
    what = "bad uid";
    if (rd_head(&d.r, &v) < 0 || (rc = dup_name(&v, &out->uid)) < 0)
        goto fail;
    what = "bad packet";
    if ((rc = rd_packet(&d, &data, out)) < 0)
        goto fail;
    what = "bad options";
    if (h.u >= 3 && (rc = rd_opts(&d.r, out)) < 0)
        goto fail;
    if ((rc = finish(&d, &data, out, &what)) < 0)
        goto fail;
    free(data.p);
    return 0;
fail:
    free(data.p);
    free(d.bins);
    siod_cluster_bcast_clear(out);
    if (rc == -EPROTO)
        siod_err_set(why, cap, -EINVAL, "%s", what);
    return rc;
}

int siod_cluster_decode_bcast_request(const unsigned char *msg, size_t len,
                                      siod_cluster_bcast *out,
                                      char **request_id, char *why,
                                      size_t cap)
{
    struct dec d = { { msg, msg + len }, NULL, 0, 0 };
    struct text data = { NULL, 0, 0 };
    struct mp h, k, v;
    const char *what = "not a broadcast request";
    int rc = -EPROTO, type = -1;

    memset(out, 0, sizeof *out);
    *request_id = NULL;
    if (msg == NULL || rd_head(&d.r, &h) < 0 || h.kind != MP_MAP)
        goto fail;
    for (uint64_t i = 0; i < h.u; i++) {
        if (rd_key(&d.r, &k) < 0) {
            rc = -EPROTO;
            goto fail;
        }
        if (is_key(&k, "packet") && data.p == NULL) {
            rc = rd_packet(&d, &data, out);
        } else if (is_key(&k, "opts")) {
            rc = rd_opts(&d.r, out);
        } else if (is_key(&k, "type")) {
            rc = rd_head(&d.r, &v);
            type = rc == 0 && v.kind == MP_UINT ? (int)(v.u & 0xff) : -1;
        } else if ((is_key(&k, "uid") && out->uid == NULL) ||
                   (is_key(&k, "requestId") && *request_id == NULL)) {
            rc = rd_head(&d.r, &v);
            if (rc == 0)
                rc = dup_name(&v, is_key(&k, "uid") ? &out->uid : request_id);
        } else {
            rc = rd_skip(&d.r, 1);
        }
        if (rc < 0)
            goto fail;
    }
    rc = -EPROTO;
    if (type != SIOD_REQ_BROADCAST || data.p == NULL || *request_id == NULL)
        goto fail;
    if (out->uid == NULL && (out->uid = strdup("")) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = finish(&d, &data, out, &what)) < 0)
        goto fail;
    free(data.p);
    return 0;
fail:
    free(data.p);
    free(d.bins);
    free(*request_id);
    *request_id = NULL;
    siod_cluster_bcast_clear(out);
    if (rc == -EPROTO)
        siod_err_set(why, cap, -EINVAL, "%s", what);
    return rc;
}

int siod_cluster_decode_ack(const unsigned char *msg, size_t len,
                            siod_cluster_ack *out)
{
    struct dec d = { { msg, msg + len }, NULL, 0, 0 };
    struct text arg = { NULL, 0, 0 };
    struct mp h, k, v;
    int rc = -EPROTO, type = -1;

    memset(out, 0, sizeof *out);
    if (msg == NULL || rd_head(&d.r, &h) < 0 || h.kind != MP_MAP)
        return -EPROTO;
    for (uint64_t i = 0; i < h.u; i++) {
        if (rd_key(&d.r, &k) < 0) {
            rc = -EPROTO;
            goto fail;
        }
        if (is_key(&k, "packet") && arg.p == NULL) {
            rc = to_json(&d, &arg, 1);
        } else if (is_key(&k, "type")) {
            rc = rd_head(&d.r, &v);
            type = rc == 0 && v.kind == MP_UINT && v.u == SIOD_REQ_BROADCAST_ACK
                       ? SIOD_REQ_BROADCAST_ACK : -1;
        } else if (is_key(&k, "requestId") && out->request_id == NULL) {
            rc = rd_head(&d.r, &v);
            if (rc == 0)
                rc = dup_name(&v, &out->request_id);
        } else {
            rc = rd_skip(&d.r, 1);
        }
        if (rc < 0)
            goto fail;
    }
    rc = -EPROTO;
    if (type != SIOD_REQ_BROADCAST_ACK || out->request_id == NULL)
        goto fail;
    if (arg.p == NULL && text_add(&arg, "null", 4) < 0) {
        rc = -ENOMEM;
        goto fail;
    }
    out->json = arg.p;
    out->len = arg.len;
    out->bins = d.bins;
    out->nbins = d.nbins;
    return 0;
fail:
    free(arg.p);
    free(d.bins);
    free(out->request_id);
    memset(out, 0, sizeof *out);
    return rc;
}

void siod_cluster_ack_clear(siod_cluster_ack *a)
{
    free(a->request_id);
    free(a->json);
    free(a->bins);
    memset(a, 0, sizeof *a);
}

int siod_cluster_decode_json(const unsigned char *msg, size_t len,
                             char **json, size_t *jlen,
                             siod_cluster_bin **bins, unsigned *nbins)
{
    struct dec d = { { msg, msg + len }, NULL, 0, 0 };
    struct text t = { NULL, 0, 0 };
    int rc = msg != NULL ? to_json(&d, &t, 0) : -EPROTO;
    if (rc == 0 && d.r.p != d.r.end)
        rc = -EPROTO;
    if (rc < 0) {
        free(t.p);
        free(d.bins);
        return rc;
    }
    *json = t.p;
    *jlen = t.len;
    *bins = d.bins;
    *nbins = d.nbins;
    return 0;
}
