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

/* One template's count over the matching docs. */
struct sift_pattern {
    uint32_t template_id; /* 0: docs without a template id */
    char *text;           /* the template (heap); NULL: unknown or evicted */
    size_t text_len;
    uint64_t count;
    int64_t first_ns, last_ns; /* oldest and newest matching doc */
    char *sample; /* message of the newest matching doc (heap); NULL: it
                     does not decode */
    size_t sample_len;
    uint32_t *series; /* n_buckets counts (heap); NULL: all zero */
};

/* Release with sift_patterns_result_free(). */
struct sift_patterns_result {
    struct sift_pattern *v; /* sorted by count, then id; n long */
    uint32_t n;
    uint64_t total;    /* matching docs */
    uint32_t distinct; /* templates among them (may exceed n) */
    /* Series buckets: bucket b is [start_ns + b*interval_ns, +interval_ns);
     * n_buckets 0 = no series (no data, or no_series). */
    int64_t start_ns;
    int64_t interval_ns;
    uint32_t n_buckets;
    /* What the query was read as or names in vain (sift_query_warning(),
     * sift_query_check_fields()), copied (heap). */
    char **warnings;
    size_t n_warnings;
};

/**
 * Counts the matching docs of segs[0..n) (borrowed) per template id into
 * out (initialised here), the opts->size biggest sorted by count (then
 * id).  "sample" is the message of the newest matching doc of the
 * template; the text comes from names (may be NULL; evicted ids have
 * none).  Ids merged into another template count under that template's
 * id (names resolves them; without names ids stay as stored).  The series
 * has one bucket per interval of the query's range (an open end is where
 * the data starts or ends).  Docs without a template id are counted under
 * template_id 0.  Deleted docs never count.  api/render.c writes the
 * reply (sift_render_patterns()).  Returns SIFT_OK, or a negative code
 * with err filled and out empty: the query engine's (SIFT_EPARSE,
 * SIFT_ELIMIT, SIFT_ECORRUPT...), SIFT_EINVAL (400: more than 1000
 * buckets), SIFT_ETIMEOUT (504) or SIFT_ENOMEM (503).  Any thread.
 */
int sift_patterns_run(struct sift_segment *const *segs, size_t n,
                      const struct sift_patterns_opts *opts,
                      struct sift_anomaly_templates *names,
                      struct sift_patterns_result *out,
                      struct sift_patterns_error *err);

void sift_patterns_result_free(struct sift_patterns_result *r);

#endif /* SIFT_PATTERNS_H */
