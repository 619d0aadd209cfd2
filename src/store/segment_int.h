/*
 * segment_int.h - helpers shared by segment_write.c and segment_read.c
 * (and the fuzz target / unit tests, which include it by path).
 */
#ifndef SIFT_STORE_SEGMENT_INT_H
#define SIFT_STORE_SEGMENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

/** XXH3_64bits of p[0..len). */
uint64_t sift__segment_hash(const void *p, size_t len);

/**
 * Recomputes every checksum of an image in place (header, sections, footer)
 * without checking anything else, so a fuzzer's mutations reach the
 * decoders behind the checksums.  Does nothing when the image is too
 * short or its section table does not fit.  Test/fuzz use only.
 */
void sift__segment_reseal(uint8_t *img, size_t len);

/**
 * Checks that a frozen roaring bitmap view is well formed (keys strictly
 * increasing, array containers sorted and within 1..4096 values, bitset
 * cardinality equal to its popcount, run containers sorted, disjoint and
 * inside 0..65535) and that every value is < limit.  Returns SIFT_OK or
 * SIFT_ECORRUPT.
 */
int sift__segment_check_bitmap(const roaring_bitmap_t *bm, uint64_t limit);

#endif /* SIFT_STORE_SEGMENT_INT_H */
