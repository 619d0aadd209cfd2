/*
 * test_audit.c - audit records: JSON shape and escaping, append across
 * reopen, file mode 0600, and the log fallback without a file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "sift/audit.h"
#include "sift/buf.h"
#include "sift/error.h"

static void
test_audit_format_is_json(void **state)
{
    (void)state;
    struct sift_buf b = SIFT_BUF_INIT;
    /* 2021-01-02T03:04:05.000000006Z */
    int64_t ts = INT64_C(1609556645) * 1000000000 + 6;
    sift_audit_format(&b, ts, "ops", "10.0.0.7:5123", "delete", 200,
                      "query=\"a\\b\"\nx");
    json_error_t jerr;
    json_t *j = json_loadb(b.data, b.len, 0, &jerr);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "time")),
                        "2021-01-02T03:04:05.000000006Z");
    assert_string_equal(json_string_value(json_object_get(j, "principal")),
                        "ops");
    assert_string_equal(json_string_value(json_object_get(j, "peer")),
                        "10.0.0.7:5123");
    assert_string_equal(json_string_value(json_object_get(j, "action")),
                        "delete");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
    assert_string_equal(json_string_value(json_object_get(j, "details")),
                        "query=\"a\\b\"\nx");
    json_decref(j);

    sift_buf_reset(&b);
    sift_audit_format(&b, 0, NULL, NULL, "reload", 0, NULL);
    assert_string_equal(sift_buf_cstr(&b),
                        "{\"time\":\"1970-01-01T00:00:00.000000000Z\","
                        "\"principal\":\"-\",\"peer\":\"-\",\"action\":"
                        "\"reload\"}");
    sift_buf_cleanup(&b);
}

static void
test_audit_appends_lines_across_reopen(void **state)
{
    (void)state;
    char dir[] = "/tmp/sift-audit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], moved[128];
    snprintf(path, sizeof path, "%s/audit.log", dir);
    snprintf(moved, sizeof moved, "%s/audit.log.1", dir);
    struct sift_audit *a = NULL;
    assert_int_equal(sift_audit_open(path, &a), SIFT_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sift_audit_write(a, 1, "a", "p", "delete", 200, "d1"),
                     SIFT_OK);
    assert_int_equal(sift_audit_write(a, 2, "b", "p", "feedback", 202, NULL),
                     SIFT_OK);
    /* logrotate: move, reopen, write: the new file gets the new line. */
    assert_int_equal(rename(path, moved), 0);
    assert_int_equal(sift_audit_reopen(a), SIFT_OK);
    assert_int_equal(sift_audit_write(a, 3, "c", "p", "reload", 200, NULL),
                     SIFT_OK);
    sift_audit_close(a);

    /* A second open appends instead of truncating. */
    assert_int_equal(sift_audit_open(path, &a), SIFT_OK);
    assert_int_equal(sift_audit_write(a, 4, "d", "p", "reload", 200, NULL),
                     SIFT_OK);
    sift_audit_close(a);

    char buf[4096];
    FILE *f = fopen(moved, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"action\":\"delete\""));
    assert_non_null(strstr(buf, "\"action\":\"feedback\""));
    assert_null(strstr(buf, "reload"));
    int lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 2);

    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"principal\":\"c\""));
    assert_non_null(strstr(buf, "\"principal\":\"d\""));
    lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    assert_int_equal(lines, 2);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

static void
test_audit_errors_and_fallback(void **state)
{
    (void)state;
    struct sift_audit *a = (struct sift_audit *)1;
    assert_int_equal(sift_audit_open("/nonexistent-dir/x/audit.log", &a),
                     -ENOENT);
    assert_null(a);
    /* No file: the record goes to the log and the call succeeds. */
    assert_int_equal(sift_audit_write(NULL, 0, "x", "y", "reload", 200, NULL),
                     SIFT_OK);
    /* Huge details are cut so a line stays bounded. */
    static char big[100000];
    memset(big, '"', sizeof big - 1);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_audit_format(&b, 0, "a", "b", "delete", 200, big);
    assert_true(b.len < SIFT_AUDIT_MAX_LINE);
    sift_buf_cleanup(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_audit_format_is_json),
        cmocka_unit_test(test_audit_appends_lines_across_reopen),
        cmocka_unit_test(test_audit_errors_and_fallback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
