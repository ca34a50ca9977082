/* Unit tests for shared/sio_eio3.c: Engine.IO v3 payloads in the text
 * form (UTF-16 lengths, "b4" base64) and the XHR2 binary form, the v3
 * binary WebSocket message, encoding and round trips, and bad input. */
#include <string.h>

#include "check.h"
#include "sio_eio3.h"

/* Decodes a copy of s[0..len) into pk (up to max); returns the final
 * code and the count in *n. */
static int iterate(const void *s, size_t len, sio_eio_packet *pk, int max,
                   int *n, unsigned char *buf)
{
    sio_eio3_payload_iter it;
    int rc;

    memcpy(buf, s, len);
    sio_eio3_payload_init(&it, buf, len);
    *n = 0;
    while ((rc = sio_eio3_payload_next(&it, &pk[*n])) == SIO_OK) {
        CHECK(pk[*n].data >= buf && pk[*n].data + pk[*n].len <= buf + len);
        if (++*n == max)
            break;
    }
    return rc;
}

static void test_text_form(void)
{
    unsigned char buf[256];
    sio_eio_packet pk[8];
    int n;
    /* what engine.io-client 3 sends: two messages and a ping */
    const char *s = "6:4hello2:4a1:2";

    CHECK_EQ(iterate(s, strlen(s), pk, 8, &n, buf), SIO_DONE);
    CHECK_EQ(n, 3);
    CHECK(pk[0].type == SIO_EIO_MESSAGE && pk[0].len == 5 &&
          memcmp(pk[0].data, "hello", 5) == 0);
    CHECK(pk[1].type == SIO_EIO_MESSAGE && pk[1].len == 1);
    CHECK(pk[2].type == SIO_EIO_PING && pk[2].len == 0);
    /* "é" is one UTF-16 unit (two bytes), "😀" two units (four bytes) */
    s = "3:4\xc3\xa9" "x3:4\xf0\x9f\x98\x80";
    CHECK_EQ(iterate(s, strlen(s), pk, 8, &n, buf), SIO_DONE);
    CHECK_EQ(n, 2);
    CHECK(pk[0].len == 3 && pk[1].len == 4);
    /* binary as "b4" + base64 */
    s = "6:b4AQID";
    CHECK_EQ(iterate(s, strlen(s), pk, 8, &n, buf), SIO_DONE);
    CHECK(n == 1 && pk[0].binary && pk[0].len == 3 &&
          memcmp(pk[0].data, "\x01\x02\x03", 3) == 0);
    /* an empty payload "0:" holds no packet */
    CHECK_EQ(iterate("0:", 2, pk, 8, &n, buf), SIO_DONE);
    CHECK_EQ(n, 0);
}

static void test_text_errors(void)
{
    unsigned char buf[64];
    sio_eio_packet pk[8];
    int n;
    static const char *const bad[] = {
        "",            /* empty body */
        "4",           /* no colon */
        ":4",          /* no digits */
        "x:4",         /* not a digit */
        "3:4a",        /* length past the end */
        "2:4a1",       /* trailing garbage: no colon */
        "1:9",         /* unknown type */
        "5:b4AQ=",     /* bad base64 */
        "4:b1AQ",      /* base64 of a type that is not a message */
        "2:4\xf0\x9f\x98\x80", /* length ends inside a surrogate pair */
        "2:4\xff",     /* invalid UTF-8 */
        "12345678901:4", /* too many digits */
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_EQ(iterate(bad[i], strlen(bad[i]), pk, 8, &n, buf),
                 SIO_EPROTO);
    }
    /* sticky */
    sio_eio3_payload_iter it;
    memcpy(buf, "x", 1);
    sio_eio3_payload_init(&it, buf, 1);
    CHECK_EQ(sio_eio3_payload_next(&it, pk), SIO_EPROTO);
    CHECK_EQ(sio_eio3_payload_next(&it, pk), SIO_EPROTO);
}

static void test_binary_form(void)
{
    unsigned char buf[64];
    sio_eio_packet pk[8];
    int n;
    /* a text "4hi" (3 bytes) and a binary message of 2 bytes */
    static const unsigned char b[] = { 0, 3, 0xff, '4', 'h', 'i',
                                       1, 3, 0xff, 4, 0xaa, 0xbb };

    CHECK_EQ(iterate(b, sizeof b, pk, 8, &n, buf), SIO_DONE);
    CHECK_EQ(n, 2);
    CHECK(pk[0].type == SIO_EIO_MESSAGE && !pk[0].binary && pk[0].len == 2);
    CHECK(pk[1].binary && pk[1].len == 2 && pk[1].data[0] == 0xaa);
    /* length past the end, digit over 9, no 0xff, a binary non-message */
    static const unsigned char e1[] = { 0, 9, 0xff, '4' };
    static const unsigned char e2[] = { 0, 10, 0xff, '4' };
    static const unsigned char e3[] = { 1, 1 };
    static const unsigned char e4[] = { 1, 1, 0xff, 2 };
    static const unsigned char e5[] = { 0, 0, 0xff };
    CHECK_EQ(iterate(e1, sizeof e1, pk, 8, &n, buf), SIO_EPROTO);
    CHECK_EQ(iterate(e2, sizeof e2, pk, 8, &n, buf), SIO_EPROTO);
    CHECK_EQ(iterate(e3, sizeof e3, pk, 8, &n, buf), SIO_EPROTO);
    CHECK_EQ(iterate(e4, sizeof e4, pk, 8, &n, buf), SIO_EPROTO);
    CHECK_EQ(iterate(e5, sizeof e5, pk, 8, &n, buf), SIO_EPROTO);
}

