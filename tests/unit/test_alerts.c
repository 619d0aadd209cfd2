/*
 * test_alerts.c - the alert state machine (src/anomaly/alerts.c), fed score
 * sequences directly: hold, resolve, cooldown dedup, feedback raises.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sift/alert_format.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/error.h"

#define W 10 /* window length in these tests (ns, arbitrary) */

struct rec {
    int n;
    enum sift_alert_event ev[64];
    struct sift_alert al[64];
};

static void
on_alert(enum sift_alert_event ev, const struct sift_alert *al, void *arg)
{
    struct rec *r = arg;
    if (r->n < 64) {
        r->ev[r->n] = ev;
        r->al[r->n] = *al;
        r->n++;
    }
}

static const struct sift_alerts_cfg cfg = {
    .threshold = 50,
    .hold_windows = 3,
    .resolve_windows = 2,
    .cooldown_ns = 5 * W,
    .fp_raise = 10,
    .max_raise = 25,
};

static int
setup(void **state)
{
    static struct rec r;
    memset(&r, 0, sizeof(r));
    struct sift_alerts *a;
    assert_int_equal(sift_alerts_new(&cfg, on_alert, &r, &a), SIFT_OK);
    state[0] = a;
    return 0;
}

static int
teardown(void **state)
{
    sift_alerts_free(state[0]);
    return 0;
}

/* Feeds scores for windows t0, t0+1, ... of series key 7. */
static void
feed(struct sift_alerts *a, int t0, const double *scores, int n)
{
    for (int i = 0; i < n; i++)
        sift_alerts_observe(a, 7, "service=api", SIFT_ALERT_SPIKE, scores[i], 0,
                            (int64_t)(t0 + i) * W, (int64_t)(t0 + i + 1) * W);
}

static void
test_alerts_hold_k_windows_then_fire(void **state)
{
    struct sift_alerts *a = state[0];
    const double s1[] = {60, 70, 10, 60, 60}; /* broken run: no fire */
    feed(a, 0, s1, 5);
    struct sift_alert al;
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_ENOTFOUND);
    const double s2[] = {80}; /* third in a row: fires */
    feed(a, 5, s2, 1);
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_FIRING);
    assert_int_equal(al.n_windows, 3);
    assert_int_equal(al.started_ns, 3 * W);
    assert_true(al.score >= 80);
}

static void
test_alerts_resolve_and_dedup_in_cooldown(void **state)
{
    struct sift_alerts *a = state[0];
    const double fire[] = {60, 60, 60, 90}; /* fire at 2, update at 3 */
    feed(a, 0, fire, 4);
    const double calm[] = {10, 10}; /* resolves at window 5 */
    feed(a, 4, calm, 2);
    struct sift_alert al;
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_RESOLVED);
    assert_int_equal(al.resolved_ns, 6 * W);
    assert_true(al.score >= 90);
    /* Fires again within cooldown: same alert re-opened. */
    feed(a, 6, fire, 3);
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_FIRING);
    assert_int_equal(sift_alerts_get(a, 2, &al), SIFT_ENOTFOUND);
    feed(a, 9, calm, 2); /* resolved at 11 */
    /* After the cooldown (11 + 5 windows), a new alert. */
    feed(a, 20, fire, 3);
    assert_int_equal(sift_alerts_get(a, 2, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_FIRING);
}

static void
test_alerts_events_sequence(void **state)
{
    (void)state;
    struct rec r;
    memset(&r, 0, sizeof(r));
    struct sift_alerts *a;
    assert_int_equal(sift_alerts_new(&cfg, on_alert, &r, &a), SIFT_OK);
    const double s[] = {60, 60, 60, 70, 65, 10, 10, 10};
    feed(a, 0, s, 8);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.ev[0], SIFT_ALERT_EV_FIRE);
    assert_int_equal(r.ev[1], SIFT_ALERT_EV_UPDATE); /* peak 70 */
    assert_int_equal(r.ev[2], SIFT_ALERT_EV_RESOLVE);
    assert_int_equal(r.al[2].id, r.al[0].id);
    assert_string_equal(r.al[0].series, "service=api");
    struct sift_buf b = SIFT_BUF_INIT;
    sift_alert_to_json(&r.al[2], &b);
    const char *j = sift_buf_cstr(&b);
    assert_non_null(strstr(j, "\"kind\":\"spike\""));
    assert_non_null(strstr(j, "\"state\":\"resolved\""));
    assert_non_null(strstr(j, "\"query\":\"service.name:\\\"api\\\"\""));
    sift_buf_cleanup(&b);
    sift_alerts_free(a);
}

