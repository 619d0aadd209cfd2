/*
 * fuzz_loki.c - libFuzzer target for the Loki push request: the snappy
 * decompression the handler does (bounded like http.max_body_bytes) and
 * sift_loki_push_parse() on protobuf and JSON.
 *
 * The first input byte picks the path: bit 0 JSON, else protobuf; bit 1
 * (protobuf only) the rest is snappy-compressed first, as Loki clients
 * send it.  Every event is walked (ASan checks its pointers), a rejected
 * entry must carry a reason, a refused body must say why.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
on_entry(void *arg, int rc, struct sift_event *ev,
         const struct sift_parse_error *err)
{
    size_t *sum = arg;
    if (rc != SIFT_OK) {
        if (!err || err->reason[0] == '\0')
            __builtin_trap();
        return 0;
    }
    for (uint32_t i = 0; i < ev->msg_len; i++)
        *sum += (unsigned char)ev->msg[i];
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (f->name_len == 0)
            __builtin_trap();
        for (uint32_t k = 0; k < f->value_len; k++)
            *sum += (unsigned char)f->value[k];
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char *inflated = NULL;
    if (!(sel & 1) && (sel & 2)) {
        size_t out_len = 0;
        if (snappy_uncompressed_length(body, len, &out_len) != SNAPPY_OK ||
            out_len > (1u << 20))
            return 0;
        inflated = malloc(out_len ? out_len : 1);
        if (!inflated)
            return 0;
        if (snappy_uncompress(body, len, inflated, &out_len) != SNAPPY_OK) {
            free(inflated);
            return 0;
        }
        body = inflated;
        len = out_len;
    }
    struct sift_parse_opts o;
    sift_parse_opts_init(&o);
    if (sift_parse_opts_compile(&o, NULL) != SIFT_OK)
        __builtin_trap();
    struct sift_arena *a = sift_arena_new(65536);
    size_t sum = 0;
    struct sift_parse_error err;
    int rc = sift_loki_push_parse(&o, sel & 1, body, len,
                                  INT64_C(1700000000000000000), a, on_entry,
                                  &sum, &err);
    if (rc == SIFT_EPARSE && err.reason[0] == '\0')
        __builtin_trap();
    sift_arena_free(a);
    sift_parse_opts_cleanup(&o);
    free(inflated);
    return 0;
}
