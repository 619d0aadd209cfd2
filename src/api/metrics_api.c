/*
 * metrics_api.c - GET /metrics and the collectors behind it.
 *
 * What: renders the struct sift_metrics registry in the Prometheus text
 * format 0.0.4 and provides collectors: the process (RSS, virtual memory,
 * CPU, open and max fds, start time; the standard process_* names every
 * Prometheus client library uses, so stock dashboards work), build info
 * and uptime, query latency per endpoint, alert transitions, WAL fsync
 * latency, and collectors over other modules' stats (store, pipeline,
 * anomaly ring, alert sinks, config, ingest sources).
 *
 * Design: pull model.  Latency histograms live in the object's fixed
 * table of 32 endpoints: a slot is claimed once under a mutex and
 * published with a release store of its "ready" flag, so observations
 * after that are lock-free atomics (struct sift_histogram).  Other
 * modules keep their own counters (the anomaly service its alert
 * transitions, the store its WAL fsync histogram) and the collectors
 * here only render them.  Each family is written once
 * per scrape with its HELP/TYPE lines even when it has no samples yet, so
 * the set of names is stable from the first scrape on.
 *
 * Invariants: one family name is written by one collector only;
 * counters never go down (they come from monotonic stats fields).
 *
 * Threads: the handler and collectors run on the loop; the observe
 * functions on any thread, while the object lives.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/anomaly_service.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/metrics.h"
#include "sift/metrics_api.h"
#include "sift/pipeline.h"
#include "sift/segment.h"
#include "sift/sinks.h"
#include "sift/source.h"
#include "sift/store.h"

#define MAX_ENDPOINTS 32
#define ENDPOINT_NAME_MAX 32

struct endpoint {
    atomic_int ready; /* 1 once name and histogram are initialised */
    char name[ENDPOINT_NAME_MAX];
    struct sift_histogram latency;
    atomic_uint_fast64_t errors;
};

struct sift_metrics_api {
    struct endpoint endpoints[MAX_ENDPOINTS];
    pthread_mutex_t endpoints_lock;
    int64_t start_wall_ns; /* when the API was created (fallback) */
};

/* ------------------------------------------------------------------ */
/* Observations (any thread)                                            */
/* ------------------------------------------------------------------ */

static struct endpoint *
endpoint_get(struct sift_metrics_api *api, const char *name)
{
    struct endpoint *endpoints = api->endpoints;
    if (!name || !*name)
        name = "other";
    size_t len = strnlen(name, ENDPOINT_NAME_MAX - 1);
    for (size_t i = 0; i < MAX_ENDPOINTS; i++) {
        struct endpoint *e = &endpoints[i];
        if (!atomic_load_explicit(&e->ready, memory_order_acquire))
            break;
        if (strncmp(e->name, name, len) == 0 && e->name[len] == '\0')
            return e;
    }
    pthread_mutex_lock(&api->endpoints_lock);
    struct endpoint *found = NULL;
    for (size_t i = 0; i < MAX_ENDPOINTS && !found; i++) {
        struct endpoint *e = &endpoints[i];
        if (!atomic_load_explicit(&e->ready, memory_order_relaxed)) {
            /* The last slot is kept for "other", so no count is lost. */
            const char *nm = i == MAX_ENDPOINTS - 1 ? "other" : name;
            size_t nl = i == MAX_ENDPOINTS - 1 ? 5 : len;
            memcpy(e->name, nm, nl);
            e->name[nl] = '\0';
            sift_histogram_init_latency(&e->latency);
            atomic_init(&e->errors, 0);
            atomic_store_explicit(&e->ready, 1, memory_order_release);
            found = e;
        } else if ((strncmp(e->name, name, len) == 0 && e->name[len] == '\0') ||
                   i == MAX_ENDPOINTS - 1) {
            found = e;
        }
    }
    pthread_mutex_unlock(&api->endpoints_lock);
    return found;
}

