/* A small open-addressing hash table (linear probing, backward-shift
 * deletion) mapping keys to caller-owned items. The table stores only item
 * pointers and their hashes; the caller supplies the hash of a key and an
 * equality test, so one implementation serves sids and relay conns. */
#ifndef SIOD_HASH_H
#define SIOD_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Returns nonzero when item's key equals key. */
typedef int (*siod_hash_eq_fn)(const void *item, const void *key);

typedef struct siod_hash {
    struct siod_hash_slot {
        uint64_t hash;
        void *item;              /* NULL: empty */
    } *slots;
    size_t cap;                  /* power of two, or 0 before first insert */
    size_t count;
    siod_hash_eq_fn eq;
} siod_hash;

/* Initialises an empty table (no allocation until the first insert). */
void siod_hash_init(siod_hash *t, siod_hash_eq_fn eq);

/* Frees the slot array; the items stay the caller's. */
void siod_hash_destroy(siod_hash *t);

/* Returns the item whose key equals key (hash h), or NULL. */
void *siod_hash_find(const siod_hash *t, uint64_t h, const void *key);

/* Adds item under hash h (the caller has checked the key is not present).
 * Returns 0, or -1 if memory runs out (the table is unchanged). */
int siod_hash_insert(siod_hash *t, uint64_t h, void *item);

/* Removes and returns the item whose key equals key, or NULL. */
void *siod_hash_remove(siod_hash *t, uint64_t h, const void *key);

/* Seeds the hash functions below from the kernel's random source. */
void siod_hash_seed(void);

/* Seeded 64-bit hashes of a byte string and of a pair of integers. */
uint64_t siod_hash_bytes(const void *p, size_t n);
uint64_t siod_hash_u64pair(uint64_t a, uint64_t b);

#endif
