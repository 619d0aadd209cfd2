/*
 * ingest_api.c - POST /api/v1/ingest and the Elasticsearch _bulk endpoint.
 *
 * Flow per request (loop thread): pick the parse options by content type
 * (or ?format=), parse every line into the request arena, reject bad lines
 * one by one through the pipeline (counted, dead-lettered, and listed in
 * the reply), submit the good events as one batch, and reply from the
 * store's durable callback.  The request object stays valid until that
 * reply even if the client disconnects (http.h), so the callback always
 * has somewhere to put its answer.
 *
 * The parse options are compiled once per format at start-up; parsing is
 * pure, so the compiled tables are shared by all requests.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sift/admit.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/ingest_api.h"
#include "sift/log.h"
#include "sift/multiline.h"
#include "sift/parse.h"
#include "sift/pipeline.h"

#define MAX_REPORTED_ERRORS 20 /* per reply; all of them are dead-lettered */

struct sift_ingest_api {
    struct sift_pipeline *pipe;
    const struct sift_config *cfg;
    struct sift_multiline *ml;      /* continuation lines; owned */
    struct sift_parse_opts opts[5]; /* by enum sift_parse_format */
};

/* One request in flight: lives in the request arena. */
struct ingest_ctx {
    struct sift_ingest_api *api;
    struct sift_http_req *req;
    struct sift_event *evs;
    size_t n_evs;
    size_t cap_evs;
    size_t n_rejected;
    size_t n_joined;        /* continuation lines joined into events */
    struct sift_buf errors; /* JSON array body of the first errors */
    size_t n_errors_listed;
    int64_t t0_ns;
    int failed_rc;                      /* SIFT_ENOMEM while collecting */
    struct sift_pipeline_counts counts; /* what the pipeline did */
    struct sift_bulk bulk;              /* _bulk only */
    struct sift_bulk_filter filter;     /* _bulk: ?filter_path= */
    int is_bulk;
};

static void
ctx_cleanup(void *arg)
{
    struct ingest_ctx *c = arg;
    sift_buf_cleanup(&c->errors);
    sift_bulk_cleanup(&c->bulk);
}

static int
format_from_name(const char *s, enum sift_parse_format *out)
{
    static const char *const names[] = {"auto", "json", "text", "syslog",
                                        "logfmt"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum sift_parse_format)i;
            return SIFT_OK;
        }
    }
    return SIFT_EINVAL;
}

/* Picks the format: ?format= wins, then Content-Type. */
static int
choose_format(struct sift_http_req *req, enum sift_parse_format *out)
{
    const char *f = sift_http_req_param(req, "format");
    if (f)
        return format_from_name(f, out);
    const char *ct = sift_http_req_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/x-ndjson", 20) == 0 ||
        strncasecmp(ct, "application/json", 16) == 0 ||
        strncasecmp(ct, "application/x-json-stream", 25) == 0) {
        *out = SIFT_PARSE_JSON;
        return SIFT_OK;
    }
    if (strncasecmp(ct, "text/plain", 10) == 0 ||
        strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0) {
        /* curl's --data default is form-urlencoded: people mean lines. */
        /* Plain lines may be JSON, syslog, logfmt or free text. */
        *out = SIFT_PARSE_AUTO;
        return SIFT_OK;
    }
    return SIFT_EINVAL;
}

static void
note_error(struct ingest_ctx *c, size_t line_no, const char *reason)
{
    if (c->n_errors_listed >= MAX_REPORTED_ERRORS)
        return;
    sift_buf_append(&c->errors, c->n_errors_listed ? "," : "[", 1);
    sift_buf_appendf(&c->errors, "{\"line\":%zu,\"reason\":", line_no);
    sift_buf_put_json_str(&c->errors, reason, strlen(reason));
    sift_buf_putc(&c->errors, '}');
    c->n_errors_listed++;
}

static int
push_event(struct ingest_ctx *c, const struct sift_event *ev)
{
    if (c->n_evs == c->cap_evs) {
        size_t cap = c->cap_evs ? c->cap_evs * 2 : 256;
        struct sift_event *n =
            sift_arena_try_alloc(sift_http_req_arena(c->req), cap * sizeof(*n));
        if (!n)
            return SIFT_ENOMEM;
        if (c->n_evs)
            memcpy(n, c->evs, c->n_evs * sizeof(*n));
        c->evs = n;
        c->cap_evs = cap;
    }
    c->evs[c->n_evs++] = *ev;
    return SIFT_OK;
}

static int
on_line(void *arg, int rc, struct sift_event *ev,
        const struct sift_parse_error *err)
{
    struct ingest_ctx *c = arg;
    if (rc == SIFT_OK) {
        int prc = push_event(c, ev);
        if (prc < 0) {
            c->failed_rc = prc;
            return 1; /* stop: the body is too large for memory */
        }
        return 0;
    }
    if (rc == SIFT_ENOMEM) {
        c->failed_rc = rc;
        return 1;
    }
    c->n_rejected++;
    sift_pipeline_reject(c->api->pipe, "http", NULL, err->line, err->line_len,
                         err->reason);
    note_error(c, err->line_no, err->reason);
    return 0;
}

