/*
 * test_http.c - the HTTP server in-process, driven by a client thread
 * over real loopback sockets: routing and JSON errors, body limits,
 * gzip/zstd inflation (and bombs), header limits, max_connections, late
 * replies after the client disconnected, streams whose client goes away,
 * and freeing the server with a request still pending.
 *
 * The loop runs on the test's main thread; each scenario runs on a client
 * thread that calls sift_loop_stop() when it is done.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/audit.h"
#include "sift/auth.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/loop.h"

struct fixture {
    struct sift_config cfg;
    struct sift_loop *loop;
    struct sift_http *http;
    char bound[128];
    int port;
    void (*scenario)(struct fixture *f);
    /* server-side observations */
    struct sift_http_req *held;
    int held_closed_at_reply;
    int replied_late;
    int on_close_calls;
    int stream_ended;
    int stream_writes_refused;
    struct sift_timer *timer;
    int timer_fired;
    int nodelay_seen[8]; /* /nodelay: TCP_NODELAY of each request's socket */
    int n_nodelay;
    int tls_port;
};

/* http.c (SIFT_STATIC): TCP_NODELAY of the request's socket, or -1. */
int sift__http_req_nodelay(const struct sift_http_req *req);

/* ---------------------------------------------------------------------- */
/* Server side                                                             */
/* ---------------------------------------------------------------------- */

static void
on_echo(struct sift_http_req *req, void *arg)
{
    (void)arg;
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    sift_http_reply(req, 200, "application/octet-stream", body, len);
}

static void
on_path(struct sift_http_req *req, void *arg)
{
    const char *tag = arg;
    struct sift_buf b = SIFT_BUF_INIT;
    const char *q = sift_http_req_param(req, "q");
    sift_buf_appendf(&b, "%s %s %s q=%s", tag, sift_http_req_method(req),
                     sift_http_req_path(req), q != NULL ? q : "-");
    sift_http_reply(req, 200, "text/plain", b.data, b.len);
    sift_buf_cleanup(&b);
}

static void
on_hold(struct sift_http_req *req, void *arg)
{
    struct fixture *f = arg;
    f->held = req; /* replied later by a timer, or never */
}

static void
late_reply_tick(void *arg)
{
    struct fixture *f = arg;
    if (f->timer_fired++ > 0 || f->held == NULL)
        return;
    f->held_closed_at_reply = sift_http_req_is_closed(f->held);
    sift_http_reply_error(f->held, 504, "timeout", "late");
    f->held = NULL;
    f->replied_late = 1;
}

static void
stream_closed(struct sift_http_req *req, void *arg)
{
    struct fixture *f = arg;
    f->on_close_calls++;
    sift_http_stream_end(req);
    f->held = NULL;
    f->stream_ended = 1;
}

static void
stream_tick(void *arg)
{
    struct fixture *f = arg;
    if (f->held == NULL)
        return;
    if (sift_http_stream_write(f->held, "more\n", 5) == SIFT_ESHUTDOWN)
        f->stream_writes_refused++;
}

static void
on_stream(struct sift_http_req *req, void *arg)
{
    struct fixture *f = arg;
    assert_int_equal(sift_http_stream_start(req, 200, "application/x-ndjson",
                                            stream_closed, f),
                     SIFT_OK);
    assert_int_equal(sift_http_stream_write(req, "hello\n", 6), SIFT_OK);
    f->held = req;
}

/* Records TCP_NODELAY of the socket and replies ~56 KB of JSON (like a
 * 100-hit search page), without a trailing newline. */
static void
on_nodelay(struct sift_http_req *req, void *arg)
{
    struct fixture *f = arg;
    if (f->n_nodelay < 8)
        f->nodelay_seen[f->n_nodelay++] = sift__http_req_nodelay(req);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_append(&b, "{\"pad\":\"", 8);
    for (int i = 0; i < 56000; i++)
        sift_buf_putc(&b, 'x');
    sift_buf_append(&b, "\"}", 2);
    sift_http_reply(req, 200, "application/json", b.data, b.len);
    sift_buf_cleanup(&b);
}

static char tag_exact[] = "exact";
static char tag_prefix[] = "prefix";

