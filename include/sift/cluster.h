/*
 * cluster.h - several siftd nodes answering as one (src/cluster/).
 *
 * Nodes share the work of ingest through the brokers' own groups (Kafka
 * consumer group, Redis stream consumer group: nothing here); this module
 * adds the query side: a node asked a search or an aggregation asks every
 * node of [cluster] peers (itself included, over loopback) for its local
 * answer, merges the answers, and says in "_nodes" how many answered.
 * See docs/cluster.md (users) and docs/internals/cluster.md (design).
 *
 * A request is "local" (answered from this node's data only) when it
 * carries the X-Sift-Local header (every fanned-out request does) or the
 * parameter local=true.  A node with no peers answers everything locally,
 * exactly as before.
 *
 * Loop thread only.
 */
#ifndef SIFT_CLUSTER_H
#define SIFT_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "sift/fanout.h" /* the merge kinds, struct sift_cluster_query */
#include "sift/source.h" /* struct sift_source_part */

struct sift_config;
struct sift_http_req;
struct sift_loop;
struct sift_cluster;

/**
 * Creates the cluster view of this node from cfg's [cluster] section
 * (peers already validated by the config; https:// ones are verified
 * against cluster.ca_file or the system's CAs).  node_id is this node's id
 * (copied).  OUT: *out, owned (sift_cluster_free()).  Returns SIFT_OK,
 * SIFT_ENOMEM or SIFT_ECONFIG (the CAs cannot be loaded; logged).  Loop
 * thread, at start-up.
 */
int sift_cluster_new(struct sift_loop *loop, const struct sift_config *cfg,
                     const char *node_id, struct sift_cluster **out);

/**
 * Tells the cluster the address this node's HTTP server bound
 * ("127.0.0.1:7700"): its own answer is asked there, and a peer entry
 * naming that address is not asked twice.  Loop thread.
 */
void sift_cluster_set_self(struct sift_cluster *c, const char *bound);

/**
 * Tells the cluster the address of this node's HTTPS listener ([tls]
 * listen; "" or NULL: none): an https:// peer entry naming it is this
 * node, asked over loopback like the rest of its own share.  Call after
 * sift_cluster_set_self().  Loop thread.
 */
void sift_cluster_set_self_tls(struct sift_cluster *c, const char *bound);

/**
 * Fills *out with this cluster as the fan-out the query endpoints of api/
 * are given (fanout.h); out->impl is c.  Loop thread, at start-up.
 */
void sift_cluster_fanout_ops(struct sift_cluster *c, struct sift_fanout *out);

/** Non-zero when queries fan out (peers configured and self known). */
int sift_cluster_active(const struct sift_cluster *c);

/**
 * Non-zero when req must be answered from this node's data alone: the
 * cluster is not active (c may be NULL), the request came from a node
 * (SIFT_CLUSTER_LOCAL_HEADER) or asked local=true.  When it came from a
 * node, adds SIFT_CLUSTER_NODE_HEADER with this node's id to the reply.
 */
int sift_cluster_is_local(const struct sift_cluster *c,
                          struct sift_http_req *req);

/**
 * Answers req (a validated search or aggregation request) for the whole
 * cluster: sends it to every node with SIFT_CLUSTER_LOCAL_HEADER (the
 * caller's Authorization or cluster.token; terms ask each node for more
 * than q->size), waits for each at most cluster.timeout, merges the 200
 * answers as q->kind says and replies 200 with "_nodes":{"total",
 * "successful","failed","failures":[{"node","status","reason"}]}.  When
 * every node failed with the same client error (a bad query) that error
 * is the reply; when none answered, or one failed and !q->allow_partial,
 * the reply is 502 "cluster_partial" naming the nodes.  Loop thread.
 */
void sift_cluster_fanout(struct sift_cluster *c, struct sift_http_req *req,
                         const struct sift_cluster_query *q);

