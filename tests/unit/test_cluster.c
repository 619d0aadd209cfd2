/*
 * test_cluster.c - merging the answers of several nodes (src/cluster/
 * merge.c): hits in one (time, hash) order with a cursor valid on every
 * node, terms with their error bound, histograms of different automatic
 * widths, stats that never show an unmerged percentile, unreadable
 * answers left out and flagged.
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

#include "cluster/cluster_int.h"
#include "query/query_int.h"
#include "sift/buf.h"
#include "sift/query.h"

/* {"hits":[…],"total":…,"cursor":…} of one node with hits (ts, hash). */
static char *
search_answer(const int64_t *ts, const uint64_t *hash, size_t n, unsigned total,
              int more)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_append(&b, "{\"hits\":[", 9);
    for (size_t i = 0; i < n; i++) {
        char id[SIFT_QUERY_ID_LEN + 1];
        sift__query_id_encode(ts[i], hash[i], id);
        sift_buf_appendf(&b,
                         "%s{\"_id\":\"%s\",\"message\":\"m [x] {y}\","
                         "\"fields\":{\"n\":1e3,\"s\":\"a,\\\"]\"}}",
                         i ? "," : "", id);
    }
    sift_buf_appendf(&b,
                     "],\"total\":{\"value\":%u,\"relation\":\"eq\"},"
                     "\"cursor\":%s,\"took_ms\":1,\"timed_out\":false}",
                     total,
                     more ? "\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"" : "null");
    char *s = strdup(sift_buf_cstr(&b));
    sift_buf_cleanup(&b);
    return s;
}

static json_t *
merged(const struct sift_cluster_query *q, char **bodies, size_t n, int *bad)
{
    static const char *const ids[4] = {"n0", "n1", "n2", "n3"};
    struct sift__cluster_answer a[4];
    for (size_t i = 0; i < n; i++) {
        a[i].body = bodies[i];
        a[i].len = strlen(bodies[i]);
        a[i].node_id = ids[i];
    }
    struct sift_buf out = SIFT_BUF_INIT;
    char why[200];
    sift__cluster_merge(q, 30, a, n, &out, bad, why, sizeof(why));
    sift_buf_putc(&out, '}');
    json_error_t e;
    json_t *o = json_loadb(out.data, out.len, 0, &e);
    if (!o)
        fail_msg("merged answer is not JSON: %s\n%s", e.text, out.data);
    sift_buf_cleanup(&out);
    return o;
}

static void
hit_key(json_t *o, size_t i, int64_t *ts, uint64_t *hash)
{
    json_t *id =
        json_object_get(json_array_get(json_object_get(o, "hits"), i), "_id");
    assert_true(json_is_string(id));
    assert_int_equal(sift_query_hit_key(json_string_value(id),
                                        json_string_length(id), ts, hash),
                     0);
}

