/*
 * cli_int.h - what the files of `sift`, the command-line client, share.
 *
 * The client is a program of its own, not part of libsift: it talks to
 * siftd only over the documented HTTP API (libcurl), reads replies with
 * jansson and keeps no state between runs.  Files:
 *
 *   main.c        subcommand table, help texts, dispatch
 *   util.c        buffers, option parsing shared by every subcommand,
 *                 error lines, exit codes
 *   settings.c    server URL, token, colour: flags > SIFT_* env > file
 *   http.c        one libcurl handle, retries with back-off, error lines
 *   render.c      terminal output: hits, colours, tables, bars, escaping
 *   batch.c       cuts ingest input into request bodies (text, NDJSON,
 *                 _bulk pairs), labels NDJSON events
 *   cmd_search.c  search (cursor pages) and tail (reconnecting stream)
 *   cmd_ingest.c  ingest (batches, back-off, accepted/rejected report)
 *   cmd_agg.c     hist, terms, stats, fields, patterns
 *   cmd_admin.c   alerts, delete
 *   cmd_status.c  status, and the Prometheus text it reads
 *
 * Conventions: functions shared between these files are sift__cli_*,
 * declared here; file-local ones are static.  Every string a struct here
 * holds is owned by that struct unless its comment says "borrowed".
 * Single-threaded; the only signal handler sets cli_interrupted.
 */
#ifndef SIFT_CLI_INT_H
#define SIFT_CLI_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <getopt.h>

#include <jansson.h>

#include "sift/error.h"

/* Exit statuses (documented in sift(1) and docs/cli.md). */
#define CLI_EXIT_OK 0    /* done; for ingest: every event accepted */
#define CLI_EXIT_FAIL 1  /* server error, unreachable, rejected events */
#define CLI_EXIT_USAGE 2 /* bad command line or configuration file */

#define CLI_DEFAULT_URL "http://127.0.0.1:7700"

/* Set by the SIGINT/SIGTERM handler; long loops poll it. */
extern volatile sig_atomic_t sift__cli_interrupted;

/* ---- growable buffer (always NUL-terminated when data != NULL) ---- */

struct cli_buf {
    char *data;
    size_t len;
    size_t cap;
};

#define CLI_BUF_INIT                                                           \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

/** Appends len bytes; aborts on OOM (the client holds one batch). */
void sift__cli_buf_add(struct cli_buf *b, const void *p, size_t len);
/** Appends printf-formatted text. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void
sift__cli_buf_addf(struct cli_buf *b, const char *fmt, ...);
/** Frees the storage; the buffer is empty and reusable. */
void sift__cli_buf_free(struct cli_buf *b);

/** malloc/realloc/strdup that abort with a message on OOM. */
void *sift__cli_xrealloc(void *p, size_t n);
char *sift__cli_xstrdup(const char *s);

/* ---- settings (settings.c) ---- */

enum cli_color { CLI_COLOR_AUTO = 0, CLI_COLOR_ALWAYS, CLI_COLOR_NEVER };

struct cli_settings {
    char *url;         /* base URL, no trailing slash */
    char *token;       /* bearer token or NULL */
    char *cacert;      /* CA bundle for https, or NULL */
    char *config_path; /* the file read, or NULL when none */
    enum cli_color color;
    int color_set;    /* color came from a flag or NO_COLOR */
    double timeout_s; /* whole request (0 = none); streams ignore it */
    int retries;      /* extra attempts after 429/503/unreachable */
};

/* What the command line said (NULL/-1: not given). */
struct cli_flags {
    const char *url, *token, *config, *cacert, *color;
    double timeout_s;
    int retries;
};

/**
 * Fills s from flags, then the environment (SIFT_URL, SIFT_TOKEN,
 * SIFT_CONFIG, SIFT_CACERT, NO_COLOR), then the configuration file
 * ($SIFT_CONFIG, else $XDG_CONFIG_HOME/sift/config, else
 * ~/.config/sift/config; a missing default file is no error).  Earlier
 * sources win.  Returns SIFT_OK, or SIFT_ECONFIG with a one-line message
 * in err (unknown key, unreadable file, bad value).  Warns on stderr when
 * the file holds a token and others may read it.  Borrows flags; s owns
 * what it holds (release with sift__cli_settings_cleanup()).
 */
int sift__cli_settings_load(struct cli_settings *s, const struct cli_flags *f,
                            char *err, size_t err_len);
void sift__cli_settings_cleanup(struct cli_settings *s);

/**
 * Parses the text of a configuration file into s, keeping values s
 * already has (they came from flags or the environment).  name is used in
 * messages.  Returns SIFT_OK or SIFT_ECONFIG with "name:LINE: ..." in err.
 */
int sift__cli_settings_parse(struct cli_settings *s, const char *name,
                             const char *text, char *err, size_t err_len);

