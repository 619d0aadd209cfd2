/*
 * segment_int.h - what the files of the segment format share inside the
 * store module (and the fuzz target and unit tests, which include it by
 * path).  The format is segment_fmt.h; the files follow its sections:
 *
 *   segment_write.c     the builder: collects events, orchestrates finish()
 *   segment_read.c      the reader: open, section table, fields, postings
 *   segment_sections.c  the section writer: header, alignment, section
 *                       table, trailer, checksums; bit packing
 *   segment_columns.c   TS, KWCOL, NUMCOL: written and read
 *   segment_docs.c      the doc store: SHAPES, SHAPEDOCS, DOCKEYS, DOCS,
 *                       ZDICT: shapes split at add(), blocks written and
 *                       decoded, dictionary training
 *   segment_origin.c    ORIGIN
 *   index/termdict.c    TERMS (term dictionaries and postings, the index
 *                       module: sift/termdict.h, sift/postings.h)
 */
#ifndef SIFT_STORE_SEGMENT_INT_H
#define SIFT_STORE_SEGMENT_INT_H

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>
#include <zstd.h>

#include "segment_origin.h"
#include "sift/buf.h"
#include "sift/event.h"
#include "sift/segment.h"
#include "sift/termdict.h"
#include "sift/tokenize.h"

struct sift_arena;

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

#define SIFT__SEG_ADD_CACHE_FIELDS 64u /* fields per event, cached lookup */
#define SIFT__SEG_TOK_BATCH 32u        /* text tokens hashed ahead of lookup */

struct bfield {
    char *name;
    uint32_t name_len;
    uint32_t hash;
    uint8_t type; /* SIFT_FT_*; message is TEXT */
    struct sift_termdict td;
    uint32_t *kw; /* term id per insertion doc (KEYWORD) */
    uint32_t kw_len;
    double *num; /* value per insertion doc (NUMBER) */
    uint32_t num_len;
    uint32_t last_tid; /* KEYWORD/NUMBER: term of the last value, or
                          UINT32_MAX; most fields repeat their value */
};

struct bdoc {
    int64_t ts;
    uint64_t off; /* into docbuf (stored form, segment_fmt.h DOCS) */
    uint32_t len;
    uint32_t tid;   /* template id */
    uint32_t shape; /* message shape id */
};

/* A message shape: its serialized form (segment_fmt.h SHAPES: varint slot
 * count, then the constant pieces) lives in shapebuf. */
struct bshape {
    uint64_t off;
    uint32_t len;
    uint32_t hash;
    uint32_t n_slots;
    uint32_t n_docs;
};

/* A doc store key: a (field name, type) pair named by index in docs. */
struct bkey {
    char *name;
    uint32_t name_len;
    uint32_t hash;
    uint8_t type;
};

struct sift_segment_builder {
    struct sift_segment_opts opts;
    char *text_fields, *keyword_fields, *numeric_fields; /* owned copies */
    struct sift_arena *arena;
    struct sift_buf docbuf;
    struct bdoc *docs;
    uint32_t n_docs, docs_cap;
    struct bfield *fields;
    uint32_t n_fields, fields_cap;
    uint32_t *fslots; /* field index + 1 */
    uint32_t fslots_mask;
    struct bkey *keys; /* doc store keys */
    uint32_t n_keys, keys_cap;
    uint32_t *kslots; /* key index + 1 */
    uint32_t kslots_mask;
    struct bshape *shapes;
    uint32_t n_shapes, shapes_cap;
    uint32_t *sslots; /* shape index + 1 */
    uint32_t sslots_mask;
    uint32_t verbatim; /* the verbatim shape's id, UINT32_MAX until used */
    int dict_used;     /* finish(): the doc store uses opts.zstd_dict */
    struct sift_buf shapebuf;
    struct sift_buf skel; /* add() scratch: the message's shape */
    size_t bytes;         /* approximate heap use */
    /* add() scratch: the field the tokenizer callback feeds, and its
     * tokens of a batch (bytes, length, hash) awaiting lookup. */
    struct bfield *cur;
    uint32_t cur_doc;
    uint32_t n_tok;
    uint32_t tok_len[SIFT__SEG_TOK_BATCH];
    uint32_t tok_hash[SIFT__SEG_TOK_BATCH];
    char tok[SIFT__SEG_TOK_BATCH][SIFT_TOKEN_MAX];
    /* add() lookup cache: events of one source list the same fields in
     * the same order, so the field and doc store key found for the i-th
     * field of the last event are tried first (checked by name).
     * Indexes + 1, 0 = none; cleared by reset. */
    uint32_t fcache[SIFT__SEG_ADD_CACHE_FIELDS];
    uint32_t kcache[SIFT__SEG_ADD_CACHE_FIELDS];
    uint32_t msg_field;     /* "message" field index + 1, 0 = none yet */
    struct sift_buf origin; /* the ORIGIN section bytes (encoded) */
};

