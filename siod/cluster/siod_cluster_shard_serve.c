/* What other servers send the sharded adapter, handled as
 * socket.io-adapter's ClusterAdapter handles it: broadcasts delivered to
 * the local sockets they select; broadcasts with acks sent with ack ids,
 * their client count and each client's answer sent back; remote joins,
 * leaves and disconnects; fetchSockets answered with the local sockets;
 * server-side emits handed to the application, its answer sent back; and
 * the other servers' answers to this server's broadcasts with acks,
 * fetches and server-side emits. Responses go to the requester's own
 * channel `<prefix>#<nsp>#<uid>#`. */
#include "siod_cluster_int.h"
#include "adapter/siod_adapter.h"
#include "core/siod_core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define g siod_cluster_g

/* Publishes a response of type (data {requestId, key: value}) to the
 * requester uid's channel on a's namespace. */
static void respond(struct radapter *a, const char *uid, int type,
                    const char *request_id, const char *key,
                    const char *value, size_t vlen,
                    const siod_cluster_bin *bins, unsigned nbins)
{
    unsigned char *msg = NULL;
    size_t len = 0, ulen = strlen(uid);
    char *ch = malloc(a->chlen + ulen + 2);
    int rc = ch != NULL ? siod_cluster_encode_shard_response(
                              g.uid, a->nsp, type, request_id, key, value,
                              vlen, bins, nbins, &msg, &len)
                        : -ENOMEM;
    if (rc == 0) {
        memcpy(ch, a->channel, a->chlen);
        memcpy(ch + a->chlen, uid, ulen);
        memcpy(ch + a->chlen + ulen, "#", 2);
        siod_redis_publish(g.r, ch, a->chlen + ulen + 1, msg, len);
    } else {
        siod_log_limited(SIOD_LOG_WARN, "redis: namespace %s: no answer of "
                         "type %d to request %s: %s", a->nsp, type,
                         request_id, siod_strerror(rc));
    }
    free(ch);
    free(msg);
}

/* ---- broadcasts with acks from other servers ------------------------------ */

/* One being answered: its client acks go out as they come, until every
 * recipient answered or gave up. */
struct remote_ack {
    char *nsp;                       /* to find its adapter again */
    char *uid;                       /* the requester */
    char *request_id;
    size_t pending;
};

static void remote_ack_free(struct remote_ack *ra)
{
    if (ra == NULL)
        return;
    free(ra->nsp);
    free(ra->uid);
    free(ra->request_id);
    free(ra);
}

static void remote_ack_fn(void *ud, int answered, const char *json,
                          size_t len, const siod_adapter_bin *bins,
                          unsigned nbins)
{
    struct remote_ack *ra = ud;
    siod_cluster_bin small[8] = { { NULL, 0 } }, *cb = small;
    struct radapter *a = g.list;

    while (a != NULL && (!a->subscribed || strcmp(a->nsp, ra->nsp) != 0))
        a = a->next;
    if (answered && a != NULL && g.r != NULL) {
        if (nbins > sizeof small / sizeof small[0])
            cb = malloc(nbins * sizeof *cb);
        for (unsigned i = 0; cb != NULL && i < nbins; i++)
            cb[i] = (siod_cluster_bin){ bins[i].data, bins[i].len };
        if (cb != NULL)
            respond(a, ra->uid, SIOD_MSG_BROADCAST_ACK, ra->request_id,
                    "packet", json, len, cb, nbins);
        if (cb != small)
            free(cb);
    }
    if (--ra->pending == 0)
        remote_ack_free(ra);
}

/* The packet sent to the local sockets m selects, each awaiting its
 * answer; the number sent answered at once (also 0). */
static void bcast_with_ack(struct radapter *a, const siod_cluster_msg *m,
                           const siod_bcast_opts *o)
{
    siod_sio_out out;
    siod_socket **v = NULL;
    ssize_t n = -ENOMEM;
    size_t sent = 0;
    char count[32];
    struct remote_ack *ra = calloc(1, sizeof *ra);

    siod_cluster_build_out(&m->b, &out);
    if (ra != NULL) {
        ra->nsp = strdup(a->nsp);
        ra->uid = strdup(m->uid);
        ra->request_id = strdup(m->request_id);
    }
    if (out.head != NULL && ra != NULL && ra->nsp != NULL &&
        ra->uid != NULL && ra->request_id != NULL)
        n = MEM->select(a->mem, o, &v);
    if (n > 0)
        sent = a->host->send_with_ack(a->nsp_h, v, (size_t)n, &out, o->flags,
                                      m->b.timeout_ms, remote_ack_fn, ra);
    for (ssize_t i = 0; i < n; i++)
        a->host->unref(v[i]);
    free(v);
    if (n < 0)
        siod_log_limited(SIOD_LOG_ERROR, "redis: namespace %s: out of memory "
                         "for a broadcast with acks", a->nsp);
    snprintf(count, sizeof count, "%zu", sent);
    respond(a, m->uid, SIOD_MSG_BROADCAST_CLIENT_COUNT, m->request_id,
            "clientCount", count, strlen(count), NULL, 0);
    if (ra != NULL && sent > 0)
        ra->pending = sent;          /* the answers come later */
    else
        remote_ack_free(ra);
    siod_cluster_release_out(&out);
}

