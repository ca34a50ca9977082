/* A counted cap on worker threads held for one purpose (long-polls,
 * WebSockets on the thread path): at most `limit` holders, counted either
 * per child or across the server in anonymous shared memory. Across the
 * server the count is a total, checked and raised with compare-and-swap,
 * plus one counter per scoreboard slot, so the parent gives back what a
 * child that died (crashed, killed) still held.
 *
 * Who may call: socketio_cap_create in post_config (the parent, before
 * the children fork: they inherit the cap); socketio_cap_child_exited
 * from the child_status hook (the parent); socketio_cap_take and the
 * accessors from any thread of a child. */
#ifndef SOCKETIO_CAP_H
#define SOCKETIO_CAP_H

#include "httpd.h"
#include "apr_pools.h"

typedef struct socketio_cap socketio_cap;

/* Returns a cap of limit holders allocated in pconf, counted across the
 * server (server_wide: in shared memory) or per child. When the shared
 * memory cannot be had it counts per child and logs a warning naming
 * directive. Never NULL (memory of pconf). */
socketio_cap *socketio_cap_create(apr_pool_t *pconf, server_rec *s, int limit,
                                  int server_wide, const char *directive);

/* The child in scoreboard slot `slot` exited: what it held is given back
 * (server-wide caps; no-op for NULL or per-child ones). */
void socketio_cap_child_exited(socketio_cap *cap, int slot);

/* Takes one holder if fewer than the limit are held: returns 1 and gives
 * it back when pool is cleared; otherwise returns 0 with *held set to the
 * count it saw. */
int socketio_cap_take(socketio_cap *cap, apr_pool_t *pool, unsigned *held);

/* The limit, and whether it counts across the server. */
int socketio_cap_limit(const socketio_cap *cap);
int socketio_cap_server_wide(const socketio_cap *cap);

#endif
