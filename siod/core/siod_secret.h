/* The relay secret on siod's side: the file both siod and the httpd module
 * read to prove themselves to each other on a relay link (see
 * docs/security.md). siod creates it at start when it is absent. */
#ifndef SIOD_SECRET_H
#define SIOD_SECRET_H

#include <stddef.h>

#include "sio_relay.h"

/* Reads the secret file at path into key[0..SIO_RELAY_SECRET_MAX) and
 * sets *key_len; creates the file first (SIO_RELAY_SECRET_GEN_LEN random
 * hex digits, mode 0600, atomically) when it does not exist. Refuses a
 * file that is not a regular file, that group or others may access, or
 * whose owner is neither root nor siod's effective uid. Returns 0, or a
 * negative errno with the reason in err[0..errlen). The caller owns key
 * and clears it when done. */
int siod_secret_load(const char *path, unsigned char *key, size_t *key_len,
                     char *err, size_t errlen);

#endif
