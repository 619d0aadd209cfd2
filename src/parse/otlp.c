/*
 * otlp.c - OTLP logs (ExportLogsServiceRequest) in binary protobuf and
 * in OTLP/JSON, decoded into events.
 *
 * The request is resource_logs[] -> {resource, scope_logs[] -> {scope,
 * log_records[]}}.  Our own decoder, written from the published field
 * numbers of opentelemetry-proto (logs/v1, common/v1, resource/v1,
 * collector/logs/v1): protobuf through pb.h, JSON through the pull
 * reader (jsonpull.c) with the OTLP/JSON rules (lowerCamelCase keys, the
 * proto field names accepted too; 64-bit integers as numbers or strings;
 * trace and span ids in hex; unknown members ignored).  docs/ingest.md
 * has the mapping; in short, per log record:
 *
 *   resource and scope attributes, record attributes -> fields (nested
 *       kvlists as dotted names, arrays of scalars as repeated values,
 *       other arrays as their JSON text), scope name/version ->
 *       otel.scope.name / otel.scope.version
 *   severity_number -> log.level (1-4 trace ... 21-24 fatal), else
 *       severity_text (normalized like any level word)
 *   body: a string is the message; a kvlist is flattened into fields and
 *       its message_field (or msg) is the message, else its JSON text;
 *       other values are the message as text
 *   trace_id / span_id -> trace.id / span.id (lower-case hex)
 *   event_name -> event.name
 *   time_unix_nano, else observed_time_unix_nano, else arrival
 *
 * Design: both encodings decode into the same small structures
 * (otlp_int.h: struct sift__otlp_any trees in the arena, struct
 * sift__otlp_rec per record) and one function, sift__otlp_emit(), builds
 * the event, so the mapping exists once (bench/bench_otlp.c feeds it from
 * protobuf-c to compare the decoders; ours is 1.6x faster and bounds the
 * nesting, docs/internals/benchmark-notes.md).  Resource and scope come
 * before or after their records in either encoding, so their spans are
 * remembered and read first.  A body that is not a valid request fails
 * as a whole (SIFT_EPARSE: nothing of it may be stored); a record that
 * breaks a limit (fields, name or value size, nesting) is rejected alone
 * through the callback, which is what OTLP's partial success reports.
 * Events borrow from the body and the arena; their raw is NULL (the
 * dead-letter store then keeps the event as JSON).
 *
 * Pure; any thread.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/parse.h"

#include "parse/otlp_int.h"
#include "parse/parse_int.h"
#include "parse/pb.h"

#define TOO_DEEP "nesting deeper than max_depth"

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

struct sift__otlp_any *
sift__otlp_alist_push(struct sift__walk *c, struct sift__otlp_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        struct sift__otlp_any *v =
            sift_arena_try_alloc(c->arena, cap * sizeof(*v));
        if (!v) {
            c->nomem = 1;
            return NULL;
        }
        if (l->n)
            memcpy(v, l->v, l->n * sizeof(*v));
        l->v = v;
        l->cap = cap;
    }
    struct sift__otlp_any *a = &l->v[l->n++];
    memset(a, 0, sizeof(*a));
    return a;
}

const char *
sift__otlp_int_text(struct sift__walk *c, int64_t v, size_t *len)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    char *s = sift_arena_strndup(c->arena, tmp, (size_t)n);
    if (!s)
        c->nomem = 1;
    *len = (size_t)n;
    return s;
}

const char *
sift__otlp_double_text(struct sift__walk *c, double d, size_t *len)
{
    char tmp[40];
    size_t n = sift_fmt_double(tmp, sizeof(tmp), d);
    char *s = sift_arena_strndup(c->arena, tmp, n);
    if (!s)
        c->nomem = 1;
    *len = n;
    return s;
}

const char *
sift__otlp_base64(struct sift__walk *c, const uint8_t *p, size_t n, size_t *len)
{
    if (n > (SIZE_MAX - 4) / 4 * 3) {
        c->nomem = 1;
        return NULL;
    }
    size_t cap = 4 * ((n + 2) / 3) + 1;
    unsigned char *s = sift_arena_try_alloc(c->arena, cap);
    if (!s) {
        c->nomem = 1;
        return NULL;
    }
    size_t done = 0, out = 0;
    /* EVP_EncodeBlock takes an int length: encode in bounded steps that
     * are multiples of 3, so the pieces join into one text. */
    while (done < n) {
        size_t step = n - done > 3u << 20 ? 3u << 20 : n - done;
        out += (size_t)EVP_EncodeBlock(s + out, p + done, (int)step);
        done += step;
    }
    s[out] = '\0';
    *len = out;
    return (const char *)s;
}

/* Lower-case hex of an id; NULL for an empty or all-zero id (invalid by
 * the spec: no id). */
const char *
sift__otlp_hex_id(struct sift__walk *c, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    int nonzero = 0;
    for (size_t i = 0; i < n; i++)
        nonzero |= p[i];
    if (!nonzero || n > 64)
        return NULL;
    char *s = sift_arena_try_alloc(c->arena, 2 * n + 1);
    if (!s) {
        c->nomem = 1;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        s[2 * i] = digits[p[i] >> 4];
        s[2 * i + 1] = digits[p[i] & 15];
    }
    s[2 * n] = '\0';
    return s;
}

