/*
 * postings.c - postings lists: encoding a sorted doc id list as the
 * smallest of four forms, and decoding an entry back into a bitmap
 * (format: sift/postings.h).
 *
 * Design.  The writer weighs the forms by size: a varint delta list
 * (compressed with its term chunk, so weighed at about 5/8 of its
 * bytes), a frozen roaring bitmap (run-optimized, stored apart in the
 * section's postings area so it can be used in place from the mmap), and
 * shape groups: when a term occurs in every doc of some message shapes
 * (the constant words of a log statement), naming those shapes and the
 * few other docs is far smaller than naming the docs.  One doc is always
 * inline.  The reader validates every id against the doc count and every
 * bitmap container before CRoaring sees it.
 *
 * Invariants: an entry written here decodes to exactly the ids written;
 * decoding never reads outside the entry, the area or the shape tables.
 *
 * Threads: a writer belongs to one thread; decoding is pure.
 */
#include <stdlib.h>
#include <string.h>

#include <roaring/containers/array.h>
#include <roaring/containers/bitset.h>
#include <roaring/containers/containers.h>
#include <roaring/containers/run.h>
#include <roaring/roaring.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/postings.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

/* Longest postings kept as a varint list rather than a bitmap: below it
 * a frozen roaring bitmap (2 B/doc + headers + 32-byte alignment) is
 * larger than the deltas. */
#define LIST_MAX SIFT_POSTINGS_LIST_MAX

/* ---- writer ---- */

int
sift_postings_writer_init(struct sift_postings_writer *w,
                          const struct sift_postings_shapes *shapes)
{
    memset(w, 0, sizeof(*w));
    w->shapes = shapes;
    if (shapes != NULL) {
        w->gcnt =
            sift_try_calloc((size_t)shapes->n_shapes + 1, sizeof(uint32_t));
        if (w->gcnt == NULL)
            return SIFT_ENOMEM;
    }
    return SIFT_OK;
}

void
sift_postings_writer_cleanup(struct sift_postings_writer *w)
{
    sift_free(w->gcnt);
    sift_free(w->gids);
    sift_free(w->resid);
    sift_buf_cleanup(&w->grp);
    sift_buf_cleanup(&w->list);
    sift_buf_cleanup(&w->area);
    memset(w, 0, sizeof(*w));
}

/* qsort comparator for the (few) shape ids of one term. */
static int
u32_cmp(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/*
 * Encodes ids[0..n) (sorted doc ids) as covered shapes + residual docs
 * into w->grp; returns the payload length, or SIZE_MAX when no shape is
 * covered entirely.
 */
static size_t
shape_groups(struct sift_postings_writer *w, const uint32_t *ids, uint32_t n)
{
    const uint32_t *shape_of = w->shapes->shape_of;
    if (n > w->g_cap) {
        size_t cap = (size_t)n * 2;
        uint32_t *g = sift_try_malloc(cap * sizeof(uint32_t));
        uint32_t *r = sift_try_malloc(cap * sizeof(uint32_t));
        if (g == NULL || r == NULL) {
            sift_free(g);
            sift_free(r);
            return SIZE_MAX; /* plain postings still work */
        }
        sift_free(w->gids);
        sift_free(w->resid);
        w->gids = g;
        w->resid = r;
        w->g_cap = cap;
    }
    for (uint32_t i = 0; i < n; i++)
        w->gcnt[shape_of[ids[i]]]++;
    uint32_t m = 0, nr = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t g = shape_of[ids[i]];
        if (w->gcnt[g] == UINT32_MAX)
            continue;
        if (w->gcnt[g] == w->shapes->shape_docs[g]) {
            w->gids[m++] = g;
            w->gcnt[g] = UINT32_MAX;
        } else {
            w->resid[nr++] = ids[i];
        }
    }
    for (uint32_t i = 0; i < n; i++)
        w->gcnt[shape_of[ids[i]]] = 0;
    if (m == 0)
        return SIZE_MAX;
    if (m > 1)
        qsort(w->gids, m, sizeof(uint32_t), u32_cmp);
    sift_buf_reset(&w->grp);
    for (uint32_t i = 0; i < m; i++)
        sift_buf_put_varint(&w->grp,
                            i ? w->gids[i] - w->gids[i - 1] : w->gids[0]);
    sift_buf_put_varint(&w->grp, nr);
    for (uint32_t i = 0; i < nr; i++)
        sift_buf_put_varint(&w->grp,
                            i ? w->resid[i] - w->resid[i - 1] : w->resid[0]);
    w->gm = m;
    return w->grp.len;
}

