/*
 * http.h - the HTTP server: routing, roles, limits, JSON replies, streams.
 *
 * Built on libevent's evhttp, loop thread only.  Modules register routes
 * at start-up; the router matches method and path (exact, or prefix with
 * SIFT_ROUTE_PREFIX), enforces the role of the route with the token
 * table of sift_http_set_auth() (none installed: everyone is admin),
 * applies the per-token/per-address rate limits of [ratelimit] (writer
 * routes count as ingest, reader routes as queries), applies
 * body limits, inflates gzip/zstd bodies (Content-Encoding), and calls the
 * handler with a struct sift_http_req.  Unknown paths get a 404 JSON
 * error, known paths with the wrong method a 405.
 *
 * Every error body is {"error":{"type":"…","reason":"…"},"status":N}
 * (sift_http_error_json()), also for the requests evhttp answers by
 * itself (malformed HTTP, over its size caps): see http.c.  Every JSON
 * reply ends with a newline.
 *
 * A handler replies exactly once, now or later (async: e.g. after the WAL
 * fsync or when a worker finishes), always on the loop thread.  If the
 * client goes away first, the request stays valid until that reply, which
 * is then discarded.  sift_http_req_is_closed() tells a long job to stop.
 */
#ifndef SIFT_HTTP_H
#define SIFT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"
#include "sift/role.h" /* enum sift_role */

struct sift_arena;
struct sift_config;
struct sift_loop;
struct sift_http;
struct sift_http_req;

#define SIFT_ROUTE_PREFIX 0x1u   /* path is a prefix ("/api/v1/alerts/") */
#define SIFT_ROUTE_RAW_BODY 0x2u /* no JSON content-type check (ingest) */
/* Every call is written to the audit log (admin routes with a method other
 * than GET/HEAD are audited without this flag). */
#define SIFT_ROUTE_AUDIT 0x4u
/* Any path no other route knows (path only names the route, e.g.
 * "/<index>"; it is never matched), by method: the
 * Elasticsearch index paths (/<index>/_bulk); the handler answers the
 * usual 404 for paths it does not serve. */
#define SIFT_ROUTE_FALLBACK 0x8u

typedef void (*sift_http_handler_cb)(struct sift_http_req *req, void *arg);
/** Called once when a streamed response's client disconnects. */
typedef void (*sift_http_close_cb)(struct sift_http_req *req, void *arg);

/**
 * Creates the server (not yet listening) with GET /healthz, GET /readyz
 * and GET /api/v1/whoami (open; answers 200 with what the request's
 * credentials are worth: {"authenticated":bool,"role":"reader"|…|null,
 * "principal":"…","tokens_configured":bool[,"reason":"…"]}) already
 * routed.  Borrows cfg for its lifetime and reads the http.*
 * limits from it on every request.
 */
int sift_http_new(struct sift_loop *loop, const struct sift_config *cfg,
                  struct sift_http **out);
/**
 * Binds addr ("127.0.0.1:7700", "[::1]:0", port 0 = any free port) and
 * writes the address actually bound into bound[0..bound_len).  Returns
 * SIFT_OK or -errno (EADDRINUSE, EACCES...) after logging the cause.
 */
int sift_http_listen(struct sift_http *http, const char *addr, char *bound,
                     size_t bound_len);
/**
 * Stops accepting connections (closes the listeners) and answers any new
 * request on open keep-alive connections with 503 "shutting_down" and
 * Connection: close.  Requests already in flight still get their reply.
 * /readyz reports "stopping".  Loop thread.
 */
void sift_http_stop_accepting(struct sift_http *http);

/** Requests received and not yet answered (for the shutdown drain). */
size_t sift_http_pending(const struct sift_http *http);