static void
test_alerts_false_positive_raises_bounded(void **state)
{
    struct sift_alerts *a = state[0];
    const double s[] = {55, 55, 55, 0, 0};
    feed(a, 0, s, 5);
    assert_int_equal(sift_alerts_feedback(a, 1, SIFT_LABEL_FALSE_POSITIVE),
                     SIFT_OK);
    assert_true(sift_alerts_threshold(a, 7) > 59.9);
    /* Labelling twice does not raise twice. */
    assert_int_equal(sift_alerts_feedback(a, 1, SIFT_LABEL_FALSE_POSITIVE),
                     SIFT_OK);
    assert_true(sift_alerts_threshold(a, 7) < 60.1);
    /* The same noise no longer fires (long after the cooldown). */
    feed(a, 100, s, 5);
    struct sift_alert al;
    assert_int_equal(sift_alerts_get(a, 2, &al), SIFT_ENOTFOUND);
    /* A bigger incident still fires; more FPs raise up to the bound. */
    const double big[] = {95, 95, 95, 0, 0};
    feed(a, 200, big, 5);
    assert_int_equal(sift_alerts_get(a, 2, &al), SIFT_OK);
    assert_int_equal(sift_alerts_feedback(a, 2, SIFT_LABEL_FALSE_POSITIVE),
                     SIFT_OK);
    feed(a, 300, big, 5);
    assert_int_equal(sift_alerts_feedback(a, 3, SIFT_LABEL_FALSE_POSITIVE),
                     SIFT_OK);
    assert_true(sift_alerts_threshold(a, 7) <= 75.0 + 1e-9);
    assert_true(sift_alerts_threshold(a, 7) >= 75.0 - 1e-9);
    /* A true positive steps back. */
    assert_int_equal(sift_alerts_feedback(a, 3, SIFT_LABEL_TRUE_POSITIVE),
                     SIFT_OK);
    assert_true(sift_alerts_threshold(a, 7) < 70);
    assert_int_equal(sift_alerts_feedback(a, 99, SIFT_LABEL_FALSE_POSITIVE),
                     SIFT_ENOTFOUND);
    /* Other series keep the base threshold. */
    assert_true(sift_alerts_threshold(a, 8) < 50.1);
}

static void
test_alerts_hold_override_fires_at_once(void **state)
{
    struct sift_alerts *a = state[0];
    sift_alerts_observe(a, 9, "service=x template=3", SIFT_ALERT_NEW_PATTERN,
                        100, 1, 0, W);
    struct sift_alert al;
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_int_equal(al.kind, SIFT_ALERT_NEW_PATTERN);
    assert_int_equal(al.n_windows, 1);
}

static void
test_alerts_series_override_threshold(void **state)
{
    struct sift_alerts *a = state[0];
    assert_int_equal(sift_alerts_set_override(a, "service=api", 85), SIFT_OK);
    assert_int_equal(sift_alerts_set_override(a, "", 85), SIFT_EINVAL);
    /* 80 would fire at the base 50; the override holds it back. */
    const double s1[] = {80, 80, 80, 80};
    feed(a, 0, s1, 4);
    struct sift_alert al;
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_ENOTFOUND);
    assert_true(sift_alerts_series_threshold(a, 7, "service=api") == 85);
    assert_true(sift_alerts_series_threshold(a, 7, "service=web") == 50);
    const double s2[] = {90, 90, 90};
    feed(a, 4, s2, 3);
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_true(al.threshold == 85);
}

static void
test_alerts_raise_step_rule(void **state)
{
    (void)state;
    /* cfg: fp_raise 10, max_raise 25 */
    assert_true(sift_alerts_raise_step(&cfg, 0, SIFT_LABEL_NONE,
                                       SIFT_LABEL_FALSE_POSITIVE) == 10);
    assert_true(sift_alerts_raise_step(&cfg, 20, SIFT_LABEL_NONE,
                                       SIFT_LABEL_FALSE_POSITIVE) == 25);
    assert_true(sift_alerts_raise_step(&cfg, 10, SIFT_LABEL_FALSE_POSITIVE,
                                       SIFT_LABEL_FALSE_POSITIVE) == 10);
    assert_true(sift_alerts_raise_step(&cfg, 10, SIFT_LABEL_FALSE_POSITIVE,
                                       SIFT_LABEL_TRUE_POSITIVE) == 0);
    assert_true(sift_alerts_raise_step(&cfg, 5, SIFT_LABEL_NONE,
                                       SIFT_LABEL_TRUE_POSITIVE) == 0);
}

