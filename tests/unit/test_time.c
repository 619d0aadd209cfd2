/*
 * test_time.c - core/time.c: civil dates (round trip over 800 years and
 * the leap rules), RFC 3339 parse and format, epoch numbers by magnitude
 * at every unit boundary, calendar rounding and month arithmetic; the
 * formatter against gmtime_r over the whole int64 range, the strict and
 * lenient scanner, and the scanning blocks parse/text.c builds on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/time.h"

static void
test_time_civil_round_trip(void **state)
{
    (void)state;
    int64_t prev = sift_time_days_from_civil(1599, 12, 31);
    for (int64_t y = 1600; y < 2400; y++) {
        for (unsigned m = 1; m <= 12; m++) {
            unsigned dim = sift_time_days_in_month(y, m);
            for (unsigned d = 1; d <= dim; d++) {
                int64_t days = sift_time_days_from_civil(y, m, d);
                assert_true(days == prev + 1);
                prev = days;
                int64_t yy;
                unsigned mm, dd;
                sift_time_civil_from_days(days, &yy, &mm, &dd);
                assert_true(yy == y && mm == m && dd == d);
            }
        }
    }
    assert_true(sift_time_days_from_civil(1970, 1, 1) == 0);
    assert_int_equal(sift_time_days_in_month(2000, 2), 29);
    assert_int_equal(sift_time_days_in_month(1900, 2), 28);
    assert_int_equal(sift_time_days_in_month(2024, 2), 29);
    assert_int_equal(sift_time_days_in_month(2023, 2), 28);
}

static void
test_time_rfc3339(void **state)
{
    (void)state;
    int64_t v;
    const char *s = "2024-05-01T10:00:00Z";
    assert_int_equal(sift_time_parse_rfc3339(s, strlen(s), &v), SIFT_OK);
    assert_true(v == INT64_C(1714557600) * SIFT_NS_PER_SEC);
    s = "2024-05-01 12:00:00,123456789123+02:00";
    assert_int_equal(sift_time_parse_rfc3339(s, strlen(s), &v), SIFT_OK);
    assert_true(v == INT64_C(1714557600) * SIFT_NS_PER_SEC + 123456789);
    static const char *const bad[] = {
        "2024-05-01T10:00:00",  "2024-02-30T10:00:00Z",
        "2023-02-29T00:00:00Z", "2024-05-01T10:00:00.Z",
        "2024-05-01T10:00Z",    "2024-05-01T10:00:00+0200",
        "3000-01-01T00:00:00Z", "2024-05-01T10:00:00Zx"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sift_time_parse_rfc3339(bad[i], strlen(bad[i]), &v) != SIFT_EINVAL)
            fail_msg("accepted [%s]", bad[i]);

    struct sift_buf b = SIFT_BUF_INIT;
    sift_time_format_rfc3339(INT64_C(1714557600123456789), 3, &b);
    assert_string_equal(sift_buf_cstr(&b), "2024-05-01T10:00:00.123Z");
    sift_buf_reset(&b);
    sift_time_format_rfc3339(-1, 9, &b);
    assert_string_equal(sift_buf_cstr(&b), "1969-12-31T23:59:59.999999999Z");
    sift_buf_reset(&b);
    sift_time_format_rfc3339(INT64_MIN, 0, &b);
    assert_string_equal(sift_buf_cstr(&b), "1677-09-21T00:12:43Z");
    sift_buf_reset(&b);
    sift_time_format_rfc3339(INT64_MAX, 0, &b);
    assert_string_equal(sift_buf_cstr(&b), "2262-04-11T23:47:16Z");
    sift_buf_cleanup(&b);
}

static void
test_time_epoch_by_magnitude(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int64_t want;
        const char *unit;
    } cases[] = {
        /* Units switch at 1e11, 1e14 and 1e17 of the number. */
        {"9000000000", INT64_C(9000000000) * SIFT_NS_PER_SEC, "s"},
        {"100000000000", INT64_C(100000000000) * SIFT_NS_PER_MS, "ms"},
        {"9000000000000", INT64_C(9000000000000) * SIFT_NS_PER_MS, "ms"},
        {"100000000000000", INT64_C(100000000000000) * 1000, "us"},
        {"9000000000000000", INT64_C(9000000000000000) * 1000, "us"},
        {"100000000000000000", INT64_C(100000000000000000), "ns"},
        {"1714557600.000000001", INT64_C(1714557600000000001), "s"},
        {"1714557600123.5", INT64_C(1714557600123500000), "ms"},
        {"-1", -SIFT_NS_PER_SEC, "s"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v;
        const char *unit = NULL;
        assert_int_equal(
            sift_time_parse_epoch(cases[i].s, strlen(cases[i].s), &v, &unit),
            SIFT_OK);
        if (v != cases[i].want)
            fail_msg("%s: %lld", cases[i].s, (long long)v);
        assert_string_equal(unit, cases[i].unit);
    }
    /* The last three are seconds, ms and us past year 2262. */
    static const char *const bad[] = {"",
                                      "-",
                                      "1e9",
                                      "12a",
                                      "1.",
                                      ".5",
                                      "+5",
                                      "99999999999999999999",
                                      "99999999999",
                                      "99999999999999",
                                      "99999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v;
        if (sift_time_parse_epoch(bad[i], strlen(bad[i]), &v, NULL) !=
            SIFT_EINVAL)
            fail_msg("accepted [%s]", bad[i]);
    }
}

