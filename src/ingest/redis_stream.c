/*
 * redis_stream.c - a Redis stream source: XREADGROUP on a consumer group,
 * XACK only after the sink reported the batch durable, and exactly once
 * across crashes for the entries this consumer read itself.
 *
 * Design (one source per stream, two connections from redis_common.c):
 *  - On (re)connect: XGROUP CREATE <s> <g> 0 MKSTREAM (BUSYGROUP is
 *    fine), re-send XACK for batches that became durable while Redis was
 *    away, then read in phases:
 *      PENDING  XREADGROUP ... <me> ... STREAMS <s> <cursor> from 0 until
 *               empty: this consumer's delivered-but-unacked entries
 *               (PEL); entries trimmed meanwhile come back with nil
 *               fields and are XACKed and skipped.
 *      PENDING2 the same for the claim consumer "<me>:claimed".
 *      CLAIM    XAUTOCLAIM <s> <g> <me>:claimed <min-idle> <cursor> COUNT
 *               n until the cursor is 0-0: entries of dead consumers.
 *      LIVE     XREADGROUP ... <me> ... BLOCK <ms> STREAMS <s> >; every
 *               claim_every_ms the next read is a CLAIM pass again.
 *    One read is outstanding at a time, so nothing busy-loops and
 *    batches reach the sink in read order.
 *  - Entries already in this process (held, in flight, or durable with
 *    the XACK not yet confirmed) are skipped when PENDING or CLAIM return
 *    them again, so a reconnect delivers nothing twice.  PENDING and
 *    CLAIM run on the command connection, ordered after the XACKs (see
 *    issue_read); only the blocking LIVE read uses the other one.
 *  - The event is the value of field redis.field ("message"); the other
 *    fields of the entry travel as KEYWORD fields.  An entry without that
 *    field is delivered as a JSON object of all its fields.
 *
 * Exactly once (the position stored with the data):
 *  - Key "redis/<stream>", hi/lo = an entry id (ms, seq).  Every batch
 *    read for <me> (PENDING or LIVE) carries its last id.  Ids of <me>'s
 *    reads only grow: LIVE returns entries newer than any delivered to
 *    the group, and PENDING returns <me>'s PEL in id order.  The store
 *    keeps the largest position it holds durably (WAL records, then the
 *    manifest), and a durable WAL record implies every earlier one is
 *    durable.  So every entry <me> read with an id <= the stored position
 *    is held by the store: on restart, PENDING entries at or below it are
 *    XACKed without being delivered again (the crash between fsync and
 *    XACK), and LIVE entries at or below it (the group's last-delivered
 *    id moved back: XGROUP SETID, Redis restored from an older snapshot)
 *    are skipped and logged.
 *  - For that to hold, a batch must never carry a position past an entry
 *    of <me> that is not durable.  A failed ack (the WAL write failed:
 *    every batch after it in the WAL failed with it) therefore drops the
 *    held batches too, discards the reply of any read still outstanding
 *    (gen), and starts PENDING from 0 again, so the lost entries are
 *    delivered again, in id order, before anything newer.
 *  - Entries claimed from other consumers have ids anywhere below ours,
 *    so they go to a consumer of their own, "<me>:claimed", and their
 *    batches carry no position.  They are at least once: after a crash,
 *    PENDING2 delivers that consumer's PEL again whether or not it was
 *    durable, and the dead consumer may have indexed them already.
 *  - The durable watermark w is loaded from the sink at start and moves
 *    with each durable batch of <me>; it only decides skips.
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/source.h"

#include "ingest/ingest_int.h"

#define RS_MAX_INFLIGHT 50000 /* entries; reading stops above this */

enum rs_phase {
    PH_DOWN,
    PH_GROUP,
    PH_PENDING,  /* <me>'s PEL */
    PH_PENDING2, /* "<me>:claimed"'s PEL */
    PH_CLAIM,
    PH_LIVE
};
enum sb_state { SB_HELD, SB_INFLIGHT, SB_DURABLE };

struct rstream;

struct sbatch {
    struct rstream *rs;
    int state;
    int claimed; /* read for "<me>:claimed": carries no position */
    int xack_sent;
    int in_deliver, free_pending;
    size_t n;
    uint64_t (*ids)[2];           /* ms, seq of each entry */
    struct sift_buf data;         /* payloads, field names and values */
    struct sift_source_msg *msgs; /* point into data */
    struct sift_field *fields;
    struct sbatch *prev, *next;
};

