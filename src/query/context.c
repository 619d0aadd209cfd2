/*
 * context.c - the events around one event ("surrounding documents"): the
 * engine behind GET /api/v1/context.
 *
 * Design: a hit's "_id" is its order key (timestamp, XXH3 of the encoded
 * doc; topk.c), which names the event in whatever segment it sits now.
 * The anchor is found by reading only the docs stored on that exact
 * timestamp (a doc-id range per segment, since docs are in time order) and
 * hashing them.  Its source then becomes an ordinary query built from the
 * anchor's own field values (host.name + log.file.path, or service.name),
 * and the neighbours are two ordinary searches of that query with a
 * search-after cursor placed on the anchor: newest first for the events
 * before it, oldest first for those after it.  So context obeys exactly
 * the rules of search (deleted docs, deadlines, ties ordered by hash), and
 * "before + anchor + after" is the stretch of the source's stream a search
 * sorted by time would show.
 *
 * Identical copies of the anchor (same timestamp and bytes) share its _id;
 * they are listed once, before the anchor (the "before" search skips the
 * anchor only, the "after" search skips every copy).
 *
 * Threads: any; the segments and options are read-only, state is per call.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "query/query_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/segment.h"

void
sift_context_opts_init(struct sift_context_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->before = 10;
    opts->after = 10;
    opts->by = SIFT_CONTEXT_AUTO;
}

const char *
sift_context_by_name(enum sift_context_by by)
{
    switch (by) {
    case SIFT_CONTEXT_AUTO: return "auto";
    case SIFT_CONTEXT_SOURCE: return "source";
    case SIFT_CONTEXT_SERVICE: return "service";
    case SIFT_CONTEXT_ALL: return "all";
    }
    return "auto";
}

int
sift_context_by_parse(const char *s, enum sift_context_by *out)
{
    static const enum sift_context_by all[] = {
        SIFT_CONTEXT_AUTO, SIFT_CONTEXT_SOURCE, SIFT_CONTEXT_SERVICE,
        SIFT_CONTEXT_ALL};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (strcmp(s, sift_context_by_name(all[i])) == 0) {
            *out = all[i];
            return SIFT_OK;
        }
    }
    return SIFT_EINVAL;
}

/* The anchor: its encoded doc (owned), decoded event and live copies. */
struct anchor {
    struct sift_buf doc;
    struct sift_event ev;
    uint32_t copies; /* live docs with the anchor's exact key, >= 1 */
};

/*
 * Reads the docs stored on timestamp ts in every segment and keeps the
 * first whose hash is hash.  Returns SIFT_OK (found), SIFT_ENOTFOUND, or
 * a segment read error.
 */
static int
find_anchor(struct sift_segment *const *segs, size_t n, int64_t ts,
            uint64_t hash, struct sift_arena *arena, struct anchor *a)
{
    struct sift_buf doc = SIFT_BUF_INIT;
    int rc = SIFT_OK;
    for (size_t s = 0; s < n && rc == SIFT_OK; s++) {
        const struct sift_segment *seg = segs[s];
        uint32_t count = sift_segment_doc_count(seg);
        if (count == 0 || ts < sift_segment_min_ts(seg) ||
            ts > sift_segment_max_ts(seg))
            continue;
        uint32_t lo = sift_segment_ts_lower_bound(seg, ts);
        uint32_t hi =
            ts == INT64_MAX ? count : sift_segment_ts_lower_bound(seg, ts + 1);
        const roaring_bitmap_t *del = sift_segment_deleted(seg);
        for (uint32_t d = lo; d < hi && d < count; d++) {
            if (del && roaring_bitmap_contains(del, d))
                continue;
            sift_buf_reset(&doc);
            rc = sift_segment_doc(seg, d, &doc);
            if (rc < 0)
                break;
            if (XXH3_64bits(doc.data, doc.len) != hash)
                continue;
            if (a->copies++ == 0) {
                sift_buf_append(&a->doc, doc.data, doc.len);
                rc = sift_doc_decode((const uint8_t *)a->doc.data, a->doc.len,
                                     arena, &a->ev);
                if (rc < 0)
                    break;
            }
        }
    }
    sift_buf_cleanup(&doc);
    if (rc < 0)
        return rc;
    return a->copies > 0 ? SIFT_OK : SIFT_ENOTFOUND;
}

/* The first of names[] the event has, or NULL. */
static const struct sift_field *
first_field(const struct sift_event *ev, const char *const *names,
            size_t n_names)
{
    for (size_t i = 0; i < n_names; i++) {
        const struct sift_field *f =
            sift_event_field(ev, names[i], strlen(names[i]));
        if (f)
            return f;
    }
    return NULL;
}

/* Appends name:"value" (query syntax, escaped) to q, ANDed. */
static void
put_clause(struct sift_buf *q, const char *name, size_t name_len,
           const char *value, size_t value_len)
{
    if (q->len)
        sift_buf_append(q, " AND ", 5);
    for (size_t i = 0; i < name_len; i++) {
        if (strchr(" ()\":\\*?/-+", name[i]))
            sift_buf_putc(q, '\\');
        sift_buf_putc(q, name[i]);
    }
    sift_buf_append(q, ":\"", 2);
    for (size_t i = 0; i < value_len; i++) {
        if (value[i] == '"' || value[i] == '\\')
            sift_buf_putc(q, '\\');
        sift_buf_putc(q, value[i]);
    }
    sift_buf_putc(q, '"');
}

/*
 * Builds the source query of the anchor for opts->by into q and returns
 * the grouping used; -1 when the anchor lacks what by asks for.  The
 * source is the host and file path the anchor has (a field it lacks must
 * be absent from its neighbours too); the service its service name.
 */
