/*
 * cluster.c - the nodes of [cluster] peers, and queries fanned out to them.
 *
 * What: a node asked a search or an aggregation (not local, see
 * sift_cluster_is_local()) sends the same request to every node, itself
 * included over loopback, marked with the X-Sift-Local header so that
 * each answers from its own data; it merges the 200 answers (merge.c)
 * and replies with "_nodes" saying how many nodes were asked, answered
 * and failed, and why.
 *
 * Design (docs/internals/cluster.md):
 *  - Peers are static: the config's list.  No membership protocol, no
 *    consensus: ingest is split by the brokers' consumer groups, so the
 *    query side only needs to reach every node that may hold data.
 *  - Transport: libevent's HTTP client on the loop thread, one connection
 *    per node and request (loopback or LAN: cheap; a slow node never
 *    queues another request behind it), cluster.timeout per request.
 *    The connection frees itself once its request is over
 *    (evhttp_connection_free_on_completion).
 *  - This node is asked at the address it bound, like any other; a peer
 *    entry with that address is skipped, and an answer whose X-Sift-Node
 *    names a node already answered (this one under another address, or
 *    one node listed twice) is dropped, so no node counts twice.
 *  - The request is forwarded as received (path, validated parameters,
 *    POST body) with the caller's Authorization, or cluster.token when
 *    set.  Terms ask each node for SIFT_CLUSTER_SHARD_SIZE(size) buckets.
 *
 *  - Positions (the Kafka handoff): a node assigned a partition asks
 *    every peer GET /api/v1/cluster/position?key=…; a peer answers from
 *    its store once no event of the key is on its way to durability
 *    there (sift_cluster_local hooks, wired by main), polling every
 *    20 ms for at most half of cluster.timeout.
 *
 * Invariants: every fanned-out reply either carries "_nodes" with
 * failed > 0 and the failures named, or is complete; a node that does not
 * answer within cluster.timeout is a failure, never a wait without end.
 *
 * Threads: loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "cluster/cluster_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/metrics.h"
#include "sift/node_id.h"
#include "sift/query.h"
#include "sift/time.h"

struct peer {
    char *url;  /* as configured ("http://host:port", "https://...") */
    int tls;    /* https: over TLS, verified with cluster.ca_file */
    char *host; /* brackets removed for IPv6 */
    uint16_t port;
    int is_self;                        /* the address this node bound */
    char node_id[SIFT_NODE_ID_MAX + 1]; /* learned from X-Sift-Node */
    int64_t last_contact_ns;            /* wall clock, 0 = never */
    uint64_t answered, failed;          /* fanned-out requests */
    int up;                             /* the last request was answered */
    struct sift_histogram latency;      /* answered requests, seconds */
    char last_error[160];
};

struct fanout;

struct call {
    struct fanout *f;
    int node; /* index into c->peers, or -1 = this node */
    struct evhttp_connection *conn;
    int done;
    int status; /* HTTP status, 0 = no answer */
    enum evhttp_request_error error;
    int got_error;
    struct sift_buf body;
    int64_t done_ns; /* monotonic, when the call ended */
    char node_id[SIFT_NODE_ID_MAX + 1];
};

struct fanout {
    struct sift_cluster *c;
    struct sift_http_req *req;
    struct sift_cluster_query q;
    char cursor[64];
    uint32_t shard_size;
    size_t n_calls, pending;
    struct call *calls;
    int64_t t0_ns;
    struct fanout *prev, *next;
    /* Context, second round (the other nodes' neighbours of the anchor):
     * the holder's answer, the first round's failures and counts. */
    json_t *ctx;
    struct sift_buf ctx_fails;
    size_t ctx_total, ctx_failed;
    uint32_t ctx_before, ctx_after;
};

struct poswait; /* a position request waiting for in-flight events */
struct poscall; /* asking the peers for a position */

struct sift_cluster {
    struct sift_cluster_local local;
    struct poswait *waits;
    struct poscall *asks;
    int stopped; /* sift_cluster_stop(): no more answers */
    struct sift_loop *loop;
    struct event_base *base;
    const struct sift_config *cfg;
    char node_id[SIFT_NODE_ID_MAX + 1];
    struct peer *peers;
    size_t n_peers;
    char *self_host;
    uint16_t self_port;
    struct fanout *running;
    uint64_t fanouts[3];           /* complete, partial, failed */
    SSL_CTX *tls;                  /* client context for https peers, or NULL */
    struct sift__cstream *streams; /* export and tail streams (stream.c) */
};

/* ---- peers ---- */

static int
split_hostport(const char *hp, char **host, uint16_t *port)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || colon == hp)
        return SIFT_EINVAL;
    long p = strtol(colon + 1, NULL, 10);
    if (p <= 0 || p > 65535)
        return SIFT_EINVAL;
    const char *h = hp;
    size_t hl = (size_t)(colon - hp);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    *host = sift_xstrndup(h, hl);
    *port = (uint16_t)p;
    return SIFT_OK;
}

/* The client side of https peers: their certificate must chain to
 * cluster.ca_file (or the system's CAs) and name the host asked. */
static int
tls_client_new(struct sift_cluster *c)
{
    const char *ca = c->cfg->cluster_ca_file;
    c->tls = SSL_CTX_new(TLS_client_method());
    if (!c->tls)
        return SIFT_ENOMEM;
    SSL_CTX_set_min_proto_version(c->tls, TLS1_2_VERSION);
    SSL_CTX_set_verify(c->tls, SSL_VERIFY_PEER, NULL);
    int ok = ca && ca[0] ? SSL_CTX_load_verify_locations(c->tls, ca, NULL)
                         : SSL_CTX_set_default_verify_paths(c->tls);
    if (ok != 1) {
        char e[200];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        SIFT_ERROR("cluster: cannot load the CAs of https peers from %s: %s",
                   ca && ca[0] ? ca : "the system's store", e);
        SSL_CTX_free(c->tls);
        c->tls = NULL;
        return SIFT_ECONFIG;
    }
    return SIFT_OK;
}

int
sift_cluster_new(struct sift_loop *loop, const struct sift_config *cfg,
                 const char *node_id, struct sift_cluster **out)
{
    struct sift_cluster *c = sift_xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->base = sift_loop_base(loop);
    c->cfg = cfg;
    snprintf(c->node_id, sizeof(c->node_id), "%s", node_id);
    const char *p = cfg->cluster_peers ? cfg->cluster_peers : "";
    c->peers = sift_xcalloc(SIFT_CLUSTER_MAX_PEERS + 1, sizeof(*c->peers));
    while (*p && c->n_peers < SIFT_CLUSTER_MAX_PEERS) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        char *url = sift_xstrndup(p, (size_t)(e - p));
        size_t ul = strlen(url);
        if (ul > 7 && url[ul - 1] == '/')
            url[--ul] = '\0';
        struct peer *pe = &c->peers[c->n_peers];
        pe->tls = strncmp(url, "https://", 8) == 0;
        if ((!pe->tls && strncmp(url, "http://", 7) != 0) ||
            split_hostport(url + (pe->tls ? 8 : 7), &pe->host, &pe->port) < 0) {
            /* The config checked the list; this is a second line only. */
            SIFT_ERROR("cluster: bad peer %s", url);
            sift_free(url);
            p = e;
            continue;
        }
        pe->url = url;
        sift_histogram_init_latency(&pe->latency);
        c->n_peers++;
        p = e;
        if (pe->tls && !c->tls && tls_client_new(c) < 0) {
            sift_cluster_free(c);
            *out = NULL;
            return SIFT_ECONFIG;
        }
    }
    *out = c;
    return SIFT_OK;
}

void
sift_cluster_set_self(struct sift_cluster *c, const char *bound)
{
    char *host = NULL;
    uint16_t port = 0;
    if (!c || split_hostport(bound, &host, &port) < 0)
        return;
    /* A wildcard bind is reached over loopback. */
    if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "") == 0) {
        sift_free(host);
        host = sift_xstrdup("127.0.0.1");
    } else if (strcmp(host, "::") == 0) {
        sift_free(host);
        host = sift_xstrdup("::1");
    }
    sift_free(c->self_host);
    c->self_host = host;
    c->self_port = port;
    for (size_t i = 0; i < c->n_peers; i++)
        c->peers[i].is_self =
            c->peers[i].port == port && (strcmp(c->peers[i].host, host) == 0 ||
                                         strcmp(c->peers[i].host, bound) == 0);
    if (c->n_peers > 0)
        SIFT_INFO("cluster: node %s, %zu peers; queries fan out", c->node_id,
                  c->n_peers);
}

