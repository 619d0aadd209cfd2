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
/* madvise(MADV_DONTNEED): posix_madvise's POSIX_MADV_DONTNEED is a no-op
 * in glibc. */
#define _DEFAULT_SOURCE
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
#include <zdict.h>
#include <zstd.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/segment.h"
#include "sift/sort.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"
#include "store/segment_origin.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

enum img_owner { OWN_BORROWED, OWN_HEAP, OWN_MMAP };

struct rfield {
    const char *name; /* NUL-terminated copy in names */
    uint32_t name_len;
    unsigned flags;
    uint32_t n_terms;
    /* TERMS */
    const uint8_t *terms;
    size_t terms_len;
    uint32_t n_chunks;
    uint32_t cidx_off; /* chunk index, from section start */
    uint32_t parea_off;
    /* KWCOL */
    uint32_t card;
    unsigned kw_width;
    const uint8_t *kw_offs;
    const uint8_t *kw_blob;
    uint32_t kw_blob_len;
    const uint8_t *kw_ords; /* packed codes, kw_width bits each */
    /* NUMCOL */
    const uint8_t *num;      /* mode 0: doubles; mode 1: packed codes */
    const uint8_t *num_dict; /* mode 1: num_card sorted doubles */
    uint32_t num_card;
    unsigned num_width; /* 0 = mode 0 */
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
    uint64_t uid; /* never reused; keys the per-thread doc cache */
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
    int32_t *kfield; /* per key: field with a KWCOL of that name, -1 */
    const roaring_bitmap_t *deleted;
    /* SHAPES / SHAPEDOCS, decoded on first use (shapes_load). */
    const uint8_t *shapes_sec, *sdocs_sec;
    size_t shapes_len, sdocs_len;
    pthread_mutex_t sh_mu;
    atomic_int sh_state; /* 0 not loaded, 1 loaded, 2 corrupt */
    int sh_rc;
    uint32_t n_shapes;
    uint8_t *sh_raw; /* decompressed SHAPES */
    uint32_t sh_raw_len;
    uint32_t *sh_poff;         /* per shape: offset of its first piece */
    uint16_t *sh_k;            /* per shape: slot count */
    uint32_t *sd_at;           /* per shape + 1: start in sd_ids */
    uint32_t *sd_ids;          /* doc ids grouped by shape */
    uint32_t *sd_shape;        /* format >= 4: shape by doc id */
    struct sift_segment *base; /* sift_segment_with_deleted(): owns the image */
    struct sift__segment_origin_owned origin; /* ORIGIN (zeros before v5) */
};

static atomic_uint_fast64_t next_uid = 1;

/* Reads gap i of a strictly increasing id list (the first may be 0) into
 * *v; SIFT_ECORRUPT when it is missing or the id would reach n. */
static inline int
get_id_gap(const uint8_t **p, const uint8_t *end, uint64_t i, uint64_t n,
           uint64_t *v)
{
    uint64_t d;
    if (sift_get_varint(p, end, &d) != SIFT_OK || (i > 0 && d == 0) ||
        d >= n - *v)
        return SIFT_ECORRUPT;
    *v += d;
    return SIFT_OK;
}

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
        default: return CORRUPT("bitmap container type");
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
static void
shapes_free(struct sift_segment *s)
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

