/*
 * ingest_int.h - helpers shared by the ingest sources (not public).
 */
#ifndef SIFT_INGEST_INT_H
#define SIFT_INGEST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/config.h"
#include "sift/source.h"

struct event;
struct event_base;

/**
 * Splits a comma list into trimmed, non-empty owned strings.  *out is an
 * owned array of *n_out owned strings; release with
 * sift__ingest_list_free().
 */
void sift__ingest_split(const char *list, char ***out, size_t *n_out);
void sift__ingest_list_free(char **v, size_t n);

/** The [syslog] listener list of a transport (enum
 * sift_syslog_transport): tcp, udp or tls. */
const char *sift__ingest_syslog_list(const struct sift_config *cfg,
                                     int transport);

/** Parses "host:port" (port defaults to 6379).  host is owned. */
int sift__ingest_parse_addr(const char *addr, char **host, int *port);

/** The consumer name: redis.consumer, else the node id in a cluster,
 * else the hostname.  Owned. */
char *sift__ingest_consumer_name(const struct sift_config *cfg,
                                 const char *node_id);

/** Next backoff delay: doubles from 100 ms up to 5 s. */
uint32_t sift__ingest_backoff_next(uint32_t cur_ms);

/*
 * librdkafka prefetch limits for a store buffer of buffer_max bytes (<= 0:
 * the store's 256 MiB default): queued.max.messages.kbytes = half the
 * buffer, fetch.max.bytes = a quarter, each clamped to [1 MiB,
 * librdkafka's default] (64 MiB and 50 MiB), so the consumer holds about
 * 0.75x the buffer before the store sees it.  kafka.properties overrides
 * both.
 */
void sift__kafka_prefetch_limits(int64_t buffer_max, int64_t *queued_kbytes,
                                 int64_t *fetch_max_bytes);

/*
 * A pair of async hiredis connections to one Redis: cmd for quick
 * commands (XGROUP, XACK, list scripts, XAUTOCLAIM) and blk for the blocking
 * read (XREADGROUP BLOCK, BLMOVE) that would stall anything queued behind it.
 * When either drops, both are torn down, on_down runs once, and the pair
 * reconnects with backoff; on_up runs when both are connected again.
 * Loop thread only.
 */
struct redisAsyncContext;
struct sift__redis_pair {
    struct event_base *base;
    char *host;
    int port;
    struct redisAsyncContext *cmd, *blk;
    int cmd_up, blk_up;
    int up; /* both connected, on_up ran */
    int closing;
    uint32_t backoff_ms;
    struct event *ev_reconnect;
    void (*on_up)(void *owner);
    void (*on_down)(void *owner);
    void *owner;
    uint64_t reconnects;
    uint64_t connects;
};

void sift__redis_pair_init(struct sift__redis_pair *rp, struct event_base *base,
                           const char *host, int port, void (*on_up)(void *),
                           void (*on_down)(void *), void *owner);
void sift__redis_pair_connect(struct sift__redis_pair *rp);
/** Frees both contexts (their pending callbacks see NULL replies). */
void sift__redis_pair_cleanup(struct sift__redis_pair *rp);

/**
 * Runs one command on a short-lived blocking connection (final acks at
 * free time).  Returns SIFT_OK or SIFT_EIO (logged).
 */
int sift__redis_sync_argv(const char *host, int port, int argc,
                          const char **argv, const size_t *argvlen);

#endif /* SIFT_INGEST_INT_H */
