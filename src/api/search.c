/*
 * search.c - the query HTTP API: /api/v1/search (GET, POST), /export,
 * /histogram, /terms, /stats, /fields, /context and the live /tail.
 *
 * Design: a handler parses and validates everything on the loop thread
 * (parameters, the query string, limits), takes a store snapshot, and
 * submits one job to the worker pool; the job runs the synchronous engine
 * (sift_search_exec / sift_agg_*) and its done callback replies on the
 * loop.  The engine fans the query's segments out over the same pool
 * (opts.pool, src/query/par.c), the job's worker taking part.  Running
 * queries hold one in-flight slot of api/query_job.c, shared with the
 * Grafana API, so together they stay within query.max_concurrent_queries
 * (503 with Retry-After beyond).  Every reply records its latency under
 * the endpoint's name (sift_query_duration_seconds{endpoint}).
 *
 * Export streams every hit as NDJSON: one page (EXPORT_PAGE hits) per job,
 * following the cursor over one snapshot; when the client reads slower
 * than we produce (more than EXPORT_MAX_PENDING bytes queued) the export
 * pauses and a 50 ms timer resumes it, so memory stays bounded.
 *
 * Tail: the store calls us on every refresh with the new in-memory
 * segment; each subscriber's query runs on it (on the loop: the segment
 * holds one refresh period of events, and the run has a 50 ms deadline)
 * and matching hits are streamed as NDJSON lines.  A subscriber with more
 * than query.tail_buffer_bytes queued loses lines; the next line it gets
 * is {"gap":N} with the number lost.
 *
 * Template texts: a provider (sift_search_api_set_template_source, wired
 * by main to the anomaly service) hands out one handle per search or
 * export, taken on the loop when the job starts and dropped in job_free;
 * workers look texts up through it (opts.template_text), so the query
 * module never depends on the anomaly module, and a job finishing during
 * shutdown still holds a valid handle after the provider is gone.
 *
 * Threads: everything here runs on the loop thread except job_work().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/params.h"
#include "api/query_job.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/fanout.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/metrics_api.h"
#include "sift/pool.h"
#include "sift/query.h"
#include "sift/render.h"
#include "sift/search_api.h"
#include "sift/segment.h"
#include "sift/store.h"
#include "sift/time.h"

#define EXPORT_PAGE 1000u
#define EXPORT_MAX_PENDING (1u << 20)
#define TAIL_DEADLINE_MS 50
#define TAIL_HEARTBEAT_MS 15000    /* default ?heartbeat= */
#define TAIL_BACKFILL_DEFAULT 100u /* default ?limit= with from= */
#define MAX_TERMS_SIZE 10000u
#define MAX_CONTEXT_EVENTS 1000u
#define DEFAULT_TRACK_TOTAL_HITS 10000u

enum job_kind {
    JOB_SEARCH,
    JOB_EXPORT,
    JOB_HISTOGRAM,
    JOB_TERMS,
    JOB_STATS,
    JOB_FIELDS,
    JOB_CONTEXT,
    JOB_TAIL, /* a tail's backfill (from=): the newest limit hits */
};

struct sift_search_api;

struct job {
    struct sift_search_api *api;
    enum job_kind kind;
    struct sift_http_req *req;
    struct sift_query *q;
    struct sift_snapshot *snap;
    struct sift_segment **segs;
    size_t n_segs;
    struct sift_search_opts so;
    struct sift_agg_opts ao;
    struct sift_context_opts co;
    struct sift_render_hits_opts ro; /* how hits are written */
    char cursor[96];
    uint64_t export_left; /* export: hits still to send; 0 = no limit */
    char warning[256];    /* said besides the query's own warnings */
    struct tail *tail;    /* JOB_TAIL: the tail it fills, NULL once gone */
    int64_t t0_ns;
    int64_t timeout_ms;
    int for_node; /* asked by a cluster node: stats add their sample */
    void (*put_sample)(const struct sift_agg_stats_result *r,
                       struct sift_buf *out); /* fanout.h, with for_node */
    /* template texts: handle from the provider, dropped by job_free */
    void *tmpl_handle;
    void (*tmpl_release)(void *handle);
    /* results */
    int rc;
    struct sift_query_error err;
    struct sift_search_result res;
    struct sift_buf hits; /* res's hits rendered (ro) */
    struct sift_buf out;
    /* export */
    int started; /* export: the stream's headers are out */
    int closed;  /* client went away */
    int running; /* a page is on a worker */
    struct job *next_paused;
};

struct tail {
    struct sift_search_api *api;
    struct sift_http_req *req;
    struct sift_query *q;
    char *fields;
    uint64_t gap;
    struct tail *next;
    /* from=: until the backfill job is done the stream has not started;
     * new segments' lines wait in pending (bounded like the stream) */
    struct job *backfill;
    struct sift_buf pending;
    int streaming;
    int64_t heartbeat_ns;    /* 0 = none */
    int64_t last_write_mono; /* last line written (heartbeats) */
};

struct sift_search_api {
    struct sift_http *http;
    struct sift_store *store;
    struct sift_pool *pool;
    struct sift_query_slots *slots; /* shared with Grafana (main owns) */
    const struct sift_config *cfg;
    struct sift_loop *loop;
    const struct sift_fanout *fanout; /* NULL: one node */
    unsigned running; /* queries holding a slot (exports count once) */
    unsigned n_tails;
    struct tail *tails;
    struct job *paused; /* exports waiting for the client to read */
    struct sift_timer *timer;
    struct sift_timer *heartbeat; /* idle tails get a heartbeat line */
    struct sift_search_template_source tmpl; /* acquire NULL = none */
    sift_search_saved_cb saved;              /* NULL = no saved searches */
    void *saved_arg;
    int stopping;
    int released;                     /* sift_search_api_free() was called */
    struct sift_metrics_api *metrics; /* query latency; NULL = none */
};

/* ---- replies ---- */

static void
reply_error(struct sift_http_req *req, const struct sift_query_error *err)
{
    struct sift_buf b = SIFT_BUF_INIT;
    const char *type = err->type ? err->type : "internal";
    int status = err->status ? err->status : 500;
    sift_http_error_json(&b, status, type, err->reason, err->position);
    if (err->status == 503)
        sift_http_add_header(req, "Retry-After", "1");
    sift_http_reply_json(req, status, &b);
    sift_buf_cleanup(&b);
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void
fail(struct sift_http_req *req, int status, const char *type, const char *fmt,
     ...)
{
    struct sift_query_error err = {
        .type = type, .position = -1, .status = status};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.reason, sizeof(err.reason), fmt, ap);
    va_end(ap);
    reply_error(req, &err);
}

/* One warning as an HTTP Warning header (code 299, as Elasticsearch). */
static void
warning_header(struct sift_http_req *req, const char *w)
{
    struct sift_buf h = SIFT_BUF_INIT;
    sift_buf_append(&h, "299 siftd ", 10);
    sift_buf_put_json_str(&h, w, strlen(w));
    sift_http_add_header(req, "Warning", sift_buf_cstr(&h));
    sift_buf_cleanup(&h);
}

