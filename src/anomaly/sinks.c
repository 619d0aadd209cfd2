/*
 * sinks.c - alert delivery: webhook (HTTP POST through libevent's HTTP
 * client), Redis (PUBLISH and/or XADD through hiredis' async API) and
 * Kafka (librdkafka), each fed from its own persistent outbox.
 *
 * Design.  sift_alert_sinks_send() renders the notification once per
 * sink (sift's JSON or Alertmanager's body for the webhook) and appends
 * it to that sink's outbox (outbox.c: DATA_DIR/outbox/<sink>.log) before
 * anything is sent, so a restart or kill -9 loses nothing queued.  Each
 * sink is one `struct target`: a dispatcher walks its outbox oldest
 * first and starts tries while fewer than max_inflight are under way,
 * skipping items still backing off and any later item of an alert that
 * has an earlier one undelivered (one alert's fire, update and resolve
 * arrive in order).  A try ends in complete(): delivered -> done; failed
 * -> the failure is persisted (the retry budget survives restarts) and
 * the item waits backoff * 2^(attempts-1), capped, with equal jitter
 * (half fixed, half random) so retries of a burst spread out; after
 * `retries` re-tries, or at once for a refusal that cannot heal (HTTP
 * 4xx other than 408 and 429), it is dead-lettered with its cause
 * (DATA_DIR/outbox/dead.ndjson).  Every failure is logged with the
 * sink, the alert id, the notification key and the cause.
 *
 * Delivery is at-least-once: a try that reached the receiver but whose
 * answer was lost (timeout, kill -9 before the done line) is sent again,
 * with the same key (body "key", header Idempotency-Key / Kafka header
 * "idempotency-key"), so receivers can drop the duplicate.
 *
 * Webhook: max_inflight evhttp connections (one request each at a time).
 * Redis: one connection; a try is MULTI, PUBLISH, XADD, EXEC when both
 * targets are set (so they succeed or fail together), else the one
 * command; not connected = a failed try (a reconnect is started).
 * Kafka: one producer (message.timeout.ms 30 s unless the properties set
 * it); a try is one produce whose delivery report completes it.  A 100 ms
 * timer on the loop polls the reports and syncs the outboxes.
 *
 * Invariants: an item is in flight in at most one try; n_inflight counts
 * the items with inflight set; completions find their item by seq, so a
 * completion for an item that is gone (dead-lettered meanwhile) is
 * ignored.
 *
 * Thread: loop thread only (libevent, hiredis and the Kafka delivery
 * reports run there).  At free, tries in flight are abandoned and stay
 * queued for the next run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "sift/alert_format.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/outbox.h"
#include "sift/sinks.h"

#define SYNC_MS 100 /* outbox fdatasync and Kafka poll period */
#define WALK_MAX 4096
#define BLOCKED_SLOTS 1024

struct sift_alert_sinks;
struct target;

/* Starts a try of it; on a synchronous failure returns < 0 with cause
 * filled (the caller completes it). */
typedef int (*begin_fn)(struct target *t, struct sift_outbox_item *it,
                        char *cause, size_t cause_len);

struct target {
    struct sift_alert_sinks *s;
    enum sift_sink_id id;
    struct sift_outbox *ob;
    unsigned max_inflight, n_inflight;
    struct event *wake;
    begin_fn begin;
    struct sift_sink_stats st;
};

struct wh_conn {
    struct target *t;
    struct evhttp_connection *conn;
    uint64_t seq; /* the item in flight; 0 = idle */
    enum evhttp_request_error err;
    int have_err;
};

struct sift_alert_sinks {
    struct event_base *base;
    struct target tg[SIFT_SINK_COUNT];
    int on[SIFT_SINK_COUNT];
    uint32_t retries;
    int64_t backoff_ms, backoff_max_ms;
    uint64_t rng;
    /* webhook */
    struct evhttp_uri *uri;
    struct wh_conn *conns;
    char *host_hdr;
    char *path;
    char *host;
    int port;
    int64_t timeout_ms;
    enum sift_webhook_format format;
    char *external_url;
    /* redis */
    char *redis_host;
    int redis_port;
    char *redis_channel;
    char *redis_stream;
    redisAsyncContext *rc;
    /* kafka */
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    struct event *tick;
    int closing;
};

