/*
 * http.c - the client's one HTTP connection to siftd (libcurl easy API).
 *
 * Design: one CURL handle for the whole run, so pages of a search, the
 * batches of an ingest and the requests of `sift status` reuse one
 * keep-alive connection.  sift__cli_http_do() sends a request, collects
 * the body (or hands each complete line to a callback, for tail), and
 * retries what is safe to retry:
 *   - 429 and 503: siftd did nothing (rate limit, full buffer, too many
 *     queries, shutting down), whatever the method;
 *   - a connection that could not be made (nothing was sent);
 *   - any other transport error only for idempotent requests (reads): an
 *     ingest whose connection broke after sending may have been stored,
 *     and sending it again could store it twice, so the caller decides.
 * Waits grow exponentially with jitter from 0.25 s to 30 s; a server's
 * Retry-After is honoured when it asks for longer.  Ctrl-C aborts a
 * transfer within about a second (the progress callback polls the flag).
 *
 * Invariants: a reply's body is NUL-terminated; the bearer token is sent
 * only in the Authorization header, never in a URL or a message.
 * Single-threaded.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli_int.h"

#define BACKOFF_BASE_S 0.25
#define BACKOFF_CAP_S 30.0
#define RETRY_AFTER_MAX_S 300.0
#define CONNECT_TIMEOUT_S 10L

struct cli_http {
    CURL *curl;
    const struct cli_settings *s; /* borrowed */
    const char *command;          /* borrowed */
    char errbuf[CURL_ERROR_SIZE];
    uint64_t rng;
    /* per transfer */
    const struct cli_req *req;
    struct cli_reply *reply;
    struct cli_buf partial; /* an incomplete streamed line */
    int warned;             /* a stream's Warning headers were shown */
    int warned_now;         /* ... some in this transfer's headers */
};

static int g_curl_ready;

/* xorshift64*: jitter only, no secrecy. */
static double
rnd01(struct cli_http *h)
{
    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    return (double)((h->rng * 2685821657736338717ULL) >> 11) /
           9007199254740992.0;
}

struct cli_http *
sift__cli_http_new(const struct cli_settings *s, const char *command)
{
    if (!g_curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            fprintf(stderr, "sift: %s: libcurl failed to start\n", command);
            return NULL;
        }
        g_curl_ready = 1;
    }
    struct cli_http *h = sift__cli_xrealloc(NULL, sizeof(*h));
    memset(h, 0, sizeof(*h));
    h->curl = curl_easy_init();
    if (!h->curl) {
        free(h);
        fprintf(stderr, "sift: %s: libcurl failed to start\n", command);
        return NULL;
    }
    h->s = s;
    h->command = command;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
             ((uint64_t)getpid() << 40) ^ 0x9e3779b97f4a7c15ULL;
    return h;
}

void
sift__cli_http_free(struct cli_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    sift__cli_buf_free(&h->partial);
    free(h);
}

const char *
sift__cli_http_url(const struct cli_http *h)
{
    return h->s->url;
}

double
sift__cli_backoff_s(int n, double base_s, double cap_s, double retry_after_s,
                    double rnd)
{
    double d = base_s;
    for (int i = 1; i < n && d < cap_s; i++)
        d *= 2;
    if (d > cap_s)
        d = cap_s;
    /* "Equal jitter": never less than half the step, so waits still grow,
     * while clients that failed together spread out. */
    d = d / 2 + d / 2 * rnd;
    if (retry_after_s > d)
        d = retry_after_s < RETRY_AFTER_MAX_S ? retry_after_s
                                              : RETRY_AFTER_MAX_S;
    return d;
}

int
sift__cli_sleep(double seconds)
{
    struct timespec left;
    left.tv_sec = (time_t)seconds;
    left.tv_nsec = (long)((seconds - (double)left.tv_sec) * 1e9);
    while (!sift__cli_interrupted) {
        if (nanosleep(&left, &left) == 0)
            return 0;
        if (errno != EINTR)
            return 0;
    }
    return -1;
}

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
    struct cli_http *h = arg;
    size_t len = size * n;
    const struct cli_req *req = h->req;
    if (!req->on_line) {
        sift__cli_buf_add(&h->reply->body, p, len);
        return len;
    }
    const char *q = p, *end = p + len;
    while (q < end) {
        const char *nl = memchr(q, '\n', (size_t)(end - q));
        if (!nl) {
            sift__cli_buf_add(&h->partial, q, (size_t)(end - q));
            break;
        }
        const char *line = q;
        size_t line_len = (size_t)(nl - q);
        if (h->partial.len) {
            sift__cli_buf_add(&h->partial, q, line_len);
            line = h->partial.data;
            line_len = h->partial.len;
        }
        int stop = req->on_line(req->line_arg, line, line_len);
        h->partial.len = 0;
        q = nl + 1;
        if (stop) {
            h->reply->aborted = 1;
            return 0; /* CURLE_WRITE_ERROR ends the transfer */
        }
    }
    return len;
}

