/*
 * test_grafana.c - the pure half of the Grafana JSON datasource API:
 * request bodies as the simpod-json-datasource plugin (and the legacy
 * SimpleJSON plugin) send them -> plans, and engine results -> frames,
 * each frame checked against the dispatch rules of Grafana's
 * toDataFrame() (docs/internals/wire-formats.md 1.7).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/grafana_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"

#define MS(x) ((int64_t)(x)*SIFT_NS_PER_MS)

static const struct sift_gf_limits lim = {.default_hits = 100,
                                          .max_hits = 1000};

/* 2024-05-14T09:00:00Z */
static const int64_t now_ns = INT64_C(1715677200000) * SIFT_NS_PER_MS;

static json_t *
parse(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test JSON at %d: %s\n%s", e.position, e.text, s);
    return j;
}

/* ---- toDataFrame() acceptance ---- */

static int
is_num_or_null(const json_t *v)
{
    return json_is_number(v) || json_is_null(v);
}

/*
 * Asserts that one element is accepted by Grafana's toDataFrame() and is
 * internally consistent: a data frame with equal-length fields, a
 * timeseries of [value, epoch_ms] pairs, or a table whose rows match its
 * columns.  Returns the detected kind.
 */
static const char *
assert_frame(const json_t *f)
{
    assert_true(json_is_object(f));
    if (json_object_get(f, "fields")) {
        const json_t *fields = json_object_get(f, "fields");
        assert_true(json_is_array(fields));
        size_t len = SIZE_MAX;
        for (size_t i = 0; i < json_array_size(fields); i++) {
            const json_t *fl = json_array_get(fields, i);
            assert_true(json_is_string(json_object_get(fl, "name")));
            const json_t *vals = json_object_get(fl, "values");
            assert_true(json_is_array(vals));
            if (len == SIZE_MAX)
                len = json_array_size(vals);
            assert_int_equal(json_array_size(vals), len);
            const char *type = json_string_value(json_object_get(fl, "type"));
            for (size_t k = 0; k < json_array_size(vals); k++) {
                const json_t *v = json_array_get(vals, k);
                if (type && strcmp(type, "time") == 0)
                    assert_true(json_is_integer(v));
                else if (type && strcmp(type, "number") == 0)
                    assert_true(is_num_or_null(v));
                else if (type && strcmp(type, "string") == 0)
                    assert_true(json_is_string(v) || json_is_null(v));
            }
        }
        return "frame";
    }
    assert_false(
        json_is_string(json_object_get(f, "type")) &&
        strcmp(json_string_value(json_object_get(f, "type")), "docs") == 0);
    if (json_object_get(f, "datapoints")) {
        const json_t *dps = json_object_get(f, "datapoints");
        assert_true(json_is_array(dps));
        assert_true(json_is_string(json_object_get(f, "target")));
        int64_t last = INT64_MIN;
        for (size_t i = 0; i < json_array_size(dps); i++) {
            const json_t *p = json_array_get(dps, i);
            assert_int_equal(json_array_size(p), 2);
            assert_true(is_num_or_null(json_array_get(p, 0)));
            assert_true(json_is_integer(json_array_get(p, 1)));
            int64_t t = json_integer_value(json_array_get(p, 1));
            assert_true(t > last); /* time ascending, unique */
            last = t;
        }
        return "series";
    }
    assert_null(json_object_get(f, "data"));
    if (json_object_get(f, "columns")) {
        const json_t *cols = json_object_get(f, "columns");
        const json_t *rows = json_object_get(f, "rows");
        assert_true(json_is_array(cols));
        assert_true(json_is_array(rows));
        for (size_t i = 0; i < json_array_size(cols); i++)
            assert_true(json_is_string(
                json_object_get(json_array_get(cols, i), "text")));
        for (size_t r = 0; r < json_array_size(rows); r++) {
            const json_t *row = json_array_get(rows, r);
            assert_int_equal(json_array_size(row), json_array_size(cols));
            for (size_t c = 0; c < json_array_size(cols); c++) {
                const char *type = json_string_value(
                    json_object_get(json_array_get(cols, c), "type"));
                if (type && strcmp(type, "time") == 0)
                    assert_true(json_is_integer(json_array_get(row, c)));
            }
        }
        return "table";
    }
    fail_msg("unsupported data format");
    return NULL;
}

static void
assert_frames(const json_t *arr)
{
    assert_true(json_is_array(arr));
    for (size_t i = 0; i < json_array_size(arr); i++)
        assert_frame(json_array_get(arr, i));
}

/* ---- planning ---- */

/* The body of docs/internals/wire-formats.md 1.6 with every key the plugin
 * adds. */
