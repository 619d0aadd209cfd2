/*
 * params.c - reading request parameters the same way on every endpoint:
 * time bounds given as JSON values.
 *
 * Design: strings go through the one request-time parser
 * (sift_query_time_parse(), src/query/time.c); numbers are printed back to
 * their decimal digits and read by the same parser, so 1714557600 and
 * "1714557600" are the same instant (seconds, by magnitude) whichever
 * endpoint receives them.
 *
 * Threads: pure; called on the loop thread.
 */
#include <stdio.h>
#include <string.h>

#include "api/params.h"
#include "sift/error.h"
#include "sift/query.h"

int
sift__api_time_json(const char *name, const json_t *v, int64_t now_ns,
                    int64_t dflt, int64_t *out, char *text, size_t text_len,
                    struct sift_query_error *err)
{
    char num[64];
    const char *s = NULL;
    if (text_len > 0)
        text[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        *out = dflt;
        return SIFT_OK;
    }
    if (json_is_string(v)) {
        s = json_string_value(v);
    } else if (json_is_integer(v)) {
        snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    } else if (json_is_real(v)) {
        snprintf(num, sizeof(num), "%.17g", json_real_value(v));
        s = num;
    } else {
        err->type = "bad_request";
        err->status = 400;
        err->position = -1;
        snprintf(err->reason, sizeof(err->reason),
                 "invalid '%s': expected a string or a number", name);
        return SIFT_EINVAL;
    }
    if (text_len > 0)
        snprintf(text, text_len, "%s", s);
    return sift_query_time_bound(name, s, now_ns, out, err);
}
