/*
 * drain.c - log template mining (Drain-style), see include/sift/drain.h.
 *
 * Design.  A message is cut into at most SIFT_DRAIN_MAX_TOKENS whitespace
 * tokens.  Each token is masked by type (mask_token): a URL becomes
 * "<url>", a path "<path>", an IPv4 address "<ip>", a UUID "<uuid>", a
 * number "<num>", a hex value "<hex>" (brackets and punctuation around
 * them kept), digit runs inside words "<num>" ("ssh2" -> "ssh<num>"); a
 * token left with several masks and punctuation only (times, versions)
 * collapses to "<*>".  Masked tokens are hashed (XXH3) and compared by
 * hash; typed masks are constants, "<*>" is the wildcard.
 *
 * Drain's fixed-depth tree (length layer, then key_tokens prefix layers)
 * is flattened into one hash table of leaves keyed by (token count, key
 * tokens); a key token that is a wildcard or holds a mask is "*".  A
 * message looks at the leaves for every combination of its keys and "*"
 * (at most four) and picks the template with the highest similarity
 *   sim = (positions equal or template "<*>"  -  word conflicts) / tokens,
 * ties to the template with more constant tokens.  A word conflict is a
 * position where template and message hold two different plain words
 * (letters only): "VM Started" / "VM Paused" are usually two events,
 * while values that differ in digits or punctuation are usually one
 * variable.  Counting such a position against the match (not just as
 * "not equal") is sift's addition to Drain; it lifts mean grouping
 * accuracy on loghub-2k from 0.930 to 0.938 (docs/anomaly.md).  At sim >=
 * threshold the template absorbs the message (differing positions become
 * "<*>") unless that would leave it no constant token (a template of
 * wildcards only groups unrelated lines); otherwise a new template is
 * created in the message's own leaf.
 * Which tokens are plain words is kept as a 64-bit mask per template and
 * computed once per message, so the comparison loop only tests bits.
 *
 * Shape cache.  Most messages repeat a shape already seen (same masked
 * tokens).  A direct-mapped cache maps the hash of the masked text to the
 * template that absorbed it without changing; it is valid only while no
 * template changed, was added or was removed since (a generation
 * counter), so a hit returns exactly what the full match would, and a
 * message then costs one scan and one hash.  Per-token hashes are
 * computed only on a miss.
 *
 * Merges.  Two clusters whose tokens become identical (found through a
 * table keyed by the hash of all token hashes) are one: the higher id is
 * merged into the lower.  Callers merge too (sift_drain_merge: header
 * learning re-mines a source's first lines).  A merged id becomes an
 * alias of the id it was merged into; aliases that named it follow, so
 * an alias always names a template (live or evicted) directly.
 *
 * Invariants.  A cluster's id never changes; ids come from next_id and are
 * never reused, also after eviction or a merge.  Every live cluster is in
 * exactly one leaf list, in the id table, the shape table and the LRU
 * list (head = most recent).  n_clusters <= max_templates after every
 * call.
 *
 * Thread: not thread-safe; owned by one thread (siftd: the loop thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/drain.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/statefile.h"

#define DEFAULT_MAX_TEMPLATES 10000u
#define DEFAULT_SIM 0.7 /* tuned on loghub-2k, see docs/anomaly.md */
#define DEFAULT_KEY_TOKENS 2u
#define WILD "<*>"
#define WILD_LEN 3u
#define MASK_MAX (SIFT_DRAIN_MAX_BYTES * 6u + 16u) /* "1" -> "<num>" */

_Static_assert(SIFT_DRAIN_MAX_TOKENS <= 64, "word masks are 64-bit");

struct cluster {
    uint32_t id;
    uint32_t n_tokens;
    uint64_t count;
    int64_t first_seen_ns;
    int64_t last_seen_ns;
    uint64_t leaf_key;
    struct cluster *leaf_next; /* same leaf */
    struct cluster *id_next;   /* same id bucket */
    struct cluster *lru_prev;  /* towards the head (more recent) */
    struct cluster *lru_next;
    char *text; /* owned; tokens joined by ' ' */
    uint32_t text_len;
    uint32_t *tok_off; /* into text; n_tokens entries */
    uint32_t *tok_len;
    uint64_t *tok_hash;
    uint64_t word_mask;         /* bit k: token k is a plain word (is_word) */
    uint64_t shape;             /* hash of n_tokens and every token hash */
    struct cluster *shape_next; /* same shape bucket */
};

/*
 * Match cache: masked message (its token hashes) -> the cluster that
 * absorbed it without changing.  An entry is valid only while gen is the
 * miner's gen, which moves on every change to any cluster's tokens or to
 * the set of clusters (insert, generalize, evict, load): with none of
 * those, best_match() would pick the same cluster again, so a hit returns
 * exactly what the full match would.
 */
#define CACHE_SLOTS 4096u /* power of two */

struct cache_slot {
    uint64_t key;
    uint64_t gen;
    struct cluster *c;
};

struct leaf {
    uint64_t key;
    struct cluster *head;
    struct leaf *next;
};

struct sift_drain {
    uint32_t max_templates;
    uint32_t key_tokens;
    double sim;
    uint32_t next_id;
    uint32_t n_clusters;
    uint64_t n_evicted;
    struct leaf **leaves; /* chained, n_leaf_buckets */
    uint32_t n_leaf_buckets;
    uint32_t n_leaves;
    struct cluster **ids; /* chained, n_id_buckets */
    uint32_t n_id_buckets;
    struct cluster *lru_head;
    struct cluster *lru_tail;
    struct cluster **shapes; /* chained by shape, n_id_buckets */
    /* Aliases: ids merged away, in merge order, each with the id it now
     * names (always a live or evicted id, never another alias). */
    uint32_t *al_from;
    uint32_t *al_to;
    uint32_t *al_idx; /* open addressing, 2 * cap_alias: index + 1 */
    uint32_t n_alias, cap_alias;
    uint64_t n_merged;
    uint64_t gen; /* see struct cache_slot; starts at 1 */
    struct cache_slot cache[CACHE_SLOTS];
    /* Scratch for the message being mined (fixed size). */
    char mask[MASK_MAX];
    uint32_t n_tok;
    uint32_t off[SIFT_DRAIN_MAX_TOKENS];
    uint32_t len[SIFT_DRAIN_MAX_TOKENS];
    uint64_t hash[SIFT_DRAIN_MAX_TOKENS];
    uint64_t key; /* hash of the masked text, see scan() */
    /* What the last sift_drain_load() could not read. */
    uint32_t load_bad_lines;
    int load_header_bad;
};

