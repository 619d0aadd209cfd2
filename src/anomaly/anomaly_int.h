/*
 * anomaly_int.h - shared by the files of src/anomaly only.
 */
#ifndef SIFT_ANOMALY_INT_H
#define SIFT_ANOMALY_INT_H

#include <stdint.h>

/* Minimum per-window events of a new template for a "new pattern" alert. */
#define SIFT__ANOMALY_NEW_MIN 5u
/* Minimum errors in a window before an error-ratio score counts. */
#define SIFT__ANOMALY_ERR_MIN 3u
/* Error-ratio spread floor (plus the binomial noise): a shift of one
 * point is one spread. */
#define SIFT__ANOMALY_RATIO_FLOOR 0.01
/* A series is "busy" (can alert on drop) from this baseline level. */
#define SIFT__ANOMALY_BUSY_MIN 5.0
/* Minimum per-window events of a template series for a spike alert. */
#define SIFT__ANOMALY_TEMPLATE_SPIKE_MIN 10u
/* At most this many empty windows are closed one by one after a gap. */
#define SIFT__ANOMALY_MAX_GAP 360

#endif /* SIFT_ANOMALY_INT_H */
