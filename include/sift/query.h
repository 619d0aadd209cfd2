/*
 * query.h - the query engine: query strings, search and aggregations.
 * It returns C structures; api/ renders them (include/sift/render.h).
 *
 * A query string (docs/query-language.md) is parsed once into an immutable
 * struct sift_query (the AST plus compiled regexes and pre-tokenized
 * words).  It is then evaluated against any number of immutable segments,
 * on any thread, concurrently: evaluation never modifies the query.
 *
 * Search and the aggregations are synchronous functions over an array of
 * segments (a snapshot, or segments a test built); the HTTP layer runs them
 * on a worker and replies on the loop.  Every limit breach is reported
 * through struct sift_query_error with the HTTP status to answer and an
 * error type, so the caller never has to guess.
 */
#ifndef SIFT_QUERY_H
#define SIFT_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "sift/buf.h"

struct sift_config;
struct sift_pool;
struct sift_segment;
struct sift_query;

/* ---- errors ---- */

/*
 * An error for the client.  type is a static string ("query_parse",
 * "too_many_terms", "query_too_long", "invalid_regex", "bad_request",
 * "too_many_hits", "timeout", "internal"); position is the byte offset in
 * the query string it refers to, or -1; status is the HTTP status (400,
 * 503, 500).
 */
struct sift_query_error {
    const char *type;
    char reason[200];
    int32_t position;
    int status;
};

/* ---- parsing ---- */

struct sift_query_limits {
    size_t max_query_bytes; /* 0 = unlimited */
    uint64_t max_expansion; /* terms one prefix/wildcard/regex may match */
};

/**
 * Parses s[0..len) (need not be NUL-terminated).  An empty or blank query
 * matches every doc.  lim may be NULL (no limits).  On success *out is an
 * owned query (release with sift_query_free()); on failure err is filled
 * (type "query_parse", "query_too_long" or "invalid_regex", with position)
 * and SIFT_EPARSE or SIFT_ELIMIT is returned.  Pure; any thread.
 */
int sift_query_parse(const char *s, size_t len,
                     const struct sift_query_limits *lim,
                     struct sift_query **out, struct sift_query_error *err);

/**
 * The docs of seg matching the query string s[0..len) whose time lies in
 * [from_ns, to_ns), minus deleted docs, as a new bitmap in *out (release
 * with roaring_bitmap_free()).  No deadline, no expansion limit: used by
 * delete-by-query, which validates the query first.  Has the shape of
 * sift_delete_match_cb (include/sift/lifecycle.h): with seg NULL it only
 * validates the query (out unused).  Returns SIFT_OK,
 * SIFT_EPARSE / SIFT_ELIMIT (bad query), SIFT_ECORRUPT or SIFT_ENOMEM.
 * Any thread.
 */
int sift_query_match_segment(struct sift_segment *seg, const char *s,
                             size_t len, int64_t from_ns, int64_t to_ns,
                             roaring_bitmap_t **out);

/**
 * Like sift_query_match_segment() for an already parsed q, with the
 * search limits: stops at deadline_mono_ns (sift_clock_mono_ns(); 0 =
 * none) and caps wildcard/regex expansion at max_expansion (0 = none).
 * For callers that aggregate their own way (/api/v1/patterns).  Returns
 * SIFT_OK, SIFT_ETIMEOUT (deadline; *out NULL), or SIFT_ELIMIT /
 * SIFT_ECORRUPT / SIFT_ENOMEM with err filled.  Any thread.
 */
int sift_query_match_parsed(const struct sift_query *q,
                            const struct sift_segment *seg, int64_t from_ns,
                            int64_t to_ns, int64_t deadline_mono_ns,
                            uint64_t max_expansion, roaring_bitmap_t **out,
                            struct sift_query_error *err);

/**
 * The smallest "nice" histogram interval (1 ms, 2, 5, 10 ... 1 s, 2 s, 5 s,
 * 10 s, 15 s, 30 s, 1 m ... 1 d, 2 d, 1 w, 30 d, 365 d) that is at least
 * at_least_ms, or 0 when it is past the largest.  Shared by the histogram
 * aggregation and the Grafana API so both pick the same buckets.  Pure.
 */
