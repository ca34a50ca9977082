/* Unit tests for shared/sio_sha256.c: the FIPS 180-4 examples and the
 * RFC 4231 HMAC-SHA-256 test cases, every way of splitting the input over
 * update calls, and the constant-time comparison. */
#include <string.h>

#include "check.h"
#include "sio_sha256.h"

static void hex(const unsigned char *d, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static int digest_is(const void *msg, size_t len, const char *want)
{
    unsigned char d[SIO_SHA256_LEN];
    char got[2 * SIO_SHA256_LEN + 1];
    sio_sha256 c;

    sio_sha256_init(&c);
    sio_sha256_update(&c, msg, len);
    sio_sha256_final(&c, d);
    hex(d, sizeof(d), got);
    return strcmp(got, want) == 0;
}

static void test_fips_examples(void)
{
    static const char two_blocks[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    CHECK(digest_is("", 0, "e3b0c44298fc1c149afbf4c8996fb924"
                           "27ae41e4649b934ca495991b7852b855"));
    CHECK(digest_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223"
                              "b00361a396177a9cb410ff61f20015ad"));
    CHECK(digest_is(two_blocks, strlen(two_blocks),
                    "248d6a61d20638b8e5c026930c3e6039"
                    "a33ce45964ff2167f6ecedd419db06c1"));
}

/* One million 'a' in chunks of 1..130 bytes: the buffered path, whole
 * blocks straight from the input, and every padding boundary. */
static void test_million_a_chunked(void)
{
    unsigned char a[130], d[SIO_SHA256_LEN];
    char got[2 * SIO_SHA256_LEN + 1];
    size_t left = 1000000, step = 1;
    sio_sha256 c;

    memset(a, 'a', sizeof(a));
    sio_sha256_init(&c);
    while (left) {
        size_t n = step < left ? step : left;

        sio_sha256_update(&c, a, n);
        left -= n;
        step = step % sizeof(a) + 1;
    }
    sio_sha256_final(&c, d);
    hex(d, sizeof(d), got);
    CHECK(strcmp(got, "cdc76e5c9914fb9281a1c7e284d73e67"
                      "f1809a48a497200e046d39ccc7112cd0") == 0);
}

/* Lengths around the 55/56/64-byte padding edges, whole and split. */
static void test_split_equivalence(void)
{
    unsigned char msg[200], whole[SIO_SHA256_LEN], parts[SIO_SHA256_LEN];
    size_t len, cut, i;
    sio_sha256 c;

    for (i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    for (len = 0; len <= sizeof(msg); len += (len < 70 ? 1 : 13)) {
        sio_sha256_init(&c);
        sio_sha256_update(&c, msg, len);
        sio_sha256_final(&c, whole);
        for (cut = 0; cut <= len; cut += 5) {
            sio_sha256_init(&c);
            sio_sha256_update(&c, msg, cut);
            sio_sha256_update(&c, msg + cut, len - cut);
            sio_sha256_final(&c, parts);
            CHECK(memcmp(whole, parts, sizeof(whole)) == 0);
        }
    }
}

static int hmac_is(const unsigned char *key, size_t klen, const void *msg,
                   size_t mlen, const char *want)
{
    unsigned char d[SIO_SHA256_LEN];
    char got[2 * SIO_SHA256_LEN + 1];
    const void *parts[1] = { msg };
    size_t lens[1] = { mlen };

    sio_hmac_sha256(key, klen, parts, lens, 1, d);
    hex(d, sizeof(d), got);
    return strcmp(got, want) == 0;
}

/* RFC 4231 test cases 1, 2, 3, 6 and 7 (6 and 7: keys longer than a
 * block); and a message split over parts equals it whole. */
static void test_rfc4231(void)
{
    unsigned char k20[20], k131[131], dd[50];
    static const char big_key_msg[] =
        "This is a test using a larger than block-size key and a larger "
        "than block-size data. The key needs to be hashed before being "
        "used by the HMAC algorithm.";
    unsigned char d1[SIO_SHA256_LEN], d2[SIO_SHA256_LEN];
    const void *parts[3];
    size_t lens[3];

    memset(k20, 0x0b, sizeof(k20));
    CHECK(hmac_is(k20, 20, "Hi There", 8,
                  "b0344c61d8db38535ca8afceaf0bf12b"
                  "881dc200c9833da726e9376c2e32cff7"));
    CHECK(hmac_is((const unsigned char *)"Jefe", 4,
                  "what do ya want for nothing?", 28,
                  "5bdcc146bf60754e6a042426089575c7"
                  "5a003f089d2739839dec58b964ec3843"));
    memset(k20, 0xaa, sizeof(k20));
    memset(dd, 0xdd, sizeof(dd));
    CHECK(hmac_is(k20, 20, dd, sizeof(dd),
                  "773ea91e36800e46854db8ebd09181a7"
                  "2959098b3ef8c122d9635514ced565fe"));
    memset(k131, 0xaa, sizeof(k131));
    CHECK(hmac_is(k131, 131,
                  "Test Using Larger Than Block-Size Key - Hash Key First",
                  54, "60e431591ee0b67f0d8a26aacbf5b77f"
                      "8e0bc6213728c5140546040f0ee37f54"));
    CHECK(hmac_is(k131, 131, big_key_msg, strlen(big_key_msg),
                  "9b09ffa71b942fcb27635fbcd5b0e944"
                  "bfdc63644f0713938a7f51535c3a35e2"));

    parts[0] = big_key_msg;
    lens[0] = 10;
    parts[1] = big_key_msg + 10;
    lens[1] = 0;
    parts[2] = big_key_msg + 10;
    lens[2] = strlen(big_key_msg) - 10;
    sio_hmac_sha256(k131, 131, parts, lens, 3, d1);
    sio_hmac_sha256(k131, 131, parts + 0, lens + 0, 1, d2);
    CHECK(memcmp(d1, d2, sizeof(d1)) != 0);
    lens[0] = strlen(big_key_msg);
    sio_hmac_sha256(k131, 131, parts, lens, 1, d2);
    CHECK(memcmp(d1, d2, sizeof(d1)) == 0);
}

static void test_equal_ct(void)
{
    unsigned char a[32], b[32];
    size_t i;

    memset(a, 0x5a, sizeof(a));
    memcpy(b, a, sizeof(b));
    CHECK(sio_equal_ct(a, b, sizeof(a)));
    CHECK(sio_equal_ct(a, b, 0));
    for (i = 0; i < sizeof(a); i++) {
        b[i] ^= 1;
        CHECK(!sio_equal_ct(a, b, sizeof(a)));
        b[i] ^= 1;
    }
}

int main(void)
{
    RUN(test_fips_examples);
    RUN(test_million_a_chunked);
    RUN(test_split_equivalence);
    RUN(test_rfc4231);
    RUN(test_equal_ct);
    DONE("test_sio_sha256");
}
