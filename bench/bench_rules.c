/*
 * bench_rules.c - CPU of one evaluation round of 1,000 alert rules over N
 * stored events (default 10M; issue 25's target: 1,000 rules at 10 s
 * intervals over 10M events).  Not a test.
 *
 * Usage: bench_rules [--events N] [--rules R] [--hours H] [--rounds K]
 *                    [--seg-events M]
 *
 * Events are generated on the fly, never read from a file: they cycle
 * through the loghub-2k structured lines of the ten systems (message,
 * level, service = system name), with a keyword host (one of 50) and a
 * number duration_ms, timestamps spread evenly over H hours (default 24).
 * They are built into segments of M events (default 1M) held in memory,
 * the way the store holds them once flushed.
 *
 * The R rules (default 1,000) mix what users write, each with its own
 * service, level, word or threshold: counts of a service and level (5 m
 * window), counts of a word (5 m), error ratios (10 m), p99 of
 * duration_ms (5 m), counts grouped by host (5 m), absence (15 m),
 * absence per service (15 m, two windows read), avg over everything
 * (1 h).  A round evaluates each rule once at the end of the data (the
 * engine's sift_rule_eval() on the worker, over the same segments), one
 * rule after another on one thread.  Printed: CPU seconds per round (the
 * median of K rounds, default 5), per rule kind, and the share of one
 * core that rounds every 10 s take.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "loghub_load.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/log.h"
#include "sift/rule.h"
#include "sift/segment.h"

#define MAX_LINES 20000
#define HOUR_NS (INT64_C(3600) * SIFT_NS_PER_SEC)
#define T0_NS (INT64_C(1714521600) * SIFT_NS_PER_SEC) /* 2024-05-01 */

static const char *const systems[] = {
    "Apache", "BGL",     "HDFS",      "HPC",   "Hadoop",
    "Linux",  "OpenSSH", "OpenStack", "Spark", "Zookeeper"};
#define N_SYS 10

struct line {
    char *msg, *level;
    int sys;
};

static struct line lines[MAX_LINES];
static size_t n_lines;
static char svc_name[N_SYS][16];
/* Per system: the level of its first line (the rules ask for it). */
static char *sys_level[N_SYS];

static void
load_lines(const char *root)
{
    for (int s = 0; s < N_SYS; s++) {
        size_t k = 0;
        for (; systems[s][k] && k < sizeof(svc_name[s]) - 1; k++)
            svc_name[s][k] = (char)(systems[s][k] | 0x20);
        char path[1024];
        snprintf(path, sizeof(path), "%s/loghub-2k/%s/%s_2k.log_structured.csv",
                 root, systems[s], systems[s]);
        size_t len;
        char *text = lh_read_file(path, &len);
        if (!text) {
            fprintf(stderr, "cannot open %s\n", path);
            exit(1);
        }
        const char *p = text;
        int c_level = -1, c_content = -1, col = 0, eol = 0;
        while (!eol && *p) { /* header */
            char *h = lh_csv_field(&p, &eol);
            if (!strcmp(h, "Level"))
                c_level = col;
            if (!strcmp(h, "Content"))
                c_content = col;
            sift_free(h);
            col++;
        }
        while (*p && n_lines < MAX_LINES) {
            char *level = NULL, *content = NULL;
            col = 0;
            eol = 0;
            while (!eol && *p) {
                char *f = lh_csv_field(&p, &eol);
                if (col == c_level)
                    level = f;
                else if (col == c_content)
                    content = f;
                else
                    sift_free(f);
                col++;
            }
            if (!content) {
                sift_free(level);
                continue;
            }
            struct line *l = &lines[n_lines++];
            l->msg = content;
            l->level = level ? level : sift_xstrdup("info");
            l->sys = s;
            if (!sys_level[s])
                sys_level[s] = l->level;
        }
        sift_free(text);
    }
}

/* Event i of n over `hours`. */
static void
make_event(uint64_t i, uint64_t n, int hours, struct sift_event *ev,
           struct sift_field *f, char *host, char *dur)
{
    const struct line *l = &lines[(i * 7919) % n_lines];
    memset(ev, 0, sizeof(*ev));
    ev->ts_ns = T0_NS + (int64_t)((double)hours * (double)HOUR_NS * (double)i /
                                  (double)n);
    ev->msg = l->msg;
    ev->msg_len = (uint32_t)strlen(l->msg);
    int hl = snprintf(host, 16, "host-%02u", (unsigned)((i * 31) % 50));
    int dl = snprintf(dur, 16, "%u", (unsigned)(1 + (i * 2654435761u) % 997));
    const char *svc = svc_name[l->sys];
    f[0] = (struct sift_field){"level", l->level, 5, (uint32_t)strlen(l->level),
                               SIFT_FT_KEYWORD};
    f[1] = (struct sift_field){"service", svc, 7, (uint32_t)strlen(svc),
                               SIFT_FT_KEYWORD};
    f[2] = (struct sift_field){"host", host, 4, (uint32_t)hl, SIFT_FT_KEYWORD};
    f[3] = (struct sift_field){"duration_ms", dur, 11, (uint32_t)dl,
                               SIFT_FT_NUMBER};
    ev->fields = f;
    ev->n_fields = 4;
}

