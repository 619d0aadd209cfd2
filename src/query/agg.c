/*
 * agg.c - aggregations over a query's matches: date histogram (optionally
 * split by a field), top-N terms, numeric stats, and the field list.
 *
 * Design: every aggregation evaluates the query per segment exactly as a
 * search does (exec.c), then walks the matching docs using columns, never
 * the doc store, except for the split of a histogram by a field that has
 * no dictionary column in some segment (then the value is read from the
 * doc).  Values from different segments are merged by string through a
 * small open-addressing map, since dictionary ordinals are per segment.
 *
 * Bounds: histograms have at most SIFT_AGG_MAX_BUCKETS buckets and
 * SIFT_AGG_MAX_SERIES distinct split values (more are counted in
 * "_other"); stats keep at most SIFT_AGG_MAX_VALUES values for exact
 * percentiles and a uniform bottom-k sample beyond.  The deadline is
 * checked in every loop.
 *
 * Parallelism: segments are spread over lanes (par.c); each lane fills
 * its own partial (struct histo / terms / stats) and the lanes are merged
 * so that the output does not depend on the split (see struct stats).
 *
 * Also here: the field checks the API runs before a query
 * (sift_agg_field_kinds(): a field's kinds across segments, with the
 * closest name for an unknown one; sift_query_check_fields(): warnings
 * for the fields a query names in vain).
 *
 * Output: C structures (query.h, "Results"), never JSON; api/render.c
 * writes the replies.
 *
 * Threads: any; per-call state only.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "query/query_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/names.h"
#include "sift/segment.h"
#include "sift/time.h"

#define SIFT_AGG_MAX_BUCKETS 20000u
#define SIFT_AGG_MAX_SERIES 10000u
#define SIFT_AGG_MAX_VALUES SIFT_AGG_SAMPLE_MAX

void
sift_agg_opts_init(struct sift_agg_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->from_ns = SIFT_TIME_MIN;
    opts->to_ns = SIFT_TIME_MAX;
    opts->size = 10;
}

/* ---- string -> slot map ---- */

struct smap_ent {
    char *key; /* owned; NULL = empty slot */
    size_t len;
    uint64_t count;
    uint32_t idx; /* insertion index (series row) */
    /* terms: one event holding the value (segment index, doc), for its
     * spelling; sample_seg < 0 = none */
    int64_t sample_seg;
    uint32_t sample_doc;
};

struct smap {
    struct smap_ent *v;
    size_t cap, n;
};

static void
smap_free(struct smap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        sift_free(m->v[i].key);
    sift_free(m->v);
    memset(m, 0, sizeof(*m));
}

/* Finds or inserts key; NULL when the map is full (max entries). */
static struct smap_ent *
smap_get(struct smap *m, const char *key, size_t len, size_t max)
{
    if (m->cap == 0 || (m->n + 1) * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct smap_ent *v = sift_xcalloc(cap, sizeof(*v));
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].key)
                continue;
            size_t h = (size_t)XXH3_64bits(m->v[i].key, m->v[i].len);
            size_t j = h & (cap - 1);
            while (v[j].key)
                j = (j + 1) & (cap - 1);
            v[j] = m->v[i];
        }
        sift_free(m->v);
        m->v = v;
        m->cap = cap;
    }
    size_t h = (size_t)XXH3_64bits(key, len);
    size_t j = h & (m->cap - 1);
    while (m->v[j].key) {
        if (m->v[j].len == len && memcmp(m->v[j].key, key, len) == 0)
            return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    if (m->n >= max)
        return NULL;
    m->v[j].key = sift_xstrndup(key, len);
    m->v[j].len = len;
    m->v[j].count = 0;
    m->v[j].idx = (uint32_t)m->n++;
    m->v[j].sample_seg = -1;
    return &m->v[j];
}

