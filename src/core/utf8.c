/*
 * utf8.c - UTF-8 validation and lossy repair (include/sift/utf8.h).
 *
 * Design: ASCII runs are skipped byte by byte (the common case in logs);
 * a byte >= 0x80 is checked with sift_utf8_seq_len(), the same decision
 * the JSON string writer (buf.c) makes, so "valid" here and "written
 * unchanged" there always agree.
 *
 * Invariants: never reads outside s[0..len); output of repair is always
 * well-formed UTF-8.
 *
 * Threads: pure; any thread.
 */
#include "sift/utf8.h"

#include "sift/buf.h"

int
sift_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = sift_utf8_seq_len(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

size_t
sift_utf8_repair(struct sift_buf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0, bad = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = sift_utf8_seq_len(p + i, len - i);
        if (n > 0) {
            i += n;
            continue;
        }
        sift_buf_append(out, s + run, i - run);
        sift_buf_append(out, SIFT_UTF8_REPLACEMENT, SIFT_UTF8_REPLACEMENT_LEN);
        bad++;
        run = ++i;
    }
    sift_buf_append(out, s + run, len - run);
    return bad;
}
