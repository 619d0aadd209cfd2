/*
 * lifecycle_api.c - HTTP endpoints of the lifecycle (include/sift/lifecycle.h):
 *
 *   GET  /api/v1/tiers         per tier segments, docs, bytes, time range,
 *                              compression ratio; merges; retention
 *   POST /api/v1/delete        {"query":"...","from":...,"to":...,
 *                              "dry_run":bool,"all_time":bool,
 *                              "match_all":bool,"force_rewrite":bool}
 *                              -> {"query":..,"from":..,"to":..,
 *                                  "dry_run":..,"matched":N,"deleted":N}
 *   POST /api/v1/debug/clock   {"offset_ms":N} shifts "now", or
 *                              {"freeze_ms":T} stops it at T (only with
 *                              server.debug_endpoints = true)
 *
 * Delete safety (docs/lifecycle.md, "What sift promises"): the body may
 * hold only the keys above, each of its type (an unknown key is a 400
 * naming it and the key probably meant, so "start" for "from" can never
 * widen a delete to all time); a delete without from/to needs
 * "all_time": true and a query that matches every event
 * (sift_query_matches_all()) needs "match_all": true; "dry_run": true
 * answers the count the same request would delete, from the store's own
 * matcher over the same events, and deletes nothing.  Replies and the
 * audit record say the query and range as understood.
 *
 * from/to are read as a search reads them (sift__api_time_json()).  A
 * delete replies after the request is durable and applied; the client
 * that disconnects meanwhile does not cancel it.
 *
 * Context: loop thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/lifecycle_api_int.h"
#include "api/params.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/fanout.h"
#include "sift/http.h"
#include "sift/lifecycle.h"
#include "sift/lifecycle_api.h"
#include "sift/log.h"
#include "sift/names.h"
#include "sift/query.h"
#include "sift/store.h"
#include "sift/time.h"

struct sift_lifecycle_api {
    struct sift_store *store;
    const struct sift_config *cfg;
    const struct sift_fanout *fanout;
};

/* One tier of GET /api/v1/tiers. */
static void
tier_json(struct sift_buf *out, const struct sift_tier_stats *t)
{
    sift_buf_appendf(out,
                     "\"%s\":{\"segments\":%" PRIu64 ",\"docs\":%" PRIu64
                     ",\"bytes\":%" PRIu64 ",",
                     t->name, t->segments, t->docs, t->bytes);
    if (t->has_range)
        sift_buf_appendf(
            out, "\"min_ts_ms\":%" PRId64 ",\"max_ts_ms\":%" PRId64 ",",
            t->min_ts_ns / SIFT_NS_PER_MS, t->max_ts_ns / SIFT_NS_PER_MS);
    else
        sift_buf_appendf(out, "\"min_ts_ms\":null,\"max_ts_ms\":null,");
    if (t->has_ratio) {
        sift_buf_append(out, "\"compression_ratio\":", 20);
        sift_buf_put_json_double(out, t->compression_ratio);
        sift_buf_putc(out, ',');
    } else {
        sift_buf_appendf(out, "\"compression_ratio\":null,");
    }
    sift_buf_appendf(out,
                     "\"deleted_docs\":%" PRIu64 ",\"path\":", t->deleted_docs);
    if (t->path)
        sift_buf_put_json_str(out, t->path, strlen(t->path));
    else
        sift_buf_appendf(out, "null");
    sift_buf_putc(out, '}');
}

