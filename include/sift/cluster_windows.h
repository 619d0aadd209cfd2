/*
 * cluster_windows.h - the anomaly scorer's window counts between nodes
 * (src/cluster/windows.c).
 *
 * In a cluster every node's scorer counts its own events per window and
 * scores the sums of every node (docs/internals/cluster.md, "Anomaly over
 * the cluster").  This module carries the counts: it answers
 * GET /api/v1/cluster/anomaly?win=N with this node's counts of window N
 * (once the window is closed here: the request waits for it up to half
 * of cluster.timeout), and asks every other node for theirs when a
 * window closes here.
 *
 * Loop thread only.
 */
#ifndef SIFT_CLUSTER_WINDOWS_H
#define SIFT_CLUSTER_WINDOWS_H

#include <stddef.h>
#include <stdint.h>

#include "sift/anomaly_service.h"

struct sift_buf;
struct sift_cluster;
struct sift_http;
struct sift_cluster_windows;

/* What this node answers: its counts of window win appended to out;
 * SIFT_OK, SIFT_EAGAIN (not closed yet) or SIFT_ENOTFOUND. */
struct sift_cluster_windows_src {
    int (*window)(void *arg, int64_t win, struct sift_buf *out);
    void *arg;
};

/**
 * Routes GET /api/v1/cluster/anomaly (reader role: the cluster token's
 * node role may call it) on http, answered from src (copied).  c is
 * borrowed until sift_cluster_windows_free().  Returns SIFT_OK.
 */
int sift_cluster_windows_new(struct sift_cluster *c, struct sift_http *http,
                             const struct sift_cluster_windows_src *src,
                             struct sift_cluster_windows **out);

/**
 * Asks every other node for its counts of window win; calls done(done_arg,
 * win, answers, n, n_failed) once on the loop when all answered or failed
 * (each within cluster.timeout), or at once when there is nobody to ask.
 * After sift_cluster_windows_stop() done is never called.  The
 * sift_anomaly_service_ask_fn of the anomaly service (arg: the windows
 * object).
 */
void sift_cluster_windows_ask(void *arg, int64_t win,
                              sift_anomaly_service_window_cb done,
                              void *done_arg);

/** Answers waiting requests 503 and forgets the asks (their done is never
 * called).  NULL is a no-op. */
void sift_cluster_windows_stop(struct sift_cluster_windows *w);

/** Stops if needed and frees (before the cluster).  NULL is a no-op. */
void sift_cluster_windows_free(struct sift_cluster_windows *w);

#endif /* SIFT_CLUSTER_WINDOWS_H */
