/* RFC 6455 framing: a whole-frame parser that checks every rule a server
 * (or client) must enforce before it hands a frame on, plus the writers for
 * frame headers and close payloads. Errors are reported as soon as the
 * bytes that prove them are in, so an oversized frame is refused from its
 * header alone and never buffered. */
#include <string.h>

#include "sio_be.h"
#include "sio_utf8.h"
#include "sio_ws.h"

/* in_message value of a parser that has returned an error */
#define WS_BROKEN (-1)

/* Initialises p; max_message bounds every data message (the sum of its
 * fragments), in bytes. Control frames are bound by 125 bytes instead. */
void sio_ws_parser_init(sio_ws_parser *p, int server, uint64_t max_message)
{
    memset(p, 0, sizeof(*p));
    p->server = server ? 1 : 0;
    p->max_message = max_message;
    p->utf8_state = SIO_UTF8_ACCEPT;
}

static int is_control(int op)
{
    return op >= 0x8;
}

/* Close codes a peer may put on the wire (RFC 6455 7.4.1 and the IANA
 * registry): 1004-1006 and 1015 are reserved and must never be sent. */
static int close_code_ok(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int fail(sio_ws_parser *p, int err)
{
    p->in_message = WS_BROKEN;
    return err;
}

/* Returns SIO_OK, SIO_AGAIN or a negative error (see sio_ws.h). On SIO_OK
 * the payload has been unmasked in place, out->payload points into buf and
 * *used is the frame's size; on SIO_AGAIN neither buf nor p has changed. */
int sio_ws_parse(sio_ws_parser *p, unsigned char *buf, size_t len,
                 size_t *used, sio_ws_frame *out)
{
    int fin, op, masked, msg_op;
    size_t hdr, i;
    uint64_t plen;
    unsigned char *mask, *payload;

    if (p->in_message == WS_BROKEN)
        return SIO_EPROTO;
    if (len < 1)
        return SIO_AGAIN;

    fin = buf[0] >> 7;
    op = buf[0] & 0x0f;
    if (buf[0] & 0x30)                    /* RSV2-3: no extension uses them */
        return fail(p, SIO_EPROTO);
    /* RSV1: permessage-deflate's "compressed", on a message's first frame
     * only, and only once agreed */
    if ((buf[0] & SIO_WS_RSV1) &&
        (!p->allow_rsv1 || (op != SIO_WS_TEXT && op != SIO_WS_BINARY)))
        return fail(p, SIO_EPROTO);
    switch (op) {
    case SIO_WS_CONT:
        if (!p->in_message)
            return fail(p, SIO_EPROTO);
        msg_op = p->message_opcode;
        break;
    case SIO_WS_TEXT:
    case SIO_WS_BINARY:
        if (p->in_message)
            return fail(p, SIO_EPROTO);
        msg_op = op;
        break;
    case SIO_WS_CLOSE:
    case SIO_WS_PING:
    case SIO_WS_PONG:
        if (!fin)
            return fail(p, SIO_EPROTO);
        msg_op = op;
        break;
    default:
        return fail(p, SIO_EPROTO);
    }

    if (len < 2)
        return SIO_AGAIN;
    masked = buf[1] >> 7;
    if (masked != p->server)
        return fail(p, SIO_EPROTO);
    plen = buf[1] & 0x7f;
    hdr = 2;
    if (plen == 126) {
        if (is_control(op))
            return fail(p, SIO_EPROTO);
        if (len < 4)
            return SIO_AGAIN;
        plen = sio_be16_get(buf + 2);
        hdr = 4;
    } else if (plen == 127) {
        if (is_control(op))
            return fail(p, SIO_EPROTO);
        if (len < 10)
            return SIO_AGAIN;
        if (buf[2] & 0x80)
            return fail(p, SIO_EPROTO);
        plen = sio_be64_get(buf + 2);
        hdr = 10;
    }
    if (!is_control(op)) {
        /* message_len <= max_message holds between frames */
        if (plen > p->max_message - p->message_len)
            return fail(p, SIO_ETOOBIG);
    }
    if (masked)
        hdr += 4;
    if (len < hdr || plen > len - hdr)
        return SIO_AGAIN;

    payload = buf + hdr;
    if (masked) {
        mask = payload - 4;
        for (i = 0; i < (size_t)plen; i++)
            payload[i] ^= mask[i & 3];
    }

    if (op == SIO_WS_CLOSE && plen > 0) {
        if (plen == 1)
            return fail(p, SIO_EPROTO);
        if (!close_code_ok(sio_be16_get(payload)))
            return fail(p, SIO_EPROTO);
        if (!sio_utf8_valid(payload + 2, (size_t)plen - 2))
            return fail(p, SIO_EUTF8);
    } else if (!is_control(op)) {
        if (op != SIO_WS_CONT)
            p->message_compressed = (buf[0] & SIO_WS_RSV1) != 0;
        if (msg_op == SIO_WS_TEXT && !p->message_compressed) {
            if (sio_utf8_feed(&p->utf8_state, payload, (size_t)plen) != SIO_OK)
                return fail(p, SIO_EUTF8);
            if (fin && p->utf8_state != SIO_UTF8_ACCEPT)
                return fail(p, SIO_EUTF8);
        }
        if (fin) {
            p->in_message = 0;
            p->message_opcode = 0;
            p->message_len = 0;
            p->utf8_state = SIO_UTF8_ACCEPT;
        } else {
            p->in_message = 1;
            p->message_opcode = msg_op;
            p->message_len += plen;
        }
    }

    out->fin = fin;
    out->opcode = op;
    out->message_opcode = msg_op;
    out->compressed = !is_control(op) && p->message_compressed;
    out->payload = payload;
    out->len = plen;
    *used = hdr + (size_t)plen;
    return SIO_OK;
}

/* Returns the close code that reports err to the peer. */
int sio_ws_close_code(int err)
{
    switch (err) {
    case SIO_ETOOBIG: return SIO_WS_CLOSE_TOO_BIG;
    case SIO_EUTF8:   return SIO_WS_CLOSE_BAD_DATA;
    default:          return SIO_WS_CLOSE_PROTOCOL;
    }
}

/* Returns 2, 4 or 10 bytes, plus 4 when masked. */
size_t sio_ws_header_len(uint64_t len, int masked)
{
    size_t n = len < 126 ? 2 : len <= 0xffff ? 4 : 10;

    return n + (masked ? 4 : 0);
}

/* Returns the header length (== sio_ws_header_len(len, mask != NULL)).
 * Lengths use the shortest encoding. */
size_t sio_ws_write_header(unsigned char *dst, int fin, int opcode,
                           uint64_t len, const unsigned char *mask)
{
    size_t n;
    unsigned char mbit = mask ? 0x80 : 0;

    dst[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & (0x0f | SIO_WS_RSV1)));
    if (len < 126) {
        dst[1] = (unsigned char)(mbit | len);
        n = 2;
    } else if (len <= 0xffff) {
        dst[1] = mbit | 126;
        sio_be16_put(dst + 2, (uint16_t)len);
        n = 4;
    } else {
        dst[1] = mbit | 127;
        sio_be64_put(dst + 2, len);
        n = 10;
    }
    if (mask) {
        memcpy(dst + n, mask, 4);
        n += 4;
    }
    return n;
}