static int
setup(void **state)
{
    struct fixture *f = sift_xcalloc(1, sizeof(*f));
    sift_config_init(&f->cfg);
    f->cfg.max_body_bytes = 4096;
    f->cfg.max_headers = 20;
    if (sift_loop_new(&f->loop) != 0)
        return -1;
    if (sift_http_new(f->loop, &f->cfg, &f->http) != 0)
        return -1;
    sift_http_route(f->http, "POST", "/echo", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, on_echo, f);
    sift_http_route(f->http, "POST", "/json", 0, SIFT_ROLE_WRITER, on_echo, f);
    sift_http_route(f->http, "GET", "/p/exact", 0, SIFT_ROLE_READER, on_path,
                    tag_exact);
    sift_http_route(f->http, NULL, "/p/", SIFT_ROUTE_PREFIX, SIFT_ROLE_READER,
                    on_path, tag_prefix);
    sift_http_route(f->http, "GET", "/hold", 0, SIFT_ROLE_READER, on_hold, f);
    sift_http_route(f->http, "GET", "/stream", 0, SIFT_ROLE_READER, on_stream,
                    f);
    sift_http_route(f->http, "GET", "/nodelay", 0, SIFT_ROLE_READER, on_nodelay,
                    f);
    if (sift_http_listen(f->http, "127.0.0.1:0", f->bound, sizeof(f->bound)) !=
        0)
        return -1;
    f->port = (int)strtol(strrchr(f->bound, ':') + 1, NULL, 10);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    sift_loop_timer_free(f->timer);
    sift_http_free(f->http);
    sift_loop_free(f->loop);
    sift_config_cleanup(&f->cfg);
    sift_free(f);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Client side (runs on the client thread)                                 */
/* ---------------------------------------------------------------------- */

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int
client_connect(struct fixture *f)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)f->port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void
send_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        c += n;
        len -= (size_t)n;
    }
}

/* Reads until the peer closes (or 5 s pass); returns bytes read. */
static size_t
recv_all(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    while (len + 1 < cap) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

/* Reads one response with a Content-Length on a kept-alive connection. */
static void
recv_response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (int i = 0; i < 1000 && len + 1 < cap; i++) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        const char *cl = strstr(buf, "Content-Length: ");
        if (end != NULL && cl != NULL &&
            (size_t)(end + 4 - buf) + (size_t)strtol(cl + 16, NULL, 10) <= len)
            break;
    }
    buf[len] = '\0';
}

struct response {
    int status;
    char raw[262144];
    const char *body;
};

/* One request on a fresh connection with Connection: close. */
static void
roundtrip(struct fixture *f, const char *method, const char *path,
          const char *extra_headers, const void *body, size_t body_len,
          struct response *r)
{
    char head[2048];
    int fd = client_connect(f);
    r->status = -1;
    r->body = "";
    r->raw[0] = '\0';
    if (fd < 0)
        return; /* cmocka asserts only on the main thread */
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     "%sContent-Length: %zu\r\n\r\n",
                     method, path, extra_headers != NULL ? extra_headers : "",
                     body_len);
    send_all(fd, head, (size_t)n);
    if (body_len > 0)
        send_all(fd, body, body_len);
    recv_all(fd, r->raw, sizeof(r->raw));
    close(fd);
    r->status = 0;
    sscanf(r->raw, "HTTP/1.1 %d", &r->status);
    const char *b = strstr(r->raw, "\r\n\r\n");
    r->body = b != NULL ? b + 4 : "";
}

static void *
client_main(void *arg)
{
    struct fixture *f = arg;
    f->scenario(f);
    sift_loop_stop(f->loop);
    return NULL;
}

static void
run_scenario(struct fixture *f, void (*scenario)(struct fixture *))
{
    pthread_t t;
    f->scenario = scenario;
    assert_int_equal(pthread_create(&t, NULL, client_main, f), 0);
    assert_int_equal(sift_loop_run(f->loop), 0);
    pthread_join(t, NULL);
}

/* cmocka asserts must run on the main thread: scenarios record, then the
 * test checks.  A static result struct keeps it simple. */
static struct response r1, r2, r3, r4, r5, r6;

/* ---------------------------------------------------------------------- */
/* Tests                                                                   */
/* ---------------------------------------------------------------------- */

static void
sc_routing(struct fixture *f)
{
    roundtrip(f, "GET", "/p/exact", NULL, NULL, 0, &r1);
    roundtrip(f, "DELETE", "/p/some%20thing?q=a+b", NULL, NULL, 0, &r2);
    roundtrip(f, "GET", "/nowhere", NULL, NULL, 0, &r3);
    roundtrip(f, "GET", "/echo", NULL, NULL, 0, &r4);
    roundtrip(f, "GET", "/healthz", NULL, NULL, 0, &r5);
    roundtrip(f, "GET", "/readyz", NULL, NULL, 0, &r6);
}

