/*
 * test_kafka_source.c - the Kafka source against a real broker protocol:
 * librdkafka's mock cluster created in-process, messages produced with
 * the real kcat client, consumed by src/ingest/kafka.c into the fake sink
 * (tests/unit/fake_sink.h), which simulates the store's durability.
 *
 * Every test uses its own topic and group so they do not interfere, and
 * every wait is bounded in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "sift/config.h"
#include "sift/log.h"
#include "sift/source.h"

#include "fake_sink.h"

#define WAIT_MS 30000

struct kfix {
    rd_kafka_t *mock_rk;
    rd_kafka_mock_cluster_t *mc;
    char bootstrap[256];
    struct event_base *base;
    struct fake_sink sink;
    struct sift_config cfg;
};

static char props[] = "session.timeout.ms=6000,heartbeat.interval.ms=250,"
                      "topic.metadata.refresh.interval.ms=1000";
static char no_props[] = "";

static int
kfix_setup(void **state)
{
    struct kfix *f = calloc(1, sizeof(*f));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];

    assert_non_null(f);
    sift_log_set_level(getenv("SIFT_TEST_VERBOSE") ? SIFT_LOG_DEBUG
                                                   : SIFT_LOG_WARN);
    rd_kafka_conf_set(conf, "log_level", "2", errstr, sizeof(errstr));
    f->mock_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    assert_non_null(f->mock_rk);
    f->mc = rd_kafka_mock_cluster_new(f->mock_rk, 1);
    assert_non_null(f->mc);
    snprintf(f->bootstrap, sizeof(f->bootstrap), "%s",
             rd_kafka_mock_cluster_bootstraps(f->mc));
    f->base = event_base_new();
    assert_non_null(f->base);
    fake_sink_init(&f->sink, f->base);
    f->cfg.kafka_brokers = f->bootstrap;
    f->cfg.kafka_properties = props;
    *state = f;
    return 0;
}

static int
kfix_teardown(void **state)
{
    struct kfix *f = *state;
    fake_sink_cleanup(&f->sink);
    event_base_free(f->base);
    rd_kafka_mock_cluster_destroy(f->mc);
    rd_kafka_destroy(f->mock_rk);
    free(f);
    return 0;
}

/*
 * Produces m-<first> .. m-<first+n-1> with kcat, one record per line, into
 * `partition`, or spread by kcat's partitioner when it is -1.  Records
 * have no key, so librdkafka's sticky partitioner picks the partitions:
 * a burst (easily all of it on a loaded machine) can land in a single
 * partition.  Tests that need records in every partition pass one.
 */
static void
produce_part(struct kfix *f, const char *topic, int partition, long first,
             long n)
{
    char cmd[512], part[32] = "";
    FILE *p;

    if (partition >= 0)
        snprintf(part, sizeof(part), " -p %d", partition);
    snprintf(cmd, sizeof(cmd),
             "timeout 30 kcat -P -b %s -t %s%s -X log_level=2 2>/dev/null",
             f->bootstrap, topic, part);
    p = popen(cmd, "w");
    assert_non_null(p);
    for (long i = first; i < first + n; i++)
        fprintf(p, "m-%ld\n", i);
    assert_int_equal(pclose(p), 0);
}

static void
produce(struct kfix *f, const char *topic, long first, long n)
{
    produce_part(f, topic, -1, first, n);
}

static struct sift_source *
new_source(struct kfix *f, char *topics, char *group, uint32_t batch_max)
{
    struct sift_source_env env;
    struct sift_source *src = NULL;

    fake_source_env_init(&env, f->base, &f->cfg, &f->sink, batch_max);
    f->cfg.kafka_topics = topics;
    f->cfg.kafka_group = group;
    assert_int_equal(sift_source_kafka_new(&env, &src), SIFT_OK);
    assert_string_equal(sift_source_label(src), "kafka");
    assert_int_equal(sift_source_start(src), SIFT_OK);
    return src;
}

struct commit_sum {
    int64_t sum;
    int parts;
};

static void
sum_committed(void *arg, const struct sift_source_part *p)
{
    struct commit_sum *c = arg;
    c->parts++;
    if (p->committed > 0)
        c->sum += p->committed;
}

static int
all_committed(void *arg)
{
    void **a = arg;
    struct commit_sum c = {0, 0};
    sift_source_parts(a[0], sum_committed, &c);
    return c.sum == *(int64_t *)a[1];
}

