/*
 * query_job.c - snapshot + worker + loop reply plumbing for queries.
 *
 * Design: a job owns one store snapshot from submit until its work has
 * run (released on the worker right after work(), or on the loop when
 * the pool cancels the job), so segments merged or deleted meanwhile
 * stay mapped for exactly as long as a query reads them.  The segment
 * pointer array is built once on the loop.
 *
 * Invariant: the in-flight count (struct sift_query_slots, owned by main
 * and shared by the endpoints) is only touched on the loop thread (submit
 * and done), so it needs no atomics.
 *
 * Threads: submit and done on the loop; run_work on a worker.
 */
#include <stddef.h>

#include "api/query_job.h"
#include "sift/alloc.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/pool.h"
#include "sift/query_slots.h"
#include "sift/store.h"

struct qjob {
    struct sift_snapshot *snap;
    struct sift_segment **segs;
    size_t n;
    sift_qjob_work_cb work;
    sift_qjob_done_cb done;
    void *arg;
    struct sift_query_slots *slots; /* the slot this job holds */
};

static int
over_limit(const struct sift_query_slots *slots, const struct sift_config *cfg)
{
    return cfg && cfg->max_concurrent_queries > 0 &&
           (int64_t)slots->inflight >= cfg->max_concurrent_queries;
}

int
sift__api_query_slot_acquire(struct sift_query_slots *slots,
                             const struct sift_config *cfg)
{
    if (over_limit(slots, cfg))
        return SIFT_EBUSY;
    slots->inflight++;
    return SIFT_OK;
}

void
sift__api_query_slot_release(struct sift_query_slots *slots)
{
    if (SIFT_ALWAYS(slots->inflight > 0))
        slots->inflight--;
}

static void
release_snapshot(struct qjob *j)
{
    if (j->snap)
        sift_snapshot_release(j->snap);
    j->snap = NULL;
    sift_free(j->segs);
    j->segs = NULL;
    j->n = 0;
}

static void
run_work(void *arg)
{
    struct qjob *j = arg;
    j->work(j->segs, j->n, j->arg);
    release_snapshot(j);
}

static void
run_done(void *arg, int cancelled)
{
    struct qjob *j = arg;
    release_snapshot(j);
    sift__api_query_slot_release(j->slots);
    j->done(j->arg, cancelled);
    sift_free(j);
}

int
sift__api_query_job_submit(struct sift_pool *pool, struct sift_store *store,
                           const struct sift_config *cfg,
                           struct sift_query_slots *slots,
                           sift_qjob_work_cb work, sift_qjob_done_cb done,
                           void *arg)
{
    if (over_limit(slots, cfg))
        return SIFT_EBUSY;
    struct qjob *j = sift_xcalloc(1, sizeof(*j));
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->slots = slots;
    j->snap = sift_store_snapshot(store);
    j->n = j->snap ? sift_snapshot_count(j->snap) : 0;
    j->segs = sift_try_calloc(j->n + 1, sizeof(*j->segs));
    if (!j->segs) {
        release_snapshot(j);
        sift_free(j);
        return SIFT_ENOMEM;
    }
    for (size_t i = 0; i < j->n; i++)
        j->segs[i] = sift_snapshot_segment(j->snap, i);
    int rc = sift_pool_submit(pool, run_work, run_done, j);
    if (rc < 0) {
        release_snapshot(j);
        sift_free(j);
        return rc;
    }
    slots->inflight++;
    return SIFT_OK;
}
