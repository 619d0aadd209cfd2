/*
 * segment_read.c - the segment reader (format: segment_fmt.h): open,
 * header, section table, field table, references, and the public entry
 * points of the term dictionary.  The sections are decoded where they
 * are written: segment_columns.c, segment_docs.c, index/termdict.c,
 * segment_origin.c.
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
 * used (sift_postings_check_bitmap), since CRoaring trusts their content.
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

#include <roaring/roaring.h>
#include <zstd.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/postings.h"
#include "sift/segment.h"
#include "sift/sort.h"
#include "sift/termdict.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"
#include "store/segment_origin.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

static atomic_uint_fast64_t next_uid = 1;

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

static void
segment_destroy(struct sift_segment *s)
{
    pthread_mutex_destroy(&s->sh_mu);
    sift__segment_slotidx_free(s);
    sift__segment_shapes_free(s);
    sift_free(s->kfield);
    if (s->deleted != NULL)
        roaring_bitmap_free((roaring_bitmap_t *)(uintptr_t)s->deleted);
    ZSTD_freeDDict(s->ddict);
    sift_free(s->keys);
    sift_free(s->fields);
    sift_free(s->names);
    if (s->owner == SIFT__SEG_HEAP)
        sift_free((void *)(uintptr_t)s->img);
    else if (s->owner == SIFT__SEG_MMAP)
        munmap((void *)(uintptr_t)s->img, s->map_len);
    sift_segment_unref(s->base);
    sift__segment_origin_cleanup(&s->origin);
    sift_free(s);
}

/* A per-field section (terms, keyword or number column) of field
 * se->field, at p. */
static int
parse_field_section(struct sift_segment *s, const struct secent *se,
                    const uint8_t *p)
{
    size_t l = se->len;
    if (se->field >= s->n_fields)
        return CORRUPT("section field index");
    struct rfield *f = &s->fields[se->field];
    if (se->kind == SIFT_SEGSEC_TERMS) {
        if (!(f->flags & SIFT_SEGF_TERMS) || f->terms.p != NULL)
            return CORRUPT("unexpected terms section");
        return sift_termdict_view_init(&f->terms, p, l, f->n_terms);
    }
    if (se->kind == SIFT_SEGSEC_KWCOL) {
        if (!(f->flags & SIFT_SEGF_KEYWORD) || f->kw_ords != NULL)
            return CORRUPT("unexpected kwcol section");
        return sift__segment_parse_kwcol(s, f, p, l);
    }
    if (!(f->flags & SIFT_SEGF_NUMBER) || f->num != NULL)
        return CORRUPT("bad numcol section");
    return sift__segment_parse_numcol(s, f, p, l);
}

/* A whole-segment section at p; seen has a bit per kind already read (a
 * kind appears once). */
static int
parse_segment_section(struct sift_segment *s, const struct secent *se,
                      const uint8_t *p, int has_zdict, unsigned *seen)
{
    size_t l = se->len;
    int rc;
    if (se->field != UINT32_MAX || se->kind < SIFT_SEGSEC_FIELDS ||
        se->kind > SIFT_SEGSEC_SLOTIDX ||
        (se->kind == SIFT_SEGSEC_ORIGIN && s->version < 5) ||
        (se->kind == SIFT_SEGSEC_SLOTIDX && s->version < 6) ||
        (*seen & (1u << se->kind)))
        return CORRUPT("bad section kind");
    *seen |= 1u << se->kind;
    switch (se->kind) {
    case SIFT_SEGSEC_TS: rc = sift__segment_parse_ts(s, p, l); break;
    case SIFT_SEGSEC_DOCS: rc = sift__segment_parse_docs(s, p, l); break;
    case SIFT_SEGSEC_DOCKEYS: rc = sift__segment_parse_dockeys(s, p, l); break;
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
            s->deleted = sift_postings_bitmap_view(p, l, s->n_docs, &rc);
        else
            rc = SIFT_OK;
        break;
    case SIFT_SEGSEC_ORIGIN:
        rc = sift__segment_origin_decode(p, l, &s->origin);
        break;
    case SIFT_SEGSEC_SLOTIDX:
        s->si_sec = p;
        s->si_len = l;
        rc = l >= 8 ? SIFT_OK : CORRUPT("slot index header");
        break;
    default: rc = SIFT_OK; break;
    }
    return rc;
}

/* Doc keys whose values may be omitted in favour of a KWCOL, or from
 * version 7 of a NUMCOL: s->kfield. */
