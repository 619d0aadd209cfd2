/*
 * clock.h - the one source of "now", overridable for tests.
 *
 * sift_clock_now_ns() is CLOCK_REALTIME plus an offset that tests (and the
 * debug clock endpoint) set with sift_clock_set_offset_ns(), so lifecycle
 * tests can move days ahead without waiting, or that
 * sift_clock_freeze_ns() stops at one instant, so tests that step time
 * (anomaly windows follow arrival time) are deterministic.  Monotonic time for
 * timeouts is sift_clock_mono_ns() and is never shifted.  Thread-safe.
 */
#ifndef SIFT_CLOCK_H
#define SIFT_CLOCK_H

#include <stdint.h>

int64_t sift_clock_now_ns(void);
int64_t sift_clock_mono_ns(void);
/** CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID). */
int64_t sift_clock_thread_cpu_ns(void);
void sift_clock_set_offset_ns(int64_t offset_ns);
/**
 * Makes sift_clock_now_ns() return at_ns until called again; 0 lets it
 * run (CLOCK_REALTIME plus the offset) again.  Tests and the debug clock
 * endpoint only.  Any thread.
 */
void sift_clock_freeze_ns(int64_t at_ns);
/** The frozen instant, or 0 when the clock runs. */
int64_t sift_clock_frozen_ns(void);
int64_t sift_clock_get_offset_ns(void);

#define SIFT_NS_PER_MS INT64_C(1000000)
#define SIFT_NS_PER_SEC INT64_C(1000000000)

#endif /* SIFT_CLOCK_H */
