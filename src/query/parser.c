/*
 * parser.c - query string -> AST (recursive descent).
 *
 * Grammar (docs/query-language.md has the user's view):
 *
 *   query    := [or_expr] EOF
 *   or_expr  := and_expr (OR and_expr)*
 *   and_expr := unary ((AND)? unary)*            implicit AND
 *   unary    := (NOT | '-') unary | '+' unary | primary
 *   primary  := '(' or_expr ')' | FIELD ':' value | FIELD CMP NUM | bare
 *   bare     := WORD | PHRASE | REGEX             on the default field
 *   value    := WORD | PHRASE | REGEX | CMP NUM | range | '(' or_expr ')'
 *   range    := ('['|'{') (NUM|'*') TO (NUM|'*') (']'|'}')
 *
 * "FIELD CMP NUM" is KQL's comparison without a colon (duration_ms >= 10;
 * the lexer only makes it when a number follows); it is read as
 * FIELD:>=NUM and said in a warning.  Precedence NOT > AND > OR.  "field:(a b)"
 * parses the group with field as the default field.  AND/OR chains are
 * flattened into one n-ary node. All nodes and strings live in the query's
 * arena, so freeing the query is one call.  Errors stop at the first problem
 * and say what was expected and where (byte offset).  Recursion is bounded by
 * SIFT_QUERY_MAX_DEPTH.
 *
 * Pure; any thread.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query/query_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/event.h"

#define SIFT_QUERY_MAX_DEPTH 64

struct parser {
    struct sift_qlexer lx;
    struct sift_qtok tok; /* current token */
    unsigned mode;        /* mode tok was read in */
    struct sift_arena *arena;
    struct sift_query_error *err;
    unsigned depth;
    struct sift_query *q; /* receives the warnings */
};

int
sift__query_error(struct sift_query_error *err, int rc, int status,
                  const char *type, int32_t pos, const char *fmt, ...)
{
    if (!err)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->reason, sizeof(err->reason), fmt, ap);
    va_end(ap);
    err->type = type;
    err->position = pos;
    err->status = status;
    return rc;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
warn(struct parser *p, const char *fmt, ...)
{
    if (p->q->n_warnings >= SIFT_QUERY_MAX_WARNINGS)
        return;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->q->warnings[p->q->n_warnings++] =
        sift_arena_strndup(p->arena, msg, strlen(msg));
}

/* Warnings for what a token's suffixes and spelling make us reinterpret. */
static void
note_token(struct parser *p, const struct sift_qtok *t)
{
    if (t->has_boost)
        warn(p,
             "boost '^' at %u ignored: hits are ordered by time, not by "
             "score (write \\^ for a literal '^')",
             (unsigned)t->boost_pos);
    if (t->lower_op) {
        const char *up = t->kind == SIFT_QT_AND  ? "AND"
                         : t->kind == SIFT_QT_OR ? "OR"
                                                 : "NOT";
        warn(p,
             "'%.*s' at %u read as the operator %s (as in KQL); quote it "
             "(\"%.*s\") to search for the word",
             (int)t->len, t->text, (unsigned)t->pos, up, (int)t->len, t->text);
    }
}

static void
advance(struct parser *p, unsigned mode)
{
    p->mode = mode;
    sift__query_lex_next(&p->lx, mode, &p->tok);
    note_token(p, &p->tok);
}

static int
parse_error(struct parser *p, uint32_t pos, const char *what)
{
    return sift__query_error(p->err, SIFT_EPARSE, 400, "query_parse",
                             (int32_t)pos, "%s at %u", what, (unsigned)pos);
}

/* The lexer's own error, or "expected X" at the current token. */
static int
expected(struct parser *p, const char *what)
{
    if (p->tok.kind == SIFT_QT_ERROR)
        return parse_error(p, p->lx.error_pos, p->lx.error);
    char msg[200]; /* what may be a 160-byte message of a caller */
    snprintf(msg, sizeof(msg), "expected %s", what);
    return parse_error(p, p->tok.pos, msg);
}

