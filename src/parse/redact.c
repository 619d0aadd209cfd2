/*
 * redact.c - PII redaction: builtin scanners, user PCRE2 rules, rewriting.
 *
 * Design: every rule produces spans [start, end) over the original value;
 * spans of all rules are sorted, overlaps are dropped (leftmost, then
 * longest wins), and the value is rebuilt once with the replacements.
 * The builtins are hand-written scanners, not regexes: each starts from a
 * byte that any match must contain ('@' for email, '.' for IPv4, ':' for
 * IPv6, '_'/"earer"/"AKIA"/"xox" for secrets) found with memchr/memmem, so
 * a value without those bytes costs a few vectorised searches and no copy.
 * Cards are found by sampling every CARD_STRIDE-th byte: a candidate spans
 * at least 13 bytes of digits and single separators, so at least one
 * sample lands in it.  User rules run through PCRE2 (JIT when available)
 * with a match limit so a pathological regex cannot stall ingest.
 *
 * Invariants: after sift_redact_new() only the atomic counters change, so
 * a redactor is shared by all threads.  Output never contains the matched
 * bytes of a span (except the "Bearer " prefix, which is not part of the
 * span).  Thread: any.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pcre2.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/metrics.h"
#include "sift/redact.h"

#define RULE_NAME_MAX 32
#define MIN_HASH_KEY_LEN 16
#define PCRE2_MATCH_LIMIT 1000000u
#define CARD_STRIDE 13 /* the shortest card candidate in bytes */
#define LOCAL_SPANS 32

enum rule_kind {
    K_EMAIL,
    K_IPV4,
    K_IPV6,
    K_CARD,
    K_BEARER,
    K_AWS,
    K_GITHUB,
    K_SLACK,
    K_STRIPE,
    K_USER,
};

static const struct {
    const char *name;
    enum rule_kind kind;
    int secret; /* part of the "secret" group */
} builtin_defs[] = {
    {"email", K_EMAIL, 0},         {"ipv4", K_IPV4, 0},
    {"ipv6", K_IPV6, 0},           {"card", K_CARD, 0},
    {"bearer", K_BEARER, 1},       {"aws_key", K_AWS, 1},
    {"github_token", K_GITHUB, 1}, {"slack_token", K_SLACK, 1},
    {"stripe_key", K_STRIPE, 1},
};
#define N_BUILTINS (sizeof builtin_defs / sizeof builtin_defs[0])

/* Where a rule applies.  names entries ending in ".*" are prefixes. */
struct targets {
    int all;
    int message;
    char **names;
    size_t n_names;
};

struct rule {
    char name[RULE_NAME_MAX + 1];
    enum rule_kind kind;
    pcre2_code *code;         /* K_USER only */
    const struct targets *tg; /* &r->builtin_tg or &own_tg */
    struct targets own_tg;
};

struct counter {
    _Atomic uint64_t v;
};

struct sift_redact {
    struct rule rules[SIFT_REDACT_MAX_RULES];
    size_t n_rules;
    struct targets builtin_tg;
    int hash_mode;
    unsigned hash_hex_len;
    EVP_MD_CTX *hmac_inner; /* SHA-256 state after (key ^ ipad) */
    EVP_MD_CTX *hmac_outer; /* SHA-256 state after (key ^ opad) */
    pcre2_match_context *mctx;
    struct counter *counts; /* per rule; apart so a const redactor counts */
};

struct span {
    size_t start, end;
    uint32_t rule;
};

