/* Unit tests for shared/sio_ws.c: the RFC 6455 examples, masking rules,
 * reserved bits and opcodes, fragmentation with interleaved control
 * frames, 7/16/64-bit lengths, size limits, UTF-8 across fragments, close
 * payloads, and SIO_AGAIN at every byte boundary. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sio_ws.h"
#include "sio_ws_pmd.h"

static const unsigned char key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Builds a frame in dst: b0 is the whole first byte (FIN, RSV, opcode),
 * lenform 0 = shortest length encoding, 16 or 64 = forced. Masks the
 * payload with key when masked. Returns the frame size. */
static size_t build(unsigned char *dst, unsigned b0, int masked, int lenform,
                    const void *payload, size_t n)
{
    size_t h = 2, i;
    unsigned char mbit = masked ? 0x80 : 0;

    dst[0] = (unsigned char)b0;
    if (lenform == 0 && n < 126) {
        dst[1] = (unsigned char)(mbit | n);
    } else if (lenform != 64 && n <= 0xffff) {
        dst[1] = mbit | 126;
        dst[2] = (unsigned char)(n >> 8);
        dst[3] = (unsigned char)n;
        h = 4;
    } else {
        dst[1] = mbit | 127;
        for (i = 0; i < 8; i++)
            dst[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    if (masked) {
        memcpy(dst + h, key, 4);
        h += 4;
    }
    if (n)
        memcpy(dst + h, payload, n);
    if (masked)
        sio_ws_mask(dst + h, n, key, 0);
    return h + n;
}

/* Feeds frame[0..n) growing one byte at a time: every proper prefix must
 * give SIO_AGAIN and leave the buffer untouched; the whole returns rc. */
static int feed_bytewise(sio_ws_parser *p, unsigned char *frame, size_t n,
                         sio_ws_frame *out)
{
    unsigned char *copy = malloc(n ? n : 1);
    size_t k, used = 0;
    int rc;

    CHECK(copy != NULL);
    memcpy(copy, frame, n);
    for (k = 0; k < n; k++) {
        rc = sio_ws_parse(p, frame, k, &used, out);
        if (rc != SIO_AGAIN) {
            free(copy);
            return rc;   /* an error may show up before the end */
        }
        CHECK(memcmp(copy, frame, n) == 0);
    }
    free(copy);
    rc = sio_ws_parse(p, frame, n, &used, out);
    if (rc == SIO_OK)
        CHECK_EQ(used, n);
    return rc;
}

static void test_rfc_examples(void)
{
    /* RFC 6455 5.7 */
    unsigned char unmasked[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
    unsigned char masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
                               0x4d, 0x51, 0x58 };
    unsigned char frag[] = { 0x01, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o' };
    unsigned char ping[] = { 0x89, 0x05, 'H', 'e', 'l', 'l', 'o' };
    sio_ws_parser p;
    sio_ws_frame f;
    size_t used;

    sio_ws_parser_init(&p, 0, 1000);
    CHECK_EQ(sio_ws_parse(&p, unmasked, sizeof(unmasked), &used, &f), SIO_OK);
    CHECK(used == 7 && f.fin == 1 && f.opcode == SIO_WS_TEXT && f.len == 5);
    CHECK(f.message_opcode == SIO_WS_TEXT);
    CHECK(f.payload == unmasked + 2 && memcmp(f.payload, "Hello", 5) == 0);

    sio_ws_parser_init(&p, 1, 1000);
    CHECK_EQ(sio_ws_parse(&p, masked, sizeof(masked), &used, &f), SIO_OK);
    CHECK(used == 11 && f.len == 5 && memcmp(f.payload, "Hello", 5) == 0);

    sio_ws_parser_init(&p, 0, 1000);
    CHECK_EQ(sio_ws_parse(&p, frag, sizeof(frag), &used, &f), SIO_OK);
    CHECK(used == 5 && f.fin == 0 && f.opcode == SIO_WS_TEXT && f.len == 3);
    CHECK(p.in_message == 1 && p.message_len == 3);
    CHECK_EQ(sio_ws_parse(&p, frag + 5, 4, &used, &f), SIO_OK);
    CHECK(used == 4 && f.fin == 1 && f.opcode == SIO_WS_CONT);
    CHECK(f.message_opcode == SIO_WS_TEXT && memcmp(f.payload, "lo", 2) == 0);
    CHECK(p.in_message == 0 && p.message_len == 0);

    CHECK_EQ(sio_ws_parse(&p, ping, sizeof(ping), &used, &f), SIO_OK);
    CHECK(f.opcode == SIO_WS_PING && f.message_opcode == SIO_WS_PING);
}

static void test_masking_rules(void)
{
    unsigned char buf[32];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used;

    n = build(buf, 0x81, 0, 0, "hi", 2);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    /* refused from the second byte already */
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, 2, &used, &f), SIO_EPROTO);
    n = build(buf, 0x81, 1, 0, "hi", 2);
    sio_ws_parser_init(&p, 0, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    /* control frames too */
    n = build(buf, 0x89, 0, 0, "", 0);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
}

static void test_reserved_bits_and_opcodes(void)
{
    unsigned char buf[16];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used;
    unsigned op, rsv;

    for (rsv = 1; rsv < 8; rsv++) {
        n = build(buf, 0x80 | rsv << 4 | SIO_WS_BINARY, 1, 0, "x", 1);
        sio_ws_parser_init(&p, 1, 100);
        CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
        sio_ws_parser_init(&p, 1, 100);
        CHECK_EQ(sio_ws_parse(&p, buf, 1, &used, &f), SIO_EPROTO);
    }
    for (op = 0; op < 16; op++) {
        int want = (op == 1 || op == 2 || (op >= 8 && op <= 10)) ? SIO_OK
                                                                : SIO_EPROTO;

        n = build(buf, 0x80 | op, 1, 0, "", 0);
        sio_ws_parser_init(&p, 1, 100);
        CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), want);
        if (want == SIO_OK)
            CHECK(f.opcode == (int)op && used == n);
    }
}

