/* Unit tests for shared/sio_packet.c: parsing and validation as
 * socket.io-parser does it (the protocol spec's examples and the public
 * test suite's packets, without Engine.IO's leading '4'), encoding, and
 * binary placeholders. */
#include "check.h"
#include "sio_packet.h"

#include <limits.h>
#include <string.h>

#define PARSE(lit, pk) sio_packet_parse((lit), sizeof(lit) - 1, NULL, (pk))

static int eq(const char *p, size_t n, const char *text)
{
    return n == strlen(text) && memcmp(p, text, n) == 0;
}

/* Parses lit with default options, expecting SIO_OK. */
static struct sio_packet ok(const char *lit)
{
    struct sio_packet pk;
    int rc = sio_packet_parse(lit, strlen(lit), NULL, &pk);

    if (rc != SIO_OK)
        fprintf(stderr, "parse \"%s\": %d (%s)\n", lit, rc, pk.why);
    CHECK_EQ(rc, SIO_OK);
    CHECK(pk.why == NULL);
    return pk;
}

/* Parses lit with default options, expecting error rc and a reason. */
static void bad(const char *lit, int rc)
{
    struct sio_packet pk;
    int got = sio_packet_parse(lit, strlen(lit), NULL, &pk);

    if (got != rc)
        fprintf(stderr, "parse \"%s\": %d, wanted %d\n", lit, got, rc);
    CHECK_EQ(got, rc);
    CHECK(pk.why != NULL && pk.why[0]);
}

static void test_connect_disconnect(void)
{
    struct sio_packet pk;

    pk = ok("0");
    CHECK_EQ(pk.type, SIO_PACKET_CONNECT);
    CHECK(eq(pk.nsp, pk.nsp_len, "/"));
    CHECK_EQ(pk.has_id, 0);
    CHECK_EQ(pk.attachments, 0);
    CHECK(pk.data.ptr == NULL && pk.data.type == SIO_JSON_NONE);

    pk = ok("0{\"token\":\"123\"}");
    CHECK_EQ(pk.data.type, SIO_JSON_OBJECT);
    CHECK(eq(pk.data.ptr, pk.data.len, "{\"token\":\"123\"}"));

    pk = ok("0/admin,");
    CHECK(eq(pk.nsp, pk.nsp_len, "/admin"));
    CHECK(pk.data.ptr == NULL);

    /* No comma: the namespace runs to the end (public suite: "40/random"). */
    pk = ok("0/random");
    CHECK(eq(pk.nsp, pk.nsp_len, "/random"));
    pk = ok("0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}");
    CHECK(eq(pk.nsp, pk.nsp_len, "/admin"));
    CHECK(eq(pk.data.ptr, pk.data.len, "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}"));
    pk = ok("0/,");
    CHECK(eq(pk.nsp, pk.nsp_len, "/"));
    pk = ok("0/a/b?c=d,{}");
    CHECK(eq(pk.nsp, pk.nsp_len, "/a/b?c=d"));
    pk = ok("0/\xc3\xa9,");
    CHECK(eq(pk.nsp, pk.nsp_len, "/\xc3\xa9"));
    pk = ok("0 {\"a\":1} \n");              /* JSON.parse allows whitespace */
    CHECK(eq(pk.data.ptr, pk.data.len, "{\"a\":1}"));

    pk = ok("1");
    CHECK_EQ(pk.type, SIO_PACKET_DISCONNECT);
    pk = ok("1/admin,");
    CHECK(eq(pk.nsp, pk.nsp_len, "/admin"));
    pk = ok("1/custom");
    CHECK(eq(pk.nsp, pk.nsp_len, "/custom"));

    bad("0[]", SIO_EPROTO);
    bad("0null", SIO_EPROTO);
    bad("0\"s\"", SIO_EPROTO);
    bad("01.5", SIO_EPROTO);
    bad("0/admin,[]", SIO_EPROTO);
    bad("0{", SIO_EPROTO);
    bad("1{}", SIO_EPROTO);
    bad("1[]", SIO_EPROTO);
    bad("1\"x\"", SIO_EPROTO);
    bad("1 ", SIO_EPROTO);
}

