/*
 * exec.c - evaluates a planned query on segments: per-segment bitmaps,
 * then top-k across segments, search-after cursors and the hits JSON.
 *
 * Evaluation (one segment): eval(node, U) returns the docs of U that match
 * node, where U is the candidate set (the time range minus deleted docs at
 * the root).  An AND passes each child the survivors of the previous
 * children, which is why the planner orders them cheapest first: column
 * scans (ranges, numeric equality) and phrase verification only ever look
 * at docs the postings already selected.  An OR evaluates each child on
 * the docs not yet matched.  NOT is U minus its child.
 *
 * Field semantics follow the segment's field flags (segment.h): TEXT
 * fields match tokens (several tokens = a phrase, verified on the doc
 * text), KEYWORD fields the whole lowercased value, NUMBER fields numeric
 * equality through the column when the query value is a number.
 *
 * Order and cursors: hits are ordered by (timestamp, content hash), the
 * hash being XXH3-64 of the encoded doc.  Both survive refresh, flush and
 * merge (a doc's bytes never change), so a cursor (ts, hash, skip) stays
 * valid while segments move; "skip" counts identical docs (same ts and
 * bytes) already returned, the only ones the key cannot tell apart.  Docs
 * arriving later with a timestamp before the cursor do show up on later
 * pages of a newest-first scan; that is search-after's usual contract.
 *
 * Threads: everything here runs on any thread; the query, segments and
 * options are read-only, all scratch state is per call.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "query/query_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/segment.h"
#include "sift/tokenize.h"

#define DEADLINE_EVERY 1024 /* loop iterations between clock reads */

int
sift__query_check_deadline(struct sift_qctx *ctx)
{
    if (ctx->timed_out)
        return 1;
    if (!ctx->deadline_mono_ns)
        return 0;
    /* The first call reads the clock, then every DEADLINE_EVERY calls. */
    if (ctx->ticks++ % DEADLINE_EVERY != 0)
        return 0;
    if (sift_clock_mono_ns() >= ctx->deadline_mono_ns)
        ctx->timed_out = 1;
    return ctx->timed_out;
}

void
sift__query_doc_range(const struct sift_segment *seg, int64_t from_ns,
                      int64_t to_ns, uint32_t *lo, uint32_t *hi)
{
    uint32_t n = sift_segment_doc_count(seg);
    *lo = from_ns == SIFT_TIME_MIN ? 0
                                   : sift_segment_ts_lower_bound(seg, from_ns);
    *hi = to_ns == SIFT_TIME_MAX ? n : sift_segment_ts_lower_bound(seg, to_ns);
    if (*hi > n)
        *hi = n;
    if (*lo > *hi)
        *lo = *hi;
}

/* ---- fields ---- */

/*
 * ECS input stores these under dotted names; users type the short ones.
 * An alias only applies when the short name is not a field of the segment,
 * so data that really has a "level" field keeps its meaning.
 */
static const struct {
    const char *name, *target;
} field_aliases[] = {
    {"level", "log.level"},
    {"service", "service.name"},
    {"host", "host.name"},
};

int
sift__query_field_find(const struct sift_segment *seg, const char *name,
                       size_t len, const char **out_name, size_t *out_len)
{
    int fi = sift_segment_field_find(seg, name, len);
    const char *used = name;
    size_t used_len = len;
    for (size_t i = 0;
         fi < 0 && i < sizeof(field_aliases) / sizeof(field_aliases[0]); i++) {
        if (strlen(field_aliases[i].name) != len ||
            memcmp(field_aliases[i].name, name, len) != 0)
            continue;
        used = field_aliases[i].target;
        used_len = strlen(used);
        fi = sift_segment_field_find(seg, used, used_len);
    }
    if (out_name)
        *out_name = used;
    if (out_len)
        *out_len = used_len;
    return fi;
}

