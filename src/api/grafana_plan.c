/*
 * grafana_plan.c - Grafana JSON datasource: request -> plan, result -> frames.
 *
 * What: the pure translation behind the /grafana endpoints (see grafana_int.h).
 * A /query body becomes a struct sift_gf_plan: one time range, one bucket width
 * and one sift query string per target, in which Grafana's ad-hoc filters (from
 * "filters" and the older "adhocFilters") are ANDed as field:value clauses.
 * Engine results (JSON text from query.h) become the elements of the top-level
 * JSON array Grafana maps through toDataFrame(): timeseries {target, datapoints
 * [[value, epoch_ms]]}, tables {type "table", columns, rows} and data frames
 * {fields} (logs).
 *
 * Design: Grafana adds many keys we do not use (app, requestId, timezone,
 * panelId, dashboardUID, startTime, scopedVars, cacheTimeout...); they are
 * ignored, never rejected.  What we do use is validated and every problem
 * is a 400 with a message that names the target (refId) and the key.
 *
 * Invariants: no series is longer than the request's maxDataPoints (the
 * interval is chosen for it, and count series are merged if the epoch
 * alignment still yields one bucket too many); all times on the wire are
 * epoch milliseconds.
 *
 * Threads: pure functions; any thread.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/grafana_int.h"
#include "api/json_out.h"
#include "api/params.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/query.h"
#include "sift/utf8.h"

static const char *const kind_names[SIFT_GF_KIND_COUNT] = {
    "logs", "count", "terms", "stats", "patterns", "alerts",
};

const char *
sift__gf_kind_name(enum sift_gf_kind kind)
{
    return (unsigned)kind < SIFT_GF_KIND_COUNT ? kind_names[kind] : "?";
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

int
sift__gf_error_set(struct sift_gf_error *err, int rc, int status,
                   const char *code, const char *fmt, ...)
{
    err->status = status;
    snprintf(err->code, sizeof(err->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return rc;
}

void
sift__gf_error_json(const struct sift_gf_error *err, struct sift_buf *out)
{
    const char *code = err->code[0] ? err->code : "internal";
    sift_buf_append(out, "{\"message\":", 11);
    sift_buf_put_json_str(out, err->message, strlen(err->message));
    sift_buf_append(out, ",\"error\":{\"code\":", 17);
    sift_buf_put_json_str(out, code, strlen(code));
    sift_buf_append(out, ",\"message\":", 11);
    sift_buf_put_json_str(out, err->message, strlen(err->message));
    sift_buf_append(out, "}}", 2);
}

/* ------------------------------------------------------------------ */
/* Small JSON readers                                                   */
/* ------------------------------------------------------------------ */

/* A number or a numeric string as int64; returns 0 on success. */
static int
json_int64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d > 9e18 || d < -9e18)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (end == s || *end != '\0' || errno == ERANGE)
            return -1;
        *out = (int64_t)x;
        return 0;
    }
    return -1;
}

/* Ends a string at its first whitespace-trimmed end; returns [b, e). */
static void
trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static char *
dup_trimmed(const char *s)
{
    const char *b = s, *e = s + strlen(s);
    trim(&b, &e);
    return sift_xstrndup(b, (size_t)(e - b));
}

/*
 * A single-valued payload key as text (owned) or NULL when absent/empty.
 * Builder-mode multi-selects send arrays: the first element is used.
 */
static char *
payload_single(const json_t *payload, const char *key)
{
    const json_t *v = json_object_get(payload, key);
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_string(v)) {
        char *s = dup_trimmed(json_string_value(v));
        if (*s)
            return s;
        sift_free(s);
        return NULL;
    }
    if (json_is_integer(v) || json_is_real(v)) {
        char tmp[64];
        sift_fmt_double(tmp, sizeof(tmp), json_number_value(v));
        return sift_xstrdup(tmp);
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Variables left in a query string                                     */
/* ------------------------------------------------------------------ */

/* Appends s[0..len) as a quoted query phrase ("a \"b\""). */
static void
put_quoted(struct sift_buf *out, const char *s, size_t len)
{
    sift_buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            sift_buf_putc(out, '\\');
        sift_buf_putc(out, s[i]);
    }
    sift_buf_putc(out, '"');
}

/* Appends a scopedVars value: text as is, several values as (a OR b). */
static void
put_var_value(struct sift_buf *out, const json_t *v)
{
    if (json_is_string(v)) {
        sift_buf_append(out, json_string_value(v), json_string_length(v));
    } else if (json_is_integer(v) || json_is_real(v)) {
        char tmp[40];
        sift_buf_append(
            out, tmp, sift_fmt_double(tmp, sizeof(tmp), json_number_value(v)));
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n == 1) {
            put_var_value(out, json_array_get(v, 0));
            return;
        }
        sift_buf_putc(out, '(');
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            if (i)
                sift_buf_append(out, " OR ", 4);
            if (json_is_string(e))
                put_quoted(out, json_string_value(e), json_string_length(e));
            else
                put_var_value(out, e);
        }
        sift_buf_putc(out, ')');
    }
}

/*
 * Grafana interpolates payloads before sending them, so this only
 * catches what it left: $name or ${name} (${name:format} too) naming a
 * key of scopedVars.  Anything else stays as written.
 */
static void
subst_vars(const char *s, const json_t *scoped, struct sift_buf *out)
{
    const char *p = s;
    while (*p) {
        if (*p != '$' || !json_is_object(scoped)) {
            sift_buf_putc(out, *p++);
            continue;
        }
        const char *name = p + 1, *end;
        int braced = *name == '{';
        if (braced)
            name++;
        end = name;
        while (isalnum((unsigned char)*end) || *end == '_')
            end++;
        const char *after = end;
        if (braced) {
            if (*after == ':')
                after += strcspn(after, "}");
            if (*after != '}') {
                sift_buf_putc(out, *p++);
                continue;
            }
            after++;
        }
        char key[128];
        size_t klen = (size_t)(end - name);
        const json_t *var = NULL;
        if (klen > 0 && klen < sizeof(key)) {
            memcpy(key, name, klen);
            key[klen] = '\0';
            var = json_object_get(scoped, key);
        }
        const json_t *val =
            json_is_object(var) ? json_object_get(var, "value") : NULL;
        if (!val) {
            sift_buf_putc(out, *p++);
            continue;
        }
        put_var_value(out, val);
        p = after;
    }
}

