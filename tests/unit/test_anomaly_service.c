/*
 * test_anomaly_service.c - the anomaly service inside a real loop, pool,
 * store, pipeline and (unbound) HTTP server: template ids on events and
 * across restarts (clean and unclean), an incident raising an alert that
 * resolves, feedback persisted and replayed, the alerts file bounded and
 * torn tails skipped; and the pattern counter over built segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/anomaly_service.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/patterns.h"
#include "sift/pipeline.h"
#include "sift/pool.h"
#include "sift/render.h"
#include "sift/segment.h"
#include "sift/store.h"

#define T0 INT64_C(1700000000000000000) /* aligned to 100 ms windows */

/* When not 0, the arrival time of the next submit() (else its ts). */
static int64_t arrive_ns;
#define WIN_MS 100

struct fx {
    char root[64];
    char dir[128];
    struct sift_config cfg;
    struct sift_loop *loop;
    struct sift_pool *pool;
    struct sift_store *store;
    struct sift_pipeline *pipe;
    struct sift_anomaly_service *svc;
    int durable;
};

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/sift-test-anosvc-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    assert_int_equal(mkdir(f->dir, 0750), 0);
    sift_config_init(&f->cfg);
    sift_free(f->cfg.data_dir);
    f->cfg.data_dir = sift_xstrdup(f->dir);
    f->cfg.wal_sync_ms = 5;
    f->cfg.refresh_ms = 50;
    /* Windows of 100 ms of event time; the wall clock never closes one. */
    f->cfg.anomaly_window_ms = WIN_MS;
    f->cfg.anomaly_warmup_windows = 3;
    f->cfg.anomaly_hold_windows = 1;
    f->cfg.anomaly_resolve_windows = 2;
    f->cfg.anomaly_cooldown_ms = 0;
    f->cfg.anomaly_idle_flush_ms = 3600 * 1000;
    sift_log_set_level(SIFT_LOG_ERROR);
    assert_int_equal(sift_loop_new(&f->loop), SIFT_OK);
    assert_int_equal(sift_pool_new(f->loop, 2, &f->pool), SIFT_OK);
    *state = f;
    return 0;
}

static void
modules_open(struct fx *f)
{
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &f->store),
                     SIFT_OK);
    assert_int_equal(sift_pipeline_new(f->store, &f->pipe), SIFT_OK);
    assert_int_equal(sift_anomaly_service_new(&f->cfg, f->loop, f->pipe,
                                              f->store, f->pool, &f->svc),
                     SIFT_OK);
}

static void
modules_close(struct fx *f)
{
    sift_anomaly_service_free(f->svc);
    f->svc = NULL;
    sift_store_close(f->store);
    f->store = NULL;
    sift_pipeline_free(f->pipe);
    f->pipe = NULL;
    sift_loop_run_posted(f->loop);
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    sift_clock_freeze_ns(0);
    arrive_ns = 0;
    if (f->svc)
        modules_close(f);
    sift_pool_free(f->pool);
    sift_loop_run_posted(f->loop);
    sift_loop_free(f->loop);
    sift_config_cleanup(&f->cfg);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    sift_free(f);
    return 0;
}

/* ---- running the loop until something holds ---- */

typedef int (*pred_fn)(struct fx *f);

struct waiter {
    struct fx *f;
    pred_fn pred;
    int64_t deadline;
    int ok;
};

static void
wait_tick(void *arg)
{
    struct waiter *w = arg;
    if (w->pred(w->f)) {
        w->ok = 1;
        sift_loop_stop(w->f->loop);
    } else if (sift_clock_mono_ns() > w->deadline) {
        sift_loop_stop(w->f->loop);
    }
}

static int
run_until(struct fx *f, pred_fn pred, int timeout_ms)
{
    struct waiter w = {f, pred,
                       sift_clock_mono_ns() + timeout_ms * SIFT_NS_PER_MS, 0};
    if (pred(f))
        return 1;
    struct sift_timer *t = sift_loop_timer_new(f->loop, 5, wait_tick, &w);
    sift_loop_run(f->loop);
    sift_loop_timer_free(t);
    return w.ok;
}

/* ---- events ---- */

static void
on_durable(void *arg, int rc)
{
    struct fx *f = arg;
    assert_int_equal(rc, SIFT_OK);
    f->durable++;
}

