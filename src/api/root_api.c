/*
 * root_api.c - GET / and HEAD /: siftd answers like an Elasticsearch root
 * (name, cluster_name, cluster_uuid, version.number, tagline), because
 * Elasticsearch shippers probe it before they send _bulk: Filebeat and
 * Logstash read version.number (and refuse a major version they do not
 * speak), Vector picks its API version from it, Grafana's Elasticsearch
 * datasource reads version.build_flavor.  The reply also says what it is
 * ("sift" with its own version), and every reply of this endpoint and of
 * _bulk carries X-Elastic-Product: Elasticsearch, which the official
 * clients of version 8 require.
 *
 * A browser asking for HTML may be redirected elsewhere (main passes the
 * web UI's path); everyone else gets JSON.  The object holds the node
 * name and the redirect; main owns it.
 *
 * Threads: loop thread only.
 */
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/root_api.h"

struct sift_root_api {
    char node[128];
    char *html_redirect; /* NULL = none */
};

static void
on_root(struct sift_http_req *req, void *arg)
{
    const struct sift_root_api *api = arg;
    if (api->html_redirect != NULL &&
        sift_http_accepts_html(sift_http_req_header(req, "Accept"))) {
        sift_http_add_header(req, "Location", api->html_redirect);
        sift_http_add_header(req, "Vary", "Accept");
        sift_http_reply(req, 302, NULL, NULL, 0);
        return;
    }
    if (api->html_redirect != NULL)
        sift_http_add_header(req, "Vary", "Accept");
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_append(&b, "{\"name\":", 8);
    sift_buf_put_json_str(&b, api->node, strlen(api->node));
    sift_buf_append(&b, ",\"cluster_name\":\"sift\",\"cluster_uuid\":", 38);
    sift_buf_put_json_str(&b, api->node, strlen(api->node));
    sift_buf_appendf(&b,
                     ",\"version\":{\"number\":\"%s\",\"build_flavor\":"
                     "\"default\",\"build_type\":\"sift\",\"build_hash\":"
                     "\"sift-%s\",\"build_date\":\"\",\"build_snapshot\":"
                     "false,\"lucene_version\":\"\","
                     "\"minimum_wire_compatibility_version\":\"7.17.0\","
                     "\"minimum_index_compatibility_version\":\"7.0.0\"},"
                     "\"sift\":{\"version\":\"%s\"},"
                     "\"tagline\":\"You Know, for Search (sift: every word "
                     "of your logs)\"}\n",
                     SIFT_ES_COMPAT_VERSION, SIFT_VERSION, SIFT_VERSION);
    sift_http_add_header(req, "X-Elastic-Product", "Elasticsearch");
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

int
sift_root_api_new(struct sift_http *http, const struct sift_root_api_deps *deps,
                  struct sift_root_api **out)
{
    struct sift_root_api *api = sift_xcalloc(1, sizeof(*api));
    const char *n = deps->node_name != NULL && deps->node_name[0]
                        ? deps->node_name
                        : "siftd";
    size_t len = strlen(n);
    if (len >= sizeof(api->node))
        len = sizeof(api->node) - 1;
    memcpy(api->node, n, len);
    api->node[len] = '\0';
    if (deps->html_redirect != NULL)
        api->html_redirect = sift_xstrdup(deps->html_redirect);
    sift_http_route(http, "GET", "/", 0, SIFT_ROLE_NONE, on_root, api);
    *out = api;
    return SIFT_OK;
}

void
sift_root_api_free(struct sift_root_api *api)
{
    if (api == NULL)
        return;
    sift_free(api->html_redirect);
    sift_free(api);
}
