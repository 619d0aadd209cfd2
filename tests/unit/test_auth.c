/*
 * test_auth.c - token table parsing, token file permissions, Bearer and
 * Basic extraction, role decisions (401 vs 403), hashed entries, and the
 * loopback-only policy when no tokens are configured.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "sift/auth.h"
#include "sift/error.h"

long auth_b64_decode(const char *s, size_t len, unsigned char *out);
int auth_extract_token(const char *h, unsigned char *scratch, const char **tok,
                       size_t *tok_len);

#define T_READ "reader-token-0123456789"
#define T_WRITE "writer-token-0123456789"
#define T_ADMIN "admin-token-0123456789ab"

static struct sockaddr_storage peer_v4_storage, peer_lo_storage;

static const struct sockaddr *
mk_v4(struct sockaddr_storage *ss, const char *ip)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
    return (const struct sockaddr *)ss;
}

static const struct sockaddr *
mk_v6(struct sockaddr_storage *ss, const char *ip)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
    return (const struct sockaddr *)ss;
}

static int
setup_three(void **state)
{
    struct sift_auth_opts o = {
        .tokens = "ro:reader:" T_READ ", in:writer:" T_WRITE
                  "\n  boss:admin:" T_ADMIN,
    };
    char err[256];
    struct sift_auth *a = NULL;
    int rc = sift_auth_new(&o, &a, err, sizeof err);
    if (rc != SIFT_OK) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    *state = a;
    return 0;
}

static int
teardown_auth(void **state)
{
    sift_auth_free(*state);
    return 0;
}

static struct sift_auth_result
check(struct sift_auth *a, const char *hdr, enum sift_role need)
{
    struct sift_auth_result r;
    sift_auth_check(a, mk_v4(&peer_v4_storage, "192.0.2.10"), hdr, need, &r);
    return r;
}

static void
test_auth_roles_allow_and_forbid(void **state)
{
    struct sift_auth *a = *state;
    assert_int_equal(sift_auth_n_tokens(a), 3);
    struct sift_auth_result r = check(a, "Bearer " T_READ, SIFT_ROLE_READER);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_string_equal(r.principal, "ro");
    assert_int_equal(r.role, SIFT_ROLE_READER);

    /* A writer may ingest but not read; a reader may not ingest. */
    r = check(a, "Bearer " T_WRITE, SIFT_ROLE_READER);
    assert_int_equal(r.decision, SIFT_AUTH_FORBIDDEN);
    assert_string_equal(r.principal, "in");
    r = check(a, "Bearer " T_WRITE, SIFT_ROLE_WRITER);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    r = check(a, "Bearer " T_READ, SIFT_ROLE_WRITER);
    assert_int_equal(r.decision, SIFT_AUTH_FORBIDDEN);
    r = check(a, "Bearer " T_READ, SIFT_ROLE_ADMIN);
    assert_int_equal(r.decision, SIFT_AUTH_FORBIDDEN);
    assert_non_null(strstr(r.reason, "admin"));

    /* Admin may do everything. */
    enum sift_role needs[] = {SIFT_ROLE_READER, SIFT_ROLE_WRITER,
                              SIFT_ROLE_ADMIN};
    for (size_t i = 0; i < 3; i++) {
        r = check(a, "Bearer " T_ADMIN, needs[i]);
        assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
        assert_string_equal(r.principal, "boss");
    }
}

static void
test_auth_missing_or_wrong_token_is_401(void **state)
{
    struct sift_auth *a = *state;
    const char *bad[] = {
        NULL,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token-0123456789",
        "Bearer " T_READ "x",
        "Token " T_READ,
        "Bearer" T_READ,
        "Basic !!!!",
        "Basic dXNlcg==", /* "user" without a colon */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct sift_auth_result r = check(a, bad[i], SIFT_ROLE_READER);
        assert_int_equal(r.decision, SIFT_AUTH_UNAUTHORIZED);
        assert_string_equal(r.principal, "-");
    }
    /* Even admin routes answer 401, not 403, without a valid token. */
    struct sift_auth_result r = check(a, NULL, SIFT_ROLE_ADMIN);
    assert_int_equal(r.decision, SIFT_AUTH_UNAUTHORIZED);
}

