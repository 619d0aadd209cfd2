/*
 * alloc.h - the one door to the heap.
 *
 * sift_x*() abort on out-of-memory and are for fixed-size internal state.
 * sift_try_*() return NULL and are required wherever an outside input
 * controls the size (query results, decompressed blocks, request bodies);
 * callers turn NULL into SIFT_ENOMEM.
 *
 * Failure injection (tests): sift_alloc_fail_after(n) makes the n-th
 * following sift_try_* call (1-based) and every later one fail until
 * sift_alloc_fail_after(0) clears it.  sift_x* calls are never failed.
 */
#ifndef SIFT_ALLOC_H
#define SIFT_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *sift_xmalloc(size_t len);
void *sift_xcalloc(size_t n, size_t len);
void *sift_xrealloc(void *p, size_t len);
/** Returns an owned copy of s; release with sift_free(). */
char *sift_xstrdup(const char *s);
/** Returns an owned NUL-terminated copy of s[0..len). */
char *sift_xstrndup(const char *s, size_t len);

void *sift_try_malloc(size_t len);
void *sift_try_calloc(size_t n, size_t len);
void *sift_try_realloc(void *p, size_t len);

void sift_free(void *p);

/**
 * Makes the scratch buffer *buf (capacity *cap bytes) hold at least n
 * bytes, replacing it when it is smaller: its contents are not kept.
 * Returns 0, or SIFT_ENOMEM with *buf and *cap unchanged.
 */
int sift_try_scratch(uint8_t **buf, size_t *cap, size_t n);

/** Test hook: fail the n-th next sift_try_* call onward (0 disables). */
void sift_alloc_fail_after(long n);

/*
 * The allocator itself: jemalloc in release builds, the C library's
 * malloc in sanitizer and fuzz builds (alloc.c says why).
 */

/**
 * Hands freed pages back to the kernel now: every jemalloc arena is
 * purged, or malloc_trim(0) on glibc.  For after a large one-off job (a
 * merge, a flush), so its peak does not stay resident.  Costs a walk of
 * the free lists (about a millisecond for tens of MB); any thread.
 */
void sift_alloc_release(void);

/**
 * Process-wide allocator settings; call once at start, before any
 * thread.  jemalloc takes its settings from the malloc_conf string in
 * alloc.c (the MALLOC_CONF environment variable overrides them), so this
 * does nothing there.  On glibc it fixes the mmap threshold at 1 MiB and
 * the trim threshold at 64 MiB; MALLOC_MMAP_THRESHOLD_ or a GLIBC_TUNABLES
 * mmap_threshold in the environment wins (and MALLOC_TRIM_THRESHOLD_ /
 * trim_threshold for the trim).
 */
void sift_alloc_setup(void);

/** What the allocator holds, over every arena. */
struct sift_alloc_stats {
    size_t in_use; /* bytes handed out and not yet freed */
    size_t free;   /* held beyond that: freed but kept, plus metadata */
};

/**
 * Fills *st; returns 0, or -1 (and zeros) where the allocator cannot
 * tell (sanitizer builds, whose runtime serves malloc, and C libraries
 * other than glibc).  Takes the arenas' locks: for a metrics scrape, not a hot
 * path. Any thread.
 */
int sift_alloc_stats(struct sift_alloc_stats *st);

/**
 * The calling thread's allocation high-water mark since its last
 * sift_alloc_thread_peak_reset(): the most that bytes allocated less
 * bytes freed by this thread reached.  0 where the allocator cannot tell
 * (glibc, sanitizer builds).  Cheap; for measuring what one job holds at
 * its peak (a segment build).
 */
void sift_alloc_thread_peak_reset(void);
uint64_t sift_alloc_thread_peak(void);

/** "jemalloc", "glibc" or "libc": which allocator this build uses. */
const char *sift_alloc_name(void);

#endif /* SIFT_ALLOC_H */
