/*
 * bench_parse.c - ns per event for the parse stage, against jansson.
 *
 * Inputs: the three Filebeat records of docs/internals/wire-formats.md
 * section 2.4 (embedded below) and the loghub-2k lines of ten systems (read
 * from tests/data/loghub-2k when present).  For each input set it reports
 * sift_parse_event() (whole event: tokenize, flatten, timestamp, level)
 * and, for JSON, jansson's json_loadb() DOM alone (which does less work:
 * no flattening, no timestamp parsing).  Each measurement runs for about
 * BENCH_SECONDS and at most a bounded number of rounds, so the whole run
 * stays well under a minute.
 *
 * The template stage (what siftd runs next on the loop thread for every
 * event) is measured on the loghub lines shipped as Filebeat events
 * (message = the raw line): "before" is the miner alone on the whole
 * message (sift_drain_add, the stage before header inference), "after"
 * is sift_mine_event (header split learned per file, miner on the body,
 * header fields added).  Both run over warm templates (every line was
 * seen once), which is what a steady stream costs; the stage's ns/event
 * is (parse + stage) - parse, measured side by side in one run, in
 * thread CPU time.
 *
 * Usage: bench_parse [seconds-per-case]   (default 1)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/drain.h"
#include "sift/mine.h"
#include "sift/parse.h"

static const char *const filebeat[] = {
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
    "\"web-01\",\"type\":\"filebeat\",\"version\":\"8.13.4\"}}",
    "{\"@timestamp\":\"2024-05-14T09:21:09.981Z\",\"@metadata\":{\"beat\":"
    "\"filebeat\",\"type\":\"_doc\",\"version\":\"8.13.4\"},\"log\":{"
    "\"offset\":1048576,\"file\":{\"path\":\"/var/log/orders/app.log\"},"
    "\"flags\":[\"multiline\"]},\"message\":\"2024-05-14 09:21:09,977 ERROR "
    "[http-nio-8080-exec-7] c.a.orders.PaymentController - Payment failed "
    "for order A-1029\\njava.lang.IllegalStateException: card declined\\n\\tat"
    " com.acme.orders.PaymentService.charge(PaymentService.java:88)\\n\\tat "
    "com.acme.orders.PaymentController.pay(PaymentController.java:41)\\n\\tat"
    " java.base/java.lang.Thread.run(Thread.java:840)\\nCaused by: "
    "java.net.SocketTimeoutException: Read timed out\\n\\tat java.base/"
    "sun.nio.ch.NioSocketImpl.timedRead(NioSocketImpl.java:288)\\n\\t... 12 "
    "more\",\"input\":{\"type\":\"filestream\"},\"fields\":{\"env\":\"prod\","
    "\"service\":\"orders\"},\"ecs\":{\"version\":\"8.0.0\"},\"host\":{"
    "\"name\":\"app-02\"},\"agent\":{\"ephemeral_id\":\"9a0d3c52-6a2f-4c8e-"
    "b1de-2f6f1c9b7a10\",\"id\":\"5f7d2c1e-0b3a-4e2d-9c8b-1a2b3c4d5e6f\","
    "\"name\":\"app-02\",\"type\":\"filebeat\",\"version\":\"8.13.4\"}}",
    "{\"@timestamp\":\"2024-05-14T09:21:10.118Z\",\"@metadata\":{\"beat\":"
    "\"filebeat\",\"type\":\"_doc\",\"version\":\"8.13.4\"},\"ts\":"
    "\"2024-05-14T09:21:10.004Z\",\"level\":\"warn\",\"logger\":\"checkout\","
    "\"message\":\"retrying payment\",\"order_id\":\"A-1029\",\"attempt\":2,"
    "\"latency_ms\":812.5,\"log\":{\"offset\":20931,\"file\":{\"path\":"
    "\"/var/log/checkout/app.ndjson\"}},\"input\":{\"type\":\"filestream\"},"
    "\"ecs\":{\"version\":\"8.0.0\"},\"host\":{\"name\":\"app-03\"},\"agent\":"
    "{\"ephemeral_id\":\"c3e1f6a8-7d2b-4f90-a5c4-0e9d8b7a6f51\",\"id\":"
    "\"e2d4c6b8-a0f1-4e3d-8c5b-7a9e1f3d5b70\",\"name\":\"app-03\",\"type\":"
    "\"filebeat\",\"version\":\"8.13.4\"}}",
};

static const char *const systems[] = {
    "Apache", "BGL",     "HDFS",      "HPC",   "Hadoop",
    "Linux",  "OpenSSH", "OpenStack", "Spark", "Zookeeper"};

struct lines {
    char *buf;
    const char **p;
    size_t *len;
    size_t n;
};

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loads up to max lines of a file (the buffer is kept for the pointers). */
static int
load_lines(const char *path, size_t max, struct lines *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return -1;
    }
    long sz = ftell(f);
    if (sz <= 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    out->buf = malloc((size_t)sz);
    out->p = calloc(max, sizeof(*out->p));
    out->len = calloc(max, sizeof(*out->len));
    out->n = 0;
    if (!out->buf || !out->p || !out->len ||
        fread(out->buf, 1, (size_t)sz, f) != (size_t)sz) {
        fclose(f);
        return -1;
    }
    fclose(f);
    size_t pos = 0;
    while (pos < (size_t)sz && out->n < max) {
        char *nl = memchr(out->buf + pos, '\n', (size_t)sz - pos);
        size_t e = nl ? (size_t)(nl - out->buf) : (size_t)sz;
        if (e > pos) {
            out->p[out->n] = out->buf + pos;
            out->len[out->n] = e - pos;
            out->n++;
        }
        pos = e + 1;
    }
    return 0;
}

