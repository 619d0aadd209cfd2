/*
 * http.c - the HTTP server on libevent's evhttp: routing, limits, body
 * inflation, JSON replies, async replies and chunked streams.
 *
 * Design:
 * - One evhttp with a generic callback; our own router matches exact
 *   paths first, then prefixes, in registration order, then the method
 *   (405 with Allow when only the method is wrong, 404 otherwise).  HEAD
 *   is routed like GET (evhttp drops the body).
 * - Every request gets a struct sift_http_req (heap) with an arena; it is
 *   freed when the handler replies, which may be much later (async).
 * - Every accepted connection gets a struct http_conn at accept time: we
 *   create its bufferevent ourselves (evhttp_set_bevcb; plain socket or
 *   OpenSSL) and keep one extra reference on it, so the bufferevent
 *   outlives evhttp's use of it.  The conn is found through a small hash
 *   keyed by that bufferevent.  evhttp_connection_set_closecb() (set at
 *   the first request) tells the pending request its client has gone.
 *   bufferevent_free() clears the callbacks, so the 1 s sweep sees that
 *   evhttp is done with a connection (callback argument NULL), drops our
 *   reference and frees the conn.  Counting at accept makes
 *   max_connections cover clients that never finish a request.
 * - Slowloris: each conn has a deadline by which its next request must be
 *   complete (http.request_timeout after accept or after the previous
 *   reply).  The sweep shuts down (shutdown(2), never close(2): evhttp
 *   owns the descriptor) connections past it with no request in flight;
 *   evhttp then reads EOF and frees them.  Connections over
 *   max_connections get a 503 if they manage a request, and are cut at
 *   the next sweep otherwise.
 * - Security (issue 9): authorize() is the only place that decides roles
 *   (sift_auth_check(), role per route, /metrics configurable); then the
 *   per-key token buckets (writer routes = ingest, reader routes =
 *   queries; key = token name, else client address) answer 429 with
 *   Retry-After.  Admin actions (admin routes other than GET/HEAD, and
 *   SIFT_ROUTE_AUDIT routes) are written to the audit log with their
 *   final status, refusals included.
 * - Every client socket gets TCP_NODELAY (conn_set_nodelay()): replies
 *   must not wait for the client's delayed ACK on kept-alive connections.
 * - evhttp's own error pages (HTML) are replaced by JSON errors in the
 *   connection's output buffer before they are sent
 *   (rewrite_libevent_error()); a client that stalls mid-request gets a
 *   JSON 408 before the cut.  Every JSON reply ends with a newline.
 * - TLS: a second evhttp on the same router whose bevcb wraps each socket
 *   in an OpenSSL bufferevent; SIGHUP swaps the SSL_CTX (SSL objects hold
 *   a reference to theirs, so open connections are unaffected).
 *
 * Client disconnect while a reply is pending (the important invariant):
 * evhttp disables reading once a request is dispatched, so a vanished
 * client is noticed either (a) by our 1 s sweep, which peeks the socket
 * (recv MSG_PEEK: 0 = EOF), or (b) when a write fails.  In (b) evhttp
 * detaches a request the user still owns from the connection and frees
 * the connection (closecb runs); a later evhttp_send_reply() on a
 * detached request just frees it.  When the connection is freed with the
 * request still attached (only evhttp_free() at shutdown), libevent frees
 * the request too; the closecb sees that (the request's connection is
 * still set) and forgets the evhttp_request, so our late reply touches
 * nothing freed.  Either way req->closed is set and streams get on_close
 * once.
 *
 * Body limits: evhttp's own cap (max_body_bytes plus slack) stops huge
 * uploads early with a 413 (made JSON, see rewrite_libevent_error());
 * within the slack and after gzip/zstd inflation our check answers a JSON
 * 413 body_too_large.
 *
 * Context: loop thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <zlib.h>
#include <zstd.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/audit.h"
#include "sift/auth.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/metrics.h"
#include "sift/names.h"
#include "sift/ratelimit.h"
#include "sift/time.h"
#include "sift/tls.h"

#define CONN_BUCKETS 1024
#define MAX_LISTENERS 8

struct route {
    const char *method; /* NULL = any */
    const char *path;
    unsigned flags;
    enum sift_role role;
    sift_http_handler_cb handler;
    void *arg;
    const struct sift_http_param *params; /* NULL = not checked */
};

struct req_param {
    const char *name; /* canonical once validated */
    const char *value;
};

struct http_conn {
    struct sift_http *http;
    struct bufferevent *bev;         /* ours: we hold one reference */
    struct evhttp_connection *evcon; /* set at the first request */
    struct sift_http_req *req; /* the request awaiting its reply, or NULL */
    int64_t deadline_ns;       /* next request complete by then */
    int over_limit;            /* accepted past max_connections */
    int cut;                   /* shut down by the sweep */
    int tls;                   /* an HTTPS connection */
    int nodelay;               /* TCP_NODELAY set on the socket */
    int partial;               /* bytes arrived since the last request */
    int rewriting;             /* inside rewrite_libevent_error() */
    int64_t resp_start;        /* output offset of the last status line */
    struct http_conn *next;    /* hash chain */
};

struct sift_http_req {
    struct sift_http *http;
    struct evhttp_request *evreq; /* NULL once libevent freed it */
    struct http_conn *conn;       /* NULL once the connection is gone */
    struct sift_arena *arena;
    const struct route *route;
    const char *method;
    char *path;
    struct req_param *params; /* query string, in order (arena) */
    size_t n_params;
    int pretty;       /* ?pretty: indent JSON replies */
    int64_t t0_mono;  /* arrival (access log) */
    int status;       /* the reply's, once sent */
    size_t bytes_out; /* body bytes sent (access log) */
    const char *body;
    size_t body_len;
    char peer[64];
    const char *principal;
    enum sift_role role; /* what the credentials are worth */
    int closed;
    int audit;                 /* write an audit record with the reply */
    const char *audit_details; /* arena copy, or NULL: the URI query */
    int streaming;
    int close_notified;
    sift_http_close_cb on_close;
    void *close_arg;
    struct evbuffer *chunk;            /* streams: reused for each chunk */
    struct sift_http_req *prev, *next; /* live list */
};

struct sift_http {
    struct sift_loop *loop;
    const struct sift_config *cfg;
    struct evhttp *eh;
    struct route *routes;
    size_t n_routes, cap_routes;
    struct http_conn *conns[CONN_BUCKETS];
    size_t n_conns;
    struct sift_http_req *live; /* requests awaiting a reply */
    size_t n_live;
    struct evhttp_bound_socket *listeners[MAX_LISTENERS];
    size_t n_listeners;
    struct sift_timer *sweep;
    int draining;
    int ready;
    char *ready_details;          /* JSON text or NULL */
    const struct sift_auth *auth; /* borrowed; NULL = everyone is admin */
    const char *deny_reason;      /* reason of the last refusal (static) */
    struct sift_audit *audit;     /* borrowed; NULL = audit to the log */
    struct sift_ratelimit *rl_ingest, *rl_query; /* NULL = off */
    struct sift_ratelimit_opts rl_ingest_opts, rl_query_opts;
    struct evhttp *eh_tls; /* HTTPS server, or NULL */
    SSL_CTX *ssl_ctx;      /* current certificate and key */
    struct evhttp_bound_socket *tls_listeners[MAX_LISTENERS];
    size_t n_tls_listeners;
    struct sift_http_stats stats;
    int access_fd;     /* http.access_log file, or -1 */
    char *access_path; /* the path access_fd is open on */
};

/* ---------------------------------------------------------------------- */
/* Connections                                                             */
/* ---------------------------------------------------------------------- */

static size_t
conn_bucket(const struct bufferevent *bev)
{
    uintptr_t p = (uintptr_t)bev;
    return (size_t)((p >> 4) ^ (p >> 14)) % CONN_BUCKETS;
}

static struct http_conn *
conn_find(struct sift_http *http, struct bufferevent *bev)
{
    for (struct http_conn *c = http->conns[conn_bucket(bev)]; c != NULL;
         c = c->next) {
        if (c->bev == bev)
            return c;
    }
    return NULL;
}

static int64_t
request_timeout_ns(const struct sift_http *http)
{
    return http->cfg->request_timeout_ms * SIFT_NS_PER_MS;
}

/* ---------------------------------------------------------------------- */
/* Socket options and evhttp's own error pages                             */
/* ---------------------------------------------------------------------- */

/*
 * TCP_NODELAY on a client socket.  A reply leaves as a head and a body
 * (streams as many chunks); with Nagle's algorithm the last short segment
 * waits for the client's delayed ACK, ~40 ms on a kept-alive connection.
 * The listeners set it too (Linux hands it to accepted sockets); this
 * makes sure, for plain and TLS connections alike, before the first byte
 * of any reply.
 */
static void
conn_set_nodelay(struct http_conn *conn)
{
    evutil_socket_t fd = bufferevent_getfd(conn->bev);
    if (conn->nodelay || fd < 0)
        return;
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0)
        conn->nodelay = 1;
}

#ifdef SIFT_UNIT_TESTS
/* Whether the socket of req's connection has TCP_NODELAY on (tests). */
int
sift__http_req_nodelay(const struct sift_http_req *req)
{
    evutil_socket_t fd =
        req->conn != NULL ? bufferevent_getfd(req->conn->bev) : -1;
    int on = 0;
    socklen_t len = sizeof(on);
    if (fd < 0 || getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0)
        return -1;
    return on != 0;
}
#endif

/* The JSON error of a status evhttp generates by itself. */
static void
libevent_error_json(int status, struct sift_buf *b)
{
    const char *type = "http_error";
    const char *reason = "the request could not be handled";
    switch (status) {
    case 400:
        type = "bad_request";
        reason = "the request is not valid HTTP/1.x (a malformed request "
                 "line or header, or a header line too long)";
        break;
    case 413:
        type = "request_too_large";
        reason = "the request is over the size limits (http.max_body_bytes, "
                 "http.max_header_bytes) or its chunked body is malformed";
        break;
    case 501:
        type = "method_not_implemented";
        reason = "the request method is not supported (GET, HEAD, POST, PUT, "
                 "DELETE, OPTIONS, PATCH)";
        break;
    default: break;
    }
    sift_http_error_json(b, status, type, reason, -1);
}