/* permessage-deflate: RSV1 only once agreed, only on a data message's
 * first frame; it marks every frame of that message compressed and turns
 * off the UTF-8 check of a text message (checked once inflated). */
static void test_rsv1_compressed(void)
{
    unsigned char buf[64];
    const unsigned char bad_utf8[2] = { 0xc3, 0x28 };
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used;

    n = build(buf, 0x80 | SIO_WS_RSV1 | SIO_WS_TEXT, 1, 0, bad_utf8, 2);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    sio_ws_parser_init(&p, 1, 100);
    p.allow_rsv1 = 1;
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK(f.compressed && f.message_opcode == SIO_WS_TEXT && f.len == 2);
    /* the next message, plain, is checked again */
    n = build(buf, 0x80 | SIO_WS_TEXT, 1, 0, bad_utf8, 2);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EUTF8);

    /* fragments: the first carries RSV1, the continuation not */
    sio_ws_parser_init(&p, 1, 100);
    p.allow_rsv1 = 1;
    n = build(buf, SIO_WS_RSV1 | SIO_WS_BINARY, 1, 0, "ab", 2);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK(f.compressed && !f.fin);
    n = build(buf, 0x80 | SIO_WS_PING, 1, 0, "", 0);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK(!f.compressed);
    n = build(buf, 0x80 | SIO_WS_CONT, 1, 0, "cd", 2);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK(f.compressed && f.fin);
    /* RSV1 on a continuation or a control frame: refused */
    sio_ws_parser_init(&p, 1, 100);
    p.allow_rsv1 = 1;
    n = build(buf, SIO_WS_BINARY, 1, 0, "ab", 2);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    n = build(buf, 0x80 | SIO_WS_RSV1 | SIO_WS_CONT, 1, 0, "cd", 2);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    sio_ws_parser_init(&p, 1, 100);
    p.allow_rsv1 = 1;
    n = build(buf, 0x80 | SIO_WS_RSV1 | SIO_WS_PING, 1, 0, "", 0);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    /* RSV2 and RSV3 stay refused */
    sio_ws_parser_init(&p, 1, 100);
    p.allow_rsv1 = 1;
    n = build(buf, 0x80 | 0x20 | SIO_WS_TEXT, 1, 0, "a", 1);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    /* the writer takes RSV1 with the opcode */
    CHECK_EQ(sio_ws_write_header(buf, 1, SIO_WS_RSV1 | SIO_WS_TEXT, 5, NULL), 2);
    CHECK(buf[0] == 0xc1 && buf[1] == 5);
}

