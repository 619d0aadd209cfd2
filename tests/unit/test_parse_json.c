/*
 * test_parse_json.c - JSON events: Filebeat records, flattening, escapes,
 * numbers, timestamps, every error kind and every limit one under/over,
 * and sift_parse_lines() splitting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

#include "parse_fixture.h"

static int
setup(void **state)
{
    return pf_setup(state, SIFT_PARSE_JSON);
}

static void
recompile(struct fx *f)
{
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
}

static void
expect_error(struct fx *f, const char *s, int rc, const char *reason)
{
    int got = pf_parse(f, s);
    if (got != rc || strstr(f->err.reason, reason) == NULL)
        fail_msg("%s: got %d \"%s\", want %d \"%s\"", s, got, f->err.reason, rc,
                 reason);
}

static const char fb1[] =
    "{\"@timestamp\":\"2024-05-14T09:21:07.412Z\",\"@metadata\":{\"beat\":"
    "\"filebeat\",\"type\":\"_doc\",\"version\":\"8.13.4\"},\"log\":{"
    "\"offset\":48213,\"file\":{\"path\":\"/var/log/nginx/access.log\","
    "\"device_id\":\"64769\",\"inode\":\"1311742\"}},\"message\":\"10.0.3.17 "
    "- - [14/May/2024:09:21:07 +0000] \\\"GET /healthz HTTP/1.1\\\" 200 2 "
    "\\\"-\\\" \\\"kube-probe/1.29\\\"\",\"input\":{\"type\":\"filestream\"},"
    "\"fields\":{\"env\":\"prod\",\"service\":\"nginx\"},\"tags\":[\"nginx\","
    "\"access\"],\"ecs\":{\"version\":\"8.0.0\"},\"host\":{\"name\":"
    "\"web-01\"},\"agent\":{\"ephemeral_id\":\"4b8f2f0e-2a51-4c59-9d0a-"
    "7e51f3f0b6d1\",\"id\":\"0c6e6a44-1f2b-4f5e-8d3a-93c1b7a2e9f4\",\"name\":"
    "\"web-01\",\"type\":\"filebeat\",\"version\":\"8.13.4\"}}";

static const char fb2[] =
    "{\"@timestamp\":\"2024-05-14T09:21:09.981Z\",\"@metadata\":{\"beat\":"
    "\"filebeat\",\"type\":\"_doc\",\"version\":\"8.13.4\"},\"log\":{"
    "\"offset\":1048576,\"file\":{\"path\":\"/var/log/orders/app.log\"},"
    "\"flags\":[\"multiline\"]},\"message\":\"2024-05-14 09:21:09,977 ERROR "
    "[http-nio-8080-exec-7] c.a.orders.PaymentController - Payment failed "
    "for order A-1029\\njava.lang.IllegalStateException: card declined\\n\\tat"
    " com.acme.orders.PaymentService.charge(PaymentService.java:88)\\n\\t... "
    "12 more\",\"input\":{\"type\":\"filestream\"},\"fields\":{\"env\":"
    "\"prod\",\"service\":\"orders\"},\"host\":{\"name\":\"app-02\"}}";

static const char fb3[] =
    "{\"@timestamp\":\"2024-05-14T09:21:10.118Z\",\"@metadata\":{\"beat\":"
    "\"filebeat\",\"type\":\"_doc\",\"version\":\"8.13.4\"},\"ts\":"
    "\"2024-05-14T09:21:10.004Z\",\"level\":\"warn\",\"logger\":\"checkout\","
    "\"message\":\"retrying payment\",\"order_id\":\"A-1029\",\"attempt\":2,"
    "\"latency_ms\":812.5,\"log\":{\"offset\":20931,\"file\":{\"path\":"
    "\"/var/log/checkout/app.ndjson\"}},\"input\":{\"type\":\"filestream\"},"
    "\"ecs\":{\"version\":\"8.0.0\"},\"host\":{\"name\":\"app-03\"}}";

static void
test_parse_json_filebeat_plain_line(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, fb1), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467412000000));
    const char *msg = "10.0.3.17 - - [14/May/2024:09:21:07 +0000] \"GET "
                      "/healthz HTTP/1.1\" 200 2 \"-\" \"kube-probe/1.29\"";
    assert_int_equal(f->ev.msg_len, strlen(msg));
    assert_memory_equal(f->ev.msg, msg, strlen(msg));
    pf_expect_field(&f->ev, "log.file.path", "/var/log/nginx/access.log",
                    SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "log.offset", "48213", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "host.name", "web-01", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "nginx", SIFT_FT_KEYWORD);
    /* tags: one entry per element, same name. */
    assert_memory_equal(pf_field_n(&f->ev, "tags", 0)->value, "nginx", 5);
    assert_memory_equal(pf_field_n(&f->ev, "tags", 1)->value, "access", 6);
    assert_null(pf_field_n(&f->ev, "tags", 2));
    /* Consumed and ignored names are not fields. */
    assert_null(pf_field_n(&f->ev, "@timestamp", 0));
    assert_null(pf_field_n(&f->ev, "message", 0));
    assert_null(pf_field_n(&f->ev, "@metadata.beat", 0));
    assert_ptr_equal(f->ev.raw, fb1);
    assert_int_equal(f->ev.raw_len, strlen(fb1));
}