struct rstream {
    struct sift_source base;
    struct sift_source_env env;
    struct sift__redis_pair rp;
    char *stream, *group, *consumer, *claimer, *field, *key;
    int phase;
    char cursor[48];
    int read_outstanding;
    int read_phase;        /* phase of the outstanding read */
    uint32_t gen;          /* bumped by a failed ack */
    uint32_t read_gen;     /* gen of the outstanding read; stale = discarded */
    int reread;            /* a failed ack: run PENDING again */
    int have_w;            /* w is set: entries of <me> <= w are durable */
    uint64_t w[2];         /* ms, seq */
    uint64_t skipped_le_w; /* LIVE entries at or below w (logged) */
    int user_paused, stopped, closing;
    int64_t last_claim_ns;
    struct event *ev_retry;
    struct sbatch *head, *tail; /* held and in-flight, in read order */
    size_t n_held;
    struct sift_source_stats st;
};

static void issue_read(struct rstream *rs);

/* ---- batches ---------------------------------------------------------- */

static void
list_unlink(struct rstream *rs, struct sbatch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        rs->head = b->next;
    if (b->next)
        b->next->prev = b->prev;
    else
        rs->tail = b->prev;
    b->prev = b->next = NULL;
}

static void
list_append(struct rstream *rs, struct sbatch *b)
{
    b->prev = rs->tail;
    b->next = NULL;
    if (rs->tail)
        rs->tail->next = b;
    else
        rs->head = b;
    rs->tail = b;
}

static void
sbatch_free(struct sbatch *b)
{
    if (b->in_deliver) {
        b->free_pending = 1;
        return;
    }
    sift_buf_cleanup(&b->data);
    sift_free(b->ids);
    sift_free(b->msgs);
    sift_free(b->fields);
    sift_free(b);
}

static int
parse_id(const char *s, uint64_t *ms, uint64_t *seq)
{
    char *end = NULL;
    unsigned long long a, c;

    errno = 0;
    a = strtoull(s, &end, 10);
    if (errno || end == s || *end != '-')
        return SIFT_EPARSE;
    s = end + 1;
    c = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return SIFT_EPARSE;
    *ms = a;
    *seq = c;
    return SIFT_OK;
}

/* Is (ms, seq) at or below the id w? */
static int
id_le(uint64_t ms, uint64_t seq, const uint64_t w[2])
{
    return ms < w[0] || (ms == w[0] && seq <= w[1]);
}

/* Is the entry already held, in flight, or waiting for its XACK here? */
static int
known_id(const struct rstream *rs, uint64_t ms, uint64_t seq)
{
    for (const struct sbatch *b = rs->head; b; b = b->next)
        for (size_t i = 0; i < b->n; i++)
            if (b->ids[i][0] == ms && b->ids[i][1] == seq)
                return 1;
    return 0;
}

/* ---- XACK ------------------------------------------------------------- */

static void
build_xack(const struct rstream *rs, const struct sbatch *b,
           struct sift_buf *ids, const char ***argv, size_t **argvlen)
{
    size_t n = b->n + 3;
    size_t *offs = sift_xcalloc(b->n ? b->n : 1, sizeof(*offs));

    *argv = sift_xcalloc(n, sizeof(**argv));
    *argvlen = sift_xcalloc(n, sizeof(**argvlen));
    (*argv)[0] = "XACK";
    (*argv)[1] = rs->stream;
    (*argv)[2] = rs->group;
    for (size_t i = 0; i < b->n; i++) {
        offs[i] = ids->len;
        sift_buf_appendf(ids, "%" PRIu64 "-%" PRIu64, b->ids[i][0],
                         b->ids[i][1]);
        (*argvlen)[3 + i] = ids->len - offs[i];
    }
    for (size_t i = 0; i < 3; i++)
        (*argvlen)[i] = strlen((*argv)[i]);
    for (size_t i = 0; i < b->n; i++)
        (*argv)[3 + i] = ids->data + offs[i];
    sift_free(offs);
}

