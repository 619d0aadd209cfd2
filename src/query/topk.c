/*
 * topk.c - search across segments: counting, top-k newest/oldest first,
 * search-after cursors.  Hits leave as keys and encoded events (struct
 * sift_hit); api/render.c writes their JSON.
 *
 * Design: each segment is evaluated into a bitmap (exec.c) whose
 * cardinality adds to the exact total.  Because doc ids are in time order
 * inside a segment, its best k docs are the last (or first) k set bits;
 * we collect those plus every doc tied on the k-th timestamp, as the
 * final order is (timestamp, content hash) and ties can only be ordered
 * once their bytes are known.  Across segments the candidates are sorted
 * by timestamp, cut at k (again keeping ties), and only then fetched and
 * hashed, so a page costs about k doc fetches however many docs match.
 *
 * Cursor: base64url of {version, direction, ts, hash, skip}; see exec.c
 * for why this key stays valid across refresh, flush and merge.  A hit's
 * "_id" is the same key without direction and skip (base64url of
 * {version, ts, hash}): it names the event wherever it is stored, and
 * /api/v1/context (context.c) starts from it.
 *
 * Bounds: per segment at most limit + SIFT_TOPK_MAX_TIES candidates are
 * kept; past that, docs sharing one exact timestamp are ordered by
 * segment and doc id instead of hash (documented in docs/internals).
 *
 * Threads: any; per-call state only.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "query/query_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/segment.h"
#include "sift/time.h"

#define SIFT_TOPK_MAX_TIES 65536u
#define CURSOR_VERSION 1

struct cand {
    uint64_t k_ts;   /* order key of ts: ascending = output order */
    uint64_t k_hash; /* order key of the hash, same direction */
    int64_t ts;
    uint64_t hash;
    uint32_t seg, doc;
    int fetched;
    struct sift_buf data; /* encoded doc once fetched */
};

struct cursor {
    int64_t ts;
    uint64_t hash;
    uint32_t skip;
    uint8_t oldest_first;
};

void
sift_search_opts_init(struct sift_search_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->from_ns = SIFT_TIME_MIN;
    opts->to_ns = SIFT_TIME_MAX;
    opts->limit = 100;
}

void
sift_search_result_init(struct sift_search_result *res)
{
    memset(res, 0, sizeof(*res));
    sift_buf_init(&res->docs);
}

void
sift_search_result_cleanup(struct sift_search_result *res)
{
    sift_free(res->hits);
    sift_buf_cleanup(&res->docs);
    memset(res, 0, sizeof(*res));
}

/* ---- cursor codec ---- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
cursor_encode(const struct cursor *c, char *out, size_t cap)
{
    uint8_t raw[24] = {0};
    raw[0] = CURSOR_VERSION;
    raw[1] = c->oldest_first;
    sift_store_u64(raw + 2, (uint64_t)c->ts);
    sift_store_u64(raw + 10, c->hash);
    sift_store_u32(raw + 18, c->skip);
    /* 22 bytes, padded to 24 = 32 chars; 2 zero pad bytes are checked. */
    size_t o = 0;
    for (size_t i = 0; i < 24 && o + 4 < cap; i += 3) {
        uint32_t v =
            (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = b64[v >> 6 & 63];
        out[o++] = b64[v & 63];
    }
    out[o] = '\0';
}

void
sift__query_cursor_at(int64_t ts_ns, uint64_t hash, uint32_t skip,
                      int oldest_first, char *out, size_t cap)
{
    struct cursor c = {.ts = ts_ns,
                       .hash = hash,
                       .skip = skip,
                       .oldest_first = (uint8_t)(oldest_first ? 1 : 0)};
    cursor_encode(&c, out, cap);
}

/* base64url without padding of raw[0..n) into out (NUL-terminated). */
static void
b64url_encode(const uint8_t *raw, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < n)
            v |= raw[i + 2];
        size_t chars = n - i >= 3 ? 4 : n - i + 1;
        for (size_t j = 0; j < chars; j++)
            out[o++] = b64[v >> (18 - 6 * j) & 63];
    }
    out[o] = '\0';
}

