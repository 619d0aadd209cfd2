/*
 * silences.c - silences (include/sift/silences.h has the contract).
 *
 * Design.  A small array of silences, each with its matchers compiled
 * once (POSIX extended regexes, anchored: a regex matcher must match the
 * whole label value, as in Alertmanager).  Matching an alert builds its
 * label list (alert_labels()) and tests every active silence: all of a
 * silence's matchers must hold; a matcher on a label the alert lacks
 * compares with "".  The file DATA_DIR/silences.ndjson is rewritten
 * whole (sift_file_replace) on every change, one checked JSON line per
 * silence; loading follows the state-file rule (a damaged line is
 * skipped and reported, the file kept in quarantine/ first).
 *
 * Invariants: ids are unique; ends_ns > starts_ns.
 * Thread: loop thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/query.h"
#include "sift/silences.h"
#include "sift/statefile.h"
#include "sift/time.h"

#include "alerting/alerting_int.h"

#define KEEP_EXPIRED_NS (7LL * 86400 * 1000000000)
#define MAX_SILENCES 10000
#define MAX_MATCHERS 32

struct silence {
    struct sift_silence pub; /* what sift_silences_at() hands out */
    regex_t *re;             /* re[i] compiled when pub.m[i].is_regex */
};

struct sift_silences {
    char *data_dir;
    char *path;
    struct silence **v;
    size_t n;
    int persist_off;
    uint64_t rng;
    size_t last_active; /* for sift_silences_changed() */
    uint64_t last_sig;
};

static void
silence_free(struct silence *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->pub.n_m; i++) {
        sift_free(x->pub.m[i].name);
        sift_free(x->pub.m[i].value);
        if (x->pub.m[i].is_regex)
            regfree(&x->re[i]);
    }
    sift_free(x->pub.m);
    sift_free(x->re);
    sift_free(x->pub.created_by);
    sift_free(x->pub.comment);
    sift_free(x);
}

/* ---- JSON ---- */

/* One line of silences.ndjson (before its checksum): the file's record.
 * The API's reply adds the state (api/alerting_api.c). */
void
sift_silence_to_json(const struct sift_silence *x, struct sift_buf *b)
{
    sift_buf_appendf(b, "{\"id\":\"%s\",\"matchers\":[", x->id);
    for (size_t i = 0; i < x->n_m; i++) {
        const struct sift_silence_matcher *m = &x->m[i];
        if (i)
            sift_buf_putc(b, ',');
        SIFT_BUF_LIT(b, "{\"name\":");
        sift_buf_put_json_str(b, m->name, strlen(m->name));
        SIFT_BUF_LIT(b, ",\"value\":");
        sift_buf_put_json_str(b, m->value, strlen(m->value));
        sift_buf_appendf(b, ",\"isRegex\":%s,\"isEqual\":%s}",
                         m->is_regex ? "true" : "false",
                         m->is_equal ? "true" : "false");
    }
    SIFT_BUF_LIT(b, "],\"startsAt\":\"");
    sift_time_format_rfc3339(x->starts_ns, 3, b);
    SIFT_BUF_LIT(b, "\",\"endsAt\":\"");
    sift_time_format_rfc3339(x->ends_ns, 3, b);
    SIFT_BUF_LIT(b, "\",\"updatedAt\":\"");
    sift_time_format_rfc3339(x->updated_ns, 3, b);
    SIFT_BUF_LIT(b, "\",\"createdBy\":");
    sift_buf_put_json_str(b, x->created_by, strlen(x->created_by));
    SIFT_BUF_LIT(b, ",\"comment\":");
    sift_buf_put_json_str(b, x->comment, strlen(x->comment));
    sift_buf_putc(b, '}');
}

