/*
 * render.h - the JSON replies of the query engine's results.
 *
 * The engine (query/) returns C structures; these functions, in api/,
 * write the JSON the HTTP API answers with.  They append to a buffer and
 * never fail (sift_buf grows or aborts).  Byte for byte what the API has
 * always answered: docs/api.md documents the shapes.
 *
 * Threads: any; pure functions of their arguments.
 */
#ifndef SIFT_RENDER_H
#define SIFT_RENDER_H

#include "sift/buf.h"
#include "sift/query.h"

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

#endif /* SIFT_RENDER_H */
