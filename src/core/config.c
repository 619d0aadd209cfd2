/*
 * config.c - the configuration loader: one defaults table, inih parsing,
 * validation, --set overrides, reload diffs and the generated reference.
 *
 * Design: every key is one row of `keys[]` below: section, name, type,
 * offset of its field in struct sift_config, default text, range, whether
 * it may change on SIGHUP, and its documentation.  Defaults, the file,
 * --set, the reload diff, docs/configuration.md and conf/siftd.conf all
 * come from that table, so they cannot drift apart.  Default texts go
 * through the same parser as file values, so a bad default fails the unit
 * test that loads the defaults.
 *
 * The file is fed to inih one line at a time by our own reader, which
 * counts lines (the Debian inih has no line numbers in the handler),
 * reports syntax errors, over-long lines and unknown sections itself, and
 * strips leading blanks so no line is ever taken as a continuation.
 * Every problem is reported; loading never stops at the first.
 *
 * Invariants: string fields are always owned heap strings (never NULL)
 * after sift_config_init(); integer fields of every type are int64_t.
 *
 * Context: loop thread (start-up and SIGHUP); no global state besides the
 * constant table.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "core/core_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/kvlist.h"

enum key_type {
    KT_STRING,
    KT_INT,
    KT_BOOL,
    KT_DURATION, /* int64 milliseconds */
    KT_BYTES,    /* int64 bytes */
    KT_ENUM,     /* string restricted to `choices` */
};

enum key_check {
    KC_NONE,
    KC_HOSTPORT,       /* "host:port", port 0..65535 */
    KC_HOSTPORT_EMPTY, /* same, or "" = off */
    KC_URL_EMPTY,      /* "" or http://... */
    KC_FRACTION,       /* decimal number in (0, 1] */
    KC_SERIES_THR,     /* "" or "series:N,series:N", N 0..100 */
    KC_SECRET,         /* any text; shown as "***" in GET /api/v1/config */
    KC_OFF,            /* numbers: 0 or "off" switches it off (below min) */
    KC_NAME_EMPTY,     /* "" or [A-Za-z0-9._-] only (Kafka's id rule) */
    KC_FIELDS,         /* "" or "name=value,name=value" (static labels) */
    KC_LISTENERS,      /* "host:port name=value ..., host:port ..." (syslog) */
    KC_PEERS,          /* "" or "http://host:port, ..." */
};

struct key_def {
    const char *section;
    const char *name;
    enum key_type type;
    size_t offset;
    const char *def;     /* default, in file syntax */
    int64_t min, max;    /* numbers: value range; strings: length range */
    int reloadable;      /* 1 = applied on SIGHUP */
    const char *choices; /* KT_ENUM: "a|b|c" */
    enum key_check check;
    const char *doc;
};

#define OFF(f) offsetof(struct sift_config, f)
#define KIB INT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define TIB (GIB * 1024)
#define SEC INT64_C(1000)
#define MINUTE (60 * SEC)
#define HOUR (60 * MINUTE)
#define DAY (24 * HOUR)
#define STRMAX 4096 /* longest string value we accept */