static int
time_member(const json_t *o, const char *key, int64_t now, int64_t *out,
            int *given, char *err, size_t err_len)
{
    json_t *v = json_object_get(o, key);
    *given = 0;
    if (!v || json_is_null(v))
        return SIFT_OK;
    *given = 1;
    char num[32];
    const char *s = NULL;
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    }
    if (!s || sift_query_time_parse(s, now, out) < 0) {
        snprintf(err, err_len,
                 "%s: expected a time (RFC 3339, an epoch number, now+2h)",
                 key);
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

/* Builds a silence from o; err on failure.  updated from now. */
static int
from_json(const json_t *o, const char *principal, int64_t now,
          struct silence **out, char *err, size_t err_len, int loading)
{
    static const char *const known[] = {"id",      "matchers", "startsAt",
                                        "endsAt",  "duration", "createdBy",
                                        "comment", "status",   "updatedAt"};
    if (!json_is_object(o)) {
        snprintf(err, err_len, "expected a JSON object");
        return SIFT_EINVAL;
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)o, key, v)
    {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok || (!loading && strcmp(key, "updatedAt") == 0)) {
            snprintf(err, err_len,
                     "unknown member '%.60s' (known: matchers, startsAt, "
                     "endsAt, duration, createdBy, comment, id)",
                     key);
            return SIFT_EINVAL;
        }
    }
    json_t *ms = json_object_get(o, "matchers");
    if (!json_is_array(ms) || json_array_size(ms) == 0 ||
        json_array_size(ms) > MAX_MATCHERS) {
        snprintf(err, err_len,
                 "matchers: required, 1 to %d objects {\"name\":\"rule\","
                 "\"value\":\"…\",\"isRegex\":false,\"isEqual\":true}",
                 MAX_MATCHERS);
        return SIFT_EINVAL;
    }
    struct silence *x = sift_xcalloc(1, sizeof(*x));
    x->pub.m = sift_xcalloc(json_array_size(ms), sizeof(*x->pub.m));
    x->re = sift_xcalloc(json_array_size(ms), sizeof(*x->re));
    int rc = SIFT_OK;
    size_t i;
    json_t *m;
    json_array_foreach(ms, i, m)
    {
        const char *n = json_string_value(json_object_get(m, "name"));
        const char *val = json_string_value(json_object_get(m, "value"));
        json_t *re = json_object_get(m, "isRegex");
        json_t *eq = json_object_get(m, "isEqual");
        if (!json_is_object(m) || !n || !*n || !val ||
            (re && !json_is_boolean(re)) || (eq && !json_is_boolean(eq)) ||
            json_object_size(m) > 4) {
            snprintf(err, err_len,
                     "matchers[%zu]: expected {\"name\":\"…\",\"value\":\"…\""
                     "[,\"isRegex\":bool][,\"isEqual\":bool]}",
                     i);
            rc = SIFT_EINVAL;
            goto out;
        }
        struct sift_silence_matcher *mt = &x->pub.m[x->pub.n_m];
        regex_t *mre = &x->re[x->pub.n_m];
        mt->name = sift_xstrdup(n);
        mt->value = sift_xstrdup(val);
        mt->is_regex = json_is_true(re);
        mt->is_equal = eq ? json_is_true(eq) : 1;
        if (mt->is_regex) {
            struct sift_buf p = SIFT_BUF_INIT;
            sift_buf_appendf(&p, "^(%s)$", val);
            int e = regcomp(mre, sift_buf_cstr(&p), REG_EXTENDED | REG_NOSUB);
            sift_buf_cleanup(&p);
            if (e != 0) {
                char why[128];
                regerror(e, mre, why, sizeof(why));
                snprintf(err, err_len, "matchers[%zu]: bad regex: %s", i, why);
                sift_free(mt->name);
                sift_free(mt->value);
                rc = SIFT_EINVAL;
                goto out;
            }
        }
        x->pub.n_m++;
    }
    int given_s, given_e;
    x->pub.starts_ns = now;
    if ((rc = time_member(o, "startsAt", now, &x->pub.starts_ns, &given_s, err,
                          err_len)) < 0 ||
        (rc = time_member(o, "endsAt", now, &x->pub.ends_ns, &given_e, err,
                          err_len)) < 0)
        goto out;
    json_t *dur = json_object_get(o, "duration");
    if (dur && !json_is_null(dur)) {
        int64_t dur_ms;
        if (given_e || !json_is_string(dur) ||
            sift_parse_duration_ms(json_string_value(dur), &dur_ms) < 0 ||
            dur_ms <= 0) {
            snprintf(err, err_len,
                     "duration: a duration (\"2h\"), instead of endsAt");
            rc = SIFT_EINVAL;
            goto out;
        }
        x->pub.ends_ns = x->pub.starts_ns + dur_ms * 1000000;
        given_e = 1;
    }
    if (!given_e) {
        snprintf(err, err_len, "endsAt (or duration): required");
        rc = SIFT_EINVAL;
        goto out;
    }
    if (x->pub.ends_ns <= x->pub.starts_ns) {
        snprintf(err, err_len, "endsAt must be after startsAt");
        rc = SIFT_EINVAL;
        goto out;
    }
    const char *cb = json_string_value(json_object_get(o, "createdBy"));
    const char *cm = json_string_value(json_object_get(o, "comment"));
    x->pub.created_by = sift_xstrdup(cb ? cb : principal ? principal : "-");
    x->pub.comment = sift_xstrdup(cm ? cm : "");
    x->pub.updated_ns = now;
    if (loading) {
        int g;
        (void)time_member(o, "updatedAt", now, &x->pub.updated_ns, &g, err,
                          err_len);
    }
