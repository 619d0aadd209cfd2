/*
 * redis_list.c - a Redis list source for rsyslog's omhiredis queue mode
 * (RPUSH with userpush=on, LPUSH otherwise), as a reliable queue that
 * indexes every value exactly once across crashes.
 *
 * Design (one source per list, two connections from redis_common.c):
 *  - Each value is moved atomically from <list> to this consumer's
 *    in-flight list "<list>:inflight:<consumer>" (LMOVE LEFT RIGHT, in a
 *    small Lua script, up to batch_max values per round trip), and in the
 *    same script its sequence number is appended to the parallel list
 *    "<list>:inflight:<consumer>:seq".  The two lists stay index-aligned:
 *    value i of the in-flight list has seq i.  Seqs are handed out by this
 *    process in move order (the script gets the first one), so they grow
 *    from the head of the in-flight list to its tail.
 *  - Waiting: when a move finds the list empty, BLMOVE <list> <list> LEFT
 *    LEFT <block> (a rotation of the list onto itself: it changes
 *    nothing) blocks until a value arrives; then the next move runs.  One
 *    read is outstanding at a time, on the blocking connection.
 *  - Every batch carries the position "redis-list/<list>" = the seq of its
 *    last value.  Batches reach the sink in seq order, and a durable WAL
 *    record implies every earlier one is durable, so every value with a
 *    seq <= the stored position is held by the store.
 *  - Acknowledgement: once a batch is durable, a script pops values off
 *    the head of the in-flight list while the head's seq is <= the
 *    durable seq (both lists together).  It is idempotent: sending it
 *    twice (a lost reply, a reconnect) removes nothing more.
 *  - Reconcile, on start, on every reconnect and after a failed ack, one
 *    atomic script on the command connection (after the acks sent there):
 *    pop the head values whose seq is <= the durable seq (held by the
 *    store: a crash between the fsync and the acknowledgement), then
 *    return the rest with their seqs.  Values this process already holds
 *    (by seq) are skipped; the others are delivered again, in order.  That
 *    covers values a previous run left behind and values whose move reply
 *    was lost with the connection.  Identical values stay distinct: they
 *    have different seqs.
 *  - A failed ack (the WAL write failed; every batch after it in the WAL
 *    failed with it) drops the held batches and the reply of the read in
 *    progress (gen) and reconciles, so the lost values are delivered again
 *    before anything newer and no later batch carries a position past a
 *    value that is not stored.
 *  - The two lists out of step (the in-flight list edited by hand, or one
 *    left by an older siftd without seqs): the reconcile renumbers every
 *    value still in flight with fresh seqs and delivers each one again
 *    that this process does not hold (a multiset match on the bytes), so
 *    nothing is lost; those values are at least once (logged).
 *
 * Where exactly once ends (docs/ingest.md): the in-flight lists edited by
 * hand, two siftd sharing one redis.consumer, a data dir that does not
 * belong to the consumer's in-flight list, Redis losing or rolling back
 * data (values moved out of <list> come back and are read again).
 *
 * Thread: loop thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/source.h"

#include "ingest/ingest_int.h"

#define RL_MAX_INFLIGHT 50000

/* KEYS: list, inflight, seqs.  ARGV: max values, first seq. */
static const char move_script[] =
    "local out = {} "
    "local seq = tonumber(ARGV[2]) "
    "for i = 1, tonumber(ARGV[1]) do "
    "  local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') "
    "  if not v then break end "
    "  redis.call('RPUSH', KEYS[3], string.format('%.0f', seq)) "
    "  seq = seq + 1 "
    "  out[#out + 1] = v "
    "end "
    "return out";

/*
 * KEYS: inflight, seqs.  ARGV: durable seq.  Pops the head values whose
 * seq is <= it; returns how many, or -1 when the lists are out of step
 * (then nothing is popped; the next reconcile repairs).
 */
static const char ack_script[] =
    "if redis.call('LLEN', KEYS[1]) ~= redis.call('LLEN', KEYS[2]) then "
    "  return -1 "
    "end "
    "local d = tonumber(ARGV[1]) "
    "local n = 0 "
    "while true do "
    "  local s = tonumber(redis.call('LINDEX', KEYS[2], 0)) "
    "  if not s or s > d then break end "
    "  redis.call('LPOP', KEYS[2]) "
    "  redis.call('LPOP', KEYS[1]) "
    "  n = n + 1 "
    "end "
    "return n";