/* ------------------------------------------------------------------ */
/* Building the event                                                  */
/* ------------------------------------------------------------------ */

static void
any_json(struct sift_buf *b, const struct sift__otlp_any *v)
{
    switch (v->kind) {
    case SIFT__OTLP_STR:
    case SIFT__OTLP_BYTES: sift_buf_put_json_str(b, v->s, v->len); break;
    case SIFT__OTLP_BOOL:
    case SIFT__OTLP_INT: sift_buf_append(b, v->s, v->len); break;
    case SIFT__OTLP_DOUBLE:
        if (sift__parse_is_number(v->s, v->len))
            sift_buf_append(b, v->s, v->len);
        else
            sift_buf_put_json_str(b, v->s, v->len); /* NaN, +Inf */
        break;
    case SIFT__OTLP_ARRAY:
        sift_buf_putc(b, '[');
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                sift_buf_putc(b, ',');
            any_json(b, &v->items[i]);
        }
        sift_buf_putc(b, ']');
        break;
    case SIFT__OTLP_KVLIST:
        sift_buf_putc(b, '{');
        for (size_t i = 0; i < v->n; i++) {
            if (i)
                sift_buf_putc(b, ',');
            /* A kv without its key (OTLP/JSON that names none) is "". */
            const char *k = v->items[i].key ? v->items[i].key : "";
            sift_buf_put_json_str(b, k, v->items[i].key_len);
            sift_buf_putc(b, ':');
            any_json(b, &v->items[i]);
        }
        sift_buf_putc(b, '}');
        break;
    default: sift_buf_append(b, "null", 4); break;
    }
}

/* The JSON text of v in the arena. */
static int
any_json_text(struct sift__pctx *x, const struct sift__otlp_any *v,
              const char **s, size_t *len)
{
    struct sift_buf b = SIFT_BUF_INIT;
    any_json(&b, v);
    char *o = sift__pctx_dup(x, b.data ? b.data : "", b.len);
    *len = b.len;
    sift_buf_cleanup(&b);
    if (!o)
        return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
    *s = o;
    return SIFT_OK;
}

static int
is_scalar(const struct sift__otlp_any *v)
{
    return v->kind != SIFT__OTLP_ARRAY && v->kind != SIFT__OTLP_KVLIST;
}

static int add_value(struct sift__pctx *x, const char *name, size_t nl,
                     const struct sift__otlp_any *v);

/* name = prefix "." key in the arena (prefix may be empty). */
static int
join_name(struct sift__pctx *x, const char *pfx, size_t pl, const char *k,
          size_t kl, const char **name, size_t *nl)
{
    if (pl == 0) {
        *name = k;
        *nl = kl;
        return SIFT_OK;
    }
    char *n = sift_arena_try_alloc(x->arena, pl + 1 + kl);
    if (!n)
        return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
    memcpy(n, pfx, pl);
    n[pl] = '.';
    memcpy(n + pl + 1, k, kl);
    *name = n;
    *nl = pl + 1 + kl;
    return SIFT_OK;
}

/* Adds every member of a kvlist under prefix. */
static int
add_kvlist(struct sift__pctx *x, const char *pfx, size_t pl,
           const struct sift__otlp_any *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct sift__otlp_any *kv = &items[i];
        if (kv->key_len == 0)
            continue; /* an empty key names nothing */
        const char *name = NULL;
        size_t nl = 0;
        int rc = join_name(x, pfx, pl, kv->key, kv->key_len, &name, &nl);
        if (rc == SIFT_OK)
            rc = add_value(x, name, nl, kv);
        if (rc)
            return rc;
    }
    return SIFT_OK;
}

static int
add_value(struct sift__pctx *x, const char *name, size_t nl,
          const struct sift__otlp_any *v)
{
    int rc;
    switch (v->kind) {
    case SIFT__OTLP_NONE: return SIFT_OK; /* an empty value, like JSON null */
    case SIFT__OTLP_STR:
    case SIFT__OTLP_BOOL:
    case SIFT__OTLP_BYTES:
        rc = sift__pctx_reserve(x, 1);
        return rc ? rc
                  : sift__pctx_add(x, name, nl, v->s, v->len, SIFT_FT_KEYWORD);
    case SIFT__OTLP_INT:
    case SIFT__OTLP_DOUBLE:
        rc = sift__pctx_reserve(x, 1);
        return rc ? rc
                  : sift__pctx_add(x, name, nl, v->s, v->len,
                                   sift__parse_is_number(v->s, v->len)
                                       ? SIFT_FT_NUMBER
                                       : SIFT_FT_KEYWORD);
    case SIFT__OTLP_KVLIST: return add_kvlist(x, name, nl, v->items, v->n);
    case SIFT__OTLP_ARRAY: {
        int scalars = 1;
        for (size_t i = 0; i < v->n; i++)
            scalars &= is_scalar(&v->items[i]);
        if (!scalars) {
            const char *s = NULL;
            size_t len = 0;
            rc = any_json_text(x, v, &s, &len);
            if (rc == SIFT_OK)
                rc = sift__pctx_reserve(x, 1);
            return rc ? rc
                      : sift__pctx_add(x, name, nl, s, len, SIFT_FT_KEYWORD);
        }
        for (size_t i = 0; i < v->n; i++) {
            rc = add_value(x, name, nl, &v->items[i]);
            if (rc)
                return rc;
        }
        return SIFT_OK;
    }
    default: return SIFT_OK;
    }
}

