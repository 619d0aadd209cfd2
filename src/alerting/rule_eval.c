/*
 * rule_eval.c - evaluates one rule over store segments (rule.h).
 *
 * Design.  Per segment the rule's query gives the matching docs of the
 * window (sift_query_match_parsed: time pruning, postings, deletes); the
 * count is the bitmap's cardinality.  A statistic reads the numeric
 * column of each matching doc; a group_by reads the keyword column and
 * counts per dictionary ordinal of the segment, then merges the
 * ordinals' counts by value across segments in an open-addressing map.
 * Only columns are read, never the doc store.  An absence per group
 * evaluates the window before as well (groups seen then, missing now).
 *
 * Bounds: at most MAX_GROUPS_SEEN distinct groups are tracked (the rest
 * are counted in groups_seen only); statistics keep at most MAX_VALUES
 * values per evaluation for percentiles (the rest are summed into avg,
 * min, max and sum but not into percentiles).  The deadline is checked
 * per segment.
 *
 * Threads: any; per-call state only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>
#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/query.h"
#include "sift/rule.h"
#include "sift/segment.h"

#define MAX_GROUPS_SEEN 100000u
#define MAX_VALUES 1000000u

/* One group's accumulators. */
struct acc {
    char *key; /* owned; NULL = empty slot */
    size_t len;
    uint64_t num, den; /* events of the query / of the denominator */
    uint64_t prev;     /* absence: events in the window before */
    double sum, min, max;
    uint64_t n_values; /* numbers seen */
    double *values;    /* for percentiles (owned) */
    size_t n_kept, cap_kept;
};

struct gmap {
    struct acc *v;
    size_t cap, n;
    uint64_t overflow; /* groups not tracked (past MAX_GROUPS_SEEN) */
};

static void
acc_init(struct acc *a)
{
    a->min = INFINITY;
    a->max = -INFINITY;
}

static struct acc *
gmap_find(struct gmap *m, const char *key, size_t len, size_t *slot)
{
    if (m->cap == 0)
        return NULL;
    size_t j = (size_t)XXH3_64bits(key, len) & (m->cap - 1);
    while (m->v[j].key) {
        if (m->v[j].len == len && memcmp(m->v[j].key, key, len) == 0)
            return &m->v[j];
        j = (j + 1) & (m->cap - 1);
    }
    *slot = j;
    return NULL;
}

/* The group of key, created if needed (NULL past MAX_GROUPS_SEEN).  A
 * creation may move every group: pointers are valid until the next. */
static struct acc *
gmap_get(struct gmap *m, const char *key, size_t len)
{
    size_t slot = 0;
    struct acc *a = gmap_find(m, key, len, &slot);
    if (a)
        return a;
    if (m->n >= MAX_GROUPS_SEEN) {
        m->overflow++;
        return NULL;
    }
    if ((m->n + 1) * 2 > m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 64;
        struct acc *nv = sift_xcalloc(nc, sizeof(*nv));
        for (size_t i = 0; i < m->cap; i++) {
            if (!m->v[i].key)
                continue;
            size_t j = (size_t)XXH3_64bits(m->v[i].key, m->v[i].len) & (nc - 1);
            while (nv[j].key)
                j = (j + 1) & (nc - 1);
            nv[j] = m->v[i];
        }
        sift_free(m->v);
        m->v = nv;
        m->cap = nc;
        (void)gmap_find(m, key, len, &slot);
    }
    a = &m->v[slot];
    a->key = sift_xstrndup(key, len);
    a->len = len;
    acc_init(a);
    m->n++;
    return a;
}

static void
gmap_free(struct gmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        sift_free(m->v[i].key);
        sift_free(m->v[i].values);
    }
    sift_free(m->v);
    memset(m, 0, sizeof(*m));
}

static void
add_value(struct acc *a, double v, uint64_t *kept_total, int keep)
{
    a->n_values++;
    a->sum += v;
    if (v < a->min)
        a->min = v;
    if (v > a->max)
        a->max = v;
    if (!keep || *kept_total >= MAX_VALUES)
        return;
    if (a->n_kept == a->cap_kept) {
        a->cap_kept = a->cap_kept ? a->cap_kept * 2 : 64;
        a->values = sift_xrealloc(a->values, a->cap_kept * sizeof(double));
    }
    a->values[a->n_kept++] = v;
    (*kept_total)++;
}