static uint64_t wild_hash;

/* ------------------------------------------------------------------ */
/* Masking                                                              */
/* ------------------------------------------------------------------ */

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A word: letters only, maybe one trailing '.', ',', ':' or ';'. */
static int
is_word(const char *t, uint32_t n)
{
    if (n && (t[n - 1] == '.' || t[n - 1] == ',' || t[n - 1] == ':' ||
              t[n - 1] == ';'))
        n--;
    if (n == 0)
        return 0;
    for (uint32_t i = 0; i < n; i++)
        if (!is_alpha(t[i]))
            return 0;
    return 1;
}

/* Bit k set when token k is a plain word (is_word). */
static uint64_t
words_mask(uint32_t n, const char *const *tok, const uint32_t *len)
{
    uint64_t m = 0;
    for (uint32_t k = 0; k < n; k++)
        if (is_word(tok[k], len[k]))
            m |= UINT64_C(1) << k;
    return m;
}

static int
has_substr(const char *t, size_t n, const char *s)
{
    size_t sl = strlen(s);
    for (size_t i = 0; i + sl <= n; i++)
        if (memcmp(t + i, s, sl) == 0)
            return 1;
    return 0;
}

/* A path: the first non-bracket/quote character is '/' and another '/'
 * follows, or it starts with "./", "../" or "~/". */
static int
looks_like_path(const char *t, size_t n)
{
    size_t i = 0;
    while (i < n && (t[i] == '(' || t[i] == '[' || t[i] == '"' ||
                     t[i] == '\'' || t[i] == '<' || t[i] == '{'))
        i++;
    if (i + 1 < n && t[i] == '/') {
        for (size_t j = i + 1; j < n; j++)
            if (t[j] == '/')
                return 1;
        return 0;
    }
    if (i + 1 < n && (t[i] == '~' || t[i] == '.') && t[i + 1] == '/')
        return 1;
    if (i + 2 < n && t[i] == '.' && t[i + 1] == '.' && t[i + 2] == '/')
        return 1;
    return 0;
}

/* Typed masks: what a masked value was.  "<*>" is also what the miner
 * writes where a template's lines differ. */
#define M_NUM "<num>"
#define M_HEX "<hex>"
#define M_IP "<ip>"
#define M_UUID "<uuid>"
#define M_PATH "<path>"
#define M_URL "<url>"

/* Appends mask m (a string literal) at out + o; returns the new end. */
#define put(out, o, m)                                                         \
    (memcpy((out) + (o), (m), sizeof(m) - 1), (o) + sizeof(m) - 1)

static int
is_open(char c)
{
    return c == '(' || c == '[' || c == '{' || c == '<' || c == '"' ||
           c == '\'';
}

static int
is_close(char c)
{
    return c == ')' || c == ']' || c == '}' || c == '>' || c == '"' ||
           c == '\'' || c == ',' || c == ';' || c == ':' || c == '.';
}

/* n digits exactly (1..max) at t[*i]. */
static size_t
digit_run(const char *t, size_t n, size_t i)
{
    size_t j = i;
    while (j < n && is_digit(t[j]))
        j++;
    return j - i;
}

/* IPv4 (a.b.c.d, optional :port) is t[0..n) exactly. */
static int
is_ipv4(const char *t, size_t n)
{
    size_t i = 0;
    for (int g = 0; g < 4; g++) {
        size_t d = digit_run(t, n, i);
        if (d == 0 || d > 3)
            return 0;
        i += d;
        if (g < 3) {
            if (i >= n || t[i] != '.')
                return 0;
            i++;
        }
    }
    if (i < n && t[i] == ':') {
        size_t d = digit_run(t, n, i + 1);
        if (d == 0)
            return 0;
        i += 1 + d;
    }
    return i == n;
}

/* A UUID (8-4-4-4-12 hex) is t[0..n) exactly. */
static int
is_uuid(const char *t, size_t n)
{
    static const unsigned groups[5] = {8, 4, 4, 4, 12};
    if (n != 36)
        return 0;
    size_t i = 0;
    for (int g = 0; g < 5; g++) {
        for (unsigned k = 0; k < groups[g]; k++, i++)
            if (!is_hex(t[i]))
                return 0;
        if (g < 4 && t[i++] != '-')
            return 0;
    }
    return 1;
}

/* A decimal number (sign, digits, fraction) is t[0..n) exactly. */
static int
is_number(const char *t, size_t n)
{
    size_t i = (n > 1 && (t[0] == '-' || t[0] == '+')) ? 1 : 0;
    size_t d = digit_run(t, n, i);
    if (d == 0)
        return 0;
    i += d;
    if (i + 1 < n && t[i] == '.' && is_digit(t[i + 1]))
        i += 1 + digit_run(t, n, i + 1);
    return i == n;
}

/*
 * Masks one token t[0..n) into out (room for 6 * n + 8 bytes); returns
 * the masked length.  Pure.  Values become typed masks: a URL <url>, a
 * path <path>, an IPv4 address <ip>, a UUID <uuid>, a number <num>, a
 * hex value (0x..., or 4+ hex digits holding a digit) <hex>, keeping the
 * brackets and punctuation around them; digit runs inside words become
 * <num> ("ssh2" -> "ssh<num>"); a token left with nothing but two or
 * more masks and punctuation (times, versions, lists of numbers) becomes
 * <*>.
 */
