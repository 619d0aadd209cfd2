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

/* Robust z of x against b, as the baseline's spread is defined
 * (include/sift/anomaly.h): (x - level) / max(1.253 * absdev, floor). */
static double
baseline_z(const struct sift_baseline *b, double x, double floor)
{
    double s = 1.253 * b->absdev;
    if (s < floor)
        s = floor;
    return s > 0 ? (x - b->level) / s : 0;
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
    assert_true(sift_score_from_z(baseline_z(&b, 110, fl)) < 15);
    /* A tripling is many spreads away: score saturates. */
    double z = baseline_z(&b, 300, fl);
    assert_true(z > 10);
    assert_true(fabs(sift_score_from_z(z) - 100) < 1e-9);
    /* Silence is a large negative z. */
    assert_true(baseline_z(&b, 0, fl) < -5);
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
    assert_true(fabs(baseline_z(&b, 6, sift_count_floor(b.level)) - 1) < 1e-6);
    assert_true(fabs(sift_count_floor(0.2) - 1) < 1e-9);
    assert_true(fabs(sift_count_floor(100) - 10) < 1e-9);
}

static void
test_detector_warm_start_is_a_mean(void **state)
{
    (void)state;
    /* The first windows are averaged (weight 1/n), not leaned on the
     * first one: 10, 20, 30 give 20 even with alpha 0.05. */
    struct sift_baseline b;
    sift_baseline_init(&b);
    sift_baseline_update(&b, 10, 0.05, 100);
    sift_baseline_update(&b, 20, 0.05, 100);
    sift_baseline_update(&b, 30, 0.05, 100);
    assert_true(fabs(b.level - 20) < 1e-9);
    /* Past 1 / alpha windows the EWMA weight applies. */
    for (int i = 0; i < 100; i++)
        sift_baseline_update(&b, 20, 0.05, 100);
    double before = b.level;
    sift_baseline_update(&b, 40, 0.05, 100);
    assert_true(fabs(b.level - before - 0.05 * (40 - before)) < 1e-9);
}

/* A series starts mid-window: its first window holds 1 event where the
 * others hold about 9.  The warm start must not clip them to the first
 * window's spread (which pinned the level near 2 after 30 windows and
 * made a normal window look like a 5-spread spike). */
static void
test_detector_partial_first_window_does_not_pin_level(void **state)
{
    (void)state;
    static const double w[] = {1, 6, 8, 8,  13, 10, 11, 8,  7, 8,
                               8, 6, 9, 7,  7,  14, 14, 5,  7, 7,
                               8, 9, 6, 15, 7,  9,  12, 15, 9, 4};
    struct sift_baseline b;
    sift_baseline_init(&b);
    for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++)
        sift_baseline_update(&b, w[i], 0.05, sift_count_floor(b.level));
    assert_true(b.level > 8 && b.level < 9.5);
    double z = baseline_z(&b, 10, sift_count_floor(b.level));
    assert_true(z < 1);
}

static void
test_detector_season_offset_after_days(void **state)
{
    (void)state;
    /* 6 windows per hour; hour 2 is busy (40), the others 10. */
    const double wph = 6;
    struct sift_season se;
    sift_season_init(&se);
    double last_off_day1 = -1;
    for (int day = 0; day < 3; day++) {
        for (int h = 0; h < 24; h++) {
            for (int i = 0; i < 6; i++)
                sift_season_update(&se, h, h == 2 ? 40 : 10, wph);
            if (day == 0 && h == 23)
                last_off_day1 = sift_season_offset(&se, 2, wph, 2);
            if (day == 0 && h == 22) /* hour 23 never seen: no offset */
                assert_true(fabs(sift_season_offset(&se, 2, wph, 2)) < 1e-12);
            if (day == 1 && h == 11) {
                /* 1.5 days: half weight. */
                double off = sift_season_offset(&se, 2, wph, 2);
                assert_true(fabs(off - 0.5 * (40 - 11.25)) < 1e-6);
            }
        }
    }
    /* One day: weight 0 (the shape of a single day is not trusted). */
    assert_true(fabs(last_off_day1) < 1e-12);
    /* Three days (past min_days = 2): full weight; mean of the 24 hours
     * is (40 + 23 * 10) / 24 = 11.25. */
    assert_true(fabs(sift_season_offset(&se, 2, wph, 2) - (40 - 11.25)) < 1e-6);
    assert_true(fabs(sift_season_offset(&se, 5, wph, 2) - (10 - 11.25)) < 1e-6);
    /* UTC hour of day. */
    assert_int_equal(sift_season_hour(INT64_C(1700000000) * 1000000000), 22);
    assert_int_equal(sift_season_hour(INT64_C(3600) * 1000000000 * 25), 1);
}

/*
 * An incident in the first windows of an hour (5 windows of 130, then
 * 355 of 45) is averaged into the hour's first day, not kept as its
 * level: the plain mean does not treat the ordinary windows after it as
 * outliers.
 */
static void
test_detector_season_first_windows_incident(void **state)
{
    (void)state;
    const double wph = 360;
    struct sift_season se;
    sift_season_init(&se);
    for (int i = 0; i < 360; i++)
        sift_season_update(&se, 12, i < 5 ? 130 : 45, wph);
    double want = (5 * 130.0 + 355 * 45.0) / 360;
    assert_true(fabs(se.hour[12].level - want) < 1e-6);
}

/*
 * The hour-of-day error share: nothing trusted before the hour has been
 * seen on one day, full weight at min_days days of it; the share is the
 * hour's pooled share plus one standard error of its pool.
 */
static void
test_detector_share_season_weights_and_share(void **state)
{
    (void)state;
    const double wph = 6;
    struct sift_share_season ss;
    sift_share_season_init(&ss);
    double w = -1;
    assert_true(sift_share_season_p(&ss, 2, wph, 2, &w) == 0);
    assert_true(w == 0);
    for (int day = 0; day < 3; day++) {
        for (int h = 0; h < 24; h++) {
            for (int i = 0; i < 6; i++)
                /* Hour 2: a batch job, 30 errors in 100 events; the rest
                 * 2 in 100. */
                sift_share_season_update(&ss, h, h == 2 ? 30 : 2, 100, wph);
            if (day == 0 && h == 2) {
                sift_share_season_p(&ss, 2, wph, 2, &w);
                assert_true(w == 0); /* one day of the hour: not trusted */
            }
            if (day == 1 && h == 2) {
                double p = sift_share_season_p(&ss, 2, wph, 2, &w);
                assert_true(fabs(w - 1) < 1e-12); /* two days: full */
                assert_true(p > 0.30 && p < 0.30 + 0.03);
            }
        }
    }
    double ev = ss.ev[2];
    double p = sift_share_season_p(&ss, 2, wph, 2, &w);
    assert_true(fabs(p - (0.30 + sqrt(0.3 * 0.7 / ev))) < 1e-9);
    p = sift_share_season_p(&ss, 5, wph, 2, &w);
    assert_true(fabs(p - (0.02 + sqrt(0.02 * 0.98 / ss.ev[5]))) < 1e-9);
    /* Each window decays the hour's pool by 1 / (3 x 6) first: the pool
     * holds about three days of the hour, not all of them. */
    assert_true(ev < 18 * 100 && ev > 10 * 100);
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
        cmocka_unit_test(test_detector_warm_start_is_a_mean),
        cmocka_unit_test(test_detector_season_offset_after_days),
        cmocka_unit_test(test_detector_share_season_weights_and_share),
        cmocka_unit_test(test_detector_season_first_windows_incident),
        cmocka_unit_test(test_detector_partial_first_window_does_not_pin_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
