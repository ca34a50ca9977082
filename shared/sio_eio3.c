/* Engine.IO v3 payload codec (see sio_eio3.h): the text form with lengths
 * in UTF-16 code units, the XHR2 binary form, and v3's binary WebSocket
 * message. Decoding never copies: results point into the caller's buffer
 * (base64 is decoded where it lies). */
#include <string.h>

#include "sio_base64.h"
#include "sio_eio3.h"
#include "sio_utf8.h"

static int type_of(unsigned char c)
{
    return c >= '0' && c <= '6' ? c - '0' : -1;
}

/* Returns the UTF-16 units of valid UTF-8 s[0..n). */
size_t sio_eio3_utf16_len(const unsigned char *s, size_t n)
{
    size_t units = 0;

    for (size_t i = 0; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            units += (s[i] >= 0xf0) ? 2 : 1;
    }
    return units;
}

/* Starts an iteration over buf[0..len); the form is told by the first
 * byte. Text must be valid UTF-8 as a whole (a base64 packet is ASCII). */
void sio_eio3_payload_init(sio_eio3_payload_iter *it, unsigned char *buf,
                           size_t len)
{
    it->buf = buf;
    it->len = len;
    it->off = 0;
    it->count = 0;
    it->binary_form = len > 0 && (buf[0] == 0 || buf[0] == 1);
    it->done = 0;
    if (len == 0 || (!it->binary_form && !sio_utf8_valid(buf, len)))
        it->done = -1;
}

/* Reads a record's packet rec[0..n) of the text form into *out. Returns
 * SIO_OK or SIO_EPROTO. */
static int text_packet(unsigned char *rec, size_t n, sio_eio_packet *out)
{
    size_t dlen;
    int t;

    if (rec[0] == 'b') {
        if (n < 2 || rec[1] != '4' ||
            sio_base64_decode(rec + 2, (const char *)rec + 2, n - 2,
                              &dlen) != SIO_OK)
            return SIO_EPROTO;
        out->type = SIO_EIO_MESSAGE;
        out->binary = 1;
        out->data = rec + 2;
        out->len = dlen;
        return SIO_OK;
    }
    if ((t = type_of(rec[0])) < 0)
        return SIO_EPROTO;
    out->type = t;
    out->binary = 0;
    out->data = rec + 1;
    out->len = n - 1;
    return SIO_OK;
}

/* The next record of the text form: `<digits>:` then that many UTF-16
 * units. Sets *rec, *n (0: an empty record). Returns SIO_OK, SIO_DONE at
 * the end, or SIO_EPROTO. */
static int next_text(sio_eio3_payload_iter *it, unsigned char **rec,
                     size_t *n)
{
    size_t want = 0, digits = 0, i, units = 0;

    if (it->off == it->len)
        return SIO_DONE;
    for (i = it->off; i < it->len && it->buf[i] != ':'; i++) {
        if (it->buf[i] < '0' || it->buf[i] > '9' ||
            ++digits > SIO_EIO3_MAX_DIGITS)
            return SIO_EPROTO;
        want = want * 10 + (size_t)(it->buf[i] - '0');
    }
    if (digits == 0 || i == it->len)
        return SIO_EPROTO;
    i++;
    *rec = it->buf + i;
    while (units < want && i < it->len) {
        unsigned char c = it->buf[i];
        size_t step = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
        units += step == 4 ? 2 : 1;
        i += step;
    }
    if (units != want || i > it->len)
        return SIO_EPROTO;
    *n = (size_t)(it->buf + i - *rec);
    it->off = i;
    return SIO_OK;
}

/* The next record of the binary form: sets *rec, *n and *is_text.
 * Returns SIO_OK, SIO_DONE or SIO_EPROTO. */
static int next_binary(sio_eio3_payload_iter *it, unsigned char **rec,
                       size_t *n, int *is_text)
{
    size_t want = 0, digits = 0, i;

    if (it->off == it->len)
        return SIO_DONE;
    if (it->buf[it->off] > 1)
        return SIO_EPROTO;
    *is_text = it->buf[it->off] == 0;
    for (i = it->off + 1; i < it->len && it->buf[i] != 0xff; i++) {
        if (it->buf[i] > 9 || ++digits > SIO_EIO3_MAX_DIGITS)
            return SIO_EPROTO;
        want = want * 10 + it->buf[i];
    }
    if (digits == 0 || i == it->len || want > it->len - i - 1)
        return SIO_EPROTO;
    *rec = it->buf + i + 1;
    *n = want;
    it->off = i + 1 + want;
    return SIO_OK;
}