size_t
sift__query_segs_in_range(struct sift_segment *const *segs, size_t n,
                          int64_t from_ns, int64_t to_ns, size_t *idx)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const struct sift_segment *seg = segs[i];
        if (sift_segment_doc_count(seg) == 0 ||
            sift_segment_max_ts(seg) < from_ns ||
            (to_ns != SIFT_TIME_MAX && sift_segment_min_ts(seg) >= to_ns))
            continue;
        idx[k++] = i;
    }
    return k;
}

/* ---- leaves ---- */

static int
nomem(struct sift_qctx *ctx)
{
    return sift__query_error(ctx->err, SIFT_ENOMEM, 503, "out_of_memory", -1,
                             "not enough memory to run the query");
}

static int
seg_error(struct sift_qctx *ctx, int rc)
{
    if (rc == SIFT_ENOMEM)
        return nomem(ctx);
    if (rc == SIFT_ETIMEOUT)
        return rc;
    return sift__query_error(ctx->err, rc, 500, "corrupt_segment", -1,
                             "segment read failed: %s", sift_strerror(rc));
}

/* Postings of one term restricted to U; an absent term gives {}. */
static int
term_docs(struct sift_qctx *ctx, uint32_t field, const char *term, size_t len,
          const roaring_bitmap_t *u, roaring_bitmap_t **out)
{
    roaring_bitmap_t *p = NULL;
    if (roaring_bitmap_is_empty(u)) {
        *out = roaring_bitmap_create();
        return SIFT_OK;
    }
    /* Only U's span is decoded (a window of a long list). */
    uint32_t lo = roaring_bitmap_minimum(u), hi = roaring_bitmap_maximum(u) + 1;
    if (lo == 0 && hi >= sift_segment_doc_count(ctx->seg))
        hi = 0; /* the whole segment */
    int rc =
        sift_segment_postings_range(ctx->seg, field, term, len, lo, hi, &p);
    if (rc < 0)
        return seg_error(ctx, rc);
    if (!p) {
        *out = roaring_bitmap_create();
        return SIFT_OK;
    }
    roaring_bitmap_and_inplace(p, u);
    *out = p;
    return SIFT_OK;
}

/*
 * Phrase check while tokenizing (shift-and): bit j of state is set when the
 * last j+1 tokens equal the phrase's first j+1 tokens.  No allocation, and
 * tokenizing stops at the first match.
 */
struct phrase_scan {
    const struct sift_qnode *n;
    uint64_t state;
    int found;
};

static int
phrase_tok(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct phrase_scan *ps = arg;
    const struct sift_qnode *n = ps->n;
    (void)pos;
    (void)off;
    uint64_t eq = 0;
    for (uint32_t j = 0; j < n->n_toks; j++)
        if (n->tok_lens[j] == len && memcmp(n->toks[j], tok, len) == 0)
            eq |= UINT64_C(1) << j;
    ps->state = ((ps->state << 1) | 1) & eq;
    if (ps->state & (UINT64_C(1) << (n->n_toks - 1))) {
        ps->found = 1;
        return 1;
    }
    return 0;
}

/*
 * Proximity ("a b c"~N, Lucene's sloppy phrase): each word i of the phrase
 * at text position p_i gives p_i - i; a set of occurrences matches when
 * the largest and smallest of these differ by at most N (0 is the exact
 * phrase; "a b"~2 also takes "b a").  The words are distinct (plan.c), so
 * every text token belongs to at most one of them.  Entries are collected
 * while tokenizing, then a sliding window over them sorted by p_i - i
 * finds the smallest span holding every word.
 */
struct prox_ent {
    int64_t a;  /* text position minus the word's place in the phrase */
    uint32_t j; /* the word */
};

struct prox_scan {
    const struct sift_qnode *n;
    struct prox_ent *v;
    size_t len, cap;
};