/*
 * KEYS: inflight, seqs.  ARGV: durable seq (-1 = none), first fresh seq.
 * In step: pops the durable head like ack_script and returns {n popped,
 * values, seqs}.  Out of step: gives every value a fresh seq from ARGV[2]
 * and returns {-1, values, seqs}.
 */
static const char reconcile_script[] =
    "local nv = redis.call('LLEN', KEYS[1]) "
    "local n = 0 "
    "if nv ~= redis.call('LLEN', KEYS[2]) then "
    "  redis.call('DEL', KEYS[2]) "
    "  local seq = tonumber(ARGV[2]) "
    "  for i = 1, nv do "
    "    redis.call('RPUSH', KEYS[2], string.format('%.0f', seq)) "
    "    seq = seq + 1 "
    "  end "
    "  n = -1 "
    "else "
    "  local d = tonumber(ARGV[1]) "
    "  while d >= 0 do "
    "    local s = tonumber(redis.call('LINDEX', KEYS[2], 0)) "
    "    if not s or s > d then break end "
    "    redis.call('LPOP', KEYS[2]) "
    "    redis.call('LPOP', KEYS[1]) "
    "    n = n + 1 "
    "  end "
    "end "
    "return {n, redis.call('LRANGE', KEYS[1], 0, -1), "
    "        redis.call('LRANGE', KEYS[2], 0, -1)}";

enum lb_state { LB_HELD, LB_INFLIGHT, LB_DURABLE };
enum rl_read { RD_NONE, RD_RECONCILE, RD_MOVE, RD_WAIT };

struct rlist;

struct lbatch {
    struct rlist *rl;
    int state;
    int in_deliver, free_pending;
    size_t n;
    struct sift_buf data; /* the values, back to back */
    size_t *off;          /* value i = data[off[i] .. off[i+1]) */
    uint64_t *seq;        /* seq of value i (ascending) */
    uint8_t *matched;     /* scratch for the out-of-step match */
    struct lbatch *prev, *next;
};

struct ack_req {
    struct rlist *rl;
    uint64_t d; /* durable seq the script popped up to */
};

struct rlist {
    struct sift_source base;
    struct sift_source_env env;
    struct sift__redis_pair rp;
    char *list, *inflight, *seqs, *key, *consumer;
    int reconcile;  /* the next read is a reconcile */
    int live;       /* the first reconcile is done: next_seq is known */
    int next_block; /* last move was empty: wait next */
    int read_outstanding;
    int read_kind;        /* enum rl_read of the outstanding read */
    uint32_t gen;         /* bumped by a failed ack */
    uint32_t read_gen;    /* gen of the outstanding read; stale = discarded */
    uint64_t read_first;  /* first seq handed to the outstanding move */
    uint64_t recon_d;     /* durable seq sent with the reconcile */
    int have_d;           /* d is set */
    uint64_t d;           /* every value with seq <= d is stored */
    uint64_t next_seq;    /* next seq to hand out (once live) */
    uint64_t redelivered; /* values delivered again after a repair */
    int user_paused, stopped, closing;
    struct event *ev_retry;
    struct lbatch *head, *tail; /* held, in flight, durable; seq order */
    size_t n_held;
    struct sift_source_stats st;
};

static void issue_read(struct rlist *rl);

/* ---- batches ---------------------------------------------------------- */

static void
list_unlink(struct rlist *rl, struct lbatch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        rl->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        rl->tail = b->prev;
    b->prev = b->next = NULL;
}

static void
list_append(struct rlist *rl, struct lbatch *b)
{
    b->prev = rl->tail;
    b->next = NULL;
    if (rl->tail)
        rl->tail->next = b;
    else
        rl->head = b;
    rl->tail = b;
}

static void
lbatch_free(struct lbatch *b)
{
    if (b->in_deliver) {
        b->free_pending = 1;
        return;
    }
    sift_buf_cleanup(&b->data);
    sift_free(b->off);
    sift_free(b->seq);
    sift_free(b->matched);
    sift_free(b);
}

