/*
 * test_merge.c - merging segments (src/store/segment_merge.c), dictionary
 * training, and the lifecycle on a real store (loop + pool): tier moves
 * with a shifted clock, identical contents before and after merges,
 * retention, the size cap, delete-by-query (immediate, physical after a
 * forced rewrite, surviving restart and a crash copy), orphan cleanup.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/lifecycle.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/pool.h"
#include "sift/segment.h"
#include "sift/store.h"
#include "store/lifecycle_int.h"
#include "store/store_int.h"

#include "store_fixture.h"

#define HOUR_NS (INT64_C(3600) * SIFT_NS_PER_SEC)
#define DAY_NS (24 * HOUR_NS)

/* ---- events ---- */

static const char *const words[] = {
    "connection", "reset",  "by",      "peer",     "accepted", "user",
    "session",    "opened", "closed",  "failed",   "password", "for",
    "invalid",    "from",   "port",    "ssh2",     "kernel",   "error",
    "block",      "served", "request", "response", "timeout",  "retry"};

/* Fills ev i (message varies; ts = base + i * step). */
static void
make_event(struct sift_event *ev, struct sift_field *fld, char *msg, size_t cap,
           int i, int64_t ts, const char *extra)
{
    int n = snprintf(msg, cap, "ev%06d %s %s %s %d %s", i, words[i % 24],
                     words[(i * 7) % 24], words[(i * 13) % 24], i % 1000,
                     extra ? extra : "");
    memset(ev, 0, sizeof(*ev));
    ev->ts_ns = ts;
    ev->msg = msg;
    ev->msg_len = (uint32_t)n;
    fld->name = "service.name";
    fld->name_len = 12;
    fld->value = (i % 3) ? "api" : "web";
    fld->value_len = 3;
    fld->type = SIFT_FT_KEYWORD;
    ev->fields = fld;
    ev->n_fields = 1;
}

static struct sift_segment *
build_seg(int first, int n, int64_t ts0, int64_t step, const char *extra_every)
{
    struct sift_segment_opts o;
    struct sift_segment_builder *b;
    sift_segment_opts_init(&o);
    o.zstd_level = 1;
    assert_int_equal(sift_segment_builder_new(&o, &b), SIFT_OK);
    for (int i = first; i < first + n; i++) {
        struct sift_event ev;
        struct sift_field f;
        char msg[160];
        make_event(&ev, &f, msg, sizeof(msg), i, ts0 + (i - first) * step,
                   extra_every && i % 10 == 0 ? extra_every : NULL);
        assert_int_equal(sift_segment_builder_add(b, &ev), SIFT_OK);
    }
    struct sift_buf img = SIFT_BUF_INIT;
    assert_int_equal(sift_segment_builder_finish(b, &img), SIFT_OK);
    sift_segment_builder_free(b);
    size_t len;
    char *data = sift_buf_detach(&img, &len);
    struct sift_segment *seg;
    assert_int_equal(sift_segment_open_mem(data, len, &seg), SIFT_OK);
    return seg;
}

/* Four inputs of per docs each, starting a quarter hour apart on day
 * 19700, a doc every 100 ms. */
static void
four_segs(struct sift_segment *in[4], int per)
{
    int64_t t0 = INT64_C(19700) * DAY_NS;
    for (int i = 0; i < 4; i++)
        in[i] = build_seg(i * per, per, t0 + i * HOUR_NS / 4,
                          SIFT_NS_PER_SEC / 10, NULL);
}

/* Sorted "ts message" lines of every live doc of segs. */
struct lines {
    char **v;
    size_t n;
};

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
collect(struct sift_segment *const *segs, size_t n, struct lines *out)
{
    struct sift_arena *a = sift_arena_new(4096);
    struct sift_buf b = SIFT_BUF_INIT;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const roaring_bitmap_t *del = sift_segment_deleted(segs[i]);
        for (uint32_t d = 0; d < sift_segment_doc_count(segs[i]); d++) {
            if (del && roaring_bitmap_contains(del, d))
                continue;
            struct sift_event ev;
            sift_buf_reset(&b);
            assert_int_equal(sift_segment_doc(segs[i], d, &b), SIFT_OK);
            sift_arena_reset(a);
            assert_int_equal(
                sift_doc_decode((const uint8_t *)b.data, b.len, a, &ev),
                SIFT_OK);
            struct sift_buf line = SIFT_BUF_INIT;
            sift_buf_appendf(&line, "%020" PRId64 " ", ev.ts_ns);
            sift_buf_append(&line, ev.msg, ev.msg_len);
            for (uint32_t k = 0; k < ev.n_fields; k++) {
                sift_buf_putc(&line, ' ');
                sift_buf_append(&line, ev.fields[k].name,
                                ev.fields[k].name_len);
                sift_buf_putc(&line, '=');
                sift_buf_append(&line, ev.fields[k].value,
                                ev.fields[k].value_len);
            }
            out->v = sift_xrealloc(out->v, (out->n + 1) * sizeof(char *));
            out->v[out->n++] = sift_xstrdup(sift_buf_cstr(&line));
            sift_buf_cleanup(&line);
        }
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(char *), cmp_str);
    sift_buf_cleanup(&b);
    sift_arena_free(a);
}

static void
lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        sift_free(l->v[i]);
    sift_free(l->v);
    memset(l, 0, sizeof(*l));
}

static void
assert_lines_equal(const struct lines *a, const struct lines *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_string_equal(a->v[i], b->v[i]);
}

static size_t
count_containing(const struct lines *l, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += strstr(l->v[i], needle) != NULL;
    return n;
}

/* ---- pure merge tests ---- */

static void
test_merge_drops_tombstones_and_splits_by_day(void **state)
{
    (void)state;
    int64_t day0 = INT64_C(19700) * DAY_NS; /* a UTC midnight */
    struct sift_segment *in[3];
    /* 300 docs each, 10 minutes apart: each spans ~2 days. */
    in[0] = build_seg(0, 300, day0 + HOUR_NS, 10 * 60 * SIFT_NS_PER_SEC, NULL);
    in[1] = build_seg(300, 300, day0 + 2 * HOUR_NS, 10 * 60 * SIFT_NS_PER_SEC,
                      NULL);
    struct sift_segment *plain =
        build_seg(600, 100, day0 + 3 * HOUR_NS, 60 * SIFT_NS_PER_SEC, NULL);
    /* Tombstone docs 0..9 and 50 of the third input. */
    roaring_bitmap_t *del = roaring_bitmap_from_range(0, 10, 1);
    roaring_bitmap_add(del, 50);
    assert_int_equal(sift_segment_with_deleted(plain, del, &in[2]), SIFT_OK);
    assert_int_equal(
        roaring_bitmap_get_cardinality(sift_segment_deleted(in[2])), 11);
    /* The original reader is untouched. */
    assert_null(sift_segment_deleted(plain));
    sift_segment_unref(plain);

    struct lines before, after;
    collect(in, 3, &before);
    assert_int_equal(before.n, 689);

    struct sift_segment_opts o;
    sift_segment_opts_init(&o);
    o.tier = SIFT_TIER_COLD;
    o.zstd_level = 5;
    struct sift_merge_out *outs;
    size_t n_outs;
    struct sift_merge_stats st;
    assert_int_equal(
        sift__segment_merge(in, 3, &o, 1, 0, 0, &outs, &n_outs, &st), SIFT_OK);
    assert_int_equal(st.docs_in, 689);
    assert_int_equal(st.docs_dropped, 11);
    assert_int_equal(n_outs, 3); /* days 0, 1 and 2 */
    struct sift_segment *segs[3];
    uint64_t docs = 0;
    for (size_t i = 0; i < n_outs; i++) {
        size_t len;
        char *img = sift_buf_detach(&outs[i].img, &len);
        assert_int_equal(sift_segment_open_mem(img, len, &segs[i]), SIFT_OK);
        assert_int_equal(sift_segment_tier(segs[i]), SIFT_TIER_COLD);
        assert_int_equal(sift_segment_doc_count(segs[i]), outs[i].docs);
        /* Each output holds exactly one UTC day, ascending. */
        assert_int_equal(sift_segment_min_ts(segs[i]) / DAY_NS,
                         19700 + (int64_t)i);
        assert_int_equal(sift_segment_max_ts(segs[i]) / DAY_NS,
                         19700 + (int64_t)i);
        assert_null(sift_segment_deleted(segs[i]));
        assert_true(outs[i].raw_bytes > 0);
        docs += outs[i].docs;
    }
    assert_int_equal(docs, 689);
    collect(segs, n_outs, &after);
    assert_lines_equal(&before, &after);
    sift__merge_outs_free(outs, n_outs);
    for (size_t i = 0; i < n_outs; i++)
        sift_segment_unref(segs[i]);
    for (int i = 0; i < 3; i++)
        sift_segment_unref(in[i]);
    lines_free(&before);
    lines_free(&after);
}

