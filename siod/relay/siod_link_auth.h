/* The relay link's handshake, apart from the link's I/O: the relay secret,
 * the answer to the module's HELLO (siod's HELLO with a fresh nonce and
 * siod's proof of the secret) and the check of the module's AUTH proof.
 * Used by siod_link.c (siod_link_base.c clears it); it calls nothing of
 * the link back. */
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

/* Is rc, a failure of the two calls below, a refusal (the module broke
 * the handshake or cannot be trusted; the link refuses it) rather than
 * siod's own failure? Returns 1 or 0. */
int siod_link_auth_refused(int rc);

/* Takes the module's HELLO f into a and writes siod's answer: its HELLO
 * body into hello (*hello_len bytes; with siod's node tag when the module
 * set SIO_RELAY_CAP_NODE) and its proof of the secret over both nonces into
 * proof. Returns 0, or with why[0..cap) set a refusal: -EPROTO (not a
 * valid HELLO), -EPROTONOSUPPORT (another relay version), -EACCES (siod
 * has no secret); or siod's own failure: the errno of getrandom(2)
 * (negative) when it gives no random bytes for the nonce. */
int siod_link_auth_hello(siod_link_auth *a, const sio_relay_frame *f,
                         unsigned char hello[SIO_RELAY_HELLO_NODE_LEN],
                         size_t *hello_len,
                         unsigned char proof[SIO_RELAY_PROOF_LEN],
                         char *why, size_t cap);

/* Checks the module's AUTH f against a (in constant time). Returns 0 when
 * it proves the secret, else with why set -EPROTO (not an AUTH frame of
 * the proof's length) or -EACCES (a wrong proof); both are refusals. */
int siod_link_auth_check(const siod_link_auth *a, const sio_relay_frame *f,
                         char *why, size_t cap);

/* Adds caps (SIO_RELAY_CAP_PEERS: a table follows every handshake) to the
 * HELLO of every link from now on. */
void siod_link_auth_offer(uint16_t caps);

/* Forgets what a holds (its nonces). */
void siod_link_auth_clear(siod_link_auth *a);

#endif
