/*
 * segment_sections.c - the segment's frame: the section writer (position,
 * alignment, section table entries), the trailer, and the checksums that
 * seal an image (format: segment_fmt.h "Image layout").
 *
 * Design.  Sections are appended one after the other to the caller's
 * buffer; each records (kind, field, offset, length) in a table that is
 * appended after the last section, followed by the 32-byte trailer.  The
 * checksums (XXH3) of the header, of every section and of the table and
 * trailer are computed last, over the finished image, by seal().
 *
 * Invariants: offsets are relative to the image's first byte (w->base in
 * the caller's buffer), so an image may be built after other bytes in
 * one buffer; every section starts where the caller aligned it.
 *
 * Threads: a writer belongs to one thread; the hash is pure.
 */
#include <string.h>

#include <xxhash.h>

#include "sift/buf.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

uint64_t
sift__segment_hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

size_t
sift__segw_pos(const struct sift__segw *w)
{
    return w->out->len - w->base;
}

void
sift__segw_align(struct sift__segw *w, size_t a)
{
    static const char zero[32];
    size_t pad = (a - sift__segw_pos(w) % a) % a;
    sift_buf_append(w->out, zero, pad);
}

void
sift__segw_section(struct sift__segw *w, uint32_t kind, uint32_t field,
                   size_t start)
{
    sift_buf_put_u32(&w->secs, kind);
    sift_buf_put_u32(&w->secs, field);
    sift_buf_put_u64(&w->secs, start);
    sift_buf_put_u64(&w->secs, sift__segw_pos(w) - start);
    sift_buf_put_u64(&w->secs, 0); /* checksum, filled by seal() */
    w->n_secs++;
}

uint8_t *
sift__segment_pack_area(struct sift_buf *out, size_t n, unsigned w)
{
    size_t nbytes = (n * w + 7) / 8;
    sift_buf_reserve(out, nbytes);
    uint8_t *p = (uint8_t *)out->data + out->len;
    memset(p, 0, nbytes);
    out->len += nbytes;
    return p;
}

/* Fills every checksum of the image at img[0..len). */
static void
seal(uint8_t *img, size_t len)
{
    sift_store_u64(img + 48, XXH3_64bits(img, 48));
    uint8_t *tr = img + len - SIFT_SEGFMT_TRAILER_LEN;
    uint64_t tab = sift_load_u64(tr);
    uint32_t ns = sift_load_u32(tr + 8);
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t *e = img + tab + (size_t)i * SIFT_SEGFMT_SECENT_LEN;
        uint64_t off = sift_load_u64(e + 8), l = sift_load_u64(e + 16);
        /* Checked here, not only by the caller: in a fuzzed image the
         * checksums written above can overlap the table and change an
         * entry after it was validated. */
        if (off > len || l > len - off)
            continue;
        sift_store_u64(e + 24, XXH3_64bits(img + off, l));
    }
    sift_store_u64(tr + 16, XXH3_64bits(img + tab, len - tab - 16));
}

void
sift__segw_finish(struct sift__segw *w)
{
    struct sift_buf *out = w->out;
    sift__segw_align(w, 8);
    size_t tab = sift__segw_pos(w);
    sift_buf_append(out, w->secs.data, w->secs.len);
    sift_buf_put_u64(out, tab);
    sift_buf_put_u32(out, w->n_secs);
    sift_buf_put_u32(out, SIFT_SEGFMT_VERSION);
    sift_buf_put_u64(out, 0);
    sift_buf_append(out, SIFT_SEGFMT_END_MAGIC, 8);
    size_t len = sift__segw_pos(w);
    uint8_t *img = (uint8_t *)out->data + w->base;
    sift_store_u64(img + 40, len);
    seal(img, len);
}

void
sift__segment_reseal(uint8_t *img, size_t len)
{
    if (len < SIFT_SEGFMT_HEADER_LEN + SIFT_SEGFMT_TRAILER_LEN)
        return;
    uint8_t *tr = img + len - SIFT_SEGFMT_TRAILER_LEN;
    uint64_t tab = sift_load_u64(tr);
    uint32_t ns = sift_load_u32(tr + 8);
    if (tab > len - SIFT_SEGFMT_TRAILER_LEN ||
        (uint64_t)ns * SIFT_SEGFMT_SECENT_LEN >
            len - SIFT_SEGFMT_TRAILER_LEN - tab)
        return;
    for (uint32_t i = 0; i < ns; i++) {
        uint8_t *e = img + tab + (size_t)i * SIFT_SEGFMT_SECENT_LEN;
        uint64_t off = sift_load_u64(e + 8), l = sift_load_u64(e + 16);
        if (off > len || l > len - off)
            return;
    }
    seal(img, len);
}