/* The GET /api/v1/tiers reply (docs/lifecycle.md). */
static void
tiers_json(const struct sift_store_tiers *t, struct sift_buf *out)
{
    sift_buf_appendf(out, "{\"tiers\":{");
    for (unsigned i = 0; i < SIFT_STORE_TIERS; i++) {
        if (i)
            sift_buf_putc(out, ',');
        tier_json(out, &t->tier[i]);
    }
    sift_buf_appendf(out, "},");
    if (!t->running) {
        sift_buf_appendf(out, "\"running\":false}");
        return;
    }
    sift_buf_appendf(out, "\"merges\":{\"running\":");
    if (t->merging)
        sift_buf_appendf(out,
                         "{\"reason\":\"%s\",\"target\":\"%s\",\"inputs\":%zu}",
                         t->merge_reason, t->merge_target, t->merge_inputs);
    else
        sift_buf_appendf(out, "null");
    sift_buf_appendf(
        out,
        ",\"pending_commits\":%zu,\"pending_rewrites\":%zu,\"done\":%" PRIu64
        ",\"aborted\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"bytes_in\":%" PRIu64
        ",\"bytes_out\":%" PRIu64 ",\"docs\":%" PRIu64
        ",\"deleted_docs_dropped\":%" PRIu64 ",\"seconds\":",
        t->pending_commits, t->pending_rewrites, t->merges_done,
        t->merges_aborted, t->merges_failed, t->merge_bytes_in,
        t->merge_bytes_out, t->merge_docs, t->merge_deleted_docs_dropped);
    sift_buf_put_json_double(out, (double)t->merge_ns / 1e9);
    sift_buf_appendf(out, ",\"to_warm\":%" PRIu64 ",\"to_cold\":%" PRIu64 "},",
                     t->to_warm, t->to_cold);
    sift_buf_appendf(out, "\"retention\":{\"last_run_ms\":");
    if (t->last_retention_ns)
        sift_buf_appendf(out, "%" PRId64,
                         t->last_retention_ns / SIFT_NS_PER_MS);
    else
        sift_buf_appendf(out, "null");
    sift_buf_appendf(out,
                     ",\"last_run_deleted_segments\":%" PRIu64
                     ",\"deleted_segments\":%" PRIu64
                     ",\"deleted_bytes\":%" PRIu64
                     ",\"size_cap_deleted_segments\":%" PRIu64
                     ",\"size_cap_deleted_bytes\":%" PRIu64
                     ",\"expired_events\":%" PRIu64 "},",
                     t->last_run_deleted_segments, t->deleted_segments,
                     t->deleted_bytes, t->size_cap_deleted_segments,
                     t->size_cap_deleted_bytes, t->expired_events);
    sift_buf_appendf(out,
                     "\"deletes\":{\"done\":%" PRIu64 ",\"pending\":%zu,"
                     "\"events\":%" PRIu64 "},",
                     t->deletes_done, t->deletes_pending, t->deleted_events);
    sift_buf_appendf(out,
                     "\"now_ms\":%" PRId64 ",\"clock_offset_ms\":%" PRId64 "}",
                     sift_clock_now_ns() / SIFT_NS_PER_MS,
                     sift_clock_get_offset_ns() / SIFT_NS_PER_MS);
}

static void
handle_tiers(struct sift_http_req *req, void *arg)
{
    struct sift_lifecycle_api *api = arg;
    struct sift_buf body = SIFT_BUF_INIT;
    struct sift_store_tiers t;
    sift_store_tiers(api->store, &t);
    tiers_json(&t, &body);
    sift_http_reply_json(req, 200, &body);
    sift_buf_cleanup(&body);
}

/* ---- delete-by-query request ---- */

/* Every key the delete body may hold.  Anything else is a 400: a mistyped
 * time bound ("start" for "from") must never widen a delete. */
static const char *const delete_keys[] = {
    "query", "from", "to", "dry_run", "all_time", "match_all", "force_rewrite",
};
#define N_DELETE_KEYS (sizeof(delete_keys) / sizeof(delete_keys[0]))

/* Words people use for our keys (Elasticsearch, Loki, SQL habits). */
static const struct {
    const char *word, *key;
} delete_aliases[] = {
    {"q", "query"},
    {"search", "query"},
    {"filter", "query"},
    {"start", "from"},
    {"begin", "from"},
    {"since", "from"},
    {"after", "from"},
    {"gte", "from"},
    {"gt", "from"},
    {"start_time", "from"},
    {"from_time", "from"},
    {"end", "to"},
    {"until", "to"},
    {"before", "to"},
    {"stop", "to"},
    {"lt", "to"},
    {"lte", "to"},
    {"end_time", "to"},
    {"to_time", "to"},
    {"dryrun", "dry_run"},
    {"preview", "dry_run"},
    {"simulate", "dry_run"},
    {"force", "force_rewrite"},
    {"rewrite", "force_rewrite"},
};