/**
 * Sets what GET /readyz answers: 503 {"status":"starting"} until ready is
 * non-zero, then 200 {"status":"ready"}, or with ready 2 200
 * {"status":"degraded"} (queries are served, something is wrong: the
 * details say what).  details_json, when not NULL, is a JSON value
 * (copied) added as "details" to the body, e.g. {"quarantined":[...]}.
 * Loop thread.
 */
void sift_http_set_ready(struct sift_http *http, int ready,
                         const char *details_json);

/** What sift_http_set_ready() last set (0 while stopping).  Loop thread. */
int sift_http_get_ready(const struct sift_http *http);

/**
 * Re-reads the http.* limits from the config (after a SIGHUP reload):
 * body and header sizes and the idle timeout.  Loop thread.
 */
void sift_http_apply_config(struct sift_http *http);

/**
 * Installs the token table used by the authorization hook (see auth.h);
 * NULL (the default) lets every request through as admin.  Borrows auth
 * until it is replaced or the server is freed.  Requests copy the
 * principal name, so a replaced table may be freed right away (reload).
 * Loop thread.
 */
struct sift_auth;
void sift_http_set_auth(struct sift_http *http, const struct sift_auth *auth);

/**
 * Installs the audit log that admin actions are written to (see audit.h
 * and SIFT_ROUTE_AUDIT).  NULL (the default) writes the records to the
 * log at INFO.  Borrowed until replaced or the server is freed.  Loop
 * thread.
 */
struct sift_audit;
void sift_http_set_audit(struct sift_http *http, struct sift_audit *audit);

/**
 * Starts an HTTPS listener on addr (as sift_http_listen()) with the PEM
 * certificate chain cert_file and private key key_file.  Same routes,
 * limits and roles as plain HTTP.  Returns SIFT_OK, SIFT_ECONFIG (cannot
 * load the certificate or key; logged) or -errno.  Loop thread.
 */
int sift_http_listen_tls(struct sift_http *http, const char *addr,
                         const char *cert_file, const char *key_file,
                         char *bound, size_t bound_len);
/**
 * Re-reads the certificate and key (SIGHUP).  New connections use the new
 * pair; open ones keep theirs.  On failure the old pair stays in use and
 * the cause is logged.  Returns SIFT_OK, SIFT_ECONFIG, or SIFT_EINVAL when
 * no HTTPS listener runs.  Loop thread.
 */
int sift_http_tls_reload(struct sift_http *http, const char *cert_file,
                         const char *key_file);

/** Counters of refused requests, by cause (exported on /metrics). */
struct sift_http_stats {
    uint64_t requests;
    uint64_t unauthorized;         /* 401 */
    uint64_t forbidden;            /* 403 */
    uint64_t rate_limited;         /* 429 */
    uint64_t body_too_large;       /* 413 */
    uint64_t too_many_headers;     /* 431 */
    uint64_t headers_too_large;    /* 431 */
    uint64_t too_many_connections; /* 503 / refused */
    uint64_t request_timeouts;     /* slow or idle, disconnected */
    uint64_t bad_requests;         /* 400 path/query string */
    uint64_t connections;          /* open now (gauge) */
};
/** Copies the counters.  Loop thread. */
void sift_http_get_stats(const struct sift_http *http,
                         struct sift_http_stats *out);
/**
 * Metrics collector (sift_metrics_collect_cb; arg is the server):
 * sift_http_refused_total{reason=...}, sift_http_connections,
 * sift_ratelimit_refused_total{limit=...}.
 */
void sift_http_metrics_collect(struct sift_buf *out, void *arg);

/**
 * Closes listeners and connections, frees.  Loop thread.  Every request
 * should have been answered (see sift_http_pending()); any left are
 * dropped with a warning and their sift_http_req pointers become invalid,
 * so stop the modules that hold requests first.
 */
void sift_http_free(struct sift_http *http);

/**
 * Registers a route.  method is "GET", "POST", "DELETE" or NULL for any.
 * path is borrowed (use string literals).  Routes are matched in the order
 * registered; exact routes before prefix routes of the same path.
 */
