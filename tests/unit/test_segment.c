/*
 * test_segment.c - segment builder and reader: round trips over every
 * section and read API, edge sizes, corruption and truncation.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/segment.h"
#include "sift/tokenize.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

/* One test event, with storage for its fields. */
struct tev {
    struct sift_event ev;
    struct sift_field f[4];
};

static void
tev_init(struct tev *t, int64_t ts, const char *msg, const char *host,
         const char *status, const char *detail, uint32_t tmpl)
{
    memset(t, 0, sizeof(*t));
    t->ev.ts_ns = ts;
    t->ev.msg = msg;
    t->ev.msg_len = (uint32_t)strlen(msg);
    t->ev.template_id = tmpl;
    t->ev.fields = t->f;
    uint32_t n = 0;
    if (host != NULL) {
        t->f[n] = (struct sift_field){"host.name", host, 9,
                                      (uint32_t)strlen(host), SIFT_FT_KEYWORD};
        n++;
    }
    if (status != NULL) {
        t->f[n] = (struct sift_field){"status", status, 6,
                                      (uint32_t)strlen(status), SIFT_FT_NUMBER};
        n++;
    }
    if (detail != NULL) {
        t->f[n] = (struct sift_field){"detail", detail, 6,
                                      (uint32_t)strlen(detail), SIFT_FT_TEXT};
        n++;
    }
    t->ev.n_fields = n;
}

/* Builds an image from evs and opens it (in memory). */
static struct sift_segment *
build_open(const struct sift_segment_opts *opts, struct tev *evs, size_t n,
           struct sift_buf *img)
{
    struct sift_segment_builder *b;
    assert_int_equal(sift_segment_builder_new(opts, &b), SIFT_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(sift_segment_builder_add(b, &evs[i].ev), SIFT_OK);
    assert_int_equal(sift_segment_builder_count(b), n);
    sift_buf_reset(img);
    assert_int_equal(sift_segment_builder_finish(b, img), SIFT_OK);
    sift_segment_builder_free(b);
    void *copy = sift_xmalloc(img->len);
    memcpy(copy, img->data, img->len);
    struct sift_segment *seg;
    assert_int_equal(sift_segment_open_mem(copy, img->len, &seg), SIFT_OK);
    return seg;
}

/* Docs of a postings bitmap as a bit mask (n <= 64). */
static uint64_t
post_mask(struct sift_segment *seg, const char *field, const char *term)
{
    int fi = sift_segment_field_find(seg, field, strlen(field));
    assert_true(fi >= 0);
    roaring_bitmap_t *bm = NULL;
    assert_int_equal(
        sift_segment_postings(seg, (uint32_t)fi, term, strlen(term), &bm),
        SIFT_OK);
    if (bm == NULL)
        return 0;
    uint64_t m = 0;
    roaring_uint32_iterator_t *it = roaring_create_iterator(bm);
    while (it->has_value) {
        assert_true(it->current_value < 64);
        m |= 1ull << it->current_value;
        roaring_advance_uint32_iterator(it);
    }
    roaring_free_uint32_iterator(it);
    roaring_bitmap_free(bm);
    return m;
}

static int
collect_cb(const char *term, size_t len, void *arg)
{
    struct sift_buf *b = arg;
    sift_buf_append(b, term, len);
    sift_buf_putc(b, '|');
    return 0;
}

static void
fetch_doc(struct sift_segment *seg, uint32_t doc, struct sift_arena *a,
          struct sift_buf *buf, struct sift_event *ev)
{
    sift_buf_reset(buf);
    assert_int_equal(sift_segment_doc(seg, doc, buf), SIFT_OK);
    assert_int_equal(
        sift_doc_decode((const uint8_t *)buf->data, buf->len, a, ev), SIFT_OK);
}

static void
test_segment_roundtrip_small(void **state)
{
    (void)state;
    struct tev evs[6];
    /* Out of time order, with a tie (ts 200) to check the stable sort. */
    tev_init(&evs[0], 300, "GET /api 10.2.3.44:8443 ERROR", "web-01", "500",
             "slow upstream", 7);
    tev_init(&evs[1], 100, "user_id=42 login ok", "WEB-02", "200", NULL, 8);
    tev_init(&evs[2], 200, "first at 200 error", "web-01", "abc", NULL, 7);
    tev_init(&evs[3], 200, "second at 200", NULL, "404", "fast path", 0);
    tev_init(&evs[4], -50, "negative ts", "db-1", NULL, NULL, 9);
    tev_init(&evs[5], 400, "", "web-01", "1e3", NULL, 7);
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.tier = 1;
    struct sift_buf img = SIFT_BUF_INIT, buf = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, 6, &img);

    assert_int_equal(sift_segment_doc_count(seg), 6);
    assert_int_equal(sift_segment_min_ts(seg), -50);
    assert_int_equal(sift_segment_max_ts(seg), 400);
    assert_int_equal(sift_segment_tier(seg), 1);
    assert_int_equal(sift_segment_bytes(seg), img.len);
    assert_memory_equal(sift_segment_image(seg), img.data, img.len);
    /* Sorted order: -50(4) 100(1) 200(2) 200(3) 300(0) 400(5). */
    static const int64_t want_ts[] = {-50, 100, 200, 200, 300, 400};
    static const int want_src[] = {4, 1, 2, 3, 0, 5};
    for (uint32_t d = 0; d < 6; d++)
        assert_int_equal(sift_segment_doc_ts(seg, d), want_ts[d]);
    assert_int_equal(sift_segment_ts_lower_bound(seg, -100), 0);
    assert_int_equal(sift_segment_ts_lower_bound(seg, -50), 0);
    assert_int_equal(sift_segment_ts_lower_bound(seg, 150), 2);
    assert_int_equal(sift_segment_ts_lower_bound(seg, 200), 2);
    assert_int_equal(sift_segment_ts_lower_bound(seg, 201), 4);
    assert_int_equal(sift_segment_ts_lower_bound(seg, 401), 6);

    /* Docs come back whole, in time order. */
    struct sift_arena *a = sift_arena_new(4096);
    for (uint32_t d = 0; d < 6; d++) {
        struct sift_event ev;
        fetch_doc(seg, d, a, &buf, &ev);
        const struct sift_event *src = &evs[want_src[d]].ev;
        assert_int_equal(ev.ts_ns, src->ts_ns);
        assert_int_equal(ev.msg_len, src->msg_len);
        assert_memory_equal(ev.msg, src->msg, src->msg_len);
        assert_int_equal(ev.n_fields, src->n_fields);
        assert_int_equal(ev.template_id, src->template_id);
        for (uint32_t k = 0; k < ev.n_fields; k++) {
            const struct sift_field *g = &ev.fields[k], *w = &src->fields[k];
            assert_int_equal(g->name_len, w->name_len);
            assert_memory_equal(g->name, w->name, w->name_len);
            assert_int_equal(g->value_len, w->value_len);
            assert_memory_equal(g->value, w->value, w->value_len);
            assert_int_equal(g->type, w->type);
        }
        sift_arena_reset(a);
    }
    assert_int_equal(sift_segment_doc(seg, 6, &buf), SIFT_EINVAL);

    /* Fields: sorted by name, with flags. */
    static const char *names[] = {"_template_id", "detail", "host.name",
                                  "message", "status"};
    assert_int_equal(sift_segment_field_count(seg), 5);
    for (uint32_t i = 0; i < 5; i++) {
        unsigned fl;
        uint32_t nt;
        assert_string_equal(sift_segment_field_info(seg, i, &fl, &nt),
                            names[i]);
        assert_int_equal(
            sift_segment_field_find(seg, names[i], strlen(names[i])), (int)i);
        assert_true(fl & SIFT_SEGF_TERMS);
        assert_true(nt > 0);
    }
    assert_int_equal(sift_segment_field_find(seg, "nope", 4), -1);
    assert_null(sift_segment_field_info(seg, 5, NULL, NULL));
    unsigned fl;
    sift_segment_field_info(seg, 2, &fl, NULL);
    assert_int_equal(fl, SIFT_SEGF_TERMS | SIFT_SEGF_KEYWORD);
    sift_segment_field_info(seg, 3, &fl, NULL);
    assert_int_equal(fl, SIFT_SEGF_TERMS | SIFT_SEGF_TEXT);
    sift_segment_field_info(seg, 4, &fl, NULL);
    assert_int_equal(fl, SIFT_SEGF_TERMS | SIFT_SEGF_NUMBER);

    /* Postings (doc ids in time order). */
    assert_int_equal(post_mask(seg, "message", "error"), 1u << 2 | 1u << 4);
    assert_int_equal(post_mask(seg, "message", "8443"), 1u << 4);
    assert_int_equal(post_mask(seg, "message", "200"), 1u << 2 | 1u << 3);
    assert_int_equal(post_mask(seg, "message", "missing"), 0);
    assert_int_equal(post_mask(seg, "host.name", "web-01"),
                     1u << 2 | 1u << 4 | 1u << 5);
    assert_int_equal(post_mask(seg, "host.name", "web-02"), 1u << 1);
    assert_int_equal(post_mask(seg, "detail", "path"), 1u << 3);
    assert_int_equal(post_mask(seg, "status", "500"), 1u << 4);
    assert_int_equal(post_mask(seg, "_template_id", "7"),
                     1u << 2 | 1u << 4 | 1u << 5);

    /* Term iteration: all, and by prefix. */
    sift_buf_reset(&buf);
    assert_int_equal(sift_segment_terms(seg, 2, NULL, 0, collect_cb, &buf),
                     SIFT_OK);
    assert_int_equal(buf.len, strlen("db-1|web-01|web-02|"));
    assert_memory_equal(buf.data, "db-1|web-01|web-02|", buf.len);
    sift_buf_reset(&buf);
    assert_int_equal(sift_segment_terms(seg, 2, "web", 3, collect_cb, &buf),
                     SIFT_OK);
    assert_memory_equal(buf.data, "web-01|web-02|", buf.len);
    sift_buf_reset(&buf);
    assert_int_equal(sift_segment_terms(seg, 2, "x", 1, collect_cb, &buf),
                     SIFT_OK);
    assert_int_equal(buf.len, 0);

