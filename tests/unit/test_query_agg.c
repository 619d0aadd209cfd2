/*
 * test_query_agg.c - aggregations over real segments built from
 * tests/data/query/events.tsv: histogram (fixed, auto, split, empty
 * buckets), terms, stats (exact percentiles), fields, and their errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "query/query_int.h"
#include "query_fixture.h"
#include "sift/clock.h"

struct fx {
    struct qf_events ev;
    struct sift_segment *segs[3];
};

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    const char *root = getenv("SIFT_TEST_DATA");
    char path[1024];
    snprintf(path, sizeof(path), "%s/query/events.tsv",
             root ? root : SIFT_SOURCE_DIR "/tests/data");
    if (qf_load_tsv(path, &f->ev) < 0 || f->ev.n != 12)
        return -1;
    for (size_t s = 0; s < 3; s++) {
        size_t idx[8], n = 0;
        for (size_t i = s; i < f->ev.n; i += 3)
            idx[n++] = i;
        f->segs[s] = qf_build(f->ev.v, idx, n, 0);
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    for (size_t s = 0; s < 3; s++)
        sift_segment_unref(f->segs[s]);
    qf_events_free(&f->ev);
    sift_free(f);
    return 0;
}

static struct sift_query *
parse(const char *s)
{
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse(s, strlen(s), NULL, &q, &err), SIFT_OK);
    return q;
}

static int64_t
t(const char *s)
{
    int64_t v;
    assert_int_equal(sift_query_time_parse(s, 0, &v), SIFT_OK);
    return v;
}

static void
test_query_agg_histogram_fixed_interval(void **state)
{
    struct fx *f = *state;
    struct sift_query *q = parse("*");
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.from_ns = t("2024-05-01T10:00:00Z");
    o.to_ns = t("2024-05-01T10:20:00Z");
    o.interval_ms = 5 * 60000;
    struct sift_buf out = SIFT_BUF_INIT;
    struct sift_query_error err = {0};
    assert_int_equal(qf_histogram_json(f->segs, 3, q, &o, &out, &err), 0);
    /* 10:00-10:04 five events, 10:05-10:09 five, 10:10-10:11 two, then an
     * empty bucket up to 10:20. */
    assert_string_equal(
        sift_buf_cstr(&out),
        "{\"interval_ms\":300000,\"buckets\":["
        "{\"key\":1714557600000,\"time\":\"2024-05-01T10:00:00.000000000Z\","
        "\"count\":5},"
        "{\"key\":1714557900000,\"time\":\"2024-05-01T10:05:00.000000000Z\","
        "\"count\":5},"
        "{\"key\":1714558200000,\"time\":\"2024-05-01T10:10:00.000000000Z\","
        "\"count\":2},"
        "{\"key\":1714558500000,\"time\":\"2024-05-01T10:15:00.000000000Z\","
        "\"count\":0}],\"timed_out\":false}");
    sift_buf_cleanup(&out);
    sift_query_free(q);
}

