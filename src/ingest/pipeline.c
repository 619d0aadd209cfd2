/*
 * pipeline.c - parsed events -> stages -> store, with per-source counts.
 *
 * Design: a fixed array of optional stage hooks run in order for every
 * event of a batch, then a single sift_store_append().  Counters live in a
 * small table of sources (a handful: http, bulk, kafka, redis) searched
 * linearly; a source name is created on first use.  Nothing here blocks:
 * the store's append only copies and queues, and its durable callback is
 * passed through unchanged.
 *
 * Context: loop thread only.
 */
#include <stdio.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/pipeline.h"

#define MAX_SOURCES 16

struct stage {
    sift_pipeline_stage_cb cb;
    void *arg;
};

struct sift_pipeline {
    struct sift_store *store;
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

int
sift_pipeline_submit(struct sift_pipeline *p, const char *source,
                     struct sift_event *evs, size_t n,
                     const struct sift_srcpos *pos, size_t n_pos,
                     struct sift_arena *arena, sift_durable_cb cb, void *arg)
{
    struct sift_pipeline_source_stats *st = source_stats(p, source);
    uint64_t bytes = 0;

    sift_pipeline_sync_rejects(p);

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
    int rc = sift_store_append(p->store, evs, n, pos, n_pos, cb, arg);
    if (rc < 0) {
        st->refused++;
        return rc;
    }
    st->events += n;
    st->bytes += bytes;
    return SIFT_OK;
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
