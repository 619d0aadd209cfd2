/*
 * segment_write.c - the segment builder: collects events, then writes one
 * immutable image (format: segment_fmt.h).  This file is the
 * orchestration; each section's encoding lives with its reader:
 * segment_columns.c (TS, KWCOL, NUMCOL), segment_docs.c (SHAPES,
 * SHAPEDOCS, DOCKEYS, DOCS, ZDICT), index/termdict.c (TERMS),
 * segment_origin.c (ORIGIN), segment_sections.c (header, table, trailer).
 *
 * Design.  add() encodes the event in the doc store's stored form (no
 * timestamp or template id, field names as key ids: segment_fmt.h DOCS)
 * into one growing buffer and indexes it at once: per field a term
 * dictionary (sift/termdict.h) maps each distinct term to its postings.
 * Keyword fields keep a term id per doc, number fields a double per doc,
 * both indexed by insertion id.  add() tries the previous event's field
 * and doc store key at each field position, and a keyword field's last
 * term, before hashing (checked by name/bytes, so only faster).  finish()
 * sorts docs by (ts, insertion id) - a stable sort - and writes the
 * sections with doc ids remapped to time order; when the docs came in
 * time order (the common case) the remap is the identity and is skipped.
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

#include <zstd.h>
/* Inline XXH3: most keys hashed here are a few bytes, where the call into
 * the shared library costs more than the hash.  Same hash values. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/hashslots.h"
#include "sift/log.h"
#include "sift/segment.h"
#include "sift/sort.h"
#include "sift/termdict.h"
#include "sift/tokenize.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"
#include "store/segment_origin.h"

#define TEMPLATE_FIELD "_template_id"
#define MAX_DOC_BYTES (16u << 20) /* largest encoded doc accepted */
#define MAX_FIELDS 4096u          /* distinct fields per segment */
#define TOK_BATCH SIFT__SEG_TOK_BATCH
#define ADD_CACHE_FIELDS SIFT__SEG_ADD_CACHE_FIELDS

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
    sift_termdict_cleanup(&f->td);
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
        if (f->hash == h && f->name_len == len &&
            sift_bytes_eq(f->name, name, len))
            return f;
    }
}

struct bfield *
sift__segment_field_lookup(const struct sift_segment_builder *b,
                           const char *name, size_t len)
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
        sift_slots_rebuild(&b->fslots, &b->fslots_mask, n, b->fields,
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
    sift_slots_put(b->fslots, b->fslots_mask, h, b->n_fields + 1);
    b->n_fields++;
    return f;
}

/* Looks up the batched tokens of b->cur.  Their slots were prefetched
 * when hashed: the term tables of a text field outgrow the caches, and
 * the lookups are then mostly waiting for memory. */
