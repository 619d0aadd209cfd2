/*
 * sinks.h - alert delivery to a webhook, Redis and a Kafka topic (see
 * src/anomaly/sinks.c).
 *
 * Loop thread only: the sinks run on the libevent base they are given.
 */
#ifndef SIFT_SINKS_H
#define SIFT_SINKS_H

#include <stdint.h>

#include "sift/anomaly.h"

struct event_base;
struct sift_alert_sinks;

struct sift_alert_sinks_cfg {
    const char *webhook_url;      /* "" or NULL = off; http:// only */
    int64_t webhook_timeout_ms;   /* per attempt; 0 = 5000 (whole seconds) */
    uint32_t webhook_retries;     /* re-sends after a failure */
    const char *redis_address;    /* host:port; "" = off */
    const char *redis_channel;    /* PUBLISH target; "" = off */
    const char *redis_stream;     /* XADD target (field "alert"); "" = off */
    const char *kafka_brokers;    /* bootstrap list; "" or NULL = Kafka off */
    const char *kafka_topic;      /* topic alerts are produced to; "" = off */
    const char *kafka_properties; /* extra librdkafka "k=v,k=v"; may be NULL */
};

struct sift_sinks_stats {
    uint64_t webhook_sent, webhook_failed, webhook_retries;
    uint64_t redis_sent, redis_failed;
    uint64_t kafka_sent, kafka_failed; /* delivery reports */
};

/**
 * Creates the configured sinks on base (borrowed; must outlive them).
 * cfg is borrowed.  Returns SIFT_OK or SIFT_ECONFIG (bad URL/address or
 * Kafka property, logged).  Release with sift_alert_sinks_free().  Loop
 * thread.  The Kafka producer (librdkafka) keeps its own threads; its
 * delivery reports are polled from a 100 ms timer on base.
 */
int sift_alert_sinks_new(struct event_base *base,
                         const struct sift_alert_sinks_cfg *cfg,
                         struct sift_alert_sinks **out);

/**
 * Sends one alert transition to every sink (asynchronously; returns at
 * once).  The JSON body is sift_alert_to_json() plus "event":
 * "fire"|"update"|"resolve".  Borrows al.  Loop thread.
 */
void sift_alert_sinks_send(struct sift_alert_sinks *s, enum sift_alert_event ev,
                           const struct sift_alert *al);

/** Copies delivery counters.  Loop thread. */
void sift_alert_sinks_stats(const struct sift_alert_sinks *s,
                            struct sift_sinks_stats *out);

/**
 * Messages handed to the Kafka producer and not yet reported delivered
 * or failed (0 without Kafka).  Loop thread.
 */
int sift_alert_sinks_kafka_pending(const struct sift_alert_sinks *s);

/**
 * Frees the sinks; webhook deliveries in flight are abandoned (counted as
 * failed); the Kafka producer gets up to 2 s to deliver what it holds.
 * Never from inside a sink callback.  Loop thread.
 */
void sift_alert_sinks_free(struct sift_alert_sinks *s);

#endif /* SIFT_SINKS_H */
