/*
 * silences.h - silences: matchers on alert labels and a time span during
 * which matching alerts are stored but not sent (src/alerting/silences.c;
 * docs/alerting.md, "Silences").  The shape is Alertmanager's
 * (matchers with name, value, isRegex, isEqual; startsAt, endsAt,
 * createdBy, comment), so its users know it.
 *
 * An alert's labels, for matching: alertname (the rule, or sift_<kind>),
 * rule, kind, severity, series, the rule's labels (its group_by field
 * and value among them) or, for learned alerts, the parts of the series
 * (service, level, template).
 *
 * Kept in DATA_DIR/silences.ndjson (checked lines, rewritten atomically
 * on every change; expired silences are kept 7 days).  Loop thread only.
 */
#ifndef SIFT_SILENCES_H
#define SIFT_SILENCES_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sift_alert;
struct sift_silences;

/* One matcher of a silence (strings owned by the store). */
struct sift_silence_matcher {
    char *name, *value;
    int is_regex; /* value is an anchored POSIX extended regex */
    int is_equal; /* 0: the matcher holds when the value does not match */
};

/* One silence (read-only for callers; owned by the store). */
struct sift_silence {
    char id[33];
    struct sift_silence_matcher *m;
    size_t n_m;
    int64_t starts_ns, ends_ns, updated_ns;
    char *created_by, *comment;
};

enum sift_silence_state {
    SIFT_SILENCE_PENDING, /* now < starts */
    SIFT_SILENCE_ACTIVE,  /* starts <= now < ends */
    SIFT_SILENCE_EXPIRED, /* ends <= now */
};

/**
 * Opens the store (loads DATA_DIR/silences.ndjson under the state-file
 * rule).  data_dir copied.  Returns SIFT_OK.  Release with
 * sift_silences_free().
 */
int sift_silences_open(const char *data_dir, struct sift_silences **out);
void sift_silences_free(struct sift_silences *s);

/**
 * Creates a silence from the body o (borrowed): matchers (required, at
 * least one), endsAt (a time: RFC 3339, epoch, now+2h) or duration
 * ("2h"), startsAt (default now), createdBy (default principal),
 * comment; with "id" it replaces that silence (Alertmanager's update).
 * now_ns is "now".  On SIFT_OK id_out (33 bytes) gets its id; on
 * SIFT_EINVAL err names the problem; SIFT_ENOTFOUND for an unknown id.
 */
int sift_silences_put(struct sift_silences *s, const json_t *o,
                      const char *principal, int64_t now_ns, char *id_out,
                      char *err, size_t err_len);

/** Ends silence id now (kept as expired).  SIFT_OK or SIFT_ENOTFOUND. */
int sift_silences_expire(struct sift_silences *s, const char *id,
                         int64_t now_ns);

/** The number of silences kept (expired ones included). */
size_t sift_silences_count(const struct sift_silences *s);

/**
 * The i-th silence, oldest first (0 <= i < sift_silences_count()), or
 * NULL past the end.  Borrowed, valid until the next change: the API
 * renders from these (api/alerting_api.c).
 */
const struct sift_silence *sift_silences_at(const struct sift_silences *s,
                                            size_t i);

/** Silence id, or NULL.  Borrowed, valid until the next change. */
const struct sift_silence *sift_silences_get(const struct sift_silences *s,
                                             const char *id);

/**
 * Appends x as a JSON object: the record silences.ndjson holds; the API's
 * reply is the same object with "status" added (api/alerting_api.c).
 * Pure.
 */
struct sift_buf;
void sift_silence_to_json(const struct sift_silence *x, struct sift_buf *b);

/** x's state at now_ns.  Pure. */
enum sift_silence_state sift_silence_state(const struct sift_silence *x,
                                           int64_t now_ns);

/** "pending", "active" or "expired". */
const char *sift_silence_state_name(enum sift_silence_state st);

/** Non-zero when an active silence matches al at now_ns. */
int sift_silences_match(struct sift_silences *s, const struct sift_alert *al,
                        int64_t now_ns);

/**
 * Non-zero when a silence started, ended or changed since the last call
 * (so alerts kept silent may need sending).  Loop thread.
 */
int sift_silences_changed(struct sift_silences *s, int64_t now_ns);

/** Silences active at now_ns. */
size_t sift_silences_active(struct sift_silences *s, int64_t now_ns);

#endif /* SIFT_SILENCES_H */
