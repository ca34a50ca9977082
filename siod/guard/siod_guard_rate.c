/* Rate limits: token buckets, the per-socket event limiter with its flood
 * rule (so many drops within a window disconnect), the per-address
 * handshake buckets, and the counters a status query reads. The address
 * table holds an entry only while its bucket is not full again: full ones
 * are swept whenever the table has doubled since the last sweep. */
#include "core/siod_core.h"
#include "siod_guard.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ADDR_MAX 64               /* bytes of an address kept (as siod_addr) */
#define SWEEP_MIN 1024            /* entries before the first sweep */

struct addr_entry {
    uint64_t hash;
    siod_guard_bucket bucket;
    size_t len;
    char addr[ADDR_MAX];
};

struct addr_key {
    const char *addr;
    size_t len;
};

static siod_guard_config cfg;
static siod_guard_stats stats;
static siod_hash addrs;
static int addrs_ready;
static size_t sweep_at = SWEEP_MIN;

void siod_guard_configure(const siod_guard_config *c)
{
    cfg = *c;
    if (cfg.event_rate > 0 && cfg.event_burst < 1)
        cfg.event_burst = 1;
    if (cfg.handshake_rate > 0 && cfg.handshake_burst < 1)
        cfg.handshake_burst = 1;
}

const siod_guard_config *siod_guard_config_get(void)
{
    return &cfg;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* never 0: a bucket's last_ms 0 means "never used" */
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

/* Refills b to time now_ms. */
static void refill(siod_guard_bucket *b, double rate, double burst,
                   int64_t now_ms)
{
    if (b->last_ms == 0) {
        b->tokens = burst;
    } else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    if (now_ms > b->last_ms)
        b->last_ms = now_ms;
}

int siod_guard_bucket_take(siod_guard_bucket *b, double rate, double burst,
                           int64_t now_ms)
{
    if (rate <= 0)
        return 1;
    refill(b, rate, burst, now_ms);
    if (b->tokens < 1.0)
        return 0;
    b->tokens -= 1.0;
    return 1;
}

enum siod_guard_verdict siod_guard_event_at(siod_guard_socket *g,
                                            int64_t now_ms)
{
    if (siod_guard_bucket_take(&g->bucket, cfg.event_rate, cfg.event_burst,
                               now_ms))
        return SIOD_GUARD_PASS;
    stats.events_dropped++;
    if (cfg.flood_drops == 0)
        return SIOD_GUARD_DROP;
    if (g->drops == 0 || now_ms - g->window_ms >= (int64_t)cfg.flood_window_ms) {
        g->window_ms = now_ms;
        g->drops = 0;
    }
    if (++g->drops < cfg.flood_drops)
        return SIOD_GUARD_DROP;
    stats.sockets_flooding++;
    return SIOD_GUARD_FLOOD;
}

enum siod_guard_verdict siod_guard_event(siod_guard_socket *g)
{
    return siod_guard_event_at(g, mono_ms());
}

static int addr_eq(const void *item, const void *key)
{
    const struct addr_entry *e = item;
    const struct addr_key *k = key;
    return e->len == k->len && memcmp(e->addr, k->addr, k->len) == 0;
}

/* Drops the entries whose buckets are full again at now_ms: the same as
 * having none. */
static void sweep(int64_t now_ms)
{
    size_t i = 0;
    while (i < addrs.cap) {
        struct addr_entry *e = addrs.slots[i].item;
        if (e != NULL) {
            refill(&e->bucket, cfg.handshake_rate, cfg.handshake_burst,
                   now_ms);
            if (e->bucket.tokens >= cfg.handshake_burst) {
                struct addr_key k = { e->addr, e->len };
                siod_hash_remove(&addrs, e->hash, &k);
                free(e);
                continue;   /* backward shift: slot i holds another now */
            }
        }
        i++;
    }
    sweep_at = addrs.count * 2 > SWEEP_MIN ? addrs.count * 2 : SWEEP_MIN;
}

int siod_guard_handshake(const char *addr, size_t len)
{
    return siod_guard_handshake_at(addr, len, mono_ms());
}

int siod_guard_handshake_at(const char *addr, size_t len, int64_t now)
{
    if (cfg.handshake_rate <= 0)
        return 0;
    if (len > ADDR_MAX)
        len = ADDR_MAX;
    if (!addrs_ready) {
        siod_hash_init(&addrs, addr_eq);
        addrs_ready = 1;
    }
    struct addr_key k = { addr, len };
    uint64_t h = siod_hash_bytes(addr, len);
    struct addr_entry *e = siod_hash_find(&addrs, h, &k);
    if (e == NULL) {
        if (addrs.count >= sweep_at)
            sweep(now);
        e = calloc(1, sizeof *e);
        if (e == NULL)
            return -ENOMEM;
        e->hash = h;
        e->len = len;
        memcpy(e->addr, addr, len);
        if (siod_hash_insert(&addrs, h, e) < 0) {
            free(e);
            return -ENOMEM;
        }
    }
    if (siod_guard_bucket_take(&e->bucket, cfg.handshake_rate,
                               cfg.handshake_burst, now))
        return 0;
    stats.handshakes_limited++;
    return -EBUSY;
}

void siod_guard_note_sessions_per_addr(void)
{
    stats.sessions_per_addr++;
}

void siod_guard_note_ack_refused(void)
{
    stats.acks_refused++;
}

void siod_guard_note_payload(int valid)
{
    stats.payloads_checked++;
    if (!valid)
        stats.payloads_invalid++;
}

const siod_guard_stats *siod_guard_stats_get(void)
{
    stats.addresses = addrs_ready ? addrs.count : 0;
    return &stats;
}

void siod_guard_cleanup(void)
{
    if (!addrs_ready)
        return;
    for (size_t i = 0; i < addrs.cap; i++)
        free(addrs.slots[i].item);
    siod_hash_destroy(&addrs);
    addrs_ready = 0;
    sweep_at = SWEEP_MIN;
}