static const struct key_def keys[] = {
    /* [server] */
    {"server", "listen", KT_STRING, OFF(listen), "127.0.0.1:7700", 3, 300, 0,
     NULL, KC_HOSTPORT,
     "HTTP address as host:port; port 0 picks a free port (see "
     "DATA_DIR/siftd.addr). Use 0.0.0.0 or [::] to accept remote clients."},
    {"server", "data_dir", KT_STRING, OFF(data_dir), "./sift-data", 1, STRMAX,
     0, NULL, KC_NONE,
     "Directory for the WAL, segments, manifest and siftd.addr; created if "
     "missing."},
    {"server", "log_level", KT_ENUM, OFF(log_level), "info", 0, 0, 1,
     "error|warn|info|debug", KC_NONE, "Most verbose level written to stderr."},
    {"server", "workers", KT_INT, OFF(workers), "0", 0, 1024, 0, NULL, KC_NONE,
     "Worker threads for queries, flushes and merges; 0 = number of CPUs."},
    {"server", "shutdown_timeout", KT_DURATION, OFF(shutdown_timeout_ms), "10s",
     0, HOUR, 1, NULL, KC_NONE,
     "How long SIGTERM waits for in-flight requests and flushes before "
     "exiting anyway."},
    {"server", "debug_endpoints", KT_BOOL, OFF(debug_endpoints), "false", 0, 1,
     0, NULL, KC_NONE,
     "Enable POST /api/v1/debug/clock, which shifts the daemon's notion of "
     "now (lifecycle tests). Never enable in production."},

    /* [http] */
    {"http", "max_body_bytes", KT_BYTES, OFF(max_body_bytes), "64MiB", KIB,
     4 * GIB, 1, NULL, KC_NONE,
     "Largest request body after gzip/zstd inflation; larger ones get 413."},
    {"http", "max_line_bytes", KT_BYTES, OFF(max_line_bytes), "1MiB", 256,
     64 * MIB, 1, NULL, KC_NONE,
     "Largest single NDJSON or text line in an ingest body."},
    {"http", "max_connections", KT_INT, OFF(max_connections), "1024", 1,
     1000000, 1, NULL, KC_NONE,
     "Open client connections; requests on connections past this get 503."},
    {"http", "idle_timeout", KT_DURATION, OFF(idle_timeout_ms), "60s", SEC, DAY,
     1, NULL, KC_NONE, "Idle or stalled connections are closed after this."},
    {"http", "max_headers", KT_INT, OFF(max_headers), "100", 1, 10000, 1, NULL,
     KC_NONE, "Most request headers; more get 431."},
    {"http", "max_header_bytes", KT_BYTES, OFF(max_header_bytes), "64KiB", KIB,
     16 * MIB, 1, NULL, KC_NONE, "Largest request line plus headers."},
    {"http", "request_timeout", KT_DURATION, OFF(request_timeout_ms), "30s",
     SEC, HOUR, 1, NULL, KC_NONE,
     "A whole request (headers and body) must arrive within this after the "
     "connection is ready for it (accept, or the previous reply); slower "
     "clients are disconnected (slowloris)."},
    {"http", "access_log", KT_STRING, OFF(access_log), "", 0, STRMAX, 1, NULL,
     KC_NONE,
     "One line per request (method, path, status, bytes, ms, role, token, "
     "client): \"\" = off, \"-\" = into the log at INFO, else a file "
     "that lines are appended to."},

    /* [store] */
    {"store", "wal_sync", KT_DURATION, OFF(wal_sync_ms), "100ms", 0, MINUTE, 0,
     NULL, KC_NONE,
     "Group-commit period of the write-ahead log; 0 = fsync every batch. "
     "Sources are acknowledged only after the fsync."},
    {"store", "wal_file_bytes", KT_BYTES, OFF(wal_file_bytes), "64MiB", MIB,
     16 * GIB, 0, NULL, KC_NONE, "WAL files rotate at this size."},
    {"store", "refresh", KT_DURATION, OFF(refresh_ms), "1s", 10, HOUR, 0, NULL,
     KC_NONE,
     "How often buffered events become searchable (near-real-time delay)."},
    {"store", "flush", KT_DURATION, OFF(flush_ms), "10s", 100, DAY, 0, NULL,
     KC_NONE, "How often searchable in-memory segments are written to disk."},
    {"store", "flush_bytes", KT_BYTES, OFF(flush_bytes), "64MiB", MIB, 64 * GIB,
     0, NULL, KC_NONE, "Flush early once this much is buffered in memory."},
    {"store", "buffer_max_bytes", KT_BYTES, OFF(buffer_max_bytes), "256MiB",
     MIB, TIB, 0, NULL, KC_NONE,
     "Backpressure: past this much unflushed data, ingest pauses (HTTP 429, "
     "Kafka/Redis stop reading). Segments being built count with what "
     "their build allocates, and a running merge's builders count against "
     "it too (up to half)."},
    {"store", "block_bytes", KT_BYTES, OFF(block_bytes), "64KiB", 4 * KIB,
     16 * MIB, 0, NULL, KC_NONE, "Doc-store block size before compression."},
    {"store", "zstd_level", KT_INT, OFF(zstd_level), "3", 1, 22, 0, NULL,
     KC_NONE, "zstd level for hot segments (warm and cold use stronger)."},

    /* [ingest] */
    {"ingest", "message_field", KT_STRING, OFF(message_field), "message", 1,
     256, 0, NULL, KC_NONE, "Field holding the log message text."},
    {"ingest", "timestamp_field", KT_STRING, OFF(timestamp_field), "@timestamp",
     1, 256, 0, NULL, KC_NONE,
     "Field holding the event time (\"timestamp\" and \"ts\" are also "
     "tried)."},
    {"ingest", "service_field", KT_STRING, OFF(service_field), "service.name",
     1, 256, 0, NULL, KC_NONE,
     "Field naming the emitting service (anomaly series key)."},
    {"ingest", "dlq_path", KT_STRING, OFF(dlq_path), "", 0, STRMAX, 0, NULL,
     KC_NONE,
     "Dead-letter file for rejected input; empty = DATA_DIR/dlq.ndjson."},
    {"ingest", "max_fields", KT_INT, OFF(max_fields), "1000", 1, 100000, 0,
     NULL, KC_NONE, "Most fields per event; events with more are rejected."},
    {"ingest", "max_field_name_bytes", KT_BYTES, OFF(max_field_name_bytes),
     "256", 1, 64 * KIB, 0, NULL, KC_NONE, "Longest (dotted) field name."},
    {"ingest", "max_value_bytes", KT_BYTES, OFF(max_value_bytes), "1MiB", 1,
     64 * MIB, 0, NULL, KC_NONE, "Longest single field value."},
    {"ingest", "max_depth", KT_INT, OFF(max_depth), "20", 1, 1000, 0, NULL,
     KC_NONE, "Deepest JSON nesting accepted."},
    {"ingest", "max_future", KT_DURATION, OFF(max_future_ms), "1h", SEC,
     3650 * DAY, 1, NULL, KC_OFF,
     "Events stamped more than this after their arrival (a wrong clock, a "
     "2030 typo) are handled by ingest.future; 0 or off accepts any "
     "time."},
    {"ingest", "future", KT_ENUM, OFF(future_events), "clamp", 0, 0, 1,
     "clamp|reject", KC_NONE,
     "clamp stores such an event at its arrival time with the original in "
     "the field _ts_original; reject sends it to the dead-letter file. "
     "Either way the ingest reply counts it as \"future\"."},
    {"ingest", "multiline", KT_BOOL, OFF(multiline), "true", 0, 1, 0, NULL,
     KC_NONE,
     "Join continuation lines (a stack trace's \"at ...\" lines) to the "
     "event before them, in text bodies and in the messages of JSON, "
     "syslog and broker events of the same stream (docs/ingest.md)."},
    {"ingest", "multiline_pattern", KT_STRING, OFF(multiline_pattern), "", 0,
     1024, 0, NULL, KC_NONE,
     "PCRE2 pattern of continuation lines, replacing the built-in rules "
     "(a leading tab or two spaces, \"at \", \"Caused by:\", "
     "\"Suppressed:\", "
     "\"...\", and text lines without a timestamp of their own)."},
    {"ingest", "multiline_negate", KT_BOOL, OFF(multiline_negate), "false", 0,
     1, 0, NULL, KC_NONE,
     "The lines multiline_pattern does NOT match continue (e.g. pattern "
     "^\\d{4}-\\d{2}-\\d{2} for \"every line not starting with a "
     "date\"), as Filebeat's negate."},
    {"ingest", "multiline_max_lines", KT_INT, OFF(multiline_max_lines), "500",
     2, 100000, 0, NULL, KC_NONE,
     "Most lines in one joined event (its message is also bounded by "
     "http.max_line_bytes); further lines start new events."},
    {"ingest", "multiline_max_gap", KT_DURATION, OFF(multiline_max_gap_ms),
     "5s", 0, HOUR, 0, NULL, KC_NONE,
     "Structured events (JSON, syslog, broker messages) join only when "
     "their timestamps are at most this apart."},
    {"ingest", "text_fields", KT_STRING, OFF(text_fields), "", 0, STRMAX, 0,
     NULL, KC_NONE,
     "Comma list of extra fields indexed as tokenized text (the message "
     "field always is)."},
    {"ingest", "keyword_fields", KT_STRING, OFF(keyword_fields), "", 0, STRMAX,
     0, NULL, KC_NONE,
     "Comma list of fields always indexed as exact keywords."},
    {"ingest", "numeric_fields", KT_STRING, OFF(numeric_fields), "", 0, STRMAX,
     0, NULL, KC_NONE, "Comma list of fields always indexed as numbers."},

    /* [query] */
    {"query", "max_query_bytes", KT_BYTES, OFF(max_query_bytes), "64KiB", 16,
     16 * MIB, 1, NULL, KC_NONE, "Longest query string."},
    {"query", "max_expansion", KT_INT, OFF(max_expansion), "10000", 1, 10000000,
     1, NULL, KC_NONE, "Most terms one wildcard or regex may expand to."},
    {"query", "timeout", KT_DURATION, OFF(query_timeout_ms), "30s", 10, HOUR, 1,
     NULL, KC_NONE,
     "Time budget of one query; past it the answer is partial (200 with "
     "timed_out: true and total relation gte)."},
    {"query", "max_concurrent", KT_INT, OFF(max_concurrent_queries), "16", 1,
     10000, 1, NULL, KC_NONE,
     "Queries running at once (search and Grafana together); more get 503 "
     "with Retry-After."},
    {"query", "max_hits", KT_INT, OFF(max_hits), "10000", 1, 1000000, 1, NULL,
     KC_NONE, "Largest page of hits a query may ask for."},
    {"query", "default_hits", KT_INT, OFF(default_hits), "100", 1, 1000000, 1,
     NULL, KC_NONE, "Hits per page when the query does not say."},
    {"query", "max_tail_subscribers", KT_INT, OFF(max_tail_subscribers), "64",
     0, 10000, 1, NULL, KC_NONE, "Live-tail streams open at once."},
    {"query", "tail_buffer_bytes", KT_BYTES, OFF(tail_buffer_bytes), "1MiB",
     4 * KIB, GIB, 1, NULL, KC_NONE,
     "Unsent bytes per tail stream before the slow client is dropped."},

    /* [kafka] */
    {"kafka", "brokers", KT_STRING, OFF(kafka_brokers), "", 0, STRMAX, 0, NULL,
     KC_NONE,
     "Comma list of bootstrap brokers (host:port); empty = Kafka off."},
    {"kafka", "topics", KT_STRING, OFF(kafka_topics), "", 0, STRMAX, 0, NULL,
     KC_NONE, "Comma list of topics; \"^regex\" subscribes by pattern."},
    {"kafka", "group", KT_STRING, OFF(kafka_group), "sift", 1, 255, 0, NULL,
     KC_NONE, "Consumer group; nodes sharing it split the partitions."},
    {"kafka", "properties", KT_STRING, OFF(kafka_properties), "", 0, STRMAX, 0,
     NULL, KC_NONE,
     "Extra librdkafka properties as k=v,k=v (e.g. security.protocol=ssl)."},
    {"kafka", "instance_id", KT_STRING, OFF(kafka_instance_id), "", 0, 249, 0,
     NULL, KC_NAME_EMPTY,
     "Static group membership id (group.instance.id), unique per node: a "
     "restarted siftd takes its own place in the group at once; empty = "
     "the node id in DATA_DIR/node_id."},
    {"kafka", "format", KT_ENUM, OFF(kafka_format), "auto", 0, 0, 0,
     "auto|json|text|syslog|logfmt", KC_NONE,
     "How each record value is parsed; auto picks per record (JSON, "
     "syslog, logfmt or text)."},
    {"kafka", "extra_fields", KT_STRING, OFF(kafka_extra_fields), "", 0, STRMAX,
     0, NULL, KC_FIELDS,
     "Keyword fields added to every event read from Kafka, as "
     "name=value,name=value (e.g. service.name=billing); an event's own "
     "field of the same name wins."},
    {"kafka", "keep_metadata", KT_BOOL, OFF(kafka_keep_metadata), "false", 0, 1,
     0, NULL, KC_NONE,
     "Keep the @metadata object of Filebeat events as @metadata.* fields."},

    /* [redis] */
    {"redis", "address", KT_STRING, OFF(redis_address), "", 0, 300, 0, NULL,
     KC_HOSTPORT_EMPTY, "Redis server as host:port; empty = Redis off."},
    {"redis", "streams", KT_STRING, OFF(redis_streams), "", 0, STRMAX, 0, NULL,
     KC_NONE, "Comma list of streams read with XREADGROUP."},
    {"redis", "lists", KT_STRING, OFF(redis_lists), "", 0, STRMAX, 0, NULL,
     KC_NONE, "Comma list of lists popped (reliable-queue pattern)."},
    {"redis", "group", KT_STRING, OFF(redis_group), "sift", 1, 255, 0, NULL,
     KC_NONE, "Consumer group for the streams (created if missing)."},
    {"redis", "consumer", KT_STRING, OFF(redis_consumer), "", 0, 255, 0, NULL,
     KC_NONE, "Consumer name in the group; empty = the host name."},
    {"redis", "field", KT_STRING, OFF(redis_field), "message", 1, 255, 0, NULL,
     KC_NONE, "Stream entry field holding the event."},
    {"redis", "format", KT_ENUM, OFF(redis_format), "auto", 0, 0, 0,
     "auto|json|text|syslog|logfmt", KC_NONE,
     "How each stream entry or list value is parsed; auto picks per "
     "message."},
    {"redis", "extra_fields", KT_STRING, OFF(redis_extra_fields), "", 0, STRMAX,
     0, NULL, KC_FIELDS,
     "Keyword fields added to every event read from Redis, as "
     "name=value,name=value; an event's own field of the same name wins."},
    {"redis", "keep_metadata", KT_BOOL, OFF(redis_keep_metadata), "false", 0, 1,
     0, NULL, KC_NONE,
     "Keep the @metadata object of Filebeat events as @metadata.* fields."},

    /* [syslog] */
    {"syslog", "tcp", KT_STRING, OFF(syslog_tcp), "", 0, STRMAX, 0, NULL,
     KC_LISTENERS,
     "Comma list of host:port to take syslog over TCP on (RFC 6587 octet "
     "counting or LF framing, per message), each optionally followed by "
     "blank-separated name=value fields for that listener's events only; "
     "empty = off."},
    {"syslog", "udp", KT_STRING, OFF(syslog_udp), "", 0, STRMAX, 0, NULL,
     KC_LISTENERS,
     "Comma list of host:port to take syslog over UDP on (one message per "
     "datagram), each optionally followed by name=value fields as for tcp; "
     "empty = off."},
    {"syslog", "tls", KT_STRING, OFF(syslog_tls), "", 0, STRMAX, 0, NULL,
     KC_LISTENERS,
     "Comma list of host:port to take syslog over TLS on (RFC 5425: TCP "
     "framing inside TLS, with tls.cert_file and tls.key_file), each "
     "optionally followed by name=value fields as for tcp; empty = off."},
    {"syslog", "format", KT_ENUM, OFF(syslog_format), "syslog", 0, 0, 0,
     "auto|json|text|syslog|logfmt", KC_NONE,
     "How each message is parsed; syslog takes RFC 5424 and RFC 3164 "
     "(a message that is neither is rejected to the dead-letter file)."},
    {"syslog", "extra_fields", KT_STRING, OFF(syslog_extra_fields), "", 0,
     STRMAX, 0, NULL, KC_FIELDS,
     "Keyword fields added to every syslog event, as name=value,name=value; "
     "an event's own field of the same name wins."},
    {"syslog", "durable", KT_BOOL, OFF(syslog_durable), "false", 0, 1, 0, NULL,
     KC_NONE,
     "TCP: read a connection on only once its last batch is in the WAL "
     "(fsync), and deliver a batch the store failed again; slower for one "
     "busy sender. Off: read on at once (a store failure loses the batch, "
     "logged)."},
    {"syslog", "max_message_bytes", KT_BYTES, OFF(syslog_max_message_bytes),
     "64KiB", 480, 16 * MIB, 0, NULL, KC_NONE,
     "Longer messages are cut to this size (counted in "
     "sift_source_messages_truncated_total and logged)."},
    {"syslog", "max_connections", KT_INT, OFF(syslog_max_connections), "1024",
     1, 1000000, 0, NULL, KC_NONE,
     "Open TCP connections per listener; more are closed at once (counted "
     "and logged)."},

    /* [anomaly] */
    {"anomaly", "window", KT_DURATION, OFF(anomaly_window_ms), "10s", SEC, HOUR,
     0, NULL, KC_NONE, "Counting window of the detector."},
    {"anomaly", "ring_size", KT_INT, OFF(anomaly_ring_size), "65536", 1024,
     16777216, 0, NULL, KC_NONE,
     "Records queued from ingest to the detector; overflow is dropped and "
     "counted."},
    {"anomaly", "threshold", KT_INT, OFF(anomaly_threshold), "50", 0, 100, 0,
     NULL, KC_NONE,
     "Score (0-100) at or above which a window of a series is anomalous; 50 "
     "= as unlikely under the series' usual counts as five standard "
     "deviations of a normal (p = 2.9e-7 per series and window)."},
    {"anomaly", "hold_windows", KT_INT, OFF(anomaly_hold_windows), "2", 1, 100,
     0, NULL, KC_NONE,
     "Consecutive windows over the threshold before an alert fires."},
    {"anomaly", "drop_ratio", KT_STRING, OFF(anomaly_drop_ratio), "0.5", 1, 32,
     0, NULL, KC_FRACTION,
     "The fall of a busy service's volume the drop test is tuned to: 0.5 "
     "alerts on a sustained fall to half of its usual volume (or lower); "
     "above 0.95 acts as 0.95."},
    {"anomaly", "drop_windows", KT_INT, OFF(anomaly_drop_windows), "1", 1, 100,
     0, NULL, KC_NONE,
     "Consecutive windows a drop's score must stay over the threshold "
     "before a drop alert fires (the score already accumulates a "
     "sustained fall over windows; a silence scores at once)."},
    {"anomaly", "warmup_windows", KT_INT, OFF(anomaly_warmup_windows), "30", 0,
     100000, 0, NULL, KC_NONE,
     "Windows a new series is observed before it may alert."},
    {"anomaly", "cooldown", KT_DURATION, OFF(anomaly_cooldown_ms), "5m", 0, DAY,
     0, NULL, KC_NONE, "Quiet time after an alert for the same series."},
    {"anomaly", "learning_period", KT_DURATION, OFF(anomaly_learning_period_ms),
     "15m", 0, 30 * DAY, 0, NULL, KC_NONE,
     "Event time a service is seen before its new templates may raise "
     "new_pattern alerts (onboarding: a new service's templates are all "
     "new)."},
    {"anomaly", "max_templates", KT_INT, OFF(max_templates), "10000", 10,
     10000000, 0, NULL, KC_NONE,
     "Most log templates the miner keeps; past it the least recently seen "
     "is evicted."},
    {"anomaly", "alpha", KT_STRING, OFF(anomaly_alpha), "0.05", 1, 32, 0, NULL,
     KC_FRACTION,
     "EWMA weight of each window in a series' baseline; larger follows "
     "change faster."},
    {"anomaly", "resolve_windows", KT_INT, OFF(anomaly_resolve_windows), "3", 1,
     1000, 0, NULL, KC_NONE,
     "Consecutive windows under the threshold before an alert resolves."},
    {"anomaly", "fp_raise", KT_INT, OFF(anomaly_fp_raise), "10", 0, 100, 0,
     NULL, KC_NONE,
     "Threshold points a series gains per alert marked false_positive "
     "(true_positive takes one step back)."},
    {"anomaly", "max_raise", KT_INT, OFF(anomaly_max_raise), "40", 0, 100, 0,
     NULL, KC_NONE, "Bound on the total feedback raise of one series."},
    {"anomaly", "series_thresholds", KT_STRING, OFF(anomaly_series_thresholds),
     "", 0, STRMAX, 0, NULL, KC_SERIES_THR,
     "Per-series base thresholds as series:N,series:N, e.g. "
     "\"service=batch:90,service=api level=error:70\" (series names as in "
     "alerts)."},
    {"anomaly", "idle_flush", KT_DURATION, OFF(anomaly_idle_flush_ms), "0", 0,
     DAY, 0, NULL, KC_NONE,
     "With no events for this long (wall time), the open window closes, and "
     "one more per further idle_flush; 0 = one window."},
    {"anomaly", "max_lateness", KT_DURATION, OFF(anomaly_max_lateness_ms), "1h",
     SEC, 3650 * DAY, 0, NULL, KC_OFF,
     "Windows follow arrival time; an event that happened more than this "
     "before it arrived (an import of history, a long backlog) is counted "
     "as late and not scored, so it cannot look like a spike. 0 or off "
     "scores all."},
    {"anomaly", "max_series", KT_INT, OFF(anomaly_max_series), "20000", 100,
     10000000, 0, NULL, KC_NONE,
     "Most series (service, service+errors, service+template) scored; the "
     "least recently seen is evicted."},
    {"anomaly", "seasonality", KT_BOOL, OFF(anomaly_seasonality), "false", 0, 1,
     0, NULL, KC_NONE,
     "Hour-of-day baselines (UTC) for count series: a daily shape learned "
     "on past days (busy hours, a nightly batch) does not alert.  24 "
     "baselines per series (576 bytes each)."},
    {"anomaly", "seasonality_days", KT_INT, OFF(anomaly_seasonality_days), "2",
     2, 30, 0, NULL, KC_NONE,
     "With seasonality, days of history before the hour-of-day shape has "
     "full weight (it starts after one full day, growing linearly)."},
    {"anomaly", "template_save_interval", KT_DURATION, OFF(template_save_ms),
     "10s", SEC, HOUR, 0, NULL, KC_NONE,
     "How often changed templates are saved to DATA_DIR/templates.txt (also "
     "at stop)."},

    /* [alerts] */
    {"alerts", "webhook_url", KT_STRING, OFF(alert_webhook_url), "", 0, STRMAX,
     0, NULL, KC_URL_EMPTY,
     "http:// URL each alert transition is POSTed to as JSON; empty = off "
     "(https is not supported)."},
    {"alerts", "webhook_timeout", KT_DURATION, OFF(alert_webhook_timeout_ms),
     "5s", SEC, 5 * MINUTE, 0, NULL, KC_NONE,
     "Timeout of one webhook attempt (whole seconds)."},
    {"alerts", "webhook_retries", KT_INT, OFF(alert_webhook_retries), "-1", -1,
     1000, 0, NULL, KC_NONE,
     "Old name of alerts.retries (for every sink now); -1 = not set."},
    {"alerts", "webhook_format", KT_ENUM, OFF(alert_webhook_format), "sift", 0,
     0, 0, "sift|alertmanager", KC_NONE,
     "Body of each webhook POST: sift's alert JSON, or the body "
     "Alertmanager's webhook receivers take (version 4, one alert per "
     "POST)."},
    {"alerts", "webhook_concurrency", KT_INT, OFF(alert_webhook_concurrency),
     "4", 1, 64, 0, NULL, KC_NONE,
     "Webhook POSTs in flight at once (one connection each)."},
    {"alerts", "retries", KT_INT, OFF(alert_retries), "10", 0, 1000, 0, NULL,
     KC_NONE,
     "Re-tries of a notification after a failed try, for every sink; then "
     "it goes to DATA_DIR/outbox/dead.ndjson with its cause."},
    {"alerts", "retry_backoff", KT_DURATION, OFF(alert_backoff_ms), "1s", 10,
     HOUR, 0, NULL, KC_NONE,
     "Wait before the first re-try; it doubles with each failed try, with "
     "random jitter of up to half of it."},
    {"alerts", "retry_backoff_max", KT_DURATION, OFF(alert_backoff_max_ms),
     "5m", 10, DAY, 0, NULL, KC_NONE, "Longest wait between two tries."},
    {"alerts", "outbox_max", KT_INT, OFF(alert_outbox_max), "100000", 100,
     10000000, 0, NULL, KC_NONE,
     "Notifications queued per sink (DATA_DIR/outbox/<sink>.log); past it "
     "the oldest is dead-lettered."},
    {"alerts", "external_url", KT_STRING, OFF(alert_external_url), "", 0, 1000,
     0, NULL, KC_NONE,
     "siftd's URL as its users reach it (http://host:port), for links in "
     "notifications (Alertmanager's generatorURL); empty = no links."},
    {"alerts", "redis_address", KT_STRING, OFF(alert_redis_address), "", 0, 300,
     0, NULL, KC_HOSTPORT_EMPTY,
     "Redis server for alerts as host:port; empty = redis.address."},
    {"alerts", "redis_channel", KT_STRING, OFF(alert_redis_channel), "", 0, 255,
     0, NULL, KC_NONE, "Redis channel alerts are PUBLISHed to; empty = off."},
    {"alerts", "redis_stream", KT_STRING, OFF(alert_redis_stream), "", 0, 255,
     0, NULL, KC_NONE,
     "Redis stream alerts are XADDed to (field \"alert\"); empty = off."},
    {"alerts", "kafka_topic", KT_STRING, OFF(alert_kafka_topic), "", 0, 255, 0,
     NULL, KC_NONE,
     "Kafka topic alerts are produced to (brokers and properties from "
     "[kafka]); empty = off."},
    {"alerts", "max_kept", KT_INT, OFF(alert_max_kept), "10000", 100, 10000000,
     0, NULL, KC_NONE,
     "Alerts kept by the alerts store (DATA_DIR/alerts.ndjson, "
     "/api/v1/alerts); the oldest are dropped."},

    /* [rules] */
    {"rules", "file", KT_STRING, OFF(rules_file), "", 0, STRMAX, 1, NULL,
     KC_NONE,
     "JSON file of alert rules kept in version control (an array of rule "
     "objects, see docs/alerting.md); re-read on SIGHUP; empty = none."},
    {"rules", "interval", KT_DURATION, OFF(rules_interval_ms), "1m", SEC, DAY,
     0, NULL, KC_NONE, "Evaluation interval of rules that give none."},
    {"rules", "delay", KT_DURATION, OFF(rules_delay_ms), "5s", 0, HOUR, 0, NULL,
     KC_NONE,
     "Delay of rules that give none: a rule's window ends this long before "
     "its evaluation, so events up to this late are counted (keep it at "
     "least store.refresh)."},
    {"rules", "max_groups", KT_INT, OFF(rules_max_groups), "100", 1, 10000, 0,
     NULL, KC_NONE,
     "Alerts one group_by rule may have firing, the most extreme first "
     "(rules may set max_groups)."},
    {"rules", "cooldown", KT_DURATION, OFF(rules_cooldown_ms), "5m", 0, DAY, 0,
     NULL, KC_NONE,
     "A rule alert that fires again within this of resolving re-opens "
     "(one incident, one alert)."},
    {"rules", "max_concurrent", KT_INT, OFF(rules_max_concurrent), "2", 1, 64,
     0, NULL, KC_NONE, "Rule evaluations running on workers at once."},
    {"rules", "max_rules", KT_INT, OFF(rules_max), "10000", 1, 1000000, 0, NULL,
     KC_NONE, "Rules siftd keeps (the API's and the rules file's)."},

    /* [tiers] */
    {"tiers", "hot_max_age", KT_DURATION, OFF(hot_max_age_ms), "1h", MINUTE,
     36500 * DAY, 1, NULL, KC_NONE,
     "Segments older than this are merged into the warm tier."},
    {"tiers", "warm_max_age", KT_DURATION, OFF(warm_max_age_ms), "7d", MINUTE,
     36500 * DAY, 1, NULL, KC_NONE,
     "Segments older than this move to the cold tier."},
    {"tiers", "retention", KT_DURATION, OFF(retention_ms), "30d", MINUTE,
     36500 * DAY, 1, NULL, KC_OFF,
     "Events older than this are deleted (each event by its own time, "
     "whatever else shares its segment), and events older than this when "
     "they arrive are not stored: the ingest reply counts them as "
     "\"expired\" and they go to the dead-letter file. 0 or off keeps "
     "everything."},
    {"tiers", "max_disk_bytes", KT_BYTES, OFF(max_disk_bytes), "0", 0,
     INT64_C(1) << 60, 1, NULL, KC_NONE,
     "Delete oldest segments past this total size; 0 = no cap."},
    {"tiers", "cold_path", KT_STRING, OFF(cold_path), "", 0, STRMAX, 0, NULL,
     KC_NONE, "Directory of the cold tier; empty = DATA_DIR/cold."},
    {"tiers", "check_interval", KT_DURATION, OFF(check_interval_ms), "10s", 100,
     DAY, 1, NULL, KC_NONE,
     "How often the lifecycle policy runs (merges, tier moves, retention)."},
    {"tiers", "merge_factor", KT_INT, OFF(merge_factor), "10", 2, 100, 1, NULL,
     KC_NONE,
     "Segments of one size class merged at once; higher = less write "
     "amplification, more segments."},
    {"tiers", "hot_segment_bytes", KT_BYTES, OFF(hot_segment_bytes), "64MiB",
     64 * KIB, 64 * GIB, 1, NULL, KC_NONE,
     "Hot merges stop producing segments larger than this."},
    {"tiers", "merge_memory", KT_BYTES, OFF(merge_memory), "0", 0, TIB, 1, NULL,
     KC_NONE,
     "Most memory one merge may hold in segment builders; past it the "
     "merge writes what it has as a segment of its own and goes on; what "
     "it holds is taken from store.buffer_max_bytes while it runs. Tiered "
     "merges take only segments that fit in one output under it. 0 = "
     "half of store.buffer_max_bytes."},
    {"tiers", "warm_segment_bytes", KT_BYTES, OFF(warm_segment_bytes), "512MiB",
     64 * KIB, 256 * GIB, 1, NULL, KC_NONE,
     "Target size of warm segments (and the unit of a cold merge)."},
    {"tiers", "warm_zstd_level", KT_INT, OFF(warm_zstd_level), "9", 1, 22, 1,
     NULL, KC_NONE, "zstd level of the warm tier's doc store."},
    {"tiers", "cold_zstd_level", KT_INT, OFF(cold_zstd_level), "19", 1, 22, 1,
     NULL, KC_NONE, "zstd level of the cold tier's doc store."},
    {"tiers", "cold_dict_bytes", KT_BYTES, OFF(cold_dict_bytes), "64KiB", 0,
     4 * MIB, 1, NULL, KC_NONE,
     "Size of the zstd dictionary trained per cold merge; 0 = none."},
    {"tiers", "cold_block_bytes", KT_BYTES, OFF(cold_block_bytes), "256KiB",
     4 * KIB, 16 * MIB, 1, NULL, KC_NONE,
     "Doc store block size before compression in the cold tier."},

    /* [auth] (security) */
    {"auth", "tokens", KT_STRING, OFF(auth_tokens), "", 0, 16LL * STRMAX, 1,
     NULL, KC_SECRET,
     "Bearer tokens as name:role:token or name:role:sha256:<64 hex>, "
     "separated by commas or blanks; role is reader, writer, admin or "
     "node (a cluster peer's [cluster] token: the reader routes only). "
     "Empty (and no token_file) = only loopback clients are accepted."},
    {"auth", "token_file", KT_STRING, OFF(auth_token_file), "", 0, STRMAX, 1,
     NULL, KC_NONE,
     "File with one token entry per line ('#' comments); must not be "
     "readable by group or others (chmod 600)."},
    {"auth", "metrics_public", KT_BOOL, OFF(metrics_public), "false", 0, 1, 1,
     NULL, KC_NONE, "GET /metrics without a token (else the reader role)."},

    /* [ratelimit] (security) */
    {"ratelimit", "ingest_rate", KT_INT, OFF(rl_ingest_rate), "0", 0, 1000000,
     1, NULL, KC_NONE,
     "Ingest requests per second per token (or client address when no "
     "token is used); 0 = no limit. Excess gets 429 with Retry-After."},
    {"ratelimit", "ingest_burst", KT_INT, OFF(rl_ingest_burst), "100", 1,
     1000000, 1, NULL, KC_NONE, "Ingest requests allowed in one burst."},
    {"ratelimit", "query_rate", KT_INT, OFF(rl_query_rate), "0", 0, 1000000, 1,
     NULL, KC_NONE,
     "Read requests (search, aggregations, Grafana...) per second per token "
     "or client address; 0 = no limit."},
    {"ratelimit", "query_burst", KT_INT, OFF(rl_query_burst), "50", 1, 1000000,
     1, NULL, KC_NONE, "Read requests allowed in one burst."},
    {"ratelimit", "max_keys", KT_INT, OFF(rl_max_keys), "4096", 16, 1000000, 1,
     NULL, KC_NONE,
     "Tokens/addresses tracked per limit; past this, idle keys are "
     "forgotten."},

    /* [redact] (security) */
    {"redact", "enabled", KT_BOOL, OFF(redact_enabled), "false", 0, 1, 0, NULL,
     KC_NONE, "Redact PII at ingest, before the write-ahead log."},
    {"redact", "builtins", KT_STRING, OFF(redact_builtins), "all", 0, 256, 0,
     NULL, KC_NONE,
     "Built-in rules: all, none, or a comma list of email, ipv4, ipv6, "
     "card, secret (bearer, aws_key, github_token, slack_token, "
     "stripe_key)."},
    {"redact", "rules", KT_STRING, OFF(redact_rules), "", 0, STRMAX, 0, NULL,
     KC_NONE,
     "User rules '<name>[@target,...] <PCRE2 regex>', separated by ';;'."},
    {"redact", "rules_file", KT_STRING, OFF(redact_rules_file), "", 0, STRMAX,
     0, NULL, KC_NONE,
     "File of user rules, one per line ('#' comments); added to rules."},
    {"redact", "fields", KT_STRING, OFF(redact_fields), "*", 1, STRMAX, 0, NULL,
     KC_NONE,
     "Where builtins and unscoped rules apply: * (message and every field) "
     "or a comma list of message, field names and prefix.*."},
    {"redact", "mode", KT_ENUM, OFF(redact_mode), "marker", 0, 0, 0,
     "marker|hash", KC_NONE,
     "marker writes [REDACTED:rule]; hash writes [rule:<HMAC-SHA256 hex>]."},
    {"redact", "hash_key", KT_STRING, OFF(redact_hash_key), "", 0, 1024, 0,
     NULL, KC_SECRET, "HMAC key (>= 16 bytes) for mode = hash; keep secret."},
    {"redact", "hash_length", KT_INT, OFF(redact_hash_length), "8", 4, 64, 0,
     NULL, KC_NONE, "Hex digits of the keyed hash kept in mode = hash."},

    /* [audit] (security) */
    {"audit", "path", KT_STRING, OFF(audit_path), "", 0, STRMAX, 0, NULL,
     KC_NONE,
     "Append-only JSON-lines log of admin actions (mode 0600, reopened on "
     "SIGHUP); empty = written to the log at INFO."},

    /* [tls] (security) */
    {"tls", "listen", KT_STRING, OFF(tls_listen), "", 0, 300, 0, NULL,
     KC_HOSTPORT_EMPTY,
     "HTTPS address as host:port (port 0 = any free); empty = no HTTPS "
     "listener. Needs cert_file and key_file."},
    {"tls", "cert_file", KT_STRING, OFF(tls_cert_file), "", 0, STRMAX, 1, NULL,
     KC_NONE,
     "PEM certificate chain for the HTTPS listener; re-read on SIGHUP."},
    {"tls", "key_file", KT_STRING, OFF(tls_key_file), "", 0, STRMAX, 1, NULL,
     KC_NONE, "PEM private key of cert_file; re-read on SIGHUP."},

    /* [cluster] */
    {"cluster", "node_id", KT_STRING, OFF(cluster_node_id), "", 0, 64, 0, NULL,
     KC_NAME_EMPTY,
     "This node's id (Kafka group.instance.id, Redis consumer name, "
     "X-Sift-Node); empty = the id kept in DATA_DIR/node_id."},
    {"cluster", "peers", KT_STRING, OFF(cluster_peers), "", 0, STRMAX, 0, NULL,
     KC_PEERS,
     "Comma list of every node's http://host:port or https://host:port "
     "(its [tls] listener; this node's own address may be in it); queries "
     "fan out to all of them. Empty = a single node."},
    {"cluster", "timeout", KT_DURATION, OFF(cluster_timeout_ms), "10s", 100,
     HOUR, 0, NULL, KC_NONE,
     "How long a fanned-out query waits for one peer before reporting it "
     "failed under _nodes."},
    {"cluster", "handoff_wait", KT_DURATION, OFF(cluster_handoff_wait_ms),
     "30s", 0, HOUR, 0, NULL, KC_NONE,
     "How long a node that gets a Kafka partition waits for every other "
     "node to say how far it holds it (so nothing is read twice) before "
     "reading anyway."},
    {"cluster", "token", KT_STRING, OFF(cluster_token), "", 0, STRMAX, 0, NULL,
     KC_NONE,
     "Bearer token sent to peers on fanned-out queries and Kafka handoffs "
     "(a node or reader token of theirs); empty = forward the caller's "
     "Authorization header."},
    {"cluster", "ca_file", KT_STRING, OFF(cluster_ca_file), "", 0, STRMAX, 0,
     NULL, KC_NONE,
     "PEM file of the CAs that sign the https:// peers' certificates "
     "(each peer's certificate must name its host); empty = the system's "
     "CAs."},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {
    "server", "http",      "store",   "ingest", "query", "kafka",
    "redis",  "syslog",    "anomaly", "alerts", "rules", "tiers",
    "auth",   "ratelimit", "redact",  "audit",  "tls",   "cluster"};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

static char **
str_field(struct sift_config *cfg, const struct key_def *k)
{
    return (char **)(void *)((char *)cfg + k->offset);
}

static const char *
str_field_c(const struct sift_config *cfg, const struct key_def *k)
{
    return *(char *const *)(const void *)((const char *)cfg + k->offset);
}

static int64_t *
int_field(struct sift_config *cfg, const struct key_def *k)
{
    return (int64_t *)(void *)((char *)cfg + k->offset);
}

static int64_t
int_field_c(const struct sift_config *cfg, const struct key_def *k)
{
    return *(const int64_t *)(const void *)((const char *)cfg + k->offset);
}

static int
is_string_type(enum key_type t)
{
    return t == KT_STRING || t == KT_ENUM;
}

/* ---------------------------------------------------------------------- */
/* Number parsing                                                          */
/* ---------------------------------------------------------------------- */

/* Parses a non-negative decimal prefix; *end points past it. */
static int
parse_count(const char *s, int64_t *out, const char **end)
{
    const char *p = s;
    int64_t v = 0;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p < '0' || *p > '9')
        return SIFT_EINVAL;
    while (*p >= '0' && *p <= '9') {
        int d = *p - '0';
        if (v > (INT64_MAX - d) / 10)
            return SIFT_EINVAL;
        v = v * 10 + d;
        p++;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    *out = v;
    *end = p;
    return SIFT_OK;
}

static int
scale(int64_t v, int64_t mul, int64_t *out)
{
    if (mul != 0 && v > INT64_MAX / mul)
        return SIFT_EINVAL;
    *out = v * mul;
    return SIFT_OK;
}

int
sift_parse_duration_ms(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"", 1},     {"ms", 1},  {"s", SEC},   {"m", MINUTE},
                 {"h", HOUR}, {"d", DAY}, {"sec", SEC}, {"min", MINUTE}};
    const char *end;
    int64_t v;

    if (s == NULL || parse_count(s, &v, &end) < 0)
        return SIFT_EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t n = strlen(units[i].unit);
        if (strncmp(end, units[i].unit, n) != 0)
            continue;
        const char *rest = end + n;
        while (*rest == ' ' || *rest == '\t')
            rest++;
        if (*rest != '\0')
            continue;
        return scale(v, units[i].ms, out);
    }
    return SIFT_EINVAL;
}

