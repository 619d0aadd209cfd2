/*
 * audit.h - append-only audit log of admin actions.
 *
 * One JSON object per line:
 *
 *   {"time":"2026-11-22T21:40:01.123456789Z","principal":"ops",
 *    "peer":"10.0.0.7:51234","action":"delete","status":200,
 *    "details":"query=service:web"}
 *
 * Each line is written with one write(2) on an O_APPEND descriptor and
 * fsync'ed before the call returns: admin actions are rare, and an audit
 * record must survive a crash right after the action.  SIGHUP handling
 * calls sift_audit_reopen() so logrotate can move the file away.
 * Thread-safe (a mutex serialises writers and reopen).
 */
#ifndef SIFT_AUDIT_H
#define SIFT_AUDIT_H

#include <stdint.h>

struct sift_audit;
struct sift_buf;

#define SIFT_AUDIT_MAX_LINE 8192 /* details are cut to fit a line */

/**
 * Opens (creating with mode 0600) path for appending.  Returns SIFT_OK or
 * -errno after logging the cause.  Returns owned *out; release with
 * sift_audit_close().
 */
int sift_audit_open(const char *path, struct sift_audit **out);
/** Closes the file and frees.  NULL is a no-op. */
void sift_audit_close(struct sift_audit *a);
/**
 * Closes and opens the path again (after logrotate).  On failure the old
 * descriptor is kept and -errno is returned after logging.
 */
int sift_audit_reopen(struct sift_audit *a);

/**
 * Appends one record.  ts_ns is wall-clock time (sift_clock_now_ns());
 * principal, peer, action and details are borrowed and may be NULL
 * ("-" is written; details is then omitted).  status is the HTTP status
 * of the action (0 = omit).  With a == NULL (no audit file configured)
 * the record goes to the log at INFO level instead, so it is never lost
 * silently.  Returns SIFT_OK or -errno (write/fsync failed, logged).
 */
int sift_audit_write(struct sift_audit *a, int64_t ts_ns, const char *principal,
                     const char *peer, const char *action, int status,
                     const char *details);

/**
 * Formats one record (without the newline) into out: the line the two
 * functions above write.  Exposed for tests and for the log fallback.
 */
void sift_audit_format(struct sift_buf *out, int64_t ts_ns,
                       const char *principal, const char *peer,
                       const char *action, int status, const char *details);

#endif /* SIFT_AUDIT_H */
