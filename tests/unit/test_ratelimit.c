/*
 * test_ratelimit.c - token buckets: burst then refusal with Retry-After,
 * refill over time, independent keys, the bounded table under a flood of
 * distinct keys (idle keys evicted first), and address keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "sift/error.h"
#include "sift/ratelimit.h"

#define SEC INT64_C(1000000000)

static struct sift_ratelimit *
mk(double rate, double burst, size_t max_keys)
{
    struct sift_ratelimit_opts o = {rate, burst, max_keys};
    struct sift_ratelimit *rl = NULL;
    assert_int_equal(sift_ratelimit_new(&o, &rl), SIFT_OK);
    return rl;
}

static int
take(struct sift_ratelimit *rl, const char *key, double cost, int64_t now,
     uint32_t *retry)
{
    return sift_ratelimit_take(rl, key, strlen(key), cost, now, retry);
}

static void
test_ratelimit_burst_then_retry_after(void **state)
{
    (void)state;
    struct sift_ratelimit *rl = mk(2, 5, 0); /* 2/s, burst 5 */
    uint32_t retry = 99;
    int64_t t0 = 1000 * SEC;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(take(rl, "tok:ship", 1, t0, &retry), SIFT_OK);
        assert_int_equal(retry, 0);
    }
    assert_int_equal(take(rl, "tok:ship", 1, t0, &retry), SIFT_ELIMIT);
    assert_int_equal(retry, 1); /* 1 token at 2/s = 0.5 s, rounded up */
    assert_int_equal(sift_ratelimit_n_refused(rl), 1);

    /* 0.49 s later: 0.98 tokens, still refused; 0.5 s: one token. */
    assert_int_equal(take(rl, "tok:ship", 1, t0 + SEC * 49 / 100, &retry),
                     SIFT_ELIMIT);
    assert_int_equal(take(rl, "tok:ship", 1, t0 + SEC / 2, &retry), SIFT_OK);
    assert_int_equal(take(rl, "tok:ship", 1, t0 + SEC / 2, &retry),
                     SIFT_ELIMIT);

    /* A long pause refills only up to the burst. */
    int64_t t1 = t0 + 3600 * SEC;
    for (int i = 0; i < 5; i++)
        assert_int_equal(take(rl, "tok:ship", 1, t1, &retry), SIFT_OK);
    assert_int_equal(take(rl, "tok:ship", 1, t1, &retry), SIFT_ELIMIT);
    sift_ratelimit_free(rl);
}

static void
test_ratelimit_retry_after_scales_with_cost(void **state)
{
    (void)state;
    struct sift_ratelimit *rl = mk(0.5, 10, 0); /* one token per 2 s */
    uint32_t retry;
    assert_int_equal(take(rl, "k", 10, 0, &retry), SIFT_OK);
    assert_int_equal(take(rl, "k", 3, 0, &retry), SIFT_ELIMIT);
    assert_int_equal(retry, 6);
    /* A cost above the burst is charged as the burst (once full). */
    assert_int_equal(take(rl, "k", 1000, 20 * SEC, &retry), SIFT_OK);
    assert_int_equal(take(rl, "k", 1000, 20 * SEC, &retry), SIFT_ELIMIT);
    assert_int_equal(retry, 20);
    sift_ratelimit_free(rl);
}

static void
test_ratelimit_keys_are_independent(void **state)
{
    (void)state;
    struct sift_ratelimit *rl = mk(1, 1, 0);
    uint32_t retry;
    assert_int_equal(take(rl, "a:10.0.0.1", 1, 0, &retry), SIFT_OK);
    assert_int_equal(take(rl, "a:10.0.0.1", 1, 0, &retry), SIFT_ELIMIT);
    assert_int_equal(take(rl, "a:10.0.0.2", 1, 0, &retry), SIFT_OK);
    assert_int_equal(take(rl, "t:grafana", 1, 0, &retry), SIFT_OK);
    /* Long keys differing after the stored prefix are still apart. */
    char k1[200], k2[200];
    memset(k1, 'x', sizeof k1 - 1);
    k1[sizeof k1 - 1] = '\0';
    memcpy(k2, k1, sizeof k2);
    k2[150] = 'y';
    assert_int_equal(take(rl, k1, 1, 0, &retry), SIFT_OK);
    assert_int_equal(take(rl, k2, 1, 0, &retry), SIFT_OK);
    assert_int_equal(take(rl, k1, 1, 0, &retry), SIFT_ELIMIT);
    assert_int_equal(sift_ratelimit_n_keys(rl), 5);
    sift_ratelimit_free(rl);
}