SIFT_STATIC size_t
mask_token(const char *t, size_t n, char *out)
{
    if (has_substr(t, n, "://"))
        return put(out, 0, M_URL);
    if (looks_like_path(t, n))
        return put(out, 0, M_PATH);
    /* A value between brackets or quotes or before punctuation. */
    size_t a = 0, b = n;
    while (a < b && is_open(t[a]))
        a++;
    while (b > a && is_close(t[b - 1]))
        b--;
    if (b > a && (is_digit(t[a]) || t[a] == '-' || t[a] == '+' ||
                  (b - a == 36 && is_hex(t[a])))) {
        size_t o = 0;
        if (is_ipv4(t + a, b - a))
            o = put(out, a, M_IP);
        else if (is_uuid(t + a, b - a))
            o = put(out, a, M_UUID);
        else if (is_number(t + a, b - a))
            o = put(out, a, M_NUM);
        if (o) {
            memcpy(out, t, a);
            memcpy(out + o, t + b, n - b);
            return o + n - b;
        }
    }
    size_t o = 0;
    int only_masks = 1; /* nothing but masks and punctuation so far */
    unsigned n_masks = 0;
    size_t i = 0;
    while (i < n) {
        if (!is_digit(t[i]) && !is_alpha(t[i])) {
            out[o++] = t[i++];
            continue;
        }
        size_t s = i;
        size_t n_dig = 0, n_alpha = 0, n_hexalpha = 0;
        while (i < n && (is_digit(t[i]) || is_alpha(t[i]))) {
            if (is_digit(t[i]))
                n_dig++;
            else {
                n_alpha++;
                if (is_hex(t[i]))
                    n_hexalpha++;
            }
            i++;
        }
        size_t rl = i - s;
        if (n_alpha == 0) {
            o = put(out, o, M_NUM);
            n_masks++;
            continue;
        }
        if ((rl > 2 && t[s] == '0' && (t[s + 1] == 'x' || t[s + 1] == 'X')) ||
            (n_dig > 0 && n_hexalpha == n_alpha && rl >= 4)) {
            o = put(out, o, M_HEX);
            n_masks++;
            continue;
        }
        only_masks = 0;
        /* A word with digits: keep the letters, mask each digit run. */
        for (size_t k = s; k < i;) {
            if (is_digit(t[k])) {
                while (k < i && is_digit(t[k]))
                    k++;
                o = put(out, o, M_NUM);
            } else {
                out[o++] = t[k++];
            }
        }
    }
    if (n_masks > 1 && only_masks)
        return put(out, 0, WILD);
    return o;
}

/*
 * Byte classes for scan(): SP is whitespace (space, tab, LF, VT, FF, CR,
 * what splits tokens); a token with no DG (digit) and no SL (':' or '/',
 * which every URL and path holds) is left as it is by mask_token(), so
 * scan() copies it without looking closer.
 */
enum { SP = 1, DG = 2, SL = 4 };
static const uint8_t byte_class[256] = {
    0, 0, 0, 0, 0, 0, 0, 0,  0,  SP, SP, SP, SP, SP, 0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  SP, 0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, SL, DG, DG, DG, DG, DG, DG, DG, DG, DG, DG, SL, 0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0,  0,  0,
};

/*
 * Tokenizes and masks msg into d's scratch: tokens at mask + off[k], one
 * ' ' after each, and key = hash of the whole masked text (the cache key,
 * so a repeated message shape costs one hash).  Token hashes are left to
 * hash_tokens(), which only a cache miss needs.
 */
static void
scan(struct sift_drain *d, const char *msg, size_t len)
{
    if (len > SIFT_DRAIN_MAX_BYTES)
        len = SIFT_DRAIN_MAX_BYTES;
    size_t i = 0;
    size_t o = 0;
    d->n_tok = 0;
    while (i < len) {
        while (i < len && (byte_class[(uint8_t)msg[i]] & SP))
            i++;
        if (i >= len)
            break;
        size_t s = i;
        unsigned seen = 0;
        while (i < len) {
            unsigned cls = byte_class[(uint8_t)msg[i]];
            if (cls & SP)
                break;
            seen |= cls;
            i++;
        }
        uint32_t k = d->n_tok;
        d->off[k] = (uint32_t)o;
        if (k == SIFT_DRAIN_MAX_TOKENS - 1 && i < len) {
            /* Too many tokens: the rest is one variable tail. */
            memcpy(d->mask + o, WILD, WILD_LEN);
            o += WILD_LEN;
            i = len;
        } else if (!(seen & (DG | SL))) {
            memcpy(d->mask + o, msg + s, i - s);
            o += i - s;
        } else {
            o += mask_token(msg + s, i - s, d->mask + o);
        }
        d->len[k] = (uint32_t)(o - d->off[k]);
        d->mask[o++] = ' ';
        d->n_tok = k + 1;
    }
    d->key = XXH3_64bits(d->mask, o);
}

/* Fills d->hash for the scanned tokens. */
static void
hash_tokens(struct sift_drain *d)
{
    for (uint32_t k = 0; k < d->n_tok; k++)
        d->hash[k] = XXH3_64bits(d->mask + d->off[k], d->len[k]);
}

/* Whether a token holds a mask (typed or "<*>"). */
static int
tok_has_mask(const char *t, uint32_t n)
{
    static const char *const masks[] = {WILD,   M_NUM,  M_HEX, M_IP,
                                        M_UUID, M_PATH, M_URL};
    if (!memchr(t, '<', n))
        return 0;
    for (size_t k = 0; k < sizeof(masks) / sizeof(masks[0]); k++)
        if (has_substr(t, n, masks[k]))
            return 1;
    return 0;
}

void
sift_drain_mask(const char *msg, size_t len, struct sift_buf *out)
{
    struct sift_drain *d = sift_xmalloc(sizeof(*d));
    scan(d, msg, len);
    for (uint32_t k = 0; k < d->n_tok; k++) {
        if (k)
            sift_buf_putc(out, ' ');
        sift_buf_append(out, d->mask + d->off[k], d->len[k]);
    }
    sift_free(d);
}

/* ------------------------------------------------------------------ */
/* Tables                                                               */
/* ------------------------------------------------------------------ */

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb93fe1a85ec9);
    x ^= x >> 33;
    return x;
}

/* Leaf key from the token count and up to two key hashes (0 = "*"). */
static uint64_t
leaf_key(uint32_t n_tokens, uint64_t k0, uint64_t k1)
{
    return mix64(n_tokens * UINT64_C(0x9e3779b97f4a7c15) ^ mix64(k0) ^
                 mix64(k1 + 0x1234567));
}

static struct leaf *
leaf_find(const struct sift_drain *d, uint64_t key)
{
    struct leaf *l = d->leaves[key & (d->n_leaf_buckets - 1)];
    while (l && l->key != key)
        l = l->next;
    return l;
}