/* segment_write.c: the field table. */
struct bfield *sift__segment_field_lookup(const struct sift_segment_builder *b,
                                          const char *name, size_t len);
/** Field flags (SIFT_SEGF_*) as stored in the image. */
unsigned sift__segment_field_flags(const struct sift_segment_builder *b,
                                   const struct bfield *f);

/* ------------------------------------------------------------------ */
/* Section writer (segment_sections.c)                                 */
/* ------------------------------------------------------------------ */

struct sift__segw {
    struct sift_buf *out;
    size_t base;          /* image start in out */
    struct sift_buf secs; /* section table entries being collected */
    uint32_t n_secs;
};

/** Position in the image (bytes written since its header's first). */
size_t sift__segw_pos(const struct sift__segw *w);
/** Appends zero bytes up to the next multiple of a (<= 32). */
void sift__segw_align(struct sift__segw *w, size_t a);
/** Records a section spanning [start, current position). */
void sift__segw_section(struct sift__segw *w, uint32_t kind, uint32_t field,
                        size_t start);
/**
 * Appends the section table and trailer, fills in the image length and
 * every checksum.  The image is complete afterwards.
 */
void sift__segw_finish(struct sift__segw *w);

/** Bits needed to hold v (0 for 0). */
static inline unsigned
sift__segment_bits_for(uint64_t v)
{
    unsigned w = 0;
    while (w < 64 && (v >> w) != 0)
        w++;
    return w;
}

/**
 * NUMCOL mode 2 and DOCS stream 4 (segment_fmt.h, version 7): *out = v
 * when v is an integer with |v| <= 2^53 and not -0.0; else returns 0.
 */
static inline int
sift__segment_num_int(double v, int64_t *out)
{
    if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0))
        return 0;
    int64_t i = (int64_t)v;
    if ((double)i != v || (i == 0 && signbit(v)))
        return 0;
    *out = i;
    return 1;
}

/** The canonical decimal text of v (optional '-', no leading zeros) in
 * out[0..24); returns its length. */
static inline size_t
sift__segment_int_text(int64_t v, char *out)
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        out[len++] = '-';
    while (n > 0)
        out[len++] = tmp[--n];
    return len;
}

/** ORs the w-bit value v in as value number i of the zeroed area p. */
static inline void
sift__segment_pack_put(uint8_t *p, size_t i, unsigned w, uint64_t v)
{
    size_t bit = i * w;
    for (unsigned k = 0; k < w;) {
        unsigned sh = (unsigned)(bit & 7);
        unsigned take = 8 - sh < w - k ? 8 - sh : w - k;
        p[bit >> 3] |= (uint8_t)(((v >> k) & ((1u << take) - 1)) << sh);
        k += take;
        bit += take;
    }
}

/** Appends zeroed room for n values of w bits; returns its start. */
uint8_t *sift__segment_pack_area(struct sift_buf *out, size_t n, unsigned w);

/** Value i of the w-bit LSB-first packed area p (bounds checked at open). */
static inline uint64_t
sift__segment_unpack(const uint8_t *p, unsigned w, uint32_t i)
{
    uint64_t v = 0;
    size_t bit = (size_t)i * w;
    for (unsigned k = 0; k < w;) {
        unsigned sh = (unsigned)(bit & 7);
        unsigned take = 8 - sh < w - k ? 8 - sh : w - k;
        v |= (uint64_t)(((unsigned)p[bit >> 3] >> sh) & ((1u << take) - 1))
             << k;
        k += take;
        bit += take;
    }
    return v;
}

/** XXH3_64bits of p[0..len). */
uint64_t sift__segment_hash(const void *p, size_t len);

/**
 * Recomputes every checksum of an image in place (header, sections, footer)
 * without checking anything else, so a fuzzer's mutations reach the
 * decoders behind the checksums.  Does nothing when the image is too
 * short or its section table does not fit.  Test/fuzz use only.
 */
void sift__segment_reseal(uint8_t *img, size_t len);

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

enum sift__seg_owner { SIFT__SEG_BORROWED, SIFT__SEG_HEAP, SIFT__SEG_MMAP };

