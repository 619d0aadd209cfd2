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

/** Test hook: fail the n-th next sift_try_* call onward (0 disables). */
void sift_alloc_fail_after(long n);

/**
 * Returns free heap pages of every malloc arena to the kernel
 * (malloc_trim(0) on glibc, nothing elsewhere).  For after a large
 * one-off job (a merge, a flush): glibc keeps what a worker thread freed
 * in that thread's arena otherwise.  Costs a walk of the free lists
 * (about a millisecond for tens of MB); any thread.
 */
void sift_alloc_release(void);

/**
 * Process-wide allocator settings; call once at start, before any thread.
 * On glibc it fixes the mmap threshold at 1 MiB and the trim threshold at
 * 64 MiB (sift_alloc_setup() in alloc.c says why); MALLOC_MMAP_THRESHOLD_
 * or a GLIBC_TUNABLES mmap_threshold in the environment wins (and
 * MALLOC_TRIM_THRESHOLD_ / trim_threshold for the trim).  Nothing elsewhere.
 */
void sift_alloc_setup(void);

#endif /* SIFT_ALLOC_H */
