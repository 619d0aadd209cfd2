/*
 * test_tiers.c - the lifecycle policy (src/store/tiers.c) as a pure
 * function: retention, the size cap, hot -> warm, warm -> cold per day,
 * the tiered merge and its size classes, busy segments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/lifecycle_int.h"

#define H (INT64_C(3600) * INT64_C(1000000000))
#define DAY (24 * H)
#define MIB (UINT64_C(1) << 20)

static const int64_t NOW = INT64_C(1700000000) * INT64_C(1000000000);

static void
policy(struct sift_tier_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->now_ns = NOW;
    p->hot_max_age_ns = 1 * H;
    p->warm_max_age_ns = 2 * DAY;
    p->retention_ns = 10 * DAY;
    p->hot_segment_bytes = 64 * MIB;
    p->warm_segment_bytes = 512 * MIB;
    p->merge_factor = 4;
}

static struct sift_tier_seg
seg(uint64_t id, uint8_t tier, uint64_t bytes, int64_t min_age, int64_t max_age)
{
    struct sift_tier_seg s;
    memset(&s, 0, sizeof(s));
    s.id = id;
    s.tier = tier;
    s.bytes = bytes;
    s.docs = bytes / 100;
    s.min_ts = NOW - min_age;
    s.max_ts = NOW - max_age;
    return s;
}

static const struct sift_tier_action *
find_act(const struct sift_tier_plan *p, const char *reason)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->acts[i].reason, reason) == 0)
            return &p->acts[i];
    return NULL;
}

static int
has_id(const struct sift_tier_action *a, uint64_t id)
{
    for (size_t i = 0; a && i < a->n_ids; i++)
        if (a->ids[i] == id)
            return 1;
    return 0;
}

/* No segment may appear in two actions. */
static void
assert_disjoint(const struct sift_tier_plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        for (size_t k = 0; k < p->acts[i].n_ids; k++)
            for (size_t j = i + 1; j < p->n; j++)
                assert_false(has_id(&p->acts[j], p->acts[i].ids[k]));
}

