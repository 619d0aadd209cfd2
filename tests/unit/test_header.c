/*
 * test_header.c - unit tests of header inference (src/anomaly/header.c):
 * the timestamp recognizer, the slot types of one line, the shape learned
 * per source, partial matches, JSON in message, re-mining after a shape
 * change and the bound on sources.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sift/buf.h"
#include "sift/error.h"
#include "sift/header.h"

/* SIFT_STATIC in header.c. */
size_t ts_span(const char *s, size_t len);

static size_t
span(const char *s)
{
    return ts_span(s, strlen(s));
}

static void
test_header_timestamp_layouts(void **state)
{
    (void)state;
    /* Each string starts with a timestamp of the length given. */
    static const struct {
        const char *s;
        size_t n;
    } yes[] = {
        {"2015-10-18 18:01:47,978 INFO", 23},
        {"2024-03-01T10:00:00.123456+01:00 app", 32},
        {"2024-03-01T10:00:00Z x", 20},
        {"Jun 14 15:16:01 combo", 15},
        {"Jul  1 09:00:55 host", 15},
        {"Sun Dec 04 04:47:44 2005] [notice]", 24},
        {"2005-06-03-15.42.50.675872 R02", 26},
        {"2005.06.03 R02-M1", 10},
        {"081109 203615 148 INFO", 13},
        {"03-17 16:13:38.811  1702", 18},
        {"2016-09-28 04:30:30, Info", 20},
        {"1117838570 2005.06.03", 10},
        {"1709251200123 x", 13},
        {"20171223-22:15:29:606|Step", 21},
        {"10/Oct/2000:13:55:36 -0700] GET", 26},
        {"Jun 14, 2019 3:45:12 PM CET x", 27},
        {"1/2/2019 3:04:05 PM x", 19},
        {"12:00:00.123 [main] INFO", 12},
        {"17/06/09 20:10:40 INFO", 17},
        {"10.30 16:49:06] chrome.exe", 14},
        {"2024/03/01 00:00:02 [notice]", 19},
        {"I0301 00:00:02.825001 x", 0}, /* glog's first token is no time */
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (span(yes[i].s) != yes[i].n)
            fail_msg("\"%s\": span %zu, want %zu", yes[i].s, span(yes[i].s),
                     yes[i].n);
    }
    /* Not timestamps: addresses, versions, plain numbers, pids after a
     * full timestamp. */
    static const char *const no[] = {
        "10.0.0.1 port", "1.4.1: restart", "134681 node-246", "2019 was a year",
        "12:30 meeting", "99:99:99 x",     "node-17 action"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        if (span(no[i]) != 0)
            fail_msg("\"%s\" is no timestamp, got span %zu", no[i],
                     span(no[i]));
    }
    assert_int_equal(span("2024-03-01 00:35:20.932626    2000 main.go"), 26);
}

static void
assert_slots(const char *line, const char *want)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_header_slots(line, strlen(line), &b);
    if (strcmp(sift_buf_cstr(&b), want) != 0)
        fail_msg("\"%s\": slots %s, want %s", line, b.data, want);
    sift_buf_cleanup(&b);
}

static void
test_header_slot_types(void **state)
{
    (void)state;
    assert_slots("081109 203615 148 INFO dfs.DataNode$PacketResponder: "
                 "PacketResponder 1 for block",
                 "TNLCWNWW");
    assert_slots("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok",
                 "TLWW");
    assert_slots("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication "
                 "failure;",
                 "TWCWW");
    assert_slots("03-17 16:13:38.811  1702  2395 D WindowManager: freeze",
                 "TNNlCW");
    assert_slots("2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:"
                 "0:0:0:0:2181:FastLeaderElection@774] - Notification",
                 "TDLBDW");
    assert_slots("20171223-22:15:29:606|Step_LSC|30002312|onStand 3579",
                 "TDWDNDWN");
    assert_slots("I0301 00:00:02.825001   10824 main.go:232] workerEnv ok",
                 "WTNCWW");
    assert_slots("connection reset by peer", "WWWW");
    assert_slots("", "");
}

/* Feeds line through h for source src; returns the body. */
static struct sift_header_parts
feed(struct sift_header *h, uint64_t src, const char *line)
{
    struct sift_header_parts p;
    sift_header_split(h, src, line, strlen(line), &p, NULL, NULL);
    return p;
}

static void
assert_body(const char *line, const struct sift_header_parts *p,
            const char *want)
{
    size_t n = strlen(want);
    if (p->body_len != n || memcmp(line + p->body_off, want, n) != 0)
        fail_msg("\"%s\": body \"%.*s\", want \"%s\"", line, (int)p->body_len,
                 line + p->body_off, want);
}

static void
assert_part(const char *line, uint32_t off, uint32_t len, const char *want)
{
    if (!want) {
        assert_int_equal(len, 0);
        return;
    }
    if (len != strlen(want) || memcmp(line + off, want, len) != 0)
        fail_msg("part \"%.*s\", want \"%s\"", (int)len, line + off, want);
}

