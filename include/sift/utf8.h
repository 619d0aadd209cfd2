/*
 * utf8.h - UTF-8 validation and the lossy repair every JSON reply uses.
 *
 * sift stores the bytes shippers send as they came, valid UTF-8 or not.
 * JSON text, however, must be valid UTF-8 (RFC 8259 section 8.1), and a
 * client such as Python's json module, Grafana or jq rejects a whole
 * reply for one stray byte.  So every JSON string sift writes goes
 * through sift_buf_put_json_str() (buf.h), which uses these rules, and
 * JSON built with jansson takes its strings from sift_utf8_repair().
 *
 * The rule (documented for users in docs/query-language.md): a byte that
 * does not start a well-formed sequence of RFC 3629 (no overlong forms,
 * no surrogates U+D800..U+DFFF, nothing above U+10FFFF, no truncated
 * sequence) is replaced by U+FFFD, one U+FFFD per such byte.  Valid text
 * is never changed.
 *
 * Pure functions; any thread.
 */
#ifndef SIFT_UTF8_H
#define SIFT_UTF8_H

#include <stddef.h>
#include <stdint.h>

struct sift_buf;

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
#define SIFT_UTF8_REPLACEMENT "\xef\xbf\xbd"
#define SIFT_UTF8_REPLACEMENT_LEN 3

/**
 * Length (2..4) of the well-formed multi-byte sequence starting at
 * p[0..avail), or 0 when p[0] does not start one (p[0] >= 0x80 is
 * assumed: ASCII is the caller's fast path).  Reads at most 4 bytes and
 * never past avail.  Pure.
 */
static inline size_t
sift_utf8_seq_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    if (c >= 0xc2 && c <= 0xdf)
        return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (avail < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && p[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && p[1] > 0x9f)
            return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (avail < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
            (p[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && p[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xf4 && p[1] > 0x8f)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0; /* continuation byte, 0xc0/0xc1, 0xf5..0xff */
}

/** Non-zero when s[0..len) is entirely well-formed UTF-8.  Pure. */
int sift_utf8_valid(const char *s, size_t len);

/**
 * Appends s[0..len) to out with every byte that is not part of a
 * well-formed sequence replaced by U+FFFD.  Returns the number of bytes
 * replaced (0: out received s unchanged).  Borrows s.
 */
size_t sift_utf8_repair(struct sift_buf *out, const char *s, size_t len);

#endif /* SIFT_UTF8_H */
