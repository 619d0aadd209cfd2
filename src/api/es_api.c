/*
 * es_api.c - what Elasticsearch outputs (Filebeat, Logstash, Vector,
 * Fluent Bit, rsyslog's omelasticsearch) ask before and while they send:
 * the root, the license and feature probes, cluster health, nodes,
 * index template / ILM / data stream checks, and the index paths
 * (/<index>/_bulk, /<index>/_doc, the legacy /<index>/<type>).
 *
 * Design: answers are what an Elasticsearch 8 node gives, so shippers
 * proceed with their default settings, and never claim what sift does
 * not do:
 *   - GET / is root_api.c (version SIFT_ES_COMPAT_VERSION, 8.17.0:
 *     Filebeat 8 and 9, whose allow_older_versions is on by default,
 *     Logstash 8 and 9, Vector's api_version auto and Fluent Bit accept
 *     it); everything else they probe is here.
 *   - /_license, /_xpack: a basic license, active; ILM "available".
 *   - /_cluster/health, /_cat/health: green while siftd is ready, yellow
 *     when it is degraded (e.g. disk full), red while starting.
 *   - Templates, ILM policies, data streams, aliases, indices: GET/HEAD
 *     answer 404 (sift keeps none), PUT/POST answer "acknowledged" and
 *     change nothing: sift indexes every field without a mapping, keeps
 *     data by its own tiers and retention, and needs no index created
 *     before it is written to.  docs/ingest.md says so.
 *   - /<index>/_bulk is _bulk with that default index; every stored event
 *     keeps its index name in the keyword field _index.
 * Every reply carries X-Elastic-Product: Elasticsearch (Elastic's clients
 * since 7.14 refuse a server without it).
 *
 * Roles: the read-only probes are open (they reveal no data, and a
 * writer token, which cannot read, must pass them); PUT/POST need a
 * writer token like any ingest.  Loop thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/root_api.h"

#include "api/ingest_int.h"
#include "api/params.h"

#define ES_CLUSTER "sift"
#define ES_PRODUCT "Elasticsearch"

/* First path segments that are siftd's own, never an index. */
static const char *const reserved[] = {"api",     "ui",      "grafana",
                                       "metrics", "healthz", "readyz",
                                       "loki",    "v1",      "upload"};

static void
reply_es(struct sift_http_req *req, int status, struct sift_buf *b)
{
    sift_http_add_header(req, "X-Elastic-Product", ES_PRODUCT);
    sift_http_reply_json(req, status, b);
}

static void
reply_body(struct sift_http_req *req, int status, const char *json)
{
    sift_http_add_header(req, "X-Elastic-Product", ES_PRODUCT);
    sift_http_reply(req, status, "application/json", json, strlen(json));
}

static const char *
node_name(char *buf, size_t len)
{
    if (gethostname(buf, len) != 0 || !buf[0])
        snprintf(buf, len, "siftd");
    buf[len - 1] = '\0';
    return buf;
}

static void
on_license(struct sift_http_req *req, void *arg)
{
    (void)arg;
    reply_body(req, 200,
               "{\"license\":{\"status\":\"active\",\"uid\":\"sift\","
               "\"type\":\"basic\",\"issue_date\":\"2024-01-01T00:00:00.000Z\","
               "\"issue_date_in_millis\":1704067200000,\"max_nodes\":1000,"
               "\"max_resource_units\":null,\"issued_to\":\"" ES_CLUSTER
               "\",\"issuer\":\"elasticsearch\","
               "\"start_date_in_millis\":-1}}\n");
}

static void
on_xpack(struct sift_http_req *req, void *arg)
{
    (void)arg;
    reply_body(req, 200,
               "{\"build\":{\"hash\":\"sift-" SIFT_VERSION "\","
               "\"date\":\"2024-12-11T00:00:00.000Z\"},"
               "\"license\":{\"uid\":\"sift\",\"type\":\"basic\","
               "\"mode\":\"basic\",\"status\":\"active\"},"
               "\"features\":{\"ilm\":{\"available\":true,\"enabled\":true},"
               "\"security\":{\"available\":true,\"enabled\":false},"
               "\"monitoring\":{\"available\":true,\"enabled\":false}},"
               "\"tagline\":\"You know, for X\"}\n");
}

