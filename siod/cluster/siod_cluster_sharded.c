/* The sharded Redis adapter (@socket.io/redis-adapter's
 * createShardedAdapter, Redis 7 sharded pub/sub): each namespace keeps its
 * rooms in the in-process adapter, as the classic one does, subscribes
 * (SSUBSCRIBE) to `<prefix>#<nsp>#` and to its own response channel
 * `<prefix>#<nsp>#<uid>#`, and in the dynamic subscription modes to
 * `<prefix>#<nsp>#<room>#` while a local socket is in that room (public
 * rooms only in "dynamic"; every room in "dynamic-private"). A broadcast
 * is delivered locally and published (SPUBLISH) as ClusterAdapter's
 * BROADCAST message, on its room's channel when it names exactly one room
 * that has one. Servers are counted by PUBSUB SHARDNUMSUB on the
 * namespace's channel. What other servers send is handled in
 * siod_cluster_shard_serve.c. */
#include "siod_cluster_int.h"
#include "adapter/siod_adapter.h"
#include "core/siod_core.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NUMSUB_INTERVAL_MS 1000

#define g siod_cluster_g

static int submode;                  /* SIOD_CLUSTER_STATIC, ... */

/* 8 random bytes in hex (ClusterAdapter's randomId) into out[0..17). */
static int rand_hex(char out[17])
{
    unsigned char rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        return -errno;
    for (int i = 0; i < 8; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}

/* ---- the room channels (dynamic modes) ------------------------------------ */

/* Whether socket s's membership of room has the room's own channel: the
 * Node adapter's shouldUseASeparateNamespace (a room that is a local
 * socket's id is private; siod asks it of the socket itself). */
static int room_channel(const struct radapter *a, const siod_socket *s,
                        const char *room)
{
    if (!a->subscribed || submode == SIOD_CLUSTER_STATIC)
        return 0;
    return submode == SIOD_CLUSTER_DYNAMIC_PRIVATE ||
           strcmp(room, a->host->id(s)) != 0;
}

/* <prefix>#<nsp>#<room># (malloc'd), or NULL. */
static char *channel_of(const struct radapter *a, const char *room)
{
    size_t rlen = strlen(room);
    char *ch = malloc(a->chlen + rlen + 2);
    if (ch != NULL) {
        memcpy(ch, a->channel, a->chlen);
        memcpy(ch + a->chlen, room, rlen);
        memcpy(ch + a->chlen + rlen, "#", 2);
    }
    return ch;
}

/* One membership more (on) or less of room's channel: the connection
 * counts them, so the channel is subscribed while a local socket is in
 * the room, as the Node adapter's create-room and delete-room do. */
static void room_sub(struct radapter *a, const char *room, int on)
{
    if (g.r == NULL)
        return;                      /* the layer stopped first */
    char *ch = channel_of(a, room);
    if (ch != NULL && (!on || siod_redis_subscribe(g.r, ch, 0) == 0)) {
        if (!on)
            siod_redis_unsubscribe(g.r, ch, 0);
        free(ch);
        return;
    }
    free(ch);
    siod_log_limited(SIOD_LOG_ERROR, "redis: namespace %s: room %s not "
                     "subscribed (out of memory)", a->nsp, room);
}

/* ---- publishing ------------------------------------------------------------ */

static unsigned wire_flags(unsigned host_flags)
{
    return (host_flags & SIOD_ADAPTER_VOLATILE ? SIOD_CLUSTER_VOLATILE : 0) |
           (host_flags & SIOD_ADAPTER_NO_COMPRESS ? SIOD_CLUSTER_NO_COMPRESS
                                                  : 0);
}

/* The BROADCAST of pkt to o (with request_id: with acks) on a's channel
 * for it: a room's own when the Node adapter would use it (computeChannel:
 * one room, not a broadcast with acks; in "dynamic" not a room shaped like
 * a socket id). Returns 0, or -EINVAL / -ENOMEM when nothing was sent. */
static int publish(struct radapter *a, const siod_sio_out *pkt,
                   const siod_bcast_opts *o, const char *request_id)
{
    siod_cluster_bin small[8] = { { NULL, 0 } }, *atts = small;
    unsigned char *msg = NULL;
    size_t len = 0;
    char *ch = NULL;
    int rc;

    if (pkt->natts > sizeof small / sizeof small[0] &&
        (atts = malloc(pkt->natts * sizeof *atts)) == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < pkt->natts; i++)
        atts[i] = (siod_cluster_bin){ siod_buf_data(pkt->atts[i]),
                                      pkt->atts[i]->len };
    rc = siod_cluster_encode_shard_bcast(
        g.uid, request_id, (const char *)siod_buf_data(pkt->head),
        pkt->head->len, atts, pkt->natts, o->rooms, o->nrooms, o->except,
        o->nexcept, wire_flags(o->flags), &msg, &len);
    if (atts != small)
        free(atts);
    if (rc < 0)
        return rc;
    if (request_id == NULL && o->nrooms == 1 &&
        (submode == SIOD_CLUSTER_DYNAMIC_PRIVATE ||
         (submode == SIOD_CLUSTER_DYNAMIC && strlen(o->rooms[0]) != 20)) &&
        (ch = channel_of(a, o->rooms[0])) == NULL) {
        free(msg);
        return -ENOMEM;
    }
    if (ch != NULL)
        siod_redis_publish(g.r, ch, strlen(ch), msg, len);
    else
        siod_redis_publish(g.r, a->channel, a->chlen, msg, len);
    free(ch);
    free(msg);
    return 0;
}

/* ---- the number of servers ------------------------------------------------- */

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
        siod_redis_numsub(g.r, a->channel, numsub_done, key);
}