/* XACKs ids (strings, borrowed) that need no batch: fire and forget. */
static void
xack_ids(struct rstream *rs, const char **ids, size_t n)
{
    const char **argv;

    if (n == 0 || !rs->rp.up)
        return;
    argv = sift_xcalloc(n + 3, sizeof(*argv));
    argv[0] = "XACK";
    argv[1] = rs->stream;
    argv[2] = rs->group;
    memcpy(argv + 3, ids, n * sizeof(*ids));
    redisAsyncCommandArgv(rs->rp.cmd, NULL, NULL, (int)(n + 3), argv, NULL);
    sift_free(argv);
}

static void
on_xack(redisAsyncContext *c, void *r, void *priv)
{
    struct sbatch *b = priv;
    struct rstream *rs = b->rs;
    redisReply *reply = r;
    (void)c;

    if (rs->closing)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        if (reply)
            SIFT_WARN("redis: XACK %s: %s", rs->stream, reply->str);
        b->xack_sent = 0; /* sent again after the reconnect */
        return;
    }
    rs->st.msgs_acked += b->n;
    if (rs->st.inflight >= b->n)
        rs->st.inflight -= b->n;
    list_unlink(rs, b);
    sbatch_free(b);
    issue_read(rs);
}

static void
send_xack(struct rstream *rs, struct sbatch *b)
{
    struct sift_buf ids = SIFT_BUF_INIT;
    const char **argv = NULL;
    size_t *argvlen = NULL;

    if (!rs->rp.up || b->xack_sent || b->n == 0)
        return;
    build_xack(rs, b, &ids, &argv, &argvlen);
    if (redisAsyncCommandArgv(rs->rp.cmd, on_xack, b, (int)(b->n + 3), argv,
                              argvlen) == REDIS_OK)
        b->xack_sent = 1;
    sift_free(argv);
    sift_free(argvlen);
    sift_buf_cleanup(&ids);
}

/* ---- delivery --------------------------------------------------------- */

static void
on_ack(void *arg, int rc)
{
    struct sbatch *b = arg;
    struct rstream *rs = b->rs;

    if (rc == SIFT_OK) {
        b->state = SB_DURABLE;
        if (!b->claimed && b->n > 0 &&
            (!rs->have_w ||
             !id_le(b->ids[b->n - 1][0], b->ids[b->n - 1][1], rs->w))) {
            rs->w[0] = b->ids[b->n - 1][0];
            rs->w[1] = b->ids[b->n - 1][1];
            rs->have_w = 1;
        }
        send_xack(rs, b);
        return;
    }
    /*
     * Still in the PEL: a PENDING pass reads it again, and it must come
     * before anything newer, so that no later batch carries a position
     * past it: drop the held batches (they are in the PEL too) and the
     * reply of the read in progress (gen).
     */
    rs->st.batches_failed++;
    if (rs->st.inflight >= b->n)
        rs->st.inflight -= b->n;
    SIFT_WARN("redis: %zu entries of %s not durable (%s); reading them "
              "again",
              b->n, rs->stream, sift_strerror(rc));
    list_unlink(rs, b);
    sbatch_free(b);
    for (struct sbatch *x = rs->head; x;) {
        struct sbatch *nx = x->next;
        if (x->state == SB_HELD) {
            list_unlink(rs, x);
            sbatch_free(x);
        }
        x = nx;
    }
    rs->n_held = 0;
    rs->gen++;
    rs->reread = 1;
    if (!rs->closing)
        issue_read(rs);
}

static int
sbatch_deliver(struct rstream *rs, struct sbatch *b)
{
    struct sift_source_batch batch;
    struct sift_srcpos pos;
    int rc;

    pos.key = rs->key;
    pos.hi = b->ids[b->n - 1][0];
    pos.lo = b->ids[b->n - 1][1];
    batch.source = "redis-stream";
    batch.origin = rs->stream;
    batch.n_msgs = b->n;
    batch.msgs = b->msgs;
    batch.n_pos = b->claimed ? 0 : 1;
    batch.pos = b->claimed ? NULL : &pos;
    b->state = SB_INFLIGHT;
    b->in_deliver = 1;
    rs->st.inflight += b->n;
    rc = rs->env.sink.deliver(rs->env.sink.arg, &batch, on_ack, b);
    b->in_deliver = 0;
    if (rc != SIFT_OK) {
        rs->st.inflight -= b->n;
        b->state = SB_HELD;
        rs->st.busy_retries++;
        return rc;
    }
    rs->st.msgs_delivered += b->n;
    if (b->free_pending) {
        b->free_pending = 0;
        sbatch_free(b);
        return SIFT_OK;
    }
    /* The sink copied the payload; keep only the ids for XACK. */
    sift_buf_cleanup(&b->data);
    sift_free(b->msgs);
    sift_free(b->fields);
    b->msgs = NULL;
    b->fields = NULL;
    return SIFT_OK;
}

