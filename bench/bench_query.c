/*
 * bench_query.c - query latency over N events on disk (default 10M),
 * against SQLite FTS5 holding the same events and ripgrep over the raw
 * file.  Not a test.
 *
 * Usage: bench_query [--events N] [--dir DIR] [--reps R] [--seg-events M]
 *                    [--no-sqlite] [--no-rg] [--peer-events K]
 *                    [--threads T] [--track-total N] [--phrases]
 *                    [--only SUBSTRING] [--vary]
 *
 * --threads T runs sift's queries with a worker pool of T threads (segments
 * fanned out, the calling thread taking part); 0 (default) = sequential.
 * --track-total N counts totals needing phrase verification only up to N
 * per segment (the HTTP API's default is 10000); 0 (default) = exact.
 * --phrases runs only the phrase queries (2-5 words, common, rare, one
 * with a number inside, one whose words are never adjacent); --only runs
 * the queries whose name holds SUBSTRING.  --vary redraws every digit of
 * 70% of the messages (as the peer set's generator does), so slot values
 * repeat as little as on real ids and counters.
 *
 * Events cycle through the loghub-2k structured lines of all ten systems
 * (message, level, service = system name), timestamps spread evenly over
 * 24 hours, and every 999,983rd message carries the rare word
 * "needle4242".  sift segments of --seg-events docs are written to DIR and
 * opened from disk (mmap); the peers get the first --peer-events events
 * (default: all), since building a 10M-row FTS5 index takes minutes.
 *
 * Each query runs once to warm up and then --reps times; p50/p99 are
 * printed with the peer's ratio.  SQLite is loaded with dlopen() so the
 * build needs no extra library.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/loop.h"
#include "sift/pool.h"
#include "sift/query.h"
#include "sift/render.h"
#include "sift/segment.h"

#define MAX_LINES 40000
#define DAY_NS (INT64_C(86400) * SIFT_NS_PER_SEC)
#define T0_NS (INT64_C(1714521600) * SIFT_NS_PER_SEC) /* 2024-05-01 */

struct line {
    char *msg, *level, *service;
};

static struct line lines[MAX_LINES];
static size_t n_lines;

static char *
csv_field(char **pp)
{
    char *p = *pp, *start;
    if (*p == '"') {
        char *w = ++p;
        start = p;
        while (*p && !(*p == '"' && p[1] != '"')) {
            if (*p == '"')
                p++;
            *w++ = *p++;
        }
        if (*p == '"')
            p++;
        *w = '\0';
    } else {
        start = p;
        while (*p && *p != ',')
            p++;
        if (*p)
            *p++ = '\0';
        *pp = p;
        return start;
    }
    if (*p == ',')
        p++;
    *pp = p;
    return start;
}

static void
load_lines(const char *root)
{
    static const char *const systems[] = {
        "Apache", "BGL",     "HDFS",      "HPC",   "Hadoop",
        "Linux",  "OpenSSH", "OpenStack", "Spark", "Zookeeper"};
    for (size_t s = 0; s < 10; s++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/loghub-2k/%s/%s_2k.log_structured.csv",
                 root, systems[s], systems[s]);
        FILE *f = fopen(path, "r");
        if (!f) {
            fprintf(stderr, "cannot open %s\n", path);
            exit(1);
        }
        char buf[8192];
        char *hdr[20];
        int nh = 0, c_level = -1, c_content = -1;
        if (!fgets(buf, sizeof(buf), f))
            exit(1);
        buf[strcspn(buf, "\r\n")] = '\0';
        char *p = buf;
        while (*p && nh < 20)
            hdr[nh++] = csv_field(&p);
        for (int i = 0; i < nh; i++) {
            if (!strcmp(hdr[i], "Level"))
                c_level = i;
            if (!strcmp(hdr[i], "Content"))
                c_content = i;
        }
        while (fgets(buf, sizeof(buf), f) && n_lines < MAX_LINES) {
            buf[strcspn(buf, "\r\n")] = '\0';
            char *cols[20];
            int n = 0;
            p = buf;
            while (*p && n < 20)
                cols[n++] = csv_field(&p);
            if (c_content < 0 || n <= c_content)
                continue;
            struct line *l = &lines[n_lines++];
            l->msg = sift_xstrdup(cols[c_content]);
            l->level = sift_xstrdup(c_level >= 0 && c_level < n ? cols[c_level]
                                                                : "info");
            char svc[32];
            size_t k = 0;
            for (; systems[s][k] && k < sizeof(svc) - 1; k++)
                svc[k] = (char)(systems[s][k] | 0x20);
            svc[k] = '\0';
            l->service = sift_xstrdup(svc);
        }
        fclose(f);
    }
}

