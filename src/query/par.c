/*
 * par.c - fans one query's segments out over the worker pool.
 *
 * What: sift__query_par_run() calls cb(lane, i) once for every segment
 * index i in [0, n), spread over up to n_lanes "lanes" (threads), and
 * returns when all calls have finished.  Each lane owns one partial result
 * (top-k candidates, bucket counts, a term map...) that only it writes;
 * the caller merges the lanes afterwards, on its own thread.
 *
 * Design (fork-join that cannot deadlock on a busy pool): the caller is
 * lane 0 and works too.  It submits n_lanes - 1 helper jobs to the pool;
 * every participant claims the next unclaimed segment under a mutex until
 * none is left.  The caller therefore never waits for a helper that has
 * not started: it processes every segment nobody else claimed, and then
 * waits only for the segments other lanes are actively running.  A
 * helper that starts late (the pool was busy with other queries) finds
 * nothing left and returns at once, without touching the caller's lanes.
 * This also holds while the pool is stopping (queued helpers are
 * cancelled) and when the caller is itself a pool worker, which is the
 * normal case (search.c and grafana.c run queries as pool jobs).
 *
 * Determinism: segments are claimed in index order and a failure stops
 * further claims, so every segment below a failing one has been run; the
 * error reported is the one of the lowest failing segment, exactly the
 * one a sequential run would report.  Partial results must be merged in a
 * way that does not depend on which lane ran which segment (the engine
 * keys every order-sensitive value by segment index); see
 * docs/internals/query.md.
 *
 * Ownership: the shared state is reference-counted (the caller and each
 * submitted helper hold one reference), because a helper may run, or be
 * cancelled, after the caller has returned.  A helper releases its
 * reference at the end of its work, or in done() when it was cancelled
 * without running.
 *
 * Threads: sift__query_par_run on any thread (normally a pool worker);
 * helpers on pool workers; helper_done on the loop thread.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "query/query_int.h"
#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/pool.h"

struct lane_status {
    int rc;                      /* first failure of this lane, or 0 */
    size_t seg;                  /* index that failed */
    struct sift_query_error err; /* its error */
};

struct par {
    pthread_mutex_t lock; /* guards every field below */
    pthread_cond_t idle;  /* active reached 0 */
    unsigned refs;
    size_t next; /* next segment index to claim */
    size_t n;
    unsigned active;      /* segments being run right now */
    unsigned lanes_taken; /* lane ids handed out (0 = caller) */
    unsigned n_lanes;
    int stop; /* error, timeout, or the caller is done */
    int timed_out;
    /* Borrowed from the caller; touched only by a lane holding a claim. */
    const struct sift__qpar_spec *spec;
    struct lane_status *status; /* [n_lanes] */
};

/* Segments run by helper lanes since start (tests and diagnostics). */
static atomic_ullong helped;

uint64_t
sift__query_par_helped(void)
{
    return (uint64_t)atomic_load(&helped);
}

static void
par_unref(struct par *p)
{
    pthread_mutex_lock(&p->lock);
    unsigned left = --p->refs;
    pthread_mutex_unlock(&p->lock);
    if (left)
        return;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->idle);
    sift_free(p->status);
    sift_free(p);
}

/* Runs segments for lane until none is left or the run stops. */
static void
participate(struct par *p, unsigned lane)
{
    const struct sift__qpar_spec *spec = p->spec;
    struct lane_status *st = &p->status[lane];
    void *lane_data = (char *)spec->lanes + (size_t)lane * spec->lane_size;
    pthread_mutex_lock(&p->lock);
    while (!p->stop && p->next < p->n) {
        size_t i = p->next++;
        p->active++;
        pthread_mutex_unlock(&p->lock);

        struct sift_query_error err = {.position = -1};
        struct sift_qctx ctx = {.deadline_mono_ns = spec->deadline_mono_ns,
                                .max_expansion = spec->max_expansion,
                                .err = &err};
        int rc = spec->cb(lane_data, i, &ctx, spec->arg);
        sift__query_ctx_cleanup(&ctx);
        if (lane)
            atomic_fetch_add(&helped, 1);

        pthread_mutex_lock(&p->lock);
        p->active--;
        if (rc == SIFT_ETIMEOUT || ctx.timed_out) {
            p->timed_out = 1;
            p->stop = 1;
        } else if (rc < 0) {
            if (st->rc == 0) {
                st->rc = rc;
                st->seg = i;
                st->err = err;
            }
            p->stop = 1;
        }
        if (p->active == 0)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
}

static void
helper_work(void *arg)
{
    struct par *p = arg;
    pthread_mutex_lock(&p->lock);
    int go = !p->stop && p->next < p->n && p->lanes_taken < p->n_lanes;
    unsigned lane = go ? p->lanes_taken++ : 0;
    pthread_mutex_unlock(&p->lock);
    if (go)
        participate(p, lane);
    par_unref(p);
}

static void
helper_done(void *arg, int cancelled)
{
    /* After a run, helper_work already dropped the reference (arg may be
     * gone); only a job that never ran still holds one. */
    if (cancelled)
        par_unref(arg);
}

unsigned
sift__query_par_lanes(struct sift_pool *pool, unsigned parallelism, size_t n)
{
    if (!pool || n <= 1)
        return 1;
    unsigned lanes = parallelism ? parallelism : sift_pool_threads(pool);
    if (lanes < 1)
        lanes = 1;
    if (lanes > SIFT_QPAR_MAX_LANES)
        lanes = SIFT_QPAR_MAX_LANES;
    if ((size_t)lanes > n)
        lanes = (unsigned)n;
    return lanes;
}

int
sift__query_par_run(const struct sift__qpar_spec *spec, unsigned n_lanes,
                    struct sift_query_error *err, int *timed_out)
{
    *timed_out = 0;
    if (spec->n == 0)
        return SIFT_OK;
    struct par *p = sift_xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->idle, NULL);
    p->refs = 1;
    p->n = spec->n;
    p->n_lanes = n_lanes ? n_lanes : 1;
    p->lanes_taken = 1;
    p->spec = spec;
    p->status = sift_xcalloc(p->n_lanes, sizeof(*p->status));

    for (unsigned h = 1; h < p->n_lanes && spec->pool; h++) {
        pthread_mutex_lock(&p->lock);
        p->refs++;
        pthread_mutex_unlock(&p->lock);
        if (sift_pool_submit(spec->pool, helper_work, helper_done, p) < 0) {
            /* Stopping: the caller runs whatever is left itself. */
            pthread_mutex_lock(&p->lock);
            p->refs--;
            pthread_mutex_unlock(&p->lock);
            break;
        }
    }
    participate(p, 0);

    pthread_mutex_lock(&p->lock);
    while (p->active > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    /* From here no helper may claim anything: the lanes are ours again. */
    p->stop = 1;
    *timed_out = p->timed_out;
    const struct lane_status *first = NULL;
    for (unsigned l = 0; l < p->n_lanes; l++)
        if (p->status[l].rc < 0 && (!first || p->status[l].seg < first->seg))
            first = &p->status[l];
    int rc = SIFT_OK;
    if (first) {
        rc = first->rc;
        *err = first->err;
    }
    pthread_mutex_unlock(&p->lock);
    par_unref(p);
    return rc;
}