static void
token_flush(struct sift_segment_builder *b)
{
    for (uint32_t k = 0; k < b->n_tok; k++)
        sift_termdict_add(&b->cur->td, b->arena, b->tok[k], b->tok_len[k],
                          b->tok_hash[k], b->cur_doc, &b->bytes);
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
    sift_termdict_prefetch(&f->td, b->tok_hash[k]);
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

/* Parses a number; NaN when s is not one.  Plain integers of up to 15
 * digits (offsets, counters, ids: most number fields) are converted here:
 * they are exact as doubles, so the value is the one strtod() gives. */
static double
parse_number(const char *s, size_t len)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return NAN;
    size_t neg = s[0] == '-';
    if (len > neg && len - neg <= 15) {
        uint64_t u = 0;
        size_t i = neg;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            u = u * 10 + (uint64_t)(s[i++] - '0');
        if (i == len)
            return neg ? -(double)u : (double)u;
    }
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
    size_t tl = len > SIFT_TERMDICT_MAX_TERM ? SIFT_TERMDICT_MAX_TERM : len;
    if (lower == NULL)
        lower = sift_arena_alloc(b->arena, tl);
    sift_ascii_lower(v, tl, lower);
    uint32_t tid = f->last_tid;
    if (tid != UINT32_MAX && f->td.terms[tid].len == tl &&
        sift_bytes_eq(f->td.terms[tid].s, lower, tl)) {
        sift_termdict_add_doc(&f->td, tid, doc, &b->bytes);
    } else {
        tid = sift_termdict_add(&f->td, b->arena, lower, tl, hash32(lower, tl),
                                doc, &b->bytes);
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

/* field_get() for the i-th field of an event, likewise. */
static struct bfield *
field_get_at(struct sift_segment_builder *b, uint32_t i, const char *name,
             size_t len, uint8_t type)
{
    if (i < ADD_CACHE_FIELDS && b->fcache[i] != 0) {
        struct bfield *f = &b->fields[b->fcache[i] - 1];
        if (f->name_len == len && sift_bytes_eq(f->name, name, len))
            return f;
    }
    struct bfield *f = field_get(b, name, len, type);
    if (i < ADD_CACHE_FIELDS)
        b->fcache[i] = f ? (uint32_t)(f - b->fields) + 1 : 0;
    return f;
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
    sift__segment_doc_encode(b, ev, d);
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
        size_t n = sizeof(num);
        uint32_t v = ev->template_id;
        do { /* decimal, as snprintf("%u") wrote it */
            num[--n] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        f = field_get(b, TEMPLATE_FIELD, sizeof(TEMPLATE_FIELD) - 1,
                      SIFT_FT_NUMBER);
        if (f != NULL)
            index_value(b, f, doc, num + n, sizeof(num) - n);
    }
    return SIFT_OK;
}

unsigned
sift__segment_field_flags(const struct sift_segment_builder *b,
                          const struct bfield *f)
{
    switch (f->type) {
    case SIFT_FT_TEXT: return SIFT_SEGF_TERMS | SIFT_SEGF_TEXT;
    case SIFT_FT_NUMBER:
        return SIFT_SEGF_TERMS | (f->num_len > 0 ? SIFT_SEGF_NUMBER : 0);
    default:
        return SIFT_SEGF_TERMS |
               (f->td.n_terms <= b->opts.max_dict_values && f->kw_len > 0
                    ? SIFT_SEGF_KEYWORD
                    : 0);
    }
}

/* ---- finish ---- */

/* Sort keys carry their data: qsort() has no context argument. */
struct fsort {
    const char *s;
    uint32_t len;
    uint32_t id;
};

static int
fsort_cmp(const void *x, const void *y)
{
    const struct fsort *a = x, *b = y;
    return sift_bytes_cmp(a->s, a->len, b->s, b->len);
}

/*
 * Time order: doc_order[i] = insertion id of the i-th doc by (ts,
 * insertion id), newid its inverse; both stay NULL when the docs came in
 * time order.  ts[i] = timestamp of doc i in time order.
 */
static int
time_order(const struct sift_segment_builder *b, uint32_t **doc_order,
           uint32_t **newid, int64_t **ts)
{
    uint32_t n = b->n_docs;
    int sorted = 1;
    for (uint32_t i = 1; i < n && sorted; i++)
        sorted = b->docs[i - 1].ts <= b->docs[i].ts;
    *ts = sift_try_malloc((size_t)n * sizeof(int64_t));
    if (*ts == NULL)
        return SIFT_ENOMEM;
    if (!sorted) {
        *doc_order = sift_try_malloc((size_t)n * sizeof(uint32_t));
        *newid = sift_try_malloc((size_t)n * sizeof(uint32_t));
        if (*doc_order == NULL || *newid == NULL)
            return SIFT_ENOMEM;
        struct sift_kv64 *ds = sift_try_malloc((size_t)n * 2 * sizeof(*ds));
        if (ds == NULL)
            return SIFT_ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
            ds[i].key = sift_sort_key_i64(b->docs[i].ts);
            ds[i].v = i;
        }
        sift_sort_kv64(ds, n, ds + n); /* stable: ties keep arrival order */
        for (uint32_t i = 0; i < n; i++)
            (*doc_order)[i] = ds[i].v;
        sift_free(ds);
        for (uint32_t i = 0; i < n; i++)
            (*newid)[(*doc_order)[i]] = i;
    }
    for (uint32_t i = 0; i < n; i++)
        (*ts)[i] = b->docs[*doc_order ? (*doc_order)[i] : i].ts;
    return SIFT_OK;
}

/* The header; its length and checksum are filled by sift__segw_finish(). */
static void
write_header(const struct sift_segment_builder *b, const int64_t *ts,
             struct sift_buf *out)
{
    uint32_t n = b->n_docs;
    uint8_t hdr[SIFT_SEGFMT_HEADER_LEN];
    memset(hdr, 0, sizeof(hdr));
    /* The magic is 8 bytes without a terminating NUL. */
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result) */
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
}