/* green / yellow / red from siftd's readiness (http: the route's arg). */
static const char *
health_status(const struct sift_http *http)
{
    int ready = http ? sift_http_get_ready(http) : 1;
    return ready == 1 ? "green" : ready == 2 ? "yellow" : "red";
}

static void
on_cluster_health(struct sift_http_req *req, void *arg)
{
    struct sift_buf b = SIFT_BUF_INIT;
    const char *st = health_status(arg);
    sift_buf_appendf(
        &b,
        "{\"cluster_name\":\"" ES_CLUSTER "\",\"status\":\"%s\","
        "\"timed_out\":false,\"number_of_nodes\":1,"
        "\"number_of_data_nodes\":1,\"active_primary_shards\":1,"
        "\"active_shards\":1,\"relocating_shards\":0,"
        "\"initializing_shards\":0,\"unassigned_shards\":0,"
        "\"delayed_unassigned_shards\":0,\"number_of_pending_tasks\":0,"
        "\"number_of_in_flight_fetch\":0,"
        "\"task_max_waiting_in_queue_millis\":0,"
        "\"active_shards_percent_as_number\":100.0}\n",
        st);
    /* Elasticsearch answers 408 when wait_for_status was not reached;
     * here: red (starting, stopping) for any wait. */
    int status = 200;
    const char *want = sift_http_req_param(req, "wait_for_status");
    if (want && strcmp(st, "red") == 0)
        status = 408;
    reply_es(req, status, &b);
    sift_buf_cleanup(&b);
}

static void
on_cat_health(struct sift_http_req *req, void *arg)
{
    int64_t now = sift_clock_now_ns() / SIFT_NS_PER_SEC;
    const char *fmt = sift_http_req_param(req, "format");
    const char *st = health_status(arg);
    struct sift_buf b = SIFT_BUF_INIT;
    long long hh = now / 3600 % 24, mm = now / 60 % 60, ss = now % 60;
    if (fmt && strcmp(fmt, "json") == 0) {
        sift_buf_appendf(&b,
                         "[{\"epoch\":\"%lld\",\"timestamp\":\"%02lld:%02lld:"
                         "%02lld\",\"cluster\":\"" ES_CLUSTER "\","
                         "\"status\":\"%s\",\"node.total\":\"1\","
                         "\"node.data\":\"1\",\"shards\":\"1\",\"pri\":\"1\","
                         "\"relo\":\"0\",\"init\":\"0\",\"unassign\":\"0\","
                         "\"pending_tasks\":\"0\",\"max_task_wait_time\":"
                         "\"-\",\"active_shards_percent\":\"100.0%%\"}]\n",
                         (long long)now, hh, mm, ss, st);
        reply_es(req, 200, &b);
    } else {
        sift_buf_appendf(&b,
                         "%lld %02lld:%02lld:%02lld " ES_CLUSTER
                         " %s 1 1 1 1 0 0 0 0 - 100.0%%\n",
                         (long long)now, hh, mm, ss, st);
        sift_http_add_header(req, "X-Elastic-Product", ES_PRODUCT);
        sift_http_reply(req, 200, "text/plain; charset=UTF-8", b.data, b.len);
    }
    sift_buf_cleanup(&b);
}

