/*
 * rule.c - alert rule definitions: parsing and validating a rule object
 * (API bodies and the rules file alike), and writing it back.
 *
 * Design.  A rule is one JSON object; every member is checked here and
 * every error names the rule and the member, so a user reading the
 * message of a 400 or of `siftd --check-config` knows what to fix.  The
 * condition is a small expression:
 *
 *   absent | count OP N | ratio OP N | FN(field) OP N
 *   FN = avg | min | max | sum | pNN (p50, p90, p99.9 ...)
 *   OP = > | >= | < | <= | == | !=
 *
 * Durations are sift's ("30s", "5m", "1h"; a bare number is ms).  A
 * query of the form "@name" (or the member "saved") reads a saved search;
 * it is resolved once, when the rule is created, and kept in `effective`
 * (a later edit of the saved search re-validates the rules that use it:
 * rules.c).  Defaults come from the [rules] section of the config.
 *
 * Invariants: a struct sift_rule is immutable once returned; q (and
 * q_den for ratios) is the parse of effective (and denominator).
 * Threads: sift_rule_from_json() on the loop (it calls the saved-search
 * lookup); the rest is pure.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/query.h"
#include "sift/rule.h"

#define NS_PER_MS INT64_C(1000000)

static const char *const members[] = {
    "name",       "query",    "saved",    "denominator", "condition",
    "window",     "interval", "for",      "delay",       "group_by",
    "max_groups", "labels",   "severity", "description", "enabled",
};

void
sift_rule_free(struct sift_rule *r)
{
    if (!r)
        return;
    sift_free(r->query);
    sift_free(r->saved);
    sift_free(r->effective);
    sift_free(r->denominator);
    sift_free(r->condition);
    sift_free(r->field);
    sift_free(r->group_by);
    sift_free(r->labels);
    sift_free(r->description);
    sift_query_free(r->q);
    sift_query_free(r->q_den);
    sift_free(r);
}

int
sift_rule_compare(enum sift_rule_op op, double v, double t)
{
    switch (op) {
    case SIFT_RULE_GT: return v > t;
    case SIFT_RULE_GE: return v >= t;
    case SIFT_RULE_LT: return v < t;
    case SIFT_RULE_LE: return v <= t;
    case SIFT_RULE_EQ: return v == t;
    case SIFT_RULE_NE: return v != t;
    }
    return 0;
}

int
sift_rule_op_upward(enum sift_rule_op op)
{
    return op != SIFT_RULE_LT && op != SIFT_RULE_LE;
}

/* ---- errors ---- */

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static int
fail(char *err, size_t err_len, const char *name, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (name && *name)
        snprintf(err, err_len, "rule \"%s\": %s", name, msg);
    else
        snprintf(err, err_len, "rule: %s", msg);
    return SIFT_EINVAL;
}

static int
valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= SIFT_ALERT_RULE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.')
            return 0;
    }
    return 1;
}

static int
valid_field(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.' && c != '@')
            return 0;
    }
    return 1;
}

/* ---- condition ---- */