static void
schedule_retry(struct rstream *rs)
{
    if (!evtimer_pending(rs->ev_retry, NULL)) {
        struct timeval tv = {(time_t)(rs->env.retry_ms / 1000),
                             (suseconds_t)(rs->env.retry_ms % 1000) * 1000};
        evtimer_add(rs->ev_retry, &tv);
    }
}

/* Delivers held batches in order; returns 1 when none is left. */
static int
flush_held(struct rstream *rs)
{
    for (struct sbatch *b = rs->head; b && rs->n_held > 0;) {
        struct sbatch *nx = b->next;
        if (b->state == SB_HELD) {
            if (rs->user_paused || rs->stopped)
                return 0;
            if (sbatch_deliver(rs, b) != SIFT_OK) {
                schedule_retry(rs);
                return 0;
            }
            rs->n_held--;
        }
        b = nx;
    }
    return rs->n_held == 0;
}

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct rstream *rs = arg;
    (void)fd;
    (void)what;
    if (flush_held(rs))
        issue_read(rs);
}

/* ---- reading ---------------------------------------------------------- */

static const redisReply *
str_el(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    r = r->element[i];
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
               ? r
               : NULL;
}

struct off_len {
    size_t off;
    uint32_t len;
};

/*
 * Builds a batch from an array of entries [[id, [f, v, ...]], ...],
 * skipping entries already known (skip_known) and entries at or below
 * the durable watermark (skip_le_w; they are XACKed: the store holds
 * them), and XACKing trimmed ones.  Returns NULL when nothing is left.
 * *last_id gets the last id seen (cursor); *n_le_w counts the entries
 * skipped at or below w.
 */
