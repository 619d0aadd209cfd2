/*
 * termdict.c - the term dictionary of one field: collecting terms while a
 * segment is built, writing them as a TERMS section, and reading one in
 * place (format: sift/termdict.h).
 *
 * Design.  Building: an open-addressing hash table (slot array of term
 * index + 1) over a dense term array; each term keeps its bytes in the
 * builder's arena and a postings accumulator.  Writing: the term ids are
 * ordered by a radix sort on each term's first 8 bytes, then a comparison
 * sort within runs of equal prefixes; terms go into zstd chunks of about
 * 16 KiB (64 KiB for the cold tiers) front-coded against the previous
 * term, each followed by its postings entry (postings.c), with the first
 * term of each chunk kept uncompressed as its key.  Reading: the keys are
 * binary searched without decompression, then one chunk is decompressed
 * and scanned; lookups keep the last chunk in a caller-owned cache.
 *
 * Invariants: term ids are dense indexes into the term array; the chunk
 * index of a view is checked once at init, so every later access may
 * trust it; chunk contents are checked as they are decoded.
 *
 * Threads: a builder-side dictionary and a writer belong to one thread;
 * views are immutable.
 */
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>
#include <zstd.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/hashslots.h"
#include "sift/log.h"
#include "sift/postings.h"
#include "sift/sort.h"
#include "sift/termdict.h"

#define CORRUPT(what) SIFT_CORRUPT_BKPT("segment: " what)

/* ---- builder ---- */

static void
slots_grow(struct sift_termdict *td, size_t *bytes)
{
    uint32_t n = td->slots_mask ? (td->slots_mask + 1) * 2 : 256;
    *bytes += (size_t)n * sizeof(uint32_t) / 2;
    sift_slots_rebuild(&td->slots, &td->slots_mask, n, td->terms,
                       sizeof(struct sift_termdict_term),
                       offsetof(struct sift_termdict_term, hash), td->n_terms);
}

uint32_t
sift_termdict_add(struct sift_termdict *td, struct sift_arena *arena,
                  const char *s, size_t len, uint32_t h, uint32_t doc,
                  size_t *bytes)
{
    uint32_t i = h & td->slots_mask;
    if (td->slots != NULL) {
        for (;; i = (i + 1) & td->slots_mask) {
            uint32_t slot = td->slots[i];
            if (slot == 0)
                break;
            struct sift_termdict_term *t = &td->terms[slot - 1];
            if (t->hash != h || t->len != len || !sift_bytes_eq(t->s, s, len))
                continue;
            sift_postings_acc_add(&t->docs, doc, bytes);
            return slot - 1;
        }
    }
    if ((td->n_terms + 1) * 10 > (td->slots_mask + 1) * 7 ||
        td->slots == NULL) {
        slots_grow(td, bytes);
        i = h & td->slots_mask;
        while (td->slots[i] != 0)
            i = (i + 1) & td->slots_mask;
    }
    if (td->n_terms == td->terms_cap) {
        *bytes += (size_t)td->terms_cap * sizeof(struct sift_termdict_term);
        td->terms_cap = td->terms_cap ? td->terms_cap * 2 : 64;
        td->terms = sift_xrealloc(
            td->terms, td->terms_cap * sizeof(struct sift_termdict_term));
    }
    struct sift_termdict_term *t = &td->terms[td->n_terms];
    t->s = sift_arena_strndup(arena, s, len);
    t->len = (uint32_t)len;
    t->hash = h;
    sift_postings_acc_init(&t->docs, doc);
    td->slots[i] = td->n_terms + 1;
    return td->n_terms++;
}

void
sift_termdict_cleanup(struct sift_termdict *td)
{
    for (uint32_t i = 0; i < td->n_terms; i++)
        sift_postings_acc_cleanup(&td->terms[i].docs);
    sift_free(td->terms);
    sift_free(td->slots);
    memset(td, 0, sizeof(*td));
}

/* Sort keys carry their data: qsort() has no context argument. */
struct tsort {
    const char *s;
    uint32_t len;
    uint32_t id;
};

static int
tsort_cmp(const void *x, const void *y)
{
    const struct tsort *a = x, *b = y;
    return sift_bytes_cmp(a->s, a->len, b->s, b->len);
}

/*
 * A radix sort on each term's first 8 bytes, then a comparison sort of
 * each run of equal prefixes on the whole bytes.  qsort() of every term
 * with memcmp was most of a flush thread's sorting time.
 */