/*
 * evhttp answers some requests itself, before they reach on_request: a bad
 * request line or header (400), a head or body over its caps (413), a
 * method it does not know (501).  Those replies are HTML and libevent 2.1
 * has no hook for them, so the connection's output buffer is watched:
 * when a reply's body is evhttp's error page exactly (same status in the
 * page and the status line, Content-Type text/html), the whole reply is
 * replaced by a JSON error before anything of it is sent (bufferevents
 * write from the loop, never inside the add).  siftd's own replies never
 * carry that page.
 */
static void
rewrite_libevent_error(struct http_conn *conn, struct evbuffer *buf,
                       size_t body_off, size_t body_len)
{
    static const char page_head[] = "<HTML><HEAD>\n<TITLE>";
    char page[512], head[2048];
    if (conn->resp_start < 0 || (size_t)conn->resp_start >= body_off ||
        body_len >= sizeof(page) ||
        body_off - (size_t)conn->resp_start >= sizeof(head))
        return;
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(buf, &pos, body_off, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &pos, page, body_len) !=
            (ev_ssize_t)body_len)
        return;
    page[body_len] = '\0';
    if (strncmp(page, page_head, sizeof(page_head) - 1) != 0)
        return;
    size_t head_len = body_off - (size_t)conn->resp_start;
    if (evbuffer_ptr_set(buf, &pos, (size_t)conn->resp_start,
                         EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &pos, head, head_len) !=
            (ev_ssize_t)head_len)
        return;
    head[head_len] = '\0';
    int status = 0, page_status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1 ||
        sscanf(page + sizeof(page_head) - 1, "%d", &page_status) != 1 ||
        status != page_status ||
        strstr(head, "\r\nContent-Type: text/html") == NULL ||
        strstr(page, "</BODY></HTML>\n") == NULL)
        return;

    struct sift_http *http = conn->http;
    if (status == 400)
        http->stats.bad_requests++;
    else if (status == 413)
        http->stats.body_too_large++;
    struct sift_buf json = SIFT_BUF_INIT;
    libevent_error_json(status, &json);
    const char *eol = strstr(head, "\r\n");
    struct evbuffer *keep = evbuffer_new();
    if (keep == NULL || eol == NULL) {
        evbuffer_free(keep);
        sift_buf_cleanup(&json);
        return;
    }
    conn->rewriting = 1;
    /* Replies before this one stay; this one is replaced as a whole. */
    evbuffer_remove_buffer(buf, keep, (size_t)conn->resp_start);
    evbuffer_drain(buf, evbuffer_get_length(buf));
    evbuffer_add(keep, head, (size_t)(eol - head) + 2);
    evbuffer_add_printf(keep,
                        "Content-Type: application/json\r\n"
                        "Connection: close\r\nContent-Length: %zu\r\n\r\n",
                        json.len);
    evbuffer_add(keep, json.data, json.len);
    evbuffer_add_buffer(buf, keep);
    conn->rewriting = 0;
    conn->resp_start = -1;
    evbuffer_free(keep);
    SIFT_INFO("http: answered a malformed or oversized request with %d "
              "(%.*s)",
              status, (int)(json.len - 1), json.data);
    sift_buf_cleanup(&json);
}

static void
on_conn_output(struct evbuffer *buf, const struct evbuffer_cb_info *info,
               void *arg)
{
    struct http_conn *conn = arg;
    if (conn->rewriting)
        return;
    if (info->n_deleted > 0)
        conn->resp_start = -1; /* sent: offsets moved */
    if (info->n_added == 0)
        return;
    conn_set_nodelay(conn);
    char first[8];
    struct evbuffer_ptr pos;
    if (info->n_added < sizeof(first) ||
        evbuffer_ptr_set(buf, &pos, info->orig_size, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &pos, first, sizeof(first)) !=
            (ev_ssize_t)sizeof(first))
        return;
    if (memcmp(first, "HTTP/1.", 7) == 0)
        conn->resp_start = (int64_t)info->orig_size;
    else if (memcmp(first, "<HTML><", 7) == 0)
        rewrite_libevent_error(conn, buf, info->orig_size, info->n_added);
}

/* Input arrived: a request is (partly) there (see the request timeout). */
static void
on_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info,
              void *arg)
{
    struct http_conn *conn = arg;
    (void)buf;
    if (info->n_added > 0)
        conn->partial = 1;
}

/*
 * evhttp's bevcb: runs at accept, before evhttp wraps the bufferevent in
 * a connection and sets its descriptor.  Never returns NULL for TLS (evhttp
 * would fall back to plain text on the HTTPS port): a failed SSL_new gives
 * a plain bufferevent on a conn marked for the cut.
 */
static void conn_sweep(struct sift_http *http, int64_t now, int cut_overdue);

static struct bufferevent *
conn_new_bev(struct event_base *base, struct sift_http *http, int tls)
{
    struct bufferevent *bev = NULL;
    int broken = 0;
    if (tls) {
        SSL *ssl = http->ssl_ctx != NULL ? SSL_new(http->ssl_ctx) : NULL;
        if (ssl != NULL) {
            bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                                 BUFFEREVENT_SSL_ACCEPTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
            if (bev == NULL)
                SSL_free(ssl);
        }
        broken = bev == NULL;
    }
    if (bev == NULL)
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        return NULL; /* plain only: evhttp makes its own and we miss it */
    struct http_conn *conn = sift_xcalloc(1, sizeof(*conn));
    conn->http = http;
    conn->bev = bev;
    conn->resp_start = -1;
    conn->tls = tls;
    bufferevent_incref(bev);
    evbuffer_add_cb(bufferevent_get_output(bev), on_conn_output, conn);
    evbuffer_add_cb(bufferevent_get_input(bev), on_conn_input, conn);
    conn->deadline_ns = sift_clock_mono_ns() + request_timeout_ns(http);
    /* Closed connections are released by the 1 s sweep; at the limit,
     * release them now so churn does not look like overload. */
    if ((int64_t)http->n_conns >= http->cfg->max_connections)
        conn_sweep(http, 0, 0);
    if (broken || (int64_t)http->n_conns >= http->cfg->max_connections) {
        conn->over_limit = 1;
        http->stats.too_many_connections++;
        if (!broken)
            SIFT_WARN("http: %zu connections open (http.max_connections); "
                      "refusing a new one",
                      http->n_conns);
        conn->deadline_ns = sift_clock_mono_ns(); /* cut at the next sweep */
    }
    size_t b = conn_bucket(bev);
    conn->next = http->conns[b];
    http->conns[b] = conn;
    http->n_conns++;
    return bev;
}

static struct bufferevent *
on_new_plain(struct event_base *base, void *arg)
{
    return conn_new_bev(base, arg, 0);
}

static struct bufferevent *
on_new_tls(struct event_base *base, void *arg)
{
    return conn_new_bev(base, arg, 1);
}

/* Drops the conn and our bufferevent reference (evhttp is done with it). */
static void
conn_release(struct sift_http *http, struct http_conn *conn,
             struct http_conn **pp)
{
    *pp = conn->next;
    http->n_conns--;
    evbuffer_remove_cb(bufferevent_get_output(conn->bev), on_conn_output, conn);
    evbuffer_remove_cb(bufferevent_get_input(conn->bev), on_conn_input, conn);
    bufferevent_decref(conn->bev);
    sift_free(conn);
}

/*
 * A client that sent part of a request and stalled past
 * http.request_timeout gets a JSON 408 before the cut (an idle kept-alive
 * connection is closed silently, as everywhere).  Plain sockets only, and
 * only with nothing else queued: the bytes go straight to the socket,
 * which TLS would not allow.
 */
static void
send_timeout_reply(struct http_conn *c, evutil_socket_t fd)
{
    static const char body[] =
        "{\"error\":{\"type\":\"request_timeout\",\"reason\":\"the request "
        "did not arrive completely within http.request_timeout\"},"
        "\"status\":408}\n";
    char msg[512];
    if (c->tls || evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return;
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 408 Request Timeout\r\nContent-Type: "
                     "application/json\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     sizeof(body) - 1, body);
    if (n > 0 && (size_t)n < sizeof(msg))
        (void)send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    SIFT_INFO("http: 408 to a client that sent an incomplete request within "
              "http.request_timeout");
}

/*
 * Sweep part 1: frees conns evhttp has let go of, and cuts connections
 * whose next request is overdue (slowloris, or refused past the limit).
 */
static void
conn_sweep(struct sift_http *http, int64_t now, int cut_overdue)
{
    for (size_t b = 0; b < CONN_BUCKETS; b++) {
        struct http_conn **pp = &http->conns[b];
        while (*pp != NULL) {
            struct http_conn *c = *pp;
            void *cbarg = NULL;
            bufferevent_getcb(c->bev, NULL, NULL, NULL, &cbarg);
            if (cbarg == NULL && c->req == NULL) {
                conn_release(http, c, pp);
                continue;
            }
            if (cut_overdue && c->req == NULL && !c->cut &&
                now >= c->deadline_ns) {
                evutil_socket_t fd = bufferevent_getfd(c->bev);
                if (fd >= 0) {
                    if (!c->over_limit)
                        http->stats.request_timeouts++;
                    SIFT_DEBUG("http: cutting a connection with no complete "
                               "request (http.request_timeout)");
                    if (c->partial && !c->over_limit)
                        send_timeout_reply(c, fd);
                    shutdown(fd, SHUT_RDWR);
                }
                c->cut = 1;
            }
            pp = &c->next;
        }
    }
}

static void notify_closed(struct sift_http *http);
SIFT_STATIC void json_pretty(const char *in, size_t len, struct sift_buf *out);

/* evhttp is freeing this connection (client gone, error, or shutdown). */
static void
on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct http_conn *conn = arg;
    struct sift_http *http = conn->http;
    struct sift_http_req *req = conn->req;

    evhttp_connection_set_closecb(evcon, NULL, NULL);
    conn->evcon = NULL;
    conn->req = NULL;
    if (req != NULL) {
        req->closed = 1;
        req->conn = NULL;
        /* Still attached: libevent frees the request with the connection.
         * Detached (evcon NULL): we own it until our reply frees it. */
        if (req->evreq != NULL &&
            evhttp_request_get_connection(req->evreq) != NULL)
            req->evreq = NULL;
        SIFT_DEBUG("http: connection of %s %s from %s closed before the "
                   "reply (%s)",
                   req->method, req->path != NULL ? req->path : "?", req->peer,
                   req->evreq != NULL ? "detached" : "freed");
    }
    /* The conn itself is freed by the sweep, once the bufferevent is. */
    if (req != NULL)
        notify_closed(http);
}

