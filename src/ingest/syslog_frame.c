/*
 * syslog_frame.c - RFC 6587 framing of a syslog TCP stream: octet
 * counting ("<len> <msg>") and LF framing, chosen per frame.
 *
 * Design: pure, over a byte window; the listener (syslog.c) keeps the
 * stream state between calls (the rest of a cut frame to skip).  A frame
 * that starts with a digit 1-9 followed by digits and a space is
 * octet-counted (an RFC 5424 or 3164 message starts with '<', so there is
 * no ambiguity for syslog; a plain line that starts "12 " would be taken
 * for a count, as every receiver does).  Any other frame ends at LF or
 * NUL; a CR before the LF is dropped.  A message longer than max is cut
 * to its first max bytes.
 *
 * Invariants: used > 0 whenever a frame is returned, msg_at + msg_len <=
 * used <= n.
 *
 * Any thread.
 */
#include <string.h>

#include "sift/source.h"

int
sift_syslog_frame_next(const char *p, size_t n, size_t max, int at_eof,
                       struct sift_syslog_frame *f)
{
    memset(f, 0, sizeof(*f));
    if (n == 0 || max == 0)
        return 0;
    if (p[0] >= '1' && p[0] <= '9') {
        size_t i = 0;
        uint64_t len = 0;
        while (i < n && i < 10 && p[i] >= '0' && p[i] <= '9')
            len = len * 10 + (uint64_t)(p[i++] - '0');
        if (i < n && p[i] == ' ') {
            size_t body = i + 1, have = n - body;
            if (len <= max) {
                if (have < len && !at_eof)
                    return 0;
                f->msg_at = body;
                f->msg_len = have < len ? have : (size_t)len;
                f->used = body + f->msg_len;
                return 1;
            }
            if (have < max && !at_eof)
                return 0;
            f->msg_at = body;
            f->msg_len = have < max ? have : max;
            f->used = body + f->msg_len;
            f->skip = at_eof ? 0 : len - f->msg_len;
            f->cut = 1;
            return 1;
        }
        if (i == n && !at_eof)
            return 0; /* the count is still arriving */
        /* Digits without a space: a line that starts with a digit. */
    }
    size_t lim = n < max + 2 ? n : max + 2;
    const char *lf = memchr(p, '\n', lim);
    const char *nul = memchr(p, '\0', lim);
    if (nul && (!lf || nul < lf))
        lf = nul;
    if (lf) {
        size_t l = (size_t)(lf - p);
        f->used = l + 1;
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l > max) {
            l = max;
            f->cut = 1;
        }
        f->msg_len = l;
        return 1;
    }
    if (n > max) {
        f->msg_len = max;
        f->used = max;
        f->skip_to_lf = 1;
        f->cut = 1;
        return 1;
    }
    if (at_eof) {
        f->msg_len = n;
        f->used = n;
        return 1;
    }
    return 0;
}
