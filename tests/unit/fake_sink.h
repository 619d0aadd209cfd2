/*
 * fake_sink.h - a test sink at the ingest module boundary (see
 * docs/internals/style.md, Tests): it stands in for parse + store.  deliver
 * copies the batch into a pending FIFO; fake_sink_make_durable() "fsyncs" the
 * pending batches in order: their messages join the held set and their
 * positions the position map, then ack_cb(arg, SIFT_OK) runs.
 * fake_sink_lose_pending() fails them instead (a crash or a WAL error).  Like
 * the store, a failure is a prefix cut: fail_next_ack fails the next durable
 * step's first batch and every batch pending after it (a failed WAL fsync). The
 * held set outlives the sources, like a data dir across restarts.
 *
 * Messages are expected to be "m-<n>" with n < FAKE_MAX; held[n] counts
 * how often each was held, so duplicates and losses are both visible.
 * Included by the source tests only; everything is static.
 */
#ifndef FAKE_SINK_H
#define FAKE_SINK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/source.h"

#define FAKE_MAX 20000
#define FAKE_KEYS 64

struct fake_batch {
    size_t n;
    long *ids;              /* parsed "m-<n>" (-1 when not of that form) */
    char *fields;           /* "name=value;" of every extra field */
    struct sift_srcpos pos; /* key owned */
    int has_pos;
    sift_durable_cb cb;
    void *cb_arg;
    struct fake_batch *next;
};

struct fake_sink {
    struct fake_batch *head, *tail;
    size_t n_pending;
    unsigned held[FAKE_MAX];
    size_t n_held;          /* total held, duplicates included */
    size_t n_bad;           /* messages not of the m-<n> form */
    unsigned busy_left;     /* deliver answers EBUSY this many times */
    unsigned fail_next_ack; /* this many durable steps fail (each fails
                               every batch pending at that point) */
    unsigned deliver_calls;
    char *keys[FAKE_KEYS];
    struct sift_srcpos pos[FAKE_KEYS];
    size_t n_keys;
    char last_fields[256];
    int auto_durable; /* make durable from a 10 ms timer */
    struct event *timer;
};

static inline long
fake_parse_id(const char *p, size_t len)
{
    long v = 0;
    if (len < 3 || p[0] != 'm' || p[1] != '-')
        return -1;
    for (size_t i = 2; i < len; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
        if (v >= FAKE_MAX)
            return -1;
    }
    return v;
}

static inline int
fake_deliver(void *arg, const struct sift_source_batch *batch,
             sift_durable_cb ack_cb, void *ack_arg)
{
    struct fake_sink *fs = arg;
    struct fake_batch *b;

    fs->deliver_calls++;
    if (fs->busy_left > 0) {
        fs->busy_left--;
        return SIFT_EBUSY;
    }
    b = sift_xcalloc(1, sizeof(*b));
    b->n = batch->n_msgs;
    b->ids = sift_xcalloc(b->n ? b->n : 1, sizeof(long));
    for (size_t i = 0; i < b->n; i++) {
        const struct sift_source_msg *m = &batch->msgs[i];
        size_t len = m->len;
        /* rsyslog-style producers may end a record with a newline. */
        while (len > 0 &&
               (m->data[len - 1] == '\n' || m->data[len - 1] == '\r'))
            len--;
        b->ids[i] = fake_parse_id(m->data, len);
        if (m->n_fields > 0 && i == 0) {
            char buf[256];
            size_t o = 0;
            for (uint32_t f = 0; f < m->n_fields && o < sizeof(buf) - 1; f++) {
                int w =
                    snprintf(buf + o, sizeof(buf) - o, "%.*s=%.*s;",
                             (int)m->fields[f].name_len, m->fields[f].name,
                             (int)m->fields[f].value_len, m->fields[f].value);
                if (w < 0)
                    break;
                o += (size_t)w;
                if (o >= sizeof(buf))
                    o = sizeof(buf) - 1;
            }
            b->fields = sift_xstrndup(buf, o);
        }
    }
    if (batch->n_pos > 0) {
        b->has_pos = 1;
        b->pos = batch->pos[batch->n_pos - 1];
        b->pos.key = sift_xstrdup(b->pos.key);
    }
    b->cb = ack_cb;
    b->cb_arg = ack_arg;
    if (fs->tail)
        fs->tail->next = b;
    else
        fs->head = b;
    fs->tail = b;
    fs->n_pending++;
    return SIFT_OK;
}

static inline int
fake_position(void *arg, const char *key, struct sift_srcpos *out)
{
    struct fake_sink *fs = arg;
    for (size_t i = 0; i < fs->n_keys; i++) {
        if (!strcmp(fs->keys[i], key)) {
            *out = fs->pos[i];
            out->key = fs->keys[i];
            return SIFT_OK;
        }
    }
    return SIFT_ENOTFOUND;
}

static inline void
fake_batch_free(struct fake_batch *b)
{
    sift_free(b->ids);
    sift_free(b->fields);
    sift_free((char *)(uintptr_t)b->pos.key);
    sift_free(b);
}

/* Pops one pending batch; returns NULL when none. */
static inline struct fake_batch *
fake_pop(struct fake_sink *fs)
{
    struct fake_batch *b = fs->head;
    if (!b)
        return NULL;
    fs->head = b->next;
    if (!fs->head)
        fs->tail = NULL;
    fs->n_pending--;
    return b;
}

