/* Standard base64 (RFC 4648, with padding), encode and decode. Pure. */
#ifndef SIO_BASE64_H
#define SIO_BASE64_H

#include "sio.h"

/* Bytes the encoding of n bytes takes (no NUL). */
size_t sio_base64_encoded_len(size_t n);

/* Encodes src into dst (room for sio_base64_encoded_len(n)); returns the
 * bytes written. */
size_t sio_base64_encode(char *dst, const unsigned char *src, size_t n);

/* Decodes src (length n, padding required, no whitespace) into dst, which
 * may be src itself (decoding in place is safe). Returns SIO_OK with *out_len
 * set, or SIO_EPROTO for bad length, characters or padding. */
int sio_base64_decode(unsigned char *dst, const char *src, size_t n,
                      size_t *out_len);

#endif
