/* Unit tests for siod's Redis layer without a Redis: the URL parser
 * (credentials, IPv6, port and database, rediss:// refused), the decoder
 * on a broadcast notepack.io encoded (binary, a Date, undefined, floats,
 * rooms, except, flags), the encoder back to what the decoder reads, the
 * request codec, and the sharded adapter's messages (msgpack from
 * notepack.io, JSON both ways). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cluster/siod_cluster.h"

static void test_url(void)
{
    siod_redis_url u;
    char why[256];

    CHECK_EQ(siod_redis_url_parse("redis://127.0.0.1", &u, why, sizeof why), 0);
    CHECK(strcmp(u.host, "127.0.0.1") == 0 && u.port == 6379 && u.db == 0);
    CHECK(u.user == NULL && u.password == NULL);
    siod_redis_url_clear(&u);

    CHECK_EQ(siod_redis_url_parse("redis://al%3Aice:p%40ss@[::1]:6380/7", &u,
                                  why, sizeof why), 0);
    CHECK(strcmp(u.user, "al:ice") == 0 && strcmp(u.password, "p@ss") == 0);
    CHECK(strcmp(u.host, "::1") == 0 && u.port == 6380 && u.db == 7);
    siod_redis_url_clear(&u);

    CHECK_EQ(siod_redis_url_parse("redis://:secret@host/", &u, why,
                                  sizeof why), 0);
    CHECK(u.user == NULL && strcmp(u.password, "secret") == 0);
    CHECK(strcmp(u.host, "host") == 0 && u.db == 0);
    siod_redis_url_clear(&u);

    CHECK_EQ(siod_redis_url_parse("rediss://host", &u, why, sizeof why),
             -EINVAL);
    CHECK(strstr(why, "TLS") != NULL);
    static const char *const bad[] = {
        "http://host", "redis://", "redis://host:0", "redis://host:65536",
        "redis://host:x", "redis://host/x", "redis://user@host",
        "redis://u:%zz@host", "redis://u:%00@host", "redis://host?db=1",
        "redis://[::1", "redis://:p@:6379",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(siod_redis_url_parse(bad[i], &u, why, sizeof why), -EINVAL);
}

static size_t unhex(const char *h, unsigned char *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2)
        out[n++] = (unsigned char)strtoul((char[3]){ h[0], h[1], 0 }, NULL, 16);
    return n;
}

/* notepack.io's encoding of ["Ab12Cd", {type: 2, data: ["ev",
 * Buffer [1,2], {d: Date 2024-02-29T12:34:56.789Z, f: 1.5, n: -3,
 * u: undefined}], nsp: "/chat"}, {rooms: ["r1"], except: ["x"],
 * flags: {volatile: true}}] */
static const char node_msg[] =
    "93a641623132436483a47479706502a46461746193a26576c402010283a164d7ffbc1c"
    "bd0065e079f0a166cb3ff8000000000000a16efda36e7370a52f6368617483a5726f6f"
    "6d7391a27231a665786365707491a178a5666c61677381a8766f6c6174696c65c3";

static void test_decode_node(void)
{
    unsigned char msg[256];
    size_t len = unhex(node_msg, msg);
    siod_cluster_bcast b;
    char why[128];

    CHECK_EQ(siod_cluster_decode_bcast(msg, len, &b, why, sizeof why), 0);
    CHECK(strcmp(b.uid, "Ab12Cd") == 0 && strcmp(b.nsp, "/chat") == 0);
    CHECK(strcmp(b.packet, "51-/chat,[\"ev\",{\"_placeholder\":true,\"num\":0},"
                           "{\"d\":\"2024-02-29T12:34:56.789Z\",\"f\":1.5,"
                           "\"n\":-3}]") == 0);
    CHECK_EQ(b.nbins, 1u);
    CHECK(b.bins[0].len == 2 && b.bins[0].data[0] == 1 &&
          b.bins[0].data[1] == 2);
    CHECK(b.nrooms == 1 && strcmp(b.rooms[0], "r1") == 0);
    CHECK(b.nexcept == 1 && strcmp(b.except[0], "x") == 0);
    CHECK_EQ(b.flags, SIOD_CLUSTER_VOLATILE);

    /* and back: the encoder's message decodes to the same */
    unsigned char *out;
    size_t outlen;
    siod_cluster_bcast back;
    CHECK_EQ(siod_cluster_encode_bcast("me", NULL, b.packet, b.packet_len, b.bins,
                                       b.nbins, b.rooms, b.nrooms, b.except,
                                       b.nexcept, b.flags, &out, &outlen), 0);
    CHECK_EQ(siod_cluster_decode_bcast(out, outlen, &back, why, sizeof why), 0);
    CHECK(strcmp(back.uid, "me") == 0 && strcmp(back.packet, b.packet) == 0);
    CHECK(back.nbins == 1 && back.bins[0].len == 2 && back.flags == b.flags);
    siod_cluster_bcast_clear(&back);
    free(out);
    siod_cluster_bcast_clear(&b);

    /* truncated anywhere: refused, never read past the end */
    for (size_t n = 0; n < len; n++)
        CHECK_EQ(siod_cluster_decode_bcast(msg, n, &b, why, sizeof why),
                 -EPROTO);
    /* an array header claiming 4 billion elements in 6 bytes */
    static const unsigned char huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0 };
    CHECK_EQ(siod_cluster_decode_bcast(huge, sizeof huge, &b, why, sizeof why),
             -EPROTO);
}