/* Holds every pending batch (in order) and acks it. */
static inline void
fake_sink_make_durable(struct fake_sink *fs)
{
    struct fake_batch *b;

    while ((b = fake_pop(fs))) {
        if (fs->fail_next_ack > 0) {
            /* A failed fsync: this batch and every later one fail. */
            fs->fail_next_ack--;
            do {
                b->cb(b->cb_arg, SIFT_EIO);
                fake_batch_free(b);
            } while ((b = fake_pop(fs)));
            return;
        }
        for (size_t i = 0; i < b->n; i++) {
            if (b->ids[i] < 0)
                fs->n_bad++;
            else
                fs->held[b->ids[i]]++;
            fs->n_held++;
        }
        if (b->fields)
            snprintf(fs->last_fields, sizeof(fs->last_fields), "%s", b->fields);
        if (b->has_pos) {
            size_t k;
            for (k = 0; k < fs->n_keys; k++)
                if (!strcmp(fs->keys[k], b->pos.key))
                    break;
            int fresh = k == fs->n_keys;
            if (fresh && k < FAKE_KEYS)
                fs->keys[fs->n_keys++] = sift_xstrdup(b->pos.key);
            /* The store keeps the largest position per key. */
            if (k < FAKE_KEYS &&
                (fresh || b->pos.hi > fs->pos[k].hi ||
                 (b->pos.hi == fs->pos[k].hi && b->pos.lo > fs->pos[k].lo))) {
                fs->pos[k].hi = b->pos.hi;
                fs->pos[k].lo = b->pos.lo;
            }
        }
        b->cb(b->cb_arg, SIFT_OK);
        fake_batch_free(b);
    }
}

/* Fails every pending batch, as a crash before fsync would. */
static inline void
fake_sink_lose_pending(struct fake_sink *fs)
{
    struct fake_batch *b;
    while ((b = fake_pop(fs))) {
        b->cb(b->cb_arg, SIFT_ESHUTDOWN);
        fake_batch_free(b);
    }
}

/* Drops pending batches without calling back (process died). */
static inline void
fake_sink_forget_pending(struct fake_sink *fs)
{
    struct fake_batch *b;
    while ((b = fake_pop(fs)))
        fake_batch_free(b);
}

static inline void
fake_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct fake_sink *fs = arg;
    (void)fd;
    (void)what;
    if (fs->auto_durable)
        fake_sink_make_durable(fs);
}

static inline void
fake_sink_init(struct fake_sink *fs, struct event_base *base)
{
    struct timeval tv = {0, 10000};
    memset(fs, 0, sizeof(*fs));
    fs->auto_durable = 1;
    fs->timer = event_new(base, -1, EV_PERSIST, fake_on_timer, fs);
    event_add(fs->timer, &tv);
}

static inline void
fake_sink_cleanup(struct fake_sink *fs)
{
    fake_sink_lose_pending(fs);
    if (fs->timer)
        event_free(fs->timer);
    for (size_t i = 0; i < fs->n_keys; i++)
        sift_free(fs->keys[i]);
    memset(fs, 0, sizeof(*fs));
}

/* Messages held exactly once among ids [0, n); *dups gets the extras. */
static inline size_t
fake_sink_unique(const struct fake_sink *fs, size_t n, size_t *dups)
{
    size_t once = 0, extra = 0;
    for (size_t i = 0; i < n && i < FAKE_MAX; i++) {
        if (fs->held[i] >= 1)
            once++;
        if (fs->held[i] > 1)
            extra += fs->held[i] - 1;
    }
    if (dups)
        *dups = extra;
    return once;
}

/*
 * A source env that delivers to fs, with the 20 ms EBUSY retry every
 * source test uses; the caller sets the source-specific fields.  Borrows
 * base, cfg and fs, which must outlive the source.
 */
static inline void
fake_source_env_init(struct sift_source_env *env, struct event_base *base,
                     const struct sift_config *cfg, struct fake_sink *fs,
                     uint32_t batch_max)
{
    memset(env, 0, sizeof(*env));
    env->base = base;
    env->cfg = cfg;
    env->sink.deliver = fake_deliver;
    env->sink.position = fake_position;
    env->sink.arg = fs;
    env->batch_max = batch_max;
    env->retry_ms = 20;
}

/* fake_cond_fn argument for fake_all_held(). */
struct fake_want {
    struct fake_sink *sink;
    size_t n; /* messages m-0 .. m-(n-1) */
};

/* fake_cond_fn: all n messages held (once or more) and nothing pending. */
static inline int
fake_all_held(void *arg)
{
    struct fake_want *w = arg;
    return fake_sink_unique(w->sink, w->n, NULL) == w->n &&
           w->sink->n_pending == 0;
}

typedef int (*fake_cond_fn)(void *arg);

static inline void
fake_exit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/* Runs the loop until cond(arg) or timeout_ms passed; returns cond. */
static inline int
fake_run_until(struct event_base *base, fake_cond_fn cond, void *arg,
               long timeout_ms)
{
    struct timeval start, now;
    struct event *tick = event_new(base, -1, EV_PERSIST, fake_exit_cb, base);
    struct timeval tv = {0, 20000};
    int ok = 0;

    gettimeofday(&start, NULL);
    event_add(tick, &tv);
    for (;;) {
        long ms;
        if (cond && cond(arg)) {
            ok = 1;
            break;
        }
        gettimeofday(&now, NULL);
        ms = (now.tv_sec - start.tv_sec) * 1000 +
             (now.tv_usec - start.tv_usec) / 1000;
        if (ms >= timeout_ms)
            break;
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(tick);
    return ok;
}

/* Runs the loop for ms milliseconds. */
static inline void
fake_run_for(struct event_base *base, long ms)
{
    fake_run_until(base, NULL, NULL, ms);
}

#endif /* FAKE_SINK_H */
