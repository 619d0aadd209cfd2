/*
 * store.h - the storage engine: WAL, buffer, refresh, flush, manifest,
 * recovery, and the snapshot that queries read.
 *
 * Write path (loop thread): sift_store_append() encodes a batch of events
 * into one WAL record (with its source positions) and into the buffer,
 * and calls the batch's durable callback once the WAL record is fsync'd
 * (group commit every wal_sync_ms; 0 = per batch).  Sources acknowledge
 * only in that callback.  Every refresh_ms the buffer is sealed into an
 * immutable in-memory segment (searchable); every flush_ms (or past
 * flush_bytes) sealed segments are written to disk on a worker (temp
 * file, fsync, rename, manifest swap, fsync dir) and the WAL is trimmed.
 *
 * Read path (any thread): sift_store_snapshot() returns a refcounted set
 * of immutable segments; a query holds it for as long as it runs and
 * needs no lock.
 *
 * Recovery (in sift_store_open): load the manifest, verify segments
 * (corrupt ones go to DATA_DIR/quarantine/), replay the WAL past the last
 * flushed record, and restore the per-source positions.
 */
#ifndef SIFT_STORE_H
#define SIFT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sift/event.h"
#include "sift/lifecycle.h"

struct sift_config;
struct sift_histogram;
struct sift_loop;
struct sift_pool;
struct sift_segment;
struct sift_store;
struct sift_snapshot;

/** rc is SIFT_OK once durable, or the error that lost the batch. */
typedef void (*sift_durable_cb)(void *arg, int rc);

/* What a store is given to work with (borrowed for its lifetime). */
struct sift_store_deps {
    const struct sift_config *cfg;
    struct sift_loop *loop;
    struct sift_pool *pool;
    /* Finds the docs a delete-by-query hits (the query engine's matcher,
     * sift_query_match_segment); NULL = sift_store_match_simple.  WAL
     * replay inside the constructor re-runs durable deletes with it. */
    sift_delete_match_cb match;
};

/**
 * Opens DATA_DIR (created if missing), runs recovery, starts the refresh,
 * WAL sync and flush timers on deps->loop.  Borrows what deps points to
 * for the store's lifetime (deps itself is copied).  Returns SIFT_OK,
 * -errno (data dir unusable) or a code.  Loop thread.
 */
int sift_store_new(const struct sift_store_deps *deps, struct sift_store **out);

/** sift_store_new() with the built-in delete matcher (tests, tools). */
int sift_store_open(const struct sift_config *cfg, struct sift_loop *loop,
                    struct sift_pool *pool, struct sift_store **out);

/**
 * Syncs the WAL, stops the timers, waits for a running flush, and frees.
 * Pending durable callbacks run (with SIFT_OK if their fsync succeeded,
 * else SIFT_ESHUTDOWN).  Loop thread.
 */
void sift_store_close(struct sift_store *store);

/**
 * Appends a batch.  Copies the events and positions (borrows the
 * arguments during the call).  cb(arg, rc) runs later on the loop thread
 * exactly once, after the fsync covering the batch, unless this returns
 * an error, in which case cb never runs:
 *   SIFT_EBUSY     buffer over buffer_max_bytes (backpressure; retry)
 *   SIFT_ENOSPACE  disk full; the store retries its WAL and recovers by
 *                  itself when space returns
 *   SIFT_EINVAL    n == 0 with n_pos == 0
 * Loop thread.
 */
int sift_store_append(struct sift_store *store, const struct sift_event *evs,
                      size_t n, const struct sift_srcpos *pos, size_t n_pos,
                      sift_durable_cb cb, void *arg);

/* A document key as Elasticsearch's _bulk names one (borrowed). */
struct sift_doc_key {
    const char *index; /* the _index field's value */
    uint32_t index_len;
    const char *id; /* the _id field's value */
    uint32_t id_len;
};

/**
 * sift_store_append() for a batch that replaces stored documents: every
 * event held now (buffer and unflushed records included) whose _index and
 * _id fields equal one of keys[0..n_keys) (bytes exactly) is deleted, and
 * evs[0..n) are stored, in one WAL record: a crash keeps both or neither,
 * and one snapshot publish makes both visible (no reader sees the old and
 * the new document, or neither).  Borrows everything during the call; cb
 * as for sift_store_append().  n_keys 0 is sift_store_append() without
 * positions.  Loop thread.
 */
int sift_store_append_replacing(struct sift_store *store,
                                const struct sift_event *evs, size_t n,
                                const struct sift_doc_key *keys, size_t n_keys,
                                sift_durable_cb cb, void *arg);

/** WAL seq of the last append (0 before any).  Loop thread. */
uint64_t sift_store_last_seq(const struct sift_store *store);

/**
 * The largest WAL seq S such that every record up to S is durable and
 * visible to searches (its events searchable, its delete or replace
 * applied).  With sift_store_last_seq() a caller can tell when what it
 * appended has become searchable.  Loop thread.
 */
uint64_t sift_store_visible_seq(const struct sift_store *store);

/**
 * The last position held for source key (from flushed data, the WAL and
 * the buffer).  Returns SIFT_OK or SIFT_ENOTFOUND.  Loop thread.
 */
int sift_store_position(struct sift_store *store, const char *key,
                        struct sift_srcpos *out);

/** Non-zero while appends would return SIFT_EBUSY or SIFT_ENOSPACE. */
int sift_store_is_full(const struct sift_store *store);

