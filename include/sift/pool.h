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

typedef void (*sift_work_cb)(void *arg);
typedef void (*sift_done_cb)(void *arg, int cancelled);

/** Starts n_threads workers (0 = number of online CPUs). */
int sift_pool_new(struct sift_loop *loop, unsigned n_threads,
                  struct sift_pool **out);
/**
 * Queues a job.  Any thread.  Returns SIFT_OK, or SIFT_ESHUTDOWN once the
 * pool is stopping (then neither callback runs).
 */
int sift_pool_submit(struct sift_pool *pool, sift_work_cb work,
                     sift_done_cb done, void *arg);
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
