/*
 * segment.h - immutable segments: the builder that writes one, and the
 * reader that the query engine uses.
 *
 * A segment is one byte image (format in src/store/segment_fmt.h) that
 * lives either in memory (a sealed near-real-time segment) or in a file
 * mapped with mmap; the reader is the same for both.  Docs are sorted by
 * timestamp when the image is built, so doc ids 0..n-1 are in time order:
 * a time range is a doc-id range and newest-first is reverse iteration.
 *
 * Fields: "message" and TEXT fields are tokenized (sift_tokenize());
 * KEYWORD and NUMBER fields contribute their whole lowercased value as
 * one term.  Low-cardinality KEYWORD fields also get a dictionary column
 * and NUMBER fields a numeric column, for filters and aggregations that
 * do not touch the doc store.  The pseudo-field "_template_id" holds each
 * doc's template id as a term and a numeric column.
 *
 * Threads: a built image is immutable, so a reader may be used by any
 * number of threads at once.  References are atomic.
 */
#ifndef SIFT_SEGMENT_H
#define SIFT_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "sift/buf.h"
#include "sift/event.h"

struct sift_segment;
struct sift_segment_builder;

/* Field capability flags, from sift_segment_field_info(). */
#define SIFT_SEGF_TERMS 0x1u   /* has a term dictionary and postings */
#define SIFT_SEGF_TEXT 0x2u    /* terms are tokens (TEXT / message) */
#define SIFT_SEGF_KEYWORD 0x4u /* has a dictionary column */
#define SIFT_SEGF_NUMBER 0x8u  /* has a numeric column */

/* Where a segment's docs came from (format 5 ORIGIN section).  Enough to
 * place a segment file in a rebuilt manifest without the manifest. */
#define SIFT_SEG_ORIGIN_UNKNOWN                                                \
    0                           /* format <= 4, or built outside the store     \
                                 */
#define SIFT_SEG_ORIGIN_WAL 1   /* sealed from WAL batches by the store */
#define SIFT_SEG_ORIGIN_MERGE 2 /* a merge (or tier move) of segments */

struct sift_segment_origin {
    uint8_t kind; /* SIFT_SEG_ORIGIN_* */
    /* WAL seqs of the batches whose docs it holds (for a merge: the least
     * and greatest over its inputs); 0 and 0 when none are known. */
    uint64_t min_seq, max_seq;
    /* MERGE: ids of the segments merged into it, ascending. */
    size_t n_inputs;
    const uint64_t *inputs;
    /* The source positions its docs reach (per key the highest; for a
     * merge the highest over its inputs), sorted by key. */
    size_t n_pos;
    const struct sift_srcpos *pos;
};

struct sift_segment_opts {
    int zstd_level;           /* doc store compression level */
    uint32_t block_bytes;     /* doc store block size before compression */
    uint32_t max_dict_values; /* keyword column only below this cardinality */
    uint8_t tier;             /* 0 hot, 1 warm, 2 cold (stored in header) */
    const void *zstd_dict;    /* optional trained dictionary (cold) */
    size_t zstd_dict_len;
    /* Field type overrides (comma lists; NULL = infer). */
    const char *text_fields;
    const char *keyword_fields;
    const char *numeric_fields;
    /* Origin to record (NULL = unknown); copied by builder_new. */
    const struct sift_segment_origin *origin;
};

/** Fills opts with defaults (zstd 3, 128 KiB blocks, 4096 dict values). */
void sift_segment_opts_init(struct sift_segment_opts *opts);

/* ---- builder (one thread) ---- */

/** Creates a builder.  Borrows opts (copied). */
int sift_segment_builder_new(const struct sift_segment_opts *opts,
                             struct sift_segment_builder **out);
void sift_segment_builder_free(struct sift_segment_builder *b);
/** Adds one event (copied).  Returns SIFT_OK or SIFT_ENOMEM. */
int sift_segment_builder_add(struct sift_segment_builder *b,
                             const struct sift_event *ev);
/** Number of docs added so far, and their approximate memory. */
uint32_t sift_segment_builder_count(const struct sift_segment_builder *b);
size_t sift_segment_builder_bytes(const struct sift_segment_builder *b);
/**
 * Sorts the docs by time and appends the segment image to out.  The
 * builder may be freed or reset afterwards.  Returns SIFT_OK or a code.
 */
