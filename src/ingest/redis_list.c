/*
 * redis_list.c - a Redis list source for rsyslog's omhiredis queue mode
 * (RPUSH with userpush=on, LPUSH otherwise), as a reliable queue.
 *
 * Design (one source per list, two connections from redis_common.c):
 *  - Each value is moved atomically from <list> to this consumer's
 *    in-flight list "<list>:inflight:<consumer>" and removed from there
 *    (LREM <inflight> 1 <value>) only after the sink reported its batch
 *    durable.  A crash leaves the values in the in-flight list.
 *  - Reading, on the blocking connection, one command at a time: a small
 *    Lua script moves up to batch_max values with LMOVE LEFT RIGHT (one
 *    round trip per batch, atomic); when it returns nothing, BLMOVE
 *    <list> <inflight> LEFT RIGHT <block> waits for the next value, so an
 *    idle list costs one blocked command, never a busy loop.
 *  - Recovery, on start, on every reconnect and after a failed ack:
 *    LRANGE <inflight> 0 -1, minus the values this process already holds
 *    (a multiset match on the bytes), is delivered again.  That covers
 *    values a previous run left behind and values whose BLMOVE reply was
 *    lost with the connection.  The LRANGE is sent on the command
 *    connection, ordered after the LREMs, so a value whose LREM is
 *    confirmed is never in the reply (see issue_read).
 *  - LREM replies are tracked per value; only unconfirmed ones are sent
 *    again after a reconnect, so a duplicate value is never removed
 *    twice.
 *
 * Lists have no ids: a crash between the fsync and the LREM delivers
 * those values again (at-least-once).  No source position is stored.
 *
 * Thread: loop thread only.
 */
#include <inttypes.h>
#include <stdio.h>
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

static const char move_script[] =
    "local out = {} "
    "for i = 1, tonumber(ARGV[1]) do "
    "  local v = redis.call('LMOVE', KEYS[1], KEYS[2], 'LEFT', 'RIGHT') "
    "  if not v then break end "
    "  out[#out + 1] = v "
    "end "
    "return out";

enum lb_state { LB_HELD, LB_INFLIGHT, LB_DURABLE };
enum { V_WAIT = 0, V_SENT = 1, V_DONE = 2 };

struct rlist;

struct lbatch {
    struct rlist *rl;
    int state;
    int in_deliver, free_pending;
    size_t n;
    size_t n_done;        /* LREMs confirmed */
    struct sift_buf data; /* the values, back to back */
    size_t *off;          /* value i = data[off[i] .. off[i+1]) */
    uint8_t *vstate;      /* V_* per value (LREM progress) */
    uint8_t *matched;     /* scratch for the recovery match */
    struct lbatch *prev, *next;
};

struct lrem_req {
    struct lbatch *b;
    size_t i;
};

struct rlist {
    struct sift_source base;
    struct sift_source_env env;
    struct sift__redis_pair rp;
    char *list, *inflight, *key, *consumer;
    int live;       /* recovery done, reading the list */
    int next_block; /* last move was empty: BLMOVE next */
    int last_kind;  /* 0 LRANGE, 1 EVAL move, 2 BLMOVE */
    int recover;    /* run a recovery pass next */
    int read_outstanding;
    int user_paused, stopped, closing;
    struct event *ev_retry;
    struct lbatch *head, *tail;
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
    sift_free(b->vstate);
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
    b->vstate = sift_xcalloc(cap ? cap : 1, 1);
    b->matched = sift_xcalloc(cap ? cap : 1, 1);
    return b;
}

static void
lbatch_add(struct lbatch *b, const char *p, size_t len)
{
    sift_buf_append(&b->data, p, len);
    b->n++;
    b->off[b->n] = b->data.len;
}

/* ---- LREM ------------------------------------------------------------- */

static void
on_lrem(redisAsyncContext *c, void *r, void *priv)
{
    struct lrem_req *q = priv;
    struct lbatch *b = q->b;
    struct rlist *rl = b->rl;
    redisReply *reply = r;
    size_t i = q->i;
    (void)c;

    sift_free(q);
    if (rl->closing)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply)
            SIFT_WARN("redis: LREM %s: %s", rl->inflight, reply->str);
        b->vstate[i] = V_WAIT; /* sent again after the reconnect */
        return;
    }
    b->vstate[i] = V_DONE;
    if (++b->n_done == b->n) {
        rl->st.msgs_acked += b->n;
        if (rl->st.inflight >= b->n)
            rl->st.inflight -= b->n;
        list_unlink(rl, b);
        lbatch_free(b);
        issue_read(rl);
    }
}

