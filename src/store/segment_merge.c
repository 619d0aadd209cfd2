/*
 * segment_merge.c - merge segments into new images for a target tier, and
 * train the cold tier's zstd dictionary.
 *
 * Design: a merge reads every live doc of its inputs through the public
 * reader (sift_segment_doc() + sift_doc_decode()), skipping docs in
 * sift_segment_deleted(), and feeds builders created with the target
 * tier's options.  The builder sorts by time, so inputs need no k-way
 * merge; tombstoned docs are simply not copied, which is how deletes
 * become physical.  Splitting by UTC day (cold tier) keeps one builder per
 * day and emits the images in ascending day order.  Nothing here knows
 * the byte format, so the segment encoding can change underneath.
 *
 * Memory: with an emit callback each output leaves as soon as it is
 * finished (the store writes it to a file), so the finished images of a
 * long merge are not all held at once; each input's mapped pages are
 * dropped from the resident set once it has been read
 * (sift_segment_drop_pages()).  A builder holds every doc it was fed
 * plus its index until the image is finished, so an unbounded merge
 * needs memory in proportion to its input.  With a memory cap, once the
 * open builders together hold cap bytes (sift_segment_builder_bytes()),
 * the largest one is finished into an output of its own ("cut", marked
 * full so the policy does not merge it again) and a new builder takes
 * the following docs.  Outputs may then overlap in time; queries do not
 * care.  max_outs keeps the output count within the ids the caller
 * reserved: near it, no more cuts.  The builders' total is also
 * published through `held` (the store takes it out of its ingest budget).
 *
 * Dictionary training samples docs evenly across all inputs (whole
 * encoded docs, the unit the doc store compresses) and calls
 * ZDICT_trainFromBuffer().  Too little data is not an error: the caller
 * builds without a dictionary.
 *
 * Context: any thread; functions touch only their arguments (the reader's
 * per-thread block cache is thread-local).
 */
#include <stdlib.h>
#include <string.h>

#include <zdict.h>

#include "lifecycle_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/log.h"

/* Floor division so days before 1970 group correctly. */
static int64_t
day_of(int64_t ts_ns)
{
    int64_t d = ts_ns / SIFT_NS_PER_DAY;
    if (ts_ns % SIFT_NS_PER_DAY < 0)
        d--;
    return d;
}

struct day_builder {
    int64_t day;
    struct sift_segment_builder *b;
    uint64_t raw_bytes;
};

struct merge_state {
    const struct sift_segment_opts *opts;
    int split;
    struct day_builder *v;
    size_t n, cap;
    uint64_t mem_cap;         /* 0 = unbounded */
    size_t max_outs;          /* ids reserved by the caller */
    struct sift_merge_out *o; /* finished outputs */
    size_t n_o, cap_o;
    uint64_t seq; /* cut order, keeps a day's outputs in order */
    struct sift_merge_stats *st;
    sift_merge_emit_fn emit; /* NULL: outputs stay in m->o */
    void *emit_arg;
    atomic_uint_least64_t *held; /* builder bytes published, or NULL */
};

static int
builder_for(struct merge_state *m, int64_t day, struct day_builder **out)
{
    if (!m->split)
        day = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].day == day) {
            *out = &m->v[i];
            return SIFT_OK;
        }
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 4;
        m->v = sift_xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    struct sift_segment_builder *b = NULL;
    int rc = sift_segment_builder_new(m->opts, &b);
    if (rc < 0)
        return rc;
    m->v[m->n].day = day;
    m->v[m->n].b = b;
    m->v[m->n].raw_bytes = 0;
    *out = &m->v[m->n];
    m->n++;
    return SIFT_OK;
}

