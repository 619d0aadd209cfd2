/*
 * config.h - siftd's configuration: one struct, one table of keys.
 *
 * The file is INI (inih).  Every key lives in the defaults table in
 * src/core/config.c with its type, default, range, unit, whether it can
 * change on SIGHUP, and the text that docs/configuration.md repeats.  The
 * struct below is transparent: modules read their fields directly.  It
 * is filled once at start and replaced as a whole on reload (loop thread);
 * modules that keep a pointer re-read it after sift_config_reload().
 *
 * Units: *_ms milliseconds, *_bytes bytes; in the file, durations accept
 * "250ms", "10s", "5m", "2h", "7d" and sizes "512", "64KiB", "16MiB",
 * "2GiB" (and KB/MB/GB as powers of 1000).
 */
#ifndef SIFT_CONFIG_H
#define SIFT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Most nodes [cluster] peers may name. */
#define SIFT_CLUSTER_MAX_PEERS 64

struct sift_config {
    /* [server] */
    char *listen;    /* "127.0.0.1:7700"; port 0 = any free */
    char *data_dir;  /* "./sift-data" */
    char *log_level; /* error|warn|info|debug */
    int64_t workers; /* 0 = number of cores */
    int64_t shutdown_timeout_ms;
    int64_t debug_endpoints; /* bool: POST /api/v1/debug/clock (tests) */

    /* [http] */
    int64_t max_body_bytes; /* after inflating */
    int64_t max_line_bytes; /* one NDJSON / text line */
    int64_t max_connections;
    int64_t idle_timeout_ms;
    int64_t max_headers;
    int64_t max_header_bytes;
    int64_t request_timeout_ms; /* whole request must arrive within this */
    char *access_log; /* "" = off, "-" = the log, else a file (appended) */

    /* [store] */
    int64_t wal_sync_ms;      /* group commit period; 0 = fsync per batch */
    int64_t wal_file_bytes;   /* WAL file rotation size */
    int64_t refresh_ms;       /* buffer -> searchable in-memory segment */
    int64_t flush_ms;         /* in-memory segments -> disk */
    int64_t flush_bytes;      /* flush early past this many buffered bytes */
    int64_t buffer_max_bytes; /* backpressure: stop accepting past this */
    int64_t block_bytes;      /* doc store block size before compression */
    int64_t zstd_level;       /* hot-tier doc store level */

    /* [ingest] */
    char *message_field;   /* "message" */
    char *timestamp_field; /* "@timestamp" (also "timestamp", "ts") */
    char *service_field;   /* "service.name" */
    char *dlq_path;        /* "" = DATA_DIR/dlq.ndjson */
    int64_t max_fields;    /* per event */
    int64_t max_field_name_bytes;
    int64_t max_value_bytes;
    int64_t max_depth;        /* JSON nesting */
    char *text_fields;        /* comma list indexed as tokenized text */
    char *keyword_fields;     /* comma list forced to keyword */
    char *numeric_fields;     /* comma list forced to number */
    int64_t max_future_ms;    /* later than arrival + this: "future"; 0 = off */
    char *future_events;      /* clamp|reject */
    int64_t multiline;        /* bool: join continuation lines */
    char *multiline_pattern;  /* "" = built-in rules */
    int64_t multiline_negate; /* bool */
    int64_t multiline_max_lines;  /* lines in one joined event */
    int64_t multiline_max_gap_ms; /* structured events: time between lines */

    /* [query] */
    int64_t max_query_bytes;
    int64_t max_expansion; /* terms one wildcard/regex may expand to */
    int64_t query_timeout_ms;
    int64_t max_concurrent_queries;
    int64_t max_hits; /* per page */
    int64_t default_hits;
    int64_t max_tail_subscribers;
    int64_t tail_buffer_bytes;