    /* Keyword column: lowercased values in term order. */
    assert_int_equal(sift_segment_keyword_card(seg, 2), 3);
    size_t len;
    const char *v = sift_segment_keyword_value(seg, 2, 2, &len);
    assert_int_equal(len, 6);
    assert_memory_equal(v, "web-02", 6);
    assert_int_equal(sift_segment_keyword_ord(seg, 2, 0), 0);
    assert_int_equal(sift_segment_keyword_ord(seg, 2, 1), 2);
    assert_int_equal(sift_segment_keyword_ord(seg, 2, 3), UINT32_MAX);
    assert_null(sift_segment_keyword_value(seg, 2, 3, &len));
    assert_int_equal(sift_segment_keyword_card(seg, 3), 0);

    /* Numeric column: "abc" is not a number, absent docs are absent. */
    double d;
    assert_int_equal(sift_segment_number(seg, 4, 4, &d), SIFT_OK);
    assert_true(d == 500.0);
    assert_int_equal(sift_segment_number(seg, 4, 5, &d), SIFT_OK);
    assert_true(d == 1000.0);
    assert_int_equal(sift_segment_number(seg, 4, 2, &d), SIFT_ENOTFOUND);
    assert_int_equal(sift_segment_number(seg, 4, 0, &d), SIFT_ENOTFOUND);
    assert_int_equal(sift_segment_number(seg, 0, 0, &d), SIFT_OK);
    assert_true(d == 9.0);
    assert_int_equal(sift_segment_number(seg, 0, 3, &d), SIFT_ENOTFOUND);
    assert_null(sift_segment_deleted(seg));

    sift_arena_free(a);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&buf);
}

static void
test_segment_empty_and_one_doc(void **state)
{
    (void)state;
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_buf img = SIFT_BUF_INIT, buf = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, NULL, 0, &img);
    assert_int_equal(sift_segment_doc_count(seg), 0);
    assert_int_equal(sift_segment_field_count(seg), 0);
    assert_int_equal(sift_segment_ts_lower_bound(seg, 5), 0);
    assert_int_equal(sift_segment_doc(seg, 0, &buf), SIFT_EINVAL);
    sift_segment_unref(seg);

    struct tev ev;
    tev_init(&ev, 42, "only one", "h", NULL, NULL, 0);
    seg = build_open(&opts, &ev, 1, &img);
    assert_int_equal(sift_segment_doc_count(seg), 1);
    assert_int_equal(sift_segment_doc_ts(seg, 0), 42);
    assert_int_equal(sift_segment_ts_lower_bound(seg, 42), 0);
    assert_int_equal(sift_segment_ts_lower_bound(seg, 43), 1);
    assert_int_equal(post_mask(seg, "message", "one"), 1);
    assert_int_equal(sift_segment_doc(seg, 0, &buf), SIFT_OK);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&buf);
}

#define BIG_N 20000u

static int
contains(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(s + i, needle, n) == 0)
            return 1;
    return 0;
}

static void
test_segment_large_many_blocks(void **state)
{
    (void)state;
    struct tev *evs = sift_xcalloc(BIG_N, sizeof(*evs));
    char(*msgs)[64] = sift_xcalloc(BIG_N, 64);
    char(*hosts)[16] = sift_xcalloc(BIG_N, 16);
    char(*stat)[16] = sift_xcalloc(BIG_N, 16);
    uint64_t x = 88172645463325252ull;
    for (uint32_t i = 0; i < BIG_N; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        snprintf(msgs[i], 64, "req %u mod%u w%u", i, i % 7, (unsigned)(x % 50));
        snprintf(hosts[i], 16, "h%u", (unsigned)(x % 5000));
        snprintf(stat[i], 16, "%u", i % 3 ? i % 600 : i);
        /* Jittered timestamps: mostly increasing, sometimes back. */
        int64_t ts = (int64_t)i * 1000 - (int64_t)(x % 5000);
        tev_init(&evs[i], ts, msgs[i], hosts[i], stat[i], NULL, i % 11 + 1);
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 4096;
    opts.max_dict_values = 1000; /* host has ~5000 values: no column */
    struct sift_buf img = SIFT_BUF_INIT, buf = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, BIG_N, &img);
    assert_int_equal(sift_segment_doc_count(seg), BIG_N);

    /* Time order, and lower bound against a linear scan. */
    for (uint32_t d = 1; d < BIG_N; d++)
        assert_true(sift_segment_doc_ts(seg, d - 1) <=
                    sift_segment_doc_ts(seg, d));
    for (int64_t t = -6000; t < (int64_t)BIG_N * 1000; t += 77777) {
        uint32_t want = 0;
        while (want < BIG_N && sift_segment_doc_ts(seg, want) < t)
            want++;
        assert_int_equal(sift_segment_ts_lower_bound(seg, t), want);
    }
    int hf = sift_segment_field_find(seg, "host.name", 9);
    unsigned fl;
    sift_segment_field_info(seg, (uint32_t)hf, &fl, NULL);
    assert_int_equal(fl, SIFT_SEGF_TERMS);
    assert_int_equal(sift_segment_keyword_ord(seg, (uint32_t)hf, 0),
                     UINT32_MAX);

    /* Postings and the doc store agree for every doc. */
    int mf = sift_segment_field_find(seg, "message", 7);
    roaring_bitmap_t *mod3 = NULL;
    assert_int_equal(sift_segment_postings(seg, (uint32_t)mf, "mod3", 4, &mod3),
                     SIFT_OK);
    assert_non_null(mod3);
    struct sift_arena *a = sift_arena_new(4096);
    uint32_t n_mod3 = 0;
    for (uint32_t d = 0; d < BIG_N; d++) {
        struct sift_event ev;
        fetch_doc(seg, d, a, &buf, &ev);
        assert_int_equal(ev.ts_ns, sift_segment_doc_ts(seg, d));
        int has = contains(ev.msg, ev.msg_len, "mod3 ");
        n_mod3 += (uint32_t)has;
        assert_int_equal(has, roaring_bitmap_contains(mod3, d));
        /* Each doc's unique "req N" term maps back to it. */
        char num[16];
        memcpy(num, ev.msg + 4, 15);
        num[strcspn(num, " ")] = '\0';
        roaring_bitmap_t *one = NULL;
        assert_int_equal(
            sift_segment_postings(seg, (uint32_t)mf, num, strlen(num), &one),
            SIFT_OK);
        assert_non_null(one);
        assert_true(roaring_bitmap_contains(one, d));
        roaring_bitmap_free(one);
        sift_arena_reset(a);
    }
    assert_int_equal(roaring_bitmap_get_cardinality(mod3), n_mod3);
    roaring_bitmap_free(mod3);

    /* Prefix iteration over many blocks is sorted and complete. */
    sift_buf_reset(&buf);
    assert_int_equal(
        sift_segment_terms(seg, (uint32_t)hf, "h49", 3, collect_cb, &buf),
        SIFT_OK);
    uint32_t count = 0;
    for (size_t i = 0; i < buf.len; i++)
        count += buf.data[i] == '|';
    assert_int_equal(count, 111); /* h49, h490..h499, h4900..h4999 */

    sift_arena_free(a);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&buf);
    sift_free(evs);
    sift_free(msgs);
    sift_free(hosts);
    sift_free(stat);
}

/*
 * Batches interleaved in time (as from many Kafka partitions): every
 * posting list is remapped to time order and must come out sorted and
 * exact, for short lists (insertion sort) and long ones (radix sort,
 * ids past 2^8 and 2^16).
 */
static void
test_segment_interleaved_time_postings(void **state)
{
    (void)state;
    enum { N = 70000, PARTS = 13 };
    struct tev *evs = sift_xcalloc(N, sizeof(*evs));
    char(*msgs)[48] = sift_xcalloc(N, 48);
    for (uint32_t i = 0; i < N; i++) {
        /* Arrival: batches of 500 from partition 0, 1, ... PARTS-1, 0,
         * ...; partition p's k-th event has time k * PARTS + p, so all
         * partitions cover the same time range and arrival order and
         * time order differ almost everywhere. */
        uint32_t batch = i / 500, p = batch % PARTS;
        uint32_t k = batch / PARTS * 500 + i % 500;
        int64_t ts = (int64_t)k * PARTS + p;
        snprintf(msgs[i], 48, "all m%u d%u p%u q%u k%u", i % 3, i % 40, p,
                 i % 700, i % 1500);
        tev_init(&evs[i], ts, msgs[i], NULL, NULL, NULL, 1);
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_buf img = SIFT_BUF_INIT, buf = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, N, &img);
    assert_int_equal(sift_segment_doc_count(seg), N);
    int mf = sift_segment_field_find(seg, "message", 7);
    assert_true(mf >= 0);

    /* Expected membership from the stored docs (in time order). */
    /* Dense terms become bitmaps; sparse ones (q: 100 docs, k: 47) stay
     * delta lists, which need their ids sorted. */
    enum { NT = 7 };
    static const char *const terms[NT] = {"all", "m1", "d7", "p5",
                                          "p12", "q3", "k5"};
    roaring_bitmap_t *bm[NT];
    for (size_t t = 0; t < NT; t++) {
        bm[t] = NULL;
        assert_int_equal(sift_segment_postings(seg, (uint32_t)mf, terms[t],
                                               strlen(terms[t]), &bm[t]),
                         SIFT_OK);
        assert_non_null(bm[t]);
    }
    struct sift_arena *a = sift_arena_new(4096);
    uint32_t counts[NT] = {0};
    for (uint32_t d = 0; d < N; d++) {
        struct sift_event ev;
        char padded[64];
        fetch_doc(seg, d, a, &buf, &ev);
        if (d > 0)
            assert_true(sift_segment_doc_ts(seg, d - 1) <
                        sift_segment_doc_ts(seg, d));
        snprintf(padded, sizeof(padded), " %.*s ", (int)ev.msg_len, ev.msg);
        for (size_t t = 0; t < NT; t++) {
            char needle[16];
            snprintf(needle, sizeof(needle), " %s ", terms[t]);
            int has = strstr(padded, needle) != NULL;
            counts[t] += (uint32_t)has;
            assert_int_equal(has, roaring_bitmap_contains(bm[t], d));
        }
        sift_arena_reset(a);
    }
    assert_int_equal(counts[0], N);
    assert_int_equal(counts[5], N / 700);
    for (size_t t = 0; t < NT; t++) {
        assert_int_equal(roaring_bitmap_get_cardinality(bm[t]), counts[t]);
        roaring_bitmap_free(bm[t]);
    }
    sift_arena_free(a);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&buf);
    sift_free(evs);
    sift_free(msgs);
}