int
sift_postings_write(struct sift_postings_writer *w, const uint32_t *ids,
                    uint32_t n, struct sift_buf *entry)
{
    if (n == 1) {
        sift_buf_put_varint(entry, (uint64_t)ids[0] << 2 | SIFT_POSTINGS_ONE);
        return SIFT_OK;
    }
    /* Deltas as varints, or a frozen bitmap when that is smaller (dense
     * or run-heavy postings).  Lists are compressed with the chunk, so
     * they are weighed at about 5/8 of their size. */
    sift_buf_reset(&w->list);
    for (uint32_t i = 1; i < n; i++)
        sift_buf_put_varint(&w->list, ids[i] - ids[i - 1]);
    roaring_bitmap_t *bm = NULL;
    size_t sz = 0;
    if (n >= 64 || n >= LIST_MAX) {
        bm = roaring_bitmap_of_ptr(n, ids);
        if (bm == NULL)
            return SIFT_ENOMEM;
        roaring_bitmap_run_optimize(bm);
        sz = roaring_bitmap_frozen_size_in_bytes(bm);
    }
    size_t glen = w->shapes != NULL ? shape_groups(w, ids, n) : SIZE_MAX;
    if (glen != SIZE_MAX && (n >= LIST_MAX || glen < w->list.len) &&
        (bm == NULL || glen / 8 * 5 + 2 < sz + 16)) {
        if (bm != NULL)
            roaring_bitmap_free(bm);
        sift_buf_put_varint(entry, (uint64_t)w->gm << 2 | SIFT_POSTINGS_SHAPES);
        sift_buf_put_varint(entry, glen);
        sift_buf_append(entry, w->grp.data, glen);
        return SIFT_OK;
    }
    if (n < LIST_MAX && (bm == NULL || w->list.len / 8 * 5 + 2 < sz + 16)) {
        if (bm != NULL) /* roaring 0.2 crashes on NULL */
            roaring_bitmap_free(bm);
        sift_buf_put_varint(entry, (uint64_t)ids[0] << 2 | SIFT_POSTINGS_LIST);
        sift_buf_put_varint(entry, n - 1);
        sift_buf_put_varint(entry, w->list.len);
        sift_buf_append(entry, w->list.data, w->list.len);
        return SIFT_OK;
    }
    struct sift_buf *area = &w->area;
    size_t at = (area->len + 31) & ~(size_t)31;
    if (sift_buf_try_reserve(area, at - area->len + sz) != SIFT_OK) {
        roaring_bitmap_free(bm);
        return SIFT_ENOMEM;
    }
    memset(area->data + area->len, 0, at - area->len);
    roaring_bitmap_frozen_serialize(bm, area->data + at);
    area->len = at + sz;
    roaring_bitmap_free(bm);
    sift_buf_put_varint(entry, (uint64_t)(at / 32) << 2 | SIFT_POSTINGS_BITMAP);
    sift_buf_put_varint(entry, sz);
    return SIFT_OK;
}

/* ---- reader ---- */

int
sift_postings_entry_read(const uint8_t **p, const uint8_t *end,
                         struct sift_postings_entry *e)
{
    if (sift_get_varint(p, end, &e->tag) != SIFT_OK)
        return CORRUPT("postings tag");
    e->tag2 = 0;
    if ((e->tag & 3) != SIFT_POSTINGS_ONE) {
        if (sift_get_varint(p, end, &e->tag2) != SIFT_OK)
            return CORRUPT("postings tag");
    }
    if ((e->tag & 3) == SIFT_POSTINGS_LIST) {
        uint64_t l;
        if (e->tag2 == 0 || e->tag2 >= SIFT_POSTINGS_LIST_MAX ||
            sift_get_varint(p, end, &l) != SIFT_OK || l < e->tag2 ||
            l > (uint64_t)(end - *p))
            return CORRUPT("postings list length");
        e->list = *p;
        e->list_end = *p + l;
        *p += l;
    }
    if ((e->tag & 3) == SIFT_POSTINGS_SHAPES) {
        if (e->tag < 4 || e->tag2 > (uint64_t)(end - *p))
            return CORRUPT("postings shapes length");
        e->list = *p;
        e->list_end = *p + e->tag2;
        *p += e->tag2;
    }
    return SIFT_OK;
}