void sift_http_route(struct sift_http *http, const char *method,
                     const char *path, unsigned flags, enum sift_role role,
                     sift_http_handler_cb handler, void *arg);

/* ---- parameter tables ---- */

enum sift_http_ptype {
    SIFT_HTTP_P_STRING, /* any text */
    SIFT_HTTP_P_UINT,   /* a decimal integer in [min, max] */
    SIFT_HTTP_P_BOOL,   /* true or false; a bare ?name means true */
    SIFT_HTTP_P_ENUM,   /* one of values, written "a|b|c" */
    SIFT_HTTP_P_CHECK,  /* check() decides (NULL: any text) */
};

/*
 * One parameter of an endpoint.  A table is an array ended by an entry
 * whose name is NULL.  It drives validation (unknown names, bad values,
 * aliases) and the parameter tables of the user docs.
 */
struct sift_http_param {
    const char *name;  /* canonical name */
    const char *alias; /* another accepted spelling, or NULL */
    enum sift_http_ptype type;
    const char *values; /* ENUM: "a|b|c"; others: how a value is written */
    uint64_t min, max;  /* UINT */
    /* CHECK: returns 0 when value is fine, else writes why it is not. */
    int (*check)(const char *value, char *why, size_t why_len);
    const char *doc; /* one sentence for the docs */
};

/**
 * Attaches a parameter table to every route registered for path (exact
 * match), so requests to it are validated before the handler runs: a
 * query-string parameter the table does not name is a 400
 * "unknown_parameter" naming it and the closest known name; a bad value
 * is a 400 "bad_request" naming the parameter and the accepted values; a
 * parameter given twice (or under both spellings) is a 400.  An alias is
 * renamed, so the handler reads the canonical name.  "pretty" is accepted
 * everywhere (indented JSON).  Routes without a table are not checked.
 * table is borrowed (static).  Loop thread, at start-up.
 */
void sift_http_route_params(struct sift_http *http, const char *path,
                            const struct sift_http_param *table);

/**
 * Checks the query string of req against table as the router does for a
 * route with a table (for handlers whose paths vary, e.g. the
 * Elasticsearch index paths): on the first problem it replies 400 and
 * returns SIFT_EINVAL (the request is then finished), else SIFT_OK with
 * aliases renamed.  Loop thread.
 */
int sift_http_req_check_params(struct sift_http_req *req,
                               const struct sift_http_param *table);

/**
 * Validates one parameter name=value against table (what the router does
 * for query strings; handlers call it for the keys of JSON bodies).  where
 * names the endpoint in messages ("POST /api/v1/search").  Returns SIFT_OK
 * with *canon set to the canonical name, or SIFT_EINVAL with *type
 * ("unknown_parameter" or "bad_request") and reason filled.  Pure.
 */
int sift_http_param_check(const struct sift_http_param *table,
                          const char *where, const char *name,
                          const char *value, const char **canon,
                          const char **type, char *reason, size_t reason_len);

/**
 * Appends table as a Markdown table (parameter, accepted values, meaning)
 * for the user docs; with_pretty lists "pretty" last.  Pure.
 */
void sift_http_params_markdown(const struct sift_http_param *table,
                               int with_pretty, struct sift_buf *out);

/* ---- request accessors (borrowed, valid until the reply) ---- */
const char *sift_http_req_method(const struct sift_http_req *req);
/** The path without the query string, percent-decoded. */
const char *sift_http_req_path(const struct sift_http_req *req);
/**
 * A query-string parameter (percent- and plus-decoded; a bare "?name"
 * gives "") or NULL.  With a parameter table, aliases are already renamed
 * to the canonical name.
 */
const char *sift_http_req_param(const struct sift_http_req *req,
                                const char *name);
