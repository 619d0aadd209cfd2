/*
 * test_parse_otlp.c - OTLP logs requests (ExportLogsServiceRequest) in
 * binary protobuf, built here field by field from the published field
 * numbers, and in OTLP/JSON: the mapping of resource and scope
 * attributes, severity, bodies, ids and times; records that break a
 * limit rejected alone; malformed bodies refused as a whole.
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

#define MAX_EVS 16

struct got {
    struct sift_event evs[MAX_EVS];
    size_t n;
    size_t n_rejected;
    char reason[SIFT_PARSE_REASON_MAX];
    size_t rejected_no;
};

static int
on_rec(void *arg, int rc, struct sift_event *ev,
       const struct sift_parse_error *err)
{
    struct got *g = arg;
    if (rc == SIFT_OK) {
        assert_true(g->n < MAX_EVS);
        g->evs[g->n++] = *ev;
    } else {
        g->n_rejected++;
        snprintf(g->reason, sizeof(g->reason), "%s", err->reason);
        g->rejected_no = err->line_no;
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
    return sift_otlp_logs_parse(&f->o, json, body, len, RECV, f->a, on_rec, g,
                                &f->err);
}

static void
expect_msg(const struct sift_event *ev, const char *msg)
{
    if (ev->msg_len != strlen(msg) || memcmp(ev->msg, msg, ev->msg_len) != 0)
        fail_msg("msg [%.*s] want [%s]", (int)ev->msg_len, ev->msg, msg);
}

/* KeyValue{key, AnyValue{string_value}} appended as field num of b. */
static void
kv_str(struct sift_buf *b, uint32_t num, const char *k, const char *v)
{
    struct sift_buf kv = SIFT_BUF_INIT, any = SIFT_BUF_INIT;
    pbw_str(&any, 1, v);
    pbw_str(&kv, 1, k);
    pbw_msg(&kv, 2, &any);
    pbw_msg(b, num, &kv);
    sift_buf_cleanup(&kv);
    sift_buf_cleanup(&any);
}

/* KeyValue{key, AnyValue} where the AnyValue is in any (emptied). */
static void
kv_any(struct sift_buf *b, uint32_t num, const char *k, struct sift_buf *any)
{
    struct sift_buf kv = SIFT_BUF_INIT;
    pbw_str(&kv, 1, k);
    pbw_msg(&kv, 2, any);
    pbw_msg(b, num, &kv);
    sift_buf_cleanup(&kv);
}

/* Wraps records (LogRecord bytes, each a field 2 of ScopeLogs already in
 * scope_logs) with a resource and a scope into a request in out. */
static void
wrap(struct sift_buf *out, struct sift_buf *scope_logs, int resource_last)
{
    struct sift_buf res = SIFT_BUF_INIT, rl = SIFT_BUF_INIT,
                    scope = SIFT_BUF_INIT;
    kv_str(&res, 1, "service.name", "checkout");
    kv_str(&res, 1, "host.name", "web-01");
    pbw_str(&scope, 1, "io.opentelemetry.checkout");
    pbw_str(&scope, 2, "1.2.0");
    kv_str(&scope, 3, "lib.kind", "http");
    /* ScopeLogs: records first, then the scope (order is free). */
    pbw_msg(scope_logs, 1, &scope);
    if (!resource_last)
        pbw_msg(&rl, 1, &res);
    pbw_msg(&rl, 2, scope_logs);
    if (resource_last)
        pbw_msg(&rl, 1, &res);
    pbw_msg(out, 1, &rl);
    sift_buf_cleanup(&res);
    sift_buf_cleanup(&rl);
    sift_buf_cleanup(&scope);
}

