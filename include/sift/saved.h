/*
 * saved.h - saved searches: named queries kept by the server, so the web
 * UI, the CLI, Grafana and rules share them (src/alerting/saved.c;
 * docs/alerting.md, "Saved searches").
 *
 * A saved search has a name ([A-Za-z0-9._-], at most 63 bytes), a query,
 * an optional time range (from/to as a search takes them), the fields
 * to show, a description, and an owner role: only a principal with at
 * least that role may change or delete it (default: the creator's role).
 * Searches read one as q=@name or saved=name.
 *
 * Kept in DATA_DIR/saved.ndjson (one checked line each, the file
 * rewritten atomically on every change).  Loop thread only.
 */
#ifndef SIFT_SAVED_H
#define SIFT_SAVED_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sift/role.h"

struct sift_config;
struct sift_saved;

/* One saved search (read-only for callers; strings owned by the store). */
struct sift_saved_search {
    char name[64];
    char *query;
    char *from, *to; /* "" = not set */
    char *fields;    /* "" = all */
    char *description;
    enum sift_role owner_role;
    char *created_by;
    int64_t created_ms, updated_ms;
};

/** Opens the store (state-file rule).  Returns SIFT_OK. */
int sift_saved_open(const char *data_dir, const struct sift_config *cfg,
                    struct sift_saved **out);
void sift_saved_free(struct sift_saved *s);

/** The same, reading only: nothing is quarantined, repaired or written
 * (siftd --check-config); changes are refused. */
int sift_saved_open_readonly(const char *data_dir,
                             const struct sift_config *cfg,
                             struct sift_saved **out);

/**
 * Appends x as a JSON object: the record saved.ndjson holds, which is
 * also the object the API replies with (api/alerting_api.c), so the two
 * cannot drift apart.  Pure.
 */
struct sift_buf;
void sift_saved_to_json(const struct sift_saved_search *x, struct sift_buf *b);

/** The saved search called name, or NULL.  Valid until the next change. */
const struct sift_saved_search *sift_saved_get(struct sift_saved *s,
                                               const char *name);

/**
 * Creates (name NULL: taken from the body; create_only: 409 when it
 * exists) or replaces (name from the path) a saved search from body o.
 * role/principal are the caller's.  The query must parse.  Returns
 * SIFT_OK (*created set), or an error with *status (400, 403, 404, 409)
 * and err filled.
 */
int sift_saved_put(struct sift_saved *s, const json_t *o, const char *name,
                   int create_only, enum sift_role role, const char *principal,
                   int *created, int *status, char *err, size_t err_len);

/** Deletes name.  Returns SIFT_OK or an error with *status and err. */
int sift_saved_delete(struct sift_saved *s, const char *name,
                      enum sift_role role, int *status, char *err,
                      size_t err_len);

/** The number of saved searches. */
size_t sift_saved_count(const struct sift_saved *s);

/**
 * The i-th saved search in name order (0 <= i < sift_saved_count()), or
 * NULL past the end.  Borrowed, valid until the next change: the API
 * renders the list from these (api/alerting_api.c).
 */
const struct sift_saved_search *sift_saved_at(const struct sift_saved *s,
                                              size_t i);

/**
 * Called before a saved search is changed or deleted (new_query NULL);
 * returns SIFT_OK to allow it, else a negative code with err filled (a
 * rule that uses it would break).  Set by the rules engine.
 */
typedef int (*sift_saved_guard_cb)(void *arg, const char *name,
                                   const char *new_query, char *err,
                                   size_t err_len);
void sift_saved_set_guard(struct sift_saved *s, sift_saved_guard_cb cb,
                          void *arg);

#endif /* SIFT_SAVED_H */