/* Weeks start on Monday, months and years are calendar ones. */
static void
test_query_agg_histogram_calendar_intervals(void **state)
{
    struct fx *f = *state;
    struct sift_query *q = parse("*");
    static const struct {
        const char *from, *to, *interval, *want;
    } cases[] = {
        {"2022-06-01T00:00:00Z", "2024-08-01T00:00:00Z", "1y",
         "\"calendar_interval\":\"1y\",\"buckets\":["
         "{\"key\":1640995200000,\"time\":\"2022-01-01T00:00:00.000000000Z\","
         "\"count\":0},"
         "{\"key\":1672531200000,\"time\":\"2023-01-01T00:00:00.000000000Z\","
         "\"count\":0},"
         "{\"key\":1704067200000,\"time\":\"2024-01-01T00:00:00.000000000Z\","
         "\"count\":12}]"},
        {"2024-03-15T00:00:00Z", "2024-06-01T00:00:00Z", "1M",
         "\"calendar_interval\":\"1M\",\"buckets\":["
         "{\"key\":1709251200000,\"time\":\"2024-03-01T00:00:00.000000000Z\","
         "\"count\":0},"
         "{\"key\":1711929600000,\"time\":\"2024-04-01T00:00:00.000000000Z\","
         "\"count\":0},"
         "{\"key\":1714521600000,\"time\":\"2024-05-01T00:00:00.000000000Z\","
         "\"count\":12}]"},
        {"2024-04-28T00:00:00Z", "2024-05-10T00:00:00Z", "1w",
         "\"calendar_interval\":\"1w\",\"buckets\":["
         "{\"key\":1713744000000,\"time\":\"2024-04-22T00:00:00.000000000Z\","
         "\"count\":0},"
         "{\"key\":1714348800000,\"time\":\"2024-04-29T00:00:00.000000000Z\","
         "\"count\":12},"
         "{\"key\":1714953600000,\"time\":\"2024-05-06T00:00:00.000000000Z\","
         "\"count\":0}]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sift_agg_opts o;
        sift_agg_opts_init(&o);
        o.from_ns = t(cases[i].from);
        o.to_ns = t(cases[i].to);
        assert_int_equal(sift_query_interval_parse(cases[i].interval,
                                                   &o.interval_ms,
                                                   &o.interval_unit),
                         SIFT_OK);
        struct sift_buf out = SIFT_BUF_INIT;
        struct sift_query_error err = {0};
        assert_int_equal(qf_histogram_json(f->segs, 3, q, &o, &out, &err), 0);
        if (strstr(sift_buf_cstr(&out), cases[i].want) == NULL)
            fail_msg("%s: %s", cases[i].interval, sift_buf_cstr(&out));
        sift_buf_cleanup(&out);
    }
    /* auto over years picks calendar months, not 30-day spans. */
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.from_ns = t("2021-01-01T00:00:00Z");
    o.to_ns = t("2024-06-01T00:00:00Z");
    struct sift_buf out = SIFT_BUF_INIT;
    struct sift_query_error err = {0};
    assert_int_equal(qf_histogram_json(f->segs, 3, q, &o, &out, &err), 0);
    assert_non_null(
        strstr(sift_buf_cstr(&out), "\"calendar_interval\":\"1M\""));
    assert_non_null(strstr(sift_buf_cstr(&out),
                           "\"time\":\"2024-05-01T00:00:00.000000000Z\","
                           "\"count\":12}"));
    sift_buf_cleanup(&out);
    sift_query_free(q);
}

static void
test_query_agg_histogram_split_and_other(void **state)
{
    struct fx *f = *state;
    struct sift_query *q = parse("-level:debug");
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.from_ns = t("2024-05-01T10:00:00Z");
    o.to_ns = t("2024-05-01T10:12:00Z");
    o.interval_ms = 6 * 60000;
    o.field = "level";
    o.size = 2;
    struct sift_buf out = SIFT_BUF_INIT;
    struct sift_query_error err = {0};
    assert_int_equal(qf_histogram_json(f->segs, 3, q, &o, &out, &err), 0);
    /* Buckets 10:00 (ids 1-6) and 10:06 (7-12, minus the debug 7).  Levels
     * are lowercased terms; info (5) and error (4) are the top two, warn
     * (2) goes to _other. */
    assert_string_equal(
        sift_buf_cstr(&out),
        "{\"interval_ms\":360000,\"buckets\":["
        "{\"key\":1714557600000,\"time\":\"2024-05-01T10:00:00.000000000Z\","
        "\"count\":6,\"by\":{\"INFO\":3,\"ERROR\":2,\"_other\":1}},"
        "{\"key\":1714557960000,\"time\":\"2024-05-01T10:06:00.000000000Z\","
        "\"count\":5,\"by\":{\"INFO\":2,\"ERROR\":2,\"_other\":1}}],"
        "\"timed_out\":false}");
    sift_buf_cleanup(&out);
    sift_query_free(q);
}

static void
test_query_agg_histogram_auto_interval(void **state)
{
    struct fx *f = *state;
    struct sift_query *q = parse("*");
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.from_ns = t("2024-05-01T00:00:00Z");
    o.to_ns = t("2024-05-02T00:00:00Z");
    struct sift_buf out = SIFT_BUF_INIT;
    struct sift_query_error err = {0};
    assert_int_equal(qf_histogram_json(f->segs, 3, q, &o, &out, &err), 0);
    /* One day / 100 = 14.4 min: the next nice interval is 15 min, 96
     * buckets. */
    const char *s = sift_buf_cstr(&out);
    assert_non_null(strstr(s, "{\"interval_ms\":900000,"));
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, "\"key\":")) != NULL; p++)
        n++;
    assert_int_equal(n, 96);
    assert_non_null(strstr(s, "\"time\":\"2024-05-01T10:00:00.000000000Z\","
                              "\"count\":12}"));
    sift_buf_cleanup(&out);

    /* Open range: the data's own span (11 minutes) -> 10 s buckets. */
    sift_agg_opts_init(&o);
    assert_int_equal(qf_histogram_json(f->segs, 3, q, &o, &out, &err), 0);
    assert_non_null(strstr(sift_buf_cstr(&out), "{\"interval_ms\":10000,"));
    sift_buf_cleanup(&out);

    /* Too many buckets is a named 400. */
    sift_agg_opts_init(&o);
    o.from_ns = t("2024-05-01T00:00:00Z");
    o.to_ns = t("2024-05-02T00:00:00Z");
    o.interval_ms = 1000;
    assert_int_equal(qf_histogram_json(f->segs, 3, q, &o, &out, &err),
                     SIFT_ELIMIT);
    assert_string_equal(err.type, "too_many_buckets");
    assert_int_equal(err.status, 400);
    assert_string_equal(err.reason,
                        "interval 1000ms gives 86400 buckets, over the limit "
                        "of 20000");
    sift_buf_cleanup(&out);
    sift_query_free(q);
}