/* "expected ')' at N (to close '(' at M)". */
static int
expected_close(struct parser *p, uint32_t open_pos)
{
    if (p->tok.kind == SIFT_QT_ERROR)
        return parse_error(p, p->lx.error_pos, p->lx.error);
    return sift__query_error(p->err, SIFT_EPARSE, 400, "query_parse",
                             (int32_t)p->tok.pos,
                             "expected ')' at %u (to close '(' at %u)",
                             (unsigned)p->tok.pos, (unsigned)open_pos);
}

static struct sift_qnode *
node_new(struct parser *p, enum sift_qnode_kind kind, uint32_t pos)
{
    struct sift_qnode *n = sift_arena_alloc(p->arena, sizeof(*n));
    memset(n, 0, sizeof(*n));
    n->kind = kind;
    n->pos = pos;
    n->field = SIFT_MESSAGE_FIELD;
    n->field_len = sizeof(SIFT_MESSAGE_FIELD) - 1;
    n->text = "";
    n->lo = -INFINITY;
    n->hi = INFINITY;
    n->lo_incl = n->hi_incl = 1;
    return n;
}

/* Copies s[0..len) dropping backslashes (each escapes the next byte). */
static char *
unescape(struct parser *p, const char *s, size_t len, size_t *out_len)
{
    char *d = sift_arena_alloc(p->arena, len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len)
            i++;
        d[j++] = s[i];
    }
    d[j] = '\0';
    *out_len = j;
    return d;
}

/* Regex bodies keep their escapes except "\/", which only hides a slash. */
static char *
unescape_regex(struct parser *p, const char *s, size_t len, size_t *out_len)
{
    char *d = sift_arena_alloc(p->arena, len + 1);
    size_t j = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len && s[i + 1] == '/')
            i++;
        d[j++] = s[i];
    }
    d[j] = '\0';
    *out_len = j;
    return d;
}

static int
parse_number(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return SIFT_EINVAL;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    errno = 0;
    double v = strtod(tmp, &end);
    if (end != tmp + len || errno != 0 || !isfinite(v))
        return SIFT_EINVAL;
    /* strtod accepts "0x1p3", "inf" and "nan"; a query number is decimal. */
    for (size_t i = 0; i < len; i++) {
        char c = tmp[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' ||
              c == 'e' || c == 'E'))
            return SIFT_EINVAL;
    }
    *out = v;
    return SIFT_OK;
}

/* ---- children vectors ---- */

struct kids {
    struct sift_qnode **v;
    uint32_t n, cap;
};

static void
kids_push(struct kids *k, struct sift_qnode *n)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 4;
        k->v = sift_xrealloc(k->v, k->cap * sizeof(*k->v));
    }
    k->v[k->n++] = n;
}

/* Adds child to an n-ary vector, flattening a child of the same kind. */
static void
kids_add(struct kids *k, enum sift_qnode_kind kind, struct sift_qnode *child)
{
    if (child->kind == kind) {
        for (uint32_t i = 0; i < child->n_kids; i++)
            kids_push(k, child->kids[i]);
    } else {
        kids_push(k, child);
    }
}

static struct sift_qnode *
kids_finish(struct parser *p, struct kids *k, enum sift_qnode_kind kind,
            uint32_t pos)
{
    struct sift_qnode *n;
    if (k->n == 1) {
        n = k->v[0];
    } else {
        n = node_new(p, kind, pos);
        n->kids = sift_arena_alloc(p->arena, k->n * sizeof(*n->kids));
        memcpy(n->kids, k->v, k->n * sizeof(*n->kids));
        n->n_kids = k->n;
    }
    sift_free(k->v);
    k->v = NULL;
    return n;
}

/* ---- grammar ---- */

static int parse_or(struct parser *p, const char *field, size_t field_len,
                    struct sift_qnode **out);

