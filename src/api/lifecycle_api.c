/*
 * lifecycle_api.c - HTTP endpoints of the lifecycle (include/sift/lifecycle.h):
 *
 *   GET  /api/v1/tiers         per tier segments, docs, bytes, time range,
 *                              compression ratio; merges; retention
 *   POST /api/v1/delete        {"query":"...","from":...,"to":...,
 *                              "force_rewrite":bool} -> {"matched":N,...}
 *   POST /api/v1/debug/clock   {"offset_ms":N} (only with
 *                              server.debug_endpoints = true)
 *
 * from/to accept epoch milliseconds (number or string), "now", "now-N<u>"
 * (u = s, m, h, d, w), and RFC 3339 "YYYY-MM-DDTHH:MM:SS[.fff]Z".  A
 * delete replies after the request is durable and applied; the client
 * that disconnects meanwhile does not cancel it.
 *
 * Context: loop thread.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/params.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/lifecycle.h"
#include "sift/log.h"
#include "sift/query.h"
#include "sift/store.h"

struct lc_api {
    struct sift_store *store;
    const struct sift_config *cfg;
};

static struct lc_api g_api; /* one server per process */

static void
handle_tiers(struct sift_http_req *req, void *arg)
{
    struct lc_api *api = arg;
    struct sift_buf body = SIFT_BUF_INIT;
    sift_store_tiers_json(api->store, &body);
    sift_http_reply_json(req, 200, &body);
    sift_buf_cleanup(&body);
}

struct del_ctx {
    struct sift_http_req *req;
    int64_t t0;
};

static void
on_deleted(void *arg, int rc, uint64_t matched)
{
    struct del_ctx *c = arg;
    if (rc < 0) {
        sift_http_reply_error(c->req, rc == SIFT_ESHUTDOWN ? 503 : 500,
                              rc == SIFT_ESHUTDOWN ? "shutting_down"
                                                   : "internal",
                              "delete failed: %s (it is durable and will be "
                              "applied on retry or restart)",
                              sift_strerror(rc));
    } else {
        struct sift_buf b = SIFT_BUF_INIT;
        sift_buf_appendf(
            &b, "{\"matched\":%llu,\"deleted\":%llu,\"took_ms\":%lld}\n",
            (unsigned long long)matched, (unsigned long long)matched,
            (long long)((sift_clock_mono_ns() - c->t0) / SIFT_NS_PER_MS));
        sift_http_reply_json(c->req, 200, &b);
        sift_buf_cleanup(&b);
    }
    sift_free(c);
}

