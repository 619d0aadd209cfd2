/*
 * file.h - whole-file reads, atomic replacement and directory fsync.
 *
 * Every file sift rewrites in place (manifest, tombstone sidecars,
 * template and alert state, the bound-address file) goes through
 * sift_file_replace(), so each one gets the same crash guarantee: after a
 * crash at any instant the path holds either the old bytes or the new
 * bytes, never a mix, and once the call returned SIFT_OK the new bytes and
 * the new name survive a power loss (the file and its directory are both
 * fsynced).  The temporary file is `<path>.tmp` in the same directory, so
 * the rename never crosses a file system.
 *
 * None of these functions log: they return the code and the caller logs
 * it once, with the context it knows.  Disk full (ENOSPC, EDQUOT) comes
 * back as SIFT_ENOSPACE so callers can treat it apart from other errors.
 * Thread-safe; they block on disk I/O, so the loop thread calls them only
 * for small files.
 */
#ifndef SIFT_FILE_H
#define SIFT_FILE_H

#include <stddef.h>
#include <sys/types.h>

/**
 * Writes all of p[0..len) to fd, retrying short writes and EINTR.
 * Returns SIFT_OK, SIFT_ENOSPACE on a full disk or -errno.  Borrows p.
 */
int sift_file_write_all(int fd, const void *p, size_t len);

/**
 * fsyncs the directory `dir` so that names created, renamed or removed in
 * it are durable.  Returns SIFT_OK or -errno.  Borrows dir.
 */
int sift_file_fsync_dir(const char *dir);

/**
 * fsyncs the directory holding `path` (the part before its last '/', or
 * "." when there is none).  Returns SIFT_OK, SIFT_EINVAL when the name is
 * longer than PATH_MAX, or -errno.  Borrows path.
 */
int sift_file_fsync_parent(const char *path);

/*
 * SIFT_FILE_BATCH: leave the directory fsync to the caller, who writes
 * several files into one directory (segments of one flush, outputs of one
 * merge) and then calls sift_file_fsync_dir() once before relying on any
 * of the new names.
 */
#define SIFT_FILE_BATCH 1u

/**
 * Replaces `path` atomically with data[0..len): writes `<path>.tmp` with
 * permission bits `mode` (before the umask), fsyncs it, renames it over
 * `path` and fsyncs the directory (unless flags has SIFT_FILE_BATCH).  On
 * failure the temporary file is removed and `path` keeps its old
 * contents.  Returns SIFT_OK, SIFT_ENOSPACE (disk full), SIFT_EINVAL
 * (path too long) or -errno.  Borrows path and data.
 */
int sift_file_replace(const char *path, const void *data, size_t len,
                      mode_t mode, unsigned flags);

/**
 * Reads the file at `path` whole.  OUT: *out (owned, NUL-terminated after
 * *out_len bytes; release with sift_free()) and *out_len.  Returns SIFT_OK,
 * -errno (-ENOENT when it does not exist), SIFT_ELIMIT when it holds more
 * than max_len bytes, or SIFT_ENOMEM.  On failure *out is NULL.  Borrows
 * path.
 */
int sift_file_read_all(const char *path, size_t max_len, char **out,
                       size_t *out_len);

/**
 * sift_file_read_all() on an open descriptor, read from its current
 * offset to end of file; for callers that check the file (fstat) before
 * reading it.  Does not close fd.
 */
int sift_file_read_fd(int fd, size_t max_len, char **out, size_t *out_len);

#endif /* SIFT_FILE_H */
