/*
 * test_statefile.c - state-file line checksums (src/core/statefile.c):
 * both line forms round-trip, every single-bit change and every cut of a
 * checked line is caught, older lines without a checksum are told apart, and
 * the quarantine keeps copies and moves without ever replacing one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/statefile.h"

static void
check_every_byte(const char *payload)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_append(&b, payload, strlen(payload));
    sift_statefile_line_end(&b, 0);
    assert_int_equal(b.data[b.len - 1], '\n');
    size_t n = b.len - 1;
    char *line = sift_xmalloc(n + 1);
    memcpy(line, b.data, n);
    size_t len = n;
    assert_int_equal(sift_statefile_line_check(line, &len), SIFT_OK);
    if (payload[0] == '{') {
        /* Still one JSON object, the payload's members intact. */
        assert_int_equal(len, n);
        json_error_t err;
        json_t *o = json_loadb(line, n, 0, &err);
        assert_non_null(o);
        assert_non_null(json_object_get(o, "ck"));
        json_decref(o);
    } else {
        assert_int_equal(len, strlen(payload));
        assert_memory_equal(line, payload, len);
    }
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            /* Damaged, or (the marker itself hit) a line without a
             * checksum, which a file of checked lines refuses too. */
            line[i] ^= (char)(1 << bit);
            len = n;
            assert_int_not_equal(sift_statefile_line_check(line, &len),
                                 SIFT_OK);
            line[i] ^= (char)(1 << bit);
        }
    }
    /* Cut anywhere: never taken for a good line. */
    for (size_t cut = 1; cut < n; cut++) {
        len = cut;
        assert_int_not_equal(sift_statefile_line_check(line, &len), SIFT_OK);
    }
    sift_free(line);
    sift_buf_cleanup(&b);
}

static void
test_statefile_lines(void **state)
{
    (void)state;
    check_every_byte("{\"type\":\"alert\",\"id\":7,\"series\":\"a\\tb\"}");
    check_every_byte("12 3 4 5\tconnection from <*> closed");
    check_every_byte("sift-drain 1 9 0");
    size_t len = 9;
    assert_int_equal(sift_statefile_line_check("old line!", &len),
                     SIFT_ENOTFOUND);
    len = 2;
    assert_int_equal(sift_statefile_line_check("{}", &len), SIFT_ENOTFOUND);
    len = 0;
    assert_int_equal(sift_statefile_line_check("", &len), SIFT_ENOTFOUND);
}

static void
test_statefile_quarantine_keeps_every_copy(void **state)
{
    (void)state;
    char root[] = "/tmp/sift-test-statefile-XXXXXX";
    assert_non_null(mkdtemp(root));
    sift_log_set_level(SIFT_LOG_ERROR);
    char path[256], cmd[300];
    snprintf(path, sizeof(path), "%s/state.txt", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("one\ntwo\n", f);
    fclose(f);
    char *a = NULL, *b = NULL, *c = NULL;
    assert_int_equal(sift_statefile_quarantine(root, path, 0, "damaged", &a),
                     SIFT_OK);
    assert_int_equal(sift_statefile_quarantine(root, path, 0, "damaged", &b),
                     SIFT_OK);
    assert_string_not_equal(a, b);
    struct stat st;
    assert_int_equal(stat(path, &st), 0); /* a copy leaves it in place */
    assert_int_equal(sift_statefile_quarantine(root, path, 1, "unreadable", &c),
                     SIFT_OK);
    assert_int_not_equal(stat(path, &st), 0);
    char q[300];
    snprintf(q, sizeof(q), "%s/quarantine/%s", root, c);
    assert_int_equal(stat(q, &st), 0);
    assert_int_equal(st.st_size, 8);
    assert_int_not_equal(sift_statefile_quarantine(root, path, 1, "gone", NULL),
                         SIFT_OK);
    sift_free(a);
    sift_free(b);
    sift_free(c);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_statefile_lines),
        cmocka_unit_test(test_statefile_quarantine_keeps_every_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
