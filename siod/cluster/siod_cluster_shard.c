/* The sharded adapter's wire (@socket.io/redis-adapter's
 * createShardedAdapter, socket.io-adapter's ClusterAdapter): messages
 * {uid, nsp, type, data}, JSON unless they carry binary, then msgpack
 * with binary as bin. A msgpack message is first turned into JSON with
 * attachment placeholders (siod_cluster_decode_json), and siod's own
 * messages are written as such JSON and packed when they carry binary
 * (siod_cluster_encode_json), so one JSON reader and writer serve both.
 * Pure: no loop, no log, no global state (fuzzed by
 * tests/fuzz/fuzz_cluster.c). */
#include "siod_cluster.h"
#include "sio_json.h"
#include "sio_packet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Nesting a message may have (its packet's data included). */
#define MSG_DEPTH 130

/* ---- reading ---------------------------------------------------------- */

/* Finds member key of *obj: 1 with *v, 0 when absent (or *obj is no
 * object), -EPROTO. */
static int member(const struct sio_json_span *obj, const char *key,
                  struct sio_json_span *v)
{
    if (obj->type != SIO_JSON_OBJECT)
        return 0;
    int rc = sio_json_object_get(obj, key, strlen(key), v);
    return rc == SIO_OK ? 1 : rc == SIO_DONE ? 0 : -EPROTO;
}

/* A NUL-terminated copy of a string (decoded; no NUL inside) or of a
 * number's text. */
static int dup_text(const struct sio_json_span *v, char **out)
{
    size_t n = 0;
    *out = malloc(v->len + 1);
    if (*out == NULL)
        return -ENOMEM;
    if (v->type == SIO_JSON_NUMBER) {
        memcpy(*out, v->ptr, v->len);
        n = v->len;
    } else if (v->type != SIO_JSON_STRING ||
               sio_json_string_decode(v, *out, v->len, &n) != SIO_OK ||
               memchr(*out, '\0', n) != NULL) {
        free(*out);
        *out = NULL;
        return -EPROTO;
    }
    (*out)[n] = '\0';
    return 0;
}

/* Room names: an array of strings (numbers as their text), one string,
 * or none (null, absent). */
static int rd_names(const struct sio_json_span *v, char ***out, size_t *n)
{
    struct sio_json_iter it;
    struct sio_json_span e;
    size_t count = 0;
    int rc;

    if (v->type == SIO_JSON_STRING) {
        if ((*out = calloc(1, sizeof **out)) == NULL)
            return -ENOMEM;
        if ((rc = dup_text(v, &(*out)[0])) < 0)
            return rc;
        *n = 1;
        return 0;
    }
    if (v->type != SIO_JSON_ARRAY)
        return v->type == SIO_JSON_NULL ? 0 : -EPROTO;
    sio_json_iter_init(&it, v);
    while ((rc = sio_json_array_next(&it, &e)) == SIO_OK)
        count++;
    if (rc != SIO_DONE)
        return -EPROTO;
    if ((*out = calloc(count ? count : 1, sizeof **out)) == NULL)
        return -ENOMEM;
    sio_json_iter_init(&it, v);
    while (sio_json_array_next(&it, &e) == SIO_OK) {
        if ((rc = dup_text(&e, &(*out)[*n])) < 0)
            return rc;
        (*n)++;
    }
    return 0;
}