/* With a memory cap the merge cuts full outputs and loses nothing. */
static void
test_merge_memory_cap_cuts_outputs(void **state)
{
    (void)state;
    int64_t t0 = INT64_C(19700) * DAY_NS;
    struct sift_segment *in[4];
    four_segs(in, 3000);
    struct lines before, after;
    collect(in, 4, &before);
    assert_int_equal(before.n, 12000);

    struct sift_segment_opts o;
    sift_segment_opts_init(&o);
    o.zstd_level = 1;
    struct sift_merge_out *outs;
    size_t n_outs;
    struct sift_merge_stats st;
    /* Unbounded: one output; its builder peak sets the scale. */
    assert_int_equal(
        sift__segment_merge(in, 4, &o, 0, 0, 0, &outs, &n_outs, &st), SIFT_OK);
    assert_int_equal(n_outs, 1);
    assert_false(outs[0].full);
    assert_int_equal(st.cuts, 0);
    uint64_t whole = st.builder_peak;
    assert_true(whole > 0);
    sift__merge_outs_free(outs, n_outs);

    /* A quarter of that: several outputs, all but the last full. */
    uint64_t cap = whole / 4;
    assert_int_equal(
        sift__segment_merge(in, 4, &o, 0, cap, 64, &outs, &n_outs, &st),
        SIFT_OK);
    assert_true(n_outs >= 3);
    assert_int_equal(st.cuts, n_outs - 1);
    /* Checked every 64 docs; arrays grow by doubling: within 2x. */
    assert_true(st.builder_peak <= 2 * cap);
    assert_true(st.builder_peak < whole);
    struct sift_segment **segs = sift_xcalloc(n_outs, sizeof(*segs));
    for (size_t i = 0; i < n_outs; i++) {
        assert_int_equal(outs[i].full, i + 1 < n_outs);
        size_t len;
        char *img = sift_buf_detach(&outs[i].img, &len);
        assert_int_equal(sift_segment_open_mem(img, len, &segs[i]), SIFT_OK);
        assert_int_equal(sift_segment_doc_count(segs[i]), outs[i].docs);
    }
    collect(segs, n_outs, &after);
    assert_lines_equal(&before, &after);
    for (size_t i = 0; i < n_outs; i++)
        sift_segment_unref(segs[i]);
    sift_free(segs);
    sift__merge_outs_free(outs, n_outs);
    lines_free(&after);

    /* max_outs bounds the cuts: the ids the caller reserved. */
    assert_int_equal(
        sift__segment_merge(in, 4, &o, 0, cap, 2, &outs, &n_outs, &st),
        SIFT_OK);
    assert_true(n_outs <= 2);
    segs = sift_xcalloc(n_outs, sizeof(*segs));
    for (size_t i = 0; i < n_outs; i++) {
        size_t len;
        char *img = sift_buf_detach(&outs[i].img, &len);
        assert_int_equal(sift_segment_open_mem(img, len, &segs[i]), SIFT_OK);
    }
    collect(segs, n_outs, &after);
    assert_lines_equal(&before, &after);
    for (size_t i = 0; i < n_outs; i++)
        sift_segment_unref(segs[i]);
    sift_free(segs);
    sift__merge_outs_free(outs, n_outs);
    lines_free(&after);

    /* Split by day with a cap: each output still within one day, sorted. */
    struct sift_segment *days[2];
    days[0] = build_seg(0, 4000, t0 + 20 * HOUR_NS, 36 * SIFT_NS_PER_SEC,
                        NULL); /* 40 h: days 0..2 */
    days[1] =
        build_seg(4000, 4000, t0 + 21 * HOUR_NS, 36 * SIFT_NS_PER_SEC, NULL);
    struct lines dbefore;
    collect(days, 2, &dbefore);
    assert_int_equal(
        sift__segment_merge(days, 2, &o, 1, 0, 0, &outs, &n_outs, &st),
        SIFT_OK);
    uint64_t dwhole = st.builder_peak;
    size_t uncut = n_outs;
    sift__merge_outs_free(outs, n_outs);
    assert_int_equal(sift__segment_merge(days, 2, &o, 1, dwhole / 3, 64, &outs,
                                         &n_outs, &st),
                     SIFT_OK);
    assert_true(n_outs > uncut);
    segs = sift_xcalloc(n_outs, sizeof(*segs));
    for (size_t i = 0; i < n_outs; i++) {
        size_t len;
        char *img = sift_buf_detach(&outs[i].img, &len);
        assert_int_equal(sift_segment_open_mem(img, len, &segs[i]), SIFT_OK);
        assert_int_equal(sift_segment_min_ts(segs[i]) / DAY_NS,
                         sift_segment_max_ts(segs[i]) / DAY_NS);
        if (i > 0)
            assert_true(outs[i - 1].day <= outs[i].day);
    }
    collect(segs, n_outs, &after);
    assert_lines_equal(&dbefore, &after);
    for (size_t i = 0; i < n_outs; i++)
        sift_segment_unref(segs[i]);
    sift_free(segs);
    sift__merge_outs_free(outs, n_outs);
    lines_free(&after);
    lines_free(&dbefore);
    for (int i = 0; i < 2; i++)
        sift_segment_unref(days[i]);

    for (int i = 0; i < 4; i++)
        sift_segment_unref(in[i]);
    lines_free(&before);
}

static void
test_merge_nothing_live_makes_no_output(void **state)
{
    (void)state;
    struct sift_segment *plain = build_seg(0, 20, INT64_C(1) << 60, 1000, NULL);
    struct sift_segment *in;
    assert_int_equal(sift_segment_with_deleted(
                         plain, roaring_bitmap_from_range(0, 20, 1), &in),
                     SIFT_OK);
    sift_segment_unref(plain);
    struct sift_segment_opts o;
    sift_segment_opts_init(&o);
    struct sift_merge_out *outs;
    size_t n_outs = 99;
    assert_int_equal(
        sift__segment_merge(&in, 1, &o, 0, 0, 0, &outs, &n_outs, NULL),
        SIFT_OK);
    assert_int_equal(n_outs, 0);
    sift__merge_outs_free(outs, n_outs);
    sift_segment_unref(in);
}

/* What the emit callback saw: each image taken as it was finished. */
struct emitted {
    struct sift_segment *segs[64];
    size_t n;
    uint64_t bytes;
    int fail_at;                 /* return SIFT_EIO at this call (-1: never) */
    atomic_uint_least64_t *held; /* what the merge publishes, or NULL */
    uint64_t cap;
};

static int
take_output(void *arg, struct sift_merge_out *o)
{
    struct emitted *e = arg;
    if ((int)e->n == e->fail_at)
        return SIFT_EIO;
    assert_true(e->n < 64);
    /* Finish order, and the image is whole when handed over. */
    assert_int_equal(o->seq, e->n);
    assert_true(o->img.len > 0);
    /* A cut happens once the builders hold the cap, as published. */
    if (e->held && o->full)
        assert_true(atomic_load(e->held) >= e->cap);
    size_t len;
    char *img = sift_buf_detach(&o->img, &len);
    assert_int_equal(sift_segment_open_mem(img, len, &e->segs[e->n]), SIFT_OK);
    assert_int_equal(sift_segment_doc_count(e->segs[e->n]), o->docs);
    e->bytes += len;
    e->n++;
    return SIFT_OK;
}

/* With an emit callback the outputs leave as they are finished: the
 * merge keeps no image, loses no doc, and an emit error stops it. */
static void
test_merge_emit_hands_over_outputs(void **state)
{
    (void)state;
    struct sift_segment *in[4];
    four_segs(in, 2000);
    struct lines before, after;
    collect(in, 4, &before);
    struct sift_segment_opts o;
    sift_segment_opts_init(&o);
    o.zstd_level = 1;
    struct sift_merge_out *outs;
    size_t n_outs;
    struct sift_merge_stats st;
    assert_int_equal(
        sift__segment_merge(in, 4, &o, 0, 0, 0, &outs, &n_outs, &st), SIFT_OK);
    uint64_t cap = st.builder_peak / 4;
    sift__merge_outs_free(outs, n_outs);

    struct emitted e = {.fail_at = -1};
    assert_int_equal(sift__segment_merge_emit(in, 4, &o, 0, cap, 64,
                                              take_output, &e, NULL, &outs,
                                              &n_outs, &st),
                     SIFT_OK);
    assert_true(n_outs >= 3);
    assert_int_equal(e.n, n_outs);
    assert_int_equal(st.bytes_out, e.bytes);
    for (size_t i = 0; i < n_outs; i++) {
        assert_int_equal(outs[i].img.len, 0); /* taken by the callback */
        assert_true(outs[i].docs > 0);
        assert_int_equal(outs[i].full, i + 1 < n_outs);
    }
    collect(e.segs, e.n, &after);
    assert_lines_equal(&before, &after);
    for (size_t i = 0; i < e.n; i++)
        sift_segment_unref(e.segs[i]);
    sift__merge_outs_free(outs, n_outs);
    lines_free(&after);

    /* The callback's error is the merge's, at the second output. */
    struct emitted f = {.fail_at = 1};
    outs = NULL;
    assert_int_equal(sift__segment_merge_emit(in, 4, &o, 0, cap, 64,
                                              take_output, &f, NULL, &outs,
                                              &n_outs, &st),
                     SIFT_EIO);
    assert_null(outs);
    assert_int_equal(f.n, 1);
    sift_segment_unref(f.segs[0]);
    for (int i = 0; i < 4; i++)
        sift_segment_unref(in[i]);
    lines_free(&before);
}