static void
test_parse_otlp_protobuf_maps_every_part(void **state)
{
    struct fx *f = *state;
    struct sift_buf req = SIFT_BUF_INIT, sl = SIFT_BUF_INIT,
                    rec = SIFT_BUF_INIT, any = SIFT_BUF_INIT,
                    sub = SIFT_BUF_INIT, kvs = SIFT_BUF_INIT;
    static const uint8_t trace[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03,
                                      0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33,
                                      0x81, 0x3f, 0xc6, 0x0c};
    static const uint8_t span[8] = {0xee, 0xe1, 0x9b, 0x7e,
                                    0xc3, 0xc1, 0xb1, 0x74};

    pbw_fixed64(&rec, 1, UINT64_C(1715678467412345678));
    pbw_uint(&rec, 2, 17); /* SEVERITY_NUMBER_ERROR */
    pbw_str(&rec, 3, "Error");
    pbw_str(&any, 1, "payment declined for order A-1029");
    pbw_msg(&rec, 5, &any);
    pbw_uint(&any, 3, (uint64_t)INT64_C(-42));
    kv_any(&rec, 6, "retry.delta", &any);
    double d = 812.5;
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    pbw_fixed64(&any, 4, bits);
    kv_any(&rec, 6, "latency_ms", &any);
    pbw_uint(&any, 2, 1);
    kv_any(&rec, 6, "retried", &any);
    /* kvlist {user: {id: "u-7"}} -> user.id */
    kv_str(&kvs, 1, "id", "u-7");
    pbw_msg(&any, 6, &kvs);
    kv_any(&rec, 6, "user", &any);
    /* array of strings -> repeated values */
    pbw_str(&sub, 1, "a");
    pbw_msg(&kvs, 1, &sub);
    pbw_str(&sub, 1, "b");
    pbw_msg(&kvs, 1, &sub);
    pbw_msg(&any, 5, &kvs);
    kv_any(&rec, 6, "tags", &any);
    pbw_bytes(&any, 7, "\x01\x02\xff", 3);
    kv_any(&rec, 6, "blob", &any);
    pbw_bytes(&rec, 9, trace, sizeof(trace));
    pbw_bytes(&rec, 10, span, sizeof(span));
    pbw_str(&rec, 12, "order.failed");
    pbw_msg(&sl, 2, &rec);
    wrap(&req, &sl, 0);

    struct got g;
    assert_int_equal(run(f, 0, req.data, req.len, &g), SIFT_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.n_rejected, 0);
    const struct sift_event *ev = &g.evs[0];
    assert_int_equal(ev->ts_ns, INT64_C(1715678467412345678));
    expect_msg(ev, "payment declined for order A-1029");
    assert_null(ev->raw);
    pf_expect_field(ev, "log.level", "error", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "service.name", "checkout", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "host.name", "web-01", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "otel.scope.name", "io.opentelemetry.checkout",
                    SIFT_FT_KEYWORD);
    pf_expect_field(ev, "otel.scope.version", "1.2.0", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "lib.kind", "http", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "retry.delta", "-42", SIFT_FT_NUMBER);
    pf_expect_field(ev, "latency_ms", "812.5", SIFT_FT_NUMBER);
    pf_expect_field(ev, "retried", "true", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "user.id", "u-7", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "blob", "AQL/", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "trace.id", "5b8efff798038103d269b633813fc60c",
                    SIFT_FT_KEYWORD);
    pf_expect_field(ev, "span.id", "eee19b7ec3c1b174", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "event.name", "order.failed", SIFT_FT_KEYWORD);
    const struct sift_field *t0 = pf_field_n(ev, "tags", 0);
    const struct sift_field *t1 = pf_field_n(ev, "tags", 1);
    assert_non_null(t0);
    assert_non_null(t1);
    assert_memory_equal(t0->value, "a", 1);
    assert_memory_equal(t1->value, "b", 1);

    sift_buf_cleanup(&req);
    sift_buf_cleanup(&sl);
    sift_buf_cleanup(&rec);
    sift_buf_cleanup(&any);
    sift_buf_cleanup(&sub);
    sift_buf_cleanup(&kvs);
}