static void
test_tiers_retention_deletes_only_expired(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    struct sift_tier_seg s[] = {
        seg(1, SIFT_TIER_COLD, MIB, 12 * DAY, 11 * DAY), /* expired */
        /* starts before the cut but its newest doc is younger: kept */
        seg(2, SIFT_TIER_COLD, MIB, 11 * DAY, 9 * DAY),
        seg(3, SIFT_TIER_COLD, MIB, 10 * DAY + H, 10 * DAY + 1), /* expired */
    };
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 3, &plan);
    const struct sift_tier_action *a = find_act(&plan, "retention");
    assert_non_null(a);
    assert_int_equal(a->kind, SIFT_TIER_ACT_DELETE);
    assert_int_equal(a->n_ids, 2);
    assert_true(has_id(a, 1));
    assert_true(has_id(a, 3));
    assert_false(has_id(a, 2));
    assert_null(find_act(&plan, "size_cap"));
    assert_disjoint(&plan);
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_size_cap_deletes_oldest_first(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    p.max_disk_bytes = 25 * MIB;
    struct sift_tier_seg s[] = {
        seg(1, SIFT_TIER_HOT, 10 * MIB, 2 * H, 0),          /* newest */
        seg(2, SIFT_TIER_COLD, 10 * MIB, 5 * DAY, 4 * DAY), /* oldest */
        seg(3, SIFT_TIER_WARM, 10 * MIB, 3 * DAY, 1 * DAY),
    };
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 3, &plan);
    const struct sift_tier_action *a = find_act(&plan, "size_cap");
    assert_non_null(a);
    /* 30 MiB > 25 MiB: exactly the oldest one goes. */
    assert_int_equal(a->n_ids, 1);
    assert_int_equal(a->ids[0], 2);
    assert_null(find_act(&plan, "retention"));
    assert_disjoint(&plan);
    sift__tier_plan_cleanup(&plan);

    /* Under the cap: nothing is deleted although data is old. */
    p.max_disk_bytes = 30 * MIB;
    sift__tier_plan(&p, s, 3, &plan);
    assert_null(find_act(&plan, "size_cap"));
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_hot_to_warm_by_age_grouped_by_size(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    p.warm_segment_bytes = 25 * MIB;
    struct sift_tier_seg s[] = {
        seg(1, SIFT_TIER_HOT, 10 * MIB, 5 * H, 4 * H),
        seg(2, SIFT_TIER_HOT, 10 * MIB, 4 * H, 3 * H),
        seg(3, SIFT_TIER_HOT, 10 * MIB, 3 * H, 2 * H),
        seg(4, SIFT_TIER_HOT, 10 * MIB, 30 * 60 * INT64_C(1000000000), 0),
    };
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 4, &plan);
    size_t moves = 0, ids = 0;
    for (size_t i = 0; i < plan.n; i++) {
        if (strcmp(plan.acts[i].reason, "to_warm") != 0)
            continue;
        moves++;
        ids += plan.acts[i].n_ids;
        assert_int_equal(plan.acts[i].target_tier, SIFT_TIER_WARM);
        assert_true(plan.acts[i].n_ids * 10 * MIB <= 25 * MIB);
        assert_false(has_id(&plan.acts[i], 4)); /* too young */
    }
    assert_int_equal(moves, 2); /* {1,2} and {3} */
    assert_int_equal(ids, 3);
    assert_disjoint(&plan);
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_to_cold_per_day_joins_same_day_cold(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    struct sift_tier_seg s[] = {
        seg(1, SIFT_TIER_WARM, MIB, 4 * DAY, 3 * DAY),
        seg(2, SIFT_TIER_HOT, MIB, 3 * DAY, 3 * DAY - H),  /* skipped warm */
        seg(3, SIFT_TIER_COLD, MIB, 4 * DAY, 4 * DAY - H), /* same days */
        seg(4, SIFT_TIER_COLD, MIB, 8 * DAY, 8 * DAY - H), /* other day */
        seg(5, SIFT_TIER_WARM, MIB, DAY, DAY - H),         /* too young */
    };
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 5, &plan);
    const struct sift_tier_action *a = find_act(&plan, "to_cold");
    assert_non_null(a);
    assert_int_equal(a->kind, SIFT_TIER_ACT_MERGE);
    assert_int_equal(a->target_tier, SIFT_TIER_COLD);
    assert_true(a->split_by_day);
    assert_true(has_id(a, 1));
    assert_true(has_id(a, 2));
    assert_true(has_id(a, 3));
    assert_false(has_id(a, 4));
    assert_false(has_id(a, 5));
    assert_disjoint(&plan);
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_cold_same_day_merge(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    /* Late data: two cold segments of the same day, nothing to move. */
    int64_t day_start = (NOW / DAY - 4) * DAY;
    struct sift_tier_seg s[] = {
        seg(1, SIFT_TIER_COLD, MIB, 0, 0),
        seg(2, SIFT_TIER_COLD, MIB, 0, 0),
        seg(3, SIFT_TIER_COLD, MIB, 0, 0),
    };
    s[0].min_ts = day_start + H;
    s[0].max_ts = day_start + 2 * H;
    s[1].min_ts = day_start + 5 * H;
    s[1].max_ts = day_start + 6 * H;
    s[2].min_ts = day_start + DAY + H; /* next day */
    s[2].max_ts = day_start + DAY + 2 * H;
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 3, &plan);
    const struct sift_tier_action *a = find_act(&plan, "cold_day_merge");
    assert_non_null(a);
    assert_int_equal(a->n_ids, 2);
    assert_true(has_id(a, 1));
    assert_true(has_id(a, 2));
    assert_true(a->split_by_day);
    sift__tier_plan_cleanup(&plan);
}