static const char *
skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Parses the condition into r.  Returns NULL or a reason. */
static const char *
parse_condition(const char *s, struct sift_rule *r)
{
    const char *p = skip_ws(s);
    if (strncmp(p, "absent", 6) == 0 && *skip_ws(p + 6) == '\0') {
        r->stat = SIFT_RULE_ABSENT;
        r->op = SIFT_RULE_EQ;
        r->threshold = 0;
        return NULL;
    }
    const char *w = p;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
        p++;
    size_t wl = (size_t)(p - w);
    if (wl == 5 && memcmp(w, "count", 5) == 0) {
        r->stat = SIFT_RULE_COUNT;
    } else if (wl == 5 && memcmp(w, "ratio", 5) == 0) {
        r->stat = SIFT_RULE_RATIO;
    } else {
        static const struct {
            const char *name;
            enum sift_rule_stat stat;
        } fns[] = {{"avg", SIFT_RULE_AVG},
                   {"min", SIFT_RULE_MIN},
                   {"max", SIFT_RULE_MAX},
                   {"sum", SIFT_RULE_SUM}};
        int found = 0;
        for (size_t i = 0; i < 4 && !found; i++) {
            if (wl == 3 && memcmp(w, fns[i].name, 3) == 0) {
                r->stat = fns[i].stat;
                found = 1;
            }
        }
        if (!found && wl >= 2 && w[0] == 'p') {
            char num[16];
            if (wl - 1 >= sizeof(num))
                return "unknown statistic";
            memcpy(num, w + 1, wl - 1);
            num[wl - 1] = '\0';
            char *end;
            double pct = strtod(num, &end);
            if (*end || !(pct > 0 && pct < 100))
                return "a percentile is p1 to p99.9 (e.g. p99)";
            r->stat = SIFT_RULE_PCT;
            r->pct = pct;
            found = 1;
        }
        if (!found)
            return "expected absent, count, ratio, avg(f), min(f), max(f), "
                   "sum(f) or pNN(f) first";
        p = skip_ws(p);
        if (*p != '(')
            return "a statistic names its field: avg(duration_ms)";
        const char *f = skip_ws(p + 1);
        const char *fe = f;
        while (*fe && *fe != ')' && *fe != ' ')
            fe++;
        r->field = sift_xstrndup(f, (size_t)(fe - f));
        p = skip_ws(fe);
        if (*p != ')' || !valid_field(r->field))
            return "a statistic names one field: avg(duration_ms)";
        p++;
    }
    p = skip_ws(p);
    static const struct {
        const char *s;
        enum sift_rule_op op;
    } ops[] = {{">=", SIFT_RULE_GE}, {"<=", SIFT_RULE_LE}, {"==", SIFT_RULE_EQ},
               {"!=", SIFT_RULE_NE}, {">", SIFT_RULE_GT},  {"<", SIFT_RULE_LT}};
    int found = 0;
    for (size_t i = 0; i < 6 && !found; i++) {
        size_t n = strlen(ops[i].s);
        if (strncmp(p, ops[i].s, n) == 0) {
            r->op = ops[i].op;
            p += n;
            found = 1;
        }
    }
    if (!found)
        return "expected an operator (>, >=, <, <=, ==, !=) after the value";
    p = skip_ws(p);
    char *end;
    errno = 0;
    r->threshold = strtod(p, &end);
    if (end == p || errno || !isfinite(r->threshold) || *skip_ws(end))
        return "expected a number after the operator";
    return NULL;
}

/* ---- members ---- */

static const char *
str_member(const json_t *o, const char *key, int *bad)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = 1;
        return NULL;
    }
    return json_string_value(v);
}

/* A duration member: a string ("5m") or a number of ms. */
static int
duration_member(const json_t *o, const char *key, int64_t dflt_ms,
                int64_t *out_ns, const char *name, char *err, size_t err_len)
{
    json_t *v = json_object_get(o, key);
    int64_t ms = dflt_ms;
    if (v && !json_is_null(v)) {
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            ms = json_integer_value(v);
        else if (!json_is_string(v) ||
                 sift_parse_duration_ms(json_string_value(v), &ms) < 0 ||
                 ms < 0)
            return fail(err, err_len, name,
                        "%s: expected a duration such as \"30s\", \"5m\" or "
                        "\"1h\"",
                        key);
    }
    if (ms > INT64_MAX / NS_PER_MS)
        return fail(err, err_len, name, "%s: too long", key);
    *out_ns = ms * NS_PER_MS;
    return SIFT_OK;
}

/* Parses a query with the config's limits; err names the member. */
static int
parse_query(const char *text, const struct sift_config *cfg,
            struct sift_query **out, const char *name, const char *member,
            char *err, size_t err_len)
{
    struct sift_query_limits lim = {
        .max_query_bytes = cfg ? (size_t)cfg->max_query_bytes : 0,
        .max_expansion = cfg ? (uint64_t)cfg->max_expansion : 0};
    struct sift_query_error qe;
    memset(&qe, 0, sizeof(qe));
    if (sift_query_parse(text, strlen(text), &lim, out, &qe) < 0) {
        /* The reason may name the position already ("... at 6"). */
        if (qe.position >= 0 && !strstr(qe.reason, " at "))
            return fail(err, err_len, name, "%s does not parse: %s (at %d)",
                        member, qe.reason, (int)qe.position);
        return fail(err, err_len, name, "%s does not parse: %s", member,
                    qe.reason);
    }
    return SIFT_OK;
}