static void
test_http_routing_and_json_errors(void **state)
{
    struct fixture *f = *state;
    run_scenario(f, sc_routing);
    assert_int_equal(r1.status, 200);
    assert_string_equal(r1.body, "exact GET /p/exact q=-");
    assert_int_equal(r2.status, 200);
    assert_string_equal(r2.body, "prefix DELETE /p/some thing q=a b");
    assert_int_equal(r3.status, 404);
    assert_non_null(strstr(r3.raw, "Content-Type: application/json"));
    assert_string_equal(r3.body,
                        "{\"error\":{\"type\":\"not_found\",\"reason\":"
                        "\"no such endpoint: /nowhere\"},\"status\":404}\n");
    assert_int_equal(r4.status, 405);
    assert_non_null(strstr(r4.raw, "Allow: POST"));
    assert_non_null(strstr(r4.body, "\"type\":\"method_not_allowed\""));
    assert_int_equal(r5.status, 200);
    assert_string_equal(r5.body, "{\"status\":\"ok\"}\n");
    assert_int_equal(r6.status, 503);
    assert_string_equal(r6.body, "{\"status\":\"starting\"}\n");
}

static void
sc_readyz(struct fixture *f)
{
    roundtrip(f, "GET", "/readyz", NULL, NULL, 0, &r1);
}

static void
test_http_readyz_details(void **state)
{
    struct fixture *f = *state;
    sift_http_set_ready(f->http, 1, "{\"quarantined_segments\":2}");
    run_scenario(f, sc_readyz);
    assert_int_equal(r1.status, 200);
    assert_string_equal(r1.body, "{\"status\":\"ready\",\"details\":"
                                 "{\"quarantined_segments\":2}}\n");
}

static char big[8192];

static void
sc_body_limits(struct fixture *f)
{
    memset(big, 'x', sizeof(big));
    roundtrip(f, "POST", "/echo", NULL, big, 4096, &r1);
    roundtrip(f, "POST", "/echo", NULL, big, 4097, &r2);
    roundtrip(f, "POST", "/json", "Content-Type: application/json\r\n", "{}", 2,
              &r3);
    roundtrip(f, "POST", "/json", "Content-Type: image/png\r\n", "{}", 2, &r4);
}

static void
test_http_body_limit_413_json(void **state)
{
    struct fixture *f = *state;
    run_scenario(f, sc_body_limits);
    assert_int_equal(r1.status, 200);
    assert_int_equal(strlen(r1.body), 4096);
    assert_int_equal(r2.status, 413);
    assert_non_null(strstr(r2.body, "\"type\":\"body_too_large\""));
    assert_int_equal(r3.status, 200);
    assert_string_equal(r3.body, "{}");
    assert_int_equal(r4.status, 415);
    assert_non_null(strstr(r4.body, "unsupported_media_type"));
}

static size_t
gzip_bytes(const void *in, size_t len, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (unsigned char *)(uintptr_t)in;
    z.avail_in = (unsigned)len;
    z.next_out = out;
    z.avail_out = (unsigned)cap;
    deflate(&z, Z_FINISH);
    size_t n = z.total_out;
    deflateEnd(&z);
    return n;
}

static unsigned char packed[65536];
static char plain[3000];
static char zeros[200000];

static void
sc_inflate(struct fixture *f)
{
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (char)('a' + i % 26);
    size_t n = gzip_bytes(plain, sizeof(plain), packed, sizeof(packed));
    roundtrip(f, "POST", "/echo", "Content-Encoding: gzip\r\n", packed, n, &r1);
    n = ZSTD_compress(packed, sizeof(packed), plain, sizeof(plain), 3);
    roundtrip(f, "POST", "/echo", "Content-Encoding: zstd\r\n", packed, n, &r2);
    /* A small body that inflates past max_body_bytes. */
    n = gzip_bytes(zeros, sizeof(zeros), packed, sizeof(packed));
    roundtrip(f, "POST", "/echo", "Content-Encoding: gzip\r\n", packed, n, &r3);
    n = ZSTD_compress(packed, sizeof(packed), zeros, sizeof(zeros), 3);
    roundtrip(f, "POST", "/echo", "Content-Encoding: zstd\r\n", packed, n, &r4);
    roundtrip(f, "POST", "/echo", "Content-Encoding: gzip\r\n", "garbage!", 8,
              &r5);
    roundtrip(f, "POST", "/echo", "Content-Encoding: br\r\n", "x", 1, &r6);
}

