/*
 * detector.c - baseline maths for anomaly scoring (pure, deterministic).
 *
 * Each series keeps an EWMA of its per-window value (level) and an EWMA
 * of the absolute deviation from that level (absdev).  For a normal
 * distribution, mean absolute deviation = 0.798 sigma, so 1.253 * absdev
 * estimates sigma; unlike a variance, it grows only linearly with one
 * outlier, which is the robustness the MAD gives offline.  A noise floor
 * keeps the spread of quiet series from collapsing to 0 (counts: Poisson
 * sqrt(level), at least 1).  Before being folded in, a value is clipped
 * to level +- 3 spreads, and a value more than 2 spreads away is folded
 * in with a tenth of the weight, so an ongoing incident or a slow rise
 * does not become the new normal within a few windows.
 *
 * The score is clamp(10 * z, 0, 100): 50 means five spreads from normal.
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
