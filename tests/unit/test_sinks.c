/*
 * test_sinks.c - webhook sink against a real evhttp listener on loopback,
 * in the same event base: delivery, JSON body with its notification key,
 * retries with back-off after a 500, dead letter after the last try, a
 * 404 dead-lettered at once, a notification queued while the receiver is
 * away delivered by the next run (persistent outbox), Alertmanager's
 * body; Kafka sink against librdkafka's in-process mock cluster, read
 * back with a real consumer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/sinks.h"

struct listener {
    struct event_base *base;
    int n_req;
    int fail_first; /* answer 500 to this many requests */
    int code;       /* answer this instead of 200 (0 = 200) */
    char last[4096];
    char key[64]; /* Idempotency-Key of the last request */
};

static char data_dir[64];

static int
make_dir(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof(data_dir), "/tmp/sift-test-sinks-XXXXXX");
    assert_non_null(mkdtemp(data_dir));
    return 0;
}

static int
remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", data_dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void
on_req(struct evhttp_request *req, void *arg)
{
    struct listener *l = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n >= sizeof(l->last))
        n = sizeof(l->last) - 1;
    evbuffer_copyout(in, l->last, n);
    l->last[n] = '\0';
    const char *k = evhttp_find_header(evhttp_request_get_input_headers(req),
                                       "Idempotency-Key");
    snprintf(l->key, sizeof(l->key), "%s", k ? k : "");
    l->n_req++;
    if (l->n_req <= l->fail_first) {
        evhttp_send_reply(req, 500, "no", NULL);
        return;
    }
    if (l->code) {
        evhttp_send_reply(req, l->code, "Refused", NULL);
        return;
    }
    evhttp_send_reply(req, 200, "OK", NULL);
}

/* A listener on a free loopback port; url receives its URL. */
static struct evhttp *
listen_on(struct listener *l, char *url, size_t url_len)
{
    struct evhttp *http = evhttp_new(l->base);
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(sock);
    evhttp_set_gencb(http, on_req, l);
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof(ss);
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    snprintf(url, url_len, "http://127.0.0.1:%d/hook", port);
    return http;
}

static void
sample_alert(struct sift_alert *al)
{
    memset(al, 0, sizeof(*al));
    al->id = 42;
    snprintf(al->series, sizeof(al->series), "service=api level=error");
    al->kind = SIFT_ALERT_SPIKE;
    al->state = SIFT_ALERT_FIRING;
    al->score = 88;
    al->transitions = 1;
    al->started_ns = 1700000000000000000;
}

static struct sift_alert_sinks_cfg
webhook_cfg(const char *url)
{
    struct sift_alert_sinks_cfg cfg = {.data_dir = data_dir,
                                       .webhook_url = url,
                                       .webhook_timeout_ms = 2000,
                                       .webhook_concurrency = 2,
                                       .retries = 3,
                                       .backoff_ms = 10,
                                       .backoff_max_ms = 40,
                                       .outbox_max = 100};
    return cfg;
}

