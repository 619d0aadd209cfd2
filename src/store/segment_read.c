/*
 * segment_read.c - the segment reader (format: segment_fmt.h).
 *
 * Design.  open checks the header, trailer, section table and every
 * section checksum (XXH3, memory speed), then parses only the small
 * structures: the field table, the section headers, the timestamp and doc
 * block indexes (one entry per 128 docs / per ~64 KiB block) and keyword
 * dictionaries.  Postings, term blocks and columns are read in place from
 * the image; each access re-checks the bounds it depends on, so a
 * well-checksummed but malformed image (fuzzing reseals images) still
 * fails with SIFT_ECORRUPT instead of reading out of bounds.
 *
 * Frozen bitmaps are validated container by container before a view is
 * used (sift__segment_check_bitmap), since CRoaring trusts their content.
 *
 * Threads: a reader is immutable after open; any number of threads may
 * use it.  sift_segment_doc() keeps one decompressed block per thread
 * (key: segment uid + block), freed at thread exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <roaring/containers/array.h>
#include <roaring/containers/bitset.h>
#include <roaring/containers/containers.h>
#include <roaring/containers/run.h>
#include <roaring/roaring.h>
#include <zstd.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/segment.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

enum img_owner { OWN_BORROWED, OWN_HEAP, OWN_MMAP };

struct rfield {
    const char *name;  /* NUL-terminated copy in names */
    uint32_t name_len;
    unsigned flags;
    uint32_t n_terms;
    /* TERMS */
    const uint8_t *terms;
    size_t terms_len;
    uint32_t n_tblocks;
    uint32_t bidx_off;
    uint32_t parea_off;
    /* KWCOL */
    uint32_t card;
    unsigned kw_width;
    const uint8_t *kw_offs;
    const uint8_t *kw_blob;
    uint32_t kw_blob_len;
    const uint8_t *kw_ords;
    /* NUMCOL */
    const uint8_t *num;
};

struct sift_segment {
    atomic_int refs;
    enum img_owner owner;
    const uint8_t *img;
    size_t len;
    size_t map_len;
    uint64_t uid;         /* never reused; keys the per-thread doc cache */
    uint32_t n_docs;
    int64_t min_ts, max_ts;
    uint8_t tier;
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
    const roaring_bitmap_t *deleted;
    struct sift_segment *base; /* sift_segment_with_deleted(): owns the image */
};

static atomic_uint_fast64_t next_uid = 1;

/* ---- bitmap validation ---- */

int
sift__segment_check_bitmap(const roaring_bitmap_t *bm, uint64_t limit)
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
        default:
            return CORRUPT("bitmap container type");
        }
        max_val = (uint64_t)key << 16 | (uint64_t)last;
        any = 1;
    }
    if (any && max_val >= limit)
        return CORRUPT("bitmap value past doc count");
    return SIFT_OK;
}

/* A validated frozen view of img[off..off+len), or NULL + *rc. */
static const roaring_bitmap_t *
bitmap_view(const uint8_t *p, size_t len, uint64_t limit, int *rc)
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
    if ((*rc = sift__segment_check_bitmap(v, limit)) != SIFT_OK) {
        roaring_bitmap_free((roaring_bitmap_t *)(uintptr_t)v);
        return NULL;
    }
    return v;
}

/* ---- open ---- */

struct secent {
    uint32_t kind, field;
    uint64_t off, len;
};

static int
secent_cmp(const void *x, const void *y)
{
    const struct secent *a = x, *b = y;
    return a->off < b->off ? -1 : a->off > b->off;
}

static int
parse_fields(struct sift_segment *s, const uint8_t *p, size_t len,
             uint32_t n_fields)
{
    const uint8_t *end = p + len;
    /* Each field takes at least 3 bytes: bounds the allocations. */
    if (n_fields > len / 3)
        return CORRUPT("field count");
    s->fields = sift_try_calloc((size_t)n_fields + 1, sizeof(struct rfield));
    s->names = sift_try_malloc(len + n_fields + 1);
    if (s->fields == NULL || s->names == NULL)
        return SIFT_ENOMEM;
    char *np = s->names;
    for (uint32_t i = 0; i < n_fields; i++) {
        struct rfield *f = &s->fields[i];
        uint64_t v;
        if (sift_get_varint(&p, end, &v) != SIFT_OK || v == 0 ||
            v > SIFT_SEGFMT_MAX_NAME || v > (uint64_t)(end - p))
            return CORRUPT("field name");
        memcpy(np, p, v);
        np[v] = '\0';
        f->name = np;
        f->name_len = (uint32_t)v;
        np += v + 1;
        p += v;
        if (p >= end)
            return CORRUPT("field flags");
        f->flags = *p++;
        if (f->flags & ~0xfu)
            return CORRUPT("field flags");
        if (sift_get_varint(&p, end, &v) != SIFT_OK || v > UINT32_MAX)
            return CORRUPT("field term count");
        f->n_terms = (uint32_t)v;
        if (i > 0) {
            const struct rfield *pf = &s->fields[i - 1];
            size_t m = pf->name_len < f->name_len ? pf->name_len : f->name_len;
            int c = memcmp(pf->name, f->name, m);
            if (c > 0 || (c == 0 && pf->name_len >= f->name_len))
                return CORRUPT("field names not sorted");
        }
    }
    if (p != end)
        return CORRUPT("field table trailing bytes");
    s->n_fields = n_fields;
    return SIFT_OK;
}

