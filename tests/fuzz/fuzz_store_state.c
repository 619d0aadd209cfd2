/*
 * fuzz_store_state.c - the decoders of the store's small state files,
 * which damage on disk or a restore from a bad backup can feed anything:
 * the manifest (first byte even), a tombstone sidecar (odd).  One target
 * for both keeps the fuzz stage short.
 *
 * Manifest: whatever decodes must encode and decode back to the same
 * manifest (so nothing half-read is ever believed), and every byte of a
 * decodable input is covered by its checksum.  Tombstones: whatever
 * decodes holds only doc ids below the count, and encodes back to bytes
 * that decode to the same set.  Nothing may crash, leak or read out of
 * bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <roaring/roaring.h>

#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
/* Internal store API; fuzz targets get no src/ include path. */
#include "../../src/store/lifecycle_int.h"
#include "../../src/store/manifest.h"

static void
manifest_case(const uint8_t *data, size_t size)
{
    struct sift_manifest m, again;
    if (sift__manifest_decode((const char *)data, size, &m) != SIFT_OK)
        return;
    struct sift_buf b = SIFT_BUF_INIT;
    sift__manifest_encode(&m, &b);
    if (sift__manifest_decode(b.data, b.len, &again) != SIFT_OK ||
        again.n_segs != m.n_segs || again.pos.n != m.pos.n ||
        again.flushed_seq != m.flushed_seq ||
        again.next_seg_id != m.next_seg_id || again.generation != m.generation)
        abort();
    for (size_t i = 0; i < m.n_segs; i++)
        if (again.segs[i].id != m.segs[i].id ||
            again.segs[i].deleted != m.segs[i].deleted ||
            strcmp(again.segs[i].file, m.segs[i].file) != 0)
            abort();
    sift__manifest_cleanup(&again);
    sift__manifest_cleanup(&m);
    sift_buf_cleanup(&b);
    /* One flipped byte anywhere in a valid input must be refused. */
    if (size > 0 && size < 4096) {
        uint8_t *c = malloc(size);
        if (!c)
            return;
        memcpy(c, data, size);
        c[size / 2] ^= 0x01;
        if (sift__manifest_decode((const char *)c, size, &m) == SIFT_OK)
            abort();
        free(c);
    }
}

static void
tomb_case(const uint8_t *data, size_t size)
{
    if (size < 4)
        return;
    uint32_t n_docs =
        (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16;
    roaring_bitmap_t *bm = NULL;
    if (sift__tomb_decode(data + 3, size - 3, n_docs, &bm) != SIFT_OK)
        return;
    if (!roaring_bitmap_is_empty(bm) && roaring_bitmap_maximum(bm) >= n_docs)
        abort();
    struct sift_buf b = SIFT_BUF_INIT;
    roaring_bitmap_t *back = NULL;
    if (sift__tomb_encode(bm, n_docs, &b) != SIFT_OK ||
        sift__tomb_decode(b.data, b.len, n_docs, &back) != SIFT_OK ||
        !roaring_bitmap_equals(bm, back))
        abort();
    roaring_bitmap_free(back);
    roaring_bitmap_free(bm);
    sift_buf_cleanup(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Below ERROR: the expected corruption reports would flood the run. */
    sift_log_set_level((enum sift_log_level) - 1);
    if (size < 1)
        return 0;
    if (data[0] & 1)
        tomb_case(data + 1, size - 1);
    else
        manifest_case(data + 1, size - 1);
    return 0;
}