static void
test_segment_utf8_terms(void **state)
{
    (void)state;
    struct tev evs[2];
    tev_init(&evs[0], 1, "Grüße aus Köln ☃snow", "Ünïcode", NULL, NULL, 0);
    tev_init(&evs[1], 2, "日本語 テキスト", "x", NULL, NULL, 0);
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_buf img = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, 2, &img);
    assert_int_equal(post_mask(seg, "message", "grüße"), 1);
    assert_int_equal(post_mask(seg, "message", "köln"), 1);
    assert_int_equal(post_mask(seg, "message", "☃snow"), 1);
    assert_int_equal(post_mask(seg, "message", "日本語"), 2);
    /* Only ASCII is lowercased. */
    assert_int_equal(post_mask(seg, "host.name", "Ünïcode"), 1);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
}

/* Calls every read API; the results need only be self-consistent. */
static void
exercise(struct sift_segment *seg)
{
    struct sift_buf buf = SIFT_BUF_INIT;
    uint32_t n = sift_segment_doc_count(seg);
    for (uint32_t d = 0; d < n && d < 64; d++) {
        (void)sift_segment_doc_ts(seg, d);
        sift_buf_reset(&buf);
        (void)sift_segment_doc(seg, d, &buf);
    }
    (void)sift_segment_ts_lower_bound(seg, 0);
    for (uint32_t f = 0; f < sift_segment_field_count(seg); f++) {
        sift_buf_reset(&buf);
        (void)sift_segment_terms(seg, f, NULL, 0, collect_cb, &buf);
        (void)sift_segment_terms(seg, f, "e", 1, collect_cb, &buf);
        roaring_bitmap_t *bm = NULL;
        if (sift_segment_postings(seg, f, "error", 5, &bm) == SIFT_OK && bm)
            roaring_bitmap_free(bm);
        for (uint32_t d = 0; d < n && d < 8; d++) {
            double v;
            uint32_t o = sift_segment_keyword_ord(seg, f, d);
            if (o != UINT32_MAX)
                assert_non_null(sift_segment_keyword_value(seg, f, o, NULL));
            (void)sift_segment_number(seg, f, d, &v);
        }
    }
    (void)sift_segment_deleted(seg);
    sift_buf_cleanup(&buf);
}

static void
small_image(struct sift_buf *img)
{
    struct tev evs[40];
    char msgs[40][48];
    for (int i = 0; i < 40; i++) {
        snprintf(msgs[i], sizeof(msgs[i]), "error %d in module m%d", i % 3,
                 i % 5);
        tev_init(&evs[i], 40 - i, msgs[i], i % 2 ? "a" : "b", "7",
                 i % 4 ? "x y" : NULL, 3);
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 1024;
    struct sift_segment *seg = build_open(&opts, evs, 40, img);
    sift_segment_unref(seg);
}

static void
test_segment_corrupt_every_byte(void **state)
{
    (void)state;
    struct sift_buf img = SIFT_BUF_INIT;
    small_image(&img);
    uint8_t *copy = sift_xmalloc(img.len);
    unsigned opened = 0, resealed_ok = 0;
    for (size_t i = 0; i < img.len; i++) {
        memcpy(copy, img.data, img.len);
        copy[i] ^= 0x5a;
        struct sift_segment *seg = NULL;
        int rc = sift_segment_open_borrowed(copy, img.len, &seg);
        if (rc == SIFT_OK) {
            /* Only gap bytes escape the checksums. */
            opened++;
            exercise(seg);
            sift_segment_unref(seg);
        } else {
            assert_int_equal(rc, SIFT_ECORRUPT);
            assert_null(seg);
        }
        /* With checksums recomputed the decoders themselves must cope. */
        sift__segment_reseal(copy, img.len);
        rc = sift_segment_open_borrowed(copy, img.len, &seg);
        if (rc == SIFT_OK) {
            resealed_ok++;
            exercise(seg);
            sift_segment_unref(seg);
        } else {
            assert_int_equal(rc, SIFT_ECORRUPT);
        }
    }
    assert_true(opened < img.len / 10);
    assert_true(resealed_ok > 0);
    sift_free(copy);
    sift_buf_cleanup(&img);
}

static void
test_segment_truncated_every_length(void **state)
{
    (void)state;
    struct sift_buf img = SIFT_BUF_INIT;
    small_image(&img);
    for (size_t len = 0; len < img.len; len++) {
        uint8_t *copy = sift_xmalloc(len + 1);
        memcpy(copy, img.data, len);
        struct sift_segment *seg = NULL;
        assert_int_equal(sift_segment_open_mem(copy, len, &seg), SIFT_ECORRUPT);
        assert_null(seg);
    }
    sift_buf_cleanup(&img);
}

/* small_image() into img and into a new file named after the mkstemp()
 * template path. */
static void
small_file(char *path, struct sift_buf *img)
{
    small_image(img);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, img->data, img->len), (ssize_t)img->len);
    close(fd);
}

static void
test_segment_open_file_mmap(void **state)
{
    (void)state;
    struct sift_buf img = SIFT_BUF_INIT;
    char path[] = "/tmp/sift_test_segXXXXXX";
    small_file(path, &img);
    struct sift_segment *seg;
    assert_int_equal(sift_segment_open_file(path, &seg), SIFT_OK);
    assert_int_equal(sift_segment_doc_count(seg), 40);
    assert_int_equal(sift_segment_doc_ts(seg, 0), 1);
    assert_true(post_mask(seg, "message", "error") == (1ull << 40) - 1);
    struct sift_segment *r = sift_segment_ref(seg);
    sift_segment_unref(seg);
    exercise(r);
    sift_segment_unref(r);
    unlink(path);
    assert_true(sift_segment_open_file(path, &seg) < 0);
    sift_buf_cleanup(&img);
}