static int
cmp_ent_desc(const void *a, const void *b)
{
    const struct smap_ent *x = *(struct smap_ent *const *)a;
    const struct smap_ent *y = *(struct smap_ent *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Entries sorted by count desc, then key; caller frees the array. */
static struct smap_ent **
smap_sorted(const struct smap *m)
{
    struct smap_ent **v = sift_xmalloc((m->n + 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->v[i].key)
            v[k++] = &m->v[i];
    qsort(v, k, sizeof(*v), cmp_ent_desc);
    return v;
}

/* ---- shared driver ---- */

/*
 * Folds one segment's matches r into lane (the partial result of the
 * thread running it).  seg_index is the segment's position in the
 * caller's array, for partials that must be merged in segment order.
 */
typedef int (*agg_seg_cb)(const struct sift_segment *seg, size_t seg_index,
                          const roaring_bitmap_t *r, struct sift_qctx *ctx,
                          void *lane);

/* The segments an aggregation reads and how many lanes share them. */
struct agg_par {
    struct sift_segment *const *segs;
    const struct sift_query *q;
    const struct sift_agg_opts *opts;
    size_t *idx; /* segments overlapping the range */
    size_t n_idx;
    unsigned n_lanes;
    agg_seg_cb cb;
};

static int
agg_par_init(struct agg_par *ap, struct sift_segment *const *segs, size_t n,
             const struct sift_query *q, const struct sift_agg_opts *opts)
{
    memset(ap, 0, sizeof(*ap));
    ap->segs = segs;
    ap->q = q;
    ap->opts = opts;
    ap->idx = sift_try_calloc(n + 1, sizeof(*ap->idx));
    if (!ap->idx)
        return SIFT_ENOMEM;
    ap->n_idx =
        sift__query_segs_in_range(segs, n, opts->from_ns, opts->to_ns, ap->idx);
    ap->n_lanes =
        sift__query_par_lanes(opts->pool, opts->parallelism, ap->n_idx);
    return SIFT_OK;
}

static void
agg_par_cleanup(struct agg_par *ap)
{
    sift_free(ap->idx);
    ap->idx = NULL;
}

static int
agg_seg(void *lane, size_t k, struct sift_qctx *ctx, void *arg)
{
    const struct agg_par *ap = arg;
    size_t i = ap->idx[k];
    const struct sift_segment *seg = ap->segs[i];
    roaring_bitmap_t *r;
    int rc = sift__query_eval_in_range(ap->q, ctx, seg, ap->opts->from_ns,
                                       ap->opts->to_ns, &r);
    if (rc < 0)
        return rc;
    rc = ap->cb(seg, i, r, ctx, lane);
    roaring_bitmap_free(r);
    return rc;
}

/*
 * Evaluates the query on every segment of ap, spread over ap->n_lanes
 * lanes of lane_size bytes, handing each match set to cb.  A timeout is
 * not an error: *timed_out is set and the partials hold what was done.
 */
static int
for_each_match(struct agg_par *ap, void *lanes, size_t lane_size, agg_seg_cb cb,
               struct sift_query_error *err, int *timed_out)
{
    ap->cb = cb;
    struct sift__qpar_spec spec = {.pool = ap->opts->pool,
                                   .n = ap->n_idx,
                                   .lanes = lanes,
                                   .lane_size = lane_size,
                                   .cb = agg_seg,
                                   .arg = ap,
                                   .deadline_mono_ns =
                                       ap->opts->deadline_mono_ns,
                                   .max_expansion = ap->opts->max_expansion};
    return sift__query_par_run(&spec, ap->n_lanes, err, timed_out);
}

static int
agg_seg_error(struct sift_query_error *err, int rc)
{
    if (rc == SIFT_ENOMEM)
        return sift__query_error(err, rc, 503, "out_of_memory", -1,
                                 "not enough memory for the aggregation");
    return sift__query_error(err, rc, 500, "corrupt_segment", -1,
                             "segment read failed: %s", sift_strerror(rc));
}

/* ---- field kinds ---- */

unsigned
sift_agg_field_kinds(struct sift_segment *const *segs, size_t n,
                     const char *field, char *near, size_t near_len)
{
    unsigned kinds = 0;
    size_t flen = strlen(field);
    for (size_t i = 0; i < n; i++) {
        int fi = sift__query_field_find(segs[i], field, flen, NULL, NULL);
        unsigned flags = 0;
        uint32_t nt;
        if (fi >= 0 &&
            sift_segment_field_info(segs[i], (uint32_t)fi, &flags, &nt))
            kinds |=
                flags & (SIFT_SEGF_TEXT | SIFT_SEGF_KEYWORD | SIFT_SEGF_NUMBER);
    }
    if (near != NULL && near_len > 0)
        near[0] = '\0';
    if (kinds != 0 || near == NULL || near_len == 0)
        return kinds;
    /* Unknown here: the closest name the data has (a typo?). */
    struct smap m = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t nf = sift_segment_field_count(segs[i]);
        for (uint32_t f = 0; f < nf; f++) {
            unsigned flags;
            uint32_t nt;
            const char *name = sift_segment_field_info(segs[i], f, &flags, &nt);
            if (name != NULL && name[0] != '_')
                (void)smap_get(&m, name, strlen(name), 4096);
        }
    }
    const char **names = sift_xmalloc((m.n + 1) * sizeof(*names));
    size_t k = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (m.v[i].key)
            names[k++] = m.v[i].key;
    const char *best = sift_name_closest(field, names, k);
    if (best != NULL)
        snprintf(near, near_len, "%s", best);
    sift_free(names);
    smap_free(&m);
    return 0;
}

/*
 * The type check of every aggregation (Elasticsearch refuses the same):
 * stats needs a number field somewhere in segs, terms and a histogram's
 * split need whole values (keyword or number), not only full text.  A
 * field no segment has is not an error here (empty results, like an
 * unmapped field); the HTTP API adds a warning for it.
 */
static int
check_field_kind(struct sift_segment *const *segs, size_t n, const char *field,
                 int want_number, const char *what,
                 struct sift_query_error *err)
{
    unsigned kinds = sift_agg_field_kinds(segs, n, field, NULL, 0);
    if (kinds == 0)
        return SIFT_OK;
    if (want_number && !(kinds & SIFT_SEGF_NUMBER))
        return sift__query_error(
            err, SIFT_EINVAL, 400, "field_type", -1,
            "field '%.60s' holds %s, not numbers: %s needs a number field "
            "(/api/v1/terms counts the values of a field)",
            field, kinds & SIFT_SEGF_KEYWORD ? "keywords" : "full text", what);
    if (!want_number && kinds == SIFT_SEGF_TEXT)
        return sift__query_error(
            err, SIFT_EINVAL, 400, "field_type", -1,
            "field '%.60s' is full text (tokenized): %s counts whole values "
            "of keyword or number fields (/api/v1/patterns groups messages)",
            field, what);
    return SIFT_OK;
}

/* ---- fields a query names (warnings) ---- */

#define CHECK_FIELDS_MAX 32u

struct named_field {
    const char *name;
    int range; /* a range or comparison names it */
};

/* Collects the distinct fields under n (depth bounded by the parser). */
static void
collect_fields(const struct sift_qnode *n, struct named_field *v, size_t *k)
{
    for (uint32_t i = 0; i < n->n_kids; i++)
        collect_fields(n->kids[i], v, k);
    if (n->n_kids > 0 || n->kind == SIFT_QN_ALL || n->field == NULL ||
        n->field[0] == '_' || strcmp(n->field, SIFT_MESSAGE_FIELD) == 0)
        return;
    for (size_t i = 0; i < *k; i++) {
        if (strcmp(v[i].name, n->field) == 0) {
            v[i].range |= n->kind == SIFT_QN_RANGE;
            return;
        }
    }
    if (*k < CHECK_FIELDS_MAX) {
        v[*k].name = n->field;
        v[*k].range = n->kind == SIFT_QN_RANGE;
        (*k)++;
    }
}

static void
add_warning(struct sift_query *q, const char *msg)
{
    if (q->n_warnings < SIFT_QUERY_MAX_WARNINGS)
        q->warnings[q->n_warnings++] =
            sift_arena_strndup(q->arena, msg, strlen(msg));
}

void
sift_query_check_fields(struct sift_query *q, struct sift_segment *const *segs,
                        size_t n)
{
    struct named_field v[CHECK_FIELDS_MAX];
    size_t k = 0;
    if (q == NULL || q->root == NULL)
        return;
    collect_fields(q->root, v, &k);
    for (size_t i = 0; i < k; i++) {
        char near[96], msg[256];
        unsigned kinds =
            sift_agg_field_kinds(segs, n, v[i].name, near, sizeof(near));
        if (kinds == 0) {
            snprintf(msg, sizeof(msg), "no field '%.60s' in the data%s%.60s%s",
                     v[i].name, near[0] ? " (did you mean '" : "", near,
                     near[0] ? "'?)" : "");
            add_warning(q, msg);
        } else if (v[i].range && !(kinds & SIFT_SEGF_NUMBER)) {
            snprintf(msg, sizeof(msg),
                     "field '%.60s' holds no numbers: a range on it "
                     "matches nothing",
                     v[i].name);
            add_warning(q, msg);
        }
    }
}

/*
 * Keyword columns hold values folded to lower case (matching is case-
 * insensitive); the answer shows a value as the events wrote it: the
 * spelling in the bucket's sample event (the first in segment and doc
 * order), when it folds to the key.  Reads one stored event per bucket.
 */
static void
spelling_of(struct sift_segment *const *segs, const struct smap_ent *e,
            const char *field, size_t field_len, struct sift_buf *doc,
            struct sift_arena *arena, const char **key, size_t *key_len)
{
    if (e->sample_seg < 0)
        return;
    const struct sift_segment *seg = segs[e->sample_seg];
    const char *used;
    size_t used_len;
    if (sift__query_field_find(seg, field, field_len, &used, &used_len) < 0)
        return;
    struct sift_event ev;
    sift_buf_reset(doc);
    sift_arena_reset(arena);
    if (sift_segment_doc(seg, e->sample_doc, doc) != SIFT_OK ||
        sift_doc_decode((const uint8_t *)doc->data, doc->len, arena, &ev) !=
            SIFT_OK)
        return;
    for (size_t i = 0; i < ev.n_fields; i++) {
        const struct sift_field *f = &ev.fields[i];
        if (f->name_len != used_len || memcmp(f->name, used, used_len) != 0 ||
            f->value_len != e->len)
            continue;
        size_t k = 0;
        while (k < e->len) {
            char c = f->value[k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != e->key[k])
                break;
            k++;
        }
        if (k == e->len) {
            *key = f->value;
            *key_len = f->value_len;
            return;
        }
    }
}

/* ---- date histogram ---- */

static const int64_t nice_ms[] = {
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
    1000,
    2000,
    5000,
    10000,
    15000,
    30000,
    60000,
    120000,
    300000,
    600000,
    900000,
    1800000,
    3600000,
    7200000,
    10800000,
    21600000,
    43200000,
    86400000,
    172800000,
    604800000,
    INT64_C(2592000000),
    INT64_C(31536000000),
};

int64_t
sift_query_nice_interval_ms(int64_t at_least_ms)
{
    for (size_t i = 0; i < sizeof(nice_ms) / sizeof(nice_ms[0]); i++)
        if (nice_ms[i] >= at_least_ms)
            return nice_ms[i];
    return 0;
}

/* The smallest nice interval giving at most 100 buckets over span_ns. */
static int64_t
auto_interval_ms(int64_t span_ns)
{
    int64_t iv = sift_query_nice_interval_ms(span_ns / SIFT_NS_PER_MS / 100);
    return iv ? iv : nice_ms[sizeof(nice_ms) / sizeof(nice_ms[0]) - 1];
}

#define WEEK_MS (INT64_C(7) * 86400000)
#define MONTH_MS (INT64_C(30) * 86400000)
#define YEAR_MS (INT64_C(365) * 86400000)

int
sift_query_interval_parse(const char *s, int64_t *ms, char *unit)
{
    size_t len = s != NULL ? strlen(s) : 0;
    size_t nd = len > 0 ? strspn(s, "0123456789") : 0;
    char u = nd > 0 && nd + 1 == len ? s[nd] : 0;
    *unit = 0;
    if (u == 'w' || u == 'M' || u == 'y') {
        int64_t n = 0;
        for (size_t i = 0; i < nd && n < 100000; i++)
            n = n * 10 + (s[i] - '0');
        if (n <= 0 || n >= 100000)
            return SIFT_EINVAL;
        *unit = u;
        *ms = n * (u == 'w' ? WEEK_MS : u == 'M' ? MONTH_MS : YEAR_MS);
        return SIFT_OK;
    }
    if (sift_parse_duration_ms(s, ms) < 0 || *ms <= 0)
        return SIFT_EINVAL;
    return SIFT_OK;
}

struct histo {
    int64_t start_ns, interval_ns;
    const int64_t *edges; /* calendar buckets: [n_buckets + 1] starts */
    uint32_t n_buckets;
    uint64_t *counts; /* [n_buckets] */
    const char *by;   /* split field or NULL */
    size_t by_len;
    struct smap series; /* value -> row */
    uint64_t **rows;    /* [series][n_buckets] */
    size_t n_rows;
    uint64_t *other; /* [n_buckets], values past the series bound */
    struct sift_buf doc;
    struct sift_arena *arena;
};

/* The row of series v; (seg_index, doc) is an event holding it (or -1). */
static uint64_t *
histo_row(struct histo *h, const char *v, size_t len, int64_t seg_index,
          uint32_t doc)
{
    struct smap_ent *e = smap_get(&h->series, v, len, SIFT_AGG_MAX_SERIES);
    if (!e)
        return h->other;
    if (seg_index >= 0 && (e->sample_seg < 0 || e->sample_seg > seg_index)) {
        e->sample_seg = seg_index;
        e->sample_doc = doc;
    }
    if (e->idx >= h->n_rows) {
        h->rows = sift_xrealloc(h->rows, (e->idx + 1) * sizeof(*h->rows));
        h->rows[e->idx] = sift_xcalloc(h->n_buckets, sizeof(uint64_t));
        h->n_rows = e->idx + 1;
    }
    return h->rows[e->idx];
}

static void
histo_lane_init(struct histo *h, const struct histo *proto)
{
    *h = *proto;
    h->counts = sift_xcalloc(h->n_buckets + 1, sizeof(uint64_t));
    h->other = sift_xcalloc(h->n_buckets + 1, sizeof(uint64_t));
    h->arena = sift_arena_new(8192);
}

static void
histo_lane_cleanup(struct histo *h)
{
    for (size_t i = 0; i < h->n_rows; i++)
        sift_free(h->rows[i]);
    sift_free(h->rows);
    smap_free(&h->series);
    sift_free(h->counts);
    sift_free(h->other);
    sift_buf_cleanup(&h->doc);
    sift_arena_free(h->arena);
    memset(h, 0, sizeof(*h));
}

/*
 * Adds lane src into dst.  Series enter dst in src's first-seen order, so
 * with fewer than SIFT_AGG_MAX_SERIES values the result is the same
 * however segments were spread over lanes (counts are plain sums).
 */
static void
histo_merge(struct histo *dst, const struct histo *src)
{
    for (uint32_t b = 0; b < dst->n_buckets; b++) {
        dst->counts[b] += src->counts[b];
        dst->other[b] += src->other[b];
    }
    if (!src->series.n)
        return;
    const struct smap_ent **by_idx =
        sift_xcalloc(src->series.n, sizeof(*by_idx));
    for (size_t i = 0; i < src->series.cap; i++)
        if (src->series.v[i].key)
            by_idx[src->series.v[i].idx] = &src->series.v[i];
    for (size_t j = 0; j < src->series.n; j++) {
        const struct smap_ent *e = by_idx[j];
        uint64_t *row =
            histo_row(dst, e->key, e->len, e->sample_seg, e->sample_doc);
        for (uint32_t b = 0; b < dst->n_buckets; b++)
            row[b] += src->rows[e->idx][b];
    }
    sift_free(by_idx);
}

static int
histo_seg(const struct sift_segment *seg, size_t seg_index,
          const roaring_bitmap_t *r, struct sift_qctx *ctx, void *arg)
{
    struct histo *h = arg;
    int field = -1;
    const char *by = h->by;
    size_t by_len = h->by_len;
    unsigned flags = 0;
    uint64_t **ord_rows = NULL;
    uint32_t card = 0;
    if (h->by) {
        field = sift__query_field_find(seg, h->by, h->by_len, &by, &by_len);
        if (field >= 0) {
            uint32_t nt;
            (void)sift_segment_field_info(seg, (uint32_t)field, &flags, &nt);
            if (flags & SIFT_SEGF_KEYWORD) {
                card = sift_segment_keyword_card(seg, (uint32_t)field);
                ord_rows = sift_xcalloc(card + 1, sizeof(*ord_rows));
            }
        }
    }
    int rc = SIFT_OK;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(r, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        if (sift__query_check_deadline(ctx)) {
            rc = SIFT_ETIMEOUT;
            break;
        }
        uint32_t d = it.current_value;
        int64_t ts = sift_segment_doc_ts(seg, d);
        if (ts < h->start_ns)
            continue;
        uint64_t b;
        if (h->edges != NULL) {
            if (ts >= h->edges[h->n_buckets])
                continue;
            uint32_t lo_b = 0, hi_b = h->n_buckets; /* edges[lo_b] <= ts */
            while (hi_b - lo_b > 1) {
                uint32_t mid = lo_b + (hi_b - lo_b) / 2;
                if (h->edges[mid] <= ts)
                    lo_b = mid;
                else
                    hi_b = mid;
            }
            b = lo_b;
        } else {
            b = (uint64_t)(ts - h->start_ns) / (uint64_t)h->interval_ns;
        }
        if (b >= h->n_buckets)
            continue;
        h->counts[b]++;
        if (field < 0)
            continue;
        if (ord_rows) {
            uint32_t ord = sift_segment_keyword_ord(seg, (uint32_t)field, d);
            if (ord == UINT32_MAX || ord >= card)
                continue;
            if (!ord_rows[ord]) {
                size_t len;
                const char *v =
                    sift_segment_keyword_value(seg, (uint32_t)field, ord, &len);
                ord_rows[ord] = histo_row(h, v ? v : "", v ? len : 0,
                                          (int64_t)seg_index, d);
            }
            ord_rows[ord][b]++;
            continue;
        }
        /* No dictionary column here: read the value from the doc. */
        sift_buf_reset(&h->doc);
        sift_arena_reset(h->arena);
        struct sift_event ev;
        rc = sift_segment_doc(seg, d, &h->doc);
        if (rc == SIFT_OK)
            rc = sift_doc_decode((const uint8_t *)h->doc.data, h->doc.len,
                                 h->arena, &ev);
        if (rc < 0)
            break;
        const struct sift_field *f = sift_event_field(&ev, by, by_len);
        if (f)
            histo_row(h, f->value, f->value_len, -1, 0)[b]++;
    }
    sift_free(ord_rows);
    return rc;
}

/* The time range [*lo, *hi) of a histogram: the query's, or where it is
 * open, the data's (one bucket's worth when there is none). */
static void
histo_range(struct sift_segment *const *segs, size_t n,
            const struct sift_agg_opts *opts, int64_t *lo_out, int64_t *hi_out)
{
    int64_t lo = opts->from_ns, hi = opts->to_ns;
    if (lo == SIFT_TIME_MIN || hi == SIFT_TIME_MAX) {
        int64_t dlo = INT64_MAX, dhi = INT64_MIN;
        for (size_t i = 0; i < n; i++) {
            if (sift_segment_doc_count(segs[i]) == 0)
                continue;
            if (sift_segment_min_ts(segs[i]) < dlo)
                dlo = sift_segment_min_ts(segs[i]);
            if (sift_segment_max_ts(segs[i]) > dhi)
                dhi = sift_segment_max_ts(segs[i]);
        }
        if (dlo > dhi) {
            dlo = 0;
            dhi = 0;
        }
        if (lo == SIFT_TIME_MIN)
            lo = dlo;
        if (hi == SIFT_TIME_MAX)
            hi = dhi == INT64_MAX ? dhi : dhi + 1;
    }
    if (hi <= lo)
        hi = lo + 1;
    *lo_out = lo;
    *hi_out = hi;
}

/* Lays out the buckets of [lo, hi) in proto (interval_ns set): start_ns,
 * n_buckets and, for calendar months or years, the bucket edges
 * (proto->edges, a heap array also stored in *edges_out for the caller to
 * free).  SIFT_ELIMIT over SIFT_AGG_MAX_BUCKETS. */
static int
histo_layout(int64_t lo, int64_t hi, int64_t iv_ms, char unit,
             struct histo *proto, int64_t **edges_out,
             struct sift_query_error *err)
{
    uint64_t nb;
    if (unit == 'M' || unit == 'y') {
        /* Calendar months or years from the first one the range touches. */
        int64_t step = iv_ms / (unit == 'M' ? MONTH_MS : YEAR_MS);
        (void)sift_time_round_down(lo, unit, &proto->start_ns);
        size_t cap = 16;
        int64_t *edges = sift_xmalloc(cap * sizeof(*edges));
        edges[0] = proto->start_ns;
        nb = 0;
        while (edges[nb] < hi) {
            if (nb >= SIFT_AGG_MAX_BUCKETS) {
                sift_free(edges);
                return sift__query_error(
                    err, SIFT_ELIMIT, 400, "too_many_buckets", -1,
                    "interval %lld%c gives more than %u buckets",
                    (long long)step, unit, SIFT_AGG_MAX_BUCKETS);
            }
            if (nb + 2 > cap) {
                cap *= 2;
                edges = sift_xrealloc(edges, cap * sizeof(*edges));
            }
            if (sift_time_add(edges[nb], step, unit, &edges[nb + 1]) < 0)
                edges[nb + 1] = INT64_MAX;
            nb++;
        }
        proto->edges = edges;
        *edges_out = edges;
    } else {
        /* Buckets are aligned on multiples of the interval since the
         * epoch; weeks start on Monday (the epoch was a Thursday). */
        int64_t off = unit == 'w' ? (int64_t)4 * 86400 * SIFT_NS_PER_SEC : 0;
        int64_t iv = proto->interval_ns;
        proto->start_ns = lo - (((lo - off) % iv) + iv) % iv;
        nb = ((uint64_t)(hi - proto->start_ns) + (uint64_t)iv - 1) /
             (uint64_t)iv;
        if (nb > SIFT_AGG_MAX_BUCKETS)
            return sift__query_error(
                err, SIFT_ELIMIT, 400, "too_many_buckets", -1,
                "interval %lldms gives %llu buckets, over the limit of %u",
                (long long)iv_ms, (unsigned long long)nb, SIFT_AGG_MAX_BUCKETS);
    }
    proto->n_buckets = (uint32_t)nb;
    return SIFT_OK;
}

int
sift_agg_histogram(struct sift_segment *const *segs, size_t n,
                   const struct sift_query *q, const struct sift_agg_opts *opts,
                   struct sift_agg_histo_result *out,
                   struct sift_query_error *err)
{
    memset(out, 0, sizeof(*out));
    int64_t lo, hi;
    histo_range(segs, n, opts, &lo, &hi);
    if (opts->field != NULL &&
        check_field_kind(segs, n, opts->field, 0, "a histogram split (by)",
                         err) < 0)
        return SIFT_EINVAL;
    int64_t iv_ms = opts->interval_ms;
    char unit = opts->interval_unit;
    if (iv_ms == 0) {
        /* Auto: weeks, months and years are calendar units. */
        iv_ms = auto_interval_ms(hi - lo);
        unit = iv_ms == WEEK_MS    ? 'w'
               : iv_ms == MONTH_MS ? 'M'
               : iv_ms == YEAR_MS  ? 'y'
                                   : 0;
    }
    if (iv_ms <= 0 || iv_ms > INT64_MAX / SIFT_NS_PER_MS)
        return sift__query_error(err, SIFT_EINVAL, 400, "bad_request", -1,
                                 "interval must be a positive duration");
    struct histo proto = {.interval_ns = iv_ms * SIFT_NS_PER_MS,
                          .by = opts->field,
                          .by_len = opts->field ? strlen(opts->field) : 0};
    int64_t *edges = NULL;
    int rc = histo_layout(lo, hi, iv_ms, unit, &proto, &edges, err);
    if (rc < 0)
        return rc;

    struct agg_par ap;
    if (agg_par_init(&ap, segs, n, q, opts) < 0) {
        sift_free(edges);
        return agg_seg_error(err, SIFT_ENOMEM);
    }
    struct histo *lanes = sift_xcalloc(ap.n_lanes, sizeof(*lanes));
    for (unsigned l = 0; l < ap.n_lanes; l++)
        histo_lane_init(&lanes[l], &proto);
    struct histo *hp = &lanes[0];
    int timed_out = 0;
    struct smap_ent **order = NULL;
    rc = for_each_match(&ap, lanes, sizeof(*lanes), histo_seg, err, &timed_out);
    if (rc < 0) {
        if (rc != SIFT_ELIMIT && !err->type)
            rc = agg_seg_error(err, rc);
        goto out;
    }
    for (unsigned l = 1; l < ap.n_lanes; l++)
        histo_merge(hp, &lanes[l]);
    /* Keep the opts->size biggest series; the rest join "_other". */
    size_t n_keep = 0;
    int any_other = 0;
    if (hp->by) {
        for (size_t i = 0; i < hp->series.cap; i++) {
            struct smap_ent *e = &hp->series.v[i];
            if (!e->key)
                continue;
            for (uint32_t b = 0; b < hp->n_buckets; b++)
                e->count += hp->rows[e->idx][b];
        }
        order = smap_sorted(&hp->series);
        n_keep = hp->series.n < opts->size ? hp->series.n : opts->size;
        for (size_t i = n_keep; i < hp->series.n; i++)
            for (uint32_t b = 0; b < hp->n_buckets; b++)
                hp->other[b] += hp->rows[order[i]->idx][b];
        for (uint32_t b = 0; b < hp->n_buckets; b++)
            any_other |= hp->other[b] != 0;
    }
    /* Each kept series' name as the events wrote it (one read each). */
    out->interval_ms = iv_ms;
    out->calendar_unit = unit;
    if (unit != 0)
        out->calendar_n = iv_ms / (unit == 'w'   ? WEEK_MS
                                   : unit == 'M' ? MONTH_MS
                                                 : YEAR_MS);
    out->n_buckets = hp->n_buckets;
    out->key_ns = sift_xcalloc(hp->n_buckets + 1, sizeof(*out->key_ns));
    out->counts = sift_xcalloc(hp->n_buckets + 1, sizeof(*out->counts));
    for (uint32_t b = 0; b < hp->n_buckets; b++) {
        out->key_ns[b] = hp->edges != NULL
                             ? hp->edges[b]
                             : hp->start_ns + (int64_t)b * hp->interval_ns;
        out->counts[b] = hp->counts[b];
    }
    out->split = hp->by != NULL;
    out->n_series = (uint32_t)n_keep;
    out->series = sift_xcalloc(n_keep + 1, sizeof(*out->series));
    out->series_len = sift_xcalloc(n_keep + 1, sizeof(*out->series_len));
    out->series_counts =
        sift_xcalloc(n_keep * hp->n_buckets + 1, sizeof(*out->series_counts));
    for (size_t i = 0; i < n_keep; i++) {
        const char *name = order[i]->key;
        size_t name_len = order[i]->len;
        spelling_of(segs, order[i], hp->by, hp->by_len, &hp->doc, hp->arena,
                    &name, &name_len);
        out->series[i] = sift_xstrndup(name, name_len);
        out->series_len[i] = name_len;
        memcpy(&out->series_counts[i * hp->n_buckets], hp->rows[order[i]->idx],
               hp->n_buckets * sizeof(uint64_t));
    }
    if (any_other) {
        out->other = sift_xcalloc(hp->n_buckets + 1, sizeof(*out->other));
        memcpy(out->other, hp->other, hp->n_buckets * sizeof(uint64_t));
    }
    out->timed_out = timed_out;
    rc = SIFT_OK;
out:
    sift_free(order);
    for (unsigned l = 0; l < ap.n_lanes; l++)
        histo_lane_cleanup(&lanes[l]);
    sift_free(lanes);
    sift_free(edges);
    agg_par_cleanup(&ap);
    return rc;
}

/* ---- top-N terms ---- */

struct terms {
    struct smap map;
    const char *field;
    size_t field_len;
    const roaring_bitmap_t *r;
    const struct sift_segment *seg;
    uint32_t fi;
    struct sift_qctx *ctx;
    int rc;
    uint64_t missing;
};

static int
terms_term_cb(const char *term, size_t len, void *arg)
{
    struct terms *t = arg;
    if (sift__query_check_deadline(t->ctx)) {
        t->rc = SIFT_ETIMEOUT;
        return 1;
    }
    roaring_bitmap_t *p = NULL;
    int rc = sift_segment_postings(t->seg, t->fi, term, len, &p);
    if (rc < 0) {
        t->rc = rc;
        return 1;
    }
    if (!p)
        return 0;
    uint64_t c = roaring_bitmap_and_cardinality(p, t->r);
    roaring_bitmap_free(p);
    if (c) {
        struct smap_ent *e = smap_get(&t->map, term, len, SIZE_MAX);
        e->count += c;
    }
    return 0;
}

static int
terms_seg(const struct sift_segment *seg, size_t seg_index,
          const roaring_bitmap_t *r, struct sift_qctx *ctx, void *arg)
{
    struct terms *t = arg;
    int fi = sift__query_field_find(seg, t->field, t->field_len, NULL, NULL);
    if (fi < 0) {
        t->missing += roaring_bitmap_get_cardinality(r);
        return SIFT_OK;
    }
    unsigned flags = 0;
    uint32_t nt;
    (void)sift_segment_field_info(seg, (uint32_t)fi, &flags, &nt);
    if (flags & SIFT_SEGF_KEYWORD) {
        uint32_t card = sift_segment_keyword_card(seg, (uint32_t)fi);
        uint64_t *counts = sift_xcalloc(card + 1, sizeof(*counts));
        uint32_t *first = sift_xmalloc((card + 1) * sizeof(*first));
        int rc = SIFT_OK;
        roaring_uint32_iterator_t it;
        roaring_init_iterator(r, &it);
        for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
            if (sift__query_check_deadline(ctx)) {
                rc = SIFT_ETIMEOUT;
                break;
            }
            uint32_t ord =
                sift_segment_keyword_ord(seg, (uint32_t)fi, it.current_value);
            if (ord >= card) {
                t->missing++;
                continue;
            }
            if (counts[ord]++ == 0)
                first[ord] = it.current_value;
        }
        for (uint32_t o = 0; o < card; o++) {
            if (!counts[o])
                continue;
            size_t len;
            const char *v =
                sift_segment_keyword_value(seg, (uint32_t)fi, o, &len);
            struct smap_ent *e =
                smap_get(&t->map, v ? v : "", v ? len : 0, SIZE_MAX);
            e->count += counts[o];
            if (e->sample_seg < 0 || (size_t)e->sample_seg > seg_index) {
                e->sample_seg = (int64_t)seg_index;
                e->sample_doc = first[o];
            }
        }
        sift_free(first);
        sift_free(counts);
        return rc;
    }
    t->seg = seg;
    t->fi = (uint32_t)fi;
    t->r = r;
    t->ctx = ctx;
    t->rc = SIFT_OK;
    int rc = sift_segment_terms(seg, (uint32_t)fi, "", 0, terms_term_cb, t);
    return rc < 0 ? rc : t->rc;
}

int
sift_agg_terms(struct sift_segment *const *segs, size_t n,
               const struct sift_query *q, const struct sift_agg_opts *opts,
               struct sift_agg_terms_result *out, struct sift_query_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!opts->field || !*opts->field)
        return sift__query_error(err, SIFT_EINVAL, 400, "bad_request", -1,
                                 "missing parameter 'field'");
    if (check_field_kind(segs, n, opts->field, 0, "terms", err) < 0)
        return SIFT_EINVAL;
    struct agg_par ap;
    if (agg_par_init(&ap, segs, n, q, opts) < 0)
        return agg_seg_error(err, SIFT_ENOMEM);
    struct terms *lanes = sift_xcalloc(ap.n_lanes, sizeof(*lanes));
    for (unsigned l = 0; l < ap.n_lanes; l++) {
        lanes[l].field = opts->field;
        lanes[l].field_len = strlen(opts->field);
    }
    int timed_out = 0;
    int rc =
        for_each_match(&ap, lanes, sizeof(*lanes), terms_seg, err, &timed_out);
    /* Counts are sums: the lanes fold into lane 0 in any order. */
    struct terms t = lanes[0];
    for (unsigned l = 1; l < ap.n_lanes; l++) {
        const struct smap *m = &lanes[l].map;
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].key)
                continue;
            struct smap_ent *e =
                smap_get(&t.map, m->v[i].key, m->v[i].len, SIZE_MAX);
            e->count += m->v[i].count;
            if (m->v[i].sample_seg >= 0 &&
                (e->sample_seg < 0 || e->sample_seg > m->v[i].sample_seg)) {
                e->sample_seg = m->v[i].sample_seg;
                e->sample_doc = m->v[i].sample_doc;
            }
        }
        t.missing += lanes[l].missing;
        smap_free(&lanes[l].map);
    }
    sift_free(lanes);
    agg_par_cleanup(&ap);
    if (rc < 0) {
        if (!err->type)
            rc = agg_seg_error(err, rc);
        smap_free(&t.map);
        return rc;
    }
    struct smap_ent **order = smap_sorted(&t.map);
    size_t n_keep = t.map.n < opts->size ? t.map.n : opts->size;
    uint64_t other = 0;
    for (size_t i = n_keep; i < t.map.n; i++)
        other += order[i]->count;
    struct sift_buf doc = SIFT_BUF_INIT;
    struct sift_arena *arena = sift_arena_new(8192);
    out->field = sift_xstrndup(t.field, t.field_len);
    out->field_len = t.field_len;
    out->buckets = sift_xcalloc(n_keep + 1, sizeof(*out->buckets));
    out->n_buckets = n_keep;
    for (size_t i = 0; i < n_keep; i++) {
        const char *key = order[i]->key;
        size_t key_len = order[i]->len;
        spelling_of(segs, order[i], t.field, t.field_len, &doc, arena, &key,
                    &key_len);
        out->buckets[i].key = sift_xstrndup(key, key_len);
        out->buckets[i].key_len = key_len;
        out->buckets[i].count = order[i]->count;
    }
    out->other = other;
    out->missing = t.missing;
    out->timed_out = timed_out;
    sift_arena_free(arena);
    sift_buf_cleanup(&doc);
    sift_free(order);
    smap_free(&t.map);
    return SIFT_OK;
}

