/*
 * fuzz_http.c - libFuzzer target for HTTP request handling through the
 * real server: evhttp's request parser, our router (exact/prefix routes,
 * 404/405), the token check (Bearer and Basic Authorization headers, role
 * per route), the rate limits, the header/body limits and gzip/zstd body
 * inflation, and handlers that read params, headers and the body.
 *
 * Each input is written as raw bytes on a fresh loopback TCP connection to
 * a server created once (port 0); the loop runs until the server closes
 * the connection or 300 ms pass.  Whatever the bytes, siftd must answer or
 * close, never crash, leak, or read out of bounds.  The input is also
 * appended to a fixed valid request prefix ("POST /api/v1/ingest ...
 * Content-Encoding: gzip") when its first byte is odd, so the body paths
 * are reached without the fuzzer having to invent a request line.
 *
 * Loopback only; no files.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "sift/auth.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sift_loop *g_loop;
static struct sift_http *g_http;
static struct sift_auth *g_auth;
static struct sift_config g_cfg;
static struct sockaddr_in g_addr;

/* A handler that touches everything a real one would. */
static void
on_echo(struct sift_http_req *req, void *arg)
{
    (void)arg;
    size_t len = 0;
    const char *body = sift_http_req_body(req, &len);
    const char *q = sift_http_req_param(req, "q");
    const char *ct = sift_http_req_header(req, "Content-Type");
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"len\":%zu,\"path\":", len);
    const char *path = sift_http_req_path(req);
    sift_buf_put_json_str(&b, path, strlen(path));
    sift_buf_append(&b, ",\"q\":", 5);
    sift_buf_put_json_str(&b, q != NULL ? q : "", q != NULL ? strlen(q) : 0);
    sift_buf_append(&b, ",\"ct\":", 6);
    sift_buf_put_json_str(&b, ct != NULL ? ct : "",
                          ct != NULL ? strlen(ct) : 0);
    sift_buf_append(&b, ",\"who\":", 7);
    const char *who = sift_http_req_principal(req);
    sift_buf_put_json_str(&b, who, strlen(who));
    unsigned sum = 0;
    for (size_t i = 0; i < len; i++)
        sum += (unsigned char)body[i];
    sift_buf_appendf(&b, ",\"sum\":%u}\n", sum);
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

static void
setup(void)
{
    sift_log_set_level(SIFT_LOG_ERROR);
    sift_config_init(&g_cfg);
    g_cfg.max_body_bytes = 64 * 1024;
    g_cfg.max_header_bytes = 4096;
    g_cfg.max_headers = 32;
    g_cfg.rl_query_rate = 100000;
    g_cfg.rl_query_burst = 100000;
    g_cfg.rl_ingest_rate = 100000;
    g_cfg.rl_ingest_burst = 100000;
    if (sift_loop_new(&g_loop) < 0 ||
        sift_http_new(g_loop, &g_cfg, &g_http) < 0)
        abort();
    struct sift_auth_opts ao = {
        "r:reader:reader-token-0123456789 w:writer:writer-token-0123456789 "
        "a:admin:admin-token-01234567890",
        NULL, 0};
    if (sift_auth_new(&ao, &g_auth, NULL, 0) < 0)
        abort();
    sift_http_set_auth(g_http, g_auth);
    sift_http_route(g_http, "GET", "/api/v1/search", 0, SIFT_ROLE_READER,
                    on_echo, NULL);
    sift_http_route(g_http, "POST", "/api/v1/search", 0, SIFT_ROLE_READER,
                    on_echo, NULL);
    sift_http_route(g_http, "POST", "/api/v1/ingest", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, on_echo, NULL);
    sift_http_route(g_http, NULL, "/api/v1/alerts/", SIFT_ROUTE_PREFIX,
                    SIFT_ROLE_ADMIN, on_echo, NULL);
    sift_http_route(g_http, "GET", "/metrics", 0, SIFT_ROLE_READER, on_echo,
                    NULL);
    sift_http_apply_config(g_http);
    char bound[64];
    if (sift_http_listen(g_http, "127.0.0.1:0", bound, sizeof(bound)) < 0)
        abort();
    sift_http_set_ready(g_http, 1, NULL);
    char *colon = strrchr(bound, ':');
    memset(&g_addr, 0, sizeof(g_addr));
    g_addr.sin_family = AF_INET;
    g_addr.sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    g_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

struct client {
    int fd;
    int done;
};

static void
on_client_read(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    char buf[4096];
    (void)what;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        c->done = 1; /* EOF or error: the server closed */
        return;
    }
}

static const char k_prefix[] =
    "POST /api/v1/ingest?q=x HTTP/1.1\r\nHost: f\r\n"
    "Authorization: Bearer writer-token-0123456789\r\n"
    "Content-Type: application/x-ndjson\r\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (g_http == NULL)
        setup();
    if (size > 65536)
        return 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    if (connect(fd, (struct sockaddr *)&g_addr, sizeof(g_addr)) != 0) {
        close(fd);
        return 0;
    }
    struct sift_buf req = SIFT_BUF_INIT;
    if (size > 0 && (data[0] & 1)) {
        sift_buf_append(&req, k_prefix, sizeof(k_prefix) - 1);
        sift_buf_appendf(&req, "Content-Length: %zu\r\n\r\n", size - 1);
        sift_buf_append(&req, data + 1, size - 1);
    } else {
        sift_buf_append(&req, data, size);
    }
    /* Blocking send before the loop runs: the kernel buffers it (small). */
    size_t off = 0;
    while (off < req.len) {
        ssize_t n = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    sift_buf_cleanup(&req);
    shutdown(fd, SHUT_WR);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

    struct client c = {fd, 0};
    struct event_base *base = sift_loop_base(g_loop);
    struct event *ev =
        event_new(base, fd, EV_READ | EV_PERSIST, on_client_read, &c);
    event_add(ev, NULL);
    int64_t deadline = sift_clock_mono_ns() + 300 * SIFT_NS_PER_MS;
    while (!c.done && sift_clock_mono_ns() < deadline)
        event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    event_free(ev);
    close(fd);
    /* Let the server notice the close and release the connection. */
    for (int i = 0; i < 4; i++)
        event_base_loop(base, EVLOOP_NONBLOCK);
    return 0;
}
