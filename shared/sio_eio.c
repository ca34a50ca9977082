/* Engine.IO v4 packet codec: one packet per WebSocket message, or many per
 * long-polling payload separated by 0x1e with binary packets as 'b' +
 * base64. Decoding never copies: results point into the caller's buffer. */
#include <string.h>

#include "sio_base64.h"
#include "sio_eio.h"
#include "sio_utf8.h"

static int type_of(unsigned char c)
{
    return c >= '0' && c <= '6' ? c - '0' : -1;
}

/* Returns SIO_OK or SIO_EPROTO. An empty binary message is a MESSAGE with
 * no bytes; an empty text message has no type and is refused. A text 'b'
 * (base64) packet is a polling-only form and is refused here too. UTF-8 is
 * not checked: the WebSocket parser has validated text messages already. */
int sio_eio_decode_ws(const unsigned char *msg, size_t len, int binary,
                      sio_eio_packet *out)
{
    int t;

    if (binary) {
        out->type = SIO_EIO_MESSAGE;
        out->binary = 1;
        out->data = msg;
        out->len = len;
        return SIO_OK;
    }
    if (len == 0 || (t = type_of(msg[0])) < 0)
        return SIO_EPROTO;
    out->type = t;
    out->binary = 0;
    out->data = msg + 1;
    out->len = len - 1;
    return SIO_OK;
}

/* Starts an iteration over buf[0..len); the iterator borrows buf. */
void sio_eio_payload_init(sio_eio_payload_iter *it, unsigned char *buf,
                          size_t len)
{
    it->buf = buf;
    it->len = len;
    it->off = 0;
    it->done = 0;
}

/* Returns SIO_OK with the next packet, SIO_DONE after the last one, or
 * SIO_EPROTO. As in the reference parser, an empty body, an empty record
 * (two separators in a row, or one at either end) and an unknown type are
 * errors; unlike it, bad base64 and invalid UTF-8 are errors too rather
 * than silently decoded into garbage. After SIO_EPROTO every further call
 * returns SIO_EPROTO; after SIO_DONE, SIO_DONE. */
int sio_eio_payload_next(sio_eio_payload_iter *it, sio_eio_packet *out)
{
    unsigned char *rec, *sep;
    size_t rlen, dlen;
    int t;

    if (it->done)
        return it->done > 0 ? SIO_DONE : SIO_EPROTO;
    if (it->off > it->len)
        goto fail;
    rec = it->buf + it->off;
    sep = it->len > it->off
              ? memchr(rec, SIO_EIO_SEPARATOR, it->len - it->off) : NULL;
    if (sep != NULL) {
        rlen = (size_t)(sep - rec);
        it->off += rlen + 1;
    } else {
        rlen = it->len - it->off;
        it->off = it->len;
        it->done = 1;
    }
    if (rlen == 0)
        goto fail;

    if (rec[0] == 'b') {
        if (sio_base64_decode(rec + 1, (const char *)rec + 1, rlen - 1,
                              &dlen) != SIO_OK)
            goto fail;
        out->type = SIO_EIO_MESSAGE;
        out->binary = 1;
        out->data = rec + 1;
        out->len = dlen;
        return SIO_OK;
    }
    if ((t = type_of(rec[0])) < 0)
        goto fail;
    if (!sio_utf8_valid(rec + 1, rlen - 1))
        goto fail;
    out->type = t;
    out->binary = 0;
    out->data = rec + 1;
    out->len = rlen - 1;
    return SIO_OK;

fail:
    it->done = -1;
    return SIO_EPROTO;
}

/* Returns the encoded size of p; binary packets count as MESSAGE whatever
 * p->type says, since Engine.IO has no other binary packet. */
size_t sio_eio_encoded_len(const sio_eio_packet *p, int polling)
{
    if (p->binary)
        return polling ? 1 + sio_base64_encoded_len(p->len) : p->len;
    return 1 + p->len;
}

/* Returns the bytes written (== sio_eio_encoded_len(p, polling)); dst must
 * not overlap p->data. The caller joins polling packets with
 * SIO_EIO_SEPARATOR. A type outside 0..6 (a caller bug) is written as
 * MESSAGE so the output stays decodable. */
size_t sio_eio_encode(unsigned char *dst, const sio_eio_packet *p, int polling)
{
    if (p->binary) {
        if (!polling) {
            if (p->len)
                memcpy(dst, p->data, p->len);
            return p->len;
        }
        dst[0] = 'b';
        return 1 + sio_base64_encode((char *)dst + 1, p->data, p->len);
    }
    dst[0] = (unsigned char)('0' + (p->type >= 0 && p->type <= 6 ? p->type
                                                                  : 4));
    if (p->len)
        memcpy(dst + 1, p->data, p->len);
    return 1 + p->len;
}