static int
parse_ts(struct sift_segment *s, const uint8_t *p, size_t len)
{
    uint64_t nb = ((uint64_t)s->n_docs + SIFT_SEGFMT_TS_BLOCK - 1) /
                  SIFT_SEGFMT_TS_BLOCK;
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
        if (w > 64)
            return CORRUPT("ts width");
        size_t nbytes = ((size_t)cnt * w + 7) / 8;
        if (off > s->ts_packed_len || nbytes > s->ts_packed_len - off)
            return CORRUPT("ts block past end");
    }
    return SIFT_OK;
}

static int
parse_terms(struct sift_segment *s, struct rfield *f, const uint8_t *p,
            size_t len)
{
    (void)s;
    if (len < 16)
        return CORRUPT("terms header");
    uint32_t t = sift_load_u32(p), k = sift_load_u32(p + 4);
    uint32_t bidx = sift_load_u32(p + 8), parea = sift_load_u32(p + 12);
    uint64_t want = ((uint64_t)t + SIFT_SEGFMT_TERM_BLOCK - 1) /
                    SIFT_SEGFMT_TERM_BLOCK;
    if (t != f->n_terms || k != want || bidx < 16 || bidx > len ||
        (uint64_t)k * 4 > len - bidx || parea < bidx + (uint64_t)k * 4 ||
        parea > len || (parea & 31) != 0)
        return CORRUPT("terms header");
    f->terms = p;
    f->terms_len = len;
    f->n_tblocks = k;
    f->bidx_off = bidx;
    f->parea_off = parea;
    return SIFT_OK;
}