/* notepack.io's encoding of the BROADCAST request {uid: "Nd1234",
 * requestId: "rq0001", type: 7, packet: {type: 2, data: ["ask", "hey"],
 * nsp: "/"}, opts: {rooms: ["red"], except: [], flags: {timeout: 3000}}} */
static const char node_req[] =
    "85a3756964a64e6431323334a9726571756573744964a6727130303031a474797065"
    "07a67061636b657483a47479706502a46461746192a361736ba3686579a36e7370a1"
    "2fa46f70747383a5726f6f6d7391a3726564a665786365707490a5666c61677381a7"
    "74696d656f7574cd0bb8";

static void test_decode_request_node(void)
{
    unsigned char msg[256];
    size_t len = unhex(node_req, msg);
    siod_cluster_bcast b;
    char *rid, why[128];

    CHECK_EQ(siod_cluster_decode_bcast_request(msg, len, &b, &rid, why,
                                               sizeof why), 0);
    CHECK(strcmp(rid, "rq0001") == 0 && strcmp(b.uid, "Nd1234") == 0);
    CHECK(strcmp(b.packet, "2[\"ask\",\"hey\"]") == 0);
    CHECK(b.nrooms == 1 && b.nexcept == 0 && b.timeout_ms == 3000);
    free(rid);
    siod_cluster_bcast_clear(&b);
    /* a broadcast is no request, and the reverse */
    CHECK_EQ(siod_cluster_decode_bcast(msg, len, &b, why, sizeof why),
             -EPROTO);
    len = unhex(node_msg, msg);
    CHECK_EQ(siod_cluster_decode_bcast_request(msg, len, &b, &rid, why,
                                               sizeof why), -EPROTO);
    /* found by fuzzing: a key that is an array, then a key cut short,
     * once returned 0 with nothing decoded */
    len = unhex("8693a66162635d3233323383a44161746194a50909090900", msg);
    CHECK_EQ(siod_cluster_decode_bcast_request(msg, len, &b, &rid, why,
                                               sizeof why), -EPROTO);
}

static void test_encode_refuses(void)
{
    unsigned char *out;
    size_t len;
    static const char ack[] = "21[\"ev\"]";          /* has an ack id */
    static const char conn[] = "0{}";
    static const char bin[] = "51-[\"ev\",{\"_placeholder\":true,\"num\":0}]";
    CHECK_EQ(siod_cluster_encode_bcast("u", NULL, ack, strlen(ack), NULL, 0, NULL, 0,
                                       NULL, 0, 0, &out, &len), -EINVAL);
    CHECK_EQ(siod_cluster_encode_bcast("u", NULL, conn, strlen(conn), NULL, 0, NULL,
                                       0, NULL, 0, 0, &out, &len), -EINVAL);
    /* attachments announced but not given */
    CHECK_EQ(siod_cluster_encode_bcast("u", NULL, bin, strlen(bin), NULL, 0, NULL, 0,
                                       NULL, 0, 0, &out, &len), -EINVAL);
}

