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

#define RECV INT64_C(1700000000000000000)

struct fx {
    struct sift_parse_opts o;
    struct sift_arena *a;
    struct sift_event ev;
    struct sift_parse_error err;
};

static int
setup(void **state)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    sift_parse_opts_init(&f.o);
    f.o.format = SIFT_PARSE_LOGFMT;
    assert_int_equal(sift_parse_opts_compile(&f.o, NULL), SIFT_OK);
    f.a = sift_arena_new(65536);
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    sift_parse_opts_cleanup(&f->o);
    sift_arena_free(f->a);
    return 0;
}

static int
parse(struct fx *f, const char *s)
{
    return sift_parse_event(&f->o, s, strlen(s), RECV, f->a, &f->ev, &f->err);
}

static const struct sift_field *
field(const struct sift_event *ev, const char *name)
{
    size_t l = strlen(name);
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        if (ev->fields[i].name_len == l &&
            memcmp(ev->fields[i].name, name, l) == 0)
            return &ev->fields[i];
    }
    return NULL;
}

static void
expect_field(const struct sift_event *ev, const char *name, const char *value,
             int type)
{
    const struct sift_field *fl = field(ev, name);
    if (!fl)
        fail_msg("field %s missing", name);
    if (fl->value_len != strlen(value) ||
        memcmp(fl->value, value, fl->value_len) != 0)
        fail_msg("%s = %.*s, want %s", name, (int)fl->value_len, fl->value,
                 value);
    assert_int_equal(fl->type, type);
}

static void
test_parse_logfmt_pairs(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        parse(f, "ts=2024-05-14T09:21:07.5Z level=WARN msg=\"disk \\\"/\\\" "
                 "at 91%\\n\" host=web-01 used=0.91 count=3 path=/a=b "
                 "empty= quoted=\"42\""),
        SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467500000000));
    const char want[] = "disk \"/\" at 91%\n";
    assert_int_equal(f->ev.msg_len, sizeof(want) - 1);
    assert_memory_equal(f->ev.msg, want, sizeof(want) - 1);
    expect_field(&f->ev, "log.level", "warn", SIFT_FT_KEYWORD);
    expect_field(&f->ev, "host", "web-01", SIFT_FT_KEYWORD);
    expect_field(&f->ev, "used", "0.91", SIFT_FT_NUMBER);
    expect_field(&f->ev, "count", "3", SIFT_FT_NUMBER);
    expect_field(&f->ev, "path", "/a=b", SIFT_FT_KEYWORD);
    expect_field(&f->ev, "empty", "", SIFT_FT_KEYWORD);
    expect_field(&f->ev, "quoted", "42", SIFT_FT_KEYWORD);
    assert_null(field(&f->ev, "ts"));
    assert_null(field(&f->ev, "msg"));
    assert_null(field(&f->ev, "level"));
}

static void
test_parse_logfmt_message_and_time_keys(void **state)
{
    struct fx *f = *state;
    /* message= beats msg=; time= is a timestamp key; epoch works. */
    assert_int_equal(parse(f, "time=1715678467 msg=a message=b"), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467000000000));
    assert_int_equal(f->ev.msg_len, 1);
    assert_memory_equal(f->ev.msg, "b", 1);
    expect_field(&f->ev, "msg", "a", SIFT_FT_KEYWORD);
    /* No msg: the whole line; bare words are not fields. */
    const char *l = "GET /x status=200 dur=5ms";
    assert_int_equal(parse(f, l), SIFT_OK);
    assert_ptr_equal(f->ev.msg, l);
    assert_int_equal(f->ev.n_fields, 2);
    assert_int_equal(f->ev.ts_ns, RECV);
    /* Unparseable ts: recv time and a note. */
    assert_int_equal(parse(f, "ts=soon a=1"), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, RECV);
    assert_non_null(field(&f->ev, "_ts_error"));
    expect_field(&f->ev, "ts", "soon", SIFT_FT_KEYWORD);
}

static void
test_parse_logfmt_errors_and_limits(void **state)
{
    struct fx *f = *state;
    assert_int_equal(parse(f, "a=1 b=\"open"), SIFT_EPARSE);
    assert_non_null(strstr(f->err.reason, "unterminated quote at byte 6"));
    assert_int_equal(parse(f, ""), SIFT_OK);
    assert_int_equal(f->ev.n_fields, 0);
    f->o.max_fields = 2;
    f->o.max_value_bytes = 3;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    assert_int_equal(parse(f, "a=1 b=abc"), SIFT_OK);
    assert_int_equal(parse(f, "a=1 b=2 c=3"), SIFT_ELIMIT);
    assert_non_null(strstr(f->err.reason, "more than 2 fields"));
    assert_int_equal(parse(f, "a=abcd"), SIFT_ELIMIT);
    assert_non_null(strstr(f->err.reason, "is 4 bytes, more than 3"));
    f->o.max_field_name_bytes = 4;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    assert_int_equal(parse(f, "abcd=1"), SIFT_OK);
    assert_int_equal(parse(f, "abcde=1 x=2"), SIFT_ELIMIT);
    assert_non_null(strstr(f->err.reason, "\"abcde...\" is 5 bytes"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_logfmt_pairs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_logfmt_message_and_time_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_logfmt_errors_and_limits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
