/*
 * source_pipe.c - the standard sink for ingest sources: parse each raw
 * message, dead-letter what does not parse, and submit the batch to the
 * pipeline (redaction, templates, anomaly ring, sift_store_append) with
 * the source's ack_cb as the durable callback.  Continuation messages (a
 * stack trace shipped one line per message) join the message before them
 * from the same partition and stream (include/sift/multiline.h).
 *
 * Design: parse options per source section ([kafka], [redis], [syslog]:
 * format, extra_fields, keep_metadata), and per syslog listener that
 * names fields of its own (its fields first, then the [syslog]
 * extra_fields it does not name, so the listener's value wins).  One arena per
 * delivered batch, freed as soon as the pipeline returns (sift_store_append
 * copies the events and positions).  Extra fields a source attaches (Redis
 * stream entry fields) are appended to the parsed event's fields as KEYWORDs.
 * A batch whose messages were all rejected still goes to the store when it
 * carries positions, so the position advances; without positions (stream
 * entries claimed from another consumer) it is acknowledged at once because
 * every message is already in the dead-letter store.
 *
 * Known edge: when the store refuses a batch (SIFT_EBUSY), its rejected
 * messages were already dead-lettered and will be again on the retry.
 *
 * Thread: loop thread only.
 */
#include <string.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/kvlist.h"
#include "sift/log.h"
#include "sift/multiline.h"
#include "sift/parse.h"
#include "sift/pipeline.h"
#include "sift/source.h"
#include "sift/store.h"

#include "ingest/ingest_int.h"

/* Parse options per source section: [kafka] and [redis] each have their
 * own format, extra_fields and keep_metadata over the [ingest] keys. */
enum { PIPE_KAFKA, PIPE_REDIS, PIPE_SYSLOG, PIPE_N };

/* A syslog listener with fields of its own: its source label and parse
 * options whose extra fields are its own, then [syslog] extra_fields
 * it does not name. */
struct pipe_listener {
    char *label; /* "tcp:<addr>", the origin of syslog.c's batches */
    char *extra; /* the merged "name=value,..." list o borrows */
    struct sift_parse_opts o;
};

struct sift_source_pipe {
    struct sift_pipeline *pipeline;
    struct sift_parse_opts opts[PIPE_N];
    struct pipe_listener *lst;
    size_t n_lst;
    struct sift_multiline *ml; /* continuation messages join; owned */
};

static int
pipe_opts(struct sift_parse_opts *o, const struct sift_config *cfg,
          const char *section, const char *format, const char *extra,
          int64_t keep_metadata)
{
    struct sift_parse_error err;
    sift_parse_opts_init(o);
    sift_parse_opts_from_config(o, cfg);
    if (sift_parse_format_from_name(format, &o->format) < 0)
        o->format = SIFT_PARSE_AUTO;
    o->extra_fields = extra;
    o->keep_metadata = keep_metadata != 0;
    int rc = sift_parse_opts_compile(o, &err);
    if (rc < 0)
        SIFT_ERROR("ingest: [%s] parse options: %s", section, err.reason);
    return rc;
}

struct merge {
    struct sift_buf *b;
    const char *own; /* the listener's list: names it sets win */
};

static int
name_in(void *arg, const char *name, size_t name_len, const char *value,
        size_t value_len)
{
    const char *want = arg;
    (void)value;
    (void)value_len;
    return strlen(want) == name_len && memcmp(want, name, name_len) == 0;
}

static int
merge_global(void *arg, const char *name, size_t name_len, const char *value,
             size_t value_len)
{
    struct merge *m = arg;
    char nm[256];
    snprintf(nm, sizeof(nm), "%.*s", (int)name_len, name);
    if (sift_kvlist_walk(m->own, name_in, nm, NULL, 0) > 0)
        return 0;
    sift_buf_appendf(m->b, ",%.*s=%.*s", (int)name_len, name, (int)value_len,
                     value);
    return 0;
}

