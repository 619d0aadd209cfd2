/*
 * fanout.h - how the query endpoints of api/ answer for several nodes,
 * without knowing who does it.
 *
 * The endpoints (search, aggregations, export, tail, context, patterns,
 * alerts, delete) decide whether a request is answered from this node's
 * data or for the whole cluster, and hand the second kind to a fan-out
 * given to them by main.  src/cluster/ implements it
 * (sift_cluster_fanout_ops() in cluster.h): the dependency points from
 * cluster/ to api/ (whose HTTP server it uses), never back.
 *
 * A NULL struct sift_fanout pointer, or one whose impl is NULL, is one
 * node: every request is local.  Loop thread for every call.
 */
#ifndef SIFT_FANOUT_H
#define SIFT_FANOUT_H

#include <stddef.h>
#include <stdint.h>

struct sift_agg_stats_result;
struct sift_buf;
struct sift_http_req;

/* The header that marks a node-to-node request, and the reply header that
 * names the node which answered. */
#define SIFT_CLUSTER_LOCAL_HEADER "X-Sift-Local"
#define SIFT_CLUSTER_NODE_HEADER "X-Sift-Node"

/* How the answers of the nodes are merged. */
enum sift_cluster_merge {
    SIFT_CLUSTER_SEARCH,    /* hits merged by (time, hash), totals summed */
    SIFT_CLUSTER_HISTOGRAM, /* bucket counts summed by key */
    SIFT_CLUSTER_TERMS,     /* counts summed by key, top size kept */
    SIFT_CLUSTER_STATS,     /* count/min/max/sum merged */
    SIFT_CLUSTER_FIELDS,    /* union of the field lists */
    SIFT_CLUSTER_DELETE,    /* POST /api/v1/delete: counts summed, every
                             * node named; any failure is a 502 */
    SIFT_CLUSTER_PATTERNS,  /* templates merged by text, series summed */
    SIFT_CLUSTER_ALERTS,    /* alerts of every node, newest first */
    SIFT_CLUSTER_STATUS,    /* GET /api/v1/cluster: each node's view */
    SIFT_CLUSTER_EXPORT,    /* NDJSON streams merged by (time, hash) */
    SIFT_CLUSTER_TAIL,      /* live NDJSON streams, lines as they come */
    SIFT_CLUSTER_CONTEXT,   /* the anchor's node, then every node's
                             * neighbours of it merged by time */
};

/* One fanned-out request. */
struct sift_cluster_query {
    enum sift_cluster_merge kind;
    uint32_t size;        /* search: the page size; terms: buckets returned */
    int oldest_first;     /* search: the order asked */
    const char *cursor;   /* search: the cursor given, or NULL */
    int allow_partial;    /* 0: one failed node fails the whole request */
    int64_t heartbeat_ms; /* tail: the caller's heartbeat interval, 0 none */
};

/*
 * The fan-out an endpoint is given (see cluster.h for what each call
 * does: sift_cluster_active, _is_local, _fanout, _stream and
 * _put_stats_sample, which these point to).
 */
struct sift_fanout {
    int (*active)(const void *impl);
    int (*is_local)(const void *impl, struct sift_http_req *req);
    void (*fanout)(void *impl, struct sift_http_req *req,
                   const struct sift_cluster_query *q);
    void (*stream)(void *impl, struct sift_http_req *req,
                   const struct sift_cluster_query *q);
    /* A stats answer sent to a node carries its sample (pure). */
    void (*put_stats_sample)(const struct sift_agg_stats_result *r,
                             struct sift_buf *out);
    void *impl;
};

/** Non-zero when queries fan out. */
static inline int
sift_fanout_active(const struct sift_fanout *f)
{
    return f != NULL && f->impl != NULL && f->active(f->impl);
}

/** Non-zero when req is answered from this node's data alone. */
static inline int
sift_fanout_is_local(const struct sift_fanout *f, struct sift_http_req *req)
{
    return f == NULL || f->impl == NULL || f->is_local(f->impl, req);
}

#endif /* SIFT_FANOUT_H */
