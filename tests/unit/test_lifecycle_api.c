/*
 * test_lifecycle_api.c - the delete-by-query request: every key known and
 * typed (a mistyped time bound never widens a delete), suggestions for
 * typos, and the confirmations a delete of all time or of everything
 * needs; plus the "did you mean" helper it uses (core/names.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "api/lifecycle_api_int.h"
#include "sift/error.h"
#include "sift/names.h"

static int
parse(const char *body, struct delete_req *r, const char **type, char *why)
{
    json_t *root = json_loads(body, 0, NULL);
    assert_non_null(root);
    int rc = delete_req_parse(root, r, type, why, 512);
    json_decref(root);
    return rc;
}

static void
test_lifecycle_api_unknown_keys_are_named(void **state)
{
    (void)state;
    struct delete_req r;
    const char *type;
    char why[512];
    /* The report: "start" instead of "from" deleted all time. */
    assert_int_equal(
        parse("{\"query\":\"jane\",\"start\":\"now-1h\"}", &r, &type, why),
        SIFT_EINVAL);
    assert_string_equal(type, "unknown_parameter");
    assert_non_null(strstr(why, "\"start\""));
    assert_non_null(strstr(why, "did you mean \"from\""));
    assert_non_null(strstr(why, "nothing was deleted"));
    static const struct {
        const char *key, *want;
    } cases[] = {
        {"end", "to"},
        {"until", "to"},
        {"qeury", "query"},
        {"Query", "query"},
        {"q", "query"},
        {"dryrun", "dry_run"},
        {"dry-run", "dry_run"},
        {"dyr_run", "dry_run"},
        {"alltime", "all_time"},
        {"match-all", "match_all"},
        {"force", "force_rewrite"},
        {"form", "from"},
        {"fro", "from"},
        {"gte", "from"},
        {"lt", "to"},
        {"xyzzy", NULL},
        {"id", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = delete_key_suggest(cases[i].key);
        if (cases[i].want == NULL) {
            if (got)
                fail_msg("%s: suggested %s", cases[i].key, got);
        } else if (!got || strcmp(got, cases[i].want) != 0) {
            fail_msg("%s: got %s, want %s", cases[i].key, got ? got : "-",
                     cases[i].want);
        }
    }
    /* No suggestion: the message still lists the keys. */
    assert_int_equal(parse("{\"query\":\"x\",\"xyzzy\":1}", &r, &type, why),
                     SIFT_EINVAL);
    assert_null(strstr(why, "did you mean"));
    assert_non_null(strstr(why, "query, from, to"));
}

static void
test_lifecycle_api_types_are_checked(void **state)
{
    (void)state;
    struct delete_req r;
    const char *type;
    char why[512];
    /* "false" as a string must not become a real delete. */
    assert_int_equal(
        parse("{\"query\":\"x\",\"dry_run\":\"true\"}", &r, &type, why),
        SIFT_EINVAL);
    assert_string_equal(type, "bad_request");
    assert_non_null(strstr(why, "\"dry_run\" must be true or false"));
    assert_int_equal(parse("{\"query\":\"x\",\"all_time\":1}", &r, &type, why),
                     SIFT_EINVAL);
    assert_int_equal(parse("{\"query\":5}", &r, &type, why), SIFT_EINVAL);
    assert_int_equal(parse("{\"from\":\"now-1h\"}", &r, &type, why),
                     SIFT_EINVAL);
    assert_non_null(strstr(why, "\"query\""));
    assert_int_equal(parse("{\"query\":\"x\",\"from\":null,\"to\":\"now\","
                           "\"dry_run\":true,\"force_rewrite\":false}",
                           &r, &type, why),
                     SIFT_OK);
    assert_null(r.from);
    assert_non_null(r.to);
    assert_true(r.dry_run);
    assert_false(r.force_rewrite);
}

static void
test_lifecycle_api_confirmations(void **state)
{
    (void)state;
    struct delete_req r;
    const char *type;
    char why[512];
    assert_int_equal(parse("{\"query\":\"jane\"}", &r, &type, why), SIFT_OK);
    assert_int_equal(delete_needs(&r, 0), NEED_ALL_TIME);
    assert_int_equal(delete_needs(&r, 1), NEED_ALL_TIME | NEED_MATCH_ALL);
    assert_int_equal(
        parse("{\"query\":\"jane\",\"from\":\"now-1h\"}", &r, &type, why),
        SIFT_OK);
    assert_int_equal(delete_needs(&r, 0), 0);
    assert_int_equal(delete_needs(&r, 1), NEED_MATCH_ALL);
    assert_int_equal(
        parse("{\"query\":\"*\",\"to\":0,\"match_all\":true}", &r, &type, why),
        SIFT_OK);
    assert_int_equal(delete_needs(&r, 1), 0);
    assert_int_equal(parse("{\"query\":\"*\",\"all_time\":true,"
                           "\"match_all\":true}",
                           &r, &type, why),
                     SIFT_OK);
    assert_int_equal(delete_needs(&r, 1), 0);
    /* A confirmation of the other kind does not stand in for it. */
    assert_int_equal(
        parse("{\"query\":\"jane\",\"match_all\":true}", &r, &type, why),
        SIFT_OK);
    assert_int_equal(delete_needs(&r, 0), NEED_ALL_TIME);
}

static void
test_lifecycle_api_name_closest(void **state)
{
    (void)state;
    static const char *const known[] = {"limit", "from", "to", "query",
                                        "fields"};
    assert_string_equal(sift_name_closest("lmit", known, 5), "limit");
    assert_string_equal(sift_name_closest("LIMIT", known, 5), "limit");
    assert_string_equal(sift_name_closest("form", known, 5), "from");
    assert_string_equal(sift_name_closest("feilds", known, 5), "fields");
    assert_string_equal(sift_name_closest("qu", known, 5), "query");
    assert_null(sift_name_closest("xx", known, 5));
    assert_null(sift_name_closest("", known, 5));
    assert_null(sift_name_closest("f", known, 5)); /* too short a prefix */
    /* Too far for a short name: "id" is not "to". */
    assert_null(sift_name_closest("id", known, 5));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_api_unknown_keys_are_named),
        cmocka_unit_test(test_lifecycle_api_types_are_checked),
        cmocka_unit_test(test_lifecycle_api_confirmations),
        cmocka_unit_test(test_lifecycle_api_name_closest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
