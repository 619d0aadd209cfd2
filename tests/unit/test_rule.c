/*
 * test_rule.c - alert rule definitions and their evaluator
 * (src/alerting/rule.c, src/alerting/rule_eval.c) over real segments:
 * the window ends `delay` before now (late events inside it counted,
 * newer ones not yet), counts, ratios (x/0 has no value), statistics of
 * a number field (avg, p99), absence (with and without group_by: a group
 * seen the window before and silent now), group_by bounded by
 * max_groups (the most extreme kept, watched groups always reported),
 * and validation errors that name the rule and the member.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "query_fixture.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/log.h"
#include "sift/rule.h"

#define SEC INT64_C(1000000000)
/* An aligned base time: 2026-12-07T10:00:00Z. */
#define T0 (INT64_C(1796637600) * SEC)

/* One event at ts: service, level, and (if dur >= 0) duration_ms. */
static void
add_ev(struct qf_events *e, int64_t ts, const char *service, const char *level,
       double dur)
{
    struct sift_event *ev = qf_events_push(e);
    ev->ts_ns = ts;
    char msg[96];
    int n = snprintf(msg, sizeof(msg), "%s %s request done", service, level);
    ev->msg = sift_arena_strndup(e->arena, msg, (size_t)n);
    ev->msg_len = (uint32_t)n;
    qf_add_field(e, ev, "service", service, strlen(service), SIFT_FT_KEYWORD);
    qf_add_field(e, ev, "level", level, strlen(level), SIFT_FT_KEYWORD);
    if (dur >= 0) {
        char num[32];
        int k = snprintf(num, sizeof(num), "%g", dur);
        qf_add_field(e, ev, "duration_ms", num, (size_t)k, SIFT_FT_NUMBER);
    }
}

static struct sift_config cfg;

static int
setup(void **state)
{
    (void)state;
    sift_log_set_level(SIFT_LOG_ERROR);
    sift_config_init(&cfg);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    sift_config_cleanup(&cfg);
    return 0;
}

/* Parses a rule from JSON text; fails the test on an error. */
static struct sift_rule *
rule(const char *text)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    struct sift_rule_env env = {&cfg, NULL, NULL};
    struct sift_rule *r = NULL;
    char err[400] = "";
    int rc = sift_rule_from_json(o, &env, &r, err, sizeof(err));
    json_decref(o);
    if (rc != SIFT_OK)
        fail_msg("rule refused: %s", err);
    return r;
}

/* The error of an invalid rule (asserts it is refused): holds expect, or
 * is exactly expect + 1 when expect starts with '='. */
static void
refused(const char *text, const char *expect)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    struct sift_rule_env env = {&cfg, NULL, NULL};
    struct sift_rule *r = NULL;
    char err[400] = "";
    int rc = sift_rule_from_json(o, &env, &r, err, sizeof(err));
    json_decref(o);
    assert_int_equal(rc, SIFT_EINVAL);
    assert_null(r);
    if (expect[0] == '=' ? strcmp(err, expect + 1) != 0 : !strstr(err, expect))
        fail_msg("error \"%s\" lacks \"%s\"", err, expect);
}

/* Evaluates r over one segment of e at now. */
static void
eval(const struct sift_rule *r, struct qf_events *e, int64_t now,
     const char *const *watch, size_t n_watch, struct sift_rule_result *res)
{
    struct sift_segment *seg = qf_build(e->v, NULL, e->n, 0);
    assert_non_null(seg);
    struct sift_segment *segs[1] = {seg};
    sift_rule_eval(r, segs, 1, now, 0, watch, n_watch, res);
    sift_segment_unref(seg);
    assert_int_equal(res->rc, SIFT_OK);
}

static const struct sift_rule_group *
group(const struct sift_rule_result *res, const char *name)
{
    for (size_t i = 0; i < res->n_groups; i++)
        if (res->groups[i].group && strcmp(res->groups[i].group, name) == 0)
            return &res->groups[i];
    return NULL;
}

/* The window is [now - delay - window, now - delay): an event 1 s inside
 * it counts even though it is "late"; one newer than now - delay waits
 * for the next evaluation; one older than the window never counts. */