static int
prox_tok(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct prox_scan *ps = arg;
    const struct sift_qnode *n = ps->n;
    (void)off;
    for (uint32_t j = 0; j < n->n_toks; j++) {
        if (n->tok_lens[j] != len || memcmp(n->toks[j], tok, len) != 0)
            continue;
        if (ps->len == ps->cap) {
            ps->cap = ps->cap ? ps->cap * 2 : 64;
            ps->v = sift_xrealloc(ps->v, ps->cap * sizeof(*ps->v));
        }
        ps->v[ps->len++] = (struct prox_ent){(int64_t)pos - j, j};
        break;
    }
    return 0;
}

static int
cmp_prox(const void *x, const void *y)
{
    const struct prox_ent *a = x, *b = y;
    return a->a < b->a ? -1 : a->a > b->a;
}

static int
text_has_near(const char *text, size_t len, const struct sift_qnode *n)
{
    struct prox_scan ps = {.n = n};
    sift_tokenize(text, len, prox_tok, &ps);
    int found = 0;
    if (ps.len >= n->n_toks) {
        qsort(ps.v, ps.len, sizeof(*ps.v), cmp_prox);
        uint32_t have[SIFT_QUERY_MAX_PHRASE_TOKENS] = {0};
        uint32_t covered = 0;
        size_t lo = 0;
        for (size_t hi = 0; hi < ps.len && !found; hi++) {
            if (have[ps.v[hi].j]++ == 0)
                covered++;
            while (covered == n->n_toks) {
                if (ps.v[hi].a - ps.v[lo].a <= (int64_t)n->slop) {
                    found = 1;
                    break;
                }
                if (--have[ps.v[lo].j] == 0)
                    covered--;
                lo++;
            }
        }
    }
    sift_free(ps.v);
    return found;
}

/* The text of field in a decoded event, or NULL when absent. */
static const char *
event_text(const struct sift_event *ev, const char *field, size_t field_len,
           size_t *len)
{
    if (field_len == sizeof(SIFT_MESSAGE_FIELD) - 1 &&
        memcmp(field, SIFT_MESSAGE_FIELD, field_len) == 0) {
        *len = ev->msg_len;
        return ev->msg ? ev->msg : "";
    }
    const struct sift_field *f = sift_event_field(ev, field, field_len);
    if (!f)
        return NULL;
    *len = f->value_len;
    return f->value;
}

/*
 * A phrase: AND of the token postings, then adjacency verified on each
 * candidate by re-tokenizing the field's text from the doc store.
 */
/* Whether the text of field fname in ev holds phrase n. */
static int
event_has_phrase(const struct sift_event *ev, const struct sift_qnode *n,
                 const char *fname, size_t fname_len)
{
    size_t len;
    const char *text = event_text(ev, fname, fname_len, &len);
    if (!text)
        return 0;
    if (n->slop > 0)
        return text_has_near(text, len, n);
    struct phrase_scan ps = {.n = n};
    sift_tokenize(text, len, phrase_tok, &ps);
    return ps.found;
}

int
sift__query_verify_doc(struct sift_qctx *ctx, uint32_t d, int *match)
{
    *match = 1;
    uint32_t first = 0; /* the first phrase the shapes do not settle */
    while (first < ctx->n_deferred && ctx->deferred[first].sure &&
           roaring_bitmap_contains(ctx->deferred[first].sure, d))
        first++;
    if (first == ctx->n_deferred)
        return SIFT_OK;
    if (!ctx->doc) {
        ctx->doc = sift_xcalloc(1, sizeof(*ctx->doc));
        sift_buf_init(ctx->doc);
        ctx->arena = sift_arena_new(8192);
    }
    sift_buf_reset(ctx->doc);
    sift_arena_reset(ctx->arena);
    struct sift_event ev;
    int rc = sift_segment_doc(ctx->seg, d, ctx->doc);
    if (rc == SIFT_OK)
        rc = sift_doc_decode((const uint8_t *)ctx->doc->data, ctx->doc->len,
                             ctx->arena, &ev);
    if (rc < 0)
        return seg_error(ctx, rc);
    for (uint32_t i = first; i < ctx->n_deferred && *match; i++) {
        const struct sift_qdeferred *x = &ctx->deferred[i];
        if (x->sure && roaring_bitmap_contains(x->sure, d))
            continue;
        *match = event_has_phrase(&ev, x->n, x->field, x->field_len);
    }
    return SIFT_OK;
}