/* ---- HTTP (http.c) ---- */

struct cli_http;

/* One request.  Strings are borrowed for the duration of the call. */
struct cli_req {
    const char *method;        /* "GET" or "POST" */
    const char *path;          /* "/api/v1/search" */
    const char *const *params; /* name, value, ..., NULL: query string;
                                  NULL values are left out */
    const char *content_type;  /* POST body type */
    const char *body;
    size_t body_len;
    int idempotent;     /* 1: retry on any transport error too */
    int idle_timeout_s; /* streams: end after this long without a byte */
    int no_retry;       /* 1: one attempt whatever happens */
    /* Streaming: called for each complete line (without '\n') instead of
     * collecting the body; return non-zero to stop the transfer. */
    int (*on_line)(void *arg, const char *line, size_t len);
    /* Streaming: called once the status line and headers are in. */
    void (*on_status)(void *arg, long status);
    void *line_arg; /* for both callbacks */
};

struct cli_reply {
    long status;          /* HTTP status, 0 when no answer came */
    struct cli_buf body;  /* the whole body (not for streams) */
    double retry_after_s; /* Retry-After, -1 when absent */
    int sent;             /* 1 when the request may have reached the server */
    int aborted;          /* the line callback or an interrupt stopped it */
    char err[256];        /* transport error text when status == 0 */
    int attempts;         /* attempts made (retries + 1) */
};

/**
 * Makes the client; borrows s for its whole life.  Returns NULL (with a
 * message on stderr) when libcurl cannot start.
 */
struct cli_http *sift__cli_http_new(const struct cli_settings *s,
                                    const char *command);
void sift__cli_http_free(struct cli_http *h);

/**
 * Sends one request and fills out (initialised here; release its body
 * with sift__cli_buf_free()).  Retries, up to the settings' retries with
 * exponential back-off (Retry-After when the server sends one), on 429
 * and 503 (the server did nothing), on a connection that could not be
 * made, and, when req->idempotent, on any transport error.  Returns
 * SIFT_OK when some HTTP answer arrived (any status: the caller judges
 * it), SIFT_EIO when none did (out->err says why), SIFT_ESHUTDOWN when
 * interrupted.
 */
int sift__cli_http_do(struct cli_http *h, const struct cli_req *req,
                      struct cli_reply *out);

/**
 * Prints the one-line error for a failed reply to stderr:
 * "sift: COMMAND: 400 query_parse: expected ')' at 2" (the server's JSON
 * error), "sift: COMMAND: 502 Bad Gateway" (no JSON), or the transport
 * error.  Returns CLI_EXIT_FAIL.
 */
int sift__cli_http_fail(struct cli_http *h, const struct cli_reply *r);

/** The base URL (borrowed). */
const char *sift__cli_http_url(const struct cli_http *h);

/**
 * Back-off before attempt n (1 = first retry): min(cap, base * 2^(n-1))
 * with the upper half jittered by rnd in [0,1); a server's Retry-After
 * (>= 0) wins when larger, up to max_s.  Pure.
 */
double sift__cli_backoff_s(int n, double base_s, double cap_s,
                           double retry_after_s, double rnd);

/** Sleeps seconds unless interrupted; returns 0, or -1 when interrupted. */
int sift__cli_sleep(double seconds);

/** Parses a JSON reply body; NULL (and a message) when it is not JSON. */
json_t *sift__cli_json(struct cli_http *h, const struct cli_reply *r);

/* ---- rendering (render.c) ---- */

struct cli_out {
    FILE *f;
    int color;   /* emit ANSI colours */
    int utf8;    /* the terminal takes UTF-8 block characters */
    int columns; /* terminal width */
};

/** Sets up o for stdout according to the settings' colour choice. */
void sift__cli_out_init(struct cli_out *o, enum cli_color color);

/**
 * Writes s[0..len) for a terminal: control characters (ESC included) and
 * invalid UTF-8 become \xNN, so a log line cannot drive the terminal;
 * newlines become "\n" + indent when indent is non-NULL, else "\n"
 * escaped as \n.  Borrows everything.
 */
void sift__cli_put_safe(FILE *f, const char *s, size_t len, const char *indent);

/** Writes s escaped for a TSV cell (\t \n \r \\ as escapes). */
void sift__cli_put_tsv(FILE *f, const char *s, size_t len);

/** Human line for one hit: time, level (coloured), service, message. */
void sift__cli_hit_human(struct cli_out *o, json_t *hit);
/** The message only, as stored. */
void sift__cli_hit_raw(struct cli_out *o, json_t *hit);
/** Tab-separated values of the named fields (time, message, ... or any
 *  name in "fields"). names is a NULL-terminated list. */
void sift__cli_hit_tsv(struct cli_out *o, json_t *hit,
                       const char *const *names);
