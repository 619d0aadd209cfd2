/*
 * segment_write.c - the segment builder: collects events, then writes one
 * immutable image (format: segment_fmt.h).
 *
 * Design.  add() encodes the event in the doc store's stored form (no
 * timestamp or template id, field names as key ids: segment_fmt.h DOCS)
 * into one growing buffer and indexes it at once: per field an
 * open-addressing hash table maps each distinct term (bytes kept in an
 * arena) to a postings accumulator, a growable uint32 array of insertion
 * doc ids (a term seen once keeps its one id inline, with no allocation).
 * Keyword fields keep a term id per doc, number fields a double per doc,
 * both indexed by insertion id.  add() tries the previous event's field
 * and doc store key at each field position, and a keyword field's last
 * term, before hashing (checked by name/bytes, so only faster).  finish() sorts
 * docs by (ts, insertion id) - a stable sort - and writes the sections with doc
 * ids remapped to time order; when the docs came in time order (the common
 * case) the remap is the identity and is skipped.  Term dictionaries are
 * written as zstd chunks of ~16 KiB, doc blocks group their docs by template id
 * before compression, columns are bit-packed.
 *
 * Invariants: term ids are dense indexes into a field's term array; a
 * postings accumulator holds each insertion id once, ascending.
 *
 * Threads: a builder belongs to one thread.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>
#include <zstd.h>
/* Inline XXH3: most keys hashed here are a few bytes, where the call into
 * the shared library costs more than the hash.  Same hash values. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/segment.h"
#include "sift/sort.h"
#include "sift/tokenize.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"
#include "store/segment_origin.h"

#define TEMPLATE_FIELD "_template_id"
#define MAX_DOC_BYTES (16u << 20) /* largest encoded doc accepted */
#define MAX_FIELDS 4096u          /* distinct fields per segment */
/* Longest postings kept as a varint list rather than a bitmap: below it
 * a frozen roaring bitmap (2 B/doc + headers + 32-byte alignment) is
 * larger than the deltas. */
#define LIST_MAX SIFT_SEGFMT_LIST_MAX
#define ADD_CACHE_FIELDS 64u /* fields per event with a cached lookup */
#define TOK_BATCH 32u        /* text tokens hashed ahead of their lookup */

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)0)
#endif

struct bterm {
    const char *s; /* arena */
    uint32_t len;
    uint32_t hash;
    uint32_t last_doc; /* last insertion id added, for de-duplication */
    uint32_t n;        /* docs in the accumulator */
    uint32_t cap;      /* capacity of many (0 while inline) */
    uint32_t one;      /* the doc id while n == 1 and cap == 0 */
    uint32_t *many;
};

struct bfield {
    char *name;
    uint32_t name_len;
    uint32_t hash;
    uint8_t type; /* SIFT_FT_*; message is TEXT */
    struct bterm *terms;
    uint32_t n_terms, terms_cap;
    uint32_t *slots; /* term index + 1, 0 = empty */
    uint32_t slots_mask;
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
    uint32_t tok_len[TOK_BATCH];
    uint32_t tok_hash[TOK_BATCH];
    char tok[TOK_BATCH][SIFT_TOKEN_MAX];
    /* add() lookup cache: events of one source list the same fields in
     * the same order, so the field and doc store key found for the i-th
     * field of the last event are tried first (checked by name).
     * Indexes + 1, 0 = none; cleared by reset. */
    uint32_t fcache[ADD_CACHE_FIELDS];
    uint32_t kcache[ADD_CACHE_FIELDS];
    uint32_t msg_field;     /* "message" field index + 1, 0 = none yet */
    struct sift_buf origin; /* the ORIGIN section bytes (encoded) */
};

void
sift_segment_opts_init(struct sift_segment_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->zstd_level = 3;
    opts->block_bytes = 128u << 10;
    opts->max_dict_values = 4096;
}

static uint32_t
hash32(const void *p, size_t len)
{
    return (uint32_t)XXH3_64bits(p, len);
}

uint64_t
sift__segment_hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

/* Inserts 1-based index v at hash h into an open-addressing slot table. */
static inline void
slots_put(uint32_t *slots, uint32_t mask, uint32_t h, uint32_t v)
{
    uint32_t i = h & mask;
    while (slots[i] != 0)
        i = (i + 1) & mask;
    slots[i] = v;
}

/* Replaces *slots by an n-slot table (n a power of two) over the count
 * items at base, stride bytes apart, each with its uint32_t hash at
 * hash_off. */
static void
slots_rebuild(uint32_t **slots, uint32_t *mask, uint32_t n, const void *base,
              size_t stride, size_t hash_off, uint32_t count)
{
    sift_free(*slots);
    *slots = sift_xcalloc(n, sizeof(uint32_t));
    *mask = n - 1;
    for (uint32_t j = 0; j < count; j++) {
        uint32_t h;
        memcpy(&h, (const char *)base + (size_t)j * stride + hash_off,
               sizeof(h));
        slots_put(*slots, *mask, h, j + 1);
    }
}

/* memcmp(a, b, n) == 0 without a library call for the short keys add()
 * compares (names, terms): two overlapping loads per side up to 16 bytes,
 * never outside [0, n). */
static inline int
bytes_eq(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    if (n >= 8 && n <= 16) {
        uint64_t x0, x1, y0, y1;
        memcpy(&x0, x, 8);
        memcpy(&y0, y, 8);
        memcpy(&x1, x + n - 8, 8);
        memcpy(&y1, y + n - 8, 8);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t x0, x1, y0, y1;
        memcpy(&x0, x, 4);
        memcpy(&y0, y, 4);
        memcpy(&x1, x + n - 4, 4);
        memcpy(&y1, y + n - 4, 4);
        return ((x0 ^ y0) | (x1 ^ y1)) == 0;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (x[i] != y[i])
                return 0;
        return 1;
    }
    return memcmp(x, y, n) == 0;
}

/* ---- builder state ---- */

int
sift_segment_builder_new(const struct sift_segment_opts *opts,
                         struct sift_segment_builder **out)
{
    struct sift_segment_builder *b = sift_xcalloc(1, sizeof(*b));
    b->opts = *opts;
    if (b->opts.block_bytes < 1024)
        b->opts.block_bytes = 1024;
    if (b->opts.block_bytes > SIFT_SEGFMT_MAX_BLOCK / 2)
        b->opts.block_bytes = SIFT_SEGFMT_MAX_BLOCK / 2;
    b->text_fields = opts->text_fields ? sift_xstrdup(opts->text_fields) : NULL;
    b->keyword_fields =
        opts->keyword_fields ? sift_xstrdup(opts->keyword_fields) : NULL;
    b->numeric_fields =
        opts->numeric_fields ? sift_xstrdup(opts->numeric_fields) : NULL;
    b->opts.text_fields = b->text_fields;
    b->opts.keyword_fields = b->keyword_fields;
    b->opts.numeric_fields = b->numeric_fields;
    if (opts->zstd_dict != NULL && opts->zstd_dict_len > 0) {
        void *d = sift_xmalloc(opts->zstd_dict_len);
        memcpy(d, opts->zstd_dict, opts->zstd_dict_len);
        b->opts.zstd_dict = d;
    } else {
        b->opts.zstd_dict = NULL;
        b->opts.zstd_dict_len = 0;
    }
    b->opts.origin = NULL;
    sift_buf_init(&b->origin);
    if (opts->origin == NULL ||
        sift__segment_origin_encode(opts->origin, &b->origin) != SIFT_OK) {
        struct sift_segment_origin none;
        memset(&none, 0, sizeof(none));
        sift_buf_reset(&b->origin);
        (void)sift__segment_origin_encode(&none, &b->origin);
    }
    b->arena = sift_arena_new(256u << 10);
    sift_buf_init(&b->docbuf);
    sift_buf_init(&b->shapebuf);
    sift_buf_init(&b->skel);
    b->verbatim = UINT32_MAX;
    *out = b;
    return SIFT_OK;
}

static void
field_free(struct bfield *f)
{
    for (uint32_t i = 0; i < f->n_terms; i++)
        sift_free(f->terms[i].many);
    sift_free(f->terms);
    sift_free(f->slots);
    sift_free(f->kw);
    sift_free(f->num);
    sift_free(f->name);
}

void
sift_segment_builder_reset(struct sift_segment_builder *b)
{
    for (uint32_t i = 0; i < b->n_fields; i++)
        field_free(&b->fields[i]);
    sift_free(b->fields);
    sift_free(b->fslots);
    sift_free(b->docs);
    for (uint32_t i = 0; i < b->n_keys; i++)
        sift_free(b->keys[i].name);
    sift_free(b->keys);
    sift_free(b->kslots);
    b->keys = NULL;
    b->kslots = NULL;
    b->n_keys = b->keys_cap = b->kslots_mask = 0;
    b->fields = NULL;
    b->fslots = NULL;
    b->docs = NULL;
    b->n_fields = b->fields_cap = b->fslots_mask = 0;
    b->n_docs = b->docs_cap = 0;
    sift_buf_cleanup(&b->docbuf);
    sift_free(b->shapes);
    sift_free(b->sslots);
    b->shapes = NULL;
    b->sslots = NULL;
    b->n_shapes = b->shapes_cap = b->sslots_mask = 0;
    b->verbatim = UINT32_MAX;
    sift_buf_cleanup(&b->shapebuf);
    sift_buf_cleanup(&b->skel);
    sift_arena_reset(b->arena);
    b->bytes = 0;
    memset(b->fcache, 0, sizeof(b->fcache));
    memset(b->kcache, 0, sizeof(b->kcache));
    b->msg_field = 0;
}

void
sift_segment_builder_free(struct sift_segment_builder *b)
{
    if (b == NULL)
        return;
    sift_segment_builder_reset(b);
    sift_arena_free(b->arena);
    sift_free(b->text_fields);
    sift_free(b->keyword_fields);
    sift_free(b->numeric_fields);
    sift_free((void *)(uintptr_t)b->opts.zstd_dict);
    sift_buf_cleanup(&b->origin);
    sift_free(b);
}

int
sift_segment_builder_set_origin(struct sift_segment_builder *b,
                                const struct sift_segment_origin *o)
{
    struct sift_buf enc = SIFT_BUF_INIT;
    int rc = sift__segment_origin_encode(o, &enc);
    if (rc == SIFT_OK) {
        sift_buf_cleanup(&b->origin);
        b->origin = enc;
    } else {
        sift_buf_cleanup(&enc);
    }
    return rc;
}

uint32_t
sift_segment_builder_count(const struct sift_segment_builder *b)
{
    return b->n_docs;
}

size_t
sift_segment_builder_bytes(const struct sift_segment_builder *b)
{
    return b->bytes + b->docbuf.cap + sift_arena_used(b->arena) +
           (size_t)b->docs_cap * sizeof(struct bdoc) + b->shapebuf.cap +
           (size_t)b->shapes_cap * sizeof(struct bshape);
}