static const char plugin_body[] =
    "{\"app\":\"dashboard\",\"requestId\":\"Q102\",\"timezone\":\"browser\","
    "\"panelId\":2,\"dashboardUID\":\"abc\",\"dashboardId\":7,"
    "\"panelName\":\"Errors\",\"panelPluginId\":\"timeseries\","
    "\"range\":{\"from\":\"2024-05-14T06:00:00.000Z\","
    "\"to\":\"2024-05-14T09:00:00.000Z\","
    "\"raw\":{\"from\":\"now-3h\",\"to\":\"now\"}},"
    "\"rangeRaw\":{\"from\":\"now-3h\",\"to\":\"now\"},"
    "\"interval\":\"10s\",\"intervalMs\":10000,\"maxDataPoints\":1080,"
    "\"startTime\":1715677200123,\"cacheTimeout\":null,"
    "\"queryCachingTTL\":null,\"liveStreaming\":false,"
    "\"targets\":["
    "{\"refId\":\"A\",\"target\":\"logs\",\"editorMode\":\"code\","
    "\"payload\":{\"query\":\"level:error AND host:web-01\",\"limit\":500},"
    "\"datasource\":{\"type\":\"simpod-json-datasource\","
    "\"uid\":\"P1809F7CD0C75ACF3\"},\"key\":\"Q-1\",\"queryType\":\"x\"},"
    "{\"refId\":\"B\",\"target\":\"count\",\"editorMode\":\"builder\","
    "\"payload\":{\"by\":[\"service\"],\"limit\":\"5\"},\"hide\":false},"
    "{\"refId\":\"C\",\"target\":\"terms\",\"hide\":true,"
    "\"payload\":{}},"
    "{\"refId\":\"D\",\"payload\":{}}],"
    "\"scopedVars\":{\"__interval\":{\"text\":\"10s\",\"value\":\"10s\"},"
    "\"__interval_ms\":{\"text\":\"10000\",\"value\":10000},"
    "\"host\":{\"selected\":false,\"text\":\"web-01\",\"value\":\"web-01\"}},"
    "\"filters\":[{\"key\":\"level\",\"operator\":\"=\","
    "\"value\":\"error\"}]}";

static void
test_grafana_plan_plugin_body(void **state)
{
    (void)state;
    json_t *body = parse(plugin_body);
    struct sift_gf_plan plan;
    struct sift_gf_error err = {0};
    assert_int_equal(sift__gf_plan_query(body, &lim, now_ns, &plan, &err),
                     SIFT_OK);
    assert_int_equal(plan.from_ns, INT64_C(1715666400000) * SIFT_NS_PER_MS);
    /* "to" is inclusive in Grafana, exclusive in sift. */
    assert_int_equal(plan.to_ns, MS(INT64_C(1715677200000) + 1));
    assert_int_equal(plan.max_points, 1080);
    assert_true(plan.interval_ms >= 10000);
    assert_true(sift__gf_bucket_count(plan.from_ns, plan.to_ns,
                                      plan.interval_ms) <= 1080);
    /* Hidden and metric-less targets are dropped, like the plugin does. */
    assert_int_equal(plan.n_targets, 2);
    struct sift_gf_target *a = &plan.targets[0], *b = &plan.targets[1];
    assert_string_equal(a->ref_id, "A");
    assert_int_equal(a->kind, SIFT_GF_LOGS);
    assert_int_equal(a->limit, 500);
    assert_string_equal(a->query,
                        "(level:error AND host:web-01) AND level:\"error\"");
    assert_string_equal(a->raw_query, "level:error AND host:web-01");
    assert_string_equal(b->ref_id, "B");
    assert_int_equal(b->kind, SIFT_GF_COUNT);
    assert_string_equal(b->by, "service"); /* builder multi-select array */
    assert_int_equal(b->limit, 5);         /* builder inputs are strings */
    assert_string_equal(b->query, "level:\"error\"");
    sift__gf_plan_cleanup(&plan);
    json_decref(body);
}

static void
test_grafana_plan_filter_operators(void **state)
{
    (void)state;
    json_t *f =
        parse("[{\"key\":\"host.name\",\"operator\":\"=\",\"value\":\"web "
              "\\\"1\\\"\"},"
              "{\"key\":\"level\",\"operator\":\"!=\",\"value\":\"debug\"},"
              "{\"key\":\"path\",\"operator\":\"=~\",\"value\":\"/api/.*\"},"
              "{\"key\":\"svc\",\"operator\":\"!~\",\"value\":\"db.*\"},"
              "{\"key\":\"status\",\"operator\":\">\",\"value\":\"499\"},"
              "{\"key\":\"ms\",\"operator\":\"<=\",\"value\":250},"
              "{\"key\":\"k:x\",\"operator\":\"=\",\"value\":\"v\"},"
              "{\"key\":\"dc\",\"operator\":\"=|\",\"value\":\"a\","
              "\"values\":[\"a\",\"b\"]},"
              "{\"key\":\"\",\"operator\":\"=\",\"value\":\"\"}]");
    struct sift_buf b = SIFT_BUF_INIT;
    struct sift_gf_error err = {0};
    assert_int_equal(sift__gf_filters_query(f, &b, &err), SIFT_OK);
    assert_string_equal(sift_buf_cstr(&b),
                        "host.name:\"web \\\"1\\\"\" -level:\"debug\" "
                        "path:/\\/api\\/.*/ -svc:/db.*/ status:>499 "
                        "ms:<=250 k\\:x:\"v\" dc:(\"a\" OR \"b\")");
    sift_buf_cleanup(&b);
    json_decref(f);
}

