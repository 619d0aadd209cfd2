/*
 * test_sinks.c - webhook sink against a real evhttp listener on loopback,
 * in the same event base: delivery, JSON body, retry after a 500; Kafka
 * sink against librdkafka's in-process mock cluster, read back with a
 * real consumer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/sinks.h"

struct listener {
    struct event_base *base;
    int n_req;
    int fail_first; /* answer 500 to this many requests */
    char last[2048];
};

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
    l->n_req++;
    if (l->n_req <= l->fail_first) {
        evhttp_send_reply(req, 500, "no", NULL);
        return;
    }
    evhttp_send_reply(req, 200, "OK", NULL);
    event_base_loopexit(l->base, NULL);
}

static void
run_case(int fail_first)
{
    struct listener l;
    memset(&l, 0, sizeof(l));
    l.fail_first = fail_first;
    l.base = event_base_new();
    struct evhttp *http = evhttp_new(l.base);
    struct evhttp_bound_socket *sock =
        evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    assert_non_null(sock);
    evhttp_set_gencb(http, on_req, &l);
    struct sockaddr_storage ss;
    ev_socklen_t sl = sizeof(ss);
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &sl);
    int port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);

    struct sift_alert_sinks_cfg cfg = {
        .webhook_url = url, .webhook_timeout_ms = 2000, .webhook_retries = 3};
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(l.base, &cfg, &s), SIFT_OK);
    struct sift_alert al;
    memset(&al, 0, sizeof(al));
    al.id = 42;
    snprintf(al.series, sizeof(al.series), "service=api level=error");
    al.kind = SIFT_ALERT_SPIKE;
    al.state = SIFT_ALERT_FIRING;
    al.score = 88;
    sift_alert_sinks_send(s, SIFT_ALERT_EV_FIRE, &al);
    struct timeval limit = {10, 0};
    event_base_loopexit(l.base, &limit); /* bound the test */
    event_base_dispatch(l.base);
    /* Let the client read the 200 before counting. */
    struct timeval tick = {0, 50000};
    event_base_loopexit(l.base, &tick);
    event_base_dispatch(l.base);
    assert_int_equal(l.n_req, fail_first + 1);
    assert_non_null(strstr(l.last, "\"id\":42"));
    assert_non_null(strstr(l.last, "\"event\":\"fire\""));
    assert_non_null(strstr(l.last, "\"kind\":\"spike\""));
    struct sift_sinks_stats st;
    sift_alert_sinks_stats(s, &st);
    assert_int_equal(st.webhook_sent, 1);
    assert_int_equal(st.webhook_retries, (uint64_t)fail_first);
    assert_int_equal(st.webhook_failed, 0);
    sift_alert_sinks_free(s);
    evhttp_free(http);
    event_base_free(l.base);
}

static void
test_sinks_webhook_delivers(void **state)
{
    (void)state;
    run_case(0);
}

static void
test_sinks_webhook_retries_after_500(void **state)
{
    (void)state;
    run_case(2);
}

static void
test_sinks_bad_url_rejected(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct sift_alert_sinks_cfg cfg = {.webhook_url = "ftp://x/y"};
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(base, &cfg, &s), SIFT_ECONFIG);
    event_base_free(base);
}

static void
test_sinks_bad_kafka_property_rejected(void **state)
{
    (void)state;
    struct event_base *base = event_base_new();
    struct sift_alert_sinks_cfg cfg = {.kafka_brokers = "127.0.0.1:1",
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
    struct sift_alert_sinks_cfg cfg = {.kafka_brokers = brokers,
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
        cmocka_unit_test(test_sinks_webhook_delivers),
        cmocka_unit_test(test_sinks_webhook_retries_after_500),
        cmocka_unit_test(test_sinks_bad_url_rejected),
        cmocka_unit_test(test_sinks_bad_kafka_property_rejected),
        cmocka_unit_test(test_sinks_kafka_produces_to_mock_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
