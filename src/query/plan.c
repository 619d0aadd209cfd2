/*
 * plan.c - prepares a parsed AST for evaluation.
 *
 * Everything that does not depend on a segment is done once here, so
 * per-segment evaluation (exec.c) only looks things up:
 *   - words and phrases are tokenized with sift_tokenize() (the same
 *     function that indexed the documents) and lowercased;
 *   - numbers in term position are parsed (numeric equality on NUMBER
 *     fields);
 *   - regexes are compiled with PCRE2 (caseless, anchored at both ends so
 *     they match whole terms like Lucene), JIT-compiled when available;
 *   - AND children are ordered cheapest first: plain terms, then phrases
 *     (which need verification), expansions, column scans, and negations
 *     last, because every child after the first only filters the docs the
 *     previous ones left.
 *
 * The planned query is immutable afterwards; the regex match data is
 * created per evaluation, so one query may run on many threads.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/tokenize.h"

struct tok_collect {
    struct sift_arena *arena;
    char **toks;
    size_t *lens;
    uint32_t n, cap;
};

static int
collect_tok(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct tok_collect *c = arg;
    (void)pos;
    (void)off;
    if (c->n == c->cap) {
        uint32_t cap = c->cap ? c->cap * 2 : 4;
        char **t = sift_arena_alloc(c->arena, cap * sizeof(*t));
        size_t *l = sift_arena_alloc(c->arena, cap * sizeof(*l));
        if (c->n) {
            memcpy(t, c->toks, c->n * sizeof(*t));
            memcpy(l, c->lens, c->n * sizeof(*l));
        }
        c->toks = t;
        c->lens = l;
        c->cap = cap;
    }
    c->toks[c->n] = sift_arena_strndup(c->arena, tok, len);
    c->lens[c->n] = len;
    c->n++;
    return 0;
}

static void
regex_cleanup(void *arg)
{
    pcre2_code_free(arg);
}

static int
parse_number_text(const char *s, size_t len, double *out)
{
    if (len == 0 || len > 48)
        return SIFT_EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' ||
              c == 'e' || c == 'E'))
            return SIFT_EINVAL;
    }
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + len || errno != 0 || !isfinite(v))
        return SIFT_EINVAL;
    *out = v;
    return SIFT_OK;
}

static int
compile_regex(struct sift_query *q, struct sift_qnode *n,
              struct sift_query_error *err)
{
    int ec;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)n->text, n->text_len,
                                   PCRE2_CASELESS | PCRE2_ANCHORED |
                                       PCRE2_ENDANCHORED | PCRE2_DOTALL,
                                   &ec, &eoff, NULL);
    if (!re) {
        PCRE2_UCHAR msg[128];
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0)
            memcpy(msg, "bad pattern", 12);
        uint32_t pos = n->pos + 1 + (uint32_t)(eoff > 4096 ? 0 : eoff);
        return sift__query_error(err, SIFT_EPARSE, 400, "invalid_regex",
                                 (int32_t)pos, "invalid regex: %s at %u",
                                 (const char *)msg, (unsigned)pos);
    }
    /* JIT is an optimisation only; the interpreter is used if it fails. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    sift_arena_cleanup_add(q->arena, regex_cleanup, re);
    n->re = re;
    return SIFT_OK;
}

static int
cmp_cost(const void *a, const void *b)
{
    const struct sift_qnode *x = *(struct sift_qnode *const *)a;
    const struct sift_qnode *y = *(struct sift_qnode *const *)b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    /* Ties keep query order (positions are unique). */
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int
plan_node(struct sift_query *q, struct sift_qnode *n,
          struct sift_query_error *err)
{
    int rc;
    switch (n->kind) {
    case SIFT_QN_ALL: n->cost = 0; return SIFT_OK;
    case SIFT_QN_AND:
    case SIFT_QN_OR:
    case SIFT_QN_NOT: {
        unsigned cost = 0;
        for (uint32_t i = 0; i < n->n_kids; i++) {
            if ((rc = plan_node(q, n->kids[i], err)) < 0)
                return rc;
            unsigned c = n->kids[i]->cost;
            if (n->kind == SIFT_QN_AND)
                cost = i == 0 || c < cost ? c : cost;
            else
                cost = c > cost ? c : cost;
        }
        if (n->kind == SIFT_QN_AND)
            qsort(n->kids, n->n_kids, sizeof(*n->kids), cmp_cost);
        /* A union reads every child's postings: dearer than any of them. */
        n->cost = n->kind == SIFT_QN_NOT  ? 20 + cost
                  : n->kind == SIFT_QN_OR ? cost + 1
                                          : cost;
        return SIFT_OK;
    }
    case SIFT_QN_TERM:
    case SIFT_QN_PHRASE:
    case SIFT_QN_PREFIX:
    case SIFT_QN_WILDCARD: {
        n->lower = sift_arena_alloc(q->arena, n->text_len + 1);
        sift_ascii_lower(n->text, n->text_len, n->lower);
        n->lower[n->text_len] = '\0';
        n->lower_len = n->text_len;
        struct tok_collect c = {.arena = q->arena};
        sift_tokenize(n->text, n->text_len, collect_tok, &c);
        n->toks = c.toks;
        n->tok_lens = c.lens;
        n->n_toks = c.n;
        /* Phrase verification keeps one bit per token (exec.c). */
        if (c.n > SIFT_QUERY_MAX_PHRASE_TOKENS)
            return sift__query_error(
                err, SIFT_EPARSE, 400, "query_parse", (int32_t)n->pos,
                "phrase longer than %u tokens at %u",
                SIFT_QUERY_MAX_PHRASE_TOKENS, (unsigned)n->pos);
        /* Proximity keeps one position per word (exec.c): a repeated
         * word would need a matching, which is not done. */
        for (uint32_t i = 0; n->slop > 0 && i < c.n; i++)
            for (uint32_t j = i + 1; j < c.n; j++)
                if (c.lens[i] == c.lens[j] &&
                    memcmp(c.toks[i], c.toks[j], c.lens[i]) == 0)
                    return sift__query_error(
                        err, SIFT_EPARSE, 400, "query_parse", (int32_t)n->pos,
                        "proximity (\"...\"~N) with a repeated word is not "
                        "supported at %u",
                        (unsigned)n->pos);
        n->is_number = parse_number_text(n->text, n->text_len, &n->number) == 0;
        n->cost = n->kind == SIFT_QN_PREFIX                    ? 4
                  : n->kind == SIFT_QN_WILDCARD                ? 5
                  : n->n_toks > 1 || n->kind == SIFT_QN_PHRASE ? 2
                                                               : 1;
        return SIFT_OK;
    }
    case SIFT_QN_REGEX: n->cost = 6; return compile_regex(q, n, err);
    case SIFT_QN_RANGE: n->cost = 8; return SIFT_OK;
    case SIFT_QN_EXISTS: n->cost = 7; return SIFT_OK;
    }
    return SIFT_OK;
}