void
sift__query_id_encode(int64_t ts_ns, uint64_t hash,
                      char out[SIFT_QUERY_ID_LEN + 1])
{
    uint8_t raw[17];
    raw[0] = SIFT_QUERY_ID_VERSION;
    sift_store_u64(raw + 1, (uint64_t)ts_ns);
    sift_store_u64(raw + 9, hash);
    b64url_encode(raw, sizeof(raw), out);
}

int
sift__query_id_decode(const char *s, size_t len, int64_t *ts_ns, uint64_t *hash)
{
    if (len != SIFT_QUERY_ID_LEN)
        return SIFT_EINVAL;
    uint8_t raw[18] = {0};
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        size_t chars = len - i >= 4 ? 4 : len - i;
        for (size_t j = 0; j < 4; j++) {
            uint32_t d = 0;
            if (j < chars) {
                const char *p = s[i + j] ? strchr(b64, s[i + j]) : NULL;
                if (!p)
                    return SIFT_EINVAL;
                d = (uint32_t)(p - b64);
            }
            v = v << 6 | d;
        }
        for (size_t j = 0; j + 1 < chars && o < sizeof(raw); j++)
            raw[o++] = (uint8_t)(v >> (16 - 8 * j));
    }
    if (o != 17 || raw[0] != SIFT_QUERY_ID_VERSION)
        return SIFT_EINVAL;
    char again[SIFT_QUERY_ID_LEN + 1];
    int64_t ts = (int64_t)sift_load_u64(raw + 1);
    uint64_t h = sift_load_u64(raw + 9);
    sift__query_id_encode(ts, h, again);
    /* One spelling only: the bits past the last byte must be zero. */
    if (memcmp(again, s, len) != 0)
        return SIFT_EINVAL;
    *ts_ns = ts;
    *hash = h;
    return SIFT_OK;
}

static int
cursor_decode(const char *s, struct cursor *c)
{
    if (strlen(s) != 32)
        return SIFT_EINVAL;
    uint8_t raw[24];
    for (size_t i = 0; i < 32; i += 4) {
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            const char *p = strchr(b64, s[i + j]);
            if (!p || !s[i + j])
                return SIFT_EINVAL;
            v = v << 6 | (uint32_t)(p - b64);
        }
        raw[i / 4 * 3] = (uint8_t)(v >> 16);
        raw[i / 4 * 3 + 1] = (uint8_t)(v >> 8);
        raw[i / 4 * 3 + 2] = (uint8_t)v;
    }
    if (raw[0] != CURSOR_VERSION || raw[1] > 1 || raw[22] || raw[23])
        return SIFT_EINVAL;
    c->oldest_first = raw[1];
    c->ts = (int64_t)sift_load_u64(raw + 2);
    c->hash = sift_load_u64(raw + 10);
    c->skip = sift_load_u32(raw + 18);
    return SIFT_OK;
}

/* ---- ordering ---- */

static uint64_t
ts_key(int64_t ts, int oldest_first)
{
    uint64_t k = (uint64_t)ts ^ UINT64_C(0x8000000000000000);
    return oldest_first ? k : ~k;
}

static int
cmp_ts(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->k_ts != y->k_ts)
        return x->k_ts < y->k_ts ? -1 : 1;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static int
cmp_full(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->k_ts != y->k_ts)
        return x->k_ts < y->k_ts ? -1 : 1;
    if (x->k_hash != y->k_hash)
        return x->k_hash < y->k_hash ? -1 : 1;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

static int
cmp_storage(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    return x->doc < y->doc ? -1 : x->doc > y->doc;
}

/* qsort, minus its undefined behaviour on an empty (NULL) array. */
static void
sort_cands(struct cand *v, size_t n, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp);
}

/* ---- candidates ---- */

struct cands {
    struct cand *v;
    size_t n, cap;
};

static int
cands_push(struct cands *c, int64_t ts, uint32_t seg, uint32_t doc,
           int oldest_first)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct cand *v = sift_try_realloc(c->v, cap * sizeof(*v));
        if (!v)
            return SIFT_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    struct cand *x = &c->v[c->n++];
    memset(x, 0, sizeof(*x));
    x->ts = ts;
    x->k_ts = ts_key(ts, oldest_first);
    x->seg = seg;
    x->doc = doc;
    return SIFT_OK;
}

