/*
 * arena.c - bump allocator with cleanup hooks (nginx pools).
 *
 * Chunks form a singly linked list; allocations larger than a quarter of
 * the chunk size get a chunk of their own so a big request does not waste
 * the tail of the current chunk.  Alignment is 16 bytes.
 */
#include <stdint.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/arena.h"

struct chunk {
    struct chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
};

struct cleanup {
    struct cleanup *next;
    sift_cleanup_cb fn;
    void *arg;
};

struct sift_arena {
    struct chunk *head; /* current chunk; the first chunk is the tail */
    struct cleanup *cleanups;
    size_t chunk_len;
    size_t used;
};

static struct chunk *
chunk_new(size_t cap, int try)
{
    struct chunk *c = try ? sift_try_malloc(sizeof(*c) + cap)
                          : sift_xmalloc(sizeof(*c) + cap);
    if (!c)
        return NULL;
    c->next = NULL;
    c->cap = cap;
    c->used = 0;
    return c;
}

struct sift_arena *
sift_arena_new(size_t chunk_len)
{
    struct sift_arena *a = sift_xcalloc(1, sizeof(*a));
    a->chunk_len = chunk_len < 256 ? 256 : chunk_len;
    a->head = chunk_new(a->chunk_len, 0);
    return a;
}

static void
run_cleanups(struct sift_arena *a)
{
    struct cleanup *c = a->cleanups;
    a->cleanups = NULL;
    /* Hooks were pushed on the front, so this runs newest first. */
    while (c) {
        c->fn(c->arg);
        c = c->next;
    }
}

void
sift_arena_free(struct sift_arena *a)
{
    if (!a)
        return;
    run_cleanups(a);
    struct chunk *c = a->head;
    while (c) {
        struct chunk *next = c->next;
        sift_free(c);
        c = next;
    }
    sift_free(a);
}

void
sift_arena_reset(struct sift_arena *a)
{
    run_cleanups(a);
    struct chunk *c = a->head;
    while (c->next) {
        struct chunk *next = c->next;
        sift_free(c);
        c = next;
    }
    c->used = 0;
    a->head = c;
    a->used = 0;
}

static void *
arena_alloc(struct sift_arena *a, size_t len, int try)
{
    len = (len + 15) & ~(size_t)15;
    struct chunk *c = a->head;
    if (c->cap - c->used < len) {
        if (len > a->chunk_len / 4) {
            /* A dedicated chunk, linked behind the current one. */
            struct chunk *big = chunk_new(len, try);
            if (!big)
                return NULL;
            big->used = len;
            big->next = c->next;
            c->next = big;
            a->used += len;
            return big->data;
        }
        struct chunk *n = chunk_new(a->chunk_len, try);
        if (!n)
            return NULL;
        n->next = c;
        a->head = c = n;
    }
    void *p = c->data + c->used;
    c->used += len;
    a->used += len;
    return p;
}

void *
sift_arena_alloc(struct sift_arena *a, size_t len)
{
    return arena_alloc(a, len, 0);
}

void *
sift_arena_try_alloc(struct sift_arena *a, size_t len)
{
    if (len > SIZE_MAX / 2)
        return NULL;
    return arena_alloc(a, len, 1);
}

char *
sift_arena_strndup(struct sift_arena *a, const char *s, size_t len)
{
    char *p = sift_arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void
sift_arena_cleanup_add(struct sift_arena *a, sift_cleanup_cb fn, void *arg)
{
    struct cleanup *c = sift_arena_alloc(a, sizeof(*c));
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
}

size_t
sift_arena_used(const struct sift_arena *a)
{
    return a->used;
}