static void
handle_delete(struct sift_http_req *req, void *arg)
{
    struct lc_api *api = arg;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        sift_http_reply_error(req, 400, "bad_request",
                              "body must be a JSON object: %s",
                              root ? "not an object" : jerr.text);
        json_decref(root);
        return;
    }
    json_t *q = json_object_get(root, "query");
    int64_t from, to;
    if (!q || !json_is_string(q)) {
        sift_http_reply_error(req, 400, "bad_request",
                              "\"query\" (string) is required; use \"\" with "
                              "from/to to delete a whole time range");
        goto out;
    }
    char ftext[64], ttext[64];
    struct sift_query_error terr;
    int64_t now = sift_clock_now_ns();
    if (sift__api_time_json("from", json_object_get(root, "from"), now,
                            INT64_MIN, &from, ftext, sizeof(ftext),
                            &terr) < 0 ||
        sift__api_time_json("to", json_object_get(root, "to"), now, INT64_MAX,
                            &to, ttext, sizeof(ttext), &terr) < 0 ||
        sift_query_time_check("from", ftext, from, "to", ttext, to, &terr) <
            0) {
        sift_http_reply_error(req, terr.status, terr.type, "%s", terr.reason);
        goto out;
    }
    if (json_string_length(q) == 0 && from == INT64_MIN && to == INT64_MAX) {
        sift_http_reply_error(req, 400, "bad_request",
                              "refusing to delete everything: give a query "
                              "or a time range");
        goto out;
    }
    /* Validate the query with the search limits before anything reaches
     * the WAL: a malformed query gets the same precise 400 as a search. */
    struct sift_query_limits lim = {(size_t)api->cfg->max_query_bytes,
                                    (uint64_t)api->cfg->max_expansion};
    struct sift_query *parsed = NULL;
    struct sift_query_error qerr;
    if (sift_query_parse(json_string_value(q), json_string_length(q), &lim,
                         &parsed, &qerr) < 0) {
        struct sift_buf b = SIFT_BUF_INIT;
        int status = qerr.status ? qerr.status : 400;
        sift_http_error_json(&b, status, qerr.type, qerr.reason, qerr.position);
        sift_http_reply_json(req, status, &b);
        sift_buf_cleanup(&b);
        goto out;
    }
    sift_query_free(parsed);
    int force = json_is_true(json_object_get(root, "force_rewrite"));
    struct del_ctx *c = sift_xcalloc(1, sizeof(*c));
    c->req = req;
    c->t0 = sift_clock_mono_ns();
    int rc = sift_store_delete(api->store, json_string_value(q),
                               json_string_length(q), from, to, force,
                               on_deleted, c);
    if (rc < 0) {
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
    json_decref(root);
}

static void
handle_clock(struct sift_http_req *req, void *arg)
{
    struct lc_api *api = arg;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    json_t *root = json_loadb(body, len, 0, NULL);
    json_t *v = root ? json_object_get(root, "offset_ms") : NULL;
    if (!v || !json_is_integer(v) ||
        json_integer_value(v) > INT64_MAX / SIFT_NS_PER_MS / 2 ||
        json_integer_value(v) < INT64_MIN / SIFT_NS_PER_MS / 2) {
        sift_http_reply_error(req, 400, "bad_request",
                              "expected {\"offset_ms\": integer}");
        json_decref(root);
        return;
    }
    int64_t off = (int64_t)json_integer_value(v) * SIFT_NS_PER_MS;
    json_decref(root);
    sift_clock_set_offset_ns(off);
    SIFT_WARN("debug: clock offset set to %lld ms",
              (long long)(off / SIFT_NS_PER_MS));
    sift_store_lifecycle_run(api->store);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"offset_ms\":%lld,\"now_ms\":%lld}\n",
                     (long long)(off / SIFT_NS_PER_MS),
                     (long long)(sift_clock_now_ns() / SIFT_NS_PER_MS));
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* POST /api/v1/debug/lifecycle: run the policy now (tests). */
static void
handle_run(struct sift_http_req *req, void *arg)
{
    struct lc_api *api = arg;
    sift_store_lifecycle_run(api->store);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"busy\":%s}\n",
                     sift_store_lifecycle_busy(api->store) ? "true" : "false");
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

void
sift_lifecycle_api_register(struct sift_http *http, struct sift_store *store,
                            const struct sift_config *cfg)
{
    g_api.store = store;
    g_api.cfg = cfg;
    sift_http_route(http, "GET", "/api/v1/tiers", 0, SIFT_ROLE_READER,
                    handle_tiers, &g_api);
    sift_http_route(http, "POST", "/api/v1/delete", 0, SIFT_ROLE_ADMIN,
                    handle_delete, &g_api);
    if (cfg && cfg->debug_endpoints) {
        SIFT_WARN("server.debug_endpoints is on: POST /api/v1/debug/clock "
                  "can shift this daemon's clock");
        sift_http_route(http, "POST", "/api/v1/debug/clock", 0, SIFT_ROLE_ADMIN,
                        handle_clock, &g_api);
        sift_http_route(http, "POST", "/api/v1/debug/lifecycle", 0,
                        SIFT_ROLE_ADMIN, handle_run, &g_api);
    }
}
