/*
 * stream.c - export and tail answered for the whole cluster: one NDJSON
 * stream made of every node's.
 *
 * What: the request (validated by api/search.c) goes to every node, this
 * one included over loopback, marked local; each node's answer is read
 * as it comes (libevent's chunked callback) into a window of its own.
 * Once every node has sent its headers or failed, the caller's stream
 * starts: X-Sift-Nodes says how many nodes take part.
 *  - Export: a k-way merge.  Every node streams its hits in the order
 *    asked (newest or oldest first, then content hash: the order key is
 *    in each line's "_id"), so the next line out is the smallest head of
 *    the nodes' windows; a node without a complete line in its window
 *    and not at its end holds the merge until it sends one.  The stream
 *    ends with {"_nodes":{...}} (total, successful, failed, failures):
 *    a node that failed before or during the export is named there.
 *  - Tail: lines are written as they arrive from any node (live events
 *    have no order to wait for); the nodes' own heartbeats are dropped
 *    and this node writes the caller's; a node whose stream fails gives
 *    a {"_nodes":{...}} line at once.
 *
 * Bounded memory: a node more than NODE_WINDOW bytes ahead of the merge
 * is paused (its connection's reading is disabled; TCP then holds the
 * node's export, which pauses itself), and while the caller has more
 * than CLIENT_MAX_PENDING bytes queued nothing is merged and every node
 * pauses.  A tick every TICK_MS resumes them.
 *
 * Invariants: a line is written whole or not at all; an export's lines
 * are in the order asked across nodes (ties: node order, as the search
 * merge); the caller always learns of a failed node (trailer or line).
 * Work triggered by a node's callback runs from a deferred event, never
 * inside libevent's HTTP callbacks, so connections can be freed there.
 *
 * Threads: loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "cluster/cluster_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/cluster.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/node_id.h"
#include "sift/query.h"
#include "sift/time.h"

#define NODE_WINDOW ((size_t)256 * 1024)
#define CLIENT_MAX_PENDING ((size_t)1024 * 1024)
#define TICK_MS 50
/* Tails: every node is asked for a heartbeat this often, which keeps
 * its connection inside the read timeout below. */
#define NODE_HEARTBEAT "1s"
#define TAIL_MIN_TIMEOUT_MS 3000

struct snode {
    struct sift__cstream *s;
    int node;                       /* sift__cluster_nodes() index */
    struct evhttp_connection *conn; /* NULL once its request is over */
    int status;                     /* from the headers; 0 none yet */
    int over;                       /* the request is over */
    int failed;                     /* reported as a failure */
    int dup;                        /* a node already answering */
    int got_error;
    enum evhttp_request_error error;
    int paused;
    struct sift_buf in; /* bytes received, in[off..] not used yet */
    size_t off;
    int have_head; /* export: the key of the first line is read */
    uint64_t k_ts, k_hash;
    int64_t t0_ns;
    char node_id[SIFT_NODE_ID_MAX + 1];
    char reason[200];
};

struct sift__cstream {
    struct sift_cluster *c;
    struct sift_http_req *req;
    struct sift_cluster_query q;
    struct snode *nodes;
    size_t n;
    int started;
    uint64_t sent;
    size_t failures_said; /* tail: failures already told in a line */
    struct event *pump;
    struct event *tick;
    int64_t last_write_ns;
    struct sift__cstream *next;
};

/* ---- list and life ---- */

static void
stream_free(struct sift__cstream *s)
{
    struct sift__cstream **pp = sift__cluster_streams(s->c);
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    for (size_t i = 0; i < s->n; i++) {
        struct snode *k = &s->nodes[i];
        if (!k->over && k->conn)
            evhttp_connection_free(k->conn); /* no callback */
        sift_buf_cleanup(&k->in);
    }
    if (s->pump)
        event_free(s->pump);
    if (s->tick)
        event_free(s->tick);
    sift_free(s->nodes);
    sift_free(s);
}

static void
schedule(struct sift__cstream *s)
{
    if (s->pump)
        event_active(s->pump, EV_TIMEOUT, 0);
}

static int
live(const struct snode *k)
{
    return k->status == 200 && !k->failed && !k->dup;
}

