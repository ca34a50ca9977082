/* Unit tests for shared/sio_relay.c: frame header round trips, truncation
 * at every length, size limits, unknown types, HELLO (v2 with its nonce, v1
 * still decoded for its version), AUTH proofs, secret files, key/value
 * lists, WS_FANOUT and PEERS bodies, and a header parsed before its body is in. */
#include <string.h>

#include "check.h"
#include "sio_relay.h"

static const int all_types[] = {
    SIO_R_HELLO, SIO_R_AUTH, SIO_R_OPEN, SIO_R_UPGRADE, SIO_R_POLL_GET, SIO_R_POLL_POST,
    SIO_R_CANCEL, SIO_R_WS_MSG, SIO_R_WS_CLOSED, SIO_R_ABORT, SIO_R_API, SIO_R_WS_RESUME, SIO_R_RESPONSE,
    SIO_R_WS_ACCEPT, SIO_R_WS_SEND, SIO_R_WS_CLOSE, SIO_R_WS_FANOUT, SIO_R_PEERS
};
#define NTYPES (sizeof(all_types) / sizeof(all_types[0]))

static void test_header_layout(void)
{
    sio_relay_frame f;
    unsigned char h[SIO_RELAY_HDR_LEN];
    static const unsigned char want[SIO_RELAY_HDR_LEN] = {
        0x01, 0x02, 0x03, 0x04, 20, 0x04, 0x01, 0xf4,
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
        'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j',
        'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 't'
    };

    memset(&f, 0, sizeof(f));
    f.len = 0x01020304u;
    f.type = SIO_R_RESPONSE;
    f.flags = SIO_RF_JSON;
    f.status = 500;
    f.conn = 0x1122334455667788ull;
    memcpy(f.sid, "abcdefghijklmnopqrst", SIO_SID_LEN);
    sio_relay_write_header(h, &f);
    CHECK(memcmp(h, want, sizeof(want)) == 0);
}

static void test_roundtrip_all_types(void)
{
    unsigned char buf[SIO_RELAY_HDR_LEN + 5];
    sio_relay_frame f, g;
    size_t used, i;

    for (i = 0; i < NTYPES; i++) {
        memset(&f, 0, sizeof(f));
        f.type = (uint8_t)all_types[i];
        f.flags = SIO_RF_BINARY;
        f.status = 1006;
        f.conn = ~0ull - i;
        memset(f.sid, 'A' + (int)i, SIO_SID_LEN);
        f.len = 5;
        sio_relay_write_header(buf, &f);
        memcpy(buf + SIO_RELAY_HDR_LEN, "hello", 5);
        used = 0;
        CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 1024, &used, &g), SIO_OK);
        CHECK_EQ(used, sizeof(buf));
        CHECK_EQ(g.type, f.type);
        CHECK_EQ(g.flags, f.flags);
        CHECK_EQ(g.status, 1006);
        CHECK(g.conn == f.conn);
        CHECK(memcmp(g.sid, f.sid, SIO_SID_LEN) == 0);
        CHECK_EQ(g.len, 5);
        CHECK(g.body == buf + SIO_RELAY_HDR_LEN);
        CHECK(memcmp(g.body, "hello", 5) == 0);
        CHECK(strcmp(sio_relay_type_name(all_types[i]), "?") != 0);
    }
}

static void test_truncated(void)
{
    unsigned char buf[SIO_RELAY_HDR_LEN + 10];
    sio_relay_frame f, g;
    size_t used, n;

    memset(&f, 0, sizeof(f));
    f.type = SIO_R_WS_MSG;
    f.len = 10;
    sio_relay_write_header(buf, &f);
    memset(buf + SIO_RELAY_HDR_LEN, 'x', 10);
    for (n = 0; n < sizeof(buf); n++) {
        used = 12345;
        CHECK_EQ(sio_relay_parse(buf, n, 1024, &used, &g), SIO_AGAIN);
        CHECK_EQ(used, 12345);
    }
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 1024, &used, &g), SIO_OK);
    CHECK_EQ(used, sizeof(buf));
    CHECK_EQ(sio_relay_parse(NULL, 0, 1024, &used, &g), SIO_AGAIN);
}

