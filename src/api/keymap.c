/*
 * keymap.c - document keys stored but not yet searchable (keymap.h).
 *
 * Design: an open-addressing hash table (linear probing, XXH3 of
 * "index\0id") whose size stays a power of two at most half full;
 * deletion shifts the following entries back (no tombstones).  It holds
 * only what was stored in the last refresh interval or so, since every
 * request prunes the entries that became visible.
 *
 * Invariants: no two entries have the same key; every entry's key is an
 * owned copy.
 *
 * Threads: loop thread only.
 */
#include "api/keymap.h"

#include <string.h>

#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/store.h"

struct slot {
    char *key; /* "index\0id", owned; NULL = empty */
    size_t len;
    uint64_t hash;
    uint64_t seq;
};

struct sift__keymap {
    struct slot *v;
    size_t cap; /* power of two */
    size_t n;
};

static char *
make_key(const struct sift_doc_key *k, size_t *len)
{
    *len = (size_t)k->index_len + 1 + k->id_len;
    char *s = sift_xmalloc(*len);
    memcpy(s, k->index, k->index_len);
    s[k->index_len] = '\0';
    memcpy(s + k->index_len + 1, k->id, k->id_len);
    return s;
}

struct sift__keymap *
sift__keymap_new(void)
{
    struct sift__keymap *m = sift_xcalloc(1, sizeof(*m));
    m->cap = 64;
    m->v = sift_xcalloc(m->cap, sizeof(*m->v));
    return m;
}

void
sift__keymap_free(struct sift__keymap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        sift_free(m->v[i].key);
    sift_free(m->v);
    sift_free(m);
}

/* The slot holding key, or the empty one where it would go. */
static size_t
find(const struct sift__keymap *m, const char *key, size_t len, uint64_t h)
{
    size_t i = (size_t)h & (m->cap - 1);
    while (m->v[i].key && !(m->v[i].hash == h && m->v[i].len == len &&
                            memcmp(m->v[i].key, key, len) == 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void
grow(struct sift__keymap *m)
{
    struct slot *old = m->v;
    size_t old_cap = m->cap;
    m->cap *= 2;
    m->v = sift_xcalloc(m->cap, sizeof(*m->v));
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].key)
            continue;
        size_t j = (size_t)old[i].hash & (m->cap - 1);
        while (m->v[j].key)
            j = (j + 1) & (m->cap - 1);
        m->v[j] = old[i];
    }
    sift_free(old);
}

int
sift__keymap_has(const struct sift__keymap *m, const struct sift_doc_key *k)
{
    size_t len;
    char *key = make_key(k, &len);
    uint64_t h = XXH3_64bits(key, len);
    int found = m->v[find(m, key, len, h)].key != NULL;
    sift_free(key);
    return found;
}

void
sift__keymap_put(struct sift__keymap *m, const struct sift_doc_key *k,
                 uint64_t seq)
{
    if ((m->n + 1) * 2 > m->cap)
        grow(m);
    size_t len;
    char *key = make_key(k, &len);
    uint64_t h = XXH3_64bits(key, len);
    size_t i = find(m, key, len, h);
    if (m->v[i].key) {
        m->v[i].seq = seq;
        sift_free(key);
        return;
    }
    m->v[i] = (struct slot){key, len, h, seq};
    m->n++;
}

/* Empties slot i and moves back the entries of its probe run. */
static void
remove_at(struct sift__keymap *m, size_t i)
{
    sift_free(m->v[i].key);
    m->v[i].key = NULL;
    m->n--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & (m->cap - 1);
        if (!m->v[j].key)
            return;
        size_t home = (size_t)m->v[j].hash & (m->cap - 1);
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        int in_between =
            i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_between) {
            m->v[i] = m->v[j];
            m->v[j].key = NULL;
            i = j;
        }
    }
}

void
sift__keymap_del(struct sift__keymap *m, const struct sift_doc_key *k)
{
    size_t len;
    char *key = make_key(k, &len);
    uint64_t h = XXH3_64bits(key, len);
    size_t i = find(m, key, len, h);
    sift_free(key);
    if (m->v[i].key)
        remove_at(m, i);
}

size_t
sift__keymap_prune(struct sift__keymap *m, uint64_t visible_seq)
{
    size_t dropped = 0;
    for (size_t i = 0; i < m->cap;) {
        struct slot *sl = &m->v[i];
        if (sl->key && sl->seq != 0 && sl->seq <= visible_seq) {
            remove_at(m, i); /* may move another entry into i: look again */
            dropped++;
            continue;
        }
        i++;
    }
    return dropped;
}

size_t
sift__keymap_size(const struct sift__keymap *m)
{
    return m->n;
}