static void
on_nodes(struct sift_http_req *req, void *arg)
{
    (void)arg;
    char host[128];
    const char *h = sift_http_req_header(req, "Host");
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"_nodes\":{\"total\":1,\"successful\":1,"
                         "\"failed\":0},\"cluster_name\":\"" ES_CLUSTER "\","
                         "\"nodes\":{\"sift\":{\"name\":");
    node_name(host, sizeof(host));
    sift_buf_put_json_str(&b, host, strlen(host));
    sift_buf_appendf(&b, ",\"version\":\"" SIFT_ES_COMPAT_VERSION "\","
                         "\"roles\":[\"data\",\"ingest\",\"master\"],"
                         "\"http\":{\"publish_address\":");
    sift_buf_put_json_str(&b, h ? h : "127.0.0.1:7700",
                          h ? strlen(h) : strlen("127.0.0.1:7700"));
    sift_buf_appendf(&b, "}}}}\n");
    reply_es(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* The name after a prefix route's prefix ("/_ilm/policy/<name>"). */
static const char *
tail_of(struct sift_http_req *req, size_t prefix_len)
{
    const char *p = sift_http_req_path(req);
    return strlen(p) > prefix_len ? p + prefix_len : "";
}

/* Resource kinds sift keeps none of: GET/HEAD 404, PUT/POST acknowledged. */
struct es_kind {
    const char *prefix;
    const char *type; /* Elasticsearch's error type for a missing one */
    const char *what;
};

static const struct es_kind kinds[] = {
    {"/_index_template/", "resource_not_found_exception", "index template"},
    {"/_template/", "resource_not_found_exception", "index template"},
    {"/_component_template/", "resource_not_found_exception",
     "component template"},
    {"/_ilm/policy/", "resource_not_found_exception", "lifecycle policy"},
    {"/_data_stream/", "index_not_found_exception", "data stream"},
    {"/_alias/", "aliases_not_found_exception", "alias"},
};

static void
on_kind(struct sift_http_req *req, void *arg)
{
    const struct es_kind *k = arg;
    const char *name = tail_of(req, strlen(k->prefix));
    const char *m = sift_http_req_method(req);
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        sift_http_add_header(req, "X-Elastic-Product", ES_PRODUCT);
        sift_http_reply_error(req, 404, k->type,
                              "%s [%.200s] missing: sift keeps none (it "
                              "indexes every field without one)",
                              k->what, name);
        return;
    }
    reply_body(req, 200, "{\"acknowledged\":true}\n");
}

/* ---- index paths: /<index>, /<index>/_bulk, /<index>/_doc ... ---- */

static int
valid_index(const char *s, size_t len)
{
    if (len == 0 || len > 255 || s[0] == '_' || s[0] == '-' || s[0] == '+')
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (strchr("\\/*?\"<>| ,#", c) || (unsigned char)c < 0x20)
            return 0;
    }
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (strlen(reserved[i]) == len && memcmp(reserved[i], s, len) == 0)
            return 0;
    }
    return 1;
}

static void
not_found(struct sift_http_req *req)
{
    sift_http_reply_error(req, 404, "not_found", "no such endpoint: %s",
                          sift_http_req_path(req));
}

/* Splits "/a/b/c" into at most 4 segments (copied into the arena). */
static size_t
segments(struct sift_http_req *req, const char *seg[4], size_t len[4])
{
    const char *p = sift_http_req_path(req);
    size_t n = 0;
    while (*p == '/')
        p++;
    while (*p && n < 4) {
        size_t l = strcspn(p, "/");
        seg[n] = p;
        len[n] = l;
        n++;
        p += l;
        while (*p == '/')
            p++;
    }
    return *p ? 5 : n; /* 5: more than we serve */
}

static char *
dup_seg(struct sift_http_req *req, const char *s, size_t len)
{
    return sift_arena_strndup(sift_http_req_arena(req), s, len);
}