/* Resident kB of the mapping that holds addr (/proc/self/smaps), or -1. */
static long
mapping_rss_kb(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    assert_non_null(f);
    char line[512];
    int in = 0;
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, ':') &&
            line[0] != 'R') {
            in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
            continue;
        }
        if (in && sscanf(line, "Rss: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

/* A merge input's pages leave the resident set once it has been read:
 * open_file drops what its check read, reading faults pages back in,
 * sift_segment_drop_pages() drops them again, and reads still work. */
static void
test_segment_drop_pages_after_read(void **state)
{
    (void)state;
    struct sift_buf img = SIFT_BUF_INIT;
    char path[] = "/tmp/sift_test_segXXXXXX";
    small_file(path, &img);
    struct sift_segment *seg;
    assert_int_equal(sift_segment_open_file(path, &seg), SIFT_OK);
    unlink(path);
    const void *at = sift_segment_image(seg);
    assert_int_equal(mapping_rss_kb(at), 0);
    exercise(seg);
    assert_true(mapping_rss_kb(at) > 0);
    sift_segment_drop_pages(seg);
    assert_int_equal(mapping_rss_kb(at), 0);
    assert_true(post_mask(seg, "message", "error") == (1ull << 40) - 1);
    sift_segment_unref(seg);
    /* In-memory segments have no mapping: nothing to drop, no harm. */
    struct sift_segment *mem;
    void *copy = sift_xmalloc(img.len);
    memcpy(copy, img.data, img.len);
    assert_int_equal(sift_segment_open_mem(copy, img.len, &mem), SIFT_OK);
    sift_segment_drop_pages(mem);
    assert_int_equal(sift_segment_doc_count(mem), 40);
    sift_segment_unref(mem);
    sift_buf_cleanup(&img);
}

static void
test_segment_open_alloc_failures(void **state)
{
    (void)state;
    struct sift_buf img = SIFT_BUF_INIT;
    small_image(&img);
    for (long n = 1; n < 40; n++) {
        void *copy = sift_xmalloc(img.len);
        memcpy(copy, img.data, img.len);
        struct sift_segment *seg = NULL;
        sift_alloc_fail_after(n);
        int rc = sift_segment_open_mem(copy, img.len, &seg);
        sift_alloc_fail_after(0);
        if (rc == SIFT_OK) {
            exercise(seg);
            sift_segment_unref(seg);
        } else {
            assert_int_equal(rc, SIFT_ENOMEM);
        }
    }
    sift_buf_cleanup(&img);
}

static void
test_segment_type_overrides(void **state)
{
    (void)state;
    struct tev evs[2];
    tev_init(&evs[0], 1, "m", "Alpha Beta", "12", "k1", 0);
    tev_init(&evs[1], 2, "m", "gamma", "x", "k2", 0);
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.text_fields = "other, host.name";
    opts.keyword_fields = "detail";
    opts.numeric_fields = "nothing";
    struct sift_buf img = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, 2, &img);
    assert_int_equal(post_mask(seg, "host.name", "beta"), 1);
    assert_int_equal(post_mask(seg, "detail", "k2"), 2);
    int df = sift_segment_field_find(seg, "detail", 6);
    assert_int_equal(sift_segment_keyword_card(seg, (uint32_t)df), 2);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
}

/* Timestamps of ms and s precision (scaled blocks) and of ns precision
 * round-trip exactly; numbers use a dictionary or plain doubles. */
static void
test_segment_ts_scale_and_number_modes(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct tev *evs = sift_xcalloc(N, sizeof(*evs));
    char(*stat)[24] = sift_xcalloc(N, 24);
    char(*lat)[24] = sift_xcalloc(N, 24);
    int64_t ts = 1700000000000000000;
    for (uint32_t i = 0; i < N; i++) {
        /* Blocks of 128: ms steps, then s steps, then ns steps. */
        ts += i < 300   ? (int64_t)(i % 7) * 1000000
              : i < 600 ? (int64_t)(i % 3) * 1000000000
                        : (int64_t)(i % 5) * 13 + 1;
        snprintf(stat[i], 24, "%u", 200 + (i % 4) * 100);
        snprintf(lat[i], 24, "%u.%03u", i, i % 1000);
        tev_init(&evs[i], ts, "req", NULL, stat[i], NULL, 0);
        evs[i].f[1] = (struct sift_field){
            "latency", lat[i], 7, (uint32_t)strlen(lat[i]), SIFT_FT_NUMBER};
        evs[i].ev.n_fields = i % 10 == 9 ? 1 : 2; /* some lack latency */
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_buf img = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, N, &img);
    int sf = sift_segment_field_find(seg, "status", 6);
    int lf = sift_segment_field_find(seg, "latency", 7);
    assert_true(sf >= 0 && lf >= 0);
    for (uint32_t d = 0; d < N; d++) {
        assert_int_equal(sift_segment_doc_ts(seg, d), evs[d].ev.ts_ns);
        double v;
        assert_int_equal(sift_segment_number(seg, (uint32_t)sf, d, &v),
                         SIFT_OK);
        assert_true(v == strtod(stat[d], NULL));
        int rc = sift_segment_number(seg, (uint32_t)lf, d, &v);
        if (d % 10 == 9) {
            assert_int_equal(rc, SIFT_ENOTFOUND);
        } else {
            assert_int_equal(rc, SIFT_OK);
            assert_true(v == strtod(lat[d], NULL));
        }
    }
    for (uint32_t q = 0; q < N; q += 37) {
        uint32_t want = 0;
        while (evs[want].ev.ts_ns < evs[q].ev.ts_ns)
            want++;
        assert_int_equal(sift_segment_ts_lower_bound(seg, evs[q].ev.ts_ns),
                         want);
    }
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
    sift_free(evs);
    sift_free(stat);
    sift_free(lat);
}

/* Number fields hold what strtod() reads from the whole value (integers
 * of up to 15 digits take a shortcut that must agree), and a doc's
 * template id is indexed as its decimal text. */
static void
test_segment_number_values_as_strtod(void **state)
{
    (void)state;
    static const char *const vals[] = {"0",
                                       "007",
                                       "-12",
                                       "-0",
                                       "123456789012345",
                                       "-999999999999999",
                                       "1234567890123456",
                                       "12345678901234567890",
                                       "+5",
                                       " 7",
                                       "1e3",
                                       "2.5",
                                       "12a",
                                       "-",
                                       "0x10",
                                       "",
                                       "1 ",
                                       "--1"};
    enum { N = sizeof(vals) / sizeof(vals[0]) };
    static const uint32_t tmpl[] = {0, 7, 123456, 4000000000u};
    struct tev evs[N];
    for (uint32_t i = 0; i < N; i++)
        tev_init(&evs[i], 1700000000000000000 + i, "m", NULL, vals[i], NULL,
                 tmpl[i % 4]);
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_buf img = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, N, &img);
    int sf = sift_segment_field_find(seg, "status", 6);
    assert_true(sf >= 0);
    for (uint32_t d = 0; d < N; d++) {
        double v;
        int rc = sift_segment_number(seg, (uint32_t)sf, d, &v);
        char *end;
        double want = strtod(vals[d], &end);
        if (vals[d][0] == '\0' || *end != '\0') {
            assert_int_equal(rc, SIFT_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, SIFT_OK);
        assert_true(v == want);
    }
    static const char *const tmpl_text[] = {"0", "7", "123456", "4000000000"};
    for (uint32_t k = 0; k < 4; k++) {
        uint64_t want = 0;
        for (uint32_t d = 0; d < N; d++)
            if (d % 4 == k && tmpl[k] != SIFT_TEMPLATE_NONE)
                want |= 1ull << d;
        assert_int_equal(post_mask(seg, "_template_id", tmpl_text[k]), want);
    }
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
}

/* Digit-run slot values of every kind round-trip byte-exact: random
 * 64-bit ids up to 2^64 - 1 (fixed-width integers, format 4 mode 3),
 * 20-digit values past it and 21-digit ones (text), 19 digits with
 * leading zeros (text), small random bytes (1-byte integers) and a
 * counter (deltas). */
static void
test_segment_slot_number_columns(void **state)
{
    (void)state;
    enum { N = 1200 };
    static const char *const edge[] = {"18446744073709551615",
                                       "18446744073709551616",
                                       "99999999999999999999",
                                       "0",
                                       "10000000000000000000",
                                       "123456789012345678901",
                                       "1",
                                       "9223372036854775808"};
    struct tev *evs = sift_xcalloc(N, sizeof(*evs));
    char(*msg)[80] = sift_xcalloc(N, 80);
    uint64_t r = 0x243f6a8885a308d3ull;
    for (uint32_t i = 0; i < N; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t x = r ^ (r >> 29);
        switch (i % 5) {
        case 0:
            snprintf(msg[i], 80, "blk %llu done", (unsigned long long)x);
            break;
        case 1: snprintf(msg[i], 80, "edge %s x", edge[(i / 5) % 8]); break;
        case 2:
            snprintf(msg[i], 80, "lead %019llu y",
                     (unsigned long long)(x % 1000000000000ull));
            break;
        case 3: snprintf(msg[i], 80, "ctr %u z", i * 3); break;
        default: snprintf(msg[i], 80, "port %u w", (unsigned)(x % 256)); break;
        }
        tev_init(&evs[i], 1000 + i, msg[i], NULL, NULL, NULL, 0);
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 8 << 10; /* several blocks */
    struct sift_buf img = SIFT_BUF_INIT, buf = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, N, &img);
    struct sift_arena *a = sift_arena_new(4096);
    for (uint32_t d = 0; d < N; d++) {
        struct sift_event ev;
        fetch_doc(seg, d, a, &buf, &ev);
        assert_int_equal(ev.msg_len, evs[d].ev.msg_len);
        assert_memory_equal(ev.msg, evs[d].ev.msg, ev.msg_len);
        sift_arena_reset(a);
    }
    sift_arena_free(a);
    sift_segment_unref(seg);
    sift_buf_cleanup(&buf);
    sift_buf_cleanup(&img);
    sift_free(evs);
    sift_free(msg);
}

struct nested {
    struct sift_segment *seg;
    uint32_t field;
    uint32_t terms, hits;
};

/* Looks every term up from inside the term iteration. */
static int
nested_cb(const char *term, size_t len, void *arg)
{
    struct nested *n = arg;
    roaring_bitmap_t *bm = NULL;
    assert_int_equal(sift_segment_postings(n->seg, n->field, term, len, &bm),
                     SIFT_OK);
    assert_non_null(bm);
    n->hits += (uint32_t)roaring_bitmap_get_cardinality(bm);
    roaring_bitmap_free(bm);
    n->terms++;
    return 0;
}

/* Many term chunks: terms() may call postings() from its callback. */
static void
test_segment_terms_chunks_nested_lookup(void **state)
{
    (void)state;
    enum { N = 6000 };
    struct tev *evs = sift_xcalloc(N, sizeof(*evs));
    char(*msgs)[48] = sift_xcalloc(N, 48);
    for (uint32_t i = 0; i < N; i++) {
        snprintf(msgs[i], 48, "id%05u grp%u common", i, i % 13);
        tev_init(&evs[i], i, msgs[i], NULL, NULL, NULL, 0);
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_buf img = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, N, &img);
    int mf = sift_segment_field_find(seg, "message", 7);
    struct nested n = {seg, (uint32_t)mf, 0, 0};
    assert_int_equal(
        sift_segment_terms(seg, (uint32_t)mf, NULL, 0, nested_cb, &n), SIFT_OK);
    assert_int_equal(n.terms, N + 13 + 1);
    assert_int_equal(n.hits, 3 * N);
    assert_int_equal(post_mask(seg, "message", "id00063"), 1ull << 63);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
    sift_free(evs);
    sift_free(msgs);
}

/* A version-1 or -2 image (or any other version) is refused cleanly. */
static void
test_segment_rejects_other_versions(void **state)
{
    (void)state;
    struct sift_buf img = SIFT_BUF_INIT;
    small_image(&img);
    /* 3 to 6 are read, but 3 and 4 carry no ORIGIN section and 5 no
     * SLOTIDX: a version 7 image relabelled as one must be refused too
     * (as 6: test_segment_number_int_columns). */
    static const uint32_t versions[] = {0, 1, 2, 3, 4, 5, 8, 0xffffffffu};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        uint8_t *copy = sift_xmalloc(img.len);
        memcpy(copy, img.data, img.len);
        sift_store_u32(copy + 8, versions[i]);
        sift_store_u32(copy + img.len - 32 + 12, versions[i]);
        sift__segment_reseal(copy, img.len);
        struct sift_segment *seg = NULL;
        assert_int_equal(sift_segment_open_mem(copy, img.len, &seg),
                         SIFT_ECORRUPT);
        assert_null(seg);
    }
    sift_buf_cleanup(&img);
}

/* The NUMCOL section of field name in img: its first byte (the mode), or
 * -1 when there is none. */
static int
numcol_mode(const struct sift_buf *img, struct sift_segment *seg,
            const char *name)
{
    int fi = sift_segment_field_find(seg, name, strlen(name));
    const uint8_t *p = (const uint8_t *)img->data;
    const uint8_t *tr = p + img->len - 32;
    uint64_t tab = sift_load_u64(tr);
    uint32_t ns = sift_load_u32(tr + 8);
    for (uint32_t i = 0; fi >= 0 && i < ns; i++) {
        const uint8_t *e = p + tab + (size_t)i * 32;
        if (sift_load_u32(e) == SIFT_SEGSEC_NUMCOL &&
            sift_load_u32(e + 4) == (uint32_t)fi)
            return p[sift_load_u64(e + 8)];
    }
    return -1;
}

