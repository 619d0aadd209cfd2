/*
 * otlp_api.c - POST /v1/logs, the OTLP/HTTP logs endpoint (OpenTelemetry
 * SDKs' and the Collector's otlphttp exporters).
 *
 * Design: the body (protobuf for application/x-protobuf, OTLP/JSON for
 * application/json; gzip inflated by the HTTP layer) is decoded by
 * sift_otlp_logs_parse() into one event per log record; the batch goes
 * through the same pipeline and durability contract as every source.
 * Replies follow the OTLP/HTTP specification, in the encoding of the
 * request: 200 with an ExportLogsServiceResponse after the WAL fsync
 * (empty, or with partial_success = the records not stored: over a limit
 * or refused by the time checks, all dead-lettered, and why); 400 with a
 * google.rpc.Status for a body that is not a valid request (nothing
 * stored); 503 with Retry-After and a Status when the store cannot take
 * the batch (the exporter retries).  Loop thread.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/parse.h"

#include "api/ingest_int.h"

#define CT_PROTOBUF "application/x-protobuf"
#define CT_JSON "application/json"

/* google.rpc.Code values used in Status replies. */
#define RPC_INVALID_ARGUMENT 3
#define RPC_RESOURCE_EXHAUSTED 8
#define RPC_UNAVAILABLE 14

static void
pb_varint(struct sift_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        sift_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    sift_buf_putc(b, (char)v);
}

static void
pb_string(struct sift_buf *b, unsigned num, const char *s, size_t len)
{
    pb_varint(b, (uint64_t)num << 3 | 2);
    pb_varint(b, len);
    sift_buf_append(b, s, len);
}

/* google.rpc.Status {code = 1, message = 2} in the request's encoding. */
static void
reply_status(struct sift_http_req *req, int json, int http_status, int code,
             const char *msg)
{
    struct sift_buf b = SIFT_BUF_INIT;
    if (json) {
        sift_buf_appendf(&b, "{\"code\":%d,\"message\":", code);
        sift_buf_put_json_str(&b, msg, strlen(msg));
        sift_buf_append(&b, "}\n", 2);
    } else {
        pb_varint(&b, 1 << 3 | 0);
        pb_varint(&b, (uint64_t)code);
        pb_string(&b, 2, msg, strlen(msg));
    }
    sift_http_reply(req, http_status, json ? CT_JSON : CT_PROTOBUF, b.data,
                    b.len);
    sift_buf_cleanup(&b);
}

/* Why records were not stored, for partial_success.error_message. */
static void
partial_message(const struct sift__ingest_req *r, size_t rejected,
                struct sift_buf *m)
{
    size_t total = r->n_evs + r->n_rejects;
    sift_buf_appendf(m, "%zu of %zu log records were not stored", rejected,
                     total);
    if (r->n_rejects) {
        sift_buf_appendf(m, "; %zu over a limit, e.g. record %zu: %s",
                         r->n_rejects, r->rejects[0].no, r->rejects[0].reason);
    }
    if (r->counts.expired)
        sift_buf_appendf(m, "; %zu older than tiers.retention",
                         r->counts.expired);
    if (r->counts.future_rejected)
        sift_buf_appendf(m, "; %zu stamped past ingest.max_future",
                         r->counts.future_rejected);
    sift_buf_appendf(m, " (all kept in siftd's dead-letter file)");
}

static void
reply_logs(struct sift__ingest_req *r, int rc)
{
    int json = *(const int *)r->proto;
    if (rc < 0) {
        int status, retry;
        const char *type = NULL;
        char reason[160];
        sift__ingest_refusal(rc, &status, &retry, &type, reason,
                             sizeof(reason));
        if (retry) {
            char ra[8];
            snprintf(ra, sizeof(ra), "%d", retry);
            sift_http_add_header(r->req, "Retry-After", ra);
        }
        reply_status(r->req, json, status,
                     rc == SIFT_EBUSY ? RPC_RESOURCE_EXHAUSTED
                                      : RPC_UNAVAILABLE,
                     reason);
        return;
    }
    size_t rejected = r->n_rejects + sift__ingest_refused_by_time(r);
    struct sift_buf b = SIFT_BUF_INIT, m = SIFT_BUF_INIT;
    if (rejected)
        partial_message(r, rejected, &m);
    if (json) {
        sift_buf_putc(&b, '{');
        if (rejected) {
            sift_buf_appendf(&b,
                             "\"partialSuccess\":{\"rejectedLogRecords\":"
                             "\"%zu\",\"errorMessage\":",
                             rejected);
            sift_buf_put_json_str(&b, m.data, m.len);
            sift_buf_putc(&b, '}');
        }
        sift_buf_append(&b, "}\n", 2);
    } else if (rejected) {
        /* ExportLogsServiceResponse { partial_success = 1 {
         *   rejected_log_records = 1, error_message = 2 } } */
        struct sift_buf p = SIFT_BUF_INIT;
        pb_varint(&p, 1 << 3 | 0);
        pb_varint(&p, rejected);
        pb_string(&p, 2, m.data, m.len);
        pb_string(&b, 1, p.data, p.len);
        sift_buf_cleanup(&p);
    }
    sift_http_reply(r->req, 200, json ? CT_JSON : CT_PROTOBUF, b.data, b.len);
    sift_buf_cleanup(&b);
    sift_buf_cleanup(&m);
}

/* 1 for OTLP/JSON, 0 for protobuf, -1 for anything else. */
static int
encoding_of(const char *ct)
{
    if (!ct)
        return -1;
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    if ((n == strlen(CT_PROTOBUF) && strncasecmp(ct, CT_PROTOBUF, n) == 0) ||
        (n == 20 && strncasecmp(ct, "application/protobuf", 20) == 0))
        return 0;
    if (n == strlen(CT_JSON) && strncasecmp(ct, CT_JSON, n) == 0)
        return 1;
    return -1;
}

static void
handle_logs(struct sift_http_req *req, void *arg)
{
    struct sift_ingest_api *api = arg;
    int json = encoding_of(sift_http_req_header(req, "Content-Type"));
    if (json < 0) {
        sift__ingest_count_bad(api, "otlp");
        sift_http_reply_error(req, 415, "unsupported_media_type",
                              "OTLP/HTTP logs are sent as " CT_PROTOBUF
                              " or " CT_JSON);
        return;
    }
    size_t len = 0;
    const char *body = sift_http_req_body(req, &len);
    struct sift_arena *a = sift_http_req_arena(req);
    struct sift__ingest_req *r = sift__ingest_req_new(api, req, "otlp");
    int *enc = sift_arena_alloc(a, sizeof(*enc));
    *enc = json;
    r->proto = enc;
    struct sift_parse_error err;
    int rc = sift_otlp_logs_parse(sift__ingest_opts(api, SIFT_PARSE_AUTO), json,
                                  body, len, sift_clock_now_ns(), a,
                                  sift__ingest_on_record, r, &err);
    if (rc == SIFT_EPARSE) {
        sift__ingest_count_bad(api, "otlp");
        reply_status(req, json, 400, RPC_INVALID_ARGUMENT, err.reason);
        return;
    }
    if (rc == SIFT_ENOMEM)
        r->failed_rc = rc;
    sift__ingest_submit(r, reply_logs);
}

void
sift__otlp_api_register(struct sift_http *http, struct sift_ingest_api *api)
{
    sift_http_route(http, "POST", "/v1/logs", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, handle_logs, api);
}
