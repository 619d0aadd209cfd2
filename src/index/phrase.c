/*
 * phrase.c - whether a message shape holds a phrase (sift/phrase.h).
 *
 * Design: one pass over the shape's pieces with the slots in between,
 * tokenized by the rules of tokenize.c (a token is a maximal run of ASCII
 * letters, digits and bytes >= 0x80, lowercased, cut at SIFT_TOKEN_MAX)
 * where a slot stands for at least one unknown letter or digit.  Each
 * token is constant (no slot before the cut: its bytes are known) or
 * varying.  Two shift-and states run over the tokens as in the query's
 * phrase check: bit j of `sure` is set when the last j + 1 tokens are
 * constant and equal the phrase's first j + 1 words, bit j of `may` when
 * they are equal or varying and compatible.  A varying token is
 * compatible with a word that starts with its constant bytes before the
 * first slot and is longer than them; a token that is exactly one slot
 * also needs the word to be ASCII letters and digits with a digit (what
 * a slot value is; a word of SIFT_TOKEN_MAX bytes may have lost its digit
 * to the cut).  The shape of one slot between empty pieces is the
 * builder's verbatim shape too (any text), hence always MAYBE.
 *
 * sift_phrase_plan() runs the same scan and also lists, for a MAYBE
 * shape, every alignment that fits: a ring of the last n tokens keeps
 * each one's kind (constant, exactly one slot, partly a slot) and slot
 * number, so when the `may` state completes, the words that fall on
 * one-slot tokens become (slot, word) requirements and a word on a
 * token that is partly a slot marks the alignment open.
 *
 * Invariants: ALWAYS only when every message of the shape holds the
 * phrase; NEVER only when none can.  Everything else is MAYBE.  A plan
 * lists every alignment that may fit (a message holds the phrase iff
 * one of them holds in it).
 *
 * Threads: pure, any thread.
 */
#include <string.h>

#include "sift/buf.h"
#include "sift/error.h"
#include "sift/phrase.h"
#include "sift/tokenize.h"

enum { TK_CONST, TK_SLOT, TK_PART };

struct ring_tok {
    uint8_t kind;  /* TK_* */
    uint16_t slot; /* TK_SLOT: the slot number (0-based) */
};

struct scan {
    const char *const *toks;
    const size_t *lens;
    uint32_t n;
    uint64_t sure, may, done_bit;
    int always, maybe;
    /* the open token */
    int in_tok;
    size_t len;   /* bytes so far (exact while no slot came before) */
    size_t pre;   /* constant bytes before the first slot */
    int var;      /* a slot lies before the cut */
    int one_slot; /* the token is exactly one slot so far */
    char buf[SIFT_TOKEN_MAX];
    uint32_t slots_seen; /* slots met so far */
    uint32_t tok_slot;   /* the slot that opened the open token */
    /* plan output (sift_phrase_plan), NULL when not asked */
    struct sift_phrase_align *al;
    struct sift_phrase_req *req;
    uint32_t al_cap, req_cap, n_al, n_req;
    int overflow;
    uint32_t n_seen; /* tokens ended */
    struct ring_tok ring[SIFT_PHRASE_MAX_TOKENS];
};

/* Records the alignment that ends at the token just ended. */
static void
plan_add(struct scan *s)
{
    if (s->n_al == s->al_cap) {
        s->overflow = 1;
        return;
    }
    struct sift_phrase_align *a = &s->al[s->n_al];
    a->first = s->n_req;
    a->n = 0;
    a->open = 0;
    for (uint32_t j = 0; j < s->n; j++) {
        uint32_t at = (s->n_seen - s->n + j) % SIFT_PHRASE_MAX_TOKENS;
        const struct ring_tok *t = &s->ring[at];
        if (t->kind == TK_PART) {
            a->open = 1;
        } else if (t->kind == TK_SLOT) {
            if (s->n_req == s->req_cap) {
                s->overflow = 1;
                return;
            }
            s->req[s->n_req].slot = t->slot;
            s->req[s->n_req].word = (uint16_t)j;
            s->n_req++;
            a->n++;
        }
    }
    s->n_al++;
}

static int
tok_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           c >= 0x80;
}

/* A slot value could tokenize to w: ASCII letters and digits with a
 * digit (lowercased: no upper-case letter); the digit may lie past the
 * cut of a long one. */
static int
slot_word(const char *w, size_t len)
{
    int digit = len >= SIFT_TOKEN_MAX;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)w[i];
        if (c >= '0' && c <= '9')
            digit = 1;
        else if (!(c >= 'a' && c <= 'z'))
            return 0;
    }
    return digit;
}

