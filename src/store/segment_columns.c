/*
 * segment_columns.c - the column sections of a segment: TS (timestamps),
 * KWCOL (dictionary column of a keyword field) and NUMCOL (numeric
 * column), written by the builder and read in place (format:
 * segment_fmt.h).
 *
 * Design.  Columns answer filters and aggregations without the doc store.
 * Timestamps go in blocks of 128 docs as bit-packed residuals from a line
 * through the block (a steady rate costs 0 bits per doc), scaled by the
 * largest power of ten dividing every delta (ms-precision times need 20
 * fewer bits).  A keyword column holds the field's terms in byte order
 * (its ordinals are the term dictionary's ranks) and a bit-packed ordinal
 * per doc; a numeric column holds a double per doc, a sorted dictionary
 * of at most 65536 values and a bit-packed code per doc, or (version 7)
 * integers bit-packed per 128 docs as residuals from a line through the
 * block with a presence bitmap where docs lack a value, whichever is
 * smallest (a file offset or a counter costs a few bits per doc, a
 * sparse field only its bitmap where it is absent).  Reads are O(1) per
 * doc (mode 2: two varints and a popcount of at most 16 bytes).
 *
 * Invariants: parse_*() check every bound a later access depends on, so
 * the accessors need none beyond the doc and field range.
 *
 * Threads: writing belongs to the builder's thread; reading is pure.
 */
#include <math.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/segment.h"
#include "sift/sort.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

/* ---- TS ---- */

void
sift__segment_write_ts(struct sift__segw *w, const int64_t *ts, uint32_t n)
{
    uint32_t nb = (n + SIFT_SEGFMT_TS_BLOCK - 1) / SIFT_SEGFMT_TS_BLOCK;
    size_t start = sift__segw_pos(w);
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
        unsigned width = sift__segment_bits_for(maxd / scale);
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
            unsigned w1 = sift__segment_bits_for((uint64_t)hi - (uint64_t)lo);
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
        uint8_t *p = sift__segment_pack_area(w->out, cnt, width);
        for (uint32_t i = 0; i < cnt && width > 0; i++)
            sift__segment_pack_put(p, i, width,
                                   ((uint64_t)ts[first + i] - (uint64_t)base) /
                                           scale -
                                       (uint64_t)i * step + mneg);
    }
    sift__segw_section(w, SIFT_SEGSEC_TS, UINT32_MAX, start);
}

int
sift__segment_parse_ts(struct sift_segment *s, const uint8_t *p, size_t len)
{
    uint64_t nb =
        ((uint64_t)s->n_docs + SIFT_SEGFMT_TS_BLOCK - 1) / SIFT_SEGFMT_TS_BLOCK;
    if (len < 8 || sift_load_u32(p) != nb || (len - 8) / 16 < nb)
        return CORRUPT("ts header");
    s->ts_blocks = (uint32_t)nb;
    s->ts_idx = p + 8;
    s->ts_packed = p + 8 + nb * 16;
    s->ts_packed_len = len - 8 - nb * 16;
    for (uint32_t b = 0; b < s->ts_blocks; b++) {
        const uint8_t *e = s->ts_idx + (size_t)b * 16;
        uint32_t cnt = s->n_docs - b * SIFT_SEGFMT_TS_BLOCK;
        if (cnt > SIFT_SEGFMT_TS_BLOCK)
            cnt = SIFT_SEGFMT_TS_BLOCK;
        uint32_t off = sift_load_u32(e + 8);
        unsigned w = e[12];
        if (w > 64 || e[13] > 18)
            return CORRUPT("ts width / scale");
        size_t nbytes = ((size_t)cnt * w + 7) / 8;
        if (off > s->ts_packed_len)
            return CORRUPT("ts block past end");
        if (s->version >= 4) {
            /* step and -(least residual), then the values */
            const uint8_t *q = s->ts_packed + off;
            const uint8_t *qend = s->ts_packed + s->ts_packed_len;
            uint64_t step, mneg;
            if (sift_get_varint(&q, qend, &step) != SIFT_OK ||
                sift_get_varint(&q, qend, &mneg) != SIFT_OK)
                return CORRUPT("ts block line");
            off = (uint32_t)(q - s->ts_packed);
        }
        if (nbytes > s->ts_packed_len - off)
            return CORRUPT("ts block past end");
    }
    return SIFT_OK;
}

