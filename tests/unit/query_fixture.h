/*
 * query_fixture.h - shared helpers for the query tests: loading events,
 * building real segments from them, and reading ids back out of hits.
 *
 * Header-only (static functions) because each test_*.c is its own
 * executable.  Events and their strings live in one arena per set.
 */
#ifndef SIFT_TEST_QUERY_FIXTURE_H
#define SIFT_TEST_QUERY_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/query.h"
#include "sift/render.h"
#include "sift/segment.h"

struct qf_events {
    struct sift_arena *arena;
    struct sift_event *v;
    size_t n, cap;
};

static inline void
qf_events_free(struct qf_events *e)
{
    sift_free(e->v);
    if (e->arena)
        sift_arena_free(e->arena);
    memset(e, 0, sizeof(*e));
}

static inline struct sift_event *
qf_events_push(struct qf_events *e)
{
    if (!e->arena)
        e->arena = sift_arena_new(1 << 16);
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->v = sift_xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    struct sift_event *ev = &e->v[e->n++];
    memset(ev, 0, sizeof(*ev));
    ev->fields = sift_arena_alloc(e->arena, 16 * sizeof(struct sift_field));
    return ev;
}

static inline void
qf_add_field(struct qf_events *e, struct sift_event *ev, const char *name,
             const char *value, size_t len, uint8_t type)
{
    struct sift_field *f = &ev->fields[ev->n_fields++];
    f->name = sift_arena_strndup(e->arena, name, strlen(name));
    f->name_len = (uint32_t)strlen(name);
    f->value = sift_arena_strndup(e->arena, value, len);
    f->value_len = (uint32_t)len;
    f->type = type;
}

/*
 * Loads tests/data/query/events.tsv: id, time (RFC 3339), level, service,
 * status, duration_ms, host, message; an empty cell means "no field".
 */
static inline int
qf_load_tsv(const char *path, struct qf_events *e)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[4096];
    static const char *const names[] = {"id",      "time",   "level",
                                        "service", "status", "duration_ms",
                                        "host",    "message"};
    static const uint8_t types[] = {SIFT_FT_NUMBER,  0,
                                    SIFT_FT_KEYWORD, SIFT_FT_KEYWORD,
                                    SIFT_FT_NUMBER,  SIFT_FT_NUMBER,
                                    SIFT_FT_KEYWORD, 0};
    while (fgets(line, sizeof(line), f)) {
        size_t len = strlen(line);
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        struct sift_event *ev = qf_events_push(e);
        char *p = line;
        for (int col = 0; col < 8 && p; col++) {
            char *tab = col < 7 ? strchr(p, '\t') : NULL;
            size_t n = tab ? (size_t)(tab - p) : strlen(p);
            if (col == 1) {
                char tmp[64];
                snprintf(tmp, sizeof(tmp), "%.*s", (int)n, p);
                if (sift_query_time_parse(tmp, 0, &ev->ts_ns) < 0) {
                    fclose(f);
                    return -1;
                }
            } else if (col == 7) {
                ev->msg = sift_arena_strndup(e->arena, p, n);
                ev->msg_len = (uint32_t)n;
            } else if (n > 0) {
                qf_add_field(e, ev, names[col], p, n, types[col]);
            }
            p = tab ? tab + 1 : NULL;
        }
    }
    fclose(f);
    return 0;
}

/* Builds one segment from evs[idx[0..n)] (or evs[0..n) when idx NULL). */
static inline struct sift_segment *
qf_build(const struct sift_event *evs, const size_t *idx, size_t n,
         int via_file)
{
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_segment_builder *b;
    if (sift_segment_builder_new(&opts, &b) != SIFT_OK)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (sift_segment_builder_add(b, &evs[idx ? idx[i] : i]) != SIFT_OK)
            abort();
    struct sift_buf img = SIFT_BUF_INIT;
    if (sift_segment_builder_finish(b, &img) != SIFT_OK)
        abort();
    sift_segment_builder_free(b);
    struct sift_segment *seg = NULL;
    if (via_file) {
        char path[] = "/tmp/sift-query-test-XXXXXX";
        int fd = mkstemp(path);
        if (fd < 0 || write(fd, img.data, img.len) != (ssize_t)img.len)
            abort();
        close(fd);
        if (sift_segment_open_file(path, &seg) != SIFT_OK)
            abort();
        unlink(path);
        sift_buf_cleanup(&img);
    } else {
        size_t len;
        char *data = sift_buf_detach(&img, &len);
        if (sift_segment_open_mem(data, len, &seg) != SIFT_OK)
            abort();
    }
    return seg;
}

