/*
 * test_redis_source.c - the Redis stream and list sources against a real
 * redis-server started by the test on a free loopback port (--save ""
 * --appendonly no, or AOF on for the restart test) in a temp dir.
 * Entries are produced with hiredis (XADD / RPUSH, what rsyslog's
 * omhiredis sends); the sources deliver into the fake sink
 * (tests/unit/fake_sink.h), which simulates durability.  Every wait is
 * bounded in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sift/config.h"
#include "sift/log.h"
#include "sift/source.h"

#include "fake_sink.h"

#define WAIT_MS 20000

struct rfix {
    pid_t pid;
    int port;
    int aof;
    char dir[64];
    char addr[64];
    redisContext *rc;
    struct event_base *base;
    struct fake_sink sink;
    struct sift_config cfg;
};

static char s_group[] = "g1";
static char s_field[] = "message";

static int
free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void
redis_up(struct rfix *f)
{
    char port[16];
    struct timeval tv = {1, 0};

    snprintf(port, sizeof(port), "%d", f->port);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--save", "", "--appendonly", f->aof ? "yes" : "no",
               "--appendfsync", "always", "--dir", f->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        redisContext *c = redisConnectWithTimeout("127.0.0.1", f->port, tv);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int ok = r && r->type == REDIS_REPLY_STATUS;
            if (r)
                freeReplyObject(r);
            if (ok) {
                f->rc = c;
                return;
            }
        }
        if (c)
            redisFree(c);
        nanosleep(&(struct timespec){0, 25000000}, NULL);
    }
    fail_msg("redis-server did not come up on port %d", f->port);
}

static void
redis_down(struct rfix *f)
{
    int st;
    if (f->rc)
        redisFree(f->rc);
    f->rc = NULL;
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, &st, 0);
    }
    f->pid = 0;
}

static int
rfix_setup_common(void **state, int aof)
{
    struct rfix *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    sift_log_set_level(getenv("SIFT_TEST_VERBOSE") ? SIFT_LOG_DEBUG
                                                   : SIFT_LOG_ERROR);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sift-redis-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->aof = aof;
    f->port = free_port();
    snprintf(f->addr, sizeof(f->addr), "127.0.0.1:%d", f->port);
    redis_up(f);
    f->base = event_base_new();
    fake_sink_init(&f->sink, f->base);
    f->cfg.redis_address = f->addr;
    f->cfg.redis_group = s_group;
    f->cfg.redis_field = s_field;
    *state = f;
    return 0;
}

static int
rfix_setup(void **state)
{
    return rfix_setup_common(state, 0);
}

static int
rfix_setup_aof(void **state)
{
    return rfix_setup_common(state, 1);
}

static int
rfix_teardown(void **state)
{
    struct rfix *f = *state;
    char cmd[128];

    fake_sink_cleanup(&f->sink);
    event_base_free(f->base);
    redis_down(f);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static void
xadd(struct rfix *f, const char *stream, long first, long n)
{
    char v[32];
    for (long i = first; i < first + n; i++) {
        snprintf(v, sizeof(v), "m-%ld", i);
        redisAppendCommand(f->rc, "XADD %s * message %s level info", stream, v);
    }
    for (long i = 0; i < n; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(f->rc, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        freeReplyObject(r);
    }
}

static long long
redis_int(struct rfix *f, const char *fmt, const char *a, const char *b)
{
    redisReply *r = redisCommand(f->rc, fmt, a, b);
    long long v = -1;
    assert_non_null(r);
    if (r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
             r->element[0]->type == REDIS_REPLY_INTEGER)
        v = r->element[0]->integer; /* XPENDING summary: count first */
    freeReplyObject(r);
    return v;
}

