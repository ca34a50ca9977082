/* Unit tests for shared/sio_eio.c: WebSocket packets, polling payloads
 * (separators, base64 binaries, empty records, bad input) and encoding
 * round trips. */
#include <string.h>

#include "check.h"
#include "sio_eio.h"

static void test_decode_ws(void)
{
    sio_eio_packet p;
    const unsigned char *m = (const unsigned char *)"4hello";
    int c;

    CHECK_EQ(sio_eio_decode_ws(m, 6, 0, &p), SIO_OK);
    CHECK_EQ(p.type, SIO_EIO_MESSAGE);
    CHECK_EQ(p.binary, 0);
    CHECK(p.data == m + 1 && p.len == 5);
    CHECK_EQ(sio_eio_decode_ws((const unsigned char *)"2probe", 6, 0, &p),
             SIO_OK);
    CHECK_EQ(p.type, SIO_EIO_PING);
    CHECK(p.len == 5 && memcmp(p.data, "probe", 5) == 0);
    CHECK_EQ(sio_eio_decode_ws((const unsigned char *)"5", 1, 0, &p), SIO_OK);
    CHECK_EQ(p.type, SIO_EIO_UPGRADE);
    CHECK_EQ(p.len, 0);
    CHECK_EQ(sio_eio_decode_ws(m, 0, 0, &p), SIO_EPROTO);
    CHECK_EQ(sio_eio_decode_ws(NULL, 0, 0, &p), SIO_EPROTO);
    for (c = 0; c < 256; c++) {
        unsigned char b = (unsigned char)c;

        CHECK_EQ(sio_eio_decode_ws(&b, 1, 0, &p),
                 c >= '0' && c <= '6' ? SIO_OK : SIO_EPROTO);
        if (c >= '0' && c <= '6')
            CHECK_EQ(p.type, c - '0');
    }
    /* 'b' + base64 is the polling form only */
    CHECK_EQ(sio_eio_decode_ws((const unsigned char *)"bAQID", 5, 0, &p),
             SIO_EPROTO);
    /* binary: the bytes as they are, even empty */
    CHECK_EQ(sio_eio_decode_ws((const unsigned char *)"\x01\x02", 2, 1, &p),
             SIO_OK);
    CHECK(p.type == SIO_EIO_MESSAGE && p.binary == 1 && p.len == 2);
    CHECK_EQ(sio_eio_decode_ws(NULL, 0, 1, &p), SIO_OK);
    CHECK(p.binary == 1 && p.len == 0);
}

/* Runs the iterator over a copy of s; fills types/lens, returns the final
 * code (SIO_DONE or SIO_EPROTO) and the packet count in *n. */
static int iterate(const char *s, size_t len, sio_eio_packet *pk, int max,
                   int *n, unsigned char *buf)
{
    sio_eio_payload_iter it;
    int rc;

    memcpy(buf, s, len);
    sio_eio_payload_init(&it, buf, len);
    *n = 0;
    while ((rc = sio_eio_payload_next(&it, &pk[*n])) == SIO_OK) {
        CHECK(pk[*n].data >= buf && pk[*n].data + pk[*n].len <= buf + len);
        if (++*n == max)
            break;
    }
    return rc;
}

#define ITER(lit, pk, n, buf) iterate(lit, sizeof(lit) - 1, pk, 16, &(n), buf)

static void test_payload_spec_examples(void)
{
    sio_eio_packet pk[16];
    unsigned char buf[128];
    int n;

    CHECK_EQ(ITER("4hello\x1e" "2\x1e" "4world", pk, n, buf), SIO_DONE);
    CHECK_EQ(n, 3);
    CHECK(pk[0].type == 4 && pk[0].len == 5 && !memcmp(pk[0].data, "hello", 5));
    CHECK(pk[1].type == 2 && pk[1].len == 0);
    CHECK(pk[2].type == 4 && pk[2].len == 5 && !memcmp(pk[2].data, "world", 5));

    CHECK_EQ(ITER("4hello\x1e" "bAQIDBA==", pk, n, buf), SIO_DONE);
    CHECK_EQ(n, 2);
    CHECK(pk[1].type == SIO_EIO_MESSAGE && pk[1].binary == 1);
    CHECK(pk[1].len == 4 && !memcmp(pk[1].data, "\x01\x02\x03\x04", 4));
    /* decoding in place left the first packet intact */
    CHECK(!memcmp(pk[0].data, "hello", 5));

    CHECK_EQ(ITER("b", pk, n, buf), SIO_DONE);   /* empty binary */
    CHECK(n == 1 && pk[0].binary && pk[0].len == 0);
    CHECK_EQ(ITER("1", pk, n, buf), SIO_DONE);
    CHECK(n == 1 && pk[0].type == SIO_EIO_CLOSE);
    CHECK_EQ(ITER("4\xe2\x82\xac", pk, n, buf), SIO_DONE);
    CHECK(n == 1 && pk[0].len == 3);
}