static const char *const sink_names[SIFT_SINK_COUNT] = {"webhook", "redis",
                                                        "kafka"};

const char *
sift_sink_name(enum sift_sink_id id)
{
    return (unsigned)id < SIFT_SINK_COUNT ? sink_names[id] : "?";
}

int
sift_webhook_format_parse(const char *s, enum sift_webhook_format *out)
{
    if (strcmp(s, "sift") == 0)
        *out = SIFT_WEBHOOK_SIFT;
    else if (strcmp(s, "alertmanager") == 0)
        *out = SIFT_WEBHOOK_ALERTMANAGER;
    else
        return SIFT_EINVAL;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Scheduling (every sink)                                              */
/* ------------------------------------------------------------------ */

static uint64_t
next_rand(struct sift_alert_sinks *s)
{
    uint64_t x = s->rng; /* xorshift64 */
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    return x;
}

/* Back-off before try attempts+1: backoff * 2^(attempts-1), capped, half
 * of it fixed and half random. */
static int64_t
backoff_ms(struct sift_alert_sinks *s, uint32_t attempts)
{
    int64_t d = s->backoff_ms;
    for (uint32_t i = 1; i < attempts && d < s->backoff_max_ms; i++)
        d *= 2;
    if (d > s->backoff_max_ms)
        d = s->backoff_max_ms;
    int64_t half = d / 2;
    return d - half + (int64_t)(next_rand(s) % (uint64_t)(half + 1));
}

static void dispatch(struct target *t);

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    dispatch(arg);
}

static void
arm(struct target *t, int64_t delay_ns)
{
    if (delay_ns < 0)
        delay_ns = 0;
    struct timeval tv = {(time_t)(delay_ns / 1000000000),
                         (suseconds_t)(delay_ns % 1000000000 / 1000)};
    evtimer_add(t->wake, &tv);
}

/* Open-addressing set of alert ids for one dispatcher walk. */
struct blocked {
    uint64_t v[BLOCKED_SLOTS];
    unsigned n;
};

static int
blocked_has(const struct blocked *b, uint64_t id)
{
    unsigned h = (unsigned)(id * 0x9E3779B97F4A7C15ull >> 54);
    for (unsigned i = 0; i < BLOCKED_SLOTS; i++) {
        uint64_t x = b->v[(h + i) % BLOCKED_SLOTS];
        if (x == 0)
            return 0;
        if (x == id + 1)
            return 1;
    }
    return 0;
}

/* Returns 0 when the set is full. */
static int
blocked_add(struct blocked *b, uint64_t id)
{
    if (b->n >= BLOCKED_SLOTS / 2)
        return 0;
    unsigned h = (unsigned)(id * 0x9E3779B97F4A7C15ull >> 54);
    for (unsigned i = 0; i < BLOCKED_SLOTS; i++) {
        uint64_t *x = &b->v[(h + i) % BLOCKED_SLOTS];
        if (*x == id + 1)
            return 1;
        if (*x == 0) {
            *x = id + 1;
            b->n++;
            return 1;
        }
    }
    return 0;
}

static void complete(struct target *t, uint64_t seq, int ok, const char *cause,
                     int permanent);

static void
dispatch(struct target *t)
{
    if (!t->ob || t->s->closing)
        return;
    struct blocked *blk = sift_xcalloc(1, sizeof(*blk));
    int64_t now = sift_clock_mono_ns();
    int64_t next_wake = INT64_MAX;
    size_t pos = 0;
    unsigned walked = 0;
    struct sift_outbox_item *it;
    while (t->n_inflight < t->max_inflight && walked++ < WALK_MAX &&
           (it = sift_outbox_next(t->ob, &pos)) != NULL) {
        if (blocked_has(blk, it->alert_id))
            continue; /* an earlier notification of this alert is pending */
        int eligible = !it->inflight && it->not_before_mono <= now;
        if (!it->inflight && !eligible && it->not_before_mono < next_wake)
            next_wake = it->not_before_mono;
        if (!blocked_add(blk, it->alert_id))
            break;
        if (!eligible)
            continue;
        char cause[160] = "";
        it->inflight = 1;
        t->n_inflight++;
        if (it->attempts > 0)
            t->st.retries++;
        uint64_t seq = it->seq;
        if (t->begin(t, it, cause, sizeof(cause)) < 0) {
            complete(t, seq, 0, cause, 0);
            /* complete() changed the outbox: walk again from the start */
            pos = 0;
            memset(blk, 0, sizeof(*blk));
        }
    }
    sift_free(blk);
    if (next_wake != INT64_MAX)
        arm(t, next_wake - now);
}

