/*
 * test_anomaly_thread.c - the scoring thread end to end: records pushed
 * through the ring from this (producer) thread, an error spike raises an
 * alert on the scoring thread, feedback crosses back.  Also built and run
 * under ThreadSanitizer (build-tsan).  Time is event time: the thread
 * closes windows as records of later windows arrive.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sift/anomaly.h"
#include "sift/clock.h"
#include "sift/error.h"

struct seen {
    pthread_mutex_t mu;
    int n_fire, n_resolve;
    struct sift_alert first;
};

static void
on_alert(enum sift_alert_event ev, const struct sift_alert *al, void *arg)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (ev == SIFT_ALERT_EV_FIRE) {
        if (s->n_fire == 0)
            s->first = *al;
        s->n_fire++;
    } else if (ev == SIFT_ALERT_EV_RESOLVE) {
        s->n_resolve++;
    }
    pthread_mutex_unlock(&s->mu);
}

static uint64_t n_refused; /* pushes refused by a full ring */

static void
push_all(struct sift_anomaly *an, const struct sift_anomaly_rec *rec)
{
    /* The producer never blocks; in this test it retries so nothing is
     * lost and the outcome is deterministic. */
    for (int tries = 0; sift_anomaly_push(an, rec) != SIFT_OK; tries++) {
        n_refused++;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
        assert_true(tries < 100000);
    }
}

static void
push_window(struct sift_anomaly *an, int64_t win, int n_info, int n_err)
{
    const int64_t base = INT64_C(1700000000) * SIFT_NS_PER_SEC;
    for (int i = 0; i < n_info + n_err; i++) {
        struct sift_anomaly_rec rec;
        int err = i >= n_info;
        sift_anomaly_rec_init(
            &rec, base + win * 10 * SIFT_NS_PER_SEC + i * 1000, "checkout", 8,
            err ? SIFT_LVL_ERROR : SIFT_LVL_INFO, err ? 2u : 1u);
        push_all(an, &rec);
    }
}

static void
test_anomaly_thread_error_spike_alerts(void **state)
{
    (void)state;
    struct seen seen;
    memset(&seen, 0, sizeof(seen));
    pthread_mutex_init(&seen.mu, NULL);
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.ring_records = 256; /* small: exercises full/empty edges */
    cfg.warmup_windows = 10;
    cfg.global_warmup_windows = 10;
    cfg.idle_flush_ns = 3600 * SIFT_NS_PER_SEC; /* event time only */
    struct sift_anomaly *an;
    assert_int_equal(sift_anomaly_new(&cfg, on_alert, &seen, &an), SIFT_OK);
    assert_int_equal(sift_anomaly_start(an), SIFT_OK);
    int64_t w = 0;
    for (; w < 40; w++)
        push_window(an, w, 50 + (int)(w % 5), (int)(w % 2));
    for (; w < 44; w++)
        push_window(an, w, 50, 60); /* incident */
    for (; w < 60; w++)
        push_window(an, w, 50 + (int)(w % 5), (int)(w % 2));
    sift_anomaly_stop(an);
    /* Checked after join: the thread is gone, no race on seen. */
    assert_true(seen.n_fire >= 1);
    assert_true(seen.n_resolve >= 1);
    assert_true(seen.first.started_ns >= INT64_C(1700000000) * SIFT_NS_PER_SEC +
                                             40 * 10 * SIFT_NS_PER_SEC);
    /* Every refused push was counted as a drop (the test then retried). */
    assert_int_equal(sift_anomaly_dropped(an), n_refused);
    /* Feedback crosses to the thread; restart to apply it. */
    sift_anomaly_feedback(an, seen.first.id, SIFT_LABEL_FALSE_POSITIVE);
    assert_int_equal(sift_anomaly_start(an), SIFT_OK);
    sift_anomaly_stop(an);
    sift_anomaly_free(an);
    pthread_mutex_destroy(&seen.mu);
}

static void
test_anomaly_thread_full_ring_drops_and_counts(void **state)
{
    (void)state;
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.ring_records = 16;
    struct sift_anomaly *an;
    assert_int_equal(sift_anomaly_new(&cfg, NULL, NULL, &an), SIFT_OK);
    /* Not started: nobody pops, so pushes past capacity are dropped. */
    struct sift_anomaly_rec rec;
    sift_anomaly_rec_init(&rec, 1, "a-very-long-service-name-cut-here", 33,
                          SIFT_LVL_INFO, 1);
    assert_int_equal(rec.service_len, SIFT_ANOMALY_SERVICE_MAX);
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += sift_anomaly_push(an, &rec) == SIFT_OK;
    assert_int_equal(ok, 16);
    assert_int_equal(sift_anomaly_dropped(an), 4);
    sift_anomaly_free(an);
}

static void
test_anomaly_level_parse(void **state)
{
    (void)state;
    assert_int_equal(sift_anomaly_level_parse("ERROR", 5), SIFT_LVL_ERROR);
    assert_int_equal(sift_anomaly_level_parse("err", 3), SIFT_LVL_ERROR);
    assert_int_equal(sift_anomaly_level_parse("emerg", 5), SIFT_LVL_FATAL);
    assert_int_equal(sift_anomaly_level_parse("Warning", 7), SIFT_LVL_WARN);
    assert_int_equal(sift_anomaly_level_parse("info", 4), SIFT_LVL_INFO);
    assert_int_equal(sift_anomaly_level_parse("", 0), SIFT_LVL_UNKNOWN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_thread_error_spike_alerts),
        cmocka_unit_test(test_anomaly_thread_full_ring_drops_and_counts),
        cmocka_unit_test(test_anomaly_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
