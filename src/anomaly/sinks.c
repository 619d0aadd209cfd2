/*
 * sinks.c - alert delivery: webhook (HTTP POST through libevent's HTTP
 * client, with a timeout and retries) and Redis (PUBLISH and/or XADD
 * through hiredis' async API on the same event base).
 *
 * Design.  sift_alert_sinks_send() formats the alert once
 * (sift_alert_to_json) and hands a copy to each configured sink.  The
 * webhook keeps one evhttp_connection (libevent queues requests on it);
 * a delivery that fails (no response, timeout, non-2xx) is re-sent after
 * 250 ms * 2^attempt until `retries` re-sends are used up, then counted
 * as failed.  Redis connects lazily and reconnects on the next send after
 * a disconnect; a send while disconnected is counted as failed (alerts
 * are also kept by the alerts store, so nothing is lost for the API).
 * Kafka: one librdkafka producer (idempotent off, acks=all by default);
 * each alert is produced with the series name as key, so one series'
 * alerts stay in order on one partition.  rd_kafka_produce only queues;
 * librdkafka's threads send, and a 100 ms timer on the loop polls the
 * delivery reports (counters) on the loop thread.
 *
 * Thread: loop thread only (libevent and hiredis callbacks run there).
 * Deliveries still in flight at free time are dropped with the
 * connection (evhttp frees queued requests without calling back) and
 * released from the inflight list.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/sinks.h"

struct sift_alert_sinks {
    struct event_base *base;
    /* webhook */
    struct evhttp_uri *uri;
    struct evhttp_connection *conn;
    char *host_hdr;
    char *path;
    int64_t timeout_ms;
    uint32_t retries;
    /* redis */
    char *redis_host;
    int redis_port;
    char *redis_channel;
    char *redis_stream;
    redisAsyncContext *rc;
    /* kafka */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    struct event *kafka_poll;
    int closing;
    struct sift_sinks_stats stats;
    struct delivery *inflight; /* list of webhook deliveries not done */
};

struct delivery {
    struct sift_alert_sinks *s;
    char *body;
    size_t len;
    uint32_t attempt;
    struct event *timer;
    struct delivery *prev, *next;
};

static void webhook_send(struct delivery *d);

static void
delivery_free(struct delivery *d)
{
    if (d->timer)
        event_free(d->timer);
    if (d->prev)
        d->prev->next = d->next;
    else
        d->s->inflight = d->next;
    if (d->next)
        d->next->prev = d->prev;
    sift_free(d->body);
    sift_free(d);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    webhook_send(arg);
}

static void
webhook_done(struct evhttp_request *req, void *arg)
{
    struct delivery *d = arg;
    struct sift_alert_sinks *s = d->s;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (code >= 200 && code < 300) {
        s->stats.webhook_sent++;
        delivery_free(d);
        return;
    }
    if (s->closing || d->attempt >= s->retries) {
        SIFT_WARN("alerts: webhook delivery failed (HTTP %d) after %u tries",
                  code, d->attempt + 1);
        s->stats.webhook_failed++;
        delivery_free(d);
        return;
    }
    d->attempt++;
    s->stats.webhook_retries++;
    int64_t ms = 250LL << (d->attempt - 1 < 6 ? d->attempt - 1 : 6);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    if (!d->timer)
        d->timer = evtimer_new(s->base, retry_cb, d);
    evtimer_add(d->timer, &tv);
}

static void
webhook_send(struct delivery *d)
{
    struct sift_alert_sinks *s = d->s;
    struct evhttp_request *req = evhttp_request_new(webhook_done, d);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", s->host_hdr);
    evhttp_add_header(h, "Content-Type", "application/json");
    evbuffer_add(evhttp_request_get_output_buffer(req), d->body, d->len);
    /* On failure evhttp calls webhook_done(NULL) itself. */
    (void)evhttp_make_request(s->conn, req, EVHTTP_REQ_POST, s->path);
}

