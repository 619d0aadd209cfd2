/*
 * admin_api.h - store and process introspection endpoints.
 *
 *   GET /api/v1/store   doc counts, segments, bytes on disk and in memory,
 *                       WAL bytes, buffer size, quarantined segments
 *
 * Loop thread.
 */
#ifndef SIFT_ADMIN_API_H
#define SIFT_ADMIN_API_H

struct sift_http;
struct sift_store;
struct sift_buf;

/** Registers the routes; borrows store for the server's lifetime. */
void sift_admin_api_register(struct sift_http *http, struct sift_store *store);

/**
 * Registers GET /api/v1/config (admin): the effective configuration as
 * {"section":{"key":value,...},...}.  Borrows cfg for the server's
 * lifetime (a SIGHUP changes it in place).
 */
struct sift_config;
void sift_admin_config_register(struct sift_http *http,
                                const struct sift_config *cfg);

/**
 * Writes the details of GET /readyz for store to out: the files in
 * quarantine/ ("quarantined"), the segments held out of queries
 * ("held") and the degraded states ("degraded": disk full, a WAL that
 * cannot be written, segments or merges held).  Returns the readiness:
 * 1 ready, 2 degraded (still 200: queries are answered, ingest may get
 * 503).  Loop thread.
 */
int sift_admin_ready_details(struct sift_store *store, struct sift_buf *out);

/** Appends the /api/v1/store JSON object for store to out. */
void sift_admin_store_json(struct sift_store *store, struct sift_buf *out);

#endif /* SIFT_ADMIN_API_H */