void
sift_metrics_api_observe_query(struct sift_metrics_api *api,
                               const char *endpoint, double seconds)
{
    struct endpoint *e = api ? endpoint_get(api, endpoint) : NULL;
    if (e)
        sift_histogram_observe(&e->latency, seconds < 0 ? 0 : seconds);
}

void
sift_metrics_api_count_query_error(struct sift_metrics_api *api,
                                   const char *endpoint)
{
    struct endpoint *e = api ? endpoint_get(api, endpoint) : NULL;
    if (e)
        atomic_fetch_add_explicit(&e->errors, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Own collectors                                                       */
/* ------------------------------------------------------------------ */

static void
collect_queries(struct sift_buf *out, void *arg)
{
    struct sift_metrics_api *api = arg;
    struct endpoint *endpoints = api->endpoints;
    sift_metrics_family(out, "sift_query_duration_seconds",
                        SIFT_METRIC_HISTOGRAM,
                        "Query latency per API endpoint, from request to "
                        "reply.");
    for (size_t i = 0; i < MAX_ENDPOINTS; i++) {
        struct endpoint *e = &endpoints[i];
        if (!atomic_load_explicit(&e->ready, memory_order_acquire))
            break;
        const char *labels[] = {"endpoint", e->name, NULL};
        sift_histogram_render(&e->latency, out, "sift_query_duration_seconds",
                              labels);
    }
    sift_metrics_family(out, "sift_query_errors_total", SIFT_METRIC_COUNTER,
                        "Queries answered with an error, per API endpoint.");
    for (size_t i = 0; i < MAX_ENDPOINTS; i++) {
        struct endpoint *e = &endpoints[i];
        if (!atomic_load_explicit(&e->ready, memory_order_acquire))
            break;
        const char *labels[] = {"endpoint", e->name, NULL};
        sift_metrics_sample(out, "sift_query_errors_total", labels,
                            (double)atomic_load(&e->errors));
    }
}

void
sift_metrics_collect_alerts(struct sift_buf *out, void *service)
{
    static const char *const evs[SIFT_ANOMALY_N_EVENTS] = {"unknown", "fire",
                                                           "update", "resolve"};
    uint64_t counts[SIFT_ANOMALY_N_EVENTS][SIFT_ANOMALY_N_KINDS];
    sift_anomaly_service_alert_counts(service, counts);
    sift_metrics_family(out, "sift_alerts_total", SIFT_METRIC_COUNTER,
                        "Alert transitions raised by the anomaly detector "
                        "(event fire = an alert fired).");
    for (int e = 0; e < SIFT_ANOMALY_N_EVENTS; e++)
        for (int k = 0; k < SIFT_ANOMALY_N_KINDS; k++) {
            uint64_t v = counts[e][k];
            /* Fired alerts of each kind always show (0 is informative). */
            if (v == 0 && !(e == SIFT_ALERT_EV_FIRE && k > 0))
                continue;
            const char *labels[] = {
                "kind",
                k ? sift_alert_kind_name((enum sift_alert_kind)k) : "unknown",
                "event", evs[e], NULL};
            sift_metrics_sample(out, "sift_alerts_total", labels, (double)v);
        }
}

void
sift_metrics_collect_wal_fsync(struct sift_buf *out, void *store)
{
    sift_metrics_family(out, "sift_wal_fsync_duration_seconds",
                        SIFT_METRIC_HISTOGRAM,
                        "Duration of WAL fsyncs (group commits).");
    sift_histogram_render(sift_store_wal_fsync_histogram(store), out,
                          "sift_wal_fsync_duration_seconds", NULL);
}

/* Process start from /proc/self/stat (field 22) and /proc/stat btime. */
static double
process_start_seconds(int64_t fallback_ns)
{
    double start = (double)fallback_ns / 1e9;
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f)
        return start;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces: fields start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return start;
    unsigned long long ticks = 0;
    int field = 2;
    for (char *tok = p + 1; *tok && field < 22; tok++)
        if (*tok == ' ' && ++field == 22)
            ticks = strtoull(tok + 1, NULL, 10);
    f = fopen("/proc/stat", "r");
    if (!f || ticks == 0) {
        if (f)
            fclose(f);
        return start;
    }
    unsigned long long btime = 0;
    char line[256];
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "btime ", 6) == 0)
            btime = strtoull(line + 6, NULL, 10);
    fclose(f);
    long hz = sysconf(_SC_CLK_TCK);
    if (btime == 0 || hz <= 0)
        return start;
    return (double)btime + (double)ticks / (double)hz;
}

