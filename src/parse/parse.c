/*
 * parse.c - options, format dispatch, line splitting and the rules every
 * format shares (limits, message/timestamp/level/service fields).
 *
 * Design: a format parser only turns bytes into fields (sift__pctx_add)
 * and may set the message and timestamp it found structurally (syslog,
 * text).  sift__pctx_finish() then makes one pass over the fields,
 * classifying the special names (message, timestamp candidates, level,
 * service), and applies the common rules, so JSON, logfmt and text
 * extraction behave the same way.  See docs/internals/parse.md.
 *
 * Invariants: x->n <= x->cap always (cap is reserved up front from an
 * upper bound on the fields the format can produce); x->n_user <=
 * max_fields; every error path sets x->err->reason.
 *
 * Thread: any; compiled options are read-only once compiled.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/kvlist.h"
#include "sift/multiline.h"

#include "parse/parse_int.h"

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

void
sift_parse_opts_init(struct sift_parse_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->format = SIFT_PARSE_AUTO;
    o->message_field = "message";
    o->timestamp_field = "@timestamp";
    o->service_field = "service.name";
    o->max_fields = 1000;
    o->max_field_name_bytes = 256;
    o->max_value_bytes = 32768;
    o->max_depth = 32;
    o->max_line_bytes = 1048576;
}

static uint32_t
clamp_u32(int64_t v, uint32_t dflt)
{
    if (v <= 0)
        return dflt;
    return v > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int
sift_parse_format_from_name(const char *s, enum sift_parse_format *out)
{
    static const char *const names[] = {"auto", "json", "text", "syslog",
                                        "logfmt"};
    for (int i = 0; s != NULL && i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum sift_parse_format)i;
            return SIFT_OK;
        }
    }
    return SIFT_EINVAL;
}

void
sift_parse_opts_from_config(struct sift_parse_opts *o,
                            const struct sift_config *cfg)
{
    if (cfg->message_field && cfg->message_field[0])
        o->message_field = cfg->message_field;
    if (cfg->timestamp_field && cfg->timestamp_field[0])
        o->timestamp_field = cfg->timestamp_field;
    if (cfg->service_field && cfg->service_field[0])
        o->service_field = cfg->service_field;
    o->text_fields = cfg->text_fields;
    o->keyword_fields = cfg->keyword_fields;
    o->numeric_fields = cfg->numeric_fields;
    o->max_fields = clamp_u32(cfg->max_fields, o->max_fields);
    o->max_field_name_bytes =
        clamp_u32(cfg->max_field_name_bytes, o->max_field_name_bytes);
    o->max_value_bytes = clamp_u32(cfg->max_value_bytes, o->max_value_bytes);
    o->max_depth = clamp_u32(cfg->max_depth, o->max_depth);
    o->max_line_bytes = clamp_u32(cfg->max_line_bytes, o->max_line_bytes);
}

static size_t
trim_span(const char *s, size_t *a, size_t b)
{
    while (*a < b && (s[*a] == ' ' || s[*a] == '\t'))
        (*a)++;
    while (b > *a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
    return b;
}

static size_t
count_items(const char *s)
{
    size_t n = 1;
    for (; s && *s; s++)
        n += *s == ',';
    return n;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int
opts_fail(struct sift_parse_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        memset(err, 0, sizeof(*err));
        err->rc = SIFT_EINVAL;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
        va_end(ap);
    }
    return SIFT_EINVAL;
}

/* Adds the names of a comma list (trimmed, empty items skipped). */
static void
add_typed(struct sift__parse_compiled *c, char *list, uint8_t type)
{
    size_t len = strlen(list), a = 0;
    while (a <= len) {
        const char *comma = memchr(list + a, ',', len - a);
        size_t e = comma ? (size_t)(comma - list) : len;
        size_t s = a;
        size_t t = trim_span(list, &s, e);
        if (t > s) {
            c->typed[c->n_typed].s = list + s;
            c->typed[c->n_typed].len = (uint32_t)(t - s);
            c->typed[c->n_typed].type = type;
            c->n_typed++;
        }
        a = e + 1;
    }
}

static void
set_name(struct sift__parse_name *n, const char *s)
{
    n->s = s;
    n->len = (uint32_t)strlen(s);
    n->type = 0;
}

