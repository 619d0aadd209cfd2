/*
 * test_postings.c - unit tests of the index module on its own (no
 * segment): postings entries in each of their four forms round-trip
 * through the writer and the decoder (whole and cut to a doc range), the
 * decoder refuses ids past the doc count and entries past their bounds,
 * and a term dictionary written
 * as a TERMS section answers lookups and prefix walks from a view.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <roaring/roaring.h>
#include <zstd.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/postings.h"
#include "sift/termdict.h"

/* Shapes for shape-group tests: docs 0..99 in shape d % 4. */
#define N_DOCS 100u
static uint32_t shape_of[N_DOCS], shape_docs[4], sd_at[5], sd_ids[N_DOCS];

static void
shapes_init(void)
{
    memset(shape_docs, 0, sizeof(shape_docs));
    for (uint32_t d = 0; d < N_DOCS; d++) {
        shape_of[d] = d % 4;
        shape_docs[d % 4]++;
    }
    uint32_t k = 0;
    for (uint32_t g = 0; g < 4; g++) {
        sd_at[g] = k;
        for (uint32_t d = g; d < N_DOCS; d += 4)
            sd_ids[k++] = d;
    }
    sd_at[4] = k;
}

static int
shape_docs_cb(void *arg, struct sift_postings_shape_docs *out)
{
    (*(int *)arg)++;
    out->at = sd_at;
    out->ids = sd_ids;
    out->n_shapes = 4;
    return SIFT_OK;
}

/* Writes ids as one entry, reads it back, checks the form and the docs. */
static void
roundtrip(struct sift_postings_writer *w, const uint32_t *ids, uint32_t n,
          unsigned want_kind)
{
    struct sift_buf entry = SIFT_BUF_INIT;
    assert_int_equal(sift_postings_write(w, ids, n, &entry), SIFT_OK);
    const uint8_t *p = (const uint8_t *)entry.data;
    struct sift_postings_entry e;
    assert_int_equal(sift_postings_entry_read(&p, p + entry.len, &e), SIFT_OK);
    assert_ptr_equal(p, (const uint8_t *)entry.data + entry.len);
    assert_int_equal(e.tag & 3, want_kind);
    int calls = 0;
    struct sift_postings_src src = {N_DOCS,
                                    (const uint8_t *)w->area.data,
                                    w->area.len,
                                    shape_docs_cb,
                                    &calls,
                                    0,
                                    0};
    /* The area must be 32-byte aligned, as in an image. */
    uint8_t *aligned = NULL;
    if (w->area.len > 0) {
        aligned = sift_xmalloc(w->area.len + 32);
        uint8_t *a = (uint8_t *)(((uintptr_t)aligned + 31) & ~(uintptr_t)31);
        memcpy(a, w->area.data, w->area.len);
        src.area = a;
    }
    roaring_bitmap_t *bm = NULL;
    assert_int_equal(sift_postings_decode(&src, &e, &bm), SIFT_OK);
    assert_int_equal(roaring_bitmap_get_cardinality(bm), n);
    for (uint32_t i = 0; i < n; i++)
        assert_true(roaring_bitmap_contains(bm, ids[i]));
    assert_int_equal(calls, want_kind == SIFT_POSTINGS_SHAPES ? 1 : 0);
    roaring_bitmap_free(bm);
    /* A doc range keeps exactly the ids inside it, whatever the form
     * (edges, empty and whole ranges included). */
    static const uint32_t ranges[][2] = {{0, 1},    {1, 10},  {9, 11},
                                         {40, 60},  {42, 43}, {50, 50},
                                         {77, 100}, {0, 100}, {99, 100}};
    for (size_t k = 0; k < sizeof(ranges) / sizeof(ranges[0]); k++) {
        src.range_lo = ranges[k][0];
        src.range_hi = ranges[k][1];
        assert_int_equal(sift_postings_decode(&src, &e, &bm), SIFT_OK);
        uint64_t want = 0;
        for (uint32_t i = 0; i < n; i++) {
            int in = ids[i] >= ranges[k][0] && ids[i] < ranges[k][1];
            want += (uint64_t)in;
            assert_int_equal(roaring_bitmap_contains(bm, ids[i]), in);
        }
        assert_int_equal(roaring_bitmap_get_cardinality(bm), want);
        roaring_bitmap_free(bm);
    }
    src.range_lo = src.range_hi = 0;
    sift_free(aligned);
    sift_buf_cleanup(&entry);
}

static void
test_postings_each_form_roundtrips(void **state)
{
    (void)state;
    shapes_init();
    struct sift_postings_shapes shapes = {shape_of, shape_docs, 4};
    struct sift_postings_writer w;
    assert_int_equal(sift_postings_writer_init(&w, &shapes), SIFT_OK);
    uint32_t one[] = {42};
    roundtrip(&w, one, 1, SIFT_POSTINGS_ONE);
    uint32_t few[] = {3, 9, 10, 77};
    roundtrip(&w, few, 4, SIFT_POSTINGS_LIST);
    /* Every doc of shape 1 and two others: shape groups. */
    uint32_t grp[30], n = 0;
    grp[n++] = 0;
    for (uint32_t d = 1; d < N_DOCS; d += 4)
        grp[n++] = d;
    grp[n++] = 98;
    roundtrip(&w, grp, n, SIFT_POSTINGS_SHAPES);
    sift_postings_writer_cleanup(&w);

    /* Without shapes, a long dense run is a bitmap. */
    assert_int_equal(sift_postings_writer_init(&w, NULL), SIFT_OK);
    uint32_t dense[N_DOCS];
    for (uint32_t d = 0; d < N_DOCS; d++)
        dense[d] = d;
    roundtrip(&w, dense, N_DOCS, SIFT_POSTINGS_BITMAP);
    assert_true(w.area.len > 0);
    sift_postings_writer_cleanup(&w);
}

