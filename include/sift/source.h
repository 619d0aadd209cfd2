/*
 * source.h - ingest sources (Kafka, Redis streams, Redis lists) and the
 * pipeline sink they deliver to.
 *
 * A source reads raw messages from a broker and hands them, in batches,
 * to the sink's deliver callback together with their source positions.
 * The sink (wired by main: parse -> sift_store_append) takes the batch
 * and promises to call ack_cb(ack_arg, rc) exactly once, when the batch
 * is durable (rc == SIFT_OK) or lost (rc < 0).  The source acknowledges
 * to the broker (Kafka offset commit, Redis XACK, list removal) only
 * inside ack_cb with rc == SIFT_OK.  This is the durability contract:
 * nothing acknowledged is ever lost.
 *
 * Exactly once rests on two properties of the sink (the store's WAL):
 * positions are kept as the largest seen per key, durably, and acks come
 * in delivery order as a prefix: when a batch is durable every batch
 * delivered before it is durable, and a failure fails every batch
 * delivered before the source heard of it.  A source therefore never
 * lets a batch carry a position past a message that is not durable, and
 * after a restart skips what is at or below the stored position.
 *
 * Backpressure: deliver returns SIFT_EBUSY (store full) or another error
 * when it could not take the batch; ack_cb is then never called, the
 * source keeps the batch, stops reading (Kafka: pauses its partitions but
 * keeps polling for rebalances) and retries the same batch after a short
 * delay.  sift_source_pause() holds a source for the SIGTERM drain; it
 * nests with the EBUSY hold.
 *
 * Every source is a struct sift_source with an ops table, so main never
 * knows which broker it talks to.  All sources are tied to one libevent
 * base and run on the loop thread only: every function here and every
 * callback (deliver, ack_cb, position) runs on the loop thread.
 *
 * Lifecycle: _new -> _start -> [pause] -> _stop -> [the store is
 * closed, so every outstanding ack_cb has run] -> _free.  _free does the
 * last acknowledgements synchronously (Kafka commit + consumer close,
 * Redis XACK / list removal on a short blocking connection), so call it after
 * the store has run its durable callbacks.
 */
#ifndef SIFT_SOURCE_H
#define SIFT_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "sift/config.h"
#include "sift/event.h"
#include "sift/store.h"

struct event_base;
struct sift_config;
struct sift_dlq;
struct sift_source;

/** One raw message as it came off the broker.  Everything is borrowed. */
struct sift_source_msg {
    const char *data; /* payload bytes (not NUL-terminated) */
    uint32_t len;
    uint32_t n_fields; /* extra fields (Redis stream entry fields) */
    const struct sift_field *fields; /* KEYWORD, names as in the entry */
    int64_t ts_ns;          /* broker time: Kafka record timestamp, Redis
                               stream id ms; 0 = unknown (lists) */
    struct sift_srcpos pos; /* where this message sits (DLQ, logs); for
                               lists hi = its seq, lo = 0 */
};

/**
 * A batch handed to the sink.  All messages come from one origin
 * (a Kafka topic-partition, one stream or one list) and are in broker
 * order.  pos/n_pos are the positions to store with the batch (pass them
 * to sift_store_append as they are): the last message's position (Kafka
 * offset, stream id, list seq), none for entries claimed from other
 * stream consumers.  Borrowed during deliver only.
 */
struct sift_source_batch {
    const char *source; /* "kafka", "redis-stream", "redis-list" */
    const char *origin; /* topic, stream or list name */
    size_t n_msgs;
    const struct sift_source_msg *msgs;
    size_t n_pos;
    const struct sift_srcpos *pos;
};

/**
 * Takes a batch.  Returns SIFT_OK when the sink accepted it: the sink
 * then calls ack_cb(ack_arg, rc) exactly once (later, or even before
 * deliver returns).  Any other return (SIFT_EBUSY for backpressure) means
 * the batch was not taken; ack_cb is never called and the source retries.
 * Messages the sink cannot parse are the sink's business (dead letters);
 * they are still part of the batch that gets acknowledged.
 */
typedef int (*sift_source_deliver_cb)(void *arg,
                                      const struct sift_source_batch *batch,
                                      sift_durable_cb ack_cb, void *ack_arg);