/* For NDJSON streams (export, tail), which have no place for an array. */
static void
put_warning_headers(struct sift_http_req *req, const struct sift_query *q)
{
    size_t n = q != NULL ? sift_query_warning_count(q) : 0;
    for (size_t i = 0; i < n; i++)
        warning_header(req, sift_query_warning(q, i));
}

/*
 * What the query parser reinterpreted (lowercase operators, boosts, KQL
 * comparisons) or found in vain (fields no event has), and extra, as a
 * "warnings" array before the closing brace of body b, and as HTTP
 * Warning headers (code 299, as Elasticsearch sends them; the NDJSON
 * streams have the headers only).  Nothing when there is nothing to say.
 */
static void
put_warnings(struct sift_http_req *req, const struct sift_query *q,
             const char *extra, struct sift_buf *b)
{
    size_t nq = q != NULL ? sift_query_warning_count(q) : 0;
    size_t n = nq + (extra != NULL && extra[0] != '\0');
    if (n == 0 || b->len == 0 || b->data[b->len - 1] != '}')
        return;
    b->len--;
    sift_buf_append(b, ",\"warnings\":[", 13);
    for (size_t i = 0; i < n; i++) {
        const char *w = i < nq ? sift_query_warning(q, i) : extra;
        if (i > 0)
            sift_buf_putc(b, ',');
        sift_buf_put_json_str(b, w, strlen(w));
        warning_header(req, w);
    }
    sift_buf_append(b, "]}", 2);
}

/* ---- parameters (query string, or a JSON body for POST) ---- */

struct params {
    const char *q, *saved, *from, *to, *limit, *order, *cursor, *fields,
        *format;
    const char *field, *interval, *size, *by, *track_total_hits;
    const char *id, *before, *after;
    const char *local, *allow_partial;
    const char *err_type; /* set: reply err_status (0 = 400) */
    int err_status;
    char err_reason[400];
};

/* A JSON scalar (or array of strings, joined by commas) as a string. */
static const char *
json_param(struct sift_arena *a, json_t *v)
{
    if (json_is_string(v))
        return sift_arena_strndup(a, json_string_value(v),
                                  json_string_length(v));
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    if (json_is_real(v)) {
        char tmp[40];
        size_t n = sift_fmt_double(tmp, sizeof(tmp), json_real_value(v));
        return sift_arena_strndup(a, tmp, n);
    }
    if (json_is_integer(v)) {
        char tmp[32];
        int n = snprintf(tmp, sizeof(tmp), "%lld",
                         (long long)json_integer_value(v));
        return sift_arena_strndup(a, tmp, (size_t)n);
    }
    if (json_is_array(v)) {
        struct sift_buf b = SIFT_BUF_INIT;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                continue;
            if (b.len)
                sift_buf_putc(&b, ',');
            sift_buf_append(&b, json_string_value(e), json_string_length(e));
        }
        const char *s = sift_arena_strndup(a, b.data ? b.data : "", b.len);
        sift_buf_cleanup(&b);
        return s;
    }
    return NULL;
}

/*
 * Reads the parameters: the query string (already checked against the
 * endpoint's table by the router, aliases renamed), then for POST the
 * keys of a JSON body, checked against the same table.  A problem is left
 * in p->err_type / err_reason for params_ok().
 */
static void params_read_raw(struct sift_http_req *req, struct params *p);

/*
 * The parameters, with a saved search (q=@name or saved=name) read in:
 * its query, and its from, to and fields unless the request gives them.
 * Copies go to the request's arena (the store may change before a worker
 * reads them).
 */
static void
params_read(struct sift_search_api *api, struct sift_http_req *req,
            struct params *p)
{
    params_read_raw(req, p);
    if (p->err_type != NULL)
        return;
    const char *name = p->saved;
    if (name && p->q && *p->q) {
        p->err_type = "bad_request";
        snprintf(p->err_reason, sizeof(p->err_reason),
                 "give q or saved, not both");
        return;
    }
    if (!name && p->q && p->q[0] == '@')
        name = p->q + 1;
    if (!name)
        return;
    struct sift_saved_view v;
    if (!api->saved || api->saved(api->saved_arg, name, &v) < 0) {
        p->err_type = "saved_search_not_found";
        p->err_status = 404;
        snprintf(p->err_reason, sizeof(p->err_reason),
                 "no saved search \"%.100s\"", name);
        return;
    }
    struct sift_arena *a = sift_http_req_arena(req);
    p->q = sift_arena_strndup(a, v.query, strlen(v.query));
    if (!p->from && v.from[0])
        p->from = sift_arena_strndup(a, v.from, strlen(v.from));
    if (!p->to && v.to[0])
        p->to = sift_arena_strndup(a, v.to, strlen(v.to));
    if (!p->fields && v.fields[0])
        p->fields = sift_arena_strndup(a, v.fields, strlen(v.fields));
}

static void
params_read_raw(struct sift_http_req *req, struct params *p)
{
    memset(p, 0, sizeof(*p));
    static const char *const names[] = {"q",
                                        "saved",
                                        "from",
                                        "to",
                                        "limit",
                                        "order",
                                        "cursor",
                                        "fields",
                                        "format",
                                        "field",
                                        "interval",
                                        "size",
                                        "by",
                                        "track_total_hits",
                                        "id",
                                        "before",
                                        "after",
                                        "local",
                                        "allow_partial"};
    const char **slots[] = {&p->q,
                            &p->saved,
                            &p->from,
                            &p->to,
                            &p->limit,
                            &p->order,
                            &p->cursor,
                            &p->fields,
                            &p->format,
                            &p->field,
                            &p->interval,
                            &p->size,
                            &p->by,
                            &p->track_total_hits,
                            &p->id,
                            &p->before,
                            &p->after,
                            &p->local,
                            &p->allow_partial};
    size_t n_names = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < n_names; i++)
        *slots[i] = sift_http_req_param(req, names[i]);
    if (strcmp(sift_http_req_method(req), "POST") != 0)
        return;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    if (len == 0)
        return;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!json_is_object(root)) {
        p->err_type = "bad_request";
        snprintf(p->err_reason, sizeof(p->err_reason),
                 "the body must be a JSON object%s%s", root == NULL ? ": " : "",
                 root == NULL ? jerr.text : "");
        json_decref(root);
        return;
    }
    const struct sift_http_param *table =
        sift__api_params(sift_http_req_path(req));
    char where[64];
    snprintf(where, sizeof(where), "POST %s", sift_http_req_path(req));
    struct sift_arena *a = sift_http_req_arena(req);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (json_is_null(v))
            continue; /* null means "not given" */
        const char *val = json_param(a, v), *canon = key;
        if (val == NULL) {
            p->err_type = "bad_request";
            snprintf(p->err_reason, sizeof(p->err_reason),
                     "invalid '%.40s': expected a string, number, boolean "
                     "or array of strings",
                     key);
            break;
        }
        if (table != NULL &&
            sift_http_param_check(table, where, key, val, &canon, &p->err_type,
                                  p->err_reason, sizeof(p->err_reason)) < 0)
            break;
        for (size_t i = 0; i < n_names; i++) {
            if (strcmp(names[i], canon) != 0)
                continue;
            if (*slots[i] != NULL) {
                p->err_type = "bad_request";
                snprintf(p->err_reason, sizeof(p->err_reason),
                         "'%s' is given twice (in the query string or the "
                         "body, or under two names); give it once",
                         canon);
            }
            *slots[i] = val;
        }
        if (p->err_type != NULL)
            break;
    }
    json_decref(root);
}