static void test_event(void)
{
    struct sio_packet pk;

    pk = ok("2[\"hello\",1]");
    CHECK_EQ(pk.type, SIO_PACKET_EVENT);
    CHECK(eq(pk.nsp, pk.nsp_len, "/"));
    CHECK_EQ(pk.has_id, 0);
    CHECK_EQ(pk.data.type, SIO_JSON_ARRAY);
    CHECK(eq(pk.data.ptr, pk.data.len, "[\"hello\",1]"));
    CHECK_EQ(pk.event.type, SIO_JSON_STRING);
    CHECK(sio_json_string_eq(&pk.event, "hello", 5));

    pk = ok("2/admin,[\"bar\"]");
    CHECK(eq(pk.nsp, pk.nsp_len, "/admin"));
    CHECK(sio_json_string_eq(&pk.event, "bar", 3));

    pk = ok("21[\"foo\"]");
    CHECK_EQ(pk.has_id, 1);
    CHECK_EQ(pk.id, 1);
    pk = ok("212[\"foo\"]");
    CHECK_EQ(pk.id, 12);
    pk = ok("2/admin,13[\"foo\"]");
    CHECK(eq(pk.nsp, pk.nsp_len, "/admin"));
    CHECK_EQ(pk.id, 13);
    pk = ok("20[\"foo\"]");
    CHECK_EQ(pk.has_id, 1);
    CHECK_EQ(pk.id, 0);
    pk = ok("2007[\"foo\"]");               /* Number("007") is 7 */
    CHECK_EQ(pk.id, 7);
    pk = ok("2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]");
    CHECK_EQ(pk.id, 456);
    CHECK(sio_json_string_eq(&pk.event, "message-with-ack", 16));
    pk = ok("29007199254740991[\"a\"]");
    CHECK(pk.id == SIO_PACKET_MAX_ID);

    pk = ok("2[\"message\",1,\"2\",{\"3\":[true]}]");
    pk = ok("2[1,2]");                      /* a number is a valid name */
    CHECK_EQ(pk.event.type, SIO_JSON_NUMBER);
    CHECK(eq(pk.event.ptr, pk.event.len, "1"));
    pk = ok("2[-1.5e3]");
    CHECK_EQ(pk.event.type, SIO_JSON_NUMBER);
    pk = ok("2[\"\"]");
    pk = ok("2[ \"x\" ]");
    CHECK(eq(pk.event.ptr, pk.event.len, "\"x\""));
    pk = ok("2[\"connected\"]");
    pk = ok("2[\"Connect\"]");
    pk = ok("2[\"a\"]\r\n");
    pk = ok("2 [\"a\"]");                   /* whitespace is JSON's, no id */
    CHECK_EQ(pk.has_id, 0);
    pk = ok("2[\"\\ud83d\"]");               /* JSON.parse accepts lone ones */

    /* The public suite's invalid packets. */
    bad("abc", SIO_EPROTO);
    bad("2{}", SIO_EPROTO);
    bad("2abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]", SIO_EPROTO);

    bad("2", SIO_EPROTO);
    bad("2/admin,", SIO_EPROTO);
    bad("21", SIO_EPROTO);
    bad("2[]", SIO_EPROTO);
    bad("2[{}]", SIO_EPROTO);
    bad("2[null]", SIO_EPROTO);
    bad("2[true]", SIO_EPROTO);
    bad("2[[\"a\"]]", SIO_EPROTO);
    bad("2\"a\"", SIO_EPROTO);
    bad("2,[\"a\"]", SIO_EPROTO);
    bad("2[\"a\"]x", SIO_EPROTO);
    bad("2[\"a\"][", SIO_EPROTO);
    bad("2[\"a\",]", SIO_EPROTO);
    bad("2[\"a\"", SIO_EPROTO);
    bad("2/a,b,[\"x\"]", SIO_EPROTO);
    /* Missing comma: the data becomes part of the namespace. */
    bad("2/admin[\"x\"]", SIO_EPROTO);
    bad("2/admin13[\"x\"]", SIO_EPROTO);
    /* Ack ids past Number.MAX_SAFE_INTEGER. */
    bad("29007199254740992[\"a\"]", SIO_EPROTO);
    bad("2123456789012345678901234567890[\"a\"]", SIO_EPROTO);
    bad("2-1[\"a\"]", SIO_EPROTO);
    bad("2+1[\"a\"]", SIO_EPROTO);
    bad("2\xff[\"a\"]", SIO_EPROTO);
    bad("2[\"\xff\"]", SIO_EUTF8);
    bad("2/\xff,[\"a\"]", SIO_EUTF8);
    bad("2/\xc3,[\"a\"]", SIO_EUTF8);
}