/* ---- a node's answer ---- */

static void
set_paused(struct snode *k, int pause)
{
    if (k->over || !k->conn || k->paused == pause)
        return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(k->conn);
    if (!bev)
        return;
    k->paused = pause;
    if (pause) {
        bufferevent_disable(bev, EV_READ);
    } else {
        bufferevent_enable(bev, EV_READ);
        /* What arrived while paused is processed now, not on the next
         * byte from the node. */
        bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
    }
}

static int
on_headers(struct evhttp_request *r, void *arg)
{
    struct snode *k = arg;
    k->status = evhttp_request_get_response_code(r);
    const char *id = evhttp_find_header(evhttp_request_get_input_headers(r),
                                        SIFT_CLUSTER_NODE_HEADER);
    if (id)
        snprintf(k->node_id, sizeof(k->node_id), "%s", id);
    schedule(k->s);
    return 0;
}

static void
take_input(struct snode *k, struct evhttp_request *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r);
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    if (k->off > 0 && k->off * 2 >= k->in.len) {
        memmove(k->in.data, k->in.data + k->off, k->in.len - k->off);
        k->in.len -= k->off;
        k->off = 0;
    }
    sift_buf_reserve(&k->in, len + 1);
    k->in.len += (size_t)evbuffer_remove(in, k->in.data + k->in.len, len);
}

static void
on_chunk(struct evhttp_request *r, void *arg)
{
    struct snode *k = arg;
    take_input(k, r);
    if (k->status == 200 && k->in.len - k->off > NODE_WINDOW)
        set_paused(k, 1);
    schedule(k->s);
}

static void
on_error(enum evhttp_request_error e, void *arg)
{
    struct snode *k = arg;
    k->error = e;
    k->got_error = 1;
}

static void
on_done(struct evhttp_request *r, void *arg)
{
    struct snode *k = arg;
    if (k->over)
        return;
    k->over = 1;
    k->conn = NULL; /* frees itself now that its request is over */
    if (r != NULL && evhttp_request_get_response_code(r) > 0) {
        if (!k->status)
            k->status = evhttp_request_get_response_code(r);
        take_input(k, r);
    }
    schedule(k->s);
}

/* Why node k failed, from what it said or how its connection ended. */
static void
failure_reason(struct snode *k)
{
    if (k->reason[0])
        return;
    int64_t ms = sift__cluster_timeout_ms(k->s->c);
    if (k->status > 0 && k->status != 200) {
        const char *b = k->in.data ? k->in.data + k->off : "";
        const char *rp =
            sift_find_bytes(b, k->in.len - k->off, "\"reason\":\"", 10);
        int n = 0;
        if (rp) {
            rp += 10;
            const char *e =
                memchr(rp, '"', (size_t)(b + k->in.len - k->off - rp));
            n = e ? (int)(e - rp) : 0;
        }
        snprintf(k->reason, sizeof(k->reason), "HTTP %d%s%.*s", k->status,
                 n ? ": " : "", n, n ? rp : "");
    } else if (k->status == 200) {
        snprintf(k->reason, sizeof(k->reason), "%s",
                 k->got_error && k->error == EVREQ_HTTP_TIMEOUT
                     ? "the stream stalled past cluster.timeout"
                     : "the stream ended early");
    } else if (k->got_error && k->error == EVREQ_HTTP_TIMEOUT) {
        snprintf(k->reason, sizeof(k->reason),
                 "no answer within cluster.timeout (%lld ms)", (long long)ms);
    } else if (k->got_error && k->error == EVREQ_HTTP_EOF) {
        snprintf(k->reason, sizeof(k->reason), "%s",
                 "the connection closed before an answer");
    } else {
        snprintf(k->reason, sizeof(k->reason), "%s", "cannot connect");
    }
}

static void
mark_failed(struct snode *k, const char *reason)
{
    if (k->failed)
        return;
    if (reason)
        snprintf(k->reason, sizeof(k->reason), "%s", reason);
    failure_reason(k);
    k->failed = 1;
    sift__cluster_note(k->s->c, k->node, 0, k->status > 0, k->node_id,
                       k->reason, -1);
    if (!k->over && k->conn) {
        evhttp_connection_free(k->conn); /* no callback */
        k->conn = NULL;
        k->over = 1;
    }
}

