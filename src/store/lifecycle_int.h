/*
 * lifecycle_int.h - tiers, merges, retention and delete-by-query
 * (internal to the store module: tiers.c, segment_merge.c, lifecycle.c,
 * and the few hook calls in store.c).
 *
 * Pieces:
 *   - tiers.c: the pure policy.  Given the disk segments, the policy keys
 *     and "now", sift__tier_plan() says which segments to delete (retention,
 *     size cap) and which to merge into which tier.  No I/O, no state.
 *   - segment_merge.c: merging live docs of segments into new images with
 *     a tier's codec, and zstd dictionary training for the cold tier.  Uses
 *     only the public segment API.  Any thread.
 *   - lifecycle.c: runs the plan on workers and commits each step with a
 *     manifest swap; keeps live tombstones in sidecar files; the delete
 *     WAL record; /api/v1/tiers data and metrics.  Loop thread except the
 *     job bodies.
 */
#ifndef SIFT_STORE_LIFECYCLE_INT_H
#define SIFT_STORE_LIFECYCLE_INT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"
#include "sift/lifecycle.h"
#include "sift/segment.h"

struct sift_doc_key;
struct sift_store;
struct sift_manifest_seg;

#define SIFT_TIER_HOT 0
#define SIFT_TIER_WARM 1
#define SIFT_TIER_COLD 2
#define SIFT_TIER_COUNT 3

#define SIFT_NS_PER_DAY (INT64_C(86400) * INT64_C(1000000000))

/* ------------------------------------------------------------------ */
/* Policy (tiers.c)                                                    */
/* ------------------------------------------------------------------ */

struct sift_tier_policy {
    int64_t now_ns;
    int64_t hot_max_age_ns;      /* hot -> warm when max_ts is older */
    int64_t warm_max_age_ns;     /* -> cold when max_ts is older */
    int64_t retention_ns;        /* deleted when max_ts is older; 0 = keep */
    uint64_t max_disk_bytes;     /* 0 = no cap */
    uint64_t hot_segment_bytes;  /* hot merges stop at this size */
    uint64_t warm_segment_bytes; /* warm merges / moves stop at this size */
    unsigned merge_factor;       /* segments per tiered merge (>= 2) */
    /* Docs one merge can put in one output before tiers.merge_memory cuts
     * it (0 = unknown): tiered merges take only inputs that fit. */
    uint64_t merge_docs_cap;
};

/* One disk segment as the policy sees it. */
struct sift_tier_seg {
    uint64_t id;
    uint8_t tier;
    int busy; /* input of a running job: never planned */
    int full; /* a merge cut it at its memory cap: never merged again
                 within its tier (tier moves still take it) */
    uint64_t bytes;
    uint64_t docs;
    int64_t min_ts;
    int64_t max_ts;
};

enum sift_tier_act_kind {
    SIFT_TIER_ACT_DELETE,
    SIFT_TIER_ACT_MERGE,
};

struct sift_tier_action {
    enum sift_tier_act_kind kind;
    uint8_t target_tier; /* MERGE */
    int split_by_day;    /* MERGE into cold: one output per UTC day */
    const char *reason;  /* static: "retention", "size_cap", "hot_merge",
                            "warm_merge", "to_warm", "to_cold",
                            "cold_day_merge" */
    size_t n_ids;
    uint64_t *ids; /* owned */
};

struct sift_tier_plan {
    size_t n;
    struct sift_tier_action *acts; /* owned */
};

/**
 * Plans the next lifecycle steps for segs[0..n) (borrowed).  Every
 * segment appears in at most one action; busy ones in none.  Deletes come
 * first (retention, then the size cap, oldest max_ts first), then
 * merges.  Fills out (release with sift__tier_plan_cleanup()).  Pure.
 */
void sift__tier_plan(const struct sift_tier_policy *p,
                     const struct sift_tier_seg *segs, size_t n,
                     struct sift_tier_plan *out);
void sift__tier_plan_cleanup(struct sift_tier_plan *plan);

/** The size class of a segment in the tiered merge (0 = smallest). */
unsigned sift__tier_level(uint64_t bytes, uint64_t floor_bytes,
                          unsigned factor);
/** Smallest size class bound for a tier whose segments stop at max. */
uint64_t sift__tier_floor(uint64_t max_bytes, unsigned factor);

/** Tier name ("hot", "warm", "cold"). */
const char *sift__tier_name(unsigned tier);

/* ------------------------------------------------------------------ */
/* Merge (segment_merge.c)                                             */
/* ------------------------------------------------------------------ */

struct sift_merge_out {
    struct sift_buf img; /* the new segment image (empty once emitted) */
    int64_t day;         /* UTC day number when split by day, else 0 */
    uint32_t docs;
    uint64_t raw_bytes; /* encoded docs fed in (sift_doc_encode() form) */
    int full;           /* cut at the memory cap: do not merge it again */
    uint64_t seq;       /* finish order (internal) */
};