static void
test_count_window_and_delay(void **state)
{
    (void)state;
    struct sift_rule *r =
        rule("{\"name\":\"payments-errors\",\"query\":\"service:payments AND "
             "level:error\",\"condition\":\"count > 50\",\"window\":\"5m\","
             "\"delay\":\"10s\"}");
    int64_t now = T0 + 3600 * SEC;
    int64_t end = now - 10 * SEC; /* the window's end */
    struct qf_events e = {0};
    for (int i = 0; i < 50; i++) /* inside the window */
        add_ev(&e, end - 290 * SEC + i * SEC, "payments", "error", -1);
    add_ev(&e, end - 1 * SEC, "payments", "error", -1);   /* late: counted */
    add_ev(&e, end + 2 * SEC, "payments", "error", -1);   /* in the delay */
    add_ev(&e, end - 301 * SEC, "payments", "error", -1); /* too old */
    add_ev(&e, end - 5 * SEC, "payments", "info", -1);    /* other level */
    add_ev(&e, end - 5 * SEC, "checkout", "error", -1);   /* other service */
    struct sift_rule_result res;
    eval(r, &e, now, NULL, 0, &res);
    assert_int_equal(res.to_ns, end);
    assert_int_equal(res.from_ns, end - 300 * SEC);
    assert_int_equal(res.n_groups, 1);
    assert_null(res.groups[0].group);
    assert_true(res.groups[0].has_value);
    assert_true(res.groups[0].value == 51.0);
    assert_true(res.groups[0].holds);
    sift_rule_result_cleanup(&res);

    /* One fewer event inside the window: 50 is not > 50. */
    e.v[50].ts_ns = end - 400 * SEC;
    eval(r, &e, now, NULL, 0, &res);
    assert_true(res.groups[0].value == 50.0);
    assert_false(res.groups[0].holds);
    sift_rule_result_cleanup(&res);
    qf_events_free(&e);
    sift_rule_free(r);
}

/* ratio = count(query) / count(denominator); x/0 has no value and does
 * not hold (no traffic is not an error rate of 100%). */
static void
test_ratio(void **state)
{
    (void)state;
    struct sift_rule *r = rule(
        "{\"name\":\"checkout-ratio\",\"query\":\"service:checkout AND "
        "level:error\",\"denominator\":\"service:checkout\","
        "\"condition\":\"ratio > 0.05\",\"window\":\"10m\",\"delay\":\"0s\"}");
    int64_t now = T0 + 3600 * SEC;
    struct qf_events e = {0};
    for (int i = 0; i < 100; i++)
        add_ev(&e, now - 500 * SEC + i * SEC, "checkout",
               i < 6 ? "error" : "info", -1);
    for (int i = 0; i < 50; i++) /* other services do not dilute it */
        add_ev(&e, now - 400 * SEC + i * SEC, "search", "info", -1);
    struct sift_rule_result res;
    eval(r, &e, now, NULL, 0, &res);
    assert_true(res.groups[0].has_value);
    assert_float_equal(res.groups[0].value, 0.06, 1e-12);
    assert_true(res.groups[0].holds);
    sift_rule_result_cleanup(&res);

    /* 5 of 100: not above 0.05. */
    e.v[5].fields[1].value = "info";
    e.v[5].fields[1].value_len = 4;
    eval(r, &e, now, NULL, 0, &res);
    assert_float_equal(res.groups[0].value, 0.05, 1e-12);
    assert_false(res.groups[0].holds);
    sift_rule_result_cleanup(&res);

    /* No checkout events at all in the window: no value, no alert. */
    eval(r, &e, now + 3600 * SEC, NULL, 0, &res);
    assert_false(res.groups[0].has_value);
    assert_false(res.groups[0].holds);
    sift_rule_result_cleanup(&res);
    qf_events_free(&e);
    sift_rule_free(r);
}

/* Statistics of a number field: p99 (interpolated) and avg; events
 * without the field count as events but give no number. */
