/* libFuzzer target for shared/sio_relay.c: parses a stream of relay frames
 * and the key/value lists, HELLO, AUTH and WS_FANOUT bodies inside them
 * (every body is also read as a WS_FANOUT and a PEERS body), checking that
 * every result stays within the input and re-encodes to the same bytes,
 * and that a header parsed alone agrees with its frame; the whole input
 * is also read as a secret file. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "sio_relay.h"

static void check_kv(const unsigned char *body, size_t len)
{
    size_t off = 0, prev = 0;
    sio_relay_kv kv;
    int rc;

    while ((rc = sio_relay_kv_next(body, len, &off, &kv)) == SIO_OK) {
        assert(off > prev && off <= len);
        assert((const unsigned char *)kv.key >= body);
        assert((const unsigned char *)kv.val + kv.val_len <= body + len);
        assert(off - prev == sio_relay_kv_size(kv.key_len, kv.val_len));
        prev = off;
    }
    assert(rc == SIO_DONE || rc == SIO_EPROTO);
    assert(rc != SIO_DONE || off == len);
    rc = sio_relay_kv_find(body, len, "url", &kv);
    assert(rc == SIO_OK || rc == SIO_DONE || rc == SIO_EPROTO);
    if (rc == SIO_OK)
        assert(kv.key_len == 3 && memcmp(kv.key, "url", 3) == 0);
}

/* A WS_FANOUT body decodes within its bytes and, when its count is not 0,
 * re-encodes to the same bytes. */
static void check_fanout(const unsigned char *body, size_t len)
{
    sio_relay_fanout fo;
    sio_relay_frame f;
    uint64_t *conns;
    unsigned char *again;

    if (sio_relay_fanout_decode(body, len, &fo) != SIO_OK)
        return;
    assert(fo.conns == body + SIO_RELAY_FANOUT_COUNT_LEN);
    assert(fo.msg + fo.msg_len == body + len);
    assert(sio_relay_fanout_prefix_len(fo.count) + fo.msg_len == len);
    if (fo.count == 0)
        return;
    conns = malloc(fo.count * sizeof(*conns));
    again = malloc(sio_relay_fanout_prefix_len(fo.count));
    if (conns != NULL && again != NULL) {
        for (size_t i = 0; i < fo.count; i++)
            conns[i] = sio_relay_fanout_conn(&fo, i);
        assert(sio_relay_fanout_encode(&f, again, conns, fo.count, fo.msg_len,
                                       SIO_RF_BINARY) ==
               sio_relay_fanout_prefix_len(fo.count));
        assert(f.len == len && f.type == SIO_R_WS_FANOUT);
        assert(memcmp(again, body, len - fo.msg_len) == 0);
    }
    free(conns);
    free(again);
}

/* A PEERS body that decodes walks within its bytes, every entry valid,
 * and re-encodes to the same bytes. */