/* A try of item seq ended.  permanent: the receiver refused it for good. */
static void
complete(struct target *t, uint64_t seq, int ok, const char *cause,
         int permanent)
{
    struct sift_alert_sinks *s = t->s;
    struct sift_outbox_item *it = sift_outbox_find(t->ob, seq);
    if (!it || !it->inflight)
        return;
    it->inflight = 0;
    t->n_inflight--;
    if (s->closing)
        return; /* abandoned: stays queued for the next run */
    if (ok) {
        if (it->attempts > 0)
            SIFT_INFO("alerts: %s: alert %" PRIu64 " (%s, key %s) delivered "
                      "after %" PRIu32 " failed tr%s",
                      sink_names[t->id], it->alert_id, it->event, it->key,
                      it->attempts, it->attempts == 1 ? "y" : "ies");
        t->st.sent++;
        sift_outbox_done(t->ob, it);
    } else {
        t->st.tries_failed++;
        sift_outbox_failed(t->ob, it, cause);
        if (permanent || it->attempts > s->retries) {
            SIFT_ERROR("alerts: %s: alert %" PRIu64 " (%s, key %s) "
                       "dead-lettered after %" PRIu32 " tr%s: %s",
                       sink_names[t->id], it->alert_id, it->event, it->key,
                       it->attempts, it->attempts == 1 ? "y" : "ies", cause);
            t->st.dead++;
            sift_outbox_dead(t->ob, it, cause);
        } else {
            int64_t ms = backoff_ms(s, it->attempts);
            it->not_before_mono = sift_clock_mono_ns() + ms * 1000000;
            SIFT_WARN("alerts: %s: alert %" PRIu64 " (%s, key %s) not "
                      "delivered: %s; try %" PRIu32 " of %" PRIu32
                      " in %" PRId64 " ms",
                      sink_names[t->id], it->alert_id, it->event, it->key,
                      cause, it->attempts + 1, s->retries + 1, ms);
        }
    }
    t->st.pending = sift_outbox_pending(t->ob);
    arm(t, 0); /* dispatch again, outside the sink's own callback */
}

/* ------------------------------------------------------------------ */
/* Webhook                                                              */
/* ------------------------------------------------------------------ */

static void
webhook_err(enum evhttp_request_error err, void *arg)
{
    struct wh_conn *c = arg;
    c->err = err;
    c->have_err = 1;
}

static void
webhook_done(struct evhttp_request *req, void *arg)
{
    struct wh_conn *c = arg;
    struct target *t = c->t;
    uint64_t seq = c->seq;
    c->seq = 0;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    char cause[160];
    int permanent = 0;
    if (code >= 200 && code < 300) {
        c->have_err = 0;
        complete(t, seq, 1, "", 0);
        return;
    }
    if (code > 0) {
        const char *line = evhttp_request_get_response_code_line(req);
        permanent = code >= 400 && code < 500 && code != 408 && code != 429;
        snprintf(cause, sizeof(cause), "HTTP %d %s%s", code, line ? line : "",
                 permanent ? " (not retried: the receiver refused it)" : "");
    } else if (c->have_err && c->err == EVREQ_HTTP_TIMEOUT) {
        snprintf(cause, sizeof(cause), "no answer within %" PRId64 " ms",
                 t->s->timeout_ms);
    } else if (c->have_err && c->err == EVREQ_HTTP_EOF) {
        snprintf(cause, sizeof(cause),
                 "connection refused or closed before an answer");
    } else if (c->have_err) {
        snprintf(cause, sizeof(cause), "HTTP client error %d", (int)c->err);
    } else {
        snprintf(cause, sizeof(cause), "connection refused or failed");
    }
    c->have_err = 0;
    complete(t, seq, 0, cause, permanent);
}