static struct sift_source *
new_stream(struct rfix *f, const char *stream, char *consumer,
           uint32_t batch_max, uint32_t claim_idle_ms)
{
    struct sift_source_env env;
    struct sift_source *src = NULL;

    fake_source_env_init(&env, f->base, &f->cfg, &f->sink, batch_max);
    env.redis_block_ms = 200;
    env.redis_claim_idle_ms = claim_idle_ms;
    env.redis_claim_every_ms = claim_idle_ms ? claim_idle_ms : 30000;
    f->cfg.redis_consumer = consumer;
    assert_int_equal(sift_source_redis_stream_new(&env, stream, &src), SIFT_OK);
    assert_int_equal(sift_source_start(src), SIFT_OK);
    return src;
}

struct pend {
    struct rfix *f;
    const char *stream;
    long long want;
};

static int
pending_is(void *arg)
{
    struct pend *p = arg;
    return redis_int(p->f, "XPENDING %s %s", p->stream, "g1") == p->want;
}

static void
check_once(struct rfix *f, size_t n)
{
    size_t dups = 99;
    assert_int_equal(fake_sink_unique(&f->sink, n, &dups), n);
    assert_int_equal(dups, 0);
    assert_int_equal(f->sink.n_bad, 0);
}

/* ---- streams ---------------------------------------------------------- */

static void
test_redis_source_stream_delivers_each_once_and_acks(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 1000};
    struct pend p = {f, "s-once", 0};
    struct sift_source_stats st;
    struct sift_source *src;

    xadd(f, "s-once", 0, 600); /* before the group exists: read from 0 */
    src = new_stream(f, "s-once", me, 100, 0);
    assert_string_equal(sift_source_label(src), "redis-stream:s-once");
    fake_run_for(f->base, 100);
    xadd(f, "s-once", 600, 400);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 1000);
    /* Other entry fields travel along; the position is the last id. */
    assert_string_equal(f->sink.last_fields, "level=info;");
    assert_int_equal(f->sink.n_keys, 1);
    assert_string_equal(f->sink.keys[0], "redis/s-once");
    assert_true(f->sink.pos[0].hi > 0);
    sift_source_stats(src, &st);
    assert_int_equal(st.msgs_acked, 1000);
    assert_int_equal(st.inflight, 0);
    assert_int_equal(st.connected, 1);
    sift_source_stop(src);
    sift_source_free(src);
}

/* The consumer dies before its batches are durable: a restart re-reads. */
static void
test_redis_source_stream_pending_reread_after_crash(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 700};
    struct pend p = {f, "s-crash", 0};
    struct sift_source *src;
    size_t before;

    xadd(f, "s-crash", 0, 500);
    f->sink.auto_durable = 0;
    src = new_stream(f, "s-crash", me, 50, 0);
    for (int i = 0; i < 500 && f->sink.n_pending < 4; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 4);
    /* Half of what is pending becomes durable, the rest dies with us. */
    {
        struct fake_batch *b1 = fake_pop(&f->sink);
        struct fake_batch *b2 = fake_pop(&f->sink);
        struct fake_batch *rest_head = f->sink.head;
        struct fake_batch *rest_tail = f->sink.tail;
        size_t rest_n = f->sink.n_pending;
        f->sink.head = f->sink.tail = NULL;
        f->sink.n_pending = 0;
        b1->next = b2;
        b2->next = NULL;
        f->sink.head = b1;
        f->sink.tail = b2;
        f->sink.n_pending = 2;
        fake_sink_make_durable(&f->sink);
        f->sink.head = rest_head;
        f->sink.tail = rest_tail;
        f->sink.n_pending = rest_n;
    }
    before = fake_sink_unique(&f->sink, 500, NULL);
    assert_true(before >= 100);
    fake_run_for(f->base, 100); /* let the XACKs go out */
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src); /* no store close: the crash */
    assert_true(redis_int(f, "XPENDING %s %s", "s-crash", "g1") > 0);

    xadd(f, "s-crash", 500, 200);
    f->sink.auto_durable = 1;
    src = new_stream(f, "s-crash", me, 50, 0);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 700);
    sift_source_stop(src);
    sift_source_free(src);
}