struct extras_walk {
    struct sift__parse_compiled *c;
    const struct sift_parse_opts *o;
    char why[SIFT_PARSE_REASON_MAX];
};

static int
extra_item(void *arg, const char *name, size_t name_len, const char *value,
           size_t value_len)
{
    struct extras_walk *w = arg;
    if (name_len > w->o->max_field_name_bytes ||
        value_len > w->o->max_value_bytes) {
        snprintf(w->why, sizeof(w->why),
                 "\"%.*s\" has a too long name or value",
                 (int)(name_len > 60 ? 60 : name_len), name);
        return SIFT_EINVAL;
    }
    struct sift_field *f = &w->c->extras[w->c->n_extras++];
    f->name = name;
    f->name_len = (uint32_t)name_len;
    f->value = value;
    f->value_len = (uint32_t)value_len;
    f->type = SIFT_FT_KEYWORD;
    return 0;
}

int
sift_parse_opts_compile(struct sift_parse_opts *o, struct sift_parse_error *err)
{
    static const char *const ts_fallbacks[] = {"@timestamp", "timestamp", "ts",
                                               "time"};
    const char *lists[4] = {o->extra_fields, o->text_fields, o->keyword_fields,
                            o->numeric_fields};
    size_t total = 0, n_items = 0;
    int rc;

    sift_parse_opts_cleanup(o);
    if (o->max_fields == 0 || o->max_field_name_bytes == 0 ||
        o->max_value_bytes == 0 || o->max_depth == 0 || o->max_line_bytes == 0)
        return opts_fail(err, "parse limits must be positive");
    if (o->max_depth > SIFT__PARSE_MAX_DEPTH_CAP)
        return opts_fail(err, "max_depth %u is over %u", o->max_depth,
                         SIFT__PARSE_MAX_DEPTH_CAP);
    if (o->max_fields > 1000000)
        return opts_fail(err, "max_fields %u is over 1000000", o->max_fields);
    if (o->max_line_bytes > 0x7fffffffu)
        return opts_fail(err, "max_line_bytes is over 2 GiB");
    if (!o->message_field || !o->message_field[0] || !o->timestamp_field ||
        !o->timestamp_field[0] || !o->service_field || !o->service_field[0])
        return opts_fail(err, "message, timestamp and service field names "
                              "must not be empty");
    if ((unsigned)o->format > SIFT_PARSE_LOGFMT)
        return opts_fail(err, "unknown format %d", (int)o->format);

    for (int i = 0; i < 4; i++) {
        if (lists[i]) {
            total += strlen(lists[i]) + 1;
            n_items += count_items(lists[i]);
        }
    }
    /* The three names are copied too: the options' strings belong to the
     * configuration, which a reload (SIGHUP) frees and replaces. */
    const char *names[3] = {o->message_field, o->service_field,
                            o->timestamp_field};
    for (int i = 0; i < 3; i++)
        total += strlen(names[i]) + 1;

    struct sift__parse_compiled *c = sift_xcalloc(1, sizeof(*c));
    c->storage = sift_xmalloc(total + 1);
    c->extras = sift_xcalloc(n_items + 1, sizeof(*c->extras));
    c->typed = sift_xcalloc(n_items + 1, sizeof(*c->typed));
    size_t off = 0;
    char *copies[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
        if (!lists[i])
            continue;
        size_t l = strlen(lists[i]);
        memcpy(c->storage + off, lists[i], l + 1);
        copies[i] = c->storage + off;
        off += l + 1;
    }
    char *name_copies[3];
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(names[i]);
        memcpy(c->storage + off, names[i], l + 1);
        name_copies[i] = c->storage + off;
        off += l + 1;
    }

    /* Extra fields: "k=v,k=v" (the one list reader, core/kvlist.c). */
    if (copies[0]) {
        struct extras_walk w = {c, o, {0}};
        rc = sift_kvlist_walk(copies[0], extra_item, &w, w.why, sizeof(w.why));
        if (rc != SIFT_OK) {
            rc = opts_fail(err, "extra_fields: %s", w.why);
            goto fail;
        }
    }
    if (copies[1])
        add_typed(c, copies[1], SIFT_FT_TEXT);
    if (copies[2])
        add_typed(c, copies[2], SIFT_FT_KEYWORD);
    if (copies[3])
        add_typed(c, copies[3], SIFT_FT_NUMBER);

    set_name(&c->msg, name_copies[0]);
    set_name(&c->svc, name_copies[1]);
    set_name(&c->ts[0], name_copies[2]);
    c->n_ts = 1;
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(ts_fallbacks[i], o->timestamp_field) != 0)
            set_name(&c->ts[c->n_ts++], ts_fallbacks[i]);
    }
    o->compiled = c;
    return SIFT_OK;