SIFT_STATIC const char *
delete_key_suggest(const char *key)
{
    for (size_t i = 0; i < sizeof(delete_aliases) / sizeof(delete_aliases[0]);
         i++)
        if (strcasecmp(key, delete_aliases[i].word) == 0)
            return delete_aliases[i].key;
    return sift_name_closest(key, delete_keys, N_DELETE_KEYS);
}

SIFT_STATIC int
delete_req_parse(json_t *root, struct delete_req *out, const char **type,
                 char *why, size_t why_len)
{
    memset(out, 0, sizeof(*out));
    *type = "bad_request";
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        size_t k = 0;
        while (k < N_DELETE_KEYS && strcmp(key, delete_keys[k]) != 0)
            k++;
        if (k == N_DELETE_KEYS) {
            const char *near = delete_key_suggest(key);
            *type = "unknown_parameter";
            snprintf(why, why_len,
                     "unknown key \"%s\" in the delete request%s%s%s; "
                     "the keys are query, from, to, dry_run, all_time, "
                     "match_all, force_rewrite; nothing was deleted",
                     key, near ? " (did you mean \"" : "", near ? near : "",
                     near ? "\"?)" : "");
            return SIFT_EINVAL;
        }
        int is_bool = k >= 3;
        if (is_bool && !json_is_boolean(v)) {
            snprintf(why, why_len, "\"%s\" must be true or false", key);
            return SIFT_EINVAL;
        }
        if (k == 0 && !json_is_string(v)) {
            snprintf(why, why_len, "\"query\" must be a string");
            return SIFT_EINVAL;
        }
    }
    json_t *q = json_object_get(root, "query");
    if (!q) {
        snprintf(why, why_len,
                 "\"query\" (string) is required; \"*\" with "
                 "\"match_all\": true deletes a whole time range");
        return SIFT_EINVAL;
    }
    out->query = json_string_value(q);
    out->query_len = json_string_length(q);
    out->from = json_object_get(root, "from");
    out->to = json_object_get(root, "to");
    if (json_is_null(out->from))
        out->from = NULL;
    if (json_is_null(out->to))
        out->to = NULL;
    out->dry_run = json_is_true(json_object_get(root, "dry_run"));
    out->all_time = json_is_true(json_object_get(root, "all_time"));
    out->match_all = json_is_true(json_object_get(root, "match_all"));
    out->force_rewrite = json_is_true(json_object_get(root, "force_rewrite"));
    return SIFT_OK;
}

SIFT_STATIC unsigned
delete_needs(const struct delete_req *r, int matches_all)
{
    unsigned need = 0;
    if (!r->from && !r->to && !r->all_time)
        need |= NEED_ALL_TIME;
    if (matches_all && !r->match_all)
        need |= NEED_MATCH_ALL;
    return need;
}

static void
put_time_or_null(struct sift_buf *b, int64_t ns, int64_t open)
{
    if (ns == open) {
        sift_buf_append(b, "null", 4);
        return;
    }
    sift_buf_putc(b, '"');
    struct sift_buf t = SIFT_BUF_INIT;
    sift_time_format_rfc3339(ns, 9, &t);
    sift_buf_append(b, t.data, t.len);
    sift_buf_cleanup(&t);
    sift_buf_putc(b, '"');
}

/* The request as understood: the reply and the audit record say it. */
static void
put_request_json(struct sift_buf *b, const struct delete_req *r, int64_t from,
                 int64_t to)
{
    sift_buf_append(b, "\"query\":", 8);
    sift_buf_put_json_str(b, r->query, r->query_len);
    sift_buf_append(b, ",\"from\":", 8);
    put_time_or_null(b, from, INT64_MIN);
    sift_buf_append(b, ",\"to\":", 6);
    put_time_or_null(b, to, INT64_MAX);
}

static void
put_needs_json(struct sift_buf *b, unsigned need)
{
    sift_buf_append(b, ",\"confirm_needed\":[", 19);
    if (need & NEED_ALL_TIME)
        sift_buf_append(b, "\"all_time\"", 10);
    if (need & NEED_MATCH_ALL)
        sift_buf_append(
            b, need & NEED_ALL_TIME ? ",\"match_all\"" : "\"match_all\"",
            need & NEED_ALL_TIME ? 12 : 11);
    sift_buf_putc(b, ']');
}