/* ---------------------------------------------------------------------- */
/* Request lifetime                                                        */
/* ---------------------------------------------------------------------- */

static void
req_unlink(struct sift_http_req *req)
{
    struct sift_http *http = req->http;
    if (req->prev != NULL)
        req->prev->next = req->next;
    else
        http->live = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    http->n_live--;
}

static const char *
role_name(const struct route *r)
{
    if (r == NULL)
        return "-";
    switch (r->role) {
    case SIFT_ROLE_NONE: return "open";
    case SIFT_ROLE_READER: return "reader";
    case SIFT_ROLE_WRITER: return "writer";
    case SIFT_ROLE_ADMIN: return "admin";
    case SIFT_ROLE_NODE: return "node";
    }
    return "-";
}

/*
 * The access log (http.access_log): one line per answered request -
 * method, path (without the query string, which may hold a query or
 * labels), status, body bytes, milliseconds, role of the route, token
 * name and client - into the log at INFO ("-") or appended to a file
 * (reopened when the key changes on reload).
 */
static void
access_log(struct sift_http_req *req)
{
    struct sift_http *http = req->http;
    const char *where = http->cfg->access_log;
    if (where == NULL || where[0] == '\0' || req->status == 0)
        return;
    char line[1024];
    int64_t ms = (sift_clock_mono_ns() - req->t0_mono) / SIFT_NS_PER_MS;
    int n = snprintf(line, sizeof(line), "%s %.400s %d %zu %lldms %s %s %s",
                     req->method, req->path != NULL ? req->path : "-",
                     req->status, req->bytes_out, (long long)ms,
                     role_name(req->route), req->principal, req->peer);
    if (n <= 0)
        return;
    if (strcmp(where, "-") == 0) {
        SIFT_INFO("access: %s", line);
        return;
    }
    if (http->access_path == NULL || strcmp(http->access_path, where) != 0) {
        if (http->access_fd >= 0)
            close(http->access_fd);
        sift_free(http->access_path);
        http->access_path = sift_xstrdup(where);
        http->access_fd =
            open(where, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (http->access_fd < 0)
            SIFT_WARN("http: cannot open the access log %s: %s", where,
                      strerror(errno));
    }
    if (http->access_fd < 0)
        return;
    char ts[SIFT_TIME_RFC3339_MAX];
    sift_time_print_rfc3339(sift_clock_now_ns(), 3, ts, sizeof(ts));
    char full[1100];
    int m = snprintf(full, sizeof(full), "%s %s\n", ts, line);
    if (m > 0 && write(http->access_fd, full, (size_t)m) < 0)
        SIFT_DEBUG("http: access log write failed: %s", strerror(errno));
}

/* Forgets the request after its reply (or at shutdown). */
static void
req_finish(struct sift_http_req *req)
{
    access_log(req);
    req_unlink(req);
    if (req->conn != NULL) {
        req->conn->req = NULL;
        req->conn->deadline_ns =
            sift_clock_mono_ns() + request_timeout_ns(req->http);
    }
    if (req->chunk != NULL)
        evbuffer_free(req->chunk);
    sift_arena_free(req->arena);
    sift_free(req);
}

/*
 * Runs on_close once for each stream whose client has gone.  Restarts the
 * scan after every callback because the callback may end (free) streams.
 */
static void
notify_closed(struct sift_http *http)
{
    for (size_t guard = 0; guard < 100000; guard++) {
        struct sift_http_req *r = http->live;
        while (r != NULL && !(r->closed && r->streaming && !r->close_notified &&
                              r->on_close != NULL))
            r = r->next;
        if (r == NULL)
            return;
        r->close_notified = 1;
        r->on_close(r, r->close_arg);
    }
}

/* Peeks each pending request's socket: EOF or error means the client left. */
static void
on_sweep(void *arg)
{
    struct sift_http *http = arg;
    int any = 0;

    conn_sweep(http, sift_clock_mono_ns(), 1);
    for (struct sift_http_req *r = http->live; r != NULL; r = r->next) {
        if (r->closed || r->conn == NULL)
            continue;
        evutil_socket_t fd = bufferevent_getfd(r->conn->bev);
        if (fd < 0)
            continue;
        char c;
        ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
                       errno != EINTR)) {
            SIFT_DEBUG("http: client %s went away before the reply", r->peer);
            r->closed = 1;
            any = 1;
        }
    }
    if (any)
        notify_closed(http);
}

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */
/* ---------------------------------------------------------------------- */

void
sift_http_add_header(struct sift_http_req *req, const char *name,
                     const char *value)
{
    if (req->evreq != NULL)
        evhttp_add_header(evhttp_request_get_output_headers(req->evreq), name,
                          value);
}

/* Writes the audit record of an admin action with its final status. */
static void
audit_record(struct sift_http_req *req, int status)
{
    if (!req->audit)
        return;
    req->audit = 0;
    char action[160];
    snprintf(action, sizeof(action), "%s %s", req->method,
             req->path != NULL ? req->path : "?");
    const char *details = req->audit_details;
    if (details == NULL && req->evreq != NULL) {
        const struct evhttp_uri *uri =
            evhttp_request_get_evhttp_uri(req->evreq);
        details = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    }
    sift_audit_write(req->http->audit, sift_clock_now_ns(), req->principal,
                     req->peer, action, status, details);
}

void
sift_http_reply(struct sift_http_req *req, int status, const char *content_type,
                const void *body, size_t len)
{
    assert(!req->streaming);
    audit_record(req, status);
    if (req->evreq != NULL) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req->evreq);
        if (content_type != NULL)
            evhttp_add_header(h, "Content-Type", content_type);
        if (req->http->draining)
            evhttp_add_header(h, "Connection", "close");
        struct sift_buf pretty = SIFT_BUF_INIT;
        if (req->pretty && len > 0 && content_type != NULL &&
            strncmp(content_type, "application/json", 16) == 0) {
            json_pretty(body, len, &pretty);
            body = pretty.data;
            len = pretty.len;
        }
        if (len > 0)
            evbuffer_add(evhttp_request_get_output_buffer(req->evreq), body,
                         len);
        /* Every JSON reply ends its line (curl output, NDJSON readers). */
        if (len > 0 && ((const char *)body)[len - 1] != '\n' &&
            content_type != NULL &&
            strncmp(content_type, "application/json", 16) == 0)
            evbuffer_add(evhttp_request_get_output_buffer(req->evreq), "\n", 1);
        sift_buf_cleanup(&pretty);
        req->status = status;
        req->bytes_out =
            evbuffer_get_length(evhttp_request_get_output_buffer(req->evreq));
        /* Detached (client gone): evhttp frees the request right here. */
        evhttp_send_reply(req->evreq, status, NULL, NULL);
    }
    req->status = status; /* also when the client had gone (access log) */
    req_finish(req);
}

void
sift_http_reply_json(struct sift_http_req *req, int status,
                     struct sift_buf *body)
{
    sift_http_reply(req, status, "application/json", body->data, body->len);
    sift_buf_reset(body);
}

void
sift_http_error_json(struct sift_buf *b, int status, const char *type,
                     const char *reason, int32_t position)
{
    sift_buf_append(b, "{\"error\":{\"type\":", 17);
    sift_buf_put_json_str(b, type, strlen(type));
    sift_buf_append(b, ",\"reason\":", 10);
    sift_buf_put_json_str(b, reason, strlen(reason));
    if (position >= 0)
        sift_buf_appendf(b, ",\"position\":%d", (int)position);
    sift_buf_appendf(b, "},\"status\":%d}\n", status);
}

void
sift_http_reply_error(struct sift_http_req *req, int status, const char *type,
                      const char *reason_fmt, ...)
{
    char reason[512];
    struct sift_buf b = SIFT_BUF_INIT;
    va_list ap;

    va_start(ap, reason_fmt);
    vsnprintf(reason, sizeof(reason), reason_fmt, ap);
    va_end(ap);
    /* A body or head refused for its size or type says so in the log:
     * the client may not show it, and the data did not arrive. */
    if (status == 413 || status == 415 || status == 431)
        SIFT_INFO("http: %d %s: %s %s from %s: %s", status, type, req->method,
                  req->path != NULL ? req->path : "?", req->peer, reason);
    sift_http_error_json(&b, status, type, reason, -1);
    sift_http_reply(req, status, "application/json", b.data, b.len);
    sift_buf_cleanup(&b);
}

/* Error reply on a raw evhttp request that never became a sift_http_req. */
static void
raw_error(struct evhttp_request *evreq, int status, const char *type,
          const char *reason)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_http_error_json(&b, status, type, reason, -1);
    struct evkeyvalq *h = evhttp_request_get_output_headers(evreq);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Connection", "close");
    evbuffer_add(evhttp_request_get_output_buffer(evreq), b.data, b.len);
    evhttp_send_reply(evreq, status, NULL, NULL);
    sift_buf_cleanup(&b);
}