static void check_peers(const unsigned char *body, size_t len)
{
    sio_relay_peer p;
    uint32_t ttl;
    uint16_t count;
    size_t off = 0, w;
    unsigned n = 0;
    unsigned char *again;

    if (sio_relay_peers_decode(body, len, &ttl, &count) != SIO_OK)
        return;
    assert(count <= SIO_RELAY_PEERS_MAX);
    again = malloc(len);
    if (again == NULL)
        return;
    w = sio_relay_peers_head(again, ttl, count);
    while (sio_relay_peer_next(body, len, &off, &p) == SIO_OK) {
        assert(off <= len);
        assert((const unsigned char *)p.url + p.url_len <= body + len);
        assert(sio_relay_peer_url_valid(p.url, p.url_len));
        w += sio_relay_peer_put(again + w, p.node, p.url, p.url_len);
        n++;
    }
    assert(n == count && (n ? off : SIO_RELAY_PEERS_HEAD_LEN) == len && w == len);
    assert(memcmp(again, body, len) == 0);
    free(again);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    unsigned char *buf, hdr[SIO_RELAY_HDR_LEN];
    size_t off = 0, used, max_body;
    sio_relay_frame f, g;
    sio_relay_hello h;
    int rc, hrc;

    if (size < 1)
        return 0;
    /* first byte picks the body limit: small limits reach ETOOBIG */
    max_body = data[0] & 0x80 ? SIO_RELAY_MAX_BODY : data[0];
    buf = malloc(size);
    if (buf == NULL)
        return 0;
    memcpy(buf, data + 1, size - 1);
    size--;
    for (;;) {
        used = 0;
        rc = sio_relay_parse(buf + off, size - off, max_body, &used, &f);
        /* the header alone agrees with the whole frame */
        hrc = sio_relay_parse_header(buf + off, size - off, max_body, &g);
        assert(hrc == rc || (hrc == SIO_OK && rc == SIO_AGAIN));
        if (rc != SIO_OK) {
            assert(rc == SIO_AGAIN || rc == SIO_EPROTO || rc == SIO_ETOOBIG);
            break;
        }
        assert(g.type == f.type && g.flags == f.flags && g.len == f.len &&
               g.conn == f.conn && g.status == f.status && g.body == NULL &&
               memcmp(g.sid, f.sid, SIO_SID_LEN) == 0);
        assert(used >= SIO_RELAY_HDR_LEN && used <= size - off);
        assert(used == SIO_RELAY_HDR_LEN + (size_t)f.len);
        assert(f.len <= max_body);
        assert(f.body == buf + off + SIO_RELAY_HDR_LEN);
        assert(strcmp(sio_relay_type_name(f.type), "?") != 0);
        sio_relay_write_header(hdr, &f);
        assert(memcmp(hdr, buf + off, SIO_RELAY_HDR_LEN) == 0);
        if (f.type == SIO_R_HELLO) {
            if (sio_relay_hello_decode(f.body, f.len, &h) == SIO_OK) {
                unsigned char again[SIO_RELAY_HELLO_NODE_LEN];

                assert(f.len == SIO_RELAY_HELLO_LEN ||
                       f.len == SIO_RELAY_HELLO_NODE_LEN ||
                       f.len == SIO_RELAY_HELLO_V1_LEN);
                assert((f.len != SIO_RELAY_HELLO_V1_LEN) ==
                       (h.version >= 2));
                assert((f.len == SIO_RELAY_HELLO_NODE_LEN) ==
                       (h.node[0] != 0));
                assert(sio_relay_hello_encode(again, &h) ==
                       (f.len == SIO_RELAY_HELLO_NODE_LEN
                            ? SIO_RELAY_HELLO_NODE_LEN
                            : SIO_RELAY_HELLO_LEN));
                /* a v1 body re-encodes as its first 16 bytes */
                assert(memcmp(again, f.body, f.len) == 0);
            }
        } else if (f.type == SIO_R_AUTH) {
            unsigned char want[SIO_RELAY_PROOF_LEN];

            if (f.len == SIO_RELAY_PROOF_LEN) {
                /* a proof made from the frame's own bytes as key */
                sio_relay_proof(f.body, f.len, f.flags & 1 ?
                                SIO_RELAY_ROLE_MODULE : SIO_RELAY_ROLE_SIOD,
                                buf, buf + off, want);
                assert(sio_relay_proof_ok(want, want));
                (void)sio_relay_proof_ok(f.body, want);
            }
        } else {
            check_kv(f.body, f.len);
            check_fanout(f.body, f.len);
            check_peers(f.body, f.len);
        }
        off += used;
    }
    /* the whole input as one list, and as a secret file, too */
    check_kv(buf, size);
    check_fanout(buf, size);
    check_peers(buf, size);
    if (sio_relay_secret_parse(buf, size, &used) == SIO_OK)
        assert(used >= SIO_RELAY_SECRET_MIN && used <= SIO_RELAY_SECRET_MAX &&
               used <= size);
    free(buf);
    return 0;
}
