/*
 * kafka.c - the Kafka consumer-group source (librdkafka).
 *
 * What: subscribes to [kafka] topics (names or "^regex") in group
 * kafka.group, hands messages to the sink in per-partition batches, and
 * commits offset+1 of the durable prefix of each partition only after
 * the sink's ack_cb reported the batch durable.
 *
 * Design:
 *  - The consumer queue (main queue forwarded into it) wakes the libevent
 *    loop through rd_kafka_queue_io_event_enable() on a non-blocking
 *    pipe; the read event drains the queue with rd_kafka_consumer_poll(rk,
 *    0), so rebalance callbacks and messages are served on the loop
 *    thread and nothing busy-polls.  A 1 s timer polls as a safety net
 *    (liveness for max.poll.interval.ms while everything is paused).
 *  - Positions: each partition's key is "kafka/<topic>/<partition>".  On
 *    assignment the rebalance callback asks the sink for the last offset
 *    sift holds and assigns at hi+1, so a restart or rebalance indexes
 *    nothing twice and skips nothing; without a stored position the
 *    group's committed offset (or earliest) applies.  When the group's
 *    committed offset is past hi+1, another member (a cluster node,
 *    docs/cluster.md) read the partition while this one did not own it:
 *    reading starts there, never re-reading what that member stored.
 *  - In-flight batches of a partition form a FIFO in delivery order; an
 *    ack marks its batch done and the done prefix advances durable_next,
 *    which a coalesced async commit sends to the group (for lag tools).
 *  - Revoke: commit the durable prefix synchronously, then forget the
 *    in-flight and held batches of those partitions (they become orphans
 *    that free themselves on their ack; nothing is committed for them,
 *    the new owner re-reads from the committed/stored offset).  Waiting
 *    for their fsync is impossible here: the rebalance callback runs on
 *    the loop that drives the WAL timer.
 *  - Backpressure: deliver != SIFT_OK holds the batch (and every later
 *    one, to keep order) and retries after retry_ms.  While a batch is
 *    held the consumer queue is not drained: messages stay in
 *    librdkafka's queue, whose fetcher stops by itself at
 *    queued.max.messages.kbytes, so memory stays bounded and nothing
 *    fetched is thrown away.  Pausing the partitions instead would purge
 *    their prefetched messages, fetched again on resume (a third of the
 *    throughput under a long backlog, docs/internals/ingest-bench.md).
 *    Rebalance ops queue behind the messages, so they wait for the hold;
 *    a hold longer than hold_max_ms (10 s, at most half of
 *    max.poll.interval.ms) falls back to pausing all assigned partitions
 *    and polling again, which keeps the member alive and serves
 *    rebalances while the store stays refused (disk full, stuck flush).
 *    The drain's pause (sift_source_pause()) pauses partitions at once.
 *  - A failed ack (rc < 0) seeks the partition back to the batch's first
 *    offset and orphans the later in-flight batches of that partition;
 *    those that still become durable are remembered as skip ranges, so
 *    the re-read indexes only what was lost.
 *
 *  - Group membership (docs/internals/ingest.md, "Kafka restarts"):
 *    static (group.instance.id = kafka.instance_id or the node id), so a
 *    broker hands a restarted siftd its partitions back at once after a
 *    crash; cooperative-sticky assignment, so a rebalance moves only the
 *    partitions that change owner; session.timeout.ms 10 s, so a member
 *    that died for good (or a broker without static membership) is
 *    replaced in seconds.  kafka.properties overrides each of them.
 *  - Cluster handoff (env.peers set, docs/internals/cluster.md): a newly
 *    assigned partition stays paused until every other node said how far
 *    it holds the partition (once its own events of it are durable); it
 *    then seeks past the furthest offset held and resumes.  A peer silent
 *    for env.peers.wait_ms is given up on (warning).  Messages fetched
 *    before the pause are dropped and read again after the seek.  The
 *    handoff also waits for this node's own batches of the partition that
 *    a revoke orphaned, then takes its own position again.
 *  - Stale fetches (kpart.next_off): librdkafka applies an assignment on
 *    its own thread, so the fetch it starts at the assignment's offset (the
 *    group's committed one) can begin after the handoff's seek and deliver
 *    the records between the committed offset and what a peer holds: the
 *    records a peer made durable and had not committed when it was killed
 *    (the cause of the duplicates after a kill -9 and a quick return).
 *    Each partition therefore takes only offsets from where reading was
 *    meant to start (assignment, handoff seek, seek-back) upwards and
 *    past what it already took; a fetch from below is dropped.
 *  - Stop: sift_source_free() (after the store ran every ack) commits the
 *    durable prefix, unsubscribes (which revokes and sends LeaveGroup:
 *    librdkafka's close alone never does for a static member, KIP-345),
 *    then closes the consumer.  A stopped siftd's partitions thus move to
 *    the other members at once, and a restarted one joins a group that
 *    does not wait for its old self.
 *
 * Invariants: every rd_kafka_message_t is destroyed right after a
 * successful deliver, or when its held batch is dropped; committed
 * offsets never pass a batch that is not durable.
 *
 * Thread: loop thread only (librdkafka's own threads only call log_cb).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <librdkafka/rdkafka.h>

#include "sift/alloc.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/source.h"

#include "ingest/ingest_int.h"

#define KAFKA_COMMITTED_TIMEOUT_MS 5000 /* rd_kafka_committed() on assign */
#define KAFKA_POLL_MAX 5000 /* messages per wakeup before yielding */
#define KAFKA_SAFETY_POLL_MS 1000
#define KAFKA_HOLD_MAX_MS 10000 /* longest hold without polling */
#define KAFKA_LEAVE_MAX_MS 3000 /* longest wait for the LeaveGroup at stop */

struct kpart;
struct kafka_src;

enum kbatch_state { KB_HELD, KB_INFLIGHT, KB_DONE };

struct kbatch {
    struct kafka_src *ks;
    struct kpart *part;
    int orphan; /* 1: revoked, 2: dropped by a seek-back */
    uint32_t epoch;
    int state;
    int in_deliver; /* ack may arrive inside deliver */
    int free_pending;
    int64_t first, last;
    size_t n;
    rd_kafka_message_t **msgs; /* owned while held */
    struct kbatch *next;       /* per-partition in-flight FIFO */
    struct kbatch *hnext;      /* held queue, global order */
};

