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

/*
 * The one body of the three sorts below: T is the element type, KEY(x)
 * its unsigned key of KT (KBITS bits).  A macro, not a function over
 * element size and key offset: the scatter loop is the hot part and
 * wants the element copied by value and the key read in place.
 */
#define RADIX_SORT_BODY(T, KT, KBITS, KEY)                                     \
    do {                                                                       \
        size_t i;                                                              \
        KT any = 0, all = (KT) ~(KT)0;                                         \
        for (i = 1; i < n && KEY(a[i - 1]) <= KEY(a[i]); i++) {                \
        }                                                                      \
        if (i >= n)                                                            \
            return;                                                            \
        if (n <= SMALL) {                                                      \
            for (i = 1; i < n; i++) {                                          \
                T v = a[i];                                                    \
                size_t j = i;                                                  \
                for (; j > 0 && KEY(a[j - 1]) > KEY(v); j--)                   \
                    a[j] = a[j - 1];                                           \
                a[j] = v;                                                      \
            }                                                                  \
            return;                                                            \
        }                                                                      \
        for (i = 0; i < n; i++) {                                              \
            any |= KEY(a[i]);                                                  \
            all &= KEY(a[i]);                                                  \
        }                                                                      \
        T *src = a, *dst = tmp; /* NOLINT(bugprone-macro-parentheses) */       \
        for (unsigned shift = 0; shift < (KBITS); shift += 8) {                \
            size_t cnt[256] = {0};                                             \
            if ((((any ^ all) >> shift) & 0xffu) == 0)                         \
                continue; /* this byte is equal everywhere */                  \
            for (i = 0; i < n; i++)                                            \
                cnt[(KEY(src[i]) >> shift) & 0xffu]++;                         \
            starts(cnt);                                                       \
            for (i = 0; i < n; i++)                                            \
                dst[cnt[(KEY(src[i]) >> shift) & 0xffu]++] = src[i];           \
            T *t = src; /* NOLINT(bugprone-macro-parentheses) */               \
            src = dst;                                                         \
            dst = t;                                                           \
        }                                                                      \
        if (src != a)                                                          \
            memcpy(a, src, n * sizeof(*a));                                    \
    } while (0)

#define KEY_SELF(x) (x)
#define KEY_FIELD(x) ((x).key)

void
sift_sort_u32(uint32_t *a, size_t n, uint32_t *tmp)
{
    RADIX_SORT_BODY(uint32_t, uint32_t, 32, KEY_SELF);
}

void
sift_sort_u64(uint64_t *a, size_t n, uint64_t *tmp)
{
    RADIX_SORT_BODY(uint64_t, uint64_t, 64, KEY_SELF);
}

void
sift_sort_kv64(struct sift_kv64 *a, size_t n, struct sift_kv64 *tmp)
{
    RADIX_SORT_BODY(struct sift_kv64, uint64_t, 64, KEY_FIELD);
}