/*
 * The payload query (owned, never NULL): a string, or an array of
 * strings (a multi-value variable through the json formatter) ORed.
 */
static char *
payload_query(const json_t *payload, const json_t *scoped)
{
    const json_t *v = json_object_get(payload, "query");
    struct sift_buf b = SIFT_BUF_INIT;
    if (json_is_string(v)) {
        subst_vars(json_string_value(v), scoped, &b);
    } else if (json_is_array(v)) {
        size_t n = json_array_size(v), k = 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *e = json_array_get(v, i);
            if (!json_is_string(e) || json_string_length(e) == 0)
                continue;
            if (k++)
                sift_buf_append(&b, " OR ", 4);
            sift_buf_putc(&b, '(');
            subst_vars(json_string_value(e), scoped, &b);
            sift_buf_putc(&b, ')');
        }
    } else if (json_is_integer(v) || json_is_real(v)) {
        char tmp[40];
        sift_buf_append(
            &b, tmp, sift_fmt_double(tmp, sizeof(tmp), json_number_value(v)));
    }
    char *s = dup_trimmed(sift_buf_cstr(&b));
    sift_buf_cleanup(&b);
    return s;
}

/* ------------------------------------------------------------------ */
/* Ad-hoc filters                                                       */
/* ------------------------------------------------------------------ */

/* Field names are bare words: escape whatever the query syntax uses. */
static void
put_field_name(struct sift_buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '_' || c == '.' || c == '@' || c >= 0x80))
            sift_buf_putc(out, '\\');
        sift_buf_putc(out, s[i]);
    }
}

/* Appends /re/ with the slashes inside escaped. */
static void
put_regex(struct sift_buf *out, const char *s, size_t len)
{
    sift_buf_putc(out, '/');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '/' && (i == 0 || s[i - 1] != '\\'))
            sift_buf_putc(out, '\\');
        sift_buf_putc(out, s[i]);
    }
    sift_buf_putc(out, '/');
}

/* A filter value as text into tmp (strings borrowed, numbers printed). */
static const char *
filter_text(const json_t *v, char *tmp, size_t tmp_len, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    if (json_is_integer(v) || json_is_real(v)) {
        *len = sift_fmt_double(tmp, tmp_len, json_number_value(v));
        return tmp;
    }
    if (json_is_boolean(v)) {
        *len = json_is_true(v) ? 4 : 5;
        return json_is_true(v) ? "true" : "false";
    }
    return NULL;
}

static int
is_number_text(const char *s, size_t len)
{
    if (len == 0 || len > 60)
        return 0;
    char tmp[64];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    double d = strtod(tmp, &end);
    return *end == '\0' && isfinite(d);
}

static int
filter_one(const json_t *f, size_t idx, struct sift_buf *out,
           struct sift_gf_error *err)
{
    const json_t *jkey = json_object_get(f, "key");
    const json_t *jop = json_object_get(f, "operator");
    if (!json_is_object(f) || !json_is_string(jkey))
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_filter",
                                  "ad-hoc filter %zu: \"key\" must be a "
                                  "string",
                                  idx);
    const char *key = json_string_value(jkey);
    size_t key_len = json_string_length(jkey);
    if (key_len == 0)
        return SIFT_OK; /* a half-typed filter: nothing to apply yet */
    const char *op = json_is_string(jop) ? json_string_value(jop) : "=";
    char tmp[64];
    size_t vlen = 0;
    const char *val =
        filter_text(json_object_get(f, "value"), tmp, sizeof(tmp), &vlen);
    int neg = 0;
    if (out->len)
        sift_buf_putc(out, ' ');
    size_t mark = out->len;
    if (strcmp(op, "=|") == 0 || strcmp(op, "!=|") == 0) {
        /* Grafana 11 multi-value filters list every value in "values". */
        const json_t *vals = json_object_get(f, "values");
        neg = op[0] == '!';
        if (neg)
            sift_buf_putc(out, '-');
        put_field_name(out, key, key_len);
        sift_buf_append(out, ":(", 2);
        size_t n = json_array_size(vals), k = 0;
        for (size_t i = 0; i < n; i++) {
            char t2[64];
            size_t l2;
            const char *s2 =
                filter_text(json_array_get(vals, i), t2, sizeof(t2), &l2);
            if (!s2)
                continue;
            if (k++)
                sift_buf_append(out, " OR ", 4);
            put_quoted(out, s2, l2);
        }
        if (k == 0 && val) {
            put_quoted(out, val, vlen);
            k++;
        }
        if (k == 0) {
            out->len = mark > 0 ? mark - 1 : 0;
            return SIFT_OK;
        }
        sift_buf_putc(out, ')');
        return SIFT_OK;
    }
    if (!val)
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_filter",
                                  "ad-hoc filter on \"%s\": \"value\" must be "
                                  "a string or a number",
                                  key);
    if (strcmp(op, "=") == 0 || strcmp(op, "!=") == 0) {
        if (op[0] == '!')
            sift_buf_putc(out, '-');
        put_field_name(out, key, key_len);
        sift_buf_putc(out, ':');
        put_quoted(out, val, vlen);
    } else if (strcmp(op, "=~") == 0 || strcmp(op, "!~") == 0) {
        if (op[0] == '!')
            sift_buf_putc(out, '-');
        put_field_name(out, key, key_len);
        sift_buf_putc(out, ':');
        put_regex(out, val, vlen);
    } else if (strcmp(op, "<") == 0 || strcmp(op, ">") == 0 ||
               strcmp(op, "<=") == 0 || strcmp(op, ">=") == 0) {
        if (!is_number_text(val, vlen))
            return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_filter",
                                      "ad-hoc filter %s %s: a comparison "
                                      "needs a number",
                                      key, op);
        put_field_name(out, key, key_len);
        sift_buf_appendf(out, ":%s", op);
        sift_buf_append(out, val, vlen);
    } else {
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_filter",
                                  "ad-hoc filter on \"%s\": unsupported "
                                  "operator \"%s\" (use = != =~ !~ < > <= >=)",
                                  key, op);
    }
    return SIFT_OK;
}

int
sift__gf_filters_query(const json_t *filters, struct sift_buf *out,
                       struct sift_gf_error *err)
{
    if (filters == NULL || json_is_null(filters))
        return SIFT_OK;
    if (!json_is_array(filters))
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_filter",
                                  "ad-hoc filters must be an array");
    for (size_t i = 0; i < json_array_size(filters); i++) {
        int rc = filter_one(json_array_get(filters, i), i, out, err);
        if (rc < 0)
            return rc;
    }
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Time range and interval                                              */
/* ------------------------------------------------------------------ */