struct spans {
    struct span *v;
    size_t n, cap;
    int oom;
    struct span local[LOCAL_SPANS];
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/*
 * Byte classes, one lookup per test on the hot path (generated; bit
 * meanings below).  Only ASCII bytes have classes.
 */
#define C_DIGIT 1u
#define C_ALPHA 2u
#define C_WORD 4u    /* [A-Za-z0-9_] */
#define C_HEX 8u     /* [0-9A-Fa-f] */
#define C_SECRET 16u /* [A-Za-z0-9_-]: API key shapes */
#define C_IPV6 32u   /* [0-9A-Fa-f:.] */
#define C_TOKEN 64u  /* [A-Za-z0-9._~+/=-]: bearer token bytes */
#define C_LOCAL 128u /* [A-Za-z0-9._%+-]: email local part */

static const unsigned char byte_class[256] = {
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   128, 0,   0,   0,   0,   0,   192, 0,
    208, 224, 64,  253, 253, 253, 253, 253, 253, 253, 253, 253, 253, 32,  0,
    0,   64,  0,   0,   0,   254, 254, 254, 254, 254, 254, 214, 214, 214, 214,
    214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214,
    214, 0,   0,   0,   0,   212, 0,   254, 254, 254, 254, 254, 254, 214, 214,
    214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214, 214,
    214, 214, 214, 0,   0,   0,   64,  0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
    0,
};

static inline int
is_digit(unsigned char c)
{
    return byte_class[c] & C_DIGIT;
}

static inline int
is_alpha(unsigned char c)
{
    return byte_class[c] & C_ALPHA;
}

static inline int
is_alnum(unsigned char c)
{
    return byte_class[c] & (C_DIGIT | C_ALPHA);
}

static inline int
is_word(unsigned char c)
{
    return byte_class[c] & C_WORD;
}

static inline int
is_hex(unsigned char c)
{
    return byte_class[c] & C_HEX;
}

static void
spans_push(struct spans *sp, size_t start, size_t end, uint32_t rule)
{
    if (sp->n == sp->cap) {
        if (sp->cap >= SIFT_REDACT_MAX_MATCHES)
            return;
        size_t cap = sp->cap * 2;
        struct span *v;
        if (sp->v == sp->local) {
            v = sift_try_malloc(cap * sizeof *v);
            if (v)
                memcpy(v, sp->local, sp->n * sizeof *v);
        } else {
            v = sift_try_realloc(sp->v, cap * sizeof *v);
        }
        if (!v) {
            sp->oom = 1;
            return;
        }
        sp->v = v;
        sp->cap = cap;
    }
    sp->v[sp->n++] = (struct span){start, end, rule};
}

int
sift_redact_luhn_ok(const char *s, size_t len)
{
    unsigned sum = 0;
    unsigned n = 0;
    for (size_t i = len; i-- > 0;) {
        unsigned char c = (unsigned char)s[i];
        if (!is_digit(c))
            continue;
        unsigned d = (unsigned)(c - '0');
        if (n++ & 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return n > 0 && sum % 10 == 0;
}

/* ------------------------------------------------------------------ */
/* Builtin scanners                                                    */
/* ------------------------------------------------------------------ */

static inline int
email_local_char(unsigned char c)
{
    return byte_class[c] & C_LOCAL;
}

static void
scan_email(const char *s, size_t len, uint32_t rule, struct spans *sp)
{
    size_t pos = 0;
    while (pos < len) {
        const char *at = memchr(s + pos, '@', len - pos);
        if (!at)
            return;
        size_t a = (size_t)(at - s);
        pos = a + 1;
        size_t ls = a;
        while (ls > 0 && a - ls < 64 &&
               email_local_char((unsigned char)s[ls - 1]))
            ls--;
        while (ls < a && s[ls] == '.')
            ls++;
        if (ls == a)
            continue;
        size_t de = a + 1;
        while (de < len && de - a <= 255 &&
               (is_alnum((unsigned char)s[de]) || s[de] == '.' || s[de] == '-'))
            de++;
        while (de > a + 1 && (s[de - 1] == '.' || s[de - 1] == '-'))
            de--;
        /* Labels non-empty, at least one dot, an alphabetic TLD of 2+. */
        size_t last_dot = 0;
        int ok = de > a + 1 && s[a + 1] != '.';
        for (size_t i = a + 1; ok && i < de; i++) {
            if (s[i] == '.') {
                if (s[i - 1] == '.')
                    ok = 0;
                last_dot = i;
            }
        }
        if (!ok || !last_dot || de - last_dot - 1 < 2)
            continue;
        for (size_t i = last_dot + 1; ok && i < de; i++)
            ok = is_alpha((unsigned char)s[i]);
        if (!ok)
            continue;
        spans_push(sp, ls, de, rule);
        pos = de;
    }
}

/* Parses a dotted quad at s[i..); returns its end or 0. */
static size_t
parse_ipv4(const char *s, size_t len, size_t i)
{
    for (int part = 0; part < 4; part++) {
        if (part) {
            if (i >= len || s[i] != '.')
                return 0;
            i++;
        }
        unsigned v = 0;
        size_t nd = 0;
        while (i < len && nd < 4 && is_digit((unsigned char)s[i])) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
            nd++;
        }
        if (nd == 0 || nd > 3 || v > 255)
            return 0;
    }
    return i;
}

static void
scan_ipv4(const char *s, size_t len, uint32_t rule, struct spans *sp)
{
    size_t pos = 1;
    while (pos < len) {
        const char *dot = memchr(s + pos, '.', len - pos);
        if (!dot)
            return;
        size_t d = (size_t)(dot - s);
        pos = d + 1;
        if (!is_digit((unsigned char)s[d - 1]))
            continue;
        size_t st = d - 1;
        while (st > 0 && d - st < 3 && is_digit((unsigned char)s[st - 1]))
            st--;
        if (st > 0) {
            unsigned char b = (unsigned char)s[st - 1];
            if (is_word(b) || b == '.')
                continue;
        }
        size_t end = parse_ipv4(s, len, st);
        if (!end)
            continue;
        if (end < len) {
            unsigned char c = (unsigned char)s[end];
            if (is_word(c))
                continue;
            if (c == '.' && end + 1 < len &&
                is_digit((unsigned char)s[end + 1]))
                continue;
        }
        spans_push(sp, st, end, rule);
        pos = end;
    }
}

static inline int
ipv6_char(unsigned char c)
{
    return byte_class[c] & C_IPV6;
}

/* Tries inet_pton on s[a..b); returns 1 and fills bin when it parses. */
static int
try_ipv6(const char *s, size_t a, size_t b, unsigned char bin[16])
{
    char tmp[INET6_ADDRSTRLEN + 1];
    if (b - a < 2 || b - a >= sizeof tmp)
        return 0;
    memcpy(tmp, s + a, b - a);
    tmp[b - a] = '\0';
    return inet_pton(AF_INET6, tmp, bin) == 1;
}

/* Finds the IPv6 address inside the candidate s[a..b); 1 on success. */
static int
ipv6_fit(const char *s, size_t a, size_t *b)
{
    unsigned char bin[16];
    size_t e = *b;
    for (int strip = 0; strip < 3 && e > a; strip++) {
        if (try_ipv6(s, a, e, bin)) {
            *b = e;
            return 1;
        }
        if (s[e - 1] == '.' || s[e - 1] == ':') {
            e--;
            continue;
        }
        /* "addr:port": drop a trailing ":digits" once. */
        size_t k = e;
        while (k > a && is_digit((unsigned char)s[k - 1]))
            k--;
        if (k == e || k == a || s[k - 1] != ':')
            return 0;
        e = k - 1;
    }
    return 0;
}

static void
scan_ipv6(const char *s, size_t len, uint32_t rule, struct spans *sp)
{
    size_t pos = 0;
    while (pos < len) {
        const char *colon = memchr(s + pos, ':', len - pos);
        if (!colon)
            return;
        size_t c = (size_t)(colon - s);
        size_t a = c, b = c + 1;
        while (a > pos && c - a < 64 && ipv6_char((unsigned char)s[a - 1]))
            a--;
        while (b < len && b - c < 64 && ipv6_char((unsigned char)s[b]))
            b++;
        pos = b;
        /* A run inside a word (std::vector, 0x1:2:3g) is not an address. */
        if (a > 0 && is_word((unsigned char)s[a - 1]))
            continue;
        int shrunk = 0;
        if (b < len && is_word((unsigned char)s[b])) {
            /*
             * "::1:2181:FastLeader": the run ends inside a word that starts
             * with hex letters.  Cut back to the last colon; the address
             * fitting below must then still hold 3+ colons.
             */
            while (b > a && s[b - 1] != ':')
                b--;
            shrunk = 1;
        }
        while (a < b && s[a] == '.')
            a++;
        unsigned colons = 0, hex = 0;
        for (size_t i = a; i < b; i++) {
            colons += s[i] == ':';
            hex += is_hex((unsigned char)s[i]) != 0;
        }
        if (colons < 2 + (unsigned)shrunk || hex == 0)
            continue;
        /*
         * An address has "::" or 6+ colons (8 groups, or 6 and an IPv4
         * tail).  This keeps times like 15:16:01 away from inet_pton.
         */
        if (colons < 6 && !sift_find_bytes(s + a, b - a, "::", 2))
            continue;
        size_t e = b;
        if (!ipv6_fit(s, a, &e))
            continue;
        spans_push(sp, a, e, rule);
    }
}

static int
card_sep(unsigned char c)
{
    return c == ' ' || c == '-';
}

static int
card_start_ok(const char *s, size_t i)
{
    unsigned char c = (unsigned char)s[i];
    if (c < '2' || c > '6')
        return 0;
    if (i == 0)
        return 1;
    unsigned char b = (unsigned char)s[i - 1];
    return !is_word(b) && b != '-' && b != '.' && b != '+';
}

/*
 * Checks the run s[a..b) of digits and single separators as a whole: 13..19
 * digits, one kind of separator, first digit 2..6 (the card networks'
 * ranges; this keeps epoch milliseconds out), a left boundary that is not
 * a sign or part of a word, and the Luhn check.  Only whole runs count, so
 * a card number glued to other digit groups ("3534 3375 4530 3515 3479")
 * is not cut out of a longer list of numbers.
 */
static int
card_run_ok(const char *s, size_t len, size_t a, size_t b)
{
    unsigned nd = 0;
    char sep = 0;
    for (size_t i = a; i < b; i++) {
        if (is_digit((unsigned char)s[i])) {
            nd++;
        } else {
            if (sep && s[i] != sep)
                return 0;
            sep = s[i];
        }
    }
    if (nd < 13 || nd > 19 || !card_start_ok(s, a))
        return 0;
    if (b < len && is_word((unsigned char)s[b]))
        return 0;
    return sift_redact_luhn_ok(s + a, b - a);
}

static void
scan_card(const char *s, size_t len, uint32_t rule, struct spans *sp)
{
    if (len < 13)
        return;
    size_t next = 0; /* bytes before this are already handled */
    for (size_t probe = 0; probe < len; probe += CARD_STRIDE) {
        if (probe < next)
            continue;
        unsigned char c = (unsigned char)s[probe];
        if (!is_digit(c) && !(card_sep(c) && probe + 1 < len && probe > 0 &&
                              is_digit((unsigned char)s[probe + 1]) &&
                              is_digit((unsigned char)s[probe - 1])))
            continue;
        /* Widen to the run of digits and single separators around probe. */
        size_t a = probe, b = probe;
        while (a > next && (is_digit((unsigned char)s[a - 1]) ||
                            (card_sep((unsigned char)s[a - 1]) && a >= 2 &&
                             is_digit((unsigned char)s[a - 2]))))
            a--;
        while (b < len && (is_digit((unsigned char)s[b]) ||
                           (card_sep((unsigned char)s[b]) && b + 1 < len &&
                            is_digit((unsigned char)s[b + 1]))))
            b++;
        next = b > probe ? b : probe + 1;
        /* A separator probe widened left past digits can end on one. */
        while (a < b && card_sep((unsigned char)s[a]))
            a++;
        if (b - a >= 13 && card_run_ok(s, len, a, b))
            spans_push(sp, a, b, rule);
    }
}

static inline int
token_char(unsigned char c)
{
    return byte_class[c] & C_TOKEN;
}

/*
 * "bearer" (any case) followed by ':' or '=' (optional), blanks, and a
 * token of 8+ token_char bytes; the span is the token.  Anchored on 'b'
 * and 'B' with memchr: both are rarer in logs than the other letters.
 */
static void
scan_bearer_from(const char *s, size_t len, char first, uint32_t rule,
                 struct spans *sp)
{
    size_t pos = 0;
    while (pos + 6 <= len) {
        const char *hit = memchr(s + pos, first, len - pos - 5);
        if (!hit)
            return;
        size_t h = (size_t)(hit - s);
        pos = h + 1;
        if ((s[h + 1] | 0x20) != 'e' || (s[h + 2] | 0x20) != 'a' ||
            (s[h + 3] | 0x20) != 'r' || (s[h + 4] | 0x20) != 'e' ||
            (s[h + 5] | 0x20) != 'r')
            continue;
        if (h > 0 && is_word((unsigned char)s[h - 1]))
            continue;
        size_t t = h + 6;
        if (t < len && (s[t] == ':' || s[t] == '='))
            t++;
        size_t blanks = t;
        while (t < len && (s[t] == ' ' || s[t] == '\t'))
            t++;
        if (t == blanks)
            continue;
        size_t e = t;
        while (e < len && token_char((unsigned char)s[e]))
            e++;
        if (e - t < 8)
            continue;
        spans_push(sp, t, e, rule);
        pos = e;
    }
}

static void
scan_bearer(const char *s, size_t len, uint32_t rule, struct spans *sp)
{
    scan_bearer_from(s, len, 'b', rule, sp);
    scan_bearer_from(s, len, 'B', rule, sp);
}

static inline int
secret_char(unsigned char c)
{
    return byte_class[c] & C_SECRET;
}

static int
has_prefix_at(const char *s, size_t len, size_t i, const char *p)
{
    size_t n = strlen(p);
    return i + n <= len && memcmp(s + i, p, n) == 0;
}

/* Length of the run of alnum (and '_' when allow_us) from s[i]. */
static size_t
run_alnum(const char *s, size_t len, size_t i, int allow_us)
{
    size_t k = i;
    while (k < len &&
           (is_alnum((unsigned char)s[k]) || (allow_us && s[k] == '_')))
        k++;
    return k - i;
}

/* Which of the run-shaped secrets are enabled, and their rule indices. */
struct secret_rules {
    int aws, github, slack, stripe;
    uint32_t aws_idx, github_idx, slack_idx, stripe_idx;
};

/*
 * Checks one run s[a..b) of [A-Za-z0-9_-] (>= SECRET_MIN_LEN bytes) for the
 * shapes of AWS key ids, GitHub, Slack and Stripe tokens at its start.
 */
static void
secret_run(const char *s, size_t a, size_t b, const struct secret_rules *sr,
           struct spans *sp)
{
    size_t n = b - a;
    if (sr->aws && n == 20 &&
        (has_prefix_at(s, b, a, "AKIA") || has_prefix_at(s, b, a, "ASIA"))) {
        size_t k = a + 4;
        while (k < b &&
               (is_digit((unsigned char)s[k]) || (s[k] >= 'A' && s[k] <= 'Z')))
            k++;
        if (k == b)
            spans_push(sp, a, b, sr->aws_idx);
        return;
    }
    if (sr->github && s[a] == 'g') {
        if (n >= 40 && s[a + 1] == 'h' && strchr("pousr", s[a + 2]) &&
            s[a + 2] && s[a + 3] == '_') {
            size_t r = run_alnum(s, b, a + 4, 0);
            if (r >= 36)
                spans_push(sp, a, a + 4 + r, sr->github_idx);
            return;
        }
        if (n >= 33 && has_prefix_at(s, b, a, "github_pat_")) {
            size_t r = run_alnum(s, b, a + 11, 1);
            if (r >= 22)
                spans_push(sp, a, a + 11 + r, sr->github_idx);
            return;
        }
    }
    if (sr->slack && n >= 15 && has_prefix_at(s, b, a, "xox") && s[a + 3] &&
        strchr("abposr", s[a + 3]) && s[a + 4] == '-') {
        size_t k = a + 5;
        while (k < b && (is_alnum((unsigned char)s[k]) || s[k] == '-'))
            k++;
        if (k - (a + 5) >= 10)
            spans_push(sp, a, k, sr->slack_idx);
        return;
    }
    if (sr->stripe && n >= 24 && (s[a] == 's' || s[a] == 'r') &&
        has_prefix_at(s, b, a + 1, "k_live_")) {
        size_t r = run_alnum(s, b, a + 8, 0);
        if (r >= 16)
            spans_push(sp, a, a + 8 + r, sr->stripe_idx);
    }
}

#define SECRET_MIN_LEN 15 /* the shortest shape: "xoxb-" + 10 */

/*
 * Every run-shaped secret is a run of [A-Za-z0-9_-] of at least
 * SECRET_MIN_LEN bytes, so sampling every SECRET_MIN_LEN-th byte hits each
 * one; a sample inside a run widens to the whole run, which is then
 * checked once.
 */
static void
scan_secrets(const char *s, size_t len, const struct secret_rules *sr,
             struct spans *sp)
{
    size_t next = 0;
    for (size_t p = 0; p < len; p += SECRET_MIN_LEN) {
        if (p < next || !secret_char((unsigned char)s[p]))
            continue;
        size_t a = p, b = p + 1;
        while (a > next && secret_char((unsigned char)s[a - 1]))
            a--;
        while (b < len && secret_char((unsigned char)s[b]))
            b++;
        next = b;
        if (b - a >= SECRET_MIN_LEN)
            secret_run(s, a, b, sr, sp);
    }
}

static void
scan_user(const struct sift_redact *r, const struct rule *ru, uint32_t idx,
          const char *s, size_t len, pcre2_match_data **md, struct spans *sp)
{
    if (!*md) {
        *md = pcre2_match_data_create(1, NULL);
        if (!*md) {
            sp->oom = 1;
            return;
        }
    }
    size_t off = 0;
    while (off <= len) {
        int rc =
            pcre2_match(ru->code, (PCRE2_SPTR)s, len, off, 0, *md, r->mctx);
        if (rc < 0)
            return; /* no match, or a limit hit: leave the rest as is */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(*md);
        size_t a = ov[0], b = ov[1];
        if (b <= a) {
            off = a + 1; /* empty match: nothing to replace */
            continue;
        }
        spans_push(sp, a, b, idx);
        off = b;
        if (sp->oom || sp->n >= SIFT_REDACT_MAX_MATCHES)
            return;
    }
}

/* ------------------------------------------------------------------ */
/* Rewriting                                                           */
/* ------------------------------------------------------------------ */

static int
span_cmp(const void *pa, const void *pb)
{
    const struct span *a = pa, *b = pb;
    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    if (a->end != b->end)
        return a->end > b->end ? -1 : 1;
    return a->rule < b->rule ? -1 : a->rule > b->rule;
}

/* The bytes hashed for a span: normalised so equal values group. */
static size_t
hash_input(const struct rule *ru, const char *s, size_t len, unsigned char *out,
           size_t cap)
{
    size_t n = 0;
    if (ru->kind == K_IPV6) {
        if (len < 64) {
            char tmp[64];
            memcpy(tmp, s, len);
            tmp[len] = '\0';
            if (inet_pton(AF_INET6, tmp, out) == 1)
                return 16;
        }
    }
    for (size_t i = 0; i < len && n < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (ru->kind == K_CARD && !is_digit(c))
            continue;
        if (ru->kind == K_EMAIL && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c | 0x20);
        out[n++] = c;
    }
    return n;
}

/*
 * HMAC-SHA256(hash_key, p[0..len)) into md, from the inner and outer
 * digest states that sift_redact_new() primed with the padded key: two
 * context copies instead of a key schedule per value.
 */
static int
keyed_hash(const struct sift_redact *r, const unsigned char *p, size_t len,
           unsigned char md[EVP_MAX_MD_SIZE])
{
    unsigned char inner[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int rc = SIFT_ENOMEM;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return SIFT_ENOMEM;
    if (EVP_MD_CTX_copy_ex(c, r->hmac_inner) != 1 ||
        EVP_DigestUpdate(c, p, len) != 1 ||
        EVP_DigestFinal_ex(c, inner, &n) != 1 ||
        EVP_MD_CTX_copy_ex(c, r->hmac_outer) != 1 ||
        EVP_DigestUpdate(c, inner, n) != 1 ||
        EVP_DigestFinal_ex(c, md, &n) != 1)
        goto out;
    rc = SIFT_OK;
out:
    EVP_MD_CTX_free(c);
    return rc;
}

static int
hmac_prime(struct sift_redact *r, const char *key, size_t key_len)
{
    enum { BLOCK = 64 }; /* SHA-256 block size */
    unsigned char k[BLOCK], pad[BLOCK];
    memset(k, 0, sizeof k);
    if (key_len > BLOCK) {
        unsigned int n = 0;
        if (EVP_Digest(key, key_len, k, &n, EVP_sha256(), NULL) != 1)
            return SIFT_ENOMEM;
    } else {
        memcpy(k, key, key_len);
    }
    r->hmac_inner = EVP_MD_CTX_new();
    r->hmac_outer = EVP_MD_CTX_new();
    int ok = r->hmac_inner && r->hmac_outer;
    for (int pass = 0; ok && pass < 2; pass++) {
        EVP_MD_CTX *c = pass ? r->hmac_outer : r->hmac_inner;
        for (size_t i = 0; i < BLOCK; i++)
            pad[i] = (unsigned char)(k[i] ^ (pass ? 0x5c : 0x36));
        ok = EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, pad, BLOCK) == 1;
    }
    OPENSSL_cleanse(k, sizeof k);
    OPENSSL_cleanse(pad, sizeof pad);
    return ok ? SIFT_OK : SIFT_ENOMEM;
}

static int
append_replacement(const struct sift_redact *r, const struct rule *ru,
                   const char *s, size_t len, struct sift_buf *out)
{
    char tmp[RULE_NAME_MAX + 80];
    int n;
    if (!r->hash_mode) {
        n = snprintf(tmp, sizeof tmp, "[REDACTED:%s]", ru->name);
    } else {
        static const char hex[] = "0123456789abcdef";
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned char in[1024];
        size_t in_len = hash_input(ru, s, len, in, sizeof in);
        int rc = keyed_hash(r, in, in_len, md);
        OPENSSL_cleanse(in, in_len);
        if (rc < 0)
            return rc;
        char hx[65];
        unsigned nh = r->hash_hex_len;
        for (unsigned i = 0; i < nh; i++)
            hx[i] = hex[(md[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
        hx[nh] = '\0';
        n = snprintf(tmp, sizeof tmp, "[%s:%s]", ru->name, hx);
    }
    if (n < 0)
        return SIFT_EINVAL;
    return sift_buf_try_append(out, tmp, (size_t)n);
}

static int
targets_match(const struct targets *t, const char *name, size_t len)
{
    if (t->all)
        return 1;
    if (!name)
        return t->message;
    for (size_t i = 0; i < t->n_names; i++) {
        const char *p = t->names[i];
        size_t pl = strlen(p);
        if (pl >= 2 && p[pl - 1] == '*' && p[pl - 2] == '.') {
            if (len >= pl - 1 && memcmp(name, p, pl - 1) == 0)
                return 1;
        } else if (pl == len && memcmp(name, p, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int
sift_redact_apply(const struct sift_redact *r, const char *target,
                  size_t target_len, const char *s, size_t len,
                  struct sift_buf *out, int *changed)
{
    assert(r && out && changed && (s || !len));
    *changed = 0;
    if (len == 0 || r->n_rules == 0)
        return SIFT_OK;
    if (target && target_len == 7 && memcmp(target, "message", 7) == 0)
        target = NULL;

    struct spans sp;
    sp.v = sp.local;
    sp.n = 0;
    sp.cap = LOCAL_SPANS;
    sp.oom = 0;
    pcre2_match_data *md = NULL;
    struct secret_rules sr;
    memset(&sr, 0, sizeof sr);
    int rc = SIFT_OK;

    for (uint32_t i = 0; i < r->n_rules; i++) {
        const struct rule *ru = &r->rules[i];
        if (!targets_match(ru->tg, target, target_len))
            continue;
        switch (ru->kind) {
        case K_EMAIL: scan_email(s, len, i, &sp); break;
        case K_IPV4: scan_ipv4(s, len, i, &sp); break;
        case K_IPV6: scan_ipv6(s, len, i, &sp); break;
        case K_CARD: scan_card(s, len, i, &sp); break;
        case K_BEARER: scan_bearer(s, len, i, &sp); break;
        case K_AWS:
            sr.aws = 1;
            sr.aws_idx = i;
            break;
        case K_SLACK:
            sr.slack = 1;
            sr.slack_idx = i;
            break;
        case K_GITHUB:
            sr.github = 1;
            sr.github_idx = i;
            break;
        case K_STRIPE:
            sr.stripe = 1;
            sr.stripe_idx = i;
            break;
        case K_USER: scan_user(r, ru, i, s, len, &md, &sp); break;
        }
    }
    if (sr.aws || sr.github || sr.slack || sr.stripe)
        scan_secrets(s, len, &sr, &sp);
    if (md)
        pcre2_match_data_free(md);
    if (sp.oom) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    if (sp.n == 0)
        goto out;

    if (sp.n > 1)
        qsort(sp.v, sp.n, sizeof *sp.v, span_cmp);
    sift_buf_reset(out);
    rc = sift_buf_try_reserve(out, len + 32);
    if (rc < 0)
        goto out;
    size_t prev = 0;
    for (size_t k = 0; k < sp.n; k++) {
        const struct span *x = &sp.v[k];
        if (x->start < prev)
            continue; /* overlaps a kept span */
        const struct rule *ru = &r->rules[x->rule];
        rc = sift_buf_try_append(out, s + prev, x->start - prev);
        if (rc == SIFT_OK)
            rc =
                append_replacement(r, ru, s + x->start, x->end - x->start, out);
        if (rc < 0)
            goto out;
        atomic_fetch_add_explicit(&r->counts[x->rule].v, 1,
                                  memory_order_relaxed);
        prev = x->end;
    }
    rc = sift_buf_try_append(out, s + prev, len - prev);
    if (rc == SIFT_OK)
        *changed = 1;
out:
    if (sp.v != sp.local)
        sift_free(sp.v);
    return rc;
}

int
sift_redact_event(const struct sift_redact *r, struct sift_event *ev,
                  struct sift_arena *arena, struct sift_buf *scratch,
                  unsigned *n_changed)
{
    unsigned n = 0;
    int changed = 0;
    int rc =
        sift_redact_apply(r, NULL, 0, ev->msg, ev->msg_len, scratch, &changed);
    if (rc < 0)
        goto out;
    if (changed) {
        char *p = sift_arena_try_alloc(arena, scratch->len ? scratch->len : 1);
        if (!p || scratch->len > UINT32_MAX) {
            rc = SIFT_ENOMEM;
            goto out;
        }
        memcpy(p, scratch->data, scratch->len);
        ev->msg = p;
        ev->msg_len = (uint32_t)scratch->len;
        n++;
    }
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        struct sift_field *f = &ev->fields[i];
        rc = sift_redact_apply(r, f->name, f->name_len, f->value, f->value_len,
                               scratch, &changed);
        if (rc < 0)
            goto out;
        if (!changed)
            continue;
        char *p = sift_arena_try_alloc(arena, scratch->len ? scratch->len : 1);
        if (!p || scratch->len > UINT32_MAX) {
            rc = SIFT_ENOMEM;
            goto out;
        }
        memcpy(p, scratch->data, scratch->len);
        f->value = p;
        f->value_len = (uint32_t)scratch->len;
        if (f->type == SIFT_FT_NUMBER)
            f->type = SIFT_FT_KEYWORD;
        n++;
    }
out:
    if (n_changed)
        *n_changed = n;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

static void
targets_cleanup(struct targets *t)
{
    for (size_t i = 0; i < t->n_names; i++)
        sift_free(t->names[i]);
    sift_free(t->names);
    memset(t, 0, sizeof *t);
}

/* Parses a comma list of targets ("*", "message", "a.b", "user.*"). */
static int
targets_parse(struct targets *t, const char *s, size_t len, const char *what,
              char *err, size_t err_len)
{
    memset(t, 0, sizeof *t);
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t st = i;
        while (i < len && s[i] != ',' && s[i] != ' ' && s[i] != '\t')
            i++;
        size_t n = i - st;
        if (!n)
            continue;
        if (n == 1 && s[st] == '*') {
            t->all = 1;
        } else if (n == 7 && memcmp(s + st, "message", 7) == 0) {
            t->message = 1;
        } else {
            for (size_t k = st; k < i; k++) {
                unsigned char c = (unsigned char)s[k];
                if (!(is_word(c) || c == '.' || c == '-' || c == '@' ||
                      (c == '*' && k == i - 1 && k > st && s[k - 1] == '.'))) {
                    sift_errbuf_printf(err, err_len, "%s: bad target '%.*s'",
                                       what, (int)n, s + st);
                    return SIFT_ECONFIG;
                }
            }
            t->names =
                sift_xrealloc(t->names, (t->n_names + 1) * sizeof *t->names);
            t->names[t->n_names++] = sift_xstrndup(s + st, n);
        }
    }
    return SIFT_OK;
}

static struct rule *
add_rule(struct sift_redact *r, const char *name, size_t name_len,
         enum rule_kind kind, char *err, size_t err_len)
{
    if (r->n_rules >= SIFT_REDACT_MAX_RULES) {
        sift_errbuf_printf(err, err_len, "redact: more than %d rules",
                           SIFT_REDACT_MAX_RULES);
        return NULL;
    }
    for (size_t i = 0; i < r->n_rules; i++) {
        if (strlen(r->rules[i].name) == name_len &&
            memcmp(r->rules[i].name, name, name_len) == 0) {
            sift_errbuf_printf(err, err_len,
                               "redact: duplicate rule name '%.*s'",
                               (int)name_len, name);
            return NULL;
        }
    }
    struct rule *ru = &r->rules[r->n_rules++];
    memset(ru, 0, sizeof *ru);
    memcpy(ru->name, name, name_len);
    ru->kind = kind;
    ru->tg = &r->builtin_tg;
    return ru;
}

static int
parse_builtins(struct sift_redact *r, const char *s, char *err, size_t err_len)
{
    int want[N_BUILTINS] = {0};
    if (!s)
        s = "all";
    size_t len = strlen(s), i = 0;
    while (i < len) {
        while (i < len && (s[i] == ',' || s[i] == ' ' || s[i] == '\t'))
            i++;
        size_t st = i;
        while (i < len && s[i] != ',' && s[i] != ' ' && s[i] != '\t')
            i++;
        size_t n = i - st;
        if (!n)
            continue;
        int found = 0;
        for (size_t k = 0; k < N_BUILTINS; k++) {
            const char *bn = builtin_defs[k].name;
            int all = n == 3 && memcmp(s + st, "all", 3) == 0;
            int secret = n == 6 && memcmp(s + st, "secret", 6) == 0;
            if (all || (secret && builtin_defs[k].secret) ||
                (strlen(bn) == n && memcmp(bn, s + st, n) == 0)) {
                want[k] = 1;
                found = 1;
            }
        }
        if (n == 4 && memcmp(s + st, "none", 4) == 0)
            found = 1;
        if (!found) {
            sift_errbuf_printf(
                err, err_len,
                "redact.builtins: unknown builtin '%.*s' (known: email, "
                "ipv4, ipv6, card, secret, bearer, aws_key, github_token, "
                "slack_token, stripe_key, all, none)",
                (int)n, s + st);
            return SIFT_ECONFIG;
        }
    }
    for (size_t k = 0; k < N_BUILTINS; k++) {
        if (want[k] &&
            !add_rule(r, builtin_defs[k].name, strlen(builtin_defs[k].name),
                      builtin_defs[k].kind, err, err_len))
            return SIFT_ECONFIG;
    }
    return SIFT_OK;
}

/* One user rule line: "<name>[@targets] <regex>". */
static int
parse_rule_line(struct sift_redact *r, const char *line, size_t len,
                size_t line_no, char *err, size_t err_len)
{
    size_t i = 0;
    while (i < len && (is_word((unsigned char)line[i]) || line[i] == '-'))
        i++;
    size_t name_len = i;
    if (name_len == 0 || name_len > RULE_NAME_MAX) {
        sift_errbuf_printf(err, err_len,
                           "redact.rules: line %zu: rule name must be 1..%d of "
                           "[A-Za-z0-9_-]",
                           line_no, RULE_NAME_MAX);
        return SIFT_ECONFIG;
    }
    size_t tg_start = 0, tg_len = 0;
    if (i < len && line[i] == '@') {
        tg_start = ++i;
        while (i < len && line[i] != ' ' && line[i] != '\t')
            i++;
        tg_len = i - tg_start;
    }
    if (i >= len || (line[i] != ' ' && line[i] != '\t')) {
        sift_errbuf_printf(
            err, err_len,
            "redact.rules: line %zu: expected '<name>[@targets] <regex>'",
            line_no);
        return SIFT_ECONFIG;
    }
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i >= len) {
        sift_errbuf_printf(err, err_len, "redact.rules: line %zu: empty regex",
                           line_no);
        return SIFT_ECONFIG;
    }
    struct rule *ru = add_rule(r, line, name_len, K_USER, err, err_len);
    if (!ru)
        return SIFT_ECONFIG;
    if (tg_start) {
        char what[64];
        snprintf(what, sizeof what, "redact.rules: line %zu", line_no);
        int rc = targets_parse(&ru->own_tg, line + tg_start, tg_len, what, err,
                               err_len);
        if (rc < 0)
            return rc;
        ru->tg = &ru->own_tg;
    }
    int ecode;
    PCRE2_SIZE eoff;
    ru->code =
        pcre2_compile((PCRE2_SPTR)(line + i), len - i, 0, &ecode, &eoff, NULL);
    if (!ru->code) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        sift_errbuf_printf(
            err, err_len, "redact.rules: line %zu: rule '%s': %s at offset %zu",
            line_no, ru->name, (const char *)msg, (size_t)eoff);
        return SIFT_ECONFIG;
    }
    /* JIT is an optimisation: when it is not available, interpret. */
    (void)pcre2_jit_compile(ru->code, PCRE2_JIT_COMPLETE);
    return SIFT_OK;
}

static int
parse_rules(struct sift_redact *r, const char *s, char *err, size_t err_len)
{
    size_t len = strlen(s), pos = 0, line_no = 0;
    while (pos < len) {
        const char *line = s + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        line_no++;
        while (n && (line[0] == ' ' || line[0] == '\t')) {
            line++;
            n--;
        }
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' ||
                     line[n - 1] == '\r'))
            n--;
        if (!n || line[0] == '#')
            continue;
        int rc = parse_rule_line(r, line, n, line_no, err, err_len);
        if (rc < 0)
            return rc;
    }
    return SIFT_OK;
}

int
sift_redact_new(const struct sift_redact_opts *opts, struct sift_redact **out,
                char *err, size_t err_len)
{
    assert(opts && out);
    *out = NULL;
    if (err && err_len)
        err[0] = '\0';
    struct sift_redact *r = sift_xcalloc(1, sizeof *r);
    r->counts = sift_xcalloc(SIFT_REDACT_MAX_RULES, sizeof *r->counts);
    for (size_t i = 0; i < SIFT_REDACT_MAX_RULES; i++)
        atomic_init(&r->counts[i].v, 0);
    int rc;
    const char *fields = opts->fields ? opts->fields : "*";
    rc = targets_parse(&r->builtin_tg, fields, strlen(fields), "redact.fields",
                       err, err_len);
    if (rc < 0)
        goto out;
    if (!r->builtin_tg.all && !r->builtin_tg.message &&
        !r->builtin_tg.n_names) {
        sift_errbuf_printf(err, err_len,
                           "redact.fields: empty (use * or message)");
        rc = SIFT_ECONFIG;
        goto out;
    }
    if (!opts->mode || strcmp(opts->mode, "marker") == 0) {
        r->hash_mode = 0;
    } else if (strcmp(opts->mode, "hash") == 0) {
        r->hash_mode = 1;
        size_t kl = opts->hash_key ? strlen(opts->hash_key) : 0;
        if (kl < MIN_HASH_KEY_LEN) {
            sift_errbuf_printf(
                err, err_len,
                "redact.hash_key: mode=hash needs a key of at least %d "
                "bytes",
                MIN_HASH_KEY_LEN);
            rc = SIFT_ECONFIG;
            goto out;
        }
        rc = hmac_prime(r, opts->hash_key, kl);
        if (rc < 0)
            goto out;
    } else {
        sift_errbuf_printf(err, err_len,
                           "redact.mode: '%s' is not marker or hash",
                           opts->mode);
        rc = SIFT_ECONFIG;
        goto out;
    }
    r->hash_hex_len = opts->hash_hex_len ? opts->hash_hex_len : 8;
    if (r->hash_hex_len < 4 || r->hash_hex_len > 64) {
        sift_errbuf_printf(err, err_len,
                           "redact.hash_length: must be 4..64 hex digits");
        rc = SIFT_ECONFIG;
        goto out;
    }
    rc = parse_builtins(r, opts->builtins, err, err_len);
    if (rc < 0)
        goto out;
    if (opts->rules) {
        rc = parse_rules(r, opts->rules, err, err_len);
        if (rc < 0)
            goto out;
    }
    r->mctx = pcre2_match_context_create(NULL);
    if (!r->mctx) {
        rc = SIFT_ENOMEM;
        goto out;
    }
    pcre2_set_match_limit(r->mctx, PCRE2_MATCH_LIMIT);
    pcre2_set_depth_limit(r->mctx, PCRE2_MATCH_LIMIT / 10);
    *out = r;
    r = NULL;
out:
    sift_redact_free(r);
    return rc;
}

void
sift_redact_free(struct sift_redact *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_rules; i++) {
        pcre2_code_free(r->rules[i].code);
        targets_cleanup(&r->rules[i].own_tg);
    }
    targets_cleanup(&r->builtin_tg);
    EVP_MD_CTX_free(r->hmac_inner);
    EVP_MD_CTX_free(r->hmac_outer);
    pcre2_match_context_free(r->mctx);
    sift_free(r->counts);
    sift_free(r);
}

size_t
sift_redact_n_rules(const struct sift_redact *r)
{
    return r->n_rules;
}

const char *
sift_redact_rule_name(const struct sift_redact *r, size_t i)
{
    assert(i < r->n_rules);
    return r->rules[i].name;
}

uint64_t
sift_redact_rule_count(const struct sift_redact *r, size_t i)
{
    assert(i < r->n_rules);
    return atomic_load_explicit(&r->counts[i].v, memory_order_relaxed);
}

void
sift_redact_metrics_collect(struct sift_buf *out, void *arg)
{
    const struct sift_redact *r = arg;
    sift_metrics_family(out, "sift_redactions_total", SIFT_METRIC_COUNTER,
                        "Values replaced by PII redaction, per rule.");
    for (size_t i = 0; i < r->n_rules; i++) {
        const char *labels[] = {"rule", r->rules[i].name, NULL};
        sift_metrics_sample(out, "sift_redactions_total", labels,
                            (double)sift_redact_rule_count(r, i));
    }
}