int
sift_parse_bytes(const char *s, int64_t *out)
{
    static const struct {
        const char *unit;
        int64_t mul;
    } units[] = {{"", 1},
                 {"b", 1},
                 {"kib", KIB},
                 {"mib", MIB},
                 {"gib", GIB},
                 {"tib", TIB},
                 {"k", KIB},
                 {"m", MIB},
                 {"g", GIB},
                 {"kb", 1000},
                 {"mb", 1000000},
                 {"gb", 1000000000},
                 {"tb", INT64_C(1000000000000)}};
    const char *end;
    int64_t v;

    if (s == NULL || parse_count(s, &v, &end) < 0)
        return SIFT_EINVAL;
    size_t n = strlen(end);
    while (n > 0 && (end[n - 1] == ' ' || end[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].unit) == n &&
            strncasecmp(end, units[i].unit, n) == 0)
            return scale(v, units[i].mul, out);
    }
    return SIFT_EINVAL;
}

SIFT_STATIC int
parse_bool(const char *s, int64_t *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return SIFT_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return SIFT_OK;
        }
    }
    return SIFT_EINVAL;
}

static int
parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s)
        return SIFT_EINVAL;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0')
        return SIFT_EINVAL;
    *out = (int64_t)v;
    return SIFT_OK;
}

