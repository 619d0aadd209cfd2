/*
 * logfmt.c - key=value lines (Heroku/Go logfmt).
 *
 * Grammar: tokens separated by spaces/tabs; a pair is KEY=VALUE where KEY
 * has no space, '=' or '"', and VALUE is a bare run up to the next space
 * or a double-quoted string with backslash escapes (\" \\ \n \t \r; any
 * other escaped byte stands for itself).  A token without '=' is a bare
 * word: kept in the message but not a field.  An unterminated quote is a
 * parse error.
 *
 * Fields: unquoted values that are JSON numbers become NUMBER, all else
 * KEYWORD ("" for "key=").  msg= / message= become the message, level=
 * becomes log.level, ts= / time= the timestamp (via sift__pctx_finish).
 * Without msg=, the message is the whole line.
 *
 * Used as a format of its own and by text/auto to pull fields out of a
 * line that "looks like" logfmt: at least two pairs, and at most three
 * bare words, all before the first pair (a leading timestamp and level).
 *
 * Pure; any thread.
 */
#include <string.h>

#include "sift/arena.h"
#include "sift/error.h"

#include "parse/parse_int.h"

struct lf_tok {
    size_t start, end; /* whole token */
    size_t key_end;    /* == start when bare word */
    size_t val_start, val_end;
    bool quoted, escaped, is_pair;
};

static bool
is_space(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Reads the token at *i.  Returns 1 for a token, 0 at the end, -1 for an
 * unterminated quote (with *i at the quote).
 */
static int
next_tok(const char *s, size_t len, size_t *i, struct lf_tok *t)
{
    size_t p = *i;
    while (p < len && is_space(s[p]))
        p++;
    if (p >= len) {
        *i = p;
        return 0;
    }
    memset(t, 0, sizeof(*t));
    t->start = p;
    while (p < len && !is_space(s[p]) && s[p] != '=' && s[p] != '"')
        p++;
    t->key_end = p;
    if (p < len && s[p] == '=' && p > t->start) {
        t->is_pair = true;
        p++;
        if (p < len && s[p] == '"') {
            size_t q = p + 1;
            t->quoted = true;
            t->val_start = q;
            while (q < len && s[q] != '"') {
                if (s[q] == '\\' && q + 1 < len) {
                    t->escaped = true;
                    q++;
                }
                q++;
            }
            if (q >= len) {
                *i = p;
                return -1;
            }
            t->val_end = q;
            p = q + 1;
        } else {
            t->val_start = p;
            while (p < len && !is_space(s[p]))
                p++;
            t->val_end = p;
        }
        /* Anything glued after a closing quote is part of a bare word. */
        if (p < len && !is_space(s[p])) {
            t->is_pair = false;
            while (p < len && !is_space(s[p]))
                p++;
        }
    } else {
        t->is_pair = false;
        /* A bare word may contain quotes; it ends at the next space. */
        while (p < len && !is_space(s[p]))
            p++;
    }
    t->end = p;
    *i = p;
    return 1;
}

bool
sift__parse_logfmt_looks(const char *s, size_t len, uint32_t *n_pairs)
{
    size_t i = 0;
    uint32_t pairs = 0, bare = 0;
    struct lf_tok t;
    int r;
    while ((r = next_tok(s, len, &i, &t)) > 0) {
        if (t.is_pair) {
            pairs++;
        } else {
            if (pairs > 0 || ++bare > 3)
                return false;
        }
    }
    if (r < 0)
        return false;
    *n_pairs = pairs;
    return pairs >= 2;
}

static char *
unescape(struct sift__pctx *x, const char *s, size_t len, size_t *out_len)
{
    char *o = sift__pctx_dup(x, s, len);
    size_t n = 0;
    if (!o)
        return NULL;
    for (size_t k = 0; k < len; k++) {
        char c = s[k];
        if (c == '\\' && k + 1 < len) {
            c = s[++k];
            if (c == 'n')
                c = '\n';
            else if (c == 't')
                c = '\t';
            else if (c == 'r')
                c = '\r';
        }
        o[n++] = c;
    }
    *out_len = n;
    return o;
}

int
sift__parse_logfmt_fields(struct sift__pctx *x, const char *s, size_t len,
                          size_t base_off)
{
    size_t i = 0;
    struct lf_tok t;
    int r;
    while ((r = next_tok(s, len, &i, &t)) > 0) {
        if (!t.is_pair)
            continue;
        const char *v = s + t.val_start;
        size_t vl = t.val_end - t.val_start;
        uint8_t type = SIFT_FT_KEYWORD;
        if (t.escaped) {
            v = unescape(x, v, vl, &vl);
            if (!v)
                return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
        } else if (!t.quoted && sift__parse_is_number(v, vl)) {
            type = SIFT_FT_NUMBER;
        }
        int rc =
            sift__pctx_add(x, s + t.start, t.key_end - t.start, v, vl, type);
        if (rc) {
            x->err->offset = base_off + t.start;
            return rc;
        }
    }
    if (r < 0)
        return sift__pctx_fail(x, SIFT_EPARSE, base_off + i,
                               "unterminated quote at byte %zu", base_off + i);
    return SIFT_OK;
}

int
sift__parse_logfmt(struct sift__pctx *x)
{
    size_t a, b;
    int64_t ns;
    uint32_t pairs = 0;
    size_t i = 0;
    struct lf_tok t;
    int r;

    while ((r = next_tok(x->line, x->len, &i, &t)) > 0)
        pairs += t.is_pair;
    if (r < 0)
        return sift__pctx_fail(x, SIFT_EPARSE, i,
                               "unterminated quote at byte %zu", i);
    x->msg = x->line;
    x->msg_len = (uint32_t)x->len;
    x->scan_msg = true;
    x->msg_alias = true;
    x->scan_ts = true;
    if (sift__parse_ts_sniff(x->line, x->len, x->recv_ns, &ns, &a, &b)) {
        x->ts_ns = ns;
        x->have_ts = true;
    }
    int rc = sift__pctx_reserve(x, pairs);
    if (rc)
        return rc;
    return sift__parse_logfmt_fields(x, x->line, x->len, 0);
}