/* Whether a kvlist body names its message (message_field or msg). */
static int
has_message_key(const struct sift_parse_opts *o, const struct sift__otlp_any *b)
{
    /* The compiled copy: o's strings may be gone (a config reload). */
    const struct sift__parse_name *m = &o->compiled->msg;
    for (size_t i = 0; i < b->n; i++) {
        const struct sift__otlp_any *kv = &b->items[i];
        if (!is_scalar(kv) || kv->kind == SIFT__OTLP_NONE)
            continue;
        if ((kv->key_len == m->len && memcmp(kv->key, m->s, m->len) == 0) ||
            (kv->key_len == 3 && memcmp(kv->key, "msg", 3) == 0))
            return 1;
    }
    return 0;
}

static const char *
level_of_number(uint32_t n)
{
    static const char *const lv[] = {"trace", "debug", "info",
                                     "warn",  "error", "fatal"};
    if (n < 1 || n > 24)
        return NULL;
    return lv[(n - 1) / 4];
}

/* Builds the event of rec and hands it (or its rejection) to the
 * callback. */
void
sift__otlp_emit(struct sift__walk *c, const struct sift__otlp_group *g,
                const struct sift__otlp_rec *rec)
{
    struct sift_parse_error perr;
    struct sift__pctx x;
    struct sift_event ev;
    int rc;

    c->n++;
    memset(&perr, 0, sizeof(perr));
    sift__pctx_init(&x, c->o, c->arena, &perr, rec->raw, rec->raw_len,
                    c->recv_ns);
    if (g->bad || rec->bad) {
        rc = sift__pctx_fail(&x, SIFT_ELIMIT, 0, "%s",
                             g->bad ? g->bad : rec->bad);
        goto out;
    }
    rc = sift__pctx_reserve(&x, 8);
    if (rc)
        goto out;
    /* Derived fields first: the first log.level wins in finish. */
    const char *lvl = level_of_number(rec->sev_num);
    if (lvl)
        rc = sift__pctx_add_derived(&x, "log.level", 9, lvl, strlen(lvl),
                                    SIFT_FT_KEYWORD);
    else if (rec->sev_text_len)
        rc = sift__pctx_add_derived(&x, "log.level", 9, rec->sev_text,
                                    rec->sev_text_len, SIFT_FT_KEYWORD);
    if (rc == SIFT_OK && rec->trace_id)
        rc = sift__pctx_add_derived(&x, "trace.id", 8, rec->trace_id,
                                    strlen(rec->trace_id), SIFT_FT_KEYWORD);
    if (rc == SIFT_OK && rec->span_id)
        rc = sift__pctx_add_derived(&x, "span.id", 7, rec->span_id,
                                    strlen(rec->span_id), SIFT_FT_KEYWORD);
    if (rc == SIFT_OK && rec->event_name_len)
        rc = sift__pctx_add_derived(&x, "event.name", 10, rec->event_name,
                                    rec->event_name_len, SIFT_FT_KEYWORD);
    if (rc == SIFT_OK && g->scope_name_len)
        rc = sift__pctx_add_derived(&x, "otel.scope.name", 15, g->scope_name,
                                    g->scope_name_len, SIFT_FT_KEYWORD);
    if (rc == SIFT_OK && g->scope_version_len)
        rc = sift__pctx_add_derived(&x, "otel.scope.version", 18,
                                    g->scope_version, g->scope_version_len,
                                    SIFT_FT_KEYWORD);
    if (rc == SIFT_OK)
        rc = add_kvlist(&x, "", 0, g->res_attrs.v, g->res_attrs.n);
    if (rc == SIFT_OK)
        rc = add_kvlist(&x, "", 0, g->scope_attrs.v, g->scope_attrs.n);
    if (rc == SIFT_OK)
        rc = add_kvlist(&x, "", 0, rec->attrs.v, rec->attrs.n);
    if (rc)
        goto out;

    /* The body. */
    const struct sift__otlp_any *b = &rec->body;
    if (b->kind == SIFT__OTLP_KVLIST) {
        /* Flattened into fields: its message field (else msg) becomes the
         * message in finish; without one, the body's JSON text is. */
        x.scan_msg = true;
        x.msg_alias = true;
        if (!has_message_key(c->o, b)) {
            size_t len = 0;
            rc = any_json_text(&x, b, &x.msg, &len);
            x.msg_len = (uint32_t)len;
        }
        if (rc == SIFT_OK)
            rc = add_kvlist(&x, "", 0, b->items, b->n);
    } else if (b->kind == SIFT__OTLP_ARRAY) {
        size_t len = 0;
        rc = any_json_text(&x, b, &x.msg, &len);
        x.msg_len = (uint32_t)len;
    } else if (b->kind != SIFT__OTLP_NONE) {
        x.msg = b->s;
        x.msg_len = (uint32_t)b->len;
    }
    if (rc)
        goto out;

    uint64_t t = rec->time_ns ? rec->time_ns : rec->observed_ns;
    if (t && t <= (uint64_t)INT64_MAX) {
        x.ts_ns = (int64_t)t;
        x.have_ts = true;
    }
    rc = sift__pctx_finish(&x, &ev);
out:
    if (rc == SIFT_ENOMEM) {
        c->nomem = 1;
        return;
    }
    if (rc == SIFT_OK) {
        ev.raw = NULL;
        ev.raw_len = 0;
        c->stop = c->cb(c->arg, SIFT_OK, &ev, NULL);
    } else {
        perr.rc = rc;
        perr.line = rec->raw;
        perr.line_len = rec->raw_len;
        perr.line_no = c->n;
        c->stop = c->cb(c->arg, rc, NULL, &perr);
    }
}

