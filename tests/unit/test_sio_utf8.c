/* Unit tests for shared/sio_utf8.c: the validator is checked against a
 * naive decoder for every 1-, 2- and 3-byte sequence and a sample of 4-byte
 * ones, then for resumption at every split point and the classic traps. */
#include <string.h>

#include "check.h"
#include "sio_utf8.h"

/* Reference: 1 if s[0..n) is exactly one valid UTF-8 character. */
static int ref_one_char(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t need, i;

    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        need = 1;
        cp = s[0];
    } else if ((s[0] & 0xe0) == 0xc0) {
        need = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        need = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        need = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n != need)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) ||
        (need == 4 && cp < 0x10000))
        return 0;
    if (cp >= 0xd800 && cp <= 0xdfff)
        return 0;
    return cp <= 0x10ffff;
}

/* Reference for a short string: can it be split into valid characters? */
static int ref_valid(const unsigned char *s, size_t n)
{
    size_t k;

    if (n == 0)
        return 1;
    for (k = 1; k <= 4 && k <= n; k++)
        if (ref_one_char(s, k) && ref_valid(s + k, n - k))
            return 1;
    return 0;
}

static void test_exhaustive_short(void)
{
    unsigned char s[3];
    unsigned a, b, c;

    for (a = 0; a < 256; a++) {
        s[0] = (unsigned char)a;
        CHECK_EQ(sio_utf8_valid(s, 1), ref_valid(s, 1));
        for (b = 0; b < 256; b++) {
            s[1] = (unsigned char)b;
            CHECK_EQ(sio_utf8_valid(s, 2), ref_valid(s, 2));
            if (a < 0xe0 || a > 0xf4)
                continue;  /* 3-byte space: only leads that need it */
            for (c = 0; c < 256; c++) {
                s[2] = (unsigned char)c;
                if (sio_utf8_valid(s, 3) != ref_valid(s, 3))
                    CHECK(!"3-byte mismatch");
            }
        }
    }
}

static void test_four_byte_sample(void)
{
    unsigned char s[4];
    unsigned a, b, c, d;

    for (a = 0xf0; a <= 0xf7; a++)
        for (b = 0x70; b < 0xd0; b += 1)
            for (c = 0x78; c < 0xc8; c += 0x07)
                for (d = 0x78; d < 0xc8; d += 0x07) {
                    s[0] = (unsigned char)a;
                    s[1] = (unsigned char)b;
                    s[2] = (unsigned char)c;
                    s[3] = (unsigned char)d;
                    if (sio_utf8_valid(s, 4) != ref_valid(s, 4))
                        CHECK(!"4-byte mismatch");
                }
}

static int valid_str(const char *s)
{
    return sio_utf8_valid((const unsigned char *)s, strlen(s));
}

static void test_known_cases(void)
{
    CHECK(sio_utf8_valid((const unsigned char *)"", 0));
    CHECK(sio_utf8_valid(NULL, 0));
    CHECK(valid_str("plain ascii"));
    CHECK(valid_str("h\xc3\xa9llo"));                 /* U+00E9 */
    CHECK(valid_str("\xe2\x82\xac"));                 /* U+20AC */
    CHECK(valid_str("\xf0\x9f\x98\x80"));             /* U+1F600 */
    CHECK(valid_str("\xf4\x8f\xbf\xbf"));             /* U+10FFFF */
    CHECK(valid_str("\xed\x9f\xbf"));                 /* U+D7FF */
    CHECK(valid_str("\xee\x80\x80"));                 /* U+E000 */
    CHECK(valid_str("\xef\xbf\xbf"));                 /* U+FFFF */
    CHECK(sio_utf8_valid((const unsigned char *)"a\0b", 3)); /* NUL is valid */
    CHECK(!valid_str("\xc0\x80"));                    /* overlong NUL */
    CHECK(!valid_str("\xc1\xbf"));
    CHECK(!valid_str("\xe0\x9f\xbf"));                /* overlong 3-byte */
    CHECK(!valid_str("\xf0\x8f\xbf\xbf"));            /* overlong 4-byte */
    CHECK(!valid_str("\xed\xa0\x80"));                /* U+D800 */
    CHECK(!valid_str("\xed\xbf\xbf"));                /* U+DFFF */
    CHECK(!valid_str("\xed\xa0\xbd\xed\xb8\x80"));    /* CESU pair */
    CHECK(!valid_str("\xf4\x90\x80\x80"));            /* U+110000 */
    CHECK(!valid_str("\xf5\x80\x80\x80"));
    CHECK(!valid_str("\xf8\x88\x80\x80\x80"));
    CHECK(!valid_str("\xfe"));
    CHECK(!valid_str("\xff"));
    CHECK(!valid_str("\x80"));
    CHECK(!valid_str("a\xbf"));
    CHECK(!valid_str("\xc3"));                        /* truncated */
    CHECK(!valid_str("\xe2\x82"));
    CHECK(!valid_str("\xf0\x9f\x98"));
    CHECK(!valid_str("\xc3x"));
    CHECK(!valid_str("\xe2\x82x"));
    /* Autobahn 6.3.1: valid prefix, then an invalid surrogate */
    CHECK(!valid_str("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                     "edited"));
}

static void test_resume_every_split(void)
{
    static const char text[] =
        "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z\xf4\x8f\xbf\xbf";
    const unsigned char *s = (const unsigned char *)text;
    size_t n = sizeof(text) - 1, i, j;
    uint32_t st;

    for (i = 0; i <= n; i++) {
        for (j = i; j <= n; j++) {
            st = SIO_UTF8_ACCEPT;
            CHECK_EQ(sio_utf8_feed(&st, s, i), SIO_OK);
            CHECK_EQ(sio_utf8_feed(&st, s + i, j - i), SIO_OK);
            CHECK_EQ(sio_utf8_feed(&st, s + j, n - j), SIO_OK);
            CHECK_EQ(st, SIO_UTF8_ACCEPT);
        }
    }
    /* byte by byte: boundary reported only after whole characters */
    st = SIO_UTF8_ACCEPT;
    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"\xf0", 1), SIO_OK);
    CHECK(st != SIO_UTF8_ACCEPT);
    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"\x9f", 1), SIO_OK);
    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"\x98", 1), SIO_OK);
    CHECK(st != SIO_UTF8_ACCEPT);
    CHECK_EQ(sio_utf8_feed(&st, NULL, 0), SIO_OK);
    CHECK(st != SIO_UTF8_ACCEPT);
    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"\x80", 1), SIO_OK);
    CHECK_EQ(st, SIO_UTF8_ACCEPT);
    /* a surrogate split across fragments */
    st = SIO_UTF8_ACCEPT;
    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"ok\xed", 3), SIO_OK);
    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"\xa0\x80", 2),
             SIO_EUTF8);
}

static void test_reject_is_sticky(void)
{
    uint32_t st = SIO_UTF8_ACCEPT;

    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"\xff", 1), SIO_EUTF8);
    CHECK(st != SIO_UTF8_ACCEPT);
    CHECK_EQ(sio_utf8_feed(&st, (const unsigned char *)"abc", 3), SIO_EUTF8);
    CHECK_EQ(sio_utf8_feed(&st, NULL, 0), SIO_EUTF8);
    CHECK(st != SIO_UTF8_ACCEPT);
}

int main(void)
{
    RUN(test_exhaustive_short);
    RUN(test_four_byte_sample);
    RUN(test_known_cases);
    RUN(test_resume_every_split);
    RUN(test_reject_is_sticky);
    DONE("test_sio_utf8");
}