int
sift_termdict_order(const struct sift_termdict *td, uint32_t *order)
{
    uint32_t n = td->n_terms;
    struct sift_kv64 *kv = sift_try_malloc(((size_t)n * 2 + 1) * sizeof(*kv));
    if (kv == NULL)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        kv[i].key = sift_sort_key_prefix(td->terms[i].s, td->terms[i].len);
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
                const struct sift_termdict_term *t = &td->terms[kv[k].v];
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

/* ---- writer ---- */

int
sift_termdict_writer_init(struct sift_termdict_writer *w, ZSTD_CCtx *cctx,
                          int level, const struct sift_postings_shapes *shapes)
{
    memset(w, 0, sizeof(*w));
    w->cctx = cctx;
    w->level = level;
    return sift_postings_writer_init(&w->pw, shapes);
}

void
sift_termdict_writer_cleanup(struct sift_termdict_writer *w)
{
    sift_postings_writer_cleanup(&w->pw);
    sift_buf_cleanup(&w->blocks);
    sift_buf_cleanup(&w->bidx);
    sift_buf_cleanup(&w->keys);
    sift_buf_cleanup(&w->frames);
    sift_free(w->ids);
    memset(w, 0, sizeof(*w));
}

/* Compresses the open chunk into w->frames and records it. */
static int
chunk_close(struct sift_termdict_writer *w, uint32_t first_term)
{
    if (w->blocks.len == 0)
        return SIFT_OK;
    if (w->blocks.len > SIFT_TERMDICT_MAX_CHUNK)
        return SIFT_ELIMIT;
    size_t bound = ZSTD_compressBound(w->blocks.len);
    if (sift_buf_try_reserve(&w->frames, bound) != SIFT_OK)
        return SIFT_ENOMEM;
    size_t z = ZSTD_compressCCtx(w->cctx, w->frames.data + w->frames.len, bound,
                                 w->blocks.data, w->blocks.len, w->level);
    if (ZSTD_isError(z)) {
        SIFT_ERROR("segment: zstd: %s", ZSTD_getErrorName(z));
        return SIFT_EIO;
    }
    /* Key and frame offsets are relative here; fixed up at the end. */
    sift_buf_put_u32(&w->bidx, 0);
    sift_buf_put_u32(&w->bidx, first_term);
    sift_buf_put_u32(&w->bidx, (uint32_t)w->frames.len);
    sift_buf_put_u32(&w->bidx, (uint32_t)z);
    sift_buf_put_u32(&w->bidx, (uint32_t)w->blocks.len);
    w->frames.len += z;
    sift_buf_reset(&w->blocks);
    return SIFT_OK;
}

/* The final doc ids of a term, sorted (w->ids or the accumulator's). */
static int
final_ids(struct sift_termdict_writer *w, const struct sift_termdict_term *t,
          const uint32_t *newid, const uint32_t **out)
{
    const uint32_t *ids = sift_postings_acc_ids(&t->docs);
    uint32_t n = t->docs.n;
    if (newid == NULL) {
        *out = ids;
        return SIFT_OK;
    }
    if (n > w->ids_cap) {
        w->ids_cap = (size_t)n * 2;
        sift_free(w->ids);
        w->ids = sift_try_malloc(w->ids_cap * 2 * sizeof(uint32_t));
        if (w->ids == NULL) {
            w->ids_cap = 0;
            return SIFT_ENOMEM;
        }
    }
    for (uint32_t i = 0; i < n; i++)
        w->ids[i] = newid[ids[i]];
    if (n > 1)
        sift_sort_u32(w->ids, n, w->ids + w->ids_cap);
    *out = w->ids;
    return SIFT_OK;
}

/* Appends the section: header, keys, chunk index, frames, postings. */
static int
emit_section(struct sift_termdict_writer *w, uint32_t n_terms,
             struct sift_buf *out)
{
    static const char zero[32];
    size_t start = out->len;
    uint32_t nc = (uint32_t)(w->bidx.len / 20);
    size_t cidx = (16 + w->keys.len + 3) & ~(size_t)3;
    size_t frames_at = cidx + w->bidx.len;
    size_t parea = (frames_at + w->frames.len + 31) & ~(size_t)31;
    if (parea + w->pw.area.len > UINT32_MAX)
        return SIFT_ELIMIT;
    /* Fix up the key and frame offsets of the chunk index. */
    const uint8_t *kp = (const uint8_t *)w->keys.data;
    const uint8_t *kend = kp + w->keys.len;
    for (uint32_t c = 0; c < nc; c++) {
        uint8_t *e = (uint8_t *)w->bidx.data + (size_t)c * 20;
        sift_store_u32(
            e, (uint32_t)(16 + (size_t)(kp - (const uint8_t *)w->keys.data)));
        sift_store_u32(e + 8, (uint32_t)(frames_at + sift_load_u32(e + 8)));
        uint64_t kl = 0;
        (void)sift_get_varint(&kp, kend, &kl);
        kp += kl;
    }
    sift_buf_put_u32(out, n_terms);
    sift_buf_put_u32(out, nc);
    sift_buf_put_u32(out, (uint32_t)cidx);
    sift_buf_put_u32(out, (uint32_t)parea);
    sift_buf_append(out, w->keys.data, w->keys.len);
    sift_buf_append(out, zero, start + cidx - out->len);
    sift_buf_append(out, w->bidx.data, w->bidx.len);
    sift_buf_append(out, w->frames.data, w->frames.len);
    sift_buf_append(out, zero, start + parea - out->len);
    sift_buf_append(out, w->pw.area.data, w->pw.area.len);
    return SIFT_OK;
}

int
sift_termdict_write(struct sift_termdict_writer *w,
                    const struct sift_termdict *td, const uint32_t *newid,
                    uint32_t *order, uint32_t *rank, struct sift_buf *out)
{
    int rc;
    if ((rc = sift_termdict_order(td, order)) != SIFT_OK)
        return rc;
    sift_buf_reset(&w->blocks);
    sift_buf_reset(&w->pw.area);
    sift_buf_reset(&w->bidx);
    sift_buf_reset(&w->keys);
    sift_buf_reset(&w->frames);
    uint32_t close_at = w->level >= SIFT_TERMDICT_CHUNK_BIG_LEVEL
                            ? SIFT_TERMDICT_CHUNK_BIG
                            : SIFT_TERMDICT_CHUNK;
    const struct sift_termdict_term *prev = NULL;
    uint32_t chunk_first = 0;
    for (uint32_t r = 0; r < td->n_terms; r++) {
        const struct sift_termdict_term *t = &td->terms[order[r]];
        rank[order[r]] = r;
        uint32_t shared = 0;
        if (w->blocks.len >= close_at) {
            if ((rc = chunk_close(w, chunk_first)) != SIFT_OK)
                return rc;
            chunk_first = r;
        }
        if (w->blocks.len == 0) {
            sift_buf_put_varint(&w->keys, t->len);
            sift_buf_append(&w->keys, t->s, t->len);
        } else {
            uint32_t m = prev->len < t->len ? prev->len : t->len;
            while (shared < m && prev->s[shared] == t->s[shared])
                shared++;
        }
        sift_buf_put_varint(&w->blocks, shared);
        sift_buf_put_varint(&w->blocks, t->len - shared);
        sift_buf_append(&w->blocks, t->s + shared, t->len - shared);
        prev = t;
        const uint32_t *ids;
        if ((rc = final_ids(w, t, newid, &ids)) != SIFT_OK ||
            (rc = sift_postings_write(&w->pw, ids, t->docs.n, &w->blocks)) !=
                SIFT_OK)
            return rc;
    }
    if ((rc = chunk_close(w, chunk_first)) != SIFT_OK)
        return rc;
    return emit_section(w, td->n_terms, out);
}

/* ---- reader ---- */

int
sift_termdict_view_init(struct sift_termdict_view *v, const uint8_t *p,
                        size_t len, uint32_t n_terms)
{
    if (len < 16)
        return CORRUPT("terms header");
    uint32_t t = sift_load_u32(p), k = sift_load_u32(p + 4);
    uint32_t ci = sift_load_u32(p + 8), parea = sift_load_u32(p + 12);
    if (t != n_terms || (k == 0) != (t == 0) || k > t || ci < 16 ||
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
            kl > SIFT_TERMDICT_MAX_TERM || kl > (uint64_t)(p + ci - kp))
            return CORRUPT("term chunk key");
        if ((c == 0) != (first == 0) || (c > 0 && first <= prev_first) ||
            first >= t)
            return CORRUPT("term chunk first ordinal");
        prev_first = first;
        if (foff < frames_at || foff > parea || clen > parea - foff ||
            rlen == 0 || rlen > SIFT_TERMDICT_MAX_CHUNK)
            return CORRUPT("term chunk frame");
    }
    v->p = p;
    v->len = len;
    v->n_terms = n_terms;
    v->n_chunks = k;
    v->cidx_off = ci;
    v->parea_off = parea;
    return SIFT_OK;
}