static void test_pmd_offers(void)
{
    static const struct { const char *h; int ok; } cases[] = {
        { "permessage-deflate", 1 },
        { "permessage-deflate; client_max_window_bits", 1 },
        { "Permessage-Deflate; Client_Max_Window_Bits=10", 1 },
        { "permessage-deflate; client_max_window_bits=\"12\"", 1 },
        { "permessage-deflate; server_no_context_takeover; "
          "client_no_context_takeover", 1 },
        { "permessage-deflate; server_max_window_bits=15", 1 },
        { "x-webkit-deflate-frame, permessage-deflate", 1 },
        { "permessage-deflate; server_max_window_bits=10, "
          "permessage-deflate", 1 },
        { "permessage-deflate; client_max_window_bits=16", 0 },
        { "permessage-deflate; client_max_window_bits=7", 0 },
        { "permessage-deflate; client_max_window_bits=", 0 },
        { "permessage-deflate; server_max_window_bits=10", 0 },
        { "permessage-deflate; server_max_window_bits", 0 },
        { "permessage-deflate; server_no_context_takeover=1", 0 },
        { "permessage-deflate; foo", 0 },
        { "permessage-deflate; client_no_context_takeover; "
          "client_no_context_takeover", 0 },
        { "permessage-deflate; client_max_window_bits=\"1", 0 },
        { "permessage-deflate x", 0 },
        { "permessage-deflatex", 0 },
        { "deflate-frame", 0 },
        { "", 0 },
        { ",,, ;;", 0 },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = sio_ws_pmd_accept(cases[i].h, strlen(cases[i].h));

        if (got != cases[i].ok)
            fprintf(stderr, "offer '%s': %d\n", cases[i].h, got);
        CHECK_EQ(got, cases[i].ok);
    }
    /* the length bounds the scan */
    CHECK_EQ(sio_ws_pmd_accept("permessage-deflate; foo", 18), 1);
}

static void test_control_frame_rules(void)
{
    unsigned char buf[200], big[126];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used;

    memset(big, 'p', sizeof(big));
    /* not FIN */
    n = build(buf, 0x09, 1, 0, "", 0);
    sio_ws_parser_init(&p, 1, 1000);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    n = build(buf, 0x08, 1, 0, "", 0);
    sio_ws_parser_init(&p, 1, 1000);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    /* 125 is the largest, in any length form it may take */
    n = build(buf, 0x89, 1, 0, big, 125);
    sio_ws_parser_init(&p, 1, 1000);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK(f.len == 125 && f.payload[124] == 'p');
    n = build(buf, 0x8a, 1, 0, big, 126);
    sio_ws_parser_init(&p, 1, 1000);
    CHECK_EQ(sio_ws_parse(&p, buf, 4, &used, &f), SIO_EPROTO);
    n = build(buf, 0x89, 1, 16, big, 5);      /* 16-bit form at all */
    sio_ws_parser_init(&p, 1, 1000);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    n = build(buf, 0x89, 1, 64, big, 5);
    sio_ws_parser_init(&p, 1, 1000);
    CHECK_EQ(sio_ws_parse(&p, buf, 2, &used, &f), SIO_EPROTO);
    /* control frames do not count toward max_message */
    n = build(buf, 0x89, 1, 0, big, 100);
    sio_ws_parser_init(&p, 1, 10);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
}