static void test_two_frames_in_one_buffer(void)
{
    unsigned char buf[2 * SIO_RELAY_HDR_LEN + 3];
    sio_relay_frame f, g;
    size_t used;

    memset(&f, 0, sizeof(f));
    f.type = SIO_R_CANCEL;
    f.conn = 7;
    sio_relay_write_header(buf, &f);
    f.type = SIO_R_WS_SEND;
    f.len = 3;
    f.conn = 8;
    sio_relay_write_header(buf + SIO_RELAY_HDR_LEN, &f);
    memcpy(buf + 2 * SIO_RELAY_HDR_LEN, "abc", 3);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 100, &used, &g), SIO_OK);
    CHECK_EQ(used, SIO_RELAY_HDR_LEN);
    CHECK_EQ(g.type, SIO_R_CANCEL);
    CHECK_EQ(g.len, 0);
    CHECK_EQ(g.conn, 7);
    CHECK_EQ(sio_relay_parse(buf + used, sizeof(buf) - used, 100, &used, &g),
             SIO_OK);
    CHECK_EQ(g.type, SIO_R_WS_SEND);
    CHECK_EQ(g.conn, 8);
    CHECK(memcmp(g.body, "abc", 3) == 0);
}

static void test_unknown_types(void)
{
    unsigned char buf[SIO_RELAY_HDR_LEN];
    sio_relay_frame f, g;
    size_t used;
    int t, known;
    unsigned i;

    for (t = 0; t < 256; t++) {
        memset(&f, 0, sizeof(f));
        f.type = (uint8_t)t;
        sio_relay_write_header(buf, &f);
        known = 0;
        for (i = 0; i < NTYPES; i++)
            known |= all_types[i] == t;
        CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 0, &used, &g),
                 known ? SIO_OK : SIO_EPROTO);
        if (!known)
            CHECK(strcmp(sio_relay_type_name(t), "?") == 0);
    }
    CHECK(strcmp(sio_relay_type_name(-1), "?") == 0);
    CHECK(strcmp(sio_relay_type_name(SIO_R_TYPE_MAX_), "?") == 0);
    CHECK(strcmp(sio_relay_type_name(SIO_R_OPEN), "OPEN") == 0);
}

static void test_size_limits(void)
{
    unsigned char buf[SIO_RELAY_HDR_LEN];
    sio_relay_frame f, g;
    size_t used;

    memset(&f, 0, sizeof(f));
    f.type = SIO_R_POLL_POST;
    f.len = 100;
    sio_relay_write_header(buf, &f);
    /* refused from the header alone: the body is never needed */
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 99, &used, &g), SIO_ETOOBIG);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 100, &used, &g), SIO_AGAIN);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 0, &used, &g), SIO_ETOOBIG);

    f.len = SIO_RELAY_MAX_BODY;
    sio_relay_write_header(buf, &f);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), SIO_RELAY_MAX_BODY, &used, &g),
             SIO_AGAIN);
    f.len = SIO_RELAY_MAX_BODY + 1;
    sio_relay_write_header(buf, &f);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), (size_t)-1, &used, &g),
             SIO_ETOOBIG);
    f.len = 0xffffffffu;
    sio_relay_write_header(buf, &f);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), (size_t)-1, &used, &g),
             SIO_ETOOBIG);
    /* a bad type wins over the size: both are fatal anyway */
    buf[4] = 0;
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), (size_t)-1, &used, &g),
             SIO_EPROTO);
}

/* The header alone: everything but the body, from the first 36 bytes,
 * with the same refusals as a whole frame. */
static void test_header_only(void)
{
    unsigned char buf[SIO_RELAY_HDR_LEN];
    sio_relay_frame f, g;
    size_t n;

    memset(&f, 0, sizeof(f));
    f.type = SIO_R_WS_SEND;
    f.flags = SIO_RF_VOLATILE | SIO_RF_BINARY;
    f.status = 1001;
    f.conn = 0x0102030405060708ull;
    memcpy(f.sid, "abcdefghijklmnopqrst", SIO_SID_LEN);
    f.len = 5000;
    sio_relay_write_header(buf, &f);
    for (n = 0; n < sizeof(buf); n++)
        CHECK_EQ(sio_relay_parse_header(buf, n, 10000, &g), SIO_AGAIN);
    memset(&g, 0xff, sizeof(g));
    CHECK_EQ(sio_relay_parse_header(buf, sizeof(buf), 10000, &g), SIO_OK);
    CHECK_EQ(g.type, SIO_R_WS_SEND);
    CHECK_EQ(g.flags, SIO_RF_VOLATILE | SIO_RF_BINARY);
    CHECK_EQ(g.status, 1001);
    CHECK(g.conn == 0x0102030405060708ull);
    CHECK(memcmp(g.sid, "abcdefghijklmnopqrst", SIO_SID_LEN) == 0);
    CHECK_EQ(g.len, 5000);
    CHECK(g.body == NULL);
    CHECK_EQ(sio_relay_parse_header(buf, sizeof(buf), 4999, &g), SIO_ETOOBIG);
    CHECK_EQ(sio_relay_parse_header(buf, sizeof(buf), (size_t)-1, &g),
             SIO_OK);
    buf[4] = 0;
    CHECK_EQ(sio_relay_parse_header(buf, sizeof(buf), 10000, &g), SIO_EPROTO);
    CHECK_EQ(sio_relay_parse_header(NULL, 0, 10000, &g), SIO_AGAIN);
}

