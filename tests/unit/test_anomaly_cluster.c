/*
 * test_anomaly_cluster.c - anomaly scoring over a cluster (thread.c,
 * "Cluster"): the rendezvous owner of a series (deterministic, balanced,
 * only a leaving node's series move), and two scorers in one process
 * exchanging their window counts as two nodes do: a storm split between
 * them raises one alert, on one of them; a window missing a node's counts
 * is scored by the other for rises only (no drop from the missing half),
 * the node alone owning every series meanwhile.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"

/* ---- the owner function ---- */

static void
node_hashes(uint64_t *h, size_t n)
{
    char id[32];
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(id, sizeof(id), "sift-node-%zu", i);
        h[i] = sift_anomaly_node_hash(id, (size_t)len);
    }
}

static uint64_t
key_of(uint32_t i)
{
    char svc[32];
    int len = snprintf(svc, sizeof(svc), "service-%u", i);
    return sift_anomaly_service_key(svc, (size_t)len);
}

static void
test_owner_deterministic_whatever_the_order(void **state)
{
    (void)state;
    uint64_t h[4], r[4];
    node_hashes(h, 4);
    for (size_t i = 0; i < 4; i++)
        r[i] = h[3 - i];
    for (uint32_t k = 0; k < 2000; k++) {
        uint64_t key = key_of(k);
        uint64_t a = h[sift_anomaly_owner(key, h, 4)];
        assert_int_equal(a, h[sift_anomaly_owner(key, h, 4)]);
        assert_int_equal(a, r[sift_anomaly_owner(key, r, 4)]);
    }
    /* One node owns everything; the key is the service's, whatever the
     * series' kind. */
    assert_int_equal(sift_anomaly_owner(key_of(1), h, 1), 0);
    assert_int_equal(sift_anomaly_service_key("", 0),
                     sift_anomaly_service_key("-", 1));
}

static void
test_owner_balanced(void **state)
{
    (void)state;
    enum { KEYS = 30000 };
    for (size_t n = 2; n <= 5; n++) {
        uint64_t h[5];
        unsigned got[5] = {0};
        node_hashes(h, n);
        for (uint32_t k = 0; k < KEYS; k++)
            got[sift_anomaly_owner(key_of(k), h, n)]++;
        for (size_t i = 0; i < n; i++) {
            double share = (double)got[i] / KEYS;
            /* Binomial sd at 30000 keys is under 0.3 points. */
            assert_true(share > 1.0 / (double)n - 0.02);
            assert_true(share < 1.0 / (double)n + 0.02);
        }
    }
}

static void
test_owner_minimal_movement(void **state)
{
    (void)state;
    enum { KEYS = 20000 };
    uint64_t h[4], less[3];
    node_hashes(h, 4);
    /* Node 2 leaves: only its keys move, and they spread over the rest. */
    less[0] = h[0];
    less[1] = h[1];
    less[2] = h[3];
    unsigned moved_to[4] = {0}, moved = 0, were_2 = 0;
    for (uint32_t k = 0; k < KEYS; k++) {
        uint64_t key = key_of(k);
        uint64_t before = h[sift_anomaly_owner(key, h, 4)];
        uint64_t after = less[sift_anomaly_owner(key, less, 3)];
        if (before != h[2]) {
            assert_int_equal(before, after);
            continue;
        }
        were_2++;
        moved++;
        for (size_t i = 0; i < 4; i++)
            moved_to[i] += after == h[i];
    }
    assert_int_equal(moved, were_2);
    assert_int_equal(moved_to[2], 0);
    for (size_t i = 0; i < 4; i++)
        if (i != 2)
            assert_true(moved_to[i] > were_2 / 5);
    /* It comes back: every key returns to its first owner. */
    for (uint32_t k = 0; k < KEYS; k++) {
        uint64_t key = key_of(k);
        uint64_t again = h[sift_anomaly_owner(key, h, 4)];
        assert_int_equal(again, h[sift_anomaly_owner(key, h, 4)]);
    }
}

/* ---- two scorers as two nodes ---- */

struct seen {
    pthread_mutex_t mu;
    int n_fire;
    struct sift_alert first;
};

