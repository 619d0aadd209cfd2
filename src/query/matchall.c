/*
 * matchall.c - does a query match every event, whatever the data?
 *
 * Delete-by-query asks for an explicit confirmation before a query that
 * deletes everything in its range (docs/lifecycle.md), and "*" is only
 * the obvious spelling of that.  This file decides it on the AST by
 * boolean algebra, without looking at any segment:
 *
 *   all(ALL)      = yes                    none(NOT x) = all(x)
 *   all(AND ks)   = every k is all         none(AND ks) = some k is none,
 *                                                     or x and NOT x
 *   all(OR ks)    = some k is all, or x and NOT x among ks
 *   all(NOT x)    = none(x)                none(OR ks) = every k is none
 *
 * "x and NOT x" compares subtrees structurally (same kind, field, text,
 * bounds and children in order; "a OR b OR NOT (a OR b)" too, as the
 * parser flattens nested ORs and ANDs).  Terms, phrases, patterns, ranges and
 * field existence can each miss some event, so they are neither.  The
 * test is sound (a "yes" always deletes everything) and catches every
 * way a user writes "all" by accident; it does not try to prove
 * tautologies over field values ("status:<5 OR status:>=5").
 *
 * Pure over a parsed query; any thread.
 */
#include <string.h>

#include "query/query_int.h"
#include "sift/query.h"

static int is_all(const struct sift_qnode *n, unsigned depth);
static int is_none(const struct sift_qnode *n, unsigned depth);

#define MAX_DEPTH 64u /* deeper trees are answered "no" (never "yes") */

static int
same_text(const char *a, size_t al, const char *b, size_t bl)
{
    if (al != bl)
        return 0;
    return al == 0 || (a && b && memcmp(a, b, al) == 0);
}

static int
same_node(const struct sift_qnode *a, const struct sift_qnode *b,
          unsigned depth)
{
    if (depth > MAX_DEPTH || a->kind != b->kind || a->n_kids != b->n_kids)
        return 0;
    if (!same_text(a->field, a->field_len, b->field, b->field_len) ||
        !same_text(a->text, a->text_len, b->text, b->text_len))
        return 0;
    if (a->kind == SIFT_QN_RANGE &&
        (a->lo != b->lo || a->hi != b->hi || a->lo_incl != b->lo_incl ||
         a->hi_incl != b->hi_incl))
        return 0;
    for (uint32_t i = 0; i < a->n_kids; i++)
        if (!same_node(a->kids[i], b->kids[i], depth + 1))
            return 0;
    return 1;
}

/* y is one of n's kids other than skip, or, when y has n's own kind (the
 * parser flattens "a OR b OR c"), each of y's kids is. */
static int
covered(const struct sift_qnode *n, uint32_t skip, const struct sift_qnode *y,
        unsigned depth)
{
    for (uint32_t j = 0; j < n->n_kids; j++)
        if (j != skip && same_node(n->kids[j], y, depth + 1))
            return 1;
    if (y->kind != n->kind || y->n_kids == 0 || depth > MAX_DEPTH)
        return 0;
    for (uint32_t k = 0; k < y->n_kids; k++)
        if (!covered(n, skip, y->kids[k], depth + 1))
            return 0;
    return 1;
}

/* Some kid is NOT(y) and the other kids hold y. */
static int
has_complement(const struct sift_qnode *n, unsigned depth)
{
    for (uint32_t i = 0; i < n->n_kids; i++) {
        const struct sift_qnode *k = n->kids[i];
        if (k->kind == SIFT_QN_NOT && k->n_kids == 1 &&
            covered(n, i, k->kids[0], depth))
            return 1;
    }
    return 0;
}

static int
is_all(const struct sift_qnode *n, unsigned depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    switch (n->kind) {
    case SIFT_QN_ALL: return 1;
    case SIFT_QN_NOT: return n->n_kids == 1 && is_none(n->kids[0], depth + 1);
    case SIFT_QN_AND:
        for (uint32_t i = 0; i < n->n_kids; i++)
            if (!is_all(n->kids[i], depth + 1))
                return 0;
        return n->n_kids > 0;
    case SIFT_QN_OR:
        for (uint32_t i = 0; i < n->n_kids; i++)
            if (is_all(n->kids[i], depth + 1))
                return 1;
        return has_complement(n, depth);
    default: return 0;
    }
}

static int
is_none(const struct sift_qnode *n, unsigned depth)
{
    if (depth > MAX_DEPTH)
        return 0;
    switch (n->kind) {
    case SIFT_QN_NOT: return n->n_kids == 1 && is_all(n->kids[0], depth + 1);
    case SIFT_QN_AND:
        for (uint32_t i = 0; i < n->n_kids; i++)
            if (is_none(n->kids[i], depth + 1))
                return 1;
        return has_complement(n, depth);
    case SIFT_QN_OR:
        for (uint32_t i = 0; i < n->n_kids; i++)
            if (!is_none(n->kids[i], depth + 1))
                return 0;
        return n->n_kids > 0;
    default: return 0;
    }
}

int
sift_query_matches_all(const struct sift_query *q)
{
    return q != NULL && q->root != NULL && is_all(q->root, 0);
}
