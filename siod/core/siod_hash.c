/* Open-addressing hash table with linear probing and backward-shift
 * deletion (no tombstones), kept at most half full so probes stay short at
 * 100k+ entries; it also shrinks when mostly empty. Plus seeded hashes. */
#include "siod_hash.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MIN_CAP 16

static uint64_t hash_seed = 0x9e3779b97f4a7c15ull;

void siod_hash_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
        hash_seed = s | 1;
}

static uint64_t mix64(uint64_t x)
{
    /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t siod_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ hash_seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return mix64(h);
}

uint64_t siod_hash_u64pair(uint64_t a, uint64_t b)
{
    return mix64(mix64(a ^ hash_seed) + b);
}

void siod_hash_init(siod_hash *t, siod_hash_eq_fn eq)
{
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
    t->eq = eq;
}

void siod_hash_destroy(siod_hash *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = 0;
    t->count = 0;
}

static void place(struct siod_hash_slot *slots, size_t cap, uint64_t h,
                  void *item)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i].item != NULL)
        i = (i + 1) & (cap - 1);
    slots[i].hash = h;
    slots[i].item = item;
}

static int resize(siod_hash *t, size_t cap)
{
    struct siod_hash_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -1;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].item != NULL)
            place(slots, cap, t->slots[i].hash, t->slots[i].item);
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

void *siod_hash_find(const siod_hash *t, uint64_t h, const void *key)
{
    if (t->cap == 0)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const struct siod_hash_slot *s = &t->slots[i];
        if (s->item == NULL)
            return NULL;
        if (s->hash == h && t->eq(s->item, key))
            return s->item;
    }
}

int siod_hash_insert(siod_hash *t, uint64_t h, void *item)
{
    if ((t->count + 1) * 2 > t->cap &&
        resize(t, t->cap ? t->cap * 2 : MIN_CAP) < 0)
        return -1;
    place(t->slots, t->cap, h, item);
    t->count++;
    return 0;
}

void *siod_hash_remove(siod_hash *t, uint64_t h, const void *key)
{
    if (t->cap == 0)
        return NULL;
    size_t mask = t->cap - 1;
    size_t i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        if (t->slots[i].item == NULL)
            return NULL;
        if (t->slots[i].hash == h && t->eq(t->slots[i].item, key))
            break;
    }
    void *item = t->slots[i].item;
    /* Backward shift: pull later members of the probe run into the hole
     * when their home slot does not lie strictly after the hole. */
    size_t hole = i;
    for (size_t j = (i + 1) & mask; t->slots[j].item != NULL;
         j = (j + 1) & mask) {
        size_t home = (size_t)t->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->slots[hole] = t->slots[j];
            hole = j;
        }
    }
    t->slots[hole].item = NULL;
    t->count--;
    if (t->cap > MIN_CAP && t->count * 8 < t->cap)
        resize(t, t->cap / 2); /* on failure the bigger table still works */
    return item;
}
