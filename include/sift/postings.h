/*
 * postings.h - postings lists: which docs of a segment hold a term.
 *
 * Three parts, one per life stage of a list (format: the "postings tag"
 * of the TERMS section in store/segment_fmt.h):
 * - struct sift_postings_acc: the builder's accumulator, the insertion
 *   doc ids of one term, ascending, each once (a term seen once keeps its
 *   id inline, with no allocation).  Transparent: embedded by value in
 *   each term of a term dictionary; only `n` may be read.
 * - struct sift_postings_writer: encodes a sorted doc id list as the
 *   smallest of one doc, a delta list, a frozen roaring bitmap (into the
 *   postings area, 32-byte aligned) or shape groups (every doc of some
 *   message shapes plus residual docs).
 * - sift_postings_entry_read() / sift_postings_decode(): the reader,
 *   which checks every bound and every bitmap container, so a
 *   well-checksummed but malformed image fails with SIFT_ECORRUPT.
 *
 * Entry format (after the term, in a term chunk: termdict.h): varint
 * tag, then by tag & 3:
 *   0 (SIFT_POSTINGS_ONE): one doc, id = tag >> 2
 *   1 (SIFT_POSTINGS_LIST): a list of 2..SIFT_POSTINGS_LIST_MAX docs:
 *     first = tag >> 2, then varint m (further docs, 1 <= m <
 *     SIFT_POSTINGS_LIST_MAX), varint L (bytes of the deltas), then m
 *     varint deltas (each >= 1) from the previous doc, exactly L bytes.
 *   2 (SIFT_POSTINGS_BITMAP): a frozen roaring bitmap at postings area +
 *     32 * (tag >> 2), then varint byte length.
 *   3 (SIFT_POSTINGS_SHAPES): shape groups: m = tag >> 2 (1..shape count),
 *     then varint L, then exactly L bytes: m varint shape ids (the first
 *     absolute, then deltas >= 1, all < shape count), varint r (0..n), r
 *     varint doc ids (the first absolute, then deltas >= 1, all < n).
 *     The postings are every doc of the m shapes (the segment's SHAPES
 *     and SHAPEDOCS sections, store/segment_fmt.h) plus the r docs.
 * The writer uses 3 when the term occurs in every doc of some shapes (the
 * constant words of a message shape, a keyword one source's shapes
 * carry) and it is smaller than 1 / 2, and otherwise the smaller of 1
 * and 2.
 *
 * Threads: accumulators and writers belong to one thread; the decoder is
 * pure (any thread).
 */
#ifndef SIFT_POSTINGS_H
#define SIFT_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"

#define SIFT_POSTINGS_ONE 0u
#define SIFT_POSTINGS_LIST 1u
#define SIFT_POSTINGS_BITMAP 2u
#define SIFT_POSTINGS_SHAPES 3u
#define SIFT_POSTINGS_LIST_MAX 65536u /* longest inline list, docs */

/* ---- accumulator (builder) ---- */

struct sift_postings_acc {
    uint32_t last_doc; /* last id added, for de-duplication */
    uint32_t n;        /* docs held */
    uint32_t cap;      /* capacity of many (0 while inline) */
    uint32_t one;      /* the doc id while n == 1 and cap == 0 */
    uint32_t *many;
};

/** Starts acc with its first doc.  No allocation. */
static inline void
sift_postings_acc_init(struct sift_postings_acc *acc, uint32_t doc)
{
    acc->last_doc = doc;
    acc->n = 1;
    acc->cap = 0;
    acc->one = doc;
    acc->many = NULL;
}

/**
 * Adds doc (>= every id added before) once; adds the bytes it allocated
 * to *bytes (the builder's memory estimate).  Aborts on OOM.
 */
static inline void
sift_postings_acc_add(struct sift_postings_acc *acc, uint32_t doc,
                      size_t *bytes)
{
    if (acc->last_doc == doc)
        return;
    if (acc->cap == 0) {
        acc->cap = 4;
        acc->many = (uint32_t *)sift_xmalloc(4 * sizeof(uint32_t));
        acc->many[0] = acc->one;
        *bytes += 4 * sizeof(uint32_t);
    } else if (acc->n == acc->cap) {
        *bytes += (size_t)acc->cap * sizeof(uint32_t);
        acc->cap *= 2;
        acc->many =
            (uint32_t *)sift_xrealloc(acc->many, acc->cap * sizeof(uint32_t));
    }
    acc->many[acc->n++] = doc;
    acc->last_doc = doc;
}

/** The ids held (acc->n of them), borrowed from acc. */
static inline const uint32_t *
sift_postings_acc_ids(const struct sift_postings_acc *acc)
{
    return acc->cap == 0 ? &acc->one : acc->many;
}

static inline void
sift_postings_acc_cleanup(struct sift_postings_acc *acc)
{
    sift_free(acc->many);
    acc->many = NULL;
}

