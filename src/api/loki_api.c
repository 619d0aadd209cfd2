/*
 * loki_api.c - POST /loki/api/v1/push, the Loki push API (Promtail,
 * Grafana Alloy and Fluent Bit's loki output, Loki client libraries).
 *
 * Design: Content-Type application/json is the JSON push body (gzip
 * inflated by the HTTP layer when Content-Encoding says so); anything
 * else is what Loki takes by default, a snappy block-compressed
 * logproto.PushRequest, decompressed here into the request arena after
 * its announced length was checked against http.max_body_bytes (413
 * past it).  sift_loki_push_parse() makes the events; the batch takes
 * the pipeline like every source and is answered after the WAL fsync.
 * Answers follow Loki: 204 (no body) when every entry was stored; 400
 * with a plain-text reason when the body is not a push request (nothing
 * stored) or when some entries were not stored (over a limit, past the
 * retention or the future bound: the others are stored, the rest are in
 * the dead-letter file; clients do not retry a 400); 503 with
 * Retry-After when the store cannot take the batch (clients retry).
 * Loop thread.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <snappy-c.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/parse.h"

#include "api/ingest_int.h"

static void
reply_text(struct sift_http_req *req, int status, const char *msg)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "%s\n", msg);
    sift_http_reply(req, status, "text/plain; charset=utf-8", b.data, b.len);
    sift_buf_cleanup(&b);
}

static void
reply_push(struct sift__ingest_req *r, int rc)
{
    if (rc < 0) {
        const char *type = NULL;
        char reason[160];
        int status = sift__ingest_refusal_head(r->req, rc, &type, reason,
                                               sizeof(reason));
        reply_text(r->req, status, reason);
        return;
    }
    size_t refused = r->n_rejects + sift__ingest_refused_by_time(r);
    if (refused == 0) {
        sift_http_reply(r->req, 204, NULL, NULL, 0);
        return;
    }
    struct sift_buf m = SIFT_BUF_INIT;
    sift__ingest_not_stored(r, refused, "entry", "entries", &m);
    sift_buf_appendf(&m, " (all kept in siftd's dead-letter file; the "
                         "other entries are stored)");
    reply_text(r->req, 400, sift_buf_cstr(&m));
    sift_buf_cleanup(&m);
}

static void
reply_bad(struct sift__ingest_req *r, const char *reason)
{
    reply_text(r->req, 400, reason);
}

static void
handle_push(struct sift_http_req *req, void *arg)
{
    struct sift_ingest_api *api = arg;
    int json = sift__ingest_media_is(sift_http_req_header(req, "Content-Type"),
                                     "application/json");
    size_t len = 0;
    const char *body = sift_http_req_body(req, &len);
    struct sift_arena *a = sift_http_req_arena(req);
    if (!json && len > 0) {
        size_t out_len = 0;
        if (snappy_uncompressed_length(body, len, &out_len) != SNAPPY_OK) {
            sift__ingest_count_bad(api, "loki");
            reply_text(req, 400,
                       "the body is not snappy-compressed protobuf "
                       "(send Content-Type: application/json for "
                       "JSON)");
            return;
        }
        if ((int64_t)out_len > api->cfg->max_body_bytes) {
            sift__ingest_count_bad(api, "loki");
            sift_http_reply_error(req, 413, "body_too_large",
                                  "the push request inflates to %zu bytes, "
                                  "more than http.max_body_bytes (%lld)",
                                  out_len, (long long)api->cfg->max_body_bytes);
            return;
        }
        char *out = sift_arena_try_alloc(a, out_len ? out_len : 1);
        if (!out) {
            sift__ingest_reply_refused(req, SIFT_ENOMEM);
            return;
        }
        if (snappy_uncompress(body, len, out, &out_len) != SNAPPY_OK) {
            sift__ingest_count_bad(api, "loki");
            reply_text(req, 400, "the snappy-compressed body is damaged");
            return;
        }
        body = out;
        len = out_len;
    }
    struct sift__ingest_req *r = sift__ingest_req_new(api, req, "loki");
    struct sift_parse_error err;
    int rc = sift_loki_push_parse(sift__ingest_opts(api, SIFT_PARSE_AUTO), json,
                                  body, len, sift_clock_now_ns(), a,
                                  sift__ingest_on_record, r, &err);
    sift__ingest_parsed(r, rc, &err, reply_bad, reply_push);
}

void
sift__loki_api_register(struct sift_http *http, struct sift_ingest_api *api)
{
    sift_http_route(http, "POST", "/loki/api/v1/push", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, handle_push, api);
}
