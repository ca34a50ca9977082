/* The Redis adapter (@socket.io/redis-adapter's classic mode): each
 * namespace keeps its rooms in an in-process adapter (adapter/'s
 * siod_adapter_mem, whose ops it wraps), and a broadcast is delivered
 * locally and published as msgpack [uid, packet, opts] on
 * `<prefix>#<nsp>#` (or `<prefix>#<nsp>#<room>#` for exactly one room) for
 * the other servers, Node.js ones included. Broadcasts other servers and
 * @socket.io/redis-emitter publish are delivered to the local sockets
 * they select. Each namespace also subscribes to its request channel,
 * whose subscribers Redis counts (PUBSUB NUMSUB) as the cluster's
 * servers. Redis being down never stops local delivery. */
#include "siod_cluster.h"
#include "adapter/siod_adapter.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* How often the number of servers per namespace is asked of Redis. */
#define NUMSUB_INTERVAL_MS 1000

struct radapter {
    void *mem;                       /* the in-process adapter's state */
    const siod_adapter_host *host;
    siod_nsp *nsp_h;                 /* the host's namespace */
    char *nsp;
    char *channel;                   /* <prefix>#<nsp># */
    size_t chlen;
    char *pattern;                   /* <prefix>#<nsp>#* */
    char *req_channel;               /* <prefix>-request#<nsp># */
    char *resp_channel;              /* <prefix>-response#<nsp># */
    long long servers;               /* last NUMSUB answer (0: none yet) */
    int subscribed;                  /* a namespace, not a ~pattern */
    struct radapter *prev, *next;
};

static struct {
    siod_redis *r;
    char *prefix;
    char uid[7];                     /* as uid2(6): 6 alphanumerics */
    struct event *numsub_timer;
    struct radapter *list;
} g;

#define MEM (&siod_adapter_mem)

/* ---- receiving ---------------------------------------------------------- */

/* The decoded broadcast b as the host's encoded packet (copied into
 * buffers; out->head NULL when memory ran out, then the caller's
 * release_out frees what was made). */
static void build_out(const siod_cluster_bcast *b, siod_sio_out *out)
{
    memset(out, 0, sizeof *out);
    siod_buf *head = siod_buf_new(b->packet_len);
    if (head == NULL)
        return;
    memcpy(siod_buf_data(head), b->packet, b->packet_len);
    if (b->nbins > 0) {
        out->atts = calloc(b->nbins, sizeof *out->atts);
        if (out->atts == NULL) {
            siod_buf_unref(head);
            return;
        }
        for (unsigned i = 0; i < b->nbins; i++) {
            out->atts[i] = siod_buf_new(b->bins[i].len);
            if (out->atts[i] == NULL) {
                siod_buf_unref(head);
                return;
            }
            out->natts++;
            if (b->bins[i].len > 0)
                memcpy(siod_buf_data(out->atts[i]), b->bins[i].data,
                       b->bins[i].len);
        }
    }
    out->head = head;
}

static void release_out(siod_sio_out *out)
{
    siod_buf_unref(out->head);
    for (unsigned i = 0; i < out->natts; i++)
        siod_buf_unref(out->atts[i]);
    free(out->atts);
}

static unsigned host_flags(unsigned cluster_flags)
{
    return ((cluster_flags & SIOD_CLUSTER_VOLATILE) ? SIOD_ADAPTER_VOLATILE
                                                    : 0) |
           ((cluster_flags & SIOD_CLUSTER_NO_COMPRESS)
                ? SIOD_ADAPTER_NO_COMPRESS : 0);
}

/* Hands a decoded broadcast to the in-process adapter of a. */
static void deliver(struct radapter *a, const siod_cluster_bcast *b)
{
    siod_sio_out out;
    siod_bcast_opts o = { b->rooms, b->nrooms, b->except, b->nexcept,
                          host_flags(b->flags) };

    build_out(b, &out);
    if (out.head != NULL)
        MEM->broadcast(a->mem, &out, &o);
    else
        siod_log_limited(SIOD_LOG_ERROR, "redis: out of memory delivering a "
                         "broadcast to namespace %s", a->nsp);
    release_out(&out);
}

