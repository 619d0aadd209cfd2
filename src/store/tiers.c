/*
 * tiers.c - the lifecycle policy: which disk segments to delete, merge or
 * move to the next tier, given the policy keys and "now".
 *
 * Pure: no I/O, no clock, no state; lifecycle.c feeds it the manifest's
 * segments and runs what it returns.  docs/lifecycle.md explains the
 * policy to users; the rules, in the order they are applied:
 *
 *   1. retention: a segment whose newest doc (max_ts) is older than
 *      now - retention is deleted.  A segment is never deleted whole while
 *      any of its docs is younger than the retention; its older docs are
 *      hidden one by one by lifecycle.c (plan_expire), not here.
 *   2. size cap: while the remaining bytes exceed max_disk_bytes, the
 *      segment with the oldest max_ts is deleted (oldest data first).
 *   3. to cold: segments (hot or warm) whose max_ts is older than
 *      now - warm_max_age are merged into cold, one output per UTC day;
 *      cold segments of the same days that are not yet full join the merge
 *      so a day ends up in one cold segment.  One cold merge per plan,
 *      bounded to about warm_segment_bytes * merge_factor of input.
 *   4. to warm: hot segments whose max_ts is older than now - hot_max_age
 *      are merged into warm in time order, in groups of at most
 *      warm_segment_bytes (a group of one is re-encoded).
 *   5. tiered merge (hot and warm separately): segments below the tier's
 *      target size are put in size classes (class k holds sizes in
 *      [floor * F^(k-1), floor * F^k), F = merge_factor); when a class has
 *      F segments, its F oldest are merged into one of the same tier.
 *      Each doc is rewritten at most once per class, so write
 *      amplification is bounded by the number of classes
 *      (log_F(target / floor) + 1) plus one move per tier.
 *   6. full segments (a merge cut them at tiers.merge_memory) count as
 *      having reached the target: no tiered merge and no cold day merge
 *      takes them again (a tier move still does, re-encoding them), so a
 *      memory cap below the target size cannot make merges loop.
 *   7. a tiered merge takes only inputs whose docs fit in one output
 *      under tiers.merge_memory (merge_docs_cap, from the builder bytes
 *      per doc the store saw at its last seals), and needs two of them.
 *      Inputs that do not fit would be cut back into outputs no larger
 *      than the cap: every doc re-indexed, hardly fewer segments.  With
 *      a small buffer (flush segments as large as the cap) ten inputs
 *      became 13-19 outputs, and this was most of the CPU of a long
 *      backlog, and its memory peak.
 *
 * Busy segments (inputs of a running job) are never planned.
 */
#include <stdlib.h>
#include <string.h>

#include "lifecycle_int.h"
#include "sift/alloc.h"

const char *
sift__tier_name(unsigned tier)
{
    static const char *const names[] = {"hot", "warm", "cold"};
    return tier < SIFT_TIER_COUNT ? names[tier] : "unknown";
}

uint64_t
sift__tier_floor(uint64_t max_bytes, unsigned factor)
{
    uint64_t f = factor < 2 ? 2 : factor;
    uint64_t floor = max_bytes / (f * f);
    return floor < 4096 ? 4096 : floor;
}

unsigned
sift__tier_level(uint64_t bytes, uint64_t floor_bytes, unsigned factor)
{
    unsigned level = 0;
    uint64_t bound = floor_bytes ? floor_bytes : 1;
    uint64_t f = factor < 2 ? 2 : factor;
    while (bytes >= bound && level < 64) {
        level++;
        if (bound > UINT64_MAX / f)
            break;
        bound *= f;
    }
    return level;
}

static int64_t
day_of(int64_t ts_ns)
{
    int64_t d = ts_ns / SIFT_NS_PER_DAY;
    if (ts_ns % SIFT_NS_PER_DAY < 0)
        d--;
    return d;
}

/* ---- plan building ---- */

static struct sift_tier_action *
act_new(struct sift_tier_plan *p, enum sift_tier_act_kind kind, uint8_t tier,
        const char *reason)
{
    p->acts = sift_xrealloc(p->acts, (p->n + 1) * sizeof(*p->acts));
    struct sift_tier_action *a = &p->acts[p->n++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->target_tier = tier;
    a->reason = reason;
    return a;
}

static void
act_add(struct sift_tier_action *a, uint64_t id)
{
    a->ids = sift_xrealloc(a->ids, (a->n_ids + 1) * sizeof(*a->ids));
    a->ids[a->n_ids++] = id;
}

void
sift__tier_plan_cleanup(struct sift_tier_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++)
        sift_free(plan->acts[i].ids);
    sift_free(plan->acts);
    memset(plan, 0, sizeof(*plan));
}