/* The next complete line of k's window, or NULL. */
static const char *
next_line(const struct snode *k, size_t *len)
{
    if (!k->in.data || k->off >= k->in.len)
        return NULL;
    const char *p = k->in.data + k->off;
    const char *nl = memchr(p, '\n', k->in.len - k->off);
    if (!nl)
        return NULL;
    *len = (size_t)(nl - p) + 1;
    return p;
}

static void
consume(struct snode *k, size_t len)
{
    k->off += len;
    k->have_head = 0;
    if (k->off >= k->in.len)
        k->off = k->in.len = 0;
}

/* ---- the caller's stream ---- */

static void
put_nodes(const struct sift__cstream *s, struct sift_buf *b)
{
    size_t total = 0, failed = 0;
    for (size_t i = 0; i < s->n; i++) {
        total += s->nodes[i].dup ? 0u : 1u;
        failed += s->nodes[i].failed && !s->nodes[i].dup ? 1u : 0u;
    }
    sift_buf_appendf(b,
                     "{\"total\":%zu,\"successful\":%zu,\"failed\":%zu,"
                     "\"failures\":[",
                     total, total - failed, failed);
    int first = 1;
    char tmp[128];
    for (size_t i = 0; i < s->n; i++) {
        const struct snode *k = &s->nodes[i];
        if (!k->failed || k->dup)
            continue;
        const char *url =
            sift__cluster_node_url(s->c, k->node, tmp, sizeof(tmp));
        sift_buf_appendf(b, "%s{\"node\":", first ? "" : ",");
        first = 0;
        sift_buf_put_json_str(b, url, strlen(url));
        if (k->node_id[0]) {
            sift_buf_append(b, ",\"node_id\":", 11);
            sift_buf_put_json_str(b, k->node_id, strlen(k->node_id));
        }
        if (k->status > 0)
            sift_buf_appendf(b, ",\"status\":%d", k->status);
        else
            sift_buf_append(b, ",\"status\":null", 14);
        sift_buf_append(b, ",\"reason\":", 10);
        sift_buf_put_json_str(b, k->reason, strlen(k->reason));
        sift_buf_putc(b, '}');
    }
    sift_buf_append(b, "]}", 2);
}

static void
write_line(struct sift__cstream *s, const char *p, size_t len)
{
    (void)sift_http_stream_write(s->req, p, len);
    s->last_write_ns = sift_clock_mono_ns();
}

static void
write_nodes_line(struct sift__cstream *s)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_append(&b, "{\"_nodes\":", 10);
    put_nodes(s, &b);
    sift_buf_append(&b, "}\n", 2);
    write_line(s, b.data, b.len);
    sift_buf_cleanup(&b);
}

/* Ends the caller's stream (with the _nodes line) and frees s. */
static void
stream_end(struct sift__cstream *s)
{
    write_nodes_line(s);
    for (size_t i = 0; i < s->n; i++)
        if (live(&s->nodes[i]))
            sift__cluster_note(s->c, s->nodes[i].node, 1, 1,
                               s->nodes[i].node_id, NULL,
                               sift_clock_mono_ns() - s->nodes[i].t0_ns);
    sift_http_stream_end(s->req);
    stream_free(s);
}

static void
on_client_close(struct sift_http_req *req, void *arg)
{
    struct sift__cstream *s = arg;
    sift_http_stream_end(req);
    stream_free(s);
}

/* No stream could start: the reply is an error, as a fan-out's is. */
static void
reply_failed(struct sift__cstream *s, size_t ok)
{
    struct snode *self = &s->nodes[0]; /* node -1 comes first */
    struct sift_buf b = SIFT_BUF_INIT;
    if (ok == 0 && self->status >= 400 && self->status < 500 &&
        self->in.len > self->off) {
        /* A bad request fails the same way on every node. */
        sift_buf_append(&b, self->in.data + self->off,
                        self->in.len - self->off);
        sift_http_reply_json(s->req, self->status, &b);
    } else {
        struct sift_buf f = SIFT_BUF_INIT;
        put_nodes(s, &f);
        if (ok == 0)
            sift_http_reply_error(s->req, 502, "cluster_unavailable",
                                  "no node answered: %s", sift_buf_cstr(&f));
        else
            sift_http_reply_error(s->req, 502, "cluster_partial",
                                  "a node failed and allow_partial is false: "
                                  "%s",
                                  sift_buf_cstr(&f));
        sift_buf_cleanup(&f);
    }
    sift_buf_cleanup(&b);
    stream_free(s);
}