static void
test_merge_dictionary_training(void **state)
{
    (void)state;
    struct sift_segment *in[2];
    in[0] = build_seg(0, 3000, INT64_C(1) << 60, 1000000, NULL);
    in[1] =
        build_seg(3000, 3000, (INT64_C(1) << 60) + 5000000000, 1000000, NULL);
    void *dict = NULL;
    size_t len = 0;
    assert_int_equal(sift__segment_train_dict(in, 2, 16 << 10, &dict, &len),
                     SIFT_OK);
    assert_non_null(dict);
    assert_true(len > 0 && len <= 16 << 10);

    /* A cold image with the dictionary decodes to the same docs and its
     * doc store is smaller than at the same level without it. */
    struct sift_segment_opts o;
    sift_segment_opts_init(&o);
    o.tier = SIFT_TIER_COLD;
    o.zstd_level = 9;
    o.block_bytes = 4096;
    struct sift_merge_out *plain_out, *dict_out;
    size_t n1, n2;
    assert_int_equal(
        sift__segment_merge(in, 2, &o, 0, 0, 0, &plain_out, &n1, NULL),
        SIFT_OK);
    o.zstd_dict = dict;
    o.zstd_dict_len = len;
    assert_int_equal(
        sift__segment_merge(in, 2, &o, 0, 0, 0, &dict_out, &n2, NULL), SIFT_OK);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 1);
    assert_true(dict_out[0].img.len - len < plain_out[0].img.len);
    size_t l;
    char *img = sift_buf_detach(&dict_out[0].img, &l);
    struct sift_segment *seg;
    assert_int_equal(sift_segment_open_mem(img, l, &seg), SIFT_OK);
    struct lines a, b;
    collect(in, 2, &a);
    collect(&seg, 1, &b);
    assert_lines_equal(&a, &b);
    lines_free(&a);
    lines_free(&b);
    sift_segment_unref(seg);
    sift__merge_outs_free(plain_out, n1);
    sift__merge_outs_free(dict_out, n2);
    sift_free(dict);

    /* Too little data: no dictionary, not an error for the caller. */
    struct sift_segment *tiny = build_seg(0, 10, 1000, 1000, NULL);
    assert_int_equal(sift__segment_train_dict(&tiny, 1, 16 << 10, &dict, &len),
                     SIFT_ENOTFOUND);
    assert_null(dict);
    sift_segment_unref(tiny);
    sift_segment_unref(in[0]);
    sift_segment_unref(in[1]);
}

static void
test_merge_simple_matcher(void **state)
{
    (void)state;
    struct sift_segment *seg = build_seg(0, 200, 1000000, 1000, "Leaked-KEY");
    roaring_bitmap_t *m = NULL;
    assert_int_equal(sift_store_match_simple(seg, "leaked key", 10, INT64_MIN,
                                             INT64_MAX, &m),
                     SIFT_OK);
    assert_int_equal(roaring_bitmap_get_cardinality(m), 20);
    roaring_bitmap_free(m);
    const char *q = "service.name:WEB leaked";
    assert_int_equal(
        sift_store_match_simple(seg, q, strlen(q), INT64_MIN, INT64_MAX, &m),
        SIFT_OK);
    /* i % 10 == 0 and i % 3 == 0: 0, 30, 60, ..., 180 */
    assert_int_equal(roaring_bitmap_get_cardinality(m), 7);
    roaring_bitmap_free(m);
    /* Time range [from, to): docs 0..49 have ts 1000000 + i*1000. */
    assert_int_equal(sift_store_match_simple(seg, "", 0, 1000000, 1050000, &m),
                     SIFT_OK);
    assert_int_equal(roaring_bitmap_get_cardinality(m), 50);
    roaring_bitmap_free(m);
    assert_int_equal(sift_store_match_simple(seg, "nosuchword", 10, INT64_MIN,
                                             INT64_MAX, &m),
                     SIFT_OK);
    assert_true(roaring_bitmap_is_empty(m));
    roaring_bitmap_free(m);
    sift_segment_unref(seg);
}

/* ---- store fixture ---- */

struct fx {
    char root[64];
    char dir[128];
    struct sift_config cfg;
    struct sift_loop *loop;
    struct sift_pool *pool;
    int acks;
};

static void
cfg_fill(struct sift_config *c, const char *dir)
{
    memset(c, 0, sizeof(*c));
    c->data_dir = (char *)(uintptr_t)dir;
    c->cold_path = (char *)(uintptr_t) "";
    c->wal_sync_ms = 5;
    c->wal_file_bytes = 1 << 20;
    c->refresh_ms = 50;
    c->flush_ms = 600000; /* tests flush explicitly */
    c->flush_bytes = 64 << 20;
    c->buffer_max_bytes = 64 << 20;
    c->zstd_level = 1;
    c->block_bytes = 16 << 10;
    c->hot_max_age_ms = 3600 * 1000;
    c->warm_max_age_ms = INT64_C(2) * 86400 * 1000;
    c->retention_ms = INT64_C(10) * 86400 * 1000;
    c->check_interval_ms = 3600 * 1000; /* tests run the policy */
    c->merge_factor = 4;
    c->hot_segment_bytes = 1 << 20;
    c->warm_segment_bytes = 4 << 20;
    c->warm_zstd_level = 3;
    c->cold_zstd_level = 6;
    c->cold_dict_bytes = 8 << 10;
    c->cold_block_bytes = 64 << 10;
}

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/sift-test-merge-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    cfg_fill(&f->cfg, f->dir);
    sift_log_set_level(SIFT_LOG_ERROR);
    sift_clock_set_offset_ns(0);
    assert_int_equal(sift_loop_new(&f->loop), SIFT_OK);
    assert_int_equal(sift_pool_new(f->loop, 2, &f->pool), SIFT_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    sift_pool_free(f->pool);
    sift_loop_free(f->loop);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    sift_clock_set_offset_ns(0);
    sift_free(f);
    return 0;
}

static void
on_durable(void *arg, int rc)
{
    struct fx *f = arg;
    assert_int_equal(rc, SIFT_OK);
    f->acks++;
}

struct acks_ctx {
    struct fx *f;
    int want;
};

static int
acked(void *arg)
{
    struct acks_ctx *c = arg;
    return c->f->acks >= c->want;
}

/* Up to 100 events for one append. */
struct batch {
    struct sift_event evs[100];
    struct sift_field flds[100];
    char msgs[100][160];
};

/* Fills b with k <= 100 events, ids from id, ts from ts0 every step ns;
 * every tenth id carries extra when it is not NULL. */
static void
make_batch(struct batch *b, int id, int k, int64_t ts0, int64_t step,
           const char *extra)
{
    for (int j = 0; j < k; j++)
        make_event(&b->evs[j], &b->flds[j], b->msgs[j], sizeof(b->msgs[j]),
                   id + j, ts0 + (int64_t)j * step,
                   extra && (id + j) % 10 == 0 ? extra : NULL);
}

/* Appends n events starting at id first, ts from ts0 every step ns. */
static void
ingest(struct fx *f, struct sift_store *st, int first, int n, int64_t ts0,
       int64_t step, const char *extra)
{
    int batches = 0;
    for (int i = first; i < first + n; i += 100) {
        struct batch b;
        int k = first + n - i < 100 ? first + n - i : 100;
        make_batch(&b, i, k, ts0 + (int64_t)(i - first) * step, step, extra);
        assert_int_equal(
            sift_store_append(st, b.evs, (size_t)k, NULL, 0, on_durable, f),
            SIFT_OK);
        batches++;
    }
    struct acks_ctx c = {f, f->acks + batches};
    assert_true(sf_run_until(f->loop, acked, &c, 10000));
}

static void
flush_now(struct fx *f, struct sift_store *st)
{
    int done = 0;
    sift_store_flush(st, sf_flush_cb, &done);
    assert_true(sf_run_until(f->loop, sf_flag_set, &done, 10000));
    assert_int_equal(done, 1);
}

static int
lc_idle(void *arg)
{
    return !sift_store_lifecycle_busy(arg);
}

/* Runs the policy until it has nothing more to do. */
static void
lifecycle_settle(struct fx *f, struct sift_store *st)
{
    for (int round = 0; round < 50; round++) {
        sift_store_lifecycle_run(st);
        assert_true(sf_run_until(f->loop, lc_idle, st, 30000));
        if (!sift_store_lifecycle_busy(st)) {
            /* One more run must plan nothing new. */
            sift_store_lifecycle_run(st);
            if (!sift_store_lifecycle_busy(st))
                return;
        }
    }
    fail_msg("lifecycle did not settle");
}

static void
snapshot_lines(struct sift_store *st, struct lines *out)
{
    struct sift_snapshot *snap = sift_store_snapshot(st);
    size_t n = sift_snapshot_count(snap);
    struct sift_segment **segs = sift_xcalloc(n ? n : 1, sizeof(*segs));
    for (size_t i = 0; i < n; i++)
        segs[i] = sift_snapshot_segment(snap, i);
    collect(segs, n, out);
    sift_free(segs);
    sift_snapshot_release(snap);
}

/* Segments on disk per tier (from the manifest in memory). */
static void
tier_counts(struct sift_store *st, size_t counts[3])
{
    counts[0] = counts[1] = counts[2] = 0;
    for (size_t i = 0; i < st->manifest.n_segs; i++)
        counts[st->manifest.segs[i].tier]++;
}

static int
count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l >= sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* ---- store tests ---- */