/* Renders a value of the key's type in the shortest exact file syntax. */
static void
format_number(enum key_type t, int64_t v, char *out, size_t len)
{
    if (t == KT_DURATION) {
        if (v == 0) {
            snprintf(out, len, "0");
            return;
        }
        static const struct {
            int64_t ms;
            const char *u;
        } u[] = {{DAY, "d"}, {HOUR, "h"}, {MINUTE, "m"}, {SEC, "s"}};
        for (size_t i = 0; i < 4; i++) {
            if (v != 0 && v % u[i].ms == 0) {
                snprintf(out, len, "%" PRId64 "%s", v / u[i].ms, u[i].u);
                return;
            }
        }
        snprintf(out, len, "%" PRId64 "ms", v);
    } else if (t == KT_BYTES) {
        static const struct {
            int64_t b;
            const char *u;
        } u[] = {{TIB, "TiB"}, {GIB, "GiB"}, {MIB, "MiB"}, {KIB, "KiB"}};
        for (size_t i = 0; i < 4; i++) {
            if (v != 0 && v % u[i].b == 0) {
                snprintf(out, len, "%" PRId64 "%s", v / u[i].b, u[i].u);
                return;
            }
        }
        snprintf(out, len, "%" PRId64, v);
    } else if (t == KT_BOOL) {
        snprintf(out, len, "%s", v ? "true" : "false");
    } else {
        snprintf(out, len, "%" PRId64, v);
    }
}