void
sift_cluster_set_self_tls(struct sift_cluster *c, const char *bound)
{
    char *host = NULL;
    uint16_t port = 0;
    if (!c || !bound || !bound[0] || split_hostport(bound, &host, &port) < 0)
        return;
    int any = strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0;
    for (size_t i = 0; i < c->n_peers; i++)
        if (c->peers[i].tls && c->peers[i].port == port &&
            (any || strcmp(c->peers[i].host, host) == 0))
            c->peers[i].is_self = 1;
    sift_free(host);
}

int
sift_cluster_active(const struct sift_cluster *c)
{
    return c != NULL && c->n_peers > 0 && c->self_host != NULL;
}

int
sift_cluster_is_local(const struct sift_cluster *c, struct sift_http_req *req)
{
    if (!sift_cluster_active(c))
        return 1;
    if (sift_http_req_header(req, SIFT_CLUSTER_LOCAL_HEADER) != NULL) {
        sift_http_add_header(req, SIFT_CLUSTER_NODE_HEADER, c->node_id);
        return 1;
    }
    const char *l = sift_http_req_param(req, "local");
    return l != NULL && (strcmp(l, "true") == 0 || strcmp(l, "") == 0);
}

/* The fan-out the query endpoints are given (fanout.h). */
static int
ops_active(const void *impl)
{
    return sift_cluster_active(impl);
}

static int
ops_is_local(const void *impl, struct sift_http_req *req)
{
    return sift_cluster_is_local(impl, req);
}

static void
ops_fanout(void *impl, struct sift_http_req *req,
           const struct sift_cluster_query *q)
{
    sift_cluster_fanout(impl, req, q);
}

static void
ops_stream(void *impl, struct sift_http_req *req,
           const struct sift_cluster_query *q)
{
    sift_cluster_stream(impl, req, q);
}

void
sift_cluster_fanout_ops(struct sift_cluster *c, struct sift_fanout *out)
{
    *out =
        (struct sift_fanout){.active = ops_active,
                             .is_local = ops_is_local,
                             .fanout = ops_fanout,
                             .stream = ops_stream,
                             .put_stats_sample = sift_cluster_put_stats_sample,
                             .impl = c};
}

/* ---- the _nodes summary ---- */

void
sift__cluster_warn_partial(struct sift_http_req *req, size_t failed,
                           size_t total, const char *see)
{
    if (failed == 0)
        return;
    char w[160];
    snprintf(w, sizeof(w),
             "299 siftd \"partial result: %zu of %zu nodes failed (see %s)\"",
             failed, total, see);
    sift_http_add_header(req, "Warning", w);
}

/* Ends out, a merged answer without its closing brace, with took_ms and
 * "_nodes" (fails: the failures' JSON objects, comma-separated) and
 * replies 200 with it, warning when a node failed. */
static void
reply_with_nodes(struct sift_http_req *req, struct sift_buf *out,
                 int64_t took_ms, size_t total, size_t ok, size_t failed,
                 const struct sift_buf *fails)
{
    sift_buf_appendf(out,
                     ",\"took_ms\":%lld,\"_nodes\":{\"total\":%zu,"
                     "\"successful\":%zu,\"failed\":%zu,\"failures\":[",
                     (long long)took_ms, total, ok, failed);
    if (fails->len)
        sift_buf_append(out, fails->data, fails->len);
    sift_buf_append(out, "]}}\n", 4);
    sift__cluster_warn_partial(req, failed, total, "_nodes");
    sift_http_reply_json(req, 200, out);
}

/* ---- one call ---- */

static void fanout_finish(struct fanout *f);

static const char *
call_url(const struct fanout *f, const struct call *k, char *tmp, size_t cap)
{
    if (k->node >= 0)
        return f->c->peers[k->node].url;
    snprintf(tmp, cap, "http://%s%s%s:%u",
             strchr(f->c->self_host, ':') ? "[" : "", f->c->self_host,
             strchr(f->c->self_host, ':') ? "]" : "", f->c->self_port);
    return tmp;
}

static void
on_call_error(enum evhttp_request_error e, void *arg)
{
    struct call *k = arg;
    k->error = e;
    k->got_error = 1;
}

static void
on_call_done(struct evhttp_request *r, void *arg)
{
    struct call *k = arg;
    struct fanout *f = k->f;
    if (k->done)
        return;
    k->done = 1;
    k->done_ns = sift_clock_mono_ns();
    k->conn = NULL; /* frees itself now that its request is over */
    if (r != NULL && evhttp_request_get_response_code(r) > 0) {
        k->status = evhttp_request_get_response_code(r);
        struct evbuffer *in = evhttp_request_get_input_buffer(r);
        size_t len = evbuffer_get_length(in);
        sift_buf_reserve(&k->body, len + 1);
        if (len)
            evbuffer_copyout(in, k->body.data, len);
        k->body.len = len;
        const char *id = evhttp_find_header(evhttp_request_get_input_headers(r),
                                            SIFT_CLUSTER_NODE_HEADER);
        if (id)
            snprintf(k->node_id, sizeof(k->node_id), "%s", id);
    }
    if (--f->pending == 0)
        fanout_finish(f);
}

/* The query string to forward: the validated parameters, without local
 * and allow_partial, with size set to shard_size when it is not 0. */
static void
forward_uri(struct sift_http_req *req, uint32_t shard_size,
            struct sift_buf *uri)
{
    sift_buf_append(uri, sift_http_req_path(req),
                    strlen(sift_http_req_path(req)));
    size_t n = sift_http_req_param_count(req);
    char sep = '?';
    int size_done = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL, *name = sift_http_req_param_at(req, i, &v);
        char num[16];
        if (!name || strcmp(name, "local") == 0 ||
            strcmp(name, "allow_partial") == 0)
            continue;
        if (shard_size &&
            (strcmp(name, "size") == 0 || strcmp(name, "limit") == 0)) {
            if (size_done)
                continue; /* both spellings given: sent once */
            snprintf(num, sizeof(num), "%u", shard_size);
            v = num;
            name = "size";
            size_done = 1;
        }
        char *en = evhttp_encode_uri(name);
        char *ev = evhttp_encode_uri(v ? v : "");
        sift_buf_appendf(uri, "%c%s=%s", sep, en ? en : "", ev ? ev : "");
        free(en);
        free(ev);
        sep = '&';
    }
    if (shard_size && !size_done)
        sift_buf_appendf(uri, "%csize=%u", sep, shard_size);
}

/* A POST body to forward: as received, but with size = shard_size. */
static void
forward_body(struct sift_http_req *req, uint32_t shard_size,
             struct sift_buf *body, int *size_in_body)
{
    size_t len = 0;
    const char *b = sift_http_req_body(req, &len);
    *size_in_body = 0;
    if (len == 0)
        return;
    json_t *o =
        shard_size ? json_loadb(b, len, JSON_DECODE_INT_AS_REAL, NULL) : NULL;
    if (json_is_object(o) &&
        (json_object_get(o, "size") || json_object_get(o, "limit"))) {
        json_object_del(o, "limit");
        json_object_set_new(o, "size", json_integer(shard_size));
        char *s = json_dumps(o, JSON_COMPACT);
        if (s) {
            sift_buf_append(body, s, strlen(s));
            *size_in_body = 1;
            free(s);
            json_decref(o);
            return;
        }
    }
    json_decref(o);
    sift_buf_append(body, b, len);
}

/*
 * A request to node host:port on a connection of its own (*conn), with
 * cluster.timeout, Host, SIFT_CLUSTER_LOCAL_HEADER and, when set, the
 * cluster token.  NULL (nothing to free) when out of memory.
 */