static void
test_merge_tiers_move_and_contents_stay_identical(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    /* Four simulated days, oldest first, 6 flushes -> 6 hot segments. */
    for (int part = 0; part < 6; part++) {
        int64_t ts0 = now - 4 * DAY_NS + (int64_t)part * 16 * HOUR_NS;
        ingest(f, st, part * 600, 600, ts0, 16 * HOUR_NS / 600, NULL);
        flush_now(f, st);
    }
    /* Recent data that must stay hot. */
    ingest(f, st, 3600, 200, now - 10 * 60 * SIFT_NS_PER_SEC, SIFT_NS_PER_SEC,
           NULL);
    flush_now(f, st);
    struct lines before, after;
    snapshot_lines(st, &before);
    assert_int_equal(before.n, 3800);
    /* The workers' CPU is counted: builds so far, merges only after. */
    struct sift_store_stats s0, s1;
    sift_store_stats(st, &s0);
    assert_true(s0.build_cpu_ns > 0);
    assert_int_equal(s0.merge_cpu_ns, 0);

    lifecycle_settle(f, st);
    sift_store_stats(st, &s1);
    assert_true(s1.merge_cpu_ns > 0);
    assert_int_equal(s1.build_cpu_ns, s0.build_cpu_ns); /* no flush since */
    size_t c[3];
    tier_counts(st, c);
    assert_true(c[SIFT_TIER_HOT] >= 1);
    assert_true(c[SIFT_TIER_WARM] >= 1);
    assert_true(c[SIFT_TIER_COLD] >= 2); /* several days */
    /* Every cold segment holds one UTC day; no cold segment is young. */
    for (size_t i = 0; i < st->manifest.n_segs; i++) {
        const struct sift_manifest_seg *m = &st->manifest.segs[i];
        if (m->tier == SIFT_TIER_COLD) {
            assert_int_equal(m->min_ts / DAY_NS, m->max_ts / DAY_NS);
            assert_true(m->max_ts < now - 2 * DAY_NS + DAY_NS);
        }
        if (m->tier == SIFT_TIER_HOT)
            assert_true(m->max_ts >= now - 3600 * SIFT_NS_PER_SEC);
    }
    snapshot_lines(st, &after);
    assert_lines_equal(&before, &after);
    lines_free(&after);
    /* Merge outputs name what they replaced (format 5 ORIGIN): inputs no
     * longer live, the WAL range of the 38 appends, the sealed hot
     * segments' own range. */
    for (size_t i = 0; i < st->manifest.n_segs; i++) {
        const struct sift_manifest_seg *m = &st->manifest.segs[i];
        const struct sift_segment_origin *o = NULL;
        for (size_t e = 0; e < st->n_ents; e++)
            if (st->ents[e]->id == m->id)
                o = sift_segment_origin(st->ents[e]->seg);
        assert_non_null(o);
        assert_true(o->min_seq >= 1 && o->max_seq <= 38);
        if (m->tier == SIFT_TIER_HOT) {
            assert_int_equal(o->kind, SIFT_SEG_ORIGIN_WAL);
            continue;
        }
        assert_int_equal(o->kind, SIFT_SEG_ORIGIN_MERGE);
        assert_true(o->n_inputs >= 1);
        for (size_t k = 0; k < o->n_inputs; k++) {
            assert_true(o->inputs[k] < m->id);
            for (size_t x = 0; x < st->manifest.n_segs; x++)
                assert_true(st->manifest.segs[x].id != o->inputs[k]);
        }
    }
    /* Files live in their tier's directory; no leftovers. */
    char warm[256], cold[256];
    snprintf(warm, sizeof(warm), "%s/warm", f->dir);
    snprintf(cold, sizeof(cold), "%s/cold", f->dir);
    assert_int_equal(count_files(warm, ".seg"), (int)c[SIFT_TIER_WARM]);
    assert_int_equal(count_files(cold, ".seg"), (int)c[SIFT_TIER_COLD]);
    assert_int_equal(count_files(warm, ".tmp") + count_files(cold, ".tmp"), 0);
    /* Outputs are written as parts during the merge, renamed after. */
    assert_int_equal(count_files(warm, ".part") + count_files(cold, ".part"),
                     0);
    char hot[256];
    snprintf(hot, sizeof(hot), "%s/segments", f->dir);
    assert_int_equal(count_files(hot, ".seg"), (int)c[SIFT_TIER_HOT]);

    /* /api/v1/tiers data. */
    struct sift_store_tiers tiers;
    sift_store_tiers(st, &tiers);
    assert_string_equal(tiers.tier[0].name, "memory");
    assert_string_equal(tiers.tier[3].name, "cold");
    assert_true(tiers.running);
    assert_int_equal(tiers.pending_rewrites, 0);
    assert_true(tiers.merges_done >= 2); /* to warm, to cold */

    /* Restart: the same contents, the same tiers. */
    sift_store_close(st);
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    size_t c2[3];
    tier_counts(st, c2);
    assert_memory_equal(c, c2, sizeof(c));
    snapshot_lines(st, &after);
    assert_lines_equal(&before, &after);
    lines_free(&after);

    /* Nine days later, retention (10 d) removes what is > 10 d old. */
    sift_clock_set_offset_ns(9 * DAY_NS);
    lifecycle_settle(f, st);
    int64_t cut = sift_clock_now_ns() - 10 * DAY_NS;
    snapshot_lines(st, &after);
    assert_true(after.n < before.n);
    assert_true(after.n > 0);
    /* Nothing younger than the retention was deleted. */
    size_t young = 0;
    for (size_t i = 0; i < before.n; i++) {
        int64_t ts = strtoll(before.v[i], NULL, 10);
        if (ts >= cut)
            young++;
    }
    assert_true(after.n >= young);
    for (size_t i = 0; i < st->manifest.n_segs; i++)
        assert_true(st->manifest.segs[i].max_ts >= cut);
    lines_free(&after);
    lines_free(&before);
    sift_store_close(st);
}

/* A small tiers.merge_memory makes a merge cut many outputs: more than
 * its inputs + 17, where the ids it used to reserve ran out and it
 * stopped cutting (holding the rest in one builder).  Nothing is lost and
 * no part file is left behind. */
/*
 * A tiered merge takes only inputs that fit in one output under
 * tiers.merge_memory (tiers.c rule 7): with room for one segment and a
 * half nothing merges (a merge would only cut them up again), with room
 * for all four they become one.  The store learns the builder bytes per
 * doc from its seals.
 */
static void
test_merge_tiered_takes_only_inputs_that_fit(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    for (int part = 0; part < 4; part++) {
        ingest(f, st, part * 1200, 1200,
               now - 30 * 60 * SIFT_NS_PER_SEC + part * 1200 * SIFT_NS_PER_MS,
               SIFT_NS_PER_MS, NULL);
        flush_now(f, st);
    }
    assert_true(st->builder_bpd > 0);
    size_t c[3];
    tier_counts(st, c);
    assert_int_equal(c[SIFT_TIER_HOT], 4);

    f->cfg.merge_memory = (int64_t)(st->builder_bpd * 1800 / 7 * 8);
    lifecycle_settle(f, st);
    tier_counts(st, c);
    assert_int_equal(c[SIFT_TIER_HOT], 4);
    struct sift_store_stats ss;
    sift_store_stats(st, &ss);
    assert_int_equal(ss.merge_cpu_ns, 0);

    f->cfg.merge_memory = (int64_t)(st->builder_bpd * 6000 / 7 * 8);
    lifecycle_settle(f, st);
    tier_counts(st, c);
    assert_int_equal(c[SIFT_TIER_HOT], 1);
    struct lines all;
    snapshot_lines(st, &all);
    assert_int_equal(all.n, 4800);
    lines_free(&all);
    sift_store_close(st);
}

static void
test_merge_small_cap_keeps_cutting(void **state)
{
    struct fx *f = *state;
    f->cfg.merge_memory = 32 << 10;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    for (int part = 0; part < 4; part++) {
        ingest(f, st, part * 600, 600, now - 3 * HOUR_NS + part * HOUR_NS / 8,
               SIFT_NS_PER_SEC, NULL);
        flush_now(f, st);
    }
    struct lines before, after;
    snapshot_lines(st, &before);
    lifecycle_settle(f, st);
    size_t c[3];
    tier_counts(st, c);
    assert_int_equal(c[SIFT_TIER_HOT], 0);
    assert_true(c[SIFT_TIER_WARM] > 4 + 17);
    snapshot_lines(st, &after);
    assert_lines_equal(&before, &after);
    char warm[256];
    snprintf(warm, sizeof(warm), "%s/warm", f->dir);
    assert_int_equal(count_files(warm, ".seg"), (int)c[SIFT_TIER_WARM]);
    assert_int_equal(count_files(warm, ".part"), 0);
    lines_free(&before);
    lines_free(&after);
    sift_store_close(st);
}

/* Appends 100-event batches until the store refuses one; returns the
 * buffer bytes it reported then. */
static uint64_t
fill_until_busy(struct fx *f, struct sift_store *st, int first)
{
    for (int i = first; i < first + 100000; i += 100) {
        struct batch b;
        make_batch(&b, i, 100, sift_clock_now_ns(), 0, NULL);
        int rc = sift_store_append(st, b.evs, 100, NULL, 0, on_durable, f);
        if (rc == SIFT_EBUSY) {
            struct sift_store_stats ss;
            sift_store_stats(st, &ss);
            return ss.buffer_bytes;
        }
        assert_int_equal(rc, SIFT_OK);
        struct acks_ctx c = {f, f->acks + 1};
        assert_true(sf_run_until(f->loop, acked, &c, 10000));
    }
    fail_msg("the store never refused a batch");
    return 0;
}