/* ---------------------------------------------------------------------- */
/* Validation of one value                                                 */
/* ---------------------------------------------------------------------- */

static int
check_hostport(const char *v, char *why, size_t why_len)
{
    const char *colon = strrchr(v, ':');
    if (colon == NULL || colon == v) {
        snprintf(why, why_len, "expected host:port, got \"%s\"", v);
        return SIFT_EINVAL;
    }
    if (v[0] == '[' && colon[-1] != ']') {
        snprintf(why, why_len, "expected [ipv6]:port, got \"%s\"", v);
        return SIFT_EINVAL;
    }
    int64_t port;
    if (parse_int(colon + 1, &port) < 0 || port < 0 || port > 65535 ||
        colon[1] == '\0' || colon[1] == ' ') {
        snprintf(why, why_len, "port must be a number 0-65535, got \"%s\"", v);
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

/* ---------------------------------------------------------------------- */
/* [syslog] listener lists                                                 */
/* ---------------------------------------------------------------------- */

#define LISTENER_ADDR_MAX 320

static int
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

void
sift_config_listeners_free(struct sift_config_listener *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sift_free(v[i].addr);
        sift_free(v[i].fields);
    }
    sift_free(v);
}

int
sift_config_listeners(const char *list, struct sift_config_listener **out,
                      size_t *n_out, char *why, size_t why_len)
{
    struct sift_config_listener *v = NULL;
    size_t n = 0;
    int rc = SIFT_OK;
    const char *p = list ? list : "";
    while (*p) {
        while (is_blank(*p) || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && !is_blank(*e))
            e++;
        if ((size_t)(e - p) >= LISTENER_ADDR_MAX) {
            snprintf(why, why_len, "address too long");
            rc = SIFT_EINVAL;
            goto out;
        }
        v = sift_xrealloc(v, (n + 1) * sizeof(*v));
        v[n].addr = sift_xstrndup(p, (size_t)(e - p));
        v[n].fields = NULL;
        n++;
        /* Its fields, up to the next comma: name=value words. */
        struct sift_buf f = SIFT_BUF_INIT;
        p = e;
        while (*p && *p != ',') {
            while (is_blank(*p))
                p++;
            e = p;
            while (*e && *e != ',' && !is_blank(*e))
                e++;
            size_t len = (size_t)(e - p);
            if (len > 0 && (len >= LISTENER_ADDR_MAX || *p == '=' ||
                            !memchr(p, '=', len))) {
                snprintf(why, why_len,
                         "a listener's fields are name=value words after "
                         "its host:port, got \"%.*s\"",
                         (int)(len > 64 ? 64 : len), p);
                sift_buf_cleanup(&f);
                rc = SIFT_EINVAL;
                goto out;
            }
            if (len > 0) {
                if (f.len)
                    sift_buf_putc(&f, ',');
                sift_buf_append(&f, p, len);
            }
            p = e;
        }
        v[n - 1].fields = sift_xstrdup(f.len ? sift_buf_cstr(&f) : "");
        sift_buf_cleanup(&f);
    }
out:
    if (rc < 0) {
        sift_config_listeners_free(v, n);
        v = NULL;
        n = 0;
    }
    *out = v;
    *n_out = n;
    return rc;
}

/* [syslog] tcp/udp/tls: the listener grammar, each address host:port. */
static int
check_listeners(const char *v, char *why, size_t why_len)
{
    struct sift_config_listener *l = NULL;
    size_t n = 0;
    int rc = sift_config_listeners(v, &l, &n, why, why_len);
    for (size_t i = 0; i < n && rc == SIFT_OK; i++)
        rc = check_hostport(l[i].addr, why, why_len);
    sift_config_listeners_free(l, n);
    return rc;
}

/* "http://host:port, http://host:port": each item an http URL with a
 * port and no path; at most SIFT_CLUSTER_MAX_PEERS of them.  The cluster
 * module reads the same grammar (sift_cluster_new). */
static int
check_peers(const char *v, char *why, size_t why_len)
{
    size_t n = 0;
    const char *p = v;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        char item[320];
        size_t len = (size_t)(e - p);
        size_t sl = strncmp(p, "https://", 8) == 0 ? 8 : 7;
        if (len <= sl || len >= sizeof(item) ||
            (strncmp(p, "http://", 7) != 0 && sl == 7)) {
            snprintf(why, why_len,
                     "each peer must be http://host:port or https://host:port, "
                     "got \"%.*s\"",
                     (int)(len < 200 ? len : 200), p);
            return SIFT_EINVAL;
        }
        memcpy(item, p + sl, len - sl);
        item[len - sl] = '\0';
        if (item[0] && item[strlen(item) - 1] == '/')
            item[strlen(item) - 1] = '\0';
        if (strchr(item, '/') != NULL ||
            check_hostport(item, why, why_len) < 0 ||
            strcmp(strrchr(item, ':'), ":0") == 0) {
            snprintf(why, why_len,
                     "each peer must be http(s)://host:port (a port above 0, "
                     "no path), got \"%.*s\"",
                     (int)(len < 200 ? len : 200), p);
            return SIFT_EINVAL;
        }
        if (++n > SIFT_CLUSTER_MAX_PEERS) {
            snprintf(why, why_len, "at most %d peers", SIFT_CLUSTER_MAX_PEERS);
            return SIFT_EINVAL;
        }
        p = e;
    }
    return SIFT_OK;
}