static void
cands_free(struct cands *c)
{
    for (size_t i = 0; i < c->n; i++)
        sift_buf_cleanup(&c->v[i].data);
    sift_free(c->v);
}

static int
fetch(struct sift_segment *const *segs, struct cand *x, int oldest_first)
{
    if (x->fetched)
        return SIFT_OK;
    int rc = sift_segment_doc(segs[x->seg], x->doc, &x->data);
    if (rc < 0)
        return rc;
    x->hash = XXH3_64bits(x->data.data, x->data.len);
    x->k_hash = oldest_first ? x->hash : ~x->hash;
    x->fetched = 1;
    return SIFT_OK;
}

/* Lazy phrase verification state of one segment (see search_seg). */
struct lazy {
    struct sift_qctx *ctx;
    roaring_bitmap_t *checked; /* docs verified so far, either way */
    uint64_t matched;          /* of which real matches */
    int more;                  /* a verified match lies past the page */
};

/*
 * Collects the candidates of one segment from its matches r (already cut
 * to the cursor side): first the docs on the cursor timestamp (boundary,
 * all of them), then up to limit more plus ties on the last timestamp.
 * With lz, r is a superset: each doc is verified before it counts, so
 * only the docs up to the page's end are read.
 */
static int
collect(const struct sift_segment *seg, uint32_t si, const roaring_bitmap_t *r,
        uint32_t limit, int oldest_first, int has_cursor, int64_t cursor_ts,
        struct lazy *lz, struct cands *out)
{
    roaring_uint32_iterator_t it;
    if (oldest_first)
        roaring_init_iterator(r, &it);
    else
        roaring_init_iterator_last(r, &it);
    uint32_t taken = 0, kept = 0;
    int64_t last_ts = 0;
    for (; it.has_value; oldest_first ? roaring_advance_uint32_iterator(&it)
                                      : roaring_previous_uint32_iterator(&it)) {
        uint32_t d = it.current_value;
        if (lz) {
            if (sift__query_check_deadline(lz->ctx))
                return SIFT_ETIMEOUT;
            int match;
            int rc = sift__query_verify_doc(lz->ctx, d, &match);
            if (rc < 0)
                return rc;
            roaring_bitmap_add(lz->checked, d);
            if (!match)
                continue;
            lz->matched++;
        }
        int64_t ts = sift_segment_doc_ts(seg, d);
        int boundary = has_cursor && ts == cursor_ts;
        if (!boundary) {
            if (taken >= limit && ts != last_ts) {
                if (lz)
                    lz->more = 1;
                break;
            }
            taken++;
            last_ts = ts;
        }
        if (++kept > limit + SIFT_TOPK_MAX_TIES) {
            if (lz)
                lz->more = 1;
            break;
        }
        int rc = cands_push(out, ts, si, d, oldest_first);
        if (rc < 0)
            return rc;
    }
    return SIFT_OK;
}

/* Removes from r the docs on the far side of the cursor timestamp. */
static void
cut_to_cursor(const struct sift_segment *seg, roaring_bitmap_t *r,
              const struct cursor *c)
{
    uint32_t n = sift_segment_doc_count(seg);
    if (c->oldest_first) {
        uint32_t start = sift_segment_ts_lower_bound(seg, c->ts);
        if (start > 0)
            roaring_bitmap_remove_range(r, 0, start);
    } else {
        uint32_t end = c->ts == INT64_MAX
                           ? n
                           : sift_segment_ts_lower_bound(seg, c->ts + 1);
        if (end < n)
            roaring_bitmap_remove_range(r, end, n);
    }
}

/* ---- hits ---- */

/* The page's hits into res: keys and encoded docs, in output order. */
static void
collect_hits(const struct cand *v, size_t n, struct sift_search_result *res)
{
    res->hits = sift_xcalloc(n + 1, sizeof(*res->hits));
    for (size_t i = 0; i < n; i++) {
        struct sift_hit *h = &res->hits[i];
        h->ts_ns = v[i].ts;
        h->hash = v[i].hash;
        h->doc_off = res->docs.len;
        h->doc_len = v[i].data.len;
        sift_buf_append(&res->docs, v[i].data.data, v[i].data.len);
    }
}

