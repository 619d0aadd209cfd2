/*
 * lifecycle.h - tiers (hot, warm, cold), merges, retention and
 * delete-by-query: what Elasticsearch calls index lifecycle management.
 * User documentation: docs/lifecycle.md; design: docs/internals/lifecycle.md.
 *
 * The store runs the lifecycle by itself (a timer every
 * tiers.check_interval, jobs on the worker pool); these functions let the
 * daemon and tests look at it, force a check, and delete by query.
 *
 * Threads: every function here is loop-thread only unless it says
 * otherwise.
 */
#ifndef SIFT_LIFECYCLE_H
#define SIFT_LIFECYCLE_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

struct sift_buf;
struct sift_config;
struct sift_doc_key;
struct sift_segment;
struct sift_store;

/* ---- delete-by-query ---- */

/**
 * Finds the docs of seg matching query[0..len) with from_ns <= ts < to_ns.
 * *out receives a new bitmap (roaring_bitmap_free()), possibly empty.
 * Called with seg == NULL only to validate the query (then *out is left
 * NULL).  Returns SIFT_OK, SIFT_EPARSE (bad query), or a code.  Must be
 * callable from any thread at once.
 */
typedef int (*sift_delete_match_cb)(struct sift_segment *seg, const char *query,
                                    size_t len, int64_t from_ns, int64_t to_ns,
                                    roaring_bitmap_t **out);

/**
 * The built-in matcher, for a store given none (sift_store_deps.match):
 * space-separated terms, all required; "field:value" matches the field's
 * term (TEXT fields: every token of value), a bare word matches a token of
 * the message; an empty query matches everything in the range.
 */
int sift_store_match_simple(struct sift_segment *seg, const char *query,
                            size_t len, int64_t from_ns, int64_t to_ns,
                            roaring_bitmap_t **out);

/** rc is SIFT_OK with the number of events that matched, or an error. */
typedef void (*sift_delete_cb)(void *arg, int rc, uint64_t matched);

/* sift_store_delete() flags. */
#define SIFT_DELETE_FORCE_REWRITE 1u /* rewrite affected disk segments now */
#define SIFT_DELETE_DRY_RUN 2u       /* count what would go; change nothing */

/**
 * Deletes every event matching query in [from_ns, to_ns) that the store
 * holds now (buffer included).  The request is written to the WAL first,
 * so once cb reports SIFT_OK the delete survives a crash; the matching
 * events are gone from every snapshot published after that moment, all
 * at once (tombstones), and physically from disk at the next merge, or
 * right away with SIFT_DELETE_FORCE_REWRITE (affected segments are
 * rewritten in the background).  With SIFT_DELETE_DRY_RUN nothing
 * changes: cb gets the number of events the same request would delete
 * at that moment (the same matcher over the same events, in WAL order
 * after everything appended before it; a crash or restart drops it).
 * Borrows query during the call.  Returns SIFT_OK (cb will run once, on
 * the loop thread), SIFT_EPARSE (bad query: cb never runs),
 * SIFT_ESHUTDOWN, or an append error (SIFT_EBUSY, SIFT_ENOSPACE).
 */
int sift_store_delete(struct sift_store *store, const char *query, size_t len,
                      int64_t from_ns, int64_t to_ns, unsigned flags,
                      sift_delete_cb cb, void *arg);

/**
 * For each keys[i] (include/sift/store.h), found[i] = 1 when one of
 * segs[0..n) (borrowed) holds a live doc whose _index and _id fields are
 * exactly those bytes, else 0.  The _bulk create/index checks run it over
 * a snapshot.  Returns SIFT_OK, SIFT_ECORRUPT or SIFT_ENOMEM.  Any
 * thread.
 */
int sift_store_keys_find(struct sift_segment *const *segs, size_t n,
                         const struct sift_doc_key *keys, size_t n_keys,
                         uint8_t *found);

/* ---- running and looking ---- */

/** Runs the lifecycle policy now (as the timer does).  Loop thread. */
void sift_store_lifecycle_run(struct sift_store *store);

/** Non-zero while a lifecycle job or a delete is running or queued. */
int sift_store_lifecycle_busy(const struct sift_store *store);

/* What one tier holds (or the in-memory segments). */
struct sift_tier_stats {
    const char *name; /* "memory", "hot", "warm", "cold" */
    const char *path; /* its directory; NULL for memory.  Borrowed
                         from the store (valid while it is open). */
    uint64_t segments;
    uint64_t docs;         /* live docs */
    uint64_t deleted_docs; /* tombstoned, not yet dropped by a merge */
    uint64_t bytes;        /* on disk (memory: image bytes) */
    int has_range;         /* min_ts_ns/max_ts_ns are set */
    int64_t min_ts_ns, max_ts_ns;
    int has_ratio;            /* compression_ratio is set */
    double compression_ratio; /* raw bytes / stored bytes, where known */
};

#define SIFT_STORE_TIERS 4 /* memory, hot, warm, cold */

/* GET /api/v1/tiers as data (api/lifecycle_api.c renders it). */
struct sift_store_tiers {
    struct sift_tier_stats tier[SIFT_STORE_TIERS];
    int running; /* 0: no lifecycle (what follows is zero) */
    /* merges */
    int merging;              /* a merge is running: */
    const char *merge_reason; /* static text */
    const char *merge_target; /* tier name */
    size_t merge_inputs;
    size_t pending_commits, pending_rewrites;
    uint64_t merges_done, merges_aborted, merges_failed;
    uint64_t merge_bytes_in, merge_bytes_out, merge_docs;
    uint64_t merge_deleted_docs_dropped;
    int64_t merge_ns; /* time spent merging */
    uint64_t to_warm, to_cold;
    /* retention */
    int64_t last_retention_ns; /* 0 = never ran */
    uint64_t last_run_deleted_segments, deleted_segments, deleted_bytes;
    uint64_t size_cap_deleted_segments, size_cap_deleted_bytes;
    uint64_t expired_events;
    /* delete-by-query */
    uint64_t deletes_done, deleted_events;
    size_t deletes_pending;
};

/**
 * Fills *out with what each tier holds, the running and pending merges,
 * the last retention run and totals of merges and deletes.  Loop thread.
 */
void sift_store_tiers(struct sift_store *store, struct sift_store_tiers *out);

/**
 * Metrics collector (struct sift_metrics_collect_cb shape; arg is the
 * store): sift_tier_segments / _docs / _bytes {tier}, merge and
 * retention counters.  Loop thread.
 */
void sift_store_tiers_metrics(struct sift_buf *out, void *store);

#endif /* SIFT_LIFECYCLE_H */
