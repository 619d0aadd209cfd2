/*
 * test_silences.c - silences (src/alerting/silences.c): matchers on an
 * alert's labels (equal, not equal, anchored regexes, a label the alert
 * lacks compares as ""), active only between startsAt and endsAt,
 * expiry, the change signal, refusals that name the member, and the
 * file that survives a reopen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/silences.h"

#define SEC INT64_C(1000000000)
#define NOW (INT64_C(1796637600) * SEC)

static char root[64];

static int
setup(void **state)
{
    (void)state;
    sift_log_set_level(SIFT_LOG_ERROR);
    snprintf(root, sizeof(root), "/tmp/sift-test-silences-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static struct sift_alert
rule_alert(const char *rule, const char *labels)
{
    struct sift_alert al;
    memset(&al, 0, sizeof(al));
    al.id = 7;
    al.kind = SIFT_ALERT_RULE;
    al.state = SIFT_ALERT_FIRING;
    al.severity = SIFT_SEVERITY_CRITICAL;
    snprintf(al.rule, sizeof(al.rule), "%s", rule);
    snprintf(al.series, sizeof(al.series), "rule=%s", rule);
    snprintf(al.labels, sizeof(al.labels), "%s", labels);
    return al;
}

/* Creates a silence from JSON text at NOW; returns the rc (id in id). */
static int
put(struct sift_silences *s, const char *text, char *id, char *err)
{
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    assert_non_null(o);
    int rc = sift_silences_put(s, o, "tester", NOW, id, err, 400);
    json_decref(o);
    return rc;
}

static void
test_matchers(void **state)
{
    (void)state;
    struct sift_silences *s = NULL;
    assert_int_equal(sift_silences_open(root, &s), SIFT_OK);
    char id[33], err[400];
    struct sift_alert pay =
        rule_alert("payments-errors", "{\"team\":\"payments\"}");
    struct sift_alert chk =
        rule_alert("checkout-ratio", "{\"team\":\"checkout\"}");
    struct sift_alert learned;
    memset(&learned, 0, sizeof(learned));
    learned.kind = SIFT_ALERT_SPIKE;
    snprintf(learned.series, sizeof(learned.series), "service=api level=error");
    assert_false(sift_silences_match(s, &pay, NOW));

    /* An anchored regex: "pay" alone does not match "payments-errors". */
    assert_int_equal(put(s,
                         "{\"matchers\":[{\"name\":\"rule\",\"value\":\"pay\","
                         "\"isRegex\":true}],\"duration\":\"1h\"}",
                         id, err),
                     SIFT_OK);
    assert_false(sift_silences_match(s, &pay, NOW));
    assert_int_equal(put(s,
                         "{\"matchers\":[{\"name\":\"alertname\",\"value\":"
                         "\"pay.*\",\"isRegex\":true},{\"name\":\"team\","
                         "\"value\":\"checkout\",\"isEqual\":false}],"
                         "\"duration\":\"1h\"}",
                         id, err),
                     SIFT_OK);
    assert_true(sift_silences_match(s, &pay, NOW));
    assert_false(sift_silences_match(s, &chk, NOW));
    assert_false(sift_silences_match(s, &pay, NOW - SEC)); /* not started */
    assert_false(sift_silences_match(s, &pay, NOW + 3600 * SEC)); /* ended */
    /* Learned alerts: alertname sift_<kind> and the series' parts. */
    assert_false(sift_silences_match(s, &learned, NOW));
    char id2[33];
    assert_int_equal(put(s,
                         "{\"matchers\":[{\"name\":\"service\",\"value\":"
                         "\"api\"},{\"name\":\"alertname\",\"value\":"
                         "\"sift_spike\"}],\"endsAt\":\"now+10m\"}",
                         id2, err),
                     SIFT_OK);
    assert_true(sift_silences_match(s, &learned, NOW));
    assert_int_equal(sift_silences_active(s, NOW), 3);

    /* Expire: matches no more; kept as expired. */
    assert_true(sift_silences_changed(s, NOW));
    assert_false(sift_silences_changed(s, NOW));
    assert_int_equal(sift_silences_expire(s, id2, NOW + SEC), SIFT_OK);
    assert_true(sift_silences_changed(s, NOW + 2 * SEC));
    assert_false(sift_silences_match(s, &learned, NOW + 2 * SEC));
    assert_int_equal(sift_silences_expire(s, "nosuch", NOW), SIFT_ENOTFOUND);
    assert_int_equal(sift_silences_count(s), 3);
    size_t n_expired = 0;
    for (size_t i = 0; i < sift_silences_count(s); i++) {
        const struct sift_silence *x = sift_silences_at(s, i);
        if (sift_silence_state(x, NOW + 2 * SEC) == SIFT_SILENCE_EXPIRED) {
            assert_string_equal(x->id, id2);
            n_expired++;
        }
    }
    assert_int_equal(n_expired, 1);
    assert_null(sift_silences_at(s, 3));
    sift_silences_free(s);

    /* Reopened: the same silences, the same answers. */
    assert_int_equal(sift_silences_open(root, &s), SIFT_OK);
    assert_true(sift_silences_match(s, &pay, NOW + 2 * SEC));
    assert_false(sift_silences_match(s, &learned, NOW + 2 * SEC));
    const struct sift_silence *x = sift_silences_get(s, id);
    assert_non_null(x);
    assert_int_equal(sift_silence_state(x, NOW), SIFT_SILENCE_ACTIVE);
    assert_string_equal(sift_silence_state_name(SIFT_SILENCE_ACTIVE), "active");
    assert_string_equal(x->created_by, "tester");
    assert_int_equal(x->n_m, 2);
    assert_true(x->m[0].is_regex);
    assert_false(x->m[1].is_equal);
    assert_null(sift_silences_get(s, "nosuch"));
    sift_silences_free(s);
}

