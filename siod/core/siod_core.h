/* The core layer's public header: what every other siod layer may use of
 * core, and nothing else of it. Core is siod's plain toolbox, on libc,
 * libevent and shared/ only, and calls no other layer:
 * - siod_err.h     the error model's helpers (the model is below)
 * - siod_log.h     the log file, levels and throttled logging
 * - siod_buf.h     reference-counted byte buffers shared by many sends
 * - siod_hash.h    the seeded open-addressing hash table
 * - siod_sid.h     random session and socket ids
 * - siod_secret.h  loading the relay secret
 * - siod_stats.h   counters and gauges for the status page and metrics
 * - siod_heap.h    the heap's figures, free memory given back
 * Other layers include this header, never the ones it names.
 *
 * Errors: one model for all of siod (libuv's negative errno codes,
 * hiredis's error text), which every layer follows:
 * - A function that can fail returns 0, or a non-negative count or value,
 *   on success and a negative errno code on failure; one that returns a
 *   pointer returns NULL, meaning out of memory unless its contract says
 *   otherwise. A code means the same everywhere: -ENOMEM out of memory,
 *   -EINVAL a bad argument, -EPROTO a peer broke a protocol, -EPIPE a
 *   broken or closed link or session, -EMSGSIZE more than a peer takes at
 *   once, -ENOSPC / -ENOBUFS / -EMFILE / -EBUSY a limit reached, -ENOENT
 *   no such thing, -ETIMEDOUT, or the errno of a failed system call. Each
 *   function's contract names the codes it returns.
 * - The detail (which conn, which limit, which file) goes into a caller's
 *   buffer (char *why, size_t cap, filled with siod_err_set) or stays in
 *   the object that failed (a relay link keeps why it broke). A function
 *   that returns a failure never logs it.
 * - A failure is logged once, where it stops travelling: when a relay
 *   frame's handler returns to the link's dispatch, in the event loop's
 *   callbacks (accept, read, write, timers, the deferred and reaper
 *   passes) and in main at startup; siod_strerror renders a code there.
 *   Lines a client or a connecting process can repeat stay throttled at
 *   those sites (siod_log_limited; docs/limits.md, "Logging").
 * - Events that are no failure (a session opens, upgrades or closes, a
 *   handshake refused at a limit) are logged where the state changes, as
 *   transit() logs its transitions.
 * The application ABI (sio/siod_app.h: SIOD_OK, SIOD_E*) is a published
 * interface of its own; the sio layer translates to it at that edge. */
#ifndef SIOD_CORE_H
#define SIOD_CORE_H

#include "siod_buf.h"
#include "siod_err.h"
#include "siod_hash.h"
#include "siod_heap.h"
#include "siod_log.h"
#include "siod_secret.h"
#include "siod_sid.h"
#include "siod_stats.h"

#endif
