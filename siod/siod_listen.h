/* siod's listening Unix socket: creation (mode 0660, owned by the allowed
 * uid when running as root), accepting, and the SO_PEERCRED check that
 * runs before a single byte is read from a new connection. */
#ifndef SIOD_LISTEN_H
#define SIOD_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;

/* Creates the socket at path (replacing a stale socket nobody listens on)
 * and starts accepting on base. Connections whose peer uid is root, siod's
 * own uid or one of uids[0..n_uids) become relay links; others are logged
 * and closed. Returns 0 or a negative errno (logged). */
int siod_listen_open(struct event_base *base, const char *path,
                     const uid_t *uids, size_t n_uids);

/* Stops accepting, closes the socket and removes its path if it is still
 * ours. Safe to call when not open. */
void siod_listen_close(void);

#endif