void
sift__search_result_add(struct sift_search_result *res, int64_t ts_ns,
                        uint64_t hash, const void *doc, size_t len)
{
    res->hits =
        sift_xrealloc(res->hits, (res->n_hits + 1) * sizeof(*res->hits));
    struct sift_hit *h = &res->hits[res->n_hits++];
    h->ts_ns = ts_ns;
    h->hash = hash;
    h->doc_off = res->docs.len;
    h->doc_len = len;
    sift_buf_append(&res->docs, doc, len);
}

void
sift_query_hit_id(int64_t ts_ns, uint64_t hash, char out[SIFT_HIT_ID_LEN + 1])
{
    sift__query_id_encode(ts_ns, hash, out);
}

/* ---- the search ---- */

static int
search_error(struct sift_query_error *err, int rc)
{
    if (rc == SIFT_ENOMEM)
        return sift__query_error(err, rc, 503, "out_of_memory", -1,
                                 "not enough memory to run the query");
    return sift__query_error(err, rc, 500, "corrupt_segment", -1,
                             "segment read failed: %s", sift_strerror(rc));
}

/* One lane's share of a search (par.c): its segments' candidates. */
struct search_lane {
    struct cands cands;
    uint64_t total;           /* matches in the time range */
    uint64_t eligible;        /* matches on the page side of the cursor */
    int total_is_lower_bound; /* track_total_hits cut a count short */
};

struct search_run {
    struct sift_segment *const *segs;
    const size_t *idx; /* segments that overlap the time range */
    const struct sift_query *q;
    const struct sift_search_opts *opts;
    int has_cursor;
    int oldest;
    struct cursor cur;
};

/*
 * Lazy path of search_seg: r is a superset (phrases not verified yet).
 * The page is collected verifying docs in output order; then the count
 * verifies the docs not yet read, in doc order (each doc store block is
 * decompressed once), until track_total_hits matches are counted.  The
 * hits are exactly those of the eager path; only the total may be a lower
 * bound.
 */
static int
search_seg_lazy(struct search_lane *lane, uint32_t si,
                const struct search_run *s, struct sift_qctx *ctx,
                const roaring_bitmap_t *r)
{
    const struct sift_segment *seg = ctx->seg;
    struct lazy lz = {.ctx = ctx, .checked = roaring_bitmap_create()};
    int rc = SIFT_OK;
    if (s->opts->limit > 0) {
        roaring_bitmap_t *c = roaring_bitmap_copy(r);
        if (s->has_cursor)
            cut_to_cursor(seg, c, &s->cur);
        size_t before = lane->cands.n;
        rc = collect(seg, si, c, s->opts->limit, s->oldest, s->has_cursor,
                     s->cur.ts, &lz, &lane->cands);
        roaring_bitmap_free(c);
        /* What the page took, plus one if a match lies beyond it: enough
         * for the "is there a next page" test. */
        lane->eligible += (lane->cands.n - before) + (uint64_t)lz.more;
    }
    uint64_t bound = s->opts->track_total_hits;
    int short_count = 0;
    if (rc == SIFT_OK) {
        roaring_bitmap_t *rest = roaring_bitmap_andnot(r, lz.checked);
        roaring_uint32_iterator_t it;
        roaring_init_iterator(rest, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            if (lz.matched >= bound) {
                short_count = 1;
                break;
            }
            if (sift__query_check_deadline(ctx)) {
                /* Keep the page and the partial count; the run stops. */
                short_count = 1;
                break;
            }
            int match;
            rc = sift__query_verify_doc(ctx, it.current_value, &match);
            if (rc < 0)
                break;
            lz.matched += (uint64_t)match;
        }
        roaring_bitmap_free(rest);
    }
    roaring_bitmap_free(lz.checked);
    if (rc < 0)
        return rc;
    lane->total += lz.matched;
    if (short_count)
        lane->total_is_lower_bound = 1;
    return SIFT_OK;
}