static int64_t
at(const char *s)
{
    int64_t v = 0;
    assert_int_equal(sift_time_parse_rfc3339(s, strlen(s), &v), SIFT_OK);
    return v;
}

static void
test_time_calendar(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(
        sift_time_round_down(at("2024-05-01T10:20:30.5Z"), 'y', &v), SIFT_OK);
    assert_true(v == at("2024-01-01T00:00:00Z"));
    assert_int_equal(sift_time_round_down(at("1969-12-31T23:00:00Z"), 'M', &v),
                     SIFT_OK);
    assert_true(v == at("1969-12-01T00:00:00Z"));
    assert_int_equal(sift_time_round_down(at("2024-05-05T10:00:00Z"), 'w', &v),
                     SIFT_OK); /* a Sunday: back to Monday 04-29 */
    assert_true(v == at("2024-04-29T00:00:00Z"));
    assert_int_equal(sift_time_round_down(at("2024-04-29T00:00:00Z"), 'w', &v),
                     SIFT_OK);
    assert_true(v == at("2024-04-29T00:00:00Z"));
    assert_int_equal(sift_time_round_down(at("1970-01-01T05:00:00Z"), 'w', &v),
                     SIFT_OK);
    assert_true(v == at("1969-12-29T00:00:00Z"));
    assert_int_equal(sift_time_round_down(at("2024-05-01T10:20:30Z"), 'm', &v),
                     SIFT_OK);
    assert_true(v == at("2024-05-01T10:20:00Z"));
    assert_int_equal(sift_time_round_down(0, 'q', &v), SIFT_EINVAL);

    assert_int_equal(sift_time_add(at("2024-01-31T08:00:00Z"), 1, 'M', &v),
                     SIFT_OK);
    assert_true(v == at("2024-02-29T08:00:00Z"));
    assert_int_equal(sift_time_add(at("2024-02-29T00:00:00Z"), 1, 'y', &v),
                     SIFT_OK);
    assert_true(v == at("2025-02-28T00:00:00Z"));
    assert_int_equal(sift_time_add(at("2024-03-31T00:00:00Z"), -13, 'M', &v),
                     SIFT_OK);
    assert_true(v == at("2023-02-28T00:00:00Z"));
    assert_int_equal(sift_time_add(at("2024-05-01T00:00:00Z"), -36, 'h', &v),
                     SIFT_OK);
    assert_true(v == at("2024-04-29T12:00:00Z"));
    assert_int_equal(sift_time_add(INT64_MAX - 5, 1, 's', &v), SIFT_EINVAL);
    assert_int_equal(sift_time_add(0, 400, 'y', &v), SIFT_EINVAL);
}

/* A small deterministic generator (xorshift64*). */
static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

static void
test_time_print_matches_gmtime_and_reads_back(void **state)
{
    (void)state;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    char b[SIFT_TIME_RFC3339_MAX], want[64];
    for (int i = 0; i < 100000; i++) {
        int64_t ns = (int64_t)next_rand(&seed);
        if (i < 4)
            ns = (int64_t[]){INT64_MIN, INT64_MAX, -1, 0}[i];
        size_t n = sift_time_print_rfc3339(ns, 9, b, sizeof(b));
        assert_int_equal(n, strlen(b));
        int64_t secs = ns / SIFT_NS_PER_SEC - (ns % SIFT_NS_PER_SEC < 0);
        time_t t = (time_t)secs;
        struct tm tm;
        assert_non_null(gmtime_r(&t, &tm));
        snprintf(want, sizeof(want), "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec,
                 (long long)((ns % SIFT_NS_PER_SEC + SIFT_NS_PER_SEC) %
                             SIFT_NS_PER_SEC));
        if (strcmp(b, want) != 0)
            fail_msg("%lld: %s, gmtime %s", (long long)ns, b, want);
        /* Read back, but for the last second at each end of the range,
         * which the reader refuses to keep its sums exact. */
        int64_t back;
        if (secs < INT64_MAX / SIFT_NS_PER_SEC &&
            secs > INT64_MIN / SIFT_NS_PER_SEC - 1 &&
            (sift_time_parse_rfc3339(b, n, &back) != SIFT_OK || back != ns))
            fail_msg("%s does not read back", b);
    }
    /* Digits, truncation and the sift_buf form. */
    int64_t t = INT64_C(1714557600) * SIFT_NS_PER_SEC + 123456789;
    assert_int_equal(sift_time_print_rfc3339(t, 0, b, sizeof(b)), 20);
    assert_string_equal(b, "2024-05-01T10:00:00Z");
    sift_time_print_rfc3339(t, 3, b, sizeof(b));
    assert_string_equal(b, "2024-05-01T10:00:00.123Z");
    char small[8];
    assert_int_equal(sift_time_print_rfc3339(t, 9, small, sizeof(small)), 7);
    assert_string_equal(small, "2024-05");
    struct sift_buf out = SIFT_BUF_INIT;
    sift_buf_putc(&out, '[');
    sift_time_format_rfc3339(-1, 6, &out);
    sift_buf_putc(&out, ']');
    assert_string_equal(sift_buf_cstr(&out), "[1969-12-31T23:59:59.999999Z]");
    sift_buf_cleanup(&out);
}

