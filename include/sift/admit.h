/*
 * admit.h - the time checks every event passes before it is stored:
 * timestamps too far in the future, and events already older than the
 * retention.
 *
 * An event stamped 2030 by a host with a wrong clock would otherwise sit
 * at the newest end of every time range, keep its segment young for
 * years and stay out of every "last hour" search; an event older than
 * the retention would be accepted and then deleted by the next lifecycle
 * check without anyone being told.  Both are decided here, once, for
 * every source (the pipeline calls it), against the arrival time:
 *
 *   future   ts > arrival + max_future: clamped (ts = arrival, the
 *            original time kept in the keyword field _ts_original, RFC
 *            3339) or, with reject_future, refused with a reason for the
 *            dead-letter store.  max_future 0 = no check.
 *   expired  ts < arrival - retention: refused with a reason for the
 *            dead-letter store (counted as "expired" in the reply).
 *            retention 0 = kept forever, no check.
 *
 * Pure functions; any thread.
 */
#ifndef SIFT_ADMIT_H
#define SIFT_ADMIT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/event.h"

struct sift_arena;

#define SIFT_TS_ORIGINAL_FIELD "_ts_original"

struct sift_admit_opts {
    int64_t max_future_ns; /* 0 = no future check */
    int reject_future;     /* 0 = clamp to arrival, 1 = refuse */
    int64_t retention_ns;  /* 0 = retention off: nothing expires */
};

enum sift_admit_result {
    SIFT_ADMIT_OK = 0,
    SIFT_ADMIT_CLAMPED = 1,  /* stored at arrival time, original kept */
    SIFT_ADMIT_FUTURE = 2,   /* refused: too far in the future */
    SIFT_ADMIT_EXPIRED = 3,  /* refused: older than the retention */
    SIFT_ADMIT_NO_MEMORY = 4 /* the arena could not hold the new field */
};

/**
 * Checks ev against o at arrival time now_ns.  SIFT_ADMIT_CLAMPED
 * rewrites ev in place (ts_ns and one more field, allocated from arena;
 * the old field array is left as it was).  For a refusal, reason (which
 * may be NULL) receives a line for the dead-letter store, e.g. "older
 * than the retention (30d): 2005-12-04T04:47:44Z, arrived
 * 2026-11-22T10:00:00Z".  Borrows everything.
 */
enum sift_admit_result sift_admit_event(const struct sift_admit_opts *o,
                                        struct sift_event *ev, int64_t now_ns,
                                        struct sift_arena *arena, char *reason,
                                        size_t reason_len);

#endif /* SIFT_ADMIT_H */