/* Replies the problem params_read() found; returns 0 when there is none. */
static int
params_ok(struct sift_http_req *req, const struct params *p)
{
    if (p->err_type == NULL)
        return 1;
    sift_http_reply_error(req, p->err_status ? p->err_status : 400, p->err_type,
                          "%s", p->err_reason);
    return 0;
}

static int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !*s)
        return SIFT_EINVAL;
    uint64_t v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9' || v > max)
            return SIFT_EINVAL;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    if (v > max)
        return SIFT_EINVAL;
    *out = v;
    return SIFT_OK;
}

/* Time bounds, query and snapshot: the common part of every endpoint. */
static int
prepare(struct sift_search_api *api, struct sift_http_req *req,
        const struct params *p, struct job *job)
{
    const struct sift_config *cfg = api->cfg;
    int64_t from, to;
    if (sift_query_time_range(p->from, p->to, sift_clock_now_ns(), &from, &to,
                              &job->err) < 0) {
        reply_error(req, &job->err);
        return SIFT_EINVAL;
    }
    struct sift_query_limits lim = {
        .max_query_bytes = (size_t)cfg->max_query_bytes,
        .max_expansion = (uint64_t)cfg->max_expansion};
    const char *qs = p->q ? p->q : "";
    int rc = sift_query_parse(qs, strlen(qs), &lim, &job->q, &job->err);
    if (rc < 0) {
        reply_error(req, &job->err);
        return rc;
    }
    job->api = api;
    job->req = req;
    job->timeout_ms = cfg->query_timeout_ms;
    sift_search_opts_init(&job->so);
    job->so.from_ns = from;
    job->so.to_ns = to;
    job->so.max_expansion = (uint64_t)cfg->max_expansion;
    job->so.deadline_mono_ns =
        cfg->query_timeout_ms > 0
            ? job->t0_ns + cfg->query_timeout_ms * SIFT_NS_PER_MS
            : 0;
    job->ro.fields = p->fields && *p->fields ? p->fields : NULL;
    job->so.pool = api->pool;
    sift_agg_opts_init(&job->ao);
    job->ao.from_ns = from;
    job->ao.to_ns = to;
    job->ao.max_expansion = job->so.max_expansion;
    job->ao.deadline_mono_ns = job->so.deadline_mono_ns;
    job->ao.pool = api->pool;
    job->snap = sift_store_snapshot(api->store);
    job->n_segs = sift_snapshot_count(job->snap);
    job->segs = sift_xcalloc(job->n_segs + 1, sizeof(*job->segs));
    for (size_t i = 0; i < job->n_segs; i++)
        job->segs[i] = sift_snapshot_segment(job->snap, i);
    /* A field name with a typo would match nothing in silence. */
    sift_query_check_fields(job->q, job->segs, job->n_segs);
    sift_search_result_init(&job->res);
    return SIFT_OK;
}

static const char *
endpoint_name(enum job_kind kind)
{
    switch (kind) {
    case JOB_SEARCH: return "search";
    case JOB_EXPORT: return "export";
    case JOB_HISTOGRAM: return "histogram";
    case JOB_TERMS: return "terms";
    case JOB_STATS: return "stats";
    case JOB_FIELDS: return "fields";
    case JOB_CONTEXT: return "context";
    case JOB_TAIL: return "tail";
    }
    return "search";
}

/* Latency from the request to now, and the error count when failed. */
static void
observe(const struct job *job, int failed)
{
    const char *ep = endpoint_name(job->kind);
    double s = (double)(sift_clock_mono_ns() - job->t0_ns) / 1e9;
    sift_metrics_api_observe_query(job->api->metrics, ep, s);
    if (failed)
        sift_metrics_api_count_query_error(job->api->metrics, ep);
}

/* The query is over: give back its slot.  Loop thread. */
static void
job_release(struct sift_search_api *api)
{
    api->running--;
    sift__api_query_slot_release(api->slots);
}

static void tail_remove(struct tail *t);
static void tail_backfill_done(struct job *job, int cancelled);

static void
job_free(struct job *job)
{
    if (job->tail != NULL) {
        /* A backfill that never ran (refused): its tail ends with it,
         * the request having had its error reply. */
        struct tail *t = job->tail;
        t->backfill = NULL;
        job->tail = NULL;
        tail_remove(t);
    }
    if (job->tmpl_handle)
        job->tmpl_release(job->tmpl_handle);
    sift_query_free(job->q);
    if (job->snap)
        sift_snapshot_release(job->snap);
    sift_free(job->segs);
    sift_search_result_cleanup(&job->res);
    sift_buf_cleanup(&job->hits);
    sift_buf_cleanup(&job->out);
    sift_free(job);
}

static void api_maybe_free(struct sift_search_api *api);

/* ---- jobs ---- */

/* rc of a renderer: a stored event that does not decode is the engine's
 * "corrupt_segment" (500), memory a 503; err is filled then. */
static int
render_error(int rc, struct sift_query_error *err)
{
    if (rc >= 0)
        return rc;
    int nomem = rc == SIFT_ENOMEM;
    err->type = nomem ? "out_of_memory" : "corrupt_segment";
    err->status = nomem ? 503 : 500;
    err->position = -1;
    snprintf(err->reason, sizeof(err->reason), "%s",
             nomem ? "not enough memory to run the query"
                   : "segment read failed: ");
    if (!nomem)
        snprintf(err->reason + strlen(err->reason),
                 sizeof(err->reason) - strlen(err->reason), "%s",
                 sift_strerror(rc));
    return rc;
}