static int
parse_kwcol(struct sift_segment *s, struct rfield *f, const uint8_t *p,
            size_t len)
{
    if (len < 8)
        return CORRUPT("kwcol header");
    uint32_t c = sift_load_u32(p);
    unsigned w = p[4];
    if (c > f->n_terms || (w != 1 && w != 2 && w != 4) ||
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
    size_t ords = blob_at + blob_len;
    ords = (ords + w - 1) / w * w;
    if (ords > len || (uint64_t)s->n_docs * w != len - ords)
        return CORRUPT("kwcol ordinals");
    f->card = c;
    f->kw_width = w;
    f->kw_offs = offs;
    f->kw_blob = p + blob_at;
    f->kw_blob_len = blob_len;
    f->kw_ords = p + ords;
    return SIFT_OK;
}

static int
parse_docs(struct sift_segment *s, const uint8_t *p, size_t len)
{
    if (len < 8)
        return CORRUPT("docs header");
    uint32_t k = sift_load_u32(p);
    if (k > (len - 8) / 24 || (k == 0) != (s->n_docs == 0))
        return CORRUPT("docs header");
    uint32_t next = 0;
    size_t hdr = 8 + (size_t)k * 24;
    for (uint32_t i = 0; i < k; i++) {
        const uint8_t *e = p + 8 + (size_t)i * 24;
        uint32_t first = sift_load_u32(e), cnt = sift_load_u32(e + 4);
        uint32_t clen = sift_load_u32(e + 8), rlen = sift_load_u32(e + 12);
        uint64_t off = sift_load_u64(e + 16);
        if (first != next || cnt == 0 || cnt > s->n_docs - first ||
            rlen > SIFT_SEGFMT_MAX_BLOCK || rlen < cnt || off < hdr ||
            off > len || clen > len - off)
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

static void
segment_destroy(struct sift_segment *s)
{
    if (s->deleted != NULL)
        roaring_bitmap_free((roaring_bitmap_t *)(uintptr_t)s->deleted);
    ZSTD_freeDDict(s->ddict);
    sift_free(s->fields);
    sift_free(s->names);
    if (s->owner == OWN_HEAP)
        sift_free((void *)(uintptr_t)s->img);
    else if (s->owner == OWN_MMAP)
        munmap((void *)(uintptr_t)s->img, s->map_len);
    sift_segment_unref(s->base);
    sift_free(s);
}

static int
segment_parse(struct sift_segment *s)
{
    const uint8_t *img = s->img;
    size_t len = s->len;
    struct secent *secs = NULL;
    int rc;

    if (len < SIFT_SEGFMT_HEADER_LEN + SIFT_SEGFMT_TRAILER_LEN)
        return CORRUPT("image too short");
    if (memcmp(img, SIFT_SEGFMT_MAGIC, 8) != 0)
        return CORRUPT("bad magic");
    if (sift__segment_hash(img, 48) != sift_load_u64(img + 48))
        return CORRUPT("header checksum");
    if (sift_load_u32(img + 8) != SIFT_SEGFMT_VERSION)
        return CORRUPT("unknown format version");
    if (sift_load_u64(img + 40) != len)
        return CORRUPT("image length");
    if (img[32] != SIFT_SEGFMT_CODEC_ZSTD || img[33] > 2 ||
        (sift_load_u32(img + 34) & 0xfffeu) != 0)
        return CORRUPT("header codec/tier/flags");
    s->n_docs = sift_load_u32(img + 12);
    s->min_ts = (int64_t)sift_load_u64(img + 16);
    s->max_ts = (int64_t)sift_load_u64(img + 24);
    s->tier = img[33];
    int has_zdict = (img[34] & SIFT_SEGFMT_FLAG_ZDICT) != 0;
    uint32_t n_fields = sift_load_u32(img + 36);
    if (s->n_docs == UINT32_MAX || s->min_ts > s->max_ts)
        return CORRUPT("header doc count / ts range");

    const uint8_t *tr = img + len - SIFT_SEGFMT_TRAILER_LEN;
    if (memcmp(tr + 24, SIFT_SEGFMT_END_MAGIC, 8) != 0)
        return CORRUPT("bad end magic");
    uint64_t tab = sift_load_u64(tr);
    uint32_t ns = sift_load_u32(tr + 8);
    if (sift_load_u32(tr + 12) != SIFT_SEGFMT_VERSION ||
        tab < SIFT_SEGFMT_HEADER_LEN || tab > len - SIFT_SEGFMT_TRAILER_LEN ||
        (tab & 7) != 0 || ns > SIFT_SEGFMT_MAX_SECTIONS ||
        (uint64_t)ns * SIFT_SEGFMT_SECENT_LEN !=
            len - SIFT_SEGFMT_TRAILER_LEN - tab)
        return CORRUPT("trailer");
    if (sift__segment_hash(img + tab, len - tab - 16) != sift_load_u64(tr + 16))
        return CORRUPT("footer checksum");

    secs = sift_try_malloc(((size_t)ns + 1) * sizeof(*secs));
    if (secs == NULL)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = img + tab + (size_t)i * SIFT_SEGFMT_SECENT_LEN;
        struct secent *se = &secs[i];
        se->kind = sift_load_u32(e);
        se->field = sift_load_u32(e + 4);
        se->off = sift_load_u64(e + 8);
        se->len = sift_load_u64(e + 16);
        if (se->off < SIFT_SEGFMT_HEADER_LEN || (se->off & 31) != 0 ||
            se->off > tab || se->len > tab - se->off) {
            rc = CORRUPT("section bounds");
            goto out;
        }
        if (sift__segment_hash(img + se->off, se->len) !=
            sift_load_u64(e + 24)) {
            rc = CORRUPT("section checksum");
            goto out;
        }
    }
    qsort(secs, ns, sizeof(*secs), secent_cmp);
    for (uint32_t i = 1; i < ns; i++) {
        if (secs[i - 1].off + secs[i - 1].len > secs[i].off) {
            rc = CORRUPT("sections overlap");
            goto out;
        }
    }

    /* The field table first: per-field sections refer to it. */
    const struct secent *fsec = NULL;
    for (uint32_t i = 0; i < ns; i++) {
        if (secs[i].kind == SIFT_SEGSEC_FIELDS) {
            if (fsec != NULL || secs[i].field != UINT32_MAX) {
                rc = CORRUPT("field table section");
                goto out;
            }
            fsec = &secs[i];
        }
    }
    if (fsec == NULL) {
        rc = CORRUPT("no field table");
        goto out;
    }
    if ((rc = parse_fields(s, img + fsec->off, fsec->len, n_fields)) != SIFT_OK)
        goto out;

    unsigned seen = 0; /* bit per whole-segment kind */
    for (uint32_t i = 0; i < ns; i++) {
        const struct secent *se = &secs[i];
        const uint8_t *p = img + se->off;
        size_t l = se->len;
        if (se->kind == SIFT_SEGSEC_TERMS || se->kind == SIFT_SEGSEC_KWCOL ||
            se->kind == SIFT_SEGSEC_NUMCOL) {
            if (se->field >= s->n_fields) {
                rc = CORRUPT("section field index");
                goto out;
            }
            struct rfield *f = &s->fields[se->field];
            if (se->kind == SIFT_SEGSEC_TERMS) {
                if (!(f->flags & SIFT_SEGF_TERMS) || f->terms != NULL) {
                    rc = CORRUPT("unexpected terms section");
                    goto out;
                }
                rc = parse_terms(s, f, p, l);
            } else if (se->kind == SIFT_SEGSEC_KWCOL) {
                if (!(f->flags & SIFT_SEGF_KEYWORD) || f->kw_ords != NULL) {
                    rc = CORRUPT("unexpected kwcol section");
                    goto out;
                }
                rc = parse_kwcol(s, f, p, l);
            } else {
                if (!(f->flags & SIFT_SEGF_NUMBER) || f->num != NULL ||
                    l != (uint64_t)s->n_docs * 8) {
                    rc = CORRUPT("bad numcol section");
                    goto out;
                }
                f->num = p;
                rc = SIFT_OK;
            }
            if (rc != SIFT_OK)
                goto out;
            continue;
        }
        if (se->field != UINT32_MAX || se->kind < SIFT_SEGSEC_FIELDS ||
            se->kind > SIFT_SEGSEC_DELETED || (seen & (1u << se->kind))) {
            rc = CORRUPT("bad section kind");
            goto out;
        }
        seen |= 1u << se->kind;
        switch (se->kind) {
        case SIFT_SEGSEC_TS:
            rc = parse_ts(s, p, l);
            break;
        case SIFT_SEGSEC_DOCS:
            rc = parse_docs(s, p, l);
            break;
        case SIFT_SEGSEC_ZDICT:
            if (!has_zdict || l == 0) {
                rc = CORRUPT("unexpected zstd dictionary");
                break;
            }
            s->ddict = ZSTD_createDDict(p, l);
            rc = s->ddict != NULL ? SIFT_OK : SIFT_ENOMEM;
            break;
        case SIFT_SEGSEC_DELETED:
            if (l > 0)
                s->deleted = bitmap_view(p, l, s->n_docs, &rc);
            else
                rc = SIFT_OK;
            break;
        default:
            rc = SIFT_OK;
            break;
        }
        if (rc != SIFT_OK)
            goto out;
    }
    unsigned need = 1u << SIFT_SEGSEC_TS | 1u << SIFT_SEGSEC_DOCS |
                    1u << SIFT_SEGSEC_DELETED;
    if ((seen & need) != need || (has_zdict && s->ddict == NULL)) {
        rc = CORRUPT("missing section");
        goto out;
    }
    for (uint32_t i = 0; i < s->n_fields; i++) {
        const struct rfield *f = &s->fields[i];
        if (((f->flags & SIFT_SEGF_TERMS) && f->terms == NULL) ||
            ((f->flags & SIFT_SEGF_KEYWORD) && f->kw_ords == NULL) ||
            ((f->flags & SIFT_SEGF_NUMBER) && f->num == NULL)) {
            rc = CORRUPT("field section missing");
            goto out;
        }
    }
    if (s->n_docs > 0 && (sift_segment_doc_ts(s, 0) != s->min_ts ||
                          sift_segment_doc_ts(s, s->n_docs - 1) != s->max_ts)) {
        rc = CORRUPT("ts range does not match the column");
        goto out;
    }
    rc = SIFT_OK;
out:
    sift_free(secs);
    return rc;
}

static int
segment_open(const uint8_t *img, size_t len, enum img_owner owner,
             size_t map_len, struct sift_segment **out)
{
    *out = NULL;
    struct sift_segment *s = sift_try_calloc(1, sizeof(*s));
    if (s == NULL) {
        if (owner == OWN_HEAP)
            sift_free((void *)(uintptr_t)img);
        else if (owner == OWN_MMAP)
            munmap((void *)(uintptr_t)img, map_len);
        return SIFT_ENOMEM;
    }
    atomic_init(&s->refs, 1);
    s->owner = owner;
    s->img = img;
    s->len = len;
    s->map_len = map_len;
    s->uid = atomic_fetch_add(&next_uid, 1);
    int rc = segment_parse(s);
    if (rc != SIFT_OK) {
        segment_destroy(s);
        return rc;
    }
    *out = s;
    return SIFT_OK;
}

int
sift_segment_open_mem(void *data, size_t len, struct sift_segment **out)
{
    if (((uintptr_t)data & 31) != 0) {
        /* Frozen bitmaps need 32-byte alignment: copy once. */
        void *copy = NULL;
        if (posix_memalign(&copy, 64, len ? len : 1) != 0) {
            sift_free(data);
            *out = NULL;
            return SIFT_ENOMEM;
        }
        memcpy(copy, data, len);
        sift_free(data);
        data = copy;
    }
    return segment_open(data, len, OWN_HEAP, 0, out);
}

int
sift_segment_open_borrowed(const void *data, size_t len,
                           struct sift_segment **out)
{
    if (((uintptr_t)data & 31) != 0) {
        void *copy = NULL;
        if (posix_memalign(&copy, 64, len ? len : 1) != 0) {
            *out = NULL;
            return SIFT_ENOMEM;
        }
        memcpy(copy, data, len);
        return segment_open(copy, len, OWN_HEAP, 0, out);
    }
    return segment_open(data, len, OWN_BORROWED, 0, out);
}

int
sift_segment_open_file(const char *path, struct sift_segment **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        SIFT_ERROR("segment: open %s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (st.st_size < (off_t)(SIFT_SEGFMT_HEADER_LEN + SIFT_SEGFMT_TRAILER_LEN)) {
        close(fd);
        SIFT_ERROR("segment: %s: too short", path);
        return CORRUPT("file too short");
    }
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) {
        SIFT_ERROR("segment: mmap %s: %s", path, strerror(e));
        return -e;
    }
    int rc = segment_open(m, len, OWN_MMAP, len, out);
    if (rc == SIFT_ECORRUPT)
        SIFT_ERROR("segment: %s is corrupt", path);
    return rc;
}

struct sift_segment *
sift_segment_ref(struct sift_segment *seg)
{
    atomic_fetch_add(&seg->refs, 1);
    return seg;
}

void
sift_segment_unref(struct sift_segment *seg)
{
    if (seg != NULL && atomic_fetch_sub(&seg->refs, 1) == 1)
        segment_destroy(seg);
}

/* ---- header facts ---- */

uint32_t
sift_segment_doc_count(const struct sift_segment *seg)
{
    return seg->n_docs;
}

int64_t
sift_segment_min_ts(const struct sift_segment *seg)
{
    return seg->min_ts;
}

int64_t
sift_segment_max_ts(const struct sift_segment *seg)
{
    return seg->max_ts;
}

uint8_t
sift_segment_tier(const struct sift_segment *seg)
{
    return seg->tier;
}

size_t
sift_segment_bytes(const struct sift_segment *seg)
{
    return seg->len;
}

const void *
sift_segment_image(const struct sift_segment *seg)
{
    return seg->img;
}

/* ---- time column ---- */

/* Unpacks the w-bit value number i from p (bounds checked at open). */
static uint64_t
unpack(const uint8_t *p, unsigned w, uint32_t i)
{
    uint64_t v = 0;
    size_t bit = (size_t)i * w;
    for (unsigned k = 0; k < w;) {
        unsigned sh = (unsigned)(bit & 7);
        unsigned take = 8 - sh < w - k ? 8 - sh : w - k;
        v |= (uint64_t)(((unsigned)p[bit >> 3] >> sh) & ((1u << take) - 1)) << k;
        k += take;
        bit += take;
    }
    return v;
}

int64_t
sift_segment_doc_ts(const struct sift_segment *seg, uint32_t doc)
{
    if (doc >= seg->n_docs)
        return seg->max_ts;
    const uint8_t *e = seg->ts_idx + (size_t)(doc / SIFT_SEGFMT_TS_BLOCK) * 16;
    uint64_t base = sift_load_u64(e);
    const uint8_t *p = seg->ts_packed + sift_load_u32(e + 8);
    return (int64_t)(base + unpack(p, e[12], doc % SIFT_SEGFMT_TS_BLOCK));
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

/* ---- fields ---- */

uint32_t
sift_segment_field_count(const struct sift_segment *seg)
{
    return seg->n_fields;
}

const char *
sift_segment_field_info(const struct sift_segment *seg, uint32_t field,
                        unsigned *flags, uint32_t *n_terms)
{
    if (field >= seg->n_fields) {
        if (flags != NULL)
            *flags = 0;
        if (n_terms != NULL)
            *n_terms = 0;
        return NULL;
    }
    const struct rfield *f = &seg->fields[field];
    if (flags != NULL)
        *flags = f->flags;
    if (n_terms != NULL)
        *n_terms = f->n_terms;
    return f->name;
}

static int
bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

int
sift_segment_field_find(const struct sift_segment *seg, const char *name,
                        size_t name_len)
{
    uint32_t lo = 0, hi = seg->n_fields;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct rfield *f = &seg->fields[mid];
        int c = bytes_cmp(f->name, f->name_len, name, name_len);
        if (c == 0)
            return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* ---- term dictionary ---- */

/* A cursor over one term block. */
struct tcur {
    const struct rfield *f;
    const uint8_t *p, *end;
    uint32_t left;     /* terms left in the block */
    char term[SIFT_SEGFMT_MAX_TERM];
    uint32_t len;
    uint64_t tag, tag2;
    const uint8_t *list; /* LIST deltas (tag2 of them) */
    const uint8_t *list_end;
};

static int
tcur_block(struct tcur *c, const struct rfield *f, uint32_t blk)
{
    c->f = f;
    uint32_t off = sift_load_u32(f->terms + f->bidx_off + (size_t)blk * 4);
    if (off < 16 || off >= f->bidx_off)
        return CORRUPT("term block offset");
    c->p = f->terms + off;
    c->end = f->terms + f->bidx_off;
    uint32_t first = blk * SIFT_SEGFMT_TERM_BLOCK;
    c->left = f->n_terms - first < SIFT_SEGFMT_TERM_BLOCK
                  ? f->n_terms - first
                  : SIFT_SEGFMT_TERM_BLOCK;
    c->len = 0;
    return SIFT_OK;
}

/* Decodes the next term of the block; 1 = got one, 0 = block done. */
static int
tcur_next(struct tcur *c, int *rc)
{
    uint64_t shared, suffix;
    if (c->left == 0)
        return 0;
    if (sift_get_varint(&c->p, c->end, &shared) != SIFT_OK ||
        sift_get_varint(&c->p, c->end, &suffix) != SIFT_OK ||
        shared > c->len || suffix > SIFT_SEGFMT_MAX_TERM - shared ||
        suffix > (uint64_t)(c->end - c->p)) {
        *rc = CORRUPT("term entry");
        return -1;
    }
    memcpy(c->term + shared, c->p, suffix);
    c->p += suffix;
    c->len = (uint32_t)(shared + suffix);
    if (sift_get_varint(&c->p, c->end, &c->tag) != SIFT_OK) {
        *rc = CORRUPT("postings tag");
        return -1;
    }
    c->tag2 = 0;
    if ((c->tag & 3) == SIFT_SEGFMT_POST_LIST ||
        (c->tag & 3) == SIFT_SEGFMT_POST_BITMAP) {
        if (sift_get_varint(&c->p, c->end, &c->tag2) != SIFT_OK) {
            *rc = CORRUPT("postings tag");
            return -1;
        }
    }
    if ((c->tag & 3) == SIFT_SEGFMT_POST_LIST) {
        uint64_t l;
        if (c->tag2 == 0 || c->tag2 >= SIFT_SEGFMT_LIST_MAX ||
            sift_get_varint(&c->p, c->end, &l) != SIFT_OK ||
            l < c->tag2 || l > (uint64_t)(c->end - c->p)) {
            *rc = CORRUPT("postings list length");
            return -1;
        }
        c->list = c->p;
        c->list_end = c->p + l;
        c->p += l;
    }
    c->left--;
    return 1;
}

/* Reads the first term of block blk into c (for the binary search). */
static int
block_first(const struct rfield *f, uint32_t blk, struct tcur *c)
{
    int rc = SIFT_OK;
    if ((rc = tcur_block(c, f, blk)) != SIFT_OK)
        return rc;
    int r = tcur_next(c, &rc);
    if (r < 0)
        return rc;
    if (r == 0)
        return CORRUPT("empty term block");
    return SIFT_OK;
}

/* Index of the last block whose first term <= key (0 if none). */
static int
find_block(const struct rfield *f, const char *key, size_t len, uint32_t *out,
           struct tcur *c)
{
    uint32_t lo = 0, hi = f->n_tblocks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int rc = block_first(f, mid, c);
        if (rc != SIFT_OK)
            return rc;
        if (bytes_cmp(c->term, c->len, key, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *out = lo > 0 ? lo - 1 : 0;
    return SIFT_OK;
}

/* Builds a new bitmap from the cursor's postings. */
static int
postings_of(const struct sift_segment *seg, const struct tcur *c,
            roaring_bitmap_t **out)
{
    uint64_t kind = c->tag & 3, v = c->tag >> 2;
    roaring_bitmap_t *bm = NULL;
    int rc = SIFT_OK;
    if (kind == SIFT_SEGFMT_POST_ONE || kind == SIFT_SEGFMT_POST_LIST) {
        if (v >= seg->n_docs)
            return CORRUPT("inline postings");
        bm = roaring_bitmap_create();
        if (bm == NULL)
            return SIFT_ENOMEM;
        roaring_bitmap_add(bm, (uint32_t)v);
        const uint8_t *p = c->list;
        for (uint64_t i = 0; kind == SIFT_SEGFMT_POST_LIST && i < c->tag2;
             i++) {
            uint64_t dlt;
            if (sift_get_varint(&p, c->list_end, &dlt) != SIFT_OK || dlt == 0 ||
                dlt >= seg->n_docs - v) {
                roaring_bitmap_free(bm);
                return CORRUPT("inline postings");
            }
            v += dlt;
            roaring_bitmap_add(bm, (uint32_t)v);
        }
        if (kind == SIFT_SEGFMT_POST_LIST && p != c->list_end) {
            roaring_bitmap_free(bm);
            return CORRUPT("inline postings length");
        }
        *out = bm;
        return SIFT_OK;
    }
    if (kind != SIFT_SEGFMT_POST_BITMAP)
        return CORRUPT("postings kind");
    const struct rfield *f = c->f;
    uint64_t room = f->terms_len - f->parea_off;
    if (v > room / 32 || c->tag2 > room - v * 32)
        return CORRUPT("postings bitmap bounds");
    const roaring_bitmap_t *view =
        bitmap_view(f->terms + f->parea_off + v * 32, c->tag2, seg->n_docs, &rc);
    if (view == NULL)
        return rc;
    bm = roaring_bitmap_copy(view);
    roaring_bitmap_free((roaring_bitmap_t *)(uintptr_t)view);
    if (bm == NULL)
        return SIFT_ENOMEM;
    *out = bm;
    return SIFT_OK;
}

int
sift_segment_postings(const struct sift_segment *seg, uint32_t field,
                      const char *term, size_t term_len,
                      roaring_bitmap_t **out)
{
    *out = NULL;
    if (field >= seg->n_fields || seg->fields[field].terms == NULL ||
        seg->fields[field].n_terms == 0 || term_len > SIFT_SEGFMT_MAX_TERM)
        return SIFT_OK;
    const struct rfield *f = &seg->fields[field];
    struct tcur c;
    uint32_t blk;
    int rc = find_block(f, term, term_len, &blk, &c);
    if (rc != SIFT_OK)
        return rc;
    if ((rc = tcur_block(&c, f, blk)) != SIFT_OK)
        return rc;
    for (;;) {
        int r = tcur_next(&c, &rc);
        if (r < 0)
            return rc;
        if (r == 0)
            return SIFT_OK;
        int cmp = bytes_cmp(c.term, c.len, term, term_len);
        if (cmp == 0)
            return postings_of(seg, &c, out);
        if (cmp > 0)
            return SIFT_OK;
    }
}

int
sift_segment_terms(const struct sift_segment *seg, uint32_t field,
                   const char *prefix, size_t prefix_len, sift_term_cb cb,
                   void *arg)
{
    if (field >= seg->n_fields || seg->fields[field].terms == NULL ||
        seg->fields[field].n_terms == 0)
        return SIFT_OK;
    const struct rfield *f = &seg->fields[field];
    struct tcur c;
    uint32_t blk = 0;
    int rc;
    if (prefix_len > 0 &&
        (rc = find_block(f, prefix, prefix_len, &blk, &c)) != SIFT_OK)
        return rc;
    for (; blk < f->n_tblocks; blk++) {
        if ((rc = tcur_block(&c, f, blk)) != SIFT_OK)
            return rc;
        for (;;) {
            int r = tcur_next(&c, &rc);
            if (r < 0)
                return rc;
            if (r == 0)
                break;
            if (prefix_len > 0) {
                size_t m = c.len < prefix_len ? c.len : prefix_len;
                int cmp = memcmp(c.term, prefix, m);
                if (cmp < 0 || (cmp == 0 && c.len < prefix_len))
                    continue; /* before the prefix range */
                if (cmp > 0)
                    return SIFT_OK;
            }
            if (cb(c.term, c.len, arg) != 0)
                return SIFT_OK;
        }
    }
    return SIFT_OK;
}

/* ---- columns ---- */

uint32_t
sift_segment_keyword_ord(const struct sift_segment *seg, uint32_t field,
                         uint32_t doc)
{
    if (field >= seg->n_fields || doc >= seg->n_docs)
        return UINT32_MAX;
    const struct rfield *f = &seg->fields[field];
    if (f->kw_ords == NULL)
        return UINT32_MAX;
    uint32_t o;
    if (f->kw_width == 1)
        o = f->kw_ords[doc] == 0xff ? UINT32_MAX : f->kw_ords[doc];
    else if (f->kw_width == 2) {
        o = (uint32_t)f->kw_ords[2 * (size_t)doc] |
            (uint32_t)f->kw_ords[2 * (size_t)doc + 1] << 8;
        if (o == 0xffff)
            o = UINT32_MAX;
    } else
        o = sift_load_u32(f->kw_ords + 4 * (size_t)doc);
    return o < f->card ? o : UINT32_MAX;
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

int
sift_segment_number(const struct sift_segment *seg, uint32_t field,
                    uint32_t doc, double *out)
{
    if (field >= seg->n_fields || doc >= seg->n_docs ||
        seg->fields[field].num == NULL)
        return SIFT_ENOTFOUND;
    uint64_t bits = sift_load_u64(seg->fields[field].num + (size_t)doc * 8);
    double v;
    memcpy(&v, &bits, 8);
    if (v != v)
        return SIFT_ENOTFOUND;
    *out = v;
    return SIFT_OK;
}

/* ---- doc store ---- */

struct doc_cache {
    uint64_t uid;
    uint32_t block;
    uint32_t len;
    uint8_t *data;
    size_t cap;
    ZSTD_DCtx *dctx;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_free(void *p)
{
    struct doc_cache *c = p;
    sift_free(c->data);
    ZSTD_freeDCtx(c->dctx);
    sift_free(c);
}

static void
cache_key_init(void)
{
    if (pthread_key_create(&cache_key, cache_free) != 0)
        abort();
}

static struct doc_cache *
cache_get(void)
{
    pthread_once(&cache_once, cache_key_init);
    struct doc_cache *c = pthread_getspecific(cache_key);
    if (c == NULL) {
        c = sift_try_calloc(1, sizeof(*c));
        if (c == NULL)
            return NULL;
        c->dctx = ZSTD_createDCtx();
        if (c->dctx == NULL || pthread_setspecific(cache_key, c) != 0) {
            cache_free(c);
            return NULL;
        }
    }
    return c;
}

int
sift_segment_doc(const struct sift_segment *seg, uint32_t doc,
                 struct sift_buf *out)
{
    if (doc >= seg->n_docs)
        return SIFT_EINVAL;
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
    uint32_t first = sift_load_u32(e), clen = sift_load_u32(e + 8);
    uint32_t rlen = sift_load_u32(e + 12);
    uint64_t off = sift_load_u64(e + 16);
    struct doc_cache *c = cache_get();
    if (c == NULL)
        return SIFT_ENOMEM;
    if (c->uid != seg->uid || c->block != lo) {
        c->uid = 0;
        if (c->cap < rlen) {
            uint8_t *d = sift_try_malloc(rlen);
            if (d == NULL)
                return SIFT_ENOMEM;
            sift_free(c->data);
            c->data = d;
            c->cap = rlen;
        }
        size_t r = seg->ddict != NULL
            ? ZSTD_decompress_usingDDict(c->dctx, c->data, rlen,
                                         seg->docs + off, clen, seg->ddict)
            : ZSTD_decompressDCtx(c->dctx, c->data, rlen, seg->docs + off,
                                  clen);
        if (ZSTD_isError(r) || r != rlen)
            return CORRUPT("doc block does not decompress");
        c->uid = seg->uid;
        c->block = lo;
        c->len = rlen;
    }
    const uint8_t *p = c->data, *end = c->data + c->len;
    for (uint32_t i = first;; i++) {
        uint64_t l;
        if (sift_get_varint(&p, end, &l) != SIFT_OK ||
            l > (uint64_t)(end - p))
            return CORRUPT("doc length in block");
        if (i == doc)
            return sift_buf_try_append(out, p, l);
        p += l;
    }
}

const roaring_bitmap_t *
sift_segment_deleted(const struct sift_segment *seg)
{
    if (seg->deleted == NULL || roaring_bitmap_is_empty(seg->deleted))
        return NULL;
    return seg->deleted;
}

/*
 * Live deletes (lifecycle.c): a second reader over the same image whose
 * deleted set is replaced.  The new reader is a separate immutable object,
 * so readers of the old one are never disturbed; it keeps base alive.
 */
int
sift_segment_with_deleted(struct sift_segment *seg, roaring_bitmap_t *del,
                          struct sift_segment **out)
{
    struct sift_segment *base = seg->base != NULL ? seg->base : seg;
    int rc = segment_open(base->img, base->len, OWN_BORROWED, 0, out);
    if (rc != SIFT_OK) {
        roaring_bitmap_free(del);
        return rc;
    }
    if ((*out)->deleted != NULL)
        roaring_bitmap_or_inplace(del, (*out)->deleted);
    if ((*out)->deleted != NULL)
        roaring_bitmap_free((roaring_bitmap_t *)(uintptr_t)(*out)->deleted);
    (*out)->deleted = del;
    (*out)->base = sift_segment_ref(base);
    return SIFT_OK;
}
