/*
 * fields.c - the fields a parsed query names (for checks against the
 * fields the store holds: rules reject an unknown field).
 *
 * Design: a walk of the AST; every node with a field other than the
 * default ("message", used for bare words) is reported once per node.
 * Threads: any (the query is immutable).
 */
#include <string.h>

#include "query/query_int.h"
#include "sift/query.h"

static int
walk(const struct sift_qnode *n, sift_query_field_cb cb, void *arg)
{
    if (n == NULL)
        return 0;
    if (n->kind == SIFT_QN_AND || n->kind == SIFT_QN_OR ||
        n->kind == SIFT_QN_NOT) {
        for (uint32_t i = 0; i < n->n_kids; i++) {
            int rc = walk(n->kids[i], cb, arg);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (n->kind == SIFT_QN_ALL || n->field == NULL)
        return 0;
    if (n->field_len == 7 && memcmp(n->field, "message", 7) == 0)
        return 0;
    return cb(n->field, n->field_len, n->pos, arg);
}

int
sift_query_each_field(const struct sift_query *q, sift_query_field_cb cb,
                      void *arg)
{
    return q ? walk(q->root, cb, arg) : 0;
}