static void
test_statistics(void **state)
{
    (void)state;
    struct sift_rule *p99 =
        rule("{\"name\":\"slow\",\"query\":\"service:api\",\"condition\":"
             "\"p99(duration_ms) > 500\",\"window\":\"5m\",\"delay\":\"0\"}");
    struct sift_rule *avg =
        rule("{\"name\":\"avg\",\"query\":\"service:api\",\"condition\":"
             "\"avg(duration_ms) >= 100\",\"window\":\"5m\",\"delay\":\"0\"}");
    int64_t now = T0 + 3600 * SEC;
    struct qf_events e = {0};
    for (int i = 1; i <= 100; i++) /* 10, 20, ... 1000 */
        add_ev(&e, now - 200 * SEC + i * SEC, "api", "info", i * 10.0);
    add_ev(&e, now - 10 * SEC, "api", "info", -1); /* no number */
    struct sift_rule_result res;
    eval(p99, &e, now, NULL, 0, &res);
    /* rank 0.99 * 99 = 98.01 -> 990 + 0.01 * 10 */
    assert_float_equal(res.groups[0].value, 990.1, 1e-9);
    assert_true(res.groups[0].holds);
    assert_int_equal(res.groups[0].events, 101);
    sift_rule_result_cleanup(&res);
    eval(avg, &e, now, NULL, 0, &res);
    assert_float_equal(res.groups[0].value, 505.0, 1e-9);
    assert_true(res.groups[0].holds);
    sift_rule_result_cleanup(&res);
    /* No numbers in the window: nothing to compare. */
    eval(avg, &e, now + 3600 * SEC, NULL, 0, &res);
    assert_false(res.groups[0].has_value);
    assert_false(res.groups[0].holds);
    sift_rule_result_cleanup(&res);
    qf_events_free(&e);
    sift_rule_free(p99);
    sift_rule_free(avg);
}

/* absent: holds when nothing matched in the window. */
static void
test_absent(void **state)
{
    (void)state;
    struct sift_rule *r =
        rule("{\"name\":\"billing-heartbeat\",\"query\":\"service:billing\","
             "\"condition\":\"absent\",\"window\":\"15m\",\"delay\":\"0s\"}");
    int64_t now = T0 + 3600 * SEC;
    struct qf_events e = {0};
    add_ev(&e, now - 14 * 60 * SEC, "billing", "info", -1);
    add_ev(&e, now - 60 * SEC, "api", "info", -1);
    struct sift_rule_result res;
    eval(r, &e, now, NULL, 0, &res);
    assert_true(res.groups[0].value == 1.0);
    assert_false(res.groups[0].holds);
    sift_rule_result_cleanup(&res);
    /* Two minutes later the heartbeat is 16 minutes old. */
    eval(r, &e, now + 120 * SEC, NULL, 0, &res);
    assert_true(res.groups[0].value == 0.0);
    assert_true(res.groups[0].holds);
    sift_rule_result_cleanup(&res);
    qf_events_free(&e);
    sift_rule_free(r);
}

/* absent per group: a service seen the window before and silent now
 * holds; one never seen does not (nothing to miss); a watched group with
 * no event at all still holds (it is still missing). */
static void
test_absent_per_group(void **state)
{
    (void)state;
    struct sift_rule *r =
        rule("{\"name\":\"source-stopped\",\"query\":\"*\",\"condition\":"
             "\"absent\",\"group_by\":\"service\",\"window\":\"5m\","
             "\"delay\":\"0s\"}");
    int64_t now = T0 + 3600 * SEC;
    struct qf_events e = {0};
    add_ev(&e, now - 420 * SEC, "billing", "info", -1); /* window before */
    add_ev(&e, now - 400 * SEC, "api", "info", -1);     /* window before */
    add_ev(&e, now - 100 * SEC, "api", "info", -1);     /* now too */
    struct sift_rule_result res;
    const char *watch[] = {"gone-long-ago"};
    eval(r, &e, now, watch, 1, &res);
    const struct sift_rule_group *b = group(&res, "billing");
    assert_non_null(b);
    assert_true(b->holds);
    assert_null(group(&res, "api")); /* neither holding nor watched */
    const struct sift_rule_group *w = group(&res, "gone-long-ago");
    assert_non_null(w);
    assert_true(w->holds);
    sift_rule_result_cleanup(&res);
    qf_events_free(&e);
    sift_rule_free(r);
}

/* group_by: one value per group; at most max_groups holding groups are
 * reported (the most extreme first), the rest counted as dropped; a
 * watched group (pending or firing) is reported even when it no longer
 * holds, so it can resolve. */