out:
    if (rc < 0) {
        silence_free(x);
        return rc;
    }
    *out = x;
    return SIFT_OK;
}

/* ---- persistence ---- */

static void
record_at(void *arg, size_t i, struct sift_buf *b)
{
    const struct sift_silences *s = arg;
    sift_silence_to_json(&s->v[i]->pub, b);
}

static void
save(struct sift_silences *s)
{
    if (!s->persist_off)
        sift__alerting_records_save("silences", s->path, s->n, record_at, s);
}

static void add(struct sift_silences *s, struct silence *x);

/* One record of silences.ndjson: a silence with its id. */
static int
load_record(void *arg, json_t *o)
{
    struct sift_silences *s = arg;
    struct silence *x = NULL;
    char err[200];
    const char *id = json_string_value(json_object_get(o, "id"));
    if (!id || strlen(id) >= sizeof(x->pub.id) ||
        from_json(o, NULL, sift_clock_now_ns(), &x, err, sizeof(err), 1) < 0)
        return SIFT_ECORRUPT;
    snprintf(x->pub.id, sizeof(x->pub.id), "%s", id);
    add(s, x);
    return SIFT_OK;
}

int
sift_silences_open(const char *data_dir, struct sift_silences **out)
{
    struct sift_silences *s = sift_xcalloc(1, sizeof(*s));
    s->data_dir = sift_xstrdup(data_dir);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "%s/silences.ndjson", data_dir);
    (void)sift_buf_cstr(&b); /* detach keeps the NUL */
    s->path = sift_buf_detach(&b, NULL);
    s->rng = (uint64_t)sift_clock_mono_ns() ^ 0x9E3779B97F4A7C15ull;
    if (sift__alerting_records_load("silences", data_dir, s->path, 64 << 20, 0,
                                    load_record, s, &s->persist_off))
        save(s);
    if (s->n)
        SIFT_INFO("silences: %zu loaded from %s", s->n, s->path);
    *out = s;
    return SIFT_OK;
}

void
sift_silences_free(struct sift_silences *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        silence_free(s->v[i]);
    sift_free(s->v);
    sift_free(s->path);
    sift_free(s->data_dir);
    sift_free(s);
}

static void
add(struct sift_silences *s, struct silence *x)
{
    s->v = sift_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = x;
}

static long
find(const struct sift_silences *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i]->pub.id, id) == 0)
            return (long)i;
    return -1;
}

