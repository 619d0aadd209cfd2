/*
 * match.c - the query language as a per-segment matcher for other modules.
 *
 * Delete-by-query (src/store/lifecycle.c) needs "which docs of this
 * segment match this query string in this time range", at request time
 * and again during WAL replay.  This file adapts the executor to that
 * callback shape (sift_delete_match_cb), so deletes accept exactly the
 * language searches do.  The query is parsed per call: deletes are rare
 * and per-segment, and parsing is microseconds.  sift_query_match_parsed
 * does the same for a parsed query with a deadline and an expansion cap
 * (/api/v1/patterns counts per template over it).
 *
 * Pure over an immutable segment: any thread.
 */
#include <string.h>

#include "query/query_int.h"
#include "sift/error.h"
#include "sift/query.h"
#include "sift/segment.h"

int
sift_query_match_segment(struct sift_segment *seg, const char *query,
                         size_t len, int64_t from_ns, int64_t to_ns,
                         roaring_bitmap_t **out)
{
    struct sift_query *q = NULL;
    struct sift_query_error err;
    int rc = sift_query_parse(query, len, NULL, &q, &err);
    if (!seg) {
        /* The matcher contract: no segment means "validate only". */
        sift_query_free(q);
        return rc;
    }
    *out = NULL;
    if (rc < 0)
        return rc;
    uint32_t lo, hi;
    sift__query_doc_range(seg, from_ns, to_ns, &lo, &hi);
    if (lo >= hi) {
        sift_query_free(q);
        *out = roaring_bitmap_create();
        return *out ? SIFT_OK : SIFT_ENOMEM;
    }
    struct sift_qctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.seg = seg;
    ctx.err = &err;
    /* No deadline and no expansion cap: a delete must be complete, and
     * the request was already validated against the limits. */
    rc = sift__query_eval_segment(q, &ctx, lo, hi, out);
    sift__query_ctx_cleanup(&ctx);
    sift_query_free(q);
    return rc;
}

int
sift_query_match_parsed(const struct sift_query *q,
                        const struct sift_segment *seg, int64_t from_ns,
                        int64_t to_ns, int64_t deadline_mono_ns,
                        uint64_t max_expansion, roaring_bitmap_t **out,
                        struct sift_query_error *err)
{
    struct sift_qctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.deadline_mono_ns = deadline_mono_ns;
    ctx.max_expansion = max_expansion;
    ctx.err = err;
    roaring_bitmap_t *r = NULL;
    int rc = sift__query_eval_in_range(q, &ctx, seg, from_ns, to_ns, &r);
    *out = rc == SIFT_OK ? r : NULL;
    if (rc < 0 && r)
        roaring_bitmap_free(r);
    return rc;
}
