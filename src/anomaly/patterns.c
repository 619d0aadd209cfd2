/*
 * patterns.c - counts of the matching docs per template id, over
 * immutable segments (the engine of GET /api/v1/patterns).
 *
 * Design.  The filter (patterns.h: a conjunction of words, phrases and
 * field:value terms) is parsed once into clauses; per segment each
 * clause becomes a postings bitmap (sift_segment_postings), the clauses
 * are intersected, restricted to the doc-id range of the time window
 * (docs are time-sorted, so a time range is a doc range), and deleted
 * docs are removed.  Every surviving doc adds one to its template's
 * entry, read from the "_template_id" numeric column; the entry also
 * keeps first/last seen and the newest doc as the sample.  Entries live
 * in an open-addressing table keyed by id (input-sized, so allocated with
 * sift_try_*).  Afterwards the top `size` entries by count are rendered;
 * only those fetch a doc (the sample) and a template text.
 *
 * Invariants: a doc is counted at most once (one bitmap per segment);
 * ordering is count desc then id asc, so the answer is deterministic.
 * Thread: pure over immutable segments; any thread (workers).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "sift/alloc.h"
#include "sift/anomaly_service.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/patterns.h"
#include "sift/segment.h"
#include "sift/tokenize.h"

#define MAX_CLAUSES 32
#define MAX_TOKENS 64 /* per clause */
#define TEMPLATE_FIELD "_template_id"
#define CHECK_EVERY 4096u /* docs between deadline checks */

struct clause {
    const char *field; /* NULL = message */
    size_t field_len;
    const char *value;
    size_t value_len;
};

struct entry {
    uint32_t id;
    int used;
    uint64_t count;
    int64_t first_ns, last_ns;
    uint32_t seg, doc; /* sample: newest doc */
};

struct counter {
    struct entry *tab;
    uint32_t cap; /* power of two */
    uint32_t n;
    uint64_t total;
    /* per segment */
    struct sift_segment *seg;
    uint32_t seg_idx;
    int tfield;
    int64_t deadline;
    uint32_t since_check;
    int timed_out;
    int nomem;
};

/* ------------------------------------------------------------------ */
/* Query subset                                                         */
/* ------------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
fail(struct sift_patterns_error *err, int status, const char *type,
     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
    err->status = status;
    err->type = type;
    return status == 400 ? SIFT_EINVAL : SIFT_EIO;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Reads a quoted string at p (after the opening quote); returns the end
 * (past the closing quote) or NULL when unterminated. */
static const char *
quoted(const char *p, const char *end, const char **v, size_t *vlen)
{
    const char *q = memchr(p, '"', (size_t)(end - p));
    if (!q)
        return NULL;
    *v = p;
    *vlen = (size_t)(q - p);
    return q + 1;
}

static int
unsupported_value(const char *v, size_t len)
{
    if (len == 0)
        return 0;
    if (v[0] == '/' || v[0] == '>' || v[0] == '<' || v[0] == '[' ||
        v[0] == '{')
        return 1;
    return memchr(v, '*', len) != NULL || memchr(v, '?', len) != NULL;
}

