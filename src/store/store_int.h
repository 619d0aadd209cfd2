/*
 * store_int.h - private state of the storage engine (store.c), shared
 * only with the store's unit tests.
 *
 * Ownership: the loop thread owns everything in struct sift_store except
 * the fields marked "sync thread" (guarded by sync_mu) and the published
 * snapshot (guarded by snap_mu).  Worker jobs get their own copies of what
 * they need (a job struct) and touch the store only from their done
 * callback on the loop thread.
 */
#ifndef SIFT_STORE_INT_H
#define SIFT_STORE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "manifest.h"
#include "sift/buf.h"
#include "sift/event.h"
#include "sift/metrics.h"
#include "sift/store.h"
#include "wal.h"

#define SIFT_STORE_BATCH_VERSION 1
#define SIFT_STORE_MAX_KEY 1024       /* bytes in a source key */
#define SIFT_STORE_FULL_RETRY_MS 1000 /* disk-full probe period */
#define SIFT_STORE_PROBE_BYTES (1u << 20)
#define SIFT_STORE_FLUSH_BACKOFF_MAX_NS (INT64_C(60) * 1000000000)

/* A WAL-appended batch waiting for its fsync. */
struct sift__batch {
    uint64_t seq;
    char *payload; /* the WAL payload (owned) */
    size_t len;
    uint32_t n_docs;
    sift_durable_cb cb;
    void *arg;
    struct sift__batch *next;
};

enum sift__ent_state {
    SIFT_ENT_BUILDING, /* a worker is finishing the image */
    SIFT_ENT_MEM,      /* searchable in memory, not on disk */
    SIFT_ENT_FLUSHING, /* being written by the flush job */
    SIFT_ENT_DISK,     /* file-backed and in the manifest */
};

/* One sealed segment (or a sealed batch range without docs). */
struct sift__entry {
    uint64_t id;
    enum sift__ent_state state;
    uint64_t max_seq;       /* highest WAL seq inside; 0 = none (disk) */
    struct sift_posmap pos; /* positions of the batches inside */
    uint32_t docs;
    size_t bytes;                         /* image size */
    struct sift_segment *seg;             /* NULL while building / no docs */
    struct sift_segment_builder *builder; /* owned while building */
    int build_failed;
    struct sift_manifest_seg meta; /* valid once on disk */
    unsigned lc_busy; /* lifecycle: input of a running merge or drop */
    unsigned lc_full; /* lifecycle: cut at the merge memory cap (not kept
                         across restarts: such a segment may be merged
                         once more) */
    int held;         /* disk, tombstones unreadable: seg is NULL, kept in the
                         manifest, out of snapshots, merges and retention */
};

/* An unlisted sealed segment whose records the WAL should replay again
 * (recover.c decides after the replay whether it is redundant). */
struct sift__unflushed {
    uint64_t id;
    unsigned tier;
    uint64_t min_seq, max_seq;
};

struct sift__flush_waiter {
    uint64_t target_seq;
    sift_durable_cb cb;
    void *arg;
    struct sift__flush_waiter *next;
};

struct sift_snapshot {
    atomic_uint refs;
    size_t n;
    struct sift_segment **segs; /* one ref each; sorted by min_ts */
};

struct sift_store {
    const struct sift_config *cfg;
    struct sift_loop *loop;
    struct sift_pool *pool;
    sift_delete_match_cb match;      /* delete-by-query (never NULL) */
    struct sift_histogram wal_fsync; /* seconds per WAL group commit */
    char *data_dir;
    char *seg_dir;
    char *wal_dir;
    char *q_dir;

    struct sift_wal *wal;
    struct sift_manifest manifest; /* what is on disk now */

    /* The buffer: durable batches not yet sealed. */
    struct sift_segment_builder *builder;
    uint64_t buf_min_seq; /* first WAL seq in the buffer (0 = none) */
    uint64_t buf_max_seq;
    struct sift_posmap buf_pos;
    struct sift_arena *arena; /* decode scratch, reset per batch */
    struct sift_buf scratch;  /* payload encoding */

    /* Appended, waiting for fsync (oldest first). */
    struct sift__batch *pend_head;
    struct sift__batch **pend_tail;
    size_t pend_bytes;
    uint64_t pend_docs;

