/*
 * test_parse_multiline.c - continuation lines join the event before them
 * (src/parse/multiline.c, sift_parse_lines()): Java, Python and Go traces
 * in text bodies, Filebeat-style JSON events one line each, the stream,
 * level and time rules that keep unrelated events apart, the bounds
 * (nothing dropped past them), configured patterns, and the array join
 * used by broker batches and _bulk.
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
#include "sift/multiline.h"
#include "sift/parse.h"

#define RECV INT64_C(1795348800000000000) /* 2026-11-22T12:00:00Z */
#define MAX_EVS 32

struct got {
    struct sift_event ev[MAX_EVS];
    char msg[MAX_EVS][2048];
    size_t n, n_err;
};

static int
on_line(void *arg, int rc, struct sift_event *ev,
        const struct sift_parse_error *err)
{
    struct got *g = arg;
    (void)err;
    if (rc != SIFT_OK) {
        g->n_err++;
        return 0;
    }
    assert_true(g->n < MAX_EVS);
    g->ev[g->n] = *ev;
    size_t l = ev->msg_len < 2047 ? ev->msg_len : 2047;
    memcpy(g->msg[g->n], ev->msg, l);
    g->msg[g->n][l] = '\0';
    g->n++;
    return 0;
}

/* Parses body with format and multiline options mo (NULL = off). */
static void
run(const char *body, enum sift_parse_format format,
    const struct sift_multiline_opts *mo, struct got *g,
    struct sift_parse_stats *st, struct sift_arena *a)
{
    struct sift_parse_opts o;
    sift_parse_opts_init(&o);
    o.format = format;
    struct sift_multiline *m = NULL;
    if (mo) {
        char why[128];
        assert_int_equal(sift_multiline_new(mo, &m, why, sizeof(why)), SIFT_OK);
        o.multiline = m;
    }
    assert_int_equal(sift_parse_opts_compile(&o, NULL), SIFT_OK);
    memset(g, 0, sizeof(*g));
    assert_int_equal(
        sift_parse_lines(&o, body, strlen(body), RECV, a, on_line, g, st),
        SIFT_OK);
    sift_parse_opts_cleanup(&o);
    sift_multiline_free(m);
}

static const char java[] =
    "2026-11-22 11:41:00,000 ERROR [main] Request failed\n"
    "java.lang.NullPointerException: name is null\n"
    "\tat com.acme.Orders.place(Orders.java:42)\n"
    "\tat com.acme.Api.handle(Api.java:7)\n"
    "Caused by: java.io.IOException: broken pipe\n"
    "\t... 12 more\n"
    "2026-11-22 11:41:01,000 INFO [main] next request\n";

static void
test_parse_multiline_java_trace_in_a_text_body(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(65536);
    struct sift_multiline_opts mo;
    sift_multiline_opts_init(&mo);
    struct got g;
    struct sift_parse_stats st;
    for (int f = 0; f < 2; f++) { /* text and auto */
        run(java, f ? SIFT_PARSE_AUTO : SIFT_PARSE_TEXT, &mo, &g, &st, a);
        assert_int_equal(g.n, 2);
        assert_int_equal(st.n_events, 2);
        assert_int_equal(st.n_joined, 5);
        assert_int_equal(st.n_lines, 7);
        assert_string_equal(g.msg[0],
                            "2026-11-22 11:41:00,000 ERROR [main] Request "
                            "failed\n"
                            "java.lang.NullPointerException: name is null\n"
                            "\tat com.acme.Orders.place(Orders.java:42)\n"
                            "\tat com.acme.Api.handle(Api.java:7)\n"
                            "Caused by: java.io.IOException: broken pipe\n"
                            "\t... 12 more");
        /* The first line's time and level; raw spans all six lines. */
        assert_true(g.ev[0].ts_ns == INT64_C(1795347660) * 1000000000);
        const struct sift_field *lvl =
            sift_event_field(&g.ev[0], "log.level", 9);
        assert_non_null(lvl);
        assert_memory_equal(lvl->value, "error", 5);
        assert_int_equal(g.ev[0].raw_len,
                         strstr(java, "\n2026-11-22 11:41:01") - java);
        assert_string_equal(g.msg[1],
                            "2026-11-22 11:41:01,000 INFO [main] next request");
    }
    /* Off: every line is its own event, as before. */
    mo.enabled = false;
    run(java, SIFT_PARSE_TEXT, &mo, &g, &st, a);
    assert_int_equal(g.n, 7);
    run(java, SIFT_PARSE_TEXT, NULL, &g, &st, a);
    assert_int_equal(g.n, 7);
    sift_arena_free(a);
}

