/*
 * segment_read.c - the segment reader (format: segment_fmt.h).
 *
 * Design.  open checks the header, trailer, section table and every
 * section checksum (XXH3, memory speed), then parses only the small
 * structures: the field table, the section headers, the timestamp and doc
 * block indexes (one entry per 128 docs / per ~128 KiB block), the term
 * chunk indexes (one entry per ~16 KiB of dictionary), the doc keys and
 * keyword dictionaries.  Postings, term chunks and columns are read in
 * place from the image; each access re-checks the bounds it depends on,
 * so a well-checksummed but malformed image (fuzzing reseals images)
 * still fails with SIFT_ECORRUPT instead of reading out of bounds.
 *
 * Frozen bitmaps are validated container by container before a view is
 * used (sift__segment_check_bitmap), since CRoaring trusts their content.
 *
 * Threads: a reader is immutable after open; any number of threads may
 * use it.  Each thread keeps one decompressed doc block (with its
 * decoded directory) and one decompressed term chunk (key: segment uid +
 * block / field + chunk), freed at thread exit.  sift_segment_terms()
 * decompresses into its own buffer, so its callback may look terms up.
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
    uint32_t n_chunks;
    uint32_t cidx_off;  /* chunk index, from section start */
    uint32_t parea_off;
    /* KWCOL */
    uint32_t card;
    unsigned kw_width;
    const uint8_t *kw_offs;
    const uint8_t *kw_blob;
    uint32_t kw_blob_len;
    const uint8_t *kw_ords; /* packed codes, kw_width bits each */
    /* NUMCOL */
    const uint8_t *num;     /* mode 0: doubles; mode 1: packed codes */
    const uint8_t *num_dict; /* mode 1: num_card sorted doubles */
    uint32_t num_card;
    unsigned num_width;     /* 0 = mode 0 */
};

