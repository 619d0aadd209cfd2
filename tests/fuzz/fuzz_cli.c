/*
 * fuzz_cli.c - libFuzzer target for what the `sift` client parses from
 * outside: its configuration file, the server's /metrics text and JSON
 * replies, and ingest input (text, NDJSON with labels, _bulk).
 *
 * Input: byte 0 picks the parser (0 config, 1 Prometheus lines, 2 raw
 * JSON items, 3 batching, 4 terminal escaping); byte 1 picks the format
 * and limits for batching; the rest is the text.
 * Checks: no memory error (ASan/UBSan), and invariants: a batch body never
 * holds a blank line and every body line has an input line number; the
 * items visited lie inside the input; escaped output has no control
 * character but newlines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct span {
    const char *lo, *hi;
};

static int
check_item(void *arg, const char *item, size_t len)
{
    const struct span *s = arg;
    if (item < s->lo || item + len > s->hi)
        abort();
    return 0;
}

static void
check_batch(const struct cli_batcher *b)
{
    size_t lines = 0;
    for (size_t i = 0; i < b->body.len; i++) {
        if (b->body.data[i] != '\n')
            continue;
        if (i == 0 || b->body.data[i - 1] == '\n')
            abort(); /* a blank line in a body */
        lines++;
    }
    if (lines != b->n_lines || b->n_items > b->n_lines)
        abort();
    for (size_t i = 0; i < b->n_items; i++)
        if (b->starts[i] >= b->n_lines)
            abort();
}

static void
fuzz_batch(uint8_t mode, const char *text, size_t len)
{
    static const struct cli_label labels[] = {{"service.name", "fuzz"},
                                              {"env", "x\"y"}};
    enum cli_format fmt = (enum cli_format)(1 + mode % 3);
    struct cli_batcher b;
    sift__cli_batcher_init(&b, fmt, 1 + (mode >> 2) % 4, 16 + (mode >> 4) * 8,
                           labels, mode & 0x80 ? 2 : 0);
    uint64_t line_no = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        line_no++;
        int guard = 0;
        while (sift__cli_batcher_offer(&b, p, l, line_no)) {
            check_batch(&b);
            sift__cli_batcher_reset(&b);
            if (++guard > 2)
                abort(); /* an empty batch must take any line */
        }
        p += l + 1;
    }
    while (sift__cli_batcher_finish(&b)) {
        check_batch(&b);
        sift__cli_batcher_reset(&b);
    }
    check_batch(&b);
    sift__cli_batcher_cleanup(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t which = data[0], mode = data[1];
    char *text = malloc(size - 1);
    if (!text)
        return 0;
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';
    size_t len = size - 2;

    switch (which % 5) {
    case 0: {
        struct cli_settings s;
        memset(&s, 0, sizeof(s));
        s.timeout_s = -1;
        s.retries = -1;
        char err[512];
        /* token_file would read a named file: keep the fuzzer off it */
        if (!strstr(text, "token_file"))
            (void)sift__cli_settings_parse(&s, "fuzz", text, err, sizeof(err));
        sift__cli_settings_cleanup(&s);
        break;
    }
    case 1: {
        const char *p = text, *end = text + len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
            struct cli_sample smp;
            char v[64];
            if (sift__cli_prom_line(p, l, &smp) == 1)
                (void)sift__cli_prom_label(smp.labels, "source", v, sizeof(v));
            p += l + 1;
        }
        break;
    }
    case 2: {
        struct span s = {text, text + len};
        (void)sift__cli_json_items(text, len, "hits", check_item, &s);
        break;
    }
    case 3: fuzz_batch(mode, text, len); break;
    case 4: {
        char *out = NULL;
        size_t out_len = 0;
        FILE *f = open_memstream(&out, &out_len);
        if (f) {
            sift__cli_put_safe(f, text, len, mode & 1 ? "  " : NULL);
            fclose(f);
            for (size_t i = 0; i < out_len; i++) {
                unsigned char c = (unsigned char)out[i];
                if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f)
                    abort();
            }
            free(out);
        }
        break;
    }
    }
    free(text);
    return 0;
}