int
sift__gf_time_range(const json_t *body, int64_t now_ns, int64_t def_from_ns,
                    int64_t def_to_ns, int64_t *from_ns, int64_t *to_ns,
                    struct sift_gf_error *err)
{
    static const char *const keys[] = {"range", "rangeRaw", "timeRange"};
    const json_t *r = NULL;
    const char *which = NULL;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && !r; i++) {
        const json_t *c = json_object_get(body, keys[i]);
        if (json_is_object(c) && json_object_get(c, "from") &&
            json_object_get(c, "to")) {
            r = c;
            which = keys[i];
        }
    }
    if (!r) {
        *from_ns = def_from_ns;
        *to_ns = def_to_ns;
        return SIFT_OK;
    }
    int64_t f, t;
    char fname[24], tname[24], ftext[64], ttext[64];
    struct sift_query_error qe;
    snprintf(fname, sizeof(fname), "%s.from", which);
    snprintf(tname, sizeof(tname), "%s.to", which);
    if (sift__api_time_json(fname, json_object_get(r, "from"), now_ns, 0, &f,
                            ftext, sizeof(ftext), &qe) < 0 ||
        sift__api_time_json(tname, json_object_get(r, "to"), now_ns, 0, &t,
                            ttext, sizeof(ttext), &qe) < 0)
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_range", "%s",
                                  qe.reason);
    if (sift_query_time_check(fname, ftext, f, tname, ttext, t, &qe) < 0)
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_range", "%s",
                                  qe.reason);
    /* Grafana's "to" is inclusive; ours is exclusive. */
    *from_ns = f;
    *to_ns = t <= INT64_MAX - SIFT_NS_PER_MS ? t + SIFT_NS_PER_MS : t;
    return SIFT_OK;
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

uint64_t
sift__gf_bucket_count(int64_t from_ns, int64_t to_ns, int64_t iv_ms)
{
    if (iv_ms <= 0 || to_ns <= from_ns)
        return 1;
    int64_t iv_ns = iv_ms > INT64_MAX / SIFT_NS_PER_MS / 4
                        ? INT64_MAX / 4
                        : iv_ms * SIFT_NS_PER_MS;
    int64_t start = floor_div(from_ns, iv_ns) * iv_ns;
    uint64_t span = (uint64_t)to_ns - (uint64_t)start;
    return (span + (uint64_t)iv_ns - 1) / (uint64_t)iv_ns;
}

/* The next "nice" interval (the histogram's table), or ms past it. */
static int64_t
next_nice(int64_t ms)
{
    int64_t iv = sift_query_nice_interval_ms(ms);
    return iv ? iv : ms;
}

int64_t
sift__gf_pick_interval(int64_t from_ns, int64_t to_ns, int64_t want_ms,
                       uint32_t max_points)
{
    uint32_t m = max_points ? max_points : 1;
    int64_t span_ms = to_ns > from_ns
                          ? (int64_t)(((uint64_t)to_ns - (uint64_t)from_ns +
                                       (uint64_t)SIFT_NS_PER_MS - 1) /
                                      (uint64_t)SIFT_NS_PER_MS)
                          : 1;
    int64_t need = want_ms > 0 ? want_ms : 1;
    /*
     * Epoch-aligned buckets over a span S with width w number at most
     * ceil(S / w) + 1, so w >= S / (m - 1) keeps them within m.
     */
    int64_t per =
        m >= 2 ? (span_ms + (int64_t)m - 2) / (int64_t)(m - 1) : span_ms;
    if (per > need)
        need = per;
    int64_t iv = next_nice(need);
    for (int i = 0; i < 64 && sift__gf_bucket_count(from_ns, to_ns, iv) > m;
         i++) {
        int64_t nx = next_nice(iv + 1);
        if (nx == iv + 1 || nx <= iv) /* past the table: double */
            nx = iv <= INT64_MAX / 4 / SIFT_NS_PER_MS ? iv * 2 : iv;
        if (nx == iv)
            break;
        iv = nx;
    }
    return iv;
}

/* "10s", "500ms", "1m", "2h", "1d", "1w" -> ms; -1 when unreadable. */
static int64_t
parse_interval(const char *s)
{
    char *end;
    long long n = strtoll(s, &end, 10);
    if (end == s || n < 0)
        return -1;
    static const struct {
        const char *u;
        int64_t ms;
    } units[] = {{"ms", 1},      {"s", 1000},     {"m", 60000},
                 {"h", 3600000}, {"d", 86400000}, {"w", 604800000},
                 {"", 1}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(end, units[i].u) == 0)
            return n > INT64_MAX / units[i].ms ? -1 : n * units[i].ms;
    return -1;
}

/* ------------------------------------------------------------------ */
/* /query plan                                                          */
/* ------------------------------------------------------------------ */

void
sift__gf_plan_cleanup(struct sift_gf_plan *plan)
{
    for (size_t i = 0; i < plan->n_targets; i++) {
        struct sift_gf_target *t = &plan->targets[i];
        sift_free(t->query);
        sift_free(t->raw_query);
        sift_free(t->field);
        sift_free(t->by);
    }
    sift_free(plan->targets);
    memset(plan, 0, sizeof(*plan));
}

/*
 * Splits a target string into the metric and an optional inline query
 * ("count level:error"), for the legacy plugin which has no payload.
 * Returns the kind or -1.
 */
static int
parse_target_name(const char *s, const char **rest)
{
    const char *b = s, *e = s + strlen(s);
    trim(&b, &e);
    const char *sp = b;
    while (sp < e && !isspace((unsigned char)*sp))
        sp++;
    for (int k = 0; k < SIFT_GF_KIND_COUNT; k++) {
        size_t n = strlen(kind_names[k]);
        if ((size_t)(sp - b) == n && strncasecmp(b, kind_names[k], n) == 0) {
            *rest = sp;
            return k;
        }
    }
    return -1;
}