/* True when name[0..len) is an element of the comma list (spaces trimmed). */
SIFT_STATIC int
in_list(const char *list, const char *name, size_t len)
{
    if (list == NULL)
        return 0;
    const char *p = list;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',')
            p++;
        const char *s = p;
        while (*p != '\0' && *p != ',')
            p++;
        const char *e = p;
        while (e > s && e[-1] == ' ')
            e--;
        if ((size_t)(e - s) == len && len > 0 && memcmp(s, name, len) == 0)
            return 1;
    }
    return 0;
}

/* The field named name[0..len) with hash h, or NULL. */
static struct bfield *
field_lookup_h(const struct sift_segment_builder *b, const char *name,
               size_t len, uint32_t h)
{
    if (b->fslots == NULL)
        return NULL;
    for (uint32_t i = h & b->fslots_mask;; i = (i + 1) & b->fslots_mask) {
        uint32_t s = b->fslots[i];
        if (s == 0)
            return NULL;
        struct bfield *f = &b->fields[s - 1];
        if (f->hash == h && f->name_len == len && bytes_eq(f->name, name, len))
            return f;
    }
}

static struct bfield *
field_lookup(const struct sift_segment_builder *b, const char *name, size_t len)
{
    return field_lookup_h(b, name, len, hash32(name, len));
}

static struct bfield *
field_get(struct sift_segment_builder *b, const char *name, size_t len,
          uint8_t type)
{
    uint32_t h = hash32(name, len);
    struct bfield *found = field_lookup_h(b, name, len, h);
    if (found != NULL)
        return found;
    if (b->n_fields >= MAX_FIELDS || len == 0 || len > SIFT_SEGFMT_MAX_NAME)
        return NULL; /* dropped from the index, kept in the doc */
    if ((b->n_fields + 1) * 2 > b->fslots_mask) {
        uint32_t n = b->fslots_mask ? (b->fslots_mask + 1) * 2 : 64;
        slots_rebuild(&b->fslots, &b->fslots_mask, n, b->fields,
                      sizeof(struct bfield), offsetof(struct bfield, hash),
                      b->n_fields);
    }
    if (b->n_fields == b->fields_cap) {
        b->fields_cap = b->fields_cap ? b->fields_cap * 2 : 16;
        b->fields =
            sift_xrealloc(b->fields, b->fields_cap * sizeof(struct bfield));
    }
    struct bfield *f = &b->fields[b->n_fields];
    memset(f, 0, sizeof(*f));
    f->name = sift_xstrndup(name, len);
    f->name_len = (uint32_t)len;
    f->hash = h;
    f->last_tid = UINT32_MAX;
    if (in_list(b->opts.text_fields, name, len))
        type = SIFT_FT_TEXT;
    else if (in_list(b->opts.keyword_fields, name, len))
        type = SIFT_FT_KEYWORD;
    else if (in_list(b->opts.numeric_fields, name, len))
        type = SIFT_FT_NUMBER;
    if (type < SIFT_FT_KEYWORD || type > SIFT_FT_NUMBER)
        type = SIFT_FT_KEYWORD;
    f->type = type;
    slots_put(b->fslots, b->fslots_mask, h, b->n_fields + 1);
    b->n_fields++;
    return f;
}

static void
term_slots_grow(struct sift_segment_builder *b, struct bfield *f)
{
    uint32_t n = f->slots_mask ? (f->slots_mask + 1) * 2 : 256;
    b->bytes += (size_t)n * sizeof(uint32_t) / 2;
    slots_rebuild(&f->slots, &f->slots_mask, n, f->terms, sizeof(struct bterm),
                  offsetof(struct bterm, hash), f->n_terms);
}

/* Adds doc to an existing term's postings (once per doc). */
static void
postings_add(struct sift_segment_builder *b, struct bterm *t, uint32_t doc)
{
    if (t->last_doc == doc)
        return;
    if (t->cap == 0) {
        t->cap = 4;
        t->many = sift_xmalloc(4 * sizeof(uint32_t));
        t->many[0] = t->one;
        b->bytes += 4 * sizeof(uint32_t);
    } else if (t->n == t->cap) {
        b->bytes += (size_t)t->cap * sizeof(uint32_t);
        t->cap *= 2;
        t->many = sift_xrealloc(t->many, t->cap * sizeof(uint32_t));
    }
    t->many[t->n++] = doc;
    t->last_doc = doc;
}

/* Adds doc to the postings of term s (hash h); returns the term id. */
static uint32_t
term_add_h(struct sift_segment_builder *b, struct bfield *f, const char *s,
           size_t len, uint32_t h, uint32_t doc)
{
    uint32_t i = h & f->slots_mask;
    if (f->slots != NULL) {
        for (;; i = (i + 1) & f->slots_mask) {
            uint32_t slot = f->slots[i];
            if (slot == 0)
                break;
            struct bterm *t = &f->terms[slot - 1];
            if (t->hash != h || t->len != len || !bytes_eq(t->s, s, len))
                continue;
            postings_add(b, t, doc);
            return slot - 1;
        }
    }
    if ((f->n_terms + 1) * 10 > (f->slots_mask + 1) * 7 || f->slots == NULL) {
        term_slots_grow(b, f);
        i = h & f->slots_mask;
        while (f->slots[i] != 0)
            i = (i + 1) & f->slots_mask;
    }
    if (f->n_terms == f->terms_cap) {
        b->bytes += (size_t)f->terms_cap * sizeof(struct bterm);
        f->terms_cap = f->terms_cap ? f->terms_cap * 2 : 64;
        f->terms = sift_xrealloc(f->terms, f->terms_cap * sizeof(struct bterm));
    }
    struct bterm *t = &f->terms[f->n_terms];
    t->s = sift_arena_strndup(b->arena, s, len);
    t->len = (uint32_t)len;
    t->hash = h;
    t->last_doc = doc;
    t->n = 1;
    t->cap = 0;
    t->one = doc;
    t->many = NULL;
    f->slots[i] = f->n_terms + 1;
    return f->n_terms++;
}

static uint32_t
term_add(struct sift_segment_builder *b, struct bfield *f, const char *s,
         size_t len, uint32_t doc)
{
    return term_add_h(b, f, s, len, hash32(s, len), doc);
}

/* Looks up the batched tokens of b->cur.  Their slots were prefetched
 * when hashed: the term tables of a text field outgrow the caches, and
 * the lookups are then mostly waiting for memory. */
static void
token_flush(struct sift_segment_builder *b)
{
    for (uint32_t k = 0; k < b->n_tok; k++)
        term_add_h(b, b->cur, b->tok[k], b->tok_len[k], b->tok_hash[k],
                   b->cur_doc);
    b->n_tok = 0;
}

static int
token_cb(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct sift_segment_builder *b = arg;
    struct bfield *f = b->cur;
    (void)pos;
    (void)off;
    uint32_t k = b->n_tok++;
    memcpy(b->tok[k], tok, len);
    b->tok_len[k] = (uint32_t)len;
    b->tok_hash[k] = hash32(tok, len);
    if (f->slots != NULL)
        PREFETCH(&f->slots[b->tok_hash[k] & f->slots_mask]);
    if (b->n_tok == TOK_BATCH)
        token_flush(b);
    return 0;
}

/* Grows a per-doc column so that index doc is valid. */
static void
kw_set(struct sift_segment_builder *b, struct bfield *f, uint32_t doc,
       uint32_t tid)
{
    if (doc >= f->kw_len) {
        uint32_t n = f->kw_len ? f->kw_len : 1024;
        while (n <= doc)
            n *= 2;
        f->kw = sift_xrealloc(f->kw, (size_t)n * sizeof(uint32_t));
        memset(f->kw + f->kw_len, 0xff,
               (size_t)(n - f->kw_len) * sizeof(uint32_t));
        b->bytes += (size_t)(n - f->kw_len) * sizeof(uint32_t);
        f->kw_len = n;
    }
    f->kw[doc] = tid;
}

static void
num_set(struct sift_segment_builder *b, struct bfield *f, uint32_t doc,
        double v)
{
    if (doc >= f->num_len) {
        uint32_t n = f->num_len ? f->num_len : 1024;
        while (n <= doc)
            n *= 2;
        f->num = sift_xrealloc(f->num, (size_t)n * sizeof(double));
        for (uint32_t i = f->num_len; i < n; i++)
            f->num[i] = NAN;
        b->bytes += (size_t)(n - f->num_len) * sizeof(double);
        f->num_len = n;
    }
    f->num[doc] = v;
}

/* Parses a number; NaN when s is not one. */
static double
parse_number(const char *s, size_t len)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return NAN;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + len)
        return NAN;
    return v;
}

static void
index_value(struct sift_segment_builder *b, struct bfield *f, uint32_t doc,
            const char *v, size_t len)
{
    if (f->type == SIFT_FT_TEXT) {
        b->cur = f;
        b->cur_doc = doc;
        b->n_tok = 0;
        sift_tokenize(v, len, token_cb, b);
        token_flush(b);
        return;
    }
    char small[256];
    char *lower = len <= sizeof(small) ? small : NULL;
    size_t tl = len > SIFT_SEGFMT_MAX_TERM ? SIFT_SEGFMT_MAX_TERM : len;
    if (lower == NULL)
        lower = sift_arena_alloc(b->arena, tl);
    sift_ascii_lower(v, tl, lower);
    uint32_t tid = f->last_tid;
    if (tid != UINT32_MAX && f->terms[tid].len == tl &&
        bytes_eq(f->terms[tid].s, lower, tl)) {
        postings_add(b, &f->terms[tid], doc);
    } else {
        tid = term_add(b, f, lower, tl, doc);
        f->last_tid = tid;
    }
    if (f->type == SIFT_FT_KEYWORD) {
        kw_set(b, f, doc, tid);
    } else {
        double d = parse_number(v, len);
        if (!isnan(d))
            num_set(b, f, doc, d);
    }
}

/* The doc store key id of (name, type), added when new. */
static uint32_t
key_get(struct sift_segment_builder *b, const char *name, size_t len,
        uint8_t type)
{
    uint32_t h = hash32(name, len) ^ type;
    if (b->kslots != NULL) {
        for (uint32_t i = h & b->kslots_mask;; i = (i + 1) & b->kslots_mask) {
            uint32_t s = b->kslots[i];
            if (s == 0)
                break;
            const struct bkey *k = &b->keys[s - 1];
            if (k->hash == h && k->type == type && k->name_len == len &&
                bytes_eq(k->name, name, len))
                return s - 1;
        }
    }
    if ((b->n_keys + 1) * 2 > b->kslots_mask) {
        uint32_t n = b->kslots_mask ? (b->kslots_mask + 1) * 2 : 64;
        slots_rebuild(&b->kslots, &b->kslots_mask, n, b->keys,
                      sizeof(struct bkey), offsetof(struct bkey, hash),
                      b->n_keys);
    }
    if (b->n_keys == b->keys_cap) {
        b->keys_cap = b->keys_cap ? b->keys_cap * 2 : 16;
        b->keys = sift_xrealloc(b->keys, b->keys_cap * sizeof(struct bkey));
    }
    struct bkey *k = &b->keys[b->n_keys];
    k->name = sift_xstrndup(name, len);
    k->name_len = (uint32_t)len;
    k->hash = h;
    k->type = type;
    slots_put(b->kslots, b->kslots_mask, h, b->n_keys + 1);
    return b->n_keys++;
}

