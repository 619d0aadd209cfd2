/*
 * patterns.c - counts of the matching docs per template id, over
 * immutable segments (the engine of GET /api/v1/patterns).
 *
 * Design.  The query string is parsed once by the query engine
 * (sift_query_parse: the full query language); per segment the engine
 * gives the bitmap of matching docs in the time window, deleted docs
 * excluded (sift_query_match_parsed).  Every matching doc adds one to
 * its template's entry, read from the "_template_id" numeric column; the entry
 * also keeps first/last seen and the newest doc as the sample.  Entries live in
 * an open-addressing table keyed by id (input-sized, so allocated with
 * sift_try_*).  Afterwards the top `size` entries by count are rendered;
 * only those fetch a doc (the sample) and a template text.
 *
 * Per template a series of counts per time bucket over the query's range
 * (an open end taken from the data; automatic or given interval) shows
 * which template grew.  Ids that were merged into another template (drain
 * aliases) are counted under that template's id.
 *
 * Invariants: a doc is counted at most once (one bitmap per segment);
 * ordering is count desc then id asc, so the answer is deterministic.
 * Thread: pure over immutable segments; any thread (workers).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "sift/alloc.h"
#include "sift/anomaly_service.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/patterns.h"
#include "sift/query.h"
#include "sift/segment.h"

#define TEMPLATE_FIELD "_template_id"
#define CHECK_EVERY 4096u  /* docs between deadline checks */
#define SERIES_BUCKETS 60u /* buckets of an automatic interval (about) */
#define SERIES_MAX_BUCKETS 1000u

struct entry {
    uint32_t id;
    int used;
    uint64_t count;
    int64_t first_ns, last_ns;
    uint32_t seg, doc; /* sample: newest doc */
    uint32_t *series;  /* n_buckets counts (owned), NULL until a doc */
};

struct counter {
    struct entry *tab;
    uint32_t cap; /* power of two */
    uint32_t n;
    uint64_t total;
    /* per segment */
    struct sift_segment *seg;
    uint32_t seg_idx;
    int tfield;
    int64_t deadline;
    uint32_t since_check;
    int timed_out;
    int nomem;
    /* per-template series: bucket b is [start + b*interval, +interval) */
    int64_t start_ns;
    int64_t interval_ns;
    uint32_t n_buckets; /* 0 = no series */
};

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void
fail(struct sift_patterns_error *err, int status, const char *type,
     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
    err->status = status;
    err->type = type;
}

static void
from_query_error(struct sift_patterns_error *err,
                 const struct sift_query_error *qe)
{
    err->status = qe->status ? qe->status : 400;
    err->type = qe->type ? qe->type : "query_parse";
    snprintf(err->reason, sizeof(err->reason), "%s", qe->reason);
}

/* ------------------------------------------------------------------ */
/* Counting                                                             */
/* ------------------------------------------------------------------ */

static uint32_t
hash_id(uint32_t id)
{
    return id * 2654435761u;
}

static int
counter_grow(struct counter *c)
{
    uint32_t cap = c->cap ? c->cap * 2 : 256;
    struct entry *t = sift_try_calloc(cap, sizeof(*t));
    if (!t)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < c->cap; i++) {
        if (!c->tab[i].used)
            continue;
        uint32_t h = hash_id(c->tab[i].id) & (cap - 1);
        while (t[h].used)
            h = (h + 1) & (cap - 1);
        t[h] = c->tab[i];
    }
    sift_free(c->tab);
    c->tab = t;
    c->cap = cap;
    return SIFT_OK;
}

