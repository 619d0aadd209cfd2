/*
 * ratelimit.c - token buckets in a bounded, chained hash table.
 *
 * Design: a fixed array of max_keys entries and a power-of-two array of
 * chain heads (32-bit indices), both allocated once; nothing is allocated
 * per request.  Keys are hashed with XXH3 and a random seed drawn at
 * creation.  When every entry is in use, a CLOCK hand sweeps the entries:
 * an entry whose bucket has refilled to `burst` is evicted at once (it
 * behaves exactly like a new key, so nothing is lost); otherwise an entry
 * with its reference bit set gets a second chance; the first entry with a
 * clear bit is chosen, unless an idle entry follows within IDLE_LOOKAHEAD.
 * New keys start with a clear bit, so keys seen only once go first.  The
 * sweep is bounded by 2 * max_keys + IDLE_LOOKAHEAD steps.
 *
 * Invariants: every used entry is on exactly one chain, the one of
 * (hash & mask); tokens is in [0, burst].  Thread: one at a time (loop).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <openssl/rand.h>
#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/ratelimit.h"

#define NIL UINT32_MAX
#define IDLE_LOOKAHEAD 16 /* entries checked for an idle one past a victim */

struct rl_entry {
    uint64_t hash;
    int64_t last_ns; /* time tokens was last brought up to date */
    double tokens;
    uint32_t next;    /* chain link, NIL at the end */
    uint32_t key_len; /* full length of the key */
    uint8_t ref;      /* CLOCK reference bit */
    char key[SIFT_RATELIMIT_KEY_MAX];
};

struct sift_ratelimit {
    double rate_per_ns;
    double rate_per_sec;
    double burst;
    uint64_t seed;
    struct rl_entry *entries;
    uint32_t *heads;
    uint32_t mask; /* n_heads - 1 */
    uint32_t max_keys;
    uint32_t n_used;
    uint32_t hand; /* CLOCK position */
    uint64_t n_refused;
};

int
sift_ratelimit_new(const struct sift_ratelimit_opts *opts,
                   struct sift_ratelimit **out)
{
    assert(opts && out);
    struct sift_ratelimit *rl = sift_xcalloc(1, sizeof *rl);
    size_t max_keys =
        opts->max_keys ? opts->max_keys : SIFT_RATELIMIT_DEFAULT_KEYS;
    if (max_keys > (1u << 24))
        max_keys = 1u << 24;
    rl->rate_per_sec = opts->rate_per_sec > 0 ? opts->rate_per_sec : 0;
    rl->rate_per_ns = rl->rate_per_sec / 1e9;
    rl->burst = opts->burst >= 1 ? opts->burst : 1;
    rl->max_keys = (uint32_t)max_keys;
    uint32_t n_heads = 1;
    while (n_heads < rl->max_keys)
        n_heads <<= 1;
    rl->mask = n_heads - 1;
    rl->entries = sift_xcalloc(max_keys, sizeof *rl->entries);
    rl->heads = sift_xmalloc(n_heads * sizeof *rl->heads);
    for (uint32_t i = 0; i < n_heads; i++)
        rl->heads[i] = NIL;
    if (RAND_bytes((unsigned char *)&rl->seed, sizeof rl->seed) != 1)
        rl->seed = (uint64_t)(uintptr_t)rl ^ 0x9e3779b97f4a7c15u;
    *out = rl;
    return SIFT_OK;
}

void
sift_ratelimit_free(struct sift_ratelimit *rl)
{
    if (!rl)
        return;
    sift_free(rl->entries);
    sift_free(rl->heads);
    sift_free(rl);
}

size_t
sift_ratelimit_n_keys(const struct sift_ratelimit *rl)
{
    return rl->n_used;
}

uint64_t
sift_ratelimit_n_refused(const struct sift_ratelimit *rl)
{
    return rl->n_refused;
}

static double
level_at(const struct sift_ratelimit *rl, const struct rl_entry *e,
         int64_t now_ns)
{
    double t = e->tokens;
    if (now_ns > e->last_ns)
        t += (double)(now_ns - e->last_ns) * rl->rate_per_ns;
    return t < rl->burst ? t : rl->burst;
}

static void
unlink_entry(struct sift_ratelimit *rl, uint32_t idx)
{
    uint32_t *link = &rl->heads[rl->entries[idx].hash & rl->mask];
    while (*link != NIL) {
        if (*link == idx) {
            *link = rl->entries[idx].next;
            return;
        }
        link = &rl->entries[*link].next;
    }
    assert(0 && "ratelimit entry not on its chain");
}

#define IDLE_LOOKAHEAD 16 /* entries searched for an idle one past a victim */

