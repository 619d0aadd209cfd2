/*
 * json_out.c - jansson values written as siftd writes JSON
 * (src/api/json_out.h).
 *
 * Design: jansson's own json_dumps() prints reals with 17 significant
 * digits (0.2 becomes 0.20000000000000001), which the search API and
 * /metrics never do; this walker writes the same tree with the project's
 * number and string writers (core/buf.c), so a value reads the same in a
 * Grafana reply as in a search reply.
 *
 * Invariants: the output is valid compact JSON for any tree jansson
 * holds (NaN and infinities cannot be jansson reals; they would be null).
 *
 * Threads: pure; any thread.
 */
#include <inttypes.h>
#include <string.h>

#include "sift/buf.h"

#include "api/json_out.h"

void
sift__api_put_json(struct sift_buf *b, const json_t *v)
{
    const char *key;
    json_t *e;
    size_t i;
    switch (v != NULL ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT:
        sift_buf_putc(b, '{');
        i = 0;
        json_object_foreach((json_t *)(uintptr_t)v, key, e)
        {
            if (i++ > 0)
                sift_buf_putc(b, ',');
            sift_buf_put_json_str(b, key, strlen(key));
            sift_buf_putc(b, ':');
            sift__api_put_json(b, e);
        }
        sift_buf_putc(b, '}');
        break;
    case JSON_ARRAY:
        sift_buf_putc(b, '[');
        json_array_foreach(v, i, e)
        {
            if (i > 0)
                sift_buf_putc(b, ',');
            sift__api_put_json(b, e);
        }
        sift_buf_putc(b, ']');
        break;
    case JSON_STRING:
        sift_buf_put_json_str(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sift_buf_appendf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: sift_buf_put_json_double(b, json_real_value(v)); break;
    case JSON_TRUE: sift_buf_append(b, "true", 4); break;
    case JSON_FALSE: sift_buf_append(b, "false", 5); break;
    case JSON_NULL:
    default: sift_buf_append(b, "null", 4); break;
    }
}