/* ---------------------------------------------------------------------- */
/* Streams                                                                 */
/* ---------------------------------------------------------------------- */

int
sift_http_stream_start(struct sift_http_req *req, int status,
                       const char *content_type, sift_http_close_cb on_close,
                       void *arg)
{
    assert(!req->streaming);
    audit_record(req, status);
    req->streaming = 1;
    req->on_close = on_close;
    req->close_arg = arg;
    if (req->closed || req->evreq == NULL || req->conn == NULL)
        return SIFT_ESHUTDOWN;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req->evreq);
    if (content_type != NULL)
        evhttp_add_header(h, "Content-Type", content_type);
    evhttp_send_reply_start(req->evreq, status, NULL);
    req->status = status;
    req->chunk = evbuffer_new();
    return req->chunk != NULL ? SIFT_OK : SIFT_ENOMEM;
}

int
sift_http_stream_write(struct sift_http_req *req, const void *p, size_t len)
{
    assert(req->streaming);
    if (req->closed || req->evreq == NULL || req->conn == NULL ||
        req->chunk == NULL)
        return SIFT_ESHUTDOWN;
    if (len == 0)
        return SIFT_OK;
    if (evbuffer_add(req->chunk, p, len) != 0)
        return SIFT_ENOMEM;
    req->bytes_out += len;
    evhttp_send_reply_chunk(req->evreq, req->chunk);
    return SIFT_OK;
}

size_t
sift_http_stream_pending(const struct sift_http_req *req)
{
    if (req->conn == NULL)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(req->conn->bev));
}

void
sift_http_stream_end(struct sift_http_req *req)
{
    assert(req->streaming);
    if (req->evreq != NULL && req->chunk != NULL)
        evhttp_send_reply_end(req->evreq); /* frees a detached request */
    else if (req->evreq != NULL)
        evhttp_send_reply(req->evreq, HTTP_SERVUNAVAIL, NULL, NULL);
    req_finish(req);
}

/* ---------------------------------------------------------------------- */
/* Accessors                                                               */
/* ---------------------------------------------------------------------- */

const char *
sift_http_req_method(const struct sift_http_req *req)
{
    return req->method;
}

const char *
sift_http_req_path(const struct sift_http_req *req)
{
    return req->path;
}

const char *
sift_http_req_param(const struct sift_http_req *req, const char *name)
{
    for (size_t i = 0; i < req->n_params; i++)
        if (strcmp(req->params[i].name, name) == 0)
            return req->params[i].value;
    return NULL;
}

size_t
sift_http_req_param_count(const struct sift_http_req *req)
{
    return req->n_params;
}

const char *
sift_http_req_param_at(const struct sift_http_req *req, size_t i,
                       const char **value)
{
    if (i >= req->n_params)
        return NULL;
    *value = req->params[i].value;
    return req->params[i].name;
}

const char *
sift_http_req_header(const struct sift_http_req *req, const char *name)
{
    if (req->evreq == NULL)
        return NULL;
    return evhttp_find_header(evhttp_request_get_input_headers(req->evreq),
                              name);
}

const char *
sift_http_req_body(const struct sift_http_req *req, size_t *len)
{
    *len = req->body_len;
    return req->body != NULL ? req->body : "";
}

void
sift_http_req_set_audit_details(struct sift_http_req *req, const char *details)
{
    req->audit_details =
        details ? sift_arena_strndup(req->arena, details, strlen(details))
                : NULL;
}

struct sift_arena *
sift_http_req_arena(struct sift_http_req *req)
{
    return req->arena;
}

const char *
sift_http_req_peer(const struct sift_http_req *req)
{
    return req->peer;
}

const char *
sift_http_req_principal(const struct sift_http_req *req)
{
    return req->principal;
}

enum sift_role
sift_http_req_role(const struct sift_http_req *req)
{
    return req->role;
}

int
sift_http_req_is_closed(const struct sift_http_req *req)
{
    return req->closed;
}

/* ---------------------------------------------------------------------- */
/* Body decoding                                                           */
/* ---------------------------------------------------------------------- */

static void
free_buf_data(void *p)
{
    sift_free(p);
}

/* Inflates gzip or zlib data (several gzip members allowed). */
SIFT_STATIC int
inflate_gzip(const void *in, size_t in_len, size_t limit, struct sift_buf *out)
{
    z_stream z;
    int rc = SIFT_OK;

    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 32) != Z_OK)
        return SIFT_ENOMEM;
    const unsigned char *p = in;
    size_t left = in_len;
    for (;;) {
        if (out->cap - out->len < 16384 &&
            sift_buf_try_reserve(out, 65536) < 0) {
            rc = SIFT_ENOMEM;
            break;
        }
        unsigned take = left > UINT32_MAX ? UINT32_MAX : (unsigned)left;
        z.next_in = (unsigned char *)(uintptr_t)p;
        z.avail_in = take;
        size_t room = out->cap - out->len;
        z.next_out = (unsigned char *)out->data + out->len;
        z.avail_out = room > UINT32_MAX ? UINT32_MAX : (unsigned)room;
        unsigned avail_out0 = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len += avail_out0 - z.avail_out;
        p += take - z.avail_in;
        left -= take - z.avail_in;
        if (out->len > limit) {
            rc = SIFT_ELIMIT;
            break;
        }
        if (zr == Z_STREAM_END) {
            if (left == 0)
                break;
            inflateReset(&z); /* next gzip member */
            continue;
        }
        if (zr == Z_BUF_ERROR && left == 0) {
            rc = SIFT_EPARSE; /* truncated */
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = zr == Z_MEM_ERROR ? SIFT_ENOMEM : SIFT_EPARSE;
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

SIFT_STATIC int
inflate_zstd(const void *in, size_t in_len, size_t limit, struct sift_buf *out)
{
    int rc = SIFT_OK;
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (d == NULL)
        return SIFT_ENOMEM;
    /* Bound the decoder's window memory (128 MiB). */
    ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, 27);
    ZSTD_inBuffer ib = {in, in_len, 0};
    size_t last = 1;
    while (ib.pos < ib.size || last != 0) {
        if (out->cap - out->len < 16384 &&
            sift_buf_try_reserve(out, 65536) < 0) {
            rc = SIFT_ENOMEM;
            break;
        }
        ZSTD_outBuffer ob = {out->data + out->len, out->cap - out->len, 0};
        size_t in_before = ib.pos;
        last = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(last)) {
            rc = SIFT_EPARSE;
            break;
        }
        out->len += ob.pos;
        if (out->len > limit) {
            rc = SIFT_ELIMIT;
            break;
        }
        if (ib.pos == ib.size && ob.pos == 0 && ib.pos == in_before &&
            last != 0) {
            rc = SIFT_EPARSE; /* truncated frame */
            break;
        }
    }
    ZSTD_freeDCtx(d);
    return rc;
}

/*
 * Sets req->body from the request, inflating it when needed.  On failure
 * replies with the right error and returns < 0 (the request is gone).
 */
static int
load_body(struct sift_http_req *req, struct evhttp_request *evreq)
{
    struct sift_http *http = req->http;
    size_t limit = (size_t)http->cfg->max_body_bytes;
    struct evbuffer *in = evhttp_request_get_input_buffer(evreq);
    size_t len = evbuffer_get_length(in);

    if (len == 0)
        return SIFT_OK;
    if (len > limit) {
        http->stats.body_too_large++;
        sift_http_reply_error(req, 413, "body_too_large",
                              "request body of %zu bytes exceeds "
                              "http.max_body_bytes (%zu)",
                              len, limit);
        return SIFT_ELIMIT;
    }
    const char *raw = (const char *)evbuffer_pullup(in, -1);
    if (raw == NULL) {
        sift_http_reply_error(req, 503, "out_of_memory",
                              "cannot buffer the request body");
        return SIFT_ENOMEM;
    }
    const char *enc = evhttp_find_header(
        evhttp_request_get_input_headers(evreq), "Content-Encoding");
    if (enc == NULL || enc[0] == '\0' || strcasecmp(enc, "identity") == 0) {
        req->body = raw;
        req->body_len = len;
        return SIFT_OK;
    }
    struct sift_buf out = SIFT_BUF_INIT;
    int rc;
    if (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "x-gzip") == 0 ||
        strcasecmp(enc, "deflate") == 0) {
        rc = inflate_gzip(raw, len, limit, &out);
    } else if (strcasecmp(enc, "zstd") == 0) {
        rc = inflate_zstd(raw, len, limit, &out);
    } else {
        sift_http_reply_error(req, 415, "unsupported_encoding",
                              "Content-Encoding \"%s\" is not supported "
                              "(use gzip, deflate or zstd)",
                              enc);
        return SIFT_EINVAL;
    }
    if (rc < 0) {
        sift_buf_cleanup(&out);
        if (rc == SIFT_ELIMIT)
            http->stats.body_too_large++;
        if (rc == SIFT_ELIMIT)
            sift_http_reply_error(req, 413, "body_too_large",
                                  "decompressed body exceeds "
                                  "http.max_body_bytes (%zu)",
                                  limit);
        else if (rc == SIFT_ENOMEM)
            sift_http_reply_error(req, 503, "out_of_memory",
                                  "cannot decompress the request body");
        else
            sift_http_reply_error(req, 400, "bad_encoding",
                                  "request body is not valid %s data", enc);
        return rc;
    }
    char *data = sift_buf_detach(&out, &req->body_len);
    sift_arena_cleanup_add(req->arena, free_buf_data, data);
    req->body = data;
    return SIFT_OK;
}

/* ---------------------------------------------------------------------- */
/* Routing                                                                 */
/* ---------------------------------------------------------------------- */

static const char *
method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_PATCH: return "PATCH";
    default: return "OTHER";
    }
}