    /* Sealed segments in seal order (disk ones from the manifest first). */
    struct sift__entry **ents;
    size_t n_ents;
    size_t cap_ents;

    struct sift_posmap positions; /* max over everything held */
    uint64_t sealed_bytes; /* unflushed sealed entries (recount_sealed) */
    /* Builder bytes the running merge holds, published by the merge's
     * worker (segment_merge.c enforce_cap); part of the ingest budget. */
    atomic_uint_least64_t merge_held;
    /* CPU time of the workers' segment builds (flushes) and merges,
     * added by each job at its end (workers; read on the loop). */
    atomic_uint_least64_t build_cpu_ns, merge_cpu_ns;
    int64_t last_trim_ns; /* flush_work's last malloc_trim (mono) */
    uint64_t buf_raw;     /* payload bytes fed into s->builder */
    uint32_t expand_x16;  /* builder bytes per payload byte, x16 */
    uint64_t builder_bpd; /* builder bytes per doc at seal (0 = not yet) */
    /* What a segment build allocates at its peak (the image, sort arrays,
     * zstd) per builder byte, x16: learned by build_work where the
     * allocator can tell, read by recount_sealed. */
    atomic_uint_least32_t finish_x16;

    /* Published snapshot. */
    pthread_mutex_t snap_mu;
    struct sift_snapshot *snap;

    /* Group commit: one request at a time to the sync thread. */
    pthread_t sync_thread;
    int sync_started;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv;
    int sync_have_req; /* sync thread: a request is waiting */
    int sync_stop;     /* sync thread: exit */
    struct sift_wal_sync sync_req;
    int sync_inflight; /* loop: a request is out (until its done runs) */

    /* Flush. */
    int flush_running;
    uint64_t flush_floor;     /* flushed_seq to reach after a damaged WAL */
    unsigned flush_failures;  /* in a row; 0 after a flush succeeds */
    int flush_fail_rc;        /* the last failure's code */
    int64_t flush_retry_mono; /* no flush before this (back-off), 0 = any */
    struct sift__flush_waiter *waiters;
    unsigned jobs_inflight; /* build + flush jobs whose done has not run */

    struct sift_timer *t_refresh;
    struct sift_timer *t_sync;
    struct sift_timer *t_flush;
    struct sift_timer *t_full;

    uint64_t last_seq; /* WAL seq of the last append (0 = none yet) */

    int full; /* disk full: appends get SIFT_ENOSPACE */
    int werr; /* errno of a WAL write that failed otherwise (EROFS, EIO):
                 appends get -werr until a probe write succeeds */
    int closing;

    sift_refresh_cb on_refresh;
    void *on_refresh_arg;

    char **quarantined; /* NULL-terminated */
    size_t n_quarantined;
    int rebuilt;       /* the manifest was rebuilt from the files at open */
    char **held_names; /* NULL-terminated: segments held (tombstones) */
    size_t n_held;
    struct sift__journal *journal;     /* deletes.log (tombstone.c) */
    struct sift__unflushed *unflushed; /* open only (recover.c) */
    size_t n_unflushed;

    struct sift_store_stats stats;

    struct sift__lc *lc; /* tiers, merges, retention, deletes (lifecycle.c) */
};

/* Batch payload codec (store.c), exposed for tests and fuzzing. */
int sift__store_batch_encode(const struct sift_event *evs, size_t n,
                             const struct sift_srcpos *pos, size_t n_pos,
                             struct sift_buf *out);
/** Called per position and per doc while decoding; non-zero stops. */
struct sift__batch_visitor {
    int (*pos)(const char *key, uint64_t hi, uint64_t lo, void *arg);
    int (*doc)(const struct sift_event *ev, void *arg);
    void *arg;
};
int sift__store_batch_decode(const uint8_t *p, size_t len,
                             struct sift_arena *arena,
                             const struct sift__batch_visitor *v);

/*
 * Lifecycle hooks: store.c internals that lifecycle.c drives (loop thread).
 * flush_running doubles as the manifest writer lock: whoever sets it is
 * the only one saving a manifest, and s->manifest does not change under
 * it except by that owner.
 */
