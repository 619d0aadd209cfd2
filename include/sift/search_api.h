/*
 * search_api.h - the HTTP endpoints of the query engine
 * (src/api/search.c): /api/v1/search (GET, POST), /api/v1/export,
 * /api/v1/histogram, /api/v1/terms, /api/v1/stats, /api/v1/fields,
 * /api/v1/context and /api/v1/tail (reader role).
 *
 * An endpoint set is an object main creates after the store and frees
 * during shutdown (docs/internals/README.md, "Shutdown order").  Loop
 * thread only.
 */
#ifndef SIFT_SEARCH_API_H
#define SIFT_SEARCH_API_H

#include "sift/query.h"
#include "sift/render.h"

struct sift_config;
struct sift_http;
struct sift_loop;
struct sift_metrics_api;
struct sift_pool;
struct sift_query_slots;
struct sift_search_api;
struct sift_store;

/*
 * Where the search API gets template texts for its hits.  For every
 * search, export and tail run, acquire(arg) is called on the loop and
 * returns a handle that stays valid until release(handle), which is
 * called on the loop once the run is over, also when the API is freed
 * in between (so the handle may outlive the provider: e.g. a reference
 * on a refcounted template table).  text(handle, id, out) runs on
 * workers, concurrently.  acquire may return NULL (no texts for that
 * run; release is then not called).
 */
struct sift_search_template_source {
    void *(*acquire)(void *arg);
    sift_search_template_cb text;
    void (*release)(void *handle);
    void *arg;
};

/* A saved search as a search reads it (strings borrowed for the call). */
struct sift_saved_view {
    const char *query;
    const char *from, *to; /* "" = not set */
    const char *fields;    /* "" = all */
};

/**
 * Looks up saved search name: fills *out and returns SIFT_OK, or returns
 * SIFT_ENOTFOUND.  Loop thread.
 */
typedef int (*sift_search_saved_cb)(void *arg, const char *name,
                                    struct sift_saved_view *out);

/* What the endpoints use (borrowed for the object's lifetime). */
struct sift_fanout;
struct sift_search_api_deps {
    /* [cluster]: searches and aggregations fan out; NULL = one node */
    const struct sift_fanout *fanout;
    struct sift_store *store; /* snapshots; refresh hook for tails */
    struct sift_pool *pool;   /* queries run there */
    /* Queries in flight, shared with Grafana (main owns it). */
    struct sift_query_slots *slots;
    struct sift_loop *loop;           /* export back-pressure, heartbeats */
    const struct sift_config *cfg;    /* re-read on every request */
    struct sift_metrics_api *metrics; /* query latency; NULL = none */
    /* Template texts for hits; all NULL = hits carry template_id only. */
    struct sift_search_template_source templates;
    /* Saved searches: q=@name or saved=name runs that saved search's
     * query, with its from, to and fields unless the request gives them.
     * NULL = none (such requests get 404 saved_search_not_found). */
    sift_search_saved_cb saved;
    void *saved_arg;
};

/**
 * Registers the routes on http and a refresh hook on the store (live
 * tails), with deps (copied; what it points to is borrowed).  OUT: *out,
 * owned (release with sift_search_api_free()).  Returns SIFT_OK.  Loop
 * thread, at start-up.
 */
int sift_search_api_new(struct sift_http *http,
                        const struct sift_search_api_deps *deps,
                        struct sift_search_api **out);

/**
 * Ends every live tail at once (SIGTERM: the drain waits for requests,
 * and a tail never finishes by itself): each gets a last line
 * {"error":{"type":"shutting_down",…},"status":503} and its end.  NULL
 * is fine.  Loop thread.
 */
void sift_search_api_end_tails(struct sift_search_api *api);

/**
 * Ends live tails and paused exports, unhooks the store, and frees the
 * object once the queries still on workers have replied (their replies
 * say shutting_down).  Call before the pool, the store and the HTTP
 * server are stopped.  NULL is fine.  Loop thread.
 */
void sift_search_api_free(struct sift_search_api *api);

#endif /* SIFT_SEARCH_API_H */
