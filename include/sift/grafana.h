/*
 * grafana.h - the Grafana JSON datasource API (plugin simpod-json-datasource,
 * and the legacy SimpleJSON plugin), mounted under /grafana.
 *
 * The datasource URL is http://HOST:PORT/grafana.  Routes:
 *   GET  /grafana, /grafana/          health check ("Save & test"): 200
 *   POST /grafana/metrics             metrics with payload descriptions
 *   POST /grafana/metric-payload-options  fields (payload "by"/"field") or
 *                                     the values of a field
 *   POST /grafana/query               frames per target (logs, count,
 *                                     terms, stats, patterns, alerts)
 *   POST /grafana/variable            values of a field (__text/__value)
 *   POST /grafana/tag-keys            fields, for ad-hoc filters
 *   POST /grafana/tag-values          values of a field
 *   POST /grafana/search              legacy: metric names
 *   POST /grafana/annotations         legacy: alerts as annotations
 * Errors are 400 (bad request or query), 503 (overloaded) or 500 with
 * {"message":…,"error":{"code":…,"message":…}}.  docs/grafana.md is the
 * user documentation; docs/internals/grafana.md the design.
 *
 * Loop thread for everything here; queries run on the worker pool over a
 * store snapshot.
 */
#ifndef SIFT_GRAFANA_H
#define SIFT_GRAFANA_H

#include "sift/search_api.h"

#include <stddef.h>
#include <stdint.h>

struct sift_alert;
struct sift_buf;
struct sift_config;
struct sift_grafana_api;
struct sift_http;
struct sift_metrics_api;
struct sift_pool;
struct sift_query_slots;
struct sift_store;

/**
 * Lists alerts overlapping [from_ns, to_ns): copies at most max of them
 * into out and returns how many were copied (newest first is fine; Grafana
 * sorts).  Loop thread; must not block.
 */
typedef size_t (*sift_grafana_alerts_cb)(void *arg, int64_t from_ns,
                                         int64_t to_ns, struct sift_alert *out,
                                         size_t max);

/**
 * Appends the text of template id to out ("user <*> logged in").  Returns
 * SIFT_OK or SIFT_ENOTFOUND.  Loop thread (the drain miner lives there).
 */
typedef int (*sift_grafana_template_cb)(void *arg, uint32_t id,
                                        struct sift_buf *out);

/* What the datasource uses (borrowed for the object's lifetime). */
struct sift_grafana_api_deps {
    struct sift_store *store;
    struct sift_pool *pool;
    /* Re-read on every request (limits: query.max_hits, default_hits,
     * max_query_bytes, max_expansion, query_timeout_ms,
     * max_concurrent_queries). */
    const struct sift_config *cfg;
    /* Queries in flight, shared with the search API (main owns it). */
    struct sift_query_slots *slots;
    struct sift_metrics_api *metrics; /* query latency; NULL = none */
    /* The alert source for the "alerts" metric and /grafana/annotations
     * (NULL: those answer an empty table) and template texts for the
     * "patterns" metric (NULL: the pattern column shows an example
     * message). */
    sift_grafana_alerts_cb alerts;
    void *alerts_arg;
    sift_grafana_template_cb template_text;
    void *template_arg;
    /* Saved searches (search_api.h's callback type; main wires the store):
     * a target whose query is "@name" runs that saved search's query
     * (with the target's filters); an unknown name fails the query with
     * 404 saved_search_not_found.  NULL = none. */
    sift_search_saved_cb saved;
    void *saved_arg;
};

/**
 * Registers the /grafana routes (role reader) with deps (copied; what it
 * points to is borrowed).  OUT: *out, owned (release with
 * sift_grafana_api_free()).  Returns SIFT_OK.  Loop thread, at start-up.
 */
int sift_grafana_api_new(struct sift_http *http,
                         const struct sift_grafana_api_deps *deps,
                         struct sift_grafana_api **out);

/**
 * Stops calling the alert, template and saved-search sources (their owner is
 * about to stop); queries go on and answer without them.  NULL is fine.  Loop
 * thread.
 */
void sift_grafana_api_detach_sources(struct sift_grafana_api *api);

/**
 * Frees.  Requests in flight are answered first by the pool's done
 * callbacks: stop the pool before calling this.  NULL is fine.  Loop
 * thread.
 */
void sift_grafana_api_free(struct sift_grafana_api *api);

#endif /* SIFT_GRAFANA_H */