struct sift_merge_stats {
    uint64_t docs_in;      /* live docs read */
    uint64_t docs_dropped; /* tombstoned docs left behind */
    uint64_t bytes_in;     /* input images */
    uint64_t bytes_out;    /* output images */
    uint64_t builder_peak; /* most builder bytes held at once (sampled) */
    uint64_t cuts;         /* outputs finished early at the memory cap */
};

/**
 * Decodes every live doc (not in sift_segment_deleted()) of in[0..n)
 * (borrowed) and builds new images with opts (borrowed): one image, or,
 * with split_by_day, one per UTC day of the docs' timestamps (ascending).
 * An input with no live doc contributes nothing; no output is made when
 * nothing is live (*n_outs = 0).  With mem_cap > 0 the open builders
 * never hold much more than mem_cap bytes: past it the largest becomes
 * an output of its own (full = 1), as long as fewer than max_outs
 * outputs exist (0 = no limit).  *outs is owned: release with
 * sift__merge_outs_free().  Returns SIFT_OK, SIFT_ECORRUPT or SIFT_ENOMEM.
 * Any thread.
 */
int sift__segment_merge(struct sift_segment *const *in, size_t n,
                        const struct sift_segment_opts *opts, int split_by_day,
                        uint64_t mem_cap, size_t max_outs,
                        struct sift_merge_out **outs, size_t *n_outs,
                        struct sift_merge_stats *stats);

/**
 * Called by sift__segment_merge_emit() with each output as soon as its
 * image is finished (in finish order, o->seq), before the merge reads on.
 * It may take the image (write it out, then sift_buf_cleanup(&o->img));
 * stats->bytes_out has counted it already.  A negative return stops the
 * merge with that code.
 */
typedef int (*sift_merge_emit_fn)(void *arg, struct sift_merge_out *o);

/**
 * sift__segment_merge() that hands each output to emit as it is
 * finished, so a merge need not hold all its output images at once
 * (they would grow with the merge's input).  emit == NULL keeps them in
 * *outs, as sift__segment_merge() does.  With held != NULL the builder
 * bytes the merge holds are stored there every 64 docs (relaxed), for
 * the store's memory budget; the caller resets it when the merge ends.
 */
int sift__segment_merge_emit(struct sift_segment *const *in, size_t n,
                             const struct sift_segment_opts *opts,
                             int split_by_day, uint64_t mem_cap,
                             size_t max_outs, sift_merge_emit_fn emit,
                             void *emit_arg, atomic_uint_least64_t *held,
                             struct sift_merge_out **outs, size_t *n_outs,
                             struct sift_merge_stats *stats);
void sift__merge_outs_free(struct sift_merge_out *outs, size_t n);

/**
 * Trains a zstd dictionary of at most dict_cap bytes on a sample of the
 * live docs of in[0..n) (at most 100 * dict_cap bytes of samples, spread
 * evenly).  On success *dict is owned (sift_free()) and *len its size.
 * Returns SIFT_OK, SIFT_ENOTFOUND (too little data to train: use no
 * dictionary), SIFT_ECORRUPT or SIFT_ENOMEM.  Any thread.
 */
int sift__segment_train_dict(struct sift_segment *const *in, size_t n,
                             size_t dict_cap, void **dict, size_t *len);

/* ------------------------------------------------------------------ */
/* Lifecycle hooks called from store.c (lifecycle.c)                   */
/* ------------------------------------------------------------------ */

/* A segment file's tombstone sidecar is "<file>" SIFT_LC_SIDECAR_EXT. */
#define SIFT_LC_SIDECAR_EXT ".del"

/* First byte of a WAL payload that is a delete, not a batch (batch = 1). */
#define SIFT_LC_DELETE_KIND 0x44 /* 'D' */
/* First byte of a batch that replaces stored docs by their keys. */
#define SIFT_LC_REPLACE_KIND 0x52 /* 'R' */

/** Creates the lifecycle state and tier directories.  Loop, in open. */
int sift__lc_init(struct sift_store *s);
/** Starts the lifecycle timer after recovery.  Loop, in open. */
void sift__lc_start(struct sift_store *s);
/** Stops timers and answers pending requests; jobs drain with the store. */
void sift__lc_stop(struct sift_store *s);
/** Frees the state (after every job has finished). */
void sift__lc_free(struct sift_store *s);
/** Path of a manifest segment's file (by its tier's directory). */
void sift__lc_seg_path(const struct sift_store *s,
                       const struct sift_manifest_seg *m, char *buf,
                       size_t len);
/** Directory of a tier (borrowed). */
const char *sift__lc_tier_dir(const struct sift_store *s, unsigned tier);
/**
 * Applies the tombstones of a freshly opened disk segment (its sidecar;
 * rebuilt from the deletes journal when it is missing, damaged or older
 * than the manifest): *seg may be replaced.  *held is set when they can
 * be neither read nor rebuilt exactly: the caller must keep the segment
 * out of every snapshot, merge and retention.  Returns SIFT_OK (also
 * when held) or a code (out of memory).  Loop, recovery (tombstone.c).
 */
