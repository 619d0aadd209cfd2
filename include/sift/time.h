/*
 * time.h - civil dates, RFC 3339 and epoch numbers: the one time library
 * of the tree (ingest, queries, aggregations, replies).
 *
 * Times are int64 nanoseconds since 1970-01-01T00:00:00Z (UTC, proleptic
 * Gregorian, no leap seconds), which covers 1677-09-21 to 2262-04-11.
 * Everything is integer arithmetic with overflow checks; no libc time
 * zone or locale is consulted.  Pure functions; any thread.
 */
#ifndef SIFT_TIME_H
#define SIFT_TIME_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"

#define SIFT_NS_PER_MIN (INT64_C(60) * INT64_C(1000000000))
#define SIFT_NS_PER_HOUR (INT64_C(3600) * INT64_C(1000000000))
#define SIFT_NS_PER_DAY (INT64_C(86400) * INT64_C(1000000000))

/** Days since 1970-01-01 of the date y-m-d (m 1..12, d 1..31). */
int64_t sift_time_days_from_civil(int64_t y, unsigned m, unsigned d);

/** The date of day number days (since 1970-01-01). */
void sift_time_civil_from_days(int64_t days, int64_t *y, unsigned *m,
                               unsigned *d);

/** Days in month m (1..12) of year y. */
unsigned sift_time_days_in_month(int64_t y, unsigned m);

/**
 * Parses all of s[0..len) as RFC 3339: "2024-05-01T10:00:00Z", with 'T',
 * 't' or ' ' between date and time, up to nine fraction digits (more are
 * cut), and "Z" or "+hh:mm".  Returns SIFT_OK with *out_ns, or SIFT_EINVAL
 * (also for a date out of range, e.g. 2024-02-30).
 */
int sift_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ns);

#define SIFT_TIME_LENIENT 1u /* see sift_time_scan_rfc3339() */

/**
 * Reads an RFC 3339 time at the start of s[0..len) (s need not be
 * NUL-terminated; nothing at or past len is read).  flags 0: the form
 * sift_time_parse_rfc3339() takes, zone required.  SIFT_TIME_LENIENT: also
 * what loggers write under the name ISO 8601: no zone (read as UTC),
 * "+hhmm" and "+hh".  Returns the number of bytes that form the time, or
 * 0 when s does not start with one (bad syntax, a field out of range, a
 * malformed zone, or a time outside int64 nanoseconds), with *out_ns set
 * only on success.
 */
size_t sift_time_scan_rfc3339(const char *s, size_t len, unsigned flags,
                              int64_t *out_ns);

/**
 * Building blocks for timestamp layouts other than RFC 3339 (the log line
 * sniffer in parse/text.c).  sift_time_scan_digits() reads exactly n
 * (1..9) decimal digits at s[*i]: on success it stores their value in
 * *out, advances *i and returns 1; else it returns 0 and changes nothing.
 * sift_time_scan_fraction() reads a '.' or ',' followed by at least one
 * digit, advances *i past every digit and returns the fraction in
 * nanoseconds (digits past nine are cut); with no fraction there it
 * returns 0 and leaves *i.  Neither reads s[len] or beyond.
 */
int sift_time_scan_digits(const char *s, size_t len, size_t *i, unsigned n,
                          unsigned *out);
int64_t sift_time_scan_fraction(const char *s, size_t len, size_t *i);

/**
 * Parses all of s[0..len) as an epoch number whose unit comes from its
 * magnitude, the rule ingest applies to timestamps: below 1e11 seconds
 * (that is up to year 5138), below 1e14 milliseconds, below 1e17
 * microseconds, else nanoseconds.  A fraction ("1714557600.25") is kept
 * to the nanosecond; a leading '-' gives a time before 1970 (the unit is
 * chosen on the magnitude).  Returns SIFT_OK with *out_ns, or SIFT_EINVAL
 * (not a decimal number, or out of range).  *unit_out (may be NULL) gets
 * "s", "ms", "us" or "ns".
 */
int sift_time_parse_epoch(const char *s, size_t len, int64_t *out_ns,
                          const char **unit_out);

/** Room for any sift_time_print_rfc3339() output and its NUL. */
#define SIFT_TIME_RFC3339_MAX 40

/**
 * Appends ts_ns as RFC 3339 UTC: "2024-05-01T10:00:00.123456789Z" with
 * frac_digits (0, 3, 6 or 9) fraction digits (truncated, not rounded).
 */
void sift_time_format_rfc3339(int64_t ts_ns, int frac_digits,
                              struct sift_buf *out);

/**
 * sift_time_format_rfc3339() into buf[0..cap), NUL-terminated, for
 * callers without a sift_buf (log lines).  Returns the length written
 * (without the NUL); a cap of SIFT_TIME_RFC3339_MAX never truncates.
 */
size_t sift_time_print_rfc3339(int64_t ts_ns, int frac_digits, char *buf,
                               size_t cap);

/**
 * Calendar units of date math: 'y' year, 'M' month, 'w' week (Monday),
 * 'd' day, 'h' hour, 'm' minute, 's' second.  sift_time_round_down()
 * floors ts_ns to the start of its unit (UTC) and returns SIFT_OK, or
 * SIFT_EINVAL for another unit character.  sift_time_add() adds n units:
 * months and years keep the day of the month and clamp it to the month's
 * last day (2024-01-31 +1M = 2024-02-29); returns SIFT_EINVAL on an
 * unknown unit or when the result leaves the int64 range.
 */
int sift_time_round_down(int64_t ts_ns, char unit, int64_t *out_ns);
int sift_time_add(int64_t ts_ns, int64_t n, char unit, int64_t *out_ns);

#endif /* SIFT_TIME_H */
