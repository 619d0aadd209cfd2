/*
 * test_ring.c - SPSC ring: full/empty edges, wrap-around, and a two-thread
 * run checked for order and loss (run under ThreadSanitizer in build-tsan).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sift/error.h"
#include "sift/ring.h"

struct rec {
    uint64_t seq;
    uint64_t check;
};

static void
test_ring_full_and_empty_edges(void **state)
{
    (void)state;
    struct sift_ring *r;
    assert_int_equal(sift_ring_new(sizeof(struct rec), 3, &r), SIFT_OK);
    assert_int_equal(sift_ring_capacity(r), 4);
    struct rec x = {0, 0};
    assert_int_equal(sift_ring_pop(r, &x), 0);
    for (uint64_t i = 0; i < 4; i++) {
        x.seq = i;
        assert_int_equal(sift_ring_push(r, &x), SIFT_OK);
    }
    x.seq = 99;
    assert_int_equal(sift_ring_push(r, &x), SIFT_ELIMIT);
    assert_int_equal(sift_ring_dropped(r), 1);
    assert_int_equal(sift_ring_size(r), 4);
    /* Wrap around many times; order holds. */
    for (uint64_t i = 0; i < 100; i++) {
        struct rec y;
        assert_int_equal(sift_ring_pop(r, &y), 1);
        assert_int_equal(y.seq, i);
        x.seq = i + 4;
        assert_int_equal(sift_ring_push(r, &x), SIFT_OK);
    }
    assert_int_equal(sift_ring_size(r), 4);
    sift_ring_free(r);
    assert_int_equal(sift_ring_new(0, 4, &r), SIFT_EINVAL);
}

#define N_RECS 200000u

static void *
consumer(void *arg)
{
    struct sift_ring *r = arg;
    uint64_t next = 0;
    uint64_t *bad = calloc(1, sizeof(*bad));
    uint64_t got = 0;
    /* Stops once every record was either popped or counted as dropped. */
    for (;;) {
        struct rec y;
        if (sift_ring_pop(r, &y)) {
            if (y.seq < next || y.check != y.seq * 2654435761u)
                (*bad)++;
            next = y.seq + 1;
            got++;
        } else if (got + sift_ring_dropped(r) >= N_RECS) {
            break;
        }
    }
    return bad;
}

static void
test_ring_two_threads_order_no_loss(void **state)
{
    (void)state;
    struct sift_ring *r;
    assert_int_equal(sift_ring_new(sizeof(struct rec), 1024, &r), SIFT_OK);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, consumer, r), 0);
    uint64_t pushed = 0;
    for (uint64_t i = 0; i < N_RECS; i++) {
        struct rec x = {i, i * 2654435761u};
        if (sift_ring_push(r, &x) == SIFT_OK)
            pushed++;
    }
    void *res;
    assert_int_equal(pthread_join(t, &res), 0);
    uint64_t *bad = res;
    assert_int_equal(*bad, 0);
    assert_int_equal(pushed + sift_ring_dropped(r), N_RECS);
    free(bad);
    sift_ring_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_full_and_empty_edges),
        cmocka_unit_test(test_ring_two_threads_order_no_loss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
