/*
 * ring.h - bounded single-producer single-consumer ring of fixed-size
 * records (C11 atomics, power-of-two capacity).
 *
 * One thread pushes, one other thread pops; neither ever blocks or takes
 * a lock.  sift_ring_push() fails when the ring is full: the producer
 * drops the record and counts it (the ring counts too, see
 * sift_ring_dropped()), so a slow consumer never slows the producer.
 */
#ifndef SIFT_RING_H
#define SIFT_RING_H

#include <stddef.h>
#include <stdint.h>

struct sift_ring;

/**
 * Creates a ring of at least min_records records of rec_size bytes
 * (capacity rounded up to a power of two, at least 2).  Returns SIFT_OK,
 * SIFT_EINVAL (rec_size 0, capacity above 2^30) or SIFT_ENOMEM.  Release
 * with sift_ring_free() once both threads have stopped using it.
 */
int sift_ring_new(size_t rec_size, size_t min_records, struct sift_ring **out);
void sift_ring_free(struct sift_ring *r);

/**
 * Copies one record (rec_size bytes, borrowed) in.  Producer thread only.
 * Returns SIFT_OK, or SIFT_ELIMIT when full (the record is dropped and
 * the drop counter incremented).
 */
int sift_ring_push(struct sift_ring *r, const void *rec);

/**
 * Copies the oldest record into out (rec_size bytes).  Consumer thread
 * only.  Returns 1 when a record was popped, 0 when the ring is empty.
 */
int sift_ring_pop(struct sift_ring *r, void *out);

/** Records currently queued (approximate from a third thread). Any thread. */
size_t sift_ring_size(const struct sift_ring *r);
/** Capacity in records. Any thread. */
size_t sift_ring_capacity(const struct sift_ring *r);
/** Records dropped because the ring was full. Any thread. */
uint64_t sift_ring_dropped(const struct sift_ring *r);

#endif /* SIFT_RING_H */