/**
 * Looks up the last position sift holds for key (sift_store_position).
 * Returns SIFT_OK and fills out, or SIFT_ENOTFOUND.  Sources call it when
 * a Kafka partition is assigned and when a Redis source starts; out->key
 * may be left NULL.
 */
typedef int (*sift_source_position_cb)(void *arg, const char *key,
                                       struct sift_srcpos *out);

/** Where a source sends its batches. */
struct sift_source_sink {
    sift_source_deliver_cb deliver;
    sift_source_position_cb position; /* may be NULL: nothing is held */
    void *arg;
};

/**
 * What every source needs from its owner.  Borrowed for the lifetime of
 * the source (cfg must outlive it; re-create sources on a restart-only
 * config change).
 */
struct sift_source_env {
    struct event_base *base; /* the loop's base */
    const struct sift_config *cfg;
    struct sift_source_sink sink;
    uint32_t batch_max;            /* messages per batch; 0 = 500 */
    uint32_t retry_ms;             /* EBUSY retry delay; 0 = 50 */
    uint32_t redis_block_ms;       /* XREADGROUP/BLMOVE block; 0 = 2000 */
    uint32_t redis_claim_idle_ms;  /* XAUTOCLAIM min idle; 0 = 60000 */
    uint32_t redis_claim_every_ms; /* XAUTOCLAIM period; 0 = 30000 */
    const char *node_id; /* DATA_DIR/node_id: Kafka's group.instance.id
                            when kafka.instance_id is empty; NULL = none */
    /*
     * In a cluster (docs/internals/cluster.md): asks the other nodes how
     * far they hold a position key, once their in-flight events of it are
     * durable.  ask() calls done(cbarg, all, have, hi) later on the loop
     * (all: every node answered; have: some node holds the key, up to
     * hi) and returns a call that cancel() forgets (done is then never
     * called).  ask NULL: a single node.
     */
    struct sift_source_peers {
        void *(*ask)(void *arg, const char *key,
                     void (*done)(void *cbarg, int all, int have, uint64_t hi),
                     void *cbarg);
        void (*cancel)(void *call);
        void *arg;
        int64_t wait_ms; /* give up waiting for silent nodes after this */
    } peers;
};

/** Counters of one source (monotonic unless noted). */
struct sift_source_stats {
    uint64_t msgs_read;      /* taken off the broker */
    uint64_t msgs_delivered; /* accepted by the sink */
    uint64_t msgs_acked;     /* durable and acknowledged to the broker */
    uint64_t batches_failed; /* ack_cb with rc < 0 (will be re-read) */
    uint64_t busy_retries;   /* deliver returned non-OK */
    uint64_t reconnects;     /* Redis connection re-established */
    uint64_t rebalances;     /* Kafka assign + revoke events */
    uint64_t inflight;       /* gauge: delivered, not yet acknowledged */
    int64_t lag;             /* gauge: messages behind the broker's end;
                                -1 unknown (lists: list length) */
    uint64_t truncated;      /* messages cut at a size limit (syslog) */
    uint64_t refused_conns;  /* connections over a limit (syslog) */
    int paused;              /* gauge: held by EBUSY or pause() */
    int connected;           /* gauge */
};

/** Per partition/stream/list detail for /metrics. */
struct sift_source_part {
    const char *key;   /* "kafka/<topic>/<p>", "redis/<stream>",
                          "redis-list/<list>" */
    int64_t lag;       /* -1 unknown */
    int64_t committed; /* Kafka: next offset committed; else -1 */
    uint64_t inflight;
};
typedef void (*sift_source_part_cb)(void *arg,
                                    const struct sift_source_part *part);

/** The ops table every source implements (src/ingest/kafka.c ...). */
struct sift_source_ops {
    const char *name;
    int (*start)(struct sift_source *src);
    void (*pause)(struct sift_source *src);
    void (*stop)(struct sift_source *src);
    void (*stats)(struct sift_source *src, struct sift_source_stats *out);
    void (*parts)(struct sift_source *src, sift_source_part_cb cb, void *arg);
    void (*free)(struct sift_source *src);
    /* Non-zero when no event of key is on its way to durability and the
     * source does not read key (NULL: always); answers a peer's ask()
     * above. */
    int (*settled)(struct sift_source *src, const char *key);
};

