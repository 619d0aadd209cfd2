/*
 * params.c - the parameter table of every HTTP endpoint, and reading
 * request parameters the same way everywhere.
 *
 * Design: one table per endpoint (struct sift_http_param, http.h) names
 * each query-string parameter, its alias, its type and accepted values,
 * and one sentence for the docs.  sift_api_params_attach() hands the
 * tables to the router, which rejects unknown parameters (naming the
 * closest known one), bad values (naming the accepted ones) and
 * duplicates before any handler runs; POST handlers check the keys of
 * their JSON bodies against the same table.  `siftd --print-api-params`
 * prints every table as Markdown: the parameter tables of the docs are
 * generated blocks, and a black-box test fails when they drift.
 *
 * Names are the same across endpoints: q (query), from, to, limit and
 * size (aliases of each other wherever one of them is taken), field and
 * by (aliases on the aggregations), fields, order, cursor, format.
 *
 * Time bounds given as JSON values (POST bodies, Grafana) go through the
 * one request-time parser too: numbers are printed back to their digits,
 * so 1714557600 and "1714557600" are the same instant (seconds, by
 * magnitude) whichever endpoint receives them.
 *
 * Threads: tables are static and read-only; helpers are pure.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/params.h"
#include "sift/api_params.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/query.h"

/* ---------------------------------------------------------------------- */
/* Value checks                                                            */
/* ---------------------------------------------------------------------- */

static int
check_time(const char *v, char *why, size_t why_len)
{
    return sift_query_time_explain(v, why, why_len) == SIFT_OK ? 0 : -1;
}

static int
check_interval(const char *v, char *why, size_t why_len)
{
    int64_t ms;
    char unit;
    if (strcmp(v, "auto") == 0 ||
        sift_query_interval_parse(v, &ms, &unit) == SIFT_OK)
        return 0;
    snprintf(why, why_len,
             "expected auto or a duration (500ms, 30s, 5m, 1h, 1d, 1w, 1M, "
             "1y)");
    return -1;
}