static void
job_work(void *arg)
{
    struct job *job = arg;
    switch (job->kind) {
    case JOB_SEARCH:
    case JOB_EXPORT:
    case JOB_TAIL:
        sift_search_result_cleanup(&job->res);
        sift_search_result_init(&job->res);
        sift_buf_reset(&job->hits);
        job->rc = sift_search_exec(job->segs, job->n_segs, job->q, &job->so,
                                   &job->res, &job->err);
        if (job->rc == SIFT_OK)
            job->rc = render_error(
                sift_render_hits(&job->res, 0, &job->ro, &job->hits),
                &job->err);
        break;
    case JOB_HISTOGRAM: {
        struct sift_agg_histo_result r;
        job->rc = sift_agg_histogram(job->segs, job->n_segs, job->q, &job->ao,
                                     &r, &job->err);
        if (job->rc == SIFT_OK)
            sift_render_histogram(&r, &job->out);
        sift_agg_histo_result_cleanup(&r);
        break;
    }
    case JOB_TERMS: {
        struct sift_agg_terms_result r;
        job->rc = sift_agg_terms(job->segs, job->n_segs, job->q, &job->ao, &r,
                                 &job->err);
        if (job->rc == SIFT_OK)
            sift_render_terms(&r, &job->out);
        sift_agg_terms_result_cleanup(&r);
        break;
    }
    case JOB_STATS: {
        struct sift_agg_stats_result r;
        job->rc = sift_agg_stats(job->segs, job->n_segs, job->q, &job->ao, &r,
                                 &job->err);
        if (job->rc == SIFT_OK) {
            sift_render_stats(&r, &job->out);
            if (job->for_node && job->out.len > 0) {
                job->out.len--; /* its closing brace */
                job->put_sample(&r, &job->out);
                sift_buf_putc(&job->out, '}');
            }
        }
        sift_agg_stats_result_cleanup(&r);
        break;
    }
    case JOB_FIELDS: {
        struct sift_agg_fields_result r;
        sift_agg_fields(job->segs, job->n_segs, &r);
        sift_render_fields(&r, &job->out);
        sift_agg_fields_result_cleanup(&r);
        job->rc = SIFT_OK;
        break;
    }
    case JOB_CONTEXT: {
        struct sift_context_result r;
        job->rc = sift_search_context(job->segs, job->n_segs, &job->co, &r,
                                      &job->err);
        if (job->rc == SIFT_OK)
            job->rc = render_error(sift_render_context(&r, &job->ro, &job->out),
                                   &job->err);
        sift_context_result_cleanup(&r);
        break;
    }
    }
}

static void export_next(struct job *job);
static void on_export_close(struct sift_http_req *req, void *arg);

static void
export_finish(struct job *job)
{
    struct sift_search_api *api = job->api;
    sift_http_stream_end(job->req);
    observe(job, job->rc < 0);
    job_release(api);
    job_free(job);
    api_maybe_free(api);
}

static void
job_done(void *arg, int cancelled)
{
    struct job *job = arg;
    struct sift_search_api *api = job->api;
    job->running = 0;
    if (job->kind == JOB_TAIL) {
        observe(job, cancelled || job->rc < 0);
        job_release(api);
        tail_backfill_done(job, cancelled);
        job_free(job);
        api_maybe_free(api);
        return;
    }
    if (job->kind == JOB_EXPORT && !job->started) {
        /* First page: errors still get a proper status and body. */
        if (cancelled || job->rc < 0 || api->stopping) {
            observe(job, 1);
            job_release(api);
            if (cancelled || api->stopping)
                fail(job->req, 503, "shutting_down", "%s",
                     "the server is stopping");
            else
                reply_error(job->req, &job->err);
            job_free(job);
            api_maybe_free(api);
            return;
        }
        job->started = 1;
        put_warning_headers(job->req, job->q);
        if (sift_http_stream_start(job->req, 200, "application/x-ndjson",
                                   on_export_close, job) < 0) {
            export_finish(job);
            return;
        }
    }
    if (job->kind == JOB_EXPORT) {
        if (cancelled || job->closed || job->rc < 0 || api->stopping) {
            if (job->rc < 0 && !job->closed) {
                /* Headers are gone already: say it in the stream. */
                struct sift_buf b = SIFT_BUF_INIT;
                sift_buf_append(&b, "{\"error\":", 9);
                sift_buf_put_json_str(&b, job->err.reason,
                                      strlen(job->err.reason));
                sift_buf_append(&b, "}\n", 2);
                (void)sift_http_stream_write(job->req, b.data, b.len);
                sift_buf_cleanup(&b);
            }
            export_finish(job);
            return;
        }
        if (job->hits.len && sift_http_stream_write(job->req, job->hits.data,
                                                    job->hits.len) < 0) {
            export_finish(job);
            return;
        }
        if (job->export_left > 0) {
            job->export_left -= job->res.n_hits < job->export_left
                                    ? job->res.n_hits
                                    : job->export_left;
            if (job->export_left == 0) {
                export_finish(job);
                return;
            }
            if (job->export_left < job->so.limit)
                job->so.limit = (uint32_t)job->export_left;
        }
        if (!job->res.cursor[0]) {
            export_finish(job);
            return;
        }
        memcpy(job->cursor, job->res.cursor, sizeof(job->cursor));
        job->so.cursor = job->cursor;
        /* The deadline is per page: an export may run for long. */
        job->so.deadline_mono_ns =
            job->timeout_ms > 0
                ? sift_clock_mono_ns() + job->timeout_ms * SIFT_NS_PER_MS
                : 0;
        export_next(job);
        return;
    }

    observe(job, cancelled || job->rc < 0);
    job_release(api);
    if (cancelled) {
        fail(job->req, 503, "shutting_down", "%s", "the server is stopping");
    } else if (job->rc < 0) {
        reply_error(job->req, &job->err);
    } else {
        int64_t took_ms = (sift_clock_mono_ns() - job->t0_ns) / SIFT_NS_PER_MS;
        struct sift_buf b = SIFT_BUF_INIT;
        if (job->kind == JOB_SEARCH) {
            sift_render_search(&job->res, &job->hits, took_ms, &b);
        } else {
            /* Aggregation bodies end with "}": add took_ms before it. */
            sift_buf_append(&b, job->out.data,
                            job->out.len ? job->out.len - 1 : 0);
            sift_buf_appendf(&b, "%stook_ms\":%lld}",
                             job->out.len > 2 ? ",\"" : "\"",
                             (long long)took_ms);
        }
        put_warnings(job->req, job->q, job->warning, &b);
        sift_buf_putc(&b, '\n');
        sift_http_reply_json(job->req, 200, &b);
        sift_buf_cleanup(&b);
    }
    job_free(job);
    api_maybe_free(api);
}

static int
submit(struct job *job)
{
    job->running = 1;
    int rc = sift_pool_submit(job->api->pool, job_work, job_done, job);
    if (rc < 0)
        job->running = 0;
    return rc;
}