static void
test_grafana_plan_filter_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[{\"key\":\"a\",\"operator\":\"~~\",\"value\":\"x\"}]",
        "[{\"key\":\"a\",\"operator\":\">\",\"value\":\"abc\"}]",
        "[{\"key\":5,\"operator\":\"=\",\"value\":\"x\"}]",
        "[{\"key\":\"a\",\"operator\":\"=\",\"value\":{}}]",
        "{\"key\":\"a\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *f = parse(bad[i]);
        struct sift_buf b = SIFT_BUF_INIT;
        struct sift_gf_error err = {0};
        assert_int_equal(sift__gf_filters_query(f, &b, &err), SIFT_EINVAL);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.code, "bad_filter");
        assert_true(strlen(err.message) > 10);
        sift_buf_cleanup(&b);
        json_decref(f);
    }
}

/* Plans body; returns the status (0 = ok) and the first target's query. */
static int
plan_one(const char *body_text, char *query, size_t qlen,
         struct sift_gf_error *err)
{
    json_t *body = parse(body_text);
    struct sift_gf_plan plan;
    memset(err, 0, sizeof(*err));
    int rc = sift__gf_plan_query(body, &lim, now_ns, &plan, err);
    if (rc == SIFT_OK && plan.n_targets > 0)
        snprintf(query, qlen, "%s", plan.targets[0].query);
    else if (rc == SIFT_OK)
        snprintf(query, qlen, "<none>");
    sift__gf_plan_cleanup(&plan);
    json_decref(body);
    return rc == SIFT_OK ? 0 : err->status;
}

static void
test_grafana_plan_adhoc_both_spellings(void **state)
{
    (void)state;
    char q[512];
    struct sift_gf_error err;
    /* Plugin <= 0.6.3 and SimpleJSON: adhocFilters; newer: filters. */
    assert_int_equal(
        plan_one("{\"targets\":[{\"refId\":\"A\",\"target\":\"logs\"}],"
                 "\"adhocFilters\":[{\"key\":\"host\",\"operator\":\"=\","
                 "\"value\":\"web-01\"}]}",
                 q, sizeof(q), &err),
        0);
    assert_string_equal(q, "host:\"web-01\"");
    assert_int_equal(
        plan_one("{\"targets\":[{\"refId\":\"A\",\"target\":\"logs\","
                 "\"payload\":{\"query\":\"timeout\"}}],"
                 "\"filters\":[{\"key\":\"a\",\"operator\":\"=\","
                 "\"value\":\"1\"}],"
                 "\"adhocFilters\":[{\"key\":\"b\",\"operator\":\"!=\","
                 "\"value\":\"2\"}]}",
                 q, sizeof(q), &err),
        0);
    assert_string_equal(q, "(timeout) AND a:\"1\" -b:\"2\"");
}

static void
test_grafana_plan_variables_and_legacy(void **state)
{
    (void)state;
    char q[512];
    struct sift_gf_error err;
    /* Variables Grafana did not interpolate are taken from scopedVars. */
    assert_int_equal(
        plan_one("{\"targets\":[{\"refId\":\"A\",\"target\":\"logs\","
                 "\"payload\":{\"query\":\"host:$host ${dc:lucene} $nope\"}}],"
                 "\"scopedVars\":{\"host\":{\"text\":\"w\",\"value\":\"w1\"},"
                 "\"dc\":{\"text\":\"x\",\"value\":[\"eu\",\"us\"]}}}",
                 q, sizeof(q), &err),
        0);
    assert_string_equal(q, "host:w1 (\"eu\" OR \"us\") $nope");
    /* A multi-value variable through the json formatter: an array. */
    assert_int_equal(
        plan_one("{\"targets\":[{\"refId\":\"A\",\"target\":\"count\","
                 "\"payload\":{\"query\":[\"service:api\",\"service:db\"]}}]}",
                 q, sizeof(q), &err),
        0);
    assert_string_equal(q, "(service:api) OR (service:db)");
    /* The legacy plugin has no payload: "metric query" in the target. */
    assert_int_equal(
        plan_one("{\"targets\":[{\"refId\":\"A\",\"target\":\"Count "
                 "level:error\",\"type\":\"timeserie\"},"
                 "{\"refId\":\"B\",\"target\":\"select metric\"}],"
                 "\"format\":\"json\"}",
                 q, sizeof(q), &err),
        0);
    assert_string_equal(q, "level:error");
    /* No targets left: a valid, empty plan. */
    assert_int_equal(plan_one("{\"targets\":[{\"refId\":\"A\",\"hide\":true,"
                              "\"target\":\"logs\"}]}",
                              q, sizeof(q), &err),
                     0);
    assert_string_equal(q, "<none>");
}