/* opts {rooms, except, flags {volatile, compress, local, timeout}}. */
static int rd_opts(const struct sio_json_span *o, siod_cluster_bcast *b)
{
    struct sio_json_span v, f;
    int rc;

    if ((rc = member(o, "rooms", &v)) < 0 ||
        (rc > 0 && (rc = rd_names(&v, &b->rooms, &b->nrooms)) < 0))
        return rc;
    if ((rc = member(o, "except", &v)) < 0 ||
        (rc > 0 && (rc = rd_names(&v, &b->except, &b->nexcept)) < 0))
        return rc;
    if ((rc = member(o, "flags", &f)) <= 0)
        return rc;
    if (member(&f, "volatile", &v) > 0 && v.type == SIO_JSON_TRUE)
        b->flags |= SIOD_CLUSTER_VOLATILE;
    if (member(&f, "compress", &v) > 0 && v.type == SIO_JSON_FALSE)
        b->flags |= SIOD_CLUSTER_NO_COMPRESS;
    if (member(&f, "local", &v) > 0 && v.type == SIO_JSON_TRUE)
        b->flags |= SIOD_CLUSTER_LOCAL;
    if (member(&f, "timeout", &v) > 0 && v.type == SIO_JSON_NUMBER &&
        v.len < 40) {
        char tmp[40];
        memcpy(tmp, v.ptr, v.len);
        tmp[v.len] = '\0';
        double ms = strtod(tmp, NULL);
        b->timeout_ms = ms >= 1 && ms < 86400000.0 ? (unsigned)ms : 0;
    }
    return 0;
}

/* The packet {type: 2, data, nsp} as siod's packet text in *b, with
 * nbins attachments. */
static int rd_packet(const struct sio_json_span *pk, unsigned nbins,
                     siod_cluster_bcast *b, const char **what)
{
    struct sio_json_span v, data;
    struct sio_packet p;
    struct sio_packet_opts po = { SIOD_CLUSTER_MAX_BINS, MSG_DEPTH,
                                  SIO_JSON_LONE_SURROGATES };
    uint64_t type;
    size_t hlen, n;
    int rc;

    *what = "bad packet";
    if (member(pk, "type", &v) <= 0 || v.type != SIO_JSON_NUMBER ||
        sio_json_uint(&v, 6, &type) != SIO_OK ||
        (type != SIO_PACKET_EVENT && type != SIO_PACKET_BINARY_EVENT) ||
        member(pk, "data", &data) <= 0 || data.type != SIO_JSON_ARRAY ||
        data.len < 3)
        return -EPROTO;
    if ((rc = member(pk, "nsp", &v)) < 0 ||
        (rc > 0 && (rc = dup_text(&v, &b->nsp)) < 0))
        return rc;
    if (b->nsp == NULL && (b->nsp = strdup("/")) == NULL)
        return -ENOMEM;
    *what = "a packet siod cannot encode";
    memset(&p, 0, sizeof p);
    p.type = nbins > 0 ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT;
    p.attachments = nbins;
    p.nsp = b->nsp;
    p.nsp_len = strlen(b->nsp);
    hlen = sio_packet_encoded_size(&p);
    if ((b->packet = malloc(hlen + data.len + 1)) == NULL)
        return -ENOMEM;
    if (sio_packet_encode(&p, b->packet, hlen, &n) != SIO_OK)
        return -EPROTO;
    memcpy(b->packet + n, data.ptr, data.len);
    b->packet_len = n + data.len;
    b->packet[b->packet_len] = '\0';
    /* what clients get must be what siod's own parser accepts */
    *what = "an invalid Socket.IO packet";
    if (sio_packet_parse(b->packet, b->packet_len, &po, &p) != SIO_OK)
        return -EPROTO;
    return 0;
}

void siod_cluster_msg_clear(siod_cluster_msg *m)
{
    free(m->uid);
    free(m->nsp);
    free(m->request_id);
    for (size_t i = 0; i < m->nnames; i++)
        free(m->names[i]);
    free(m->names);
    free(m->arg);
    siod_cluster_bcast_clear(&m->b);
    memset(m, 0, sizeof *m);
}