void
sift_termdict_cache_cleanup(struct sift_termdict_cache *c)
{
    sift_free(c->data);
    memset(c, 0, sizeof(*c));
}

/* A cursor over one decompressed term chunk. */
struct tcur {
    const uint8_t *p, *end;
    uint32_t left; /* terms left in the chunk */
    char term[SIFT_TERMDICT_MAX_TERM];
    uint32_t len;
    struct sift_postings_entry post;
};

static const uint8_t *
chunk_ent(const struct sift_termdict_view *v, uint32_t c)
{
    return v->p + v->cidx_off + (size_t)c * 20;
}

/* Terms in chunk c (bounds checked at init). */
static uint32_t
chunk_terms(const struct sift_termdict_view *v, uint32_t c)
{
    uint32_t first = sift_load_u32(chunk_ent(v, c) + 4);
    uint32_t next = c + 1 < v->n_chunks ? sift_load_u32(chunk_ent(v, c + 1) + 4)
                                        : v->n_terms;
    return next - first;
}

/* The first term of chunk c (validated at init). */
static const uint8_t *
chunk_key(const struct sift_termdict_view *v, uint32_t c, uint32_t *len)
{
    const uint8_t *kp = v->p + sift_load_u32(chunk_ent(v, c));
    uint64_t kl = 0;
    (void)sift_get_varint(&kp, v->p + v->cidx_off, &kl);
    *len = (uint32_t)kl;
    return kp;
}

