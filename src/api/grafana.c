/*
 * grafana.c - HTTP and worker plumbing of the Grafana JSON datasource API.
 *
 * What: the /grafana routes of include/sift/grafana.h.  Request bodies are
 * parsed with jansson on the loop (small), planned by grafana_plan.c, and
 * every request that reads segments becomes one query job
 * (query_job.c): the worker runs the engine (sift_search_exec,
 * sift_agg_*) for each target and shapes the frames; the loop adds what
 * only the loop may read (alerts, template texts) and replies.
 *
 * Design: one struct gf_req per request carries the plan, a frames array
 * per target and the first error.  Targets run in order on one job so a
 * panel's queries share one snapshot (each engine call fans its segments
 * out over the pool, src/query/par.c); the reply is a top-level array of
 * all targets' frames in target order.  If any target fails the whole
 * request answers the error (the plugin shows it on the panel).  The
 * "stats" metric runs sift_agg_stats once per bucket (at most
 * SIFT_GF_MAX_STATS_POINTS), since the engine's stats are not bucketed.
 *
 * Invariants: a request is replied to exactly once (done callback, or at
 * once for requests that need no segments); jansson values are only
 * touched by one thread at a time (the worker until done runs).
 *
 * Threads: handlers and done callbacks on the loop; gf_work on a worker.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/grafana_int.h"
#include "api/json_out.h"
#include "api/query_job.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/grafana.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/metrics_api.h"
#include "sift/query.h"
#include "sift/render.h"
#include "sift/utf8.h"

#define GF_MAX_ALERTS 2000u /* alerts per annotation query */

struct sift_grafana_api {
    struct sift_store *store;
    struct sift_pool *pool;
    const struct sift_config *cfg;
    struct sift_query_slots *slots;
    struct sift_metrics_api *metrics;
    sift_grafana_alerts_cb alerts_cb;
    void *alerts_arg;
    sift_grafana_template_cb template_cb;
    void *template_arg;
    sift_search_saved_cb saved_cb; /* "@name" targets; NULL = none */
    void *saved_arg;
};

enum gf_op {
    GF_OP_QUERY,  /* /query */
    GF_OP_FIELDS, /* field list */
    GF_OP_VALUES, /* values of one field */
};

/* Patterns of one target, kept for the loop to add template texts. */
struct gf_patterns {
    struct sift_gf_pattern *v;
    char **examples;
    size_t n;
};

struct gf_req {
    struct sift_grafana_api *api;
    struct sift_http_req *req;
    struct sift_pool *pool; /* segments fan out over it (par.c) */
    const char *endpoint;   /* metrics label */
    enum gf_op op;
    int64_t start_mono_ns;
    int64_t deadline_mono_ns;
    struct sift_query_limits qlim;
    /* GF_OP_QUERY */
    struct sift_gf_plan plan;
    json_t **frames;              /* [n_targets] */
    struct gf_patterns *patterns; /* [n_targets] */
    /* GF_OP_FIELDS / GF_OP_VALUES */
    enum sift_gf_field_use use;
    enum sift_gf_list_style style;
    char *field;
    char *query;
    int64_t from_ns, to_ns;
    uint32_t size;
    json_t *list;
    /* outcome */
    int failed;
    struct sift_gf_error err;
};

/* ------------------------------------------------------------------ */
/* Replies                                                              */
/* ------------------------------------------------------------------ */

static void
reply_error(struct sift_http_req *req, const struct sift_gf_error *err)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift__gf_error_json(err, &b);
    sift_buf_putc(&b, '\n');
    if (err->status == 503)
        sift_http_add_header(req, "Retry-After", "1");
    sift_http_reply_json(req, err->status ? err->status : 500, &b);
    sift_buf_cleanup(&b);
}

static void
reply_json(struct sift_http_req *req, json_t *v)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift__api_put_json(&b, v); /* shortest reals, as every reply */
    sift_buf_putc(&b, '\n');
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* The request body as JSON; an empty body is {}.  NULL + err on failure. */
static json_t *
body_json(struct sift_http_req *req, struct sift_gf_error *err)
{
    size_t len = 0;
    const char *body = sift_http_req_body(req, &len);
    size_t i = 0;
    while (i < len && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' ||
                       body[i] == '\t'))
        i++;
    if (i == len)
        return json_object();
    json_error_t jerr;
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY, &jerr);
    if (!j)
        sift__gf_error_set(err, SIFT_EPARSE, 400, "bad_json",
                           "the body is not valid JSON: %s at %d", jerr.text,
                           jerr.position);
    return j;
}