static void test_reserved(void)
{
    static const char *const names[] = {
        "connect", "connect_error", "disconnect", "disconnecting",
        "newListener", "removeListener",
    };
    char buf[64];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(buf, sizeof(buf), "2[\"%s\",1]", names[i]);
        bad(buf, SIO_EPROTO);
        snprintf(buf, sizeof(buf), "5%s[\"%s\"]", "1-", names[i]);
        bad(buf, SIO_EPROTO);
        snprintf(buf, sizeof(buf), "3[\"%s\"]", names[i]);
        ok(buf);                            /* fine as an ACK argument */
        CHECK(sio_packet_reserved_event(names[i], strlen(names[i])));
    }
    bad("2[\"\\u0063onnect\"]", SIO_EPROTO); /* compared decoded */
    bad("2[\"disconnect\\u0069ng\"]", SIO_EPROTO);
    CHECK(!sio_packet_reserved_event("connec", 6));
    CHECK(!sio_packet_reserved_event("connects", 8));
    CHECK(!sio_packet_reserved_event("message", 7));
    CHECK(!sio_packet_reserved_event(NULL, 0));
}

/* U+0000 in an event name or a namespace is a protocol error: a C
 * application would read "disconnect\u0000" as the reserved "disconnect". */
static void test_nul_names(void)
{
    struct sio_packet pk;
    static const char nsp_nul[] = "0/a\0b,";

    bad("2[\"disconnect\\u0000\"]", SIO_EPROTO);
    bad("2[\"\\u0000\",1]", SIO_EPROTO);
    bad("2[\"echo\\u0000x\",\"a\"]", SIO_EPROTO);
    bad("51-[\"e\\u0000\",{\"_placeholder\":true,\"num\":0}]", SIO_EPROTO);
    CHECK_EQ(sio_packet_parse(nsp_nul, sizeof nsp_nul - 1, NULL, &pk),
             SIO_EPROTO);
    /* an escaped backslash before "u0000" is no NUL; NUL in arguments is
     * data, as in acks */
    pk = ok("2[\"a\\\\u0000\"]");
    CHECK_EQ(pk.event.len, 10);
    ok("2[\"echo\",\"\\u0000\"]");
    ok("3[\"\\u0000\"]");
    ok("2[\"\\u0001\\u1000\\u0100\"]");
}

static void test_ack_and_error(void)
{
    struct sio_packet pk;

    pk = ok("3[]");
    CHECK_EQ(pk.type, SIO_PACKET_ACK);
    pk = ok("312[\"bar\"]");
    CHECK_EQ(pk.id, 12);
    pk = ok("3/admin,13[\"bar\"]");
    CHECK_EQ(pk.id, 13);
    CHECK(eq(pk.nsp, pk.nsp_len, "/admin"));
    pk = ok("3456[1,\"2\",{\"3\":[false]}]");
    CHECK(pk.event.ptr == NULL);            /* only events fill it */
    bad("3", SIO_EPROTO);
    bad("31", SIO_EPROTO);
    bad("3{}", SIO_EPROTO);
    bad("3\"x\"", SIO_EPROTO);
    bad("3null", SIO_EPROTO);

    pk = ok("4{\"message\":\"Not authorized\"}");
    CHECK_EQ(pk.type, SIO_PACKET_CONNECT_ERROR);
    CHECK_EQ(pk.data.type, SIO_JSON_OBJECT);
    pk = ok("4/random,{\"message\":\"Invalid namespace\"}");
    CHECK(eq(pk.nsp, pk.nsp_len, "/random"));
    pk = ok("4\"error\"");
    CHECK_EQ(pk.data.type, SIO_JSON_STRING);
    bad("4", SIO_EPROTO);
    bad("4[]", SIO_EPROTO);
    bad("4null", SIO_EPROTO);
    bad("41", SIO_EPROTO);
    bad("4true", SIO_EPROTO);
}

