/*
 * auth.c - token table, Authorization header parsing and role decisions.
 *
 * Design: every configured token, plain or hashed, is kept only as its
 * SHA-256 digest.  A presented token is hashed once and compared with all
 * digests using CRYPTO_memcmp; the loop never exits early and the winner
 * is picked with a mask, so timing reveals neither the token bytes nor
 * which entry matched.  Plain tokens are never kept in memory after
 * sift_auth_new() returns (the parse copies are wiped).
 *
 * Invariants: the table is immutable after construction; names are unique;
 * digests are unique (two names for one token would make the principal
 * ambiguous).  Thread: any (read-only after sift_auth_new()).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "sift/alloc.h"
#include "sift/auth.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"

#define MAX_PRESENTED_LEN 4096 /* longer Authorization values are refused */

struct token_entry {
    char name[SIFT_AUTH_MAX_NAME_LEN + 1];
    enum sift_role role;
    unsigned char digest[SHA256_DIGEST_LENGTH];
};

struct sift_auth {
    struct token_entry *entries;
    size_t n_entries;
    int metrics_public;
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static void
sha256(const void *p, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    SHA256((const unsigned char *)p, len, out);
}

const char *
sift_auth_role_name(enum sift_role role)
{
    switch (role) {
    case SIFT_ROLE_READER: return "reader";
    case SIFT_ROLE_WRITER: return "writer";
    case SIFT_ROLE_ADMIN: return "admin";
    case SIFT_ROLE_NODE: return "node";
    case SIFT_ROLE_NONE: break;
    }
    return "none";
}

int
sift_auth_role_parse(const char *s, size_t len, enum sift_role *out)
{
    static const struct {
        const char *name;
        enum sift_role role;
    } roles[] = {{"reader", SIFT_ROLE_READER},
                 {"writer", SIFT_ROLE_WRITER},
                 {"admin", SIFT_ROLE_ADMIN},
                 {"node", SIFT_ROLE_NODE}};
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strlen(roles[i].name) == len &&
            memcmp(roles[i].name, s, len) == 0) {
            *out = roles[i].role;
            return SIFT_OK;
        }
    }
    return SIFT_EINVAL;
}

int
sift_auth_role_allows(enum sift_role have, enum sift_role need)
{
    if (need == SIFT_ROLE_NONE)
        return 1;
    if (have == SIFT_ROLE_ADMIN)
        return 1;
    /* A cluster peer fans out searches and aggregations and asks Kafka
     * positions: what a reader may do, never ingest or administer. */
    if (have == SIFT_ROLE_NODE)
        return need == SIFT_ROLE_READER || need == SIFT_ROLE_NODE;
    return have == need;
}

void
sift_auth_hash_hex(const char *token, size_t len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LENGTH];
    sha256(token, len, d);
    for (size_t i = 0; i < sizeof d; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
    OPENSSL_cleanse(d, sizeof d);
}

/* ------------------------------------------------------------------ */
/* Table construction                                                  */
/* ------------------------------------------------------------------ */

static int
name_char_ok(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.';
}

/*
 * Parses one "name:role:token" or "name:role:sha256:<hex>" entry and
 * appends it.  where names the source for messages ("auth.tokens entry 3",
 * "/etc/sift/tokens:7").
 */