static int
cmp_out(const void *a, const void *b)
{
    const struct sift_merge_out *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
sift__merge_outs_free(struct sift_merge_out *outs, size_t n)
{
    if (!outs)
        return;
    for (size_t i = 0; i < n; i++)
        sift_buf_cleanup(&outs[i].img);
    sift_free(outs);
}

/* Finishes builder i into a new output and removes it from m->v. */
static int
finish_builder(struct merge_state *m, size_t i, int full)
{
    if (m->n_o == m->cap_o) {
        m->cap_o = m->cap_o ? m->cap_o * 2 : 4;
        m->o = sift_xrealloc(m->o, m->cap_o * sizeof(*m->o));
    }
    struct day_builder *db = &m->v[i];
    struct sift_merge_out *x = &m->o[m->n_o];
    memset(x, 0, sizeof(*x));
    sift_buf_init(&x->img);
    x->day = db->day;
    x->docs = sift_segment_builder_count(db->b);
    x->raw_bytes = db->raw_bytes;
    x->full = full;
    x->seq = m->seq++;
    m->n_o++;
    uint64_t held = sift_segment_builder_bytes(db->b);
    if (held > m->st->builder_peak)
        m->st->builder_peak = held;
    int rc = sift_segment_builder_finish(db->b, &x->img);
    /* Free each builder as soon as its image exists: days are big. */
    sift_segment_builder_free(db->b);
    m->v[i] = m->v[--m->n];
    if (rc < 0)
        return rc;
    m->st->bytes_out += x->img.len;
    if (full)
        m->st->cuts++;
    return m->emit ? m->emit(m->emit_arg, x) : SIFT_OK;
}

/*
 * Keeps the open builders under m->mem_cap: past it, the largest is
 * finished now.  Checked every few docs (the sum walks every builder).
 */
static int
enforce_cap(struct merge_state *m)
{
    if ((m->mem_cap == 0 && m->held == NULL) || m->n == 0)
        return SIFT_OK;
    uint64_t total = 0, big = 0;
    size_t at = 0;
    for (size_t i = 0; i < m->n; i++) {
        uint64_t b = sift_segment_builder_bytes(m->v[i].b);
        total += b;
        if (b >= big) {
            big = b;
            at = i;
        }
    }
    if (total > m->st->builder_peak)
        m->st->builder_peak = total;
    if (m->held)
        atomic_store_explicit(m->held, total, memory_order_relaxed);
    if (m->mem_cap == 0 || total < m->mem_cap ||
        m->n_o + m->n + 1 >= m->max_outs)
        return SIFT_OK;
    return finish_builder(m, at, 1);
}

/* Copies the live docs of one input into the day builders. */
static int
merge_one(struct merge_state *m, struct sift_segment *seg,
          struct sift_arena *arena, struct sift_buf *doc)
{
    struct sift_merge_stats *st = m->st;
    const roaring_bitmap_t *del = sift_segment_deleted(seg);
    uint32_t n = sift_segment_doc_count(seg);
    for (uint32_t d = 0; d < n; d++) {
        if (del && roaring_bitmap_contains(del, d)) {
            st->docs_dropped++;
            continue;
        }
        sift_buf_reset(doc);
        int rc = sift_segment_doc(seg, d, doc);
        if (rc < 0)
            return rc;
        struct sift_event ev;
        sift_arena_reset(arena);
        rc = sift_doc_decode((const uint8_t *)doc->data, doc->len, arena, &ev);
        if (rc < 0)
            return rc;
        struct day_builder *db;
        rc = builder_for(m, day_of(ev.ts_ns), &db);
        if (rc < 0)
            return rc;
        rc = sift_segment_builder_add(db->b, &ev);
        if (rc < 0)
            return rc;
        db->raw_bytes += doc->len;
        st->docs_in++;
        if ((st->docs_in & 63) == 0 && (rc = enforce_cap(m)) < 0)
            return rc;
    }
    return SIFT_OK;
}

int
sift__segment_merge(struct sift_segment *const *in, size_t n,
                    const struct sift_segment_opts *opts, int split_by_day,
                    uint64_t mem_cap, size_t max_outs,
                    struct sift_merge_out **outs, size_t *n_outs,
                    struct sift_merge_stats *stats)
{
    return sift__segment_merge_emit(in, n, opts, split_by_day, mem_cap,
                                    max_outs, NULL, NULL, NULL, outs, n_outs,
                                    stats);
}

int
sift__segment_merge_emit(struct sift_segment *const *in, size_t n,
                         const struct sift_segment_opts *opts, int split_by_day,
                         uint64_t mem_cap, size_t max_outs,
                         sift_merge_emit_fn emit, void *emit_arg,
                         atomic_uint_least64_t *held,
                         struct sift_merge_out **outs, size_t *n_outs,
                         struct sift_merge_stats *stats)
{
    struct sift_merge_stats st;
    struct merge_state m;
    struct sift_arena *arena = sift_arena_new(64 << 10);
    struct sift_buf doc = SIFT_BUF_INIT;
    int rc = SIFT_OK;

    memset(&st, 0, sizeof(st));
    memset(&m, 0, sizeof(m));
    m.opts = opts;
    m.split = split_by_day;
    m.mem_cap = mem_cap;
    m.max_outs = max_outs ? max_outs : SIZE_MAX;
    m.st = &st;
    m.emit = emit;
    m.emit_arg = emit_arg;
    m.held = held;
    *outs = NULL;
    *n_outs = 0;
    for (size_t i = 0; i < n && rc == SIFT_OK; i++) {
        st.bytes_in += sift_segment_bytes(in[i]);
        rc = merge_one(&m, in[i], arena, &doc);
        /* Read once, front to back: its pages need not stay resident
         * while the next inputs are read (a merge's RSS would otherwise
         * grow with its input). */
        sift_segment_drop_pages(in[i]);
    }
    /* The last builders, one per day at most: the qsort below orders them
     * after that day's cuts (larger seq), so any finishing order works. */
    while (rc == SIFT_OK && m.n > 0)
        rc = finish_builder(&m, m.n - 1, 0);
    if (rc < 0)
        goto out;
    if (m.n_o > 1)
        qsort(m.o, m.n_o, sizeof(*m.o), cmp_out);
    *outs = m.o;
    *n_outs = m.n_o;
    m.o = NULL;
out:
    if (m.o)
        sift__merge_outs_free(m.o, m.n_o);
    for (size_t i = 0; i < m.n; i++)
        sift_segment_builder_free(m.v[i].b);
    sift_free(m.v);
    sift_buf_cleanup(&doc);
    sift_arena_free(arena);
    if (stats)
        *stats = st;
    return rc;
}

int
sift__segment_train_dict(struct sift_segment *const *in, size_t n,
                         size_t dict_cap, void **dict, size_t *len)
{
    uint64_t live = 0, bytes = 0;
    *dict = NULL;
    *len = 0;
    if (dict_cap < 1024)
        return SIFT_ENOTFOUND;
    for (size_t i = 0; i < n; i++) {
        live += sift_segment_doc_count(in[i]);
        bytes += sift_segment_bytes(in[i]);
    }
    if (live < 64)
        return SIFT_ENOTFOUND;
    /*
     * Aim for ~100x the dictionary in samples (zstd's advice) and assume
     * docs compress ~4x in the images, so estimate the raw size from it.
     */
    uint64_t want = (uint64_t)dict_cap * 100;
    uint64_t raw_est = bytes * 4 + 1;
    uint64_t stride = raw_est > want ? raw_est / want : 1;
    if (stride < 1)
        stride = 1;
    struct sift_buf samples = SIFT_BUF_INIT, doc = SIFT_BUF_INIT;
    size_t *sizes = NULL, n_sizes = 0, cap_sizes = 0;
    int rc = SIFT_OK;
    uint64_t k = 0;
    for (size_t i = 0; i < n && samples.len < want; i++) {
        const roaring_bitmap_t *del = sift_segment_deleted(in[i]);
        uint32_t nd = sift_segment_doc_count(in[i]);
        for (uint32_t d = 0; d < nd && samples.len < want; d++, k++) {
            if (k % stride != 0 || (del && roaring_bitmap_contains(del, d)))
                continue;
            sift_buf_reset(&doc);
            rc = sift_segment_doc(in[i], d, &doc);
            if (rc < 0)
                goto out;
            sift_buf_append(&samples, doc.data, doc.len);
            if (n_sizes == cap_sizes) {
                cap_sizes = cap_sizes ? cap_sizes * 2 : 256;
                sizes = sift_xrealloc(sizes, cap_sizes * sizeof(*sizes));
            }
            sizes[n_sizes++] = doc.len;
        }
    }
    if (n_sizes < 64 || samples.len < dict_cap) {
        rc = SIFT_ENOTFOUND;
        goto out;
    }
    void *d = sift_try_malloc(dict_cap);
    if (!d) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    size_t got = ZDICT_trainFromBuffer(d, dict_cap, samples.data, sizes,
                                       (unsigned)n_sizes);
    if (ZDICT_isError(got)) {
        SIFT_DEBUG("lifecycle: no dictionary from %zu samples (%zu bytes): %s",
                   n_sizes, samples.len, ZDICT_getErrorName(got));
        sift_free(d);
        rc = SIFT_ENOTFOUND;
        goto out;
    }
    *dict = d;
    *len = got;
out:
    sift_free(sizes);
    sift_buf_cleanup(&samples);
    sift_buf_cleanup(&doc);
    return rc;
}