enum kind {
    K_COUNT,
    K_WORD,
    K_RATIO,
    K_P99,
    K_GROUP,
    K_ABSENT,
    K_ABSENT_GROUP,
    K_AVG,
    N_KINDS
};

static const char *const kind_name[N_KINDS] = {
    "count service+level (5m)", "count word (5m)",          "ratio (10m)",
    "p99(duration_ms) (5m)",    "count by host (5m)",       "absent (15m)",
    "absent by service (15m)",  "avg(duration_ms) all (1h)"};

/* Out of every 20 rules: 8 counts, 3 words, 2 ratios, 2 p99, 2 group_by,
 * 1 absent, 1 absent per group, 1 avg. */
static enum kind
kind_of(unsigned i)
{
    static const enum kind mix[20] = {
        K_COUNT, K_COUNT, K_COUNT, K_COUNT,  K_COUNT,        K_COUNT, K_COUNT,
        K_COUNT, K_WORD,  K_WORD,  K_WORD,   K_RATIO,        K_RATIO, K_P99,
        K_P99,   K_GROUP, K_GROUP, K_ABSENT, K_ABSENT_GROUP, K_AVG};
    return mix[i % 20];
}

static struct sift_rule *
make_rule(unsigned i, const struct sift_rule_env *env)
{
    static const char *const words[] = {"error",  "failed",  "exception",
                                        "block",  "session", "connection",
                                        "closed", "timeout"};
    int s = (int)(i % N_SYS);
    const char *svc = svc_name[s];
    const char *lvl = sys_level[s] ? sys_level[s] : "info";
    char q[256], cond[64], extra[256] = "";
    const char *window = "5m";
    enum kind k = kind_of(i);
    switch (k) {
    case K_COUNT:
        snprintf(q, sizeof(q), "service:%s AND level:\\\"%s\\\"", svc, lvl);
        snprintf(cond, sizeof(cond), "count > %u", 50 + i);
        break;
    case K_WORD:
        snprintf(q, sizeof(q), "service:%s AND %s", svc, words[i % 8]);
        snprintf(cond, sizeof(cond), "count >= %u", 1 + i % 7);
        break;
    case K_RATIO:
        snprintf(q, sizeof(q), "service:%s AND level:\\\"%s\\\"", svc, lvl);
        snprintf(extra, sizeof(extra), ",\"denominator\":\"service:%s\"", svc);
        snprintf(cond, sizeof(cond), "ratio > 0.%02u", 5 + i % 90);
        window = "10m";
        break;
    case K_P99:
        snprintf(q, sizeof(q), "service:%s", svc);
        snprintf(cond, sizeof(cond), "p99(duration_ms) > %u", 500 + i);
        break;
    case K_GROUP:
        snprintf(q, sizeof(q), "level:\\\"%s\\\"", lvl);
        snprintf(extra, sizeof(extra), ",\"group_by\":\"host\"");
        snprintf(cond, sizeof(cond), "count > %u", 10 + i % 100);
        break;
    case K_ABSENT:
        snprintf(q, sizeof(q), "service:%s AND %s", svc, words[i % 8]);
        snprintf(cond, sizeof(cond), "absent");
        window = "15m";
        break;
    case K_ABSENT_GROUP:
        snprintf(q, sizeof(q), "level:\\\"%s\\\"", lvl);
        snprintf(extra, sizeof(extra), ",\"group_by\":\"service\"");
        snprintf(cond, sizeof(cond), "absent");
        window = "15m";
        break;
    case K_AVG:
    case N_KINDS:
        snprintf(q, sizeof(q), "*");
        snprintf(cond, sizeof(cond), "avg(duration_ms) > %u", 400 + i % 200);
        window = "1h";
        break;
    }
    char text[1024];
    snprintf(text, sizeof(text),
             "{\"name\":\"r%04u\",\"query\":\"%s\",\"condition\":\"%s\","
             "\"window\":\"%s\",\"interval\":\"10s\"%s}",
             i, q, cond, window, extra);
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    if (!o) {
        fprintf(stderr, "rule %u: %s: %s\n", i, text, jerr.text);
        exit(1);
    }
    struct sift_rule *r = NULL;
    char err[400];
    if (sift_rule_from_json(o, env, &r, err, sizeof(err)) < 0) {
        fprintf(stderr, "rule %u: %s\n", i, err);
        exit(1);
    }
    json_decref(o);
    return r;
}

