/*
 * segment_phrase.c - phrases on the message field answered by the message
 * shapes (SHAPES, SHAPEDOCS: segment_fmt.h) instead of the doc store.
 *
 * Design: the query engine has the docs holding every word of a phrase
 * (the AND of their postings).  Each such doc's shape (sd_shape, decoded
 * once per segment) is classified once per call with sift_phrase_shape()
 * (index/phrase.c): a shape whose constant tokens hold the phrase puts
 * its docs in *sure, one whose varying tokens might hold it in *maybe
 * (the caller verifies those on the doc text), any other drops them.
 * No doc block is read; the cost is one array lookup per candidate plus
 * one pass over the text of each distinct shape met.
 *
 * Invariants: *sure and *maybe are disjoint subsets of cand; a doc of
 * cand that holds the phrase is in one of them.
 *
 * Threads: any thread; the shape tables are immutable once loaded.
 */
#include <string.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/phrase.h"
#include "sift/segment.h"
#include "store/segment_int.h"

#define ADD_BATCH 256u

int
sift_segment_phrase_shapes(const struct sift_segment *seg,
                           const char *const *toks, const size_t *lens,
                           uint32_t n, const roaring_bitmap_t *cand,
                           roaring_bitmap_t **sure, roaring_bitmap_t **maybe)
{
    *sure = NULL;
    *maybe = NULL;
    if (n < 2 || n > SIFT_PHRASE_MAX_TOKENS)
        return SIFT_EINVAL;
    if (seg->version < 4)
        return SIFT_ENOTFOUND; /* no shape per doc: verify everything */
    int rc = sift__segment_shapes_load(seg);
    if (rc != SIFT_OK)
        return rc;
    uint8_t *cls = sift_try_calloc(seg->n_shapes ? seg->n_shapes : 1, 1);
    roaring_bitmap_t *s = roaring_bitmap_create();
    roaring_bitmap_t *m = roaring_bitmap_create();
    if (cls == NULL || s == NULL || m == NULL) {
        sift_free(cls);
        if (s) /* CRoaring 0.2 does not take NULL */
            roaring_bitmap_free(s);
        if (m)
            roaring_bitmap_free(m);
        return SIFT_ENOMEM;
    }
    uint32_t sbuf[ADD_BATCH], mbuf[ADD_BATCH], ns = 0, nm = 0;
    roaring_uint32_iterator_t it;
    roaring_init_iterator(cand, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        uint32_t d = it.current_value;
        if (d >= seg->n_docs) {
            rc = SIFT_EINVAL;
            break;
        }
        uint32_t g = seg->sd_shape[d];
        if (cls[g] == 0) {
            const uint8_t *p = seg->sh_raw + seg->sh_poff[g];
            int c = sift_phrase_shape(p, seg->sh_raw_len - seg->sh_poff[g],
                                      seg->sh_k[g], toks, lens, n);
            if (c == 0) { /* pieces were checked when the shapes loaded */
                rc = SIFT_ECORRUPT;
                break;
            }
            cls[g] = (uint8_t)c;
        }
        if (cls[g] == SIFT_PHRASE_ALWAYS) {
            sbuf[ns++] = d;
            if (ns == ADD_BATCH) {
                roaring_bitmap_add_many(s, ns, sbuf);
                ns = 0;
            }
        } else if (cls[g] == SIFT_PHRASE_MAYBE) {
            mbuf[nm++] = d;
            if (nm == ADD_BATCH) {
                roaring_bitmap_add_many(m, nm, mbuf);
                nm = 0;
            }
        }
    }
    roaring_bitmap_add_many(s, ns, sbuf);
    roaring_bitmap_add_many(m, nm, mbuf);
    sift_free(cls);
    if (rc != SIFT_OK) {
        roaring_bitmap_free(s);
        roaring_bitmap_free(m);
        return rc;
    }
    roaring_bitmap_run_optimize(s);
    *sure = s;
    *maybe = m;
    return SIFT_OK;
}