static void
test_parse_otlp_protobuf_times_and_levels(void **state)
{
    struct fx *f = *state;
    struct sift_buf req = SIFT_BUF_INIT, sl = SIFT_BUF_INIT,
                    rec = SIFT_BUF_INIT, any = SIFT_BUF_INIT;
    /* 1: observed time only, severity text only. */
    pbw_fixed64(&rec, 11, UINT64_C(1700000001000000000));
    pbw_str(&rec, 3, "WARNING");
    pbw_str(&any, 1, "disk almost full");
    pbw_msg(&rec, 5, &any);
    pbw_msg(&sl, 2, &rec);
    /* 2: no time at all; severity 9 (info) wins over its text. */
    pbw_uint(&rec, 2, 9);
    pbw_str(&rec, 3, "chatty");
    pbw_msg(&sl, 2, &rec);
    /* 3: resource after its scope_logs in the ResourceLogs message. */
    wrap(&req, &sl, 1);

    struct got g;
    assert_int_equal(run(f, 0, req.data, req.len, &g), SIFT_OK);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.evs[0].ts_ns, INT64_C(1700000001000000000));
    pf_expect_field(&g.evs[0], "log.level", "warn", SIFT_FT_KEYWORD);
    pf_expect_field(&g.evs[0], "service.name", "checkout", SIFT_FT_KEYWORD);
    assert_int_equal(g.evs[1].ts_ns, RECV);
    pf_expect_field(&g.evs[1], "log.level", "info", SIFT_FT_KEYWORD);
    assert_int_equal(g.evs[1].msg_len, 0);
    pf_expect_field(&g.evs[1], "host.name", "web-01", SIFT_FT_KEYWORD);

    sift_buf_cleanup(&req);
    sift_buf_cleanup(&sl);
    sift_buf_cleanup(&rec);
    sift_buf_cleanup(&any);
}

static void
test_parse_otlp_structured_body(void **state)
{
    struct fx *f = *state;
    struct sift_buf req = SIFT_BUF_INIT, sl = SIFT_BUF_INIT,
                    rec = SIFT_BUF_INIT, any = SIFT_BUF_INIT,
                    kvs = SIFT_BUF_INIT;
    /* {message: "user logged in", user: "ann"} */
    kv_str(&kvs, 1, "message", "user logged in");
    kv_str(&kvs, 1, "user", "ann");
    pbw_msg(&any, 6, &kvs);
    pbw_msg(&rec, 5, &any);
    pbw_msg(&sl, 2, &rec);
    /* {op: "sync", n: 3}: no message key, so the JSON text is. */
    kv_str(&kvs, 1, "op", "sync");
    struct sift_buf n = SIFT_BUF_INIT;
    pbw_uint(&n, 3, 3);
    kv_any(&kvs, 1, "n", &n);
    pbw_msg(&any, 6, &kvs);
    pbw_msg(&rec, 5, &any);
    pbw_msg(&sl, 2, &rec);
    /* an int body is its text */
    pbw_uint(&any, 3, 7);
    pbw_msg(&rec, 5, &any);
    pbw_msg(&sl, 2, &rec);
    wrap(&req, &sl, 0);

    struct got g;
    assert_int_equal(run(f, 0, req.data, req.len, &g), SIFT_OK);
    assert_int_equal(g.n, 3);
    expect_msg(&g.evs[0], "user logged in");
    pf_expect_field(&g.evs[0], "user", "ann", SIFT_FT_KEYWORD);
    assert_null(pf_field(&g.evs[0], "message"));
    expect_msg(&g.evs[1], "{\"op\":\"sync\",\"n\":3}");
    pf_expect_field(&g.evs[1], "op", "sync", SIFT_FT_KEYWORD);
    pf_expect_field(&g.evs[1], "n", "3", SIFT_FT_NUMBER);
    expect_msg(&g.evs[2], "7");

    sift_buf_cleanup(&req);
    sift_buf_cleanup(&sl);
    sift_buf_cleanup(&rec);
    sift_buf_cleanup(&any);
    sift_buf_cleanup(&kvs);
    sift_buf_cleanup(&n);
}

