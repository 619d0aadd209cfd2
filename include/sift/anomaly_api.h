/*
 * anomaly_api.h - the HTTP endpoints of the anomaly service
 * (src/api/anomaly_api.c); the service registers them itself.
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

/**
 * Registers the routes.  Borrows every argument until
 * sift_anomaly_api_free().  Routes cannot be removed from the server, so
 * free only once no request can reach them any more (siftd stops its
 * loop before it stops the modules).
 */
void sift_anomaly_api_register(struct sift_http *http,
                               struct sift_anomaly_service *svc,
                               struct sift_store *store, struct sift_pool *pool,
                               const struct sift_config *cfg,
                               struct sift_anomaly_api **out);

/**
 * Frees.  Pattern jobs still on the workers keep what they need (a
 * snapshot, a template-table reference) and reply on their own.  NULL is
 * fine.
 */
void sift_anomaly_api_free(struct sift_anomaly_api *api);

#endif /* SIFT_ANOMALY_API_H */