static int
all_durable(struct fx *f)
{
    return f->durable == 0;
}

/*
 * Submits n events of service svc at ts (level lvl, message msg) through
 * the pipeline, arriving at ts (the clock is frozen there) unless
 * arrive_ns says otherwise; template ids of the events land in ids[] when
 * not NULL.
 */
static void
submit(struct fx *f, int64_t ts, const char *svc, const char *lvl,
       const char *msg, int n, uint32_t *ids)
{
    struct sift_arena *arena = sift_arena_new(4096);
    struct sift_event *evs = sift_xcalloc((size_t)n, sizeof(*evs));
    struct sift_field *fl = sift_xcalloc((size_t)n * 2, sizeof(*fl));
    for (int i = 0; i < n; i++) {
        evs[i].ts_ns = ts + i;
        evs[i].msg = msg;
        evs[i].msg_len = (uint32_t)strlen(msg);
        fl[2 * i].name = "service.name";
        fl[2 * i].name_len = 12;
        fl[2 * i].value = svc;
        fl[2 * i].value_len = (uint32_t)strlen(svc);
        fl[2 * i].type = SIFT_FT_KEYWORD;
        fl[2 * i + 1].name = "log.level";
        fl[2 * i + 1].name_len = 9;
        fl[2 * i + 1].value = lvl;
        fl[2 * i + 1].value_len = (uint32_t)strlen(lvl);
        fl[2 * i + 1].type = SIFT_FT_KEYWORD;
        evs[i].fields = &fl[2 * i];
        evs[i].n_fields = 2;
    }
    f->durable--;
    /* Windows follow arrival time: the events arrive at ts. */
    sift_clock_freeze_ns(arrive_ns ? arrive_ns : ts);
    assert_int_equal(sift_pipeline_submit(f->pipe, "test", evs, (size_t)n, NULL,
                                          0, arena, on_durable, f),
                     SIFT_OK);
    for (int i = 0; ids && i < n; i++)
        ids[i] = evs[i].template_id;
    assert_true(run_until(f, all_durable, 5000));
    sift_free(fl);
    sift_free(evs);
    sift_arena_free(arena);
}

static int
file_exists(struct fx *f, const char *name)
{
    char p[256];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", f->dir, name);
    return stat(p, &st) == 0;
}

/* ------------------------------------------------------------------ */

