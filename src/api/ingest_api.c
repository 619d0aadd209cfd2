/*
 * ingest_api.c - POST /api/v1/ingest and the Elasticsearch _bulk endpoint
 * (also /<index>/_bulk through es_api.c: every event keeps its index in
 * the keyword field _index).  The other HTTP protocols and what they all
 * share (counters, the refusal replies, one Elasticsearch document) are
 * in ingest_req.c, otlp_api.c and es_api.c.
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

#include "api/keymap.h"
#include "sift/admit.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/ingest_api.h"
#include "sift/kvlist.h"
#include "sift/lifecycle.h"
#include "sift/log.h"
#include "sift/multiline.h"
#include "sift/parse.h"
#include "sift/pipeline.h"
#include "sift/pool.h"
#include "sift/render.h"
#include "sift/store.h"

#include "api/ingest_int.h"

#define MAX_REPORTED_ERRORS 20 /* per reply; all of them are dead-lettered */

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
    int is_doc;         /* one document (/<index>/_doc...): answered as such */
    const char *source; /* "http" or "bulk": counters, dead letters */
    struct sift_field *labels; /* ?_fields= and Sift-Fields: (arena) */
    size_t n_labels;
    /* _bulk with item ids: evs[i] is item item_of[i]; the keys this
     * request stores and those it replaces; the snapshot lookup. */
    uint32_t *item_of;
    struct sift_doc_key *keys;
    size_t n_keys;
    struct sift_doc_key *replace;
    size_t n_replace;
    struct sift_doc_key *lookup;
    uint8_t *found;
    size_t n_lookup;
    struct sift_snapshot *snap;
    int lookup_rc;
    struct ingest_ctx *next_waiting;
    char first_reject[160]; /* "line N: reason" of the first rejected */
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

struct labels_walk {
    struct ingest_ctx *c;
    const char *where;
    char why[256];
};

/* One label of a list (core/kvlist.c reads the list). */
static int
label_item(void *arg, const char *name, size_t name_len, const char *value,
           size_t value_len)
{
    struct labels_walk *w = arg;
    struct ingest_ctx *c = w->c;
    const struct sift_config *cfg = c->api->cfg;
    struct sift_arena *a = sift_http_req_arena(c->req);
    if ((int64_t)name_len > cfg->max_field_name_bytes ||
        (int64_t)value_len > cfg->max_value_bytes) {
        snprintf(w->why, sizeof(w->why),
                 "%s: \"%.*s\" has a too long name or value", w->where,
                 (int)(name_len > 60 ? 60 : name_len), name);
        return SIFT_EINVAL;
    }
    for (size_t k = 0; k < c->n_labels; k++) {
        if (c->labels[k].name_len == name_len &&
            memcmp(c->labels[k].name, name, name_len) == 0) {
            snprintf(w->why, sizeof(w->why),
                     "%s: label \"%.*s\" is given twice", w->where,
                     (int)(name_len > 60 ? 60 : name_len), name);
            return SIFT_EINVAL;
        }
    }
    if (c->n_labels == MAX_LABELS) {
        snprintf(w->why, sizeof(w->why), "%s: more than %d labels", w->where,
                 MAX_LABELS);
        return SIFT_EINVAL;
    }
    struct sift_field *f = &c->labels[c->n_labels++];
    f->name = sift_arena_strndup(a, name, name_len);
    f->name_len = (uint32_t)name_len;
    f->value = sift_arena_strndup(a, value, value_len);
    f->value_len = (uint32_t)value_len;
    f->type = SIFT_FT_KEYWORD;
    return 0;
}

/* Adds one list to the request's labels; SIFT_OK or SIFT_EINVAL + why. */
static int
labels_add(struct ingest_ctx *c, const char *list, const char *where, char *why,
           size_t why_len)
{
    struct labels_walk w = {c, where, {0}};
    char syntax[200];
    int rc = sift_kvlist_walk(list, label_item, &w, syntax, sizeof(syntax));
    if (rc == SIFT_OK)
        return SIFT_OK;
    if (w.why[0] != '\0')
        snprintf(why, why_len, "%s", w.why);
    else
        snprintf(why, why_len, "%s: %s", where, syntax);
    return SIFT_EINVAL;
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
    if (c->first_reject[0] == '\0')
        snprintf(c->first_reject, sizeof(c->first_reject), "line %zu: %.120s",
                 err->line_no, err->reason);
    sift_pipeline_reject(c->api->pipe, "http", NULL, err->line, err->line_len,
                         err->reason);
    note_error(c, err->line_no, err->reason);
    return 0;
}

