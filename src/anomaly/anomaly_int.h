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
/* A series is "busy" (can alert on drop) from this baseline level. */
#define SIFT__ANOMALY_BUSY_MIN 5.0
/* Minimum excess over its level of a template's window for a spike alert
 * (a template seen 2-3 times a window cannot alert on 8). */
#define SIFT__ANOMALY_TEMPLATE_SPIKE_MIN 10.0
/* Minimum excess of a service's volume / error count for a spike. */
#define SIFT__ANOMALY_SPIKE_EXCESS 5.0
#define SIFT__ANOMALY_ERR_EXCESS 3.0
/* The usual error share is taken as at least this (a service without
 * errors so far still judges its first ones by odds, not certainty). */
#define SIFT__ANOMALY_RATIO_MIN 0.002
/* The pooled usual error share: decay per window, and the prior (one
 * error in this many events). */
#define SIFT__ANOMALY_RATIO_DECAY 0.004
#define SIFT__ANOMALY_RATIO_PRIOR 200.0
/* The smallest rise of the error share the CUSUM is tuned to (points). */
#define SIFT__ANOMALY_RATIO_RISE 0.05
/* sigma = 1.253 x mean absolute deviation (normal data). */
#define SIFT__ANOMALY_SIGMA_PER_ABSDEV 1.253
/* In-control run length the CUSUM thresholds (drops, error share) are
 * set for, in windows: 5e6 windows is 116 days of 2 s windows. */
#define SIFT__ANOMALY_ARL0 5e6
/* At most this many empty windows are closed one by one after a gap. */
#define SIFT__ANOMALY_MAX_GAP 360

#endif /* SIFT_ANOMALY_INT_H */