static double
process_cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
collect_process(struct sift_buf *out, void *arg)
{
    long page = sysconf(_SC_PAGESIZE);
    unsigned long long vsz = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%llu %llu", &vsz, &rss) != 2)
            vsz = rss = 0;
        fclose(f);
    }
    double fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                fds++;
        closedir(d);
        fds -= 1; /* the directory stream's own fd */
    }
    struct rlimit rl;
    double max_fds =
        getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
            ? (double)rl.rlim_cur
            : 0;
    const struct sift_metrics_api *api = arg;
    double start = process_start_seconds(api->start_wall_ns);
    double now = (double)sift_clock_now_ns() / 1e9;

    sift_metrics_family(out, "process_resident_memory_bytes", SIFT_METRIC_GAUGE,
                        "Resident set size in bytes.");
    sift_metrics_sample(out, "process_resident_memory_bytes", NULL,
                        (double)rss * (double)page);
    sift_metrics_family(out, "process_virtual_memory_bytes", SIFT_METRIC_GAUGE,
                        "Virtual memory size in bytes.");
    sift_metrics_sample(out, "process_virtual_memory_bytes", NULL,
                        (double)vsz * (double)page);
    sift_metrics_family(out, "process_cpu_seconds_total", SIFT_METRIC_COUNTER,
                        "User and system CPU time spent in seconds.");
    sift_metrics_sample(out, "process_cpu_seconds_total", NULL,
                        process_cpu_seconds());
    sift_metrics_family(out, "process_open_fds", SIFT_METRIC_GAUGE,
                        "Number of open file descriptors.");
    sift_metrics_sample(out, "process_open_fds", NULL, fds);
    if (max_fds > 0) {
        sift_metrics_family(out, "process_max_fds", SIFT_METRIC_GAUGE,
                            "Maximum number of open file descriptors.");
        sift_metrics_sample(out, "process_max_fds", NULL, max_fds);
    }
    sift_metrics_family(out, "process_start_time_seconds", SIFT_METRIC_GAUGE,
                        "Start time of the process since the Unix epoch in "
                        "seconds.");
    sift_metrics_sample(out, "process_start_time_seconds", NULL, start);
    sift_metrics_family(out, "sift_uptime_seconds", SIFT_METRIC_GAUGE,
                        "Seconds since siftd started.");
    sift_metrics_sample(out, "sift_uptime_seconds", NULL,
                        now > start ? now - start : 0);
    sift_metrics_family(out, "sift_build_info", SIFT_METRIC_GAUGE,
                        "Build information; the value is always 1.");
#ifdef SIFT_VERSION
    const char *labels[] = {"version", SIFT_VERSION, "allocator",
                            sift_alloc_name(), NULL};
#else
    const char *labels[] = {"version", "unknown", "allocator",
                            sift_alloc_name(), NULL};