struct rfield {
    const char *name; /* NUL-terminated copy in names */
    uint32_t name_len;
    unsigned flags;
    uint32_t n_terms;
    /* TERMS */
    struct sift_termdict_view terms; /* terms.p NULL: no section */
    /* KWCOL */
    uint32_t card;
    unsigned kw_width;
    const uint8_t *kw_offs;
    const uint8_t *kw_blob;
    uint32_t kw_blob_len;
    const uint8_t *kw_ords; /* packed codes, kw_width bits each */
    /* NUMCOL */
    const uint8_t *num;      /* mode 0: doubles; 1: packed codes; 2: index */
    const uint8_t *num_dict; /* mode 1: num_card sorted doubles */
    uint32_t num_card;
    unsigned num_width;      /* mode 1 only */
    unsigned num_mode;       /* 0, 1 or 2 (segment_fmt.h NUMCOL) */
    const uint8_t *num_area; /* mode 2: the packed area */
    size_t num_area_len;
};

struct rkey {
    const char *name; /* in the image, not NUL-terminated */
    uint32_t name_len;
    uint8_t type;
};

struct sift_segment {
    atomic_int refs;
    enum sift__seg_owner owner;
    const uint8_t *img;
    size_t len;
    size_t map_len;
    uint64_t uid; /* never reused; keys the per-thread caches */
    uint32_t n_docs;
    int64_t min_ts, max_ts;
    uint8_t tier;
    uint32_t version; /* SIFT_SEGFMT_VERSION_MIN..SIFT_SEGFMT_VERSION */
    /* TS */
    const uint8_t *ts_idx;
    const uint8_t *ts_packed;
    size_t ts_packed_len;
    uint32_t ts_blocks;
    /* DOCS */
    const uint8_t *docs;
    size_t docs_len;
    uint32_t doc_blocks;
    ZSTD_DDict *ddict;
    /* fields */
    struct rfield *fields;
    uint32_t n_fields;
    char *names;
    struct rkey *keys; /* DOCKEYS */
    uint32_t n_keys;
    int32_t *kfield; /* per key: field with a KWCOL (from version 7 also
                      * a NUMCOL) of that name, -1 */
    const roaring_bitmap_t *deleted;
    /* SHAPES / SHAPEDOCS, decoded on first use (sift__segment_shapes_load) */
    const uint8_t *shapes_sec, *sdocs_sec;
    size_t shapes_len, sdocs_len;
    pthread_mutex_t sh_mu;
    atomic_int sh_state; /* 0 not loaded, 1 loaded, 2 corrupt */
    int sh_rc;
    uint32_t n_shapes;
    uint8_t *sh_raw; /* decompressed SHAPES */
    uint32_t sh_raw_len;
    uint32_t *sh_poff;  /* per shape: offset of its first piece */
    uint16_t *sh_k;     /* per shape: slot count */
    uint32_t *sd_at;    /* per shape + 1: start in sd_ids */
    uint32_t *sd_ids;   /* doc ids grouped by shape */
    uint32_t *sd_shape; /* format >= 4: shape by doc id */
    /* SLOTIDX (format >= 6), decoded on first use under sh_mu
     * (sift__segment_slotidx_load) */
    const uint8_t *si_sec;
    size_t si_len;
    atomic_int si_state; /* 0 not loaded, 1 loaded, 2 corrupt */
    int si_rc;
    uint8_t *si_raw; /* decompressed columns */
    uint32_t si_raw_len;
    uint32_t *si_first;        /* per shape + 1: its first column */
    uint32_t *si_off;          /* per column: its offset in si_raw */
    uint32_t *sd_rank;         /* per doc: its index among its shape's docs */
    struct sift_segment *base; /* sift_segment_with_deleted(): owns the image */
    struct sift__segment_origin_owned origin; /* ORIGIN (zeros before v5) */
};

/*
 * The reader's per-thread cache: one decompressed doc block (with its
 * directory decoded into offsets) and one decompressed term chunk, keyed
 * by the segment's never-reused uid, so a freed segment's entry can never
 * be hit again.  Freed at thread exit.
 */