/* ---- writer ---- */

/*
 * Message shapes for shape-group postings: the shape of each doc (by
 * final doc id) and the number of docs of each shape.  Borrowed.
 */
struct sift_postings_shapes {
    const uint32_t *shape_of;
    const uint32_t *shape_docs;
    uint32_t n_shapes;
};

struct sift_postings_writer {
    struct sift_buf area; /* frozen bitmaps of the open section */
    /* private scratch */
    struct sift_buf list;
    struct sift_buf grp;
    uint32_t gm;
    const struct sift_postings_shapes *shapes;
    uint32_t *gcnt; /* per shape, zero between lists */
    uint32_t *gids;
    uint32_t *resid;
    size_t g_cap;
};

/**
 * Prepares w; with shapes (borrowed, must outlive w) the writer may pick
 * shape groups.  Returns SIFT_OK or SIFT_ENOMEM.
 */
int sift_postings_writer_init(struct sift_postings_writer *w,
                              const struct sift_postings_shapes *shapes);
void sift_postings_writer_cleanup(struct sift_postings_writer *w);

/**
 * Appends the postings entry of ids[0..n) (n >= 1, sorted, distinct) to
 * entry: varint tag, then what the tag needs; a bitmap goes into
 * w->area at a 32-byte aligned offset (the entry names it).  Returns
 * SIFT_OK or SIFT_ENOMEM.
 */
int sift_postings_write(struct sift_postings_writer *w, const uint32_t *ids,
                        uint32_t n, struct sift_buf *entry);

/* ---- reader ---- */

/** One entry as read from a term chunk: pointers into the chunk. */
struct sift_postings_entry {
    uint64_t tag, tag2;
    const uint8_t *list; /* list / shape group bytes */
    const uint8_t *list_end;
};

/**
 * Reads the entry at *p (before end) and advances *p past it.  Returns
 * SIFT_OK or SIFT_ECORRUPT.
 */
int sift_postings_entry_read(const uint8_t **p, const uint8_t *end,
                             struct sift_postings_entry *e);

/* Docs by shape, for shape-group entries: ids[at[g]..at[g+1]). */
struct sift_postings_shape_docs {
    const uint32_t *at;
    const uint32_t *ids;
    uint32_t n_shapes;
};

/* What decoding needs besides the entry (borrowed). */
struct sift_postings_src {
    uint32_t n_docs;     /* every id must be below */
    const uint8_t *area; /* the section's postings area (32-byte aligned) */
    size_t area_len;
    /* Called only for shape groups: fills *out or returns an error. */
    int (*shape_docs)(void *arg, struct sift_postings_shape_docs *out);
    void *arg;
    /* When range_hi > 0: only the docs in [range_lo, range_hi) are wanted
     * (a query over a time range); the others may be left out. */
    uint32_t range_lo, range_hi;
};

/**
 * Builds a new bitmap (*out, owned: roaring_bitmap_free()) of the entry's
 * docs (with src->range_hi > 0, only those in src's range: a window of a
 * long list costs the window, not the list).  Returns SIFT_OK, SIFT_ECORRUPT or
 * SIFT_ENOMEM (or the error of src->shape_docs).
 */
int sift_postings_decode(const struct sift_postings_src *src,
                         const struct sift_postings_entry *e,
                         roaring_bitmap_t **out);

/**
 * Checks that a frozen roaring bitmap view is well formed (keys strictly
 * increasing, array containers sorted and within 1..4096 values, bitset
 * cardinality equal to its popcount, run containers sorted, disjoint and
 * inside 0..65535) and that every value is < limit.  Returns SIFT_OK or
 * SIFT_ECORRUPT.  CRoaring trusts a frozen view's content; this is what
 * makes reading one from disk safe.
 */
int sift_postings_check_bitmap(const roaring_bitmap_t *bm, uint64_t limit);

/**
 * A checked frozen view of p[0..len) (32-byte aligned, values < limit):
 * release with roaring_bitmap_free().  NULL with *rc = SIFT_ECORRUPT.
 */
const roaring_bitmap_t *sift_postings_bitmap_view(const uint8_t *p, size_t len,
                                                  uint64_t limit, int *rc);

/**
 * Reads gap i of a strictly increasing id list (the first, i == 0, may
 * be 0: it is the first id itself) into *v; SIFT_ECORRUPT when it is
 * missing or the id would reach n.
 */
static inline int
sift_postings_next_id(const uint8_t **p, const uint8_t *end, uint64_t i,
                      uint64_t n, uint64_t *v)
{
    uint64_t d;
    if (sift_get_varint(p, end, &d) != SIFT_OK || (i > 0 && d == 0) ||
        d >= n - *v)
        return SIFT_ECORRUPT;
    *v += d;
    return SIFT_OK;
}

#endif /* SIFT_POSTINGS_H */