static void
test_search_merges_in_time_order_with_cursor(void **state)
{
    (void)state;
    /* Newest first: node 0 has 50, 30, 30(h=9); node 1 has 40, 30(h=9). */
    int64_t t0[] = {50, 30, 30}, t1[] = {40, 30};
    uint64_t h0[] = {1, 9, 2}, h1[] = {7, 9};
    char *b[2] = {search_answer(t0, h0, 3, 10, 1),
                  search_answer(t1, h1, 2, 5, 0)};
    int bad[2] = {0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_SEARCH, .size = 4};
    json_t *o = merged(&q, b, 2, bad);
    assert_int_equal(bad[0] + bad[1], 0);
    assert_int_equal(json_array_size(json_object_get(o, "hits")), 4);
    int64_t want_ts[] = {50, 40, 30, 30};
    uint64_t want_h[] = {1, 7, 9, 9};
    for (size_t i = 0; i < 4; i++) {
        int64_t ts;
        uint64_t h;
        hit_key(o, i, &ts, &h);
        assert_int_equal(ts, want_ts[i]);
        assert_int_equal(h, want_h[i]);
    }
    /* Hits are copied byte for byte: 1e3 stays 1e3, escapes stay. */
    {
        struct sift__cluster_answer a[2] = {{b[0], strlen(b[0]), "n0"},
                                            {b[1], strlen(b[1]), "n1"}};
        struct sift_buf raw = SIFT_BUF_INIT;
        char why[100];
        sift__cluster_merge(&q, 0, a, 2, &raw, bad, why, sizeof(why));
        assert_non_null(
            strstr(sift_buf_cstr(&raw), "\"n\":1e3,\"s\":\"a,\\\"]\"}"));
        sift_buf_cleanup(&raw);
    }
    json_t *tot = json_object_get(o, "total");
    assert_int_equal(json_integer_value(json_object_get(tot, "value")), 15);
    /* The cursor resumes after (30, 9), both copies shown: skip 2. */
    json_t *cur = json_object_get(o, "cursor");
    assert_true(json_is_string(cur));
    int64_t ts;
    uint64_t h;
    uint32_t skip;
    int oldest;
    assert_int_equal(
        sift_query_cursor_read(json_string_value(cur), &ts, &h, &skip, &oldest),
        0);
    assert_int_equal(ts, 30);
    assert_int_equal(h, 9);
    assert_int_equal(skip, 2);
    assert_int_equal(oldest, 0);
    json_decref(o);

    /* Everything fits and no node has more: no cursor. */
    q.size = 10;
    free(b[0]);
    b[0] = search_answer(t0, h0, 3, 3, 0);
    o = merged(&q, b, 2, bad);
    assert_true(json_is_null(json_object_get(o, "cursor")));
    assert_int_equal(json_array_size(json_object_get(o, "hits")), 5);
    json_decref(o);

    /* Oldest first: ascending. */
    q.oldest_first = 1;
    int64_t a0[] = {10, 20}, a1[] = {15};
    uint64_t ah0[] = {1, 1}, ah1[] = {1};
    free(b[0]);
    free(b[1]);
    b[0] = search_answer(a0, ah0, 2, 2, 0);
    b[1] = search_answer(a1, ah1, 1, 1, 0);
    o = merged(&q, b, 2, bad);
    int64_t asc[] = {10, 15, 20};
    for (size_t i = 0; i < 3; i++) {
        hit_key(o, i, &ts, &h);
        assert_int_equal(ts, asc[i]);
    }
    json_decref(o);
    free(b[0]);
    free(b[1]);
}

static void
test_search_unreadable_answer_is_flagged(void **state)
{
    (void)state;
    int64_t t[] = {5};
    uint64_t h[] = {5};
    char *b[3] = {search_answer(t, h, 1, 1, 0),
                  strdup("{\"hits\":[{\"_id\":\"nope\"}],\"total\":{}}"),
                  strdup("<html>")};
    int bad[3] = {0, 0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_SEARCH, .size = 5};
    json_t *o = merged(&q, b, 3, bad);
    assert_int_equal(bad[0], 0);
    assert_int_equal(bad[1], 1);
    assert_int_equal(bad[2], 1);
    assert_int_equal(json_array_size(json_object_get(o, "hits")), 1);
    json_decref(o);
    for (size_t i = 0; i < 3; i++)
        free(b[i]);
}

static void
test_terms_sum_and_error_bound(void **state)
{
    (void)state;
    char *b[2] = {
        strdup("{\"field\":\"svc\",\"buckets\":[{\"key\":\"a\",\"count\":10},"
               "{\"key\":\"b\",\"count\":5}],\"other\":3,\"missing\":1,"
               "\"timed_out\":false}"),
        strdup("{\"field\":\"svc\",\"buckets\":[{\"key\":\"b\",\"count\":7},"
               "{\"key\":\"c\",\"count\":6}],\"other\":0,\"missing\":2,"
               "\"timed_out\":false}")};
    int bad[2] = {0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_TERMS, .size = 2};
    json_t *o = merged(&q, b, 2, bad);
    json_t *bk = json_object_get(o, "buckets");
    assert_int_equal(json_array_size(bk), 2);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(bk, 0), "key")), "b");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(bk, 0), "count")),
        12);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(bk, 1), "key")), "a");
    assert_int_equal(json_integer_value(json_object_get(o, "other")), 9);
    assert_int_equal(json_integer_value(json_object_get(o, "missing")), 3);
    /* Node 0 left keys out (other 3) below its smallest count 5. */
    assert_int_equal(
        json_integer_value(json_object_get(o, "doc_count_error_upper_bound")),
        5);
    json_decref(o);
    free(b[0]);
    free(b[1]);
}