/* Full segments (cut at the merge memory cap) are never merged again. */
static void
test_tiers_full_segments_are_not_merged_again(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    p.merge_factor = 4;
    struct sift_tier_seg s[6];
    /* Five small hot segments of one class, three of them full. */
    for (int i = 0; i < 5; i++) {
        s[i] = seg((uint64_t)i + 1, SIFT_TIER_HOT, MIB, 0, 0);
        s[i].min_ts = s[i].max_ts = NOW - (10 - i) * INT64_C(1000000000);
        s[i].full = i < 3;
    }
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 5, &plan);
    assert_null(find_act(&plan, "hot_merge"));
    sift__tier_plan_cleanup(&plan);
    /* Not full: the same segments merge. */
    for (int i = 0; i < 5; i++)
        s[i].full = 0;
    sift__tier_plan(&p, s, 5, &plan);
    assert_non_null(find_act(&plan, "hot_merge"));
    sift__tier_plan_cleanup(&plan);

    /* Cold segments of one day: no day merge when either is full. */
    int64_t day_start = (NOW / DAY - 4) * DAY;
    s[0] = seg(1, SIFT_TIER_COLD, MIB, 0, 0);
    s[1] = seg(2, SIFT_TIER_COLD, MIB, 0, 0);
    s[0].min_ts = day_start + H;
    s[0].max_ts = day_start + 2 * H;
    s[1].min_ts = day_start + 5 * H;
    s[1].max_ts = day_start + 6 * H;
    s[1].full = 1;
    sift__tier_plan(&p, s, 2, &plan);
    assert_null(find_act(&plan, "cold_day_merge"));
    sift__tier_plan_cleanup(&plan);
    /* A move to cold of the same day does not pull the full one in. */
    s[2] = seg(3, SIFT_TIER_WARM, MIB, 0, 0);
    s[2].min_ts = day_start + 7 * H;
    s[2].max_ts = day_start + 8 * H;
    sift__tier_plan(&p, s, 3, &plan);
    const struct sift_tier_action *a = find_act(&plan, "to_cold");
    assert_non_null(a);
    assert_true(has_id(a, 3));
    assert_true(has_id(a, 1));
    assert_false(has_id(a, 2));
    assert_disjoint(&plan);
    sift__tier_plan_cleanup(&plan);
    /* A full hot segment still moves to warm when old enough. */
    s[0] = seg(1, SIFT_TIER_HOT, MIB, 3 * H, 2 * H);
    s[0].full = 1;
    sift__tier_plan(&p, s, 1, &plan);
    a = find_act(&plan, "to_warm");
    assert_non_null(a);
    assert_true(has_id(a, 1));
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_tiered_merge_needs_factor_segments_per_class(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    p.merge_factor = 4;
    p.hot_segment_bytes = 64 * MIB;
    uint64_t floor = sift__tier_floor(p.hot_segment_bytes, 4);
    assert_int_equal(floor, 4 * MIB);
    assert_int_equal(sift__tier_level(1, floor, 4), 0);
    assert_int_equal(sift__tier_level(floor - 1, floor, 4), 0);
    assert_int_equal(sift__tier_level(floor, floor, 4), 1);
    assert_int_equal(sift__tier_level(4 * floor, floor, 4), 2);

    struct sift_tier_seg s[8];
    /* Three small (class 0): not enough. */
    for (int i = 0; i < 3; i++)
        s[i] = seg((uint64_t)i + 1, SIFT_TIER_HOT, MIB,
                   10 * 60 * INT64_C(1000000000), 0);
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 3, &plan);
    assert_null(find_act(&plan, "hot_merge"));
    sift__tier_plan_cleanup(&plan);

    /* Five small: the four oldest merge; plus two of class 1: nothing. */
    for (int i = 0; i < 5; i++) {
        s[i] = seg((uint64_t)i + 1, SIFT_TIER_HOT, MIB, 0, 0);
        s[i].min_ts = s[i].max_ts = NOW - (10 - i) * INT64_C(1000000000);
    }
    s[5] = seg(6, SIFT_TIER_HOT, 5 * MIB, 0, 0);
    s[6] = seg(7, SIFT_TIER_HOT, 5 * MIB, 0, 0);
    s[7] = seg(8, SIFT_TIER_HOT, 64 * MIB, 0, 0); /* full size: never */
    sift__tier_plan(&p, s, 8, &plan);
    const struct sift_tier_action *a = find_act(&plan, "hot_merge");
    assert_non_null(a);
    assert_int_equal(a->target_tier, SIFT_TIER_HOT);
    assert_int_equal(a->n_ids, 4);
    for (uint64_t id = 1; id <= 4; id++)
        assert_true(has_id(a, id));
    assert_false(has_id(a, 5));
    assert_int_equal(plan.n, 1);
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_tiered_merge_takes_only_inputs_that_fit_one_output(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    p.merge_factor = 4;
    struct sift_tier_seg s[6];
    /* Six of one class (2 MiB = 20,971 docs each, oldest first). */
    for (int i = 0; i < 6; i++) {
        s[i] = seg((uint64_t)i + 1, SIFT_TIER_HOT, 2 * MIB, 0, 0);
        s[i].min_ts = s[i].max_ts = NOW - (10 - i) * INT64_C(1000000000);
    }
    struct sift_tier_plan plan;

    /* Unknown cap: the four oldest, as before. */
    sift__tier_plan(&p, s, 6, &plan);
    const struct sift_tier_action *a = find_act(&plan, "hot_merge");
    assert_non_null(a);
    assert_int_equal(a->n_ids, 4);
    sift__tier_plan_cleanup(&plan);

    /* Room for three in one output: the three oldest. */
    p.merge_docs_cap = 3 * s[0].docs + 10;
    sift__tier_plan(&p, s, 6, &plan);
    a = find_act(&plan, "hot_merge");
    assert_non_null(a);
    assert_int_equal(a->n_ids, 3);
    for (uint64_t id = 1; id <= 3; id++)
        assert_true(has_id(a, id));
    sift__tier_plan_cleanup(&plan);

    /* Each input as large as one output (flush segments of a small
     * buffer): merging would only cut them up again, so no merge. */
    p.merge_docs_cap = s[0].docs + 10;
    sift__tier_plan(&p, s, 6, &plan);
    assert_null(find_act(&plan, "hot_merge"));
    sift__tier_plan_cleanup(&plan);

    /* A small one among them still pairs with an older one that fits. */
    s[4].bytes = MIB;
    s[4].docs = MIB / 100;
    p.merge_docs_cap = s[0].docs + s[4].docs;
    sift__tier_plan(&p, s, 6, &plan);
    a = find_act(&plan, "hot_merge");
    assert_non_null(a);
    assert_int_equal(a->n_ids, 2);
    assert_true(has_id(a, 1));
    assert_true(has_id(a, 5));
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_busy_segments_are_never_planned(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    p.max_disk_bytes = 1;
    struct sift_tier_seg s[] = {
        seg(1, SIFT_TIER_COLD, MIB, 12 * DAY, 11 * DAY),
        seg(2, SIFT_TIER_HOT, MIB, 5 * H, 4 * H),
    };
    s[0].busy = 1;
    s[1].busy = 1;
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 2, &plan);
    assert_int_equal(plan.n, 0);
    sift__tier_plan_cleanup(&plan);
}