static void
test_parse_json_filebeat_multiline(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, fb2), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678469981000000));
    assert_non_null(memchr(f->ev.msg, '\n', f->ev.msg_len));
    assert_non_null(memchr(f->ev.msg, '\t', f->ev.msg_len));
    pf_expect_field(&f->ev, "log.flags", "multiline", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "orders", SIFT_FT_KEYWORD);
}

static void
test_parse_json_filebeat_decoded_app_fields(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, fb3), SIFT_OK);
    /* @timestamp is the configured field; ts stays a field. */
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678470118000000));
    pf_expect_field(&f->ev, "ts", "2024-05-14T09:21:10.004Z", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "log.level", "warn", SIFT_FT_KEYWORD);
    assert_null(pf_field_n(&f->ev, "level", 0));
    pf_expect_field(&f->ev, "attempt", "2", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "latency_ms", "812.5", SIFT_FT_NUMBER);
    assert_int_equal(f->ev.msg_len, 16);

    /* With timestamp_field=ts the application time wins. */
    f->o.timestamp_field = "ts";
    recompile(f);
    assert_int_equal(pf_parse(f, fb3), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678470004000000));
    pf_expect_field(&f->ev, "@timestamp", "2024-05-14T09:21:10.118Z",
                    SIFT_FT_KEYWORD);
}

static void
test_parse_json_dotted_and_nested_are_one_field(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, "{\"log\":{\"file\":{\"path\":\"/a\"}}}"),
                     SIFT_OK);
    pf_expect_field(&f->ev, "log.file.path", "/a", SIFT_FT_KEYWORD);
    assert_int_equal(pf_parse(f, "{\"log.file.path\":\"/a\"}"), SIFT_OK);
    pf_expect_field(&f->ev, "log.file.path", "/a", SIFT_FT_KEYWORD);
    assert_int_equal(pf_parse(f, "{\"log.file\":{\"path\":\"/a\"},\"x\":{}}"),
                     SIFT_OK);
    pf_expect_field(&f->ev, "log.file.path", "/a", SIFT_FT_KEYWORD);
    assert_int_equal(f->ev.n_fields, 1);
}

static void
test_parse_json_unicode_escapes(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        pf_parse(f, "{\"message\":\"a\\u00e9\\u20ac\\ud83d\\ude00\\n\\t\\\"\\\\"
                    "\\/\",\"k\\u0041\":\"\\ud800x\"}"),
        SIFT_OK);
    const char want[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\n\t\"\\/";
    assert_int_equal(f->ev.msg_len, sizeof(want) - 1);
    assert_memory_equal(f->ev.msg, want, sizeof(want) - 1);
    /* Escaped key decoded; lone surrogate -> U+FFFD. */
    pf_expect_field(&f->ev, "kA", "\xef\xbf\xbdx", SIFT_FT_KEYWORD);
}