static void
leaf_grow(struct sift_drain *d)
{
    uint32_t nb = d->n_leaf_buckets * 2;
    struct leaf **nt = sift_xcalloc(nb, sizeof(*nt));
    for (uint32_t b = 0; b < d->n_leaf_buckets; b++) {
        struct leaf *l = d->leaves[b];
        while (l) {
            struct leaf *next = l->next;
            l->next = nt[l->key & (nb - 1)];
            nt[l->key & (nb - 1)] = l;
            l = next;
        }
    }
    sift_free(d->leaves);
    d->leaves = nt;
    d->n_leaf_buckets = nb;
}

static struct leaf *
leaf_get(struct sift_drain *d, uint64_t key)
{
    struct leaf *l = leaf_find(d, key);
    if (l)
        return l;
    if (d->n_leaves >= d->n_leaf_buckets)
        leaf_grow(d);
    l = sift_xcalloc(1, sizeof(*l));
    l->key = key;
    uint32_t b = (uint32_t)(key & (d->n_leaf_buckets - 1));
    l->next = d->leaves[b];
    d->leaves[b] = l;
    d->n_leaves++;
    return l;
}

static uint64_t
shape_of(uint32_t n, const uint64_t *hash)
{
    return XXH3_64bits_withSeed(hash, n * sizeof(uint64_t), n);
}

static void
id_grow(struct sift_drain *d)
{
    uint32_t nb = d->n_id_buckets * 2;
    struct cluster **nt = sift_xcalloc(nb, sizeof(*nt));
    struct cluster **ns = sift_xcalloc(nb, sizeof(*ns));
    for (uint32_t b = 0; b < d->n_id_buckets; b++) {
        struct cluster *c = d->ids[b];
        while (c) {
            struct cluster *next = c->id_next;
            c->id_next = nt[c->id & (nb - 1)];
            nt[c->id & (nb - 1)] = c;
            c->shape_next = ns[c->shape & (nb - 1)];
            ns[c->shape & (nb - 1)] = c;
            c = next;
        }
    }
    sift_free(d->ids);
    sift_free(d->shapes);
    d->ids = nt;
    d->shapes = ns;
    d->n_id_buckets = nb;
}

static void
shape_unlink(struct sift_drain *d, struct cluster *c)
{
    struct cluster **pp = &d->shapes[c->shape & (d->n_id_buckets - 1)];
    while (*pp && *pp != c)
        pp = &(*pp)->shape_next;
    if (*pp)
        *pp = c->shape_next;
    c->shape_next = NULL;
}

static void
shape_link(struct sift_drain *d, struct cluster *c)
{
    c->shape = shape_of(c->n_tokens, c->tok_hash);
    uint32_t b = (uint32_t)(c->shape & (d->n_id_buckets - 1));
    c->shape_next = d->shapes[b];
    d->shapes[b] = c;
}

/* Another live cluster with exactly c's tokens, or NULL. */
static struct cluster *
shape_twin(const struct sift_drain *d, const struct cluster *c)
{
    for (struct cluster *o = d->shapes[c->shape & (d->n_id_buckets - 1)]; o;
         o = o->shape_next) {
        if (o != c && o->shape == c->shape && o->n_tokens == c->n_tokens &&
            memcmp(o->tok_hash, c->tok_hash, c->n_tokens * sizeof(uint64_t)) ==
                0)
            return o;
    }
    return NULL;
}

static struct cluster *
id_find(const struct sift_drain *d, uint32_t id)
{
    struct cluster *c = d->ids[id & (d->n_id_buckets - 1)];
    while (c && c->id != id)
        c = c->id_next;
    return c;
}

static void
lru_unlink(struct sift_drain *d, struct cluster *c)
{
    if (c->lru_prev)
        c->lru_prev->lru_next = c->lru_next;
    else
        d->lru_head = c->lru_next;
    if (c->lru_next)
        c->lru_next->lru_prev = c->lru_prev;
    else
        d->lru_tail = c->lru_prev;
    c->lru_prev = c->lru_next = NULL;
}

static void
lru_push_head(struct sift_drain *d, struct cluster *c)
{
    c->lru_prev = NULL;
    c->lru_next = d->lru_head;
    if (d->lru_head)
        d->lru_head->lru_prev = c;
    d->lru_head = c;
    if (!d->lru_tail)
        d->lru_tail = c;
}

static void
cluster_free(struct cluster *c)
{
    sift_free(c->text);
    sift_free(c->tok_off);
    sift_free(c->tok_len);
    sift_free(c->tok_hash);
    sift_free(c);
}

/* Unlinks c from every structure and frees it. */
static void
cluster_remove(struct sift_drain *d, struct cluster *c)
{
    struct leaf *l = leaf_find(d, c->leaf_key);
    if (SIFT_ALWAYS(l != NULL)) {
        struct cluster **pp = &l->head;
        while (*pp && *pp != c)
            pp = &(*pp)->leaf_next;
        if (*pp)
            *pp = c->leaf_next;
    }
    struct cluster **ip = &d->ids[c->id & (d->n_id_buckets - 1)];
    while (*ip && *ip != c)
        ip = &(*ip)->id_next;
    if (*ip)
        *ip = c->id_next;
    shape_unlink(d, c);
    lru_unlink(d, c);
    d->n_clusters--;
    d->gen++;
    cluster_free(c);
}

/* Sets c's text from token strings tok[k][0..len[k]). */
static void
cluster_set_text(struct cluster *c, const char *const *tok, const uint32_t *len)
{
    size_t total = 0;
    for (uint32_t k = 0; k < c->n_tokens; k++)
        total += len[k] + 1;
    char *text = sift_xmalloc(total + 1);
    size_t o = 0;
    for (uint32_t k = 0; k < c->n_tokens; k++) {
        if (k)
            text[o++] = ' ';
        memcpy(text + o, tok[k], len[k]);
        c->tok_off[k] = (uint32_t)o;
        c->tok_len[k] = len[k];
        o += len[k];
    }
    text[o] = '\0';
    c->word_mask = words_mask(c->n_tokens, tok, len);
    sift_free(c->text);
    c->text = text;
    c->text_len = (uint32_t)o;
}