static void test_payload_errors(void)
{
    sio_eio_packet pk[16];
    unsigned char buf[128];
    sio_eio_payload_iter it;
    int n;

    CHECK_EQ(ITER("", pk, n, buf), SIO_EPROTO);          /* empty body */
    CHECK_EQ(n, 0);
    CHECK_EQ(ITER("\x1e", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(ITER("4a\x1e", pk, n, buf), SIO_EPROTO);    /* trailing sep */
    CHECK_EQ(n, 1);
    CHECK_EQ(ITER("\x1e" "4a", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(n, 0);
    CHECK_EQ(ITER("4a\x1e\x1e" "4b", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(n, 1);
    CHECK_EQ(ITER("7", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(ITER("4a\x1e" "x", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(n, 1);
    CHECK_EQ(ITER("bAQID", pk, n, buf), SIO_DONE);      /* valid: 3 bytes */
    CHECK_EQ(pk[0].len, 3);
    CHECK_EQ(ITER("bAQ", pk, n, buf), SIO_EPROTO);       /* bad length */
    CHECK_EQ(ITER("bAQ=D", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(ITER("bAQ!=", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(ITER("b====", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(ITER("4\xff", pk, n, buf), SIO_EPROTO);     /* bad UTF-8 */
    CHECK_EQ(ITER("4\xc3", pk, n, buf), SIO_EPROTO);     /* truncated */
    CHECK_EQ(ITER("4\xed\xa0\x80", pk, n, buf), SIO_EPROTO);
    CHECK_EQ(ITER("4\xc3\x1e\xa9", pk, n, buf), SIO_EPROTO); /* split char */

    /* errors and the end are sticky */
    memcpy(buf, "9", 1);
    sio_eio_payload_init(&it, buf, 1);
    CHECK_EQ(sio_eio_payload_next(&it, &pk[0]), SIO_EPROTO);
    CHECK_EQ(sio_eio_payload_next(&it, &pk[0]), SIO_EPROTO);
    memcpy(buf, "3", 1);
    sio_eio_payload_init(&it, buf, 1);
    CHECK_EQ(sio_eio_payload_next(&it, &pk[0]), SIO_OK);
    CHECK_EQ(sio_eio_payload_next(&it, &pk[0]), SIO_DONE);
    CHECK_EQ(sio_eio_payload_next(&it, &pk[0]), SIO_DONE);
    sio_eio_payload_init(&it, NULL, 0);
    CHECK_EQ(sio_eio_payload_next(&it, &pk[0]), SIO_EPROTO);
}

static void test_payload_truncated_everywhere(void)
{
    static const char full[] = "4hello\x1e" "bAQIDBA==\x1e" "2probe";
    sio_eio_packet pk[16];
    unsigned char buf[64];
    size_t len;
    int n, rc;

    /* no prefix may crash, and each ends in DONE or EPROTO */
    for (len = 0; len <= sizeof(full) - 1; len++) {
        rc = iterate(full, len, pk, 16, &n, buf);
        CHECK(rc == SIO_DONE || rc == SIO_EPROTO);
        CHECK(n <= 3);
    }
    rc = iterate(full, sizeof(full) - 1, pk, 16, &n, buf);
    CHECK(rc == SIO_DONE && n == 3);
}

static void test_many_packets(void)
{
    unsigned char buf[3000];
    sio_eio_payload_iter it;
    sio_eio_packet p;
    size_t i, len = 0;
    int n = 0;

    for (i = 0; i < 1000; i++) {
        if (i)
            buf[len++] = SIO_EIO_SEPARATOR;
        buf[len++] = '4';
        buf[len++] = (unsigned char)('a' + i % 26);
    }
    sio_eio_payload_init(&it, buf, len);
    while (sio_eio_payload_next(&it, &p) == SIO_OK) {
        CHECK(p.len == 1 && p.data[0] == 'a' + n % 26);
        n++;
    }
    CHECK_EQ(n, 1000);
}

static void test_encode(void)
{
    unsigned char out[64], bin[4] = { 1, 2, 3, 4 };
    sio_eio_packet p = { SIO_EIO_MESSAGE, 0,
                         (const unsigned char *)"hello", 5 }, q;
    sio_eio_payload_iter it;
    size_t n;

    CHECK_EQ(sio_eio_encoded_len(&p, 0), 6);
    CHECK_EQ(sio_eio_encoded_len(&p, 1), 6);
    n = sio_eio_encode(out, &p, 1);
    CHECK(n == 6 && memcmp(out, "4hello", 6) == 0);
    n = sio_eio_encode(out, &p, 0);
    CHECK(n == 6 && memcmp(out, "4hello", 6) == 0);

    p.type = SIO_EIO_PONG;
    p.len = 0;
    p.data = NULL;
    n = sio_eio_encode(out, &p, 0);
    CHECK(n == 1 && out[0] == '3');

    p.type = SIO_EIO_MESSAGE;
    p.binary = 1;
    p.data = bin;
    p.len = 4;
    CHECK_EQ(sio_eio_encoded_len(&p, 1), 9);
    n = sio_eio_encode(out, &p, 1);
    CHECK(n == 9 && memcmp(out, "bAQIDBA==", 9) == 0);
    sio_eio_payload_init(&it, out, n);
    CHECK_EQ(sio_eio_payload_next(&it, &q), SIO_OK);
    CHECK(q.binary && q.len == 4 && memcmp(q.data, bin, 4) == 0);
    CHECK_EQ(sio_eio_encoded_len(&p, 0), 4);
    n = sio_eio_encode(out, &p, 0);
    CHECK(n == 4 && memcmp(out, bin, 4) == 0);

    p.len = 0;
    CHECK_EQ(sio_eio_encoded_len(&p, 1), 1);
    CHECK_EQ(sio_eio_encode(out, &p, 1), 1);
    CHECK_EQ(out[0], 'b');
    CHECK_EQ(sio_eio_encode(out, &p, 0), 0);
}

static void test_encode_decode_roundtrip(void)
{
    unsigned char data[40], out[200];
    sio_eio_packet p, q;
    sio_eio_payload_iter it;
    size_t len, i;
    int t, bin;

    for (i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 53 + 7);
    for (len = 0; len <= sizeof(data); len++)
        for (bin = 0; bin <= 1; bin++) {
            p.type = SIO_EIO_MESSAGE;
            p.binary = bin;
            p.data = bin ? data : (const unsigned char *)
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
            p.len = len;
            i = sio_eio_encode(out, &p, 1);
            CHECK_EQ(i, sio_eio_encoded_len(&p, 1));
            sio_eio_payload_init(&it, out, i);
            CHECK_EQ(sio_eio_payload_next(&it, &q), SIO_OK);
            CHECK(q.binary == bin && q.len == len &&
                  (len == 0 || memcmp(q.data, p.data, len) == 0));
            CHECK_EQ(sio_eio_payload_next(&it, &q), SIO_DONE);
        }
    for (t = 0; t <= 6; t++) {
        p.type = t;
        p.binary = 0;
        p.data = (const unsigned char *)"x";
        p.len = 1;
        i = sio_eio_encode(out, &p, 0);
        CHECK_EQ(sio_eio_decode_ws(out, i, 0, &q), SIO_OK);
        CHECK(q.type == t && q.len == 1);
    }
}

int main(void)
{
    RUN(test_decode_ws);
    RUN(test_payload_spec_examples);
    RUN(test_payload_errors);
    RUN(test_payload_truncated_everywhere);
    RUN(test_many_packets);
    RUN(test_encode);
    RUN(test_encode_decode_roundtrip);
    DONE("test_sio_eio");
}