struct del_ctx {
    struct sift_http_req *req;
    int64_t t0;
    int dry_run;
    unsigned need;         /* dry runs: confirmations a real run needs */
    struct sift_buf about; /* "query":…,"from":…,"to":… */
};

static void
on_deleted(void *arg, int rc, uint64_t matched)
{
    struct del_ctx *c = arg;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_append(&b, "{", 1);
    sift_buf_append(&b, c->about.data, c->about.len);
    sift_buf_appendf(&b, ",\"dry_run\":%s", c->dry_run ? "true" : "false");
    if (rc == SIFT_OK)
        sift_buf_appendf(&b, ",\"matched\":%llu", (unsigned long long)matched);
    sift_buf_putc(&b, '}');
    /* The audit record holds the request as understood and its outcome. */
    sift_http_req_set_audit_details(c->req, sift_buf_cstr(&b));
    sift_buf_reset(&b);
    if (rc < 0) {
        int st = rc == SIFT_ESHUTDOWN ? 503 : 500;
        if (c->dry_run)
            sift_http_reply_error(c->req, st,
                                  st == 503 ? "shutting_down" : "internal",
                                  "dry run failed: %s", sift_strerror(rc));
        else
            sift_http_reply_error(c->req, st,
                                  st == 503 ? "shutting_down" : "internal",
                                  "delete failed: %s (it is durable and will "
                                  "be applied on retry or restart)",
                                  sift_strerror(rc));
    } else {
        sift_buf_append(&b, "{", 1);
        sift_buf_append(&b, c->about.data, c->about.len);
        sift_buf_appendf(
            &b, ",\"dry_run\":%s,\"matched\":%llu,\"deleted\":%llu",
            c->dry_run ? "true" : "false", (unsigned long long)matched,
            (unsigned long long)(c->dry_run ? 0 : matched));
        if (c->dry_run)
            put_needs_json(&b, c->need);
        sift_buf_appendf(
            &b, ",\"took_ms\":%lld}\n",
            (long long)((sift_clock_mono_ns() - c->t0) / SIFT_NS_PER_MS));
        sift_http_reply_json(c->req, 200, &b);
    }
    sift_buf_cleanup(&b);
    sift_buf_cleanup(&c->about);
    sift_free(c);
}

static void
reply_needs(struct sift_http_req *req, unsigned need,
            const struct sift_buf *about)
{
    char why[512];
    snprintf(why, sizeof(why),
             "%s%s%s; nothing was deleted (\"dry_run\": "
             "true shows how many events would go)",
             need & NEED_ALL_TIME
                 ? "no time range: this would delete matching events of "
                   "all time; give \"from\"/\"to\", or add \"all_time\": "
                   "true to confirm"
                 : "",
             need == (NEED_ALL_TIME | NEED_MATCH_ALL) ? "; " : "",
             need & NEED_MATCH_ALL
                 ? "the query matches every event; add \"match_all\": "
                   "true to confirm deleting everything in the range"
                 : "");
    struct sift_buf b = SIFT_BUF_INIT;
    sift_http_error_json(&b, 400, "confirmation_required", why, -1);
    /* Also say what was understood, so the client sees the range. */
    if (b.len >= 3 && b.data[b.len - 1] == '\n')
        b.len--;
    if (b.len >= 2 && b.data[b.len - 1] == '}') {
        b.len--;
        sift_buf_putc(&b, ',');
        sift_buf_append(&b, about->data, about->len);
        put_needs_json(&b, need);
        sift_buf_append(&b, "}\n", 2);
    }
    struct sift_buf d = SIFT_BUF_INIT;
    sift_buf_putc(&d, '{');
    sift_buf_append(&d, about->data, about->len);
    put_needs_json(&d, need);
    sift_buf_putc(&d, '}');
    sift_http_req_set_audit_details(req, sift_buf_cstr(&d));
    sift_buf_cleanup(&d);
    sift_http_reply_json(req, 400, &b);
    sift_buf_cleanup(&b);
}