static void
segment_destroy(struct sift_segment *s)
{
    pthread_mutex_destroy(&s->sh_mu);
    shapes_free(s);
    sift_free(s->kfield);
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
    sift__segment_origin_cleanup(&s->origin);
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
    s->version = sift_load_u32(img + 8);
    if (s->version < SIFT_SEGFMT_VERSION_MIN ||
        s->version > SIFT_SEGFMT_VERSION) {
        SIFT_ERROR("segment: unsupported format version %u (this build "
                   "reads versions %u..%u)",
                   s->version, SIFT_SEGFMT_VERSION_MIN, SIFT_SEGFMT_VERSION);
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
    if (sift_load_u32(tr + 12) != s->version || tab < SIFT_SEGFMT_HEADER_LEN ||
        tab > len - SIFT_SEGFMT_TRAILER_LEN || (tab & 7) != 0 ||
        ns > SIFT_SEGFMT_MAX_SECTIONS ||
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
            se->kind > SIFT_SEGSEC_ORIGIN ||
            (se->kind == SIFT_SEGSEC_ORIGIN && s->version < 5) ||
            (seen & (1u << se->kind))) {
            rc = CORRUPT("bad section kind");
            goto out;
        }
        seen |= 1u << se->kind;
        switch (se->kind) {
        case SIFT_SEGSEC_TS: rc = parse_ts(s, p, l); break;
        case SIFT_SEGSEC_DOCS: rc = parse_docs(s, p, l); break;
        case SIFT_SEGSEC_DOCKEYS: rc = parse_dockeys(s, p, l); break;
        case SIFT_SEGSEC_SHAPES:
            s->shapes_sec = p;
            s->shapes_len = l;
            rc = l >= 8 ? SIFT_OK : CORRUPT("shapes header");
            break;
        case SIFT_SEGSEC_SHAPEDOCS:
            s->sdocs_sec = p;
            s->sdocs_len = l;
            rc = l >= 8 ? SIFT_OK : CORRUPT("shape docs header");
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
        case SIFT_SEGSEC_ORIGIN:
            rc = sift__segment_origin_decode(p, l, &s->origin);
            break;
        default: rc = SIFT_OK; break;
        }
        if (rc != SIFT_OK)
            goto out;
    }
    unsigned need = 1u << SIFT_SEGSEC_TS | 1u << SIFT_SEGSEC_DOCS |
                    1u << SIFT_SEGSEC_DELETED | 1u << SIFT_SEGSEC_DOCKEYS |
                    1u << SIFT_SEGSEC_SHAPES | 1u << SIFT_SEGSEC_SHAPEDOCS;
    if (s->version >= 5)
        need |= 1u << SIFT_SEGSEC_ORIGIN;
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
    /* Doc keys whose values may be omitted in favour of a KWCOL. */
    s->kfield = sift_try_malloc(((size_t)s->n_keys + 1) * sizeof(int32_t));
    if (s->kfield == NULL) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    for (uint32_t k = 0; k < s->n_keys; k++) {
        int fi =
            sift_segment_field_find(s, s->keys[k].name, s->keys[k].name_len);
        s->kfield[k] = fi >= 0 && s->fields[fi].kw_ords != NULL ? fi : -1;
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
    atomic_init(&s->sh_state, 0);
    pthread_mutex_init(&s->sh_mu, NULL);
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
    if (st.st_size <
        (off_t)(SIFT_SEGFMT_HEADER_LEN + SIFT_SEGFMT_TRAILER_LEN)) {
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
    /* The open check read every page of the image, which left them all
     * mapped into this process: resident memory would then grow with
     * the data stored.  Unmap them again; the mapping is read-only and
     * never written, so a later access refaults the same bytes from the
     * page cache (which the kernel may reclaim, unlike our RSS). */
    if (rc == SIFT_OK)
        (void)madvise(m, len, MADV_DONTNEED);
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

const struct sift_segment_origin *
sift_segment_origin(const struct sift_segment *seg)
{
    return &seg->origin.o;
}

size_t
sift_segment_bytes(const struct sift_segment *seg)
{
    return seg->len;
}

void
sift_segment_drop_pages(const struct sift_segment *seg)
{
    /* A view with its own tombstones borrows its base's mapping. */
    while (seg->owner == OWN_BORROWED && seg->base != NULL)
        seg = seg->base;
    if (seg->owner == OWN_MMAP)
        (void)madvise((void *)(uintptr_t)seg->img, seg->map_len, MADV_DONTNEED);
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
        v |= (uint64_t)(((unsigned)p[bit >> 3] >> sh) & ((1u << take) - 1))
             << k;
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
    uint32_t i = doc % SIFT_SEGFMT_TS_BLOCK;
    uint64_t step = 0, mneg = 0;
    if (seg->version >= 4) { /* validated by parse_ts */
        const uint8_t *end = seg->ts_packed + seg->ts_packed_len;
        (void)sift_get_varint(&p, end, &step);
        (void)sift_get_varint(&p, end, &mneg);
    }
    uint64_t v = unpack(p, e[12], i) + (uint64_t)i * step - mneg;
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
/* s_off flag: the value is in ntext (data is at most 64 MiB, ntext at
 * most SIFT_SEGFMT_SLOT_DIGITS_U64 bytes per value, and every value
 * takes at least one byte of data, so bit 31 is free). */
#define SLOT_IN_NTEXT UINT32_C(0x80000000)

struct doc_cache {
    ZSTD_DCtx *dctx;
    uint64_t uid; /* doc block: 0 = empty */
    uint32_t block;
    uint32_t len;
    uint8_t *data;
    size_t cap;
    uint32_t cnt; /* docs in the block */
    /* The block decoded (block_decode): per doc its shape, template id,
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
    uint64_t tuid; /* term chunk: 0 = empty */
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

/* ---- shapes (decoded once per segment, on first use) ---- */

/* Decompresses the zstd frame p[0..len) of exactly raw_len bytes into a
 * new buffer (*out, owned). */
static int
inflate_exact(const uint8_t *p, size_t len, uint32_t raw_len, uint8_t **out)
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
    if ((rc = inflate_exact(s->shapes_sec + 8, s->shapes_len - 8, rlen,
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
    if ((rc = inflate_exact(s->sdocs_sec + 8, s->sdocs_len - 8, rlen, &raw)) !=
        SIFT_OK)
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
            if (get_id_gap(&p, end, i, s->n_docs, &v) != SIFT_OK) {
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
static int
shapes_load(const struct sift_segment *cseg)
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
            shapes_free(s);
    } else if (st == 2) {
        rc = s->sh_rc;
    }
    pthread_mutex_unlock(&s->sh_mu);
    return rc;
}

/* ---- term dictionary ---- */

/* A cursor over one decompressed term chunk. */
struct tcur {
    const struct rfield *f;
    const uint8_t *p, *end;
    uint32_t left; /* terms left in the chunk */
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
        sift_get_varint(&c->p, c->end, &suffix) != SIFT_OK || shared > c->len ||
        suffix > SIFT_SEGFMT_MAX_TERM - shared ||
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
    if ((c->tag & 3) != SIFT_SEGFMT_POST_ONE) {
        if (sift_get_varint(&c->p, c->end, &c->tag2) != SIFT_OK) {
            *rc = CORRUPT("postings tag");
            return -1;
        }
    }
    if ((c->tag & 3) == SIFT_SEGFMT_POST_LIST) {
        uint64_t l;
        if (c->tag2 == 0 || c->tag2 >= SIFT_SEGFMT_LIST_MAX ||
            sift_get_varint(&c->p, c->end, &l) != SIFT_OK || l < c->tag2 ||
            l > (uint64_t)(c->end - c->p)) {
            *rc = CORRUPT("postings list length");
            return -1;
        }
        c->list = c->p;
        c->list_end = c->p + l;
        c->p += l;
    }
    if ((c->tag & 3) == SIFT_SEGFMT_POST_SHAPES) {
        if (c->tag < 4 || c->tag2 > (uint64_t)(c->end - c->p)) {
            *rc = CORRUPT("postings shapes length");
            return -1;
        }
        c->list = c->p;
        c->list_end = c->p + c->tag2;
        c->p += c->tag2;
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

/* Tag 3: every doc of the listed shapes, plus the residual docs. */
static int
postings_shapes(const struct sift_segment *seg, const struct tcur *c,
                roaring_bitmap_t **out)
{
    int rc = shapes_load(seg);
    if (rc != SIFT_OK)
        return rc;
    uint64_t m = c->tag >> 2, v = 0, r;
    const uint8_t *p = c->list, *end = c->list_end;
    roaring_bitmap_t *bm = roaring_bitmap_create();
    if (bm == NULL)
        return SIFT_ENOMEM;
    for (uint64_t i = 0; i < m; i++) {
        if (get_id_gap(&p, end, i, seg->n_shapes, &v) != SIFT_OK) {
            rc = CORRUPT("postings shape ids");
            goto fail;
        }
        uint32_t a = seg->sd_at[v], b = seg->sd_at[v + 1];
        roaring_bitmap_add_many(bm, b - a, seg->sd_ids + a);
    }
    if (sift_get_varint(&p, end, &r) != SIFT_OK || r > seg->n_docs) {
        rc = CORRUPT("postings residual count");
        goto fail;
    }
    v = 0;
    for (uint64_t i = 0; i < r; i++) {
        if (get_id_gap(&p, end, i, seg->n_docs, &v) != SIFT_OK) {
            rc = CORRUPT("postings residual docs");
            goto fail;
        }
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
    if (kind == SIFT_SEGFMT_POST_SHAPES)
        return postings_shapes(seg, c, out);
    if (kind != SIFT_SEGFMT_POST_BITMAP)
        return CORRUPT("postings kind");
    const struct rfield *f = c->f;
    uint64_t room = f->terms_len - f->parea_off;
    if (v > room / 32 || c->tag2 > room - v * 32)
        return CORRUPT("postings bitmap bounds");
    const roaring_bitmap_t *view = bitmap_view(f->terms + f->parea_off + v * 32,
                                               c->tag2, seg->n_docs, &rc);
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
                      const char *term, size_t term_len, roaring_bitmap_t **out)
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
        if ((rc = chunk_inflate(f, ch, dc->dctx, &buf, &cap, &len)) != SIFT_OK)
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
slot_number(struct doc_cache *c, const uint8_t **p, const uint8_t *end,
            unsigned mode, unsigned width, uint64_t *prev, uint32_t *off,
            uint32_t *len)
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
slot_bytes(const struct doc_cache *c, uint32_t off)
{
    return off & SLOT_IN_NTEXT
               ? (const uint8_t *)c->ntext + (off & ~SLOT_IN_NTEXT)
               : c->data + off;
}

/* Decodes the five streams of the block in c (segment_fmt.h DOCS). */
static int
block_decode(const struct sift_segment *seg, struct doc_cache *c,
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
doc_rebuild(const struct sift_segment *seg, const struct doc_cache *c,
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
        if (c->f_len[j] == UINT32_MAX) {
            uint32_t fi = (uint32_t)seg->kfield[c->f_key[j]];
            uint32_t ord = sift_segment_keyword_ord(seg, fi, doc);
            if (ord == UINT32_MAX)
                return CORRUPT("stored doc keyword value absent");
            v = sift_segment_keyword_value(seg, fi, ord, &vl);
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
    int rc = shapes_load(seg);
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
    struct doc_cache *c = cache_get();
    if (c == NULL)
        return SIFT_ENOMEM;
    if (c->uid != seg->uid || c->block != lo) {
        c->uid = 0;
        if (grow(&c->data, &c->cap, rlen) != SIFT_OK)
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
            if ((rc = grow(&raw, &raw_cap, rlen)) != SIFT_OK)
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