static void
test_anomaly_service_template_ids_survive_restarts(void **state)
{
    struct fx *f = *state;
    modules_open(f);
    assert_true(file_exists(f, "templates.dirty"));
    uint32_t a[3], b[1];
    submit(f, T0, "api", "info", "connected to 10.0.0.7 port 5432", 3, a);
    submit(f, T0, "api", "info", "cache miss for key user:42", 1, b);
    assert_int_not_equal(a[0], SIFT_TEMPLATE_NONE);
    assert_int_equal(a[0], a[1]);
    assert_int_equal(a[1], a[2]);
    assert_int_not_equal(a[0], b[0]);
    struct sift_buf text = SIFT_BUF_INIT;
    assert_int_equal(sift_anomaly_service_template_text(f->svc, a[0], &text),
                     SIFT_OK);
    assert_string_equal(sift_buf_cstr(&text), "connected to <ip> port <num>");
    assert_int_equal(sift_anomaly_service_template_text(f->svc, 999, &text),
                     SIFT_ENOTFOUND);
    struct sift_anomaly_service_stats st;
    sift_anomaly_service_stats(f->svc, &st);
    assert_int_equal(st.templates, 2);
    assert_int_equal(st.records_pushed, 4);

    /* Clean stop: saved, marker gone; same pattern, same id after. */
    modules_close(f);
    assert_true(file_exists(f, "templates.txt"));
    assert_false(file_exists(f, "templates.dirty"));
    modules_open(f);
    sift_anomaly_service_stats(f->svc, &st);
    assert_int_equal(st.templates, 2);
    uint32_t c[1], d[1];
    submit(f, T0, "api", "info", "connected to 10.9.9.9 port 6543", 1, c);
    assert_int_equal(c[0], a[0]);
    submit(f, T0, "api", "warn", "queue depth above limit", 1, d);
    assert_int_equal(d[0], b[0] + 1); /* no ids skipped after a clean stop */

    /* Unclean stop: the marker survives, and new ids skip ahead so ids
     * the lost run may have stored are never reused. */
    modules_close(f);
    char p[256];
    snprintf(p, sizeof(p), "%s/templates.dirty", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fclose(fp);
    modules_open(f);
    uint32_t e[1], g[1];
    submit(f, T0, "api", "info", "connected to 10.1.1.1 port 1", 1, e);
    assert_int_equal(e[0], a[0]);
    submit(f, T0, "db", "error", "checkpoint took too long", 1, g);
    assert_true(g[0] > d[0] + 2000);
    sift_buf_cleanup(&text);
}

struct find_ctx {
    int kind;
    int state;
    struct sift_alert found;
    int n;
};

static int
find_cb(const struct sift_alert *al, void *arg)
{
    struct find_ctx *c = arg;
    if (al->kind == c->kind && strcmp(al->series, "service=api") == 0 &&
        (!c->state || al->state == c->state)) {
        c->found = *al;
        c->n++;
    }
    return 0;
}

static struct find_ctx want;
static struct sift_anomaly_service *want_svc;

static int
alert_seen(struct fx *f)
{
    (void)f;
    want.n = 0;
    sift_anomaly_service_alerts(want_svc, INT64_MIN, INT64_MAX, find_cb, &want);
    return want.n > 0;
}

/* Normal traffic of window w: 60 info events of "api" (enough that one
 * calm window after an error burst is 20:1 evidence the error share is
 * back, which ends the error_ratio alarm). */
static void
normal_window(struct fx *f, int w)
{
    submit(f, T0 + (int64_t)w * WIN_MS * SIFT_NS_PER_MS, "api", "info",
           "request served in 12 ms", 60, NULL);
}

/*
 * The report: after one event stamped 2030, only new_pattern
 * alerts fired, because that event opened a "current" window that never
 * closed.  Windows follow arrival time: the same incident as below still
 * fires and resolves on time, with a 2030 event (and a very late one)
 * arriving in the middle of the calm windows.
 */
static void
test_anomaly_service_windows_follow_arrival_not_event_time(void **state)
{
    struct fx *f = *state;
    modules_open(f);
    want_svc = f->svc;
    const int64_t y2030 = INT64_C(1893456000) * SIFT_NS_PER_SEC;
    for (int w = 0; w < 8; w++) {
        normal_window(f, w);
        if (w == 3) {
            arrive_ns = T0 + 3 * WIN_MS * SIFT_NS_PER_MS + 1;
            submit(f, y2030, "api", "info", "clock from 2030 says hello", 1,
                   NULL);
            submit(f, T0 - INT64_C(86400) * SIFT_NS_PER_SEC, "api", "error",
                   "replayed from yesterday", 30, NULL);
            arrive_ns = 0;
        }
    }
    submit(f, T0 + 8 * WIN_MS * SIFT_NS_PER_MS, "api", "error",
           "payment gateway timeout after 30000 ms", 20, NULL);
    normal_window(f, 8);
    normal_window(f, 9); /* closes window 8 */
    memset(&want, 0, sizeof(want));
    want.kind = SIFT_ALERT_ERROR_RATIO;
    want.state = SIFT_ALERT_FIRING;
    assert_true(run_until(f, alert_seen, 5000));
    assert_true(want.found.started_ns == T0 + 8 * WIN_MS * SIFT_NS_PER_MS);
    normal_window(f, 10);
    normal_window(f, 11);
    want.state = SIFT_ALERT_RESOLVED;
    assert_true(run_until(f, alert_seen, 5000));
    assert_int_equal(want.found.resolved_ns, T0 + 11 * WIN_MS * SIFT_NS_PER_MS);
    /* The day-late errors were not scored (anomaly.max_lateness). */
    struct sift_anomaly_service_stats st;
    sift_anomaly_service_stats(f->svc, &st);
    assert_int_equal(st.records_late, 30);
}

static char *
read_file(struct fx *f, const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", f->dir, name);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    struct sift_buf b = SIFT_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
        sift_buf_append(&b, chunk, n);
    fclose(fp);
    sift_buf_cstr(&b);
    return sift_buf_detach(&b, NULL);
}

static void
test_anomaly_service_incident_alert_feedback_restart(void **state)
{
    struct fx *f = *state;
    modules_open(f);
    want_svc = f->svc;
    for (int w = 0; w < 8; w++)
        normal_window(f, w);
    /* The incident: errors with a new message in window 8. */
    submit(f, T0 + 8 * WIN_MS * SIFT_NS_PER_MS, "api", "error",
           "payment gateway timeout after 30000 ms", 20, NULL);
    normal_window(f, 8);
    normal_window(f, 9); /* closes window 8: the ratio alert fires */
    memset(&want, 0, sizeof(want));
    want.kind = SIFT_ALERT_ERROR_RATIO;
    want.state = SIFT_ALERT_FIRING;
    assert_true(run_until(f, alert_seen, 5000));
    uint64_t id = want.found.id;
    assert_true(want.found.score >= 50);
    assert_true(want.found.started_ns == T0 + 8 * WIN_MS * SIFT_NS_PER_MS);

    /* Calm windows 9 and 10 resolve it when window 11 opens. */
    normal_window(f, 10);
    normal_window(f, 11);
    want.state = SIFT_ALERT_RESOLVED;
    assert_true(run_until(f, alert_seen, 5000));
    assert_int_equal(want.found.id, id);
    assert_int_equal(want.found.resolved_ns, T0 + 11 * WIN_MS * SIFT_NS_PER_MS);

    /* Feedback: persisted, raises that series' threshold. */
    struct sift_alert al;
    double thr = 0;
    assert_int_equal(sift_anomaly_service_feedback(
                         f->svc, id, SIFT_LABEL_FALSE_POSITIVE, &al, &thr),
                     SIFT_OK);
    assert_int_equal(al.label, SIFT_LABEL_FALSE_POSITIVE);
    assert_true(thr == 60);
    assert_int_equal(sift_anomaly_service_feedback(
                         f->svc, 999999, SIFT_LABEL_FALSE_POSITIVE, NULL, NULL),
                     SIFT_ENOTFOUND);
    assert_int_equal(
        sift_anomaly_service_feedback(f->svc, id, SIFT_LABEL_NONE, NULL, NULL),
        SIFT_EINVAL);
    char *file = read_file(f, "alerts.ndjson");
    assert_non_null(strstr(file, "\"type\":\"raise\""));
    assert_non_null(strstr(file, "\"label\":1"));
    sift_free(file);

    /* The time-range walk: the alert spans windows 8..11. */
    struct find_ctx c;
    memset(&c, 0, sizeof(c));
    c.kind = SIFT_ALERT_ERROR_RATIO;
    sift_anomaly_service_alerts(f->svc, T0 + 12 * WIN_MS * SIFT_NS_PER_MS,
                                INT64_MAX, find_cb, &c);
    assert_int_equal(c.n, 0);
    sift_anomaly_service_alerts(f->svc, T0 + 10 * WIN_MS * SIFT_NS_PER_MS,
                                T0 + 10 * WIN_MS * SIFT_NS_PER_MS + 1, find_cb,
                                &c);
    assert_int_equal(c.n, 1);
    c.n = 0;
    sift_anomaly_service_alerts(f->svc, 0, T0, find_cb, &c);
    assert_int_equal(c.n, 0);

    /* Restart: the alert, its label and the raise come back. */
    modules_close(f);
    modules_open(f);
    assert_int_equal(sift_anomaly_service_alert_get(f->svc, id, &al), SIFT_OK);
    assert_int_equal(al.label, SIFT_LABEL_FALSE_POSITIVE);
    assert_int_equal(al.state, SIFT_ALERT_RESOLVED);
    assert_true(al.resolved_ns == T0 + 11 * WIN_MS * SIFT_NS_PER_MS);
    /* Same label again changes nothing; true_positive takes the step back. */
    assert_int_equal(sift_anomaly_service_feedback(
                         f->svc, id, SIFT_LABEL_FALSE_POSITIVE, NULL, &thr),
                     SIFT_OK);
    assert_true(thr == 60);
    assert_int_equal(sift_anomaly_service_feedback(
                         f->svc, id, SIFT_LABEL_TRUE_POSITIVE, &al, &thr),
                     SIFT_OK);
    assert_true(thr == 50);
    assert_int_equal(al.label, SIFT_LABEL_TRUE_POSITIVE);
}

static void
write_alert_lines(struct fx *f, int n, int torn)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/alerts.ndjson", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 1; i <= n; i++)
        fprintf(fp,
                "{\"type\":\"alert\",\"id\":%d,\"series\":\"service=s%d\","
                "\"key\":\"%016x\",\"kind\":1,\"state\":2,\"label\":0,"
                "\"score\":70,\"last_score\":10,\"threshold\":50,"
                "\"started_ns\":%d000,\"updated_ns\":%d500,"
                "\"resolved_ns\":%d500,\"windows\":2}\n",
                i, i % 7, (unsigned)(i % 7 + 1), i, i, i);
    if (torn)
        fprintf(fp, "{\"type\":\"alert\",\"id\":%d,\"ser", n + 1);
    fclose(fp);
}