static void
test_parse_json_numbers_and_literals(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        pf_parse(f, "{\"big\":123456789012345678901234567890,\"e\":-1.5E+300,"
                    "\"z\":0,\"t\":true,\"f\":false,\"n\":null}"),
        SIFT_OK);
    pf_expect_field(&f->ev, "big", "123456789012345678901234567890",
                    SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "e", "-1.5E+300", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "z", "0", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "t", "true", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "f", "false", SIFT_FT_KEYWORD);
    assert_null(pf_field_n(&f->ev, "n", 0));
}

static void
test_parse_json_arrays(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f,
                              "{\"a\":[1,\"x\",true,null],\"b\":[{\"c\":1},2],"
                              "\"e\":[],\"d\":[[1],[2]]}"),
                     SIFT_OK);
    assert_memory_equal(pf_field_n(&f->ev, "a", 0)->value, "1", 1);
    assert_int_equal(pf_field_n(&f->ev, "a", 0)->type, SIFT_FT_NUMBER);
    assert_memory_equal(pf_field_n(&f->ev, "a", 1)->value, "x", 1);
    assert_memory_equal(pf_field_n(&f->ev, "a", 2)->value, "true", 4);
    assert_null(pf_field_n(&f->ev, "a", 3));
    pf_expect_field(&f->ev, "b", "[{\"c\":1},2]", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "d", "[[1],[2]]", SIFT_FT_KEYWORD);
    assert_null(pf_field_n(&f->ev, "e", 0));
    assert_null(pf_field_n(&f->ev, "b.c", 0));
}

static void
test_parse_json_timestamps(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *json;
        int64_t ns;
    } cases[] = {
        {"{\"@timestamp\":\"2024-05-14T09:21:07Z\"}",
         INT64_C(1715678467) * 1000000000},
        {"{\"@timestamp\":\"2024-05-14T09:21:07.123456789Z\"}",
         INT64_C(1715678467123456789)},
        {"{\"@timestamp\":\"2024-05-14T09:21:07.1234567891234Z\"}",
         INT64_C(1715678467123456789)},
        {"{\"@timestamp\":\"2024-05-14T11:21:07.5+02:00\"}",
         INT64_C(1715678467500000000)},
        {"{\"@timestamp\":\"2024-05-14T04:21:07-0500\"}",
         INT64_C(1715678467000000000)},
        {"{\"timestamp\":1715678467}", INT64_C(1715678467000000000)},
        {"{\"ts\":1715678467.25}", INT64_C(1715678467250000000)},
        {"{\"time\":1715678467123}", INT64_C(1715678467123000000)},
        {"{\"ts\":1715678467123456}", INT64_C(1715678467123456000)},
        {"{\"ts\":1715678467123456789}", INT64_C(1715678467123456789)},
        {"{\"ts\":\"1715678467\"}", INT64_C(1715678467000000000)},
        {"{\"a\":1}", RECV},
        /* Past int64 ns (year 2262): not a timestamp. */
        {"{\"ts\":9223372036.9999}", RECV},
        {"{\"ts\":99999999999999999999}", RECV},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(pf_parse(f, cases[i].json), SIFT_OK);
        if (f->ev.ts_ns != cases[i].ns)
            fail_msg("%s: %lld", cases[i].json, (long long)f->ev.ts_ns);
        assert_null(pf_field_n(&f->ev, "@timestamp", 0));
        if (cases[i].ns != RECV || strstr(cases[i].json, "\"a\""))
            assert_null(pf_field_n(&f->ev, "_ts_error", 0));
    }
    /* Unparseable: recv time, value kept, reason noted. */
    assert_int_equal(pf_parse(f, "{\"@timestamp\":\"yesterday\"}"), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, RECV);
    pf_expect_field(&f->ev, "@timestamp", "yesterday", SIFT_FT_KEYWORD);
    assert_non_null(pf_field_n(&f->ev, "_ts_error", 0));
    assert_int_equal(pf_parse(f, "{\"@timestamp\":\"2024-02-30T00:00:00Z\"}"),
                     SIFT_OK);
    assert_int_equal(f->ev.ts_ns, RECV);
}

