/*
 * lexer.c - splits a query string into tokens.
 *
 * Design: the lexer is pulled by the parser one token at a time, with a
 * mode saying what the parser expects next, because the same bytes mean
 * different things in different places: after "field:" a ':' belongs to
 * the value (time:10:30) and "<=" is an operator; inside a range "]" ends
 * a word and "TO" is a keyword.  KQL's comparisons without a colon
 * ("duration_ms >= 10") are recognised by looking ahead for an operator
 * and a number after a plain field name; the name is then a field token
 * whose value (the operator) the parser reads in value mode.  Words keep their
 * escapes ("\:" "\*") so the parser can tell literal from wildcard characters;
 * quotes, slashes and the field colon are consumed here.
 *
 * Invariants: every token points into the query string; positions are byte
 * offsets (0-based) and errors always carry one.  No allocation.  Pure;
 * any thread.
 */
#include <string.h>

#include "query/query_int.h"

void
sift__query_lex_init(struct sift_qlexer *lx, const char *s, size_t len)
{
    lx->s = s;
    lx->len = len;
    lx->off = 0;
    lx->error = NULL;
    lx->error_pos = 0;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
           c == '\v';
}

/* Bytes that end a word in every mode. */
static int
ends_word(char c, unsigned mode)
{
    if (is_space(c) || c == '(' || c == ')' || c == '"')
        return 1;
    if (c == ':' && !(mode & SIFT_QLEX_VALUE))
        return 1;
    if ((mode & SIFT_QLEX_RANGE) && (c == ']' || c == '}'))
        return 1;
    return 0;
}

static void
lex_error(struct sift_qlexer *lx, struct sift_qtok *out, size_t pos,
          const char *why)
{
    lx->error = why;
    lx->error_pos = (uint32_t)pos;
    out->kind = SIFT_QT_ERROR;
    out->text = lx->s + pos;
    out->len = 0;
    out->pos = (uint32_t)pos;
}

/* Reads up to the closing delimiter, skipping escaped bytes. */
static void
lex_delimited(struct sift_qlexer *lx, char delim, enum sift_qtok_kind kind,
              const char *unterminated, struct sift_qtok *out)
{
    size_t start = lx->off;
    size_t i = start + 1;
    while (i < lx->len && lx->s[i] != delim) {
        if (lx->s[i] == '\\') {
            if (i + 1 >= lx->len) {
                lex_error(lx, out, i, "dangling '\\'");
                return;
            }
            i++;
        }
        i++;
    }
    if (i >= lx->len) {
        lex_error(lx, out, start, unterminated);
        return;
    }
    out->kind = kind;
    out->text = lx->s + start + 1;
    out->len = i - start - 1;
    out->pos = (uint32_t)start;
    lx->off = i + 1;
}

static int
word_is(const struct sift_qtok *t, const char *kw)
{
    size_t n = strlen(kw);
    return t->len == n && memcmp(t->text, kw, n) == 0;
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of a number ("2", "1.5") at s[0..len), or 0. */
static size_t
number_len(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && is_digit(s[i]))
        i++;
    if (i > 0 && i + 1 < len && s[i] == '.' && is_digit(s[i + 1])) {
        i++;
        while (i < len && is_digit(s[i]))
            i++;
    }
    return i;
}

/*
 * Lucene suffixes right after a phrase or a group: "~N" (slop, phrases
 * only) and "^N" (boost).  Consumed from lx->off; recorded on out.
 */