static void
test_kafka_source_off_without_brokers(void **state)
{
    struct kfix *f = *state;
    struct sift_source_env env;
    struct sift_source *src = (struct sift_source *)1;
    struct sift_source **all = NULL;
    size_t n_all = 7;

    memset(&env, 0, sizeof(env));
    env.base = f->base;
    env.cfg = &f->cfg;
    f->cfg.kafka_brokers = no_props;
    assert_int_equal(sift_source_kafka_new(&env, &src), SIFT_ENOTFOUND);
    assert_null(src);
    assert_int_equal(sift_source_create_all(&env, &all, &n_all), SIFT_OK);
    assert_int_equal(n_all, 0);
    f->cfg.kafka_brokers = f->bootstrap;
}

static void
test_kafka_source_bad_property_is_config_error(void **state)
{
    struct kfix *f = *state;
    struct sift_source_env env;
    struct sift_source *src = NULL;
    char bad[] = "no.such.property=1";
    char topics[] = "x";

    memset(&env, 0, sizeof(env));
    env.base = f->base;
    env.cfg = &f->cfg;
    f->cfg.kafka_topics = topics;
    f->cfg.kafka_properties = bad;
    assert_int_equal(sift_source_kafka_new(&env, &src), SIFT_ECONFIG);
    assert_null(src);
    f->cfg.kafka_properties = props;
}

/* N records over 3 partitions: each held once, offsets committed. */
static void
test_kafka_source_delivers_each_once_and_commits(void **state)
{
    struct kfix *f = *state;
    char topics[] = "t-once", group[] = "g-once";
    const long n = 600;
    struct fake_want w = {&f->sink, (size_t)n};
    struct sift_source_stats st;
    struct sift_source *src;
    size_t dups = 99;
    int64_t total = n;
    void *args[2];

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, topics, 3, 1), 0);
    produce(f, topics, 0, n);
    src = new_source(f, topics, group, 100);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_int_equal(fake_sink_unique(&f->sink, (size_t)n, &dups), n);
    assert_int_equal(dups, 0);
    assert_int_equal(f->sink.n_bad, 0);
    /* Committed next offsets over all partitions add up to N. */
    args[0] = src;
    args[1] = &total;
    assert_true(fake_run_until(f->base, all_committed, args, WAIT_MS));
    sift_source_stats(src, &st);
    assert_int_equal(st.msgs_read, n);
    assert_int_equal(st.msgs_acked, n);
    assert_int_equal(st.inflight, 0);
    assert_true(st.rebalances >= 1);
    sift_source_stop(src);
    sift_source_free(src);
}

/*
 * Restart mid-stream with un-durable batches lost.  The second consumer
 * uses a NEW group (no committed offsets), so only the positions the sink
 * holds can make it resume exactly where the first one stopped.
 */
static void
test_kafka_source_restart_resumes_from_stored_position(void **state)
{
    struct kfix *f = *state;
    char topics[] = "t-restart", g1[] = "g-restart-1", g2[] = "g-restart-2";
    const long n1 = 400, n2 = 300;
    struct fake_want w = {&f->sink, (size_t)(n1 + n2)};
    struct sift_source *src;
    size_t held_before, dups = 99;

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, topics, 2, 1), 0);
    produce(f, topics, 0, n1);
    f->sink.auto_durable = 0;
    src = new_source(f, topics, g1, 50);
    /* Wait for some deliveries, make them durable, then read more. */
    for (int i = 0; i < 1500 && f->sink.n_pending < 2; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 2);
    fake_sink_make_durable(&f->sink);
    held_before = fake_sink_unique(&f->sink, (size_t)n1, NULL);
    assert_true(held_before > 0);
    for (int i = 0; i < 100 && f->sink.n_pending == 0; i++)
        fake_run_for(f->base, 20);
    /* Crash: what is pending never becomes durable. */
    sift_source_stop(src);
    fake_sink_lose_pending(&f->sink);
    sift_source_free(src);
    assert_int_equal(fake_sink_unique(&f->sink, (size_t)n1, NULL), held_before);

    produce(f, topics, n1, n2);
    f->sink.auto_durable = 1;
    src = new_source(f, topics, g2, 50);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    fake_run_for(f->base, 300); /* anything extra would show up now */
    assert_int_equal(fake_sink_unique(&f->sink, (size_t)(n1 + n2), &dups),
                     n1 + n2);
    assert_int_equal(dups, 0);
    sift_source_stop(src);
    sift_source_free(src);
}