#endif
    sift_metrics_sample(out, "sift_build_info", labels, 1);

    struct sift_alloc_stats as;
    if (sift_alloc_stats(&as) == 0) {
        sift_metrics_family(out, "sift_heap_in_use_bytes", SIFT_METRIC_GAUGE,
                            "Bytes the allocator has handed out and not got "
                            "back.");
        sift_metrics_sample(out, "sift_heap_in_use_bytes", NULL,
                            (double)as.in_use);
        sift_metrics_family(out, "sift_heap_free_bytes", SIFT_METRIC_GAUGE,
                            "Bytes the allocator holds beyond those in use "
                            "(freed but kept, metadata); high against "
                            "in-use means fragmentation.");
        sift_metrics_sample(out, "sift_heap_free_bytes", NULL, (double)as.free);
    }
}

/* ------------------------------------------------------------------ */
/* Collectors over other modules                                        */
/* ------------------------------------------------------------------ */

static void
gauge(struct sift_buf *out, const char *name, const char *help, double v)
{
    sift_metrics_family(out, name, SIFT_METRIC_GAUGE, help);
    sift_metrics_sample(out, name, NULL, v);
}

static void
counter(struct sift_buf *out, const char *name, const char *help, double v)
{
    sift_metrics_family(out, name, SIFT_METRIC_COUNTER, help);
    sift_metrics_sample(out, name, NULL, v);
}

void
sift_metrics_collect_store(struct sift_buf *out, void *store)
{
    struct sift_store_stats st;
    memset(&st, 0, sizeof(st));
    sift_store_stats(store, &st);

    /* Segments, bytes and docs per tier, from one snapshot. */
    static const char *const tiers[] = {"hot", "warm", "cold"};
    double segs[3] = {0}, bytes[3] = {0}, docs[3] = {0};
    struct sift_snapshot *snap = sift_store_snapshot(store);
    size_t n = snap ? sift_snapshot_count(snap) : 0;
    for (size_t i = 0; i < n; i++) {
        struct sift_segment *seg = sift_snapshot_segment(snap, i);
        unsigned t = sift_segment_tier(seg);
        if (t > 2)
            t = 2;
        segs[t]++;
        bytes[t] += (double)sift_segment_bytes(seg);
        docs[t] += sift_segment_doc_count(seg);
    }
    if (snap)
        sift_snapshot_release(snap);
    sift_metrics_family(out, "sift_segments", SIFT_METRIC_GAUGE,
                        "Searchable segments per tier.");
    for (int t = 0; t < 3; t++) {
        const char *l[] = {"tier", tiers[t], NULL};
        sift_metrics_sample(out, "sift_segments", l, segs[t]);
    }
    sift_metrics_family(out, "sift_segment_bytes", SIFT_METRIC_GAUGE,
                        "Bytes of searchable segments per tier.");
    for (int t = 0; t < 3; t++) {
        const char *l[] = {"tier", tiers[t], NULL};
        sift_metrics_sample(out, "sift_segment_bytes", l, bytes[t]);
    }
    sift_metrics_family(out, "sift_segment_docs", SIFT_METRIC_GAUGE,
                        "Docs in searchable segments per tier.");
    for (int t = 0; t < 3; t++) {
        const char *l[] = {"tier", tiers[t], NULL};
        sift_metrics_sample(out, "sift_segment_docs", l, docs[t]);
    }
    sift_metrics_family(out, "sift_store_segments", SIFT_METRIC_GAUGE,
                        "Segments by where they live (memory = sealed, not "
                        "yet flushed).");
    const char *lm[] = {"location", "memory", NULL};
    const char *ld[] = {"location", "disk", NULL};
    sift_metrics_sample(out, "sift_store_segments", lm,
                        (double)st.segments_mem);
    sift_metrics_sample(out, "sift_store_segments", ld,
                        (double)st.segments_disk);
    sift_metrics_family(out, "sift_store_bytes", SIFT_METRIC_GAUGE,
                        "Segment bytes by where they live.");
    sift_metrics_sample(out, "sift_store_bytes", lm, (double)st.bytes_mem);
    sift_metrics_sample(out, "sift_store_bytes", ld, (double)st.bytes_disk);
    gauge(out, "sift_store_docs", "Searchable docs.", (double)st.docs);
    gauge(out, "sift_buffer_docs", "Docs in the buffer, not yet searchable.",
          (double)st.docs_buffered);
    gauge(out, "sift_buffer_bytes", "Bytes held in the ingest buffer.",
          (double)st.buffer_bytes);
    gauge(out, "sift_buffer_full",
          "1 while appends are refused (buffer over buffer_max_bytes or "
          "disk full).",
          sift_store_is_full(store) ? 1 : 0);
    gauge(out, "sift_wal_bytes", "Bytes in the write-ahead log.",
          (double)st.wal_bytes);
    counter(out, "sift_wal_fsyncs_total", "WAL fsyncs.", (double)st.wal_fsyncs);
    gauge(out, "sift_wal_last_fsync_seconds",
          "Duration of the most recent WAL fsync.",
          (double)st.last_fsync_ns / 1e9);
    counter(out, "sift_flushes_total", "Flushes of in-memory segments to disk.",
            (double)st.flushes);
    counter(out, "sift_segment_build_cpu_seconds_total",
            "Worker CPU time spent building segments from the buffer.",
            (double)st.build_cpu_ns / 1e9);
    counter(out, "sift_merge_cpu_seconds_total",
            "Worker CPU time spent in merges and tier moves (failed ones "
            "included).",
            (double)st.merge_cpu_ns / 1e9);
    gauge(out, "sift_segments_quarantined",
          "Files in quarantine/ (corrupt segments, damaged WAL files, files "
          "a manifest rebuild set aside).",
          (double)st.quarantined);
    gauge(out, "sift_segments_unplaced",
          "Segment files kept on disk that MANIFEST does not list (siftd "
          "repair places them).",
          (double)st.unplaced);
    counter(out, "sift_wal_records_lost_total",
            "WAL records not yet in segments that could not be read at "
            "start (damage); their events are lost.",
            (double)st.wal_records_lost);
    counter(out, "sift_store_appends_rejected_total",
            "Appends refused by the store (buffer full or disk full).",
            (double)st.appends_rejected);
}