static void
test_http_inflates_gzip_and_zstd_with_limit(void **state)
{
    struct fixture *f = *state;
    run_scenario(f, sc_inflate);
    assert_int_equal(r1.status, 200);
    assert_int_equal(strlen(r1.body), sizeof(plain));
    assert_memory_equal(r1.body, plain, sizeof(plain));
    assert_int_equal(r2.status, 200);
    assert_memory_equal(r2.body, plain, sizeof(plain));
    assert_int_equal(r3.status, 413);
    assert_non_null(strstr(r3.body, "decompressed body exceeds"));
    assert_int_equal(r4.status, 413);
    assert_int_equal(r5.status, 400);
    assert_non_null(strstr(r5.body, "bad_encoding"));
    assert_int_equal(r6.status, 415);
}

static void
sc_headers(struct fixture *f)
{
    char hdrs[2048] = "";
    size_t used = 0;
    for (int i = 0; i < 30; i++)
        used += (size_t)snprintf(hdrs + used, sizeof(hdrs) - used,
                                 "X-H%d: v\r\n", i);
    roundtrip(f, "GET", "/p/exact", hdrs, NULL, 0, &r1);
}

static void
test_http_too_many_headers_431(void **state)
{
    struct fixture *f = *state;
    run_scenario(f, sc_headers);
    assert_int_equal(r1.status, 431);
    assert_non_null(strstr(r1.body, "too_many_headers"));
}

static void
sc_max_connections(struct fixture *f)
{
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    int a = client_connect(f);
    send_all(a, req, sizeof(req) - 1);
    recv_response(a, r1.raw, sizeof(r1.raw)); /* a stays open */
    roundtrip(f, "GET", "/healthz", NULL, NULL, 0, &r2);
    close(a);
    sleep_ms(200); /* the server notices a's close while idle */
    roundtrip(f, "GET", "/healthz", NULL, NULL, 0, &r3);
}

static void
test_http_max_connections(void **state)
{
    struct fixture *f = *state;
    f->cfg.max_connections = 1;
    run_scenario(f, sc_max_connections);
    sscanf(r1.raw, "HTTP/1.1 %d", &r1.status);
    assert_int_equal(r1.status, 200);
    assert_int_equal(r2.status, 503);
    assert_non_null(strstr(r2.body, "too_many_connections"));
    assert_int_equal(r3.status, 200);
}