/* _bulk items whose event the time checks refused answer 400, not 201:
 * the i-th good item is the i-th event submitted. */
static void
bulk_mark_refused(struct ingest_ctx *c)
{
    if (!c->counts.admit)
        return;
    size_t k = 0;
    for (size_t i = 0; i < c->bulk.n_items && k < c->n_evs; i++) {
        struct sift_bulk_item *it = &c->bulk.items[i];
        if (it->status != 201)
            continue;
        uint8_t r = c->counts.admit[k++];
        if (r == SIFT_ADMIT_EXPIRED) {
            it->status = 400;
            it->error_type = "event_expired_exception";
            it->error_reason = "the event is older than tiers.retention; it "
                               "was written to the dead-letter file";
            c->bulk.n_errors++;
        } else if (r == SIFT_ADMIT_FUTURE) {
            it->status = 400;
            it->error_type = "event_in_future_exception";
            it->error_reason = "the event's timestamp is past "
                               "ingest.max_future; it was written to the "
                               "dead-letter file";
            c->bulk.n_errors++;
        }
    }
}

static void
reply_accepted(struct ingest_ctx *c)
{
    struct sift_buf body = SIFT_BUF_INIT;
    int64_t took_ms = (sift_clock_mono_ns() - c->t0_ns) / SIFT_NS_PER_MS;
    if (c->is_bulk) {
        bulk_mark_refused(c);
        sift_bulk_response_write(&c->bulk, took_ms, &c->filter, &body);
    } else {
        const struct sift_pipeline_counts *k = &c->counts;
        sift_buf_appendf(&body,
                         "{\"accepted\":%zu,\"rejected\":%zu,\"expired\":%zu,"
                         "\"future\":%zu,\"joined\":%zu,\"took_ms\":%lld",
                         k->stored, c->n_rejected, k->expired,
                         k->future_clamped + k->future_rejected, c->n_joined,
                         (long long)took_ms);
        if (c->n_errors_listed) {
            sift_buf_append(&body, ",\"errors\":", 10);
            sift_buf_append(&body, c->errors.data, c->errors.len);
            sift_buf_putc(&body, ']');
        }
        sift_buf_putc(&body, '}');
    }
    sift_http_reply_json(c->req, 200, &body);
    sift_buf_cleanup(&body);
}

static void
reply_refused(struct sift_http_req *req, int rc)
{
    if (rc == SIFT_EBUSY) {
        sift_http_add_header(req, "Retry-After", "1");
        sift_http_reply_error(req, 503, "ingest_backpressure",
                              "the ingest buffer is full; retry later");
    } else if (rc == SIFT_ENOSPACE) {
        sift_http_add_header(req, "Retry-After", "5");
        sift_http_reply_error(req, 503, "disk_full",
                              "no space left for the write-ahead log; "
                              "nothing from this request was stored");
    } else if (rc == SIFT_ENOMEM) {
        sift_http_reply_error(req, 503, "out_of_memory",
                              "not enough memory for this request");
    } else {
        sift_http_reply_error(req, 503, "store_error",
                              "the batch was not stored: %s",
                              sift_strerror(rc));
    }
}

static void
on_durable(void *arg, int rc)
{
    struct ingest_ctx *c = arg;
    if (rc < 0) {
        reply_refused(c->req, rc);
        return;
    }
    reply_accepted(c);
}

