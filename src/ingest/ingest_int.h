/*
 * ingest_int.h - helpers shared by the ingest sources (not public).
 */
#ifndef SIFT_INGEST_INT_H
#define SIFT_INGEST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "sift/source.h"

/**
 * Splits a comma list into trimmed, non-empty owned strings.  *out is an
 * owned array of *n_out owned strings; release with
 * sift__ingest_list_free().
 */
void sift__ingest_split(const char *list, char ***out, size_t *n_out);
void sift__ingest_list_free(char **v, size_t n);

/** Parses "host:port" (port defaults to 6379).  host is owned. */
int sift__ingest_parse_addr(const char *addr, char **host, int *port);

/** The consumer name: redis.consumer, else the hostname.  Owned. */
char *sift__ingest_consumer_name(const struct sift_config *cfg);

/** Next backoff delay: doubles from 100 ms up to 5 s. */
uint32_t sift__ingest_backoff_next(uint32_t cur_ms);

#endif /* SIFT_INGEST_INT_H */
