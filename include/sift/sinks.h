/*
 * sinks.h - alert delivery to a webhook, Redis and a Kafka topic, each
 * through its own persistent outbox (see src/anomaly/sinks.c and
 * include/sift/outbox.h).
 *
 * Loop thread only: the sinks run on the libevent base they are given.
 */
#ifndef SIFT_SINKS_H
#define SIFT_SINKS_H

#include <stddef.h>
#include <stdint.h>

#include "sift/anomaly.h"

struct event_base;
struct sift_alert_sinks;

enum sift_webhook_format {
    SIFT_WEBHOOK_SIFT = 0,         /* sift's alert JSON + event + key */
    SIFT_WEBHOOK_ALERTMANAGER = 1, /* Alertmanager's webhook body (v4) */
};

struct sift_alert_sinks_cfg {
    const char *data_dir;    /* outboxes: DATA_DIR/outbox/<sink>.log */
    const char *webhook_url; /* "" or NULL = off; http:// only */
    enum sift_webhook_format webhook_format;
    int64_t webhook_timeout_ms;   /* per attempt; 0 = 5000 (whole seconds) */
    uint32_t webhook_concurrency; /* webhook tries in flight; 0 = 1 */
    uint32_t retries;             /* re-tries after a failed try, any sink */
    int64_t backoff_ms;           /* first back-off (0 = 1000); doubles */
    int64_t backoff_max_ms;       /* back-off cap (0 = 300000) */
    size_t outbox_max;            /* notifications queued per sink (0 = 1) */
    const char *external_url;     /* siftd's own URL for links; may be "" */
    const char *redis_address;    /* host:port; "" = off */
    const char *redis_channel;    /* PUBLISH target; "" = off */
    const char *redis_stream;     /* XADD target (field "alert"); "" = off */
    const char *kafka_brokers;    /* bootstrap list; "" or NULL = Kafka off */
    const char *kafka_topic;      /* topic alerts are produced to; "" = off */
    const char *kafka_properties; /* extra librdkafka "k=v,k=v"; may be NULL */
};

enum sift_sink_id {
    SIFT_SINK_WEBHOOK = 0,
    SIFT_SINK_REDIS = 1,
    SIFT_SINK_KAFKA = 2,
    SIFT_SINK_COUNT = 3,
};

/* Counters of one sink since start. */
struct sift_sink_stats {
    int enabled;
    uint64_t sent;         /* notifications delivered */
    uint64_t dead;         /* notifications dead-lettered (given up) */
    uint64_t tries_failed; /* failed tries (each retried or dead) */
    uint64_t retries;      /* tries after a notification's first */
    uint64_t pending;      /* in the outbox now (queued or in flight) */
    uint64_t restored;     /* found in the outbox at start */
    uint64_t damaged;      /* damaged outbox lines skipped at start */
};

struct sift_sinks_stats {
    struct sift_sink_stats sink[SIFT_SINK_COUNT];
    /* The same as sink[...].sent / .dead, under their older names. */
    uint64_t webhook_sent, webhook_failed, webhook_retries;
    uint64_t redis_sent, redis_failed;
    uint64_t kafka_sent, kafka_failed;
};

/** "webhook", "redis", "kafka". */
const char *sift_sink_name(enum sift_sink_id id);

/** Parses "sift" or "alertmanager".  SIFT_OK or SIFT_EINVAL. */
int sift_webhook_format_parse(const char *s, enum sift_webhook_format *out);

/**
 * Creates the configured sinks on base (borrowed; must outlive them) and
 * opens their outboxes; notifications left by an earlier run are tried
 * again at once.  cfg is borrowed.  Returns SIFT_OK, SIFT_ECONFIG (bad
 * URL/address or Kafka property, logged) or -errno (outbox directory).
 * Release with sift_alert_sinks_free().  Loop thread.  The Kafka
 * producer (librdkafka) keeps its own threads; its delivery reports are
 * polled from a 100 ms timer on base.
 */
int sift_alert_sinks_new(struct event_base *base,
                         const struct sift_alert_sinks_cfg *cfg,
                         struct sift_alert_sinks **out);

/**
 * Queues one alert transition in every sink's outbox (written before
 * this returns) and starts delivering.  The sift body is
 * sift_alert_to_json() plus "event":"fire"|"update"|"resolve" and
 * "key" (sift_alert_notification_key(), also sent as the webhook's
 * Idempotency-Key header and a Kafka header): a receiver that sees a
 * key twice got a re-send.  Borrows al.  Loop thread.
 */
void sift_alert_sinks_send(struct sift_alert_sinks *s, enum sift_alert_event ev,
                           const struct sift_alert *al);

/** Copies delivery counters.  Loop thread. */
void sift_alert_sinks_stats(const struct sift_alert_sinks *s,
                            struct sift_sinks_stats *out);

/** Notifications queued or in flight in every sink (0 without sinks). */
uint64_t sift_alert_sinks_pending(const struct sift_alert_sinks *s);

/**
 * Messages handed to the Kafka producer and not yet reported delivered
 * or failed (0 without Kafka).  Loop thread.
 */
int sift_alert_sinks_kafka_pending(const struct sift_alert_sinks *s);

/**
 * Frees the sinks.  Tries in flight are abandoned and stay in the
 * outboxes (sent again by the next run: at-least-once); the Kafka
 * producer first gets up to 2 s to deliver what it holds.  Never from
 * inside a sink callback.  Loop thread.
 */
void sift_alert_sinks_free(struct sift_alert_sinks *s);

#endif /* SIFT_SINKS_H */
