/*
 * termdict.h - the term dictionary of one field of a segment: the
 * builder's hash table of terms with their postings, the TERMS section
 * writer, and the reader over a section in place.
 *
 * A segment (store/segment_fmt.h) holds one TERMS section per indexed
 * field; its bytes are specified here, by the module that writes and
 * reads them, and postings entries in postings.h.  Offsets are from the
 * section's first byte, which the segment places at a multiple of 32.
 *
 * TERMS section:
 *   off size field
 *   0   4    term count t
 *   4   4    chunk count k (0 when t == 0)
 *   8   4    chunk index offset ci (multiple of 4)
 *   12  4    postings area offset (multiple of 32)
 *   16  ...  keys: per chunk its first term whole: varint length, bytes
 *   ci  20*k chunk index, per chunk: u32 key offset, u32 first term
 *            ordinal (0 for chunk 0, strictly increasing, < t), u32
 *            frame offset, u32 compressed length, u32 raw length
 *            (<= SIFT_TERMDICT_MAX_CHUNK)
 *   ..  ...  zstd frames, one per chunk
 *   parea ... postings area: frozen bitmaps, each 32-byte aligned
 * A chunk holds the terms first..next first - 1 (the last chunk: ..t-1),
 * sorted bytewise across chunks.  Its raw (decompressed) bytes are, per
 * term: varint shared prefix length with the previous term of the chunk
 * (0 for the chunk's first term, which equals its key), varint suffix
 * length, suffix bytes (term length <= SIFT_TERMDICT_MAX_TERM), then the
 * term's postings entry (postings.h); nothing after the last term.  The
 * builder closes a chunk after the term that brings its raw size to
 * >= SIFT_TERMDICT_CHUNK bytes (SIFT_TERMDICT_CHUNK_BIG at zstd levels
 * >= SIFT_TERMDICT_CHUNK_BIG_LEVEL; readers do not depend on the chunk
 * size).  Doc ids in postings are < the segment's doc count.  Lookup:
 * binary search on the keys (no decompression), then decompress and scan
 * one chunk.
 *
 * Threads: a builder-side dictionary belongs to one thread; a view is
 * immutable and may be read by any number of threads (each with its own
 * chunk cache and zstd context).
 */
#ifndef SIFT_TERMDICT_H
#define SIFT_TERMDICT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>
#include <zstd.h>

#include "sift/buf.h"
#include "sift/postings.h"

struct sift_arena;

#define SIFT_TERMDICT_CHUNK (16u << 10) /* raw bytes that close a chunk */
/* At zstd levels >= 10 (warm, cold) chunks close at 64 KiB: fewer, larger
 * frames compress better, and those tiers are read less. */
#define SIFT_TERMDICT_CHUNK_BIG (64u << 10)
#define SIFT_TERMDICT_CHUNK_BIG_LEVEL 10
#define SIFT_TERMDICT_MAX_TERM 4096u        /* longest term, bytes */
#define SIFT_TERMDICT_MAX_CHUNK (64u << 20) /* largest raw chunk, bytes */

/* ---- builder ---- */

/* A term being collected: bytes (in the builder's arena) and its docs. */
struct sift_termdict_term {
    const char *s;
    uint32_t len;
    uint32_t hash;
    struct sift_postings_acc docs;
};

/*
 * The terms of one field while a segment is built.  Embedded by value;
 * callers may read n_terms and terms[i].s / .len / .docs.n; the rest is
 * private.  Zero-initialized storage is an empty dictionary.
 */
struct sift_termdict {
    struct sift_termdict_term *terms;
    uint32_t n_terms, terms_cap;
    uint32_t *slots; /* term index + 1, 0 = empty */
    uint32_t slots_mask;
};

/**
 * Adds doc (>= every doc added before) to the postings of term s[0..len)
 * whose 32-bit hash is h, creating the term (its bytes copied into
 * arena) when new.  Returns the term id (dense, stable).  Adds the bytes
 * it allocated to *bytes.  Aborts on OOM.
 */
uint32_t sift_termdict_add(struct sift_termdict *td, struct sift_arena *arena,
                           const char *s, size_t len, uint32_t h, uint32_t doc,
                           size_t *bytes);

/** Adds doc to the postings of existing term tid (once per doc). */
static inline void
sift_termdict_add_doc(struct sift_termdict *td, uint32_t tid, uint32_t doc,
                      size_t *bytes)
{
    sift_postings_acc_add(&td->terms[tid].docs, doc, bytes);
}

/** A hint that term hash h will be looked up soon (prefetches its slot). */
static inline void
sift_termdict_prefetch(const struct sift_termdict *td, uint32_t h)
{
#if defined(__GNUC__)
    if (td->slots != NULL)
        __builtin_prefetch(&td->slots[h & td->slots_mask]);
#else
    (void)td;
    (void)h;
#endif
}

