/*
 * otlp_int.h - the decoded form of an OTLP logs request, shared by our
 * decoder (otlp.c) and any other decoder that fills it (the protobuf-c
 * variant in bench/bench_otlp.c, which measures the two against each
 * other): values, records and their resource/scope group, and the one
 * function that turns a record into an event, so the mapping of
 * docs/ingest.md exists once whichever decoder read the bytes.
 *
 * Everything lives in the caller's arena; strings borrow from the body
 * or the arena.  Pure; any thread.
 */
#ifndef SIFT_PARSE_OTLP_INT_H
#define SIFT_PARSE_OTLP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/arena.h"
#include "sift/parse.h"

#include "parse/parse_int.h"

enum sift__otlp_kind {
    SIFT__OTLP_NONE = 0,
    SIFT__OTLP_STR,
    SIFT__OTLP_BOOL,
    SIFT__OTLP_INT,
    SIFT__OTLP_DOUBLE,
    SIFT__OTLP_BYTES, /* s holds the base64 text */
    SIFT__OTLP_ARRAY,
    SIFT__OTLP_KVLIST,
};

/* One AnyValue (or a KeyValue when key is set), in the arena. */
struct sift__otlp_any {
    uint8_t kind;
    const char *key;
    uint32_t key_len;
    const char *s; /* STR, BOOL, INT, DOUBLE, BYTES: the text */
    size_t len;
    struct sift__otlp_any *items; /* ARRAY, KVLIST */
    size_t n;
};

struct sift__otlp_list {
    struct sift__otlp_any *v;
    size_t n, cap;
};

/* One log record, either encoding. */
struct sift__otlp_rec {
    uint64_t time_ns, observed_ns;
    uint32_t sev_num;
    const char *sev_text;
    size_t sev_text_len;
    struct sift__otlp_any body;
    struct sift__otlp_list attrs;
    const char *trace_id, *span_id; /* lower-case hex, NUL-terminated */
    const char *event_name;
    size_t event_name_len;
    const char *raw; /* the record's bytes, for the dead-letter store */
    size_t raw_len;
    const char *bad; /* a limit broken while decoding, or NULL */
};

/* Resource and scope, decoded once per group of records. */
struct sift__otlp_group {
    struct sift__otlp_list res_attrs;
    const char *scope_name, *scope_version;
    size_t scope_name_len, scope_version_len;
    struct sift__otlp_list scope_attrs;
    const char *bad; /* a limit broken in the resource or scope */
};

/* Appends a zeroed value to l; NULL (and c->nomem set) without memory. */
struct sift__otlp_any *sift__otlp_alist_push(struct sift__walk *c,
                                             struct sift__otlp_list *l);
/* Decimal text of v in the arena (*len its length). */
const char *sift__otlp_int_text(struct sift__walk *c, int64_t v, size_t *len);
/* The text of d (sift_fmt_double) in the arena. */
const char *sift__otlp_double_text(struct sift__walk *c, double d, size_t *len);
/* Base64 of p[0..n) in the arena. */
const char *sift__otlp_base64(struct sift__walk *c, const uint8_t *p, size_t n,
                              size_t *len);
/* Lower-case hex of an id; NULL for an empty or all-zero id. */
const char *sift__otlp_hex_id(struct sift__walk *c, const uint8_t *p, size_t n);
/* Builds the event of rec (in group g) and hands it, or its rejection,
 * to c->cb; sets c->stop to the callback's answer, c->nomem on ENOMEM. */
void sift__otlp_emit(struct sift__walk *c, const struct sift__otlp_group *g,
                     const struct sift__otlp_rec *rec);

#endif /* SIFT_PARSE_OTLP_INT_H */