/* XORs buf[0..n) with mask, as if buf started at byte off of a payload. */
void sio_ws_mask(unsigned char *buf, size_t n, const unsigned char mask[4],
                 size_t off)
{
    size_t i;

    for (i = 0; i < n; i++)
        buf[i] ^= mask[(off + i) & 3];
}

/* Returns the payload length (0, or 2 + reason bytes, at most 125). A code
 * that may not be sent (1005, 1006, 1015, out of range) gives an empty
 * payload, which tells the peer "no status"; reason may be NULL. */
size_t sio_ws_close_payload(unsigned char *dst, uint16_t code,
                            const char *reason)
{
    size_t rlen = reason ? strlen(reason) : 0;

    if (!close_code_ok(code))
        return 0;
    if (rlen > SIO_WS_MAX_CONTROL - 2) {
        rlen = SIO_WS_MAX_CONTROL - 2;
        /* back up to the start of the character that would be cut */
        while (rlen > 0 && ((unsigned char)reason[rlen] & 0xc0) == 0x80)
            rlen--;
    }
    sio_be16_put(dst, code);
    if (rlen)
        memcpy(dst + 2, reason, rlen);
    return 2 + rlen;
}

/* Returns the status code of a validated close payload, or 1005 (no status)
 * for an empty one. */
int sio_ws_close_payload_code(const unsigned char *payload, uint64_t len)
{
    if (len < 2)
        return SIO_WS_CLOSE_NO_STATUS;
    return sio_be16_get(payload);
}