static int
add_entry(struct sift_auth *a, const char *s, size_t len, const char *where,
          char *err, size_t err_len)
{
    const char *c1 = memchr(s, ':', len);
    const char *c2 =
        c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
    if (!c1 || !c2) {
        sift_errbuf_printf(err, err_len, "%s: expected name:role:token", where);
        return SIFT_ECONFIG;
    }
    size_t name_len = (size_t)(c1 - s);
    size_t role_len = (size_t)(c2 - c1 - 1);
    const char *tok = c2 + 1;
    size_t tok_len = len - (size_t)(tok - s);
    if (name_len == 0 || name_len > SIFT_AUTH_MAX_NAME_LEN) {
        sift_errbuf_printf(err, err_len, "%s: token name must be 1..%d bytes",
                           where, SIFT_AUTH_MAX_NAME_LEN);
        return SIFT_ECONFIG;
    }
    for (size_t i = 0; i < name_len; i++) {
        if (!name_char_ok((unsigned char)s[i])) {
            sift_errbuf_printf(
                err, err_len,
                "%s: token name may only hold letters, digits, '_', '-', "
                "'.'",
                where);
            return SIFT_ECONFIG;
        }
    }
    enum sift_role role;
    if (sift_auth_role_parse(c1 + 1, role_len, &role) != SIFT_OK) {
        sift_errbuf_printf(err, err_len,
                           "%s: role must be reader, writer, admin or node",
                           where);
        return SIFT_ECONFIG;
    }
    if (a->n_entries >= SIFT_AUTH_MAX_TOKENS) {
        sift_errbuf_printf(err, err_len, "%s: more than %d tokens", where,
                           SIFT_AUTH_MAX_TOKENS);
        return SIFT_ECONFIG;
    }
    struct token_entry e;
    memset(&e, 0, sizeof e);
    memcpy(e.name, s, name_len);
    e.role = role;
    if (tok_len >= 7 && memcmp(tok, "sha256:", 7) == 0) {
        const char *h = tok + 7;
        if (tok_len - 7 != 2 * (size_t)SHA256_DIGEST_LENGTH) {
            sift_errbuf_printf(err, err_len, "%s: sha256: needs 64 hex digits",
                               where);
            return SIFT_ECONFIG;
        }
        for (size_t i = 0; i < SHA256_DIGEST_LENGTH; i++) {
            int hi = sift_hex_digit((unsigned char)h[2 * i]);
            int lo = sift_hex_digit((unsigned char)h[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                sift_errbuf_printf(err, err_len,
                                   "%s: sha256: needs 64 hex digits", where);
                return SIFT_ECONFIG;
            }
            e.digest[i] = (unsigned char)(hi << 4 | lo);
        }
    } else {
        if (tok_len < SIFT_AUTH_MIN_TOKEN_LEN) {
            sift_errbuf_printf(err, err_len,
                               "%s: token of '%s' is shorter than %d bytes",
                               where, e.name, SIFT_AUTH_MIN_TOKEN_LEN);
            return SIFT_ECONFIG;
        }
        for (size_t i = 0; i < tok_len; i++) {
            unsigned char c = (unsigned char)tok[i];
            if (c <= 0x20 || c >= 0x7f) {
                sift_errbuf_printf(
                    err, err_len,
                    "%s: token of '%s' must be printable ASCII without "
                    "spaces",
                    where, e.name);
                return SIFT_ECONFIG;
            }
        }
        sha256(tok, tok_len, e.digest);
    }
    for (size_t i = 0; i < a->n_entries; i++) {
        if (strcmp(a->entries[i].name, e.name) == 0) {
            sift_errbuf_printf(err, err_len, "%s: duplicate token name '%s'",
                               where, e.name);
            return SIFT_ECONFIG;
        }
        if (memcmp(a->entries[i].digest, e.digest, sizeof e.digest) == 0) {
            sift_errbuf_printf(err, err_len,
                               "%s: '%s' has the same token as '%s'", where,
                               e.name, a->entries[i].name);
            return SIFT_ECONFIG;
        }
    }
    a->entries[a->n_entries++] = e;
    OPENSSL_cleanse(&e, sizeof e);
    return SIFT_OK;
}

static int
is_sep(unsigned char c, int commas)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
           (commas && c == ',');
}

/* Inline list: entries separated by commas or whitespace. */
static int
add_inline(struct sift_auth *a, const char *s, char *err, size_t err_len)
{
    size_t n = 0;
    const char *p = s;
    for (;;) {
        while (*p && is_sep((unsigned char)*p, 1))
            p++;
        if (!*p)
            return SIFT_OK;
        const char *start = p;
        while (*p && !is_sep((unsigned char)*p, 1))
            p++;
        char where[64];
        snprintf(where, sizeof where, "auth.tokens: entry %zu", ++n);
        int rc = add_entry(a, start, (size_t)(p - start), where, err, err_len);
        if (rc < 0)
            return rc;
    }
}

/* Token file: one entry per line, blank lines and '#' comments ignored. */
static int
add_file_text(struct sift_auth *a, const char *path, const char *text,
              size_t len, char *err, size_t err_len)
{
    size_t line_no = 0;
    size_t pos = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t line_len = nl ? (size_t)(nl - line) : len - pos;
        pos += line_len + (nl ? 1 : 0);
        line_no++;
        while (line_len && is_sep((unsigned char)line[0], 0)) {
            line++;
            line_len--;
        }
        while (line_len && is_sep((unsigned char)line[line_len - 1], 0))
            line_len--;
        if (!line_len || line[0] == '#')
            continue;
        char where[300];
        snprintf(where, sizeof where, "auth.token_file: %s:%zu", path, line_no);
        int rc = add_entry(a, line, line_len, where, err, err_len);
        if (rc < 0)
            return rc;
    }
    return SIFT_OK;
}

