/*
 * security.c - builds the security modules from the configuration and
 * plugs them into the HTTP server and the ingest pipeline.
 *
 * Design: the pure modules (auth, audit, redact, ratelimit) take plain
 * option structs; this file maps [auth]/[audit]/[redact]/[tls] onto them,
 * owns the results, and handles SIGHUP.  The rate limits live inside the
 * HTTP server (sift_http_apply_config() builds them from [ratelimit]).
 *
 * Invariants: the token table installed in the server is always a live
 * one (a reload installs the new table before freeing the old; requests
 * copy the principal name).  The redactor never changes while running, so
 * the pipeline stage may hold it without a lock.
 *
 * Context: loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/audit.h"
#include "sift/auth.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/file.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/pipeline.h"
#include "sift/redact.h"
#include "sift/security.h"

#define MAX_RULES_FILE_BYTES (1 << 20)

struct sift_security {
    const struct sift_config *cfg;
    struct sift_http *http;
    struct sift_auth *auth;
    struct sift_audit *audit;   /* NULL = records go to the log */
    struct sift_redact *redact; /* NULL = redaction off */
    struct sift_buf scratch;    /* redaction stage scratch */
    int tls_on;
};

/* Where build errors go: the log at start, the caller's callback for
 * sift_security_check(). */
struct report {
    sift_config_error_cb cb;
    void *arg;
};

static void
to_log(const char *msg, void *arg)
{
    (void)arg;
    SIFT_ERROR("%s", msg);
}

static const struct report log_report = {to_log, NULL};

static int
build_auth(const struct sift_config *cfg, struct sift_auth **out,
           const struct report *r)
{
    char err[256] = "";
    struct sift_auth_opts o = {cfg->auth_tokens, cfg->auth_token_file,
                               (int)cfg->metrics_public};
    int rc = sift_auth_new(&o, out, err, sizeof(err));
    if (rc < 0)
        r->cb(err[0] ? err : sift_strerror(rc), r->arg);
    return rc;
}

/* Appends a whole small file to b (NUL-terminated).  -errno on failure,
 * SIFT_ELIMIT when it holds more than max bytes. */
static int
read_small_file(const char *path, size_t max, struct sift_buf *b)
{
    char *text;
    size_t len;
    int rc = sift_file_read_all(path, max, &text, &len);
    if (rc < 0)
        return rc;
    sift_buf_append(b, text, len);
    sift_buf_cstr(b);
    sift_free(text);
    return SIFT_OK;
}

/*
 * The user rules: the inline `rules` value (rules separated by ";;",
 * since an INI value is one line) followed by the lines of rules_file.
 */
static int
collect_rules(const struct sift_config *cfg, struct sift_buf *rules,
              const struct report *r)
{
    const char *p = cfg->redact_rules;
    while (*p != '\0') {
        const char *sep = strstr(p, ";;");
        size_t n = sep != NULL ? (size_t)(sep - p) : strlen(p);
        sift_buf_append(rules, p, n);
        sift_buf_putc(rules, '\n');
        p += n + (sep != NULL ? 2 : 0);
    }
    if (cfg->redact_rules_file[0] != '\0') {
        int rc = read_small_file(cfg->redact_rules_file, MAX_RULES_FILE_BYTES,
                                 rules);
        if (rc < 0) {
            struct sift_buf m = SIFT_BUF_INIT;
            sift_buf_appendf(
                &m, "redact.rules_file: %s: %s", cfg->redact_rules_file,
                rc == SIFT_ELIMIT ? "larger than 1 MiB" : sift_strerror(rc));
            r->cb(sift_buf_cstr(&m), r->arg);
            sift_buf_cleanup(&m);
            return SIFT_ECONFIG;
        }
    }
    sift_buf_cstr(rules);
    return SIFT_OK;
}

static int
build_redact(const struct sift_config *cfg, struct sift_redact **out,
             const struct report *r)
{
    struct sift_buf rules = SIFT_BUF_INIT;
    char err[256] = "";
    int rc = collect_rules(cfg, &rules, r);
    if (rc == SIFT_OK) {
        struct sift_redact_opts o = {
            cfg->redact_builtins, sift_buf_cstr(&rules),
            cfg->redact_fields,   cfg->redact_mode,
            cfg->redact_hash_key, (unsigned)cfg->redact_hash_length};
        rc = sift_redact_new(&o, out, err, sizeof(err));
        if (rc < 0)
            r->cb(err[0] ? err : sift_strerror(rc), r->arg);
    }
    sift_buf_cleanup(&rules);
    return rc;
}

int
sift_security_check(const struct sift_config *cfg, sift_config_error_cb cb,
                    void *arg)
{
    const struct report r = {cb, arg};
    int rc = SIFT_OK;
    /* The inline tokens and the token file apart, so that a problem in
     * one does not hide a problem in the other. */
    struct sift_config one = *cfg;
    for (int part = 0; part < 2; part++) {
        one.auth_tokens = part == 0 ? cfg->auth_tokens : (char *)(uintptr_t) "";
        one.auth_token_file =
            part == 1 ? cfg->auth_token_file : (char *)(uintptr_t) "";
        if (!(part == 0 ? one.auth_tokens : one.auth_token_file)[0])
            continue;
        struct sift_auth *auth = NULL;
        if (build_auth(&one, &auth, &r) < 0)
            rc = SIFT_ECONFIG;
        sift_auth_free(auth);
    }
    if (cfg->redact_enabled) {
        /* A short hash key is the config check's to report; check the
         * rules as the marker mode would build them. */
        one = *cfg;
        if (strcmp(cfg->redact_mode, "hash") == 0 &&
            strlen(cfg->redact_hash_key) < 16)
            one.redact_mode = (char *)(uintptr_t) "marker";
        struct sift_redact *redact = NULL;
        if (build_redact(&one, &redact, &r) < 0)
            rc = SIFT_ECONFIG;
        sift_redact_free(redact);
    }
    return rc;
}

