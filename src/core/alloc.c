/*
 * alloc.c - heap wrappers with abort-on-OOM and failure injection.
 *
 * The injection counter is atomic so sanitizer builds stay quiet when
 * worker threads allocate while a test arms it.  Context: any thread.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "sift/alloc.h"
#include "sift/error.h"

static atomic_long fail_countdown; /* 0 = off; 1 = fail the next call */

static int
should_fail(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (n <= 0)
        return 0;
    if (n == 1)
        return 1; /* stays armed: every later call fails too */
    atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return 0;
}

void
sift_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n < 0 ? 0 : n);
}

static void
oom(size_t len)
{
    fprintf(stderr, "siftd: out of memory allocating %zu bytes\n", len);
    abort();
}

void *
sift_xmalloc(size_t len)
{
    void *p = malloc(len ? len : 1);
    if (!p)
        oom(len);
    return p;
}

void *
sift_xcalloc(size_t n, size_t len)
{
    void *p = calloc(n ? n : 1, len ? len : 1);
    if (!p)
        oom(n * len);
    return p;
}

void *
sift_xrealloc(void *p, size_t len)
{
    void *q = realloc(p, len ? len : 1);
    if (!q)
        oom(len);
    return q;
}

char *
sift_xstrdup(const char *s)
{
    return sift_xstrndup(s, strlen(s));
}

char *
sift_xstrndup(const char *s, size_t len)
{
    char *p = sift_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *
sift_try_malloc(size_t len)
{
    if (should_fail())
        return NULL;
    return malloc(len ? len : 1);
}

void *
sift_try_calloc(size_t n, size_t len)
{
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, len ? len : 1);
}

void *
sift_try_realloc(void *p, size_t len)
{
    if (should_fail())
        return NULL;
    return realloc(p, len ? len : 1);
}

void
sift_free(void *p)
{
    free(p);
}

int
sift_try_scratch(uint8_t **buf, size_t *cap, size_t n)
{
    if (*cap >= n)
        return SIFT_OK;
    uint8_t *d = sift_try_malloc(n);
    if (d == NULL)
        return SIFT_ENOMEM;
    sift_free(*buf);
    *buf = d;
    *cap = n;
    return SIFT_OK;
}

/*
 * Which allocator, and why.
 *
 * Release builds link jemalloc (CMake SIFT_ALLOCATOR, default jemalloc
 * except in sanitizer and fuzz builds, whose runtimes bring their own).
 * With glibc's malloc the arenas of the worker threads and of
 * librdkafka's broker threads fragmented: large blocks of many sizes
 * (builder arrays, fetch buffers, zstd buffers), freed by other threads,
 * left freed space that stayed resident, so peak RSS rose with the
 * backlog a source drained (32 MiB buffer: 9x backlog 20-50% above 3x at
 * glibc's best setting; docs/internals/ingest-bench.md, "Allocator").
 * jemalloc's size classes and its decay-based purging keep the peak far
 * flatter (9x backlog: median 121 MB with glibc, 86-90 MB) at the same
 * CPU per event.
 *
 * The settings below are compiled in through jemalloc's malloc_conf
 * symbol; the MALLOC_CONF environment variable still overrides each one:
 *   narenas:2            few arenas: siftd's threads share them, and
 *                        tcaches absorb the contention; more arenas held
 *                        more dirty pages (2.9x the buffer instead of 2.5x)
 *   dirty_decay_ms:1000  freed pages go back to the kernel within a second
 *   muzzy_decay_ms:0     (default 10 s) without a lazy second stage
 *   background_thread    purging runs on jemalloc's own thread, not on
 *                        whichever of ours frees memory
 */
#if defined(SIFT_JEMALLOC)
#include <jemalloc/jemalloc.h>

const char *malloc_conf = "narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0,"
                          "background_thread:true";

void
sift_alloc_setup(void)
{
}

void
sift_alloc_release(void)
{
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.purge",
             (unsigned)MALLCTL_ARENAS_ALL);
    (void)mallctl(name, NULL, NULL, NULL, 0);
}

