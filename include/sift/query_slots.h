/*
 * query_slots.h - the queries in flight that the query endpoints share.
 *
 * [limits] max_concurrent_queries bounds the queries running at once over
 * search, aggregations, export and the Grafana datasource together.  main
 * owns one struct sift_query_slots and gives it to both endpoint objects
 * (search_api.h, grafana.h); api/query_job.c takes and gives back the
 * slots.  Zero-initialised is empty.
 *
 * Loop thread only: slots are taken and given back on the loop, so the
 * count needs no atomics.
 */
#ifndef SIFT_QUERY_SLOTS_H
#define SIFT_QUERY_SLOTS_H

struct sift_query_slots {
    unsigned inflight; /* queries holding a slot now */
};

#endif /* SIFT_QUERY_SLOTS_H */