int64_t
sift_segment_doc_ts(const struct sift_segment *seg, uint32_t doc)
{
    if (doc >= seg->n_docs)
        return seg->max_ts;
    const uint8_t *e = seg->ts_idx + (size_t)(doc / SIFT_SEGFMT_TS_BLOCK) * 16;
    uint64_t base = sift_load_u64(e);
    const uint8_t *p = seg->ts_packed + sift_load_u32(e + 8);
    uint32_t i = doc % SIFT_SEGFMT_TS_BLOCK;
    uint64_t step = 0, mneg = 0;
    if (seg->version >= 4) { /* validated by parse_ts */
        const uint8_t *end = seg->ts_packed + seg->ts_packed_len;
        (void)sift_get_varint(&p, end, &step);
        (void)sift_get_varint(&p, end, &mneg);
    }
    uint64_t v = sift__segment_unpack(p, e[12], i) + (uint64_t)i * step - mneg;
    return (int64_t)(base + v * sift__segfmt_pow10(e[13]));
}

uint32_t
sift_segment_ts_lower_bound(const struct sift_segment *seg, int64_t ts_ns)
{
    /* Last block whose base < ts_ns holds the answer or ends before it. */
    uint32_t lo = 0, hi = seg->ts_blocks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int64_t base = (int64_t)sift_load_u64(seg->ts_idx + (size_t)mid * 16);
        if (base < ts_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    uint32_t b = lo - 1;
    uint32_t dlo = b * SIFT_SEGFMT_TS_BLOCK;
    uint32_t dhi = dlo + SIFT_SEGFMT_TS_BLOCK;
    if (dhi > seg->n_docs)
        dhi = seg->n_docs;
    while (dlo < dhi) {
        uint32_t mid = dlo + (dhi - dlo) / 2;
        if (sift_segment_doc_ts(seg, mid) < ts_ns)
            dlo = mid + 1;
        else
            dhi = mid;
    }
    return dlo;
}

/* ---- KWCOL ---- */

void
sift__segment_write_kwcol(struct sift__segw *w, const struct bfield *f,
                          uint32_t field_idx, const uint32_t *order,
                          const uint32_t *rank, const uint32_t *doc_order,
                          uint32_t n)
{
    size_t start = sift__segw_pos(w);
    uint32_t c = f->td.n_terms;
    unsigned width = sift__segment_bits_for(c);
    sift_buf_put_u32(w->out, c);
    sift_buf_putc(w->out, (char)width);
    sift_buf_append(w->out, "\0\0\0", 3);
    uint32_t off = 0;
    for (uint32_t r = 0; r < c; r++) {
        sift_buf_put_u32(w->out, off);
        off += f->td.terms[order[r]].len + 1;
    }
    sift_buf_put_u32(w->out, off);
    for (uint32_t r = 0; r < c; r++) {
        const struct sift_termdict_term *t = &f->td.terms[order[r]];
        sift_buf_append(w->out, t->s, t->len);
        sift_buf_putc(w->out, '\0');
    }
    uint8_t *p = sift__segment_pack_area(w->out, n, width);
    for (uint32_t d = 0; d < n; d++) {
        uint32_t old = doc_order ? doc_order[d] : d;
        uint32_t tid = old < f->kw_len ? f->kw[old] : UINT32_MAX;
        sift__segment_pack_put(p, d, width, tid == UINT32_MAX ? c : rank[tid]);
    }
    sift__segw_section(w, SIFT_SEGSEC_KWCOL, field_idx, start);
}

int
sift__segment_parse_kwcol(struct sift_segment *s, struct rfield *f,
                          const uint8_t *p, size_t len)
{
    if (len < 8)
        return CORRUPT("kwcol header");
    uint32_t c = sift_load_u32(p);
    unsigned w = p[4];
    if (c > f->n_terms || w == 0 || w > 32 || (w < 32 && (c >> w) != 0) ||
        (uint64_t)c * 4 + 4 > len - 8)
        return CORRUPT("kwcol header");
    const uint8_t *offs = p + 8;
    uint32_t blob_len = sift_load_u32(offs + (size_t)c * 4);
    size_t blob_at = 8 + (size_t)c * 4 + 4;
    if (blob_len > len - blob_at)
        return CORRUPT("kwcol blob");
    uint32_t prev = 0;
    for (uint32_t i = 0; i <= c; i++) {
        uint32_t o = sift_load_u32(offs + (size_t)i * 4);
        if (o < prev || o > blob_len || (i > 0 && o == prev))
            return CORRUPT("kwcol offsets");
        if (i > 0 && p[blob_at + o - 1] != '\0')
            return CORRUPT("kwcol value not terminated");
        prev = o;
    }
    if (sift_load_u32(offs) != 0)
        return CORRUPT("kwcol first offset");
    size_t codes = blob_at + blob_len;
    if (((uint64_t)s->n_docs * w + 7) / 8 != len - codes)
        return CORRUPT("kwcol codes");
    f->card = c;
    f->kw_width = w;
    f->kw_offs = offs;
    f->kw_blob = p + blob_at;
    f->kw_blob_len = blob_len;
    f->kw_ords = p + codes;
    return SIFT_OK;
}

uint32_t
sift_segment_keyword_ord(const struct sift_segment *seg, uint32_t field,
                         uint32_t doc)
{
    if (field >= seg->n_fields || doc >= seg->n_docs)
        return UINT32_MAX;
    const struct rfield *f = &seg->fields[field];
    if (f->kw_ords == NULL)
        return UINT32_MAX;
    uint64_t o = sift__segment_unpack(f->kw_ords, f->kw_width, doc);
    return o < f->card ? (uint32_t)o : UINT32_MAX;
}

uint32_t
sift_segment_keyword_card(const struct sift_segment *seg, uint32_t field)
{
    if (field >= seg->n_fields)
        return 0;
    return seg->fields[field].kw_ords ? seg->fields[field].card : 0;
}

const char *
sift_segment_keyword_value(const struct sift_segment *seg, uint32_t field,
                           uint32_t ord, size_t *len)
{
    if (len != NULL)
        *len = 0;
    if (field >= seg->n_fields)
        return NULL;
    const struct rfield *f = &seg->fields[field];
    if (f->kw_ords == NULL || ord >= f->card)
        return NULL;
    uint32_t a = sift_load_u32(f->kw_offs + (size_t)ord * 4);
    uint32_t b = sift_load_u32(f->kw_offs + (size_t)ord * 4 + 4);
    if (len != NULL)
        *len = b - a - 1;
    return (const char *)f->kw_blob + a;
}

/* ---- NUMCOL ---- */

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

static uint64_t
zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
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

/* One mode 2 block: the line v = base + r * step + u[r] - m. */
struct int_block {
    int64_t base, step;
    uint64_t m;
    uint32_t cnt, p; /* docs, docs with a value */
    unsigned width;
    int bitmap;
};

/* Residual range of x[0..p) around the line x[0] + r * step. */
static unsigned
int_line(const int64_t *x, uint32_t p, int64_t step, uint64_t *m)
{
    int64_t lo = 0, hi = 0;
    for (uint32_t r = 0; r < p; r++) {
        int64_t res = x[r] - x[0] - (int64_t)r * step;
        lo = res < lo ? res : lo;
        hi = res > hi ? res : hi;
    }
    *m = (uint64_t)0 - (uint64_t)lo;
    return sift__segment_bits_for((uint64_t)hi - (uint64_t)lo);
}

/* Plans a block of x[0..p) (the values of its cnt docs); returns its
 * bytes in the packed area. */
static size_t
int_block_plan(const int64_t *x, uint32_t p, uint32_t cnt,
               struct int_block *blk)
{
    memset(blk, 0, sizeof(*blk));
    blk->cnt = cnt;
    blk->p = p;
    blk->bitmap = p < cnt;
    if (p > 0) {
        blk->base = x[0];
        blk->width = int_line(x, p, 0, &blk->m);
        if (p > 1 && blk->width > 0) {
            int64_t step = (x[p - 1] - x[0]) / (int64_t)(p - 1);
            uint64_t m;
            unsigned w = int_line(x, p, step, &m);
            if (w < blk->width) {
                blk->step = step;
                blk->m = m;
                blk->width = w;
            }
        }
    }
    return varint_len(zigzag(blk->step)) + varint_len(blk->m) +
           (blk->bitmap ? (cnt + 7) / 8 : 0) + ((size_t)p * blk->width + 7) / 8;
}

/* The mode 2 form of the column: *x gets the values in doc order (absent
 * docs skipped) and *blocks the plans; returns the section's bytes, or 0
 * when some value does not qualify (or on ENOMEM: *rc). */
static size_t
int_plan(const struct bfield *f, const uint32_t *doc_order, uint32_t n,
         int64_t **x, struct int_block **blocks, int *rc)
{
    uint32_t nb = (n + SIFT_SEGFMT_NUM_BLOCK - 1) / SIFT_SEGFMT_NUM_BLOCK;
    *x = sift_try_malloc(((size_t)n + 1) * sizeof(int64_t));
    *blocks = sift_try_malloc(((size_t)nb + 1) * sizeof(struct int_block));
    if (*x == NULL || *blocks == NULL) {
        *rc = SIFT_ENOMEM;
        return 0;
    }
    size_t total = 16 + (size_t)nb * 16, k = 0;
    for (uint32_t blk = 0; blk < nb; blk++) {
        uint32_t first = blk * SIFT_SEGFMT_NUM_BLOCK;
        uint32_t cnt = n - first < SIFT_SEGFMT_NUM_BLOCK
                           ? n - first
                           : SIFT_SEGFMT_NUM_BLOCK;
        size_t k0 = k;
        for (uint32_t i = first; i < first + cnt; i++) {
            uint32_t old = doc_order ? doc_order[i] : i;
            double v = old < f->num_len ? f->num[old] : NAN;
            if (isnan(v))
                continue;
            if (!sift__segment_num_int(v, &(*x)[k]))
                return 0;
            k++;
        }
        total +=
            int_block_plan(*x + k0, (uint32_t)(k - k0), cnt, &(*blocks)[blk]);
    }
    return total;
}

/* Appends the mode 2 column planned by int_plan(). */
static void
int_write(struct sift_buf *out, const struct bfield *f,
          const uint32_t *doc_order, uint32_t n, const int64_t *x,
          const struct int_block *blocks)
{
    uint32_t nb = (n + SIFT_SEGFMT_NUM_BLOCK - 1) / SIFT_SEGFMT_NUM_BLOCK;
    sift_buf_append(out, "\2\0\0\0\0\0\0\0", 8);
    sift_buf_put_u32(out, nb);
    sift_buf_put_u32(out, 0);
    size_t idx = out->len;
    sift_buf_reserve(out, (size_t)nb * 16);
    memset(out->data + idx, 0, (size_t)nb * 16);
    out->len += (size_t)nb * 16;
    size_t area = out->len;
    for (uint32_t blk = 0; blk < nb; blk++) {
        const struct int_block *bl = &blocks[blk];
        uint8_t *e = (uint8_t *)out->data + idx + (size_t)blk * 16;
        sift_store_u64(e, (uint64_t)bl->base);
        sift_store_u32(e + 8, (uint32_t)(out->len - area));
        e[12] = (uint8_t)bl->width;
        e[13] = (uint8_t)(bl->bitmap ? 1 : 0);
        sift_buf_put_varint(out, zigzag(bl->step));
        sift_buf_put_varint(out, bl->m);
        if (bl->bitmap) {
            uint32_t first = blk * SIFT_SEGFMT_NUM_BLOCK;
            uint8_t *bm = sift__segment_pack_area(out, bl->cnt, 1);
            for (uint32_t j = 0; j < bl->cnt; j++) {
                uint32_t old = doc_order ? doc_order[first + j] : first + j;
                if (old < f->num_len && !isnan(f->num[old]))
                    bm[j >> 3] |= (uint8_t)(1u << (j & 7));
            }
        }
        uint8_t *p = sift__segment_pack_area(out, bl->p, bl->width);
        for (uint32_t r = 0; r < bl->p && bl->width > 0; r++)
            sift__segment_pack_put(p, r, bl->width,
                                   (uint64_t)x[r] - (uint64_t)bl->base -
                                       (uint64_t)r * (uint64_t)bl->step +
                                       bl->m);
        x += bl->p;
    }
}

int
sift__segment_write_numcol(struct sift__segw *w, const struct bfield *f,
                           uint32_t field_idx, const uint32_t *doc_order,
                           uint32_t n)
{
    size_t start = sift__segw_pos(w);
    int rc = SIFT_OK;
    int64_t *x = NULL;
    struct int_block *blocks = NULL;
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
    unsigned width = sift__segment_bits_for(c);
    size_t plain_bytes = 8 + (size_t)n * 8;
    size_t dict_bytes = 8 + 8 + (size_t)c * 8 + ((size_t)n * width + 7) / 8;
    if (c == 0 || c > SIFT_SEGFMT_NUM_DICT_MAX)
        dict_bytes = SIZE_MAX;
    size_t int_bytes = int_plan(f, doc_order, n, &x, &blocks, &rc);
    if (rc != SIFT_OK)
        goto out;
    if (int_bytes > 0 && int_bytes < dict_bytes && int_bytes < plain_bytes) {
        int_write(w->out, f, doc_order, n, x, blocks);
    } else if (dict_bytes < plain_bytes) {
        sift_buf_append(w->out, "\1\0\0\0\0\0\0\0", 8);
        sift_buf_put_u32(w->out, c);
        sift_buf_putc(w->out, (char)width);
        sift_buf_append(w->out, "\0\0\0", 3);
        for (uint32_t i = 0; i < c; i++) {
            uint64_t bits;
            memcpy(&bits, &d[i], 8);
            sift_buf_put_u64(w->out, bits);
        }
        uint8_t *p = sift__segment_pack_area(w->out, n, width);
        for (uint32_t i = 0; i < n; i++) {
            uint32_t old = doc_order ? doc_order[i] : i;
            double v = old < f->num_len ? f->num[old] : NAN;
            sift__segment_pack_put(p, i, width,
                                   isnan(v) ? c : dbl_find(d, c, v));
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
    sift__segw_section(w, SIFT_SEGSEC_NUMCOL, field_idx, start);
out:
    sift_free(d);
    sift_free(x);
    sift_free(blocks);
    return rc;
}

/* Mode 2: checks the block index and that every block's bytes lie in the
 * packed area (so the accessor trusts them). */
static int
parse_numcol_int(struct sift_segment *s, struct rfield *f, const uint8_t *p,
                 size_t len)
{
    uint64_t nb = ((uint64_t)s->n_docs + SIFT_SEGFMT_NUM_BLOCK - 1) /
                  SIFT_SEGFMT_NUM_BLOCK;
    if (len < 16 || sift_load_u32(p + 8) != nb || (len - 16) / 16 < nb)
        return CORRUPT("numcol integer header");
    f->num = p + 16;
    f->num_area = p + 16 + nb * 16;
    f->num_area_len = len - 16 - nb * 16;
    const uint8_t *aend = f->num_area + f->num_area_len;
    for (uint32_t b = 0; b < nb; b++) {
        const uint8_t *e = f->num + (size_t)b * 16;
        uint32_t cnt = s->n_docs - b * SIFT_SEGFMT_NUM_BLOCK;
        if (cnt > SIFT_SEGFMT_NUM_BLOCK)
            cnt = SIFT_SEGFMT_NUM_BLOCK;
        uint32_t off = sift_load_u32(e + 8);
        unsigned w = e[12], fl = e[13];
        if (w > 64 || fl > 1 || off > f->num_area_len)
            return CORRUPT("numcol integer block");
        const uint8_t *q = f->num_area + off;
        uint64_t step, m;
        if (sift_get_varint(&q, aend, &step) != SIFT_OK ||
            sift_get_varint(&q, aend, &m) != SIFT_OK)
            return CORRUPT("numcol integer block line");
        uint32_t np = cnt;
        if (fl & 1) {
            if ((size_t)(aend - q) < (cnt + 7) / 8)
                return CORRUPT("numcol integer bitmap");
            np = 0;
            for (uint32_t j = 0; j < (cnt + 7) / 8; j++)
                np += (uint32_t)__builtin_popcount(q[j]);
            if ((cnt & 7) != 0 && (q[cnt / 8] >> (cnt & 7)) != 0)
                return CORRUPT("numcol integer bitmap");
            q += (cnt + 7) / 8;
        }
        if (((size_t)np * w + 7) / 8 > (size_t)(aend - q))
            return CORRUPT("numcol integer block past end");
    }
    f->num_mode = 2;
    return SIFT_OK;
}

int
sift__segment_parse_numcol(struct sift_segment *s, struct rfield *f,
                           const uint8_t *p, size_t len)
{
    if (len < 8 || p[0] > (s->version >= 7 ? 2 : 1))
        return CORRUPT("numcol mode");
    if (p[0] == 2)
        return parse_numcol_int(s, f, p, len);
    if (p[0] == 0) {
        if (len - 8 != (uint64_t)s->n_docs * 8)
            return CORRUPT("numcol length");
        f->num = p + 8;
        f->num_width = 0;
        return SIFT_OK;
    }
    if (len < 16)
        return CORRUPT("numcol dictionary header");
    uint32_t c = sift_load_u32(p + 8);
    unsigned w = p[12];
    if (c == 0 || c > SIFT_SEGFMT_NUM_DICT_MAX || w == 0 || w > 32 ||
        (w < 32 && (c >> w) != 0) || (uint64_t)c * 8 > len - 16 ||
        ((uint64_t)s->n_docs * w + 7) / 8 != len - 16 - (uint64_t)c * 8)
        return CORRUPT("numcol dictionary header");
    for (uint32_t i = 0; i < c; i++) {
        uint64_t bits = sift_load_u64(p + 16 + (size_t)i * 8);
        double v, pv = 0;
        memcpy(&v, &bits, 8);
        if (i > 0) {
            bits = sift_load_u64(p + 16 + (size_t)(i - 1) * 8);
            memcpy(&pv, &bits, 8);
        }
        if (v != v || (i > 0 && !(pv < v)))
            return CORRUPT("numcol dictionary not sorted");
    }
    f->num_dict = p + 16;
    f->num_card = c;
    f->num_width = w;
    f->num_mode = 1;
    f->num = p + 16 + (size_t)c * 8;
    return SIFT_OK;
}

/* Mode 2 accessor (bounds checked by parse_numcol_int). */
static int
number_int(const struct sift_segment *seg, const struct rfield *f, uint32_t doc,
           double *out)
{
    const uint8_t *e = f->num + (size_t)(doc / SIFT_SEGFMT_NUM_BLOCK) * 16;
    const uint8_t *q = f->num_area + sift_load_u32(e + 8);
    const uint8_t *aend = f->num_area + f->num_area_len;
    uint32_t j = doc % SIFT_SEGFMT_NUM_BLOCK, r = j;
    uint64_t zstep = 0, m = 0;
    (void)sift_get_varint(&q, aend, &zstep);
    (void)sift_get_varint(&q, aend, &m);
    if (e[13] & 1) {
        if (((q[j >> 3] >> (j & 7)) & 1) == 0)
            return SIFT_ENOTFOUND;
        r = 0;
        for (uint32_t k = 0; k < j >> 3; k++)
            r += (uint32_t)__builtin_popcount(q[k]);
        r += (uint32_t)__builtin_popcount(q[j >> 3] & ((1u << (j & 7)) - 1));
        uint32_t cnt = seg->n_docs - (doc - j);
        if (cnt > SIFT_SEGFMT_NUM_BLOCK)
            cnt = SIFT_SEGFMT_NUM_BLOCK;
        q += (cnt + 7) / 8;
    }
    uint64_t step = (zstep >> 1) ^ ((uint64_t)0 - (zstep & 1));
    uint64_t v = sift_load_u64(e) + (uint64_t)r * step +
                 sift__segment_unpack(q, e[12], r) - m;
    *out = (double)(int64_t)v;
    return SIFT_OK;
}

int
sift_segment_number(const struct sift_segment *seg, uint32_t field,
                    uint32_t doc, double *out)
{
    if (field >= seg->n_fields || doc >= seg->n_docs ||
        seg->fields[field].num == NULL)
        return SIFT_ENOTFOUND;
    const struct rfield *f = &seg->fields[field];
    uint64_t bits;
    if (f->num_mode == 2)
        return number_int(seg, f, doc, out);
    if (f->num_width == 0) {
        bits = sift_load_u64(f->num + (size_t)doc * 8);
    } else {
        uint64_t code = sift__segment_unpack(f->num, f->num_width, doc);
        if (code >= f->num_card)
            return SIFT_ENOTFOUND;
        bits = sift_load_u64(f->num_dict + code * 8);
    }
    double v;
    memcpy(&v, &bits, 8);
    if (v != v)
        return SIFT_ENOTFOUND;
    *out = v;
    return SIFT_OK;
}