static void
test_tiers_young_data_never_deleted_without_cap(void **state)
{
    (void)state;
    struct sift_tier_policy p;
    policy(&p);
    struct sift_tier_seg s[40];
    for (int i = 0; i < 40; i++)
        s[i] = seg((uint64_t)i + 1, (uint8_t)(i % 3), MIB * (uint64_t)(i + 1),
                   (int64_t)i * DAY / 4 + H, (int64_t)i * DAY / 4);
    struct sift_tier_plan plan;
    sift__tier_plan(&p, s, 40, &plan);
    for (size_t k = 0; k < plan.n; k++) {
        if (plan.acts[k].kind != SIFT_TIER_ACT_DELETE)
            continue;
        for (size_t i = 0; i < plan.acts[k].n_ids; i++) {
            const struct sift_tier_seg *x = &s[plan.acts[k].ids[i] - 1];
            assert_true(x->max_ts < NOW - p.retention_ns);
        }
    }
    assert_disjoint(&plan);
    sift__tier_plan_cleanup(&plan);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiers_retention_deletes_only_expired),
        cmocka_unit_test(test_tiers_size_cap_deletes_oldest_first),
        cmocka_unit_test(test_tiers_hot_to_warm_by_age_grouped_by_size),
        cmocka_unit_test(test_tiers_to_cold_per_day_joins_same_day_cold),
        cmocka_unit_test(test_tiers_cold_same_day_merge),
        cmocka_unit_test(test_tiers_full_segments_are_not_merged_again),
        cmocka_unit_test(
            test_tiers_tiered_merge_needs_factor_segments_per_class),
        cmocka_unit_test(
            test_tiers_tiered_merge_takes_only_inputs_that_fit_one_output),
        cmocka_unit_test(test_tiers_busy_segments_are_never_planned),
        cmocka_unit_test(test_tiers_young_data_never_deleted_without_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
