/*
 * buf.c - growable byte buffer, little-endian and varint codecs.
 *
 * Growth doubles the capacity, so appends are amortised O(1).  Readers
 * (sift_get_*) are bounded by an explicit end pointer and never read past
 * it; they are used on untrusted bytes (WAL, segments).
 */
#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/utf8.h"

void
sift_buf_init(struct sift_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
sift_buf_cleanup(struct sift_buf *b)
{
    sift_free(b->data);
    sift_buf_init(b);
}

void
sift_buf_reset(struct sift_buf *b)
{
    b->len = 0;
}

static size_t
grow_to(const struct sift_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1; /* room for sift_buf_cstr()'s NUL */
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    return cap;
}

void
sift_buf_reserve(struct sift_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = grow_to(b, extra);
    b->data = sift_xrealloc(b->data, cap);
    b->cap = cap;
}

int
sift_buf_try_reserve(struct sift_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 4 || b->len + extra + 1 <= b->cap)
        return extra > SIZE_MAX / 4 ? SIFT_ENOMEM : SIFT_OK;
    size_t cap = grow_to(b, extra);
    char *p = sift_try_realloc(b->data, cap);
    if (!p)
        return SIFT_ENOMEM;
    b->data = p;
    b->cap = cap;
    return SIFT_OK;
}

int
sift_buf_try_append(struct sift_buf *b, const void *p, size_t len)
{
    if (!len)
        return SIFT_OK;
    int rc = sift_buf_try_reserve(b, len);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, p, len);
    b->len += len;
    return SIFT_OK;
}

void
sift_buf_appendf(struct sift_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        sift_buf_append(b, tmp, (size_t)n);
        return;
    }
    sift_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *
sift_buf_cstr(struct sift_buf *b)
{
    sift_buf_reserve(b, 0);
    b->data[b->len] = '\0';
    return b->data;
}

char *
sift_buf_detach(struct sift_buf *b, size_t *len_out)
{
    char *p = b->data;
    if (len_out)
        *len_out = b->len;
    sift_buf_init(b);
    return p;
}

char *
sift_buf_detach_fit(struct sift_buf *b, size_t *len_out)
{
    size_t len = b->len, cap = b->cap;
    char *p = sift_buf_detach(b, len_out);
    if (p != NULL && len > 0 && cap > len + len / 8) {
        char *q = sift_try_realloc(p, len); /* a large block shrinks in place */
        if (q != NULL)
            p = q;
    }
    return p;
}

void
sift_buf_put_u32(struct sift_buf *b, uint32_t v)
{
    sift_buf_reserve(b, 4);
    sift_store_u32(b->data + b->len, v);
    b->len += 4;
}

void
sift_buf_put_u64(struct sift_buf *b, uint64_t v)
{
    sift_buf_reserve(b, 8);
    sift_store_u64(b->data + b->len, v);
    b->len += 8;
}

static void put_json_str(struct sift_buf *b, const char *s, size_t len,
                         int repair);

/* s inside b's own storage: escaping may grow (move) it under s. */
static int
aliases(const struct sift_buf *b, const char *s)
{
    uintptr_t lo = (uintptr_t)b->data, at = (uintptr_t)s;
    return b->data != NULL && at >= lo && at < lo + b->cap;
}

static void
put_json_str_copy(struct sift_buf *b, const char *s, size_t len, int repair)
{
    char *copy = sift_xmalloc(len ? len : 1);
    memcpy(copy, s, len);
    put_json_str(b, copy, len, repair);
    sift_free(copy);
}

static void
put_json_str(struct sift_buf *b, const char *s, size_t len, int repair)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (aliases(b, s)) {
        put_json_str_copy(b, s, len, repair);
        return;
    }
    sift_buf_reserve(b, len + 2);
    sift_buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of plain bytes */
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            if (!repair) {
                i++;
                continue;
            }
            /* Well-formed UTF-8 passes unchanged; any other byte becomes
             * U+FFFD, so the reply is valid UTF-8 whatever was stored. */
            size_t n = sift_utf8_seq_len(p + i, len - i);
            if (n > 0) {
                i += n;
                continue;
            }
            sift_buf_append(b, s + run, i - run);
            sift_buf_append(b, SIFT_UTF8_REPLACEMENT,
                            SIFT_UTF8_REPLACEMENT_LEN);
            run = ++i;
            continue;
        }
        sift_buf_append(b, s + run, i - run);
        run = ++i;
        switch (c) {
        case '"': sift_buf_append(b, "\\\"", 2); break;
        case '\\': sift_buf_append(b, "\\\\", 2); break;
        case '\n': sift_buf_append(b, "\\n", 2); break;
        case '\r': sift_buf_append(b, "\\r", 2); break;
        case '\t': sift_buf_append(b, "\\t", 2); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sift_buf_append(b, e, 6);
        }
        }
    }
    sift_buf_append(b, s + run, len - run);
    sift_buf_putc(b, '"');
}

void
sift_buf_put_json_str(struct sift_buf *b, const char *s, size_t len)
{
    put_json_str(b, s, len, 1);
}

void
sift_buf_put_json_str_bytes(struct sift_buf *b, const char *s, size_t len)
{
    put_json_str(b, s, len, 0);
}

int
sift_get_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    const uint8_t *q = *p;
    for (int shift = 0; shift < 64; shift += 7) {
        if (q >= end)
            return SIFT_ECORRUPT;
        uint8_t c = *q++;
        if (shift == 63 && c > 1)
            return SIFT_ECORRUPT;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *p = q;
            *out = v;
            return SIFT_OK;
        }
    }
    return SIFT_ECORRUPT;
}

int
sift_get_u32(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    if (end - *p < 4)
        return SIFT_ECORRUPT;
    *out = sift_load_u32(*p);
    *p += 4;
    return SIFT_OK;
}

int
sift_get_u64(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
    if (end - *p < 8)
        return SIFT_ECORRUPT;
    *out = sift_load_u64(*p);
    *p += 8;
    return SIFT_OK;
}

size_t
sift_fmt_double(char *out, size_t cap, double v)
{
    assert(cap >= 32);
    if (isnan(v))
        return (size_t)snprintf(out, cap, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    if (v == floor(v) && fabs(v) < 9007199254740992.0)
        return (size_t)snprintf(out, cap, "%.0f", v == 0 ? 0.0 : v);
    /* The 15-digit rounding is the shortest text whenever a text of 15
     * digits or fewer reads back exactly (a double carries 15.95 decimal
     * digits); else 16, else 17, which always does. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return (size_t)n;
}

void
sift_buf_put_json_double(struct sift_buf *b, double v)
{
    char tmp[40];
    if (!isfinite(v)) {
        sift_buf_append(b, "null", 4);
        return;
    }
    size_t n = sift_fmt_double(tmp, sizeof(tmp), v);
    sift_buf_append(b, tmp, n);
}
