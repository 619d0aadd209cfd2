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

#endif /* SIFT_CLUSTER_INT_H */