static void
log_redact_summary(const struct sift_redact *r)
{
    struct sift_buf names = SIFT_BUF_INIT;
    for (size_t i = 0; i < sift_redact_n_rules(r); i++) {
        if (i > 0)
            sift_buf_append(&names, ", ", 2);
        const char *n = sift_redact_rule_name(r, i);
        sift_buf_append(&names, n, strlen(n));
    }
    SIFT_INFO("redact: %zu rule(s) before the WAL: %s", sift_redact_n_rules(r),
              names.len > 0 ? sift_buf_cstr(&names) : "(none)");
    sift_buf_cleanup(&names);
}

int
sift_security_new(const struct sift_config *cfg, struct sift_http *http,
                  struct sift_security **out)
{
    struct sift_security *s = sift_xcalloc(1, sizeof(*s));
    s->cfg = cfg;
    s->http = http;
    sift_buf_init(&s->scratch);
    *out = NULL;

    int rc = build_auth(cfg, &s->auth, &log_report);
    if (rc < 0)
        goto fail;
    if (cfg->audit_path[0] != '\0') {
        rc = sift_audit_open(cfg->audit_path, &s->audit);
        if (rc < 0)
            goto fail;
    }
    if (cfg->redact_enabled) {
        rc = build_redact(cfg, &s->redact, &log_report);
        if (rc < 0)
            goto fail;
    }
    sift_http_set_auth(http, s->auth);
    sift_http_set_audit(http, s->audit);
    *out = s;
    return SIFT_OK;
fail:
    sift_security_free(s);
    return rc;
}

void
sift_security_log_summary(const struct sift_security *s)
{
    sift_auth_log_summary(s->auth);
    if (s->cfg->audit_path[0] != '\0')
        SIFT_INFO("audit: admin actions are appended to %s",
                  s->cfg->audit_path);
    else
        SIFT_INFO("audit: admin actions are logged (set [audit] path for a "
                  "separate file)");
    if (s->redact != NULL)
        log_redact_summary(s->redact);
    else
        SIFT_INFO("redact: off (set [redact] enabled = true to remove PII "
                  "before the WAL)");
}

int
sift_security_listen_tls(struct sift_security *s, char *bound, size_t bound_len)
{
    if (bound_len > 0)
        bound[0] = '\0';
    if (s->cfg->tls_listen[0] == '\0')
        return SIFT_OK;
    int rc =
        sift_http_listen_tls(s->http, s->cfg->tls_listen, s->cfg->tls_cert_file,
                             s->cfg->tls_key_file, bound, bound_len);
    if (rc == SIFT_OK) {
        s->tls_on = 1;
        SIFT_INFO("tls: HTTPS listening on https://%s", bound);
    }
    return rc;
}

/* The SIFT_STAGE_REDACT hook: runs before the store append (the WAL). */
static int
redact_stage(void *arg, struct sift_event *ev, struct sift_arena *arena)
{
    struct sift_security *s = arg;
    return sift_redact_event(s->redact, ev, arena, &s->scratch, NULL);
}

void
sift_security_attach_pipeline(struct sift_security *s, struct sift_pipeline *p)
{
    if (s != NULL && s->redact != NULL)
        sift_pipeline_set_stage(p, SIFT_STAGE_REDACT, redact_stage, s);
}

int
sift_security_redact_raw(struct sift_security *s, const char *raw, size_t len,
                         struct sift_buf *out)
{
    int changed = 0;
    if (s == NULL || s->redact == NULL || raw == NULL)
        return 0;
    if (sift_redact_apply(s->redact, "message", 7, raw, len, out, &changed) <
        0) {
        /* Out of memory: never let the unredacted text through. */
        sift_buf_reset(out);
        sift_buf_append(out, "[REDACTED:unavailable]", 22);
        return 1;
    }
    return changed;
}

void
sift_security_reload(struct sift_security *s)
{
    struct sift_auth *next = NULL;
    if (s == NULL)
        return;
    if (build_auth(s->cfg, &next, &log_report) == SIFT_OK) {
        sift_http_set_auth(s->http, next);
        sift_auth_free(s->auth);
        s->auth = next;
        sift_auth_log_summary(s->auth);
    } else {
        SIFT_ERROR("auth: keeping the previous token table");
    }
    if (s->audit != NULL)
        sift_audit_reopen(s->audit);
    if (s->tls_on)
        sift_http_tls_reload(s->http, s->cfg->tls_cert_file,
                             s->cfg->tls_key_file);
    sift_audit_write(s->audit, sift_clock_now_ns(), "signal", "-", "reload", 0,
                     "SIGHUP");
}

void
sift_security_metrics_collect(struct sift_buf *out, void *arg)
{
    struct sift_security *s = arg;
    sift_http_metrics_collect(out, s->http);
    if (s->redact != NULL)
        sift_redact_metrics_collect(out, s->redact);
}

void
sift_security_free(struct sift_security *s)
{
    if (s == NULL)
        return;
    sift_auth_free(s->auth);
    sift_audit_close(s->audit);
    sift_redact_free(s->redact);
    sift_buf_cleanup(&s->scratch);
    sift_free(s);
}
