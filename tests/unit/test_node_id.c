/*
 * test_node_id.c - DATA_DIR/node_id: created once with a valid id, read
 * back unchanged by every later start, operator-written ids accepted with
 * white space around them, broken files refused.
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

#include "sift/error.h"
#include "sift/node_id.h"

struct dir {
    char path[64];
    char file[128];
};

static int
setup(void **state)
{
    struct dir *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    snprintf(d->path, sizeof(d->path), "/tmp/sift-node-XXXXXX");
    assert_non_null(mkdtemp(d->path));
    snprintf(d->file, sizeof(d->file), "%s/node_id", d->path);
    *state = d;
    return 0;
}

static int
teardown(void **state)
{
    struct dir *d = *state;
    char tmp[160];
    unlink(d->file);
    snprintf(tmp, sizeof(tmp), "%s.tmp", d->file);
    unlink(tmp);
    rmdir(d->path);
    free(d);
    return 0;
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void
test_node_id_created_once_and_stable(void **state)
{
    struct dir *d = *state;
    char a[SIFT_NODE_ID_MAX + 1], b[SIFT_NODE_ID_MAX + 1], text[128];
    int created = -1;
    struct stat st;
    FILE *f;

    assert_int_equal(sift_node_id_load(d->path, a, sizeof(a), &created),
                     SIFT_OK);
    assert_int_equal(created, 1);
    assert_int_equal(strlen(a), 21); /* "sift-" + 16 hex digits */
    assert_memory_equal(a, "sift-", 5);
    assert_true(sift_node_id_valid(a, strlen(a)));
    assert_int_equal(stat(d->file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    f = fopen(d->file, "r");
    assert_non_null(f);
    assert_non_null(fgets(text, sizeof(text), f));
    fclose(f);
    assert_int_equal(strlen(text), strlen(a) + 1);
    assert_memory_equal(text, a, strlen(a));

    /* Every later start reads the same id and creates nothing. */
    assert_int_equal(sift_node_id_load(d->path, b, sizeof(b), &created),
                     SIFT_OK);
    assert_int_equal(created, 0);
    assert_string_equal(a, b);
}

static void
test_node_id_fresh_dirs_differ(void **state)
{
    struct dir *d = *state;
    char a[SIFT_NODE_ID_MAX + 1], b[SIFT_NODE_ID_MAX + 1];

    assert_int_equal(sift_node_id_load(d->path, a, sizeof(a), NULL), SIFT_OK);
    assert_int_equal(unlink(d->file), 0);
    assert_int_equal(sift_node_id_load(d->path, b, sizeof(b), NULL), SIFT_OK);
    assert_string_not_equal(a, b);
}

static void
test_node_id_operator_written_and_broken(void **state)
{
    struct dir *d = *state;
    char id[SIFT_NODE_ID_MAX + 1];
    char longer[SIFT_NODE_ID_MAX + 3];
    int created = -1;

    write_file(d->file, "  web-1.example_A \n\n");
    assert_int_equal(sift_node_id_load(d->path, id, sizeof(id), &created),
                     SIFT_OK);
    assert_string_equal(id, "web-1.example_A");
    assert_int_equal(created, 0);

    write_file(d->file, "two words\n");
    assert_int_equal(sift_node_id_load(d->path, id, sizeof(id), NULL),
                     SIFT_ECORRUPT);
    write_file(d->file, "\n");
    assert_int_equal(sift_node_id_load(d->path, id, sizeof(id), NULL),
                     SIFT_ECORRUPT);
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    write_file(d->file, longer);
    assert_int_equal(sift_node_id_load(d->path, id, sizeof(id), NULL),
                     SIFT_ECORRUPT);
    /* A broken file is never overwritten. */
    assert_int_equal(sift_node_id_load(d->path, id, sizeof(id), NULL),
                     SIFT_ECORRUPT);
    assert_int_equal(sift_node_id_load(d->path, id, 8, NULL), SIFT_EINVAL);
}

static void
test_node_id_valid_chars(void **state)
{
    (void)state;
    assert_true(sift_node_id_valid("a", 1));
    assert_true(sift_node_id_valid("A-z_0.9", 7));
    assert_false(sift_node_id_valid("", 0));
    assert_false(sift_node_id_valid("a/b", 3));
    assert_false(sift_node_id_valid("a b", 3));
    assert_false(sift_node_id_valid("\xc3\xa9", 2));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_node_id_created_once_and_stable,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_id_fresh_dirs_differ, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_node_id_operator_written_and_broken, setup, teardown),
        cmocka_unit_test(test_node_id_valid_chars),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
