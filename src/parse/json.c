/*
 * json.c - JSON events (Filebeat / ECS) flattened to dotted fields.
 *
 * Design: no DOM.  jsmn (header-only, compiled here and only here, with
 * JSMN_STATIC so its functions stay file-local, JSMN_STRICT, and
 * JSMN_PARENT_LINKS so closing brackets cost O(1) instead of a backward
 * scan) splits the line into tokens that point into the input; one
 * recursive walk over the tokens then validates what jsmn lets through
 * (commas, colons, key/value pairing, literals, number syntax, trailing
 * bytes) and emits fields.  Strings without a backslash are borrowed from
 * the input; escaped strings are decoded into the arena (\uXXXX with
 * surrogate pairs to UTF-8; a lone surrogate becomes U+FFFD).
 *
 * Mapping: nested objects flatten to dotted names ({"log":{"file":..}} and
 * {"log.file":..} give the same "log.file.path"); strings -> KEYWORD,
 * numbers -> NUMBER (spelling kept), true/false -> KEYWORD, null ->
 * nothing; an array of scalars -> one field per element with the array's
 * name (tags), an array holding objects or arrays -> one KEYWORD field
 * with the array's JSON text; an empty array -> nothing.  "@metadata" is
 * skipped unless keep_metadata.
 *
 * Bounds: tokens live in a stack array of STACK_TOKENS; a bigger event is
 * counted first (jsmn with no token array) and gets a heap array, freed
 * before return, if it stays within 4 x max_fields + 64 tokens; past that
 * it is SIFT_ELIMIT.  The walk recurses at most max_depth (<= 128) deep.
 *
 * Pure; any thread.
 */
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/error.h"

#include "parse/parse_int.h"

#define STACK_TOKENS 256

struct jwalk {
    struct sift__pctx *x;
    const char *js;
    size_t len;
    const jsmntok_t *t;
    int n;
    char *pfx; /* dotted prefix of the current object (arena) */
    size_t pfx_cap;
};

static int
invalid(struct jwalk *w, size_t at)
{
    return sift__pctx_fail(w->x, SIFT_EPARSE, at, "invalid JSON at byte %zu",
                           at);
}

static bool
is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Checks that js[a..b) is whitespace around at most one sep (0 = none);
 * returns true, or false with *bad at the first unexpected byte.
 */
static bool
sep_at(const char *js, size_t a, size_t b, char sep, size_t *bad)
{
    while (a < b && is_ws(js[a]))
        a++;
    if (sep) {
        if (a >= b || js[a] != sep) {
            *bad = a;
            return false;
        }
        a++;
        while (a < b && is_ws(js[a]))
            a++;
    }
    *bad = a;
    return a == b;
}

static bool
sep_ok(const char *js, size_t a, size_t b, char sep)
{
    size_t bad;
    return sep_at(js, a, b, sep, &bad);
}

/* Token span including the quotes of a string. */
static size_t
tok_begin(const jsmntok_t *t)
{
    return (size_t)t->start - (t->type == JSMN_STRING);
}

static size_t
tok_end(const jsmntok_t *t)
{
    return (size_t)t->end + (t->type == JSMN_STRING);
}

static unsigned
hex4(const char *s)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else
            v |= (unsigned)(c - 'A' + 10);
    }
    return v;
}

static size_t
put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t
sift__json_unescape_into(char *o, const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c != '\\' || i + 1 >= len) {
            o[n++] = c;
            continue;
        }
        c = s[++i];
        switch (c) {
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            if (i + 4 >= len) {
                o[n++] = c;
                break;
            }
            unsigned cp = hex4(s + i + 1);
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && i + 6 < len &&
                s[i + 1] == '\\' && s[i + 2] == 'u') {
                unsigned lo = hex4(s + i + 3);
                if (lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    i += 6;
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd;
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: o[n++] = c; break; /* \" \\ \/ */
        }
    }
    return n;
}

/*
 * Decodes the JSON string body s[0..len) (escapes already validated by
 * jsmn) into the arena.  The output is never longer than the input.
 */