/** How many query-string parameters the request has (after validation). */
size_t sift_http_req_param_count(const struct sift_http_req *req);
/**
 * The i-th query-string parameter in request order: returns its
 * canonical name (aliases renamed) and sets *value (decoded), or returns
 * NULL past the end.  Both live as long as the request.
 */
const char *sift_http_req_param_at(const struct sift_http_req *req, size_t i,
                                   const char **value);
/** A request header or NULL. */
const char *sift_http_req_header(const struct sift_http_req *req,
                                 const char *name);
/** The (inflated) body; len 0 when there is none.  Not NUL-terminated. */
const char *sift_http_req_body(const struct sift_http_req *req, size_t *len);
/** Memory freed together with the request. */
struct sift_arena *sift_http_req_arena(struct sift_http_req *req);
/**
 * Sets the "details" of this request's audit record (admin actions; see
 * audit.h) to a copy of details (borrowed; NULL restores the default, the
 * URI query string).  For actions whose parameters travel in the body,
 * e.g. delete-by-query's query and time range.  Loop thread.
 */
void sift_http_req_set_audit_details(struct sift_http_req *req,
                                     const char *details);
/** "ip:port" of the client. */
const char *sift_http_req_peer(const struct sift_http_req *req);
/** The name of the token that authenticated the request, or "-". */
const char *sift_http_req_principal(const struct sift_http_req *req);
/**
 * The role the request's credentials carry (at least the route's);
 * SIFT_ROLE_ADMIN when no tokens are configured (loopback clients only).
 */
enum sift_role sift_http_req_role(const struct sift_http_req *req);
/** Non-zero once the client has disconnected. */
int sift_http_req_is_closed(const struct sift_http_req *req);
/**
 * Non-zero when an Accept header value names text/html or
 * application/xhtml+xml (a browser navigating), case-insensitively;
 * accept may be NULL.  Pure.
 */
int sift_http_accepts_html(const char *accept);

/* ---- replies (loop thread; exactly one per request) ---- */
void sift_http_reply(struct sift_http_req *req, int status,
                     const char *content_type, const void *body, size_t len);
/** Replies with body->data as application/json; resets body. */
void sift_http_reply_json(struct sift_http_req *req, int status,
                          struct sift_buf *body);
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
void
sift_http_reply_error(struct sift_http_req *req, int status, const char *type,
                      const char *reason_fmt, ...);
/**
 * Appends the error body every error reply uses, Elasticsearch's shape:
 * {"error":{"type":"…","reason":"…"[,"position":N]},"status":S} and a
 * newline.  position < 0 leaves it out.  type and reason are borrowed.
 * Pure; any thread.
 */
void sift_http_error_json(struct sift_buf *b, int status, const char *type,
                          const char *reason, int32_t position);
/** Adds a response header before the reply (e.g. Retry-After). */
void sift_http_add_header(struct sift_http_req *req, const char *name,
                          const char *value);

/* ---- chunked streams (tail, export) ---- */
/**
 * Starts a chunked reply.  on_close(req, arg) runs once, on the loop
 * thread, if the client disconnects before sift_http_stream_end(); it may
 * call sift_http_stream_end() itself.  Returns SIFT_OK, or SIFT_ESHUTDOWN
 * when the client is already gone (still call sift_http_stream_end()).
 * After a start the request must be finished with sift_http_stream_end(),
 * never sift_http_reply().
 */
int sift_http_stream_start(struct sift_http_req *req, int status,
                           const char *content_type,
                           sift_http_close_cb on_close, void *arg);
/** Queues a chunk.  Returns SIFT_OK or SIFT_ESHUTDOWN if closed. */
int sift_http_stream_write(struct sift_http_req *req, const void *p,
                           size_t len);
/** Bytes queued on the connection and not yet sent (for backpressure). */
size_t sift_http_stream_pending(const struct sift_http_req *req);
/** Ends the stream; the request is finished afterwards. */
void sift_http_stream_end(struct sift_http_req *req);

#endif /* SIFT_HTTP_H */
