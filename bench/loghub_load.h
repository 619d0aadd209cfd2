/*
 * loghub_load.h - reading the loghub-2k files for the benchmarks that
 * replay them (drain_accuracy.c, anomaly_scenarios.c): a whole-file read
 * and an RFC 4180 CSV field reader for the *_structured_corrected.csv
 * ground truth.
 *
 * Header-only (static inline functions) because each benchmark is its own
 * program.  Single-threaded; every returned string is owned by the caller
 * and released with sift_free().
 */
#ifndef SIFT_BENCH_LOGHUB_LOAD_H
#define SIFT_BENCH_LOGHUB_LOAD_H

#include <stddef.h>
#include <stdio.h>

#include "sift/buf.h"

/* Reads the whole file, NUL-terminated; NULL if it cannot be opened. */
static inline char *
lh_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct sift_buf b = SIFT_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sift_buf_append(&b, chunk, n);
    fclose(f);
    sift_buf_cstr(&b);
    return sift_buf_detach(&b, len);
}

/*
 * Parses one CSV field starting at *p (RFC 4180 quoting) and moves *p past
 * it; *eol says whether it was the last field of its row.  Returns owned.
 */
static inline char *
lh_csv_field(const char **p, int *eol)
{
    struct sift_buf b = SIFT_BUF_INIT;
    const char *s = *p;
    if (*s == '"') {
        s++;
        for (;;) {
            if (*s == '\0')
                break;
            if (*s == '"') {
                if (s[1] == '"') {
                    sift_buf_putc(&b, '"');
                    s += 2;
                    continue;
                }
                s++;
                break;
            }
            sift_buf_putc(&b, *s++);
        }
    } else {
        while (*s && *s != ',' && *s != '\n' && *s != '\r')
            sift_buf_putc(&b, *s++);
    }
    if (*s == '\r')
        s++;
    *eol = (*s == '\n' || *s == '\0');
    if (*s)
        s++;
    *p = s;
    sift_buf_cstr(&b);
    return sift_buf_detach(&b, NULL);
}

#endif /* SIFT_BENCH_LOGHUB_LOAD_H */