static void
test_parse_multiline_python_go_and_edges(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(65536);
    struct sift_multiline_opts mo;
    sift_multiline_opts_init(&mo);
    struct got g;
    struct sift_parse_stats st;
    run("2026-11-22T11:00:00Z ERROR worker crashed\n"
        "Traceback (most recent call last):\n"
        "  File \"w.py\", line 3, in <module>\n"
        "ValueError: bad input\n"
        "2026-11-22T11:00:05Z INFO restarted\n",
        SIFT_PARSE_AUTO, &mo, &g, &st, a);
    assert_int_equal(g.n, 2);
    assert_non_null(strstr(g.msg[0], "\nValueError: bad input"));
    run("panic: runtime error: index out of range [3]\n"
        "goroutine 1 [running]:\n"
        "main.main()\n"
        "\t/src/main.go:12 +0x1d\n",
        SIFT_PARSE_AUTO, &mo, &g, &st, a);
    /* No line has a timestamp: only the indented one continues. */
    assert_int_equal(g.n, 3);
    assert_string_equal(g.msg[2], "main.main()\n\t/src/main.go:12 +0x1d");
    /* A body that starts with a continuation keeps it as its own event;
     * a blank line inside an event stays in it (it has no time of its
     * own); a JSON line is never a text continuation, but a raw frame
     * after it continues its message. */
    run("\tat orphan.Frame(F.java:1)\n"
        "2026-11-22T11:00:00Z one\n"
        "   \n"
        "{\"message\":\"json event\"}\n"
        "\tat x.Y(Y.java:2)\n",
        SIFT_PARSE_AUTO, &mo, &g, &st, a);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.msg[0], "\tat orphan.Frame(F.java:1)");
    assert_string_equal(g.msg[1], "2026-11-22T11:00:00Z one\n   ");
    assert_string_equal(g.msg[2], "json event\n\tat x.Y(Y.java:2)");
    /* A text line with its own timestamp after one: a new event. */
    run("2026-11-22T11:00:00Z a\n2026-11-22T11:00:01Z b\n", SIFT_PARSE_AUTO,
        &mo, &g, &st, a);
    assert_int_equal(g.n, 2);
    sift_arena_free(a);
}

static void
test_parse_multiline_bounds_never_drop(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(65536);
    struct sift_multiline_opts mo;
    sift_multiline_opts_init(&mo);
    mo.max_lines = 3;
    struct got g;
    struct sift_parse_stats st;
    run("2026-11-22T11:00:00Z boom\n\ta\n\tb\n\tc\n\td\n\te\n", SIFT_PARSE_TEXT,
        &mo, &g, &st, a);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.msg[0], "2026-11-22T11:00:00Z boom\n\ta\n\tb");
    assert_string_equal(g.msg[1], "\tc\n\td\n\te");
    assert_int_equal(st.n_joined, 4);
    mo.max_lines = 500;
    mo.max_bytes = 40;
    run("2026-11-22T11:00:00Z boom\n\taaaaaaaaaa\n\tbbbbbbbbbb\n",
        SIFT_PARSE_TEXT, &mo, &g, &st, a);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.msg[1], "\tbbbbbbbbbb");
    sift_arena_free(a);
}

static void
test_parse_multiline_configured_pattern(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(65536);
    struct sift_multiline_opts mo;
    sift_multiline_opts_init(&mo);
    /* Filebeat's usual: every line not starting with a date continues. */
    mo.pattern = "^\\d{4}-\\d{2}-\\d{2}";
    mo.negate = true;
    struct got g;
    struct sift_parse_stats st;
    run("2026-11-22 11:00:00 first\nsecond\n  third\n2026-11-22 11:00:01 x\n",
        SIFT_PARSE_TEXT, &mo, &g, &st, a);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.msg[0], "2026-11-22 11:00:00 first\nsecond\n  third");
    /* Without negate: the matching lines continue (here: none of these). */
    mo.pattern = "^>>";
    mo.negate = false;
    run("2026-11-22 11:00:00 first\n\tindented\n>> more\n", SIFT_PARSE_TEXT,
        &mo, &g, &st, a);
    assert_int_equal(g.n, 2); /* the pattern replaces the built-in rules */
    assert_string_equal(g.msg[1], "\tindented\n>> more");
    /* A pattern that does not compile is a config error with a reason. */
    struct sift_multiline *m = NULL;
    char why[160];
    mo.pattern = "(unclosed";
    assert_int_equal(sift_multiline_new(&mo, &m, why, sizeof(why)),
                     SIFT_EINVAL);
    assert_null(m);
    assert_non_null(strstr(why, "ingest.multiline_pattern"));
    sift_arena_free(a);
}

