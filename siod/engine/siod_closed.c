/* The closed-session ring (siod_closed.h): a fixed array of entries reused
 * oldest first, searched by session id. Expired entries are emptied by
 * siod_closed_expire (the session layer runs it from a timer, so their
 * payloads go back without further traffic), and the payloads held
 * together never pass the ring's byte bound. */
#include "siod_closed.h"

#include <stdlib.h>
#include <string.h>

struct entry {
    char sid[SIO_SID_LEN];
    int used;
    uint64_t until_ms;
    enum siod_closed_kind kind;
    int eio3;                        /* an Engine.IO 3 session's */
    unsigned char *payload;          /* PAYLOAD: owned */
    size_t len;
};

struct siod_closed_ring {
    struct entry *v;
    unsigned slots;
    unsigned next;                   /* the slot reused next (the oldest) */
    unsigned grace_ms;
    size_t max_bytes;
    size_t bytes;                    /* payload bytes held */
    size_t count;                    /* used entries */
};

siod_closed_ring *siod_closed_new(unsigned slots, unsigned grace_ms,
                                  size_t max_bytes)
{
    siod_closed_ring *r = calloc(1, sizeof *r);
    if (r == NULL || slots == 0)
        goto fail;
    r->v = calloc(slots, sizeof *r->v);
    if (r->v == NULL)
        goto fail;
    r->slots = slots;
    r->grace_ms = grace_ms;
    r->max_bytes = max_bytes;
    return r;
fail:
    free(r);
    return NULL;
}

/* Empties e, freeing its payload. */
static void entry_clear(siod_closed_ring *r, struct entry *e)
{
    if (!e->used)
        return;
    free(e->payload);
    r->bytes -= e->len;
    r->count--;
    memset(e, 0, sizeof *e);
}

void siod_closed_free(siod_closed_ring *r)
{
    if (r == NULL)
        return;
    for (unsigned i = 0; i < r->slots; i++)
        entry_clear(r, &r->v[i]);
    free(r->v);
    free(r);
}

/* Drops payloads, oldest entry first, until extra more bytes fit within
 * the bound; their entries stay and answer with the close packet. Returns
 * the number of payloads dropped. */
static unsigned make_room(siod_closed_ring *r, size_t extra)
{
    unsigned dropped = 0;
    for (unsigned k = 0; k < r->slots && r->bytes > r->max_bytes - extra;
         k++) {
        struct entry *e = &r->v[(r->next + k) % r->slots];
        if (!e->used || e->payload == NULL)
            continue;
        free(e->payload);
        r->bytes -= e->len;
        e->payload = NULL;
        e->len = 0;
        e->kind = SIOD_CLOSED_CLOSE;
        dropped++;
    }
    return dropped;
}

unsigned siod_closed_remember(siod_closed_ring *r,
                              const char sid[SIO_SID_LEN],
                              enum siod_closed_kind kind,
                              unsigned char *payload, size_t len,
                              uint64_t now)
{
    struct entry *e = &r->v[r->next];
    unsigned dropped = 0;

    r->next = (r->next + 1) % r->slots;
    entry_clear(r, e);
    if (payload == NULL)
        len = 0;
    if (payload != NULL && len > r->max_bytes) {
        /* more than the whole ring may hold: the next GET gets the close
         * packet without the packets queued before it */
        free(payload);
        payload = NULL;
        len = 0;
        kind = SIOD_CLOSED_CLOSE;
        dropped++;
    } else if (payload != NULL) {
        dropped += make_room(r, len);
    }
    memcpy(e->sid, sid, SIO_SID_LEN);
    e->used = 1;
    e->until_ms = now + r->grace_ms;
    e->kind = kind;
    e->eio3 = 0;
    e->payload = payload;
    e->len = len;
    r->bytes += len;
    r->count++;
    return dropped;
}

unsigned siod_closed_remember_v3(siod_closed_ring *r,
                                 const char sid[SIO_SID_LEN],
                                 enum siod_closed_kind kind,
                                 unsigned char *payload, size_t len,
                                 uint64_t now)
{
    /* the entry just written is the one before next */
    unsigned slot = r->next;
    unsigned dropped = siod_closed_remember(r, sid, kind, payload, len, now);

    r->v[slot].eio3 = 1;
    return dropped;
}

int siod_closed_take(siod_closed_ring *r, const char sid[SIO_SID_LEN],
                     uint64_t now, siod_closed_answer *out)
{
    for (unsigned i = 0; i < r->slots; i++) {
        struct entry *e = &r->v[i];
        if (!e->used || e->until_ms < now ||
            memcmp(e->sid, sid, SIO_SID_LEN) != 0)
            continue;
        out->kind = e->kind;
        out->eio3 = e->eio3;
        out->payload = NULL;
        out->len = 0;
        if (e->kind == SIOD_CLOSED_PAYLOAD) {
            out->payload = e->payload;
            out->len = e->len;
            r->bytes -= e->len;
            e->payload = NULL;
            e->len = 0;
            e->kind = SIOD_CLOSED_CLOSE;
            e->until_ms = now + r->grace_ms;
        } else {
            entry_clear(r, e);   /* answered once */
        }
        return 1;
    }
    return 0;
}

uint64_t siod_closed_expire(siod_closed_ring *r, uint64_t now)
{
    uint64_t next = 0;
    for (unsigned i = 0; i < r->slots && r->count > 0; i++) {
        struct entry *e = &r->v[i];
        if (!e->used)
            continue;
        if (e->until_ms < now)
            entry_clear(r, e);
        else if (next == 0 || e->until_ms < next)
            next = e->until_ms;
    }
    return next;
}

size_t siod_closed_bytes(const siod_closed_ring *r)
{
    return r->bytes;
}

size_t siod_closed_count(const siod_closed_ring *r)
{
    return r->count;
}
