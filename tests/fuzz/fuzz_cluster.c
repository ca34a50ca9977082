/* libFuzzer target for siod's Redis wire codec (siod/cluster/): decodes
 * arbitrary bytes as a @socket.io/redis-adapter broadcast, checks what
 * decoded (a packet siod's parser accepts, its attachments inside the
 * input, a namespace and uid), then encodes it back and decodes that
 * again: uid, namespace, rooms and flags must come back the same (the
 * data may not: json-c keeps one of duplicate keys). The same bytes are
 * read as requests of the request channel too (JSON, and a broadcast
 * with acks in msgpack), as responses (a client count, an ack) and as a
 * sharded adapter's message (JSON or msgpack), whose broadcast or ack is
 * encoded back and decoded again the same way. */
#include "cluster/siod_cluster.h"
#include "sio_packet.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#define ENSURE(c) \
    do { \
        if (!(c)) { \
            fprintf(stderr, "fuzz_cluster.c:%d: %s\n", __LINE__, #c); \
            __builtin_trap(); \
        } \
    } while (0)

/* The bytes as a sharded adapter's message: what decodes is whole, and a
 * broadcast or a client's ack encoded back decodes to the same. */
static void sharded(const unsigned char *data, size_t size)
{
    siod_cluster_msg m, back;
    struct sio_packet p;
    struct sio_packet_opts po = { SIOD_CLUSTER_MAX_BINS, 130,
                                  SIO_JSON_LONE_SURROGATES };
    char why[128];
    unsigned char *msg = NULL;
    size_t len = 0;
    int rc = siod_cluster_decode_msg(data, size, &m, why, sizeof why);

    ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
    if (rc != 0)
        return;
    ENSURE(m.uid != NULL && m.nsp != NULL);
    for (unsigned i = 0; i < m.b.nbins; i++)
        ENSURE(m.b.bins[i].data >= data &&
               m.b.bins[i].data + m.b.bins[i].len <= data + size);
    if (m.type == SIOD_MSG_BROADCAST) {
        ENSURE(m.b.packet != NULL && strlen(m.b.packet) == m.b.packet_len);
        ENSURE(sio_packet_parse(m.b.packet, m.b.packet_len, &po, &p) ==
               SIO_OK);
        ENSURE(p.attachments == m.b.nbins && !p.has_id);
        rc = siod_cluster_encode_shard_bcast(
            m.uid, m.request_id, m.b.packet, m.b.packet_len, m.b.bins,
            m.b.nbins, m.b.rooms, m.b.nrooms, m.b.except, m.b.nexcept,
            m.b.flags & ~SIOD_CLUSTER_LOCAL, &msg, &len);
    } else if (m.type == SIOD_MSG_BROADCAST_ACK) {
        ENSURE(m.arg != NULL && strlen(m.arg) == m.arg_len);
        rc = siod_cluster_encode_shard_response(
            m.uid, m.nsp, m.type, m.request_id ? m.request_id : "r",
            "packet", m.arg, m.arg_len, m.b.bins, m.b.nbins, &msg, &len);
    } else {
        rc = -EINVAL;
    }
    ENSURE(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    if (rc == 0) {
        rc = siod_cluster_decode_msg(msg, len, &back, why, sizeof why);
        ENSURE(rc == 0 || rc == -ENOMEM);
        if (rc == 0) {
            ENSURE(back.type == m.type && strcmp(back.uid, m.uid) == 0);
            /* attachments no placeholder names are not sent again */
            ENSURE(back.b.nbins <= m.b.nbins);
            if (m.type == SIOD_MSG_BROADCAST) {
                ENSURE(strcmp(back.b.nsp, m.b.nsp) == 0);
                ENSURE(back.b.nrooms == m.b.nrooms &&
                       back.b.nexcept == m.b.nexcept);
                for (size_t i = 0; i < m.b.nrooms; i++)
                    ENSURE(strcmp(back.b.rooms[i], m.b.rooms[i]) == 0);
                for (size_t i = 0; i < m.b.nexcept; i++)
                    ENSURE(strcmp(back.b.except[i], m.b.except[i]) == 0);
                ENSURE(back.b.flags == (m.b.flags & ~SIOD_CLUSTER_LOCAL));
                ENSURE((back.request_id == NULL) == (m.request_id == NULL));
            }
            siod_cluster_msg_clear(&back);
        }
        free(msg);
    }
    siod_cluster_msg_clear(&m);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    siod_cluster_bcast b, back;
    struct sio_packet p;
    struct sio_packet_opts po = { SIOD_CLUSTER_MAX_BINS, 128,
                                  SIO_JSON_LONE_SURROGATES };
    char why[128];
    unsigned char *msg = NULL;
    size_t len = 0;

    siod_cluster_ack ack;
    char *rid;
    size_t count;
    sharded(data, size);
    int rc = siod_cluster_decode_ack(data, size, &ack);
    ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
    if (rc == 0) {
        ENSURE(ack.request_id != NULL && ack.json != NULL &&
               strlen(ack.json) == ack.len);
        siod_cluster_ack_clear(&ack);
    }
    rc = siod_cluster_decode_count(data, size, &rid, &count);
    ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
    if (rc == 0)
        free(rid);

    siod_cluster_req q;
    rc = siod_cluster_decode_request(data, size, &q);
    ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
    if (rc == 0) {
        for (size_t i = 0; i < q.nnames; i++)
            ENSURE(q.names[i] != NULL);
        if (q.request_id != NULL) {
            size_t n;
            char *r = siod_cluster_response(q.request_id, "rooms", q.names,
                                            q.nnames, 1, &n);
            ENSURE(r == NULL || strlen(r) == n);
            free(r);
        }
        siod_cluster_req_clear(&q);
    }

    char *request_id;
    rc = siod_cluster_decode_bcast_request(data, size, &b, &request_id, why,
                                           sizeof why);
    ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
    if (rc == 0) {
        ENSURE(request_id != NULL && b.packet != NULL);
        ENSURE(sio_packet_parse(b.packet, b.packet_len, &po, &p) == SIO_OK);
        free(request_id);
        siod_cluster_bcast_clear(&b);
    }

    rc = siod_cluster_decode_bcast(data, size, &b, why, sizeof why);
    ENSURE(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
    if (rc != 0)
        return 0;
    ENSURE(b.uid != NULL && b.nsp != NULL && b.nsp[0] == '/');
    ENSURE(b.packet != NULL && strlen(b.packet) == b.packet_len);
    ENSURE(sio_packet_parse(b.packet, b.packet_len, &po, &p) == SIO_OK);
    ENSURE(p.attachments == b.nbins);
    ENSURE(p.type == (b.nbins ? SIO_PACKET_BINARY_EVENT : SIO_PACKET_EVENT));
    for (unsigned i = 0; i < b.nbins; i++)
        ENSURE(b.bins[i].data >= data &&
               b.bins[i].data + b.bins[i].len <= data + size);

    rc = siod_cluster_encode_bcast(b.uid, NULL, b.packet, b.packet_len, b.bins,
                                   b.nbins, b.rooms, b.nrooms, b.except,
                                   b.nexcept, b.flags & ~SIOD_CLUSTER_LOCAL,
                                   &msg, &len);
    ENSURE(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
    if (rc == 0) {
        rc = siod_cluster_decode_bcast(msg, len, &back, why, sizeof why);
        ENSURE(rc == 0 || rc == -ENOMEM);
        if (rc == 0) {
            ENSURE(strcmp(back.uid, b.uid) == 0);
            ENSURE(strcmp(back.nsp, b.nsp) == 0);
            ENSURE(back.nrooms == b.nrooms && back.nexcept == b.nexcept);
            for (size_t i = 0; i < b.nrooms; i++)
                ENSURE(strcmp(back.rooms[i], b.rooms[i]) == 0);
            for (size_t i = 0; i < b.nexcept; i++)
                ENSURE(strcmp(back.except[i], b.except[i]) == 0);
            ENSURE(back.flags == (b.flags & ~SIOD_CLUSTER_LOCAL));
            siod_cluster_bcast_clear(&back);
        }
        free(msg);
    }
    siod_cluster_bcast_clear(&b);
    return 0;
}