static int
webhook_begin(struct target *t, struct sift_outbox_item *it, char *cause,
              size_t cause_len)
{
    struct sift_alert_sinks *s = t->s;
    struct wh_conn *c = NULL;
    for (unsigned i = 0; i < t->max_inflight && !c; i++) {
        if (s->conns[i].seq == 0)
            c = &s->conns[i];
    }
    if (!c) { /* cannot happen: n_inflight < max_inflight */
        snprintf(cause, cause_len, "no free connection");
        return SIFT_EBUSY;
    }
    if (!c->conn) {
        c->conn = evhttp_connection_base_new(s->base, NULL, s->host,
                                             (uint16_t)s->port);
        if (!c->conn) {
            snprintf(cause, cause_len, "cannot create a connection");
            return SIFT_ENOMEM;
        }
        int secs = (int)((s->timeout_ms + 999) / 1000);
        evhttp_connection_set_timeout(c->conn, secs > 0 ? secs : 1);
        evhttp_connection_set_retries(c->conn, 0);
    }
    struct evhttp_request *req = evhttp_request_new(webhook_done, c);
    if (!req) {
        snprintf(cause, cause_len, "out of memory");
        return SIFT_ENOMEM;
    }
    evhttp_request_set_error_cb(req, webhook_err);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", s->host_hdr);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Idempotency-Key", it->key);
    evhttp_add_header(h, "User-Agent", "siftd");
    evbuffer_add(evhttp_request_get_output_buffer(req), it->body, it->body_len);
    c->seq = it->seq;
    c->have_err = 0;
    if (evhttp_make_request(c->conn, req, EVHTTP_REQ_POST, s->path) != 0) {
        c->seq = 0; /* evhttp freed req without calling back */
        snprintf(cause, cause_len, "cannot send the request");
        return SIFT_EIO;
    }
    return SIFT_OK;
}

static int
webhook_init(struct sift_alert_sinks *s, const struct sift_alert_sinks_cfg *cfg)
{
    const char *url = cfg->webhook_url;
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
    s->host = sift_xstrdup(host);
    s->port = port;
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
    unsigned n = cfg->webhook_concurrency > 0 ? cfg->webhook_concurrency : 1;
    s->conns = sift_xcalloc(n, sizeof(*s->conns));
    for (unsigned i = 0; i < n; i++)
        s->conns[i].t = &s->tg[SIFT_SINK_WEBHOOK];
    s->tg[SIFT_SINK_WEBHOOK].max_inflight = n;
    s->tg[SIFT_SINK_WEBHOOK].begin = webhook_begin;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Redis                                                                */
/* ------------------------------------------------------------------ */

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

/* The reply of a try's last command (EXEC, or the one command). */
static void
redis_reply(redisAsyncContext *ac, void *r, void *priv)
{
    struct sift_alert_sinks *s = ac->data;
    redisReply *reply = r;
    uint64_t seq = (uint64_t)(uintptr_t)priv;
    char cause[160];
    if (!reply) {
        snprintf(cause, sizeof(cause), "redis connection lost: %s",
                 ac->errstr[0] ? ac->errstr : "closed");
        complete(&s->tg[SIFT_SINK_REDIS], seq, 0, cause, 0);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        snprintf(cause, sizeof(cause), "redis: %s", reply->str);
        complete(&s->tg[SIFT_SINK_REDIS], seq, 0, cause, 0);
        return;
    }
    if (reply->type == REDIS_REPLY_NIL) {
        complete(&s->tg[SIFT_SINK_REDIS], seq, 0, "redis: EXEC aborted", 0);
        return;
    }
    if (reply->type == REDIS_REPLY_ARRAY) { /* EXEC: every command's reply */
        for (size_t i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_ERROR) {
                snprintf(cause, sizeof(cause), "redis: %s",
                         reply->element[i]->str);
                complete(&s->tg[SIFT_SINK_REDIS], seq, 0, cause, 0);
                return;
            }
        }
    }
    complete(&s->tg[SIFT_SINK_REDIS], seq, 1, "", 0);
}