/*
 * Format 7: integer number columns (NUMCOL mode 2) give back every value,
 * absent docs stay absent (sparse fields, whole blocks without a value),
 * extremes (+-2^53) and steps that are not steady; a doc's number text is
 * left out of the doc store only when the column rebuilds it byte for byte
 * ("007", "+5", "-0", "5.0", 2^53 + 1 stay stored).  A column with a
 * fraction stays in mode 0 or 1.  A version 7 image with a mode 2 column
 * relabelled as version 6 is refused.
 */
static void
test_segment_number_int_columns(void **state)
{
    (void)state;
    enum { N = 3000, NF = 6 };
    static const char *const names[NF] = {"offset", "sparse", "extreme",
                                          "odd",    "frac",   "early"};
    static const char *const odd[] = {
        "007", "+5", "-0", "5.0", "1e3", "9007199254740993", "-12", "0"};
    struct nev {
        struct sift_event ev;
        struct sift_field f[NF];
        char v[NF][32];
    } *evs = sift_xcalloc(N, sizeof(*evs));
    uint64_t r = 12345;
    for (uint32_t i = 0; i < N; i++) {
        struct nev *e = &evs[i];
        e->ev.ts_ns = 1000 + i;
        e->ev.msg = "number event";
        e->ev.msg_len = 12;
        e->ev.fields = e->f;
        uint32_t n = 0;
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        uint64_t x = r;
        snprintf(e->v[0], 32, "%llu", (unsigned long long)i * 137 + x % 3);
        if (i % 10 == 3)
            snprintf(e->v[1], 32, "%llu", (unsigned long long)(x % 99999));
        else
            e->v[1][0] = '\0';
        static const char *const ext[] = {"9007199254740992",
                                          "-9007199254740992", "1", "-1"};
        if (i % 7 == 0)
            snprintf(e->v[2], 32, "%s", ext[(i / 7) % 4]);
        else
            snprintf(e->v[2], 32, "%lld",
                     (long long)(x % 2000000000000ull) - 1000000000000ll);
        snprintf(e->v[3], 32, "%s", odd[i % 8]);
        snprintf(e->v[4], 32, i == N / 2 ? "%u.5" : "%u", i % 50);
        if (i < 10)
            snprintf(e->v[5], 32, "%u", i * 3);
        else
            e->v[5][0] = '\0';
        for (uint32_t k = 0; k < NF; k++) {
            if (e->v[k][0] == '\0')
                continue;
            e->f[n++] = (struct sift_field){
                names[k], e->v[k], (uint32_t)strlen(names[k]),
                (uint32_t)strlen(e->v[k]), SIFT_FT_NUMBER};
        }
        e->ev.n_fields = n;
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 8 << 10;
    struct sift_segment_builder *b;
    assert_int_equal(sift_segment_builder_new(&opts, &b), SIFT_OK);
    for (uint32_t i = 0; i < N; i++)
        assert_int_equal(sift_segment_builder_add(b, &evs[i].ev), SIFT_OK);
    struct sift_buf img = SIFT_BUF_INIT, doc = SIFT_BUF_INIT;
    assert_int_equal(sift_segment_builder_finish(b, &img), SIFT_OK);
    sift_segment_builder_free(b);
    void *copy = sift_xmalloc(img.len);
    memcpy(copy, img.data, img.len);
    struct sift_segment *seg;
    assert_int_equal(sift_segment_open_mem(copy, img.len, &seg), SIFT_OK);
    assert_int_equal(numcol_mode(&img, seg, "offset"), 2);
    assert_int_equal(numcol_mode(&img, seg, "sparse"), 2);
    assert_int_equal(numcol_mode(&img, seg, "extreme"), 2);
    assert_int_equal(numcol_mode(&img, seg, "early"), 2);
    assert_true(numcol_mode(&img, seg, "frac") == 0 ||
                numcol_mode(&img, seg, "frac") == 1);
    struct sift_arena *arena = sift_arena_new(4096);
    for (uint32_t i = 0; i < N; i++) {
        const struct nev *e = &evs[i];
        for (uint32_t k = 0; k < NF; k++) {
            int fi = sift_segment_field_find(seg, names[k], strlen(names[k]));
            assert_true(fi >= 0);
            double got = 0;
            int rc = sift_segment_number(seg, (uint32_t)fi, i, &got);
            if (e->v[k][0] == '\0') {
                assert_int_equal(rc, SIFT_ENOTFOUND);
                continue;
            }
            assert_int_equal(rc, SIFT_OK);
            assert_true(got == strtod(e->v[k], NULL));
        }
        sift_buf_reset(&doc);
        sift_arena_reset(arena);
        assert_int_equal(sift_segment_doc(seg, i, &doc), SIFT_OK);
        struct sift_event ev;
        assert_int_equal(
            sift_doc_decode((const uint8_t *)doc.data, doc.len, arena, &ev),
            SIFT_OK);
        assert_int_equal(ev.n_fields, e->ev.n_fields);
        for (uint32_t k = 0; k < ev.n_fields; k++) {
            assert_int_equal(ev.fields[k].value_len, e->f[k].value_len);
            assert_memory_equal(ev.fields[k].value, e->f[k].value,
                                e->f[k].value_len);
        }
    }
    /* the steady counter costs about its block index: < 2 bytes a doc */
    const uint8_t *p = (const uint8_t *)img.data;
    uint64_t tab = sift_load_u64(p + img.len - 32);
    uint32_t ns = sift_load_u32(p + img.len - 32 + 8);
    int ofi = sift_segment_field_find(seg, "offset", 6);
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = p + tab + (size_t)i * 32;
        if (sift_load_u32(e) == SIFT_SEGSEC_NUMCOL &&
            sift_load_u32(e + 4) == (uint32_t)ofi)
            assert_true(sift_load_u64(e + 16) < 2 * N);
    }
    sift_segment_unref(seg);
    /* every byte of the integer columns flipped (checksums recomputed):
     * refused, or every read stays in bounds (ASan).  Under sanitizers
     * (SIFT_TEST_SCALE_DOWN=k, as test_query_diff) every k-th byte: a
     * flip copies, reseals and reads the whole image, and every byte took
     * 200 s of TSan's 300 s limit on a quiet machine. */
    const char *scale_env = getenv("SIFT_TEST_SCALE_DOWN");
    uint64_t scale = scale_env ? strtoull(scale_env, NULL, 10) : 1;
    if (scale < 1 || scale > 64)
        scale = 1;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = p + tab + (size_t)i * 32;
        uint64_t off = sift_load_u64(e + 8), len = sift_load_u64(e + 16);
        if (sift_load_u32(e) != SIFT_SEGSEC_NUMCOL || p[off] != 2)
            continue;
        for (uint64_t k = 0; k < len; k += (len > 4096 ? 7 : 1) * scale) {
            uint8_t *bad = sift_xmalloc(img.len);
            memcpy(bad, img.data, img.len);
            bad[off + k] ^= 0x5a;
            sift__segment_reseal(bad, img.len);
            seg = NULL;
            if (sift_segment_open_mem(bad, img.len, &seg) != SIFT_OK)
                continue;
            double got;
            uint32_t fi = sift_load_u32(e + 4);
            for (uint32_t d = 0; d < N; d++)
                (void)sift_segment_number(seg, fi, d, &got);
            for (uint32_t d = 0; d < N; d += 97) {
                sift_buf_reset(&doc);
                (void)sift_segment_doc(seg, d, &doc);
            }
            sift_segment_unref(seg);
        }
    }
    /* relabelled as version 6, mode 2 is unknown */
    copy = sift_xmalloc(img.len);
    memcpy(copy, img.data, img.len);
    sift_store_u32((uint8_t *)copy + 8, 6);
    sift_store_u32((uint8_t *)copy + img.len - 32 + 12, 6);
    sift__segment_reseal(copy, img.len);
    seg = NULL;
    assert_int_equal(sift_segment_open_mem(copy, img.len, &seg), SIFT_ECORRUPT);
    assert_null(seg);
    sift_arena_free(arena);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&doc);
    sift_free(evs);
}

/* Brute-force postings: docs whose field value (message when field is
 * NULL) tokenizes to term. */
struct tok_find {
    const char *term;
    size_t len;
    int found;
};

static int
tok_find_cb(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct tok_find *tf = arg;
    (void)pos;
    (void)off;
    if (len == tf->len && memcmp(tok, tf->term, len) == 0)
        tf->found = 1;
    return 0;
}

struct term_list {
    struct sift_buf terms; /* NUL-separated */
    uint32_t n;
};

static int
term_list_cb(const char *term, size_t len, void *arg)
{
    struct term_list *tl = arg;
    sift_buf_append(&tl->terms, term, len);
    sift_buf_putc(&tl->terms, '\0');
    tl->n++;
    return 0;
}

/*
 * Format 3: message shapes (slot values column-wise), tag-3 postings
 * (covered shapes + residual docs) and keyword values omitted when equal
 * to the column.  Every doc must round-trip byte-exactly and every
 * message / keyword term's postings must equal a brute-force scan, also
 * for messages with more than 255 slots, empty messages, slot-only
 * messages and mixed-case keyword values.
 */