/* _bulk items whose event the time checks refused answer 400, not 201:
 * evs[i] (before the checks compacted them) is item item_of[i]. */
static void
bulk_mark_refused(struct ingest_ctx *c, const uint8_t *admit, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct sift_bulk_item *it = &c->bulk.items[c->item_of[i]];
        if (admit[i] == SIFT_ADMIT_EXPIRED) {
            it->status = 400;
            it->error_type = "event_expired_exception";
            it->error_reason = "the event is older than tiers.retention; it "
                               "was written to the dead-letter file";
            c->bulk.n_errors++;
        } else if (admit[i] == SIFT_ADMIT_FUTURE) {
            it->status = 400;
            it->error_type = "event_in_future_exception";
            it->error_reason = "the event's timestamp is past "
                               "ingest.max_future; it was written to the "
                               "dead-letter file";
            c->bulk.n_errors++;
        }
    }
}

/* One document's answer, as Elasticsearch gives it: 201 created, 200
 * updated (an index of a stored _id), else the item's error. */
static void
reply_doc(struct ingest_ctx *c)
{
    const struct sift_bulk_item *it =
        c->bulk.n_items ? &c->bulk.items[0] : NULL;
    sift_http_add_header(c->req, "X-Elastic-Product", "Elasticsearch");
    if (!it || (it->status != 201 && it->status != 200)) {
        sift_http_reply_error(
            c->req, it ? it->status : 400,
            it && it->error_type ? it->error_type : "mapper_parsing_exception",
            "%s", it && it->error_reason ? it->error_reason : "no document");
        return;
    }
    struct sift_buf body = SIFT_BUF_INIT;
    sift_buf_append(&body, "{\"_index\":", 10);
    sift_buf_put_json_str(&body, it->index ? it->index : "", it->index_len);
    sift_buf_append(&body, ",\"_id\":", 7);
    sift_buf_put_json_str(&body, it->id, it->id_len);
    sift_buf_appendf(&body,
                     ",\"_version\":1,\"result\":\"%s\","
                     "\"_shards\":{\"total\":1,\"successful\":1,"
                     "\"failed\":0},\"_seq_no\":0,\"_primary_term\":1}\n",
                     it->status == 201 ? "created" : "updated");
    sift_http_reply_json(c->req, it->status, &body);
    sift_buf_cleanup(&body);
}

