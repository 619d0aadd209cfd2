/*
 * drain.c - log template mining (Drain-style), see include/sift/drain.h.
 *
 * Design.  A message is cut into at most SIFT_DRAIN_MAX_TOKENS whitespace
 * tokens.  Each token is masked (mask_token): URLs and paths become "<*>"
 * whole; otherwise every maximal alphanumeric run that is all digits, a
 * 0x-number, or a hex run holding a digit (length >= 4) becomes "<*>", and
 * digit runs inside words become "<*>" ("ssh2" -> "ssh<*>"); a token left
 * with only "<*>" and punctuation collapses to "<*>" (IPs, floats, times,
 * "[1.2.3.4]", "(42)").  Masked tokens are hashed (XXH3) and compared by
 * hash.
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
 * "<*>"); otherwise a new template is created in the message's own leaf.
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
 * Invariants.  A cluster's id never changes; ids come from next_id and are
 * never reused, also after eviction.  Every live cluster is in exactly one
 * leaf list, in the id table and in the LRU list (head = most recent).
 * n_clusters <= max_templates after every call.
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
#define MASK_MAX (SIFT_DRAIN_MAX_BYTES * 3u + 16u) /* "1" -> "<*>" */

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
    uint64_t word_mask; /* bit k: token k is a plain word (is_word) */
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

/*
 * Masks one token t[0..n) into out (room for 3 * n + 3 bytes); returns
 * the masked length.  Pure.
 */
SIFT_STATIC size_t
mask_token(const char *t, size_t n, char *out)
{
    if (has_substr(t, n, "://") || looks_like_path(t, n)) {
        memcpy(out, WILD, WILD_LEN);
        return WILD_LEN;
    }
    size_t o = 0;
    int only_masks = 1; /* nothing but masks and punctuation so far */
    int any_mask = 0;
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
        int whole = 0;
        if (n_alpha == 0)
            whole = 1;
        else if (rl > 2 && t[s] == '0' && (t[s + 1] == 'x' || t[s + 1] == 'X'))
            whole = 1;
        else if (n_dig > 0 && n_hexalpha == n_alpha && rl >= 4)
            whole = 1;
        if (whole) {
            memcpy(out + o, WILD, WILD_LEN);
            o += WILD_LEN;
            any_mask = 1;
            continue;
        }
        only_masks = 0;
        /* A word with digits: keep the letters, mask each digit run. */
        for (size_t k = s; k < i;) {
            if (is_digit(t[k])) {
                while (k < i && is_digit(t[k]))
                    k++;
                memcpy(out + o, WILD, WILD_LEN);
                o += WILD_LEN;
            } else {
                out[o++] = t[k++];
            }
        }
    }
    if (any_mask && only_masks) {
        memcpy(out, WILD, WILD_LEN);
        return WILD_LEN;
    }
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

static int
tok_has_mask(const char *t, uint32_t n)
{
    return has_substr(t, n, WILD);
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

static void
id_grow(struct sift_drain *d)
{
    uint32_t nb = d->n_id_buckets * 2;
    struct cluster **nt = sift_xcalloc(nb, sizeof(*nt));
    for (uint32_t b = 0; b < d->n_id_buckets; b++) {
        struct cluster *c = d->ids[b];
        while (c) {
            struct cluster *next = c->id_next;
            c->id_next = nt[c->id & (nb - 1)];
            nt[c->id & (nb - 1)] = c;
            c = next;
        }
    }
    sift_free(d->ids);
    d->ids = nt;
    d->n_id_buckets = nb;
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
    *out = d;
    return SIFT_OK;
}

static void
drain_clear(struct sift_drain *d)
{
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
touch(struct sift_drain *d, struct cluster *c, int64_t ts_ns)
{
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

uint32_t
sift_drain_add(struct sift_drain *d, const char *msg, size_t len, int64_t ts_ns)
{
    scan(d, msg, len);
    if (d->n_tok == 0)
        return SIFT_TEMPLATE_NONE;
    struct cluster *c = cache_find(d);
    if (c) {
        touch(d, c, ts_ns);
        return c->id;
    }
    hash_tokens(d);
    double sim;
    c = best_match(d, &sim);
    if (c && sim >= d->sim) {
        int changed = 0;
        for (uint32_t k = 0; k < c->n_tokens; k++) {
            if (c->tok_hash[k] != wild_hash && c->tok_hash[k] != d->hash[k]) {
                c->tok_hash[k] = wild_hash;
                changed = 1;
            }
        }
        if (changed) {
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
            d->gen++;
        } else {
            d->cache[d->key & (CACHE_SLOTS - 1)] =
                (struct cache_slot){.key = d->key, .gen = d->gen, .c = c};
        }
        touch(d, c, ts_ns);
        return c->id;
    }
    const char *tok[SIFT_DRAIN_MAX_TOKENS];
    for (uint32_t k = 0; k < d->n_tok; k++)
        tok[k] = d->mask + d->off[k];
    if (d->next_id == UINT32_MAX)
        d->next_id = 1; /* 4 billion templates later; ids may then repeat */
    c = cluster_insert(d, d->next_id++, d->n_tok, tok, d->len, d->hash);
    touch(d, c, ts_ns);
    return c->id;
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
 *   sift-drain 1 <next_id> <n_evicted>
 *   <id> <count> <first_seen_ns> <last_seen_ns>\t<template text>
 * Records go from least to most recently seen so a load rebuilds the LRU
 * order.  Template tokens never hold whitespace, so the text splits back
 * into the same tokens.  Every line ends with a checksum (a tab and
 * "ck:<xxh32 hex>", include/sift/statefile.h); a file whose header has
 * one is checked line by line, and a damaged line costs that template
 * alone.  Files written before checksums load as before.
 */
int
sift_drain_save(const struct sift_drain *d, const char *path)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "sift-drain 1 %" PRIu32 " %" PRIu64, d->next_id,
                     d->n_evicted);
    sift_statefile_line_end(&b, 0);
    for (const struct cluster *c = d->lru_tail; c; c = c->lru_prev) {
        size_t start = b.len;
        sift_buf_appendf(
            &b, "%" PRIu32 " %" PRIu64 " %" PRId64 " %" PRId64 "\t%s", c->id,
            c->count, c->first_seen_ns, c->last_seen_ns, c->text);
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
    unsigned next_id;
    unsigned long long evicted;
    uint32_t max_id;
};

static int
load_line(char *line, size_t len, unsigned lineno, int ok, int whole, void *arg)
{
    struct load_ctx *c = arg;
    struct sift_drain *d = c->d;
    (void)len;
    (void)whole; /* a cut last line is damage too: the file is replaced whole */
    if (lineno == 1) {
        if (!ok ||
            sscanf(line, "sift-drain 1 %u %llu", &c->next_id, &c->evicted) !=
                2 ||
            c->next_id == 0) {
            d->load_header_bad = 1;
            d->load_bad_lines++;
            c->next_id = 0;
            c->evicted = 0;
            SIFT_ERROR("drain: %s: line 1 (the header) is damaged", c->path);
        }
        return 0;
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
    struct load_ctx c = {d, path, 0, 0, 0};
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
