/*
 * names.h - "did you mean": the closest known name to a mistyped one.
 *
 * Used where a request names something by key (delete-by-query body
 * keys) so that a typo is a 400 that says what was probably meant,
 * never a key that is silently ignored.
 *
 * Pure; any thread.
 */
#ifndef SIFT_NAMES_H
#define SIFT_NAMES_H

#include <stddef.h>

/**
 * The entry of known[0..n) closest to given (borrowed), or NULL when none
 * is close: an optimal-string-alignment distance (insert, delete,
 * substitute, swap two neighbours; ASCII case ignored) of at most 1 for
 * names up to 4 bytes and at most 2 beyond, or given being a prefix of
 * exactly one name (at least 2 bytes).  Ties go to the earlier entry.
 * Returns a pointer into known.  Pure.
 */
const char *sift_name_closest(const char *given, const char *const *known,
                              size_t n);

#endif /* SIFT_NAMES_H */