static void
fmt_duration(int64_t ns, struct sift_buf *out)
{
    int64_t ms = ns / NS_PER_MS;
    static const struct {
        int64_t ms;
        const char *unit;
    } u[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    for (size_t i = 0; i < 4; i++) {
        if (ms > 0 && ms % u[i].ms == 0) {
            sift_buf_appendf(out, "\"%" PRId64 "%s\"", ms / u[i].ms, u[i].unit);
            return;
        }
    }
    sift_buf_appendf(out, "\"%" PRId64 "ms\"", ms);
}

static int
check_members(const json_t *o, const char *name, char *err, size_t err_len)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)o, key, v)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
            known |= strcmp(key, members[i]) == 0;
        if (!known)
            return fail(err, err_len, name,
                        "unknown member '%.60s' (known: name, query, saved, "
                        "denominator, condition, window, interval, for, "
                        "delay, group_by, max_groups, labels, severity, "
                        "description, enabled)",
                        key);
    }
    return SIFT_OK;
}

static int
read_labels(const json_t *o, struct sift_rule *r, char *err, size_t err_len)
{
    json_t *v = json_object_get(o, "labels");
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_putc(&b, '{');
    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            sift_buf_cleanup(&b);
            return fail(err, err_len, r->name,
                        "labels: expected an object of strings");
        }
        const char *k;
        json_t *lv;
        int first = 1;
        json_object_foreach(v, k, lv)
        {
            if (!json_is_string(lv) || !valid_field(k)) {
                sift_buf_cleanup(&b);
                return fail(err, err_len, r->name,
                            "labels: '%.60s' must be a name "
                            "([A-Za-z0-9_.-]) with a string value",
                            k);
            }
            if (!first)
                sift_buf_putc(&b, ',');
            first = 0;
            sift_buf_put_json_str(&b, k, strlen(k));
            sift_buf_putc(&b, ':');
            sift_buf_put_json_str(&b, json_string_value(lv),
                                  json_string_length(lv));
        }
    }
    sift_buf_putc(&b, '}');
    /* The labels travel with every alert (fixed room), group included. */
    if (b.len + 100 >= SIFT_ALERT_LABELS_MAX) {
        sift_buf_cleanup(&b);
        return fail(err, err_len, r->name, "labels: at most %d bytes of JSON",
                    SIFT_ALERT_LABELS_MAX - 100);
    }
    (void)sift_buf_cstr(&b); /* detach keeps the NUL */
    r->labels = sift_buf_detach(&b, NULL);
    return SIFT_OK;
}

/* The rule's window, interval, for and delay (durations, with their
 * defaults), checked against each other and tiers.retention. */
static int
read_times(const json_t *o, const struct sift_config *cfg, bool grouped,
           struct sift_rule *r, char *err, size_t err_len)
{
    const char *name = r->name;
    int rc;
    int64_t dflt_interval = cfg ? cfg->rules_interval_ms : 60000;
    int64_t dflt_delay = cfg ? cfg->rules_delay_ms : 0;
    if ((rc = duration_member(o, "window", 5 * 60000LL, &r->window_ns, name,
                              err, err_len)) < 0 ||
        (rc = duration_member(o, "interval", dflt_interval, &r->interval_ns,
                              name, err, err_len)) < 0 ||
        (rc = duration_member(o, "for", 0, &r->for_ns, name, err, err_len)) <
            0 ||
        (rc = duration_member(o, "delay", dflt_delay, &r->delay_ns, name, err,
                              err_len)) < 0)
        return rc;
    /* A bare number is milliseconds: say so, 300 may mean seconds. */
    if (r->window_ns < 1000 * NS_PER_MS || r->interval_ns < 1000 * NS_PER_MS) {
        int w = r->window_ns < 1000 * NS_PER_MS;
        return fail(err, err_len, name,
                    "%s: at least 1s, not %" PRId64 " ms (a bare number is "
                    "milliseconds: write \"5m\")",
                    w ? "window" : "interval",
                    (w ? r->window_ns : r->interval_ns) / NS_PER_MS);
    }
    if (cfg && cfg->retention_ms > 0 &&
        r->window_ns + r->delay_ns > cfg->retention_ms * NS_PER_MS) {
        struct sift_buf a = SIFT_BUF_INIT, b = SIFT_BUF_INIT;
        fmt_duration(r->window_ns + r->delay_ns, &a);
        fmt_duration(cfg->retention_ms * NS_PER_MS, &b);
        rc = fail(err, err_len, name,
                  "window (with delay) %s is longer than tiers.retention "
                  "%s: the events it needs are deleted before",
                  sift_buf_cstr(&a), sift_buf_cstr(&b));
        sift_buf_cleanup(&a);
        sift_buf_cleanup(&b);
        return rc;
    }
    if (r->stat == SIFT_RULE_ABSENT && grouped &&
        r->window_ns * 2 + r->delay_ns > (cfg && cfg->retention_ms
                                              ? cfg->retention_ms * NS_PER_MS
                                              : INT64_MAX)) {
        return fail(err, err_len, name,
                    "an absence per group looks one window further back; two "
                    "windows are longer than tiers.retention");
    }
    return SIFT_OK;
}

