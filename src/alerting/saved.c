/*
 * saved.c - saved searches (include/sift/saved.h has the contract).
 *
 * Design.  A sorted array of saved searches; DATA_DIR/saved.ndjson is
 * rewritten whole (sift_file_replace: temp file, fsync, rename, fsync of
 * the directory) on every change, one JSON object per line with the
 * state-file checksum member.  Loading skips and reports a damaged line
 * and keeps the file as it was in quarantine/ before it is rewritten; a
 * file that cannot be read is moved there, and if that fails changes are
 * refused (never overwrite what could not be read).  A change that would
 * break a rule asks the guard (the rules engine) first.
 *
 * Invariants: names are unique; v[] is sorted by name.
 * Thread: loop thread only.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/query.h"
#include "sift/saved.h"
#include "sift/statefile.h"

#include "alerting/alerting_int.h"

#define MAX_SAVED 10000

struct sift_saved {
    char *data_dir;
    char *path;
    const struct sift_config *cfg;
    struct sift_saved_search **v;
    size_t n;
    int persist_off;
    sift_saved_guard_cb guard;
    void *guard_arg;
};

static void
item_free(struct sift_saved_search *x)
{
    if (!x)
        return;
    sift_free(x->query);
    sift_free(x->from);
    sift_free(x->to);
    sift_free(x->fields);
    sift_free(x->description);
    sift_free(x->created_by);
    sift_free(x);
}

static const char *
role_name(enum sift_role r)
{
    return r == SIFT_ROLE_ADMIN    ? "admin"
           : r == SIFT_ROLE_WRITER ? "writer"
                                   : "reader";
}

static int
role_parse(const char *s, enum sift_role *out)
{
    if (strcmp(s, "reader") == 0)
        *out = SIFT_ROLE_READER;
    else if (strcmp(s, "writer") == 0)
        *out = SIFT_ROLE_WRITER;
    else if (strcmp(s, "admin") == 0)
        *out = SIFT_ROLE_ADMIN;
    else
        return SIFT_EINVAL;
    return SIFT_OK;
}

/* One line of saved.ndjson (before its checksum): the file's record,
 * also the API's reply object (saved.h). */
void
sift_saved_to_json(const struct sift_saved_search *x, struct sift_buf *b)
{
    SIFT_BUF_LIT(b, "{\"name\":");
    sift_buf_put_json_str(b, x->name, strlen(x->name));
    SIFT_BUF_LIT(b, ",\"query\":");
    sift_buf_put_json_str(b, x->query, strlen(x->query));
    SIFT_BUF_LIT(b, ",\"from\":");
    sift_buf_put_json_str(b, x->from, strlen(x->from));
    SIFT_BUF_LIT(b, ",\"to\":");
    sift_buf_put_json_str(b, x->to, strlen(x->to));
    SIFT_BUF_LIT(b, ",\"fields\":");
    sift_buf_put_json_str(b, x->fields, strlen(x->fields));
    SIFT_BUF_LIT(b, ",\"description\":");
    sift_buf_put_json_str(b, x->description, strlen(x->description));
    sift_buf_appendf(
        b, ",\"owner_role\":\"%s\",\"created_by\":", role_name(x->owner_role));
    sift_buf_put_json_str(b, x->created_by, strlen(x->created_by));
    sift_buf_appendf(b,
                     ",\"created_ms\":%" PRId64 ",\"updated_ms\":%" PRId64 "}",
                     x->created_ms, x->updated_ms);
}

static void
record_at(void *arg, size_t i, struct sift_buf *b)
{
    const struct sift_saved *s = arg;
    sift_saved_to_json(s->v[i], b);
}

static void
save(struct sift_saved *s)
{
    sift__alerting_records_save("saved searches", s->path, s->n, record_at, s);
}

static long
find(const struct sift_saved *s, const char *name, size_t *ins)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s->v[mid]->name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (ins)
        *ins = lo;
    return -1;
}

static int
valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '-' && c != '.')
            return 0;
    }
    return 1;
}

#define FAIL(st, ...)                                                          \
    do {                                                                       \
        *status = (st);                                                        \
        snprintf(err, err_len, __VA_ARGS__);                                   \
        rc = (st) == 404 ? SIFT_ENOTFOUND : SIFT_EINVAL;                       \
        goto out;                                                              \
    } while (0)