static void
test_segment_shapes_exact(void **state)
{
    (void)state;
    /* The brute force below costs terms x docs: under a sanitizer 1,000
     * docs (every shape still occurs ~140 times), else 3,000. */
#ifdef SIFT_TEST_SANITIZED
    enum { N = 1000 };
#else
    enum { N = 3000 };
#endif
    struct tev *evs = sift_xcalloc(N, sizeof(*evs));
    char **msgs = sift_xcalloc(N, sizeof(char *));
    char **hosts = sift_xcalloc(N, sizeof(char *));
    for (uint32_t i = 0; i < N; i++) {
        struct sift_buf m = SIFT_BUF_INIT;
        switch (i % 7) {
        case 0:
            sift_buf_appendf(&m,
                             "Accepted password for user%u from 10.0.%u.%u "
                             "port %u ssh2",
                             i % 5, i % 3, i % 11, 22 + i % 2);
            break;
        case 1:
            sift_buf_appendf(&m,
                             "Receiving block blk_%u src: /10.250.%u.1:50010",
                             i * 7919u, i % 4);
            break;
        case 2:
            sift_buf_appendf(&m, "%u", i); /* one slot, nothing else */
            break;
        case 3:
            if (i % 2 == 0) /* odd i: the empty message */
                sift_buf_appendf(&m, "plain words only here, UPPER case");
            break;
        case 4: /* more than 255 slots */
            for (uint32_t k = 0; k < 300; k++)
                sift_buf_appendf(&m, "v%u ", (k * 31 + i) % 97);
            break;
        case 5:
            sift_buf_appendf(&m, "caf\xc3\xa9 %u \xe2\x82\xac%ux a-b_c9 ",
                             i % 9, i % 4);
            break;
        default:
            sift_buf_appendf(&m, "session opened for user root by (uid=%u)",
                             i % 2);
            break;
        }
        sift_buf_putc(&m, '\0');
        msgs[i] = m.data;
        struct sift_buf h = SIFT_BUF_INIT;
        sift_buf_appendf(&h, i % 3 == 0 ? "Node-%u" : "node-%u", i % 6);
        sift_buf_putc(&h, '\0');
        hosts[i] = h.data;
        tev_init(&evs[i], 1000 + (int64_t)i, msgs[i],
                 i % 10 == 9 ? NULL : hosts[i], i % 4 == 0 ? "200" : NULL, NULL,
                 i % 5 == 0 ? SIFT_TEMPLATE_NONE : i % 13);
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 4096; /* many blocks */
    struct sift_buf img = SIFT_BUF_INIT, doc = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, N, &img);
    assert_int_equal(sift_segment_doc_count(seg), N);

    /* Every doc round-trips exactly (checked against sift_doc_encode). */
    struct sift_buf want = SIFT_BUF_INIT;
    for (uint32_t i = 0; i < N; i++) {
        uint32_t d = (i * 7u) % N; /* jump between blocks */
        sift_buf_reset(&doc);
        sift_buf_reset(&want);
        assert_int_equal(sift_segment_doc(seg, d, &doc), SIFT_OK);
        sift_doc_encode(&evs[d].ev, &want);
        assert_int_equal(doc.len, want.len);
        assert_memory_equal(doc.data, want.data, want.len);
    }

    /* Every message term and every host term against a brute force scan. */
    static const char *fields[] = {"message", "host.name", "_template_id"};
    for (size_t fi = 0; fi < 3; fi++) {
        int f = sift_segment_field_find(seg, fields[fi], strlen(fields[fi]));
        assert_true(f >= 0);
        struct term_list tl = {SIFT_BUF_INIT, 0};
        assert_int_equal(
            sift_segment_terms(seg, (uint32_t)f, NULL, 0, term_list_cb, &tl),
            SIFT_OK);
        assert_true(tl.n > 1);
        const char *t = tl.terms.data;
        for (uint32_t k = 0; k < tl.n; k++) {
            size_t tlen = strlen(t);
            roaring_bitmap_t *bm = NULL;
            assert_int_equal(
                sift_segment_postings(seg, (uint32_t)f, t, tlen, &bm), SIFT_OK);
            assert_non_null(bm);
            uint64_t card = 0;
            for (uint32_t d = 0; d < N; d++) {
                int has = 0;
                if (fi == 0) {
                    struct tok_find tf = {t, tlen, 0};
                    sift_tokenize(msgs[d], strlen(msgs[d]), tok_find_cb, &tf);
                    has = tf.found;
                } else if (fi == 1) {
                    char low[32];
                    size_t hl = strlen(hosts[d]);
                    sift_ascii_lower(hosts[d], hl, low);
                    has = d % 10 != 9 && hl == tlen && memcmp(low, t, hl) == 0;
                } else {
                    char num[16];
                    int nl = snprintf(num, sizeof(num), "%u", d % 13);
                    has = d % 5 != 0 && (size_t)nl == tlen &&
                          memcmp(num, t, tlen) == 0;
                }
                assert_int_equal(roaring_bitmap_contains(bm, d), has);
                card += (uint64_t)has;
            }
            assert_int_equal(roaring_bitmap_get_cardinality(bm), card);
            roaring_bitmap_free(bm);
            t += tlen + 1;
        }
        sift_buf_cleanup(&tl.terms);
    }
    sift_segment_unref(seg);
    for (uint32_t i = 0; i < N; i++) {
        sift_free(msgs[i]);
        sift_free(hosts[i]);
    }
    sift_free(msgs);
    sift_free(hosts);
    sift_free(evs);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&doc);
    sift_buf_cleanup(&want);
}

/*
 * Format 3 to 6 fixtures (tests/data/segment/format3.seg to
 * format6.seg): segments written by the format 3 builder (commit
 * 504bf0d), the format 4 builder (commit 523aee9), the format 5 builder
 * (commit a8b3e72) and the format 6 builder (commit 044f593) from
 * fixture_events().  Segments
 * already on users' disks must keep loading: the test opens each
 * fixture, builds the same events with the current builder, and requires
 * the same docs byte for byte, the same timestamps, terms, postings and
 * columns; an old file has no origin (kind unknown).
 * SIFT_WRITE_SEGMENT_FIXTURE=path writes the current builder's image
 * instead (how the fixtures were made, on those builds).
 */
#define FIX_N 3000

static char fix_msg[FIX_N][160];
static char fix_host[FIX_N][24];
static char fix_status[FIX_N][24];
static char fix_detail[FIX_N][40];

static uint64_t
fix_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void
fixture_events(struct tev *evs)
{
    uint64_t r = 0x9e3779b97f4a7c15ull;
    int64_t ts = INT64_C(1700000000000000000);
    for (uint32_t i = 0; i < FIX_N; i++) {
        uint32_t f = (uint32_t)(fix_rand(&r) % 7);
        unsigned a = (unsigned)(fix_rand(&r) % 256);
        unsigned b = (unsigned)(fix_rand(&r) % 70000);
        unsigned c = (unsigned)(fix_rand(&r) % 60);
        unsigned long long big = (unsigned long long)fix_rand(&r);
        char *m = fix_msg[i];
        size_t ms = sizeof(fix_msg[i]);
        switch (f) {
        case 0:
            snprintf(m, ms,
                     "Received block blk_%llu of size %u from "
                     "/10.%u.%u.%u:%u",
                     big, b, c, a, b % 60, c);
            break;
        case 1:
            snprintf(m, ms,
                     "session opened for user u%u by (uid=%u) at "
                     "%02u:%02u:%02u",
                     a, b, c, a % 24, b % 60);
            break;
        case 2:
            snprintf(m, ms,
                     "took %u.%03u ms, count=%u, id 0x%llx, code "
                     "E%05u, port %u",
                     a, b % 1000, c, big, b, a + b);
            break;
        case 3:
            snprintf(m, ms,
                     "PacketResponder %u for block blk_-%llu "
                     "terminating",
                     c, big);
            break;
        case 4:
            snprintf(m, ms, "temperature %u state %u ambient=%u node-%u", a, b,
                     c, a + b);
            break;
        case 5: snprintf(m, ms, "plain words only here"); break;
        default:
            snprintf(m, ms, "00%u007 leading zeros %06u and %u and -%u", a, b,
                     c, a + c);
            break;
        }
        uint64_t g = fix_rand(&r) % 16;
        /* gaps: ties, whole ms, odd ns */
        ts += g < 4 ? 0 : g < 12 ? (int64_t)g * 1000000 : (int64_t)(g * 7919);
        snprintf(fix_host[i], sizeof(fix_host[i]),
                 i % 5 ? "web-%02u" : "WEB-%02u",
                 (unsigned)(fix_rand(&r) % 12));
        snprintf(fix_status[i], sizeof(fix_status[i]), "%u",
                 200 + (unsigned)(fix_rand(&r) % 4) * 100);
        snprintf(fix_detail[i], sizeof(fix_detail[i]), "detail %u x%u", a, c);
        tev_init(&evs[i], ts, fix_msg[i], i % 7 ? fix_host[i] : NULL,
                 i % 3 ? fix_status[i] : NULL, i % 4 ? NULL : fix_detail[i],
                 f * 10 + (uint32_t)(i % 3));
    }
}

static int
fix_tok(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    (void)pos;
    (void)off;
    struct sift_buf *b = arg;
    sift_buf_append(b, tok, len);
    sift_buf_putc(b, ' ');
    return 0;
}

/* Phrases over slot values answer the same on an old fixture (no slot
 * index: its maybe docs are verified) and on the current image: sure
 * docs hold the phrase, every doc that holds it is sure or maybe. */