static void
test_parse_json_rfc3339_api(void **state)
{
    (void)state;
    int64_t ns;
    assert_int_equal(sift_parse_rfc3339("1970-01-01T00:00:00Z", 20, &ns),
                     SIFT_OK);
    assert_int_equal(ns, 0);
    assert_int_equal(
        sift_parse_rfc3339("2024-05-14T09:21:07.412345+00:00", 32, &ns),
        SIFT_OK);
    assert_int_equal(ns, INT64_C(1715678467412345000));
    assert_int_equal(sift_parse_rfc3339("2024-05-14T09:21:07Zx", 21, &ns),
                     SIFT_EPARSE);
    assert_int_equal(sift_parse_rfc3339("2024-13-14T09:21:07Z", 20, &ns),
                     SIFT_EPARSE);
    assert_int_equal(sift_parse_rfc3339("2024-05-14", 10, &ns), SIFT_EPARSE);
}

static void
test_parse_json_level_and_service(void **state)
{
    struct fx *f = *state;
    assert_int_equal(
        pf_parse(f, "{\"severity\":\"WARNING\",\"program\":\"cron\"}"),
        SIFT_OK);
    pf_expect_field(&f->ev, "log.level", "warn", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "cron", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "program", "cron", SIFT_FT_KEYWORD);
    assert_int_equal(
        pf_parse(f, "{\"log\":{\"level\":\"CRITICAL\"},\"level\":\"x\","
                    "\"service\":{\"name\":\"api\"},\"program\":\"p\"}"),
        SIFT_OK);
    pf_expect_field(&f->ev, "log.level", "fatal", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "level", "x", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "service.name", "api", SIFT_FT_KEYWORD);
    assert_null(pf_field_n(&f->ev, "service.name", 1));
    assert_int_equal(pf_parse(f, "{\"level\":\"Verbose2\"}"), SIFT_OK);
    pf_expect_field(&f->ev, "log.level", "verbose2", SIFT_FT_KEYWORD);
    assert_int_equal(pf_parse(f, "{\"syslog\":{\"appname\":\"sshd\"}}"),
                     SIFT_OK);
    pf_expect_field(&f->ev, "service.name", "sshd", SIFT_FT_KEYWORD);
}

static void
test_parse_json_message_field_variants(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, "{\"message\":42}"), SIFT_OK);
    assert_int_equal(f->ev.msg_len, 2);
    assert_memory_equal(f->ev.msg, "42", 2);
    assert_int_equal(pf_parse(f, "{\"a\":\"b\"}"), SIFT_OK);
    assert_int_equal(f->ev.msg_len, 0);
    f->o.message_field = "log";
    recompile(f);
    assert_int_equal(pf_parse(f, "{\"log\":\"hello\",\"message\":\"m\"}"),
                     SIFT_OK);
    assert_memory_equal(f->ev.msg, "hello", 5);
    pf_expect_field(&f->ev, "message", "m", SIFT_FT_KEYWORD);
}

static char *
dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* The compiled options own their names: a configuration reload frees the
 * strings they were compiled from while ingest goes on (ASan saw the
 * parser read freed names after a SIGHUP). */