static struct lbatch *
lbatch_new(struct rlist *rl, size_t cap)
{
    struct lbatch *b = sift_xcalloc(1, sizeof(*b));
    b->rl = rl;
    sift_buf_init(&b->data);
    b->off = sift_xcalloc(cap + 1, sizeof(*b->off));
    b->seq = sift_xcalloc(cap ? cap : 1, sizeof(*b->seq));
    b->matched = sift_xcalloc(cap ? cap : 1, 1);
    return b;
}

static void
lbatch_add(struct lbatch *b, const char *p, size_t len, uint64_t seq)
{
    sift_buf_append(&b->data, p, len);
    b->seq[b->n] = seq;
    b->n++;
    b->off[b->n] = b->data.len;
}

static uint64_t
lbatch_last(const struct lbatch *b)
{
    return b->n ? b->seq[b->n - 1] : 0;
}

/* Frees the durable batches whose values are all at or below d. */
static void
free_acked(struct rlist *rl, uint64_t d)
{
    for (struct lbatch *b = rl->head; b;) {
        struct lbatch *nx = b->next;
        if (b->state == LB_DURABLE && lbatch_last(b) <= d) {
            rl->st.msgs_acked += b->n;
            if (rl->st.inflight >= b->n)
                rl->st.inflight -= b->n;
            list_unlink(rl, b);
            lbatch_free(b);
        }
        b = nx;
    }
}

/* Is a value with this seq held, in flight or waiting for its ack? */
static int
known_seq(const struct rlist *rl, uint64_t seq)
{
    for (const struct lbatch *b = rl->head; b; b = b->next)
        if (b->n && seq >= b->seq[0] && seq <= lbatch_last(b))
            for (size_t i = 0; i < b->n; i++)
                if (b->seq[i] == seq)
                    return 1;
    return 0;
}

/* ---- acknowledgement -------------------------------------------------- */

static void
on_acked(redisAsyncContext *c, void *r, void *priv)
{
    struct ack_req *q = priv;
    struct rlist *rl = q->rl;
    redisReply *reply = r;
    uint64_t d = q->d;
    (void)c;

    sift_free(q);
    if (rl->closing || !reply)
        return; /* the reconcile after the reconnect pops them */
    if (reply->type == REDIS_REPLY_ERROR) {
        SIFT_WARN("redis: acknowledging %s: %s", rl->inflight, reply->str);
        return;
    }
    if (reply->type == REDIS_REPLY_INTEGER && reply->integer < 0) {
        SIFT_WARN("redis: %s and %s are out of step (edited by hand?); "
                  "repairing",
                  rl->inflight, rl->seqs);
        rl->reconcile = 1;
        issue_read(rl);
        return;
    }
    free_acked(rl, d);
    issue_read(rl);
}

static void
send_ack(struct rlist *rl)
{
    char d[32];
    const char *argv[6] = {"EVAL", ack_script, "2", rl->inflight, rl->seqs, d};
    struct ack_req *q;

    if (!rl->rp.up || !rl->have_d)
        return;
    snprintf(d, sizeof(d), "%" PRIu64, rl->d);
    q = sift_xmalloc(sizeof(*q));
    q->rl = rl;
    q->d = rl->d;
    if (redisAsyncCommandArgv(rl->rp.cmd, on_acked, q, 6, argv, NULL) !=
        REDIS_OK)
        sift_free(q);
}

/* ---- delivery --------------------------------------------------------- */

static void
on_ack(void *arg, int rc)
{
    struct lbatch *b = arg;
    struct rlist *rl = b->rl;

    if (rc == SIFT_OK) {
        b->state = LB_DURABLE;
        if (!rl->have_d || lbatch_last(b) > rl->d) {
            rl->d = lbatch_last(b);
            rl->have_d = 1;
        }
        send_ack(rl);
        return;
    }
    /*
     * Still in the in-flight list: the reconcile delivers it again, and
     * before anything newer, so that no later batch carries a position
     * past it: drop the held batches (their values are there too) and
     * the reply of the read in progress (gen).
     */
    rl->st.batches_failed++;
    if (rl->st.inflight >= b->n)
        rl->st.inflight -= b->n;
    SIFT_WARN("redis: %zu values of %s not durable (%s); reading them again",
              b->n, rl->list, sift_strerror(rc));
    list_unlink(rl, b);
    lbatch_free(b);
    for (struct lbatch *x = rl->head; x;) {
        struct lbatch *nx = x->next;
        if (x->state == LB_HELD) {
            list_unlink(rl, x);
            lbatch_free(x);
        }
        x = nx;
    }
    rl->n_held = 0;
    rl->gen++;
    rl->reconcile = 1;
    if (!rl->closing)
        issue_read(rl);
}