void
sift_metrics_collect_pipeline(struct sift_buf *out, void *pipeline)
{
    size_t n = 0;
    const struct sift_pipeline_source_stats *s =
        sift_pipeline_stats(pipeline, &n);
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"sift_events_ingested_total", "Events accepted into the store.",
         offsetof(struct sift_pipeline_source_stats, events)},
        {"sift_ingested_bytes_total", "Raw bytes of accepted events.",
         offsetof(struct sift_pipeline_source_stats, bytes)},
        {"sift_events_rejected_total",
         "Inputs rejected (unparseable or over a limit).",
         offsetof(struct sift_pipeline_source_stats, rejected)},
        {"sift_events_dead_lettered_total",
         "Rejected inputs written to the dead-letter store.",
         offsetof(struct sift_pipeline_source_stats, dead_lettered)},
        {"sift_batches_refused_total",
         "Batches the store refused (busy or disk full).",
         offsetof(struct sift_pipeline_source_stats, refused)},
        {"sift_events_expired_total",
         "Events older than tiers.retention on arrival (dead-lettered).",
         offsetof(struct sift_pipeline_source_stats, expired)},
        {"sift_events_future_clamped_total",
         "Events past ingest.max_future stored at their arrival time.",
         offsetof(struct sift_pipeline_source_stats, future_clamped)},
        {"sift_events_future_rejected_total",
         "Events past ingest.max_future dead-lettered.",
         offsetof(struct sift_pipeline_source_stats, future_rejected)},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        sift_metrics_family(out, fams[f].name, SIFT_METRIC_COUNTER,
                            fams[f].help);
        for (size_t i = 0; i < n; i++) {
            char name[sizeof(s[i].name) + 1];
            memcpy(name, s[i].name, sizeof(s[i].name));
            name[sizeof(s[i].name)] = '\0';
            uint64_t v;
            memcpy(&v, (const char *)&s[i] + fams[f].off, sizeof(v));
            const char *l[] = {"source", name, NULL};
            sift_metrics_sample(out, fams[f].name, l, (double)v);
        }
    }
}