static void
lex_suffixes(struct sift_qlexer *lx, struct sift_qtok *out, int slop_ok)
{
    for (int round = 0; round < 2; round++) {
        size_t i = lx->off;
        if (i >= lx->len)
            return;
        char c = lx->s[i];
        size_t n = number_len(lx->s + i + 1, lx->len - i - 1);
        if (c == '~' && slop_ok && !out->has_slop) {
            size_t d = 0;
            while (i + 1 + d < lx->len && is_digit(lx->s[i + 1 + d]) && d < 9)
                d++;
            uint32_t v = 0;
            for (size_t k = 0; k < d; k++)
                v = v * 10 + (uint32_t)(lx->s[i + 1 + k] - '0');
            out->has_slop = 1;
            out->tilde_pos = (uint32_t)i;
            out->slop = d > 0 ? v : UINT32_MAX; /* no count: an error */
            out->suffix_len += 1 + d;
            lx->off = i + 1 + d;
        } else if (c == '^' && n > 0 && !out->has_boost) {
            out->has_boost = 1;
            out->boost_pos = (uint32_t)i;
            out->suffix_len += 1 + n;
            lx->off = i + 1 + n;
        } else {
            return;
        }
    }
}

/*
 * A word's own Lucene suffixes, cut off its text: a trailing unescaped
 * "^N" is a boost, a trailing unescaped "~" or "~N" a fuzzy term.
 */
static void
word_suffixes(struct sift_qtok *t)
{
    const char *s = t->text;
    size_t len = t->len;
    size_t i = len;
    while (i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.'))
        i--;
    if (i >= 2 && s[i - 1] == '^' && s[i - 2] != '\\' && i < len &&
        number_len(s + i, len - i) == len - i) {
        t->has_boost = 1;
        t->boost_pos = t->pos + (uint32_t)(i - 1);
        t->suffix_len = len - i + 1;
        t->len = i - 1;
        len = t->len;
        i = len;
        while (i > 0 && (is_digit(s[i - 1]) || s[i - 1] == '.'))
            i--;
    }
    if (i >= 2 && s[i - 1] == '~' && s[i - 2] != '\\' &&
        (i == len || number_len(s + i, len - i) == len - i)) {
        t->has_fuzzy = 1;
        t->tilde_pos = t->pos + (uint32_t)(i - 1);
    }
}

/* A field name as KQL comparisons take it: plain bytes, no escapes. */
static int
plain_name(const char *s, size_t len)
{
    if (len == 0 ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
          s[0] == '_' || s[0] == '@'))
        return 0;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
              c == '_' || c == '.' || c == '-' || c == '@'))
            return 0;
    }
    return 1;
}

/*
 * Whether s[i..) holds a KQL comparison's tail: blanks, ">", ">=", "<" or
 * "<=", blanks, a number ("10", "-2.5", "1e3") and the end of a word.
 * Only then is "duration_ms > 10" read as a range; "a>b" or "x > y" stay
 * text as before.
 */
static int
cmp_follows(const struct sift_qlexer *lx, size_t i)
{
    while (i < lx->len && is_space(lx->s[i]))
        i++;
    if (i >= lx->len || (lx->s[i] != '>' && lx->s[i] != '<'))
        return 0;
    i++;
    if (i < lx->len && lx->s[i] == '=')
        i++;
    while (i < lx->len && is_space(lx->s[i]))
        i++;
    if (i < lx->len && (lx->s[i] == '-' || lx->s[i] == '+'))
        i++;
    size_t n = number_len(lx->s + i, lx->len - i);
    if (n == 0)
        return 0;
    i += n;
    if (i + 1 < lx->len && (lx->s[i] == 'e' || lx->s[i] == 'E')) {
        size_t j = i + 1;
        if (j < lx->len && (lx->s[j] == '-' || lx->s[j] == '+'))
            j++;
        size_t d = 0;
        while (j + d < lx->len && is_digit(lx->s[j + d]))
            d++;
        if (d > 0)
            i = j + d;
    }
    return i >= lx->len || ends_word(lx->s[i], 0);
}

void
sift__query_lex_next(struct sift_qlexer *lx, unsigned mode,
                     struct sift_qtok *out)
{
    memset(out, 0, sizeof(*out));
    while (lx->off < lx->len && is_space(lx->s[lx->off]))
        lx->off++;
    out->pos = (uint32_t)lx->off;
    out->text = lx->s + lx->off;
    if (lx->off >= lx->len) {
        out->kind = SIFT_QT_EOF;
        return;
    }

