/*
 * anomaly_api.c - HTTP endpoints of the anomaly service: patterns,
 * alerts, feedback and counters.
 *
 * Design.  Alerts and counters are answered on the loop from the alerts
 * store (cheap, bounded by alerts.max_kept).  /api/v1/patterns counts
 * over every searchable segment, so it runs on a worker: the loop takes a
 * store snapshot and a reference to the template table, the worker runs
 * sift_patterns_run() and builds the whole body, and the done callback
 * (loop) replies and releases both.  A job never touches the service, so
 * jobs finishing while siftd stops are safe.
 *
 * Times (from/to): epoch milliseconds, RFC 3339, "now", or now-N / now+N
 * with s, m, h, d or w.
 *
 * Thread: loop thread, except pattern_work() (a worker).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/params.h"
#include "sift/alert_format.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/anomaly_api.h"
#include "sift/anomaly_service.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/fanout.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/patterns.h"
#include "sift/pool.h"
#include "sift/query.h"
#include "sift/render.h"
#include "sift/segment.h"
#include "sift/store.h"

#define PATTERNS_DEFAULT_SIZE 20u
#define PATTERNS_MAX_SIZE 1000u
#define ALERTS_DEFAULT_LIMIT 1000u
#define ALERTS_PREFIX "/api/v1/alerts/"

struct sift_anomaly_api {
    struct sift_anomaly_service *svc;
    struct sift_store *store;
    struct sift_pool *pool;
    const struct sift_config *cfg;
    const struct sift_fanout *fanout;
};

/* In a cluster, non-zero when req is answered from this node alone (asked
 * by a node, or local=true); otherwise it was fanned out to every node
 * (merged by template text, or alerts newest first) and is answered. */
