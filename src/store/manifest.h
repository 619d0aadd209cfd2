/*
 * manifest.h - DATA_DIR/MANIFEST: the list of live segment files, the last
 * WAL seq whose data is in them, and per source key the last position
 * contained in them (internal to the store module).
 *
 * The file is text, one item per line, ending with an XXH64 checksum line
 * (format in docs/internals/storage.md).  It is only ever replaced whole:
 * write MANIFEST.tmp, fsync, rename over MANIFEST, fsync the directory.
 * Each saved version carries a generation one higher than the last, and
 * the last SIFT_MANIFEST_KEEP of them stay as MANIFEST.<generation> (a
 * second name of the same file) for a start to fall back on.
 *
 * A struct sift_manifest is a plain value owned by its holder; nothing
 * here is thread-safe or attached to a loop.
 */
#ifndef SIFT_STORE_MANIFEST_H
#define SIFT_STORE_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"

#define SIFT_MANIFEST_VERSION 2 /* written; 1 is still read */
#define SIFT_MANIFEST_NAME "MANIFEST"
#define SIFT_MANIFEST_MAX_BYTES (64u << 20)
#define SIFT_MANIFEST_KEEP 4 /* generations kept as MANIFEST.<gen> */

struct sift_manifest_seg {
    uint64_t id;
    char file[64]; /* name inside DATA_DIR/segments/ */
    uint8_t tier;  /* 0 hot, 1 warm, 2 cold */
    uint64_t docs;
    int64_t min_ts;   /* ns */
    int64_t max_ts;   /* ns */
    uint64_t bytes;   /* file size */
    uint64_t deleted; /* tombstoned docs when saved (0 in version 1) */
};

struct sift_manifest_pos {
    char *key; /* owned */
    uint64_t hi;
    uint64_t lo;
};

/* A set of source positions keyed by source key (small: linear search). */
struct sift_posmap {
    struct sift_manifest_pos *v;
    size_t n;
    size_t cap;
};

/** Position of key, or NULL (borrowed from m). */
const struct sift_manifest_pos *sift__posmap_find(const struct sift_posmap *m,
                                                  const char *key);
/** Keeps the larger of the stored and given (hi, lo) for key (copied). */
void sift__posmap_merge(struct sift_posmap *m, const char *key, uint64_t hi,
                        uint64_t lo);
/** Merges every position of src into dst. */
void sift__posmap_merge_all(struct sift_posmap *dst,
                            const struct sift_posmap *src);
/** Frees the keys; the map is empty and reusable. */
void sift__posmap_cleanup(struct sift_posmap *m);

struct sift_manifest {
    uint32_t file_version; /* what decode read (encode writes the current) */
    uint64_t generation;
    uint64_t flushed_seq; /* every WAL record <= this is in a segment */
    uint64_t next_seg_id; /* ids below this were handed out */
    struct sift_manifest_seg *segs;
    size_t n_segs;
    size_t cap_segs;
    struct sift_posmap pos; /* last position per source key in segments */
};

/** An empty manifest (generation 0, next_seg_id 1). */
void sift__manifest_init(struct sift_manifest *m);
void sift__manifest_cleanup(struct sift_manifest *m);
/** Deep copy; dst is initialised by the call. */
void sift__manifest_copy(struct sift_manifest *dst,
                         const struct sift_manifest *src);

/** Appends a segment (copied). */
void sift__manifest_add_seg(struct sift_manifest *m,
                            const struct sift_manifest_seg *seg);
/** Removes the segment with id; returns 1 if it was there. */
int sift__manifest_remove_seg(struct sift_manifest *m, uint64_t id);

/** Appends the file form of m to out. */
void sift__manifest_encode(const struct sift_manifest *m, struct sift_buf *out);
/**
 * Parses the file form into m (initialised by the call; on failure it is
 * left empty).  Returns SIFT_OK, SIFT_ECORRUPT (bad checksum, syntax or
 * version) or SIFT_ENOMEM.
 */
int sift__manifest_decode(const char *p, size_t len, struct sift_manifest *m);

/**
 * Loads DATA_DIR/MANIFEST into m.  Returns SIFT_OK, SIFT_ENOTFOUND (no
 * manifest; m is empty), SIFT_ECORRUPT (logged with the reason) or
 * -errno.
 */
int sift__manifest_load(const char *data_dir, struct sift_manifest *m);
/**
 * The kept generations found in DATA_DIR (MANIFEST.<gen> files), newest
 * first.  OUT: *gens (owned, sift_free()) and *n.  Returns SIFT_OK or
 * -errno (the directory cannot be read).
 */
int sift__manifest_generations(const char *data_dir, uint64_t **gens,
                               size_t *n);
/**
 * Loads DATA_DIR/MANIFEST.<gen>; like sift__manifest_load(), and a file
 * whose generation line is not gen is SIFT_ECORRUPT.
 */
int sift__manifest_load_generation(const char *data_dir, uint64_t gen,
                                   struct sift_manifest *m);
/**
 * Atomically replaces DATA_DIR/MANIFEST with m (temp, fsync, rename,
 * fsync dir), keeps it as MANIFEST.<generation> as well and drops the
 * generation SIFT_MANIFEST_KEEP older.  Returns SIFT_OK, SIFT_ENOSPACE or
 * -errno; on failure the old manifest is still in place.  Blocking I/O: a
 * worker or shutdown.
 */
int sift__manifest_save(const char *data_dir, const struct sift_manifest *m);

#endif /* SIFT_STORE_MANIFEST_H */