static void
test_parse_otlp_protobuf_malformed_refused(void **state)
{
    struct fx *f = *state;
    struct sift_buf req = SIFT_BUF_INIT, sl = SIFT_BUF_INIT,
                    rec = SIFT_BUF_INIT, any = SIFT_BUF_INIT;
    pbw_str(&any, 1, "one");
    pbw_msg(&rec, 5, &any);
    pbw_msg(&sl, 2, &rec);
    wrap(&req, &sl, 0);
    struct got g;
    /* Every strict prefix is invalid (truncated length or value). */
    for (size_t cut = 1; cut < req.len; cut++) {
        int rc = run(f, 0, req.data, cut, &g);
        assert_int_equal(rc, SIFT_EPARSE);
        assert_non_null(strstr(f->err.reason, "not a valid OTLP"));
    }
    /* A group (wire type 3) is refused. */
    assert_int_equal(run(f, 0, "\x0b", 1, &g), SIFT_EPARSE);
    /* Wrong wire type for a known field (body as a varint). */
    struct sift_buf bad = SIFT_BUF_INIT, l2 = SIFT_BUF_INIT;
    pbw_uint(&rec, 5, 1);
    pbw_msg(&l2, 2, &rec);
    wrap(&bad, &l2, 0);
    assert_int_equal(run(f, 0, bad.data, bad.len, &g), SIFT_EPARSE);
    /* An empty request is fine: nothing in it. */
    assert_int_equal(run(f, 0, "", 0, &g), SIFT_OK);
    assert_int_equal(g.n, 0);
    sift_buf_cleanup(&req);
    sift_buf_cleanup(&sl);
    sift_buf_cleanup(&rec);
    sift_buf_cleanup(&any);
    sift_buf_cleanup(&bad);
    sift_buf_cleanup(&l2);
}

static void
test_parse_otlp_limit_rejects_one_record(void **state)
{
    struct fx *f = *state;
    f->o.max_fields = 3;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    struct sift_buf req = SIFT_BUF_INIT, sl = SIFT_BUF_INIT,
                    rec = SIFT_BUF_INIT, any = SIFT_BUF_INIT;
    pbw_str(&any, 1, "fits");
    pbw_msg(&rec, 5, &any);
    pbw_msg(&sl, 2, &rec); /* resource 2 + scope 1 = 3 fields */
    pbw_str(&any, 1, "too many");
    pbw_msg(&rec, 5, &any);
    kv_str(&rec, 6, "extra", "x");
    pbw_msg(&sl, 2, &rec);
    pbw_str(&any, 1, "fits too");
    pbw_msg(&rec, 5, &any);
    pbw_msg(&sl, 2, &rec);
    wrap(&req, &sl, 0);
    struct got g;
    assert_int_equal(run(f, 0, req.data, req.len, &g), SIFT_OK);
    assert_int_equal(g.n, 2);
    assert_int_equal(g.n_rejected, 1);
    assert_int_equal(g.rejected_no, 2);
    assert_non_null(strstr(g.reason, "more than 3 fields"));
    expect_msg(&g.evs[1], "fits too");
    sift_buf_cleanup(&req);
    sift_buf_cleanup(&sl);
    sift_buf_cleanup(&rec);
    sift_buf_cleanup(&any);
}

static const char otlp_json[] =
    "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{"
    "\"timeUnixNano\":\"1715678467412345678\",\"severityNumber\":13,"
    "\"severityText\":\"Warn\",\"body\":{\"stringValue\":\"slow query "
    "\\u00e9 812 ms\"},\"attributes\":[{\"key\":\"db.rows\",\"value\":"
    "{\"intValue\":\"12\"}},{\"key\":\"ratio\",\"value\":{\"doubleValue\":"
    "0.25}},{\"key\":\"ok\",\"value\":{\"boolValue\":false}},{\"key\":"
    "\"req\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"path\","
    "\"value\":{\"stringValue\":\"/pay\"}}]}}},{\"key\":\"nested\",\"value\":"
    "{\"arrayValue\":{\"values\":[{\"kvlistValue\":{\"values\":[]}}]}}}],"
    "\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":"
    "\"EEE19B7EC3C1B174\",\"unknownNewField\":{\"x\":[1,2]}},"
    "{\"observed_time_unix_nano\":1700000002000000000,\"body\":"
    "{\"string_value\":\"snake case works\"}}],"
    "\"scope\":{\"name\":\"db\",\"version\":\"0.9\"}}],"
    "\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"orders\"}}],\"droppedAttributesCount\":0}}]}";