static struct evhttp_request *
node_request(struct sift_cluster *c, const char *host, uint16_t port, int tls,
             int64_t timeout_ms, void (*cb)(struct evhttp_request *, void *),
             void *arg, struct evhttp_connection **conn)
{
    if (tls && c->tls) {
        SSL *ssl = SSL_new(c->tls);
        struct bufferevent *bev = NULL;
        if (ssl) {
            /* The certificate must name the host: an IP address, or a
             * name (also sent as SNI, which takes no IP literal). */
            X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
            if (X509_VERIFY_PARAM_set1_ip_asc(vp, host) != 1) {
                char name[256];
                snprintf(name, sizeof(name), "%s", host);
                SSL_set_tlsext_host_name(ssl, name);
                SSL_set1_host(ssl, host);
            }
            bev = bufferevent_openssl_socket_new(
                c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
            if (!bev)
                SSL_free(ssl);
        }
        *conn = bev ? evhttp_connection_base_bufferevent_new(c->base, NULL, bev,
                                                             host, port)
                    : NULL;
        if (!*conn && bev)
            bufferevent_free(bev);
    } else {
        *conn = evhttp_connection_base_new(c->base, NULL, host, port);
    }
    if (!*conn)
        return NULL;
    struct evhttp_request *r = evhttp_request_new(cb, arg);
    if (!r) {
        evhttp_connection_free(*conn);
        *conn = NULL;
        return NULL;
    }
    struct timeval tv = {.tv_sec = (time_t)(timeout_ms / 1000),
                         .tv_usec = (suseconds_t)(timeout_ms % 1000 * 1000)};
    evhttp_connection_set_timeout_tv(*conn, &tv);
    evhttp_connection_set_retries(*conn, 0);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    char hosthdr[300];
    snprintf(hosthdr, sizeof(hosthdr), "%s%s%s:%u",
             strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
             port);
    evhttp_add_header(h, "Host", hosthdr);
    /* One request per connection: libevent frees a free-on-completion
     * connection after the answer only when it closes; a kept-alive one
     * would wait for the peer to close it (and leak at exit). */
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, SIFT_CLUSTER_LOCAL_HEADER, c->node_id);
    if (c->cfg->cluster_token && c->cfg->cluster_token[0]) {
        struct sift_buf a = SIFT_BUF_INIT;
        sift_buf_appendf(&a, "Bearer %s", c->cfg->cluster_token);
        evhttp_add_header(h, "Authorization", sift_buf_cstr(&a));
        sift_buf_cleanup(&a);
    }
    return r;
}

size_t
sift__cluster_n_peers(const struct sift_cluster *c)
{
    return c->n_peers;
}

int
sift__cluster_peer_is_self(const struct sift_cluster *c, size_t i)
{
    return c->peers[i].is_self;
}

struct evhttp_request *
sift__cluster_peer_request(struct sift_cluster *c, size_t i,
                           void (*cb)(struct evhttp_request *, void *),
                           void *arg, struct evhttp_connection **conn)
{
    const struct peer *pe = &c->peers[i];
    return node_request(c, pe->host, pe->port, pe->tls,
                        c->cfg->cluster_timeout_ms, cb, arg, conn);
}

const char *
sift__cluster_node_id(const struct sift_cluster *c)
{
    return c->node_id;
}

static int
call_start(struct fanout *f, struct call *k, const char *uri,
           const struct sift_buf *body, int post)
{
    struct sift_cluster *c = f->c;
    const char *host = k->node >= 0 ? c->peers[k->node].host : c->self_host;
    uint16_t port = k->node >= 0 ? c->peers[k->node].port : c->self_port;
    int tls = k->node >= 0 && c->peers[k->node].tls;
    struct evhttp_request *r =
        node_request(c, host, port, tls, c->cfg->cluster_timeout_ms,
                     on_call_done, k, &k->conn);
    if (!r)
        return SIFT_ENOMEM;
    evhttp_request_set_error_cb(r, on_call_error);
    struct evkeyvalq *h = evhttp_request_get_output_headers(r);
    evhttp_add_header(h, "Accept", "application/json");
    /* A delete needs the caller's admin rights on every node; the
     * cluster token is a reader's. */
    int own = f->q.kind == SIFT_CLUSTER_DELETE || !c->cfg->cluster_token ||
              !c->cfg->cluster_token[0];
    if (own) {
        const char *auth = sift_http_req_header(f->req, "Authorization");
        evhttp_remove_header(h, "Authorization");
        if (auth)
            evhttp_add_header(h, "Authorization", auth);
    }
    if (post) {
        evhttp_add_header(h, "Content-Type", "application/json");
        if (body->len)
            evbuffer_add(evhttp_request_get_output_buffer(r), body->data,
                         body->len);
    }
    if (evhttp_make_request(k->conn, r, post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET,
                            uri) != 0) {
        /* libevent freed the request. */
        evhttp_connection_free(k->conn);
        k->conn = NULL;
        return SIFT_EIO;
    }
    evhttp_connection_free_on_completion(k->conn);
    return SIFT_OK;
}

/* ---- the fan-out ---- */

static void
fanout_unlink(struct fanout *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        f->c->running = f->next;
    if (f->next)
        f->next->prev = f->prev;
}

static void
fanout_free(struct fanout *f)
{
    json_decref(f->ctx);
    sift_buf_cleanup(&f->ctx_fails);
    for (size_t i = 0; i < f->n_calls; i++)
        sift_buf_cleanup(&f->calls[i].body);
    sift_free(f->calls);
    sift_free(f);
}

static const char *
call_reason(const struct fanout *f, const struct call *k, char *buf, size_t cap)
{
    if (k->status > 0) {
        /* The node's own error reason when it sent one. */
        json_t *o =
            json_loadb(k->body.data ? k->body.data : "", k->body.len, 0, NULL);
        json_t *r = json_object_get(json_object_get(o, "error"), "reason");
        snprintf(buf, cap, "HTTP %d%s%s", k->status,
                 json_is_string(r) ? ": " : "",
                 json_is_string(r) ? json_string_value(r) : "");
        json_decref(o);
        return buf;
    }
    if (k->got_error && k->error == EVREQ_HTTP_TIMEOUT)
        snprintf(buf, cap, "no answer within cluster.timeout (%lld ms)",
                 (long long)f->c->cfg->cluster_timeout_ms);
    else if (k->got_error && k->error == EVREQ_HTTP_EOF)
        snprintf(buf, cap, "%s", "the connection closed before an answer");
    else
        snprintf(buf, cap, "%s", "cannot connect");
    return buf;
}

static void
put_failure(struct sift_buf *b, int *first, const char *url,
            const char *node_id, int status, const char *reason)
{
    sift_buf_appendf(b, "%s{\"node\":", *first ? "" : ",");
    *first = 0;
    sift_buf_put_json_str(b, url, strlen(url));
    if (node_id && node_id[0]) {
        sift_buf_append(b, ",\"node_id\":", 11);
        sift_buf_put_json_str(b, node_id, strlen(node_id));
    }
    if (status > 0)
        sift_buf_appendf(b, ",\"status\":%d", status);
    else
        sift_buf_append(b, ",\"status\":null", 14);
    sift_buf_append(b, ",\"reason\":", 10);
    sift_buf_put_json_str(b, reason, strlen(reason));
    sift_buf_putc(b, '}');
}

/*
 * A delete sent to every node: 200 when each applied it, with the counts
 * summed and "_nodes.applied" naming each node and its counts; otherwise
 * 502 "cluster_partial" saying which nodes applied it and which did not
 * (sending it again is harmless: what is deleted stays deleted).
 */