static int vary; /* --vary */

/* Event i: a loghub line, a time spread over one day, the rare word. */
static void
make_event(uint64_t i, uint64_t n, struct sift_event *ev,
           struct sift_field *fields, char *msgbuf, size_t cap)
{
    const struct line *l = &lines[(i * 7919) % n_lines];
    memset(ev, 0, sizeof(*ev));
    ev->ts_ns = T0_NS + (int64_t)((double)DAY_NS * (double)i / (double)n);
    int len = snprintf(msgbuf, cap, "%s%s", l->msg,
                       i % 999983 == 7 ? " needle4242" : "");
    uint64_t r = i * 0x9e3779b97f4a7c15ull + 1;
    r ^= r >> 31;
    if (vary && r % 10 < 7) {
        int mlen = (int)strlen(l->msg); /* not the rare word */
        for (int k = 0; k < mlen && k < len && k < (int)cap; k++) {
            if (msgbuf[k] >= '0' && msgbuf[k] <= '9') {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                msgbuf[k] = (char)('0' + r % 10);
            }
        }
    }
    ev->msg = msgbuf;
    ev->msg_len = (uint32_t)(len < (int)cap ? len : (int)cap - 1);
    fields[0] = (struct sift_field){
        "level", l->level, 5, (uint32_t)strlen(l->level), SIFT_FT_KEYWORD};
    fields[1] =
        (struct sift_field){"service", l->service, 7,
                            (uint32_t)strlen(l->service), SIFT_FT_KEYWORD};
    ev->fields = fields;
    ev->n_fields = 2;
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

struct stat2 {
    double p50_ms, p99_ms;
};

static struct stat2
summarize(int64_t *ns, int reps)
{
    qsort(ns, (size_t)reps, sizeof(*ns), cmp_i64);
    struct stat2 s;
    s.p50_ms = (double)ns[reps / 2] / 1e6;
    s.p99_ms =
        (double)ns[(reps * 99) / 100 >= reps ? reps - 1 : (reps * 99) / 100] /
        1e6;
    return s;
}

/* ---- sift side ---- */

/* QK_COUNT: a search with limit 0 and the exact total (no doc read for
 * the page), as a count over HTTP asks it. */
enum qkind { QK_SEARCH, QK_COUNT, QK_HISTO, QK_TERMS };

struct bq {
    const char *name;
    enum qkind kind;
    const char *q;
    const char *field;
    int one_hour;
    /* peers */
    const char *fts; /* FTS5 MATCH expression, or NULL */
    const char *svc; /* service filter for SQLite */
    const char *sql; /* plain SQL (aggregations) */
    const char *rg;  /* ripgrep pattern, or NULL */
};

static struct sift_pool *g_pool; /* --threads */
static uint64_t g_track_total;   /* --track-total */

static int64_t
run_sift(struct sift_segment **segs, size_t n, const struct bq *b,
         uint64_t *total)
{
    struct sift_query *q;
    struct sift_query_error err = {0};
    int64_t t0 = sift_clock_mono_ns();
    if (sift_query_parse(b->q, strlen(b->q), NULL, &q, &err) < 0) {
        fprintf(stderr, "%s: %s\n", b->q, err.reason);
        exit(1);
    }
    struct sift_buf out = SIFT_BUF_INIT;
    if (b->kind == QK_SEARCH || b->kind == QK_COUNT) {
        struct sift_search_opts o;
        sift_search_opts_init(&o);
        o.limit = b->kind == QK_COUNT ? 0 : 100;
        o.pool = g_pool;
        o.track_total_hits = g_track_total;
        struct sift_search_result res;
        sift_search_result_init(&res);
        /* Timed with the hits' JSON, as the API sends them. */
        static const struct sift_render_hits_opts ro;
        if (sift_search_exec(segs, n, q, &o, &res, &err) < 0 ||
            sift_render_hits(&res, 0, &ro, &out) < 0)
            exit(1);
        *total = res.total;
        sift_search_result_cleanup(&res);
    } else {
        struct sift_agg_opts o;
        sift_agg_opts_init(&o);
        o.field = b->field;
        o.pool = g_pool;
        if (b->one_hour) {
            o.from_ns = T0_NS + 12 * 3600 * SIFT_NS_PER_SEC;
            o.to_ns = o.from_ns + 3600 * SIFT_NS_PER_SEC;
        }
        /* Timed with the JSON reply, as the API sends it. */
        int rc;
        if (b->kind == QK_HISTO) {
            struct sift_agg_histo_result r;
            rc = sift_agg_histogram(segs, n, q, &o, &r, &err);
            if (rc == SIFT_OK)
                sift_render_histogram(&r, &out);
            sift_agg_histo_result_cleanup(&r);
        } else {
            struct sift_agg_terms_result r;
            rc = sift_agg_terms(segs, n, q, &o, &r, &err);
            if (rc == SIFT_OK)
                sift_render_terms(&r, &out);
            sift_agg_terms_result_cleanup(&r);
        }
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", b->name, err.reason);
            exit(1);
        }
        *total = out.len;
    }
    int64_t dt = sift_clock_mono_ns() - t0;
    sift_buf_cleanup(&out);
    sift_query_free(q);
    return dt;
}

