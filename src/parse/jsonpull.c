/*
 * jsonpull.c - a pull reader for JSON request bodies that hold many
 * events (OTLP/JSON logs, the Loki push request).
 *
 * Design: no token array and no tree.  The caller knows the shape it
 * expects and walks it: enter an object, ask for members one by one,
 * read the values it wants, skip the rest.  Memory is O(1) besides the
 * decoded strings (only strings with escapes are copied, into the
 * caller's arena), so a 64 MiB body costs 64 MiB, not a tree of it.
 * Nesting is bounded by max_depth (skipping recurses).
 *
 * Invariants: pos never passes len; the first error sticks (err/err_at)
 * and every later call fails, so a caller may check once at the end; a
 * value is consumed exactly once (peek does not consume).
 *
 * Threads: pure over the caller's state; any thread.
 */
#include <string.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"

#include "parse/parse_int.h"

static int
fail(struct sift__jp *j, const char *why)
{
    if (!j->err) {
        j->err = why;
        j->err_at = j->pos;
    }
    return -1;
}

static void
blanks(struct sift__jp *j)
{
    while (j->pos < j->len) {
        char c = j->s[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->pos++;
    }
}

void
sift__jp_init(struct sift__jp *j, const char *s, size_t len, unsigned max_depth,
              struct sift_arena *arena)
{
    memset(j, 0, sizeof(*j));
    j->s = s;
    j->len = len;
    j->max_depth = max_depth < SIFT__PARSE_MAX_DEPTH_CAP
                       ? max_depth
                       : SIFT__PARSE_MAX_DEPTH_CAP;
    j->arena = arena;
}

int
sift__jp_peek(struct sift__jp *j)
{
    if (j->err)
        return SIFT__JP_ERR;
    blanks(j);
    if (j->pos >= j->len)
        return SIFT__JP_END;
    char c = j->s[j->pos];
    switch (c) {
    case '{':
    case '[':
    case '"':
    case 't':
    case 'f':
    case 'n': return c;
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return SIFT__JP_NUMBER;
        fail(j, "unexpected character");
        return SIFT__JP_ERR;
    }
}

static int
enter(struct sift__jp *j, char open)
{
    if (sift__jp_peek(j) != open)
        return fail(j, open == '{' ? "expected an object"
                                   : "expected an "
                                     "array");
    if (j->depth >= j->max_depth)
        return fail(j, "nesting too deep");
    j->pos++;
    j->depth++;
    j->more[j->depth] = 0;
    return 0;
}

int
sift__jp_enter_object(struct sift__jp *j)
{
    return enter(j, '{');
}

int
sift__jp_enter_array(struct sift__jp *j)
{
    return enter(j, '[');
}

/* Before the next item of a container closed by `close`: 1 = an item
 * follows, 0 = closed (consumed), -1 = error. */
static int
next_item(struct sift__jp *j, char close)
{
    if (j->err)
        return -1;
    if (j->depth == 0)
        return fail(j, "not inside a container");
    blanks(j);
    if (j->pos >= j->len)
        return fail(j, "unexpected end of input");
    if (j->s[j->pos] == close) {
        j->pos++;
        j->depth--;
        return 0;
    }
    if (j->more[j->depth]) {
        if (j->s[j->pos] != ',')
            return fail(j, close == '}' ? "expected ',' or '}'"
                                        : "expected ',' or ']'");
        j->pos++;
        blanks(j);
    }
    j->more[j->depth] = 1;
    return 1;
}

/* Scans the string at pos (after its opening quote); sets the body span
 * and whether it holds escapes; leaves pos after the closing quote. */
static int
scan_string(struct sift__jp *j, size_t *a, size_t *b, int *escaped)
{
    size_t i = j->pos + 1;
    *escaped = 0;
    *a = i;
    for (;;) {
        /* Fast path: plain bytes. */
        while (i < j->len) {
            unsigned char c = (unsigned char)j->s[i];
            if (c == '"' || c == '\\' || c < 0x20)
                break;
            i++;
        }
        if (i >= j->len) {
            j->pos = i;
            return fail(j, "unterminated string");
        }
        unsigned char c = (unsigned char)j->s[i];
        if (c == '"')
            break;
        if (c < 0x20) {
            j->pos = i;
            return fail(j, "control character in a string");
        }
        /* A backslash: validate the escape. */
        *escaped = 1;
        if (i + 1 >= j->len) {
            j->pos = i;
            return fail(j, "unterminated string");
        }
        char e = j->s[i + 1];
        if (e == 'u') {
            if (i + 6 > j->len) {
                j->pos = i;
                return fail(j, "bad \\u escape");
            }
            for (int k = 2; k < 6; k++) {
                if (sift_hex_digit(j->s[i + (size_t)k]) < 0) {
                    j->pos = i;
                    return fail(j, "bad \\u escape");
                }
            }
            i += 6;
        } else if (strchr("\"\\/bfnrt", e) != NULL && e != '\0') {
            i += 2;
        } else {
            j->pos = i;
            return fail(j, "bad escape");
        }
    }
    *b = i;
    j->pos = i + 1;
    return 0;
}

static int
decode_string(struct sift__jp *j, const char **s, size_t *len)
{
    size_t a, b;
    int escaped;
    if (scan_string(j, &a, &b, &escaped) < 0)
        return -1;
    if (!escaped) {
        *s = j->s + a;
        *len = b - a;
        return 0;
    }
    char *o = sift_arena_try_alloc(j->arena, b - a ? b - a : 1);
    if (!o)
        return fail(j, "out of memory");
    *len = sift__json_unescape_into(o, j->s + a, b - a);
    *s = o;
    return 0;
}

int
sift__jp_member(struct sift__jp *j, const char **key, size_t *key_len)
{
    int rc = next_item(j, '}');
    if (rc <= 0)
        return rc;
    if (j->pos >= j->len || j->s[j->pos] != '"')
        return fail(j, "expected a member name");
    if (decode_string(j, key, key_len) < 0)
        return -1;
    blanks(j);
    if (j->pos >= j->len || j->s[j->pos] != ':')
        return fail(j, "expected ':'");
    j->pos++;
    return 1;
}

int
sift__jp_element(struct sift__jp *j)
{
    return next_item(j, ']');
}

int
sift__jp_string(struct sift__jp *j, const char **s, size_t *len)
{
    if (sift__jp_peek(j) != SIFT__JP_STRING)
        return fail(j, "expected a string");
    return decode_string(j, s, len);
}

int
sift__jp_number(struct sift__jp *j, const char **s, size_t *len)
{
    if (sift__jp_peek(j) != SIFT__JP_NUMBER)
        return fail(j, "expected a number");
    size_t a = j->pos, i = a;
    while (i < j->len) {
        char c = j->s[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
              c == 'e' || c == 'E'))
            break;
        i++;
    }
    if (!sift__parse_is_number(j->s + a, i - a))
        return fail(j, "bad number");
    j->pos = i;
    *s = j->s + a;
    *len = i - a;
    return 0;
}