static void test_request(void)
{
    siod_cluster_req q;
    static const char join[] =
        "{\"type\":2,\"opts\":{\"rooms\":[\"a\"],\"except\":[]},"
        "\"rooms\":[\"x\",\"y\"]}";
    static const char fetch[] =
        "{\"uid\":\"U\",\"requestId\":\"R\",\"type\":5,"
        "\"opts\":{\"rooms\":[],\"except\":[\"e\"]}}";
    CHECK_EQ(siod_cluster_decode_request((const unsigned char *)join,
                                         strlen(join), &q), 0);
    CHECK(q.type == SIOD_REQ_REMOTE_JOIN && q.has_opts && q.uid == NULL);
    CHECK(q.nrooms == 1 && q.nexcept == 0 && q.nnames == 2);
    CHECK(strcmp(q.names[1], "y") == 0);
    siod_cluster_req_clear(&q);
    CHECK_EQ(siod_cluster_decode_request((const unsigned char *)fetch,
                                         strlen(fetch), &q), 0);
    CHECK(q.type == SIOD_REQ_REMOTE_FETCH && strcmp(q.request_id, "R") == 0);
    CHECK(q.nexcept == 1 && strcmp(q.except[0], "e") == 0);
    siod_cluster_req_clear(&q);
    CHECK_EQ(siod_cluster_decode_request((const unsigned char *)"[1]", 3, &q),
             -EPROTO);
    CHECK_EQ(siod_cluster_decode_request((const unsigned char *)"{\"type\":\"x\"}",
                                         12, &q), -EPROTO);

    char a0[] = "a\"b", a1[] = "c";
    char *items[] = { a0, a1 };
    size_t len;
    char *r = siod_cluster_response("R", "rooms", items, 2, 1, &len);
    CHECK(r != NULL &&
          strcmp(r, "{\"requestId\":\"R\",\"rooms\":[\"a\\\"b\",\"c\"]}") == 0);
    CHECK_EQ(len, strlen(r));
    free(r);
    r = siod_cluster_response("R", NULL, NULL, 0, 0, &len);
    CHECK(r != NULL && strcmp(r, "{\"requestId\":\"R\"}") == 0);
    free(r);
}

/* notepack.io's encoding of the sharded adapter's BROADCAST
 * {uid: "0123456789abcdef", nsp: "/chat", type: 3, data: {packet: {type: 2,
 * data: ["ev", <Buffer 01 02>, {n: -3, f: 1.5}], nsp: "/chat"}, opts:
 * {rooms: ["r1"], except: ["x"], flags: {volatile: true}}}} */
static const char node_sharded[] =
    "84a3756964b030313233343536373839616263646566a36e7370a52f63686174a474"
    "79706503a46461746182a67061636b657483a47479706502a46461746193a26576c4"
    "02010282a16efda166cb3ff8000000000000a36e7370a52f63686174a46f70747383"
    "a5726f6f6d7391a27231a665786365707491a178a5666c61677381a8766f6c617469"
    "6c65c3";