static void
count_parts(void *arg, const struct sift_source_part *p)
{
    (void)p;
    (*(int *)arg)++;
}

struct two {
    struct sift_source *a, *b;
};

static int
both_assigned(void *arg)
{
    struct two *t = arg;
    int na = 0, nb = 0;
    sift_source_parts(t->a, count_parts, &na);
    sift_source_parts(t->b, count_parts, &nb);
    return na > 0 && nb > 0 && na + nb == 4;
}

static int
a_has_all(void *arg)
{
    struct two *t = arg;
    int na = 0;
    sift_source_parts(t->a, count_parts, &na);
    return na == 4;
}

/* Two consumers in one group, then one leaves: nothing twice, nothing lost. */
static void
test_kafka_source_rebalance_two_consumers(void **state)
{
    struct kfix *f = *state;
    char topics[] = "t-rebal", group[] = "g-rebal";
    const long n1 = 800, n2 = 400;
    struct fake_want w1 = {&f->sink, (size_t)n1},
                     w2 = {&f->sink, (size_t)(n1 + n2)};
    struct sift_source_stats sa, sb;
    struct two t;
    size_t dups = 99;

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, topics, 4, 1), 0);
    t.a = new_source(f, topics, group, 50);
    t.b = new_source(f, topics, group, 50);
    assert_true(fake_run_until(f->base, both_assigned, &t, WAIT_MS));
    /*
     * A quarter into each partition: keyless records from one kcat burst
     * may all go to one partition (sticky partitioner), and then one
     * consumer rightly gets nothing; with every partition fed, each
     * consumer owns records and must ack some.
     */
    for (int part = 0; part < 4; part++)
        produce_part(f, topics, part, part * (n1 / 4), n1 / 4);
    assert_true(fake_run_until(f->base, fake_all_held, &w1, WAIT_MS));
    sift_source_stats(t.a, &sa);
    sift_source_stats(t.b, &sb);
    assert_true(sa.msgs_acked > 0);
    assert_true(sb.msgs_acked > 0);
    assert_int_equal(sa.msgs_acked + sb.msgs_acked, n1);

    /* b leaves the group: a takes over b's partitions. */
    sift_source_stop(t.b);
    sift_source_free(t.b);
    assert_true(fake_run_until(f->base, a_has_all, &t, WAIT_MS));
    produce(f, topics, n1, n2);
    assert_true(fake_run_until(f->base, fake_all_held, &w2, WAIT_MS));
    fake_run_for(f->base, 300);
    assert_int_equal(fake_sink_unique(&f->sink, (size_t)(n1 + n2), &dups),
                     n1 + n2);
    assert_int_equal(dups, 0);
    sift_source_stats(t.a, &sa);
    assert_true(sa.rebalances >= 2);
    sift_source_stop(t.a);
    sift_source_free(t.a);
}

/* The sink says EBUSY, then fails two acks: all still held exactly once. */
static void
test_kafka_source_backpressure_and_failed_acks(void **state)
{
    struct kfix *f = *state;
    char topics[] = "t-busy", group[] = "g-busy";
    const long n = 500;
    struct fake_want w = {&f->sink, (size_t)n};
    struct sift_source_stats st;
    struct sift_source *src;
    size_t dups = 99;

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, topics, 2, 1), 0);
    produce(f, topics, 0, n);
    f->sink.busy_left = 6;
    f->sink.fail_next_ack = 2;
    src = new_source(f, topics, group, 40);
    if (!fake_run_until(f->base, fake_all_held, &w, WAIT_MS)) {
        sift_source_stats(src, &st);
        fprintf(stderr,
                "held %zu pending %zu read %lu acked %lu failed %lu busy %lu "
                "paused %d\n",
                fake_sink_unique(&f->sink, (size_t)n, &dups), f->sink.n_pending,
                (unsigned long)st.msgs_read, (unsigned long)st.msgs_acked,
                (unsigned long)st.batches_failed,
                (unsigned long)st.busy_retries, st.paused);
        fail();
    }
    fake_run_for(f->base, 300);
    assert_int_equal(fake_sink_unique(&f->sink, (size_t)n, &dups), n);
    assert_int_equal(dups, 0);
    sift_source_stats(src, &st);
    assert_true(st.busy_retries >= 6);
    /* The second failure may hit a batch already orphaned by the first. */
    assert_true(st.batches_failed >= 1);
    assert_int_equal(st.paused, 0);
    sift_source_stop(src);
    sift_source_free(src);
}