/* ---- requests -------------------------------------------------------------- */

/* A growing list of malloc'd strings (the items of a response). */
struct strv {
    char **v;
    size_t n, cap;
    int failed;
};

static void strv_take(struct strv *sv, char *str)
{
    if (str == NULL || sv->failed) {
        sv->failed = 1;
        free(str);
        return;
    }
    if (sv->n == sv->cap) {
        size_t nc = sv->cap ? sv->cap * 2 : 8;
        char **nv = realloc(sv->v, nc * sizeof *nv);
        if (nv == NULL) {
            sv->failed = 1;
            free(str);
            return;
        }
        sv->v = nv;
        sv->cap = nc;
    }
    sv->v[sv->n++] = str;
}

static void strv_room(void *ud, const char *room)
{
    strv_take(ud, strdup(room));
}

static void strv_free(struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
}

static void respond(struct radapter *a, const siod_cluster_req *q,
                    const char *key, const struct strv *sv, int quote)
{
    size_t len;
    char *r;
    if (q->request_id == NULL)
        return;
    r = sv != NULL && sv->failed ? NULL
        : siod_cluster_response(q->request_id, key, sv ? sv->v : NULL,
                                sv ? sv->n : 0, quote, &len);
    if (r == NULL) {
        siod_log_limited(SIOD_LOG_WARN, "redis: namespace %s: no answer to "
                         "a request of type %d (out of memory)", a->nsp,
                         q->type);
        return;
    }
    siod_redis_publish(g.r, a->resp_channel, strlen(a->resp_channel),
                             r, len);
    free(r);
}

/* The local sockets o selects (references dropped by the caller). */
static ssize_t select_local(struct radapter *a, const siod_bcast_opts *o,
                            siod_socket ***v)
{
    return MEM->select(a->mem, o, v);
}

/* A BROADCAST request being answered: its client acks go out as they
 * come, until every recipient answered or gave up. */
struct remote_ack {
    char *request_id;
    char *resp_channel;
    size_t pending;
};

static void remote_ack_fn(void *ud, int answered, const char *json,
                          size_t len, const siod_adapter_bin *bins,
                          unsigned nbins)
{
    struct remote_ack *ra = ud;
    siod_cluster_bin small[8], *cb = small;
    unsigned char *msg = NULL;
    size_t mlen;

    if (answered && g.r != NULL) {
        if (nbins > sizeof small / sizeof small[0])
            cb = malloc(nbins * sizeof *cb);
        for (unsigned i = 0; cb != NULL && i < nbins; i++)
            cb[i] = (siod_cluster_bin){ bins[i].data, bins[i].len };
        if (cb != NULL &&
            siod_cluster_encode_ack(ra->request_id, json, len, cb, nbins,
                                    &msg, &mlen) == 0)
            siod_redis_publish(g.r, ra->resp_channel,
                                     strlen(ra->resp_channel), msg, mlen);
        else
            siod_log_limited(SIOD_LOG_WARN, "redis: a client's ack to "
                             "request %s not sent on", ra->request_id);
        if (cb != small)
            free(cb);
        free(msg);
    }
    if (--ra->pending == 0) {
        free(ra->request_id);
        free(ra->resp_channel);
        free(ra);
    }
}

/* Another server's broadcast with acks (msgpack): sent to the local
 * sockets it selects, the number answered at once (type 8), each client's
 * ack as it comes (type 9). */