/* Runs base until the sinks hold nothing (at most ~10 s). */
static void
drain(struct event_base *base, struct sift_alert_sinks *s)
{
    for (int i = 0; i < 200 && sift_alert_sinks_pending(s) > 0; i++) {
        struct timeval tick = {0, 50000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
    assert_int_equal(sift_alert_sinks_pending(s), 0);
}

static void
run_case(int fail_first, int code)
{
    struct listener l;
    memset(&l, 0, sizeof(l));
    l.fail_first = fail_first;
    l.code = code;
    l.base = event_base_new();
    char url[128];
    struct evhttp *http = listen_on(&l, url, sizeof(url));
    struct sift_alert_sinks_cfg cfg = webhook_cfg(url);
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(l.base, &cfg, &s), SIFT_OK);
    struct sift_alert al;
    sample_alert(&al);
    sift_alert_sinks_send(s, SIFT_ALERT_EV_FIRE, &al);
    drain(l.base, s);
    assert_non_null(strstr(l.last, "\"id\":42"));
    assert_non_null(strstr(l.last, "\"event\":\"fire\""));
    assert_non_null(strstr(l.last, "\"kind\":\"spike\""));
    assert_non_null(strstr(l.last, "\"key\":\"42-1-1700000000000\""));
    assert_string_equal(l.key, "42-1-1700000000000");
    struct sift_sinks_stats st;
    sift_alert_sinks_stats(s, &st);
    int dead = fail_first > 3 || code != 0;
    assert_int_equal(l.n_req, code ? 1 : dead ? 4 : fail_first + 1);
    assert_int_equal(st.webhook_sent, dead ? 0 : 1);
    assert_int_equal(st.webhook_failed, dead ? 1 : 0);
    assert_int_equal(st.sink[SIFT_SINK_WEBHOOK].tries_failed,
                     (uint64_t)(code   ? 1
                                : dead ? 4
                                       : fail_first));
    sift_alert_sinks_free(s);
    char path[128];
    snprintf(path, sizeof(path), "%s/outbox/dead.ndjson", data_dir);
    FILE *f = fopen(path, "r");
    assert_int_equal(f != NULL, dead);
    if (f) {
        char line[8192];
        assert_non_null(fgets(line, sizeof(line), f));
        assert_non_null(strstr(line, "\"alert\":42"));
        assert_non_null(strstr(line, code ? "\"cause\":\"HTTP 404 Refused"
                                          : "\"cause\":\"HTTP 500 no\""));
        fclose(f);
    }
    evhttp_free(http);
    event_base_free(l.base);
}

static void
test_sinks_webhook_delivers(void **state)
{
    (void)state;
    run_case(0, 0);
}

static void
test_sinks_webhook_retries_after_500(void **state)
{
    (void)state;
    run_case(2, 0);
}

static void
test_sinks_webhook_dead_letter_after_last_try(void **state)
{
    (void)state;
    run_case(100, 0);
}

static void
test_sinks_webhook_404_not_retried(void **state)
{
    (void)state;
    run_case(0, 404);
}

/* Nobody listens: the notification waits in the outbox, and the next
 * run (a new sinks object on the same data dir) delivers it. */
static void
test_sinks_outbox_survives_restart(void **state)
{
    (void)state;
    struct listener l;
    memset(&l, 0, sizeof(l));
    l.base = event_base_new();
    char url[128];
    struct evhttp *http = listen_on(&l, url, sizeof(url));
    evhttp_free(http); /* the port is closed now */
    struct sift_alert_sinks_cfg cfg = webhook_cfg(url);
    cfg.retries = 1000;
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(l.base, &cfg, &s), SIFT_OK);
    struct sift_alert al;
    sample_alert(&al);
    sift_alert_sinks_send(s, SIFT_ALERT_EV_FIRE, &al);
    struct sift_sinks_stats st;
    for (int i = 0; i < 200; i++) {
        struct timeval tick = {0, 20000};
        event_base_loopexit(l.base, &tick);
        event_base_dispatch(l.base);
        sift_alert_sinks_stats(s, &st);
        if (st.sink[SIFT_SINK_WEBHOOK].tries_failed >= 2)
            break;
    }
    assert_true(st.sink[SIFT_SINK_WEBHOOK].tries_failed >= 2);
    assert_int_equal(sift_alert_sinks_pending(s), 1);
    sift_alert_sinks_free(s);

    /* Same port, receiver back. */
    http = evhttp_new(l.base);
    const char *port = strrchr(url, ':') + 1;
    assert_int_equal(
        evhttp_bind_socket(http, "127.0.0.1", (uint16_t)strtol(port, NULL, 10)),
        0);
    evhttp_set_gencb(http, on_req, &l);
    assert_int_equal(sift_alert_sinks_new(l.base, &cfg, &s), SIFT_OK);
    sift_alert_sinks_stats(s, &st);
    assert_int_equal(st.sink[SIFT_SINK_WEBHOOK].restored, 1);
    drain(l.base, s);
    assert_int_equal(l.n_req, 1);
    assert_string_equal(l.key, "42-1-1700000000000");
    sift_alert_sinks_free(s);
    evhttp_free(http);
    event_base_free(l.base);
}

static void
test_sinks_webhook_alertmanager_body(void **state)
{
    (void)state;
    struct listener l;
    memset(&l, 0, sizeof(l));
    l.base = event_base_new();
    char url[128];
    struct evhttp *http = listen_on(&l, url, sizeof(url));
    struct sift_alert_sinks_cfg cfg = webhook_cfg(url);
    cfg.webhook_format = SIFT_WEBHOOK_ALERTMANAGER;
    cfg.external_url = "http://sift.example:7700";
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(l.base, &cfg, &s), SIFT_OK);
    struct sift_alert al;
    sample_alert(&al);
    al.kind = SIFT_ALERT_RULE;
    snprintf(al.rule, sizeof(al.rule), "payments-errors");
    al.severity = SIFT_SEVERITY_CRITICAL;
    snprintf(al.labels, sizeof(al.labels), "{\"team\":\"pay\"}");
    al.value = 57;
    al.threshold = 50;
    al.state = SIFT_ALERT_RESOLVED;
    al.resolved_ns = al.started_ns + 60000000000;
    sift_alert_sinks_send(s, SIFT_ALERT_EV_RESOLVE, &al);
    drain(l.base, s);
    json_error_t jerr;
    json_t *o = json_loads(l.last, 0, &jerr);
    if (!o)
        fprintf(stderr, "%s: %s\n", jerr.text, l.last);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "version")), "4");
    assert_string_equal(json_string_value(json_object_get(o, "status")),
                        "resolved");
    json_t *a = json_array_get(json_object_get(o, "alerts"), 0);
    json_t *lb = json_object_get(a, "labels");
    assert_string_equal(json_string_value(json_object_get(lb, "alertname")),
                        "payments-errors");
    assert_string_equal(json_string_value(json_object_get(lb, "severity")),
                        "critical");
    assert_string_equal(json_string_value(json_object_get(lb, "team")), "pay");
    assert_string_equal(json_string_value(json_object_get(a, "startsAt")),
                        "2023-11-14T22:13:20.000Z");
    assert_string_equal(json_string_value(json_object_get(a, "endsAt")),
                        "2023-11-14T22:14:20.000Z");
    assert_string_equal(json_string_value(json_object_get(a, "generatorURL")),
                        "http://sift.example:7700/api/v1/alerts/42");
    json_t *an = json_object_get(a, "annotations");
    assert_string_equal(json_string_value(json_object_get(an, "sift_key")),
                        "42-1-1700000000000");
    assert_string_equal(l.key, "42-1-1700000000000");
    json_decref(o);
    sift_alert_sinks_free(s);
    evhttp_free(http);
    event_base_free(l.base);
}