/* ------------------------------------------------------------------ */
/* Binary protobuf                                                     */
/* ------------------------------------------------------------------ */

static int pb_any(struct sift__walk *c, const struct sift__pb_field *f,
                  struct sift__otlp_any *out, unsigned depth, const char **bad);

/* One KeyValue message (f's bytes) appended to l. */
static int
pb_keyvalue(struct sift__walk *c, const struct sift__pb_field *f,
            struct sift__otlp_list *l, unsigned depth, const char **bad)
{
    struct sift__pb r;
    struct sift__pb_field g;
    int k;
    struct sift__otlp_any *kv = sift__otlp_alist_push(c, l);
    if (!kv)
        return -1;
    sift__pb_sub(f, &r);
    while ((k = sift__pb_next(&r, &g)) > 0) {
        if (g.num == 1) {
            if (g.wt != SIFT__PB_LEN)
                return -1;
            kv->key = (const char *)g.at;
            kv->key_len = g.len > UINT32_MAX ? UINT32_MAX : (uint32_t)g.len;
        } else if (g.num == 2) {
            if (g.wt != SIFT__PB_LEN)
                return -1;
            /* pb_any resets the value, so keep the key across it. */
            const char *key = kv->key;
            uint32_t key_len = kv->key_len;
            if (pb_any(c, &g, kv, depth, bad) < 0)
                return -1;
            kv->key = key;
            kv->key_len = key_len;
        }
    }
    return k;
}

/* Field 1 of f's message, repeated: AnyValue (array) or KeyValue. */
static int
pb_list(struct sift__walk *c, const struct sift__pb_field *f,
        struct sift__otlp_any *out, int kvs, unsigned depth, const char **bad)
{
    struct sift__pb r;
    struct sift__pb_field g;
    struct sift__otlp_list l = {NULL, 0, 0};
    int k;
    sift__pb_sub(f, &r);
    while ((k = sift__pb_next(&r, &g)) > 0) {
        if (g.num != 1)
            continue;
        if (g.wt != SIFT__PB_LEN)
            return -1;
        if (kvs) {
            if (pb_keyvalue(c, &g, &l, depth, bad) < 0)
                return -1;
        } else {
            struct sift__otlp_any *v = sift__otlp_alist_push(c, &l);
            if (!v || pb_any(c, &g, v, depth, bad) < 0)
                return -1;
        }
    }
    out->items = l.v;
    out->n = l.n;
    return k;
}

static int
pb_any(struct sift__walk *c, const struct sift__pb_field *f,
       struct sift__otlp_any *out, unsigned depth, const char **bad)
{
    struct sift__pb r;
    struct sift__pb_field g;
    int k;
    memset(out, 0, sizeof(*out));
    if (depth > c->o->max_depth) {
        *bad = TOO_DEEP;
        return 0;
    }
    sift__pb_init(&r, f->at, f->len);
    while ((k = sift__pb_next(&r, &g)) > 0) {
        switch (g.num) {
        case 1:
            if (g.wt != SIFT__PB_LEN)
                return -1;
            out->kind = SIFT__OTLP_STR;
            out->s = (const char *)g.at;
            out->len = g.len;
            break;
        case 2:
            if (g.wt != SIFT__PB_VARINT)
                return -1;
            out->kind = SIFT__OTLP_BOOL;
            out->s = g.v ? "true" : "false";
            out->len = g.v ? 4 : 5;
            break;
        case 3:
            if (g.wt != SIFT__PB_VARINT)
                return -1;
            out->kind = SIFT__OTLP_INT;
            out->s = sift__otlp_int_text(c, (int64_t)g.v, &out->len);
            break;
        case 4: {
            if (g.wt != SIFT__PB_I64)
                return -1;
            double d;
            memcpy(&d, &g.v, sizeof(d));
            out->kind = SIFT__OTLP_DOUBLE;
            out->s = sift__otlp_double_text(c, d, &out->len);
            break;
        }
        case 5:
        case 6:
            if (g.wt != SIFT__PB_LEN)
                return -1;
            out->kind = g.num == 5 ? SIFT__OTLP_ARRAY : SIFT__OTLP_KVLIST;
            out->items = NULL;
            out->n = 0;
            if (pb_list(c, &g, out, g.num == 6, depth + 1, bad) < 0)
                return -1;
            break;
        case 7:
            if (g.wt != SIFT__PB_LEN)
                return -1;
            out->kind = SIFT__OTLP_BYTES;
            out->s = sift__otlp_base64(c, g.at, g.len, &out->len);
            break;
        default: break; /* string_value_strindex (profiles) and newer */
        }
        if (c->nomem)
            return -1;
    }
    return k;
}