static void
check_fixture_phrases(struct sift_segment *old, struct sift_segment *cur,
                      uint32_t version)
{
    enum { NP = 4 };
    static const char *const phrases[NP][3] = {
        {"packetresponder", "7", "for"},
        {"count", "12", "id"},
        {"and", "3", "and"},
        {"user", "u17", "by"},
    };
    struct sift_buf doc = SIFT_BUF_INIT, toks = SIFT_BUF_INIT;
    struct sift_arena *arena = sift_arena_new(4096);
    roaring_bitmap_t *cand = roaring_bitmap_from_range(0, FIX_N, 1);
    roaring_bitmap_t *sm[NP][4]; /* old sure, old maybe, cur sure, maybe */
    char want[NP][96];
    for (size_t q = 0; q < NP; q++) {
        size_t lens[3];
        snprintf(want[q], sizeof(want[q]), " %s %s %s ", phrases[q][0],
                 phrases[q][1], phrases[q][2]);
        for (int j = 0; j < 3; j++)
            lens[j] = strlen(phrases[q][j]);
        int rc = sift_segment_phrase_shapes(old, phrases[q], lens, 3, cand,
                                            &sm[q][0], &sm[q][1]);
        if (rc == SIFT_ENOTFOUND) { /* format 3: no shape per doc */
            sm[q][0] = roaring_bitmap_create();
            sm[q][1] = roaring_bitmap_copy(cand);
        } else {
            assert_int_equal(rc, SIFT_OK);
        }
        assert_int_equal(sift_segment_phrase_shapes(cur, phrases[q], lens, 3,
                                                    cand, &sm[q][2], &sm[q][3]),
                         SIFT_OK);
    }
    uint64_t n_holds = 0, n_idx_sure = 0;
    for (uint32_t d = 0; d < FIX_N; d++) {
        sift_buf_reset(&doc);
        sift_arena_reset(arena);
        assert_int_equal(sift_segment_doc(cur, d, &doc), SIFT_OK);
        struct sift_event ev;
        assert_int_equal(
            sift_doc_decode((const uint8_t *)doc.data, doc.len, arena, &ev),
            SIFT_OK);
        sift_buf_reset(&toks);
        sift_buf_putc(&toks, ' ');
        sift_tokenize(ev.msg, ev.msg_len, fix_tok, &toks);
        sift_buf_putc(&toks, '\0');
        for (size_t q = 0; q < NP; q++) {
            int h = strstr(toks.data, want[q]) != NULL;
            n_holds += (uint64_t)h;
            for (int k = 0; k < 4; k += 2) {
                if (roaring_bitmap_contains(sm[q][k], d))
                    assert_true(h);
                else if (h)
                    assert_true(roaring_bitmap_contains(sm[q][k + 1], d));
            }
        }
    }
    for (size_t q = 0; q < NP; q++) {
        n_idx_sure += roaring_bitmap_get_cardinality(sm[q][2]) -
                      roaring_bitmap_get_cardinality(sm[q][0]);
        assert_true(roaring_bitmap_get_cardinality(sm[q][3]) <=
                    roaring_bitmap_get_cardinality(sm[q][1]));
        for (int k = 0; k < 4; k++)
            roaring_bitmap_free(sm[q][k]);
    }
    /* the phrases occur, and the slot index settles some of them (an
     * old file with a slot index, version 6 on, as many as now) */
    assert_true(n_holds > 20);
    if (version < 6)
        assert_true(n_idx_sure > 0);
    else
        assert_true(n_idx_sure == 0);
    roaring_bitmap_free(cand);
    sift_arena_free(arena);
    sift_buf_cleanup(&doc);
    sift_buf_cleanup(&toks);
}

static void
check_fixture(const char *name, uint32_t version)
{
    static struct tev evs[FIX_N];
    fixture_events(evs);
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 16 << 10;
    struct sift_buf img = SIFT_BUF_INIT, b1 = SIFT_BUF_INIT, b2 = SIFT_BUF_INIT;
    struct sift_segment *cur = build_open(&opts, evs, FIX_N, &img);
    const char *out = getenv("SIFT_WRITE_SEGMENT_FIXTURE");
    if (out != NULL) {
        FILE *f = fopen(out, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(img.data, 1, img.len, f), img.len);
        assert_int_equal(fclose(f), 0);
    }
    const char *dir = getenv("SIFT_TEST_DATA");
    assert_non_null(dir);
    char path[4096];
    snprintf(path, sizeof(path), "%s/segment/%s", dir, name);
    struct sift_segment *old = NULL;
    assert_int_equal(sift_segment_open_file(path, &old), SIFT_OK);
    const uint8_t *oimg = sift_segment_image(old);
    assert_int_equal(sift_load_u32(oimg + 8), version);
    const struct sift_segment_origin *oo = sift_segment_origin(old);
    assert_int_equal(oo->kind, SIFT_SEG_ORIGIN_UNKNOWN);
    assert_true(oo->max_seq == 0 && oo->n_inputs == 0 && oo->n_pos == 0);
    assert_int_equal(sift_segment_doc_count(old), FIX_N);
    assert_int_equal(sift_segment_doc_count(cur), FIX_N);
    for (uint32_t d = 0; d < FIX_N; d++) {
        sift_buf_reset(&b1);
        sift_buf_reset(&b2);
        assert_int_equal(sift_segment_doc(old, d, &b1), SIFT_OK);
        assert_int_equal(sift_segment_doc(cur, d, &b2), SIFT_OK);
        assert_int_equal(b1.len, b2.len);
        assert_memory_equal(b1.data, b2.data, b1.len);
        assert_true(sift_segment_doc_ts(old, d) == sift_segment_doc_ts(cur, d));
    }
    uint32_t nf = sift_segment_field_count(old);
    assert_int_equal(nf, sift_segment_field_count(cur));
    uint64_t n_terms = 0;
    for (uint32_t fi = 0; fi < nf; fi++) {
        struct term_list tl = {SIFT_BUF_INIT, 0}, tl2 = {SIFT_BUF_INIT, 0};
        assert_int_equal(sift_segment_terms(old, fi, "", 0, term_list_cb, &tl),
                         SIFT_OK);
        assert_int_equal(sift_segment_terms(cur, fi, "", 0, term_list_cb, &tl2),
                         SIFT_OK);
        assert_int_equal(tl.n, tl2.n);
        assert_int_equal(tl.terms.len, tl2.terms.len);
        if (tl.terms.len > 0)
            assert_memory_equal(tl.terms.data, tl2.terms.data, tl.terms.len);
        const char *t = tl.terms.data;
        for (uint32_t k = 0; k < tl.n; k++) {
            size_t l = strlen(t);
            roaring_bitmap_t *p1 = NULL, *p2 = NULL;
            assert_int_equal(sift_segment_postings(old, fi, t, l, &p1),
                             SIFT_OK);
            assert_int_equal(sift_segment_postings(cur, fi, t, l, &p2),
                             SIFT_OK);
            assert_non_null(p1);
            assert_non_null(p2);
            assert_true(roaring_bitmap_equals(p1, p2));
            roaring_bitmap_free(p1);
            roaring_bitmap_free(p2);
            t += l + 1;
            n_terms++;
        }
        for (uint32_t d = 0; d < FIX_N; d++) {
            double x = 0, y = 0;
            int r1 = sift_segment_number(old, fi, d, &x);
            int r2 = sift_segment_number(cur, fi, d, &y);
            assert_int_equal(r1, r2);
            if (r1 == SIFT_OK)
                assert_true(x == y);
            assert_int_equal(sift_segment_keyword_ord(old, fi, d),
                             sift_segment_keyword_ord(cur, fi, d));
        }
        sift_buf_cleanup(&tl.terms);
        sift_buf_cleanup(&tl2.terms);
    }
    assert_true(n_terms > 1000);
    check_fixture_phrases(old, cur, version);
    sift_segment_unref(old);
    sift_segment_unref(cur);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&b1);
    sift_buf_cleanup(&b2);
}

static void
test_segment_format3_fixture(void **state)
{
    (void)state;
    check_fixture("format3.seg", 3);
}

static void
test_segment_format4_fixture(void **state)
{
    (void)state;
    check_fixture("format4.seg", 4);
}

static void
test_segment_format5_fixture(void **state)
{
    (void)state;
    check_fixture("format5.seg", 5);
}

static void
test_segment_format6_fixture(void **state)
{
    (void)state;
    check_fixture("format6.seg", 6);
}

/*
 * Format 5 ORIGIN: what the builder is given comes back from the reader
 * (canonical: inputs and positions sorted), survives a deleted-docs
 * reader, and bad origins are refused by the builder; a corrupt ORIGIN
 * (resealed so only the decoder can notice) makes the image corrupt.
 */
static void
test_segment_origin_roundtrip(void **state)
{
    (void)state;
    struct tev evs[3];
    tev_init(&evs[0], 1000, "alpha one", "h1", NULL, NULL, 1);
    tev_init(&evs[1], 2000, "beta two", "h2", NULL, NULL, 2);
    tev_init(&evs[2], 3000, "gamma three", NULL, NULL, NULL, 3);
    static const uint64_t ids[] = {9, 3, 70};
    const struct sift_srcpos pos[] = {
        {"kafka:t/1", 5, 77}, {"http", 0, 1}, {"redis:s", 1700, 3}};
    struct sift_segment_origin o = {
        SIFT_SEG_ORIGIN_MERGE, 12, 40, 3, ids, 3, pos};
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.origin = &o;
    struct sift_buf img = SIFT_BUF_INIT;
    struct sift_segment *seg = build_open(&opts, evs, 3, &img);
    const struct sift_segment_origin *r = sift_segment_origin(seg);
    assert_int_equal(r->kind, SIFT_SEG_ORIGIN_MERGE);
    assert_true(r->min_seq == 12 && r->max_seq == 40);
    assert_int_equal(r->n_inputs, 3);
    assert_true(r->inputs[0] == 3 && r->inputs[1] == 9 && r->inputs[2] == 70);
    assert_int_equal(r->n_pos, 3);
    assert_string_equal(r->pos[0].key, "http");
    assert_string_equal(r->pos[1].key, "kafka:t/1");
    assert_true(r->pos[1].hi == 5 && r->pos[1].lo == 77);
    assert_string_equal(r->pos[2].key, "redis:s");
    roaring_bitmap_t *del = roaring_bitmap_of(1, 1);
    struct sift_segment *d = NULL;
    assert_int_equal(sift_segment_with_deleted(seg, del, &d), SIFT_OK);
    assert_true(sift_segment_origin(d)->max_seq == 40);
    assert_int_equal(sift_segment_origin(d)->n_pos, 3);
    sift_segment_unref(d);
    sift_segment_unref(seg);

    /* The builder refuses what cannot be encoded, keeping what it had. */
    struct sift_segment_builder *b = NULL;
    assert_int_equal(sift_segment_builder_new(&opts, &b), SIFT_OK);
    struct sift_segment_origin bad = o;
    bad.min_seq = 41; /* past max */
    assert_int_equal(sift_segment_builder_set_origin(b, &bad), SIFT_EINVAL);
    static const uint64_t dup[] = {4, 4};
    bad = o;
    bad.inputs = dup;
    bad.n_inputs = 2;
    assert_int_equal(sift_segment_builder_set_origin(b, &bad), SIFT_EINVAL);
    const struct sift_srcpos dpos[] = {{"k", 1, 1}, {"k", 2, 2}};
    bad = o;
    bad.pos = dpos;
    bad.n_pos = 2;
    assert_int_equal(sift_segment_builder_set_origin(b, &bad), SIFT_EINVAL);
    struct sift_segment_origin wal = {
        SIFT_SEG_ORIGIN_WAL, 7, 7, 0, NULL, 0, NULL};
    assert_int_equal(sift_segment_builder_set_origin(b, &wal), SIFT_OK);
    struct sift_buf img2 = SIFT_BUF_INIT;
    assert_int_equal(sift_segment_builder_finish(b, &img2), SIFT_OK);
    sift_segment_builder_free(b);
    size_t l2 = img2.len;
    void *p2 = sift_buf_detach(&img2, &l2);
    assert_int_equal(sift_segment_open_mem(p2, l2, &seg), SIFT_OK);
    assert_int_equal(sift_segment_origin(seg)->kind, SIFT_SEG_ORIGIN_WAL);
    assert_true(sift_segment_origin(seg)->min_seq == 7);
    sift_segment_unref(seg);

    /* Damage inside ORIGIN, checksums recomputed: the decoder refuses. */
    const uint8_t *im = (const uint8_t *)img.data;
    uint64_t tab = sift_load_u64(im + img.len - 32);
    uint32_t ns = sift_load_u32(im + img.len - 32 + 8);
    uint64_t off = 0, len = 0;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = im + tab + (size_t)i * 32;
        if (sift_load_u32(e) == 12) {
            off = sift_load_u64(e + 8);
            len = sift_load_u64(e + 16);
        }
    }
    assert_true(len > 10);
    for (uint64_t k = 0; k < len; k++) {
        uint8_t *copy = sift_xmalloc(img.len);
        memcpy(copy, img.data, img.len);
        copy[off + k] ^= 0xff;
        sift__segment_reseal(copy, img.len);
        struct sift_segment *x = NULL;
        int rc = sift_segment_open_mem(copy, img.len, &x);
        /* A flip may still decode (a changed seq or position byte), but
         * never crash, and a structural byte is refused. */
        if (k < 2)
            assert_int_equal(rc, SIFT_ECORRUPT);
        if (rc == SIFT_OK)
            sift_segment_unref(x);
    }
    sift_buf_cleanup(&img);
}