/* The message's data, by its type. */
static int rd_data(siod_cluster_msg *m, const struct sio_json_span *data,
                   unsigned nbins, const char **what)
{
    struct sio_json_span v;
    uint64_t count;
    int rc;

    *what = "bad options";
    if ((rc = member(data, "opts", &v)) < 0 ||
        (rc > 0 && (rc = rd_opts(&v, &m->b)) < 0))
        return rc;
    *what = "bad data";
    switch (m->type) {
    case SIOD_MSG_BROADCAST:
        if ((rc = member(data, "packet", &v)) <= 0)
            return rc < 0 ? rc : -EPROTO;
        return rd_packet(&v, nbins, &m->b, what);
    case SIOD_MSG_SOCKETS_JOIN:
    case SIOD_MSG_SOCKETS_LEAVE:
        if ((rc = member(data, "rooms", &v)) <= 0)
            return rc;
        return rd_names(&v, &m->names, &m->nnames);
    case SIOD_MSG_DISCONNECT_SOCKETS:
        m->close = member(data, "close", &v) > 0 && v.type == SIO_JSON_TRUE;
        return 0;
    case SIOD_MSG_BROADCAST_CLIENT_COUNT:
        if (member(data, "clientCount", &v) <= 0 ||
            v.type != SIO_JSON_NUMBER ||
            sio_json_uint(&v, SIZE_MAX / 2, &count) != SIO_OK)
            return -EPROTO;
        m->client_count = (size_t)count;
        return 0;
    case SIOD_MSG_BROADCAST_ACK:
    case SIOD_MSG_SERVER_SIDE_EMIT:
    case SIOD_MSG_SERVER_SIDE_EMIT_RESPONSE:
    case SIOD_MSG_FETCH_SOCKETS_RESPONSE:
        rc = member(data, m->type == SIOD_MSG_FETCH_SOCKETS_RESPONSE
                              ? "sockets" : "packet", &v);
        if (rc < 0)
            return rc;
        if (m->type == SIOD_MSG_SERVER_SIDE_EMIT &&
            (rc == 0 || v.type != SIO_JSON_ARRAY))
            return -EPROTO;
        if (rc == 0) {
            v.ptr = m->type == SIOD_MSG_FETCH_SOCKETS_RESPONSE ? "[]"
                                                                : "null";
            v.len = strlen(v.ptr);
        }
        if ((m->arg = strndup(v.ptr, v.len)) == NULL)
            return -ENOMEM;
        m->arg_len = v.len;
        return 0;
    default:
        return 0;
    }
}

int siod_cluster_decode_msg(const unsigned char *msg, size_t len,
                            siod_cluster_msg *out, char *why, size_t cap)
{
    char *json = NULL;
    size_t jlen = len;
    siod_cluster_bin *bins = NULL;
    unsigned nbins = 0;
    struct sio_json_span root, v, data = { NULL, 0, SIO_JSON_NONE };
    uint64_t type;
    const char *what = "not JSON nor msgpack";
    int rc = -EPROTO;

    memset(out, 0, sizeof *out);
    if (msg == NULL || len == 0)
        goto fail;
    if (msg[0] != '{') {
        rc = siod_cluster_decode_json(msg, len, &json, &jlen, &bins, &nbins);
        if (rc < 0)
            goto fail;
    }
    rc = -EPROTO;
    if (sio_json_validate(json != NULL ? json : (const char *)msg, jlen,
                          MSG_DEPTH, SIO_JSON_LONE_SURROGATES,
                          &root) != SIO_OK ||
        root.type != SIO_JSON_OBJECT)
        goto fail;
    what = "not a cluster message";
    if (member(&root, "type", &v) <= 0 || v.type != SIO_JSON_NUMBER ||
        sio_json_uint(&v, 255, &type) != SIO_OK)
        goto fail;
    out->type = (int)type;
    if (member(&root, "nsp", &v) <= 0 || (rc = dup_text(&v, &out->nsp)) < 0)
        goto fail;
    rc = member(&root, "uid", &v);
    if (rc > 0)
        rc = dup_text(&v, &out->uid);
    else if (rc == 0)
        rc = (out->uid = strdup("")) != NULL ? 0 : -ENOMEM;
    if (rc < 0 || (rc = member(&root, "data", &data)) < 0)
        goto fail;
    if ((rc = member(&data, "requestId", &v)) < 0 ||
        (rc > 0 && (rc = dup_text(&v, &out->request_id)) < 0))
        goto fail;
    if ((rc = rd_data(out, &data, nbins, &what)) < 0)
        goto fail;
    out->b.bins = bins;
    out->b.nbins = nbins;
    free(json);
    return 0;
fail:
    free(json);
    free(bins);
    siod_cluster_msg_clear(out);
    if (rc == -EPROTO)
        siod_err_set(why, cap, -EINVAL, "%s", what);
    return rc;
}