static int
webhook_init(struct sift_alert_sinks *s, const char *url)
{
    s->uri = evhttp_uri_parse(url);
    const char *host = s->uri ? evhttp_uri_get_host(s->uri) : NULL;
    const char *scheme = s->uri ? evhttp_uri_get_scheme(s->uri) : NULL;
    if (!host || !scheme || strcmp(scheme, "http") != 0) {
        SIFT_ERROR("alerts: webhook url %s: need http://host[:port]/path", url);
        return SIFT_ECONFIG;
    }
    int port = evhttp_uri_get_port(s->uri);
    if (port < 0)
        port = 80;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "%s:%d", host, port);
    s->host_hdr = sift_xstrdup(sift_buf_cstr(&b));
    sift_buf_reset(&b);
    const char *path = evhttp_uri_get_path(s->uri);
    const char *query = evhttp_uri_get_query(s->uri);
    sift_buf_appendf(&b, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
                     query ? query : "");
    s->path = sift_xstrdup(sift_buf_cstr(&b));
    sift_buf_cleanup(&b);
    s->conn = evhttp_connection_base_new(s->base, NULL, host, (uint16_t)port);
    if (!s->conn)
        return SIFT_ENOMEM;
    int secs = (int)((s->timeout_ms + 999) / 1000);
    evhttp_connection_set_timeout(s->conn, secs > 0 ? secs : 1);
    return SIFT_OK;
}

static void
redis_on_connect(const redisAsyncContext *ac, int status)
{
    struct sift_alert_sinks *s = ac->data;
    if (status != REDIS_OK) {
        SIFT_WARN("alerts: redis %s:%d: %s", s->redis_host, s->redis_port,
                  ac->errstr);
        s->rc = NULL; /* hiredis frees the context after this callback */
    }
}

static void
redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sift_alert_sinks *s = ac->data;
    if (status != REDIS_OK && !s->closing)
        SIFT_WARN("alerts: redis disconnected: %s", ac->errstr);
    s->rc = NULL;
}

static void
redis_connect(struct sift_alert_sinks *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->redis_host, s->redis_port);
    if (!ac || ac->err) {
        SIFT_WARN("alerts: redis connect %s:%d: %s", s->redis_host,
                  s->redis_port, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    ac->data = s;
    redisLibeventAttach(ac, s->base);
    redisAsyncSetConnectCallback(ac, redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
    s->rc = ac;
}

static void
redis_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct sift_alert_sinks *s = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        s->stats.redis_failed++;
        if (reply)
            SIFT_WARN("alerts: redis: %s", reply->str);
    } else {
        s->stats.redis_sent++;
    }
}

static int
redis_init(struct sift_alert_sinks *s, const char *address)
{
    const char *colon = strrchr(address, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 6379;
    if (colon && (end == colon + 1 || *end || port <= 0 || port > 65535)) {
        SIFT_ERROR("alerts: bad redis address %s", address);
        return SIFT_ECONFIG;
    }
    s->redis_host = colon ? sift_xstrndup(address, (size_t)(colon - address))
                          : sift_xstrdup(address);
    s->redis_port = (int)port;
    redis_connect(s);
    return SIFT_OK;
}

/* Delivery report: runs inside rd_kafka_poll(), on the loop thread. */
static void
kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct sift_alert_sinks *s = opaque;
    (void)rk;
    if (m->err) {
        s->stats.kafka_failed++;
        SIFT_WARN("alerts: kafka delivery failed: %s",
                  rd_kafka_err2str(m->err));
    } else {
        s->stats.kafka_sent++;
    }
}

static void
kafka_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sift_alert_sinks *s = arg;
    (void)fd;
    (void)what;
    rd_kafka_poll(s->rk, 0);
}