static int
redis_begin(struct target *t, struct sift_outbox_item *it, char *cause,
            size_t cause_len)
{
    struct sift_alert_sinks *s = t->s;
    if (!s->rc)
        redis_connect(s);
    if (!s->rc) {
        snprintf(cause, cause_len, "redis %s:%d: not connected", s->redis_host,
                 s->redis_port);
        return SIFT_EIO;
    }
    void *priv = (void *)(uintptr_t)it->seq;
    int both = s->redis_channel && s->redis_stream;
    int rc = REDIS_OK;
    if (both)
        rc = redisAsyncCommand(s->rc, NULL, NULL, "MULTI");
    if (rc == REDIS_OK && s->redis_channel)
        rc = redisAsyncCommand(s->rc, both ? NULL : redis_reply,
                               both ? NULL : priv, "PUBLISH %s %b",
                               s->redis_channel, it->body, it->body_len);
    if (rc == REDIS_OK && s->redis_stream)
        rc = redisAsyncCommand(s->rc, both ? NULL : redis_reply,
                               both ? NULL : priv, "XADD %s * alert %b",
                               s->redis_stream, it->body, it->body_len);
    if (rc == REDIS_OK && both)
        rc = redisAsyncCommand(s->rc, redis_reply, priv, "EXEC");
    if (rc != REDIS_OK) {
        snprintf(cause, cause_len, "redis: cannot queue the command");
        return SIFT_EIO;
    }
    return SIFT_OK;
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
    s->tg[SIFT_SINK_REDIS].max_inflight = 64;
    s->tg[SIFT_SINK_REDIS].begin = redis_begin;
    redis_connect(s);
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Kafka                                                                */
/* ------------------------------------------------------------------ */

/* Delivery report: runs inside rd_kafka_poll(), on the loop thread. */
static void
kafka_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct sift_alert_sinks *s = opaque;
    (void)rk;
    uint64_t seq = (uint64_t)(uintptr_t)m->_private;
    if (m->err) {
        char cause[160];
        snprintf(cause, sizeof(cause), "kafka: %s", rd_kafka_err2str(m->err));
        complete(&s->tg[SIFT_SINK_KAFKA], seq, 0, cause, 0);
    } else {
        complete(&s->tg[SIFT_SINK_KAFKA], seq, 1, "", 0);
    }
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
kafka_begin(struct target *t, struct sift_outbox_item *it, char *cause,
            size_t cause_len)
{
    struct sift_alert_sinks *s = t->s;
    /* rd_kafka_produceva, not producev: the RD_KAFKA_V_* macros are GNU
     * statement expressions, which clang's -Werror build refuses. */
    rd_kafka_vu_t vu[6];
    memset(vu, 0, sizeof(vu));
    vu[0].vtype = RD_KAFKA_VTYPE_RKT;
    vu[0].u.rkt = s->rkt;
    vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[1].u.i = RD_KAFKA_MSG_F_COPY;
    vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[2].u.mem.ptr = it->body;
    vu[2].u.mem.size = it->body_len;
    vu[3].vtype = RD_KAFKA_VTYPE_KEY;
    vu[3].u.mem.ptr = it->route;
    vu[3].u.mem.size = strlen(it->route);
    vu[4].vtype = RD_KAFKA_VTYPE_HEADER;
    vu[4].u.header.name = "idempotency-key";
    vu[4].u.header.val = it->key;
    vu[4].u.header.size = (ssize_t)strlen(it->key);
    vu[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[5].u.ptr = (void *)(uintptr_t)it->seq;
    rd_kafka_error_t *err = rd_kafka_produceva(s->rk, vu, 6);
    if (err) {
        snprintf(cause, cause_len, "kafka produce: %s",
                 rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
        return SIFT_EIO;
    }
    return SIFT_OK;
}

static int
kafka_init(struct sift_alert_sinks *s, const struct sift_alert_sinks_cfg *cfg)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, err,
                          sizeof(err)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof(err)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "message.timeout.ms", "30000", err,
                          sizeof(err)) != RD_KAFKA_CONF_OK) {
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
    s->tg[SIFT_SINK_KAFKA].max_inflight = 1000;
    s->tg[SIFT_SINK_KAFKA].begin = kafka_begin;
    return SIFT_OK;
}

int
sift_alert_sinks_kafka_pending(const struct sift_alert_sinks *s)
{
    return s->rk ? rd_kafka_outq_len(s->rk) : 0;
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */
/* ------------------------------------------------------------------ */

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sift_alert_sinks *s = arg;
    (void)fd;
    (void)what;
    if (s->rk)
        rd_kafka_poll(s->rk, 0);
    for (int i = 0; i < SIFT_SINK_COUNT; i++) {
        if (s->tg[i].ob)
            sift_outbox_sync(s->tg[i].ob);
    }
}

static int
open_target(struct sift_alert_sinks *s, enum sift_sink_id id,
            const struct sift_alert_sinks_cfg *cfg)
{
    struct target *t = &s->tg[id];
    struct sift_outbox_report rep;
    int rc = sift_outbox_open(cfg->data_dir, sink_names[id],
                              cfg->outbox_max > 0 ? cfg->outbox_max : 1, &t->ob,
                              &rep);
    if (rc < 0)
        return rc;
    t->wake = evtimer_new(s->base, wake_cb, t);
    t->st.enabled = 1;
    t->st.restored = rep.restored;
    t->st.damaged = rep.damaged;
    t->st.pending = rep.restored;
    s->on[id] = 1;
    if (rep.restored > 0)
        arm(t, 0);
    return SIFT_OK;
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
    s->retries = cfg->retries;
    s->backoff_ms = cfg->backoff_ms > 0 ? cfg->backoff_ms : 1000;
    s->backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 300000;
    if (s->backoff_max_ms < s->backoff_ms)
        s->backoff_max_ms = s->backoff_ms;
    s->format = cfg->webhook_format;
    s->external_url = sift_xstrdup(cfg->external_url ? cfg->external_url : "");
    s->rng = (uint64_t)sift_clock_mono_ns() ^ ((uint64_t)getpid() << 32) ^
             0x2545F4914F6CDD1Dull;
    if (s->rng == 0)
        s->rng = 1;
    for (int i = 0; i < SIFT_SINK_COUNT; i++) {
        s->tg[i].s = s;
        s->tg[i].id = (enum sift_sink_id)i;
    }
    int rc = SIFT_OK;
    if (cfg->webhook_url && *cfg->webhook_url) {
        rc = webhook_init(s, cfg);
        if (rc == SIFT_OK)
            rc = open_target(s, SIFT_SINK_WEBHOOK, cfg);
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
        if (rc == SIFT_OK)
            rc = open_target(s, SIFT_SINK_REDIS, cfg);
        if (rc < 0)
            goto out;
    }
    if (cfg->kafka_brokers && *cfg->kafka_brokers && cfg->kafka_topic &&
        *cfg->kafka_topic) {
        rc = kafka_init(s, cfg);
        if (rc == SIFT_OK)
            rc = open_target(s, SIFT_SINK_KAFKA, cfg);
        if (rc < 0)
            goto out;
    }
    s->tick = event_new(s->base, -1, EV_PERSIST, tick_cb, s);
    struct timeval tv = {0, SYNC_MS * 1000L};
    evtimer_add(s->tick, &tv);
out:
    if (rc < 0) {
        sift_alert_sinks_free(s);
        return rc;
    }
    *out = s;
    return SIFT_OK;
}

static const char *
event_name(enum sift_alert_event ev)
{
    return ev == SIFT_ALERT_EV_FIRE     ? "fire"
           : ev == SIFT_ALERT_EV_UPDATE ? "update"
                                        : "resolve";
}

void
sift_alert_sinks_send(struct sift_alert_sinks *s, enum sift_alert_event ev,
                      const struct sift_alert *al)
{
    struct sift_buf key = SIFT_BUF_INIT;
    sift_alert_notification_key(al, &key);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_alert_to_json(al, &b);
    /* The event name and key ride along: receivers see fire/update/
     * resolve and can drop a re-sent notification by its key. */
    b.len--; /* drop the closing brace */
    sift_buf_appendf(&b, ",\"event\":\"%s\",\"key\":", event_name(ev));
    sift_buf_put_json_str(&b, key.data, key.len);
    sift_buf_putc(&b, '}');
    for (int i = 0; i < SIFT_SINK_COUNT; i++) {
        struct target *t = &s->tg[i];
        if (!t->ob)
            continue;
        struct sift_buf am = SIFT_BUF_INIT;
        const struct sift_buf *body = &b;
        if (i == SIFT_SINK_WEBHOOK && s->format == SIFT_WEBHOOK_ALERTMANAGER) {
            sift_alert_to_alertmanager(al, ev, s->external_url, &am);
            body = &am;
        }
        sift_outbox_put(t->ob, al->id, sift_buf_cstr(&key), event_name(ev),
                        al->series, body->data, body->len);
        sift_buf_cleanup(&am);
        t->st.pending = sift_outbox_pending(t->ob);
        dispatch(t);
    }
    sift_buf_cleanup(&b);
    sift_buf_cleanup(&key);
}

void
sift_alert_sinks_stats(const struct sift_alert_sinks *s,
                       struct sift_sinks_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < SIFT_SINK_COUNT; i++) {
        out->sink[i] = s->tg[i].st;
        if (s->tg[i].ob)
            out->sink[i].pending = sift_outbox_pending(s->tg[i].ob);
    }
    out->webhook_sent = out->sink[SIFT_SINK_WEBHOOK].sent;
    out->webhook_failed = out->sink[SIFT_SINK_WEBHOOK].dead;
    out->webhook_retries = out->sink[SIFT_SINK_WEBHOOK].retries;
    out->redis_sent = out->sink[SIFT_SINK_REDIS].sent;
    out->redis_failed = out->sink[SIFT_SINK_REDIS].dead;
    out->kafka_sent = out->sink[SIFT_SINK_KAFKA].sent;
    out->kafka_failed = out->sink[SIFT_SINK_KAFKA].dead;
}