static void
test_query_agg_terms(void **state)
{
    struct fx *f = *state;
    struct sift_query *q = parse("*");
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.field = "host";
    o.size = 2;
    struct sift_buf out = SIFT_BUF_INIT;
    struct sift_query_error err = {0};
    assert_int_equal(qf_terms_json(f->segs, 3, q, &o, &out, &err), 0);
    /* web-1 x5, web-2 x3, web-3 x2, db-1 x1, one event without host. */
    assert_string_equal(sift_buf_cstr(&out),
                        "{\"field\":\"host\",\"buckets\":["
                        "{\"key\":\"web-1\",\"count\":5},"
                        "{\"key\":\"web-2\",\"count\":3}],"
                        "\"other\":3,\"missing\":1,\"timed_out\":false}");
    sift_buf_cleanup(&out);
    sift_query_free(q);

    /* Full text is not a field whose values can be counted. */
    q = parse("payment");
    o.field = "message";
    o.size = 1;
    assert_int_equal(qf_terms_json(f->segs, 3, q, &o, &out, &err), SIFT_EINVAL);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, "field_type");
    assert_non_null(strstr(err.reason, "field 'message' is full text"));
    sift_buf_cleanup(&out);

    /* Keyword values are counted case-insensitively and shown as the
     * events wrote them. */
    o.field = "level";
    o.size = 2;
    assert_int_equal(qf_terms_json(f->segs, 3, q, &o, &out, &err), 0);
    assert_non_null(strstr(sift_buf_cstr(&out),
                           "\"buckets\":[{\"key\":\"ERROR\",\"count\":1},"
                           "{\"key\":\"INFO\",\"count\":1}]"));
    sift_buf_cleanup(&out);

    /* The kinds of a field, and the closest name for an unknown one. */
    char near[32];
    assert_int_equal(
        sift_agg_field_kinds(f->segs, 3, "host", near, sizeof(near)),
        SIFT_SEGF_KEYWORD);
    assert_int_equal(
        sift_agg_field_kinds(f->segs, 3, "duraton_ms", near, sizeof(near)), 0);
    assert_string_equal(near, "duration_ms");
    assert_int_equal(
        sift_agg_field_kinds(f->segs, 3, "zzz", near, sizeof(near)), 0);
    assert_string_equal(near, "");

    o.field = NULL;
    assert_int_equal(qf_terms_json(f->segs, 3, q, &o, &out, &err), SIFT_EINVAL);
    assert_string_equal(err.reason, "missing parameter 'field'");
    sift_buf_cleanup(&out);
    sift_query_free(q);
}

