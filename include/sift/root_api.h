/*
 * root_api.h - GET / and HEAD /: the answer of an Elasticsearch root, so
 * shippers that probe it before sending _bulk (Filebeat, Logstash,
 * Vector, Fluent Bit) accept siftd.
 *
 * Loop thread.
 */
#ifndef SIFT_ROOT_API_H
#define SIFT_ROOT_API_H

struct sift_http;

/** The version number reported in version.number (what shippers check). */
#define SIFT_ES_COMPAT_VERSION "8.17.0"

struct sift_root_api;

/* What the root answers with (copied by sift_root_api_new()). */
struct sift_root_api_deps {
    const char *node_name; /* the "name" of the answer; NULL = "siftd" */
    /* Where a browser (Accept: text/html) is sent with a 302, e.g. the web
     * UI's "/ui/"; NULL = browsers get the JSON too. */
    const char *html_redirect;
};

/**
 * Registers GET / (and HEAD /, routed like GET) on http.  OUT: *out,
 * owned (release with sift_root_api_free() after the server is freed).
 * Returns SIFT_OK.  Loop thread, at start-up.
 */
int sift_root_api_new(struct sift_http *http,
                      const struct sift_root_api_deps *deps,
                      struct sift_root_api **out);

/** Releases api (NULL is fine).  Loop thread, after the HTTP server. */
void sift_root_api_free(struct sift_root_api *api);

#endif /* SIFT_ROOT_API_H */