/* Working view: segs in (max_ts, min_ts, id) order, and what is taken. */
struct view {
    const struct sift_tier_seg *segs;
    size_t *order; /* indexes into segs, sorted by time */
    int *used;     /* planned or busy */
    size_t n;
};

struct sort_key {
    int64_t max_ts, min_ts;
    uint64_t id;
    size_t idx;
};

static int
cmp_by_time(const void *a, const void *b)
{
    const struct sort_key *x = a, *y = b;
    if (x->max_ts != y->max_ts)
        return x->max_ts < y->max_ts ? -1 : 1;
    if (x->min_ts != y->min_ts)
        return x->min_ts < y->min_ts ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int64_t
older_than(const struct sift_tier_policy *p, int64_t age_ns)
{
    /* The cut-off time; age 0 would move everything, keep it safe. */
    if (age_ns <= 0)
        return INT64_MIN;
    return p->now_ns - age_ns;
}

static void
plan_deletes(const struct sift_tier_policy *p, struct view *v,
             struct sift_tier_plan *out)
{
    uint64_t total = 0;
    for (size_t i = 0; i < v->n; i++)
        total += v->segs[i].bytes;
    if (p->retention_ns > 0) {
        int64_t cut = older_than(p, p->retention_ns);
        struct sift_tier_action *a = NULL;
        for (size_t k = 0; k < v->n; k++) {
            size_t i = v->order[k];
            if (v->used[i] || v->segs[i].max_ts >= cut)
                continue;
            if (!a)
                a = act_new(out, SIFT_TIER_ACT_DELETE, 0, "retention");
            act_add(a, v->segs[i].id);
            v->used[i] = 1;
            total -= v->segs[i].bytes;
        }
    }
    if (p->max_disk_bytes > 0 && total > p->max_disk_bytes) {
        struct sift_tier_action *a = NULL;
        for (size_t k = 0; k < v->n && total > p->max_disk_bytes; k++) {
            size_t i = v->order[k];
            if (v->used[i])
                continue;
            if (!a)
                a = act_new(out, SIFT_TIER_ACT_DELETE, 0, "size_cap");
            act_add(a, v->segs[i].id);
            v->used[i] = 1;
            total -= v->segs[i].bytes;
        }
    }
}

static void
plan_cold(const struct sift_tier_policy *p, struct view *v,
          struct sift_tier_plan *out)
{
    int64_t cut = older_than(p, p->warm_max_age_ns);
    uint64_t budget =
        p->warm_segment_bytes * (p->merge_factor ? p->merge_factor : 2);
    uint64_t got = 0;
    int64_t day_lo = INT64_MAX, day_hi = INT64_MIN;
    struct sift_tier_action *a = NULL;
    for (size_t k = 0; k < v->n && got < budget; k++) {
        size_t i = v->order[k];
        const struct sift_tier_seg *s = &v->segs[i];
        if (v->used[i] || s->tier == SIFT_TIER_COLD || s->max_ts >= cut)
            continue;
        if (!a) {
            a = act_new(out, SIFT_TIER_ACT_MERGE, SIFT_TIER_COLD, "to_cold");
            a->split_by_day = 1;
        }
        act_add(a, s->id);
        v->used[i] = 1;
        got += s->bytes;
        if (day_of(s->min_ts) < day_lo)
            day_lo = day_of(s->min_ts);
        if (day_of(s->max_ts) > day_hi)
            day_hi = day_of(s->max_ts);
    }
    /* Same-day cold segments join so each day stays one segment. */
    for (size_t k = 0; k < v->n; k++) {
        size_t i = v->order[k];
        const struct sift_tier_seg *s = &v->segs[i];
        if (v->used[i] || s->full || s->tier != SIFT_TIER_COLD)
            continue;
        int64_t lo = day_of(s->min_ts), hi = day_of(s->max_ts);
        if (a && hi >= day_lo && lo <= day_hi) {
            act_add(a, s->id);
            v->used[i] = 1;
        }
    }
    if (a)
        return;
    /* No move: merge cold segments that share a day (late data). */
    for (size_t k = 0; k + 1 < v->n; k++) {
        size_t i = v->order[k];
        const struct sift_tier_seg *s = &v->segs[i];
        if (v->used[i] || s->full || s->tier != SIFT_TIER_COLD)
            continue;
        for (size_t k2 = k + 1; k2 < v->n; k2++) {
            size_t j = v->order[k2];
            const struct sift_tier_seg *t = &v->segs[j];
            if (v->used[j] || t->full || t->tier != SIFT_TIER_COLD)
                continue;
            if (day_of(t->min_ts) <= day_of(s->max_ts) &&
                day_of(s->min_ts) <= day_of(t->max_ts)) {
                if (!a) {
                    a = act_new(out, SIFT_TIER_ACT_MERGE, SIFT_TIER_COLD,
                                "cold_day_merge");
                    a->split_by_day = 1;
                }
                if (!v->used[i]) {
                    act_add(a, s->id);
                    v->used[i] = 1;
                }
                act_add(a, t->id);
                v->used[j] = 1;
            }
        }
        if (a)
            break;
    }
}

static void
plan_warm(const struct sift_tier_policy *p, struct view *v,
          struct sift_tier_plan *out)
{
    int64_t cut = older_than(p, p->hot_max_age_ns);
    struct sift_tier_action *a = NULL;
    uint64_t got = 0;
    for (size_t k = 0; k < v->n; k++) {
        size_t i = v->order[k];
        const struct sift_tier_seg *s = &v->segs[i];
        if (v->used[i] || s->tier != SIFT_TIER_HOT || s->max_ts >= cut)
            continue;
        if (a && got + s->bytes > p->warm_segment_bytes) {
            a = NULL;
            got = 0;
        }
        if (!a)
            a = act_new(out, SIFT_TIER_ACT_MERGE, SIFT_TIER_WARM, "to_warm");
        act_add(a, s->id);
        v->used[i] = 1;
        got += s->bytes;
    }
}

static void
plan_tiered(const struct sift_tier_policy *p, struct view *v, uint8_t tier,
            uint64_t target, struct sift_tier_plan *out)
{
    unsigned f = p->merge_factor < 2 ? 2 : p->merge_factor;
    uint64_t floor = sift__tier_floor(target, f);
    unsigned max_level = sift__tier_level(target, floor, f);
    for (unsigned level = 0; level <= max_level; level++) {
        size_t count = 0;
        for (size_t k = 0; k < v->n; k++) {
            size_t i = v->order[k];
            const struct sift_tier_seg *s = &v->segs[i];
            if (!v->used[i] && !s->full && s->tier == tier &&
                s->bytes < target &&
                sift__tier_level(s->bytes, floor, f) == level)
                count++;
        }
        if (count < f)
            continue;
        /* Oldest first, at most f, and with a docs cap only those that
         * fit in one output together (rule 7). */
        size_t *pick = sift_xcalloc(f, sizeof(size_t));
        size_t n_pick = 0;
        uint64_t docs = 0, cap = p->merge_docs_cap;
        for (size_t k = 0; k < v->n && n_pick < f; k++) {
            size_t i = v->order[k];
            const struct sift_tier_seg *s = &v->segs[i];
            if (!v->used[i] && !s->full && s->tier == tier &&
                s->bytes < target &&
                sift__tier_level(s->bytes, floor, f) == level &&
                (cap == 0 || docs + s->docs <= cap)) {
                pick[n_pick++] = i;
                docs += s->docs;
            }
        }
        if (n_pick >= 2) {
            struct sift_tier_action *a =
                act_new(out, SIFT_TIER_ACT_MERGE, tier,
                        tier == SIFT_TIER_HOT ? "hot_merge" : "warm_merge");
            for (size_t k = 0; k < n_pick; k++) {
                act_add(a, v->segs[pick[k]].id);
                v->used[pick[k]] = 1;
            }
        }
        sift_free(pick);
    }
}

void
sift__tier_plan(const struct sift_tier_policy *p,
                const struct sift_tier_seg *segs, size_t n,
                struct sift_tier_plan *out)
{
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return;
    struct view v = {segs, sift_xcalloc(n, sizeof(size_t)),
                     sift_xcalloc(n, sizeof(int)), n};
    struct sort_key *keys = sift_xcalloc(n, sizeof(*keys));
    for (size_t i = 0; i < n; i++) {
        keys[i].max_ts = segs[i].max_ts;
        keys[i].min_ts = segs[i].min_ts;
        keys[i].id = segs[i].id;
        keys[i].idx = i;
        v.used[i] = segs[i].busy != 0;
    }
    qsort(keys, n, sizeof(*keys), cmp_by_time);
    for (size_t i = 0; i < n; i++)
        v.order[i] = keys[i].idx;
    sift_free(keys);

    plan_deletes(p, &v, out);
    plan_cold(p, &v, out);
    plan_warm(p, &v, out);
    plan_tiered(p, &v, SIFT_TIER_HOT, p->hot_segment_bytes, out);
    plan_tiered(p, &v, SIFT_TIER_WARM, p->warm_segment_bytes, out);
    sift_free(v.order);
    sift_free(v.used);
}