static void
test_grafana_plan_errors_name_the_target(void **state)
{
    (void)state;
    char q[64];
    struct sift_gf_error err;
    assert_int_equal(plan_one("{\"targets\":[{\"refId\":\"Z\",\"target\":"
                              "\"hits_per_minute\"}]}",
                              q, sizeof(q), &err),
                     400);
    assert_string_equal(err.code, "unknown_metric");
    assert_non_null(strstr(err.message, "query Z"));
    assert_non_null(strstr(err.message, "hits_per_minute"));
    assert_int_equal(plan_one("{\"targets\":[{\"refId\":\"B\",\"target\":"
                              "\"terms\",\"payload\":{\"query\":\"x\"}}]}",
                              q, sizeof(q), &err),
                     400);
    assert_non_null(strstr(err.message, "payload.field"));
    assert_int_equal(plan_one("{\"targets\":[{\"refId\":\"A\",\"target\":"
                              "\"logs\",\"payload\":{\"limit\":5000}}]}",
                              q, sizeof(q), &err),
                     400);
    assert_string_equal(err.code, "too_many_hits");
    assert_int_equal(plan_one("{\"targets\":[{\"refId\":\"A\",\"target\":"
                              "\"logs\",\"payload\":{\"limit\":\"lots\"}}]}",
                              q, sizeof(q), &err),
                     400);
    assert_int_equal(plan_one("{\"range\":{\"from\":\"yesterday\",\"to\":"
                              "\"now\"},\"targets\":[]}",
                              q, sizeof(q), &err),
                     400);
    assert_string_equal(err.code, "bad_range");
    assert_int_equal(plan_one("{\"range\":{\"from\":\"now\",\"to\":"
                              "\"now-1h\"},\"targets\":[]}",
                              q, sizeof(q), &err),
                     400);
    assert_int_equal(plan_one("[1,2]", q, sizeof(q), &err), 400);
    assert_int_equal(plan_one("{\"targets\":{}}", q, sizeof(q), &err), 400);
}

static void
test_grafana_plan_range_forms(void **state)
{
    (void)state;
    struct sift_gf_error err = {0};
    int64_t f, t;
    json_t *b = parse("{\"range\":{\"from\":1715666400000,\"to\":"
                      "\"1715677200000\"}}");
    assert_int_equal(sift__gf_time_range(b, now_ns, 0, 0, &f, &t, &err), 0);
    assert_int_equal(f, MS(INT64_C(1715666400000)));
    assert_int_equal(t, MS(INT64_C(1715677200001)));
    json_decref(b);
    /* Only the raw form (rangeRaw): relative times against now. */
    b = parse("{\"rangeRaw\":{\"from\":\"now-15m\",\"to\":\"now\"}}");
    assert_int_equal(sift__gf_time_range(b, now_ns, 0, 0, &f, &t, &err), 0);
    assert_int_equal(f, now_ns - MS(15 * 60000));
    assert_int_equal(t, now_ns + MS(1));
    json_decref(b);
    b = parse("{}");
    assert_int_equal(sift__gf_time_range(b, now_ns, 5, 9, &f, &t, &err), 0);
    assert_int_equal(f, 5);
    assert_int_equal(t, 9);
    json_decref(b);
}

static void
test_grafana_interval_never_exceeds_max_points(void **state)
{
    (void)state;
    static const int64_t spans_ms[] = {
        1,        999,      60000,     3600000,
        10800001, 86400000, 604800000, INT64_C(31536000000)};
    static const uint32_t maxes[] = {1, 2, 3, 7, 100, 1080, 11000};
    static const int64_t wants[] = {0, 1, 15000, 86400000};
    static const int64_t starts_ms[] = {INT64_C(1715666400000),
                                        INT64_C(1715666400123), 7, 0};
    for (size_t a = 0; a < sizeof(spans_ms) / sizeof(spans_ms[0]); a++)
        for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++)
            for (size_t w = 0; w < sizeof(wants) / sizeof(wants[0]); w++)
                for (size_t s = 0; s < sizeof(starts_ms) / sizeof(starts_ms[0]);
                     s++) {
                    int64_t from = MS(starts_ms[s]);
                    int64_t to = from + MS(spans_ms[a]);
                    int64_t iv =
                        sift__gf_pick_interval(from, to, wants[w], maxes[m]);
                    assert_true(iv >= wants[w]);
                    assert_true(iv >= 1);
                    if (maxes[m] >= 2)
                        assert_true(sift__gf_bucket_count(from, to, iv) <=
                                    maxes[m]);
                }
    /* Plain cases pick the Grafana interval when it fits. */
    assert_int_equal(sift__gf_pick_interval(MS(0), MS(3600000), 10000, 1000),
                     10000);
    assert_int_equal(sift__gf_pick_interval(MS(0), MS(3600000), 1000, 100),
                     60000);
}

/* ---- frames ---- */

static char f_service[] = "service", f_host[] = "host", f_ms[] = "ms";