/* Drops silences expired for more than a week. */
static void
prune(struct sift_silences *s, int64_t now)
{
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (now - s->v[i]->pub.ends_ns > KEEP_EXPIRED_NS)
            silence_free(s->v[i]);
        else
            s->v[w++] = s->v[i];
    }
    s->n = w;
}

int
sift_silences_put(struct sift_silences *s, const json_t *o,
                  const char *principal, int64_t now, char *id_out, char *err,
                  size_t err_len)
{
    struct silence *x;
    int rc = from_json(o, principal, now, &x, err, err_len, 0);
    if (rc < 0)
        return rc;
    const char *id = json_string_value(json_object_get(o, "id"));
    prune(s, now);
    if (id) {
        long i = find(s, id);
        if (i < 0) {
            silence_free(x);
            snprintf(err, err_len, "no silence %.40s", id);
            return SIFT_ENOTFOUND;
        }
        snprintf(x->pub.id, sizeof(x->pub.id), "%s", id);
        silence_free(s->v[i]);
        s->v[i] = x;
    } else {
        if (s->n >= MAX_SILENCES) {
            silence_free(x);
            snprintf(err, err_len, "at most %d silences", MAX_SILENCES);
            return SIFT_ELIMIT;
        }
        do {
            s->rng ^= s->rng << 13;
            s->rng ^= s->rng >> 7;
            s->rng ^= s->rng << 17;
            uint64_t a = s->rng;
            s->rng ^= s->rng << 13;
            s->rng ^= s->rng >> 7;
            s->rng ^= s->rng << 17;
            snprintf(x->pub.id, sizeof(x->pub.id), "%016" PRIx64 "%016" PRIx64,
                     a, s->rng);
        } while (find(s, x->pub.id) >= 0);
        add(s, x);
    }
    snprintf(id_out, 33, "%s", x->pub.id);
    save(s);
    return SIFT_OK;
}

int
sift_silences_expire(struct sift_silences *s, const char *id, int64_t now)
{
    long i = find(s, id);
    if (i < 0)
        return SIFT_ENOTFOUND;
    struct silence *x = s->v[i];
    if (x->pub.ends_ns > now) {
        x->pub.ends_ns = now;
        if (x->pub.starts_ns >= now)
            x->pub.starts_ns = now - 1;
        x->pub.updated_ns = now;
        save(s);
    }
    return SIFT_OK;
}

size_t
sift_silences_count(const struct sift_silences *s)
{
    return s->n;
}

const struct sift_silence *
sift_silences_at(const struct sift_silences *s, size_t i)
{
    return i < s->n ? &s->v[i]->pub : NULL;
}

const struct sift_silence *
sift_silences_get(const struct sift_silences *s, const char *id)
{
    long i = find(s, id);
    return i >= 0 ? &s->v[i]->pub : NULL;
}

enum sift_silence_state
sift_silence_state(const struct sift_silence *x, int64_t now)
{
    return now < x->starts_ns ? SIFT_SILENCE_PENDING
           : now < x->ends_ns ? SIFT_SILENCE_ACTIVE
                              : SIFT_SILENCE_EXPIRED;
}

const char *
sift_silence_state_name(enum sift_silence_state st)
{
    return st == SIFT_SILENCE_PENDING  ? "pending"
           : st == SIFT_SILENCE_ACTIVE ? "active"
                                       : "expired";
}

/* ---- matching ---- */

struct label {
    const char *name;
    char *value; /* owned */
};

#define MAX_LABELS 40

