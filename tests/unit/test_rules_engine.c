/*
 * test_rules_engine.c - the rules engine (src/alerting/rules.c) inside a
 * real loop, worker pool, store and anomaly service, on a frozen clock:
 * a rule whose evaluation is still waiting or running when it is due
 * again is reported (missed ticks counted, health "slow" in
 * /api/v1/rules' JSON, sift_rule_evaluations_missed_total and
 * sift_rule_health in /metrics),
 * never skipped in silence, and reads "ok" again after an evaluation on
 * time.  The pool has one worker, held by a gate job, so "slower than the
 * interval" is made without any real wait.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sift/alloc.h"
#include "sift/anomaly_service.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/pipeline.h"
#include "sift/pool.h"
#include "sift/rules.h"
#include "sift/store.h"
#include "store_fixture.h"

#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1796637600) * SEC) /* 2026-12-07T10:00:00Z */

struct fx {
    char root[64];
    struct sift_config cfg;
    struct sift_loop *loop;
    struct sift_pool *pool;
    struct sift_store *store;
    struct sift_pipeline *pipe;
    struct sift_anomaly_service *svc;
    struct sift_rules *rules;
    /* The gate: a job holding the only worker until opened. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int open, gate_done;
};

static void
gate_work(void *arg)
{
    struct fx *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->open)
        pthread_cond_wait(&f->cv, &f->mu);
    pthread_mutex_unlock(&f->mu);
}

static void
gate_done(void *arg, int cancelled)
{
    (void)cancelled;
    ((struct fx *)arg)->gate_done = 1;
}

static void
gate_open(struct fx *f)
{
    pthread_mutex_lock(&f->mu);
    f->open = 1;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/sift-test-rules-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    sift_log_set_level(SIFT_LOG_ERROR);
    sift_config_init(&f->cfg);
    sift_free(f->cfg.data_dir);
    f->cfg.data_dir = sift_xstrdup(f->root);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    sift_clock_freeze_ns(T0);
    assert_int_equal(sift_loop_new(&f->loop), SIFT_OK);
    assert_int_equal(sift_pool_new(f->loop, 1, &f->pool), SIFT_OK);
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &f->store),
                     SIFT_OK);
    assert_int_equal(sift_pipeline_new(f->store, &f->pipe), SIFT_OK);
    assert_int_equal(sift_anomaly_service_new(&f->cfg, f->loop, f->pipe,
                                              f->store, f->pool, &f->svc),
                     SIFT_OK);
    struct sift_rules_deps d = {&f->cfg,  f->loop, f->pool,
                                f->store, f->svc,  NULL};
    assert_int_equal(sift_rules_new(&d, &f->rules), SIFT_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    gate_open(f);
    sift_rules_free(f->rules);
    sift_anomaly_service_free(f->svc);
    sift_store_close(f->store);
    sift_pipeline_free(f->pipe);
    sift_pool_free(f->pool);
    sift_loop_run_posted(f->loop);
    sift_loop_free(f->loop);
    sift_clock_freeze_ns(0);
    sift_config_cleanup(&f->cfg);
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    sift_free(f);
    return 0;
}

/* Runs the loop until pred holds (1) or 5 s pass (0). */
static int
run_until(struct fx *f, sf_pred_cb pred)
{
    return sf_run_until(f->loop, pred, f, 5000);
}

/* ---- the rule's status ---- */

static struct sift_rule_status
status(struct fx *f)
{
    struct sift_rule_status st;
    assert_int_equal(sift_rules_status_get(f->rules, "slowpoke", &st), SIFT_OK);
    return st;
}

static long long
stat_int(struct fx *f, const char *member)
{
    struct sift_rule_status st = status(f);
    if (strcmp(member, "missed") == 0)
        return (long long)st.missed;
    assert_string_equal(member, "evaluations");
    return (long long)st.evaluations;
}

static int
health_is(struct fx *f, const char *want)
{
    struct sift_rule_status st = status(f);
    return strcmp(st.health, want) == 0;
}

static int
queued_behind_gate(void *arg)
{
    struct fx *f = arg;
    return sift_pool_pending(f->pool) == 2; /* the gate and the rule */
}

static int
missed_one(void *arg)
{
    struct fx *f = arg;
    return stat_int(f, "missed") == 1;
}

static int
missed_four(void *arg)
{
    struct fx *f = arg;
    return stat_int(f, "missed") == 4;
}

static int
evaluated_once(void *arg)
{
    struct fx *f = arg;
    return stat_int(f, "evaluations") == 1 && f->gate_done;
}

static int
evaluated_twice(void *arg)
{
    struct fx *f = arg;
    return stat_int(f, "evaluations") == 2;
}

/* The /metrics samples of the rule's missed evaluations and health. */
static void
assert_metrics(struct fx *f, const char *missed, const char *health)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_rules_metrics_collect(&b, f->rules);
    char want[2][128];
    snprintf(want[0], sizeof(want[0]),
             "sift_rule_evaluations_missed_total{rule=\"slowpoke\"} %s\n",
             missed);
    snprintf(want[1], sizeof(want[1]),
             "sift_rule_health{rule=\"slowpoke\",health=\"%s\"} 1\n", health);
    for (int i = 0; i < 2; i++)
        if (!strstr(sift_buf_cstr(&b), want[i]))
            fail_msg("/metrics lacks \"%s\" in:\n%s", want[i], b.data);
    sift_buf_cleanup(&b);
}

static void
test_slow_rule_reported(void **state)
{
    struct fx *f = *state;
    /* The only worker is busy: the rule's evaluation will wait. */
    assert_int_equal(sift_pool_submit(f->pool, gate_work, gate_done, f),
                     SIFT_OK);
    json_error_t jerr;
    json_t *o = json_loads("{\"name\":\"slowpoke\",\"condition\":\"count > "
                           "0\",\"window\":\"1m\",\"interval\":\"1s\"}",
                           0, &jerr);
    int created = 0, st = 0;
    char err[400];
    assert_int_equal(sift_rules_put(f->rules, o, NULL, 1, 0, &created, &st, err,
                                    sizeof(err)),
                     SIFT_OK);
    json_decref(o);
    assert_true(created);
    assert_true(health_is(f, "pending"));

    /* Due at T0: queued behind the gate.  Nothing missed yet. */
    assert_true(run_until(f, queued_behind_gate));
    assert_int_equal(stat_int(f, "missed"), 0);
    assert_true(health_is(f, "pending"));

    /* One interval later it is due again while still waiting: reported. */
    sift_clock_freeze_ns(T0 + 1 * SEC);
    assert_true(run_until(f, missed_one));
    assert_true(health_is(f, "slow"));
    assert_int_equal(stat_int(f, "evaluations"), 0);
    assert_metrics(f, "1", "slow");

    /* The clock jumps three intervals at once: three more ticks missed,
     * not one. */
    sift_clock_freeze_ns(T0 + 4 * SEC);
    assert_true(run_until(f, missed_four));
    assert_metrics(f, "4", "slow");

    /* The worker frees up: the evaluation runs, and it is still "slow"
     * (it ended after ticks it missed). */
    gate_open(f);
    assert_true(run_until(f, evaluated_once));
    assert_true(health_is(f, "slow"));

    /* The next evaluation is on time: healthy again, history kept. */
    sift_clock_freeze_ns(T0 + 5 * SEC);
    assert_true(run_until(f, evaluated_twice));
    assert_true(health_is(f, "ok"));
    assert_int_equal(stat_int(f, "missed"), 4);
    assert_metrics(f, "4", "ok");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_rule_reported, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