/* Forgets the deferred phrases of the last segment. */
static void
deferred_reset(struct sift_qctx *ctx)
{
    for (uint32_t i = 0; i < ctx->n_deferred; i++) {
        if (ctx->deferred[i].sure) /* CRoaring 0.2 does not take NULL */
            roaring_bitmap_free(ctx->deferred[i].sure);
        ctx->deferred[i].sure = NULL;
    }
    ctx->n_deferred = 0;
}

void
sift__query_ctx_cleanup(struct sift_qctx *ctx)
{
    deferred_reset(ctx);
    if (ctx->doc) {
        sift_buf_cleanup(ctx->doc);
        sift_free(ctx->doc);
        ctx->doc = NULL;
    }
    if (ctx->arena) {
        sift_arena_free(ctx->arena);
        ctx->arena = NULL;
    }
}

static int
phrase_docs(struct sift_qctx *ctx, const struct sift_qnode *n, uint32_t field,
            const char *fname, size_t fname_len, const roaring_bitmap_t *u,
            roaring_bitmap_t **out)
{
    roaring_bitmap_t *cand = roaring_bitmap_copy(u);
    int rc = SIFT_OK;
    for (uint32_t i = 0; i < n->n_toks && !roaring_bitmap_is_empty(cand); i++) {
        roaring_bitmap_t *p = NULL; /* set by term_docs() on success */
        rc = term_docs(ctx, field, n->toks[i], n->tok_lens[i], cand, &p);
        if (rc < 0) {
            roaring_bitmap_free(cand);
            return rc;
        }
        roaring_bitmap_free(cand);
        cand = p;
    }
    if (n->n_toks <= 1) {
        *out = cand;
        return SIFT_OK;
    }
    /* On the message field the shapes settle most candidates without
     * reading a doc: sure ones match, the rest of cand cannot, and only
     * the maybe ones (words that may fall in slot values) are verified. */
    roaring_bitmap_t *sure = NULL;
    if (n->slop == 0 && fname_len == sizeof(SIFT_MESSAGE_FIELD) - 1 &&
        memcmp(fname, SIFT_MESSAGE_FIELD, fname_len) == 0) {
        roaring_bitmap_t *maybe = NULL;
        rc = sift_segment_phrase_shapes(ctx->seg, (const char *const *)n->toks,
                                        n->tok_lens, n->n_toks, cand, &sure,
                                        &maybe);
        if (rc == SIFT_OK) {
            roaring_bitmap_free(cand);
            if (roaring_bitmap_is_empty(maybe)) {
                roaring_bitmap_free(maybe);
                *out = sure;
                return SIFT_OK;
            }
            cand = maybe;
        } else if (rc != SIFT_ENOTFOUND) {
            roaring_bitmap_free(cand);
            return seg_error(ctx, rc);
        }
        rc = SIFT_OK;
    }
    if (ctx->defer_phrases && n->top_conjunct &&
        ctx->n_deferred < SIFT_QCTX_MAX_DEFERRED) {
        /* The caller verifies only the docs it needs (search's page). */
        struct sift_qdeferred *x = &ctx->deferred[ctx->n_deferred++];
        x->n = n;
        x->field = fname;
        x->field_len = fname_len;
        x->sure = sure;
        if (sure)
            roaring_bitmap_or_inplace(cand, sure);
        *out = cand;
        return SIFT_OK;
    }

    roaring_bitmap_t *res = roaring_bitmap_create();
    struct sift_buf doc = SIFT_BUF_INIT;
    struct sift_arena *arena = sift_arena_new(8192);
    roaring_uint32_iterator_t it;
    roaring_init_iterator(cand, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        if (sift__query_check_deadline(ctx)) {
            rc = SIFT_ETIMEOUT;
            break;
        }
        uint32_t d = it.current_value;
        sift_buf_reset(&doc);
        sift_arena_reset(arena);
        rc = sift_segment_doc(ctx->seg, d, &doc);
        struct sift_event ev;
        if (rc == SIFT_OK)
            rc =
                sift_doc_decode((const uint8_t *)doc.data, doc.len, arena, &ev);
        if (rc < 0) {
            rc = seg_error(ctx, rc);
            break;
        }
        if (event_has_phrase(&ev, n, fname, fname_len))
            roaring_bitmap_add(res, d);
    }
    sift_arena_free(arena);
    sift_buf_cleanup(&doc);
    roaring_bitmap_free(cand);
    if (rc < 0) {
        roaring_bitmap_free(res);
        if (sure)
            roaring_bitmap_free(sure);
        return rc;
    }
    if (sure) {
        roaring_bitmap_or_inplace(res, sure);
        roaring_bitmap_free(sure);
    }
    *out = res;
    return SIFT_OK;
}

