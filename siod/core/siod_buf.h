/* Reference-counted byte buffers for packets that several sessions send:
 * a broadcast is encoded once into a siod_buf and every recipient's queue
 * or relay link holds a reference instead of a copy. One byte of headroom
 * before the payload holds the Engine.IO packet type, so a text message
 * ("4" + payload) is contiguous and can be written as is. */
#ifndef SIOD_BUF_H
#define SIOD_BUF_H

#include <stddef.h>

typedef struct siod_buf {
    unsigned refs;
    size_t len;               /* payload bytes, at bytes + 1 */
    unsigned char bytes[];    /* bytes[0]: '4' (Engine.IO "message") */
} siod_buf;

/* Returns a buffer with room for len payload bytes (uninitialised) and one
 * reference owned by the caller, or NULL if memory runs out. */
siod_buf *siod_buf_new(size_t len);

/* Returns the payload (len bytes, writable while the caller holds the only
 * reference). */
static inline unsigned char *siod_buf_data(siod_buf *b)
{
    return b->bytes + 1;
}

/* Takes one more reference; returns b. */
siod_buf *siod_buf_ref(siod_buf *b);

/* Drops one reference; the last one frees the buffer. NULL is a no-op. */
void siod_buf_unref(siod_buf *b);

#endif
