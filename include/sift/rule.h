/*
 * rule.h - one alert rule: its definition (parsed and validated from
 * JSON, the same for the API and the rules file) and its evaluation over
 * store segments (src/alerting/rule.c, src/alerting/rule_eval.c;
 * docs/alerting.md, "Rules").
 *
 * A rule counts (or measures) the events of a query in a window that
 * ends `delay` before the evaluation time, so events that arrive up to
 * `delay` late are still counted:
 *
 *   window = [now - delay - window, now - delay)
 *
 * and compares one value with a threshold: the count, the ratio of two
 * queries' counts, a statistic of a numeric field (avg, min, max, sum,
 * pNN), or absence (no event at all).  With group_by the value is taken
 * per value of a keyword field and each group is one alert; at most
 * max_groups groups fire (the most extreme first).
 *
 * Pure and thread-safe: a parsed rule is immutable; sift_rule_eval() runs
 * on any thread (the rules engine runs it on the worker pool).
 */
#ifndef SIFT_RULE_H
#define SIFT_RULE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sift/anomaly.h"

struct sift_buf;
struct sift_config;
struct sift_query;
struct sift_segment;

enum sift_rule_stat {
    SIFT_RULE_COUNT = 0,
    SIFT_RULE_RATIO,
    SIFT_RULE_AVG,
    SIFT_RULE_MIN,
    SIFT_RULE_MAX,
    SIFT_RULE_SUM,
    SIFT_RULE_PCT, /* a percentile: pct */
    SIFT_RULE_ABSENT,
};

enum sift_rule_op {
    SIFT_RULE_GT = 0,
    SIFT_RULE_GE,
    SIFT_RULE_LT,
    SIFT_RULE_LE,
    SIFT_RULE_EQ,
    SIFT_RULE_NE,
};

#define SIFT_RULE_MAX_GROUPS 10000u

/* A validated rule.  Every string is owned by the rule. */
struct sift_rule {
    char name[SIFT_ALERT_RULE_MAX];
    char *query;       /* as given ("" = every event) */
    char *saved;       /* saved search it reads, or NULL */
    char *effective;   /* the query evaluated (the saved one resolved) */
    char *denominator; /* ratio: the second query; else NULL */
    char *condition;   /* as given, e.g. "count > 50" */
    enum sift_rule_stat stat;
    double pct;  /* SIFT_RULE_PCT: 0 < pct < 100 */
    char *field; /* the numeric field of a statistic, else NULL */
    enum sift_rule_op op;
    double threshold;
    int64_t window_ns, interval_ns, for_ns, delay_ns;
    char *group_by; /* a keyword field, or NULL */
    uint32_t max_groups;
    char *labels; /* {"k":"v",...} (compact JSON), "{}" when none */
    enum sift_alert_severity severity;
    char *description;
    int enabled;
    struct sift_query *q, *q_den; /* parsed */
};

/*
 * Looks up a saved search by name for a rule (the saved searches store).
 * Appends its query to out and returns SIFT_OK, or returns SIFT_ENOTFOUND.
 */
typedef int (*sift_rule_saved_cb)(void *arg, const char *name,
                                  struct sift_buf *out);

/* What a rule is checked against. */
struct sift_rule_env {
    const struct sift_config *cfg; /* limits, retention, rules.* defaults */
    sift_rule_saved_cb saved;      /* may be NULL: no saved searches */
    void *saved_arg;
};

/**
 * Parses and validates the rule object o (borrowed).  Every problem is a
 * sentence naming the rule and the member, e.g. `rule "payments-errors":
 * query: unexpected ')' at 17` or `rule "x": window 60d is longer than
 * tiers.retention (30d)`, written to err[0..err_len).  Returns SIFT_OK
 * with *out (release with sift_rule_free()) or SIFT_EINVAL.  Loop thread
 * (env->saved may need it); the result is then immutable.
 */
int sift_rule_from_json(const json_t *o, const struct sift_rule_env *env,
                        struct sift_rule **out, char *err, size_t err_len);

/** Frees a rule.  NULL is fine. */
void sift_rule_free(struct sift_rule *r);

/**
 * Appends the definition as JSON (what was given, normalised: durations
 * as written by sift, defaults filled in), without the braces' trailing
 * newline.  Round-trips through sift_rule_from_json().
 */
void sift_rule_to_json(const struct sift_rule *r, struct sift_buf *out);

/** op(value, threshold).  Pure. */
int sift_rule_compare(enum sift_rule_op op, double value, double threshold);

/** Non-zero when a higher value is "more firing" (>, >=, ==, !=). */
int sift_rule_op_upward(enum sift_rule_op op);

/* ---- evaluation (rule_eval.c) ---- */

/* One group's value (group NULL = the rule has no group_by). */
struct sift_rule_group {
    char *group;     /* owned; NULL without group_by */
    double value;    /* the rule's value; count for absent */
    int has_value;   /* 0: nothing to compare (no numbers, ratio x/0) */
    int holds;       /* the condition holds */
    uint64_t events; /* matching events of the group */
};

struct sift_rule_result {
    int64_t from_ns, to_ns; /* the window evaluated */
    struct sift_rule_group *groups;
    size_t n_groups;
    uint64_t groups_seen;    /* distinct groups in the window */
    uint64_t groups_dropped; /* holding, but past max_groups */
    uint64_t events;         /* matching events in the window */
    int timed_out;
    int rc;          /* SIFT_OK or the error of the evaluation */
    char error[200]; /* rc's message */
};

/**
 * Evaluates r at now_ns over segs[0..n) (borrowed; a snapshot, in-memory
 * segments included).  Without group_by: one group.  With group_by: the
 * groups that hold (at most max_groups, the most extreme first) plus
 * every group named in watch[0..n_watch) (groups already pending or
 * firing, so they can resolve), each with its value.  Absent with
 * group_by: a group holds when it had events in the window before and
 * none now.  deadline_mono_ns (0 = none) stops the work; the result is
 * then marked timed_out and holds nothing.  Fills *res (release with
 * sift_rule_result_cleanup()).  Any thread.
 */
void sift_rule_eval(const struct sift_rule *r, struct sift_segment *const *segs,
                    size_t n, int64_t now_ns, int64_t deadline_mono_ns,
                    const char *const *watch, size_t n_watch,
                    struct sift_rule_result *res);

void sift_rule_result_cleanup(struct sift_rule_result *res);

#endif /* SIFT_RULE_H */
