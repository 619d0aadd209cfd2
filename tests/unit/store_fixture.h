/*
 * store_fixture.h - shared helpers for the tests that drive a real store
 * on a real loop (test_store.c, test_merge.c, test_rules_engine.c): run
 * the loop until a predicate holds, and the flush-callback flag those
 * waits poll.
 *
 * Header-only (static inline functions) because each test_*.c is its own
 * executable.  Loop thread only, like the store they drive.
 */
#ifndef SIFT_TEST_STORE_FIXTURE_H
#define SIFT_TEST_STORE_FIXTURE_H

#include <stdint.h>

#include "sift/clock.h"
#include "sift/error.h"
#include "sift/loop.h"

/* Polled every 5 ms by sf_run_until(); non-zero means done. */
typedef int (*sf_pred_cb)(void *arg);

struct sf_waiter {
    struct sift_loop *loop;
    sf_pred_cb pred;
    void *arg;
    int64_t deadline; /* sift_clock_mono_ns() */
    int ok;
};

static inline void
sf_wait_tick(void *arg)
{
    struct sf_waiter *w = arg;
    if (w->pred(w->arg)) {
        w->ok = 1;
        sift_loop_stop(w->loop);
    } else if (sift_clock_mono_ns() > w->deadline) {
        sift_loop_stop(w->loop);
    }
}

/* Runs loop until pred(arg) holds (returns 1) or timeout_ms pass (0). */
static inline int
sf_run_until(struct sift_loop *loop, sf_pred_cb pred, void *arg, int timeout_ms)
{
    struct sf_waiter w = {
        loop, pred, arg, sift_clock_mono_ns() + timeout_ms * SIFT_NS_PER_MS, 0};
    if (pred(arg))
        return 1;
    struct sift_timer *t = sift_loop_timer_new(loop, 5, sf_wait_tick, &w);
    sift_loop_run(loop);
    sift_loop_timer_free(t);
    return w.ok;
}

/* sift_durable_cb for sift_store_flush(): sets *(int *)arg to 1 or -1. */
static inline void
sf_flush_cb(void *arg, int rc)
{
    *(int *)arg = rc == SIFT_OK ? 1 : -1;
}

/* sf_pred_cb: the int at arg is no longer 0. */
static inline int
sf_flag_set(void *arg)
{
    return *(int *)arg != 0;
}

#endif /* SIFT_TEST_STORE_FIXTURE_H */