/*
 * The builder remembers, per field position, the field and doc store key
 * of the previous event, and per keyword field its last term.  Events
 * here change field order, drop fields, reuse a name with another type,
 * and repeat or change values, so every shortcut must check what it
 * reuses: docs come back exactly, and postings and keyword columns
 * match what each doc holds.
 */
static void
test_segment_field_order_changes(void **state)
{
    (void)state;
    enum { N = 40 };
    static const char *const hosts[] = {"web-1", "WEB-1", "db-22", "cache"};
    struct sift_event evs[N];
    struct sift_field fl[N][4];
    char vals[N][3][16];
    /* One message of 100 tokens: text tokens are looked up in batches. */
    struct sift_buf longmsg = SIFT_BUF_INIT;
    for (int k = 0; k < 100; k++)
        sift_buf_appendf(&longmsg, "w%d ", k % 90);
    for (int i = 0; i < N; i++) {
        struct sift_field *f = fl[i];
        uint32_t n = 0;
        snprintf(vals[i][0], 16, "%d", i % 3 == 0 ? 7 : i);
        snprintf(vals[i][1], 16, "%s", hosts[(i / 3) % 4]);
        snprintf(vals[i][2], 16, "v%d", i % 5);
        struct sift_field code = {"code", vals[i][0], 4,
                                  (uint32_t)strlen(vals[i][0]), SIFT_FT_NUMBER};
        struct sift_field host = {"host", vals[i][1], 4,
                                  (uint32_t)strlen(vals[i][1]),
                                  SIFT_FT_KEYWORD};
        /* Same name and place, other type every third event: another
         * doc store key. */
        struct sift_field tag = {"tag", vals[i][2], 3, 2,
                                 i % 3 == 2 ? SIFT_FT_TEXT : SIFT_FT_KEYWORD};
        if (i % 2 == 0) {
            f[n++] = code;
            f[n++] = host;
        } else {
            if (i % 7 != 1)
                f[n++] = host;
            f[n++] = code;
        }
        f[n++] = tag;
        memset(&evs[i], 0, sizeof(evs[i]));
        evs[i].ts_ns = 1000 + i;
        evs[i].msg = i == 5 ? longmsg.data : "event";
        evs[i].msg_len = i == 5 ? (uint32_t)longmsg.len : 5;
        evs[i].fields = f;
        evs[i].n_fields = n;
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_segment_builder *b;
    assert_int_equal(sift_segment_builder_new(&opts, &b), SIFT_OK);
    for (int i = 0; i < N; i++)
        assert_int_equal(sift_segment_builder_add(b, &evs[i]), SIFT_OK);
    struct sift_buf img = SIFT_BUF_INIT, buf = SIFT_BUF_INIT;
    assert_int_equal(sift_segment_builder_finish(b, &img), SIFT_OK);
    sift_segment_builder_free(b);
    struct sift_segment *seg;
    void *copy = sift_xmalloc(img.len);
    memcpy(copy, img.data, img.len);
    assert_int_equal(sift_segment_open_mem(copy, img.len, &seg), SIFT_OK);

    struct sift_arena *a = sift_arena_new(4096);
    int hf = sift_segment_field_find(seg, "host", 4);
    assert_true(hf >= 0);
    for (uint32_t d = 0; d < N; d++) {
        struct sift_event ev;
        fetch_doc(seg, d, a, &buf, &ev);
        const struct sift_event *src = &evs[d];
        assert_int_equal(ev.n_fields, src->n_fields);
        int has_host = 0;
        for (uint32_t k = 0; k < ev.n_fields; k++) {
            const struct sift_field *g = &ev.fields[k], *w = &src->fields[k];
            assert_int_equal(g->name_len, w->name_len);
            assert_memory_equal(g->name, w->name, w->name_len);
            assert_int_equal(g->value_len, w->value_len);
            assert_memory_equal(g->value, w->value, w->value_len);
            assert_int_equal(g->type, w->type);
            if (w->name_len == 4 && memcmp(w->name, "host", 4) == 0) {
                has_host = 1;
                /* The keyword column holds this doc's value, lowercased. */
                uint32_t ord = sift_segment_keyword_ord(seg, (uint32_t)hf, d);
                size_t len;
                const char *v =
                    sift_segment_keyword_value(seg, (uint32_t)hf, ord, &len);
                assert_non_null(v);
                char low[16];
                sift_ascii_lower(w->value, w->value_len, low);
                assert_int_equal(len, w->value_len);
                assert_memory_equal(v, low, len);
            }
        }
        if (!has_host)
            assert_int_equal(sift_segment_keyword_ord(seg, (uint32_t)hf, d),
                             UINT32_MAX);
        sift_arena_reset(a);
    }
    /* Postings against a count from the events themselves. */
    static const char *const terms[] = {"web-1", "db-22", "cache"};
    for (int t = 0; t < 3; t++) {
        uint64_t want = 0;
        for (int i = 0; i < N; i++)
            for (uint32_t k = 0; k < evs[i].n_fields; k++) {
                const struct sift_field *w = &evs[i].fields[k];
                char low[16];
                sift_ascii_lower(w->value, w->value_len, low);
                if (w->name_len == 4 && memcmp(w->name, "host", 4) == 0 &&
                    w->value_len == strlen(terms[t]) &&
                    memcmp(low, terms[t], w->value_len) == 0)
                    want |= 1ull << i;
            }
        assert_true(want != 0);
        assert_int_equal(post_mask(seg, "host", terms[t]), want);
    }
    uint64_t want7 = 0;
    for (int i = 0; i < N; i++)
        if (i % 3 == 0 || i == 7)
            want7 |= 1ull << i;
    assert_int_equal(post_mask(seg, "code", "7"), want7);
    assert_int_equal(post_mask(seg, "message", "w0"), 1u << 5);
    assert_int_equal(post_mask(seg, "message", "w40"), 1u << 5);
    assert_int_equal(post_mask(seg, "message", "w89"), 1u << 5);
    assert_int_equal(post_mask(seg, "message", "w90"), 0);
    assert_int_equal(post_mask(seg, "message", "event"),
                     ~(1ull << 5) & ((1ull << N) - 1));
    sift_buf_cleanup(&longmsg);
    sift_arena_free(a);
    sift_segment_unref(seg);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segment_roundtrip_small),
        cmocka_unit_test(test_segment_empty_and_one_doc),
        cmocka_unit_test(test_segment_large_many_blocks),
        cmocka_unit_test(test_segment_interleaved_time_postings),
        cmocka_unit_test(test_segment_utf8_terms),
        cmocka_unit_test(test_segment_corrupt_every_byte),
        cmocka_unit_test(test_segment_truncated_every_length),
        cmocka_unit_test(test_segment_open_file_mmap),
        cmocka_unit_test(test_segment_drop_pages_after_read),
        cmocka_unit_test(test_segment_open_alloc_failures),
        cmocka_unit_test(test_segment_type_overrides),
        cmocka_unit_test(test_segment_ts_scale_and_number_modes),
        cmocka_unit_test(test_segment_number_values_as_strtod),
        cmocka_unit_test(test_segment_slot_number_columns),
        cmocka_unit_test(test_segment_terms_chunks_nested_lookup),
        cmocka_unit_test(test_segment_rejects_other_versions),
        cmocka_unit_test(test_segment_shapes_exact),
        cmocka_unit_test(test_segment_format3_fixture),
        cmocka_unit_test(test_segment_format4_fixture),
        cmocka_unit_test(test_segment_format5_fixture),
        cmocka_unit_test(test_segment_format6_fixture),
        cmocka_unit_test(test_segment_number_int_columns),
        cmocka_unit_test(test_segment_origin_roundtrip),
        cmocka_unit_test(test_segment_field_order_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