static void
test_histogram_coarsest_interval(void **state)
{
    (void)state;
    char *b[2] = {strdup("{\"interval_ms\":60000,\"buckets\":["
                         "{\"key\":0,\"time\":\"x\",\"count\":1},"
                         "{\"key\":60000,\"time\":\"x\",\"count\":2},"
                         "{\"key\":300000,\"time\":\"x\",\"count\":4}],"
                         "\"timed_out\":false}"),
                  strdup("{\"interval_ms\":300000,\"buckets\":["
                         "{\"key\":900000,\"time\":\"x\",\"count\":8}],"
                         "\"timed_out\":true}")};
    int bad[2] = {0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_HISTOGRAM, .size = 10};
    json_t *o = merged(&q, b, 2, bad);
    assert_int_equal(json_integer_value(json_object_get(o, "interval_ms")),
                     300000);
    json_t *bk = json_object_get(o, "buckets");
    /* 0, 300000, 600000 (a hole, filled), 900000. */
    assert_int_equal(json_array_size(bk), 4);
    uint64_t want[] = {3, 4, 0, 8};
    for (size_t i = 0; i < 4; i++) {
        json_t *x = json_array_get(bk, i);
        assert_int_equal(json_integer_value(json_object_get(x, "key")),
                         (json_int_t)(i * 300000));
        assert_int_equal(json_integer_value(json_object_get(x, "count")),
                         (json_int_t)want[i]);
    }
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(bk, 1), "time")),
        "1970-01-01T00:05:00.000000000Z");
    assert_true(json_is_true(json_object_get(o, "timed_out")));
    json_decref(o);
    free(b[0]);
    free(b[1]);
}

static void
test_stats_never_show_unmerged_percentiles(void **state)
{
    (void)state;
    char *b[3] = {
        strdup("{\"field\":\"lat\",\"count\":2,\"min\":1,\"max\":3,\"sum\":4,"
               "\"avg\":2,\"p50\":1,\"p90\":3,\"p99\":3,"
               "\"percentiles_exact\":true,\"timed_out\":false}"),
        strdup("{\"field\":\"lat\",\"count\":0,\"min\":null,\"max\":null,"
               "\"sum\":0,\"avg\":null,\"p50\":null,\"p90\":null,"
               "\"p99\":null,\"percentiles_exact\":true,\"timed_out\":false}"),
        strdup("{\"field\":\"lat\",\"count\":2,\"min\":0.5,\"max\":2,"
               "\"sum\":2.5,\"avg\":1.25,\"p50\":0.5,\"p90\":2,\"p99\":2,"
               "\"percentiles_exact\":true,\"timed_out\":false}")};
    int bad[3] = {0, 0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_STATS};
    /* One node holds values: its percentiles are the answer's. */
    json_t *o = merged(&q, b, 2, bad);
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 2);
    assert_true(json_number_value(json_object_get(o, "p90")) == 3.0);
    assert_null(json_object_get(o, "warnings"));
    json_decref(o);
    /* Two hold values and sent no sample (an older siftd): exact
     * count/min/max/sum/avg, percentiles null and a warning. */
    o = merged(&q, b, 3, bad);
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 4);
    assert_true(json_number_value(json_object_get(o, "min")) == 0.5);
    assert_true(json_number_value(json_object_get(o, "max")) == 3.0);
    assert_true(json_number_value(json_object_get(o, "sum")) == 6.5);
    assert_true(json_number_value(json_object_get(o, "avg")) == 1.625);
    assert_true(json_is_null(json_object_get(o, "p50")));
    assert_true(json_is_false(json_object_get(o, "percentiles_exact")));
    assert_int_equal(json_array_size(json_object_get(o, "warnings")), 1);
    json_decref(o);
    for (size_t i = 0; i < 3; i++)
        free(b[i]);
}

