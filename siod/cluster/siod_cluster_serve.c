/* Other servers' requests on a namespace's request channel, answered as
 * @socket.io/redis-adapter answers them: fetchSockets, allRooms, SOCKETS,
 * remote join/leave/disconnect, and broadcasts with acks (the packet sent
 * to the local sockets selected, their count and each client's ack sent
 * back). Also the building of a received broadcast's packet. */
#include "siod_cluster_int.h"
#include "adapter/siod_adapter.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define g siod_cluster_g


void siod_cluster_build_out(const siod_cluster_bcast *b, siod_sio_out *out)
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

void siod_cluster_release_out(siod_sio_out *out)
{
    siod_buf_unref(out->head);
    for (unsigned i = 0; i < out->natts; i++)
        siod_buf_unref(out->atts[i]);
    free(out->atts);
}

unsigned siod_cluster_host_flags(unsigned cluster_flags)
{
    return ((cluster_flags & SIOD_CLUSTER_VOLATILE) ? SIOD_ADAPTER_VOLATILE
                                                    : 0) |
           ((cluster_flags & SIOD_CLUSTER_NO_COMPRESS)
                ? SIOD_ADAPTER_NO_COMPRESS : 0);
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
                          siod_cluster_host_flags(b.flags) };
    siod_cluster_build_out(&b, &out);
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
    siod_cluster_release_out(&out);
    free(request_id);
    siod_cluster_bcast_clear(&b);
}

/* Answers another server's (or the emitter's) request as
 * @socket.io/redis-adapter does. */
void siod_cluster_serve(struct radapter *a, const unsigned char *msg,
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
    case SIOD_REQ_SERVER_SIDE_EMIT:
        siod_cluster_remote_serve_emit(a, msg, len);
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