static size_t
alert_labels(const struct sift_alert *al, struct label *l, char **store)
{
    size_t n = 0;
    struct sift_buf an = SIFT_BUF_INIT;
    if (al->rule[0])
        sift_buf_appendf(&an, "%s", al->rule);
    else
        sift_buf_appendf(&an, "sift_%s",
                         sift_alert_kind_name((enum sift_alert_kind)al->kind));
    l[n].name = "alertname";
    (void)sift_buf_cstr(&an); /* detach keeps the NUL */
    l[n++].value = sift_buf_detach(&an, NULL);
    l[n].name = "rule";
    l[n++].value = sift_xstrdup(al->rule);
    l[n].name = "kind";
    l[n++].value =
        sift_xstrdup(sift_alert_kind_name((enum sift_alert_kind)al->kind));
    l[n].name = "severity";
    l[n++].value = sift_xstrdup(
        sift_alert_severity_name((enum sift_alert_severity)al->severity));
    l[n].name = "series";
    l[n++].value = sift_xstrdup(al->series);
    /* The rule's labels (JSON), or the series' parts. */
    *store = NULL;
    if (al->labels[0] == '{') {
        json_error_t jerr;
        json_t *o = json_loads(al->labels, 0, &jerr);
        const char *k;
        json_t *v;
        struct sift_buf names = SIFT_BUF_INIT;
        json_object_foreach(o, k, v)
        {
            if (n < MAX_LABELS && json_is_string(v)) {
                l[n].name =
                    (const char *)(uintptr_t)names.len; /* fixed below */
                sift_buf_append(&names, k, strlen(k) + 1);
                l[n++].value = sift_xstrdup(json_string_value(v));
            }
        }
        json_decref(o);
        *store = sift_buf_detach(&names, NULL);
        for (size_t i = 5; i < n; i++)
            l[i].name = *store + (uintptr_t)l[i].name;
        return n;
    }
    struct sift_buf names = SIFT_BUF_INIT;
    const char *p = al->series;
    size_t first = n;
    while (*p && n < MAX_LABELS) {
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        const char *v = eq + 1;
        const char *end = strchr(v, ' ');
        if (!end)
            end = v + strlen(v);
        l[n].name = (const char *)(uintptr_t)names.len;
        sift_buf_append(&names, p, (size_t)(eq - p));
        sift_buf_putc(&names, '\0');
        l[n++].value = sift_xstrndup(v, (size_t)(end - v));
        p = *end ? end + 1 : end;
    }
    *store = sift_buf_detach(&names, NULL);
    for (size_t i = first; i < n; i++)
        l[i].name = *store + (uintptr_t)l[i].name;
    return n;
}

static int
matcher_holds(const struct sift_silence_matcher *m, const regex_t *re,
              const struct label *l, size_t n)
{
    const char *v = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(l[i].name, m->name) == 0) {
            v = l[i].value;
            break;
        }
    }
    int eq = m->is_regex ? regexec(re, v, 0, NULL, 0) == 0
                         : strcmp(v, m->value) == 0;
    return m->is_equal ? eq : !eq;
}

int
sift_silences_match(struct sift_silences *s, const struct sift_alert *al,
                    int64_t now)
{
    if (!s || sift_silences_active(s, now) == 0)
        return 0;
    struct label l[MAX_LABELS];
    char *store = NULL;
    size_t n = alert_labels(al, l, &store);
    int hit = 0;
    for (size_t i = 0; i < s->n && !hit; i++) {
        struct silence *x = s->v[i];
        if (now < x->pub.starts_ns || now >= x->pub.ends_ns)
            continue;
        hit = 1;
        for (size_t k = 0; k < x->pub.n_m && hit; k++)
            hit = matcher_holds(&x->pub.m[k], &x->re[k], l, n);
    }
    for (size_t i = 0; i < n; i++)
        sift_free(l[i].value);
    sift_free(store);
    return hit;
}

size_t
sift_silences_active(struct sift_silences *s, int64_t now)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += now >= s->v[i]->pub.starts_ns && now < s->v[i]->pub.ends_ns;
    return n;
}

int
sift_silences_changed(struct sift_silences *s, int64_t now)
{
    /* A signature of the set of active silences and their versions. */
    uint64_t sig = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct silence *x = s->v[i];
        if (now >= x->pub.starts_ns && now < x->pub.ends_ns)
            sig += (uint64_t)x->pub.updated_ns * 0x9E3779B97F4A7C15ull +
                   (uint64_t)i;
    }
    int changed = sig != s->last_sig;
    s->last_sig = sig;
    return changed;
}