static void
test_sinks_bad_url_rejected(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct sift_alert_sinks_cfg cfg = {.data_dir = data_dir,
                                       .webhook_url = "ftp://x/y"};
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(base, &cfg, &s), SIFT_ECONFIG);
    event_base_free(base);
}

static void
test_sinks_bad_kafka_property_rejected(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct sift_alert_sinks_cfg cfg = {.data_dir = data_dir,
                                       .kafka_brokers = "127.0.0.1:1",
                                       .kafka_topic = "alerts",
                                       .kafka_properties = "no.such.prop=1"};
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(base, &cfg, &s), SIFT_ECONFIG);
    event_base_free(base);
}

/* Reads one message of topic from the mock cluster into out. */
static int
consume_one(const char *brokers, const char *topic, char *out, size_t out_len,
            char *key, size_t key_len)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)),
        RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "t", err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "auto.offset.reset", "earliest",
                                       err, sizeof(err)),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    assert_non_null(c);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tl, topic, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(c, tl), 0);
    rd_kafka_topic_partition_list_destroy(tl);
    int got = 0;
    for (int i = 0; i < 100 && !got; i++) { /* at most ~20 s */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (!m->err) {
            size_t n = m->len < out_len - 1 ? m->len : out_len - 1;
            memcpy(out, m->payload, n);
            out[n] = '\0';
            n = m->key_len < key_len - 1 ? m->key_len : key_len - 1;
            memcpy(key, m->key, n);
            key[n] = '\0';
            got = 1;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return got;
}

static void
test_sinks_kafka_produces_to_mock_cluster(void **state)
{
    (void)state;
    char err[256];
    /* The mock cluster hangs off a handle of its own. */
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof(err));
    assert_non_null(mrk);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "sift-alerts", 1, 1), 0);
    const char *brokers = rd_kafka_mock_cluster_bootstraps(mc);

    struct event_base *base = event_base_new();
    struct sift_alert_sinks_cfg cfg = {.data_dir = data_dir,
                                       .outbox_max = 10,
                                       .kafka_brokers = brokers,
                                       .kafka_topic = "sift-alerts",
                                       .kafka_properties = "acks=all"};
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(base, &cfg, &s), SIFT_OK);
    struct sift_alert al;
    memset(&al, 0, sizeof(al));
    al.id = 7;
    snprintf(al.series, sizeof(al.series), "service=pay");
    al.kind = SIFT_ALERT_DROP;
    al.state = SIFT_ALERT_RESOLVED;
    sift_alert_sinks_send(s, SIFT_ALERT_EV_RESOLVE, &al);
    struct sift_sinks_stats st;
    /* The loop's poll timer collects the delivery report. */
    for (int i = 0; i < 200; i++) {
        struct timeval tick = {0, 50000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
        sift_alert_sinks_stats(s, &st);
        if (st.kafka_sent + st.kafka_failed > 0)
            break;
    }
    assert_int_equal(st.kafka_sent, 1);
    assert_int_equal(st.kafka_failed, 0);
    assert_int_equal(sift_alert_sinks_kafka_pending(s), 0);
    sift_alert_sinks_free(s);
    event_base_free(base);

    char body[2048], key[128];
    assert_true(consume_one(brokers, "sift-alerts", body, sizeof(body), key,
                            sizeof(key)));
    assert_string_equal(key, "service=pay");
    assert_non_null(strstr(body, "\"id\":7"));
    assert_non_null(strstr(body, "\"kind\":\"drop\""));
    assert_non_null(strstr(body, "\"event\":\"resolve\""));
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sinks_webhook_delivers, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(test_sinks_webhook_retries_after_500,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(
            test_sinks_webhook_dead_letter_after_last_try, make_dir,
            remove_dir),
        cmocka_unit_test_setup_teardown(test_sinks_webhook_404_not_retried,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_sinks_outbox_survives_restart,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_sinks_webhook_alertmanager_body,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_sinks_bad_url_rejected, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(test_sinks_bad_kafka_property_rejected,
                                        make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(
            test_sinks_kafka_produces_to_mock_cluster, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
