/*
 * pool.c - worker threads that run jobs off the loop.
 *
 * Design: a FIFO per job class under one mutex and a condition variable;
 * n pthreads pop and run work(arg), then hand the job to the loop with
 * sift_loop_post(), where done(arg, 0) runs.  Stop takes every job that
 * is still queued, marks it cancelled and posts it the same way, so done
 * runs exactly once per accepted job, always on the loop thread.
 *
 * Classes (a query must not wait behind a merge, issue 26): a free worker
 * takes a query job first, then a build (seal, flush, commit, delete),
 * then a background job (merge, tier move); a build that has waited 100
 * ms goes before queries (a steady query load must not stall ingest);
 * background jobs never occupy more than n - 1 workers (when n > 1), so
 * one worker is always free for queries and builds however long a merge
 * runs.  Each class counts how long its
 * jobs waited in the queue (sift_pool_wait_stats()).
 *
 * Invariants:
 * - n_outstanding counts accepted jobs whose done has not run yet; it
 *   only reaches 0 when every done callback has run.
 * - n_pending counts jobs queued or running (what sift_pool_pending()
 *   reports).
 * - After stopping is set no job is accepted, and once the threads are
 *   joined every remaining done is in the loop's posted list, so
 *   sift_loop_run_posted() drains them all.
 *
 * Worker threads block every signal, so SIGTERM/SIGHUP reach the loop.
 *
 * Context: submit/pending from any thread; new/stop/free on the loop
 * thread; work on a worker thread; done on the loop thread.
 */
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/pool.h"

/* How long a build may wait behind queries before it goes first. */
#define SIFT_POOL_BUILD_AGE_NS (INT64_C(100) * 1000000)

struct job {
    sift_work_cb work;
    sift_done_cb done;
    void *arg;
    int cancelled;
    enum sift_pool_class cls;
    int64_t queued_ns; /* sift_clock_mono_ns() at submit */
    struct sift_pool *pool;
    struct job *next;
};

struct queue {
    struct job *head, *tail;
    struct sift_pool_wait wait; /* jobs started and their queue time */
};

struct sift_pool {
    struct sift_loop *loop;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* a queue non-empty or stopping */
    struct queue q[SIFT_POOL_CLASSES];
    unsigned running_bg;    /* background jobs running */
    unsigned n_pending;     /* queued or running */
    unsigned n_outstanding; /* accepted, done not yet run */
    int stopping;
    int joined;
    unsigned n_threads;
    pthread_t *threads;
};

/* Loop thread: the one place a done callback runs. */
static void
job_finish(void *arg)
{
    struct job *j = arg;
    struct sift_pool *pool = j->pool;

    if (j->done != NULL)
        j->done(j->arg, j->cancelled);
    pthread_mutex_lock(&pool->lock);
    pool->n_outstanding--;
    pthread_mutex_unlock(&pool->lock);
    sift_free(j);
}

/* Background jobs may use every worker but one (all of a single one). */
static unsigned
bg_limit(const struct sift_pool *pool)
{
    return pool->n_threads > 1 ? pool->n_threads - 1 : 1;
}

/* The next job a free worker runs, by class; NULL when none may start.
 * A build that waited SIFT_POOL_BUILD_AGE_NS goes before queries, so a
 * steady query load cannot stall refreshes and flushes. */
static struct job *
take(struct sift_pool *pool)
{
    static const unsigned order[2][SIFT_POOL_CLASSES] = {
        {SIFT_POOL_QUERY, SIFT_POOL_BUILD, SIFT_POOL_BACKGROUND},
        {SIFT_POOL_BUILD, SIFT_POOL_QUERY, SIFT_POOL_BACKGROUND}};
    const struct job *b = pool->q[SIFT_POOL_BUILD].head;
    int aged =
        b && sift_clock_mono_ns() - b->queued_ns > SIFT_POOL_BUILD_AGE_NS;
    for (unsigned k = 0; k < SIFT_POOL_CLASSES; k++) {
        unsigned c = order[aged][k];
        struct queue *q = &pool->q[c];
        if (q->head == NULL)
            continue;
        if (c == SIFT_POOL_BACKGROUND && pool->running_bg >= bg_limit(pool))
            continue;
        struct job *j = q->head;
        q->head = j->next;
        if (q->head == NULL)
            q->tail = NULL;
        int64_t waited = sift_clock_mono_ns() - j->queued_ns;
        q->wait.jobs++;
        q->wait.wait_ns += (uint64_t)waited;
        if ((uint64_t)waited > q->wait.max_wait_ns)
            q->wait.max_wait_ns = (uint64_t)waited;
        if (c == SIFT_POOL_BACKGROUND)
            pool->running_bg++;
        return j;
    }
    return NULL;
}