static struct sbatch *
batch_from_entries(struct rstream *rs, const redisReply *entries,
                   int skip_known, int skip_le_w, char *last_id,
                   size_t last_id_len, size_t *n_le_w)
{
    struct sbatch *b = sift_xcalloc(1, sizeof(*b));
    struct off_len *moff, *foff;
    size_t n_f = 0, cap_f = 0;
    size_t *mfirst;
    uint32_t *mnf;
    size_t n_e = entries->elements;
    const char **acks = sift_xcalloc(n_e ? n_e : 1, sizeof(*acks));
    size_t n_acks = 0;

    *n_le_w = 0;
    b->rs = rs;
    sift_buf_init(&b->data);
    b->ids = sift_xcalloc(n_e ? n_e : 1, sizeof(*b->ids));
    moff = sift_xcalloc(n_e ? n_e : 1, sizeof(*moff));
    mfirst = sift_xcalloc(n_e ? n_e : 1, sizeof(*mfirst));
    mnf = sift_xcalloc(n_e ? n_e : 1, sizeof(*mnf));
    foff = NULL;
    for (size_t i = 0; i < n_e; i++) {
        const redisReply *e = entries->element[i];
        const redisReply *id = e ? str_el(e, 0) : NULL;
        const redisReply *kv;
        uint64_t ms, seq;
        int found = 0;

        if (!id || parse_id(id->str, &ms, &seq) < 0)
            continue;
        snprintf(last_id, last_id_len, "%s", id->str);
        kv = e->elements > 1 ? e->element[1] : NULL;
        if (!kv || kv->type != REDIS_REPLY_ARRAY) {
            /* Trimmed while pending: nothing to index, just ack it. */
            acks[n_acks++] = id->str;
            continue;
        }
        if (skip_known && known_id(rs, ms, seq))
            continue;
        if (skip_le_w && rs->have_w && id_le(ms, seq, rs->w)) {
            /* Held by the store already: acknowledge, do not index. */
            acks[n_acks++] = id->str;
            (*n_le_w)++;
            continue;
        }
        b->ids[b->n][0] = ms;
        b->ids[b->n][1] = seq;
        mfirst[b->n] = n_f;
        for (size_t k = 0; k + 1 < kv->elements; k += 2) {
            const redisReply *f = str_el(kv, k), *v = str_el(kv, k + 1);
            if (!f || !v)
                continue;
            if (!found && f->len == strlen(rs->field) &&
                !memcmp(f->str, rs->field, f->len)) {
                moff[b->n].off = b->data.len;
                moff[b->n].len = (uint32_t)v->len;
                sift_buf_append(&b->data, v->str, v->len);
                found = 1;
                continue;
            }
            if (n_f + 2 > cap_f) {
                cap_f = cap_f ? cap_f * 2 : 16;
                foff = sift_xrealloc(foff, cap_f * sizeof(*foff));
            }
            foff[n_f].off = b->data.len;
            foff[n_f].len = (uint32_t)f->len;
            sift_buf_append(&b->data, f->str, f->len);
            foff[n_f + 1].off = b->data.len;
            foff[n_f + 1].len = (uint32_t)v->len;
            sift_buf_append(&b->data, v->str, v->len);
            n_f += 2;
        }
        mnf[b->n] = (uint32_t)((n_f - mfirst[b->n]) / 2);
        if (!found) {
            /* No event field: the whole entry as a JSON object. */
            size_t start = b->data.len;
            sift_buf_putc(&b->data, '{');
            for (size_t k = mfirst[b->n]; k < n_f; k += 2) {
                if (k > mfirst[b->n])
                    sift_buf_putc(&b->data, ',');
                sift_buf_put_json_str_bytes(
                    &b->data, b->data.data + foff[k].off, foff[k].len);
                sift_buf_putc(&b->data, ':');
                sift_buf_put_json_str_bytes(
                    &b->data, b->data.data + foff[k + 1].off, foff[k + 1].len);
            }
            sift_buf_putc(&b->data, '}');
            moff[b->n].off = start;
            moff[b->n].len = (uint32_t)(b->data.len - start);
            mnf[b->n] = 0;
        }
        b->n++;
    }
    xack_ids(rs, acks, n_acks);
    sift_free(acks);
    if (b->n == 0) {
        sift_free(moff);
        sift_free(mfirst);
        sift_free(mnf);
        sift_free(foff);
        sbatch_free(b);
        return NULL;
    }
    /* The buffer stopped moving: turn offsets into pointers. */
    b->msgs = sift_xcalloc(b->n, sizeof(*b->msgs));
    b->fields = sift_xcalloc(n_f / 2 + 1, sizeof(*b->fields));
    for (size_t i = 0; i < n_f / 2; i++) {
        b->fields[i].name = b->data.data + foff[2 * i].off;
        b->fields[i].name_len = foff[2 * i].len;
        b->fields[i].value = b->data.data + foff[2 * i + 1].off;
        b->fields[i].value_len = foff[2 * i + 1].len;
        b->fields[i].type = SIFT_FT_KEYWORD;
    }
    for (size_t i = 0; i < b->n; i++) {
        struct sift_source_msg *m = &b->msgs[i];
        m->data = b->data.data ? b->data.data + moff[i].off : "";
        m->len = moff[i].len;
        m->n_fields = mnf[i];
        m->fields = mnf[i] ? &b->fields[mfirst[i] / 2] : NULL;
        m->ts_ns = (int64_t)b->ids[i][0] * 1000000;
        m->pos.key = rs->key;
        m->pos.hi = b->ids[i][0];
        m->pos.lo = b->ids[i][1];
    }
    sift_free(moff);
    sift_free(mfirst);
    sift_free(mnf);
    sift_free(foff);
    return b;
}

/* Hands a fresh batch to the sink, or holds it behind earlier ones. */
static void
take_batch(struct rstream *rs, struct sbatch *b)
{
    rs->st.msgs_read += b->n;
    list_append(rs, b);
    if (rs->n_held == 0 && !rs->user_paused && !rs->stopped &&
        sbatch_deliver(rs, b) == SIFT_OK)
        return;
    b->state = SB_HELD;
    rs->n_held++;
    if (!rs->user_paused && !rs->stopped)
        schedule_retry(rs);
}