/* Leaf key of a token list: key tokens that are wildcards count as "*". */
static uint64_t
tokens_leaf_key(const struct sift_drain *d, uint32_t n, const uint64_t *hash,
                const char *const *tok, const uint32_t *len, unsigned star)
{
    uint64_t k[2] = {0, 0};
    for (uint32_t i = 0; i < 2 && i < d->key_tokens && i < n; i++) {
        if ((star >> i) & 1u)
            continue;
        if (hash[i] == wild_hash || tok_has_mask(tok[i], len[i]))
            continue;
        k[i] = hash[i];
    }
    return leaf_key(n, k[0], k[1]);
}

static void
evict_if_full(struct sift_drain *d)
{
    while (d->n_clusters >= d->max_templates && d->lru_tail) {
        cluster_remove(d, d->lru_tail);
        d->n_evicted++;
    }
}

/* Creates a cluster with id from the token list and links it in. */
static struct cluster *
cluster_insert(struct sift_drain *d, uint32_t id, uint32_t n,
               const char *const *tok, const uint32_t *len,
               const uint64_t *hash)
{
    evict_if_full(d);
    struct cluster *c = sift_xcalloc(1, sizeof(*c));
    c->id = id;
    c->n_tokens = n;
    c->tok_off = sift_xcalloc(n ? n : 1, sizeof(uint32_t));
    c->tok_len = sift_xcalloc(n ? n : 1, sizeof(uint32_t));
    c->tok_hash = sift_xcalloc(n ? n : 1, sizeof(uint64_t));
    memcpy(c->tok_hash, hash, n * sizeof(uint64_t));
    cluster_set_text(c, tok, len);
    c->leaf_key = tokens_leaf_key(d, n, hash, tok, len, 0);
    struct leaf *l = leaf_get(d, c->leaf_key);
    c->leaf_next = l->head;
    l->head = c;
    if (d->n_clusters >= d->n_id_buckets)
        id_grow(d);
    uint32_t b = id & (d->n_id_buckets - 1);
    c->id_next = d->ids[b];
    d->ids[b] = c;
    shape_link(d, c);
    lru_push_head(d, c);
    d->n_clusters++;
    d->gen++;
    return c;
}

/* ------------------------------------------------------------------ */
/* Mining                                                               */
/* ------------------------------------------------------------------ */

int
sift_drain_new(const struct sift_drain_cfg *cfg, struct sift_drain **out)
{
    struct sift_drain *d = sift_xcalloc(1, sizeof(*d));
    if (wild_hash == 0)
        wild_hash = XXH3_64bits(WILD, WILD_LEN); /* idempotent */
    d->max_templates = DEFAULT_MAX_TEMPLATES;
    d->sim = DEFAULT_SIM;
    d->key_tokens = DEFAULT_KEY_TOKENS;
    if (cfg) {
        if (cfg->max_templates)
            d->max_templates = cfg->max_templates;
        if (cfg->sim_threshold > 0)
            d->sim = cfg->sim_threshold;
        if (cfg->key_tokens)
            d->key_tokens = cfg->key_tokens > 2 ? 2 : cfg->key_tokens;
    }
    d->next_id = 1;
    d->gen = 1; /* zeroed cache slots (gen 0) never hit */
    d->n_leaf_buckets = 256;
    d->leaves = sift_xcalloc(d->n_leaf_buckets, sizeof(*d->leaves));
    d->n_id_buckets = 256;
    d->ids = sift_xcalloc(d->n_id_buckets, sizeof(*d->ids));
    d->shapes = sift_xcalloc(d->n_id_buckets, sizeof(*d->shapes));
    *out = d;
    return SIFT_OK;
}

static void
drain_clear(struct sift_drain *d)
{
    d->n_alias = 0;
    if (d->al_idx)
        memset(d->al_idx, 0, (size_t)d->cap_alias * 2 * sizeof(*d->al_idx));
    while (d->lru_head)
        cluster_remove(d, d->lru_head);
    for (uint32_t b = 0; b < d->n_leaf_buckets; b++) {
        struct leaf *l = d->leaves[b];
        while (l) {
            struct leaf *next = l->next;
            sift_free(l);
            l = next;
        }
        d->leaves[b] = NULL;
    }
    d->n_leaves = 0;
}

void
sift_drain_free(struct sift_drain *d)
{
    if (!d)
        return;
    drain_clear(d);
    sift_free(d->leaves);
    sift_free(d->ids);
    sift_free(d->shapes);
    sift_free(d->al_from);
    sift_free(d->al_to);
    sift_free(d->al_idx);
    sift_free(d);
}

/* Best cluster for the scanned message over the candidate leaves. */
static struct cluster *
best_match(struct sift_drain *d, double *sim_out)
{
    const char *tok[SIFT_DRAIN_MAX_TOKENS];
    for (uint32_t k = 0; k < d->n_tok; k++)
        tok[k] = d->mask + d->off[k];
    /* A word conflict is two different plain words at one position. */
    uint64_t msg_words = words_mask(d->n_tok, tok, d->len);
    uint64_t seen[4];
    unsigned n_seen = 0;
    struct cluster *best = NULL;
    double best_sim = -1.0;
    uint32_t best_const = 0;
    for (unsigned star = 0; star < 4; star++) {
        uint64_t key = tokens_leaf_key(d, d->n_tok, d->hash, tok, d->len, star);
        int dup = 0;
        for (unsigned s = 0; s < n_seen; s++)
            dup |= seen[s] == key;
        if (dup)
            continue;
        seen[n_seen++] = key;
        struct leaf *l = leaf_find(d, key);
        for (struct cluster *c = l ? l->head : NULL; c; c = c->leaf_next) {
            uint32_t same = 0, n_const = 0, penalty = 0;
            for (uint32_t k = 0; k < d->n_tok; k++) {
                if (c->tok_hash[k] == wild_hash) {
                    same++;
                } else {
                    n_const++;
                    if (c->tok_hash[k] == d->hash[k])
                        same++;
                    else
                        penalty +=
                            (uint32_t)((c->word_mask & msg_words) >> k) & 1u;
                }
            }
            double sim = ((double)same - (double)penalty) / (double)d->n_tok;
            if (sim > best_sim || (sim == best_sim && n_const > best_const)) {
                best = c;
                best_sim = sim;
                best_const = n_const;
            }
        }
    }
    *sim_out = best_sim;
    return best;
}