static int
plan_target(const json_t *jt, const json_t *scoped, const char *filters,
            const struct sift_gf_limits *lim, struct sift_gf_target *t,
            struct sift_gf_error *err)
{
    const json_t *jref = json_object_get(jt, "refId");
    snprintf(t->ref_id, sizeof(t->ref_id), "%s",
             json_is_string(jref) ? json_string_value(jref) : "A");
    const char *name = json_string_value(json_object_get(jt, "target"));
    const char *rest = "";
    int kind = parse_target_name(name, &rest);
    if (kind < 0)
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "unknown_metric",
                                  "query %s: unknown metric \"%.64s\" (use "
                                  "logs, count, terms, stats, patterns or "
                                  "alerts)",
                                  t->ref_id, name);
    t->kind = (enum sift_gf_kind)kind;
    /* simPod sends "payload"; its releases before 0.3 called it "data". */
    const json_t *payload = json_object_get(jt, "payload");
    if (!json_is_object(payload))
        payload = json_object_get(jt, "data");
    if (!json_is_object(payload))
        payload = NULL;

    t->raw_query = payload ? payload_query(payload, scoped) : NULL;
    if (!t->raw_query || !*t->raw_query) {
        sift_free(t->raw_query);
        t->raw_query = dup_trimmed(rest);
    }
    t->field = payload ? payload_single(payload, "field") : NULL;
    t->by = payload ? payload_single(payload, "by") : NULL;

    int64_t limit = 0;
    const json_t *jl = payload ? json_object_get(payload, "limit") : NULL;
    if (jl && !(json_is_string(jl) && json_string_length(jl) == 0) &&
        (json_int64(jl, &limit) < 0 || limit <= 0))
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_request",
                                  "query %s: payload.limit must be a "
                                  "positive number",
                                  t->ref_id);
    switch (t->kind) {
    case SIFT_GF_LOGS:
        if (limit == 0)
            limit = lim->default_hits;
        if (limit > (int64_t)lim->max_hits)
            return sift__gf_error_set(err, SIFT_EINVAL, 400, "too_many_hits",
                                      "query %s: payload.limit %lld is over "
                                      "the limit of %u",
                                      t->ref_id, (long long)limit,
                                      lim->max_hits);
        break;
    case SIFT_GF_COUNT:
        if (limit == 0)
            limit = 10;
        if (limit > (int64_t)SIFT_GF_MAX_SERIES)
            limit = SIFT_GF_MAX_SERIES;
        break;
    case SIFT_GF_TERMS:
    case SIFT_GF_PATTERNS:
        if (limit == 0)
            limit = 10;
        if (limit > (int64_t)SIFT_GF_MAX_TERMS)
            limit = SIFT_GF_MAX_TERMS;
        break;
    case SIFT_GF_STATS:
    case SIFT_GF_ALERTS:
    case SIFT_GF_KIND_COUNT:
        if (limit == 0 || limit > (int64_t)SIFT_GF_MAX_TERMS)
            limit = SIFT_GF_MAX_TERMS;
        break;
    }
    t->limit = (uint32_t)limit;
    if ((t->kind == SIFT_GF_TERMS || t->kind == SIFT_GF_STATS) && !t->field)
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_request",
                                  "query %s: metric %s needs payload.field",
                                  t->ref_id, kind_names[t->kind]);

    struct sift_buf q = SIFT_BUF_INIT;
    if (*t->raw_query && *filters)
        sift_buf_appendf(&q, "(%s) AND %s", t->raw_query, filters);
    else
        sift_buf_appendf(&q, "%s", *t->raw_query ? t->raw_query : filters);
    t->query = sift_xstrdup(sift_buf_cstr(&q));
    sift_buf_cleanup(&q);
    return SIFT_OK;
}

int
sift__gf_plan_query(const json_t *body, const struct sift_gf_limits *lim,
                    int64_t now_ns, struct sift_gf_plan *plan,
                    struct sift_gf_error *err)
{
    memset(plan, 0, sizeof(*plan));
    if (!json_is_object(body))
        return sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_request",
                                  "the body must be a JSON object");
    int rc = sift__gf_time_range(body, now_ns,
                                 now_ns - (int64_t)SIFT_GF_DEFAULT_RANGE_MS *
                                              SIFT_NS_PER_MS,
                                 now_ns, &plan->from_ns, &plan->to_ns, err);
    if (rc < 0)
        return rc;

    const json_t *scoped = json_object_get(body, "scopedVars");
    int64_t want = 0;
    const json_t *jiv = json_object_get(body, "intervalMs");
    if (jiv && json_int64(jiv, &want) < 0)
        want = 0;
    if (want <= 0 && json_is_string(json_object_get(body, "interval")))
        want = parse_interval(
            json_string_value(json_object_get(body, "interval")));
    if (want <= 0) {
        const json_t *v =
            json_object_get(json_object_get(scoped, "__interval_ms"), "value");
        if (!v || json_int64(v, &want) < 0)
            want = 0;
    }
    int64_t mdp = 0;
    const json_t *jm = json_object_get(body, "maxDataPoints");
    if (!jm || json_int64(jm, &mdp) < 0 || mdp <= 0)
        mdp = 1000;
    if (mdp > (int64_t)SIFT_GF_MAX_POINTS)
        mdp = SIFT_GF_MAX_POINTS;
    plan->max_points = (uint32_t)mdp;
    plan->interval_ms = sift__gf_pick_interval(plan->from_ns, plan->to_ns, want,
                                               plan->max_points);
    plan->stats_interval_ms = sift__gf_pick_interval(
        plan->from_ns, plan->to_ns, want,
        plan->max_points < SIFT_GF_MAX_STATS_POINTS ? plan->max_points
                                                    : SIFT_GF_MAX_STATS_POINTS);

    /* Both spellings of ad-hoc filters: "filters" (plugin >= 0.6.4) and
     * "adhocFilters" (older plugin, SimpleJSON). */
    struct sift_buf fq = SIFT_BUF_INIT;
    rc = sift__gf_filters_query(json_object_get(body, "filters"), &fq, err);
    if (rc == SIFT_OK)
        rc = sift__gf_filters_query(json_object_get(body, "adhocFilters"), &fq,
                                    err);
    const char *filters = sift_buf_cstr(&fq);
    if (rc < 0)
        goto out;

    const json_t *targets = json_object_get(body, "targets");
    if (targets && !json_is_array(targets)) {
        rc = sift__gf_error_set(err, SIFT_EINVAL, 400, "bad_request",
                                "\"targets\" must be an array");
        goto out;
    }
    size_t n = json_array_size(targets);
    plan->targets = sift_xcalloc(n + 1, sizeof(*plan->targets));
    for (size_t i = 0; i < n; i++) {
        const json_t *jt = json_array_get(targets, i);
        if (!json_is_object(jt))
            continue;
        /* The plugin drops hidden targets and those without a metric;
         * the legacy one sends the placeholder "select metric". */
        if (json_is_true(json_object_get(jt, "hide")))
            continue;
        const json_t *name = json_object_get(jt, "target");
        if (!json_is_string(name) || json_string_length(name) == 0 ||
            strcmp(json_string_value(name), "select metric") == 0)
            continue;
        if (plan->n_targets == SIFT_GF_MAX_TARGETS) {
            rc = sift__gf_error_set(err, SIFT_ELIMIT, 400, "too_many_targets",
                                    "at most %u queries per panel",
                                    SIFT_GF_MAX_TARGETS);
            goto out;
        }
        struct sift_gf_target *t = &plan->targets[plan->n_targets++];
        rc = plan_target(jt, scoped, filters, lim, t, err);
        if (rc < 0)
            goto out;
    }
    rc = SIFT_OK;