static int
local_or_fanned(struct sift_anomaly_api *api, struct sift_http_req *req,
                enum sift_cluster_merge kind, uint32_t size)
{
    if (sift_fanout_is_local(api->fanout, req))
        return 1;
    const char *ap = sift_http_req_param(req, "allow_partial");
    const struct sift_cluster_query cq = {
        .kind = kind,
        .size = size,
        .allow_partial = !(ap && strcmp(ap, "false") == 0)};
    api->fanout->fanout(api->fanout->impl, req, &cq);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Parameters                                                           */
/* ------------------------------------------------------------------ */

/* Reads from/to; replies 400 and returns -1 on a bad value. */
static int
time_range(struct sift_http_req *req, int64_t *from, int64_t *to)
{
    const char *f = sift_http_req_param(req, "from");
    const char *t = sift_http_req_param(req, "to");
    struct sift_query_error err;
    if (sift_query_time_range(f, t, sift_clock_now_ns(), from, to, &err) < 0) {
        sift_http_reply_error(req, err.status, err.type, "%s", err.reason);
        return -1;
    }
    return 0;
}

/* Reads a positive integer parameter; replies 400 on a bad one. */
static int
uint_param(struct sift_http_req *req, const char *name, uint32_t def,
           uint32_t max, uint32_t *out)
{
    const char *s = sift_http_req_param(req, name);
    *out = def;
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 1 || v > (long long)max) {
        sift_http_reply_error(req, 400, "bad_request",
                              "%s: expected an integer from 1 to %u, got "
                              "\"%s\"",
                              name, max, s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* GET /api/v1/patterns                                                 */
/* ------------------------------------------------------------------ */

struct pattern_job {
    struct sift_http_req *req;
    struct sift_snapshot *snap;
    struct sift_anomaly_templates *names;
    struct sift_patterns_opts opts;
    char *q;
    int rc;
    struct sift_patterns_error err;
    struct sift_patterns_result res;
    int64_t t0_ns;
};

static void
pattern_work(void *arg)
{
    struct pattern_job *j = arg;
    size_t n = sift_snapshot_count(j->snap);
    struct sift_segment **segs = sift_try_calloc(n ? n : 1, sizeof(*segs));
    if (!segs) {
        j->rc = SIFT_ENOMEM;
        j->err.status = 503;
        j->err.type = "out_of_memory";
        snprintf(j->err.reason, sizeof(j->err.reason), "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++)
        segs[i] = sift_snapshot_segment(j->snap, i);
    j->rc = sift_patterns_run(segs, n, &j->opts, j->names, &j->res, &j->err);
    sift_free(segs);
}

static void
pattern_done(void *arg, int cancelled)
{
    struct pattern_job *j = arg;
    if (cancelled) {
        sift_http_reply_error(j->req, 503, "shutting_down",
                              "siftd is stopping");
    } else if (j->rc < 0) {
        sift_http_reply_error(j->req, j->err.status ? j->err.status : 500,
                              j->err.type ? j->err.type : "internal", "%s",
                              j->err.reason);
    } else {
        struct sift_buf body = SIFT_BUF_INIT;
        sift_render_patterns(
            &j->res, (sift_clock_mono_ns() - j->t0_ns) / SIFT_NS_PER_MS, &body);
        sift_http_reply_json(j->req, 200, &body);
        sift_buf_cleanup(&body);
    }
    sift_patterns_result_free(&j->res);
    sift_snapshot_release(j->snap);
    sift_anomaly_templates_unref(j->names);
    sift_free(j->q);
    sift_free(j);
}

static void
handle_patterns(struct sift_http_req *req, void *arg)
{
    struct sift_anomaly_api *api = arg;
    const char *q = sift_http_req_param(req, "q");
    size_t qlen = q ? strlen(q) : 0;
    if ((int64_t)qlen > api->cfg->max_query_bytes) {
        sift_http_reply_error(req, 400, "query_too_long",
                              "the query is longer than query.max_query_bytes "
                              "(%" PRId64 ")",
                              api->cfg->max_query_bytes);
        return;
    }
    int64_t from, to;
    uint32_t size;
    if (time_range(req, &from, &to) < 0 ||
        uint_param(req, "size", PATTERNS_DEFAULT_SIZE, PATTERNS_MAX_SIZE,
                   &size) < 0)
        return;
    /* interval: the series' bucket (a duration, or auto). */
    const char *iv = sift_http_req_param(req, "interval");
    int64_t interval_ms = 0;
    if (iv && *iv && strcmp(iv, "auto") != 0 &&
        (sift_parse_duration_ms(iv, &interval_ms) < 0 || interval_ms <= 0)) {
        sift_http_reply_error(req, 400, "bad_request",
                              "interval: expected auto or a duration like 30s "
                              "or 5m, got \"%s\"",
                              iv);
        return;
    }
    if (!local_or_fanned(api, req, SIFT_CLUSTER_PATTERNS, size))
        return;
    struct pattern_job *j = sift_xcalloc(1, sizeof(*j));
    j->req = req;
    j->t0_ns = sift_clock_mono_ns();
    j->q = sift_xstrndup(q ? q : "", qlen);
    j->opts.q = j->q;
    j->opts.q_len = qlen;
    j->opts.from_ns = from;
    j->opts.to_ns = to;
    j->opts.size = size;
    j->opts.interval_ns = interval_ms * SIFT_NS_PER_MS;
    j->opts.deadline_mono_ns =
        j->t0_ns + api->cfg->query_timeout_ms * SIFT_NS_PER_MS;
    j->opts.max_query_bytes = (size_t)api->cfg->max_query_bytes;
    j->opts.max_expansion = (uint64_t)api->cfg->max_expansion;
    j->snap = sift_store_snapshot(api->store);
    j->names = sift_anomaly_service_templates(api->svc);
    if (sift_pool_submit(api->pool, pattern_work, pattern_done, j) < 0)
        pattern_done(j, 1);
}

/* ------------------------------------------------------------------ */
/* Alerts                                                               */
/* ------------------------------------------------------------------ */

struct alert_list {
    int state; /* 0 = any */
    struct sift_alert *v;
    size_t n, cap;
};

static int
collect_alert(const struct sift_alert *al, void *arg)
{
    struct alert_list *l = arg;
    if (l->state && al->state != l->state)
        return 0;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = sift_xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = *al;
    return 0;
}

static void
handle_alerts(struct sift_http_req *req, void *arg)
{
    struct sift_anomaly_api *api = arg;
    struct alert_list l = {0};
    const char *state = sift_http_req_param(req, "state");
    if (state && *state && strcmp(state, "all") != 0) {
        if (strcmp(state, "firing") == 0) {
            l.state = SIFT_ALERT_FIRING;
        } else if (strcmp(state, "resolved") == 0) {
            l.state = SIFT_ALERT_RESOLVED;
        } else {
            sift_http_reply_error(req, 400, "bad_request",
                                  "state: expected firing, resolved or all, "
                                  "got \"%s\"",
                                  state);
            return;
        }
    }
    int64_t from, to;
    uint32_t limit;
    if (time_range(req, &from, &to) < 0 ||
        uint_param(req, "limit", ALERTS_DEFAULT_LIMIT, 100000, &limit) < 0)
        return;
    if (!local_or_fanned(api, req, SIFT_CLUSTER_ALERTS, limit))
        return;
    sift_anomaly_service_alerts(api->svc, from, to, collect_alert, &l);
    struct sift_buf b = SIFT_BUF_INIT;
    SIFT_BUF_LIT(&b, "{\"alerts\":[");
    /* Newest first. */
    for (size_t i = 0; i < l.n && i < limit; i++) {
        if (i)
            sift_buf_putc(&b, ',');
        sift_alert_to_json(&l.v[l.n - 1 - i], &b);
    }
    sift_buf_appendf(&b, "],\"total\":%zu}", l.n);
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
    sift_free(l.v);
}

/* "/api/v1/alerts/17[/rest]" -> 17 and rest ("" or "/feedback"). */
static int
alert_path(const char *path, uint64_t *id, const char **rest)
{
    const char *p = path + strlen(ALERTS_PREFIX);
    if (*p < '0' || *p > '9')
        return SIFT_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || v == 0)
        return SIFT_EINVAL;
    *id = (uint64_t)v;
    *rest = end;
    return SIFT_OK;
}

/* 404 for an alert id that is not (or no longer) in the alerts store. */
static void
reply_no_alert(struct sift_http_req *req, uint64_t id)
{
    sift_http_reply_error(req, 404, "alert_not_found",
                          "no alert %" PRIu64 " (unknown or no longer kept)",
                          id);
}

static void
handle_alert_get(struct sift_http_req *req, void *arg)
{
    struct sift_anomaly_api *api = arg;
    uint64_t id;
    const char *rest;
    struct sift_alert al;
    if (alert_path(sift_http_req_path(req), &id, &rest) < 0 || *rest) {
        sift_http_reply_error(req, 404, "not_found", "no such endpoint: %s",
                              sift_http_req_path(req));
        return;
    }
    if (sift_anomaly_service_alert_get(api->svc, id, &al) < 0) {
        reply_no_alert(req, id);
        return;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    sift_alert_to_json(&al, &b);
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

static void
handle_alert_post(struct sift_http_req *req, void *arg)
{
    struct sift_anomaly_api *api = arg;
    uint64_t id;
    const char *rest;
    if (alert_path(sift_http_req_path(req), &id, &rest) < 0 ||
        strcmp(rest, "/feedback") != 0) {
        sift_http_reply_error(req, 404, "not_found", "no such endpoint: %s",
                              sift_http_req_path(req));
        return;
    }
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    json_error_t jerr;
    json_t *o = len ? json_loadb(body, len, 0, &jerr) : NULL;
    if (sift__api_body_check(req, o) < 0) {
        json_decref(o);
        return;
    }
    const char *label = json_string_value(json_object_get(o, "label"));
    enum sift_alert_label lab = SIFT_LABEL_NONE;
    if (label && strcmp(label, "false_positive") == 0)
        lab = SIFT_LABEL_FALSE_POSITIVE;
    else if (label && strcmp(label, "true_positive") == 0)
        lab = SIFT_LABEL_TRUE_POSITIVE;
    json_decref(o);
    if (lab == SIFT_LABEL_NONE) {
        sift_http_reply_error(req, 400, "bad_request",
                              "expected a JSON body {\"label\":"
                              "\"false_positive\"} or {\"label\":"
                              "\"true_positive\"}");
        return;
    }
    struct sift_alert al;
    double thr;
    if (sift_anomaly_service_feedback(api->svc, id, lab, &al, &thr) < 0) {
        reply_no_alert(req, id);
        return;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    SIFT_BUF_LIT(&b, "{\"alert\":");
    sift_alert_to_json(&al, &b);
    sift_buf_append(&b, ",\"series_threshold\":", 20);
    sift_buf_put_json_double(&b, thr);
    sift_buf_putc(&b, '}');
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* GET /api/v1/anomaly/stats: the service's counters. */
static void
render_stats(const struct sift_anomaly_service_stats *s, struct sift_buf *out)
{
    sift_buf_appendf(
        out,
        "{\"templates\":%" PRIu32 ",\"templates_evicted\":%" PRIu64
        ",\"templates_merged\":%" PRIu64 ",\"template_aliases\":%" PRIu32
        ",\"header_sources\":%" PRIu32 ",\"template_saves\":%" PRIu64
        ",\"template_save_errors\":%" PRIu64 ",\"records_pushed\":%" PRIu64
        ",\"records_dropped\":%" PRIu64 ",\"records_late\":%" PRIu64
        ",\"windows\":%" PRIu64 ",\"alerts_kept\":%" PRIu64
        ",\"alert_events\":%" PRIu64 ",\"sinks\":{\"webhook_sent\":%" PRIu64
        ",\"webhook_failed\":%" PRIu64 ",\"redis_sent\":%" PRIu64
        ",\"redis_failed\":%" PRIu64 ",\"kafka_sent\":%" PRIu64
        ",\"kafka_failed\":%" PRIu64 "}}",
        s->templates, s->templates_evicted, s->templates_merged,
        s->template_aliases, s->header_sources, s->template_saves,
        s->template_save_errors, s->records_pushed, s->records_dropped,
        s->records_late, s->windows, s->alerts_kept, s->alert_events,
        s->webhook_sent, s->webhook_failed, s->redis_sent, s->redis_failed,
        s->kafka_sent, s->kafka_failed);
}

static void
handle_stats(struct sift_http_req *req, void *arg)
{
    struct sift_anomaly_api *api = arg;
    struct sift_anomaly_service_stats s;
    sift_anomaly_service_stats(api->svc, &s);
    struct sift_buf b = SIFT_BUF_INIT;
    render_stats(&s, &b);
    if (sift_fanout_active(api->fanout)) {
        /* Scoring over the cluster (docs/cluster.md): windows scored from
         * the nodes' sums, those missing a node, and the series this node
         * owned among those scored in the last window. */
        struct sift_anomaly_cluster_stats c;
        sift_anomaly_service_cluster_stats(api->svc, &c);
        b.len--; /* the closing brace */
        sift_buf_appendf(&b,
                         ",\"cluster\":{\"merged_windows\":%" PRIu64
                         ",\"partial_windows\":%" PRIu64
                         ",\"owned_series\":%" PRIu64 ",\"series\":%" PRIu64
                         "}}",
                         c.merged, c.partial, c.owned, c.series);
    }
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* POST /api/v1/debug/alerts {"count":N,"resolve":bool}: test
 * notifications through the real store and outboxes (debug only). */
static void
handle_debug_alerts(struct sift_http_req *req, void *arg)
{
    struct sift_anomaly_api *api = arg;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    json_error_t jerr;
    json_t *o = len ? json_loadb(body, len, 0, &jerr) : NULL;
    if (len && !json_is_object(o)) {
        json_decref(o);
        sift_http_reply_error(req, 400, "bad_request",
                              "expected a JSON object {\"count\":N}");
        return;
    }
    if (sift__api_body_check(req, o) < 0) {
        json_decref(o);
        return;
    }
    json_t *jc = json_object_get(o, "count");
    if (jc && (!json_is_integer(jc) || json_integer_value(jc) < 1)) {
        json_decref(o);
        sift_http_reply_error(req, 400, "bad_request",
                              "invalid 'count': expected a number >= 1");
        return;
    }
    uint32_t count = jc ? (uint32_t)json_integer_value(jc) : 1;
    int resolve = json_is_true(json_object_get(o, "resolve"));
    json_decref(o);
    uint64_t *ids = sift_xcalloc(count, sizeof(*ids));
    int rc = sift_anomaly_service_test_alerts(api->svc, count, resolve, ids);
    if (rc < 0) {
        sift_free(ids);
        sift_http_reply_error(req, 503, "shutting_down", "siftd is stopping");
        return;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    SIFT_BUF_LIT(&b, "{\"ids\":[");
    for (uint32_t i = 0; i < count; i++)
        sift_buf_appendf(&b, "%s%" PRIu64, i ? "," : "", ids[i]);
    SIFT_BUF_LIT(&b, "]}");
    sift_free(ids);
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* ------------------------------------------------------------------ */

int
sift_anomaly_api_new(struct sift_http *http,
                     const struct sift_anomaly_api_deps *deps,
                     struct sift_anomaly_api **out)
{
    struct sift_anomaly_api *api = sift_xcalloc(1, sizeof(*api));
    api->svc = deps->service;
    api->store = deps->store;
    api->pool = deps->pool;
    api->cfg = deps->cfg;
    api->fanout = deps->fanout;
    sift_http_route(http, "GET", "/api/v1/patterns", 0, SIFT_ROLE_READER,
                    handle_patterns, api);
    sift_http_route(http, "GET", "/api/v1/alerts", 0, SIFT_ROLE_READER,
                    handle_alerts, api);
    sift_http_route(http, "GET", ALERTS_PREFIX, SIFT_ROUTE_PREFIX,
                    SIFT_ROLE_READER, handle_alert_get, api);
    sift_http_route(http, "POST", ALERTS_PREFIX, SIFT_ROUTE_PREFIX,
                    SIFT_ROLE_ADMIN, handle_alert_post, api);
    sift_http_route(http, "GET", "/api/v1/anomaly", 0, SIFT_ROLE_READER,
                    handle_stats, api);
    if (api->cfg && api->cfg->debug_endpoints)
        sift_http_route(http, "POST", "/api/v1/debug/alerts", 0,
                        SIFT_ROLE_ADMIN, handle_debug_alerts, api);
    *out = api;
    return SIFT_OK;
}

void
sift_anomaly_api_free(struct sift_anomaly_api *api)
{
    sift_free(api);
}