static void
start_job(struct job *job)
{
    struct sift_search_api *api = job->api;
    if (sift__api_query_slot_acquire(api->slots, api->cfg) < 0) {
        observe(job, 1);
        fail(job->req, 503, "too_many_queries",
             "too many queries running (query.max_concurrent=%lld, search "
             "and Grafana together); retry",
             (long long)api->cfg->max_concurrent_queries);
        job_free(job);
        return;
    }
    api->running++;
    if ((job->kind == JOB_SEARCH || job->kind == JOB_EXPORT ||
         job->kind == JOB_CONTEXT) &&
        api->tmpl.acquire) {
        job->tmpl_handle = api->tmpl.acquire(api->tmpl.arg);
        if (job->tmpl_handle) {
            job->tmpl_release = api->tmpl.release;
            job->ro.template_text = api->tmpl.text;
            job->ro.template_arg = job->tmpl_handle;
        }
    }
    if (submit(job) < 0) {
        observe(job, 1);
        job_release(api);
        fail(job->req, 503, "shutting_down", "%s", "the server is stopping");
        job_free(job);
    }
}

/* ---- export ---- */

static void
export_next(struct job *job)
{
    if (sift_http_stream_pending(job->req) > EXPORT_MAX_PENDING) {
        job->next_paused = job->api->paused;
        job->api->paused = job;
        return;
    }
    if (submit(job) < 0)
        export_finish(job);
}

static void
on_export_close(struct sift_http_req *req, void *arg)
{
    struct job *job = arg;
    (void)req;
    job->closed = 1;
    if (job->running)
        return; /* job_done sees closed and finishes */
    for (struct job **pp = &job->api->paused; *pp; pp = &(*pp)->next_paused) {
        if (*pp == job) {
            *pp = job->next_paused;
            break;
        }
    }
    export_finish(job);
}

static void
on_timer(void *arg)
{
    struct sift_search_api *api = arg;
    struct job *list = api->paused;
    api->paused = NULL;
    while (list) {
        struct job *job = list;
        list = job->next_paused;
        job->next_paused = NULL;
        export_next(job);
    }
}

/* ---- handlers ---- */

/*
 * In a cluster: non-zero when this request is answered from this node's
 * data alone (asked by a node, or local=true); see cluster.h.
 */
static int
answer_locally(struct sift_search_api *api, struct sift_http_req *req,
               const struct params *p)
{
    if (sift_fanout_is_local(api->fanout, req))
        return 1;
    return p->local != NULL && strcmp(p->local, "false") != 0;
}

static int
allow_partial(const struct params *p)
{
    return !(p->allow_partial && strcmp(p->allow_partial, "false") == 0);
}

static void
handle_search(struct sift_http_req *req, void *arg)
{
    struct sift_search_api *api = arg;
    const struct sift_config *cfg = api->cfg;
    struct params p;
    params_read(api, req, &p);
    if (!params_ok(req, &p))
        return;
    int is_export = strcmp(sift_http_req_path(req), "/api/v1/export") == 0 ||
                    (p.format && strcmp(p.format, "ndjson") == 0);
    if (p.format && *p.format && strcmp(p.format, "ndjson") != 0 &&
        strcmp(p.format, "json") != 0) {
        fail(req, 400, "bad_request", "unknown format '%.50s' (json, ndjson)",
             p.format);
        return;
    }
    uint64_t limit = (uint64_t)cfg->default_hits;
    if (p.limit && parse_uint(p.limit, UINT32_MAX, &limit) < 0) {
        fail(req, 400, "bad_request", "invalid 'limit' (%.50s)", p.limit);
        return;
    }
    if (!is_export && limit > (uint64_t)cfg->max_hits) {
        char msg[64];
        snprintf(msg, sizeof(msg), "%llu > max_hits=%lld",
                 (unsigned long long)limit, (long long)cfg->max_hits);
        fail(req, 400, "too_many_hits", "limit %s; page with the cursor", msg);
        return;
    }
    uint64_t track_total = DEFAULT_TRACK_TOTAL_HITS;
    const char *tt = p.track_total_hits;
    if (tt && *tt) {
        if (!strcmp(tt, "true"))
            track_total = 0; /* exact */
        else if (!strcmp(tt, "false"))
            track_total = 1;
        else if (parse_uint(tt, UINT32_MAX, &track_total) < 0 ||
                 track_total == 0) {
            fail(req, 400, "bad_request",
                 "invalid 'track_total_hits' (%.50s): true, false or a "
                 "count >= 1",
                 tt);
            return;
        }
    }
    int oldest = 0;
    if (p.order && *p.order) {
        if (!strcmp(p.order, "asc") || !strcmp(p.order, "oldest"))
            oldest = 1;
        else if (strcmp(p.order, "desc") != 0 &&
                 strcmp(p.order, "newest") != 0) {
            fail(req, 400, "bad_request",
                 "invalid 'order' (%.50s): asc|oldest or desc|newest", p.order);
            return;
        }
    }
    if (is_export && !answer_locally(api, req, &p)) {
        const struct sift_cluster_query cq = {
            .kind = SIFT_CLUSTER_EXPORT,
            .size = p.limit != NULL ? (uint32_t)limit : 0,
            .oldest_first = oldest,
            .allow_partial = allow_partial(&p)};
        api->fanout->stream(api->fanout->impl, req, &cq);
        return;
    }
    if (!is_export && !answer_locally(api, req, &p)) {
        const struct sift_cluster_query cq = {.kind = SIFT_CLUSTER_SEARCH,
                                              .size = (uint32_t)limit,
                                              .oldest_first = oldest,
                                              .cursor = p.cursor,
                                              .allow_partial =
                                                  allow_partial(&p)};
        api->fanout->fanout(api->fanout->impl, req, &cq);
        return;
    }
    struct job *job = sift_xcalloc(1, sizeof(*job));
    job->api = api;
    job->kind = is_export ? JOB_EXPORT : JOB_SEARCH;
    job->t0_ns = sift_clock_mono_ns();
    if (prepare(api, req, &p, job) < 0) {
        observe(job, 1);
        job_free(job);
        return;
    }
    job->so.limit = is_export ? EXPORT_PAGE : (uint32_t)limit;
    /* An export shows no total: count no further than its pages need. */
    job->so.track_total_hits = is_export ? 1 : track_total;
    job->so.oldest_first = oldest;
    if (p.cursor && *p.cursor) {
        snprintf(job->cursor, sizeof(job->cursor), "%s", p.cursor);
        job->so.cursor = job->cursor;
    }
    if (!is_export) {
        start_job(job);
        return;
    }
    job->ro.ndjson = 1;
    job->so.limit = EXPORT_PAGE;
    if (p.limit != NULL && limit > 0) {
        job->export_left = limit; /* export: a cap on all hits */
        if (limit < EXPORT_PAGE)
            job->so.limit = (uint32_t)limit;
    }
    /* Fields are borrowed from the request, which outlives the stream. */
    start_job(job);
}

