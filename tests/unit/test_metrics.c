/*
 * test_metrics.c - Prometheus exposition: families, label escaping,
 * histogram buckets (cumulative, +Inf == count), collectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sift/metrics.h"

static void
test_metrics_sample_escapes_labels(void **state)
{
    (void)state;
    struct sift_buf b = SIFT_BUF_INIT;
    const char *labels[] = {"source", "kafka/\"x\"\\y\nz", "k", "v", NULL};
    sift_metrics_family(&b, "sift_events_total", SIFT_METRIC_COUNTER,
                        "Events\\ingested\nok");
    sift_metrics_sample(&b, "sift_events_total", labels, 42);
    sift_metrics_sample(&b, "sift_ratio", NULL, 0.25);
    assert_string_equal(sift_buf_cstr(&b),
                        "# HELP sift_events_total Events\\\\ingested\\nok\n"
                        "# TYPE sift_events_total counter\n"
                        "sift_events_total{source=\"kafka/\\\"x\\\"\\\\y\\nz\","
                        "k=\"v\"} 42\n"
                        "sift_ratio 0.25\n");
    sift_buf_cleanup(&b);
}

static void
test_metrics_histogram_cumulative(void **state)
{
    (void)state;
    struct sift_histogram h;
    const double bounds[] = {0.1, 1, 10};
    sift_histogram_init(&h, bounds, 3);
    sift_histogram_observe(&h, 0.05); /* <= 0.1 */
    sift_histogram_observe(&h, 0.1);  /* boundary belongs to le=0.1 */
    sift_histogram_observe(&h, 5);
    sift_histogram_observe(&h, 100); /* only +Inf */
    struct sift_buf b = SIFT_BUF_INIT;
    const char *labels[] = {"endpoint", "search", NULL};
    sift_histogram_render(&h, &b, "sift_q_seconds", labels);
    assert_string_equal(
        sift_buf_cstr(&b),
        "sift_q_seconds_bucket{endpoint=\"search\",le=\"0.1\"} 2\n"
        "sift_q_seconds_bucket{endpoint=\"search\",le=\"1\"} 2\n"
        "sift_q_seconds_bucket{endpoint=\"search\",le=\"10\"} 3\n"
        "sift_q_seconds_bucket{endpoint=\"search\",le=\"+Inf\"} 4\n"
        "sift_q_seconds_sum{endpoint=\"search\"} 105.15\n"
        "sift_q_seconds_count{endpoint=\"search\"} 4\n");
    sift_buf_cleanup(&b);
}

static void
collect_a(struct sift_buf *out, void *arg)
{
    sift_metrics_sample(out, "a", NULL, (double)*(int *)arg);
}

static void
test_metrics_collectors_run_in_order(void **state)
{
    (void)state;
    struct sift_metrics *m;
    assert_int_equal(sift_metrics_new(&m), 0);
    int x = 1, y = 2;
    sift_metrics_register(m, collect_a, &x);
    sift_metrics_register(m, collect_a, &y);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_metrics_render(m, &b);
    assert_string_equal(sift_buf_cstr(&b), "a 1\na 2\n");
    x = 7;
    sift_buf_reset(&b);
    sift_metrics_render(m, &b);
    assert_string_equal(sift_buf_cstr(&b), "a 7\na 2\n");
    sift_buf_cleanup(&b);
    sift_metrics_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_sample_escapes_labels),
        cmocka_unit_test(test_metrics_histogram_cumulative),
        cmocka_unit_test(test_metrics_collectors_run_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
