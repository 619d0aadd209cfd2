/*
 * test_redact.c - each builtin (and look-alikes that must stay), user
 * PCRE2 rules with targets, marker and keyed-hash replacement, overlaps,
 * the no-copy fast path, counters, event rewriting, and an idempotence
 * sweep over the loghub-2k samples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/redact.h"

#define KEY "0123456789abcdef-test-key"

static struct sift_redact *
mk(const char *builtins, const char *rules, const char *fields,
   const char *mode)
{
    struct sift_redact_opts o = {.builtins = builtins,
                                 .rules = rules,
                                 .fields = fields,
                                 .mode = mode,
                                 .hash_key = KEY};
    struct sift_redact *r = NULL;
    char err[256];
    int rc = sift_redact_new(&o, &r, err, sizeof err);
    if (rc != SIFT_OK)
        fail_msg("sift_redact_new: %s", err);
    return r;
}

/* Redacts s as the message; returns a static copy of the result. */
static const char *
red_t(const struct sift_redact *r, const char *target, const char *s)
{
    static char res[4096];
    struct sift_buf out = SIFT_BUF_INIT;
    int changed = -1;
    assert_int_equal(sift_redact_apply(r, target, target ? strlen(target) : 0,
                                       s, strlen(s), &out, &changed),
                     SIFT_OK);
    if (changed) {
        assert_true(out.len < sizeof res);
        memcpy(res, out.data, out.len);
        res[out.len] = '\0';
    } else {
        assert_int_equal(changed, 0);
        snprintf(res, sizeof res, "%s", s);
    }
    sift_buf_cleanup(&out);
    return res;
}

static const char *
red(const struct sift_redact *r, const char *s)
{
    return red_t(r, NULL, s);
}

#define EXPECT(r, in, want) assert_string_equal(red((r), (in)), (want))
#define UNCHANGED(r, in) assert_string_equal(red((r), (in)), (in))

static void
test_redact_email(void **state)
{
    (void)state;
    struct sift_redact *r = mk("email", NULL, NULL, NULL);
    EXPECT(r, "user John.Doe+x@Example.co.uk logged in",
           "user [REDACTED:email] logged in");
    EXPECT(r, "<a@b.io>,c_d@e-f.org.", "<[REDACTED:email]>,[REDACTED:email].");
    UNCHANGED(r, "FastLeaderElection@774 - Notification");
    UNCHANGED(r, "user@localhost and @handle and x@y.1");
    UNCHANGED(r, "a@.com b@c..com");
    sift_redact_free(r);
}

static void
test_redact_ipv4(void **state)
{
    (void)state;
    struct sift_redact *r = mk("ipv4", NULL, NULL, NULL);
    EXPECT(r, "rhost=218.188.2.4 ", "rhost=[REDACTED:ipv4] ");
    EXPECT(r, "[173.234.31.186] from /10.10.34.11:3888",
           "[[REDACTED:ipv4]] from /[REDACTED:ipv4]:3888");
    EXPECT(r, "0.0.0.0 255.255.255.255", "[REDACTED:ipv4] [REDACTED:ipv4]");
    UNCHANGED(r, "version 1.2.3.4.5 and 256.1.1.1 and 1.2.3");
    UNCHANGED(r, "2005.06.03 R02-M1 15.42.50.675872 v1.2.3.4 1.2.3.4x");
    sift_redact_free(r);
}

static void
test_redact_ipv6(void **state)
{
    (void)state;
    struct sift_redact *r = mk("ipv6", NULL, NULL, NULL);
    EXPECT(r, "from 2001:db8::8a2e:370:7334 port 22",
           "from [REDACTED:ipv6] port 22");
    EXPECT(r, "[::1]:8080 fe80::1%eth0",
           "[[REDACTED:ipv6]]:8080 "
           "[REDACTED:ipv6]%eth0");
    EXPECT(r, "peer ::ffff:10.0.0.1.", "peer [REDACTED:ipv6].");
    EXPECT(r, "[QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:Fast",
           "[QuorumPeer[myid=1]/[REDACTED:ipv6]:2181:Fast");
    UNCHANGED(r, "std::vector Foo::bar 12:30:45 17:41:44,747");
    UNCHANGED(r, "mac 00:1a:2b:3c:4d:5e time 00:00:00.008 a:b:c");
    UNCHANGED(r, "SCSI-WWID:01000010:6005-08b4 key: value");
    sift_redact_free(r);
}