/* Every node has its headers or is over: start the stream, or reply an
 * error.  Returns 0 when the stream runs, -1 when s is gone. */
static int
start(struct sift__cstream *s)
{
    size_t ok = 0, failed = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct snode *k = &s->nodes[i];
        if (k->status == 200 && !(k->over && k->got_error)) {
            for (size_t j = 0; j < i && k->node_id[0]; j++)
                if (live(&s->nodes[j]) &&
                    strcmp(s->nodes[j].node_id, k->node_id) == 0)
                    k->dup = 1; /* one node under two addresses */
            if (k->dup) {
                if (!k->over && k->conn)
                    evhttp_connection_free(k->conn);
                k->conn = NULL;
                k->over = 1;
                continue;
            }
            ok++;
        } else {
            mark_failed(k, NULL);
            failed++;
        }
    }
    if (ok == 0 || (failed > 0 && !s->q.allow_partial)) {
        reply_failed(s, ok);
        return -1;
    }
    char h[96];
    snprintf(h, sizeof(h), "total=%zu, successful=%zu, failed=%zu", ok + failed,
             ok, failed);
    sift_http_add_header(s->req, "X-Sift-Nodes", h);
    sift__cluster_warn_partial(s->req, failed, ok + failed, "the _nodes line");
    if (sift_http_stream_start(s->req, 200, "application/x-ndjson",
                               on_client_close, s) < 0) {
        sift_http_stream_end(s->req);
        stream_free(s);
        return -1;
    }
    s->started = 1;
    s->last_write_ns = sift_clock_mono_ns();
    struct timeval tv = {0, TICK_MS * 1000L};
    event_add(s->tick, &tv);
    if (s->q.kind == SIFT_CLUSTER_TAIL && failed > 0) {
        write_nodes_line(s);
        s->failures_said = failed;
    }
    return 0;
}

/* Export: the head line's order key of node k (ascending = output
 * order), read from its "_id".  0 when the line has none. */
static int
head_key(struct sift__cstream *s, struct snode *k, const char *line, size_t len)
{
    if (k->have_head)
        return 1;
    const char *id =
        sift_find_bytes(line, len < 160 ? len : 160, "\"_id\":\"", 7);
    if (!id)
        return 0;
    id += 7;
    const char *e = memchr(id, '"', (size_t)(line + len - id));
    int64_t ts = 0;
    uint64_t hash = 0;
    if (!e || sift_query_hit_key(id, (size_t)(e - id), &ts, &hash) != SIFT_OK)
        return 0;
    uint64_t kt = (uint64_t)ts ^ UINT64_C(0x8000000000000000);
    k->k_ts = s->q.oldest_first ? kt : ~kt;
    k->k_hash = s->q.oldest_first ? hash : ~hash;
    k->have_head = 1;
    return 1;
}

/* A line that is not a hit: the node's export failed mid-way ({"error":
 * ...}); it is that node's failure. */
static void
bad_line(struct snode *k, const char *line, size_t len)
{
    char why[200];
    snprintf(why, sizeof(why), "its stream said: %.*s",
             (int)(len > 150 ? 150 : len - 1), line);
    consume(k, len);
    mark_failed(k, why);
}

/* Export: writes the merged lines that can go out now.  Returns 1 when
 * the export is complete (every node at its end, or the cap reached). */
