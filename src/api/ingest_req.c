/*
 * ingest_req.c - what every HTTP ingest protocol shares (ingest_int.h):
 * the state of one request in flight (its events, its rejects noted
 * aside until the body as a whole is accepted), the submit that answers
 * after the WAL fsync, the JSON refusal for a batch the store cannot
 * take, per-source request counters (rendered for /metrics), and one
 * Elasticsearch document (/<index>/_doc).
 *
 * The protocols: ingest_api.c (NDJSON, _bulk), otlp_api.c (OTLP/HTTP
 * logs), loki_api.c (the Loki push API), journal_api.c (journald's
 * upload), es_api.c (the probes of Elasticsearch shippers and the
 * /<index>/... paths).
 *
 * Counters per source: requests by outcome (ok after the fsync, refused
 * by the store, bad body), requests waiting for their fsync, and the time
 * from arrival to the acknowledgement (how far behind a push source's
 * acknowledgements run: its lag).  Loop thread.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sift/admit.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/ingest_api.h"
#include "sift/metrics.h"
#include "sift/parse.h"
#include "sift/pipeline.h"

#include "api/ingest_int.h"

static struct sift__push_stats *
push_stats(struct sift_ingest_api *api, const char *source)
{
    for (size_t i = 0; i < api->n_push; i++) {
        if (strcmp(api->push[i].name, source) == 0)
            return &api->push[i];
    }
    /* The set of sources is fixed (string literals); the last slot takes
     * a program error rather than failing a request. */
    size_t i = api->n_push < SIFT__INGEST_MAX_SOURCES
                   ? api->n_push++
                   : SIFT__INGEST_MAX_SOURCES - 1;
    if (!api->push[i].name) {
        api->push[i].name = source;
        sift_histogram_init_latency(&api->push[i].ack);
    }
    return &api->push[i];
}