out:
    sift_buf_cleanup(&fq);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Frames                                                               */
/* ------------------------------------------------------------------ */

static json_t *
column(const char *text, const char *type)
{
    json_t *c = json_object();
    json_object_set_new(c, "text", sift__gf_str(text));
    json_object_set_new(c, "type", sift__gf_str(type));
    return c;
}

static json_t *
new_table(const struct sift_gf_target *t, const char *name)
{
    json_t *tab = json_object();
    json_object_set_new(tab, "type", sift__gf_str("table"));
    json_object_set_new(tab, "refId", sift__gf_str(t->ref_id));
    json_object_set_new(tab, "name", sift__gf_str(name));
    json_object_set_new(tab, "columns", json_array());
    json_object_set_new(tab, "rows", json_array());
    return tab;
}

static json_t *
new_series(const struct sift_gf_target *t, const char *name)
{
    json_t *s = json_object();
    json_object_set_new(s, "target", sift__gf_str(name));
    json_object_set_new(s, "refId", sift__gf_str(t->ref_id));
    json_object_set_new(s, "datapoints", json_array());
    return s;
}

static json_t *
point(json_t *value, int64_t ms)
{
    json_t *p = json_array();
    json_array_append_new(p, value);
    json_array_append_new(p, json_integer((json_int_t)ms));
    return p;
}

json_t *
sift__gf_str(const char *s)
{
    size_t len = strlen(s);
    if (sift_utf8_valid(s, len))
        return json_stringn_nocheck(s, len);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_utf8_repair(&b, s, len);
    json_t *v = json_stringn_nocheck(b.data, b.len);
    sift_buf_cleanup(&b);
    return v;
}

/* Engine results: "\u0000" is valid JSON a stored NUL byte becomes. */
static json_t *
load(const char *s, size_t len)
{
    json_error_t jerr;
    return json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
}

/* Field names for a logs frame: level first, then sorted. */
static int
cmp_field_name(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int lx = strcmp(x, "level") == 0 || strcmp(x, "log.level") == 0;
    int ly = strcmp(y, "level") == 0 || strcmp(y, "log.level") == 0;
    if (lx != ly)
        return ly - lx;
    return strcmp(x, y);
}

int
sift__gf_frame_logs(const struct sift_gf_target *t, const char *hits,
                    size_t len, uint64_t total, int timed_out, json_t *frames)
{
    json_t *arr = load(hits, len);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return SIFT_EINVAL;
    }
    size_t n = json_array_size(arr);
    /* The union of field names, in a bounded set. */
    const char *names[SIFT_GF_MAX_LOG_FIELDS];
    int numeric[SIFT_GF_MAX_LOG_FIELDS];
    size_t n_names = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *fo = json_object_get(json_array_get(arr, i), "fields");
        const char *k;
        json_t *v;
        json_object_foreach(fo, k, v)
        {
            size_t j = 0;
            while (j < n_names && strcmp(names[j], k) != 0)
                j++;
            if (j == n_names) {
                if (n_names == SIFT_GF_MAX_LOG_FIELDS ||
                    strcmp(k, "time") == 0 || strcmp(k, "line") == 0)
                    continue;
                names[n_names] = k;
                numeric[n_names++] = 1;
            }
        }
    }
    qsort(names, n_names, sizeof(names[0]), cmp_field_name);
    for (size_t j = 0; j < n_names; j++) {
        numeric[j] = 1;
        for (size_t i = 0; i < n && numeric[j]; i++) {
            const json_t *v = json_object_get(
                json_object_get(json_array_get(arr, i), "fields"), names[j]);
            if (v && !json_is_number(v))
                numeric[j] = 0;
        }
    }

    json_t *times = json_array(), *lines = json_array();
    for (size_t i = 0; i < n; i++) {
        const json_t *h = json_array_get(arr, i);
        int64_t ms = 0;
        (void)json_int64(json_object_get(h, "ts_ms"), &ms);
        json_array_append_new(times, json_integer((json_int_t)ms));
        json_t *m = json_object_get(h, "message");
        json_array_append_new(lines, json_is_string(m) ? json_copy(m)
                                                       : sift__gf_str(""));
    }
    json_t *fields = json_array();
    json_t *f = json_object();
    json_object_set_new(f, "name", sift__gf_str("time"));
    json_object_set_new(f, "type", sift__gf_str("time"));
    json_object_set_new(f, "values", times);
    json_array_append_new(fields, f);
    f = json_object();
    json_object_set_new(f, "name", sift__gf_str("line"));
    json_object_set_new(f, "type", sift__gf_str("string"));
    json_object_set_new(f, "values", lines);
    json_array_append_new(fields, f);
    for (size_t j = 0; j < n_names; j++) {
        json_t *vals = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *v = json_object_get(
                json_object_get(json_array_get(arr, i), "fields"), names[j]);
            if (!v || json_is_null(v)) {
                json_array_append_new(vals, json_null());
            } else if (numeric[j] || json_is_string(v)) {
                json_array_append_new(vals, json_copy(v));
            } else {
                struct sift_buf s = SIFT_BUF_INIT;
                sift__api_put_json(&s, v);
                json_array_append_new(vals, sift__gf_str(sift_buf_cstr(&s)));
                sift_buf_cleanup(&s);
            }
        }
        f = json_object();
        json_object_set_new(f, "name", sift__gf_str(names[j]));
        json_object_set_new(f, "type",
                            sift__gf_str(numeric[j] ? "number" : "string"));
        json_object_set_new(f, "values", vals);
        json_array_append_new(fields, f);
    }

    json_t *meta = json_object();
    json_object_set_new(meta, "preferredVisualisationType",
                        sift__gf_str("logs"));
    json_t *custom = json_object();
    json_object_set_new(custom, "total", json_integer((json_int_t)total));
    json_object_set_new(meta, "custom", custom);
    if (timed_out || total > n) {
        json_t *notices = json_array();
        json_t *nt = json_object();
        char msg[160];
        if (timed_out)
            snprintf(msg, sizeof(msg),
                     "the query timed out: results are partial");
        else
            snprintf(msg, sizeof(msg),
                     "showing the newest %zu of %llu matching events", n,
                     (unsigned long long)total);
        json_object_set_new(nt, "severity",
                            sift__gf_str(timed_out ? "warning" : "info"));
        json_object_set_new(nt, "text", sift__gf_str(msg));
        json_array_append_new(notices, nt);
        json_object_set_new(meta, "notices", notices);
    }
    json_t *frame = json_object();
    json_object_set_new(frame, "name", sift__gf_str("logs"));
    json_object_set_new(frame, "refId", sift__gf_str(t->ref_id));
    json_object_set_new(frame, "meta", meta);
    json_object_set_new(frame, "fields", fields);
    json_array_append_new(frames, frame);
    json_decref(arr);
    return SIFT_OK;
}