/* Decompresses chunk c into *buf. */
static int
chunk_inflate(const struct sift_termdict_view *v, uint32_t c, ZSTD_DCtx *dctx,
              uint8_t **buf, size_t *cap, uint32_t *len)
{
    const uint8_t *e = chunk_ent(v, c);
    uint32_t foff = sift_load_u32(e + 8), clen = sift_load_u32(e + 12);
    uint32_t rlen = sift_load_u32(e + 16);
    if (sift_try_scratch(buf, cap, rlen) != SIFT_OK)
        return SIFT_ENOMEM;
    size_t r = ZSTD_decompressDCtx(dctx, *buf, rlen, v->p + foff, clen);
    if (ZSTD_isError(r) || r != rlen)
        return CORRUPT("term chunk does not decompress");
    *len = rlen;
    return SIFT_OK;
}

static void
tcur_init(struct tcur *c, const uint8_t *data, uint32_t len, uint32_t n_terms)
{
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
        suffix > SIFT_TERMDICT_MAX_TERM - shared ||
        suffix > (uint64_t)(c->end - c->p)) {
        *rc = CORRUPT("term entry");
        return -1;
    }
    memcpy(c->term + shared, c->p, suffix);
    c->p += suffix;
    c->len = (uint32_t)(shared + suffix);
    if ((*rc = sift_postings_entry_read(&c->p, c->end, &c->post)) != SIFT_OK)
        return -1;
    c->left--;
    return 1;
}

/* Index of the last chunk whose first term <= key (0 if none). */
static uint32_t
find_chunk(const struct sift_termdict_view *v, const char *key, size_t len)
{
    uint32_t lo = 0, hi = v->n_chunks;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        uint32_t kl;
        const uint8_t *k = chunk_key(v, mid, &kl);
        if (sift_bytes_cmp(k, kl, key, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 ? lo - 1 : 0;
}

int
sift_termdict_lookup(const struct sift_termdict_view *v, const char *term,
                     size_t len, ZSTD_DCtx *dctx, struct sift_termdict_cache *c,
                     uint64_t owner, uint32_t field,
                     struct sift_postings_src *src, roaring_bitmap_t **out)
{
    *out = NULL;
    if (v->n_terms == 0 || len > SIFT_TERMDICT_MAX_TERM)
        return SIFT_OK;
    uint32_t ch = find_chunk(v, term, len);
    int rc;
    if (c->owner != owner || c->field != field || c->chunk != ch) {
        c->owner = 0;
        if ((rc = chunk_inflate(v, ch, dctx, &c->data, &c->cap, &c->len)) !=
            SIFT_OK)
            return rc;
        c->owner = owner;
        c->field = field;
        c->chunk = ch;
    }
    src->area = v->p + v->parea_off;
    src->area_len = v->len - v->parea_off;
    struct tcur cur;
    tcur_init(&cur, c->data, c->len, chunk_terms(v, ch));
    for (;;) {
        int r = tcur_next(&cur, &rc);
        if (r < 0)
            return rc;
        if (r == 0)
            return SIFT_OK;
        int cmp = sift_bytes_cmp(cur.term, cur.len, term, len);
        if (cmp == 0)
            return sift_postings_decode(src, &cur.post, out);
        if (cmp > 0)
            return SIFT_OK;
    }
}

int
sift_termdict_each(const struct sift_termdict_view *v, const char *prefix,
                   size_t prefix_len, ZSTD_DCtx *dctx, sift_termdict_cb cb,
                   void *arg)
{
    if (v->n_terms == 0)
        return SIFT_OK;
    /* A private buffer: cb may look terms up, which uses the thread's
     * chunk cache. */
    uint8_t *buf = NULL;
    size_t cap = 0;
    uint32_t len;
    int rc = SIFT_OK;
    uint32_t ch = prefix_len > 0 ? find_chunk(v, prefix, prefix_len) : 0;
    for (; ch < v->n_chunks; ch++) {
        if ((rc = chunk_inflate(v, ch, dctx, &buf, &cap, &len)) != SIFT_OK)
            goto out;
        struct tcur c;
        tcur_init(&c, buf, len, chunk_terms(v, ch));
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
