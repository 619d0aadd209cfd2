/*
 * parse_int.h - shared state of the parse module (not a public header).
 *
 * Each format parser fills a struct sift__pctx: it adds fields with
 * sift__pctx_add() (which enforces the limits and applies the type lists)
 * and may set the message and timestamp directly.  sift__pctx_finish()
 * then applies the rules common to all formats: message / timestamp /
 * level / service fields, static extra fields, and fills the event.
 */
#ifndef SIFT_PARSE_INT_H
#define SIFT_PARSE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sift/event.h"
#include "sift/parse.h"

#define SIFT__PARSE_MAX_DEPTH_CAP 128u
#define SIFT__PARSE_N_TS 5 /* timestamp_field + 4 fallbacks */

struct sift__parse_name {
    const char *s;
    uint32_t len;
    uint8_t type; /* enum sift_ftype, for the type lists */
};

/* What sift_parse_opts_compile() prepares; read-only afterwards. */
struct sift__parse_compiled {
    char *storage;             /* heap copy the names below point into */
    struct sift_field *extras; /* static "k=v" fields, KEYWORD */
    uint32_t n_extras;
    struct sift__parse_name *typed; /* text/keyword/numeric lists */
    uint32_t n_typed;
    struct sift__parse_name msg;
    struct sift__parse_name ts[SIFT__PARSE_N_TS];
    uint32_t n_ts;
    struct sift__parse_name svc;
};

/* Per-event parse context (stack-allocated by sift_parse_event()). */
struct sift__pctx {
    const struct sift_parse_opts *o;
    const struct sift__parse_compiled *c;
    struct sift_arena *arena;
    struct sift_parse_error *err; /* never NULL here */
    const char *line;
    size_t len;
    int64_t recv_ns;

    struct sift_field *f;
    uint32_t n;      /* entries in f */
    uint32_t cap;    /* room in f */
    uint32_t n_user; /* entries counted against max_fields */

    const char *msg; /* default message (text: the line) */
    uint32_t msg_len;
    bool scan_msg;  /* a field named message_field may replace msg */
    bool msg_alias; /* logfmt, JSON: message aliases (msg, ...) count */
    int64_t ts_ns;
    bool have_ts; /* ts_ns is set (a ts field still wins if scan_ts) */
    bool scan_ts; /* look for timestamp fields */
};

/*
 * A walk of one request that carries many events (the OTLP logs request,
 * the Loki push request): the callback that takes each event or
 * rejection, and what stops the walk.  The decoders of otlp.c and loki.c
 * share it, and end through sift__walk_end().
 */
struct sift__walk {
    const struct sift_parse_opts *o;
    struct sift_arena *arena;
    int64_t recv_ns;
    sift_parse_line_cb cb;
    void *arg;
    struct sift_parse_error *err; /* never NULL; reason set on EPARSE */
    size_t n;                     /* records or entries handed to cb */
    int stop;                     /* the callback's non-zero answer */
    int nomem;
};

/* Starts a walk; err may be NULL (local then takes the error). */
void sift__walk_init(struct sift__walk *w, const struct sift_parse_opts *o,
                     struct sift_arena *arena, int64_t recv_ns,
                     sift_parse_line_cb cb, void *arg,
                     struct sift_parse_error *err,
                     struct sift_parse_error *local);
/*
 * The walk's result from the decoder's rc (< 0: the body is not a valid
 * request): SIFT_ENOMEM, the callback's stop value, SIFT_EPARSE with
 * err->reason (bad_body when the decoder said nothing more precise), or
 * SIFT_OK.
 */
int sift__walk_end(struct sift__walk *w, int rc, const char *bad_body);

/* ---- parse.c: context helpers ---- */

/* Starts a context for one event whose raw form is line[0..len). */
void sift__pctx_init(struct sift__pctx *x, const struct sift_parse_opts *o,
                     struct sift_arena *arena, struct sift_parse_error *err,
                     const char *line, size_t len, int64_t recv_ns);

/* Records the error (printf-style reason) and returns rc. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
int
sift__pctx_fail(struct sift__pctx *x, int rc, size_t offset, const char *fmt,
                ...);

/* Makes room for n_user_max more user fields (plus derived/static). */
int sift__pctx_reserve(struct sift__pctx *x, uint32_t n_user_max);

/*
 * Adds a user field (counted against max_fields, name and value limits
 * checked, type lists applied).  Pointers must outlive the event.
 */
int sift__pctx_add(struct sift__pctx *x, const char *name, size_t name_len,
                   const char *value, size_t value_len, uint8_t type);

/* Adds a derived field: not counted, no type list, still bounded by cap. */
int sift__pctx_add_derived(struct sift__pctx *x, const char *name,
                           size_t name_len, const char *value, size_t value_len,
                           uint8_t type);

/* Applies message/timestamp/level/service rules and fills out. */
int sift__pctx_finish(struct sift__pctx *x, struct sift_event *out);

/* Copies s into the arena; NULL when the arena cannot grow. */
char *sift__pctx_dup(struct sift__pctx *x, const char *s, size_t len);

/* True when s[0..len) is a JSON number ("-1.5e3"). */
bool sift__parse_is_number(const char *s, size_t len);

/* ---- text.c: timestamps and levels ---- */

/*
 * Finds a timestamp at a token start within the first bytes of s (the
 * layouts of docs/ingest.md).  On success sets *ns and the span
 * [*start, *end) and returns true.  recv_ns supplies a missing year.
 */
bool sift__parse_ts_sniff(const char *s, size_t len, int64_t recv_ns,
                          int64_t *ns, size_t *start, size_t *end);

/*
 * Parses a whole value as a timestamp: epoch number (unit by magnitude),
 * RFC 3339, or any sniffed layout covering the whole value.
 */