static void
handle_delete(struct sift_http_req *req, void *arg)
{
    struct sift_lifecycle_api *api = arg;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    struct sift_buf about = SIFT_BUF_INIT;
    if (!root || !json_is_object(root)) {
        sift_http_reply_error(req, 400, "bad_request",
                              "body must be a JSON object: %s",
                              root ? "not an object" : jerr.text);
        json_decref(root);
        return;
    }
    struct delete_req r;
    const char *etype;
    char why[512];
    if (delete_req_parse(root, &r, &etype, why, sizeof(why)) < 0) {
        sift_http_req_set_audit_details(req, why);
        sift_http_reply_error(req, 400, etype, "%s", why);
        goto out;
    }
    int64_t from, to;
    char ftext[64], ttext[64];
    struct sift_query_error terr;
    int64_t now = sift_clock_now_ns();
    if (sift__api_time_json("from", r.from, now, INT64_MIN, &from, ftext,
                            sizeof(ftext), &terr) < 0 ||
        sift__api_time_json("to", r.to, now, INT64_MAX, &to, ttext,
                            sizeof(ttext), &terr) < 0 ||
        sift_query_time_check("from", ftext, from, "to", ttext, to, &terr) <
            0) {
        sift_http_req_set_audit_details(req, terr.reason);
        sift_http_reply_error(req, terr.status, terr.type, "%s", terr.reason);
        goto out;
    }
    /* Validate the query with the search limits before anything reaches
     * the WAL: a malformed query gets the same precise 400 as a search. */
    struct sift_query_limits lim = {(size_t)api->cfg->max_query_bytes,
                                    (uint64_t)api->cfg->max_expansion};
    struct sift_query *parsed = NULL;
    struct sift_query_error qerr;
    if (sift_query_parse(r.query, r.query_len, &lim, &parsed, &qerr) < 0) {
        struct sift_buf b = SIFT_BUF_INIT;
        int status = qerr.status ? qerr.status : 400;
        sift_http_error_json(&b, status, qerr.type, qerr.reason, qerr.position);
        sift_http_reply_json(req, status, &b);
        sift_buf_cleanup(&b);
        goto out;
    }
    if (sift_query_warning_count(parsed) > 0 && !r.dry_run) {
        /* A delete runs only the query as written: what a search would
         * reinterpret (a lowercase "or", a boost) must be made explicit. */
        sift_http_reply_error(req, 400, "ambiguous_query",
                              "%s; write the query so that nothing needs "
                              "reinterpreting before deleting (a dry run "
                              "shows what it matches)",
                              sift_query_warning(parsed, 0));
        sift_query_free(parsed);
        goto out;
    }
    unsigned need = delete_needs(&r, sift_query_matches_all(parsed));
    sift_query_free(parsed);
    put_request_json(&about, &r, from, to);
    if (need && !r.dry_run) {
        reply_needs(req, need, &about);
        goto out;
    }
    if (!sift_fanout_is_local(api->fanout, req)) {
        /* In a cluster every node holds part of the events: the same
         * request goes to each (this one included); the reply names the
         * nodes that applied it. */
        const struct sift_cluster_query cq = {.kind = SIFT_CLUSTER_DELETE,
                                              .allow_partial = 0};
        sift_http_req_set_audit_details(req, "sent to every node of the "
                                             "cluster (each audits its own)");
        api->fanout->fanout(api->fanout->impl, req, &cq);
        goto out;
    }
    struct del_ctx *c = sift_xcalloc(1, sizeof(*c));
    c->req = req;
    c->t0 = sift_clock_mono_ns();
    c->dry_run = r.dry_run;
    c->need = need;
    c->about = about;
    sift_buf_init(&about);
    unsigned flags = (r.force_rewrite ? SIFT_DELETE_FORCE_REWRITE : 0u) |
                     (r.dry_run ? SIFT_DELETE_DRY_RUN : 0u);
    int rc = sift_store_delete(api->store, r.query, r.query_len, from, to,
                               flags, on_deleted, c);
    if (rc < 0) {
        sift_buf_cleanup(&c->about);
        sift_free(c);
        int status =
            rc == SIFT_EPARSE || rc == SIFT_EINVAL ? 400
            : rc == SIFT_EBUSY || rc == SIFT_ENOSPACE || rc == SIFT_ESHUTDOWN
                ? 503
                : 500;
        sift_http_reply_error(req, status,
                              status == 400 ? "bad_request" : "unavailable",
                              "delete refused: %s", sift_strerror(rc));
    }
out:
    sift_buf_cleanup(&about);
    json_decref(root);
}