static int
lbatch_deliver(struct rlist *rl, struct lbatch *b)
{
    struct sift_source_msg *msgs = sift_xcalloc(b->n, sizeof(*msgs));
    struct sift_source_batch batch;
    struct sift_srcpos pos;
    int rc;

    for (size_t i = 0; i < b->n; i++) {
        msgs[i].data = b->data.data + b->off[i];
        msgs[i].len = (uint32_t)(b->off[i + 1] - b->off[i]);
        msgs[i].pos.key = rl->key;
        msgs[i].pos.hi = b->seq[i];
    }
    pos.key = rl->key;
    pos.hi = lbatch_last(b);
    pos.lo = 0;
    batch.source = "redis-list";
    batch.origin = rl->list;
    batch.n_msgs = b->n;
    batch.msgs = msgs;
    batch.n_pos = 1;
    batch.pos = &pos;
    b->state = LB_INFLIGHT;
    b->in_deliver = 1;
    rl->st.inflight += b->n;
    rc = rl->env.sink.deliver(rl->env.sink.arg, &batch, on_ack, b);
    b->in_deliver = 0;
    sift_free(msgs);
    if (rc != SIFT_OK) {
        rl->st.inflight -= b->n;
        b->state = LB_HELD;
        rl->st.busy_retries++;
        return rc;
    }
    rl->st.msgs_delivered += b->n;
    if (b->free_pending) {
        b->free_pending = 0;
        lbatch_free(b);
    }
    return SIFT_OK;
}

static void
schedule_retry(struct rlist *rl)
{
    if (!evtimer_pending(rl->ev_retry, NULL)) {
        struct timeval tv = {(time_t)(rl->env.retry_ms / 1000),
                             (suseconds_t)(rl->env.retry_ms % 1000) * 1000};
        evtimer_add(rl->ev_retry, &tv);
    }
}

static int
flush_held(struct rlist *rl)
{
    for (struct lbatch *b = rl->head; b && rl->n_held > 0;) {
        struct lbatch *nx = b->next;
        if (b->state == LB_HELD) {
            if (rl->user_paused || rl->stopped)
                return 0;
            if (lbatch_deliver(rl, b) != SIFT_OK) {
                schedule_retry(rl);
                return 0;
            }
            rl->n_held--;
        }
        b = nx;
    }
    return rl->n_held == 0;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct rlist *rl = arg;
    (void)fd;
    (void)what;
    if (flush_held(rl))
        issue_read(rl);
}

static void
take_batch(struct rlist *rl, struct lbatch *b)
{
    rl->st.msgs_read += b->n;
    list_append(rl, b);
    if (rl->n_held == 0 && !rl->user_paused && !rl->stopped &&
        lbatch_deliver(rl, b) == SIFT_OK)
        return;
    b->state = LB_HELD;
    rl->n_held++;
    if (!rl->user_paused && !rl->stopped)
        schedule_retry(rl);
}

/* ---- reading ---------------------------------------------------------- */

/* Parses a seq list element; returns 0 when it is not a number. */
static int
seq_of(const redisReply *e, uint64_t *out)
{
    char buf[32], *end = NULL;
    unsigned long long v;

    if (!e || e->type != REDIS_REPLY_STRING || e->len == 0 ||
        e->len >= sizeof(buf))
        return 0;
    memcpy(buf, e->str, e->len);
    buf[e->len] = '\0';
    v = strtoull(buf, &end, 10);
    if (*end != '\0')
        return 0;
    *out = v;
    return 1;
}

/*
 * Out of step: does this process hold an unmatched copy of v that is not
 * yet durable?  Marks it (values are renumbered, so only bytes match).
 */
static int
match_bytes(struct rlist *rl, const char *v, size_t len)
{
    for (struct lbatch *b = rl->head; b; b = b->next) {
        if (b->state == LB_DURABLE)
            continue;
        for (size_t i = 0; i < b->n; i++) {
            if (b->matched[i] || b->off[i + 1] - b->off[i] != len ||
                memcmp(b->data.data + b->off[i], v, len) != 0)
                continue;
            b->matched[i] = 1;
            return 1;
        }
    }
    return 0;
}