static void
on_index_path(struct sift_http_req *req, void *arg)
{
    struct sift_ingest_api *api = arg;
    const char *seg[4];
    size_t len[4];
    size_t n = segments(req, seg, len);
    const char *m = sift_http_req_method(req);
    int write = strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0;
    if (n == 0 || n > 3 || !valid_index(seg[0], len[0])) {
        not_found(req);
        return;
    }
    char *index = dup_seg(req, seg[0], len[0]);
    if (n == 1) {
        if (write) { /* create index: nothing to create */
            struct sift_buf b = SIFT_BUF_INIT;
            sift_buf_appendf(&b, "{\"acknowledged\":true,"
                                 "\"shards_acknowledged\":true,\"index\":");
            sift_buf_put_json_str(&b, index, strlen(index));
            sift_buf_append(&b, "}\n", 2);
            reply_es(req, 200, &b);
            sift_buf_cleanup(&b);
        } else {
            sift_http_add_header(req, "X-Elastic-Product", ES_PRODUCT);
            sift_http_reply_error(req, 404, "index_not_found_exception",
                                  "no such index [%s]: sift keeps no "
                                  "indices (an index name is the field "
                                  "_index of the events written to it)",
                                  index);
        }
        return;
    }
    if (!write) {
        not_found(req);
        return;
    }
    if (n == 2 && len[1] == 5 && memcmp(seg[1], "_bulk", 5) == 0) {
        if (sift_http_req_check_params(req, sift__api_bulk_params) < 0)
            return;
        const char *q = sift_http_req_param(req, "index");
        sift__ingest_bulk(api, req, q ? q : index);
        return;
    }
    if (sift_http_req_check_params(req, sift__api_doc_params) < 0)
        return;
    if (len[1] == 4 && memcmp(seg[1], "_doc", 4) == 0) {
        sift__ingest_doc(api, req, index,
                         n == 3 ? dup_seg(req, seg[2], len[2]) : NULL, 0);
        return;
    }
    if (len[1] == 7 && memcmp(seg[1], "_create", 7) == 0 && n == 3) {
        sift__ingest_doc(api, req, index, dup_seg(req, seg[2], len[2]), 1);
        return;
    }
    if (n == 2 && seg[1][0] != '_') {
        /* A mapping type (Elasticsearch 6 and older; rsyslog's
         * omelasticsearch posts to /system/events by default). */
        sift__ingest_doc(api, req, index, NULL, 0);
        return;
    }
    not_found(req);
}

void
sift__es_api_register(struct sift_http *http, struct sift_ingest_api *api)
{
    sift_http_route(http, "GET", "/_license", 0, SIFT_ROLE_NONE, on_license,
                    NULL);
    sift_http_route(http, "GET", "/_xpack", 0, SIFT_ROLE_NONE, on_xpack, NULL);
    sift_http_route(http, "GET", "/_cluster/health", 0, SIFT_ROLE_NONE,
                    on_cluster_health, http);
    sift_http_route(http, "GET", "/_cluster/health/", SIFT_ROUTE_PREFIX,
                    SIFT_ROLE_NONE, on_cluster_health, http);
    sift_http_route(http, "GET", "/_cat/health", 0, SIFT_ROLE_NONE,
                    on_cat_health, http);
    sift_http_route(http, "GET", "/_nodes", 0, SIFT_ROLE_NONE, on_nodes, NULL);
    sift_http_route(http, "GET", "/_nodes/", SIFT_ROUTE_PREFIX, SIFT_ROLE_NONE,
                    on_nodes, NULL);
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        void *k = (void *)(uintptr_t)&kinds[i];
        sift_http_route(http, "GET", kinds[i].prefix, SIFT_ROUTE_PREFIX,
                        SIFT_ROLE_NONE, on_kind, k);
        sift_http_route(http, "PUT", kinds[i].prefix,
                        SIFT_ROUTE_PREFIX | SIFT_ROUTE_RAW_BODY,
                        SIFT_ROLE_WRITER, on_kind, k);
        sift_http_route(http, "POST", kinds[i].prefix,
                        SIFT_ROUTE_PREFIX | SIFT_ROUTE_RAW_BODY,
                        SIFT_ROLE_WRITER, on_kind, k);
    }
    sift_http_route(http, "GET", "/<index>", SIFT_ROUTE_FALLBACK,
                    SIFT_ROLE_NONE, on_index_path, api);
    sift_http_route(http, "POST", "/<index>",
                    SIFT_ROUTE_FALLBACK | SIFT_ROUTE_RAW_BODY, SIFT_ROLE_WRITER,
                    on_index_path, api);
    sift_http_route(http, "PUT", "/<index>",
                    SIFT_ROUTE_FALLBACK | SIFT_ROUTE_RAW_BODY, SIFT_ROLE_WRITER,
                    on_index_path, api);
}