int sift__lc_load_tombstones(struct sift_store *s,
                             const struct sift_manifest_seg *m,
                             struct sift_segment **seg, int *held);
/**
 * How many docs the sidecar of seg says are deleted, without repairing
 * anything (a manifest rebuild weighs merge inputs by it).  SIFT_OK (0
 * when there is none) or a code when it cannot be read.
 */
int sift__lc_peek_tombstones(const struct sift_store *s,
                             const struct sift_manifest_seg *m,
                             const struct sift_segment *seg, uint64_t *deleted);

/* ------------------------------------------------------------------ */
/* Tombstones and the deletes journal (tombstone.c)                    */
/* ------------------------------------------------------------------ */

struct sift__journal;

/** Sidecar bytes of bm (deleted doc ids < n_docs), appended to out. */
int sift__tomb_encode(const roaring_bitmap_t *bm, uint32_t n_docs,
                      struct sift_buf *out);
/**
 * Decodes a sidecar (version 2 with its checksum, or version 1) of a
 * segment of n_docs docs.  *out is owned (roaring_bitmap_free()).
 * Returns SIFT_OK or SIFT_ECORRUPT.  Pure: any thread, fuzzed.
 */
int sift__tomb_decode(const void *data, size_t len, uint32_t n_docs,
                      roaring_bitmap_t **out);
/** Writes a sidecar (sift_file_replace(), SIFT_FILE_BATCH). */
int sift__tomb_save(const char *path, const roaring_bitmap_t *bm,
                    uint32_t n_docs);
/**
 * Loads a segment's tombstones from side (see sift__lc_load_tombstones);
 * j (may be NULL) and match rebuild them.
 */
int sift__tomb_load(struct sift_store *s, const struct sift__journal *j,
                    sift_delete_match_cb match,
                    const struct sift_manifest_seg *m, const char *side,
                    struct sift_segment **seg, int *held);
/**
 * Opens DATA_DIR/deletes.log (after the manifest is chosen: a new journal
 * vouches for the deletes above its flushed_seq).  Damaged lines follow
 * the state-file rule.  *out is owned (sift__journal_free()), also on
 * failure.  Returns SIFT_OK or -errno (it cannot be opened for appends).
 */
int sift__journal_open(struct sift_store *s, struct sift__journal **out);
void sift__journal_free(struct sift__journal *j);
/**
 * Appends one delete (fsync'd) unless seq is journaled already.  Worker
 * of the one running delete job.  SIFT_OK or a code (then no sidecar may
 * change).
 */
int sift__journal_append(struct sift__journal *j, uint64_t seq, int64_t from_ns,
                         int64_t to_ns, const char *query, size_t qlen);
/**
 * Drops journaled deletes with seq <= below (no live segment holds docs
 * older than them) when that is half the journal or more.  Loop, start.
 */
void sift__journal_prune(struct sift__journal *j, uint64_t below);
/**
 * A durable delete record reached the buffer (live or WAL replay), in
 * WAL order.  Returns SIFT_OK or SIFT_ECORRUPT.  Loop thread.
 */
int sift__lc_delete_record(struct sift_store *s, uint64_t seq,
                           const uint8_t *payload, size_t len);
struct sift_store_health;
/** Fills the lifecycle's part of sift_store_health() (held merges). */
void sift__lc_health(const struct sift_store *s, struct sift_store_health *out);
/** Non-zero while flushes must wait (a delete is not yet applied). */
int sift__lc_blocks_flush(const struct sift_store *s);
/**
 * A durable replace record reached the buffer (live or WAL replay), in
 * WAL order: its docs become an entry of their own, in the same snapshot
 * publish that hides the docs they replace.  Returns SIFT_OK or
 * SIFT_ECORRUPT.  Loop thread.
 */
int sift__lc_replace_record(struct sift_store *s, uint64_t seq,
                            const uint8_t *payload, size_t len);
/** Writes the head of a replace record (its keys) to out. */
void sift__lc_replace_encode_keys(const struct sift_doc_key *keys, size_t n,
                                  struct sift_buf *out);
/**
 * When query[0..len) is a replace record's key list: SIFT_OK with *out the
 * docs of seg (NULL seg: validate only) whose keys it names, or a code.
 * SIFT_ENOTFOUND when it is an ordinary query (use the store's matcher).
 * Any thread.
 */
int sift__lc_match_keys(struct sift_segment *seg, const char *query, size_t len,
                        roaring_bitmap_t **out);
/** WAL seq of the oldest delete or replace not yet applied, or 0. */
uint64_t sift__lc_pending_seq(const struct sift_store *s);

#endif /* SIFT_STORE_LIFECYCLE_INT_H */