/* ---- writing ------------------------------------------------------------ */

struct text {
    char *p;
    size_t len, cap;
    int failed;                      /* -ENOMEM or -EINVAL, kept */
};

/* Room for n more bytes and a NUL; 0, or -ENOMEM kept in t. */
static int reserve(struct text *t, size_t n)
{
    if (t->failed)
        return t->failed;
    if (t->cap - t->len < n + 1) {
        size_t nc = t->cap ? t->cap : 256;
        while (nc - t->len < n + 1)
            nc *= 2;
        char *np = realloc(t->p, nc);
        if (np == NULL)
            return t->failed = -ENOMEM;
        t->p = np;
        t->cap = nc;
    }
    return 0;
}

static void add(struct text *t, const char *s, size_t n)
{
    if (reserve(t, n) < 0)
        return;
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void add_s(struct text *t, const char *s)
{
    add(t, s, strlen(s));
}

/* s[0..n) as a quoted JSON string (-EINVAL if it is not UTF-8). */
static void add_quoted(struct text *t, const char *s, size_t n)
{
    size_t need = sio_json_string_size(s, n), w;
    if (reserve(t, need) < 0)
        return;
    if (sio_json_write_string(s, n, t->p + t->len, need, &w) != SIO_OK) {
        t->failed = -EINVAL;
        return;
    }
    t->len += w;
    t->p[t->len] = '\0';
}

static void add_names(struct text *t, char *const *v, size_t n)
{
    add_s(t, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            add_s(t, ",");
        add_quoted(t, v[i], strlen(v[i]));
    }
    add_s(t, "]");
}

/* The envelope around data (t's text) as the message in *out: JSON, or
 * msgpack with bins when there are any. */
static int finish_msg(struct text *t, const char *uid, const char *nsp,
                      size_t nsp_len, int type, const char *data,
                      size_t dlen, const siod_cluster_bin *bins,
                      unsigned nbins, unsigned char **out, size_t *outlen)
{
    char num[32];
    add_s(t, "{\"uid\":");
    add_quoted(t, uid, strlen(uid));
    add_s(t, ",\"nsp\":");
    add_quoted(t, nsp, nsp_len);
    snprintf(num, sizeof num, ",\"type\":%d,\"data\":", type);
    add_s(t, num);
    add(t, data, dlen);
    add_s(t, "}");
    if (t->failed)
        return t->failed;
    if (nbins == 0) {
        *out = (unsigned char *)t->p;
        *outlen = t->len;
        t->p = NULL;
        return 0;
    }
    return siod_cluster_encode_json(t->p, t->len, bins, nbins, out, outlen);
}

int siod_cluster_encode_shard_bcast(const char *uid, const char *request_id,
                                    const char *pkt, size_t len,
                                    const siod_cluster_bin *atts,
                                    unsigned natts, char *const *rooms,
                                    size_t nrooms, char *const *except,
                                    size_t nexcept, unsigned flags,
                                    unsigned char **out, size_t *outlen)
{
    struct sio_packet p;
    struct sio_packet_opts po = { natts > 0 ? natts : 1, MSG_DEPTH,
                                  SIO_JSON_LONE_SURROGATES };
    struct text d = { NULL, 0, 0, 0 }, m = { NULL, 0, 0, 0 };
    int rc;

    if (sio_packet_parse(pkt, len, &po, &p) != SIO_OK ||
        (p.has_id && request_id == NULL) ||
        (p.type != SIO_PACKET_EVENT && p.type != SIO_PACKET_BINARY_EVENT) ||
        p.attachments != (p.type == SIO_PACKET_BINARY_EVENT ? natts : 0))
        return -EINVAL;
    /* the type stays 2 with binary data, as the Node server sends it; the
     * receivers give a packet with acks ack ids of their own */
    add_s(&d, "{\"packet\":{\"type\":2,\"data\":");
    add(&d, p.data.ptr, p.data.len);
    add_s(&d, ",\"nsp\":");
    add_quoted(&d, p.nsp, p.nsp_len);
    add_s(&d, "}");
    if (request_id != NULL) {
        add_s(&d, ",\"requestId\":");
        add_quoted(&d, request_id, strlen(request_id));
    }
    add_s(&d, ",\"opts\":{\"rooms\":");
    add_names(&d, rooms, nrooms);
    add_s(&d, ",\"except\":");
    add_names(&d, except, nexcept);
    add_s(&d, ",\"flags\":{");
    if (flags & SIOD_CLUSTER_VOLATILE)
        add_s(&d, (flags & SIOD_CLUSTER_NO_COMPRESS)
                      ? "\"volatile\":true,\"compress\":false"
                      : "\"volatile\":true");
    else if (flags & SIOD_CLUSTER_NO_COMPRESS)
        add_s(&d, "\"compress\":false");
    add_s(&d, "}}}");
    rc = d.failed ? d.failed
                  : finish_msg(&m, uid, p.nsp, p.nsp_len, SIOD_MSG_BROADCAST,
                               d.p, d.len, atts, natts, out, outlen);
    free(d.p);
    free(m.p);
    return rc;
}

int siod_cluster_encode_shard_response(const char *uid, const char *nsp,
                                       int type, const char *request_id,
                                       const char *key, const char *value,
                                       size_t vlen,
                                       const siod_cluster_bin *bins,
                                       unsigned nbins, unsigned char **out,
                                       size_t *outlen)
{
    struct text d = { NULL, 0, 0, 0 }, m = { NULL, 0, 0, 0 };
    int rc;

    add_s(&d, "{\"requestId\":");
    add_quoted(&d, request_id, strlen(request_id));
    if (key != NULL) {
        add_s(&d, ",");
        add_quoted(&d, key, strlen(key));
        add_s(&d, ":");
        add(&d, value, vlen);
    }
    add_s(&d, "}");
    rc = d.failed ? d.failed
                  : finish_msg(&m, uid, nsp, strlen(nsp), type, d.p, d.len,
                               bins, nbins, out, outlen);
    free(d.p);
    free(m.p);
    return rc;
}

int siod_cluster_encode_shard_request(const char *uid, const char *nsp,
                                      int type, const char *request_id,
                                      char *const *rooms, size_t nrooms,
                                      char *const *except, size_t nexcept,
                                      const char *room, int close,
                                      const char *packet, size_t plen,
                                      unsigned char **out, size_t *outlen)
{
    struct text d = { NULL, 0, 0, 0 }, m = { NULL, 0, 0, 0 };
    int rc;

    add_s(&d, "{");
    if (type == SIOD_MSG_SERVER_SIDE_EMIT) {
        add_s(&d, "\"packet\":");
        add(&d, packet, plen);
    } else {
        add_s(&d, "\"opts\":{\"rooms\":");
        add_names(&d, rooms, nrooms);
        add_s(&d, ",\"except\":");
        add_names(&d, except, nexcept);
        add_s(&d, ",\"flags\":{}}");
    }
    if (type == SIOD_MSG_SOCKETS_JOIN || type == SIOD_MSG_SOCKETS_LEAVE) {
        add_s(&d, ",\"rooms\":");
        add_names(&d, (char *const *)&room, 1);
    } else if (type == SIOD_MSG_DISCONNECT_SOCKETS) {
        add_s(&d, close ? ",\"close\":true" : ",\"close\":false");
    }
    if (request_id != NULL) {
        add_s(&d, ",\"requestId\":");
        add_quoted(&d, request_id, strlen(request_id));
    }
    add_s(&d, "}");
    rc = d.failed ? d.failed
                  : finish_msg(&m, uid, nsp, strlen(nsp), type, d.p, d.len,
                               NULL, 0, out, outlen);
    free(d.p);
    free(m.p);
    return rc;
}