static int
unescape(struct sift__pctx *x, const char *s, size_t len, const char **out,
         size_t *out_len)
{
    char *o = sift_arena_try_alloc(x->arena, len ? len : 1);
    *out = o;
    *out_len = 0;
    if (!o)
        return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
    *out_len = sift__json_unescape_into(o, s, len);
    return SIFT_OK;
}

static int
str_value(struct jwalk *w, const jsmntok_t *t, const char **v, size_t *vl)
{
    const char *s = w->js + t->start;
    size_t l = (size_t)(t->end - t->start);
    if (!memchr(s, '\\', l)) {
        *v = s;
        *vl = l;
        return SIFT_OK;
    }
    return unescape(w->x, s, l, v, vl);
}

/* Makes the full dotted name of key under the current prefix. */
static int
full_name(struct jwalk *w, size_t plen, const char *k, size_t kl,
          const char **name, size_t *name_len)
{
    size_t total = plen ? plen + 1 + kl : kl;
    if (total > w->x->o->max_field_name_bytes)
        return sift__pctx_fail(w->x, SIFT_ELIMIT, 0,
                               "field name \"%.*s%s%.*s\" is %zu bytes, "
                               "more than %u",
                               (int)(plen > 32 ? 32 : plen), w->pfx,
                               plen ? "." : "", (int)(kl > 32 ? 32 : kl), k,
                               total, w->x->o->max_field_name_bytes);
    if (!plen) {
        *name = k;
        *name_len = kl;
        return SIFT_OK;
    }
    char *n = sift_arena_try_alloc(w->x->arena, total);
    if (!n)
        return sift__pctx_fail(w->x, SIFT_ENOMEM, 0, "out of memory");
    memcpy(n, w->pfx, plen);
    n[plen] = '.';
    memcpy(n + plen + 1, k, kl);
    *name = n;
    *name_len = total;
    return SIFT_OK;
}

static int
scalar(struct jwalk *w, const jsmntok_t *t, const char *name, size_t nl,
       bool emit)
{
    const char *s = w->js + t->start;
    size_t l = (size_t)(t->end - t->start);
    if (t->type == JSMN_STRING) {
        const char *v;
        size_t vl;
        if (!emit)
            return SIFT_OK;
        int rc = str_value(w, t, &v, &vl);
        if (rc)
            return rc;
        return sift__pctx_add(w->x, name, nl, v, vl, SIFT_FT_KEYWORD);
    }
    /* Primitive: literal or number. */
    if (s[0] == 't' || s[0] == 'f' || s[0] == 'n') {
        if (!((l == 4 && memcmp(s, "true", 4) == 0) ||
              (l == 5 && memcmp(s, "false", 5) == 0) ||
              (l == 4 && memcmp(s, "null", 4) == 0)))
            return invalid(w, (size_t)t->start);
        if (!emit || s[0] == 'n')
            return SIFT_OK;
        return sift__pctx_add(w->x, name, nl, s, l, SIFT_FT_KEYWORD);
    }
    if (!sift__parse_is_number(s, l))
        return invalid(w, (size_t)t->start);
    if (!emit)
        return SIFT_OK;
    return sift__pctx_add(w->x, name, nl, s, l, SIFT_FT_NUMBER);
}

static int value(struct jwalk *w, int *ti, size_t plen, const char *name,
                 size_t nl, unsigned depth, bool emit);

static int
too_deep(struct jwalk *w, const jsmntok_t *t)
{
    return sift__pctx_fail(w->x, SIFT_ELIMIT, (size_t)t->start,
                           "nesting deeper than %u", w->x->o->max_depth);
}

/* t[*ti] is an object at depth; its keys go under pfx[0..plen). */
static int
object(struct jwalk *w, int *ti, size_t plen, unsigned depth, bool emit)
{
    const jsmntok_t *o = &w->t[*ti];
    size_t prev = (size_t)o->start + 1;
    int rc;

