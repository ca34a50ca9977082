/* Unit tests for shared/sio_base64.c: RFC 4648 vectors, round trips of every
 * length, in-place decoding, and every way the input can be malformed. */
#include <string.h>

#include "check.h"
#include "sio_base64.h"

static void test_rfc4648_vectors(void)
{
    static const char *const plain[] = { "", "f", "fo", "foo", "foob",
                                         "fooba", "foobar" };
    static const char *const coded[] = { "", "Zg==", "Zm8=", "Zm9v",
                                         "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
    char out[16];
    unsigned char dec[16];
    size_t i, n, dl;

    for (i = 0; i < 7; i++) {
        n = sio_base64_encode(out, (const unsigned char *)plain[i],
                              strlen(plain[i]));
        CHECK_EQ(n, strlen(coded[i]));
        CHECK_EQ(n, sio_base64_encoded_len(strlen(plain[i])));
        CHECK(memcmp(out, coded[i], n) == 0);
        dl = 99;
        CHECK_EQ(sio_base64_decode(dec, coded[i], n, &dl), SIO_OK);
        CHECK_EQ(dl, strlen(plain[i]));
        CHECK(memcmp(dec, plain[i], dl) == 0);
    }
}

static void test_roundtrip_all_lengths_in_place(void)
{
    unsigned char src[300];
    char enc[400];
    size_t n, e, d, i;

    for (i = 0; i < sizeof(src); i++)
        src[i] = (unsigned char)(i * 37 + 11);
    for (n = 0; n <= sizeof(src); n++) {
        e = sio_base64_encode(enc, src, n);
        CHECK_EQ(e, sio_base64_encoded_len(n));
        CHECK_EQ(sio_base64_decode((unsigned char *)enc, enc, e, &d), SIO_OK);
        CHECK_EQ(d, n);
        CHECK(memcmp(enc, src, n) == 0);
    }
}

static void test_all_bytes(void)
{
    unsigned char src[256], dst[256];
    char enc[344];
    size_t i, e, d;

    for (i = 0; i < 256; i++)
        src[i] = (unsigned char)i;
    e = sio_base64_encode(enc, src, 256);
    CHECK_EQ(e, 344);
    CHECK_EQ(sio_base64_decode(dst, enc, e, &d), SIO_OK);
    CHECK_EQ(d, 256);
    CHECK(memcmp(src, dst, 256) == 0);
}

static int dec(const char *s)
{
    unsigned char out[64];
    size_t n;

    return sio_base64_decode(out, s, strlen(s), &n);
}

static void test_malformed(void)
{
    int c;
    char s[5];

    CHECK_EQ(dec("Z"), SIO_EPROTO);
    CHECK_EQ(dec("Zg"), SIO_EPROTO);       /* padding is required */
    CHECK_EQ(dec("Zg="), SIO_EPROTO);
    CHECK_EQ(dec("Zm9vY"), SIO_EPROTO);
    CHECK_EQ(dec("===="), SIO_EPROTO);
    CHECK_EQ(dec("Z==="), SIO_EPROTO);
    CHECK_EQ(dec("Zg=a"), SIO_EPROTO);
    CHECK_EQ(dec("Zg==Zg=="), SIO_EPROTO); /* padding only at the end */
    CHECK_EQ(dec("Zm8=Zm9v"), SIO_EPROTO);
    CHECK_EQ(dec("Zm9v\n"), SIO_EPROTO);
    CHECK_EQ(dec("Zm 9"), SIO_EPROTO);
    CHECK_EQ(dec("Zm-_"), SIO_EPROTO);     /* URL-safe alphabet is not base64 */
    CHECK_EQ(dec("Zm9v===="), SIO_EPROTO);
    CHECK_EQ(dec("Zh=="), SIO_OK);         /* leftover bits are tolerated */
    /* every byte outside the alphabet, in every position */
    for (c = 0; c < 256; c++) {
        int pos, ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      (c >= '0' && c <= '9') || c == '+' || c == '/';
        unsigned char out[4];
        size_t n;

        if (c == 0 || c == '=')
            continue;
        for (pos = 0; pos < 4; pos++) {
            memcpy(s, "QUJD", 5);
            s[pos] = (char)c;
            CHECK_EQ(sio_base64_decode(out, s, 4, &n),
                     ok ? SIO_OK : SIO_EPROTO);
        }
    }
    {
        unsigned char out[4];
        size_t n;

        CHECK_EQ(sio_base64_decode(out, "QU\0D", 4, &n), SIO_EPROTO);
    }
}

int main(void)
{
    RUN(test_rfc4648_vectors);
    RUN(test_roundtrip_all_lengths_in_place);
    RUN(test_all_bytes);
    RUN(test_malformed);
    DONE("test_sio_base64");
}