static int
check_fraction(const char *v, char *why, size_t why_len)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    while (*end == ' ' || *end == '\t')
        end++;
    if (errno != 0 || end == v || *end != '\0' || !(d > 0 && d <= 1)) {
        snprintf(why, why_len,
                 "expected a number above 0 and at most 1, "
                 "got \"%s\"",
                 v);
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

/* "series:N,series:N": each item has a name and, after its last ':', an
 * integer 0..100.  The anomaly service parses the same grammar. */
static int
check_series_thresholds(const char *v, char *why, size_t why_len)
{
    const char *p = v;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == ':')
                colon = p + i;
        }
        int64_t thr = -1;
        char num[16];
        size_t nlen = colon ? len - (size_t)(colon + 1 - p) : 0;
        if (colon && nlen > 0 && nlen < sizeof(num)) {
            memcpy(num, colon + 1, nlen);
            num[nlen] = '\0';
            if (parse_int(num, &thr) < 0)
                thr = -1;
        }
        size_t name_len = colon ? (size_t)(colon - p) : 0;
        while (name_len > 0 && p[name_len - 1] == ' ')
            name_len--;
        const char *name = p;
        while (name_len > 0 && *name == ' ') {
            name++;
            name_len--;
        }
        if (!colon || name_len == 0 || name_len >= 96 || thr < 0 || thr > 100) {
            snprintf(why, why_len,
                     "expected series:N (N 0-100) items separated by ',', "
                     "got \"%.*s\"",
                     (int)len, p);
            return SIFT_EINVAL;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return SIFT_OK;
}

/*
 * Parses value for key k into cfg.  On failure writes the reason into why
 * and leaves cfg unchanged.
 */
static int
apply_value(struct sift_config *cfg, const struct key_def *k, const char *value,
            char *why, size_t why_len)
{
    char a[32], b[32];
    int64_t v = 0;
    int rc;

    if (is_string_type(k->type)) {
        size_t len = strlen(value);
        if (k->type == KT_ENUM) {
            size_t n = strlen(value);
            const char *c = k->choices;
            int found = 0;
            while (*c != '\0' && !found) {
                size_t m = strcspn(c, "|");
                found = m == n && n > 0 && strncmp(c, value, n) == 0;
                c += m;
                if (*c == '|')
                    c++;
            }
            if (!found) {
                snprintf(why, why_len, "must be one of %s, got \"%s\"",
                         k->choices, value);
                return SIFT_EINVAL;
            }
        } else if ((int64_t)len < k->min) {
            snprintf(why, why_len, "must not be empty");
            return SIFT_EINVAL;
        } else if ((int64_t)len > k->max) {
            snprintf(why, why_len, "longer than %" PRId64 " bytes", k->max);
            return SIFT_EINVAL;
        }
        if (k->check == KC_HOSTPORT ||
            (k->check == KC_HOSTPORT_EMPTY && len > 0)) {
            if (check_hostport(value, why, why_len) < 0)
                return SIFT_EINVAL;
        }
        if (k->check == KC_URL_EMPTY && len > 0 &&
            strncmp(value, "http://", 7) != 0) {
            snprintf(why, why_len,
                     "must start with http:// (https is not "
                     "supported)");
            return SIFT_EINVAL;
        }
        if (k->check == KC_FRACTION && check_fraction(value, why, why_len) < 0)
            return SIFT_EINVAL;
        if (k->check == KC_SERIES_THR &&
            check_series_thresholds(value, why, why_len) < 0)
            return SIFT_EINVAL;
        if (k->check == KC_FIELDS &&
            sift_kvlist_walk(value, NULL, NULL, why, why_len) < 0)
            return SIFT_EINVAL;
        if (k->check == KC_LISTENERS &&
            check_listeners(value, why, why_len) < 0)
            return SIFT_EINVAL;
        if (k->check == KC_PEERS && check_peers(value, why, why_len) < 0)
            return SIFT_EINVAL;
        if (k->check == KC_NAME_EMPTY &&
            strspn(value, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "0123456789._-") != len) {
            snprintf(why, why_len,
                     "only letters, digits, '.', '_' and '-' are allowed, "
                     "got \"%s\"",
                     value);
            return SIFT_EINVAL;
        }
        char **f = str_field(cfg, k);
        sift_free(*f);
        *f = sift_xstrdup(value);
        return SIFT_OK;
    }

    switch (k->type) {
    case KT_INT:
        rc = parse_int(value, &v);
        if (rc < 0)
            snprintf(why, why_len, "expected an integer, got \"%s\"", value);
        break;
    case KT_BOOL:
        rc = parse_bool(value, &v);
        if (rc < 0)
            snprintf(why, why_len, "expected true or false, got \"%s\"", value);
        break;
    case KT_DURATION:
        rc = sift_parse_duration_ms(value, &v);
        if (rc < 0)
            snprintf(why, why_len,
                     "expected a duration like 250ms, 10s, 5m, 2h or 7d, "
                     "got \"%s\"",
                     value);
        break;
    case KT_BYTES:
        rc = sift_parse_bytes(value, &v);
        if (rc < 0)
            snprintf(why, why_len,
                     "expected a size like 512, 64KiB, 16MiB or 2GiB, got "
                     "\"%s\"",
                     value);
        break;
    default:
        rc = SIFT_EINVAL;
        snprintf(why, why_len, "internal: bad key type");
        break;
    }
    if (rc < 0 && k->check == KC_OFF && strcasecmp(value, "off") == 0) {
        v = 0;
        rc = SIFT_OK;
    }
    if (rc < 0)
        return rc;
    if (k->check == KC_OFF && v == 0) {
        *int_field(cfg, k) = 0;
        return SIFT_OK;
    }
    if (k->type != KT_BOOL && (v < k->min || v > k->max)) {
        format_number(k->type, k->min, a, sizeof(a));
        format_number(k->type, k->max, b, sizeof(b));
        snprintf(why, why_len, "%s is out of range (%s to %s)", value, a, b);
        return SIFT_EINVAL;
    }
    *int_field(cfg, k) = v;
    return SIFT_OK;
}

static const struct key_def *
find_key(const char *section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) == 0 &&
            strcmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