static void
send_lrems(struct rlist *rl, struct lbatch *b)
{
    if (!rl->rp.up)
        return;
    for (size_t i = 0; i < b->n; i++) {
        const char *argv[4] = {"LREM", rl->inflight, "1",
                               b->data.data + b->off[i]};
        size_t argvlen[4] = {4, strlen(rl->inflight), 1,
                             b->off[i + 1] - b->off[i]};
        struct lrem_req *q;
        if (b->vstate[i] != V_WAIT)
            continue;
        q = sift_xmalloc(sizeof(*q));
        q->b = b;
        q->i = i;
        if (redisAsyncCommandArgv(rl->rp.cmd, on_lrem, q, 4, argv, argvlen) !=
            REDIS_OK) {
            sift_free(q);
            return;
        }
        b->vstate[i] = V_SENT;
    }
}

/* ---- delivery --------------------------------------------------------- */

static void
on_ack(void *arg, int rc)
{
    struct lbatch *b = arg;
    struct rlist *rl = b->rl;

    if (rc == SIFT_OK) {
        b->state = LB_DURABLE;
        send_lrems(rl, b);
        return;
    }
    rl->st.batches_failed++;
    if (rl->st.inflight >= b->n)
        rl->st.inflight -= b->n;
    SIFT_WARN("redis: %zu values of %s not durable (%s); reading them again",
              b->n, rl->list, sift_strerror(rc));
    list_unlink(rl, b);
    lbatch_free(b);
    rl->recover = 1;
    if (!rl->closing)
        issue_read(rl);
}