static int
key_fields(struct sift_segment *s)
{
    s->kfield = sift_try_malloc(((size_t)s->n_keys + 1) * sizeof(int32_t));
    if (s->kfield == NULL)
        return SIFT_ENOMEM;
    for (uint32_t k = 0; k < s->n_keys; k++) {
        int fi =
            sift_segment_field_find(s, s->keys[k].name, s->keys[k].name_len);
        s->kfield[k] =
            fi >= 0 && (s->fields[fi].kw_ords != NULL ||
                        (s->version >= 7 && s->fields[fi].num != NULL))
                ? fi
                : -1;
    }
    return SIFT_OK;
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
        if (se->kind == SIFT_SEGSEC_TERMS || se->kind == SIFT_SEGSEC_KWCOL ||
            se->kind == SIFT_SEGSEC_NUMCOL)
            rc = parse_field_section(s, se, p);
        else
            rc = parse_segment_section(s, se, p, has_zdict, &seen);
        if (rc != SIFT_OK)
            goto out;
    }
    unsigned need = 1u << SIFT_SEGSEC_TS | 1u << SIFT_SEGSEC_DOCS |
                    1u << SIFT_SEGSEC_DELETED | 1u << SIFT_SEGSEC_DOCKEYS |
                    1u << SIFT_SEGSEC_SHAPES | 1u << SIFT_SEGSEC_SHAPEDOCS;
    if (s->version >= 5)
        need |= 1u << SIFT_SEGSEC_ORIGIN;
    if (s->version >= 6)
        need |= 1u << SIFT_SEGSEC_SLOTIDX;
    if ((seen & need) != need || (has_zdict && s->ddict == NULL)) {
        rc = CORRUPT("missing section");
        goto out;
    }
    for (uint32_t i = 0; i < s->n_fields; i++) {
        const struct rfield *f = &s->fields[i];
        if (((f->flags & SIFT_SEGF_TERMS) && f->terms.p == NULL) ||
            ((f->flags & SIFT_SEGF_KEYWORD) && f->kw_ords == NULL) ||
            ((f->flags & SIFT_SEGF_NUMBER) && f->num == NULL)) {
            rc = CORRUPT("field section missing");
            goto out;
        }
    }
    if ((rc = key_fields(s)) != SIFT_OK)
        goto out;
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
segment_open(const uint8_t *img, size_t len, enum sift__seg_owner owner,
             size_t map_len, struct sift_segment **out)
{
    *out = NULL;
    struct sift_segment *s = sift_try_calloc(1, sizeof(*s));
    if (s == NULL) {
        if (owner == SIFT__SEG_HEAP)
            sift_free((void *)(uintptr_t)img);
        else if (owner == SIFT__SEG_MMAP)
            munmap((void *)(uintptr_t)img, map_len);
        return SIFT_ENOMEM;
    }
    atomic_init(&s->refs, 1);
    atomic_init(&s->sh_state, 0);
    atomic_init(&s->si_state, 0);
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
    return segment_open(data, len, SIFT__SEG_HEAP, 0, out);
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
        return segment_open(copy, len, SIFT__SEG_HEAP, 0, out);
    }
    return segment_open(data, len, SIFT__SEG_BORROWED, 0, out);
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
    int rc = segment_open(m, len, SIFT__SEG_MMAP, len, out);
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
    while (seg->owner == SIFT__SEG_BORROWED && seg->base != NULL)
        seg = seg->base;
    if (seg->owner == SIFT__SEG_MMAP)
        (void)madvise((void *)(uintptr_t)seg->img, seg->map_len, MADV_DONTNEED);
}

const void *
sift_segment_image(const struct sift_segment *seg)
{
    return seg->img;
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

int
sift_segment_field_find(const struct sift_segment *seg, const char *name,
                        size_t name_len)
{
    uint32_t lo = 0, hi = seg->n_fields;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const struct rfield *f = &seg->fields[mid];
        int c = sift_bytes_cmp(f->name, f->name_len, name, name_len);
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

static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void
cache_free(void *p)
{
    struct sift__segment_cache *c = p;
    sift__segment_cache_docs_free(c);
    sift_termdict_cache_cleanup(&c->terms);
    ZSTD_freeDCtx(c->dctx);
    sift_free(c);
}

static void
cache_key_init(void)
{
    if (pthread_key_create(&cache_key, cache_free) != 0)
        abort();
}

struct sift__segment_cache *
sift__segment_cache_get(void)
{
    pthread_once(&cache_once, cache_key_init);
    struct sift__segment_cache *c = pthread_getspecific(cache_key);
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

/* ---- term dictionary (index/termdict.c) ---- */

/* Shape groups of postings: the segment's docs by shape. */
static int
shape_docs(void *arg, struct sift_postings_shape_docs *out)
{
    const struct sift_segment *seg = arg;
    int rc = sift__segment_shapes_load(seg);
    if (rc != SIFT_OK)
        return rc;
    out->at = seg->sd_at;
    out->ids = seg->sd_ids;
    out->n_shapes = seg->n_shapes;
    return SIFT_OK;
}

int
sift_segment_postings(const struct sift_segment *seg, uint32_t field,
                      const char *term, size_t term_len, roaring_bitmap_t **out)
{
    return sift_segment_postings_range(seg, field, term, term_len, 0, 0, out);
}

int
sift_segment_postings_range(const struct sift_segment *seg, uint32_t field,
                            const char *term, size_t term_len, uint32_t lo,
                            uint32_t hi, roaring_bitmap_t **out)
{
    *out = NULL;
    if (field >= seg->n_fields || seg->fields[field].terms.p == NULL ||
        seg->fields[field].n_terms == 0 || term_len > SIFT_TERMDICT_MAX_TERM)
        return SIFT_OK;
    struct sift__segment_cache *dc = sift__segment_cache_get();
    if (dc == NULL)
        return SIFT_ENOMEM;
    struct sift_postings_src src = {
        .n_docs = seg->n_docs,
        .shape_docs = shape_docs,
        .arg = (void *)(uintptr_t)seg,
        .range_lo = lo,
        .range_hi = hi,
    };
    return sift_termdict_lookup(&seg->fields[field].terms, term, term_len,
                                dc->dctx, &dc->terms, seg->uid, field, &src,
                                out);
}

int
sift_segment_terms(const struct sift_segment *seg, uint32_t field,
                   const char *prefix, size_t prefix_len, sift_term_cb cb,
                   void *arg)
{
    if (field >= seg->n_fields || seg->fields[field].terms.p == NULL ||
        seg->fields[field].n_terms == 0)
        return SIFT_OK;
    struct sift__segment_cache *dc = sift__segment_cache_get();
    if (dc == NULL)
        return SIFT_ENOMEM;
    return sift_termdict_each(&seg->fields[field].terms, prefix, prefix_len,
                              dc->dctx, cb, arg);
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
    int rc = segment_open(base->img, base->len, SIFT__SEG_BORROWED, 0, out);
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