/* Applies "k=v,k=v" to conf.  Returns SIFT_OK or SIFT_ECONFIG (logged). */
static int
kafka_props(rd_kafka_conf_t *conf, const char *props)
{
    char err[256];
    const char *p = props;
    while (p && *p) {
        size_t len = strcspn(p, ",");
        const char *eq = memchr(p, '=', len);
        if (len > 0) {
            if (!eq || eq == p) {
                SIFT_ERROR("alerts: kafka property \"%.*s\": expected k=v",
                           (int)len, p);
                return SIFT_ECONFIG;
            }
            char *k = sift_xstrndup(p, (size_t)(eq - p));
            char *v = sift_xstrndup(eq + 1, len - (size_t)(eq - p) - 1);
            rd_kafka_conf_res_t r =
                rd_kafka_conf_set(conf, k, v, err, sizeof(err));
            sift_free(k);
            sift_free(v);
            if (r != RD_KAFKA_CONF_OK) {
                SIFT_ERROR("alerts: kafka property \"%.*s\": %s", (int)len, p,
                           err);
                return SIFT_ECONFIG;
            }
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return SIFT_OK;
}

/* librdkafka's own lines through our log (else it writes raw to stderr). */
static void
kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    sift_log_syslog(level == 6 ? 7 : level, "alerts: kafka", fac, buf);
}

static int
kafka_init(struct sift_alert_sinks *s, const struct sift_alert_sinks_cfg *cfg)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, err,
                          sizeof(err)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
        SIFT_ERROR("alerts: kafka: %s", err);
        rd_kafka_conf_destroy(conf);
        return SIFT_ECONFIG;
    }
    if (kafka_props(conf, cfg->kafka_properties) < 0) {
        rd_kafka_conf_destroy(conf);
        return SIFT_ECONFIG;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_dr);
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    rd_kafka_conf_set_opaque(conf, s);
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!s->rk) { /* conf is still ours on failure */
        SIFT_ERROR("alerts: kafka producer: %s", err);
        rd_kafka_conf_destroy(conf);
        return SIFT_ECONFIG;
    }
    s->rkt = rd_kafka_topic_new(s->rk, cfg->kafka_topic, NULL);
    if (!s->rkt) {
        SIFT_ERROR("alerts: kafka topic %s: %s", cfg->kafka_topic,
                   rd_kafka_err2str(rd_kafka_last_error()));
        return SIFT_ECONFIG;
    }
    s->kafka_poll = event_new(s->base, -1, EV_PERSIST, kafka_poll_cb, s);
    struct timeval tv = {0, 100 * 1000};
    evtimer_add(s->kafka_poll, &tv);
    return SIFT_OK;
}

static void
kafka_send(struct sift_alert_sinks *s, const struct sift_alert *al,
           const char *body, size_t len)
{
    int rc = rd_kafka_produce(s->rkt, RD_KAFKA_PARTITION_UA,
                              RD_KAFKA_MSG_F_COPY, (void *)(uintptr_t)body, len,
                              al->series, strlen(al->series), NULL);
    if (rc != 0) {
        s->stats.kafka_failed++;
        SIFT_WARN("alerts: kafka produce: %s",
                  rd_kafka_err2str(rd_kafka_last_error()));
    }
}

int
sift_alert_sinks_kafka_pending(const struct sift_alert_sinks *s)
{
    return s->rk ? rd_kafka_outq_len(s->rk) : 0;
}

