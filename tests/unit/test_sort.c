/*
 * test_sort.c - unit tests of the radix sorts (sort.h): each result is
 * checked against a stable reference sort (insertion order as the tie
 * break) on random arrays of several sizes and key spreads, and the key
 * mappings against the order of the values they stand for.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sift/sort.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
rnd(void)
{
    /* xorshift64*: deterministic, so a failure reproduces */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

/* Sizes on both sides of the insertion-sort cut-off, and big ones. */
static const size_t sizes[] = {0, 1, 2, 47, 48, 49, 300, 5000};

/* Keys drawn from a spread: few distinct, one byte, two, everything. */
static const uint64_t spreads[] = {3, 256, 70000, 0};

static uint64_t
draw(uint64_t spread)
{
    return spread ? rnd() % spread : rnd();
}

struct ref {
    uint64_t key;
    uint32_t v;
};

static int
ref_cmp(const void *x, const void *y)
{
    const struct ref *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->v < b->v ? -1 : a->v > b->v; /* v = input position */
}

static void
test_sort_u32_matches_reference(void **state)
{
    (void)state;
    for (size_t si = 0; si < sizeof(sizes) / sizeof(*sizes); si++) {
        for (size_t sp = 0; sp < sizeof(spreads) / sizeof(*spreads); sp++) {
            size_t n = sizes[si];
            uint32_t *a = malloc((n + 1) * sizeof(*a));
            uint32_t *tmp = malloc((n + 1) * sizeof(*tmp));
            struct ref *r = malloc((n + 1) * sizeof(*r));
            for (size_t i = 0; i < n; i++) {
                a[i] = (uint32_t)draw(spreads[sp]);
                r[i].key = a[i];
                r[i].v = (uint32_t)i;
            }
            sift_sort_u32(a, n, tmp);
            qsort(r, n, sizeof(*r), ref_cmp);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(a[i], r[i].key);
            free(a);
            free(tmp);
            free(r);
        }
    }
}

static void
test_sort_u64_packed_pairs_are_stable(void **state)
{
    (void)state;
    /* key << 32 | position sorted as a whole must give the positions of
     * equal keys in input order (how the segment code packs its pairs);
     * full 64-bit values must match the reference too. */
    for (int packed = 0; packed < 2; packed++) {
        for (size_t si = 0; si < sizeof(sizes) / sizeof(*sizes); si++) {
            for (size_t sp = 0; sp < sizeof(spreads) / sizeof(*spreads); sp++) {
                size_t n = sizes[si];
                uint64_t *a = malloc((n + 1) * sizeof(*a));
                uint64_t *tmp = malloc((n + 1) * sizeof(*tmp));
                struct ref *r = malloc((n + 1) * sizeof(*r));
                for (size_t i = 0; i < n; i++) {
                    uint64_t k = draw(spreads[sp]);
                    a[i] = packed ? (k & 0xffffffffu) << 32 | (uint32_t)i : k;
                    r[i].key = packed ? a[i] >> 32 : a[i];
                    r[i].v = (uint32_t)i;
                }
                sift_sort_u64(a, n, tmp);
                qsort(r, n, sizeof(*r), ref_cmp);
                for (size_t i = 0; i < n; i++) {
                    if (packed) /* rank i holds the input r[i].v */
                        assert_int_equal(a[i] & 0xffffffffu, r[i].v);
                    else
                        assert_int_equal(a[i], r[i].key);
                }
                free(a);
                free(tmp);
                free(r);
            }
        }
    }
}

static void
test_sort_kv64_is_stable(void **state)
{
    (void)state;
    for (size_t si = 0; si < sizeof(sizes) / sizeof(*sizes); si++) {
        for (size_t sp = 0; sp < sizeof(spreads) / sizeof(*spreads); sp++) {
            size_t n = sizes[si];
            struct sift_kv64 *a = malloc((n + 1) * sizeof(*a));
            struct sift_kv64 *tmp = malloc((n + 1) * sizeof(*tmp));
            struct ref *r = malloc((n + 1) * sizeof(*r));
            for (size_t i = 0; i < n; i++) {
                a[i].key = draw(spreads[sp]) << (sp * 8); /* high bytes too */
                a[i].v = (uint32_t)i;
                r[i].key = a[i].key;
                r[i].v = (uint32_t)i;
            }
            sift_sort_kv64(a, n, tmp);
            qsort(r, n, sizeof(*r), ref_cmp);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(a[i].key, r[i].key);
                assert_int_equal(a[i].v, r[i].v);
            }
            free(a);
            free(tmp);
            free(r);
        }
    }
}

static void
test_sort_sorted_and_reversed_inputs(void **state)
{
    (void)state;
    enum { N = 1000 };
    uint32_t a[N], tmp[N];
    for (uint32_t i = 0; i < N; i++)
        a[i] = i * 7;
    sift_sort_u32(a, N, tmp);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(a[i], i * 7);
    for (uint32_t i = 0; i < N; i++)
        a[i] = (N - i) << 20; /* only the top bytes vary */
    sift_sort_u32(a, N, tmp);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(a[i], (i + 1) << 20);
}

static void
test_sort_key_mappings_keep_order(void **state)
{
    (void)state;
    static const int64_t iv[] = {INT64_MIN, -5, -1, 0, 1, 1000, INT64_MAX};
    for (size_t i = 1; i < sizeof(iv) / sizeof(*iv); i++)
        assert_true(sift_sort_key_i64(iv[i - 1]) < sift_sort_key_i64(iv[i]));

    static const double dv[] = {-INFINITY, -1e300, -2.5, -1e-300, -0.0,
                                0.0,       1e-300, 2.5,  1e300,   INFINITY};
    for (size_t i = 1; i < sizeof(dv) / sizeof(*dv); i++)
        assert_true(sift_sort_key_f64(dv[i - 1]) < sift_sort_key_f64(dv[i]));
    /* ...and the key gives the double back, bit for bit (-0.0 too). */
    for (size_t i = 0; i < sizeof(dv) / sizeof(*dv); i++) {
        double back = sift_sort_f64_of_key(sift_sort_key_f64(dv[i]));
        assert_memory_equal(&back, &dv[i], sizeof(double));
    }

    /* Byte strings: prefix keys order like memcmp on the first 8 bytes,
     * and bytes above 0x7f are unsigned. */
    static const char *sv[] = {"",         "\x01",     "a",       "ab",
                               "abcdefgh", "abcdefgi", "abcdefh", "b",
                               "z",        "\x7f\xff", "\x80",    "\xff"};
    for (size_t i = 1; i < sizeof(sv) / sizeof(*sv); i++)
        assert_true(sift_sort_key_prefix(sv[i - 1], strlen(sv[i - 1])) <
                    sift_sort_key_prefix(sv[i], strlen(sv[i])));
    /* equal first 8 bytes: equal keys, the caller compares the rest */
    assert_true(sift_sort_key_prefix("abcdefgh1", 9) ==
                sift_sort_key_prefix("abcdefgh2", 9));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sort_u32_matches_reference),
        cmocka_unit_test(test_sort_u64_packed_pairs_are_stable),
        cmocka_unit_test(test_sort_kv64_is_stable),
        cmocka_unit_test(test_sort_sorted_and_reversed_inputs),
        cmocka_unit_test(test_sort_key_mappings_keep_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