static void test_fragmentation(void)
{
    unsigned char buf[256];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n = 0, off = 0, used;
    int rc, k = 0;
    static const int ops[] = { SIO_WS_BINARY, SIO_WS_PING, SIO_WS_CONT,
                               SIO_WS_PONG, SIO_WS_CLOSE, SIO_WS_CONT,
                               SIO_WS_CONT };

    n += build(buf + n, SIO_WS_BINARY, 1, 0, "ab", 2);
    n += build(buf + n, 0x80 | SIO_WS_PING, 1, 0, "p1", 2);
    n += build(buf + n, SIO_WS_CONT, 1, 0, "", 0);          /* empty fragment */
    n += build(buf + n, 0x80 | SIO_WS_PONG, 1, 0, "", 0);
    n += build(buf + n, 0x80 | SIO_WS_CLOSE, 1, 0, "\x03\xe8", 2);
    n += build(buf + n, SIO_WS_CONT, 1, 0, "cd", 2);
    n += build(buf + n, 0x80 | SIO_WS_CONT, 1, 0, "e", 1);
    sio_ws_parser_init(&p, 1, 5);
    while ((rc = sio_ws_parse(&p, buf + off, n - off, &used, &f)) == SIO_OK) {
        CHECK(k < 7);
        CHECK_EQ(f.opcode, ops[k]);
        if (f.opcode < 8) {
            CHECK_EQ(f.message_opcode, SIO_WS_BINARY);
            CHECK_EQ(f.fin, k == 6);
            CHECK_EQ(p.in_message, k != 6);
        } else {
            CHECK_EQ(p.in_message, 1);  /* control frames leave it alone */
        }
        off += used;
        k++;
    }
    CHECK_EQ(rc, SIO_AGAIN);
    CHECK_EQ(off, n);
    CHECK_EQ(k, 7);
    CHECK_EQ(p.message_len, 0);

    /* continuation with no message under way */
    n = build(buf, 0x80 | SIO_WS_CONT, 1, 0, "x", 1);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, 1, &used, &f), SIO_EPROTO);
    /* a new data frame while one is under way */
    n = build(buf, SIO_WS_TEXT, 1, 0, "x", 1);
    n += build(buf + n, 0x80 | SIO_WS_BINARY, 1, 0, "y", 1);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK_EQ(sio_ws_parse(&p, buf + used, n - used, &used, &f), SIO_EPROTO);
    n = build(buf, SIO_WS_BINARY, 1, 0, "x", 1);
    n += build(buf + n, SIO_WS_TEXT, 1, 0, "y", 1);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK_EQ(sio_ws_parse(&p, buf + used, n - used, &used, &f), SIO_EPROTO);
    /* after an error the parser stays broken, even for a good frame */
    n = build(buf, 0x82, 1, 0, "ok", 2);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);
}

static void test_lengths(void)
{
    size_t sizes[] = { 0, 1, 125, 126, 127, 65535, 65536, 70000 };
    unsigned char *pay = malloc(70000), *buf = malloc(70000 + 14);
    sio_ws_parser p;
    sio_ws_frame f;
    size_t i, n, used;
    static const int forms[] = { 0, 16, 64 };
    int fi, form, masked;

    CHECK(pay && buf);
    for (i = 0; i < 70000; i++)
        pay[i] = (unsigned char)(i * 7);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (fi = 0; fi < 3; fi++)
            for (masked = 0; masked <= 1; masked++) {
                form = forms[fi];
                if (form == 16 && sizes[i] > 0xffff)
                    continue;
                n = build(buf, 0x82, masked, form, pay, sizes[i]);
                CHECK_EQ(n, sizes[i] + (masked ? 4 : 0) +
                                (form == 64 || sizes[i] > 0xffff ? 10
                                 : form == 16 || sizes[i] > 125 ? 4 : 2));
                if (form == 0)
                    CHECK_EQ(n, sizes[i] + sio_ws_header_len(sizes[i], masked));
                sio_ws_parser_init(&p, masked, 70000);
                CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
                CHECK(used == n && f.len == sizes[i]);
                CHECK(sizes[i] == 0 || memcmp(f.payload, pay, sizes[i]) == 0);
                CHECK(f.payload + f.len == buf + n);
                /* one byte short is never enough */
                if (n > 0) {
                    n = build(buf, 0x82, masked, form, pay, sizes[i]);
                    sio_ws_parser_init(&p, masked, 70000);
                    CHECK_EQ(sio_ws_parse(&p, buf, n - 1, &used, &f),
                             SIO_AGAIN);
                }
            }
    free(pay);
    free(buf);
}

