/*
 * event.h - the event model shared by parse, store, query and anomaly.
 *
 * An event is a timestamp in nanoseconds since the epoch (UTC), the
 * message text, and flat dotted fields ("host.name", "log.file.path"):
 * nested JSON objects and dotted keys name the same field.  Field values
 * are kept as text; the type says how they are indexed:
 *
 *   KEYWORD  whole value is one term (lowercased for matching), and a
 *            dictionary column when the cardinality is low (level, host).
 *   TEXT     tokenized like the message (sift_tokenize()).
 *   NUMBER   numeric column (double) plus the text as a keyword term.
 *
 * Memory: every pointer in an event borrows from the batch's arena (parse
 * stage) or from a decoded doc buffer; an event owns nothing.
 *
 * The doc codec (sift_doc_encode/decode) is the one binary form of an
 * event: WAL records and the segment doc store hold it.  It keeps the
 * normalized event (timestamp, template id, message, fields), not the
 * bytes as they arrived; see docs/internals/storage.md.
 */
#ifndef SIFT_EVENT_H
#define SIFT_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"

struct sift_arena;

enum sift_ftype {
    SIFT_FT_KEYWORD = 1,
    SIFT_FT_TEXT = 2,
    SIFT_FT_NUMBER = 3,
};

struct sift_field {
    const char *name;  /* dotted, not NUL-terminated */
    const char *value; /* as text; numbers in their JSON spelling */
    uint32_t name_len;
    uint32_t value_len;
    uint8_t type; /* enum sift_ftype */
};

#define SIFT_MESSAGE_FIELD "message"
#define SIFT_TEMPLATE_NONE 0u

struct sift_event {
    int64_t ts_ns;
    const char *msg; /* message text; may be empty */
    uint32_t msg_len;
    uint32_t n_fields;
    struct sift_field *fields;
    uint32_t template_id; /* SIFT_TEMPLATE_NONE until mined */
    const char *raw;      /* the bytes as they arrived (parse stage only) */
    uint32_t raw_len;
};

/**
 * Appends the binary form of ev to out.  Borrows ev.  Loop or worker.
 */
void sift_doc_encode(const struct sift_event *ev, struct sift_buf *out);

/**
 * Decodes one doc from p[0..len).  Field and message pointers borrow from
 * p; the field array is allocated from arena.  raw is left NULL.
 * Returns SIFT_OK, SIFT_ECORRUPT (bad bytes) or SIFT_ENOMEM.
 */
int sift_doc_decode(const uint8_t *p, size_t len, struct sift_arena *arena,
                    struct sift_event *out);

/** Finds a field by name; returns NULL when absent.  Borrows. */
const struct sift_field *sift_event_field(const struct sift_event *ev,
                                          const char *name, size_t name_len);

/**
 * Appends ev as a JSON object: {"@timestamp":"RFC3339 with ns","message":…,
 * <fields…>} with dotted names kept flat and NUMBER fields as numbers.
 */
void sift_event_to_json(const struct sift_event *ev, struct sift_buf *out);

/**
 * True when s[0..len) is a number by the JSON grammar (RFC 8259 section
 * 6) that common decoders read (RFC 8259 section 6 allows them limits):
 * an integer within int64, or otherwise a finite double.  How NUMBER
 * fields decide between a bare and a quoted value in JSON output, so
 * "1e400" or a 30-digit id stays a string.  Pure; any thread.
 */
int sift_json_is_number(const char *s, size_t len);

/**
 * Appends "name":value for field f: a NUMBER field whose text is a JSON
 * number (sift_json_is_number) bare, anything else as a JSON string (valid
 * UTF-8).  The one rule for a field in every JSON that shows events.
 * Pure; any thread.
 */
void sift_field_put_json(const struct sift_field *f, struct sift_buf *out);

/**
 * A source position: where a batch came from, so a restart resumes after
 * the last event sift holds.  key names the partition ("kafka/<topic>/<p>",
 * "redis/<stream>"); for Kafka hi = offset of the last event, lo = 0; for
 * Redis streams hi/lo = the entry id's ms and seq.
 */
struct sift_srcpos {
    const char *key; /* borrowed */
    uint64_t hi;
    uint64_t lo;
};

#endif /* SIFT_EVENT_H */