static void
handle_agg(struct sift_http_req *req, void *arg, enum job_kind kind)
{
    struct sift_search_api *api = arg;
    struct params p;
    params_read(api, req, &p);
    if (!params_ok(req, &p))
        return;
    uint64_t size = 10;
    if (p.size && (parse_uint(p.size, MAX_TERMS_SIZE, &size) < 0 || !size)) {
        fail(req, 400, "bad_request", "invalid 'size' (%.50s): 1 to 10000",
             p.size);
        return;
    }
    int64_t interval_ms = 0;
    char interval_unit = 0;
    if (kind == JOB_HISTOGRAM && p.interval && *p.interval &&
        strcmp(p.interval, "auto") != 0 &&
        sift_query_interval_parse(p.interval, &interval_ms, &interval_unit) <
            0) {
        fail(req, 400, "bad_request",
             "invalid 'interval' (%.50s): auto, or a duration like 5m, 1d, "
             "1w, 1M or 1y",
             p.interval);
        return;
    }
    const char *field = kind == JOB_HISTOGRAM ? p.by : p.field;
    if ((kind == JOB_TERMS || kind == JOB_STATS) && (!field || !*field)) {
        fail(req, 400, "bad_request", "%s", "missing parameter 'field'");
        return;
    }
    if (!answer_locally(api, req, &p)) {
        const struct sift_cluster_query cq = {
            .kind = kind == JOB_HISTOGRAM ? SIFT_CLUSTER_HISTOGRAM
                    : kind == JOB_TERMS   ? SIFT_CLUSTER_TERMS
                    : kind == JOB_STATS   ? SIFT_CLUSTER_STATS
                                          : SIFT_CLUSTER_FIELDS,
            .size = (uint32_t)size,
            .allow_partial = allow_partial(&p)};
        api->fanout->fanout(api->fanout->impl, req, &cq);
        return;
    }
    struct job *job = sift_xcalloc(1, sizeof(*job));
    job->api = api;
    job->kind = kind;
    job->t0_ns = sift_clock_mono_ns();
    if (prepare(api, req, &p, job) < 0) {
        observe(job, 1);
        job_free(job);
        return;
    }
    job->ao.field = field && *field ? field : NULL;
    char near[96];
    if (job->ao.field != NULL &&
        sift_agg_field_kinds(job->segs, job->n_segs, job->ao.field, near,
                             sizeof(near)) == 0) {
        /* Not an error (as an unmapped field in Elasticsearch), but a
         * typo would otherwise answer an empty result in silence. */
        snprintf(job->warning, sizeof(job->warning),
                 "no field '%.60s' in the data%s%.60s%s", job->ao.field,
                 near[0] ? " (did you mean '" : "", near, near[0] ? "'?)" : "");
    }
    job->ao.size = (uint32_t)size;
    job->put_sample = api->fanout ? api->fanout->put_stats_sample : NULL;
    job->for_node =
        job->put_sample != NULL &&
        sift_http_req_header(req, SIFT_CLUSTER_LOCAL_HEADER) != NULL;
    job->ao.interval_ms = interval_ms;
    job->ao.interval_unit = interval_unit;
    start_job(job);
}

static void
handle_histogram(struct sift_http_req *req, void *arg)
{
    handle_agg(req, arg, JOB_HISTOGRAM);
}

static void
handle_terms(struct sift_http_req *req, void *arg)
{
    handle_agg(req, arg, JOB_TERMS);
}

static void
handle_stats(struct sift_http_req *req, void *arg)
{
    handle_agg(req, arg, JOB_STATS);
}

static void
handle_fields(struct sift_http_req *req, void *arg)
{
    handle_agg(req, arg, JOB_FIELDS);
}

/*
 * GET /api/v1/context?id=&before=&after=&by=: the events of the same
 * source around one hit (src/query/context.c).
 */
static void
handle_context(struct sift_http_req *req, void *arg)
{
    struct sift_search_api *api = arg;
    struct params p;
    params_read(api, req, &p);
    if (!params_ok(req, &p))
        return;
    struct sift_context_opts co;
    sift_context_opts_init(&co);
    if (!p.id || !*p.id) {
        fail(req, 400, "bad_request", "%s",
             "missing parameter 'id' (the \"_id\" of a hit)");
        return;
    }
    co.id = p.id;
    const char *const counts[2] = {p.before, p.after};
    uint32_t *const slots[2] = {&co.before, &co.after};
    for (int i = 0; i < 2; i++) {
        uint64_t v;
        if (!counts[i])
            continue;
        if (parse_uint(counts[i], MAX_CONTEXT_EVENTS, &v) < 0) {
            fail(req, 400, "bad_request", "invalid '%s' (%.50s): 0 to %u",
                 i ? "after" : "before", counts[i], MAX_CONTEXT_EVENTS);
            return;
        }
        *slots[i] = (uint32_t)v;
    }
    if (p.by && *p.by && sift_context_by_parse(p.by, &co.by) < 0) {
        fail(req, 400, "bad_request",
             "invalid 'by' (%.50s): auto, source, service or all", p.by);
        return;
    }
    if (!answer_locally(api, req, &p)) {
        /* The node holding the event, then every node's neighbours of
         * it (src/cluster/cluster.c, context_first). */
        const struct sift_cluster_query cq = {
            .kind = SIFT_CLUSTER_CONTEXT, .allow_partial = allow_partial(&p)};
        api->fanout->fanout(api->fanout->impl, req, &cq);
        return;
    }
    struct job *job = sift_xcalloc(1, sizeof(*job));
    job->api = api;
    job->kind = JOB_CONTEXT;
    job->t0_ns = sift_clock_mono_ns();
    struct params none = {0};
    if (prepare(api, req, &none, job) < 0) {
        observe(job, 1);
        job_free(job);
        return;
    }
    co.deadline_mono_ns = job->so.deadline_mono_ns;
    co.max_expansion = job->so.max_expansion;
    co.pool = api->pool;
    job->co = co;
    start_job(job);
}

/* ---- tail ---- */