static const struct sift_gf_target target_a = {.kind = SIFT_GF_COUNT,
                                               .ref_id = "A"};

static void
test_grafana_frame_count_merges_to_max_points(void **state)
{
    (void)state;
    static const char hist[] =
        "{\"interval_ms\":1000,\"buckets\":["
        "{\"key\":1000,\"time\":\"x\",\"count\":1},"
        "{\"key\":2000,\"time\":\"x\",\"count\":2},"
        "{\"key\":3000,\"time\":\"x\",\"count\":3},"
        "{\"key\":4000,\"time\":\"x\",\"count\":4},"
        "{\"key\":5000,\"time\":\"x\",\"count\":5}],\"timed_out\":false}";
    json_t *frames = json_array();
    assert_int_equal(
        sift__gf_frame_count(&target_a, hist, strlen(hist), 2, frames),
        SIFT_OK);
    assert_frames(frames);
    assert_int_equal(json_array_size(frames), 1);
    json_t *s = json_array_get(frames, 0);
    assert_string_equal(json_string_value(json_object_get(s, "target")),
                        "count");
    assert_string_equal(json_string_value(json_object_get(s, "refId")), "A");
    json_t *expect = parse("[[6,1000],[9,4000]]");
    assert_true(json_equal(json_object_get(s, "datapoints"), expect));
    json_decref(expect);
    json_decref(frames);

    /* Enough room: one point per bucket. */
    frames = json_array();
    assert_int_equal(
        sift__gf_frame_count(&target_a, hist, strlen(hist), 1080, frames),
        SIFT_OK);
    assert_int_equal(json_array_size(json_object_get(json_array_get(frames, 0),
                                                     "datapoints")),
                     5);
    json_decref(frames);
}

static void
test_grafana_frame_count_split_by(void **state)
{
    (void)state;
    static const char hist[] =
        "{\"interval_ms\":60000,\"buckets\":["
        "{\"key\":60000,\"time\":\"x\",\"count\":5,\"by\":{\"api\":3,"
        "\"db\":1,\"_other\":1}},"
        "{\"key\":120000,\"time\":\"x\",\"count\":2,\"by\":{\"api\":0,"
        "\"db\":2,\"_other\":0}}],\"timed_out\":false}";
    struct sift_gf_target t = {
        .kind = SIFT_GF_COUNT, .ref_id = "B", .by = f_service};
    json_t *frames = json_array();
    assert_int_equal(sift__gf_frame_count(&t, hist, strlen(hist), 100, frames),
                     SIFT_OK);
    assert_frames(frames);
    assert_int_equal(json_array_size(frames), 3);
    json_t *expect = parse(
        "[{\"target\":\"api\",\"refId\":\"B\",\"datapoints\":[[3,60000],"
        "[0,120000]],\"tags\":{\"service\":\"api\"}},"
        "{\"target\":\"db\",\"refId\":\"B\",\"datapoints\":[[1,60000],"
        "[2,120000]],\"tags\":{\"service\":\"db\"}},"
        "{\"target\":\"_other\",\"refId\":\"B\",\"datapoints\":[[1,60000],"
        "[0,120000]],\"tags\":{\"service\":\"_other\"}}]");
    assert_true(json_equal(frames, expect));
    json_decref(expect);
    json_decref(frames);
    frames = json_array();
    assert_int_equal(sift__gf_frame_count(&t, "{}", 2, 100, frames),
                     SIFT_EINVAL);
    json_decref(frames);
}

static void
test_grafana_frame_logs(void **state)
{
    (void)state;
    static const char hits[] =
        "[{\"time\":\"2024-05-14T09:00:03.123000000Z\",\"ts_ms\":1715677203123,"
        "\"message\":\"upstream timed out\",\"template_id\":4,"
        "\"fields\":{\"host\":\"web-01\",\"level\":\"error\",\"status\":504}},"
        "{\"time\":\"2024-05-14T09:00:01.007000000Z\",\"ts_ms\":1715677201007,"
        "\"message\":\"slow query 812 ms\","
        "\"fields\":{\"level\":\"warn\",\"status\":\"n/a\","
        "\"db\":\"orders\"}}]";
    struct sift_gf_target t = {.kind = SIFT_GF_LOGS, .ref_id = "A"};
    json_t *frames = json_array();
    assert_int_equal(sift__gf_frame_logs(&t, hits, strlen(hits), 7, 0, frames),
                     SIFT_OK);
    assert_frames(frames);
    assert_int_equal(json_array_size(frames), 1);
    json_t *f = json_array_get(frames, 0);
    assert_string_equal(assert_frame(f), "frame");
    assert_string_equal(json_string_value(json_object_get(f, "refId")), "A");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(f, "meta"),
                                          "preferredVisualisationType")),
        "logs");
    json_t *expect = parse(
        "[{\"name\":\"time\",\"type\":\"time\","
        "\"values\":[1715677203123,1715677201007]},"
        "{\"name\":\"line\",\"type\":\"string\","
        "\"values\":[\"upstream timed out\",\"slow query 812 ms\"]},"
        "{\"name\":\"level\",\"type\":\"string\","
        "\"values\":[\"error\",\"warn\"]},"
        "{\"name\":\"db\",\"type\":\"string\",\"values\":[null,\"orders\"]},"
        "{\"name\":\"host\",\"type\":\"string\",\"values\":[\"web-01\",null]},"
        "{\"name\":\"status\",\"type\":\"string\","
        "\"values\":[\"504\",\"n/a\"]}]");
    assert_true(json_equal(json_object_get(f, "fields"), expect));
    json_decref(expect);
    /* 7 matched, 2 shown: an info notice says so. */
    json_t *notices = json_object_get(json_object_get(f, "meta"), "notices");
    assert_int_equal(json_array_size(notices), 1);
    assert_non_null(strstr(
        json_string_value(json_object_get(json_array_get(notices, 0), "text")),
        "2 of 7"));
    json_decref(frames);

    /* No hits: a valid frame with empty columns. */
    frames = json_array();
    assert_int_equal(sift__gf_frame_logs(&t, "[]", 2, 0, 0, frames), SIFT_OK);
    assert_frames(frames);
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(frames, 0), "fields")),
        2);
    json_decref(frames);
}

