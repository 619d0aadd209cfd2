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

/** Appends the /api/v1/store JSON object for store to out. */
void sift_admin_store_json(struct sift_store *store, struct sift_buf *out);

#endif /* SIFT_ADMIN_API_H */