static void
test_parse_json_names_outlive_their_strings(void **state)
{
    struct fx *f = *state;
    char *msg = dup("body"), *ts = dup("when"), *svc = dup("app");
    assert_non_null(msg);
    assert_non_null(ts);
    assert_non_null(svc);
    f->o.message_field = msg;
    f->o.timestamp_field = ts;
    f->o.service_field = svc;
    recompile(f);
    /* What a reload does: the old strings freed (and their bytes gone). */
    memset(msg, 'x', 4);
    memset(ts, 'x', 4);
    memset(svc, 'x', 3);
    free(msg);
    free(ts);
    free(svc);
    f->o.message_field = f->o.timestamp_field = f->o.service_field = NULL;
    assert_int_equal(pf_parse(f, "{\"body\":\"hello\",\"when\":"
                                 "\"2024-05-14T09:21:07Z\",\"app\":\"pay\"}"),
                     SIFT_OK);
    assert_int_equal(f->ev.msg_len, 5);
    assert_memory_equal(f->ev.msg, "hello", 5);
    assert_int_equal(f->ev.ts_ns, INT64_C(1715678467000000000));
    pf_expect_field(&f->ev, "service.name", "pay", SIFT_FT_KEYWORD);
}

/* The message under the names loggers use: msg, log, short_message. */
static void
test_parse_json_message_aliases(void **state)
{
    struct fx *f = *state;
    assert_int_equal(pf_parse(f, "{\"level\":30,\"msg\":\"pino hi\"}"),
                     SIFT_OK);
    assert_int_equal(f->ev.msg_len, 7);
    assert_memory_equal(f->ev.msg, "pino hi", 7);
    assert_null(pf_field_n(&f->ev, "msg", 0));
    assert_int_equal(
        pf_parse(f, "{\"log\":\"docker line\\n\",\"stream\":\"stdout\"}"),
        SIFT_OK);
    assert_int_equal(f->ev.msg_len, 11); /* its newline dropped */
    assert_memory_equal(f->ev.msg, "docker line", 11);
    assert_int_equal(pf_parse(f, "{\"short_message\":\"gelf\",\"log\":5}"),
                     SIFT_OK);
    assert_memory_equal(f->ev.msg, "gelf", 4);
    pf_expect_field(&f->ev, "log", "5", SIFT_FT_NUMBER);
    /* message wins, then msg before log. */
    assert_int_equal(pf_parse(f, "{\"log\":\"l\",\"msg\":\"m\","
                                 "\"message\":\"x\"}"),
                     SIFT_OK);
    assert_memory_equal(f->ev.msg, "x", 1);
    pf_expect_field(&f->ev, "msg", "m", SIFT_FT_KEYWORD);
    assert_int_equal(pf_parse(f, "{\"log\":\"l\",\"msg\":\"m\"}"), SIFT_OK);
    assert_memory_equal(f->ev.msg, "m", 1);
    pf_expect_field(&f->ev, "log", "l", SIFT_FT_KEYWORD);
    /* An ECS "log" object is fields, not a message. */
    assert_int_equal(pf_parse(f, "{\"log\":{\"level\":\"warn\"}}"), SIFT_OK);
    assert_int_equal(f->ev.msg_len, 0);
}

/* extra_fields are defaults: an event's own field keeps its value. */
static void
test_parse_json_extra_fields_do_not_override(void **state)
{
    struct fx *f = *state;
    f->o.extra_fields = "service.name:legacy,env=prod";
    recompile(f);
    assert_int_equal(pf_parse(f, "{\"message\":\"a\",\"env\":\"dev\"}"),
                     SIFT_OK);
    pf_expect_field(&f->ev, "env", "dev", SIFT_FT_KEYWORD);
    assert_null(pf_field_n(&f->ev, "env", 1));
    pf_expect_field(&f->ev, "service.name", "legacy", SIFT_FT_KEYWORD);
}

