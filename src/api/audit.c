/*
 * audit.c - append-only JSON-lines audit log of admin actions.
 *
 * Design: a record is formatted into a buffer, newline included, and
 * written with a single write(2) to an O_APPEND descriptor, then fsync'ed,
 * so concurrent writers (and other processes appending) never interleave
 * within a line and an acknowledged admin action is on disk.  Details are
 * truncated so that a line stays under SIFT_AUDIT_MAX_LINE.
 *
 * Invariants: fd is always a valid descriptor while the object exists.
 * Thread: any; a mutex serialises write and reopen.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/audit.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/time.h"

struct sift_audit {
    pthread_mutex_t mu;
    int fd;
    char *path;
};

static int
open_path(const char *path)
{
    int fd =
        open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        int rc = -errno;
        SIFT_ERROR("audit: cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    return fd;
}

int
sift_audit_open(const char *path, struct sift_audit **out)
{
    assert(path && out);
    *out = NULL;
    int fd = open_path(path);
    if (fd < 0)
        return fd;
    struct sift_audit *a = sift_xcalloc(1, sizeof *a);
    pthread_mutex_init(&a->mu, NULL);
    a->fd = fd;
    a->path = sift_xstrdup(path);
    *out = a;
    return SIFT_OK;
}

void
sift_audit_close(struct sift_audit *a)
{
    if (!a)
        return;
    close(a->fd);
    pthread_mutex_destroy(&a->mu);
    sift_free(a->path);
    sift_free(a);
}

int
sift_audit_reopen(struct sift_audit *a)
{
    int fd = open_path(a->path);
    if (fd < 0)
        return fd;
    pthread_mutex_lock(&a->mu);
    int old = a->fd;
    a->fd = fd;
    pthread_mutex_unlock(&a->mu);
    close(old);
    return SIFT_OK;
}

static void
put_field(struct sift_buf *out, const char *key, const char *v, size_t max)
{
    sift_buf_appendf(out, ",\"%s\":", key);
    if (!v)
        v = "-";
    size_t len = strnlen(v, max);
    sift_buf_put_json_str(out, v, len);
}

void
sift_audit_format(struct sift_buf *out, int64_t ts_ns, const char *principal,
                  const char *peer, const char *action, int status,
                  const char *details)
{
    sift_buf_append(out, "{\"time\":\"", 9);
    sift_time_format_rfc3339(ts_ns, 9, out);
    sift_buf_putc(out, '"');
    put_field(out, "principal", principal, 256);
    put_field(out, "peer", peer, 256);
    put_field(out, "action", action, 256);
    if (status)
        sift_buf_appendf(out, ",\"status\":%d", status);
    if (details) {
        /* JSON escaping can grow a byte to six; keep the line bounded. */
        put_field(out, "details", details, (SIFT_AUDIT_MAX_LINE - 1024) / 6);
    }
    sift_buf_putc(out, '}');
}

int
sift_audit_write(struct sift_audit *a, int64_t ts_ns, const char *principal,
                 const char *peer, const char *action, int status,
                 const char *details)
{
    struct sift_buf line = SIFT_BUF_INIT;
    sift_audit_format(&line, ts_ns, principal, peer, action, status, details);
    int rc = SIFT_OK;
    if (!a) {
        SIFT_INFO("audit: %s", sift_buf_cstr(&line));
        goto out;
    }
    sift_buf_putc(&line, '\n');
    pthread_mutex_lock(&a->mu);
    size_t done = 0;
    while (done < line.len) {
        ssize_t n = write(a->fd, line.data + done, line.len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        done += (size_t)n;
    }
    if (rc == SIFT_OK && fsync(a->fd) < 0)
        rc = -errno;
    pthread_mutex_unlock(&a->mu);
    if (rc < 0)
        SIFT_ERROR("audit: cannot append to %s: %s", a->path,
                   sift_strerror(rc));
out:
    sift_buf_cleanup(&line);
    return rc;
}