/* Delivers values[i] with seqs[i], skipping what this process holds. */
static void
take_reconciled(struct rlist *rl, const redisReply *values,
                const redisReply *seqs, int out_of_step)
{
    struct lbatch *b = NULL;
    size_t n =
        values->elements < seqs->elements ? values->elements : seqs->elements;
    size_t again = 0;

    if (out_of_step)
        for (struct lbatch *x = rl->head; x; x = x->next)
            memset(x->matched, 0, x->n ? x->n : 1);
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = values->element[i];
        uint64_t seq;
        if (!v || v->type != REDIS_REPLY_STRING ||
            !seq_of(seqs->element[i], &seq))
            continue;
        if (seq >= rl->next_seq)
            rl->next_seq = seq + 1;
        if (out_of_step ? match_bytes(rl, v->str, v->len) : known_seq(rl, seq))
            continue;
        if (!b)
            b = lbatch_new(rl, rl->env.batch_max);
        lbatch_add(b, v->str, v->len, seq);
        again++;
        if (b->n == rl->env.batch_max) {
            take_batch(rl, b);
            b = NULL;
        }
    }
    if (b)
        take_batch(rl, b);
    if (out_of_step && again > 0) {
        rl->redelivered += again;
        SIFT_WARN("redis: %zu values left in %s delivered again with fresh "
                  "seqs (they may be indexed twice)",
                  again, rl->inflight);
    }
}

static void
on_reconcile(struct rlist *rl, const redisReply *reply)
{
    const redisReply *n, *values, *seqs;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER ||
        reply->element[1]->type != REDIS_REPLY_ARRAY ||
        reply->element[2]->type != REDIS_REPLY_ARRAY) {
        SIFT_WARN("redis: unexpected reconcile reply for %s", rl->inflight);
        rl->reconcile = 1;
        schedule_retry(rl);
        return;
    }
    n = reply->element[0];
    values = reply->element[1];
    seqs = reply->element[2];
    if (n->integer > 0)
        SIFT_INFO("redis: %lld values of %s were stored before a restart; "
                  "acknowledged without indexing them again",
                  n->integer, rl->inflight);
    if (n->integer < 0)
        SIFT_WARN("redis: %s and %s were out of step (edited by hand, or "
                  "left by an older siftd); renumbered %zu values",
                  rl->inflight, rl->seqs, values->elements);
    /* Everything at or below recon_d left the in-flight list. */
    if (rl->have_d)
        free_acked(rl, rl->recon_d);
    if (rl->have_d && rl->next_seq <= rl->d)
        rl->next_seq = rl->d + 1;
    take_reconciled(rl, values, seqs, n->integer < 0);
    rl->live = 1;
    rl->next_block = 0;
}

static void
take_moved(struct rlist *rl, const redisReply *reply, uint64_t first)
{
    struct lbatch *b = NULL;

    if (reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *v = reply->element[i];
        if (!v || v->type != REDIS_REPLY_STRING)
            continue;
        if (!b)
            b = lbatch_new(rl, rl->env.batch_max);
        lbatch_add(b, v->str, v->len, first + i);
        if (b->n == rl->env.batch_max) {
            take_batch(rl, b);
            b = NULL;
        }
    }
    if (b)
        take_batch(rl, b);
}

static void
on_read(redisAsyncContext *c, void *r, void *priv)
{
    struct rlist *rl = priv;
    redisReply *reply = r;
    int kind = rl->read_kind;
    (void)c;

    rl->read_outstanding = 0;
    if (rl->closing || !reply)
        return; /* the reconnect path reconciles */
    if (kind == RD_MOVE && reply->type == REDIS_REPLY_ARRAY &&
        rl->read_first + reply->elements > rl->next_seq)
        rl->next_seq = rl->read_first + reply->elements;
    if (rl->read_gen != rl->gen) {
        /* Read before a failed ack: the reconcile reads it again. */
        issue_read(rl);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        SIFT_WARN("redis: read %s: %s", rl->list, reply->str);
        if (kind == RD_RECONCILE)
            rl->reconcile = 1;
        schedule_retry(rl);
        return;
    }
    if (kind == RD_RECONCILE) {
        on_reconcile(rl, reply);
    } else if (kind == RD_MOVE) {
        take_moved(rl, reply, rl->read_first);
        rl->next_block =
            reply->type != REDIS_REPLY_ARRAY || reply->elements == 0;
    } else {
        /* A value arrived (or the wait timed out): move next. */
        rl->next_block = reply->type != REDIS_REPLY_STRING;
    }
    issue_read(rl);
}