/**
 * Called on the loop thread whenever a refresh made new events searchable
 * (live tail).  seg is the new in-memory segment (borrowed during the call).
 */
typedef void (*sift_refresh_cb)(struct sift_segment *seg, void *arg);
void sift_store_on_refresh(struct sift_store *store, sift_refresh_cb cb,
                           void *arg);

/** Seals the buffer now (tests, tail).  Loop thread. */
void sift_store_refresh(struct sift_store *store);
/** Seals and schedules a flush now; cb runs when it is on disk. */
void sift_store_flush(struct sift_store *store, sift_durable_cb cb, void *arg);

/** Takes a snapshot of the searchable segments.  Any thread. */
struct sift_snapshot *sift_store_snapshot(struct sift_store *store);
void sift_snapshot_release(struct sift_snapshot *snap);
size_t sift_snapshot_count(const struct sift_snapshot *snap);
/** Segment i (borrowed from the snapshot), in time order of min_ts. */
struct sift_segment *sift_snapshot_segment(const struct sift_snapshot *snap,
                                           size_t i);

struct sift_store_stats {
    uint64_t docs;          /* searchable docs (memory + disk) */
    uint64_t docs_buffered; /* not yet searchable */
    uint64_t segments_mem;
    uint64_t segments_disk;
    uint64_t bytes_disk; /* segment files */
    uint64_t bytes_mem;  /* sealed in-memory images */
    uint64_t buffer_bytes;
    uint64_t merge_bytes; /* builder bytes of the running merge */
    uint64_t wal_bytes;
    uint64_t wal_fsyncs;
    uint64_t flushes;
    uint64_t quarantined;
    uint64_t unplaced; /* segment files kept though MANIFEST does not list
                          them (`siftd repair` places them) */
    uint64_t wal_records_lost;   /* WAL records not yet in segments that
                                    could not be read at start (damage) */
    uint64_t tombstones_damaged; /* sidecars missing, damaged or stale */
    uint64_t tombstones_rebuilt; /* of those, rebuilt from deletes.log */
    uint64_t held;               /* segments held: tombstones unknown */
    uint64_t appends_rejected;   /* EBUSY + ENOSPACE */
    int64_t last_fsync_ns;       /* duration of the last fsync */
    uint64_t build_cpu_ns; /* worker CPU building sealed buffers' segments */
    uint64_t merge_cpu_ns; /* worker CPU in merges (finished or not) */
};
void sift_store_stats(const struct sift_store *store,
                      struct sift_store_stats *out);

/**
 * The durations of the WAL's group commits (seconds; the store observes
 * one per fsync round on the loop).  Borrowed: valid while the store
 * lives.  Rendered by sift_metrics_collect_wal_fsync().
 */
const struct sift_histogram *
sift_store_wal_fsync_histogram(const struct sift_store *store);

/**
 * `siftd repair`: rebuilds DATA_DIR/MANIFEST from the segment files, on
 * top of MANIFEST when it reads back, else of the newest kept generation
 * that does.  Every segment file is verified and placed by the origin it
 * records; files that lose (the inputs of a merge that committed, a merge
 * that did not, the older of two copies of the same WAL records, corrupt
 * files, files without an origin that no manifest lists) move to
 * quarantine/ named for why.  Writes one line per file and a summary to
 * out, then saves the manifest as a new generation.  With dry_run only the
 * report is written and nothing on disk changes.  Deletes nothing.  The
 * caller holds the data directory's lock (no siftd runs on it).  Borrows
 * cfg and out.  Returns SIFT_OK or -errno (a directory or the new
 * manifest cannot be written).
 */
int sift_store_repair(const struct sift_config *cfg, int dry_run, FILE *out);

/* What /readyz and /api/v1/store report beyond "ready". */
struct sift_store_health {
    int disk_full;       /* no space: appends answered SIFT_ENOSPACE */
    int write_errno;     /* the WAL cannot be written (EROFS...), or 0 */
    int free_known;      /* free_bytes is set */
    uint64_t free_bytes; /* available to siftd on the data dir */
    size_t held;         /* segments held (tombstones unknown) */
    size_t quarantined;  /* files in quarantine/ */
    uint64_t unplaced;   /* segment files MANIFEST does not list */
    uint64_t wal_records_lost;
    int rebuilt;                /* the manifest was rebuilt at this start */
    const char *merges_held;    /* why merges wait ("disk space", "backing off
                                   after failures"), or NULL; static */
    uint64_t merges_held_bytes; /* space the held merge needs (disk) */
};

/**
 * Fills out with the store's degraded states (cheap: counters and one
 * statvfs).  Loop thread.
 */
void sift_store_health(const struct sift_store *store,
                       struct sift_store_health *out);

/**
 * Segments held out of queries because their tombstones could be neither
 * read nor rebuilt (file names, NULL-terminated; borrowed).  Loop thread.
 */
const char *const *sift_store_held(const struct sift_store *store);

/**
 * Re-reads DATA_DIR/quarantine/ into the list sift_store_quarantined()
 * returns (other modules quarantine state files after the store opened).
 * Loop thread.
 */
void sift_store_rescan_quarantine(struct sift_store *store);

/**
 * What DATA_DIR/quarantine/ holds (for /readyz and /api/v1/store): file
 * names, sorted, NULL-terminated; borrowed until the next rescan.
 */
const char *const *sift_store_quarantined(const struct sift_store *store);

#endif /* SIFT_STORE_H */
