/*
 * wal.h - the write-ahead log (internal to the store module).
 *
 * The WAL is a directory of append-only files named by the sequence number
 * of their first record ("%020llu.wal").  One record holds one opaque
 * payload (the store puts one ingest batch in it); records carry strictly
 * increasing sequence numbers starting at 1, with no gaps.  The byte
 * format is specified in docs/internals/storage.md and below in wal.c.
 *
 * Threads.  A struct sift_wal belongs to one thread (the loop): append,
 * rotation, trimming and the durable mark are not locked.  Only the fsync
 * itself may run elsewhere: sift__wal_sync_prepare() (owner thread) dups
 * the file descriptors that hold unsynced bytes into a request,
 * sift__wal_sync_run() (any thread, no access to the wal) fsyncs them, and
 * sift__wal_sync_done() (owner thread) records the outcome.
 *
 * Failures.  A write that fails part-way is cut back with ftruncate() so
 * the file never holds a partial record written by a live process;
 * ENOSPC/EDQUOT become SIFT_ENOSPACE.  A failed fsync rolls the WAL back
 * to the last durable record (see sift__wal_sync_done()).
 */
#ifndef SIFT_STORE_WAL_H
#define SIFT_STORE_WAL_H

#include <stddef.h>
#include <stdint.h>

#define SIFT_WAL_VERSION 1
#define SIFT_WAL_HDR_LEN 32u
#define SIFT_WAL_MAX_PAYLOAD (256u << 20) /* one record, bytes */

struct sift_wal;

/* ---- reading (recovery, fuzzing) ---- */

/** Called for each good record with seq >= from_seq; non-zero stops. */
typedef int (*sift_wal_record_cb)(uint64_t seq, const uint8_t *payload,
                                  size_t len, void *arg);

/* Records that could not be read (damaged bytes or a missing file). */
struct sift_wal_lost {
    uint64_t first, last; /* seqs, inclusive */
    char file[32];        /* the damaged file (or the one after the gap) */
    uint64_t offset;      /* where the damage starts in it */
    int missing;          /* the file that held them is gone */
    int needed;           /* some are >= from_seq: their events are lost */
};

struct sift_wal_replay_report {
    uint64_t first_seq;    /* first good record found (0 = none) */
    uint64_t last_seq;     /* last good record */
    uint64_t max_seq_seen; /* highest checksummed seq anywhere (>= last) */
    uint64_t n_records;    /* records >= from_seq delivered to the callback */
    uint64_t torn_bytes;   /* bytes cut from the tail */
    uint64_t lost_records; /* seqs >= from_seq unreadable: events lost */
    uint64_t lost_flushed; /* seqs < from_seq unreadable: not needed */
    uint64_t skipped;      /* stale copies of records already read */
    struct sift_wal_lost *lost; /* owned: sift__wal_report_cleanup() */
    size_t n_lost;
    int corrupt;       /* lost_records > 0 */
    char bad_file[64]; /* first damaged file with needed records, if any */
    uint64_t bad_offset;
    unsigned n_files;
};

/**
 * Scans one WAL file image p[0..len) (fuzzing).  Calls cb for every good
 * record with seq >= from_seq in order; stops at the first bad or
 * truncated record or when cb returns non-zero.  *good_len receives the
 * offset just past the last good record, and *next_valid the offset of a
 * later record whose header and checksum are good (0 when none).
 * expect_seq is the seq the first record must have (0 = any).  Returns
 * SIFT_OK (the whole image was good), SIFT_ECORRUPT (stopped at bad
 * bytes), or the callback's non-zero value.
 */
int sift__wal_scan(const uint8_t *p, size_t len, uint64_t expect_seq,
                   uint64_t from_seq, sift_wal_record_cb cb, void *arg,
                   size_t *good_len, size_t *next_valid, uint64_t *last_seq);

/**
 * Replays the WAL in dir: verifies every record of every file in seq
 * order and calls cb for those with seq >= from_seq.  Damage costs only
 * what it touched: at bad bytes the replay resynchronises on the next
 * whole record with a good checksum and goes on; each run of records
 * that could not be read (damaged, or in a file that is missing) is
 * listed in the report and logged by seq (ERROR when some are >=
 * from_seq, WARN when all were flushed already).  Bad bytes with no good
 * record after them anywhere are a torn tail: cut away (the file is
 * truncated and fsync'd, later files emptied) and logged.  Moves nothing.
 * Returns SIFT_OK (damage is in the report), -errno on I/O errors, or the
 * callback's non-zero value.  The report's lost list is owned: release
 * with sift__wal_report_cleanup().  Owner thread, before sift__wal_open().
 */
int sift__wal_replay(const char *dir, uint64_t from_seq, sift_wal_record_cb cb,
                     void *arg, struct sift_wal_replay_report *report);
