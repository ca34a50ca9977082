/* This server's cluster-wide requests, as @socket.io/redis-adapter makes
 * them on `<prefix>-request#<nsp>#`: fetchSockets (REMOTE_FETCH) and
 * serverSideEmit (SERVER_SIDE_EMIT, with or without answers) awaiting the
 * other servers' responses with a timeout, and the remote join, leave and
 * disconnect requests (fire and forget). Also other servers' server-side
 * emits handed to the host, and their answers sent back. */
#include "siod_cluster_int.h"
#include "adapter/siod_adapter.h"
#include "core/siod_core.h"
#include "sio_json.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define g siod_cluster_g

/* Nesting accepted in the JSON of requests and responses. */
#define MAX_DEPTH 128

/* ---- JSON text ------------------------------------------------------------- */

struct jtext {
    char *p;
    size_t len, cap;
    int failed;
};

static void jt_add(struct jtext *t, const char *s, size_t n)
{
    if (t->failed)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (p == NULL) {
            t->failed = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

static void jt_str(struct jtext *t, const char *s)
{
    size_t n = strlen(s), need = sio_json_string_size(s, n), len;
    char small[128], *buf = need <= sizeof small ? small : malloc(need);
    if (buf == NULL ||
        sio_json_write_string(s, n, buf, need, &len) != SIO_OK)
        t->failed = 1;
    else
        jt_add(t, buf, len);
    if (buf != small)
        free(buf);
}

static void jt_lit(struct jtext *t, const char *s)
{
    jt_add(t, s, strlen(s));
}

static void jt_strv(struct jtext *t, char *const *v, size_t n)
{
    jt_lit(t, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            jt_lit(t, ",");
        jt_str(t, v[i]);
    }
    jt_lit(t, "]");
}

/* {"uid":...,["requestId":...,]"type":N, then the caller's members. */
static void jt_head(struct jtext *t, const char *request_id, int type)
{
    char num[16];
    jt_lit(t, "{\"uid\":");
    jt_str(t, g.uid);
    if (request_id != NULL) {
        jt_lit(t, ",\"requestId\":");
        jt_str(t, request_id);
    }
    snprintf(num, sizeof num, ",\"type\":%d", type);
    jt_lit(t, num);
}

static void jt_opts(struct jtext *t, const siod_bcast_opts *o)
{
    jt_lit(t, ",\"opts\":{\"rooms\":");
    jt_strv(t, o->rooms, o->nrooms);
    jt_lit(t, ",\"except\":");
    jt_strv(t, o->except, o->nexcept);
    jt_lit(t, "}");
}

/* A validated JSON object's member key as a span, or type NONE. */
static struct sio_json_span member(const struct sio_json_span *obj,
                                   const char *key)
{
    struct sio_json_span v = { NULL, 0, SIO_JSON_NONE };
    if (sio_json_object_get(obj, key, strlen(key), &v) != SIO_OK)
        v.type = SIO_JSON_NONE;
    return v;
}

/* A string span decoded (malloc'd), or NULL. */
static char *span_str(const struct sio_json_span *s)
{
    size_t len;
    char *buf;
    if (s->type != SIO_JSON_STRING || (buf = malloc(s->len)) == NULL)
        return NULL;
    if (sio_json_string_decode(s, buf, s->len, &len) != SIO_OK) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* ---- fire and forget ----------------------------------------------------- */

void siod_cluster_remote_sockets(struct radapter *a, int type,
                                 const siod_bcast_opts *o, const char *room,
                                 int close)
{
    struct jtext t = { NULL, 0, 0, 0 };
    jt_head(&t, NULL, type);
    jt_opts(&t, o);
    if (type == SIOD_REQ_REMOTE_DISCONNECT) {
        jt_lit(&t, close ? ",\"close\":true}" : ",\"close\":false}");
    } else {
        jt_lit(&t, ",\"rooms\":[");
        jt_str(&t, room);
        jt_lit(&t, "]}");
    }
    if (t.failed)
        siod_log_limited(SIOD_LOG_WARN, "redis: namespace %s: a request of "
                         "type %d not sent (out of memory, or a room name "
                         "that is not UTF-8)", a->nsp, type);
    else
        siod_redis_publish(g.r, a->req_channel, strlen(a->req_channel), t.p,
                           t.len);
    free(t.p);
}

/* ---- requests awaiting answers --------------------------------------------- */

/* One of this server's requests waiting for the other servers. */
struct creq {
    char request_id[7];
    int type;                        /* REMOTE_FETCH or SERVER_SIDE_EMIT */
    unsigned refs;                   /* the list's, and NUMSUB's while asked */
    int done;
    int starting;                    /* in siod_cluster_remote_request */
    int down;                        /* NUMSUB failed during the start */
    struct radapter *a;              /* NULL once the namespace went */
    char *msg;                       /* the request, sent once counted */
    size_t len;
    long long expected, got;
    struct event *timer;
    siod_adapter_fetch_fn ffn;
    siod_adapter_reply_fn rfn;
    void *ud;
    siod_adapter_remote *socks;      /* fetch: the sockets, strings malloc'd */
    char **v;                        /* emit: the answers */
    size_t *lens;
    size_t n, cap;
    struct creq *next;
};

static void creq_unref(struct creq *q)
{
    if (--q->refs > 0)
        return;
    for (size_t i = 0; i < q->n; i++) {
        if (q->socks != NULL) {
            free((char *)q->socks[i].id);
            free((char *)q->socks[i].handshake);
            free((char *)q->socks[i].rooms);
            free((char *)q->socks[i].data);
        }
        if (q->v != NULL)
            free(q->v[i]);
    }
    free(q->socks);
    free(q->v);
    free(q->lens);
    free(q->msg);
    if (q->timer != NULL)
        event_free(q->timer);
    free(q);
}

/* Ends q: off the list, its callback run (call = 1) with err. */
static void creq_finish(struct creq *q, int err, int call)
{
    if (q->done)
        return;
    q->done = 1;
    if (q->timer != NULL)
        event_del(q->timer);
    for (struct creq **pp = &g.requests; *pp != NULL; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    if (call && q->type == SIOD_REQ_REMOTE_FETCH)
        q->ffn(q->ud, err, err == 0 ? q->socks : NULL, err == 0 ? q->n : 0);
    else if (call)
        q->rfn(q->ud, err, (const char *const *)q->v, q->lens, q->n);
    creq_unref(q);
}

static void creq_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct creq *q = arg;
    siod_log_debug("redis: request %s: %lld of %lld servers answered in "
                   "time", q->request_id, q->got, q->expected);
    creq_finish(q, -ETIMEDOUT, 1);
}

/* PUBSUB NUMSUB answered: the request goes out to n - 1 servers (this one
 * counts itself), or ends at once when there is none. */
static void creq_numsub_cb(void *ud, int ok, long long n)
{
    struct creq *q = ud;
    if (!q->done && !ok && q->starting)
        q->down = 1;
    else if (!q->done && !ok)
        creq_finish(q, -ENOTCONN, 1);
    else if (!q->done && n <= 1)
        creq_finish(q, 0, 1);
    else if (!q->done && q->a != NULL) {
        q->expected = n - 1;
        siod_redis_publish(g.r, q->a->req_channel, strlen(q->a->req_channel),
                           q->msg, q->len);
    }
    creq_unref(q);
}

/* Starts request q (its msg made with q->request_id): counts the servers,
 * then publishes. Returns 0, or -ENOTCONN / -ENOMEM (q freed, its callback
 * not called). */
static int creq_start(struct radapter *a, struct creq *q, unsigned timeout_ms)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    q->a = a;
    q->refs = 2;
    q->starting = 1;
    q->timer = event_new(g.base, -1, 0, creq_timeout_cb, q);
    if (q->timer == NULL || q->msg == NULL) {
        q->refs = 1;
        creq_unref(q);
        return -ENOMEM;
    }
    event_add(q->timer, &tv);
    q->next = g.requests;
    g.requests = q;
    siod_redis_numsub(g.r, a->req_channel, creq_numsub_cb, q);
    q->starting = 0;
    if (q->down) {
        creq_finish(q, -ENOTCONN, 0);
        return -ENOTCONN;
    }
    return 0;
}

/* A request id as the reference's, uid2(6): 6 random alphanumerics
 * (answers name only it, so other servers' requests must not share it). */
static int request_id(char out[7])
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -1;
    for (int i = 0; i < 6; i++)
        out[i] = alnum[rnd[i] % 62];
    out[6] = '\0';
    return 0;
}

static struct creq *creq_new(int type)
{
    struct creq *q = calloc(1, sizeof *q);
    if (q != NULL && request_id(q->request_id) < 0) {
        free(q);
        return NULL;
    }
    if (q != NULL)
        q->type = type;
    return q;
}

int siod_cluster_remote_fetch(struct radapter *a, const siod_bcast_opts *o,
                              unsigned timeout_ms, siod_adapter_fetch_fn fn,
                              void *ud)
{
    struct jtext t = { NULL, 0, 0, 0 };
    struct creq *q;

    if (!a->subscribed || !siod_redis_up(g.r))
        return -ENOTCONN;
    if ((q = creq_new(SIOD_REQ_REMOTE_FETCH)) == NULL)
        return -ENOMEM;
    if (g.sharded) {
        unsigned char *m = NULL;
        if (siod_cluster_encode_shard_request(
                g.uid, a->nsp, SIOD_MSG_FETCH_SOCKETS, q->request_id,
                o->rooms, o->nrooms, o->except, o->nexcept, NULL, 0, NULL, 0,
                &m, &t.len) < 0)
            m = NULL;
        t.p = (char *)m;
    } else {
        jt_head(&t, q->request_id, SIOD_REQ_REMOTE_FETCH);
        jt_opts(&t, o);
        jt_lit(&t, "}");
    }
    if (t.failed) {
        free(t.p);
        t.p = NULL;
    }
    q->msg = t.p;
    q->len = t.len;
    q->ffn = fn;
    q->ud = ud;
    return creq_start(a, q, timeout_ms);
}

int siod_cluster_remote_emit(struct radapter *a, const char *data,
                             size_t len, unsigned timeout_ms,
                             siod_adapter_reply_fn fn, void *ud)
{
    struct jtext t = { NULL, 0, 0, 0 };
    struct creq *q = NULL;

    if (!a->subscribed || !siod_redis_up(g.r))
        return -ENOTCONN;
    if (fn != NULL && (q = creq_new(SIOD_REQ_SERVER_SIDE_EMIT)) == NULL)
        return -ENOMEM;
    if (g.sharded) {
        unsigned char *m = NULL;
        if (siod_cluster_encode_shard_request(
                g.uid, a->nsp, SIOD_MSG_SERVER_SIDE_EMIT,
                q != NULL ? q->request_id : NULL, NULL, 0, NULL, 0, NULL, 0,
                data, len, &m, &t.len) < 0)
            t.failed = 1;
        t.p = (char *)m;
    } else {
        jt_head(&t, q != NULL ? q->request_id : NULL,
                SIOD_REQ_SERVER_SIDE_EMIT);
        jt_lit(&t, ",\"data\":");
        jt_add(&t, data, len);
        jt_lit(&t, "}");
    }
    if (t.failed) {
        free(t.p);
        free(q);
        return -ENOMEM;
    }
    if (q == NULL) {
        siod_redis_publish(g.r, a->req_channel, strlen(a->req_channel), t.p,
                           t.len);
        free(t.p);
        return 0;
    }
    q->msg = t.p;
    q->len = t.len;
    q->rfn = fn;
    q->ud = ud;
    return creq_start(a, q, timeout_ms);
}

/* Makes room for one more answer in q; returns 0 or -ENOMEM. */
static int creq_grow(struct creq *q)
{
    if (q->n < q->cap)
        return 0;
    size_t cap = q->cap ? q->cap * 2 : 8;
    if (q->type == SIOD_REQ_REMOTE_FETCH) {
        siod_adapter_remote *s = realloc(q->socks, cap * sizeof *s);
        if (s == NULL)
            return -ENOMEM;
        q->socks = s;
    } else {
        char **v = realloc(q->v, cap * sizeof *v);
        if (v != NULL)
            q->v = v;
        size_t *l = v != NULL ? realloc(q->lens, cap * sizeof *l) : NULL;
        if (l == NULL)
            return -ENOMEM;
        q->lens = l;
    }
    q->cap = cap;
    return 0;
}

/* One socket of a fetch answer (an object {id, handshake, rooms, data}). */
static void fetch_add(struct creq *q, const struct sio_json_span *s)
{
    struct sio_json_span id = member(s, "id"), hs = member(s, "handshake"),
                         rooms = member(s, "rooms"), data = member(s, "data");
    siod_adapter_remote r;
    if (s->type != SIO_JSON_OBJECT || id.type != SIO_JSON_STRING ||
        creq_grow(q) < 0)
        return;
    r.id = span_str(&id);
    r.handshake = hs.type == SIO_JSON_OBJECT ? strndup(hs.ptr, hs.len)
                                             : strdup("{}");
    r.rooms = rooms.type == SIO_JSON_ARRAY ? strndup(rooms.ptr, rooms.len)
                                           : strdup("[]");
    r.data = data.type != SIO_JSON_NONE ? strndup(data.ptr, data.len)
                                        : strdup("null");
    if (r.id == NULL || r.handshake == NULL || r.rooms == NULL ||
        r.data == NULL) {
        free((char *)r.id);
        free((char *)r.handshake);
        free((char *)r.rooms);
        free((char *)r.data);
        return;
    }
    q->socks[q->n++] = r;
}

int siod_cluster_remote_response(const unsigned char *msg, size_t len)
{
    struct sio_json_span top, rid, v;
    struct creq *q;
    char *id;

    if (len == 0 || msg[0] != '{' ||
        sio_json_validate((const char *)msg, len, MAX_DEPTH,
                          SIO_JSON_LONE_SURROGATES, &top) != SIO_OK)
        return 0;
    rid = member(&top, "requestId");
    if ((id = span_str(&rid)) == NULL)
        return 0;
    for (q = g.requests; q != NULL; q = q->next)
        if (strcmp(q->request_id, id) == 0)
            break;
    free(id);
    if (q == NULL)
        return 0;
    q->got++;
    if (q->type == SIOD_REQ_REMOTE_FETCH) {
        struct sio_json_iter it;
        v = member(&top, "sockets");
        if (v.type == SIO_JSON_ARRAY &&
            sio_json_iter_init(&it, &v) == SIO_OK) {
            struct sio_json_span s;
            while (sio_json_array_next(&it, &s) == SIO_OK)
                fetch_add(q, &s);
        }
    } else {
        v = member(&top, "data");
        if (v.type == SIO_JSON_NONE) {
            v.ptr = "null";          /* an answer of undefined */
            v.len = 4;
        }
        if (creq_grow(q) == 0 && (q->v[q->n] = strndup(v.ptr, v.len)) != NULL)
            q->lens[q->n++] = v.len;
    }
    if (q->got >= q->expected)
        creq_finish(q, 0, 1);
    return 1;
}

void siod_cluster_remote_drop(struct radapter *a)
{
    struct creq *q = g.requests, *next;
    for (; q != NULL; q = next) {
        next = q->next;
        if (a == NULL || q->a == a) {
            q->a = NULL;
            creq_finish(q, -ECANCELED, a != NULL);
        }
    }
}

/* ---- other servers' server-side emits ---------------------------------------- */

struct answer_ctx {
    char *request_id;
    char *resp_channel;
};

static void answer_fn(void *ud, int answered, const char *json, size_t len)
{
    struct answer_ctx *c = ud;
    struct jtext t = { NULL, 0, 0, 0 };
    if (answered && g.r != NULL) {
        jt_lit(&t, "{\"type\":6,\"requestId\":");
        jt_str(&t, c->request_id);
        jt_lit(&t, ",\"data\":");
        jt_add(&t, json, len);
        jt_lit(&t, "}");
        if (!t.failed)
            siod_redis_publish(g.r, c->resp_channel, strlen(c->resp_channel),
                               t.p, t.len);
        else
            siod_log_limited(SIOD_LOG_WARN, "redis: the answer to "
                             "server-side emit %s not sent (out of memory)",
                             c->request_id);
        free(t.p);
    }
    free(c->request_id);
    free(c->resp_channel);
    free(c);
}

void siod_cluster_remote_serve_emit(struct radapter *a,
                                    const unsigned char *msg, size_t len)
{
    struct sio_json_span top, uid, rid, data;
    struct answer_ctx *c = NULL;
    char *u;

    if (sio_json_validate((const char *)msg, len, MAX_DEPTH,
                          SIO_JSON_LONE_SURROGATES, &top) != SIO_OK ||
        top.type != SIO_JSON_OBJECT)
        return;
    uid = member(&top, "uid");
    if ((u = span_str(&uid)) != NULL && strcmp(u, g.uid) == 0) {
        free(u);
        return;                      /* its own */
    }
    free(u);
    data = member(&top, "data");
    if (data.type != SIO_JSON_ARRAY)
        return;
    rid = member(&top, "requestId");
    if (rid.type == SIO_JSON_STRING) {
        c = calloc(1, sizeof *c);
        if (c == NULL || (c->request_id = span_str(&rid)) == NULL ||
            (c->resp_channel = strdup(a->resp_channel)) == NULL) {
            if (c != NULL)
                free(c->request_id);
            free(c);
            siod_log_limited(SIOD_LOG_ERROR, "redis: namespace %s: a "
                             "server-side emit dropped (out of memory)",
                             a->nsp);
            return;
        }
    }
    a->host->server_event(a->nsp_h, data.ptr, data.len,
                          c != NULL ? answer_fn : NULL, c);
}