/* Entries of a dead consumer are claimed (XAUTOCLAIM) by a live one. */
static void
test_redis_source_stream_claims_dead_consumer(void **state)
{
    struct rfix *f = *state;
    char dead[] = "dead", alive[] = "alive";
    struct fake_want w = {&f->sink, 400};
    struct pend p = {f, "s-claim", 0};
    struct sift_source_stats st;
    struct sift_source *src;

    xadd(f, "s-claim", 0, 400);
    f->sink.auto_durable = 0;
    src = new_stream(f, "s-claim", dead, 100, 0);
    for (int i = 0; i < 500 && f->sink.n_pending < 4; i++)
        fake_run_for(f->base, 20);
    assert_int_equal(f->sink.n_pending, 4);
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src);
    assert_int_equal(redis_int(f, "XPENDING %s %s", "s-claim", "g1"), 400);

    f->sink.auto_durable = 1;
    src = new_stream(f, "s-claim", alive, 100, 300);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 400);
    sift_source_stats(src, &st);
    assert_int_equal(st.msgs_acked, 400);
    sift_source_stop(src);
    sift_source_free(src);
}

/* Connections killed mid-stream: the source reconnects, loses nothing. */
static void
test_redis_source_stream_reconnects_after_client_kill(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w1 = {&f->sink, 300}, w = {&f->sink, 800};
    struct pend p = {f, "s-kill", 0};
    struct sift_source_stats st;
    struct sift_source *src;
    redisReply *r;

    xadd(f, "s-kill", 0, 300);
    src = new_stream(f, "s-kill", me, 50, 0);
    assert_true(fake_run_until(f->base, fake_all_held, &w1, WAIT_MS));
    f->sink.auto_durable = 0;
    xadd(f, "s-kill", 300, 200);
    for (int i = 0; i < 200 && f->sink.n_pending == 0; i++)
        fake_run_for(f->base, 20);
    r = redisCommand(f->rc, "CLIENT KILL TYPE normal");
    assert_non_null(r);
    freeReplyObject(r);
    fake_run_for(f->base, 50);
    f->sink.auto_durable = 1; /* durable while Redis is away from us */
    xadd(f, "s-kill", 500, 300);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 800);
    sift_source_stats(src, &st);
    assert_true(st.reconnects >= 1);
    sift_source_stop(src);
    sift_source_free(src);
}

/* redis-server restarted (AOF on) mid-stream: reconnect, nothing lost. */
static void
test_redis_source_stream_survives_redis_restart(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w1 = {&f->sink, 200}, w = {&f->sink, 600};
    struct pend p = {f, "s-restart", 0};
    struct sift_source_stats st;
    struct sift_source *src;

    xadd(f, "s-restart", 0, 200);
    src = new_stream(f, "s-restart", me, 50, 0);
    assert_true(fake_run_until(f->base, fake_all_held, &w1, WAIT_MS));
    f->sink.auto_durable = 0;
    xadd(f, "s-restart", 200, 200);
    for (int i = 0; i < 200 && f->sink.n_pending == 0; i++)
        fake_run_for(f->base, 20);
    redis_down(f);
    fake_sink_make_durable(&f->sink); /* durable, XACK cannot go out */
    f->sink.auto_durable = 1;
    fake_run_for(f->base, 300);
    redis_up(f);
    xadd(f, "s-restart", 400, 200);
    if (!fake_run_until(f->base, fake_all_held, &w, WAIT_MS)) {
        sift_source_stats(src, &st);
        fprintf(stderr,
                "held %zu pending %zu read %lu acked %lu rec %lu conn %d len "
                "%lld\n",
                fake_sink_unique(&f->sink, 600, NULL), f->sink.n_pending,
                (unsigned long)st.msgs_read, (unsigned long)st.msgs_acked,
                (unsigned long)st.reconnects, st.connected,
                redis_int(f, "XLEN %s", "s-restart", ""));
        fail();
    }
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 600);
    sift_source_stats(src, &st);
    assert_true(st.reconnects >= 1);
    sift_source_stop(src);
    sift_source_free(src);
}