static void
on_alert(enum sift_alert_event ev, const struct sift_alert *al, void *arg)
{
    struct seen *s = arg;
    pthread_mutex_lock(&s->mu);
    if (ev == SIFT_ALERT_EV_FIRE) {
        if (s->n_fire == 0)
            s->first = *al;
        s->n_fire++;
    }
    pthread_mutex_unlock(&s->mu);
}

static int
tpl_text(void *arg, uint32_t id, struct sift_buf *out)
{
    (void)arg;
    /* Ids are per node: 7 on one node is 9 on the other. */
    sift_buf_appendf(out, "GET /cart/<num> template %u", id == 9 ? 7 : id);
    return SIFT_OK;
}

#define BASE_NS (INT64_C(1700000000) * SIFT_NS_PER_SEC)

struct node {
    struct sift_anomaly *an;
    struct seen seen;
};

static void
node_start(struct node *n, const char *id)
{
    struct sift_anomaly_cluster cl = {
        .node_id = id,
        .grace_ns = 100 * SIFT_NS_PER_MS,
        .give_up_ns = 30 * SIFT_NS_PER_SEC,
        .text = tpl_text,
    };
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.window_ns = SIFT_NS_PER_SEC;
    cfg.warmup_windows = 3;
    cfg.global_warmup_windows = 3;
    cfg.alerts.hold_windows = 1;
    cfg.alerts.resolve_windows = 2;
    cfg.alerts.cooldown_ns = 0;
    cfg.cluster = &cl;
    memset(&n->seen, 0, sizeof(n->seen));
    pthread_mutex_init(&n->seen.mu, NULL);
    assert_int_equal(sift_anomaly_new(&cfg, on_alert, &n->seen, &n->an),
                     SIFT_OK);
    assert_int_equal(sift_anomaly_start(n->an), SIFT_OK);
}

static void
node_stop(struct node *n)
{
    sift_anomaly_stop(n->an);
    sift_anomaly_free(n->an);
    pthread_mutex_destroy(&n->seen.mu);
}

static void
push_n(struct node *n, int count, uint32_t tid)
{
    for (int i = 0; i < count; i++) {
        struct sift_anomaly_rec rec;
        sift_anomaly_rec_init(&rec, sift_clock_now_ns(), "checkout", 8,
                              SIFT_LVL_INFO, tid);
        assert_int_equal(sift_anomaly_push(n->an, &rec), SIFT_OK);
    }
}

static void
nap_ms(long ms)
{
    struct timespec ts = {0, ms * 1000 * 1000};
    nanosleep(&ts, NULL);
}

/* Window w's counts of n, once its thread has closed it. */
static void
published(struct node *n, int64_t w, struct sift_buf *out)
{
    int64_t win = BASE_NS / SIFT_NS_PER_SEC + w;
    for (int i = 0; i < 2500; i++) {
        out->len = 0;
        int rc = sift_anomaly_window_json(n->an, win, out);
        if (rc == SIFT_OK)
            return;
        assert_int_equal(rc, SIFT_EAGAIN);
        nap_ms(2);
    }
    fail_msg("window %lld never closed", (long long)w);
}

/* One window: nx and ny events, then the clock past its end; each node
 * gets the other's counts, except x when y_answers_x is 0 (a node that
 * did not answer in time). */
static void
run_window(struct node *x, struct node *y, int64_t w, int nx, int ny,
           int y_answers_x)
{
    sift_clock_freeze_ns(BASE_NS + w * SIFT_NS_PER_SEC + 500 * SIFT_NS_PER_MS);
    push_n(x, nx, 7u);
    push_n(y, ny, 9u); /* the same template, another id */
    sift_clock_freeze_ns(BASE_NS + (w + 1) * SIFT_NS_PER_SEC +
                         500 * SIFT_NS_PER_MS);
    struct sift_buf bx = SIFT_BUF_INIT, by = SIFT_BUF_INIT;
    published(x, w, &bx);
    published(y, w, &by);
    int64_t win = BASE_NS / SIFT_NS_PER_SEC + w;
    struct sift_anomaly_answer ax = {bx.data, bx.len}, ay = {by.data, by.len};
    sift_anomaly_merge_window(y->an, win, &ax, 1, 0);
    if (y_answers_x)
        sift_anomaly_merge_window(x->an, win, &ay, 1, 0);
    else
        sift_anomaly_merge_window(x->an, win, NULL, 0, 1);
    sift_buf_cleanup(&bx);
    sift_buf_cleanup(&by);
}

