/*
 * auth.h - bearer-token authentication and role checks for the HTTP API.
 *
 * A token table is built once from the configuration (inline entries and
 * an optional token file) and is immutable afterwards, so any thread may
 * read it; reload builds a new table and swaps it.  Each entry is
 *
 *     name:role:token                 (plain token, >= 16 bytes)
 *     name:role:sha256:<64 hex>       (SHA-256 of the token, lower/upper hex)
 *
 * role is reader, writer, admin or node (a cluster peer: the reader
 * routes only).  Presented tokens are hashed with
 * SHA-256 and compared with every entry's digest using CRYPTO_memcmp and
 * no early exit, so plain and hashed entries take the same path and the
 * time does not depend on where (or whether) a token matched.
 *
 * Roles are not a strict ladder: admin may do everything, reader may use
 * the read endpoints, writer may only ingest.  Use sift_auth_role_allows(),
 * never `have >= need`, because a writer must not read logs.
 *
 * With no tokens configured, authentication is off and only loopback
 * peers are accepted (they get the admin role); everyone else gets 403,
 * except on open routes (need SIFT_ROLE_NONE: /healthz, /readyz).
 */
#ifndef SIFT_AUTH_H
#define SIFT_AUTH_H

#include <stddef.h>

#include <sys/socket.h>

#include "sift/role.h"

struct sift_auth;

#define SIFT_AUTH_MAX_TOKENS 1024
#define SIFT_AUTH_MIN_TOKEN_LEN 16 /* bytes of a plain token */
#define SIFT_AUTH_MAX_NAME_LEN 64  /* bytes of a token name */
#define SIFT_AUTH_MAX_FILE_BYTES (1 << 20)

/** Options, usually filled from the [auth] section.  All borrowed. */
struct sift_auth_opts {
    const char *tokens; /* entries separated by ',' or whitespace; NULL ok */
    const char
        *token_file;    /* one entry per line, '#' comments; NULL/"" = none */
    int metrics_public; /* non-zero: GET /metrics needs no token */
};

enum sift_auth_decision {
    SIFT_AUTH_ALLOW = 0,
    SIFT_AUTH_UNAUTHORIZED = 401, /* no token or unknown token */
    SIFT_AUTH_FORBIDDEN = 403,    /* known token, wrong role; or non-loopback
                                     peer while no tokens are configured */
};

/** The outcome of one check.  Strings are static or borrow from the table. */
struct sift_auth_result {
    enum sift_auth_decision decision;
    enum sift_role role;   /* the principal's role (valid when known) */
    const char *principal; /* token name, "loopback" or "-"; never NULL */
    const char *reason;    /* short text for the JSON error; never NULL */
};

/**
 * Builds a token table from opts.  The token file must be a regular file
 * with no group or other permission bits (chmod 600); anything else is
 * refused.  On error writes a one-line reason ("auth.tokens: entry 2: ...",
 * "auth.token_file: /x: mode 0644 is group/world accessible; chmod 600")
 * into err[0..err_len) when err is not NULL, and returns SIFT_ECONFIG,
 * -errno (file cannot be read) or SIFT_ENOMEM.  Does not log.
 * Returns owned *out; release with sift_auth_free().
 */
int sift_auth_new(const struct sift_auth_opts *opts, struct sift_auth **out,
                  char *err, size_t err_len);
void sift_auth_free(struct sift_auth *a);

/** Number of tokens; 0 means "loopback only".  Any thread. */
size_t sift_auth_n_tokens(const struct sift_auth *a);

/**
 * Logs one INFO/WARN line describing the mode ("N tokens (r reader,
 * w writer, a admin)" or "no tokens configured: only loopback clients are
 * accepted").  Call at start-up and after reload.
 */
void sift_auth_log_summary(const struct sift_auth *a);

/**
 * Non-zero when `have` may call a route that needs `need`: need NONE is
 * open to all, admin may do everything, otherwise the roles must be equal.
 */
int sift_auth_role_allows(enum sift_role have, enum sift_role need);

/**
 * The role GET /metrics needs: SIFT_ROLE_NONE when metrics_public,
 * SIFT_ROLE_READER otherwise.
 */
enum sift_role sift_auth_metrics_role(const struct sift_auth *a);

/**
 * Decides one request.  peer is the client's address (NULL = unknown,
 * treated as not loopback); authorization is the Authorization header or
 * NULL.  Accepted forms: "Bearer <token>" and "Basic base64(user:token)"
 * (the user part is ignored; Grafana's basic auth).  Routes with need ==
 * SIFT_ROLE_NONE are allowed without looking at the header.  Fills *out;
 * out->principal borrows from a and stays valid until sift_auth_free().
 * Any thread; constant time in the token bytes.
 */
void sift_auth_check(const struct sift_auth *a, const struct sockaddr *peer,
                     const char *authorization, enum sift_role need,
                     struct sift_auth_result *out);

/** Non-zero for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
int sift_auth_is_loopback(const struct sockaddr *sa);

/** "reader" / "writer" / "admin" / "none". */
const char *sift_auth_role_name(enum sift_role role);
/** Parses a role name; returns SIFT_OK or SIFT_EINVAL. */
int sift_auth_role_parse(const char *s, size_t len, enum sift_role *out);

/**
 * Writes the lower-case hex SHA-256 of token[0..len) and a NUL into
 * hex[0..65) (for "name:role:sha256:<hex>" entries).
 */
void sift_auth_hash_hex(const char *token, size_t len, char hex[65]);

#endif /* SIFT_AUTH_H */