fail:
    sift_free(c->storage);
    sift_free(c->extras);
    sift_free(c->typed);
    sift_free(c);
    return rc;
}

void
sift_parse_opts_cleanup(struct sift_parse_opts *o)
{
    struct sift__parse_compiled *c = o->compiled;
    if (!c)
        return;
    sift_free(c->storage);
    sift_free(c->extras);
    sift_free(c->typed);
    sift_free(c);
    o->compiled = NULL;
}

/* ------------------------------------------------------------------ */
/* Context helpers                                                     */
/* ------------------------------------------------------------------ */

int
sift__pctx_fail(struct sift__pctx *x, int rc, size_t offset, const char *fmt,
                ...)
{
    va_list ap;
    x->err->rc = rc;
    x->err->offset = offset;
    va_start(ap, fmt);
    vsnprintf(x->err->reason, sizeof(x->err->reason), fmt, ap);
    va_end(ap);
    return rc;
}

char *
sift__pctx_dup(struct sift__pctx *x, const char *s, size_t len)
{
    char *p = sift_arena_try_alloc(x->arena, len ? len : 1);
    if (p && len)
        memcpy(p, s, len);
    return p;
}

/* Derived fields: log.level, service.name, _ts_error; plus the extras. */
#define N_DERIVED 4u

int
sift__pctx_reserve(struct sift__pctx *x, uint32_t n_user_max)
{
    uint32_t max = x->o->max_fields;
    uint32_t want = (n_user_max < max ? n_user_max : max + 1);
    uint64_t cap = (uint64_t)x->n + want + N_DERIVED + x->c->n_extras;
    if (cap <= x->cap)
        return SIFT_OK;
    struct sift_field *f =
        sift_arena_try_alloc(x->arena, (size_t)cap * sizeof(*f));
    if (!f)
        return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
    if (x->n)
        memcpy(f, x->f, x->n * sizeof(*f));
    x->f = f;
    x->cap = (uint32_t)cap;
    return SIFT_OK;
}

static uint8_t
typed_lookup(const struct sift__parse_compiled *c, const char *name, size_t len,
             uint8_t type)
{
    for (uint32_t i = 0; i < c->n_typed; i++) {
        if (c->typed[i].len == len && memcmp(c->typed[i].s, name, len) == 0)
            return c->typed[i].type;
    }
    return type;
}

int
sift__pctx_add_derived(struct sift__pctx *x, const char *name, size_t name_len,
                       const char *value, size_t value_len, uint8_t type)
{
    if (x->n >= x->cap) {
        int rc = sift__pctx_reserve(x, 4);
        if (rc)
            return rc;
    }
    struct sift_field *f = &x->f[x->n++];
    f->name = name;
    f->name_len = (uint32_t)name_len;
    f->value = value;
    f->value_len = (uint32_t)value_len;
    f->type = type;
    return SIFT_OK;
}

int
sift__pctx_add(struct sift__pctx *x, const char *name, size_t name_len,
               const char *value, size_t value_len, uint8_t type)
{
    const struct sift_parse_opts *o = x->o;
    if (x->n_user >= o->max_fields)
        return sift__pctx_fail(x, SIFT_ELIMIT, 0, "more than %u fields",
                               o->max_fields);
    if (name_len > o->max_field_name_bytes)
        return sift__pctx_fail(x, SIFT_ELIMIT, 0,
                               "field name \"%.*s...\" is %zu bytes, more "
                               "than %u",
                               (int)(name_len > 32 ? 32 : name_len), name,
                               name_len, o->max_field_name_bytes);
    if (value_len > o->max_value_bytes)
        return sift__pctx_fail(x, SIFT_ELIMIT, 0,
                               "value of field \"%.*s\" is %zu bytes, more "
                               "than %u",
                               (int)(name_len > 48 ? 48 : name_len), name,
                               value_len, o->max_value_bytes);
    if (x->c->n_typed) {
        type = typed_lookup(x->c, name, name_len, type);
        if (type == SIFT_FT_NUMBER && !sift__parse_is_number(value, value_len))
            type = SIFT_FT_KEYWORD;
    }
    x->n_user++;
    return sift__pctx_add_derived(x, name, name_len, value, value_len, type);
}