/* A running merge's builder bytes come out of the ingest budget, at most
 * half of it: with a merge holding more than the whole buffer, appends
 * are refused at half of buffer_max_bytes instead of all of it. */
static void
test_merge_memory_counts_against_the_buffer(void **state)
{
    struct fx *f = *state;
    f->cfg.buffer_max_bytes = 1 << 20;
    f->cfg.flush_bytes = 64 << 20; /* no flush frees the buffer meanwhile */
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    uint64_t alone = fill_until_busy(f, st, 0);
    assert_true(alone >= 1 << 20);
    assert_true(sift_store_is_full(st));
    flush_now(f, st);
    assert_false(sift_store_is_full(st));

    atomic_store(&st->merge_held, UINT64_C(8) << 20);
    struct sift_store_stats ss;
    sift_store_stats(st, &ss);
    assert_int_equal(ss.merge_bytes, UINT64_C(8) << 20);
    uint64_t merging = fill_until_busy(f, st, 100000);
    assert_true(merging >= 1 << 19);
    assert_true(merging < alone * 3 / 4);
    /* The merge ends: the whole buffer is there again. */
    atomic_store(&st->merge_held, 0);
    assert_false(sift_store_is_full(st));
    sift_store_close(st);
}

static int
no_building(void *arg)
{
    struct sift_store *st = arg;
    for (size_t i = 0; i < st->n_ents; i++)
        if (st->ents[i]->state == SIFT_ENT_BUILDING)
            return 0;
    return 1;
}

/*
 * A sealed builder whose segment is being built counts in the buffer with
 * what its build allocates beside it (finish_x16 per 16 builder bytes),
 * and a build of a large builder teaches finish_x16 where the allocator
 * can tell (jemalloc).  Then the store's memory stays within
 * buffer_max_bytes while flushes are being built.
 */
static void
test_merge_building_segment_counts_its_build(void **state)
{
    struct fx *f = *state;
    f->cfg.buffer_max_bytes = 256 << 20;
    f->cfg.flush_bytes = 256 << 20;
    f->cfg.refresh_ms = 600000; /* only the refresh below seals */
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    ingest(f, st, 0, 20000, sift_clock_now_ns(), 1000, NULL);
    atomic_store(&st->finish_x16, 16); /* the build takes as much again */
    struct sift_store_stats before, during;
    sift_store_stats(st, &before);
    sift_store_refresh(st); /* seals; the loop has not seen the build end */
    struct sift__entry *e = st->ents[st->n_ents - 1];
    assert_int_equal(e->state, SIFT_ENT_BUILDING);
    uint64_t bb = sift_segment_builder_bytes(e->builder);
    assert_true(bb >= 1 << 20);
    sift_store_stats(st, &during);
    assert_int_equal(during.buffer_bytes,
                     2 * bb + sift_segment_builder_bytes(st->builder));
    assert_true(during.buffer_bytes > before.buffer_bytes * 3 / 2);
    assert_true(sf_run_until(f->loop, no_building, st, 10000));
    uint32_t learned = atomic_load(&st->finish_x16);
    if (strcmp(sift_alloc_name(), "jemalloc") == 0) {
        /* Measured: the image and the build's arrays, well under 2x. */
        assert_true(learned < 16);
        assert_true(learned >= 4);
    } else {
        assert_int_equal(learned, 16);
    }
    /* Built: the entry counts its image now, less than the builder. */
    struct sift_store_stats after;
    sift_store_stats(st, &after);
    assert_true(after.buffer_bytes < bb);
    assert_int_equal(after.bytes_mem, e->bytes);
    sift_store_close(st);
}

static void
test_merge_size_cap_deletes_oldest(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    f->cfg.hot_max_age_ms = 36500LL * 86400 * 1000 - 1;
    f->cfg.warm_max_age_ms = 36500LL * 86400 * 1000;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    for (int part = 0; part < 4; part++) {
        ingest(f, st, part * 500, 500, now - (4 - part) * HOUR_NS,
               SIFT_NS_PER_SEC, NULL);
        flush_now(f, st);
    }
    uint64_t total = 0, oldest_bytes = 0;
    int64_t oldest = INT64_MAX;
    for (size_t i = 0; i < st->manifest.n_segs; i++) {
        total += st->manifest.segs[i].bytes;
        if (st->manifest.segs[i].max_ts < oldest) {
            oldest = st->manifest.segs[i].max_ts;
            oldest_bytes = st->manifest.segs[i].bytes;
        }
    }
    assert_int_equal(st->manifest.n_segs, 4);
    f->cfg.max_disk_bytes = (int64_t)(total - oldest_bytes / 2);
    f->cfg.merge_factor = 100; /* no merges: only the cap acts */
    lifecycle_settle(f, st);
    assert_int_equal(st->manifest.n_segs, 3);
    for (size_t i = 0; i < st->manifest.n_segs; i++)
        assert_true(st->manifest.segs[i].max_ts > oldest);
    struct sift_store_stats ss;
    sift_store_stats(st, &ss);
    assert_int_equal(ss.docs, 1500);
    sift_store_close(st);
}

/* Docs a search can see (tombstoned ones left out). */
static uint64_t
live_docs(struct sift_store *st)
{
    struct sift_snapshot *snap = sift_store_snapshot(st);
    uint64_t n = 0;
    for (size_t i = 0; i < sift_snapshot_count(snap); i++) {
        struct sift_segment *seg = sift_snapshot_segment(snap, i);
        const roaring_bitmap_t *del = sift_segment_deleted(seg);
        n += sift_segment_doc_count(seg) -
             (del ? roaring_bitmap_get_cardinality(del) : 0);
    }
    sift_snapshot_release(snap);
    return n;
}

/* Retention holds per event: old events that share a segment with young
 * ones (or with one stamped years ahead) go at retention all the same,
 * and the young ones stay. */
static void
test_merge_retention_per_event_in_straddling_segments(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    /* No tier moves and no merges: only retention acts.  Only flush_now()
     * seals, so each flush below is one segment. */
    f->cfg.refresh_ms = 3600 * 1000;
    f->cfg.hot_max_age_ms = 36500LL * 86400 * 1000 - 1;
    f->cfg.warm_max_age_ms = 36500LL * 86400 * 1000;
    f->cfg.merge_factor = 100;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    const int64_t day = 86400 * SIFT_NS_PER_SEC;
    /* Segment A: 400 twelve-day-old events and 100 fresh ones (retention
     * is 10 days): mostly dead, so it is rewritten. */
    ingest(f, st, 0, 400, now - 12 * day, SIFT_NS_PER_SEC, NULL);
    ingest(f, st, 400, 100, now - HOUR_NS, SIFT_NS_PER_SEC, NULL);
    flush_now(f, st);
    /* Segment B: 300 old events and one stamped five years ahead. */
    ingest(f, st, 500, 300, now - 11 * day, SIFT_NS_PER_SEC, NULL);
    ingest(f, st, 800, 1, now + 5 * 365 * day, SIFT_NS_PER_SEC, NULL);
    flush_now(f, st);
    /* Segment C: one old event among 200 fresh ones: hidden, no rewrite. */
    ingest(f, st, 801, 1, now - 20 * day, SIFT_NS_PER_SEC, NULL);
    ingest(f, st, 802, 200, now - HOUR_NS, SIFT_NS_PER_SEC, NULL);
    flush_now(f, st);
    assert_int_equal(st->manifest.n_segs, 3);
    assert_int_equal(live_docs(st), 1002);

    lifecycle_settle(f, st);
    /* Only the young events are left, in every segment. */
    assert_int_equal(live_docs(st), 100 + 1 + 200);
    struct sift_snapshot *snap = sift_store_snapshot(st);
    for (size_t i = 0; i < sift_snapshot_count(snap); i++) {
        struct sift_segment *seg = sift_snapshot_segment(snap, i);
        const roaring_bitmap_t *del = sift_segment_deleted(seg);
        for (uint32_t d = 0; d < sift_segment_doc_count(seg); d++)
            if (!del || !roaring_bitmap_contains(del, d))
                assert_true(sift_segment_doc_ts(seg, d) >= now - 10 * day);
    }
    sift_snapshot_release(snap);
    /* None of the three was dropped whole; the mostly dead ones were
     * rewritten without their dead events. */
    assert_int_equal(st->manifest.n_segs, 3);
    uint64_t stored = 0;
    for (size_t i = 0; i < st->manifest.n_segs; i++)
        stored += st->manifest.segs[i].docs;
    assert_int_equal(stored, 100 + 1 + 201);
    char segdir[256];
    snprintf(segdir, sizeof(segdir), "%s/segments", f->dir);
    assert_int_equal(count_files(segdir, ".del"), 1); /* segment C */
    /* Survives a restart (the tombstones are durable). */
    sift_store_close(st);
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(live_docs(st), 301);
    sift_store_close(st);
}

struct del_res {
    int done;
    int rc;
    uint64_t matched;
};