static int
starts_unary(const struct sift_qtok *t)
{
    switch (t->kind) {
    case SIFT_QT_LPAREN:
    case SIFT_QT_NOT:
    case SIFT_QT_MINUS:
    case SIFT_QT_PLUS:
    case SIFT_QT_WORD:
    case SIFT_QT_PHRASE:
    case SIFT_QT_REGEX: return 1;
    default: return 0;
    }
}

/* Fuzzy words ("foo~", "foo~1") are refused: matching is exact. */
static int
check_fuzzy(struct parser *p, const struct sift_qtok *t)
{
    if (!t->has_fuzzy)
        return SIFT_OK;
    return sift__query_error(p->err, SIFT_EPARSE, 400, "query_parse",
                             (int32_t)t->tilde_pos,
                             "fuzzy search ('~' after a word) is not "
                             "supported at %u; write \\~ for a literal '~'",
                             (unsigned)t->tilde_pos);
}

/* A word on field: term, prefix, wildcard, "*" (exists / all). */
static struct sift_qnode *
word_node(struct parser *p, const struct sift_qtok *t, const char *field,
          size_t field_len, int explicit_field)
{
    struct sift_qnode *n;
    if (t->len == 1 && t->text[0] == '*') {
        n = node_new(p, explicit_field ? SIFT_QN_EXISTS : SIFT_QN_ALL, t->pos);
    } else if (!t->has_wild) {
        n = node_new(p, SIFT_QN_TERM, t->pos);
        n->text = unescape(p, t->text, t->len, &n->text_len);
    } else {
        /* Prefix when the only wildcard is one trailing unescaped '*'. */
        int prefix = t->text[t->len - 1] == '*';
        for (size_t i = 0; prefix && i + 1 < t->len; i++) {
            if (t->text[i] == '\\')
                i++;
            else if (t->text[i] == '*' || t->text[i] == '?')
                prefix = 0;
        }
        if (prefix && t->len >= 2 && t->text[t->len - 2] == '\\')
            prefix = 0; /* guarded by has_wild, but keep "\*" literal */
        if (prefix) {
            n = node_new(p, SIFT_QN_PREFIX, t->pos);
            n->text = unescape(p, t->text, t->len - 1, &n->text_len);
        } else {
            n = node_new(p, SIFT_QN_WILDCARD, t->pos);
            n->text = sift_arena_strndup(p->arena, t->text, t->len);
            n->text_len = t->len;
        }
    }
    n->field = field;
    n->field_len = field_len;
    return n;
}

static int
parse_range_bound(struct parser *p, double *v, int *open)
{
    if (p->tok.kind != SIFT_QT_WORD)
        return expected(p, "a number or '*'");
    *open = p->tok.len == 1 && p->tok.text[0] == '*';
    if (!*open && parse_number(p->tok.text, p->tok.len, v) < 0)
        return expected(p, "a number or '*'");
    advance(p, SIFT_QLEX_RANGE);
    return SIFT_OK;
}

static int
parse_range(struct parser *p, const char *field, size_t field_len,
            struct sift_qnode **out)
{
    struct sift_qnode *n = node_new(p, SIFT_QN_RANGE, p->tok.pos);
    n->field = field;
    n->field_len = field_len;
    n->lo_incl = p->tok.text[0] == '[';
    int open = 0;
    int rc;
    advance(p, SIFT_QLEX_RANGE);
    if ((rc = parse_range_bound(p, &n->lo, &open)) < 0)
        return rc;
    if (open) {
        n->lo = -INFINITY;
        n->lo_incl = 1;
    }
    if (p->tok.kind != SIFT_QT_TO)
        return expected(p, "'TO'");
    advance(p, SIFT_QLEX_RANGE);
    if ((rc = parse_range_bound(p, &n->hi, &open)) < 0)
        return rc;
    if (p->tok.kind != SIFT_QT_RRANGE)
        return expected(p, "']' or '}'");
    n->hi_incl = p->tok.text[0] == ']';
    if (open) {
        n->hi = INFINITY;
        n->hi_incl = 1;
    }
    if (n->lo > n->hi)
        return parse_error(p, n->pos, "range lower bound above upper bound");
    advance(p, 0);
    *out = n;
    return SIFT_OK;
}

