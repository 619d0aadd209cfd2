/*
 * metrics_api.h - GET /metrics and the collectors that fill it.
 *
 * sift_metrics_api_register() serves the registry (include/sift/metrics.h)
 * in the Prometheus text format 0.0.4 and registers the collectors this
 * module owns: the process (process_* standard names, sift_build_info,
 * sift_uptime_seconds), query latency per endpoint, alerts fired, and WAL
 * fsync latency.  The collectors below for other modules' counters are
 * registered by main with sift_metrics_register(m, collector, object).
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

/**
 * Registers GET /metrics (role reader) rendering m, and the process,
 * query-latency, alert and WAL-fsync collectors into m.  Borrows m until
 * the server is freed.  Returns SIFT_OK.  Loop thread, at start-up.
 */
int sift_metrics_api_register(struct sift_http *http, struct sift_metrics *m);

/**
 * Records one query's latency under endpoint ("search", "histogram",
 * "grafana_query"...; at most 32 distinct names, longer than 31 bytes cut;
 * past 32 they count under "other").  Exported as the histogram
 * sift_query_duration_seconds{endpoint}.  Any thread; lock-free after the
 * first call per endpoint.
 */
void sift_api_observe_query(const char *endpoint, double seconds);

/** Counts a query that failed (sift_query_errors_total{endpoint}). */
void sift_api_count_query_error(const char *endpoint);

/**
 * Counts an alert transition (sift_alerts_total{kind,event}); ev is enum
 * sift_alert_event, kind enum sift_alert_kind.  Call where alerts reach
 * the loop.  Any thread.
 */
void sift_api_observe_alert(int ev, int kind);

/**
 * Records one WAL fsync's duration (sift_wal_fsync_duration_seconds).
 * Any thread; meant for the store's sync path.
 */
void sift_api_observe_wal_fsync(double seconds);

/* ---- collectors for sift_metrics_register(m, cb, arg) (loop thread) ---- */

/** arg: struct sift_store *.  Docs, segments and bytes per tier, WAL,
 * buffer, flushes, quarantine, refused appends. */
void sift_metrics_collect_store(struct sift_buf *out, void *store);

/** arg: struct sift_pipeline *.  Per-source events, bytes, rejects,
 * dead letters, refused batches. */
void sift_metrics_collect_pipeline(struct sift_buf *out, void *pipeline);

/** arg: struct sift_anomaly *.  Anomaly ring drops. */
void sift_metrics_collect_anomaly(struct sift_buf *out, void *anomaly);

/** arg: struct sift_alert_sinks *.  Alert deliveries per sink. */
void sift_metrics_collect_sinks(struct sift_buf *out, void *sinks);

/** arg: const struct sift_config *.  Configured limits (buffer size...). */
void sift_metrics_collect_config(struct sift_buf *out, void *cfg);

/**
 * arg: struct sift_metrics_sources (below).  Per-source read/ack counts,
 * Kafka lag per partition, Redis pending per stream/list.  Compiled in
 * only when include/sift/source.h exists (the ingest sources); otherwise
 * it writes nothing.
 */
struct sift_source;
struct sift_metrics_sources {
    struct sift_source *const *v; /* borrowed; may change between scrapes */
    size_t n;
};
void sift_metrics_collect_sources(struct sift_buf *out, void *sources);

#endif /* SIFT_METRICS_API_H */