static void
test_alerts_restore_resolves_and_continues_ids(void **state)
{
    struct sift_alerts *a = state[0];
    /* An alert that was firing when the previous process stopped. */
    struct sift_alert old;
    memset(&old, 0, sizeof(old));
    old.id = 41;
    snprintf(old.series, sizeof(old.series), "service=api");
    old.series_key = 7;
    old.kind = SIFT_ALERT_SPIKE;
    old.state = SIFT_ALERT_FIRING;
    old.score = 70;
    old.started_ns = 0;
    sift_alerts_restore(a, &old);
    sift_alerts_set_raise(a, 7, 20);
    assert_true(sift_alerts_threshold(a, 7) == 70);
    /* Two calm windows (resolve_windows 2) resolve the restored alert. */
    const double calm[] = {10, 10};
    feed(a, 100, calm, 2);
    struct sift_alert al;
    assert_int_equal(sift_alerts_get(a, 41, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_RESOLVED);
    assert_int_equal(al.resolved_ns, 102 * W);
    /* After the cooldown a new incident gets the next id, not 1. */
    const double fire[] = {90, 90, 90};
    feed(a, 200, fire, 3);
    assert_int_equal(sift_alerts_get(a, 42, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_FIRING);
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_ENOTFOUND);
    sift_alerts_set_next_id(a, 10); /* never lowers the counter */
    sift_alerts_set_raise(a, 7, 1000);
    assert_true(sift_alerts_threshold(a, 7) == 75); /* max_raise 25 */
}

/*
 * Evidence: the template ids given while a series is over its threshold
 * are on the alert from its FIRE event on, each once, the first
 * SIFT_ALERT_TEMPLATES_MAX kept and all counted; new ones update a firing
 * alert; JSON and query carry them.
 */
static void
test_alerts_template_evidence(void **state)
{
    (void)state;
    struct rec r;
    memset(&r, 0, sizeof(r));
    struct sift_alerts *a;
    assert_int_equal(sift_alerts_new(&cfg, on_alert, &r, &a), SIFT_OK);
    uint32_t t1[] = {17, 18, 17};
    struct sift_alert_extra x1 = {t1, 3};
    sift_alerts_observe_with(a, 9, "service=api", SIFT_ALERT_NEW_PATTERN, 100,
                             1, 0, W, &x1);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.ev[0], SIFT_ALERT_EV_FIRE);
    assert_int_equal(r.al[0].n_templates, 2);
    assert_int_equal(r.al[0].templates[0], 17);
    assert_int_equal(r.al[0].templates[1], 18);
    assert_int_equal(r.al[0].n_templates_total, 2);
    uint32_t t2[12];
    for (uint32_t i = 0; i < 12; i++)
        t2[i] = 100 + i;
    struct sift_alert_extra x2 = {t2, 12};
    sift_alerts_observe_with(a, 9, "service=api", SIFT_ALERT_NEW_PATTERN, 100,
                             1, W, 2 * W, &x2);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.ev[1], SIFT_ALERT_EV_UPDATE);
    assert_int_equal(r.al[1].n_templates, SIFT_ALERT_TEMPLATES_MAX);
    assert_int_equal(r.al[1].n_templates_total, 14);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_alert_to_json(&r.al[0], &b);
    assert_non_null(strstr(sift_buf_cstr(&b), "\"templates\":[17,18],"
                                              "\"templates_total\":2"));
    assert_non_null(strstr(b.data, "service.name:\\\"api\\\" AND "
                                   "_template_id:(17 OR 18)"));
    sift_buf_cleanup(&b);
    /* A quiet window adds nothing; the same ids again change nothing. */
    sift_alerts_observe_with(a, 9, "service=api", SIFT_ALERT_NEW_PATTERN, 100,
                             1, 2 * W, 3 * W, &x1);
    assert_int_equal(r.n, 2);
    sift_alerts_free(a);
}

/* Scores are written as they are, never rounded to one decimal. */
static void
test_alerts_json_scores_shortest(void **state)
{
    (void)state;
    struct sift_alert al;
    memset(&al, 0, sizeof(al));
    al.id = 3;
    snprintf(al.series, sizeof(al.series), "service=api");
    al.kind = SIFT_ALERT_SPIKE;
    al.state = SIFT_ALERT_FIRING;
    al.score = 49.96;     /* under 50: not "50.0" */
    al.last_score = 0.04; /* not "0.0" */
    al.threshold = 50;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_alert_to_json(&al, &b);
    assert_non_null(strstr(sift_buf_cstr(&b), "\"score\":49.96,"
                                              "\"last_score\":0.04,"
                                              "\"threshold\":50,"));
    sift_buf_cleanup(&b);
}