int
sift__gf_frame_count(const struct sift_gf_target *t, const char *hist,
                     size_t len, uint32_t max_points, json_t *frames)
{
    json_t *h = load(hist, len);
    const json_t *buckets = json_object_get(h, "buckets");
    if (!json_is_array(buckets)) {
        json_decref(h);
        return SIFT_EINVAL;
    }
    size_t n = json_array_size(buckets);
    size_t m = max_points ? max_points : 1;
    size_t group = n > m ? (n + m - 1) / m : 1;

    /* Series names: the "by" keys in the order the histogram ranked them. */
    const char *total_name =
        t->raw_query && *t->raw_query ? t->raw_query : "count";
    size_t n_series = 1;
    json_t *by0 =
        t->by ? json_object_get(json_array_get(buckets, 0), "by") : NULL;
    if (t->by)
        n_series = json_object_size(by0);
    const char **keys = sift_xcalloc(n_series + 1, sizeof(*keys));
    json_t **series = sift_xcalloc(n_series + 1, sizeof(*series));
    if (t->by) {
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(by0, key, v)
        {
            keys[k] = key;
            series[k] = new_series(t, key);
            json_t *tags = json_object();
            json_object_set_new(tags, t->by, sift__gf_str(key));
            json_object_set_new(series[k], "tags", tags);
            k++;
        }
    } else {
        series[0] = new_series(t, total_name);
    }
    for (size_t g = 0; g < n; g += group) {
        int64_t ms = 0;
        (void)json_int64(json_object_get(json_array_get(buckets, g), "key"),
                         &ms);
        for (size_t s = 0; s < n_series; s++) {
            int64_t sum = 0;
            for (size_t b = g; b < g + group && b < n; b++) {
                const json_t *bk = json_array_get(buckets, b);
                const json_t *c =
                    t->by ? json_object_get(json_object_get(bk, "by"), keys[s])
                          : json_object_get(bk, "count");
                int64_t x = 0;
                if (c && json_int64(c, &x) == 0)
                    sum += x;
            }
            json_array_append_new(json_object_get(series[s], "datapoints"),
                                  point(json_integer((json_int_t)sum), ms));
        }
    }
    for (size_t s = 0; s < n_series; s++)
        json_array_append_new(frames, series[s]);
    sift_free(series);
    sift_free(keys);
    json_decref(h);
    return SIFT_OK;
}

int
sift__gf_frame_terms(const struct sift_gf_target *t, const char *terms,
                     size_t len, json_t *frames)
{
    json_t *r = load(terms, len);
    const json_t *buckets = json_object_get(r, "buckets");
    if (!json_is_array(buckets)) {
        json_decref(r);
        return SIFT_EINVAL;
    }
    json_t *tab = new_table(t, t->field ? t->field : "terms");
    json_t *cols = json_object_get(tab, "columns");
    json_array_append_new(cols,
                          column(t->field ? t->field : "value", "string"));
    json_array_append_new(cols, column("count", "number"));
    json_t *rows = json_object_get(tab, "rows");
    for (size_t i = 0; i < json_array_size(buckets); i++) {
        const json_t *b = json_array_get(buckets, i);
        json_t *row = json_array();
        json_t *k = json_object_get(b, "key");
        json_array_append_new(row, json_is_string(k) ? json_copy(k)
                                                     : sift__gf_str(""));
        int64_t c = 0;
        (void)json_int64(json_object_get(b, "count"), &c);
        json_array_append_new(row, json_integer((json_int_t)c));
        json_array_append_new(rows, row);
    }
    json_array_append_new(frames, tab);
    json_decref(r);
    return SIFT_OK;
}

void
sift__gf_frame_stats(const struct sift_gf_target *t,
                     const struct sift_gf_stats_point *pts, size_t n,
                     json_t *frames)
{
    static const char *const stat[] = {"avg", "p50", "p99"};
    for (size_t s = 0; s < 3; s++) {
        char name[200];
        snprintf(name, sizeof(name), "%s %s", stat[s],
                 t->field ? t->field : "");
        json_t *series = new_series(t, name);
        json_t *tags = json_object();
        json_object_set_new(tags, "stat", sift__gf_str(stat[s]));
        json_object_set_new(series, "tags", tags);
        json_t *dps = json_object_get(series, "datapoints");
        for (size_t i = 0; i < n; i++) {
            double v = s == 0 ? pts[i].avg : s == 1 ? pts[i].p50 : pts[i].p99;
            json_array_append_new(
                dps,
                point(pts[i].count && isfinite(v) ? json_real(v) : json_null(),
                      pts[i].time_ms));
        }
        json_array_append_new(frames, series);
    }
}