static void
on_read(redisAsyncContext *c, void *r, void *priv)
{
    struct rstream *rs = priv;
    redisReply *reply = r;
    const redisReply *entries = NULL;
    struct sbatch *b = NULL;
    char last_id[48] = "";
    int phase = rs->read_phase;
    size_t n_le_w = 0;
    (void)c;

    rs->read_outstanding = 0;
    if (rs->closing || !reply)
        return; /* the reconnect path restarts reading */
    if (rs->read_gen != rs->gen) {
        /* Read before a failed ack: PENDING from 0 reads it again. */
        issue_read(rs);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        SIFT_WARN("redis: read %s: %s", rs->stream, reply->str);
        if (!strncmp(reply->str, "NOGROUP", 7) && rs->rp.cmd) {
            /* The stream or group vanished (Redis restarted empty). */
            redisAsyncDisconnect(rs->rp.cmd);
            return;
        }
        schedule_retry(rs);
        return;
    }
    if (phase == PH_CLAIM) {
        const redisReply *next = str_el(reply, 0);
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2 &&
            reply->element[1]->type == REDIS_REPLY_ARRAY)
            entries = reply->element[1];
        if (entries && entries->elements > 0) {
            b = batch_from_entries(rs, entries, 1, 0, last_id, sizeof(last_id),
                                   &n_le_w);
            rs->st.rebalances++;
        }
        if (!next || !strcmp(next->str, "0-0")) {
            rs->phase = PH_LIVE;
            rs->last_claim_ns = sift_clock_mono_ns();
        } else {
            snprintf(rs->cursor, sizeof(rs->cursor), "%s", next->str);
        }
    } else if (reply->type == REDIS_REPLY_ARRAY) {
        /* [[stream, [[id, [f, v, ...]], ...]]] */
        int pending = phase == PH_PENDING || phase == PH_PENDING2;
        for (size_t i = 0; i < reply->elements && !entries; i++) {
            const redisReply *s = reply->element[i];
            if (s->type == REDIS_REPLY_ARRAY && s->elements == 2 &&
                s->element[1]->type == REDIS_REPLY_ARRAY)
                entries = s->element[1];
        }
        if (entries && entries->elements > 0)
            b = batch_from_entries(rs, entries, pending, phase != PH_PENDING2,
                                   last_id, sizeof(last_id), &n_le_w);
        if (phase == PH_LIVE && n_le_w > 0) {
            rs->skipped_le_w += n_le_w;
            SIFT_WARN("redis: %zu new entries of %s at or below the stored "
                      "position %" PRIu64 "-%" PRIu64
                      " skipped (the group's last id moved back?)",
                      n_le_w, rs->stream, rs->w[0], rs->w[1]);
        }
        if (pending) {
            if (!entries || entries->elements == 0) {
                rs->phase = phase == PH_PENDING ? PH_PENDING2 : PH_CLAIM;
                snprintf(rs->cursor, sizeof(rs->cursor),
                         rs->phase == PH_CLAIM ? "0-0" : "0");
            } else if (last_id[0]) {
                snprintf(rs->cursor, sizeof(rs->cursor), "%s", last_id);
            }
        }
    }
    if (b) {
        b->claimed = phase == PH_CLAIM || phase == PH_PENDING2;
        take_batch(rs, b);
    }
    issue_read(rs);
}

static void
issue_read(struct rstream *rs)
{
    char count[16], block[16], idle[16];
    const char *argv[12];
    int argc = 0;

    if (!rs->rp.up || rs->read_outstanding || rs->n_held > 0 ||
        rs->user_paused || rs->stopped || rs->closing ||
        rs->phase < PH_PENDING || rs->st.inflight > RS_MAX_INFLIGHT)
        return;
    if (rs->reread) {
        rs->reread = 0;
        rs->phase = PH_PENDING;
        snprintf(rs->cursor, sizeof(rs->cursor), "0");
    }
    if (rs->phase == PH_LIVE &&
        sift_clock_mono_ns() - rs->last_claim_ns >
            (int64_t)rs->env.redis_claim_every_ms * 1000000) {
        rs->phase = PH_CLAIM;
        snprintf(rs->cursor, sizeof(rs->cursor), "0-0");
    }
    snprintf(count, sizeof(count), "%" PRIu32, rs->env.batch_max);
    snprintf(block, sizeof(block), "%" PRIu32, rs->env.redis_block_ms);
    snprintf(idle, sizeof(idle), "%" PRIu32, rs->env.redis_claim_idle_ms);
    if (rs->phase == PH_CLAIM) {
        argv[argc++] = "XAUTOCLAIM";
        argv[argc++] = rs->stream;
        argv[argc++] = rs->group;
        argv[argc++] = rs->claimer;
        argv[argc++] = idle;
        argv[argc++] = rs->cursor;
        argv[argc++] = "COUNT";
        argv[argc++] = count;
    } else {
        argv[argc++] = "XREADGROUP";
        argv[argc++] = "GROUP";
        argv[argc++] = rs->group;
        argv[argc++] = rs->phase == PH_PENDING2 ? rs->claimer : rs->consumer;
        argv[argc++] = "COUNT";
        argv[argc++] = count;
        if (rs->phase == PH_LIVE) {
            argv[argc++] = "BLOCK";
            argv[argc++] = block;
        }
        argv[argc++] = "STREAMS";
        argv[argc++] = rs->stream;
        argv[argc++] = rs->phase == PH_LIVE ? ">" : rs->cursor;
    }
    /*
     * PENDING and CLAIM reads (never blocking) go on the command
     * connection, behind every XACK already sent there: one connection
     * runs and answers in order, so an entry whose XACK is confirmed is no
     * longer in the PEL when the read runs, and one still unconfirmed is
     * in a batch and skipped.  On the blocking connection an XACK
     * confirmed first (batch freed) but run after the read left its entry
     * in the reply with nothing to skip it: a duplicate without a crash.
     */
    if (redisAsyncCommandArgv(rs->phase == PH_LIVE ? rs->rp.blk : rs->rp.cmd,
                              on_read, rs, argc, argv, NULL) == REDIS_OK) {
        rs->read_outstanding = 1;
        rs->read_phase = rs->phase;
        rs->read_gen = rs->gen;
    }
}

