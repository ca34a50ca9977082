/* Unit tests for siod's Redis layer without a Redis: the URL parser
 * (credentials, IPv6, port and database, rediss:// refused), the decoder
 * on a broadcast notepack.io encoded (binary, a Date, undefined, floats,
 * rooms, except, flags), the encoder back to what the decoder reads, and
 * the request codec. */
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

int main(void)
{
    RUN(test_url);
    RUN(test_decode_node);
    RUN(test_decode_request_node);
    RUN(test_encode_refuses);
    RUN(test_request);
    DONE("test_siod_cluster");
}
