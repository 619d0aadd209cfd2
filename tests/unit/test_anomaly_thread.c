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
#include <stdio.h>
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

/* Synchronous core (no thread): alerts collected per series name. */
struct coll {
    int n;
    char series[16][SIFT_ALERT_SERIES_MAX];
    int kind[16];
    int64_t started_ns[16];
};

static void
on_collect(enum sift_alert_event ev, const struct sift_alert *al, void *arg)
{
    struct coll *c = arg;
    if (ev != SIFT_ALERT_EV_FIRE || c->n >= 16)
        return;
    memcpy(c->series[c->n], al->series, sizeof(c->series[0]));
    c->kind[c->n] = al->kind;
    c->started_ns[c->n] = al->started_ns;
    c->n++;
}

static void
feed(struct sift_anomaly *an, int64_t win_ns, int64_t win, int n, uint32_t tid)
{
    for (int i = 0; i < n; i++) {
        struct sift_anomaly_rec rec;
        sift_anomaly_rec_init(&rec, win * win_ns + i, "api", 3, SIFT_LVL_INFO,
                              tid);
        sift_anomaly_process(an, &rec);
    }
}

static void
test_anomaly_template_spike_alerts_on_its_series(void **state)
{
    (void)state;
    struct coll c;
    memset(&c, 0, sizeof(c));
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    struct sift_anomaly *an;
    assert_int_equal(sift_anomaly_new(&cfg, on_collect, &c, &an), SIFT_OK);
    const int64_t wn = cfg.window_ns, w0 = INT64_C(170000000);
    int64_t w = w0;
    /* Template 1 carries the traffic (100 +- 5), template 2 is rare. */
    for (; w < w0 + 60; w++) {
        feed(an, wn, w, 100 + (int)(w % 11) - 5, 1);
        feed(an, wn, w, 2, 2);
    }
    assert_int_equal(c.n, 0);
    /* Template 2 storms (+28): the service total moves by under 3
     * spreads, the template's own series by 14. */
    for (; w < w0 + 64; w++) {
        feed(an, wn, w, 100 + (int)(w % 11) - 5, 1);
        feed(an, wn, w, 30, 2);
    }
    for (; w < w0 + 70; w++) {
        feed(an, wn, w, 100 + (int)(w % 11) - 5, 1);
        feed(an, wn, w, 2, 2);
    }
    sift_anomaly_advance(an, w * wn);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.series[0], "service=api template=2");
    assert_int_equal(c.kind[0], SIFT_ALERT_SPIKE);
    assert_true(c.started_ns[0] == (w0 + 60) * wn);
    sift_anomaly_free(an);
}

/* Four days of 10-minute windows: 50 events an hour-window, 200 during
 * 02:00-03:00 UTC, and on day 4 a real spike at 10:00.  Returns alerts
 * fired after day 2 (the learning time) into c. */
static void
run_daily_shape(int seasonality, struct coll *c)
{
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.window_ns = 600 * SIFT_NS_PER_SEC;
    cfg.seasonality = seasonality;
    struct coll all;
    memset(&all, 0, sizeof(all));
    struct sift_anomaly *an;
    assert_int_equal(sift_anomaly_new(&cfg, on_collect, &all, &an), SIFT_OK);
    const int64_t wn = cfg.window_ns;
    const int64_t w0 = INT64_C(1699920000) * SIFT_NS_PER_SEC / wn; /* 00:00 */
    for (int64_t i = 0; i < 4 * 144; i++) {
        int hour = (int)(i % 144) / 6;
        int n = (hour == 2 ? 200 : 50) + (int)(i % 7) - 3;
        if (i == 3 * 144 + 60 || i == 3 * 144 + 61)
            n = 400; /* day 4, 10:00-10:20: the incident */
        feed(an, wn, w0 + i, n, 1);
    }
    sift_anomaly_advance(an, (w0 + 4 * 144) * wn);
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < all.n; i++) {
        if (all.started_ns[i] < (w0 + 2 * 144) * wn)
            continue;
        memcpy(c->series[c->n], all.series[i], sizeof(c->series[0]));
        c->kind[c->n] = all.kind[i];
        c->started_ns[c->n] = all.started_ns[i];
        c->n++;
    }
    sift_anomaly_free(an);
}

static void
test_anomaly_seasonality_learns_daily_shape(void **state)
{
    (void)state;
    struct coll off, on;
    run_daily_shape(0, &off);
    run_daily_shape(1, &on);
    /* Without seasonality the 02:00 step up and the 03:00 step down
     * alert on days 3 and 4, and so does the incident (each one alert
     * of the service: its template series attach to it). */
    assert_true(off.n >= 3);
    /* With it, only the incident: one alert (service spike, the
     * template's spike attached). */
    assert_int_equal(on.n, 1);
    const int64_t inc_ns =
        (INT64_C(1699920000) + 3 * 86400 + 10 * 3600) * SIFT_NS_PER_SEC;
    for (int i = 0; i < on.n; i++) {
        assert_int_equal(on.kind[i], SIFT_ALERT_SPIKE);
        assert_true(on.started_ns[i] == inc_ns);
    }
}

/* Lateness: how long before its arrival an event happened, saturating;
 * records later than max_lateness move windows but are not scored. */
