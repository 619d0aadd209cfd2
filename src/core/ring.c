/*
 * ring.c - bounded SPSC ring of fixed-size records, see include/sift/ring.h.
 *
 * Design: head (next slot to write) is written only by the producer and
 * tail (next slot to read) only by the consumer; both count up forever
 * (64-bit, no wrap in practice) and index with & mask.  The producer
 * stores the record, then publishes head with release; the consumer
 * loads head with acquire before reading the slot, and publishes tail
 * with release after copying it out, so the producer (acquire on tail)
 * never overwrites a slot still being read.  Each side caches the other
 * side's index to touch the shared cache line only when it looks full /
 * empty.  head and tail live on separate cache lines.
 *
 * Invariant: 0 <= head - tail <= capacity.
 * Threads: exactly one producer and one consumer; size/dropped anywhere.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/ring.h"

#define CACHE_LINE 64

struct sift_ring {
    size_t rec_size;
    size_t mask;
    unsigned char *slots;
    alignas(CACHE_LINE) _Atomic uint64_t head; /* producer writes */
    uint64_t tail_cache;                       /* producer's view of tail */
    _Atomic uint64_t dropped;
    alignas(CACHE_LINE) _Atomic uint64_t tail; /* consumer writes */
    uint64_t head_cache;                       /* consumer's view of head */
};

int
sift_ring_new(size_t rec_size, size_t min_records, struct sift_ring **out)
{
    if (rec_size == 0 || min_records > ((size_t)1 << 30))
        return SIFT_EINVAL;
    size_t cap = 2;
    while (cap < min_records)
        cap <<= 1;
    if (rec_size > SIZE_MAX / cap)
        return SIFT_EINVAL;
    struct sift_ring *r = sift_try_calloc(1, sizeof(*r));
    if (!r)
        return SIFT_ENOMEM;
    r->slots = sift_try_malloc(rec_size * cap);
    if (!r->slots) {
        sift_free(r);
        return SIFT_ENOMEM;
    }
    r->rec_size = rec_size;
    r->mask = cap - 1;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    atomic_init(&r->dropped, 0);
    *out = r;
    return SIFT_OK;
}

void
sift_ring_free(struct sift_ring *r)
{
    if (!r)
        return;
    sift_free(r->slots);
    sift_free(r);
}

int
sift_ring_push(struct sift_ring *r, const void *rec)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (head - r->tail_cache > r->mask) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - r->tail_cache > r->mask) {
            atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
            return SIFT_ELIMIT;
        }
    }
    memcpy(r->slots + (head & r->mask) * r->rec_size, rec, r->rec_size);
    atomic_store_explicit(&r->head, head + 1, memory_order_release);
    return SIFT_OK;
}

int
sift_ring_pop(struct sift_ring *r, void *out)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (tail == r->head_cache) {
        r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
        if (tail == r->head_cache)
            return 0;
    }
    memcpy(out, r->slots + (tail & r->mask) * r->rec_size, r->rec_size);
    atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
    return 1;
}

size_t
sift_ring_size(const struct sift_ring *r)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    return head >= tail ? (size_t)(head - tail) : 0;
}

size_t
sift_ring_capacity(const struct sift_ring *r)
{
    return r->mask + 1;
}

uint64_t
sift_ring_dropped(const struct sift_ring *r)
{
    return atomic_load_explicit(&r->dropped, memory_order_relaxed);
}
