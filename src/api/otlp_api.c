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

static void
reply_logs(struct sift__ingest_req *r, int rc)
{
    int json = *(const int *)r->proto;
    if (rc < 0) {
        const char *type = NULL;
        char reason[160];
        int status = sift__ingest_refusal_head(r->req, rc, &type, reason,
                                               sizeof(reason));
        reply_status(r->req, json, status,
                     rc == SIFT_EBUSY ? RPC_RESOURCE_EXHAUSTED
                                      : RPC_UNAVAILABLE,
                     reason);
        return;
    }
    size_t rejected = r->n_rejects + sift__ingest_refused_by_time(r);
    struct sift_buf b = SIFT_BUF_INIT, m = SIFT_BUF_INIT;
    if (rejected) {
        /* partial_success.error_message: how many and why */
        sift__ingest_not_stored(r, rejected, "record", "log records", &m);
        sift_buf_appendf(&m, " (all kept in siftd's dead-letter file)");
    }
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
    if (sift__ingest_media_is(ct, CT_PROTOBUF) ||
        sift__ingest_media_is(ct, "application/protobuf"))
        return 0;
    return sift__ingest_media_is(ct, CT_JSON) ? 1 : -1;
}

static void
reply_bad(struct sift__ingest_req *r, const char *reason)
{
    reply_status(r->req, *(const int *)r->proto, 400, RPC_INVALID_ARGUMENT,
                 reason);
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
    sift__ingest_parsed(r, rc, &err, reply_bad, reply_logs);
}

void
sift__otlp_api_register(struct sift_http *http, struct sift_ingest_api *api)
{
    sift_http_route(http, "POST", "/v1/logs", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, handle_logs, api);
}