/* key_get() for the i-th field of an event, trying the key the i-th field
 * of the previous event had. */
static uint32_t
key_get_at(struct sift_segment_builder *b, uint32_t i, const char *name,
           size_t len, uint8_t type)
{
    if (i < ADD_CACHE_FIELDS && b->kcache[i] != 0) {
        const struct bkey *k = &b->keys[b->kcache[i] - 1];
        if (k->type == type && k->name_len == len &&
            bytes_eq(k->name, name, len))
            return b->kcache[i] - 1;
    }
    uint32_t id = key_get(b, name, len, type);
    if (i < ADD_CACHE_FIELDS)
        b->kcache[i] = id + 1;
    return id;
}

/* field_get() for the i-th field of an event, likewise. */
static struct bfield *
field_get_at(struct sift_segment_builder *b, uint32_t i, const char *name,
             size_t len, uint8_t type)
{
    if (i < ADD_CACHE_FIELDS && b->fcache[i] != 0) {
        struct bfield *f = &b->fields[b->fcache[i] - 1];
        if (f->name_len == len && bytes_eq(f->name, name, len))
            return f;
    }
    struct bfield *f = field_get(b, name, len, type);
    if (i < ADD_CACHE_FIELDS)
        b->fcache[i] = f ? (uint32_t)(f - b->fields) + 1 : 0;
    return f;
}

static int
is_alnum_ascii(uint8_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Adds a shape (no limit check, no duplicate check); returns its id. */
static uint32_t
shape_add(struct sift_segment_builder *b, const char *key, size_t len,
          uint32_t h, uint32_t n_slots)
{
    if ((b->n_shapes + 1) * 2 > b->sslots_mask) {
        uint32_t n = b->sslots_mask ? (b->sslots_mask + 1) * 2 : 1024;
        slots_rebuild(&b->sslots, &b->sslots_mask, n, b->shapes,
                      sizeof(struct bshape), offsetof(struct bshape, hash),
                      b->n_shapes);
    }
    if (b->n_shapes == b->shapes_cap) {
        b->shapes_cap = b->shapes_cap ? b->shapes_cap * 2 : 256;
        b->shapes =
            sift_xrealloc(b->shapes, b->shapes_cap * sizeof(struct bshape));
    }
    struct bshape *sh = &b->shapes[b->n_shapes];
    sh->off = b->shapebuf.len;
    sh->len = (uint32_t)len;
    sh->hash = h;
    sh->n_slots = n_slots;
    sh->n_docs = 0;
    sift_buf_append(&b->shapebuf, key, len);
    slots_put(b->sslots, b->sslots_mask, h, b->n_shapes + 1);
    return b->n_shapes++;
}

/* The id of the shape serialized in b->skel, added when new (or the
 * verbatim shape when the table is full). */
static uint32_t
shape_find(const struct sift_segment_builder *b, uint32_t h)
{
    const char *key = b->skel.data;
    size_t len = b->skel.len;
    if (b->sslots != NULL) {
        for (uint32_t i = h & b->sslots_mask;; i = (i + 1) & b->sslots_mask) {
            uint32_t s = b->sslots[i];
            if (s == 0)
                break;
            const struct bshape *sh = &b->shapes[s - 1];
            if (sh->hash == h && sh->len == len &&
                memcmp(b->shapebuf.data + sh->off, key, len) == 0)
                return s - 1;
        }
    }
    return UINT32_MAX;
}

static uint32_t
shape_get(struct sift_segment_builder *b, uint32_t n_slots)
{
    const char *key = b->skel.data;
    size_t len = b->skel.len;
    uint32_t h = hash32(key, len);
    uint32_t id = shape_find(b, h);
    if (id != UINT32_MAX)
        return id;
    if (b->n_shapes >= SIFT_SEGFMT_MAX_SHAPES - 1 ||
        b->shapebuf.len + len > SIFT_SEGFMT_MAX_BLOCK / 2)
        return UINT32_MAX;
    return shape_add(b, key, len, h, n_slots);
}

/*
 * Splits msg into its shape (constant pieces, into b->skel) and slot
 * values (appended to docbuf as varint length + bytes); returns the shape
 * id.  A slot is a maximal run of ASCII letters and digits containing a
 * digit (segment_fmt.h SHAPES).
 */
static uint32_t
shape_split(struct sift_segment_builder *b, const char *msg, size_t len)
{
    const uint8_t *m = (const uint8_t *)msg;
    struct sift_buf *out = &b->docbuf;
    size_t docbuf_len0 = out->len;
    uint32_t k = 0;
    size_t piece = 0;
    sift_buf_reset(&b->skel);
    sift_buf_reserve(&b->skel, len + 16);
    for (size_t i = 0; i < len;) {
        if (!is_alnum_ascii(m[i])) {
            i++;
            continue;
        }
        size_t j = i;
        int digit = 0;
        while (j < len && is_alnum_ascii(m[j])) {
            digit |= m[j] >= '0' && m[j] <= '9';
            j++;
        }
        if (digit && k < SIFT_SEGFMT_MAX_SLOTS) {
            sift_buf_put_varint(&b->skel, i - piece);
            sift_buf_append(&b->skel, msg + piece, i - piece);
            sift_buf_put_varint(out, j - i);
            sift_buf_append(out, msg + i, j - i);
            piece = j;
            k++;
        }
        i = j;
    }
    sift_buf_put_varint(&b->skel, len - piece);
    sift_buf_append(&b->skel, msg + piece, len - piece);
    /* The slot count goes first: rebuild skel with it in front. */
    size_t body = b->skel.len;
    uint8_t hdr[10];
    size_t hl = 0;
    for (uint64_t v = k; hl == 0 || v != 0; v >>= 7)
        hdr[hl++] = (uint8_t)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
    sift_buf_reserve(&b->skel, hl);
    memmove(b->skel.data + hl, b->skel.data, body);
    memcpy(b->skel.data, hdr, hl);
    b->skel.len = body + hl;
    uint32_t id = shape_get(b, k);
    if (id != UINT32_MAX)
        return id;
    /* Table full: the verbatim shape, the whole message as one slot. */
    out->len = docbuf_len0;
    sift_buf_put_varint(out, len);
    sift_buf_append(out, msg, len);
    if (b->verbatim == UINT32_MAX) {
        /* Room was kept for it; a message that is one slot may have
         * created the same shape already. */
        sift_buf_reset(&b->skel);
        sift_buf_append(&b->skel, "\1\0\0", 3);
        uint32_t h = hash32("\1\0\0", 3);
        b->verbatim = shape_find(b, h);
        if (b->verbatim == UINT32_MAX)
            b->verbatim = shape_add(b, "\1\0\0", 3, h, 1);
    }
    return b->verbatim;
}

/* Appends ev in stored form (slot values, then varint field count and
 * per field varint key id, varint value length, value) to docbuf; sets
 * the doc's shape. */
static void
doc_store_encode(struct sift_segment_builder *b, const struct sift_event *ev,
                 struct bdoc *d)
{
    struct sift_buf *out = &b->docbuf;
    size_t need = 20 + 2 * (size_t)ev->msg_len;
    for (uint32_t i = 0; i < ev->n_fields; i++)
        need += 15 + ev->fields[i].value_len;
    sift_buf_reserve(out, need);
    d->shape = shape_split(b, ev->msg, ev->msg_len);
    b->shapes[d->shape].n_docs++;
    sift_buf_put_varint(out, ev->n_fields);
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        uint8_t type = f->type >= SIFT_FT_KEYWORD && f->type <= SIFT_FT_NUMBER
                           ? f->type
                           : SIFT_FT_KEYWORD;
        sift_buf_put_varint(out, key_get_at(b, i, f->name, f->name_len, type));
        sift_buf_put_varint(out, f->value_len);
        sift_buf_append(out, f->value, f->value_len);
    }
}

int
sift_segment_builder_add(struct sift_segment_builder *b,
                         const struct sift_event *ev)
{
    size_t enc = (size_t)ev->msg_len;
    for (uint32_t i = 0; i < ev->n_fields; i++)
        enc += (size_t)ev->fields[i].name_len + ev->fields[i].value_len;
    if (enc > MAX_DOC_BYTES || b->n_docs == UINT32_MAX - 1)
        return SIFT_ELIMIT;
    if (b->n_docs == b->docs_cap) {
        uint32_t n = b->docs_cap ? b->docs_cap * 2 : 1024;
        struct bdoc *d = sift_try_realloc(b->docs, n * sizeof(struct bdoc));
        if (d == NULL)
            return SIFT_ENOMEM;
        b->docs = d;
        b->docs_cap = n;
    }
    uint32_t doc = b->n_docs;
    struct bdoc *d = &b->docs[doc];
    d->ts = ev->ts_ns;
    d->off = b->docbuf.len;
    d->tid = ev->template_id;
    doc_store_encode(b, ev, d);
    d->len = (uint32_t)(b->docbuf.len - d->off);
    b->n_docs++;

    struct bfield *f = NULL;
    if (b->msg_field != 0) {
        f = &b->fields[b->msg_field - 1];
    } else {
        f = field_get(b, SIFT_MESSAGE_FIELD, sizeof(SIFT_MESSAGE_FIELD) - 1,
                      SIFT_FT_TEXT);
        b->msg_field = f ? (uint32_t)(f - b->fields) + 1 : 0;
    }
    if (f != NULL && ev->msg_len > 0)
        index_value(b, f, doc, ev->msg, ev->msg_len);
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *sf = &ev->fields[i];
        f = field_get_at(b, i, sf->name, sf->name_len, sf->type);
        if (f != NULL)
            index_value(b, f, doc, sf->value, sf->value_len);
    }
    if (ev->template_id != SIFT_TEMPLATE_NONE) {
        char num[16];
        int n = snprintf(num, sizeof(num), "%u", (unsigned)ev->template_id);
        f = field_get(b, TEMPLATE_FIELD, sizeof(TEMPLATE_FIELD) - 1,
                      SIFT_FT_NUMBER);
        if (f != NULL)
            index_value(b, f, doc, num, (size_t)n);
    }
    return SIFT_OK;
}

/* ---- finish ---- */

struct writer {
    struct sift_buf *out;
    size_t base;          /* image start in out */
    struct sift_buf secs; /* section table entries being collected */
    uint32_t n_secs;
};

static size_t
w_pos(const struct writer *w)
{
    return w->out->len - w->base;
}

static void
w_align(struct writer *w, size_t a)
{
    static const char zero[32];
    size_t pad = (a - w_pos(w) % a) % a;
    sift_buf_append(w->out, zero, pad);
}

/* Records a section spanning [start, current position). */
static void
w_section(struct writer *w, uint32_t kind, uint32_t field, size_t start)
{
    sift_buf_put_u32(&w->secs, kind);
    sift_buf_put_u32(&w->secs, field);
    sift_buf_put_u64(&w->secs, start);
    sift_buf_put_u64(&w->secs, w_pos(w) - start);
    sift_buf_put_u64(&w->secs, 0); /* checksum, filled at the end */
    w->n_secs++;
}

/* Bits needed to hold v (0 for 0). */
static unsigned
bits_for(uint64_t v)
{
    unsigned w = 0;
    while (w < 64 && (v >> w) != 0)
        w++;
    return w;
}