int
sift_alloc_stats(struct sift_alloc_stats *st)
{
    memset(st, 0, sizeof(*st));
    uint64_t epoch = 1;
    size_t len = sizeof(epoch);
    size_t allocated = 0, resident = 0;
    size_t zlen = sizeof(size_t);
    /* Stats are a snapshot refreshed by writing "epoch". */
    if (mallctl("epoch", &epoch, &len, &epoch, len) != 0 ||
        mallctl("stats.allocated", &allocated, &zlen, NULL, 0) != 0 ||
        mallctl("stats.resident", &resident, &zlen, NULL, 0) != 0)
        return -1;
    st->in_use = allocated;
    st->free = resident > allocated ? resident - allocated : 0;
    return 0;
}

void
sift_alloc_thread_peak_reset(void)
{
    (void)mallctl("thread.peak.reset", NULL, NULL, NULL, 0);
}

uint64_t
sift_alloc_thread_peak(void)
{
    uint64_t peak = 0;
    size_t len = sizeof(peak);
    if (mallctl("thread.peak.read", &peak, &len, NULL, 0) != 0)
        return 0;
    return peak;
}

const char *
sift_alloc_name(void)
{
    return "jemalloc";
}

#else /* the C library's malloc */

/*
 * glibc starts with a 128 KiB mmap threshold but raises it (up to 32 MiB)
 * each time an mmap'd block is freed, so after the first few segment
 * builders and librdkafka fetch buffers every large block lives in an
 * arena heap, where it fragments (above).  A fixed threshold keeps large
 * blocks in their own mappings, returned to the kernel on free.
 *
 * The threshold is 1 MiB, not glibc's initial 128 KiB: at 128 KiB every
 * HTTP body, builder array and zstd buffer paid an mmap, its page faults
 * and a munmap, and a fixed threshold also pins the trim threshold at
 * 128 KiB, so the heap top was given back and faulted in again all the
 * time: 25-45% fewer events per CPU-second (docs/internals/ingest-bench.md,
 * "Allocator").  The trim threshold is raised to 64 MiB instead; the
 * flush worker and merges call malloc_trim() (sift_alloc_release), which
 * hands back free pages anywhere in the arenas on their own schedule.
 */
#define SIFT_MMAP_THRESHOLD (1024 * 1024)
#define SIFT_TRIM_THRESHOLD (64 * 1024 * 1024)

void
sift_alloc_setup(void)
{
#if defined(__GLIBC__)
    const char *t = getenv("GLIBC_TUNABLES");
    if (getenv("MALLOC_MMAP_THRESHOLD_") != NULL ||
        (t != NULL && strstr(t, "mmap_threshold") != NULL))
        return;
    (void)mallopt(M_MMAP_THRESHOLD, SIFT_MMAP_THRESHOLD);
    if (getenv("MALLOC_TRIM_THRESHOLD_") == NULL &&
        (t == NULL || strstr(t, "trim_threshold") == NULL))
        (void)mallopt(M_TRIM_THRESHOLD, SIFT_TRIM_THRESHOLD);
#endif
}

void
sift_alloc_release(void)
{
#if defined(__GLIBC__)
    (void)malloc_trim(0);
#endif
}

int
sift_alloc_stats(struct sift_alloc_stats *st)
{
    memset(st, 0, sizeof(*st));
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33) &&          \
    !defined(SIFT_SANITIZER_MALLOC)
    /* Sums every arena; fordblks counts trimmed (non-resident) free
     * space too, so "free" is an upper bound here. */
    struct mallinfo2 mi = mallinfo2();
    st->in_use = mi.uordblks + mi.hblkhd;
    st->free = mi.fordblks;
    return 0;
#else
    return -1;
#endif
}

void
sift_alloc_thread_peak_reset(void)
{
}

uint64_t
sift_alloc_thread_peak(void)
{
    return 0;
}

const char *
sift_alloc_name(void)
{
#if defined(__GLIBC__)
    return "glibc";
#else
    return "libc";
#endif
}

#endif
