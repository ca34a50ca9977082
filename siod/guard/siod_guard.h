/* The guard layer's public header: what siod refuses before it does work
 * for a client. Rate limits (a token bucket per socket for its events, one
 * per client address for its handshakes, and the counters a status query
 * reads) and payload schemas (a JSON Schema subset per event name, compiled
 * at start-up, checked against an event's arguments). The layer sits on
 * core and json-c; the engine asks it about handshakes, the Socket.IO layer
 * about events (docs/limits.md, docs/schemas.md). Single event-loop thread.
 *
 * Who calls whom inside the layer: siod_schema_dir.c (the schema
 * directory, event names as file names) -> siod_schema_compile.c (a schema
 * file into nodes) -> siod_schema_check.c (an instance against nodes);
 * siod_guard_rate.c calls none of them. */
#ifndef SIOD_GUARD_H
#define SIOD_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* ---- rate limits --------------------------------------------------------- */

/* The settings of the rate limits (siod options; 0 turns a limit off). */
typedef struct siod_guard_config {
    double event_rate;            /* --event-rate: events a second a socket */
    double event_burst;           /* --event-burst: bucket size (>= 1) */
    unsigned flood_drops;         /* --event-flood-drops: drops that
                                     disconnect (0: never) */
    unsigned flood_window_ms;     /* --event-flood-window (ms) */
    double handshake_rate;        /* --handshake-rate: per address a second */
    double handshake_burst;       /* --handshake-burst */
} siod_guard_config;

/* The counters the limits keep, since start. A status query reads them
 * with siod_guard_stats_get. */
typedef struct siod_guard_stats {
    uint64_t events_dropped;      /* events over --event-rate, dropped */
    uint64_t acks_refused;        /* of those, events answered with an error
                                     object in their ack */
    uint64_t sockets_flooding;    /* sockets disconnected for flooding */
    uint64_t handshakes_limited;  /* handshakes over --handshake-rate (429) */
    uint64_t sessions_per_addr;   /* handshakes over
                                     --max-sessions-per-address (429) */
    uint64_t payloads_checked;    /* events checked against a schema */
    uint64_t payloads_invalid;    /* of those, refused (not delivered) */
    uint64_t addresses;           /* addresses with a handshake bucket now */
} siod_guard_stats;

/* A token bucket: `tokens` of the burst left at `last_ms`. Zeroed, it is
 * full at its first use. */
typedef struct siod_guard_bucket {
    double tokens;
    int64_t last_ms;              /* 0: never used */
} siod_guard_bucket;

/* A socket's event limiter, zeroed with the socket; the Socket.IO layer
 * keeps one in each socket. */
typedef struct siod_guard_socket {
    siod_guard_bucket bucket;
    unsigned drops;               /* drops in the current flood window */
    int64_t window_ms;            /* when that window began */
} siod_guard_socket;

/* What siod_guard_event decides. */
enum siod_guard_verdict {
    SIOD_GUARD_PASS = 0,          /* deliver the event */
    SIOD_GUARD_DROP = 1,          /* over the rate: drop it */
    SIOD_GUARD_FLOOD = 2          /* over the rate and flooding: drop it and
                                     disconnect the socket */
};

/* Sets the limits (copied); before any other call. */
void siod_guard_configure(const siod_guard_config *cfg);

/* The limits in force. */
const siod_guard_config *siod_guard_config_get(void);

/* Takes one token from b (rate per second, burst at most) at time now_ms
 * (any monotonic clock in ms). Returns 1 if there was one, 0 if not (b
 * then unchanged but for the refill). rate 0: always 1. Pure. */
int siod_guard_bucket_take(siod_guard_bucket *b, double rate, double burst,
                           int64_t now_ms);

/* One event arrives on the socket g belongs to, at now_ms: its verdict
 * under --event-rate and --event-flood-*, counted in the stats. Pure but
 * for the stats. */
enum siod_guard_verdict siod_guard_event_at(siod_guard_socket *g,
                                            int64_t now_ms);

/* siod_guard_event_at now (CLOCK_MONOTONIC). */
enum siod_guard_verdict siod_guard_event(siod_guard_socket *g);