/*
 * A stream's (tail's) "Warning: 299 siftd "<JSON string>"" header, what
 * siftd says of the query (an 'or' read as OR...): on stderr, as search
 * prints its reply's warnings.  Reconnects do not repeat them.
 */
static void
stream_warning(struct cli_http *h, const char *p, size_t len)
{
    const char *q = memchr(p, '"', len);
    const char *e = p + len;
    while (e > p && e[-1] != '"')
        e--;
    if (q == NULL || e - q < 2)
        return;
    json_t *v = json_loadb(q, (size_t)(e - q), JSON_DECODE_ANY, NULL);
    if (json_is_string(v)) {
        fprintf(stderr, "sift: %s: warning: ", h->command);
        sift__cli_put_safe(stderr, json_string_value(v), json_string_length(v),
                           NULL);
        fputc('\n', stderr);
        h->warned_now = 1;
    }
    json_decref(v);
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
    struct cli_http *h = arg;
    size_t len = size * n;
    if (h->req->on_line && !h->warned && len > 8 &&
        strncasecmp(p, "Warning:", 8) == 0)
        stream_warning(h, p + 8, len - 8);
    /* The blank line after the headers: the status is final. */
    if ((len == 2 || len == 1) && (p[0] == '\r' || p[0] == '\n')) {
        h->warned |= h->warned_now;
        if (h->req->on_status) {
            long status = 0;
            curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
            h->req->on_status(h->req->line_arg, status);
        }
    }
    return len;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
            curl_off_t ulnow)
{
    (void)arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return sift__cli_interrupted ? 1 : 0;
}

static void
build_url(struct cli_http *h, const struct cli_req *req, struct cli_buf *url)
{
    sift__cli_buf_addf(url, "%s%s", h->s->url, req->path);
    char sep = strchr(req->path, '?') ? '&' : '?';
    for (const char *const *p = req->params; p && p[0]; p += 2) {
        if (!p[1])
            continue;
        char *k = curl_easy_escape(h->curl, p[0], 0);
        char *v = curl_easy_escape(h->curl, p[1], 0);
        if (!k || !v) {
            fputs("sift: out of memory\n", stderr);
            exit(CLI_EXIT_FAIL);
        }
        sift__cli_buf_addf(url, "%c%s=%s", sep, k, v);
        curl_free(k);
        curl_free(v);
        sep = '&';
    }
}

/* One attempt.  Returns the curl code; fills status and retry_after. */
static CURLcode
attempt(struct cli_http *h, const struct cli_req *req, struct cli_reply *r,
        const char *url)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    r->body.len = 0;
    if (r->body.data)
        r->body.data[0] = '\0';
    r->status = 0;
    r->retry_after_s = -1;
    r->aborted = 0;
    h->partial.len = 0;
    h->errbuf[0] = '\0';

    struct curl_slist *hdrs = NULL;
    struct cli_buf auth = CLI_BUF_INIT, ctype = CLI_BUF_INIT;
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (h->s->token) {
        sift__cli_buf_addf(&auth, "Authorization: Bearer %s", h->s->token);
        hdrs = curl_slist_append(hdrs, auth.data);
    }
    if (req->content_type) {
        sift__cli_buf_addf(&ctype, "Content-Type: %s", req->content_type);
        hdrs = curl_slist_append(hdrs, ctype.data);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "sift/" SIFT_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (h->s->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, h->s->cacert);
    if (req->on_line && req->idle_timeout_s > 0) {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)req->idle_timeout_s);
    }
    if (!req->on_line && h->s->timeout_s > 0)
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                         (long)(h->s->timeout_s * 1000.0));
    if (!strcmp(req->method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)req->body_len);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }

    CURLcode rc = curl_easy_perform(c);
    /* A stream's last line may lack its newline (error replies do). */
    if (rc == CURLE_OK && req->on_line && h->partial.len)
        (void)req->on_line(req->line_arg, h->partial.data, h->partial.len);
    h->partial.len = 0;
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    r->status = status;
    curl_off_t ra = -1;
    if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        r->retry_after_s = (double)ra;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    sift__cli_buf_free(&auth);
    sift__cli_buf_free(&ctype);
    return rc;
}

static int
transient_status(long status)
{
    return status == 429 || status == 503;
}

