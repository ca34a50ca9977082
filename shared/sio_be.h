/* Big-endian integers read and written byte by byte, so nothing depends on
 * the host's byte order or on a buffer's alignment. The one set for the
 * relay codec and its users (shared/, siod/, mod_socketio/). */
#ifndef SIO_BE_H
#define SIO_BE_H

#include <stdint.h>

/* Each get reads the integer at p; each put writes v at p. */
static inline uint16_t sio_be16_get(const unsigned char *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t sio_be32_get(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline uint64_t sio_be64_get(const unsigned char *p)
{
    return (uint64_t)sio_be32_get(p) << 32 | sio_be32_get(p + 4);
}

static inline void sio_be16_put(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static inline void sio_be32_put(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static inline void sio_be64_put(unsigned char *p, uint64_t v)
{
    sio_be32_put(p, (uint32_t)(v >> 32));
    sio_be32_put(p + 4, (uint32_t)v);
}

#endif
