/*
 * check.c - the ingest settings that only librdkafka can judge, checked
 * without connecting anywhere: for `siftd --check-config`, which must
 * refuse what the start would refuse (issue 16).
 *
 * Design: a throw-away rd_kafka_conf_t takes every kafka.properties entry
 * (as the consumer and the alerts producer both do); librdkafka says
 * which names it does not know and which values it rejects.  The Redis
 * addresses and the alerts webhook URL are parsed as the start parses
 * them.  Every problem is reported, not only the first.
 *
 * Threads: any; nothing is shared.
 */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <librdkafka/rdkafka.h>

#include "ingest_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/source.h"

/* A host:port the start would refuse. */
static int
check_addr(const char *key, const char *addr, sift_config_error_cb cb,
           void *arg)
{
    char *host = NULL;
    int port = 0;
    if (!addr || !addr[0])
        return SIFT_OK;
    if (sift__ingest_parse_addr(addr, &host, &port) == SIFT_OK) {
        sift_free(host);
        return SIFT_OK;
    }
    struct sift_buf msg = SIFT_BUF_INIT;
    sift_buf_appendf(&msg, "%s: '%s' is not host[:port]", key, addr);
    cb(sift_buf_cstr(&msg), arg);
    sift_buf_cleanup(&msg);
    return SIFT_ECONFIG;
}

/* The alerts webhook: http://host[:port]/path, as the sink needs it. */
/* librdkafka's notes on the properties (CONFWARN) through our log. */
static void
check_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    sift_log_syslog(level, "kafka", fac, buf);
}

static int
check_webhook(const char *url, sift_config_error_cb cb, void *arg)
{
    if (!url || !url[0])
        return SIFT_OK;
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *host = u ? evhttp_uri_get_host(u) : NULL;
    const char *scheme = u ? evhttp_uri_get_scheme(u) : NULL;
    int ok = host && host[0] && scheme && strcmp(scheme, "http") == 0;
    if (u)
        evhttp_uri_free(u);
    if (ok)
        return SIFT_OK;
    struct sift_buf msg = SIFT_BUF_INIT;
    sift_buf_appendf(
        &msg, "alerts.webhook_url: '%s': need http://host[:port]/path", url);
    cb(sift_buf_cstr(&msg), arg);
    sift_buf_cleanup(&msg);
    return SIFT_ECONFIG;
}

/* Each syslog listen address: host:port with its port, before the
 * listener's own name=value fields (sift_config_listeners() reads the
 * grammar, the same reader as the config check). */
static int
check_listen(const char *key, const char *list, sift_config_error_cb cb,
             void *arg)
{
    struct sift_config_listener *v = NULL;
    size_t n = 0;
    char why[200];
    int rc = SIFT_OK;
    if (sift_config_listeners(list, &v, &n, why, sizeof(why)) < 0) {
        struct sift_buf msg = SIFT_BUF_INIT;
        sift_buf_appendf(&msg, "%s: %s", key, why);
        cb(sift_buf_cstr(&msg), arg);
        sift_buf_cleanup(&msg);
        return SIFT_ECONFIG;
    }
    for (size_t i = 0; i < n; i++) {
        char *host = NULL;
        int port = 0;
        const char *addr = v[i].addr;
        int ok = strchr(addr, ':') &&
                 sift__ingest_parse_addr(addr, &host, &port) == SIFT_OK;
        sift_free(host);
        if (ok)
            continue;
        struct sift_buf msg = SIFT_BUF_INIT;
        sift_buf_appendf(&msg, "%s: '%s' is not host:port", key, addr);
        cb(sift_buf_cstr(&msg), arg);
        sift_buf_cleanup(&msg);
        rc = SIFT_ECONFIG;
    }
    sift_config_listeners_free(v, n);
    return rc;
}

int
sift_source_check_config(const struct sift_config *cfg, sift_config_error_cb cb,
                         void *arg)
{
    int rc = SIFT_OK;
    if (check_listen("syslog.tcp", cfg->syslog_tcp, cb, arg) < 0)
        rc = SIFT_ECONFIG;
    if (check_listen("syslog.udp", cfg->syslog_udp, cb, arg) < 0)
        rc = SIFT_ECONFIG;
    if (check_addr("redis.address", cfg->redis_address, cb, arg) < 0)
        rc = SIFT_ECONFIG;
    if (check_addr("alerts.redis_address", cfg->alert_redis_address, cb, arg) <
        0)
        rc = SIFT_ECONFIG;
    if (check_webhook(cfg->alert_webhook_url, cb, arg) < 0)
        rc = SIFT_ECONFIG;
    if (!cfg->kafka_properties || !cfg->kafka_properties[0])
        return rc;
    char **kv = NULL;
    size_t n = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, check_log);
    sift__ingest_split(cfg->kafka_properties, &kv, &n);
    for (size_t i = 0; i < n; i++) {
        struct sift_buf msg = SIFT_BUF_INIT;
        char errstr[512];
        char *eq = strchr(kv[i], '=');
        if (!eq || eq == kv[i]) {
            sift_buf_appendf(&msg, "kafka.properties: '%s' is not key=value",
                             kv[i]);
        } else {
            *eq = '\0';
            if (rd_kafka_conf_set(conf, kv[i], eq + 1, errstr,
                                  sizeof(errstr)) != RD_KAFKA_CONF_OK)
                sift_buf_appendf(&msg, "kafka.properties: %s: %s", kv[i],
                                 errstr);
        }
        if (msg.len) {
            cb(sift_buf_cstr(&msg), arg);
            rc = SIFT_ECONFIG;
        }
        sift_buf_cleanup(&msg);
    }
    sift__ingest_list_free(kv, n);
    rd_kafka_conf_destroy(conf);
    return rc;
}