/** One compact JSON line. */
void sift__cli_json_line(FILE *f, json_t *v);

/** "2026-11-22T10:00:02.123Z" from the hit's time (ns precision cut). */
void sift__cli_time_short(const char *rfc3339, char *out, size_t out_len);

/**
 * A bar of `cells` eighths: full blocks then one partial block (UTF-8),
 * or '#' per whole cell when !utf8.  Writes into out (NUL-terminated,
 * truncated to out_len).
 */
void sift__cli_bar(char *out, size_t out_len, uint64_t value, uint64_t max,
                   int width, int utf8);

/** Human size: "512 B", "2.2 KiB", "3.1 GiB". */
void sift__cli_bytes(char *out, size_t out_len, double bytes);

/* ---- ingest batching (batch.c) ---- */

enum cli_format {
    CLI_FMT_AUTO = 0, /* sniff: '{' -> NDJSON, else text */
    CLI_FMT_TEXT,     /* lines of text (server: syslog/logfmt/free text) */
    CLI_FMT_NDJSON,   /* one JSON object per line */
    CLI_FMT_BULK,     /* Elasticsearch _bulk: action line + source line */
};

/* A label added to NDJSON / _bulk source events (--field k=v). */
struct cli_label {
    const char *key;   /* borrowed; "a.b" also finds {"a":{"b":..}} */
    const char *value; /* borrowed; always sent as a JSON string */
};

struct cli_batcher {
    enum cli_format format;
    size_t max_events; /* events per request */
    size_t max_bytes;  /* body bytes per request (an event longer than
                          this goes alone) */
    const struct cli_label *labels;
    size_t n_labels;
    /* the batch being built */
    struct cli_buf body;
    size_t n_events;
    uint64_t *lines; /* input line number of each body line */
    size_t n_lines, cap_lines;
    size_t *starts; /* body line index where each item starts: items are
                       what the server numbers in its reply (each line for
                       /api/v1/ingest, each action for _bulk) */
    size_t n_items, cap_items;
    /* _bulk: an action line waiting for its source line */
    struct cli_buf action;
    uint64_t action_line;
    int action_kind; /* 0 none, 1 needs a source, 2 malformed */
    int event_ts;    /* text: the last event's first line looks stamped */
};

void sift__cli_batcher_init(struct cli_batcher *b, enum cli_format format,
                            size_t max_events, size_t max_bytes,
                            const struct cli_label *labels, size_t n_labels);
void sift__cli_batcher_cleanup(struct cli_batcher *b);

/**
 * Offers one input line (without its newline) numbered line_no.  Returns
 * 1 when the current batch must be sent BEFORE this line is taken (the
 * caller sends, calls sift__cli_batcher_reset() and offers the same line
 * again; the line was not taken), 0 when the line was taken or skipped (blank
 * lines, as the server skips them).  A text line that continues the
 * previous event (see sift__cli_is_continuation()) never starts a new
 * batch, so a stack trace stays in one request; an _bulk action stays
 * with its source line.
 */
int sift__cli_batcher_offer(struct cli_batcher *b, const char *line, size_t len,
                            uint64_t line_no);
/**
 * At the end of the input: an _bulk action still waiting for its source
 * goes into the batch alone (the server answers it "missing source
 * line").  Returns 1 when the batch must be sent first (then call again).
 */
int sift__cli_batcher_finish(struct cli_batcher *b);
/** Empties the batch (keeps a pending _bulk action). */
void sift__cli_batcher_reset(struct cli_batcher *b);

/**
 * Appends line to out with the labels the event lacks added at its start
 * ("key":"value", JSON-escaped); the rest of the line is copied byte for
 * byte (jansson only reads it: re-encoding would change numbers such as
 * 0.1).  A key the event already has, flat or nested, keeps the event's
 * value.  A line that is not a JSON object is copied unchanged (the
 * server rejects it with its reason).  Returns the number of labels
 * added.
 */
size_t sift__cli_label_line(const char *line, size_t len,
                            const struct cli_label *labels, size_t n_labels,
                            struct cli_buf *out);

/**
 * Whether a text line continues the previous event by its start: a tab
 * or two spaces then text, "at ", "Caused by:", "Suppressed:" or "...":
 * siftd's built-in multi-line rules (docs/ingest.md).
 */
int sift__cli_is_continuation(const char *line, size_t len);

/**
 * A guess whether a text line starts with a timestamp: a digit, "<PRI>"
 * or a month abbreviation, after an optional '['.
 */
int sift__cli_looks_timestamped(const char *line, size_t len);

/* ---- Prometheus text (cmd_status.c) ---- */

struct cli_sample {
    char name[128];
    char labels[512]; /* raw text between the braces */
    double value;
};

/**
 * Parses one line of the Prometheus text format into out.  Returns 1 for
 * a sample, 0 for a comment or blank line, -1 for a malformed line.
 */