static bool
count_doc(uint32_t doc, void *arg)
{
    struct counter *c = arg;
    if (c->deadline && ++c->since_check >= CHECK_EVERY) {
        c->since_check = 0;
        if (sift_clock_mono_ns() > c->deadline) {
            c->timed_out = 1;
            return false;
        }
    }
    uint32_t id = SIFT_TEMPLATE_NONE;
    double v;
    if (c->tfield >= 0 &&
        sift_segment_number(c->seg, (uint32_t)c->tfield, doc, &v) == SIFT_OK &&
        v >= 0 && v <= (double)UINT32_MAX)
        id = (uint32_t)v;
    if ((c->n + 1) * 2 > c->cap && counter_grow(c) < 0) {
        c->nomem = 1;
        return false;
    }
    uint32_t h = hash_id(id) & (c->cap - 1);
    while (c->tab[h].used && c->tab[h].id != id)
        h = (h + 1) & (c->cap - 1);
    struct entry *e = &c->tab[h];
    int64_t ts = sift_segment_doc_ts(c->seg, doc);
    if (!e->used) {
        e->used = 1;
        e->id = id;
        e->first_ns = e->last_ns = ts;
        e->seg = c->seg_idx;
        e->doc = doc;
        c->n++;
    } else {
        if (ts < e->first_ns)
            e->first_ns = ts;
        if (ts >= e->last_ns) {
            e->last_ns = ts;
            e->seg = c->seg_idx;
            e->doc = doc;
        }
    }
    e->count++;
    c->total++;
    if (c->n_buckets && ts >= c->start_ns) {
        uint64_t b = (uint64_t)(ts - c->start_ns) / (uint64_t)c->interval_ns;
        if (b < c->n_buckets) {
            if (!e->series) {
                e->series = sift_try_calloc(c->n_buckets, sizeof(uint32_t));
                if (!e->series) {
                    c->nomem = 1;
                    return false;
                }
            }
            e->series[b]++;
        }
    }
    return true;
}

static int
count_segment(struct counter *c, struct sift_segment *seg, uint32_t seg_idx,
              const struct sift_query *q, const struct sift_patterns_opts *o,
              struct sift_query_error *qe)
{
    if (sift_segment_doc_count(seg) == 0 ||
        sift_segment_max_ts(seg) < o->from_ns ||
        sift_segment_min_ts(seg) >= o->to_ns)
        return SIFT_OK;
    roaring_bitmap_t *m = NULL;
    int rc =
        sift_query_match_parsed(q, seg, o->from_ns, o->to_ns,
                                o->deadline_mono_ns, o->max_expansion, &m, qe);
    if (rc == SIFT_ETIMEOUT) {
        c->timed_out = 1;
        return SIFT_OK;
    }
    if (rc < 0)
        return rc;
    c->seg = seg;
    c->seg_idx = seg_idx;
    c->tfield = sift_segment_field_find(seg, TEMPLATE_FIELD,
                                        sizeof(TEMPLATE_FIELD) - 1);
    roaring_iterate(m, count_doc, c);
    roaring_bitmap_free(m);
    return c->nomem ? SIFT_ENOMEM : SIFT_OK;
}

static int
by_id(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void
counter_free(struct counter *c)
{
    for (uint32_t i = 0; i < c->cap; i++)
        sift_free(c->tab[i].series);
    sift_free(c->tab);
    c->tab = NULL;
}

/*
 * Buckets of the per-template series: the query's range (an open end is
 * where the segments' times start or end), cut in interval_ns (0: a
 * "nice" interval giving about SERIES_BUCKETS buckets), aligned to
 * multiples of the interval.
 */
static int
series_setup(struct counter *c, struct sift_segment *const *segs, size_t n,
             const struct sift_patterns_opts *o,
             struct sift_patterns_error *err)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        if (sift_segment_doc_count(segs[i]) == 0)
            continue;
        if (sift_segment_min_ts(segs[i]) < lo)
            lo = sift_segment_min_ts(segs[i]);
        if (sift_segment_max_ts(segs[i]) > hi)
            hi = sift_segment_max_ts(segs[i]);
    }
    if (lo > hi)
        return SIFT_OK; /* no data: no buckets */
    /* A bound the query gives is kept (a chart of the asked range); an
     * open one is where the data starts or ends. */
    if (o->from_ns != INT64_MIN)
        lo = o->from_ns;
    if (o->to_ns != INT64_MAX)
        hi = o->to_ns - 1;
    if (lo > hi)
        return SIFT_OK;
    int64_t iv = o->interval_ns;
    if (iv <= 0) {
        int64_t span_ms = (hi - lo) / SIFT_NS_PER_MS + 1;
        int64_t ms = sift_query_nice_interval_ms(
            (span_ms + SERIES_BUCKETS - 1) / SERIES_BUCKETS);
        iv = (ms > 0 ? ms : 365LL * 86400 * 1000) * SIFT_NS_PER_MS;
    }
    int64_t start = lo - (((lo % iv) + iv) % iv); /* floor to a multiple */
    uint64_t nb = (uint64_t)((hi - start) / iv) + 1;
    if (nb > SERIES_MAX_BUCKETS) {
        fail(err, 400, "bad_request",
             "interval: %" PRIu64 " buckets over the range, more than %u; "
             "choose a longer interval",
             nb, SERIES_MAX_BUCKETS);
        return SIFT_EINVAL;
    }
    c->start_ns = start;
    c->interval_ns = iv;
    c->n_buckets = (uint32_t)nb;
    return SIFT_OK;
}

