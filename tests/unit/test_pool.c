/*
 * test_pool.c - the worker pool: results come back on the loop thread,
 * many jobs, stop with jobs queued (cancelled jobs get done(arg, 1)),
 * submit after stop.
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
        cmocka_unit_test_setup_teardown(test_pool_zero_threads_means_cpus,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
