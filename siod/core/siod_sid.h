/* Engine.IO session id generation: SIO_SID_LEN (20) characters of URL-safe
 * base64 (A-Z a-z 0-9 - _) over 15 random bytes from getrandom(2). */
#ifndef SIOD_SID_H
#define SIOD_SID_H

#include "sio.h"

/* Fills out[0..SIO_SID_LEN) (not NUL-terminated) with a fresh random id.
 * Returns 0, or -errno if the kernel's random source fails. Uniqueness is
 * the caller's to check. */
int siod_sid_generate(char out[SIO_SID_LEN]);

#endif