static void test_encode(void)
{
    unsigned char out[128];
    sio_eio_packet p = { SIO_EIO_OPEN, 0, (const unsigned char *)"{}", 2 };
    size_t n;

    n = sio_eio3_encode(out, &p, SIO_EIO3_TEXT);
    CHECK_EQ(n, sio_eio3_encoded_len(&p, SIO_EIO3_TEXT));
    CHECK(n == 5 && memcmp(out, "3:0{}", 5) == 0);
    /* the length counts UTF-16 units, not bytes */
    p = (sio_eio_packet){ SIO_EIO_MESSAGE, 0,
                          (const unsigned char *)"\xf0\x9f\x98\x80", 4 };
    n = sio_eio3_encode(out, &p, SIO_EIO3_TEXT);
    CHECK(n == 7 && memcmp(out, "3:4\xf0\x9f\x98\x80", 7) == 0);
    /* ... and bytes in the binary form */
    n = sio_eio3_encode(out, &p, SIO_EIO3_BINARY);
    CHECK_EQ(n, sio_eio3_encoded_len(&p, SIO_EIO3_BINARY));
    CHECK(n == 8 && out[0] == 0 && out[1] == 5 && out[2] == 0xff &&
          out[3] == '4');
    p = (sio_eio_packet){ SIO_EIO_MESSAGE, 1,
                          (const unsigned char *)"\x01\x02\x03", 3 };
    n = sio_eio3_encode(out, &p, SIO_EIO3_TEXT);
    CHECK(n == 8 && memcmp(out, "6:b4AQID", 8) == 0);
    n = sio_eio3_encode(out, &p, SIO_EIO3_BINARY);
    CHECK(n == 7 && out[0] == 1 && out[1] == 4 && out[2] == 0xff &&
          out[3] == 4 && out[4] == 1);
    /* a long record: two-digit length */
    unsigned char big[40];
    memset(big, 'a', sizeof big);
    p = (sio_eio_packet){ SIO_EIO_MESSAGE, 0, big, sizeof big };
    n = sio_eio3_encode(out, &p, SIO_EIO3_BINARY);
    CHECK(out[1] == 4 && out[2] == 1 && out[3] == 0xff && n == 45);
    CHECK_EQ(sio_eio3_utf16_len((const unsigned char *)"a\xc3\xa9", 3), 2);
}

static void test_roundtrip(void)
{
    unsigned char enc[512], buf[512];
    sio_eio_packet in[4] = {
        { SIO_EIO_MESSAGE, 0, (const unsigned char *)"2[\"x\",\"\xc3\xa9\"]",
          12 },
        { SIO_EIO_MESSAGE, 1, (const unsigned char *)"\x00\xff", 2 },
        { SIO_EIO_PONG, 0, NULL, 0 },
        { SIO_EIO_NOOP, 0, NULL, 0 },
    };
    sio_eio_packet out[8];

    for (int form = 0; form < 2; form++) {
        size_t off = 0;
        int n;
        for (int i = 0; i < 4; i++)
            off += sio_eio3_encode(enc + off, &in[i], form);
        CHECK_EQ(iterate(enc, off, out, 8, &n, buf), SIO_DONE);
        CHECK_EQ(n, 4);
        for (int i = 0; i < 4; i++) {
            CHECK(out[i].type == in[i].type && out[i].binary == in[i].binary
                  && out[i].len == in[i].len);
            CHECK(in[i].len == 0 ||
                  memcmp(out[i].data, in[i].data, in[i].len) == 0);
        }
    }
}

static void test_ws(void)
{
    sio_eio_packet p;

    CHECK_EQ(sio_eio3_decode_ws((const unsigned char *)"\x04\x01\x02", 3, 1,
                                &p), SIO_OK);
    CHECK(p.binary && p.type == SIO_EIO_MESSAGE && p.len == 2 &&
          p.data[0] == 1);
    CHECK_EQ(sio_eio3_decode_ws((const unsigned char *)"\x04", 1, 1, &p),
             SIO_OK);
    CHECK_EQ(p.len, 0);
    CHECK_EQ(sio_eio3_decode_ws((const unsigned char *)"\x02", 1, 1, &p),
             SIO_EPROTO);
    CHECK_EQ(sio_eio3_decode_ws(NULL, 0, 1, &p), SIO_EPROTO);
    CHECK_EQ(sio_eio3_decode_ws((const unsigned char *)"2", 1, 0, &p),
             SIO_OK);
    CHECK_EQ(p.type, SIO_EIO_PING);
}

int main(void)
{
    RUN(test_text_form);
    RUN(test_text_errors);
    RUN(test_binary_form);
    RUN(test_encode);
    RUN(test_roundtrip);
    RUN(test_ws);
    DONE("test_sio_eio3");
}
