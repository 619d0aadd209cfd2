/*
 * pb_writer.h - a tiny protobuf encoder for the tests of our decoders
 * (OTLP logs, the Loki push request): fields are appended to a sift_buf
 * by number, and a nested message is built in its own buffer and then
 * appended as a length-delimited field.  Header-only; tests only.
 */
#ifndef SIFT_TEST_PB_WRITER_H
#define SIFT_TEST_PB_WRITER_H

#include <stdint.h>
#include <string.h>

#include "sift/buf.h"

static inline void
pbw_varint(struct sift_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        sift_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    sift_buf_putc(b, (char)v);
}

static inline void
pbw_tag(struct sift_buf *b, uint32_t num, unsigned wt)
{
    pbw_varint(b, (uint64_t)num << 3 | wt);
}

static inline void
pbw_uint(struct sift_buf *b, uint32_t num, uint64_t v)
{
    pbw_tag(b, num, 0);
    pbw_varint(b, v);
}

static inline void
pbw_fixed64(struct sift_buf *b, uint32_t num, uint64_t v)
{
    pbw_tag(b, num, 1);
    for (int i = 0; i < 8; i++)
        sift_buf_putc(b, (char)(v >> (8 * i)));
}

static inline void
pbw_bytes(struct sift_buf *b, uint32_t num, const void *p, size_t len)
{
    pbw_tag(b, num, 2);
    pbw_varint(b, len);
    sift_buf_append(b, p, len);
}

static inline void
pbw_str(struct sift_buf *b, uint32_t num, const char *s)
{
    pbw_bytes(b, num, s, strlen(s));
}

/* Appends sub as field num and empties sub. */
static inline void
pbw_msg(struct sift_buf *b, uint32_t num, struct sift_buf *sub)
{
    pbw_bytes(b, num, sub->data ? sub->data : "", sub->len);
    sift_buf_reset(sub);
}

#endif /* SIFT_TEST_PB_WRITER_H */
