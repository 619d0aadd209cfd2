/*
 * statefile.c - line checksums and quarantine for siftd's state files
 * (include/sift/statefile.h has the rule and the line format).
 *
 * Design: the checksum is XXH32 of the line as it would read without it,
 * so a reader verifies a JSON line by hashing the object with the member
 * cut out (two pieces) and a text line by hashing what precedes the
 * suffix.  The quarantine copy is written with sift_file_replace() (a
 * whole copy or none) and never replaces an earlier one: names that exist
 * get a ".1", ".2" ... suffix.
 *
 * Threads: any; nothing here keeps state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/statefile.h"

#define CK_MEMBER ",\"ck\":\""   /* ,"ck":"  */
#define CK_MEMBER_LEN 7          /* strlen(CK_MEMBER) */
#define CK_JSON_TAIL (7 + 8 + 2) /* ,"ck":"xxxxxxxx"} */
#define CK_TEXT_TAIL (1 + 3 + 8) /* \tck:xxxxxxxx */

static int
is_json_object(const char *p, size_t len)
{
    return len >= 2 && p[0] == '{' && p[len - 1] == '}';
}

static void
put_hex32(char *out, uint32_t v)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
}

static int
get_hex32(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 8; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* XXH32 of a JSON line with its closing brace put back after body. */
static uint32_t
json_hash(const char *body, size_t body_len)
{
    XXH32_state_t *st = XXH32_createState();
    if (!st)
        abort(); /* fixed-size internal state, like sift_xmalloc() */
    XXH32_reset(st, 0);
    XXH32_update(st, body, body_len);
    XXH32_update(st, "}", 1);
    uint32_t h = XXH32_digest(st);
    XXH32_freeState(st);
    return h;
}

void
sift_statefile_line_end(struct sift_buf *out, size_t start)
{
    const char *p = out->data + start;
    size_t len = out->len - start;
    char hex[8];
    if (is_json_object(p, len)) {
        put_hex32(hex, (uint32_t)XXH32(p, len, 0));
        out->len--; /* the closing brace goes after the member */
        sift_buf_append(out, CK_MEMBER, CK_MEMBER_LEN);
        sift_buf_append(out, hex, 8);
        sift_buf_append(out, "\"}\n", 3);
        return;
    }
    put_hex32(hex, (uint32_t)XXH32(p, len, 0));
    sift_buf_append(out, "\tck:", 4);
    sift_buf_append(out, hex, 8);
    sift_buf_putc(out, '\n');
}

int
sift_statefile_line_check(const char *line, size_t *len)
{
    size_t n = *len;
    uint32_t want;
    if (n >= CK_JSON_TAIL + 2 && line[0] == '{' && line[n - 1] == '}' &&
        memcmp(line + n - CK_JSON_TAIL, CK_MEMBER, CK_MEMBER_LEN) == 0 &&
        line[n - 2] == '"') {
        if (get_hex32(line + n - 10, &want) < 0)
            return SIFT_ECORRUPT;
        return json_hash(line, n - CK_JSON_TAIL) == want ? SIFT_OK
                                                         : SIFT_ECORRUPT;
    }
    if (n >= CK_TEXT_TAIL && memcmp(line + n - CK_TEXT_TAIL, "\tck:", 4) == 0) {
        if (get_hex32(line + n - 8, &want) < 0 ||
            (uint32_t)XXH32(line, n - CK_TEXT_TAIL, 0) != want)
            return SIFT_ECORRUPT;
        *len = n - CK_TEXT_TAIL;
        return SIFT_OK;
    }
    /* A line that looks like it had one and lost part of it is damage. */
    if (sift_find_bytes(line, n, "\tck:", 4) ||
        (n > 0 && line[0] == '{' &&
         sift_find_bytes(line, n, CK_MEMBER, CK_MEMBER_LEN)))
        return SIFT_ECORRUPT;
    return SIFT_ENOTFOUND;
}

int
sift_statefile_checked(const char *data, size_t size)
{
    for (const char *p = data; p < data + size;) {
        const char *nl = memchr(p, '\n', (size_t)(data + size - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(data + size - p);
        if (sift_statefile_line_check(p, &len) == SIFT_OK)
            return 1;
        p = nl ? nl + 1 : data + size;
    }
    return 0;
}

int
sift_statefile_lines(char *data, size_t size, sift_statefile_line_cb cb,
                     void *arg)
{
    int checked = sift_statefile_checked(data, size);
    unsigned lineno = 0;
    for (char *p = data; p < data + size;) {
        char *nl = memchr(p, '\n', (size_t)(data + size - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(data + size - p);
        char *line = p;
        p = nl ? nl + 1 : data + size;
        lineno++;
        int ck = sift_statefile_line_check(line, &len);
        line[len] = '\0'; /* the newline or the suffix's tab */
        int ok = nl && (checked ? ck == SIFT_OK : ck == SIFT_ENOTFOUND);
        int rc = cb(line, len, lineno, ok, nl != NULL, arg);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int
sift_statefile_quarantine(const char *data_dir, const char *path, int move,
                          const char *why, char **kept)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char qdir[4096], dst[4300];
    struct stat st;
    if (kept)
        *kept = NULL;
    snprintf(qdir, sizeof(qdir), "%s/quarantine", data_dir);
    if (mkdir(qdir, 0755) != 0 && errno != EEXIST) {
        int rc = -errno;
        SIFT_ERROR("%s: cannot keep it in %s: %s", path, qdir, strerror(errno));
        return rc;
    }
    long long now = (long long)time(NULL);
    snprintf(dst, sizeof(dst), "%s/%s.%lld", qdir, base, now);
    for (int i = 1; stat(dst, &st) == 0 && i < 1000; i++)
        snprintf(dst, sizeof(dst), "%s/%s.%lld.%d", qdir, base, now, i);
    int rc;
    if (move) {
        rc = rename(path, dst) == 0 ? SIFT_OK : -errno;
        if (rc == SIFT_OK)
            (void)sift_file_fsync_dir(qdir);
    } else {
        char *data = NULL;
        size_t len = 0;
        rc = sift_file_read_all(path, SIZE_MAX, &data, &len);
        if (rc == SIFT_OK)
            rc = sift_file_replace(dst, data, len, 0640, 0);
        sift_free(data);
    }
    if (rc < 0) {
        SIFT_ERROR("%s is %s but cannot be kept in %s: %s", path, why, qdir,
                   sift_strerror(rc));
        return rc;
    }
    SIFT_ERROR("%s is %s; %s it as %s", path, why, move ? "moved" : "copied",
               dst);
    if (kept)
        *kept = sift_xstrdup(strrchr(dst, '/') + 1);
    return SIFT_OK;
}
