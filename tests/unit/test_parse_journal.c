/*
 * test_parse_journal.c - the journal export format (systemd-journal-
 * upload's body): text and binary fields, entries split on an empty line,
 * the journal's fields mapped (time, host, service, level, pid), the
 * message parsed like any line, binary values that are not UTF-8 left
 * out, and bodies that break the format refused as a whole.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/parse.h"

#include "parse_fixture.h"

#define MAX_EVS 8

struct got {
    struct sift_event evs[MAX_EVS];
    size_t n, n_rejected;
};

static int
on_entry(void *arg, int rc, struct sift_event *ev,
         const struct sift_parse_error *err)
{
    struct got *g = arg;
    (void)err;
    if (rc == SIFT_OK) {
        assert_true(g->n < MAX_EVS);
        g->evs[g->n++] = *ev;
    } else {
        g->n_rejected++;
    }
    return 0;
}

static int
setup(void **state)
{
    return pf_setup(state, SIFT_PARSE_AUTO);
}

static int
run(struct fx *f, const void *body, size_t len, struct got *g)
{
    memset(g, 0, sizeof(*g));
    return sift_journal_export_parse(&f->o, body, len, RECV, f->a, on_entry, g,
                                     &f->err);
}

static void
expect_msg(const struct sift_event *ev, const char *msg)
{
    if (ev->msg_len != strlen(msg) || memcmp(ev->msg, msg, ev->msg_len) != 0)
        fail_msg("msg [%.*s] want [%s]", (int)ev->msg_len, ev->msg, msg);
}

/* "NAME\n" + le64 length + bytes + "\n" */
static void
binary(struct sift_buf *b, const char *name, const char *v, size_t len)
{
    sift_buf_appendf(b, "%s\n", name);
    for (int i = 0; i < 8; i++)
        sift_buf_putc(b, (char)((uint64_t)len >> (8 * i)));
    sift_buf_append(b, v, len);
    sift_buf_putc(b, '\n');
}

static void
test_parse_journal_entries_and_fields(void **state)
{
    struct fx *f = *state;
    struct got g;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "__CURSOR=s=abc;i=1\n__REALTIME_TIMESTAMP="
                         "1700000001000000\n__MONOTONIC_TIMESTAMP=5\n"
                         "_HOSTNAME=web-01\n_COMM=billingd\n"
                         "SYSLOG_IDENTIFIER=billing\nPRIORITY=4\n_PID=42\n"
                         "_SYSTEMD_UNIT=billing.service\nMESSAGE=disk slow\n"
                         "\n");
    binary(&b, "MESSAGE", "trace\n  at x", 12);
    binary(&b, "BLOB", "\xff\xfe", 2);
    sift_buf_appendf(&b, "_SOURCE_REALTIME_TIMESTAMP=1700000002000000\n"
                         "_PID=n/a\n");
    /* the last entry ends without its empty line */
    sift_buf_appendf(&b, "\nMESSAGE={\"level\":\"error\",\"user\":\"ann\","
                         "\"msg\":\"json inside\"}\nPRIORITY=6");
    assert_int_equal(run(f, b.data, b.len, &g), SIFT_OK);
    assert_int_equal(g.n, 3);
    const struct sift_event *ev = &g.evs[0];
    expect_msg(ev, "disk slow");
    assert_int_equal(ev->ts_ns, INT64_C(1700000001000000000));
    pf_expect_field(ev, "host.name", "web-01", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "service.name", "billing", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "log.level", "warn", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "process.pid", "42", SIFT_FT_NUMBER);
    pf_expect_field(ev, "_SYSTEMD_UNIT", "billing.service", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "__CURSOR", "s=abc;i=1", SIFT_FT_KEYWORD);
    assert_null(sift_event_field(ev, "__MONOTONIC_TIMESTAMP", 21));
    ev = &g.evs[1];
    expect_msg(ev, "trace\n  at x");
    assert_int_equal(ev->ts_ns, INT64_C(1700000002000000000));
    assert_null(sift_event_field(ev, "BLOB", 4));
    pf_expect_field(ev, "process.pid", "n/a", SIFT_FT_KEYWORD);
    assert_null(sift_event_field(ev, "log.level", 9));
    ev = &g.evs[2];
    expect_msg(ev, "json inside");
    assert_int_equal(ev->ts_ns, RECV);
    pf_expect_field(ev, "log.level", "error", SIFT_FT_KEYWORD); /* own */
    pf_expect_field(ev, "user", "ann", SIFT_FT_KEYWORD);
    sift_buf_cleanup(&b);
}

static void
test_parse_journal_malformed_refused(void **state)
{
    struct fx *f = *state;
    struct got g;
    static const char *const bad[] = {
        "MESSAGE=x\nNOVALUE",    /* neither '=' nor a length */
        "MESSAGE\n\x05\x00\x00", /* a length cut short */
        "lower=case\n",          /* not a journal field name */
        "=x\n",                  /* an empty name */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (run(f, bad[i], strlen(bad[i]), &g) != SIFT_EPARSE)
            fail_msg("case %zu not refused", i);
        assert_int_equal(g.n, 0); /* nothing handed on */
        assert_non_null(strstr(f->err.reason, "journal export format"));
    }
    /* a binary length past the body */
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "MESSAGE=ok\n\n");
    binary(&b, "MESSAGE", "abc", 3);
    b.data[b.len - 5] = 100; /* the top byte of the length */
    assert_int_equal(run(f, b.data, b.len, &g), SIFT_EPARSE);
    assert_int_equal(g.n, 0);
    assert_int_equal(run(f, "", 0, &g), SIFT_OK);
    assert_int_equal(g.n, 0);
    sift_buf_cleanup(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_journal_entries_and_fields,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_journal_malformed_refused,
                                        setup, pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
