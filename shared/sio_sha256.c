/* SHA-256 and HMAC-SHA-256, written from FIPS 180-4 (section 6.2) and
 * RFC 2104; checked against their published test vectors in
 * tests/unit/test_sio_sha256.c. Big-endian words are read and written byte
 * by byte, so no alignment or host byte order is assumed. */
#include <string.h>

#include "sio_be.h"
#include "sio_sha256.h"

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

/* Clears memory through a volatile pointer, so the stores of a buffer
 * about to go out of scope are not optimised away. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

static uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

/* One 64-byte block into the state (FIPS 180-4, 6.2.2). */
static void compress(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k, t1, t2;
    int i;

    for (i = 0; i < 16; i++)
        w[i] = sio_be32_get(p + 4 * i);
    for (i = 16; i < 64; i++) {
        uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^
                      (w[i - 15] >> 3);
        uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^
                      (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0]; b = h[1]; c = h[2]; d = h[3];
    e = h[4]; f = h[5]; g = h[6]; k = h[7];
    for (i = 0; i < 64; i++) {
        t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) +
             ((e & f) ^ (~e & g)) + K[i] + w[i];
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) +
             ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

/* Initial hash value: FIPS 180-4, 5.3.3. */
void sio_sha256_init(sio_sha256 *c)
{
    static const uint32_t h0[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
    };

    memcpy(c->h, h0, sizeof(h0));
    c->total = 0;
    c->used = 0;
}

/* Buffers a partial block; compresses whole ones straight from data. */
void sio_sha256_update(sio_sha256 *c, const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t take;

    c->total += len;
    if (c->used) {
        take = SIO_SHA256_BLOCK - c->used;
        if (take > len)
            take = len;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        len -= take;
        if (c->used < SIO_SHA256_BLOCK)
            return;
        compress(c->h, c->buf);
        c->used = 0;
    }
    for (; len >= SIO_SHA256_BLOCK; p += SIO_SHA256_BLOCK,
                                    len -= SIO_SHA256_BLOCK)
        compress(c->h, p);
    if (len) {
        memcpy(c->buf, p, len);
        c->used = len;
    }
}

/* Pads (a 1 bit, zeros, the bit length) and writes the digest. */
void sio_sha256_final(sio_sha256 *c, unsigned char out[SIO_SHA256_LEN])
{
    uint64_t bits = c->total * 8;
    int i;

    c->buf[c->used++] = 0x80;
    if (c->used > SIO_SHA256_BLOCK - 8) {
        memset(c->buf + c->used, 0, SIO_SHA256_BLOCK - c->used);
        compress(c->h, c->buf);
        c->used = 0;
    }
    memset(c->buf + c->used, 0, SIO_SHA256_BLOCK - 8 - c->used);
    sio_be64_put(c->buf + SIO_SHA256_BLOCK - 8, bits);
    compress(c->h, c->buf);
    for (i = 0; i < 8; i++)
        sio_be32_put(out + 4 * i, c->h[i]);
    wipe(c, sizeof(*c));
}

/* H((K ^ opad) || H((K ^ ipad) || text)), K hashed first when longer than
 * a block. Key material on the stack is cleared before returning. */
void sio_hmac_sha256(const unsigned char *key, size_t key_len,
                     const void *const *parts, const size_t *lens,
                     size_t nparts, unsigned char out[SIO_SHA256_LEN])
{
    unsigned char k[SIO_SHA256_BLOCK], pad[SIO_SHA256_BLOCK];
    unsigned char inner[SIO_SHA256_LEN];
    sio_sha256 c;
    size_t i;

    memset(k, 0, sizeof(k));
    if (key_len > SIO_SHA256_BLOCK) {
        sio_sha256_init(&c);
        sio_sha256_update(&c, key, key_len);
        sio_sha256_final(&c, k);
    } else if (key_len) {
        memcpy(k, key, key_len);
    }
    for (i = 0; i < SIO_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x36;
    sio_sha256_init(&c);
    sio_sha256_update(&c, pad, sizeof(pad));
    for (i = 0; i < nparts; i++)
        sio_sha256_update(&c, parts[i], lens[i]);
    sio_sha256_final(&c, inner);
    for (i = 0; i < SIO_SHA256_BLOCK; i++)
        pad[i] = k[i] ^ 0x5c;
    sio_sha256_init(&c);
    sio_sha256_update(&c, pad, sizeof(pad));
    sio_sha256_update(&c, inner, sizeof(inner));
    sio_sha256_final(&c, out);
    wipe(k, sizeof(k));
    wipe(pad, sizeof(pad));
    wipe(inner, sizeof(inner));
}

/* Returns 1 or 0; every byte is looked at whatever the differences. */
int sio_equal_ct(const unsigned char *a, const unsigned char *b, size_t len)
{
    volatile unsigned char diff = 0;
    size_t i;

    for (i = 0; i < len; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}