static int
parse_cmp(struct parser *p, const char *field, size_t field_len,
          struct sift_qnode **out)
{
    struct sift_qnode *n = node_new(p, SIFT_QN_RANGE, p->tok.pos);
    n->field = field;
    n->field_len = field_len;
    char op0 = p->tok.text[0];
    int incl = p->tok.len == 2;
    char what[48];
    snprintf(what, sizeof(what), "a number after '%.*s'", (int)p->tok.len,
             p->tok.text);
    advance(p, SIFT_QLEX_VALUE);
    double v;
    if (p->tok.kind != SIFT_QT_WORD ||
        parse_number(p->tok.text, p->tok.len, &v) < 0)
        return expected(p, what);
    if (op0 == '>') {
        n->lo = v;
        n->lo_incl = incl;
    } else {
        n->hi = v;
        n->hi_incl = incl;
    }
    advance(p, 0);
    *out = n;
    return SIFT_OK;
}

/* After "field:"; the current token was read in value mode. */
static int
parse_value(struct parser *p, const char *field, size_t field_len,
            struct sift_qnode **out)
{
    struct sift_qtok t = p->tok;
    int is_exists = field_len == 8 && memcmp(field, "_exists_", 8) == 0;
    if (is_exists) {
        if ((t.kind != SIFT_QT_WORD && t.kind != SIFT_QT_PHRASE) ||
            t.has_wild || t.len == 0)
            return expected(p, "a field name after '_exists_:'");
        struct sift_qnode *n = node_new(p, SIFT_QN_EXISTS, t.pos);
        n->field = unescape(p, t.text, t.len, &n->field_len);
        advance(p, 0);
        *out = n;
        return SIFT_OK;
    }
    switch (t.kind) {
    case SIFT_QT_WORD:
        if (check_fuzzy(p, &t) < 0)
            return SIFT_EPARSE;
        *out = word_node(p, &t, field, field_len, 1);
        advance(p, 0);
        return SIFT_OK;
    case SIFT_QT_PHRASE:
    case SIFT_QT_REGEX: {
        struct sift_qnode *n = node_new(
            p, t.kind == SIFT_QT_PHRASE ? SIFT_QN_PHRASE : SIFT_QN_REGEX,
            t.pos);
        n->field = field;
        n->field_len = field_len;
        if (t.has_slop && t.slop == UINT32_MAX)
            return parse_error(p, t.tilde_pos + 1,
                               "expected a number after '~' (\"a b\"~3: "
                               "the words within 3 moves)");
        if (t.has_slop && t.slop > 1000)
            return parse_error(p, t.tilde_pos + 1,
                               "proximity over 1000 after '~'");
        n->slop = t.has_slop ? t.slop : 0;
        n->text = t.kind == SIFT_QT_PHRASE
                      ? unescape(p, t.text, t.len, &n->text_len)
                      : unescape_regex(p, t.text, t.len, &n->text_len);
        advance(p, 0);
        *out = n;
        return SIFT_OK;
    }
    case SIFT_QT_CMP: return parse_cmp(p, field, field_len, out);
    case SIFT_QT_LRANGE: return parse_range(p, field, field_len, out);
    case SIFT_QT_LPAREN: {
        uint32_t open_pos = t.pos;
        advance(p, 0);
        int rc = parse_or(p, field, field_len, out);
        if (rc < 0)
            return rc;
        if (p->tok.kind != SIFT_QT_RPAREN)
            return expected_close(p, open_pos);
        advance(p, 0);
        return SIFT_OK;
    }
    default: {
        char what[160];
        snprintf(what, sizeof(what), "a value after '%.*s:'",
                 (int)(field_len > 100 ? 100 : field_len), field);
        return expected(p, what);
    }
    }
}