static void
test_parse_otlp_json(void **state)
{
    struct fx *f = *state;
    struct got g;
    assert_int_equal(run(f, 1, otlp_json, strlen(otlp_json), &g), SIFT_OK);
    assert_int_equal(g.n, 2);
    const struct sift_event *ev = &g.evs[0];
    assert_int_equal(ev->ts_ns, INT64_C(1715678467412345678));
    expect_msg(ev, "slow query \xc3\xa9 812 ms");
    pf_expect_field(ev, "log.level", "warn", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "service.name", "orders", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "otel.scope.name", "db", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "db.rows", "12", SIFT_FT_NUMBER);
    pf_expect_field(ev, "ratio", "0.25", SIFT_FT_NUMBER);
    pf_expect_field(ev, "ok", "false", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "req.path", "/pay", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "nested", "[{}]", SIFT_FT_KEYWORD);
    pf_expect_field(ev, "trace.id", "5b8efff798038103d269b633813fc60c",
                    SIFT_FT_KEYWORD);
    pf_expect_field(ev, "span.id", "eee19b7ec3c1b174", SIFT_FT_KEYWORD);
    assert_int_equal(g.evs[1].ts_ns, INT64_C(1700000002000000000));
    expect_msg(&g.evs[1], "snake case works");
    pf_expect_field(&g.evs[1], "service.name", "orders", SIFT_FT_KEYWORD);
}

static void
test_parse_otlp_json_malformed_refused(void **state)
{
    struct fx *f = *state;
    struct got g;
    static const char *const bad[] = {
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":",
        "{\"resourceLogs\":[1]}",
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{"
        "\"timeUnixNano\":\"soon\"}]}]}]}",
        "{\"resourceLogs\":[]} trailing",
        "[]",
        "{\"a\":\"\x01\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = run(f, 1, bad[i], strlen(bad[i]), &g);
        if (rc != SIFT_EPARSE)
            fail_msg("case %zu: rc %d", i, rc);
        assert_non_null(strstr(f->err.reason, "invalid OTLP/JSON at byte"));
    }
    /* Unknown members at every level are ignored; null is absent. */
    static const char ok[] = "{\"x\":1,\"resourceLogs\":[{\"resource\":null,"
                             "\"scopeLogs\":[{\"logRecords\":[{\"body\":"
                             "null,\"y\":[true,null]}]}]}]}";
    assert_int_equal(run(f, 1, ok, strlen(ok), &g), SIFT_OK);
    assert_int_equal(g.n, 1);
}

static void
test_parse_otlp_deep_body_rejected_alone(void **state)
{
    struct fx *f = *state;
    f->o.max_depth = 3;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    static const char deep[] =
        "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
        "{\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":"
        "{\"kvlistValue\":{\"values\":[{\"key\":\"b\",\"value\":"
        "{\"kvlistValue\":{\"values\":[{\"key\":\"c\",\"value\":"
        "{\"stringValue\":\"x\"}}]}}}]}}}]}}},"
        "{\"body\":{\"stringValue\":\"shallow\"}}]}]}]}";
    struct got g;
    assert_int_equal(run(f, 1, deep, strlen(deep), &g), SIFT_OK);
    assert_int_equal(g.n, 1);
    assert_int_equal(g.n_rejected, 1);
    assert_non_null(strstr(g.reason, "nesting"));
    expect_msg(&g.evs[0], "shallow");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_parse_otlp_protobuf_maps_every_part, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_otlp_protobuf_times_and_levels, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_otlp_structured_body, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_otlp_protobuf_malformed_refused, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_otlp_limit_rejects_one_record, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_otlp_json, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_otlp_json_malformed_refused,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_otlp_deep_body_rejected_alone, setup, pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
