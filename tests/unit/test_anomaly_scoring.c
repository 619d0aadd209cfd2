/*
 * test_anomaly_scoring.c - what the scorer alerts on (src/anomaly/thread.c
 * with detector.c and alerts.c), run synchronously (sift_anomaly_process
 * and sift_anomaly_advance, no thread) on seeded random traffic: small
 * counts judged by their odds, the error share against the service's own
 * normal, sustained drops whatever the jitter, silence at once, and one
 * alert per incident of a service.  Also the tail functions' values.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sift/anomaly.h"
#include "sift/clock.h"
#include "sift/error.h"

/* ------------------------------------------------------------------ */
/* Seeded traffic                                                       */
/* ------------------------------------------------------------------ */

static uint64_t rng = 1;

static double
unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static int
poisson(double mean)
{
    double l = exp(-mean), p = 1;
    int k = 0;
    do {
        k++;
        p *= unif();
    } while (p > l);
    return k - 1;
}

#define MAX_FIRED 64

struct fired {
    int n;
    char series[MAX_FIRED][SIFT_ALERT_SERIES_MAX];
    int kind[MAX_FIRED];
    int64_t win[MAX_FIRED]; /* window that fired it */
    uint32_t n_related[MAX_FIRED];
};

static int64_t g_win_ns;

static void
on_fire(enum sift_alert_event ev, const struct sift_alert *al, void *arg)
{
    struct fired *f = arg;
    if (ev != SIFT_ALERT_EV_FIRE || f->n >= MAX_FIRED)
        return;
    memcpy(f->series[f->n], al->series, sizeof(f->series[0]));
    f->kind[f->n] = al->kind;
    f->win[f->n] = al->updated_ns / g_win_ns - 1;
    f->n++;
}

static struct sift_anomaly *
scorer(struct fired *f)
{
    memset(f, 0, sizeof(*f));
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    g_win_ns = cfg.window_ns;
    struct sift_anomaly *an;
    assert_int_equal(sift_anomaly_new(&cfg, on_fire, f, &an), SIFT_OK);
    return an;
}

/* n events of service svc in window w: n_err of them errors. */
static void
send(struct sift_anomaly *an, int64_t w, const char *svc, int n, int n_err,
     uint32_t tid)
{
    for (int i = 0; i < n; i++) {
        struct sift_anomaly_rec rec;
        sift_anomaly_rec_init(&rec, w * g_win_ns + i, svc, strlen(svc),
                              i < n_err ? SIFT_LVL_ERROR : SIFT_LVL_INFO, tid);
        sift_anomaly_process(an, &rec);
    }
}

static int
binomial(int n, double p)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += unif() < p;
    return k;
}

#define W0 INT64_C(170000000)

/* ------------------------------------------------------------------ */
/* Tails                                                                */
/* ------------------------------------------------------------------ */

static void
test_scoring_tails_match_known_values(void **state)
{
    (void)state;
    /* Poisson(2.5): P(X >= 8) = 0.004247, P(X <= 0) = e^-2.5. */
    assert_true(fabs(sift_count_upper_p(2.5, 2.5, 8) - 0.0042467) < 1e-6);
    assert_true(fabs(sift_count_lower_p(2.5, 2.5, 0) - exp(-2.5)) < 1e-9);
    assert_true(sift_count_upper_p(2.5, 2.5, 0) == 1);
    /* Negative binomial mean 10, variance 20 (r = 10, p = 0.5):
     * P(X >= 25) = 0.0045206 (sum of the pmf). */
    assert_true(fabs(sift_count_upper_p(10, 20, 25) - 0.0045206) < 2e-6);
    /* Over-dispersion makes a high count likelier than Poisson says. */
    assert_true(sift_count_upper_p(10, 20, 25) >
                10 * sift_count_upper_p(10, 10, 25));
    /* Binomial(200, 0.03): P(E >= 15) = 0.0011471. */
    assert_true(fabs(sift_binom_upper_p(200, 15, 0.03) - 0.0011471) < 2e-6);
    /* Normal quantiles: five sigma, and the median. */
    assert_true(fabs(sift_z_from_p(2.866516e-7) - 5.0) < 1e-5);
    assert_true(fabs(sift_z_from_p(0.5)) < 1e-9);
    assert_true(fabs(sift_score_from_p(2.866516e-7) - 50) < 1e-3);
}

/* log of the negative binomial pmf of mean m and dispersion c at x. */
static double
nb_logpmf(double x, double m, double c)
{
    double r = 1 / c;
    return lgamma(x + r) - lgamma(r) - lgamma(x + 1) + r * log(r / (r + m)) +
           x * log(m / (r + m));
}