static void
test_redact_card_luhn(void **state)
{
    (void)state;
    struct sift_redact *r = mk("card", NULL, NULL, NULL);
    EXPECT(r, "card 4111 1111 1111 1111 ok", "card [REDACTED:card] ok");
    EXPECT(r, "4111-1111-1111-1111", "[REDACTED:card]");
    EXPECT(r, "pan=5500005555555559;", "pan=[REDACTED:card];");
    EXPECT(r, "amex 378282246310005.", "amex [REDACTED:card].");
    /* Only whole runs count: a card glued to other groups stays. */
    UNCHANGED(r, "2024 4111 1111 1111 1111");
    UNCHANGED(r, "Fan speeds ( 3552 3534 3375 4530 3515 3479 )");
    UNCHANGED(r, "4111 1111-1111 1111");
    /* Look-alikes that fail the Luhn check stay. */
    UNCHANGED(r, "card 4111 1111 1111 1112 ok");
    UNCHANGED(r, "4111111111111112 5500005555555558");
    /* Epoch milliseconds, ids, negative numbers and long runs stay. */
    UNCHANGED(r, "ts=1700000000000 blk_38865049064139660");
    UNCHANGED(r, "blk_-6952295868487656571 x4111111111111111");
    UNCHANGED(r, "41111111111111111111111 4111 1111 111");
    assert_true(sift_redact_luhn_ok("4111 1111 1111 1111", 19));
    assert_false(sift_redact_luhn_ok("4111 1111 1111 1112", 19));
    assert_false(sift_redact_luhn_ok("", 0));
    sift_redact_free(r);
}

static void
test_redact_secrets(void **state)
{
    (void)state;
    struct sift_redact *r = mk("secret", NULL, NULL, NULL);
    EXPECT(r, "Authorization: Bearer eyJhbGciOi.J9x-y_z~+/=",
           "Authorization: Bearer [REDACTED:bearer]");
    EXPECT(r, "bearer: abcdefgh1234", "bearer: [REDACTED:bearer]");
    UNCHANGED(r, "the bearer of bad news; Bearer short");
    EXPECT(r, "key=AKIAIOSFODNN7EXAMPLE end", "key=[REDACTED:aws_key] end");
    EXPECT(r, "ASIAABCDEFGHIJKLMNOP", "[REDACTED:aws_key]");
    UNCHANGED(r, "AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLEX ASIA region");
    EXPECT(r, "t ghp_0123456789abcdefghijABCDEFGHIJ012345 x",
           "t [REDACTED:github_token] x");
    EXPECT(r, "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
           "[REDACTED:github_token]");
    UNCHANGED(r, "ghp_short blk_123 thegh_x");
    EXPECT(r, "xoxb-1234567890-abcdefghij", "[REDACTED:slack_token]");
    UNCHANGED(r, "xoxb-short xoxz-1234567890-abcdefghij");
    EXPECT(r, "stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc",
           "stripe [REDACTED:stripe_key]");
    EXPECT(r, "rk_live_0123456789abcdefXYZ", "[REDACTED:stripe_key]");
    UNCHANGED(r, "sk_test_4eC39HqLyjWDarjtT1zdp7dc ask_live_0123456789abcdef");
    sift_redact_free(r);
}