static int
merge_export(struct sift__cstream *s)
{
    for (;;) {
        if (sift_http_stream_pending(s->req) > CLIENT_MAX_PENDING)
            return 0;
        struct snode *best = NULL;
        size_t best_len = 0;
        const char *best_line = NULL;
        int waiting = 0;
        for (size_t i = 0; i < s->n; i++) {
            struct snode *k = &s->nodes[i];
            if (!live(k))
                continue;
            size_t len = 0;
            const char *line = next_line(k, &len);
            if (!line) {
                if (!k->over)
                    waiting = 1;
                else if (k->got_error || k->in.len > k->off)
                    mark_failed(k, NULL); /* cut short */
                continue;
            }
            if (!head_key(s, k, line, len)) {
                bad_line(k, line, len);
                continue;
            }
            if (!best || k->k_ts < best->k_ts ||
                (k->k_ts == best->k_ts && k->k_hash < best->k_hash)) {
                best = k;
                best_line = line;
                best_len = len;
            }
        }
        if (waiting)
            return 0;
        if (!best)
            return 1;
        write_line(s, best_line, best_len);
        consume(best, best_len);
        if (s->q.size && ++s->sent >= s->q.size)
            return 1;
    }
}

/* Tail: writes every complete line; returns 1 when no node streams. */
static int
forward_tail(struct sift__cstream *s)
{
    size_t live_n = 0, failed = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct snode *k = &s->nodes[i];
        while (live(k) &&
               sift_http_stream_pending(s->req) <= CLIENT_MAX_PENDING) {
            size_t len = 0;
            const char *line = next_line(k, &len);
            if (!line)
                break;
            if (len > 13 && memcmp(line, "{\"heartbeat\":", 13) == 0) {
                consume(k, len);
            } else if (len > 9 && memcmp(line, "{\"error\":", 9) == 0) {
                bad_line(k, line, len); /* e.g. the node is stopping */
            } else {
                write_line(s, line, len);
                consume(k, len);
            }
        }
        if (live(k) && k->over && !next_line(k, &(size_t){0}))
            mark_failed(k, k->got_error ? NULL : "its stream ended");
        live_n += live(k) ? 1u : 0u;
        failed += k->failed && !k->dup ? 1u : 0u;
    }
    if (failed > s->failures_said) {
        s->failures_said = failed;
        if (live_n > 0)
            write_nodes_line(s);
    }
    return live_n == 0;
}

static void
on_pump(evutil_socket_t fd, short what, void *arg)
{
    struct sift__cstream *s = arg;
    (void)fd;
    (void)what;
    if (!s->started) {
        for (size_t i = 0; i < s->n; i++) {
            const struct snode *k = &s->nodes[i];
            if (!k->over && k->status != 200)
                return; /* no headers yet, or an error body coming */
        }
        if (start(s) < 0)
            return;
    }
    int done =
        s->q.kind == SIFT_CLUSTER_EXPORT ? merge_export(s) : forward_tail(s);
    if (done) {
        stream_end(s);
        return;
    }
    /* Room again in the caller's queue and the node's window: read on. */
    int room = sift_http_stream_pending(s->req) <= CLIENT_MAX_PENDING;
    for (size_t i = 0; i < s->n; i++) {
        struct snode *k = &s->nodes[i];
        if (live(k))
            set_paused(k, !room || k->in.len - k->off > NODE_WINDOW);
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct sift__cstream *s = arg;
    (void)fd;
    (void)what;
    int64_t now = sift_clock_mono_ns();
    if (s->q.kind == SIFT_CLUSTER_TAIL && s->q.heartbeat_ms > 0 &&
        now - s->last_write_ns >= s->q.heartbeat_ms * SIFT_NS_PER_MS &&
        sift_http_stream_pending(s->req) == 0) {
        struct sift_buf b = SIFT_BUF_INIT;
        sift_buf_append(&b, "{\"heartbeat\":\"", 14);
        sift_time_format_rfc3339(sift_clock_now_ns(), 3, &b);
        sift_buf_append(&b, "\"}\n", 3);
        write_line(s, b.data, b.len);
        sift_buf_cleanup(&b);
    }
    struct timeval tv = {0, TICK_MS * 1000L};
    event_add(s->tick, &tv);
    on_pump(-1, 0, s); /* may free s: last */
}

/* ---- starting ---- */

/* The query string sent to the nodes: the caller's parameters without
 * local, allow_partial and heartbeat (a tail asks NODE_HEARTBEAT). */
static void
node_uri(struct sift_http_req *req, int tail, struct sift_buf *uri)
{
    const char *path = sift_http_req_path(req);
    sift_buf_append(uri, path, strlen(path));
    char sep = '?';
    size_t n = sift_http_req_param_count(req);
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL, *name = sift_http_req_param_at(req, i, &v);
        if (!name || strcmp(name, "local") == 0 ||
            strcmp(name, "allow_partial") == 0 ||
            strcmp(name, "heartbeat") == 0)
            continue;
        char *en = evhttp_encode_uri(name);
        char *ev = evhttp_encode_uri(v ? v : "");
        sift_buf_appendf(uri, "%c%s=%s", sep, en ? en : "", ev ? ev : "");
        free(en);
        free(ev);
        sep = '&';
    }
    if (tail)
        sift_buf_appendf(uri, "%cheartbeat=%s", sep, NODE_HEARTBEAT);
}