static int
count_cb(const struct sift_alert *al, void *arg)
{
    uint64_t *v = arg;
    if (v[0] == 0)
        v[1] = al->id; /* oldest */
    v[0]++;
    return 0;
}

static void
test_anomaly_service_alert_file_bounded_torn_tail_skipped(void **state)
{
    struct fx *f = *state;
    f->cfg.alert_max_kept = 100;
    write_alert_lines(f, 250, 1);
    modules_open(f);
    uint64_t v[2] = {0, 0};
    sift_anomaly_service_alerts(f->svc, INT64_MIN, INT64_MAX, count_cb, v);
    assert_int_equal(v[0], 100);
    assert_int_equal(v[1], 151);
    struct sift_alert al;
    assert_int_equal(sift_anomaly_service_alert_get(f->svc, 250, &al), SIFT_OK);
    assert_string_equal(al.series, "service=s5");
    assert_int_equal(al.series_key, 6);
    assert_int_equal(sift_anomaly_service_alert_get(f->svc, 150, &al),
                     SIFT_ENOTFOUND);
    /* Rewritten at start: 100 lines, no torn tail. */
    char *file = read_file(f, "alerts.ndjson");
    int lines = 0;
    for (char *c = file; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 100);
    assert_null(strstr(file, "\"ser\n"));
    assert_int_equal(file[strlen(file) - 1], '\n');
    sift_free(file);
    /* Time ranges: alert i spans [i us, i us + 500 ns]. */
    v[0] = v[1] = 0;
    sift_anomaly_service_alerts(f->svc, 200000, 210000, count_cb, v);
    assert_int_equal(v[0], 10); /* 200 .. 209 (199 ends at 199500) */
    assert_int_equal(v[1], 200);
}

