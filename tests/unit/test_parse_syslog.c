/*
 * test_parse_syslog.c - rsyslog FileFormat / ForwardFormat bodies from
 * docs/internals/wire-formats.md section 3, RFC 5424 (with structured data) and
 * RFC 3164 lines, nil values, and the error cases.
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

#define S(x) (INT64_C(x) * 1000000000)

static int
setup(void **state)
{
    return pf_setup(state, SIFT_PARSE_SYSLOG);
}

static void
expect_msg(const struct sift_event *ev, const char *msg)
{
    if (ev->msg_len != strlen(msg) || memcmp(ev->msg, msg, ev->msg_len) != 0)
        fail_msg("msg [%.*s] want [%s]", (int)ev->msg_len, ev->msg, msg);
}

static void
test_parse_syslog_rsyslog_file_format(void **state)
{
    struct fx *f = *state;
    /* omkafka's default template: the trailing LF is part of the value. */
    const char *l = "2024-05-14T09:21:07.412345+00:00 web-01 sshd[2211]: "
                    "Accepted publickey for deploy from 10.0.0.5 port 51514 "
                    "ssh2\n";
    assert_int_equal(pf_parse(f, l), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467412345000));
    pf_expect_field(&f->ev, "host.name", "web-01", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "sshd", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "process.pid", "2211", SIFT_FT_NUMBER);
    expect_msg(&f->ev, "Accepted publickey for deploy from 10.0.0.5 port "
                       "51514 ssh2");
    assert_null(pf_field(&f->ev, "log.level"));
    assert_int_equal(f->ev.raw_len, strlen(l) - 1);
}

static void
test_parse_syslog_rsyslog_forward_format(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, "<38>2024-05-14T09:21:07.412345+00:00 web-01 "
                                 "sshd[2211]: Accepted publickey for deploy"),
                     SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467412345000));
    /* 38 = facility 4 (auth) * 8 + severity 6 (info). */
    pf_expect_field(&f->ev, "log.syslog.facility.code", "4", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "log.syslog.severity.code", "6", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "log.level", "info", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "sshd", SIFT_FT_KEYWORD);
    expect_msg(&f->ev, "Accepted publickey for deploy");
    /* Offsets are applied. */
    assert_int_equal(pf_parse(f, "<11>2024-05-14T11:21:07+02:00 h app: x"),
                     SIFT_OK);
    assert_int_equal(f->ev.ts_ns, S(1715678467));
    pf_expect_field(&f->ev, "log.level", "error", SIFT_FT_KEYWORD);
}

static void
test_parse_syslog_rfc5424(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        pf_parse(f, "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com "
                    "evntslog - ID47 [exampleSDID@32473 iut=\"3\" "
                    "eventSource=\"Application\" eventID=\"1011\"][x@1 "
                    "a=\"q\\\"\\]x\"] \xef\xbb\xbf"
                    "An application event"),
        SIFT_OK);
    assert_int_equal(f->ev.ts_ns, S(1065910455) + 3000000);
    pf_expect_field(&f->ev, "log.syslog.facility.code", "20", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "log.level", "notice", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "host.name", "mymachine.example.com",
                    SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "evntslog", SIFT_FT_KEYWORD);
    assert_null(pf_field(&f->ev, "process.pid"));
    pf_expect_field(&f->ev, "log.syslog.msgid", "ID47", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "log.syslog.structured_data.exampleSDID@32473.iut",
                    "3", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev,
                    "log.syslog.structured_data.exampleSDID@32473.eventSource",
                    "Application", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "log.syslog.structured_data.x@1.a", "q\"]x",
                    SIFT_FT_KEYWORD);
    expect_msg(&f->ev, "An application event"); /* BOM dropped */

    /* All nil, no message. */
    assert_int_equal(pf_parse(f, "<14>1 - - - - - -"), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, RECV);
    assert_null(pf_field(&f->ev, "host.name"));
    assert_int_equal(f->ev.msg_len, 0);
    assert_int_equal(pf_parse(f, "<14>1 2024-05-14T09:21:07Z h a 77 - - hi"),
                     SIFT_OK);
    pf_expect_field(&f->ev, "process.pid", "77", SIFT_FT_NUMBER);
    expect_msg(&f->ev, "hi");
}

static void
test_parse_syslog_rfc3164(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, "<34>Oct 11 22:14:15 mymachine su: 'su root' "
                                 "failed for lonvick on /dev/pts/8"),
                     SIFT_OK);
    /* recv is 2023-11-14, so Oct 11 is 2023. */
    assert_int_equal(f->ev.ts_ns, S(1697062455));
    pf_expect_field(&f->ev, "log.level", "fatal", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "host.name", "mymachine", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "su", SIFT_FT_KEYWORD);
    expect_msg(&f->ev, "'su root' failed for lonvick on /dev/pts/8");

    /* Space-padded day, no host, non-numeric pid. */
    assert_int_equal(pf_parse(f, "<13>Feb  5 17:32:18 kernel[abc]: oops"),
                     SIFT_OK);
    assert_null(pf_field(&f->ev, "host.name"));
    pf_expect_field(&f->ev, "service.name", "kernel", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "process.pid", "abc", SIFT_FT_KEYWORD);
    expect_msg(&f->ev, "oops");

    /* No tag: the rest after the host is the message. */
    assert_int_equal(pf_parse(f, "Feb  5 17:32:18 host just text"), SIFT_OK);
    pf_expect_field(&f->ev, "host.name", "host", SIFT_FT_KEYWORD);
    assert_null(pf_field(&f->ev, "service.name"));
    expect_msg(&f->ev, "just text");

    /* PRI followed by free text. */
    assert_int_equal(pf_parse(f, "<13>free text"), SIFT_OK);
    expect_msg(&f->ev, "free text");
    assert_int_equal(f->ev.ts_ns, RECV);
}

static void
test_parse_syslog_errors(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *line;
        const char *reason;
    } cases[] = {
        {"just some text", "no syslog timestamp at byte 0"},
        {"<999>Oct 11 22:14:15 h t: m", "no syslog timestamp"},
        {"<14>1 yesterday h a p m - x", "invalid RFC 5424 timestamp"},
        {"<14>1 - h a", "truncated RFC 5424 header"},
        {"<14>1 - h a p m", "missing RFC 5424 structured data"},
        {"<14>1 - h a p m [id a=\"1\"", "invalid structured data"},
        {"<14>1 - h a p m [id a=1]", "invalid structured data"},
        {"<14>1 - h a p m x", "invalid structured data"},
        {"<14>1 - h a p m [id a=\"1\"]x", "invalid structured data"},
        {"2024-05-14T09:21:07Zx h t: m", "expected a space"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = pf_parse(f, cases[i].line);
        if (rc != SIFT_EPARSE || !strstr(f->err.reason, cases[i].reason))
            fail_msg("%s: %d %s", cases[i].line, rc, f->err.reason);
    }
    /* SD params count against max_fields. */
    f->o.max_fields = 1;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    assert_int_equal(pf_parse(f, "<14>1 - h a p m [id a=\"1\"] x"), SIFT_OK);
    assert_int_equal(pf_parse(f, "<14>1 - h a p m [id a=\"1\" b=\"2\"] x"),
                     SIFT_ELIMIT);
    assert_non_null(strstr(f->err.reason, "more than 1 fields"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_syslog_rsyslog_file_format,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_syslog_rsyslog_forward_format, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_syslog_rfc5424, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_syslog_rfc3164, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_syslog_errors, setup,
                                        pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
