/*
 * parse.h - turning the bytes shippers send into struct sift_event.
 *
 * Formats: JSON (Filebeat/ECS objects), plain text lines (timestamp and
 * level sniffed), syslog (RFC 5424, RFC 3164, rsyslog's FileFormat and
 * ForwardFormat), logfmt, and "auto" which picks one per line.  The
 * Elasticsearch _bulk body (action line + source line pairs) has its own
 * entry point, sift_bulk_parse(), which returns the items; api/ writes
 * the per-item answer from them (sift_render_bulk() in render.h).
 *
 * Memory: the parser allocates nothing that outlives the call except from
 * the caller's arena.  Every pointer in a produced event borrows from the
 * input line, from the arena, or from static storage (normalized level
 * names); so an event is valid while both the input and the arena are.
 * One-off scratch larger than the stack (the JSON token array of a big
 * event) is heap memory released before the call returns.
 *
 * Errors: SIFT_EPARSE (the bytes are not the format) and SIFT_ELIMIT (a
 * configured limit was exceeded) come with a reason string for the
 * dead-letter store ("invalid JSON at byte 17", "more than 1000 fields",
 * "nesting deeper than 32").  Nothing is ever truncated silently.
 *
 * Threads: pure functions over caller-owned state; any thread, one arena
 * per thread.  Compiled options are read-only and may be shared.
 * Design notes and measurements: docs/internals/parse.md.
 */
#ifndef SIFT_PARSE_H
#define SIFT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"
#include "sift/event.h"

struct sift_arena;
struct sift_config;
struct sift__parse_compiled;
struct sift_multiline;

enum sift_parse_format {
    SIFT_PARSE_AUTO = 0, /* '{' -> json, '<PRI>' -> syslog, else text */
    SIFT_PARSE_JSON = 1,
    SIFT_PARSE_TEXT = 2,
    SIFT_PARSE_SYSLOG = 3,
    SIFT_PARSE_LOGFMT = 4,
};

/*
 * Per-source parse options.  A transparent value type: call
 * sift_parse_opts_init() for the defaults, change what you need, then
 * sift_parse_opts_compile() before the first sift_parse_event().  String
 * members are borrowed until compiled: the compiled form keeps copies of
 * the names and lists, so the strings may go afterwards (a configuration
 * reload frees the ones it replaces) and the parser reads only the
 * copies.  Limits are counted as documented in docs/ingest.md.
 */
struct sift_parse_opts {
    enum sift_parse_format format;
    const char *message_field; /* "message" */
    const char
        *timestamp_field;       /* "@timestamp"; then "timestamp","ts","time" */
    const char *service_field;  /* "service.name"; then fields.service,
                                   program, syslog.appname, app */
    const char *extra_fields;   /* "k=v,k=v" (or k:v): KEYWORD fields on
                                   every event that lacks them; NULL or
                                   "" = none */
    const char *text_fields;    /* comma lists of field names whose type */
    const char *keyword_fields; /* is forced (TEXT / KEYWORD / NUMBER); */
    const char *numeric_fields; /* NULL or "" = none */
    uint32_t max_fields;        /* per event, excluding derived/static */
    uint32_t max_field_name_bytes; /* dotted name */
    uint32_t max_value_bytes;      /* one field value after unescaping */
    uint32_t max_depth;            /* JSON nesting (top object = 1), <= 128 */
    uint32_t max_line_bytes;       /* one line / one event */
    bool keep_metadata;            /* keep JSON "@metadata.*" as fields */
    /* Continuation lines of sift_parse_lines() bodies join the event
     * before them (include/sift/multiline.h); borrowed, NULL = off. */
    const struct sift_multiline *multiline;
    /* private: set by sift_parse_opts_compile() */
    struct sift__parse_compiled *compiled;
};

#define SIFT_PARSE_REASON_MAX 160

/** Why a line was rejected; filled only when a call fails. */
struct sift_parse_error {
    int rc;           /* SIFT_EPARSE, SIFT_ELIMIT or SIFT_ENOMEM */
    size_t offset;    /* byte offset in the line, when meaningful */
    size_t line_no;   /* 1-based in sift_parse_lines(); 0 otherwise */
    const char *line; /* the offending line, borrowed from the input */
    size_t line_len;
    char reason[SIFT_PARSE_REASON_MAX]; /* NUL-terminated, for the DLQ */
};

/**
 * Fills o with the defaults: format auto, "message", "@timestamp",
 * "service.name", no extra fields or type lists, max_fields 1000,
 * max_field_name_bytes 256, max_value_bytes 32 KiB, max_depth 32,
 * max_line_bytes 1 MiB.  o->compiled is NULL.  Any thread.
 */
void sift_parse_opts_init(struct sift_parse_opts *o);

/**
 * The format called s ("auto", "json", "text", "syslog", "logfmt") into
 * *out; SIFT_OK or SIFT_EINVAL.  Pure.
 */
int sift_parse_format_from_name(const char *s, enum sift_parse_format *out);

/**
 * Copies the [ingest] keys of cfg into o (names, limits, type lists) over
 * the defaults.  The string members borrow from cfg.  Call
 * sift_parse_opts_compile() afterwards.  Any thread.
 */