int sift_segment_builder_finish(struct sift_segment_builder *b,
                                struct sift_buf *out);
/**
 * Sets the origin the image records (borrowed; copied, replacing opts'
 * one).  Returns SIFT_OK or SIFT_EINVAL (see struct
 * sift_segment_origin: seq range, duplicate inputs or keys, keys of 1 to
 * 1024 bytes); on failure the builder keeps its previous origin.
 */
int sift_segment_builder_set_origin(struct sift_segment_builder *b,
                                    const struct sift_segment_origin *o);
/** Empties the builder for reuse (keeps its options and origin). */
void sift_segment_builder_reset(struct sift_segment_builder *b);

/* ---- reader ---- */

/**
 * Opens an image held in memory; takes ownership of data (released with
 * sift_free() when the last reference goes).  Verifies header, footer and
 * every section checksum.  Returns SIFT_OK, SIFT_ECORRUPT or SIFT_ENOMEM;
 * on failure data is freed.
 */
int sift_segment_open_mem(void *data, size_t len, struct sift_segment **out);
/** Maps and verifies a segment file.  Returns SIFT_OK, -errno, SIFT_ECORRUPT.
 */
int sift_segment_open_file(const char *path, struct sift_segment **out);
/** Opens an image without copying; data must outlive the reader (fuzzing). */
int sift_segment_open_borrowed(const void *data, size_t len,
                               struct sift_segment **out);
struct sift_segment *sift_segment_ref(struct sift_segment *seg);
void sift_segment_unref(struct sift_segment *seg);

/* Header facts. */
uint32_t sift_segment_doc_count(const struct sift_segment *seg);
int64_t sift_segment_min_ts(const struct sift_segment *seg);
int64_t sift_segment_max_ts(const struct sift_segment *seg);
uint8_t sift_segment_tier(const struct sift_segment *seg);
/**
 * Where the docs came from (borrowed, valid while seg is; kind
 * SIFT_SEG_ORIGIN_UNKNOWN and zeros for format 3 and 4 files).
 */
const struct sift_segment_origin *
sift_segment_origin(const struct sift_segment *seg);
/** Size of the image in bytes (file size). */
size_t sift_segment_bytes(const struct sift_segment *seg);
/** The image bytes (borrowed), e.g. to write an in-memory segment out. */
const void *sift_segment_image(const struct sift_segment *seg);
/**
 * Drops the pages of a file-backed segment from this process's resident
 * set (madvise MADV_DONTNEED on its read-only mapping); the next read
 * refaults them from the page cache.  For after a sequential pass over a
 * whole segment (a merge input), so resident memory does not grow with
 * the size of what was read.  Safe while other threads read the segment;
 * a no-op for in-memory segments.  Any thread.
 */
void sift_segment_drop_pages(const struct sift_segment *seg);

/* Time column. */
int64_t sift_segment_doc_ts(const struct sift_segment *seg, uint32_t doc);
/** First doc whose ts >= ts_ns (doc_count when none). */
uint32_t sift_segment_ts_lower_bound(const struct sift_segment *seg,
                                     int64_t ts_ns);

/* Fields. */
uint32_t sift_segment_field_count(const struct sift_segment *seg);
/** Name (borrowed, NUL-terminated), flags and number of distinct terms. */
const char *sift_segment_field_info(const struct sift_segment *seg,
                                    uint32_t field, unsigned *flags,
                                    uint32_t *n_terms);
/** Field index by name, or -1. */
int sift_segment_field_find(const struct sift_segment *seg, const char *name,
                            size_t name_len);

/* Terms and postings. */
/**
 * The docs containing term in field as a new bitmap (release with
 * roaring_bitmap_free()).  *out is NULL when the term is absent.
 * Returns SIFT_OK, SIFT_ECORRUPT or SIFT_ENOMEM.
 */
int sift_segment_postings(const struct sift_segment *seg, uint32_t field,
                          const char *term, size_t term_len,
                          roaring_bitmap_t **out);
/**
 * sift_segment_postings() restricted to the docs in [lo, hi) (hi 0 = all):
 * a query over a time range decodes the range of a long list only.
 */
int sift_segment_postings_range(const struct sift_segment *seg, uint32_t field,
                                const char *term, size_t term_len, uint32_t lo,
                                uint32_t hi, roaring_bitmap_t **out);