/* ---- SQLite through dlopen ---- */

struct sq {
    void *h;
    int (*open)(const char *, sqlite3 **);
    int (*exec)(sqlite3 *, const char *, int (*)(void *, int, char **, char **),
                void *, char **);
    int (*close)(sqlite3 *);
    int (*prepare)(sqlite3 *, const char *, int, sqlite3_stmt **,
                   const char **);
    int (*bind_int64)(sqlite3_stmt *, int, sqlite3_int64);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    int (*step)(sqlite3_stmt *);
    int (*reset)(sqlite3_stmt *);
    int (*finalize)(sqlite3_stmt *);
    const char *(*errmsg)(sqlite3 *);
    sqlite3 *db;
};

static int
sq_load(struct sq *s)
{
    s->h = dlopen("libsqlite3.so.0", RTLD_NOW);
    if (!s->h)
        return -1;
#define SYM(f, n) *(void **)(&s->f) = dlsym(s->h, n)
    SYM(open, "sqlite3_open");
    SYM(exec, "sqlite3_exec");
    SYM(close, "sqlite3_close");
    SYM(prepare, "sqlite3_prepare_v2");
    SYM(bind_int64, "sqlite3_bind_int64");
    SYM(bind_text, "sqlite3_bind_text");
    SYM(step, "sqlite3_step");
    SYM(reset, "sqlite3_reset");
    SYM(finalize, "sqlite3_finalize");
    SYM(errmsg, "sqlite3_errmsg");
#undef SYM
    return s->open && s->exec && s->step ? 0 : -1;
}

static void
sq_exec(struct sq *s, const char *sql)
{
    char *msg = NULL;
    if (s->exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, msg ? msg : "?");
        exit(1);
    }
}

static int
count_cb(void *arg, int n, char **v, char **c)
{
    (void)n;
    (void)v;
    (void)c;
    (*(uint64_t *)arg)++;
    return 0;
}

static int64_t
run_sqlite(struct sq *s, const struct bq *b, uint64_t *rows)
{
    char sql[1024];
    int64_t t0 = sift_clock_mono_ns();
    *rows = 0;
    if (b->fts && b->kind == QK_COUNT) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM fts WHERE fts MATCH '%s';", b->fts);
    } else if (b->fts) {
        /* Like sift: the newest 100 matches plus the exact count. */
        snprintf(sql, sizeof(sql),
                 "SELECT e.ts, e.msg FROM fts JOIN ev e ON e.id = fts.rowid "
                 "WHERE fts MATCH '%s'%s%s%s ORDER BY fts.rowid DESC LIMIT 100;"
                 "SELECT count(*) FROM fts JOIN ev e ON e.id = fts.rowid "
                 "WHERE fts MATCH '%s'%s%s%s;",
                 b->fts, b->svc ? " AND e.service = '" : "",
                 b->svc ? b->svc : "", b->svc ? "'" : "", b->fts,
                 b->svc ? " AND e.service = '" : "", b->svc ? b->svc : "",
                 b->svc ? "'" : "");
    } else {
        snprintf(sql, sizeof(sql), "%s", b->sql);
    }
    char *msg = NULL;
    if (s->exec(s->db, sql, count_cb, rows, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s\n", msg ? msg : "?");
        exit(1);
    }
    return sift_clock_mono_ns() - t0;
}