/* ---- connection ------------------------------------------------------- */

static void
on_group(redisAsyncContext *c, void *r, void *priv)
{
    struct rstream *rs = priv;
    redisReply *reply = r;
    (void)c;

    if (rs->closing || !reply)
        return;
    if (reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "BUSYGROUP", 9) != 0) {
        SIFT_ERROR("redis: XGROUP CREATE %s %s: %s", rs->stream, rs->group,
                   reply->str);
        if (rs->rp.cmd)
            redisAsyncDisconnect(rs->rp.cmd); /* retry with backoff */
        return;
    }
    rs->phase = PH_PENDING;
    snprintf(rs->cursor, sizeof(rs->cursor), "0");
    for (struct sbatch *b = rs->head; b; b = b->next)
        if (b->state == SB_DURABLE)
            send_xack(rs, b);
    if (flush_held(rs))
        issue_read(rs);
}

static void
on_up(void *owner)
{
    struct rstream *rs = owner;
    const char *argv[6] = {"XGROUP",  "CREATE", rs->stream,
                           rs->group, "0",      "MKSTREAM"};

    rs->st.connected = 1;
    rs->st.reconnects = rs->rp.reconnects;
    rs->phase = PH_GROUP;
    redisAsyncCommandArgv(rs->rp.cmd, on_group, rs, 6, argv, NULL);
}

static void
on_down(void *owner)
{
    struct rstream *rs = owner;

    rs->st.connected = 0;
    rs->phase = PH_DOWN;
    rs->read_outstanding = 0;
    for (struct sbatch *b = rs->head; b; b = b->next)
        b->xack_sent = 0;
}

/* ---- ops -------------------------------------------------------------- */

static int
rs_start(struct sift_source *src)
{
    struct rstream *rs = (struct rstream *)src;
    struct sift_srcpos pos = {NULL, 0, 0};

    if (rs->env.sink.position &&
        rs->env.sink.position(rs->env.sink.arg, rs->key, &pos) == SIFT_OK) {
        rs->w[0] = pos.hi;
        rs->w[1] = pos.lo;
        rs->have_w = 1;
        SIFT_INFO("redis: %s: entries up to %" PRIu64 "-%" PRIu64
                  " are stored; pending ones at or below are acknowledged "
                  "without indexing them again",
                  rs->stream, pos.hi, pos.lo);
    }
    sift__redis_pair_connect(&rs->rp);
    return SIFT_OK;
}

static void
rs_pause(struct sift_source *src)
{
    struct rstream *rs = (struct rstream *)src;
    rs->user_paused++;
    rs->st.paused = 1;
}

static void
rs_stop(struct sift_source *src)
{
    struct rstream *rs = (struct rstream *)src;
    rs->stopped = 1;
}