static int
search_seg(void *lane_v, size_t k, struct sift_qctx *ctx, void *arg)
{
    struct search_lane *lane = lane_v;
    const struct search_run *s = arg;
    size_t i = s->idx[k];
    const struct sift_segment *seg = s->segs[i];
    ctx->defer_phrases = s->opts->track_total_hits > 0;
    roaring_bitmap_t *r;
    int rc = sift__query_eval_in_range(s->q, ctx, seg, s->opts->from_ns,
                                       s->opts->to_ns, &r);
    if (rc < 0)
        return rc;
    if (ctx->n_deferred > 0) {
        rc = search_seg_lazy(lane, (uint32_t)i, s, ctx, r);
        roaring_bitmap_free(r);
        if (rc < 0 && rc != SIFT_ETIMEOUT && !ctx->err->type)
            rc = search_error(ctx->err, rc);
        return rc;
    }
    lane->total += roaring_bitmap_get_cardinality(r);
    if (s->opts->limit > 0) {
        if (s->has_cursor)
            cut_to_cursor(seg, r, &s->cur);
        lane->eligible += roaring_bitmap_get_cardinality(r);
        rc = collect(seg, (uint32_t)i, r, s->opts->limit, s->oldest,
                     s->has_cursor, s->cur.ts, NULL, &lane->cands);
    }
    roaring_bitmap_free(r);
    return rc < 0 ? search_error(ctx->err, rc) : SIFT_OK;
}

/* Moves every lane's candidates into *out (lane order; sorted later). */
static int
merge_lanes(struct search_lane *lanes, unsigned n_lanes, struct cands *out)
{
    size_t total = 0;
    for (unsigned l = 0; l < n_lanes; l++)
        total += lanes[l].cands.n;
    *out = lanes[0].cands;
    memset(&lanes[0].cands, 0, sizeof(lanes[0].cands));
    if (n_lanes == 1)
        return SIFT_OK;
    if (total > out->cap) {
        struct cand *v = sift_try_realloc(out->v, total * sizeof(*v));
        if (!v)
            return SIFT_ENOMEM;
        out->v = v;
        out->cap = total;
    }
    for (unsigned l = 1; l < n_lanes; l++) {
        struct cands *c = &lanes[l].cands;
        if (c->n)
            memcpy(out->v + out->n, c->v, c->n * sizeof(*c->v));
        out->n += c->n;
        sift_free(c->v); /* nothing fetched yet: no buffers to free */
        memset(c, 0, sizeof(*c));
    }
    return SIFT_OK;
}

int
sift_search_exec(struct sift_segment *const *segs, size_t n,
                 const struct sift_query *q,
                 const struct sift_search_opts *opts,
                 struct sift_search_result *res, struct sift_query_error *err)
{
    struct search_run run = {.segs = segs, .q = q, .opts = opts};
    run.has_cursor = opts->cursor && *opts->cursor;
    run.oldest = opts->oldest_first ? 1 : 0;
    if (run.has_cursor) {
        if (cursor_decode(opts->cursor, &run.cur) < 0 ||
            run.cur.oldest_first != run.oldest)
            return sift__query_error(
                err, SIFT_EINVAL, 400, "bad_request", -1,
                "invalid cursor (it must come from a search with the same "
                "order)");
    }
    const struct cursor cur = run.cur;
    const int has_cursor = run.has_cursor, oldest = run.oldest;
    struct cands cands = {0};
    struct search_lane *lanes = NULL;
    unsigned n_lanes = 0;
    uint64_t eligible = 0;
    int timed_out = 0;
    res->total = 0;
    res->n_hits = 0;
    res->cursor[0] = '\0';

    size_t *idx = sift_try_calloc(n + 1, sizeof(*idx));
    if (!idx)
        return search_error(err, SIFT_ENOMEM);
    size_t n_idx =
        sift__query_segs_in_range(segs, n, opts->from_ns, opts->to_ns, idx);
    run.idx = idx;
    n_lanes = sift__query_par_lanes(opts->pool, opts->parallelism, n_idx);
    lanes = sift_xcalloc(n_lanes, sizeof(*lanes));
    struct sift__qpar_spec spec = {.pool = opts->pool,
                                   .n = n_idx,
                                   .lanes = lanes,
                                   .lane_size = sizeof(*lanes),
                                   .cb = search_seg,
                                   .arg = &run,
                                   .deadline_mono_ns = opts->deadline_mono_ns,
                                   .max_expansion = opts->max_expansion};
    int rc = sift__query_par_run(&spec, n_lanes, err, &timed_out);
    int lower_bound = 0;
    for (unsigned l = 0; l < n_lanes; l++) {
        res->total += lanes[l].total;
        eligible += lanes[l].eligible;
        lower_bound |= lanes[l].total_is_lower_bound;
    }
    if (rc == SIFT_OK)
        rc = merge_lanes(lanes, n_lanes, &cands);
    if (rc == SIFT_ENOMEM && !err->type)
        rc = search_error(err, rc);
    if (rc < 0)
        goto out;
    res->timed_out = timed_out;
    res->total_is_lower_bound = timed_out || lower_bound;