/* EBUSY from the sink and failed acks: still each entry exactly once. */
static void
test_redis_source_stream_backpressure_and_failed_acks(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 500};
    struct pend p = {f, "s-busy", 0};
    struct sift_source_stats st;
    struct sift_source *src;

    xadd(f, "s-busy", 0, 500);
    f->sink.busy_left = 5;
    f->sink.fail_next_ack = 2;
    src = new_stream(f, "s-busy", me, 40, 0);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 500);
    sift_source_stats(src, &st);
    assert_true(st.busy_retries >= 5);
    assert_true(st.batches_failed >= 2);
    sift_source_stop(src);
    sift_source_free(src);
}

/* Makes the first n pending batches durable; the rest stay pending. */
static void
durable_first(struct fake_sink *fs, size_t n)
{
    struct fake_batch *keep = fs->head, *last = NULL;
    size_t rest_n = fs->n_pending;

    for (size_t i = 0; i < n && keep; i++) {
        last = keep;
        keep = keep->next;
        rest_n--;
    }
    if (!last)
        return;
    {
        struct fake_batch *tail = fs->tail;
        last->next = NULL;
        fs->tail = last;
        fs->n_pending -= rest_n;
        fake_sink_make_durable(fs);
        fs->head = keep;
        fs->tail = keep ? tail : NULL;
        fs->n_pending = rest_n;
    }
}

/*
 * kill -9 between the fsync and the XACK: the batches are durable (their
 * position is stored) but still pending in Redis.  The restart must
 * acknowledge them without delivering them again.  Redis is down while
 * they become durable, so no XACK can go out, and comes back from its AOF.
 */
static void
test_redis_source_stream_crash_between_fsync_and_xack(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 700};
    struct pend p = {f, "s-gap", 0};
    struct sift_source_stats st;
    struct sift_source *src;

    xadd(f, "s-gap", 0, 500);
    f->sink.auto_durable = 0;
    src = new_stream(f, "s-gap", me, 50, 0);
    for (int i = 0; i < 500 && f->sink.n_pending < 6; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 6);
    redis_down(f);
    durable_first(&f->sink, 4); /* durable; the XACK cannot go out */
    assert_true(fake_sink_unique(&f->sink, 500, NULL) >= 200);
    fake_run_for(f->base, 50);
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src); /* the crash: nothing more is acknowledged */

    redis_up(f);
    assert_true(redis_int(f, "XPENDING %s %s", "s-gap", "g1") >= 300);
    xadd(f, "s-gap", 500, 200);
    f->sink.auto_durable = 1;
    src = new_stream(f, "s-gap", me, 50, 0);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 700);
    sift_source_stats(src, &st);
    assert_true(st.msgs_delivered <= 500);
    sift_source_stop(src);
    sift_source_free(src);
}

/*
 * A failed WAL write, then a crash: the entries of the failed batches
 * (and of the batch held behind them) are delivered again before
 * anything newer, so the position stored with the next durable batch
 * never passes an entry that is not stored.
 */
static void
test_redis_source_stream_failed_ack_then_crash(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 400};
    struct pend p = {f, "s-fail", 0};
    struct sift_source *src;

    xadd(f, "s-fail", 0, 120);
    f->sink.auto_durable = 0;
    src = new_stream(f, "s-fail", me, 40, 0);
    for (int i = 0; i < 500 && f->sink.n_pending < 3; i++)
        fake_run_for(f->base, 20);
    assert_int_equal(f->sink.n_pending, 3);
    f->sink.busy_left = 1000; /* the next batch is held */
    xadd(f, "s-fail", 120, 280);
    for (int i = 0; i < 200 && f->sink.busy_left == 1000; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.busy_left < 1000);
    f->sink.fail_next_ack = 1;
    fake_sink_make_durable(&f->sink); /* every pending batch fails */
    f->sink.busy_left = 0;
    for (int i = 0; i < 500 && f->sink.n_pending < 3; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 3);
    durable_first(&f->sink, 1); /* the oldest entries, delivered again */
    fake_run_for(f->base, 100);
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src);

    f->sink.auto_durable = 1;
    src = new_stream(f, "s-fail", me, 40, 0);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 400);
    sift_source_stop(src);
    sift_source_free(src);
}