/* Expansion over the terms of a field: prefix, wildcard or regex. */
struct expand {
    struct sift_qctx *ctx;
    const struct sift_qnode *n;
    uint32_t field;
    roaring_bitmap_t *acc;
    pcre2_match_data *md;
    uint64_t n_terms;
    int rc;
};

static int
expand_cb(const char *term, size_t len, void *arg)
{
    struct expand *e = arg;
    const struct sift_qnode *n = e->n;
    if (sift__query_check_deadline(e->ctx)) {
        e->rc = SIFT_ETIMEOUT;
        return 1;
    }
    int match;
    switch (n->kind) {
    case SIFT_QN_WILDCARD:
        match = sift__query_wild_match(n->lower, n->lower_len, term, len);
        break;
    case SIFT_QN_REGEX:
        match =
            pcre2_match(n->re, (PCRE2_SPTR)term, len, 0, 0, e->md, NULL) >= 0;
        break;
    default: /* prefix and exists: the dictionary already filtered */
        match = 1;
        break;
    }
    if (!match)
        return 0;
    if (n->kind != SIFT_QN_EXISTS && e->ctx->max_expansion &&
        ++e->n_terms > e->ctx->max_expansion) {
        e->rc = sift__query_error(
            e->ctx->err, SIFT_ELIMIT, 400, "too_many_terms", (int32_t)n->pos,
            "'%.*s' at %u matches more than max_expansion=%llu terms",
            (int)(n->text_len > 64 ? 64 : n->text_len), n->text,
            (unsigned)n->pos, (unsigned long long)e->ctx->max_expansion);
        return 1;
    }
    roaring_bitmap_t *p = NULL;
    int rc = sift_segment_postings(e->ctx->seg, e->field, term, len, &p);
    if (rc < 0) {
        e->rc = seg_error(e->ctx, rc);
        return 1;
    }
    if (p) {
        roaring_bitmap_or_inplace(e->acc, p);
        roaring_bitmap_free(p);
    }
    return 0;
}

