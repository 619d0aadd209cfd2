/*
 * fuzz_config.c - libFuzzer target for the config loader: arbitrary bytes
 * as a config file, then the first line also as a --set override, then
 * the cross-key check and the JSON dump.  Everything must be reported as
 * errors, never crash, leak or read out of bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/config.h"

#include "../../src/core/core_int.h"

/* Touches every value the walk hands out (strings read to their end). */
static void
count_value(void *arg, const struct sift_config_value *v)
{
    struct sift_buf *b = arg;
    sift_buf_append(b, v->name, strlen(v->name));
    if (v->kind == SIFT_CONFIG_STRING)
        sift_buf_append(b, v->str, strlen(v->str));
}

static void
ignore(const char *msg, void *arg)
{
    (void)msg;
    (void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sift_config cfg;
    struct sift_buf b = SIFT_BUF_INIT;

    sift_config_init(&cfg);
    (void)sift__config_load_buffer(&cfg, "fuzz.conf", (const char *)data, size,
                                   ignore, NULL);
    size_t line = 0;
    while (line < size && data[line] != '\n' && data[line] != '\0')
        line++;
    char *set = sift_xstrndup((const char *)data, line);
    (void)sift_config_set(&cfg, set, ignore, NULL);
    int64_t v;
    (void)sift_parse_duration_ms(set, &v);
    (void)sift_parse_bytes(set, &v);
    sift_free(set);
    (void)sift_config_check(&cfg, ignore, NULL);
    sift_config_each(&cfg, count_value, &b);
    sift_buf_cleanup(&b);
    sift_config_cleanup(&cfg);
    return 0;
}