/* ORs the w-bit value v in as value number i of the zeroed area p. */
static void
pack_put(uint8_t *p, size_t i, unsigned w, uint64_t v)
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

/* Appends n zeroed bytes for n values of w bits; returns their start. */
static uint8_t *
pack_area(struct sift_buf *out, size_t n, unsigned w)
{
    size_t nbytes = (n * w + 7) / 8;
    sift_buf_reserve(out, nbytes);
    uint8_t *p = (uint8_t *)out->data + out->len;
    memset(p, 0, nbytes);
    out->len += nbytes;
    return p;
}

static void
write_ts(struct writer *w, const int64_t *ts, uint32_t n)
{
    uint32_t nb = (n + SIFT_SEGFMT_TS_BLOCK - 1) / SIFT_SEGFMT_TS_BLOCK;
    size_t start = w_pos(w);
    sift_buf_put_u32(w->out, nb);
    sift_buf_put_u32(w->out, 0);
    size_t idx = w->out->len;
    sift_buf_reserve(w->out, (size_t)nb * 16);
    memset(w->out->data + idx, 0, (size_t)nb * 16);
    w->out->len += (size_t)nb * 16;
    size_t packed = w->out->len;
    for (uint32_t blk = 0; blk < nb; blk++) {
        uint32_t first = blk * SIFT_SEGFMT_TS_BLOCK;
        uint32_t cnt =
            n - first < SIFT_SEGFMT_TS_BLOCK ? n - first : SIFT_SEGFMT_TS_BLOCK;
        int64_t base = ts[first];
        uint64_t maxd = 0;
        unsigned e = 18;
        for (uint32_t i = 0; i < cnt; i++) {
            uint64_t dlt = (uint64_t)ts[first + i] - (uint64_t)base;
            if (dlt > maxd)
                maxd = dlt;
            while (e > 0 && dlt % sift__segfmt_pow10(e) != 0)
                e--;
        }
        if (maxd == 0)
            e = 0;
        uint64_t scale = sift__segfmt_pow10(e);
        unsigned width = bits_for(maxd / scale);
        /* A line through the first and last doc (step per doc) often
         * leaves much smaller residuals (steady rates); all arithmetic is
         * mod 2^64, as the reader's. */
        uint64_t step = 0, mneg = 0; /* mneg = -(least residual) >= 0 */
        if (cnt > 1 && width > 0) {
            uint64_t s1 = ((uint64_t)ts[first + cnt - 1] - (uint64_t)base) /
                          scale / (cnt - 1);
            int64_t lo = INT64_MAX, hi = INT64_MIN;
            for (uint32_t i = 0; i < cnt; i++) {
                uint64_t d = ((uint64_t)ts[first + i] - (uint64_t)base) / scale;
                int64_t r = (int64_t)(d - (uint64_t)i * s1);
                lo = r < lo ? r : lo;
                hi = r > hi ? r : hi;
            }
            unsigned w1 = bits_for((uint64_t)hi - (uint64_t)lo);
            if (hi >= lo && (uint64_t)hi - (uint64_t)lo < (UINT64_C(1) << 62) &&
                w1 < width) {
                step = s1;
                mneg = 0 - (uint64_t)lo; /* residual 0 is first: lo <= 0 */
                width = w1;
            }
        }
        uint8_t *ent = (uint8_t *)w->out->data + idx + (size_t)blk * 16;
        sift_store_u64(ent, (uint64_t)base);
        sift_store_u32(ent + 8, (uint32_t)(w->out->len - packed));
        ent[12] = (uint8_t)width;
        ent[13] = (uint8_t)e;
        sift_buf_put_varint(w->out, step);
        sift_buf_put_varint(w->out, mneg);
        uint8_t *p = pack_area(w->out, cnt, width);
        for (uint32_t i = 0; i < cnt && width > 0; i++)
            pack_put(p, i, width,
                     ((uint64_t)ts[first + i] - (uint64_t)base) / scale -
                         (uint64_t)i * step + mneg);
    }
    w_section(w, SIFT_SEGSEC_TS, UINT32_MAX, start);
}

/* Sort keys carry their data: qsort() has no context argument. */
struct tsort {
    const char *s;
    uint32_t len;
    uint32_t id;
};

static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static int
tsort_cmp(const void *x, const void *y)
{
    const struct tsort *a = x, *b = y;
    return bytes_cmp(a->s, a->len, b->s, b->len);
}

/* qsort comparator for the (few) shape ids of one term. */
static int
u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

struct scratch {
    struct sift_buf blocks; /* raw bytes of the open chunk */
    struct sift_buf posts;
    struct sift_buf bidx; /* chunk index entries */
    struct sift_buf list;
    struct sift_buf keys;   /* chunk first terms */
    struct sift_buf frames; /* compressed chunks */
    ZSTD_CCtx *cctx;
    int level;
    uint32_t *ids; /* ids_cap ids, then ids_cap more for sift_sort_u32 */
    size_t ids_cap;
    /* Shape groups for postings tag 3 (segment_fmt.h TERMS). */
    const uint32_t *shape_of; /* shape by doc id */
    const struct bshape *shapes;
    uint32_t *gcnt;  /* per shape, zero between terms */
    uint32_t *gids;  /* covered shapes of the term */
    uint32_t *resid; /* its other docs */
    size_t g_cap;
    struct sift_buf grp; /* tag 3 payload */
    uint32_t gm;         /* shapes in it */
};

/*
 * Encodes ids[0..n) (sorted doc ids) as covered shapes + residual docs
 * into sc->grp; returns the payload length, or SIZE_MAX when no shape is
 * covered entirely.
 */
static size_t
shape_groups(struct scratch *sc, const uint32_t *ids, uint32_t n)
{
    if (n > sc->g_cap) {
        size_t cap = (size_t)n * 2;
        uint32_t *g = sift_try_malloc(cap * sizeof(uint32_t));
        uint32_t *r = sift_try_malloc(cap * sizeof(uint32_t));
        if (g == NULL || r == NULL) {
            sift_free(g);
            sift_free(r);
            return SIZE_MAX; /* plain postings still work */
        }
        sift_free(sc->gids);
        sift_free(sc->resid);
        sc->gids = g;
        sc->resid = r;
        sc->g_cap = cap;
    }
    for (uint32_t i = 0; i < n; i++)
        sc->gcnt[sc->shape_of[ids[i]]]++;
    uint32_t m = 0, nr = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t g = sc->shape_of[ids[i]];
        if (sc->gcnt[g] == UINT32_MAX)
            continue;
        if (sc->gcnt[g] == sc->shapes[g].n_docs) {
            sc->gids[m++] = g;
            sc->gcnt[g] = UINT32_MAX;
        } else {
            sc->resid[nr++] = ids[i];
        }
    }
    for (uint32_t i = 0; i < n; i++)
        sc->gcnt[sc->shape_of[ids[i]]] = 0;
    if (m == 0)
        return SIZE_MAX;
    if (m > 1)
        qsort(sc->gids, m, sizeof(uint32_t), u32_cmp);
    sift_buf_reset(&sc->grp);
    for (uint32_t i = 0; i < m; i++)
        sift_buf_put_varint(&sc->grp,
                            i ? sc->gids[i] - sc->gids[i - 1] : sc->gids[0]);
    sift_buf_put_varint(&sc->grp, nr);
    for (uint32_t i = 0; i < nr; i++)
        sift_buf_put_varint(&sc->grp,
                            i ? sc->resid[i] - sc->resid[i - 1] : sc->resid[0]);
    sc->gm = m;
    return sc->grp.len;
}

/* Compresses the open chunk into sc->frames and records it. */
static int
chunk_close(struct scratch *sc, uint32_t first_term)
{
    if (sc->blocks.len == 0)
        return SIFT_OK;
    if (sc->blocks.len > SIFT_SEGFMT_MAX_BLOCK)
        return SIFT_ELIMIT;
    size_t bound = ZSTD_compressBound(sc->blocks.len);
    if (sift_buf_try_reserve(&sc->frames, bound) != SIFT_OK)
        return SIFT_ENOMEM;
    size_t z =
        ZSTD_compressCCtx(sc->cctx, sc->frames.data + sc->frames.len, bound,
                          sc->blocks.data, sc->blocks.len, sc->level);
    if (ZSTD_isError(z)) {
        SIFT_ERROR("segment: zstd: %s", ZSTD_getErrorName(z));
        return SIFT_EIO;
    }
    /* Key and frame offsets are relative here; fixed up by the caller. */
    sift_buf_put_u32(&sc->bidx, 0);
    sift_buf_put_u32(&sc->bidx, first_term);
    sift_buf_put_u32(&sc->bidx, (uint32_t)sc->frames.len);
    sift_buf_put_u32(&sc->bidx, (uint32_t)z);
    sift_buf_put_u32(&sc->bidx, (uint32_t)sc->blocks.len);
    sc->frames.len += z;
    sift_buf_reset(&sc->blocks);
    return SIFT_OK;
}

/*
 * order[0..n_terms) = the field's term ids in byte order: a radix sort on
 * each term's first 8 bytes, then a comparison sort of each run of equal
 * prefixes on the whole bytes.  qsort() of every term with memcmp was
 * most of a flush thread's sorting time.
 */
static int
term_order(const struct bfield *f, uint32_t *order)
{
    uint32_t n = f->n_terms;
    struct sift_kv64 *kv = sift_try_malloc(((size_t)n * 2 + 1) * sizeof(*kv));
    if (kv == NULL)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        kv[i].key = sift_sort_key_prefix(f->terms[i].s, f->terms[i].len);
        kv[i].v = i;
    }
    sift_sort_kv64(kv, n, kv + n);
    struct tsort *ts = NULL;
    size_t ts_cap = 0;
    for (uint32_t r = 0; r < n;) {
        uint32_t e = r + 1;
        while (e < n && kv[e].key == kv[r].key)
            e++;
        if (e - r > 1) {
            if (e - r > ts_cap) {
                ts_cap = (size_t)(e - r) * 2;
                sift_free(ts);
                ts = sift_try_malloc(ts_cap * sizeof(*ts));
                if (ts == NULL) {
                    sift_free(kv);
                    return SIFT_ENOMEM;
                }
            }
            for (uint32_t k = r; k < e; k++) {
                const struct bterm *t = &f->terms[kv[k].v];
                ts[k - r].s = t->s;
                ts[k - r].len = t->len;
                ts[k - r].id = kv[k].v;
            }
            qsort(ts, e - r, sizeof(*ts), tsort_cmp);
            for (uint32_t k = r; k < e; k++)
                kv[k].v = ts[k - r].id;
        }
        r = e;
    }
    for (uint32_t i = 0; i < n; i++)
        order[i] = kv[i].v;
    sift_free(ts);
    sift_free(kv);
    return SIFT_OK;
}

/*
 * Writes the TERMS section of f; fills rank[term id] = sorted position.
 * newid maps insertion ids to doc ids (NULL = identity).
 */