static void on_bcast_request(struct radapter *a, const unsigned char *msg,
                             size_t len)
{
    siod_cluster_bcast b;
    char *request_id, why[200], *count;
    siod_sio_out out = { NULL, NULL, 0 };
    siod_socket **v = NULL;
    ssize_t n = -ENOMEM;
    size_t sent = 0, clen;
    struct remote_ack *ra = NULL;

    if (siod_cluster_decode_bcast_request(msg, len, &b, &request_id, why,
                                          sizeof why) < 0)
        return;                      /* another msgpack request */
    if (strcmp(b.uid, g.uid) == 0)
        goto done;
    siod_bcast_opts o = { b.rooms, b.nrooms, b.except, b.nexcept,
                          host_flags(b.flags) };
    build_out(&b, &out);
    ra = calloc(1, sizeof *ra);
    if (ra != NULL) {
        ra->request_id = strdup(request_id);
        ra->resp_channel = strdup(a->resp_channel);
    }
    if (out.head != NULL && ra != NULL && ra->request_id != NULL &&
        ra->resp_channel != NULL)
        n = MEM->select(a->mem, &o, &v);
    if (n > 0)
        sent = a->host->send_with_ack(a->nsp_h, v, (size_t)n, &out, o.flags,
                                      b.timeout_ms, remote_ack_fn, ra);
    for (ssize_t i = 0; i < n; i++)
        a->host->unref(v[i]);
    free(v);
    if (n < 0)
        siod_log_limited(SIOD_LOG_ERROR, "redis: namespace %s: out of memory "
                         "for a broadcast with acks", a->nsp);
    count = siod_cluster_client_count(request_id, sent, &clen);
    if (count != NULL)
        siod_redis_publish(g.r, a->resp_channel,
                                 strlen(a->resp_channel), count, clen);
    free(count);
    if (ra != NULL && sent > 0) {
        ra->pending = sent;          /* the answers come later */
        ra = NULL;
    }
done:
    if (ra != NULL) {
        free(ra->request_id);
        free(ra->resp_channel);
        free(ra);
    }
    release_out(&out);
    free(request_id);
    siod_cluster_bcast_clear(&b);
}

/* Answers another server's (or the emitter's) request as
 * @socket.io/redis-adapter does (server-side emits are not answered
 * yet). */
static void on_request(struct radapter *a, const unsigned char *msg,
                       size_t len)
{
    siod_cluster_req q;
    struct strv sv = { NULL, 0, 0, 0 };
    siod_socket **v = NULL;
    ssize_t n;

    if (len > 0 && msg[0] != '{') {
        on_bcast_request(a, msg, len);
        return;
    }
    if (siod_cluster_decode_request(msg, len, &q) < 0)
        return;
    siod_bcast_opts o = { q.rooms, q.nrooms, q.except, q.nexcept, 0 };
    if (q.uid != NULL && strcmp(q.uid, g.uid) == 0)
        goto done;
    switch (q.type) {
    case SIOD_REQ_SOCKETS:
    case SIOD_REQ_REMOTE_FETCH:
        if (q.type == SIOD_REQ_SOCKETS) {
            /* that request names its rooms at the top level */
            o.rooms = q.names;
            o.nrooms = q.nnames;
        }
        n = select_local(a, &o, &v);
        if (n < 0)
            sv.failed = 1;
        for (ssize_t i = 0; i < n; i++) {
            strv_take(&sv, q.type == SIOD_REQ_SOCKETS
                               ? strdup(a->host->id(v[i]))
                               : a->host->describe(v[i]));
            a->host->unref(v[i]);
        }
        free(v);
        respond(a, &q, "sockets", &sv, q.type == SIOD_REQ_SOCKETS);
        break;
    case SIOD_REQ_ALL_ROOMS:
        MEM->rooms(a->mem, strv_room, &sv);
        respond(a, &q, "rooms", &sv, 1);
        break;
    case SIOD_REQ_REMOTE_JOIN:
    case SIOD_REQ_REMOTE_LEAVE:
    case SIOD_REQ_REMOTE_DISCONNECT:
        if (!q.has_opts)
            break;                   /* by socket id: adapters before 8 */
        if (q.type == SIOD_REQ_REMOTE_DISCONNECT)
            MEM->disconnect_sockets(a->mem, &o, q.close);
        for (size_t i = 0; i < q.nnames; i++) {
            if (q.type == SIOD_REQ_REMOTE_JOIN)
                MEM->add_sockets(a->mem, &o, q.names[i]);
            else if (q.type == SIOD_REQ_REMOTE_LEAVE)
                MEM->del_sockets(a->mem, &o, q.names[i]);
        }
        break;
    default:
        break;
    }
done:
    strv_free(&sv);
    siod_cluster_req_clear(&q);
}