/* A LogRecord. */
static int
pb_record(struct sift__walk *c, const struct sift__pb_field *f,
          struct sift__otlp_rec *rec)
{
    struct sift__pb r;
    struct sift__pb_field g;
    int k;
    memset(rec, 0, sizeof(*rec));
    rec->raw = (const char *)f->at;
    rec->raw_len = f->len;
    sift__pb_sub(f, &r);
    while ((k = sift__pb_next(&r, &g)) > 0) {
        switch (g.num) {
        case 1:
        case 11:
            if (g.wt != SIFT__PB_I64)
                return -1;
            if (g.num == 1)
                rec->time_ns = g.v;
            else
                rec->observed_ns = g.v;
            break;
        case 2:
            if (g.wt != SIFT__PB_VARINT)
                return -1;
            rec->sev_num = g.v > 24 ? 0 : (uint32_t)g.v;
            break;
        case 3:
        case 12:
            if (g.wt != SIFT__PB_LEN)
                return -1;
            if (g.num == 3) {
                rec->sev_text = (const char *)g.at;
                rec->sev_text_len = g.len;
            } else {
                rec->event_name = (const char *)g.at;
                rec->event_name_len = g.len;
            }
            break;
        case 5:
            if (g.wt != SIFT__PB_LEN || pb_any(c, &g, &rec->body, 1, &rec->bad))
                return -1;
            break;
        case 6:
            if (g.wt != SIFT__PB_LEN ||
                pb_keyvalue(c, &g, &rec->attrs, 1, &rec->bad) < 0)
                return -1;
            break;
        case 9:
        case 10:
            if (g.wt != SIFT__PB_LEN)
                return -1;
            if (g.num == 9)
                rec->trace_id = sift__otlp_hex_id(c, g.at, g.len);
            else
                rec->span_id = sift__otlp_hex_id(c, g.at, g.len);
            break;
        default: break;
        }
        if (c->nomem)
            return -1;
    }
    return k;
}

/* The Resource (attributes = 1) or InstrumentationScope (name = 1,
 * version = 2, attributes = 3) of a group. */
static int
pb_group_head(struct sift__walk *c, const struct sift__pb_field *f, int scope,
              struct sift__otlp_group *grp)
{
    struct sift__pb r;
    struct sift__pb_field g;
    int k;
    sift__pb_sub(f, &r);
    while ((k = sift__pb_next(&r, &g)) > 0) {
        if (!scope && g.num == 1) {
            if (g.wt != SIFT__PB_LEN ||
                pb_keyvalue(c, &g, &grp->res_attrs, 1, &grp->bad) < 0)
                return -1;
        } else if (scope && (g.num == 1 || g.num == 2)) {
            if (g.wt != SIFT__PB_LEN)
                return -1;
            if (g.num == 1) {
                grp->scope_name = (const char *)g.at;
                grp->scope_name_len = g.len;
            } else {
                grp->scope_version = (const char *)g.at;
                grp->scope_version_len = g.len;
            }
        } else if (scope && g.num == 3) {
            if (g.wt != SIFT__PB_LEN ||
                pb_keyvalue(c, &g, &grp->scope_attrs, 1, &grp->bad) < 0)
                return -1;
        }
    }
    return k;
}

/*
 * A ResourceLogs (head = resource, 1; items = scope_logs, 2) or a
 * ScopeLogs (head = scope, 1; items = log_records, 2).  The head may come
 * after the items, so it is looked for first.
 */
static int
pb_group(struct sift__walk *c, const struct sift__pb_field *f, int scope,
         struct sift__otlp_group *grp)
{
    struct sift__pb r;
    struct sift__pb_field g;
    int k;
    sift__pb_sub(f, &r);
    while ((k = sift__pb_next(&r, &g)) > 0) {
        if (g.num == 1) {
            if (g.wt != SIFT__PB_LEN || pb_group_head(c, &g, scope, grp) < 0)
                return -1;
        } else if (g.num == 2 && g.wt != SIFT__PB_LEN) {
            return -1;
        }
    }
    if (k < 0)
        return -1;
    sift__pb_sub(f, &r);
    while ((k = sift__pb_next(&r, &g)) > 0 && !c->stop) {
        if (g.num != 2)
            continue;
        if (!scope) {
            struct sift__otlp_group sg = *grp;
            sg.scope_name = sg.scope_version = NULL;
            sg.scope_name_len = sg.scope_version_len = 0;
            memset(&sg.scope_attrs, 0, sizeof(sg.scope_attrs));
            if (pb_group(c, &g, 1, &sg) < 0)
                return -1;
        } else {
            struct sift__otlp_rec rec;
            if (pb_record(c, &g, &rec) < 0)
                return -1;
            sift__otlp_emit(c, grp, &rec);
            if (c->nomem)
                return -1;
        }
    }
    return k;
}