static void numsub_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    for (struct radapter *a = g.list; a != NULL; a = a->next)
        numsub_ask(a);
    siod_cluster_pending_sweep(0);
}

/* ---- the ops ----------------------------------------------------------------- */

static void sharded_destroy(void *p);

static void *sharded_create(const siod_adapter_host *host, siod_nsp *nsp,
                            const char *name)
{
    struct radapter *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->host = host;
    a->nsp_h = nsp;
    a->mem = MEM->create(host, nsp, name);
    a->nsp = strdup(name);
    a->channel = malloc(strlen(g.prefix) + strlen(name) + 3);
    if (a->channel != NULL) {
        sprintf(a->channel, "%s#%s#", g.prefix, name);
        a->chlen = strlen(a->channel);
        a->resp_channel = channel_of(a, g.uid);
        /* where siod_cluster_remote.c counts servers and sends requests */
        a->req_channel = strdup(a->channel);
    }
    if (a->mem == NULL || a->nsp == NULL || a->resp_channel == NULL ||
        a->req_channel == NULL) {
        sharded_destroy(a);
        return NULL;
    }
    a->next = g.list;
    if (g.list != NULL)
        g.list->prev = a;
    g.list = a;
    /* a ~pattern's own adapter never broadcasts (its live children do) */
    if (name[0] != '/')
        return a;
    if (siod_redis_subscribe(g.r, a->channel, 0) < 0) {
        sharded_destroy(a);
        return NULL;
    }
    if (siod_redis_subscribe(g.r, a->resp_channel, 0) < 0) {
        siod_redis_unsubscribe(g.r, a->channel, 0);
        sharded_destroy(a);
        return NULL;
    }
    a->subscribed = 1;
    numsub_ask(a);
    return a;
}

static void sharded_destroy(void *p)
{
    struct radapter *a = p;
    if (a == NULL)
        return;
    if (a->prev != NULL)
        a->prev->next = a->next;
    else if (g.list == a)
        g.list = a->next;
    if (a->next != NULL)
        a->next->prev = a->prev;
    siod_cluster_remote_drop(a);
    if (g.r != NULL && a->subscribed) {
        siod_redis_unsubscribe(g.r, a->channel, 0);
        siod_redis_unsubscribe(g.r, a->resp_channel, 0);
    }
    if (a->mem != NULL)
        MEM->destroy(a->mem);
    free(a->nsp);
    free(a->channel);
    free(a->req_channel);
    free(a->resp_channel);
    free(a);
}