static void
assert_shape(struct sift_header *h, uint64_t src, const char *want)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_header_describe(h, src, &b);
    assert_string_equal(sift_buf_cstr(&b), want);
    sift_buf_cleanup(&b);
}

static const char *const messages[] = {
    "Starting service: version 3",
    "worker 3 ready",
    "connection from 10.0.0.7 accepted",
    "cache miss for key user:42",
    "GET /api/cart/17 200 in 12 ms",
    "disk usage at 81 percent",
    "[instance: 7] VM Started",
    "retrying in 5 seconds",
    "user alice logged out",
    "shutdown requested by admin",
};
#define N_MSG (sizeof(messages) / sizeof(messages[0]))

/*
 * Two sources with different layouts, interleaved: each learns its own
 * shape, strips exactly its header, and turns the header's parts into
 * level, logger, pid and thread id.
 */
static void
test_header_learns_per_source(void **state)
{
    (void)state;
    static const char *const levels[] = {"INFO", "WARN", "ERROR", "DEBUG"};
    struct sift_header *h;
    assert_int_equal(sift_header_new(NULL, &h), SIFT_OK);
    char a[256], b[256];
    struct sift_header_parts pa, pb;
    for (unsigned i = 0; i < 200; i++) {
        const char *m = messages[(i * 7) % N_MSG];
        snprintf(a, sizeof(a),
                 "2024-03-01 10:%02u:%02u,%03u - app.db - %s - %s", i / 60 % 60,
                 i % 60, i, levels[i % 4], m);
        snprintf(b, sizeof(b), "03-01 10:%02u:%02u.%03u %5u %5u %c Tag%u: %s",
                 i / 60 % 60, i % 60, i, 1000 + i % 3, 2000 + i % 5,
                 "IWED"[i % 4], i % 3, m);
        pa = feed(h, 1, a);
        pb = feed(h, 2, b);
        /* The very first line is split by its own shape, where
         * "Starting service:" looks like a logger (re-mined later, see
         * test_header_remine_on_shape_change). */
        if (i == 0)
            continue;
        assert_body(a, &pa, m);
        assert_body(b, &pb, m);
    }
    assert_shape(h, 1, "TDWDLD");
    assert_shape(h, 2, "TNNlC");
    assert_int_equal(sift_header_sources(h), 2);
    /* The last lines' parts. */
    assert_string_equal(pa.level, "debug"); /* i = 199: DEBUG */
    assert_part(a, pa.logger_off, pa.logger_len, "app.db");
    assert_part(a, pa.pid_off, pa.pid_len, NULL);
    assert_string_equal(pb.level, "debug"); /* 'D' */
    assert_part(b, pb.logger_off, pb.logger_len, "Tag1");
    assert_part(b, pb.pid_off, pb.pid_len, "1001");
    assert_part(b, pb.tid_off, pb.tid_len, "2004");
    assert_int_equal(pa.json, 0);
    sift_header_free(h);
}

/*
 * A line that does not fit its source's shape loses only the part it
 * shares with it that is a header by itself (here the timestamp); a
 * source of plain sentences has no header at all.
 */
static void
test_header_partial_and_none(void **state)
{
    (void)state;
    struct sift_header *h;
    assert_int_equal(sift_header_new(NULL, &h), SIFT_OK);
    char line[256];
    for (unsigned i = 0; i < 100; i++) {
        snprintf(line, sizeof(line), "Mar  1 10:00:%02u web-1 sshd[%u]: %s",
                 i % 60, 100 + i, messages[i % N_MSG]);
        struct sift_header_parts p = feed(h, 7, line);
        assert_body(line, &p, messages[i % N_MSG]);
        assert_part(line, p.logger_off, p.logger_len, "sshd");
        char pid[16];
        snprintf(pid, sizeof(pid), "%u", 100 + i);
        assert_part(line, p.pid_off, p.pid_len, pid);
    }
    assert_shape(h, 7, "TWC");
    const char *odd = "Mar  1 10:01:00 web-1 syslogd 1.4.1: restart.";
    struct sift_header_parts p = feed(h, 7, odd);
    assert_body(odd, &p, "web-1 syslogd 1.4.1: restart.");

    for (unsigned i = 0; i < 100; i++) {
        p = feed(h, 8, messages[i % N_MSG]);
        assert_int_equal(p.body_off, 0);
        assert_int_equal(p.body_len, strlen(messages[i % N_MSG]));
        assert_int_equal(p.header_slots, 0);
        assert_null(p.level);
    }
    assert_shape(h, 8, "-");
    /* A header alone (nothing after it) leaves the line whole. */
    p = feed(h, 7, "Mar  1 10:02:00 web-1 sshd[4]:");
    assert_int_equal(p.body_off, 0);
    sift_header_free(h);
}

/*
 * A burst of one event first (a homogeneous start) does not fix the
 * shape: lines are sampled one per shape, so the columns are those every
 * kind of line shares.
 */
