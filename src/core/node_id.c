/*
 * node_id.c - DATA_DIR/node_id: read it, or create it on the first start.
 *
 * Design: the id is "sift-" and 64 random bits in hex (getrandom(2)),
 * which keeps two data dirs from ever sharing one by chance.  Creation
 * goes through sift_file_replace(): the file appears whole or not at all,
 * and survives a power loss once this returns.  Reading accepts any valid
 * id an operator wrote (sift_node_id_valid) and ignores the white space
 * around it.
 *
 * Invariants: once a valid file exists it is never rewritten.
 *
 * Threads: any thread; start-up calls it once, under the data dir lock.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/node_id.h"

int
sift_node_id_valid(const char *s, size_t len)
{
    if (len == 0 || len > SIFT_NODE_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return 0;
    }
    return 1;
}

/* 64 random bits. */
static int
random_u64(uint64_t *out)
{
    uint64_t v = 0;
    size_t got = 0;

    while (got < sizeof(v)) {
        ssize_t n = getrandom((char *)&v + got, sizeof(v) - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        got += (size_t)n;
    }
    *out = v;
    return SIFT_OK;
}

int
sift_node_id_load(const char *data_dir, char *out, size_t out_size,
                  int *created)
{
    struct sift_buf path = SIFT_BUF_INIT;
    char *text = NULL, *a, *b;
    size_t len = 0;
    int rc;

    if (created)
        *created = 0;
    if (out_size < SIFT_NODE_ID_MAX + 1)
        return SIFT_EINVAL;
    sift_buf_appendf(&path, "%s/%s", data_dir, SIFT_NODE_ID_FILE);
    rc = sift_file_read_all(sift_buf_cstr(&path), 4096, &text, &len);
    if (rc == -ENOENT) {
        uint64_t r = 0;
        char line[SIFT_NODE_ID_MAX + 2];
        int n;
        rc = random_u64(&r);
        if (rc < 0)
            goto out;
        n = snprintf(line, sizeof(line), "sift-%016" PRIx64 "\n", r);
        rc = sift_file_replace(sift_buf_cstr(&path), line, (size_t)n, 0640, 0);
        if (rc < 0)
            goto out;
        memcpy(out, line, (size_t)n - 1);
        out[n - 1] = '\0';
        if (created)
            *created = 1;
        goto out;
    }
    if (rc < 0)
        goto out;
    a = text;
    b = text + len;
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    if (!sift_node_id_valid(a, (size_t)(b - a))) {
        rc = SIFT_ECORRUPT;
        goto out;
    }
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    rc = SIFT_OK;
out:
    sift_free(text);
    sift_buf_cleanup(&path);
    return rc;
}
