/*
 * pool.h - worker threads that run jobs off the loop.
 *
 * A job is (work, done, arg): work(arg) runs on a worker thread; then
 * done(arg, cancelled=0) runs on the loop thread (through sift_loop_post).
 * Jobs still queued when the pool stops get done(arg, cancelled=1) on the
 * loop thread without work ever running, so owners always free their arg
 * in done.
 */
#ifndef SIFT_POOL_H
#define SIFT_POOL_H

struct sift_loop;
struct sift_pool;

#include <stdint.h>

typedef void (*sift_work_cb)(void *arg);
typedef void (*sift_done_cb)(void *arg, int cancelled);

/*
 * What a job is for, which decides when it runs: a free worker takes a
 * query job first, then a build (before queries once it has waited 100
 * ms), then a background job, and background jobs never hold more than
 * n - 1 of n workers (n > 1), so a long merge never leaves queries
 * without a worker.
 */
enum sift_pool_class {
    SIFT_POOL_QUERY = 0,      /* someone waits for the answer */
    SIFT_POOL_BUILD = 1,      /* seal builds, flushes: fresh data */
    SIFT_POOL_BACKGROUND = 2, /* merges, tier moves, retention, deletes */
};
#define SIFT_POOL_CLASSES 3

/* Queue time of the jobs of one class that started. */
struct sift_pool_wait {
    uint64_t jobs;
    uint64_t wait_ns;     /* summed */
    uint64_t max_wait_ns; /* the longest */
};

/** Starts n_threads workers (0 = number of online CPUs). */
int sift_pool_new(struct sift_loop *loop, unsigned n_threads,
                  struct sift_pool **out);
/**
 * Queues a query-class job (sift_pool_submit_class()).  Any thread.
 * Returns SIFT_OK, or SIFT_ESHUTDOWN once the pool is stopping (then
 * neither callback runs).
 */
int sift_pool_submit(struct sift_pool *pool, sift_work_cb work,
                     sift_done_cb done, void *arg);
/** Queues a job of the given class (see enum sift_pool_class). */
int sift_pool_submit_class(struct sift_pool *pool, enum sift_pool_class cls,
                           sift_work_cb work, sift_done_cb done, void *arg);
/** How long jobs of cls waited before a worker took them.  Any thread. */
void sift_pool_wait_stats(struct sift_pool *pool, enum sift_pool_class cls,
                          struct sift_pool_wait *out);
/** Number of jobs queued or running. */
unsigned sift_pool_pending(struct sift_pool *pool);
unsigned sift_pool_threads(const struct sift_pool *pool);
/**
 * Stops the workers: running jobs finish, queued ones are cancelled, and
 * every done callback (finished or cancelled) is posted to the loop.
 * Call from the loop thread, then run the loop once more (or call
 * sift_pool_free() which drains the posted callbacks itself).
 */
void sift_pool_stop(struct sift_pool *pool);
/** Stops if needed, runs the remaining done callbacks, frees.  Loop thread. */
void sift_pool_free(struct sift_pool *pool);

#endif /* SIFT_POOL_H */