int
sift_rule_from_json(const json_t *o, const struct sift_rule_env *env,
                    struct sift_rule **out, char *err, size_t err_len)
{
    const struct sift_config *cfg = env ? env->cfg : NULL;
    int bad = 0;
    if (!json_is_object(o))
        return fail(err, err_len, NULL, "expected a JSON object");
    const char *name = str_member(o, "name", &bad);
    if (!name || bad)
        return fail(err, err_len, NULL, "name: required, a string");
    if (!valid_name(name))
        return fail(err, err_len, NULL,
                    "name \"%.80s\": 1 to %d characters of A-Z a-z 0-9 _ - .",
                    name, SIFT_ALERT_RULE_MAX - 1);
    int rc = check_members(o, name, err, err_len);
    if (rc < 0)
        return rc;
    struct sift_rule *r = sift_xcalloc(1, sizeof(*r));
    snprintf(r->name, sizeof(r->name), "%s", name);
    r->enabled = 1;
    r->max_groups = cfg ? (uint32_t)cfg->rules_max_groups : 100;
    r->severity = SIFT_SEVERITY_WARNING;

    const char *query = str_member(o, "query", &bad);
    const char *saved = str_member(o, "saved", &bad);
    const char *den = str_member(o, "denominator", &bad);
    const char *cond = str_member(o, "condition", &bad);
    const char *group = str_member(o, "group_by", &bad);
    const char *sev = str_member(o, "severity", &bad);
    const char *desc = str_member(o, "description", &bad);
    if (bad) {
        rc = fail(err, err_len, name,
                  "query, saved, denominator, condition, group_by, severity "
                  "and description are strings");
        goto out;
    }
    if (query && query[0] == '@' && !saved)
        saved = query + 1;
    else if (query && saved) {
        rc = fail(err, err_len, name, "give query or saved, not both");
        goto out;
    }
    r->query = sift_xstrdup(query ? query : "");
    if (saved) {
        struct sift_buf q = SIFT_BUF_INIT;
        if (!env || !env->saved || env->saved(env->saved_arg, saved, &q) < 0) {
            sift_buf_cleanup(&q);
            rc = fail(err, err_len, name, "saved: no saved search \"%.80s\"",
                      saved);
            goto out;
        }
        r->saved = sift_xstrdup(saved);
        r->effective = sift_xstrndup(q.data ? q.data : "", q.len);
        sift_buf_cleanup(&q);
    } else {
        r->effective = sift_xstrdup(r->query);
    }
    if (strlen(r->effective) + 300 >= SIFT_ALERT_QUERY_MAX) {
        rc = fail(err, err_len, name,
                  "query: at most %d bytes (the query is kept with each "
                  "alert)",
                  SIFT_ALERT_QUERY_MAX - 300);
        goto out;
    }
    rc =
        parse_query(r->effective, cfg, &r->q, name,
                    saved ? "the saved search's query" : "query", err, err_len);
    if (rc < 0)
        goto out;