static int sharded_add(void *p, siod_socket *s, const char *room)
{
    struct radapter *a = p;
    if (!room_channel(a, s, room) || MEM->has(a->mem, s, room))
        return MEM->add(a->mem, s, room);
    int rc = MEM->add(a->mem, s, room);
    if (rc == 0)
        room_sub(a, room, 1);
    return rc;
}

static void sharded_del(void *p, siod_socket *s, const char *room)
{
    struct radapter *a = p;
    int had = room_channel(a, s, room) && MEM->has(a->mem, s, room);
    MEM->del(a->mem, s, room);
    if (had)
        room_sub(a, room, 0);
}

/* The rooms of a socket that leaves them all. */
struct rooms_of {
    struct radapter *a;
    const siod_socket *s;
    char **v;
    size_t n, cap;
};

static void collect_room(void *ud, const char *room)
{
    struct rooms_of *ro = ud;
    char *copy;
    if (!room_channel(ro->a, ro->s, room))
        return;
    if (ro->n == ro->cap) {
        size_t nc = ro->cap ? ro->cap * 2 : 8;
        char **nv = realloc(ro->v, nc * sizeof *nv);
        if (nv == NULL)
            return;
        ro->v = nv;
        ro->cap = nc;
    }
    if ((copy = strdup(room)) != NULL)
        ro->v[ro->n++] = copy;
}

static void sharded_del_all(void *p, siod_socket *s)
{
    struct radapter *a = p;
    struct rooms_of ro = { a, s, NULL, 0, 0 };
    if (a->subscribed && submode != SIOD_CLUSTER_STATIC)
        MEM->socket_rooms(a->mem, s, collect_room, &ro);
    MEM->del_all(a->mem, s);
    for (size_t i = 0; i < ro.n; i++) {
        room_sub(a, ro.v[i], 0);
        free(ro.v[i]);
    }
    free(ro.v);
}

/* Local delivery first, as the reference does, then the other servers. */
static void sharded_broadcast(void *p, const siod_sio_out *pkt,
                              const siod_bcast_opts *o)
{
    struct radapter *a = p;
    int rc;
    MEM->broadcast(a->mem, pkt, o);
    if (a->subscribed && !(o->flags & SIOD_ADAPTER_LOCAL) &&
        (rc = publish(a, pkt, o, NULL)) < 0)
        siod_log_limited(SIOD_LOG_WARN, "redis: namespace %s: a broadcast "
                         "not published: %s", a->nsp, siod_strerror(rc));
}

/* Local clients first; the other servers get the BROADCAST with a
 * requestId on the namespace's channel and answer on this server's
 * response channel (siod_cluster_shard_serve.c). A request that cannot
 * be sent reports no client for them, so that the wait does not hang. */