void
sift__gf_frame_patterns(const struct sift_gf_target *t,
                        const struct sift_gf_pattern *v, size_t n,
                        json_t *frames)
{
    json_t *tab = new_table(t, "patterns");
    json_t *cols = json_object_get(tab, "columns");
    json_array_append_new(cols, column("template_id", "number"));
    json_array_append_new(cols, column("count", "number"));
    json_array_append_new(cols, column("pattern", "string"));
    json_array_append_new(cols, column("example", "string"));
    json_t *rows = json_object_get(tab, "rows");
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_array();
        json_array_append_new(row, json_integer(v[i].template_id));
        json_array_append_new(row, json_integer((json_int_t)v[i].count));
        const char *p = v[i].pattern   ? v[i].pattern
                        : v[i].example ? v[i].example
                                       : "";
        json_array_append_new(row, sift__gf_str(p));
        json_array_append_new(row,
                              sift__gf_str(v[i].example ? v[i].example : ""));
        json_array_append_new(rows, row);
    }
    json_array_append_new(frames, tab);
}

/* Case-insensitive substring test. */
static int
contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0)
        return 1;
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

struct alert_text {
    char title[160];
    char text[200];
    char tags[200];
    int64_t time_ms, end_ms;
};

/* Appends ",word" per space-separated word of text[0..len) (a ',' in a
 * word would split the tag: written ';'). */
static void
tags_of_words(struct sift_buf *b, const char *text, size_t len)
{
    for (size_t i = 0; i < len;) {
        while (i < len && text[i] == ' ')
            i++;
        size_t j = i;
        while (j < len && text[j] != ' ')
            j++;
        if (j > i) {
            sift_buf_putc(b, ',');
            for (size_t k = i; k < j; k++)
                sift_buf_putc(b, text[k] == ',' ? ';' : text[k]);
        }
        i = j;
    }
}

/* A rule alert: named by its rule and group, with the value the rule
 * compared (a learned alert's score means nothing for it), its severity
 * and its labels as tags. */
static void
rule_describe(const struct sift_alert *a, struct alert_text *o,
              struct sift_buf *tags)
{
    size_t sl = strnlen(a->series, sizeof(a->series));
    const char *group = memchr(a->series, ' ', sl); /* "rule=NAME k=v" */
    size_t gl = group ? sl - (size_t)(group - a->series) : 0;
    snprintf(o->title, sizeof(o->title), "rule %.*s%.*s",
             (int)strnlen(a->rule, sizeof(a->rule)), a->rule, (int)gl,
             group ? group : "");
    const char *sev =
        sift_alert_severity_name((enum sift_alert_severity)a->severity);
    snprintf(o->text, sizeof(o->text), "value %g (threshold %g), %s, %s",
             a->value, a->threshold, sev,
             a->state == SIFT_ALERT_RESOLVED ? "resolved" : "firing");
    sift_buf_appendf(tags, ",rule=%.*s,severity=%s",
                     (int)strnlen(a->rule, sizeof(a->rule)), a->rule, sev);
    json_error_t jerr;
    json_t *labels = json_loads(a->labels, 0, &jerr);
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        const char *vs = json_string_value(v);
        struct sift_buf kv = SIFT_BUF_INIT;
        sift_buf_appendf(&kv, "%s=%s", k, vs ? vs : "");
        tags_of_words(tags, kv.data, kv.len);
        sift_buf_cleanup(&kv);
    }
    json_decref(labels);
}

static void
alert_describe(const struct sift_alert *a, struct alert_text *o)
{
    const char *kind = sift_alert_kind_name((enum sift_alert_kind)a->kind);
    /* tags: "sift,<kind>,..." split on ',' by Grafana. */
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "sift,%s", kind);
    if (a->kind == SIFT_ALERT_RULE && a->rule[0]) {
        rule_describe(a, o, &b);
    } else {
        snprintf(o->title, sizeof(o->title), "%s %.*s", kind,
                 (int)strnlen(a->series, sizeof(a->series)), a->series);
        snprintf(o->text, sizeof(o->text),
                 "score %.0f (threshold %.0f) over %u window%s, %s", a->score,
                 a->threshold, a->n_windows, a->n_windows == 1 ? "" : "s",
                 a->state == SIFT_ALERT_RESOLVED ? "resolved" : "firing");
        tags_of_words(&b, a->series, strnlen(a->series, sizeof(a->series)));
    }
    snprintf(o->tags, sizeof(o->tags), "%s", sift_buf_cstr(&b));
    sift_buf_cleanup(&b);
    o->time_ms = a->started_ns / SIFT_NS_PER_MS;
    int64_t end = a->resolved_ns ? a->resolved_ns : a->updated_ns;
    o->end_ms = (end > a->started_ns ? end : a->started_ns) / SIFT_NS_PER_MS;
}

void
sift__gf_frame_alerts(const struct sift_gf_target *t,
                      const struct sift_alert *v, size_t n, const char *filter,
                      json_t *frames)
{
    json_t *tab = new_table(t, "alerts");
    json_t *cols = json_object_get(tab, "columns");
    json_array_append_new(cols, column("time", "time"));
    json_array_append_new(cols, column("timeEnd", "time"));
    json_array_append_new(cols, column("title", "string"));
    json_array_append_new(cols, column("text", "string"));
    json_array_append_new(cols, column("tags", "string"));
    json_array_append_new(cols, column("id", "number"));
    json_array_append_new(cols, column("score", "number"));
    json_t *rows = json_object_get(tab, "rows");
    for (size_t i = 0; i < n; i++) {
        struct alert_text at;
        alert_describe(&v[i], &at);
        if (filter && !contains_ci(at.title, filter))
            continue;
        json_t *row = json_array();
        json_array_append_new(row, json_integer((json_int_t)at.time_ms));
        json_array_append_new(row, json_integer((json_int_t)at.end_ms));
        json_array_append_new(row, sift__gf_str(at.title));
        json_array_append_new(row, sift__gf_str(at.text));
        json_array_append_new(row, sift__gf_str(at.tags));
        json_array_append_new(row, json_integer((json_int_t)v[i].id));
        json_array_append_new(row, json_real(v[i].score));
        json_array_append_new(rows, row);
    }
    json_array_append_new(frames, tab);
}