/**
 * Answers req (a validated export or tail request) for the whole cluster
 * as one NDJSON stream: the same request goes to every node (with
 * SIFT_CLUSTER_LOCAL_HEADER); once each has answered its headers or
 * failed, the stream starts with the header X-Sift-Nodes
 * ("total=N, successful=K, failed=F") and a Warning when F > 0.
 * Export (q->size: the cap on lines, 0 none; q->oldest_first): the
 * nodes' streams merged by the order key of each line's "_id", holding
 * at most one window of each node's stream (a node read ahead is paused),
 * ending with the line {"_nodes":{...}}.  Tail: every node's lines as
 * they come (their heartbeats replaced by this node's, every
 * q->heartbeat_ms), and a {"_nodes":{...}} line whenever a node's stream
 * fails.  No node answering, or a failure with !q->allow_partial before
 * the stream starts, is an error reply as sift_cluster_fanout() gives.
 * Loop thread.
 */
void sift_cluster_stream(struct sift_cluster *c, struct sift_http_req *req,
                         const struct sift_cluster_query *q);

/**
 * Appends ,"_sample":{"complete":bool,"values":[...]} to a stats answer
 * sent to a node (before its closing brace): r's sample sorted, all of it
 * up to SIFT_CLUSTER_SAMPLE_SHIP values (complete: they are every value),
 * else that many evenly spaced quantiles of it; the node merging rebuilds
 * the percentiles from them.  Pure; any thread.
 */
struct sift_agg_stats_result;
struct sift_buf;
void sift_cluster_put_stats_sample(const struct sift_agg_stats_result *r,
                                   struct sift_buf *out);

/**
 * Appends this node's view to out as a JSON object: {"node_id","self",
 * "peers":[{"url","node_id","last_contact","last_error"}]} (the
 * /api/v1/cluster body).  Loop thread.
 */
struct sift_buf;
void sift_cluster_status_json(const struct sift_cluster *c,
                              struct sift_buf *out);

/* What this node answers about its own data (GET
 * /api/v1/cluster/position): main wires the store and the sources. */
struct sift_cluster_local {
    /* The last offset held of key: SIFT_OK and *hi, or SIFT_ENOTFOUND. */
    int (*position)(void *arg, const char *key, uint64_t *hi);
    /* Non-zero when no event of key is on its way to durability. */
    int (*settled)(void *arg, const char *key);
    /* Calls cb(cb_arg, part) for each source partition of this node
     * (the reply lists them as {"key","lag","committed","inflight"}). */
    void (*parts)(void *arg, sift_source_part_cb cb, void *cb_arg);
    void *arg;
};

/** Installs the hooks above (copied).  Loop thread, at start-up. */
void sift_cluster_set_local(struct sift_cluster *c,
                            const struct sift_cluster_local *local);

/**
 * Asks every other node how far it holds position key (a Kafka partition
 * this node was just assigned), each answering once its own events of
 * key are durable.  Later, on the loop, calls done(cbarg, all, have, hi):
 * all = every node answered, have = one holds the key, hi = the largest
 * offset held.  Returns a call for sift_cluster_ask_cancel() (done is
 * then never called).  Loop thread.
 */
void *sift_cluster_ask_position(struct sift_cluster *c, const char *key,
                                void (*done)(void *cbarg, int all, int have,
                                             uint64_t hi),
                                void *cbarg);
/** Forgets a call of sift_cluster_ask_position().  NULL is a no-op. */
void sift_cluster_ask_cancel(void *call);

/**
 * Routes GET /api/v1/cluster (reader role) on http: this node's view,
 * sift_cluster_status_json(), with "enabled" false when there are no
 * peers; and GET /api/v1/cluster/position?key= (see
 * sift_cluster_ask_position).  Loop thread, at start-up.
 */
struct sift_http;
void sift_cluster_register(struct sift_cluster *c, struct sift_http *http);

/**
 * /metrics collector (arg: the cluster): sift_cluster_fanouts_total
 * {outcome}, sift_cluster_peer_requests_total{peer,outcome},
 * sift_cluster_peer_last_contact_seconds{peer}.  Loop thread.
 */
void sift_cluster_metrics_collect(struct sift_buf *out, void *arg);

/**
 * Stops answering: fan-outs and position requests still waiting are
 * answered 503 "shutting_down", the local hooks are dropped (the store
 * closes next).  Asks of the sources stay valid until
 * sift_cluster_free().  NULL is a no-op.  Loop thread.
 */
void sift_cluster_stop(struct sift_cluster *c);

/**
 * Frees the cluster (after the sources: their asks are forgotten here).
 * Stops it first if needed.  NULL is a no-op.  Loop thread.
 */
void sift_cluster_free(struct sift_cluster *c);

#endif /* SIFT_CLUSTER_H */