void sift_parse_opts_from_config(struct sift_parse_opts *o,
                                 const struct sift_config *cfg);

/**
 * Validates o and prepares the lookup tables (extra fields, type lists).
 * Recompiling releases the previous compiled form.  Returns SIFT_OK or
 * SIFT_EINVAL with err->reason set (bad "k=v" list, zero limit,
 * max_depth over 128).  err may be NULL.  Release with
 * sift_parse_opts_cleanup().  Not thread-safe on the same o.
 */
int sift_parse_opts_compile(struct sift_parse_opts *o,
                            struct sift_parse_error *err);

/** Releases the compiled form; o can be compiled again. */
void sift_parse_opts_cleanup(struct sift_parse_opts *o);

/**
 * Parses one event from line[0..len) (no trailing newline expected; a
 * trailing "\n" or "\r\n" is ignored).  recv_ns is the arrival time, used
 * when the event has no timestamp (and for the year of syslog dates).
 *
 * o must be compiled.  On success *out holds the event; its pointers
 * borrow from line, arena and static storage; out->raw is line.  On
 * failure *out is unspecified and err (which may be NULL) says why.
 *
 * Returns SIFT_OK, SIFT_EPARSE, SIFT_ELIMIT, or SIFT_ENOMEM (the arena
 * could not grow).  Any thread.
 */
int sift_parse_event(const struct sift_parse_opts *o, const char *line,
                     size_t len, int64_t recv_ns, struct sift_arena *arena,
                     struct sift_event *out, struct sift_parse_error *err);

/**
 * Called once per non-empty line by sift_parse_lines().  rc is SIFT_OK
 * with ev set (err NULL), or the failure code with err set (ev NULL).
 * Both are borrowed for the call (the event's pointers live as long as
 * the body and the arena).  Return non-zero to stop the walk.
 */
typedef int (*sift_parse_line_cb)(void *arg, int rc, struct sift_event *ev,
                                  const struct sift_parse_error *err);

/** Counts from one sift_parse_lines() call. */
struct sift_parse_stats {
    size_t n_lines;  /* non-empty lines seen */
    size_t n_events; /* events reported (a joined one counts once) */
    size_t n_errors; /* rejected (each reported to the callback) */
    size_t n_joined; /* lines joined into the event before them */
};

/**
 * Splits body[0..len) on '\n' (dropping one trailing '\r' per line and
 * skipping empty lines) and parses each line with sift_parse_event().
 * With o->multiline, continuation lines (include/sift/multiline.h) are
 * joined to the event before them instead of being reported: an event is
 * reported once the next line is known not to continue it, its message
 * then holds its lines joined by '\n' (arena) and its raw spans them.
 * A line longer than o->max_line_bytes is reported as SIFT_ELIMIT.
 * stats may be NULL.  Returns SIFT_OK, or the callback's non-zero value
 * when it stopped the walk, or SIFT_ENOMEM.  Any thread.
 */
int sift_parse_lines(const struct sift_parse_opts *o, const char *body,
                     size_t len, int64_t recv_ns, struct sift_arena *arena,
                     sift_parse_line_cb cb, void *arg,
                     struct sift_parse_stats *stats);

/**
 * Parses an RFC 3339 timestamp ("2024-05-14T09:21:07.412345+00:00", any
 * fraction length, 'Z' or offset; a space may replace 'T'; no zone =
 * UTC) into ns since the epoch.  Returns SIFT_OK or SIFT_EPARSE.  Pure.
 */
int sift_parse_rfc3339(const char *s, size_t len, int64_t *out_ns);

/**
 * Normalizes a level word (case-insensitive) to one of the static
 * strings "trace", "debug", "info", "notice", "warn", "error", "fatal";
 * returns NULL when the word is not a known level.  Pure.
 */
const char *sift_parse_level_normalize(const char *s, size_t len);

/* ------------------------------------------------------------------ */
/* Elasticsearch _bulk                                                 */
/* ------------------------------------------------------------------ */

enum sift_bulk_action {
    SIFT_BULK_INVALID = 0, /* the action line was malformed */
    SIFT_BULK_INDEX = 1,
    SIFT_BULK_CREATE = 2,
    SIFT_BULK_DELETE = 3, /* not supported: item status 400 */
    SIFT_BULK_UPDATE = 4, /* not supported: item status 400 */
};

/*
 * One bulk item.  status is 201 when ev holds a parsed event (whose fields
 * _index and _id, KEYWORD, are the item's: searchable, and replacing any
 * the source had); otherwise a 4xx with error_type (static) and
 * error_reason (arena, NUL-terminated).  The handler may set 200 (an
 * index that replaced a stored document: "result":"updated") or 409.
 * The HTTP handler may overwrite status/error_* (e.g. 429 or 503 when the
 * store refuses the batch) before building the response.
 */