    /* [kafka] */
    char *kafka_brokers; /* "" = off */
    char *kafka_topics;  /* comma list; "^regex" allowed */
    char *kafka_group;
    char *kafka_properties;      /* "k=v,k=v" passed to librdkafka */
    char *kafka_instance_id;     /* group.instance.id; "" = the node id */
    char *kafka_format;          /* auto|json|text|syslog|logfmt */
    char *kafka_extra_fields;    /* "k=v,k=v" on every event; "" = none */
    int64_t kafka_keep_metadata; /* bool: keep JSON @metadata.* fields */

    /* [redis] */
    char *redis_address; /* "" = off; host:port */
    char *redis_streams;
    char *redis_lists;
    char *redis_group;
    char *redis_consumer;        /* "" = hostname */
    char *redis_field;           /* stream entry field holding the event */
    char *redis_format;          /* auto|json|text|syslog|logfmt */
    char *redis_extra_fields;    /* "k=v,k=v" on every event; "" = none */
    int64_t redis_keep_metadata; /* bool */

    /* [syslog] */
    char *syslog_tcp;                 /* "" = off; host:port, comma list */
    char *syslog_udp;                 /* "" = off; host:port, comma list */
    char *syslog_tls;                 /* "" = off; TCP in TLS (RFC 5425) */
    char *syslog_format;              /* auto|json|text|syslog|logfmt */
    char *syslog_extra_fields;        /* "k=v,k=v" on every event */
    int64_t syslog_durable;           /* bool: read on only after fsync */
    int64_t syslog_max_message_bytes; /* longer messages are cut */
    int64_t syslog_max_connections;   /* per TCP listener */

    /* [anomaly] */
    int64_t anomaly_window_ms;
    int64_t anomaly_ring_size;
    int64_t anomaly_threshold; /* 0..100 */
    int64_t anomaly_hold_windows;
    char *anomaly_drop_ratio; /* fraction, validated (KC_FRACTION) */
    int64_t anomaly_drop_windows;
    int64_t anomaly_warmup_windows;
    int64_t anomaly_cooldown_ms;
    int64_t anomaly_learning_period_ms; /* per service, before new_pattern */
    int64_t max_templates;
    char *anomaly_alpha; /* decimal in (0, 1], validated */
    int64_t anomaly_resolve_windows;
    int64_t anomaly_fp_raise;        /* threshold points per false positive */
    int64_t anomaly_max_raise;       /* bound on the total raise */
    char *anomaly_series_thresholds; /* "series:thr,series:thr" */
    int64_t anomaly_idle_flush_ms;   /* 0 = one window */
    int64_t anomaly_max_lateness_ms; /* later events are not scored; 0 = off */
    int64_t anomaly_max_series;
    int64_t anomaly_seasonality;      /* bool: hour-of-day baselines */
    int64_t anomaly_seasonality_days; /* days to full seasonal weight */
    int64_t template_save_ms;

    /* [alerts] */
    char *alert_webhook_url;
    int64_t alert_webhook_timeout_ms;
    int64_t alert_webhook_retries; /* old name of alert_retries; -1 = unset */
    char *alert_webhook_format;    /* "sift" | "alertmanager" */
    int64_t alert_webhook_concurrency;
    int64_t alert_retries;        /* re-tries per notification, every sink */
    int64_t alert_backoff_ms;     /* first back-off; doubles */
    int64_t alert_backoff_max_ms; /* back-off cap */
    int64_t alert_outbox_max;     /* notifications queued per sink */
    char *alert_external_url;     /* siftd's URL for links; "" = none */
    char *alert_redis_address;    /* "" = redis.address */
    char *alert_redis_channel;    /* PUBLISH target, "" = off */
    char *alert_redis_stream;     /* XADD target, "" = off */
    char *alert_kafka_topic;      /* brokers: kafka.brokers */
    int64_t alert_max_kept;       /* alerts kept by the alerts store */

