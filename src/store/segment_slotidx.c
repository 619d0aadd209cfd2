/*
 * segment_slotidx.c - SLOTIDX (segment_fmt.h): per message shape and
 * slot, the frequent slot values as tokens and a code per doc, so a
 * phrase whose words fall in slot values is decided without the doc
 * store (store/segment_phrase.c).
 *
 * Design.  The builder walks the docs of each shape in doc id order (a
 * counting sort of the final ids, as SHAPEDOCS lists them) with one
 * cursor per doc into its stored slot values, and for each slot counts
 * the values' tokens in an open-addressing table; the tokens met at least
 * m / 32 times in a column of m docs, clamped to 2..8
 * (SIFT_SEGFMT_SLOTIDX_MIN_COUNT), at most SIFT_SEGFMT_SLOTIDX_MAX of
 * them, the most frequent, become the column's dictionary, every other doc is
 * coded 0.  Rare values (ids) thus cost nothing but a 0 code when the
 * column has entries, and nothing at all when it has none; a phrase over
 * a rare value has few candidates, which the doc store verifies.  The
 * reader inflates the section once per segment, checks every column's
 * bounds and order, and keeps each column's offset and each doc's rank
 * in its shape.
 *
 * Invariants: a doc whose slot value tokenizes to entry i is coded i + 1;
 * a doc coded 0 tokenizes to no entry of its column.
 *
 * Threads: the builder side runs in finish(); the loader under the
 * segment's sh_mu, after which the tables are immutable.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>
#include <zstd.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/segment.h"
#include "sift/tokenize.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

struct sent {
    uint32_t off, len; /* token bytes in tok */
    uint32_t hash, count, code;
    const char *tp; /* tok.data + off, set once tok stops growing */
    uint32_t idx;   /* a copy in sel: the entry's index */
};

struct scol {
    struct sift_buf tok; /* token bytes of the column */
    struct sent *ents;
    uint32_t n_ents, ents_cap;
    uint32_t *slots; /* entry index + 1 */
    uint32_t mask;
    uint32_t *doc_ent; /* per doc of the shape: its entry */
    struct sent *sel;  /* copies of the entries that qualify */
    uint32_t sel_cap;
};

static int
cmp_bytes(const struct sent *a, const struct sent *b)
{
    uint32_t m = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->tp, b->tp, m);
    if (c != 0)
        return c;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int
cmp_count(const void *x, const void *y)
{
    const struct sent *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return cmp_bytes(a, b);
}