static int parse_unary(struct parser *p, const char *field, size_t field_len,
                       struct sift_qnode **out);

static int
parse_primary(struct parser *p, const char *field, size_t field_len,
              struct sift_qnode **out)
{
    struct sift_qtok t = p->tok;
    switch (t.kind) {
    case SIFT_QT_LPAREN: {
        advance(p, 0);
        int rc = parse_or(p, field, field_len, out);
        if (rc < 0)
            return rc;
        if (p->tok.kind != SIFT_QT_RPAREN)
            return expected_close(p, t.pos);
        advance(p, 0);
        return SIFT_OK;
    }
    case SIFT_QT_WORD:
        if (t.is_field) {
            if (t.has_wild)
                return parse_error(p, t.pos,
                                   "wildcards are not allowed in a field name");
            size_t flen;
            const char *f = unescape(p, t.text, t.len, &flen);
            if (flen == 0)
                return parse_error(p, t.pos,
                                   "expected a field name before ':'");
            advance(p, SIFT_QLEX_VALUE);
            if (!t.kql_cmp)
                return parse_value(p, f, flen, out);
            size_t before = p->q->n_warnings;
            int rc = parse_value(p, f, flen, out);
            if (rc == SIFT_OK && p->q->n_warnings < SIFT_QUERY_MAX_WARNINGS) {
                /* The span read, up to the next token: "a >= 5". */
                size_t end = p->tok.pos;
                while (end > t.pos && (p->q->text[end - 1] == ' ' ||
                                       p->q->text[end - 1] == '\t'))
                    end--;
                const struct sift_qnode *n = *out;
                int below = isinf(n->lo);
                const char *op = below ? (n->hi_incl ? "<=" : "<")
                                       : (n->lo_incl ? ">=" : ">");
                char num[40];
                sift_fmt_double(num, sizeof(num), below ? n->hi : n->lo);
                warn(p,
                     "'%.*s' at %u read as the range %.*s:%s%s (as in KQL); "
                     "quote it to search for the text",
                     (int)(end - t.pos > 80 ? 80 : end - t.pos),
                     p->q->text + t.pos, (unsigned)t.pos,
                     (int)(flen > 60 ? 60 : flen), f, op, num);
                /* In query order: before what the lookahead token said. */
                const char *w = p->q->warnings[p->q->n_warnings - 1];
                memmove(&p->q->warnings[before + 1], &p->q->warnings[before],
                        (p->q->n_warnings - 1 - before) *
                            sizeof(p->q->warnings[0]));
                p->q->warnings[before] = w;
            }
            return rc;
        }
        if (check_fuzzy(p, &t) < 0)
            return SIFT_EPARSE;
        /* Inside "host:( )" a bare "*" means host:*, elsewhere any doc. */
        *out = word_node(p, &t, field, field_len,
                         strcmp(field, SIFT_MESSAGE_FIELD) != 0);
        advance(p, 0);
        return SIFT_OK;
    case SIFT_QT_PHRASE:
    case SIFT_QT_REGEX: return parse_value(p, field, field_len, out);
    default: return expected(p, "a term");
    }
}