struct rkey {
    const char *name; /* in the image, not NUL-terminated */
    uint32_t name_len;
    uint8_t type;
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
    struct rkey *keys;    /* DOCKEYS */
    uint32_t n_keys;
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
        if (w > 64 || e[13] > 18)
            return CORRUPT("ts width / scale");
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
    uint32_t ci = sift_load_u32(p + 8), parea = sift_load_u32(p + 12);
    if (t != f->n_terms || (k == 0) != (t == 0) || k > t || ci < 16 ||
        (ci & 3) != 0 || ci > len || (uint64_t)k * 20 > len - ci ||
        parea < ci + (uint64_t)k * 20 || parea > len || (parea & 31) != 0)
        return CORRUPT("terms header");
    /* O(chunks): every later access may trust these bounds. */
    uint32_t prev_first = 0;
    size_t frames_at = ci + (size_t)k * 20;
    for (uint32_t c = 0; c < k; c++) {
        const uint8_t *e = p + ci + (size_t)c * 20;
        uint32_t koff = sift_load_u32(e), first = sift_load_u32(e + 4);
        uint32_t foff = sift_load_u32(e + 8), clen = sift_load_u32(e + 12);
        uint32_t rlen = sift_load_u32(e + 16);
        if (koff < 16 || koff >= ci)
            return CORRUPT("term chunk key");
        const uint8_t *kp = p + koff;
        uint64_t kl;
        if (sift_get_varint(&kp, p + ci, &kl) != SIFT_OK ||
            kl > SIFT_SEGFMT_MAX_TERM || kl > (uint64_t)(p + ci - kp))
            return CORRUPT("term chunk key");
        if ((c == 0) != (first == 0) || (c > 0 && first <= prev_first) ||
            first >= t)
            return CORRUPT("term chunk first ordinal");
        prev_first = first;
        if (foff < frames_at || foff > parea || clen > parea - foff ||
            rlen == 0 || rlen > SIFT_SEGFMT_MAX_BLOCK)
            return CORRUPT("term chunk frame");
    }
    f->terms = p;
    f->terms_len = len;
    f->n_chunks = k;
    f->cidx_off = ci;
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

static int
parse_numcol(struct sift_segment *s, struct rfield *f, const uint8_t *p,
             size_t len)
{
    if (len < 8 || p[0] > 1)
        return CORRUPT("numcol mode");
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
    f->num = p + 16 + (size_t)c * 8;
    return SIFT_OK;
}

static int
parse_dockeys(struct sift_segment *s, const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len;
    uint64_t n;
    if (sift_get_varint(&p, end, &n) != SIFT_OK ||
        n > (uint64_t)(end - p) / 2)
        return CORRUPT("doc keys count");
    s->keys = sift_try_calloc((size_t)n + 1, sizeof(*s->keys));
    if (s->keys == NULL)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l;
        if (sift_get_varint(&p, end, &l) != SIFT_OK ||
            l >= (uint64_t)(end - p))
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
            rlen > SIFT_SEGFMT_MAX_BLOCK || rlen / 3 < cnt || off < hdr ||
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
    sift_free(s->keys);
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
    if (sift_load_u32(img + 8) != SIFT_SEGFMT_VERSION) {
        SIFT_ERROR("segment: unsupported format version %u (this build "
                   "reads version %u)", sift_load_u32(img + 8),
                   SIFT_SEGFMT_VERSION);
        return CORRUPT("unsupported format version");
    }
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
                if (!(f->flags & SIFT_SEGF_NUMBER) || f->num != NULL) {
                    rc = CORRUPT("bad numcol section");
                    goto out;
                }
                rc = parse_numcol(s, f, p, l);
            }
            if (rc != SIFT_OK)
                goto out;
            continue;
        }
        if (se->field != UINT32_MAX || se->kind < SIFT_SEGSEC_FIELDS ||
            se->kind > SIFT_SEGSEC_DOCKEYS || (seen & (1u << se->kind))) {
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
        case SIFT_SEGSEC_DOCKEYS:
            rc = parse_dockeys(s, p, l);
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
                    1u << SIFT_SEGSEC_DELETED | 1u << SIFT_SEGSEC_DOCKEYS;
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
    static const uint64_t pow10[19] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull,
        10000000ull, 100000000ull, 1000000000ull, 10000000000ull,
        100000000000ull, 1000000000000ull, 10000000000000ull,
        100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull, 1000000000000000000ull};
    const uint8_t *p = seg->ts_packed + sift_load_u32(e + 8);
    uint64_t v = unpack(p, e[12], doc % SIFT_SEGFMT_TS_BLOCK);
    return (int64_t)(base + v * pow10[e[13] <= 18 ? e[13] : 0]);
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

/* ---- per-thread caches ---- */

/*
 * One decompressed doc block (with its directory decoded into offsets)
 * and one decompressed term chunk per thread, keyed by the segment's
 * never-reused uid, so a freed segment's entry can never be hit again.
 */