static void
on_deleted(void *arg, int rc, uint64_t matched)
{
    struct del_res *r = arg;
    r->done = 1;
    r->rc = rc;
    r->matched = matched;
}

static int
del_done_pred(void *arg)
{
    return ((struct del_res *)arg)->done;
}

/*
 * Physically present?  Opens every segment file under dir (images are
 * compressed, so grep proves nothing) and decodes every doc, tombstoned
 * or not; returns the number of docs whose message contains needle.
 */
static int
dir_contains(const char *dir, const char *needle)
{
    DIR *d = opendir(dir);
    int hits = 0;
    assert_non_null(d);
    struct dirent *de;
    struct sift_arena *a = sift_arena_new(4096);
    struct sift_buf b = SIFT_BUF_INIT;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 4 || strcmp(de->d_name + l - 4, ".seg") != 0)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct sift_segment *seg;
        assert_int_equal(sift_segment_open_file(path, &seg), SIFT_OK);
        for (uint32_t i = 0; i < sift_segment_doc_count(seg); i++) {
            struct sift_event ev;
            sift_buf_reset(&b);
            assert_int_equal(sift_segment_doc(seg, i, &b), SIFT_OK);
            sift_arena_reset(a);
            assert_int_equal(
                sift_doc_decode((const uint8_t *)b.data, b.len, a, &ev),
                SIFT_OK);
            char msg[256];
            size_t n = ev.msg_len < 255 ? ev.msg_len : 255;
            memcpy(msg, ev.msg, n);
            msg[n] = '\0';
            hits += strstr(msg, needle) != NULL;
        }
        sift_segment_unref(seg);
    }
    closedir(d);
    sift_buf_cleanup(&b);
    sift_arena_free(a);
    return hits;
}

static void
crash_copy(struct fx *f, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, f->dir,
             to);
    assert_int_equal(system(cmd), 0);
}

static void
test_merge_delete_by_query(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    /* On disk (two segments), in memory, and buffered at delete time. */
    ingest(f, st, 0, 500, now - 3 * HOUR_NS, SIFT_NS_PER_SEC, "zqxsecret");
    flush_now(f, st);
    ingest(f, st, 500, 500, now - 2 * HOUR_NS, SIFT_NS_PER_SEC, "zqxsecret");
    flush_now(f, st);
    ingest(f, st, 1000, 300, now - HOUR_NS, SIFT_NS_PER_SEC, "zqxsecret");
    sift_store_refresh(st);
    ingest(f, st, 1300, 200, now - 60 * SIFT_NS_PER_SEC, SIFT_NS_PER_MS,
           "zqxsecret");
    struct lines before;
    char segdir[256];
    snprintf(segdir, sizeof(segdir), "%s/segments", f->dir);
    assert_true(dir_contains(segdir, "zqxsecret"));

    struct del_res r = {0, 0, 0};
    assert_int_equal(sift_store_delete(st, "zqxsecret", 9, INT64_MIN, INT64_MAX,
                                       1, on_deleted, &r),
                     SIFT_OK);
    assert_true(sf_run_until(f->loop, del_done_pred, &r, 20000));
    assert_int_equal(r.rc, SIFT_OK);
    assert_int_equal(r.matched, 150);
    /* Gone from the snapshot right away; everything else is there. */
    snapshot_lines(st, &before);
    assert_int_equal(count_containing(&before, "zqxsecret"), 0);
    assert_int_equal(before.n, 1500 - 150);

    /* A crash right now (no close): the copy must not show them. */
    char copy[256];
    snprintf(copy, sizeof(copy), "%s/crash", f->root);
    crash_copy(f, copy);

    /* Forced rewrite: the text leaves the segment files. */
    lifecycle_settle(f, st);
    flush_now(f, st);
    lifecycle_settle(f, st);
    assert_false(dir_contains(segdir, "zqxsecret"));
    assert_int_equal(count_files(segdir, ".del"), 0);
    struct lines after;
    snapshot_lines(st, &after);
    assert_lines_equal(&before, &after);
    lines_free(&after);

    /* Same query again: nothing left to match. */
    r.done = 0;
    assert_int_equal(sift_store_delete(st, "zqxsecret", 9, INT64_MIN, INT64_MAX,
                                       0, on_deleted, &r),
                     SIFT_OK);
    assert_true(sf_run_until(f->loop, del_done_pred, &r, 20000));
    assert_int_equal(r.matched, 0);
    /* A bad time range is refused before the WAL. */
    assert_int_equal(sift_store_delete(st, "x", 1, 10, 10, 0, on_deleted, &r),
                     SIFT_EINVAL);

    /* Restart keeps it deleted. */
    sift_store_close(st);
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    snapshot_lines(st, &after);
    assert_lines_equal(&before, &after);
    lines_free(&after);
    sift_store_close(st);

    /* The crash copy: WAL replay and sidecars keep the events deleted. */
    struct sift_config c2 = f->cfg;
    c2.data_dir = copy;
    assert_int_equal(sift_store_open(&c2, f->loop, f->pool, &st), SIFT_OK);
    snapshot_lines(st, &after);
    assert_int_equal(count_containing(&after, "zqxsecret"), 0);
    assert_lines_equal(&before, &after);
    lines_free(&after);
    sift_store_close(st);
    lines_free(&before);
}

/* A dry run counts exactly what the delete would take (disk, memory and
 * buffered events alike), changes nothing, and is not replayed. */
static void
test_merge_delete_dry_run_counts_and_changes_nothing(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    ingest(f, st, 0, 500, now - 3 * HOUR_NS, SIFT_NS_PER_SEC, "zqxsecret");
    flush_now(f, st);
    ingest(f, st, 500, 300, now - HOUR_NS, SIFT_NS_PER_SEC, "zqxsecret");
    sift_store_refresh(st);
    ingest(f, st, 800, 200, now - 60 * SIFT_NS_PER_SEC, SIFT_NS_PER_MS,
           "zqxsecret");

    struct del_res r = {0, 0, 0};
    assert_int_equal(sift_store_delete(st, "zqxsecret", 9, INT64_MIN, INT64_MAX,
                                       SIFT_DELETE_DRY_RUN, on_deleted, &r),
                     SIFT_OK);
    assert_true(sf_run_until(f->loop, del_done_pred, &r, 20000));
    assert_int_equal(r.rc, SIFT_OK);
    assert_int_equal(r.matched, 100);
    /* Like a delete, the dry run made the buffered events searchable. */
    struct lines before, after;
    snapshot_lines(st, &before);
    assert_int_equal(before.n, 1000);
    assert_int_equal(count_containing(&before, "zqxsecret"), 100);
    /* A time range narrows the count as it narrows the delete. */
    r.done = 0;
    assert_int_equal(sift_store_delete(st, "zqxsecret", 9, now - 2 * HOUR_NS,
                                       INT64_MAX, SIFT_DELETE_DRY_RUN,
                                       on_deleted, &r),
                     SIFT_OK);
    assert_true(sf_run_until(f->loop, del_done_pred, &r, 20000));
    assert_int_equal(r.matched, 50);
    snapshot_lines(st, &after);
    assert_lines_equal(&before, &after);
    lines_free(&after);
    char segdir[256];
    snprintf(segdir, sizeof(segdir), "%s/segments", f->dir);
    assert_int_equal(count_files(segdir, ".del"), 0);

    /* A crash now: replaying the WAL must not apply the dry runs. */
    char copy[256];
    snprintf(copy, sizeof(copy), "%s/crash", f->root);
    crash_copy(f, copy);
    struct sift_config c2 = f->cfg;
    c2.data_dir = copy;
    struct sift_store *st2;
    assert_int_equal(sift_store_open(&c2, f->loop, f->pool, &st2), SIFT_OK);
    snapshot_lines(st2, &after);
    assert_lines_equal(&before, &after);
    lines_free(&after);
    sift_store_close(st2);

    /* The real delete takes exactly what the dry run counted. */
    r.done = 0;
    assert_int_equal(sift_store_delete(st, "zqxsecret", 9, INT64_MIN, INT64_MAX,
                                       0, on_deleted, &r),
                     SIFT_OK);
    assert_true(sf_run_until(f->loop, del_done_pred, &r, 20000));
    assert_int_equal(r.matched, 100);
    snapshot_lines(st, &after);
    assert_int_equal(after.n, before.n - 100);
    lines_free(&after);
    lines_free(&before);
    sift_store_close(st);
}

/* ---- replace records (_bulk index of a stored _id) ---- */

/* An event with _index idx and _id id, message msg. */
static void
keyed_event(struct sift_event *ev, struct sift_field *f, const char *idx,
            const char *id, const char *msg, int64_t ts)
{
    memset(ev, 0, sizeof(*ev));
    ev->ts_ns = ts;
    ev->msg = msg;
    ev->msg_len = (uint32_t)strlen(msg);
    f[0] = (struct sift_field){"_index", idx, 6, (uint32_t)strlen(idx),
                               SIFT_FT_KEYWORD};
    f[1] = (struct sift_field){"_id", id, 3, (uint32_t)strlen(id),
                               SIFT_FT_KEYWORD};
    ev->fields = f;
    ev->n_fields = 2;
}

/* Live docs of the current snapshot whose message contains needle. */
static int
live_with(struct sift_store *st, const char *needle)
{
    struct lines l;
    snapshot_lines(st, &l);
    int n = (int)count_containing(&l, needle);
    lines_free(&l);
    return n;
}

