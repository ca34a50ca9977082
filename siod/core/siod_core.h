/* The core layer's public header: what every other siod layer may use of
 * core, and nothing else of it. Core is siod's plain toolbox, on libc,
 * libevent and shared/ only, and calls no other layer:
 * - siod_log.h     the log file, levels and throttled logging
 * - siod_buf.h     reference-counted byte buffers shared by many sends
 * - siod_hash.h    the seeded open-addressing hash table
 * - siod_sid.h     random session and socket ids
 * - siod_secret.h  loading the relay secret
 * Other layers include this header, never the ones it names. */
#ifndef SIOD_CORE_H
#define SIOD_CORE_H

#include "siod_buf.h"
#include "siod_hash.h"
#include "siod_log.h"
#include "siod_secret.h"
#include "siod_sid.h"

#endif