static void
handle_clock(struct sift_http_req *req, void *arg)
{
    struct sift_lifecycle_api *api = arg;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *v = root ? json_object_get(root, "offset_ms") : NULL;
    json_t *fz = root ? json_object_get(root, "freeze_ms") : NULL;
    const json_int_t lim = INT64_MAX / SIFT_NS_PER_MS / 2;
    if ((!v && !fz) || (v && fz) || (v && !json_is_integer(v)) ||
        (fz && !json_is_integer(fz)) ||
        (v && (json_integer_value(v) > lim || json_integer_value(v) < -lim)) ||
        (fz && (json_integer_value(fz) <= 0 || json_integer_value(fz) > lim))) {
        sift_http_reply_error(req, 400, "bad_request",
                              "expected {\"offset_ms\": integer} or "
                              "{\"freeze_ms\": epoch ms}");
        json_decref(root);
        return;
    }
    if (fz) {
        /* Stop "now" at one instant (tests stepping anomaly windows). */
        int64_t at = (int64_t)json_integer_value(fz) * SIFT_NS_PER_MS;
        sift_clock_freeze_ns(at);
        SIFT_WARN("debug: clock frozen at %lld ms",
                  (long long)(at / SIFT_NS_PER_MS));
    } else {
        int64_t off = (int64_t)json_integer_value(v) * SIFT_NS_PER_MS;
        sift_clock_freeze_ns(0);
        sift_clock_set_offset_ns(off);
        SIFT_WARN("debug: clock offset set to %lld ms",
                  (long long)(off / SIFT_NS_PER_MS));
    }
    json_decref(root);
    sift_store_lifecycle_run(api->store);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"offset_ms\":%lld,\"frozen\":%s,\"now_ms\":%lld}\n",
                     (long long)(sift_clock_get_offset_ns() / SIFT_NS_PER_MS),
                     sift_clock_frozen_ns() ? "true" : "false",
                     (long long)(sift_clock_now_ns() / SIFT_NS_PER_MS));
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* POST /api/v1/debug/lifecycle: run the policy now (tests). */
static void
handle_run(struct sift_http_req *req, void *arg)
{
    struct sift_lifecycle_api *api = arg;
    sift_store_lifecycle_run(api->store);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"busy\":%s}\n",
                     sift_store_lifecycle_busy(api->store) ? "true" : "false");
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

int
sift_lifecycle_api_new(struct sift_http *http,
                       const struct sift_lifecycle_api_deps *deps,
                       struct sift_lifecycle_api **out)
{
    struct sift_lifecycle_api *api = sift_xcalloc(1, sizeof(*api));
    api->store = deps->store;
    api->cfg = deps->cfg;
    api->fanout = deps->fanout;
    sift_http_route(http, "GET", "/api/v1/tiers", 0, SIFT_ROLE_READER,
                    handle_tiers, api);
    sift_http_route(http, "POST", "/api/v1/delete", 0, SIFT_ROLE_ADMIN,
                    handle_delete, api);
    if (api->cfg && api->cfg->debug_endpoints) {
        SIFT_WARN("server.debug_endpoints is on: POST /api/v1/debug/clock "
                  "can shift this daemon's clock");
        sift_http_route(http, "POST", "/api/v1/debug/clock", 0, SIFT_ROLE_ADMIN,
                        handle_clock, api);
        sift_http_route(http, "POST", "/api/v1/debug/lifecycle", 0,
                        SIFT_ROLE_ADMIN, handle_run, api);
    }
    *out = api;
    return SIFT_OK;
}

void
sift_lifecycle_api_free(struct sift_lifecycle_api *api)
{
    sift_free(api);
}