static int
pb_request(struct sift__walk *c, const char *body, size_t len)
{
    struct sift__pb r;
    struct sift__pb_field g;
    int k;
    sift__pb_init(&r, body, len);
    while ((k = sift__pb_next(&r, &g)) > 0 && !c->stop) {
        if (g.num != 1)
            continue;
        struct sift__otlp_group grp;
        memset(&grp, 0, sizeof(grp));
        if (g.wt != SIFT__PB_LEN || pb_group(c, &g, 0, &grp) < 0)
            return -1;
    }
    return k < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* OTLP/JSON                                                           */
/* ------------------------------------------------------------------ */

/* The member name is camel (OTLP/JSON) or snake (proto field name). */
static int
key_is(const char *k, size_t kl, const char *camel, const char *snake)
{
    return (strlen(camel) == kl && memcmp(k, camel, kl) == 0) ||
           (snake && strlen(snake) == kl && memcmp(k, snake, kl) == 0);
}

/* null in place of a value means the member is absent. */
static int
json_null(struct sift__jp *j)
{
    int v;
    if (sift__jp_peek(j) != SIFT__JP_NULL)
        return 0;
    sift__jp_literal(j, &v);
    return 1;
}

/* A 64-bit integer written as a number or a decimal string. */
static int
json_int(struct sift__jp *j, int is_signed, uint64_t *out)
{
    const char *s = NULL;
    size_t len = 0;
    int t = sift__jp_peek(j);
    if (t == SIFT__JP_NUMBER) {
        if (sift__jp_number(j, &s, &len) < 0)
            return -1;
    } else if (t == SIFT__JP_STRING) {
        if (sift__jp_string(j, &s, &len) < 0)
            return -1;
    } else {
        return -1;
    }
    size_t i = 0;
    int neg = 0;
    if (i < len && s[i] == '-' && is_signed) {
        neg = 1;
        i++;
    }
    if (i == len || len - i > 20)
        return -1;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -1;
        v = (uint64_t)0 - v;
    } else if (is_signed && v > (uint64_t)INT64_MAX) {
        return -1;
    }
    *out = v;
    return 0;
}

static int json_any(struct sift__walk *c, struct sift__jp *j,
                    struct sift__otlp_any *out, unsigned depth,
                    const char **bad);

/* {"key": .., "value": {AnyValue}} appended to l. */
static int
json_keyvalue(struct sift__walk *c, struct sift__jp *j,
              struct sift__otlp_list *l, unsigned depth, const char **bad)
{
    const char *k, *key = NULL;
    size_t kl, key_len = 0;
    struct sift__otlp_any val;
    int rc;
    memset(&val, 0, sizeof(val));
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (json_null(j))
            continue;
        if (key_is(k, kl, "key", NULL)) {
            if (sift__jp_string(j, &key, &key_len) < 0)
                return -1;
        } else if (key_is(k, kl, "value", NULL)) {
            if (json_any(c, j, &val, depth, bad) < 0)
                return -1;
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
    }
    if (rc < 0)
        return -1;
    struct sift__otlp_any *kv = sift__otlp_alist_push(c, l);
    if (!kv)
        return -1;
    *kv = val;
    kv->key = key;
    kv->key_len = key_len > UINT32_MAX ? UINT32_MAX : (uint32_t)key_len;
    return 0;
}

/* An array of KeyValue (kvs) or of AnyValue. */
static int
json_list(struct sift__walk *c, struct sift__jp *j, struct sift__otlp_list *l,
          int kvs, unsigned depth, const char **bad)
{
    int rc;
    if (json_null(j))
        return 0;
    if (sift__jp_enter_array(j) < 0)
        return -1;
    while ((rc = sift__jp_element(j)) > 0) {
        if (kvs) {
            if (json_keyvalue(c, j, l, depth, bad) < 0)
                return -1;
        } else {
            struct sift__otlp_any *v = sift__otlp_alist_push(c, l);
            if (!v || json_any(c, j, v, depth, bad) < 0)
                return -1;
        }
    }
    return rc;
}

/* {"values": [...]} of an ArrayValue or a KeyValueList. */
static int
json_values(struct sift__walk *c, struct sift__jp *j,
            struct sift__otlp_any *out, int kvs, unsigned depth,
            const char **bad)
{
    const char *k = NULL;
    size_t kl = 0;
    int rc;
    struct sift__otlp_list l = {NULL, 0, 0};
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (key_is(k, kl, "values", NULL)) {
            if (json_list(c, j, &l, kvs, depth, bad) < 0)
                return -1;
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
    }
    out->items = l.v;
    out->n = l.n;
    return rc;
}