static int
expand_docs(struct sift_qctx *ctx, const struct sift_qnode *n, uint32_t field,
            const roaring_bitmap_t *u, roaring_bitmap_t **out)
{
    struct expand e = {.ctx = ctx, .n = n, .field = field};
    const char *prefix = "";
    size_t prefix_len = 0;
    char lit[SIFT_TOKEN_MAX * 4];
    if (n->kind == SIFT_QN_PREFIX) {
        prefix = n->lower;
        prefix_len = n->lower_len;
    } else if (n->kind == SIFT_QN_WILDCARD) {
        /* The literal head of the pattern narrows the dictionary walk. */
        for (size_t i = 0; i < n->lower_len && prefix_len < sizeof(lit); i++) {
            char c = n->lower[i];
            if (c == '*' || c == '?')
                break;
            if (c == '\\' && i + 1 < n->lower_len)
                c = n->lower[++i];
            lit[prefix_len++] = c;
        }
        prefix = lit;
    }
    if (n->kind == SIFT_QN_REGEX) {
        e.md = pcre2_match_data_create_from_pattern(n->re, NULL);
        if (!e.md)
            return nomem(ctx);
    }
    e.acc = roaring_bitmap_create();
    int rc =
        sift_segment_terms(ctx->seg, field, prefix, prefix_len, expand_cb, &e);
    if (e.md)
        pcre2_match_data_free(e.md);
    if (rc == SIFT_OK)
        rc = e.rc;
    else
        rc = seg_error(ctx, rc);
    if (rc < 0) {
        roaring_bitmap_free(e.acc);
        return rc;
    }
    roaring_bitmap_and_inplace(e.acc, u);
    *out = e.acc;
    return SIFT_OK;
}

/* Column scan of U: numeric range / equality, or value presence. */
static int
column_docs(struct sift_qctx *ctx, const struct sift_qnode *n, uint32_t field,
            unsigned flags, const roaring_bitmap_t *u, roaring_bitmap_t **out)
{
    roaring_bitmap_t *res = roaring_bitmap_create();
    roaring_uint32_iterator_t it;
    roaring_init_iterator(u, &it);
    for (; it.has_value; roaring_advance_uint32_iterator(&it)) {
        if (sift__query_check_deadline(ctx)) {
            roaring_bitmap_free(res);
            return SIFT_ETIMEOUT;
        }
        uint32_t d = it.current_value;
        int keep;
        if (n->kind == SIFT_QN_EXISTS && (flags & SIFT_SEGF_KEYWORD)) {
            keep = sift_segment_keyword_ord(ctx->seg, field, d) != UINT32_MAX;
        } else {
            double v;
            if (sift_segment_number(ctx->seg, field, d, &v) != SIFT_OK)
                continue;
            if (n->kind == SIFT_QN_EXISTS)
                keep = 1;
            else if (n->kind == SIFT_QN_RANGE)
                keep = (n->lo_incl ? v >= n->lo : v > n->lo) &&
                       (n->hi_incl ? v <= n->hi : v < n->hi);
            else
                keep = v == n->number;
        }
        if (keep)
            roaring_bitmap_add(res, d);
    }
    *out = res;
    return SIFT_OK;
}

static int
leaf_docs(struct sift_qctx *ctx, const struct sift_qnode *n,
          const roaring_bitmap_t *u, roaring_bitmap_t **out)
{
    const char *fname;
    size_t fname_len;
    int fi = sift__query_field_find(ctx->seg, n->field, n->field_len, &fname,
                                    &fname_len);
    if (fi < 0) {
        *out = roaring_bitmap_create();
        return SIFT_OK;
    }
    uint32_t field = (uint32_t)fi;
    unsigned flags = 0;
    uint32_t n_terms = 0;
    (void)sift_segment_field_info(ctx->seg, field, &flags, &n_terms);

    switch (n->kind) {
    case SIFT_QN_TERM:
    case SIFT_QN_PHRASE:
        if ((flags & SIFT_SEGF_NUMBER) && n->is_number)
            return column_docs(ctx, n, field, flags, u, out);
        if (flags & SIFT_SEGF_TEXT) {
            if (n->n_toks == 0) {
                *out = roaring_bitmap_create();
                return SIFT_OK;
            }
            return phrase_docs(ctx, n, field, fname, fname_len, u, out);
        }
        return term_docs(ctx, field, n->lower, n->lower_len, u, out);
    case SIFT_QN_PREFIX:
    case SIFT_QN_WILDCARD:
    case SIFT_QN_REGEX: return expand_docs(ctx, n, field, u, out);
    case SIFT_QN_RANGE:
        if (!(flags & SIFT_SEGF_NUMBER)) {
            *out = roaring_bitmap_create();
            return SIFT_OK;
        }
        return column_docs(ctx, n, field, flags, u, out);
    case SIFT_QN_EXISTS:
        if (flags & (SIFT_SEGF_KEYWORD | SIFT_SEGF_NUMBER))
            return column_docs(ctx, n, field, flags, u, out);
        return expand_docs(ctx, n, field, u, out);
    default: break;
    }
    *out = roaring_bitmap_create();
    return SIFT_OK;
}