/** Opaque per-source head; the implementation embeds it first. */
struct sift_source {
    const struct sift_source_ops *ops;
    char *label; /* "kafka", "redis-stream:<s>", ... */
};

/**
 * Creates the Kafka consumer-group source from cfg ([kafka] brokers,
 * topics, group, instance_id, properties): a static member
 * (group.instance.id = kafka.instance_id, else env->node_id) with
 * cooperative-sticky assignment and a 10 s session timeout unless
 * kafka.properties says otherwise.  Returns SIFT_OK, SIFT_ENOTFOUND when
 * kafka.brokers is empty (source off), SIFT_ECONFIG (bad property,
 * logged).  Returns owned; release with sift_source_free(), which commits,
 * leaves the group (static members too) and closes the consumer.
 */
int sift_source_kafka_new(const struct sift_source_env *env,
                          struct sift_source **out);

/**
 * Creates a Redis stream source for one stream (XREADGROUP on a
 * consumer group).  Returns SIFT_OK or SIFT_ECONFIG.  Owned.
 */
int sift_source_redis_stream_new(const struct sift_source_env *env,
                                 const char *stream, struct sift_source **out);

/**
 * Creates a Redis list source for one list (reliable BLMOVE queue).
 * Returns SIFT_OK or SIFT_ECONFIG.  Owned.
 */
int sift_source_redis_list_new(const struct sift_source_env *env,
                               const char *list, struct sift_source **out);

enum sift_syslog_transport {
    SIFT_SYSLOG_TCP, /* [syslog] tcp */
    SIFT_SYSLOG_UDP, /* [syslog] udp */
    SIFT_SYSLOG_TLS, /* [syslog] tls: TCP in TLS (RFC 5425) */
};

/**
 * Creates a syslog listener source on addr ("host:port"): TCP (RFC 6587
 * octet counting or LF framing), UDP (one message per datagram) or TCP
 * in TLS with the [tls] certificate and key, with cfg's [syslog]
 * durable, max_message_bytes and max_connections.  The socket is bound
 * (and the certificate loaded) by sift_source_start(), which fails with
 * SIFT_EIO or SIFT_ECONFIG, logged, when it cannot be.  Batches go to
 * the sink with source "syslog" and origin "<transport>:<addr>"; every
 * message carries the keyword fields syslog.peer and syslog.transport.
 * Returns SIFT_OK.  Owned.
 */
int sift_source_syslog_new(const struct sift_source_env *env, const char *addr,
                           enum sift_syslog_transport transport,
                           struct sift_source **out);

/** One frame of a syslog TCP stream (sift_syslog_frame_next()). */
struct sift_syslog_frame {
    size_t msg_at, msg_len; /* the message within the window */
    size_t used;            /* bytes of the window the frame takes */
    uint64_t skip;          /* a cut octet-counted frame: bytes after the
                               window that still belong to it */
    int skip_to_lf;         /* a cut line: skip up to the next LF */
    int cut;                /* longer than max: cut to max bytes */
};

/**
 * Finds the next RFC 6587 frame in p[0..n): octet counting ("<len> <msg>",
 * when the frame starts with a digit 1-9, digits and a space) or a line
 * up to LF or NUL (a CR before the LF dropped).  A message longer than
 * max is cut to max bytes (cut = 1, the rest to skip).  Returns 1 with f
 * filled, 0 when the frame is not complete yet; with at_eof the bytes
 * left are a last (maybe short) message.  Pure; any thread.
 */
int sift_syslog_frame_next(const char *p, size_t n, size_t max, int at_eof,
                           struct sift_syslog_frame *f);

/**
 * Creates every source the config turns on: one Kafka source when
 * kafka.brokers is set, one per redis.streams and redis.lists entry when
 * redis.address is set, one per syslog.tcp and syslog.udp address.  *out is an
 * owned array of *n_out owned sources (possibly 0; *out may be NULL then); free
 * each with sift_source_free() and the array with sift_free().  Returns SIFT_OK
 * or the first error (nothing is returned then).
 */
int sift_source_create_all(const struct sift_source_env *env,
                           struct sift_source ***out, size_t *n_out);