static void
issue_read(struct rlist *rl)
{
    char count[16], first[32], d[32], timeout[32];
    const char *argv[8];
    redisAsyncContext *conn = rl->rp.blk;
    int argc = 0;

    if (!rl->rp.up || rl->read_outstanding || rl->n_held > 0 ||
        rl->user_paused || rl->stopped || rl->closing ||
        rl->st.inflight > RL_MAX_INFLIGHT)
        return;
    if (rl->reconcile || !rl->live) {
        snprintf(d, sizeof(d), "%lld", rl->have_d ? (long long)rl->d : -1LL);
        snprintf(first, sizeof(first), "%" PRIu64, rl->next_seq);
        argv[argc++] = "EVAL";
        argv[argc++] = reconcile_script;
        argv[argc++] = "2";
        argv[argc++] = rl->inflight;
        argv[argc++] = rl->seqs;
        argv[argc++] = d;
        argv[argc++] = first;
        rl->read_kind = RD_RECONCILE;
        rl->recon_d = rl->d;
        rl->reconcile = 0;
        rl->live = 0;
        /*
         * On the command connection, behind every acknowledgement sent
         * there: a value whose ack script was confirmed is gone, and one
         * not yet confirmed is still held here and skipped.
         */
        conn = rl->rp.cmd;
    } else if (rl->next_block) {
        snprintf(timeout, sizeof(timeout), "%" PRIu32 ".%03" PRIu32,
                 rl->env.redis_block_ms / 1000, rl->env.redis_block_ms % 1000);
        argv[argc++] = "BLMOVE";
        argv[argc++] = rl->list;
        argv[argc++] = rl->list;
        argv[argc++] = "LEFT";
        argv[argc++] = "LEFT";
        argv[argc++] = timeout;
        rl->read_kind = RD_WAIT;
    } else {
        snprintf(count, sizeof(count), "%" PRIu32, rl->env.batch_max);
        snprintf(first, sizeof(first), "%" PRIu64, rl->next_seq);
        argv[argc++] = "EVAL";
        argv[argc++] = move_script;
        argv[argc++] = "3";
        argv[argc++] = rl->list;
        argv[argc++] = rl->inflight;
        argv[argc++] = rl->seqs;
        argv[argc++] = count;
        argv[argc++] = first;
        rl->read_kind = RD_MOVE;
        rl->read_first = rl->next_seq;
    }
    if (redisAsyncCommandArgv(conn, on_read, rl, argc, argv, NULL) ==
        REDIS_OK) {
        rl->read_outstanding = 1;
        rl->read_gen = rl->gen;
    } else if (rl->read_kind == RD_RECONCILE) {
        rl->reconcile = 1;
    }
}

/* ---- connection ------------------------------------------------------- */

static void
on_up(void *owner)
{
    struct rlist *rl = owner;

    rl->st.connected = 1;
    rl->reconcile = 1; /* move replies may have been lost */
    if (flush_held(rl))
        issue_read(rl);
}

static void
on_down(void *owner)
{
    struct rlist *rl = owner;

    rl->st.connected = 0;
    rl->read_outstanding = 0;
}

/* ---- ops -------------------------------------------------------------- */

static int
rl_start(struct sift_source *src)
{
    struct rlist *rl = (struct rlist *)src;
    struct sift_srcpos pos = {NULL, 0, 0};

    if (rl->env.sink.position &&
        rl->env.sink.position(rl->env.sink.arg, rl->key, &pos) == SIFT_OK) {
        rl->d = pos.hi;
        rl->have_d = 1;
        rl->next_seq = pos.hi + 1;
    }
    if (rl->next_seq == 0)
        rl->next_seq = 1;
    sift__redis_pair_connect(&rl->rp);
    return SIFT_OK;
}