/* FIELDS, in name order; forder[i] = builder index of the i-th field. */
static void
write_fields(struct sift__segw *w, const struct sift_segment_builder *b,
             uint32_t *forder)
{
    struct fsort *fs = sift_xmalloc(((size_t)b->n_fields + 1) * sizeof(*fs));
    for (uint32_t i = 0; i < b->n_fields; i++) {
        fs[i].s = b->fields[i].name;
        fs[i].len = b->fields[i].name_len;
        fs[i].id = i;
    }
    qsort(fs, b->n_fields, sizeof(*fs), fsort_cmp);
    for (uint32_t i = 0; i < b->n_fields; i++)
        forder[i] = fs[i].id;
    sift_free(fs);
    size_t start = sift__segw_pos(w);
    for (uint32_t i = 0; i < b->n_fields; i++) {
        const struct bfield *f = &b->fields[forder[i]];
        sift_buf_put_varint(w->out, f->name_len);
        sift_buf_append(w->out, f->name, f->name_len);
        sift_buf_putc(w->out, (char)sift__segment_field_flags(b, f));
        sift_buf_put_varint(w->out, f->td.n_terms);
    }
    sift__segw_section(w, SIFT_SEGSEC_FIELDS, UINT32_MAX, start);
}

/* TERMS, then KWCOL and NUMCOL where the field has them, per field. */
static int
write_field_sections(struct sift__segw *w, const struct sift_segment_builder *b,
                     const uint32_t *forder, const uint32_t *doc_order,
                     const uint32_t *newid, struct sift_termdict_writer *tw)
{
    int rc = SIFT_OK;
    uint32_t n = b->n_docs, *torder = NULL, *rank = NULL;
    for (uint32_t i = 0; i < b->n_fields && rc == SIFT_OK; i++) {
        const struct bfield *f = &b->fields[forder[i]];
        unsigned fl = sift__segment_field_flags(b, f);
        sift_free(torder);
        sift_free(rank);
        torder =
            sift_try_malloc(((size_t)f->td.n_terms + 1) * sizeof(uint32_t));
        rank = sift_try_malloc(((size_t)f->td.n_terms + 1) * sizeof(uint32_t));
        if (torder == NULL || rank == NULL) {
            rc = SIFT_ENOMEM;
            break;
        }
        sift__segw_align(w, 32);
        size_t start = sift__segw_pos(w);
        if ((rc = sift_termdict_write(tw, &f->td, newid, torder, rank,
                                      w->out)) != SIFT_OK)
            break;
        sift__segw_section(w, SIFT_SEGSEC_TERMS, i, start);
        if (fl & SIFT_SEGF_KEYWORD) {
            sift__segw_align(w, 32);
            sift__segment_write_kwcol(w, f, i, torder, rank, doc_order, n);
        }
        if (fl & SIFT_SEGF_NUMBER) {
            sift__segw_align(w, 32);
            rc = sift__segment_write_numcol(w, f, i, doc_order, n);
        }
    }
    sift_free(torder);
    sift_free(rank);
    return rc;
}

/* The doc store sections (SLOTIDX beside SHAPES), ZDICT when it paid,
 * DELETED and ORIGIN. */