static void
tail_remove(struct tail *t)
{
    struct sift_search_api *api = t->api;
    for (struct tail **pp = &api->tails; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    api->n_tails--;
    if (t->backfill != NULL)
        t->backfill->tail = NULL; /* its done callback frees it alone */
    sift_buf_cleanup(&t->pending);
    sift_query_free(t->q);
    sift_free(t->fields);
    sift_free(t);
}

static void
on_tail_close(struct sift_http_req *req, void *arg)
{
    struct tail *t = arg;
    struct sift_search_api *api = t->api;
    tail_remove(t);
    sift_http_stream_end(req);
    api_maybe_free(api);
}

/*
 * Ends a tail now: a streaming one gets a last line saying why (an error
 * object, as a failed export ends) and its end; one still waiting for its
 * backfill gets a plain JSON error.  Loop thread.
 */
static void
tail_end(struct tail *t, int status, const char *type, const char *reason)
{
    struct sift_http_req *req = t->req;
    int streaming = t->streaming;
    tail_remove(t);
    if (!streaming) {
        fail(req, status, type, "%s", reason);
        return;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    sift_http_error_json(&b, status, type, reason, -1);
    (void)sift_http_stream_write(req, b.data, b.len);
    sift_buf_cleanup(&b);
    sift_http_stream_end(req);
}

static void
stream_write_line(struct tail *t, const char *line, size_t len)
{
    (void)sift_http_stream_write(t->req, line, len);
    t->last_write_mono = sift_clock_mono_ns();
}

/*
 * One line for the client, or counted as lost when it reads too slowly
 * (more than max_pending queued; then {"gap":N} comes before the next
 * line).  While the backfill runs, lines wait in t->pending, bounded the
 * same way.
 */
static void
tail_line(struct tail *t, const char *line, size_t len, size_t max_pending)
{
    if (!t->streaming) {
        if (t->pending.len + len > max_pending)
            t->gap++;
        else
            sift_buf_append(&t->pending, line, len);
        return;
    }
    size_t pending = sift_http_stream_pending(t->req);
    if (pending + len > max_pending) {
        t->gap++;
        return;
    }
    if (t->gap) {
        char g[48];
        int n = snprintf(g, sizeof(g), "{\"gap\":%llu}\n",
                         (unsigned long long)t->gap);
        stream_write_line(t, g, (size_t)n);
        t->gap = 0;
    }
    stream_write_line(t, line, len);
}

/* Each line of NDJSON text p[0..len), first to last or last to first. */
static void
tail_lines(struct tail *t, const char *p, size_t len, int reverse,
           size_t max_pending)
{
    const char *end = p + len;
    if (!reverse) {
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
            tail_line(t, p, n, max_pending);
            p += n;
        }
        return;
    }
    const char *stop = end;
    while (stop > p) {
        const char *q = stop - 1; /* the '\n' ending this line */
        while (q > p && q[-1] != '\n')
            q--;
        tail_line(t, q, (size_t)(stop - q), max_pending);
        stop = q;
    }
}

/*
 * Every 250 ms: a heartbeat line on streams idle for their heartbeat
 * interval, which is kept under half of http.idle_timeout: evhttp cuts a
 * connection after that long without a byte from the client unless a
 * write re-arms it, so a quiet tail must write.
 */
static void
on_heartbeat(void *arg)
{
    struct sift_search_api *api = arg;
    int64_t now = sift_clock_mono_ns();
    int64_t cap = api->cfg->idle_timeout_ms * SIFT_NS_PER_MS / 2;
    for (struct tail *t = api->tails; t; t = t->next) {
        int64_t every = t->heartbeat_ns < cap ? t->heartbeat_ns : cap;
        if (!t->streaming || t->heartbeat_ns == 0 ||
            now - t->last_write_mono < every ||
            sift_http_stream_pending(t->req) > 0)
            continue;
        struct sift_buf b = SIFT_BUF_INIT;
        sift_buf_append(&b, "{\"heartbeat\":\"", 14);
        sift_time_format_rfc3339(sift_clock_now_ns(), 3, &b);
        sift_buf_append(&b, "\"}\n", 3);
        stream_write_line(t, b.data, b.len);
        sift_buf_cleanup(&b);
    }
}

/* Starts the stream; SIFT_ESHUTDOWN when the client is gone (ended). */
static int
tail_stream(struct tail *t)
{
    t->streaming = 1;
    t->last_write_mono = sift_clock_mono_ns();
    put_warning_headers(t->req, t->q);
    if (sift_http_stream_start(t->req, 200, "application/x-ndjson",
                               on_tail_close, t) < 0) {
        struct sift_http_req *req = t->req;
        tail_remove(t);
        sift_http_stream_end(req);
        return SIFT_ESHUTDOWN;
    }
    return SIFT_OK;
}

/*
 * The backfill is done (loop): its hits (newest first) go out oldest
 * first, then the lines of segments refreshed meanwhile, then the tail
 * follows.  Nothing is shown twice or missed: the backfill read the
 * snapshot taken when the tail subscribed, and every segment refreshed
 * after it went through on_refresh into t->pending.
 */
static void
tail_backfill_done(struct job *job, int cancelled)
{
    struct tail *t = job->tail;
    struct sift_search_api *api = job->api;
    if (t == NULL)
        return; /* the tail ended first (shutdown) */
    t->backfill = NULL;
    job->tail = NULL;
    if (cancelled || api->stopping) {
        tail_end(t, 503, "shutting_down", "the server is stopping");
        return;
    }
    if (job->rc < 0) {
        struct sift_http_req *req = t->req;
        tail_remove(t);
        reply_error(req, &job->err);
        return;
    }
    if (tail_stream(t) < 0)
        return;
    size_t max_pending = (size_t)api->cfg->tail_buffer_bytes;
    struct sift_buf later = t->pending;
    sift_buf_init(&t->pending);
    tail_lines(t, job->hits.data, job->hits.len, 1, max_pending);
    tail_lines(t, later.data, later.len, 0, max_pending);
    sift_buf_cleanup(&later);
}

static void
on_refresh(struct sift_segment *seg, void *arg)
{
    struct sift_search_api *api = arg;
    if (!api->tails || !seg)
        return;
    size_t max_pending = (size_t)api->cfg->tail_buffer_bytes;
    struct sift_segment *segs[1] = {seg};
    void *tmpl = api->tmpl.acquire ? api->tmpl.acquire(api->tmpl.arg) : NULL;
    for (struct tail *t = api->tails; t; t = t->next) {
        struct sift_search_opts o;
        sift_search_opts_init(&o);
        o.limit = sift_segment_doc_count(seg);
        o.oldest_first = 1;
        struct sift_render_hits_opts ro = {.ndjson = 1, .fields = t->fields};
        if (tmpl) {
            ro.template_text = api->tmpl.text;
            ro.template_arg = tmpl;
        }
        o.deadline_mono_ns =
            sift_clock_mono_ns() + TAIL_DEADLINE_MS * SIFT_NS_PER_MS;
        o.max_expansion = (uint64_t)api->cfg->max_expansion;
        struct sift_search_result res;
        struct sift_query_error err = {0};
        sift_search_result_init(&res);
        struct sift_buf lines = SIFT_BUF_INIT;
        if (o.limit &&
            sift_search_exec(segs, 1, t->q, &o, &res, &err) == SIFT_OK &&
            sift_render_hits(&res, 0, &ro, &lines) == SIFT_OK) {
            tail_lines(t, lines.data, lines.len, 0, max_pending);
            if (res.timed_out)
                t->gap += res.total - res.n_hits;
        } else if (o.limit) {
            SIFT_WARN("tail: query failed on a new segment: %s",
                      err.type ? err.reason : "an event does not decode");
        }
        sift_buf_cleanup(&lines);
        sift_search_result_cleanup(&res);
    }
    if (tmpl)
        api->tmpl.release(tmpl);
}

static void
handle_tail(struct sift_http_req *req, void *arg)
{
    struct sift_search_api *api = arg;
    const struct sift_config *cfg = api->cfg;
    if (api->n_tails >= (unsigned)cfg->max_tail_subscribers) {
        char lim[32];
        snprintf(lim, sizeof(lim), "%lld",
                 (long long)cfg->max_tail_subscribers);
        fail(req, 503, "too_many_tails",
             "too many live tails (max_tail_subscribers=%s)", lim);
        return;
    }
    struct params p;
    params_read(api, req, &p);
    if (!params_ok(req, &p))
        return;
    int64_t heartbeat_ms = TAIL_HEARTBEAT_MS;
    const char *hb = sift_http_req_param(req, "heartbeat");
    if (hb != NULL && *hb && strcmp(hb, "0") != 0 &&
        (sift_parse_duration_ms(hb, &heartbeat_ms) < 0 || heartbeat_ms < 1000 ||
         heartbeat_ms > 3600000)) {
        fail(req, 400, "bad_request",
             "invalid 'heartbeat' (%.40s): 0 (none) or a duration from 1s to "
             "1h",
             hb);
        return;
    }
    if (hb != NULL && strcmp(hb, "0") == 0)
        heartbeat_ms = 0;
    uint64_t limit = TAIL_BACKFILL_DEFAULT;
    if (p.limit && parse_uint(p.limit, (uint64_t)cfg->max_hits, &limit) < 0) {
        fail(req, 400, "bad_request",
             "invalid 'limit' (%.40s): 0 to query.max_hits (%lld)", p.limit,
             (long long)cfg->max_hits);
        return;
    }
    struct job *job = NULL;
    if (p.from && *p.from) {
        /* The backfill: the newest limit matches since from, in the
         * snapshot of this moment, through the normal job path. */
        job = sift_xcalloc(1, sizeof(*job));
        job->api = api;
        job->kind = JOB_TAIL;
        job->t0_ns = sift_clock_mono_ns();
        struct params bp = p;
        bp.to = NULL;
        if (prepare(api, req, &bp, job) < 0) {
            observe(job, 1);
            job_free(job);
            return;
        }
        job->so.limit = (uint32_t)limit;
        job->ro.ndjson = 1;
        job->ro.fields = p.fields && *p.fields ? p.fields : NULL;
        job->so.track_total_hits = 1;
    }
    const char *qs = p.q ? p.q : "";
    struct sift_query_limits lim = {
        .max_query_bytes = (size_t)cfg->max_query_bytes,
        .max_expansion = (uint64_t)cfg->max_expansion};
    struct sift_query *q;
    struct sift_query_error err = {0};
    if (sift_query_parse(qs, strlen(qs), &lim, &q, &err) < 0) {
        if (job != NULL)
            job_free(job);
        reply_error(req, &err);
        return;
    }
    if (!answer_locally(api, req, &p)) {
        /* Every node's tail, merged (src/cluster/stream.c). */
        if (job != NULL)
            job_free(job);
        sift_query_free(q);
        int64_t cap = cfg->idle_timeout_ms / 2;
        const struct sift_cluster_query cq = {
            .kind = SIFT_CLUSTER_TAIL,
            .allow_partial = allow_partial(&p),
            .heartbeat_ms = heartbeat_ms > cap ? cap : heartbeat_ms};
        api->fanout->stream(api->fanout->impl, req, &cq);
        return;
    }
    struct tail *t = sift_xcalloc(1, sizeof(*t));
    t->api = api;
    t->req = req;
    t->q = q;
    t->fields = p.fields && *p.fields ? sift_xstrdup(p.fields) : NULL;
    t->heartbeat_ns = heartbeat_ms * SIFT_NS_PER_MS;
    sift_buf_init(&t->pending);
    t->next = api->tails;
    api->tails = t;
    api->n_tails++;
    if (job == NULL) {
        (void)tail_stream(t);
        return;
    }
    job->tail = t;
    t->backfill = job;
    start_job(job); /* a refusal answers 503 and ends the tail (job_free) */
}

void
sift_search_api_end_tails(struct sift_search_api *api)
{
    if (!api || api->released)
        return;
    size_t n = 0;
    while (api->tails) {
        tail_end(api->tails, 503, "shutting_down",
                 "siftd is stopping; the tail ends here");
        n++;
    }
    if (n > 0)
        SIFT_INFO("shutdown: %zu live tail%s ended", n, n == 1 ? "" : "s");
}

/* ---- life cycle ---- */

static void
api_maybe_free(struct sift_search_api *api)
{
    if (api->released && api->running == 0 && api->n_tails == 0)
        sift_free(api);
}

int
sift_search_api_new(struct sift_http *http,
                    const struct sift_search_api_deps *deps,
                    struct sift_search_api **out)
{
    struct sift_search_api *api = sift_xcalloc(1, sizeof(*api));
    api->http = http;
    api->store = deps->store;
    api->pool = deps->pool;
    api->slots = deps->slots;
    api->cfg = deps->cfg;
    api->loop = deps->loop;
    api->fanout = deps->fanout;
    api->metrics = deps->metrics;
    const struct sift_search_template_source *src = &deps->templates;
    if (src->acquire && src->text && src->release)
        api->tmpl = *src;
    api->saved = deps->saved;
    api->saved_arg = deps->saved_arg;
    api->timer = sift_loop_timer_new(api->loop, 50, on_timer, api);
    api->heartbeat = sift_loop_timer_new(api->loop, 250, on_heartbeat, api);
    static const struct {
        const char *method, *path;
        sift_http_handler_cb cb;
    } routes[] = {
        {"GET", "/api/v1/search", handle_search},
        {"POST", "/api/v1/search", handle_search},
        {"GET", "/api/v1/export", handle_search},
        {"POST", "/api/v1/export", handle_search},
        {"GET", "/api/v1/histogram", handle_histogram},
        {"POST", "/api/v1/histogram", handle_histogram},
        {"GET", "/api/v1/terms", handle_terms},
        {"POST", "/api/v1/terms", handle_terms},
        {"GET", "/api/v1/stats", handle_stats},
        {"POST", "/api/v1/stats", handle_stats},
        {"GET", "/api/v1/fields", handle_fields},
        {"GET", "/api/v1/context", handle_context},
        {"GET", "/api/v1/tail", handle_tail},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        sift_http_route(http, routes[i].method, routes[i].path, 0,
                        SIFT_ROLE_READER, routes[i].cb, api);
    sift_store_on_refresh(api->store, on_refresh, api);
    *out = api;
    return SIFT_OK;
}

void
sift_search_api_free(struct sift_search_api *api)
{
    if (!api || api->released)
        return;
    api->stopping = 1;
    sift_store_on_refresh(api->store, NULL, NULL);
    sift_loop_timer_free(api->timer);
    api->timer = NULL;
    while (api->tails)
        tail_end(api->tails, 503, "shutting_down", "the server is stopping");
    sift_loop_timer_free(api->heartbeat);
    api->heartbeat = NULL;
    while (api->paused) {
        struct job *job = api->paused;
        api->paused = job->next_paused;
        sift_http_stream_end(job->req);
        job_release(api);
        job_free(job);
    }
    api->released = 1;
    api_maybe_free(api);
}