static void
touch(struct sift_drain *d, struct cluster *c, int64_t ts_ns, int count)
{
    if (!count)
        return;
    c->count++;
    if (ts_ns < c->first_seen_ns || c->first_seen_ns == 0)
        c->first_seen_ns = ts_ns;
    if (ts_ns > c->last_seen_ns)
        c->last_seen_ns = ts_ns;
    if (d->lru_head != c) {
        lru_unlink(d, c);
        lru_push_head(d, c);
    }
}

/* The cluster that absorbed the scanned message's shape last time, if
 * nothing changed since (see struct cache_slot), else NULL.  Keys are
 * 64-bit hashes of the masked text, as trusted as the token hashes. */
static struct cluster *
cache_find(const struct sift_drain *d)
{
    const struct cache_slot *e = &d->cache[d->key & (CACHE_SLOTS - 1)];
    if (e->key != d->key || e->gen != d->gen || e->c->n_tokens != d->n_tok)
        return NULL;
    return e->c;
}

/* ---- Aliases ------------------------------------------------------- */

#define ALIAS_MIN_CAP 1024u

static uint32_t
alias_slot(uint32_t id, uint32_t cap2)
{
    return (uint32_t)(mix64(id) & (cap2 - 1));
}

/* Index (into al_from) of the alias of id, or UINT32_MAX. */
static uint32_t
alias_find(const struct sift_drain *d, uint32_t id)
{
    if (!d->n_alias)
        return UINT32_MAX;
    uint32_t cap2 = d->cap_alias * 2;
    for (uint32_t b = alias_slot(id, cap2);; b = (b + 1) & (cap2 - 1)) {
        uint32_t x = d->al_idx[b];
        if (x == 0)
            return UINT32_MAX;
        if (d->al_from[x - 1] == id)
            return x - 1;
    }
}

static void
alias_reindex(struct sift_drain *d)
{
    uint32_t cap2 = d->cap_alias * 2;
    memset(d->al_idx, 0, cap2 * sizeof(*d->al_idx));
    for (uint32_t i = 0; i < d->n_alias; i++) {
        uint32_t b = alias_slot(d->al_from[i], cap2);
        while (d->al_idx[b])
            b = (b + 1) & (cap2 - 1);
        d->al_idx[b] = i + 1;
    }
}

/*
 * Records that id `from` now names `to`.  Aliases that named `from`
 * follow it to `to`, so every alias names a template directly.  At most
 * max_aliases are kept; past it the oldest quarter is forgotten.
 */
static void
alias_add(struct sift_drain *d, uint32_t from, uint32_t to)
{
    for (uint32_t i = 0; i < d->n_alias; i++)
        if (d->al_to[i] == from)
            d->al_to[i] = to;
    if (d->n_alias == d->cap_alias) {
        uint32_t limit = d->max_templates * 4 > ALIAS_MIN_CAP
                             ? d->max_templates * 4
                             : ALIAS_MIN_CAP;
        if (d->cap_alias >= limit) {
            uint32_t drop = d->n_alias / 4;
            memmove(d->al_from, d->al_from + drop,
                    (d->n_alias - drop) * sizeof(uint32_t));
            memmove(d->al_to, d->al_to + drop,
                    (d->n_alias - drop) * sizeof(uint32_t));
            d->n_alias -= drop;
        } else {
            uint32_t nc = d->cap_alias ? d->cap_alias * 2 : 64;
            d->al_from = sift_xrealloc(d->al_from, nc * sizeof(uint32_t));
            d->al_to = sift_xrealloc(d->al_to, nc * sizeof(uint32_t));
            sift_free(d->al_idx);
            d->al_idx = sift_xcalloc((size_t)nc * 2, sizeof(uint32_t));
            d->cap_alias = nc;
        }
        alias_reindex(d);
    }
    uint32_t i = d->n_alias++;
    d->al_from[i] = from;
    d->al_to[i] = to;
    uint32_t cap2 = d->cap_alias * 2;
    uint32_t b = alias_slot(from, cap2);
    while (d->al_idx[b])
        b = (b + 1) & (cap2 - 1);
    d->al_idx[b] = i + 1;
}

uint32_t
sift_drain_resolve(const struct sift_drain *d, uint32_t id)
{
    uint32_t i = alias_find(d, id);
    return i == UINT32_MAX ? id : d->al_to[i];
}

void
sift_drain_foreach_alias(const struct sift_drain *d, sift_drain_alias_cb fn,
                         void *arg)
{
    for (uint32_t i = 0; i < d->n_alias; i++)
        if (fn(d->al_from[i], d->al_to[i], arg))
            return;
}

uint32_t
sift_drain_aliases(const struct sift_drain *d)
{
    return d->n_alias;
}

/* Folds `from` into `into` (counts, times) and retires its id as an
 * alias of into's. */
static void
merge_into(struct sift_drain *d, struct cluster *from, struct cluster *into)
{
    into->count += from->count;
    if (from->first_seen_ns &&
        (!into->first_seen_ns || from->first_seen_ns < into->first_seen_ns))
        into->first_seen_ns = from->first_seen_ns;
    if (from->last_seen_ns > into->last_seen_ns)
        into->last_seen_ns = from->last_seen_ns;
    alias_add(d, from->id, into->id);
    cluster_remove(d, from);
    d->n_merged++;
}

int
sift_drain_merge(struct sift_drain *d, uint32_t from, uint32_t into)
{
    struct cluster *f = id_find(d, from);
    struct cluster *t = id_find(d, into);
    if (!f || !t || f == t)
        return SIFT_ENOTFOUND;
    merge_into(d, f, t);
    return SIFT_OK;
}

uint64_t
sift_drain_merged(const struct sift_drain *d)
{
    return d->n_merged;
}

/* ---- Adding -------------------------------------------------------- */

/* Rewrites c's text after its tok_hash gained wildcards. */
static void
cluster_retext(struct sift_drain *d, struct cluster *c)
{
    const char *tok[SIFT_DRAIN_MAX_TOKENS];
    uint32_t tl[SIFT_DRAIN_MAX_TOKENS];
    for (uint32_t k = 0; k < c->n_tokens; k++) {
        if (c->tok_hash[k] == wild_hash) {
            tok[k] = WILD;
            tl[k] = WILD_LEN;
        } else {
            tok[k] = c->text + c->tok_off[k];
            tl[k] = c->tok_len[k];
        }
    }
    /* cluster_set_text frees the old text after copying. */
    char *old = c->text;
    c->text = NULL;
    cluster_set_text(c, tok, tl);
    sift_free(old);
    shape_unlink(d, c);
    shape_link(d, c);
    d->gen++;
}

