/*
 * test_file.c - unit tests of core/file.c: atomic replacement (contents,
 * mode, no temporary left, old contents kept on failure), whole-file
 * reads (limits, empty files, pipes that outgrow the first buffer, reads
 * from an offset, allocation failure), disk-full mapping and directory
 * fsync.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/file.h"

struct fx {
    char dir[64];
    char path[128];
};

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/sift-test-file-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/state", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char p[160];
    snprintf(p, sizeof(p), "%s/state", f->dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/state.tmp", f->dir);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void
expect_contents(const char *path, const char *want)
{
    char *got;
    size_t len;
    assert_int_equal(sift_file_read_all(path, 1 << 20, &got, &len), SIFT_OK);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    assert_int_equal(got[len], '\0');
    sift_free(got);
}

static int
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void
test_file_replace_writes_and_overwrites(void **state)
{
    struct fx *f = *state;
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
    mode_t old = umask(022);
    assert_int_equal(sift_file_replace(f->path, "first\n", 6, 0640, 0),
                     SIFT_OK);
    expect_contents(f->path, "first\n");
    assert_false(exists(tmp));
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    /* Replacing keeps the new mode, and SIFT_FILE_BATCH still renames. */
    assert_int_equal(
        sift_file_replace(f->path, "second", 6, 0600, SIFT_FILE_BATCH),
        SIFT_OK);
    expect_contents(f->path, "second");
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* An empty file is a file. */
    assert_int_equal(sift_file_replace(f->path, NULL, 0, 0644, 0), SIFT_OK);
    expect_contents(f->path, "");
    assert_false(exists(tmp));
    umask(old);
}

static void
test_file_replace_failure_keeps_old_contents(void **state)
{
    struct fx *f = *state;
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
    assert_int_equal(sift_file_replace(f->path, "kept", 4, 0644, 0), SIFT_OK);
    /* The temporary name is taken by a directory: open fails. */
    assert_int_equal(mkdir(tmp, 0755), 0);
    int rc = sift_file_replace(f->path, "lost", 4, 0644, 0);
    assert_true(rc < 0);
    expect_contents(f->path, "kept");
    assert_int_equal(rmdir(tmp), 0);
    /* The target is a non-empty directory: rename fails, tmp goes away. */
    char d[160], inner[200];
    snprintf(d, sizeof(d), "%s/sub", f->dir);
    snprintf(inner, sizeof(inner), "%s/x", d);
    assert_int_equal(mkdir(d, 0755), 0);
    assert_int_equal(sift_file_replace(inner, "x", 1, 0644, 0), SIFT_OK);
    assert_true(sift_file_replace(d, "y", 1, 0644, 0) < 0);
    char dtmp[200];
    snprintf(dtmp, sizeof(dtmp), "%s.tmp", d);
    assert_false(exists(dtmp));
    expect_contents(inner, "x");
    unlink(inner);
    rmdir(d);
    /* A missing directory is -ENOENT. */
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/nodir/state", f->dir);
    assert_int_equal(sift_file_replace(missing, "x", 1, 0644, 0), -ENOENT);
    /* A path with no room for ".tmp" is refused, not truncated. */
    char *longp = malloc(PATH_MAX + 8);
    memset(longp, 'a', PATH_MAX + 7);
    longp[PATH_MAX + 7] = '\0';
    assert_int_equal(sift_file_replace(longp, "x", 1, 0644, 0), SIFT_EINVAL);
    free(longp);
}

static void
test_file_write_all_maps_disk_full(void **state)
{
    (void)state;
    int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(sift_file_write_all(fd, "abc", 3), SIFT_ENOSPACE);
    close(fd);
    assert_int_equal(sift_file_write_all(-1, "abc", 3), -EBADF);
}

