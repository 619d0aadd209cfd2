/*
 * params.h - what the HTTP handlers share to read their parameters: time
 * bounds given as JSON values (bodies of POST endpoints, Grafana).
 *
 * Loop thread (pure helpers; any thread would do).
 */
#ifndef SIFT_API_PARAMS_H
#define SIFT_API_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct sift_query_error;

/**
 * A time bound given as a JSON value: a string (sift_query_time_parse())
 * or a number (an epoch number, unit by magnitude, as a string of the same
 * digits would be).  v NULL or JSON null gives dflt.  text[0..text_len)
 * receives the value as written (for error messages naming both ends).
 * Returns SIFT_OK, or SIFT_EINVAL with err filled (400 naming name).
 */
int sift__api_time_json(const char *name, const json_t *v, int64_t now_ns,
                        int64_t dflt, int64_t *out, char *text, size_t text_len,
                        struct sift_query_error *err);

#endif /* SIFT_API_PARAMS_H */