/* Builds an item from o.  Checks the query and times. */
static int
from_json(struct sift_saved *s, const json_t *o, const char *name,
          struct sift_saved_search **out, int *status, char *err,
          size_t err_len)
{
    static const char *const known[] = {
        "name",        "query",      "from",       "to",         "fields",
        "description", "owner_role", "created_by", "created_ms", "updated_ms"};
    int rc = SIFT_OK;
    struct sift_saved_search *x = sift_xcalloc(1, sizeof(*x));
    if (!json_is_object(o))
        FAIL(400, "expected a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)(uintptr_t)o, key, v)
    {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            FAIL(400,
                 "unknown member '%.60s' (known: name, query, from, to, "
                 "fields, description, owner_role)",
                 key);
        if (!json_is_null(v) && !json_is_string(v) &&
            !(json_is_integer(v) && strstr(key, "_ms")))
            FAIL(400, "'%.60s' must be a string", key);
    }
    const char *bn = json_string_value(json_object_get(o, "name"));
    if (name && bn && strcmp(bn, name) != 0)
        FAIL(400, "the body names \"%.63s\", the path \"%.63s\"", bn, name);
    if (!name)
        name = bn;
    if (!name || !valid_name(name))
        FAIL(400, "name: required, 1 to 63 characters of A-Z a-z 0-9 _ - .");
    snprintf(x->name, sizeof(x->name), "%s", name);
    const char *q = json_string_value(json_object_get(o, "query"));
    if (!q)
        FAIL(400, "saved search \"%s\": query: required", x->name);
    if (q[0] == '@')
        FAIL(400,
             "saved search \"%s\": query: a saved search cannot read "
             "another",
             x->name);
    struct sift_query_limits lim = {
        .max_query_bytes = s->cfg ? (size_t)s->cfg->max_query_bytes : 0,
        .max_expansion = 0};
    struct sift_query *pq = NULL;
    struct sift_query_error qe;
    memset(&qe, 0, sizeof(qe));
    if (sift_query_parse(q, strlen(q), &lim, &pq, &qe) < 0)
        FAIL(400, "saved search \"%s\": query does not parse: %s (at %d)",
             x->name, qe.reason, (int)qe.position);
    sift_query_free(pq);
    x->query = sift_xstrdup(q);
    const char *from = json_string_value(json_object_get(o, "from"));
    const char *to = json_string_value(json_object_get(o, "to"));
    char why[120];
    if (from && *from && sift_query_time_explain(from, why, sizeof(why)) < 0)
        FAIL(400, "saved search \"%s\": from: %s", x->name, why);
    if (to && *to && sift_query_time_explain(to, why, sizeof(why)) < 0)
        FAIL(400, "saved search \"%s\": to: %s", x->name, why);
    x->from = sift_xstrdup(from ? from : "");
    x->to = sift_xstrdup(to ? to : "");
    const char *f = json_string_value(json_object_get(o, "fields"));
    const char *d = json_string_value(json_object_get(o, "description"));
    x->fields = sift_xstrdup(f ? f : "");
    x->description = sift_xstrdup(d ? d : "");
    const char *r = json_string_value(json_object_get(o, "owner_role"));
    x->owner_role = SIFT_ROLE_NONE;
    if (r && role_parse(r, &x->owner_role) < 0)
        FAIL(400, "saved search \"%s\": owner_role: reader, writer or admin",
             x->name);
    const char *cb = json_string_value(json_object_get(o, "created_by"));
    x->created_by = sift_xstrdup(cb ? cb : "");
    x->created_ms = json_integer_value(json_object_get(o, "created_ms"));
    x->updated_ms = json_integer_value(json_object_get(o, "updated_ms"));
out:
    if (rc < 0) {
        item_free(x);
        return rc;
    }
    *out = x;
    return SIFT_OK;
}

/* One record of saved.ndjson: a saved search with a new name. */
static int
load_record(void *arg, json_t *o)
{
    struct sift_saved *s = arg;
    struct sift_saved_search *x = NULL;
    int status;
    char err[300];
    size_t ins = 0;
    if (from_json(s, o, NULL, &x, &status, err, sizeof(err)) < 0)
        return SIFT_ECORRUPT;
    if (find(s, x->name, &ins) >= 0) {
        item_free(x);
        return SIFT_ECORRUPT;
    }
    if (x->owner_role == SIFT_ROLE_NONE)
        x->owner_role = SIFT_ROLE_READER;
    s->v = sift_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    memmove(&s->v[ins + 1], &s->v[ins], (s->n - ins) * sizeof(*s->v));
    s->v[ins] = x;
    s->n++;
    return SIFT_OK;
}

static int open_store(const char *data_dir, const struct sift_config *cfg,
                      int readonly, struct sift_saved **out);

int
sift_saved_open(const char *data_dir, const struct sift_config *cfg,
                struct sift_saved **out)
{
    return open_store(data_dir, cfg, 0, out);
}

int
sift_saved_open_readonly(const char *data_dir, const struct sift_config *cfg,
                         struct sift_saved **out)
{
    return open_store(data_dir, cfg, 1, out);
}

static int
open_store(const char *data_dir, const struct sift_config *cfg, int readonly,
           struct sift_saved **out)
{
    struct sift_saved *s = sift_xcalloc(1, sizeof(*s));
    s->persist_off = readonly;
    s->cfg = cfg;
    s->data_dir = sift_xstrdup(data_dir);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "%s/saved.ndjson", data_dir);
    (void)sift_buf_cstr(&b); /* detach keeps the NUL */
    s->path = sift_buf_detach(&b, NULL);
    if (sift__alerting_records_load("saved searches", data_dir, s->path,
                                    256 << 20, readonly, load_record, s,
                                    &s->persist_off))
        save(s);
    *out = s;
    return SIFT_OK;
}

