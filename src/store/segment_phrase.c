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
 * With a slot index (SLOTIDX, format >= 6) a MAYBE shape gets a plan
 * (sift_phrase_plan(): the alignments that may fit and, per alignment,
 * which slot must hold which word), each requirement resolved once to
 * its column's codes and the word's code there.  A candidate of such a
 * shape is then decided by its codes (its rank in the shape indexes the
 * column): true when every requirement of some closed alignment holds,
 * false when every alignment has one that fails, and only otherwise
 * (a value coded 0 where the word has no entry, an open alignment)
 * verified on the text.
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
#include "sift/tokenize.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

#define ADD_BATCH 256u
#define PLAN_ALIGNS 16u /* alignments of one shape, else verify its docs */

enum { NO = 0, UNKNOWN = 1, YES = 2 };

/* A requirement resolved on its column. */
struct rreq {
    const uint8_t *codes;
    uint32_t c;    /* entries */
    uint32_t want; /* the word's code, 0 when it has none */
    uint8_t w;
};

struct ralign {
    uint32_t first, n;
    int open;
};

struct plans {
    uint32_t *of; /* per shape: plan index + 1, 0 none */
    struct ralign *al;
    uint32_t n_al, al_cap;
    struct rreq *rq;
    uint32_t n_rq, rq_cap;
    uint32_t *pl; /* per plan: first alignment, then count */
    uint32_t n_pl, pl_cap;
};

/* The code of token t in the column at p (0 when it has no entry). */
static uint32_t
col_code(const uint8_t *p, const uint8_t *end, const char *t, size_t tl,
         uint32_t *c, const uint8_t **codes, uint8_t *w)
{
    uint64_t n = 0, l = 0; /* the column was checked at load */
    (void)sift_get_varint(&p, end, &n);
    uint32_t want = 0;
    for (uint64_t e = 0; e < n; e++) {
        (void)sift_get_varint(&p, end, &l);
        if (want == 0 && l == tl && memcmp(p, t, tl) == 0)
            want = (uint32_t)e + 1;
        p += l;
    }
    *c = (uint32_t)n;
    *w = n > 0 ? *p : 0;
    *codes = n > 0 ? p + 1 : NULL;
    return want;
}

/* Builds the plan of MAYBE shape g; 0 when its docs must be verified. */
static uint32_t
plan_build(const struct sift_segment *seg, uint32_t g, struct plans *P,
           const char *const *toks, const size_t *lens, uint32_t n)
{
    struct sift_phrase_align al[PLAN_ALIGNS];
    struct sift_phrase_req rq[PLAN_ALIGNS * 8];
    uint32_t n_al = 0;
    const uint8_t *p = seg->sh_raw + seg->sh_poff[g];
    (void)sift_phrase_plan(p, seg->sh_raw_len - seg->sh_poff[g], seg->sh_k[g],
                           toks, lens, n, al, PLAN_ALIGNS, rq, PLAN_ALIGNS * 8,
                           &n_al);
    if (n_al == 0)
        return 0;
    if (P->al == NULL || P->n_al + n_al > P->al_cap) {
        P->al_cap = (P->n_al + n_al) * 2;
        P->al = sift_xrealloc(P->al, P->al_cap * sizeof(*P->al));
    }
    uint32_t need = 0;
    for (uint32_t a = 0; a < n_al; a++)
        need += al[a].n;
    if (P->rq == NULL || P->n_rq + need > P->rq_cap) {
        P->rq_cap = (P->n_rq + need) * 2 + 16;
        P->rq = sift_xrealloc(P->rq, P->rq_cap * sizeof(*P->rq));
    }
    if (P->n_pl + 1 > P->pl_cap) {
        P->pl_cap = P->pl_cap ? P->pl_cap * 2 : 64;
        P->pl = sift_xrealloc(P->pl, (size_t)P->pl_cap * 2 * sizeof(*P->pl));
    }
    P->pl[(size_t)2 * P->n_pl] = P->n_al;
    P->pl[(size_t)2 * P->n_pl + 1] = n_al;
    for (uint32_t a = 0; a < n_al; a++) {
        struct ralign *x = &P->al[P->n_al++];
        x->first = P->n_rq;
        x->n = al[a].n;
        x->open = al[a].open;
        for (uint32_t r = 0; r < al[a].n; r++) {
            const struct sift_phrase_req *q = &rq[al[a].first + r];
            struct rreq *y = &P->rq[P->n_rq++];
            const uint8_t *col =
                seg->si_raw + seg->si_off[seg->si_first[g] + q->slot];
            y->want =
                col_code(col, seg->si_raw + seg->si_raw_len, toks[q->word],
                         lens[q->word], &y->c, &y->codes, &y->w);
        }
    }
    return ++P->n_pl;
}

