/*
 * render.h - the JSON replies of the engine's results.
 *
 * The engine (query/, parse/, anomaly/) returns C structures; these
 * functions, in api/, write the JSON the HTTP API answers with.  They append to
 * a buffer and never fail (sift_buf grows or aborts).  Byte for byte what the
 * API has always answered: docs/api.md documents the shapes.
 *
 * Threads: any; pure functions of their arguments.
 */
#ifndef SIFT_RENDER_H
#define SIFT_RENDER_H

#include <stdbool.h>
#include <stdint.h>

#include "sift/buf.h"
#include "sift/query.h"

struct sift_bulk;
struct sift_patterns_result;

struct sift_event;

/* ---- hits ---- */

/**
 * Appends the text of template id (never 0) to out, e.g. "user <*>
 * logged in".  Returns SIFT_OK, or a negative code (SIFT_ENOTFOUND: an
 * unknown or evicted id) after which the hit carries no "template" key;
 * out may then hold a partial append, which the caller discards.  Called
 * on the thread that renders (a pool worker), possibly from several at
 * once: it must be thread-safe.  Same shape as sift_grafana_template_cb,
 * minus its loop-only contract.
 */
typedef int (*sift_search_template_cb)(void *arg, uint32_t id,
                                       struct sift_buf *out);

/* How hits are written. */
struct sift_render_hits_opts {
    /* Returned fields: comma list (NULL = all).  "message" is always in. */
    const char *fields;
    int ndjson; /* one object per line ("…\n"), no array */
    /* Template texts: with template_text set, each hit whose event has a
     * template id (not 0) gets "template":"…" after "template_id" (none
     * when the callback fails).  NULL = no texts.  template_arg is passed
     * through and must stay valid for the call. */
    sift_search_template_cb template_text;
    void *template_arg;
};

/**
 * One hit object {"time":…,"ts_ms":…,"_id":"…","message":…
 * [,"template_id":N[,"template":"…"]],"fields":{…}} for ev, whose
 * encoded bytes hash to hash.  Shared by search, export, tail, context
 * and Grafana's logs frames.
 */
void sift_render_hit(const struct sift_event *ev, uint64_t hash,
                     const struct sift_render_hits_opts *opts,
                     struct sift_buf *out);

/**
 * The hits of res as a JSON array "[{…},…]" (or NDJSON lines), in res's
 * order (reversed with reverse set).  Returns SIFT_OK, or SIFT_ECORRUPT /
 * SIFT_ENOMEM when a stored event does not decode (out then holds a
 * partial append).
 */
int sift_render_hits(const struct sift_search_result *res, int reverse,
                     const struct sift_render_hits_opts *opts,
                     struct sift_buf *out);

/**
 * The reply of a search: {"hits":<hits>,"total":{"value":N,"relation":
 * "eq"|"gte"},"cursor":"…"|null,"took_ms":N,"timed_out":false}, where
 * hits is sift_render_hits()'s array (empty = []).
 */
void sift_render_search(const struct sift_search_result *res,
                        const struct sift_buf *hits, int64_t took_ms,
                        struct sift_buf *out);

/**
 * The reply of /api/v1/context: {"anchor":{hit},"before":[hits],"after":
 * [hits],"by":"source","query":"…","timed_out":false}, both lists in time
 * order (the last of "before" is the anchor's predecessor).  Returns as
 * sift_render_hits().
 */
int sift_render_context(const struct sift_context_result *r,
                        const struct sift_render_hits_opts *opts,
                        struct sift_buf *out);

/* ---- aggregations ---- */

/**
 * {"interval_ms":N[,"calendar_interval":"3M"],"buckets":[{"key":ms,
 * "time":"RFC 3339","count":N[,"by":{"v":n,…[,"_other":n]}]},…],
 * "timed_out":false}
 */
void sift_render_histogram(const struct sift_agg_histo_result *r,
                           struct sift_buf *out);

/**
 * {"field":"f","buckets":[{"key":"v","count":N},…],"other":N,"missing":N,
 * "timed_out":false}
 */
void sift_render_terms(const struct sift_agg_terms_result *r,
                       struct sift_buf *out);

/**
 * {"field":"f","count":N,"min":x,"max":x,"sum":x,"avg":x,"p50":x,"p90":x,
 * "p99":x,"percentiles_exact":true,"timed_out":false}; with count 0 the
 * values are null (sum 0).
 */
void sift_render_stats(const struct sift_agg_stats_result *r,
                       struct sift_buf *out);

/**
 * {"fields":[{"name":"f","text":bool,"keyword":bool,"number":bool,
 * "cardinality":N},…]}
 */
void sift_render_fields(const struct sift_agg_fields_result *r,
                        struct sift_buf *out);

/* ---- patterns ---- */

/**
 * The reply of /api/v1/patterns: {"patterns":[{"template_id":N,
 * "template":"…"|null,"count":N,"first_seen_ms":N,"last_seen_ms":N,
 * "sample":"…"|null[,"series":[[ms,N],…]]},…],"total":N,"distinct":N
 * [,"interval_ms":N][,"warnings":["…"]],"took_ms":N}; series and
 * interval_ms only when r has buckets, warnings only when there are any.
 */
void sift_render_patterns(const struct sift_patterns_result *r, int64_t took_ms,
                          struct sift_buf *out);

/* ---- ingest: Elasticsearch _bulk ---- */

/**
 * Which parts of the bulk response to write: Elasticsearch's filter_path
 * query parameter, a comma list of dotted patterns ("*" matches within a
 * name, a "**" segment any depth, a leading '-' excludes).  Filebeat and
 * Logstash send filter_path=errors,items.*.error,items.*.status, which
 * shrinks a created item to {"create":{"status":201}}.
 */
struct sift_bulk_filter {
    bool took;
    bool errors;
    uint16_t
        fields[5]; /* by enum sift_bulk_action: item leaves (bulk_reply.c) */
};

/**
 * Compiles filter_path (NULL or "" keeps everything).  Never fails:
 * patterns that match nothing leave an empty response, {}, as in
 * Elasticsearch.  Pure.
 */
void sift_render_bulk_filter(struct sift_bulk_filter *f,
                             const char *filter_path);

/**
 * Appends the Elasticsearch bulk response for b to out:
 * {"took":T,"errors":bool,"items":[{"index":{"_index":..,"_id":..,
 * "_version":1,"result":"created","_shards":{..},"status":201}} | {...,
 * "status":400,"error":{"type":..,"reason":..}}, ...]}, less what f
 * (NULL: nothing) filters out; objects and arrays the filter leaves empty
 * are not written.  errors is recomputed from the item statuses.  Pure;
 * borrows b.
 */
void sift_render_bulk(const struct sift_bulk *b, int64_t took_ms,
                      const struct sift_bulk_filter *f, struct sift_buf *out);

#endif /* SIFT_RENDER_H */
