/*
 * file.c - whole-file reads, atomic replacement and directory fsync.
 *
 * Design: sift_file_replace() is the classic write-temp, fsync, rename,
 * fsync-directory sequence.  The rename is atomic on POSIX file systems,
 * so readers and a restart after a crash see the old or the new file;
 * fsyncing the file before the rename keeps a crash from leaving the new
 * name on empty or partial data (ext4's delayed allocation did exactly
 * that), and fsyncing the directory afterwards makes the rename itself
 * durable.  Reads grow their buffer until end of file, so a file that
 * grew between fstat() and read() is still read whole (within max_len).
 *
 * Invariants: on failure nothing is left behind (the temporary file is
 * unlinked) and the target path is untouched; returned buffers always
 * carry a NUL after their length so text callers can parse in place.
 *
 * Threads: any thread; no shared state.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/file.h"

static int
errno_rc(int e)
{
    return e == ENOSPC || e == EDQUOT ? SIFT_ENOSPACE : -e;
}

int
sift_file_write_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = write(fd, c, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno_rc(errno);
        if (n == 0)
            return SIFT_EIO;
        c += n;
        len -= (size_t)n;
    }
    return SIFT_OK;
}

int
sift_file_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? SIFT_OK : -errno;
    close(fd);
    return rc;
}

int
sift_file_fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return sift_file_fsync_dir(".");
    if (slash == path)
        return sift_file_fsync_dir("/");
    char dir[PATH_MAX];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof(dir))
        return SIFT_EINVAL;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return sift_file_fsync_dir(dir);
}

int
sift_file_replace(const char *path, const void *data, size_t len, mode_t mode,
                  unsigned flags)
{
    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return SIFT_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return errno_rc(errno);
    int rc = sift_file_write_all(fd, data, len);
    if (rc == SIFT_OK && fsync(fd) != 0)
        rc = errno_rc(errno);
    if (close(fd) != 0 && rc == SIFT_OK)
        rc = errno_rc(errno);
    if (rc == SIFT_OK && rename(tmp, path) != 0)
        rc = errno_rc(errno);
    if (rc != SIFT_OK) {
        (void)unlink(tmp);
        return rc;
    }
    return flags & SIFT_FILE_BATCH ? SIFT_OK : sift_file_fsync_parent(path);
}

int
sift_file_read_fd(int fd, size_t max_len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (max_len > SIZE_MAX / 4)
        max_len = SIZE_MAX / 4; /* keeps max_len + 1 and cap * 2 exact */
    struct stat st;
    size_t cap = 4096;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 0) {
        if ((unsigned long long)st.st_size > max_len)
            return SIFT_ELIMIT;
        /* One spare byte, so a file that did not grow ends with one
         * read() returning 0 and no reallocation. */
        cap = (size_t)st.st_size + 1;
    }
    if (cap > max_len)
        cap = max_len + 1;
    char *p = sift_try_malloc(cap);
    if (p == NULL)
        return SIFT_ENOMEM;
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (len > max_len) {
                sift_free(p);
                return SIFT_ELIMIT;
            }
            size_t ncap = cap * 2 > max_len + 1 ? max_len + 1 : cap * 2;
            char *np = sift_try_realloc(p, ncap);
            if (np == NULL) {
                sift_free(p);
                return SIFT_ENOMEM;
            }
            p = np;
            cap = ncap;
        }
        ssize_t r = read(fd, p + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int rc = -errno;
            sift_free(p);
            return rc;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > max_len) {
        sift_free(p);
        return SIFT_ELIMIT;
    }
    if (len == cap) {
        char *np = sift_try_realloc(p, cap + 1);
        if (np == NULL) {
            sift_free(p);
            return SIFT_ENOMEM;
        }
        p = np;
    }
    p[len] = '\0';
    *out = p;
    *out_len = len;
    return SIFT_OK;
}

int
sift_file_read_all(const char *path, size_t max_len, char **out,
                   size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    int rc = sift_file_read_fd(fd, max_len, out, out_len);
    close(fd);
    return rc;
}
