/*
 * metrics_api.h - GET /metrics and the collectors that fill it.
 *
 * The object sift_metrics_api_new() makes serves the registry
 * (include/sift/metrics.h) in the Prometheus text format 0.0.4 and
 * registers the collectors it owns: the process (process_* standard
 * names, sift_build_info, sift_uptime_seconds) and query latency per
 * endpoint (the search and Grafana endpoints observe into it).  The
 * collectors below render other modules' counters, which those modules
 * export as C structures; main registers them with
 * sift_metrics_register(m, collector, object).
 *
 * Names follow Prometheus conventions: sift_<what>_<unit>[_total] in base
 * units (seconds, bytes); see docs/metrics.md for the full list.
 */
#ifndef SIFT_METRICS_API_H
#define SIFT_METRICS_API_H

#include <stddef.h>
#include <stdint.h>

struct sift_buf;
struct sift_http;
struct sift_metrics;
struct sift_metrics_api;

/**
 * Registers GET /metrics (role reader) rendering m, and the process and
 * query-latency collectors into m.  Borrows m for the object's lifetime.
 * OUT: *out, owned (release with sift_metrics_api_free(), after the HTTP
 * server and after every object that observes into it).  Returns
 * SIFT_OK.  Loop thread, at start-up.
 */
int sift_metrics_api_new(struct sift_http *http, struct sift_metrics *m,
                         struct sift_metrics_api **out);
/** Frees.  NULL is fine.  Loop thread. */
void sift_metrics_api_free(struct sift_metrics_api *api);

/**
 * Records one query's latency under endpoint ("search", "histogram",
 * "grafana_query"...; at most 32 distinct names, longer than 31 bytes cut;
 * past 32 they count under "other").  Exported as the histogram
 * sift_query_duration_seconds{endpoint}.  api NULL: nothing.  Any thread;
 * lock-free after the first call per endpoint.
 */
void sift_metrics_api_observe_query(struct sift_metrics_api *api,
                                    const char *endpoint, double seconds);

/** Counts a query that failed (sift_query_errors_total{endpoint}). */
void sift_metrics_api_count_query_error(struct sift_metrics_api *api,
                                        const char *endpoint);

/* ---- collectors for sift_metrics_register(m, cb, arg) (loop thread) ---- */

/** arg: struct sift_store *.  Docs, segments and bytes per tier, WAL,
 * buffer, flushes, quarantine, refused appends. */
void sift_metrics_collect_store(struct sift_buf *out, void *store);

/** arg: struct sift_pipeline *.  Per-source events, bytes, rejects,
 * dead letters, refused batches. */
void sift_metrics_collect_pipeline(struct sift_buf *out, void *pipeline);

/** arg: struct sift_anomaly *.  Anomaly ring drops. */
void sift_metrics_collect_anomaly(struct sift_buf *out, void *anomaly);

/** arg: struct sift_anomaly_service *.  Alert transitions by kind and
 * event (sift_alerts_total). */
void sift_metrics_collect_alerts(struct sift_buf *out, void *service);

/** arg: struct sift_store *.  WAL fsync latency
 * (sift_wal_fsync_duration_seconds). */
void sift_metrics_collect_wal_fsync(struct sift_buf *out, void *store);

/** arg: struct sift_alert_sinks *.  Alert deliveries per sink. */
void sift_metrics_collect_sinks(struct sift_buf *out, void *sinks);

/** arg: const struct sift_config *.  Configured limits (buffer size...). */
void sift_metrics_collect_config(struct sift_buf *out, void *cfg);

/**
 * arg: struct sift_metrics_sources (below).  Per-source read/ack counts,
 * Kafka lag per partition, Redis pending per stream/list.
 */
struct sift_source;
struct sift_metrics_sources {
    struct sift_source *const *v; /* borrowed; may change between scrapes */
    size_t n;
};
void sift_metrics_collect_sources(struct sift_buf *out, void *sources);

#endif /* SIFT_METRICS_API_H */
