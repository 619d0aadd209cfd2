/*
 * sort.c - stable LSD radix sorts (sort.h).
 *
 * Design: one histogram pass finds, for every key byte at once, whether
 * it varies; then one scatter pass per varying byte, least significant
 * first, ping-ponging between a[] and tmp[].  LSD passes are stable, so
 * equal keys keep their input order.  Short arrays (<= 48) take an
 * insertion sort, which is stable too.  An input already in order
 * returns after the first scan: segments built from one source in time
 * order are the common case.
 *
 * Context: any thread; functions touch only their arguments.
 */
#include "sift/sort.h"

#include <string.h>

#define SMALL 48

/* Turns a byte histogram into each byte's first output slot. */
static void
starts(size_t cnt[256])
{
    for (size_t k = 0, sum = 0; k < 256; k++) {
        size_t c = cnt[k];
        cnt[k] = sum;
        sum += c;
    }
}

void
sift_sort_u32(uint32_t *a, size_t n, uint32_t *tmp)
{
    size_t i;
    uint32_t any = 0, all = UINT32_MAX;

    for (i = 1; i < n && a[i - 1] <= a[i]; i++) {
    }
    if (i >= n)
        return;
    if (n <= SMALL) {
        for (i = 1; i < n; i++) {
            uint32_t v = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > v; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        any |= a[i];
        all &= a[i];
    }
    uint32_t *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 32; shift += 8) {
        size_t cnt[256] = {0};
        if ((((any ^ all) >> shift) & 0xffu) == 0)
            continue; /* this byte is equal everywhere */
        for (i = 0; i < n; i++)
            cnt[(src[i] >> shift) & 0xffu]++;
        starts(cnt);
        for (i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 0xffu]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
}

void
sift_sort_u64(uint64_t *a, size_t n, uint64_t *tmp)
{
    size_t i;
    uint64_t any = 0, all = UINT64_MAX;

    for (i = 1; i < n && a[i - 1] <= a[i]; i++) {
    }
    if (i >= n)
        return;
    if (n <= SMALL) {
        for (i = 1; i < n; i++) {
            uint64_t v = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] > v; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        any |= a[i];
        all &= a[i];
    }
    uint64_t *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t cnt[256] = {0};
        if ((((any ^ all) >> shift) & 0xffu) == 0)
            continue;
        for (i = 0; i < n; i++)
            cnt[(src[i] >> shift) & 0xffu]++;
        starts(cnt);
        for (i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 0xffu]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
}

void
sift_sort_kv64(struct sift_kv64 *a, size_t n, struct sift_kv64 *tmp)
{
    size_t i;
    uint64_t any = 0, all = UINT64_MAX;

    for (i = 1; i < n && a[i - 1].key <= a[i].key; i++) {
    }
    if (i >= n)
        return;
    if (n <= SMALL) {
        for (i = 1; i < n; i++) {
            struct sift_kv64 v = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1].key > v.key; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    for (i = 0; i < n; i++) {
        any |= a[i].key;
        all &= a[i].key;
    }
    struct sift_kv64 *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        size_t cnt[256] = {0};
        if ((((any ^ all) >> shift) & 0xffu) == 0)
            continue;
        for (i = 0; i < n; i++)
            cnt[(src[i].key >> shift) & 0xffu]++;
        starts(cnt);
        for (i = 0; i < n; i++)
            dst[cnt[(src[i].key >> shift) & 0xffu]++] = src[i];
        struct sift_kv64 *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof(*a));
}
