/* Unit tests for siod/core/siod_hash.c: the open-addressing table against a
 * plain model (random operations, whole-table collisions, probe runs that
 * wrap around the end of the slot array, growth and shrinking) and the
 * seeded hash functions. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "core/siod_core.h"

struct item {
    uint64_t key;
};

static int item_eq(const void *item, const void *key)
{
    return ((const struct item *)item)->key == *(const uint64_t *)key;
}

/* A small deterministic generator, so a failure can be replayed. */
static uint64_t rng_state = 0x243f6a8885a308d3ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Checks the table's invariants: a power-of-two capacity at most half
 * full, and count equal to the occupied slots. */
static void check_shape(const siod_hash *t)
{
    size_t used = 0;
    if (t->cap == 0) {
        CHECK_EQ(t->count, 0);
        return;
    }
    CHECK((t->cap & (t->cap - 1)) == 0);
    CHECK(t->count * 2 <= t->cap);
    for (size_t i = 0; i < t->cap; i++)
        used += t->slots[i].item != NULL;
    CHECK_EQ(used, t->count);
}

static void test_empty(void)
{
    siod_hash t;
    uint64_t k = 1;

    siod_hash_init(&t, item_eq);
    CHECK(siod_hash_find(&t, 0, &k) == NULL);
    CHECK(siod_hash_remove(&t, 0, &k) == NULL);
    CHECK_EQ(t.count, 0);
    siod_hash_destroy(&t);
    siod_hash_destroy(&t);   /* twice is harmless */
    CHECK(t.slots == NULL);
}

/* Many keys with good hashes: all findable, half removed, then all. */
static void test_many(void)
{
    enum { N = 100000 };
    static struct item items[N];
    siod_hash t;

    siod_hash_init(&t, item_eq);
    for (uint64_t i = 0; i < N; i++) {
        items[i].key = i * 2654435761u + 17;
        CHECK_EQ(siod_hash_insert(&t, siod_hash_u64pair(items[i].key, 0),
                                  &items[i]), 0);
    }
    CHECK_EQ(t.count, N);
    check_shape(&t);
    size_t grown = t.cap;
    for (uint64_t i = 0; i < N; i++)
        CHECK(siod_hash_find(&t, siod_hash_u64pair(items[i].key, 0),
                             &items[i].key) == &items[i]);
    /* a key that is not there, with the hash of one that is */
    uint64_t absent = 3;
    CHECK(siod_hash_find(&t, siod_hash_u64pair(items[5].key, 0), &absent) ==
          NULL);
    for (uint64_t i = 0; i < N; i += 2)
        CHECK(siod_hash_remove(&t, siod_hash_u64pair(items[i].key, 0),
                               &items[i].key) == &items[i]);
    CHECK_EQ(t.count, N / 2);
    check_shape(&t);
    for (uint64_t i = 0; i < N; i++) {
        void *f = siod_hash_find(&t, siod_hash_u64pair(items[i].key, 0),
                                 &items[i].key);
        CHECK(f == (i % 2 ? &items[i] : NULL));
    }
    /* removing again finds nothing */
    CHECK(siod_hash_remove(&t, siod_hash_u64pair(items[0].key, 0),
                           &items[0].key) == NULL);
    for (uint64_t i = 1; i < N; i += 2)
        CHECK(siod_hash_remove(&t, siod_hash_u64pair(items[i].key, 0),
                               &items[i].key) == &items[i]);
    CHECK_EQ(t.count, 0);
    check_shape(&t);
    CHECK(t.cap < grown / 64);   /* it shrank when it emptied */
    siod_hash_destroy(&t);
}

/* Every item under one hash: one long probe run; removals in a random
 * order must keep every other item reachable (backward shift). */
static void test_all_collide(void)
{
    enum { N = 300 };
    static struct item items[N];
    int live[N];
    siod_hash t;

    siod_hash_init(&t, item_eq);
    for (int i = 0; i < N; i++) {
        items[i].key = (uint64_t)i;
        live[i] = 1;
        CHECK_EQ(siod_hash_insert(&t, 42, &items[i]), 0);
    }
    for (int left = N; left > 0; left--) {
        int pick = (int)(rng() % (uint64_t)N);
        while (!live[pick])
            pick = (pick + 1) % N;
        CHECK(siod_hash_remove(&t, 42, &items[pick].key) == &items[pick]);
        live[pick] = 0;
        if (left % 7 == 0 || left < 20)
            for (int i = 0; i < N; i++)
                CHECK(siod_hash_find(&t, 42, &items[i].key) ==
                      (live[i] ? &items[i] : NULL));
    }
    CHECK_EQ(t.count, 0);
    siod_hash_destroy(&t);
}

/* Probe runs that wrap from the last slot to the first: hashes whose low
 * bits put them at the end of any table, mixed with ones homed at 0 and
 * 1, removed in every rotation of the insertion order. */