int64_t sift_query_nice_interval_ms(int64_t at_least_ms);

/**
 * Non-zero when q matches every event whatever the data: "*", the empty
 * query, and what boolean algebra reduces to them ("* OR x", "NOT NOT *",
 * "x OR NOT x", "-(a AND NOT a)").  Never non-zero for a query that can
 * miss an event; tautologies over field values are not searched for.
 * Delete-by-query asks for a confirmation when this holds.  Pure.
 */
int sift_query_matches_all(const struct sift_query *q);

/**
 * What the parser read differently from the letter of the query, as
 * sentences for the user ("'or' at 8 read as the operator OR ..."; a
 * boost '^2' ignored): at most 16, in query order.  Search replies carry
 * them as "warnings".  The strings belong to q.  Pure.
 */
size_t sift_query_warning_count(const struct sift_query *q);
const char *sift_query_warning(const struct sift_query *q, size_t i);

/**
 * Lists the ids that stand for the template of id (its own id first, then
 * ids merged into it) into ids[0..max); returns the count.  Must be
 * thread-safe: called wherever queries are parsed.
 */
typedef size_t (*sift_query_template_ids_cb)(void *arg, uint32_t id,
                                             uint32_t *ids, size_t max);

/**
 * Registers (fn non-NULL) or clears (fn NULL) the template-id lister:
 * while set, every parsed query's _template_id:N terms match all the ids
 * that stand for N's template (docs/anomaly.md, Ids).  Clearing waits for
 * calls in progress, so the caller may free arg afterwards.  Any thread.
 */
void sift_query_set_template_ids(sift_query_template_ids_cb fn, void *arg);

/**
 * Called per field the query names (field[0..len), borrowed; pos = the
 * byte offset of its clause).  Return non-zero to stop the walk.
 */
typedef int (*sift_query_field_cb)(const char *field, size_t len, uint32_t pos,
                                   void *arg);

/**
 * Calls cb for every clause of q that names a field ("service.name:x",
 * "status:>=500", "_exists_:f"), in query order; bare words (the default
 * field, message) are left out.  Returns cb's non-zero value or 0.  Pure.
 */
int sift_query_each_field(const struct sift_query *q, sift_query_field_cb cb,
                          void *arg);

/** Releases a parsed query.  NULL is fine. */
void sift_query_free(struct sift_query *q);

/**
 * Appends a canonical S-expression of the AST to out, e.g.
 * (and (term message "foo") (not (range status [500 *]))).  For tests,
 * logs and debugging; the format is documented in docs/internals/query.md.
 */
void sift_query_dump(const struct sift_query *q, struct sift_buf *out);

/**
 * Parses a time bound (docs/query-language.md, "Time range"): "now", RFC
 * 3339, a date without zone (UTC), or an epoch number whose unit comes
 * from its magnitude (s < 1e11 <= ms < 1e14 <= us < 1e17 <= ns, as ingest),
 * followed by date math: +N/-N with a unit (y M w d h H m s) and /unit
 * rounding down ("now-15m", "now/d", "2024-05-01||+1M").  now_ns is "now".
 * Returns SIFT_OK with *out_ns, or SIFT_EINVAL.  Pure.
 */
int sift_query_time_parse(const char *s, int64_t now_ns, int64_t *out_ns);

/**
 * Whether s is a valid time bound (whatever now is): SIFT_OK, or
 * SIFT_EINVAL with why[0..why_len) saying what is wrong and how to write
 * one.  For parameter tables.  Pure.
 */
int sift_query_time_explain(const char *s, char *why, size_t why_len);

/**
 * sift_query_time_parse() for the parameter called name; on failure fills
 * err (400 "bad_request", naming the parameter, the value and what is
 * wrong) and returns SIFT_EINVAL.  An empty or NULL s is an error.
 */
int sift_query_time_bound(const char *name, const char *s, int64_t now_ns,
                          int64_t *out_ns, struct sift_query_error *err);