    if (depth > w->x->o->max_depth)
        return too_deep(w, o);
    (*ti)++;
    for (int k = 0; k < o->size; k++) {
        if (*ti + 1 >= w->n)
            return invalid(w, prev);
        const jsmntok_t *key = &w->t[*ti];
        const jsmntok_t *val = &w->t[*ti + 1];
        if (key->type != JSMN_STRING || key->size != 1)
            return invalid(w, tok_begin(key));
        size_t bad;
        if (!sep_at(w->js, prev, tok_begin(key), k ? ',' : 0, &bad))
            return invalid(w, bad);
        if (!sep_at(w->js, tok_end(key), tok_begin(val), ':', &bad))
            return invalid(w, bad);

        const char *kname;
        size_t kl;
        rc = str_value(w, key, &kname, &kl);
        if (rc)
            return rc;
        if (kl == 0)
            return sift__pctx_fail(w->x, SIFT_EPARSE, tok_begin(key),
                                   "empty field name at byte %zu",
                                   tok_begin(key));
        bool child_emit = emit;
        if (depth == 1 && !w->x->o->keep_metadata && kl == 9 &&
            memcmp(kname, "@metadata", 9) == 0)
            child_emit = false;

        const char *name = kname;
        size_t nl = kl;
        size_t child_plen = 0;
        if (val->type == JSMN_OBJECT && child_emit) {
            /* The prefix grows in place; children copy what they need. */
            size_t total = plen ? plen + 1 + kl : kl;
            if (total > w->x->o->max_field_name_bytes)
                return full_name(w, plen, kname, kl, &name, &nl);
            if (!w->pfx) {
                w->pfx_cap = w->x->o->max_field_name_bytes + 1;
                w->pfx = sift_arena_try_alloc(w->x->arena, w->pfx_cap);
                if (!w->pfx)
                    return sift__pctx_fail(w->x, SIFT_ENOMEM, 0,
                                           "out of memory");
            }
            if (plen)
                w->pfx[plen] = '.';
            memcpy(w->pfx + (plen ? plen + 1 : 0), kname, kl);
            child_plen = total;
        } else if (child_emit) {
            rc = full_name(w, plen, kname, kl, &name, &nl);
            if (rc)
                return rc;
        }
        (*ti)++;
        rc = value(w, ti, child_plen, name, nl, depth + 1, child_emit);
        if (rc)
            return rc;
        prev = tok_end(val);
    }
    size_t bad;
    if (!sep_at(w->js, prev, (size_t)o->end - 1, 0, &bad))
        return invalid(w, bad);
    return SIFT_OK;
}

static int
array(struct jwalk *w, int *ti, const char *name, size_t nl, unsigned depth,
      bool emit)
{
    const jsmntok_t *a = &w->t[*ti];
    size_t prev = (size_t)a->start + 1;
    bool scalars = true;
    int rc;

    if (depth > w->x->o->max_depth)
        return too_deep(w, a);
    for (int k = 0; k < a->size && *ti + 1 + k < w->n; k++) {
        jsmntype_t ty = w->t[*ti + 1 + k].type;
        if (ty == JSMN_OBJECT || ty == JSMN_ARRAY) {
            scalars = false;
            break;
        }
    }
    if (emit && !scalars) {
        size_t vl = (size_t)(a->end - a->start);
        rc = sift__pctx_add(w->x, name, nl, w->js + a->start, vl,
                            SIFT_FT_KEYWORD);
        if (rc)
            return rc;
    }
    (*ti)++;
    for (int k = 0; k < a->size; k++) {
        if (*ti >= w->n)
            return invalid(w, prev);
        const jsmntok_t *el = &w->t[*ti];
        size_t bad;
        if (!sep_at(w->js, prev, tok_begin(el), k ? ',' : 0, &bad))
            return invalid(w, bad);
        /* Elements of a raw array are validated, not emitted. */
        rc = value(w, ti, 0, name, nl, depth + 1, emit && scalars);
        if (rc)
            return rc;
        prev = tok_end(el);
    }
    size_t bad;
    if (!sep_at(w->js, prev, (size_t)a->end - 1, 0, &bad))
        return invalid(w, bad);
    return SIFT_OK;
}