static int64_t
cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * SIFT_NS_PER_SEC + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    uint64_t n = 10000000, seg_events = 1000000;
    unsigned n_rules = 1000;
    int hours = 24, rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seg-events") && i + 1 < argc)
            seg_events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rules") && i + 1 < argc)
            n_rules = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--hours") && i + 1 < argc)
            hours = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--events N] [--rules R] [--hours H] "
                    "[--rounds K] [--seg-events M]\n",
                    argv[0]);
            return 2;
        }
    }
    if (n == 0 || seg_events == 0 || n_rules == 0 || hours < 1 || rounds < 1 ||
        rounds > 100) {
        fprintf(stderr, "bad arguments\n");
        return 2;
    }
    sift_log_set_level(SIFT_LOG_ERROR);
    const char *root = getenv("SIFT_TEST_DATA");
    load_lines(root ? root : SIFT_SOURCE_DIR "/tests/data");

    /* ---- the store ---- */
    int64_t t0 = sift_clock_mono_ns();
    size_t n_segs = (size_t)((n + seg_events - 1) / seg_events);
    struct sift_segment **segs = sift_xcalloc(n_segs + 1, sizeof(*segs));
    struct sift_field fields[4];
    struct sift_event ev;
    char host[16], dur[16];
    size_t bytes = 0;
    for (size_t s = 0; s < n_segs; s++) {
        struct sift_segment_opts opts;
        sift_segment_opts_init(&opts);
        struct sift_segment_builder *b;
        if (sift_segment_builder_new(&opts, &b) < 0)
            return 1;
        uint64_t end = (s + 1) * seg_events < n ? (s + 1) * seg_events : n;
        for (uint64_t i = s * seg_events; i < end; i++) {
            make_event(i, n, hours, &ev, fields, host, dur);
            if (sift_segment_builder_add(b, &ev) < 0)
                return 1;
        }
        struct sift_buf img = SIFT_BUF_INIT;
        if (sift_segment_builder_finish(b, &img) < 0)
            return 1;
        sift_segment_builder_free(b);
        bytes += img.len;
        size_t len;
        void *data = sift_buf_detach(&img, &len);
        if (sift_segment_open_mem(data, len, &segs[s]) < 0)
            return 1;
    }
    printf("store: %llu events over %d h in %zu segments (%.1f MiB), built "
           "in %.1f s\n",
           (unsigned long long)n, hours, n_segs, (double)bytes / 1048576.0,
           (double)(sift_clock_mono_ns() - t0) / 1e9);

    /* ---- the rules ---- */
    struct sift_config cfg;
    sift_config_init(&cfg);
    struct sift_rule_env env = {&cfg, NULL, NULL};
    struct sift_rule **rules = sift_xcalloc(n_rules, sizeof(*rules));
    for (unsigned i = 0; i < n_rules; i++)
        rules[i] = make_rule(i, &env);
    /* Evaluated at the end of the data (the window ends `delay` before). */
    int64_t now = T0_NS + hours * HOUR_NS + rules[0]->delay_ns;

    /* ---- rounds ---- */
    int64_t *round_ns = sift_xcalloc((size_t)rounds, sizeof(int64_t));
    int64_t kind_ns[N_KINDS] = {0};
    unsigned kind_n[N_KINDS] = {0};
    uint64_t holding = 0, events = 0;
    for (int k = 0; k < rounds; k++) {
        int64_t c0 = cpu_ns();
        for (unsigned i = 0; i < n_rules; i++) {
            int64_t r0 = cpu_ns();
            struct sift_rule_result res;
            sift_rule_eval(rules[i], segs, n_segs, now, 0, NULL, 0, &res);
            if (res.rc < 0) {
                fprintf(stderr, "rule %s: %s\n", rules[i]->name, res.error);
                return 1;
            }
            if (k == 0) {
                for (size_t g = 0; g < res.n_groups; g++)
                    holding += res.groups[g].holds ? 1u : 0u;
                events += res.events;
                kind_n[kind_of(i)]++;
            }
            kind_ns[kind_of(i)] += cpu_ns() - r0;
            sift_rule_result_cleanup(&res);
        }
        round_ns[k] = cpu_ns() - c0;
    }
    qsort(round_ns, (size_t)rounds, sizeof(int64_t), cmp_i64);
    double med = (double)round_ns[rounds / 2] / 1e9;
    printf("rules: %u (%llu groups holding, %llu events matched per round)\n",
           n_rules, (unsigned long long)holding, (unsigned long long)events);
    printf("CPU per round: median %.3f s (min %.3f, max %.3f) over %d "
           "rounds; %.1f%% of one core at 10 s intervals\n",
           med, (double)round_ns[0] / 1e9, (double)round_ns[rounds - 1] / 1e9,
           rounds, med / 10.0 * 100.0);
    for (int k = 0; k < N_KINDS; k++)
        if (kind_n[k])
            printf("  %-28s %4u rules  %8.3f ms CPU per rule\n", kind_name[k],
                   kind_n[k],
                   (double)kind_ns[k] / 1e6 / (double)rounds /
                       (double)kind_n[k]);
    for (unsigned i = 0; i < n_rules; i++)
        sift_rule_free(rules[i]);
    sift_free(rules);
    sift_free(round_ns);
    for (size_t s = 0; s < n_segs; s++)
        sift_segment_unref(segs[s]);
    sift_free(segs);
    sift_config_cleanup(&cfg);
    for (size_t i = 0; i < n_lines; i++) {
        if (sys_level[lines[i].sys] == lines[i].level)
            sys_level[lines[i].sys] = NULL;
        sift_free(lines[i].msg);
        sift_free(lines[i].level);
    }
    return 0;
}