struct watch {
    struct sift_store *st;
    int bad; /* a snapshot held both versions of key k1, or neither */
    int polls;
};

static void
watch_tick(void *arg)
{
    struct watch *w = arg;
    int n = live_with(w->st, "doc-k1-");
    if (n != 1)
        w->bad++;
    w->polls++;
}

struct vis_ctx {
    struct sift_store *st;
    uint64_t seq;
};

static int
visible(void *arg)
{
    struct vis_ctx *v = arg;
    return sift_store_visible_seq(v->st) >= v->seq;
}

static void
test_merge_replace_is_atomic_and_exact(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    struct sift_event ev[4];
    struct sift_field fl[4][2];
    /* k1 on disk, K1 (another id: ids are case-sensitive) and k1 of
     * another index in memory. */
    keyed_event(&ev[0], fl[0], "logs", "k1", "doc-k1-v1", now - HOUR_NS);
    assert_int_equal(sift_store_append(st, ev, 1, NULL, 0, on_durable, f),
                     SIFT_OK);
    struct acks_ctx c = {f, f->acks + 1};
    assert_true(sf_run_until(f->loop, acked, &c, 10000));
    flush_now(f, st);
    keyed_event(&ev[1], fl[1], "logs", "K1", "doc-upper-K1", now - HOUR_NS);
    keyed_event(&ev[2], fl[2], "other", "k1", "doc-other-index", now - HOUR_NS);
    assert_int_equal(sift_store_append(st, &ev[1], 2, NULL, 0, on_durable, f),
                     SIFT_OK);
    c.want = f->acks + 1;
    assert_true(sf_run_until(f->loop, acked, &c, 10000));
    sift_store_refresh(st);
    ingest(f, st, 0, 300, now - HOUR_NS, SIFT_NS_PER_MS, NULL); /* noise */
    struct sift_doc_key k = {"logs", 4, "k1", 2};
    uint8_t found = 0;
    struct sift_snapshot *snap = sift_store_snapshot(st);
    size_t n = sift_snapshot_count(snap);
    struct sift_segment *segs[64];
    for (size_t i = 0; i < n && i < 64; i++)
        segs[i] = sift_snapshot_segment(snap, i);
    assert_int_equal(sift_store_keys_find(segs, n, &k, 1, &found), SIFT_OK);
    assert_int_equal(found, 1);
    struct sift_doc_key k2 = {"logs", 4, "k2", 2};
    assert_int_equal(sift_store_keys_find(segs, n, &k2, 1, &found), SIFT_OK);
    assert_int_equal(found, 0);
    sift_snapshot_release(snap);

    /* Replace: while it is applied, every snapshot holds exactly one
     * version of logs/k1. */
    struct watch w = {st, 0, 0};
    struct sift_timer *t = sift_loop_timer_new(f->loop, 1, watch_tick, &w);
    keyed_event(&ev[3], fl[3], "logs", "k1", "doc-k1-v2", now);
    uint64_t before = sift_store_last_seq(st);
    assert_int_equal(
        sift_store_append_replacing(st, &ev[3], 1, &k, 1, on_durable, f),
        SIFT_OK);
    uint64_t seq = sift_store_last_seq(st);
    assert_true(seq > before);
    c.want = f->acks + 1;
    assert_true(sf_run_until(f->loop, acked, &c, 10000));
    struct vis_ctx vc = {st, seq};
    assert_true(sf_run_until(f->loop, visible, &vc, 10000));
    sift_loop_timer_free(t);
    assert_true(w.polls > 0);
    assert_int_equal(w.bad, 0);
    assert_int_equal(live_with(st, "doc-k1-v2"), 1);
    assert_int_equal(live_with(st, "doc-k1-v1"), 0);
    assert_int_equal(live_with(st, "doc-upper-K1"), 1);
    assert_int_equal(live_with(st, "doc-other-index"), 1);

    /* A crash now: replay gives the same (one version, the new one). */
    char copy[256];
    snprintf(copy, sizeof(copy), "%s/crash", f->root);
    crash_copy(f, copy);
    struct sift_config c2 = f->cfg;
    c2.data_dir = copy;
    struct sift_store *st2;
    assert_int_equal(sift_store_open(&c2, f->loop, f->pool, &st2), SIFT_OK);
    assert_int_equal(live_with(st2, "doc-k1-v2"), 1);
    assert_int_equal(live_with(st2, "doc-k1-v1"), 0);
    assert_int_equal(live_with(st2, "doc-upper-K1"), 1);
    sift_store_close(st2);
    /* And after a flush and a clean restart. */
    flush_now(f, st);
    sift_store_close(st);
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(live_with(st, "doc-k1-"), 1);
    assert_int_equal(live_with(st, "doc-k1-v2"), 1);
    sift_store_close(st);
}

static void
test_merge_orphans_of_a_crashed_merge_are_removed(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    ingest(f, st, 0, 300, sift_clock_now_ns() - HOUR_NS / 2, SIFT_NS_PER_SEC,
           NULL);
    flush_now(f, st);
    struct lines before, after;
    snapshot_lines(st, &before);
    sift_store_close(st);
    /* What a kill -9 mid-merge leaves: an output not in the manifest, a
     * temp file, a sidecar of no live segment, and an output written
     * while the merge ran but not yet given its id. */
    const char *orphans[] = {"warm/00000000000000000099.seg",
                             "cold/00000000000000000098.seg.tmp",
                             "segments/00000000000000000097.seg.del",
                             "warm/00000000000000000090-2.part"};
    for (size_t i = 0; i < 4; i++) {
        char p[300];
        snprintf(p, sizeof(p), "%s/%s", f->dir, orphans[i]);
        FILE *fp = fopen(p, "w");
        assert_non_null(fp);
        fputs("junk", fp);
        fclose(fp);
    }
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    for (size_t i = 0; i < 4; i++) {
        char p[300];
        snprintf(p, sizeof(p), "%s/%s", f->dir, orphans[i]);
        assert_int_equal(access(p, F_OK), -1);
    }
    snapshot_lines(st, &after);
    assert_lines_equal(&before, &after);
    lines_free(&before);
    lines_free(&after);
    sift_store_close(st);
}

/* Copies every "*.seg" of from/sub into to/sub (crash leftovers). */
static void
copy_segs(const char *from, const char *to, const char *sub)
{
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cp '%s/%s/'*.seg '%s/%s/'", from, sub, to, sub);
    assert_int_equal(system(cmd), 0);
}

static void
dir_copy(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    assert_int_equal(system(cmd), 0);
}

static void
rm_manifest(const char *dir)
{
    char p[512];
    assert_true(snprintf(p, sizeof(p), "%s/MANIFEST", dir) < (int)sizeof(p));
    assert_int_equal(unlink(p), 0);
}

