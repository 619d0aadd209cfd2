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
/* A series is "busy" (can alert on drop) from this baseline level. */
#define SIFT__ANOMALY_BUSY_MIN 5.0
/* At most this many empty windows are closed one by one after a gap. */
#define SIFT__ANOMALY_MAX_GAP 360

#endif /* SIFT_ANOMALY_INT_H */