/* Every message of every subscription: a request on a namespace's request
 * channel, a broadcast on its other channels. */
static void on_message(void *ud, const char *channel, size_t chlen,
                       const unsigned char *msg, size_t len)
{
    siod_cluster_bcast b;
    int decoded = 0;
    char why[200];

    for (struct radapter *a = g.list; a != NULL; a = a->next) {
        if (a->subscribed && chlen == strlen(a->req_channel) &&
            memcmp(channel, a->req_channel, chlen) == 0) {
            on_request(a, msg, len);
            return;
        }
        if (chlen < a->chlen || memcmp(channel, a->channel, a->chlen) != 0 ||
            channel[chlen - 1] != '#')
            continue;
        if (!decoded) {
            int rc = siod_cluster_decode_bcast(msg, len, &b, why, sizeof why);
            if (rc < 0) {
                siod_log_limited(SIOD_LOG_WARN, "redis: a message on %.*s "
                                 "siod cannot read: %s", (int)chlen, channel,
                                 rc == -ENOMEM ? "out of memory" : why);
                return;
            }
            decoded = 1;
        }
        /* its own broadcasts come back to every server: not twice */
        if (strcmp(b.uid, g.uid) == 0)
            break;
        if (strcmp(b.nsp, a->nsp) == 0)
            deliver(a, &b);
    }
    if (decoded)
        siod_cluster_bcast_clear(&b);
}

/* ---- the number of servers -------------------------------------------- */

static void numsub_done(void *ud, int ok, long long n)
{
    char *nsp = ud;
    for (struct radapter *a = g.list; ok && a != NULL; a = a->next) {
        if (strcmp(a->nsp, nsp) != 0)
            continue;
        if (n != a->servers)
            siod_log(SIOD_LOG_INFO, "redis: namespace %s: %lld servers",
                     a->nsp, n);
        a->servers = n;
        break;
    }
    free(nsp);
}

static void numsub_ask(struct radapter *a)
{
    char *key = a->subscribed ? strdup(a->nsp) : NULL;
    if (key != NULL)
        siod_redis_numsub(g.r, a->req_channel, numsub_done, key);
}

static void numsub_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    for (struct radapter *a = g.list; a != NULL; a = a->next)
        numsub_ask(a);
}

/* ---- publishing ---------------------------------------------------------- */

static void publish(struct radapter *a, const siod_sio_out *pkt,
                    const siod_bcast_opts *o)
{
    siod_cluster_bin small[8], *atts = small;
    unsigned char *msg = NULL;
    size_t len = 0;
    unsigned flags = 0;
    int rc;

    if (pkt->natts > sizeof small / sizeof small[0] &&
        (atts = malloc(pkt->natts * sizeof *atts)) == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    for (unsigned i = 0; i < pkt->natts; i++)
        atts[i] = (siod_cluster_bin){ siod_buf_data(pkt->atts[i]),
                                      pkt->atts[i]->len };
    if (o->flags & SIOD_ADAPTER_VOLATILE)
        flags |= SIOD_CLUSTER_VOLATILE;
    if (o->flags & SIOD_ADAPTER_NO_COMPRESS)
        flags |= SIOD_CLUSTER_NO_COMPRESS;
    rc = siod_cluster_encode_bcast(g.uid,
                                   (const char *)siod_buf_data(pkt->head),
                                   pkt->head->len, atts, pkt->natts,
                                   o->rooms, o->nrooms, o->except, o->nexcept,
                                   flags, &msg, &len);
    if (atts != small)
        free(atts);
    if (rc < 0)
        goto fail;
    if (o->nrooms == 1) {
        size_t rlen = strlen(o->rooms[0]);
        char *ch = malloc(a->chlen + rlen + 1);
        if (ch == NULL) {
            free(msg);
            rc = -ENOMEM;
            goto fail;
        }
        memcpy(ch, a->channel, a->chlen);
        memcpy(ch + a->chlen, o->rooms[0], rlen);
        ch[a->chlen + rlen] = '#';
        siod_redis_publish(g.r, ch, a->chlen + rlen + 1, msg, len);
        free(ch);
    } else {
        siod_redis_publish(g.r, a->channel, a->chlen, msg, len);
    }
    free(msg);
    return;
fail:
    siod_log_limited(SIOD_LOG_WARN, "redis: namespace %s: a broadcast not "
                     "published: %s", a->nsp, siod_strerror(rc));
}

/* ---- the ops --------------------------------------------------------------- */

static char *join3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (s != NULL) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb);
        memcpy(s + la + lb, c, lc + 1);
    }
    return s;
}