static int
parse_unary(struct parser *p, const char *field, size_t field_len,
            struct sift_qnode **out)
{
    if (++p->depth > SIFT_QUERY_MAX_DEPTH) {
        p->depth--;
        return parse_error(p, p->tok.pos, "query nested too deeply (max 64)");
    }
    int rc;
    struct sift_qtok t = p->tok;
    if (t.kind == SIFT_QT_NOT || t.kind == SIFT_QT_MINUS ||
        t.kind == SIFT_QT_PLUS) {
        advance(p, 0);
        if (t.kind != SIFT_QT_NOT && p->tok.kind != SIFT_QT_EOF &&
            p->tok.pos != t.pos + 1) {
            /* "a - b" is more likely a typo than a negation: say so. */
            rc = parse_error(p, t.pos + 1,
                             t.kind == SIFT_QT_MINUS
                                 ? "expected a term directly after '-'"
                                 : "expected a term directly after '+'");
            goto out;
        }
        if (!starts_unary(&p->tok)) {
            rc = expected(p, t.kind == SIFT_QT_NOT && t.lower_op
                                 ? "a term after 'not' (the operator NOT; "
                                   "quote it for the word)"
                             : t.kind == SIFT_QT_NOT   ? "a term after NOT"
                             : t.kind == SIFT_QT_MINUS ? "a term after '-'"
                                                       : "a term after '+'");
            goto out;
        }
        struct sift_qnode *child;
        rc = parse_unary(p, field, field_len, &child);
        if (rc < 0)
            goto out;
        if (t.kind == SIFT_QT_PLUS) {
            *out = child;
        } else {
            struct sift_qnode *n = node_new(p, SIFT_QN_NOT, t.pos);
            n->kids = sift_arena_alloc(p->arena, sizeof(*n->kids));
            n->kids[0] = child;
            n->n_kids = 1;
            *out = n;
        }
    } else {
        rc = parse_primary(p, field, field_len, out);
    }
out:
    p->depth--;
    return rc;
}

static int
parse_and(struct parser *p, const char *field, size_t field_len,
          struct sift_qnode **out)
{
    struct kids k = {0};
    uint32_t pos = p->tok.pos;
    struct sift_qnode *n;
    int rc = parse_unary(p, field, field_len, &n);
    if (rc < 0)
        goto fail;
    kids_add(&k, SIFT_QN_AND, n);
    for (;;) {
        if (p->tok.kind == SIFT_QT_AND) {
            int lower = p->tok.lower_op;
            advance(p, 0);
            if (!starts_unary(&p->tok)) {
                rc = expected(p, lower ? "a term after 'and' (the operator "
                                         "AND; quote it for the word)"
                                       : "a term after AND");
                goto fail;
            }
        } else if (!starts_unary(&p->tok)) {
            break;
        }
        rc = parse_unary(p, field, field_len, &n);
        if (rc < 0)
            goto fail;
        kids_add(&k, SIFT_QN_AND, n);
    }
    *out = kids_finish(p, &k, SIFT_QN_AND, pos);
    return SIFT_OK;
fail:
    sift_free(k.v);
    return rc;
}

static int
parse_or(struct parser *p, const char *field, size_t field_len,
         struct sift_qnode **out)
{
    struct kids k = {0};
    uint32_t pos = p->tok.pos;
    struct sift_qnode *n;
    int rc;
    if (!starts_unary(&p->tok)) {
        rc = expected(p, "a term");
        goto fail;
    }
    rc = parse_and(p, field, field_len, &n);
    if (rc < 0)
        goto fail;
    kids_add(&k, SIFT_QN_OR, n);
    while (p->tok.kind == SIFT_QT_OR) {
        int lower = p->tok.lower_op;
        advance(p, 0);
        if (!starts_unary(&p->tok)) {
            rc = expected(p, lower ? "a term after 'or' (the operator OR; "
                                     "quote it for the word)"
                                   : "a term after OR");
            goto fail;
        }
        rc = parse_and(p, field, field_len, &n);
        if (rc < 0)
            goto fail;
        kids_add(&k, SIFT_QN_OR, n);
    }
    *out = kids_finish(p, &k, SIFT_QN_OR, pos);
    return SIFT_OK;
fail:
    sift_free(k.v);
    return rc;
}

int
sift_query_parse(const char *s, size_t len, const struct sift_query_limits *lim,
                 struct sift_query **out, struct sift_query_error *err)
{
    *out = NULL;
    if (lim && lim->max_query_bytes && len > lim->max_query_bytes)
        return sift__query_error(
            err, SIFT_ELIMIT, 400, "query_too_long", -1,
            "query is %zu bytes, over the limit max_query_bytes=%zu", len,
            lim->max_query_bytes);