static void test_hello(void)
{
    unsigned char b[SIO_RELAY_HELLO_LEN + 1];
    sio_relay_hello h = { SIO_RELAY_MAGIC, SIO_RELAY_VERSION, 4242,
                          SIO_RELAY_MAX_BODY, 0, { 0 }, { 0 } }, o;
    static const unsigned char want[SIO_RELAY_HELLO_V1_LEN] = {
        'S', 'I', 'O', 'R', 0, 2, 0, 0, 0, 0, 0x10, 0x92, 0x04, 0, 0, 0
    };
    size_t n;

    CHECK_EQ(SIO_RELAY_HELLO_LEN, 48);
    for (n = 0; n < SIO_RELAY_NONCE_LEN; n++)
        h.nonce[n] = (unsigned char)(0xa0 + n);
    sio_relay_hello_encode(b, &h);
    CHECK(memcmp(b, want, sizeof(want)) == 0);
    CHECK(memcmp(b + SIO_RELAY_HELLO_V1_LEN, h.nonce, SIO_RELAY_NONCE_LEN)
          == 0);
    memset(&o, 0, sizeof(o));
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_OK);
    CHECK_EQ(o.magic, SIO_RELAY_MAGIC);
    CHECK_EQ(o.version, SIO_RELAY_VERSION);
    CHECK_EQ(o.pid, 4242);
    CHECK_EQ(o.max_body, SIO_RELAY_MAX_BODY);
    CHECK(memcmp(o.nonce, h.nonce, SIO_RELAY_NONCE_LEN) == 0);
    for (n = 0; n < SIO_RELAY_HELLO_LEN; n++)
        CHECK_EQ(sio_relay_hello_decode(b, n, &o), SIO_EPROTO);
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN + 1, &o),
             SIO_EPROTO);
    CHECK_EQ(sio_relay_hello_decode(NULL, SIO_RELAY_HELLO_LEN, &o), SIO_EPROTO);
    /* a later version decodes; checking it is the caller's job */
    b[5] = 9;
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_OK);
    CHECK_EQ(o.version, 9);
    /* a version 1 body is 16 bytes: it decodes, nonce zero, so the peer
     * can be told which version it met; a length not matching the version
     * is malformed */
    b[5] = 1;
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_V1_LEN, &o), SIO_OK);
    CHECK_EQ(o.version, 1);
    CHECK_EQ(o.nonce[0], 0);
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_EPROTO);
    b[5] = 2;
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_V1_LEN, &o),
             SIO_EPROTO);
    b[0] = 'X';
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_EPROTO);
}

/* siod's HELLO with its node tag: 52 bytes, the tag NUL-padded; a field
 * that is not a valid tag is malformed; without a tag, 48 bytes. */
static void test_hello_node(void)
{
    unsigned char b[SIO_RELAY_HELLO_NODE_LEN];
    sio_relay_hello h, o;

    memset(&h, 0, sizeof(h));
    h.magic = SIO_RELAY_MAGIC;
    h.version = SIO_RELAY_VERSION;
    CHECK_EQ(sio_relay_hello_encode(b, &h), SIO_RELAY_HELLO_LEN);
    memcpy(h.node, "n1", 2);
    CHECK_EQ(sio_relay_hello_encode(b, &h), SIO_RELAY_HELLO_NODE_LEN);
    CHECK_EQ(SIO_RELAY_HELLO_NODE_LEN, 52);
    CHECK(memcmp(b + 48, "n1\0\0", 4) == 0);
    memset(&o, 0x55, sizeof(o));
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_NODE_LEN, &o), SIO_OK);
    CHECK(memcmp(o.node, "n1\0\0", 4) == 0);
    /* the 48-byte prefix decodes with no node */
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_OK);
    CHECK_EQ(o.node[0], 0);
    b[49] = '/';
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_NODE_LEN, &o),
             SIO_EPROTO);
    b[49] = '1';
    b[51] = 'x';                /* not NUL-padded */
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_NODE_LEN, &o),
             SIO_EPROTO);
    memset(b + 48, 0, 4);       /* no tag at all in a 52-byte body */
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_NODE_LEN, &o),
             SIO_EPROTO);
    b[5] = 1;                   /* a version 1 body is never 52 bytes */
    memcpy(b + 48, "n1", 2);
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_NODE_LEN, &o),
             SIO_EPROTO);
    CHECK(sio_node_tag_valid("a_", 2));
    CHECK(sio_node_tag_valid("Z-", 2));
    CHECK(!sio_node_tag_valid("a", 1));
    CHECK(!sio_node_tag_valid("abc", 3));
    CHECK(!sio_node_tag_valid("a+", 2));
    CHECK(!sio_node_tag_valid("a/", 2));
    CHECK(!sio_node_tag_valid(NULL, 2));
}