/**
 * The one rule for reversed ranges: from_ns > to_ns is a 400
 * "invalid_time_range" naming both ends, as written and as resolved
 * (from == to is an empty range, not an error).  The names and texts are
 * what the user sent (e.g. "from", "now").  Returns SIFT_OK or
 * SIFT_EINVAL with err filled.
 */
int sift_query_time_check(const char *from_name, const char *from_text,
                          int64_t from_ns, const char *to_name,
                          const char *to_text, int64_t to_ns,
                          struct sift_query_error *err);

/**
 * Both bounds of a request: from (inclusive; NULL or "" = open) and to
 * (exclusive; NULL or "" = open), each parsed with sift_query_time_bound()
 * and checked with sift_query_time_check().  Returns SIFT_OK or
 * SIFT_EINVAL with err filled.
 */
int sift_query_time_range(const char *from, const char *to, int64_t now_ns,
                          int64_t *from_ns, int64_t *to_ns,
                          struct sift_query_error *err);

/* ---- search ---- */

#define SIFT_TIME_MIN INT64_MIN
#define SIFT_TIME_MAX INT64_MAX

struct sift_search_opts {
    int64_t from_ns;          /* inclusive; SIFT_TIME_MIN = open */
    int64_t to_ns;            /* exclusive; SIFT_TIME_MAX = open */
    uint32_t limit;           /* hits per page; 0 = count only */
    int oldest_first;         /* default newest first */
    const char *cursor;       /* from a previous page (NUL-terminated) */
    int64_t deadline_mono_ns; /* sift_clock_mono_ns() deadline; 0 = none */
    uint64_t max_expansion;   /* 0 = unlimited */
    /*
     * 0 = the total is exact.  N > 0: a query whose top-level phrases need
     * verifying against the doc store verifies only the docs the page
     * needs, then counts each segment's matches up to N (Elasticsearch's
     * track_total_hits); past that the total is a lower bound
     * (total_is_lower_bound, relation "gte").  Hits are the same either
     * way.
     */
    uint64_t track_total_hits;
    /* Segments are searched in parallel on this pool (NULL = on the
     * calling thread only); parallelism caps the threads used, caller
     * included (0 = the pool's size).  Results do not depend on it. */
    struct sift_pool *pool;
    unsigned parallelism;
};

/** Fills opts with defaults: open range, limit 100, newest first. */
void sift_search_opts_init(struct sift_search_opts *opts);

/*
 * One hit: the event's order key and its stored bytes.  (ts_ns, hash)
 * orders hits on every node alike (newest first: both descending), so
 * pages of several nodes merge by it; hash is the XXH3-64 of the encoded
 * event, which sift_query_hit_id() turns into the hit's "_id".
 */
struct sift_hit {
    int64_t ts_ns;
    uint64_t hash;
    size_t doc_off, doc_len; /* the encoded event (sift_doc_decode) in
                                sift_search_result.docs */
};

struct sift_search_result {
    struct sift_hit *hits; /* [n_hits], in the requested order */
    struct sift_buf docs;  /* the hits' encoded events, back to back */
    uint32_t n_hits;
    uint64_t total;           /* matches in the time range */
    int total_is_lower_bound; /* a timeout or track_total_hits cut the
                                 count short */
    int timed_out;
    char cursor[96]; /* "" when there is no next page */
};

void sift_search_result_init(struct sift_search_result *res);
void sift_search_result_cleanup(struct sift_search_result *res);

/**
 * Runs q over segs[0..n) (borrowed; in any order) and fills res.  Hits
 * are ordered by (time, content hash) newest (or oldest) first, the same
 * order for the same data however it is split into segments.  Deleted docs
 * never match.  A timeout (deadline_mono_ns) is not an error: the result
 * is partial and says so.  With opts->pool the segments are searched in
 * parallel on it, the calling thread taking part and blocking until all
 * are done (safe on a pool worker); the result is the same.  The
 * aggregations below behave the same way with sift_agg_opts.pool.  Returns
 * SIFT_OK, or a negative code with err filled (bad cursor, expansion limit,
 * corrupt segment, no memory).  Any thread.
 */
int sift_search_exec(struct sift_segment *const *segs, size_t n,
                     const struct sift_query *q,
                     const struct sift_search_opts *opts,
                     struct sift_search_result *res,
                     struct sift_query_error *err);