static void
test_redact_user_rules_and_targets(void **state)
{
    (void)state;
    struct sift_redact *r =
        mk("email",
           "# social security numbers\n"
           "ssn \\b\\d{3}-\\d{2}-\\d{4}\\b\n"
           "\n"
           "  name@user.*,customer  [A-Z][a-z]+ [A-Z][a-z]+\n",
           "message,user.email", NULL);
    EXPECT(r, "ssn 123-45-6789 Ada Lovelace a@b.io",
           "ssn [REDACTED:ssn] Ada Lovelace [REDACTED:email]");
    /* The name rule applies to user.* and customer only. */
    assert_string_equal(red_t(r, "user.full", "Ada Lovelace"),
                        "[REDACTED:name]");
    assert_string_equal(red_t(r, "customer", "Ada Lovelace"),
                        "[REDACTED:name]");
    assert_string_equal(red_t(r, "customers", "Ada Lovelace"), "Ada Lovelace");
    /* Builtins and unscoped rules follow `fields`. */
    assert_string_equal(red_t(r, "user.email", "a@b.io"), "[REDACTED:email]");
    assert_string_equal(red_t(r, "host.name", "a@b.io 123-45-6789"),
                        "a@b.io 123-45-6789");
    assert_string_equal(red_t(r, "message", "123-45-6789"), "[REDACTED:ssn]");
    assert_int_equal(sift_redact_n_rules(r), 3);
    assert_string_equal(sift_redact_rule_name(r, 0), "email");
    assert_string_equal(sift_redact_rule_name(r, 2), "name");
    /* Empty matches replace nothing and terminate. */
    sift_redact_free(r);
    r = mk("none", "empty x*", NULL, NULL);
    EXPECT(r, "abc xx d", "abc [REDACTED:empty] d");
    sift_redact_free(r);
}

static void
expect_new_error(const struct sift_redact_opts *o, const char *needle)
{
    struct sift_redact *r = (struct sift_redact *)1;
    char err[256];
    assert_int_equal(sift_redact_new(o, &r, err, sizeof err), SIFT_ECONFIG);
    assert_null(r);
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void
test_redact_config_errors(void **state)
{
    (void)state;
    struct sift_redact_opts o = {.rules = "ok a\nbad (unclosed"};
    expect_new_error(&o, "line 2: rule 'bad'");
    o.rules = "dup a\ndup b";
    expect_new_error(&o, "duplicate rule name 'dup'");
    o.rules = "email x";
    expect_new_error(&o, "duplicate rule name 'email'");
    o.rules = "noregex";
    expect_new_error(&o, "line 1");
    o.rules = "x@bad/target y";
    expect_new_error(&o, "bad target");
    o.rules = NULL;
    o.builtins = "email,phone";
    expect_new_error(&o, "unknown builtin 'phone'");
    o.builtins = NULL;
    o.mode = "hash";
    o.hash_key = "short";
    expect_new_error(&o, "at least 16");
    o.mode = "blur";
    expect_new_error(&o, "not marker or hash");
    o.mode = NULL;
    o.fields = ",";
    expect_new_error(&o, "redact.fields");
}

static void
test_redact_hash_mode_groups_equal_values(void **state)
{
    (void)state;
    struct sift_redact *r = mk("email,card,ipv6", NULL, NULL, "hash");
    char a[128], b[128], c[128];
    snprintf(a, sizeof a, "%s", red(r, "u=Alice@Example.com"));
    snprintf(b, sizeof b, "%s", red(r, "u=alice@example.COM"));
    snprintf(c, sizeof c, "%s", red(r, "u=bob@example.com"));
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), strlen("u=[email:12345678]"));

    /* The pseudonym is HMAC-SHA256(key, normalised value), truncated. */
    unsigned char md[32];
    unsigned int md_len = 0;
    HMAC(EVP_sha256(), KEY, (int)strlen(KEY),
         (const unsigned char *)"alice@example.com", 17, md, &md_len);
    char want[64];
    snprintf(want, sizeof want, "u=[email:%02x%02x%02x%02x]", md[0], md[1],
             md[2], md[3]);
    assert_string_equal(a, want);

    snprintf(a, sizeof a, "%s", red(r, "4111 1111 1111 1111"));
    snprintf(b, sizeof b, "%s", red(r, "4111-1111-1111-1111"));
    assert_string_equal(a, b);
    snprintf(a, sizeof a, "%s", red(r, "[2001:db8::1]"));
    snprintf(b, sizeof b, "%s", red(r, "[2001:0DB8:0:0::0001]"));
    assert_string_equal(a, b);
    sift_redact_free(r);

    /* Another key gives other pseudonyms; hash_hex_len is honoured. */
    struct sift_redact_opts o = {.builtins = "email",
                                 .mode = "hash",
                                 .hash_key = "another-key-0123456789",
                                 .hash_hex_len = 12};
    assert_int_equal(sift_redact_new(&o, &r, NULL, 0), SIFT_OK);
    snprintf(b, sizeof b, "%s", red(r, "u=alice@example.com"));
    assert_string_not_equal(b, want);
    assert_int_equal(strlen(b), strlen("u=[email:123456789012]"));
    sift_redact_free(r);
}