static void
test_scoring_nb_llr_is_the_log_ratio_of_pmfs(void **state)
{
    (void)state;
    /* c = 0: the Poisson's x ln(m1 / m0) - (m1 - m0). */
    assert_true(fabs(sift_nb_llr(3, 8, 4, 0) - (3 * log(0.5) + 4)) < 1e-12);
    /* c > 0: the difference of the two pmfs' logs, for small and large
     * counts (a +-23% swing: c = 0.053). */
    const double xs[] = {0, 3, 40, 500, 1000};
    for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
        double want =
            nb_logpmf(xs[i], 500, 0.053) - nb_logpmf(xs[i], 1000, 0.053);
        assert_true(fabs(sift_nb_llr(xs[i], 1000, 500, 0.053) - want) <
                    1e-6 * (1 + fabs(want)));
    }
    /* A tiny c is the Poisson (no cancellation). */
    assert_true(fabs(sift_nb_llr(50, 100, 50, 1e-13) - (50 * log(0.5) + 50)) <
                1e-6);
    /* Over-dispersion weakens the evidence of a low window. */
    assert_true(sift_nb_llr(500, 1000, 500, 0.053) <
                sift_nb_llr(500, 1000, 500, 0));
    assert_true(sift_nb_llr(500, 1000, 500, 0.053) > 3);
}

/* ------------------------------------------------------------------ */
/* Small counts                                                         */
/* ------------------------------------------------------------------ */

/*
 * A template seen about 2.5 times a window sending 12 (p = 1e-4 under
 * its Poisson odds, though 6 "spreads" above the level), or 8 twice in a
 * row (under the minimum excess of 10), and one seen 6 times sending 21
 * in a single window (p = 1.5e-5): no alert.  The latter sending 21 in
 * two windows in a row is an alert: neither window is five sigma alone,
 * their sum (42 of 12, p = 1e-11) is.
 */
static void
normal_api(struct sift_anomaly *an, int64_t w, int t2, int t3)
{
    send(an, w, "api", 95 + (int)(unif() * 11), 0, 1);
    send(an, w, "api", t2 < 0 ? poisson(2.5) : t2, 0, 2);
    send(an, w, "api", t3 < 0 ? poisson(6) : t3, 0, 3);
}

static void
test_scoring_rare_template_small_counts(void **state)
{
    (void)state;
    rng = 11;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 200; w++)
        normal_api(an, w, -1, -1);
    for (int k = 0; k < 3; k++) {
        normal_api(an, w++, 12, 21);
        for (int i = 0; i < 6; i++)
            normal_api(an, w++, -1, -1);
    }
    normal_api(an, w++, 8, -1);
    normal_api(an, w++, 8, -1);
    for (int i = 0; i < 6; i++)
        normal_api(an, w++, -1, -1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 0);
    int64_t start = w;
    normal_api(an, w++, -1, 21);
    normal_api(an, w++, -1, 21);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.series[0], "service=api template=3");
    assert_int_equal(f.kind[0], SIFT_ALERT_SPIKE);
    assert_int_equal(f.win[0], start + 1);
    sift_anomaly_free(an);
}

/* ------------------------------------------------------------------ */
/* Error share                                                          */
/* ------------------------------------------------------------------ */

/*
 * A service whose normal traffic holds 5% errors, at 8 to 20 events a
 * window (most windows no error, some three or four, a share of 25% now
 * and then): 3,000 windows without an alert.  Then the share rises to
 * 25% and stays: error_ratio within eight windows (at this volume that
 * is how long a 25% share takes to be as unlikely as the false-alarm
 * budget allows noise to be).
 */
static void
test_scoring_error_share_against_own_normal(void **state)
{
    (void)state;
    rng = 5;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 3000; w++) {
        int n = 8 + (int)(unif() * 13);
        send(an, w, "logcat", n, binomial(n, 0.05), 1);
    }
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 0);
    int64_t start = w;
    for (; w < start + 10; w++) {
        int n = 8 + (int)(unif() * 13);
        send(an, w, "logcat", n, binomial(n, 0.25), 1);
    }
    sift_anomaly_advance(an, w * g_win_ns);
    assert_true(f.n >= 1);
    assert_string_equal(f.series[0], "service=logcat");
    assert_int_equal(f.kind[0], SIFT_ALERT_ERROR_RATIO);
    assert_true(f.win[0] - start < 8);
    sift_anomaly_free(an);
}

/*
 * A service whose usual share is already 30% (Apache's error log), 60
 * events a window: 1,500 windows without an alert.  Then a tenth of its
 * events turn into errors (30% -> 37%, 7 points; a rise to 45% is what a
 * test tuned to "half as much again" waits for): error_ratio within the
 * 40 windows the rise lasts, by the CUSUM tuned to a rise of 5 points.
 */
static void
test_scoring_small_rise_on_high_share(void **state)
{
    (void)state;
    rng = 17;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 1500; w++)
        send(an, w, "apache", 60, binomial(60, 0.30), 1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 0);
    int64_t start = w;
    for (; w < start + 40; w++)
        send(an, w, "apache", 60, binomial(60, 0.37), 1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.series[0], "service=apache");
    assert_int_equal(f.kind[0], SIFT_ALERT_ERROR_RATIO);
    sift_anomaly_free(an);
}

/* ------------------------------------------------------------------ */
/* Drops and silence                                                    */
/* ------------------------------------------------------------------ */

