/*
 * fuzz_query.c - libFuzzer target for the query lexer, parser and planner.
 *
 * Any byte string must either parse (and then dump and free cleanly) or
 * fail with a positioned error inside the input; never crash, leak or
 * recurse without bound.  The same bytes are also fed to the time parser.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/query.h"
#include "sift/time.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sift_query *q = NULL;
    struct sift_query_error err = {0};
    struct sift_query_limits lim = {.max_query_bytes = 4096,
                                    .max_expansion = 1000};
    int rc = sift_query_parse((const char *)data, size, &lim, &q, &err);
    if (rc == SIFT_OK) {
        struct sift_buf b = SIFT_BUF_INIT;
        sift_query_dump(q, &b);
        sift_buf_cleanup(&b);
        /* Every warning is a string of the query's arena. */
        for (size_t i = 0; i < sift_query_warning_count(q); i++)
            if (strlen(sift_query_warning(q, i)) == 0)
                abort();
        sift_query_free(q);
    } else {
        /* Errors must point inside the query (or at its end). */
        if (err.position > (int32_t)size || err.type == NULL)
            abort();
    }
    if (size < 64) {
        char s[64];
        memcpy(s, data, size);
        s[size] = '\0';
        int64_t v, f, t;
        if (sift_query_time_parse(s, 0, &v) == SIFT_OK) {
            struct sift_buf b = SIFT_BUF_INIT;
            sift_time_format_rfc3339(v, 9, &b);
            sift_buf_cleanup(&b);
        }
        /* Bound errors and the reversed-range rule format their reasons. */
        struct sift_query_error terr;
        (void)sift_query_time_range(s, "now-1h/d", 0, &f, &t, &terr);
    }
    return 0;
}