/* Pass 0: exact routes; 1: prefix routes; 2: fallbacks (any path). */
static int
path_matches(const struct route *r, const char *path, int pass)
{
    if (pass == 2)
        return (r->flags & SIFT_ROUTE_FALLBACK) != 0;
    if (r->flags & SIFT_ROUTE_FALLBACK)
        return 0;
    if (pass == 1)
        return (r->flags & SIFT_ROUTE_PREFIX) &&
               strncmp(path, r->path, strlen(r->path)) == 0;
    return !(r->flags & SIFT_ROUTE_PREFIX) && strcmp(path, r->path) == 0;
}

static int
method_matches(const struct route *r, const char *method)
{
    if (r->method == NULL)
        return 1;
    if (strcmp(r->method, method) == 0)
        return 1;
    return strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0;
}

/* The client's address as evhttp saw it at accept, or NULL. */
static const struct sockaddr *
req_sockaddr(const struct sift_http_req *req)
{
    struct evhttp_connection *evcon =
        req->evreq != NULL ? evhttp_request_get_connection(req->evreq) : NULL;
    return evcon != NULL ? evhttp_connection_get_addr(evcon) : NULL;
}

/*
 * The single authorization hook: decides whether req may use route r and
 * sets req->principal.  Without a token table (tests, tools) everyone is
 * admin.  Returns 0 to allow, or the HTTP status (401/403) to refuse with;
 * a 401 carries a WWW-Authenticate challenge.
 */
static int
authorize(struct sift_http *http, struct sift_http_req *req,
          const struct route *r)
{
    req->principal = "-";
    req->role = SIFT_ROLE_ADMIN; /* no auth: loopback clients may do all */
    if (http->auth == NULL)
        return 0;
    enum sift_role need = r->role;
    if (strcmp(r->path, "/metrics") == 0)
        need = sift_auth_metrics_role(http->auth);
    struct sift_auth_result res;
    sift_auth_check(http->auth, req_sockaddr(req),
                    sift_http_req_header(req, "Authorization"), need, &res);
    /* Copied: a reload may free the table before this request replies. */
    req->principal =
        sift_arena_strndup(req->arena, res.principal, strlen(res.principal));
    req->role = res.role;
    http->deny_reason = res.reason;
    if (res.decision == SIFT_AUTH_UNAUTHORIZED) {
        http->stats.unauthorized++;
        sift_http_add_header(req, "WWW-Authenticate", "Bearer realm=\"sift\"");
    } else if (res.decision == SIFT_AUTH_FORBIDDEN) {
        http->stats.forbidden++;
    }
    return res.decision == SIFT_AUTH_ALLOW ? 0 : (int)res.decision;
}

/*
 * The rate limits: writer routes draw from the ingest table, reader routes
 * from the query table (admin and open routes are not limited).  The key
 * is the token name when a token was used, else the client address.
 * Replies 429 with Retry-After and returns non-zero when refused.
 */
static int
rate_limited(struct sift_http *http, struct sift_http_req *req,
             const struct route *r)
{
    struct sift_ratelimit *rl = r->role == SIFT_ROLE_WRITER   ? http->rl_ingest
                                : r->role == SIFT_ROLE_READER ? http->rl_query
                                                              : NULL;
    if (rl == NULL)
        return 0;
    char key[SIFT_RATELIMIT_KEY_MAX + 8];
    size_t klen;
    if (strcmp(req->principal, "-") != 0 &&
        strcmp(req->principal, "loopback") != 0) {
        klen = (size_t)snprintf(key, sizeof(key), "t:%s", req->principal);
        if (klen >= sizeof(key))
            klen = sizeof(key) - 1;
    } else {
        klen = sift_ratelimit_addr_key(req_sockaddr(req), key, sizeof(key));
    }
    uint32_t retry = 1;
    if (sift_ratelimit_take(rl, key, klen, 1.0, sift_clock_mono_ns(), &retry) ==
        SIFT_OK)
        return 0;
    http->stats.rate_limited++;
    char ra[16];
    snprintf(ra, sizeof(ra), "%u", retry);
    sift_http_add_header(req, "Retry-After", ra);
    sift_http_reply_error(req, 429, "rate_limited",
                          "too many %s requests from this %s; retry in %u s "
                          "([ratelimit] %s_rate)",
                          rl == http->rl_ingest ? "ingest" : "query",
                          key[0] == 't' ? "token" : "address", retry,
                          rl == http->rl_ingest ? "ingest" : "query");
    return 1;
}

void
sift_http_set_audit(struct sift_http *http, struct sift_audit *audit)
{
    http->audit = audit;
}

/* ---------------------------------------------------------------------- */
/* Query strings and parameter tables                                      */
/* ---------------------------------------------------------------------- */

/* Percent- and plus-decodes s[0..len) into the arena; NULL on "%00". */
static const char *
url_decode(struct sift_arena *a, const char *s, size_t len)
{
    char *out = sift_arena_alloc(a, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi = -1, lo = -1;
        if (s[i] == '%' && i + 2 < len) {
            hi = sift_hex_digit(s[i + 1]);
            lo = sift_hex_digit(s[i + 2]);
        }
        if (s[i] == '+') {
            out[n++] = ' ';
        } else if (hi >= 0 && lo >= 0) {
            char c = (char)(hi * 16 + lo);
            if (c == '\0')
                return NULL;
            out[n++] = c;
            i += 2;
        } else {
            out[n++] = s[i]; /* a stray '%' stays literal, as in evhttp */
        }
    }
    out[n] = '\0';
    return out;
}

/*
 * Splits the query string into name/value pairs, leniently as browsers
 * and HTTP libraries write them: empty pieces ("a=1&&b=2", a trailing
 * "&") are skipped, a bare name ("?pretty") has the value "".  An empty
 * name ("=x") or a %00 anywhere is an error.
 */