/*
 * Whether absorbing the scanned message into c would leave at least one
 * constant token (a template made only of wildcards groups unrelated
 * lines; it is never made).
 */
static int
keeps_constant(const struct sift_drain *d, const struct cluster *c)
{
    for (uint32_t k = 0; k < c->n_tokens; k++)
        if (c->tok_hash[k] != wild_hash && c->tok_hash[k] == d->hash[k])
            return 1;
    return 0;
}

/* Mines the message in d's scratch (see sift_drain_add). */
static uint32_t
mine(struct sift_drain *d, int64_t ts_ns, int count)
{
    if (d->n_tok == 0)
        return SIFT_TEMPLATE_NONE;
    struct cluster *c = cache_find(d);
    if (c) {
        touch(d, c, ts_ns, count);
        return c->id;
    }
    hash_tokens(d);
    double sim;
    c = best_match(d, &sim);
    if (c && sim >= d->sim && keeps_constant(d, c)) {
        int changed = 0;
        for (uint32_t k = 0; k < c->n_tokens; k++) {
            if (c->tok_hash[k] != wild_hash && c->tok_hash[k] != d->hash[k]) {
                c->tok_hash[k] = wild_hash;
                changed = 1;
            }
        }
        if (changed) {
            cluster_retext(d, c);
            /* Two templates that became the same text are one: the
             * older id stays, the other becomes its alias. */
            struct cluster *twin = shape_twin(d, c);
            if (twin) {
                struct cluster *keep = twin->id < c->id ? twin : c;
                struct cluster *gone = keep == twin ? c : twin;
                merge_into(d, gone, keep);
                c = keep;
            }
        } else {
            d->cache[d->key & (CACHE_SLOTS - 1)] =
                (struct cache_slot){.key = d->key, .gen = d->gen, .c = c};
        }
        touch(d, c, ts_ns, count);
        return c->id;
    }
    const char *tok[SIFT_DRAIN_MAX_TOKENS];
    for (uint32_t k = 0; k < d->n_tok; k++)
        tok[k] = d->mask + d->off[k];
    if (d->next_id == UINT32_MAX)
        d->next_id = 1; /* 4 billion templates later; ids may then repeat */
    c = cluster_insert(d, d->next_id++, d->n_tok, tok, d->len, d->hash);
    touch(d, c, ts_ns, count);
    return c->id;
}

uint32_t
sift_drain_add(struct sift_drain *d, const char *msg, size_t len, int64_t ts_ns)
{
    scan(d, msg, len);
    return mine(d, ts_ns, 1);
}

uint32_t
sift_drain_learn(struct sift_drain *d, const char *msg, size_t len)
{
    scan(d, msg, len);
    return mine(d, 0, 0);
}

uint32_t
sift_drain_match(struct sift_drain *d, const char *msg, size_t len)
{
    scan(d, msg, len);
    if (d->n_tok == 0)
        return SIFT_TEMPLATE_NONE;
    hash_tokens(d);
    double sim;
    struct cluster *c = best_match(d, &sim);
    if (!c || sim < d->sim)
        return SIFT_TEMPLATE_NONE;
    /* Matching without learning: every constant token must agree. */
    for (uint32_t k = 0; k < c->n_tokens; k++)
        if (c->tok_hash[k] != wild_hash && c->tok_hash[k] != d->hash[k])
            return SIFT_TEMPLATE_NONE;
    return c->id;
}

static void
fill_info(const struct cluster *c, struct sift_drain_info *out)
{
    out->id = c->id;
    out->n_tokens = c->n_tokens;
    out->count = c->count;
    out->first_seen_ns = c->first_seen_ns;
    out->last_seen_ns = c->last_seen_ns;
    out->text = c->text;
    out->text_len = c->text_len;
}

int
sift_drain_get(const struct sift_drain *d, uint32_t id,
               struct sift_drain_info *out)
{
    struct cluster *c = id_find(d, id);
    if (!c) {
        uint32_t i = alias_find(d, id);
        if (i != UINT32_MAX)
            c = id_find(d, d->al_to[i]);
    }
    if (!c)
        return SIFT_ENOTFOUND;
    fill_info(c, out);
    return SIFT_OK;
}

uint32_t
sift_drain_count(const struct sift_drain *d)
{
    return d->n_clusters;
}

uint64_t
sift_drain_evicted(const struct sift_drain *d)
{
    return d->n_evicted;
}

uint32_t
sift_drain_next_id(const struct sift_drain *d)
{
    return d->next_id;
}

void
sift_drain_skip_ids(struct sift_drain *d, uint32_t n)
{
    /* Wrapping past UINT32_MAX restarts at 1, like sift_drain_add(). */
    if (n >= UINT32_MAX - d->next_id)
        d->next_id = 1;
    else
        d->next_id += n;
}

void
sift_drain_foreach(const struct sift_drain *d, sift_drain_each_cb fn, void *arg)
{
    for (const struct cluster *c = d->lru_head; c; c = c->lru_next) {
        struct sift_drain_info info;
        fill_info(c, &info);
        if (fn(&info, arg))
            return;
    }
}

/* ------------------------------------------------------------------ */
/* Persistence                                                          */
/* ------------------------------------------------------------------ */

/*
 * File format (text, one record per line):
 *   sift-drain 2 <next_id> <n_evicted>
 *   <id> <count> <first_seen_ns> <last_seen_ns>\t<template text>
 *   = <from> <to>                      (aliases, in merge order)
 * Version 1 (no aliases) loads too.  Records go from least to most
 * recently seen so a load rebuilds the LRU order.  Template tokens never hold
 * whitespace, so the text splits back into the same tokens.  Every line ends
 * with a checksum (a tab and "ck:<xxh32 hex>", include/sift/statefile.h); a
 * file whose header has one is checked line by line, and a damaged line costs
 * that template alone.  Files written before checksums load as before.
 */
