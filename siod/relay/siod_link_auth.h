/* The relay link's handshake, apart from the link's I/O: the relay secret,
 * the answer to the module's HELLO (siod's HELLO with a fresh nonce and
 * siod's proof of the secret) and the check of the module's AUTH proof.
 * Used by siod_link.c only; it calls nothing of the link back. */
#ifndef SIOD_LINK_AUTH_H
#define SIOD_LINK_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "sio_relay.h"

/* What one link's handshake learnt and chose. */
typedef struct siod_link_auth {
    unsigned char nonce_module[SIO_RELAY_NONCE_LEN];
    unsigned char nonce_siod[SIO_RELAY_NONCE_LEN];
    uint32_t max_body;       /* the module's, at most SIO_RELAY_MAX_BODY */
    uint16_t caps;           /* from the module's HELLO */
    uint32_t pid;
} siod_link_auth;

/* Return values besides 0: the module broke the handshake (why says how;
 * the link refuses it), or siod itself failed (no random bytes). */
#define SIOD_LINK_AUTH_REFUSED (-1)
#define SIOD_LINK_AUTH_FAILED (-2)

/* Takes the module's HELLO f into a and writes siod's answer: its HELLO
 * body into hello and its proof of the secret over both nonces into
 * proof. Returns 0, SIOD_LINK_AUTH_REFUSED with why[0..cap) set (bad
 * HELLO or version, no secret set), or SIOD_LINK_AUTH_FAILED with why
 * set. */
int siod_link_auth_hello(siod_link_auth *a, const sio_relay_frame *f,
                         unsigned char hello[SIO_RELAY_HELLO_LEN],
                         unsigned char proof[SIO_RELAY_PROOF_LEN],
                         char *why, size_t cap);

/* Checks the module's AUTH f against a (in constant time). Returns 0 when
 * it proves the secret, else SIOD_LINK_AUTH_REFUSED with why set. */
int siod_link_auth_check(const siod_link_auth *a, const sio_relay_frame *f,
                         char *why, size_t cap);

/* Forgets what a holds (its nonces). */
void siod_link_auth_clear(siod_link_auth *a);

#endif
