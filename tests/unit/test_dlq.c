/*
 * test_dlq.c - the dead-letter file: one NDJSON record per rejected
 * message, raw bytes kept exactly (JSON string or base64), appends across
 * reopen.  Records are read back with jansson.
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

#include "sift/error.h"
#include "sift/source.h"

struct dfix {
    char dir[64];
    char path[128];
};

static int
dfix_setup(void **state)
{
    struct dfix *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/sift-dlq-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/dlq.ndjson", f->dir);
    *state = f;
    return 0;
}

static int
dfix_teardown(void **state)
{
    struct dfix *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Reads line `want` (0-based) of the file as JSON; NULL when absent. */
static json_t *
read_record(const char *path, int want)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    json_t *j = NULL;
    int i = 0;

    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp)) {
        if (i++ == want) {
            json_error_t err;
            j = json_loads(line, 0, &err);
            assert_non_null(j);
            break;
        }
    }
    fclose(fp);
    return j;
}

static void
test_dlq_records_text_and_position(void **state)
{
    struct dfix *f = *state;
    struct sift_dlq *d = NULL;
    struct sift_srcpos pos = {"kafka/logs/3", 1234, 0};
    const char raw[] = "{\"broken\": \"caf\xc3\xa9\n";
    json_t *j;

    assert_int_equal(sift_dlq_open(f->path, 1, &d), SIFT_OK);
    assert_int_equal(
        sift_dlq_put(d, "kafka", &pos, "invalid JSON", raw, sizeof(raw) - 1),
        SIFT_OK);
    assert_int_equal(sift_dlq_count(d), 1);
    sift_dlq_close(d);

    j = read_record(f->path, 0);
    assert_string_equal(json_string_value(json_object_get(j, "source")),
                        "kafka");
    assert_string_equal(json_string_value(json_object_get(j, "reason")),
                        "invalid JSON");
    assert_string_equal(json_string_value(json_object_get(j, "raw")), raw);
    assert_null(json_object_get(j, "raw_b64"));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(j, "position"), "key")),
                        "kafka/logs/3");
    assert_int_equal(json_integer_value(
                         json_object_get(json_object_get(j, "position"), "hi")),
                     1234);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "time"))),
                     strlen("2026-11-22T21:40:01.123Z"));
    json_decref(j);
}

static void
test_dlq_binary_goes_base64_and_appends(void **state)
{
    struct dfix *f = *state;
    struct sift_dlq *d = NULL;
    /* Invalid UTF-8: a lone continuation byte, NUL, a truncated 3-byte. */
    const unsigned char bin[] = {0x80, 'a', 0x00, 0xff, 0xe2, 0x82};
    json_t *j;

    assert_int_equal(sift_dlq_open(f->path, 0, &d), SIFT_OK);
    assert_int_equal(sift_dlq_put(d, "redis-list", NULL, "r1", "x", 1),
                     SIFT_OK);
    sift_dlq_close(d);
    assert_int_equal(sift_dlq_open(f->path, 0, &d), SIFT_OK);
    assert_int_equal(
        sift_dlq_put(d, "redis-list", NULL, "r2", bin, sizeof(bin)), SIFT_OK);
    for (size_t n = 0; n <= 3; n++)
        assert_int_equal(sift_dlq_put(d, "s", NULL, "tail", bin, n), SIFT_OK);
    assert_int_equal(sift_dlq_sync(d), SIFT_OK);
    sift_dlq_close(d);

    j = read_record(f->path, 0);
    assert_string_equal(json_string_value(json_object_get(j, "raw")), "x");
    assert_null(json_object_get(j, "position"));
    json_decref(j);
    j = read_record(f->path, 1);
    assert_null(json_object_get(j, "raw"));
    /* 80 61 00 ff e2 82 -> gGEA/+KC */
    assert_string_equal(json_string_value(json_object_get(j, "raw_b64")),
                        "gGEA/+KC");
    json_decref(j);
    /* Padding: 0 bytes is valid UTF-8 (""), 1 and 2 bytes pad with '='. */
    j = read_record(f->path, 2);
    assert_string_equal(json_string_value(json_object_get(j, "raw")), "");
    json_decref(j);
    j = read_record(f->path, 3);
    assert_string_equal(json_string_value(json_object_get(j, "raw_b64")),
                        "gA==");
    json_decref(j);
    j = read_record(f->path, 4);
    assert_string_equal(json_string_value(json_object_get(j, "raw_b64")),
                        "gGE=");
    json_decref(j);
    j = read_record(f->path, 5);
    assert_string_equal(json_string_value(json_object_get(j, "raw_b64")),
                        "gGEA");
    json_decref(j);
    assert_null(read_record(f->path, 6));
}

static void
test_dlq_open_fails_with_errno(void **state)
{
    struct sift_dlq *d = (struct sift_dlq *)1;
    (void)state;
    assert_true(sift_dlq_open("/nonexistent-dir/x/dlq.ndjson", 0, &d) < 0);
    assert_null(d);
    sift_dlq_close(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dlq_records_text_and_position,
                                        dfix_setup, dfix_teardown),
        cmocka_unit_test_setup_teardown(test_dlq_binary_goes_base64_and_appends,
                                        dfix_setup, dfix_teardown),
        cmocka_unit_test(test_dlq_open_fails_with_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
