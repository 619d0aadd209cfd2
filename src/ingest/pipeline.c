/*
 * pipeline.c - parsed events -> time checks -> stages -> store, with
 * per-source counts.
 *
 * Design: the time checks (admit.c) run first, so every stage and the
 * store see the clamped time and no stage sees an event that will not be
 * stored; the batch is compacted in place.  A fixed array of optional
 * stage hooks runs in order for every event of a batch, then a single
 * sift_store_append().  Expired and future-dated events are logged at
 * most once per LOG_EVERY per source, with the count since the last
 * line, so a backlog of old data cannot flood the log.  Counters live in a
 * small table of sources (a handful: http, bulk, kafka, redis) searched
 * linearly; a source name is created on first use.  Nothing here blocks:
 * the store's append only copies and queues, and its durable callback is
 * passed through unchanged.
 *
 * Context: loop thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sift/admit.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/pipeline.h"

#define MAX_SOURCES 16
#define LOG_EVERY_NS (10 * SIFT_NS_PER_SEC) /* expired/future log lines */

struct stage {
    sift_pipeline_stage_cb cb;
    void *arg;
};

struct sift_pipeline {
    struct sift_store *store;
    const struct sift_config *cfg; /* borrowed; NULL = no time checks */
    struct stage stages[SIFT_STAGE_COUNT];
    sift_pipeline_dlq_cb dlq;
    sift_pipeline_dlq_sync_cb dlq_sync;
    void *dlq_arg;
    int dlq_dirty; /* rejects written since the last sync */
    struct sift_pipeline_source_stats sources[MAX_SOURCES];
    size_t n_sources;
};

int
sift_pipeline_new(struct sift_store *store, struct sift_pipeline **out)
{
    struct sift_pipeline *p = sift_xcalloc(1, sizeof(*p));
    p->store = store;
    *out = p;
    return SIFT_OK;
}

void
sift_pipeline_free(struct sift_pipeline *p)
{
    sift_free(p);
}

void
sift_pipeline_set_config(struct sift_pipeline *p, const struct sift_config *cfg)
{
    p->cfg = cfg;
}

void
sift_pipeline_set_stage(struct sift_pipeline *p, enum sift_pipeline_stage stage,
                        sift_pipeline_stage_cb cb, void *arg)
{
    p->stages[stage].cb = cb;
    p->stages[stage].arg = arg;
}

void
sift_pipeline_set_dlq(struct sift_pipeline *p, sift_pipeline_dlq_cb cb,
                      sift_pipeline_dlq_sync_cb sync, void *arg)
{
    p->dlq = cb;
    p->dlq_sync = sync;
    p->dlq_arg = arg;
}

void
sift_pipeline_sync_rejects(struct sift_pipeline *p)
{
    if (p->dlq_dirty && p->dlq_sync)
        p->dlq_sync(p->dlq_arg);
    p->dlq_dirty = 0;
}

static struct sift_pipeline_source_stats *
source_stats(struct sift_pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->n_sources; i++) {
        if (strcmp(p->sources[i].name, name) == 0)
            return &p->sources[i];
    }
    /* The table is sized for the fixed set of source kinds; a program
     * error past it folds into the last slot rather than failing ingest. */
    size_t i = p->n_sources < MAX_SOURCES ? p->n_sources++ : MAX_SOURCES - 1;
    struct sift_pipeline_source_stats *s = &p->sources[i];
    if (s->name[0] == '\0')
        snprintf(s->name, sizeof(s->name), "%s", name);
    return s;
}

/* Writes a dead letter without counting it as a parse reject.  An event
 * without raw bytes (decoded from a structured protocol: OTLP, Loki,
 * journald) is kept as its JSON, which /api/v1/ingest takes back. */
static void
dead_letter(struct sift_pipeline *p, struct sift_pipeline_source_stats *st,
            const char *source, const struct sift_srcpos *pos,
            const struct sift_event *ev, const char *reason)
{
    if (p->dlq) {
        struct sift_buf json = SIFT_BUF_INIT;
        const char *raw = ev->raw;
        size_t len = ev->raw_len;
        if (!raw) {
            sift_event_to_json(ev, &json);
            raw = json.data;
            len = json.len;
        }
        p->dlq(p->dlq_arg, source, pos, raw ? raw : "", len, reason);
        sift_buf_cleanup(&json);
        st->dead_lettered++;
        p->dlq_dirty = 1;
    }
}

static void
log_time_checks(struct sift_pipeline_source_stats *st, const char *sample)
{
    int64_t now = sift_clock_mono_ns();
    if (st->unlogged_expired + st->unlogged_future == 0 ||
        (st->last_log_mono_ns != 0 &&
         now - st->last_log_mono_ns < LOG_EVERY_NS))
        return;
    SIFT_WARN("ingest: %s: %" PRIu64 " event(s) older than tiers.retention "
              "dead-lettered as expired, %" PRIu64 " stamped past "
              "ingest.max_future; e.g. %s",
              st->name, st->unlogged_expired, st->unlogged_future, sample);
    st->unlogged_expired = 0;
    st->unlogged_future = 0;
    st->last_log_mono_ns = now;
}

/* The time checks over evs[0..n), compacting in place; returns the count
 * kept. */