/* ---- numeric stats ---- */

/* A value with its sampling priority (bottom-k sampling, below):
 * struct sift_agg_sample of query.h. */
#define sval sift_agg_sample

/*
 * Stats of one lane.  Sums are kept per segment (seg_sum, shared by the
 * lanes, one slot per segment) and added in segment order at the end, so
 * the floating-point sum does not depend on how segments were spread.
 * Percentile values are a bottom-k sample: each value gets the priority
 * XXH3(segment index, doc id) and the SIFT_AGG_MAX_VALUES smallest
 * priorities are kept - every value when there are fewer - which is a
 * uniform sample that is the same for any lane split.
 */
struct stats {
    const char *field;
    size_t field_len;
    uint64_t count;
    double min, max;
    double *seg_sum; /* [segment index], shared */
    struct sval *vals;
    size_t n_vals, cap_vals;
    int is_heap; /* vals is a max-heap on (prio, v): sample full */
};

static int
sval_less(const struct sval *a, const struct sval *b)
{
    return a->prio != b->prio ? a->prio < b->prio : a->v < b->v;
}

static void
sval_sift_down(struct sval *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && sval_less(&h[m], &h[l]))
            m = l;
        if (r < n && sval_less(&h[m], &h[r]))
            m = r;
        if (m == i)
            return;
        struct sval t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int