/*
 * Entries claimed from a dead consumer have ids below this consumer's
 * stored position; a crash after the claim and before they are durable
 * must not skip them (they go to "<me>:claimed", at least once).
 */
static void
test_redis_source_stream_claimed_then_crash(void **state)
{
    struct rfix *f = *state;
    char dead[] = "dead", me[] = "c1";
    struct fake_want w = {&f->sink, 600};
    struct pend p = {f, "s-cl2", 0};
    struct sift_source *src;

    xadd(f, "s-cl2", 0, 300);
    f->sink.auto_durable = 0;
    src = new_stream(f, "s-cl2", dead, 100, 0);
    for (int i = 0; i < 500 && f->sink.n_pending < 3; i++)
        fake_run_for(f->base, 20);
    assert_int_equal(f->sink.n_pending, 3);
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src); /* "dead" holds m-0..m-299 pending */

    xadd(f, "s-cl2", 300, 300);
    f->sink.auto_durable = 1;
    src = new_stream(f, "s-cl2", me, 100, 0);
    for (int i = 0; i < 1000; i++) {
        fake_run_for(f->base, 20);
        if (fake_sink_unique(&f->sink, 600, NULL) == 300 &&
            f->sink.n_pending == 0)
            break;
    }
    assert_int_equal(fake_sink_unique(&f->sink, 600, NULL), 300);
    sift_source_stop(src);
    sift_source_free(src); /* c1 stored its position past every entry */

    f->sink.auto_durable = 0;
    src = new_stream(f, "s-cl2", me, 100, 200);
    for (int i = 0; i < 500 && f->sink.n_pending < 1; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 1); /* claimed, not durable */
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src);

    f->sink.auto_durable = 1;
    src = new_stream(f, "s-cl2", me, 100, 200);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, pending_is, &p, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 600);
    sift_source_stop(src);
    sift_source_free(src);
}

/* ---- lists ----------------------------------------------------------- */

static void
rpush(struct rfix *f, const char *list, long first, long n)
{
    for (long i = first; i < first + n; i++)
        redisAppendCommand(f->rc, "RPUSH %s m-%ld", list, i);
    for (long i = 0; i < n; i++) {
        redisReply *r = NULL;
        assert_int_equal(redisGetReply(f->rc, (void **)&r), REDIS_OK);
        assert_int_equal(r->type, REDIS_REPLY_INTEGER);
        freeReplyObject(r);
    }
}

static struct sift_source *
new_list(struct rfix *f, const char *list, char *consumer, uint32_t batch_max)
{
    struct sift_source_env env;
    struct sift_source *src = NULL;

    fake_source_env_init(&env, f->base, &f->cfg, &f->sink, batch_max);
    env.redis_block_ms = 200;
    f->cfg.redis_consumer = consumer;
    assert_int_equal(sift_source_redis_list_new(&env, list, &src), SIFT_OK);
    assert_int_equal(sift_source_start(src), SIFT_OK);
    return src;
}

struct llen {
    struct rfix *f;
    const char *a, *b; /* both lists (and b's seq list) must be empty */
};

static int
lists_empty(void *arg)
{
    struct llen *l = arg;
    char seqs[128];
    snprintf(seqs, sizeof(seqs), "%s:seq", l->b);
    return redis_int(l->f, "LLEN %s", l->a, "") == 0 &&
           redis_int(l->f, "LLEN %s", l->b, "") == 0 &&
           redis_int(l->f, "LLEN %s", seqs, "") == 0;
}

static void
test_redis_source_list_delivers_each_once_and_removes(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w0 = {&f->sink, 1000}, w = {&f->sink, 1500};
    struct llen l = {f, "q-once", "q-once:inflight:c1"};
    struct sift_source_stats st;
    struct sift_source *src;

    rpush(f, "q-once", 0, 1000);
    src = new_list(f, "q-once", me, 100);
    assert_string_equal(sift_source_label(src), "redis-list:q-once");
    assert_true(fake_run_until(f->base, fake_all_held, &w0, WAIT_MS));
    fake_run_for(f->base, 300);
    rpush(f, "q-once", 1000, 500); /* some arrive while BLMOVE blocks */
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, lists_empty, &l, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 1500);
    sift_source_stats(src, &st);
    assert_int_equal(st.msgs_acked, 1500);
    assert_int_equal(st.inflight, 0);
    sift_source_stop(src);
    sift_source_free(src);
}