static void test_64bit_msb(void)
{
    unsigned char buf[14] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4 };
    sio_ws_parser p;
    sio_ws_frame f;
    size_t used;

    sio_ws_parser_init(&p, 1, UINT64_MAX);
    CHECK_EQ(sio_ws_parse(&p, buf, 10, &used, &f), SIO_EPROTO);
    /* the largest legal length: too big for any limit but UINT64_MAX,
     * and then simply never complete */
    buf[2] = 0x7f;
    memset(buf + 3, 0xff, 7);
    sio_ws_parser_init(&p, 1, UINT64_MAX);
    CHECK_EQ(sio_ws_parse(&p, buf, 14, &used, &f), SIO_AGAIN);
    sio_ws_parser_init(&p, 1, UINT64_MAX / 2 - 1);
    CHECK_EQ(sio_ws_parse(&p, buf, 14, &used, &f), SIO_ETOOBIG);
}

static void test_max_message(void)
{
    unsigned char buf[64], pay[20];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used, off;

    memset(pay, 'a', sizeof(pay));
    n = build(buf, 0x82, 1, 0, pay, 10);
    sio_ws_parser_init(&p, 1, 10);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    n = build(buf, 0x82, 1, 0, pay, 11);
    sio_ws_parser_init(&p, 1, 10);
    CHECK_EQ(sio_ws_parse(&p, buf, 2, &used, &f), SIO_ETOOBIG); /* header */
    CHECK_EQ(sio_ws_close_code(SIO_ETOOBIG), SIO_WS_CLOSE_TOO_BIG);
    n = build(buf, 0x82, 1, 64, pay, 11);
    sio_ws_parser_init(&p, 1, 10);
    CHECK_EQ(sio_ws_parse(&p, buf, 10, &used, &f), SIO_ETOOBIG);
    sio_ws_parser_init(&p, 1, 0);
    n = build(buf, 0x82, 1, 0, pay, 0);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    n = build(buf, 0x82, 1, 0, pay, 1);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_ETOOBIG);

    /* fragments add up: 4 + 4 + 2 = 10 fits, one more byte does not */
    off = build(buf, 0x02, 1, 0, pay, 4);
    off += build(buf + off, 0x00, 1, 0, pay, 4);
    n = off + build(buf + off, 0x80, 1, 0, pay, 2);
    sio_ws_parser_init(&p, 1, 10);
    for (off = 0; off < n; off += used)
        CHECK_EQ(sio_ws_parse(&p, buf + off, n - off, &used, &f), SIO_OK);
    CHECK_EQ(f.fin, 1);
    off = build(buf, 0x02, 1, 0, pay, 4);
    off += build(buf + off, 0x00, 1, 0, pay, 4);
    n = off + build(buf + off, 0x80, 1, 0, pay, 3);
    sio_ws_parser_init(&p, 1, 10);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK_EQ(sio_ws_parse(&p, buf + used, n - used, &used, &f), SIO_OK);
    CHECK_EQ(p.message_len, 8);
    CHECK_EQ(sio_ws_parse(&p, buf + off, 2, &used, &f), SIO_ETOOBIG);
}