static int
count_quarantined(struct fx *f, const char *prefix)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "ls '%s/quarantine' 2>/dev/null | grep -c '^%s'",
             f->dir, prefix);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

/*
 * One rule for the state files: a damaged line of alerts.ndjson costs
 * that alert alone and the file as it was is kept in quarantine/ before
 * the start-up rewrite; a file that cannot be read (here a directory in
 * its place) is moved to quarantine/ instead of being overwritten, for
 * templates.txt as for alerts.ndjson, and the service starts.
 */
static void
test_anomaly_service_damaged_state_files(void **state)
{
    struct fx *f = *state;
    write_alert_lines(f, 20, 0); /* older lines, no checksums */
    modules_open(f);
    modules_close(f); /* rewritten with a checksum per line */
    char *file = read_file(f, "alerts.ndjson");
    assert_non_null(strstr(file, ",\"ck\":\""));
    /* Flip one byte in the 5th line's score. */
    char *line = file;
    for (int i = 0; i < 4; i++)
        line = strchr(line, '\n') + 1;
    char *score = strstr(line, "\"score\":70");
    assert_non_null(score);
    score[9] = '1';
    char p[256];
    snprintf(p, sizeof(p), "%s/alerts.ndjson", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(file, fp);
    fclose(fp);
    sift_free(file);
    modules_open(f);
    struct sift_alert al;
    uint64_t v[2] = {0, 0};
    sift_anomaly_service_alerts(f->svc, INT64_MIN, INT64_MAX, count_cb, v);
    assert_int_equal(v[0], 19);
    assert_int_equal(sift_anomaly_service_alert_get(f->svc, 5, &al),
                     SIFT_ENOTFOUND);
    assert_int_equal(sift_anomaly_service_alert_get(f->svc, 6, &al), SIFT_OK);
    struct sift_anomaly_service_stats st;
    sift_anomaly_service_stats(f->svc, &st);
    assert_int_equal(st.state_files_damaged, 1);
    assert_int_equal(st.state_lines_skipped, 1);
    assert_int_equal(count_quarantined(f, "alerts.ndjson."), 1);
    modules_close(f);

    /* Unreadable: moved aside, never overwritten; the service starts. */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(mkdir(p, 0750), 0);
    char tp[256];
    snprintf(tp, sizeof(tp), "%s/templates.txt", f->dir);
    (void)unlink(tp);
    assert_int_equal(mkdir(tp, 0750), 0);
    modules_open(f);
    sift_anomaly_service_stats(f->svc, &st);
    assert_int_equal(st.state_files_damaged, 2);
    assert_int_equal(st.alerts_persist_off, 0);
    assert_int_equal(count_quarantined(f, "alerts.ndjson."), 2);
    assert_int_equal(count_quarantined(f, "templates.txt."), 1);
    uint32_t id[1];
    submit(f, T0, "api", "info", "fresh start after damage", 1, id);
    assert_true(id[0] > (1u << 24)); /* ids read before are never reused */
    modules_close(f);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
}

/* ------------------------------------------------------------------ */
/* Pattern counts over built segments                                   */
/* ------------------------------------------------------------------ */

struct tdoc {
    int64_t ts;
    const char *msg;
    const char *svc;
    uint32_t tid;
};

static struct sift_segment *
build(const struct tdoc *d, size_t n)
{
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_segment_builder *b;
    assert_int_equal(sift_segment_builder_new(&opts, &b), SIFT_OK);
    for (size_t i = 0; i < n; i++) {
        struct sift_field fl = {"service.name", d[i].svc, 12,
                                (uint32_t)strlen(d[i].svc), SIFT_FT_KEYWORD};
        struct sift_event ev = {0};
        ev.ts_ns = d[i].ts;
        ev.msg = d[i].msg;
        ev.msg_len = (uint32_t)strlen(d[i].msg);
        ev.fields = &fl;
        ev.n_fields = 1;
        ev.template_id = d[i].tid;
        assert_int_equal(sift_segment_builder_add(b, &ev), SIFT_OK);
    }
    struct sift_buf img = SIFT_BUF_INIT;
    assert_int_equal(sift_segment_builder_finish(b, &img), SIFT_OK);
    sift_segment_builder_free(b);
    void *copy = sift_xmalloc(img.len);
    memcpy(copy, img.data, img.len);
    struct sift_segment *seg;
    assert_int_equal(sift_segment_open_mem(copy, img.len, &seg), SIFT_OK);
    sift_buf_cleanup(&img);
    return seg;
}

static json_t *
run_patterns(struct sift_segment **segs, size_t n, const char *q, int64_t from,
             int64_t to, uint32_t size, int want_rc,
             struct sift_patterns_error *err)
{
    struct sift_patterns_opts o = {
        q, q ? strlen(q) : 0, from, to, size, 0, 0, 0, 0, 0};
    struct sift_patterns_result res;
    int rc = sift_patterns_run(segs, n, &o, NULL, &res, err);
    assert_int_equal(rc, want_rc);
    json_t *j = NULL;
    if (rc == SIFT_OK) {
        struct sift_buf out = SIFT_BUF_INIT;
        sift_render_patterns(&res, 0, &out);
        json_error_t je;
        j = json_loadb(out.data, out.len, 0, &je);
        assert_non_null(j);
        sift_buf_cleanup(&out);
    }
    sift_patterns_result_free(&res);
    return j;
}

static json_int_t
pat_int(json_t *j, size_t i, const char *key)
{
    json_t *p = json_array_get(json_object_get(j, "patterns"), i);
    assert_non_null(p);
    return json_integer_value(json_object_get(p, key));
}

static const char *
pat_str(json_t *j, size_t i, const char *key)
{
    json_t *p = json_array_get(json_object_get(j, "patterns"), i);
    return json_string_value(json_object_get(p, key));
}

static void
test_anomaly_service_pattern_counts(void **state)
{
    (void)state;
    const int64_t S = SIFT_NS_PER_SEC;
    const struct tdoc a[] = {
        {10 * S, "disk sda1 full", "db", 3},
        {11 * S, "user alice logged in", "web", 1},
        {12 * S, "user bob logged in", "web", 1},
        {13 * S, "disk sdb2 full", "db", 3},
        {14 * S, "no template here", "web", 0},
    };
    const struct tdoc b[] = {
        {20 * S, "user carol logged in", "web", 1},
        {21 * S, "user dave logged in", "api", 1},
        {22 * S, "GET /health 200", "api", 7},
    };
    struct sift_segment *segs[2] = {build(a, 5), build(b, 3)};
    struct sift_patterns_error err;

    json_t *j =
        run_patterns(segs, 2, NULL, INT64_MIN, INT64_MAX, 10, SIFT_OK, &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 8);
    assert_int_equal(json_integer_value(json_object_get(j, "distinct")), 4);
    assert_int_equal(pat_int(j, 0, "template_id"), 1); /* 4 docs */
    assert_int_equal(pat_int(j, 0, "count"), 4);
    assert_int_equal(pat_int(j, 0, "first_seen_ms"), 11000);
    assert_int_equal(pat_int(j, 0, "last_seen_ms"), 21000);
    assert_string_equal(pat_str(j, 0, "sample"), "user dave logged in");
    assert_int_equal(pat_int(j, 1, "template_id"), 3); /* 2 docs */
    assert_int_equal(pat_int(j, 2, "template_id"), 0); /* ties: by id */
    assert_int_equal(pat_int(j, 3, "template_id"), 7);
    json_decref(j);

    /* Field, word and template filters; the time range is [from, to). */
    j = run_patterns(segs, 2, "service.name:WEB logged", INT64_MIN, INT64_MAX,
                     10, SIFT_OK, &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    assert_int_equal(pat_int(j, 0, "count"), 3);
    json_decref(j);
    j = run_patterns(segs, 2, "_template_id:3 AND full", INT64_MIN, INT64_MAX,
                     10, SIFT_OK, &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    assert_string_equal(pat_str(j, 0, "sample"), "disk sdb2 full");
    json_decref(j);
    j = run_patterns(segs, 2, "\"logged in\" *", 12 * S, 21 * S, 10, SIFT_OK,
                     &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 2);
    json_decref(j);
    j = run_patterns(segs, 2, "nosuchword", INT64_MIN, INT64_MAX, 10, SIFT_OK,
                     &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);
    assert_int_equal(json_array_size(json_object_get(j, "patterns")), 0);
    json_decref(j);
    j = run_patterns(segs, 2, "nosuchfield:x", INT64_MIN, INT64_MAX, 10,
                     SIFT_OK, &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);
    json_decref(j);
    /* size keeps the top templates only. */
    j = run_patterns(segs, 2, "", INT64_MIN, INT64_MAX, 1, SIFT_OK, &err);
    assert_int_equal(json_array_size(json_object_get(j, "patterns")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "distinct")), 4);
    json_decref(j);

    /* The full query language: OR, NOT, wildcards. */
    j = run_patterns(segs, 2, "full OR health", INT64_MIN, INT64_MAX, 10,
                     SIFT_OK, &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_decref(j);
    j = run_patterns(segs, 2, "service.name:w* -alice", INT64_MIN, INT64_MAX,
                     10, SIFT_OK, &err);
    assert_int_equal(json_integer_value(json_object_get(j, "total")), 3);
    json_decref(j);

    /* A bad query answers the engine's error. */
    const char *bad[] = {"(a", "a AND", "\"open"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&err, 0, sizeof(err));
        run_patterns(segs, 2, bad[i], INT64_MIN, INT64_MAX, 10, SIFT_EPARSE,
                     &err);
        assert_int_equal(err.status, 400);
        assert_string_equal(err.type, "query_parse");
        assert_true(strlen(err.reason) > 0);
    }
    sift_segment_unref(segs[0]);
    sift_segment_unref(segs[1]);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_anomaly_service_template_ids_survive_restarts),
        T(test_anomaly_service_incident_alert_feedback_restart),
        T(test_anomaly_service_windows_follow_arrival_not_event_time),
        T(test_anomaly_service_alert_file_bounded_torn_tail_skipped),
        T(test_anomaly_service_damaged_state_files),
        cmocka_unit_test(test_anomaly_service_pattern_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