void
sift_saved_free(struct sift_saved *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        item_free(s->v[i]);
    sift_free(s->v);
    sift_free(s->path);
    sift_free(s->data_dir);
    sift_free(s);
}

const struct sift_saved_search *
sift_saved_get(struct sift_saved *s, const char *name)
{
    long i = s ? find(s, name, NULL) : -1;
    return i >= 0 ? s->v[i] : NULL;
}

void
sift_saved_set_guard(struct sift_saved *s, sift_saved_guard_cb cb, void *arg)
{
    s->guard = cb;
    s->guard_arg = arg;
}

int
sift_saved_put(struct sift_saved *s, const json_t *o, const char *name,
               int create_only, enum sift_role role, const char *principal,
               int *created, int *status, char *err, size_t err_len)
{
    int rc = SIFT_OK;
    struct sift_saved_search *x = NULL;
    *created = 0;
    if (s->persist_off)
        FAIL(503, "saved searches cannot be stored: their file is damaged "
                  "(see the log)");
    rc = from_json(s, o, name, &x, status, err, err_len);
    if (rc < 0)
        return rc;
    size_t ins = 0;
    long i = find(s, x->name, &ins);
    if (i >= 0 && create_only)
        FAIL(409,
             "saved search \"%s\" exists (PUT /api/v1/saved/%s "
             "replaces it)",
             x->name, x->name);
    if (i >= 0 && role < s->v[i]->owner_role)
        FAIL(403, "saved search \"%s\" belongs to role %s", x->name,
             role_name(s->v[i]->owner_role));
    if (x->owner_role == SIFT_ROLE_NONE)
        x->owner_role = i >= 0
                            ? s->v[i]->owner_role
                            : (role > SIFT_ROLE_NONE ? role : SIFT_ROLE_READER);
    if (x->owner_role > role)
        FAIL(403, "owner_role %s is above your role %s",
             role_name(x->owner_role), role_name(role));
    if (i >= 0 && s->guard && strcmp(s->v[i]->query, x->query) != 0 &&
        s->guard(s->guard_arg, x->name, x->query, err, err_len) < 0) {
        *status = 409;
        rc = SIFT_EINVAL;
        goto out;
    }
    int64_t now_ms = sift_clock_now_ns() / 1000000;
    x->updated_ms = now_ms;
    if (i >= 0) {
        x->created_ms = s->v[i]->created_ms;
        sift_free(x->created_by);
        x->created_by = sift_xstrdup(s->v[i]->created_by);
        item_free(s->v[i]);
        s->v[i] = x;
    } else {
        if (s->n >= MAX_SAVED)
            FAIL(400, "at most %d saved searches", MAX_SAVED);
        x->created_ms = now_ms;
        sift_free(x->created_by);
        x->created_by = sift_xstrdup(principal ? principal : "-");
        s->v = sift_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
        memmove(&s->v[ins + 1], &s->v[ins], (s->n - ins) * sizeof(*s->v));
        s->v[ins] = x;
        s->n++;
        *created = 1;
    }
    x = NULL;
    save(s);
out:
    item_free(x);
    return rc;
}

int
sift_saved_delete(struct sift_saved *s, const char *name, enum sift_role role,
                  int *status, char *err, size_t err_len)
{
    int rc = SIFT_OK;
    long i = find(s, name, NULL);
    if (i < 0)
        FAIL(404, "no saved search \"%.63s\"", name);
    if (role < s->v[i]->owner_role)
        FAIL(403, "saved search \"%s\" belongs to role %s", name,
             role_name(s->v[i]->owner_role));
    if (s->guard && s->guard(s->guard_arg, name, NULL, err, err_len) < 0) {
        *status = 409;
        return SIFT_EINVAL;
    }
    item_free(s->v[i]);
    memmove(&s->v[i], &s->v[i + 1], (s->n - (size_t)i - 1) * sizeof(*s->v));
    s->n--;
    save(s);
out:
    return rc;
}

size_t
sift_saved_count(const struct sift_saved *s)
{
    return s->n;
}

const struct sift_saved_search *
sift_saved_at(const struct sift_saved *s, size_t i)
{
    return i < s->n ? s->v[i] : NULL;
}
