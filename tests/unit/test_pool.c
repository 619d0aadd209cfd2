/*
 * test_pool.c - the worker pool: results come back on the loop thread,
 * many jobs, stop with jobs queued (cancelled jobs get done(arg, 1)),
 * submit after stop, a query never waiting behind background jobs.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/loop.h"
#include "sift/pool.h"

struct fixture {
    struct sift_loop *loop;
    struct sift_pool *pool;
    pthread_t loop_thread;
    atomic_int worked;
    int done_ok;
    int done_cancelled;
    int done_wrong_thread;
    int work_on_loop_thread;
    int target; /* stop the loop after this many dones */
};

struct job_arg {
    struct fixture *f;
    int sleep_ms;
    int worked; /* set by work */
};

static int
setup(void **state)
{
    struct fixture *f = sift_xcalloc(1, sizeof(*f));
    if (sift_loop_new(&f->loop) != 0)
        return -1;
    f->loop_thread = pthread_self();
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    sift_pool_free(f->pool);
    sift_loop_free(f->loop);
    sift_free(f);
    return 0;
}

static void
work(void *arg)
{
    struct job_arg *a = arg;
    if (pthread_equal(pthread_self(), a->f->loop_thread))
        a->f->work_on_loop_thread = 1;
    if (a->sleep_ms > 0) {
        struct timespec ts = {0, (long)a->sleep_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    a->worked = 1;
    atomic_fetch_add(&a->f->worked, 1);
}

static void
done(void *arg, int cancelled)
{
    struct job_arg *a = arg;
    struct fixture *f = a->f;
    if (!pthread_equal(pthread_self(), f->loop_thread))
        f->done_wrong_thread++;
    if (cancelled) {
        /* Cancelled jobs never ran their work. */
        assert_int_equal(a->worked, 0);
        f->done_cancelled++;
    } else {
        assert_int_equal(a->worked, 1);
        f->done_ok++;
    }
    sift_free(a);
    if (f->target > 0 && f->done_ok + f->done_cancelled == f->target)
        sift_loop_stop(f->loop);
}

static struct job_arg *
new_arg(struct fixture *f, int sleep_ms)
{
    struct job_arg *a = sift_xcalloc(1, sizeof(*a));
    a->f = f;
    a->sleep_ms = sleep_ms;
    return a;
}

static void
test_pool_done_runs_on_loop_thread(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sift_pool_new(f->loop, 2, &f->pool), 0);
    assert_int_equal(sift_pool_threads(f->pool), 2);
    f->target = 8;
    for (int i = 0; i < 8; i++)
        assert_int_equal(sift_pool_submit(f->pool, work, done, new_arg(f, 1)),
                         0);
    assert_int_equal(sift_loop_run(f->loop), 0);
    assert_int_equal(f->done_ok, 8);
    assert_int_equal(f->done_cancelled, 0);
    assert_int_equal(f->done_wrong_thread, 0);
    assert_int_equal(f->work_on_loop_thread, 0);
    assert_int_equal(sift_pool_pending(f->pool), 0);
}

static void
test_pool_many_jobs(void **state)
{
    struct fixture *f = *state;
    const int n = 20000;
    assert_int_equal(sift_pool_new(f->loop, 4, &f->pool), 0);
    f->target = n;
    for (int i = 0; i < n; i++)
        assert_int_equal(sift_pool_submit(f->pool, work, done, new_arg(f, 0)),
                         0);
    assert_int_equal(sift_loop_run(f->loop), 0);
    assert_int_equal(f->done_ok, n);
    assert_int_equal(atomic_load(&f->worked), n);
    assert_int_equal(f->done_wrong_thread, 0);
}

static void
test_pool_stop_cancels_queued_jobs(void **state)
{
    struct fixture *f = *state;
    const int n = 50;
    assert_int_equal(sift_pool_new(f->loop, 1, &f->pool), 0);
    /* One slow job occupies the only worker; the rest stay queued. */
    for (int i = 0; i < n; i++)
        assert_int_equal(
            sift_pool_submit(f->pool, work, done, new_arg(f, i == 0 ? 50 : 0)),
            0);
    struct timespec ts = {0, 10 * 1000000L};
    nanosleep(&ts, NULL);
    assert_true(sift_pool_pending(f->pool) > 0);
    sift_pool_stop(f->pool);
    assert_int_equal(sift_pool_pending(f->pool), 0);
    /* No done ran yet: they are posted to the loop. */
    assert_int_equal(f->done_ok + f->done_cancelled, 0);
    /* Submitting now is refused and neither callback runs. */
    struct job_arg *late = new_arg(f, 0);
    assert_int_equal(sift_pool_submit(f->pool, work, done, late),
                     SIFT_ESHUTDOWN);
    sift_free(late);
    sift_loop_run_posted(f->loop);
    assert_int_equal(f->done_ok + f->done_cancelled, n);
    assert_true(f->done_ok >= 1);
    assert_true(f->done_cancelled >= 1);
    assert_int_equal(atomic_load(&f->worked), f->done_ok);
    assert_int_equal(f->done_wrong_thread, 0);
}

static void
test_pool_free_with_queued_jobs_runs_every_done(void **state)
{
    struct fixture *f = *state;
    const int n = 100;
    assert_int_equal(sift_pool_new(f->loop, 2, &f->pool), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(sift_pool_submit(f->pool, work, done, new_arg(f, 1)),
                         0);
    sift_pool_free(f->pool);
    f->pool = NULL;
    /* Every arg was freed in done (ASan would report leaks otherwise). */
    assert_int_equal(f->done_ok + f->done_cancelled, n);
    assert_int_equal(f->done_wrong_thread, 0);
}

/* Background work that holds its worker until the gate opens (bounded). */
static atomic_int gate_open;
static atomic_int bg_running, bg_peak;

static void
gated_work(void *arg)
{
    int n = atomic_fetch_add(&bg_running, 1) + 1;
    int peak = atomic_load(&bg_peak);
    while (n > peak && !atomic_compare_exchange_weak(&bg_peak, &peak, n))
        ;
    for (int i = 0; i < 10000 && !atomic_load(&gate_open); i++) {
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
    }
    atomic_fetch_sub(&bg_running, 1);
    work(arg);
}

static int
query_finished(void *arg)
{
    return ((struct fixture *)arg)->done_ok >= 1;
}

static void
check_tick(void *arg)
{
    struct fixture *f = arg;
    if (query_finished(f))
        sift_loop_stop(f->loop);
}

/*
 * A query does not wait behind background work: with two workers and
 * three long background jobs queued, only one runs at a time and the
 * query runs on the other worker right away; the wait counters count
 * every started job per class.
 */
static void
test_pool_query_never_waits_behind_background(void **state)
{
    struct fixture *f = *state;
    atomic_store(&gate_open, 0);
    atomic_store(&bg_running, 0);
    atomic_store(&bg_peak, 0);
    assert_int_equal(sift_pool_new(f->loop, 2, &f->pool), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sift_pool_submit_class(f->pool, SIFT_POOL_BACKGROUND,
                                                gated_work, done,
                                                new_arg(f, 0)),
                         0);
    assert_int_equal(sift_pool_submit_class(f->pool, SIFT_POOL_BUILD, work,
                                            done, new_arg(f, 0)),
                     0);
    assert_int_equal(sift_pool_submit(f->pool, work, done, new_arg(f, 0)), 0);
    /* Both light jobs finish while every background job is still held. */
    struct sift_timer *t = sift_loop_timer_new(f->loop, 2, check_tick, f);
    for (int i = 0; i < 500 && f->done_ok < 2; i++) {
        sift_loop_run_posted(f->loop);
        struct timespec ts = {0, 2000000L};
        nanosleep(&ts, NULL);
    }
    sift_loop_timer_free(t);
    assert_int_equal(f->done_ok, 2);
    assert_int_equal(atomic_load(&bg_peak), 1);
    atomic_store(&gate_open, 1);
    f->target = 5;
    assert_int_equal(sift_loop_run(f->loop), 0);
    assert_int_equal(f->done_ok, 5);
    struct sift_pool_wait w;
    sift_pool_wait_stats(f->pool, SIFT_POOL_BACKGROUND, &w);
    assert_int_equal(w.jobs, 3);
    assert_true(w.max_wait_ns > 0);
    sift_pool_wait_stats(f->pool, SIFT_POOL_QUERY, &w);
    assert_int_equal(w.jobs, 1);
}

static void
test_pool_zero_threads_means_cpus(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(sift_pool_new(f->loop, 0, &f->pool), 0);
    assert_true(sift_pool_threads(f->pool) >= 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pool_done_runs_on_loop_thread,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_many_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_stop_cancels_queued_jobs,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_pool_free_with_queued_jobs_runs_every_done, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_pool_query_never_waits_behind_background, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_zero_threads_means_cpus,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
