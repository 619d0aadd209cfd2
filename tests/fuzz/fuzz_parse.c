/*
 * fuzz_parse.c - libFuzzer target for every parse format and _bulk.
 *
 * The first input byte picks the format (auto, json, text, syslog,
 * logfmt) and a few option bits (small limits, keep_metadata, extra
 * fields, multi-line pattern and negate); the rest is the body, fed
 * through sift_parse_lines() (also with continuation lines joined: every
 * line is either an event or joined into one) and sift_bulk_parse().  Every
 * produced event is checked: its pointers must lie in the input, the arena or
 * static storage (ASan checks the reads), field counts must respect max_fields,
 * and the response builder must run.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/multiline.h"
#include "sift/parse.h"
#include "sift/render.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    const struct sift_parse_opts *o;
    size_t sum;
};

static void
touch_event(struct ctx *c, const struct sift_event *ev)
{
    size_t s = 0;
    for (uint32_t i = 0; i < ev->msg_len; i++)
        s += (unsigned char)ev->msg[i];
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (f->type < SIFT_FT_KEYWORD || f->type > SIFT_FT_NUMBER)
            __builtin_trap();
        if (f->name_len == 0)
            __builtin_trap();
        for (uint32_t k = 0; k < f->name_len; k++)
            s += (unsigned char)f->name[k];
        for (uint32_t k = 0; k < f->value_len; k++)
            s += (unsigned char)f->value[k];
    }
    /* user fields <= max_fields, plus derived and static ones */
    if (ev->n_fields > c->o->max_fields + 16)
        __builtin_trap();
    c->sum += s;
}

#define MAX_COLLECT 64

struct collect {
    struct ctx *c;
    struct sift_event ev[MAX_COLLECT];
    size_t n;
};

static int
on_collect(void *arg, int rc, struct sift_event *ev,
           const struct sift_parse_error *err)
{
    struct collect *col = arg;
    (void)err;
    if (rc == SIFT_OK) {
        touch_event(col->c, ev);
        if (col->n < MAX_COLLECT)
            col->ev[col->n++] = *ev;
    }
    return 0;
}

static int
on_line(void *arg, int rc, struct sift_event *ev,
        const struct sift_parse_error *err)
{
    struct ctx *c = arg;
    if (rc == SIFT_OK) {
        touch_event(c, ev);
    } else {
        if (!err || err->reason[0] == '\0' || err->rc != rc)
            __builtin_trap();
        if (strlen(err->reason) >= sizeof(err->reason))
            __builtin_trap();
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sift_parse_opts o;
    struct ctx c;
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;

    sift_parse_opts_init(&o);
    o.format = (enum sift_parse_format)(sel % 5);
    if (sel & 0x08) {
        o.max_fields = 4;
        o.max_depth = 3;
        o.max_field_name_bytes = 8;
        o.max_value_bytes = 16;
        o.max_line_bytes = 200;
    }
    o.keep_metadata = (sel & 0x10) != 0;
    if (sel & 0x20)
        o.extra_fields = "env=fuzz";
    if (sel & 0x40) {
        o.numeric_fields = "a,b.c";
        o.text_fields = "message,x";
    }
    if (sift_parse_opts_compile(&o, NULL) != SIFT_OK)
        __builtin_trap();

    struct sift_arena *a = sift_arena_new(16384);
    c.o = &o;
    c.sum = 0;
    (void)sift_parse_lines(&o, body, len, INT64_C(1700000000000000000), a,
                           on_line, &c, NULL);
    sift_arena_reset(a);

    /* Again with continuation lines joined (small bounds with 0x08): the
     * same lines, fewer events, none longer than the bounds allow; then
     * the array join over the events of the body. */
    struct sift_multiline_opts mo;
    sift_multiline_opts_init(&mo);
    if (sel & 0x08) {
        mo.max_lines = 3;
        mo.max_bytes = 200;
    }
    if (sel & 0x80)
        mo.pattern = "^[^0-9]";
    mo.negate = (sel & 0x10) != 0;
    struct sift_multiline *ml = NULL;
    if (sift_multiline_new(&mo, &ml, NULL, 0) != SIFT_OK)
        __builtin_trap();
    o.multiline = ml;
    struct sift_parse_stats plain, joined;
    o.multiline = NULL;
    (void)sift_parse_lines(&o, body, len, 1, a, on_line, &c, &plain);
    sift_arena_reset(a);
    o.multiline = ml;
    struct collect col = {&c, {{0}}, 0};
    (void)sift_parse_lines(&o, body, len, 1, a, on_collect, &col, &joined);
    if (joined.n_events + joined.n_joined != plain.n_events ||
        joined.n_errors != plain.n_errors || joined.n_lines != plain.n_lines)
        __builtin_trap();
    uint8_t flags[MAX_COLLECT];
    for (size_t i = 0; i < col.n; i++)
        flags[i] = (uint8_t)(i < len ? (unsigned char)body[i] & 3u : 0u);
    size_t nj = 0;
    size_t left =
        sift_multiline_join(ml, col.ev, col.n, NULL, flags, a, NULL, &nj);
    if (left + nj != col.n)
        __builtin_trap();
    for (size_t i = 0; i < left; i++)
        touch_event(&c, &col.ev[i]);
    o.multiline = NULL;
    sift_multiline_free(ml);
    sift_arena_reset(a);

    /* The whole input as one event, too (embedded newlines and all). */
    struct sift_event ev;
    struct sift_parse_error err;
    if (sift_parse_event(&o, body, len, 0, a, &ev, &err) == SIFT_OK)
        touch_event(&c, &ev);
    sift_arena_reset(a);

    struct sift_bulk b;
    if (sift_bulk_parse(&o, body, len, (sel & 0x80) ? "d" : NULL, 1, a, &b,
                        &err) == SIFT_OK) {
        struct sift_buf out = SIFT_BUF_INIT;
        for (size_t i = 0; i < b.n_items; i++) {
            if (b.items[i].status == 201)
                touch_event(&c, &b.items[i].ev);
        }
        sift_render_bulk(&b, 1, NULL, &out);
        /* The first line as a ?filter_path=: the response shrinks. */
        char fp[256];
        const char *nl = memchr(body, '\n', len);
        size_t fl = nl ? (size_t)(nl - body) : len;
        if (fl >= sizeof(fp))
            fl = sizeof(fp) - 1;
        memcpy(fp, body, fl);
        fp[fl] = '\0';
        struct sift_bulk_filter filt;
        sift_render_bulk_filter(&filt, fp);
        struct sift_buf fout = SIFT_BUF_INIT;
        sift_render_bulk(&b, 1, &filt, &fout);
        if (fout.len > out.len || fout.len < 2 || fout.data[0] != '{' ||
            fout.data[fout.len - 1] != '}')
            __builtin_trap();
        sift_buf_cleanup(&fout);
        sift_buf_cleanup(&out);
    }
    sift_bulk_cleanup(&b);

    sift_arena_free(a);
    sift_parse_opts_cleanup(&o);
    return 0;
}
