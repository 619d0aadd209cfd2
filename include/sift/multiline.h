/*
 * multiline.h - joining the lines of one multi-line event (a Java stack
 * trace, a Python traceback, a Go panic) back into that event.
 *
 * Applications write one event over many lines; shippers send each line
 * as its own event (a text upload, Filebeat without a multiline setting,
 * rsyslog's imfile), and the continuation lines, having no timestamp of
 * their own, would otherwise be stored at their arrival time, scattered
 * away from their first line.  A continuation joins the event before it
 * (message + "\n" + its text), as Filebeat's multiline "match: after"
 * does.  Which lines continue:
 *
 *   - built-in rules: the line (text) or the message (structured events)
 *     starts with a tab or two spaces (one space is not indentation: a
 *     syslog message starts with one), "at ", "Caused by:", "Suppressed:"
 *     or "..."; and, in text bodies only, a line that carries no timestamp of
 *     its own right after a line that does (a Python "Traceback", "java.
 *     lang.NullPointerException: ...", "goroutine 1 [running]:");
 *   - or a configured PCRE2 pattern (ingest.multiline_pattern): the lines
 *     it matches continue (with ingest.multiline_negate, the lines it does
 *     not match), replacing the built-in rules.
 *
 * What is safe to join (nothing else is): in a text body, the next line;
 * among structured events (JSON, syslog, logfmt, broker messages), only
 * the immediately preceding event, of the same stream (the same values
 * of host.name, host.hostname, log.file.path, service.name, container.id,
 * kubernetes.pod.uid, process.pid, agent.id and _index, and the same
 * source partition when the caller knows it), whose level the
 * continuation does not contradict, at most max_gap earlier by their
 * timestamps.  A joined event holds at most max_lines lines and
 * max_bytes of message; past either the line starts an event of its own.
 * Nothing is ever dropped: a line that cannot join is stored as before.
 *
 * Pure functions over compiled rules (read-only after sift_multiline_new,
 * shareable between threads).
 */
#ifndef SIFT_MULTILINE_H
#define SIFT_MULTILINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sift/event.h"

struct sift_arena;
struct sift_config;
struct sift_multiline;

struct sift_multiline_opts {
    bool enabled;        /* ingest.multiline */
    const char *pattern; /* NULL or "" = the built-in rules; borrowed */
    bool negate;         /* lines NOT matching pattern continue */
    uint32_t max_lines;  /* lines in one joined event */
    uint32_t max_bytes;  /* message bytes of one joined event */
    int64_t max_gap_ns;  /* structured events: time between two lines */
};

/** Defaults: on, built-in rules, 500 lines, 1 MiB, 5 s.  Pure. */
void sift_multiline_opts_init(struct sift_multiline_opts *o);

/** The [ingest] multiline keys of cfg over the defaults (borrows cfg). */
void sift_multiline_opts_from_config(struct sift_multiline_opts *o,
                                     const struct sift_config *cfg);

/**
 * Compiles o.  Returns SIFT_OK with *out (release with
 * sift_multiline_free()), or SIFT_EINVAL with why set (a pattern that
 * does not compile, with the PCRE2 message and offset).
 */
int sift_multiline_new(const struct sift_multiline_opts *o,
                       struct sift_multiline **out, char *why, size_t why_len);
void sift_multiline_free(struct sift_multiline *m);

/** The compiled options (borrowed). */
const struct sift_multiline_opts *
sift_multiline_opts(const struct sift_multiline *m);

/**
 * Non-zero when s[0..len) continues the event before it by the pattern
 * rule (built-in or configured; the "no timestamp" rule of text bodies
 * is the caller's).  NULL m = never.  Pure.
 */
int sift_multiline_is_continuation(const struct sift_multiline *m,
                                   const char *s, size_t len);

/**
 * Non-zero when next may join prev by the rules of structured events
 * (same stream, compatible level, at most max_gap apart; next_has_ts 0
 * skips the gap check).  Borrows both.  Pure.
 */
int sift_multiline_same_stream(const struct sift_multiline *m,
                               const struct sift_event *prev,
                               const struct sift_event *next, int next_has_ts);

/* Per-event flags of sift_multiline_join(). */
#define SIFT_ML_KEEP 1u /* stays whole (a _bulk item with its own _id) */
#define SIFT_ML_UNTIMED                                                        \
    2u /* no timestamp of its own (it got the arrival                          \
          time): no time-gap check */

/**
 * Joins, in evs[0..n), each event whose message continues the event
 * right before it (same stream per sift_multiline_same_stream(), and, if
 * streams is not NULL, the same streams[i] string) into that event, and
 * compacts the array.  flags (may be NULL) has SIFT_ML_* bits per event.
 * New messages are built in
 * arena; raw keeps the first event's bytes.  where (may be NULL, n
 * entries) receives, per input event, the index in the compacted array
 * of the event that holds it.  Returns the new count; *joined (may be
 * NULL) gets n minus it.  NULL or disabled m: nothing changes.  An
 * allocation failure leaves the rest unjoined.
 */
size_t sift_multiline_join(const struct sift_multiline *m,
                           struct sift_event *evs, size_t n,
                           const char *const *streams, const uint8_t *flags,
                           struct sift_arena *arena, uint32_t *where,
                           size_t *joined);

#endif /* SIFT_MULTILINE_H */
