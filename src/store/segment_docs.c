/*
 * segment_docs.c - the doc store of a segment: message shapes (SHAPES,
 * SHAPEDOCS), the stored field names (DOCKEYS), the compressed doc blocks
 * (DOCS) and their optional zstd dictionary (ZDICT); written by the
 * builder and decoded by the reader (format: segment_fmt.h).
 *
 * Design.  add() splits each message into its shape (the constant text)
 * and slot values (runs of letters and digits holding a digit), so a
 * block stores each shape once per segment and the slot values of one
 * shape column by column, where zstd finds them alike; digit-only
 * columns become deltas or fixed-width integers when that is smaller.
 * Field values equal to the keyword column's value are not stored twice.
 * A block holds about 128 KiB of stored text; the reader decodes a block
 * once into per-doc offsets (kept in the thread's cache) and rebuilds a
 * doc in the sift_doc_encode() form from the TS column, the shape, the
 * slot values, DOCKEYS and the keyword columns.  Shapes are decoded once
 * per segment, on first use.
 *
 * Invariants: every doc is in exactly one shape; a block's five streams
 * end exactly at its raw length; decoding checks every varint and offset
 * against its block before use.
 *
 * Threads: the builder side belongs to the builder's thread; the reader
 * side is safe from any thread (shapes load under the segment's mutex,
 * blocks decode into the calling thread's cache).
 */
#include <string.h>

