/*
 * segment_origin.h - the ORIGIN section codec (segment_origin.c), shared
 * by the segment builder and reader, the store and the fuzz target.
 * Internal to the store module.
 */
#ifndef SIFT_STORE_SEGMENT_ORIGIN_H
#define SIFT_STORE_SEGMENT_ORIGIN_H

#include <stddef.h>
#include <stdint.h>

#include "sift/buf.h"
#include "sift/segment.h"

/* A decoded origin and the memory its pointers refer to (owned). */
struct sift__segment_origin_owned {
    struct sift_segment_origin o; /* points into the fields below */
    uint64_t *inputs;
    struct sift_srcpos *pos;
    char *keys; /* the positions' keys, NUL-terminated, one block */
};

/**
 * Appends the canonical encoding of o (borrowed) to out: inputs sorted,
 * positions sorted by key.  Returns SIFT_OK or SIFT_EINVAL (kind, seq
 * range, duplicate input or key, empty or too long key, too many).
 */
int sift__segment_origin_encode(const struct sift_segment_origin *o,
                                struct sift_buf *out);
/**
 * Decodes an ORIGIN section p[0..len) (borrowed) into *out, whose arrays
 * are owned (release with sift__segment_origin_cleanup(), also after a
 * failure).  Returns SIFT_OK, SIFT_ECORRUPT (anything not canonical) or
 * SIFT_ENOMEM.
 */
int sift__segment_origin_decode(const uint8_t *p, size_t len,
                                struct sift__segment_origin_owned *out);
void sift__segment_origin_cleanup(struct sift__segment_origin_owned *o);

#endif /* SIFT_STORE_SEGMENT_ORIGIN_H */