/* Proofs: fixed vector (so both sides of any build agree), each role,
 * nonce and key byte matters, and the comparison. */
static void test_proof(void)
{
    unsigned char key[40], nm[SIO_RELAY_NONCE_LEN], ns[SIO_RELAY_NONCE_LEN];
    unsigned char pm[SIO_RELAY_PROOF_LEN], ps[SIO_RELAY_PROOF_LEN];
    unsigned char x[SIO_RELAY_PROOF_LEN];
    /* HMAC-SHA-256(key = "k" x 40, "SIOR relay v2 proof: module\0" |
     * 32 x 0x01 | 32 x 0x02), computed independently with Python's hmac */
    static const unsigned char want_module[SIO_RELAY_PROOF_LEN] = {
        0xce, 0x24, 0x78, 0x0f, 0x60, 0x96, 0xde, 0x2a, 0x8a, 0x7b, 0x86,
        0x15, 0x5e, 0xc7, 0xc1, 0xfd, 0xbc, 0x13, 0x96, 0x54, 0x2a, 0x6f,
        0x30, 0xa8, 0xeb, 0x9c, 0x70, 0x3b, 0x93, 0x8c, 0xa4, 0xc3
    };
    size_t i;

    memset(key, 'k', sizeof(key));
    memset(nm, 1, sizeof(nm));
    memset(ns, 2, sizeof(ns));
    sio_relay_proof(key, sizeof(key), SIO_RELAY_ROLE_MODULE, nm, ns, pm);
    CHECK(memcmp(pm, want_module, sizeof(pm)) == 0);
    sio_relay_proof(key, sizeof(key), SIO_RELAY_ROLE_SIOD, nm, ns, ps);
    CHECK(memcmp(pm, ps, sizeof(pm)) != 0);
    CHECK(sio_relay_proof_ok(pm, pm));
    CHECK(!sio_relay_proof_ok(pm, ps));
    /* swapping the nonces gives another proof (no reflection) */
    sio_relay_proof(key, sizeof(key), SIO_RELAY_ROLE_MODULE, ns, nm, x);
    CHECK(!sio_relay_proof_ok(x, pm));
    for (i = 0; i < sizeof(key); i += 13) {
        key[i] ^= 1;
        sio_relay_proof(key, sizeof(key), SIO_RELAY_ROLE_MODULE, nm, ns, x);
        CHECK(!sio_relay_proof_ok(x, pm));
        key[i] ^= 1;
    }
    nm[31] ^= 0x80;
    sio_relay_proof(key, sizeof(key), SIO_RELAY_ROLE_MODULE, nm, ns, x);
    CHECK(!sio_relay_proof_ok(x, pm));
    for (i = 0; i < SIO_RELAY_PROOF_LEN; i++) {
        memcpy(x, pm, sizeof(x));
        x[i] ^= 0x10;
        CHECK(!sio_relay_proof_ok(x, pm));
    }
}

