/*
 * lifecycle_api.h - the HTTP endpoints of the store's lifecycle
 * (src/api/lifecycle_api.c): GET /api/v1/tiers (reader), POST
 * /api/v1/delete (admin: delete-by-query with dry_run), and with
 * server.debug_endpoints POST /api/v1/debug/clock and
 * /api/v1/debug/lifecycle (admin).
 *
 * An endpoint set is an object main creates after the store and frees
 * during shutdown (docs/internals/README.md, "Shutdown order").  Loop
 * thread only.
 */
#ifndef SIFT_LIFECYCLE_API_H
#define SIFT_LIFECYCLE_API_H

struct sift_fanout;
struct sift_config;
struct sift_http;
struct sift_lifecycle_api;
struct sift_store;

/* What the endpoints use (borrowed for the object's lifetime). */
struct sift_lifecycle_api_deps {
    struct sift_store *store;
    const struct sift_config *cfg; /* re-read on every request */
    const struct sift_fanout
        *fanout; /* deletes go to every node; may be NULL */
};

/**
 * Registers the routes on http with deps (copied; what it points to is
 * borrowed).  OUT: *out, owned (release with sift_lifecycle_api_free()).
 * Returns SIFT_OK.  Loop thread, at start-up.
 */
int sift_lifecycle_api_new(struct sift_http *http,
                           const struct sift_lifecycle_api_deps *deps,
                           struct sift_lifecycle_api **out);

/**
 * Frees the object.  Its routes must not be called any more: free it
 * after the HTTP server stopped dispatching (main's shutdown order).
 * NULL is fine.  Loop thread.
 */
void sift_lifecycle_api_free(struct sift_lifecycle_api *api);

#endif /* SIFT_LIFECYCLE_API_H */