static void
gf_req_free(struct gf_req *r)
{
    if (r->frames)
        for (size_t i = 0; i < r->plan.n_targets; i++)
            json_decref(r->frames[i]);
    sift_free(r->frames);
    if (r->patterns) {
        for (size_t i = 0; i < r->plan.n_targets; i++) {
            struct gf_patterns *p = &r->patterns[i];
            for (size_t k = 0; k < p->n; k++)
                sift_free(p->examples[k]);
            sift_free(p->examples);
            sift_free(p->v);
        }
        sift_free(r->patterns);
    }
    sift__gf_plan_cleanup(&r->plan);
    sift_free(r->field);
    sift_free(r->query);
    json_decref(r->list);
    sift_free(r);
}

static struct gf_req *
gf_req_new(struct sift_grafana_api *api, struct sift_http_req *req,
           const char *endpoint, enum gf_op op)
{
    struct gf_req *r = sift_xcalloc(1, sizeof(*r));
    r->api = api;
    r->req = req;
    r->endpoint = endpoint;
    r->pool = api->pool;
    r->op = op;
    r->start_mono_ns = sift_clock_mono_ns();
    const struct sift_config *cfg = api->cfg;
    if (cfg->query_timeout_ms > 0)
        r->deadline_mono_ns =
            r->start_mono_ns + cfg->query_timeout_ms * SIFT_NS_PER_MS;
    r->qlim.max_query_bytes =
        cfg->max_query_bytes > 0 ? (size_t)cfg->max_query_bytes : 0;
    r->qlim.max_expansion =
        cfg->max_expansion > 0 ? (uint64_t)cfg->max_expansion : 0;
    r->from_ns = SIFT_TIME_MIN;
    r->to_ns = SIFT_TIME_MAX;
    return r;
}

static void
observe(struct gf_req *r)
{
    double s = (double)(sift_clock_mono_ns() - r->start_mono_ns) / 1e9;
    sift_metrics_api_observe_query(r->api->metrics, r->endpoint, s);
    if (r->failed)
        sift_metrics_api_count_query_error(r->api->metrics, r->endpoint);
}

/* ------------------------------------------------------------------ */
/* Worker: the engine                                                   */
/* ------------------------------------------------------------------ */

static void
fail_from_query(struct gf_req *r, const char *ref,
                const struct sift_query_error *qe, int rc)
{
    r->failed = 1;
    int status = qe->status ? qe->status : rc == SIFT_ENOMEM ? 503 : 500;
    sift__gf_error_set(&r->err, rc, status, qe->type ? qe->type : "internal",
                       "%s%s%s%s", ref ? "query " : "", ref ? ref : "",
                       ref ? ": " : "",
                       qe->reason[0] ? qe->reason : sift_strerror(rc));
}

static void
fail_shape(struct gf_req *r, const char *ref)
{
    r->failed = 1;
    sift__gf_error_set(&r->err, SIFT_EINVAL, 500, "internal",
                       "query %s: the engine result could not be read", ref);
}

static void
agg_opts(const struct gf_req *r, int64_t from, int64_t to,
         struct sift_agg_opts *o)
{
    sift_agg_opts_init(o);
    o->from_ns = from;
    o->to_ns = to;
    o->deadline_mono_ns = r->deadline_mono_ns;
    o->max_expansion = r->qlim.max_expansion;
    o->pool = r->pool;
}

static void
run_logs(struct gf_req *r, struct sift_segment *const *segs, size_t n,
         const struct sift_gf_target *t, const struct sift_query *q)
{
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    o.from_ns = r->plan.from_ns;
    o.to_ns = r->plan.to_ns;
    o.limit = t->limit;
    o.deadline_mono_ns = r->deadline_mono_ns;
    o.max_expansion = r->qlim.max_expansion;
    o.pool = r->pool;
    struct sift_search_result res;
    sift_search_result_init(&res);
    struct sift_query_error qe = {.position = -1};
    int rc = sift_search_exec(segs, n, q, &o, &res, &qe);
    struct sift_render_hits_opts ro = {0};
    struct sift_buf hits = SIFT_BUF_INIT;
    if (rc < 0)
        fail_from_query(r, t->ref_id, &qe, rc);
    else if (sift_render_hits(&res, 0, &ro, &hits) < 0 ||
             sift__gf_frame_logs(t, hits.data, hits.len, res.total,
                                 res.timed_out,
                                 r->frames[t - r->plan.targets]) < 0)
        fail_shape(r, t->ref_id);
    sift_buf_cleanup(&hits);
    sift_search_result_cleanup(&res);
}

