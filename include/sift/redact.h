/*
 * redact.h - PII redaction at ingest, before the WAL.
 *
 * A redactor is built once from the configuration and is immutable
 * afterwards except for its per-rule counters (relaxed atomics), so any
 * thread may use it.  It rewrites a value (the message or a field) by
 * replacing every match of its rules:
 *
 *   builtins  email   local@domain.tld
 *             ipv4    dotted quads, each octet 0..255
 *             ipv6    anything inet_pton(AF_INET6) accepts, >= 2 colons
 *             card    13..19 digits, single spaces/dashes allowed between
 *                     digits, first digit 2..6, passing the Luhn check
 *             secret  "Bearer <token>", AKIA/ASIA + 16 (AWS key ids),
 *                     ghp_/gho_/ghu_/ghs_/ghr_ + 36, github_pat_...,
 *                     xoxa-/xoxb-/xoxp-/xoxr-/xoxs-... (Slack),
 *                     sk_live_/rk_live_... (Stripe)
 *   user      PCRE2 regexes, compiled once (JIT when available); the whole
 *             match is replaced
 *
 * Replacement: mode "marker" writes "[REDACTED:<rule>]"; mode "hash"
 * writes "[<rule>:<hex>]" where hex is the first hash_hex_len hex digits
 * of HMAC-SHA256(hash_key, normalised value), so equal values still group
 * (emails are lower-cased, card numbers lose their separators, IPv6 is
 * hashed in binary form).  For "Bearer <token>" only the token is
 * replaced.  Matches of different rules that overlap are resolved by
 * keeping the leftmost (then the longest) one.
 *
 * Rule text (the `rules` option, one rule per line; '#' starts a comment):
 *
 *     <name> <regex>                    applies where builtins apply
 *     <name>@<target>[,<target>] <regex>
 *
 * name is [A-Za-z0-9_-]{1,32}; a target is "message", a field name, or a
 * prefix "user.*".  The `fields` option lists the targets of the builtins
 * and of rules without '@' ("*" = the message and every field).
 */
#ifndef SIFT_REDACT_H
#define SIFT_REDACT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"

struct sift_arena;
struct sift_event;
struct sift_redact;

#define SIFT_REDACT_MAX_RULES 64      /* builtins included */
#define SIFT_REDACT_MAX_MATCHES 65536 /* per value; the rest stays as is */

/** Options, usually the [redact] section.  All strings borrowed. */
struct sift_redact_opts {
    const char *builtins;  /* comma list of email,ipv4,ipv6,card,secret;
                              "all"; "" or "none" = no builtins */
    const char *rules;     /* user rules, see above; NULL = none */
    const char *fields;    /* comma list of targets; NULL or "*" = all */
    const char *mode;      /* "marker" (NULL) or "hash" */
    const char *hash_key;  /* HMAC key, >= 16 bytes; required for "hash" */
    unsigned hash_hex_len; /* hex digits kept, 4..64; 0 = 8 */
};

/**
 * Builds a redactor.  On error writes one line ("redact.rules: line 2:
 * rule 'ssn': missing right parenthesis at offset 7") into err when err is
 * not NULL and returns SIFT_ECONFIG or SIFT_ENOMEM; does not log.
 * Returns owned *out; release with sift_redact_free().
 */
int sift_redact_new(const struct sift_redact_opts *opts,
                    struct sift_redact **out, char *err, size_t err_len);
void sift_redact_free(struct sift_redact *r);

/**
 * Redacts s[0..len) as the value of `target` (field name, or NULL / "message"
 * for the message).  When nothing matches, *changed = 0 and out is not
 * touched (fast path: cheap byte-class checks rule out whole builtins
 * before any scan, and no copy is made).  Otherwise *changed = 1 and out
 * is reset and holds the new value.  Returns SIFT_OK or SIFT_ENOMEM (out
 * is then unspecified and *changed = 0).  Borrows s.  Any thread.
 */
int sift_redact_apply(const struct sift_redact *r, const char *target,
                      size_t target_len, const char *s, size_t len,
                      struct sift_buf *out, int *changed);

/**
 * Redacts the message and every field of ev in place: changed values are
 * copied into arena and ev's pointers are moved to the copies; a changed
 * NUMBER field becomes a KEYWORD.  ev->raw is not touched (it is not
 * stored; the dead-letter path must redact it with sift_redact_apply()).
 * *n_changed (may be NULL) gets the number of values changed.  scratch
 * is a caller's reusable buffer.  Returns SIFT_OK or SIFT_ENOMEM.
 */
int sift_redact_event(const struct sift_redact *r, struct sift_event *ev,
                      struct sift_arena *arena, struct sift_buf *scratch,
                      unsigned *n_changed);

/** Number of rules (builtins enabled + user rules). */
size_t sift_redact_n_rules(const struct sift_redact *r);
/** Name of rule i (< n_rules), borrowed. */
const char *sift_redact_rule_name(const struct sift_redact *r, size_t i);
/** Redactions made by rule i so far.  Any thread. */
uint64_t sift_redact_rule_count(const struct sift_redact *r, size_t i);

/**
 * Metrics collector (matches sift_metrics_collect_cb; arg is the
 * redactor): writes sift_redactions_total{rule="..."}.
 */
void sift_redact_metrics_collect(struct sift_buf *out, void *arg);

/** Luhn check over the digits of s[0..len) (other bytes ignored). */
int sift_redact_luhn_ok(const char *s, size_t len);

#endif /* SIFT_REDACT_H */