#include <zdict.h>
#include <zstd.h>
/* Inline XXH3: keys and shapes hashed here are a few bytes, where the
 * call into the shared library costs more than the hash.  Same values. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/hashslots.h"
#include "sift/log.h"
#include "sift/postings.h"
#include "sift/segment.h"
#include "sift/sort.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

static uint32_t
hash32(const void *p, size_t len)
{
    return (uint32_t)XXH3_64bits(p, len);
}

/* ------------------------------------------------------------------ */
/* Builder: keys and shapes at add()                                   */
/* ------------------------------------------------------------------ */

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
                sift_bytes_eq(k->name, name, len))
                return s - 1;
        }
    }
    if ((b->n_keys + 1) * 2 > b->kslots_mask) {
        uint32_t n = b->kslots_mask ? (b->kslots_mask + 1) * 2 : 64;
        sift_slots_rebuild(&b->kslots, &b->kslots_mask, n, b->keys,
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
    sift_slots_put(b->kslots, b->kslots_mask, h, b->n_keys + 1);
    return b->n_keys++;
}

/* key_get() for the i-th field of an event, trying the key the i-th field
 * of the previous event had. */
static uint32_t
key_get_at(struct sift_segment_builder *b, uint32_t i, const char *name,
           size_t len, uint8_t type)
{
    if (i < SIFT__SEG_ADD_CACHE_FIELDS && b->kcache[i] != 0) {
        const struct bkey *k = &b->keys[b->kcache[i] - 1];
        if (k->type == type && k->name_len == len &&
            sift_bytes_eq(k->name, name, len))
            return b->kcache[i] - 1;
    }
    uint32_t id = key_get(b, name, len, type);
    if (i < SIFT__SEG_ADD_CACHE_FIELDS)
        b->kcache[i] = id + 1;
    return id;
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
        sift_slots_rebuild(&b->sslots, &b->sslots_mask, n, b->shapes,
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
    sift_slots_put(b->sslots, b->sslots_mask, h, b->n_shapes + 1);
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
void
sift__segment_doc_encode(struct sift_segment_builder *b,
                         const struct sift_event *ev, struct bdoc *d)
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

/* ------------------------------------------------------------------ */
/* Builder: sections at finish()                                       */
/* ------------------------------------------------------------------ */

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
    struct bfield **kwf; /* per doc key: the keyword or number column
                          * field of its name, or NULL */
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
    unsigned fw = (unsigned)(sift__segment_bits_for(max) + 7) / 8;
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
            int64_t iv;
            if (f == NULL) {
            } else if (f->type != SIFT_FT_NUMBER) {
                if (old < f->kw_len && f->kw[old] != UINT32_MAX) {
                    const struct sift_termdict_term *t =
                        &f->td.terms[f->kw[old]];
                    fv->omit =
                        t->len == fv->len && memcmp(t->s, fv->v, t->len) == 0;
                }
            } else if (old < f->num_len && fv->len < 24 &&
                       sift__segment_num_int(f->num[old], &iv)) {
                /* the column's integer, written canonically */
                char t[24];
                size_t tl = sift__segment_int_text(iv, t);
                fv->omit = tl == fv->len && memcmp(t, fv->v, tl) == 0;
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
size_t
sift__segment_zframe(ZSTD_CCtx *cctx, int level, struct sift_buf *out,
                     const void *src, size_t len, int *rc)
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
int
sift__segment_write_shapes(struct sift__segw *w,
                           const struct sift_segment_builder *b,
                           const uint32_t *shape_of, uint32_t n,
                           ZSTD_CCtx *cctx)
{
    int rc = SIFT_OK;
    size_t start = sift__segw_pos(w);
    sift_buf_put_u32(w->out, (uint32_t)b->shapebuf.len);
    sift_buf_put_u32(w->out, b->n_shapes);
    (void)sift__segment_zframe(cctx, b->opts.zstd_level, w->out,
                               b->shapebuf.data, b->shapebuf.len, &rc);
    if (rc != SIFT_OK)
        return rc;
    sift__segw_section(w, SIFT_SEGSEC_SHAPES, UINT32_MAX, start);

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
    sift__segw_align(w, 32);
    start = sift__segw_pos(w);
    sift_buf_put_u32(w->out, (uint32_t)raw.len);
    sift_buf_put_u32(w->out, 0);
    (void)sift__segment_zframe(cctx, b->opts.zstd_level, w->out, raw.data,
                               raw.len, &rc);
    if (rc != SIFT_OK)
        goto out;
    sift__segw_section(w, SIFT_SEGSEC_SHAPEDOCS, UINT32_MAX, start);
out:
    sift_free(at);
    sift_free(ids);
    sift_buf_cleanup(&raw);
    return rc;
}

void
sift__segment_write_dockeys(struct sift__segw *w,
                            const struct sift_segment_builder *b)
{
    size_t start = sift__segw_pos(w);
    sift_buf_put_varint(w->out, b->n_keys);
    for (uint32_t i = 0; i < b->n_keys; i++) {
        const struct bkey *k = &b->keys[i];
        sift_buf_put_varint(w->out, k->name_len);
        sift_buf_append(w->out, k->name, k->name_len);
        sift_buf_putc(w->out, (char)k->type);
    }
    sift__segw_section(w, SIFT_SEGSEC_DOCKEYS, UINT32_MAX, start);
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

int
sift__segment_write_docs(struct sift__segw *w, struct sift_segment_builder *b,
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
            sift__segment_field_lookup(b, b->keys[k].name, b->keys[k].name_len);
        if (f != NULL && (sift__segment_field_flags(b, f) &
                          (SIFT_SEGF_KEYWORD | SIFT_SEGF_NUMBER)))
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
    size_t start = sift__segw_pos(w);
    size_t hdr = 8 + (size_t)n_blocks * 24;
    for (uint32_t i = 0; i < n_blocks; i++) {
        uint8_t *e = (uint8_t *)idx.data + (size_t)i * 24 + 16;
        sift_store_u64(e, sift_load_u64(e) + hdr);
    }
    sift_buf_put_u32(w->out, n_blocks);
    sift_buf_put_u32(w->out, 0);
    sift_buf_append(w->out, idx.data, idx.len);
    sift_buf_append(w->out, frames.data, frames.len);
    sift__segw_section(w, SIFT_SEGSEC_DOCS, UINT32_MAX, start);
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

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

int
sift__segment_parse_dockeys(struct sift_segment *s, const uint8_t *p,
                            size_t len)
{
    const uint8_t *end = p + len;
    uint64_t n;
    if (sift_get_varint(&p, end, &n) != SIFT_OK || n > (uint64_t)(end - p) / 2)
        return CORRUPT("doc keys count");
    s->keys = sift_try_calloc((size_t)n + 1, sizeof(*s->keys));
    if (s->keys == NULL)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l;
        if (sift_get_varint(&p, end, &l) != SIFT_OK || l >= (uint64_t)(end - p))
            return CORRUPT("doc key name");
        s->keys[i].name = (const char *)p;
        s->keys[i].name_len = (uint32_t)l;
        p += l;
        s->keys[i].type = *p++;
        if (s->keys[i].type < SIFT_FT_KEYWORD ||
            s->keys[i].type > SIFT_FT_NUMBER)
            return CORRUPT("doc key type");
    }
    if (p != end)
        return CORRUPT("doc keys trailing bytes");
    s->n_keys = (uint32_t)n;
    return SIFT_OK;
}

int
sift__segment_parse_docs(struct sift_segment *s, const uint8_t *p, size_t len)
{
    if (len < 8)
        return CORRUPT("docs header");
    uint32_t k = sift_load_u32(p);
    if (k > (len - 8) / 24 || (k == 0) != (s->n_docs == 0))
        return CORRUPT("docs header");
    uint32_t next = 0;
    size_t hdr = 8 + (size_t)k * 24;
    /* Each doc takes at least its stream 1 varints: 2 bytes (v3: 3). */
    for (uint32_t i = 0; i < k; i++) {
        const uint8_t *e = p + 8 + (size_t)i * 24;
        uint32_t first = sift_load_u32(e), cnt = sift_load_u32(e + 4);
        uint32_t clen = sift_load_u32(e + 8), rlen = sift_load_u32(e + 12);
        uint64_t off = sift_load_u64(e + 16);
        if (first != next || cnt == 0 || cnt > s->n_docs - first ||
            rlen > SIFT_SEGFMT_MAX_BLOCK ||
            rlen / (s->version >= 4 ? 2 : 3) < cnt || off < hdr || off > len ||
            clen > len - off)
            return CORRUPT("docs block index");
        next = first + cnt;
    }
    if (next != s->n_docs)
        return CORRUPT("docs do not cover the segment");
    s->docs = p;
    s->docs_len = len;
    s->doc_blocks = k;
    return SIFT_OK;
}

/* Frees the tables shapes_decode() builds, leaving them NULL. */
void
sift__segment_shapes_free(struct sift_segment *s)
{
    sift_free(s->sh_raw);
    sift_free(s->sh_poff);
    sift_free(s->sh_k);
    sift_free(s->sd_at);
    sift_free(s->sd_ids);
    sift_free(s->sd_shape);
    s->sh_raw = NULL;
    s->sh_poff = NULL;
    s->sh_k = NULL;
    s->sd_at = NULL;
    s->sd_ids = NULL;
    s->sd_shape = NULL;
}

/* Decompresses the zstd frame p[0..len) of exactly raw_len bytes into a
 * new buffer (*out, owned). */
int
sift__segment_inflate(const uint8_t *p, size_t len, uint32_t raw_len,
                      uint8_t **out)
{
    *out = NULL;
    if (raw_len > SIFT_SEGFMT_MAX_BLOCK ||
        ZSTD_getFrameContentSize(p, len) != raw_len)
        return CORRUPT("frame size");
    uint8_t *buf = sift_try_malloc((size_t)raw_len + 1);
    if (buf == NULL)
        return SIFT_ENOMEM;
    size_t r = ZSTD_decompress(buf, raw_len, p, len);
    if (ZSTD_isError(r) || r != raw_len) {
        sift_free(buf);
        return CORRUPT("frame does not decompress");
    }
    *out = buf;
    return SIFT_OK;
}

static int
shapes_decode(struct sift_segment *s)
{
    int rc;
    uint32_t rlen = sift_load_u32(s->shapes_sec);
    uint32_t ns = sift_load_u32(s->shapes_sec + 4);
    if (ns > SIFT_SEGFMT_MAX_SHAPES || ns > rlen / 2 ||
        (ns == 0) != (s->n_docs == 0))
        return CORRUPT("shape count");
    if ((rc = sift__segment_inflate(s->shapes_sec + 8, s->shapes_len - 8, rlen,
                                    &s->sh_raw)) != SIFT_OK)
        return rc;
    s->sh_raw_len = rlen;
    s->sh_poff = sift_try_malloc(((size_t)ns + 1) * sizeof(uint32_t));
    s->sh_k = sift_try_malloc(((size_t)ns + 1) * sizeof(uint16_t));
    if (s->sh_poff == NULL || s->sh_k == NULL)
        return SIFT_ENOMEM;
    const uint8_t *p = s->sh_raw, *end = s->sh_raw + rlen;
    for (uint32_t g = 0; g < ns; g++) {
        uint64_t k, l;
        if (sift_get_varint(&p, end, &k) != SIFT_OK ||
            k > SIFT_SEGFMT_MAX_SLOTS)
            return CORRUPT("shape slot count");
        s->sh_k[g] = (uint16_t)k;
        s->sh_poff[g] = (uint32_t)(p - s->sh_raw);
        for (uint64_t i = 0; i <= k; i++) {
            if (sift_get_varint(&p, end, &l) != SIFT_OK ||
                l > (uint64_t)(end - p))
                return CORRUPT("shape piece");
            p += l;
        }
    }
    if (p != end)
        return CORRUPT("shapes trailing bytes");

    uint8_t *raw = NULL;
    rlen = sift_load_u32(s->sdocs_sec);
    if ((rc = sift__segment_inflate(s->sdocs_sec + 8, s->sdocs_len - 8, rlen,
                                    &raw)) != SIFT_OK)
        return rc;
    s->sd_at = sift_try_malloc(((size_t)ns + 1) * sizeof(uint32_t));
    s->sd_ids = sift_try_malloc(((size_t)s->n_docs + 1) * sizeof(uint32_t));
    if (s->version >= 4)
        s->sd_shape =
            sift_try_malloc(((size_t)s->n_docs + 1) * sizeof(uint32_t));
    if (s->sd_at == NULL || s->sd_ids == NULL ||
        (s->version >= 4 && s->sd_shape == NULL)) {
        sift_free(raw);
        return SIFT_ENOMEM;
    }
    if (s->sd_shape != NULL)
        memset(s->sd_shape, 0xff, (size_t)s->n_docs * sizeof(uint32_t));
    p = raw;
    end = raw + rlen;
    uint32_t sum = 0;
    rc = SIFT_OK;
    for (uint32_t g = 0; g < ns && rc == SIFT_OK; g++) {
        uint64_t c, v = 0;
        s->sd_at[g] = sum;
        if (sift_get_varint(&p, end, &c) != SIFT_OK || c == 0 ||
            c > s->n_docs - sum) {
            rc = CORRUPT("shape doc count");
            break;
        }
        for (uint64_t i = 0; i < c; i++) {
            if (sift_postings_next_id(&p, end, i, s->n_docs, &v) != SIFT_OK) {
                rc = CORRUPT("shape doc ids");
                break;
            }
            if (s->sd_shape != NULL) {
                /* in one shape only: with the count check below, every
                 * doc then has its shape */
                if (s->sd_shape[v] != UINT32_MAX) {
                    rc = CORRUPT("doc in two shapes");
                    break;
                }
                s->sd_shape[v] = g;
            }
            s->sd_ids[sum++] = (uint32_t)v;
        }
    }
    s->sd_at[ns] = sum;
    if (rc == SIFT_OK && (sum != s->n_docs || p != end))
        rc = CORRUPT("shape docs do not cover the segment");
    sift_free(raw);
    if (rc == SIFT_OK)
        s->n_shapes = ns;
    return rc;
}

/* Makes the shape tables available; SIFT_OK, SIFT_ECORRUPT, SIFT_ENOMEM. */
int
sift__segment_shapes_load(const struct sift_segment *cseg)
{
    struct sift_segment *s = (struct sift_segment *)(uintptr_t)cseg;
    int st = atomic_load_explicit(&s->sh_state, memory_order_acquire);
    if (st == 1)
        return SIFT_OK;
    if (st == 2)
        return s->sh_rc;
    pthread_mutex_lock(&s->sh_mu);
    int rc = SIFT_OK;
    st = atomic_load_explicit(&s->sh_state, memory_order_relaxed);
    if (st == 0) {
        rc = shapes_decode(s);
        if (rc == SIFT_OK) {
            atomic_store_explicit(&s->sh_state, 1, memory_order_release);
        } else if (rc == SIFT_ECORRUPT) {
            s->sh_rc = rc;
            atomic_store_explicit(&s->sh_state, 2, memory_order_release);
        }
        if (rc != SIFT_OK) /* ENOMEM may succeed later */
            sift__segment_shapes_free(s);
    } else if (st == 2) {
        rc = s->sh_rc;
    }
    pthread_mutex_unlock(&s->sh_mu);
    return rc;
}

/* s_off flag: the value is in ntext (data is at most 64 MiB, ntext at
 * most SIFT_SEGFMT_SLOT_DIGITS_U64 bytes per value, and every value
 * takes at least one byte of data, so bit 31 is free). */
#define SLOT_IN_NTEXT UINT32_C(0x80000000)

void
sift__segment_cache_docs_free(struct sift__segment_cache *c)
{
    sift_free(c->data);
    sift_free(c->d_shape);
    sift_free(c->d_tid);
    sift_free(c->d_slot);
    sift_free(c->d_field);
    sift_free(c->s_off);
    sift_free(c->s_len);
    sift_free(c->ntext);
    sift_free(c->f_key);
    sift_free(c->f_off);
    sift_free(c->f_len);
    sift_free(c->f_ord);
}

/* Grows the uint32 arrays arr[0..n_arr) to hold n entries each. */
static int
grow_u32(uint32_t **arr[], size_t n_arr, size_t *cap, size_t n)
{
    if (*cap >= n)
        return SIFT_OK;
    size_t nc = n + n / 2 + 16;
    for (size_t i = 0; i < n_arr; i++) {
        uint32_t *a = sift_try_malloc(nc * sizeof(uint32_t));
        if (a == NULL) {
            *cap = 0; /* the arrays freed so far are reallocated next time */
            return SIFT_ENOMEM;
        }
        sift_free(*arr[i]);
        *arr[i] = a;
    }
    *cap = nc;
    return SIFT_OK;
}

/* Stable order of items 0..n-1 by key[]: (*out)[r] & 0xffffffff is the
 * r-th item; NULL + SIFT_OK when already sorted.  *out is owned by the
 * caller.  A radix sort (sort.h): this runs for every block a merge or a
 * query decodes, and qsort() here was ~10% of a merge's CPU. */
static int
stable_order(const uint32_t *key, uint32_t n, uint64_t **out)
{
    *out = NULL;
    uint32_t i = 1;
    while (i < n && key[i - 1] <= key[i])
        i++;
    if (i >= n)
        return SIFT_OK;
    uint64_t *ds = sift_try_malloc((size_t)n * 2 * sizeof(*ds));
    if (ds == NULL)
        return SIFT_ENOMEM;
    for (uint32_t k = 0; k < n; k++)
        ds[k] = (uint64_t)key[k] << 32 | k;
    sift_sort_u64(ds, n, ds + n);
    *out = ds;
    return SIFT_OK;
}

/*
 * One value of a typed slot column (format 4, segment_fmt.h DOCS stream
 * 3): a zvarint delta from *prev (modes 1, 2) or a width-byte
 * little-endian integer (mode 3), written as decimal text (modes 1, 3) or
 * zero-padded to width digits (mode 2) into c->ntext.
 */
static int
slot_number(struct sift__segment_cache *c, const uint8_t **p,
            const uint8_t *end, unsigned mode, unsigned width, uint64_t *prev,
            uint32_t *off, uint32_t *len)
{
    uint64_t v = 0;
    if (mode == 3) {
        if ((size_t)(end - *p) < width)
            return CORRUPT("doc block slot number");
        for (unsigned i = 0; i < width; i++)
            v |= (uint64_t)(*p)[i] << (8 * i);
        *p += width;
    } else {
        uint64_t z;
        if (sift_get_varint(p, end, &z) != SIFT_OK)
            return CORRUPT("doc block slot number");
        v = *prev + ((z >> 1) ^ (0 - (z & 1)));
        *prev = v;
        if (v >=
            sift__segfmt_pow10(mode == 2 ? width : SIFT_SEGFMT_SLOT_DIGITS))
            return CORRUPT("doc block slot number range");
    }
    char d[SIFT_SEGFMT_SLOT_DIGITS_U64];
    unsigned n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v > 0);
    while (mode == 2 && n < width)
        d[n++] = '0';
    if (c->nt_len + n > c->nt_cap) {
        size_t cap = (c->nt_len + n) * 2 + 4096;
        char *t = sift_try_realloc(c->ntext, cap);
        if (t == NULL)
            return SIFT_ENOMEM;
        c->ntext = t;
        c->nt_cap = cap;
    }
    *off = (uint32_t)c->nt_len | SLOT_IN_NTEXT;
    *len = n;
    for (unsigned i = 0; i < n; i++)
        c->ntext[c->nt_len++] = d[n - 1 - i];
    return SIFT_OK;
}

/* The bytes of a slot value decoded by block_decode. */
static const uint8_t *
slot_bytes(const struct sift__segment_cache *c, uint32_t off)
{
    return off & SLOT_IN_NTEXT
               ? (const uint8_t *)c->ntext + (off & ~SLOT_IN_NTEXT)
               : c->data + off;
}

/* Decodes the five streams of the block in c (segment_fmt.h DOCS). */
static int
block_decode(const struct sift_segment *seg, struct sift__segment_cache *c,
             uint32_t first, uint32_t cnt)
{
    uint32_t **darr[] = {&c->d_shape, &c->d_tid, &c->d_slot, &c->d_field};
    if (grow_u32(darr, 4, &c->d_cap, (size_t)cnt + 1) != SIFT_OK)
        return SIFT_ENOMEM;
    const uint8_t *p = c->data, *end = c->data + c->len;
    uint64_t n_slots = 0, n_fv = 0;
    c->nt_len = 0;
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t g, tid, nf;
        if (seg->version >= 4)
            g = seg->sd_shape[first + i]; /* SHAPEDOCS covers every doc */
        else if (sift_get_varint(&p, end, &g) != SIFT_OK || g >= seg->n_shapes)
            return CORRUPT("doc block directory");
        if (sift_get_varint(&p, end, &tid) != SIFT_OK || tid > UINT32_MAX ||
            sift_get_varint(&p, end, &nf) != SIFT_OK || nf > c->len)
            return CORRUPT("doc block directory");
        c->d_shape[i] = (uint32_t)g;
        c->d_tid[i] = (uint32_t)tid;
        c->d_slot[i] = (uint32_t)n_slots;
        c->d_field[i] = (uint32_t)n_fv;
        n_slots += seg->sh_k[g];
        n_fv += nf;
        /* Each slot and field value takes at least one byte. */
        if (n_slots + n_fv > c->len)
            return CORRUPT("doc block value count");
    }
    c->d_slot[cnt] = (uint32_t)n_slots;
    c->d_field[cnt] = (uint32_t)n_fv;
    uint32_t **sarr[] = {&c->s_off, &c->s_len};
    uint32_t **farr[] = {&c->f_key, &c->f_off, &c->f_len, &c->f_ord};
    if (grow_u32(sarr, 2, &c->s_cap, (size_t)n_slots + 1) != SIFT_OK ||
        grow_u32(farr, 4, &c->f_cap, (size_t)n_fv + 1) != SIFT_OK)
        return SIFT_ENOMEM;
    for (uint64_t j = 0; j < n_fv; j++) {
        uint64_t k;
        if (sift_get_varint(&p, end, &k) != SIFT_OK || k >= seg->n_keys)
            return CORRUPT("doc block field key");
        c->f_key[j] = (uint32_t)k;
    }
    /* Stream 3: slot values, shape by shape. */
    uint64_t *ds = NULL;
    int rc = stable_order(c->d_shape, cnt, &ds);
    if (rc != SIFT_OK)
        return rc;
    for (uint32_t r = 0; r < cnt && rc == SIFT_OK;) {
        uint32_t g = c->d_shape[ds ? (uint32_t)ds[r] : r], re = r;
        while (re < cnt && c->d_shape[ds ? (uint32_t)ds[re] : re] == g)
            re++;
        for (uint32_t k = 0; k < seg->sh_k[g] && rc == SIFT_OK; k++) {
            unsigned mode = 0;
            uint64_t width = 0, prev = 0;
            if (seg->version >= 4) {
                if (p >= end || *p > 3) {
                    rc = CORRUPT("doc block slot column mode");
                    break;
                }
                mode = *p++;
                if (mode == 3 && (p >= end || *p == 0 || *p > 8)) {
                    rc = CORRUPT("doc block slot column width");
                    break;
                }
                if (mode == 3)
                    width = *p++;
                if (mode == 2 &&
                    (sift_get_varint(&p, end, &width) != SIFT_OK ||
                     width == 0 || width > SIFT_SEGFMT_SLOT_DIGITS)) {
                    rc = CORRUPT("doc block slot column width");
                    break;
                }
            }
            for (uint32_t x = r; x < re; x++) {
                uint32_t i = ds ? (uint32_t)ds[x] : x;
                uint64_t l;
                if (mode != 0) {
                    if ((rc = slot_number(c, &p, end, mode, (unsigned)width,
                                          &prev, &c->s_off[c->d_slot[i] + k],
                                          &c->s_len[c->d_slot[i] + k])) !=
                        SIFT_OK)
                        break;
                    continue;
                }
                if (sift_get_varint(&p, end, &l) != SIFT_OK ||
                    l > (uint64_t)(end - p)) {
                    rc = CORRUPT("doc block slot value");
                    break;
                }
                c->s_off[c->d_slot[i] + k] = (uint32_t)(p - c->data);
                c->s_len[c->d_slot[i] + k] = (uint32_t)l;
                p += l;
            }
        }
        r = re;
    }
    sift_free(ds);
    if (rc != SIFT_OK)
        return rc;
    /* Stream 4: field values, key by key. */
    if ((rc = stable_order(c->f_key, (uint32_t)n_fv, &ds)) != SIFT_OK)
        return rc;
    for (uint64_t x = 0; x < n_fv; x++) {
        uint32_t j = ds ? (uint32_t)ds[x] : (uint32_t)x;
        uint64_t v;
        if (sift_get_varint(&p, end, &v) != SIFT_OK ||
            (v > 0 && v - 1 > (uint64_t)(end - p)) ||
            (v == 0 && seg->kfield[c->f_key[j]] < 0)) {
            rc = CORRUPT("doc block field value");
            break;
        }
        c->f_off[j] = (uint32_t)(p - c->data);
        c->f_len[j] = v == 0 ? UINT32_MAX : (uint32_t)(v - 1);
        p += v == 0 ? 0 : v - 1;
    }
    sift_free(ds);
    if (rc == SIFT_OK && p != end)
        rc = CORRUPT("doc block trailing bytes");
    return rc;
}

/* Appends the sift_doc_encode() form of doc k of the cached block. */
static int
doc_rebuild(const struct sift_segment *seg, const struct sift__segment_cache *c,
            uint32_t k, uint32_t doc, struct sift_buf *out)
{
    int64_t ts = sift_segment_doc_ts(seg, doc);
    uint32_t g = c->d_shape[k], nk = seg->sh_k[g];
    const uint32_t *soff = c->s_off + c->d_slot[k];
    const uint32_t *slen = c->s_len + c->d_slot[k];
    /* Message length first (pieces were validated when loaded). */
    const uint8_t *pp = seg->sh_raw + seg->sh_poff[g];
    const uint8_t *pend = seg->sh_raw + seg->sh_raw_len;
    uint64_t ml = 0, l;
    for (uint32_t i = 0; i <= nk; i++) {
        (void)sift_get_varint(&pp, pend, &l);
        pp += l;
        ml += l + (i < nk ? slen[i] : 0);
    }
    if (sift_buf_try_reserve(out, 40 + ml) != SIFT_OK)
        return SIFT_ENOMEM;
    uint64_t zz = ((uint64_t)ts << 1) ^ (uint64_t)(ts >> 63);
    sift_buf_put_varint(out, zz);
    sift_buf_put_varint(out, c->d_tid[k]);
    sift_buf_put_varint(out, ml);
    pp = seg->sh_raw + seg->sh_poff[g];
    for (uint32_t i = 0; i <= nk; i++) {
        (void)sift_get_varint(&pp, pend, &l);
        sift_buf_append(out, pp, l);
        pp += l;
        if (i < nk)
            sift_buf_append(out, slot_bytes(c, soff[i]), slen[i]);
    }
    uint32_t f0 = c->d_field[k], f1 = c->d_field[k + 1];
    sift_buf_put_varint(out, f1 - f0);
    for (uint32_t j = f0; j < f1; j++) {
        const struct rkey *key = &seg->keys[c->f_key[j]];
        const void *v = c->data + c->f_off[j];
        size_t vl = c->f_len[j];
        char itext[24];
        if (c->f_len[j] == UINT32_MAX) {
            uint32_t fi = (uint32_t)seg->kfield[c->f_key[j]];
            if (seg->fields[fi].kw_ords == NULL) { /* version 7: NUMCOL */
                double x;
                int64_t iv;
                /* a mode 1 dictionary holds one of 0 and -0.0 for both */
                if (sift_segment_number(seg, fi, doc, &x) != SIFT_OK ||
                    !sift__segment_num_int(x == 0 ? 0.0 : x, &iv))
                    return CORRUPT("stored doc number value absent");
                vl = sift__segment_int_text(iv, itext);
                v = itext;
            } else {
                uint32_t ord = sift_segment_keyword_ord(seg, fi, doc);
                if (ord == UINT32_MAX)
                    return CORRUPT("stored doc keyword value absent");
                v = sift_segment_keyword_value(seg, fi, ord, &vl);
            }
        }
        if (sift_buf_try_reserve(out, 21 + key->name_len + vl) != SIFT_OK)
            return SIFT_ENOMEM;
        sift_buf_put_varint(out, key->name_len);
        sift_buf_append(out, key->name, key->name_len);
        sift_buf_putc(out, (char)key->type);
        sift_buf_put_varint(out, vl);
        sift_buf_append(out, v, vl);
    }
    return SIFT_OK;
}

int
sift_segment_doc(const struct sift_segment *seg, uint32_t doc,
                 struct sift_buf *out)
{
    if (doc >= seg->n_docs)
        return SIFT_EINVAL;
    int rc = sift__segment_shapes_load(seg);
    if (rc != SIFT_OK)
        return rc;
    /* Binary search the block index on first doc id. */
    uint32_t lo = 0, hi = seg->doc_blocks;
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sift_load_u32(seg->docs + 8 + (size_t)mid * 24) <= doc)
            lo = mid;
        else
            hi = mid;
    }
    const uint8_t *e = seg->docs + 8 + (size_t)lo * 24;
    uint32_t first = sift_load_u32(e), cnt = sift_load_u32(e + 4);
    uint32_t clen = sift_load_u32(e + 8), rlen = sift_load_u32(e + 12);
    uint64_t off = sift_load_u64(e + 16);
    struct sift__segment_cache *c = sift__segment_cache_get();
    if (c == NULL)
        return SIFT_ENOMEM;
    if (c->uid != seg->uid || c->block != lo) {
        c->uid = 0;
        if (sift_try_scratch(&c->data, &c->cap, rlen) != SIFT_OK)
            return SIFT_ENOMEM;
        size_t r =
            seg->ddict != NULL
                ? ZSTD_decompress_usingDDict(c->dctx, c->data, rlen,
                                             seg->docs + off, clen, seg->ddict)
                : ZSTD_decompressDCtx(c->dctx, c->data, rlen, seg->docs + off,
                                      clen);
        if (ZSTD_isError(r) || r != rlen)
            return CORRUPT("doc block does not decompress");
        c->len = rlen;
        if ((rc = block_decode(seg, c, first, cnt)) != SIFT_OK)
            return rc;
        c->cnt = cnt;
        c->uid = seg->uid;
        c->block = lo;
    }
    size_t len0 = out->len;
    rc = doc_rebuild(seg, c, doc - first, doc, out);
    if (rc != SIFT_OK)
        out->len = len0;
    return rc;
}

#define TRAIN_TOTAL (8u << 20) /* sample bytes for dictionary training */
#define TRAIN_PIECE 4096u

int
sift_segment_dict_train(struct sift_segment *const *segs, size_t n_segs,
                        size_t max_bytes, struct sift_buf *out)
{
    int rc = SIFT_OK;
    struct sift_buf samples = SIFT_BUF_INIT;
    size_t *sizes = NULL, n_sizes = 0, cap_sizes = 0;
    uint8_t *raw = NULL;
    size_t raw_cap = 0;
    void *dict = NULL;
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    if (dctx == NULL || max_bytes == 0)
        return dctx == NULL ? SIFT_ENOMEM : SIFT_EINVAL;
    size_t per_seg = n_segs > 0 ? TRAIN_TOTAL / n_segs : 0;
    for (size_t i = 0; i < n_segs; i++) {
        const struct sift_segment *seg = segs[i];
        if (seg->doc_blocks == 0)
            continue;
        /* Every step-th block, so the sample spans the segment. */
        uint64_t total_raw = 0;
        for (uint32_t b = 0; b < seg->doc_blocks; b++)
            total_raw += sift_load_u32(seg->docs + 8 + (size_t)b * 24 + 12);
        uint32_t step = (uint32_t)(total_raw / (per_seg + 1)) + 1;
        size_t taken = 0;
        for (uint32_t b = 0; b < seg->doc_blocks && taken < per_seg;
             b += step) {
            const uint8_t *e = seg->docs + 8 + (size_t)b * 24;
            uint32_t clen = sift_load_u32(e + 8), rlen = sift_load_u32(e + 12);
            uint64_t off = sift_load_u64(e + 16);
            if ((rc = sift_try_scratch(&raw, &raw_cap, rlen)) != SIFT_OK)
                goto out;
            size_t r = seg->ddict != NULL
                           ? ZSTD_decompress_usingDDict(dctx, raw, rlen,
                                                        seg->docs + off, clen,
                                                        seg->ddict)
                           : ZSTD_decompressDCtx(dctx, raw, rlen,
                                                 seg->docs + off, clen);
            if (ZSTD_isError(r) || r != rlen) {
                rc = CORRUPT("doc block does not decompress");
                goto out;
            }
            for (size_t at = 0; at < rlen && taken < per_seg;
                 at += TRAIN_PIECE) {
                size_t l = rlen - at < TRAIN_PIECE ? rlen - at : TRAIN_PIECE;
                if (n_sizes == cap_sizes) {
                    cap_sizes = cap_sizes ? cap_sizes * 2 : 1024;
                    size_t *ns =
                        sift_try_realloc(sizes, cap_sizes * sizeof(size_t));
                    if (ns == NULL) {
                        rc = SIFT_ENOMEM;
                        goto out;
                    }
                    sizes = ns;
                }
                if (sift_buf_try_append(&samples, raw + at, l) != SIFT_OK) {
                    rc = SIFT_ENOMEM;
                    goto out;
                }
                sizes[n_sizes++] = l;
                taken += l;
            }
        }
    }
    if (n_sizes < 16 || samples.len < max_bytes) {
        rc = SIFT_EINVAL;
        goto out;
    }
    if ((dict = sift_try_malloc(max_bytes)) == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    size_t dl = ZDICT_trainFromBuffer(dict, max_bytes, samples.data, sizes,
                                      (unsigned)n_sizes);
    if (ZDICT_isError(dl)) {
        SIFT_ERROR("segment: dictionary training: %s", ZDICT_getErrorName(dl));
        rc = SIFT_EINVAL;
        goto out;
    }
    if (sift_buf_try_append(out, dict, dl) != SIFT_OK)
        rc = SIFT_ENOMEM;
out:
    sift_free(dict);
    sift_free(raw);
    sift_free(sizes);
    sift_buf_cleanup(&samples);
    ZSTD_freeDCtx(dctx);
    return rc;
}