static int
section_known(const char *section)
{
    for (size_t i = 0; i < N_SECTIONS; i++) {
        if (strcmp(sections[i], section) == 0)
            return 1;
    }
    return 0;
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
report(sift_config_error_cb cb, void *arg, const char *fmt, ...)
{
    struct sift_config_error e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    if (cb != NULL)
        cb(e.msg, arg);
}

/* ---------------------------------------------------------------------- */
/* Init, cleanup, copy                                                     */
/* ---------------------------------------------------------------------- */

void
sift_config_init(struct sift_config *cfg)
{
    char why[256];

    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < N_KEYS; i++) {
        if (is_string_type(keys[i].type))
            *str_field(cfg, &keys[i]) = sift_xstrdup(keys[i].def);
    }
    for (size_t i = 0; i < N_KEYS; i++) {
        /* A default that fails its own validation is a programming error;
         * test_config_defaults_valid catches it before release. */
        int rc = apply_value(cfg, &keys[i], keys[i].def, why, sizeof(why));
        assert(rc == SIFT_OK);
        (void)rc;
    }
}

void
sift_config_cleanup(struct sift_config *cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        if (is_string_type(keys[i].type)) {
            char **f = str_field(cfg, &keys[i]);
            sift_free(*f);
            *f = NULL;
        }
    }
    sift_free(cfg->source_path);
    cfg->source_path = NULL;
}

void
sift_config_copy(struct sift_config *dst, const struct sift_config *src)
{
    memcpy(dst, src, sizeof(*dst));
    for (size_t i = 0; i < N_KEYS; i++) {
        if (is_string_type(keys[i].type)) {
            const char *s = str_field_c(src, &keys[i]);
            *str_field(dst, &keys[i]) = sift_xstrdup(s != NULL ? s : "");
        }
    }
    dst->source_path =
        src->source_path != NULL ? sift_xstrdup(src->source_path) : NULL;
}

/* ---------------------------------------------------------------------- */
/* File loading                                                            */
/* ---------------------------------------------------------------------- */

struct load_ctx {
    struct sift_config *cfg;
    const char *path;
    sift_config_error_cb on_error;
    void *arg;
    const char *text; /* whole file, NUL-terminated */
    size_t pos;
    int lineno;       /* line last handed to inih */
    int section_ok;   /* the current section is known */
    char section[64]; /* current section, for lines we parse ourselves */
    int n_errors;
};

/* Reports "path:line: what[: why]" and counts it. */
static void
load_error(struct load_ctx *c, int line, const char *what, const char *why)
{
    report(c->on_error, c->arg, "%s:%d: %s%s%s", c->path, line, what,
           why != NULL ? ": " : "", why != NULL ? why : "");
    c->n_errors++;
}

static int on_pair(void *user, const char *section, const char *name,
                   const char *value);

/* Handles a line too long for inih: "key = value [; comment]". */
static void
long_line(struct load_ctx *c, const char *p, size_t len)
{
    if (p[0] == ';' || p[0] == '#')
        return;
    if (p[0] == '[') {
        load_error(c, c->lineno, "section header too long", NULL);
        return;
    }
    char *line = sift_xstrndup(p, len);
    char *eq = strpbrk(line, "=:");
    if (eq == NULL) {
        load_error(c, c->lineno, "expected 'key = value'", NULL);
        goto out;
    }
    char *name_end = eq;
    while (name_end > line && (name_end[-1] == ' ' || name_end[-1] == '\t'))
        name_end--;
    *name_end = '\0';
    char *value = eq + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    char *comment = strstr(value, " ;");
    if (comment == NULL)
        comment = strstr(value, "\t;");
    if (comment != NULL) {
        *comment = '\0';
        size_t vlen = strlen(value);
        while (vlen > 0 && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
            value[--vlen] = '\0';
    }
    on_pair(c, c->section, line, value);
out:
    sift_free(line);
}

/*
 * Our ini_reader: hands inih one line at a time so c->lineno is the line
 * the handler is about to see, and checks what inih would only count.
 */
static char *
read_line(char *str, int num, void *stream)
{
    struct load_ctx *c = stream;
    const char *p = c->text + c->pos;

    if (*p == '\0')
        return NULL;
    size_t len = strcspn(p, "\n");
    c->pos += len + (p[len] == '\n');
    c->lineno++;

    /* Leading blanks are not significant in our files; stripping them
     * keeps inih from treating an indented key as a continuation. */
    while (len > 0 && (*p == ' ' || *p == '\t')) {
        p++;
        len--;
    }
    size_t trimmed = len;
    while (trimmed > 0 && (p[trimmed - 1] == '\r' || p[trimmed - 1] == ' ' ||
                           p[trimmed - 1] == '\t'))
        trimmed--;

    if (trimmed + 2 > (size_t)num) {
        /* inih's line buffer is small (200 bytes in Debian's build);
         * long values such as kafka.properties are split here. */
        long_line(c, p, trimmed);
        str[0] = '\n';
        str[1] = '\0';
        return str;
    }
    if (trimmed > 0 && p[0] != ';' && p[0] != '#') {
        if (p[0] == '[') {
            const char *close = memchr(p, ']', trimmed);
            if (close == NULL) {
                load_error(c, c->lineno, "missing ']' in section header", NULL);
                trimmed = 0;
            } else {
                char name[64];
                size_t n = (size_t)(close - p - 1);
                if (n >= sizeof(name))
                    n = sizeof(name) - 1;
                memcpy(name, p + 1, n);
                name[n] = '\0';
                c->section_ok = section_known(name);
                memcpy(c->section, name, n + 1);
                if (!c->section_ok) {
                    char what[80];
                    snprintf(what, sizeof(what), "[%s]", name);
                    load_error(c, c->lineno, what, "unknown section");
                }
            }
        } else if (memchr(p, '=', trimmed) == NULL &&
                   memchr(p, ':', trimmed) == NULL) {
            load_error(c, c->lineno, "expected 'key = value'", NULL);
            trimmed = 0;
        }
    }
    memcpy(str, p, trimmed);
    str[trimmed] = '\n';
    str[trimmed + 1] = '\0';
    return str;
}

static int
on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *c = user;
    char why[200], what[200];

    if (section[0] == '\0') {
        load_error(c, c->lineno, name, "key outside of any [section]");
        return 1;
    }
    if (!c->section_ok)
        return 1; /* the section header was already reported */
    const struct key_def *k = find_key(section, name);
    if (k == NULL) {
        snprintf(what, sizeof(what), "%s.%s", section, name);
        load_error(c, c->lineno, what, "unknown key");
        return 1;
    }
    if (apply_value(c->cfg, k, value, why, sizeof(why)) < 0) {
        snprintf(what, sizeof(what), "%s.%s", section, name);
        load_error(c, c->lineno, what, why);
    }
    return 1;
}

int
sift__config_load_buffer(struct sift_config *cfg, const char *name,
                         const char *text, size_t len,
                         sift_config_error_cb on_error, void *arg)
{
    struct load_ctx c;

    if (memchr(text, '\0', len) != NULL) {
        report(on_error, arg, "%s: config file contains a NUL byte", name);
        return SIFT_ECONFIG;
    }
    char *copy = sift_xstrndup(text, len);
    memset(&c, 0, sizeof(c));
    c.cfg = cfg;
    c.path = name;
    c.on_error = on_error;
    c.arg = arg;
    c.text = copy;
    c.section_ok = 1;
    int irc = ini_parse_stream(read_line, &c, on_pair, &c);
    if (irc == -2) {
        report(on_error, arg, "%s: out of memory while parsing", name);
        c.n_errors++;
    } else if (irc > 0 && c.n_errors == 0) {
        /* inih found something our reader did not; still say where. */
        report(on_error, arg, "%s:%d: syntax error", name, irc);
        c.n_errors++;
    }
    sift_free(copy);
    if (c.n_errors > 0)
        return SIFT_ECONFIG;
    sift_free(cfg->source_path);
    cfg->source_path = sift_xstrdup(name);
    return SIFT_OK;
}

int
sift_config_load_file(struct sift_config *cfg, const char *path,
                      sift_config_error_cb on_error, void *arg)
{
    char *text = NULL;
    size_t len = 0;

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int rc = -errno;
        report(on_error, arg, "%s: cannot open config file: %s", path,
               sift_strerror(rc));
        return rc;
    }
    /* Config files are small; read it whole so the reader can see lines. */
    int rc = sift_file_read_fd(fd, (size_t)16 * MIB, &text, &len);
    close(fd);
    if (rc == SIFT_ELIMIT) {
        report(on_error, arg, "%s: config file larger than 16MiB", path);
        return SIFT_ECONFIG;
    }
    if (rc < 0) {
        report(on_error, arg, "%s: cannot read config file: %s", path,
               sift_strerror(rc));
        return rc;
    }
    rc = sift__config_load_buffer(cfg, path, text, len, on_error, arg);
    sift_free(text);
    return rc;
}

int
sift_config_set(struct sift_config *cfg, const char *assignment,
                sift_config_error_cb on_error, void *arg)
{
    char sec[64], name[128], why[200];

    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (eq == NULL || dot == NULL || dot > eq || dot == assignment ||
        dot + 1 == eq) {
        report(on_error, arg,
               "--set %s: expected SECTION.KEY=VALUE (e.g. "
               "server.log_level=debug)",
               assignment);
        return SIFT_ECONFIG;
    }
    size_t slen = (size_t)(dot - assignment);
    size_t nlen = (size_t)(eq - dot - 1);
    if (slen >= sizeof(sec) || nlen >= sizeof(name)) {
        report(on_error, arg, "--set %.*s: unknown key", (int)(eq - assignment),
               assignment);
        return SIFT_ECONFIG;
    }
    memcpy(sec, assignment, slen);
    sec[slen] = '\0';
    memcpy(name, dot + 1, nlen);
    name[nlen] = '\0';
    const char *value = eq + 1;
    while (*value == ' ' || *value == '\t')
        value++;

    const struct key_def *k = find_key(sec, name);
    if (k == NULL) {
        report(on_error, arg, "--set %s.%s: %s", sec, name,
               section_known(sec) ? "unknown key" : "unknown section");
        return SIFT_ECONFIG;
    }
    if (apply_value(cfg, k, value, why, sizeof(why)) < 0) {
        report(on_error, arg, "--set %s.%s: %s", sec, name, why);
        return SIFT_ECONFIG;
    }
    return SIFT_OK;
}

