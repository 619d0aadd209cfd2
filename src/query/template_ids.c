/*
 * template_ids.c - "_template_id:N" also finds the events stored with
 * ids that were merged into N's template (and a merged-away id finds the
 * template's events): the miner merges similar templates and keeps the
 * old ids as aliases (include/sift/drain.h), while stored events keep
 * the id they were mined with.
 *
 * Design.  The anomaly service registers a callback (sift_query_set_
 * template_ids) that lists the ids standing for one template.  After a
 * query is parsed, every TERM on _template_id whose value is a number is
 * replaced by an OR of TERMs, one per id, when there is more than one.
 * With no callback (unit tests, tools) queries are left as they are.
 *
 * Invariants: the callback and its argument are read under a read lock
 * and changed under the write lock, so a service that clears the hook
 * before freeing its table never sees a call on a freed table.
 * Thread: any thread (parsing happens on the loop and on workers).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/query.h"

#define TEMPLATE_FIELD "_template_id"
#define MAX_IDS 256 /* ids one term expands to */

static pthread_rwlock_t hook_lock = PTHREAD_RWLOCK_INITIALIZER;
static sift_query_template_ids_cb hook;
static void *hook_arg;

void
sift_query_set_template_ids(sift_query_template_ids_cb fn, void *arg)
{
    pthread_rwlock_wrlock(&hook_lock);
    hook = fn;
    hook_arg = arg;
    pthread_rwlock_unlock(&hook_lock);
}

/* The id a TERM's text names, or 0 (not a plain decimal id). */
static uint32_t
term_id(const struct sift_qnode *n)
{
    if (n->text_len == 0 || n->text_len > 10)
        return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < n->text_len; i++) {
        char c = n->text[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (uint64_t)(c - '0');
    }
    return v <= UINT32_MAX ? (uint32_t)v : 0;
}

static void
expand(struct sift_arena *a, struct sift_qnode *n)
{
    for (uint32_t k = 0; k < n->n_kids; k++)
        expand(a, n->kids[k]);
    if (n->kind != SIFT_QN_TERM || n->field_len != sizeof(TEMPLATE_FIELD) - 1 ||
        memcmp(n->field, TEMPLATE_FIELD, n->field_len) != 0)
        return;
    uint32_t id = term_id(n);
    if (id == 0)
        return;
    uint32_t ids[MAX_IDS];
    size_t n_ids = hook(hook_arg, id, ids, MAX_IDS);
    if (n_ids <= 1 && (n_ids == 0 || ids[0] == id))
        return;
    struct sift_qnode **kids = sift_arena_alloc(a, n_ids * sizeof(*kids));
    for (size_t i = 0; i < n_ids; i++) {
        struct sift_qnode *t = sift_arena_alloc(a, sizeof(*t));
        *t = *n;
        char *text = sift_arena_alloc(a, 12);
        int len = snprintf(text, 12, "%u", ids[i]);
        t->text = text;
        t->text_len = (size_t)(len > 0 ? len : 0);
        kids[i] = t;
    }
    n->kind = SIFT_QN_OR;
    n->kids = kids;
    n->n_kids = (uint32_t)n_ids;
}

void
sift__query_expand_template_ids(struct sift_query *q)
{
    pthread_rwlock_rdlock(&hook_lock);
    if (hook)
        expand(q->arena, q->root);
    pthread_rwlock_unlock(&hook_lock);
}