static void
delete_finish(struct fanout *f)
{
    struct sift_cluster *c = f->c;
    struct sift_buf applied = SIFT_BUF_INIT, fails = SIFT_BUF_INIT;
    size_t total = 0, ok = 0;
    uint64_t matched = 0, deleted = 0;
    int first_ok = 1, first_fail = 1;
    json_t *base = NULL;
    const struct call *self = NULL;
    char tmp[128], reason[512];

    fanout_unlink(f);
    for (size_t i = 0; i < f->n_calls; i++) {
        struct call *k = &f->calls[i];
        const char *url = call_url(f, k, tmp, sizeof(tmp));
        int dup = 0;
        if (k->node < 0)
            self = k;
        if (k->status > 0 && k->node_id[0])
            for (size_t j = 0; j < i; j++)
                dup |= f->calls[j].status > 0 &&
                       strcmp(f->calls[j].node_id, k->node_id) == 0;
        if (dup)
            continue;
        total++;
        json_t *o = k->status == 200
                        ? json_loadb(k->body.data ? k->body.data : "",
                                     k->body.len, JSON_DECODE_INT_AS_REAL, NULL)
                        : NULL;
        json_t *m = json_object_get(o, "matched");
        json_t *d = json_object_get(o, "deleted");
        if (json_is_number(m) && json_is_number(d)) {
            ok++;
            matched += (uint64_t)json_number_value(m);
            deleted += (uint64_t)json_number_value(d);
            sift_buf_appendf(&applied, "%s{\"node\":", first_ok ? "" : ",");
            first_ok = 0;
            sift_buf_put_json_str(&applied, url, strlen(url));
            sift_buf_append(&applied, ",\"node_id\":", 11);
            sift_buf_put_json_str(&applied, k->node_id, strlen(k->node_id));
            sift_buf_appendf(&applied, ",\"matched\":%llu,\"deleted\":%llu}",
                             (unsigned long long)json_number_value(m),
                             (unsigned long long)json_number_value(d));
            if (!base || k->node < 0) {
                json_decref(base);
                base = json_incref(o);
            }
        } else {
            if (k->status == 200)
                snprintf(reason, sizeof(reason), "%s",
                         "unreadable delete answer");
            else
                call_reason(f, k, reason, sizeof(reason));
            put_failure(&fails, &first_fail, url, k->node_id, k->status,
                        reason);
        }
        json_decref(o);
    }
    size_t failed = total - ok;
    c->fanouts[ok == 0 ? 2 : failed > 0 ? 1 : 0]++;
    int64_t took_ms = (sift_clock_mono_ns() - f->t0_ns) / SIFT_NS_PER_MS;
    struct sift_buf out = SIFT_BUF_INIT;
    if (ok == 0 && self && self->status >= 400 && self->status < 500 &&
        self->body.len > 0) {
        /* Refused the same way everywhere: this node's own error. */
        sift_buf_append(&out, self->body.data, self->body.len);
        sift_http_reply_json(f->req, self->status, &out);
    } else if (failed > 0) {
        char msg[300];
        snprintf(msg, sizeof(msg),
                 "the delete was applied on %zu of %zu nodes (see "
                 "_nodes.applied and _nodes.failures); send it again to "
                 "apply it on the others",
                 ok, total);
        sift_http_error_json(&out, 502, "cluster_partial", msg, -1);
        if (out.len && out.data[out.len - 1] == '\n')
            out.len--;
        if (out.len && out.data[out.len - 1] == '}')
            out.len--; /* the root object goes on */
        sift_buf_appendf(&out,
                         ",\"_nodes\":{\"total\":%zu,\"successful\":%zu,"
                         "\"failed\":%zu,\"applied\":[",
                         total, ok, failed);
        sift_buf_append(&out, applied.data, applied.len);
        sift_buf_appendf(&out, "%s", "],\"failures\":[");
        sift_buf_append(&out, fails.data, fails.len);
        sift_buf_append(&out, "]}}\n", 4);
        sift_http_reply_json(f->req, 502, &out);
    } else {
        json_object_set_new(base, "matched", json_integer((json_int_t)matched));
        json_object_set_new(base, "deleted", json_integer((json_int_t)deleted));
        json_object_del(base, "took_ms");
        char *s = json_dumps(base, JSON_COMPACT | JSON_PRESERVE_ORDER);
        size_t sl = s ? strlen(s) : 0;
        if (sl > 1) {
            sift_buf_append(&out, s, sl - 1);
            sift_buf_appendf(&out,
                             ",\"took_ms\":%lld,\"_nodes\":{\"total\":%zu,"
                             "\"successful\":%zu,\"failed\":0,\"applied\":[",
                             (long long)took_ms, total, ok);
            sift_buf_append(&out, applied.data, applied.len);
            sift_buf_appendf(&out, "%s", "],\"failures\":[]}}\n");
            sift_http_reply_json(f->req, 200, &out);
        } else {
            sift_http_reply_error(f->req, 500, "internal", "%s",
                                  "cannot write the merged delete answer");
        }
        free(s);
    }
    json_decref(base);
    sift_buf_cleanup(&out);
    sift_buf_cleanup(&applied);
    sift_buf_cleanup(&fails);
    fanout_free(f);
}

static void status_local(struct sift_cluster *c, struct sift_buf *out);

/*
 * GET /api/v1/cluster asked of the cluster: this node's view plus
 * "nodes": each node as it describes itself (its partitions and their
 * lag), or the reason it did not answer.
 */
static void
status_finish(struct fanout *f)
{
    struct sift_cluster *c = f->c;
    struct sift_buf out = SIFT_BUF_INIT;
    char tmp[128], reason[512];
    int64_t now = sift_clock_now_ns();
    size_t failed = 0, total = 0;

    fanout_unlink(f);
    status_local(c, &out);
    out.len--; /* its closing brace */
    sift_buf_append(&out, ",\"nodes\":[", 10);
    for (size_t i = 0; i < f->n_calls; i++) {
        struct call *k = &f->calls[i];
        const char *url = call_url(f, k, tmp, sizeof(tmp));
        struct peer *pe = k->node >= 0 ? &c->peers[k->node] : NULL;
        int dup = 0;
        if (k->status > 0 && k->node_id[0])
            for (size_t j = 0; j < i; j++)
                dup |= f->calls[j].status > 0 &&
                       strcmp(f->calls[j].node_id, k->node_id) == 0;
        if (dup)
            continue;
        json_t *o = k->status == 200
                        ? json_loadb(k->body.data ? k->body.data : "",
                                     k->body.len, 0, NULL)
                        : NULL;
        json_t *parts = json_object_get(o, "partitions");
        sift_buf_appendf(&out, "%s{\"node\":", total++ ? "," : "");
        sift_buf_put_json_str(&out, url, strlen(url));
        sift_buf_append(&out, ",\"node_id\":", 11);
        if (k->node_id[0])
            sift_buf_put_json_str(&out, k->node_id, strlen(k->node_id));
        else
            sift_buf_append(&out, "null", 4);
        if (json_is_array(parts)) {
            char *ps = json_dumps(parts, JSON_COMPACT | JSON_PRESERVE_ORDER);
            sift_buf_appendf(&out,
                             ",\"ok\":true,\"partitions\":%s,"
                             "\"error\":null}",
                             ps ? ps : "[]");
            free(ps);
            if (pe) {
                pe->last_contact_ns = now;
                pe->last_error[0] = '\0';
                if (k->node_id[0])
                    snprintf(pe->node_id, sizeof(pe->node_id), "%s",
                             k->node_id);
            }
        } else {
            failed++;
            if (k->status == 200)
                snprintf(reason, sizeof(reason), "%s",
                         "unreadable cluster answer");
            else
                call_reason(f, k, reason, sizeof(reason));
            sift_buf_appendf(&out, "%s",
                             ",\"ok\":false,\"partitions\":null,\"error\":");
            sift_buf_put_json_str(&out, reason, strlen(reason));
            sift_buf_putc(&out, '}');
            if (pe) {
                if (k->status > 0)
                    pe->last_contact_ns = now;
                snprintf(pe->last_error, sizeof(pe->last_error), "%.159s",
                         reason);
            }
        }
        json_decref(o);
    }
    sift_buf_appendf(&out,
                     "],\"_nodes\":{\"total\":%zu,\"successful\":%zu,"
                     "\"failed\":%zu}}\n",
                     total, total - failed, failed);
    sift_http_reply_json(f->req, 200, &out);
    sift_buf_cleanup(&out);
    fanout_free(f);
}

static void context_first(struct fanout *f);
static void context_second(struct fanout *f);

/* ---- context across nodes ---- */

struct nhit {
    json_t *h;
    uint64_t kt, kh; /* order key: ascending = nearest the anchor first */
};

static int
cmp_nhit(const void *a, const void *b)
{
    const struct nhit *x = a, *y = b;
    if (x->kt != y->kt)
        return x->kt < y->kt ? -1 : 1;
    if (x->kh != y->kh)
        return x->kh < y->kh ? -1 : 1;
    return 0;
}

/* Adds the hits of array arr to v (keys for the order away from the
 * anchor: newest first before it, oldest first after it). */
static int
nhits_add(json_t *arr, int after, struct nhit **v, size_t *n, size_t *cap)
{
    size_t i;
    json_t *h;
    json_array_foreach(arr, i, h)
    {
        json_t *id = json_object_get(h, "_id");
        int64_t ts = 0;
        uint64_t hash = 0;
        if (!json_is_string(id) ||
            sift_query_hit_key(json_string_value(id), json_string_length(id),
                               &ts, &hash) != SIFT_OK)
            return -1;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 32;
            *v = sift_xrealloc(*v, *cap * sizeof(**v));
        }
        uint64_t k = (uint64_t)ts ^ UINT64_C(0x8000000000000000);
        (*v)[*n].h = json_incref(h);
        (*v)[*n].kt = after ? k : ~k;
        (*v)[*n].kh = after ? hash : ~hash;
        (*n)++;
    }
    return 0;
}

/* The nearest keep hits of v, in time order (before: oldest first). */
static json_t *
nhits_take(struct nhit *v, size_t n, uint32_t keep, int after)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_nhit);
    size_t m = n < keep ? n : keep;
    json_t *arr = json_array();
    for (size_t i = 0; i < m; i++)
        json_array_append(arr, v[after ? i : m - 1 - i].h);
    for (size_t i = 0; i < n; i++)
        json_decref(v[i].h);
    return arr;
}

static uint32_t
count_param(struct sift_http_req *req, const char *name)
{
    const char *v = sift_http_req_param(req, name);
    return v && *v ? (uint32_t)strtoul(v, NULL, 10) : 10;
}