/* Opens dir: its live docs equal want, and whether it was rebuilt. */
static void
expect_lines(struct fx *f, const char *dir, const struct lines *want,
             int rebuilt)
{
    struct sift_config c = f->cfg;
    struct sift_store *st;
    struct lines got;
    c.data_dir = (char *)(uintptr_t)dir;
    assert_int_equal(sift_store_open(&c, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(st->rebuilt, rebuilt);
    snapshot_lines(st, &got);
    assert_lines_equal(want, &got);
    lines_free(&got);
    sift_store_close(st);
}

/*
 * What a crash around a merge leaves, with and without the manifest: the
 * inputs of a committed merge still on disk, the outputs of a merge that
 * never committed, and such outputs next to inputs a later delete
 * reached.  Each start shows every live event once and no deleted one;
 * with the manifest the leftovers are removed, rebuilding from the files
 * the losing side moves to quarantine/ (never deleted).
 */
static void
test_merge_rebuild_resolves_crash_leftovers(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    char d0[256], d1[256], w[256], q[300];
    snprintf(d0, sizeof(d0), "%s/before", f->root);
    snprintf(d1, sizeof(d1), "%s/after", f->root);
    snprintf(w, sizeof(w), "%s/work", f->root);
    snprintf(q, sizeof(q), "%s/quarantine", w);
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    /* Three hot segments old enough to move to warm (one merge). */
    for (int part = 0; part < 3; part++) {
        ingest(f, st, part * 200, 200, now - (5 - part) * HOUR_NS,
               SIFT_NS_PER_SEC, "zqxgone");
        flush_now(f, st);
    }
    struct lines all, kept;
    snapshot_lines(st, &all);
    assert_int_equal(all.n, 600);
    sift_store_close(st);
    dir_copy(f->dir, d0); /* the inputs, listed */
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    lifecycle_settle(f, st);
    size_t c[3];
    tier_counts(st, c);
    assert_int_equal(c[SIFT_TIER_HOT], 0);
    assert_true(c[SIFT_TIER_WARM] >= 1);
    sift_store_close(st);
    dir_copy(f->dir, d1); /* the output, listed; inputs gone */

    /* 1. Committed merge, its inputs not yet unlinked. */
    dir_copy(d1, w);
    copy_segs(d0, w, "segments");
    expect_lines(f, w, &all, 0);
    char hot[300];
    snprintf(hot, sizeof(hot), "%s/segments", w);
    assert_int_equal(count_files(hot, ".seg"), 0); /* removed: redundant */
    dir_copy(d1, w);
    copy_segs(d0, w, "segments");
    rm_manifest(w);
    expect_lines(f, w, &all, 1);
    assert_int_equal(count_files(hot, ".seg"), 0);
    assert_int_equal(count_files(q, ".seg"), 3); /* superseded-..., kept */

    /* 2. A merge that wrote its output but never committed. */
    dir_copy(d0, w);
    copy_segs(d1, w, "warm");
    expect_lines(f, w, &all, 0);
    char warm[300];
    snprintf(warm, sizeof(warm), "%s/warm", w);
    assert_int_equal(count_files(warm, ".seg"), 0);
    dir_copy(d0, w);
    copy_segs(d1, w, "warm");
    rm_manifest(w);
    expect_lines(f, w, &all, 1); /* same docs either way: the output wins */
    assert_int_equal(count_files(hot, ".seg"), 0);

    /* 3. The inputs got a delete after the merge read them: the merge's
     * output must lose, or the deleted events would come back. */
    dir_copy(d0, w);
    struct sift_config cw = f->cfg;
    cw.data_dir = w;
    assert_int_equal(sift_store_open(&cw, f->loop, f->pool, &st), SIFT_OK);
    struct del_res r = {0, 0, 0};
    assert_int_equal(sift_store_delete(st, "zqxgone", 7, INT64_MIN, INT64_MAX,
                                       0, on_deleted, &r),
                     SIFT_OK);
    assert_true(sf_run_until(f->loop, del_done_pred, &r, 20000));
    assert_int_equal(r.matched, 60);
    snapshot_lines(st, &kept);
    assert_int_equal(kept.n, 540);
    sift_store_close(st);
    char w2[300];
    snprintf(w2, sizeof(w2), "%s/work2", f->root);
    dir_copy(w, w2);
    copy_segs(d1, w, "warm");
    expect_lines(f, w, &kept, 0); /* with MANIFEST: output removed */
    copy_segs(d1, w2, "warm");
    rm_manifest(w2);
    expect_lines(f, w2, &kept, 1);
    char q2[320];
    snprintf(q2, sizeof(q2), "%s/quarantine", w2);
    assert_int_equal(count_files(q2, ".seg"), (int)c[SIFT_TIER_WARM]);
    lines_free(&kept);
    lines_free(&all);
}

/* The store's tombstone stats after opening dir; lines into *out. */
static void
open_count(struct fx *f, const char *dir, struct lines *out,
           struct sift_store_stats *st, const char **held0)
{
    struct sift_config c = f->cfg;
    struct sift_store *s;
    c.data_dir = (char *)(uintptr_t)dir;
    assert_int_equal(sift_store_open(&c, f->loop, f->pool, &s), SIFT_OK);
    snapshot_lines(s, out);
    sift_store_stats(s, st);
    static char held[64];
    held[0] = '\0';
    if (sift_store_held(s)[0])
        snprintf(held, sizeof(held), "%s", sift_store_held(s)[0]);
    *held0 = held;
    sift_store_close(s);
}

static void
damage(const char *path, long off, int op)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    if (op == 0) { /* flip one byte */
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        if (off < 0)
            off += sb.st_size;
        assert_int_equal(fseek(fp, off, SEEK_SET), 0);
        int c = fgetc(fp);
        assert_int_equal(fseek(fp, off, SEEK_SET), 0);
        fputc(c ^ 0x40, fp);
        fclose(fp);
    } else if (op == 1) { /* cut */
        assert_int_equal(truncate(path, off), 0);
    } else if (op == 2) { /* gone */
        assert_int_equal(unlink(path), 0);
    } else { /* zeros, same size */
        FILE *fp = fopen(path, "r+b");
        assert_non_null(fp);
        for (off_t k = 0; k < sb.st_size; k++)
            fputc(0, fp);
        fclose(fp);
    }
}

/*
 * Tombstones never resurrect deleted events: a sidecar flipped at any of
 * several offsets, cut, zeroed or removed is rebuilt from deletes.log
 * (the deleted events stay deleted, every other event is there, the
 * damaged file is kept in quarantine/); an older sidecar than the
 * manifest says is caught the same way; with the journal gone too, the
 * segment is held out of queries instead (fail closed).
 */
static void
test_merge_damaged_tombstones_fail_closed(void **state)
{
    struct fx *f = *state;
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int64_t now = sift_clock_now_ns();
    for (int part = 0; part < 3; part++) {
        ingest(f, st, part * 200, 200, now - HOUR_NS / 2 + part * 1000,
               SIFT_NS_PER_MS, "zqxsecret");
        flush_now(f, st);
    }
    struct del_res r = {0, 0, 0};
    assert_int_equal(sift_store_delete(st, "zqxsecret", 9, INT64_MIN, INT64_MAX,
                                       0, on_deleted, &r),
                     SIFT_OK);
    assert_true(sf_run_until(f->loop, del_done_pred, &r, 20000));
    assert_int_equal(r.matched, 60);
    struct lines want;
    snapshot_lines(st, &want);
    assert_int_equal(want.n, 540);
    sift_store_close(st); /* the manifest now says 20 deleted each */
    char pristine[256], w[256], side[512];
    snprintf(pristine, sizeof(pristine), "%s/pristine", f->root);
    snprintf(w, sizeof(w), "%s/work", f->root);
    dir_copy(f->dir, pristine);
    snprintf(side, sizeof(side), "%s/segments/%020d.seg.del", w, 2);

    static const struct {
        long off;
        int op;
    } cases[] = {{0, 0},  {9, 0},  {17, 0}, {30, 0},
                 {-1, 0}, {10, 1}, {0, 2},  {0, 3}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        dir_copy(pristine, w);
        damage(side, cases[k].off, cases[k].op);
        struct lines got;
        struct sift_store_stats ss;
        const char *held;
        open_count(f, w, &got, &ss, &held);
        assert_lines_equal(&want, &got);
        assert_int_equal(count_containing(&got, "zqxsecret"), 0);
        assert_int_equal(ss.tombstones_damaged, 1);
        assert_int_equal(ss.tombstones_rebuilt, 1);
        assert_int_equal(ss.held, 0);
        lines_free(&got);
        /* Rewritten: a second start finds nothing to repair. */
        open_count(f, w, &got, &ss, &held);
        assert_int_equal(ss.tombstones_damaged, 0);
        assert_lines_equal(&want, &got);
        lines_free(&got);
    }

    /* An older sidecar (nothing deleted yet) put back. */
    dir_copy(pristine, w);
    roaring_bitmap_t *empty = roaring_bitmap_create();
    assert_int_equal(sift__tomb_save(side, empty, 200), SIFT_OK);
    roaring_bitmap_free(empty);
    struct lines got;
    struct sift_store_stats ss;
    const char *held;
    open_count(f, w, &got, &ss, &held);
    assert_lines_equal(&want, &got);
    assert_int_equal(ss.tombstones_rebuilt, 1);
    lines_free(&got);

    /* The journal gone too: held, never served, nothing resurrected. */
    dir_copy(pristine, w);
    damage(side, 9, 0);
    char jpath[512];
    snprintf(jpath, sizeof(jpath), "%s/deletes.log", w);
    assert_int_equal(unlink(jpath), 0);
    open_count(f, w, &got, &ss, &held);
    assert_int_equal(ss.held, 1);
    assert_string_equal(held, "00000000000000000002.seg");
    assert_int_equal(got.n, 540 - 180);
    assert_int_equal(count_containing(&got, "zqxsecret"), 0);
    lines_free(&got);
    lines_free(&want);

    /* A version 1 sidecar (no checksum) still reads. */
    roaring_bitmap_t *bm = roaring_bitmap_of(2, 3, 7);
    size_t n = roaring_bitmap_portable_size_in_bytes(bm);
    char *v1 = sift_xmalloc(n + 8);
    memcpy(v1, "SDEL", 4);
    sift_store_u32(v1 + 4, 1);
    roaring_bitmap_portable_serialize(bm, v1 + 8);
    roaring_bitmap_t *back = NULL;
    assert_int_equal(sift__tomb_decode(v1, n + 8, 10, &back), SIFT_OK);
    assert_true(roaring_bitmap_equals(bm, back));
    roaring_bitmap_free(back);
    assert_int_equal(sift__tomb_decode(v1, n + 8, 7, &back), SIFT_ECORRUPT);
    sift_free(v1);
    roaring_bitmap_free(bm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_drops_tombstones_and_splits_by_day),
        cmocka_unit_test(test_merge_nothing_live_makes_no_output),
        cmocka_unit_test(test_merge_memory_cap_cuts_outputs),
        cmocka_unit_test(test_merge_emit_hands_over_outputs),
        cmocka_unit_test(test_merge_dictionary_training),
        cmocka_unit_test(test_merge_simple_matcher),
        cmocka_unit_test_setup_teardown(
            test_merge_tiers_move_and_contents_stay_identical, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_tiered_takes_only_inputs_that_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_small_cap_keeps_cutting,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_memory_counts_against_the_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_building_segment_counts_its_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_size_cap_deletes_oldest,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_delete_dry_run_counts_and_changes_nothing, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_retention_per_event_in_straddling_segments, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_merge_replace_is_atomic_and_exact,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_delete_by_query, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_orphans_of_a_crashed_merge_are_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_rebuild_resolves_crash_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_merge_damaged_tombstones_fail_closed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