bool
sift__parse_is_number(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == len;
}

/* ------------------------------------------------------------------ */
/* Levels                                                              */
/* ------------------------------------------------------------------ */

const char *
sift_parse_level_normalize(const char *s, size_t len)
{
    static const struct {
        const char *word;
        const char *level;
    } map[] = {
        {"trace", "trace"},      {"debug", "debug"},
        {"dbg", "debug"},        {"verbose", "debug"},
        {"fine", "debug"},       {"info", "info"},
        {"information", "info"}, {"informational", "info"},
        {"notice", "notice"},    {"warn", "warn"},
        {"warning", "warn"},     {"error", "error"},
        {"err", "error"},        {"severe", "error"},
        {"fatal", "fatal"},      {"critical", "fatal"},
        {"crit", "fatal"},       {"alert", "fatal"},
        {"emerg", "fatal"},      {"emergency", "fatal"},
        {"panic", "fatal"},
    };
    char low[16];
    if (len == 0 || len >= sizeof(low))
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        low[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].word) == len && memcmp(map[i].word, low, len) == 0)
            return map[i].level;
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Finishing an event                                                  */
/* ------------------------------------------------------------------ */

static bool
name_eq(const struct sift_field *f, const char *s, size_t len)
{
    return f->name_len == len && memcmp(f->name, s, len) == 0;
}

#define NAME_EQ(f, lit) name_eq((f), lit, sizeof(lit) - 1)

static void
remove_field(struct sift__pctx *x, uint32_t i)
{
    memmove(&x->f[i], &x->f[i + 1], (x->n - i - 1) * sizeof(x->f[0]));
    x->n--;
}

/* Sets log.level from f (renaming it when it is not log.level itself). */
static int
apply_level(struct sift__pctx *x, struct sift_field *f)
{
    const char *norm = sift_parse_level_normalize(f->value, f->value_len);
    if (!norm) {
        /* Unknown word: keep it, lowercased, so filters still work. */
        char *low = sift__pctx_dup(x, f->value, f->value_len);
        if (!low)
            return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
        for (uint32_t i = 0; i < f->value_len; i++) {
            if (low[i] >= 'A' && low[i] <= 'Z')
                low[i] = (char)(low[i] + 32);
        }
        norm = low;
    } else {
        f->value_len = (uint32_t)strlen(norm);
    }
    f->value = norm;
    f->name = "log.level";
    f->name_len = 9;
    f->type = SIFT_FT_KEYWORD;
    return SIFT_OK;
}

/* Adds the configured extra fields (labels).  A label is a default: the
 * event's own field of that name wins. */
static int
add_extras(struct sift__pctx *x)
{
    const struct sift__parse_compiled *c = x->c;
    for (uint32_t i = 0; i < c->n_extras; i++) {
        int have = 0;
        for (uint32_t j = 0; j < x->n && !have; j++)
            have = x->f[j].name_len == c->extras[i].name_len &&
                   memcmp(x->f[j].name, c->extras[i].name,
                          c->extras[i].name_len) == 0;
        if (have)
            continue;
        int rc = sift__pctx_add_derived(
            x, c->extras[i].name, c->extras[i].name_len, c->extras[i].value,
            c->extras[i].value_len, SIFT_FT_KEYWORD);
        if (rc)
            return rc;
    }
    return SIFT_OK;
}

