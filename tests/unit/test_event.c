/*
 * test_event.c - doc codec round trips, every corruption class, field
 * lookup and the JSON rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"

static struct sift_field fields[] = {
    {"host.name", "web-01", 9, 6, SIFT_FT_KEYWORD},
    {"status", "500", 6, 3, SIFT_FT_NUMBER},
    {"latency", "abc", 7, 3, SIFT_FT_NUMBER},
    {"detail", "a \"quoted\"\nline", 6, 15, SIFT_FT_TEXT},
    {"_template_id", "7", 12, 1, SIFT_FT_NUMBER},
};

static void
sample(struct sift_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->ts_ns = 1715678467412345678;
    ev->msg = "GET /x 500";
    ev->msg_len = 10;
    ev->fields = fields;
    ev->n_fields = 5;
    ev->template_id = 77;
}

static void
test_event_roundtrip(void **state)
{
    (void)state;
    static const int64_t ts[] = {0,         1,         -1,
                                 INT64_MAX, INT64_MIN, 1715678467412345678};
    struct sift_arena *a = sift_arena_new(1024);
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        struct sift_event ev, got;
        sample(&ev);
        ev.ts_ns = ts[i];
        ev.template_id = i % 2 ? UINT32_MAX : 0;
        struct sift_buf b = SIFT_BUF_INIT;
        sift_doc_encode(&ev, &b);
        assert_int_equal(
            sift_doc_decode((const uint8_t *)b.data, b.len, a, &got), SIFT_OK);
        assert_int_equal(got.ts_ns, ev.ts_ns);
        assert_int_equal(got.template_id, ev.template_id);
        assert_int_equal(got.msg_len, ev.msg_len);
        assert_memory_equal(got.msg, ev.msg, ev.msg_len);
        assert_int_equal(got.n_fields, ev.n_fields);
        for (uint32_t f = 0; f < ev.n_fields; f++) {
            assert_int_equal(got.fields[f].name_len, fields[f].name_len);
            assert_memory_equal(got.fields[f].name, fields[f].name,
                                fields[f].name_len);
            assert_int_equal(got.fields[f].value_len, fields[f].value_len);
            assert_memory_equal(got.fields[f].value, fields[f].value,
                                fields[f].value_len);
            assert_int_equal(got.fields[f].type, fields[f].type);
        }
        assert_null(got.raw);
        sift_buf_cleanup(&b);
    }
    /* Empty event. */
    struct sift_event ev, got;
    memset(&ev, 0, sizeof(ev));
    struct sift_buf b = SIFT_BUF_INIT;
    sift_doc_encode(&ev, &b);
    assert_int_equal(b.len, 4);
    assert_int_equal(sift_doc_decode((const uint8_t *)b.data, b.len, a, &got),
                     SIFT_OK);
    assert_int_equal(got.n_fields, 0);
    sift_buf_cleanup(&b);
    sift_arena_free(a);
}

static void
test_event_decode_rejects_corruption(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(1024);
    struct sift_event ev, got;
    sample(&ev);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_doc_encode(&ev, &b);
    /* Every truncation fails. */
    for (size_t len = 0; len < b.len; len++)
        assert_int_equal(sift_doc_decode((const uint8_t *)b.data, len, a, &got),
                         SIFT_ECORRUPT);
    /* Trailing garbage fails. */
    sift_buf_putc(&b, 0);
    assert_int_equal(sift_doc_decode((const uint8_t *)b.data, b.len, a, &got),
                     SIFT_ECORRUPT);
    b.len--;
    /* Every single-byte change either fails cleanly or decodes in bounds. */
    for (size_t i = 0; i < b.len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b.data[i] ^= (char)(1 << bit);
            int rc = sift_doc_decode((const uint8_t *)b.data, b.len, a, &got);
            if (rc == SIFT_OK) {
                const char *lo = b.data, *hi = b.data + b.len;
                assert_true(got.msg >= lo && got.msg + got.msg_len <= hi);
                for (uint32_t f = 0; f < got.n_fields; f++) {
                    assert_true(got.fields[f].value >= lo &&
                                got.fields[f].value + got.fields[f].value_len <=
                                    hi);
                    assert_true(got.fields[f].type >= 1 &&
                                got.fields[f].type <= 3);
                }
            } else {
                assert_int_equal(rc, SIFT_ECORRUPT);
            }
            b.data[i] ^= (char)(1 << bit);
            sift_arena_reset(a);
        }
    }
    /* Specific classes. */
    static const uint8_t overlong[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                       0x80, 0x80, 0x80, 0x80, 0x01};
    assert_int_equal(sift_doc_decode(overlong, sizeof(overlong), a, &got),
                     SIFT_ECORRUPT);
    static const uint8_t big_tmpl[] = {0, 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0};
    assert_int_equal(sift_doc_decode(big_tmpl, sizeof(big_tmpl), a, &got),
                     SIFT_ECORRUPT);
    static const uint8_t msg_past[] = {0, 0, 5, 'a', 0};
    assert_int_equal(sift_doc_decode(msg_past, sizeof(msg_past), a, &got),
                     SIFT_ECORRUPT);
    static const uint8_t many_fields[] = {0, 0, 0, 0xff, 0xff, 0xff, 0x0f};
    assert_int_equal(sift_doc_decode(many_fields, sizeof(many_fields), a, &got),
                     SIFT_ECORRUPT);
    static const uint8_t bad_type[] = {0, 0, 0, 1, 1, 'x', 9, 0};
    assert_int_equal(sift_doc_decode(bad_type, sizeof(bad_type), a, &got),
                     SIFT_ECORRUPT);
    static const uint8_t ok_field[] = {0, 0, 0, 1, 1, 'x', 1, 0};
    assert_int_equal(sift_doc_decode(ok_field, sizeof(ok_field), a, &got),
                     SIFT_OK);
    sift_buf_cleanup(&b);
    sift_arena_free(a);
}