/* Walks the value at t[*ti] and advances *ti past its subtree. */
static int
value(struct jwalk *w, int *ti, size_t plen, const char *name, size_t nl,
      unsigned depth, bool emit)
{
    const jsmntok_t *t = &w->t[*ti];
    switch (t->type) {
    case JSMN_OBJECT: return object(w, ti, plen, depth, emit);
    case JSMN_ARRAY: return array(w, ti, name, nl, depth, emit);
    case JSMN_STRING:
    case JSMN_PRIMITIVE:
        if (t->size != 0)
            return invalid(w, tok_end(t));
        (*ti)++;
        return scalar(w, t, name, nl, emit);
    default: return invalid(w, (size_t)t->start);
    }
}

static int
jsmn_fail(struct sift__pctx *x, int r, unsigned pos)
{
    if (r == JSMN_ERROR_PART)
        return sift__pctx_fail(x, SIFT_EPARSE, pos, "truncated JSON at byte %u",
                               pos);
    return sift__pctx_fail(x, SIFT_EPARSE, pos, "invalid JSON at byte %u", pos);
}

/*
 * Tokenizes x->line into *toks (the stack array, or a heap array the
 * caller frees).  Returns the token count or a negative status.
 */
static int
tokenize(struct sift__pctx *x, const char *js, size_t len,
         jsmntok_t *stack_toks, unsigned n_stack, jsmntok_t **toks)
{
    jsmn_parser p;
    jsmn_init(&p);
    int r = jsmn_parse(&p, js, len, stack_toks, n_stack);
    *toks = stack_toks;
    if (r == JSMN_ERROR_NOMEM) {
        uint64_t cap = 4 * (uint64_t)x->o->max_fields + 64;
        jsmn_init(&p);
        r = jsmn_parse(&p, js, len, NULL, 0);
        if (r < 0)
            return jsmn_fail(x, r, p.pos);
        if ((uint64_t)r > cap)
            return sift__pctx_fail(x, SIFT_ELIMIT, 0,
                                   "more than %llu JSON values "
                                   "(4 x max_fields + 64)",
                                   (unsigned long long)cap);
        jsmntok_t *heap = sift_try_malloc((size_t)r * sizeof(*heap));
        if (!heap)
            return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
        jsmn_init(&p);
        r = jsmn_parse(&p, js, len, heap, (unsigned)r);
        *toks = heap;
    }
    if (r < 0)
        return jsmn_fail(x, r, p.pos);
    unsigned long long max_values = 4ull * x->o->max_fields + 64;
    if ((unsigned long long)r > max_values)
        return sift__pctx_fail(x, SIFT_ELIMIT, 0,
                               "more than %llu JSON values "
                               "(4 x max_fields + 64)",
                               max_values);
    if (p.pos < len) /* jsmn stops at a NUL byte */
        return sift__pctx_fail(x, SIFT_EPARSE, p.pos, "invalid JSON at byte %u",
                               p.pos);
    return r;
}

