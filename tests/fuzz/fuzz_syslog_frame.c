/*
 * fuzz_syslog_frame.c - libFuzzer target for the syslog TCP framing
 * (sift_syslog_frame_next(), RFC 6587 octet counting and LF framing).
 *
 * The first input byte picks max (16 << (b & 7) bytes) and whether the
 * stream ends (bit 3); the rest is cut into a stream the way a listener
 * sees it, a window at a time, skipping what a cut frame leaves.  Every
 * frame must lie inside its window and take at least one byte, a message
 * must not be longer than max, and the loop must end.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sift/source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = (size_t)16 << (data[0] & 7);
    int at_eof = (data[0] >> 3) & 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1, off = 0, rounds = 0;
    uint64_t skip = 0;
    int skip_to_lf = 0;
    while (off < n) {
        if (++rounds > n + 1)
            __builtin_trap(); /* no progress */
        if (skip > 0) {
            size_t k = skip < n - off ? (size_t)skip : n - off;
            off += k;
            skip -= k;
            continue;
        }
        if (skip_to_lf) {
            const char *lf = memchr(p + off, '\n', n - off);
            off = lf ? (size_t)(lf - p) + 1 : n;
            skip_to_lf = 0;
            continue;
        }
        struct sift_syslog_frame f;
        if (!sift_syslog_frame_next(p + off, n - off, max, at_eof, &f)) {
            if (at_eof)
                __builtin_trap(); /* at EOF every byte is a message */
            break;
        }
        if (f.used == 0 || f.used > n - off || f.msg_at + f.msg_len > f.used ||
            f.msg_len > max || (f.cut && f.msg_len != max && !at_eof))
            __builtin_trap();
        skip = f.skip;
        skip_to_lf = f.skip_to_lf;
        off += f.used;
    }
    return 0;
}