static void test_binary(void)
{
    struct sio_packet pk;
    struct sio_packet_opts opts = { 100, 8, 0 };

    /* "451-[...]" on the wire; Engine.IO's '4' is not ours. */
    pk = ok("51-[\"hello\",{\"_placeholder\":true,\"num\":0}]");
    CHECK_EQ(pk.type, SIO_PACKET_BINARY_EVENT);
    CHECK_EQ(pk.attachments, 1);
    CHECK(eq(pk.nsp, pk.nsp_len, "/"));
    CHECK_EQ(pk.has_id, 0);
    CHECK(sio_json_string_eq(&pk.event, "hello", 5));

    pk = ok("52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},"
            "{\"_placeholder\":true,\"num\":1}]");
    CHECK_EQ(pk.attachments, 2);
    CHECK(eq(pk.nsp, pk.nsp_len, "/admin"));
    pk = ok("52-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},"
            "{\"_placeholder\":true,\"num\":1}]");
    CHECK_EQ(pk.attachments, 2);
    CHECK_EQ(pk.id, 789);
    pk = ok("62-789[{\"_placeholder\":true,\"num\":0},"
            "{\"_placeholder\":true,\"num\":1}]");
    CHECK_EQ(pk.type, SIO_PACKET_BINARY_ACK);
    CHECK_EQ(pk.attachments, 2);
    pk = ok("61-[]");
    CHECK_EQ(pk.attachments, 1);
    pk = ok("510-[\"a\"]");                 /* exactly the default max */
    CHECK_EQ(pk.attachments, 10);
    pk = ok("5010-[\"a\"]");
    CHECK_EQ(pk.attachments, 10);
    pk = ok("51-/admin,7[\"a\"]");
    CHECK_EQ(pk.id, 7);

    /* socket.io-parser 4.2.7 refuses a count of 0. */
    bad("50-[\"a\"]", SIO_EPROTO);
    bad("60-[]", SIO_EPROTO);
    bad("500-[\"a\"]", SIO_EPROTO);
    bad("5[\"a\"]", SIO_EPROTO);
    bad("5-[\"a\"]", SIO_EPROTO);
    bad("51[\"a\"]", SIO_EPROTO);
    bad("51", SIO_EPROTO);
    bad("51-", SIO_EPROTO);
    bad("6", SIO_EPROTO);
    bad("5a-[\"a\"]", SIO_EPROTO);
    bad("5 1-[\"a\"]", SIO_EPROTO);
    bad("51.0-[\"a\"]", SIO_EPROTO);
    bad("51-{}", SIO_EPROTO);
    bad("61-{}", SIO_EPROTO);
    bad("51-[\"connect\"]", SIO_EPROTO);
    bad("511-[\"a\"]", SIO_ETOOBIG);
    bad("599999999999999999999999999999-[\"a\"]", SIO_ETOOBIG);
    /* Counts on other types are not read: "21-" is an id then bad data. */
    bad("21-[\"a\"]", SIO_EPROTO);

    CHECK_EQ(sio_packet_parse("5100-[\"a\"]", 10, &opts, &pk), SIO_OK);
    CHECK_EQ(pk.attachments, 100);
    CHECK_EQ(sio_packet_parse("5101-[\"a\"]", 10, &opts, &pk), SIO_ETOOBIG);
    opts.max_attachments = 0;
    CHECK_EQ(sio_packet_parse("51-[\"a\"]", 8, &opts, &pk), SIO_ETOOBIG);
    CHECK_EQ(sio_packet_parse("50-[\"a\"]", 8, &opts, &pk), SIO_EPROTO);
}

static void test_type_and_args(void)
{
    struct sio_packet pk;

    bad("", SIO_EPROTO);
    bad("7", SIO_EPROTO);
    bad("9[\"a\"]", SIO_EPROTO);
    bad("a", SIO_EPROTO);
    bad("-", SIO_EPROTO);
    bad("/", SIO_EPROTO);
    bad(" 2[\"a\"]", SIO_EPROTO);
    bad("\0", SIO_EPROTO);
    CHECK_EQ(sio_packet_parse("2[\"a\"]\0", 7, NULL, &pk), SIO_EPROTO);
    CHECK_EQ(sio_packet_parse(NULL, 3, NULL, &pk), SIO_EINVAL);
    CHECK_EQ(sio_packet_parse(NULL, 0, NULL, &pk), SIO_EPROTO);
    CHECK_EQ(sio_packet_parse("0", 1, NULL, NULL), SIO_EINVAL);
    /* Only n bytes are read. */
    CHECK_EQ(sio_packet_parse("2[\"a\"]garbage", 6, NULL, &pk), SIO_OK);

    CHECK(strcmp(sio_packet_type_name(SIO_PACKET_EVENT), "EVENT") == 0);
    CHECK(strcmp(sio_packet_type_name(6), "BINARY_ACK") == 0);
    CHECK(strcmp(sio_packet_type_name(7), "UNKNOWN") == 0);
    CHECK(strcmp(sio_packet_type_name(-1), "UNKNOWN") == 0);
}

static void test_depth_and_json_flags(void)
{
    struct sio_packet pk;
    struct sio_packet_opts opts = { 10, 64, 0 };
    char buf[256];
    size_t n = 0, i;

    buf[n++] = '2';
    memcpy(buf + n, "[\"a\",", 5);
    n += 5;
    for (i = 0; i < 40; i++)
        buf[n++] = '[';
    for (i = 0; i < 40; i++)
        buf[n++] = ']';
    buf[n++] = ']';
    CHECK_EQ(sio_packet_parse(buf, n, NULL, &pk), SIO_ETOOBIG);
    CHECK(pk.why != NULL);
    CHECK(pk.data.ptr == NULL);
    CHECK_EQ(sio_packet_parse(buf, n, &opts, &pk), SIO_OK);
    opts.max_depth = 41;
    CHECK_EQ(sio_packet_parse(buf, n, &opts, &pk), SIO_OK);
    opts.max_depth = 40;
    CHECK_EQ(sio_packet_parse(buf, n, &opts, &pk), SIO_ETOOBIG);

    /* Strict JSON flags reject what JSON.parse lets through. */
    opts.max_depth = 8;
    CHECK_EQ(sio_packet_parse("2[\"\\ud83d\"]", 11, &opts, &pk), SIO_EUTF8);
    opts.json_flags = SIO_JSON_LONE_SURROGATES;
    CHECK_EQ(sio_packet_parse("2[\"\\ud83d\"]", 11, &opts, &pk), SIO_OK);
}