void sift__store_seal(struct sift_store *s, int sync_build);
void sift__store_publish(struct sift_store *s);
void sift__store_maybe_flush(struct sift_store *s, int force);
void sift__store_entry_free(struct sift__entry *e);
/** Appends an opaque WAL payload (a delete record) like a batch. */
int sift__store_append_raw(struct sift_store *s, const void *payload,
                           size_t len, sift_durable_cb cb, void *arg,
                           uint64_t *seq_out);

/*
 * Recovery (recover.c), called by sift_store_open() in this order on the
 * loop thread before anything else runs.
 */
/**
 * Loads MANIFEST into s->manifest, or, when it is missing, damaged or
 * older than a kept generation while segment files exist, rebuilds it
 * from the files (logged line by line) and saves it.  Returns SIFT_OK or
 * -errno (the manifest or a directory cannot be read).
 */
int sift__store_choose_manifest(struct sift_store *s);
/**
 * Rebuilds a manifest from every segment file in the tier directories on
 * top of base (borrowed, may be NULL): places each file by its origin,
 * appends one line per file and a summary to report.  With apply, files
 * that lose (superseded, voided, duplicate, corrupt, unplaced) move to
 * quarantine/ named "<why>-<file>"; without, nothing on disk changes.
 * Deletes nothing.  out is initialised by the call (generation = base's).
 * Returns SIFT_OK or -errno.
 */
int sift__store_rebuild_manifest(struct sift_store *s,
                                 const struct sift_manifest *base,
                                 struct sift_manifest *out,
                                 struct sift_buf *report, int apply);
/**
 * After the listed segments are loaded: removes unfinished writes and
 * provably redundant unlisted segments, quarantines corrupt ones, keeps
 * and reports the rest; remembers unlisted sealed segments past
 * flushed_seq for sift__store_sweep_after_replay().  SIFT_OK or -errno.
 */
int sift__store_sweep_unlisted(struct sift_store *s);
/** Removes the remembered segments whose seqs the replay covered. */
void sift__store_sweep_after_replay(struct sift_store *s,
                                    uint64_t replayed_from,
                                    const struct sift_wal_replay_report *rep);
/**
 * Sets each segment's deleted count in m (about to be saved) from the live
 * entries' tombstones; held entries keep theirs.  Loop thread.
 */
void sift__store_note_deleted(const struct sift_store *s,
                              struct sift_manifest *m);
/**
 * A store with its directories made and nothing loaded, no loop, no pool
 * (for sift_store_repair()); release with sift_store_close().  SIFT_OK or
 * -errno.
 */
int sift__store_new_bare(const struct sift_config *cfg,
                         struct sift_store **out);
/** Moves dir/name to quarantine/ (fsyncing both); SIFT_OK or -errno. */
int sift__store_quarantine_file(struct sift_store *s, const char *dir,
                                const char *name);
/** Lists name in sift_store_quarantined() and counts it. */
void sift__store_add_quarantined(struct sift_store *s, const char *name);

/* Replace records (store.c side; lifecycle.c runs them).  Loop thread,
 * except that a builder may be filled and finished on a worker. */
struct sift_segment_builder *
sift__store_new_builder(const struct sift_store *s);
/** Records WAL record seq as the origin of what b builds. */
void sift__store_set_origin(struct sift_segment_builder *b, uint64_t seq);
/** Adds seg (a ref is taken over) as the in-memory entry of WAL record seq,
 * placed in seal order. */
void sift__store_insert_entry(struct sift_store *s, uint64_t seq,
                              struct sift_segment *seg);

/*
 * File helpers (store.c), shared with lifecycle.c.  Any thread; they touch
 * no store state.
 */
/** Returns "a/b", owned (release with sift_free()); aborts on OOM. */
char *sift__store_join(const char *a, const char *b);
/**
 * mkdir(path, 0755) unless it exists.  Returns SIFT_OK or -errno, logging
 * the failure once as "<who>: cannot create ...".  Borrows both strings.
 */
int sift__store_ensure_dir(const char *who, const char *path);

#endif /* SIFT_STORE_INT_H */
