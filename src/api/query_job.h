/*
 * query_job.h - run a read-only job over a store snapshot on the workers.
 *
 * Shared by the HTTP handlers that query segments (grafana.c; search.c
 * uses the in-flight slots only, see below): the snapshot is taken on the loop
 * when the job is submitted, so the job sees exactly the data searchable at
 * that moment; work() runs on a worker with the snapshot's segments; done()
 * runs on the loop, where the handler replies.  A process-wide count of
 * jobs in flight enforces query.max_concurrent_queries.
 *
 * Loop thread for submit and done; work on a worker.
 */
#ifndef SIFT_API_QUERY_JOB_H
#define SIFT_API_QUERY_JOB_H

#include <stddef.h>

struct sift_config;
struct sift_pool;
struct sift_query_slots;
struct sift_segment;
struct sift_store;

/** Worker thread: segs[0..n) are borrowed for the call (time order). */
typedef void (*sift_qjob_work_cb)(struct sift_segment *const *segs, size_t n,
                                  void *arg);
/** Loop thread, exactly once per accepted job; cancelled: pool stopping. */
typedef void (*sift_qjob_done_cb)(void *arg, int cancelled);

/**
 * Takes a snapshot of store and queues work then done.  Returns SIFT_OK,
 * SIFT_EBUSY when cfg->max_concurrent_queries queries already hold one of
 * slots (the count shared by the endpoints) and the job would be one more
 * (answer 503), SIFT_ESHUTDOWN when the pool is stopping, or SIFT_ENOMEM;
 * on an error neither callback runs.  Loop thread.
 */
int sift__api_query_job_submit(struct sift_pool *pool, struct sift_store *store,
                               const struct sift_config *cfg,
                               struct sift_query_slots *slots,
                               sift_qjob_work_cb work, sift_qjob_done_cb done,
                               void *arg);

/**
 * Takes one in-flight slot for a query that runs its own jobs (search.c:
 * an export runs many pages over one snapshot), counted against the same
 * cfg->max_concurrent_queries as the jobs above, so search and Grafana
 * together never run more.  Returns SIFT_OK (release with
 * sift__api_query_slot_release() exactly once) or SIFT_EBUSY.  Loop thread.
 */
int sift__api_query_slot_acquire(struct sift_query_slots *slots,
                                 const struct sift_config *cfg);

/** Gives back a slot from sift__api_query_slot_acquire().  Loop thread. */
void sift__api_query_slot_release(struct sift_query_slots *slots);

#endif /* SIFT_API_QUERY_JOB_H */