/* Encodes pk and checks the exact text, size function and a round trip. */
static void encode_is(const struct sio_packet *pk, const char *want)
{
    char buf[512];
    size_t len = 0, need = sio_packet_encoded_size(pk);
    struct sio_packet back;

    CHECK_EQ(need, strlen(want));
    CHECK_EQ(sio_packet_encode(pk, buf, sizeof(buf), &len), SIO_OK);
    CHECK(eq(buf, len, want));
    CHECK_EQ(sio_packet_encode(pk, buf, need - 1, &len), SIO_ENOSPC);
    CHECK_EQ(sio_packet_encode(pk, buf, need, &len), SIO_OK);
    CHECK_EQ(len, need);
    if (sio_packet_parse(want, strlen(want), NULL, &back) == SIO_OK) {
        CHECK_EQ(back.type, pk->type);
        CHECK_EQ(back.has_id, pk->has_id);
        CHECK(back.id == (pk->has_id ? pk->id : 0));
    }
}

static struct sio_packet mk(int type, const char *nsp, int has_id,
                            uint64_t id, const char *data)
{
    struct sio_packet pk;

    memset(&pk, 0, sizeof(pk));
    pk.type = (enum sio_packet_type)type;
    pk.nsp = nsp;
    pk.nsp_len = nsp ? strlen(nsp) : 0;
    pk.has_id = has_id;
    pk.id = id;
    pk.data.ptr = data;
    pk.data.len = data ? strlen(data) : 0;
    return pk;
}

static void test_encode(void)
{
    struct sio_packet pk;
    char buf[64];
    size_t len;

    pk = mk(SIO_PACKET_CONNECT, "/", 0, 0, NULL);
    encode_is(&pk, "0");
    pk = mk(SIO_PACKET_CONNECT, NULL, 0, 0, NULL);
    encode_is(&pk, "0");
    pk = mk(SIO_PACKET_CONNECT, "", 0, 0, NULL);
    encode_is(&pk, "0");
    pk = mk(SIO_PACKET_CONNECT, "/admin", 0, 0, "{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}");
    encode_is(&pk, "0/admin,{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}");
    pk = mk(SIO_PACKET_DISCONNECT, "/admin", 0, 0, NULL);
    encode_is(&pk, "1/admin,");
    pk = mk(SIO_PACKET_EVENT, "/", 0, 0, "[\"foo\"]");
    encode_is(&pk, "2[\"foo\"]");
    pk = mk(SIO_PACKET_EVENT, "/", 1, 12, "[\"foo\"]");
    encode_is(&pk, "212[\"foo\"]");
    pk = mk(SIO_PACKET_EVENT, "/admin", 1, 0, "[\"foo\"]");
    encode_is(&pk, "2/admin,0[\"foo\"]");
    pk = mk(SIO_PACKET_ACK, "/admin", 1, 13, "[\"bar\"]");
    encode_is(&pk, "3/admin,13[\"bar\"]");
    pk = mk(SIO_PACKET_ACK, "/", 1, SIO_PACKET_MAX_ID, "[]");
    encode_is(&pk, "39007199254740991[]");
    pk = mk(SIO_PACKET_CONNECT_ERROR, "/", 0, 0, "{\"message\":\"Not authorized\"}");
    encode_is(&pk, "4{\"message\":\"Not authorized\"}");
    pk = mk(SIO_PACKET_BINARY_EVENT, "/admin", 0, 0,
            "[\"baz\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
    pk.attachments = 2;
    encode_is(&pk, "52-/admin,[\"baz\",{\"_placeholder\":true,\"num\":0},"
                   "{\"_placeholder\":true,\"num\":1}]");
    pk = mk(SIO_PACKET_BINARY_ACK, "/", 1, 789,
            "[{\"_placeholder\":true,\"num\":0}]");
    pk.attachments = 1;
    encode_is(&pk, "61-789[{\"_placeholder\":true,\"num\":0}]");
    pk = mk(SIO_PACKET_BINARY_EVENT, "/", 0, 0, "[\"a\"]");
    pk.attachments = UINT_MAX;
    encode_is(&pk, "54294967295-[\"a\"]");
    /* Attachments are only written for binary types. */
    pk = mk(SIO_PACKET_EVENT, "/", 0, 0, "[\"a\"]");
    pk.attachments = 3;
    encode_is(&pk, "2[\"a\"]");

    pk = mk(SIO_PACKET_BINARY_ACK, "/", 0, 0, "[]");
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_EINVAL);
    pk = mk(7, "/", 0, 0, NULL);
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_EINVAL);
    pk = mk(-1, "/", 0, 0, NULL);
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_EINVAL);
    pk = mk(SIO_PACKET_CONNECT, "admin", 0, 0, NULL);
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_EINVAL);
    pk = mk(SIO_PACKET_CONNECT, "/a,b", 0, 0, NULL);
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_EINVAL);
    pk = mk(SIO_PACKET_EVENT, "/", 1, SIO_PACKET_MAX_ID + 1, "[\"a\"]");
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_EINVAL);
    CHECK_EQ(sio_packet_encode(NULL, buf, sizeof(buf), &len), SIO_EINVAL);
    CHECK_EQ(sio_packet_encoded_size(NULL), 0);
}