/**
 * Calls cb for every term of field starting with prefix (all terms when
 * prefix_len is 0), in sorted order; cb returns non-zero to stop.  The
 * term pointer is valid during the call only.  Returns SIFT_OK or
 * SIFT_ECORRUPT.
 */
typedef int (*sift_term_cb)(const char *term, size_t len, void *arg);
int sift_segment_terms(const struct sift_segment *seg, uint32_t field,
                       const char *prefix, size_t prefix_len, sift_term_cb cb,
                       void *arg);

/**
 * Phrases on the message field by message shape: splits cand (docs that
 * hold every word of the phrase toks[0..n), 2 <= n <= 64, tokens as
 * sift_tokenize() makes them) into *sure, the docs whose shape holds the
 * phrase in its constant text (they match, nothing to read), and *maybe,
 * the docs whose shape may hold it depending on slot values (verify them
 * on the text); the other docs of cand cannot match.  Both are new
 * bitmaps (release with roaring_bitmap_free()).  Returns SIFT_OK,
 * SIFT_ENOTFOUND (format 3: no shape per doc; verify all of cand),
 * SIFT_EINVAL, SIFT_ECORRUPT or SIFT_ENOMEM.  Any thread.
 */
int sift_segment_phrase_shapes(const struct sift_segment *seg,
                               const char *const *toks, const size_t *lens,
                               uint32_t n, const roaring_bitmap_t *cand,
                               roaring_bitmap_t **sure,
                               roaring_bitmap_t **maybe);

/* Columns. */
/** Dictionary column: ordinal of doc's value, or UINT32_MAX if none. */
uint32_t sift_segment_keyword_ord(const struct sift_segment *seg,
                                  uint32_t field, uint32_t doc);
/** Number of dictionary values and value by ordinal (borrowed). */
uint32_t sift_segment_keyword_card(const struct sift_segment *seg,
                                   uint32_t field);
const char *sift_segment_keyword_value(const struct sift_segment *seg,
                                       uint32_t field, uint32_t ord,
                                       size_t *len);
/** Numeric column: SIFT_OK with *out, or SIFT_ENOTFOUND if doc has none. */
int sift_segment_number(const struct sift_segment *seg, uint32_t field,
                        uint32_t doc, double *out);

/* Doc store. */
/**
 * Appends the encoded doc (see sift_doc_decode()) to out.  Thread-safe;
 * decompresses one block (a small per-thread cache keeps the last one).
 * Returns SIFT_OK, SIFT_ECORRUPT, SIFT_ENOMEM or SIFT_EINVAL (bad id).
 */
int sift_segment_doc(const struct sift_segment *seg, uint32_t doc,
                     struct sift_buf *out);

/**
 * Trains a zstd dictionary for the doc store of a colder tier (pass it as
 * sift_segment_opts.zstd_dict when rebuilding or merging into that tier):
 * samples raw doc blocks of segs (at most 8 MiB in all, spread over the
 * segments and their blocks, cut into 4 KiB pieces) and runs
 * ZDICT_trainFromBuffer.  Appends the dictionary (at most max_bytes, e.g.
 * 112 KiB) to out.  Borrows segs; any thread.  Returns SIFT_OK,
 * SIFT_EINVAL (too little data to train on), SIFT_ECORRUPT or SIFT_ENOMEM.
 */
int sift_segment_dict_train(struct sift_segment *const *segs, size_t n_segs,
                            size_t max_bytes, struct sift_buf *out);

/* Deletes (tombstones); NULL when nothing is deleted.  Borrowed. */
const roaring_bitmap_t *sift_segment_deleted(const struct sift_segment *seg);

/**
 * Live deletes: opens a new reader over seg's image (shared, not copied)
 * whose deleted set is del united with the image's own DELETED section.
 * Takes ownership of del (freed on failure too).  seg is not changed, so
 * readers already using it are unaffected; publish the new reader in a
 * new snapshot.  The new reader holds a reference on the image's owner.
 * Returns SIFT_OK or SIFT_ECORRUPT/SIFT_ENOMEM.  Any thread.
 */
int sift_segment_with_deleted(struct sift_segment *seg, roaring_bitmap_t *del,
                              struct sift_segment **out);

#endif /* SIFT_SEGMENT_H */
