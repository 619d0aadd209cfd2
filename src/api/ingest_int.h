/*
 * ingest_int.h - what the HTTP ingest endpoints share (not a public
 * header): one request in flight, its events and rejects, the submit
 * that answers after the WAL fsync, and per-source request counters.
 *
 * Every push protocol (NDJSON, _bulk, OTLP, Loki, journald, the
 * Elasticsearch index paths) parses its body into a struct
 * sift__ingest_req, then calls sift__ingest_submit() with its own reply
 * function, which runs exactly once: with rc 0 after the fsync that made
 * the events durable, or with rc < 0 when the store refused the batch
 * (nothing of it stored).  Rejected records are collected first and
 * dead-lettered only once the body as a whole was accepted, so a body
 * refused as malformed leaves nothing behind.  Loop thread.
 */
#ifndef SIFT_API_INGEST_INT_H
#define SIFT_API_INGEST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"
#include "sift/event.h"
#include "sift/parse.h"
#include "sift/pipeline.h"

#include "sift/ingest_api.h"
#include "sift/metrics.h"

struct sift_http;
struct sift_http_req;
struct sift_multiline;
struct sift_pool;
struct sift_store;
struct sift__keymap;
struct ingest_ctx;
struct sift__ingest_req;

#define SIFT__INGEST_MAX_SOURCES 8

/* Request counters of one push source (ingest_req.c). */
struct sift__push_stats {
    const char *name; /* static */
    uint64_t ok;      /* answered after the fsync (2xx) */
    uint64_t refused; /* the store refused the batch (503) */
    uint64_t bad;     /* the body was refused (4xx) */
    uint64_t inflight;
    struct sift_histogram ack; /* arrival -> acknowledgement, seconds */
};

struct sift_ingest_api {
    struct sift_pipeline *pipe;
    const struct sift_config *cfg;
    struct sift_multiline *ml;      /* continuation lines; owned */
    struct sift_parse_opts opts[5]; /* by enum sift_parse_format */
    sift_ingest_position_cb position;
    void *position_arg;
    struct sift__push_stats push[SIFT__INGEST_MAX_SOURCES];
    size_t n_push;
    /* _bulk items that name their _id: one request checks at a time
     * (ingest_api.c). */
    struct sift_store *store;  /* borrowed; NULL = no checks */
    struct sift_pool *pool;    /* borrowed */
    struct sift__keymap *keys; /* stored, maybe not searchable yet */
    int id_busy;
    struct ingest_ctx *wait_head, **wait_tail;
};

typedef void (*sift__ingest_reply_cb)(struct sift__ingest_req *r, int rc);

/* A rejected record waiting for the dead-letter store. */
struct sift__ingest_reject {
    const char *raw; /* borrowed from the body */
    size_t len;
    const char *reason; /* arena */
    size_t no;          /* 1-based record or line number */
};

/* One request in flight; lives in the request's arena. */
struct sift__ingest_req {
    struct sift_ingest_api *api;
    struct sift_http_req *req;
    const char *source; /* counters and dead letters: "otlp", "loki"... */
    struct sift_event *evs;
    size_t n_evs, cap_evs;
    struct sift__ingest_reject *rejects;
    size_t n_rejects, cap_rejects;
    int64_t t0_ns;                      /* monotonic arrival */
    int failed_rc;                      /* SIFT_ENOMEM while collecting */
    struct sift_pipeline_counts counts; /* what the pipeline did */
    struct sift_srcpos *pos; /* positions stored with the batch (journald) */
    size_t n_pos;
    size_t n_skipped; /* records already stored before (positions) */
    sift__ingest_reply_cb reply;
    void *proto; /* the protocol's own state */
};

/* Creates the request state (arena memory, cleaned up with it). */
struct sift__ingest_req *sift__ingest_req_new(struct sift_ingest_api *api,
                                              struct sift_http_req *req,
                                              const char *source);
/* Adds an event (borrowed pointers must live as long as the request). */
int sift__ingest_push(struct sift__ingest_req *r, const struct sift_event *ev);
/* Notes a rejected record (raw borrowed; reason copied). */
void sift__ingest_reject(struct sift__ingest_req *r, size_t no, const char *raw,
                         size_t len, const char *reason);
