/*
 * loop.h - the main libevent loop, signals and cross-thread calls.
 *
 * One struct sift_loop per process, run by the main thread.  Only the
 * loop thread calls libevent.  Other threads hand work to it with
 * sift_loop_post(), which queues (fn, arg) on a mutex-protected list and
 * wakes the loop through an eventfd; fn then runs on the loop thread.
 */
#ifndef SIFT_LOOP_H
#define SIFT_LOOP_H

#include <stdint.h>

struct event_base;
struct sift_loop;

typedef void (*sift_loop_cb)(void *arg);

/** Creates the loop.  Returns SIFT_OK or a negative code. */
int sift_loop_new(struct sift_loop **out);
/** Frees the loop; runs nothing that is still posted.  Loop stopped. */
void sift_loop_free(struct sift_loop *loop);
/** The libevent base (borrowed).  Loop thread only. */
struct event_base *sift_loop_base(struct sift_loop *loop);
/** Runs until sift_loop_stop().  Returns SIFT_OK or a negative code. */
int sift_loop_run(struct sift_loop *loop);
/** Makes sift_loop_run() return.  Any thread. */
void sift_loop_stop(struct sift_loop *loop);
/**
 * Runs fn(arg) on the loop thread soon.  Any thread; never blocks for
 * long; never fails (the node is allocated with sift_xmalloc()).
 */
void sift_loop_post(struct sift_loop *loop, sift_loop_cb fn, void *arg);

/**
 * Runs every callback posted so far, now, on the calling (loop) thread.
 * Used at shutdown after the loop has stopped.
 */
void sift_loop_run_posted(struct sift_loop *loop);

/**
 * Installs the process signal handlers on this loop: SIGTERM and SIGINT
 * call on_stop(arg) (NULL: sift_loop_stop()), SIGHUP calls
 * on_reload(arg) (NULL: ignored).  Callbacks run on the loop thread as
 * ordinary callbacks.  Call once, on the one loop of the process.
 * Returns SIFT_OK or SIFT_EINVAL.
 */
int sift_loop_on_signals(struct sift_loop *loop, sift_loop_cb on_stop,
                         sift_loop_cb on_reload, void *arg);

/**
 * Repeating timer: fn(arg) every period_ms (> 0) on the loop thread,
 * until sift_loop_timer_free().  Loop thread only.  Aborts only if
 * libevent cannot allocate (like sift_xmalloc()).
 */
struct sift_timer;
struct sift_timer *sift_loop_timer_new(struct sift_loop *loop,
                                       uint32_t period_ms, sift_loop_cb fn,
                                       void *arg);
void sift_loop_timer_free(struct sift_timer *t);

#endif /* SIFT_LOOP_H */