/* Runs sift over the set until budget seconds pass; returns ns/event. */
static double
run_sift(const struct sift_parse_opts *o, const char *const *p,
         const size_t *len, size_t n, double budget, size_t *bad)
{
    struct sift_arena *a = sift_arena_new(1 << 20);
    struct sift_event ev;
    size_t events = 0;
    double t0 = now_s(), t;
    *bad = 0;
    for (unsigned round = 0; round < 1000000; round++) {
        for (size_t i = 0; i < n; i++) {
            if (sift_parse_event(o, p[i], len[i], 0, a, &ev, NULL) != 0)
                (*bad)++;
            events++;
        }
        sift_arena_reset(a);
        t = now_s();
        if (t - t0 > budget)
            break;
    }
    t = now_s();
    sift_arena_free(a);
    return (t - t0) * 1e9 / (double)events;
}

/* CPU seconds of this thread: the stage comparison is not thrown off by
 * other work on a shared machine the way wall time is. */
static double
cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Parse + template stage over the set (stage 0: parse only, 1: miner on
 * the whole message, 2: header split + miner + fields); ns/event.  The
 * first round (cold templates) is not timed.
 */
static double
run_stage(const struct sift_parse_opts *o, const char *const *p,
          const size_t *len, size_t n, double budget, int stage)
{
    struct sift_arena *a = sift_arena_new(1 << 20);
    struct sift_event ev;
    struct sift_drain *d = NULL;
    struct sift_mine *m = NULL;
    sift_drain_new(NULL, &d);
    sift_mine_new(NULL, &m);
    size_t events = 0;
    double t0 = 0, t;
    for (unsigned round = 0; round < 1000000; round++) {
        if (round == 1)
            t0 = cpu_s();
        for (size_t i = 0; i < n; i++) {
            if (sift_parse_event(o, p[i], len[i], 0, a, &ev, NULL) != 0)
                continue;
            if (stage == 1)
                ev.template_id = sift_drain_add(d, ev.msg, ev.msg_len, 1);
            else if (stage == 2)
                (void)sift_mine_event(m, &ev, a, NULL);
            if (round)
                events++;
        }
        sift_arena_reset(a);
        t = cpu_s();
        if (round && t - t0 > budget)
            break;
    }
    t = cpu_s();
    sift_drain_free(d);
    sift_mine_free(m);
    sift_arena_free(a);
    return (t - t0) * 1e9 / (double)events;
}

static double
run_jansson(const char *const *p, const size_t *len, size_t n, double budget)
{
    size_t events = 0;
    double t0 = now_s(), t;
    for (unsigned round = 0; round < 1000000; round++) {
        for (size_t i = 0; i < n; i++) {
            json_error_t e;
            json_t *j = json_loadb(p[i], len[i], 0, &e);
            if (j)
                json_decref(j);
            events++;
        }
        t = now_s();
        if (t - t0 > budget)
            break;
    }
    t = now_s();
    return (t - t0) * 1e9 / (double)events;
}