static void
test_group_by_bounded(void **state)
{
    (void)state;
    struct sift_rule *r =
        rule("{\"name\":\"errors-per-service\",\"query\":\"level:error\","
             "\"condition\":\"count >= 3\",\"group_by\":\"service\","
             "\"max_groups\":2,\"window\":\"5m\",\"delay\":\"0s\"}");
    int64_t now = T0 + 3600 * SEC;
    struct qf_events e = {0};
    static const char *const svc[] = {"a", "b", "c", "d", "e"};
    for (int s = 0; s < 5; s++) /* a: 3 errors, b: 4, ... e: 7 */
        for (int i = 0; i < 3 + s; i++)
            add_ev(&e, now - 100 * SEC + i * SEC, svc[s], "error", -1);
    add_ev(&e, now - 50 * SEC, "quiet", "error", -1);
    struct sift_rule_result res;
    const char *watch[] = {"quiet"};
    eval(r, &e, now, watch, 1, &res);
    assert_int_equal(res.groups_seen, 6);
    assert_int_equal(res.groups_dropped, 3);
    assert_int_equal(res.events, 26);
    assert_int_equal(res.n_groups, 3);
    assert_true(group(&res, "e")->holds && group(&res, "e")->value == 7.0);
    assert_true(group(&res, "d")->holds && group(&res, "d")->value == 6.0);
    assert_null(group(&res, "a"));
    const struct sift_rule_group *q = group(&res, "quiet");
    assert_non_null(q);
    assert_false(q->holds);
    assert_true(q->value == 1.0);
    sift_rule_result_cleanup(&res);
    qf_events_free(&e);
    sift_rule_free(r);
}

/* Every refusal names the rule and the member, and says what is valid. */
static void
test_validation(void **state)
{
    (void)state;
    refused("{\"name\":\"x\",\"query\":\"level:(error\",\"condition\":"
            "\"count > 1\"}",
            "rule \"x\": query");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count >> 1\"}",
            "rule \"x\": condition \"count >> 1\"");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"p100(d) > 1\"}",
            "percentile");
    refused("{\"name\":\"x\",\"query\":\"a\"}", "condition: required");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"ratio > 1\"}",
            "denominator: required");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count > 1\","
            "\"windw\":\"5m\"}",
            "windw");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count > 1\","
            "\"window\":\"60d\"}",
            "longer than tiers.retention");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count > 1\","
            "\"window\":\"soon\"}",
            "rule \"x\": window");
    /* A bare number is milliseconds: the error says so. */
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count > 1\","
            "\"window\":300}",
            "window: at least 1s, not 300 ms (a bare number is milliseconds");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count > 1\","
            "\"interval\":5}",
            "interval: at least 1s, not 5 ms");
    /* The query's position is said once. */
    refused(
        "{\"name\":\"x\",\"query\":\"(a AND\",\"condition\":\"count > "
        "1\"}",
        "=rule \"x\": query does not parse: expected a term after AND at 6");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count > 1\","
            "\"severity\":\"panic\"}",
            "severity");
    refused("{\"name\":\"x\",\"query\":\"a\",\"condition\":\"count > 1\","
            "\"max_groups\":0}",
            "max_groups");
    refused("{\"name\":\"bad name!\",\"query\":\"a\",\"condition\":\"count > "
            "1\"}",
            "name \"bad name!\"");
    refused("{\"query\":\"a\",\"condition\":\"count > 1\"}", "name: required");
    refused("{\"name\":\"x\",\"query\":\"@nosuch\",\"condition\":\"count > "
            "1\"}",
            "no saved search \"nosuch\"");
}

/* The definition written back parses to the same definition. */
static void
test_round_trip(void **state)
{
    (void)state;
    struct sift_rule *r = rule(
        "{\"name\":\"rt\",\"query\":\"service:\\\"a b\\\"\",\"condition\":"
        "\"p99.9(duration_ms) > 250\",\"window\":\"10m\",\"interval\":"
        "\"30s\",\"for\":\"1m\",\"group_by\":\"host\",\"labels\":{\"team\":"
        "\"pay\"},\"severity\":\"critical\",\"description\":\"slow\"}");
    struct sift_buf a = SIFT_BUF_INIT, b = SIFT_BUF_INIT;
    sift_rule_to_json(r, &a);
    struct sift_rule *r2 = rule(sift_buf_cstr(&a));
    sift_rule_to_json(r2, &b);
    assert_string_equal(sift_buf_cstr(&a), sift_buf_cstr(&b));
    assert_int_equal(r2->window_ns, 600 * SEC);
    assert_int_equal(r2->interval_ns, 30 * SEC);
    assert_int_equal(r2->for_ns, 60 * SEC);
    assert_int_equal(r2->stat, SIFT_RULE_PCT);
    assert_float_equal(r2->pct, 99.9, 1e-12);
    assert_int_equal(r2->severity, SIFT_SEVERITY_CRITICAL);
    assert_string_equal(r2->group_by, "host");
    sift_buf_cleanup(&a);
    sift_buf_cleanup(&b);
    sift_rule_free(r);
    sift_rule_free(r2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_window_and_delay),
        cmocka_unit_test(test_ratio),
        cmocka_unit_test(test_statistics),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_absent_per_group),
        cmocka_unit_test(test_group_by_bounded),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
