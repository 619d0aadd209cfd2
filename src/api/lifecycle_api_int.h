/*
 * lifecycle_api_int.h - the delete-by-query request as lifecycle_api.c
 * reads it, shared only with its unit test (tests/unit/test_lifecycle_api.c).
 *
 * Loop thread (pure helpers).
 */
#ifndef SIFT_API_LIFECYCLE_API_INT_H
#define SIFT_API_LIFECYCLE_API_INT_H

#include <stddef.h>

#include <jansson.h>

/* A POST /api/v1/delete body, borrowed from its jansson object. */
struct delete_req {
    const char *query;
    size_t query_len;
    json_t *from, *to; /* NULL when absent or null */
    int dry_run, all_time, match_all, force_rewrite;
};

#define NEED_ALL_TIME 1u  /* no from/to: "all_time": true needed */
#define NEED_MATCH_ALL 2u /* the query matches all: "match_all": true */

#if defined(SIFT_UNIT_TESTS)
/** The known key an unknown one probably means ("start" -> "from"), or
 * NULL. */
const char *delete_key_suggest(const char *key);
/**
 * Reads the body object root (borrowed): known keys only, each of its
 * type.  Returns SIFT_OK, or SIFT_EINVAL with why set (the 400 reason)
 * and *type the error type ("unknown_parameter", "bad_request").
 */
int delete_req_parse(json_t *root, struct delete_req *out, const char **type,
                     char *why, size_t why_len);
/** The NEED_* confirmations r lacks, given whether its query matches
 * every event. */
unsigned delete_needs(const struct delete_req *r, int matches_all);
#endif

#endif /* SIFT_API_LIFECYCLE_API_INT_H */
