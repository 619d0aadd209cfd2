/*
 * api_params.h - the parameter tables of the HTTP endpoints, for main:
 * attaching them to the router and printing them for the docs.
 *
 * The tables themselves are in src/api/params.c (one per endpoint).
 */
#ifndef SIFT_API_PARAMS_H
#define SIFT_API_PARAMS_H

#include <stdio.h>

struct sift_http;

/**
 * Attaches every endpoint's parameter table to the routes registered on
 * http, so the router validates their query strings (see
 * sift_http_route_params()).  Call after every module has registered its
 * routes.  Loop thread, at start-up.
 */
void sift_api_params_attach(struct sift_http *http);

/**
 * Writes every table as a Markdown block between "<!-- BEGIN GENERATED
 * PARAMS <path> -->" and "<!-- END GENERATED PARAMS -->" lines, the
 * blocks the user docs embed (`siftd --print-api-params`).
 */
void sift_api_params_print(FILE *out);

#endif /* SIFT_API_PARAMS_H */