int
main(int argc, char **argv)
{
    double budget = argc > 1 ? strtod(argv[1], NULL) : 1.0;
    struct sift_parse_opts o;
    size_t bad;
    if (budget <= 0 || budget > 5)
        budget = 1.0;

    sift_parse_opts_init(&o);
    if (sift_parse_opts_compile(&o, NULL) != 0)
        return 1;

    printf("%-28s %10s %10s %8s\n", "input", "sift ns/ev", "jansson", "bytes");
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(filebeat[i]);
        double s = run_sift(&o, &filebeat[i], &l, 1, budget, &bad);
        double j = run_jansson(&filebeat[i], &l, 1, budget);
        printf("filebeat record %zu%-12s %10.0f %10.0f %8zu%s\n", i + 1, "", s,
               j, l, bad ? "  (errors!)" : "");
    }

    char path[512];
    for (size_t k = 0; k < sizeof(systems) / sizeof(systems[0]); k++) {
        struct lines ls = {0};
        snprintf(path, sizeof(path), "%s/tests/data/loghub-2k/%s/%s_2k.log",
                 SIFT_SOURCE_DIR, systems[k], systems[k]);
        if (load_lines(path, 2000, &ls) != 0) {
            printf("%-28s (missing %s)\n", systems[k], path);
        } else {
            size_t bytes = 0;
            for (size_t i = 0; i < ls.n; i++)
                bytes += ls.len[i];
            double s = run_sift(&o, ls.p, ls.len, ls.n, budget / 2, &bad);
            printf("loghub %-21s %10.0f %10s %8zu%s\n", systems[k], s, "-",
                   ls.n ? bytes / ls.n : 0, bad ? "  (errors!)" : "");
        }
        free(ls.buf);
        free(ls.p);
        free(ls.len);
    }

    /* The template stage on Filebeat events carrying the raw lines. */
    printf("\ntemplate stage on Filebeat events (message = raw loghub line), "
           "CPU ns/event over warm templates\n");
    printf("%-16s %8s %14s %14s\n", "system", "parse", "before (drain)",
           "after (mine)");
    double sum_b = 0, sum_a = 0;
    int n_sys = 0;
    for (size_t k = 0; k < sizeof(systems) / sizeof(systems[0]); k++) {
        struct lines ls = {0};
        snprintf(path, sizeof(path), "%s/tests/data/loghub-2k/%s/%s_2k.log",
                 SIFT_SOURCE_DIR, systems[k], systems[k]);
        if (load_lines(path, 2000, &ls) != 0)
            continue;
        char **evs = malloc(ls.n * sizeof(*evs));
        const char **ev = malloc(ls.n * sizeof(*ev));
        size_t *evl = malloc(ls.n * sizeof(*evl));
        struct sift_buf b = SIFT_BUF_INIT;
        for (size_t i = 0; i < ls.n; i++) {
            sift_buf_reset(&b);
            sift_buf_appendf(&b,
                             "{\"@timestamp\":\"2024-05-14T09:21:07.412Z\","
                             "\"log\":{\"offset\":%zu,\"file\":{\"path\":"
                             "\"/var/log/%s.log\"}},\"message\":",
                             i * 100, systems[k]);
            sift_buf_put_json_str(&b, ls.p[i], ls.len[i]);
            sift_buf_appendf(&b, ",\"input\":{\"type\":\"filestream\"},"
                                 "\"host\":{\"name\":\"web-01\"}}");
            evl[i] = b.len;
            evs[i] = strndup(b.data, b.len);
            ev[i] = evs[i];
        }
        sift_buf_cleanup(&b);
        sift_parse_opts_cleanup(&o);
        sift_parse_opts_init(&o);
        o.format = SIFT_PARSE_JSON;
        if (sift_parse_opts_compile(&o, NULL) != 0)
            return 1;
        double p0 = run_stage(&o, ev, evl, ls.n, budget / 2, 0);
        double p1 = run_stage(&o, ev, evl, ls.n, budget / 2, 1);
        double p2 = run_stage(&o, ev, evl, ls.n, budget / 2, 2);
        printf("%-16s %8.0f %14.0f %14.0f\n", systems[k], p0, p1 - p0, p2 - p0);
        sum_b += p1 - p0;
        sum_a += p2 - p0;
        n_sys++;
        for (size_t i = 0; i < ls.n; i++)
            free(evs[i]);
        free(evs);
        free(ev);
        free(evl);
        free(ls.buf);
        free(ls.p);
        free(ls.len);
    }
    if (n_sys)
        printf("%-16s %8s %14.0f %14.0f\n", "mean", "", sum_b / n_sys,
               sum_a / n_sys);
    sift_parse_opts_cleanup(&o);
    return 0;
}