static void
test_time_scan_strict_and_lenient(void **state)
{
    (void)state;
    const int64_t t0 = INT64_C(1714557600) * SIFT_NS_PER_SEC;
    static const struct {
        const char *s;
        unsigned flags;
        size_t used; /* 0: no time */
        int64_t delta_ns;
    } cases[] = {
        {"2024-05-01T10:00:00Z rest", 0, 20, 0},
        {"2024-05-01T10:00:00 rest", 0, 0, 0}, /* strict wants a zone */
        {"2024-05-01T10:00:00 rest", SIFT_TIME_LENIENT, 19, 0},
        {"2024-05-01 12:00:00+0200 x", 0, 0, 0},
        {"2024-05-01 12:00:00+0200 x", SIFT_TIME_LENIENT, 24, 0},
        {"2024-05-01 12:00:00+02 x", SIFT_TIME_LENIENT, 22, 0},
        {"2024-05-01 12:00:00+02:00", 0, 25, 0},
        {"2024-05-01 10:00:00,250 INFO", SIFT_TIME_LENIENT, 23, 250000000},
        {"2024-05-01 10:00:00. x", SIFT_TIME_LENIENT, 19, 0},
        {"2024-05-01T10:00:00.5Z]", 0, 22, 500000000},
        /* A malformed zone is no time at all, not a time without zone. */
        {"2024-05-01 10:00:00+05:x", SIFT_TIME_LENIENT, 0, 0},
        {"2024-05-01 10:00:00+24:00", SIFT_TIME_LENIENT, 0, 0},
        {"2024-02-30 10:00:00Z", SIFT_TIME_LENIENT, 0, 0},
        {"2263-01-01T00:00:00Z", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ns = 42;
        size_t n = sift_time_scan_rfc3339(cases[i].s, strlen(cases[i].s),
                                          cases[i].flags, &ns);
        if (n != cases[i].used || (n != 0 && ns != t0 + cases[i].delta_ns) ||
            (n == 0 && ns != 42))
            fail_msg("[%s] flags %u -> %zu, %lld", cases[i].s, cases[i].flags,
                     n, (long long)ns);
    }
    /* Never reads at or past len, even into a valid tail. */
    int64_t ns;
    assert_int_equal(sift_time_scan_rfc3339("2024-05-01T10:00:00Z", 19,
                                            SIFT_TIME_LENIENT, &ns),
                     19);
    assert_int_equal(sift_time_scan_rfc3339("2024-05-01T10:00:00Z", 18, 0, &ns),
                     0);
    assert_int_equal(
        sift_time_parse_rfc3339("2024-05-01T10:00:00Zjunk", 20, &ns), SIFT_OK);
    assert_true(ns == t0);
}

static void
test_time_scan_blocks(void **state)
{
    (void)state;
    size_t i = 1;
    unsigned v = 7;
    assert_true(sift_time_scan_digits("x2024y", 6, &i, 4, &v));
    assert_int_equal(i, 5);
    assert_int_equal(v, 2024);
    i = 1;
    assert_false(sift_time_scan_digits("x20y4", 5, &i, 4, &v));
    assert_false(sift_time_scan_digits("x2024", 4, &i, 4, &v)); /* len */
    assert_int_equal(i, 1);
    assert_int_equal(v, 2024);

    i = 0;
    assert_int_equal(sift_time_scan_fraction(".25 x", 5, &i), 250000000);
    assert_int_equal(i, 3);
    i = 0;
    assert_int_equal(sift_time_scan_fraction(",25", 3, &i), 250000000);
    assert_int_equal(i, 3);
    i = 0;
    assert_int_equal(sift_time_scan_fraction(".1234567891", 11, &i), 123456789);
    assert_int_equal(i, 11);
    i = 0;
    assert_int_equal(sift_time_scan_fraction(".5", 1, &i), 0);
    assert_int_equal(sift_time_scan_fraction(".x", 2, &i), 0);
    assert_int_equal(i, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_civil_round_trip),
        cmocka_unit_test(test_time_rfc3339),
        cmocka_unit_test(test_time_epoch_by_magnitude),
        cmocka_unit_test(test_time_calendar),
        cmocka_unit_test(test_time_print_matches_gmtime_and_reads_back),
        cmocka_unit_test(test_time_scan_strict_and_lenient),
        cmocka_unit_test(test_time_scan_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