/* Returns SIO_OK with the next packet, SIO_DONE after the last one, or
 * SIO_EPROTO (sticky). A payload holding no packet at all ("0:") is
 * SIO_DONE at once, as the reference ignores it. */
int sio_eio3_payload_next(sio_eio3_payload_iter *it, sio_eio_packet *out)
{
    unsigned char *rec = NULL;
    size_t n = 0;
    int rc, is_text = 1;

    for (;;) {
        if (it->done)
            return it->done > 0 ? SIO_DONE : SIO_EPROTO;
        rc = it->binary_form ? next_binary(it, &rec, &n, &is_text)
                             : next_text(it, &rec, &n);
        if (rc == SIO_DONE) {
            it->done = 1;
            return SIO_DONE;
        }
        if (rc != SIO_OK)
            goto fail;
        if (n > 0)
            break;
        if (it->binary_form)
            goto fail;      /* a packet has at least its type */
    }
    if (!it->binary_form) {
        rc = text_packet(rec, n, out);
    } else if (is_text) {
        if (!sio_utf8_valid(rec, n))
            goto fail;
        rc = text_packet(rec, n, out);
    } else {
        if (rec[0] != SIO_EIO_MESSAGE)
            goto fail;
        out->type = SIO_EIO_MESSAGE;
        out->binary = 1;
        out->data = rec + 1;
        out->len = n - 1;
        rc = SIO_OK;
    }
    if (rc != SIO_OK)
        goto fail;
    it->count++;
    return SIO_OK;

fail:
    it->done = -1;
    return SIO_EPROTO;
}

/* Decimal digits of n (at least one). */
static size_t digit_count(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* The packet's own bytes in form (text digit + data, "b4" + base64, or
 * the type byte + bytes), and its length field's value. */
static size_t body_len(const sio_eio_packet *p, int form, size_t *field)
{
    size_t b;

    if (p->binary) {
        if (form == SIO_EIO3_BINARY)
            b = 1 + p->len;
        else
            b = 2 + sio_base64_encoded_len(p->len);
        *field = b;      /* ASCII or bytes: units == bytes */
        return b;
    }
    b = 1 + p->len;
    *field = form == SIO_EIO3_BINARY ? b
                                     : 1 + sio_eio3_utf16_len(p->data, p->len);
    return b;
}

size_t sio_eio3_encoded_len(const sio_eio_packet *p, int form)
{
    size_t field, b = body_len(p, form, &field);

    if (form == SIO_EIO3_BINARY)
        return 1 + digit_count(field) + 1 + b;
    return digit_count(field) + 1 + b;
}

size_t sio_eio3_encode(unsigned char *dst, const sio_eio_packet *p, int form)
{
    size_t field, off = 0, d;
    char digits[24];

    body_len(p, form, &field);
    d = digit_count(field);
    for (size_t i = d, v = field; i > 0; i--, v /= 10)
        digits[i - 1] = (char)('0' + v % 10);
    if (form == SIO_EIO3_BINARY) {
        dst[off++] = p->binary ? 1 : 0;
        for (size_t i = 0; i < d; i++)
            dst[off++] = (unsigned char)(digits[i] - '0');
        dst[off++] = 0xff;
    } else {
        memcpy(dst, digits, d);
        off = d;
        dst[off++] = ':';
    }
    if (p->binary) {
        if (form == SIO_EIO3_BINARY) {
            dst[off++] = SIO_EIO_MESSAGE;
            if (p->len)
                memcpy(dst + off, p->data, p->len);
            return off + p->len;
        }
        dst[off++] = 'b';
        dst[off++] = '4';
        return off + sio_base64_encode((char *)dst + off, p->data, p->len);
    }
    dst[off++] = (unsigned char)('0' + (p->type >= 0 && p->type <= 6
                                            ? p->type : SIO_EIO_MESSAGE));
    if (p->len)
        memcpy(dst + off, p->data, p->len);
    return off + p->len;
}

int sio_eio3_decode_ws(const unsigned char *msg, size_t len, int binary,
                       sio_eio_packet *out)
{
    if (!binary)
        return sio_eio_decode_ws(msg, len, 0, out);
    if (len == 0 || msg[0] != SIO_EIO_MESSAGE)
        return SIO_EPROTO;
    out->type = SIO_EIO_MESSAGE;
    out->binary = 1;
    out->data = msg + 1;
    out->len = len - 1;
    return SIO_OK;
}
