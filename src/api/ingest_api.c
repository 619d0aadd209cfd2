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
 * pure, so the compiled tables are shared by all requests.  Labels
 * (?_fields=service.name:web and the Sift-Fields header) are added to
 * each event after parsing, unless it has the field already.
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
    struct sift_field *labels; /* ?_fields= and Sift-Fields: (arena) */
    size_t n_labels;
};

static void
ctx_cleanup(void *arg)
{
    struct ingest_ctx *c = arg;
    sift_buf_cleanup(&c->errors);
    sift_bulk_cleanup(&c->bulk);
}

/* Picks the format: ?format= wins, then Content-Type. */
static int
choose_format(struct sift_http_req *req, enum sift_parse_format *out)
{
    const char *f = sift_http_req_param(req, "format");
    if (f)
        return sift_parse_format_from_name(f, out);
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

#define MAX_LABELS 64

/*
 * Adds one "name=value,name=value" list (':' may stand for '=') to the
 * request's labels.  Returns SIFT_OK or SIFT_EINVAL with why.
 */
static int
labels_add(struct ingest_ctx *c, const char *list, const char *where, char *why,
           size_t why_len)
{
    struct sift_arena *a = sift_http_req_arena(c->req);
    const struct sift_config *cfg = c->api->cfg;
    size_t len = strlen(list);
    for (size_t at = 0; at < len;) {
        size_t n = strcspn(list + at, ",");
        const char *item = list + at;
        at += n + 1;
        size_t ns = 0, ne = strcspn(item, "=:");
        while (ns < n && (item[ns] == ' ' || item[ns] == '\t'))
            ns++;
        if (ns == n)
            continue; /* an empty piece */
        if (ne >= n) {
            snprintf(why, why_len,
                     "%s: \"%.*s\" is not name:value (e.g. "
                     "service.name:web,host.name:a1)",
                     where, (int)(n > 60 ? 60 : n), item);
            return SIFT_EINVAL;
        }
        size_t ke = ne, vs = ne + 1, ve = n;
        while (ke > ns && (item[ke - 1] == ' ' || item[ke - 1] == '\t'))
            ke--;
        while (vs < ve && (item[vs] == ' ' || item[vs] == '\t'))
            vs++;
        while (ve > vs && (item[ve - 1] == ' ' || item[ve - 1] == '\t'))
            ve--;
        if (ke == ns || (int64_t)(ke - ns) > cfg->max_field_name_bytes ||
            (int64_t)(ve - vs) > cfg->max_value_bytes) {
            snprintf(why, why_len,
                     "%s: \"%.*s\" has an empty or too long name or value",
                     where, (int)(n > 60 ? 60 : n), item);
            return SIFT_EINVAL;
        }
        for (size_t k = 0; k < c->n_labels; k++) {
            if (c->labels[k].name_len == ke - ns &&
                memcmp(c->labels[k].name, item + ns, ke - ns) == 0) {
                snprintf(why, why_len, "%s: label \"%.*s\" is given twice",
                         where, (int)(ke - ns > 60 ? 60 : ke - ns), item + ns);
                return SIFT_EINVAL;
            }
        }
        if (c->n_labels == MAX_LABELS) {
            snprintf(why, why_len, "%s: more than %d labels", where,
                     MAX_LABELS);
            return SIFT_EINVAL;
        }
        struct sift_field *f = &c->labels[c->n_labels++];
        f->name = sift_arena_strndup(a, item + ns, ke - ns);
        f->name_len = (uint32_t)(ke - ns);
        f->value = sift_arena_strndup(a, item + vs, ve - vs);
        f->value_len = (uint32_t)(ve - vs);
        f->type = SIFT_FT_KEYWORD;
    }
    return SIFT_OK;
}

/* Reads ?_fields= and the Sift-Fields header; replies 400 on a bad one. */
static int
labels_read(struct ingest_ctx *c)
{
    const char *p = sift_http_req_param(c->req, "_fields");
    const char *h = sift_http_req_header(c->req, "Sift-Fields");
    char why[256];
    if (p == NULL && h == NULL)
        return SIFT_OK;
    c->labels = sift_arena_alloc(sift_http_req_arena(c->req),
                                 MAX_LABELS * sizeof(*c->labels));
    if ((p != NULL && labels_add(c, p, "_fields", why, sizeof(why)) < 0) ||
        (h != NULL &&
         labels_add(c, h, "Sift-Fields header", why, sizeof(why)) < 0)) {
        sift_http_reply_error(c->req, 400, "bad_request", "%s", why);
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

/*
 * Adds the request's labels to ev (keyword fields; a label is a default:
 * the event's own field of the same name wins).  SIFT_ENOMEM when the
 * arena cannot grow.
 */
static int
labels_apply(struct ingest_ctx *c, struct sift_event *ev)
{
    if (c->n_labels == 0)
        return SIFT_OK;
    struct sift_field *f = sift_arena_try_alloc(
        sift_http_req_arena(c->req), (ev->n_fields + c->n_labels) * sizeof(*f));
    if (f == NULL)
        return SIFT_ENOMEM;
    if (ev->n_fields)
        memcpy(f, ev->fields, ev->n_fields * sizeof(*f));
    uint32_t n = ev->n_fields;
    for (size_t k = 0; k < c->n_labels; k++) {
        const struct sift_field *l = &c->labels[k];
        uint32_t j = 0;
        while (j < ev->n_fields &&
               !(f[j].name_len == l->name_len &&
                 memcmp(f[j].name, l->name, l->name_len) == 0))
            j++;
        if (j == ev->n_fields)
            f[n++] = *l;
    }
    ev->fields = f;
    ev->n_fields = n;
    return SIFT_OK;
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
        int prc = labels_apply(c, ev);
        if (prc == SIFT_OK)
            prc = push_event(c, ev);
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
    int status = 200;
    int64_t took_ms = (sift_clock_mono_ns() - c->t0_ns) / SIFT_NS_PER_MS;
    if (c->is_bulk) {
        /* The official Elasticsearch clients of version 8 check it. */
        sift_http_add_header(c->req, "X-Elastic-Product", "Elasticsearch");
        bulk_mark_refused(c);
        sift_bulk_response_write(&c->bulk, took_ms, &c->filter, &body);
    } else {
        const struct sift_pipeline_counts *k = &c->counts;
        size_t refused = c->n_rejected + k->expired + k->future_rejected;
        sift_buf_putc(&body, '{');
        if (k->stored == 0 && refused > 0) {
            /* Nothing stored and something refused: a 400, so a client
             * that checks the status sees it (HTTP shippers retry 5xx and
             * 429, not 400, so nothing is sent again in a loop); the
             * counts and the reasons follow as in a 200. */
            status = 400;
            char reason[256];
            snprintf(reason, sizeof(reason),
                     "no event of the request was stored: %zu rejected, "
                     "%zu expired, %zu in the future (all in the "
                     "dead-letter file; see errors)",
                     c->n_rejected, k->expired, k->future_rejected);
            struct sift_buf e = SIFT_BUF_INIT;
            sift_http_error_json(&e, 400, "all_rejected", reason, -1);
            /* {"error":{...},"status":400}\n -> "error":{...},"status":400, */
            sift_buf_append(&body, e.data + 1, e.len - 3);
            sift_buf_putc(&body, ',');
            sift_buf_cleanup(&e);
            SIFT_INFO("ingest: request from %s refused: %s",
                      sift_http_req_peer(c->req), reason);
        }
        sift_buf_appendf(&body,
                         "\"accepted\":%zu,\"rejected\":%zu,\"expired\":%zu,"
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
    sift_http_reply_json(c->req, status, &body);
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

/* ---- JSON bodies that are not one object per line ---- */

static int
is_ws(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/*
 * The end (one past) of the JSON value starting at s[at] - an object, an
 * array, a string or a scalar - found by structure only (strings and
 * escapes skipped, brackets counted), or 0 when the body ends first.
 */
SIFT_STATIC size_t
json_value_end(const char *s, size_t len, size_t at)
{
    size_t depth = 0;
    int in_str = 0;
    for (size_t i = at; i < len; i++) {
        char ch = s[i];
        if (in_str) {
            if (ch == '\\')
                i++;
            else if (ch == '"')
                in_str = 0;
            if (!in_str && depth == 0)
                return i + 1;
            continue;
        }
        if (ch == '"')
            in_str = 1;
        else if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i; /* a scalar ended by the container */
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 && (ch == ',' || is_ws(ch)))
            return i;
    }
    return depth == 0 && !in_str && len > at ? len : 0;
}

/* 1-based line number of byte off of s. */
static size_t
line_of(const char *s, size_t off)
{
    size_t n = 1;
    for (size_t i = 0; i < off; i++)
        n += s[i] == '\n';
    return n;
}

/* Parses s[a..b) as one event and hands it to on_line; 1 = stop. */
static int
one_event(struct ingest_ctx *c, const struct sift_parse_opts *o, const char *s,
          size_t a, size_t b, size_t no)
{
    struct sift_event ev;
    struct sift_parse_error err;
    int rc = sift_parse_event(o, s + a, b - a, sift_clock_now_ns(),
                              sift_http_req_arena(c->req), &ev, &err);
    if (rc == SIFT_OK)
        return on_line(c, rc, &ev, NULL);
    err.line_no = no;
    err.line = s + a;
    err.line_len = b - a;
    return on_line(c, rc, NULL, &err);
}

/* Rejects s[a..b) (a part that is not a JSON object) with reason. */
static int
reject_part(struct ingest_ctx *c, const char *s, size_t a, size_t b, size_t no,
            const char *reason)
{
    struct sift_parse_error err;
    memset(&err, 0, sizeof(err));
    err.rc = SIFT_EPARSE;
    err.line_no = no;
    err.line = s + a;
    err.line_len = b - a;
    snprintf(err.reason, sizeof(err.reason), "%s", reason);
    return on_line(c, SIFT_EPARSE, NULL, &err);
}

/*
 * What many loggers and tools write besides NDJSON: a JSON array of event
 * objects ([{...},{...}], "line" numbers are then element numbers) or
 * pretty-printed objects one after another (jq's output; "line" is the
 * line an object starts on).  Each object is parsed as one event, within
 * max_line_bytes.  Returns 1 when the body is of that kind and was
 * parsed, 0 for NDJSON (one object per line), which the line parser
 * handles.
 */
static int
parse_json_body(struct ingest_ctx *c, const struct sift_parse_opts *o,
                const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_ws(s[i]))
        i++;
    if (i == len)
        return 0;
    int array = s[i] == '[';
    if (!array) {
        size_t end = s[i] == '{' ? json_value_end(s, len, i) : 0;
        if (end == 0 || memchr(s + i, '\n', end - i) == NULL)
            return 0; /* NDJSON (or broken): line by line */
    } else {
        i++;
    }
    for (size_t k = 1;; k++) {
        while (i < len && is_ws(s[i]))
            i++;
        if (i == len) {
            if (array)
                (void)reject_part(c, s, i, len, k,
                                  "the JSON array is not closed (']')");
            return 1;
        }
        if (array && s[i] == ']')
            return 1;
        size_t end = json_value_end(s, len, i);
        size_t no = array ? k : line_of(s, i);
        int stop;
        if (end == 0) {
            stop = reject_part(c, s, i, len, no,
                               "unterminated JSON object (the body ends "
                               "inside it)");
            return 1;
        }
        if (s[i] == '{')
            stop = one_event(c, o, s, i, end, no);
        else
            stop = reject_part(c, s, i, end, no,
                               array ? "this array element is not a JSON "
                                       "object"
                                     : "expected a JSON object");
        if (stop)
            return 1;
        i = end;
        while (i < len && is_ws(s[i]))
            i++;
        if (array) {
            if (i < len && s[i] == ',') {
                i++;
            } else if (i < len && s[i] != ']') {
                (void)reject_part(c, s, i, len, k + 1,
                                  "expected ',' or ']' between array "
                                  "elements");
                return 1;
            }
        }
    }
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
    if (labels_read(c) < 0)
        return;
    struct sift_parse_stats ps;
    memset(&ps, 0, sizeof(ps));
    int rc = SIFT_OK;
    if (fmt != SIFT_PARSE_JSON ||
        !parse_json_body(c, &api->opts[fmt], body, len))
        rc = sift_parse_lines(&api->opts[fmt], body, len, sift_clock_now_ns(),
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
    if (labels_read(c) < 0)
        return;
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
            if (labels_apply(c, &it->ev) < 0 || push_event(c, &it->ev) < 0) {
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