bool sift__parse_ts_value(const char *s, size_t len, int64_t recv_ns,
                          int64_t *ns);

/* Parses "Mmm dd hh:mm:ss" (day may be space-padded) at s; returns bytes
 * consumed or 0.  The year is inferred from recv_ns. */
size_t sift__parse_ts_bsd(const char *s, size_t len, int64_t recv_ns,
                          int64_t *ns);

/* Parses an RFC 3339 prefix of s; returns bytes consumed or 0. */
size_t sift__parse_ts_rfc3339_prefix(const char *s, size_t len, int64_t *ns);

/* Level word sniffed in the first bytes of a text line, or NULL. */
const char *sift__parse_level_sniff(const char *s, size_t len);

/* ---- format parsers ---- */
int sift__parse_json(struct sift__pctx *x);
int sift__parse_text(struct sift__pctx *x, bool extract_logfmt);
int sift__parse_logfmt(struct sift__pctx *x);
/* Syslog with or without <PRI>; see the header comment of syslog.c. */
int sift__parse_syslog(struct sift__pctx *x);
/* True when the line is a syslog line without PRI that parses strictly
 * (rsyslog FileFormat, BSD "Mmm dd hh:mm:ss host tag:"). */
bool sift__parse_syslog_sniff(const char *s, size_t len);

/*
 * logfmt scan used by text extraction: counts pairs / non-pair tokens so
 * the caller can decide whether the line "looks like" logfmt.
 */
bool sift__parse_logfmt_looks(const char *s, size_t len, uint32_t *n_pairs);
/* Adds the logfmt pairs of s[0..len) as fields (msg/level/ts handled by
 * sift__pctx_finish through msg_alias/scan_ts). */
int sift__parse_logfmt_fields(struct sift__pctx *x, const char *s, size_t len,
                              size_t base_off);

/* ---- json.c: bulk action lines ---- */

/*
 * Parses an ES bulk action line {"index":{"_index":..,"_id":..}}.  Sets
 * *action (SIFT_BULK_INVALID when malformed, with reason in x->err),
 * index/id (decoded into the arena when escaped; NULL when absent).
 */
int sift__parse_bulk_action(struct sift__pctx *x, uint8_t *action,
                            const char **index, uint32_t *index_len,
                            const char **id, uint32_t *id_len);

/* ---- json.c: string escapes ---- */

/*
 * Decodes the body of a JSON string s[0..len) whose escapes are valid
 * (\uXXXX pairs become UTF-8; a lone surrogate becomes U+FFFD) into
 * o[0..len) and returns the decoded length (never more than len).
 */
size_t sift__json_unescape_into(char *o, const char *s, size_t len);

/* ---- jsonpull.c: a pull reader for large JSON bodies ---- */

/*
 * Reads a JSON text value by value without building a tree, for request
 * bodies that hold many events (OTLP/JSON, the Loki push request): the
 * caller walks the structure it expects, asks for the members it knows
 * and skips the rest.  Strings without escapes are returned in place;
 * escaped ones are decoded into the arena.  Every call validates what it
 * consumes (RFC 8259 grammar; nesting bounded by max_depth).  The first
 * error is kept in err/err_at and every later call fails.
 */
struct sift__jp {
    const char *s;
    size_t len;
    size_t pos;
    unsigned depth;
    unsigned max_depth; /* <= SIFT__PARSE_MAX_DEPTH_CAP */
    struct sift_arena *arena;
    const char *err; /* static text; NULL while all is well */
    size_t err_at;   /* byte offset of the error */
    uint8_t more[SIFT__PARSE_MAX_DEPTH_CAP + 1]; /* per depth: a member or
                                                   element was read */
};

enum sift__jp_type {
    SIFT__JP_ERR = -1,
    SIFT__JP_END = 0, /* no value here (end of input) */
    SIFT__JP_OBJECT = '{',
    SIFT__JP_ARRAY = '[',
    SIFT__JP_STRING = '"',
    SIFT__JP_NUMBER = '0',
    SIFT__JP_TRUE = 't',
    SIFT__JP_FALSE = 'f',
    SIFT__JP_NULL = 'n',
};

void sift__jp_init(struct sift__jp *j, const char *s, size_t len,
                   unsigned max_depth, struct sift_arena *arena);
/* The type of the next value (blanks skipped), without consuming it. */
int sift__jp_peek(struct sift__jp *j);
/* Consumes '{' (or '[') of the next value; -1 when it is not one. */
int sift__jp_enter_object(struct sift__jp *j);
int sift__jp_enter_array(struct sift__jp *j);
/*
 * Next member of the object entered last: 1 with its key (decoded) and
 * the reader before its value, 0 after the closing '}', -1 on error.
 */
int sift__jp_member(struct sift__jp *j, const char **key, size_t *key_len);
/* Next element of the array entered last: 1 before it, 0 after ']'. */
int sift__jp_element(struct sift__jp *j);
/* The next value as a string (decoded); -1 when it is not a string. */
int sift__jp_string(struct sift__jp *j, const char **s, size_t *len);
/* The next value as a number's text; -1 when it is not a number. */
int sift__jp_number(struct sift__jp *j, const char **s, size_t *len);
/* true/false/null: sets *v to 1, 0 or -1; -1 when it is none of them. */
int sift__jp_literal(struct sift__jp *j, int *v);
/* Skips the next value (validating it); its bytes are s[*a, *b). */
int sift__jp_skip(struct sift__jp *j, size_t *a, size_t *b);
/* 0 when only blanks are left, else -1 (trailing garbage). */
int sift__jp_finish(struct sift__jp *j);

#endif /* SIFT_PARSE_INT_H */
