/* Standard base64 (RFC 4648 section 4, padded) for Engine.IO's 'b' packets
 * in polling payloads. Decoding is strict about the alphabet, the length
 * and the padding, and works in place. */
#include "sio_base64.h"

static const char enc_table[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 character, or -1 (padding included: handled apart). */
static int dec_char(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Returns 4 * ceil(n / 3); n must be below SIZE_MAX / 4 * 3, which any
 * buffer that exists satisfies. */
size_t sio_base64_encoded_len(size_t n)
{
    return (n / 3 + (n % 3 != 0)) * 4;
}

/* Returns the characters written into dst (no NUL is added). dst must not
 * overlap src. */
size_t sio_base64_encode(char *dst, const unsigned char *src, size_t n)
{
    size_t i, o = 0;
    uint32_t v;

    for (i = 0; i + 3 <= n; i += 3) {
        v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        dst[o++] = enc_table[v >> 18];
        dst[o++] = enc_table[(v >> 12) & 63];
        dst[o++] = enc_table[(v >> 6) & 63];
        dst[o++] = enc_table[v & 63];
    }
    if (n - i == 1) {
        v = (uint32_t)src[i] << 16;
        dst[o++] = enc_table[v >> 18];
        dst[o++] = enc_table[(v >> 12) & 63];
        dst[o++] = '=';
        dst[o++] = '=';
    } else if (n - i == 2) {
        v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
        dst[o++] = enc_table[v >> 18];
        dst[o++] = enc_table[(v >> 12) & 63];
        dst[o++] = enc_table[(v >> 6) & 63];
        dst[o++] = '=';
    }
    return o;
}

/* Returns SIO_OK with *out_len, or SIO_EPROTO. Each group of 4 characters
 * is read whole before its 3 bytes are written, and output index 3i+2 is
 * always below input index 4i+4, so dst == src is safe. Leftover bits in
 * the last group need not be zero (RFC 4648 3.5 leaves that to the
 * decoder; Node.js accepts them). On error dst holds partial output. */
int sio_base64_decode(unsigned char *dst, const char *src, size_t n,
                      size_t *out_len)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t i, o = 0;
    int a, b, c, d;

    if (n % 4 != 0)
        return SIO_EPROTO;
    for (i = 0; i < n; i += 4) {
        int last = i + 4 == n;

        a = dec_char(s[i]);
        b = dec_char(s[i + 1]);
        if (a < 0 || b < 0)
            return SIO_EPROTO;
        if (last && s[i + 2] == '=') {
            if (s[i + 3] != '=')
                return SIO_EPROTO;
            dst[o++] = (unsigned char)(a << 2 | b >> 4);
            break;
        }
        c = dec_char(s[i + 2]);
        if (c < 0)
            return SIO_EPROTO;
        if (last && s[i + 3] == '=') {
            dst[o++] = (unsigned char)(a << 2 | b >> 4);
            dst[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
            break;
        }
        d = dec_char(s[i + 3]);
        if (d < 0)
            return SIO_EPROTO;
        dst[o++] = (unsigned char)(a << 2 | b >> 4);
        dst[o++] = (unsigned char)((b & 15) << 4 | c >> 2);
        dst[o++] = (unsigned char)((c & 3) << 6 | d);
    }
    *out_len = o;
    return SIO_OK;
}