static void
test_postings_decoder_refuses_bad_entries(void **state)
{
    (void)state;
    struct sift_postings_src src = {10, NULL, 0, NULL, NULL, 0, 0};
    struct sift_postings_entry e;
    roaring_bitmap_t *bm = NULL;
    /* A single doc past the doc count. */
    memset(&e, 0, sizeof(e));
    e.tag = (uint64_t)10 << 2 | SIFT_POSTINGS_ONE;
    assert_int_equal(sift_postings_decode(&src, &e, &bm), SIFT_ECORRUPT);
    /* A list whose deltas run past the doc count. */
    const uint8_t deltas[] = {5, 5};
    e.tag = (uint64_t)1 << 2 | SIFT_POSTINGS_LIST;
    e.tag2 = 2;
    e.list = deltas;
    e.list_end = deltas + 2;
    assert_int_equal(sift_postings_decode(&src, &e, &bm), SIFT_ECORRUPT);
    /* A bitmap outside the (empty) area. */
    e.tag = SIFT_POSTINGS_BITMAP;
    e.tag2 = 16;
    assert_int_equal(sift_postings_decode(&src, &e, &bm), SIFT_ECORRUPT);
    assert_null(bm);
    /* An entry cut short. */
    const uint8_t cut[] = {(uint8_t)(1 << 2 | SIFT_POSTINGS_LIST), 3, 9};
    const uint8_t *p = cut;
    assert_int_equal(sift_postings_entry_read(&p, cut + sizeof(cut), &e),
                     SIFT_ECORRUPT);
}

struct walk {
    struct sift_buf seen;
};

static int
walk_cb(const char *term, size_t len, void *arg)
{
    struct walk *w = arg;
    sift_buf_append(&w->seen, term, len);
    sift_buf_putc(&w->seen, '|');
    return 0;
}

static void
test_termdict_write_then_view(void **state)
{
    (void)state;
    struct sift_arena *arena = sift_arena_new(4096);
    struct sift_termdict td;
    memset(&td, 0, sizeof(td));
    size_t bytes = 0;
    static const char *const words[] = {"pear", "apple", "apricot", "fig",
                                        "apple"};
    for (uint32_t d = 0; d < 5; d++) {
        const char *wd = words[d];
        uint32_t h = (uint32_t)(wd[0] * 31 + wd[1]); /* any hash works */
        sift_termdict_add(&td, arena, wd, strlen(wd), h, d, &bytes);
    }
    assert_int_equal(td.n_terms, 4);
    assert_true(bytes > 0);

    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    struct sift_termdict_writer tw;
    assert_int_equal(sift_termdict_writer_init(&tw, cctx, 3, NULL), SIFT_OK);
    uint32_t order[4], rank[4];
    /* The section must start 32-byte aligned: start it at 0. */
    struct sift_buf sec = SIFT_BUF_INIT;
    assert_int_equal(sift_termdict_write(&tw, &td, NULL, order, rank, &sec),
                     SIFT_OK);
    assert_string_equal(td.terms[order[0]].s, "apple");
    assert_int_equal(rank[0], 3); /* "pear" is last */

    uint8_t *img = sift_xmalloc(sec.len + 32);
    uint8_t *a = (uint8_t *)(((uintptr_t)img + 31) & ~(uintptr_t)31);
    memcpy(a, sec.data, sec.len);
    struct sift_termdict_view v;
    assert_int_equal(sift_termdict_view_init(&v, a, sec.len, 5),
                     SIFT_ECORRUPT); /* wrong term count */
    assert_int_equal(sift_termdict_view_init(&v, a, sec.len, 4), SIFT_OK);

    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    struct sift_termdict_cache cache;
    memset(&cache, 0, sizeof(cache));
    struct sift_postings_src src = {5, NULL, 0, NULL, NULL, 0, 0};
    roaring_bitmap_t *bm = NULL;
    assert_int_equal(
        sift_termdict_lookup(&v, "apple", 5, dctx, &cache, 1, 0, &src, &bm),
        SIFT_OK);
    assert_non_null(bm);
    assert_int_equal(roaring_bitmap_get_cardinality(bm), 2);
    assert_true(roaring_bitmap_contains(bm, 1) &&
                roaring_bitmap_contains(bm, 4));
    roaring_bitmap_free(bm);
    assert_int_equal(
        sift_termdict_lookup(&v, "banana", 6, dctx, &cache, 1, 0, &src, &bm),
        SIFT_OK);
    assert_null(bm);

    struct walk wk = {SIFT_BUF_INIT};
    assert_int_equal(sift_termdict_each(&v, "ap", 2, dctx, walk_cb, &wk),
                     SIFT_OK);
    assert_string_equal(sift_buf_cstr(&wk.seen), "apple|apricot|");
    sift_buf_reset(&wk.seen);
    assert_int_equal(sift_termdict_each(&v, "", 0, dctx, walk_cb, &wk),
                     SIFT_OK);
    assert_string_equal(sift_buf_cstr(&wk.seen), "apple|apricot|fig|pear|");

    sift_buf_cleanup(&wk.seen);
    sift_termdict_cache_cleanup(&cache);
    ZSTD_freeDCtx(dctx);
    sift_free(img);
    sift_buf_cleanup(&sec);
    sift_termdict_writer_cleanup(&tw);
    ZSTD_freeCCtx(cctx);
    sift_termdict_cleanup(&td);
    sift_arena_free(arena);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postings_each_form_roundtrips),
        cmocka_unit_test(test_postings_decoder_refuses_bad_entries),
        cmocka_unit_test(test_termdict_write_then_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