struct sift_bulk_item {
    uint8_t action;    /* enum sift_bulk_action */
    uint16_t status;   /* HTTP status for this item */
    const char *index; /* action's _index, else the default index */
    uint32_t index_len;
    const char *id; /* action's _id, else generated (arena) */
    uint32_t id_len;
    bool id_given;   /* the action named the _id */
    const char *raw; /* the item's bytes: action and source lines */
    uint32_t raw_len;
    size_t line_no;         /* 1-based line of the action in the body */
    struct sift_event ev;   /* valid when status == 201 */
    const char *error_type; /* NULL when status == 201 */
    const char *error_reason;
};

/** The result of one _bulk body.  Release with sift_bulk_cleanup(). */
struct sift_bulk {
    struct sift_bulk_item *items; /* heap, n_items long */
    size_t n_items;
    size_t n_errors; /* items with status != 201 */
    size_t cap;      /* private */
};

/**
 * Parses an Elasticsearch _bulk NDJSON body.  Each index/create action
 * line is followed by a source line, parsed as a JSON event with o (the
 * format in o is ignored: sources are JSON).  delete/update actions and
 * malformed lines become items with status 400 (the request as a whole
 * still succeeds, like Elasticsearch does for per-item failures).
 * default_index (may be NULL) is used when an action has no _index;
 * missing _id gets a generated one.  Item strings and events borrow from
 * body and arena.
 *
 * out is initialised by this call; release with sift_bulk_cleanup() even
 * on failure.  Returns SIFT_OK, SIFT_EPARSE (the body holds no action at
 * all, with err set) or SIFT_ENOMEM.  Any thread.
 */
int sift_bulk_parse(const struct sift_parse_opts *o, const char *body,
                    size_t len, const char *default_index, int64_t recv_ns,
                    struct sift_arena *arena, struct sift_bulk *out,
                    struct sift_parse_error *err);

/** Releases the item array; the struct is empty and reusable. */
void sift_bulk_cleanup(struct sift_bulk *b);

/* ------------------------------------------------------------------ */
/* OTLP logs (OpenTelemetry)                                           */
/* ------------------------------------------------------------------ */

/**
 * Decodes an OTLP/HTTP logs request, an ExportLogsServiceRequest in
 * binary protobuf (json 0) or OTLP/JSON (json 1), and hands one event
 * per LogRecord to cb, in request order: rc SIFT_OK with the event, or
 * SIFT_ELIMIT with err when the record breaks a limit of o (err->line is
 * the record's bytes, err->line_no its 1-based number in the request).
 * The mapping (attributes, severity, body, ids, times) is in
 * docs/ingest.md.  o->format is ignored.  Events borrow from body and
 * arena; their raw is NULL.
 *
 * Returns SIFT_OK; SIFT_EPARSE when body is not a valid request (err
 * says where; drop whatever cb was given: nothing of such a body may be
 * stored); SIFT_ENOMEM; or cb's non-zero value when it stopped the walk.
 * err may be NULL.  Any thread.
 */
int sift_otlp_logs_parse(const struct sift_parse_opts *o, int json,
                         const char *body, size_t len, int64_t recv_ns,
                         struct sift_arena *arena, sift_parse_line_cb cb,
                         void *arg, struct sift_parse_error *err);

/* ------------------------------------------------------------------ */
/* The Loki push API                                                   */
/* ------------------------------------------------------------------ */

/**
 * Decodes a Loki push request, logproto.PushRequest in binary protobuf
 * (json 0; already snappy-decompressed) or JSON (json 1), and hands one
 * event per entry to cb as sift_otlp_logs_parse() does: the line parsed
 * with o (format auto: its fields, level, message), at the entry's
 * timestamp, with the stream's labels and the entry's structured
 * metadata as keyword fields (the line's own fields win); mapping in
 * docs/ingest.md.  Returns SIFT_OK, SIFT_EPARSE (not a valid request:
 * store none of it), SIFT_ENOMEM or cb's stop value.  Any thread.
 */
int sift_loki_push_parse(const struct sift_parse_opts *o, int json,
                         const char *body, size_t len, int64_t recv_ns,
                         struct sift_arena *arena, sift_parse_line_cb cb,
                         void *arg, struct sift_parse_error *err);

/* ------------------------------------------------------------------ */
/* The journal export format (systemd-journal-upload)                  */
/* ------------------------------------------------------------------ */

/**
 * Decodes a body in the journal export format (text and binary fields,
 * entries separated by an empty line) and hands one event per entry to
 * cb as sift_otlp_logs_parse() does: MESSAGE parsed with o, the entry's
 * realtime timestamp, host.name, service.name, log.level and process.pid
 * from the journal's fields, every other field (valid UTF-8) as a
 * keyword field under its journal name; mapping in docs/ingest.md.  The
 * whole body is checked before cb runs.  Returns SIFT_OK, SIFT_EPARSE
 * (not the export format: store none of it), SIFT_ENOMEM or cb's stop
 * value.  Any thread.
 */
int sift_journal_export_parse(const struct sift_parse_opts *o, const char *body,
                              size_t len, int64_t recv_ns,
                              struct sift_arena *arena, sift_parse_line_cb cb,
                              void *arg, struct sift_parse_error *err);

#endif /* SIFT_PARSE_H */