/* ---- boolean structure ---- */

static int
eval(struct sift_qctx *ctx, const struct sift_qnode *n,
     const roaring_bitmap_t *u, roaring_bitmap_t **out)
{
    int rc;
    if (sift__query_check_deadline(ctx))
        return SIFT_ETIMEOUT;
    switch (n->kind) {
    case SIFT_QN_ALL: *out = roaring_bitmap_copy(u); return SIFT_OK;
    case SIFT_QN_AND: {
        roaring_bitmap_t *cur = roaring_bitmap_copy(u);
        for (uint32_t i = 0; i < n->n_kids && !roaring_bitmap_is_empty(cur);
             i++) {
            roaring_bitmap_t *r;
            rc = eval(ctx, n->kids[i], cur, &r);
            roaring_bitmap_free(cur);
            if (rc < 0)
                return rc;
            cur = r;
        }
        *out = cur;
        return SIFT_OK;
    }
    case SIFT_QN_OR: {
        roaring_bitmap_t *acc = roaring_bitmap_create();
        roaring_bitmap_t *rest = roaring_bitmap_copy(u);
        for (uint32_t i = 0; i < n->n_kids && !roaring_bitmap_is_empty(rest);
             i++) {
            roaring_bitmap_t *r;
            rc = eval(ctx, n->kids[i], rest, &r);
            if (rc < 0) {
                roaring_bitmap_free(acc);
                roaring_bitmap_free(rest);
                return rc;
            }
            roaring_bitmap_or_inplace(acc, r);
            roaring_bitmap_andnot_inplace(rest, r);
            roaring_bitmap_free(r);
        }
        roaring_bitmap_free(rest);
        *out = acc;
        return SIFT_OK;
    }
    case SIFT_QN_NOT: {
        roaring_bitmap_t *r;
        rc = eval(ctx, n->kids[0], u, &r);
        if (rc < 0)
            return rc;
        *out = roaring_bitmap_andnot(u, r);
        roaring_bitmap_free(r);
        return SIFT_OK;
    }
    default: return leaf_docs(ctx, n, u, out);
    }
}

int
sift__query_eval_segment(const struct sift_query *q, struct sift_qctx *ctx,
                         uint32_t lo, uint32_t hi, roaring_bitmap_t **out)
{
    *out = NULL;
    deferred_reset(ctx);
    if (lo >= hi) {
        *out = roaring_bitmap_create();
        return SIFT_OK;
    }
    roaring_bitmap_t *u = roaring_bitmap_from_range(lo, hi, 1);
    if (!u)
        return nomem(ctx);
    const roaring_bitmap_t *del = sift_segment_deleted(ctx->seg);
    if (del)
        roaring_bitmap_andnot_inplace(u, del);
    int rc = eval(ctx, q->root, u, out);
    roaring_bitmap_free(u);
    if (rc == SIFT_ETIMEOUT)
        ctx->timed_out = 1;
    return rc;
}

int
sift__query_eval_in_range(const struct sift_query *q, struct sift_qctx *ctx,
                          const struct sift_segment *seg, int64_t from_ns,
                          int64_t to_ns, roaring_bitmap_t **out)
{
    uint32_t lo, hi;
    sift__query_doc_range(seg, from_ns, to_ns, &lo, &hi);
    ctx->seg = seg;
    return sift__query_eval_segment(q, ctx, lo, hi, out);
}