/*
 * A busy service whose windows jitter by +-35% around 100: 1,000 steady
 * windows without an alert; a fall to 40% held for 10 windows raises
 * one drop alert within 5 windows, though no single window of it is
 * far outside the jitter's range.
 */
static void
test_scoring_sustained_drop_despite_jitter(void **state)
{
    (void)state;
    rng = 7;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 1000; w++)
        send(an, w, "web", (int)(100 * (1 + 0.35 * (2 * unif() - 1))), 0, 1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 0);
    int64_t start = w;
    for (; w < start + 10; w++)
        send(an, w, "web", (int)(40 * (1 + 0.35 * (2 * unif() - 1))), 0, 1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.series[0], "service=web");
    assert_int_equal(f.kind[0], SIFT_ALERT_DROP);
    assert_true(f.win[0] - start < 5);
    sift_anomaly_free(an);
}

/*
 * Windows that swing by +-35% around 100 (a fall to half is within two
 * windows' swing): 1,000 steady windows without an alert, then a fall to
 * 50% held for 20 windows raises a drop alert.  The level must not learn
 * the fall as the new normal while the drop is being tested.
 */
static void
test_scoring_drop_to_half_despite_wide_swing(void **state)
{
    (void)state;
    rng = 13;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 1000; w++)
        send(an, w, "web", poisson(100 * (1 + 0.35 * (2 * unif() - 1))), 0, 1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 0);
    int64_t start = w;
    for (; w < start + 20; w++)
        send(an, w, "web", poisson(50 * (1 + 0.35 * (2 * unif() - 1))), 0, 1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.kind[0], SIFT_ALERT_DROP);
    assert_true(f.win[0] - start < 12);
    sift_anomaly_free(an);
}

/*
 * Every window's count drawn around a mean swinging +-30% (a 17%
 * standard deviation: a fall to half is 2.9 of them, inside two
 * windows' swing), at 1,000 events a window: 3,000 steady windows
 * without an alert; then a fall to half raises a drop alert within 5
 * windows: the test weighs each window by the likelihood ratio of the
 * series' own over-dispersed counts.
 */
static void
test_scoring_drop_under_window_swing(void **state)
{
    (void)state;
    rng = 21;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 3000; w++)
        send(an, w, "web", (int)lround(1000 * (1 + 0.3 * (2 * unif() - 1))), 0,
             1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 0);
    int64_t start = w;
    for (; w < start + 20; w++)
        send(an, w, "web", (int)lround(500 * (1 + 0.3 * (2 * unif() - 1))), 0,
             1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.kind[0], SIFT_ALERT_DROP);
    assert_true(f.win[0] - start < 5);
    sift_anomaly_free(an);
}

/*
 * After a silence of a quiet service (8 events a window) its alert ends
 * once the windows favour the usual level again, and ordinary windows
 * after it do not re-fire it: one alert, over 2,000 windows after.
 */
static void
test_scoring_drop_alarm_ends_without_refiring(void **state)
{
    (void)state;
    rng = 23;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 500; w++)
        send(an, w, "db", poisson(8), 0, 1);
    int64_t start = w;
    w += 12; /* silent */
    for (int64_t end = w + 2000; w < end; w++)
        send(an, w, "db", poisson(8), 0, 1);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.kind[0], SIFT_ALERT_DROP);
    assert_true(f.win[0] - start < 3);
    sift_anomaly_free(an);
}

/* A busy service goes silent while another keeps the windows moving:
 * a drop alert from the first silent window. */
static void
test_scoring_silence_alerts_at_once(void **state)
{
    (void)state;
    rng = 9;
    struct fired f;
    struct sift_anomaly *an = scorer(&f);
    int64_t w = W0;
    for (; w < W0 + 100; w++) {
        send(an, w, "web", poisson(60), 0, 1);
        send(an, w, "db", poisson(60), 0, 2);
    }
    int64_t start = w;
    for (; w < start + 4; w++)
        send(an, w, "db", poisson(60), 0, 2);
    sift_anomaly_advance(an, w * g_win_ns);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.series[0], "service=web");
    assert_int_equal(f.kind[0], SIFT_ALERT_DROP);
    assert_int_equal(f.win[0], start);
    sift_anomaly_free(an);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scoring_tails_match_known_values),
        cmocka_unit_test(test_scoring_nb_llr_is_the_log_ratio_of_pmfs),
        cmocka_unit_test(test_scoring_rare_template_small_counts),
        cmocka_unit_test(test_scoring_error_share_against_own_normal),
        cmocka_unit_test(test_scoring_small_rise_on_high_share),
        cmocka_unit_test(test_scoring_sustained_drop_despite_jitter),
        cmocka_unit_test(test_scoring_drop_to_half_despite_wide_swing),
        cmocka_unit_test(test_scoring_drop_under_window_swing),
        cmocka_unit_test(test_scoring_drop_alarm_ends_without_refiring),
        cmocka_unit_test(test_scoring_silence_alerts_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