static void
test_redact_overlaps_keep_leftmost_longest(void **state)
{
    (void)state;
    struct sift_redact *r = mk("email,ipv4", "acct acct-\\d+", NULL, NULL);
    /* The email contains no IPv4; an address-like local part stays inside
       the email match. */
    EXPECT(r, "to 10.0.0.1@mail.example.org", "to [REDACTED:email]");
    EXPECT(r, "acct-42 10.1.1.1", "[REDACTED:acct] [REDACTED:ipv4]");
    sift_redact_free(r);
}

static void
test_redact_fast_path_no_copy(void **state)
{
    (void)state;
    struct sift_redact *r = mk(NULL, NULL, NULL, NULL);
    struct sift_buf out = SIFT_BUF_INIT;
    sift_buf_append(&out, "keep", 4);
    int changed = -1;
    const char *line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: "
                       "PacketResponder 1 for block blk_38865049064139660";
    assert_int_equal(
        sift_redact_apply(r, NULL, 0, line, strlen(line), &out, &changed),
        SIFT_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(out.len, 4); /* untouched */
    assert_int_equal(sift_redact_apply(r, NULL, 0, "", 0, &out, &changed),
                     SIFT_OK);
    assert_int_equal(changed, 0);
    sift_buf_cleanup(&out);
    sift_redact_free(r);
}

static void
test_redact_counters_and_metrics(void **state)
{
    (void)state;
    struct sift_redact *r = mk("email,ipv4", NULL, NULL, NULL);
    red(r, "a@b.io c@d.io 1.2.3.4");
    red(r, "nothing here");
    size_t email = 0, ipv4 = 1;
    assert_string_equal(sift_redact_rule_name(r, email), "email");
    assert_int_equal(sift_redact_rule_count(r, email), 2);
    assert_int_equal(sift_redact_rule_count(r, ipv4), 1);
    struct sift_buf m = SIFT_BUF_INIT;
    sift_redact_metrics_collect(&m, r);
    const char *text = sift_buf_cstr(&m);
    assert_non_null(strstr(text, "# TYPE sift_redactions_total counter"));
    assert_non_null(strstr(text, "sift_redactions_total{rule=\"email\"} 2\n"));
    assert_non_null(strstr(text, "sift_redactions_total{rule=\"ipv4\"} 1\n"));
    sift_buf_cleanup(&m);
    sift_redact_free(r);
}

static void
test_redact_event_in_place(void **state)
{
    (void)state;
    struct sift_redact *r = mk(NULL, NULL, "message,user.*,pan", NULL);
    struct sift_arena *arena = sift_arena_new(4096);
    struct sift_field fields[3] = {
        {"user.mail", "x@y.org", 9, 7, SIFT_FT_KEYWORD},
        {"host.ip", "10.0.0.1", 7, 8, SIFT_FT_KEYWORD},
        {"pan", "4111111111111111", 3, 16, SIFT_FT_NUMBER},
    };
    const char *msg = "login from 10.0.0.1";
    struct sift_event ev = {.msg = msg,
                            .msg_len = (uint32_t)strlen(msg),
                            .n_fields = 3,
                            .fields = fields};
    struct sift_buf scratch = SIFT_BUF_INIT;
    unsigned n = 0;
    assert_int_equal(sift_redact_event(r, &ev, arena, &scratch, &n), SIFT_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(ev.msg, "login from [REDACTED:ipv4]", ev.msg_len);
    assert_int_equal(ev.msg_len, strlen("login from [REDACTED:ipv4]"));
    assert_memory_equal(fields[0].value, "[REDACTED:email]",
                        fields[0].value_len);
    /* host.ip is not a target: kept. */
    assert_memory_equal(fields[1].value, "10.0.0.1", 8);
    assert_int_equal(fields[2].type, SIFT_FT_KEYWORD);
    assert_memory_equal(fields[2].value, "[REDACTED:card]",
                        fields[2].value_len);
    sift_buf_cleanup(&scratch);
    sift_arena_free(arena);
    sift_redact_free(r);
}

/* Redacting twice changes nothing more: markers never match a rule. */
static void
test_redact_loghub_idempotent(void **state)
{
    (void)state;
    const char *base = getenv("SIFT_TEST_DATA");
    if (!base)
        base = SIFT_SOURCE_DIR "/tests/data";
    static const char *sets[] = {"Apache", "BGL",      "HDFS",    "HPC",
                                 "Hadoop", "Linux",    "OpenSSH", "OpenStack",
                                 "Spark",  "Zookeeper"};
    struct sift_redact *r = mk(NULL, NULL, NULL, NULL);
    struct sift_redact *rh = mk(NULL, NULL, NULL, "hash");
    struct sift_buf o1 = SIFT_BUF_INIT, o2 = SIFT_BUF_INIT;
    size_t n_lines = 0, n_changed = 0;
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        char path[512];
        snprintf(path, sizeof path, "%s/loghub-2k/%s/%s_2k.log", base, sets[s],
                 sets[s]);
        FILE *f = fopen(path, "r");
        if (!f)
            fail_msg("cannot open %s", path);
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            size_t len = strcspn(line, "\n");
            int ch1 = 0, ch2 = 0;
            n_lines++;
            for (int k = 0; k < 2; k++) {
                const struct sift_redact *rr = k ? rh : r;
                assert_int_equal(
                    sift_redact_apply(rr, NULL, 0, line, len, &o1, &ch1),
                    SIFT_OK);
                if (!ch1)
                    continue;
                n_changed += k == 0;
                assert_int_equal(
                    sift_redact_apply(rr, NULL, 0, o1.data, o1.len, &o2, &ch2),
                    SIFT_OK);
                if (ch2)
                    fail_msg("not idempotent:\n%.*s\n%.*s", (int)o1.len,
                             o1.data, (int)o2.len, o2.data);
            }
        }
        fclose(f);
    }
    assert_int_equal(n_lines, 20000);
    /* OpenSSH, Linux, HDFS and Zookeeper lines carry addresses. */
    assert_true(n_changed > 2000);
    assert_true(sift_redact_rule_count(r, 1) > 2000); /* ipv4 */
    sift_buf_cleanup(&o1);
    sift_buf_cleanup(&o2);
    sift_redact_free(r);
    sift_redact_free(rh);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_email),
        cmocka_unit_test(test_redact_ipv4),
        cmocka_unit_test(test_redact_ipv6),
        cmocka_unit_test(test_redact_card_luhn),
        cmocka_unit_test(test_redact_secrets),
        cmocka_unit_test(test_redact_user_rules_and_targets),
        cmocka_unit_test(test_redact_config_errors),
        cmocka_unit_test(test_redact_hash_mode_groups_equal_values),
        cmocka_unit_test(test_redact_overlaps_keep_leftmost_longest),
        cmocka_unit_test(test_redact_fast_path_no_copy),
        cmocka_unit_test(test_redact_counters_and_metrics),
        cmocka_unit_test(test_redact_event_in_place),
        cmocka_unit_test(test_redact_loghub_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
