/* Engine.IO v4 packets and the long-polling payload: decode from a WebSocket
 * message or a polling body (records split by 0x1e, binary as 'b' + base64),
 * encode the other way. Pure: the caller owns every buffer. */
#ifndef SIO_EIO_H
#define SIO_EIO_H

#include "sio.h"

enum sio_eio_type {
    SIO_EIO_OPEN = 0,
    SIO_EIO_CLOSE = 1,
    SIO_EIO_PING = 2,
    SIO_EIO_PONG = 3,
    SIO_EIO_MESSAGE = 4,
    SIO_EIO_UPGRADE = 5,
    SIO_EIO_NOOP = 6
};

#define SIO_EIO_SEPARATOR 0x1e

typedef struct sio_eio_packet {
    int type;                   /* enum sio_eio_type */
    int binary;                 /* 1: data is binary (type is MESSAGE) */
    const unsigned char *data;  /* payload after the type character */
    size_t len;
} sio_eio_packet;

/* Decodes one packet carried by one WebSocket message. A binary message is
 * a MESSAGE with the bytes as is; a text message is a type digit '0'..'6'
 * followed by UTF-8 data. Returns SIO_OK, or SIO_EPROTO (empty, unknown
 * type). out->data points into msg. */
int sio_eio_decode_ws(const unsigned char *msg, size_t len, int binary,
                      sio_eio_packet *out);

/* Iterates the packets of a polling payload (a POST body). The buffer is
 * modified in place: base64 binary packets are decoded where they lie.
 * Usage: sio_eio_payload_init(&it, body, len); then call next until
 * SIO_DONE. Returns SIO_OK with *out (pointing into the buffer), SIO_DONE,
 * or SIO_EPROTO (empty record, unknown type, bad base64, invalid UTF-8). */
typedef struct sio_eio_payload_iter {
    unsigned char *buf;
    size_t len;
    size_t off;
    int done;
} sio_eio_payload_iter;

void sio_eio_payload_init(sio_eio_payload_iter *it, unsigned char *buf,
                          size_t len);
int sio_eio_payload_next(sio_eio_payload_iter *it, sio_eio_packet *out);

/* Bytes sio_eio_encode will write for p. polling=1: the form used inside a
 * polling payload (binary as 'b' + base64); polling=0: the WebSocket
 * message body (binary as the raw bytes, text as type digit + data). */
size_t sio_eio_encoded_len(const sio_eio_packet *p, int polling);

/* Writes p encoded into dst (room for sio_eio_encoded_len bytes); returns
 * the bytes written. */
size_t sio_eio_encode(unsigned char *dst, const sio_eio_packet *p, int polling);

#endif
