/*
 * admit.c - future and expired timestamps (include/sift/admit.h).
 *
 * Design: two comparisons against the arrival time, done for every event
 * of every source by the pipeline before any stage sees it, so the
 * template miner, the anomaly ring and the store all get the clamped
 * time.  Durations in reasons are written the way the config takes
 * them (30d, 1h, 90m), so the operator sees the key's value.
 *
 * Invariants: an admitted event's ts_ns <= now + max_future (when the
 * check is on); a clamped event keeps its original time as text.
 *
 * Threads: pure; any thread.
 */
#include "sift/admit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/time.h"

/* "30d", "1h", "90m", "45s", "250ms": the largest unit that divides. */
static void
format_duration(int64_t ns, char *out, size_t len)
{
    static const struct {
        int64_t ns;
        const char *unit;
    } units[] = {{SIFT_NS_PER_DAY, "d"},
                 {SIFT_NS_PER_HOUR, "h"},
                 {SIFT_NS_PER_MIN, "m"},
                 {INT64_C(1000000000), "s"},
                 {INT64_C(1000000), "ms"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ns >= units[i].ns && ns % units[i].ns == 0) {
            snprintf(out, len, "%" PRId64 "%s", ns / units[i].ns,
                     units[i].unit);
            return;
        }
    }
    snprintf(out, len, "%" PRId64 "ns", ns);
}

static void
reason_for(char *reason, size_t len, const char *what, int64_t limit_ns,
           int64_t ts_ns, int64_t now_ns)
{
    if (!reason || len == 0)
        return;
    char lim[32];
    format_duration(limit_ns, lim, sizeof(lim));
    struct sift_buf ts = SIFT_BUF_INIT, now = SIFT_BUF_INIT;
    sift_time_format_rfc3339(ts_ns, 3, &ts);
    sift_time_format_rfc3339(now_ns, 3, &now);
    snprintf(reason, len, "%s (%s): %s, arrived %s", what, lim,
             sift_buf_cstr(&ts), sift_buf_cstr(&now));
    sift_buf_cleanup(&ts);
    sift_buf_cleanup(&now);
}

static int
clamp(struct sift_event *ev, int64_t now_ns, struct sift_arena *arena)
{
    struct sift_buf t = SIFT_BUF_INIT;
    sift_time_format_rfc3339(ev->ts_ns, 9, &t);
    char *v = sift_arena_try_alloc(arena, t.len);
    struct sift_field *f =
        sift_arena_try_alloc(arena, (ev->n_fields + 1) * sizeof(*f));
    if (!v || !f) {
        sift_buf_cleanup(&t);
        return -1;
    }
    memcpy(v, t.data, t.len);
    if (ev->n_fields)
        memcpy(f, ev->fields, ev->n_fields * sizeof(*f));
    f[ev->n_fields] = (struct sift_field){
        .name = SIFT_TS_ORIGINAL_FIELD,
        .name_len = (uint32_t)strlen(SIFT_TS_ORIGINAL_FIELD),
        .value = v,
        .value_len = (uint32_t)t.len,
        .type = SIFT_FT_KEYWORD,
    };
    sift_buf_cleanup(&t);
    ev->fields = f;
    ev->n_fields++;
    ev->ts_ns = now_ns;
    return 0;
}

enum sift_admit_result
sift_admit_event(const struct sift_admit_opts *o, struct sift_event *ev,
                 int64_t now_ns, struct sift_arena *arena, char *reason,
                 size_t reason_len)
{
    if (o->max_future_ns > 0 && now_ns <= INT64_MAX - o->max_future_ns &&
        ev->ts_ns > now_ns + o->max_future_ns) {
        if (o->reject_future) {
            reason_for(reason, reason_len,
                       "timestamp too far in the future (ingest.max_future)",
                       o->max_future_ns, ev->ts_ns, now_ns);
            return SIFT_ADMIT_FUTURE;
        }
        return clamp(ev, now_ns, arena) == 0 ? SIFT_ADMIT_CLAMPED
                                             : SIFT_ADMIT_NO_MEMORY;
    }
    if (o->retention_ns > 0 && now_ns >= INT64_MIN + o->retention_ns &&
        ev->ts_ns < now_ns - o->retention_ns) {
        reason_for(reason, reason_len,
                   "older than the retention (tiers.retention)",
                   o->retention_ns, ev->ts_ns, now_ns);
        return SIFT_ADMIT_EXPIRED;
    }
    return SIFT_ADMIT_OK;
}
