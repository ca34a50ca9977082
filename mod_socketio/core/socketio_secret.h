/* The relay secret on the module's side: read from SocketIODaemonSecret in
 * post_config, while httpd's parent still runs as root, and kept in memory
 * that every child inherits; a child proves with it that it is httpd when
 * it opens a relay link (docs/security.md).
 *
 * Who may call: socketio_secret_post_config runs in httpd's parent only
 * (the post_config hook, as root); afterwards the loaded key is read-only
 * and any thread of a child may read it. */
#ifndef SOCKETIO_SECRET_H
#define SOCKETIO_SECRET_H

#include "httpd.h"

#include "sio_relay.h"

/* One loaded secret, allocated from pconf and wiped when pconf is
 * cleared (restart). */
typedef struct socketio_secret {
    const char *path;
    apr_size_t len;
    unsigned char key[SIO_RELAY_SECRET_MAX];
} socketio_secret;

/* post_config: loads the secret file of every server (creating it, mode
 * 0600, when absent) into pconf and points the server's record at it.
 * A file that cannot be used (unreadable, readable by group or others,
 * owned by httpd's User, malformed) is logged at error level and leaves
 * that server without a secret: its relay links are not opened and
 * Socket.IO answers 503, while the rest of the site works. Returns OK. */
int socketio_secret_post_config(apr_pool_t *pconf, server_rec *s);

#endif