void sift__wal_report_cleanup(struct sift_wal_replay_report *report);

/**
 * Moves the WAL file name (from a replay report) to quarantine_dir as
 * "wal-<name>", fsyncing both directories.  The store calls it after the
 * records replayed from the file are safely in a segment.  Returns
 * SIFT_OK, SIFT_EINVAL (bad name) or -errno.
 */
int sift__wal_quarantine(const char *dir, const char *name,
                         const char *quarantine_dir);

/* ---- writing ---- */

/**
 * Opens dir (created if missing) for appending.  The first record written
 * gets next_seq (>= 1).  Existing files are adopted for trimming; a new
 * file is started for the appends.  file_bytes is the rotation size.
 * Returns SIFT_OK or -errno.  *out is freed with sift__wal_close().
 */
int sift__wal_open(const char *dir, uint64_t next_seq, uint64_t file_bytes,
                   struct sift_wal **out);
/** Closes the files (does not sync) and frees.  NULL is a no-op. */
void sift__wal_close(struct sift_wal *w);

/**
 * Appends one record (header + payload) with write(2); rotates first when
 * the current file is past file_bytes.  *seq_out gets the record's seq.
 * Returns SIFT_OK, SIFT_ENOSPACE (disk full; nothing of the record stays
 * in the file), SIFT_EINVAL (payload too large), SIFT_EBUSY (rotation
 * would leave more than 32 files waiting for an fsync that is already
 * running; retry after it) or -errno.
 */
int sift__wal_append(struct sift_wal *w, const void *payload, size_t len,
                     uint64_t *seq_out);

/** Highest seq appended, and highest seq known durable (fsync'd). */
uint64_t sift__wal_last_seq(const struct sift_wal *w);
uint64_t sift__wal_durable_seq(const struct sift_wal *w);
/** Bytes in all WAL files, and the number of files. */
uint64_t sift__wal_bytes(const struct sift_wal *w);
unsigned sift__wal_files(const struct sift_wal *w);

#define SIFT_WAL_SYNC_MAX_FDS 8

/** A prepared fsync: plain data, safe to hand to another thread. */
struct sift_wal_sync {
    int fds[SIFT_WAL_SYNC_MAX_FDS]; /* dup'd; closed by sift__wal_sync_run */
    unsigned n_fds;
    int dir_fd;          /* dup of the dir fd when a file was created, or -1 */
    uint64_t target_seq; /* records <= this are durable when the run succeeds */
    int rc;              /* result of the run */
    int64_t duration_ns;
};

/**
 * Fills req for everything written since the last sync.  Returns 1 when
 * there is something to sync, 0 when there is not, or -errno (dup failed).
 * Owner thread.  At most one request may be outstanding.
 */
int sift__wal_sync_prepare(struct sift_wal *w, struct sift_wal_sync *req);
/** fsyncs and closes the request's fds, sets req->rc.  Any thread. */
void sift__wal_sync_run(struct sift_wal_sync *req);
/**
 * Records the outcome.  On success the durable seq moves to target_seq.
 * On failure every record past the durable seq is considered lost: the
 * files are cut back to the last durable record (files created after it
 * are removed), the next append reuses seq durable+1, and the function
 * returns the sanitised error (SIFT_ENOSPACE for ENOSPC/EDQUOT).  Owner
 * thread.
 */
int sift__wal_sync_done(struct sift_wal *w, const struct sift_wal_sync *req);
/** prepare + run + done on the calling thread.  Returns SIFT_OK or a code. */
int sift__wal_sync(struct sift_wal *w);

/**
 * Deletes the files whose every record is <= upto_seq.  The file being
 * appended to goes too when it is then the only one, all its records are
 * <= upto_seq and durable, and no fsync is outstanding (the next append
 * starts a new file).  Returns the number of files removed.  Owner thread.
 */
unsigned sift__wal_trim(struct sift_wal *w, uint64_t upto_seq);

/**
 * Checks that len bytes can be written now (writes zeros past the end of
 * the current file, then cuts them off).  SIFT_OK or SIFT_ENOSPACE/-errno.
 */
int sift__wal_probe_space(struct sift_wal *w, size_t len);

/* ---- failure injection (the unit-test build only) ---- */
#ifdef SIFT_UNIT_TESTS

/**
 * The next n WAL writes fail with ENOSPC after writing half their bytes
 * (n = 0 clears).  Process-wide, atomic.
 */
void sift__wal_inject_enospc(int n);
/** The next n fsyncs of WAL files fail with err (e.g. ENOSPC, EIO). */
void sift__wal_inject_fsync_error(int n, int err);
#endif

#endif /* SIFT_STORE_WAL_H */