    struct sift_query *q = sift_xcalloc(1, sizeof(*q));
    q->arena = sift_arena_new(len * 4 + 1024);
    q->text = sift_arena_strndup(q->arena, s, len);
    q->text_len = len;

    struct parser p = {.arena = q->arena, .err = err, .q = q};
    sift__query_lex_init(&p.lx, q->text, len);
    advance(&p, 0);
    int rc;
    if (p.tok.kind == SIFT_QT_EOF) {
        q->root = node_new(&p, SIFT_QN_ALL, 0);
    } else {
        rc = parse_or(&p, SIFT_MESSAGE_FIELD, sizeof(SIFT_MESSAGE_FIELD) - 1,
                      &q->root);
        if (rc < 0)
            goto fail;
        if (p.tok.kind != SIFT_QT_EOF) {
            if (p.tok.kind == SIFT_QT_RPAREN)
                rc = parse_error(&p, p.tok.pos, "unexpected ')'");
            else
                rc = expected(&p, "end of query");
            goto fail;
        }
    }
    sift__query_expand_template_ids(q);
    rc = sift__query_plan(q, err);
    if (rc < 0)
        goto fail;
    *out = q;
    return SIFT_OK;
fail:
    sift_query_free(q);
    return rc;
}

void
sift_query_free(struct sift_query *q)
{
    if (!q)
        return;
    sift_arena_free(q->arena); /* its cleanups free the compiled regexes */
    sift_free(q);
}

/* ---- dump ---- */

static void
dump_num(struct sift_buf *out, double v)
{
    if (isinf(v))
        sift_buf_putc(out, '*');
    else
        sift_buf_put_json_double(out, v);
}

static void
dump_node(const struct sift_qnode *n, struct sift_buf *out)
{
    static const char *const names[] = {
        [SIFT_QN_ALL] = "all",       [SIFT_QN_AND] = "and",
        [SIFT_QN_OR] = "or",         [SIFT_QN_NOT] = "not",
        [SIFT_QN_TERM] = "term",     [SIFT_QN_PHRASE] = "phrase",
        [SIFT_QN_PREFIX] = "prefix", [SIFT_QN_WILDCARD] = "wildcard",
        [SIFT_QN_REGEX] = "regex",   [SIFT_QN_RANGE] = "range",
        [SIFT_QN_EXISTS] = "exists",
    };
    sift_buf_putc(out, '(');
    sift_buf_appendf(out, "%s", names[n->kind]);
    switch (n->kind) {
    case SIFT_QN_ALL: break;
    case SIFT_QN_AND:
    case SIFT_QN_OR:
    case SIFT_QN_NOT:
        for (uint32_t i = 0; i < n->n_kids; i++) {
            sift_buf_putc(out, ' ');
            dump_node(n->kids[i], out);
        }
        break;
    case SIFT_QN_EXISTS: sift_buf_appendf(out, " %s", n->field); break;
    case SIFT_QN_RANGE:
        sift_buf_appendf(out, " %s %c", n->field, n->lo_incl ? '[' : '{');
        dump_num(out, n->lo);
        sift_buf_putc(out, ' ');
        dump_num(out, n->hi);
        sift_buf_putc(out, n->hi_incl ? ']' : '}');
        break;
    default:
        sift_buf_appendf(out, " %s ", n->field);
        sift_buf_put_json_str(out, n->text, n->text_len);
        if (n->slop > 0)
            sift_buf_appendf(out, " ~%u", (unsigned)n->slop);
        break;
    }
    sift_buf_putc(out, ')');
}

size_t
sift_query_warning_count(const struct sift_query *q)
{
    return q->n_warnings;
}

const char *
sift_query_warning(const struct sift_query *q, size_t i)
{
    return i < q->n_warnings ? q->warnings[i] : NULL;
}

void
sift_query_dump(const struct sift_query *q, struct sift_buf *out)
{
    dump_node(q->root, out);
}