static uint32_t
evict_one(struct sift_ratelimit *rl, int64_t now_ns)
{
    uint32_t victim = NIL;
    uint64_t max_steps = 2 * (uint64_t)rl->max_keys;
    for (uint64_t step = 0; step < max_steps && victim == NIL; step++) {
        uint32_t i = rl->hand;
        rl->hand = (rl->hand + 1) % rl->max_keys;
        struct rl_entry *e = &rl->entries[i];
        /* An idle key goes first (forgetting it changes nothing); a busy
         * one gets a second chance if it was used since the last pass. */
        if (e->ref && level_at(rl, e, now_ns) < rl->burst)
            e->ref = 0;
        else
            victim = i;
    }
    if (victim == NIL)
        victim = rl->hand;
    /*
     * Prefer an idle entry a little further on; the hand does not move,
     * so the lookahead does not speed up the sweep.
     */
    if (level_at(rl, &rl->entries[victim], now_ns) < rl->burst) {
        for (uint32_t k = 0; k < IDLE_LOOKAHEAD && k < rl->max_keys; k++) {
            uint32_t i = (rl->hand + k) % rl->max_keys;
            if (level_at(rl, &rl->entries[i], now_ns) >= rl->burst) {
                victim = i;
                break;
            }
        }
    }
    unlink_entry(rl, victim);
    return victim;
}

static int
key_equal(const struct rl_entry *e, uint64_t h, const char *key, size_t len)
{
    size_t cmp = len < SIFT_RATELIMIT_KEY_MAX ? len : SIFT_RATELIMIT_KEY_MAX;
    return e->hash == h && e->key_len == len &&
           (cmp == 0 || memcmp(e->key, key, cmp) == 0);
}

int
sift_ratelimit_take(struct sift_ratelimit *rl, const char *key, size_t key_len,
                    double cost, int64_t now_ns, uint32_t *retry_after_s)
{
    assert(rl && (key || !key_len) && retry_after_s);
    *retry_after_s = 0;
    if (rl->rate_per_sec <= 0)
        return SIFT_OK;
    if (key_len > UINT32_MAX)
        key_len = UINT32_MAX;
    uint64_t h = XXH3_64bits_withSeed(key, key_len, rl->seed);
    uint32_t *head = &rl->heads[h & rl->mask];
    uint32_t idx = *head;
    while (idx != NIL && !key_equal(&rl->entries[idx], h, key, key_len))
        idx = rl->entries[idx].next;

    struct rl_entry *e;
    if (idx == NIL) {
        idx = rl->n_used < rl->max_keys ? rl->n_used++ : evict_one(rl, now_ns);
        e = &rl->entries[idx];
        e->hash = h;
        e->key_len = (uint32_t)key_len;
        if (key_len)
            memcpy(e->key, key,
                   key_len < SIFT_RATELIMIT_KEY_MAX ? key_len
                                                    : SIFT_RATELIMIT_KEY_MAX);
        e->tokens = rl->burst;
        e->last_ns = now_ns;
        /* The eviction may have relinked chains; find the head again. */
        head = &rl->heads[h & rl->mask];
        e->next = *head;
        *head = idx;
        /*
         * New keys start without the reference bit: a flood of one-shot
         * keys (an attacker cycling addresses) is evicted before any key
         * that came back at least once.
         */
        e->ref = 0;
    } else {
        e = &rl->entries[idx];
        e->ref = 1;
    }
    e->tokens = level_at(rl, e, now_ns);
    if (now_ns > e->last_ns)
        e->last_ns = now_ns;

    if (!(cost > 0))
        cost = 0;
    if (cost > rl->burst)
        cost = rl->burst;
    if (e->tokens >= cost) {
        e->tokens -= cost;
        return SIFT_OK;
    }
    double wait_s = ceil((cost - e->tokens) / rl->rate_per_sec);
    if (wait_s < 1)
        wait_s = 1;
    if (wait_s > 86400.0 * 365)
        wait_s = 86400.0 * 365;
    *retry_after_s = (uint32_t)wait_s;
    rl->n_refused++;
    return SIFT_ELIMIT;
}

size_t
sift_ratelimit_addr_key(const struct sockaddr *sa, char *out, size_t out_len)
{
    char ip[INET6_ADDRSTRLEN];
    int n;
    if (!out_len)
        return 0;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        n = snprintf(out, out_len, "a:%s", ip);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0,    0,
                                                   0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, v4mapped, 12) == 0) {
            inet_ntop(AF_INET, b + 12, ip, sizeof ip);
            n = snprintf(out, out_len, "a:%s", ip);
        } else {
            struct in6_addr prefix;
            memset(&prefix, 0, sizeof prefix);
            memcpy(prefix.s6_addr, b, 8);
            inet_ntop(AF_INET6, &prefix, ip, sizeof ip);
            n = snprintf(out, out_len, "a:%s/64", ip);
        }
    } else {
        n = snprintf(out, out_len, "a:?");
    }
    if (n < 0)
        return 0;
    return (size_t)n < out_len ? (size_t)n : out_len - 1;
}
