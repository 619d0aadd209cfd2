/*
 * anomaly_api.h - the HTTP endpoints of the anomaly service
 * (src/api/anomaly_api.c), an object main creates after the service.
 *
 *   GET  /api/v1/patterns?q=&from=&to=&size=     reader
 *   GET  /api/v1/alerts?state=&from=&to=&limit=  reader
 *   GET  /api/v1/alerts/{id}                     reader
 *   POST /api/v1/alerts/{id}/feedback            admin
 *   GET  /api/v1/anomaly                         reader (counters)
 *
 * Loop thread.  Pattern counts run on the worker pool over a store
 * snapshot; the reply is sent from the loop.
 */
#ifndef SIFT_ANOMALY_API_H
#define SIFT_ANOMALY_API_H

struct sift_config;
struct sift_http;
struct sift_pool;
struct sift_store;
struct sift_anomaly_api;
struct sift_anomaly_service;

/* What the endpoints use (borrowed for the object's lifetime). */
struct sift_fanout;

struct sift_anomaly_api_deps {
    struct sift_anomaly_service *service; /* alerts, feedback, templates */
    struct sift_store *store;             /* patterns: snapshots */
    struct sift_pool *pool;               /* patterns run there */
    const struct sift_config *cfg;
    const struct sift_fanout *fanout; /* patterns, alerts of every node; NULL */
};

/**
 * Registers the routes with deps (copied; what it points to is
 * borrowed).  OUT: *out, owned.  Routes cannot be removed from the
 * server, so free only once no request can reach them any more (after
 * the HTTP server, in main's shutdown order).  Returns SIFT_OK.  Loop
 * thread, at start-up.
 */
int sift_anomaly_api_new(struct sift_http *http,
                         const struct sift_anomaly_api_deps *deps,
                         struct sift_anomaly_api **out);

/**
 * Frees.  Pattern jobs still on the workers keep what they need (a
 * snapshot, a template-table reference) and reply on their own.  NULL is
 * fine.
 */
void sift_anomaly_api_free(struct sift_anomaly_api *api);

#endif /* SIFT_ANOMALY_API_H */