static void
run_agg(struct gf_req *r, struct sift_segment *const *segs, size_t n,
        const struct sift_gf_target *t, const struct sift_query *q)
{
    json_t *frames = r->frames[t - r->plan.targets];
    struct sift_agg_opts o;
    agg_opts(r, r->plan.from_ns, r->plan.to_ns, &o);
    struct sift_buf out = SIFT_BUF_INIT;
    struct sift_query_error qe = {.position = -1};
    int rc;
    if (t->kind == SIFT_GF_COUNT) {
        o.field = t->by;
        o.size = t->limit;
        o.interval_ms = r->plan.interval_ms;
        struct sift_agg_histo_result h;
        rc = sift_agg_histogram(segs, n, q, &o, &h, &qe);
        if (rc == SIFT_OK)
            sift_render_histogram(&h, &out);
        sift_agg_histo_result_cleanup(&h);
        if (rc == SIFT_OK &&
            sift__gf_frame_count(t, out.data, out.len, r->plan.max_points,
                                 frames) < 0)
            fail_shape(r, t->ref_id);
    } else {
        o.field = t->field;
        o.size = t->limit;
        struct sift_agg_terms_result tr;
        rc = sift_agg_terms(segs, n, q, &o, &tr, &qe);
        if (rc == SIFT_OK)
            sift_render_terms(&tr, &out);
        sift_agg_terms_result_cleanup(&tr);
        if (rc == SIFT_OK &&
            sift__gf_frame_terms(t, out.data, out.len, frames) < 0)
            fail_shape(r, t->ref_id);
    }
    if (rc < 0)
        fail_from_query(r, t->ref_id, &qe, rc);
    sift_buf_cleanup(&out);
}

