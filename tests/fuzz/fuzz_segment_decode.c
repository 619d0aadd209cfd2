/*
 * fuzz_segment_decode.c - libFuzzer target for the segment reader.
 *
 * Input: one byte of mode, then an image.  Mode bit 0 set: the image's
 * checksums are recomputed first (sift__segment_reseal), so mutations get
 * past the checksums and reach the section decoders.  Every read API is
 * then called on whatever opens (phrases by message shape included).
 * Must never crash, hang or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/store/segment_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/log.h"
#include "sift/segment.h"

static int
term_cb(const char *term, size_t len, void *arg)
{
    size_t *n = arg;
    (void)term;
    *n += len;
    return *n > 100000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    void *copy = NULL;
    if (posix_memalign(&copy, 64, size ? size : 1) != 0)
        return 0;
    memcpy(copy, data, size);
    if (mode & 1)
        sift__segment_reseal(copy, size);
    struct sift_segment *seg = NULL;
    if (sift_segment_open_borrowed(copy, size, &seg) != SIFT_OK) {
        free(copy);
        return 0;
    }
    struct sift_buf buf = SIFT_BUF_INIT, json = SIFT_BUF_INIT;
    struct sift_arena *a = sift_arena_new(4096);
    uint32_t n = sift_segment_doc_count(seg);
    (void)sift_segment_min_ts(seg);
    (void)sift_segment_max_ts(seg);
    (void)sift_segment_tier(seg);
    (void)sift_segment_bytes(seg);
    for (uint32_t d = 0; d < n && d < 256; d++) {
        (void)sift_segment_doc_ts(seg, d);
        sift_buf_reset(&buf);
        if (sift_segment_doc(seg, d, &buf) == SIFT_OK) {
            struct sift_event ev;
            if (sift_doc_decode((const uint8_t *)buf.data, buf.len, a, &ev) ==
                SIFT_OK) {
                sift_buf_reset(&json);
                sift_event_to_json(&ev, &json);
            }
            sift_arena_reset(a);
        }
    }
    (void)sift_segment_ts_lower_bound(seg, 0);
    (void)sift_segment_ts_lower_bound(seg, INT64_MAX);
    (void)sift_segment_ts_lower_bound(seg, INT64_MIN);
    static const char *probe[] = {"error", "a", "", "zzzz", "1"};
    for (uint32_t f = 0; f < sift_segment_field_count(seg) && f < 64; f++) {
        unsigned flags;
        uint32_t nt;
        const char *name = sift_segment_field_info(seg, f, &flags, &nt);
        if (name != NULL)
            (void)sift_segment_field_find(seg, name, strlen(name));
        size_t tl = 0;
        (void)sift_segment_terms(seg, f, NULL, 0, term_cb, &tl);
        tl = 0;
        (void)sift_segment_terms(seg, f, "e", 1, term_cb, &tl);
        for (size_t i = 0; i < sizeof(probe) / sizeof(probe[0]); i++) {
            roaring_bitmap_t *bm = NULL;
            if (sift_segment_postings(seg, f, probe[i], strlen(probe[i]),
                                      &bm) == SIFT_OK &&
                bm != NULL) {
                (void)roaring_bitmap_get_cardinality(bm);
                roaring_bitmap_free(bm);
            }
        }
        uint32_t card = sift_segment_keyword_card(seg, f);
        for (uint32_t o = 0; o < card && o < 16; o++) {
            size_t vl;
            (void)sift_segment_keyword_value(seg, f, o, &vl);
        }
        for (uint32_t d = 0; d < n && d < 64; d++) {
            double v;
            (void)sift_segment_keyword_ord(seg, f, d);
            (void)sift_segment_number(seg, f, d, &v);
        }
    }
    /* Phrases by message shape over every doc (SHAPES, SHAPEDOCS, and
     * SLOTIDX for a word on a slot): a split is two disjoint subsets of
     * the candidates, or an error. */
    static const char *const ph[][3] = {{"error", "a", NULL},
                                        {"1", "zzzz", "e"},
                                        {"packetresponder", "1", "for"}};
    static const size_t ph_len[][3] = {{5, 1, 0}, {1, 4, 1}, {15, 1, 3}};
    for (size_t i = 0; i < 3 && n > 0; i++) {
        roaring_bitmap_t *cand = roaring_bitmap_from_range(0, n, 1);
        roaring_bitmap_t *sure = NULL, *maybe = NULL;
        if (cand != NULL &&
            sift_segment_phrase_shapes(seg, ph[i], ph_len[i], i ? 3 : 2, cand,
                                       &sure, &maybe) == SIFT_OK) {
            if (!roaring_bitmap_is_subset(sure, cand) ||
                !roaring_bitmap_is_subset(maybe, cand) ||
                roaring_bitmap_intersect(sure, maybe))
                abort();
            roaring_bitmap_free(sure);
            roaring_bitmap_free(maybe);
        }
        if (cand != NULL)
            roaring_bitmap_free(cand);
    }
    const roaring_bitmap_t *del = sift_segment_deleted(seg);
    if (del != NULL)
        (void)roaring_bitmap_get_cardinality(del);
    sift_arena_free(a);
    sift_buf_cleanup(&buf);
    sift_buf_cleanup(&json);
    sift_segment_unref(seg);
    free(copy);
    return 0;
}