static void
test_file_read_all_limits(void **state)
{
    struct fx *f = *state;
    char *p = (char *)1;
    size_t len = 99;
    assert_int_equal(sift_file_read_all(f->path, 100, &p, &len), -ENOENT);
    assert_null(p);
    assert_int_equal(len, 0);

    assert_int_equal(sift_file_replace(f->path, "0123456789", 10, 0644, 0),
                     SIFT_OK);
    assert_int_equal(sift_file_read_all(f->path, 10, &p, &len), SIFT_OK);
    assert_int_equal(len, 10);
    assert_string_equal(p, "0123456789");
    sift_free(p);
    assert_int_equal(sift_file_read_all(f->path, 9, &p, &len), SIFT_ELIMIT);
    assert_null(p);

    assert_int_equal(sift_file_replace(f->path, NULL, 0, 0644, 0), SIFT_OK);
    assert_int_equal(sift_file_read_all(f->path, 0, &p, &len), SIFT_OK);
    assert_int_equal(len, 0);
    assert_string_equal(p, "");
    sift_free(p);

    /* A directory is not a file. */
    assert_int_equal(sift_file_read_all(f->dir, 100, &p, &len), -EISDIR);
    assert_null(p);
}

static void
test_file_read_fd_pipe_and_offset(void **state)
{
    (void)state;
    /* A pipe has no size to plan with: the buffer grows past 4 KiB. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    char chunk[10000];
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)('a' + i % 26);
    assert_int_equal(write(fds[1], chunk, sizeof(chunk)), sizeof(chunk));
    close(fds[1]);
    char *p;
    size_t len;
    assert_int_equal(sift_file_read_fd(fds[0], 1 << 20, &p, &len), SIFT_OK);
    assert_int_equal(len, sizeof(chunk));
    assert_memory_equal(p, chunk, len);
    assert_int_equal(p[len], '\0');
    sift_free(p);
    close(fds[0]);

    /* Over the limit on a pipe too. */
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], chunk, sizeof(chunk)), sizeof(chunk));
    close(fds[1]);
    assert_int_equal(sift_file_read_fd(fds[0], 5000, &p, &len), SIFT_ELIMIT);
    close(fds[0]);

    /* From the current offset of a regular file. */
    FILE *t = tmpfile();
    assert_non_null(t);
    fputs("header\nbody", t);
    fflush(t);
    int fd = fileno(t);
    assert_int_equal(lseek(fd, 7, SEEK_SET), 7);
    assert_int_equal(sift_file_read_fd(fd, 100, &p, &len), SIFT_OK);
    assert_int_equal(len, 4);
    assert_string_equal(p, "body");
    sift_free(p);
    fclose(t);
}

static void
test_file_read_all_allocation_failure(void **state)
{
    struct fx *f = *state;
    assert_int_equal(sift_file_replace(f->path, "data", 4, 0644, 0), SIFT_OK);
    char *p = (char *)1;
    size_t len;
    sift_alloc_fail_after(1);
    int rc = sift_file_read_all(f->path, 100, &p, &len);
    sift_alloc_fail_after(0);
    assert_int_equal(rc, SIFT_ENOMEM);
    assert_null(p);
}

static void
test_file_fsync_dir_and_parent(void **state)
{
    struct fx *f = *state;
    assert_int_equal(sift_file_fsync_dir(f->dir), SIFT_OK);
    assert_int_equal(sift_file_fsync_parent(f->path), SIFT_OK);
    assert_int_equal(sift_file_fsync_parent("relative-name"), SIFT_OK);
    assert_int_equal(sift_file_fsync_parent("/top-level-name"), SIFT_OK);
    assert_int_equal(sift_file_fsync_dir("/nonexistent-sift-dir"), -ENOENT);
    assert_int_equal(sift_file_replace(f->path, "x", 1, 0644, 0), SIFT_OK);
    assert_int_equal(sift_file_fsync_dir(f->path), -ENOTDIR);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_file_replace_writes_and_overwrites,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_file_replace_failure_keeps_old_contents, setup, teardown),
        cmocka_unit_test(test_file_write_all_maps_disk_full),
        cmocka_unit_test_setup_teardown(test_file_read_all_limits, setup,
                                        teardown),
        cmocka_unit_test(test_file_read_fd_pipe_and_offset),
        cmocka_unit_test_setup_teardown(test_file_read_all_allocation_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_fsync_dir_and_parent, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
