/*
 * cluster_int.h - what cluster.c and merge.c share (and the unit tests
 * reach): one node's answer and the merge of several.
 */
#ifndef SIFT_CLUSTER_INT_H
#define SIFT_CLUSTER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"
#include "sift/cluster.h"

/* Terms: each node is asked for this many buckets when size are wanted
 * (Elasticsearch's shard_size rule), so a key frequent overall but just
 * below one node's top size still gets counted there. */
#define SIFT_CLUSTER_SHARD_SIZE(size) ((size) + (size) / 2 + 10)

/* Stats: a node sends at most this many values of its sample to the node
 * merging (all of them up to this count, else evenly spaced quantiles). */
#define SIFT_CLUSTER_SAMPLE_SHIP 10000u

/* The 200 answer of one node: a JSON object as its local endpoint wrote
 * it (borrowed). */
struct sift__cluster_answer {
    const char *body;
    size_t len;
    const char *node_id; /* the node's id ("" when unknown) */
};

/* Patterns: each node is asked for at most this many (the endpoint's cap). */
#define SIFT_CLUSTER_PATTERNS_MAX 1000u

/**
 * Merges n answers of kind q->kind into one JSON object appended to out,
 * without its closing '}' (the caller adds took_ms, _nodes, '}').
 * shard_size is what each node was asked for (terms).  An answer that
 * cannot be used is left out of the merge and flagged bad[k] = 1 (bad
 * holds n flags, zeroed by the caller) with the cause in why; the caller
 * reports it as that node's failure.  Returns how many were flagged.
 * Pure (no I/O).
 */
int sift__cluster_merge(const struct sift_cluster_query *q, uint32_t shard_size,
                        const struct sift__cluster_answer *a, size_t n,
                        struct sift_buf *out, int *unreadable, char *why,
                        size_t why_len);

/* ---- what stream.c takes from cluster.c ---- */
struct evhttp_connection;
struct evhttp_request;
struct event_base;
struct sift_http_req;
struct sift__cstream;

/* The nodes to ask: -1 (this node) first, then every peer that is not
 * this node, as indexes into the peer list; out holds
 * sift__cluster_max_nodes() entries.  Returns how many. */
size_t sift__cluster_nodes(const struct sift_cluster *c, int *out);
size_t sift__cluster_max_nodes(const struct sift_cluster *c);
/* A node's address as configured (this node: the address it bound,
 * written into tmp). */
const char *sift__cluster_node_url(const struct sift_cluster *c, int node,
                                   char *tmp, size_t cap);
/* A request to node (see sift__cluster_nodes) on a connection of its own
 * with timeout_ms, the local header and the cluster token or else the
 * caller's Authorization; NULL when out of memory. */
struct evhttp_request *
sift__cluster_node_request(struct sift_cluster *c, int node,
                           struct sift_http_req *caller, int64_t timeout_ms,
                           void (*cb)(struct evhttp_request *, void *),
                           void *arg, struct evhttp_connection **conn);
/* Records a request's outcome for node's /metrics and cluster view:
 * ok (answered, took_ns >= 0 observed) or failed with reason; contact:
 * the node said something. */
void sift__cluster_note(struct sift_cluster *c, int node, int ok, int contact,
                        const char *node_id, const char *reason,
                        int64_t took_ns);
struct sift__cstream **sift__cluster_streams(struct sift_cluster *c);
struct event_base *sift__cluster_base(const struct sift_cluster *c);
int64_t sift__cluster_timeout_ms(const struct sift_cluster *c);
/* stream.c: ends every running stream (shutdown). */
void sift__cluster_streams_stop(struct sift_cluster *c);

/* For windows.c: the peers, and a request to peer i as node_request()
 * makes it (cluster.timeout, the local header, the cluster token; no
 * caller).  Loop thread. */
size_t sift__cluster_n_peers(const struct sift_cluster *c);

/** Adds the Warning header of a partial answer (failed > 0) to req:
 * "partial result: F of N nodes failed (see <see>)".  Loop thread. */
struct sift_http_req;
void sift__cluster_warn_partial(struct sift_http_req *req, size_t failed,
                                size_t total, const char *see);
int sift__cluster_peer_is_self(const struct sift_cluster *c, size_t i);
struct evhttp_request *
sift__cluster_peer_request(struct sift_cluster *c, size_t i,
                           void (*cb)(struct evhttp_request *, void *),
                           void *arg, struct evhttp_connection **conn);
const char *sift__cluster_node_id(const struct sift_cluster *c);

#endif /* SIFT_CLUSTER_INT_H */