static void
test_event_decode_alloc_failure(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(64);
    struct sift_event ev, got;
    /* Enough fields that the array needs its own arena chunk. */
    static struct sift_field many[2000];
    for (size_t i = 0; i < 2000; i++)
        many[i] = (struct sift_field){"f", "", 1, 0, SIFT_FT_KEYWORD};
    memset(&ev, 0, sizeof(ev));
    ev.fields = many;
    ev.n_fields = 2000;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_doc_encode(&ev, &b);
    sift_alloc_fail_after(1);
    int rc = sift_doc_decode((const uint8_t *)b.data, b.len, a, &got);
    sift_alloc_fail_after(0);
    assert_int_equal(rc, SIFT_ENOMEM);
    sift_buf_cleanup(&b);
    sift_arena_free(a);
}

static void
test_event_field_lookup(void **state)
{
    (void)state;
    struct sift_event ev;
    sample(&ev);
    const struct sift_field *f = sift_event_field(&ev, "status", 6);
    assert_non_null(f);
    assert_memory_equal(f->value, "500", 3);
    assert_null(sift_event_field(&ev, "statu", 5));
    assert_null(sift_event_field(&ev, "nope", 4));
}

static void
test_event_to_json(void **state)
{
    (void)state;
    struct sift_event ev;
    sample(&ev);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_event_to_json(&ev, &b);
    assert_string_equal(sift_buf_cstr(&b),
                        "{\"@timestamp\":\"2024-05-14T09:21:07.412345678Z\","
                        "\"message\":\"GET /x 500\",\"host.name\":\"web-01\","
                        "\"status\":500,\"latency\":\"abc\","
                        "\"detail\":\"a \\\"quoted\\\"\\nline\"}");
    sift_buf_reset(&b);
    memset(&ev, 0, sizeof(ev));
    ev.ts_ns = -1;
    sift_event_to_json(&ev, &b);
    assert_string_equal(sift_buf_cstr(&b),
                        "{\"@timestamp\":\"1969-12-31T23:59:59.999999999Z\","
                        "\"message\":\"\"}");
    sift_buf_cleanup(&b);
}

static void
test_event_json_number_grammar(void **state)
{
    (void)state;
    static const char *yes[] = {"0",
                                "-0",
                                "12",
                                "1.5",
                                "-1.5e10",
                                "1E+3",
                                "0.001",
                                "1e-400",
                                "9223372036854775807",
                                "-9223372036854775808",
                                "1.7976931348623157e308"};
    static const char *no[] = {
        "", "-", "01", "1.", ".5", "1e", "+1", "NaN", "0x10", "1 ", "inf",
        /* grammar yes, but out of range for common decoders */
        "12.5e314", "-1e400", "9223372036854775808",
        "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        assert_true(sift_json_is_number(yes[i], strlen(yes[i])));
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        assert_false(sift_json_is_number(no[i], strlen(no[i])));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_roundtrip),
        cmocka_unit_test(test_event_decode_rejects_corruption),
        cmocka_unit_test(test_event_decode_alloc_failure),
        cmocka_unit_test(test_event_field_lookup),
        cmocka_unit_test(test_event_to_json),
        cmocka_unit_test(test_event_json_number_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
