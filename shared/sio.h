/* Common return codes and limits for the pure codecs in shared/.
 * Every parser returns SIO_OK, SIO_AGAIN ("need more bytes") or a negative
 * SIO_E* protocol error; the two are never confused. */
#ifndef SIO_H
#define SIO_H

#include <stddef.h>
#include <stdint.h>

#define SIO_OK 0
#define SIO_AGAIN 1      /* input ends before a whole unit: feed more bytes */
#define SIO_DONE 2       /* an iterator has no more items */

#define SIO_EPROTO -1    /* malformed input */
#define SIO_ETOOBIG -2   /* over a configured size limit */
#define SIO_EUTF8 -3     /* invalid UTF-8 where text is required */
#define SIO_ENOSPC -4    /* caller's output buffer too small */
#define SIO_EINVAL -5    /* caller passed invalid arguments */

/* Engine.IO session ids are 20 characters, URL-safe base64 alphabet. */
#define SIO_SID_LEN 20

/* A cluster node's tag: SIO_NODE_TAG_LEN characters of the sid alphabet
 * (A-Z a-z 0-9 - _). A node's session ids begin with it, so any node can
 * tell which one owns a session (docs/cluster.md). */
#define SIO_NODE_TAG_LEN 2

/* Returns 1 when tag[0..len) is a valid node tag (exactly SIO_NODE_TAG_LEN
 * characters of the sid alphabet), else 0. */
int sio_node_tag_valid(const char *tag, size_t len);

/* Returns a short static English description of a SIO_* code. */
const char *sio_strerror(int code);

#endif