int
sift_drain_save(const struct sift_drain *d, const char *path)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "sift-drain 2 %" PRIu32 " %" PRIu64, d->next_id,
                     d->n_evicted);
    sift_statefile_line_end(&b, 0);
    for (const struct cluster *c = d->lru_tail; c; c = c->lru_prev) {
        size_t start = b.len;
        sift_buf_appendf(
            &b, "%" PRIu32 " %" PRIu64 " %" PRId64 " %" PRId64 "\t%s", c->id,
            c->count, c->first_seen_ns, c->last_seen_ns, c->text);
        sift_statefile_line_end(&b, start);
    }
    for (uint32_t i = 0; i < d->n_alias; i++) {
        size_t start = b.len;
        sift_buf_appendf(&b, "= %" PRIu32 " %" PRIu32, d->al_from[i],
                         d->al_to[i]);
        sift_statefile_line_end(&b, start);
    }
    int rc = sift_file_replace(path, b.data, b.len, 0666, 0);
    if (rc < 0)
        SIFT_ERROR("drain: cannot write %s: %s", path, sift_strerror(rc));
    sift_buf_cleanup(&b);
    return rc;
}

static int
parse_u64(const char **p, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(*p, &end, 10);
    if (end == *p || errno != 0)
        return SIFT_ECORRUPT;
    *out = v;
    *p = end;
    return SIFT_OK;
}

static int
parse_i64(const char **p, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (end == *p || errno != 0)
        return SIFT_ECORRUPT;
    *out = v;
    *p = end;
    return SIFT_OK;
}

static int
load_record(struct sift_drain *d, const char *line)
{
    const char *p = line;
    uint64_t id, count;
    int64_t first, last;
    if (parse_u64(&p, &id) < 0 || parse_u64(&p, &count) < 0 ||
        parse_i64(&p, &first) < 0 || parse_i64(&p, &last) < 0 || *p != '\t')
        return SIFT_CORRUPT_BKPT("drain record");
    if (id == 0 || id > UINT32_MAX || id_find(d, (uint32_t)id))
        return SIFT_CORRUPT_BKPT("drain id");
    p++;
    const char *tok[SIFT_DRAIN_MAX_TOKENS];
    uint32_t len[SIFT_DRAIN_MAX_TOKENS];
    uint64_t hash[SIFT_DRAIN_MAX_TOKENS];
    uint32_t n = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        if (n == SIFT_DRAIN_MAX_TOKENS)
            return SIFT_CORRUPT_BKPT("drain tokens");
        const char *s = p;
        while (*p && *p != ' ')
            p++;
        tok[n] = s;
        len[n] = (uint32_t)(p - s);
        hash[n] = XXH3_64bits(s, len[n]);
        n++;
    }
    if (n == 0)
        return SIFT_CORRUPT_BKPT("drain empty template");
    struct cluster *c = cluster_insert(d, (uint32_t)id, n, tok, len, hash);
    c->count = count;
    c->first_seen_ns = first;
    c->last_seen_ns = last;
    return SIFT_OK;
}

struct load_ctx {
    struct sift_drain *d;
    const char *path;
    unsigned version;
    unsigned next_id;
    unsigned long long evicted;
    uint32_t max_id;
};

/* "= from to": an alias line. */
static int
load_alias(struct sift_drain *d, const char *line, uint32_t *from_out)
{
    const char *p = line + 1;
    uint64_t from, to;
    if (parse_u64(&p, &from) < 0 || parse_u64(&p, &to) < 0 || *p != '\0' ||
        from == 0 || to == 0 || from > UINT32_MAX || to > UINT32_MAX ||
        from == to)
        return SIFT_CORRUPT_BKPT("drain alias");
    alias_add(d, (uint32_t)from, (uint32_t)to);
    *from_out = (uint32_t)from;
    return SIFT_OK;
}

static int
load_line(char *line, size_t len, unsigned lineno, int ok, int whole, void *arg)
{
    struct load_ctx *c = arg;
    struct sift_drain *d = c->d;
    (void)len;
    (void)whole; /* a cut last line is damage too: the file is replaced whole */
    if (lineno == 1) {
        if (!ok ||
            sscanf(line, "sift-drain %u %u %llu", &c->version, &c->next_id,
                   &c->evicted) != 3 ||
            c->version < 1 || c->version > 2 || c->next_id == 0) {
            d->load_header_bad = 1;
            d->load_bad_lines++;
            c->next_id = 0;
            c->evicted = 0;
            SIFT_ERROR("drain: %s: line 1 (the header) is damaged", c->path);
        }
        return 0;
    }
    if (ok && line[0] == '=') { /* an alias (version 2) */
        uint32_t from = 0;
        if (load_alias(d, line, &from) == SIFT_OK) {
            if (from > c->max_id)
                c->max_id = from;
            return 0;
        }
        ok = 0;
    }
    if (!ok || load_record(d, line) < 0) {
        d->load_bad_lines++;
        SIFT_ERROR("drain: %s: line %u is damaged; skipped (that template's "
                   "text is lost, its id is never reused)",
                   c->path, lineno);
        return 0;
    }
    if (d->lru_head->id > c->max_id)
        c->max_id = d->lru_head->id;
    return 0;
}

int
sift_drain_load(struct sift_drain *d, const char *path)
{
    char *data = NULL;
    size_t size = 0;
    int rc = sift_file_read_all(path, SIZE_MAX, &data, &size);
    if (rc < 0) {
        if (rc != -ENOENT)
            SIFT_ERROR("drain: cannot read %s: %s", path, sift_strerror(rc));
        return rc;
    }
    drain_clear(d);
    d->n_evicted = 0;
    d->next_id = 1;
    d->load_bad_lines = 0;
    d->load_header_bad = 0;
    struct load_ctx c = {d, path, 0, 0, 0, 0};
    (void)sift_statefile_lines(data, size, load_line, &c);
    if (size == 0) {
        d->load_header_bad = 1;
        d->load_bad_lines++;
        SIFT_ERROR("drain: %s is empty", path);
    }
    d->next_id = c.next_id > c.max_id ? c.next_id : c.max_id + 1;
    d->n_evicted = c.evicted;
    sift_free(data);
    return SIFT_OK;
}

uint32_t
sift_drain_load_damage(const struct sift_drain *d, int *header_bad)
{
    if (header_bad)
        *header_bad = d->load_header_bad;
    return d->load_bad_lines;
}