static void
sc_disconnect_then_late_reply(struct fixture *f)
{
    static const char req[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = client_connect(f);
    send_all(fd, req, sizeof(req) - 1);
    sleep_ms(100);
    close(fd);
    /* The sweep (1 s) sees the close; the late reply comes at 1.5 s. */
    sleep_ms(1900);
}

static void
test_http_late_reply_after_client_disconnect(void **state)
{
    struct fixture *f = *state;
    f->timer = sift_loop_timer_new(f->loop, 1500, late_reply_tick, f);
    run_scenario(f, sc_disconnect_then_late_reply);
    assert_int_equal(f->replied_late, 1);
    assert_int_equal(f->held_closed_at_reply, 1);
    assert_int_equal(sift_http_pending(f->http), 0);
}

static void
sc_disconnect_then_quick_reply(struct fixture *f)
{
    static const char req[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = client_connect(f);
    send_all(fd, req, sizeof(req) - 1);
    sleep_ms(50);
    close(fd);
    sleep_ms(600);
    /* The server still serves others afterwards. */
    roundtrip(f, "GET", "/healthz", NULL, NULL, 0, &r1);
}

static void
test_http_reply_to_vanished_client_before_detection(void **state)
{
    struct fixture *f = *state;
    f->timer = sift_loop_timer_new(f->loop, 300, late_reply_tick, f);
    run_scenario(f, sc_disconnect_then_quick_reply);
    assert_int_equal(f->replied_late, 1);
    assert_int_equal(f->held_closed_at_reply, 0);
    assert_int_equal(r1.status, 200);
}

static void
sc_stream(struct fixture *f)
{
    static const char req[] = "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[4096];
    size_t len = 0;
    int fd = client_connect(f);
    send_all(fd, req, sizeof(req) - 1);
    for (int i = 0; i < 100 && strstr(buf, "hello") == NULL; i++) {
        ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
    }
    snprintf(r1.raw, sizeof(r1.raw), "%s", buf);
    close(fd);
    sleep_ms(1500);
}

static void
test_http_stream_client_gone_calls_on_close_once(void **state)
{
    struct fixture *f = *state;
    f->timer = sift_loop_timer_new(f->loop, 50, stream_tick, f);
    run_scenario(f, sc_stream);
    assert_non_null(strstr(r1.raw, "HTTP/1.1 200"));
    assert_non_null(strstr(r1.raw, "Transfer-Encoding: chunked"));
    assert_non_null(strstr(r1.raw, "hello"));
    assert_int_equal(f->on_close_calls, 1);
    assert_int_equal(f->stream_ended, 1);
    assert_int_equal(sift_http_pending(f->http), 0);
}

static void
sc_hold_and_leave_open(struct fixture *f)
{
    static const char req[] = "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = client_connect(f);
    send_all(fd, req, sizeof(req) - 1);
    sleep_ms(200);
    /* fd stays open: the server is freed with the request pending. */
    snprintf(r1.raw, sizeof(r1.raw), "%d", fd);
}

static void
test_http_free_with_pending_request(void **state)
{
    struct fixture *f = *state;
    run_scenario(f, sc_hold_and_leave_open);
    assert_non_null(f->held);
    assert_int_equal(sift_http_pending(f->http), 1);
    sift_http_free(f->http);
    f->http = NULL;
    close((int)strtol(r1.raw, NULL, 10));
}

static void
post_stop_accepting(void *arg)
{
    struct fixture *f = arg;
    sift_http_stop_accepting(f->http);
}

static void
sc_stop_accepting(struct fixture *f)
{
    static const char req[] = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    int a = client_connect(f);
    send_all(a, req, sizeof(req) - 1);
    recv_response(a, r1.raw, sizeof(r1.raw));
    sift_loop_post(f->loop, post_stop_accepting, f);
    sleep_ms(100);
    send_all(a, req, sizeof(req) - 1);
    recv_all(a, r2.raw, sizeof(r2.raw)); /* Connection: close */
    close(a);
    int b = client_connect(f);
    r3.status = b >= 0 ? 1 : 0;
    if (b >= 0)
        close(b);
}

static void
test_http_stop_accepting(void **state)
{
    struct fixture *f = *state;
    sift_http_set_ready(f->http, 1, NULL);
    run_scenario(f, sc_stop_accepting);
    assert_non_null(strstr(r1.raw, "HTTP/1.1 200"));
    assert_non_null(strstr(r2.raw, "HTTP/1.1 503"));
    assert_non_null(strstr(r2.raw, "shutting_down"));
    assert_non_null(strstr(r2.raw, "Connection: close"));
    assert_int_equal(r3.status, 0); /* listener closed: refused */
}

/* ---- TCP_NODELAY, evhttp's own errors, newlines, request timeout ---- */

/* Three requests on one kept-alive connection, then one on a new one. */
static void
sc_nodelay(struct fixture *f)
{
    static const char req[] = "GET /nodelay HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = client_connect(f);
    for (int i = 0; i < 3 && fd >= 0; i++) {
        send_all(fd, req, sizeof(req) - 1);
        recv_response(fd, r1.raw, sizeof(r1.raw));
    }
    if (fd >= 0)
        close(fd);
    roundtrip(f, "GET", "/nodelay", NULL, NULL, 0, &r2);
}

static void
test_http_nodelay_on_every_connection(void **state)
{
    struct fixture *f = *state;
    run_scenario(f, sc_nodelay);
    assert_int_equal(f->n_nodelay, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(f->nodelay_seen[i], 1);
    /* A JSON body without a newline gets one. */
    assert_int_equal(r2.status, 200);
    size_t n = strlen(r2.body);
    assert_int_equal(n, 8 + 56000 + 2 + 1);
    assert_int_equal(r2.body[n - 1], '\n');
    assert_int_equal(r2.body[n - 2], '}');
}

/* A self-signed EC certificate and key, written as PEM files. */
static void
make_cert(const char *cert_path, const char *key_path)
{
    EVP_PKEY *pkey = EVP_EC_gen("P-256");
    assert_non_null(pkey);
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
    FILE *fp = fopen(cert_path, "w");
    assert_non_null(fp);
    PEM_write_X509(fp, x);
    fclose(fp);
    fp = fopen(key_path, "w");
    assert_non_null(fp);
    PEM_write_PrivateKey(fp, pkey, NULL, NULL, 0, NULL, NULL);
    fclose(fp);
    X509_free(x);
    EVP_PKEY_free(pkey);
}

/* Two requests over one TLS connection. */
static void
sc_nodelay_tls(struct fixture *f)
{
    static const char req[] = "GET /nodelay HTTP/1.1\r\nHost: x\r\n\r\n";
    int saved = f->port;
    f->port = f->tls_port;
    int fd = client_connect(f);
    f->port = saved;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = ctx != NULL && fd >= 0 ? SSL_new(ctx) : NULL;
    r1.status = -1;
    if (ssl != NULL && SSL_set_fd(ssl, fd) == 1 && SSL_connect(ssl) == 1) {
        for (int i = 0; i < 2; i++) {
            SSL_write(ssl, req, (int)sizeof(req) - 1);
            size_t len = 0;
            /* ~56 KB body; stop once the closing brace arrived. */
            while (len + 1 < sizeof(r1.raw)) {
                int n = SSL_read(ssl, r1.raw + len,
                                 (int)(sizeof(r1.raw) - 1 - len));
                if (n <= 0)
                    break;
                len += (size_t)n;
                r1.raw[len] = '\0';
                if (len > 2 && strcmp(r1.raw + len - 2, "}\n") == 0)
                    break;
            }
            sscanf(r1.raw, "HTTP/1.1 %d", &r1.status);
        }
        SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        close(fd);
}

static void
test_http_nodelay_on_tls_connections(void **state)
{
    struct fixture *f = *state;
    char cert[] = "/tmp/sift-test-cert-XXXXXX",
         key[] = "/tmp/sift-test-key-XXXXXX";
    int a = mkstemp(cert), b = mkstemp(key);
    assert_true(a >= 0 && b >= 0);
    close(a);
    close(b);
    make_cert(cert, key);
    char bound[128];
    assert_int_equal(sift_http_listen_tls(f->http, "127.0.0.1:0", cert, key,
                                          bound, sizeof(bound)),
                     SIFT_OK);
    f->tls_port = (int)strtol(strrchr(bound, ':') + 1, NULL, 10);
    run_scenario(f, sc_nodelay_tls);
    unlink(cert);
    unlink(key);
    assert_int_equal(r1.status, 200);
    assert_int_equal(f->n_nodelay, 2);
    assert_int_equal(f->nodelay_seen[0], 1);
    assert_int_equal(f->nodelay_seen[1], 1);
}

/* Raw bytes on a new connection; the reply read until the server closes. */
static void
raw_roundtrip(struct fixture *f, const char *bytes, size_t len,
              struct response *r)
{
    int fd = client_connect(f);
    r->status = -1;
    r->body = "";
    if (fd < 0)
        return;
    send_all(fd, bytes, len);
    recv_all(fd, r->raw, sizeof(r->raw));
    close(fd);
    r->status = 0;
    sscanf(r->raw, "HTTP/1.%*d %d", &r->status);
    const char *b = strstr(r->raw, "\r\n\r\n");
    r->body = b != NULL ? b + 4 : "";
}

static char long_header[20000];

static void
sc_libevent_errors(struct fixture *f)
{
    static const char garbage[] = "HELLO THERE\r\n\r\n";
    raw_roundtrip(f, garbage, sizeof(garbage) - 1, &r1);
    static const char trace[] = "TRACE / HTTP/1.1\r\nHost: x\r\n\r\n";
    raw_roundtrip(f, trace, sizeof(trace) - 1, &r2);
    /* Content-Length far over max_body_bytes: evhttp's own cap. */
    static const char huge[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
                               "Content-Length: 100000000\r\n\r\nxx";
    raw_roundtrip(f, huge, sizeof(huge) - 1, &r3);
    /* A header line longer than evhttp's header cap. */
    int n = snprintf(long_header, sizeof(long_header),
                     "GET /p/exact HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(long_header + n, 'a', 17000);
    memcpy(long_header + n + 17000, "\r\n\r\n", 4);
    raw_roundtrip(f, long_header, (size_t)n + 17004, &r4);
    /* Bad chunked encoding. */
    static const char chunk[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                "Transfer-Encoding: chunked\r\n\r\nzz\r\n";
    raw_roundtrip(f, chunk, sizeof(chunk) - 1, &r5);
}

static void
assert_json_error(const struct response *r, int status, const char *type)
{
    char want[96];
    assert_int_equal(r->status, status);
    assert_non_null(strstr(r->raw, "Content-Type: application/json"));
    assert_null(strstr(r->raw, "<HTML>"));
    snprintf(want, sizeof(want), "{\"error\":{\"type\":\"%s\"", type);
    assert_memory_equal(r->body, want, strlen(want));
    snprintf(want, sizeof(want), "\"status\":%d}\n", status);
    assert_non_null(strstr(r->body, want));
    /* Content-Length matches the body that was really sent. */
    const char *cl = strstr(r->raw, "Content-Length: ");
    assert_non_null(cl);
    assert_int_equal(strtol(cl + 16, NULL, 10), (long)strlen(r->body));
}

static void
test_http_libevent_errors_are_json(void **state)
{
    struct fixture *f = *state;
    f->cfg.max_header_bytes = 4096;
    sift_http_apply_config(f->http);
    run_scenario(f, sc_libevent_errors);
    assert_json_error(&r1, 400, "bad_request");
    assert_json_error(&r2, 501, "method_not_implemented");
    assert_json_error(&r3, 413, "request_too_large");
    /* libevent's own choices: an over-long header line is malformed, a bad
     * chunk size counts as too large. */
    assert_json_error(&r4, 400, "bad_request");
    assert_json_error(&r5, 413, "request_too_large");
}

static void
sc_request_timeout(struct fixture *f)
{
    static const char part[] = "GET /p/exact HTTP/1.1\r\nHost: x\r\n";
    raw_roundtrip(f, part, sizeof(part) - 1, &r1);
    /* An idle connection is closed without a reply. */
    raw_roundtrip(f, "", 0, &r2);
}

static void
test_http_request_timeout_408_json(void **state)
{
    struct fixture *f = *state;
    f->cfg.request_timeout_ms = 1000;
    run_scenario(f, sc_request_timeout);
    assert_json_error(&r1, 408, "request_timeout");
    assert_int_equal(r2.status, 0);
    assert_string_equal(r2.raw, "");
}

/* ---- parameter tables, query strings and ?pretty ---- */

/* http.c (SIFT_STATIC) */
void json_pretty(const char *in, size_t len, struct sift_buf *out);
const char *closest_param(const struct sift_http_param *table,
                          const char *name);

static const struct sift_http_param exact_params[] = {
    {"q", "query", SIFT_HTTP_P_STRING, NULL, 0, 0, NULL, NULL},
    {"limit", "size", SIFT_HTTP_P_UINT, NULL, 1, 100, NULL, NULL},
    {"order", NULL, SIFT_HTTP_P_ENUM, "asc|desc", 0, 0, NULL, NULL},
    {NULL, NULL, SIFT_HTTP_P_STRING, NULL, 0, 0, NULL, NULL},
};

static void
sc_params(struct fixture *f)
{
    roundtrip(f, "GET", "/p/exact?query=a+b%21&&limit=5&", NULL, NULL, 0, &r1);
    roundtrip(f, "GET", "/p/exact?q=x&lmit=1", NULL, NULL, 0, &r2);
    roundtrip(f, "GET", "/p/exact?limit=0", NULL, NULL, 0, &r3);
    roundtrip(f, "GET", "/p/exact?order=up", NULL, NULL, 0, &r4);
    roundtrip(f, "GET", "/p/exact?q=1&query=2", NULL, NULL, 0, &r5);
    roundtrip(f, "GET", "/p/exact?=x", NULL, NULL, 0, &r6);
}

static void
test_http_parameter_tables(void **state)
{
    struct fixture *f = *state;
    sift_http_route_params(f->http, "/p/exact", exact_params);
    run_scenario(f, sc_params);
    assert_int_equal(r1.status, 200);
    assert_string_equal(r1.body, "exact GET /p/exact q=a b!");
    assert_json_error(&r2, 400, "unknown_parameter");
    assert_non_null(strstr(r2.body, "unknown parameter 'lmit' (did you mean "
                                    "'limit'?); GET /p/exact takes q, limit, "
                                    "order, pretty"));
    assert_json_error(&r3, 400, "bad_request");
    assert_non_null(strstr(r3.body,
                           "invalid 'limit' (0): expected an integer from 1 to "
                           "100"));
    assert_json_error(&r4, 400, "bad_request");
    assert_non_null(strstr(r4.body, "expected one of asc, desc"));
    assert_json_error(&r5, 400, "bad_request");
    assert_non_null(strstr(r5.body, "'q' and 'query' are the same"));
    assert_json_error(&r6, 400, "bad_request");
    assert_non_null(strstr(r6.body, "without a name"));
    struct sift_buf md = SIFT_BUF_INIT;
    sift_http_params_markdown(exact_params, 1, &md);
    assert_non_null(strstr(sift_buf_cstr(&md), "| `limit` (or `size`) | 1 to "
                                               "100 |"));
    assert_non_null(strstr(sift_buf_cstr(&md), "| `order` | `asc`, `desc` |"));
    sift_buf_cleanup(&md);
    assert_string_equal(closest_param(exact_params, "limt"), "limit");
    assert_string_equal(closest_param(exact_params, "ordre"), "order");
    assert_string_equal(closest_param(exact_params, "sise"), "limit");
    assert_null(closest_param(exact_params, "zzzzzz"));
}

static void
test_http_json_pretty(void **state)
{
    (void)state;
    static const char in[] = "{\"a\":[1,{\"b\":\"x, {y}: \\\"\"}],"
                             "\"e\":{},\"f\":[ ]}\n";
    struct sift_buf b = SIFT_BUF_INIT;
    json_pretty(in, sizeof(in) - 1, &b);
    assert_string_equal(sift_buf_cstr(&b), "{\n"
                                           "  \"a\" : [\n"
                                           "    1,\n"
                                           "    {\n"
                                           "      \"b\" : \"x, {y}: \\\"\"\n"
                                           "    }\n"
                                           "  ],\n"
                                           "  \"e\" : {},\n"
                                           "  \"f\" : []\n"
                                           "}\n");
    sift_buf_cleanup(&b);
}

/* ---- security wiring: roles in the router and the audit log ---- */

static void
sc_audit(struct fixture *f)
{
    (void)f;
    roundtrip(f, "POST", "/admin",
              "Authorization: Bearer admin-token-0123456789\r\n", "x", 1, &r1);
    roundtrip(f, "POST", "/admin",
              "Authorization: Bearer reader-token-0123456789\r\n", "x", 1, &r2);
    roundtrip(f, "GET", "/p/exact",
              "Authorization: Bearer reader-token-0123456789\r\n", NULL, 0,
              &r3);
    roundtrip(f, "GET", "/p/exact", NULL, NULL, 0, &r4);
    roundtrip(f, "GET", "/healthz", NULL, NULL, 0, &r5);
}

static void
test_http_roles_and_audit_of_admin_actions(void **state)
{
    struct fixture *f = *state;
    char path[] = "/tmp/sift-test-audit-XXXXXX";
    int tfd = mkstemp(path);
    assert_true(tfd >= 0);
    close(tfd);
    struct sift_auth *auth = NULL;
    struct sift_auth_opts ao = {"a:admin:admin-token-0123456789 "
                                "r:reader:reader-token-0123456789",
                                NULL, 0};
    assert_int_equal(sift_auth_new(&ao, &auth, NULL, 0), SIFT_OK);
    struct sift_audit *audit = NULL;
    assert_int_equal(sift_audit_open(path, &audit), SIFT_OK);
    sift_http_set_auth(f->http, auth);
    sift_http_set_audit(f->http, audit);
    sift_http_route(f->http, "POST", "/admin", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_ADMIN, on_echo, f);
    run_scenario(f, sc_audit);
    assert_int_equal(r1.status, 200);
    assert_int_equal(r2.status, 403);
    assert_int_equal(r3.status, 200);
    assert_int_equal(r4.status, 401);
    assert_non_null(strstr(r4.raw, "WWW-Authenticate: Bearer"));
    assert_int_equal(r5.status, 200);

    /* Two records: the admin action and the refused attempt; reads are
     * not audited. */
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof(line), fp) != NULL) {
        assert_non_null(strstr(line, "\"action\":\"POST /admin\""));
        if (n == 0) {
            assert_non_null(strstr(line, "\"principal\":\"a\""));
            assert_non_null(strstr(line, "\"status\":200"));
        } else {
            assert_non_null(strstr(line, "\"principal\":\"r\""));
            assert_non_null(strstr(line, "\"status\":403"));
        }
        n++;
    }
    fclose(fp);
    assert_int_equal(n, 2);
    struct sift_http_stats st;
    sift_http_get_stats(f->http, &st);
    assert_int_equal(st.forbidden, 1);
    assert_int_equal(st.unauthorized, 1);
    sift_http_set_auth(f->http, NULL);
    sift_http_set_audit(f->http, NULL);
    sift_auth_free(auth);
    sift_audit_close(audit);
    unlink(path);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    /* Debug logs show which disconnect path each test took. */
    if (getenv("SIFT_TEST_DEBUG") != NULL)
        sift_log_set_level(SIFT_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        T(test_http_routing_and_json_errors),
        T(test_http_readyz_details),
        T(test_http_body_limit_413_json),
        T(test_http_inflates_gzip_and_zstd_with_limit),
        T(test_http_too_many_headers_431),
        T(test_http_max_connections),
        T(test_http_late_reply_after_client_disconnect),
        T(test_http_reply_to_vanished_client_before_detection),
        T(test_http_stream_client_gone_calls_on_close_once),
        T(test_http_free_with_pending_request),
        T(test_http_stop_accepting),
        T(test_http_roles_and_audit_of_admin_actions),
        T(test_http_nodelay_on_every_connection),
        T(test_http_nodelay_on_tls_connections),
        T(test_http_libevent_errors_are_json),
        T(test_http_request_timeout_408_json),
        T(test_http_parameter_tables),
        cmocka_unit_test(test_http_json_pretty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