/*
 * A sift_parse_line_cb collecting into the request (arg = the request):
 * events are pushed, failures noted as rejects; stops on ENOMEM.
 */
int sift__ingest_on_record(void *arg, int rc, struct sift_event *ev,
                           const struct sift_parse_error *err);
/*
 * Dead-letters the noted rejects and submits the events; reply(r, rc)
 * runs once (maybe before this returns).  With no events the dead
 * letters are synced and reply(r, 0) runs at once.
 */
void sift__ingest_submit(struct sift__ingest_req *r,
                         sift__ingest_reply_cb reply);
/* Counts a request submitted to the store, and its outcome (rc < 0:
 * refused) when answered; t0_ns is its monotonic arrival. */
void sift__ingest_stats_start(struct sift_ingest_api *api, const char *source);
void sift__ingest_stats_done(struct sift_ingest_api *api, const char *source,
                             int64_t t0_ns, int rc);
/* Counts a request whose body was refused (4xx) before any submit. */
void sift__ingest_count_bad(struct sift_ingest_api *api, const char *source);
/* Events not stored because of the time checks (expired, future). */
size_t sift__ingest_refused_by_time(const struct sift__ingest_req *r);

/* The parse options of the API for a format (compiled, shared). */
const struct sift_parse_opts *
sift__ingest_opts(const struct sift_ingest_api *api,
                  enum sift_parse_format format);
/* The position the store holds for key (journald dedupe). */
int sift__ingest_position(const struct sift_ingest_api *api, const char *key,
                          struct sift_srcpos *out);

/*
 * The standard JSON error for a refused batch: 503 with Retry-After
 * (ingest_backpressure, disk_full, out_of_memory, store_error).  Sets
 * *status, *retry_after (seconds, 0 = none), *type and writes the reason
 * into reason[0..len).
 */
void sift__ingest_refusal(int rc, int *status, int *retry_after,
                          const char **type, char *reason, size_t len);
void sift__ingest_reply_refused(struct sift_http_req *req, int rc);
/* The refusal of rc for a protocol's own reply: adds Retry-After, sets
 * *type and reason as sift__ingest_refusal() does, returns the status. */
int sift__ingest_refusal_head(struct sift_http_req *req, int rc,
                              const char **type, char *reason, size_t len);
/* Appends "N of M <many> were not stored; K over a limit, e.g. <one> I:
 * why; ... older than tiers.retention; ... stamped past
 * ingest.max_future". */
void sift__ingest_not_stored(const struct sift__ingest_req *r, size_t refused,
                             const char *one, const char *many,
                             struct sift_buf *m);
/* Whether the Content-Type ct (parameters ignored) is the media type
 * want, case-insensitively; 0 for NULL. */
int sift__ingest_media_is(const char *ct, const char *want);

/* Answers a body the parser refused, in the protocol's form. */
typedef void (*sift__ingest_bad_cb)(struct sift__ingest_req *r,
                                    const char *reason);
/*
 * Ends a protocol handler after its parser returned rc: SIFT_EPARSE is
 * counted and answered by bad(r, err->reason), nothing stored; otherwise
 * the request is submitted (ENOMEM answered as a refusal) with reply.
 */
void sift__ingest_parsed(struct sift__ingest_req *r, int rc,
                         const struct sift_parse_error *err,
                         sift__ingest_bad_cb bad, sift__ingest_reply_cb reply);

/* ---- the protocols (each registers its routes) ---- */
void sift__otlp_api_register(struct sift_http *http,
                             struct sift_ingest_api *api);
void sift__loki_api_register(struct sift_http *http,
                             struct sift_ingest_api *api);
void sift__journal_api_register(struct sift_http *http,
                                struct sift_ingest_api *api);
void sift__es_api_register(struct sift_http *http, struct sift_ingest_api *api);
/* The Elasticsearch _bulk handler with index as the default index. */
void sift__ingest_bulk(struct sift_ingest_api *api, struct sift_http_req *req,
                       const char *index);
/* One document (POST /<index>/_doc[/<id>], /<index>/_create/<id>; id
 * NULL = generated; create: a stored id is a 409), answered as
 * Elasticsearch. */
void sift__ingest_doc(struct sift_ingest_api *api, struct sift_http_req *req,
                      const char *index, const char *id, int create);

#endif /* SIFT_API_INGEST_INT_H */