static void test_sharded(void)
{
    unsigned char msg[256];
    size_t len = unhex(node_sharded, msg);
    siod_cluster_msg m, back;
    char why[128];
    unsigned char *out;
    size_t outlen;

    CHECK_EQ(siod_cluster_decode_msg(msg, len, &m, why, sizeof why), 0);
    CHECK_EQ(m.type, SIOD_MSG_BROADCAST);
    CHECK(strcmp(m.uid, "0123456789abcdef") == 0 &&
          strcmp(m.nsp, "/chat") == 0 && m.request_id == NULL);
    CHECK(strcmp(m.b.packet, "51-/chat,[\"ev\",{\"_placeholder\":true,"
                             "\"num\":0},{\"n\":-3,\"f\":1.5}]") == 0);
    CHECK(m.b.nbins == 1 && m.b.bins[0].len == 2 && m.b.bins[0].data[1] == 2);
    CHECK(m.b.nrooms == 1 && strcmp(m.b.rooms[0], "r1") == 0);
    CHECK(m.b.nexcept == 1 && m.b.flags == SIOD_CLUSTER_VOLATILE);

    /* back as msgpack (it has binary), read the same */
    CHECK_EQ(siod_cluster_encode_shard_bcast("me", "rq", m.b.packet,
                                             m.b.packet_len, m.b.bins,
                                             m.b.nbins, m.b.rooms, m.b.nrooms,
                                             m.b.except, m.b.nexcept,
                                             m.b.flags, &out, &outlen), 0);
    CHECK(out[0] != '{');
    CHECK_EQ(siod_cluster_decode_msg(out, outlen, &back, why, sizeof why), 0);
    CHECK(strcmp(back.uid, "me") == 0 && strcmp(back.request_id, "rq") == 0);
    CHECK(strcmp(back.b.packet, m.b.packet) == 0 && back.b.nbins == 1);
    siod_cluster_msg_clear(&back);
    free(out);
    siod_cluster_msg_clear(&m);
    for (size_t n = 0; n < len; n++)
        CHECK_EQ(siod_cluster_decode_msg(msg, n, &m, why, sizeof why), -EPROTO);

    /* without binary: JSON, as JSON.stringify writes it */
    static const char pkt[] = "2/chat,[\"ev\",1]";
    char room[] = "a\"b", *rooms[] = { room };
    CHECK_EQ(siod_cluster_encode_shard_bcast("me", NULL, pkt, strlen(pkt),
                                             NULL, 0, rooms, 1, NULL, 0,
                                             SIOD_CLUSTER_NO_COMPRESS, &out,
                                             &outlen), 0);
    CHECK(outlen == strlen((char *)out) &&
          strcmp((char *)out, "{\"uid\":\"me\",\"nsp\":\"/chat\",\"type\":3,"
                 "\"data\":{\"packet\":{\"type\":2,\"data\":[\"ev\",1],"
                 "\"nsp\":\"/chat\"},\"opts\":{\"rooms\":[\"a\\\"b\"],"
                 "\"except\":[],\"flags\":{\"compress\":false}}}}") == 0);
    free(out);
    /* a packet with an ack id goes only as a request (with acks) */
    CHECK_EQ(siod_cluster_encode_shard_bcast("me", NULL, "21[\"e\"]", 6, NULL,
                                             0, NULL, 0, NULL, 0, 0, &out,
                                             &outlen), -EINVAL);

    CHECK_EQ(siod_cluster_encode_shard_response("me", "/", 11, "r1",
                                                "clientCount", "3", 1, NULL,
                                                0, &out, &outlen), 0);
    CHECK(strcmp((char *)out, "{\"uid\":\"me\",\"nsp\":\"/\",\"type\":11,"
                 "\"data\":{\"requestId\":\"r1\",\"clientCount\":3}}") == 0);
    CHECK_EQ(siod_cluster_decode_msg(out, outlen, &m, why, sizeof why), 0);
    CHECK(m.type == 11 && m.client_count == 3 &&
          strcmp(m.request_id, "r1") == 0);
    siod_cluster_msg_clear(&m);
    free(out);

    /* other types: what they carry; not a message: refused */
    static const char join[] = "{\"uid\":\"u\",\"nsp\":\"/\",\"type\":4,"
        "\"data\":{\"opts\":{\"rooms\":[\"r\"],\"except\":[7]},"
        "\"rooms\":[\"g\",\"h\"]}}";
    CHECK_EQ(siod_cluster_decode_msg((const unsigned char *)join,
                                     strlen(join), &m, why, sizeof why), 0);
    CHECK(m.type == 4 && m.nnames == 2 && strcmp(m.names[1], "h") == 0);
    CHECK(m.b.nrooms == 1 && m.b.nexcept == 1 &&
          strcmp(m.b.except[0], "7") == 0);
    siod_cluster_msg_clear(&m);
    /* a server-side emit: its [event, ...args] kept as JSON */
    static const char sse[] = "{\"uid\":\"u\",\"nsp\":\"/\",\"type\":9,"
        "\"data\":{\"packet\":[\"ping\",{\"k\":1}],\"requestId\":\"q\"}}";
    CHECK_EQ(siod_cluster_decode_msg((const unsigned char *)sse, strlen(sse),
                                     &m, why, sizeof why), 0);
    CHECK(m.type == 9 && strcmp(m.arg, "[\"ping\",{\"k\":1}]") == 0 &&
          strcmp(m.request_id, "q") == 0);
    siod_cluster_msg_clear(&m);

    /* this server's requests */
    char r1[] = "r1", *rv[] = { r1 };
    CHECK_EQ(siod_cluster_encode_shard_request("me", "/", 4, NULL, rv, 1,
                                               NULL, 0, "green", 0, NULL, 0,
                                               &out, &outlen), 0);
    CHECK(strcmp((char *)out, "{\"uid\":\"me\",\"nsp\":\"/\",\"type\":4,"
                 "\"data\":{\"opts\":{\"rooms\":[\"r1\"],\"except\":[],"
                 "\"flags\":{}},\"rooms\":[\"green\"]}}") == 0);
    free(out);
    CHECK_EQ(siod_cluster_encode_shard_request("me", "/", 9, "q", NULL, 0,
                                               NULL, 0, NULL, 0, "[\"e\"]", 5,
                                               &out, &outlen), 0);
    CHECK(strcmp((char *)out, "{\"uid\":\"me\",\"nsp\":\"/\",\"type\":9,"
                 "\"data\":{\"packet\":[\"e\"],\"requestId\":\"q\"}}") == 0);
    free(out);

    static const char *const bad[] = {
        "{\"nsp\":\"/\",\"type\":9,\"data\":{\"packet\":{}}}",
        "{\"uid\":\"u\",\"type\":3}", "{\"nsp\":\"/\",\"type\":3}",
        "{\"nsp\":\"/\",\"type\":3,\"data\":{\"packet\":{\"type\":3,"
        "\"data\":[\"x\"]}}}", "[1]", "{\"nsp\":\"/\",\"type\":-1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(siod_cluster_decode_msg((const unsigned char *)bad[i],
                                         strlen(bad[i]), &m, why,
                                         sizeof why), -EPROTO);
}

int main(void)
{
    RUN(test_url);
    RUN(test_decode_node);
    RUN(test_decode_request_node);
    RUN(test_encode_refuses);
    RUN(test_request);
    RUN(test_sharded);
    DONE("test_siod_cluster");
}