void
sift_metrics_collect_anomaly(struct sift_buf *out, void *anomaly)
{
    counter(out, "sift_anomaly_ring_dropped_total",
            "Records dropped because the anomaly ring was full.",
            (double)sift_anomaly_dropped(anomaly));
    counter(out, "sift_anomaly_late_records_total",
            "Records not scored: the event happened more than "
            "anomaly.max_lateness before it arrived.",
            (double)sift_anomaly_late(anomaly));
}

void
sift_metrics_collect_sinks(struct sift_buf *out, void *sinks)
{
    struct sift_sinks_stats st;
    memset(&st, 0, sizeof(st));
    sift_alert_sinks_stats(sinks, &st);
    /* One row per sink (configured or not), so the series always exist. */
    sift_metrics_family(out, "sift_alert_deliveries_total", SIFT_METRIC_COUNTER,
                        "Alert notifications per sink: delivered (sent) or "
                        "given up and dead-lettered (failed).");
    for (int i = 0; i < SIFT_SINK_COUNT; i++) {
        const char *name = sift_sink_name((enum sift_sink_id)i);
        const char *ls[] = {"sink", name, "outcome", "sent", NULL};
        const char *lf[] = {"sink", name, "outcome", "failed", NULL};
        sift_metrics_sample(out, "sift_alert_deliveries_total", ls,
                            (double)st.sink[i].sent);
        sift_metrics_sample(out, "sift_alert_deliveries_total", lf,
                            (double)st.sink[i].dead);
    }
    static const struct {
        const char *name, *help;
        enum sift_metric_type type;
        size_t off;
    } fams[] = {
        {"sift_alert_delivery_failed_tries_total",
         "Tries that failed (each is retried or dead-lettered).",
         SIFT_METRIC_COUNTER, offsetof(struct sift_sink_stats, tries_failed)},
        {"sift_alert_delivery_retries_total",
         "Tries after a notification's first.", SIFT_METRIC_COUNTER,
         offsetof(struct sift_sink_stats, retries)},
        {"sift_alert_outbox_pending",
         "Notifications in the sink's outbox (queued or in flight).",
         SIFT_METRIC_GAUGE, offsetof(struct sift_sink_stats, pending)},
        {"sift_alert_outbox_damaged_lines",
         "Damaged outbox lines skipped at start (file kept in quarantine/).",
         SIFT_METRIC_GAUGE, offsetof(struct sift_sink_stats, damaged)},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        sift_metrics_family(out, fams[f].name, fams[f].type, fams[f].help);
        for (int i = 0; i < SIFT_SINK_COUNT; i++) {
            const char *l[] = {"sink", sift_sink_name((enum sift_sink_id)i),
                               NULL};
            uint64_t v;
            memcpy(&v, (const char *)&st.sink[i] + fams[f].off, sizeof(v));
            sift_metrics_sample(out, fams[f].name, l, (double)v);
        }
    }
    counter(out, "sift_alert_webhook_retries_total",
            "Webhook re-sends after a failed attempt.",
            (double)st.webhook_retries);
}

void
sift_metrics_collect_config(struct sift_buf *out, void *cfg)
{
    const struct sift_config *c = cfg;
    gauge(out, "sift_buffer_max_bytes",
          "Configured store.buffer_max_bytes (sift_buffer_bytes / this = "
          "buffer fill).",
          (double)c->buffer_max_bytes);
    gauge(out, "sift_query_max_concurrent",
          "Configured query.max_concurrent_queries.",
          (double)c->max_concurrent_queries);
}

struct part_ctx {
    struct sift_buf *out;
    const char *family;
    const char *source;
    int kafka; /* 1: Kafka lag rows, 0: Redis pending rows */
};

