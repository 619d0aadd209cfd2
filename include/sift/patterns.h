/*
 * patterns.h - "which templates do these events have": counts per
 * template id over the matching docs of a set of segments
 * (src/anomaly/patterns.c), the engine behind GET /api/v1/patterns.
 *
 * The filter is any query of the query language (include/sift/query.h,
 * docs/query-language.md), evaluated by the query engine.
 *
 * Pure and thread-safe: segments are immutable; runs on a worker.
 */
#ifndef SIFT_PATTERNS_H
#define SIFT_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

struct sift_buf;
struct sift_segment;
struct sift_anomaly_templates;

struct sift_patterns_opts {
    const char *q; /* query text (need not be NUL-terminated); NULL = all */
    size_t q_len;
    int64_t from_ns;          /* inclusive */
    int64_t to_ns;            /* exclusive */
    uint32_t size;            /* templates returned (top by count) */
    int64_t deadline_mono_ns; /* sift_clock_mono_ns() deadline; 0 = none */
    size_t max_query_bytes;   /* 0 = unlimited */
    uint64_t max_expansion;   /* terms per wildcard/regex; 0 = unlimited */
    int64_t interval_ns;      /* series bucket; 0 = about 60 buckets */
    int no_series;            /* leave the series out */
};

struct sift_patterns_error {
    int status;       /* HTTP status to answer */
    const char *type; /* the query engine's types ("query_parse", ...),
                         "timeout", "out_of_memory" */
    char reason[200];
};

/**
 * Counts the matching docs of segs[0..n) (borrowed) per template id and
 * appends {"patterns":[{"template_id":N,"template":"…"|null,"count":N,
 * "first_seen_ms":N,"last_seen_ms":N,"sample":"…","series":[[ms,N],…]},
 * …],"total":N,"distinct":N,"interval_ms":N} sorted by count (then id)
 * to out.  "sample" is the message of the newest matching doc of the
 * template; "template" comes from names (may be NULL; evicted ids give
 * null).  Ids merged into another template count under that template's
 * id (names resolves them; without names ids stay as stored).  "series"
 * has one [bucket start ms, count] per bucket of the query's range (an
 * open end is where the data starts or ends; no series and no
 * interval_ms when there is no data, or with no_series).  Docs without a
 * template id are counted under template_id 0.  Deleted docs never count.
 * What the query was read as or names in vain (sift_query_warning(),
 * sift_query_check_fields()) ends the object as "warnings":["…"], only
 * when there is any.  Returns SIFT_OK, or a negative code with err
 * filled: the query engine's (SIFT_EPARSE, SIFT_ELIMIT,
 * SIFT_ECORRUPT...), SIFT_EINVAL (400: more than 1000 buckets),
 * SIFT_ETIMEOUT (504) or SIFT_ENOMEM (503).  Any thread.
 */
int sift_patterns_run(struct sift_segment *const *segs, size_t n,
                      const struct sift_patterns_opts *opts,
                      struct sift_anomaly_templates *names,
                      struct sift_buf *out, struct sift_patterns_error *err);

#endif /* SIFT_PATTERNS_H */