int
sift_config_check(const struct sift_config *cfg, sift_config_error_cb on_error,
                  void *arg)
{
    int n = 0;
    if (cfg->default_hits > cfg->max_hits) {
        report(on_error, arg,
               "query.default_hits: %" PRId64
               " is larger than query.max_hits (%" PRId64 ")",
               cfg->default_hits, cfg->max_hits);
        n++;
    }
    if (cfg->max_line_bytes > cfg->max_body_bytes) {
        report(on_error, arg,
               "http.max_line_bytes: larger than http.max_body_bytes");
        n++;
    }
    if (cfg->flush_bytes > cfg->buffer_max_bytes) {
        report(on_error, arg,
               "store.flush_bytes: larger than store.buffer_max_bytes");
        n++;
    }
    if (cfg->hot_max_age_ms > cfg->warm_max_age_ms) {
        report(on_error, arg,
               "tiers.hot_max_age: longer than tiers.warm_max_age");
        n++;
    }
    if (cfg->kafka_brokers[0] != '\0' && cfg->kafka_topics[0] == '\0') {
        report(on_error, arg,
               "kafka.topics: must be set when kafka.brokers is");
        n++;
    }
    if (cfg->redis_address[0] != '\0' && cfg->redis_streams[0] == '\0' &&
        cfg->redis_lists[0] == '\0') {
        report(on_error, arg,
               "redis.streams: redis.streams or redis.lists must be set when "
               "redis.address is");
        n++;
    }
    /* ---- security ---- */
    if (cfg->tls_listen[0] != '\0' &&
        (cfg->tls_cert_file[0] == '\0' || cfg->tls_key_file[0] == '\0')) {
        report(on_error, arg,
               "tls.listen: tls.cert_file and tls.key_file must be set when "
               "tls.listen is");
        n++;
    }
    if (cfg->syslog_tls[0] != '\0' &&
        (cfg->tls_cert_file[0] == '\0' || cfg->tls_key_file[0] == '\0')) {
        report(on_error, arg,
               "syslog.tls: tls.cert_file and tls.key_file must be set when "
               "syslog.tls is");
        n++;
    }
    if (cfg->redact_enabled && strcmp(cfg->redact_mode, "hash") == 0 &&
        strlen(cfg->redact_hash_key) < 16) {
        report(on_error, arg,
               "redact.hash_key: mode = hash needs a key of at least 16 "
               "bytes");
        n++;
    }
    return n > 0 ? SIFT_ECONFIG : SIFT_OK;
}

/* ---------------------------------------------------------------------- */
/* Reload                                                                  */
/* ---------------------------------------------------------------------- */

static int
key_differs(const struct sift_config *a, const struct sift_config *b,
            const struct key_def *k)
{
    if (is_string_type(k->type))
        return strcmp(str_field_c(a, k), str_field_c(b, k)) != 0;
    return int_field_c(a, k) != int_field_c(b, k);
}

static void
value_text(const struct sift_config *cfg, const struct key_def *k, char *out,
           size_t len)
{
    if (k->check == KC_SECRET)
        snprintf(out, len, "%s", str_field_c(cfg, k)[0] ? "(secret)" : "\"\"");
    else if (is_string_type(k->type))
        snprintf(out, len, "\"%s\"", str_field_c(cfg, k));
    else
        format_number(k->type, int_field_c(cfg, k), out, len);
}

void
sift_config_diff(const struct sift_config *old_cfg,
                 const struct sift_config *new_cfg, unsigned *changed_live,
                 unsigned *changed_restart, sift_config_error_cb on_note,
                 void *arg)
{
    char a[128], b[128];
    unsigned live = 0, restart = 0;

    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        if (!key_differs(old_cfg, new_cfg, k))
            continue;
        if (k->reloadable) {
            live++;
            continue;
        }
        restart++;
        value_text(old_cfg, k, a, sizeof(a));
        value_text(new_cfg, k, b, sizeof(b));
        report(on_note, arg,
               "%s.%s changed from %s to %s: requires a restart (keeping %s)",
               k->section, k->name, a, b, a);
    }
    if (changed_live != NULL)
        *changed_live = live;
    if (changed_restart != NULL)
        *changed_restart = restart;
}

void
sift_config_keep_restart_keys(struct sift_config *new_cfg,
                              const struct sift_config *old_cfg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        if (k->reloadable || !key_differs(old_cfg, new_cfg, k))
            continue;
        if (is_string_type(k->type)) {
            char **f = str_field(new_cfg, k);
            sift_free(*f);
            *f = sift_xstrdup(str_field_c(old_cfg, k));
        } else {
            *int_field(new_cfg, k) = int_field_c(old_cfg, k);
        }
    }
}

/* ---------------------------------------------------------------------- */
/* Generated documentation                                                 */
/* ---------------------------------------------------------------------- */

static const char *
type_name(const struct key_def *k)
{
    switch (k->type) {
    case KT_STRING: return "string";
    case KT_INT: return "integer";
    case KT_BOOL: return "bool";
    case KT_DURATION: return "duration";
    case KT_BYTES: return "size";
    case KT_ENUM: return "enum";
    }
    return "?";
}

static void
range_text(const struct key_def *k, char *out, size_t len)
{
    char a[32], b[32];
    if (k->type == KT_ENUM) {
        snprintf(out, len, "%s", k->choices);
    } else if (k->type == KT_STRING) {
        if (k->check == KC_HOSTPORT)
            snprintf(out, len, "host:port");
        else if (k->check == KC_HOSTPORT_EMPTY)
            snprintf(out, len, "host:port or empty");
        else if (k->check == KC_URL_EMPTY)
            snprintf(out, len, "http URL or empty");
        else if (k->check == KC_FRACTION)
            snprintf(out, len, "above 0 to 1");
        else if (k->check == KC_SERIES_THR)
            snprintf(out, len, "series:N list or empty");
        else if (k->check == KC_NAME_EMPTY)
            snprintf(out, len, "[A-Za-z0-9._-] or empty");
        else if (k->check == KC_FIELDS)
            snprintf(out, len, "name=value list or empty");
        else if (k->min > 0)
            snprintf(out, len, "non-empty");
        else
            snprintf(out, len, "-");
    } else if (k->type == KT_BOOL) {
        snprintf(out, len, "true/false");
    } else {
        format_number(k->type, k->min, a, sizeof(a));
        format_number(k->type, k->max, b, sizeof(b));
        snprintf(out, len, "%s%s to %s", k->check == KC_OFF ? "0/off, or " : "",
                 a, b);
    }
}

void
sift_config_dump_reference(FILE *out)
{
    char range[128];
    const char *section = "";

    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(out, "%s### [%s]\n\n", i == 0 ? "" : "\n", section);
            fprintf(out, "| Key | Type | Default | Range | On SIGHUP | "
                         "Description |\n");
            fprintf(out, "|---|---|---|---|---|---|\n");
        }
        range_text(k, range, sizeof(range));
        for (char *c = range; *c != '\0'; c++) {
            if (*c == '|')
                *c = '/'; /* a pipe would split the Markdown cell */
        }
        fprintf(out, "| `%s.%s` | %s | %s%s%s | %s | %s | %s |\n", section,
                k->name, type_name(k), k->def[0] != '\0' ? "`" : "",
                k->def[0] != '\0' ? k->def : "(empty)",
                k->def[0] != '\0' ? "`" : "", range,
                k->reloadable ? "applied" : "restart", k->doc);
    }
}

/* Writes text as "# " comment lines of at most 78 columns. */
static void
put_wrapped_comment(FILE *out, const char *text)
{
    const char *p = text;
    while (*p != '\0') {
        size_t len = strlen(p);
        size_t cut = len;
        if (len > 76) {
            cut = 76;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = strcspn(p, " ");
        }
        fprintf(out, "# %.*s\n", (int)cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

void
sift_config_dump_sample(FILE *out)
{
    char range[128];
    const char *section = "";

    fprintf(out,
            "# siftd.conf - configuration of the sift log daemon.\n"
            "#\n"
            "# Every key is listed with its default, commented out: siftd "
            "runs with no\n"
            "# config at all.  Uncomment a key to change it.  Durations take "
            "ms, s, m,\n"
            "# h, d (\"250ms\", \"10s\", \"7d\"; a bare number is ms); sizes "
            "take KiB,\n"
            "# MiB, GiB (KB, MB, GB are powers of 1000; a bare number is "
            "bytes).\n"
            "# Keys marked [restart] are only read at start; SIGHUP reports "
            "them.\n"
            "# Check a file with: siftd --check-config -c FILE\n"
            "# Reference: docs/configuration.md (generated from the same "
            "table).\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        if (strcmp(section, k->section) != 0) {
            section = k->section;
            fprintf(out, "\n[%s]\n", section);
        }
        range_text(k, range, sizeof(range));
        fputc('\n', out);
        put_wrapped_comment(out, k->doc);
        fprintf(out, "# %s, %s%s\n#%s = %s\n", type_name(k), range,
                k->reloadable ? "" : " [restart]", k->name, k->def);
    }
}

void
sift_config_each(const struct sift_config *cfg, sift_config_value_cb cb,
                 void *arg)
{
    for (size_t i = 0; i < N_KEYS; i++) {
        const struct key_def *k = &keys[i];
        struct sift_config_value v = {.section = k->section, .name = k->name};
        if (is_string_type(k->type)) {
            v.kind = SIFT_CONFIG_STRING;
            v.str = str_field_c(cfg, k);
            /* Secrets never leave the process, not even to admins. */
            if (k->check == KC_SECRET && v.str[0] != '\0')
                v.str = "***";
        } else {
            v.kind = k->type == KT_BOOL ? SIFT_CONFIG_BOOL : SIFT_CONFIG_INT;
            v.num = int_field_c(cfg, k);
        }
        cb(arg, &v);
    }
}