/* YES, NO or UNKNOWN for the doc of rank r under plan i (1-based). */
static int
plan_eval(const struct plans *P, uint32_t i, uint32_t r)
{
    uint32_t a0 = P->pl[(size_t)2 * (i - 1)];
    uint32_t na = P->pl[(size_t)2 * (i - 1) + 1];
    int best = NO;
    for (uint32_t a = a0; a < a0 + na && best != YES; a++) {
        const struct ralign *x = &P->al[a];
        int v = x->open ? UNKNOWN : YES;
        for (uint32_t q = x->first; q < x->first + x->n && v != NO; q++) {
            const struct rreq *y = &P->rq[q];
            uint32_t code =
                y->w ? (uint32_t)sift__segment_unpack(y->codes, y->w, r) : 0;
            if (code != 0 && code <= y->c) /* an entry: exact */
                v = code == y->want ? v : NO;
            else if (code == 0 && y->want != 0) /* no entry; the word is */
                v = NO;
            else /* no entry and not the word's, or damaged: the text */
                v = UNKNOWN;
        }
        if (v > best)
            best = v;
    }
    return best;
}

static void
plans_free(struct plans *P)
{
    sift_free(P->of);
    sift_free(P->al);
    sift_free(P->rq);
    sift_free(P->pl);
}

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
    struct plans P;
    memset(&P, 0, sizeof(P));
    int use_idx = seg->version >= 6; /* loaded at the first MAYBE shape */
    uint8_t *cls = sift_try_calloc(seg->n_shapes ? seg->n_shapes : 1, 1);
    roaring_bitmap_t *s = roaring_bitmap_create();
    roaring_bitmap_t *m = roaring_bitmap_create();
    if (cls == NULL || s == NULL || m == NULL) {
        plans_free(&P);
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
            if (c == SIFT_PHRASE_MAYBE && use_idx && P.of == NULL) {
                use_idx = 0;
                rc = sift__segment_slotidx_load(seg);
                if (rc == SIFT_OK) {
                    P.of = sift_try_calloc(seg->n_shapes, sizeof(uint32_t));
                    rc = P.of != NULL ? SIFT_OK : SIFT_ENOMEM;
                }
                if (rc != SIFT_OK && rc != SIFT_ENOMEM) /* ENOMEM: verify */
                    break;
                rc = SIFT_OK;
            }
            if (c == SIFT_PHRASE_MAYBE && P.of != NULL)
                P.of[g] = plan_build(seg, g, &P, toks, lens, n);
        }
        int v = cls[g] == SIFT_PHRASE_ALWAYS  ? YES
                : cls[g] == SIFT_PHRASE_NEVER ? NO
                                              : UNKNOWN;
        if (v == UNKNOWN && P.of != NULL && P.of[g] != 0)
            v = plan_eval(&P, P.of[g], seg->sd_rank[d]);
        if (v == YES) {
            sbuf[ns++] = d;
            if (ns == ADD_BATCH) {
                roaring_bitmap_add_many(s, ns, sbuf);
                ns = 0;
            }
        } else if (v == UNKNOWN) {
            mbuf[nm++] = d;
            if (nm == ADD_BATCH) {
                roaring_bitmap_add_many(m, nm, mbuf);
                nm = 0;
            }
        }
    }
    roaring_bitmap_add_many(s, ns, sbuf);
    roaring_bitmap_add_many(m, nm, mbuf);
    plans_free(&P);
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
