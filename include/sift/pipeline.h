/*
 * pipeline.h - the one path every parsed batch takes into the store.
 *
 * HTTP ingest, Kafka and Redis all hand parsed events to
 * sift_pipeline_submit().  Per event, in order: the time checks
 * (include/sift/admit.h: a timestamp past ingest.max_future is clamped
 * to arrival or dead-lettered, one older than tiers.retention is
 * dead-lettered as expired), PII redaction (before
 * anything is written), template mining (sets template_id), the anomaly
 * ring (one small record; dropped and counted when full, never blocking),
 * then one sift_store_append() for the whole batch, whose durable
 * callback is the caller's acknowledgement point.  Lines that could not be
 * parsed go to sift_pipeline_reject(): counted per source and written to
 * the dead-letter store with the reason and the source position.
 *
 * Stages are optional hooks, so each module plugs in without the
 * pipeline knowing its internals.  Loop thread only.
 */
#ifndef SIFT_PIPELINE_H
#define SIFT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "sift/event.h"
#include "sift/store.h"

struct sift_arena;
struct sift_config;
struct sift_pipeline;

/**
 * A per-event stage: may rewrite ev in place (allocating from arena).
 * Returns SIFT_OK, or an error that rejects the whole batch.
 */
typedef int (*sift_pipeline_stage_cb)(void *arg, struct sift_event *ev,
                                      struct sift_arena *arena);
/** Dead-letter writer: one rejected input with its reason. */
typedef void (*sift_pipeline_dlq_cb)(void *arg, const char *source,
                                     const struct sift_srcpos *pos,
                                     const char *raw, size_t raw_len,
                                     const char *reason);
/** Makes the dead letters written so far durable (fsync). */
typedef void (*sift_pipeline_dlq_sync_cb)(void *arg);

enum sift_pipeline_stage {
    SIFT_STAGE_REDACT = 0,
    SIFT_STAGE_TEMPLATE = 1,
    SIFT_STAGE_ANOMALY = 2,
    SIFT_STAGE_COUNT
};

/** Per-source counters (exported as metrics). */
struct sift_pipeline_source_stats {
    char name[32];     /* "http", "kafka", "redis", "bulk" */
    uint64_t events;   /* accepted into the store */
    uint64_t bytes;    /* raw bytes of accepted events */
    uint64_t rejected; /* unparseable or over a limit */
    uint64_t dead_lettered;
    uint64_t refused;         /* batches the store refused (busy, disk full) */
    uint64_t expired;         /* older than tiers.retention: dead-lettered */
    uint64_t future_clamped;  /* past ingest.max_future: stored at arrival */
    uint64_t future_rejected; /* past ingest.max_future: dead-lettered */
    /* private: what the next rate-limited log line reports */
    uint64_t unlogged_expired, unlogged_future;
    int64_t last_log_mono_ns;
};

/** What happened to one submitted batch (sift_pipeline_submit_counted). */
struct sift_pipeline_counts {
    size_t stored;          /* events appended to the store */
    size_t expired;         /* older than tiers.retention: dead-lettered */
    size_t future_clamped;  /* past ingest.max_future: stored at arrival */
    size_t future_rejected; /* past ingest.max_future: dead-lettered */
    /* In (optional): an array of n bytes that receives, per input event
     * in input order, its enum sift_admit_result (include/sift/admit.h). */
    uint8_t *admit;
    /* In: the time checks already ran (sift_pipeline_admit()). */
    int admitted;
    /* In: documents the batch replaces (sift_store_append_replacing()). */
    const struct sift_doc_key *replace;
    size_t n_replace;
    /* Out: the WAL seq of the batch (0 when nothing was appended). */
    uint64_t seq;
};

/**
 * The time checks of sift_pipeline_submit_counted() alone: dead-letters
 * the refused events of evs[0..n) and compacts the array; returns the
 * count kept and fills counts (whose admit array, if any, receives the
 * per-event results).  For callers that must know what will be stored
 * before they submit (the _bulk id checks); they then submit with
 * counts->admitted set.  Loop thread.
 */
size_t sift_pipeline_admit(struct sift_pipeline *p, const char *source,
                           struct sift_event *evs, size_t n,
                           struct sift_arena *arena,
                           struct sift_pipeline_counts *counts);

/** Creates the pipeline over store (borrowed for its lifetime). */
int sift_pipeline_new(struct sift_store *store, struct sift_pipeline **out);
void sift_pipeline_free(struct sift_pipeline *p);

/**
 * Borrows cfg (replaced in place on reload) for the time checks:
 * ingest.max_future, ingest.future and tiers.retention are read for every
 * batch.  Without a config no event is checked.  Loop thread.
 */
void sift_pipeline_set_config(struct sift_pipeline *p,
                              const struct sift_config *cfg);

/** Installs (or clears, with cb NULL) a stage.  Loop thread. */
void sift_pipeline_set_stage(struct sift_pipeline *p,
                             enum sift_pipeline_stage stage,
                             sift_pipeline_stage_cb cb, void *arg);
/**
 * Installs the dead-letter writer.  sync (may be NULL) runs before the
 * next batch is submitted, or from sift_pipeline_sync_rejects(), whenever
 * rejects were written since the last sync: a source acknowledges a batch
 * only after its dead letters are on disk too, at one fsync per batch.
 */
void sift_pipeline_set_dlq(struct sift_pipeline *p, sift_pipeline_dlq_cb cb,
                           sift_pipeline_dlq_sync_cb sync, void *arg);
/** Syncs pending dead letters now (a batch that had no good events). */
void sift_pipeline_sync_rejects(struct sift_pipeline *p);

/**
 * Checks the time of each of evs[0..n) (dead-lettering the expired and,
 * with ingest.future = reject, the future-dated: those leave the array,
 * which is compacted in place), runs the stages over the rest and appends
 * them to the store.  source names the counters.  The return value and
 * the callback follow sift_store_append(): on an error return cb never
 * runs.  When nothing is left to store and n_pos is 0, the dead letters
 * are synced and cb(arg, SIFT_OK) runs before this returns.  counts (may
 * be NULL) receives what happened; everything in it but admit is reset
 * by the call.  Loop thread.
 */
int sift_pipeline_submit_counted(struct sift_pipeline *p, const char *source,
                                 struct sift_event *evs, size_t n,
                                 const struct sift_srcpos *pos, size_t n_pos,
                                 struct sift_arena *arena, sift_durable_cb cb,
                                 void *arg,
                                 struct sift_pipeline_counts *counts);

/** sift_pipeline_submit_counted() without the counts. */
int sift_pipeline_submit(struct sift_pipeline *p, const char *source,
                         struct sift_event *evs, size_t n,
                         const struct sift_srcpos *pos, size_t n_pos,
                         struct sift_arena *arena, sift_durable_cb cb,
                         void *arg);

/** Counts a rejected input and writes it to the dead-letter store. */
void sift_pipeline_reject(struct sift_pipeline *p, const char *source,
                          const struct sift_srcpos *pos, const char *raw,
                          size_t raw_len, const char *reason);

/** Stats of every source seen so far; *n_out entries (borrowed). */
const struct sift_pipeline_source_stats *
sift_pipeline_stats(const struct sift_pipeline *p, size_t *n_out);

#endif /* SIFT_PIPELINE_H */