/** Connects / subscribes and starts reading.  Returns SIFT_OK or a code. */
int sift_source_start(struct sift_source *src);
/**
 * Stops reading, for the SIGTERM drain: what was handed over is still
 * acknowledged, nothing new starts (nests with the EBUSY hold).  There is
 * no resume: the next step is sift_source_stop().
 */
void sift_source_pause(struct sift_source *src);
/** Stops reading for good; acknowledgements still go out. */
void sift_source_stop(struct sift_source *src);
void sift_source_stats(struct sift_source *src, struct sift_source_stats *out);
/**
 * Non-zero when no event of position key (e.g. "kafka/logs/3") is on its
 * way from this source to durability: every one read is durable or
 * dropped.  Loop thread.
 */
int sift_source_settled(struct sift_source *src, const char *key);
/** Calls cb for each partition/stream/list (borrowed during the call). */
void sift_source_parts(struct sift_source *src, sift_source_part_cb cb,
                       void *arg);
/** "kafka", "redis-stream:<name>", "redis-list:<name>" (borrowed). */
const char *sift_source_label(const struct sift_source *src);
/**
 * Final acknowledgements, disconnect and free.  Call after the store has
 * run every durable callback (sift_store_close).  NULL is a no-op.
 */
void sift_source_free(struct sift_source *src);

/* ---- the standard sink (src/ingest/source_pipe.c) --------------------- */

struct sift_pipeline;
struct sift_source_pipe;

/**
 * Creates the standard sink: parse ([ingest] options of cfg, format
 * auto) -> sift_pipeline_reject for bad messages -> sift_pipeline_submit
 * with the source's ack_cb as durable callback.  Borrows pipeline and cfg.
 * Returns SIFT_OK or SIFT_EINVAL (bad [ingest] options, logged).  Owned;
 * release with sift_source_pipe_free() after every source is freed.
 */
int sift_source_pipe_new(struct sift_pipeline *pipeline,
                         const struct sift_config *cfg,
                         struct sift_source_pipe **out);
void sift_source_pipe_free(struct sift_source_pipe *sp);

/**
 * A sift_source_deliver_cb; arg is the struct sift_source_pipe.  Returns
 * what sift_pipeline_submit returns (SIFT_EBUSY when the store is full).
 */
int sift_source_pipe_deliver(void *arg, const struct sift_source_batch *batch,
                             sift_durable_cb ack_cb, void *ack_arg);

/** A sift_source_position_cb; arg is the struct sift_store. */
int sift_source_store_position(void *arg, const char *key,
                               struct sift_srcpos *out);

/* ---- configuration check (src/ingest/check.c) ------------------------- */

/**
 * Checks what only the ingest libraries can judge (every kafka.properties
 * entry against librdkafka), without connecting: each problem goes to cb.
 * Returns SIFT_OK or SIFT_ECONFIG.  Borrows everything; any thread.
 */
int sift_source_check_config(const struct sift_config *cfg,
                             sift_config_error_cb cb, void *arg);

/* ---- dead letters (src/ingest/dlq.c) ---------------------------------- */

/**
 * Opens (appends to) the dead-letter file path, created 0640 if missing.
 * sync_each: fsync after every record (else on sift_dlq_sync()/close).
 * Returns SIFT_OK or -errno (logged).  Owned; release with
 * sift_dlq_close().
 */
int sift_dlq_open(const char *path, int sync_each, struct sift_dlq **out);

/**
 * Appends one NDJSON record {"time":RFC3339,"source":…,"position":…,
 * "reason":…,"raw":…} for raw[0..len).  raw is kept as a JSON string
 * when it is valid UTF-8, else base64 under "raw_b64".  pos may be NULL.
 * Borrows everything.  Returns SIFT_OK or -errno.  Loop thread.
 */
int sift_dlq_put(struct sift_dlq *dlq, const char *source,
                 const struct sift_srcpos *pos, const char *reason,
                 const void *raw, size_t len);

/** fsyncs pending records.  Returns SIFT_OK or -errno. */
int sift_dlq_sync(struct sift_dlq *dlq);
/** Records written since open. */
uint64_t sift_dlq_count(const struct sift_dlq *dlq);
/** Syncs and closes.  NULL is a no-op. */
void sift_dlq_close(struct sift_dlq *dlq);

#endif /* SIFT_SOURCE_H */