static int
add_file(struct sift_auth *a, const char *path, char *err, size_t err_len)
{
    char *text = NULL;
    size_t len = 0;
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        sift_errbuf_printf(err, err_len, "auth.token_file: %s: %s", path,
                           strerror(errno));
        return rc;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        sift_errbuf_printf(err, err_len, "auth.token_file: %s: %s", path,
                           strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = SIFT_ECONFIG;
        sift_errbuf_printf(err, err_len,
                           "auth.token_file: %s: not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = SIFT_ECONFIG;
        sift_errbuf_printf(
            err, err_len,
            "auth.token_file: %s: mode %04o is group/world accessible; "
            "it must be readable only by the service user (chmod 600)",
            path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size > SIFT_AUTH_MAX_FILE_BYTES) {
        rc = SIFT_ECONFIG;
        sift_errbuf_printf(err, err_len,
                           "auth.token_file: %s: larger than %d bytes", path,
                           SIFT_AUTH_MAX_FILE_BYTES);
        goto out;
    }
    rc = sift_file_read_fd(fd, SIFT_AUTH_MAX_FILE_BYTES, &text, &len);
    if (rc == SIFT_ELIMIT) {
        rc = SIFT_ECONFIG;
        sift_errbuf_printf(err, err_len,
                           "auth.token_file: %s: larger than %d bytes", path,
                           SIFT_AUTH_MAX_FILE_BYTES);
        goto out;
    }
    if (rc < 0) {
        sift_errbuf_printf(err, err_len, "auth.token_file: %s: %s", path,
                           rc == SIFT_ENOMEM ? "out of memory"
                                             : sift_strerror(rc));
        goto out;
    }
    rc = add_file_text(a, path, text, len, err, err_len);
out:
    if (text) {
        OPENSSL_cleanse(text, len);
        sift_free(text);
    }
    close(fd);
    return rc;
}

int
sift_auth_new(const struct sift_auth_opts *opts, struct sift_auth **out,
              char *err, size_t err_len)
{
    assert(opts && out);
    *out = NULL;
    if (err && err_len)
        err[0] = '\0';
    struct sift_auth *a = sift_xcalloc(1, sizeof *a);
    a->entries = sift_xcalloc(SIFT_AUTH_MAX_TOKENS, sizeof *a->entries);
    a->metrics_public = opts->metrics_public != 0;
    int rc = SIFT_OK;
    if (opts->tokens) {
        rc = add_inline(a, opts->tokens, err, err_len);
        if (rc < 0)
            goto out;
    }
    if (opts->token_file && opts->token_file[0]) {
        rc = add_file(a, opts->token_file, err, err_len);
        if (rc < 0)
            goto out;
    }
    *out = a;
    a = NULL;
out:
    sift_auth_free(a);
    return rc;
}

void
sift_auth_free(struct sift_auth *a)
{
    if (!a)
        return;
    OPENSSL_cleanse(a->entries, SIFT_AUTH_MAX_TOKENS * sizeof *a->entries);
    sift_free(a->entries);
    sift_free(a);
}

size_t
sift_auth_n_tokens(const struct sift_auth *a)
{
    return a->n_entries;
}

void
sift_auth_log_summary(const struct sift_auth *a)
{
    if (a->n_entries == 0) {
        SIFT_WARN("auth: no tokens configured: only loopback clients are "
                  "accepted (set [auth] tokens or token_file to open siftd "
                  "to the network)");
        return;
    }
    size_t n[5] = {0, 0, 0, 0, 0};
    for (size_t i = 0; i < a->n_entries; i++)
        n[a->entries[i].role]++;
    SIFT_INFO("auth: %zu tokens (%zu reader, %zu writer, %zu admin, %zu "
              "node); /metrics %s",
              a->n_entries, n[SIFT_ROLE_READER], n[SIFT_ROLE_WRITER],
              n[SIFT_ROLE_ADMIN], n[SIFT_ROLE_NODE],
              a->metrics_public ? "public" : "needs a reader token");
}

enum sift_role
sift_auth_metrics_role(const struct sift_auth *a)
{
    return a->metrics_public ? SIFT_ROLE_NONE : SIFT_ROLE_READER;
}

/* ------------------------------------------------------------------ */
/* Request checks                                                      */
/* ------------------------------------------------------------------ */

int
sift_auth_is_loopback(const struct sockaddr *sa)
{
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                                0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0,    0,
                                                   0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, loop6, 16) == 0)
            return 1;
        return memcmp(b, v4mapped, 12) == 0 && b[12] == 127;
    }
    return 0;
}