struct sift__ingest_req *
sift__ingest_req_new(struct sift_ingest_api *api, struct sift_http_req *req,
                     const char *source)
{
    struct sift_arena *a = sift_http_req_arena(req);
    struct sift__ingest_req *r = sift_arena_alloc(a, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->api = api;
    r->req = req;
    r->source = source;
    r->t0_ns = sift_clock_mono_ns();
    return r;
}

int
sift__ingest_push(struct sift__ingest_req *r, const struct sift_event *ev)
{
    if (r->n_evs == r->cap_evs) {
        size_t cap = r->cap_evs ? r->cap_evs * 2 : 256;
        struct sift_event *n =
            sift_arena_try_alloc(sift_http_req_arena(r->req), cap * sizeof(*n));
        if (!n)
            return SIFT_ENOMEM;
        if (r->n_evs)
            memcpy(n, r->evs, r->n_evs * sizeof(*n));
        r->evs = n;
        r->cap_evs = cap;
    }
    r->evs[r->n_evs++] = *ev;
    return SIFT_OK;
}

void
sift__ingest_reject(struct sift__ingest_req *r, size_t no, const char *raw,
                    size_t len, const char *reason)
{
    struct sift_arena *a = sift_http_req_arena(r->req);
    if (r->n_rejects == r->cap_rejects) {
        size_t cap = r->cap_rejects ? r->cap_rejects * 2 : 16;
        struct sift__ingest_reject *n =
            sift_arena_try_alloc(a, cap * sizeof(*n));
        if (!n) {
            r->failed_rc = SIFT_ENOMEM;
            return;
        }
        if (r->n_rejects)
            memcpy(n, r->rejects, r->n_rejects * sizeof(*n));
        r->rejects = n;
        r->cap_rejects = cap;
    }
    struct sift__ingest_reject *j = &r->rejects[r->n_rejects++];
    j->raw = raw;
    j->len = len;
    j->no = no;
    j->reason = sift_arena_strndup(a, reason, strlen(reason));
    if (!j->reason)
        j->reason = "?";
}

int
sift__ingest_on_record(void *arg, int rc, struct sift_event *ev,
                       const struct sift_parse_error *err)
{
    struct sift__ingest_req *r = arg;
    if (rc == SIFT_OK) {
        if (sift__ingest_push(r, ev) < 0) {
            r->failed_rc = SIFT_ENOMEM;
            return 1; /* stop: the body is too large for memory */
        }
        return 0;
    }
    if (rc == SIFT_ENOMEM) {
        r->failed_rc = rc;
        return 1;
    }
    sift__ingest_reject(r, err->line_no, err->line, err->line_len, err->reason);
    return r->failed_rc < 0;
}

size_t
sift__ingest_refused_by_time(const struct sift__ingest_req *r)
{
    return r->counts.expired + r->counts.future_rejected;
}

const struct sift_parse_opts *
sift__ingest_opts(const struct sift_ingest_api *api,
                  enum sift_parse_format format)
{
    return &api->opts[format];
}

int
sift__ingest_position(const struct sift_ingest_api *api, const char *key,
                      struct sift_srcpos *out)
{
    if (!api->position)
        return SIFT_ENOTFOUND;
    return api->position(api->position_arg, key, out);
}

void
sift__ingest_refusal(int rc, int *status, int *retry_after, const char **type,
                     char *reason, size_t len)
{
    *status = 503;
    *retry_after = 0;
    if (rc == SIFT_EBUSY) {
        *retry_after = 1;
        *type = "ingest_backpressure";
        snprintf(reason, len, "the ingest buffer is full; retry later");
    } else if (rc == SIFT_ENOSPACE) {
        *retry_after = 5;
        *type = "disk_full";
        snprintf(reason, len,
                 "no space left for the write-ahead log; "
                 "nothing from this request was stored");
    } else if (rc == SIFT_ENOMEM) {
        *type = "out_of_memory";
        snprintf(reason, len, "not enough memory for this request");
    } else {
        *type = "store_error";
        snprintf(reason, len, "the batch was not stored: %s",
                 sift_strerror(rc));
    }
}

int
sift__ingest_refusal_head(struct sift_http_req *req, int rc, const char **type,
                          char *reason, size_t len)
{
    int status, retry;
    sift__ingest_refusal(rc, &status, &retry, type, reason, len);
    if (retry) {
        char ra[8];
        snprintf(ra, sizeof(ra), "%d", retry);
        sift_http_add_header(req, "Retry-After", ra);
    }
    return status;
}

void
sift__ingest_reply_refused(struct sift_http_req *req, int rc)
{
    const char *type = NULL;
    char reason[160];
    int status =
        sift__ingest_refusal_head(req, rc, &type, reason, sizeof(reason));
    sift_http_reply_error(req, status, type, "%s", reason);
}

void
sift__ingest_not_stored(const struct sift__ingest_req *r, size_t refused,
                        const char *one, const char *many, struct sift_buf *m)
{
    sift_buf_appendf(m, "%zu of %zu %s were not stored", refused,
                     r->n_evs + r->n_rejects, many);
    if (r->n_rejects)
        sift_buf_appendf(m, "; %zu over a limit, e.g. %s %zu: %s", r->n_rejects,
                         one, r->rejects[0].no, r->rejects[0].reason);
    if (r->counts.expired)
        sift_buf_appendf(m, "; %zu older than tiers.retention",
                         r->counts.expired);
    if (r->counts.future_rejected)
        sift_buf_appendf(m, "; %zu stamped past ingest.max_future",
                         r->counts.future_rejected);
}

int
sift__ingest_media_is(const char *ct, const char *want)
{
    if (!ct)
        return 0;
    size_t n = strcspn(ct, ";"), wl = strlen(want);
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    return n == wl && strncasecmp(ct, want, n) == 0;
}

void
sift__ingest_parsed(struct sift__ingest_req *r, int rc,
                    const struct sift_parse_error *err, sift__ingest_bad_cb bad,
                    sift__ingest_reply_cb reply)
{
    if (rc == SIFT_EPARSE) {
        sift__ingest_count_bad(r->api, r->source);
        bad(r, err->reason);
        return;
    }
    if (rc == SIFT_ENOMEM)
        r->failed_rc = rc;
    sift__ingest_submit(r, reply);
}

void
sift__ingest_stats_start(struct sift_ingest_api *api, const char *source)
{
    push_stats(api, source)->inflight++;
}

void
sift__ingest_stats_done(struct sift_ingest_api *api, const char *source,
                        int64_t t0_ns, int rc)
{
    struct sift__push_stats *ps = push_stats(api, source);
    if (ps->inflight)
        ps->inflight--;
    if (rc < 0) {
        ps->refused++;
    } else {
        ps->ok++;
        sift_histogram_observe(&ps->ack,
                               (double)(sift_clock_mono_ns() - t0_ns) / 1e9);
    }
}

/* Runs the protocol's reply once and counts it. */
static void
finish(struct sift__ingest_req *r, int rc)
{
    sift__ingest_stats_done(r->api, r->source, r->t0_ns, rc);
    r->reply(r, rc);
}

static void
on_durable(void *arg, int rc)
{
    finish(arg, rc);
}

void
sift__ingest_submit(struct sift__ingest_req *r, sift__ingest_reply_cb reply)
{
    r->reply = reply;
    sift__ingest_stats_start(r->api, r->source);
    if (r->failed_rc < 0) {
        finish(r, r->failed_rc);
        return;
    }
    for (size_t i = 0; i < r->n_rejects; i++) {
        const struct sift__ingest_reject *j = &r->rejects[i];
        sift_pipeline_reject(r->api->pipe, r->source, NULL, j->raw, j->len,
                             j->reason);
    }
    if (r->n_evs == 0 && r->n_pos == 0) {
        /* Nothing for the WAL: make the dead letters durable, answer. */
        sift_pipeline_sync_rejects(r->api->pipe);
        finish(r, SIFT_OK);
        return;
    }
    r->counts.admit = sift_arena_try_alloc(sift_http_req_arena(r->req),
                                           r->n_evs ? r->n_evs : 1);
    /* The pipeline compacts r->evs; r->n_evs stays the count submitted. */
    int rc = sift_pipeline_submit_counted(
        r->api->pipe, r->source, r->evs, r->n_evs, r->pos, r->n_pos,
        sift_http_req_arena(r->req), on_durable, r, &r->counts);
    if (rc < 0)
        finish(r, rc);
}

/* Counts a request refused before submit (malformed body, 4xx). */
void
sift__ingest_count_bad(struct sift_ingest_api *api, const char *source)
{
    push_stats(api, source)->bad++;
}

void
sift_ingest_api_set_position(struct sift_ingest_api *api,
                             sift_ingest_position_cb cb, void *arg)
{
    api->position = cb;
    api->position_arg = arg;
}

void
sift_ingest_api_metrics_collect(struct sift_buf *out, void *arg)
{
    struct sift_ingest_api *api = arg;
    sift_metrics_family(out, "sift_ingest_requests_total", SIFT_METRIC_COUNTER,
                        "HTTP ingest requests per source and outcome (ok: "
                        "answered after the WAL fsync; refused: the store "
                        "refused the batch, 503; bad: the body was refused, "
                        "4xx).");
    for (size_t i = 0; i < api->n_push; i++) {
        const struct sift__push_stats *p = &api->push[i];
        const struct {
            const char *outcome;
            uint64_t v;
        } rows[] = {{"ok", p->ok}, {"refused", p->refused}, {"bad", p->bad}};
        for (size_t k = 0; k < 3; k++) {
            const char *l[] = {"source", p->name, "outcome", rows[k].outcome,
                               NULL};
            sift_metrics_sample(out, "sift_ingest_requests_total", l,
                                (double)rows[k].v);
        }
    }
    sift_metrics_family(out, "sift_ingest_inflight_requests", SIFT_METRIC_GAUGE,
                        "HTTP ingest requests waiting for their WAL fsync.");
    for (size_t i = 0; i < api->n_push; i++) {
        const char *l[] = {"source", api->push[i].name, NULL};
        sift_metrics_sample(out, "sift_ingest_inflight_requests", l,
                            (double)api->push[i].inflight);
    }
    sift_metrics_family(out, "sift_ingest_ack_seconds", SIFT_METRIC_HISTOGRAM,
                        "Time from an HTTP ingest request's arrival to its "
                        "acknowledgement (after the WAL fsync): how far "
                        "behind a push source's acknowledgements are.");
    for (size_t i = 0; i < api->n_push; i++) {
        const char *l[] = {"source", api->push[i].name, NULL};
        sift_histogram_render(&api->push[i].ack, out, "sift_ingest_ack_seconds",
                              l);
    }
}