static void
test_stats_percentiles_from_samples(void **state)
{
    (void)state;
    char *b[3] = {
        strdup("{\"field\":\"lat\",\"count\":2,\"min\":1,\"max\":3,\"sum\":4,"
               "\"avg\":2,\"p50\":2,\"p90\":2.8,\"p99\":2.98,"
               "\"percentiles_exact\":true,\"timed_out\":false,"
               "\"_sample\":{\"complete\":true,\"values\":[1,3]}}"),
        strdup("{\"field\":\"lat\",\"count\":2,\"min\":0.5,\"max\":2,"
               "\"sum\":2.5,\"avg\":1.25,\"p50\":1.25,\"p90\":1.85,"
               "\"p99\":1.985,\"percentiles_exact\":true,\"timed_out\":false,"
               "\"_sample\":{\"complete\":true,\"values\":[0.5,2]}}"),
        /* 1000 values, 3 shipped (quantiles): weight 1000/3 each. */
        strdup("{\"field\":\"lat\",\"count\":1000,\"min\":10,\"max\":30,"
               "\"sum\":20000,\"avg\":20,\"p50\":20,\"p90\":28,"
               "\"p99\":29.8,\"percentiles_exact\":true,\"timed_out\":false,"
               "\"_sample\":{\"complete\":false,\"values\":[10,20,30]}}")};
    int bad[3] = {0, 0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_STATS};
    /* Every value sent: the percentiles of the union {0.5, 1, 2, 3}, by
     * the rule of one node (linear between closest ranks). */
    json_t *o = merged(&q, b, 2, bad);
    assert_true(json_number_value(json_object_get(o, "p50")) == 1.5);
    assert_true(json_number_value(json_object_get(o, "p90")) == 2.7);
    assert_true(json_number_value(json_object_get(o, "p99")) == 2.97);
    assert_true(json_is_true(json_object_get(o, "percentiles_exact")));
    assert_null(json_object_get(o, "warnings"));
    assert_null(json_object_get(o, "_sample"));
    json_decref(o);
    /* A node sent quantiles only: weighted, approximate, and said so. */
    o = merged(&q, b, 3, bad);
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 1004);
    assert_true(json_number_value(json_object_get(o, "p50")) == 20.0);
    assert_true(json_number_value(json_object_get(o, "p99")) == 30.0);
    assert_true(json_is_false(json_object_get(o, "percentiles_exact")));
    assert_int_equal(json_array_size(json_object_get(o, "warnings")), 1);
    json_decref(o);
    for (size_t i = 0; i < 3; i++)
        free(b[i]);
}

static void
test_stats_sample_shipped(void **state)
{
    (void)state;
    /* Few values: all of them, sorted, complete. */
    struct sift_agg_sample few[3] = {{7, 3.5}, {1, -1}, {9, 2}};
    struct sift_agg_stats_result r = {
        .count = 3, .sample = few, .n_sample = 3, .percentiles_exact = 1};
    struct sift_buf out = SIFT_BUF_INIT;
    sift_cluster_put_stats_sample(&r, &out);
    assert_string_equal(sift_buf_cstr(&out), ",\"_sample\":{\"complete\":true,"
                                             "\"values\":[-1,2,3.5]}");
    sift_buf_cleanup(&out);
    /* More than SIFT_CLUSTER_SAMPLE_SHIP: that many evenly spaced
     * quantiles, the smallest and the largest included. */
    size_t n = SIFT_CLUSTER_SAMPLE_SHIP * 3 + 1;
    struct sift_agg_sample *many = calloc(n, sizeof(*many));
    for (size_t i = 0; i < n; i++)
        many[i].v = (double)(n - 1 - i);
    r.count = n;
    r.sample = many;
    r.n_sample = n;
    sift_cluster_put_stats_sample(&r, &out);
    json_t *o = json_loads(sift_buf_cstr(&out) + 11, 0, NULL);
    assert_non_null(o);
    json_t *v = json_object_get(o, "values");
    assert_true(json_is_false(json_object_get(o, "complete")));
    assert_int_equal(json_array_size(v), SIFT_CLUSTER_SAMPLE_SHIP);
    assert_true(json_number_value(json_array_get(v, 0)) == 0.0);
    assert_true(json_number_value(json_array_get(v, SIFT_CLUSTER_SAMPLE_SHIP -
                                                        1)) == (double)(n - 1));
    assert_true(json_number_value(json_array_get(v, 1)) == 3.0);
    json_decref(o);
    sift_buf_cleanup(&out);
    free(many);
}