static int
b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Strict base64 (padding optional) of s[0..len) into out; returns the
 * decoded length or -1.  out must hold len * 3 / 4 + 3 bytes.
 */
SIFT_STATIC long
auth_b64_decode(const char *s, size_t len, unsigned char *out)
{
    while (len && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static int
scheme_is(const char *h, const char *scheme, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!h[i] || tolower((unsigned char)h[i]) != scheme[i])
            return 0;
    }
    return h[n] == ' ' || h[n] == '\t';
}

/*
 * Extracts the presented token from an Authorization value.  Returns 1 and
 * sets *tok / *tok_len (pointing into h or into scratch) or 0 when there
 * is no usable credential.
 */
SIFT_STATIC int
auth_extract_token(const char *h, unsigned char *scratch, const char **tok,
                   size_t *tok_len)
{
    if (!h)
        return 0;
    while (*h == ' ' || *h == '\t')
        h++;
    int basic = 0;
    if (scheme_is(h, "bearer", 6)) {
        h += 6;
    } else if (scheme_is(h, "basic", 5)) {
        h += 5;
        basic = 1;
    } else {
        return 0;
    }
    while (*h == ' ' || *h == '\t')
        h++;
    size_t len = strnlen(h, MAX_PRESENTED_LEN + 1);
    while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
        len--;
    if (len == 0 || len > MAX_PRESENTED_LEN)
        return 0;
    if (!basic) {
        *tok = h;
        *tok_len = len;
        return 1;
    }
    long n = auth_b64_decode(h, len, scratch);
    if (n < 0)
        return 0;
    const unsigned char *colon = memchr(scratch, ':', (size_t)n);
    if (!colon)
        return 0;
    *tok = (const char *)colon + 1;
    *tok_len = (size_t)n - (size_t)(colon + 1 - scratch);
    return *tok_len > 0;
}

void
sift_auth_check(const struct sift_auth *a, const struct sockaddr *peer,
                const char *authorization, enum sift_role need,
                struct sift_auth_result *out)
{
    assert(a && out);
    out->decision = SIFT_AUTH_ALLOW;
    out->role = SIFT_ROLE_NONE;
    out->principal = "-";
    out->reason = "ok";
    if (a->n_entries == 0) {
        /* No tokens: the network boundary is the only protection.  Open
         * routes (/healthz, /readyz) stay open so load balancers and
         * orchestrators can probe a daemon bound to another address. */
        if (need == SIFT_ROLE_NONE)
            return;
        if (!sift_auth_is_loopback(peer)) {
            out->decision = SIFT_AUTH_FORBIDDEN;
            out->reason = "no tokens are configured: only loopback clients "
                          "are accepted";
            return;
        }
        out->role = SIFT_ROLE_ADMIN;
        out->principal = "loopback";
        return;
    }
    if (need == SIFT_ROLE_NONE)
        return;

    unsigned char scratch[MAX_PRESENTED_LEN * 3 / 4 + 3];
    const char *tok = NULL;
    size_t tok_len = 0;
    if (!auth_extract_token(authorization, scratch, &tok, &tok_len)) {
        out->decision = SIFT_AUTH_UNAUTHORIZED;
        out->reason = "missing or malformed Authorization header "
                      "(expected: Bearer <token>)";
        return;
    }
    unsigned char d[SHA256_DIGEST_LENGTH];
    sha256(tok, tok_len, d);
    OPENSSL_cleanse(scratch, sizeof scratch);

    /* Visit every entry; select the match with a mask, no early exit. */
    size_t found = 0;
    size_t any = 0;
    for (size_t i = 0; i < a->n_entries; i++) {
        size_t eq =
            (size_t)(CRYPTO_memcmp(d, a->entries[i].digest, sizeof d) == 0);
        size_t mask = (size_t)0 - eq;
        found = (found & ~mask) | (i & mask);
        any |= eq;
    }
    OPENSSL_cleanse(d, sizeof d);
    if (!any) {
        out->decision = SIFT_AUTH_UNAUTHORIZED;
        out->reason = "invalid token";
        return;
    }
    const struct token_entry *e = &a->entries[found];
    out->role = e->role;
    out->principal = e->name;
    if (!sift_auth_role_allows(e->role, need)) {
        out->decision = SIFT_AUTH_FORBIDDEN;
        out->reason = need == SIFT_ROLE_ADMIN    ? "this needs an admin token"
                      : need == SIFT_ROLE_WRITER ? "this needs a writer token"
                                                 : "this needs a reader token";
    }
}