    char c = lx->s[lx->off];
    size_t start = lx->off;
    switch (c) {
    case '(':
        out->kind = SIFT_QT_LPAREN;
        out->len = 1;
        lx->off++;
        return;
    case ')':
        out->kind = SIFT_QT_RPAREN;
        out->len = 1;
        lx->off++;
        lex_suffixes(lx, out, 0);
        return;
    case '"':
        lex_delimited(lx, '"', SIFT_QT_PHRASE, "unterminated phrase", out);
        if (out->kind == SIFT_QT_PHRASE)
            lex_suffixes(lx, out, 1);
        return;
    default: break;
    }

    if (mode & SIFT_QLEX_RANGE) {
        if (c == ']' || c == '}') {
            out->kind = SIFT_QT_RRANGE;
            out->len = 1;
            lx->off++;
            return;
        }
    } else if (c == '/') {
        lex_delimited(lx, '/', SIFT_QT_REGEX, "unterminated regex", out);
        return;
    }

    if (mode & SIFT_QLEX_VALUE) {
        if (c == '[' || c == '{') {
            out->kind = SIFT_QT_LRANGE;
            out->len = 1;
            lx->off++;
            return;
        }
        if (c == '>' || c == '<') {
            out->kind = SIFT_QT_CMP;
            out->len = 1;
            if (lx->off + 1 < lx->len && lx->s[lx->off + 1] == '=')
                out->len = 2;
            lx->off += out->len;
            return;
        }
    } else if (!(mode & SIFT_QLEX_RANGE)) {
        if (c == '-' || c == '+') {
            out->kind = c == '-' ? SIFT_QT_MINUS : SIFT_QT_PLUS;
            out->len = 1;
            lx->off++;
            return;
        }
        if (c == ':') {
            lex_error(lx, out, start, "expected a field name before ':'");
            return;
        }
    }

    /* A word: up to a delimiter, with backslash escapes. */
    size_t i = start;
    while (i < lx->len && !ends_word(lx->s[i], mode)) {
        char b = lx->s[i];
        if (b == '\\') {
            if (i + 1 >= lx->len) {
                lex_error(lx, out, i, "dangling '\\'");
                return;
            }
            i += 2;
            continue;
        }
        if (b == '*' || b == '?')
            out->has_wild = 1;
        /* "duration_ms>=10": the name ends at the operator (KQL). */
        if ((b == '>' || b == '<') && mode == 0 && i > start &&
            plain_name(lx->s + start, i - start) && cmp_follows(lx, i))
            break;
        i++;
    }
    out->kind = SIFT_QT_WORD;
    out->len = i - start;
    lx->off = i;
    if (!(mode & SIFT_QLEX_RANGE))
        word_suffixes(out);

    if (!(mode & (SIFT_QLEX_VALUE | SIFT_QLEX_RANGE)) && i < lx->len &&
        lx->s[i] == ':') {
        out->is_field = 1;
        lx->off = i + 1;
        return;
    }
    if (mode & SIFT_QLEX_RANGE) {
        if (word_is(out, "TO"))
            out->kind = SIFT_QT_TO;
        return;
    }
    if (mode & SIFT_QLEX_VALUE)
        return;
    if (out->has_boost || out->has_fuzzy)
        return;
    if (!word_is(out, "AND") && !word_is(out, "OR") && !word_is(out, "NOT") &&
        !word_is(out, "and") && !word_is(out, "or") && !word_is(out, "not") &&
        plain_name(out->text, out->len) && cmp_follows(lx, i)) {
        /* KQL's "field > 10": a field, the operator comes next. */
        out->is_field = 1;
        out->kql_cmp = 1;
        return;
    }
    if (word_is(out, "AND") || word_is(out, "&&") || word_is(out, "and"))
        out->kind = SIFT_QT_AND;
    else if (word_is(out, "OR") || word_is(out, "||") || word_is(out, "or"))
        out->kind = SIFT_QT_OR;
    else if (word_is(out, "NOT") || word_is(out, "not"))
        out->kind = SIFT_QT_NOT;
    else
        return;
    out->lower_op = out->text[0] >= 'a' && out->text[0] <= 'z';
}