static void
test_grafana_frame_terms_stats_patterns(void **state)
{
    (void)state;
    static const char terms[] =
        "{\"field\":\"host\",\"buckets\":[{\"key\":\"web-01\",\"count\":9},"
        "{\"key\":\"web-02\",\"count\":4}],\"other\":0,\"missing\":1,"
        "\"timed_out\":false}";
    struct sift_gf_target t = {
        .kind = SIFT_GF_TERMS, .ref_id = "C", .field = f_host};
    json_t *frames = json_array();
    assert_int_equal(sift__gf_frame_terms(&t, terms, strlen(terms), frames),
                     SIFT_OK);
    assert_frames(frames);
    json_t *expect =
        parse("[{\"type\":\"table\",\"refId\":\"C\",\"name\":\"host\","
              "\"columns\":[{\"text\":\"host\",\"type\":\"string\"},"
              "{\"text\":\"count\",\"type\":\"number\"}],"
              "\"rows\":[[\"web-01\",9],[\"web-02\",4]]}]");
    assert_true(json_equal(frames, expect));
    json_decref(expect);
    json_decref(frames);

    /* One bucket with values, one empty (its avg/p50/p99 unused). */
    struct sift_gf_stats_point pts[2] = {
        {.time_ms = 1000, .count = 3, .avg = 4, .p50 = 2, .p99 = 8.9},
        {.time_ms = 2000, .count = 0}};
    t.kind = SIFT_GF_STATS;
    t.field = f_ms;
    frames = json_array();
    sift__gf_frame_stats(&t, pts, 2, frames);
    assert_frames(frames);
    expect = parse(
        "[{\"target\":\"avg ms\",\"refId\":\"C\",\"datapoints\":[[4.0,1000],"
        "[null,2000]],\"tags\":{\"stat\":\"avg\"}},"
        "{\"target\":\"p50 ms\",\"refId\":\"C\",\"datapoints\":[[2.0,1000],"
        "[null,2000]],\"tags\":{\"stat\":\"p50\"}},"
        "{\"target\":\"p99 ms\",\"refId\":\"C\",\"datapoints\":[[8.9,1000],"
        "[null,2000]],\"tags\":{\"stat\":\"p99\"}}]");
    assert_true(json_equal(frames, expect));
    json_decref(expect);
    json_decref(frames);

    struct sift_gf_pattern pv[2] = {
        {.template_id = 7,
         .count = 40,
         .pattern = "user <*> logged in",
         .example = "user 42 logged in"},
        {.template_id = 9, .count = 2, .example = "disk full"}};
    t.kind = SIFT_GF_PATTERNS;
    frames = json_array();
    sift__gf_frame_patterns(&t, pv, 2, frames);
    assert_frames(frames);
    expect = parse("[[7,40,\"user <*> logged in\",\"user 42 logged in\"],"
                   "[9,2,\"disk full\",\"disk full\"]]");
    assert_true(
        json_equal(json_object_get(json_array_get(frames, 0), "rows"), expect));
    json_decref(expect);
    json_decref(frames);
}