static void radapter_free(struct radapter *a)
{
    if (a->mem != NULL)
        MEM->destroy(a->mem);
    free(a->nsp);
    free(a->channel);
    free(a->pattern);
    free(a->req_channel);
    free(a->resp_channel);
    free(a);
}

static void redis_destroy(void *p);

static void *redis_create(const siod_adapter_host *host, siod_nsp *nsp,
                          const char *name)
{
    struct radapter *a = calloc(1, sizeof *a);
    char *mid;
    if (a == NULL)
        return NULL;
    a->mem = MEM->create(host, nsp, name);
    a->nsp = strdup(name);
    mid = join3("#", name, "#");
    if (mid != NULL) {
        a->channel = join3(g.prefix, mid, "");
        a->pattern = join3(g.prefix, mid, "*");
        a->req_channel = join3(g.prefix, "-request", mid);
        a->resp_channel = join3(g.prefix, "-response", mid);
    }
    free(mid);
    a->host = host;
    a->nsp_h = nsp;
    if (a->mem == NULL || a->nsp == NULL || a->channel == NULL ||
        a->pattern == NULL || a->req_channel == NULL ||
        a->resp_channel == NULL)
        goto fail;
    a->chlen = strlen(a->channel);
    a->next = g.list;
    if (g.list != NULL)
        g.list->prev = a;
    g.list = a;
    /* a ~pattern's own adapter never broadcasts (its live children do) */
    if (name[0] != '/')
        return a;
    if (siod_redis_subscribe(g.r, a->pattern, 1) < 0) {
        redis_destroy(a);
        return NULL;
    }
    if (siod_redis_subscribe(g.r, a->req_channel, 0) < 0) {
        siod_redis_unsubscribe(g.r, a->pattern, 1);
        redis_destroy(a);
        return NULL;
    }
    a->subscribed = 1;
    numsub_ask(a);
    return a;
fail:
    radapter_free(a);
    return NULL;
}

static void redis_destroy(void *p)
{
    struct radapter *a = p;
    if (a == NULL)
        return;
    if (a->prev != NULL)
        a->prev->next = a->next;
    else
        g.list = a->next;
    if (a->next != NULL)
        a->next->prev = a->prev;
    if (g.r != NULL && a->subscribed) {
        siod_redis_unsubscribe(g.r, a->pattern, 1);
        siod_redis_unsubscribe(g.r, a->req_channel, 0);
    }
    radapter_free(a);
}

static int redis_add(void *p, siod_socket *s, const char *room)
{
    return MEM->add(((struct radapter *)p)->mem, s, room);
}

static void redis_del(void *p, siod_socket *s, const char *room)
{
    MEM->del(((struct radapter *)p)->mem, s, room);
}

static void redis_del_all(void *p, siod_socket *s)
{
    MEM->del_all(((struct radapter *)p)->mem, s);
}

static int redis_has(void *p, const siod_socket *s, const char *room)
{
    return MEM->has(((struct radapter *)p)->mem, s, room);
}

static size_t redis_rooms(void *p, void (*fn)(void *ud, const char *room),
                          void *ud)
{
    return MEM->rooms(((struct radapter *)p)->mem, fn, ud);
}

static size_t redis_socket_rooms(void *p, const siod_socket *s,
                                 void (*fn)(void *ud, const char *room),
                                 void *ud)
{
    return MEM->socket_rooms(((struct radapter *)p)->mem, s, fn, ud);
}