static void test_secret_file(void)
{
    unsigned char buf[SIO_RELAY_SECRET_MAX + 8];
    unsigned char raw[SIO_RELAY_SECRET_RAW_LEN];
    char gen[SIO_RELAY_SECRET_GEN_LEN + 1];
    size_t len = 0, i;

    for (i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 37 + 5);
    sio_relay_secret_format(raw, gen);
    CHECK(memcmp(gen, "052a4f7499bee3082d52779cc1e60b30", 32) == 0);
    CHECK_EQ(gen[SIO_RELAY_SECRET_GEN_LEN], '\n');
    CHECK_EQ(sio_relay_secret_parse((unsigned char *)gen, sizeof(gen), &len),
             SIO_OK);
    CHECK_EQ(len, SIO_RELAY_SECRET_GEN_LEN);
    /* trailing whitespace is not key; leading and inner bytes are */
    memset(buf, 'a', sizeof(buf));
    memcpy(buf + 32, " \t\r\n\n", 5);
    CHECK_EQ(sio_relay_secret_parse(buf, 37, &len), SIO_OK);
    CHECK_EQ(len, 32);
    buf[0] = ' ';
    CHECK_EQ(sio_relay_secret_parse(buf, 37, &len), SIO_OK);
    CHECK_EQ(len, 32);
    CHECK_EQ(sio_relay_secret_parse(buf, 31, &len), SIO_EPROTO);
    memcpy(buf + 31, "\n\n", 2);
    CHECK_EQ(sio_relay_secret_parse(buf, 33, &len), SIO_EPROTO);
    CHECK_EQ(sio_relay_secret_parse(buf, 0, &len), SIO_EPROTO);
    memset(buf, 'b', sizeof(buf));
    CHECK_EQ(sio_relay_secret_parse(buf, SIO_RELAY_SECRET_MAX, &len), SIO_OK);
    CHECK_EQ(sio_relay_secret_parse(buf, SIO_RELAY_SECRET_MAX + 1, &len),
             SIO_EPROTO);
}

/* The caps field (bytes 6-7): zero encodes as before, it round-trips, and
 * bits nobody defines yet are passed on, not refused. */
static void test_hello_caps(void)
{
    unsigned char b[SIO_RELAY_HELLO_LEN];
    sio_relay_hello h = { SIO_RELAY_MAGIC, SIO_RELAY_VERSION, 1, 4096, 0,
                          { 0 }, { 0 } }, o;

    sio_relay_hello_encode(b, &h);
    CHECK_EQ(b[6], 0);
    CHECK_EQ(b[7], 0);
    h.caps = SIO_RELAY_CAP_FANOUT;
    sio_relay_hello_encode(b, &h);
    CHECK_EQ(b[6], 0);
    CHECK_EQ(b[7], 1);
    memset(&o, 0, sizeof(o));
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_OK);
    CHECK_EQ(o.caps, SIO_RELAY_CAP_FANOUT);
    CHECK_EQ(o.max_body, 4096);
    b[6] = 0x80;
    b[7] = 0x03;
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_OK);
    CHECK_EQ(o.caps, 0x8003);
    CHECK(o.caps & SIO_RELAY_CAP_FANOUT);
    CHECK(o.caps & SIO_RELAY_CAP_RELEASE);
    /* siod's HELLO: the release bit alone, at bit 1 of byte 7 */
    h.caps = SIO_RELAY_CAP_RELEASE;
    sio_relay_hello_encode(b, &h);
    CHECK_EQ(b[6], 0);
    CHECK_EQ(b[7], 2);
    CHECK_EQ(sio_relay_hello_decode(b, SIO_RELAY_HELLO_LEN, &o), SIO_OK);
    CHECK_EQ(o.caps, SIO_RELAY_CAP_RELEASE);
    CHECK(!(o.caps & SIO_RELAY_CAP_FANOUT));
}

/* A held GET's release: CANCEL with SIO_RF_KEEP (0x10, header byte 5),
 * bodiless, naming conn and sid; the flag survives the round trip and is
 * told apart from a plain CANCEL. */
static void test_cancel_keep(void)
{
    unsigned char buf[SIO_RELAY_HDR_LEN];
    sio_relay_frame f, g;
    size_t used;

    memset(&f, 0, sizeof(f));
    f.type = SIO_R_CANCEL;
    f.flags = SIO_RF_KEEP;
    f.conn = 0x0102030405060708ull;
    memcpy(f.sid, "abcdefghijklmnopqrst", SIO_SID_LEN);
    sio_relay_write_header(buf, &f);
    CHECK_EQ(buf[4], SIO_R_CANCEL);
    CHECK_EQ(buf[5], 0x10);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 0, &used, &g), SIO_OK);
    CHECK_EQ(used, SIO_RELAY_HDR_LEN);
    CHECK_EQ(g.type, SIO_R_CANCEL);
    CHECK_EQ(g.flags, SIO_RF_KEEP);
    CHECK_EQ(g.len, 0);
    CHECK_EQ(g.conn, 0x0102030405060708ull);
    CHECK(memcmp(g.sid, "abcdefghijklmnopqrst", SIO_SID_LEN) == 0);
    f.flags = 0;
    sio_relay_write_header(buf, &f);
    CHECK_EQ(sio_relay_parse(buf, sizeof(buf), 0, &used, &g), SIO_OK);
    CHECK(!(g.flags & SIO_RF_KEEP));
}