/* One observation of series name (key) at window t. */
static void
obs(struct sift_alerts *a, uint64_t key, const char *name,
    enum sift_alert_kind kind, double score, int t)
{
    sift_alerts_observe(a, key, name, kind, score, 1, (int64_t)t * W,
                        (int64_t)(t + 1) * W);
}

/*
 * Alert budget: while the service's alert is open, its error count's and
 * a template's series going over attach to it (UPDATE, "related"), they
 * fire nothing of their own; another service still gets its own alert;
 * the alert resolves only when every attached series is back under.
 */
static void
test_alerts_one_alert_per_service_incident(void **state)
{
    struct sift_alerts *a = state[0];
    static struct rec got;
    memset(&got, 0, sizeof(got));
    sift_alerts_free(a);
    assert_int_equal(sift_alerts_new(&cfg, on_alert, &got, &a), SIFT_OK);
    state[0] = a;
    obs(a, 1, "service=my api", SIFT_ALERT_ERROR_RATIO, 90, 0);
    obs(a, 2, "service=my api level=error", SIFT_ALERT_SPIKE, 80, 0);
    obs(a, 3, "service=my api template=12", SIFT_ALERT_SPIKE, 70, 0);
    obs(a, 4, "service=my", SIFT_ALERT_SPIKE, 70, 0); /* another service */
    obs(a, 5, "service=my api", SIFT_ALERT_SPIKE, 60, 0);
    int fires = 0;
    for (int i = 0; i < got.n; i++)
        fires += got.ev[i] == SIFT_ALERT_EV_FIRE;
    assert_int_equal(fires, 2);
    struct sift_alert al;
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_string_equal(al.series, "service=my api");
    assert_int_equal(al.kind, SIFT_ALERT_ERROR_RATIO);
    assert_int_equal(al.n_related, 3);
    assert_int_equal(al.n_open, 4);
    assert_string_equal(al.related[0].series, "service=my api level=error");
    assert_int_equal(al.related[1].kind, SIFT_ALERT_SPIKE);
    assert_string_equal(al.related[2].series, "service=my api");
    assert_int_equal(sift_alerts_get(a, 2, &al), SIFT_OK);
    assert_string_equal(al.series, "service=my");
    assert_int_equal(sift_alerts_get(a, 3, &al), SIFT_ENOTFOUND);
    /* The ratio is back under; the template still storms: open. */
    for (int t = 1; t <= 4; t++) {
        obs(a, 1, "service=my api", SIFT_ALERT_ERROR_RATIO, 10, t);
        obs(a, 2, "service=my api level=error", SIFT_ALERT_SPIKE, 10, t);
        obs(a, 5, "service=my api", SIFT_ALERT_SPIKE, 10, t);
        obs(a, 3, "service=my api template=12", SIFT_ALERT_SPIKE, 70, t);
    }
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_FIRING);
    assert_int_equal(al.n_open, 1);
    obs(a, 3, "service=my api template=12", SIFT_ALERT_SPIKE, 10, 5);
    obs(a, 3, "service=my api template=12", SIFT_ALERT_SPIKE, 10, 6);
    assert_int_equal(sift_alerts_get(a, 1, &al), SIFT_OK);
    assert_int_equal(al.state, SIFT_ALERT_RESOLVED);
    assert_int_equal(al.resolved_ns, 7 * W);
    /* The evidence is in the alert's JSON. */
    struct sift_buf b = SIFT_BUF_INIT;
    sift_alert_to_json(&al, &b);
    sift_buf_cstr(&b);
    assert_non_null(strstr(b.data, "\"related\":[{\"series\":\"service=my "
                                   "api level=error\",\"kind\":\"spike\"}"));
    assert_non_null(strstr(b.data, "\"related_total\":3"));
    sift_buf_cleanup(&b);
    fires = 0;
    for (int i = 0; i < got.n; i++)
        fires += got.ev[i] == SIFT_ALERT_EV_FIRE;
    assert_int_equal(fires, 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alerts_hold_k_windows_then_fire,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_alerts_resolve_and_dedup_in_cooldown, setup, teardown),
        cmocka_unit_test(test_alerts_events_sequence),
        cmocka_unit_test_setup_teardown(
            test_alerts_false_positive_raises_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_hold_override_fires_at_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_series_override_threshold,
                                        setup, teardown),
        cmocka_unit_test(test_alerts_raise_step_rule),
        cmocka_unit_test(test_alerts_template_evidence),
        cmocka_unit_test(test_alerts_json_scores_shortest),
        cmocka_unit_test_setup_teardown(
            test_alerts_restore_resolves_and_continues_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_alerts_one_alert_per_service_incident, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