static void test_utf8(void)
{
    unsigned char buf[64];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used, off;

    n = build(buf, 0x81, 1, 0, "\xff", 1);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EUTF8);
    CHECK_EQ(sio_ws_close_code(SIO_EUTF8), SIO_WS_CLOSE_BAD_DATA);
    n = build(buf, 0x81, 1, 0, "\xe2\x82", 2);     /* ends mid-character */
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EUTF8);
    n = build(buf, 0x82, 1, 0, "\xff\xe2", 2);     /* binary: anything goes */
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);

    /* a character split across three fragments, with a ping between */
    off = build(buf, 0x01, 1, 0, "a\xf0", 2);
    off += build(buf + off, 0x89, 1, 0, "\xff", 1);  /* ping: not text */
    off += build(buf + off, 0x00, 1, 0, "\x9f\x98", 2);
    n = off + build(buf + off, 0x80, 1, 0, "\x80z", 2);
    sio_ws_parser_init(&p, 1, 100);
    for (off = 0; off < n; off += used)
        CHECK_EQ(sio_ws_parse(&p, buf + off, n - off, &used, &f), SIO_OK);
    CHECK_EQ(f.message_opcode, SIO_WS_TEXT);
    CHECK_EQ(p.utf8_state, 0);

    /* the last fragment ends mid-character */
    off = build(buf, 0x01, 1, 0, "a\xf0", 2);
    n = off + build(buf + off, 0x80, 1, 0, "\x9f\x98", 2);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK_EQ(sio_ws_parse(&p, buf + used, n - used, &used, &f), SIO_EUTF8);

    /* an invalid first fragment is refused at once (fail fast) */
    off = build(buf, 0x01, 1, 0, "\xed\xa0\x80", 3);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, off, &used, &f), SIO_EUTF8);

    /* a new message after a text message starts from a clean state */
    off = build(buf, 0x81, 1, 0, "ok", 2);
    n = off + build(buf + off, 0x81, 1, 0, "\x80", 1);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK_EQ(sio_ws_parse(&p, buf + used, n - used, &used, &f), SIO_EUTF8);
}

static void test_close_frames(void)
{
    unsigned char buf[200], pl[130];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used;
    unsigned code;
    int ok;

    n = build(buf, 0x88, 1, 0, "", 0);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK_EQ(sio_ws_close_payload_code(f.payload, f.len), 1005);
    n = build(buf, 0x88, 1, 0, "\x03", 1);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EPROTO);

    for (code = 0; code < 65536; code++) {
        pl[0] = (unsigned char)(code >> 8);
        pl[1] = (unsigned char)code;
        n = build(buf, 0x88, 1, 0, pl, 2);
        ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
             (code >= 3000 && code <= 4999);
        sio_ws_parser_init(&p, 1, 100);
        if (sio_ws_parse(&p, buf, n, &used, &f) != (ok ? SIO_OK : SIO_EPROTO))
            CHECK(!"close code validity");
        if (ok)
            CHECK_EQ(sio_ws_close_payload_code(f.payload, f.len), (int)code);
    }

    n = build(buf, 0x88, 1, 0, "\x03\xe8" "bye \xc3\xa9", 8);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK(f.len == 8 && memcmp(f.payload + 2, "bye \xc3\xa9", 6) == 0);
    n = build(buf, 0x88, 1, 0, "\x03\xe8" "bye \xc3", 7);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EUTF8);
    n = build(buf, 0x88, 1, 0, "\x03\xe8\xed\xa0\x80", 5);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_EUTF8);
    memset(pl, 'r', sizeof(pl));
    pl[0] = 0x03;
    pl[1] = 0xe8;
    n = build(buf, 0x88, 1, 0, pl, 125);
    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
}