static void
test_header_skewed_start(void **state)
{
    (void)state;
    struct sift_header *h;
    assert_int_equal(sift_header_new(NULL, &h), SIFT_OK);
    char line[256];
    for (unsigned i = 0; i < 300; i++) {
        /* HPC-like: id node component state epoch flag message. */
        const char *m = i < 150 ? "boot  (command 1902)" : messages[i % N_MSG];
        snprintf(line, sizeof(line), "%u node-%u action start %u 1 %s",
                 2568643 + i, i % 40, 1074119817 + i, m);
        struct sift_header_parts p = feed(h, 3, line);
        if (i >= 150)
            assert_body(line, &p, m);
    }
    assert_shape(h, 3, "NWWWTN");
    sift_header_free(h);
}

/* A message that is a JSON object: the body is its message value, the
 * level and logger come from its keys, and a header inside the message
 * is learned like any line's. */
static void
test_header_json_in_message(void **state)
{
    (void)state;
    struct sift_header *h;
    assert_int_equal(sift_header_new(NULL, &h), SIFT_OK);
    char line[512];
    struct sift_header_parts p;
    for (unsigned i = 0; i < 80; i++) {
        snprintf(
            line, sizeof(line),
            "{\"ts\":\"2024-03-01T10:00:%02uZ\",\"level\":\"warning\","
            "\"logger\":\"db.pool\",\"pid\":%u,\"extra\":{\"a\":[1,\"}\"]},"
            "\"msg\":\"2024-03-01 10:00:%02u INFO %s\"}",
            i % 60, 300 + i, i % 60, messages[i % N_MSG]);
        p = feed(h, 9, line);
        assert_int_equal(p.json, 1);
        if (i > 0) /* the first line: see test_header_learns_per_source */
            assert_body(line, &p, messages[i % N_MSG]);
        assert_string_equal(p.level, "warn");
        assert_part(line, p.logger_off, p.logger_len, "db.pool");
    }
    assert_part(line, p.pid_off, p.pid_len, "379");
    /* Not an object with a string message: a plain line. */
    const char *bad = "{\"msg\": 42}";
    p = feed(h, 10, bad);
    assert_int_equal(p.json, 0);
    assert_int_equal(p.body_len, strlen(bad));
    bad = "{\"msg\":\"unterminated";
    p = feed(h, 10, bad);
    assert_int_equal(p.json, 0);
    sift_header_free(h);
}

struct remined {
    unsigned calls;
    char last_body[128];
    uint32_t last_tag;
};

static uint32_t
remine_cb(void *arg, const char *line, size_t len,
          const struct sift_header_parts *p, uint32_t tag, uint32_t weight)
{
    struct remined *r = arg;
    (void)len;
    assert_true(weight >= 1);
    r->calls++;
    snprintf(r->last_body, sizeof(r->last_body), "%.*s", (int)p->body_len,
             line + p->body_off);
    r->last_tag = tag;
    return tag + 1000;
}

/*
 * The first line of a source is split by its own shape ("T L W C":
 * "Starting service:" looks like a logger); the second line shows that
 * only "T L" is shared, and the first line is handed back with its new
 * body and its tag.
 */
static void
test_header_remine_on_shape_change(void **state)
{
    (void)state;
    struct sift_header *h;
    assert_int_equal(sift_header_new(NULL, &h), SIFT_OK);
    struct remined r = {0};
    const char *l1 = "2024-03-01 10:00:00 INFO Starting service: version 3";
    const char *l2 = "2024-03-01 10:00:01 INFO worker 3 ready";
    struct sift_header_parts p;
    sift_header_split(h, 5, l1, strlen(l1), &p, remine_cb, &r);
    assert_body(l1, &p, "version 3");
    sift_header_tag_last(h, 41);
    assert_int_equal(r.calls, 0);
    sift_header_split(h, 5, l2, strlen(l2), &p, remine_cb, &r);
    assert_body(l2, &p, "worker 3 ready");
    assert_int_equal(r.calls, 1);
    assert_string_equal(r.last_body, "Starting service: version 3");
    assert_int_equal(r.last_tag, 41);
    sift_header_free(h);
}

static void
test_header_sources_bounded(void **state)
{
    (void)state;
    struct sift_header_cfg cfg = {2, 0, 0};
    struct sift_header *h;
    assert_int_equal(sift_header_new(&cfg, &h), SIFT_OK);
    const char *l = "2024-03-01 10:00:00 INFO hello there";
    for (uint64_t src = 1; src <= 5; src++)
        feed(h, src, l);
    assert_int_equal(sift_header_sources(h), 2);
    assert_shape(h, 1, "-"); /* forgotten */
    assert_shape(h, 5, "TL");
    sift_header_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_timestamp_layouts),
        cmocka_unit_test(test_header_slot_types),
        cmocka_unit_test(test_header_learns_per_source),
        cmocka_unit_test(test_header_partial_and_none),
        cmocka_unit_test(test_header_skewed_start),
        cmocka_unit_test(test_header_json_in_message),
        cmocka_unit_test(test_header_remine_on_shape_change),
        cmocka_unit_test(test_header_sources_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
