/* SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), for the relay link's
 * proof of the shared secret. Pure: the caller owns every buffer and the
 * context; nothing is allocated. */
#ifndef SIO_SHA256_H
#define SIO_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SIO_SHA256_LEN 32
#define SIO_SHA256_BLOCK 64

typedef struct sio_sha256 {
    uint32_t h[8];
    uint64_t total;                     /* bytes fed so far */
    unsigned char buf[SIO_SHA256_BLOCK];
    size_t used;                        /* bytes waiting in buf */
} sio_sha256;

/* Starts a digest in the caller's *c. */
void sio_sha256_init(sio_sha256 *c);

/* Feeds len bytes of data (any length, in as many calls as wanted). */
void sio_sha256_update(sio_sha256 *c, const void *data, size_t len);

/* Writes the 32-byte digest to out; *c must be initialised again before
 * reuse. */
void sio_sha256_final(sio_sha256 *c, unsigned char out[SIO_SHA256_LEN]);

/* HMAC-SHA-256 of the concatenation of parts[0..nparts) (lens[i] bytes
 * each) under key (any length). Writes 32 bytes to out. */
void sio_hmac_sha256(const unsigned char *key, size_t key_len,
                     const void *const *parts, const size_t *lens,
                     size_t nparts, unsigned char out[SIO_SHA256_LEN]);

/* Returns 1 when a and b (len bytes each) are equal, else 0, in a time
 * that depends on len only (for comparing secrets and proofs). */
int sio_equal_ct(const unsigned char *a, const unsigned char *b, size_t len);

#endif