struct kpart {
    struct kafka_src *ks;
    char *topic;
    int32_t partition;
    char *key;
    uint32_t orphans; /* revoked batches still on their way to the WAL */
    /* Cluster handoff (see the top): paused until the peers said how far
     * they hold this partition. */
    int handoff;
    void *handoff_call;       /* the peers' answer pending, or NULL */
    int64_t handoff_deadline; /* monotonic ms: stop waiting then */
    int64_t start;            /* where the assignment started, -1 unknown */
    /*
     * The lowest offset to take (-1: any): set where reading starts (an
     * assignment, a handoff's seek, a seek-back) and moved past every
     * message taken.  librdkafka applies an assignment on its own thread:
     * the fetch it starts at the assignment's offset can come after a
     * handoff's seek, and then re-delivers what a peer holds; a message
     * below this is dropped, never stored twice.
     */
    int64_t next_off;
    uint32_t epoch;
    int assigned;
    int dirty;            /* durable_next not yet committed */
    int64_t durable_next; /* next offset after the durable prefix */
    int64_t committed;    /* last committed next offset, -1 none */
    uint64_t inflight;    /* messages delivered, not durable */
    struct kbatch *fl_head, *fl_tail;
    /*
     * Offset ranges that became durable after a seek-back dropped them
     * from the FIFO: re-read messages inside them are skipped, so a
     * failed batch followed by durable ones indexes nothing twice.
     */
    int64_t (*skip)[2];
    size_t n_skip;
    struct kpart *next;
};

struct kafka_src {
    struct sift_source base;
    struct sift_source_env env;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    int pipe_fd[2];
    struct event *ev_read;
    struct event *ev_timer;   /* safety poll */
    struct event *ev_retry;   /* EBUSY retry, one-shot */
    struct event *ev_commit;  /* coalesced commit, activated */
    struct event *ev_more;    /* queue not drained, activated */
    struct event *ev_handoff; /* retries asking silent peers, 500 ms */
    char **topics;
    size_t n_topics;
    struct kpart *parts;
    struct kbatch *held_head, *held_tail;
    int user_paused;
    int kafka_paused; /* partitions currently paused */
    int coop;         /* cooperative rebalancing: 1, eager: 0, -1 unknown */
    char *group, *instance_id; /* instance_id NULL: dynamic member */
    int64_t hold_since_ms;     /* monotonic start of the current hold, 0 none */
    int64_t hold_max_ms;       /* then pause partitions and poll again */
    int started, stopped, closing;
    struct sift_source_stats st;
};

static void kafka_poll(struct kafka_src *ks);
static void update_pause(struct kafka_src *ks);

/* ---- partitions and batches ------------------------------------------- */

static struct kpart *
part_get(struct kafka_src *ks, const char *topic, int32_t partition)
{
    struct kpart *p;
    char key[512];

    for (p = ks->parts; p; p = p->next)
        if (p->partition == partition && !strcmp(p->topic, topic))
            return p;
    p = sift_xcalloc(1, sizeof(*p));
    p->ks = ks;
    p->topic = sift_xstrdup(topic);
    p->partition = partition;
    snprintf(key, sizeof(key), "kafka/%s/%" PRId32, topic, partition);
    p->key = sift_xstrdup(key);
    p->durable_next = -1;
    p->committed = -1;
    p->next_off = -1;
    p->next = ks->parts;
    ks->parts = p;
    return p;
}

static void
batch_drop_msgs(struct kbatch *b)
{
    for (size_t i = 0; i < b->n && b->msgs; i++)
        if (b->msgs[i])
            rd_kafka_message_destroy(b->msgs[i]);
    sift_free(b->msgs);
    b->msgs = NULL;
}

static void
batch_free(struct kbatch *b)
{
    if (b->in_deliver) {
        b->free_pending = 1;
        return;
    }
    batch_drop_msgs(b);
    sift_free(b);
}

/* Pops done batches off the FIFO head and advances the durable prefix. */
static void
part_advance(struct kafka_src *ks, struct kpart *p)
{
    while (p->fl_head && p->fl_head->state == KB_DONE) {
        struct kbatch *b = p->fl_head;
        p->fl_head = b->next;
        if (!p->fl_head)
            p->fl_tail = NULL;
        p->durable_next = b->last + 1;
        p->dirty = 1;
        batch_free(b);
    }
    if (p->dirty && ks->ev_commit)
        event_active(ks->ev_commit, EV_TIMEOUT, 0);
}

/* Forgets every in-flight batch of p: they free themselves on ack. */
static void
part_orphan_inflight(struct kafka_src *ks, struct kpart *p, int kind)
{
    struct kbatch *b = p->fl_head;
    while (b) {
        struct kbatch *nx = b->next;
        b->next = NULL;
        b->orphan = kind;
        if (b->state == KB_DONE)
            batch_free(b);
        else if (kind == 1)
            p->orphans++;
        b = nx;
    }
    p->fl_head = p->fl_tail = NULL;
    ks->st.inflight -=
        p->inflight < ks->st.inflight ? p->inflight : ks->st.inflight;
    p->inflight = 0;
}

/* Drops the held batches of p (or of every partition when p is NULL). */
static void
held_drop(struct kafka_src *ks, const struct kpart *p)
{
    struct kbatch **pp = &ks->held_head, *b;

    ks->held_tail = NULL;
    while ((b = *pp)) {
        if (!p || b->part == p) {
            *pp = b->hnext;
            batch_free(b);
        } else {
            ks->held_tail = b;
            pp = &b->hnext;
        }
    }
}

/* ---- commit ----------------------------------------------------------- */

