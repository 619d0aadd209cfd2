/*
 * test_loop.c - the loop: cross-thread posts, FIFO order, stop from another
 * thread, repeating timers, run_posted after stop.
 */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sift/loop.h"

struct post_state {
    struct sift_loop *loop;
    pthread_t loop_thread;
    int order[64];
    int n;
    int wrong_thread;
};

struct post_item {
    struct post_state *st;
    int value;
};

static void
record(void *arg)
{
    struct post_item *it = arg;
    if (!pthread_equal(pthread_self(), it->st->loop_thread))
        it->st->wrong_thread++;
    it->st->order[it->st->n++] = it->value;
    if (it->st->n == 32)
        sift_loop_stop(it->st->loop);
}

static struct post_item items[32];

static void *
poster(void *arg)
{
    struct post_state *st = arg;
    for (int i = 0; i < 32; i++) {
        items[i].st = st;
        items[i].value = i;
        sift_loop_post(st->loop, record, &items[i]);
    }
    return NULL;
}

static void
test_loop_post_from_other_thread_runs_in_order_on_loop(void **state)
{
    (void)state;
    struct post_state st = {0};
    pthread_t t;

    assert_int_equal(sift_loop_new(&st.loop), 0);
    st.loop_thread = pthread_self();
    assert_int_equal(pthread_create(&t, NULL, poster, &st), 0);
    assert_int_equal(sift_loop_run(st.loop), 0);
    pthread_join(t, NULL);
    assert_int_equal(st.n, 32);
    assert_int_equal(st.wrong_thread, 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(st.order[i], i);
    sift_loop_free(st.loop);
}

struct timer_state {
    struct sift_loop *loop;
    int ticks;
};

static void
tick(void *arg)
{
    struct timer_state *ts = arg;
    if (++ts->ticks == 3)
        sift_loop_stop(ts->loop);
}

static void
test_loop_timer_repeats(void **state)
{
    (void)state;
    struct timer_state ts = {0};

    assert_int_equal(sift_loop_new(&ts.loop), 0);
    struct sift_timer *t = sift_loop_timer_new(ts.loop, 5, tick, &ts);
    assert_non_null(t);
    assert_int_equal(sift_loop_run(ts.loop), 0);
    assert_int_equal(ts.ticks, 3);
    sift_loop_timer_free(t);
    sift_loop_free(ts.loop);
}

static void *
stopper(void *arg)
{
    sift_loop_stop(arg);
    return NULL;
}

static void
test_loop_stop_from_other_thread(void **state)
{
    (void)state;
    struct sift_loop *loop;
    pthread_t t;

    assert_int_equal(sift_loop_new(&loop), 0);
    assert_int_equal(pthread_create(&t, NULL, stopper, loop), 0);
    assert_int_equal(sift_loop_run(loop), 0);
    pthread_join(t, NULL);
    /* A stop before run makes run return at once; the flag is consumed. */
    sift_loop_stop(loop);
    assert_int_equal(sift_loop_run(loop), 0);
    sift_loop_free(loop);
}

static void
count_and_repost(void *arg)
{
    int *n = arg;
    (*n)++;
}

static struct sift_loop *repost_loop;

static void
post_again(void *arg)
{
    int *n = arg;
    (*n)++;
    sift_loop_post(repost_loop, count_and_repost, n);
}

static void
test_loop_run_posted_runs_everything_posted(void **state)
{
    (void)state;
    int n = 0;

    assert_int_equal(sift_loop_new(&repost_loop), 0);
    sift_loop_post(repost_loop, count_and_repost, &n);
    sift_loop_post(repost_loop, post_again, &n);
    sift_loop_run_posted(repost_loop);
    /* The callback posted by post_again ran too. */
    assert_int_equal(n, 3);
    /* Posted but never run: freed by sift_loop_free without running. */
    sift_loop_post(repost_loop, count_and_repost, &n);
    sift_loop_free(repost_loop);
    assert_int_equal(n, 3);
}

struct sig_state {
    struct sift_loop *loop;
    pthread_t loop_thread;
    int reloads;
    int stops;
    int wrong_thread;
    int ticks;
};

static void
sig_reload(void *arg)
{
    struct sig_state *st = arg;
    if (!pthread_equal(pthread_self(), st->loop_thread))
        st->wrong_thread++;
    st->reloads++;
}

static void
sig_stop(void *arg)
{
    struct sig_state *st = arg;
    if (!pthread_equal(pthread_self(), st->loop_thread))
        st->wrong_thread++;
    st->stops++;
    sift_loop_stop(st->loop);
}

static void
sig_tick(void *arg)
{
    struct sig_state *st = arg;
    st->ticks++;
    if (st->ticks == 1)
        raise(SIGHUP);
    else if (st->ticks == 3)
        raise(SIGTERM);
    else if (st->ticks > 200)
        sift_loop_stop(st->loop); /* bound the test if signals never come */
}

static void
test_loop_signals_reach_callbacks_on_loop_thread(void **state)
{
    (void)state;
    struct sig_state st = {0};

    assert_int_equal(sift_loop_new(&st.loop), 0);
    st.loop_thread = pthread_self();
    assert_int_equal(sift_loop_on_signals(st.loop, sig_stop, sig_reload, &st),
                     0);
    struct sift_timer *t = sift_loop_timer_new(st.loop, 5, sig_tick, &st);
    assert_int_equal(sift_loop_run(st.loop), 0);
    assert_int_equal(st.reloads, 1);
    assert_int_equal(st.stops, 1);
    assert_int_equal(st.wrong_thread, 0);
    /* SIGPIPE is ignored: raising it does not kill the process. */
    raise(SIGPIPE);
    sift_loop_timer_free(t);
    sift_loop_free(st.loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_loop_post_from_other_thread_runs_in_order_on_loop),
        cmocka_unit_test(test_loop_timer_repeats),
        cmocka_unit_test(test_loop_stop_from_other_thread),
        cmocka_unit_test(test_loop_run_posted_runs_everything_posted),
        cmocka_unit_test(test_loop_signals_reach_callbacks_on_loop_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