/* Parse options for each [syslog] listener that names fields. */
static int
pipe_listeners(struct sift_source_pipe *sp, const struct sift_config *cfg)
{
    int rc = SIFT_OK;
    static const char *const names[] = {"tcp", "udp", "tls"};
    for (int t = SIFT_SYSLOG_TCP; t <= SIFT_SYSLOG_TLS && rc == SIFT_OK; t++) {
        struct sift_config_listener *items = NULL;
        size_t n = 0;
        char why[200];
        rc = sift_config_listeners(sift__ingest_syslog_list(cfg, t), &items, &n,
                                   why, sizeof(why));
        if (rc < 0) {
            SIFT_ERROR("syslog.%s: %s", names[t], why);
            rc = SIFT_ECONFIG;
        }
        for (size_t i = 0; i < n && rc == SIFT_OK; i++) {
            const char *addr = items[i].addr, *fields = items[i].fields;
            if (fields[0]) {
                struct sift_buf b = SIFT_BUF_INIT;
                struct merge m = {&b, fields};
                sift_buf_appendf(&b, "%s", fields);
                sift_kvlist_walk(cfg->syslog_extra_fields, merge_global, &m,
                                 NULL, 0);
                sp->lst =
                    sift_xrealloc(sp->lst, (sp->n_lst + 1) * sizeof(*sp->lst));
                struct pipe_listener *l = &sp->lst[sp->n_lst++];
                memset(l, 0, sizeof(*l));
                size_t ll = strlen(addr) + 5;
                l->label = sift_xmalloc(ll);
                snprintf(l->label, ll, "%s:%s", names[t], addr);
                l->extra = sift_xstrdup(sift_buf_cstr(&b));
                sift_buf_cleanup(&b);
                rc = pipe_opts(&l->o, cfg, l->label, cfg->syslog_format,
                               l->extra, 0);
            }
        }
        sift_config_listeners_free(items, n);
    }
    return rc;
}

int
sift_source_pipe_new(struct sift_pipeline *pipeline,
                     const struct sift_config *cfg,
                     struct sift_source_pipe **out)
{
    struct sift_source_pipe *sp = sift_xcalloc(1, sizeof(*sp));
    sp->pipeline = pipeline;
    int rc = pipe_opts(&sp->opts[PIPE_KAFKA], cfg, "kafka", cfg->kafka_format,
                       cfg->kafka_extra_fields, cfg->kafka_keep_metadata);
    if (rc == SIFT_OK)
        rc = pipe_opts(&sp->opts[PIPE_REDIS], cfg, "redis", cfg->redis_format,
                       cfg->redis_extra_fields, cfg->redis_keep_metadata);
    if (rc == SIFT_OK)
        rc = pipe_opts(&sp->opts[PIPE_SYSLOG], cfg, "syslog",
                       cfg->syslog_format, cfg->syslog_extra_fields, 0);
    if (rc == SIFT_OK)
        rc = pipe_listeners(sp, cfg);
    if (rc < 0) {
        sift_source_pipe_free(sp);
        *out = NULL;
        return rc;
    }
    struct sift_multiline_opts mo;
    char why[SIFT_PARSE_REASON_MAX];
    sift_multiline_opts_init(&mo);
    sift_multiline_opts_from_config(&mo, cfg);
    rc = sift_multiline_new(&mo, &sp->ml, why, sizeof(why));
    if (rc < 0) {
        SIFT_ERROR("ingest: %s", why);
        sift_source_pipe_free(sp);
        *out = NULL;
        return SIFT_ECONFIG;
    }
    *out = sp;
    return SIFT_OK;
}

void
sift_source_pipe_free(struct sift_source_pipe *sp)
{
    if (!sp)
        return;
    for (int i = 0; i < PIPE_N; i++)
        sift_parse_opts_cleanup(&sp->opts[i]);
    for (size_t i = 0; i < sp->n_lst; i++) {
        sift_parse_opts_cleanup(&sp->lst[i].o);
        sift_free(sp->lst[i].label);
        sift_free(sp->lst[i].extra);
    }
    sift_free(sp->lst);
    sift_multiline_free(sp->ml);
    sift_free(sp);
}