/* Commits the durable prefix of dirty partitions (or just `only`). */
static void
commit_parts(struct kafka_src *ks, const struct kpart *only, int async)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    rd_kafka_resp_err_t err;

    for (struct kpart *p = ks->parts; p; p = p->next) {
        if (only && p != only)
            continue;
        if (!p->assigned || !p->dirty || p->durable_next < 0 ||
            p->durable_next == p->committed)
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
            p->durable_next;
        p->committed = p->durable_next;
        p->dirty = 0;
    }
    if (l->cnt > 0) {
        err = rd_kafka_commit(ks->rk, l, async);
        if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
            SIFT_WARN("kafka: commit of %d partitions: %s", l->cnt,
                      rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void
on_commit_event(evutil_socket_t fd, short what, void *arg)
{
    struct kafka_src *ks = arg;
    (void)fd;
    (void)what;
    commit_parts(ks, NULL, 1);
}

/* ---- delivery --------------------------------------------------------- */

static void
on_ack(void *arg, int rc)
{
    struct kbatch *b = arg;
    struct kafka_src *ks = b->ks;
    struct kpart *p = b->part;
    int64_t seek_to;

    if (b->orphan) {
        /* Orphaned by a revoke or a seek-back: nothing to commit. */
        if (b->orphan == 1 && p->orphans > 0)
            p->orphans--;
        if (b->orphan == 2 && rc == SIFT_OK && p->assigned) {
            p->skip =
                sift_xrealloc(p->skip, (p->n_skip + 1) * sizeof(*p->skip));
            p->skip[p->n_skip][0] = b->first;
            p->skip[p->n_skip][1] = b->last;
            p->n_skip++;
        }
        batch_free(b);
        return;
    }
    p->inflight -= b->n < p->inflight ? b->n : p->inflight;
    if (ks->st.inflight >= b->n)
        ks->st.inflight -= b->n;
    if (rc == SIFT_OK) {
        ks->st.msgs_acked += b->n;
        b->state = KB_DONE;
        part_advance(ks, p);
        return;
    }
    ks->st.batches_failed++;
    SIFT_WARN("kafka: batch %s [%" PRId64 "..%" PRId64 "] not durable (%s); "
              "reading it again",
              p->key, b->first, b->last, sift_strerror(rc));
    /*
     * Read again from the oldest batch not yet durable (the FIFO head,
     * which may be older than b); batches after it that still become
     * durable turn into skip ranges.
     */
    seek_to = p->fl_head ? p->fl_head->first : b->first;
    p->next_off = seek_to;
    b->state = KB_DONE;
    p->epoch++;
    part_orphan_inflight(ks, p, 2); /* may free b */
    b = NULL;
    held_drop(ks, p);
    if (!ks->closing && !ks->stopped && p->assigned) {
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_error_t *e;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
            seek_to;
        e = rd_kafka_seek_partitions(ks->rk, l, 0);
        if (e) {
            SIFT_ERROR("kafka: seek %s to %" PRId64 ": %s", p->key, seek_to,
                       rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        rd_kafka_topic_partition_list_destroy(l);
    }
    update_pause(ks);
}

/* Tries to hand b to the sink.  Returns SIFT_OK or the sink's code. */
static int
batch_deliver(struct kafka_src *ks, struct kbatch *b)
{
    struct kpart *p = b->part;
    struct sift_source_msg *msgs = sift_xcalloc(b->n, sizeof(*msgs));
    struct sift_source_batch batch;
    struct sift_srcpos pos;
    int rc;

    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_message_t *m = b->msgs[i];
        rd_kafka_timestamp_type_t tt;
        int64_t ts = rd_kafka_message_timestamp(m, &tt);
        msgs[i].data = m->payload ? (const char *)m->payload : "";
        msgs[i].len = (uint32_t)m->len;
        msgs[i].ts_ns = ts > 0 ? ts * 1000000 : 0;
        msgs[i].pos.key = p->key;
        msgs[i].pos.hi = (uint64_t)m->offset;
    }
    pos.key = p->key;
    pos.hi = (uint64_t)b->last;
    pos.lo = 0;
    batch.source = "kafka";
    batch.origin = p->topic;
    batch.n_msgs = b->n;
    batch.msgs = msgs;
    batch.n_pos = 1;
    batch.pos = &pos;

    /* Link first: the sink may ack before deliver returns. */
    b->state = KB_INFLIGHT;
    b->epoch = p->epoch;
    b->next = NULL;
    if (p->fl_tail)
        p->fl_tail->next = b;
    else
        p->fl_head = b;
    p->fl_tail = b;
    p->inflight += b->n;
    ks->st.inflight += b->n;
    b->in_deliver = 1;
    rc = ks->env.sink.deliver(ks->env.sink.arg, &batch, on_ack, b);
    b->in_deliver = 0;
    sift_free(msgs);
    if (rc != SIFT_OK) {
        /* Not taken: unlink (it is the tail, nothing ran after it). */
        struct kbatch **pp = &p->fl_head;
        while (*pp != b)
            pp = &(*pp)->next;
        *pp = NULL;
        p->fl_tail = NULL;
        for (struct kbatch *x = p->fl_head; x; x = x->next)
            p->fl_tail = x;
        p->inflight -= b->n;
        ks->st.inflight -= b->n;
        b->state = KB_HELD;
        ks->st.busy_retries++;
        return rc;
    }
    ks->st.msgs_delivered += b->n;
    batch_drop_msgs(b);
    if (b->free_pending) {
        b->free_pending = 0;
        batch_free(b);
    }
    return SIFT_OK;
}

static void
held_push(struct kafka_src *ks, struct kbatch *b)
{
    b->state = KB_HELD;
    b->hnext = NULL;
    if (ks->held_tail)
        ks->held_tail->hnext = b;
    else
        ks->held_head = b;
    ks->held_tail = b;
}

static void
schedule_retry(struct kafka_src *ks)
{
    if (ks->held_head && !ks->user_paused && !ks->stopped &&
        !evtimer_pending(ks->ev_retry, NULL)) {
        struct timeval tv = {(time_t)(ks->env.retry_ms / 1000),
                             (suseconds_t)(ks->env.retry_ms % 1000) * 1000};
        evtimer_add(ks->ev_retry, &tv);
    }
}

/* Delivers held batches in order while the sink takes them. */
static void
held_flush(struct kafka_src *ks)
{
    int was_held = ks->held_head != NULL;

    while (ks->held_head && !ks->user_paused && !ks->stopped) {
        struct kbatch *b = ks->held_head;
        if (batch_deliver(ks, b) != SIFT_OK)
            break;
        ks->held_head = b->hnext;
        if (!ks->held_head)
            ks->held_tail = NULL;
    }
    update_pause(ks);
    schedule_retry(ks);
    /* The queue was left undrained during the hold: read it again. */
    if (was_held && !ks->held_head && ks->ev_more)
        event_active(ks->ev_more, EV_TIMEOUT, 0);
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    held_flush(arg);
}

/* Turns a run of polled messages (one partition) into a batch. */
static void
take_run(struct kafka_src *ks, rd_kafka_message_t **msgs, size_t n)
{
    struct kpart *p =
        part_get(ks, rd_kafka_topic_name(msgs[0]->rkt), msgs[0]->partition);
    struct kbatch *b = sift_xcalloc(1, sizeof(*b));

    ks->st.msgs_read += n;
    if (!p->assigned || p->handoff) {
        /* Polled before a revoke that ran inside this poll: not ours.  Or
         * fetched before the handoff pause: read again from the offset
         * the handoff seeks to. */
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(msgs[i]);
        sift_free(b);
        return;
    }
    if (p->next_off >= 0) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (msgs[i]->offset < p->next_off)
                rd_kafka_message_destroy(msgs[i]);
            else
                msgs[k++] = msgs[i];
        }
        if (k < n)
            SIFT_INFO("kafka: %s: %zu messages below offset %" PRId64
                      " dropped (fetched again after a seek; held already)",
                      p->key, n - k, p->next_off);
        n = k;
        if (n == 0) {
            sift_free(b);
            return;
        }
    }
    p->next_off = msgs[n - 1]->offset + 1;
    if (p->n_skip > 0) {
        size_t k = 0;
        int64_t seen = msgs[n - 1]->offset;
        for (size_t i = 0; i < n; i++) {
            int64_t off = msgs[i]->offset;
            int skip = 0;
            for (size_t r = 0; r < p->n_skip; r++)
                if (off >= p->skip[r][0] && off <= p->skip[r][1])
                    skip = 1;
            if (skip)
                rd_kafka_message_destroy(msgs[i]);
            else
                msgs[k++] = msgs[i];
        }
        /* Ranges wholly behind the read position are done with. */
        for (size_t r = 0; r < p->n_skip;) {
            if (p->skip[r][1] <= seen)
                memmove(&p->skip[r], &p->skip[r + 1],
                        (--p->n_skip - r) * sizeof(*p->skip));
            else
                r++;
        }
        n = k;
        if (n == 0) {
            sift_free(b);
            return;
        }
    }
    b->ks = ks;
    b->part = p;
    b->n = n;
    b->msgs = sift_xmalloc(n * sizeof(*b->msgs));
    memcpy(b->msgs, msgs, n * sizeof(*msgs));
    b->first = msgs[0]->offset;
    b->last = msgs[n - 1]->offset;
    if (ks->held_head || ks->user_paused || ks->stopped ||
        batch_deliver(ks, b) != SIFT_OK) {
        held_push(ks, b);
        return;
    }
}

/* ---- pausing partitions ---------------------------------------------- */

static void
set_kafka_paused(struct kafka_src *ks, int pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    rd_kafka_resp_err_t err;

    if (rd_kafka_assignment(ks->rk, &l) || !l)
        return;
    if (!pause) {
        /* Partitions waiting for a handoff answer stay paused. */
        rd_kafka_topic_partition_list_t *r =
            rd_kafka_topic_partition_list_new(l->cnt > 0 ? l->cnt : 1);
        for (int i = 0; i < l->cnt; i++)
            if (!part_get(ks, l->elems[i].topic, l->elems[i].partition)
                     ->handoff)
                rd_kafka_topic_partition_list_add(r, l->elems[i].topic,
                                                  l->elems[i].partition);
        rd_kafka_topic_partition_list_destroy(l);
        l = r;
    }
    if (l->cnt > 0) {
        err = pause ? rd_kafka_pause_partitions(ks->rk, l)
                    : rd_kafka_resume_partitions(ks->rk, l);
        if (err)
            SIFT_WARN("kafka: %s partitions: %s", pause ? "pause" : "resume",
                      rd_kafka_err2str(err));
    }
    rd_kafka_topic_partition_list_destroy(l);
    ks->kafka_paused = pause;
}

static int64_t
mono_ms(void)
{
    return sift_clock_mono_ns() / SIFT_NS_PER_MS;
}

/*
 * Partitions are paused for a user pause or stop, and for a hold that
 * outlived hold_max_ms; a shorter hold only stops draining the queue
 * (draining_stopped).
 */
static void
update_pause(struct kafka_src *ks)
{
    int held = ks->held_head != NULL;
    int want = ks->user_paused || ks->stopped;

    if (!held)
        ks->hold_since_ms = 0;
    else if (!ks->hold_since_ms)
        ks->hold_since_ms = mono_ms();
    else if (mono_ms() - ks->hold_since_ms >= ks->hold_max_ms)
        want = 1;
    if (want != ks->kafka_paused && ks->rk) {
        if (want && !ks->user_paused && !ks->stopped)
            SIFT_WARN("kafka: store refused batches for %" PRId64
                      " ms; pausing partitions",
                      mono_ms() - ks->hold_since_ms);
        set_kafka_paused(ks, want);
    }
    ks->st.paused = want || held;
}

/* A short hold: leave messages in librdkafka's queue (see the top). */
static int
draining_stopped(const struct kafka_src *ks)
{
    return ks->held_head != NULL && !ks->kafka_paused;
}

/* ---- cluster handoff -------------------------------------------------- */

static void handoff_answer(void *arg, int all, int have, uint64_t hi);

static void
handoff_ask(struct kafka_src *ks, struct kpart *p)
{
    p->handoff_call =
        ks->env.peers.ask(ks->env.peers.arg, p->key, handoff_answer, p);
}

/* Ends p's handoff: seek past what the peers hold, resume. */
static void
handoff_end(struct kafka_src *ks, struct kpart *p, int all, int have,
            uint64_t hi)
{
    int64_t from = p->start;
    p->handoff = 0;
    /* What this node holds now: batches of its own that a revoke orphaned
     * became durable while it waited (handoff_answer waits for them). */
    struct sift_srcpos own = {NULL, 0, 0};
    if (ks->env.sink.position &&
        ks->env.sink.position(ks->env.sink.arg, p->key, &own) == SIFT_OK &&
        (int64_t)own.hi + 1 > from) {
        from = (int64_t)own.hi + 1;
        p->durable_next = from;
    }
    if (have && (int64_t)hi + 1 > from) {
        SIFT_INFO("kafka: %s: another node holds it up to offset %" PRIu64
                  "; reading from %" PRIu64,
                  p->key, hi, hi + 1);
        from = (int64_t)hi + 1;
        p->durable_next = from;
        p->dirty = 1;
        if (ks->ev_commit)
            event_active(ks->ev_commit, EV_TIMEOUT, 0);
    }
    if (!all)
        SIFT_WARN("kafka: %s: not every node answered within %lld ms; "
                  "reading from %s (events a silent node holds past it may "
                  "be stored twice)",
                  p->key, (long long)ks->env.peers.wait_ms,
                  from >= 0 ? "the position found" : "the committed offset");
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    /* Always seek: messages fetched before the pause were dropped. */
    tp->offset = from >= 0 ? from : RD_KAFKA_OFFSET_STORED;
    p->next_off = from;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(ks->rk, l, 0);
    if (e) {
        SIFT_WARN("kafka: %s: seek: %s", p->key, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    if (!ks->kafka_paused)
        rd_kafka_resume_partitions(ks->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void
handoff_answer(void *arg, int all, int have, uint64_t hi)
{
    struct kpart *p = arg;
    struct kafka_src *ks = p->ks;
    p->handoff_call = NULL;
    if (!p->handoff || !p->assigned)
        return;
    if (!all && mono_ms() < p->handoff_deadline)
        return; /* on_handoff_timer asks again */
    if (p->orphans > 0 && mono_ms() < p->handoff_deadline)
        return; /* its own revoked batches are not durable yet: again */
    handoff_end(ks, p, all, have, hi);
}

static void
on_handoff_timer(evutil_socket_t fd, short what, void *arg)
{
    struct kafka_src *ks = arg;
    (void)fd;
    (void)what;
    for (struct kpart *p = ks->parts; p; p = p->next)
        if (p->handoff && p->assigned && !p->handoff_call)
            handoff_ask(ks, p);
}

static void
handoff_cancel(struct kafka_src *ks, struct kpart *p)
{
    if (p->handoff_call)
        ks->env.peers.cancel(p->handoff_call);
    p->handoff_call = NULL;
    p->handoff = 0;
}

/* ---- rebalance -------------------------------------------------------- */

static void
on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
             rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct kafka_src *ks = opaque;
    /*
     * The protocol is fixed by the assignor config, which conf_membership()
     * read at creation; asked here only if that failed, and then once:
     * rd_kafka_rebalance_protocol() is a blocking request to the group
     * thread, and from the revoke that rd_kafka_consumer_close() triggers
     * it can wait forever (librdkafka issue 4041).  NULL while the group
     * has no protocol yet (a rebalance error): ask again next time.
     */
    if (ks->coop < 0 && !ks->closing) {
        const char *proto = rd_kafka_rebalance_protocol(rk);
        if (proto)
            ks->coop = !strcmp(proto, "COOPERATIVE");
    }
    int coop = ks->coop > 0;
    rd_kafka_error_t *e = NULL;
    rd_kafka_resp_err_t aerr = RD_KAFKA_RESP_ERR_NO_ERROR;

    ks->st.rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        /*
         * The group's committed offsets: in a cluster another node may
         * have read a partition further than the position this node
         * holds (it owned it while we were away); start at the later of
         * the two.  Alone, the committed offset is never past ours.
         */
        rd_kafka_topic_partition_list_t *committed =
            parts->cnt > 0 ? rd_kafka_topic_partition_list_copy(parts) : NULL;
        if (committed &&
            rd_kafka_committed(rk, committed, KAFKA_COMMITTED_TIMEOUT_MS) !=
                RD_KAFKA_RESP_ERR_NO_ERROR) {
            SIFT_WARN("kafka: cannot read the group's committed offsets; "
                      "starting at the positions sift holds");
            rd_kafka_topic_partition_list_destroy(committed);
            committed = NULL;
        }
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            struct kpart *p = part_get(ks, tp->topic, tp->partition);
            struct sift_srcpos pos = {NULL, 0, 0};
            int64_t group_next = -1;
            p->epoch++;
            p->assigned = 1;
            p->dirty = 0;
            p->durable_next = -1;
            p->next_off = -1;
            if (committed && committed->elems[i].err == 0)
                group_next = committed->elems[i].offset;
            if (ks->env.sink.position &&
                ks->env.sink.position(ks->env.sink.arg, p->key, &pos) ==
                    SIFT_OK) {
                tp->offset = (int64_t)pos.hi + 1;
                if (group_next > tp->offset) {
                    SIFT_INFO("kafka: %s was read up to offset %" PRId64
                              " by another member since sift held it "
                              "(up to %" PRId64 ")",
                              p->key, group_next, tp->offset);
                    tp->offset = group_next;
                }
                p->durable_next = tp->offset;
                p->committed = group_next;
            }
            p->start = tp->offset >= 0 ? tp->offset : group_next;
            p->next_off = tp->offset >= 0 ? tp->offset : -1;
            if (ks->env.peers.ask) {
                p->handoff = 1;
                p->handoff_deadline = mono_ms() + ks->env.peers.wait_ms;
            }
            if (tp->offset >= 0)
                SIFT_INFO("kafka: assigned %s at offset %" PRId64
                          " (right after the last event sift holds, or "
                          "the group's committed offset when later)",
                          p->key, tp->offset);
            else
                SIFT_INFO("kafka: assigned %s at the group's committed "
                          "offset (earliest when there is none; sift holds "
                          "no event of it yet)",
                          p->key);
        }
        if (committed)
            rd_kafka_topic_partition_list_destroy(committed);
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, parts);
        /*
         * Set the new partitions' pause state explicitly both ways: a
         * partition paused before its revoke can come back to this member
         * with librdkafka's pause flag still set after update_pause() has
         * already resumed the (then empty) assignment, and would never
         * be fetched again.
         */
        if (parts->cnt > 0) {
            if (ks->kafka_paused || ks->env.peers.ask)
                rd_kafka_pause_partitions(rk, parts);
            else
                rd_kafka_resume_partitions(rk, parts);
        }
        /* Cluster: each new partition waits until the peers said how far
         * they hold it (handoff_end resumes it). */
        for (int i = 0; ks->env.peers.ask && i < parts->cnt; i++) {
            struct kpart *p =
                part_get(ks, parts->elems[i].topic, parts->elems[i].partition);
            if (p->handoff && !p->handoff_call)
                handoff_ask(ks, p);
        }
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        int lost = rd_kafka_assignment_lost(rk);
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            struct kpart *p = part_get(ks, tp->topic, tp->partition);
            if (!lost)
                commit_parts(ks, p, 0);
            p->epoch++;
            p->assigned = 0;
            p->n_skip = 0;
            handoff_cancel(ks, p);
            part_orphan_inflight(ks, p, 1);
            held_drop(ks, p);
            SIFT_INFO("kafka: revoked %s%s", p->key, lost ? " (lost)" : "");
        }
        if (coop)
            e = rd_kafka_incremental_unassign(rk, parts);
        else
            aerr = rd_kafka_assign(rk, NULL);
    } else {
        SIFT_WARN("kafka: rebalance error: %s", rd_kafka_err2str(err));
        aerr = rd_kafka_assign(rk, NULL);
    }
    if (e) {
        SIFT_ERROR("kafka: incremental assign: %s", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    if (aerr)
        SIFT_ERROR("kafka: assign: %s", rd_kafka_err2str(aerr));
}

/* ---- polling ---------------------------------------------------------- */

static void
kafka_poll(struct kafka_src *ks)
{
    rd_kafka_message_t *run[1024];
    size_t n_run = 0, n = 0;
    uint32_t batch_max = ks->env.batch_max;

    if (batch_max > sizeof(run) / sizeof(run[0]))
        batch_max = sizeof(run) / sizeof(run[0]);
    update_pause(ks);
    if (draining_stopped(ks))
        return; /* held_flush polls again when the hold ends */
    while (n < KAFKA_POLL_MAX && !draining_stopped(ks)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(ks->rk, 0);
        if (!m)
            break;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                SIFT_WARN("kafka: consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        n++;
        if (n_run > 0 &&
            (n_run == batch_max || run[0]->partition != m->partition ||
             run[0]->rkt != m->rkt)) {
            take_run(ks, run, n_run);
            n_run = 0;
        }
        run[n_run++] = m;
    }
    if (n_run > 0)
        take_run(ks, run, n_run);
    if (n == KAFKA_POLL_MAX && !ks->held_head)
        event_active(ks->ev_more, EV_TIMEOUT, 0);
    update_pause(ks);
    schedule_retry(ks);
}

static void
on_pipe(evutil_socket_t fd, short what, void *arg)
{
    char buf[64];
    (void)what;
    while (read(fd, buf, sizeof(buf)) > 0) {
    }
    kafka_poll(arg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kafka_poll(arg);
}

static void
on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    /* librdkafka's info (6) lines are as chatty as our debug ones. */
    sift_log_syslog(level == 6 ? 7 : level, "kafka", fac, buf);
}

/* ---- ops -------------------------------------------------------------- */

static int
kafka_start(struct sift_source *src)
{
    struct kafka_src *ks = (struct kafka_src *)src;
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t err;
    struct timeval tv = {KAFKA_SAFETY_POLL_MS / 1000,
                         (KAFKA_SAFETY_POLL_MS % 1000) * 1000L};

    if (ks->started)
        return SIFT_OK;
    if (ks->n_topics == 0) {
        SIFT_ERROR("kafka: kafka.topics is empty");
        return SIFT_ECONFIG;
    }
    l = rd_kafka_topic_partition_list_new((int)ks->n_topics);
    for (size_t i = 0; i < ks->n_topics; i++)
        rd_kafka_topic_partition_list_add(l, ks->topics[i],
                                          RD_KAFKA_PARTITION_UA);
    err = rd_kafka_subscribe(ks->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) {
        SIFT_ERROR("kafka: subscribe: %s", rd_kafka_err2str(err));
        return SIFT_ECONFIG;
    }
    event_add(ks->ev_read, NULL);
    event_add(ks->ev_timer, &tv);
    ks->started = 1;
    ks->st.connected = 1;
    kafka_poll(ks);
    return SIFT_OK;
}

static void
kafka_pause(struct sift_source *src)
{
    struct kafka_src *ks = (struct kafka_src *)src;
    ks->user_paused++;
    update_pause(ks);
}

static void
kafka_stop(struct sift_source *src)
{
    struct kafka_src *ks = (struct kafka_src *)src;
    ks->stopped = 1;
    update_pause(ks);
}

static void
kafka_stats(struct sift_source *src, struct sift_source_stats *out)
{
    struct kafka_src *ks = (struct kafka_src *)src;
    int64_t lag = 0;
    int known = 0;

    *out = ks->st;
    for (struct kpart *p = ks->parts; p; p = p->next) {
        int64_t lo, hi;
        if (!p->assigned)
            continue;
        if (rd_kafka_get_watermark_offsets(ks->rk, p->topic, p->partition, &lo,
                                           &hi) ||
            hi < 0)
            continue;
        lag += hi - (p->durable_next >= 0 ? p->durable_next : lo);
        known = 1;
    }
    out->lag = known ? lag : -1;
}

static void
kafka_parts(struct sift_source *src, sift_source_part_cb cb, void *arg)
{
    struct kafka_src *ks = (struct kafka_src *)src;

    for (struct kpart *p = ks->parts; p; p = p->next) {
        struct sift_source_part sp;
        int64_t lo = -1, hi = -1;
        if (!p->assigned)
            continue;
        sp.key = p->key;
        sp.lag = -1;
        if (!rd_kafka_get_watermark_offsets(ks->rk, p->topic, p->partition, &lo,
                                            &hi) &&
            hi >= 0)
            sp.lag = hi - (p->durable_next >= 0 ? p->durable_next : lo);
        sp.committed = p->committed;
        sp.inflight = p->inflight;
        cb(arg, &sp);
    }
}

/*
 * Leaves the group before the consumer closes.  consumer_close() sends no
 * LeaveGroup for a static member (KIP-345), so the broker would keep our
 * partitions for session.timeout.ms.  unsubscribe() revokes (served by the
 * polls below: on_rebalance runs) and then leaves, but only if the
 * consumer is not terminating by then, so wait until librdkafka has
 * dropped its member id (it does so as it sends the LeaveGroup; the close
 * then waits for the broker's answer).  Messages polled meanwhile are
 * dropped: they are read again from the stored positions.
 */
static void
leave_group(struct kafka_src *ks)
{
    int64_t deadline = mono_ms() + KAFKA_LEAVE_MAX_MS;
    rd_kafka_resp_err_t err = rd_kafka_unsubscribe(ks->rk);

    if (err) {
        SIFT_WARN("kafka: unsubscribe: %s", rd_kafka_err2str(err));
        return;
    }
    for (;;) {
        char *id = rd_kafka_memberid(ks->rk);
        int left = !id || !id[0];
        rd_kafka_message_t *m;
        if (id)
            rd_kafka_mem_free(ks->rk, id);
        if (left) {
            SIFT_INFO("kafka: left group %s", ks->group);
            return;
        }
        if (mono_ms() >= deadline) {
            SIFT_WARN("kafka: group %s not left within %d ms; closing anyway",
                      ks->group, KAFKA_LEAVE_MAX_MS);
            return;
        }
        m = rd_kafka_consumer_poll(ks->rk, 20);
        if (m)
            rd_kafka_message_destroy(m);
    }
}

static void
kafka_free(struct sift_source *src)
{
    struct kafka_src *ks = (struct kafka_src *)src;
    struct kpart *p;

    ks->closing = 1;
    ks->stopped = 1;
    held_drop(ks, NULL);
    for (p = ks->parts; p; p = p->next)
        handoff_cancel(ks, p);
    if (ks->ev_handoff)
        event_free(ks->ev_handoff);
    ks->ev_handoff = NULL;
    if (ks->rk) {
        rd_kafka_resp_err_t err;
        commit_parts(ks, NULL, 0);
        if (ks->queue)
            rd_kafka_queue_io_event_enable(ks->queue, -1, NULL, 0);
        if (ks->started)
            leave_group(ks);
        err = rd_kafka_consumer_close(ks->rk);
        if (err)
            SIFT_WARN("kafka: consumer close: %s", rd_kafka_err2str(err));
        if (ks->queue)
            rd_kafka_queue_destroy(ks->queue);
        rd_kafka_destroy(ks->rk);
    }
    if (ks->ev_read)
        event_free(ks->ev_read);
    if (ks->ev_timer)
        event_free(ks->ev_timer);
    if (ks->ev_retry)
        event_free(ks->ev_retry);
    if (ks->ev_commit)
        event_free(ks->ev_commit);
    if (ks->ev_more)
        event_free(ks->ev_more);
    for (int i = 0; i < 2; i++)
        if (ks->pipe_fd[i] >= 0)
            close(ks->pipe_fd[i]);
    while ((p = ks->parts)) {
        ks->parts = p->next;
        /*
         * Batches still in flight here break the lifecycle contract (free
         * after the store ran every ack); free them so nothing leaks.
         */
        while (p->fl_head) {
            struct kbatch *b = p->fl_head;
            p->fl_head = b->next;
            SIFT_WARN("kafka: %s freed with a batch in flight", p->key);
            sift_free(b);
        }
        sift_free(p->skip);
        sift_free(p->topic);
        sift_free(p->key);
        sift_free(p);
    }
    sift__ingest_list_free(ks->topics, ks->n_topics);
    sift_free(ks->group);
    sift_free(ks->instance_id);
    sift_free(ks->base.label);
    sift_free(ks);
}

static int
kafka_settled(struct sift_source *src, const char *key)
{
    struct kafka_src *ks = (struct kafka_src *)src;
    for (struct kpart *p = ks->parts; p; p = p->next)
        if (strcmp(p->key, key) == 0) {
            /* Still assigned here: another member got it, so this one
             * lost it and has not noticed yet; it may still read it. */
            if (p->assigned)
                return 0;
            for (struct kbatch *b = ks->held_head; b; b = b->hnext)
                if (b->part == p)
                    return 0;
            return p->inflight == 0 && p->orphans == 0;
        }
    return 1;
}

static const struct sift_source_ops kafka_ops = {
    "kafka",     kafka_start, kafka_pause, kafka_stop,
    kafka_stats, kafka_parts, kafka_free,  kafka_settled,
};

/* ---- construction ----------------------------------------------------- */

static int
conf_set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char errstr[512];

    if (rd_kafka_conf_set(conf, k, v, errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
        SIFT_ERROR("kafka: property %s: %s", k, errstr);
        return SIFT_ECONFIG;
    }
    return SIFT_OK;
}

static int
conf_properties(rd_kafka_conf_t *conf, const char *props)
{
    char **kv = NULL;
    size_t n = 0;
    int rc = SIFT_OK;

    sift__ingest_split(props, &kv, &n);
    for (size_t i = 0; i < n && rc == SIFT_OK; i++) {
        char *eq = strchr(kv[i], '=');
        if (!eq || eq == kv[i]) {
            SIFT_ERROR("kafka: kafka.properties entry '%s' is not k=v", kv[i]);
            rc = SIFT_ECONFIG;
            break;
        }
        *eq = '\0';
        rc = conf_set(conf, kv[i], eq + 1);
    }
    sift__ingest_list_free(kv, n);
    return rc;
}

void
sift__kafka_prefetch_limits(int64_t buffer_max, int64_t *queued_kbytes,
                            int64_t *fetch_max_bytes)
{
    const int64_t mib = 1 << 20;
    int64_t b = buffer_max > 0 ? buffer_max : 256 * mib;
    int64_t q = b / 2 < mib ? mib : b / 2 > 64 * mib ? 64 * mib : b / 2;
    int64_t f = b / 4 < mib ? mib : b / 4 > 50 * mib ? 50 * mib : b / 4;
    *queued_kbytes = q / 1024;
    *fetch_max_bytes = f;
}

/*
 * Bounds librdkafka's prefetch by the store buffer: by default it queues
 * up to 64 MiB plus 50 MiB in fetch responses whatever the buffer is, so
 * a backlog grew RSS well past buffer_max_bytes (docs/ingest.md, Kafka).
 * Half the buffer queued and a quarter per fetch: a fetch buffer lives
 * until the last of its messages is freed, so the heap holds more than
 * the queue limit, and the store's own buffer is full anyway during a
 * backlog (32 MiB buffer, 9x backlog: peak RSS 102-119 MB with the whole
 * buffer queued, 68-78 MB with half, same events per CPU-second).
 * Less costs drain rate, not memory safety: librdkafka 2.0.2 stops
 * fetching once the queue is over its limit, and its broker thread looks
 * again only when woken or after rd_kafka_max_block_ms (1 s), so a
 * backlog drains at most about one queue plus one fetch per second (a
 * quarter and an eighth of a 32 MiB buffer: half the rate;
 * docs/internals/ingest-bench.md, "Session 5").
 * Set before kafka.properties, which therefore wins.
 */
static int
conf_prefetch(rd_kafka_conf_t *conf, const struct sift_config *cfg)
{
    int64_t q, f;
    char v[32];
    int rc;

    sift__kafka_prefetch_limits(cfg->buffer_max_bytes, &q, &f);
    snprintf(v, sizeof(v), "%lld", (long long)q);
    if ((rc = conf_set(conf, "queued.max.messages.kbytes", v)) < 0)
        return rc;
    snprintf(v, sizeof(v), "%lld", (long long)f);
    return conf_set(conf, "fetch.max.bytes", v);
}

/*
 * A hold stops polling, and librdkafka drops a member that has not polled
 * for max.poll.interval.ms: stay well below it.
 */
static int64_t
hold_max_ms(rd_kafka_conf_t *conf)
{
    char v[32];
    size_t n = sizeof(v);
    int64_t mpi = 300000;

    if (rd_kafka_conf_get(conf, "max.poll.interval.ms", v, &n) ==
        RD_KAFKA_CONF_OK)
        mpi = strtoll(v, NULL, 10);
    return mpi / 2 < KAFKA_HOLD_MAX_MS ? mpi / 2 : KAFKA_HOLD_MAX_MS;
}

/*
 * Reads back what membership the consumer will use (kafka.properties may
 * have changed it) and logs it once.  The assignor list fixes the
 * protocol (librdkafka refuses to mix eager and cooperative ones), so
 * ks->coop is known here and on_rebalance never has to ask for it.
 */
static void
conf_membership(struct kafka_src *ks, rd_kafka_conf_t *conf)
{
    char strategy[256] = "", instance[256] = "", session[32] = "";
    size_t n;

    n = sizeof(strategy);
    if (rd_kafka_conf_get(conf, "partition.assignment.strategy", strategy,
                          &n) == RD_KAFKA_CONF_OK)
        ks->coop = strstr(strategy, "cooperative") != NULL;
    n = sizeof(instance);
    if (rd_kafka_conf_get(conf, "group.instance.id", instance, &n) ==
            RD_KAFKA_CONF_OK &&
        instance[0])
        ks->instance_id = sift_xstrdup(instance);
    n = sizeof(session);
    if (rd_kafka_conf_get(conf, "session.timeout.ms", session, &n) !=
        RD_KAFKA_CONF_OK)
        session[0] = '\0';
    SIFT_INFO("kafka: group %s as %s%s, assignment %s (%s), session "
              "timeout %s ms",
              ks->group, ks->instance_id ? "static member " : "",
              ks->instance_id ? ks->instance_id : "a dynamic member", strategy,
              ks->coop > 0 ? "cooperative" : "eager", session);
}

int
sift_source_kafka_new(const struct sift_source_env *env,
                      struct sift_source **out)
{
    const struct sift_config *cfg = env->cfg;
    struct kafka_src *ks = NULL;
    rd_kafka_conf_t *conf = NULL;
    char errstr[512];
    const char *group, *instance;
    int rc;

    *out = NULL;
    if (!cfg->kafka_brokers || !cfg->kafka_brokers[0])
        return SIFT_ENOTFOUND;
    group = cfg->kafka_group && cfg->kafka_group[0] ? cfg->kafka_group : "sift";
    ks = sift_xcalloc(1, sizeof(*ks));
    ks->base.ops = &kafka_ops;
    ks->base.label = sift_xstrdup("kafka");
    ks->env = *env;
    if (!ks->env.batch_max)
        ks->env.batch_max = 500;
    if (!ks->env.retry_ms)
        ks->env.retry_ms = 50;
    ks->pipe_fd[0] = ks->pipe_fd[1] = -1;
    ks->coop = -1;
    sift__ingest_split(cfg->kafka_topics, &ks->topics, &ks->n_topics);

    ks->group = sift_xstrdup(group);
    instance = cfg->kafka_instance_id && cfg->kafka_instance_id[0]
                   ? cfg->kafka_instance_id
                   : env->node_id;

    conf = rd_kafka_conf_new();
    if ((rc = conf_set(conf, "bootstrap.servers", cfg->kafka_brokers)) < 0 ||
        (rc = conf_set(conf, "group.id", group)) < 0 ||
        (rc = conf_set(conf, "enable.auto.commit", "false")) < 0 ||
        (rc = conf_set(conf, "enable.auto.offset.store", "false")) < 0 ||
        (rc = conf_set(conf, "auto.offset.reset", "earliest")) < 0 ||
        (rc = conf_set(conf, "enable.partition.eof", "false")) < 0 ||
        (rc = conf_set(conf, "partition.assignment.strategy",
                       "cooperative-sticky")) < 0 ||
        (rc = conf_set(conf, "session.timeout.ms", "10000")) < 0 ||
        (instance && instance[0] &&
         (rc = conf_set(conf, "group.instance.id", instance)) < 0) ||
        (rc = conf_prefetch(conf, cfg)) < 0 ||
        (rc = conf_properties(conf, cfg->kafka_properties)) < 0)
        goto out;
    ks->hold_max_ms = hold_max_ms(conf);
    conf_membership(ks, conf);
    rd_kafka_conf_set_opaque(conf, ks);
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_log_cb(conf, on_log);
    ks->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (!ks->rk) {
        SIFT_ERROR("kafka: rd_kafka_new: %s", errstr);
        rc = SIFT_ECONFIG;
        goto out;
    }
    conf = NULL; /* owned by rk now */
    rd_kafka_poll_set_consumer(ks->rk);
    ks->queue = rd_kafka_queue_get_consumer(ks->rk);

    if (pipe(ks->pipe_fd) < 0) {
        rc = -errno;
        SIFT_ERROR("kafka: pipe: %s", strerror(errno));
        goto out;
    }
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(ks->pipe_fd[i], F_GETFL);
        fcntl(ks->pipe_fd[i], F_SETFL, fl | O_NONBLOCK);
        fcntl(ks->pipe_fd[i], F_SETFD, FD_CLOEXEC);
    }
    rd_kafka_queue_io_event_enable(ks->queue, ks->pipe_fd[1], "1", 1);
    ks->ev_read =
        event_new(env->base, ks->pipe_fd[0], EV_READ | EV_PERSIST, on_pipe, ks);
    ks->ev_timer = event_new(env->base, -1, EV_PERSIST, on_timer, ks);
    ks->ev_retry = evtimer_new(env->base, on_retry, ks);
    ks->ev_commit = event_new(env->base, -1, 0, on_commit_event, ks);
    ks->ev_more = event_new(env->base, -1, 0, on_timer, ks);
    if (env->peers.ask) {
        struct timeval hv = {0, 500 * 1000L};
        ks->ev_handoff =
            event_new(env->base, -1, EV_PERSIST, on_handoff_timer, ks);
        if (ks->ev_handoff)
            event_add(ks->ev_handoff, &hv);
    }
    if (!ks->ev_read || !ks->ev_timer || !ks->ev_retry || !ks->ev_commit ||
        !ks->ev_more) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    *out = &ks->base;
    ks = NULL;
    rc = SIFT_OK;
out:
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (ks)
        kafka_free(&ks->base);
    return rc;
}
