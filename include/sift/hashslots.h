/*
 * hashslots.h - open-addressing slot tables and a short-key compare, for
 * the builder's hash tables (fields, doc keys, shapes, terms).
 *
 * A slot table is a power-of-two array of uint32_t holding 1-based item
 * indexes (0 = empty), probed linearly from hash & mask.  The items live
 * in the caller's array and carry their own 32-bit hash, so growing the
 * table re-inserts indexes without rehashing keys.  Header only: these
 * run for every field and token an event brings.
 */
#ifndef SIFT_HASHSLOTS_H
#define SIFT_HASHSLOTS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sift/alloc.h"

/** Inserts 1-based index v at hash h (the table must have a free slot). */
static inline void
sift_slots_put(uint32_t *slots, uint32_t mask, uint32_t h, uint32_t v)
{
    uint32_t i = h & mask;
    while (slots[i] != 0)
        i = (i + 1) & mask;
    slots[i] = v;
}

/**
 * Replaces *slots by an n-slot table (n a power of two; *mask = n - 1)
 * over the count items at base, stride bytes apart, each with its
 * uint32_t hash at hash_off.  Frees the old table; aborts on OOM.
 */
static inline void
sift_slots_rebuild(uint32_t **slots, uint32_t *mask, uint32_t n,
                   const void *base, size_t stride, size_t hash_off,
                   uint32_t count)
{
    sift_free(*slots);
    *slots = (uint32_t *)sift_xcalloc(n, sizeof(uint32_t));
    *mask = n - 1;
    for (uint32_t j = 0; j < count; j++) {
        uint32_t h;
        memcpy(&h, (const char *)base + (size_t)j * stride + hash_off,
               sizeof(h));
        sift_slots_put(*slots, *mask, h, j + 1);
    }
}

/*
 * memcmp(a, b, n) == 0 without a library call for the short keys the
 * builder compares (names, terms): two overlapping loads per side up to
 * 16 bytes, never outside [0, n).
 */
static inline int
sift_bytes_eq(const void *a, const void *b, size_t n)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;
    if (n >= 8 && n <= 16) {
        uint64_t x0, x1, y0, y1;
        memcpy(&x0, x, 8);
        memcpy(&y0, y, 8);
        memcpy(&x1, x + n - 8, 8);
        memcpy(&y1, y + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t x0, x1, y0, y1;
        memcpy(&x0, x, 4);
        memcpy(&y0, y, 4);
        memcpy(&x1, x + n - 4, 4);
        memcpy(&y1, y + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (x[i] != y[i])
                return 0;
        return 1;
    }
    return memcmp(x, y, n) == 0;
}

#endif /* SIFT_HASHSLOTS_H */