static void
test_query_agg_stats(void **state)
{
    struct fx *f = *state;
    struct sift_query *q = parse("service:api");
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.field = "duration_ms";
    struct sift_buf out = SIFT_BUF_INIT;
    struct sift_query_error err = {0};
    assert_int_equal(qf_stats_json(f->segs, 3, q, &o, &out, &err), 0);
    /* api durations: 12 340 8 15 410 -> sorted 8 12 15 340 410.
     * p90: rank 3.6 -> 340 + 0.6 * 70 = 382; p99: rank 3.96 -> 407.2. */
    assert_string_equal(sift_buf_cstr(&out),
                        "{\"field\":\"duration_ms\",\"count\":5,\"min\":8,"
                        "\"max\":410,\"sum\":785,\"avg\":157,\"p50\":15,"
                        "\"p90\":382,\"p99\":407.2,"
                        "\"percentiles_exact\":true,\"timed_out\":false}");
    sift_buf_cleanup(&out);
    sift_query_free(q);

    /* No values: nulls, not zeros. */
    q = parse("service:db");
    o.field = "status";
    assert_int_equal(qf_stats_json(f->segs, 3, q, &o, &out, &err), 0);
    assert_non_null(
        strstr(sift_buf_cstr(&out), "\"count\":0,\"min\":null,\"max\":null"));
    sift_buf_cleanup(&out);

    /* A keyword field has no numbers: a 400, never a count of 0. */
    o.field = "host";
    assert_int_equal(qf_stats_json(f->segs, 3, q, &o, &out, &err), SIFT_EINVAL);
    assert_string_equal(err.type, "field_type");
    assert_string_equal(err.reason,
                        "field 'host' holds keywords, not numbers: stats "
                        "needs a number field (/api/v1/terms counts the "
                        "values of a field)");
    sift_buf_cleanup(&out);
    sift_query_free(q);
}

static void
test_query_agg_fields(void **state)
{
    struct fx *f = *state;
    struct sift_buf out = SIFT_BUF_INIT;
    qf_fields_json(f->segs, 3, &out);
    const char *s = sift_buf_cstr(&out);
    assert_non_null(strstr(s, "{\"name\":\"duration_ms\",\"text\":false,"
                              "\"keyword\":false,\"number\":true,"));
    assert_non_null(strstr(s, "{\"name\":\"host\",\"text\":false,"
                              "\"keyword\":true,\"number\":false,"
                              "\"cardinality\":3}"));
    assert_non_null(strstr(s, "{\"name\":\"message\",\"text\":true,"));
    /* Sorted by name. */
    assert_true(strstr(s, "\"duration_ms\"") < strstr(s, "\"host\""));
    assert_true(strstr(s, "\"host\"") < strstr(s, "\"message\""));
    sift_buf_cleanup(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_agg_histogram_fixed_interval,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_query_agg_histogram_split_and_other, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_agg_histogram_auto_interval,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_query_agg_histogram_calendar_intervals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_agg_terms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_agg_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_agg_fields, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