static int
check_track_total(const char *v, char *why, size_t why_len)
{
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
        return 0;
    size_t n = strspn(v, "0123456789");
    if (n > 0 && n < 11 && v[n] == '\0' && strspn(v, "0") < n)
        return 0;
    snprintf(why, why_len, "expected true, false or a count >= 1");
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Tables                                                                  */
/* ---------------------------------------------------------------------- */

#define P_Q                                                                    \
    {                                                                          \
        "q", "query", SIFT_HTTP_P_STRING,                                      \
            "a query ([query language](query-language.md))", 0, 0, NULL,       \
            "Which events; empty or `*` means all."                            \
    }
#define P_SAVED                                                                \
    {                                                                          \
        "saved", NULL, SIFT_HTTP_P_STRING, "a saved search's name", 0, 0,      \
            NULL,                                                              \
            "Runs that saved search "                                          \
            "([alerting](alerting.md#saved-searches)); "                       \
            "`q=@name` does the same."                                         \
    }
#define P_FROM                                                                 \
    {                                                                          \
        "from", NULL, SIFT_HTTP_P_CHECK,                                       \
            "a time ([Time range](query-language.md#time-range))", 0, 0,       \
            check_time, "Start of the range, inclusive (default: open)."       \
    }
#define P_TO                                                                   \
    {                                                                          \
        "to", NULL, SIFT_HTTP_P_CHECK,                                         \
            "a time ([Time range](query-language.md#time-range))", 0, 0,       \
            check_time, "End of the range, exclusive (default: open)."         \
    }
#define P_LOCAL                                                                \
    {                                                                          \
        "local", NULL, SIFT_HTTP_P_BOOL, NULL, 0, 0, NULL,                     \
            "In a cluster: answer from this node's data only (default: "       \
            "every node's, see [Cluster](cluster.md))."                        \
    }
#define P_PARTIAL                                                              \
    {                                                                          \
        "allow_partial", NULL, SIFT_HTTP_P_BOOL, NULL, 0, 0, NULL,             \
            "In a cluster: `false` fails the request (502) when a node does "  \
            "not answer, instead of a 200 whose `_nodes` names it."            \
    }
#define P_END                                                                  \
    {                                                                          \
        NULL, NULL, SIFT_HTTP_P_STRING, NULL, 0, 0, NULL, NULL                 \
    }

static const struct sift_http_param p_search[] = {
    P_Q,
    P_SAVED,
    P_FROM,
    P_TO,
    {"limit", "size", SIFT_HTTP_P_UINT, "0 to `query.max_hits`", 0, UINT32_MAX,
     NULL, "Hits per page (default `query.default_hits`); 0 only counts."},
    {"order", NULL, SIFT_HTTP_P_ENUM, "desc|asc|newest|oldest", 0, 0, NULL,
     "Newest first (`desc`, `newest`: the default) or oldest first."},
    {"cursor", NULL, SIFT_HTTP_P_STRING, "the `cursor` of the previous page", 0,
     0, NULL, "Asks for the next page of the same query."},
    {"fields", NULL, SIFT_HTTP_P_STRING, "field names, comma-separated", 0, 0,
     NULL, "Fields returned in each hit (default: all); `message` always is."},
    {"format", NULL, SIFT_HTTP_P_ENUM, "json|ndjson", 0, 0, NULL,
     "`ndjson` streams every hit, one per line, as `/api/v1/export`."},
    {"track_total_hits", NULL, SIFT_HTTP_P_CHECK,
     "`true`, `false` or a count >= 1", 0, 0, check_track_total,
     "How far the total is counted exactly (default 10000)."},
    P_LOCAL,
    P_PARTIAL,
    P_END,
};

static const struct sift_http_param p_export[] = {
    P_Q,
    P_SAVED,
    P_FROM,
    P_TO,
    {"limit", "size", SIFT_HTTP_P_UINT, NULL, 0, UINT32_MAX, NULL,
     "Stop after this many hits (default 0: all of them)."},
    {"order", NULL, SIFT_HTTP_P_ENUM, "desc|asc|newest|oldest", 0, 0, NULL,
     "Newest first (`desc`, `newest`: the default) or oldest first."},
    {"cursor", NULL, SIFT_HTTP_P_STRING, "a search's `cursor`", 0, 0, NULL,
     "Starts after the page that cursor came from."},
    {"fields", NULL, SIFT_HTTP_P_STRING, "field names, comma-separated", 0, 0,
     NULL, "Fields returned in each hit (default: all)."},
    {"format", NULL, SIFT_HTTP_P_ENUM, "ndjson", 0, 0, NULL,
     "Always NDJSON (accepted for symmetry with search)."},
    P_LOCAL,
    P_END,
};

static const struct sift_http_param p_histogram[] = {
    P_Q,
    P_SAVED,
    P_FROM,
    P_TO,
    {"interval", NULL, SIFT_HTTP_P_CHECK,
     "`auto`, or `500ms`, `30s`, `5m`, `1h`, `1d`, `1w`, `1M`, `1y`", 0, 0,
     check_interval,
     "Bucket width (default `auto`: at most 100 buckets). `1w` buckets "
     "start on Monday, `1M` and `1y` are calendar months and years (UTC)."},
    {"by", "field", SIFT_HTTP_P_STRING, "a keyword field", 0, 0, NULL,
     "Splits each bucket's count by the values of this field."},
    {"size", "limit", SIFT_HTTP_P_UINT, NULL, 1, 10000, NULL,
     "With `by`: the values kept, most frequent first (default 10); the "
     "rest is summed under `_other`."},
    P_LOCAL,
    P_PARTIAL,
    P_END,
};

static const struct sift_http_param p_terms[] = {
    P_Q,
    P_SAVED,
    P_FROM,
    P_TO,
    {"field", "by", SIFT_HTTP_P_STRING, "a keyword field", 0, 0, NULL,
     "The field whose values are counted (required)."},
    {"size", "limit", SIFT_HTTP_P_UINT, NULL, 1, 10000, NULL,
     "Buckets returned, most frequent first (default 10)."},
    P_LOCAL,
    P_PARTIAL,
    P_END,
};

static const struct sift_http_param p_stats[] = {
    P_Q,
    P_SAVED,
    P_FROM,
    P_TO,
    {"field", "by", SIFT_HTTP_P_STRING, "a number field", 0, 0, NULL,
     "The field whose values are summarized (required)."},
    P_LOCAL,
    P_PARTIAL,
    P_END,
};

static const struct sift_http_param p_fields[] = {
    P_LOCAL,
    P_PARTIAL,
    P_END,
};

static const struct sift_http_param p_context[] = {
    {"id", NULL, SIFT_HTTP_P_STRING, "a hit's `_id`", 0, 0, NULL,
     "The event to show the surroundings of (required)."},
    {"before", NULL, SIFT_HTTP_P_UINT, NULL, 0, 1000, NULL,
     "How many events before it (default 10)."},
    {"after", NULL, SIFT_HTTP_P_UINT, NULL, 0, 1000, NULL,
     "How many events after it (default 10)."},
    {"by", NULL, SIFT_HTTP_P_ENUM, "auto|source|service|all", 0, 0, NULL,
     "`source`: the same `host.name` and `log.file.path` (a field the "
     "event lacks must be absent from its neighbours too); `service`: the "
     "same `service.name`; `all`: every event; `auto` (default): `source` "
     "when the event has a host or a file path, else `service` when it has "
     "one, else `all`."},
    P_LOCAL,
    P_END,
};

static int
check_heartbeat(const char *v, char *why, size_t why_len)
{
    int64_t ms;
    if (strcmp(v, "0") == 0 || (sift_parse_duration_ms(v, &ms) == SIFT_OK &&
                                ms >= 1000 && ms <= 3600000))
        return 0;
    snprintf(why, why_len, "expected 0 (none) or a duration from 1s to 1h");
    return -1;
}

/* A fixed bucket (no calendar units): the patterns' series. */
static int
check_duration(const char *v, char *why, size_t why_len)
{
    int64_t ms;
    if (strcmp(v, "auto") == 0 ||
        (sift_parse_duration_ms(v, &ms) == SIFT_OK && ms > 0))
        return 0;
    snprintf(why, why_len,
             "expected auto or a duration (500ms, 30s, 5m, 1h, 1d)");
    return -1;
}

static const struct sift_http_param p_tail[] = {
    P_Q,
    P_SAVED,
    {"fields", NULL, SIFT_HTTP_P_STRING, "field names, comma-separated", 0, 0,
     NULL, "Fields returned in each hit (default: all)."},
    {"from", NULL, SIFT_HTTP_P_CHECK,
     "a time ([Time range](query-language.md#time-range))", 0, 0, check_time,
     "First shows the newest `limit` matches since this time, oldest "
     "first, then follows (default: follow only)."},
    {"limit", "size", SIFT_HTTP_P_UINT, "0 to `query.max_hits`", 0, UINT32_MAX,
     NULL, "With `from`: how many earlier matches (default 100)."},
    {"heartbeat", NULL, SIFT_HTTP_P_CHECK, "`0`, or `1s` to `1h`", 0, 0,
     check_heartbeat,
     "A `{\"heartbeat\":\"<time>\"}` line after this long without a "
     "line (default `15s`, at most half of `http.idle_timeout`; `0`: "
     "none)."},
    P_LOCAL,
    P_END,
};

static const struct sift_http_param p_patterns[] = {
    P_Q,
    P_FROM,
    P_TO,
    {"size", "limit", SIFT_HTTP_P_UINT, NULL, 1, 1000, NULL,
     "Templates returned, most frequent first (default 20)."},
    {"interval", NULL, SIFT_HTTP_P_CHECK, "auto or a duration", 0, 0,
     check_duration,
     "Bucket of each template's count series (default `auto`: about 60 "
     "buckets over the range; at most 1000)."},
    P_LOCAL,
    P_PARTIAL,
    P_END,
};

static const struct sift_http_param p_alerts[] = {
    {"state", NULL, SIFT_HTTP_P_ENUM, "all|firing|resolved", 0, 0, NULL,
     "Which alerts (default `all`)."},
    P_FROM,
    P_TO,
    {"limit", "size", SIFT_HTTP_P_UINT, NULL, 1, 100000, NULL,
     "Alerts returned, newest first (default 1000)."},
    P_LOCAL,
    P_PARTIAL,
    P_END,
};

#define P_LABELS                                                               \
    {                                                                          \
        "_fields", NULL, SIFT_HTTP_P_STRING,                                   \
            "`name:value,name:value` (or `=`)", 0, 0, NULL,                    \
            "Keyword fields added to every event of the request that lacks "   \
            "them "                                                            \
            "(also the `Sift-Fields` header)."                                 \
    }

static const struct sift_http_param p_ingest[] = {
    {"format", NULL, SIFT_HTTP_P_ENUM, "auto|json|text|syslog|logfmt", 0, 0,
     NULL,
     "How each line is parsed (default: from the Content-Type, see "
     "above)."},
    P_LABELS,
    P_END,
};

const struct sift_http_param sift__api_bulk_params[] = {
    {"index", NULL, SIFT_HTTP_P_STRING, "an index name", 0, 0, NULL,
     "The `_index` of actions that name none."},
    {"filter_path", NULL, SIFT_HTTP_P_STRING,
     "paths, comma-separated (see above)", 0, 0, NULL,
     "Trims the answer as Elasticsearch's response filtering does."},
    {"refresh", NULL, SIFT_HTTP_P_ENUM, "true|false|wait_for|", 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect (events are "
     "searchable within `store.refresh`)."},
    {"timeout", NULL, SIFT_HTTP_P_STRING, "a duration", 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect."},
    {"wait_for_active_shards", NULL, SIFT_HTTP_P_STRING, "a count or `all`", 0,
     0, NULL, "Accepted for Elasticsearch clients; no effect."},
    {"routing", NULL, SIFT_HTTP_P_STRING, "text", 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect (one shard)."},
    {"require_alias", NULL, SIFT_HTTP_P_BOOL, NULL, 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect."},
    P_LABELS,
    P_END,
};

const struct sift_http_param sift__api_doc_params[] = {
    {"refresh", NULL, SIFT_HTTP_P_ENUM, "true|false|wait_for|", 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect."},
    {"timeout", NULL, SIFT_HTTP_P_STRING, "a duration", 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect."},
    {"wait_for_active_shards", NULL, SIFT_HTTP_P_STRING, "a count or `all`", 0,
     0, NULL, "Accepted for Elasticsearch clients; no effect."},
    {"routing", NULL, SIFT_HTTP_P_STRING, "text", 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect (one shard)."},
    {"op_type", NULL, SIFT_HTTP_P_ENUM, "index|create", 0, 0, NULL,
     "Accepted for Elasticsearch clients; both add the document."},
    {"require_alias", NULL, SIFT_HTTP_P_BOOL, NULL, 0, 0, NULL,
     "Accepted for Elasticsearch clients; no effect."},
    P_END,
};

static const struct sift_http_param p_none[] = {P_END};

/* Keys of JSON bodies (POST endpoints that take no query parameters). */
static const struct sift_http_param b_feedback[] = {
    {"label", NULL, SIFT_HTTP_P_ENUM, "false_positive|true_positive", 0, 0,
     NULL, "Whether the alert was right (required)."},
    P_END,
};

static const struct sift_http_param b_debug_alerts[] = {
    {"count", NULL, SIFT_HTTP_P_UINT, NULL, 1, 10000, NULL,
     "Test alerts to fire (default 1)."},
    {"resolve", NULL, SIFT_HTTP_P_BOOL, NULL, 0, 0, NULL,
     "Resolve each at once (a second notification)."},
    P_END,
};

/* Rules, silences, saved searches (alerting_api.c; their JSON bodies
 * are checked member by member in rule.c, silences.c and saved.c). */
static const struct sift_http_param p_rules[] = {
    {"dry_run", NULL, SIFT_HTTP_P_BOOL, NULL, 0, 0, NULL,
     "POST and PUT: check the rule and answer `{\"valid\":true}` or the "
     "error; nothing is stored."},
    P_END,
};

static const struct sift_http_param p_silences[] = {
    {"state", NULL, SIFT_HTTP_P_ENUM, "active|pending|expired", 0, 0, NULL,
     "GET: only silences in that state (default: all)."},
    P_END,
};

struct api_table {
    const char *methods;
    const char *path;
    const struct sift_http_param *params;
    const struct sift_http_param *body; /* keys of a JSON body, or NULL */
};

/* Every route siftd registers (the prefix route of alerts by its prefix). */
static const struct api_table tables[] = {
    {"GET, POST", "/api/v1/search", p_search, NULL},
    {"GET, POST", "/api/v1/export", p_export, NULL},
    {"GET, POST", "/api/v1/histogram", p_histogram, NULL},
    {"GET, POST", "/api/v1/terms", p_terms, NULL},
    {"GET, POST", "/api/v1/stats", p_stats, NULL},
    {"GET", "/api/v1/fields", p_fields, NULL},
    {"GET", "/api/v1/context", p_context, NULL},
    {"GET", "/api/v1/tail", p_tail, NULL},
    {"GET", "/api/v1/patterns", p_patterns, NULL},
    {"GET", "/api/v1/alerts", p_alerts, NULL},
    {"GET, POST", "/api/v1/alerts/", p_none, b_feedback},
    {"GET", "/api/v1/anomaly", p_none, NULL},
    {"GET, POST", "/api/v1/rules", p_rules, NULL},
    {"GET, PUT, DELETE", "/api/v1/rules/", p_rules, NULL},
    {"GET, POST", "/api/v1/silences", p_silences, NULL},
    {"GET, DELETE", "/api/v1/silences/", p_none, NULL},
    {"GET, POST", "/api/v1/saved", p_none, NULL},
    {"GET, PUT, DELETE", "/api/v1/saved/", p_none, NULL},
    {"POST", "/api/v1/ingest", p_ingest, NULL},
    {"POST", "/_bulk", sift__api_bulk_params, NULL},
    {"POST", "/api/v1/_bulk", sift__api_bulk_params, NULL},
    {"POST", "/v1/logs", p_none, NULL},
    {"POST", "/loki/api/v1/push", p_none, NULL},
    {"POST", "/upload", p_none, NULL},
    {"POST", "/api/v1/delete", p_none, NULL}, /* body: lifecycle_api.c */
    {"GET", "/api/v1/tiers", p_none, NULL},
    {"GET", "/api/v1/store", p_none, NULL},
    {"GET", "/api/v1/config", p_none, NULL},
    {"POST", "/api/v1/debug/clock", p_none, NULL},
    {"POST", "/api/v1/debug/alerts", p_none, b_debug_alerts},
    {"POST", "/api/v1/debug/lifecycle", p_none, NULL},
    {"GET", "/", p_none, NULL},
    {"GET", "/healthz", p_none, NULL},
    {"GET", "/readyz", p_none, NULL},
    {"GET", "/api/v1/whoami", p_none, NULL},
    {"GET", "/metrics", p_none, NULL},
    {"GET", "/grafana", p_none, NULL},
    {"GET", "/grafana/", p_none, NULL},
    {"POST", "/grafana/metrics", p_none, NULL},
    {"POST", "/grafana/search", p_none, NULL},
    {"POST", "/grafana/metric-payload-options", p_none, NULL},
    {"POST", "/grafana/query", p_none, NULL},
    {"POST", "/grafana/variable", p_none, NULL},
    {"POST", "/grafana/tag-keys", p_none, NULL},
    {"POST", "/grafana/tag-values", p_none, NULL},
    {"POST", "/grafana/annotations", p_none, NULL},
};

const struct sift_http_param *
sift__api_params(const char *path)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (strcmp(tables[i].path, path) == 0)
            return tables[i].params;
    return NULL;
}

const struct sift_http_param *
sift__api_body_params(const char *path)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        if (strcmp(tables[i].path, path) == 0)
            return tables[i].body != NULL ? tables[i].body : tables[i].params;
    return NULL;
}

void
sift_api_params_attach(struct sift_http *http)
{
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
        sift_http_route_params(http, tables[i].path, tables[i].params);
}

void
sift_api_params_print(FILE *out)
{
    struct sift_buf b = SIFT_BUF_INIT;
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        int again = 0; /* one block per table (/_bulk and /api/v1/_bulk) */
        for (size_t j = 0; j < i; j++)
            again |= tables[j].params == tables[i].params;
        if (tables[i].params[0].name != NULL && !again) {
            sift_buf_appendf(&b, "<!-- BEGIN GENERATED PARAMS %s -->\n",
                             tables[i].path);
            sift_http_params_markdown(tables[i].params, 1, &b);
            sift_buf_appendf(&b, "<!-- END GENERATED PARAMS -->\n");
        }
        if (tables[i].body != NULL) {
            sift_buf_appendf(&b, "<!-- BEGIN GENERATED PARAMS %s#body -->\n",
                             tables[i].path);
            sift_http_params_markdown(tables[i].body, 0, &b);
            sift_buf_appendf(&b, "<!-- END GENERATED PARAMS -->\n");
        }
    }
    fwrite(b.data, 1, b.len, out);
    sift_buf_cleanup(&b);
}

int
sift__api_body_check(struct sift_http_req *req, const json_t *root)
{
    const struct sift_http_param *table =
        sift__api_body_params(sift_http_req_path(req));
    char where[80], reason[512], num[40];
    snprintf(where, sizeof(where), "a body of POST %s",
             sift_http_req_path(req));
    const char *key, *seen[64];
    size_t n_seen = 0;
    json_t *v;
    if (table == NULL || !json_is_object(root))
        return SIFT_OK;
    json_object_foreach((json_t *)(uintptr_t)root, key, v)
    {
        const char *val = NULL, *canon, *type = "bad_request";
        if (json_is_string(v))
            val = json_string_value(v);
        else if (json_is_boolean(v))
            val = json_is_true(v) ? "true" : "false";
        else if (json_is_integer(v) || json_is_real(v))
            val = num;
        if (json_is_integer(v))
            snprintf(num, sizeof(num), "%lld",
                     (long long)json_integer_value(v));
        else if (json_is_real(v))
            sift_fmt_double(num, sizeof(num), json_real_value(v));
        if (json_is_null(v))
            continue;
        if (val == NULL) {
            snprintf(reason, sizeof(reason),
                     "invalid '%.40s': expected a string, number or boolean",
                     key);
        } else if (sift_http_param_check(table, where, key, val, &canon, &type,
                                         reason, sizeof(reason)) == SIFT_OK) {
            size_t i = 0;
            while (i < n_seen && seen[i] != canon)
                i++;
            if (i == n_seen) {
                if (n_seen < sizeof(seen) / sizeof(seen[0]))
                    seen[n_seen++] = canon;
                continue;
            }
            snprintf(reason, sizeof(reason),
                     "'%s' is given twice (under two names); give it once",
                     canon);
        }
        sift_http_reply_error(req, 400, type, "%s", reason);
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

/* ---------------------------------------------------------------------- */
/* Time bounds as JSON values                                              */
/* ---------------------------------------------------------------------- */

int
sift__api_time_json(const char *name, const json_t *v, int64_t now_ns,
                    int64_t dflt, int64_t *out, char *text, size_t text_len,
                    struct sift_query_error *err)
{
    char num[64];
    const char *s = NULL;
    if (text_len > 0)
        text[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        *out = dflt;
        return SIFT_OK;
    }
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        sift_fmt_double(num, sizeof(num), json_real_value(v));
        s = num;
    } else {
        err->type = "bad_request";
        err->status = 400;
        err->position = -1;
        snprintf(err->reason, sizeof(err->reason),
                 "invalid '%s': expected a string or a number", name);
        return SIFT_EINVAL;
    }
    if (text_len > 0)
        snprintf(text, text_len, "%s", s);
    return sift_query_time_bound(name, s, now_ns, out, err);
}
