/*
 * arena.h - bump allocator for memory scoped to one request or batch.
 *
 * Everything allocated from an arena is released at once by
 * sift_arena_free()/sift_arena_reset().  Cleanup hooks run (in reverse
 * order of registration) at free/reset, for fds and library contexts.
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef SIFT_ARENA_H
#define SIFT_ARENA_H

#include <stddef.h>

struct sift_arena;

typedef void (*sift_cleanup_cb)(void *arg);

/** Creates an arena whose chunks are at least chunk_len bytes. */
struct sift_arena *sift_arena_new(size_t chunk_len);
/** Runs cleanups and releases everything, the arena included. */
void sift_arena_free(struct sift_arena *a);
/** Runs cleanups and releases all but the first chunk for reuse. */
void sift_arena_reset(struct sift_arena *a);

/** 16-byte aligned; aborts on OOM (use for bounded sizes). */
void *sift_arena_alloc(struct sift_arena *a, size_t len);
/** Like sift_arena_alloc() but returns NULL when the memory is not there. */
void *sift_arena_try_alloc(struct sift_arena *a, size_t len);
char *sift_arena_strndup(struct sift_arena *a, const char *s, size_t len);
/** Registers fn(arg) to run at free/reset. */
void sift_arena_cleanup_add(struct sift_arena *a, sift_cleanup_cb fn,
                            void *arg);
/** Bytes handed out since the last reset (for limits). */
size_t sift_arena_used(const struct sift_arena *a);

#endif /* SIFT_ARENA_H */