static void
test_refusals(void **state)
{
    (void)state;
    struct sift_silences *s = NULL;
    assert_int_equal(sift_silences_open(root, &s), SIFT_OK);
    size_t before = sift_silences_active(s, NOW);
    static const struct {
        const char *body, *expect;
    } bad[] = {
        {"{\"duration\":\"1h\"}", "matchers: required"},
        {"{\"matchers\":[],\"duration\":\"1h\"}", "matchers: required"},
        {"{\"matchers\":[{\"name\":\"rule\"}],\"duration\":\"1h\"}",
         "matchers[0]"},
        {"{\"matchers\":[{\"name\":\"rule\",\"value\":\"(\",\"isRegex\":"
         "true}],\"duration\":\"1h\"}",
         "bad regex"},
        {"{\"matchers\":[{\"name\":\"rule\",\"value\":\"x\"}]}",
         "endsAt (or duration): required"},
        {"{\"matchers\":[{\"name\":\"rule\",\"value\":\"x\"}],\"endsAt\":"
         "\"tomorrow-ish\"}",
         "endsAt: expected a time"},
        {"{\"matchers\":[{\"name\":\"rule\",\"value\":\"x\"}],\"endsAt\":"
         "\"now-1h\"}",
         "endsAt must be after startsAt"},
        {"{\"matchers\":[{\"name\":\"rule\",\"value\":\"x\"}],\"duration\":"
         "\"1h\",\"comentt\":\"x\"}",
         "unknown member 'comentt'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char id[33], err[400] = "";
        assert_int_equal(put(s, bad[i].body, id, err), SIFT_EINVAL);
        if (!strstr(err, bad[i].expect))
            fail_msg("%s: error \"%s\" lacks \"%s\"", bad[i].body, err,
                     bad[i].expect);
    }
    assert_int_equal(sift_silences_active(s, NOW), before);
    sift_silences_free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matchers),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