static void
test_patterns_merge_by_text(void **state)
{
    (void)state;
    /* The same template under different ids on two nodes; one node's
     * series is finer (30 s) than the other's (60 s). */
    char *b[2] = {
        strdup("{\"patterns\":[{\"template_id\":4,\"template\":\"GET <*> in "
               "<num> ms\",\"count\":5,\"first_seen_ms\":60000,"
               "\"last_seen_ms\":70000,\"sample\":\"GET / in 3 ms\","
               "\"series\":[[60000,5],[120000,0]]},{\"template_id\":9,"
               "\"template\":\"only on a\",\"count\":1,\"first_seen_ms\":"
               "60000,\"last_seen_ms\":60000,\"sample\":\"only on a\","
               "\"series\":[[60000,1],[120000,0]]}],\"total\":6,"
               "\"distinct\":2,\"interval_ms\":60000,\"took_ms\":1}"),
        strdup("{\"patterns\":[{\"template_id\":2,\"template\":\"GET <*> in "
               "<num> ms\",\"count\":3,\"first_seen_ms\":50000,"
               "\"last_seen_ms\":125000,\"sample\":\"GET /x in 9 ms\","
               "\"series\":[[30000,1],[60000,1],[90000,0],[120000,1]]}],"
               "\"total\":3,\"distinct\":1,\"interval_ms\":30000,"
               "\"took_ms\":1}")};
    int bad[2] = {0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_PATTERNS, .size = 5};
    json_t *o = merged(&q, b, 2, bad);
    assert_int_equal(bad[0] + bad[1], 0);
    json_t *p = json_object_get(o, "patterns");
    assert_int_equal(json_array_size(p), 2);
    json_t *t = json_array_get(p, 0);
    assert_string_equal(json_string_value(json_object_get(t, "template")),
                        "GET <*> in <num> ms");
    assert_int_equal(json_integer_value(json_object_get(t, "count")), 8);
    /* The first answer's (the node asked) id; its first/last seen the
     * extremes; the sample the newest. */
    assert_int_equal(json_integer_value(json_object_get(t, "template_id")), 4);
    assert_int_equal(json_integer_value(json_object_get(t, "first_seen_ms")),
                     50000);
    assert_int_equal(json_integer_value(json_object_get(t, "last_seen_ms")),
                     125000);
    assert_string_equal(json_string_value(json_object_get(t, "sample")),
                        "GET /x in 9 ms");
    /* 30 s buckets summed into 60 s ones: 0..60 s: 1, 60..120: 5+1+0,
     * 120..: 0+1. */
    json_t *ser = json_object_get(t, "series");
    assert_int_equal(json_array_size(ser), 3);
    static const int64_t want[3][2] = {{0, 1}, {60000, 6}, {120000, 1}};
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_array_get(ser, i);
        assert_int_equal(json_integer_value(json_array_get(x, 0)), want[i][0]);
        assert_int_equal(json_integer_value(json_array_get(x, 1)), want[i][1]);
    }
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 9);
    assert_int_equal(json_integer_value(json_object_get(o, "distinct")), 2);
    assert_int_equal(json_integer_value(json_object_get(o, "interval_ms")),
                     60000);
    json_decref(o);
    /* size keeps the most frequent. */
    q.size = 1;
    o = merged(&q, b, 2, bad);
    assert_int_equal(json_array_size(json_object_get(o, "patterns")), 1);
    json_decref(o);
    free(b[0]);
    free(b[1]);
}

static void
test_alerts_newest_first_with_node(void **state)
{
    (void)state;
    char *b[2] = {strdup("{\"alerts\":[{\"id\":2,\"started_ms\":300},"
                         "{\"id\":1,\"started_ms\":100}],\"total\":2}"),
                  strdup("{\"alerts\":[{\"id\":1,\"started_ms\":200}],"
                         "\"total\":1}")};
    int bad[2] = {0, 0};
    struct sift_cluster_query q = {.kind = SIFT_CLUSTER_ALERTS, .size = 10};
    json_t *o = merged(&q, b, 2, bad);
    json_t *l = json_object_get(o, "alerts");
    assert_int_equal(json_array_size(l), 3);
    static const int64_t started[3] = {300, 200, 100};
    static const char *const node[3] = {"n0", "n1", "n0"};
    for (size_t i = 0; i < 3; i++) {
        json_t *x = json_array_get(l, i);
        assert_int_equal(json_integer_value(json_object_get(x, "started_ms")),
                         started[i]);
        assert_string_equal(json_string_value(json_object_get(x, "node_id")),
                            node[i]);
    }
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 3);
    json_decref(o);
    q.size = 1;
    o = merged(&q, b, 2, bad);
    assert_int_equal(json_array_size(json_object_get(o, "alerts")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 3);
    json_decref(o);
    free(b[0]);
    free(b[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search_merges_in_time_order_with_cursor),
        cmocka_unit_test(test_search_unreadable_answer_is_flagged),
        cmocka_unit_test(test_terms_sum_and_error_bound),
        cmocka_unit_test(test_histogram_coarsest_interval),
        cmocka_unit_test(test_stats_never_show_unmerged_percentiles),
        cmocka_unit_test(test_stats_percentiles_from_samples),
        cmocka_unit_test(test_stats_sample_shipped),
        cmocka_unit_test(test_patterns_merge_by_text),
        cmocka_unit_test(test_alerts_newest_first_with_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