int
sift_postings_check_bitmap(const roaring_bitmap_t *bm, uint64_t limit)
{
    const roaring_array_t *ra = &bm->high_low_container;
    int32_t prev_key = -1;
    uint64_t max_val = 0;
    int any = 0;
    for (int32_t i = 0; i < ra->size; i++) {
        int32_t key = ra->keys[i];
        if (key <= prev_key)
            return CORRUPT("bitmap keys not increasing");
        prev_key = key;
        const void *c = ra->containers[i];
        int32_t last = -1;
        switch (ra->typecodes[i]) {
        case ARRAY_CONTAINER_TYPE_CODE: {
            const array_container_t *a = c;
            if (a->cardinality <= 0 || a->cardinality > 4096)
                return CORRUPT("bitmap array cardinality");
            for (int32_t j = 0; j < a->cardinality; j++) {
                if ((int32_t)a->array[j] <= last)
                    return CORRUPT("bitmap array not sorted");
                last = a->array[j];
            }
            break;
        }
        case BITSET_CONTAINER_TYPE_CODE: {
            const bitset_container_t *bs = c;
            int32_t card = 0;
            for (int j = 0; j < 1024; j++) {
                uint64_t w = bs->array[j];
                card += __builtin_popcountll(w);
                if (w != 0)
                    last = j * 64 + 63 - __builtin_clzll(w);
            }
            if (card != bs->cardinality || card == 0)
                return CORRUPT("bitmap bitset cardinality");
            break;
        }
        case RUN_CONTAINER_TYPE_CODE: {
            const run_container_t *r = c;
            if (r->n_runs <= 0)
                return CORRUPT("bitmap empty run container");
            for (int32_t j = 0; j < r->n_runs; j++) {
                int32_t v = r->runs[j].value;
                int32_t e = v + r->runs[j].length;
                if (v <= last || e > 65535)
                    return CORRUPT("bitmap runs");
                last = e;
            }
            break;
        }
        default: return CORRUPT("bitmap container type");
        }
        max_val = (uint64_t)key << 16 | (uint64_t)last;
        any = 1;
    }
    if (any && max_val >= limit)
        return CORRUPT("bitmap value past doc count");
    return SIFT_OK;
}

const roaring_bitmap_t *
sift_postings_bitmap_view(const uint8_t *p, size_t len, uint64_t limit, int *rc)
{
    if (((uintptr_t)p & 31) != 0 || len == 0) {
        *rc = CORRUPT("bitmap alignment");
        return NULL;
    }
    const roaring_bitmap_t *v =
        roaring_bitmap_frozen_view((const char *)p, len);
    if (v == NULL) {
        *rc = CORRUPT("bitmap frozen view");
        return NULL;
    }
    if ((*rc = sift_postings_check_bitmap(v, limit)) != SIFT_OK) {
        roaring_bitmap_free((roaring_bitmap_t *)(uintptr_t)v);
        return NULL;
    }
    return v;
}

static int
in_range(const struct sift_postings_src *src, uint64_t v)
{
    return src->range_hi == 0 || (v >= src->range_lo && v < src->range_hi);
}

/* The first index in ids[a..b) (ascending) whose id is >= x. */
static uint32_t
lower_bound(const uint32_t *ids, uint32_t a, uint32_t b, uint32_t x)
{
    while (a < b) {
        uint32_t m = a + (b - a) / 2;
        if (ids[m] < x)
            a = m + 1;
        else
            b = m;
    }
    return a;
}