static void
reply_accepted(struct ingest_ctx *c)
{
    struct sift_buf body = SIFT_BUF_INIT;
    int status = 200;
    int64_t took_ms = (sift_clock_mono_ns() - c->t0_ns) / SIFT_NS_PER_MS;
    if (c->is_doc) {
        reply_doc(c);
        return;
    }
    if (c->is_bulk) {
        /* The official Elasticsearch clients of version 8 check it. */
        sift_http_add_header(c->req, "X-Elastic-Product", "Elasticsearch");
        sift_render_bulk(&c->bulk, took_ms, &c->filter, &body);
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
forget_keys(struct ingest_ctx *c)
{
    for (size_t i = 0; i < c->n_keys; i++)
        sift__keymap_del(c->api->keys, &c->keys[i]);
    c->n_keys = 0;
}

static void
on_durable(void *arg, int rc)
{
    struct ingest_ctx *c = arg;
    sift__ingest_stats_done(c->api, c->source, c->t0_ns, rc);
    if (rc < 0) {
        forget_keys(c); /* not stored after all */
        sift__ingest_reply_refused(c->req, rc);
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

/* Rejected lines leave a log line (at most one per request). */
static void
log_rejects(struct ingest_ctx *c, const char *source)
{
    if (c->n_rejected == 0 || c->first_reject[0] == '\0')
        return;
    SIFT_INFO("ingest: %s from %s: %zu line%s rejected (first: %s); they "
              "are in the dead-letter file",
              source, sift_http_req_peer(c->req), c->n_rejected,
              c->n_rejected == 1 ? "" : "s", c->first_reject);
}

static void
submit(struct ingest_ctx *c, const char *source)
{
    log_rejects(c, source);
    c->source = source;
    sift__ingest_stats_start(c->api, source);
    if (c->failed_rc < 0) {
        on_durable(c, c->failed_rc);
        return;
    }
    if (c->n_evs == 0) {
        /* Nothing for the WAL: make the dead letters durable, answer. */
        sift_pipeline_sync_rejects(c->api->pipe);
        on_durable(c, SIFT_OK);
        return;
    }
    c->counts.admit =
        sift_arena_try_alloc(sift_http_req_arena(c->req), c->n_evs);
    /* The pipeline compacts c->evs; c->n_evs stays the count submitted. */
    int rc = sift_pipeline_submit_counted(
        c->api->pipe, source, c->evs, c->n_evs, NULL, 0,
        sift_http_req_arena(c->req), on_durable, c, &c->counts);
    if (rc < 0)
        on_durable(c, rc);
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
        sift__ingest_count_bad(api, "http");
        sift_http_reply_error(
            req, 415, "unsupported_media_type",
            "send application/x-ndjson, application/json or text/plain "
            "(or set ?format=json|text|syslog|logfmt|auto)");
        return;
    }
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    if (len == 0) {
        sift__ingest_count_bad(api, "http");
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

/* ---- _bulk: items with an _id of their own ---- */

static void id_check_next(struct sift_ingest_api *api);

/* Submits the bulk events (after the id decisions, if any). */
static void
bulk_submit(struct ingest_ctx *c)
{
    struct sift_ingest_api *api = c->api;
    c->source = "bulk";
    sift__ingest_stats_start(api, "bulk");
    if (c->n_evs == 0) {
        sift_pipeline_sync_rejects(api->pipe);
        on_durable(c, SIFT_OK);
        return;
    }
    c->counts.admitted = 1;
    c->counts.replace = c->replace;
    c->counts.n_replace = c->n_replace;
    int rc = sift_pipeline_submit_counted(api->pipe, "bulk", c->evs, c->n_evs,
                                          NULL, 0, sift_http_req_arena(c->req),
                                          on_durable, c, &c->counts);
    if (rc < 0) {
        on_durable(c, rc);
        return;
    }
    /* Stored under this seq: searchable once the store says so. */
    for (size_t i = 0; i < c->n_keys; i++)
        sift__keymap_put(api->keys, &c->keys[i], c->counts.seq);
}

static struct sift_doc_key
item_key(const struct sift_bulk_item *it)
{
    struct sift_doc_key k = {it->index ? it->index : "", it->index_len, it->id,
                             it->id_len};
    return k;
}

static int
same_key(const struct sift_doc_key *a, const struct sift_doc_key *b)
{
    return a->index_len == b->index_len && a->id_len == b->id_len &&
           memcmp(a->index, b->index, a->index_len) == 0 &&
           memcmp(a->id, b->id, a->id_len) == 0;
}

/*
 * Elasticsearch's rules, item by item in body order: a create whose key
 * is stored (before this request, or by an earlier item of it) is a 409;
 * an index of a stored key replaces the document (200 "updated": the old
 * one goes in the same WAL record and the same snapshot publish as the
 * new one); within one request the last index of a key is the one
 * stored.  Then the events are submitted.
 */
static void
id_decide(struct ingest_ctx *c)
{
    struct sift_ingest_api *api = c->api;
    struct sift_arena *a = sift_http_req_arena(c->req);
    size_t n = c->n_evs;
    uint8_t *drop = sift_arena_try_alloc(a, n ? n : 1);
    c->keys = sift_arena_try_alloc(a, (n ? n : 1) * sizeof(*c->keys));
    c->replace = sift_arena_try_alloc(a, (n ? n : 1) * sizeof(*c->replace));
    size_t *holder = sift_arena_try_alloc(a, (n ? n : 1) * sizeof(*holder));
    if (!drop || !c->keys || !c->replace || !holder) {
        sift__ingest_reply_refused(c->req, SIFT_ENOMEM);
        return;
    }
    memset(drop, 0, n);
    c->n_keys = 0;
    c->n_replace = 0;
    for (size_t i = 0; i < n; i++) {
        struct sift_bulk_item *it = &c->bulk.items[c->item_of[i]];
        if (!it->id_given)
            continue;
        struct sift_doc_key k = item_key(it);
        size_t mine = c->n_keys; /* stored by an earlier item of this one */
        for (size_t j = 0; j < c->n_keys && mine == c->n_keys; j++)
            if (same_key(&c->keys[j], &k))
                mine = j;
        int stored = sift__keymap_has(api->keys, &k);
        for (size_t j = 0; j < c->n_lookup && !stored; j++)
            stored = c->found[j] && same_key(&c->lookup[j], &k);
        if (it->action == SIFT_BULK_CREATE) {
            if (stored || mine < c->n_keys) {
                it->status = 409;
                it->error_type = "version_conflict_engine_exception";
                char *why = sift_arena_try_alloc(a, k.id_len + 64);
                if (why)
                    snprintf(why, k.id_len + 64,
                             "[%.*s]: version conflict, document already "
                             "exists",
                             (int)k.id_len, k.id);
                it->error_reason = why ? why : "version conflict";
                c->bulk.n_errors++;
                drop[i] = 1;
                continue;
            }
        } else if (mine < c->n_keys) {
            drop[holder[mine]] = 1; /* the later index of a key wins */
            it->status = 200;
            holder[mine] = i;
            continue;
        } else if (stored) {
            it->status = 200;
            c->replace[c->n_replace++] = k;
        }
        holder[c->n_keys] = i;
        c->keys[c->n_keys++] = k;
    }
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (!drop[i])
            c->evs[kept++] = c->evs[i];
    c->n_evs = kept;
    for (size_t i = 0; i < c->n_keys; i++)
        sift__keymap_put(api->keys, &c->keys[i], 0); /* reserved */
    bulk_submit(c);
}

static void
lookup_work(void *arg)
{
    struct ingest_ctx *c = arg;
    size_t n = sift_snapshot_count(c->snap);
    struct sift_segment **segs = sift_xcalloc(n ? n : 1, sizeof(*segs));
    for (size_t i = 0; i < n; i++)
        segs[i] = sift_snapshot_segment(c->snap, i);
    c->lookup_rc =
        sift_store_keys_find(segs, n, c->lookup, c->n_lookup, c->found);
    sift_free(segs);
}

static void
lookup_done(void *arg, int cancelled)
{
    struct ingest_ctx *c = arg;
    struct sift_ingest_api *api = c->api;
    sift_snapshot_release(c->snap);
    c->snap = NULL;
    if (cancelled || c->lookup_rc < 0)
        sift__ingest_reply_refused(c->req,
                                   cancelled ? SIFT_ESHUTDOWN : c->lookup_rc);
    else
        id_decide(c);
    api->id_busy = 0;
    id_check_next(api);
}

/* Starts the id checks of c: the keys not known stored are looked up in
 * a snapshot on a worker, then id_decide() runs on the loop. */
static void
id_check_start(struct ingest_ctx *c)
{
    struct sift_ingest_api *api = c->api;
    struct sift_arena *a = sift_http_req_arena(c->req);
    /* What became searchable needs no entry any more. */
    sift__keymap_prune(api->keys, sift_store_visible_seq(api->store));
    c->lookup = sift_arena_try_alloc(a, (c->n_evs + 1) * sizeof(*c->lookup));
    c->found = sift_arena_try_alloc(a, c->n_evs + 1);
    if (!c->lookup || !c->found) {
        sift__ingest_reply_refused(c->req, SIFT_ENOMEM);
        id_check_next(api);
        return;
    }
    c->n_lookup = 0;
    for (size_t i = 0; i < c->n_evs; i++) {
        const struct sift_bulk_item *it = &c->bulk.items[c->item_of[i]];
        struct sift_doc_key k = item_key(it);
        if (it->id_given && !sift__keymap_has(api->keys, &k))
            c->lookup[c->n_lookup++] = k;
    }
    if (c->n_lookup == 0) {
        id_decide(c);
        id_check_next(api);
        return;
    }
    api->id_busy = 1;
    c->snap = sift_store_snapshot(api->store);
    if (!api->pool ||
        sift_pool_submit(api->pool, lookup_work, lookup_done, c) != SIFT_OK) {
        lookup_work(c);
        lookup_done(c, 0);
    }
}

/* Runs the next request waiting for its id checks, if none is running. */
static void
id_check_next(struct sift_ingest_api *api)
{
    if (api->id_busy || !api->wait_head)
        return;
    struct ingest_ctx *c = api->wait_head;
    api->wait_head = c->next_waiting;
    if (!api->wait_head)
        api->wait_tail = &api->wait_head;
    id_check_start(c);
}

/* A _bulk body (or one document made into one): parsed, id checks, then
 * submitted. */
static void
bulk_run(struct sift_ingest_api *api, struct sift_http_req *req,
         const char *body, size_t len, const char *index, int is_doc)
{
    struct sift_arena *arena = sift_http_req_arena(req);
    struct ingest_ctx *c = ctx_new(api, req);
    c->is_bulk = 1;
    c->is_doc = is_doc;
    if (labels_read(c) < 0)
        return;
    sift_render_bulk_filter(&c->filter,
                            sift_http_req_param(req, "filter_path"));
    struct sift_parse_error err;
    int rc = sift_bulk_parse(&api->opts[SIFT_PARSE_JSON], body, len, index,
                             sift_clock_now_ns(), arena, &c->bulk, &err);
    if (rc == SIFT_EPARSE) {
        sift__ingest_count_bad(api, "bulk");
        sift_http_add_header(req, "X-Elastic-Product", "Elasticsearch");
        sift_http_reply_error(req, 400, "parse_exception", "%s", err.reason);
        return;
    }
    if (rc < 0) {
        sift__ingest_reply_refused(req, rc);
        return;
    }
    /* One array for all good items: no doubling copies in push_event. */
    size_t n_items = c->bulk.n_items;
    c->evs = sift_arena_try_alloc(arena, (n_items + 1) * sizeof(*c->evs));
    c->item_of = sift_arena_try_alloc(arena, (n_items + 1) * sizeof(uint32_t));
    uint8_t *flags = sift_arena_try_alloc(arena, n_items + 1);
    uint32_t *where = sift_arena_try_alloc(arena, (n_items + 1) * 4);
    if (!c->evs || !c->item_of || !flags || !where) {
        sift__ingest_reply_refused(req, SIFT_ENOMEM);
        return;
    }
    c->cap_evs = n_items;
    int given = 0;
    for (size_t i = 0; i < n_items; i++) {
        struct sift_bulk_item *it = &c->bulk.items[i];
        if (it->status == 201) {
            if (labels_apply(c, &it->ev) < 0) {
                sift__ingest_reply_refused(req, SIFT_ENOMEM);
                return;
            }
            flags[c->n_evs] = it->id_given ? SIFT_ML_KEEP : 0;
            given |= it->id_given;
            c->item_of[c->n_evs] = (uint32_t)i;
            c->evs[c->n_evs++] = it->ev;
            continue;
        }
        /* The dead letter keeps the item as it came (action + source). */
        c->n_rejected++;
        if (c->first_reject[0] == '\0')
            snprintf(c->first_reject, sizeof(c->first_reject),
                     "item %zu: %.120s", i + 1,
                     it->error_reason ? it->error_reason : "?");
        sift_pipeline_reject(api->pipe, "bulk", NULL, it->raw, it->raw_len,
                             it->error_reason ? it->error_reason : "?");
    }
    /* A stack trace sent one line per item (Filebeat without multiline):
     * items without an _id of their own join the item before them; such
     * an item answers with the _id of the document that holds it. */
    size_t n0 = c->n_evs;
    c->n_evs = sift_multiline_join(api->ml, c->evs, n0, NULL, flags, arena,
                                   where, &c->n_joined);
    for (size_t i = 0; i < n0; i++) {
        uint32_t head = c->item_of[i];
        for (size_t k = i; k > 0 && where[k - 1] == where[i]; k--)
            head = c->item_of[k - 1];
        struct sift_bulk_item *it = &c->bulk.items[c->item_of[i]];
        it->id = c->bulk.items[head].id;
        it->id_len = c->bulk.items[head].id_len;
    }
    for (size_t i = 0, k = 0; i < n0; i++)
        if (i == 0 || where[i] != where[i - 1])
            c->item_of[k++] = c->item_of[i];
    /* The time checks first: a refused event stores nothing, replaces
     * nothing. */
    uint8_t *admit = sift_arena_try_alloc(arena, c->n_evs + 1);
    uint32_t *before = sift_arena_try_alloc(arena, (c->n_evs + 1) * 4);
    if (!admit || !before) {
        sift__ingest_reply_refused(req, SIFT_ENOMEM);
        return;
    }
    memcpy(before, c->item_of, c->n_evs * 4);
    c->counts.admit = admit;
    size_t n_before = c->n_evs;
    c->n_evs = sift_pipeline_admit(api->pipe, "bulk", c->evs, n_before, arena,
                                   &c->counts);
    bulk_mark_refused(c, admit, n_before);
    for (size_t i = 0, k = 0; i < n_before; i++)
        if (admit[i] == SIFT_ADMIT_OK || admit[i] == SIFT_ADMIT_CLAMPED ||
            admit[i] == SIFT_ADMIT_NO_MEMORY)
            c->item_of[k++] = before[i];
    if (!given || !api->store) {
        bulk_submit(c);
        return;
    }
    /* One request with item ids at a time, so two cannot both miss the
     * same new key. */
    c->next_waiting = NULL;
    *api->wait_tail = c;
    api->wait_tail = &c->next_waiting;
    id_check_next(api);
}

void
sift_ingest_api_set_store(struct sift_ingest_api *api, struct sift_store *store,
                          struct sift_pool *pool)
{
    api->store = store;
    api->pool = pool;
}

void
sift__ingest_bulk(struct sift_ingest_api *api, struct sift_http_req *req,
                  const char *index)
{
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    bulk_run(api, req, body, len, index, 0);
}

/*
 * One document: made into a one-item _bulk body, so an _id of its own
 * gets the same rules (create of a stored id: 409; index: replaces).
 * Line breaks of a pretty-printed document are only whitespace between
 * JSON tokens (a JSON string holds none raw), so they become spaces.
 */
void
sift__ingest_doc(struct sift_ingest_api *api, struct sift_http_req *req,
                 const char *index, const char *id, int create)
{
    size_t len;
    const char *doc = sift_http_req_body(req, &len);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"%s\":{\"_index\":", create ? "create" : "index");
    sift_buf_put_json_str(&b, index, strlen(index));
    if (id) {
        sift_buf_append(&b, ",\"_id\":", 7);
        sift_buf_put_json_str(&b, id, strlen(id));
    }
    sift_buf_append(&b, "}}\n", 3);
    size_t at = b.len;
    sift_buf_append(&b, doc, len);
    for (size_t i = at; i < b.len; i++)
        if (b.data[i] == '\n' || b.data[i] == '\r')
            b.data[i] = ' ';
    sift_buf_putc(&b, '\n');
    char *body = sift_arena_try_alloc(sift_http_req_arena(req), b.len + 1);
    if (!body) {
        sift_buf_cleanup(&b);
        sift__ingest_reply_refused(req, SIFT_ENOMEM);
        return;
    }
    memcpy(body, b.data, b.len);
    body[b.len] = '\0';
    size_t blen = b.len;
    sift_buf_cleanup(&b);
    bulk_run(api, req, body, blen, index, 1);
}

static void
handle_bulk(struct sift_http_req *req, void *arg)
{
    sift__ingest_bulk(arg, req, sift_http_req_param(req, "index"));
}

int
sift_ingest_api_new(struct sift_http *http, struct sift_pipeline *pipe,
                    const struct sift_config *cfg, struct sift_ingest_api **out)
{
    struct sift_ingest_api *api = sift_xcalloc(1, sizeof(*api));
    api->pipe = pipe;
    api->cfg = cfg;
    api->keys = sift__keymap_new();
    api->wait_tail = &api->wait_head;
    struct sift_multiline_opts mo;
    char why[256];
    sift_multiline_opts_init(&mo);
    sift_multiline_opts_from_config(&mo, cfg);
    if (sift_multiline_new(&mo, &api->ml, why, sizeof(why)) < 0) {
        SIFT_ERROR("ingest: %s", why);
        sift__keymap_free(api->keys);
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
            sift__keymap_free(api->keys);
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
    sift__otlp_api_register(http, api);
    sift__loki_api_register(http, api);
    sift__journal_api_register(http, api);
    sift__es_api_register(http, api);
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
    sift__keymap_free(api->keys);
    sift_free(api);
}