static void
test_parse_json_metadata_extra_and_types(void **state)
{
    struct fx *f = *state;
    f->o.keep_metadata = true;
    f->o.extra_fields = "env = prod, dc=eu1";
    f->o.text_fields = "err";
    f->o.numeric_fields = "code,name";
    f->o.keyword_fields = "port";
    recompile(f);
    assert_int_equal(pf_parse(f,
                              "{\"@metadata\":{\"beat\":\"filebeat\"},\"err\":"
                              "\"a b\",\"code\":\"503\",\"name\":\"x\","
                              "\"port\":8080}"),
                     SIFT_OK);
    pf_expect_field(&f->ev, "@metadata.beat", "filebeat", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "env", "prod", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "dc", "eu1", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "err", "a b", SIFT_FT_TEXT);
    pf_expect_field(&f->ev, "code", "503", SIFT_FT_NUMBER);
    pf_expect_field(&f->ev, "name", "x", SIFT_FT_KEYWORD);
    pf_expect_field(&f->ev, "port", "8080", SIFT_FT_KEYWORD);
    f->o.keep_metadata = false;
    f->o.max_field_name_bytes = 8;
    recompile(f);
    /* Ignored @metadata is not subject to the name limit. */
    assert_int_equal(pf_parse(f,
                              "{\"@metadata\":{\"a_very_long_key\":{\"b\":1}},"
                              "\"a\":1}"),
                     SIFT_OK);
    assert_int_equal(f->ev.n_fields, 3);
    f->o.max_field_name_bytes = 256;

    struct sift_parse_error err;
    f->o.extra_fields = "novalue";
    assert_int_equal(sift_parse_opts_compile(&f->o, &err), SIFT_EINVAL);
    assert_non_null(strstr(err.reason, "novalue"));
    f->o.extra_fields = NULL;
    f->o.max_depth = 129;
    assert_int_equal(sift_parse_opts_compile(&f->o, &err), SIFT_EINVAL);
    f->o.max_depth = 32;
    recompile(f);
}

static void
test_parse_json_invalid(void **state)
{
    struct fx *f = *state;
    expect_error(f, "{\"a\":1,}", SIFT_EPARSE, "invalid JSON at byte 6");
    expect_error(f, "{\"a\" 1}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":1 \"b\":2}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":[1 2]}", SIFT_EPARSE, "invalid JSON at byte 8");
    expect_error(f, "{\"a\":[1,,2]}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\"::1}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":tru}", SIFT_EPARSE, "invalid JSON at byte 5");
    expect_error(f, "{\"a\":01}", SIFT_EPARSE, "invalid JSON at byte 5");
    expect_error(f, "{\"a\":1.}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":-}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":\"\\x\"}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":1", SIFT_EPARSE, "truncated JSON");
    expect_error(f, "{\"a\":\"abc", SIFT_EPARSE, "truncated JSON");
    expect_error(f, "{\"a\":1} x", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":1}{}", SIFT_EPARSE, "invalid JSON at byte 7");
    expect_error(f, "[1,2]", SIFT_EPARSE, "not an object");
    expect_error(f, "\"str\"", SIFT_EPARSE, "not an object");
    expect_error(f, "", SIFT_EPARSE, "not an object");
    expect_error(f, "{1:2}", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":1]", SIFT_EPARSE, "invalid JSON");
    expect_error(f, "{\"a\":{\"\":1}}", SIFT_EPARSE,
                 "empty field name at byte 6");
    /* A NUL byte inside the line. */
    const char nul[] = "{\"a\":\"x\0y\"}";
    assert_int_equal(sift_parse_event(&f->o, nul, sizeof(nul) - 1, RECV, f->a,
                                      &f->ev, &f->err),
                     SIFT_EPARSE);
    assert_int_equal(f->err.rc, SIFT_EPARSE);
    /* Whitespace around and a trailing CRLF are fine. */
    assert_int_equal(pf_parse(f, " { \"a\" : 1 , \"b\" : [ 1 , 2 ] } \r\n"),
                     SIFT_OK);
    pf_expect_field(&f->ev, "a", "1", SIFT_FT_NUMBER);
}