static void
rl_pause(struct sift_source *src)
{
    struct rlist *rl = (struct rlist *)src;
    rl->user_paused++;
}

static void
rl_stop(struct sift_source *src)
{
    struct rlist *rl = (struct rlist *)src;
    rl->stopped = 1;
}

static void
rl_stats(struct sift_source *src, struct sift_source_stats *out)
{
    struct rlist *rl = (struct rlist *)src;
    *out = rl->st;
    out->reconnects = rl->rp.reconnects;
    out->paused = rl->user_paused > 0 || rl->n_held > 0 || rl->stopped;
    out->lag = -1;
}

static void
rl_parts(struct sift_source *src, sift_source_part_cb cb, void *arg)
{
    struct rlist *rl = (struct rlist *)src;
    struct sift_source_part p = {rl->key, -1, -1, rl->st.inflight};
    cb(arg, &p);
}

static void
rl_free(struct sift_source *src)
{
    struct rlist *rl = (struct rlist *)src;
    struct lbatch *b;
    int durable = 0;

    rl->stopped = 1;
    for (b = rl->head; b; b = b->next)
        durable |= b->state == LB_DURABLE;
    /* Durable values not yet popped: pop them now. */
    if (durable && rl->have_d && rl->rp.host) {
        char d[32];
        const char *argv[6] = {"EVAL",       ack_script, "2",
                               rl->inflight, rl->seqs,   d};
        snprintf(d, sizeof(d), "%" PRIu64, rl->d);
        if (sift__redis_sync_argv(rl->rp.host, rl->rp.port, 6, argv, NULL) ==
            SIFT_OK)
            free_acked(rl, rl->d);
    }
    rl->closing = 1;
    sift__redis_pair_cleanup(&rl->rp);
    while ((b = rl->head)) {
        list_unlink(rl, b);
        b->in_deliver = 0;
        lbatch_free(b);
    }
    if (rl->ev_retry)
        event_free(rl->ev_retry);
    sift_free(rl->list);
    sift_free(rl->inflight);
    sift_free(rl->seqs);
    sift_free(rl->key);
    sift_free(rl->consumer);
    sift_free(rl->base.label);
    sift_free(rl);
}

static const struct sift_source_ops rl_ops = {
    "redis-list", rl_start, rl_pause, rl_stop,
    rl_stats,     rl_parts, rl_free,  NULL,
};

int
sift_source_redis_list_new(const struct sift_source_env *env, const char *list,
                           struct sift_source **out)
{
    const struct sift_config *cfg = env->cfg;
    struct rlist *rl;
    char *host = NULL;
    int port = 0;
    char buf[1024];

    *out = NULL;
    if (!cfg->redis_address || !cfg->redis_address[0] || !list[0] ||
        sift__ingest_parse_addr(cfg->redis_address, &host, &port) < 0) {
        SIFT_ERROR("redis: bad redis.address '%s' or list name",
                   cfg->redis_address ? cfg->redis_address : "");
        return SIFT_ECONFIG;
    }
    rl = sift_xcalloc(1, sizeof(*rl));
    rl->base.ops = &rl_ops;
    snprintf(buf, sizeof(buf), "redis-list:%s", list);
    rl->base.label = sift_xstrdup(buf);
    rl->env = *env;
    if (!rl->env.batch_max)
        rl->env.batch_max = 500;
    if (!rl->env.retry_ms)
        rl->env.retry_ms = 50;
    if (!rl->env.redis_block_ms)
        rl->env.redis_block_ms = 2000;
    rl->list = sift_xstrdup(list);
    rl->consumer = sift__ingest_consumer_name(cfg, env->node_id);
    snprintf(buf, sizeof(buf), "%s:inflight:%s", list, rl->consumer);
    rl->inflight = sift_xstrdup(buf);
    snprintf(buf, sizeof(buf), "%s:inflight:%s:seq", list, rl->consumer);
    rl->seqs = sift_xstrdup(buf);
    snprintf(buf, sizeof(buf), "redis-list/%s", list);
    rl->key = sift_xstrdup(buf);
    rl->ev_retry = evtimer_new(env->base, on_retry, rl);
    sift__redis_pair_init(&rl->rp, env->base, host, port, on_up, on_down, rl);
    sift_free(host);
    *out = &rl->base;
    return SIFT_OK;
}