static int
json_any(struct sift__walk *c, struct sift__jp *j, struct sift__otlp_any *out,
         unsigned depth, const char **bad)
{
    const char *k = NULL;
    size_t kl = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    if (json_null(j))
        return 0;
    if (depth > c->o->max_depth) {
        *bad = TOO_DEEP;
        return sift__jp_skip(j, NULL, NULL);
    }
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (json_null(j))
            continue;
        if (key_is(k, kl, "stringValue", "string_value")) {
            if (sift__jp_string(j, &out->s, &out->len) < 0)
                return -1;
            out->kind = SIFT__OTLP_STR;
        } else if (key_is(k, kl, "boolValue", "bool_value")) {
            int v;
            if (sift__jp_literal(j, &v) < 0 || v < 0)
                return -1;
            out->kind = SIFT__OTLP_BOOL;
            out->s = v ? "true" : "false";
            out->len = v ? 4 : 5;
        } else if (key_is(k, kl, "intValue", "int_value")) {
            uint64_t v;
            if (json_int(j, 1, &v) < 0)
                return -1;
            out->kind = SIFT__OTLP_INT;
            out->s = sift__otlp_int_text(c, (int64_t)v, &out->len);
        } else if (key_is(k, kl, "doubleValue", "double_value")) {
            const char *s = NULL;
            size_t len = 0;
            int t = sift__jp_peek(j);
            if (t == SIFT__JP_NUMBER) {
                if (sift__jp_number(j, &s, &len) < 0)
                    return -1;
            } else if (t == SIFT__JP_STRING) {
                /* "NaN", "Infinity", "-Infinity" (or a number as text) */
                if (sift__jp_string(j, &s, &len) < 0)
                    return -1;
            } else {
                return -1;
            }
            out->kind = SIFT__OTLP_DOUBLE;
            out->s = s;
            out->len = len;
        } else if (key_is(k, kl, "arrayValue", "array_value") ||
                   key_is(k, kl, "kvlistValue", "kvlist_value")) {
            int kvs = k[0] == 'k';
            out->kind = kvs ? SIFT__OTLP_KVLIST : SIFT__OTLP_ARRAY;
            if (json_values(c, j, out, kvs, depth + 1, bad) < 0)
                return -1;
        } else if (key_is(k, kl, "bytesValue", "bytes_value")) {
            if (sift__jp_string(j, &out->s, &out->len) < 0)
                return -1;
            out->kind = SIFT__OTLP_BYTES; /* already base64 in JSON */
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
        if (c->nomem)
            return -1;
    }
    return rc;
}

/* A hex id as lower case; NULL when not hex or all zero. */
static const char *
json_hex_id(struct sift__walk *c, const char *s, size_t len)
{
    int nonzero = 0;
    if (len == 0 || len % 2 || len > 128)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        int d = sift_hex_digit((unsigned char)s[i]);
        if (d < 0)
            return NULL;
        nonzero |= d;
    }
    if (!nonzero)
        return NULL;
    char *o = sift_arena_try_alloc(c->arena, len + 1);
    if (!o) {
        c->nomem = 1;
        return NULL;
    }
    for (size_t i = 0; i < len; i++)
        o[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] + 32) : s[i];
    o[len] = '\0';
    return o;
}

static int
json_record(struct sift__walk *c, struct sift__jp *j,
            struct sift__otlp_rec *rec)
{
    const char *k = NULL;
    size_t kl = 0, a = 0, b = 0;
    int rc;
    memset(rec, 0, sizeof(*rec));
    if (sift__jp_peek(j) != SIFT__JP_OBJECT)
        return -1;
    a = j->pos;
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        uint64_t v;
        const char *s = NULL;
        size_t len = 0;
        if (json_null(j))
            continue;
        if (key_is(k, kl, "timeUnixNano", "time_unix_nano")) {
            if (json_int(j, 0, &rec->time_ns) < 0)
                return -1;
        } else if (key_is(k, kl, "observedTimeUnixNano",
                          "observed_time_unix_nano")) {
            if (json_int(j, 0, &rec->observed_ns) < 0)
                return -1;
        } else if (key_is(k, kl, "severityNumber", "severity_number")) {
            if (sift__jp_peek(j) == SIFT__JP_NUMBER) {
                if (json_int(j, 1, &v) < 0)
                    return -1;
                rec->sev_num = v > 24 ? 0 : (uint32_t)v;
            } else if (sift__jp_skip(j, NULL, NULL) < 0) {
                return -1; /* enum names are not OTLP/JSON: ignored */
            }
        } else if (key_is(k, kl, "severityText", "severity_text")) {
            if (sift__jp_string(j, &rec->sev_text, &rec->sev_text_len) < 0)
                return -1;
        } else if (key_is(k, kl, "eventName", "event_name")) {
            if (sift__jp_string(j, &rec->event_name, &rec->event_name_len) < 0)
                return -1;
        } else if (key_is(k, kl, "body", NULL)) {
            if (json_any(c, j, &rec->body, 1, &rec->bad) < 0)
                return -1;
        } else if (key_is(k, kl, "attributes", NULL)) {
            if (json_list(c, j, &rec->attrs, 1, 1, &rec->bad) < 0)
                return -1;
        } else if (key_is(k, kl, "traceId", "trace_id") ||
                   key_is(k, kl, "spanId", "span_id")) {
            if (sift__jp_string(j, &s, &len) < 0)
                return -1;
            if (k[0] == 't')
                rec->trace_id = json_hex_id(c, s, len);
            else
                rec->span_id = json_hex_id(c, s, len);
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
        if (c->nomem)
            return -1;
    }
    if (rc < 0)
        return -1;
    b = j->pos;
    rec->raw = j->s + a;
    rec->raw_len = b - a;
    return 0;
}

