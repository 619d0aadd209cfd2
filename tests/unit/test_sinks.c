/*
 * test_sinks.c - webhook sink against a real evhttp listener on loopback,
 * in the same event base: delivery, JSON body, retry after a 500.
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

    struct sift_alert_sinks_cfg cfg = {url, 2000, 3, "", "", ""};
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
    struct sift_alert_sinks_cfg cfg = {"ftp://x/y", 0, 0, "", "", ""};
    struct sift_alert_sinks *s;
    assert_int_equal(sift_alert_sinks_new(base, &cfg, &s), SIFT_ECONFIG);
    event_base_free(base);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sinks_webhook_delivers),
        cmocka_unit_test(test_sinks_webhook_retries_after_500),
        cmocka_unit_test(test_sinks_bad_url_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