static ssize_t redis_select(void *p, const siod_bcast_opts *o,
                            siod_socket ***out)
{
    return MEM->select(((struct radapter *)p)->mem, o, out);
}

/* Local delivery first, as the reference does, then the other servers. */
static void redis_broadcast(void *p, const siod_sio_out *pkt,
                            const siod_bcast_opts *o)
{
    struct radapter *a = p;
    MEM->broadcast(a->mem, pkt, o);
    if (a->subscribed)
        publish(a, pkt, o);
}

/* Acks are awaited from this server's clients only for now (the
 * request channel's BROADCAST is not spoken yet): server_count says 1. */
static void redis_broadcast_with_ack(void *p, const siod_sio_out *pkt,
                                     uint64_t id, const siod_bcast_opts *o,
                                     siod_ackwait *w)
{
    MEM->broadcast_with_ack(((struct radapter *)p)->mem, pkt, id, o, w);
}

/* Joins, leaves and disconnects act on local sockets (remote ones need the
 * request channel, not spoken yet). */
static void redis_add_sockets(void *p, const siod_bcast_opts *o,
                              const char *room)
{
    MEM->add_sockets(((struct radapter *)p)->mem, o, room);
}

static void redis_del_sockets(void *p, const siod_bcast_opts *o,
                              const char *room)
{
    MEM->del_sockets(((struct radapter *)p)->mem, o, room);
}

static void redis_disconnect_sockets(void *p, const siod_bcast_opts *o,
                                     int close)
{
    MEM->disconnect_sockets(((struct radapter *)p)->mem, o, close);
}

/* The servers that report for a broadcast with acks: this one alone until
 * the request channel is spoken (the cluster's size, from NUMSUB, is
 * logged when it changes). */
static unsigned redis_server_count(void *p)
{
    return 1;
}

const siod_adapter_ops siod_adapter_redis = {
    .name = "redis",
    .create = redis_create,
    .destroy = redis_destroy,
    .add = redis_add,
    .del = redis_del,
    .del_all = redis_del_all,
    .has = redis_has,
    .rooms = redis_rooms,
    .socket_rooms = redis_socket_rooms,
    .select = redis_select,
    .broadcast = redis_broadcast,
    .broadcast_with_ack = redis_broadcast_with_ack,
    .add_sockets = redis_add_sockets,
    .del_sockets = redis_del_sockets,
    .disconnect_sockets = redis_disconnect_sockets,
    .server_count = redis_server_count,
};

/* ---- start and stop ------------------------------------------------------- */

int siod_cluster_start(struct event_base *base, const char *url,
                       const char *prefix, char *why, size_t cap)
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[6];

    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        siod_err_set(why, cap, -EINVAL, "getrandom: %s", siod_strerror(-errno));
        return -EIO;
    }
    for (int i = 0; i < 6; i++)
        g.uid[i] = alnum[rnd[i] % 62];
    g.uid[6] = '\0';
    g.prefix = strdup(prefix);
    g.numsub_timer = event_new(base, -1, EV_PERSIST, numsub_timer_cb, NULL);
    if (g.prefix == NULL || g.numsub_timer == NULL) {
        siod_cluster_stop();
        siod_err_set(why, cap, -EINVAL, "out of memory");
        return -ENOMEM;
    }
    g.r = siod_redis_open(base, url, on_message, NULL, why, cap);
    if (g.r == NULL) {
        siod_cluster_stop();
        return -EINVAL;
    }
    struct timeval tv = { NUMSUB_INTERVAL_MS / 1000,
                          (NUMSUB_INTERVAL_MS % 1000) * 1000 };
    event_add(g.numsub_timer, &tv);
    return 0;
}

const char *siod_cluster_uid(void)
{
    return g.uid;
}

void siod_cluster_stop(void)
{
    if (g.numsub_timer != NULL)
        event_free(g.numsub_timer);
    siod_redis_free(g.r);
    free(g.prefix);
    memset(&g, 0, sizeof g);
}