static void sharded_broadcast_with_ack(void *p, const siod_sio_out *pkt,
                                       uint64_t id, const siod_bcast_opts *o,
                                       siod_ackwait *w)
{
    struct radapter *a = p;
    unsigned servers = (o->flags & SIOD_ADAPTER_LOCAL)
                           ? 1 : siod_cluster_op_server_count(p);
    struct pending_ack *pa = NULL;
    int rc = -ENOMEM;

    if (servers > 1) {
        /* held first: the local report below may end w */
        a->host->ack_hold(w);
        pa = calloc(1, sizeof *pa);
        if (pa != NULL && rand_hex(pa->request_id) == 0) {
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
    if (pa != NULL && (rc = publish(a, pkt, o, pa->request_id)) == 0) {
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

/* A SOCKETS_JOIN, SOCKETS_LEAVE (of room) or DISCONNECT_SOCKETS (close)
 * for the sockets o selects on the other servers, published and
 * forgotten. */
static void remote_sockets(struct radapter *a, int type,
                           const siod_bcast_opts *o, const char *room,
                           int close)
{
    unsigned char *msg = NULL;
    size_t len = 0;
    int rc;

    if (!a->subscribed || (o->flags & SIOD_ADAPTER_LOCAL))
        return;
    rc = siod_cluster_encode_shard_request(g.uid, a->nsp, type, NULL,
                                           o->rooms, o->nrooms, o->except,
                                           o->nexcept, room, close, NULL, 0,
                                           &msg, &len);
    if (rc == 0)
        siod_redis_publish(g.r, a->channel, a->chlen, msg, len);
    else
        siod_log_limited(SIOD_LOG_WARN, "redis: namespace %s: a request of "
                         "type %d not sent: %s", a->nsp, type,
                         siod_strerror(rc));
    free(msg);
}

/* Joins, leaves and disconnects act on the local sockets at once and on
 * the other servers' through a message, as in the classic mode. */
static void sharded_add_sockets(void *p, const siod_bcast_opts *o,
                                const char *room)
{
    struct radapter *a = p;
    MEM->add_sockets(a->mem, o, room);
    remote_sockets(a, SIOD_MSG_SOCKETS_JOIN, o, room, 0);
}

static void sharded_del_sockets(void *p, const siod_bcast_opts *o,
                                const char *room)
{
    struct radapter *a = p;
    MEM->del_sockets(a->mem, o, room);
    remote_sockets(a, SIOD_MSG_SOCKETS_LEAVE, o, room, 0);
}

static void sharded_disconnect_sockets(void *p, const siod_bcast_opts *o,
                                       int close)
{
    struct radapter *a = p;
    /* published first: the local disconnects run application callbacks */
    remote_sockets(a, SIOD_MSG_DISCONNECT_SOCKETS, o, NULL, close);
    MEM->disconnect_sockets(a->mem, o, close);
}

const siod_adapter_ops siod_adapter_redis_sharded = {
    .name = "redis-sharded",
    .create = sharded_create,
    .destroy = sharded_destroy,
    .add = sharded_add,
    .del = sharded_del,
    .del_all = sharded_del_all,
    .has = siod_cluster_op_has,
    .rooms = siod_cluster_op_rooms,
    .socket_rooms = siod_cluster_op_socket_rooms,
    .select = siod_cluster_op_select,
    .broadcast = sharded_broadcast,
    .broadcast_with_ack = sharded_broadcast_with_ack,
    .add_sockets = sharded_add_sockets,
    .del_sockets = sharded_del_sockets,
    .disconnect_sockets = sharded_disconnect_sockets,
    .server_count = siod_cluster_op_server_count,
    .cluster = siod_cluster_op_cluster,
    .fetch = siod_cluster_op_fetch,
    .server_emit = siod_cluster_op_server_emit,
};

/* ---- start ----------------------------------------------------------------- */

int siod_cluster_start_sharded(struct event_base *base, const char *url,
                               const char *prefix, int mode, char *why,
                               size_t cap)
{
    int rc = rand_hex(g.uid);
    if (rc < 0)
        return siod_err_set(why, cap, rc, "getrandom: %s", siod_strerror(rc));
    submode = mode;
    g.sharded = 1;
    g.base = base;
    g.prefix = strdup(prefix);
    g.numsub_timer = event_new(base, -1, EV_PERSIST, numsub_timer_cb, NULL);
    if (g.prefix == NULL || g.numsub_timer == NULL) {
        siod_cluster_stop();
        siod_err_set(why, cap, -EINVAL, "out of memory");
        return -ENOMEM;
    }
    g.r = siod_redis_open(base, url, SIOD_REDIS_SHARDED,
                          siod_cluster_shard_on_message, NULL, why, cap);
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
