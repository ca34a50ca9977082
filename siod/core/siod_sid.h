/* Engine.IO session id generation: SIO_SID_LEN (20) characters of URL-safe
 * base64 (A-Z a-z 0-9 - _) over 15 random bytes from getrandom(2); with a
 * node tag (--node), its SIO_NODE_TAG_LEN characters take the place of the
 * first ones, so the id names the node that owns it. */
#ifndef SIOD_SID_H
#define SIOD_SID_H

#include "sio.h"

/* Fills out[0..SIO_SID_LEN) (not NUL-terminated) with a fresh random id.
 * Returns 0, or -errno if the kernel's random source fails. Uniqueness is
 * the caller's to check. */
int siod_sid_generate(char out[SIO_SID_LEN]);

/* Sets the node tag every later id begins with (startup, before any id).
 * Returns 0, or -EINVAL when tag is not a valid node tag
 * (sio_node_tag_valid). */
int siod_sid_set_node(const char *tag);

/* Returns this node's tag (NUL-terminated), or "" when it has none. */
const char *siod_sid_node(void);

#endif
