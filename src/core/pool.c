/*
 * pool.c - worker threads that run jobs off the loop.
 *
 * Design: one FIFO of jobs under a mutex and a condition variable; n
 * pthreads pop and run work(arg), then hand the job to the loop with
 * sift_loop_post(), where done(arg, 0) runs.  Stop takes every job that
 * is still queued, marks it cancelled and posts it the same way, so done
 * runs exactly once per accepted job, always on the loop thread.
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
#include "sift/error.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/pool.h"

struct job {
    sift_work_cb work;
    sift_done_cb done;
    void *arg;
    int cancelled;
    struct sift_pool *pool;
    struct job *next;
};

struct sift_pool {
    struct sift_loop *loop;
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t cond;  /* queue non-empty or stopping */
    struct job *head;
    struct job *tail;
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

static void *
worker_main(void *arg)
{
    struct sift_pool *pool = arg;

    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->cond, &pool->lock);
        if (pool->stopping)
            break; /* queued jobs are the stopper's to cancel */
        struct job *j = pool->head;
        pool->head = j->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);

        j->work(j->arg);

        pthread_mutex_lock(&pool->lock);
        pool->n_pending--;
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
    assert(work != NULL);
    struct job *j = sift_xmalloc(sizeof(*j));
    j->work = work;
    j->done = done;
    j->arg = arg;
    j->cancelled = 0;
    j->pool = pool;
    j->next = NULL;

    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        sift_free(j);
        return SIFT_ESHUTDOWN;
    }
    if (pool->tail != NULL)
        pool->tail->next = j;
    else
        pool->head = j;
    pool->tail = j;
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
sift_pool_stop(struct sift_pool *pool)
{
    pthread_mutex_lock(&pool->lock);
    if (pool->joined) {
        pthread_mutex_unlock(&pool->lock);
        return;
    }
    pool->stopping = 1;
    struct job *j = pool->head;
    pool->head = pool->tail = NULL;
    pthread_cond_broadcast(&pool->cond);
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
    /* Running jobs finish; a long one delays shutdown, which is what
     * "running jobs finish" promises. */
    for (unsigned i = 0; i < pool->n_threads; i++)
        pthread_join(pool->threads[i], NULL);
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