/**
 * The order key of a hit: reads its "_id" (s[0..len)) back into the
 * event's timestamp and content hash.  Hits are ordered by (ts, hash),
 * both descending newest-first and ascending oldest-first, on every node
 * alike, which is what lets a cluster merge pages (src/cluster/).
 * Returns SIFT_OK or SIFT_EINVAL (not an id this version writes).  Pure.
 */
int sift_query_hit_key(const char *s, size_t len, int64_t *ts_ns,
                       uint64_t *hash);
/**
 * Writes into out[0..cap) (cap >= 33) the search cursor that resumes just
 * past the event (ts_ns, hash) in the given order, skipping `skip` docs
 * with that exact key.  Pure.
 */
void sift_query_cursor_after(int64_t ts_ns, uint64_t hash, uint32_t skip,
                             int oldest_first, char *out, size_t cap);
/**
 * Reads a search cursor back.  Returns SIFT_OK or SIFT_EINVAL.  Pure.
 */
int sift_query_cursor_read(const char *s, int64_t *ts_ns, uint64_t *hash,
                           uint32_t *skip, int *oldest_first);

/* A hit's "_id": base64url (no padding) of {version, ts_ns, hash}. */
#define SIFT_HIT_ID_LEN 23

/** Writes the "_id" of the event (ts_ns, hash) into out.  Pure. */
void sift_query_hit_id(int64_t ts_ns, uint64_t hash,
                       char out[SIFT_HIT_ID_LEN + 1]);

/* ---- context: the events around one event (context.c) ---- */

/* Which events count as the anchor's neighbours. */
enum sift_context_by {
    SIFT_CONTEXT_AUTO,    /* source when the event names one, else service,
                             else all */
    SIFT_CONTEXT_SOURCE,  /* same host.name (or host) and log.file.path */
    SIFT_CONTEXT_SERVICE, /* same service.name (or service) */
    SIFT_CONTEXT_ALL,     /* every event */
};

struct sift_context_opts {
    const char *id;         /* the anchor's "_id" from a hit (borrowed) */
    uint32_t before, after; /* neighbours wanted on each side */
    enum sift_context_by by;
    int64_t deadline_mono_ns; /* as in sift_search_opts */
    uint64_t max_expansion;
    struct sift_pool *pool;
};

/** Defaults: 10 before, 10 after, by auto. */
void sift_context_opts_init(struct sift_context_opts *opts);
/** "auto", "source", "service", "all". */
const char *sift_context_by_name(enum sift_context_by by);
/** Parses one of those names; SIFT_OK or SIFT_EINVAL. */
int sift_context_by_parse(const char *s, enum sift_context_by *out);

/* The events around one event (sift_search_context). */
struct sift_context_result {
    struct sift_search_result anchor; /* one hit */
    struct sift_search_result before; /* newest first: [0] is the
                                         anchor's predecessor */
    struct sift_search_result after;  /* oldest first */
    enum sift_context_by by;          /* the grouping used (auto resolved) */
    char *query; /* the query string that selects the source (owned) */
    size_t query_len;
    int timed_out;
};

void sift_context_result_cleanup(struct sift_context_result *r);

/**
 * The events just before and just after the event opts->id, among those
 * of the same source (opts->by), in segs[0..n) (borrowed), into *out
 * (zeroed first).  Returns SIFT_OK, or a negative code with err filled:
 * 400 bad_request (malformed id; by asks for a field the event lacks),
 * 404 event_not_found, 500/503 segment or memory errors.  Any thread.
 */
int sift_search_context(struct sift_segment *const *segs, size_t n,
                        const struct sift_context_opts *opts,
                        struct sift_context_result *out,
                        struct sift_query_error *err);

/* ---- aggregations (agg.c) ---- */