static size_t
admit_batch(struct sift_pipeline *p, struct sift_pipeline_source_stats *st,
            const char *source, struct sift_event *evs, size_t n,
            const struct sift_srcpos *pos, size_t n_pos,
            struct sift_arena *arena, struct sift_pipeline_counts *c)
{
    if (!p->cfg)
        return n;
    struct sift_admit_opts o = {
        .max_future_ns = p->cfg->max_future_ms * SIFT_NS_PER_MS,
        .reject_future = strcmp(p->cfg->future_events, "reject") == 0,
        .retention_ns = p->cfg->retention_ms * SIFT_NS_PER_MS,
    };
    int64_t now = sift_clock_now_ns();
    const struct sift_srcpos *one = n_pos == 1 ? pos : NULL;
    char reason[256], sample[256];
    sample[0] = '\0';
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        reason[0] = '\0';
        enum sift_admit_result r =
            sift_admit_event(&o, &evs[i], now, arena, reason, sizeof(reason));
        if (c->admit)
            c->admit[i] = (uint8_t)r;
        switch (r) {
        case SIFT_ADMIT_EXPIRED:
            c->expired++;
            st->expired++;
            st->unlogged_expired++;
            dead_letter(p, st, source, one, &evs[i], reason);
            memcpy(sample, reason, sizeof(sample));
            continue;
        case SIFT_ADMIT_FUTURE:
            c->future_rejected++;
            st->future_rejected++;
            st->unlogged_future++;
            dead_letter(p, st, source, one, &evs[i], reason);
            memcpy(sample, reason, sizeof(sample));
            continue;
        case SIFT_ADMIT_CLAMPED:
            c->future_clamped++;
            st->future_clamped++;
            st->unlogged_future++;
            snprintf(sample, sizeof(sample),
                     "a timestamp past ingest.max_future was stored at its "
                     "arrival time (the original is in %s)",
                     SIFT_TS_ORIGINAL_FIELD);
            break;
        case SIFT_ADMIT_NO_MEMORY: /* keep it unclamped rather than lose it */
        case SIFT_ADMIT_OK: break;
        }
        evs[kept++] = evs[i];
    }
    log_time_checks(st, sample);
    return kept;
}

int
sift_pipeline_submit_counted(struct sift_pipeline *p, const char *source,
                             struct sift_event *evs, size_t n,
                             const struct sift_srcpos *pos, size_t n_pos,
                             struct sift_arena *arena, sift_durable_cb cb,
                             void *arg, struct sift_pipeline_counts *counts)
{
    struct sift_pipeline_source_stats *st = source_stats(p, source);
    struct sift_pipeline_counts local = {0};
    struct sift_pipeline_counts *c = counts ? counts : &local;
    uint64_t bytes = 0;

    if (!c->admitted) {
        uint8_t *admit = c->admit;
        const struct sift_doc_key *replace = c->replace;
        size_t n_replace = c->n_replace;
        memset(c, 0, sizeof(*c));
        c->admit = admit;
        c->replace = replace;
        c->n_replace = n_replace;
        if (admit && n)
            memset(admit, SIFT_ADMIT_OK, n);
        n = admit_batch(p, st, source, evs, n, pos, n_pos, arena, c);
    }
    c->seq = 0;
    sift_pipeline_sync_rejects(p);
    if (n == 0 && n_pos == 0) {
        /* Everything went to the dead-letter store (synced above). */
        cb(arg, SIFT_OK);
        return SIFT_OK;
    }

    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < SIFT_STAGE_COUNT; s++) {
            if (!p->stages[s].cb)
                continue;
            int rc = p->stages[s].cb(p->stages[s].arg, &evs[i], arena);
            if (rc < 0) {
                st->refused++;
                return rc;
            }
        }
        bytes += evs[i].raw ? evs[i].raw_len : evs[i].msg_len;
    }
    int rc = c->n_replace && n_pos == 0
                 ? sift_store_append_replacing(p->store, evs, n, c->replace,
                                               c->n_replace, cb, arg)
                 : sift_store_append(p->store, evs, n, pos, n_pos, cb, arg);
    if (rc < 0) {
        st->refused++;
        return rc;
    }
    c->seq = sift_store_last_seq(p->store);
    c->stored = n;
    st->events += n;
    st->bytes += bytes;
    return SIFT_OK;
}

size_t
sift_pipeline_admit(struct sift_pipeline *p, const char *source,
                    struct sift_event *evs, size_t n, struct sift_arena *arena,
                    struct sift_pipeline_counts *counts)
{
    struct sift_pipeline_source_stats *st = source_stats(p, source);
    uint8_t *admit = counts->admit;
    memset(counts, 0, sizeof(*counts));
    counts->admit = admit;
    if (admit && n)
        memset(admit, SIFT_ADMIT_OK, n);
    return admit_batch(p, st, source, evs, n, NULL, 0, arena, counts);
}

int
sift_pipeline_submit(struct sift_pipeline *p, const char *source,
                     struct sift_event *evs, size_t n,
                     const struct sift_srcpos *pos, size_t n_pos,
                     struct sift_arena *arena, sift_durable_cb cb, void *arg)
{
    return sift_pipeline_submit_counted(p, source, evs, n, pos, n_pos, arena,
                                        cb, arg, NULL);
}

void
sift_pipeline_reject(struct sift_pipeline *p, const char *source,
                     const struct sift_srcpos *pos, const char *raw,
                     size_t raw_len, const char *reason)
{
    struct sift_pipeline_source_stats *st = source_stats(p, source);
    st->rejected++;
    if (p->dlq) {
        p->dlq(p->dlq_arg, source, pos, raw, raw_len, reason);
        st->dead_lettered++;
        p->dlq_dirty = 1;
    } else {
        SIFT_WARN("rejected %s input (%zu bytes): %s", source, raw_len, reason);
    }
}

const struct sift_pipeline_source_stats *
sift_pipeline_stats(const struct sift_pipeline *p, size_t *n_out)
{
    *n_out = p->n_sources;
    return p->sources;
}