/* Filebeat without a multiline setting: one JSON event per line. */
static void
test_parse_multiline_json_events_of_one_stream(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(65536);
    struct sift_multiline_opts mo;
    sift_multiline_opts_init(&mo);
    struct got g;
    struct sift_parse_stats st;
#define FB(ts, file, msg)                                                      \
    "{\"@timestamp\":\"2026-11-22T11:00:" ts "Z\",\"host\":{\"name\":"         \
    "\"web-1\"},\"log\":{\"file\":{\"path\":\"" file "\"}},\"message\":\"" msg \
    "\"}\n"
    run(FB("00.000", "/var/log/app.log", "ERROR Request failed")
            FB("00.001", "/var/log/app.log", "\\tat com.acme.A.b(A.java:1)")
                FB("00.002", "/var/log/app.log", "\\tat com.acme.C.d(C.java:2)")
        /* another file of the same host: never joined */
        FB("00.003", "/var/log/other.log", "\\tat other.X(X.java:3)")
        /* back to app.log, but after another stream: not joined either */
        FB("00.004", "/var/log/app.log", "\\tat com.acme.E.f(E.java:4)")
        /* the same stream, 9 s later: too far apart */
        FB("09.000", "/var/log/app.log", "\\tat com.acme.G.h(G.java:5)"),
        SIFT_PARSE_JSON, &mo, &g, &st, a);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.msg[0], "ERROR Request failed\n"
                                  "\tat com.acme.A.b(A.java:1)\n"
                                  "\tat com.acme.C.d(C.java:2)");
    assert_int_equal(st.n_joined, 2);
    assert_string_equal(g.msg[1], "\tat other.X(X.java:3)");
    assert_string_equal(g.msg[2], "\tat com.acme.E.f(E.java:4)");
    assert_string_equal(g.msg[3], "\tat com.acme.G.h(G.java:5)");
    /* rsyslog's msg property starts with one space on every message:
     * not indentation, nothing joins. */
    run("{\"host\":\"web-01\",\"message\":\" accepted n0\"}\n"
        "{\"host\":\"web-01\",\"message\":\" accepted n1\"}\n",
        SIFT_PARSE_JSON, &mo, &g, &st, a);
    assert_int_equal(g.n, 2);
    /* A JSON event with a level of its own that differs is not a
     * continuation of an error, whatever its message looks like. */
    run("{\"message\":\"boom\",\"log.level\":\"error\"}\n"
        "{\"message\":\"  indented info\",\"log.level\":\"info\"}\n",
        SIFT_PARSE_JSON, &mo, &g, &st, a);
    assert_int_equal(g.n, 2);
    sift_arena_free(a);
}

static void
test_parse_multiline_array_join(void **state)
{
    (void)state;
    struct sift_arena *a = sift_arena_new(65536);
    struct sift_multiline_opts mo;
    sift_multiline_opts_init(&mo);
    struct sift_multiline *m = NULL;
    assert_int_equal(sift_multiline_new(&mo, &m, NULL, 0), SIFT_OK);
    struct sift_event evs[6];
    const char *msgs[] = {"boom",   "\tat a", "\tat b",
                          "\tat c", "start",  "\tat d"};
    const char *streams[] = {"kafka/logs/0", "kafka/logs/0", "kafka/logs/0",
                             "kafka/logs/1", "kafka/logs/1", "kafka/logs/1"};
    uint8_t flags[6] = {0, SIFT_ML_UNTIMED, 0, 0, 0, SIFT_ML_KEEP};
    for (int i = 0; i < 6; i++) {
        memset(&evs[i], 0, sizeof(evs[i]));
        evs[i].ts_ns = RECV + i;
        evs[i].msg = msgs[i];
        evs[i].msg_len = (uint32_t)strlen(msgs[i]);
    }
    uint32_t where[6];
    size_t joined = 0;
    evs[1].ts_ns = RECV + INT64_C(60) * 1000000000; /* arrival, not its own */
    size_t n =
        sift_multiline_join(m, evs, 6, streams, flags, a, where, &joined);
    /* "\tat c" is on another partition; "\tat d" must stay whole. */
    assert_int_equal(n, 4);
    assert_int_equal(joined, 2);
    assert_int_equal(evs[0].msg_len, 16);
    assert_memory_equal(evs[0].msg, "boom\n\tat a\n\tat b", 16);
    assert_memory_equal(evs[1].msg, "\tat c", 5);
    assert_memory_equal(evs[3].msg, "\tat d", 5);
    uint32_t want[6] = {0, 0, 0, 1, 2, 3};
    assert_memory_equal(where, want, sizeof(want));
    /* Disabled or absent: unchanged. */
    assert_int_equal(
        sift_multiline_join(NULL, evs, n, NULL, NULL, a, NULL, NULL), n);
    sift_multiline_free(m);
    sift_arena_free(a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_multiline_java_trace_in_a_text_body),
        cmocka_unit_test(test_parse_multiline_python_go_and_edges),
        cmocka_unit_test(test_parse_multiline_bounds_never_drop),
        cmocka_unit_test(test_parse_multiline_configured_pattern),
        cmocka_unit_test(test_parse_multiline_json_events_of_one_stream),
        cmocka_unit_test(test_parse_multiline_array_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