static void *
worker_main(void *arg)
{
    struct sift_pool *pool = arg;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        struct job *j = NULL;
        while (!pool->stopping && (j = take(pool)) == NULL)
            pthread_cond_wait(&pool->cond, &pool->lock);
        if (pool->stopping) {
            if (j) { /* taken just now: the stopper cancels it */
                if (j->cls == SIFT_POOL_BACKGROUND)
                    pool->running_bg--;
                j->next = pool->q[j->cls].head;
                pool->q[j->cls].head = j;
                if (!pool->q[j->cls].tail)
                    pool->q[j->cls].tail = j;
            }
            break; /* queued jobs are the stopper's to cancel */
        }
        pthread_mutex_unlock(&pool->lock);

        j->work(j->arg);

        pthread_mutex_lock(&pool->lock);
        pool->n_pending--;
        if (j->cls == SIFT_POOL_BACKGROUND) {
            pool->running_bg--;
            /* A held-back background job may start now. */
            pthread_cond_broadcast(&pool->cond);
        }
        pthread_mutex_unlock(&pool->lock);
        sift_loop_post(pool->loop, job_finish, j);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int
sift_pool_new(struct sift_loop *loop, unsigned n_threads,
              struct sift_pool **out)
{
    sigset_t all, old;
    int rc = SIFT_OK;

    if (n_threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (unsigned)n : 1;
    }
    struct sift_pool *pool = sift_xcalloc(1, sizeof(*pool));
    pool->loop = loop;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->cond, NULL);
    pool->threads = sift_xcalloc(n_threads, sizeof(pthread_t));

    /* Threads inherit the mask: block everything so signals go to the
     * loop thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < n_threads; i++) {
        int e = pthread_create(&pool->threads[i], NULL, worker_main, pool);
        if (e != 0) {
            rc = -e;
            SIFT_ERROR("cannot start worker thread %u: %s", i,
                       sift_strerror(rc));
            break;
        }
        pool->n_threads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0) {
        sift_pool_free(pool);
        return rc;
    }
    *out = pool;
    return SIFT_OK;
}

int
sift_pool_submit(struct sift_pool *pool, sift_work_cb work, sift_done_cb done,
                 void *arg)
{
    return sift_pool_submit_class(pool, SIFT_POOL_QUERY, work, done, arg);
}

int
sift_pool_submit_class(struct sift_pool *pool, enum sift_pool_class cls,
                       sift_work_cb work, sift_done_cb done, void *arg)
{
    assert(work != NULL);
    assert((unsigned)cls < SIFT_POOL_CLASSES);
    struct job *j = sift_xmalloc(sizeof(*j));
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->cancelled = 0;
    j->cls = cls;
    j->queued_ns = sift_clock_mono_ns();
    j->pool = pool;
    j->next = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        sift_free(j);
        return SIFT_ESHUTDOWN;
    }
    struct queue *q = &pool->q[cls];
    if (q->tail != NULL)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    pool->n_pending++;
    pool->n_outstanding++;
    pthread_cond_signal(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    return SIFT_OK;
}

unsigned
sift_pool_pending(struct sift_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    unsigned n = pool->n_pending;
    pthread_mutex_unlock(&pool->lock);
    return n;
}

unsigned
sift_pool_threads(const struct sift_pool *pool)
{
    return pool->n_threads;
}

void
sift_pool_wait_stats(struct sift_pool *pool, enum sift_pool_class cls,
                     struct sift_pool_wait *out)
{
    pthread_mutex_lock(&pool->lock);
    *out = pool->q[cls].wait;
    pthread_mutex_unlock(&pool->lock);
}

void
sift_pool_stop(struct sift_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->joined) {
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->cond);
    pthread_mutex_unlock(&pool->lock);
    /* Running jobs finish; a long one delays shutdown, which is what
     * "running jobs finish" promises. */
    for (unsigned i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
    /* Every worker is gone: what is queued now stays queued. */
    pthread_mutex_lock(&pool->lock);
    struct job *j = NULL, **tail = &j;
    for (unsigned c = 0; c < SIFT_POOL_CLASSES; c++) {
        *tail = pool->q[c].head;
        while (*tail)
            tail = &(*tail)->next;
        pool->q[c].head = pool->q[c].tail = NULL;
    }
    pthread_mutex_unlock(&pool->lock);

    unsigned n_cancelled = 0;
    while (j != NULL) {
        struct job *next = j->next;
        j->cancelled = 1;
        j->next = NULL;
        n_cancelled++;
        pthread_mutex_lock(&pool->lock);
        pool->n_pending--;
        pthread_mutex_unlock(&pool->lock);
        sift_loop_post(pool->loop, job_finish, j);
        j = next;
    }
    pthread_mutex_lock(&pool->lock);
    pool->joined = 1;
    pthread_mutex_unlock(&pool->lock);
    if (n_cancelled > 0)
        SIFT_DEBUG("pool stopped: %u queued jobs cancelled", n_cancelled);
}

void
sift_pool_free(struct sift_pool *pool)
{
    if (pool == NULL)
        return;
    sift_pool_stop(pool);
    /* Every outstanding done is posted by now; running the posted list
     * runs them (and whatever else was posted, which is harmless). */
    for (int round = 0; round < 100; round++) {
        pthread_mutex_lock(&pool->lock);
        unsigned left = pool->n_outstanding;
        pthread_mutex_unlock(&pool->lock);
        if (left == 0)
            break;
        sift_loop_run_posted(pool->loop);
    }
    assert(pool->n_outstanding == 0);
    pthread_cond_destroy(&pool->cond);
    pthread_mutex_destroy(&pool->lock);
    sift_free(pool->threads);
    sift_free(pool);
}