static void
rs_stats(struct sift_source *src, struct sift_source_stats *out)
{
    struct rstream *rs = (struct rstream *)src;
    *out = rs->st;
    out->reconnects = rs->rp.reconnects;
    out->paused = rs->user_paused > 0 || rs->n_held > 0 || rs->stopped;
    out->lag = -1;
}

static void
rs_parts(struct sift_source *src, sift_source_part_cb cb, void *arg)
{
    struct rstream *rs = (struct rstream *)src;
    struct sift_source_part p = {rs->key, -1, -1, rs->st.inflight};
    cb(arg, &p);
}

static void
rs_free(struct sift_source *src)
{
    struct rstream *rs = (struct rstream *)src;
    struct sbatch *b;

    rs->stopped = 1;
    /* Durable batches whose XACK is not confirmed: ack them now. */
    for (b = rs->head; b; b = b->next) {
        if (b->state == SB_DURABLE && rs->rp.host) {
            struct sift_buf ids = SIFT_BUF_INIT;
            const char **argv = NULL;
            size_t *argvlen = NULL;
            build_xack(rs, b, &ids, &argv, &argvlen);
            if (sift__redis_sync_argv(rs->rp.host, rs->rp.port, (int)(b->n + 3),
                                      argv, argvlen) == 0)
                rs->st.msgs_acked += b->n;
            sift_free(argv);
            sift_free(argvlen);
            sift_buf_cleanup(&ids);
        }
    }
    rs->closing = 1;
    sift__redis_pair_cleanup(&rs->rp);
    while ((b = rs->head)) {
        list_unlink(rs, b);
        b->in_deliver = 0;
        sbatch_free(b);
    }
    if (rs->ev_retry)
        event_free(rs->ev_retry);
    sift_free(rs->stream);
    sift_free(rs->group);
    sift_free(rs->consumer);
    sift_free(rs->claimer);
    sift_free(rs->field);
    sift_free(rs->key);
    sift_free(rs->base.label);
    sift_free(rs);
}

static const struct sift_source_ops rs_ops = {
    "redis-stream", rs_start, rs_pause, rs_stop,
    rs_stats,       rs_parts, rs_free,  NULL,
};

int
sift_source_redis_stream_new(const struct sift_source_env *env,
                             const char *stream, struct sift_source **out)
{
    const struct sift_config *cfg = env->cfg;
    struct rstream *rs;
    char *host = NULL;
    int port = 0;
    char label[512];

    *out = NULL;
    if (!cfg->redis_address || !cfg->redis_address[0] || !stream[0] ||
        sift__ingest_parse_addr(cfg->redis_address, &host, &port) < 0) {
        SIFT_ERROR("redis: bad redis.address '%s' or stream name",
                   cfg->redis_address ? cfg->redis_address : "");
        return SIFT_ECONFIG;
    }
    rs = sift_xcalloc(1, sizeof(*rs));
    rs->base.ops = &rs_ops;
    snprintf(label, sizeof(label), "redis-stream:%s", stream);
    rs->base.label = sift_xstrdup(label);
    rs->env = *env;
    if (!rs->env.batch_max)
        rs->env.batch_max = 500;
    if (!rs->env.retry_ms)
        rs->env.retry_ms = 50;
    if (!rs->env.redis_block_ms)
        rs->env.redis_block_ms = 2000;
    if (!rs->env.redis_claim_idle_ms)
        rs->env.redis_claim_idle_ms = 60000;
    if (!rs->env.redis_claim_every_ms)
        rs->env.redis_claim_every_ms = 30000;
    rs->stream = sift_xstrdup(stream);
    rs->group = sift_xstrdup(
        cfg->redis_group && cfg->redis_group[0] ? cfg->redis_group : "sift");
    rs->consumer = sift__ingest_consumer_name(cfg, env->node_id);
    snprintf(label, sizeof(label), "%s:claimed", rs->consumer);
    rs->claimer = sift_xstrdup(label);
    rs->field = sift_xstrdup(cfg->redis_field && cfg->redis_field[0]
                                 ? cfg->redis_field
                                 : SIFT_MESSAGE_FIELD);
    snprintf(label, sizeof(label), "redis/%s", stream);
    rs->key = sift_xstrdup(label);
    rs->ev_retry = evtimer_new(env->base, on_retry, rs);
    sift__redis_pair_init(&rs->rp, env->base, host, port, on_up, on_down, rs);
    sift_free(host);
    *out = &rs->base;
    return SIFT_OK;
}