int
sift_alert_sinks_new(struct event_base *base,
                     const struct sift_alert_sinks_cfg *cfg,
                     struct sift_alert_sinks **out)
{
    struct sift_alert_sinks *s = sift_xcalloc(1, sizeof(*s));
    s->base = base;
    s->timeout_ms =
        cfg->webhook_timeout_ms > 0 ? cfg->webhook_timeout_ms : 5000;
    s->retries = cfg->webhook_retries;
    int rc = SIFT_OK;
    if (cfg->webhook_url && *cfg->webhook_url) {
        rc = webhook_init(s, cfg->webhook_url);
        if (rc < 0)
            goto out;
    }
    int want_redis = (cfg->redis_channel && *cfg->redis_channel) ||
                     (cfg->redis_stream && *cfg->redis_stream);
    if (want_redis && cfg->redis_address && *cfg->redis_address) {
        if (cfg->redis_channel && *cfg->redis_channel)
            s->redis_channel = sift_xstrdup(cfg->redis_channel);
        if (cfg->redis_stream && *cfg->redis_stream)
            s->redis_stream = sift_xstrdup(cfg->redis_stream);
        rc = redis_init(s, cfg->redis_address);
        if (rc < 0)
            goto out;
    }
    if (cfg->kafka_brokers && *cfg->kafka_brokers && cfg->kafka_topic &&
        *cfg->kafka_topic)
        rc = kafka_init(s, cfg);
out:
    if (rc < 0) {
        sift_alert_sinks_free(s);
        return rc;
    }
    *out = s;
    return SIFT_OK;
}

void
sift_alert_sinks_send(struct sift_alert_sinks *s, enum sift_alert_event ev,
                      const struct sift_alert *al)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_alert_to_json(al, &b);
    /* The event name rides along so receivers see fire/update/resolve. */
    b.len--; /* drop the closing brace */
    sift_buf_appendf(&b, ",\"event\":\"%s\"}",
                     ev == SIFT_ALERT_EV_FIRE     ? "fire"
                     : ev == SIFT_ALERT_EV_UPDATE ? "update"
                                                  : "resolve");
    if (s->conn) {
        struct delivery *d = sift_xcalloc(1, sizeof(*d));
        d->s = s;
        d->body = sift_xstrndup(b.data, b.len);
        d->len = b.len;
        d->next = s->inflight;
        if (s->inflight)
            s->inflight->prev = d;
        s->inflight = d;
        webhook_send(d);
    }
    if (s->redis_host) {
        if (!s->rc)
            redis_connect(s);
        if (!s->rc) {
            s->stats.redis_failed++;
        } else {
            if (s->redis_channel)
                redisAsyncCommand(s->rc, redis_reply, NULL, "PUBLISH %s %b",
                                  s->redis_channel, b.data, b.len);
            if (s->redis_stream)
                redisAsyncCommand(s->rc, redis_reply, NULL,
                                  "XADD %s * alert %b", s->redis_stream, b.data,
                                  b.len);
        }
    }
    if (s->rkt)
        kafka_send(s, al, b.data, b.len);
    sift_buf_cleanup(&b);
}

void
sift_alert_sinks_stats(const struct sift_alert_sinks *s,
                       struct sift_sinks_stats *out)
{
    *out = s->stats;
}

void
sift_alert_sinks_free(struct sift_alert_sinks *s)
{
    if (!s)
        return;
    s->closing = 1;
    if (s->kafka_poll)
        event_free(s->kafka_poll);
    if (s->rk) {
        /* Give queued alerts a bounded chance; reports run in here. */
        if (rd_kafka_flush(s->rk, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            SIFT_WARN("alerts: kafka: %d alert(s) not delivered at stop",
                      rd_kafka_outq_len(s->rk));
        if (s->rkt)
            rd_kafka_topic_destroy(s->rkt);
        rd_kafka_destroy(s->rk);
    }
    if (s->rc)
        redisAsyncFree(s->rc); /* replies get NULL; disconnect cb runs */
    if (s->conn)
        evhttp_connection_free(s->conn); /* drops queued requests, no cb */
    while (s->inflight) {
        s->stats.webhook_failed++;
        delivery_free(s->inflight);
    }
    if (s->uri)
        evhttp_uri_free(s->uri);
    sift_free(s->host_hdr);
    sift_free(s->path);
    sift_free(s->redis_host);
    sift_free(s->redis_channel);
    sift_free(s->redis_stream);
    sift_free(s);
}