static int
cmp_tok(const void *x, const void *y)
{
    return cmp_bytes(x, y);
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

/* The entry of token t (added with count 0 when new). */
static uint32_t
col_entry(struct scol *c, const char *t, uint32_t len)
{
    uint32_t h = (uint32_t)XXH3_64bits(t, len);
    uint32_t i = h & c->mask;
    for (;; i = (i + 1) & c->mask) {
        uint32_t s = c->slots[i];
        if (s == 0)
            break;
        const struct sent *e = &c->ents[s - 1];
        if (e->hash == h && e->len == len &&
            memcmp(c->tok.data + e->off, t, len) == 0)
            return s - 1;
    }
    if (c->n_ents == c->ents_cap) {
        c->ents_cap = c->ents_cap ? c->ents_cap * 2 : 256;
        c->ents =
            sift_xrealloc(c->ents, (size_t)c->ents_cap * sizeof(*c->ents));
    }
    struct sent *e = &c->ents[c->n_ents];
    e->off = (uint32_t)c->tok.len;
    e->len = len;
    e->hash = h;
    e->count = 0;
    e->code = 0;
    sift_buf_append(&c->tok, t, len);
    c->slots[i] = c->n_ents + 1;
    return c->n_ents++;
}

/* One column: the values at cur[0..m) (each advanced past its value). */
static void
col_write(struct scol *c, const uint8_t **cur, uint32_t m, struct sift_buf *raw)
{
    uint32_t cap = 64;
    while (cap < 2 * m)
        cap *= 2;
    c->mask = cap - 1;
    memset(c->slots, 0, (size_t)cap * sizeof(uint32_t));
    c->n_ents = 0;
    sift_buf_reset(&c->tok);
    for (uint32_t j = 0; j < m; j++) {
        uint64_t l = get_varint_trusted(&cur[j]);
        const uint8_t *v = cur[j];
        cur[j] += l;
        char t[SIFT_TOKEN_MAX];
        uint32_t tl = l < SIFT_TOKEN_MAX ? (uint32_t)l : SIFT_TOKEN_MAX;
        for (uint32_t i = 0; i < tl; i++)
            t[i] = (char)(v[i] >= 'A' && v[i] <= 'Z' ? v[i] + 32 : v[i]);
        uint32_t e = col_entry(c, t, tl);
        c->ents[e].count++;
        c->doc_ent[j] = e;
    }
    /* Small columns take every repeated token (cheap, and a shape of few
     * docs is where a value repeats least); large ones the frequent. */
    uint32_t min = m / 32;
    if (min < 2)
        min = 2;
    if (min > SIFT_SEGFMT_SLOTIDX_MIN_COUNT)
        min = SIFT_SEGFMT_SLOTIDX_MIN_COUNT;
    if (c->n_ents > c->sel_cap) {
        c->sel_cap = c->n_ents;
        c->sel = sift_xrealloc(c->sel, (size_t)c->sel_cap * sizeof(*c->sel));
    }
    uint32_t n_sel = 0;
    for (uint32_t e = 0; e < c->n_ents; e++) {
        if (c->ents[e].count >= min && c->ents[e].len > 0) {
            c->ents[e].tp = c->tok.data + c->ents[e].off;
            c->ents[e].idx = e;
            c->sel[n_sel++] = c->ents[e];
        }
    }
    if (n_sel > SIFT_SEGFMT_SLOTIDX_MAX) {
        qsort(c->sel, n_sel, sizeof(*c->sel), cmp_count);
        n_sel = SIFT_SEGFMT_SLOTIDX_MAX;
    }
    qsort(c->sel, n_sel, sizeof(*c->sel), cmp_tok);
    sift_buf_put_varint(raw, n_sel);
    if (n_sel == 0)
        return;
    for (uint32_t i = 0; i < n_sel; i++) {
        c->ents[c->sel[i].idx].code = i + 1;
        sift_buf_put_varint(raw, c->sel[i].len);
        sift_buf_append(raw, c->sel[i].tp, c->sel[i].len);
    }
    unsigned w = sift__segment_bits_for(n_sel);
    if (w >= 2 && w <= 8)
        w = 8; /* whole bytes: zstd codes skewed values below w bits */
    sift_buf_putc(raw, (char)w);
    uint8_t *codes = sift__segment_pack_area(raw, m, w);
    for (uint32_t j = 0; j < m; j++)
        sift__segment_pack_put(codes, j, w, c->ents[c->doc_ent[j]].code);
}

/* The verbatim shape (one slot between empty pieces: any text). */
static int
shape_verbatim(const struct sift_segment_builder *b, uint32_t g)
{
    const struct bshape *sh = &b->shapes[g];
    return sh->len == 3 && memcmp(b->shapebuf.data + sh->off, "\1\0\0", 3) == 0;
}

int
sift__segment_write_slotidx(struct sift__segw *w,
                            const struct sift_segment_builder *b,
                            const uint32_t *doc_order, const uint32_t *shape_of,
                            ZSTD_CCtx *cctx)
{
    uint32_t n = b->n_docs, ns = b->n_shapes;
    uint32_t *at = sift_try_malloc(((size_t)ns + 1) * sizeof(uint32_t));
    uint32_t *ids = sift_try_malloc(((size_t)n + 1) * sizeof(uint32_t));
    const uint8_t **cur = sift_try_malloc(((size_t)n + 1) * sizeof(*cur));
    struct scol c;
    memset(&c, 0, sizeof(c));
    uint32_t max_m = 0;
    for (uint32_t g = 0; g < ns; g++)
        if (b->shapes[g].n_docs > max_m)
            max_m = b->shapes[g].n_docs;
    uint32_t cap = 64;
    while (cap < 2 * max_m)
        cap *= 2;
    c.slots = sift_try_malloc((size_t)cap * sizeof(uint32_t));
    c.doc_ent = sift_try_malloc(((size_t)max_m + 1) * sizeof(uint32_t));
    struct sift_buf raw = SIFT_BUF_INIT;
    int rc = SIFT_OK;
    if (at == NULL || ids == NULL || cur == NULL || c.slots == NULL ||
        c.doc_ent == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    /* Docs by shape, in doc id order (SHAPEDOCS order). */
    uint32_t sum = 0;
    for (uint32_t g = 0; g < ns; g++) {
        at[g] = sum;
        sum += b->shapes[g].n_docs;
    }
    for (uint32_t d = 0; d < n; d++)
        ids[at[shape_of[d]]++] = d;
    sum = 0;
    for (uint32_t g = 0; g < ns; g++) {
        uint32_t m = b->shapes[g].n_docs, k = b->shapes[g].n_slots;
        uint32_t *gd = ids + sum;
        sum += m;
        if (k == 0)
            continue;
        if (shape_verbatim(b, g)) {
            sift_buf_put_varint(&raw, 0);
            continue;
        }
        for (uint32_t j = 0; j < m; j++) {
            uint32_t old = doc_order ? doc_order[gd[j]] : gd[j];
            cur[j] = (const uint8_t *)b->docbuf.data + b->docs[old].off;
        }
        for (uint32_t i = 0; i < k; i++)
            col_write(&c, cur, m, &raw);
    }
    if (raw.len > SIFT_SEGFMT_MAX_BLOCK) {
        /* Too big for one frame: a column of no entries per slot. */
        sift_buf_reset(&raw);
        for (uint32_t g = 0; g < ns; g++)
            for (uint32_t i = 0; i < b->shapes[g].n_slots; i++)
                sift_buf_put_varint(&raw, 0);
    }
    size_t start = sift__segw_pos(w);
    sift_buf_put_u32(w->out, (uint32_t)raw.len);
    sift_buf_put_u32(w->out, 0);
    (void)sift__segment_zframe(cctx, b->opts.zstd_level, w->out, raw.data,
                               raw.len, &rc);
    if (rc == SIFT_OK)
        sift__segw_section(w, SIFT_SEGSEC_SLOTIDX, UINT32_MAX, start);
out:
    sift_free(at);
    sift_free(ids);
    sift_free(cur);
    sift_free(c.slots);
    sift_free(c.doc_ent);
    sift_free(c.sel);
    sift_free(c.ents);
    sift_buf_cleanup(&c.tok);
    sift_buf_cleanup(&raw);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

void
sift__segment_slotidx_free(struct sift_segment *s)
{
    sift_free(s->si_raw);
    sift_free(s->si_first);
    sift_free(s->si_off);
    sift_free(s->sd_rank);
    s->si_raw = NULL;
    s->si_first = NULL;
    s->si_off = NULL;
    s->sd_rank = NULL;
}

static int
slotidx_decode(struct sift_segment *s)
{
    if (s->si_len < 8 || sift_load_u32(s->si_sec + 4) != 0)
        return CORRUPT("slot index header");
    uint32_t rlen = sift_load_u32(s->si_sec);
    int rc =
        sift__segment_inflate(s->si_sec + 8, s->si_len - 8, rlen, &s->si_raw);
    if (rc != SIFT_OK)
        return rc;
    s->si_raw_len = rlen;
    uint32_t ns = s->n_shapes;
    uint64_t n_cols = 0;
    for (uint32_t g = 0; g < ns; g++)
        n_cols += s->sh_k[g];
    s->si_first = sift_try_malloc(((size_t)ns + 1) * sizeof(uint32_t));
    s->si_off = sift_try_malloc(((size_t)n_cols + 1) * sizeof(uint32_t));
    s->sd_rank = sift_try_malloc(((size_t)s->n_docs + 1) * sizeof(uint32_t));
    if (s->si_first == NULL || s->si_off == NULL || s->sd_rank == NULL)
        return SIFT_ENOMEM;
    const uint8_t *p = s->si_raw, *end = s->si_raw + rlen;
    uint32_t col = 0;
    for (uint32_t g = 0; g < ns; g++) {
        s->si_first[g] = col;
        uint32_t m = s->sd_at[g + 1] - s->sd_at[g];
        for (uint32_t i = 0; i < s->sh_k[g]; i++, col++) {
            s->si_off[col] = (uint32_t)(p - s->si_raw);
            uint64_t c, l;
            if (sift_get_varint(&p, end, &c) != SIFT_OK ||
                c > SIFT_SEGFMT_SLOTIDX_MAX)
                return CORRUPT("slot index size");
            if (c == 0)
                continue;
            const uint8_t *prev = NULL;
            uint64_t prev_len = 0;
            for (uint64_t e = 0; e < c; e++) {
                if (sift_get_varint(&p, end, &l) != SIFT_OK || l == 0 ||
                    l > SIFT_TOKEN_MAX || l > (uint64_t)(end - p))
                    return CORRUPT("slot index entry");
                if (prev != NULL) {
                    size_t mn = prev_len < l ? (size_t)prev_len : (size_t)l;
                    int cmp = memcmp(prev, p, mn);
                    if (cmp > 0 || (cmp == 0 && prev_len >= l))
                        return CORRUPT("slot index entries not sorted");
                }
                prev = p;
                prev_len = l;
                p += l;
            }
            if (p == end || *p < sift__segment_bits_for(c) || *p > 32)
                return CORRUPT("slot index code width");
            unsigned w = *p++;
            uint64_t bytes = ((uint64_t)m * w + 7) / 8;
            if (bytes > (uint64_t)(end - p))
                return CORRUPT("slot index codes");
            p += bytes;
        }
    }
    s->si_first[ns] = col;
    if (p != end)
        return CORRUPT("slot index trailing bytes");
    for (uint32_t g = 0; g < ns; g++)
        for (uint32_t j = s->sd_at[g]; j < s->sd_at[g + 1]; j++)
            s->sd_rank[s->sd_ids[j]] = j - s->sd_at[g];
    return SIFT_OK;
}

int
sift__segment_slotidx_load(const struct sift_segment *cseg)
{
    struct sift_segment *s = (struct sift_segment *)(uintptr_t)cseg;
    if (s->si_sec == NULL)
        return SIFT_ENOTFOUND;
    int st = atomic_load_explicit(&s->si_state, memory_order_acquire);
    if (st == 1)
        return SIFT_OK;
    if (st == 2)
        return s->si_rc;
    int rc = sift__segment_shapes_load(s);
    if (rc != SIFT_OK)
        return rc;
    pthread_mutex_lock(&s->sh_mu);
    st = atomic_load_explicit(&s->si_state, memory_order_relaxed);
    if (st == 0) {
        rc = slotidx_decode(s);
        if (rc == SIFT_OK) {
            atomic_store_explicit(&s->si_state, 1, memory_order_release);
        } else if (rc == SIFT_ECORRUPT) {
            s->si_rc = rc;
            atomic_store_explicit(&s->si_state, 2, memory_order_release);
        }
        if (rc != SIFT_OK) /* ENOMEM may succeed later */
            sift__segment_slotidx_free(s);
    } else if (st == 2) {
        rc = s->si_rc;
    }
    pthread_mutex_unlock(&s->sh_mu);
    return rc;
}
