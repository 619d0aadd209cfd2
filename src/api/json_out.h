/*
 * json_out.h - writes a jansson value the way every siftd reply writes
 * JSON (the handlers that build a jansson tree, Grafana's, use it instead
 * of json_dumps()).
 *
 * Pure; any thread.
 */
#ifndef SIFT_API_JSON_OUT_H
#define SIFT_API_JSON_OUT_H

#include <jansson.h>

struct sift_buf;

/**
 * Appends v to b as compact JSON: object members in their order, strings
 * through sift_buf_put_json_str() (valid UTF-8), integers exactly, reals
 * as the shortest text that reads back as the same double
 * (sift_buf_put_json_double(): 0.2, not jansson's 0.20000000000000001;
 * integral reals without ".0").  v NULL appends null.  Recursion is as
 * deep as v, which jansson's parser bounds (2048 levels).
 */
void sift__api_put_json(struct sift_buf *b, const json_t *v);

#endif /* SIFT_API_JSON_OUT_H */