    /* [rules] */
    char *rules_file;             /* JSON rules kept in version control */
    int64_t rules_interval_ms;    /* default evaluation interval */
    int64_t rules_delay_ms;       /* default delay (late events counted) */
    int64_t rules_max_groups;     /* default bound on groups per rule */
    int64_t rules_cooldown_ms;    /* a rule alert re-opens within this */
    int64_t rules_max_concurrent; /* evaluations on workers at once */
    int64_t rules_max;            /* rules (API + file) */

    /* [tiers] */
    int64_t hot_max_age_ms;
    int64_t warm_max_age_ms;
    int64_t retention_ms;       /* 0 = off (keep everything) */
    int64_t max_disk_bytes;     /* 0 = no cap */
    char *cold_path;            /* "" = DATA_DIR/cold */
    int64_t check_interval_ms;  /* lifecycle policy period */
    int64_t merge_factor;       /* segments per tiered merge */
    int64_t hot_segment_bytes;  /* hot merges stop at this size */
    int64_t merge_memory;       /* merge builder cap; 0 = buffer_max / 2 */
    int64_t warm_segment_bytes; /* warm merges / moves stop at this size */
    int64_t warm_zstd_level;
    int64_t cold_zstd_level;
    int64_t cold_dict_bytes;  /* trained zstd dictionary; 0 = none */
    int64_t cold_block_bytes; /* cold doc store block size */

    /* [auth] */
    char *auth_tokens;      /* "name:role:token" or "name:role:sha256:hex" */
    char *auth_token_file;  /* "" = none; mode must be 0600 */
    int64_t metrics_public; /* bool: GET /metrics without a token */

    /* [ratelimit] (requests per second per token or client address) */
    int64_t rl_ingest_rate; /* 0 = off */
    int64_t rl_ingest_burst;
    int64_t rl_query_rate; /* 0 = off */
    int64_t rl_query_burst;
    int64_t rl_max_keys;

    /* [redact] */
    int64_t redact_enabled; /* bool */
    char *redact_builtins;  /* "all", "none" or a comma list */
    char *redact_rules;     /* "name regex" lines, ';' separated in the file */
    char *redact_rules_file;
    char *redact_fields; /* "*" = message and every field */
    char *redact_mode;   /* marker|hash */
    char *redact_hash_key;
    int64_t redact_hash_length;

    /* [audit] */
    char *audit_path; /* "" = audit records go to the log */

    /* [tls] */
    char *tls_listen; /* "" = no HTTPS listener */
    char *tls_cert_file;
    char *tls_key_file;

    /* [cluster] */
    char *cluster_node_id;           /* "" = DATA_DIR/node_id */
    char *cluster_peers;             /* "http://h:p,..."; "" = a single node */
    int64_t cluster_timeout_ms;      /* per peer, per request */
    int64_t cluster_handoff_wait_ms; /* Kafka assign: wait for peers */
    char *cluster_token;   /* bearer sent to peers; "" = the caller's */
    char *cluster_ca_file; /* https peers: CAs to verify them; "" = system */

    /* internal: where values came from, for reload diffs and messages */
    char *source_path; /* config file path or NULL */
};

/** One problem found while loading; file:line when known. */
struct sift_config_error {
    char msg[256];
};

/**
 * Fills cfg with the built-in defaults.  Caller provides storage; release
 * with sift_config_cleanup().
 */
void sift_config_init(struct sift_config *cfg);
void sift_config_cleanup(struct sift_config *cfg);

/**
 * Loads path over the current values.  Every error (unknown section or
 * key, bad value, out of range) is reported through on_error with
 * "path:line: section.key: reason"; loading continues so all errors are
 * seen.  Returns SIFT_OK, SIFT_ECONFIG (errors reported) or -errno when the
 * file cannot be read (also reported).
 */
typedef void (*sift_config_error_cb)(const char *msg, void *arg);
int sift_config_load_file(struct sift_config *cfg, const char *path,
                          sift_config_error_cb on_error, void *arg);

/**
 * Applies one "section.key=value" override (--set), validated exactly
 * like the file.  Returns SIFT_OK or SIFT_ECONFIG after on_error.
 */