/* Replies the merged context: base with took_ms and _nodes. */
static void
context_reply(struct fanout *f, json_t *base, size_t total, size_t failed,
              const struct sift_buf *fails)
{
    struct sift_cluster *c = f->c;
    size_t ok = total - failed;
    c->fanouts[failed > 0 ? 1 : 0]++;
    if (failed > 0 && !f->q.allow_partial) {
        sift_http_reply_error(f->req, 502, "cluster_partial",
                              "%zu of %zu nodes failed and allow_partial is "
                              "false: %s",
                              failed, total, fails->len ? fails->data : "");
        return;
    }
    json_object_del(base, "took_ms");
    char *js = json_dumps(base, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t jl = js ? strlen(js) : 0;
    if (jl < 2) {
        free(js);
        sift_http_reply_error(f->req, 500, "internal", "%s",
                              "cannot write the merged context");
        return;
    }
    struct sift_buf out = SIFT_BUF_INIT;
    sift_buf_append(&out, js, jl - 1);
    free(js);
    reply_with_nodes(f->req, &out,
                     (sift_clock_mono_ns() - f->t0_ns) / SIFT_NS_PER_MS, total,
                     ok, failed, fails);
    sift_buf_cleanup(&out);
}

/*
 * Context, first round: every node was asked for the event, and the one
 * holding it answered with its own neighbours.  Every other node that
 * answered (404: up, without the event) is asked next for the events of
 * the same source just before and just after the anchor: two searches of
 * the holder's context query with a cursor placed on the anchor (newest
 * first before it, oldest first after it), as context.c does on one
 * node.  context_second() merges them.
 */
static void
context_first(struct fanout *f)
{
    struct sift_cluster *c = f->c;
    struct call *holder = NULL, *self = NULL;
    struct sift_buf fails = SIFT_BUF_INIT;
    int first = 1;
    size_t total = 0, failed = 0, n_near = 0;
    char tmp[128], reason[512];

    fanout_unlink(f);
    for (size_t i = 0; i < f->n_calls; i++) {
        struct call *k = &f->calls[i];
        int dup = 0;
        if (k->status > 0 && k->node_id[0])
            for (size_t j = 0; j < i; j++)
                dup |= f->calls[j].status > 0 &&
                       strcmp(f->calls[j].node_id, k->node_id) == 0;
        if (k->node < 0)
            self = k;
        if (dup) {
            k->status = -1; /* not asked again */
            continue;
        }
        total++;
        int up = k->status == 200 || k->status == 404;
        if (!up)
            call_reason(f, k, reason, sizeof(reason));
        sift__cluster_note(c, k->node, up, k->status > 0, k->node_id,
                           up ? NULL : reason, k->done_ns - f->t0_ns);
        if (k->status == 200 && !holder) {
            holder = k;
        } else if (up) {
            n_near++;
        } else {
            failed++;
            put_failure(&fails, &first, call_url(f, k, tmp, sizeof(tmp)),
                        k->node_id, k->status, reason);
        }
    }
    json_t *base = holder
                       ? json_loadb(holder->body.data ? holder->body.data : "",
                                    holder->body.len, 0, NULL)
                       : NULL;
    json_t *anchor = json_object_get(base, "anchor");
    json_t *query = json_object_get(base, "query");
    json_t *id = json_object_get(anchor, "_id");
    int64_t ts = 0;
    uint64_t hash = 0;
    if (!holder || !json_is_string(query) || !json_is_string(id) ||
        sift_query_hit_key(json_string_value(id), json_string_length(id), &ts,
                           &hash) != SIFT_OK) {
        if (!holder && failed == 0 && self && self->status >= 400 &&
            self->status < 500 && self->body.len > 0) {
            /* Not found on any node, or a bad request everywhere. */
            struct sift_buf b = SIFT_BUF_INIT;
            sift_buf_append(&b, self->body.data, self->body.len);
            sift_http_reply_json(f->req, self->status, &b);
            sift_buf_cleanup(&b);
        } else {
            c->fanouts[2]++;
            sift_http_reply_error(
                f->req, 502, "cluster_partial",
                "%s the event (%zu of %zu nodes failed): %s",
                holder ? "unreadable context answer from the node holding"
                       : "no node that answered holds",
                failed, total, fails.len ? sift_buf_cstr(&fails) : "");
        }
        json_decref(base);
        sift_buf_cleanup(&fails);
        fanout_free(f);
        return;
    }

    struct fanout *g = sift_xcalloc(1, sizeof(*g));
    g->c = c;
    g->req = f->req;
    g->q = f->q;
    g->t0_ns = f->t0_ns;
    g->ctx = base;
    g->ctx_fails = fails;
    g->ctx_total = total;
    g->ctx_failed = failed;
    g->ctx_before = count_param(f->req, "before");
    g->ctx_after = count_param(f->req, "after");
    g->calls = sift_xcalloc(2 * n_near + 1, sizeof(*g->calls));
    for (size_t i = 0; i < f->n_calls; i++) {
        struct call *k = &f->calls[i];
        if (k == holder || (k->status != 200 && k->status != 404))
            continue;
        for (int after = 0; after < 2; after++) {
            struct call *n = &g->calls[g->n_calls++];
            n->f = g;
            n->node = k->node;
            snprintf(n->node_id, sizeof(n->node_id), "%s", k->node_id);
        }
    }
    char *eq = evhttp_encode_uri(json_string_value(query));
    g->next = c->running;
    if (g->next)
        g->next->prev = g;
    c->running = g;
    g->pending = g->n_calls;
    struct sift_buf none = SIFT_BUF_INIT;
    for (size_t i = 0; i < g->n_calls; i++) {
        struct call *n = &g->calls[i];
        int after = (int)(i % 2);
        char cur[64];
        sift_query_cursor_after(ts, hash, 0, after, cur, sizeof(cur));
        struct sift_buf uri = SIFT_BUF_INIT;
        sift_buf_appendf(&uri,
                         "/api/v1/search?q=%s&limit=%u&order=%s&cursor=%s",
                         eq ? eq : "", after ? g->ctx_after : g->ctx_before,
                         after ? "oldest" : "newest", cur);
        if (call_start(g, n, sift_buf_cstr(&uri), &none, 0) != SIFT_OK) {
            n->done = 1;
            g->pending--;
        }
        sift_buf_cleanup(&uri);
    }
    free(eq);
    fanout_free(f);
    if (g->pending == 0)
        fanout_finish(g);
}

/* Context, second round: the holder's neighbours and every other node's
 * merged by time, the nearest kept on each side. */
static void
context_second(struct fanout *g)
{
    struct nhit *v[2] = {NULL, NULL};
    size_t n[2] = {0, 0}, cap[2] = {0, 0};
    size_t failed = g->ctx_failed;
    int first = g->ctx_fails.len == 0;
    char tmp[128], reason[512];
    json_t *base = g->ctx;

    fanout_unlink(g);
    (void)nhits_add(json_object_get(base, "before"), 0, &v[0], &n[0], &cap[0]);
    (void)nhits_add(json_object_get(base, "after"), 1, &v[1], &n[1], &cap[1]);
    for (size_t i = 0; i + 1 < g->n_calls; i += 2) {
        int bad = 0;
        for (int after = 0; after < 2; after++) {
            struct call *k = &g->calls[i + (size_t)after];
            json_t *o = k->status == 200
                            ? json_loadb(k->body.data ? k->body.data : "",
                                         k->body.len, 0, NULL)
                            : NULL;
            json_t *hits = json_object_get(o, "hits");
            if (!json_is_array(hits) ||
                nhits_add(hits, after, &v[after], &n[after], &cap[after]) < 0)
                bad = bad ? bad : (int)(i + (size_t)after) + 1;
            if (json_is_true(json_object_get(o, "timed_out")))
                json_object_set_new(base, "timed_out", json_true());
            json_decref(o);
        }
        if (!bad)
            continue;
        struct call *k = &g->calls[bad - 1];
        if (k->status == 200)
            snprintf(reason, sizeof(reason), "%s", "unreadable search answer");
        else
            call_reason(g, k, reason, sizeof(reason));
        sift__cluster_note(g->c, k->node, 0, k->status > 0, k->node_id, reason,
                           -1);
        failed++;
        put_failure(&g->ctx_fails, &first, call_url(g, k, tmp, sizeof(tmp)),
                    k->node_id, k->status, reason);
    }
    json_object_set_new(base, "before",
                        nhits_take(v[0], n[0], g->ctx_before, 0));
    json_object_set_new(base, "after", nhits_take(v[1], n[1], g->ctx_after, 1));
    sift_free(v[0]);
    sift_free(v[1]);
    context_reply(g, base, g->ctx_total, failed, &g->ctx_fails);
    fanout_free(g);
}

static void
fanout_finish(struct fanout *f)
{
    struct sift_cluster *c = f->c;
    if (f->q.kind == SIFT_CLUSTER_CONTEXT) {
        if (f->ctx)
            context_second(f);
        else
            context_first(f);
        return;
    }
    if (f->q.kind == SIFT_CLUSTER_DELETE) {
        delete_finish(f);
        return;
    }
    if (f->q.kind == SIFT_CLUSTER_STATUS) {
        status_finish(f);
        return;
    }
    size_t n = f->n_calls;
    struct sift__cluster_answer *ans = sift_xcalloc(n + 1, sizeof(*ans));
    size_t *ans_call = sift_xcalloc(n + 1, sizeof(*ans_call));
    int *bad = sift_xcalloc(n + 1, sizeof(*bad));
    size_t n_ans = 0, total = 0, failed = 0;
    struct sift_buf fails = SIFT_BUF_INIT;
    int first = 1;
    char tmp[128], reason[512];
    int64_t now = sift_clock_now_ns();

    fanout_unlink(f);
    for (size_t i = 0; i < n; i++) {
        struct call *k = &f->calls[i];
        const char *url = call_url(f, k, tmp, sizeof(tmp));
        struct peer *pe = k->node >= 0 ? &c->peers[k->node] : NULL;
        /* One node under two addresses answers once. */
        int dup = 0;
        if (k->status > 0 && k->node_id[0])
            for (size_t j = 0; j < i; j++)
                dup |= f->calls[j].status > 0 &&
                       strcmp(f->calls[j].node_id, k->node_id) == 0;
        if (dup)
            continue;
        total++;
        if (pe && k->node_id[0])
            snprintf(pe->node_id, sizeof(pe->node_id), "%s", k->node_id);
        if (k->status == 200) {
            if (pe) {
                pe->last_contact_ns = now;
                pe->last_error[0] = '\0';
                pe->answered++;
                pe->up = 1;
                sift_histogram_observe(&pe->latency,
                                       (double)(k->done_ns - f->t0_ns) /
                                           SIFT_NS_PER_SEC);
            }
            ans[n_ans].body = k->body.data ? k->body.data : "";
            ans[n_ans].len = k->body.len;
            ans[n_ans].node_id = k->node_id[0] ? k->node_id
                                 : k->node < 0 ? c->node_id
                                               : "";
            ans_call[n_ans++] = i;
            continue;
        }
        call_reason(f, k, reason, sizeof(reason));
        if (pe) {
            pe->failed++;
            pe->up = 0;
            if (k->status > 0)
                pe->last_contact_ns = now;
            snprintf(pe->last_error, sizeof(pe->last_error), "%.159s", reason);
        }
        failed++;
        put_failure(&fails, &first, url, k->node_id, k->status, reason);
    }

    struct sift_buf out = SIFT_BUF_INIT;
    char why[200] = "";
    if (n_ans > 0) {
        sift__cluster_merge(&f->q, f->shard_size, ans, n_ans, &out, bad, why,
                            sizeof(why));
        for (size_t a = 0; a < n_ans; a++) {
            if (!bad[a])
                continue;
            struct call *k = &f->calls[ans_call[a]];
            failed++;
            put_failure(&fails, &first, call_url(f, k, tmp, sizeof(tmp)),
                        k->node_id, k->status, why);
        }
    }
    size_t ok = total - failed;
    c->fanouts[ok == 0 ? 2 : failed > 0 ? 1 : 0]++;
    int64_t took_ms = (sift_clock_mono_ns() - f->t0_ns) / SIFT_NS_PER_MS;

    if (ok == 0) {
        /* Every node failed: a bad request fails the same way on each
         * node; say what this node said. */
        struct call *self = NULL;
        for (size_t i = 0; i < n; i++)
            if (f->calls[i].node < 0)
                self = &f->calls[i];
        if (self && self->status >= 400 && self->status < 500 &&
            self->body.len > 0) {
            struct sift_buf b = SIFT_BUF_INIT;
            sift_buf_append(&b, self->body.data, self->body.len);
            sift_http_reply_json(f->req, self->status, &b);
            sift_buf_cleanup(&b);
        } else {
            sift_http_reply_error(f->req, 502, "cluster_unavailable",
                                  "no node answered (%zu asked): %s", total,
                                  fails.len ? sift_buf_cstr(&fails) : "");
        }
    } else if (failed > 0 && !f->q.allow_partial) {
        sift_http_reply_error(f->req, 502, "cluster_partial",
                              "%zu of %zu nodes failed and allow_partial is "
                              "false: %s",
                              failed, total, sift_buf_cstr(&fails));
    } else {
        reply_with_nodes(f->req, &out, took_ms, total, ok, failed, &fails);
    }
    sift_buf_cleanup(&out);
    sift_buf_cleanup(&fails);
    sift_free(ans);
    sift_free(ans_call);
    sift_free(bad);
    fanout_free(f);
}

void
sift_cluster_fanout(struct sift_cluster *c, struct sift_http_req *req,
                    const struct sift_cluster_query *q)
{
    struct fanout *f = sift_xcalloc(1, sizeof(*f));
    f->c = c;
    f->req = req;
    f->q = *q;
    if (q->cursor) {
        snprintf(f->cursor, sizeof(f->cursor), "%s", q->cursor);
        f->q.cursor = f->cursor;
    }
    f->t0_ns = sift_clock_mono_ns();
    f->shard_size =
        q->kind == SIFT_CLUSTER_TERMS || q->kind == SIFT_CLUSTER_PATTERNS
            ? SIFT_CLUSTER_SHARD_SIZE(q->size)
            : 0;
    if (f->shard_size > 10000)
        f->shard_size = 10000; /* the terms endpoint's own cap */
    if (q->kind == SIFT_CLUSTER_PATTERNS &&
        f->shard_size > SIFT_CLUSTER_PATTERNS_MAX)
        f->shard_size = SIFT_CLUSTER_PATTERNS_MAX;
    f->calls = sift_xcalloc(c->n_peers + 1, sizeof(*f->calls));
    f->calls[f->n_calls++].node = -1;
    for (size_t i = 0; i < c->n_peers; i++)
        if (!c->peers[i].is_self)
            f->calls[f->n_calls++].node = (int)i;

    int post = strcmp(sift_http_req_method(req), "POST") == 0;
    struct sift_buf body = SIFT_BUF_INIT, uri = SIFT_BUF_INIT;
    int size_in_body = 0;
    if (post)
        forward_body(req, f->shard_size, &body, &size_in_body);
    forward_uri(req, size_in_body ? 0 : f->shard_size, &uri);

    f->next = c->running;
    if (f->next)
        f->next->prev = f;
    c->running = f;
    f->pending = f->n_calls;
    for (size_t i = 0; i < f->n_calls; i++) {
        struct call *k = &f->calls[i];
        k->f = f;
        if (call_start(f, k, sift_buf_cstr(&uri), &body, post) == SIFT_OK)
            continue;
        k->done = 1;
        f->pending--;
    }
    sift_buf_cleanup(&body);
    sift_buf_cleanup(&uri);
    if (f->pending == 0)
        fanout_finish(f);
}

/* ---- for stream.c ---- */

size_t
sift__cluster_nodes(const struct sift_cluster *c, int *out)
{
    size_t n = 0;
    out[n++] = -1;
    for (size_t i = 0; i < c->n_peers; i++)
        if (!c->peers[i].is_self)
            out[n++] = (int)i;
    return n;
}

size_t
sift__cluster_max_nodes(const struct sift_cluster *c)
{
    return c->n_peers + 1;
}

const char *
sift__cluster_node_url(const struct sift_cluster *c, int node, char *tmp,
                       size_t cap)
{
    if (node >= 0)
        return c->peers[node].url;
    snprintf(tmp, cap, "http://%s%s%s:%u", strchr(c->self_host, ':') ? "[" : "",
             c->self_host, strchr(c->self_host, ':') ? "]" : "", c->self_port);
    return tmp;
}

struct evhttp_request *
sift__cluster_node_request(struct sift_cluster *c, int node,
                           struct sift_http_req *caller, int64_t timeout_ms,
                           void (*cb)(struct evhttp_request *, void *),
                           void *arg, struct evhttp_connection **conn)
{
    const char *host = node >= 0 ? c->peers[node].host : c->self_host;
    uint16_t port = node >= 0 ? c->peers[node].port : c->self_port;
    int tls = node >= 0 && c->peers[node].tls;
    struct evhttp_request *r =
        node_request(c, host, port, tls, timeout_ms, cb, arg, conn);
    if (r && (!c->cfg->cluster_token || !c->cfg->cluster_token[0])) {
        const char *auth = sift_http_req_header(caller, "Authorization");
        if (auth)
            evhttp_add_header(evhttp_request_get_output_headers(r),
                              "Authorization", auth);
    }
    return r;
}

void
sift__cluster_note(struct sift_cluster *c, int node, int ok, int contact,
                   const char *node_id, const char *reason, int64_t took_ns)
{
    if (node < 0)
        return;
    struct peer *pe = &c->peers[node];
    if (node_id && node_id[0])
        snprintf(pe->node_id, sizeof(pe->node_id), "%s", node_id);
    if (contact)
        pe->last_contact_ns = sift_clock_now_ns();
    if (ok) {
        pe->answered++;
        pe->up = 1;
        pe->last_error[0] = '\0';
        if (took_ns >= 0)
            sift_histogram_observe(&pe->latency,
                                   (double)took_ns / SIFT_NS_PER_SEC);
    } else {
        pe->failed++;
        pe->up = 0;
        snprintf(pe->last_error, sizeof(pe->last_error), "%.159s",
                 reason ? reason : "");
    }
}

struct sift__cstream **
sift__cluster_streams(struct sift_cluster *c)
{
    return &c->streams;
}

struct event_base *
sift__cluster_base(const struct sift_cluster *c)
{
    return c->base;
}

int64_t
sift__cluster_timeout_ms(const struct sift_cluster *c)
{
    return c->cfg->cluster_timeout_ms;
}

/* ---- positions: the Kafka handoff ---- */

struct poswait {
    struct sift_cluster *c;
    struct sift_http_req *req;
    char *key;
    int64_t deadline_ns;
    struct event *ev;
    struct poswait *next;
};

void
sift_cluster_set_local(struct sift_cluster *c,
                       const struct sift_cluster_local *local)
{
    c->local = *local;
}

static void
poswait_reply(struct poswait *w)
{
    struct sift_cluster *c = w->c;
    uint64_t hi = 0;
    int have = c->local.position &&
               c->local.position(c->local.arg, w->key, &hi) == SIFT_OK;
    int settled = !c->local.settled || c->local.settled(c->local.arg, w->key);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_append(&b, "{\"key\":", 7);
    sift_buf_put_json_str(&b, w->key, strlen(w->key));
    sift_buf_append(&b, ",\"node_id\":", 11);
    sift_buf_put_json_str(&b, c->node_id, strlen(c->node_id));
    if (have)
        sift_buf_appendf(&b, ",\"hi\":%llu", (unsigned long long)hi);
    else
        sift_buf_append(&b, ",\"hi\":null", 10);
    sift_buf_appendf(&b, ",\"settled\":%s}\n", settled ? "true" : "false");
    sift_http_add_header(w->req, SIFT_CLUSTER_NODE_HEADER, c->node_id);
    sift_http_reply_json(w->req, 200, &b);
    sift_buf_cleanup(&b);
}

static void
poswait_free(struct poswait *w)
{
    struct poswait **pp = &w->c->waits;
    while (*pp && *pp != w)
        pp = &(*pp)->next;
    if (*pp)
        *pp = w->next;
    if (w->ev)
        event_free(w->ev);
    sift_free(w->key);
    sift_free(w);
}

static void
on_poswait(evutil_socket_t fd, short what, void *arg)
{
    struct poswait *w = arg;
    struct sift_cluster *c = w->c;
    (void)fd;
    (void)what;
    if (c->local.settled && !c->local.settled(c->local.arg, w->key) &&
        sift_clock_mono_ns() < w->deadline_ns &&
        !sift_http_req_is_closed(w->req)) {
        struct timeval tv = {0, 20 * 1000L};
        event_add(w->ev, &tv);
        return;
    }
    poswait_reply(w);
    poswait_free(w);
}

/*
 * GET /api/v1/cluster/position?key=K: how far this node holds position
 * key K ({"hi":N} or null), answered once no event of K is on its way
 * to durability here (or after half of cluster.timeout, "settled":false).
 */
static void
handle_position(struct sift_http_req *req, void *arg)
{
    struct sift_cluster *c = arg;
    const char *key = sift_http_req_param(req, "key");
    if (c->stopped) {
        sift_http_reply_error(req, 503, "shutting_down", "%s",
                              "the server is stopping");
        return;
    }
    if (!key || !*key) {
        sift_http_reply_error(req, 400, "bad_request", "%s",
                              "missing parameter 'key'");
        return;
    }
    struct poswait *w = sift_xcalloc(1, sizeof(*w));
    w->c = c;
    w->req = req;
    w->key = sift_xstrdup(key);
    w->deadline_ns =
        sift_clock_mono_ns() + c->cfg->cluster_timeout_ms / 2 * SIFT_NS_PER_MS;
    w->ev = evtimer_new(c->base, on_poswait, w);
    w->next = c->waits;
    c->waits = w;
    on_poswait(-1, 0, w);
}

struct pcall {
    struct poscall *pc;
    struct evhttp_connection *conn;
    int done;
};

struct poscall {
    struct sift_cluster *c;
    void (*done)(void *cbarg, int all, int have, uint64_t hi);
    void *cbarg;
    int cancelled;
    size_t n, pending, answered;
    int have;
    uint64_t hi;
    struct pcall *calls;
    struct event *ev; /* no peer to ask: answers on the next loop turn */
    struct poscall *next;
};

static void
poscall_free(struct poscall *pc)
{
    struct poscall **pp = &pc->c->asks;
    while (*pp && *pp != pc)
        pp = &(*pp)->next;
    if (*pp)
        *pp = pc->next;
    if (pc->ev)
        event_free(pc->ev);
    sift_free(pc->calls);
    sift_free(pc);
}

static void
poscall_finish(struct poscall *pc)
{
    if (!pc->cancelled)
        pc->done(pc->cbarg, pc->answered == pc->n, pc->have, pc->hi);
    poscall_free(pc);
}

static void
on_poscall_now(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    poscall_finish(arg);
}

static void
on_pcall_done(struct evhttp_request *r, void *arg)
{
    struct pcall *k = arg;
    struct poscall *pc = k->pc;
    if (k->done)
        return;
    k->done = 1;
    k->conn = NULL;
    if (r != NULL && evhttp_request_get_response_code(r) == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(r);
        size_t len = evbuffer_get_length(in);
        const char *id = evhttp_find_header(evhttp_request_get_input_headers(r),
                                            SIFT_CLUSTER_NODE_HEADER);
        json_t *o = json_loadb((const char *)evbuffer_pullup(in, -1), len,
                               JSON_DECODE_INT_AS_REAL, NULL);
        json_t *hi = json_object_get(o, "hi");
        if (json_is_object(o) && json_is_true(json_object_get(o, "settled"))) {
            pc->answered++;
            /* This node under another address holds what we hold. */
            int self = id && strcmp(id, pc->c->node_id) == 0;
            if (!self && json_is_number(hi)) {
                uint64_t v = (uint64_t)json_number_value(hi);
                if (!pc->have || v > pc->hi)
                    pc->hi = v;
                pc->have = 1;
            }
        }
        json_decref(o);
    }
    if (--pc->pending == 0)
        poscall_finish(pc);
}

void *
sift_cluster_ask_position(struct sift_cluster *c, const char *key,
                          void (*done)(void *cbarg, int all, int have,
                                       uint64_t hi),
                          void *cbarg)
{
    struct poscall *pc = sift_xcalloc(1, sizeof(*pc));
    pc->c = c;
    pc->done = done;
    pc->cbarg = cbarg;
    pc->calls = sift_xcalloc(c->n_peers + 1, sizeof(*pc->calls));
    pc->next = c->asks;
    c->asks = pc;
    char *ek = evhttp_encode_uri(key);
    struct sift_buf uri = SIFT_BUF_INIT;
    sift_buf_appendf(&uri, "/api/v1/cluster/position?key=%s", ek ? ek : "");
    free(ek);
    for (size_t i = 0; i < c->n_peers; i++) {
        struct peer *pe = &c->peers[i];
        if (pe->is_self)
            continue;
        struct pcall *k = &pc->calls[pc->n++];
        k->pc = pc;
        struct evhttp_request *r = node_request(c, pe->host, pe->port, pe->tls,
                                                c->cfg->cluster_timeout_ms,
                                                on_pcall_done, k, &k->conn);
        if (!r) {
            k->done = 1;
            continue;
        }
        if (evhttp_make_request(k->conn, r, EVHTTP_REQ_GET,
                                sift_buf_cstr(&uri)) != 0) {
            evhttp_connection_free(k->conn);
            k->conn = NULL;
            k->done = 1;
            continue;
        }
        evhttp_connection_free_on_completion(k->conn);
        pc->pending++;
    }
    sift_buf_cleanup(&uri);
    if (pc->pending == 0) {
        struct timeval zero = {0, 0};
        pc->ev = evtimer_new(c->base, on_poscall_now, pc);
        event_add(pc->ev, &zero);
    }
    return pc;
}

void
sift_cluster_ask_cancel(void *call)
{
    struct poscall *pc = call;
    if (pc)
        pc->cancelled = 1;
}

/* ---- status ---- */

void
sift_cluster_status_json(const struct sift_cluster *c, struct sift_buf *out)
{
    sift_buf_append(out, "{\"node_id\":", 11);
    sift_buf_put_json_str(out, c->node_id, strlen(c->node_id));
    sift_buf_appendf(out, ",\"self\":");
    if (c->self_host)
        sift_buf_appendf(out, "\"http://%s%s%s:%u\"",
                         strchr(c->self_host, ':') ? "[" : "", c->self_host,
                         strchr(c->self_host, ':') ? "]" : "", c->self_port);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_append(out, ",\"peers\":[", 10);
    for (size_t i = 0; i < c->n_peers; i++) {
        const struct peer *p = &c->peers[i];
        sift_buf_appendf(out, "%s{\"url\":", i ? "," : "");
        sift_buf_put_json_str(out, p->url, strlen(p->url));
        sift_buf_appendf(
            out, ",\"self\":%s,\"node_id\":", p->is_self ? "true" : "false");
        if (p->is_self)
            sift_buf_put_json_str(out, c->node_id, strlen(c->node_id));
        else if (p->node_id[0])
            sift_buf_put_json_str(out, p->node_id, strlen(p->node_id));
        else
            sift_buf_append(out, "null", 4);
        sift_buf_append(out, ",\"last_contact\":", 16);
        if (p->last_contact_ns) {
            sift_buf_putc(out, '"');
            sift_time_format_rfc3339(p->last_contact_ns, 3, out);
            sift_buf_putc(out, '"');
        } else {
            sift_buf_append(out, "null", 4);
        }
        sift_buf_append(out, ",\"last_error\":", 14);
        if (p->last_error[0])
            sift_buf_put_json_str(out, p->last_error, strlen(p->last_error));
        else
            sift_buf_append(out, "null", 4);
        sift_buf_putc(out, '}');
    }
    sift_buf_append(out, "]}", 2);
}

void
sift_cluster_metrics_collect(struct sift_buf *out, void *arg)
{
    const struct sift_cluster *c = arg;
    static const char *const kinds[] = {"complete", "partial", "failed"};
    sift_metrics_family(out, "sift_cluster_fanouts_total", SIFT_METRIC_COUNTER,
                        "Fanned-out queries by outcome: every node answered, "
                        "some failed (_nodes.failed > 0), none answered.");
    for (size_t i = 0; i < 3; i++) {
        const char *labels[] = {"outcome", kinds[i], NULL};
        sift_metrics_sample(out, "sift_cluster_fanouts_total", labels,
                            (double)c->fanouts[i]);
    }
    sift_metrics_family(out, "sift_cluster_peer_requests_total",
                        SIFT_METRIC_COUNTER,
                        "Fanned-out requests sent to each peer, by outcome.");
    for (size_t i = 0; i < c->n_peers; i++) {
        const struct peer *p = &c->peers[i];
        const char *ok[] = {"peer", p->url, "outcome", "answered", NULL};
        const char *ko[] = {"peer", p->url, "outcome", "failed", NULL};
        sift_metrics_sample(out, "sift_cluster_peer_requests_total", ok,
                            (double)p->answered);
        sift_metrics_sample(out, "sift_cluster_peer_requests_total", ko,
                            (double)p->failed);
    }
    sift_metrics_family(out, "sift_cluster_peer_last_contact_seconds",
                        SIFT_METRIC_GAUGE,
                        "When each peer last answered (Unix time; 0 never).");
    for (size_t i = 0; i < c->n_peers; i++) {
        const char *l[] = {"peer", c->peers[i].url, NULL};
        sift_metrics_sample(out, "sift_cluster_peer_last_contact_seconds", l,
                            (double)c->peers[i].last_contact_ns / 1e9);
    }
    sift_metrics_family(out, "sift_cluster_peer_up", SIFT_METRIC_GAUGE,
                        "1 when the peer answered the last request sent to "
                        "it (this node: always 1), else 0.");
    for (size_t i = 0; i < c->n_peers; i++) {
        const char *l[] = {"peer", c->peers[i].url, NULL};
        sift_metrics_sample(out, "sift_cluster_peer_up", l,
                            c->peers[i].is_self || c->peers[i].up ? 1.0 : 0.0);
    }
    sift_metrics_family(out, "sift_cluster_peer_request_seconds",
                        SIFT_METRIC_HISTOGRAM,
                        "Time from sending a fanned-out request to each "
                        "peer until its whole answer (answered requests).");
    for (size_t i = 0; i < c->n_peers; i++) {
        const char *l[] = {"peer", c->peers[i].url, NULL};
        sift_histogram_render(&c->peers[i].latency, out,
                              "sift_cluster_peer_request_seconds", l);
    }
}

/* One source partition of this node, an element of "partitions". */
static void
part_json(void *arg, const struct sift_source_part *p)
{
    struct sift_buf *out = arg;
    if (out->len > 0 && out->data[out->len - 1] != '[')
        sift_buf_putc(out, ',');
    sift_buf_append(out, "{\"key\":", 7);
    sift_buf_put_json_str(out, p->key, strlen(p->key));
    sift_buf_append(out, ",\"lag\":", 7);
    if (p->lag >= 0)
        sift_buf_appendf(out, "%lld", (long long)p->lag);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_append(out, ",\"committed\":", 13);
    if (p->committed >= 0)
        sift_buf_appendf(out, "%lld", (long long)p->committed);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_appendf(out, ",\"inflight\":%llu}",
                     (unsigned long long)p->inflight);
}

/* This node's own view: sift_cluster_status_json(), "enabled" and its
 * source partitions. */
static void
status_local(struct sift_cluster *c, struct sift_buf *out)
{
    sift_cluster_status_json(c, out);
    out->len--; /* the closing brace */
    sift_buf_appendf(out, ",\"enabled\":%s,\"partitions\":[",
                     sift_cluster_active(c) ? "true" : "false");
    if (c->local.parts)
        c->local.parts(c->local.arg, part_json, out);
    sift_buf_append(out, "]}", 2);
}

static void
handle_cluster(struct sift_http_req *req, void *arg)
{
    struct sift_cluster *c = arg;
    if (!sift_cluster_is_local(c, req)) {
        const struct sift_cluster_query cq = {.kind = SIFT_CLUSTER_STATUS,
                                              .allow_partial = 1};
        sift_cluster_fanout(c, req, &cq);
        return;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    status_local(c, &b);
    sift_buf_putc(&b, '\n');
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

void
sift_cluster_register(struct sift_cluster *c, struct sift_http *http)
{
    sift_http_route(http, "GET", "/api/v1/cluster", 0, SIFT_ROLE_READER,
                    handle_cluster, c);
    sift_http_route(http, "GET", "/api/v1/cluster/position", 0,
                    SIFT_ROLE_READER, handle_position, c);
}

void
sift_cluster_stop(struct sift_cluster *c)
{
    if (!c)
        return;
    c->stopped = 1;
    sift__cluster_streams_stop(c);
    memset(&c->local, 0, sizeof(c->local));
    while (c->waits) {
        struct poswait *w = c->waits;
        sift_http_reply_error(w->req, 503, "shutting_down", "%s",
                              "the server is stopping");
        poswait_free(w);
    }
    while (c->running) {
        struct fanout *f = c->running;
        c->running = f->next;
        for (size_t i = 0; i < f->n_calls; i++)
            if (!f->calls[i].done && f->calls[i].conn)
                evhttp_connection_free(f->calls[i].conn); /* no callback */
        sift_http_reply_error(f->req, 503, "shutting_down", "%s",
                              "the server is stopping");
        fanout_free(f);
    }
}

void
sift_cluster_free(struct sift_cluster *c)
{
    if (!c)
        return;
    sift_cluster_stop(c);
    while (c->asks) {
        struct poscall *pc = c->asks;
        for (size_t i = 0; i < pc->n; i++)
            if (!pc->calls[i].done && pc->calls[i].conn)
                evhttp_connection_free(pc->calls[i].conn); /* no callback */
        poscall_free(pc);
    }
    for (size_t i = 0; i < c->n_peers; i++) {
        sift_free(c->peers[i].url);
        sift_free(c->peers[i].host);
    }
    sift_free(c->peers);
    sift_free(c->self_host);
    if (c->tls)
        SSL_CTX_free(c->tls);
    sift_free(c);
}