void
sift_cluster_stream(struct sift_cluster *c, struct sift_http_req *req,
                    const struct sift_cluster_query *q)
{
    struct sift__cstream *s = sift_xcalloc(1, sizeof(*s));
    s->c = c;
    s->req = req;
    s->q = *q;
    s->q.cursor = NULL;
    int *idx = sift_xcalloc(sift__cluster_max_nodes(c), sizeof(*idx));
    s->n = sift__cluster_nodes(c, idx);
    s->nodes = sift_xcalloc(s->n, sizeof(*s->nodes));
    struct event_base *base = sift__cluster_base(c);
    s->pump = event_new(base, -1, 0, on_pump, s);
    s->tick = evtimer_new(base, on_tick, s);
    s->next = *sift__cluster_streams(c);
    *sift__cluster_streams(c) = s;

    int tail = q->kind == SIFT_CLUSTER_TAIL;
    int post = strcmp(sift_http_req_method(req), "POST") == 0;
    size_t blen = 0;
    const char *body = post ? sift_http_req_body(req, &blen) : NULL;
    struct sift_buf uri = SIFT_BUF_INIT;
    node_uri(req, tail, &uri);
    int64_t timeout = sift__cluster_timeout_ms(c);
    if (tail && timeout < TAIL_MIN_TIMEOUT_MS)
        timeout = TAIL_MIN_TIMEOUT_MS;
    for (size_t i = 0; i < s->n; i++) {
        struct snode *k = &s->nodes[i];
        k->s = s;
        k->node = idx[i];
        k->t0_ns = sift_clock_mono_ns();
        struct evhttp_request *r = sift__cluster_node_request(
            c, k->node, req, timeout, on_done, k, &k->conn);
        if (!r) {
            k->over = 1;
            continue;
        }
        evhttp_request_set_header_cb(r, on_headers);
        evhttp_request_set_chunked_cb(r, on_chunk);
        evhttp_request_set_error_cb(r, on_error);
        struct evkeyvalq *h = evhttp_request_get_output_headers(r);
        evhttp_add_header(h, "Accept", "application/x-ndjson");
        if (post) {
            evhttp_add_header(h, "Content-Type", "application/json");
            if (blen)
                evbuffer_add(evhttp_request_get_output_buffer(r), body, blen);
        }
        if (evhttp_make_request(k->conn, r,
                                post ? EVHTTP_REQ_POST : EVHTTP_REQ_GET,
                                sift_buf_cstr(&uri)) != 0) {
            evhttp_connection_free(k->conn); /* libevent freed r */
            k->conn = NULL;
            k->over = 1;
            continue;
        }
        evhttp_connection_free_on_completion(k->conn);
    }
    sift_buf_cleanup(&uri);
    sift_free(idx);
    schedule(s);
}

void
sift__cluster_streams_stop(struct sift_cluster *c)
{
    struct sift__cstream **head = sift__cluster_streams(c);
    while (*head) {
        struct sift__cstream *s = *head;
        if (!s->started) {
            sift_http_reply_error(s->req, 503, "shutting_down", "%s",
                                  "the server is stopping");
            stream_free(s);
            continue;
        }
        static const char line[] =
            "{\"error\":{\"type\":\"shutting_down\",\"reason\":\"the server "
            "is stopping\"}}\n";
        write_line(s, line, sizeof(line) - 1);
        sift_http_stream_end(s->req);
        stream_free(s);
    }
}