static void
part_sample(void *arg, const struct sift_source_part *part)
{
    struct part_ctx *c = arg;
    int is_kafka = strncmp(part->key, "kafka/", 6) == 0;
    if (is_kafka != c->kafka || part->lag < 0)
        return;
    const char *l[] = {"source", c->source, "partition", part->key, NULL};
    sift_metrics_sample(c->out, c->family, l, (double)part->lag);
}

void
sift_metrics_collect_sources(struct sift_buf *out, void *sources)
{
    const struct sift_metrics_sources *ss = sources;
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"sift_source_messages_read_total", "Messages taken off the broker.",
         offsetof(struct sift_source_stats, msgs_read)},
        {"sift_source_messages_acked_total",
         "Messages acknowledged to the broker after the WAL fsync.",
         offsetof(struct sift_source_stats, msgs_acked)},
        {"sift_source_reconnects_total", "Broker connections re-established.",
         offsetof(struct sift_source_stats, reconnects)},
        {"sift_source_messages_truncated_total",
         "Messages cut at syslog.max_message_bytes.",
         offsetof(struct sift_source_stats, truncated)},
        {"sift_source_connections_refused_total",
         "Connections closed at once: syslog.max_connections reached.",
         offsetof(struct sift_source_stats, refused_conns)},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        sift_metrics_family(out, fams[f].name, SIFT_METRIC_COUNTER,
                            fams[f].help);
        for (size_t i = 0; i < ss->n; i++) {
            struct sift_source_stats st;
            memset(&st, 0, sizeof(st));
            sift_source_stats(ss->v[i], &st);
            uint64_t v;
            memcpy(&v, (const char *)&st + fams[f].off, sizeof(v));
            const char *l[] = {"source", sift_source_label(ss->v[i]), NULL};
            sift_metrics_sample(out, fams[f].name, l, (double)v);
        }
    }
    sift_metrics_family(out, "sift_kafka_consumer_lag", SIFT_METRIC_GAUGE,
                        "Messages behind the end of each Kafka partition.");
    for (size_t i = 0; i < ss->n; i++) {
        struct part_ctx c = {out, "sift_kafka_consumer_lag",
                             sift_source_label(ss->v[i]), 1};
        sift_source_parts(ss->v[i], part_sample, &c);
    }
    sift_metrics_family(out, "sift_redis_pending", SIFT_METRIC_GAUGE,
                        "Entries waiting in each Redis stream or list.");
    for (size_t i = 0; i < ss->n; i++) {
        struct part_ctx c = {out, "sift_redis_pending",
                             sift_source_label(ss->v[i]), 0};
        sift_source_parts(ss->v[i], part_sample, &c);
    }
}

/* ------------------------------------------------------------------ */
/* GET /metrics                                                         */
/* ------------------------------------------------------------------ */

static void
on_metrics(struct sift_http_req *req, void *arg)
{
    struct sift_metrics *m = arg;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_metrics_render(m, &b);
    sift_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                    b.data, b.len);
    sift_buf_cleanup(&b);
}

int
sift_metrics_api_new(struct sift_http *http, struct sift_metrics *m,
                     struct sift_metrics_api **out)
{
    struct sift_metrics_api *api = sift_xcalloc(1, sizeof(*api));
    pthread_mutex_init(&api->endpoints_lock, NULL);
    api->start_wall_ns = sift_clock_now_ns();
    sift_metrics_register(m, collect_process, api);
    sift_metrics_register(m, collect_queries, api);
    sift_http_route(http, "GET", "/metrics", 0, SIFT_ROLE_READER, on_metrics,
                    m);
    *out = api;
    return SIFT_OK;
}

void
sift_metrics_api_free(struct sift_metrics_api *api)
{
    if (api == NULL)
        return;
    pthread_mutex_destroy(&api->endpoints_lock);
    sift_free(api);
}