static int
write_terms(struct writer *w, struct bfield *f, uint32_t field_idx,
            const uint32_t *newid, uint32_t *order, uint32_t *rank,
            struct scratch *sc)
{
    int rc;
    if ((rc = term_order(f, order)) != SIFT_OK)
        return rc;
    sift_buf_reset(&sc->blocks);
    sift_buf_reset(&sc->posts);
    sift_buf_reset(&sc->bidx);
    sift_buf_reset(&sc->keys);
    sift_buf_reset(&sc->frames);
    const struct bterm *prev = NULL;
    uint32_t chunk_first = 0;
    for (uint32_t r = 0; r < f->n_terms; r++) {
        struct bterm *t = &f->terms[order[r]];
        rank[order[r]] = r;
        uint32_t shared = 0;
        if (sc->blocks.len >= (sc->level >= SIFT_SEGFMT_TERM_CHUNK_BIG_LEVEL
                                   ? SIFT_SEGFMT_TERM_CHUNK_BIG
                                   : SIFT_SEGFMT_TERM_CHUNK)) {
            if ((rc = chunk_close(sc, chunk_first)) != SIFT_OK)
                return rc;
            chunk_first = r;
        }
        if (sc->blocks.len == 0) {
            sift_buf_put_varint(&sc->keys, t->len);
            sift_buf_append(&sc->keys, t->s, t->len);
        } else {
            uint32_t m = prev->len < t->len ? prev->len : t->len;
            while (shared < m && prev->s[shared] == t->s[shared])
                shared++;
        }
        sift_buf_put_varint(&sc->blocks, shared);
        sift_buf_put_varint(&sc->blocks, t->len - shared);
        sift_buf_append(&sc->blocks, t->s + shared, t->len - shared);
        prev = t;

        uint32_t *ids = t->cap == 0 ? &t->one : t->many;
        uint32_t n = t->n;
        if (newid != NULL) {
            if (n > sc->ids_cap) {
                sc->ids_cap = n * 2;
                sift_free(sc->ids);
                sc->ids = sift_try_malloc(sc->ids_cap * 2 * sizeof(uint32_t));
                if (sc->ids == NULL) {
                    sc->ids_cap = 0;
                    return SIFT_ENOMEM;
                }
            }
            for (uint32_t i = 0; i < n; i++)
                sc->ids[i] = newid[ids[i]];
            if (n > 1)
                sift_sort_u32(sc->ids, n, sc->ids + sc->ids_cap);
            ids = sc->ids;
        }
        if (n == 1) {
            sift_buf_put_varint(&sc->blocks,
                                (uint64_t)ids[0] << 2 | SIFT_SEGFMT_POST_ONE);
        } else {
            /* Deltas as varints, or a frozen bitmap when that is smaller
             * (dense or run-heavy postings).  Lists are compressed with
             * the chunk, so they are weighed at about 5/8 of their size. */
            sift_buf_reset(&sc->list);
            for (uint32_t i = 1; i < n; i++)
                sift_buf_put_varint(&sc->list, ids[i] - ids[i - 1]);
            roaring_bitmap_t *bm = NULL;
            size_t sz = 0;
            if (n >= 64 || n >= LIST_MAX) {
                bm = roaring_bitmap_of_ptr(n, ids);
                if (bm == NULL)
                    return SIFT_ENOMEM;
                roaring_bitmap_run_optimize(bm);
                sz = roaring_bitmap_frozen_size_in_bytes(bm);
            }
            size_t glen =
                sc->shape_of != NULL ? shape_groups(sc, ids, n) : SIZE_MAX;
            if (glen != SIZE_MAX && (n >= LIST_MAX || glen < sc->list.len) &&
                (bm == NULL || glen / 8 * 5 + 2 < sz + 16)) {
                if (bm != NULL)
                    roaring_bitmap_free(bm);
                sift_buf_put_varint(&sc->blocks, (uint64_t)sc->gm << 2 |
                                                     SIFT_SEGFMT_POST_SHAPES);
                sift_buf_put_varint(&sc->blocks, glen);
                sift_buf_append(&sc->blocks, sc->grp.data, glen);
                continue;
            }
            if (n < LIST_MAX &&
                (bm == NULL || sc->list.len / 8 * 5 + 2 < sz + 16)) {
                if (bm != NULL) /* roaring 0.2 crashes on NULL */
                    roaring_bitmap_free(bm);
                sift_buf_put_varint(&sc->blocks, (uint64_t)ids[0] << 2 |
                                                     SIFT_SEGFMT_POST_LIST);
                sift_buf_put_varint(&sc->blocks, n - 1);
                sift_buf_put_varint(&sc->blocks, sc->list.len);
                sift_buf_append(&sc->blocks, sc->list.data, sc->list.len);
                continue;
            }
            size_t at = (sc->posts.len + 31) & ~(size_t)31;
            if (sift_buf_try_reserve(&sc->posts, at - sc->posts.len + sz) !=
                SIFT_OK) {
                roaring_bitmap_free(bm);
                return SIFT_ENOMEM;
            }
            memset(sc->posts.data + sc->posts.len, 0, at - sc->posts.len);
            roaring_bitmap_frozen_serialize(bm, sc->posts.data + at);
            sc->posts.len = at + sz;
            roaring_bitmap_free(bm);
            sift_buf_put_varint(&sc->blocks, (uint64_t)(at / 32) << 2 |
                                                 SIFT_SEGFMT_POST_BITMAP);
            sift_buf_put_varint(&sc->blocks, sz);
        }
    }
    if ((rc = chunk_close(sc, chunk_first)) != SIFT_OK)
        return rc;
    size_t start = w_pos(w);
    uint32_t nc = (uint32_t)(sc->bidx.len / 20);
    size_t cidx = (16 + sc->keys.len + 3) & ~(size_t)3;
    size_t frames_at = cidx + sc->bidx.len;
    size_t parea = (frames_at + sc->frames.len + 31) & ~(size_t)31;
    if (parea + sc->posts.len > UINT32_MAX)
        return SIFT_ELIMIT;
    /* Fix up the key and frame offsets of the chunk index. */
    const uint8_t *kp = (const uint8_t *)sc->keys.data;
    const uint8_t *kend = kp + sc->keys.len;
    for (uint32_t c = 0; c < nc; c++) {
        uint8_t *e = (uint8_t *)sc->bidx.data + (size_t)c * 20;
        sift_store_u32(
            e, (uint32_t)(16 + (size_t)(kp - (const uint8_t *)sc->keys.data)));
        sift_store_u32(e + 8, (uint32_t)(frames_at + sift_load_u32(e + 8)));
        uint64_t kl = 0;
        (void)sift_get_varint(&kp, kend, &kl);
        kp += kl;
    }
    sift_buf_put_u32(w->out, f->n_terms);
    sift_buf_put_u32(w->out, nc);
    sift_buf_put_u32(w->out, (uint32_t)cidx);
    sift_buf_put_u32(w->out, (uint32_t)parea);
    sift_buf_append(w->out, sc->keys.data, sc->keys.len);
    w_align(w, 4);
    sift_buf_append(w->out, sc->bidx.data, sc->bidx.len);
    sift_buf_append(w->out, sc->frames.data, sc->frames.len);
    w_align(w, 32);
    sift_buf_append(w->out, sc->posts.data, sc->posts.len);
    w_section(w, SIFT_SEGSEC_TERMS, field_idx, start);
    return SIFT_OK;
}

static void
write_kwcol(struct writer *w, struct bfield *f, uint32_t field_idx,
            const uint32_t *order_terms, const uint32_t *rank,
            const uint32_t *doc_order, uint32_t n)
{
    size_t start = w_pos(w);
    uint32_t c = f->n_terms;
    unsigned width = bits_for(c);
    sift_buf_put_u32(w->out, c);
    sift_buf_putc(w->out, (char)width);
    sift_buf_append(w->out, "\0\0\0", 3);
    uint32_t off = 0;
    for (uint32_t r = 0; r < c; r++) {
        sift_buf_put_u32(w->out, off);
        off += f->terms[order_terms[r]].len + 1;
    }
    sift_buf_put_u32(w->out, off);
    for (uint32_t r = 0; r < c; r++) {
        const struct bterm *t = &f->terms[order_terms[r]];
        sift_buf_append(w->out, t->s, t->len);
        sift_buf_putc(w->out, '\0');
    }
    uint8_t *p = pack_area(w->out, n, width);
    for (uint32_t d = 0; d < n; d++) {
        uint32_t old = doc_order ? doc_order[d] : d;
        uint32_t tid = old < f->kw_len ? f->kw[old] : UINT32_MAX;
        pack_put(p, d, width, tid == UINT32_MAX ? c : rank[tid]);
    }
    w_section(w, SIFT_SEGSEC_KWCOL, field_idx, start);
}

/* Sorts d[0..c) ascending (no NaN) by radix on order-preserving keys. */
static int
sort_doubles(double *d, uint32_t c)
{
    uint64_t *k = sift_try_malloc(((size_t)c * 2 + 1) * sizeof(uint64_t));
    if (k == NULL)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < c; i++)
        k[i] = sift_sort_key_f64(d[i]);
    sift_sort_u64(k, c, k + c);
    for (uint32_t i = 0; i < c; i++)
        d[i] = sift_sort_f64_of_key(k[i]);
    sift_free(k);
    return SIFT_OK;
}