/* Every valid sample re-encodes to itself (canonical inputs only). */
static void test_round_trip(void)
{
    static const char *const samples[] = {
        "0", "0{\"token\":\"123\"}", "0/admin,", "0/admin,{\"sid\":\"x\"}",
        "1", "1/admin,", "2[\"hello\",1]", "2/admin,[\"bar\"]", "21[\"foo\"]",
        "2/admin,13[\"foo\"]", "3[]", "3/admin,13[\"bar\"]",
        "4{\"message\":\"Not authorized\"}", "4\"e\"",
        "51-[\"hello\",{\"_placeholder\":true,\"num\":0}]",
        "52-/admin,789[\"a\",{\"_placeholder\":true,\"num\":1}]",
        "61-[]", "62-/x,5[{\"_placeholder\":true,\"num\":0}]",
    };
    struct sio_packet pk;
    char buf[256];
    size_t i, len;

    for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        pk = ok(samples[i]);
        CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_OK);
        CHECK(eq(buf, len, samples[i]));
    }
    /* Non-canonical forms normalise. */
    pk = ok("0/admin");
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_OK);
    CHECK(eq(buf, len, "0/admin,"));
    pk = ok("2007 [\"a\"] ");
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_OK);
    CHECK(eq(buf, len, "27[\"a\"]"));
    pk = ok("2/,[\"a\"]");
    CHECK_EQ(sio_packet_encode(&pk, buf, sizeof(buf), &len), SIO_OK);
    CHECK(eq(buf, len, "2[\"a\"]"));
}

static void test_placeholder_writer(void)
{
    char buf[64];
    size_t len = 0;

    CHECK_EQ(sio_packet_placeholder_size(0), 29);
    CHECK_EQ(sio_packet_write_placeholder(0, buf, sizeof(buf), &len), SIO_OK);
    CHECK(eq(buf, len, "{\"_placeholder\":true,\"num\":0}"));
    CHECK_EQ(sio_packet_write_placeholder(12, buf, sizeof(buf), &len), SIO_OK);
    CHECK(eq(buf, len, "{\"_placeholder\":true,\"num\":12}"));
    CHECK_EQ(sio_packet_placeholder_size(UINT_MAX), SIO_PACKET_PLACEHOLDER_MAX);
    CHECK_EQ(sio_packet_write_placeholder(UINT_MAX, buf,
                                          SIO_PACKET_PLACEHOLDER_MAX, &len),
             SIO_OK);
    CHECK_EQ(len, SIO_PACKET_PLACEHOLDER_MAX);
    CHECK_EQ(sio_packet_write_placeholder(0, buf, 28, &len), SIO_ENOSPC);
    CHECK_EQ(sio_packet_write_placeholder(0, buf, 29, &len), SIO_OK);
}

/* Scans JSON text for placeholders, returning the SIO code. */
static int scan(const char *json, unsigned attachments,
                struct sio_placeholder *out, size_t cap, size_t *found)
{
    struct sio_json_span v;

    CHECK_EQ(sio_json_validate(json, strlen(json), 200, 0, &v), SIO_OK);
    return sio_packet_scan_placeholders(&v, attachments, out, cap, found);
}

#define PH0 "{\"_placeholder\":true,\"num\":0}"
#define PH1 "{\"_placeholder\":true,\"num\":1}"