int
sift_source_pipe_deliver(void *arg, const struct sift_source_batch *batch,
                         sift_durable_cb ack_cb, void *ack_arg)
{
    struct sift_source_pipe *sp = arg;
    struct sift_arena *arena = sift_arena_new((size_t)64 * 1024);
    struct sift_event *evs;
    size_t n = 0;
    int64_t now = sift_clock_now_ns();
    int rc;

    evs = sift_arena_try_alloc(arena, (batch->n_msgs ? batch->n_msgs : 1) *
                                          sizeof(*evs));
    /* The partition of each event: continuations join only within one. */
    const char **streams = sift_arena_try_alloc(
        arena, (batch->n_msgs ? batch->n_msgs : 1) * sizeof(*streams));
    uint8_t *ml_flags = sift_arena_try_alloc(arena, batch->n_msgs + 1);
    if (!evs || !streams || !ml_flags) {
        sift_arena_free(arena);
        return SIFT_ENOMEM;
    }
    const struct sift_parse_opts *opts =
        &sp->opts[strncmp(batch->source, "redis", 5) == 0    ? PIPE_REDIS
                  : strncmp(batch->source, "syslog", 6) == 0 ? PIPE_SYSLOG
                                                             : PIPE_KAFKA];
    for (size_t i = 0; opts == &sp->opts[PIPE_SYSLOG] && i < sp->n_lst; i++)
        if (batch->origin && strcmp(batch->origin, sp->lst[i].label) == 0)
            opts = &sp->lst[i].o;
    size_t n_rejected = 0;
    char first[SIFT_PARSE_REASON_MAX] = "";
    for (size_t i = 0; i < batch->n_msgs; i++) {
        const struct sift_source_msg *m = &batch->msgs[i];
        struct sift_parse_error err;
        struct sift_event *ev = &evs[n];

        memset(&err, 0, sizeof(err));
        int64_t recv = m->ts_ns > 0 ? m->ts_ns : now;
        rc = sift_parse_event(opts, m->data, m->len, recv, arena, ev, &err);
        if (rc == SIFT_ENOMEM) {
            sift_arena_free(arena);
            return rc;
        }
        if (rc < 0) {
            const char *why = err.reason[0] ? err.reason : sift_strerror(rc);
            if (n_rejected++ == 0)
                snprintf(first, sizeof(first), "%s", why);
            sift_pipeline_reject(sp->pipeline, batch->source, &m->pos, m->data,
                                 m->len, why);
            continue;
        }
        if (m->n_fields > 0) {
            size_t nf = (size_t)ev->n_fields + m->n_fields;
            struct sift_field *f = sift_arena_try_alloc(arena, nf * sizeof(*f));
            if (!f) {
                sift_arena_free(arena);
                return SIFT_ENOMEM;
            }
            if (ev->n_fields)
                memcpy(f, ev->fields, ev->n_fields * sizeof(*f));
            memcpy(f + ev->n_fields, m->fields, m->n_fields * sizeof(*f));
            ev->fields = f;
            ev->n_fields = (uint32_t)nf;
        }
        streams[n] = m->pos.key ? m->pos.key : "";
        /* No time of its own: it got the arrival time (exact equality is
         * only a hint; it skips the time-gap check, nothing else). */
        ml_flags[n] = ev->ts_ns == recv ? SIFT_ML_UNTIMED : 0;
        n++;
    }
    n = sift_multiline_join(sp->ml, evs, n, streams, ml_flags, arena, NULL,
                            NULL);
    /* Rejected input leaves a log line: one per batch, not per message. */
    if (n_rejected > 0)
        SIFT_INFO("ingest: %s %s: %zu of %zu message%s rejected (first: %s); "
                  "they are in the dead-letter file",
                  batch->source, batch->origin ? batch->origin : "", n_rejected,
                  batch->n_msgs, batch->n_msgs == 1 ? "" : "s", first);
    if (n == 0 && batch->n_pos == 0) {
        /* Everything is in the dead-letter store: make it durable before
         * the source acknowledges the batch. */
        sift_pipeline_sync_rejects(sp->pipeline);
        sift_arena_free(arena);
        ack_cb(ack_arg, SIFT_OK);
        return SIFT_OK;
    }
    rc = sift_pipeline_submit(sp->pipeline, batch->source, evs, n, batch->pos,
                              batch->n_pos, arena, ack_cb, ack_arg);
    sift_arena_free(arena);
    return rc;
}

int
sift_source_store_position(void *arg, const char *key, struct sift_srcpos *out)
{
    return sift_store_position(arg, key, out);
}