stats_add(struct stats *s, uint64_t prio, double v)
{
    struct sval x = {.prio = prio, .v = v};
    if (s->n_vals < SIFT_AGG_MAX_VALUES) {
        if (s->n_vals == s->cap_vals) {
            size_t cap = s->cap_vals ? s->cap_vals * 2 : 1024;
            if (cap > SIFT_AGG_MAX_VALUES)
                cap = SIFT_AGG_MAX_VALUES;
            struct sval *nv = sift_try_realloc(s->vals, cap * sizeof(*nv));
            if (!nv)
                return SIFT_ENOMEM;
            s->vals = nv;
            s->cap_vals = cap;
        }
        s->vals[s->n_vals++] = x;
        return SIFT_OK;
    }
    if (!s->is_heap) {
        for (size_t i = s->n_vals / 2; i-- > 0;)
            sval_sift_down(s->vals, s->n_vals, i);
        s->is_heap = 1;
    }
    if (sval_less(&x, &s->vals[0])) {
        s->vals[0] = x;
        sval_sift_down(s->vals, s->n_vals, 0);
    }
    return SIFT_OK;
}

static int
stats_seg(const struct sift_segment *seg, size_t seg_index,
          const roaring_bitmap_t *r, struct sift_qctx *ctx, void *arg)
{
    struct stats *s = arg;
    int fi = sift__query_field_find(seg, s->field, s->field_len, NULL, NULL);
    if (fi < 0)
        return SIFT_OK;
    unsigned flags = 0;
    uint32_t nt;
    (void)sift_segment_field_info(seg, (uint32_t)fi, &flags, &nt);
    if (!(flags & SIFT_SEGF_NUMBER))
        return SIFT_OK;
    double sum = 0;
    int rc = SIFT_OK;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(r, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        if (sift__query_check_deadline(ctx)) {
            rc = SIFT_ETIMEOUT;
            break;
        }
        uint32_t d = it.current_value;
        double v;
        if (sift_segment_number(seg, (uint32_t)fi, d, &v) != SIFT_OK)
            continue;
        if (s->count == 0 || v < s->min)
            s->min = v;
        if (s->count == 0 || v > s->max)
            s->max = v;
        sum += v;
        s->count++;
        uint64_t prio = XXH3_64bits_withSeed(&d, sizeof(d), seg_index);
        if ((rc = stats_add(s, prio, v)) < 0)
            break;
    }
    s->seg_sum[seg_index] += sum;
    return rc;
}