static void
test_anomaly_thread_late_records_not_scored(void **state)
{
    (void)state;
    struct sift_anomaly_rec rec;
    const int64_t arrive = INT64_C(1700000000) * SIFT_NS_PER_SEC;
    sift_anomaly_rec_init(&rec, arrive, "api", 3, SIFT_LVL_INFO, 1);
    sift_anomaly_rec_set_event_time(&rec, arrive + 3600 * SIFT_NS_PER_SEC);
    assert_int_equal(rec.late_s, 0); /* ahead of arrival: not late */
    sift_anomaly_rec_set_event_time(&rec, arrive - 86400 * SIFT_NS_PER_SEC);
    assert_int_equal(rec.late_s, 86400);
    sift_anomaly_rec_set_event_time(&rec, INT64_MIN);
    assert_int_equal(rec.late_s, UINT32_MAX);

    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.window_ns = SIFT_NS_PER_SEC;
    cfg.max_lateness_ns = 3600 * SIFT_NS_PER_SEC;
    struct sift_anomaly *an;
    assert_int_equal(sift_anomaly_new(&cfg, NULL, NULL, &an), SIFT_OK);
    for (int i = 0; i < 5; i++) {
        sift_anomaly_rec_init(&rec, arrive + i * SIFT_NS_PER_SEC, "api", 3,
                              SIFT_LVL_INFO, 1);
        /* Two of them happened a day before they arrived. */
        sift_anomaly_rec_set_event_time(
            &rec, i % 2 ? arrive - 86400 * SIFT_NS_PER_SEC : arrive);
        sift_anomaly_process(an, &rec);
    }
    assert_int_equal(sift_anomaly_late(an), 2);
    /* The late ones still moved the windows (by arrival). */
    assert_int_equal(sift_anomaly_windows(an), 4);
    sift_anomaly_free(an);
}

struct burst {
    int n_fire;
    struct sift_alert al[32];
};

static void
on_burst(enum sift_alert_event ev, const struct sift_alert *al, void *arg)
{
    struct burst *b = arg;
    if (ev == SIFT_ALERT_EV_FIRE && b->n_fire < 32)
        b->al[b->n_fire++] = *al;
}

static void
feed_svc(struct sift_anomaly *an, int64_t win_ns, int64_t win, const char *svc,
         int n, uint32_t tid)
{
    for (int i = 0; i < n; i++) {
        struct sift_anomaly_rec rec;
        sift_anomaly_rec_init(&rec, win * win_ns + i, svc, strlen(svc),
                              SIFT_LVL_INFO, tid);
        sift_anomaly_process(an, &rec);
    }
}

/*
 * Onboarding: ten services appear at once after the scorer's warm-up,
 * each with twenty templates never seen: during their learning period
 * nothing alerts.  After it, one service sends a burst of fifteen new
 * templates in one window: one new_pattern alert for that service, the
 * templates attached as evidence.
 */
static void
test_anomaly_onboarding_and_grouped_new_patterns(void **state)
{
    (void)state;
    struct burst b;
    memset(&b, 0, sizeof(b));
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.warmup_windows = 5;
    cfg.global_warmup_windows = 5;
    cfg.learning_windows = 20;
    struct sift_anomaly *an;
    assert_int_equal(sift_anomaly_new(&cfg, on_burst, &b, &an), SIFT_OK);
    const int64_t wn = cfg.window_ns, w0 = INT64_C(170000000);
    int64_t w = w0;
    for (; w < w0 + 10; w++)
        feed_svc(an, wn, w, "base", 50, 1);
    char name[16];
    for (; w < w0 + 40; w++) {
        feed_svc(an, wn, w, "base", 50, 1);
        for (int s = 0; s < 10; s++) {
            snprintf(name, sizeof(name), "new%d", s);
            for (uint32_t t = 0; t < 20; t++)
                feed_svc(an, wn, w, name, 6, 1000 + (uint32_t)s * 100 + t);
        }
    }
    sift_anomaly_advance(an, w * wn);
    assert_int_equal(b.n_fire, 0);
    /* new3 is past its learning period: a burst of 15 new templates. */
    for (int64_t end = w + 6; w < end; w++) {
        feed_svc(an, wn, w, "base", 50, 1);
        for (int s = 0; s < 10; s++) {
            snprintf(name, sizeof(name), "new%d", s);
            for (uint32_t t = 0; t < 20; t++)
                feed_svc(an, wn, w, name, 6, 1000 + (uint32_t)s * 100 + t);
        }
        if (end - w == 6)
            for (uint32_t t = 0; t < 15; t++)
                feed_svc(an, wn, w, "new3", 6, 5000 + t);
    }
    sift_anomaly_advance(an, w * wn);
    assert_int_equal(b.n_fire, 1);
    assert_string_equal(b.al[0].series, "service=new3");
    assert_int_equal(b.al[0].kind, SIFT_ALERT_NEW_PATTERN);
    assert_int_equal(b.al[0].n_templates_total, 15);
    assert_int_equal(b.al[0].n_templates, SIFT_ALERT_TEMPLATES_MAX);
    assert_int_equal(b.al[0].templates[0], 5000);
    sift_anomaly_free(an);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_thread_late_records_not_scored),
        cmocka_unit_test(test_anomaly_thread_error_spike_alerts),
        cmocka_unit_test(test_anomaly_thread_full_ring_drops_and_counts),
        cmocka_unit_test(test_anomaly_level_parse),
        cmocka_unit_test(test_anomaly_template_spike_alerts_on_its_series),
        cmocka_unit_test(test_anomaly_seasonality_learns_daily_shape),
        cmocka_unit_test(test_anomaly_onboarding_and_grouped_new_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
