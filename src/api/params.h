/*
 * params.h - what the HTTP handlers share to read their parameters: the
 * endpoints' parameter tables and time bounds given as JSON values
 * (bodies of POST endpoints, Grafana).
 *
 * Loop thread (pure helpers; any thread would do).
 */
#ifndef SIFT_API_PARAMS_INT_H
#define SIFT_API_PARAMS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "sift/http.h"

struct sift_query_error;

/** The query parameters of _bulk (also /<index>/_bulk) and of one
 * Elasticsearch document (/<index>/_doc). */
extern const struct sift_http_param sift__api_bulk_params[];
extern const struct sift_http_param sift__api_doc_params[];

/**
 * The parameter table of the endpoint at path ("/api/v1/search"), or NULL
 * for a path siftd does not serve.  Static.
 */
const struct sift_http_param *sift__api_params(const char *path);

/**
 * The table of the keys a JSON body of the endpoint at path may hold:
 * its own body table (delete, alert feedback), else its query-string
 * table (search and the aggregations take both), or NULL.  Static.
 */
const struct sift_http_param *sift__api_body_params(const char *path);

struct sift_http_req;

/**
 * Checks every key of the JSON body root of req against the endpoint's
 * body table (sift__api_body_params()): unknown keys and bad values are
 * answered with a 400 naming them, and SIFT_EINVAL is returned (the
 * request is then finished).  null values count as absent.  Returns
 * SIFT_OK when the body is fine (or root is not an object).  Loop thread.
 */
int sift__api_body_check(struct sift_http_req *req, const json_t *root);

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

#endif /* SIFT_API_PARAMS_INT_H */