static int
parse_query_string(struct sift_http_req *req, const char *qs, char *why,
                   size_t why_len)
{
    size_t n = 1;
    for (const char *c = qs; *c != '\0'; c++)
        n += *c == '&';
    req->params = sift_arena_alloc(req->arena, n * sizeof(*req->params));
    req->n_params = 0;
    for (const char *p = qs; *p != '\0';) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t nlen = eq != NULL ? (size_t)(eq - p) : len;
        int shown = (int)(len < 40 ? len : 40);
        if (len > 0) {
            struct req_param *rp = &req->params[req->n_params];
            rp->name = url_decode(req->arena, p, nlen);
            rp->value = eq != NULL
                            ? url_decode(req->arena, eq + 1, len - nlen - 1)
                            : "";
            if (rp->name == NULL || rp->value == NULL) {
                snprintf(why, why_len, "%%00 in '%.*s'", shown, p);
                return SIFT_EINVAL;
            }
            if (rp->name[0] == '\0') {
                snprintf(why, why_len, "a parameter without a name ('%.*s')",
                         shown, p);
                return SIFT_EINVAL;
            }
            req->n_params++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return SIFT_OK;
}

/* The known name (or alias) closest to name, as its canonical name. */
SIFT_STATIC const char *
closest_param(const struct sift_http_param *table, const char *name)
{
    const char *known[128] = {0}, *canon[128] = {0};
    size_t n = 0;
    for (const struct sift_http_param *p = table; p->name != NULL && n < 126;
         p++) {
        known[n] = canon[n] = p->name;
        n++;
        if (p->alias != NULL) {
            known[n] = p->alias;
            canon[n++] = p->name;
        }
    }
    const char *best = sift_name_closest(name, known, n);
    for (size_t i = 0; best != NULL && i < n; i++)
        if (known[i] == best)
            return canon[i];
    return NULL;
}

/* "a|b|c" as "a, b, c". */
static void
enum_list(const char *values, const char *quote, struct sift_buf *out)
{
    for (const char *v = values; *v != '\0';) {
        size_t l = strcspn(v, "|");
        sift_buf_appendf(out, "%s%s%.*s%s", v == values ? "" : ", ", quote,
                         (int)l, v, quote);
        v += l;
        if (*v == '|')
            v++;
    }
}

static int
check_value(const struct sift_http_param *p, const char *value, char *why,
            size_t why_len)
{
    switch (p->type) {
    case SIFT_HTTP_P_STRING: return SIFT_OK;
    case SIFT_HTTP_P_BOOL:
        if (value[0] == '\0' || strcmp(value, "true") == 0 ||
            strcmp(value, "false") == 0)
            return SIFT_OK;
        snprintf(why, why_len, "expected true or false");
        return SIFT_EINVAL;
    case SIFT_HTTP_P_UINT: {
        char *end = NULL;
        unsigned long long v = 0;
        errno = 0;
        if (value[0] >= '0' && value[0] <= '9')
            v = strtoull(value, &end, 10);
        if (end == NULL || *end != '\0' || errno != 0 || v < p->min ||
            v > p->max) {
            snprintf(why, why_len, "expected an integer from %llu to %llu",
                     (unsigned long long)p->min, (unsigned long long)p->max);
            return SIFT_EINVAL;
        }
        return SIFT_OK;
    }
    case SIFT_HTTP_P_ENUM: {
        size_t vl = strlen(value);
        for (const char *v = p->values; *v != '\0';) {
            size_t l = strcspn(v, "|");
            if (l == vl && strncmp(v, value, l) == 0)
                return SIFT_OK;
            v += l;
            if (*v == '|')
                v++;
        }
        struct sift_buf list = SIFT_BUF_INIT;
        enum_list(p->values, "", &list);
        snprintf(why, why_len, "expected one of %s", sift_buf_cstr(&list));
        sift_buf_cleanup(&list);
        return SIFT_EINVAL;
    }
    case SIFT_HTTP_P_CHECK:
        if (p->check == NULL)
            return SIFT_OK;
        return p->check(value, why, why_len) == 0 ? SIFT_OK : SIFT_EINVAL;
    }
    return SIFT_OK;
}

int
sift_http_param_check(const struct sift_http_param *table, const char *where,
                      const char *name, const char *value, const char **canon,
                      const char **type, char *reason, size_t reason_len)
{
    static const struct sift_http_param pretty = {
        "pretty", NULL, SIFT_HTTP_P_BOOL, NULL, 0, 0, NULL, NULL};
    const struct sift_http_param *p =
        strcmp(name, "pretty") == 0 ? &pretty : table;
    for (; p->name != NULL; p++)
        if (strcmp(p->name, name) == 0 ||
            (p->alias != NULL && strcmp(p->alias, name) == 0))
            break;
    if (p->name == NULL) {
        struct sift_buf known = SIFT_BUF_INIT;
        for (const struct sift_http_param *k = table; k->name != NULL; k++)
            sift_buf_appendf(&known, "%s, ", k->name);
        sift_buf_appendf(&known, "pretty");
        const char *close = closest_param(table, name);
        char hint[64] = "";
        if (close != NULL)
            snprintf(hint, sizeof(hint), " (did you mean '%s'?)", close);
        *type = "unknown_parameter";
        snprintf(reason, reason_len, "unknown parameter '%.40s'%s; %s takes %s",
                 name, hint, where,
                 table->name != NULL ? sift_buf_cstr(&known)
                                     : "no parameters (only pretty)");
        sift_buf_cleanup(&known);
        return SIFT_EINVAL;
    }
    *canon = p->name;
    char why[200];
    if (check_value(p, value, why, sizeof(why)) < 0) {
        *type = "bad_request";
        snprintf(reason, reason_len, "invalid '%s' (%.60s): %s", p->name, value,
                 why);
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

/*
 * Checks the query string against the route's table (see
 * sift_http_route_params()), renames aliases and reads ?pretty.  Replies
 * 400 and returns < 0 on the first problem.
 */
static int
check_params(struct sift_http_req *req, const char *path,
             const struct sift_http_param *params)
{
    static const struct sift_http_param none[] = {{.name = NULL}};
    char where[96], reason[512];
    snprintf(where, sizeof(where), "%s %s", req->method, path);
    for (size_t i = 0; i < req->n_params; i++) {
        struct req_param *rp = &req->params[i];
        const char *canon = rp->name, *type = "bad_request";
        if ((params != NULL || strcmp(rp->name, "pretty") == 0) &&
            sift_http_param_check(params != NULL ? params : none, where,
                                  rp->name, rp->value, &canon, &type, reason,
                                  sizeof(reason)) < 0) {
            req->http->stats.bad_requests++;
            sift_http_reply_error(req, 400, type, "%s", reason);
            return SIFT_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(req->params[j].name, canon) != 0)
                continue;
            req->http->stats.bad_requests++;
            if (strcmp(rp->name, canon) == 0)
                sift_http_reply_error(req, 400, "bad_request",
                                      "parameter '%s' is given twice; give "
                                      "it once",
                                      canon);
            else
                sift_http_reply_error(req, 400, "bad_request",
                                      "'%s' and '%s' are the same parameter; "
                                      "give one",
                                      canon, rp->name);
            return SIFT_EINVAL;
        }
        rp->name = canon;
        if (strcmp(canon, "pretty") == 0)
            req->pretty = strcmp(rp->value, "false") != 0;
    }
    return SIFT_OK;
}

static int
validate_params(struct sift_http_req *req, const struct route *r)
{
    return check_params(req, r->path, r->params);
}

int
sift_http_req_check_params(struct sift_http_req *req,
                           const struct sift_http_param *table)
{
    return check_params(req, req->path, table);
}

void
sift_http_params_markdown(const struct sift_http_param *table, int with_pretty,
                          struct sift_buf *out)
{
    sift_buf_appendf(out, "| parameter | accepted values | meaning |\n"
                          "|---|---|---|\n");
    for (const struct sift_http_param *p = table; p->name != NULL; p++) {
        sift_buf_appendf(out, "| `%s`", p->name);
        if (p->alias != NULL)
            sift_buf_appendf(out, " (or `%s`)", p->alias);
        sift_buf_appendf(out, " | ");
        if (p->type == SIFT_HTTP_P_ENUM)
            enum_list(p->values, "`", out);
        else if (p->values != NULL)
            sift_buf_appendf(out, "%s", p->values);
        else if (p->type == SIFT_HTTP_P_UINT)
            sift_buf_appendf(out, "%llu to %llu", (unsigned long long)p->min,
                             (unsigned long long)p->max);
        else if (p->type == SIFT_HTTP_P_BOOL)
            sift_buf_appendf(out, "`true`, `false`");
        else
            sift_buf_appendf(out, "text");
        sift_buf_appendf(out, " | %s |\n", p->doc != NULL ? p->doc : "");
    }
    if (with_pretty)
        sift_buf_appendf(out, "| `pretty` | `true`, `false` (a bare "
                              "`?pretty` is true) | indented JSON |\n");
}

void
sift_http_route_params(struct sift_http *http, const char *path,
                       const struct sift_http_param *table)
{
    for (size_t i = 0; i < http->n_routes; i++)
        if (strcmp(http->routes[i].path, path) == 0)
            http->routes[i].params = table;
}

int
sift_http_accepts_html(const char *accept)
{
    if (accept == NULL)
        return 0;
    for (const char *p = accept; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ",;");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == 9 && strncasecmp(p, "text/html", 9) == 0) ||
            (n == 21 && strncasecmp(p, "application/xhtml+xml", 21) == 0))
            return 1;
        p += strcspn(p, ",");
        if (*p == ',')
            p++;
    }
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Pretty JSON (?pretty)                                                   */
/* ---------------------------------------------------------------------- */

static void
newline_indent(struct sift_buf *out, int depth)
{
    sift_buf_putc(out, '\n');
    for (int i = 0; i < depth; i++)
        sift_buf_append(out, "  ", 2);
}

/*
 * Re-indents a JSON text (two spaces, "key" : value, as Elasticsearch's
 * ?pretty).  Strings are copied as they are; whitespace outside strings
 * is replaced.  Input that is not JSON comes out re-spaced, never lost.
 */
SIFT_STATIC void
json_pretty(const char *in, size_t len, struct sift_buf *out)
{
    int depth = 0, in_str = 0, esc = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (in_str) {
            sift_buf_putc(out, c);
            if (esc)
                esc = 0;
            else if (c == '\\')
                esc = 1;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            sift_buf_putc(out, c);
            break;
        case '{':
        case '[': {
            size_t j = i + 1;
            while (j < len && (in[j] == ' ' || in[j] == '\n' || in[j] == '\t' ||
                               in[j] == '\r'))
                j++;
            sift_buf_putc(out, c);
            if (j < len && in[j] == (c == '{' ? '}' : ']')) {
                sift_buf_putc(out, in[j]);
                i = j;
                break;
            }
            newline_indent(out, ++depth);
            break;
        }
        case '}':
        case ']':
            newline_indent(out, depth > 0 ? --depth : 0);
            sift_buf_putc(out, c);
            break;
        case ',':
            sift_buf_putc(out, c);
            newline_indent(out, depth);
            break;
        case ':': sift_buf_append(out, " : ", 3); break;
        case ' ':
        case '\t':
        case '\r': break;
        case '\n':
            if (depth == 0)
                sift_buf_putc(out, '\n');
            break;
        default: sift_buf_putc(out, c); break;
        }
    }
}

static int
content_type_ok(const char *ct)
{
    static const char *const ok[] = {"application/json", "application/x-ndjson",
                                     "text/plain",
                                     "application/x-www-form-urlencoded"};
    if (ct == NULL)
        return 1;
    size_t n = strcspn(ct, ";");
    while (n > 0 && ct[n - 1] == ' ')
        n--;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (strlen(ok[i]) == n && strncasecmp(ct, ok[i], n) == 0)
            return 1;
    }
    return n > 5 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static void
set_peer(struct sift_http_req *req, struct evhttp_connection *evcon)
{
    char *addr = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evcon, &addr, &port);
    if (addr != NULL && strchr(addr, ':') != NULL)
        snprintf(req->peer, sizeof(req->peer), "[%s]:%u", addr, port);
    else
        snprintf(req->peer, sizeof(req->peer), "%s:%u",
                 addr != NULL ? addr : "?", port);
}

static int
count_headers(struct evkeyvalq *h)
{
    int n = 0;
    struct evkeyval *kv;
    for (kv = TAILQ_FIRST(h); kv != NULL; kv = TAILQ_NEXT(kv, next))
        n++;
    return n;
}

/*
 * Size of the request head as a client normally writes it: request line,
 * "Name: value" lines and the blank line, each with its CRLF.  evhttp's
 * own cap (twice http.max_header_bytes plus slack, see apply_evhttp_limits)
 * only stops absurd heads early (a JSON 400 or 413, see
 * rewrite_libevent_error()).
 */
static size_t
head_bytes(struct evhttp_request *evreq, const char *method)
{
    const char *uri = evhttp_request_get_uri(evreq);
    size_t n =
        strlen(method) + 1 + (uri != NULL ? strlen(uri) : 0) + 1 + 8 + 2 + 2;
    struct evkeyval *kv;
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(evreq), next)
    n += strlen(kv->key) + 2 + strlen(kv->value) + 2;
    return n;
}

/* The route for req: exact routes first, then prefixes, then the
 * method; a fallback (any path) only for a path no route knows, and only
 * by method.  NULL when none; *path_known tells 404 from 405, and allow
 * (size n) lists the methods the path has then. */
static const struct route *
find_route(const struct sift_http *http, const struct sift_http_req *req,
           char *allow, size_t n, int *path_known)
{
    for (int pass = 0; pass < 3; pass++) {
        for (size_t i = 0; i < http->n_routes; i++) {
            const struct route *r = &http->routes[i];
            if (!path_matches(r, req->path, pass))
                continue;
            if (pass == 2) {
                if (method_matches(r, req->method))
                    return r;
                continue;
            }
            *path_known = 1;
            if (method_matches(r, req->method))
                return r;
            if (r->method != NULL && strstr(allow, r->method) == NULL) {
                size_t used = strlen(allow);
                snprintf(allow + used, n - used, "%s%s", used > 0 ? ", " : "",
                         r->method);
            }
        }
        if (*path_known)
            return NULL;
    }
    return NULL;
}

