/*
 * test_parse_logfmt.c - key=value lines: pairs, quoting and escapes,
 * msg/level/ts keys, bare words, numbers, errors and limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

#include "parse_fixture.h"

static int
setup(void **state)
{
    return pf_setup(state, SIFT_PARSE_LOGFMT);
}

static void
test_parse_logfmt_pairs(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        pf_parse(f, "ts=2024-05-14T09:21:07.5Z level=WARN msg=\"disk \\\"/\\\" "
                    "at 91%\\n\" host=web-01 used=0.91 count=3 path=/a=b "
                    "empty= quoted=\"42\""),
        SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467500000000));
    const char want[] = "disk \"/\" at 91%\n";
    assert_int_equal(f->ev.msg_len, sizeof(want) - 1);
    assert_memory_equal(f->ev.msg, want, sizeof(want) - 1);
    pf_expect_field(&f->ev, "log.level", "warn", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "host", "web-01", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "used", "0.91", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "count", "3", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "path", "/a=b", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "empty", "", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "quoted", "42", SIFT_FT_KEYWORD);
    assert_null(pf_field(&f->ev, "ts"));
    assert_null(pf_field(&f->ev, "msg"));
    assert_null(pf_field(&f->ev, "level"));
}

static void
test_parse_logfmt_message_and_time_keys(void **state)
{
    struct fx *f = *state;
    /* message= beats msg=; time= is a timestamp key; epoch works. */
    assert_int_equal(pf_parse(f, "time=1715678467 msg=a message=b"), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467000000000));
    assert_int_equal(f->ev.msg_len, 1);
    assert_memory_equal(f->ev.msg, "b", 1);
    pf_expect_field(&f->ev, "msg", "a", SIFT_FT_KEYWORD);
    /* No msg: the whole line; bare words are not fields. */
    const char *l = "GET /x status=200 dur=5ms";
    assert_int_equal(pf_parse(f, l), SIFT_OK);
    assert_ptr_equal(f->ev.msg, l);
    assert_int_equal(f->ev.n_fields, 2);
    assert_int_equal(f->ev.ts_ns, RECV);
    /* Unparseable ts: recv time and a note. */
    assert_int_equal(pf_parse(f, "ts=soon a=1"), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, RECV);
    assert_non_null(pf_field(&f->ev, "_ts_error"));
    pf_expect_field(&f->ev, "ts", "soon", SIFT_FT_KEYWORD);
}

static void
test_parse_logfmt_errors_and_limits(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, "a=1 b=\"open"), SIFT_EPARSE);
    assert_non_null(strstr(f->err.reason, "unterminated quote at byte 6"));
    assert_int_equal(pf_parse(f, ""), SIFT_OK);
    assert_int_equal(f->ev.n_fields, 0);
    f->o.max_fields = 2;
    f->o.max_value_bytes = 3;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    assert_int_equal(pf_parse(f, "a=1 b=abc"), SIFT_OK);
    assert_int_equal(pf_parse(f, "a=1 b=2 c=3"), SIFT_ELIMIT);
    assert_non_null(strstr(f->err.reason, "more than 2 fields"));
    assert_int_equal(pf_parse(f, "a=abcd"), SIFT_ELIMIT);
    assert_non_null(strstr(f->err.reason, "is 4 bytes, more than 3"));
    f->o.max_field_name_bytes = 4;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    assert_int_equal(pf_parse(f, "abcd=1"), SIFT_OK);
    assert_int_equal(pf_parse(f, "abcde=1 x=2"), SIFT_ELIMIT);
    assert_non_null(strstr(f->err.reason, "\"abcde...\" is 5 bytes"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_logfmt_pairs, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_logfmt_message_and_time_keys,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_logfmt_errors_and_limits,
                                        setup, pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