int
sift__cli_http_do(struct cli_http *h, const struct cli_req *req,
                  struct cli_reply *out)
{
    memset(out, 0, sizeof(*out));
    out->retry_after_s = -1;
    h->req = req;
    h->reply = out;
    struct cli_buf url = CLI_BUF_INIT;
    build_url(h, req, &url);
    int max_attempts = req->no_retry ? 1 : h->s->retries + 1;
    int rc = SIFT_OK;
    for (int n = 1;; n++) {
        out->attempts = n;
        CURLcode cc = attempt(h, req, out, url.data);
        int retry = 0;
        if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && out->aborted)) {
            out->sent = 1;
            retry = transient_status(out->status);
            rc = SIFT_OK;
        } else if (sift__cli_interrupted || cc == CURLE_ABORTED_BY_CALLBACK) {
            rc = SIFT_ESHUTDOWN;
            break;
        } else {
            int not_sent = cc == CURLE_COULDNT_CONNECT ||
                           cc == CURLE_COULDNT_RESOLVE_HOST ||
                           cc == CURLE_COULDNT_RESOLVE_PROXY;
            out->sent = !not_sent;
            out->status = 0;
            snprintf(out->err, sizeof(out->err), "%s",
                     h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
            retry = not_sent || req->idempotent;
            rc = SIFT_EIO;
        }
        if (!retry || n >= max_attempts)
            break;
        double wait = sift__cli_backoff_s(n, BACKOFF_BASE_S, BACKOFF_CAP_S,
                                          out->retry_after_s, rnd01(h));
        if (sift__cli_sleep(wait) < 0) {
            rc = SIFT_ESHUTDOWN;
            break;
        }
    }
    sift__cli_buf_free(&url);
    h->req = NULL;
    h->reply = NULL;
    return rc;
}

/* The server's {"error":{"type":..,"reason":..}}, if the body is one. */
static int
error_fields(const struct cli_reply *r, char *type, size_t type_len,
             char *reason, size_t reason_len)
{
    if (!r->body.data || !r->body.len)
        return -1;
    json_error_t je;
    json_t *root = json_loadb(r->body.data, r->body.len, 0, &je);
    json_t *e = json_object_get(root, "error");
    int rc = -1;
    if (json_is_object(e)) {
        const char *t = json_string_value(json_object_get(e, "type"));
        const char *why = json_string_value(json_object_get(e, "reason"));
        snprintf(type, type_len, "%s", t ? t : "error");
        snprintf(reason, reason_len, "%s", why ? why : "");
        rc = 0;
    } else if (json_is_string(e)) {
        snprintf(type, type_len, "error");
        snprintf(reason, reason_len, "%s", json_string_value(e));
        rc = 0;
    }
    json_decref(root);
    return rc;
}

int
sift__cli_http_fail(struct cli_http *h, const struct cli_reply *r)
{
    if (r->status == 0) {
        fprintf(stderr, "sift: %s: cannot reach %s: %s\n", h->command,
                h->s->url, r->err[0] ? r->err : "no answer");
        return CLI_EXIT_FAIL;
    }
    char type[64], reason[1024];
    fprintf(stderr, "sift: %s: %ld ", h->command, r->status);
    if (error_fields(r, type, sizeof(type), reason, sizeof(reason)) == 0) {
        sift__cli_put_safe(stderr, type, strlen(type), NULL);
        if (reason[0]) {
            fputs(": ", stderr);
            sift__cli_put_safe(stderr, reason, strlen(reason), NULL);
        }
    } else {
        /* Not our JSON (a proxy?): the first line of the body, cut. */
        size_t n = r->body.len;
        const char *nl = r->body.data ? memchr(r->body.data, '\n', n) : NULL;
        if (nl)
            n = (size_t)(nl - r->body.data);
        if (n > 200)
            n = 200;
        if (n)
            sift__cli_put_safe(stderr, r->body.data, n, NULL);
        else
            fputs("(empty reply)", stderr);
    }
    if (r->status == 401)
        fputs(" (give a token with --token, SIFT_TOKEN or the config file)",
              stderr);
    else if (r->status == 403)
        fputs(" (this token's role may not do that)", stderr);
    if (transient_status(r->status) && r->attempts > 1)
        fprintf(stderr, " (after %d attempts)", r->attempts);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

json_t *
sift__cli_json(struct cli_http *h, const struct cli_reply *r)
{
    json_error_t je;
    json_t *v = json_loadb(r->body.data ? r->body.data : "", r->body.len,
                           JSON_ALLOW_NUL, &je);
    if (!v)
        fprintf(stderr, "sift: %s: the server's reply is not JSON: %s\n",
                h->command, je.text);
    return v;
}