/* Folds entries whose ids stand for one template (merged templates keep
 * their old ids as aliases) into the entry of the template's id. */
static uint32_t
fold_aliases(struct counter *c, uint32_t m,
             struct sift_anomaly_templates *names)
{
    if (!names)
        return m;
    for (uint32_t i = 0; i < m; i++)
        if (c->tab[i].id != SIFT_TEMPLATE_NONE)
            c->tab[i].id = sift_anomaly_templates_resolve(names, c->tab[i].id);
    qsort(c->tab, m, sizeof(c->tab[0]), by_id);
    uint32_t k = 0;
    for (uint32_t i = 0; i < m; i++) {
        struct entry *e = &c->tab[i];
        if (k == 0 || c->tab[k - 1].id != e->id) {
            c->tab[k++] = *e;
            continue;
        }
        struct entry *d = &c->tab[k - 1];
        d->count += e->count;
        if (e->first_ns < d->first_ns)
            d->first_ns = e->first_ns;
        if (e->last_ns >= d->last_ns) {
            d->last_ns = e->last_ns;
            d->seg = e->seg;
            d->doc = e->doc;
        }
        if (e->series && !d->series) {
            d->series = e->series;
        } else if (e->series) {
            for (uint32_t b = 0; b < c->n_buckets; b++)
                d->series[b] += e->series[b];
            sift_free(e->series);
        }
        e->series = NULL;
    }
    for (uint32_t i = k; i < m; i++)
        c->tab[i].series = NULL; /* moved or freed above */
    return k;
}

static int
by_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The message of doc (heap, NUL-terminated) in *out, NULL when it does
 * not decode. */
static void
get_sample(struct sift_segment *seg, uint32_t doc, struct sift_arena *arena,
           struct sift_pattern *out)
{
    struct sift_buf raw = SIFT_BUF_INIT;
    struct sift_event ev;
    if (sift_segment_doc(seg, doc, &raw) == SIFT_OK &&
        sift_doc_decode((const uint8_t *)raw.data, raw.len, arena, &ev) ==
            SIFT_OK) {
        out->sample_len = ev.msg ? ev.msg_len : 0;
        out->sample = sift_xstrndup(ev.msg ? ev.msg : "", out->sample_len);
    }
    sift_buf_cleanup(&raw);
    sift_arena_reset(arena);
}

/* The template's text (heap) in *out, NULL when names does not know id. */
static void
get_text(struct sift_anomaly_templates *names, uint32_t id,
         struct sift_buf *scratch, struct sift_pattern *out)
{
    sift_buf_reset(scratch);
    if (id == SIFT_TEMPLATE_NONE || !names ||
        sift_anomaly_templates_text(names, id, scratch) != SIFT_OK)
        return;
    out->text_len = scratch->len;
    out->text = sift_xstrndup(scratch->data ? scratch->data : "", scratch->len);
}

void
sift_patterns_result_free(struct sift_patterns_result *r)
{
    for (uint32_t i = 0; i < r->n; i++) {
        sift_free(r->v[i].text);
        sift_free(r->v[i].sample);
        sift_free(r->v[i].series);
    }
    sift_free(r->v);
    for (size_t i = 0; i < r->n_warnings; i++)
        sift_free(r->warnings[i]);
    sift_free(r->warnings);
    memset(r, 0, sizeof(*r));
}