static int64_t
run_rg(const char *file, const char *pat)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "rg -c -e '%s' '%s' > /dev/null", pat, file);
    int64_t t0 = sift_clock_mono_ns();
    if (system(cmd) == -1)
        return -1;
    return sift_clock_mono_ns() - t0;
}

int
main(int argc, char **argv)
{
    uint64_t n = 10000000, seg_events = 1000000, peer_events = 0;
    int reps = 20, use_sqlite = 1, use_rg = 1, only_phrases = 0;
    const char *only = NULL;
    unsigned threads = 0;
    const char *dir = "/tmp/sift-bench-query";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--events") && i + 1 < argc)
            n = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seg-events") && i + 1 < argc)
            seg_events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--peer-events") && i + 1 < argc)
            peer_events = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]) > 0 ? (int)strtol(argv[i], NULL, 10) : 20;
        else if (!strcmp(argv[i], "--track-total") && i + 1 < argc)
            g_track_total = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--no-sqlite"))
            use_sqlite = 0;
        else if (!strcmp(argv[i], "--no-rg"))
            use_rg = 0;
        else if (!strcmp(argv[i], "--phrases"))
            only_phrases = 1;
        else if (!strcmp(argv[i], "--vary"))
            vary = 1;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--events N] [--seg-events M] "
                    "[--peer-events K] [--dir D] [--reps R] "
                    "[--no-sqlite] [--no-rg] [--threads T] "
                    "[--track-total N] [--phrases] [--only S] [--vary]\n",
                    argv[0]);
            return 2;
        }
    }
    if (reps > 1000)
        reps = 1000;
    struct sift_loop *loop = NULL;
    if (threads > 0 &&
        (sift_loop_new(&loop) < 0 || sift_pool_new(loop, threads, &g_pool) < 0))
        return 1;
    if (!peer_events || peer_events > n)
        peer_events = n;
    const char *root = getenv("SIFT_TEST_DATA");
    load_lines(root ? root : SIFT_SOURCE_DIR "/tests/data");
    mkdir(dir, 0755);

    /* ---- build ---- */
    int64_t t0 = sift_clock_mono_ns();
    size_t n_segs = (size_t)((n + seg_events - 1) / seg_events);
    struct sift_segment **segs = sift_xcalloc(n_segs + 1, sizeof(*segs));
    char msgbuf[4096];
    struct sift_field fields[2];
    struct sift_event ev;
    char raw_path[1200];
    snprintf(raw_path, sizeof(raw_path), "%s/raw.log", dir);
    FILE *raw = use_rg ? fopen(raw_path, "w") : NULL;
    uint64_t disk = 0;
    for (size_t s = 0; s < n_segs; s++) {
        struct sift_segment_opts opts;
        sift_segment_opts_init(&opts);
        struct sift_segment_builder *b;
        if (sift_segment_builder_new(&opts, &b) < 0)
            return 1;
        uint64_t end = (s + 1) * seg_events < n ? (s + 1) * seg_events : n;
        for (uint64_t i = s * seg_events; i < end; i++) {
            make_event(i, n, &ev, fields, msgbuf, sizeof(msgbuf));
            if (sift_segment_builder_add(b, &ev) < 0)
                return 1;
            if (raw && i < peer_events)
                fprintf(raw, "%lld %s %s %s\n", (long long)ev.ts_ns,
                        fields[0].value, fields[1].value, msgbuf);
        }
        struct sift_buf img = SIFT_BUF_INIT;
        if (sift_segment_builder_finish(b, &img) < 0)
            return 1;
        sift_segment_builder_free(b);
        char path[1200];
        snprintf(path, sizeof(path), "%s/seg-%04zu.sift", dir, s);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(img.data, 1, img.len, f) != img.len || fclose(f))
            return 1;
        disk += img.len;
        sift_buf_cleanup(&img);
        if (sift_segment_open_file(path, &segs[s]) < 0)
            return 1;
    }
    if (raw)
        fclose(raw);
    printf("sift: %llu events in %zu segments, %.1f MiB on disk, built in "
           "%.1f s\n",
           (unsigned long long)n, n_segs, (double)disk / 1048576.0,
           (double)(sift_clock_mono_ns() - t0) / 1e9);

    struct sq sq = {0};
    if (use_sqlite && sq_load(&sq) < 0) {
        printf("sqlite: libsqlite3.so.0 not loadable, skipped\n");
        use_sqlite = 0;
    }
    if (use_sqlite) {
        t0 = sift_clock_mono_ns();
        char path[1200];
        snprintf(path, sizeof(path), "%s/fts.db", dir);
        unlink(path);
        if (sq.open(path, &sq.db) != SQLITE_OK)
            return 1;
        sq_exec(&sq, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                     "CREATE TABLE ev(id INTEGER PRIMARY KEY, ts INTEGER, "
                     "level TEXT, service TEXT, msg TEXT);"
                     "BEGIN;");
        sqlite3_stmt *st;
        if (sq.prepare(sq.db, "INSERT INTO ev VALUES(?,?,?,?,?)", -1, &st,
                       NULL) != SQLITE_OK)
            return 1;
        for (uint64_t i = 0; i < peer_events; i++) {
            make_event(i, n, &ev, fields, msgbuf, sizeof(msgbuf));
            sq.bind_int64(st, 1, (sqlite3_int64)i + 1);
            sq.bind_int64(st, 2, ev.ts_ns);
            sq.bind_text(st, 3, fields[0].value, -1, SQLITE_STATIC);
            sq.bind_text(st, 4, fields[1].value, -1, SQLITE_STATIC);
            sq.bind_text(st, 5, msgbuf, -1, SQLITE_STATIC);
            if (sq.step(st) != SQLITE_DONE)
                return 1;
            sq.reset(st);
        }
        sq.finalize(st);
        sq_exec(&sq, "COMMIT; CREATE INDEX ev_ts ON ev(ts);"
                     "CREATE VIRTUAL TABLE fts USING fts5(msg, content='ev', "
                     "content_rowid='id');"
                     "INSERT INTO fts(fts) VALUES('rebuild');");
        printf("sqlite fts5: %llu events, built in %.1f s\n",
               (unsigned long long)peer_events,
               (double)(sift_clock_mono_ns() - t0) / 1e9);
    }

    static char h1_sql[512];
    snprintf(h1_sql, sizeof(h1_sql),
             "SELECT (ts - %lld) / 60000000000 AS b, level, count(*) FROM ev "
             "WHERE ts >= %lld AND ts < %lld GROUP BY b, level;",
             (long long)(T0_NS + 12 * 3600 * SIFT_NS_PER_SEC),
             (long long)(T0_NS + 12 * 3600 * SIFT_NS_PER_SEC),
             (long long)(T0_NS + 13 * 3600 * SIFT_NS_PER_SEC));
    const struct bq qs[] = {
        {"rare term", QK_SEARCH, "needle4242", NULL, 0, "needle4242", NULL,
         NULL, "needle4242"},
        {"common term, limit 100", QK_SEARCH, "block", NULL, 0, "block", NULL,
         NULL, "block"},
        {"phrase", QK_SEARCH, "\"for block\"", NULL, 0, "\"for block\"", NULL,
         NULL, "for block"},
        /* phrases of 2-5 words, common and rare (--phrases: only these) */
        {"phrase 2 received block", QK_COUNT, "\"received block\"", NULL, 0,
         "\"received block\"", NULL, NULL, "(?i)received block"},
        {"phrase 3 session opened for", QK_COUNT, "\"session opened for\"",
         NULL, 0, "\"session opened for\"", NULL, NULL,
         "(?i)session opened for"},
        {"phrase 4 with a number", QK_COUNT, "\"packetresponder 1 for block\"",
         NULL, 0, "\"packetresponder 1 for block\"", NULL, NULL,
         "(?i)packetresponder 1 for block"},
        {"phrase 5 error state", QK_COUNT, "\"child workerenv in error state\"",
         NULL, 0, "\"child workerenv in error state\"", NULL, NULL,
         "(?i)child workerenv in error state"},
        {"phrase 3 rare", QK_COUNT, "\"verification succeeded for\"", NULL, 0,
         "\"verification succeeded for\"", NULL, NULL,
         "(?i)verification succeeded for"},
        {"phrase 2 slot value", QK_COUNT, "\"size 67108864\"", NULL, 0,
         "\"size 67108864\"", NULL, NULL, "(?i)size 67108864"},
        {"phrase 2 never adjacent", QK_COUNT, "\"block received\"", NULL, 0,
         "\"block received\"", NULL, NULL, "(?i)block received"},
        {"phrase 3 uid number", QK_COUNT, "\"uid 0 euid\"", NULL, 0,
         "\"uid 0 euid\"", NULL, NULL, "(?i)uid=0 euid"},
        {"phrase 5 two numbers", QK_COUNT, "\"logname uid 0 euid 0\"", NULL, 0,
         "\"logname uid 0 euid 0\"", NULL, NULL, "(?i)logname= uid=0 euid=0"},
        {"phrase 5 rare id", QK_COUNT,
         "\"deleting block blk 8775602795571523802 file\"", NULL, 0,
         "\"deleting block blk 8775602795571523802 file\"", NULL, NULL,
         "(?i)deleting block blk_-8775602795571523802 file"},
        {"field filter + term", QK_SEARCH, "service:hdfs terminating", NULL, 0,
         "terminating", "hdfs", NULL, " hdfs .*terminating"},
        {"1h histogram by level", QK_HISTO, "*", "level", 1, NULL, NULL, h1_sql,
         NULL},
        {"histogram, all events", QK_HISTO, "*", NULL, 0, NULL, NULL,
         "SELECT ts / 864000000000 AS b, count(*) FROM ev GROUP BY b;", NULL},
        {"top-10 terms (level)", QK_TERMS, "*", "level", 0, NULL, NULL,
         "SELECT level, count(*) AS c FROM ev GROUP BY level ORDER BY c DESC "
         "LIMIT 10;",
         NULL},
    };
    int64_t *ns = sift_xcalloc((size_t)reps, sizeof(*ns));
    printf("\n%-24s %12s %9s %9s %9s | %9s %9s %7s | %9s %7s\n", "query",
           "hits", "p50 ms", "p99 ms", "cpu ms", "fts5 p50", "fts5 p99",
           "ratio", "rg ms", "ratio");
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        const struct bq *b = &qs[k];
        uint64_t total = 0, rows = 0;
        if ((only_phrases && strncmp(b->name, "phrase", 6) != 0) ||
            (only && strstr(b->name, only) == NULL))
            continue;
        run_sift(segs, n_segs, b, &total);
        /* CPU time of the process (workers included) per query: on a busy
         * machine it moves much less than the wall time. */
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        for (int r = 0; r < reps; r++)
            ns[r] = run_sift(segs, n_segs, b, &total);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        double cpu_ms = ((double)(c1.tv_sec - c0.tv_sec) * 1e3 +
                         (double)(c1.tv_nsec - c0.tv_nsec) / 1e6) /
                        reps;
        struct stat2 st = summarize(ns, reps);
        printf("%-24s %12llu %9.2f %9.2f %9.2f |", b->name,
               b->kind == QK_SEARCH || b->kind == QK_COUNT
                   ? (unsigned long long)total
                   : 0ULL,
               st.p50_ms, st.p99_ms, cpu_ms);
        if (use_sqlite) {
            int pr = reps < 5 ? reps : 5; /* peers are slow: fewer reps */
            run_sqlite(&sq, b, &rows);
            for (int r = 0; r < pr; r++)
                ns[r] = run_sqlite(&sq, b, &rows);
            struct stat2 sp = summarize(ns, pr);
            printf(" %9.2f %9.2f %6.1fx |", sp.p50_ms, sp.p99_ms,
                   sp.p50_ms / (st.p50_ms > 0 ? st.p50_ms : 1e-3));
        } else {
            printf(" %9s %9s %7s |", "-", "-", "-");
        }
        if (use_rg && b->rg) {
            int64_t best = INT64_MAX;
            for (int r = 0; r < 3; r++) {
                int64_t d = run_rg(raw_path, b->rg);
                if (d >= 0 && d < best)
                    best = d;
            }
            printf(" %9.2f %6.1fx\n", (double)best / 1e6,
                   (double)best / 1e6 / (st.p50_ms > 0 ? st.p50_ms : 1e-3));
        } else {
            printf(" %9s %7s\n", "-", "-");
        }
    }
    if (peer_events < n)
        printf("\n(peers hold the first %llu events only; ratios compare "
               "unequal sizes)\n",
               (unsigned long long)peer_events);
    printf("targets: rare term p99 < 20 ms; histogram over all < 300 ms\n");
    if (use_sqlite)
        sq.close(sq.db);
    for (size_t s = 0; s < n_segs; s++)
        sift_segment_unref(segs[s]);
    sift_free(segs);
    sift_free(ns);
    if (g_pool)
        sift_pool_free(g_pool);
    if (loop)
        sift_loop_free(loop);
    return 0;
}