    if (!cond) {
        rc = fail(err, err_len, name,
                  "condition: required, e.g. \"count > 50\", \"ratio > "
                  "0.05\", \"p99(duration_ms) > 500\" or \"absent\"");
        goto out;
    }
    r->condition = sift_xstrdup(cond);
    const char *why = parse_condition(cond, r);
    if (why) {
        rc = fail(err, err_len, name, "condition \"%.100s\": %s", cond, why);
        goto out;
    }
    if (r->stat == SIFT_RULE_RATIO) {
        if (!den) {
            rc = fail(err, err_len, name,
                      "denominator: required for a ratio (the query whose "
                      "count divides the query's)");
            goto out;
        }
        r->denominator = sift_xstrdup(den);
        rc =
            parse_query(den, cfg, &r->q_den, name, "denominator", err, err_len);
        if (rc < 0)
            goto out;
    } else if (den) {
        rc = fail(err, err_len, name,
                  "denominator: only a ratio condition has one");
        goto out;
    }

    rc = read_times(o, cfg, group != NULL, r, err, err_len);
    if (rc < 0)
        goto out;
    if (group) {
        if (!valid_field(group)) {
            rc = fail(err, err_len, name, "group_by: a field name");
            goto out;
        }
        r->group_by = sift_xstrdup(group);
    }
    json_t *mg = json_object_get(o, "max_groups");
    if (mg && !json_is_null(mg)) {
        if (!json_is_integer(mg) || json_integer_value(mg) < 1 ||
            json_integer_value(mg) > SIFT_RULE_MAX_GROUPS) {
            rc = fail(err, err_len, name, "max_groups: 1 to %u",
                      SIFT_RULE_MAX_GROUPS);
            goto out;
        }
        r->max_groups = (uint32_t)json_integer_value(mg);
    }
    if (sev && sift_alert_severity_parse(sev, &r->severity) < 0) {
        rc = fail(err, err_len, name,
                  "severity: info, warning or critical, not \"%.40s\"", sev);
        goto out;
    }
    r->description = sift_xstrdup(desc ? desc : "");
    json_t *en = json_object_get(o, "enabled");
    if (en && !json_is_null(en)) {
        if (!json_is_boolean(en)) {
            rc = fail(err, err_len, name, "enabled: true or false");
            goto out;
        }
        r->enabled = json_is_true(en);
    }
    rc = read_labels(o, r, err, err_len);
out:
    if (rc < 0) {
        sift_rule_free(r);
        return rc;
    }
    *out = r;
    return SIFT_OK;
}

void
sift_rule_to_json(const struct sift_rule *r, struct sift_buf *out)
{
    SIFT_BUF_LIT(out, "{\"name\":");
    sift_buf_put_json_str(out, r->name, strlen(r->name));
    if (r->saved) {
        SIFT_BUF_LIT(out, ",\"saved\":");
        sift_buf_put_json_str(out, r->saved, strlen(r->saved));
    } else {
        SIFT_BUF_LIT(out, ",\"query\":");
        sift_buf_put_json_str(out, r->query, strlen(r->query));
    }
    if (r->denominator) {
        SIFT_BUF_LIT(out, ",\"denominator\":");
        sift_buf_put_json_str(out, r->denominator, strlen(r->denominator));
    }
    SIFT_BUF_LIT(out, ",\"condition\":");
    sift_buf_put_json_str(out, r->condition, strlen(r->condition));
    SIFT_BUF_LIT(out, ",\"window\":");
    fmt_duration(r->window_ns, out);
    SIFT_BUF_LIT(out, ",\"interval\":");
    fmt_duration(r->interval_ns, out);
    SIFT_BUF_LIT(out, ",\"for\":");
    if (r->for_ns > 0)
        fmt_duration(r->for_ns, out);
    else
        SIFT_BUF_LIT(out, "\"0s\"");
    SIFT_BUF_LIT(out, ",\"delay\":");
    if (r->delay_ns > 0)
        fmt_duration(r->delay_ns, out);
    else
        SIFT_BUF_LIT(out, "\"0s\"");
    if (r->group_by) {
        SIFT_BUF_LIT(out, ",\"group_by\":");
        sift_buf_put_json_str(out, r->group_by, strlen(r->group_by));
    }
    sift_buf_appendf(out, ",\"max_groups\":%" PRIu32 ",\"labels\":%s",
                     r->max_groups, r->labels);
    sift_buf_appendf(out, ",\"severity\":\"%s\",\"description\":",
                     sift_alert_severity_name(r->severity));
    sift_buf_put_json_str(out, r->description, strlen(r->description));
    sift_buf_appendf(out, ",\"enabled\":%s}", r->enabled ? "true" : "false");
}
