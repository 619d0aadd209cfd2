/*
 * test_kafka_prefetch.c - librdkafka's prefetch limits follow
 * store.buffer_max_bytes (sift__kafka_prefetch_limits), clamped to
 * [1 MiB, librdkafka's defaults], and librdkafka accepts what we set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "ingest/ingest_int.h"

#define MIB (INT64_C(1) << 20)

static void
expect_limits(int64_t buffer_max, int64_t q_kb, int64_t fetch)
{
    int64_t q = -1, f = -1;
    sift__kafka_prefetch_limits(buffer_max, &q, &f);
    assert_int_equal(q, q_kb);
    assert_int_equal(f, fetch);
}

static void
test_kafka_prefetch_follows_buffer(void **state)
{
    (void)state;
    /* 32 MiB buffer: queue 16 MiB, fetch responses 8 MiB. */
    expect_limits(32 * MIB, 16 * 1024, 8 * MIB);
    expect_limits(8 * MIB, 4 * 1024, 2 * MIB);
    /* The queue reaches librdkafka's default at 128 MiB, fetch at 200. */
    expect_limits(128 * MIB, 64 * 1024, 32 * MIB);
    expect_limits(200 * MIB, 64 * 1024, 50 * MIB);
    /* Default (0 = the store's 256 MiB) and big buffers: librdkafka's
     * own defaults, so the default configuration is unchanged. */
    expect_limits(0, 64 * 1024, 50 * MIB);
    expect_limits(256 * MIB, 64 * 1024, 50 * MIB);
    expect_limits(INT64_C(1) << 40, 64 * 1024, 50 * MIB);
    /* Tiny buffers: at least 1 MiB each (one default message). */
    expect_limits(100 * 1024, 1024, MIB);
    expect_limits(MIB, 1024, MIB);
    expect_limits(3 * MIB, 1536, MIB);
}

static void
test_kafka_prefetch_values_accepted(void **state)
{
    (void)state;
    int64_t bufs[] = {0, MIB, 32 * MIB, 256 * MIB};
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        int64_t q, f;
        char v[32], err[256];
        sift__kafka_prefetch_limits(bufs[i], &q, &f);
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        snprintf(v, sizeof(v), "%lld", (long long)q);
        assert_int_equal(rd_kafka_conf_set(c, "queued.max.messages.kbytes", v,
                                           err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
        snprintf(v, sizeof(v), "%lld", (long long)f);
        assert_int_equal(
            rd_kafka_conf_set(c, "fetch.max.bytes", v, err, sizeof(err)),
            RD_KAFKA_CONF_OK);
        /* A consumer can be created with them (the broker address is
         * never reachable; logging off). */
        assert_int_equal(
            rd_kafka_conf_set(c, "log_level", "0", err, sizeof(err)),
            RD_KAFKA_CONF_OK);
        assert_int_equal(rd_kafka_conf_set(c, "bootstrap.servers",
                                           "127.0.0.1:1", err, sizeof(err)),
                         RD_KAFKA_CONF_OK);
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
        if (!rk)
            fail_msg("rd_kafka_new: %s", err);
        rd_kafka_destroy(rk);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kafka_prefetch_follows_buffer),
        cmocka_unit_test(test_kafka_prefetch_values_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