/* Reads the "id" field of every hit of res, in order (-1 when a hit has
 * none); returns the count. */
static inline size_t
qf_hit_ids(const struct sift_search_result *res, long *ids, size_t max)
{
    struct sift_arena *a = sift_arena_new(4096);
    for (uint32_t i = 0; i < res->n_hits && i < max; i++) {
        struct sift_event ev;
        sift_arena_reset(a);
        ids[i] = -1;
        if (sift_doc_decode((const uint8_t *)res->docs.data +
                                res->hits[i].doc_off,
                            res->hits[i].doc_len, a, &ev) != SIFT_OK)
            abort();
        const struct sift_field *f = sift_event_field(&ev, "id", 2);
        if (f) {
            char num[32];
            size_t len = f->value_len < 31 ? f->value_len : 31;
            memcpy(num, f->value, len);
            num[len] = '\0';
            ids[i] = strtol(num, NULL, 10);
        }
    }
    sift_arena_free(a);
    return res->n_hits;
}

/* The hits of res as the API writes them (api/render.c) into out, which
 * is reset first; returns out's text.  Aborts when a hit does not decode. */
static inline const char *
qf_hits_json(const struct sift_search_result *res,
             const struct sift_render_hits_opts *ro, struct sift_buf *out)
{
    static const struct sift_render_hits_opts none;
    sift_buf_reset(out);
    if (sift_render_hits(res, 0, ro ? ro : &none, out) != SIFT_OK)
        abort();
    return sift_buf_cstr(out);
}

/* The whole search reply as the API writes it, appended to out. */
static inline void
qf_search_json(const struct sift_search_result *res, int64_t took_ms,
               struct sift_buf *out)
{
    struct sift_buf hits = SIFT_BUF_INIT;
    qf_hits_json(res, NULL, &hits);
    sift_render_search(res, &hits, took_ms, out);
    sift_buf_cleanup(&hits);
}

/*
 * The aggregations as the API answers them: the engine's result rendered
 * by api/render.c, so the tests compare whole replies.  Same return
 * codes as sift_agg_*; out is appended to only on success.
 */
static inline int
qf_histogram_json(struct sift_segment *const *segs, size_t n,
                  const struct sift_query *q, const struct sift_agg_opts *o,
                  struct sift_buf *out, struct sift_query_error *err)
{
    struct sift_agg_histo_result r;
    int rc = sift_agg_histogram(segs, n, q, o, &r, err);
    if (rc == SIFT_OK)
        sift_render_histogram(&r, out);
    sift_agg_histo_result_cleanup(&r);
    return rc;
}

static inline int
qf_terms_json(struct sift_segment *const *segs, size_t n,
              const struct sift_query *q, const struct sift_agg_opts *o,
              struct sift_buf *out, struct sift_query_error *err)
{
    struct sift_agg_terms_result r;
    int rc = sift_agg_terms(segs, n, q, o, &r, err);
    if (rc == SIFT_OK)
        sift_render_terms(&r, out);
    sift_agg_terms_result_cleanup(&r);
    return rc;
}

static inline int
qf_stats_json(struct sift_segment *const *segs, size_t n,
              const struct sift_query *q, const struct sift_agg_opts *o,
              struct sift_buf *out, struct sift_query_error *err)
{
    struct sift_agg_stats_result r;
    int rc = sift_agg_stats(segs, n, q, o, &r, err);
    if (rc == SIFT_OK)
        sift_render_stats(&r, out);
    sift_agg_stats_result_cleanup(&r);
    return rc;
}

static inline void
qf_fields_json(struct sift_segment *const *segs, size_t n, struct sift_buf *out)
{
    struct sift_agg_fields_result r;
    sift_agg_fields(segs, n, &r);
    sift_render_fields(&r, out);
    sift_agg_fields_result_cleanup(&r);
}

#endif /* SIFT_TEST_QUERY_FIXTURE_H */
