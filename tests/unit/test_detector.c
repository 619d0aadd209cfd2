/*
 * test_detector.c - baseline maths (src/anomaly/detector.c): pure functions.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sift/anomaly.h"

static void
test_detector_first_window_sets_level(void **state)
{
    (void)state;
    struct sift_baseline b;
    sift_baseline_init(&b);
    sift_baseline_update(&b, 40, 0.1, 1);
    assert_int_equal(b.n, 1);
    assert_true(fabs(b.level - 40) < 1e-9);
    assert_true(fabs(b.absdev) < 1e-9);
}

static void
test_detector_steady_series_scores_low(void **state)
{
    (void)state;
    struct sift_baseline b;
    sift_baseline_init(&b);
    /* 100 +- 10 alternating: absdev converges near 10. */
    for (int i = 0; i < 200; i++)
        sift_baseline_update(&b, i % 2 ? 110 : 90, 0.05,
                             sift_count_floor(b.level));
    assert_true(fabs(b.level - 100) < 3);
    assert_true(b.absdev > 8 && b.absdev < 12);
    double fl = sift_count_floor(b.level);
    assert_true(sift_score_from_z(sift_baseline_z(&b, 110, fl)) < 15);
    /* A tripling is many spreads away: score saturates. */
    double z = sift_baseline_z(&b, 300, fl);
    assert_true(z > 10);
    assert_true(fabs(sift_score_from_z(z) - 100) < 1e-9);
    /* Silence is a large negative z. */
    assert_true(sift_baseline_z(&b, 0, fl) < -5);
}

static void
test_detector_score_mapping(void **state)
{
    (void)state;
    assert_true(fabs(sift_score_from_z(0)) < 1e-9);
    assert_true(fabs(sift_score_from_z(5) - 50) < 1e-9);
    assert_true(fabs(sift_score_from_z(-5) - 50) < 1e-9);
    assert_true(fabs(sift_score_from_z(42) - 100) < 1e-9);
}

static void
test_detector_outlier_is_clipped(void **state)
{
    (void)state;
    struct sift_baseline b;
    sift_baseline_init(&b);
    for (int i = 0; i < 100; i++)
        sift_baseline_update(&b, 100, 0.1, 10);
    double before = b.level;
    sift_baseline_update(&b, 100000, 0.1, 10);
    /* Clipped to level + 3 * floor(10) and weighted alpha / 10: moves by
     * at most 0.01 * 30. */
    assert_true(b.level - before <= 0.3 + 1e-9);
    assert_true(b.level > before);
}

static void
test_detector_floor_guards_flat_series(void **state)
{
    (void)state;
    struct sift_baseline b;
    sift_baseline_init(&b);
    for (int i = 0; i < 50; i++)
        sift_baseline_update(&b, 4, 0.1, sift_count_floor(4));
    /* Flat series: absdev 0, spread is the Poisson floor sqrt(4) = 2. */
    assert_true(fabs(sift_baseline_z(&b, 6, sift_count_floor(b.level)) - 1) <
                1e-6);
    assert_true(fabs(sift_count_floor(0.2) - 1) < 1e-9);
    assert_true(fabs(sift_count_floor(100) - 10) < 1e-9);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector_first_window_sets_level),
        cmocka_unit_test(test_detector_steady_series_scores_low),
        cmocka_unit_test(test_detector_score_mapping),
        cmocka_unit_test(test_detector_outlier_is_clipped),
        cmocka_unit_test(test_detector_floor_guards_flat_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