/** Frees what td holds (not the arena's term bytes); td is then empty. */
void sift_termdict_cleanup(struct sift_termdict *td);

/**
 * order[0..n_terms) = the term ids in byte order of their terms.  Returns
 * SIFT_OK or SIFT_ENOMEM.
 */
int sift_termdict_order(const struct sift_termdict *td, uint32_t *order);

/* Scratch for writing TERMS sections, reused across fields. */
struct sift_termdict_writer {
    int level;       /* zstd level of the chunks */
    ZSTD_CCtx *cctx; /* borrowed */
    struct sift_postings_writer pw;
    /* private */
    struct sift_buf blocks; /* raw bytes of the open chunk */
    struct sift_buf bidx;   /* chunk index entries */
    struct sift_buf keys;   /* chunk first terms */
    struct sift_buf frames; /* compressed chunks */
    uint32_t *ids;          /* ids_cap ids, then ids_cap more for sorting */
    size_t ids_cap;
};

/**
 * Prepares w to write with cctx (borrowed) at zstd level; shapes as in
 * sift_postings_writer_init().  Returns SIFT_OK or SIFT_ENOMEM.
 */
int sift_termdict_writer_init(struct sift_termdict_writer *w, ZSTD_CCtx *cctx,
                              int level,
                              const struct sift_postings_shapes *shapes);
void sift_termdict_writer_cleanup(struct sift_termdict_writer *w);

/**
 * Appends the TERMS section of td to out; the section starts at
 * out->len, which must be 32-byte aligned within the image.  Fills
 * order[0..n_terms) (sift_termdict_order()) and rank[term id] = position
 * in that order.  newid maps insertion doc ids to final doc ids (NULL =
 * identity).  Returns SIFT_OK, SIFT_ENOMEM, SIFT_ELIMIT (a section or
 * chunk too large) or SIFT_EIO (zstd failed, logged).
 */
int sift_termdict_write(struct sift_termdict_writer *w,
                        const struct sift_termdict *td, const uint32_t *newid,
                        uint32_t *order, uint32_t *rank, struct sift_buf *out);

/* ---- reader ---- */

/* A TERMS section in place (the image is borrowed and must outlive it). */
struct sift_termdict_view {
    const uint8_t *p;
    size_t len;
    uint32_t n_terms;
    uint32_t n_chunks;
    uint32_t cidx_off;  /* chunk index */
    uint32_t parea_off; /* postings area */
};

/**
 * Checks the section header and chunk index of p[0..len), which must
 * hold n_terms terms, and fills *v.  Every later access may trust these
 * bounds (chunk contents are checked as they are decoded).  Returns
 * SIFT_OK or SIFT_ECORRUPT.
 */
int sift_termdict_view_init(struct sift_termdict_view *v, const uint8_t *p,
                            size_t len, uint32_t n_terms);

/*
 * One decompressed chunk, kept by the caller between lookups (one per
 * thread: the segment reader's per-thread cache).  owner and field name
 * the view; owner 0 means empty.  Zero-initialized storage is empty.
 */
struct sift_termdict_cache {
    uint64_t owner;
    uint32_t field, chunk, len;
    uint8_t *data;
    size_t cap;
};

void sift_termdict_cache_cleanup(struct sift_termdict_cache *c);

/**
 * Looks term[0..len) up.  *out = a new bitmap of its docs (owned), or
 * NULL when the term is absent.  (owner, field) identify v for the cache
 * c (owner never reused, non-zero); dctx and c are the calling thread's.
 * src gives the doc count and shape groups (its area is filled here).
 * Returns SIFT_OK, SIFT_ECORRUPT or SIFT_ENOMEM.
 */
int sift_termdict_lookup(const struct sift_termdict_view *v, const char *term,
                         size_t len, ZSTD_DCtx *dctx,
                         struct sift_termdict_cache *c, uint64_t owner,
                         uint32_t field, struct sift_postings_src *src,
                         roaring_bitmap_t **out);

/* Called with each term in byte order; non-zero stops the walk. */
typedef int (*sift_termdict_cb)(const char *term, size_t len, void *arg);

/**
 * Calls cb with every term that starts with prefix[0..prefix_len), in
 * byte order, until cb returns non-zero.  Decompresses into its own
 * buffer, so cb may call sift_termdict_lookup() on the same thread.
 * Returns SIFT_OK, SIFT_ECORRUPT or SIFT_ENOMEM.
 */
int sift_termdict_each(const struct sift_termdict_view *v, const char *prefix,
                       size_t prefix_len, ZSTD_DCtx *dctx, sift_termdict_cb cb,
                       void *arg);

#endif /* SIFT_TERMDICT_H */