static void
test_grafana_frame_alerts_annotations(void **state)
{
    (void)state;
    struct sift_alert al[2];
    memset(al, 0, sizeof(al));
    al[0].id = 11;
    snprintf(al[0].series, sizeof(al[0].series), "service=api level=error");
    al[0].kind = SIFT_ALERT_SPIKE;
    al[0].state = SIFT_ALERT_RESOLVED;
    al[0].score = 87;
    al[0].threshold = 50;
    al[0].started_ns = MS(1000);
    al[0].updated_ns = MS(5000);
    al[0].resolved_ns = MS(6000);
    al[0].n_windows = 3;
    al[1] = al[0];
    al[1].id = 12;
    al[1].kind = SIFT_ALERT_DROP;
    al[1].state = SIFT_ALERT_FIRING;
    al[1].resolved_ns = 0;
    snprintf(al[1].series, sizeof(al[1].series), "service=db");
    struct sift_gf_target t = {.kind = SIFT_GF_ALERTS, .ref_id = "Anno"};
    json_t *frames = json_array();
    sift__gf_frame_alerts(&t, al, 2, NULL, frames);
    assert_frames(frames);
    json_t *tab = json_array_get(frames, 0);
    json_t *expect =
        parse("[[1000,6000,\"spike service=api level=error\","
              "\"score 87 (threshold 50) over 3 windows, resolved\","
              "\"sift,spike,service=api,level=error\",11,87.0],"
              "[1000,5000,\"drop service=db\","
              "\"score 87 (threshold 50) over 3 windows, firing\","
              "\"sift,drop,service=db\",12,87.0]]");
    assert_true(json_equal(json_object_get(tab, "rows"), expect));
    json_decref(expect);
    /* Annotation field names Grafana maps by default. */
    static const char *const cols[] = {"time", "timeEnd", "title", "text",
                                       "tags"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(
            json_string_value(json_object_get(
                json_array_get(json_object_get(tab, "columns"), i), "text")),
            cols[i]);
    json_decref(frames);

    frames = json_array();
    sift__gf_frame_alerts(&t, al, 2, "SERVICE=DB", frames);
    assert_int_equal(
        json_array_size(json_object_get(json_array_get(frames, 0), "rows")), 1);
    json_decref(frames);
    frames = json_array();
    sift__gf_frame_alerts(&t, NULL, 0, NULL, frames);
    assert_frames(frames);
    json_decref(frames);

    json_t *anno = parse("{\"name\":\"a\",\"enable\":true,\"query\":\"drop\"}");
    json_t *out = json_array();
    sift__gf_annotations_legacy(anno, al, 2, out);
    expect = parse("[{\"annotation\":{\"name\":\"a\",\"enable\":true,"
                   "\"query\":\"drop\"},\"time\":1000,\"timeEnd\":5000,"
                   "\"title\":\"drop service=db\","
                   "\"text\":\"score 87 (threshold 50) over 3 windows, "
                   "firing\",\"tags\":[\"sift\",\"drop\",\"service=db\"]}]");
    assert_true(json_equal(out, expect));
    json_decref(expect);
    json_decref(out);
    json_decref(anno);
}

static void
test_grafana_metric_lists(void **state)
{
    (void)state;
    json_t *m = sift__gf_metrics_list();
    assert_int_equal(json_array_size(m), SIFT_GF_KIND_COUNT);
    for (size_t i = 0; i < json_array_size(m); i++) {
        json_t *e = json_array_get(m, i);
        assert_string_equal(json_string_value(json_object_get(e, "value")),
                            sift__gf_kind_name((enum sift_gf_kind)i));
        assert_true(json_is_string(json_object_get(e, "label")));
        json_t *ps = json_object_get(e, "payloads");
        assert_true(json_array_size(ps) >= 1);
        for (size_t k = 0; k < json_array_size(ps); k++) {
            json_t *p = json_array_get(ps, k);
            const char *type = json_string_value(json_object_get(p, "type"));
            assert_non_null(json_string_value(json_object_get(p, "name")));
            assert_true(strcmp(type, "input") == 0 ||
                        strcmp(type, "select") == 0);
        }
    }
    json_decref(m);
    m = sift__gf_metric_names();
    json_t *expect = parse("[\"logs\",\"count\",\"terms\",\"stats\","
                           "\"patterns\",\"alerts\"]");
    assert_true(json_equal(m, expect));
    json_decref(expect);
    json_decref(m);
}

static void
test_grafana_field_and_value_lists(void **state)
{
    (void)state;
    static const char fields[] =
        "{\"fields\":[{\"name\":\"_template_id\",\"text\":false,"
        "\"keyword\":false,\"number\":true,\"cardinality\":5},"
        "{\"name\":\"duration_ms\",\"text\":false,\"keyword\":false,"
        "\"number\":true,\"cardinality\":50},"
        "{\"name\":\"host\",\"text\":false,\"keyword\":true,\"number\":false,"
        "\"cardinality\":3},"
        "{\"name\":\"message\",\"text\":true,\"keyword\":false,"
        "\"number\":false,\"cardinality\":90}]}";
    json_t *out = json_array();
    assert_int_equal(sift__gf_fields_list(fields, strlen(fields),
                                          SIFT_GF_FIELDS_NUMBER,
                                          SIFT_GF_STYLE_OPTIONS, out),
                     0);
    json_t *expect = parse("[{\"label\":\"duration_ms\",\"value\":"
                           "\"duration_ms\"}]");
    assert_true(json_equal(out, expect));
    json_decref(expect);
    json_decref(out);
    out = json_array();
    assert_int_equal(sift__gf_fields_list(fields, strlen(fields),
                                          SIFT_GF_FIELDS_ALL,
                                          SIFT_GF_STYLE_TAGS, out),
                     0);
    expect = parse("[{\"type\":\"number\",\"text\":\"duration_ms\"},"
                   "{\"type\":\"string\",\"text\":\"host\"},"
                   "{\"type\":\"string\",\"text\":\"message\"}]");
    assert_true(json_equal(out, expect));
    json_decref(expect);
    json_decref(out);
    out = json_array();
    assert_int_equal(sift__gf_fields_list(fields, strlen(fields),
                                          SIFT_GF_FIELDS_KEYWORD,
                                          SIFT_GF_STYLE_VARIABLE, out),
                     0);
    expect = parse("[{\"__text\":\"host\",\"__value\":\"host\"}]");
    assert_true(json_equal(out, expect));
    json_decref(expect);
    json_decref(out);

    static const char terms[] =
        "{\"field\":\"host\",\"buckets\":[{\"key\":\"web-01\",\"count\":9}],"
        "\"other\":0,\"missing\":0,\"timed_out\":false}";
    out = json_array();
    assert_int_equal(
        sift__gf_values_list(terms, strlen(terms), SIFT_GF_STYLE_TAGS, out), 0);
    expect = parse("[{\"text\":\"web-01\"}]");
    assert_true(json_equal(out, expect));
    json_decref(expect);
    json_decref(out);
    out = json_array();
    assert_int_equal(sift__gf_values_list("nope", 4, SIFT_GF_STYLE_TAGS, out),
                     SIFT_EINVAL);
    json_decref(out);
}

static void
test_grafana_error_body(void **state)
{
    (void)state;
    struct sift_gf_error err;
    assert_int_equal(sift__gf_error_set(&err, SIFT_EINVAL, 400, "query_parse",
                                        "query A: bad \"%s\"", "x"),
                     SIFT_EINVAL);
    struct sift_buf b = SIFT_BUF_INIT;
    sift__gf_error_json(&err, &b);
    json_t *j = parse(sift_buf_cstr(&b));
    json_t *expect = parse("{\"message\":\"query A: bad \\\"x\\\"\",\"error\":"
                           "{\"code\":\"query_parse\",\"message\":"
                           "\"query A: bad \\\"x\\\"\"}}");
    assert_true(json_equal(j, expect));
    json_decref(expect);
    json_decref(j);
    sift_buf_cleanup(&b);
}

/* A template or alert text with bytes that are not UTF-8 still fills its
 * cell (json_string() would return NULL and shorten the row). */
static void
test_grafana_invalid_utf8_cells_keep_rows_whole(void **state)
{
    (void)state;
    struct sift_gf_target t = {.kind = SIFT_GF_PATTERNS, .ref_id = "A"};
    struct sift_gf_pattern v[] = {{7, 3, "caf\xe9 <*> \xff", "caf\xe9 1 \xff"},
                                  {8, 1, NULL, "ok"}};
    json_t *frames = json_array();
    sift__gf_frame_patterns(&t, v, 2, frames);
    json_t *rows = json_object_get(json_array_get(frames, 0), "rows");
    assert_int_equal(json_array_size(rows), 2);
    json_t *r0 = json_array_get(rows, 0);
    assert_int_equal(json_array_size(r0), 4);
    assert_string_equal(json_string_value(json_array_get(r0, 2)),
                        "caf\xef\xbf\xbd <*> \xef\xbf\xbd");
    assert_string_equal(json_string_value(json_array_get(r0, 3)),
                        "caf\xef\xbf\xbd 1 \xef\xbf\xbd");
    json_decref(frames);
    json_t *s = sift__gf_str("ok \xc3\xa9");
    assert_string_equal(json_string_value(s), "ok \xc3\xa9");
    json_decref(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grafana_plan_plugin_body),
        cmocka_unit_test(test_grafana_plan_filter_operators),
        cmocka_unit_test(test_grafana_plan_filter_errors),
        cmocka_unit_test(test_grafana_plan_adhoc_both_spellings),
        cmocka_unit_test(test_grafana_plan_variables_and_legacy),
        cmocka_unit_test(test_grafana_plan_errors_name_the_target),
        cmocka_unit_test(test_grafana_plan_range_forms),
        cmocka_unit_test(test_grafana_interval_never_exceeds_max_points),
        cmocka_unit_test(test_grafana_frame_count_merges_to_max_points),
        cmocka_unit_test(test_grafana_frame_count_split_by),
        cmocka_unit_test(test_grafana_frame_logs),
        cmocka_unit_test(test_grafana_frame_terms_stats_patterns),
        cmocka_unit_test(test_grafana_frame_alerts_annotations),
        cmocka_unit_test(test_grafana_metric_lists),
        cmocka_unit_test(test_grafana_field_and_value_lists),
        cmocka_unit_test(test_grafana_error_body),
        cmocka_unit_test(test_grafana_invalid_utf8_cells_keep_rows_whole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
