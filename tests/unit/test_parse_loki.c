/*
 * test_parse_loki.c - the Loki push request: protobuf (logproto, built
 * here from its field numbers) and JSON; labels and structured metadata
 * to fields, the line parsed like any line at the entry's time, service
 * and level from labels, escaped label values, and malformed requests
 * refused as a whole.
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
#include "pb_writer.h"

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
run(struct fx *f, int json, const void *body, size_t len, struct got *g)
{
    memset(g, 0, sizeof(*g));
    return sift_loki_push_parse(&f->o, json, body, len, RECV, f->a, on_entry, g,
                                &f->err);
}

static void
expect_msg(const struct sift_event *ev, const char *msg)
{
    if (ev->msg_len != strlen(msg) || memcmp(ev->msg, msg, ev->msg_len) != 0)
        fail_msg("msg [%.*s] want [%s]", (int)ev->msg_len, ev->msg, msg);
}

static void
entry(struct sift_buf *stream, int64_t sec, int32_t nanos, const char *line,
      const char *meta_name, const char *meta_value)
{
    struct sift_buf e = SIFT_BUF_INIT, t = SIFT_BUF_INIT, m = SIFT_BUF_INIT;
    pbw_uint(&t, 1, (uint64_t)sec);
    pbw_uint(&t, 2, (uint64_t)(uint32_t)nanos);
    pbw_msg(&e, 1, &t);
    pbw_str(&e, 2, line);
    if (meta_name) {
        pbw_str(&m, 1, meta_name);
        pbw_str(&m, 2, meta_value);
        pbw_msg(&e, 3, &m);
    }
    pbw_msg(stream, 2, &e);
    sift_buf_cleanup(&e);
    sift_buf_cleanup(&t);
    sift_buf_cleanup(&m);
}

static void
test_parse_loki_protobuf(void **state)
{
    struct fx *f = *state;
    struct sift_buf req = SIFT_BUF_INIT, st = SIFT_BUF_INIT;
    /* entries before the labels: order is free in protobuf */
    entry(&st, 1700000000, 123, "plain text line", "trace_id", "abc123");
    entry(&st, 1700000001, 0,
          "{\"message\":\"json line\",\"level\":\"ERROR\",\"user\":\"ann\","
          "\"app\":\"own\"}",
          NULL, NULL);
    pbw_str(&st, 1,
            "{app=\"cart\", env=\"prod\", path=\"C:\\\\logs \\\"x\\\"\", "
            "level=\"warn\"}");
    pbw_msg(&req, 1, &st);
    struct got g;
    assert_int_equal(run(f, 0, req.data, req.len, &g), SIFT_OK);
    assert_int_equal(g.n, 2);
    const struct sift_event *e0 = &g.evs[0], *e1 = &g.evs[1];
    assert_int_equal(e0->ts_ns, INT64_C(1700000000000000123));
    expect_msg(e0, "plain text line");
    assert_null(e0->raw);
    pf_expect_field(e0, "app", "cart", SIFT_FT_KEYWORD);
    pf_expect_field(e0, "env", "prod", SIFT_FT_KEYWORD);
    pf_expect_field(e0, "path", "C:\\logs \"x\"", SIFT_FT_KEYWORD);
    pf_expect_field(e0, "trace_id", "abc123", SIFT_FT_KEYWORD);
    pf_expect_field(e0, "service.name", "cart", SIFT_FT_KEYWORD);
    pf_expect_field(e0, "log.level", "warn", SIFT_FT_KEYWORD);
    /* the JSON line's own fields win over labels of the same name */
    assert_int_equal(e1->ts_ns, INT64_C(1700000001000000000));
    expect_msg(e1, "json line");
    pf_expect_field(e1, "log.level", "error", SIFT_FT_KEYWORD);
    pf_expect_field(e1, "user", "ann", SIFT_FT_KEYWORD);
    pf_expect_field(e1, "app", "own", SIFT_FT_KEYWORD);
    assert_non_null(pf_field(e1, "env"));
    sift_buf_cleanup(&req);
    sift_buf_cleanup(&st);
}

