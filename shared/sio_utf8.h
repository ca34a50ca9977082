/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), resumable across fragments. Pure. */
#ifndef SIO_UTF8_H
#define SIO_UTF8_H

#include "sio.h"

#define SIO_UTF8_ACCEPT 0u

/* Feeds n bytes to the validator whose state starts at SIO_UTF8_ACCEPT.
 * Returns SIO_OK (valid so far; *state is SIO_UTF8_ACCEPT when the input
 * ends on a character boundary) or SIO_EUTF8 (invalid; stays invalid). */
int sio_utf8_feed(uint32_t *state, const unsigned char *s, size_t n);

/* Returns 1 if s[0..n) is complete, valid UTF-8, else 0. */
int sio_utf8_valid(const unsigned char *s, size_t n);

#endif
