/*
 * buf.h - a growable byte buffer, embedded by value.
 *
 * Callers may read `data` (not NUL-terminated unless sift_buf_cstr() was
 * called) and `len`; `cap` is private.  The x-variants abort on OOM; the
 * try-variants return SIFT_ENOMEM and leave the buffer unchanged.
 */
#ifndef SIFT_BUF_H
#define SIFT_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sift_buf {
    char *data;
    size_t len;
    size_t cap; /* private */
};

#define SIFT_BUF_INIT                                                          \
    {                                                                          \
        NULL, 0, 0                                                             \
    }

void sift_buf_init(struct sift_buf *b);
/** Frees the storage; the buffer is empty and reusable afterwards. */
void sift_buf_cleanup(struct sift_buf *b);
/** Sets len to 0 and keeps the storage. */
void sift_buf_reset(struct sift_buf *b);

void sift_buf_reserve(struct sift_buf *b, size_t extra);
int sift_buf_try_reserve(struct sift_buf *b, size_t extra);
int sift_buf_try_append(struct sift_buf *b, const void *p, size_t len);

/*
 * The appends below are inline: encoders call them for every field of
 * every event, and the call cost more than the copy.  Only growth
 * (sift_buf_reserve, which keeps room for sift_buf_cstr()'s NUL) is out
 * of line.
 */
static inline void
sift_buf_append(struct sift_buf *b, const void *p, size_t len)
{
    if (!len)
        return;
    if (b->len + len + 1 > b->cap)
        sift_buf_reserve(b, len);
    memcpy(b->data + b->len, p, len);
    b->len += len;
}

static inline void
sift_buf_putc(struct sift_buf *b, char c)
{
    if (b->len + 2 > b->cap)
        sift_buf_reserve(b, 1);
    b->data[b->len++] = c;
}

/** Appends a string literal: its length is known when compiling. */
#define SIFT_BUF_LIT(b, lit) sift_buf_append((b), "" lit, sizeof(lit) - 1)

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void
sift_buf_appendf(struct sift_buf *b, const char *fmt, ...);
/** Makes data NUL-terminated (the NUL is not counted in len). */
const char *sift_buf_cstr(struct sift_buf *b);
/** Takes the storage out of the buffer; the caller owns it (sift_free()). */
char *sift_buf_detach(struct sift_buf *b, size_t *len_out);
/**
 * sift_buf_detach(), giving back the doubling slack (capacity more than
 * an eighth over the length): for storage kept long and counted at its
 * length, such as a segment image held in memory.
 */
char *sift_buf_detach_fit(struct sift_buf *b, size_t *len_out);

/* Little-endian fixed-width and LEB128 varint appends. */
void sift_buf_put_u32(struct sift_buf *b, uint32_t v);
void sift_buf_put_u64(struct sift_buf *b, uint64_t v);

/** LEB128 varint. */
static inline void
sift_buf_put_varint(struct sift_buf *b, uint64_t v)
{
    if (b->len + 11 > b->cap)
        sift_buf_reserve(b, 10);
    uint8_t *p = (uint8_t *)b->data + b->len;
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    b->len += n;
}
/**
 * Appends a JSON string literal (quoted, escaped) of s[0..len).  The
 * literal is always valid UTF-8: a byte that is not part of a well-formed
 * UTF-8 sequence is written as U+FFFD (include/sift/utf8.h), control
 * bytes and DEL as \n, \r, \t or \u00XX.  Every JSON string sift
 * writes goes through here.
 */
void sift_buf_put_json_str(struct sift_buf *b, const char *s, size_t len);
/**
 * sift_buf_put_json_str() that keeps bytes >= 0x80 as they are, valid
 * UTF-8 or not: only for JSON text sift parses back itself (the parser
 * keeps such bytes), so stored values stay as they came.  Never for a
 * reply, a file or anything another program reads.
 */
void sift_buf_put_json_str_bytes(struct sift_buf *b, const char *s, size_t len);

/**
 * The first place needle[0..n) (n >= 1) occurs in s[0..len), or NULL:
 * memmem(), which is a GNU extension, by memchr on the first byte (the
 * needles sift looks for are short literals).  Pure.
 */
static inline const char *
sift_find_bytes(const char *s, size_t len, const char *needle, size_t n)
{
    size_t pos = 0;
    while (pos + n <= len) {
        const char *p =
            (const char *)memchr(s + pos, needle[0], len - pos - n + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, n) == 0)
            return p;
        pos = (size_t)(p - s) + 1;
    }
    return NULL;
}

/** The value of hex digit c (0-9, a-f, A-F), or -1.  Pure. */
static inline int
sift_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/**
 * Writes the shortest decimal text of a finite v that reads back as the
 * same double (round trip: "0.1", "1121", "740.3", "1e+300"), NUL-
 * terminated, into out[0..cap) (cap >= 32), and returns its length.
 * Integral values below 2^53 are written without exponent or fraction.
 * NaN and infinities are written "NaN", "+Inf", "-Inf" (callers writing
 * JSON use sift_buf_put_json_double()).  Pure; any thread.
 */
size_t sift_fmt_double(char *out, size_t cap, double v);
/** Appends sift_fmt_double(v), or null when v is NaN or infinite. */
void sift_buf_put_json_double(struct sift_buf *b, double v);

/*
 * Bounded readers over a byte range.  Each returns SIFT_OK or
 * SIFT_ECORRUPT (truncated / overlong varint) and advances *p.
 */
int sift_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out);
int sift_get_u32(const uint8_t **p, const uint8_t *end, uint32_t *out);
int sift_get_u64(const uint8_t **p, const uint8_t *end, uint64_t *out);

static inline uint32_t
sift_load_u32(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

static inline uint64_t
sift_load_u64(const void *p)
{
    const uint8_t *b = (const uint8_t *)p;
    return (uint64_t)sift_load_u32(b) | (uint64_t)sift_load_u32(b + 4) << 32;
}

static inline void
sift_store_u32(void *p, uint32_t v)
{
    uint8_t *b = (uint8_t *)p;
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static inline void
sift_store_u64(void *p, uint64_t v)
{
    sift_store_u32(p, (uint32_t)v);
    sift_store_u32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#endif /* SIFT_BUF_H */