    sort_cands(cands.v, cands.n, cmp_ts);
    /* Drop boundary docs at or before the cursor key (they lead the list). */
    size_t nb = 0;
    while (has_cursor && nb < cands.n && cands.v[nb].ts == cur.ts)
        nb++;
    size_t keep = 0;
    uint64_t cur_khash = oldest ? cur.hash : ~cur.hash;
    for (size_t i = 0; i < nb; i++) {
        if ((rc = fetch(segs, &cands.v[i], oldest)) < 0) {
            rc = search_error(err, rc);
            goto out;
        }
    }
    sort_cands(cands.v, nb, cmp_full);
    uint32_t skipped = 0;
    for (size_t i = 0; i < nb; i++) {
        struct cand *x = &cands.v[i];
        int drop = x->k_hash < cur_khash ||
                   (x->k_hash == cur_khash && skipped++ < cur.skip);
        if (drop) {
            sift_buf_cleanup(&x->data);
            eligible--;
            continue;
        }
        cands.v[keep++] = *x;
    }
    if (keep < nb) {
        memmove(cands.v + keep, cands.v + nb,
                (cands.n - nb) * sizeof(*cands.v));
        cands.n -= nb - keep;
    }
    sort_cands(cands.v, cands.n, cmp_ts);

    /* Cut at the limit, keeping docs tied on the last timestamp. */
    size_t end = cands.n;
    if (end > opts->limit) {
        end = opts->limit;
        while (end < cands.n && cands.v[end].ts == cands.v[opts->limit - 1].ts)
            end++;
    }
    /* Fetch in storage order: each doc store block is then decompressed
     * once (the reader caches the last block), not once per hit. */
    sort_cands(cands.v, end, cmp_storage);
    for (size_t i = 0; i < end; i++) {
        if ((rc = fetch(segs, &cands.v[i], oldest)) < 0) {
            rc = search_error(err, rc);
            goto out;
        }
    }
    sort_cands(cands.v, end, cmp_full);
    size_t n_hits = end < opts->limit ? end : opts->limit;
    collect_hits(cands.v, n_hits, res);
    res->n_hits = (uint32_t)n_hits;

    if (n_hits > 0 && eligible > n_hits) {
        const struct cand *last = &cands.v[n_hits - 1];
        struct cursor next = {.ts = last->ts,
                              .hash = last->hash,
                              .oldest_first = (uint8_t)oldest};
        for (size_t i = 0; i < n_hits; i++)
            if (cands.v[i].ts == last->ts && cands.v[i].hash == last->hash)
                next.skip++;
        if (has_cursor && cur.ts == last->ts && cur.hash == last->hash)
            next.skip += cur.skip;
        cursor_encode(&next, res->cursor, sizeof(res->cursor));
    }
    rc = SIFT_OK;
out:
    for (unsigned l = 0; l < n_lanes; l++)
        cands_free(&lanes[l].cands);
    sift_free(lanes);
    sift_free(idx);
    cands_free(&cands);
    return rc;
}

int
sift_query_hit_key(const char *s, size_t len, int64_t *ts_ns, uint64_t *hash)
{
    return sift__query_id_decode(s, len, ts_ns, hash);
}

void
sift_query_cursor_after(int64_t ts_ns, uint64_t hash, uint32_t skip,
                        int oldest_first, char *out, size_t cap)
{
    sift__query_cursor_at(ts_ns, hash, skip, oldest_first, out, cap);
}

int
sift_query_cursor_read(const char *s, int64_t *ts_ns, uint64_t *hash,
                       uint32_t *skip, int *oldest_first)
{
    struct cursor c;
    if (cursor_decode(s, &c) < 0)
        return SIFT_EINVAL;
    *ts_ns = c.ts;
    *hash = c.hash;
    *skip = c.skip;
    *oldest_first = c.oldest_first;
    return SIFT_OK;
}