static void test_wraparound(void)
{
    enum { N = 6 };
    static const uint64_t hashes[N] = { ~0ull, ~0ull - 1, ~0ull, 0, 1, 0 };
    struct item items[N];

    for (int rot = 0; rot < N; rot++) {
        for (int order = 0; order < 2; order++) {
            siod_hash t;
            int live[N];
            siod_hash_init(&t, item_eq);
            for (int i = 0; i < N; i++) {
                items[i].key = 100 + (uint64_t)i;
                live[i] = 1;
                CHECK_EQ(siod_hash_insert(&t, hashes[i], &items[i]), 0);
            }
            CHECK_EQ(t.cap, 16);   /* small table: the run really wraps */
            for (int n = 0; n < N; n++) {
                int k = order ? (rot + n) % N : (rot + N - n) % N;
                CHECK(siod_hash_remove(&t, hashes[k], &items[k].key) ==
                      &items[k]);
                live[k] = 0;
                for (int i = 0; i < N; i++)
                    CHECK(siod_hash_find(&t, hashes[i], &items[i].key) ==
                          (live[i] ? &items[i] : NULL));
            }
            siod_hash_destroy(&t);
        }
    }
}

/* Only 97 distinct hashes: each is shared by ~40 keys. */
static uint64_t weak_hash(int k)
{
    return (uint64_t)(k % 97) * 0x9e3779b97f4a7c15ull;
}

/* Random inserts and removes over a small key space with a weak hash
 * (many collisions, many wraps), checked against a model after each. */
static void test_random_model(void)
{
    enum { KEYS = 4096, OPS = 400000 };
    static struct item items[KEYS];
    static unsigned char in[KEYS];
    size_t count = 0;
    siod_hash t;

    siod_hash_init(&t, item_eq);
    for (int i = 0; i < KEYS; i++)
        items[i].key = (uint64_t)i * 7919;
    for (int op = 0; op < OPS; op++) {
        int k = (int)(rng() % KEYS);
        uint64_t h = weak_hash(k);
        /* grow while the table fills, drain now and then to shrink it */
        int insert = (op / 50000) % 2 == 0 ? (rng() % 4 != 0) : (rng() % 4 == 0);
        if (insert && !in[k]) {
            CHECK(siod_hash_find(&t, h, &items[k].key) == NULL);
            CHECK_EQ(siod_hash_insert(&t, h, &items[k]), 0);
            in[k] = 1;
            count++;
        } else if (!insert) {
            void *r = siod_hash_remove(&t, h, &items[k].key);
            CHECK(r == (in[k] ? &items[k] : NULL));
            if (in[k])
                count--;
            in[k] = 0;
        }
        CHECK_EQ(t.count, count);
        if (op % 997 == 0) {
            check_shape(&t);
            for (int i = 0; i < KEYS; i++)
                CHECK(siod_hash_find(&t, weak_hash(i),
                                     &items[i].key) ==
                      (in[i] ? &items[i] : NULL));
        }
    }
    siod_hash_destroy(&t);
}

static void test_hash_functions(void)
{
    uint64_t a = siod_hash_bytes("abc", 3);
    CHECK(a == siod_hash_bytes("abc", 3));
    CHECK(a != siod_hash_bytes("abd", 3));
    CHECK(a != siod_hash_bytes("abc", 2));
    CHECK(siod_hash_bytes("", 0) != siod_hash_bytes("\0", 1));
    CHECK(siod_hash_u64pair(1, 2) != siod_hash_u64pair(2, 1));
    CHECK(siod_hash_u64pair(1, 2) == siod_hash_u64pair(1, 2));

    /* the low bits (the table index) of sequential inputs spread evenly:
     * 65536 keys into 256 buckets, mean 256, sd 16 */
    static unsigned bucket[256];
    memset(bucket, 0, sizeof bucket);
    for (uint32_t i = 0; i < 65536; i++) {
        char key[8];
        memcpy(key, &i, sizeof i);
        bucket[siod_hash_bytes(key, sizeof i) & 255]++;
    }
    for (int b = 0; b < 256; b++)
        CHECK(bucket[b] > 160 && bucket[b] < 352);
    memset(bucket, 0, sizeof bucket);
    for (uint64_t i = 0; i < 65536; i++)
        bucket[siod_hash_u64pair(i, 7) & 255]++;
    for (int b = 0; b < 256; b++)
        CHECK(bucket[b] > 160 && bucket[b] < 352);

    /* a fresh seed changes every hash (so clients cannot aim collisions) */
    uint64_t before = siod_hash_bytes("session-id", 10);
    uint64_t pair = siod_hash_u64pair(5, 6);
    siod_hash_seed();
    CHECK(siod_hash_bytes("session-id", 10) != before);
    CHECK(siod_hash_u64pair(5, 6) != pair);
    CHECK(siod_hash_bytes("session-id", 10) ==
          siod_hash_bytes("session-id", 10));
}

int main(void)
{
    RUN(test_empty);
    RUN(test_many);
    RUN(test_all_collide);
    RUN(test_wraparound);
    RUN(test_random_model);
    RUN(test_hash_functions);
    DONE("test_siod_hash");
}
