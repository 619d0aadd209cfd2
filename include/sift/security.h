/*
 * security.h - the daemon's security wiring: tokens, audit log, PII
 * redaction stage and HTTPS listener, built from the configuration.
 *
 * One object owns the token table (sift_auth), the audit log
 * (sift_audit) and the redactor (sift_redact), installs them into the
 * HTTP server and the ingest pipeline, and re-applies what may change on
 * SIGHUP.  The pure modules (auth.h, audit.h, redact.h, ratelimit.h) know
 * nothing of the daemon; this is the only place that connects them, so
 * main.c stays a few lines.
 *
 * Order at start-up: sift_security_new() right after sift_http_new() and
 * BEFORE the first listen, so no request is ever served without the token
 * check; sift_security_listen_tls() after the plain listener;
 * sift_security_attach_pipeline() once the pipeline exists.
 *
 * Loop thread only.
 */
#ifndef SIFT_SECURITY_H
#define SIFT_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include "sift/config.h"

struct sift_buf;
struct sift_config;
struct sift_http;
struct sift_pipeline;
struct sift_security;

/**
 * Checks [auth] and [redact] as sift_security_new() would build them
 * (tokens and the token file, redaction rules, modes and the hash key),
 * reporting every problem to cb without starting anything; for
 * `siftd --check-config`.  Returns SIFT_OK or SIFT_ECONFIG.  Borrows cfg.
 */
int sift_security_check(const struct sift_config *cfg, sift_config_error_cb cb,
                        void *arg);

/**
 * Builds tokens, audit log and redactor from cfg (borrowed for the
 * object's lifetime) and installs tokens and audit log into http.  Logs
 * only errors (see sift_security_log_summary()).  Returns SIFT_OK, or
 * SIFT_ECONFIG / -errno after logging the cause. Returns owned *out; release
 * with sift_security_free() (after the HTTP server is freed or its auth/audit
 * were cleared).
 */
int sift_security_new(const struct sift_config *cfg, struct sift_http *http,
                      struct sift_security **out);

/**
 * Logs the start-up summary once the listeners are up: "no tokens
 * configured: only loopback clients are accepted" (WARN) or the token
 * counts, the audit destination and the redaction rules.
 */
void sift_security_log_summary(const struct sift_security *s);

/**
 * Starts the HTTPS listener when tls.listen is set; writes the bound
 * address into bound (may be "" when TLS is off).  Returns SIFT_OK or
 * an error after logging.
 */
int sift_security_listen_tls(struct sift_security *s, char *bound,
                             size_t bound_len);

/** Installs the redaction stage (when redact.enabled) into the pipeline. */
void sift_security_attach_pipeline(struct sift_security *s,
                                   struct sift_pipeline *p);

/**
 * SIGHUP: rebuilds the token table from the (already replaced) config
 * (a bad table keeps the old one and logs why), reopens the audit log,
 * reloads the TLS certificate and key, and writes an audit record of the
 * reload.  Redaction changes need a restart.
 */
void sift_security_reload(struct sift_security *s);

/**
 * Redacts a raw input line (for dead-letter records) into out.  Returns
 * non-zero when out holds a redacted copy, 0 when raw may be written as
 * is (redaction off or nothing matched).
 */
int sift_security_redact_raw(struct sift_security *s, const char *raw,
                             size_t len, struct sift_buf *out);

/**
 * Metrics collector (sift_metrics_collect_cb; arg is the object): the
 * HTTP refusal counters and sift_redactions_total{rule}.
 */
void sift_security_metrics_collect(struct sift_buf *out, void *arg);

/** Frees; NULL is a no-op. */
void sift_security_free(struct sift_security *s);

#endif /* SIFT_SECURITY_H */