static int
cmp_sval(const void *a, const void *b)
{
    const struct sval *x = a, *y = b;
    return sval_less(x, y) ? -1 : sval_less(y, x);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * Linear interpolation between closest ranks (numpy's default), for a
 * whole percent pct.  The rank pct * (n - 1) / 100 is split exactly in
 * integers, and the value is (v[i] * (100 - r) + v[i+1] * r) / 100 with
 * one rounding at the end, so decimal answers come out as the double
 * nearest to them: p90 of 95 and 812 is 740.3, not 740.3000000000001.
 */
double
sift_agg_percentile(const double *v, size_t n, unsigned pct)
{
    uint64_t num = (uint64_t)pct * (uint64_t)(n - 1);
    size_t i = (size_t)(num / 100);
    unsigned r = (unsigned)(num % 100);
    if (i + 1 >= n || r == 0)
        return v[i < n ? i : n - 1];
    return (v[i] * (double)(100 - r) + v[i + 1] * (double)r) / 100.0;
}

int
sift_agg_stats(struct sift_segment *const *segs, size_t n,
               const struct sift_query *q, const struct sift_agg_opts *opts,
               struct sift_agg_stats_result *out, struct sift_query_error *err)
{
    memset(out, 0, sizeof(*out));
    if (!opts->field || !*opts->field)
        return sift__query_error(err, SIFT_EINVAL, 400, "bad_request", -1,
                                 "missing parameter 'field'");
    if (check_field_kind(segs, n, opts->field, 1, "stats", err) < 0)
        return SIFT_EINVAL;
    struct agg_par ap;
    if (agg_par_init(&ap, segs, n, q, opts) < 0)
        return agg_seg_error(err, SIFT_ENOMEM);
    struct stats *lanes = sift_xcalloc(ap.n_lanes, sizeof(*lanes));
    double *seg_sum = sift_xcalloc(n + 1, sizeof(*seg_sum));
    for (unsigned l = 0; l < ap.n_lanes; l++) {
        lanes[l].field = opts->field;
        lanes[l].field_len = strlen(opts->field);
        lanes[l].seg_sum = seg_sum;
    }
    int timed_out = 0;
    double *vals = NULL;
    size_t n_vals = 0;
    struct stats s = {.field = opts->field, .field_len = strlen(opts->field)};
    int rc =
        for_each_match(&ap, lanes, sizeof(*lanes), stats_seg, err, &timed_out);
    if (rc < 0) {
        if (!err->type)
            rc = agg_seg_error(err, rc);
        goto out;
    }
    /* Merge: min/max/count in any order, sums in segment order, and the
     * smallest priorities of all lanes' samples. */
    size_t total_vals = 0;
    for (unsigned l = 0; l < ap.n_lanes; l++) {
        const struct stats *x = &lanes[l];
        if (x->count && (s.count == 0 || x->min < s.min))
            s.min = x->min;
        if (x->count && (s.count == 0 || x->max > s.max))
            s.max = x->max;
        s.count += x->count;
        total_vals += x->n_vals;
    }
    double sum = 0;
    for (size_t k = 0; k < ap.n_idx; k++)
        sum += seg_sum[ap.idx[k]];
    struct sval *all = lanes[0].vals;
    if (ap.n_lanes > 1 && total_vals) {
        all = sift_try_malloc(total_vals * sizeof(*all));
        if (!all) {
            rc = agg_seg_error(err, SIFT_ENOMEM);
            goto out;
        }
        size_t o = 0;
        for (unsigned l = 0; l < ap.n_lanes; l++) {
            if (lanes[l].n_vals)
                memcpy(all + o, lanes[l].vals, lanes[l].n_vals * sizeof(*all));
            o += lanes[l].n_vals;
        }
    }
    if (total_vals > SIFT_AGG_MAX_VALUES) {
        qsort(all, total_vals, sizeof(*all), cmp_sval);
        total_vals = SIFT_AGG_MAX_VALUES;
    }
    vals = sift_try_malloc((total_vals + 1) * sizeof(*vals));
    if (!vals) {
        if (all != lanes[0].vals)
            sift_free(all);
        rc = agg_seg_error(err, SIFT_ENOMEM);
        goto out;
    }
    for (size_t i = 0; i < total_vals; i++)
        vals[i] = all[i].v;
    n_vals = total_vals;
    /* The sample leaves with the result (lane 0's array when it is all). */
    if (all == lanes[0].vals)
        lanes[0].vals = NULL;
    out->sample = all;
    out->n_sample = n_vals;
    out->field = sift_xstrndup(s.field, s.field_len);
    out->field_len = s.field_len;
    out->count = s.count;
    out->percentiles_exact = s.count == n_vals;
    if (s.count != 0) {
        qsort(vals, n_vals, sizeof(double), cmp_double);
        out->min = s.min;
        out->max = s.max;
        out->sum = sum;
        out->p50 = sift_agg_percentile(vals, n_vals, 50);
        out->p90 = sift_agg_percentile(vals, n_vals, 90);
        out->p99 = sift_agg_percentile(vals, n_vals, 99);
    }
    out->timed_out = timed_out;
    rc = SIFT_OK;
out:
    for (unsigned l = 0; l < ap.n_lanes; l++)
        sift_free(lanes[l].vals);
    sift_free(lanes);
    sift_free(seg_sum);
    sift_free(vals);
    agg_par_cleanup(&ap);
    return rc;
}

/* ---- field list ---- */

void
sift_agg_fields(struct sift_segment *const *segs, size_t n,
                struct sift_agg_fields_result *out)
{
    memset(out, 0, sizeof(*out));
    struct smap m = {0};
    /* count holds flags in the low byte and cardinality above it. */
    for (size_t i = 0; i < n; i++) {
        uint32_t nf = sift_segment_field_count(segs[i]);
        for (uint32_t f = 0; f < nf; f++) {
            unsigned flags = 0;
            uint32_t nt = 0;
            const char *name = sift_segment_field_info(segs[i], f, &flags, &nt);
            if (!name)
                continue;
            struct smap_ent *e = smap_get(&m, name, strlen(name), SIZE_MAX);
            uint64_t card = e->count >> 8;
            if (nt > card)
                card = nt;
            e->count = card << 8 | ((e->count | flags) & 0xff);
        }
    }
    struct smap_ent **v = sift_xmalloc((m.n + 1) * sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < m.cap; i++)
        if (m.v[i].key)
            v[k++] = &m.v[i];
    /* Sorted by name (insertion sort: field lists are short). */
    for (size_t i = 1; i < k; i++) {
        struct smap_ent *x = v[i];
        size_t j = i;
        while (j > 0 && strcmp(v[j - 1]->key, x->key) > 0) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
    out->v = sift_xcalloc(k + 1, sizeof(*out->v));
    out->n = k;
    for (size_t i = 0; i < k; i++) {
        out->v[i].name = sift_xstrndup(v[i]->key, v[i]->len);
        out->v[i].name_len = v[i]->len;
        out->v[i].kinds =
            (unsigned)(v[i]->count & 0xff) &
            (SIFT_SEGF_TEXT | SIFT_SEGF_KEYWORD | SIFT_SEGF_NUMBER);
        out->v[i].cardinality = v[i]->count >> 8;
    }
    sift_free(v);
    smap_free(&m);
}

/* ---- results ---- */

void
sift_agg_histo_result_cleanup(struct sift_agg_histo_result *r)
{
    for (uint32_t i = 0; i < r->n_series; i++)
        sift_free(r->series[i]);
    sift_free(r->series);
    sift_free(r->series_len);
    sift_free(r->series_counts);
    sift_free(r->other);
    sift_free(r->key_ns);
    sift_free(r->counts);
    memset(r, 0, sizeof(*r));
}

void
sift_agg_terms_result_cleanup(struct sift_agg_terms_result *r)
{
    for (size_t i = 0; i < r->n_buckets; i++)
        sift_free(r->buckets[i].key);
    sift_free(r->buckets);
    sift_free(r->field);
    memset(r, 0, sizeof(*r));
}

void
sift_agg_stats_result_cleanup(struct sift_agg_stats_result *r)
{
    sift_free(r->sample);
    sift_free(r->field);
    memset(r, 0, sizeof(*r));
}

void
sift_agg_fields_result_cleanup(struct sift_agg_fields_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        sift_free(r->v[i].name);
    sift_free(r->v);
    memset(r, 0, sizeof(*r));
}