static void
test_parse_loki_json(void **state)
{
    struct fx *f = *state;
    static const char body[] =
        "{\"streams\":[{\"stream\":{\"service_name\":\"api\",\"host\":\"h1\"},"
        "\"values\":[[\"1700000000000000001\",\"GET /pay 200\"],"
        "[\"1700000000000000002\",\"slow\",{\"detected_level\":\"warning\","
        "\"n\":7}]]},"
        "{\"labels\":\"{job=\\\"legacy\\\"}\",\"entries\":[{\"ts\":"
        "\"2023-11-14T22:13:21Z\",\"line\":\"old api\"}]}]}";
    struct got g;
    assert_int_equal(run(f, 1, body, strlen(body), &g), SIFT_OK);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.evs[0].ts_ns, INT64_C(1700000000000000001));
    pf_expect_field(&g.evs[0], "service.name", "api", SIFT_FT_KEYWORD);
    pf_expect_field(&g.evs[0], "host", "h1", SIFT_FT_KEYWORD);
    pf_expect_field(&g.evs[1], "log.level", "warn", SIFT_FT_KEYWORD);
    assert_null(pf_field(&g.evs[1], "n")); /* metadata values are strings */
    assert_int_equal(g.evs[2].ts_ns, INT64_C(1700000001000000000));
    pf_expect_field(&g.evs[2], "job", "legacy", SIFT_FT_KEYWORD);
    expect_msg(&g.evs[2], "old api");
}

static void
test_parse_loki_malformed_refused(void **state)
{
    struct fx *f = *state;
    struct got g;
    static const char *const bad_json[] = {
        "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"values\":[[\"1\"]]}]}",
        "{\"streams\":[{\"stream\":{},\"values\":[[\"soon\",\"x\"]]}]}",
        "{\"streams\":[{\"labels\":\"app=x\",\"entries\":[]}]}",
        "{\"streams\":[",
        /* past int64 nanoseconds (found by fuzz_loki: an overflow) */
        "{\"streams\":[{\"stream\":{},\"values\":[[\"9700000000000000001\","
        "\"x\"]]}]}",
    };
    for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++) {
        if (run(f, 1, bad_json[i], strlen(bad_json[i]), &g) != SIFT_EPARSE)
            fail_msg("case %zu not refused", i);
        assert_true(f->err.reason[0] != '\0');
    }
    /* A misspelled key stores nothing: a 400 naming it, not a 204. */
    static const char typo[] =
        "{\"streams\":[{\"stream\":{\"a\":\"b\"},\"valuez\":[[\"1\",\"x\"]]}]}";
    assert_int_equal(run(f, 1, typo, strlen(typo), &g), SIFT_EPARSE);
    assert_non_null(strstr(f->err.reason, "unknown key \"valuez\""));
    assert_int_equal(g.n, 0);
    static const char typo2[] = "{\"stream\":[]}";
    assert_int_equal(run(f, 1, typo2, strlen(typo2), &g), SIFT_EPARSE);
    assert_non_null(strstr(f->err.reason, "no \"streams\""));
    static const char empty[] = "{\"streams\":[]}";
    assert_int_equal(run(f, 1, empty, strlen(empty), &g), SIFT_OK);
    struct sift_buf req = SIFT_BUF_INIT, st = SIFT_BUF_INIT;
    pbw_str(&st, 1, "{app=\"x\""); /* unterminated label set */
    entry(&st, 1, 0, "line", NULL, NULL);
    pbw_msg(&req, 1, &st);
    assert_int_equal(run(f, 0, req.data, req.len, &g), SIFT_EPARSE);
    assert_non_null(strstr(f->err.reason, "labels are not"));
    assert_int_equal(g.n, 0);
    assert_int_equal(run(f, 0, req.data, req.len - 3, &g), SIFT_EPARSE);
    assert_int_equal(run(f, 0, "", 0, &g), SIFT_OK);
    sift_buf_cleanup(&req);
    sift_buf_cleanup(&st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_loki_protobuf, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_loki_json, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_loki_malformed_refused,
                                        setup, pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