struct doc_cache {
    ZSTD_DCtx *dctx;
    uint64_t uid;       /* doc block: 0 = empty */
    uint32_t block;
    uint32_t len;
    uint8_t *data;
    size_t cap;
    uint32_t cnt;       /* docs in the block */
    uint32_t *offs, *lens, *tids;
    size_t dir_cap;
    uint64_t tuid;      /* term chunk: 0 = empty */
    uint32_t tfield, tchunk, tlen;
    uint8_t *tdata;
    size_t tcap;
};

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_free(void *p)
{
    struct doc_cache *c = p;
    sift_free(c->data);
    sift_free(c->offs);
    sift_free(c->lens);
    sift_free(c->tids);
    sift_free(c->tdata);
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

/* Grows *buf to hold n bytes. */
static int
grow(uint8_t **buf, size_t *cap, size_t n)
{
    if (*cap >= n)
        return SIFT_OK;
    uint8_t *d = sift_try_malloc(n);
    if (d == NULL)
        return SIFT_ENOMEM;
    sift_free(*buf);
    *buf = d;
    *cap = n;
    return SIFT_OK;
}

/* ---- term dictionary ---- */

/* A cursor over one decompressed term chunk. */
struct tcur {
    const struct rfield *f;
    const uint8_t *p, *end;
    uint32_t left;     /* terms left in the chunk */
    char term[SIFT_SEGFMT_MAX_TERM];
    uint32_t len;
    uint64_t tag, tag2;
    const uint8_t *list; /* LIST deltas (tag2 of them) */
    const uint8_t *list_end;
};

static const uint8_t *
chunk_ent(const struct rfield *f, uint32_t c)
{
    return f->terms + f->cidx_off + (size_t)c * 20;
}

/* Terms in chunk c (bounds checked at open). */
static uint32_t
chunk_terms(const struct rfield *f, uint32_t c)
{
    uint32_t first = sift_load_u32(chunk_ent(f, c) + 4);
    uint32_t next = c + 1 < f->n_chunks ? sift_load_u32(chunk_ent(f, c + 1) + 4)
                                        : f->n_terms;
    return next - first;
}

/* The first term of chunk c (validated at open). */
static const uint8_t *
chunk_key(const struct rfield *f, uint32_t c, uint32_t *len)
{
    const uint8_t *kp = f->terms + sift_load_u32(chunk_ent(f, c));
    uint64_t kl = 0;
    (void)sift_get_varint(&kp, f->terms + f->cidx_off, &kl);
    *len = (uint32_t)kl;
    return kp;
}

/* Decompresses chunk c of f into *buf. */
static int
chunk_inflate(const struct rfield *f, uint32_t c, ZSTD_DCtx *dctx,
              uint8_t **buf, size_t *cap, uint32_t *len)
{
    const uint8_t *e = chunk_ent(f, c);
    uint32_t foff = sift_load_u32(e + 8), clen = sift_load_u32(e + 12);
    uint32_t rlen = sift_load_u32(e + 16);
    if (grow(buf, cap, rlen) != SIFT_OK)
        return SIFT_ENOMEM;
    size_t r = ZSTD_decompressDCtx(dctx, *buf, rlen, f->terms + foff, clen);
    if (ZSTD_isError(r) || r != rlen)
        return CORRUPT("term chunk does not decompress");
    *len = rlen;
    return SIFT_OK;
}

static void
tcur_init(struct tcur *c, const struct rfield *f, const uint8_t *data,
          uint32_t len, uint32_t n_terms)
{
    c->f = f;
    c->p = data;
    c->end = data + len;
    c->left = n_terms;
    c->len = 0;
}

/* Decodes the next term of the chunk; 1 = got one, 0 = chunk done. */
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

/* Index of the last chunk whose first term <= key (0 if none). */
static uint32_t
find_chunk(const struct rfield *f, const char *key, size_t len)
{
    uint32_t lo = 0, hi = f->n_chunks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t kl;
        const uint8_t *k = chunk_key(f, mid, &kl);
        if (bytes_cmp(k, kl, key, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 ? lo - 1 : 0;
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
    uint32_t ch = find_chunk(f, term, term_len);
    struct doc_cache *dc = cache_get();
    if (dc == NULL)
        return SIFT_ENOMEM;
    int rc;
    if (dc->tuid != seg->uid || dc->tfield != field || dc->tchunk != ch) {
        dc->tuid = 0;
        if ((rc = chunk_inflate(f, ch, dc->dctx, &dc->tdata, &dc->tcap,
                                &dc->tlen)) != SIFT_OK)
            return rc;
        dc->tuid = seg->uid;
        dc->tfield = field;
        dc->tchunk = ch;
    }
    struct tcur c;
    tcur_init(&c, f, dc->tdata, dc->tlen, chunk_terms(f, ch));
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
    struct doc_cache *dc = cache_get();
    if (dc == NULL)
        return SIFT_ENOMEM;
    /* A private buffer: cb may call sift_segment_postings(), which uses
     * the thread's chunk cache. */
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint32_t len;
    int rc = SIFT_OK;
    uint32_t ch = prefix_len > 0 ? find_chunk(f, prefix, prefix_len) : 0;
    for (; ch < f->n_chunks; ch++) {
        if ((rc = chunk_inflate(f, ch, dc->dctx, &buf, &cap, &len)) !=
            SIFT_OK)
            goto out;
        struct tcur c;
        tcur_init(&c, f, buf, len, chunk_terms(f, ch));
        for (;;) {
            int r = tcur_next(&c, &rc);
            if (r < 0)
                goto out;
            if (r == 0)
                break;
            if (prefix_len > 0) {
                size_t m = c.len < prefix_len ? c.len : prefix_len;
                int cmp = memcmp(c.term, prefix, m);
                if (cmp < 0 || (cmp == 0 && c.len < prefix_len))
                    continue; /* before the prefix range */
                if (cmp > 0)
                    goto out;
            }
            if (cb(c.term, c.len, arg) != 0)
                goto out;
        }
        if (c.p != c.end) {
            rc = CORRUPT("term chunk trailing bytes");
            goto out;
        }
    }
out:
    sift_free(buf);
    return rc;
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
    uint64_t o = unpack(f->kw_ords, f->kw_width, doc);
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

int
sift_segment_number(const struct sift_segment *seg, uint32_t field,
                    uint32_t doc, double *out)
{
    if (field >= seg->n_fields || doc >= seg->n_docs ||
        seg->fields[field].num == NULL)
        return SIFT_ENOTFOUND;
    const struct rfield *f = &seg->fields[field];
    uint64_t bits;
    if (f->num_width == 0) {
        bits = sift_load_u64(f->num + (size_t)doc * 8);
    } else {
        uint64_t code = unpack(f->num, f->num_width, doc);
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

/* ---- doc store ---- */

struct dirsort {
    uint32_t tid;
    uint32_t i;
};

static int
dirsort_cmp(const void *x, const void *y)
{
    const struct dirsort *a = x, *b = y;
    if (a->tid != b->tid)
        return a->tid < b->tid ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Decodes the directory of the block in c: offsets of each doc. */
static int
block_directory(struct doc_cache *c, uint32_t cnt)
{
    if (c->dir_cap < cnt) {
        uint32_t *o = sift_try_malloc((size_t)cnt * sizeof(uint32_t));
        uint32_t *l = sift_try_malloc((size_t)cnt * sizeof(uint32_t));
        uint32_t *t = sift_try_malloc((size_t)cnt * sizeof(uint32_t));
        if (o == NULL || l == NULL || t == NULL) {
            sift_free(o);
            sift_free(l);
            sift_free(t);
            return SIFT_ENOMEM;
        }
        sift_free(c->offs);
        sift_free(c->lens);
        sift_free(c->tids);
        c->offs = o;
        c->lens = l;
        c->tids = t;
        c->dir_cap = cnt;
    }
    const uint8_t *p = c->data, *end = c->data + c->len;
    uint64_t total = 0;
    int grouped = 1;
    for (uint32_t i = 0; i < cnt; i++) {
        uint64_t tid, l;
        if (sift_get_varint(&p, end, &tid) != SIFT_OK || tid > UINT32_MAX ||
            sift_get_varint(&p, end, &l) != SIFT_OK || l > c->len)
            return CORRUPT("doc block directory");
        c->tids[i] = (uint32_t)tid;
        c->lens[i] = (uint32_t)l;
        total += l;
        if (i > 0 && c->tids[i] < c->tids[i - 1])
            grouped = 0;
    }
    if (total != (uint64_t)(end - p))
        return CORRUPT("doc block lengths");
    uint32_t off = (uint32_t)(p - c->data);
    if (grouped) {
        for (uint32_t i = 0; i < cnt; i++) {
            c->offs[i] = off;
            off += c->lens[i];
        }
        return SIFT_OK;
    }
    struct dirsort *ds = sift_try_malloc((size_t)cnt * sizeof(*ds));
    if (ds == NULL)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < cnt; i++) {
        ds[i].tid = c->tids[i];
        ds[i].i = i;
    }
    qsort(ds, cnt, sizeof(*ds), dirsort_cmp);
    for (uint32_t k = 0; k < cnt; k++) {
        c->offs[ds[k].i] = off;
        off += c->lens[ds[k].i];
    }
    sift_free(ds);
    return SIFT_OK;
}

/* Appends the sift_doc_encode() form of stored doc p[0..len) to out. */
static int
doc_rebuild(const struct sift_segment *seg, int64_t ts, uint32_t tid,
            const uint8_t *p, size_t len, struct sift_buf *out)
{
    const uint8_t *end = p + len;
    uint64_t ml, nf;
    if (sift_get_varint(&p, end, &ml) != SIFT_OK ||
        ml > (uint64_t)(end - p))
        return CORRUPT("stored doc message");
    const uint8_t *msg = p;
    p += ml;
    if (sift_get_varint(&p, end, &nf) != SIFT_OK ||
        nf > (uint64_t)(end - p) / 2)
        return CORRUPT("stored doc field count");
    /* Names may make the doc longer than stored: bound the growth. */
    if (sift_buf_try_reserve(out, 40 + len) != SIFT_OK)
        return SIFT_ENOMEM;
    uint64_t zz = ((uint64_t)ts << 1) ^ (uint64_t)(ts >> 63);
    sift_buf_put_varint(out, zz);
    sift_buf_put_varint(out, tid);
    sift_buf_put_varint(out, ml);
    sift_buf_append(out, msg, ml);
    sift_buf_put_varint(out, nf);
    for (uint64_t i = 0; i < nf; i++) {
        uint64_t k, vl;
        if (sift_get_varint(&p, end, &k) != SIFT_OK || k >= seg->n_keys ||
            sift_get_varint(&p, end, &vl) != SIFT_OK ||
            vl > (uint64_t)(end - p))
            return CORRUPT("stored doc field");
        const struct rkey *key = &seg->keys[k];
        if (sift_buf_try_reserve(out, 21 + key->name_len + vl) != SIFT_OK)
            return SIFT_ENOMEM;
        sift_buf_put_varint(out, key->name_len);
        sift_buf_append(out, key->name, key->name_len);
        sift_buf_putc(out, (char)key->type);
        sift_buf_put_varint(out, vl);
        sift_buf_append(out, p, vl);
        p += vl;
    }
    if (p != end)
        return CORRUPT("stored doc trailing bytes");
    return SIFT_OK;
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
    uint32_t first = sift_load_u32(e), cnt = sift_load_u32(e + 4);
    uint32_t clen = sift_load_u32(e + 8), rlen = sift_load_u32(e + 12);
    uint64_t off = sift_load_u64(e + 16);
    struct doc_cache *c = cache_get();
    if (c == NULL)
        return SIFT_ENOMEM;
    int rc;
    if (c->uid != seg->uid || c->block != lo) {
        c->uid = 0;
        if (grow(&c->data, &c->cap, rlen) != SIFT_OK)
            return SIFT_ENOMEM;
        size_t r = seg->ddict != NULL
            ? ZSTD_decompress_usingDDict(c->dctx, c->data, rlen,
                                         seg->docs + off, clen, seg->ddict)
            : ZSTD_decompressDCtx(c->dctx, c->data, rlen, seg->docs + off,
                                  clen);
        if (ZSTD_isError(r) || r != rlen)
            return CORRUPT("doc block does not decompress");
        c->len = rlen;
        if ((rc = block_directory(c, cnt)) != SIFT_OK)
            return rc;
        c->cnt = cnt;
        c->uid = seg->uid;
        c->block = lo;
    }
    uint32_t k = doc - first;
    size_t len0 = out->len;
    rc = doc_rebuild(seg, sift_segment_doc_ts(seg, doc), c->tids[k],
                     c->data + c->offs[k], c->lens[k], out);
    if (rc != SIFT_OK)
        out->len = len0;
    return rc;
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
