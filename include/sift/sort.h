/*
 * sort.h - stable LSD radix sorts of integer keys, for the segment
 * builder and reader.
 *
 * Segments sort a lot at build and read time: doc ids after the time
 * remap, docs by timestamp, terms, numeric values, a block's docs by
 * shape and its field values by key.  qsort() with a comparison callback
 * was 10-20% of a flush or merge thread's CPU.  These sorts make one
 * counting pass per key byte and skip bytes that are equal in every key
 * (shape ids, key ids and doc ids of one segment use only their low
 * bytes), so most sorts take one to three passes.
 *
 * All sorts are stable, take caller scratch tmp[] of n elements (no
 * allocation, cannot fail) and leave the result in a[].  Inputs already
 * in order return after one scan.  Keys are unsigned; callers map signed
 * and floating-point values with sift_sort_key_i64() / _f64().
 */
#ifndef SIFT_SORT_H
#define SIFT_SORT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** A 64-bit key and the item it stands for. */
struct sift_kv64 {
    uint64_t key;
    uint32_t v;
};

/** Sorts a[0..n) ascending; tmp has room for n values. */
void sift_sort_u32(uint32_t *a, size_t n, uint32_t *tmp);

/**
 * Sorts a[0..n) ascending; tmp has room for n values.  Packing
 * (key << 32 | index) with ascending indexes gives a stable order of
 * indexes by 32-bit key.
 */
void sift_sort_u64(uint64_t *a, size_t n, uint64_t *tmp);

/** Sorts a[0..n) by key, stably; tmp has room for n entries. */
void sift_sort_kv64(struct sift_kv64 *a, size_t n, struct sift_kv64 *tmp);

/** An unsigned key that orders like the signed value. */
static inline uint64_t
sift_sort_key_i64(int64_t v)
{
    return (uint64_t)v ^ (UINT64_C(1) << 63);
}

/**
 * An unsigned key that orders like the double (not NaN): -0.0 sorts just
 * before +0.0, which compare equal; callers that dedupe compare values.
 */
static inline uint64_t
sift_sort_key_f64(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b >> 63 ? ~b : b | (UINT64_C(1) << 63);
}

/** The double whose sift_sort_key_f64() is k. */
static inline double
sift_sort_f64_of_key(uint64_t k)
{
    uint64_t b = k >> 63 ? k & ~(UINT64_C(1) << 63) : ~k;
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/**
 * The first 8 bytes of s as a big-endian key, zero-padded: byte strings
 * ordered by key are ordered by memcmp on those bytes; equal keys need
 * the rest compared (and a shorter string padded with zeros ties with a
 * longer one that has zero bytes there).
 */
static inline uint64_t
sift_sort_key_prefix(const char *s, size_t len)
{
    uint64_t k = 0;
    if (len >= 8) {
        memcpy(&k, s, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        k = __builtin_bswap64(k);
#endif
        return k;
    }
    for (size_t i = 0; i < len; i++)
        k |= (uint64_t)(unsigned char)s[i] << (56 - 8 * i);
    return k;
}

/**
 * Bytewise order of a[0..alen) and b[0..blen) (a proper prefix first):
 * negative, 0 or positive like memcmp().  The order of terms, field names
 * and keys in segments.
 */
static inline int
sift_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

#endif /* SIFT_SORT_H */
