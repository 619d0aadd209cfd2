/*
 * segment_origin.c - the ORIGIN section of a segment (format 5): where
 * its docs came from, so that a segment file can be placed in a rebuilt
 * manifest without the manifest (docs/internals/storage.md, "Rebuilding
 * the manifest").
 *
 * Design: the builder keeps the origin in its encoded form (set with
 * sift_segment_builder_set_origin() or opts.origin, copied either way) and
 * writes those bytes as the section; the reader decodes it once at open
 * into a struct sift_segment_origin whose arrays it owns.  The byte layout
 * is in segment_fmt.h ("ORIGIN section").
 *
 * Invariants: an encoded origin is canonical (inputs ascending and
 * unique, positions sorted by key and unique), so the same facts always
 * give the same bytes; the decoder rejects anything else.
 *
 * Threads: pure functions over their arguments; any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "store/segment_fmt.h"
#include "store/segment_origin.h"

#define OCORRUPT(what) SIFT_CORRUPT_BKPT("segment origin: " what)

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int
cmp_pos(const void *a, const void *b)
{
    return strcmp(((const struct sift_srcpos *)a)->key,
                  ((const struct sift_srcpos *)b)->key);
}

int
sift__segment_origin_encode(const struct sift_segment_origin *o,
                            struct sift_buf *out)
{
    if (o->kind > SIFT_SEG_ORIGIN_MERGE || o->min_seq > o->max_seq ||
        (o->min_seq == 0) != (o->max_seq == 0) ||
        o->n_inputs > SIFT_SEGFMT_ORIGIN_MAX_INPUTS ||
        o->n_pos > SIFT_SEGFMT_ORIGIN_MAX_POS)
        return SIFT_EINVAL;
    for (size_t i = 0; i < o->n_pos; i++) {
        size_t kl = o->pos[i].key ? strlen(o->pos[i].key) : 0;
        if (kl == 0 || kl > SIFT_SEGFMT_ORIGIN_MAX_KEY)
            return SIFT_EINVAL;
    }
    uint64_t *ids = sift_xmalloc((o->n_inputs + 1) * sizeof(*ids));
    struct sift_srcpos *pos = sift_xmalloc((o->n_pos + 1) * sizeof(*pos));
    if (o->n_inputs)
        memcpy(ids, o->inputs, o->n_inputs * sizeof(*ids));
    if (o->n_pos)
        memcpy(pos, o->pos, o->n_pos * sizeof(*pos));
    qsort(ids, o->n_inputs, sizeof(*ids), cmp_u64);
    qsort(pos, o->n_pos, sizeof(*pos), cmp_pos);
    int rc = SIFT_OK;
    for (size_t i = 1; i < o->n_inputs && rc == SIFT_OK; i++)
        if (ids[i] == ids[i - 1])
            rc = SIFT_EINVAL;
    for (size_t i = 1; i < o->n_pos && rc == SIFT_OK; i++)
        if (strcmp(pos[i].key, pos[i - 1].key) == 0)
            rc = SIFT_EINVAL;
    if (rc == SIFT_OK) {
        sift_buf_putc(out, (char)SIFT_SEGFMT_ORIGIN_LAYOUT);
        sift_buf_putc(out, (char)o->kind);
        sift_buf_put_varint(out, o->min_seq);
        sift_buf_put_varint(out, o->max_seq);
        sift_buf_put_varint(out, o->n_inputs);
        for (size_t i = 0; i < o->n_inputs; i++)
            sift_buf_put_varint(out, i ? ids[i] - ids[i - 1] : ids[i]);
        sift_buf_put_varint(out, o->n_pos);
        for (size_t i = 0; i < o->n_pos; i++) {
            size_t kl = strlen(pos[i].key);
            sift_buf_put_varint(out, kl);
            sift_buf_append(out, pos[i].key, kl);
            sift_buf_put_varint(out, pos[i].hi);
            sift_buf_put_varint(out, pos[i].lo);
        }
    }
    sift_free(ids);
    sift_free(pos);
    return rc;
}

void
sift__segment_origin_cleanup(struct sift__segment_origin_owned *o)
{
    sift_free(o->inputs);
    sift_free(o->pos);
    sift_free(o->keys);
    memset(o, 0, sizeof(*o));
}

int
sift__segment_origin_decode(const uint8_t *p, size_t len,
                            struct sift__segment_origin_owned *out)
{
    const uint8_t *end = p + len;
    uint64_t min_seq, max_seq, n_in, n_pos;
    memset(out, 0, sizeof(*out));
    if (len < 2 || p[0] != SIFT_SEGFMT_ORIGIN_LAYOUT ||
        p[1] > SIFT_SEG_ORIGIN_MERGE)
        return OCORRUPT("layout or kind");
    uint8_t kind = p[1];
    p += 2;
    if (sift_get_varint(&p, end, &min_seq) < 0 ||
        sift_get_varint(&p, end, &max_seq) < 0 || min_seq > max_seq ||
        (min_seq == 0) != (max_seq == 0))
        return OCORRUPT("seq range");
    if (sift_get_varint(&p, end, &n_in) < 0 ||
        n_in > SIFT_SEGFMT_ORIGIN_MAX_INPUTS || n_in > (uint64_t)(end - p))
        return OCORRUPT("input count");
    int rc = SIFT_OK;
    out->inputs = sift_try_malloc(((size_t)n_in + 1) * sizeof(uint64_t));
    if (!out->inputs)
        return SIFT_ENOMEM;
    uint64_t prev = 0;
    for (uint64_t i = 0; i < n_in; i++) {
        uint64_t d;
        if (sift_get_varint(&p, end, &d) < 0 || (i > 0 && d == 0) ||
            d > UINT64_MAX - prev) {
            rc = OCORRUPT("input ids");
            goto fail;
        }
        prev += d;
        out->inputs[i] = prev;
    }
    if (sift_get_varint(&p, end, &n_pos) < 0 ||
        n_pos > SIFT_SEGFMT_ORIGIN_MAX_POS || n_pos > (uint64_t)(end - p) / 4) {
        rc = OCORRUPT("position count");
        goto fail;
    }
    /* Keys are copied NUL-terminated into one block: at most the
     * section's bytes plus one NUL each. */
    out->pos = sift_try_malloc(((size_t)n_pos + 1) * sizeof(*out->pos));
    out->keys = sift_try_malloc(len + (size_t)n_pos + 1);
    if (!out->pos || !out->keys) {
        rc = SIFT_ENOMEM;
        goto fail;
    }
    size_t koff = 0;
    for (uint64_t i = 0; i < n_pos; i++) {
        uint64_t kl, hi, lo;
        if (sift_get_varint(&p, end, &kl) < 0 || kl == 0 ||
            kl > SIFT_SEGFMT_ORIGIN_MAX_KEY || kl > (uint64_t)(end - p) ||
            memchr(p, '\0', (size_t)kl) != NULL) {
            rc = OCORRUPT("position key");
            goto fail;
        }
        char *k = out->keys + koff;
        memcpy(k, p, (size_t)kl);
        k[kl] = '\0';
        koff += (size_t)kl + 1;
        p += kl;
        if (i > 0 && strcmp(out->pos[i - 1].key, k) >= 0) {
            rc = OCORRUPT("position keys not sorted");
            goto fail;
        }
        if (sift_get_varint(&p, end, &hi) < 0 ||
            sift_get_varint(&p, end, &lo) < 0) {
            rc = OCORRUPT("position value");
            goto fail;
        }
        out->pos[i].key = k;
        out->pos[i].hi = hi;
        out->pos[i].lo = lo;
    }
    if (p != end) {
        rc = OCORRUPT("trailing bytes");
        goto fail;
    }
    out->o.kind = kind;
    out->o.min_seq = min_seq;
    out->o.max_seq = max_seq;
    out->o.n_inputs = (size_t)n_in;
    out->o.inputs = out->inputs;
    out->o.n_pos = (size_t)n_pos;
    out->o.pos = out->pos;
    return SIFT_OK;
fail:
    sift__segment_origin_cleanup(out);
    return rc;
}