/* Crash before durability: the restart recovers the in-flight list. */
static void
test_redis_source_list_recovers_inflight_after_crash(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 700};
    struct llen l = {f, "q-crash", "q-crash:inflight:c1"};
    struct sift_source *src;

    rpush(f, "q-crash", 0, 500);
    f->sink.auto_durable = 0;
    src = new_list(f, "q-crash", me, 50);
    for (int i = 0; i < 500 && f->sink.n_pending < 4; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 4);
    {
        /* The first batch becomes durable; the rest dies with us. */
        struct fake_batch *rest = f->sink.head->next;
        struct fake_batch *tail = f->sink.tail;
        size_t n_rest = f->sink.n_pending - 1;
        f->sink.head->next = NULL;
        f->sink.tail = f->sink.head;
        f->sink.n_pending = 1;
        fake_sink_make_durable(&f->sink);
        f->sink.head = rest;
        f->sink.tail = tail;
        f->sink.n_pending = n_rest;
    }
    fake_run_for(f->base, 100); /* the LREMs go out */
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src);
    assert_true(redis_int(f, "LLEN %s", "q-crash:inflight:c1", "") > 0);

    rpush(f, "q-crash", 500, 200);
    f->sink.auto_durable = 1;
    src = new_list(f, "q-crash", me, 50);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, lists_empty, &l, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 700);
    sift_source_stop(src);
    sift_source_free(src);
}

/* Connections killed mid-stream and failed acks: nothing lost or doubled. */
static void
test_redis_source_list_reconnect_and_failed_acks(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w1 = {&f->sink, 300}, w = {&f->sink, 800};
    struct llen l = {f, "q-kill", "q-kill:inflight:c1"};
    struct sift_source_stats st;
    struct sift_source *src;
    redisReply *r;

    rpush(f, "q-kill", 0, 300);
    f->sink.fail_next_ack = 2;
    f->sink.busy_left = 3;
    src = new_list(f, "q-kill", me, 50);
    assert_true(fake_run_until(f->base, fake_all_held, &w1, WAIT_MS));
    f->sink.auto_durable = 0;
    rpush(f, "q-kill", 300, 200);
    for (int i = 0; i < 200 && f->sink.n_pending == 0; i++)
        fake_run_for(f->base, 20);
    r = redisCommand(f->rc, "CLIENT KILL TYPE normal");
    assert_non_null(r);
    freeReplyObject(r);
    fake_run_for(f->base, 50);
    f->sink.auto_durable = 1;
    rpush(f, "q-kill", 500, 300);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, lists_empty, &l, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 800);
    sift_source_stats(src, &st);
    assert_true(st.reconnects >= 1);
    assert_true(st.batches_failed >= 2);
    assert_true(st.busy_retries >= 3);
    sift_source_stop(src);
    sift_source_free(src);
}

/*
 * kill -9 between the fsync and the acknowledgement: the values are
 * stored but still in the in-flight list.  The restart pops them without
 * delivering them again.  Redis is down while they become durable (no
 * acknowledgement can go out) and comes back from its AOF.  Every value
 * is pushed twice: identical values stay two.
 */