struct sift_agg_opts {
    int64_t from_ns, to_ns; /* as in sift_search_opts */
    int64_t deadline_mono_ns;
    uint64_t max_expansion;
    const char *field;      /* terms / stats / histogram split ("by") */
    uint32_t size;          /* terms: buckets; histogram: series kept */
    int64_t interval_ms;    /* histogram; 0 = auto */
    char interval_unit;     /* histogram: 'w' (weeks from Monday), 'M' or
                               'y' (calendar months, years; interval_ms is
                               N * 30 d or N * 365 d), 0 = fixed width */
    struct sift_pool *pool; /* as in sift_search_opts */
    unsigned parallelism;
};

void sift_agg_opts_init(struct sift_agg_opts *opts);

/**
 * Parses a histogram interval: a duration ("500ms", "30s", "5m", "1h",
 * "2d"; bare numbers are ms) or N weeks, months or years ("1w", "3M",
 * "1y") as calendar units (see sift_agg_opts.interval_unit).  Returns
 * SIFT_OK with the nominal *ms and *unit ('w', 'M', 'y' or 0), or
 * SIFT_EINVAL.  Pure.
 */
int sift_query_interval_parse(const char *s, int64_t *ms, char *unit);

/*
 * Results.  The aggregations return C structures, never JSON: api/ renders
 * them (include/sift/render.h), and a node that fans a query out merges
 * them.  Every result is mergeable from partial results of disjoint
 * event sets: histogram counts are sums per bucket key, terms counts are
 * sums with an error bound, stats keep min/max/count/sum and a bottom-k
 * sample whose union, cut to the k smallest priorities, is the sample of
 * the union.  Strings are owned by the result; release with the matching
 * _cleanup (which leaves a zeroed result; cleanup of a zeroed result is
 * fine).
 */

/* Date histogram.  counts[b] events fall in [key_ns[b], key_ns[b+1]). */
struct sift_agg_histo_result {
    int64_t interval_ms; /* nominal width (calendar: N * 7, 30, 365 d) */
    char calendar_unit;  /* 'w', 'M', 'y', or 0 for fixed width */
    int64_t calendar_n;  /* N of the calendar unit ("3M"); 0 when fixed */
    uint32_t n_buckets;
    int64_t *key_ns;  /* [n_buckets] bucket starts, increasing */
    uint64_t *counts; /* [n_buckets] */
    /* Split by a field (sift_agg_opts.field): the n_series most frequent
     * values, most frequent first (ties by value), as the events spelled
     * them; series_counts[s * n_buckets + b]; other[b] sums the values
     * not kept (NULL when there were none).  n_series 0 without split. */
    int split;
    uint32_t n_series;
    char **series;
    size_t *series_len;
    uint64_t *series_counts;
    uint64_t *other;
    int timed_out;
};

/* One value of a terms aggregation. */
struct sift_agg_term {
    char *key; /* as the events spelled it */
    size_t key_len;
    uint64_t count;
};

struct sift_agg_terms_result {
    char *field;
    size_t field_len;
    struct sift_agg_term *buckets; /* by count desc, then key */
    size_t n_buckets;
    uint64_t other;   /* matches with a value not in buckets */
    uint64_t missing; /* matches without the field */
    /* Largest amount by which a count may be short: 0 on one node (every
     * value is counted); a merge of per-node top lists adds each node's
     * smallest kept count for the values that node did not list. */
    uint64_t count_error_bound;
    int timed_out;
};

/* A value of the stats sample with its priority (bottom-k sampling). */
struct sift_agg_sample {
    uint64_t prio; /* XXH3 of (segment index, doc id): uniform */
    double v;
};

struct sift_agg_stats_result {
    char *field;
    size_t field_len;
    uint64_t count; /* numeric values seen */
    double min, max, sum;
    /* The sample the percentiles come from: every value when count <=
     * SIFT_AGG_SAMPLE_MAX, else the SIFT_AGG_SAMPLE_MAX values of smallest
     * priority; in no particular order. */
    struct sift_agg_sample *sample;
    size_t n_sample;
    /* Linear interpolation between closest ranks of the sample (numpy's
     * default); 0 when count is 0.  exact: the sample is every value. */
    double p50, p90, p99;
    int percentiles_exact;
    int timed_out;
};

#define SIFT_AGG_SAMPLE_MAX 1000000u