static int64_t
floor_div64(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static void
run_stats(struct gf_req *r, struct sift_segment *const *segs, size_t n,
          const struct sift_gf_target *t, const struct sift_query *q)
{
    uint32_t cap = r->plan.max_points < SIFT_GF_MAX_STATS_POINTS
                       ? r->plan.max_points
                       : SIFT_GF_MAX_STATS_POINTS;
    if (cap == 0)
        cap = 1;
    int64_t iv_ns = r->plan.stats_interval_ms * SIFT_NS_PER_MS;
    int64_t start = floor_div64(r->plan.from_ns, iv_ns) * iv_ns;
    uint64_t nb = sift__gf_bucket_count(r->plan.from_ns, r->plan.to_ns,
                                        r->plan.stats_interval_ms);
    if (nb > cap) {
        /* Epoch alignment cannot fit (maxDataPoints 1): even buckets
         * from the start of the range instead. */
        uint64_t span = (uint64_t)r->plan.to_ns - (uint64_t)r->plan.from_ns;
        iv_ns = (int64_t)((span + cap - 1) / cap);
        if (iv_ns < 1)
            iv_ns = 1;
        start = r->plan.from_ns;
        nb = cap;
    }
    struct sift_gf_stats_point *pts = sift_xcalloc(nb + 1, sizeof(*pts));
    for (uint64_t b = 0; b < nb && !r->failed; b++) {
        int64_t lo = start + (int64_t)b * iv_ns, hi = lo + iv_ns;
        pts[b].time_ms = floor_div64(lo, SIFT_NS_PER_MS);
        /* Past the deadline the remaining buckets stay empty (null). */
        if (r->deadline_mono_ns && sift_clock_mono_ns() > r->deadline_mono_ns)
            continue;
        struct sift_agg_opts o;
        agg_opts(r, lo < r->plan.from_ns ? r->plan.from_ns : lo,
                 hi > r->plan.to_ns ? r->plan.to_ns : hi, &o);
        o.field = t->field;
        struct sift_query_error qe = {.position = -1};
        struct sift_agg_stats_result st;
        int rc = sift_agg_stats(segs, n, q, &o, &st, &qe);
        if (rc < 0) {
            fail_from_query(r, t->ref_id, &qe, rc);
        } else {
            pts[b].count = st.count;
            if (st.count) {
                pts[b].avg = st.sum / (double)st.count;
                pts[b].p50 = st.p50;
                pts[b].p99 = st.p99;
            }
        }
        sift_agg_stats_result_cleanup(&st);
    }
    if (!r->failed)
        sift__gf_frame_stats(t, pts, (size_t)nb,
                             r->frames[t - r->plan.targets]);
    sift_free(pts);
}

/* The message of the newest match of "(query) AND _template_id:id". */
static char *
pattern_example(struct gf_req *r, struct sift_segment *const *segs, size_t n,
                const char *query, const char *id)
{
    struct sift_buf qs = SIFT_BUF_INIT;
    if (*query)
        sift_buf_appendf(&qs, "(%s) AND _template_id:%s", query, id);
    else
        sift_buf_appendf(&qs, "_template_id:%s", id);
    struct sift_query *q = NULL;
    struct sift_query_error qe = {.position = -1};
    char *msg = NULL;
    if (sift_query_parse(qs.data, qs.len, NULL, &q, &qe) == SIFT_OK) {
        struct sift_search_opts o;
        sift_search_opts_init(&o);
        o.from_ns = r->plan.from_ns;
        o.to_ns = r->plan.to_ns;
        o.limit = 1;
        o.deadline_mono_ns = r->deadline_mono_ns;
        o.pool = r->pool;
        struct sift_search_result res;
        sift_search_result_init(&res);
        if (sift_search_exec(segs, n, q, &o, &res, &qe) == SIFT_OK &&
            res.n_hits > 0) {
            struct sift_arena *arena = sift_arena_new(4096);
            struct sift_event ev;
            if (sift_doc_decode((const uint8_t *)res.docs.data +
                                    res.hits[0].doc_off,
                                res.hits[0].doc_len, arena, &ev) == SIFT_OK) {
                /* jansson takes valid UTF-8 only: repaired as in replies */
                struct sift_buf m = SIFT_BUF_INIT;
                sift_utf8_repair(&m, ev.msg ? ev.msg : "", ev.msg_len);
                msg = sift_xstrndup(m.data ? m.data : "", m.len);
                sift_buf_cleanup(&m);
            }
            sift_arena_free(arena);
        }
        sift_search_result_cleanup(&res);
    }
    sift_query_free(q);
    sift_buf_cleanup(&qs);
    return msg;
}

/* A _template_id value as an id: decimal, 1..UINT32_MAX; 0 otherwise. */
static uint32_t
template_id_of(const char *s, size_t len)
{
    uint64_t v = 0;
    if (len == 0 || len > 10)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v <= UINT32_MAX ? (uint32_t)v : 0;
}

static void
run_patterns(struct gf_req *r, struct sift_segment *const *segs, size_t n,
             const struct sift_gf_target *t, const struct sift_query *q)
{
    struct sift_agg_opts o;
    agg_opts(r, r->plan.from_ns, r->plan.to_ns, &o);
    o.field = "_template_id";
    o.size = t->limit;
    struct sift_agg_terms_result tr;
    struct sift_query_error qe = {.position = -1};
    int rc = sift_agg_terms(segs, n, q, &o, &tr, &qe);
    if (rc < 0) {
        fail_from_query(r, t->ref_id, &qe, rc);
        return;
    }
    struct gf_patterns *p = &r->patterns[t - r->plan.targets];
    size_t nb = tr.n_buckets;
    p->v = sift_xcalloc(nb + 1, sizeof(*p->v));
    p->examples = sift_xcalloc(nb + 1, sizeof(*p->examples));
    for (size_t i = 0; i < nb; i++) {
        const struct sift_agg_term *b = &tr.buckets[i];
        uint32_t id = template_id_of(b->key, b->key_len);
        if (id == 0)
            continue; /* no template (0) or not an id */
        struct sift_gf_pattern *pt = &p->v[p->n];
        pt->template_id = id;
        pt->count = b->count;
        p->examples[p->n] = pattern_example(r, segs, n, t->query, b->key);
        pt->example = p->examples[p->n];
        p->n++;
    }
    sift_agg_terms_result_cleanup(&tr);
}

static void
work_query(struct gf_req *r, struct sift_segment *const *segs, size_t n)
{
    for (size_t i = 0; i < r->plan.n_targets && !r->failed; i++) {
        const struct sift_gf_target *t = &r->plan.targets[i];
        if (t->kind == SIFT_GF_ALERTS)
            continue; /* the loop owns the alert source */
        struct sift_query *q = NULL;
        struct sift_query_error qe = {.position = -1};
        int rc =
            sift_query_parse(t->query, strlen(t->query), &r->qlim, &q, &qe);
        if (rc < 0) {
            fail_from_query(r, t->ref_id, &qe, rc);
            break;
        }
        switch (t->kind) {
        case SIFT_GF_LOGS: run_logs(r, segs, n, t, q); break;
        case SIFT_GF_COUNT:
        case SIFT_GF_TERMS: run_agg(r, segs, n, t, q); break;
        case SIFT_GF_STATS: run_stats(r, segs, n, t, q); break;
        case SIFT_GF_PATTERNS: run_patterns(r, segs, n, t, q); break;
        case SIFT_GF_ALERTS:
        case SIFT_GF_KIND_COUNT: break;
        }
        sift_query_free(q);
    }
}

static void
work_list(struct gf_req *r, struct sift_segment *const *segs, size_t n)
{
    struct sift_buf out = SIFT_BUF_INIT;
    if (r->op == GF_OP_FIELDS) {
        struct sift_agg_fields_result fr;
        sift_agg_fields(segs, n, &fr);
        sift_render_fields(&fr, &out);
        sift_agg_fields_result_cleanup(&fr);
        if (sift__gf_fields_list(out.data, out.len, r->use, r->style, r->list) <
            0)
            fail_shape(r, "-");
        sift_buf_cleanup(&out);
        return;
    }
    struct sift_query *q = NULL;
    struct sift_query_error qe = {.position = -1};
    const char *qs = r->query ? r->query : "";
    int rc = sift_query_parse(qs, strlen(qs), &r->qlim, &q, &qe);
    if (rc == SIFT_OK) {
        struct sift_agg_opts o;
        agg_opts(r, r->from_ns, r->to_ns, &o);
        o.field = r->field;
        o.size = r->size;
        struct sift_agg_terms_result tr;
        rc = sift_agg_terms(segs, n, q, &o, &tr, &qe);
        if (rc == SIFT_OK)
            sift_render_terms(&tr, &out);
        sift_agg_terms_result_cleanup(&tr);
    }
    if (rc < 0)
        fail_from_query(r, NULL, &qe, rc);
    else if (sift__gf_values_list(out.data, out.len, r->style, r->list) < 0)
        fail_shape(r, "-");
    sift_query_free(q);
    sift_buf_cleanup(&out);
}

static void
gf_work(struct sift_segment *const *segs, size_t n, void *arg)
{
    struct gf_req *r = arg;
    if (r->op == GF_OP_QUERY)
        work_query(r, segs, n);
    else
        work_list(r, segs, n);
}

/* ------------------------------------------------------------------ */
/* Loop: finishing                                                      */
/* ------------------------------------------------------------------ */

static size_t
list_alerts(const struct sift_grafana_api *api, int64_t from_ns, int64_t to_ns,
            struct sift_alert **out)
{
    *out = NULL;
    if (!api->alerts_cb)
        return 0;
    struct sift_alert *v = sift_try_calloc(GF_MAX_ALERTS, sizeof(*v));
    if (!v)
        return 0;
    size_t n =
        api->alerts_cb(api->alerts_arg, from_ns, to_ns, v, GF_MAX_ALERTS);
    *out = v;
    return n < GF_MAX_ALERTS ? n : GF_MAX_ALERTS;
}

/* Adds template texts (loop-only source) and builds the patterns table. */
static void
finish_patterns(struct gf_req *r, size_t i)
{
    struct gf_patterns *p = &r->patterns[i];
    const struct sift_grafana_api *api = r->api;
    char **texts = sift_xcalloc(p->n + 1, sizeof(*texts));
    for (size_t k = 0; k < p->n && api->template_cb; k++) {
        struct sift_buf b = SIFT_BUF_INIT;
        if (api->template_cb(api->template_arg, p->v[k].template_id, &b) ==
            SIFT_OK) {
            texts[k] = sift_xstrdup(sift_buf_cstr(&b));
            p->v[k].pattern = texts[k];
        }
        sift_buf_cleanup(&b);
    }
    sift__gf_frame_patterns(&r->plan.targets[i], p->v, p->n, r->frames[i]);
    for (size_t k = 0; k < p->n; k++)
        sift_free(texts[k]);
    sift_free(texts);
}

static void
finish_query(struct gf_req *r)
{
    json_t *all = json_array();
    struct sift_alert *alerts = NULL;
    size_t n_alerts = 0;
    int have_alerts = 0;
    for (size_t i = 0; i < r->plan.n_targets; i++) {
        const struct sift_gf_target *t = &r->plan.targets[i];
        if (t->kind == SIFT_GF_ALERTS) {
            if (!have_alerts) {
                n_alerts = list_alerts(r->api, r->plan.from_ns, r->plan.to_ns,
                                       &alerts);
                have_alerts = 1;
            }
            sift__gf_frame_alerts(t, alerts, n_alerts, t->raw_query,
                                  r->frames[i]);
        } else if (t->kind == SIFT_GF_PATTERNS) {
            finish_patterns(r, i);
        }
        json_array_extend(all, r->frames[i]);
    }
    sift_free(alerts);
    reply_json(r->req, all);
    json_decref(all);
}

static void
gf_done(void *arg, int cancelled)
{
    struct gf_req *r = arg;
    if (cancelled) {
        r->failed = 1;
        sift__gf_error_set(&r->err, SIFT_ESHUTDOWN, 503, "shutting_down",
                           "sift is shutting down");
    }
    if (r->failed)
        reply_error(r->req, &r->err);
    else if (r->op == GF_OP_QUERY)
        finish_query(r);
    else
        reply_json(r->req, r->list);
    observe(r);
    gf_req_free(r);
}

/* Queues r, or answers at once when the pool refuses it. */
static void
submit(struct gf_req *r)
{
    const struct sift_grafana_api *api = r->api;
    int rc = sift__api_query_job_submit(api->pool, api->store, api->cfg,
                                        api->slots, gf_work, gf_done, r);
    if (rc == SIFT_OK)
        return;
    r->failed = 1;
    if (rc == SIFT_EBUSY)
        sift__gf_error_set(&r->err, rc, 503, "too_many_queries",
                           "over query.max_concurrent_queries (%lld); retry",
                           (long long)api->cfg->max_concurrent_queries);
    else
        sift__gf_error_set(&r->err, rc, 503, "unavailable",
                           "the query cannot run now: %s", sift_strerror(rc));
    reply_error(r->req, &r->err);
    observe(r);
    gf_req_free(r);
}

/* ------------------------------------------------------------------ */
/* Handlers                                                             */
/* ------------------------------------------------------------------ */

static void
on_health(struct sift_http_req *req, void *arg)
{
    (void)arg;
    static const char body[] = "{\"status\":\"ok\",\"name\":\"sift\"}\n";
    sift_http_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

static void
on_metrics(struct sift_http_req *req, void *arg)
{
    (void)arg;
    json_t *m = sift__gf_metrics_list();
    reply_json(req, m);
    json_decref(m);
}

static void
on_search(struct sift_http_req *req, void *arg)
{
    (void)arg;
    json_t *m = sift__gf_metric_names();
    reply_json(req, m);
    json_decref(m);
}

/*
 * Targets whose query is "@name" read that saved search: the planned
 * query "(@name) AND filters" (or "@name") becomes "(saved) AND
 * filters".  Returns SIFT_OK or fails r->err (404, unknown name).
 */
static int
resolve_saved(struct gf_req *r)
{
    for (size_t i = 0; i < r->plan.n_targets; i++) {
        struct sift_gf_target *t = &r->plan.targets[i];
        if (!t->raw_query || t->raw_query[0] != '@')
            continue;
        struct sift_saved_view v;
        const struct sift_grafana_api *api = r->api;
        if (!api->saved_cb ||
            api->saved_cb(api->saved_arg, t->raw_query + 1, &v) < 0)
            return sift__gf_error_set(&r->err, SIFT_ENOTFOUND, 404,
                                      "saved_search_not_found",
                                      "query %s: no saved search \"%.100s\"",
                                      t->ref_id, t->raw_query + 1);
        size_t rl = strlen(t->raw_query);
        const char *filters = NULL;
        if (t->query[0] == '(' &&
            strncmp(t->query + 1, t->raw_query, rl) == 0 &&
            strncmp(t->query + 1 + rl, ") AND ", 6) == 0)
            filters = t->query + 1 + rl + 6;
        struct sift_buf q = SIFT_BUF_INIT;
        if (filters)
            sift_buf_appendf(&q, "(%s) AND %s", v.query, filters);
        else
            sift_buf_appendf(&q, "%s", v.query);
        sift_free(t->query);
        t->query = sift_xstrdup(sift_buf_cstr(&q));
        sift_buf_cleanup(&q);
    }
    return SIFT_OK;
}

static void
on_query(struct sift_http_req *req, void *arg)
{
    struct sift_grafana_api *api = arg;
    struct gf_req *r = gf_req_new(api, req, "grafana_query", GF_OP_QUERY);
    json_t *body = body_json(req, &r->err);
    struct sift_gf_limits lim = {
        .default_hits =
            api->cfg->default_hits > 0 ? (uint32_t)api->cfg->default_hits : 100,
        .max_hits =
            api->cfg->max_hits > 0 ? (uint32_t)api->cfg->max_hits : 10000,
    };
    if (!body ||
        sift__gf_plan_query(body, &lim, sift_clock_now_ns(), &r->plan,
                            &r->err) < 0 ||
        resolve_saved(r) < 0) {
        json_decref(body);
        r->failed = 1;
        reply_error(req, &r->err);
        observe(r);
        gf_req_free(r);
        return;
    }
    json_decref(body);
    size_t n = r->plan.n_targets;
    r->frames = sift_xcalloc(n + 1, sizeof(*r->frames));
    r->patterns = sift_xcalloc(n + 1, sizeof(*r->patterns));
    int need_segments = 0;
    for (size_t i = 0; i < n; i++) {
        r->frames[i] = json_array();
        need_segments |= r->plan.targets[i].kind != SIFT_GF_ALERTS;
    }
    if (!need_segments) {
        /* Only annotations (or nothing): no snapshot, no worker. */
        finish_query(r);
        observe(r);
        gf_req_free(r);
        return;
    }
    submit(r);
}

/* Sets r->from_ns and r->to_ns from a body's range, if any. */
static int
list_range(struct gf_req *r, const json_t *body)
{
    return sift__gf_time_range(body, sift_clock_now_ns(), SIFT_TIME_MIN,
                               SIFT_TIME_MAX, &r->from_ns, &r->to_ns, &r->err);
}

static void
answer_bad(struct gf_req *r, json_t *body)
{
    json_decref(body);
    r->failed = 1;
    reply_error(r->req, &r->err);
    observe(r);
    gf_req_free(r);
}

/*
 * The request's body as a JSON object.  On anything else (unreadable,
 * invalid JSON, not an object) the request is answered with a 400 and
 * NULL is returned.  Loop thread.
 */
static json_t *
object_body(struct gf_req *r, struct sift_http_req *req)
{
    json_t *body = body_json(req, &r->err);
    if (json_is_object(body))
        return body;
    if (body)
        sift__gf_error_set(&r->err, SIFT_EINVAL, 400, "bad_request",
                           "the body must be a JSON object");
    answer_bad(r, body);
    return NULL;
}

/*
 * POST /metric-payload-options {"metric","payload","name"}: the payload
 * "by" lists keyword fields, "field" numeric ones for stats and
 * groupable ones otherwise; any other name lists the values of the field
 * of that name.
 */
static void
on_payload_options(struct sift_http_req *req, void *arg)
{
    struct sift_grafana_api *api = arg;
    struct gf_req *r = gf_req_new(api, req, "grafana_meta", GF_OP_FIELDS);
    json_t *body = object_body(r, req);
    if (!body)
        return;
    const char *name = json_string_value(json_object_get(body, "name"));
    const char *metric = json_string_value(json_object_get(body, "metric"));
    r->style = SIFT_GF_STYLE_OPTIONS;
    r->list = json_array();
    if (!name || strcmp(name, "by") == 0) {
        r->use = SIFT_GF_FIELDS_KEYWORD;
    } else if (strcmp(name, "field") == 0) {
        r->use = metric && strcmp(metric, "stats") == 0
                     ? SIFT_GF_FIELDS_NUMBER
                     : SIFT_GF_FIELDS_GROUPABLE;
    } else {
        r->op = GF_OP_VALUES;
        r->field = sift_xstrdup(name);
        r->size = SIFT_GF_MAX_TERMS;
    }
    json_decref(body);
    submit(r);
}

/*
 * POST /variable {"payload": {"target": "<field> [query]" | "fields"} or
 * any object {"field","query","limit"}, "range": …}.
 */
static void
on_variable(struct sift_http_req *req, void *arg)
{
    struct sift_grafana_api *api = arg;
    struct gf_req *r = gf_req_new(api, req, "grafana_meta", GF_OP_VALUES);
    json_t *body = object_body(r, req);
    if (!body)
        return;
    if (list_range(r, body) < 0) {
        answer_bad(r, body);
        return;
    }
    r->style = SIFT_GF_STYLE_VARIABLE;
    r->list = json_array();
    r->size = SIFT_GF_MAX_TERMS;
    json_t *p = json_object_get(body, "payload");
    const char *target = json_string_value(json_object_get(p, "target"));
    const char *field = json_string_value(json_object_get(p, "field"));
    const char *query = json_string_value(json_object_get(p, "query"));
    json_t *jl = json_object_get(p, "limit");
    if (json_is_integer(jl) && json_integer_value(jl) > 0 &&
        json_integer_value(jl) < SIFT_GF_MAX_TERMS)
        r->size = (uint32_t)json_integer_value(jl);
    if (!field && target) {
        /* "host" or "host level:error": a field name has no spaces. */
        while (*target == ' ')
            target++;
        size_t fl = strcspn(target, " \t");
        if (fl == 6 && strncmp(target, "fields", 6) == 0 &&
            target[fl] == '\0') {
            r->op = GF_OP_FIELDS;
            r->use = SIFT_GF_FIELDS_ALL;
        } else if (fl > 0) {
            r->field = sift_xstrndup(target, fl);
            const char *rest = target + fl;
            while (*rest == ' ' || *rest == '\t')
                rest++;
            r->query = sift_xstrdup(rest);
        }
    } else if (field) {
        r->field = sift_xstrdup(field);
        r->query = sift_xstrdup(query ? query : "");
    }
    if (r->op == GF_OP_VALUES && !r->field) {
        sift__gf_error_set(&r->err, SIFT_EINVAL, 400, "bad_request",
                           "the variable query must name a field (e.g. "
                           "\"host\" or \"host level:error\"), or be "
                           "\"fields\"");
        answer_bad(r, body);
        return;
    }
    json_decref(body);
    submit(r);
}

static void
on_tag_keys(struct sift_http_req *req, void *arg)
{
    struct sift_grafana_api *api = arg;
    struct gf_req *r = gf_req_new(api, req, "grafana_meta", GF_OP_FIELDS);
    json_t *body = body_json(req, &r->err);
    if (!body) {
        answer_bad(r, body);
        return;
    }
    json_decref(body);
    r->use = SIFT_GF_FIELDS_ALL;
    r->style = SIFT_GF_STYLE_TAGS;
    r->list = json_array();
    submit(r);
}

/* POST /tag-values {"key", "filters"?: other ad-hoc filters, range?}. */
static void
on_tag_values(struct sift_http_req *req, void *arg)
{
    struct sift_grafana_api *api = arg;
    struct gf_req *r = gf_req_new(api, req, "grafana_meta", GF_OP_VALUES);
    json_t *body = object_body(r, req);
    if (!body)
        return;
    if (list_range(r, body) < 0) {
        answer_bad(r, body);
        return;
    }
    const char *key = json_string_value(json_object_get(body, "key"));
    if (!key || !*key) {
        sift__gf_error_set(&r->err, SIFT_EINVAL, 400, "bad_request",
                           "\"key\" (the field) is required");
        answer_bad(r, body);
        return;
    }
    /* The other active filters narrow the values; the key's own do not. */
    json_t *others = json_array();
    json_t *filters = json_object_get(body, "filters");
    for (size_t i = 0; i < json_array_size(filters); i++) {
        json_t *f = json_array_get(filters, i);
        const char *k = json_string_value(json_object_get(f, "key"));
        if (k && strcmp(k, key) != 0)
            json_array_append(others, f);
    }
    struct sift_buf q = SIFT_BUF_INIT;
    int rc = sift__gf_filters_query(others, &q, &r->err);
    json_decref(others);
    if (rc < 0) {
        sift_buf_cleanup(&q);
        answer_bad(r, body);
        return;
    }
    r->query = sift_xstrdup(sift_buf_cstr(&q));
    sift_buf_cleanup(&q);
    r->field = sift_xstrdup(key);
    r->size = SIFT_GF_MAX_TERMS;
    r->style = SIFT_GF_STYLE_TAGS;
    r->list = json_array();
    json_decref(body);
    submit(r);
}

/* Legacy SimpleJSON: {"range", "annotation": {"query", ...}}. */
static void
on_annotations(struct sift_http_req *req, void *arg)
{
    struct sift_grafana_api *api = arg;
    struct gf_req *r = gf_req_new(api, req, "grafana_annotations", GF_OP_QUERY);
    json_t *body = object_body(r, req);
    if (!body)
        return;
    int64_t now = sift_clock_now_ns();
    if (sift__gf_time_range(
            body, now, now - (int64_t)SIFT_GF_DEFAULT_RANGE_MS * SIFT_NS_PER_MS,
            now, &r->from_ns, &r->to_ns, &r->err) < 0) {
        answer_bad(r, body);
        return;
    }
    struct sift_alert *alerts = NULL;
    size_t n = list_alerts(r->api, r->from_ns, r->to_ns, &alerts);
    json_t *out = json_array();
    sift__gf_annotations_legacy(json_object_get(body, "annotation"), alerts, n,
                                out);
    sift_free(alerts);
    reply_json(req, out);
    json_decref(out);
    json_decref(body);
    observe(r);
    gf_req_free(r);
}

/* ------------------------------------------------------------------ */
/* Registration                                                         */
/* ------------------------------------------------------------------ */

int
sift_grafana_api_new(struct sift_http *http,
                     const struct sift_grafana_api_deps *deps,
                     struct sift_grafana_api **out)
{
    struct sift_grafana_api *api = sift_xcalloc(1, sizeof(*api));
    api->store = deps->store;
    api->pool = deps->pool;
    api->slots = deps->slots;
    api->cfg = deps->cfg;
    api->metrics = deps->metrics;
    api->alerts_cb = deps->alerts;
    api->alerts_arg = deps->alerts_arg;
    api->template_cb = deps->template_text;
    api->template_arg = deps->template_arg;
    api->saved_cb = deps->saved;
    api->saved_arg = deps->saved_arg;
    static const struct {
        const char *method, *path;
        sift_http_handler_cb cb;
    } routes[] = {
        {"GET", "/grafana", on_health},
        {"GET", "/grafana/", on_health},
        {"POST", "/grafana/metrics", on_metrics},
        {"POST", "/grafana/search", on_search},
        {"POST", "/grafana/metric-payload-options", on_payload_options},
        {"POST", "/grafana/query", on_query},
        {"POST", "/grafana/variable", on_variable},
        {"POST", "/grafana/tag-keys", on_tag_keys},
        {"POST", "/grafana/tag-values", on_tag_values},
        {"POST", "/grafana/annotations", on_annotations},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        sift_http_route(http, routes[i].method, routes[i].path, 0,
                        SIFT_ROLE_READER, routes[i].cb, api);
    *out = api;
    return SIFT_OK;
}

void
sift_grafana_api_detach_sources(struct sift_grafana_api *api)
{
    if (api == NULL)
        return;
    api->alerts_cb = NULL;
    api->alerts_arg = NULL;
    api->template_cb = NULL;
    api->template_arg = NULL;
    api->saved_cb = NULL;
    api->saved_arg = NULL;
}

void
sift_grafana_api_free(struct sift_grafana_api *api)
{
    sift_free(api);
}
