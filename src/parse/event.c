/*
 * event.c - the doc codec (the one binary form of an event) and the JSON
 * rendering of an event.
 *
 * Doc layout (all varints are unsigned LEB128, see segment_fmt.h):
 *   zvarint ts_ns (zigzag), varint template_id (<= UINT32_MAX),
 *   varint msg_len, msg bytes,
 *   varint n_fields, then per field:
 *     varint name_len, name bytes, u8 type (1..3), varint value_len,
 *     value bytes.
 * The encoded doc is exactly these bytes; decode rejects trailing bytes.
 *
 * Invariants: decode never reads outside p[0..len), checks every length
 * against the remaining bytes before use, and bounds the field array by
 * the remaining bytes (a field takes at least 3 bytes), so a forged count
 * cannot trigger a large allocation.
 *
 * Threads: pure functions; any thread.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/time.h"

void
sift_doc_encode(const struct sift_event *ev, struct sift_buf *out)
{
    uint64_t zz = ((uint64_t)ev->ts_ns << 1) ^ (uint64_t)(ev->ts_ns >> 63);
    size_t need = 40 + ev->msg_len;
    for (uint32_t i = 0; i < ev->n_fields; i++)
        need += 21 + (size_t)ev->fields[i].name_len + ev->fields[i].value_len;
    sift_buf_reserve(out, need);
    sift_buf_put_varint(out, zz);
    sift_buf_put_varint(out, ev->template_id);
    sift_buf_put_varint(out, ev->msg_len);
    sift_buf_append(out, ev->msg, ev->msg_len);
    sift_buf_put_varint(out, ev->n_fields);
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        sift_buf_put_varint(out, f->name_len);
        sift_buf_append(out, f->name, f->name_len);
        sift_buf_putc(out, (char)f->type);
        sift_buf_put_varint(out, f->value_len);
        sift_buf_append(out, f->value, f->value_len);
    }
}

/* Reads a varint length that must fit in the remaining bytes. */
static int
get_len(const uint8_t **p, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    if (sift_get_varint(p, end, &v) != SIFT_OK)
        return SIFT_CORRUPT_BKPT("doc: truncated varint");
    if (v > (uint64_t)(end - *p))
        return SIFT_CORRUPT_BKPT("doc: length past end");
    *out = (uint32_t)v;
    return SIFT_OK;
}

int
sift_doc_decode(const uint8_t *p, size_t len, struct sift_arena *arena,
                struct sift_event *out)
{
    uint64_t v;
    uint32_t n = 0; /* set by get_len(); gcc -O2 cannot see it */
    int rc;

    memset(out, 0, sizeof(*out));
    if (p == NULL || len == 0)
        return SIFT_CORRUPT_BKPT("doc: empty");
    const uint8_t *end = p + len;
    if (sift_get_varint(&p, end, &v) != SIFT_OK)
        return SIFT_CORRUPT_BKPT("doc: ts");
    out->ts_ns = (int64_t)((v >> 1) ^ (~(v & 1) + 1));
    if (sift_get_varint(&p, end, &v) != SIFT_OK || v > UINT32_MAX)
        return SIFT_CORRUPT_BKPT("doc: template id");
    out->template_id = (uint32_t)v;
    if ((rc = get_len(&p, end, &n)) != SIFT_OK)
        return rc;
    out->msg = (const char *)p;
    out->msg_len = n;
    p += n;
    if (sift_get_varint(&p, end, &v) != SIFT_OK)
        return SIFT_CORRUPT_BKPT("doc: field count");
    /* Each field takes at least 3 bytes: bounds the allocation below. */
    if (v > (uint64_t)(end - p) / 3)
        return SIFT_CORRUPT_BKPT("doc: field count past end");
    uint32_t n_fields = (uint32_t)v;
    if (n_fields > 0) {
        out->fields =
            sift_arena_try_alloc(arena, n_fields * sizeof(*out->fields));
        if (out->fields == NULL)
            return SIFT_ENOMEM;
    }
    for (uint32_t i = 0; i < n_fields; i++) {
        struct sift_field *f = &out->fields[i];
        if ((rc = get_len(&p, end, &n)) != SIFT_OK)
            return rc;
        f->name = (const char *)p;
        f->name_len = n;
        p += n;
        if (p >= end)
            return SIFT_CORRUPT_BKPT("doc: field type past end");
        f->type = *p++;
        if (f->type < SIFT_FT_KEYWORD || f->type > SIFT_FT_NUMBER)
            return SIFT_CORRUPT_BKPT("doc: bad field type");
        if ((rc = get_len(&p, end, &n)) != SIFT_OK)
            return rc;
        f->value = (const char *)p;
        f->value_len = n;
        p += n;
    }
    if (p != end)
        return SIFT_CORRUPT_BKPT("doc: trailing bytes");
    out->n_fields = n_fields;
    return SIFT_OK;
}

const struct sift_field *
sift_event_field(const struct sift_event *ev, const char *name, size_t name_len)
{
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (f->name_len == name_len && memcmp(f->name, name, name_len) == 0)
            return f;
    }
    return NULL;
}

int
sift_json_is_number(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return 0;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return 0;
    }
    int integer = 1;
    if (i < len && s[i] == '.') {
        i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
        integer = 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E'))
        integer = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return 0;
    }
    if (i != len)
        return 0;
    /* In range, so common decoders (jansson, Go) read it: an integer in
     * int64, anything else a finite double. */
    char tmp[400];
    if (len >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    errno = 0;
    if (integer) {
        (void)strtoll(tmp, NULL, 10);
        return errno != ERANGE;
    }
    double v = strtod(tmp, NULL);
    return !(errno == ERANGE && (v > 1.0 || v < -1.0)) && isfinite(v);
}

/* Appends "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" (quoted) for ts_ns. */
static void
put_rfc3339(struct sift_buf *out, int64_t ts_ns)
{
    sift_buf_putc(out, '"');
    sift_time_format_rfc3339(ts_ns, 9, out);
    sift_buf_putc(out, '"');
}

void
sift_event_to_json(const struct sift_event *ev, struct sift_buf *out)
{
    sift_buf_append(out, "{\"@timestamp\":", 14);
    put_rfc3339(out, ev->ts_ns);
    sift_buf_append(out, ",\"message\":", 11);
    sift_buf_put_json_str(out, ev->msg != NULL ? ev->msg : "", ev->msg_len);
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (f->name_len == 12 && memcmp(f->name, "_template_id", 12) == 0)
            continue;
        sift_buf_putc(out, ',');
        sift_field_put_json(f, out);
    }
    sift_buf_putc(out, '}');
}

void
sift_field_put_json(const struct sift_field *f, struct sift_buf *out)
{
    sift_buf_put_json_str(out, f->name, f->name_len);
    sift_buf_putc(out, ':');
    if (f->type == SIFT_FT_NUMBER &&
        sift_json_is_number(f->value, f->value_len))
        sift_buf_append(out, f->value, f->value_len);
    else
        sift_buf_put_json_str(out, f->value, f->value_len);
}
