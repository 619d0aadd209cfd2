/*
 * source.c - the source-independent part of ingest: the ops dispatch,
 * creating every source the configuration turns on, and small helpers
 * (comma lists, addresses, backoff) the sources share.
 *
 * Design: each source embeds struct sift_source first and fills its ops
 * table; main only ever calls the sift_source_* wrappers below, so adding
 * a source never touches the core.  Loop thread only.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/source.h"

#include "ingest/ingest_int.h"

void
sift__ingest_split(const char *list, char ***out, size_t *n_out)
{
    char **v = NULL;
    size_t n = 0;
    const char *p = list ? list : "";

    while (*p) {
        const char *end = strchr(p, ',');
        const char *stop = end ? end : p + strlen(p);
        const char *a = p, *b = stop;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if (b > a) {
            v = sift_xrealloc(v, (n + 1) * sizeof(*v));
            v[n++] = sift_xstrndup(a, (size_t)(b - a));
        }
        p = end ? end + 1 : stop;
    }
    *out = v;
    *n_out = n;
}

const char *
sift__ingest_syslog_list(const struct sift_config *cfg, int transport)
{
    return transport == SIFT_SYSLOG_UDP   ? cfg->syslog_udp
           : transport == SIFT_SYSLOG_TLS ? cfg->syslog_tls
                                          : cfg->syslog_tcp;
}

void
sift__ingest_list_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sift_free(v[i]);
    sift_free(v);
}

int
sift__ingest_parse_addr(const char *addr, char **host, int *port)
{
    const char *colon = strrchr(addr, ':');
    long p = 6379;

    if (colon) {
        char *end = NULL;
        errno = 0;
        p = strtol(colon + 1, &end, 10);
        if (errno || end == colon + 1 || *end || p <= 0 || p > 65535)
            return SIFT_ECONFIG;
    } else {
        colon = addr + strlen(addr);
    }
    if (colon == addr)
        return SIFT_ECONFIG;
    *host = sift_xstrndup(addr, (size_t)(colon - addr));
    *port = (int)p;
    return SIFT_OK;
}

char *
sift__ingest_consumer_name(const struct sift_config *cfg, const char *node_id)
{
    char host[256];

    if (cfg->redis_consumer && cfg->redis_consumer[0])
        return sift_xstrdup(cfg->redis_consumer);
    /* In a cluster every node needs a name of its own in the group, also
     * two nodes on one host: the node id. */
    if (cfg->cluster_peers && cfg->cluster_peers[0] && node_id && node_id[0])
        return sift_xstrdup(node_id);
    if (gethostname(host, sizeof(host)) != 0)
        return sift_xstrdup("siftd");
    host[sizeof(host) - 1] = '\0';
    return sift_xstrdup(host);
}

uint32_t
sift__ingest_backoff_next(uint32_t cur_ms)
{
    if (cur_ms < 100)
        return 100;
    return cur_ms >= 2500 ? 5000 : cur_ms * 2;
}

int
sift_source_create_all(const struct sift_source_env *env,
                       struct sift_source ***out, size_t *n_out)
{
    const struct sift_config *cfg = env->cfg;
    struct sift_source **v = NULL;
    size_t n = 0;
    int rc = SIFT_OK;

    *out = NULL;
    *n_out = 0;
    if (cfg->kafka_brokers && cfg->kafka_brokers[0]) {
        struct sift_source *s = NULL;
        rc = sift_source_kafka_new(env, &s);
        if (rc < 0)
            goto out;
        v = sift_xrealloc(v, (n + 1) * sizeof(*v));
        v[n++] = s;
    }
    if (cfg->redis_address && cfg->redis_address[0]) {
        char **names = NULL;
        size_t n_names = 0;
        for (int kind = 0; kind < 2 && rc == SIFT_OK; kind++) {
            sift__ingest_split(kind == 0 ? cfg->redis_streams
                                         : cfg->redis_lists,
                               &names, &n_names);
            for (size_t i = 0; i < n_names && rc == SIFT_OK; i++) {
                struct sift_source *s = NULL;
                rc = kind == 0 ? sift_source_redis_stream_new(env, names[i], &s)
                               : sift_source_redis_list_new(env, names[i], &s);
                if (rc == SIFT_OK) {
                    v = sift_xrealloc(v, (n + 1) * sizeof(*v));
                    v[n++] = s;
                }
            }
            sift__ingest_list_free(names, n_names);
        }
        if (rc < 0)
            goto out;
    }
    for (int t = SIFT_SYSLOG_TCP; t <= SIFT_SYSLOG_TLS && rc == SIFT_OK; t++) {
        struct sift_config_listener *addrs = NULL;
        size_t n_addrs = 0;
        char why[200];
        rc = sift_config_listeners(sift__ingest_syslog_list(cfg, t), &addrs,
                                   &n_addrs, why, sizeof(why));
        if (rc < 0) {
            SIFT_ERROR("syslog listeners: %s", why);
            rc = SIFT_ECONFIG;
        }
        for (size_t i = 0; i < n_addrs && rc == SIFT_OK; i++) {
            struct sift_source *s = NULL;
            rc = sift_source_syslog_new(env, addrs[i].addr,
                                        (enum sift_syslog_transport)t, &s);
            if (rc == SIFT_OK) {
                v = sift_xrealloc(v, (n + 1) * sizeof(*v));
                v[n++] = s;
            }
        }
        sift_config_listeners_free(addrs, n_addrs);
    }
    if (rc < 0)
        goto out;
    *out = v;
    *n_out = n;
    v = NULL;
    n = 0;
out:
    for (size_t i = 0; i < n; i++)
        sift_source_free(v[i]);
    sift_free(v);
    return rc;
}

int
sift_source_start(struct sift_source *src)
{
    return src->ops->start(src);
}

void
sift_source_pause(struct sift_source *src)
{
    src->ops->pause(src);
}

void
sift_source_stop(struct sift_source *src)
{
    src->ops->stop(src);
}

void
sift_source_stats(struct sift_source *src, struct sift_source_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->lag = -1;
    src->ops->stats(src, out);
}

void
sift_source_parts(struct sift_source *src, sift_source_part_cb cb, void *arg)
{
    src->ops->parts(src, cb, arg);
}

int
sift_source_settled(struct sift_source *src, const char *key)
{
    return src->ops->settled ? src->ops->settled(src, key) : 1;
}

const char *
sift_source_label(const struct sift_source *src)
{
    return src->label;
}

void
sift_source_free(struct sift_source *src)
{
    if (src)
        src->ops->free(src);
}