/* The resource or scope object of a group. */
static int
json_group_head(struct sift__walk *c, struct sift__jp *j, int scope,
                struct sift__otlp_group *grp)
{
    const char *k = NULL;
    size_t kl = 0;
    int rc;
    if (json_null(j))
        return 0;
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (json_null(j))
            continue;
        if (key_is(k, kl, "attributes", NULL)) {
            if (json_list(c, j, scope ? &grp->scope_attrs : &grp->res_attrs, 1,
                          1, &grp->bad) < 0)
                return -1;
        } else if (scope && key_is(k, kl, "name", NULL)) {
            if (sift__jp_string(j, &grp->scope_name, &grp->scope_name_len) < 0)
                return -1;
        } else if (scope && key_is(k, kl, "version", NULL)) {
            if (sift__jp_string(j, &grp->scope_version,
                                &grp->scope_version_len) < 0)
                return -1;
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
    }
    return rc;
}

static int json_group(struct sift__walk *c, struct sift__jp *j, int scope,
                      struct sift__otlp_group *grp);

/* The items of a group (scope_logs or log_records) from their span. */
static int
json_items(struct sift__walk *c, const struct sift__jp *outer, size_t a,
           size_t b, int scope, struct sift__otlp_group *grp)
{
    struct sift__jp j;
    int rc;
    sift__jp_init(&j, outer->s + a, b - a, SIFT__PARSE_MAX_DEPTH_CAP, c->arena);
    if (json_null(&j))
        return 0;
    if (sift__jp_enter_array(&j) < 0)
        return -1;
    while ((rc = sift__jp_element(&j)) > 0 && !c->stop) {
        if (!scope) {
            struct sift__otlp_group sg = *grp;
            sg.scope_name = sg.scope_version = NULL;
            sg.scope_name_len = sg.scope_version_len = 0;
            memset(&sg.scope_attrs, 0, sizeof(sg.scope_attrs));
            if (json_group(c, &j, 1, &sg) < 0)
                return -1;
        } else {
            struct sift__otlp_rec rec;
            if (json_record(c, &j, &rec) < 0)
                return -1;
            sift__otlp_emit(c, grp, &rec);
            if (c->nomem)
                return -1;
        }
    }
    return rc < 0 ? -1 : 0;
}

/* A ResourceLogs (scope 0) or ScopeLogs (scope 1) object. */
static int
json_group(struct sift__walk *c, struct sift__jp *j, int scope,
           struct sift__otlp_group *grp)
{
    const char *k = NULL;
    size_t kl = 0, a = 0, b = 0;
    int rc, have_items = 0;
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (key_is(k, kl, scope ? "scope" : "resource", NULL)) {
            if (json_group_head(c, j, scope, grp) < 0)
                return -1;
        } else if (scope ? key_is(k, kl, "logRecords", "log_records")
                         : key_is(k, kl, "scopeLogs", "scope_logs")) {
            /* Read once the head is known (it may come later). */
            if (sift__jp_skip(j, &a, &b) < 0)
                return -1;
            have_items = 1;
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
    }
    if (rc < 0)
        return -1;
    return have_items ? json_items(c, j, a, b, scope, grp) : 0;
}

static int
json_request(struct sift__walk *c, const char *body, size_t len)
{
    struct sift__jp j;
    const char *k = NULL;
    size_t kl = 0;
    int rc;
    sift__jp_init(&j, body, len, SIFT__PARSE_MAX_DEPTH_CAP, c->arena);
    if (sift__jp_enter_object(&j) < 0)
        goto bad;
    while ((rc = sift__jp_member(&j, &k, &kl)) > 0 && !c->stop) {
        if (key_is(k, kl, "resourceLogs", "resource_logs") && !json_null(&j)) {
            if (sift__jp_enter_array(&j) < 0)
                goto bad;
            int e;
            while ((e = sift__jp_element(&j)) > 0 && !c->stop) {
                struct sift__otlp_group grp;
                memset(&grp, 0, sizeof(grp));
                if (json_group(c, &j, 0, &grp) < 0)
                    goto bad;
            }
            if (e < 0)
                goto bad;
        } else if (sift__jp_skip(&j, NULL, NULL) < 0) {
            goto bad;
        }
    }
    if (c->stop || c->nomem)
        return 0;
    if (rc < 0 || sift__jp_finish(&j) < 0)
        goto bad;
    return 0;
bad:
    if (!c->nomem && !c->stop) {
        c->err->offset = j.err_at;
        snprintf(c->err->reason, sizeof(c->err->reason),
                 "invalid OTLP/JSON at byte %zu: %s", j.err_at,
                 j.err ? j.err : "unexpected value");
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Entry point                                                         */
/* ------------------------------------------------------------------ */

int
sift_otlp_logs_parse(const struct sift_parse_opts *o, int json,
                     const char *body, size_t len, int64_t recv_ns,
                     struct sift_arena *arena, sift_parse_line_cb cb, void *arg,
                     struct sift_parse_error *err)
{
    struct sift_parse_error local;
    struct sift__walk c;
    sift__walk_init(&c, o, arena, recv_ns, cb, arg, err, &local);
    int rc = json ? json_request(&c, body, len) : pb_request(&c, body, len);
    return sift__walk_end(&c, rc,
                          "the body is not a valid OTLP protobuf "
                          "ExportLogsServiceRequest");
}