int
sift__parse_json(struct sift__pctx *x)
{
    jsmntok_t stack_toks[STACK_TOKENS];
    jsmntok_t *toks = NULL;
    struct jwalk w;
    int rc, ti = 0;

    int r = tokenize(x, x->line, x->len, stack_toks, STACK_TOKENS, &toks);
    if (r < 0) {
        rc = r;
        goto out;
    }
    if (r == 0 || toks[0].type != JSMN_OBJECT) {
        rc = sift__pctx_fail(x, SIFT_EPARSE, r ? (size_t)toks[0].start : 0,
                             "JSON event is not an object");
        goto out;
    }
    memset(&w, 0, sizeof(w));
    w.x = x;
    w.js = x->line;
    w.len = x->len;
    w.t = toks;
    w.n = r;
    x->scan_msg = true;
    x->msg_alias = true; /* msg (pino, zap, slog...), log, short_message */
    x->scan_ts = true;
    /* Fields come from scalar values: strings and primitives that are not
     * keys (a key has size 1).  Reserving that many, not r, keeps a
     * Filebeat event's field array at about a third of the size. */
    uint32_t n_values = 0;
    for (int i = 0; i < r; i++)
        n_values += toks[i].size == 0 && (toks[i].type == JSMN_STRING ||
                                          toks[i].type == JSMN_PRIMITIVE);
    rc = sift__pctx_reserve(x, n_values);
    if (rc)
        goto out;
    rc = object(&w, &ti, 0, 1, true);
    if (rc)
        goto out;
    if (ti != r || !sep_ok(x->line, (size_t)toks[0].end, x->len, 0)) {
        size_t at = ti < r ? tok_begin(&toks[ti]) : (size_t)toks[0].end;
        rc = invalid(&w, at);
        goto out;
    }
out:
    if (toks && toks != stack_toks)
        sift_free(toks);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Elasticsearch bulk action lines                                     */
/* ------------------------------------------------------------------ */

int
sift__parse_bulk_action(struct sift__pctx *x, uint8_t *action,
                        const char **index, uint32_t *index_len,
                        const char **id, uint32_t *id_len)
{
    jsmntok_t stack_toks[64];
    jsmntok_t *toks = NULL;
    struct jwalk w;
    int rc = SIFT_OK;

    *action = SIFT_BULK_INVALID;
    *index = *id = NULL;
    *index_len = *id_len = 0;
    int r = tokenize(x, x->line, x->len, stack_toks, 64, &toks);
    if (r < 0) {
        rc = r;
        goto out;
    }
    memset(&w, 0, sizeof(w));
    w.x = x;
    w.js = x->line;
    w.len = x->len;
    w.t = toks;
    w.n = r;
    if (r < 3 || toks[0].type != JSMN_OBJECT || toks[0].size != 1 ||
        toks[1].type != JSMN_STRING || toks[2].type != JSMN_OBJECT) {
        rc = sift__pctx_fail(x, SIFT_EPARSE, 0,
                             "malformed action line: expected "
                             "{\"<action>\":{...}}");
        goto out;
    }
    /* Validate the whole line with the event walker (emits nothing). */
    int ti = 0;
    rc = object(&w, &ti, 0, 1, false);
    if (rc)
        goto out;
    if (ti != r || !sep_ok(x->line, (size_t)toks[0].end, x->len, 0)) {
        rc = invalid(&w, (size_t)toks[0].end);
        goto out;
    }
    const char *a = x->line + toks[1].start;
    size_t al = (size_t)(toks[1].end - toks[1].start);
    if (al == 5 && memcmp(a, "index", 5) == 0)
        *action = SIFT_BULK_INDEX;
    else if (al == 6 && memcmp(a, "create", 6) == 0)
        *action = SIFT_BULK_CREATE;
    else if (al == 6 && memcmp(a, "delete", 6) == 0)
        *action = SIFT_BULK_DELETE;
    else if (al == 6 && memcmp(a, "update", 6) == 0)
        *action = SIFT_BULK_UPDATE;
    else {
        rc = sift__pctx_fail(x, SIFT_EPARSE, (size_t)toks[1].start,
                             "unknown bulk action \"%.*s\"",
                             (int)(al > 32 ? 32 : al), a);
        goto out;
    }
    /* Metadata keys: only scalar _index/_id matter; skip the rest. */
    ti = 3;
    for (int k = 0; k < toks[2].size && ti + 1 < r; k++) {
        const jsmntok_t *key = &toks[ti], *val = &toks[ti + 1];
        const char *kn = x->line + key->start;
        size_t kl = (size_t)(key->end - key->start);
        bool is_index = kl == 6 && memcmp(kn, "_index", 6) == 0;
        bool is_id = kl == 3 && memcmp(kn, "_id", 3) == 0;
        if ((is_index || is_id) && val->type == JSMN_STRING) {
            const char *v;
            size_t vl;
            rc = str_value(&w, val, &v, &vl);
            if (rc)
                goto out;
            if (is_index) {
                *index = v;
                *index_len = (uint32_t)vl;
            } else {
                *id = v;
                *id_len = (uint32_t)vl;
            }
        }
        /* Skip the value's subtree. */
        int end = val->end;
        ti += 2;
        while (ti < r && toks[ti].start < end)
            ti++;
    }
out:
    if (toks && toks != stack_toks)
        sift_free(toks);
    return rc;
}