int
sift_patterns_run(struct sift_segment *const *segs, size_t n,
                  const struct sift_patterns_opts *opts,
                  struct sift_anomaly_templates *names,
                  struct sift_patterns_result *out,
                  struct sift_patterns_error *err)
{
    memset(out, 0, sizeof(*out));
    struct sift_query_limits lim = {opts->max_query_bytes, opts->max_expansion};
    struct sift_query_error qe;
    memset(&qe, 0, sizeof(qe));
    struct sift_query *q = NULL;
    int rc = sift_query_parse(opts->q ? opts->q : "", opts->q ? opts->q_len : 0,
                              &lim, &q, &qe);
    if (rc < 0) {
        from_query_error(err, &qe);
        return rc;
    }
    /* What the query was read as, or names in vain (a field no event
     * has), as the search API says it: a "warnings" array. */
    sift_query_check_fields(q, segs, n);
    size_t n_warnings = sift_query_warning_count(q);
    char **warnings = sift_xcalloc(n_warnings + 1, sizeof(*warnings));
    for (size_t i = 0; i < n_warnings; i++)
        warnings[i] = sift_xstrdup(sift_query_warning(q, i));
    out->warnings = warnings;
    out->n_warnings = n_warnings;
    struct counter c;
    memset(&c, 0, sizeof(c));
    c.deadline = opts->deadline_mono_ns;
    if (!opts->no_series && series_setup(&c, segs, n, opts, err) < 0) {
        sift_query_free(q);
        sift_patterns_result_free(out);
        return SIFT_EINVAL;
    }
    for (size_t i = 0; i < n && rc == SIFT_OK && !c.timed_out; i++)
        rc = count_segment(&c, segs[i], (uint32_t)i, q, opts, &qe);
    sift_query_free(q);
    if (c.nomem || rc < 0 || c.timed_out)
        sift_patterns_result_free(out);
    if (c.nomem) {
        counter_free(&c);
        fail(err, 503, "out_of_memory", "not enough memory for the counts");
        return SIFT_ENOMEM;
    }
    if (rc < 0) {
        counter_free(&c);
        from_query_error(err, &qe);
        return rc;
    }
    if (c.timed_out) {
        counter_free(&c);
        fail(err, 504, "timeout",
             "the pattern count took longer than "
             "query.timeout");
        return SIFT_ETIMEOUT;
    }
    /* Compact the table in place, then sort by count. */
    uint32_t m = 0;
    for (uint32_t i = 0; i < c.cap; i++) {
        if (c.tab[i].used) {
            struct entry e = c.tab[i];
            c.tab[i].series = NULL;
            c.tab[m++] = e;
        }
    }
    m = fold_aliases(&c, m, names);
    if (m)
        qsort(c.tab, m, sizeof(c.tab[0]), by_count);
    uint32_t k = m < opts->size ? m : opts->size;
    struct sift_arena *arena = sift_arena_new(16384);
    struct sift_buf text = SIFT_BUF_INIT;
    out->v = sift_xcalloc((size_t)k + 1, sizeof(*out->v));
    out->n = k;
    for (uint32_t i = 0; i < k; i++) {
        struct entry *e = &c.tab[i];
        struct sift_pattern *pt = &out->v[i];
        pt->template_id = e->id;
        get_text(names, e->id, &text, pt);
        pt->count = e->count;
        pt->first_ns = e->first_ns;
        pt->last_ns = e->last_ns;
        get_sample(segs[e->seg], e->doc, arena, pt);
        pt->series = e->series; /* moved; NULL: all zero */
        e->series = NULL;
    }
    out->total = c.total;
    out->distinct = m;
    out->start_ns = c.start_ns;
    out->interval_ns = c.interval_ns;
    out->n_buckets = c.n_buckets;
    sift_buf_cleanup(&text);
    sift_arena_free(arena);
    for (uint32_t i = 0; i < m; i++)
        sift_free(c.tab[i].series);
    sift_free(c.tab);
    return SIFT_OK;
}