static void
test_redis_source_list_crash_between_fsync_and_ack(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct llen l = {f, "q-gap", "q-gap:inflight:c1"};
    struct sift_source *src;

    rpush(f, "q-gap", 0, 250);
    rpush(f, "q-gap", 0, 250);
    f->sink.auto_durable = 0;
    src = new_list(f, "q-gap", me, 50);
    for (int i = 0; i < 500 && f->sink.n_pending < 8; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 8);
    redis_down(f);
    durable_first(&f->sink, 6); /* 300 values stored, none popped */
    fake_run_for(f->base, 50);
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src);

    redis_up(f);
    assert_true(redis_int(f, "LLEN %s", "q-gap:inflight:c1", "") >= 300);
    f->sink.auto_durable = 1;
    src = new_list(f, "q-gap", me, 50);
    assert_true(fake_run_until(f->base, lists_empty, &l, WAIT_MS));
    fake_run_for(f->base, 300);
    assert_int_equal(f->sink.n_pending, 0);
    for (long i = 0; i < 250; i++)
        if (f->sink.held[i] != 2)
            fail_msg("m-%ld held %u times, want 2", i, f->sink.held[i]);
    assert_int_equal(f->sink.n_held, 500);
    sift_source_stop(src);
    sift_source_free(src);
}

/* A failed WAL write, then a crash: nothing lost, nothing twice. */
static void
test_redis_source_list_failed_ack_then_crash(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 400};
    struct llen l = {f, "q-fail", "q-fail:inflight:c1"};
    struct sift_source *src;

    rpush(f, "q-fail", 0, 120);
    f->sink.auto_durable = 0;
    src = new_list(f, "q-fail", me, 40);
    for (int i = 0; i < 500 && f->sink.n_pending < 3; i++)
        fake_run_for(f->base, 20);
    assert_int_equal(f->sink.n_pending, 3);
    f->sink.busy_left = 1000; /* the next batch is held */
    rpush(f, "q-fail", 120, 280);
    for (int i = 0; i < 200 && f->sink.busy_left == 1000; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.busy_left < 1000);
    f->sink.fail_next_ack = 1;
    fake_sink_make_durable(&f->sink); /* every pending batch fails */
    f->sink.busy_left = 0;
    for (int i = 0; i < 500 && f->sink.n_pending < 3; i++)
        fake_run_for(f->base, 20);
    assert_true(f->sink.n_pending >= 3);
    durable_first(&f->sink, 1); /* the oldest values, delivered again */
    fake_run_for(f->base, 100);
    fake_sink_forget_pending(&f->sink);
    sift_source_free(src);

    f->sink.auto_durable = 1;
    src = new_list(f, "q-fail", me, 40);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, lists_empty, &l, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 400);
    sift_source_stop(src);
    sift_source_free(src);
}

/*
 * An in-flight list out of step with its seq list (left by an older
 * siftd, or edited by hand): every value in it is delivered, none lost.
 */
static void
test_redis_source_list_out_of_step_inflight(void **state)
{
    struct rfix *f = *state;
    char me[] = "c1";
    struct fake_want w = {&f->sink, 300};
    struct llen l = {f, "q-old", "q-old:inflight:c1"};
    struct sift_source *src;

    rpush(f, "q-old:inflight:c1", 0, 100); /* no seq list at all */
    rpush(f, "q-old", 100, 200);
    src = new_list(f, "q-old", me, 50);
    assert_true(fake_run_until(f->base, fake_all_held, &w, WAIT_MS));
    assert_true(fake_run_until(f->base, lists_empty, &l, WAIT_MS));
    fake_run_for(f->base, 300);
    check_once(f, 300);
    sift_source_stop(src);
    sift_source_free(src);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_delivers_each_once_and_acks, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_pending_reread_after_crash, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_claims_dead_consumer, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_reconnects_after_client_kill, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_survives_redis_restart, rfix_setup_aof,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_backpressure_and_failed_acks, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_crash_between_fsync_and_xack,
            rfix_setup_aof, rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_failed_ack_then_crash, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_stream_claimed_then_crash, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_list_delivers_each_once_and_removes, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_list_recovers_inflight_after_crash, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_list_reconnect_and_failed_acks, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_list_crash_between_fsync_and_ack, rfix_setup_aof,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_list_failed_ack_then_crash, rfix_setup,
            rfix_teardown),
        cmocka_unit_test_setup_teardown(
            test_redis_source_list_out_of_step_inflight, rfix_setup,
            rfix_teardown),
    };
    signal(SIGPIPE, SIG_IGN);
    if (getenv("SIFT_TEST_FILTER"))
        cmocka_set_test_filter(getenv("SIFT_TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