int
sift__jp_literal(struct sift__jp *j, int *v)
{
    static const struct {
        const char *word;
        size_t len;
        int v;
    } lits[] = {{"true", 4, 1}, {"false", 5, 0}, {"null", 4, -1}};
    int t = sift__jp_peek(j);
    for (size_t k = 0; k < 3; k++) {
        if (t == lits[k].word[0] && j->len - j->pos >= lits[k].len &&
            memcmp(j->s + j->pos, lits[k].word, lits[k].len) == 0) {
            j->pos += lits[k].len;
            *v = lits[k].v;
            return 0;
        }
    }
    return fail(j, "expected true, false or null");
}

static int
skip_value(struct sift__jp *j)
{
    const char *s = NULL;
    size_t len = 0;
    int v;
    switch (sift__jp_peek(j)) {
    case SIFT__JP_OBJECT:
        if (sift__jp_enter_object(j) < 0)
            return -1;
        for (;;) {
            int rc = sift__jp_member(j, &s, &len);
            if (rc <= 0)
                return rc;
            if (skip_value(j) < 0)
                return -1;
        }
    case SIFT__JP_ARRAY:
        if (sift__jp_enter_array(j) < 0)
            return -1;
        for (;;) {
            int rc = sift__jp_element(j);
            if (rc <= 0)
                return rc;
            if (skip_value(j) < 0)
                return -1;
        }
    case SIFT__JP_STRING: {
        size_t a, b;
        int escaped;
        return scan_string(j, &a, &b, &escaped);
    }
    case SIFT__JP_NUMBER: return sift__jp_number(j, &s, &len);
    case SIFT__JP_TRUE:
    case SIFT__JP_FALSE:
    case SIFT__JP_NULL: return sift__jp_literal(j, &v);
    case SIFT__JP_END: return fail(j, "unexpected end of input");
    default: return -1;
    }
}

int
sift__jp_skip(struct sift__jp *j, size_t *a, size_t *b)
{
    blanks(j);
    size_t start = j->pos;
    if (skip_value(j) < 0)
        return -1;
    if (a)
        *a = start;
    if (b)
        *b = j->pos;
    return 0;
}

int
sift__jp_finish(struct sift__jp *j)
{
    if (j->err)
        return -1;
    blanks(j);
    if (j->pos != j->len)
        return fail(j, "unexpected data after the JSON value");
    return 0;
}