void
sift__gf_annotations_legacy(const json_t *annotation,
                            const struct sift_alert *v, size_t n, json_t *out)
{
    const char *filter =
        json_string_value(json_object_get(annotation, "query"));
    for (size_t i = 0; i < n; i++) {
        struct alert_text at;
        alert_describe(&v[i], &at);
        if (filter && !contains_ci(at.title, filter))
            continue;
        json_t *a = json_object();
        if (annotation)
            json_object_set_new(a, "annotation", json_deep_copy(annotation));
        json_object_set_new(a, "time", json_integer((json_int_t)at.time_ms));
        json_object_set_new(a, "timeEnd", json_integer((json_int_t)at.end_ms));
        json_object_set_new(a, "title", sift__gf_str(at.title));
        json_object_set_new(a, "text", sift__gf_str(at.text));
        json_t *tags = json_array();
        const char *p = at.tags;
        while (*p) {
            size_t l = strcspn(p, ",");
            json_array_append_new(tags, json_stringn(p, l));
            p += l;
            if (*p == ',')
                p++;
        }
        json_object_set_new(a, "tags", tags);
        json_array_append_new(out, a);
    }
}

/* ------------------------------------------------------------------ */
/* Metric list and option lists                                         */
/* ------------------------------------------------------------------ */

static json_t *
payload_desc(const char *name, const char *label, const char *type,
             const char *placeholder, int width, int reload)
{
    json_t *p = json_object();
    json_object_set_new(p, "name", sift__gf_str(name));
    json_object_set_new(p, "label", sift__gf_str(label));
    json_object_set_new(p, "type", sift__gf_str(type));
    if (placeholder)
        json_object_set_new(p, "placeholder", sift__gf_str(placeholder));
    if (width)
        json_object_set_new(p, "width", json_integer(width));
    if (reload)
        json_object_set_new(p, "reloadMetric", json_true());
    return p;
}

static json_t *
query_desc(const char *placeholder)
{
    return payload_desc("query", "Query", "input", placeholder, 60, 0);
}

static json_t *
metric_desc(const char *value, const char *label, json_t *p0, json_t *p1,
            json_t *p2)
{
    json_t *m = json_object();
    json_object_set_new(m, "label", sift__gf_str(label));
    json_object_set_new(m, "value", sift__gf_str(value));
    json_t *ps = json_array();
    if (p0)
        json_array_append_new(ps, p0);
    if (p1)
        json_array_append_new(ps, p1);
    if (p2)
        json_array_append_new(ps, p2);
    json_object_set_new(m, "payloads", ps);
    return m;
}

json_t *
sift__gf_metrics_list(void)
{
    static const char q_ph[] = "level:error AND service:api";
    json_t *a = json_array();
    json_array_append_new(
        a, metric_desc("logs", "Logs", query_desc(q_ph),
                       payload_desc("limit", "Lines", "input", "100", 10, 0),
                       NULL));
    json_array_append_new(
        a, metric_desc("count", "Count over time", query_desc(q_ph),
                       payload_desc("by", "Split by", "select",
                                    "field (optional)", 20, 0),
                       payload_desc("limit", "Series", "input", "10", 10, 0)));
    json_array_append_new(
        a, metric_desc("terms", "Top values", query_desc(q_ph),
                       payload_desc("field", "Field", "select", "host", 20, 0),
                       payload_desc("limit", "Size", "input", "10", 10, 0)));
    json_array_append_new(
        a, metric_desc(
               "stats", "Numeric stats over time (avg, p50, p99)",
               query_desc(q_ph),
               payload_desc("field", "Field", "select", "duration_ms", 20, 0),
               NULL));
    json_array_append_new(
        a,
        metric_desc("patterns", "Patterns", query_desc(q_ph),
                    payload_desc("limit", "Size", "input", "10", 10, 0), NULL));
    json_array_append_new(
        a, metric_desc("alerts", "Alerts (annotations)",
                       query_desc("filter: spike, service=api"), NULL, NULL));
    return a;
}

json_t *
sift__gf_metric_names(void)
{
    json_t *a = json_array();
    for (int k = 0; k < SIFT_GF_KIND_COUNT; k++)
        json_array_append_new(a, sift__gf_str(kind_names[k]));
    return a;
}

static json_t *
list_item(const char *text, enum sift_gf_list_style style, int number)
{
    json_t *o = json_object();
    switch (style) {
    case SIFT_GF_STYLE_OPTIONS:
        json_object_set_new(o, "label", sift__gf_str(text));
        json_object_set_new(o, "value", sift__gf_str(text));
        break;
    case SIFT_GF_STYLE_TAGS:
        json_object_set_new(o, "type",
                            sift__gf_str(number ? "number" : "string"));
        json_object_set_new(o, "text", sift__gf_str(text));
        break;
    case SIFT_GF_STYLE_VARIABLE:
        json_object_set_new(o, "__text", sift__gf_str(text));
        json_object_set_new(o, "__value", sift__gf_str(text));
        break;
    }
    return o;
}

int
sift__gf_fields_list(const char *fields, size_t len, enum sift_gf_field_use use,
                     enum sift_gf_list_style style, json_t *out)
{
    json_t *r = load(fields, len);
    const json_t *arr = json_object_get(r, "fields");
    if (!json_is_array(arr)) {
        json_decref(r);
        return SIFT_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *f = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!name || name[0] == '_')
            continue; /* internal pseudo-fields (_template_id) */
        int kw = json_is_true(json_object_get(f, "keyword"));
        int num = json_is_true(json_object_get(f, "number"));
        int text = json_is_true(json_object_get(f, "text"));
        int keep = use == SIFT_GF_FIELDS_ALL       ? 1
                   : use == SIFT_GF_FIELDS_KEYWORD ? kw || (!text && !num)
                   : use == SIFT_GF_FIELDS_NUMBER  ? num
                                                   : kw || num || !text;
        if (keep)
            json_array_append_new(out, list_item(name, style, num));
    }
    json_decref(r);
    return SIFT_OK;
}

int
sift__gf_values_list(const char *terms, size_t len,
                     enum sift_gf_list_style style, json_t *out)
{
    json_t *r = load(terms, len);
    const json_t *arr = json_object_get(r, "buckets");
    if (!json_is_array(arr)) {
        json_decref(r);
        return SIFT_EINVAL;
    }
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *k =
            json_string_value(json_object_get(json_array_get(arr, i), "key"));
        if (!k)
            continue;
        if (style == SIFT_GF_STYLE_TAGS) {
            json_t *o = json_object();
            json_object_set_new(o, "text", sift__gf_str(k));
            json_array_append_new(out, o);
        } else {
            json_array_append_new(out, list_item(k, style, 0));
        }
    }
    json_decref(r);
    return SIFT_OK;
}