static void test_fanout(void)
{
    static const uint64_t conns[2] = { 0x0102030405060708ull, 7 };
    static const unsigned char want[20] = {
        0, 0, 0, 2,
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0, 0, 0, 0, 0, 0, 0, 7
    };
    unsigned char body[20 + 3], wire[SIO_RELAY_HDR_LEN + 23];
    sio_relay_frame f, g;
    sio_relay_fanout fo;
    size_t used;

    CHECK_EQ(sio_relay_fanout_prefix_len(2), 20);
    memset(&f, 0xff, sizeof(f));
    CHECK_EQ(sio_relay_fanout_encode(&f, body, conns, 2, 3,
                                     SIO_RF_BINARY | SIO_RF_VOLATILE |
                                     SIO_RF_JSON), 20);
    CHECK(memcmp(body, want, sizeof(want)) == 0);
    CHECK_EQ(f.type, SIO_R_WS_FANOUT);
    CHECK_EQ(f.flags, SIO_RF_BINARY | SIO_RF_VOLATILE);
    CHECK_EQ(f.len, 23);
    CHECK_EQ(f.conn, 0);
    CHECK_EQ(f.status, 0);
    CHECK(memcmp(f.sid, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                 SIO_SID_LEN) == 0);
    CHECK_EQ(sio_relay_fanout_encode(&f, body, conns, 1, 0, 0), 12);
    CHECK_EQ(f.flags, 0);
    CHECK_EQ(f.len, 12);
    /* nothing to name, or a body over a u32 length */
    CHECK_EQ(sio_relay_fanout_encode(&f, body, conns, 0, 3, 0), 0);
    CHECK_EQ(sio_relay_fanout_encode(&f, body, conns, 1, UINT32_MAX - 11, 0),
             0);

    /* the header and body as sent parse and decode back */
    sio_relay_fanout_encode(&f, body, conns, 2, 3, SIO_RF_BINARY);
    memcpy(body + 20, "abc", 3);
    sio_relay_write_header(wire, &f);
    memcpy(wire + SIO_RELAY_HDR_LEN, body, sizeof(body));
    CHECK_EQ(sio_relay_parse(wire, sizeof(wire), 64, &used, &g), SIO_OK);
    CHECK_EQ(used, sizeof(wire));
    CHECK_EQ(g.type, SIO_R_WS_FANOUT);
    CHECK_EQ(g.flags, SIO_RF_BINARY);
    CHECK_EQ(sio_relay_fanout_decode(g.body, g.len, &fo), SIO_OK);
    CHECK(fo.msg == wire + SIO_RELAY_HDR_LEN + 20);
    CHECK_EQ(sio_relay_fanout_decode(body, sizeof(body), &fo), SIO_OK);
    CHECK_EQ(fo.count, 2);
    CHECK_EQ(sio_relay_fanout_conn(&fo, 0), conns[0]);
    CHECK_EQ(sio_relay_fanout_conn(&fo, 1), conns[1]);
    CHECK(fo.msg == body + 20);
    CHECK_EQ(fo.msg_len, 3);
    /* an empty message, a count the body cannot hold, a short body */
    CHECK_EQ(sio_relay_fanout_decode(body, 20, &fo), SIO_OK);
    CHECK_EQ(fo.msg_len, 0);
    CHECK_EQ(sio_relay_fanout_decode(body, 19, &fo), SIO_EPROTO);
    CHECK_EQ(sio_relay_fanout_decode(body, 3, &fo), SIO_EPROTO);
    body[0] = 0xff;
    CHECK_EQ(sio_relay_fanout_decode(body, sizeof(body), &fo), SIO_EPROTO);
    memcpy(body, "\0\0\0\0", 4);
    CHECK_EQ(sio_relay_fanout_decode(body, 4, &fo), SIO_OK);
    CHECK_EQ(fo.count, 0);
    CHECK_EQ(fo.msg_len, 0);
}

static size_t put_str(unsigned char *d, const char *k, const char *v)
{
    return sio_relay_kv_put(d, k, strlen(k), v, strlen(v));
}