static void
test_ratelimit_disabled_always_allows(void **state)
{
    (void)state;
    struct sift_ratelimit *rl = mk(0, 1, 0);
    uint32_t retry;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(take(rl, "k", 1, 0, &retry), SIFT_OK);
    assert_int_equal(sift_ratelimit_n_keys(rl), 0);
    sift_ratelimit_free(rl);
}

static void
test_ratelimit_table_is_bounded(void **state)
{
    (void)state;
    struct sift_ratelimit *rl = mk(1, 2, 64);
    uint32_t retry;
    char key[32];
    /* A throttled key is kept while a flood of new addresses arrives. */
    assert_int_equal(take(rl, "victim", 2, 0, &retry), SIFT_OK);
    assert_int_equal(take(rl, "victim", 1, 0, &retry), SIFT_ELIMIT);
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "a:10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255,
                 i & 255);
        assert_int_equal(take(rl, key, 1, 0, &retry), SIFT_OK);
        assert_true(sift_ratelimit_n_keys(rl) <= 64);
        /* Keep the victim referenced so CLOCK gives it second chances. */
        if (i % 16 == 0)
            assert_int_equal(take(rl, "victim", 1, 0, &retry), SIFT_ELIMIT);
    }
    assert_int_equal(sift_ratelimit_n_keys(rl), 64);

    /* Idle keys (full buckets) are evicted before busy ones. */
    struct sift_ratelimit *r2 = mk(1, 2, 4);
    assert_int_equal(take(r2, "busy", 1, 0, &retry), SIFT_OK);
    assert_int_equal(take(r2, "busy", 1, 0, &retry), SIFT_OK);
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "idle%d", i);
        assert_int_equal(take(r2, key, 0, 0, &retry), SIFT_OK);
    }
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "new%d", i);
        assert_int_equal(take(r2, key, 0, 0, &retry), SIFT_OK);
    }
    assert_int_equal(take(r2, "busy", 1, 0, &retry), SIFT_ELIMIT);
    sift_ratelimit_free(r2);
    sift_ratelimit_free(rl);
}

static void
test_ratelimit_addr_keys(void **state)
{
    (void)state;
    char out[64];
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
    size_t n = sift_ratelimit_addr_key((struct sockaddr *)&in, out, sizeof out);
    assert_string_equal(out, "a:192.0.2.7");
    assert_int_equal(n, strlen(out));

    struct sockaddr_in6 in6;
    memset(&in6, 0, sizeof in6);
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8:1:2:aaaa::5", &in6.sin6_addr);
    sift_ratelimit_addr_key((struct sockaddr *)&in6, out, sizeof out);
    assert_string_equal(out, "a:2001:db8:1:2::/64");
    inet_pton(AF_INET6, "2001:db8:1:2:bbbb::9", &in6.sin6_addr);
    char out2[64];
    sift_ratelimit_addr_key((struct sockaddr *)&in6, out2, sizeof out2);
    assert_string_equal(out, out2);
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
    sift_ratelimit_addr_key((struct sockaddr *)&in6, out, sizeof out);
    assert_string_equal(out, "a:10.1.2.3");
    assert_int_equal(sift_ratelimit_addr_key(NULL, out, sizeof out), 3);
    assert_string_equal(out, "a:?");
    n = sift_ratelimit_addr_key((struct sockaddr *)&in, out, 5);
    assert_int_equal(n, 4);
    assert_string_equal(out, "a:19");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_burst_then_retry_after),
        cmocka_unit_test(test_ratelimit_retry_after_scales_with_cost),
        cmocka_unit_test(test_ratelimit_keys_are_independent),
        cmocka_unit_test(test_ratelimit_disabled_always_allows),
        cmocka_unit_test(test_ratelimit_table_is_bounded),
        cmocka_unit_test(test_ratelimit_addr_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