SIFT_STATIC int
parse_clauses(const char *q, size_t len, struct clause *out, size_t *n_out,
              struct sift_patterns_error *err)
{
    const char *p = q, *end = q + len;
    size_t n = 0;
    while (p < end) {
        while (p < end && is_space(*p))
            p++;
        if (p == end)
            break;
        const char *start = p;
        struct clause c = {0};
        if (*p == '(' || *p == ')' || *p == '-' || *p == '!')
            return fail(err, 400, "query_parse",
                        "at %zu: '%c' is not supported by /api/v1/patterns "
                        "yet (only words, \"phrases\" and field:value, all "
                        "required)",
                        (size_t)(p - q), *p);
        if (*p == '"') {
            p = quoted(p + 1, end, &c.value, &c.value_len);
            if (!p)
                return fail(err, 400, "query_parse",
                            "at %zu: unterminated quote", (size_t)(start - q));
        } else {
            const char *t = p;
            while (t < end && !is_space(*t) && *t != ':' && *t != '"')
                t++;
            if (t < end && *t == ':' && t > p) {
                c.field = p;
                c.field_len = (size_t)(t - p);
                t++;
                if (t < end && *t == '"') {
                    p = quoted(t + 1, end, &c.value, &c.value_len);
                    if (!p)
                        return fail(err, 400, "query_parse",
                                    "at %zu: unterminated quote",
                                    (size_t)(t - q));
                } else {
                    p = t;
                    while (p < end && !is_space(*p))
                        p++;
                    c.value = t;
                    c.value_len = (size_t)(p - t);
                    if (c.value_len == 0)
                        return fail(err, 400, "query_parse",
                                    "at %zu: field '%.*s' has no value",
                                    (size_t)(start - q), (int)c.field_len,
                                    c.field);
                }
            } else {
                while (t < end && !is_space(*t))
                    t++;
                c.value = p;
                c.value_len = (size_t)(t - p);
                p = t;
                if (c.value_len == 3 && memcmp(c.value, "AND", 3) == 0)
                    continue;
                if ((c.value_len == 2 && memcmp(c.value, "OR", 2) == 0) ||
                    (c.value_len == 3 && memcmp(c.value, "NOT", 3) == 0))
                    return fail(err, 400, "query_parse",
                                "at %zu: %.*s is not supported by "
                                "/api/v1/patterns yet (all clauses are "
                                "required)",
                                (size_t)(start - q), (int)c.value_len,
                                c.value);
                if (c.value_len == 1 && c.value[0] == '*')
                    continue; /* match all: adds no condition */
            }
            if (unsupported_value(c.value, c.value_len))
                return fail(err, 400, "query_parse",
                            "at %zu: wildcards, regexes and ranges are not "
                            "supported by /api/v1/patterns yet",
                            (size_t)(start - q));
        }
        if (n == MAX_CLAUSES)
            return fail(err, 400, "query_parse",
                        "more than %d clauses", MAX_CLAUSES);
        out[n++] = c;
    }
    *n_out = n;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Matching                                                             */
/* ------------------------------------------------------------------ */

struct toks {
    char t[MAX_TOKENS][SIFT_TOKEN_MAX];
    size_t len[MAX_TOKENS];
    size_t n;
};

static int
tok_cb(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct toks *t = arg;
    (void)pos;
    (void)off;
    if (t->n == MAX_TOKENS)
        return 1;
    memcpy(t->t[t->n], tok, len);
    t->len[t->n++] = len;
    return 0;
}

/* CRoaring 0.2 does not accept NULL in roaring_bitmap_free(). */
static void
bm_free(roaring_bitmap_t *b)
{
    if (b)
        roaring_bitmap_free(b);
}

/* acc &= postings(field, term); an absent term empties acc. */
static int
and_term(struct sift_segment *seg, uint32_t field, const char *term,
         size_t len, roaring_bitmap_t **acc)
{
    roaring_bitmap_t *b = NULL;
    int rc = sift_segment_postings(seg, field, term, len, &b);
    if (rc < 0)
        return rc;
    if (!b) {
        bm_free(*acc);
        *acc = roaring_bitmap_create();
        return *acc ? SIFT_OK : SIFT_ENOMEM;
    }
    if (*acc == NULL) {
        *acc = b;
        return SIFT_OK;
    }
    roaring_bitmap_and_inplace(*acc, b);
    roaring_bitmap_free(b);
    return SIFT_OK;
}

/* The docs of seg matching every clause (NULL *out = all docs). */
static int
match_segment(struct sift_segment *seg, const struct clause *cl, size_t n,
              roaring_bitmap_t **out)
{
    roaring_bitmap_t *acc = NULL;
    int rc = SIFT_OK;
    struct toks *tk = sift_xmalloc(sizeof(*tk));
    for (size_t i = 0; i < n; i++) {
        const char *fname = cl[i].field ? cl[i].field : SIFT_MESSAGE_FIELD;
        size_t flen =
            cl[i].field ? cl[i].field_len : sizeof(SIFT_MESSAGE_FIELD) - 1;
        int f = sift_segment_field_find(seg, fname, flen);
        if (f < 0) {
            bm_free(acc);
            acc = roaring_bitmap_create(); /* field absent: nothing */
            if (!acc)
                rc = SIFT_ENOMEM;
            break;
        }
        unsigned flags = 0;
        uint32_t n_terms;
        sift_segment_field_info(seg, (uint32_t)f, &flags, &n_terms);
        if (flags & SIFT_SEGF_TEXT) {
            tk->n = 0;
            sift_tokenize(cl[i].value, cl[i].value_len, tok_cb, tk);
            for (size_t k = 0; k < tk->n && rc == SIFT_OK; k++)
                rc = and_term(seg, (uint32_t)f, tk->t[k], tk->len[k], &acc);
        } else {
            char small[256];
            char *low = cl[i].value_len <= sizeof(small)
                            ? small
                            : sift_try_malloc(cl[i].value_len);
            if (!low) {
                rc = SIFT_ENOMEM;
                break;
            }
            sift_ascii_lower(cl[i].value, cl[i].value_len, low);
            rc = and_term(seg, (uint32_t)f, low, cl[i].value_len, &acc);
            if (low != small)
                sift_free(low);
        }
        if (rc < 0)
            break;
        if (acc && roaring_bitmap_is_empty(acc))
            break; /* nothing can match any more */
    }
    sift_free(tk);
    if (rc < 0) {
        bm_free(acc);
        return rc;
    }
    *out = acc;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Counting                                                             */
/* ------------------------------------------------------------------ */

static uint32_t
hash_id(uint32_t id)
{
    return id * 2654435761u;
}

static int
counter_grow(struct counter *c)
{
    uint32_t cap = c->cap ? c->cap * 2 : 256;
    struct entry *t = sift_try_calloc(cap, sizeof(*t));
    if (!t)
        return SIFT_ENOMEM;
    for (uint32_t i = 0; i < c->cap; i++) {
        if (!c->tab[i].used)
            continue;
        uint32_t h = hash_id(c->tab[i].id) & (cap - 1);
        while (t[h].used)
            h = (h + 1) & (cap - 1);
        t[h] = c->tab[i];
    }
    sift_free(c->tab);
    c->tab = t;
    c->cap = cap;
    return SIFT_OK;
}

static bool
count_doc(uint32_t doc, void *arg)
{
    struct counter *c = arg;
    if (c->deadline && ++c->since_check >= CHECK_EVERY) {
        c->since_check = 0;
        if (sift_clock_mono_ns() > c->deadline) {
            c->timed_out = 1;
            return false;
        }
    }
    uint32_t id = SIFT_TEMPLATE_NONE;
    double v;
    if (c->tfield >= 0 &&
        sift_segment_number(c->seg, (uint32_t)c->tfield, doc, &v) == SIFT_OK &&
        v >= 0 && v <= (double)UINT32_MAX)
        id = (uint32_t)v;
    if ((c->n + 1) * 2 > c->cap && counter_grow(c) < 0) {
        c->nomem = 1;
        return false;
    }
    uint32_t h = hash_id(id) & (c->cap - 1);
    while (c->tab[h].used && c->tab[h].id != id)
        h = (h + 1) & (c->cap - 1);
    struct entry *e = &c->tab[h];
    int64_t ts = sift_segment_doc_ts(c->seg, doc);
    if (!e->used) {
        e->used = 1;
        e->id = id;
        e->first_ns = e->last_ns = ts;
        e->seg = c->seg_idx;
        e->doc = doc;
        c->n++;
    } else {
        if (ts < e->first_ns)
            e->first_ns = ts;
        if (ts >= e->last_ns) {
            e->last_ns = ts;
            e->seg = c->seg_idx;
            e->doc = doc;
        }
    }
    e->count++;
    c->total++;
    return true;
}

static int
count_segment(struct counter *c, struct sift_segment *seg, uint32_t seg_idx,
              const struct clause *cl, size_t n_cl,
              const struct sift_patterns_opts *o)
{
    if (sift_segment_doc_count(seg) == 0 ||
        sift_segment_max_ts(seg) < o->from_ns ||
        sift_segment_min_ts(seg) >= o->to_ns)
        return SIFT_OK;
    uint32_t lo = sift_segment_ts_lower_bound(seg, o->from_ns);
    uint32_t hi = sift_segment_ts_lower_bound(seg, o->to_ns);
    if (lo >= hi)
        return SIFT_OK;
    roaring_bitmap_t *m = NULL;
    int rc = match_segment(seg, cl, n_cl, &m);
    if (rc < 0)
        return rc;
    roaring_bitmap_t *range = roaring_bitmap_from_range(lo, hi, 1);
    if (!range) {
        bm_free(m);
        return SIFT_ENOMEM;
    }
    if (m) {
        roaring_bitmap_and_inplace(m, range);
        roaring_bitmap_free(range);
    } else {
        m = range;
    }
    const roaring_bitmap_t *del = sift_segment_deleted(seg);
    if (del)
        roaring_bitmap_andnot_inplace(m, del);
    c->seg = seg;
    c->seg_idx = seg_idx;
    c->tfield =
        sift_segment_field_find(seg, TEMPLATE_FIELD, sizeof(TEMPLATE_FIELD) - 1);
    roaring_iterate(m, count_doc, c);
    roaring_bitmap_free(m);
    return c->nomem ? SIFT_ENOMEM : SIFT_OK;
}

static int
by_count(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Appends the message of doc as a JSON string (null when unreadable). */
static void
put_sample(struct sift_segment *seg, uint32_t doc, struct sift_arena *arena,
           struct sift_buf *out)
{
    struct sift_buf raw = SIFT_BUF_INIT;
    struct sift_event ev;
    if (sift_segment_doc(seg, doc, &raw) == SIFT_OK &&
        sift_doc_decode((const uint8_t *)raw.data, raw.len, arena, &ev) ==
            SIFT_OK)
        sift_buf_put_json_str(out, ev.msg ? ev.msg : "", ev.msg_len);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_cleanup(&raw);
    sift_arena_reset(arena);
}

int
sift_patterns_run(struct sift_segment *const *segs, size_t n,
                  const struct sift_patterns_opts *opts,
                  struct sift_anomaly_templates *names, struct sift_buf *out,
                  struct sift_patterns_error *err)
{
    struct clause cl[MAX_CLAUSES];
    size_t n_cl = 0;
    int rc = parse_clauses(opts->q ? opts->q : "", opts->q ? opts->q_len : 0,
                           cl, &n_cl, err);
    if (rc < 0)
        return rc;
    struct counter c;
    memset(&c, 0, sizeof(c));
    c.deadline = opts->deadline_mono_ns;
    for (size_t i = 0; i < n && rc == SIFT_OK && !c.timed_out; i++)
        rc = count_segment(&c, segs[i], (uint32_t)i, cl, n_cl, opts);
    if (rc == SIFT_ENOMEM || c.nomem) {
        sift_free(c.tab);
        fail(err, 503, "out_of_memory", "not enough memory for the counts");
        return SIFT_ENOMEM;
    }
    if (rc < 0) {
        sift_free(c.tab);
        fail(err, 500, "internal", "reading a segment failed: %s",
             sift_strerror(rc));
        return rc;
    }
    if (c.timed_out) {
        sift_free(c.tab);
        fail(err, 504, "timeout", "the pattern count took longer than "
                                  "query.timeout");
        return SIFT_ETIMEOUT;
    }
    /* Compact the table in place, then sort by count. */
    uint32_t m = 0;
    for (uint32_t i = 0; i < c.cap; i++) {
        if (c.tab[i].used)
            c.tab[m++] = c.tab[i];
    }
    if (m)
        qsort(c.tab, m, sizeof(c.tab[0]), by_count);
    uint32_t k = m < opts->size ? m : opts->size;
    struct sift_arena *arena = sift_arena_new(16384);
    struct sift_buf text = SIFT_BUF_INIT;
    sift_buf_append(out, "{\"patterns\":[", 13);
    for (uint32_t i = 0; i < k; i++) {
        const struct entry *e = &c.tab[i];
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_appendf(out, "{\"template_id\":%" PRIu32 ",\"template\":",
                         e->id);
        sift_buf_reset(&text);
        if (e->id != SIFT_TEMPLATE_NONE && names &&
            sift_anomaly_templates_text(names, e->id, &text) == SIFT_OK)
            sift_buf_put_json_str(out, text.data ? text.data : "", text.len);
        else
            sift_buf_append(out, "null", 4);
        sift_buf_appendf(out,
                         ",\"count\":%" PRIu64 ",\"first_seen_ms\":%" PRId64
                         ",\"last_seen_ms\":%" PRId64 ",\"sample\":",
                         e->count, e->first_ns / SIFT_NS_PER_MS,
                         e->last_ns / SIFT_NS_PER_MS);
        put_sample(segs[e->seg], e->doc, arena, out);
        sift_buf_putc(out, '}');
    }
    sift_buf_appendf(out, "],\"total\":%" PRIu64 ",\"distinct\":%" PRIu32 "}",
                     c.total, m);
    sift_buf_cleanup(&text);
    sift_arena_free(arena);
    sift_free(c.tab);
    return SIFT_OK;
}