static void test_kv(void)
{
    unsigned char buf[256];
    size_t len = 0, off = 0, n;
    sio_relay_kv kv;
    int count = 0;

    CHECK_EQ(sio_relay_kv_size(6, 3), 15);
    n = put_str(buf, "method", "GET");
    CHECK_EQ(n, 15);
    CHECK(memcmp(buf, "\x00\x06\x00\x00\x00\x03methodGET", 15) == 0);
    len += n;
    len += put_str(buf + len, "user", "");
    len += put_str(buf + len, "", "empty-key");
    len += put_str(buf + len, "h:origin", "https://example.com");
    CHECK_EQ(len, 15 + sio_relay_kv_size(4, 0) + sio_relay_kv_size(0, 9) +
                  sio_relay_kv_size(8, 19));

    while (sio_relay_kv_next(buf, len, &off, &kv) == SIO_OK)
        count++;
    CHECK_EQ(count, 4);
    CHECK_EQ(off, len);
    CHECK_EQ(sio_relay_kv_next(buf, len, &off, &kv), SIO_DONE);

    CHECK_EQ(sio_relay_kv_find(buf, len, "user", &kv), SIO_OK);
    CHECK_EQ(kv.key_len, 4);
    CHECK_EQ(kv.val_len, 0);
    CHECK_EQ(sio_relay_kv_find(buf, len, "h:origin", &kv), SIO_OK);
    CHECK(kv.val_len == 19 && memcmp(kv.val, "https://example.com", 19) == 0);
    CHECK_EQ(sio_relay_kv_find(buf, len, "", &kv), SIO_OK);
    CHECK(kv.val_len == 9 && memcmp(kv.val, "empty-key", 9) == 0);
    CHECK_EQ(sio_relay_kv_find(buf, len, "meth", &kv), SIO_DONE);
    CHECK_EQ(sio_relay_kv_find(buf, len, "methodX", &kv), SIO_DONE);
    CHECK_EQ(sio_relay_kv_find(buf, 0, "method", &kv), SIO_DONE);
    CHECK_EQ(sio_relay_kv_find(NULL, 0, "method", &kv), SIO_DONE);

    /* every truncation of the list is malformed, except on a pair boundary */
    for (n = 1; n < len; n++) {
        int rc;

        off = 0;
        while ((rc = sio_relay_kv_next(buf, n, &off, &kv)) == SIO_OK)
            CHECK(off <= n);
        CHECK(rc == SIO_DONE || rc == SIO_EPROTO);
        CHECK_EQ(rc, (n == 15 || n == 25 || n == 40) ? SIO_DONE : SIO_EPROTO);
        /* the first key is still found when its pair is whole */
        CHECK_EQ(sio_relay_kv_find(buf, n, "method", &kv),
                 n >= 15 ? SIO_OK : SIO_EPROTO);
    }
    off = len + 1;
    CHECK_EQ(sio_relay_kv_next(buf, len, &off, &kv), SIO_EPROTO);
}

