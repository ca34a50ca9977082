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
#include "siod_cluster_int.h"
#include "adapter/siod_adapter.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* How often the number of servers per namespace is asked of Redis. */
#define NUMSUB_INTERVAL_MS 1000

struct siod_cluster_state siod_cluster_g;
#define g siod_cluster_g

/* ---- receiving ---------------------------------------------------------- */

/* Hands a decoded broadcast to the in-process adapter of a. */
static void deliver(struct radapter *a, const siod_cluster_bcast *b)
{
    siod_sio_out out;
    siod_bcast_opts o = { b->rooms, b->nrooms, b->except, b->nexcept,
                          siod_cluster_host_flags(b->flags) };

    siod_cluster_build_out(b, &out);
    if (out.head != NULL)
        MEM->broadcast(a->mem, &out, &o);
    else
        siod_log_limited(SIOD_LOG_ERROR, "redis: out of memory delivering a "
                         "broadcast to namespace %s", a->nsp);
    siod_cluster_release_out(&out);
}

/* ---- this server's broadcasts with acks ----------------------------------- */

/* Six random alphanumerics (uid2(6)'s shape) into out[0..7). */
static int rand_id(char out[7])
{
    static const char alnum[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -errno;
    for (int i = 0; i < 6; i++)
        out[i] = alnum[rnd[i] % 62];
    out[6] = '\0';
    return 0;
}

void siod_cluster_pending_sweep(int all)
{
    for (struct pending_ack **pp = &g.pending; *pp != NULL;) {
        struct pending_ack *pa = *pp;
        if (!all && !pa->host->ack_finished(pa->w)) {
            pp = &pa->next;
            continue;
        }
        *pp = pa->next;
        pa->host->ack_release(pa->w);
        free(pa);
    }
}

struct pending_ack *siod_cluster_pending_find(const char *request_id)
{
    for (struct pending_ack *pa = g.pending; pa != NULL; pa = pa->next)
        if (strcmp(pa->request_id, request_id) == 0)
            return pa->host->ack_finished(pa->w) ? NULL : pa;
    return NULL;
}

/* A response on a namespace's response channel: a server's client count
 * (JSON, type 8) or one client's ack (msgpack, type 9) for one of this
 * server's broadcasts with acks; anything else is another server's. */
static void on_response(const unsigned char *msg, size_t len)
{
    struct pending_ack *pa;
    if (siod_cluster_remote_response(msg, len))
        return;
    if (len > 0 && msg[0] == '{') {
        char *rid;
        size_t count;
        if (siod_cluster_decode_count(msg, len, &rid, &count) < 0)
            return;
        if ((pa = siod_cluster_pending_find(rid)) != NULL)
            pa->host->ack_count(pa->w, count);
        free(rid);
    } else {
        siod_cluster_ack ack;
        siod_adapter_bin small[8], *bins = small;
        if (siod_cluster_decode_ack(msg, len, &ack) < 0)
            return;
        if (ack.nbins > sizeof small / sizeof small[0])
            bins = malloc(ack.nbins * sizeof *bins);
        if ((pa = siod_cluster_pending_find(ack.request_id)) != NULL &&
            bins != NULL) {
            for (unsigned i = 0; i < ack.nbins; i++)
                bins[i] = (siod_adapter_bin){ ack.bins[i].data,
                                              ack.bins[i].len };
            pa->host->ack_answer(pa->w, ack.json, ack.len, bins, ack.nbins);
        }
        if (bins != small)
            free(bins);
        siod_cluster_ack_clear(&ack);
    }
    siod_cluster_pending_sweep(0);
}

static void on_message(void *ud, const char *channel, size_t chlen,
                       const unsigned char *msg, size_t len)
{
    siod_cluster_bcast b;
    int decoded = 0;
    char why[200];

    for (struct radapter *a = g.list; a != NULL; a = a->next) {
        if (a->subscribed && chlen == strlen(a->req_channel) &&
            memcmp(channel, a->req_channel, chlen) == 0) {
            siod_cluster_serve(a, msg, len);
            return;
        }
        if (a->subscribed && ((chlen == strlen(a->resp_channel) &&
                               memcmp(channel, a->resp_channel, chlen) == 0) ||
                              (chlen == strlen(a->own_resp_channel) &&
                               memcmp(channel, a->own_resp_channel, chlen) ==
                                   0))) {
            on_response(msg, len);
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
    siod_cluster_pending_sweep(0);
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
    rc = siod_cluster_encode_bcast(g.uid, NULL,
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
    free(a->own_resp_channel);
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
        if (a->resp_channel != NULL)
            a->own_resp_channel = join3(a->resp_channel, g.uid, "#");
    }
    free(mid);
    a->host = host;
    a->nsp_h = nsp;
    if (a->mem == NULL || a->nsp == NULL || a->channel == NULL ||
        a->pattern == NULL || a->req_channel == NULL ||
        a->resp_channel == NULL || a->own_resp_channel == NULL)
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
    if (siod_redis_subscribe(g.r, a->resp_channel, 0) < 0) {
        siod_redis_unsubscribe(g.r, a->pattern, 1);
        siod_redis_unsubscribe(g.r, a->req_channel, 0);
        redis_destroy(a);
        return NULL;
    }
    if (siod_redis_subscribe(g.r, a->own_resp_channel, 0) < 0) {
        siod_redis_unsubscribe(g.r, a->pattern, 1);
        siod_redis_unsubscribe(g.r, a->req_channel, 0);
        siod_redis_unsubscribe(g.r, a->resp_channel, 0);
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
    siod_cluster_remote_drop(a);
    if (g.r != NULL && a->subscribed) {
        siod_redis_unsubscribe(g.r, a->pattern, 1);
        siod_redis_unsubscribe(g.r, a->req_channel, 0);
        siod_redis_unsubscribe(g.r, a->resp_channel, 0);
        siod_redis_unsubscribe(g.r, a->own_resp_channel, 0);
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

/* The ops both Redis adapters share (siod_cluster_int.h): local reads
 * from the in-process adapter, the server count, and the requests of
 * siod_cluster_remote.c. */
int siod_cluster_op_has(void *p, const siod_socket *s, const char *room)
{
    return MEM->has(((struct radapter *)p)->mem, s, room);
}

size_t siod_cluster_op_rooms(void *p, void (*fn)(void *ud, const char *room),
                          void *ud)
{
    return MEM->rooms(((struct radapter *)p)->mem, fn, ud);
}

size_t siod_cluster_op_socket_rooms(void *p, const siod_socket *s,
                                    void (*fn)(void *ud, const char *room),
                                 void *ud)
{
    return MEM->socket_rooms(((struct radapter *)p)->mem, s, fn, ud);
}

ssize_t siod_cluster_op_select(void *p, const siod_bcast_opts *o,
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
    if (a->subscribed && !(o->flags & SIOD_ADAPTER_LOCAL))
        publish(a, pkt, o);
}

/* The servers that report for a broadcast with acks: those Redis last
 * counted on the namespace's request channel while it is reachable, else
 * this one alone (its broadcasts cannot reach the others). */
unsigned siod_cluster_op_server_count(void *p)
{
    struct radapter *a = p;
    if (!a->subscribed || !siod_redis_up(g.r) || a->servers <= 1)
        return 1;
    return a->servers > 65536 ? 65536 : (unsigned)a->servers;
}

/* Local clients first, as the reference; the other servers get a
 * BROADCAST request and report their count and their clients' acks on
 * the response channel (on_response). A request that cannot be sent
 * reports no client for them, so that the wait does not hang. */
static void redis_broadcast_with_ack(void *p, const siod_sio_out *pkt,
                                     uint64_t id, const siod_bcast_opts *o,
                                     siod_ackwait *w)
{
    struct radapter *a = p;
    unsigned servers = (o->flags & SIOD_ADAPTER_LOCAL) ? 1
                                                       : siod_cluster_op_server_count(p);
    struct pending_ack *pa = NULL;
    siod_cluster_bin small[8], *atts = small;
    unsigned char *msg = NULL;
    size_t len = 0;
    int rc = -ENOMEM;

    if (servers > 1) {
        /* held first: the local report below may end w */
        a->host->ack_hold(w);
        pa = calloc(1, sizeof *pa);
        if (pa != NULL && rand_id(pa->request_id) == 0) {
            pa->w = w;
            pa->host = a->host;
        } else {
            free(pa);
            pa = NULL;
        }
    }
    MEM->broadcast_with_ack(a->mem, pkt, id, o, w);
    if (servers <= 1)
        return;
    if (pa != NULL && pkt->natts > sizeof small / sizeof small[0])
        atts = malloc(pkt->natts * sizeof *atts);
    if (pa != NULL && atts != NULL) {
        for (unsigned i = 0; i < pkt->natts; i++)
            atts[i] = (siod_cluster_bin){ siod_buf_data(pkt->atts[i]),
                                          pkt->atts[i]->len };
        rc = siod_cluster_encode_bcast(
            g.uid, pa->request_id, (const char *)siod_buf_data(pkt->head),
            pkt->head->len, atts, pkt->natts, o->rooms, o->nrooms, o->except,
            o->nexcept,
            (o->flags & SIOD_ADAPTER_VOLATILE ? SIOD_CLUSTER_VOLATILE : 0) |
                (o->flags & SIOD_ADAPTER_NO_COMPRESS ? SIOD_CLUSTER_NO_COMPRESS
                                                     : 0),
            &msg, &len);
    }
    if (atts != small)
        free(atts);
    if (rc == 0) {
        siod_redis_publish(g.r, a->req_channel, strlen(a->req_channel), msg,
                           len);
        free(msg);
        pa->next = g.pending;
        g.pending = pa;
        return;
    }
    siod_log_limited(SIOD_LOG_WARN, "redis: namespace %s: a broadcast with "
                     "acks not sent to the other servers: %s", a->nsp,
                     siod_strerror(rc));
    free(pa);
    for (unsigned k = 1; k < servers && !a->host->ack_finished(w); k++)
        a->host->ack_count(w, 0);
    a->host->ack_release(w);
}

/* Joins, leaves and disconnects act on the local sockets at once, and
 * on the other servers' through a request (the reference publishes it and
 * acts on its own sockets when the request comes back; here a server
 * skips its own requests). */
static void redis_add_sockets(void *p, const siod_bcast_opts *o,
                              const char *room)
{
    struct radapter *a = p;
    MEM->add_sockets(a->mem, o, room);
    if (a->subscribed && !(o->flags & SIOD_ADAPTER_LOCAL))
        siod_cluster_remote_sockets(a, SIOD_REQ_REMOTE_JOIN, o, room, 0);
}

static void redis_del_sockets(void *p, const siod_bcast_opts *o,
                              const char *room)
{
    struct radapter *a = p;
    MEM->del_sockets(a->mem, o, room);
    if (a->subscribed && !(o->flags & SIOD_ADAPTER_LOCAL))
        siod_cluster_remote_sockets(a, SIOD_REQ_REMOTE_LEAVE, o, room, 0);
}

static void redis_disconnect_sockets(void *p, const siod_bcast_opts *o,
                                     int close)
{
    struct radapter *a = p;
    /* published first: the local disconnects run application callbacks */
    if (a->subscribed && !(o->flags & SIOD_ADAPTER_LOCAL))
        siod_cluster_remote_sockets(a, SIOD_REQ_REMOTE_DISCONNECT, o, NULL,
                                    close);
    MEM->disconnect_sockets(a->mem, o, close);
}

int siod_cluster_op_cluster(void *p)
{
    struct radapter *a = p;
    return a->subscribed && siod_redis_up(g.r) ? 0 : -ENOTCONN;
}

int siod_cluster_op_fetch(void *p, const siod_bcast_opts *o,
                          unsigned timeout_ms, siod_adapter_fetch_fn fn,
                          void *ud)
{
    return siod_cluster_remote_fetch(p, o, timeout_ms, fn, ud);
}

int siod_cluster_op_server_emit(void *p, const char *data, size_t len,
                                unsigned timeout_ms, siod_adapter_reply_fn fn,
                                void *ud)
{
    return siod_cluster_remote_emit(p, data, len, timeout_ms, fn, ud);
}

const siod_adapter_ops siod_adapter_redis = {
    .name = "redis",
    .create = redis_create,
    .destroy = redis_destroy,
    .add = redis_add,
    .del = redis_del,
    .del_all = redis_del_all,
    .has = siod_cluster_op_has,
    .rooms = siod_cluster_op_rooms,
    .socket_rooms = siod_cluster_op_socket_rooms,
    .select = siod_cluster_op_select,
    .broadcast = redis_broadcast,
    .broadcast_with_ack = redis_broadcast_with_ack,
    .add_sockets = redis_add_sockets,
    .del_sockets = redis_del_sockets,
    .disconnect_sockets = redis_disconnect_sockets,
    .server_count = siod_cluster_op_server_count,
    .cluster = siod_cluster_op_cluster,
    .fetch = siod_cluster_op_fetch,
    .server_emit = siod_cluster_op_server_emit,
};

/* ---- start and stop ------------------------------------------------------- */

/* See siod_cluster_int.h. */
void siod_cluster_report(siod_gauges *gg)
{
    if (g.r != NULL)
        siod_redis_state(g.r, &gg->redis, &gg->redis_lost);
}

int siod_cluster_start(struct event_base *base, const char *url,
                       const char *prefix, char *why, size_t cap)
{
    int rc = rand_id(g.uid);
    if (rc < 0)
        return siod_err_set(why, cap, rc, "getrandom: %s", siod_strerror(rc));
    g.base = base;
    g.prefix = strdup(prefix);
    g.numsub_timer = event_new(base, -1, EV_PERSIST, numsub_timer_cb, NULL);
    if (g.prefix == NULL || g.numsub_timer == NULL) {
        siod_cluster_stop();
        siod_err_set(why, cap, -EINVAL, "out of memory");
        return -ENOMEM;
    }
    g.r = siod_redis_open(base, url, 0, on_message, NULL, why, cap);
    if (g.r == NULL) {
        siod_cluster_stop();
        return -EINVAL;
    }
    struct timeval tv = { NUMSUB_INTERVAL_MS / 1000,
                          (NUMSUB_INTERVAL_MS % 1000) * 1000 };
    event_add(g.numsub_timer, &tv);
    siod_stats_add_reporter(siod_cluster_report);
    return 0;
}

const char *siod_cluster_uid(void)
{
    return g.uid;
}

void siod_cluster_command(int argc, const char *const *argv,
                          const size_t *lens, siod_redis_strs_fn fn,
                          void *ud)
{
    if (g.r == NULL) {
        fn(ud, 0, NULL, NULL, 0);
        return;
    }
    siod_redis_command_held(g.r, argc, argv, lens, fn, ud);
}

int siod_cluster_command_ready(void)
{
    return g.r != NULL && siod_redis_cmd_ready(g.r);
}

const char *siod_cluster_prefix(void)
{
    return g.prefix != NULL ? g.prefix : "";
}

void siod_cluster_stop(void)
{
    siod_cluster_pending_sweep(1);
    if (g.numsub_timer != NULL)
        event_free(g.numsub_timer);
    siod_cluster_remote_drop(NULL);
    siod_redis_free(g.r);
    free(g.prefix);
    memset(&g, 0, sizeof g);
}
