/* Open sessions per client address (--max-sessions-per-address): a count
 * per address, created with its first session and freed with its last.
 * Called by the session layer's files; calls none of them. */
#include "core/siod_core.h"
#include "siod_engine_int.h"

#include <stdlib.h>
#include <string.h>

static siod_hash addrs;              /* client address -> siod_addr_count */

static int addr_eq(const void *item, const void *key)
{
    const struct siod_addr_count *a = item;
    const struct siod_addr_key *k = key;
    return a->len == k->len && memcmp(a->addr, k->addr, k->len) == 0;
}

/* The client address an OPEN names (its "remote_addr", at most
 * SIOD_ADDR_KEY_MAX bytes of it; empty if absent). */
struct siod_addr_key siod_addr_from_open(const sio_relay_frame *f)
{
    sio_relay_kv kv;
    struct siod_addr_key k = { "", 0 };
    if (sio_relay_kv_find(f->body, f->len, "remote_addr", &kv) == SIO_OK) {
        k.addr = kv.val;
        k.len = kv.val_len < SIOD_ADDR_KEY_MAX ? kv.val_len
                                               : SIOD_ADDR_KEY_MAX;
    }
    return k;
}

/* Is k a loopback address (127.0.0.0/8, ::1, or 127.x mapped to IPv6)?
 * Those are not limited per address: they are this host's own processes,
 * or a reverse proxy on it through which every client would share one. */
int siod_addr_is_loopback(const struct siod_addr_key *k)
{
    static const char *const prefixes[] = { "127.", "::ffff:127." };
    if (k->len == 3 && memcmp(k->addr, "::1", 3) == 0)
        return 1;
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        size_t n = strlen(prefixes[i]);
        if (k->len > n && memcmp(k->addr, prefixes[i], n) == 0)
            return 1;
    }
    return 0;
}

struct siod_addr_count *siod_addr_find(const struct siod_addr_key *k)
{
    return siod_hash_find(&addrs, siod_hash_bytes(k->addr, k->len), k);
}

/* Counts one more session for address k. Returns its entry, or NULL if
 * memory runs out. */
struct siod_addr_count *siod_addr_acquire(const struct siod_addr_key *k)
{
    struct siod_addr_count *a = siod_addr_find(k);
    if (a == NULL) {
        a = calloc(1, sizeof *a);
        if (a == NULL)
            return NULL;
        a->hash = siod_hash_bytes(k->addr, k->len);
        a->len = k->len;
        memcpy(a->addr, k->addr, k->len);
        if (siod_hash_insert(&addrs, a->hash, a) < 0) {
            free(a);
            return NULL;
        }
    }
    a->count++;
    return a;
}

/* One session of a's address closed; NULL is a no-op. */
void siod_addr_release(struct siod_addr_count *a)
{
    if (a == NULL || --a->count > 0)
        return;
    struct siod_addr_key k = { a->addr, a->len };
    siod_hash_remove(&addrs, a->hash, &k);
    free(a);
}

void siod_addrs_init(void)
{
    siod_hash_init(&addrs, addr_eq);
}

void siod_addrs_cleanup(void)
{
    siod_hash_destroy(&addrs);
}
