/*
 * dlq.c - the dead-letter store: invalid input never disappears silently.
 *
 * Each rejected message becomes one NDJSON line appended to a file
 * (default DATA_DIR/dlq.ndjson):
 *
 *   {"time":"2026-11-22T21:40:01.123Z","source":"kafka",
 *    "position":{"key":"kafka/logs/3","hi":1234,"lo":0},
 *    "reason":"invalid JSON at byte 17","raw":"{\"broken"}
 *
 * "raw" holds the bytes as a JSON string when they are valid UTF-8 and
 * "raw_b64" (standard base64) otherwise, so any input round-trips.
 * Design: one O_APPEND fd and one write(2) per record, so a crash leaves
 * whole lines only (a torn last line at worst).  sync_each fsyncs every
 * record; otherwise sift_dlq_sync() (the owner calls it from the WAL
 * sync timer) and close do.  Loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/source.h"
#include "sift/time.h"

struct sift_dlq {
    int fd;
    int sync_each;
    int dirty;
    uint64_t count;
    char *path;
    struct sift_buf line;
};

int
sift_dlq_open(const char *path, int sync_each, struct sift_dlq **out)
{
    struct sift_dlq *d;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    *out = NULL;
    if (fd < 0) {
        int rc = -errno;
        SIFT_ERROR("dlq: open %s: %s", path, strerror(errno));
        return rc;
    }
    d = sift_xcalloc(1, sizeof(*d));
    d->fd = fd;
    d->sync_each = sync_each;
    d->path = sift_xstrdup(path);
    sift_buf_init(&d->line);
    *out = d;
    return SIFT_OK;
}

/* Strict UTF-8 check (no overlongs, no surrogates, <= U+10FFFF). */
static int
valid_utf8(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n >= len - i)
            return 0; /* truncated sequence */
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static void
put_base64(struct sift_buf *b, const unsigned char *p, size_t len)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i = 0;

    sift_buf_putc(b, '"');
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        sift_buf_putc(b, tbl[v >> 18]);
        sift_buf_putc(b, tbl[(v >> 12) & 63]);
        sift_buf_putc(b, tbl[(v >> 6) & 63]);
        sift_buf_putc(b, tbl[v & 63]);
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        sift_buf_putc(b, tbl[v >> 18]);
        sift_buf_putc(b, tbl[(v >> 12) & 63]);
        sift_buf_putc(b, i + 1 < len ? tbl[(v >> 6) & 63] : '=');
        sift_buf_putc(b, '=');
    }
    sift_buf_putc(b, '"');
}

int
sift_dlq_put(struct sift_dlq *dlq, const char *source,
             const struct sift_srcpos *pos, const char *reason, const void *raw,
             size_t len)
{
    struct sift_buf *b = &dlq->line;
    size_t off = 0;

    sift_buf_reset(b);
    sift_buf_append(b, "{\"time\":\"", 9);
    sift_time_format_rfc3339(sift_clock_now_ns(), 3, b);
    sift_buf_append(b, "\",\"source\":", 11);
    sift_buf_put_json_str(b, source ? source : "", source ? strlen(source) : 0);
    if (pos && pos->key) {
        sift_buf_appendf(b, ",\"position\":{\"key\":");
        sift_buf_put_json_str(b, pos->key, strlen(pos->key));
        sift_buf_appendf(b, ",\"hi\":%" PRIu64 ",\"lo\":%" PRIu64 "}", pos->hi,
                         pos->lo);
    }
    sift_buf_appendf(b, ",\"reason\":");
    sift_buf_put_json_str(b, reason ? reason : "", reason ? strlen(reason) : 0);
    if (valid_utf8(raw, len)) {
        sift_buf_appendf(b, ",\"raw\":");
        sift_buf_put_json_str(b, raw, len);
    } else {
        sift_buf_appendf(b, ",\"raw_b64\":");
        put_base64(b, raw, len);
    }
    sift_buf_append(b, "}\n", 2);

    while (off < b->len) {
        ssize_t w = write(dlq->fd, b->data + off, b->len - off);
        if (w < 0) {
            int rc = -errno;
            if (errno == EINTR)
                continue;
            SIFT_ERROR("dlq: write %s: %s", dlq->path, strerror(errno));
            return rc;
        }
        off += (size_t)w;
    }
    dlq->count++;
    dlq->dirty = 1;
    return dlq->sync_each ? sift_dlq_sync(dlq) : SIFT_OK;
}

int
sift_dlq_sync(struct sift_dlq *dlq)
{
    if (!dlq->dirty)
        return SIFT_OK;
    if (fsync(dlq->fd) < 0) {
        int rc = -errno;
        SIFT_ERROR("dlq: fsync %s: %s", dlq->path, strerror(errno));
        return rc;
    }
    dlq->dirty = 0;
    return SIFT_OK;
}

uint64_t
sift_dlq_count(const struct sift_dlq *dlq)
{
    return dlq->count;
}

void
sift_dlq_close(struct sift_dlq *dlq)
{
    if (!dlq)
        return;
    sift_dlq_sync(dlq);
    close(dlq->fd);
    sift_buf_cleanup(&dlq->line);
    sift_free(dlq->path);
    sift_free(dlq);
}
