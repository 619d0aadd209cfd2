/*
 * ingest_api.h - HTTP ingest endpoints.
 *
 *   POST /api/v1/ingest   NDJSON (application/x-ndjson, application/json)
 *                         or text lines (text/plain); ?format= overrides
 *                         (json|text|syslog|logfmt|auto)
 *   POST /_bulk, /api/v1/_bulk, /<index>/_bulk
 *                         Elasticsearch bulk format (?index= or the path
 *                         sets the default _index of actions that name
 *                         none; every event keeps its index in _index)
 *   POST /<index>/_doc[/<id>], /<index>/_create/<id>
 *                         one Elasticsearch document
 *   GET|HEAD /, /_license, /_xpack, /_cluster/health, ...
 *                         what Elasticsearch shippers probe before sending
 *   POST /v1/logs         OTLP/HTTP logs (protobuf or JSON)
 *   POST /loki/api/v1/push
 *                         the Loki push API (snappy protobuf or JSON)
 *   POST /upload          systemd-journal-upload (journal export format)
 *
 * Each request body becomes one batch: parsed in the request's arena,
 * sent through the pipeline, and answered only after the WAL fsync that
 * covers it (200), or 503 (+ Retry-After) when the store refuses it.
 * Unparseable lines are rejected individually: reported in the response
 * and written to the dead-letter store; the rest of the batch is kept.
 *
 * _bulk follows Elasticsearch for items that name their _id (with a
 * store set): create of a stored key (_index, _id) is a 409
 * version_conflict_engine_exception, index of a stored key replaces the
 * document (200 "updated", atomically for readers); _index and _id are
 * fields of every stored event.  Loop thread.
 */
#ifndef SIFT_INGEST_API_H
#define SIFT_INGEST_API_H

#include "sift/buf.h"
#include "sift/event.h"

struct sift_config;
struct sift_http;
struct sift_pipeline;
struct sift_pool;
struct sift_store;
struct sift_ingest_api;

/** Registers the routes.  Borrows every argument for the API's lifetime. */
int sift_ingest_api_new(struct sift_http *http, struct sift_pipeline *pipe,
                        const struct sift_config *cfg,
                        struct sift_ingest_api **out);
void sift_ingest_api_free(struct sift_ingest_api *api);

/**
 * Enables the _bulk _id checks: stored keys are looked up in snapshots of
 * store on pool's workers.  Without it every item is created.  Borrows
 * both for the API's lifetime.  Loop thread, at start-up.
 */
void sift_ingest_api_set_store(struct sift_ingest_api *api,
                               struct sift_store *store,
                               struct sift_pool *pool);

/**
 * Where the stored position of a key comes from (sift_store_position()):
 * SIFT_OK with out filled, or SIFT_ENOTFOUND.  Loop thread.
 */
typedef int (*sift_ingest_position_cb)(void *arg, const char *key,
                                       struct sift_srcpos *out);
/**
 * Installs the position lookup journald's upload uses to skip entries
 * already stored (without one, nothing is skipped).  Borrows arg.
 */
void sift_ingest_api_set_position(struct sift_ingest_api *api,
                                  sift_ingest_position_cb cb, void *arg);

/**
 * Metrics collector (arg is the API): sift_ingest_requests_total{source,
 * outcome}, sift_ingest_inflight_requests{source},
 * sift_ingest_ack_seconds{source} (histogram).  Loop thread.
 */
void sift_ingest_api_metrics_collect(struct sift_buf *out, void *arg);

#endif /* SIFT_INGEST_API_H */
