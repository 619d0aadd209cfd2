/*
 * anomaly_int.h - shared by the files of src/anomaly only.
 */
#ifndef SIFT_ANOMALY_INT_H
#define SIFT_ANOMALY_INT_H

#include <stdint.h>

/* Minimum per-window events of a new template for a "new pattern" alert. */
#define SIFT__ANOMALY_NEW_MIN 5u
/* Error-ratio spread floor (plus the binomial noise): a shift of one
 * point is one spread. */
#define SIFT__ANOMALY_RATIO_FLOOR 0.01
/* A series is "busy" (its drop CUSUM runs) from this baseline level: the
 * likelihood ratio of the counts holds for a few events a window (a fall
 * from 4 to 1 a window is 1.6 nats a window); under 2 the level itself
 * is too uncertain (the empty-run odds still watch silences from 1). */
#define SIFT__ANOMALY_BUSY_MIN 2.0
/* A run of empty windows is scored by its odds from this level on (a
 * quieter series is usually empty). */
#define SIFT__ANOMALY_SILENT_MIN 1.0
/* Minimum excess over its level of a template's window for a spike alert
 * (a template seen 2-3 times a window cannot alert on 8). */
#define SIFT__ANOMALY_TEMPLATE_SPIKE_MIN 10.0
/* Minimum excess of a service's volume / error count for a spike. */
#define SIFT__ANOMALY_SPIKE_EXCESS 5.0
#define SIFT__ANOMALY_ERR_EXCESS 3.0
/* The two-window spike test is set for a service of this many series
 * (its templates): see spike_score(). */
#define SIFT__ANOMALY_SPIKE2_SERIES 1000.0
/* The usual error share is taken as at least this (a service without
 * errors so far still judges its first ones by odds, not certainty). */
#define SIFT__ANOMALY_RATIO_MIN 0.002
/* The pooled usual error share: its memory (seconds of traffic, so a
 * service at 2 s windows pools as many events as at 10 s), and the prior
 * (one error in this many events). */
#define SIFT__ANOMALY_RATIO_MEMORY_S 2500.0
#define SIFT__ANOMALY_RATIO_PRIOR 200.0
/* The smallest rise of the error share the CUSUM is tuned to (points). */
#define SIFT__ANOMALY_RATIO_RISE 0.05
/* An error_ratio alarm ends when the windows since favour the usual
 * share over the rise by these odds (a likelihood ratio). */
#define SIFT__ANOMALY_RATIO_END_ODDS 20.0
/* sigma = 1.253 x mean absolute deviation (normal data). */
#define SIFT__ANOMALY_SIGMA_PER_ABSDEV 1.253
/* In-control run length the CUSUM thresholds (drops, error share) are
 * set for, in days of the series' own windows (so the false-alarm rate
 * is a rate in time, whatever the window): each CUSUM rule of a service
 * raises at most one false alarm per 100 days, a tenth of the budget of
 * one false alert per 10 service-days each. */
#define SIFT__ANOMALY_ARL0_DAYS 100.0
/* At most this many empty windows are closed one by one after a gap. */
#define SIFT__ANOMALY_MAX_GAP 360

#endif /* SIFT_ANOMALY_INT_H */
