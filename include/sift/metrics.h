/*
 * metrics.h - Prometheus text exposition (format 0.0.4).
 *
 * Pull model: modules keep their own counters (plain or atomic fields in
 * their stats structs) and register a collector; GET /metrics runs every
 * collector on the loop thread, and each collector writes its families
 * with sift_metrics_family() and samples with sift_metrics_sample().
 * Latency distributions use struct sift_histogram, which any thread may
 * observe into (atomics) and a collector renders.
 *
 * Names follow Prometheus conventions: sift_<what>_<unit>[_total], base
 * units (seconds, bytes).  Label values are escaped here.
 */
#ifndef SIFT_METRICS_H
#define SIFT_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"

struct sift_metrics;

enum sift_metric_type {
    SIFT_METRIC_COUNTER,
    SIFT_METRIC_GAUGE,
    SIFT_METRIC_HISTOGRAM,
};

/** Writes this collector's families into out.  Loop thread. */
typedef void (*sift_metrics_collect_cb)(struct sift_buf *out, void *arg);

/** Creates an empty registry. */
int sift_metrics_new(struct sift_metrics **out);
void sift_metrics_free(struct sift_metrics *m);
/** Adds a collector; borrows arg until sift_metrics_free().  Loop thread. */
void sift_metrics_register(struct sift_metrics *m, sift_metrics_collect_cb cb,
                           void *arg);
/** Runs every collector in registration order; appends to out. */
void sift_metrics_render(struct sift_metrics *m, struct sift_buf *out);

/** Writes the "# HELP" and "# TYPE" lines of one family. */
void sift_metrics_family(struct sift_buf *out, const char *name,
                         enum sift_metric_type type, const char *help);
/**
 * Writes one sample line: name{labels} value.  labels is NULL or a
 * NULL-terminated list of key, value, key, value...; values are escaped.
 */
void sift_metrics_sample(struct sift_buf *out, const char *name,
                         const char *const *labels, double value);

#define SIFT_HISTOGRAM_MAX_BUCKETS 24

/**
 * A histogram with fixed upper bounds (seconds, bytes...).  Observations
 * from any thread; rendering is a consistent-enough read (each bucket is
 * read atomically; the count is derived from the buckets).
 */
struct sift_histogram {
    size_t n_bounds;
    double bounds[SIFT_HISTOGRAM_MAX_BUCKETS];
    atomic_uint_fast64_t counts[SIFT_HISTOGRAM_MAX_BUCKETS + 1]; /* +Inf */
    _Atomic double sum;
};

/** Initialises h with ascending bounds (at most SIFT_HISTOGRAM_MAX_BUCKETS). */
void sift_histogram_init(struct sift_histogram *h, const double *bounds,
                         size_t n_bounds);
/** The default latency buckets: 0.5 ms .. 30 s. */
void sift_histogram_init_latency(struct sift_histogram *h);
/** Records one value.  Any thread. */
void sift_histogram_observe(struct sift_histogram *h, double v);
/**
 * Writes the _bucket/_sum/_count samples of h under name with optional
 * extra labels (as in sift_metrics_sample()).  The family line is the
 * caller's (once per name).
 */
void sift_histogram_render(const struct sift_histogram *h, struct sift_buf *out,
                           const char *name, const char *const *labels);

#endif /* SIFT_METRICS_H */