static struct ingest_ctx *
ctx_new(struct sift_ingest_api *api, struct sift_http_req *req)
{
    struct sift_arena *a = sift_http_req_arena(req);
    struct ingest_ctx *c = sift_arena_alloc(a, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->api = api;
    c->req = req;
    c->t0_ns = sift_clock_mono_ns();
    sift_buf_init(&c->errors);
    sift_arena_cleanup_add(a, ctx_cleanup, c);
    return c;
}

static void
submit(struct ingest_ctx *c, const char *source)
{
    if (c->failed_rc < 0) {
        reply_refused(c->req, c->failed_rc);
        return;
    }
    if (c->n_evs == 0) {
        /* Nothing for the WAL: make the dead letters durable, answer. */
        sift_pipeline_sync_rejects(c->api->pipe);
        reply_accepted(c);
        return;
    }
    c->counts.admit =
        sift_arena_try_alloc(sift_http_req_arena(c->req), c->n_evs);
    /* The pipeline compacts c->evs; c->n_evs stays the count submitted. */
    int rc = sift_pipeline_submit_counted(
        c->api->pipe, source, c->evs, c->n_evs, NULL, 0,
        sift_http_req_arena(c->req), on_durable, c, &c->counts);
    if (rc < 0)
        reply_refused(c->req, rc);
}

static void
handle_ingest(struct sift_http_req *req, void *arg)
{
    struct sift_ingest_api *api = arg;
    enum sift_parse_format fmt;
    if (choose_format(req, &fmt) < 0) {
        sift_http_reply_error(
            req, 415, "unsupported_media_type",
            "send application/x-ndjson, application/json or text/plain "
            "(or set ?format=json|text|syslog|logfmt|auto)");
        return;
    }
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    if (len == 0) {
        sift_http_reply_error(req, 400, "empty_body",
                              "the request body holds no events");
        return;
    }
    struct ingest_ctx *c = ctx_new(api, req);
    struct sift_parse_stats ps;
    int rc = sift_parse_lines(&api->opts[fmt], body, len, sift_clock_now_ns(),
                              sift_http_req_arena(req), on_line, c, &ps);
    c->n_joined = ps.n_joined;
    if (rc == SIFT_ENOMEM)
        c->failed_rc = rc;
    submit(c, "http");
}

static void
handle_bulk(struct sift_http_req *req, void *arg)
{
    struct sift_ingest_api *api = arg;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    struct ingest_ctx *c = ctx_new(api, req);
    c->is_bulk = 1;
    sift_bulk_filter_init(&c->filter, sift_http_req_param(req, "filter_path"));
    struct sift_parse_error err;
    int rc =
        sift_bulk_parse(&api->opts[SIFT_PARSE_JSON], body, len,
                        sift_http_req_param(req, "index"), sift_clock_now_ns(),
                        sift_http_req_arena(req), &c->bulk, &err);
    if (rc == SIFT_EPARSE) {
        sift_http_reply_error(req, 400, "parse_exception", "%s", err.reason);
        return;
    }
    if (rc < 0) {
        reply_refused(req, rc);
        return;
    }
    /* One array for all good items: no doubling copies in push_event. */
    size_t n_ok = c->bulk.n_items - c->bulk.n_errors;
    if (n_ok > 0) {
        c->evs = sift_arena_try_alloc(sift_http_req_arena(req),
                                      n_ok * sizeof(*c->evs));
        c->cap_evs = c->evs ? n_ok : 0;
    }
    for (size_t i = 0; i < c->bulk.n_items; i++) {
        struct sift_bulk_item *it = &c->bulk.items[i];
        if (it->status == 201) {
            if (push_event(c, &it->ev) < 0) {
                c->failed_rc = SIFT_ENOMEM;
                break;
            }
            continue;
        }
        c->n_rejected++;
        sift_pipeline_reject(api->pipe, "bulk", NULL, NULL, 0,
                             it->error_reason ? it->error_reason : "?");
    }
    submit(c, "bulk");
}

int
sift_ingest_api_new(struct sift_http *http, struct sift_pipeline *pipe,
                    const struct sift_config *cfg, struct sift_ingest_api **out)
{
    struct sift_ingest_api *api = sift_xcalloc(1, sizeof(*api));
    api->pipe = pipe;
    api->cfg = cfg;
    struct sift_multiline_opts mo;
    char why[256];
    sift_multiline_opts_init(&mo);
    sift_multiline_opts_from_config(&mo, cfg);
    if (sift_multiline_new(&mo, &api->ml, why, sizeof(why)) < 0) {
        SIFT_ERROR("ingest: %s", why);
        sift_free(api);
        return SIFT_ECONFIG;
    }
    for (int f = 0; f < 5; f++) {
        struct sift_parse_error err;
        sift_parse_opts_init(&api->opts[f]);
        sift_parse_opts_from_config(&api->opts[f], cfg);
        api->opts[f].format = (enum sift_parse_format)f;
        api->opts[f].multiline = api->ml;
        int rc = sift_parse_opts_compile(&api->opts[f], &err);
        if (rc < 0) {
            SIFT_ERROR("ingest: bad [ingest] options: %s", err.reason);
            for (int g = 0; g <= f; g++)
                sift_parse_opts_cleanup(&api->opts[g]);
            sift_multiline_free(api->ml);
            sift_free(api);
            return SIFT_ECONFIG;
        }
    }
    sift_http_route(http, "POST", "/api/v1/ingest", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, handle_ingest, api);
    sift_http_route(http, "POST", "/api/v1/_bulk", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, handle_bulk, api);
    sift_http_route(http, "POST", "/_bulk", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, handle_bulk, api);
    *out = api;
    return SIFT_OK;
}

void
sift_ingest_api_free(struct sift_ingest_api *api)
{
    if (!api)
        return;
    for (int f = 0; f < 5; f++)
        sift_parse_opts_cleanup(&api->opts[f]);
    sift_multiline_free(api->ml);
    sift_free(api);
}