enum pass { PASS_NUM, PASS_DEN, PASS_PREV };

struct ctx {
    const struct sift_rule *r;
    struct gmap groups;
    struct acc whole; /* without group_by */
    uint64_t kept;
    int keep_values;
};

/* Runs one query over one segment and folds its docs into the groups. */
static int
pass_segment(struct ctx *c, const struct sift_query *q,
             const struct sift_segment *seg, int64_t from, int64_t to,
             int64_t deadline, enum pass pass, char *err, size_t err_len)
{
    const struct sift_rule *r = c->r;
    roaring_bitmap_t *bm = NULL;
    struct sift_query_error qe;
    memset(&qe, 0, sizeof(qe));
    int rc = sift_query_match_parsed(q, seg, from, to, deadline, 0, &bm, &qe);
    if (rc < 0) {
        if (rc != SIFT_ETIMEOUT)
            snprintf(err, err_len, "%s",
                     qe.reason[0] ? qe.reason : sift_strerror(rc));
        return rc;
    }
    if (!bm)
        return SIFT_OK;
    uint64_t card = roaring_bitmap_get_cardinality(bm);
    int numeric = r->field != NULL && pass == PASS_NUM;
    int nf = -1, gf = -1;
    if (numeric)
        nf = sift_segment_field_find(seg, r->field, strlen(r->field));
    if (r->group_by)
        gf = sift_segment_field_find(seg, r->group_by, strlen(r->group_by));
    if (!r->group_by) {
        struct acc *a = &c->whole;
        if (pass == PASS_NUM)
            a->num += card;
        else if (pass == PASS_DEN)
            a->den += card;
        else
            a->prev += card;
        if (numeric && nf >= 0) {
            roaring_uint32_iterator_t *it = roaring_create_iterator(bm);
            while (it->has_value) {
                double v;
                if (sift_segment_number(seg, (uint32_t)nf, it->current_value,
                                        &v) == SIFT_OK)
                    add_value(a, v, &c->kept, c->keep_values);
                roaring_advance_uint32_iterator(it);
            }
            roaring_free_uint32_iterator(it);
        }
        roaring_bitmap_free(bm);
        return SIFT_OK;
    }
    if (gf < 0) { /* no doc of this segment has the field */
        roaring_bitmap_free(bm);
        return SIFT_OK;
    }
    uint32_t card_ord = sift_segment_keyword_card(seg, (uint32_t)gf);
    /* Per ordinal: events, and (statistics) the group's accumulator. */
    uint64_t *counts = sift_try_calloc(card_ord + 1, sizeof(uint64_t));
    struct acc **accs =
        numeric ? sift_try_calloc(card_ord + 1, sizeof(*accs)) : NULL;
    if (!counts || (numeric && !accs)) {
        sift_free(counts);
        sift_free(accs);
        roaring_bitmap_free(bm);
        snprintf(err, err_len, "out of memory");
        return SIFT_ENOMEM;
    }
    /* Counts per ordinal first; then the groups (creating them may move
     * them all); then, for statistics, the numbers into the groups. */
    roaring_uint32_iterator_t *it = roaring_create_iterator(bm);
    while (it->has_value) {
        uint32_t ord =
            sift_segment_keyword_ord(seg, (uint32_t)gf, it->current_value);
        if (ord != UINT32_MAX && ord < card_ord)
            counts[ord]++;
        roaring_advance_uint32_iterator(it);
    }
    roaring_free_uint32_iterator(it);
    for (int round = 0; round < 2; round++) {
        for (uint32_t o = 0; o < card_ord; o++) {
            if (!counts[o])
                continue;
            size_t len;
            const char *v =
                sift_segment_keyword_value(seg, (uint32_t)gf, o, &len);
            struct acc *a = v ? gmap_get(&c->groups, v, len) : NULL;
            if (round == 0 || !a)
                continue; /* round 0 creates; round 1 takes stable ones */
            if (accs)
                accs[o] = a;
            if (pass == PASS_NUM)
                a->num += counts[o];
            else if (pass == PASS_DEN)
                a->den += counts[o];
            else
                a->prev += counts[o];
        }
    }
    if (numeric && nf >= 0) {
        it = roaring_create_iterator(bm);
        while (it->has_value) {
            uint32_t doc = it->current_value;
            uint32_t ord = sift_segment_keyword_ord(seg, (uint32_t)gf, doc);
            double x;
            if (ord != UINT32_MAX && ord < card_ord && accs[ord] &&
                sift_segment_number(seg, (uint32_t)nf, doc, &x) == SIFT_OK)
                add_value(accs[ord], x, &c->kept, c->keep_values);
            roaring_advance_uint32_iterator(it);
        }
        roaring_free_uint32_iterator(it);
    }
    sift_free(counts);
    sift_free(accs);
    roaring_bitmap_free(bm);
    return SIFT_OK;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The rule's value of one group; 0 when there is none to compare. */
static int
value_of(const struct sift_rule *r, struct acc *a, double *out)
{
    switch (r->stat) {
    case SIFT_RULE_COUNT:
    case SIFT_RULE_ABSENT: *out = (double)a->num; return 1;
    case SIFT_RULE_RATIO:
        if (a->den == 0)
            return 0;
        *out = (double)a->num / (double)a->den;
        return 1;
    case SIFT_RULE_AVG:
    case SIFT_RULE_SUM:
    case SIFT_RULE_MIN:
    case SIFT_RULE_MAX:
    case SIFT_RULE_PCT: break;
    }
    if (a->n_values == 0)
        return 0;
    if (r->stat == SIFT_RULE_AVG)
        *out = a->sum / (double)a->n_values;
    else if (r->stat == SIFT_RULE_SUM)
        *out = a->sum;
    else if (r->stat == SIFT_RULE_MIN)
        *out = a->min;
    else if (r->stat == SIFT_RULE_MAX)
        *out = a->max;
    else {
        if (a->n_kept == 0)
            return 0;
        qsort(a->values, a->n_kept, sizeof(double), cmp_double);
        /* Linear interpolation between closest ranks. */
        double rank = r->pct / 100.0 * (double)(a->n_kept - 1);
        size_t lo = (size_t)floor(rank);
        size_t hi = lo + 1 < a->n_kept ? lo + 1 : lo;
        double f = rank - (double)lo;
        *out = a->values[lo] + (a->values[hi] - a->values[lo]) * f;
    }
    return 1;
}

struct cand {
    struct acc *a;
    double value;
    int has_value, holds, watched;
};

static int
cmp_up(const void *x, const void *y)
{
    const struct cand *a = x, *b = y;
    return a->value < b->value ? 1 : a->value > b->value ? -1 : 0;
}

static int
cmp_down(const void *x, const void *y)
{
    return cmp_up(y, x);
}

void
sift_rule_result_cleanup(struct sift_rule_result *res)
{
    for (size_t i = 0; i < res->n_groups; i++)
        sift_free(res->groups[i].group);
    sift_free(res->groups);
    memset(res, 0, sizeof(*res));
}

static void
add_group(struct sift_rule_result *res, const char *key, size_t len,
          double value, int has_value, int holds, uint64_t events)
{
    res->groups =
        sift_xrealloc(res->groups, (res->n_groups + 1) * sizeof(*res->groups));
    struct sift_rule_group *g = &res->groups[res->n_groups++];
    g->group = key ? sift_xstrndup(key, len) : NULL;
    g->value = value;
    g->has_value = has_value;
    g->holds = holds;
    g->events = events;
}

void
sift_rule_eval(const struct sift_rule *r, struct sift_segment *const *segs,
               size_t n, int64_t now_ns, int64_t deadline_mono_ns,
               const char *const *watch, size_t n_watch,
               struct sift_rule_result *res)
{
    memset(res, 0, sizeof(*res));
    res->to_ns = now_ns - r->delay_ns;
    res->from_ns = res->to_ns - r->window_ns;
    struct ctx c;
    memset(&c, 0, sizeof(c));
    c.r = r;
    acc_init(&c.whole);
    c.keep_values = r->stat == SIFT_RULE_PCT;
    int absent_groups = r->stat == SIFT_RULE_ABSENT && r->group_by;
    int rc = SIFT_OK;
    for (size_t i = 0; i < n && rc == SIFT_OK; i++) {
        if (deadline_mono_ns && sift_clock_mono_ns() > deadline_mono_ns) {
            rc = SIFT_ETIMEOUT;
            break;
        }
        const struct sift_segment *seg = segs[i];
        int64_t lo = absent_groups ? res->from_ns - r->window_ns : res->from_ns;
        if (sift_segment_max_ts(seg) < lo ||
            sift_segment_min_ts(seg) >= res->to_ns)
            continue;
        rc = pass_segment(&c, r->q, seg, res->from_ns, res->to_ns,
                          deadline_mono_ns, PASS_NUM, res->error,
                          sizeof(res->error));
        if (rc == SIFT_OK && r->q_den)
            rc = pass_segment(&c, r->q_den, seg, res->from_ns, res->to_ns,
                              deadline_mono_ns, PASS_DEN, res->error,
                              sizeof(res->error));
        if (rc == SIFT_OK && absent_groups)
            rc = pass_segment(&c, r->q, seg, res->from_ns - r->window_ns,
                              res->from_ns, deadline_mono_ns, PASS_PREV,
                              res->error, sizeof(res->error));
    }
    if (rc == SIFT_ETIMEOUT) {
        res->timed_out = 1;
        snprintf(res->error, sizeof(res->error),
                 "evaluation stopped at its deadline");
    }
    res->rc = rc;
    if (rc < 0)
        goto out;

    if (!r->group_by) {
        double v = 0;
        int hv = value_of(r, &c.whole, &v);
        res->events = c.whole.num;
        add_group(res, NULL, 0, v, hv,
                  hv && sift_rule_compare(r->op, v, r->threshold), c.whole.num);
        goto out;
    }
    /* Groups: every tracked one gets a value; keep the holding ones (the
     * most extreme max_groups) and the watched ones. */
    res->groups_seen = c.groups.n + c.groups.overflow;
    struct cand *cs = sift_xcalloc(c.groups.n + 1, sizeof(*cs));
    size_t nc = 0;
    for (size_t i = 0; i < c.groups.cap; i++) {
        struct acc *a = &c.groups.v[i];
        if (!a->key)
            continue;
        res->events += a->num;
        struct cand *k = &cs[nc++];
        k->a = a;
        if (absent_groups) {
            k->value = (double)a->num;
            k->has_value = 1;
            k->holds = a->num == 0 && a->prev > 0;
        } else {
            k->has_value = value_of(r, a, &k->value);
            k->holds = k->has_value &&
                       sift_rule_compare(r->op, k->value, r->threshold);
        }
        for (size_t w = 0; w < n_watch && !k->watched; w++)
            k->watched = strlen(watch[w]) == a->len &&
                         memcmp(watch[w], a->key, a->len) == 0;
    }
    qsort(cs, nc, sizeof(*cs),
          absent_groups || sift_rule_op_upward(r->op) ? cmp_up : cmp_down);
    uint32_t kept = 0;
    for (size_t i = 0; i < nc; i++) {
        struct cand *k = &cs[i];
        if (k->holds && kept >= r->max_groups && !k->watched) {
            res->groups_dropped++;
            continue;
        }
        if (!k->holds && !k->watched)
            continue;
        if (k->holds)
            kept++;
        add_group(res, k->a->key, k->a->len, k->value, k->has_value, k->holds,
                  k->a->num);
    }
    /* Watched groups with no event in either window: value 0. */
    for (size_t w = 0; w < n_watch; w++) {
        int found = 0;
        for (size_t i = 0; i < res->n_groups && !found; i++)
            found = strcmp(res->groups[i].group, watch[w]) == 0;
        if (found)
            continue;
        int hv = r->stat == SIFT_RULE_COUNT || r->stat == SIFT_RULE_ABSENT;
        int holds = r->stat == SIFT_RULE_ABSENT
                        ? 1 /* still missing */
                        : hv && sift_rule_compare(r->op, 0, r->threshold);
        add_group(res, watch[w], strlen(watch[w]), 0, hv, holds, 0);
    }
    sift_free(cs);
out:
    gmap_free(&c.groups);
    sift_free(c.whole.values);
}
