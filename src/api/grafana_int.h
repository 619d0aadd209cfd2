/*
 * grafana_int.h - the pure half of the Grafana JSON datasource API.
 *
 * grafana_plan.c turns Grafana request bodies (jansson values, exactly as
 * the simpod-json-datasource plugin or the legacy SimpleJSON plugin send
 * them) into plans, and engine results (the JSON text of sift_agg_*() and
 * sift_search_exec()) into the frames Grafana's toDataFrame() accepts.  It
 * touches no segment, no loop and no socket, so tests/unit/test_grafana.c
 * drives it with literal JSON.  grafana.c is the HTTP/worker plumbing.
 *
 * Units: *_ns nanoseconds since the epoch, *_ms milliseconds.  Every
 * string in a plan is owned by the plan.  Any thread (pure functions).
 */
#ifndef SIFT_API_GRAFANA_INT_H
#define SIFT_API_GRAFANA_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sift/anomaly.h"
#include "sift/buf.h"

/* What a target asks for; the names are the metric values Grafana shows. */
enum sift_gf_kind {
    SIFT_GF_LOGS = 0,     /* data frame of matching events (logs view) */
    SIFT_GF_COUNT = 1,    /* matches per interval, optionally split "by" */
    SIFT_GF_TERMS = 2,    /* top values of "field" (table) */
    SIFT_GF_STATS = 3,    /* avg/p50/p99 of numeric "field" per interval */
    SIFT_GF_PATTERNS = 4, /* top templates of the matches (table) */
    SIFT_GF_ALERTS = 5,   /* alerts in range (annotations) */
    SIFT_GF_KIND_COUNT
};

/* Caps that are not configuration: Grafana never needs more. */
/* series length (the aggregation itself allows 20000) */
#define SIFT_GF_MAX_POINTS 11000u
/* stats run one aggregation per point */
#define SIFT_GF_MAX_STATS_POINTS 200u
/* targets per /query */
#define SIFT_GF_MAX_TARGETS 32u
/* count "by" series */
#define SIFT_GF_MAX_SERIES 100u
/* terms / variable / tag values */
#define SIFT_GF_MAX_TERMS 1000u
/* extra columns of a logs frame */
#define SIFT_GF_MAX_LOG_FIELDS 64u
#define SIFT_GF_DEFAULT_RANGE_MS 3600000 /* when a request has no range */

struct sift_gf_error {
    int status;    /* HTTP status to answer: 400, 503, 500 */
    char code[48]; /* machine code: "bad_request", "query_parse", ... */
    char message[320];
};

struct sift_gf_limits {
    uint32_t default_hits; /* logs limit when the payload has none */
    uint32_t max_hits;     /* logs limit cap */
};

struct sift_gf_target {
    enum sift_gf_kind kind;
    char ref_id[64];
    char *query;     /* engine query: payload query AND ad-hoc filters */
    char *raw_query; /* payload query alone (alerts filter on it) */
    char *field;     /* terms / stats field, or NULL */
    char *by;        /* count split field, or NULL */
    uint32_t limit;  /* logs hits, terms buckets, count series, patterns */
};

struct sift_gf_plan {
    int64_t from_ns;     /* inclusive */
    int64_t to_ns;       /* exclusive (Grafana's "to" + 1 ms) */
    int64_t interval_ms; /* bucket width for count (aligned to the epoch) */
    int64_t stats_interval_ms; /* bucket width for stats */
    uint32_t max_points;       /* maxDataPoints: no series is longer */
    size_t n_targets;
    struct sift_gf_target *targets;
};

/** The metric value Grafana uses for kind ("logs", "count", ...). */
const char *sift__gf_kind_name(enum sift_gf_kind kind);

/**
 * A new jansson string of the C string s (borrowed), with bytes that are
 * not well-formed UTF-8 replaced by U+FFFD (include/sift/utf8.h).
 * json_string() returns NULL on such input, and a NULL cell silently
 * shortens a table row; this never does.  Returns owned (json_decref()).
 */
json_t *sift__gf_str(const char *s);

