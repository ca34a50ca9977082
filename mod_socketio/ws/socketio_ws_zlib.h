/* permessage-deflate's compressor for WebSockets (socketio_ws_zlib.c):
 * each message deflated or inflated on its own, with a pair of zlib
 * streams per reactor and one shared by a child's WebSocket threads.
 * Private to ws/. Who may call: socketio_wsz_child_init, the child_init
 * hook; the rest, a WebSocket's owner (the reactor thread, or the thread
 * holding it), each acquire paired with a release on the same thread. */
#ifndef SOCKETIO_WS_ZLIB_H
#define SOCKETIO_WS_ZLIB_H

#include "apr_pools.h"

typedef struct socketio_wsz socketio_wsz;

#define SOCKETIO_WSZ_NOMEM (-1)       /* no memory: send the message plain,
                                       * or close (1011) an inflate */
#define SOCKETIO_WSZ_TOOBIG (-2)      /* inflated over the limit (1009) */
#define SOCKETIO_WSZ_BAD (-3)         /* not valid deflate data (1007) */

/* Sets up the lock of the threads' compressor and frees both at exit. */
void socketio_wsz_child_init(apr_pool_t *pchild);

/* The compressor of the calling thread: the reactor's (on_reactor: no
 * lock), else the threads' (locked until socketio_wsz_release). Made on
 * first use. Returns NULL when zlib cannot be set up (memory): the caller
 * sends plain, or closes a WebSocket that sent a compressed message. */
socketio_wsz *socketio_wsz_acquire(int on_reactor);
void socketio_wsz_release(socketio_wsz *z);

/* Deflates in[0..len) as one message of permessage-deflate (sync flush,
 * its 4-byte tail removed): *out, *olen point into z's buffer, valid
 * until the next call on z. Returns 0, or SOCKETIO_WSZ_NOMEM. */
int socketio_wsz_deflate(socketio_wsz *z, const void *in, apr_size_t len,
                         const unsigned char **out, apr_size_t *olen);

/* Inflates one received message in[0..len) (the tail put back here), to
 * at most max bytes: *out, *olen as for deflate. Returns 0,
 * SOCKETIO_WSZ_TOOBIG, SOCKETIO_WSZ_BAD or SOCKETIO_WSZ_NOMEM. */
int socketio_wsz_inflate(socketio_wsz *z, const void *in, apr_size_t len,
                         apr_size_t max, const unsigned char **out,
                         apr_size_t *olen);

#endif
