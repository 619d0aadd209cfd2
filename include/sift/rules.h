/*
 * rules.h - the rules engine: the set of alert rules (created through
 * the API and kept in DATA_DIR/rules.ndjson, or read from the rules file
 * named by rules.file), evaluated on the worker pool against the store
 * and turned into alerts that share the learned alerts' life cycle
 * (src/alerting/rules.c; docs/alerting.md, "Rules").
 *
 * Life cycle of one rule group: the condition holds for `for` -> a FIRE
 * (or, within rules.cooldown of its last resolution, the same alert
 * re-opens: an UPDATE); it stops holding -> RESOLVE.  While firing, each
 * evaluation updates the kept alert's value without a notification.
 *
 * Loop thread only, except what the evaluation jobs do on workers (they
 * hold a reference to their rule and a store snapshot, never the engine).
 */
#ifndef SIFT_RULES_H
#define SIFT_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

struct sift_anomaly_service;
struct sift_buf;
struct sift_config;
struct sift_loop;
struct sift_pool;
struct sift_rules;
struct sift_saved;
struct sift_store;

/* What the engine works with (all borrowed for its lifetime). */
struct sift_rules_deps {
    const struct sift_config *cfg;
    struct sift_loop *loop;
    struct sift_pool *pool;
    struct sift_store *store;
    struct sift_anomaly_service *alerts; /* store, silences, sinks */
    struct sift_saved *saved;            /* may be NULL */
};

/** Called per problem of a rules file (one sentence naming the rule). */
typedef void (*sift_rules_error_cb)(const char *msg, void *arg);

/**
 * Checks the rules file at path (a JSON array of rule objects, or
 * {"rules":[...]}) the way the start does: every rule parses and
 * validates, names are unique.  saved (may be NULL) resolves saved
 * searches.  Every problem goes to cb.  Returns SIFT_OK, SIFT_ECONFIG,
 * or -errno when the file cannot be read (also reported).  For
 * `siftd --check-config`.
 */
int sift_rules_check_file(const struct sift_config *cfg, const char *path,
                          struct sift_saved *saved, sift_rules_error_cb cb,
                          void *arg);

/**
 * Creates the engine: loads the API rules (DATA_DIR/rules.ndjson) and
 * the rules file (a broken one fails: SIFT_ECONFIG, logged), puts back
 * the state of rule alerts still kept by the alerts store, and starts
 * the scheduler.  Returns SIFT_OK or SIFT_ECONFIG.  Release with
 * sift_rules_free().  Loop thread.
 */
int sift_rules_new(const struct sift_rules_deps *deps, struct sift_rules **out);

/**
 * Re-reads the rules file (SIGHUP).  A file with errors changes nothing
 * (each error logged).  Rules whose definition did not change keep their
 * state.  Returns SIFT_OK or SIFT_ECONFIG.
 */
int sift_rules_reload(struct sift_rules *e);

/** Stops scheduling; evaluations in flight finish on their own. */
void sift_rules_free(struct sift_rules *e);

/**
 * Creates or replaces an API rule from body o (borrowed).  name (from
 * the path) may be NULL (then the body names it; create_only: 409 when
 * it exists).  dry_run: validate only.  Returns SIFT_OK (*created set)
 * or an error with *status (400 invalid, 404, 409 conflict, 507 full)
 * and err naming the rule and the problem.
 */
int sift_rules_put(struct sift_rules *e, const json_t *o, const char *name,
                   int create_only, int dry_run, int *created, int *status,
                   char *err, size_t err_len);

/** Deletes an API rule (its alerts resolve).  Same errors as put. */
int sift_rules_delete(struct sift_rules *e, const char *name, int *status,
                      char *err, size_t err_len);

struct sift_rule;

/* One rule and how its evaluations go (strings borrowed from the
 * engine, valid until the next change or evaluation). */
struct sift_rule_status {
    const char *name;
    const struct sift_rule *rule; /* NULL: a stored rule that no longer
                                   * validates (health "invalid") */
    const char *raw;              /* its stored JSON when rule is NULL */
    int from_file;                /* from rules.file, else the API */
    const char *health;           /* ok, pending, slow, error, invalid */
    uint64_t evaluations, failures, missed, groups_dropped;
    int64_t last_eval_ns, last_duration_ns; /* 0: none yet */
    size_t firing;                          /* groups firing now */
    int has_value;                          /* 0: last_value unset */
    double last_value;
    const char *last_error; /* "" = none */
    const char *warning;    /* "" = none (file rules: unknown fields) */
};

/**
 * Fills *out for the i-th rule (0 <= i < sift_rules_count()), in the
 * engine's order: the API renders the list from these
 * (api/alerting_api.c).  Loop thread.
 */
void sift_rules_status_at(const struct sift_rules *e, size_t i,
                          struct sift_rule_status *out);

/** The same for the rule called name; SIFT_OK or SIFT_ENOTFOUND. */
int sift_rules_status_get(const struct sift_rules *e, const char *name,
                          struct sift_rule_status *out);

/** /metrics collector (arg: struct sift_rules *): per rule. */
void sift_rules_metrics_collect(struct sift_buf *out, void *arg);

/** Rules kept (API and file). */
size_t sift_rules_count(const struct sift_rules *e);

#endif /* SIFT_RULES_H */