static void test_bytewise_again(void)
{
    unsigned char *buf = malloc(70000), *pay = malloc(66000);
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n;
    int masked, server;

    CHECK(buf && pay);
    memset(pay, 'z', 66000);
    for (masked = 0; masked <= 1; masked++) {
        server = masked;
        sio_ws_parser_init(&p, server, 100000);
        n = build(buf, 0x81, masked, 0, "hello", 5);
        CHECK_EQ(feed_bytewise(&p, buf, n, &f), SIO_OK);
        CHECK(f.len == 5 && memcmp(f.payload, "hello", 5) == 0);
        n = build(buf, 0x82, masked, 0, "", 0);
        CHECK_EQ(feed_bytewise(&p, buf, n, &f), SIO_OK);
        n = build(buf, 0x02, masked, 16, pay, 300);
        CHECK_EQ(feed_bytewise(&p, buf, n, &f), SIO_OK);
        CHECK(f.len == 300 && f.payload[299] == 'z' && !f.fin);
        n = build(buf, 0x8a, masked, 0, "pong", 4);
        CHECK_EQ(feed_bytewise(&p, buf, n, &f), SIO_OK);
        n = build(buf, 0x80, masked, 64, pay, 66000);
        CHECK_EQ(feed_bytewise(&p, buf, n, &f), SIO_OK);
        CHECK(f.len == 66000 && f.payload[65999] == 'z' && f.fin);
        CHECK_EQ(p.in_message, 0);
        n = build(buf, 0x88, masked, 0, "\x03\xe9" "away", 6);
        CHECK_EQ(feed_bytewise(&p, buf, n, &f), SIO_OK);
        CHECK_EQ(sio_ws_close_payload_code(f.payload, f.len), 1001);
        /* a bad frame reports its error at the first byte that proves it */
        n = build(buf, 0x81, masked, 0, "a\xff", 2);
        CHECK_EQ(feed_bytewise(&p, buf, n, &f), SIO_EUTF8);
    }
    free(buf);
    free(pay);
}

static void test_writers(void)
{
    unsigned char h[SIO_WS_MAX_HEADER], buf[80000];
    uint64_t lens[] = { 0, 5, 125, 126, 65535, 65536, 70000 };
    sio_ws_parser p;
    sio_ws_frame f;
    size_t i, n, used;

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        n = sio_ws_write_header(h, 1, SIO_WS_BINARY, lens[i], NULL);
        CHECK_EQ(n, sio_ws_header_len(lens[i], 0));
        CHECK_EQ(h[0], 0x82);
        memcpy(buf, h, n);
        memset(buf + n, 'q', (size_t)lens[i]);
        sio_ws_parser_init(&p, 0, 1u << 20);
        CHECK_EQ(sio_ws_parse(&p, buf, n + (size_t)lens[i], &used, &f), SIO_OK);
        CHECK(f.len == lens[i] && used == n + lens[i]);

        /* client side: masked, and masking in pieces equals masking whole */
        n = sio_ws_write_header(h, 0, SIO_WS_TEXT, lens[i], key);
        CHECK_EQ(n, sio_ws_header_len(lens[i], 1));
        CHECK_EQ(h[0], 0x01);
        CHECK(memcmp(h + n - 4, key, 4) == 0);
        memcpy(buf, h, n);
        memset(buf + n, 'q', (size_t)lens[i]);
        if (lens[i] > 7) {
            sio_ws_mask(buf + n, 3, key, 0);
            sio_ws_mask(buf + n + 3, (size_t)lens[i] - 3, key, 3);
        } else {
            sio_ws_mask(buf + n, (size_t)lens[i], key, 0);
        }
        sio_ws_parser_init(&p, 1, 1u << 20);
        CHECK_EQ(sio_ws_parse(&p, buf, n + (size_t)lens[i], &used, &f), SIO_OK);
        CHECK(f.len == lens[i] && !f.fin);
        CHECK(lens[i] == 0 || (f.payload[0] == 'q' &&
                               f.payload[lens[i] - 1] == 'q'));
    }
    CHECK_EQ(sio_ws_header_len(1ull << 40, 1), 14);
    n = sio_ws_write_header(h, 1, SIO_WS_BINARY, 1ull << 40, NULL);
    CHECK(n == 10 && h[1] == 127 && h[4] == 1 && h[5] == 0);
}