static void
tok_end(struct scan *s)
{
    if (!s->in_tok)
        return;
    s->in_tok = 0;
    uint64_t eq_s = 0, eq_m = 0;
    size_t tl = s->len < SIFT_TOKEN_MAX ? s->len : SIFT_TOKEN_MAX;
    for (uint32_t j = 0; j < s->n; j++) {
        const char *w = s->toks[j];
        size_t wl = s->lens[j];
        if (!s->var) {
            if (wl == tl && memcmp(w, s->buf, wl) == 0) {
                eq_s |= UINT64_C(1) << j;
                eq_m |= UINT64_C(1) << j;
            }
        } else if (wl > s->pre && memcmp(w, s->buf, s->pre) == 0 &&
                   (!s->one_slot || slot_word(w, wl))) {
            eq_m |= UINT64_C(1) << j;
        }
    }
    s->sure = ((s->sure << 1) | 1) & eq_s;
    s->may = ((s->may << 1) | 1) & eq_m;
    if (s->al != NULL) {
        struct ring_tok *t = &s->ring[s->n_seen % SIFT_PHRASE_MAX_TOKENS];
        t->kind = !s->var ? TK_CONST : s->one_slot ? TK_SLOT : TK_PART;
        t->slot = (uint16_t)s->tok_slot;
    }
    s->n_seen++;
    if (s->sure & s->done_bit)
        s->always = 1;
    if (s->may & s->done_bit) {
        s->maybe = 1;
        if (s->al != NULL && !s->always && !s->overflow)
            plan_add(s);
    }
}

static void
tok_bytes(struct scan *s, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (!tok_byte(c)) {
            tok_end(s);
            continue;
        }
        if (!s->in_tok) {
            s->in_tok = 1;
            s->len = s->pre = 0;
            s->var = 0;
            s->one_slot = 0;
        }
        s->one_slot = 0;
        if (s->len < SIFT_TOKEN_MAX && !s->var) {
            s->buf[s->len] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
            s->pre = s->len + 1;
        }
        s->len++;
    }
}

static void
tok_slot(struct scan *s)
{
    if (!s->in_tok) {
        s->in_tok = 1;
        s->len = s->pre = 0;
        s->var = 0;
        s->one_slot = 1;
        s->tok_slot = s->slots_seen;
    } else {
        s->one_slot = 0;
    }
    if (s->len < SIFT_TOKEN_MAX)
        s->var = 1; /* the slot's bytes are inside the cut */
    s->len++;       /* at least one byte; exact no more */
    s->slots_seen++;
}

static int
scan_shape(struct scan *s, const uint8_t *p, size_t len, uint32_t k,
           const char *const *toks, const size_t *lens, uint32_t n)
{
    if (n == 0 || n > SIFT_PHRASE_MAX_TOKENS)
        return 0;
    s->toks = toks;
    s->lens = lens;
    s->n = n;
    s->done_bit = UINT64_C(1) << (n - 1);
    const uint8_t *end = p + len;
    int all_empty = 1;
    for (uint32_t i = 0; i <= k; i++) {
        uint64_t l;
        if (sift_get_varint(&p, end, &l) != SIFT_OK || l > (uint64_t)(end - p))
            return 0;
        all_empty &= l == 0;
        tok_bytes(s, p, (size_t)l);
        p += l;
        if (i < k)
            tok_slot(s);
        if (s->always)
            break;
    }
    tok_end(s);
    if (k == 1 && all_empty) {
        s->overflow = 1;          /* any text: no plan */
        return SIFT_PHRASE_MAYBE; /* also the verbatim shape */
    }
    if (s->always)
        return SIFT_PHRASE_ALWAYS;
    return s->maybe ? SIFT_PHRASE_MAYBE : SIFT_PHRASE_NEVER;
}

int
sift_phrase_shape(const uint8_t *p, size_t len, uint32_t k,
                  const char *const *toks, const size_t *lens, uint32_t n)
{
    struct scan s;
    memset(&s, 0, sizeof(s));
    return scan_shape(&s, p, len, k, toks, lens, n);
}

int
sift_phrase_plan(const uint8_t *p, size_t len, uint32_t k,
                 const char *const *toks, const size_t *lens, uint32_t n,
                 struct sift_phrase_align *al, uint32_t al_cap,
                 struct sift_phrase_req *req, uint32_t req_cap, uint32_t *n_al)
{
    struct scan s;
    memset(&s, 0, sizeof(s));
    s.al = al;
    s.req = req;
    s.al_cap = al_cap;
    s.req_cap = req_cap;
    *n_al = 0;
    int c = scan_shape(&s, p, len, k, toks, lens, n);
    if (c == SIFT_PHRASE_MAYBE && !s.overflow)
        *n_al = s.n_al;
    return c;
}
