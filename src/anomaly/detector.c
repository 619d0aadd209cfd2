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
 * Tails (sift_count_upper_p & co.): how unlikely a window's count is,
 * under a negative binomial with the baseline's mean and variance (the
 * variance is at least the mean: Poisson when the series is no noisier
 * than counting), from the regularized incomplete beta and gamma
 * functions; a binomial tail for the error count of a window.  A tail
 * probability becomes a score through its normal quantile
 * (sift_score_from_p: p = 2.9e-7, "five sigma", scores 50), so a small
 * count is judged by the odds of that count, not by a normal
 * approximation that makes 8 out of a usual 2.5 look like 3.5 sigma.
 * sift_nb_llr is the log-likelihood ratio of a count under two negative
 * binomials of one dispersion, the step of the drop CUSUM.
 *
 * Seasonality (struct sift_season): 24 hour-of-day baselines per series,
 * each a cumulative mean then a slow EWMA (memory about three days of
 * that hour).  The seasonal offset of an hour is its level minus the mean
 * of the 24 levels, weighted from 0 (after one day) to 1 (after min_days);
 * the scorer subtracts it from the window's value before the global
 * baseline sees it, so a daily shape learned on past days is "normal".
 * The error share has its own (struct sift_share_season): each hour's
 * errors and events pooled over about three days of that hour; the
 * scorer takes the hour's share as the usual one when it is the higher.
 *
 * No state outside the struct; any thread may use its own baselines.
 * The log-gamma function is lgamma_r(): plain lgamma() writes the global
 * signgam, a data race between two scoring threads (seen by TSan with
 * two cluster nodes' scorers in one process).
 */
#define _DEFAULT_SOURCE /* lgamma_r */
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
sift_score_from_z(double z)
{
    double s = 10.0 * fabs(z);
    return s > 100.0 ? 100.0 : s;
}

void
sift_baseline_update(struct sift_baseline *b, double x, double alpha,
                     double floor)
{
    sift_baseline_update_w(b, x, alpha, floor, 1.0);
}

void
sift_baseline_update_w(struct sift_baseline *b, double x, double alpha,
                       double floor, double weight)
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
    alpha *= weight;
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

/* ------------------------------------------------------------------ */
/* Tails of count distributions                                         */
/* ------------------------------------------------------------------ */

#define TAIL_EPS 1e-15
#define TAIL_ITER 500

/* Continued fraction of the regularized incomplete beta (Lentz). */
static double
betacf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double qab = a + b, qap = a + 1, qam = a - 1;
    double c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= TAIL_ITER; m++) {
        double m2 = 2.0 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < tiny)
            d = tiny;
        c = 1 + aa / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < TAIL_EPS)
            break;
    }
    return h;
}

/* ln |Gamma(x)|, thread-safe (lgamma() writes the global signgam). */
static double
log_gamma(double x)
{
    int sign;
    return lgamma_r(x, &sign);
}

double
sift_ibeta(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double lbt = log_gamma(a + b) - log_gamma(a) - log_gamma(b) + a * log(x) +
                 b * log1p(-x);
    double bt = exp(lbt);
    if (x < (a + 1) / (a + b + 2))
        return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

/* Regularized lower incomplete gamma P(a, x). */
static double
gamma_p(double a, double x)
{
    if (x <= 0)
        return 0;
    double gln = log_gamma(a);
    if (x < a + 1) {
        double ap = a, sum = 1 / a, del = sum;
        for (int n = 0; n < TAIL_ITER; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * TAIL_EPS)
                break;
        }
        return sum * exp(-x + a * log(x) - gln);
    }
    /* Continued fraction for Q = 1 - P (Lentz). */
    const double tiny = 1e-300;
    double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (int i = 1; i <= TAIL_ITER; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < tiny)
            d = tiny;
        c = b + an / c;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < TAIL_EPS)
            break;
    }
    return 1 - exp(-x + a * log(x) - gln) * h;
}

/* Negative binomial of mean mu and variance var (> mu): r and p. */
static int
nb_params(double mu, double var, double *r, double *p)
{
    if (var <= mu * 1.0001)
        return 0; /* Poisson */
    *p = mu / var;
    *r = mu * mu / (var - mu);
    return 1;
}

double
sift_count_upper_p(double mu, double var, double x)
{
    double k = ceil(x);
    if (k <= 0)
        return 1;
    if (mu <= 0)
        return 0;
    double r, p;
    if (nb_params(mu, var, &r, &p))
        return sift_ibeta(k, r, 1 - p); /* P(X >= k) */
    return gamma_p(k, mu);              /* P(X >= k), Poisson */
}