/* One field of sift_agg_fields(). */
struct sift_agg_field {
    char *name;
    size_t name_len;
    unsigned kinds;       /* SIFT_SEGF_TEXT | _KEYWORD | _NUMBER */
    uint64_t cardinality; /* approximate: the largest per-segment count */
};

struct sift_agg_fields_result {
    struct sift_agg_field *v; /* sorted by name */
    size_t n;
};

void sift_agg_histo_result_cleanup(struct sift_agg_histo_result *r);
void sift_agg_terms_result_cleanup(struct sift_agg_terms_result *r);
void sift_agg_stats_result_cleanup(struct sift_agg_stats_result *r);
void sift_agg_fields_result_cleanup(struct sift_agg_fields_result *r);

/**
 * The pct-th percentile (0..100) of the sorted values v[0..n), n > 0, by
 * linear interpolation between closest ranks, rounded once, so decimal
 * answers come out as the double nearest to them (p90 of 95 and 812 is
 * 740.3).  For merges that rebuild percentiles from a merged sample.
 * Pure.
 */
double sift_agg_percentile(const double *v, size_t n, unsigned pct);

/**
 * Date histogram of q's matches into *out (zeroed first), empty buckets
 * included.  Fixed intervals are aligned on multiples since the epoch;
 * weeks start on Monday and months and years are calendar ones (UTC),
 * also when auto (interval_ms 0) picks them.  With opts->field, counts
 * are split by that keyword field; the opts->size most frequent values
 * are kept, the rest summed in other.  Returns SIFT_OK (a timeout sets
 * timed_out) or a negative code with err filled; *out is then empty.
 * Any thread.
 */
int sift_agg_histogram(struct sift_segment *const *segs, size_t n,
                       const struct sift_query *q,
                       const struct sift_agg_opts *opts,
                       struct sift_agg_histo_result *out,
                       struct sift_query_error *err);

/**
 * Top opts->size values of opts->field among q's matches into *out.
 * Same contract as sift_agg_histogram().
 */
int sift_agg_terms(struct sift_segment *const *segs, size_t n,
                   const struct sift_query *q, const struct sift_agg_opts *opts,
                   struct sift_agg_terms_result *out,
                   struct sift_query_error *err);

/**
 * Numeric stats of opts->field among q's matches into *out: count, min,
 * max, sum, and p50/p90/p99 from the sample (exact up to
 * SIFT_AGG_SAMPLE_MAX values, a uniform bottom-k sample beyond, the same
 * for any parallelism).  Same contract as sift_agg_histogram().
 */
int sift_agg_stats(struct sift_segment *const *segs, size_t n,
                   const struct sift_query *q, const struct sift_agg_opts *opts,
                   struct sift_agg_stats_result *out,
                   struct sift_query_error *err);

/**
 * The kinds (SIFT_SEGF_TEXT | SIFT_SEGF_KEYWORD | SIFT_SEGF_NUMBER, see
 * segment.h) field has across segs, aliases included (level ->
 * log.level); 0 when no segment has it, and then near[0..near_len) (may
 * be NULL) receives the closest field name the segments have ("" when
 * none is close).  stats refuses a field without numbers and terms and a
 * histogram's split a field that is only full text (400 "field_type").
 * Any thread.
 */
unsigned sift_agg_field_kinds(struct sift_segment *const *segs, size_t n,
                              const char *field, char *near, size_t near_len);

/**
 * Adds to q's warnings (sift_query_warning()) what would make a part of q
 * match nothing in segs without a word: a field no segment has ("no field
 * 'hots.name' in the data (did you mean 'host.name'?)", as the
 * aggregations say of theirs) and a range or comparison on a field that
 * holds no numbers.  The default field and names starting with '_' are
 * not checked; each field is named once.  Call before q is shared with
 * other threads (it allocates in q's arena).
 */
void sift_query_check_fields(struct sift_query *q,
                             struct sift_segment *const *segs, size_t n);

/**
 * The fields present in segs into *out (zeroed first), sorted by name.
 * Any thread.
 */
void sift_agg_fields(struct sift_segment *const *segs, size_t n,
                     struct sift_agg_fields_result *out);

#endif /* SIFT_QUERY_H */