static void test_close_payload_writer(void)
{
    unsigned char pl[SIO_WS_MAX_CONTROL], buf[200];
    char reason[200];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used, fl;
    int shift;

    n = sio_ws_close_payload(pl, 1000, NULL);
    CHECK(n == 2 && pl[0] == 0x03 && pl[1] == 0xe8);
    n = sio_ws_close_payload(pl, 1001, "bye");
    CHECK(n == 5 && memcmp(pl + 2, "bye", 3) == 0);
    CHECK_EQ(sio_ws_close_payload(pl, 1005, "x"), 0);
    CHECK_EQ(sio_ws_close_payload(pl, 1006, NULL), 0);
    CHECK_EQ(sio_ws_close_payload(pl, 1015, NULL), 0);
    CHECK_EQ(sio_ws_close_payload(pl, 999, NULL), 0);
    CHECK_EQ(sio_ws_close_payload(pl, 4999, NULL), 2);
    /* long reasons are cut on a character boundary, for every alignment
     * of 2-, 3- and 4-byte characters around the 123-byte limit */
    for (shift = 0; shift < 4; shift++) {
        static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac",
                                             "\xf0\x9f\x98\x80" };
        int c;

        for (c = 0; c < 3; c++) {
            memset(reason, 'a', (size_t)shift);
            reason[shift] = 0;
            while (strlen(reason) < 150)
                strcat(reason, chars[c]);
            n = sio_ws_close_payload(pl, 1000, reason);
            CHECK(n <= SIO_WS_MAX_CONTROL && n >= SIO_WS_MAX_CONTROL - 3);
            fl = build(buf, 0x88, 1, 0, pl, n);
            sio_ws_parser_init(&p, 1, 100);
            CHECK_EQ(sio_ws_parse(&p, buf, fl, &used, &f), SIO_OK);
        }
    }
    memset(reason, 'b', 123);
    reason[123] = 0;
    CHECK_EQ(sio_ws_close_payload(pl, 1000, reason), 125);
    CHECK_EQ(sio_ws_close_payload_code(pl, 1), 1005);
}

static void test_close_codes(void)
{
    CHECK_EQ(sio_ws_close_code(SIO_EPROTO), 1002);
    CHECK_EQ(sio_ws_close_code(SIO_ETOOBIG), 1009);
    CHECK_EQ(sio_ws_close_code(SIO_EUTF8), 1007);
}

static void test_empty_and_multi(void)
{
    unsigned char buf[64];
    sio_ws_parser p;
    sio_ws_frame f;
    size_t n, used;

    sio_ws_parser_init(&p, 1, 100);
    CHECK_EQ(sio_ws_parse(&p, buf, 0, &used, &f), SIO_AGAIN);
    n = build(buf, 0x81, 1, 0, "one", 3);
    n += build(buf + n, 0x82, 1, 0, "two", 3);
    CHECK_EQ(sio_ws_parse(&p, buf, n, &used, &f), SIO_OK);
    CHECK(used == 9 && memcmp(f.payload, "one", 3) == 0);
    CHECK_EQ(sio_ws_parse(&p, buf + used, n - used, &used, &f), SIO_OK);
    CHECK(used == 9 && memcmp(f.payload, "two", 3) == 0);
}

int main(void)
{
    RUN(test_rfc_examples);
    RUN(test_masking_rules);
    RUN(test_reserved_bits_and_opcodes);
    RUN(test_rsv1_compressed);
    RUN(test_pmd_offers);
    RUN(test_control_frame_rules);
    RUN(test_fragmentation);
    RUN(test_lengths);
    RUN(test_64bit_msb);
    RUN(test_max_message);
    RUN(test_utf8);
    RUN(test_close_frames);
    RUN(test_bytewise_again);
    RUN(test_writers);
    RUN(test_close_payload_writer);
    RUN(test_close_codes);
    RUN(test_empty_and_multi);
    DONE("test_sio_ws");
}
