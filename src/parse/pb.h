/*
 * pb.h - a reader for the protobuf wire format (proto3), for the
 * decoders of outside input written from published field numbers (OTLP
 * logs, the Loki push request).
 *
 * Design: a cursor over a byte range; sift__pb_next() returns one field
 * at a time (number, wire type and its value: a varint, a fixed 32/64-bit
 * word, or the byte range of a length-delimited field), with every length
 * checked against the end of the range.  Nested messages are read by
 * starting a new cursor over a field's range, so nothing is copied and
 * nothing allocated.  Unknown fields are skipped by the caller simply by
 * not looking at them (proto3 rules); groups (wire types 3 and 4) are
 * refused, as no message we read uses them.
 *
 * Invariants: a cursor never reads outside [p, end); a field's range
 * lies inside its parent's.
 *
 * Threads: pure; any thread.
 */
#ifndef SIFT_PARSE_PB_H
#define SIFT_PARSE_PB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum sift__pb_wt {
    SIFT__PB_VARINT = 0,
    SIFT__PB_I64 = 1,
    SIFT__PB_LEN = 2,
    SIFT__PB_I32 = 5,
};

struct sift__pb {
    const uint8_t *p;
    const uint8_t *end;
};

struct sift__pb_field {
    uint32_t num;      /* field number */
    uint8_t wt;        /* enum sift__pb_wt */
    uint64_t v;        /* VARINT, I64, I32 */
    const uint8_t *at; /* LEN: the field's bytes */
    size_t len;
};

static inline void
sift__pb_init(struct sift__pb *r, const void *p, size_t len)
{
    r->p = (const uint8_t *)p;
    r->end = r->p + len;
}

/* Reads a varint; returns 0 on success, -1 when truncated or overlong. */
static inline int
sift__pb_varint(struct sift__pb *r, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -1;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            /* The tenth byte may only carry the top bit. */
            if (shift == 63 && b > 1)
                return -1;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/*
 * The next field: 1 with *f filled, 0 at the end of the range, -1 when
 * the bytes are not valid wire format (bad tag, truncated value, a group,
 * field number 0).
 */
static inline int
sift__pb_next(struct sift__pb *r, struct sift__pb_field *f)
{
    uint64_t tag, len;
    f->v = 0;
    f->at = NULL;
    f->len = 0;
    if (r->p >= r->end)
        return 0;
    if (sift__pb_varint(r, &tag) < 0 || tag >> 3 == 0 || tag >> 3 > 0x1fffffff)
        return -1;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint8_t)(tag & 7);
    switch (f->wt) {
    case SIFT__PB_VARINT: return sift__pb_varint(r, &f->v) < 0 ? -1 : 1;
    case SIFT__PB_I64:
        if (r->end - r->p < 8)
            return -1;
        f->v = 0;
        for (int i = 7; i >= 0; i--)
            f->v = f->v << 8 | r->p[i];
        r->p += 8;
        return 1;
    case SIFT__PB_I32:
        if (r->end - r->p < 4)
            return -1;
        f->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 |
               (uint64_t)r->p[2] << 16 | (uint64_t)r->p[3] << 24;
        r->p += 4;
        return 1;
    case SIFT__PB_LEN:
        if (sift__pb_varint(r, &len) < 0 || len > (uint64_t)(r->end - r->p))
            return -1;
        f->at = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    default: return -1; /* groups (3, 4) and reserved types */
    }
}

/* A sub-cursor over a LEN field's bytes. */
static inline void
sift__pb_sub(const struct sift__pb_field *f, struct sift__pb *out)
{
    out->p = f->at;
    out->end = f->at + f->len;
}

#endif /* SIFT_PARSE_PB_H */