static void
test_auth_scheme_case_and_spaces(void **state)
{
    struct sift_auth *a = *state;
    struct sift_auth_result r =
        check(a, "  bEaReR \t" T_READ "  ", SIFT_ROLE_READER);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_string_equal(r.principal, "ro");
}

static void
test_auth_basic_password_is_token(void **state)
{
    struct sift_auth *a = *state;
    /* base64("grafana:reader-token-0123456789") */
    const char *user_pass = "grafana:" T_READ;
    char hdr[128] = "Basic ";
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(user_pass), o = strlen(hdr);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)user_pass[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)(unsigned char)user_pass[i + 1] << 8;
        if (i + 2 < n)
            v |= (unsigned)(unsigned char)user_pass[i + 2];
        hdr[o++] = tbl[v >> 18 & 63];
        hdr[o++] = tbl[v >> 12 & 63];
        hdr[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        hdr[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    hdr[o] = '\0';
    struct sift_auth_result r = check(a, hdr, SIFT_ROLE_READER);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_string_equal(r.principal, "ro");
}

static void
test_auth_open_route_needs_no_token(void **state)
{
    struct sift_auth *a = *state;
    struct sift_auth_result r = check(a, NULL, SIFT_ROLE_NONE);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_int_equal(sift_auth_metrics_role(a), SIFT_ROLE_READER);
}

static void
test_auth_hashed_entries(void **state)
{
    (void)state;
    char hex[65];
    sift_auth_hash_hex(T_ADMIN, strlen(T_ADMIN), hex);
    assert_int_equal(strlen(hex), 64);
    char cfg[256];
    /* Upper-case hex is accepted too. */
    char upper[65];
    for (size_t i = 0; i < 65; i++)
        upper[i] =
            (char)((hex[i] >= 'a' && hex[i] <= 'f') ? hex[i] - 32 : hex[i]);
    snprintf(cfg, sizeof cfg, "h:admin:sha256:%s,p:reader:" T_READ, upper);
    struct sift_auth_opts o = {.tokens = cfg, .metrics_public = 1};
    struct sift_auth *a = NULL;
    char err[256];
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_OK);
    struct sift_auth_result r = check(a, "Bearer " T_ADMIN, SIFT_ROLE_ADMIN);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_string_equal(r.principal, "h");
    /* The hex string itself is not a token. */
    char hdr[128];
    snprintf(hdr, sizeof hdr, "Bearer %s", hex);
    r = check(a, hdr, SIFT_ROLE_READER);
    assert_int_equal(r.decision, SIFT_AUTH_UNAUTHORIZED);
    r = check(a, "Bearer " T_READ, SIFT_ROLE_READER);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_string_equal(r.principal, "p");
    assert_int_equal(sift_auth_metrics_role(a), SIFT_ROLE_NONE);
    sift_auth_free(a);
}

static void
expect_config_error(const char *tokens, const char *needle)
{
    struct sift_auth_opts o = {.tokens = tokens};
    struct sift_auth *a = (struct sift_auth *)1;
    char err[256];
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_ECONFIG);
    assert_null(a);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void
