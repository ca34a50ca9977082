/* Answers for the polls of recently closed polling sessions: a ring of
 * entries, each the answer its session's next GET still gets for a short
 * grace (see siod_poll.c: a noop, or the packets the server queued
 * before closing and then the close packet). A plain data structure with
 * the clock passed in (ms), so its lifetime rules are testable alone; the
 * session layer drives it from the loop. */
#ifndef SIOD_CLOSED_H
#define SIOD_CLOSED_H

#include <stddef.h>
#include <stdint.h>

#include "sio_relay.h"

enum siod_closed_kind {
    SIOD_CLOSED_NOOP,      /* the next GET gets "6" */
    SIOD_CLOSED_PAYLOAD,   /* the next GET the payload, the one after "1" */
    SIOD_CLOSED_CLOSE      /* the next GET gets "1" */
};

typedef struct siod_closed_ring siod_closed_ring;

/* What a GET for a remembered session gets (siod_closed_take). */
typedef struct siod_closed_answer {
    enum siod_closed_kind kind;
    int eio3;                      /* remembered for an Engine.IO 3
                                    * session: its noop and close packets
                                    * are "1:6" and "1:1" */
    unsigned char *payload;        /* PAYLOAD: malloc'd, the caller's */
    size_t len;
} siod_closed_answer;

/* Returns a ring of slots entries, each answering for grace_ms; payloads
 * held together are kept within max_bytes. NULL if memory runs out. Freed
 * with siod_closed_free (NULL: no-op), which frees every payload. */
siod_closed_ring *siod_closed_new(unsigned slots, unsigned grace_ms,
                                  size_t max_bytes);
void siod_closed_free(siod_closed_ring *r);

/* Remembers session sid at time now (ms), reusing the oldest slot. Takes
 * ownership of payload (may be NULL; only for SIOD_CLOSED_PAYLOAD). To
 * stay within the byte bound, older entries' payloads are dropped first
 * (they then answer with the close packet alone), and a payload larger
 * than the bound is not kept (the entry answers with the close packet).
 * Returns the number of payloads so dropped (0 normally). */
unsigned siod_closed_remember(siod_closed_ring *r,
                              const char sid[SIO_SID_LEN],
                              enum siod_closed_kind kind,
                              unsigned char *payload, size_t len,
                              uint64_t now);

/* As siod_closed_remember, for an Engine.IO 3 session: the answers it
 * hands out are marked eio3. */
unsigned siod_closed_remember_v3(siod_closed_ring *r,
                                 const char sid[SIO_SID_LEN],
                                 enum siod_closed_kind kind,
                                 unsigned char *payload, size_t len,
                                 uint64_t now);

/* A GET for sid at time now: returns 1 and fills *out if an entry still
 * answers for it (a PAYLOAD entry hands its payload to the caller and
 * answers the next GET with the close packet), else 0. */
int siod_closed_take(siod_closed_ring *r, const char sid[SIO_SID_LEN],
                     uint64_t now, siod_closed_answer *out);

/* Forgets entries whose grace ended before now, freeing their payloads.
 * Returns the time (ms) the first remaining entry ends, 0 if none is
 * left: call it again then. */
uint64_t siod_closed_expire(siod_closed_ring *r, uint64_t now);

/* Returns the payload bytes the ring holds, and its live entries. */
size_t siod_closed_bytes(const siod_closed_ring *r);
size_t siod_closed_count(const siod_closed_ring *r);

#endif
