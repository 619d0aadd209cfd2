/*
 * ingest_api.h - HTTP ingest endpoints.
 *
 *   POST /api/v1/ingest   NDJSON (application/x-ndjson, application/json)
 *                         or text lines (text/plain); ?format= overrides
 *                         (json|text|syslog|logfmt|auto)
 *   POST /_bulk, /api/v1/_bulk
 *                         Elasticsearch bulk format (?index= sets the
 *                         default _index of actions that name none)
 *
 * Each request body becomes one batch: parsed in the request's arena,
 * sent through the pipeline, and answered only after the WAL fsync that
 * covers it (200), or 503 (+ Retry-After) when the store refuses it.
 * Unparseable lines are rejected individually: reported in the response
 * and written to the dead-letter store; the rest of the batch is kept.
 * Loop thread.
 */
#ifndef SIFT_INGEST_API_H
#define SIFT_INGEST_API_H

struct sift_config;
struct sift_http;
struct sift_pipeline;
struct sift_ingest_api;

/** Registers the routes.  Borrows every argument for the API's lifetime. */
int sift_ingest_api_new(struct sift_http *http, struct sift_pipeline *pipe,
                        const struct sift_config *cfg,
                        struct sift_ingest_api **out);
void sift_ingest_api_free(struct sift_ingest_api *api);

#endif /* SIFT_INGEST_API_H */