struct sift__segment_cache {
    ZSTD_DCtx *dctx;
    uint64_t uid; /* doc block: 0 = empty */
    uint32_t block;
    uint32_t len;
    uint8_t *data;
    size_t cap;
    uint32_t cnt; /* docs in the block */
    /* The block decoded (segment_docs.c): per doc its shape, template id,
     * first slot and first field; per slot / field value its offset and
     * length in data (length UINT32_MAX: the keyword column's value). */
    uint32_t *d_shape, *d_tid, *d_slot, *d_field;
    size_t d_cap;
    uint32_t *s_off, *s_len; /* s_off bit 31: offset into ntext */
    size_t s_cap;
    char *ntext; /* decimal text of typed slot columns (format 4) */
    size_t nt_len, nt_cap;
    uint32_t *f_key, *f_off, *f_len, *f_ord;
    size_t f_cap;
    struct sift_termdict_cache terms; /* one term chunk */
};

/** The calling thread's cache, or NULL when it cannot be allocated. */
struct sift__segment_cache *sift__segment_cache_get(void);

/* segment_columns.c */
void sift__segment_write_ts(struct sift__segw *w, const int64_t *ts,
                            uint32_t n);
void sift__segment_write_kwcol(struct sift__segw *w, const struct bfield *f,
                               uint32_t field_idx, const uint32_t *order,
                               const uint32_t *rank, const uint32_t *doc_order,
                               uint32_t n);
int sift__segment_write_numcol(struct sift__segw *w, const struct bfield *f,
                               uint32_t field_idx, const uint32_t *doc_order,
                               uint32_t n);
int sift__segment_parse_ts(struct sift_segment *s, const uint8_t *p,
                           size_t len);
int sift__segment_parse_kwcol(struct sift_segment *s, struct rfield *f,
                              const uint8_t *p, size_t len);
int sift__segment_parse_numcol(struct sift_segment *s, struct rfield *f,
                               const uint8_t *p, size_t len);

/* segment_docs.c: builder side */
/**
 * Appends ev in stored form (slot values, then varint field count and
 * per field varint key id, varint value length, value) to b->docbuf and
 * sets d->shape.
 */
void sift__segment_doc_encode(struct sift_segment_builder *b,
                              const struct sift_event *ev, struct bdoc *d);
void sift__segment_docs_reset(struct sift_segment_builder *b);
int sift__segment_write_shapes(struct sift__segw *w,
                               const struct sift_segment_builder *b,
                               const uint32_t *shape_of, uint32_t n,
                               ZSTD_CCtx *cctx);
void sift__segment_write_dockeys(struct sift__segw *w,
                                 const struct sift_segment_builder *b);
/** DOCS; clears b->dict_used when the dictionary does not pay. */
int sift__segment_write_docs(struct sift__segw *w,
                             struct sift_segment_builder *b,
                             const uint32_t *doc_order);

/** Appends a zstd frame of src to out; returns its length, or 0 and *rc. */
size_t sift__segment_zframe(ZSTD_CCtx *cctx, int level, struct sift_buf *out,
                            const void *src, size_t len, int *rc);

/* segment_slotidx.c: SLOTIDX (segment_fmt.h) */
/** Writes SLOTIDX; shape_of is by final doc id. */
int sift__segment_write_slotidx(struct sift__segw *w,
                                const struct sift_segment_builder *b,
                                const uint32_t *doc_order,
                                const uint32_t *shape_of, ZSTD_CCtx *cctx);
/**
 * Makes the slot index available (after sift__segment_shapes_load()):
 * SIFT_OK, SIFT_ENOTFOUND (format < 6), SIFT_ECORRUPT, SIFT_ENOMEM.
 */
int sift__segment_slotidx_load(const struct sift_segment *seg);
/** Frees what the slot index loader built, leaving it NULL. */
void sift__segment_slotidx_free(struct sift_segment *s);

/* segment_docs.c: reader side */
/**
 * Decompresses the zstd frame p[0..len) of exactly raw_len bytes (<=
 * SIFT_SEGFMT_MAX_BLOCK) into a new buffer (*out, owned).
 */
int sift__segment_inflate(const uint8_t *p, size_t len, uint32_t raw_len,
                          uint8_t **out);
int sift__segment_parse_dockeys(struct sift_segment *s, const uint8_t *p,
                                size_t len);
int sift__segment_parse_docs(struct sift_segment *s, const uint8_t *p,
                             size_t len);
/** Makes the shape tables available; SIFT_OK, SIFT_ECORRUPT, SIFT_ENOMEM. */
int sift__segment_shapes_load(const struct sift_segment *seg);
/** Frees the tables the shape loader built, leaving them NULL. */
void sift__segment_shapes_free(struct sift_segment *s);
/** Frees the doc store part of a thread's cache. */
void sift__segment_cache_docs_free(struct sift__segment_cache *c);

#endif /* SIFT_STORE_SEGMENT_INT_H */