/* Builds {"f0":0,"f1":1,...} with n fields. */
static char *
many_fields(struct fx *f, unsigned n)
{
    size_t cap = 16 + (size_t)n * 24;
    char *s = sift_arena_alloc(f->a, cap);
    size_t l = 0;
    s[l++] = '{';
    for (unsigned i = 0; i < n; i++)
        l += (size_t)snprintf(s + l, cap - l, "%s\"f%u\":%u", i ? "," : "", i,
                              i);
    s[l++] = '}';
    s[l] = '\0';
    return s;
}

static char *
nested(struct fx *f, unsigned depth)
{
    size_t cap = (size_t)depth * 8 + 16;
    char *s = sift_arena_alloc(f->a, cap);
    size_t l = 0;
    for (unsigned i = 0; i < depth; i++)
        l += (size_t)snprintf(s + l, cap - l, "{\"a\":");
    l += (size_t)snprintf(s + l, cap - l, "1");
    for (unsigned i = 0; i < depth; i++)
        s[l++] = '}';
    s[l] = '\0';
    return s;
}

static void
test_parse_json_limits(void **state)
{
    struct fx *f = *state;
    /* max_fields: 1000 ok, 1001 not (and the big token array path). */
    assert_int_equal(pf_parse(f, many_fields(f, 1000)), SIFT_OK);
    assert_int_equal(f->ev.n_fields, 1000);
    expect_error(f, many_fields(f, 1001), SIFT_ELIMIT, "more than 1000 fields");

    f->o.max_fields = 3;
    recompile(f);
    assert_int_equal(pf_parse(f, "{\"a\":1,\"b\":2,\"c\":3,\"level\":\"x\"}"),
                     SIFT_ELIMIT);
    assert_int_equal(pf_parse(f, "{\"a\":1,\"b\":2,\"@timestamp\":1}"),
                     SIFT_OK);
    /* Token cap: 4 x 3 + 64 = 76 JSON values. */
    char big[512];
    size_t l = 0;
    l += (size_t)snprintf(big + l, sizeof(big) - l, "{\"a\":[{}");
    for (int i = 0; i < 80; i++)
        l += (size_t)snprintf(big + l, sizeof(big) - l, ",1");
    snprintf(big + l, sizeof(big) - l, "]}");
    expect_error(f, big, SIFT_ELIMIT, "more than 76 JSON values");
    f->o.max_fields = 1000;

    /* max_depth 32: top object is depth 1. */
    recompile(f);
    assert_int_equal(pf_parse(f, nested(f, 32)), SIFT_OK);
    expect_error(f, nested(f, 33), SIFT_ELIMIT, "nesting deeper than 32");
    expect_error(f,
                 "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]"
                 "]]]]]]]]]]]]]]}",
                 SIFT_ELIMIT, "nesting deeper than 32");

    /* Name and value lengths, one under and one over. */
    f->o.max_field_name_bytes = 5;
    f->o.max_value_bytes = 4;
    recompile(f);
    assert_int_equal(pf_parse(f, "{\"a\":{\"bcd\":\"wxyz\"}}"), SIFT_OK);
    pf_expect_field(&f->ev, "a.bcd", "wxyz", SIFT_FT_KEYWORD);
    expect_error(f, "{\"a\":{\"bcde\":1}}", SIFT_ELIMIT,
                 "field name \"a.bcde\" is 6 bytes, more than 5");
    expect_error(f, "{\"abcdef\":1}", SIFT_ELIMIT, "is 6 bytes");
    expect_error(f, "{\"a\":\"wxyzq\"}", SIFT_ELIMIT,
                 "is 5 bytes, more than 4");
    /* Escapes count after decoding: 6 input bytes, 2 decoded. */
    assert_int_equal(pf_parse(f, "{\"a\":\"\\u00e9\"}"), SIFT_OK);
    f->o.max_field_name_bytes = 256;
    f->o.max_value_bytes = 32768;

    f->o.max_line_bytes = 10;
    recompile(f);
    assert_int_equal(pf_parse(f, "{\"a\":\"12\"}"), SIFT_OK);
    expect_error(f, "{\"a\":\"123\"}", SIFT_ELIMIT, "line is 11 bytes");
    f->o.max_line_bytes = 1 << 20;
    recompile(f);
}