double
sift_count_lower_p(double mu, double var, double x)
{
    double k = floor(x);
    if (k < 0)
        return 0;
    if (mu <= 0)
        return 1;
    double r, p;
    if (nb_params(mu, var, &r, &p))
        return sift_ibeta(r, k + 1, p); /* P(X <= k) */
    return 1 - gamma_p(k + 1, mu);      /* P(X <= k), Poisson */
}

double
sift_nb_llr(double x, double m0, double m1, double c)
{
    /* NB pmf of mean m and size r = 1 / c: proportional in m to
     * (m / (r + m))^x (r / (r + m))^r; the ratio's log, with log1p so
     * that c -> 0 gives the Poisson's x ln(m1 / m0) - (m1 - m0). */
    double lr = log(m1 / m0);
    if (c <= 1e-12)
        return x * lr - (m1 - m0);
    return x * lr + (x + 1.0 / c) * (log1p(c * m0) - log1p(c * m1));
}

double
sift_binom_upper_p(double n, double e, double p)
{
    double k = ceil(e);
    if (k <= 0)
        return 1;
    if (k > n)
        return 0;
    if (p <= 0)
        return 0;
    if (p >= 1)
        return 1;
    return sift_ibeta(k, n - k + 1, p); /* P(E >= k) */
}

double
sift_z_from_p(double p)
{
    /* Acklam's rational approximation of the normal quantile, refined
     * by one Halley step; returns z with P(Z >= z) = p. */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (p <= 1e-300)
        return 37;
    if (p >= 1)
        return -37;
    /* q: the lower-tail probability of the quantile we want (-z). */
    double q = p, x;
    if (q < 0.02425) {
        double t = sqrt(-2 * log(q));
        x = (((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t +
             c[5]) /
            ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
    } else if (q <= 1 - 0.02425) {
        double t = q - 0.5, r = t * t;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r +
             a[5]) *
            t /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    } else {
        double t = sqrt(-2 * log1p(-q));
        x = -(((((c[0] * t + c[1]) * t + c[2]) * t + c[3]) * t + c[4]) * t +
              c[5]) /
            ((((d[0] * t + d[1]) * t + d[2]) * t + d[3]) * t + 1);
    }
    /* Halley refinement against erfc. */
    double e = 0.5 * erfc(-x / sqrt(2.0)) - q;
    double u = e * sqrt(2 * 3.14159265358979323846) * exp(x * x / 2);
    x = x - u / (1 + x * u / 2);
    return -x;
}

double
sift_score_from_p(double p)
{
    double z = sift_z_from_p(p);
    return z <= 0 ? 0 : sift_score_from_z(z);
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
    /* A plain mean at first, then an EWMA remembering ~3 days of the
     * hour, so one odd day moves the hour's level by a third at most.
     * The plain mean neither clips nor slows a window: measured against
     * a level that is still only its first windows, an incident in them
     * would make every ordinary window after it look anomalous and keep
     * the hour at the incident's level for days (a storm in the first
     * windows of an hour held that hour at 2.5 times its count after
     * three days, and the next hour's expected count went below 0). */
    double a = 1.0 / (double)(b->n + 1);
    double slow = 1.0 / (3.0 * windows_per_hour);
    if (a > slow) {
        double dev = b->n ? fabs(x - b->level) : 0;
        b->level += a * (x - b->level);
        b->absdev += a * (dev - b->absdev);
        b->n++;
        return;
    }
    sift_baseline_update(b, x, slow, sift_count_floor(b->level));
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

void
sift_share_season_init(struct sift_share_season *ss)
{
    for (int h = 0; h < SIFT_SEASON_HOURS; h++) {
        ss->err[h] = 0;
        ss->ev[h] = 0;
        ss->n[h] = 0;
    }
}

void
sift_share_season_update(struct sift_share_season *ss, int hour, double errors,
                         double events, double windows_per_hour)
{
    double d = 1.0 / (3.0 * windows_per_hour);
    if (d > 0.5)
        d = 0.5;
    ss->err[hour] = ss->err[hour] * (1 - d) + errors;
    ss->ev[hour] = ss->ev[hour] * (1 - d) + events;
    if (ss->n[hour] < UINT32_MAX)
        ss->n[hour]++;
}

double
sift_share_season_p(const struct sift_share_season *ss, int hour,
                    double windows_per_hour, double min_days, double *weight)
{
    *weight = 0;
    double ev = ss->ev[hour];
    if (ev <= 0)
        return 0;
    double days = (double)ss->n[hour] / windows_per_hour;
    if (min_days < 1)
        min_days = 1;
    double w = min_days > 1 ? (days - 1) / (min_days - 1) : (days >= 1);
    if (w <= 0)
        return 0;
    *weight = w > 1 ? 1 : w;
    double p = ss->err[hour] / ev;
    p += sqrt(p * (1 - p) / ev);
    return p > 1 ? 1 : p;
}