/** Fills err and returns rc (a negative SIFT_E* code).  Pure. */
int sift__gf_error_set(struct sift_gf_error *err, int rc, int status,
                       const char *code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/**
 * Appends the error body Grafana reads on panels and in "Save & test":
 * {"message":"…","error":{"code":"…","message":"…"}}.
 */
void sift__gf_error_json(const struct sift_gf_error *err, struct sift_buf *out);

/**
 * Plans a /query body (borrowed).  now_ns resolves relative times and the
 * default range.  On success *plan holds owned strings (release with
 * sift__gf_plan_cleanup(), also after a failure).  Returns SIFT_OK or
 * SIFT_EINVAL with err filled (status 400).
 */
int sift__gf_plan_query(const json_t *body, const struct sift_gf_limits *lim,
                        int64_t now_ns, struct sift_gf_plan *plan,
                        struct sift_gf_error *err);
void sift__gf_plan_cleanup(struct sift_gf_plan *plan);

/**
 * Reads a request's time range: "range" {from,to} (ISO-8601, epoch ms or
 * now-… strings, or epoch-ms numbers), else "rangeRaw", else "timeRange";
 * with none, *from_ns and *to_ns are set to def_from_ns/def_to_ns.  to is made
 * exclusive (+1 ms).  Returns SIFT_OK or SIFT_EINVAL with err.
 */
int sift__gf_time_range(const json_t *body, int64_t now_ns, int64_t def_from_ns,
                        int64_t def_to_ns, int64_t *from_ns, int64_t *to_ns,
                        struct sift_gf_error *err);

/**
 * Appends the query clauses of Grafana ad-hoc filters (an array of
 * {key, operator, value[, values]}) to out, ANDed, e.g. host:"web-01"
 * -level:"debug" status:>=500 path:/api.+/ (slashes escaped).  Accepts the
 * operators = != =~ !~ < > <= >= =| !=|.  Returns SIFT_OK or SIFT_EINVAL with
 * err.
 */
int sift__gf_filters_query(const json_t *filters, struct sift_buf *out,
                           struct sift_gf_error *err);

/**
 * The bucket width for a series over [from_ns, to_ns): at least
 * want_ms (Grafana's intervalMs), rounded up to a "nice" width, and wide
 * enough that epoch-aligned buckets number at most max_points whenever
 * that is possible (max_points >= 2).
 */
int64_t sift__gf_pick_interval(int64_t from_ns, int64_t to_ns, int64_t want_ms,
                               uint32_t max_points);

/** Number of epoch-aligned buckets of width iv_ms covering [from, to). */
uint64_t sift__gf_bucket_count(int64_t from_ns, int64_t to_ns, int64_t iv_ms);

/* ---- response shaping: each appends frames to the JSON array frames ---- */

/**
 * Logs: hits is the JSON array text of sift_search_result.hits.  Appends
 * one data frame {name, refId, meta.preferredVisualisationType "logs",
 * fields: time (epoch ms), line, then one field per event field}.  Returns
 * SIFT_OK or SIFT_EINVAL when hits is not the expected JSON.
 */
int sift__gf_frame_logs(const struct sift_gf_target *t, const char *hits,
                        size_t len, uint64_t total, int timed_out,
                        json_t *frames);

/**
 * Count: hist is sift_agg_histogram()'s JSON.  Appends one timeseries
 * {target, refId, datapoints [[count, ms]…]} (or one per "by" value, with
 * tags) no longer than max_points: adjacent buckets are summed when the
 * histogram has more.  Returns SIFT_OK or SIFT_EINVAL.
 */
int sift__gf_frame_count(const struct sift_gf_target *t, const char *hist,
                         size_t len, uint32_t max_points, json_t *frames);

/** Terms: sift_agg_terms()'s JSON -> table [field, count]. */
int sift__gf_frame_terms(const struct sift_gf_target *t, const char *terms,
                         size_t len, json_t *frames);

/** One stats bucket (from sift_agg_stats()'s result). */
struct sift_gf_stats_point {
    int64_t time_ms;
    uint64_t count;
    double avg, p50, p99; /* meaningless when count == 0 */
};

/** Stats: three timeseries "avg <f>", "p50 <f>", "p99 <f>" (null = empty). */
void sift__gf_frame_stats(const struct sift_gf_target *t,
                          const struct sift_gf_stats_point *pts, size_t n,
                          json_t *frames);

/** One row of the patterns table. */
struct sift_gf_pattern {
    uint32_t template_id;
    uint64_t count;
    const char *pattern; /* template text, or NULL (then example is used) */
    const char *example; /* a matching message, or NULL */
};

/** Patterns: table [template_id, count, pattern, example]. */
void sift__gf_frame_patterns(const struct sift_gf_target *t,
                             const struct sift_gf_pattern *v, size_t n,
                             json_t *frames);

/**
 * Alerts: annotation table [time, timeEnd, title, text, tags, id, score];
 * filter (may be NULL/empty) keeps alerts whose kind or series contains it
 * (case-insensitive).
 */
void sift__gf_frame_alerts(const struct sift_gf_target *t,
                           const struct sift_alert *v, size_t n,
                           const char *filter, json_t *frames);

/**
 * Legacy SimpleJSON /annotations reply elements for v, each
 * {annotation (echo), time, timeEnd, title, text, tags[]}.
 */
void sift__gf_annotations_legacy(const json_t *annotation,
                                 const struct sift_alert *v, size_t n,
                                 json_t *out);

/** The /metrics reply: every metric with its payload descriptions. */
json_t *sift__gf_metrics_list(void);
/** The legacy /search reply: metric names. */
json_t *sift__gf_metric_names(void);

/*
 * Field lists.  fields is sift_agg_fields()'s JSON.  Which fields a payload
 * offers: "by" -> keyword fields, "field" -> keyword and number fields
 * (number only for the stats metric).
 */
enum sift_gf_field_use {
    SIFT_GF_FIELDS_ALL = 0,
    SIFT_GF_FIELDS_KEYWORD = 1,
    SIFT_GF_FIELDS_NUMBER = 2,
    SIFT_GF_FIELDS_GROUPABLE = 3, /* keyword or number */
};

/**
 * Appends to out one element per field: /metric-payload-options
 * {label, value}; /tag-keys {type, text}; /variable {__text, __value}
 * (style 0, 1, 2).  Returns SIFT_OK or SIFT_EINVAL.
 */
enum sift_gf_list_style {
    SIFT_GF_STYLE_OPTIONS = 0,
    SIFT_GF_STYLE_TAGS = 1,
    SIFT_GF_STYLE_VARIABLE = 2,
};
int sift__gf_fields_list(const char *fields, size_t len,
                         enum sift_gf_field_use use,
                         enum sift_gf_list_style style, json_t *out);

/** Same for the buckets of sift_agg_terms()'s JSON (values of a field). */
int sift__gf_values_list(const char *terms, size_t len,
                         enum sift_gf_list_style style, json_t *out);

#endif /* SIFT_API_GRAFANA_INT_H */