static int
write_doc_sections(struct sift__segw *w, struct sift_segment_builder *b,
                   const uint32_t *doc_order, const uint32_t *shape_of,
                   ZSTD_CCtx *cctx)
{
    int rc;
    sift__segw_align(w, 32);
    if ((rc = sift__segment_write_shapes(w, b, shape_of, b->n_docs, cctx)) !=
        SIFT_OK)
        return rc;
    sift__segw_align(w, 32);
    if ((rc = sift__segment_write_slotidx(w, b, doc_order, shape_of, cctx)) !=
        SIFT_OK)
        return rc;
    sift__segw_align(w, 32);
    sift__segment_write_dockeys(w, b);
    sift__segw_align(w, 32);
    b->dict_used = b->opts.zstd_dict != NULL;
    if ((rc = sift__segment_write_docs(w, b, doc_order)) != SIFT_OK)
        return rc;
    if (!b->dict_used)
        ((uint8_t *)w->out->data)[w->base + 34] = 0; /* header flags */
    if (b->dict_used) {
        sift__segw_align(w, 32);
        size_t start = sift__segw_pos(w);
        sift_buf_append(w->out, b->opts.zstd_dict, b->opts.zstd_dict_len);
        sift__segw_section(w, SIFT_SEGSEC_ZDICT, UINT32_MAX, start);
    }
    sift__segw_align(w, 32);
    sift__segw_section(w, SIFT_SEGSEC_DELETED, UINT32_MAX, sift__segw_pos(w));
    sift__segw_align(w, 32);
    size_t start = sift__segw_pos(w);
    sift_buf_append(w->out, b->origin.data, b->origin.len);
    sift__segw_section(w, SIFT_SEGSEC_ORIGIN, UINT32_MAX, start);
    return SIFT_OK;
}

int
sift_segment_builder_finish(struct sift_segment_builder *b,
                            struct sift_buf *out)
{
    int rc = SIFT_OK;
    uint32_t n = b->n_docs;
    uint32_t *doc_order = NULL, *newid = NULL, *forder = NULL;
    uint32_t *shape_of = NULL, *shape_docs = NULL;
    int64_t *ts = NULL;
    struct sift_termdict_writer tw;
    struct sift__segw w;
    size_t out_len0 = out->len;

    memset(&tw, 0, sizeof(tw));
    memset(&w, 0, sizeof(w));
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    if (cctx == NULL)
        return SIFT_ENOMEM;
    w.out = out;
    w.base = out->len;

    if ((rc = time_order(b, &doc_order, &newid, &ts)) != SIFT_OK)
        goto out;
    /* Shapes by final doc id, and doc counts, for shape-group postings. */
    shape_of = sift_try_malloc(((size_t)n + 1) * sizeof(uint32_t));
    shape_docs = sift_try_malloc(((size_t)b->n_shapes + 1) * sizeof(uint32_t));
    if (shape_of == NULL || shape_docs == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        shape_of[i] = b->docs[doc_order ? doc_order[i] : i].shape;
    for (uint32_t g = 0; g < b->n_shapes; g++)
        shape_docs[g] = b->shapes[g].n_docs;
    struct sift_postings_shapes shapes = {shape_of, shape_docs, b->n_shapes};
    if ((rc = sift_termdict_writer_init(&tw, cctx, b->opts.zstd_level,
                                        &shapes)) != SIFT_OK)
        goto out;

    write_header(b, ts, out);
    forder = sift_xmalloc(((size_t)b->n_fields + 1) * sizeof(uint32_t));
    write_fields(&w, b, forder);
    sift__segw_align(&w, 32);
    sift__segment_write_ts(&w, ts, n);
    if ((rc = write_field_sections(&w, b, forder, doc_order, newid, &tw)) !=
        SIFT_OK)
        goto out;
    if ((rc = write_doc_sections(&w, b, doc_order, shape_of, cctx)) != SIFT_OK)
        goto out;
    sift__segw_finish(&w);
out:
    if (rc != SIFT_OK)
        out->len = out_len0;
    sift_free(ts);
    sift_free(doc_order);
    sift_free(newid);
    sift_free(forder);
    sift_free(shape_of);
    sift_free(shape_docs);
    sift_termdict_writer_cleanup(&tw);
    ZSTD_freeCCtx(cctx);
    sift_buf_cleanup(&w.secs);
    return rc;
}