test_auth_bad_entries_are_refused(void **state)
{
    (void)state;
    expect_config_error("a:reader:short", "shorter than 16");
    expect_config_error("a:root:" T_READ, "role must be");
    expect_config_error("a:reader", "expected name:role:token");
    expect_config_error("a:reader:" T_READ ",a:writer:" T_WRITE,
                        "duplicate token name");
    expect_config_error("a:reader:" T_READ ",b:writer:" T_READ,
                        "same token as 'a'");
    expect_config_error("a:reader:sha256:abc", "64 hex");
    expect_config_error(
        "a:reader:sha256:"
        "zz00000000000000000000000000000000000000000000000000000000000000",
        "64 hex");
    expect_config_error("b@d:reader:" T_READ, "token name");
    expect_config_error(":reader:" T_READ, "token name");
    expect_config_error("x:reader:" T_READ ",y:admin:" T_ADMIN ",bad",
                        "entry 3");
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_auth_token_file_permissions(void **state)
{
    (void)state;
    char dir[] = "/tmp/sift-auth-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/tokens", dir);
    write_file(path,
               "# ops tokens\n\n  grafana:reader:" T_READ "  \n"
               "ship:writer:" T_WRITE "\n",
               0644);
    struct sift_auth_opts o = {.token_file = path};
    struct sift_auth *a = NULL;
    char err[512];
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_ECONFIG);
    assert_non_null(strstr(err, "group/world"));
    assert_non_null(strstr(err, "chmod 600"));
    assert_null(a);

    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_ECONFIG);

    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_OK);
    assert_int_equal(sift_auth_n_tokens(a), 2);
    struct sift_auth_result r = check(a, "Bearer " T_WRITE, SIFT_ROLE_WRITER);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_string_equal(r.principal, "ship");
    sift_auth_free(a);

    /* Inline and file entries combine; a clash is reported with file:line. */
    o.tokens = "boss:admin:" T_ADMIN;
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_OK);
    assert_int_equal(sift_auth_n_tokens(a), 3);
    sift_auth_free(a);
    o.tokens = "ship:admin:" T_ADMIN;
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_ECONFIG);
    assert_non_null(strstr(err, "tokens:4"));

    unlink(path);
    o.tokens = NULL;
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, path));
    o.token_file = dir; /* a directory */
    assert_int_equal(sift_auth_new(&o, &a, err, sizeof err), SIFT_ECONFIG);
    assert_non_null(strstr(err, "regular file"));
    rmdir(dir);
}

static void
test_auth_no_tokens_loopback_only(void **state)
{
    (void)state;
    struct sift_auth_opts o = {0};
    struct sift_auth *a = NULL;
    assert_int_equal(sift_auth_new(&o, &a, NULL, 0), SIFT_OK);
    assert_int_equal(sift_auth_n_tokens(a), 0);
    sift_auth_log_summary(a);
    struct sift_auth_result r;
    struct sockaddr_storage ss;
    sift_auth_check(a, mk_v4(&peer_lo_storage, "127.0.0.1"), NULL,
                    SIFT_ROLE_ADMIN, &r);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    assert_int_equal(r.role, SIFT_ROLE_ADMIN);
    assert_string_equal(r.principal, "loopback");
    sift_auth_check(a, mk_v4(&ss, "127.8.9.10"), NULL, SIFT_ROLE_READER, &r);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    sift_auth_check(a, mk_v6(&ss, "::1"), NULL, SIFT_ROLE_WRITER, &r);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    sift_auth_check(a, mk_v6(&ss, "::ffff:127.0.0.1"), NULL, SIFT_ROLE_READER,
                    &r);
    assert_int_equal(r.decision, SIFT_AUTH_ALLOW);

    const char *remote4[] = {"10.0.0.1", "128.0.0.1", "0.0.0.0"};
    for (size_t i = 0; i < 3; i++) {
        sift_auth_check(a, mk_v4(&ss, remote4[i]), "Bearer " T_ADMIN,
                        SIFT_ROLE_READER, &r);
        assert_int_equal(r.decision, SIFT_AUTH_FORBIDDEN);
        assert_non_null(strstr(r.reason, "loopback"));
        /* Open routes (healthz) stay open to everyone. */
        sift_auth_check(a, mk_v4(&ss, remote4[i]), NULL, SIFT_ROLE_NONE, &r);
        assert_int_equal(r.decision, SIFT_AUTH_ALLOW);
    }
    sift_auth_check(a, mk_v6(&ss, "::2"), NULL, SIFT_ROLE_READER, &r);
    assert_int_equal(r.decision, SIFT_AUTH_FORBIDDEN);
    sift_auth_check(a, mk_v6(&ss, "::ffff:10.0.0.1"), NULL, SIFT_ROLE_READER,
                    &r);
    assert_int_equal(r.decision, SIFT_AUTH_FORBIDDEN);
    sift_auth_check(a, NULL, NULL, SIFT_ROLE_READER, &r);
    assert_int_equal(r.decision, SIFT_AUTH_FORBIDDEN);
    sift_auth_free(a);
}