/*
 * A refused batch stops draining the queue, which also holds back
 * rebalance ops; a hold longer than half of max.poll.interval.ms (here 3 s)
 * pauses the partitions and polls again, so a second member joining while
 * the sink still refuses everything gets its share, and nothing is
 * lost or read twice once the sink takes batches again.
 */
static void
test_kafka_source_rebalance_during_long_hold(void **state)
{
    struct kfix *f = *state;
    char topics[] = "t-hold", group[] = "g-hold";
    char hold_props[] = "session.timeout.ms=6000,heartbeat.interval.ms=250,"
                        "topic.metadata.refresh.interval.ms=1000,"
                        "max.poll.interval.ms=6000";
    const long n = 400;
    struct fake_want w = {&f->sink, (size_t)n};
    struct two t;
    size_t dups = 99;

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, topics, 4, 1), 0);
    for (int part = 0; part < 4; part++)
        produce_part(f, topics, part, part * (n / 4), n / 4);
    f->cfg.kafka_properties = hold_props;
    f->sink.busy_left = 100000; /* refuses for the whole join below */
    t.a = new_source(f, topics, group, 50);
    /* past hold_max_ms (3 s): a pauses its partitions before b joins, so
     * b's join revokes paused partitions and may hand some back to a */
    fake_run_for(f->base, 4000);
    assert_int_equal(fake_sink_unique(&f->sink, (size_t)n, NULL), 0);
    t.b = new_source(f, topics, group, 50);
    assert_true(fake_run_until(f->base, both_assigned, &t, WAIT_MS));
    assert_true(f->sink.busy_left > 0); /* served while still refused */
    f->sink.busy_left = 0;
    if (!fake_run_until(f->base, fake_all_held, &w, WAIT_MS)) {
        struct sift_source_stats sa, sb;
        sift_source_stats(t.a, &sa);
        sift_source_stats(t.b, &sb);
        fprintf(stderr,
                "held %zu; a read %lu acked %lu paused %d; b read %lu acked "
                "%lu paused %d\n",
                fake_sink_unique(&f->sink, (size_t)n, NULL),
                (unsigned long)sa.msgs_read, (unsigned long)sa.msgs_acked,
                sa.paused, (unsigned long)sb.msgs_read,
                (unsigned long)sb.msgs_acked, sb.paused);
        fail();
    }
    fake_run_for(f->base, 300);
    assert_int_equal(fake_sink_unique(&f->sink, (size_t)n, &dups), n);
    assert_int_equal(dups, 0);
    sift_source_stop(t.b);
    sift_source_free(t.b);
    sift_source_stop(t.a);
    sift_source_free(t.a);
    f->cfg.kafka_properties = props;
}

/* A regex subscription ("^logs-.*") picks up matching topics only. */
static void
test_kafka_source_regex_topics(void **state)
{
    struct kfix *f = *state;
    char topics[] = "^logs-.*", group[] = "g-regex";
    struct fake_want w = {&f->sink, 200};
    struct sift_source *src;
    size_t dups = 99;

    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "logs-a", 1, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "logs-b", 1, 1), 0);
    assert_int_equal(rd_kafka_mock_topic_create(f->mc, "other", 1, 1), 0);
    produce(f, "logs-a", 0, 100);
    produce(f, "logs-b", 100, 100);
    produce(f, "other", 200, 50);
    src = new_source(f, topics, group, 100);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    fake_run_for(f->base, 300);
    assert_int_equal(fake_sink_unique(&f->sink, 200, &dups), 200);
    assert_int_equal(dups, 0);
    assert_int_equal(fake_sink_unique(&f->sink, 250, NULL), 200);
    sift_source_stop(src);
    sift_source_free(src);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kafka_source_off_without_brokers,
                                        kfix_setup, kfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_source_bad_property_is_config_error, kfix_setup,
            kfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_source_delivers_each_once_and_commits, kfix_setup,
            kfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_source_restart_resumes_from_stored_position, kfix_setup,
            kfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_source_rebalance_two_consumers, kfix_setup,
            kfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_source_backpressure_and_failed_acks, kfix_setup,
            kfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_kafka_source_rebalance_during_long_hold, kfix_setup,
            kfix_teardown),
        cmocka_unit_test_setup_teardown(test_kafka_source_regex_topics,
                                        kfix_setup, kfix_teardown),
    };
    if (getenv("SIFT_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SIFT_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