/* Marks the root and the nodes ANDed into it (through nested ANDs). */
static void
mark_top_conjuncts(struct sift_qnode *n)
{
    if (n->kind == SIFT_QN_AND) {
        for (uint32_t i = 0; i < n->n_kids; i++)
            mark_top_conjuncts(n->kids[i]);
        return;
    }
    n->top_conjunct = 1;
}

int
sift__query_plan(struct sift_query *q, struct sift_query_error *err)
{
    int rc = plan_node(q, q->root, err);
    if (rc == SIFT_OK)
        mark_top_conjuncts(q->root);
    return rc;
}

/*
 * Glob match of a whole term: '*' any run, '?' one byte, '\x' literal x.
 * Iterative with one backtrack point (the last '*'), so it is linear-ish
 * and never recurses on hostile patterns.
 */
int
sift__query_wild_match(const char *pat, size_t pat_len, const char *s,
                       size_t len)
{
    size_t p = 0, i = 0;
    size_t star_p = SIZE_MAX, star_i = 0;
    while (i < len) {
        if (p < pat_len && pat[p] == '*') {
            star_p = ++p;
            star_i = i;
            continue;
        }
        if (p < pat_len) {
            int lit = pat[p] == '\\' && p + 1 < pat_len;
            char pc = lit ? pat[p + 1] : pat[p];
            if ((!lit && pc == '?') || pc == s[i]) {
                p += lit ? 2 : 1;
                i++;
                continue;
            }
        }
        if (star_p == SIZE_MAX)
            return 0;
        p = star_p;
        i = ++star_i;
    }
    while (p < pat_len && pat[p] == '*')
        p++;
    return p == pat_len;
}