int
sift__pctx_finish(struct sift__pctx *x, struct sift_event *out)
{
    const struct sift__parse_compiled *c = x->c;
    int64_t idx_msg = -1, idx_alias = -1, idx_level = -1, idx_plain = -1;
    int alias_rank = 99;
    int64_t idx_sev = -1, idx_svc = -1, idx_svcname = -1, idx_fb = -1;
    int64_t idx_ts[SIFT__PARSE_N_TS];
    int fb_rank = 99;
    int rc;

    for (uint32_t k = 0; k < SIFT__PARSE_N_TS; k++)
        idx_ts[k] = -1;

    /* One pass classifies every special name (first occurrence wins). */
    for (uint32_t i = 0; i < x->n; i++) {
        const struct sift_field *f = &x->f[i];
        if (x->scan_msg && idx_msg < 0 && name_eq(f, c->msg.s, c->msg.len))
            idx_msg = i;
        else if (x->msg_alias && f->type != SIFT_FT_NUMBER) {
            /* The message under another name, in this order: msg (pino,
             * zap, slog, logrus, bunyan), log (Docker's json-file),
             * short_message (GELF). */
            int r = NAME_EQ(f, "msg")             ? 0
                    : NAME_EQ(f, "log")           ? 1
                    : NAME_EQ(f, "short_message") ? 2
                                                  : 99;
            if (r < alias_rank) {
                alias_rank = r;
                idx_alias = i;
            }
        }
        if (x->scan_ts) {
            for (uint32_t k = 0; k < c->n_ts; k++) {
                if (idx_ts[k] < 0 && name_eq(f, c->ts[k].s, c->ts[k].len))
                    idx_ts[k] = i;
            }
        }
        if (idx_level < 0 && NAME_EQ(f, "log.level"))
            idx_level = i;
        else if (idx_plain < 0 && NAME_EQ(f, "level"))
            idx_plain = i;
        else if (idx_sev < 0 && NAME_EQ(f, "severity"))
            idx_sev = i;
        if (idx_svc < 0 && name_eq(f, c->svc.s, c->svc.len))
            idx_svc = i;
        if (idx_svcname < 0 && NAME_EQ(f, "service.name"))
            idx_svcname = i;
        if (fb_rank > 0 && NAME_EQ(f, "fields.service"))
            idx_fb = i, fb_rank = 0;
        else if (fb_rank > 1 && NAME_EQ(f, "program"))
            idx_fb = i, fb_rank = 1;
        else if (fb_rank > 2 && NAME_EQ(f, "syslog.appname"))
            idx_fb = i, fb_rank = 2;
    }

    /* Level: log.level wins; else level, else severity (renamed). */
    if (idx_level >= 0)
        rc = apply_level(x, &x->f[idx_level]);
    else if (idx_plain >= 0)
        rc = apply_level(x, &x->f[idx_plain]);
    else if (idx_sev >= 0)
        rc = apply_level(x, &x->f[idx_sev]);
    else
        rc = SIFT_OK;
    if (rc)
        return rc;

    /* Service: copy into service.name when that is absent. */
    if (idx_svcname < 0) {
        int64_t src = idx_svc >= 0 ? idx_svc : idx_fb;
        if (src >= 0) {
            const struct sift_field *f = &x->f[src];
            rc = sift__pctx_add_derived(x, "service.name", 12, f->value,
                                        f->value_len, SIFT_FT_KEYWORD);
            if (rc)
                return rc;
        }
    }

    /* Timestamp: the first present candidate decides. */
    int64_t ts_idx = -1;
    for (uint32_t k = 0; k < c->n_ts && ts_idx < 0; k++)
        ts_idx = idx_ts[k];
    int64_t drop[2] = {-1, -1};
    if (ts_idx >= 0) {
        const struct sift_field *f = &x->f[ts_idx];
        int64_t ns;
        if (sift__parse_ts_value(f->value, f->value_len, x->recv_ns, &ns)) {
            x->ts_ns = ns;
            x->have_ts = true;
            drop[0] = ts_idx;
        } else if (!x->have_ts) {
            char *why = sift_arena_try_alloc(x->arena, 96);
            if (!why)
                return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
            int l =
                snprintf(why, 96, "unparseable timestamp in %.*s",
                         (int)(f->name_len > 48 ? 48 : f->name_len), f->name);
            rc = sift__pctx_add_derived(x, "_ts_error", 9, why,
                                        (size_t)(l < 0 ? 0 : l),
                                        SIFT_FT_KEYWORD);
            if (rc)
                return rc;
        }
    }
    if (!x->have_ts)
        x->ts_ns = x->recv_ns;

    /* Message: message_field, else an alias (msg, log, short_message). */
    int64_t m = idx_msg >= 0 ? idx_msg : idx_alias;
    if (m >= 0) {
        x->msg = x->f[m].value;
        x->msg_len = x->f[m].value_len;
        drop[1] = m;
        /* Docker's json-file "log" keeps the line's own newline. */
        if (m == idx_alias && alias_rank == 1) {
            if (x->msg_len > 0 && x->msg[x->msg_len - 1] == '\n')
                x->msg_len--;
            if (x->msg_len > 0 && x->msg[x->msg_len - 1] == '\r')
                x->msg_len--;
        }
    }
    /* Remove the higher index first so the lower one stays valid. */
    if (drop[0] < drop[1]) {
        int64_t t = drop[0];
        drop[0] = drop[1];
        drop[1] = t;
    }
    for (int k = 0; k < 2; k++) {
        if (drop[k] >= 0)
            remove_field(x, (uint32_t)drop[k]);
    }

    rc = add_extras(x);
    if (rc)
        return rc;

    out->ts_ns = x->ts_ns;
    out->msg = x->msg ? x->msg : "";
    out->msg_len = x->msg ? x->msg_len : 0;
    out->n_fields = x->n;
    out->fields = x->f;
    out->template_id = SIFT_TEMPLATE_NONE;
    out->raw = x->line;
    out->raw_len = (uint32_t)x->len;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

void
sift__pctx_init(struct sift__pctx *x, const struct sift_parse_opts *o,
                struct sift_arena *arena, struct sift_parse_error *err,
                const char *line, size_t len, int64_t recv_ns)
{
    memset(x, 0, sizeof(*x));
    x->o = o;
    x->c = o->compiled;
    x->arena = arena;
    x->err = err;
    x->line = line;
    x->len = len;
    x->recv_ns = recv_ns;
}

static bool
starts_with_pri(const char *s, size_t len)
{
    size_t i = 1;
    if (len < 3 || s[0] != '<')
        return false;
    while (i < len && i <= 4 && s[i] >= '0' && s[i] <= '9')
        i++;
    return i > 1 && i < len && s[i] == '>';
}

/* What sift_parse_lines() needs besides the event: which parser took the
 * line and whether the line carried its own timestamp. */
struct line_info {
    enum sift_parse_format kind;
    bool has_ts;
};

static int
parse_one(const struct sift_parse_opts *o, const char *line, size_t len,
          int64_t recv_ns, struct sift_arena *arena, struct sift_event *out,
          struct sift_parse_error *err, struct line_info *info)
{
    struct sift_parse_error local;
    struct sift__pctx x;
    int rc;

    assert(o && o->compiled && arena && out);
    if (!err)
        err = &local;
    err->rc = SIFT_OK;
    err->offset = 0;
    err->line_no = 0;
    err->line = line;
    err->line_len = len;
    err->reason[0] = '\0';

    if (len && line[len - 1] == '\n')
        len--;
    if (len && line[len - 1] == '\r')
        len--;

    sift__pctx_init(&x, o, arena, err, line, len, recv_ns);

    if (len > o->max_line_bytes) {
        return sift__pctx_fail(&x, SIFT_ELIMIT, 0,
                               "line is %zu bytes, more than "
                               "max_line_bytes %u",
                               len, o->max_line_bytes);
    }

    enum sift_parse_format kind = o->format;
    switch (o->format) {
    case SIFT_PARSE_JSON: rc = sift__parse_json(&x); break;
    case SIFT_PARSE_TEXT: rc = sift__parse_text(&x, false); break;
    case SIFT_PARSE_SYSLOG: rc = sift__parse_syslog(&x); break;
    case SIFT_PARSE_LOGFMT: rc = sift__parse_logfmt(&x); break;
    case SIFT_PARSE_AUTO:
    default: {
        size_t i = 0;
        while (i < len && (line[i] == ' ' || line[i] == '\t'))
            i++;
        if (i < len && line[i] == '{') {
            kind = SIFT_PARSE_JSON;
            rc = sift__parse_json(&x);
        } else if (starts_with_pri(line, len) ||
                   sift__parse_syslog_sniff(line, len)) {
            kind = SIFT_PARSE_SYSLOG;
            rc = sift__parse_syslog(&x);
        } else {
            kind = SIFT_PARSE_TEXT;
            rc = sift__parse_text(&x, true);
        }
        break;
    }
    }
    if (rc == SIFT_OK)
        rc = sift__pctx_finish(&x, out);
    if (rc != SIFT_OK && err->reason[0] == '\0')
        sift__pctx_fail(&x, rc, 0, "%s", sift_strerror(rc));
    if (info) {
        info->kind = kind;
        info->has_ts = x.have_ts;
    }
    return rc;
}

int
sift_parse_event(const struct sift_parse_opts *o, const char *line, size_t len,
                 int64_t recv_ns, struct sift_arena *arena,
                 struct sift_event *out, struct sift_parse_error *err)
{
    return parse_one(o, line, len, recv_ns, arena, out, err, NULL);
}

/* ---- bodies: lines, with multi-line events joined ---- */

struct slice {
    const char *p;
    uint32_t len;
};

/* The event read last, held back until the next line shows whether it
 * continues it. */
struct pending {
    bool have;
    struct sift_event ev;   /* as parsed from its first line */
    struct line_info info;  /* of the first line */
    struct sift_event last; /* the last line joined (time, level) */
    const char *raw_end;    /* end of the last line joined */
    struct slice *sl;       /* joined lines (arena) */
    uint32_t n_sl, cap_sl;
    size_t bytes; /* message bytes once joined */
};

/* Does the line (parsed as ev, info) continue the pending event? */
static bool
continues(const struct sift_multiline *m, const struct pending *pd,
          const char *line, size_t l, const struct sift_event *ev,
          const struct line_info *info, struct slice *add)
{
    const struct sift_multiline_opts *mo = sift_multiline_opts(m);
    if (!pd->have || !mo->enabled || pd->n_sl + 1 >= mo->max_lines)
        return false;
    bool cont;
    if (info->kind == SIFT_PARSE_TEXT) {
        /* A text line continues by its own text, or (built-in rules) by
         * having no timestamp right after a line that had one. */
        cont = sift_multiline_is_continuation(m, line, l) ||
               (mo->pattern[0] == '\0' && !info->has_ts && pd->info.has_ts &&
                pd->info.kind != SIFT_PARSE_JSON);
        add->p = line;
        add->len = (uint32_t)l;
    } else {
        /* A structured event continues by its message, when it comes
         * from the same stream, soon enough. */
        cont = sift_multiline_is_continuation(m, ev->msg ? ev->msg : "",
                                              ev->msg_len) &&
               sift_multiline_same_stream(m, &pd->ev, ev, 0) &&
               sift_multiline_same_stream(m, &pd->last, ev, info->has_ts);
        add->p = ev->msg;
        add->len = ev->msg_len;
    }
    return cont && pd->bytes + 1 + add->len <= mo->max_bytes;
}

static int
pending_add(struct pending *pd, struct sift_arena *arena, struct slice add)
{
    if (pd->n_sl == pd->cap_sl) {
        uint32_t cap = pd->cap_sl ? pd->cap_sl * 2 : 8;
        struct slice *n = sift_arena_try_alloc(arena, cap * sizeof(*n));
        if (!n)
            return SIFT_ENOMEM;
        if (pd->n_sl)
            memcpy(n, pd->sl, pd->n_sl * sizeof(*n));
        pd->sl = n;
        pd->cap_sl = cap;
    }
    pd->sl[pd->n_sl++] = add;
    pd->bytes += 1 + add.len;
    return SIFT_OK;
}

/* Reports the pending event, its joined lines built into one message. */
static int
pending_flush(struct pending *pd, struct sift_arena *arena,
              sift_parse_line_cb cb, void *arg, struct sift_parse_stats *st)
{
    if (!pd->have)
        return 0;
    pd->have = false;
    struct sift_event ev = pd->ev;
    if (pd->n_sl) {
        char *msg = sift_arena_try_alloc(arena, pd->bytes ? pd->bytes : 1);
        if (!msg)
            return SIFT_ENOMEM;
        size_t at = ev.msg_len;
        if (at)
            memcpy(msg, ev.msg, at);
        for (uint32_t i = 0; i < pd->n_sl; i++) {
            msg[at++] = '\n';
            if (pd->sl[i].len)
                memcpy(msg + at, pd->sl[i].p, pd->sl[i].len);
            at += pd->sl[i].len;
        }
        ev.msg = msg;
        ev.msg_len = (uint32_t)at;
        if (ev.raw && pd->raw_end > ev.raw)
            ev.raw_len = (uint32_t)(pd->raw_end - ev.raw);
    }
    st->n_events++;
    return cb(arg, SIFT_OK, &ev, NULL);
}

int
sift_parse_lines(const struct sift_parse_opts *o, const char *body, size_t len,
                 int64_t recv_ns, struct sift_arena *arena,
                 sift_parse_line_cb cb, void *arg,
                 struct sift_parse_stats *stats)
{
    struct sift_parse_stats local = {0, 0, 0, 0};
    size_t pos = 0, line_no = 0;
    struct pending pd;
    int stop;

    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof(*stats));
    memset(&pd, 0, sizeof(pd));
    while (pos < len) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - body) : len;
        size_t l = end - pos;
        const char *line = body + pos;
        line_no++;
        pos = end + 1;
        if (l && line[l - 1] == '\r')
            l--;
        if (l == 0)
            continue;
        stats->n_lines++;

        struct sift_event ev;
        struct sift_parse_error err;
        struct line_info info;
        int rc = parse_one(o, line, l, recv_ns, arena, &ev, &err, &info);
        if (rc == SIFT_ENOMEM)
            return rc;
        if (rc == SIFT_OK) {
            struct slice add;
            if (o->multiline &&
                continues(o->multiline, &pd, line, l, &ev, &info, &add)) {
                if (pending_add(&pd, arena, add) < 0)
                    return SIFT_ENOMEM;
                if (info.has_ts)
                    pd.last = ev; /* the time later lines are held to */
                pd.raw_end = line + l;
                stats->n_joined++;
                continue;
            }
            stop = pending_flush(&pd, arena, cb, arg, stats);
            if (stop)
                return stop;
            if (!o->multiline) {
                stats->n_events++;
                stop = cb(arg, rc, &ev, NULL);
            } else {
                memset(&pd, 0, sizeof(pd));
                pd.have = true;
                pd.ev = ev;
                pd.info = info;
                pd.last = ev;
                pd.raw_end = line + l;
                pd.bytes = ev.msg_len;
                stop = 0;
            }
        } else {
            stop = pending_flush(&pd, arena, cb, arg, stats);
            if (stop)
                return stop;
            stats->n_errors++;
            err.line_no = line_no;
            err.line = line;
            err.line_len = l;
            stop = cb(arg, rc, NULL, &err);
        }
        if (stop)
            return stop;
    }
    return pending_flush(&pd, arena, cb, arg, stats);
}

void
sift__walk_init(struct sift__walk *w, const struct sift_parse_opts *o,
                struct sift_arena *arena, int64_t recv_ns,
                sift_parse_line_cb cb, void *arg, struct sift_parse_error *err,
                struct sift_parse_error *local)
{
    if (!err)
        err = local;
    memset(err, 0, sizeof(*err));
    memset(w, 0, sizeof(*w));
    w->o = o;
    w->arena = arena;
    w->recv_ns = recv_ns;
    w->cb = cb;
    w->arg = arg;
    w->err = err;
}

int
sift__walk_end(struct sift__walk *w, int rc, const char *bad_body)
{
    struct sift_parse_error *err = w->err;
    if (w->nomem) {
        err->rc = SIFT_ENOMEM;
        snprintf(err->reason, sizeof(err->reason), "out of memory");
        return SIFT_ENOMEM;
    }
    if (w->stop)
        return w->stop;
    if (rc < 0) {
        if (!err->reason[0])
            snprintf(err->reason, sizeof(err->reason), "%s", bad_body);
        err->rc = SIFT_EPARSE;
        return SIFT_EPARSE;
    }
    return SIFT_OK;
}