uint64_t
sift_alert_sinks_pending(const struct sift_alert_sinks *s)
{
    uint64_t n = 0;
    for (int i = 0; s && i < SIFT_SINK_COUNT; i++) {
        if (s->tg[i].ob)
            n += sift_outbox_pending(s->tg[i].ob);
    }
    return n;
}

void
sift_alert_sinks_free(struct sift_alert_sinks *s)
{
    if (!s)
        return;
    if (s->rk) {
        /* Give queued alerts a bounded chance; reports run in here and
         * finish their items in the outbox. */
        if (rd_kafka_flush(s->rk, 2000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            SIFT_WARN("alerts: kafka: %d alert(s) not confirmed at stop; "
                      "they stay in the outbox and are sent again at start",
                      rd_kafka_outq_len(s->rk));
    }
    s->closing = 1;
    if (s->tick)
        event_free(s->tick);
    if (s->rk) {
        if (s->rkt)
            rd_kafka_topic_destroy(s->rkt);
        rd_kafka_destroy(s->rk);
    }
    if (s->rc)
        redisAsyncFree(s->rc); /* replies get NULL; disconnect cb runs */
    if (s->conns) {
        for (unsigned i = 0; i < s->tg[SIFT_SINK_WEBHOOK].max_inflight; i++) {
            if (s->conns[i].conn) /* drops its request, no callback */
                evhttp_connection_free(s->conns[i].conn);
        }
        sift_free(s->conns);
    }
    for (int i = 0; i < SIFT_SINK_COUNT; i++) {
        if (s->tg[i].wake)
            event_free(s->tg[i].wake);
        sift_outbox_close(s->tg[i].ob);
    }
    if (s->uri)
        evhttp_uri_free(s->uri);
    sift_free(s->host);
    sift_free(s->host_hdr);
    sift_free(s->path);
    sift_free(s->external_url);
    sift_free(s->redis_host);
    sift_free(s->redis_channel);
    sift_free(s->redis_stream);
    sift_free(s);
}