struct collect {
    int n_ok, n_err;
    size_t err_line[8];
    char first_msg[32];
    int stop_after;
};

static int
collect_cb(void *arg, int rc, struct sift_event *ev,
           const struct sift_parse_error *err)
{
    struct collect *c = arg;
    if (rc == SIFT_OK) {
        if (c->n_ok == 0)
            snprintf(c->first_msg, sizeof(c->first_msg), "%.*s",
                     (int)ev->msg_len, ev->msg);
        c->n_ok++;
    } else {
        assert_non_null(err);
        assert_int_equal(err->rc, rc);
        if (c->n_err < 8)
            c->err_line[c->n_err] = err->line_no;
        c->n_err++;
    }
    return c->stop_after && c->n_ok + c->n_err >= c->stop_after ? 7 : 0;
}

static void
test_parse_json_lines(void **state)
{
    struct fx *f = *state;
    const char body[] = "{\"message\":\"one\"}\r\n\n\r\n{bad}\n"
                        "{\"message\":\"two\"}\n{\"message\":\"3\"}";
    struct collect c;
    struct sift_parse_stats st;
    memset(&c, 0, sizeof(c));
    assert_int_equal(sift_parse_lines(&f->o, body, sizeof(body) - 1, RECV, f->a,
                                      collect_cb, &c, &st),
                     SIFT_OK);
    assert_int_equal(c.n_ok, 3);
    assert_int_equal(c.n_err, 1);
    assert_int_equal(c.err_line[0], 4);
    assert_string_equal(c.first_msg, "one");
    assert_int_equal(st.n_lines, 4);
    assert_int_equal(st.n_events, 3);
    assert_int_equal(st.n_errors, 1);

    memset(&c, 0, sizeof(c));
    c.stop_after = 2;
    assert_int_equal(sift_parse_lines(&f->o, body, sizeof(body) - 1, RECV, f->a,
                                      collect_cb, &c, NULL),
                     7);
    assert_int_equal(c.n_ok + c.n_err, 2);

    memset(&c, 0, sizeof(c));
    assert_int_equal(
        sift_parse_lines(&f->o, "\n\r\n\n", 4, RECV, f->a, collect_cb, &c, &st),
        SIFT_OK);
    assert_int_equal(st.n_lines, 0);
    assert_int_equal(c.n_ok + c.n_err, 0);

    /* An over-long line is reported, the next one still parses. */
    f->o.max_line_bytes = 20;
    recompile(f);
    memset(&c, 0, sizeof(c));
    const char b2[] =
        "{\"message\":\"aaaaaaaaaaaaaaaa\"}\n{\"message\":\"b\"}\n";
    assert_int_equal(sift_parse_lines(&f->o, b2, sizeof(b2) - 1, RECV, f->a,
                                      collect_cb, &c, &st),
                     SIFT_OK);
    assert_int_equal(c.n_err, 1);
    assert_int_equal(c.n_ok, 1);
    f->o.max_line_bytes = 1 << 20;
    recompile(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_json_message_aliases, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_json_extra_fields_do_not_override, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_filebeat_plain_line,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_filebeat_multiline,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_json_filebeat_decoded_app_fields, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_json_dotted_and_nested_are_one_field, setup,
            pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_unicode_escapes, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_numbers_and_literals,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_arrays, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_timestamps, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_rfc3339_api, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_level_and_service,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_json_names_outlive_their_strings, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_message_field_variants,
                                        setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_json_metadata_extra_and_types, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_invalid, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_limits, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_json_lines, setup,
                                        pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