/* A handshake from client address addr[0..len): 0 if it may proceed (its
 * token taken), -EBUSY if over --handshake-rate (counted), -ENOMEM if no
 * entry could be made for the address (the handshake proceeds unlimited:
 * the caller treats it as 0). Loopback exemption is the caller's. */
int siod_guard_handshake(const char *addr, size_t len);

/* siod_guard_handshake at time now_ms (any monotonic clock in ms, as
 * siod_guard_event_at). */
int siod_guard_handshake_at(const char *addr, size_t len, int64_t now_ms);

/* Counts a handshake refused over --max-sessions-per-address (a limit the
 * engine enforces itself). */
void siod_guard_note_sessions_per_addr(void);

/* Counts a drop whose ack was answered with an error object. */
void siod_guard_note_ack_refused(void);

/* Counts an event checked against a schema; valid 0 if it was refused. */
void siod_guard_note_payload(int valid);

/* The counters since start (valid until the next call into the layer). */
const siod_guard_stats *siod_guard_stats_get(void);

/* Frees the per-address table. */
void siod_guard_cleanup(void);

/* ---- payload schemas ---------------------------------------------------- */

typedef struct siod_schema siod_schema;

/* The outcome of a failed check: where in the instance (a JSON pointer,
 * "" for the argument array itself) and why. */
typedef struct siod_schema_fail {
    char path[512];
    char why[256];
} siod_schema_fail;

/* Compiles the schema text json[0..len) (a JSON Schema of the subset
 * docs/schemas.md lists). Returns 0 with *out set (free it with
 * siod_schema_free), -EINVAL with why[0..cap) = "JSON-POINTER: problem"
 * (the pointer into the schema, "" for its root), or -ENOMEM. */
int siod_schema_compile(const char *json, size_t len, siod_schema **out,
                        char *why, size_t cap);

/* Frees a compiled schema; NULL is a no-op. */
void siod_schema_free(siod_schema *sc);

/* Checks the instance json[0..len) (JSON text: an event's arguments as one
 * array) against sc. A Socket.IO binary placeholder
 * {"_placeholder":true,"num":N} with N < nbins is binary argument N, of
 * bin_lens[N] bytes. Returns 0 (valid), -EINVAL (invalid: *fail says
 * where and why), -EPROTO (not JSON, or nested deeper than 128: *fail
 * says so) or -ENOMEM. */
int siod_schema_check(const siod_schema *sc, const char *json, size_t len,
                      const size_t *bin_lens, unsigned nbins,
                      siod_schema_fail *fail);

/* Loads every DIR/NAME.json as the schema of the event whose name NAME
 * escapes (docs/schemas.md: %XX is byte XX; files beginning with '.' are
 * skipped). Returns the number of schemas loaded, or -EINVAL / -ENOENT /
 * -ENOMEM / an errno of opendir with why[0..cap) = "FILE: JSON-POINTER:
 * problem" or what else failed. Replaces any set loaded before. */
int siod_schemas_load(const char *dir, char *why, size_t cap);

/* The schema of event name[0..len), or NULL if it has none. */
const siod_schema *siod_schemas_find(const char *name, size_t len);

/* The number of schemas loaded. */
size_t siod_schemas_count(void);

/* Frees the loaded schemas. */
void siod_schemas_cleanup(void);

/* Decodes a schema file's name (without ".json") into the event name:
 * %XX (two hex digits) is byte XX, any other byte stands for itself.
 * Writes at most cap-1 bytes and a NUL to out. Returns the name's length,
 * or -EINVAL (a bad escape, an empty name, U+0000, or not UTF-8) or
 * -ENAMETOOLONG. Pure. */
int siod_schema_name_decode(const char *file, size_t len, char *out,
                            size_t cap);

/* Encodes event name[0..len) as a file name (without ".json"): bytes of
 * A-Z a-z 0-9 - _ . stay, but for a leading '.'; every other byte is %XX
 * (upper-case hex). Writes a NUL-terminated name into out[0..cap).
 * Returns its length or -ENAMETOOLONG. Pure. */
int siod_schema_name_encode(const char *name, size_t len, char *out,
                            size_t cap);

#endif
