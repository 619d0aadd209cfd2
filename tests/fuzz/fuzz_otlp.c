/*
 * fuzz_otlp.c - libFuzzer target for the OTLP logs decoder
 * (sift_otlp_logs_parse), binary protobuf and OTLP/JSON.
 *
 * The first input byte picks the encoding (bit 0: JSON) and small limits
 * (bit 1: max_fields 4, max_depth 3, short names and values); the rest is
 * the request body.  Every event is walked (ASan checks that its pointers
 * are readable), field counts must respect max_fields, a rejected record
 * must carry a reason, and a body refused as a whole must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    const struct sift_parse_opts *o;
    size_t sum;
};

static int
on_record(void *arg, int rc, struct sift_event *ev,
          const struct sift_parse_error *err)
{
    struct ctx *c = arg;
    if (rc != SIFT_OK) {
        if (!err || err->reason[0] == '\0' || err->rc != rc)
            __builtin_trap();
        return 0;
    }
    for (uint32_t i = 0; i < ev->msg_len; i++)
        c->sum += (unsigned char)ev->msg[i];
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (f->name_len == 0 || f->type < SIFT_FT_KEYWORD ||
            f->type > SIFT_FT_NUMBER)
            __builtin_trap();
        for (uint32_t k = 0; k < f->name_len; k++)
            c->sum += (unsigned char)f->name[k];
        for (uint32_t k = 0; k < f->value_len; k++)
            c->sum += (unsigned char)f->value[k];
    }
    if (ev->n_fields > c->o->max_fields + 16)
        __builtin_trap();
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    struct sift_parse_opts o;
    sift_parse_opts_init(&o);
    if (sel & 2) {
        o.max_fields = 4;
        o.max_depth = 3;
        o.max_field_name_bytes = 16;
        o.max_value_bytes = 32;
    }
    if (sift_parse_opts_compile(&o, NULL) != SIFT_OK)
        __builtin_trap();
    struct sift_arena *a = sift_arena_new(65536);
    struct ctx c = {&o, 0};
    struct sift_parse_error err;
    int rc = sift_otlp_logs_parse(&o, sel & 1, (const char *)data + 1, size - 1,
                                  INT64_C(1700000000000000000), a, on_record,
                                  &c, &err);
    if (rc == SIFT_EPARSE && err.reason[0] == '\0')
        __builtin_trap();
    if (rc != SIFT_OK && rc != SIFT_EPARSE && rc != SIFT_ENOMEM)
        __builtin_trap();
    sift_arena_free(a);
    sift_parse_opts_cleanup(&o);
    return 0;
}
