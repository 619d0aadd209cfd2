/*
 * clock.c - wall clock with a test offset (or frozen for tests), and the
 * monotonic clock.
 *
 * Context: any thread; the offset is an atomic.
 */
#include <stdatomic.h>
#include <time.h>

#include "sift/clock.h"

static atomic_llong offset_ns;
static atomic_llong frozen_ns; /* 0 = the clock runs */

static int64_t
read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * SIFT_NS_PER_SEC + (int64_t)ts.tv_nsec;
}

int64_t
sift_clock_now_ns(void)
{
    long long f = atomic_load_explicit(&frozen_ns, memory_order_relaxed);
    if (f != 0)
        return (int64_t)f;
    return read_clock(CLOCK_REALTIME) +
           (int64_t)atomic_load_explicit(&offset_ns, memory_order_relaxed);
}

int64_t
sift_clock_mono_ns(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t
sift_clock_thread_cpu_ns(void)
{
    return read_clock(CLOCK_THREAD_CPUTIME_ID);
}

void
sift_clock_set_offset_ns(int64_t off)
{
    atomic_store(&offset_ns, (long long)off);
}

int64_t
sift_clock_get_offset_ns(void)
{
    return (int64_t)atomic_load(&offset_ns);
}

void
sift_clock_freeze_ns(int64_t at_ns)
{
    atomic_store(&frozen_ns, (long long)at_ns);
}

int64_t
sift_clock_frozen_ns(void)
{
    return (int64_t)atomic_load(&frozen_ns);
}