int sift__cli_prom_line(const char *line, size_t len, struct cli_sample *out);
/** Copies the value of label `name` from a raw label list; 0 if found. */
int sift__cli_prom_label(const char *labels, const char *name, char *out,
                         size_t out_len);

/* ---- subcommands and their options (util.c) ---- */

struct cli_ctx {
    const char *command; /* "search", ... (for messages) */
    const char *help;    /* the command's --help text (borrowed) */
    struct cli_flags flags;
    struct cli_settings settings;
    struct cli_http *http; /* after sift__cli_connect() */
    struct cli_out out;
};

/* Options every subcommand takes (ids above any short option). */
enum {
    CLI_OPT_URL = 1000,
    CLI_OPT_TOKEN,
    CLI_OPT_CONFIG,
    CLI_OPT_COLOR,
    CLI_OPT_TIMEOUT,
    CLI_OPT_CACERT,
    CLI_OPT_RETRIES,
    CLI_OPT_FIRST_LOCAL /* subcommands number their long-only options
                           from here */
};

#define CLI_GLOBAL_OPTIONS                                                     \
    {"url", required_argument, NULL, CLI_OPT_URL},                             \
        {"token", required_argument, NULL, CLI_OPT_TOKEN},                     \
        {"config", required_argument, NULL, CLI_OPT_CONFIG},                   \
        {"color", required_argument, NULL, CLI_OPT_COLOR},                     \
        {"colour", required_argument, NULL, CLI_OPT_COLOR},                    \
        {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                 \
        {"cacert", required_argument, NULL, CLI_OPT_CACERT},                   \
        {"retries", required_argument, NULL, CLI_OPT_RETRIES},                 \
        {"help", no_argument, NULL, 'h'},                                      \
    {                                                                          \
        NULL, 0, NULL, 0                                                       \
    }

#define CLI_CONTINUE (-1)

/**
 * Handles an option getopt_long() returned that the subcommand does not
 * know: the global ones, -h/--help (prints ctx->help), and errors ('?',
 * ':'; an unknown option gets the closest known name as a hint).
 * Returns CLI_CONTINUE, or the exit status to end with (0 after --help,
 * CLI_EXIT_USAGE).  opts is the table passed to getopt_long().
 */
int sift__cli_opt_common(struct cli_ctx *ctx, int c, char **argv,
                         const struct option *opts);

/**
 * Loads the settings and opens the HTTP client.  Returns CLI_CONTINUE,
 * or an exit status after printing why.
 */
int sift__cli_connect(struct cli_ctx *ctx);
void sift__cli_ctx_cleanup(struct cli_ctx *ctx);

/**
 * Calls cb for the raw text of each element of the top-level array
 * member `key` of the JSON object js[0..len), in order, so hits can be
 * printed byte for byte as the server wrote them (jansson would rewrite
 * 0.1 as 0.10000000000000001).  Stops when cb returns non-zero.  Returns
 * the number of elements visited, or -1 when js is not such an object
 * (a missing key visits nothing and returns 0).
 */
long sift__cli_json_items(const char *js, size_t len, const char *key,
                          int (*cb)(void *arg, const char *item, size_t n),
                          void *arg);

/**
 * Prints the reply's "warnings" (sentences siftd adds when it read the
 * request in a way its letter does not force: a lower-case "or" taken as
 * OR, an unknown field) to stderr, one "sift: COMMAND: warning: ..." line
 * each.  Borrows root.
 */
void sift__cli_warnings(const struct cli_ctx *ctx, json_t *root);

/** Shortest "%g" text of v that reads back as v ("0.1", "1121"). */
void sift__cli_real(char *out, size_t out_len, double v);

/** Parses a non-negative integer option; CLI_CONTINUE or usage error. */
int sift__cli_opt_uint(const struct cli_ctx *ctx, const char *name,
                       const char *arg, uint64_t max, uint64_t *out);

/** Closest of the candidate names (edit distance <= 2), or NULL. */
const char *sift__cli_suggest(const char *word, const char *const *names);

typedef int (*cli_cmd_cb)(struct cli_ctx *ctx, int argc, char **argv);

int sift__cli_cmd_search(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_tail(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_ingest(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_hist(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_terms(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_fields(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_patterns(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_alerts(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_delete(struct cli_ctx *ctx, int argc, char **argv);
int sift__cli_cmd_status(struct cli_ctx *ctx, int argc, char **argv);

/**
 * Prints "sift: COMMAND: message" to stderr and returns CLI_EXIT_USAGE
 * (with a hint to run --help).
 */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int
sift__cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...);

/** Prints "sift: COMMAND: message" to stderr; returns CLI_EXIT_FAIL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int
sift__cli_fail(const struct cli_ctx *ctx, const char *fmt, ...);

#endif /* SIFT_CLI_INT_H */