static void
test_auth_tokens_configured_loopback_still_needs_token(void **state)
{
    struct sift_auth *a = *state;
    struct sift_auth_result r;
    sift_auth_check(a, mk_v4(&peer_lo_storage, "127.0.0.1"), NULL,
                    SIFT_ROLE_READER, &r);
    assert_int_equal(r.decision, SIFT_AUTH_UNAUTHORIZED);
}

static void
test_auth_role_matrix(void **state)
{
    (void)state;
    /* rows: have; columns: need NONE, READER, WRITER, ADMIN, NODE.  A
     * node (cluster peer) reads, never ingests nor administers. */
    static const int want[5][5] = {{1, 0, 0, 0, 0},
                                   {1, 1, 0, 0, 0},
                                   {1, 0, 1, 0, 0},
                                   {1, 1, 1, 1, 1},
                                   {1, 1, 0, 0, 1}};
    for (int h = 0; h < 5; h++)
        for (int n = 0; n < 5; n++)
            assert_int_equal(
                sift_auth_role_allows((enum sift_role)h, (enum sift_role)n),
                want[h][n]);
    enum sift_role role;
    assert_int_equal(sift_auth_role_parse("writer", 6, &role), SIFT_OK);
    assert_int_equal(role, SIFT_ROLE_WRITER);
    assert_int_equal(sift_auth_role_parse("write", 5, &role), SIFT_EINVAL);
    assert_string_equal(sift_auth_role_name(SIFT_ROLE_ADMIN), "admin");
    assert_int_equal(sift_auth_role_parse("node", 4, &role), SIFT_OK);
    assert_int_equal(role, SIFT_ROLE_NODE);
    assert_string_equal(sift_auth_role_name(SIFT_ROLE_NODE), "node");
}

static void
test_auth_b64_and_extract(void **state)
{
    (void)state;
    unsigned char out[64];
    assert_int_equal(auth_b64_decode("YTpi", 4, out), 3);
    assert_memory_equal(out, "a:b", 3);
    assert_int_equal(auth_b64_decode("YTpiYw==", 8, out), 4);
    assert_memory_equal(out, "a:bc", 4);
    assert_int_equal(auth_b64_decode("YTpiYw", 6, out), 4);
    assert_int_equal(auth_b64_decode("Y", 1, out), -1);
    assert_int_equal(auth_b64_decode("YT*i", 4, out), -1);

    unsigned char scratch[4096];
    const char *tok;
    size_t len;
    assert_int_equal(auth_extract_token("Basic YTpiYw==", scratch, &tok, &len),
                     1);
    assert_int_equal(len, 2);
    assert_memory_equal(tok, "bc", 2);
    assert_int_equal(auth_extract_token("Basic YTo=", scratch, &tok, &len), 0);
    /* Over-long credentials are refused before any hashing. */
    char *big = malloc(5000);
    assert_non_null(big);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', 4992);
    big[4999] = '\0';
    assert_int_equal(auth_extract_token(big, scratch, &tok, &len), 0);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_roles_allow_and_forbid,
                                        setup_three, teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_missing_or_wrong_token_is_401,
                                        setup_three, teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_scheme_case_and_spaces,
                                        setup_three, teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_basic_password_is_token,
                                        setup_three, teardown_auth),
        cmocka_unit_test_setup_teardown(test_auth_open_route_needs_no_token,
                                        setup_three, teardown_auth),
        cmocka_unit_test_setup_teardown(
            test_auth_tokens_configured_loopback_still_needs_token, setup_three,
            teardown_auth),
        cmocka_unit_test(test_auth_hashed_entries),
        cmocka_unit_test(test_auth_bad_entries_are_refused),
        cmocka_unit_test(test_auth_token_file_permissions),
        cmocka_unit_test(test_auth_no_tokens_loopback_only),
        cmocka_unit_test(test_auth_role_matrix),
        cmocka_unit_test(test_auth_b64_and_extract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