static void test_kv_huge_lengths(void)
{
    unsigned char buf[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a' };
    sio_relay_kv kv;
    size_t off = 0;

    CHECK_EQ(sio_relay_kv_next(buf, sizeof(buf), &off, &kv), SIO_EPROTO);
    CHECK_EQ(off, 0);
    CHECK_EQ(sio_relay_kv_size(100000, 0), 6 + 65535);
    CHECK_EQ(sio_relay_kv_size(SIZE_MAX / 2, 0), 6 + 65535);
}

static void test_strerror(void)
{
    CHECK(strcmp(sio_strerror(SIO_OK), "ok") == 0);
    CHECK(sio_strerror(SIO_EPROTO) != NULL);
    CHECK(strcmp(sio_strerror(-99), "unknown error") == 0);
    CHECK(strcmp(sio_strerror(SIO_AGAIN), sio_strerror(SIO_EPROTO)) != 0);
}

static void test_peer_url(void)
{
    static const char *const good[] = {
        "http://10.0.0.1:8080", "https://a.example", "HTTP://n-1_x:1",
        "http://[::1]:65535", "https://[fe80::1]"
    };
    static const char *const bad[] = {
        "", "http://", "ftp://a", "http://a/", "http://a/x", "http://a:",
        "http://a:0", "http://a:65536", "http://a:123456", "http://u@a",
        "http://a?b", "http://[::1", "http://[]", "http:// a", "https://a:8a"
    };
    char longurl[SIO_RELAY_PEER_URL_MAX + 2];
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(sio_relay_peer_url_valid(good[i], strlen(good[i])));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(!sio_relay_peer_url_valid(bad[i], strlen(bad[i])));
    memcpy(longurl, "http://", 7);
    memset(longurl + 7, 'a', sizeof(longurl) - 7);
    CHECK(sio_relay_peer_url_valid(longurl, SIO_RELAY_PEER_URL_MAX));
    CHECK(!sio_relay_peer_url_valid(longurl, SIO_RELAY_PEER_URL_MAX + 1));
}

static void test_peers(void)
{
    unsigned char buf[256];
    size_t n, off = 0, cut;
    uint32_t ttl;
    uint16_t count;
    sio_relay_peer p;

    n = sio_relay_peers_head(buf, 15000, 2);
    CHECK_EQ(n, SIO_RELAY_PEERS_HEAD_LEN);
    n += sio_relay_peer_put(buf + n, "n1", "http://10.0.0.1:8080", 20);
    n += sio_relay_peer_put(buf + n, "n2", "https://b", 9);
    CHECK_EQ(n, SIO_RELAY_PEERS_HEAD_LEN + SIO_RELAY_PEER_LEN(20) +
                    SIO_RELAY_PEER_LEN(9));
    CHECK_EQ(sio_relay_peers_decode(buf, n, &ttl, &count), SIO_OK);
    CHECK_EQ(ttl, 15000u);
    CHECK_EQ(count, 2);
    CHECK_EQ(sio_relay_peer_next(buf, n, &off, &p), SIO_OK);
    CHECK(strcmp(p.node, "n1") == 0);
    CHECK(p.url_len == 20 && memcmp(p.url, "http://10.0.0.1:8080", 20) == 0);
    CHECK_EQ(sio_relay_peer_next(buf, n, &off, &p), SIO_OK);
    CHECK(strcmp(p.node, "n2") == 0 && p.url_len == 9);
    CHECK_EQ(sio_relay_peer_next(buf, n, &off, &p), SIO_DONE);
    /* every truncation, an extra byte, a count that disagrees */
    for (cut = 0; cut < n; cut++)
        CHECK_EQ(sio_relay_peers_decode(buf, cut, &ttl, &count), SIO_EPROTO);
    buf[n] = 0;
    CHECK_EQ(sio_relay_peers_decode(buf, n + 1, &ttl, &count), SIO_EPROTO);
    sio_relay_peers_head(buf, 15000, 3);
    CHECK_EQ(sio_relay_peers_decode(buf, n, &ttl, &count), SIO_EPROTO);
    sio_relay_peers_head(buf, 15000, 2);
    /* a bad tag or URL inside */
    buf[SIO_RELAY_PEERS_HEAD_LEN] = '!';
    CHECK_EQ(sio_relay_peers_decode(buf, n, &ttl, &count), SIO_EPROTO);
    buf[SIO_RELAY_PEERS_HEAD_LEN] = 'n';
    buf[SIO_RELAY_PEERS_HEAD_LEN + SIO_RELAY_NODE_LEN + 1] = 'f';
    CHECK_EQ(sio_relay_peers_decode(buf, n, &ttl, &count), SIO_EPROTO);
    /* the encoder refuses what the decoder would */
    CHECK_EQ(sio_relay_peer_put(buf, "n!", "http://a", 8), 0);
    CHECK_EQ(sio_relay_peer_put(buf, "n1", "http://a/", 9), 0);
    /* an empty table */
    n = sio_relay_peers_head(buf, 1, 0);
    CHECK_EQ(sio_relay_peers_decode(buf, n, &ttl, &count), SIO_OK);
    CHECK_EQ(count, 0);
    CHECK(strcmp(sio_relay_type_name(SIO_R_PEERS), "PEERS") == 0);
    CHECK(strcmp(sio_relay_type_name(SIO_R_WS_RESUME), "WS_RESUME") == 0);
}

int main(void)
{
    RUN(test_header_layout);
    RUN(test_roundtrip_all_types);
    RUN(test_truncated);
    RUN(test_two_frames_in_one_buffer);
    RUN(test_unknown_types);
    RUN(test_size_limits);
    RUN(test_header_only);
    RUN(test_hello);
    RUN(test_hello_node);
    RUN(test_hello_caps);
    RUN(test_cancel_keep);
    RUN(test_fanout);
    RUN(test_peer_url);
    RUN(test_peers);
    RUN(test_proof);
    RUN(test_secret_file);
    RUN(test_kv);
    RUN(test_kv_huge_lengths);
    RUN(test_strerror);
    DONE("test_sio_relay");
}