static int
source_query(const struct sift_event *ev, enum sift_context_by by,
             struct sift_buf *q)
{
    static const char *const host_names[] = {"host.name", "host"};
    static const char *const path_names[] = {"log.file.path"};
    static const char *const service_names[] = {"service.name", "service"};
    const struct sift_field *host = first_field(ev, host_names, 2);
    const struct sift_field *path = first_field(ev, path_names, 1);
    const struct sift_field *service = first_field(ev, service_names, 2);

    if (by == SIFT_CONTEXT_AUTO)
        by = host || path ? SIFT_CONTEXT_SOURCE
             : service    ? SIFT_CONTEXT_SERVICE
                          : SIFT_CONTEXT_ALL;
    switch (by) {
    case SIFT_CONTEXT_SOURCE:
        if (!host && !path)
            return -1;
        if (host)
            put_clause(q, host->name, host->name_len, host->value,
                       host->value_len);
        else
            sift_buf_appendf(q, "%s", "-_exists_:host.name -_exists_:host");
        if (path)
            put_clause(q, path->name, path->name_len, path->value,
                       path->value_len);
        else
            sift_buf_appendf(q, "%s", " AND -_exists_:log.file.path");
        break;
    case SIFT_CONTEXT_SERVICE:
        if (!service)
            return -1;
        put_clause(q, service->name, service->name_len, service->value,
                   service->value_len);
        break;
    default: sift_buf_putc(q, '*'); break;
    }
    return (int)by;
}

/* Runs one side: up to limit hits in search order. */
static int
one_side(struct sift_segment *const *segs, size_t n, const struct sift_query *q,
         const struct sift_context_opts *opts, const struct anchor *a,
         uint64_t hash, int after, struct sift_search_result *res,
         struct sift_query_error *err)
{
    char cursor[96];
    struct sift_search_opts so;
    sift_search_opts_init(&so);
    so.limit = after ? opts->after : opts->before;
    so.oldest_first = after;
    so.track_total_hits = 1; /* only the page is wanted */
    so.deadline_mono_ns = opts->deadline_mono_ns;
    so.max_expansion = opts->max_expansion;
    so.pool = opts->pool;
    sift__query_cursor_at(a->ev.ts_ns, hash, after ? a->copies : 1, after,
                          cursor, sizeof(cursor));
    so.cursor = cursor;
    if (so.limit == 0)
        return SIFT_OK;
    return sift_search_exec(segs, n, q, &so, res, err);
}

void
sift_context_result_cleanup(struct sift_context_result *r)
{
    sift_search_result_cleanup(&r->anchor);
    sift_search_result_cleanup(&r->before);
    sift_search_result_cleanup(&r->after);
    sift_free(r->query);
    memset(r, 0, sizeof(*r));
}

int
sift_search_context(struct sift_segment *const *segs, size_t n,
                    const struct sift_context_opts *opts,
                    struct sift_context_result *out,
                    struct sift_query_error *err)
{
    memset(out, 0, sizeof(*out));
    sift_search_result_init(&out->anchor);
    sift_search_result_init(&out->before);
    sift_search_result_init(&out->after);
    int64_t ts;
    uint64_t hash;
    const char *id = opts->id ? opts->id : "";
    if (sift__query_id_decode(id, strlen(id), &ts, &hash) < 0)
        return sift__query_error(err, SIFT_EINVAL, 400, "bad_request", -1,
                                 "invalid 'id' (%.40s): use the \"_id\" of a "
                                 "hit",
                                 id);
    struct sift_arena *arena = sift_arena_new(8192);
    struct anchor a = {.doc = SIFT_BUF_INIT};
    struct sift_buf qs = SIFT_BUF_INIT;
    struct sift_query *q = NULL;

    int rc = find_anchor(segs, n, ts, hash, arena, &a);
    if (rc == SIFT_ENOTFOUND) {
        rc = sift__query_error(err, rc, 404, "event_not_found", -1,
                               "no event with _id %s (deleted, past "
                               "retention, or from another server)",
                               id);
        goto out;
    }
    if (rc < 0) {
        rc = sift__query_error(
            err, rc, rc == SIFT_ENOMEM ? 503 : 500,
            rc == SIFT_ENOMEM ? "out_of_memory" : "corrupt_segment", -1,
            "segment read failed: %s", sift_strerror(rc));
        goto out;
    }
    int by = source_query(&a.ev, opts->by, &qs);
    if (by < 0) {
        rc = sift__query_error(
            err, SIFT_EINVAL, 400, "bad_request", -1,
            "the event has no %s field (try by=auto or by=all)",
            opts->by == SIFT_CONTEXT_SOURCE ? "host.name, host or log.file.path"
                                            : "service.name or service");
        goto out;
    }
    rc = sift_query_parse(sift_buf_cstr(&qs), qs.len, NULL, &q, err);
    if (rc < 0)
        goto out; /* cannot happen: the text is escaped */
    rc = one_side(segs, n, q, opts, &a, hash, 0, &out->before, err);
    if (rc == SIFT_OK)
        rc = one_side(segs, n, q, opts, &a, hash, 1, &out->after, err);
    if (rc < 0)
        goto out;
    sift__search_result_add(&out->anchor, a.ev.ts_ns, hash, a.doc.data,
                            a.doc.len);
    out->by = (enum sift_context_by)by;
    out->query = sift_xstrndup(qs.data ? qs.data : "", qs.len);
    out->query_len = qs.len;
    out->timed_out = out->before.timed_out || out->after.timed_out;

out:
    if (rc < 0)
        sift_context_result_cleanup(out);
    sift_query_free(q);
    sift_buf_cleanup(&qs);
    sift_buf_cleanup(&a.doc);
    sift_arena_free(arena);
    return rc;
}