static void
on_request(struct evhttp_request *evreq, void *arg)
{
    struct sift_http *http = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(evreq);
    const struct sift_config *cfg = http->cfg;

    if (http->draining) {
        raw_error(evreq, 503, "shutting_down", "siftd is shutting down");
        return;
    }
    http->stats.requests++;
    struct http_conn *conn =
        conn_find(http, evhttp_connection_get_bufferevent(evcon));
    if (conn == NULL || conn->over_limit || conn->cut) {
        raw_error(evreq, 503, "too_many_connections",
                  "too many open connections (http.max_connections)");
        return;
    }
    if (conn->evcon == NULL) {
        conn->evcon = evcon;
        evhttp_connection_set_closecb(evcon, on_conn_close, conn);
    }
    conn->partial = 0;
    conn_set_nodelay(conn);

    struct sift_http_req *req = sift_xcalloc(1, sizeof(*req));
    req->http = http;
    req->evreq = evreq;
    req->conn = conn;
    /* 16 KiB chunks: an ingest request parses each event's field array
     * (~1 KiB) into this arena, and 4 KiB chunks made that one malloc per
     * event (allocations over a quarter chunk get their own); still far
     * below malloc's mmap threshold, so chunks are reused, not faulted. */
    req->arena = sift_arena_new(16384);
    req->method = method_name(evhttp_request_get_command(evreq));
    req->t0_mono = sift_clock_mono_ns();
    req->principal = "-";
    set_peer(req, evcon);
    conn->req = req;
    req->next = http->live;
    if (http->live != NULL)
        http->live->prev = req;
    http->live = req;
    http->n_live++;

    struct evkeyvalq *in_headers = evhttp_request_get_input_headers(evreq);
    if (count_headers(in_headers) > cfg->max_headers) {
        http->stats.too_many_headers++;
        sift_http_reply_error(req, 431, "too_many_headers",
                              "more than %lld request headers "
                              "(http.max_headers)",
                              (long long)cfg->max_headers);
        return;
    }
    size_t head = head_bytes(evreq, req->method);
    if ((int64_t)head > cfg->max_header_bytes) {
        http->stats.headers_too_large++;
        sift_http_reply_error(req, 431, "headers_too_large",
                              "request line and headers are %zu bytes, more "
                              "than http.max_header_bytes (%lld)",
                              head, (long long)cfg->max_header_bytes);
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(evreq);
    const char *raw_path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    if (raw_path == NULL || raw_path[0] == '\0')
        raw_path = "/";
    size_t plen = 0;
    char *dec = evhttp_uridecode(raw_path, 0, &plen);
    if (dec == NULL || strlen(dec) != plen) {
        free(dec);
        http->stats.bad_requests++;
        sift_http_reply_error(req, 400, "bad_request",
                              "the request path is not valid");
        return;
    }
    req->path = sift_arena_strndup(req->arena, dec, plen);
    free(dec);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
    char why[160];
    if (query != NULL && parse_query_string(req, query, why, sizeof(why)) < 0) {
        http->stats.bad_requests++;
        sift_http_reply_error(req, 400, "bad_request",
                              "the query string is not valid: %s", why);
        return;
    }

    int path_known = 0;
    char allow[64] = "";
    const struct route *match =
        find_route(http, req, allow, sizeof(allow), &path_known);
    if (match == NULL) {
        if (path_known) {
            sift_http_add_header(req, "Allow", allow);
            sift_http_reply_error(req, 405, "method_not_allowed",
                                  "%s is not allowed on %s (allowed: %s)",
                                  req->method, req->path, allow);
        } else {
            sift_http_reply_error(req, 404, "not_found", "no such endpoint: %s",
                                  req->path);
        }
        return;
    }
    req->route = match;
    req->audit =
        (match->flags & SIFT_ROUTE_AUDIT) ||
        (match->role == SIFT_ROLE_ADMIN && strcmp(req->method, "GET") != 0 &&
         strcmp(req->method, "HEAD") != 0);
    int deny = authorize(http, req, match);
    if (deny != 0) {
        sift_http_reply_error(req, deny,
                              deny == 401 ? "unauthorized" : "forbidden", "%s",
                              http->deny_reason);
        return;
    }
    if (rate_limited(http, req, match))
        return;
    if (validate_params(req, match) < 0)
        return;
    if (!(match->flags & SIFT_ROUTE_RAW_BODY) &&
        evbuffer_get_length(evhttp_request_get_input_buffer(evreq)) > 0 &&
        !content_type_ok(evhttp_find_header(in_headers, "Content-Type"))) {
        sift_http_reply_error(req, 415, "unsupported_media_type",
                              "send the body as application/json");
        return;
    }
    if (load_body(req, evreq) < 0)
        return;
    SIFT_DEBUG("http: %s %s from %s", req->method, req->path, req->peer);
    match->handler(req, match->arg);
}

/* ---------------------------------------------------------------------- */
/* Built-in endpoints                                                      */
/* ---------------------------------------------------------------------- */

static void
on_healthz(struct sift_http_req *req, void *arg)
{
    (void)arg;
    static const char body[] = "{\"status\":\"ok\"}\n";
    sift_http_reply(req, 200, "application/json", body, sizeof(body) - 1);
}

static void
on_readyz(struct sift_http_req *req, void *arg)
{
    struct sift_http *http = arg;
    struct sift_buf b = SIFT_BUF_INIT;
    int ready = http->ready && !http->draining;

    /* Degraded (ready 2) still answers 200: queries are served. */
    sift_buf_appendf(&b, "{\"status\":\"%s\"",
                     ready && http->ready == 2 ? "degraded"
                     : ready                   ? "ready"
                     : http->draining          ? "stopping"
                                               : "starting");
    if (http->ready_details != NULL)
        sift_buf_appendf(&b, ",\"details\":%s", http->ready_details);
    sift_buf_append(&b, "}\n", 2);
    sift_http_reply_json(req, ready ? 200 : 503, &b);
    sift_buf_cleanup(&b);
}

/*
 * GET /api/v1/whoami: what the request's credentials are worth, always
 * 200 (the web UI asks before it shows a login prompt or an admin action;
 * a 401 would also be a console error in the browser).  The check is the
 * one authorize() makes, for the reader role.
 */
static void
on_whoami(struct sift_http_req *req, void *arg)
{
    struct sift_http *http = arg;
    struct sift_auth_result res = {.decision = SIFT_AUTH_ALLOW,
                                   .role = SIFT_ROLE_ADMIN,
                                   .principal = "-",
                                   .reason = "ok"};
    int tokens = 0;
    if (http->auth != NULL) {
        sift_auth_check(http->auth, req_sockaddr(req),
                        sift_http_req_header(req, "Authorization"),
                        SIFT_ROLE_READER, &res);
        tokens = sift_auth_n_tokens(http->auth) > 0;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"authenticated\":%s,\"role\":",
                     res.role != SIFT_ROLE_NONE ? "true" : "false");
    if (res.role != SIFT_ROLE_NONE)
        sift_buf_appendf(&b, "\"%s\"", sift_auth_role_name(res.role));
    else
        sift_buf_append(&b, "null", 4);
    sift_buf_append(&b, ",\"principal\":", 13);
    sift_buf_put_json_str(&b, res.principal, strlen(res.principal));
    sift_buf_appendf(&b, ",\"tokens_configured\":%s",
                     tokens ? "true" : "false");
    if (res.decision != SIFT_AUTH_ALLOW) {
        sift_buf_append(&b, ",\"reason\":", 10);
        sift_buf_put_json_str(&b, res.reason, strlen(res.reason));
    }
    sift_buf_append(&b, "}\n", 2);
    sift_http_add_header(req, "Cache-Control", "no-store");
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* ---------------------------------------------------------------------- */
/* Server                                                                  */
/* ---------------------------------------------------------------------- */

static void
apply_evhttp_limits(struct sift_http *http, struct evhttp *eh)
{
    const struct sift_config *cfg = http->cfg;
    int64_t slack = cfg->max_body_bytes / 8;
    if (slack < 65536)
        slack = 65536;
    evhttp_set_max_body_size(eh, (ev_ssize_t)(cfg->max_body_bytes + slack));
    /* evhttp counts without line ends; our exact JSON 431 is on_request's. */
    evhttp_set_max_headers_size(eh,
                                (ev_ssize_t)(cfg->max_header_bytes * 2 + 4096));
    struct timeval tv = {(time_t)(cfg->idle_timeout_ms / 1000),
                         (suseconds_t)(cfg->idle_timeout_ms % 1000 * 1000)};
    evhttp_set_timeout_tv(eh, &tv);
}

/* (Re)builds one rate-limit table when its options changed. */
static void
apply_ratelimit(struct sift_ratelimit **rl, struct sift_ratelimit_opts *cur,
                int64_t rate, int64_t burst, int64_t max_keys)
{
    struct sift_ratelimit_opts o = {(double)rate, (double)burst,
                                    (size_t)max_keys};
    if (*rl != NULL && o.rate_per_sec == cur->rate_per_sec &&
        o.burst == cur->burst && o.max_keys == cur->max_keys)
        return;
    sift_ratelimit_free(*rl);
    *rl = NULL;
    *cur = o;
    if (rate > 0 && sift_ratelimit_new(&o, rl) < 0)
        *rl = NULL;
}

void
sift_http_apply_config(struct sift_http *http)
{
    const struct sift_config *cfg = http->cfg;
    apply_evhttp_limits(http, http->eh);
    if (http->eh_tls != NULL)
        apply_evhttp_limits(http, http->eh_tls);
    apply_ratelimit(&http->rl_ingest, &http->rl_ingest_opts,
                    cfg->rl_ingest_rate, cfg->rl_ingest_burst,
                    cfg->rl_max_keys);
    apply_ratelimit(&http->rl_query, &http->rl_query_opts, cfg->rl_query_rate,
                    cfg->rl_query_burst, cfg->rl_max_keys);
}

void
sift_http_get_stats(const struct sift_http *http, struct sift_http_stats *out)
{
    *out = http->stats;
    out->connections = http->n_conns;
}

void
sift_http_metrics_collect(struct sift_buf *out, void *arg)
{
    const struct sift_http *http = arg;
    const struct sift_http_stats *st = &http->stats;
    static const char *const reasons[] = {
        "unauthorized",    "forbidden",        "rate_limited",
        "body_too_large",  "too_many_headers", "too_many_connections",
        "request_timeout", "bad_request",      "headers_too_large"};
    const uint64_t values[] = {
        st->unauthorized,     st->forbidden,        st->rate_limited,
        st->body_too_large,   st->too_many_headers, st->too_many_connections,
        st->request_timeouts, st->bad_requests,     st->headers_too_large};
    sift_metrics_family(out, "sift_http_requests_total", SIFT_METRIC_COUNTER,
                        "HTTP requests received.");
    sift_metrics_sample(out, "sift_http_requests_total", NULL,
                        (double)st->requests);
    sift_metrics_family(out, "sift_http_refused_total", SIFT_METRIC_COUNTER,
                        "Requests or connections refused, by reason.");
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        const char *labels[] = {"reason", reasons[i], NULL};
        sift_metrics_sample(out, "sift_http_refused_total", labels,
                            (double)values[i]);
    }
    sift_metrics_family(out, "sift_http_connections", SIFT_METRIC_GAUGE,
                        "Open client connections.");
    sift_metrics_sample(out, "sift_http_connections", NULL,
                        (double)http->n_conns);
}

void
sift_http_set_auth(struct sift_http *http, const struct sift_auth *auth)
{
    http->auth = auth;
}

int
sift_http_new(struct sift_loop *loop, const struct sift_config *cfg,
              struct sift_http **out)
{
    struct sift_http *http = sift_xcalloc(1, sizeof(*http));
    http->loop = loop;
    http->cfg = cfg;
    http->access_fd = -1;
    http->eh = evhttp_new(sift_loop_base(loop));
    if (http->eh == NULL) {
        SIFT_ERROR("http: evhttp_new failed");
        sift_free(http);
        return SIFT_ENOMEM;
    }
    evhttp_set_allowed_methods(
        http->eh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                      EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                      EVHTTP_REQ_PATCH);
    evhttp_set_default_content_type(http->eh, "application/json");
    evhttp_set_gencb(http->eh, on_request, http);
    evhttp_set_bevcb(http->eh, on_new_plain, http);
    sift_http_apply_config(http);
    http->sweep = sift_loop_timer_new(loop, 1000, on_sweep, http);
    sift_http_route(http, "GET", "/healthz", 0, SIFT_ROLE_NONE, on_healthz,
                    http);
    sift_http_route(http, "GET", "/readyz", 0, SIFT_ROLE_NONE, on_readyz, http);
    sift_http_route(http, "GET", "/api/v1/whoami", 0, SIFT_ROLE_NONE, on_whoami,
                    http);
    *out = http;
    return SIFT_OK;
}

void
sift_http_route(struct sift_http *http, const char *method, const char *path,
                unsigned flags, enum sift_role role,
                sift_http_handler_cb handler, void *arg)
{
    if (http->n_routes == http->cap_routes) {
        http->cap_routes = http->cap_routes ? http->cap_routes * 2 : 16;
        http->routes = sift_xrealloc(http->routes,
                                     http->cap_routes * sizeof(struct route));
    }
    struct route *r = &http->routes[http->n_routes++];
    r->method = method;
    r->path = path;
    r->flags = flags;
    r->role = role;
    r->handler = handler;
    r->arg = arg;
    r->params = NULL;
}

/* Splits "host:port" / "[v6]:port" into host and port strings. */
static int
split_addr(const char *addr, char *host, size_t host_len, char *port,
           size_t port_len)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL)
        return SIFT_EINVAL;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= host_len || strlen(colon + 1) >= port_len || colon[1] == '\0')
        return SIFT_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, colon + 1, strlen(colon + 1) + 1);
    return SIFT_OK;
}

