/* Incremental UTF-8 validation for WebSocket text messages (which may be
 * split across fragments at any byte) and Engine.IO text packets. The state
 * packs what the next byte must be; it fits the caller's uint32_t. */
#include "sio_utf8.h"

/* State layout (0 = SIO_UTF8_ACCEPT, on a character boundary):
 *   bits 0-7   continuation bytes still needed (1..3)
 *   bits 8-15  lowest allowed value of the next byte
 *   bits 16-23 highest allowed value of the next byte
 * Restricting the first continuation byte's range is what rejects
 * overlongs (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
#define UTF8_REJECT 0xffffffffu

static uint32_t mkstate(unsigned need, unsigned lo, unsigned hi)
{
    return (uint32_t)need | (uint32_t)lo << 8 | (uint32_t)hi << 16;
}

/* State after a lead byte c, or UTF8_REJECT. */
static uint32_t lead(unsigned c)
{
    if (c < 0x80)
        return SIO_UTF8_ACCEPT;
    if (c < 0xc2)                  /* stray continuation, or overlong C0/C1 */
        return UTF8_REJECT;
    if (c < 0xe0)
        return mkstate(1, 0x80, 0xbf);
    if (c == 0xe0)
        return mkstate(2, 0xa0, 0xbf);
    if (c == 0xed)
        return mkstate(2, 0x80, 0x9f);
    if (c < 0xf0)
        return mkstate(2, 0x80, 0xbf);
    if (c == 0xf0)
        return mkstate(3, 0x90, 0xbf);
    if (c < 0xf4)
        return mkstate(3, 0x80, 0xbf);
    if (c == 0xf4)
        return mkstate(3, 0x80, 0x8f);
    return UTF8_REJECT;
}

/* Returns SIO_OK or SIO_EUTF8; *state carries over to the next call. */
int sio_utf8_feed(uint32_t *state, const unsigned char *s, size_t n)
{
    uint32_t st = *state;
    size_t i = 0;

    if (st == UTF8_REJECT)
        return SIO_EUTF8;
    while (i < n) {
        if (st == SIO_UTF8_ACCEPT) {
            /* fast path over ASCII */
            while (i < n && s[i] < 0x80)
                i++;
            if (i == n)
                break;
            st = lead(s[i++]);
            if (st == UTF8_REJECT)
                goto fail;
        } else {
            unsigned need = st & 0xff, lo = (st >> 8) & 0xff,
                     hi = (st >> 16) & 0xff, c = s[i++];

            if (c < lo || c > hi)
                goto fail;
            st = need == 1 ? SIO_UTF8_ACCEPT : mkstate(need - 1, 0x80, 0xbf);
        }
    }
    *state = st;
    return SIO_OK;
fail:
    *state = UTF8_REJECT;
    return SIO_EUTF8;
}

/* Returns 1 for complete valid UTF-8 (the empty string included), else 0. */
int sio_utf8_valid(const unsigned char *s, size_t n)
{
    uint32_t st = SIO_UTF8_ACCEPT;

    return sio_utf8_feed(&st, s, n) == SIO_OK && st == SIO_UTF8_ACCEPT;
}