int sift_config_set(struct sift_config *cfg, const char *assignment,
                    sift_config_error_cb on_error, void *arg);

/**
 * Compares old and new: returns in *changed_live / *changed_restart the
 * number of keys that differ and can / cannot change while running, and
 * reports each key that cannot change through on_error.
 */
void sift_config_diff(const struct sift_config *old_cfg,
                      const struct sift_config *new_cfg, unsigned *changed_live,
                      unsigned *changed_restart, sift_config_error_cb on_note,
                      void *arg);

/**
 * Cross-key checks run after the file and every --set are applied
 * (e.g. query.default_hits <= query.max_hits).  Reports each problem as
 * "section.key: reason".  Returns SIFT_OK or SIFT_ECONFIG.
 */
int sift_config_check(const struct sift_config *cfg,
                      sift_config_error_cb on_error, void *arg);

/**
 * Reload helper: copies into new_cfg the old value of every key that
 * cannot change while running, so the running daemon keeps it (the diff
 * above has reported them).  Loop thread.
 */
void sift_config_keep_restart_keys(struct sift_config *new_cfg,
                                   const struct sift_config *old_cfg);

/** Deep copy (for reload).  dst is initialised by this call. */
void sift_config_copy(struct sift_config *dst, const struct sift_config *src);

/**
 * Parses a duration ("250ms", "10s", "5m", "2h", "7d", bare = ms) or a size
 * ("64KiB"...; bare = bytes).  Return SIFT_OK or SIFT_EINVAL.
 */
int sift_parse_duration_ms(const char *s, int64_t *out);
int sift_parse_bytes(const char *s, int64_t *out);

/** Writes the key reference (Markdown) for docs/configuration.md. */
void sift_config_dump_reference(FILE *out);

/* One [syslog] listener: "host:port" and its own fields. */
struct sift_config_listener {
    char *addr;   /* "host:port" as written (not checked here) */
    char *fields; /* "name=value,name=value", "" when none */
};

/**
 * Parses a [syslog] listener list (syslog.tcp, .udp, .tls): items
 * separated by commas, each an address followed by blank-separated
 * name=value fields of that listener only.  The one reader of this
 * grammar: the config check (which also checks each address) and the
 * ingest sources both call it.  OUT: *out (owned, release with
 * sift_config_listeners_free()) and *n_out.  Returns SIFT_OK, or
 * SIFT_EINVAL with why filled (nothing returned then).  Pure.
 */
int sift_config_listeners(const char *list, struct sift_config_listener **out,
                          size_t *n_out, char *why, size_t why_len);
void sift_config_listeners_free(struct sift_config_listener *v, size_t n);

/**
 * Writes the sample file conf/siftd.conf: every key commented out with its
 * default, type, range and one line of documentation.
 */
void sift_config_dump_sample(FILE *out);

/* One key of the effective configuration, as sift_config_each() hands
 * it out (strings borrowed for the call). */
enum sift_config_kind {
    SIFT_CONFIG_STRING,
    SIFT_CONFIG_BOOL, /* num is 0 or 1 */
    SIFT_CONFIG_INT,  /* durations in ms, sizes in bytes */
};
struct sift_config_value {
    const char *section, *name;
    enum sift_config_kind kind;
    const char *str; /* SIFT_CONFIG_STRING; a set secret reads "***" */
    int64_t num;     /* the others */
};
typedef void (*sift_config_value_cb)(void *arg,
                                     const struct sift_config_value *v);

/**
 * Calls cb(arg, v) for every key of cfg, section by section in the
 * reference's order (GET /api/v1/config renders them, api/admin_api.c).
 * Secrets never leave: a set one reads "***".  Borrows cfg.  Pure.
 */
void sift_config_each(const struct sift_config *cfg, sift_config_value_cb cb,
                      void *arg);

#endif /* SIFT_CONFIG_H */