static void
wait_merged(struct node *n, uint64_t windows)
{
    struct sift_anomaly_cluster_stats st;
    for (int i = 0; i < 2500; i++) {
        sift_anomaly_cluster_stats(n->an, &st);
        if (st.merged >= windows)
            return;
        nap_ms(2);
    }
    fail_msg("%llu windows merged, not %llu", (unsigned long long)st.merged,
             (unsigned long long)windows);
}

static int
fired(struct node *n)
{
    pthread_mutex_lock(&n->seen.mu);
    int f = n->seen.n_fire;
    pthread_mutex_unlock(&n->seen.mu);
    return f;
}

static void
test_split_storm_alerts_once(void **state)
{
    (void)state;
    sift_clock_freeze_ns(BASE_NS);
    struct node x, y;
    node_start(&x, "node-x");
    node_start(&y, "node-y");
    /* 30 + 30 a window, then 55 + 55: each half alone scores about 40,
     * the sum about 57 (threshold 50). */
    for (int64_t w = 0; w < 8; w++)
        run_window(&x, &y, w, 30, 30, 1);
    run_window(&x, &y, 8, 55, 55, 1);
    wait_merged(&x, 9);
    wait_merged(&y, 9);
    assert_int_equal(fired(&x) + fired(&y), 1);
    struct node *owner = fired(&x) ? &x : &y;
    assert_string_equal(owner->seen.first.series, "service=checkout");
    assert_int_equal(owner->seen.first.kind, SIFT_ALERT_SPIKE);
    struct sift_anomaly_cluster_stats sx, sy;
    sift_anomaly_cluster_stats(x.an, &sx);
    sift_anomaly_cluster_stats(y.an, &sy);
    assert_int_equal(sx.partial + sy.partial, 0);
    /* The service and its template: one series, though the nodes number
     * the template differently (keyed by text). */
    assert_int_equal(sx.series, 2);
    assert_int_equal(sx.series, sy.series);
    assert_int_equal(sx.owned + sy.owned, sx.series);
    node_stop(&x);
    node_stop(&y);
    sift_clock_freeze_ns(0);
}

static void
test_missing_node_no_drop_and_takeover(void **state)
{
    (void)state;
    sift_clock_freeze_ns(BASE_NS);
    struct node x, y;
    node_start(&x, "node-x");
    node_start(&y, "node-y");
    for (int64_t w = 0; w < 10; w++)
        run_window(&x, &y, w, 30, 30, 1);
    /* y's counts do not reach x for three windows: x sees half the
     * volume (a drop CUSUM would cross its threshold by the third), but
     * a window missing a node is not tested for drops, nor learned. */
    for (int64_t w = 10; w < 13; w++)
        run_window(&x, &y, w, 30, 30, 0);
    wait_merged(&x, 13);
    wait_merged(&y, 13);
    struct sift_anomaly_cluster_stats sx;
    sift_anomaly_cluster_stats(x.an, &sx);
    assert_int_equal(sx.partial, 3);
    /* Alone, x owned every series. */
    assert_int_equal(sx.owned, sx.series);
    /* Back: the level was not pulled down, so the full volume is no
     * spike either. */
    for (int64_t w = 13; w < 16; w++)
        run_window(&x, &y, w, 30, 30, 1);
    wait_merged(&x, 16);
    wait_merged(&y, 16);
    assert_int_equal(fired(&x), 0);
    assert_int_equal(fired(&y), 0);
    struct sift_anomaly_cluster_stats sy;
    sift_anomaly_cluster_stats(x.an, &sx);
    sift_anomaly_cluster_stats(y.an, &sy);
    assert_int_equal(sx.partial, 3);
    assert_int_equal(sy.partial, 0);
    /* Both live again: each series has one owner. */
    assert_int_equal(sx.owned + sy.owned, sx.series);
    node_stop(&x);
    node_stop(&y);
    sift_clock_freeze_ns(0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_deterministic_whatever_the_order),
        cmocka_unit_test(test_owner_balanced),
        cmocka_unit_test(test_owner_minimal_movement),
        cmocka_unit_test(test_split_storm_alerts_once),
        cmocka_unit_test(test_missing_node_no_drop_and_takeover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