static int
listen_on(struct evhttp *eh, struct evhttp_bound_socket **listeners,
          size_t *n_listeners, const char *addr, char *bound, size_t bound_len)
{
    char host[256], port[16];
    struct addrinfo hints, *ai = NULL;
    int fd = -1, rc;

    if (*n_listeners == MAX_LISTENERS)
        return SIFT_ELIMIT;
    if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0) {
        SIFT_ERROR("cannot listen on %s: expected host:port", addr);
        return SIFT_EINVAL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints, &ai);
    if (gai != 0) {
        SIFT_ERROR("cannot listen on %s: %s", addr, gai_strerror(gai));
        return SIFT_EINVAL;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto fail;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Inherited by accepted sockets on Linux; conn_set_nodelay() checks. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 511) != 0) {
        rc = -errno;
        goto fail;
    }
    struct evhttp_bound_socket *bs = evhttp_accept_socket_with_handle(eh, fd);
    if (bs == NULL) {
        rc = SIFT_ENOMEM;
        goto fail;
    }
    fd = -1; /* owned by evhttp now */
    listeners[(*n_listeners)++] = bs;
    freeaddrinfo(ai);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned bport = 0;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
                    &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            bport = ntohs(s6->sin6_port);
        } else {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            bport = ntohs(s4->sin_port);
        }
    }
    if (bound != NULL && bound_len > 0)
        snprintf(bound, bound_len,
                 ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, bport);
    return SIFT_OK;
fail:
    SIFT_ERROR("cannot listen on %s: %s", addr, sift_strerror(rc));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}

int
sift_http_listen(struct sift_http *http, const char *addr, char *bound,
                 size_t bound_len)
{
    return listen_on(http->eh, http->listeners, &http->n_listeners, addr, bound,
                     bound_len);
}

int
sift_http_listen_tls(struct sift_http *http, const char *addr,
                     const char *cert_file, const char *key_file, char *bound,
                     size_t bound_len)
{
    if (http->ssl_ctx == NULL) {
        int rc = sift_tls_server_ctx_new(cert_file, key_file, &http->ssl_ctx);
        if (rc < 0)
            return rc;
    }
    if (http->eh_tls == NULL) {
        http->eh_tls = evhttp_new(sift_loop_base(http->loop));
        if (http->eh_tls == NULL)
            return SIFT_ENOMEM;
        evhttp_set_allowed_methods(
            http->eh_tls, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                              EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
        evhttp_set_default_content_type(http->eh_tls, "application/json");
        evhttp_set_gencb(http->eh_tls, on_request, http);
        evhttp_set_bevcb(http->eh_tls, on_new_tls, http);
        apply_evhttp_limits(http, http->eh_tls);
    }
    return listen_on(http->eh_tls, http->tls_listeners, &http->n_tls_listeners,
                     addr, bound, bound_len);
}

int
sift_http_tls_reload(struct sift_http *http, const char *cert_file,
                     const char *key_file)
{
    if (http->eh_tls == NULL)
        return SIFT_EINVAL;
    SSL_CTX *ctx = NULL;
    int rc = sift_tls_server_ctx_new(cert_file, key_file, &ctx);
    if (rc < 0) {
        SIFT_ERROR("tls: keeping the previous certificate and key");
        return rc;
    }
    /* Open connections' SSL objects hold their own reference. */
    SSL_CTX_free(http->ssl_ctx);
    http->ssl_ctx = ctx;
    SIFT_INFO("tls: certificate and key reloaded from %s, %s", cert_file,
              key_file);
    return SIFT_OK;
}

void
sift_http_stop_accepting(struct sift_http *http)
{
    for (size_t i = 0; i < http->n_listeners; i++)
        evhttp_del_accept_socket(http->eh, http->listeners[i]);
    http->n_listeners = 0;
    for (size_t i = 0; i < http->n_tls_listeners; i++)
        evhttp_del_accept_socket(http->eh_tls, http->tls_listeners[i]);
    http->n_tls_listeners = 0;
    http->draining = 1;
}

size_t
sift_http_pending(const struct sift_http *http)
{
    return http->n_live;
}

int
sift_http_get_ready(const struct sift_http *http)
{
    return http->draining ? 0 : http->ready;
}

void
sift_http_set_ready(struct sift_http *http, int ready, const char *details_json)
{
    http->ready = ready;
    sift_free(http->ready_details);
    http->ready_details =
        details_json != NULL ? sift_xstrdup(details_json) : NULL;
}

void
sift_http_free(struct sift_http *http)
{
    if (http == NULL)
        return;
    if (http->n_live > 0)
        SIFT_WARN("http: %zu requests still unanswered at shutdown",
                  http->n_live);
    sift_loop_timer_free(http->sweep);
    /* Frees every connection (on_conn_close forgets attached requests). */
    evhttp_free(http->eh);
    if (http->eh_tls != NULL)
        evhttp_free(http->eh_tls);
    while (http->live != NULL) {
        struct sift_http_req *r = http->live;
        if (r->evreq != NULL) {
            /* Detached earlier; libevent no longer knows it. */
            evhttp_request_free(r->evreq);
            r->evreq = NULL;
        }
        req_finish(r);
    }
    /* evhttp has freed its side; drop our bufferevent references. */
    for (size_t b = 0; b < CONN_BUCKETS; b++) {
        while (http->conns[b] != NULL)
            conn_release(http, http->conns[b], &http->conns[b]);
    }
    sift_ratelimit_free(http->rl_ingest);
    sift_ratelimit_free(http->rl_query);
    SSL_CTX_free(http->ssl_ctx);
    sift_free(http->ready_details);
    sift_free(http->routes);
    if (http->access_fd >= 0)
        close(http->access_fd);
    sift_free(http->access_path);
    sift_free(http);
}
