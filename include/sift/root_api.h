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

/**
 * Registers GET / (and HEAD /, routed like GET) on http.  node_name is
 * copied; it is the "name" of the answer (the node id).  Loop thread, at
 * start-up.
 */
void sift_root_api_register(struct sift_http *http, const char *node_name);

/**
 * Makes a browser's GET / (Accept naming text/html or xhtml,
 * sift_http_accepts_html()) a 302 to path (copied): the web UI sets
 * "/ui/".  NULL (the default) answers JSON to every client.  Loop thread.
 */
void sift_root_api_set_html_redirect(const char *path);

#endif /* SIFT_ROOT_API_H */
