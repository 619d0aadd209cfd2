/*
 * test_admit.c - the time checks of every ingested event
 * (src/ingest/admit.c): future timestamps clamped (original kept) or
 * refused, events older than the retention refused, both switchable off,
 * and the reasons the dead-letter store gets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sift/admit.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/time.h"

#define NOW (INT64_C(1795348800) * 1000000000) /* 2026-11-22T12:00:00Z */
#define HOUR SIFT_NS_PER_HOUR
#define DAY SIFT_NS_PER_DAY

static struct sift_event
event(int64_t ts, struct sift_field *f, uint32_t n_fields)
{
    struct sift_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.ts_ns = ts;
    ev.msg = "m";
    ev.msg_len = 1;
    ev.fields = f;
    ev.n_fields = n_fields;
    return ev;
}

static void
test_admit_future_clamped_with_original_kept(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(4096);
    struct sift_admit_opts o = {HOUR, 0, 30 * DAY};
    struct sift_field f[1] = {{"host.name", "web-1", 9, 5, SIFT_FT_KEYWORD}};
    int64_t y2030 = INT64_C(1893456000) * 1000000000; /* 2030-01-01 */
    struct sift_event ev = event(y2030, f, 1);
    char why[256] = "";
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_CLAMPED);
    assert_true(ev.ts_ns == NOW);
    assert_int_equal(ev.n_fields, 2);
    assert_memory_equal(ev.fields[0].name, "host.name", 9);
    const struct sift_field *orig =
        sift_event_field(&ev, SIFT_TS_ORIGINAL_FIELD, 12);
    assert_non_null(orig);
    assert_int_equal(orig->type, SIFT_FT_KEYWORD);
    assert_int_equal(orig->value_len, 30);
    assert_memory_equal(orig->value, "2030-01-01T00:00:00.000000000Z", 30);
    /* The caller's field array was not written. */
    assert_int_equal(f[0].name_len, 9);
    /* Up to max_future ahead is fine (clock skew, batching). */
    ev = event(NOW + HOUR, f, 1);
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_OK);
    ev = event(NOW + HOUR + 1, f, 1);
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_CLAMPED);
    sift_arena_free(a);
}

static void
test_admit_future_rejected_with_reason(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(4096);
    struct sift_admit_opts o = {HOUR, 1, 30 * DAY};
    struct sift_event ev = event(NOW + 2 * DAY, NULL, 0);
    char why[256] = "";
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_FUTURE);
    assert_true(ev.ts_ns == NOW + 2 * DAY); /* untouched */
    assert_string_equal(why, "timestamp too far in the future "
                             "(ingest.max_future) (1h): "
                             "2026-11-24T12:00:00.000Z, arrived "
                             "2026-11-22T12:00:00.000Z");
    sift_arena_free(a);
}

static void
test_admit_expired_and_switches(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(4096);
    struct sift_admit_opts o = {HOUR, 0, 30 * DAY};
    /* A 2005 Apache line (the import). */
    int64_t y2005 = INT64_C(1133671664) * 1000000000;
    struct sift_event ev = event(y2005, NULL, 0);
    char why[256] = "";
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_EXPIRED);
    assert_non_null(strstr(why, "older than the retention"));
    assert_non_null(strstr(why, "(30d): 2005-12-04T04:47:44.000Z"));
    ev = event(NOW - 30 * DAY, NULL, 0); /* exactly at the line: kept */
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_OK);
    ev = event(NOW - 30 * DAY - 1, NULL, 0);
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, NULL, 0),
                     SIFT_ADMIT_EXPIRED);
    /* Retention off: history is kept; max_future off: any time. */
    struct sift_admit_opts off = {0, 0, 0};
    ev = event(y2005, NULL, 0);
    assert_int_equal(sift_admit_event(&off, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_OK);
    ev = event(INT64_MAX, NULL, 0);
    assert_int_equal(sift_admit_event(&off, &ev, NOW, a, why, sizeof(why)),
                     SIFT_ADMIT_OK);
    /* Extremes never overflow. */
    ev = event(INT64_MIN, NULL, 0);
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, NULL, 0),
                     SIFT_ADMIT_EXPIRED);
    ev = event(INT64_MAX, NULL, 0);
    assert_int_equal(sift_admit_event(&o, &ev, NOW, a, NULL, 0),
                     SIFT_ADMIT_CLAMPED);
    sift_arena_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_future_clamped_with_original_kept),
        cmocka_unit_test(test_admit_future_rejected_with_reason),
        cmocka_unit_test(test_admit_expired_and_switches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
