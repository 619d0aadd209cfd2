/*
 * role.h - the roles a caller may hold, lowest first.  The HTTP server
 * checks them per route (http.h), the token table grants them (auth.h),
 * and saved searches record the role that owns each one (saved.h), so
 * the enum lives below all three.  Which role may call what is
 * sift_auth_role_allows() (auth.h).
 *
 * Header only; any thread.
 */
#ifndef SIFT_ROLE_H
#define SIFT_ROLE_H

enum sift_role {
    SIFT_ROLE_NONE = 0,   /* open to all (healthz) */
    SIFT_ROLE_READER = 1, /* search, aggregations, tail, grafana */
    SIFT_ROLE_WRITER = 2, /* ingest */
    SIFT_ROLE_ADMIN = 3,  /* delete, reload, feedback */
    SIFT_ROLE_NODE = 4,   /* a cluster peer ([cluster] token): the reader
                           * routes, nothing else (docs/cluster.md) */
};

#endif /* SIFT_ROLE_H */
