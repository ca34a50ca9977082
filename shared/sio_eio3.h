/* Engine.IO v3 (Socket.IO 2 clients) long-polling payloads: the text form
 * (`<length>:<packet>`, lengths in UTF-16 code units, binary packets as
 * "b4" + base64) and the XHR2 binary form (`<0|1><digits><0xff><packet>`
 * per packet), both decoded and encoded; and the v3 WebSocket binary
 * message, which starts with the packet type as a byte. Packets are the
 * sio_eio_packet of sio_eio.h. Pure: the caller owns every buffer. */
#ifndef SIO_EIO3_H
#define SIO_EIO3_H

#include "sio_eio.h"

/* Longest length field accepted when decoding (digits). */
#define SIO_EIO3_MAX_DIGITS 10

/* Payload forms (sio_eio3_encoded_len, sio_eio3_encode). */
enum sio_eio3_form {
    SIO_EIO3_TEXT = 0,    /* `<len>:<packet>`; binary as "b4" + base64 */
    SIO_EIO3_BINARY = 1   /* XHR2: `<0|1><digit bytes><0xff><packet>` */
};

/* Iterates the packets of a v3 polling payload (a POST body) in either
 * form: a body whose first byte is 0x00 or 0x01 is the binary form, else
 * the text form. The buffer is modified in place (base64 decoded where it
 * lies). Usage as sio_eio_payload_iter: init, then next until SIO_DONE.
 * A record of length 0 ("0:") carries no packet and is skipped. Returns
 * SIO_OK with *out (pointing into the buffer), SIO_DONE, or SIO_EPROTO
 * (empty body, bad length, a length past the end, unknown type, bad
 * base64, invalid UTF-8); after SIO_EPROTO every call returns it again. */
typedef struct sio_eio3_payload_iter {
    unsigned char *buf;
    size_t len;
    size_t off;
    int binary_form;
    int done;
    int count;
} sio_eio3_payload_iter;

void sio_eio3_payload_init(sio_eio3_payload_iter *it, unsigned char *buf,
                           size_t len);
int sio_eio3_payload_next(sio_eio3_payload_iter *it, sio_eio_packet *out);

/* Returns the UTF-16 code units of UTF-8 text s[0..n) (a character past
 * U+FFFF counts two), as JavaScript's String length; s must be valid. */
size_t sio_eio3_utf16_len(const unsigned char *s, size_t n);

/* Bytes sio_eio3_encode writes for p as one record of a payload in form
 * (enum sio_eio3_form). */
size_t sio_eio3_encoded_len(const sio_eio_packet *p, int form);

/* Writes p as one payload record in form into dst (room for
 * sio_eio3_encoded_len bytes; must not overlap p->data); records are
 * simply concatenated. Returns the bytes written. A binary packet counts
 * as MESSAGE; text data must be valid UTF-8. */
size_t sio_eio3_encode(unsigned char *dst, const sio_eio_packet *p, int form);

/* Decodes one v3 WebSocket message: text as in v4 (sio_eio_decode_ws);
 * binary as the type byte 4 (MESSAGE) then the bytes. Returns SIO_OK
 * (out->data points into msg) or SIO_EPROTO (an empty message, a binary
 * one of another type: Engine.IO has no other binary packet). */
int sio_eio3_decode_ws(const unsigned char *msg, size_t len, int binary,
                       sio_eio_packet *out);

#endif