/* Shape groups: every doc of the listed shapes, plus the residual docs. */
static int
decode_shapes(const struct sift_postings_src *src,
              const struct sift_postings_entry *e, roaring_bitmap_t **out)
{
    struct sift_postings_shape_docs sd;
    int rc = src->shape_docs(src->arg, &sd);
    if (rc != SIFT_OK)
        return rc;
    uint64_t m = e->tag >> 2, v = 0, r;
    const uint8_t *p = e->list, *end = e->list_end;
    roaring_bitmap_t *bm = roaring_bitmap_create();
    if (bm == NULL)
        return SIFT_ENOMEM;
    for (uint64_t i = 0; i < m; i++) {
        if (sift_postings_next_id(&p, end, i, sd.n_shapes, &v) != SIFT_OK) {
            rc = CORRUPT("postings shape ids");
            goto fail;
        }
        uint32_t a = sd.at[v], b = sd.at[v + 1];
        if (src->range_hi > 0) { /* a shape's docs ascend: cut to range */
            a = lower_bound(sd.ids, a, b, src->range_lo);
            b = lower_bound(sd.ids, a, b, src->range_hi);
        }
        roaring_bitmap_add_many(bm, b - a, sd.ids + a);
    }
    if (sift_get_varint(&p, end, &r) != SIFT_OK || r > src->n_docs) {
        rc = CORRUPT("postings residual count");
        goto fail;
    }
    v = 0;
    for (uint64_t i = 0; i < r; i++) {
        if (sift_postings_next_id(&p, end, i, src->n_docs, &v) != SIFT_OK) {
            rc = CORRUPT("postings residual docs");
            goto fail;
        }
        if (in_range(src, v))
            roaring_bitmap_add(bm, (uint32_t)v);
    }
    if (p != end) {
        rc = CORRUPT("postings shapes trailing bytes");
        goto fail;
    }
    *out = bm;
    return SIFT_OK;
fail:
    roaring_bitmap_free(bm);
    return rc;
}

/* One doc or a delta list. */
static int
decode_inline(const struct sift_postings_src *src,
              const struct sift_postings_entry *e, roaring_bitmap_t **out)
{
    uint64_t kind = e->tag & 3, v = e->tag >> 2;
    if (v >= src->n_docs)
        return CORRUPT("inline postings");
    roaring_bitmap_t *bm = roaring_bitmap_create();
    if (bm == NULL)
        return SIFT_ENOMEM;
    if (in_range(src, v))
        roaring_bitmap_add(bm, (uint32_t)v);
    const uint8_t *p = e->list;
    for (uint64_t i = 0; kind == SIFT_POSTINGS_LIST && i < e->tag2; i++) {
        uint64_t dlt;
        if (sift_get_varint(&p, e->list_end, &dlt) != SIFT_OK || dlt == 0 ||
            dlt >= src->n_docs - v) {
            roaring_bitmap_free(bm);
            return CORRUPT("inline postings");
        }
        v += dlt;
        if (in_range(src, v))
            roaring_bitmap_add(bm, (uint32_t)v);
    }
    if (kind == SIFT_POSTINGS_LIST && p != e->list_end) {
        roaring_bitmap_free(bm);
        return CORRUPT("inline postings length");
    }
    *out = bm;
    return SIFT_OK;
}

int
sift_postings_decode(const struct sift_postings_src *src,
                     const struct sift_postings_entry *e,
                     roaring_bitmap_t **out)
{
    uint64_t kind = e->tag & 3, v = e->tag >> 2;
    if (kind == SIFT_POSTINGS_ONE || kind == SIFT_POSTINGS_LIST)
        return decode_inline(src, e, out);
    if (kind == SIFT_POSTINGS_SHAPES)
        return decode_shapes(src, e, out);
    if (kind != SIFT_POSTINGS_BITMAP)
        return CORRUPT("postings kind");
    uint64_t room = src->area_len;
    if (v > room / 32 || e->tag2 > room - v * 32)
        return CORRUPT("postings bitmap bounds");
    int rc = SIFT_OK;
    const roaring_bitmap_t *view = sift_postings_bitmap_view(
        src->area + v * 32, e->tag2, src->n_docs, &rc);
    if (view == NULL)
        return rc;
    roaring_bitmap_t *bm;
    if (src->range_hi > 0 && src->range_lo >= src->range_hi) {
        bm = roaring_bitmap_create();
    } else if (src->range_hi > 0) {
        roaring_bitmap_t *r =
            roaring_bitmap_from_range(src->range_lo, src->range_hi, 1);
        bm = r ? roaring_bitmap_and(view, r) : NULL;
        roaring_bitmap_free(r);
    } else {
        bm = roaring_bitmap_copy(view);
    }
    roaring_bitmap_free((roaring_bitmap_t *)(uintptr_t)view);
    if (bm == NULL)
        return SIFT_ENOMEM;
    *out = bm;
    return SIFT_OK;
}
