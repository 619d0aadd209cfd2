/*
 * detector.c - baseline maths for anomaly scoring (pure, deterministic).
 *
 * Each series keeps an EWMA of its per-window value (level) and an EWMA
 * of the absolute deviation from that level (absdev).  For a normal
 * distribution, mean absolute deviation = 0.798 sigma, so 1.253 * absdev
 * estimates sigma; unlike a variance, it grows only linearly with one
 * outlier, which is the robustness the MAD gives offline.  A noise floor
 * keeps the spread of quiet series from collapsing to 0 (counts: Poisson
 * sqrt(level), at least 1).  The first 1 / alpha windows are a plain
 * mean (warm start).  After that, before being folded in, a value is
 * clipped to level +- 3 spreads, and a value more than 2 spreads away is
 * folded in with a tenth of the weight, so an ongoing incident or a slow
 * rise does not become the new normal within a few windows.
 *
 * The score is clamp(10 * z, 0, 100): 50 means five spreads from normal.
 *
 * CUSUM (sift_cusum_step): small persistent shifts (a slow rise of the
 * error ratio) are invisible window by window; Page's one-sided CUSUM
 * S = max(0, S + z - k), k = 0.5, accumulates the excess of each window's
 * z over half a spread, so a shift of one spread reaches S = 5 in about
 * ten windows and a ramp much sooner than any single window does.  S is
 * in spreads too, and scored with the same mapping: 50 = five spreads of
 * accumulated excess (in-control run length about 900 windows for a
 * Gaussian z; far more here, as the ratio's spread includes a 2-point
 * floor).  Each window adds at most Z_CAP - k (a spike cannot fire it in
 * one window), S is capped at 10 (score 100), and a window at or below
 * the baseline (z <= 0) halves it: when the excess ends the score falls
 * under the threshold within a window or two, instead of draining at k
 * per window.
 *
 * Seasonality (struct sift_season): 24 hour-of-day baselines per series,
 * each a cumulative mean then a slow EWMA (memory about three days of
 * that hour).  The seasonal offset of an hour is its level minus the mean
 * of the 24 levels, weighted from 0 (after one day) to 1 (after min_days);
 * the scorer subtracts it from the window's value before the global
 * baseline sees it, so a daily shape learned on past days is "normal".
 *
 * No state outside the struct; any thread may use its own baselines.
 */
#include <math.h>

#include "sift/anomaly.h"

#define SIGMA_PER_ABSDEV 1.253
#define CLIP_SPREADS 3.0
#define ANOMALOUS_SPREADS 2.0
#define SLOW_FACTOR 0.1

void
sift_baseline_init(struct sift_baseline *b)
{
    b->level = 0;
    b->absdev = 0;
    b->n = 0;
}

static double
spread(const struct sift_baseline *b, double floor)
{
    double s = SIGMA_PER_ABSDEV * b->absdev;
    return s > floor ? s : floor;
}

double
sift_baseline_z(const struct sift_baseline *b, double x, double floor)
{
    double s = spread(b, floor);
    if (s <= 0)
        return 0;
    return (x - b->level) / s;
}

double
sift_score_from_z(double z)
{
    double s = 10.0 * fabs(z);
    return s > 100.0 ? 100.0 : s;
}

void
sift_baseline_update(struct sift_baseline *b, double x, double alpha,
                     double floor)
{
    if (b->n == 0) {
        b->level = x;
        b->absdev = 0;
        b->n = 1;
        return;
    }
    /* Warm start: a plain mean of the first 1 / alpha windows, so the
     * level and spread are settled when warm-up ends instead of still
     * leaning on the first window.  Nothing is clipped or slowed then:
     * there is no normal yet to protect, and a first window that was
     * only partly seen (a series starts mid-window) must not pin the
     * level. */
    double a0 = 1.0 / (double)(b->n + 1);
    if (a0 > alpha) {
        double dev = fabs(x - b->level);
        b->level += a0 * (x - b->level);
        b->absdev += a0 * (dev - b->absdev);
        b->n++;
        return;
    }
    double s = spread(b, floor);
    double lo = b->level - CLIP_SPREADS * s, hi = b->level + CLIP_SPREADS * s;
    double v = x < lo ? lo : (x > hi ? hi : x);
    /* An anomalous window barely moves the baseline, so a slow rise keeps
     * being measured against the old normal; a lasting shift is still
     * absorbed, ten times slower. */
    if (fabs(x - b->level) > ANOMALOUS_SPREADS * s)
        alpha *= SLOW_FACTOR;
    double dev = fabs(v - b->level);
    b->level += alpha * (v - b->level);
    b->absdev += alpha * (dev - b->absdev);
    if (b->n < UINT32_MAX)
        b->n++;
}

double
sift_count_floor(double m)
{
    return m > 1.0 ? sqrt(m) : 1.0;
}

#define CUSUM_K 0.5
#define CUSUM_Z_CAP 4.0
#define CUSUM_MAX 10.0

double
sift_cusum_step(double s, double z, double k)
{
    double zc = z > CUSUM_Z_CAP ? CUSUM_Z_CAP : z;
    double n = s + zc - k;
    if (n < 0)
        n = 0;
    if (n > CUSUM_MAX)
        n = CUSUM_MAX;
    /* A window back at (or under) normal is evidence the shift is over. */
    if (z <= 0 && n > s / 2)
        n = s / 2;
    return n;
}

void
sift_season_init(struct sift_season *se)
{
    for (int h = 0; h < SIFT_SEASON_HOURS; h++)
        sift_baseline_init(&se->hour[h]);
}

int
sift_season_hour(int64_t ts_ns)
{
    int64_t h = (ts_ns / (INT64_C(3600) * 1000000000)) % SIFT_SEASON_HOURS;
    return (int)(h < 0 ? h + SIFT_SEASON_HOURS : h);
}

void
sift_season_update(struct sift_season *se, int hour, double x,
                   double windows_per_hour)
{
    struct sift_baseline *b = &se->hour[hour];
    /* Cumulative mean at first, then an EWMA remembering ~3 days of the
     * hour, so one odd day moves the hour's level by a third at most. */
    double a = 1.0 / (double)(b->n + 1);
    double slow = 1.0 / (3.0 * windows_per_hour);
    sift_baseline_update(b, x, a > slow ? a : slow, sift_count_floor(b->level));
}

double
sift_season_offset(const struct sift_season *se, int hour,
                   double windows_per_hour, double min_days)
{
    double sum = 0, n_win = 0;
    for (int h = 0; h < SIFT_SEASON_HOURS; h++) {
        if (se->hour[h].n == 0)
            return 0; /* not a full day yet */
        sum += se->hour[h].level;
        n_win += se->hour[h].n;
    }
    double days = n_win / (SIFT_SEASON_HOURS * windows_per_hour);
    if (min_days < 1)
        min_days = 1;
    double w = min_days > 1 ? (days - 1) / (min_days - 1) : (days >= 1);
    if (w <= 0)
        return 0;
    if (w > 1)
        w = 1;
    return w * (se->hour[hour].level - sum / SIFT_SEASON_HOURS);
}