static void test_scan(void)
{
    struct sio_placeholder ph[4];
    struct sio_json_span none = { NULL, 0, SIO_JSON_NONE };
    const char *t;
    char deep[1024];
    size_t found = 99, i;

    t = "[\"hello\"," PH0 "]";
    CHECK_EQ(scan(t, 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK_EQ(ph[0].num, 0);
    CHECK_EQ(ph[0].off, 9);
    CHECK(eq(t + ph[0].off, ph[0].len, PH0));

    t = "[\"baz\"," PH0 "," PH1 "]";
    CHECK_EQ(scan(t, 2, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 2);
    CHECK_EQ(ph[0].num, 0);
    CHECK_EQ(ph[1].num, 1);
    CHECK(eq(t + ph[1].off, ph[1].len, PH1));
    /* The count is kept even past cap. */
    CHECK_EQ(scan(t, 2, ph, 1, &found), SIO_OK);
    CHECK_EQ(found, 2);
    CHECK_EQ(scan(t, 2, NULL, 0, &found), SIO_OK);
    CHECK_EQ(found, 2);

    /* Nums must be integers below the count; reuse and gaps are fine. */
    CHECK_EQ(scan("[" PH1 "]", 1, ph, 4, &found), SIO_EPROTO);
    CHECK_EQ(scan("[" PH0 "]", 0, ph, 4, &found), SIO_EPROTO);
    CHECK_EQ(scan("[" PH0 "," PH0 "]", 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 2);
    CHECK_EQ(scan("[" PH1 "]", 3, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK_EQ(scan("[{\"_placeholder\":true,\"num\":-1}]", 2, ph, 4, &found),
             SIO_EPROTO);
    CHECK_EQ(scan("[{\"_placeholder\":true,\"num\":0.5}]", 2, ph, 4, &found),
             SIO_EPROTO);
    CHECK_EQ(scan("[{\"_placeholder\":true,\"num\":\"0\"}]", 2, ph, 4, &found),
             SIO_EPROTO);
    CHECK_EQ(scan("[{\"_placeholder\":true,\"num\":null}]", 2, ph, 4, &found),
             SIO_EPROTO);
    CHECK_EQ(scan("[{\"_placeholder\":true,\"num\":[0]}]", 2, ph, 4, &found),
             SIO_EPROTO);
    CHECK_EQ(scan("[{\"_placeholder\":true}]", 2, ph, 4, &found), SIO_EPROTO);
    CHECK_EQ(scan("[{\"_placeholder\":true,\"num\":99999999999999999999}]", 2,
                  ph, 4, &found), SIO_EPROTO);

    /* Only `true` makes a placeholder. */
    CHECK_EQ(scan("[{\"_placeholder\":false,\"num\":9}]", 1, ph, 4, &found),
             SIO_OK);
    CHECK_EQ(found, 0);
    CHECK_EQ(scan("[{\"_placeholder\":\"true\",\"num\":9}]", 1, ph, 4, &found),
             SIO_OK);
    CHECK_EQ(found, 0);
    CHECK_EQ(scan("[{\"_placeholder\":1,\"num\":9}]", 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 0);
    CHECK_EQ(scan("[{\"placeholder\":true,\"num\":9}]", 1, ph, 4, &found),
             SIO_OK);
    CHECK_EQ(found, 0);

    /* Last duplicate wins, as with JSON.parse. */
    CHECK_EQ(scan("[{\"_placeholder\":true,\"num\":5,\"num\":0}]", 1, ph, 4,
                  &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK_EQ(ph[0].num, 0);
    CHECK_EQ(scan("[{\"_placeholder\":true,\"_placeholder\":false,\"num\":9}]",
                  1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 0);
    CHECK_EQ(scan("[{\"_placeholder\":false,\"num\":0,\"_placeholder\":true}]",
                  1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);

    /* Keys are compared decoded; member order does not matter. */
    t = "[{\"num\":1,\"\\u005fplaceholder\":true}]";
    CHECK_EQ(scan(t, 2, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK_EQ(ph[0].num, 1);
    CHECK_EQ(ph[0].off, 1);
    CHECK_EQ(ph[0].len, strlen(t) - 2);

    /* Anywhere in the tree, also at the top, in any object. */
    t = "[{\"a\":{\"b\":[" PH1 "]}},\"x\"]";
    CHECK_EQ(scan(t, 2, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK(eq(t + ph[0].off, ph[0].len, PH1));
    CHECK_EQ(scan(PH0, 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK_EQ(ph[0].off, 0);
    CHECK_EQ(scan(" {\"k\" : " PH0 " } ", 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);

    /* Never inside a placeholder: the reference replaces it whole. */
    t = "[{\"num\":0,\"x\":[1,{\"_placeholder\":true,\"num\":99}],"
        "\"_placeholder\":true}]";
    CHECK_EQ(scan(t, 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK_EQ(ph[0].off, 1);
    t = "[" PH0 ",{\"_placeholder\":true,\"num\":0,\"y\":" PH1 "}," PH1 "]";
    CHECK_EQ(scan(t, 2, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 3);
    CHECK_EQ(ph[0].off, 1);
    CHECK_EQ(ph[1].num, 0);
    CHECK_EQ(ph[2].num, 1);
    CHECK(eq(t + ph[2].off, ph[2].len, PH1));
    /* A "_placeholder" whose value is an object is not true; its inside is. */
    t = "[{\"_placeholder\":" PH0 ",\"num\":7}]";
    CHECK_EQ(scan(t, 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 1);
    CHECK(eq(t + ph[0].off, ph[0].len, PH0));
    /* A bad one inside a normal object is still bad. */
    CHECK_EQ(scan("[{\"a\":{\"_placeholder\":true,\"num\":3}}]", 1, ph, 4,
                  &found), SIO_EPROTO);

    /* Text inside strings is not looked at. */
    CHECK_EQ(scan("[\"{\\\"_placeholder\\\":true,\\\"num\\\":0}\","
                  "\"{\\\"_placeholder\\\":true}\"]", 1, ph, 4, &found),
             SIO_OK);
    CHECK_EQ(found, 0);
    CHECK_EQ(scan("[\"a\",1,true,null,{\"k\":[]}]", 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 0);

    /* Empty data, bad arguments, over-deep data, malformed text. */
    CHECK_EQ(sio_packet_scan_placeholders(&none, 1, ph, 4, &found), SIO_OK);
    CHECK_EQ(found, 0);
    CHECK_EQ(sio_packet_scan_placeholders(NULL, 1, ph, 4, &found), SIO_EINVAL);
    CHECK_EQ(sio_packet_scan_placeholders(&none, 1, NULL, 4, &found),
             SIO_EINVAL);
    for (i = 0; i < 2 * (SIO_PACKET_SCAN_DEPTH + 1); i++)
        deep[i] = i <= SIO_PACKET_SCAN_DEPTH ? '[' : ']';
    none.ptr = deep;
    none.len = 2 * (SIO_PACKET_SCAN_DEPTH + 1);
    none.type = SIO_JSON_ARRAY;
    CHECK_EQ(sio_packet_scan_placeholders(&none, 1, ph, 4, &found),
             SIO_ETOOBIG);
    none.len = 2 * SIO_PACKET_SCAN_DEPTH;
    none.ptr = deep + 1;
    CHECK_EQ(sio_packet_scan_placeholders(&none, 1, ph, 4, &found), SIO_OK);
    none.ptr = "[}";
    none.len = 2;
    CHECK_EQ(sio_packet_scan_placeholders(&none, 1, ph, 4, &found),
             SIO_EPROTO);
    none.ptr = "[[]";
    none.len = 3;
    CHECK_EQ(sio_packet_scan_placeholders(&none, 1, ph, 4, &found),
             SIO_EPROTO);
    none.ptr = "[\"ab";
    none.len = 4;
    CHECK_EQ(sio_packet_scan_placeholders(&none, 1, ph, 4, &found),
             SIO_EPROTO);
}

/* The parser and the scanner together, as the daemon will use them. */
static void test_parse_then_scan(void)
{
    struct sio_placeholder ph[4];
    struct sio_packet pk;
    size_t found;

    pk = ok("52-[\"message\"," PH0 "," PH1 "]");
    CHECK_EQ(sio_packet_scan_placeholders(&pk.data, pk.attachments, ph, 4,
                                          &found), SIO_OK);
    CHECK_EQ(found, 2);
    CHECK(eq(pk.data.ptr + ph[1].off, ph[1].len, PH1));
    pk = ok("51-[\"message\"," PH1 "]");
    CHECK_EQ(sio_packet_scan_placeholders(&pk.data, pk.attachments, ph, 4,
                                          &found), SIO_EPROTO);
}

int main(void)
{
    RUN(test_connect_disconnect);
    RUN(test_event);
    RUN(test_reserved);
    RUN(test_nul_names);
    RUN(test_ack_and_error);
    RUN(test_binary);
    RUN(test_type_and_args);
    RUN(test_depth_and_json_flags);
    RUN(test_encode);
    RUN(test_round_trip);
    RUN(test_placeholder_writer);
    RUN(test_scan);
    RUN(test_parse_then_scan);
    DONE("test_sio_packet");
}
