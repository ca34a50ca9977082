/* The session layer's peers (one per relay link) and bindings (the
 * module's handles, GET or WebSocket, each bound to a session), indexed by
 * (peer, conn); and the frames that go out to the module through the
 * siod_peer_ops its link registered. Called by the session layer's files;
 * calls none of them (siod_peer_free, which ends the sessions a peer
 * holds, lives in siod_session_relay.c). */
#include "core/siod_core.h"
#include "siod_engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conn_key {
    uint64_t peer;
    uint64_t conn;
};

static siod_hash conns;              /* (peer, conn) -> binding */
static uint64_t next_peer_id;
static size_t fan_peers;             /* peers that take WS_FANOUT */

static int binding_eq(const void *item, const void *key)
{
    const struct siod_binding *b = item;
    const struct conn_key *k = key;
    return b->peer->id == k->peer && b->conn == k->conn;
}

struct siod_binding *siod_binding_find(const siod_peer *p, uint64_t conn)
{
    struct conn_key k = { p->id, conn };
    return siod_hash_find(&conns, siod_hash_u64pair(k.peer, k.conn), &k);
}

/* Returns the new binding, or NULL if memory runs out. */
struct siod_binding *siod_binding_new(siod_peer *p, uint64_t conn,
                                      siod_session *s,
                                      enum siod_bind_kind kind)
{
    struct siod_binding *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    b->peer = p;
    b->conn = conn;
    b->s = s;
    b->kind = kind;
    b->hash = siod_hash_u64pair(p->id, conn);
    if (siod_hash_insert(&conns, b->hash, b) < 0) {
        free(b);
        return NULL;
    }
    b->pnext = p->bindings;
    if (p->bindings != NULL)
        p->bindings->pprev = b;
    p->bindings = b;
    return b;
}

void siod_binding_free(struct siod_binding *b)
{
    struct conn_key k = { b->peer->id, b->conn };
    siod_hash_remove(&conns, b->hash, &k);
    if (b->pprev != NULL)
        b->pprev->pnext = b->pnext;
    else
        b->peer->bindings = b->pnext;
    if (b->pnext != NULL)
        b->pnext->pprev = b->pprev;
    free(b);
}

int siod_peer_send(siod_peer *p, uint8_t type, uint8_t flags,
                   uint16_t status, uint64_t conn, const char *sid,
                   const void *a, size_t alen, const void *b, size_t blen)
{
    sio_relay_frame f;
    struct iovec iov[2];
    int n = 0;

    if (p == NULL || p->dead)
        return -EPIPE;
    memset(&f, 0, sizeof f);
    f.type = type;
    f.flags = flags;
    f.status = status;
    f.conn = conn;
    if (sid != NULL)
        memcpy(f.sid, sid, SIO_SID_LEN);
    if (alen > 0) {
        iov[n].iov_base = (void *)a;
        iov[n++].iov_len = alen;
    }
    if (blen > 0) {
        iov[n].iov_base = (void *)b;
        iov[n++].iov_len = blen;
    }
    f.len = (uint32_t)(alen + blen);
    return p->ops->send(p->ctx, &f, iov, n);
}

int siod_peer_respond(siod_peer *p, const sio_relay_frame *req,
                      uint16_t status, int json, const char *body,
                      size_t len)
{
    return siod_peer_send(p, SIO_R_RESPONSE, json ? SIO_RF_JSON : 0, status,
                   req->conn, req->sid, body, len, NULL, 0);
}

int siod_peer_respond_str(siod_peer *p, const sio_relay_frame *req,
                          uint16_t status, int json, const char *body)
{
    return siod_peer_respond(p, req, status, json, body, strlen(body));
}

/* Sends the message packet in shared buffer buf as its own WebSocket
 * message on b; volatile_ marks it SIO_RF_VOLATILE. Returns 0, -EPIPE,
 * -EMSGSIZE or the send_shared op's code. */
int siod_peer_ws_send_shared(const char *sid, struct siod_binding *b,
                             siod_buf *buf, int binary, int volatile_)
{
    sio_relay_frame f;
    siod_peer *p = b->peer;

    if (p->dead)
        return -EPIPE;
    memset(&f, 0, sizeof f);
    f.type = SIO_R_WS_SEND;
    f.flags = (binary ? SIO_RF_BINARY : 0) |
              (volatile_ ? SIO_RF_VOLATILE : 0);
    f.conn = b->conn;
    memcpy(f.sid, sid, SIO_SID_LEN);
    if (buf->len + 1 > UINT32_MAX)
        return -EMSGSIZE;
    if (binary && b->s->eio3) {
        /* v3: the type byte first, in the prefix the link copies; the
         * buffer stays the one every protocol shares */
        static const unsigned char type_byte = SIO_EIO_MESSAGE;
        struct iovec pre = { (void *)&type_byte, 1 };
        f.len = (uint32_t)(buf->len + 1);
        return p->ops->send_shared(p->ctx, &f, &pre, 1, buf,
                                   siod_ws_body_off(1));
    }
    f.len = (uint32_t)siod_ws_body_len(buf, binary);
    return p->ops->send_shared(p->ctx, &f, NULL, 0, buf,
                               siod_ws_body_off(binary));
}

/* Sends one packet as its own WebSocket message on b. Returns 0, -ENOMEM
 * or siod_peer_send's code. */
int siod_peer_ws_send_packet(const char *sid, struct siod_binding *b, int type,
                             int binary, const void *data, size_t len)
{
    sio_eio_packet pkt = { type, binary, data, len };
    /* v3: a binary message starts with its type byte */
    size_t pre = binary && b->s->eio3 ? 1 : 0;
    size_t n = sio_eio_encoded_len(&pkt, 0) + pre;
    unsigned char small[64];
    unsigned char *buf = n <= sizeof small ? small : malloc(n);
    if (buf == NULL)
        return -ENOMEM;
    if (pre)
        buf[0] = SIO_EIO_MESSAGE;
    n = pre + sio_eio_encode(buf + pre, &pkt, 0);
    int rc = siod_peer_send(b->peer, SIO_R_WS_SEND,
                            binary ? SIO_RF_BINARY : 0, 0, b->conn, sid, buf,
                            n, NULL, 0);
    if (buf != small)
        free(buf);
    return rc;
}

siod_peer *siod_peer_new(const siod_peer_ops *ops, void *ctx, const char *name,
                         unsigned caps, uint32_t max_body)
{
    siod_peer *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->ops = ops;
    p->ctx = ctx;
    p->caps = caps;
    p->max_body = max_body;
    if (caps & SIO_RELAY_CAP_FANOUT)
        fan_peers++;
    p->id = ++next_peer_id;
    snprintf(p->name, sizeof p->name, "%s", name != NULL ? name : "?");
    return p;
}

void siod_peer_destroy(siod_peer *p)
{
    if (p == NULL)
        return;
    if (p->caps & SIO_RELAY_CAP_FANOUT)
        fan_peers--;
    free(p);
}

void siod_peers_init(void)
{
    siod_hash_init(&conns, binding_eq);
    next_peer_id = 0;
    fan_peers = 0;
}

void siod_peers_cleanup(void)
{
    siod_hash_destroy(&conns);
}

size_t siod_peers_fanout_count(void)
{
    return fan_peers;
}
