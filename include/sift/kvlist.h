/*
 * kvlist.h - lists of static fields written "name=value,name=value" (or
 * "name:value"): [kafka]/[redis] extra_fields, the ingest API's ?_fields=
 * and Sift-Fields labels.  One reader, so every place takes the same
 * spelling.
 *
 * Pure; any thread.
 */
#ifndef SIFT_KVLIST_H
#define SIFT_KVLIST_H

#include <stddef.h>

/**
 * Called for each item of a list: name[0..name_len) and
 * value[0..value_len), both borrowed from the list and trimmed of blanks
 * (the value may be empty, the name is not).  Returns 0 to go on, or
 * non-zero to stop the walk with that value.
 */
typedef int (*sift_kvlist_cb)(void *arg, const char *name, size_t name_len,
                              const char *value, size_t value_len);

/**
 * Walks list: items separated by ',', empty items skipped, each split at
 * its first '=' or ':' (so a value may hold either).  An item without a
 * separator or with an empty name stops the walk: SIFT_EINVAL with
 * why[0..why_len) quoting it.  cb may be NULL (validation only).  Returns
 * SIFT_OK, SIFT_EINVAL, or the callback's non-zero value.
 */
int sift_kvlist_walk(const char *list, sift_kvlist_cb cb, void *arg, char *why,
                     size_t why_len);

#endif /* SIFT_KVLIST_H */