/* Index of v in the sorted distinct array d[0..c). */
static uint32_t
dbl_find(const double *d, uint32_t c, double v)
{
    uint32_t lo = 0, hi = c;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (d[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
write_numcol(struct writer *w, struct bfield *f, uint32_t field_idx,
             const uint32_t *doc_order, uint32_t n)
{
    size_t start = w_pos(w);
    /* Distinct values (a sorted copy), for the dictionary mode. */
    double *d = sift_try_malloc(((size_t)f->num_len + 1) * sizeof(double));
    if (d == NULL)
        return SIFT_ENOMEM;
    uint32_t c = 0;
    for (uint32_t i = 0; i < f->num_len && i < n; i++)
        if (!isnan(f->num[i]))
            d[c++] = f->num[i];
    if (sort_doubles(d, c) != SIFT_OK) {
        sift_free(d);
        return SIFT_ENOMEM;
    }
    uint32_t u = 0;
    for (uint32_t i = 0; i < c; i++)
        if (u == 0 || d[i] != d[u - 1])
            d[u++] = d[i];
    c = u;
    unsigned width = bits_for(c);
    size_t dict_bytes = 8 + 8 + (size_t)c * 8 + ((size_t)n * width + 7) / 8;
    if (c > 0 && c <= SIFT_SEGFMT_NUM_DICT_MAX && dict_bytes < (size_t)n * 8) {
        sift_buf_append(w->out, "\1\0\0\0\0\0\0\0", 8);
        sift_buf_put_u32(w->out, c);
        sift_buf_putc(w->out, (char)width);
        sift_buf_append(w->out, "\0\0\0", 3);
        for (uint32_t i = 0; i < c; i++) {
            uint64_t bits;
            memcpy(&bits, &d[i], 8);
            sift_buf_put_u64(w->out, bits);
        }
        uint8_t *p = pack_area(w->out, n, width);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t old = doc_order ? doc_order[i] : i;
            double v = old < f->num_len ? f->num[old] : NAN;
            pack_put(p, i, width, isnan(v) ? c : dbl_find(d, c, v));
        }
    } else {
        sift_buf_append(w->out, "\0\0\0\0\0\0\0\0", 8);
        sift_buf_reserve(w->out, (size_t)n * 8);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t old = doc_order ? doc_order[i] : i;
            double v = old < f->num_len ? f->num[old] : NAN;
            uint64_t bits;
            memcpy(&bits, &v, 8);
            sift_buf_put_u64(w->out, bits);
        }
    }
    sift_free(d);
    w_section(w, SIFT_SEGSEC_NUMCOL, field_idx, start);
    return SIFT_OK;
}

static void
write_dockeys(struct writer *w, const struct sift_segment_builder *b)
{
    size_t start = w_pos(w);
    sift_buf_put_varint(w->out, b->n_keys);
    for (uint32_t i = 0; i < b->n_keys; i++) {
        const struct bkey *k = &b->keys[i];
        sift_buf_put_varint(w->out, k->name_len);
        sift_buf_append(w->out, k->name, k->name_len);
        sift_buf_putc(w->out, (char)k->type);
    }
    w_section(w, SIFT_SEGSEC_DOCKEYS, UINT32_MAX, start);
}

/* Field flags as stored in the image. */
static unsigned
field_flags(const struct sift_segment_builder *b, const struct bfield *f)
{
    switch (f->type) {
    case SIFT_FT_TEXT: return SIFT_SEGF_TERMS | SIFT_SEGF_TEXT;
    case SIFT_FT_NUMBER:
        return SIFT_SEGF_TERMS | (f->num_len > 0 ? SIFT_SEGF_NUMBER : 0);
    default:
        return SIFT_SEGF_TERMS |
               (f->n_terms <= b->opts.max_dict_values && f->kw_len > 0
                    ? SIFT_SEGF_KEYWORD
                    : 0);
    }
}

/* A stored field value of a block, for stream 4. */
struct fval {
    uint32_t key;
    uint32_t seq; /* position in the block's field order */
    const uint8_t *v;
    uint32_t len;
    uint8_t omit; /* equals the keyword column value */
};

struct colv {
    const uint8_t *v;
    uint32_t len;
};

struct blockbuf {
    struct sift_buf s1, s2, s3, s4;
    uint64_t *tmp;       /* per doc shape << 32 | index, then as many scratch */
    struct colv *col;    /* one slot column of one shape */
    const uint8_t **cur; /* per doc: its next slot value */
    struct fval *fv;
    struct fval *fv_tmp; /* fval_sort() scratch, fv_cap entries */
    size_t fv_cap;
    struct bfield **kwf; /* per doc key: the keyword column field or NULL */
    uint32_t *key_at;    /* fval_sort() scratch, one per doc key + 1 */
};

/*
 * Sorts fv[0..n) by (key, seq), the order of stream 4: seq is
 * ascending in fv already, so a stable counting sort by key gives the
 * same order (keys are doc store key ids, fewer than n_keys), in O(n)
 * instead of n log n callback comparisons.
 */
static void
fval_sort(struct blockbuf *bb, size_t n, uint32_t n_keys)
{
    uint32_t *at = bb->key_at;
    memset(at, 0, ((size_t)n_keys + 1) * sizeof(*at));
    for (size_t j = 0; j < n; j++)
        at[bb->fv[j].key + 1]++;
    for (uint32_t k = 1; k <= n_keys; k++)
        at[k] += at[k - 1];
    for (size_t j = 0; j < n; j++)
        bb->fv_tmp[at[bb->fv[j].key]++] = bb->fv[j];
    struct fval *t = bb->fv;
    bb->fv = bb->fv_tmp;
    bb->fv_tmp = t;
}

static uint64_t
get_varint_trusted(const uint8_t **p)
{
    uint64_t v = 0;
    unsigned sh = 0;
    for (;;) {
        uint8_t c = *(*p)++;
        v |= (uint64_t)(c & 0x7f) << sh;
        if (!(c & 0x80))
            return v;
        sh += 7;
    }
}

static unsigned
varint_len(uint64_t v)
{
    unsigned n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint64_t
zigzag(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

/*
 * Appends one slot column (segment_fmt.h DOCS stream 3, format 4): a mode
 * byte, then the values as text (mode 0) or, when every value is a run
 * of digits, as zvarint deltas from the previous value (canonical, at
 * most 18 digits: mode 1; one width with leading zeros: mode 2) or as
 * fixed-width little-endian integers (canonical, <= UINT64_MAX: mode 3).
 * Numbers are used only when they are smaller than zstd's ~3.3 bits per
 * digit of text: counters and clocks become deltas, random ids (block
 * ids, addresses) become bytes, which zstd stores at their entropy; as
 * digits among other text a random 19-digit id costs ~11 bytes, not 8.
 */
static int
slot_column(struct sift_buf *out, const struct colv *col, uint32_t n)
{
    int canon = 1, fixed = 1, small = 1;
    uint32_t width = n ? col[0].len : 0;
    uint64_t prev = 0, num_bytes = 0, text_bits = 0, max = 0;
    for (uint32_t i = 0; i < n && (canon || fixed); i++) {
        const uint8_t *v = col[i].v;
        uint32_t l = col[i].len;
        if (l == 0 || l > SIFT_SEGFMT_SLOT_DIGITS_U64) {
            canon = fixed = 0;
            break;
        }
        uint64_t x = 0;
        for (uint32_t j = 0; j < l; j++) {
            unsigned dg = (unsigned)(v[j] - '0');
            if (v[j] < '0' || v[j] > '9') {
                canon = fixed = 0;
                break;
            }
            if (x > (UINT64_MAX - dg) / 10) /* 20 digits past 2^64 - 1 */
                canon = fixed = 0;
            x = x * 10 + dg;
        }
        if (l > 1 && v[0] == '0')
            canon = 0;
        if (l != width)
            fixed = 0;
        if (l > SIFT_SEGFMT_SLOT_DIGITS)
            small = fixed = 0;
        num_bytes += varint_len(zigzag(x - prev));
        text_bits += 27u * l / 8u + 8u; /* ~3.3 bits per digit + length */
        prev = x;
        if (x > max)
            max = x;
    }
    unsigned fw = (unsigned)(bits_for(max) + 7) / 8;
    if (fw == 0)
        fw = 1;
    if (canon && (uint64_t)fw * n * 8 < text_bits &&
        (!small || (uint64_t)fw * n < num_bytes)) {
        if (sift_buf_try_reserve(out, 2 + (size_t)n * fw) != SIFT_OK)
            return SIFT_ENOMEM;
        sift_buf_putc(out, 3);
        sift_buf_putc(out, (char)fw);
        for (uint32_t i = 0; i < n; i++) {
            uint64_t x = 0;
            for (uint32_t j = 0; j < col[i].len; j++)
                x = x * 10 + (uint64_t)(col[i].v[j] - '0');
            for (unsigned j = 0; j < fw; j++)
                sift_buf_putc(out, (char)(uint8_t)(x >> (8 * j)));
        }
        return SIFT_OK;
    }
    if ((canon || fixed) && small && num_bytes * 8 < text_bits) {
        if (sift_buf_try_reserve(out, 2 + (size_t)n * 10) != SIFT_OK)
            return SIFT_ENOMEM;
        sift_buf_putc(out, canon ? 1 : 2);
        if (!canon)
            sift_buf_put_varint(out, width);
        prev = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint64_t x = 0;
            for (uint32_t j = 0; j < col[i].len; j++)
                x = x * 10 + (uint64_t)(col[i].v[j] - '0');
            sift_buf_put_varint(out, zigzag(x - prev));
            prev = x;
        }
        return SIFT_OK;
    }
    if (sift_buf_try_reserve(out, 1) != SIFT_OK)
        return SIFT_ENOMEM;
    sift_buf_putc(out, 0);
    for (uint32_t i = 0; i < n; i++) {
        if (sift_buf_try_reserve(out, 10 + (size_t)col[i].len) != SIFT_OK)
            return SIFT_ENOMEM;
        sift_buf_put_varint(out, col[i].len);
        sift_buf_append(out, col[i].v, col[i].len);
    }
    return SIFT_OK;
}

/* Appends the raw block of docs [first, end) (doc id order) to raw
 * (segment_fmt.h DOCS: five streams). */
static int
block_raw(const struct sift_segment_builder *b, const uint32_t *doc_order,
          uint32_t first, uint32_t end, struct blockbuf *bb,
          struct sift_buf *raw)
{
    uint32_t cnt = end - first;
    int grouped = 1;
    size_t n_fv = 0;
    sift_buf_reset(&bb->s1);
    sift_buf_reset(&bb->s2);
    sift_buf_reset(&bb->s3);
    sift_buf_reset(&bb->s4);
    for (uint32_t i = 0; i < cnt; i++) {
        uint32_t old = doc_order ? doc_order[first + i] : first + i;
        const struct bdoc *doc = &b->docs[old];
        const uint8_t *p = (const uint8_t *)b->docbuf.data + doc->off;
        bb->cur[i] = p;
        for (uint32_t k = b->shapes[doc->shape].n_slots; k > 0; k--) {
            uint64_t l = get_varint_trusted(&p);
            p += l;
        }
        uint64_t nf = get_varint_trusted(&p);
        sift_buf_put_varint(&bb->s1, doc->tid); /* shape: SHAPEDOCS */
        sift_buf_put_varint(&bb->s1, nf);
        if (n_fv + nf > bb->fv_cap) {
            size_t cap = (n_fv + nf) * 2 + 64;
            struct fval *fv = sift_try_realloc(bb->fv, cap * sizeof(*fv));
            if (fv == NULL)
                return SIFT_ENOMEM;
            bb->fv = fv;
            fv = sift_try_realloc(bb->fv_tmp, cap * sizeof(*fv));
            if (fv == NULL)
                return SIFT_ENOMEM;
            bb->fv_tmp = fv;
            bb->fv_cap = cap;
        }
        for (uint64_t j = 0; j < nf; j++) {
            struct fval *fv = &bb->fv[n_fv];
            fv->key = (uint32_t)get_varint_trusted(&p);
            fv->len = (uint32_t)get_varint_trusted(&p);
            fv->v = p;
            fv->seq = (uint32_t)n_fv++;
            p += fv->len;
            sift_buf_put_varint(&bb->s2, fv->key);
            const struct bfield *f = bb->kwf[fv->key];
            fv->omit = 0;
            if (f != NULL && old < f->kw_len && f->kw[old] != UINT32_MAX) {
                const struct bterm *t = &f->terms[f->kw[old]];
                fv->omit =
                    t->len == fv->len && memcmp(t->s, fv->v, t->len) == 0;
            }
        }
        bb->tmp[i] = (uint64_t)doc->shape << 32 | i;
        if (i > 0 && bb->tmp[i] < bb->tmp[i - 1])
            grouped = 0;
    }
    if (!grouped)
        sift_sort_u64(bb->tmp, cnt, bb->tmp + cnt);
    for (uint32_t r = 0; r < cnt;) {
        uint32_t shape = (uint32_t)(bb->tmp[r] >> 32), re = r;
        while (re < cnt && (uint32_t)(bb->tmp[re] >> 32) == shape)
            re++;
        for (uint32_t k = b->shapes[shape].n_slots; k > 0; k--) {
            for (uint32_t x = r; x < re; x++) {
                const uint8_t *q = bb->cur[(uint32_t)bb->tmp[x]];
                uint64_t l = get_varint_trusted(&q);
                bb->col[x - r].v = q;
                bb->col[x - r].len = (uint32_t)l;
                bb->cur[(uint32_t)bb->tmp[x]] = q + l;
            }
            if (slot_column(&bb->s3, bb->col, re - r) != SIFT_OK)
                return SIFT_ENOMEM;
        }
        r = re;
    }
    if (n_fv > 1)
        fval_sort(bb, n_fv, b->n_keys);
    for (size_t j = 0; j < n_fv; j++) {
        const struct fval *fv = &bb->fv[j];
        if (fv->omit) {
            sift_buf_putc(&bb->s4, 0);
            continue;
        }
        sift_buf_put_varint(&bb->s4, (uint64_t)fv->len + 1);
        if (sift_buf_try_append(&bb->s4, fv->v, fv->len) != SIFT_OK)
            return SIFT_ENOMEM;
    }
    if (sift_buf_try_reserve(raw, bb->s1.len + bb->s2.len + bb->s3.len +
                                      bb->s4.len) != SIFT_OK)
        return SIFT_ENOMEM;
    sift_buf_append(raw, bb->s1.data, bb->s1.len);
    sift_buf_append(raw, bb->s2.data, bb->s2.len);
    sift_buf_append(raw, bb->s3.data, bb->s3.len);
    sift_buf_append(raw, bb->s4.data, bb->s4.len);
    return SIFT_OK;
}

/* Appends a zstd frame of src to out; returns its length or 0 + *rc. */
static size_t
zframe(ZSTD_CCtx *cctx, int level, struct sift_buf *out, const void *src,
       size_t len, int *rc)
{
    size_t bound = ZSTD_compressBound(len);
    if (sift_buf_try_reserve(out, bound) != SIFT_OK) {
        *rc = SIFT_ENOMEM;
        return 0;
    }
    size_t z =
        ZSTD_compressCCtx(cctx, out->data + out->len, bound, src, len, level);
    if (ZSTD_isError(z)) {
        SIFT_ERROR("segment: zstd: %s", ZSTD_getErrorName(z));
        *rc = SIFT_EIO;
        return 0;
    }
    out->len += z;
    return z;
}

/* SHAPES and SHAPEDOCS (segment_fmt.h). shape_of is by doc id. */
static int
write_shapes(struct writer *w, const struct sift_segment_builder *b,
             const uint32_t *shape_of, uint32_t n, ZSTD_CCtx *cctx)
{
    int rc = SIFT_OK;
    size_t start = w_pos(w);
    sift_buf_put_u32(w->out, (uint32_t)b->shapebuf.len);
    sift_buf_put_u32(w->out, b->n_shapes);
    (void)zframe(cctx, b->opts.zstd_level, w->out, b->shapebuf.data,
                 b->shapebuf.len, &rc);
    if (rc != SIFT_OK)
        return rc;
    w_section(w, SIFT_SEGSEC_SHAPES, UINT32_MAX, start);

    /* Docs by shape: a counting sort of the doc ids. */
    uint32_t *at =
        sift_try_malloc(((size_t)b->n_shapes + 1) * sizeof(uint32_t));
    uint32_t *ids = sift_try_malloc(((size_t)n + 1) * sizeof(uint32_t));
    struct sift_buf raw = SIFT_BUF_INIT;
    if (at == NULL || ids == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    uint32_t sum = 0;
    for (uint32_t g = 0; g < b->n_shapes; g++) {
        at[g] = sum;
        sum += b->shapes[g].n_docs;
    }
    for (uint32_t d = 0; d < n; d++)
        ids[at[shape_of[d]]++] = d;
    sum = 0;
    for (uint32_t g = 0; g < b->n_shapes; g++) {
        uint32_t c = b->shapes[g].n_docs;
        sift_buf_put_varint(&raw, c);
        for (uint32_t i = 0; i < c; i++)
            sift_buf_put_varint(&raw,
                                i ? ids[sum + i] - ids[sum + i - 1] : ids[sum]);
        sum += c;
    }
    if (raw.len > SIFT_SEGFMT_MAX_BLOCK) {
        rc = SIFT_ELIMIT;
        goto out;
    }
    w_align(w, 32);
    start = w_pos(w);
    sift_buf_put_u32(w->out, (uint32_t)raw.len);
    sift_buf_put_u32(w->out, 0);
    (void)zframe(cctx, b->opts.zstd_level, w->out, raw.data, raw.len, &rc);
    if (rc != SIFT_OK)
        goto out;
    w_section(w, SIFT_SEGSEC_SHAPEDOCS, UINT32_MAX, start);
out:
    sift_free(at);
    sift_free(ids);
    sift_buf_cleanup(&raw);
    return rc;
}

/*
 * Keeps the zstd dictionary only when it pays for its own bytes: the
 * first block is compressed without it too, and the saving, times the
 * expected number of blocks, must exceed the dictionary's length (it is
 * stored in the segment).  Slot values and field values are what the
 * doc store holds since format 3; a dictionary trained on whole docs
 * rarely helps them.  When it does not pay, *cdict is freed and set to
 * NULL, the plain frame replaces the first one at the end of frames
 * (*z_plain bytes) and b->dict_used is cleared.
 */
static int
dict_pays(struct sift_segment_builder *b, ZSTD_CCtx *cctx,
          const struct sift_buf *raw, size_t z_dict, struct sift_buf *frames,
          ZSTD_CDict **cdict, size_t *z_plain)
{
    uint64_t stored = 0;
    for (uint32_t i = 0; i < b->n_docs; i++)
        stored += b->docs[i].len + 10;
    uint64_t blocks = stored / (b->opts.block_bytes ? b->opts.block_bytes : 1);
    blocks += 1;
    size_t bound = ZSTD_compressBound(raw->len);
    struct sift_buf plain = SIFT_BUF_INIT;
    if (sift_buf_try_reserve(&plain, bound) != SIFT_OK)
        return SIFT_ENOMEM;
    size_t z = ZSTD_compressCCtx(cctx, plain.data, bound, raw->data, raw->len,
                                 b->opts.zstd_level);
    if (ZSTD_isError(z) || (z > z_dict && (uint64_t)(z - z_dict) * blocks >
                                              b->opts.zstd_dict_len)) {
        sift_buf_cleanup(&plain); /* the dictionary pays: keep it */
        return SIFT_OK;
    }
    memcpy(frames->data + frames->len, plain.data, z); /* bound reserved */
    *z_plain = z;
    sift_buf_cleanup(&plain);
    ZSTD_freeCDict(*cdict);
    *cdict = NULL;
    b->dict_used = 0;
    return SIFT_OK;
}

static int
write_docs(struct writer *w, struct sift_segment_builder *b,
           const uint32_t *doc_order)
{
    int rc = SIFT_OK;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    ZSTD_CDict *cdict = NULL;
    struct sift_buf raw = SIFT_BUF_INIT, frames = SIFT_BUF_INIT,
                    idx = SIFT_BUF_INIT;
    struct blockbuf bb;
    memset(&bb, 0, sizeof(bb));
    if (cctx == NULL)
        return SIFT_ENOMEM;
    if (b->opts.zstd_dict != NULL) {
        cdict = ZSTD_createCDict(b->opts.zstd_dict, b->opts.zstd_dict_len,
                                 b->opts.zstd_level);
        if (cdict == NULL) {
            rc = SIFT_ENOMEM;
            goto out;
        }
    }
    bb.tmp = sift_try_malloc(((size_t)b->n_docs + 1) * 2 * sizeof(*bb.tmp));
    bb.cur = sift_try_malloc(((size_t)b->n_docs + 1) * sizeof(*bb.cur));
    bb.col = sift_try_malloc(((size_t)b->n_docs + 1) * sizeof(*bb.col));
    bb.kwf = sift_try_calloc((size_t)b->n_keys + 1, sizeof(*bb.kwf));
    bb.key_at = sift_try_malloc(((size_t)b->n_keys + 1) * sizeof(*bb.key_at));
    if (bb.tmp == NULL || bb.cur == NULL || bb.col == NULL || bb.kwf == NULL ||
        bb.key_at == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    for (uint32_t k = 0; k < b->n_keys; k++) {
        struct bfield *f =
            field_lookup(b, b->keys[k].name, b->keys[k].name_len);
        if (f != NULL && (field_flags(b, f) & SIFT_SEGF_KEYWORD))
            bb.kwf[k] = f;
    }
    uint32_t n_blocks = 0;
    for (uint32_t first = 0; first < b->n_docs;) {
        /* Docs up to block_bytes of stored text. */
        uint32_t end = first;
        size_t bytes = 0;
        while (end < b->n_docs && bytes < b->opts.block_bytes) {
            uint32_t old = doc_order ? doc_order[end] : end;
            bytes += b->docs[old].len + 10;
            end++;
        }
        sift_buf_reset(&raw);
        if ((rc = block_raw(b, doc_order, first, end, &bb, &raw)) != SIFT_OK)
            goto out;
        if (raw.len > SIFT_SEGFMT_MAX_BLOCK) {
            rc = SIFT_ELIMIT;
            goto out;
        }
        size_t bound = ZSTD_compressBound(raw.len);
        if (sift_buf_try_reserve(&frames, bound) != SIFT_OK) {
            rc = SIFT_ENOMEM;
            goto out;
        }
        size_t z =
            cdict != NULL
                ? ZSTD_compress_usingCDict(cctx, frames.data + frames.len,
                                           bound, raw.data, raw.len, cdict)
                : ZSTD_compressCCtx(cctx, frames.data + frames.len, bound,
                                    raw.data, raw.len, b->opts.zstd_level);
        if (cdict != NULL && n_blocks == 0 && !ZSTD_isError(z)) {
            size_t zp = 0;
            rc = dict_pays(b, cctx, &raw, z, &frames, &cdict, &zp);
            if (rc != SIFT_OK)
                goto out;
            if (cdict == NULL)
                z = zp;
        }
        if (ZSTD_isError(z)) {
            SIFT_ERROR("segment: zstd: %s", ZSTD_getErrorName(z));
            rc = SIFT_EIO;
            goto out;
        }
        sift_buf_put_u32(&idx, first);
        sift_buf_put_u32(&idx, end - first);
        sift_buf_put_u32(&idx, (uint32_t)z);
        sift_buf_put_u32(&idx, (uint32_t)raw.len);
        sift_buf_put_u64(&idx, frames.len); /* fixed up below */
        frames.len += z;
        n_blocks++;
        first = end;
    }
    size_t start = w_pos(w);
    size_t hdr = 8 + (size_t)n_blocks * 24;
    for (uint32_t i = 0; i < n_blocks; i++) {
        uint8_t *e = (uint8_t *)idx.data + (size_t)i * 24 + 16;
        sift_store_u64(e, sift_load_u64(e) + hdr);
    }
    sift_buf_put_u32(w->out, n_blocks);
    sift_buf_put_u32(w->out, 0);
    sift_buf_append(w->out, idx.data, idx.len);
    sift_buf_append(w->out, frames.data, frames.len);
    w_section(w, SIFT_SEGSEC_DOCS, UINT32_MAX, start);
out:
    sift_free(bb.tmp);
    sift_free(bb.cur);
    sift_free(bb.col);
    sift_free(bb.kwf);
    sift_free(bb.key_at);
    sift_free(bb.fv);
    sift_free(bb.fv_tmp);
    sift_buf_cleanup(&bb.s1);
    sift_buf_cleanup(&bb.s2);
    sift_buf_cleanup(&bb.s3);
    sift_buf_cleanup(&bb.s4);
    ZSTD_freeCDict(cdict);
    ZSTD_freeCCtx(cctx);
    sift_buf_cleanup(&raw);
    sift_buf_cleanup(&frames);
    sift_buf_cleanup(&idx);
    return rc;
}

/* Fills every checksum of the image at img[0..len). */
static void
seal(uint8_t *img, size_t len)
{
    sift_store_u64(img + 48, XXH3_64bits(img, 48));
    uint8_t *tr = img + len - SIFT_SEGFMT_TRAILER_LEN;
    uint64_t tab = sift_load_u64(tr);
    uint32_t ns = sift_load_u32(tr + 8);
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t *e = img + tab + (size_t)i * SIFT_SEGFMT_SECENT_LEN;
        uint64_t off = sift_load_u64(e + 8), l = sift_load_u64(e + 16);
        /* Checked here, not only by the caller: in a fuzzed image the
         * checksums written above can overlap the table and change an
         * entry after it was validated. */
        if (off > len || l > len - off)
            continue;
        sift_store_u64(e + 24, XXH3_64bits(img + off, l));
    }
    sift_store_u64(tr + 16, XXH3_64bits(img + tab, len - tab - 16));
}

void
sift__segment_reseal(uint8_t *img, size_t len)
{
    if (len < SIFT_SEGFMT_HEADER_LEN + SIFT_SEGFMT_TRAILER_LEN)
        return;
    uint8_t *tr = img + len - SIFT_SEGFMT_TRAILER_LEN;
    uint64_t tab = sift_load_u64(tr);
    uint32_t ns = sift_load_u32(tr + 8);
    if (tab > len - SIFT_SEGFMT_TRAILER_LEN ||
        (uint64_t)ns * SIFT_SEGFMT_SECENT_LEN >
            len - SIFT_SEGFMT_TRAILER_LEN - tab)
        return;
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t *e = img + tab + (size_t)i * SIFT_SEGFMT_SECENT_LEN;
        uint64_t off = sift_load_u64(e + 8), l = sift_load_u64(e + 16);
        if (off > len || l > len - off)
            return;
    }
    seal(img, len);
}

int
sift_segment_builder_finish(struct sift_segment_builder *b,
                            struct sift_buf *out)
{
    int rc = SIFT_OK;
    uint32_t n = b->n_docs;
    uint32_t *doc_order = NULL, *newid = NULL, *forder = NULL;
    uint32_t *torder = NULL, *rank = NULL, *shape_of = NULL;
    int64_t *ts = NULL;
    struct scratch sc;
    struct writer w;
    size_t out_len0 = out->len;

    memset(&sc, 0, sizeof(sc));
    memset(&w, 0, sizeof(w));
    sc.level = b->opts.zstd_level;
    sc.cctx = ZSTD_createCCtx();
    if (sc.cctx == NULL)
        return SIFT_ENOMEM;
    w.out = out;
    w.base = out->len;

    /* Time order; skip the permutation when already sorted. */
    int sorted = 1;
    for (uint32_t i = 1; i < n && sorted; i++)
        sorted = b->docs[i - 1].ts <= b->docs[i].ts;
    ts = sift_try_malloc((size_t)n * sizeof(int64_t));
    if (ts == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    if (!sorted) {
        doc_order = sift_try_malloc((size_t)n * sizeof(uint32_t));
        newid = sift_try_malloc((size_t)n * sizeof(uint32_t));
        if (doc_order == NULL || newid == NULL) {
            rc = SIFT_ENOMEM;
            goto out;
        }
        struct sift_kv64 *ds = sift_try_malloc((size_t)n * 2 * sizeof(*ds));
        if (ds == NULL) {
            rc = SIFT_ENOMEM;
            goto out;
        }
        for (uint32_t i = 0; i < n; i++) {
            ds[i].key = sift_sort_key_i64(b->docs[i].ts);
            ds[i].v = i;
        }
        sift_sort_kv64(ds, n, ds + n); /* stable: ties keep arrival order */
        for (uint32_t i = 0; i < n; i++)
            doc_order[i] = ds[i].v;
        sift_free(ds);
        for (uint32_t i = 0; i < n; i++)
            newid[doc_order[i]] = i;
    }
    for (uint32_t i = 0; i < n; i++)
        ts[i] = b->docs[doc_order ? doc_order[i] : i].ts;
    shape_of = sift_try_malloc(((size_t)n + 1) * sizeof(uint32_t));
    sc.gcnt = sift_try_calloc((size_t)b->n_shapes + 1, sizeof(uint32_t));
    if (shape_of == NULL || sc.gcnt == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        shape_of[i] = b->docs[doc_order ? doc_order[i] : i].shape;
    sc.shape_of = shape_of;
    sc.shapes = b->shapes;

    /* Header; checksums and length are filled by seal(). */
    uint8_t hdr[SIFT_SEGFMT_HEADER_LEN];
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, SIFT_SEGFMT_MAGIC, 8);
    sift_store_u32(hdr + 8, SIFT_SEGFMT_VERSION);
    sift_store_u32(hdr + 12, n);
    sift_store_u64(hdr + 16, n ? (uint64_t)ts[0] : 0);
    sift_store_u64(hdr + 24, n ? (uint64_t)ts[n - 1] : 0);
    hdr[32] = SIFT_SEGFMT_CODEC_ZSTD;
    hdr[33] = b->opts.tier;
    hdr[34] = b->opts.zstd_dict != NULL ? SIFT_SEGFMT_FLAG_ZDICT : 0;
    sift_store_u32(hdr + 36, b->n_fields);
    sift_buf_append(out, hdr, sizeof(hdr));

    /* Fields, sorted by name. */
    forder = sift_xmalloc(((size_t)b->n_fields + 1) * sizeof(uint32_t));
    struct tsort *fs = sift_xmalloc(((size_t)b->n_fields + 1) * sizeof(*fs));
    for (uint32_t i = 0; i < b->n_fields; i++) {
        fs[i].s = b->fields[i].name;
        fs[i].len = b->fields[i].name_len;
        fs[i].id = i;
    }
    qsort(fs, b->n_fields, sizeof(*fs), tsort_cmp);
    for (uint32_t i = 0; i < b->n_fields; i++)
        forder[i] = fs[i].id;
    sift_free(fs);
    size_t start = w_pos(&w);
    for (uint32_t i = 0; i < b->n_fields; i++) {
        const struct bfield *f = &b->fields[forder[i]];
        sift_buf_put_varint(out, f->name_len);
        sift_buf_append(out, f->name, f->name_len);
        sift_buf_putc(out, (char)field_flags(b, f));
        sift_buf_put_varint(out, f->n_terms);
    }
    w_section(&w, SIFT_SEGSEC_FIELDS, UINT32_MAX, start);

    w_align(&w, 32);
    write_ts(&w, ts, n);

    for (uint32_t i = 0; i < b->n_fields; i++) {
        struct bfield *f = &b->fields[forder[i]];
        unsigned fl = field_flags(b, f);
        sift_free(torder);
        sift_free(rank);
        torder = sift_try_malloc(((size_t)f->n_terms + 1) * sizeof(uint32_t));
        rank = sift_try_malloc(((size_t)f->n_terms + 1) * sizeof(uint32_t));
        if (torder == NULL || rank == NULL) {
            rc = SIFT_ENOMEM;
            goto out;
        }
        w_align(&w, 32);
        if ((rc = write_terms(&w, f, i, newid, torder, rank, &sc)) != SIFT_OK)
            goto out;
        if (fl & SIFT_SEGF_KEYWORD) {
            w_align(&w, 32);
            write_kwcol(&w, f, i, torder, rank, doc_order, n);
        }
        if (fl & SIFT_SEGF_NUMBER) {
            w_align(&w, 32);
            if ((rc = write_numcol(&w, f, i, doc_order, n)) != SIFT_OK)
                goto out;
        }
    }

    w_align(&w, 32);
    if ((rc = write_shapes(&w, b, shape_of, n, sc.cctx)) != SIFT_OK)
        goto out;
    w_align(&w, 32);
    write_dockeys(&w, b);
    w_align(&w, 32);
    b->dict_used = b->opts.zstd_dict != NULL;
    if ((rc = write_docs(&w, b, doc_order)) != SIFT_OK)
        goto out;
    if (!b->dict_used)
        ((uint8_t *)out->data)[w.base + 34] = 0; /* header flags */
    if (b->dict_used) {
        w_align(&w, 32);
        start = w_pos(&w);
        sift_buf_append(out, b->opts.zstd_dict, b->opts.zstd_dict_len);
        w_section(&w, SIFT_SEGSEC_ZDICT, UINT32_MAX, start);
    }
    w_align(&w, 32);
    w_section(&w, SIFT_SEGSEC_DELETED, UINT32_MAX, w_pos(&w));
    w_align(&w, 32);
    start = w_pos(&w);
    sift_buf_append(out, b->origin.data, b->origin.len);
    w_section(&w, SIFT_SEGSEC_ORIGIN, UINT32_MAX, start);

    /* Section table and trailer. */
    w_align(&w, 8);
    size_t tab = w_pos(&w);
    sift_buf_append(out, w.secs.data, w.secs.len);
    sift_buf_put_u64(out, tab);
    sift_buf_put_u32(out, w.n_secs);
    sift_buf_put_u32(out, SIFT_SEGFMT_VERSION);
    sift_buf_put_u64(out, 0);
    sift_buf_append(out, SIFT_SEGFMT_END_MAGIC, 8);
    size_t len = w_pos(&w);
    uint8_t *img = (uint8_t *)out->data + w.base;
    sift_store_u64(img + 40, len);
    seal(img, len);
out:
    if (rc != SIFT_OK)
        out->len = out_len0;
    sift_free(ts);
    sift_free(doc_order);
    sift_free(newid);
    sift_free(forder);
    sift_free(torder);
    sift_free(rank);
    sift_free(sc.ids);
    sift_free(shape_of);
    sift_free(sc.gcnt);
    sift_free(sc.gids);
    sift_free(sc.resid);
    sift_buf_cleanup(&sc.grp);
    sift_buf_cleanup(&sc.blocks);
    sift_buf_cleanup(&sc.posts);
    sift_buf_cleanup(&sc.bidx);
    sift_buf_cleanup(&sc.list);
    sift_buf_cleanup(&sc.keys);
    sift_buf_cleanup(&sc.frames);
    ZSTD_freeCCtx(sc.cctx);
    sift_buf_cleanup(&w.secs);
    return rc;
}