/* ---- requests ------------------------------------------------------------- */

/* FETCH_SOCKETS: the local sockets selected, as the host describes them. */
static void fetch_sockets(struct radapter *a, const siod_cluster_msg *m,
                          const siod_bcast_opts *o)
{
    siod_socket **v = NULL;
    ssize_t n = MEM->select(a->mem, o, &v);
    char *list = NULL;
    size_t len = 0, cap = 0;
    int failed = n < 0;

    for (ssize_t i = 0; i < n; i++) {
        char *d = failed ? NULL : a->host->describe(v[i]);
        size_t dl = d != NULL ? strlen(d) : 0;
        /* '[' or ',', the socket, and the closing ']' */
        if (d != NULL && cap - len < dl + 2) {
            size_t nc = (len + dl + 2) * 2;
            char *nl = realloc(list, nc);
            if (nl != NULL) {
                list = nl;
                cap = nc;
            }
        }
        if (d == NULL || cap - len < dl + 2) {
            failed = 1;
        } else {
            list[len] = len == 0 ? '[' : ',';
            memcpy(list + len + 1, d, dl);
            len += dl + 1;
        }
        free(d);
        a->host->unref(v[i]);
    }
    free(v);
    if (failed) {
        siod_log_limited(SIOD_LOG_ERROR, "redis: namespace %s: fetchSockets "
                         "not answered (out of memory)", a->nsp);
    } else if (len == 0) {
        respond(a, m->uid, SIOD_MSG_FETCH_SOCKETS_RESPONSE, m->request_id,
                "sockets", "[]", 2, NULL, 0);
    } else {
        list[len++] = ']';
        respond(a, m->uid, SIOD_MSG_FETCH_SOCKETS_RESPONSE, m->request_id,
                "sockets", list, len, NULL, 0);
    }
    free(list);
}

/* A response to one of this server's broadcasts with acks. */
static void on_response(const siod_cluster_msg *m)
{
    struct pending_ack *pa;
    siod_adapter_bin small[8], *bins = small;

    if (m->request_id == NULL ||
        (pa = siod_cluster_pending_find(m->request_id)) == NULL)
        return;
    if (m->type == SIOD_MSG_BROADCAST_CLIENT_COUNT) {
        pa->host->ack_count(pa->w, m->client_count);
    } else {
        if (m->b.nbins > sizeof small / sizeof small[0] &&
            (bins = malloc(m->b.nbins * sizeof *bins)) == NULL)
            return;
        for (unsigned i = 0; i < m->b.nbins; i++)
            bins[i] = (siod_adapter_bin){ m->b.bins[i].data,
                                          m->b.bins[i].len };
        pa->host->ack_answer(pa->w, m->arg, m->arg_len, bins, m->b.nbins);
        if (bins != small)
            free(bins);
    }
    siod_cluster_pending_sweep(0);
}

/* ---- server-side emits and this server's requests ----------------------- */

/* Another server's server-side emit being answered by the application. */
struct answer_ctx {
    char *nsp, *uid, *request_id;
};

static void answer_fn(void *ud, int answered, const char *json, size_t len)
{
    struct answer_ctx *c = ud;
    struct radapter *a = g.list;

    while (a != NULL && (!a->subscribed || strcmp(a->nsp, c->nsp) != 0))
        a = a->next;
    if (answered && a != NULL && g.r != NULL)
        respond(a, c->uid, SIOD_MSG_SERVER_SIDE_EMIT_RESPONSE, c->request_id,
                "packet", json, len, NULL, 0);
    free(c->nsp);
    free(c->uid);
    free(c->request_id);
    free(c);
}

/* SERVER_SIDE_EMIT: [event, ...args] to the application's callback, its
 * answer sent back when the sender waits for one. */