static int
lbatch_deliver(struct rlist *rl, struct lbatch *b)
{
    struct sift_source_msg *msgs = sift_xcalloc(b->n, sizeof(*msgs));
    struct sift_source_batch batch;
    int rc;

    for (size_t i = 0; i < b->n; i++) {
        msgs[i].data = b->data.data + b->off[i];
        msgs[i].len = (uint32_t)(b->off[i + 1] - b->off[i]);
        msgs[i].pos.key = rl->key;
    }
    batch.source = "redis-list";
    batch.origin = rl->list;
    batch.n_msgs = b->n;
    batch.msgs = msgs;
    batch.n_pos = 0;
    batch.pos = NULL;
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

/* Does this process already hold an unmatched copy of v?  Marks it. */
static int
match_known(struct rlist *rl, const char *v, size_t len)
{
    for (struct lbatch *b = rl->head; b; b = b->next) {
        for (size_t i = 0; i < b->n; i++) {
            if (b->matched[i] || b->vstate[i] == V_DONE ||
                b->off[i + 1] - b->off[i] != len ||
                memcmp(b->data.data + b->off[i], v, len) != 0)
                continue;
            b->matched[i] = 1;
            return 1;
        }
    }
    return 0;
}

/* Turns an array (or one string) reply into batches of batch_max. */
static void
take_values(struct rlist *rl, const redisReply *reply, int recovering)
{
    const redisReply *one[1];
    const redisReply *const *el;
    size_t n;
    struct lbatch *b = NULL;

    if (reply->type == REDIS_REPLY_STRING) {
        one[0] = reply;
        el = one;
        n = 1;
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        el = (const redisReply *const *)reply->element;
        n = reply->elements;
    } else {
        return;
    }
    if (recovering)
        for (struct lbatch *x = rl->head; x; x = x->next)
            memset(x->matched, 0, x->n ? x->n : 1);
    for (size_t i = 0; i < n; i++) {
        const redisReply *v = el[i];
        if (!v || v->type != REDIS_REPLY_STRING)
            continue;
        if (recovering && match_known(rl, v->str, v->len))
            continue;
        if (!b)
            b = lbatch_new(rl, rl->env.batch_max);
        lbatch_add(b, v->str, v->len);
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
    (void)c;

    rl->read_outstanding = 0;
    if (rl->closing || !reply)
        return; /* the reconnect path restarts reading */
    if (reply->type == REDIS_REPLY_ERROR) {
        SIFT_WARN("redis: read %s: %s", rl->list, reply->str);
        schedule_retry(rl);
        return;
    }
    if (rl->last_kind == 0) {
        take_values(rl, reply, 1);
        rl->live = 1;
        rl->next_block = 0;
    } else {
        int got = reply->type == REDIS_REPLY_STRING ||
                  (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0);
        take_values(rl, reply, 0);
        /* One blocked value in: sweep up what followed it in one go. */
        rl->next_block = !got;
    }
    issue_read(rl);
}

static void
issue_read(struct rlist *rl)
{
    char count[16], timeout[32];
    const char *argv[8];
    int argc = 0;

    if (!rl->rp.up || rl->read_outstanding || rl->n_held > 0 ||
        rl->user_paused || rl->stopped || rl->closing ||
        rl->st.inflight > RL_MAX_INFLIGHT)
        return;
    if (rl->recover) {
        rl->recover = 0;
        rl->live = 0;
    }
    if (!rl->live) {
        argv[argc++] = "LRANGE";
        argv[argc++] = rl->inflight;
        argv[argc++] = "0";
        argv[argc++] = "-1";
        rl->last_kind = 0;
    } else if (rl->next_block) {
        snprintf(timeout, sizeof(timeout), "%" PRIu32 ".%03" PRIu32,
                 rl->env.redis_block_ms / 1000, rl->env.redis_block_ms % 1000);
        argv[argc++] = "BLMOVE";
        argv[argc++] = rl->list;
        argv[argc++] = rl->inflight;
        argv[argc++] = "LEFT";
        argv[argc++] = "RIGHT";
        argv[argc++] = timeout;
        rl->last_kind = 2;
    } else {
        snprintf(count, sizeof(count), "%" PRIu32, rl->env.batch_max);
        argv[argc++] = "EVAL";
        argv[argc++] = move_script;
        argv[argc++] = "2";
        argv[argc++] = rl->list;
        argv[argc++] = rl->inflight;
        argv[argc++] = count;
        rl->last_kind = 1;
    }
    /*
     * The recovery LRANGE goes on the command connection, behind every
     * LREM already sent there: Redis runs one connection's commands in
     * order and hiredis answers them in order, so when the LRANGE reply
     * arrives, every LREM confirmed before it ran before it (its value is
     * not in the reply) and every one still unconfirmed is V_SENT/V_WAIT
     * and matched.  On the blocking connection the two raced: an LREM
     * confirmed first but run after the LRANGE left its value in the
     * reply with nothing to match it, and it was delivered twice.
     */
    if (redisAsyncCommandArgv(rl->last_kind == 0 ? rl->rp.cmd : rl->rp.blk,
                              on_read, rl, argc, argv, NULL) == REDIS_OK)
        rl->read_outstanding = 1;
}

/* ---- connection ------------------------------------------------------- */

static void
on_up(void *owner)
{
    struct rlist *rl = owner;

    rl->st.connected = 1;
    rl->live = 0; /* recover first: BLMOVE replies may have been lost */
    for (struct lbatch *b = rl->head; b; b = b->next)
        if (b->state == LB_DURABLE)
            send_lrems(rl, b);
    if (flush_held(rl))
        issue_read(rl);
}

static void
on_down(void *owner)
{
    struct rlist *rl = owner;

    rl->st.connected = 0;
    rl->read_outstanding = 0;
    for (struct lbatch *b = rl->head; b; b = b->next)
        for (size_t i = 0; i < b->n; i++)
            if (b->vstate[i] == V_SENT)
                b->vstate[i] = V_WAIT;
}

/* ---- ops -------------------------------------------------------------- */

static int
rl_start(struct sift_source *src)
{
    struct rlist *rl = (struct rlist *)src;
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
rl_resume(struct sift_source *src)
{
    struct rlist *rl = (struct rlist *)src;
    if (rl->user_paused > 0)
        rl->user_paused--;
    if (flush_held(rl))
        issue_read(rl);
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

    rl->stopped = 1;
    /* Durable values whose LREM is not confirmed: remove them now. */
    for (b = rl->head; b; b = b->next) {
        if (b->state != LB_DURABLE || !rl->rp.host)
            continue;
        for (size_t i = 0; i < b->n; i++) {
            const char *argv[4] = {"LREM", rl->inflight, "1",
                                   b->data.data + b->off[i]};
            size_t argvlen[4] = {4, strlen(rl->inflight), 1,
                                 b->off[i + 1] - b->off[i]};
            if (b->vstate[i] == V_DONE)
                continue;
            if (sift__redis_sync_argv(rl->rp.host, rl->rp.port, 4, argv,
                                      argvlen) < 0)
                break;
            rl->st.msgs_acked++;
        }
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
    sift_free(rl->key);
    sift_free(rl->consumer);
    sift_free(rl->base.label);
    sift_free(rl);
}

static const struct sift_source_ops rl_ops = {
    "redis-list", rl_start, rl_pause, rl_resume,
    rl_stop,      rl_stats, rl_parts, rl_free,
};

int
sift_source_redis_list_new(const struct sift_source_env *env, const char *list,
                           struct sift_source **out)
{
    const struct sift_config *cfg = env->cfg;
    struct rlist *rl;
    char *host = NULL;
    int port = 0;
    char buf[512];

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
    rl->consumer = sift__ingest_consumer_name(cfg);
    snprintf(buf, sizeof(buf), "%s:inflight:%s", list, rl->consumer);
    rl->inflight = sift_xstrdup(buf);
    snprintf(buf, sizeof(buf), "redis-list/%s", list);
    rl->key = sift_xstrdup(buf);
    rl->ev_retry = evtimer_new(env->base, on_retry, rl);
    sift__redis_pair_init(&rl->rp, env->base, host, port, on_up, on_down, rl);
    sift_free(host);
    *out = &rl->base;
    return SIFT_OK;
}