static void server_event(struct radapter *a, const siod_cluster_msg *m)
{
    struct answer_ctx *c = NULL;

    if (m->request_id != NULL) {
        c = calloc(1, sizeof *c);
        if (c == NULL || (c->nsp = strdup(a->nsp)) == NULL ||
            (c->uid = strdup(m->uid)) == NULL ||
            (c->request_id = strdup(m->request_id)) == NULL) {
            if (c != NULL) {
                free(c->nsp);
                free(c->uid);
            }
            free(c);
            siod_log_limited(SIOD_LOG_ERROR, "redis: namespace %s: a "
                             "server-side emit dropped (out of memory)",
                             a->nsp);
            return;
        }
    }
    a->host->server_event(a->nsp_h, m->arg, m->arg_len,
                          c != NULL ? answer_fn : NULL, c);
}

/* An answer to this server's fetch or server-side emit: handed to
 * siod_cluster_remote.c in the shape it reads, {"requestId", "sockets"}
 * or {"requestId", "data"}. */
static void request_answer(const siod_cluster_msg *m)
{
    size_t hlen, klen, len;
    const char *key = m->type == SIOD_MSG_FETCH_SOCKETS_RESPONSE
                          ? ",\"sockets\":" : ",\"data\":";
    char *head, *msg;

    if (m->request_id == NULL ||
        (head = siod_cluster_response(m->request_id, NULL, NULL, 0, 0,
                                      &hlen)) == NULL)
        return;
    klen = strlen(key);
    msg = malloc(hlen + klen + m->arg_len + 1);
    if (msg != NULL) {
        /* {"requestId":"..."} without its '}', then the answer */
        memcpy(msg, head, hlen - 1);
        memcpy(msg + hlen - 1, key, klen);
        memcpy(msg + hlen - 1 + klen, m->arg, m->arg_len);
        len = hlen - 1 + klen + m->arg_len;
        msg[len++] = '}';
        siod_cluster_remote_response((const unsigned char *)msg, len);
    }
    free(msg);
    free(head);
}

static void handle(struct radapter *a, const siod_cluster_msg *m)
{
    siod_bcast_opts o = { m->b.rooms, m->b.nrooms, m->b.except,
                          m->b.nexcept, siod_cluster_host_flags(m->b.flags) };
    siod_sio_out out;

    switch (m->type) {
    case SIOD_MSG_BROADCAST:
        if (m->request_id != NULL) {
            bcast_with_ack(a, m, &o);
            break;
        }
        siod_cluster_build_out(&m->b, &out);
        if (out.head != NULL)
            MEM->broadcast(a->mem, &out, &o);
        else
            siod_log_limited(SIOD_LOG_ERROR, "redis: out of memory "
                             "delivering a broadcast to namespace %s", a->nsp);
        siod_cluster_release_out(&out);
        break;
    case SIOD_MSG_SOCKETS_JOIN:
    case SIOD_MSG_SOCKETS_LEAVE:
        o.flags = 0;
        for (size_t i = 0; i < m->nnames; i++) {
            if (m->type == SIOD_MSG_SOCKETS_JOIN)
                MEM->add_sockets(a->mem, &o, m->names[i]);
            else
                MEM->del_sockets(a->mem, &o, m->names[i]);
        }
        break;
    case SIOD_MSG_DISCONNECT_SOCKETS:
        o.flags = 0;
        MEM->disconnect_sockets(a->mem, &o, m->close);
        break;
    case SIOD_MSG_FETCH_SOCKETS:
        o.flags = 0;
        if (m->request_id != NULL)
            fetch_sockets(a, m, &o);
        break;
    case SIOD_MSG_SERVER_SIDE_EMIT:
        server_event(a, m);
        break;
    case SIOD_MSG_BROADCAST_CLIENT_COUNT:
    case SIOD_MSG_BROADCAST_ACK:
        on_response(m);
        break;
    case SIOD_MSG_FETCH_SOCKETS_RESPONSE:
    case SIOD_MSG_SERVER_SIDE_EMIT_RESPONSE:
        request_answer(m);
        break;
    default:
        break;                       /* heartbeats, answers siod never asks */
    }
}

void siod_cluster_shard_on_message(void *ud, const char *channel,
                                   size_t chlen, const unsigned char *msg,
                                   size_t len)
{
    siod_cluster_msg m;
    char why[200];
    int rc = siod_cluster_decode_msg(msg, len, &m, why, sizeof why);

    if (rc < 0) {
        siod_log_limited(SIOD_LOG_WARN, "redis: a message on %.*s siod "
                         "cannot read: %s", (int)chlen, channel,
                         rc == -ENOMEM ? "out of memory" : why);
        return;
    }
    /* its own messages come back to every server: not twice */
    if (strcmp(m.uid, g.uid) != 0) {
        for (struct radapter *a = g.list; a != NULL; a = a->next) {
            if (a->subscribed && strcmp(a->nsp, m.nsp) == 0) {
                handle(a, &m);
                break;
            }
        }
    }
    siod_cluster_msg_clear(&m);
}
