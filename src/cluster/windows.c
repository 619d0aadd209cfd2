/*
 * windows.c - the anomaly scorer's window counts between nodes.
 *
 * What: GET /api/v1/cluster/anomaly?win=N answers this node's counts of
 * its closed window N (the scorer's sift_anomaly_window_json(), wired by
 * main); sift_cluster_windows_ask() asks every other node for theirs
 * when a window closes here and hands the answers to the anomaly service.
 *
 * Design (docs/internals/cluster.md, "Anomaly over the cluster"):
 *  - Windows close on every node at the same wall-clock instants, but
 *    not in the same microsecond: a node asked for a window it has not
 *    closed yet holds the request, polling every 20 ms, for at most half
 *    of cluster.timeout (then 503 window_open: the asker counts the node
 *    as not answering for that window).  A window older than what the
 *    scorer keeps is 404 window_gone.
 *  - The asks use the fan-out's transport (sift__cluster_peer_request():
 *    one connection per request, cluster.timeout, the cluster token;
 *    this file frees the connections itself, see bury()) and
 *    skip the peer entry that is this node.  An answer is passed on as
 *    its body; the scorer parses it (its node id, one node under two
 *    addresses counted once).
 *
 * Invariants: every ask calls done exactly once (all answered, failed or
 * timed out), unless the module was stopped first; nothing is freed
 * while libevent may still call it back (connections still open are
 * freed without callback at sift_cluster_windows_free()), and every
 * connection is freed exactly once: by bury_all() after its callback,
 * or at free while its request is pending.
 *
 * Threads: loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "cluster/cluster_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/cluster.h"
#include "sift/cluster_windows.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/log.h"

struct wwait; /* a request for a window not closed here yet */
struct wask;  /* asking the peers for one window */

struct sift_cluster_windows {
    struct sift_cluster *c;
    struct sift_cluster_windows_src src;
    struct wwait *waits;
    struct wask *asks;
    int stopped;
    int warned_auth; /* a peer refused our token: said once */
    /* Connections whose request is over, freed on the next ask and at
     * free (never inside their own callback).  Not left to libevent's
     * free_on_completion: libevent 2.1 does not free such a connection
     * when it could not connect (a peer that is stopping). */
    struct evhttp_connection **dead;
    size_t n_dead, cap_dead;
};

static void
bury(struct sift_cluster_windows *w, struct evhttp_connection *conn)
{
    if (w->n_dead == w->cap_dead) {
        w->cap_dead = w->cap_dead ? w->cap_dead * 2 : 16;
        w->dead = sift_xrealloc(w->dead, w->cap_dead * sizeof(*w->dead));
    }
    w->dead[w->n_dead++] = conn;
}

static void
bury_all(struct sift_cluster_windows *w)
{
    for (size_t i = 0; i < w->n_dead; i++)
        evhttp_connection_free(w->dead[i]);
    w->n_dead = 0;
}

/* ---- answering ---- */

struct wwait {
    struct sift_cluster_windows *w;
    struct sift_http_req *req;
    int64_t win;
    int64_t deadline_ns;
    struct event *ev;
    struct wwait *next;
};

static void
wwait_free(struct wwait *ww)
{
    struct wwait **pp = &ww->w->waits;
    while (*pp && *pp != ww)
        pp = &(*pp)->next;
    if (*pp)
        *pp = ww->next;
    if (ww->ev)
        event_free(ww->ev);
    sift_free(ww);
}

static void
on_wwait(evutil_socket_t fd, short what, void *arg)
{
    struct wwait *ww = arg;
    struct sift_cluster_windows *w = ww->w;
    (void)fd;
    (void)what;
    struct sift_buf b = SIFT_BUF_INIT;
    int rc =
        w->src.window ? w->src.window(w->src.arg, ww->win, &b) : SIFT_ENOTFOUND;
    if (rc == SIFT_EAGAIN && sift_clock_mono_ns() < ww->deadline_ns &&
        !sift_http_req_is_closed(ww->req)) {
        sift_buf_cleanup(&b);
        struct timeval tv = {0, 20 * 1000L};
        event_add(ww->ev, &tv);
        return;
    }
    sift_http_add_header(ww->req, SIFT_CLUSTER_NODE_HEADER,
                         sift__cluster_node_id(w->c));
    if (rc == SIFT_OK) {
        sift_buf_putc(&b, '\n');
        sift_http_reply_json(ww->req, 200, &b);
    } else if (rc == SIFT_EAGAIN) {
        sift_http_reply_error(ww->req, 503, "window_open",
                              "window %lld is not closed on this node",
                              (long long)ww->win);
    } else {
        sift_http_reply_error(ww->req, 404, "window_gone",
                              "window %lld is not kept on this node",
                              (long long)ww->win);
    }
    sift_buf_cleanup(&b);
    wwait_free(ww);
}

/*
 * GET /api/v1/cluster/anomaly?win=N: this node's counts of window N (N =
 * arrival time / anomaly.window), once N is closed here.
 */
static void
handle_window(struct sift_http_req *req, void *arg)
{
    struct sift_cluster_windows *w = arg;
    if (w->stopped) {
        sift_http_reply_error(req, 503, "shutting_down", "%s",
                              "the server is stopping");
        return;
    }
    const char *p = sift_http_req_param(req, "win");
    char *end = NULL;
    long long win = p ? strtoll(p, &end, 10) : -1;
    if (!p || !*p || *end || win < 0) {
        sift_http_reply_error(req, 400, "bad_request", "%s",
                              "parameter 'win' must be a window number");
        return;
    }
    struct wwait *ww = sift_xcalloc(1, sizeof(*ww));
    ww->w = w;
    ww->req = req;
    ww->win = win;
    ww->deadline_ns = sift_clock_mono_ns() +
                      sift__cluster_timeout_ms(w->c) / 2 * SIFT_NS_PER_MS;
    ww->ev = evtimer_new(sift__cluster_base(w->c), on_wwait, ww);
    ww->next = w->waits;
    w->waits = ww;
    on_wwait(-1, 0, ww);
}

/* ---- asking ---- */

struct wcall {
    struct wask *a;
    struct evhttp_connection *conn;
    int done;
    int ok;
    struct sift_buf body;
};

struct wask {
    struct sift_cluster_windows *w;
    int64_t win;
    sift_anomaly_service_window_cb done;
    void *done_arg;
    int cancelled;
    size_t n, pending;
    struct wcall *calls;
    struct wask *next;
};

static void
wask_free(struct wask *a)
{
    struct wask **pp = &a->w->asks;
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp)
        *pp = a->next;
    for (size_t i = 0; i < a->n; i++)
        sift_buf_cleanup(&a->calls[i].body);
    sift_free(a->calls);
    sift_free(a);
}

static void
wask_finish(struct wask *a)
{
    if (!a->cancelled) {
        struct sift_anomaly_answer *ans =
            sift_xcalloc(a->n ? a->n : 1, sizeof(*ans));
        size_t n = 0, failed = 0;
        for (size_t i = 0; i < a->n; i++) {
            if (a->calls[i].ok) {
                ans[n].body = a->calls[i].body.data;
                ans[n].len = a->calls[i].body.len;
                n++;
            } else {
                failed++;
            }
        }
        a->done(a->done_arg, a->win, ans, n, failed);
        sift_free(ans);
    }
    wask_free(a);
}

static void
on_wcall_done(struct evhttp_request *r, void *arg)
{
    struct wcall *k = arg;
    struct wask *a = k->a;
    if (k->done)
        return;
    k->done = 1;
    if (k->conn)
        bury(a->w, k->conn);
    k->conn = NULL;
    int status = r ? evhttp_request_get_response_code(r) : 0;
    if (status == 200) {
        struct evbuffer *in = evhttp_request_get_input_buffer(r);
        size_t len = evbuffer_get_length(in);
        sift_buf_append(&k->body, evbuffer_pullup(in, -1), len);
        k->ok = 1;
    } else if ((status == 401 || status == 403) && !a->w->warned_auth) {
        /* Every window would be partial, and each node the owner of
         * every series: say why, once. */
        a->w->warned_auth = 1;
        SIFT_WARN("cluster: a peer refused the anomaly counts (HTTP %d): "
                  "give [cluster] token the node role in every node's "
                  "[auth] tokens",
                  status);
    }
    if (--a->pending == 0)
        wask_finish(a);
}

void
sift_cluster_windows_ask(void *arg, int64_t win,
                         sift_anomaly_service_window_cb done, void *done_arg)
{
    struct sift_cluster_windows *w = arg;
    if (w->stopped)
        return;
    bury_all(w);
    struct sift_cluster *c = w->c;
    size_t np = sift__cluster_n_peers(c);
    struct wask *a = sift_xcalloc(1, sizeof(*a));
    a->w = w;
    a->win = win;
    a->done = done;
    a->done_arg = done_arg;
    a->calls = sift_xcalloc(np ? np : 1, sizeof(*a->calls));
    a->next = w->asks;
    w->asks = a;
    char uri[64];
    snprintf(uri, sizeof(uri), "/api/v1/cluster/anomaly?win=%lld",
             (long long)win);
    for (size_t i = 0; i < np; i++) {
        if (sift__cluster_peer_is_self(c, i))
            continue;
        struct wcall *k = &a->calls[a->n++];
        k->a = a;
        struct evhttp_request *r =
            sift__cluster_peer_request(c, i, on_wcall_done, k, &k->conn);
        if (!r) {
            k->done = 1;
            continue;
        }
        if (evhttp_make_request(k->conn, r, EVHTTP_REQ_GET, uri) != 0) {
            evhttp_connection_free(k->conn); /* libevent freed r */
            k->conn = NULL;
            k->done = 1;
            continue;
        }
        a->pending++;
    }
    if (a->pending == 0)
        wask_finish(a); /* nobody to ask, or no request could start */
}

/* ---- life ---- */

int
sift_cluster_windows_new(struct sift_cluster *c, struct sift_http *http,
                         const struct sift_cluster_windows_src *src,
                         struct sift_cluster_windows **out)
{
    struct sift_cluster_windows *w = sift_xcalloc(1, sizeof(*w));
    w->c = c;
    w->src = *src;
    sift_http_route(http, "GET", "/api/v1/cluster/anomaly", 0, SIFT_ROLE_READER,
                    handle_window, w);
    *out = w;
    return SIFT_OK;
}

void
sift_cluster_windows_stop(struct sift_cluster_windows *w)
{
    if (!w)
        return;
    w->stopped = 1;
    memset(&w->src, 0, sizeof(w->src));
    while (w->waits) {
        struct wwait *ww = w->waits;
        sift_http_reply_error(ww->req, 503, "shutting_down", "%s",
                              "the server is stopping");
        wwait_free(ww);
    }
    for (struct wask *a = w->asks; a; a = a->next)
        a->cancelled = 1;
}

void
sift_cluster_windows_free(struct sift_cluster_windows *w)
{
    if (!w)
        return;
    sift_cluster_windows_stop(w);
    while (w->asks) {
        struct wask *a = w->asks;
        for (size_t i = 0; i < a->n; i++)
            if (!a->calls[i].done && a->calls[i].conn)
                evhttp_connection_free(a->calls[i].conn); /* no callback */
        wask_free(a);
    }
    bury_all(w);
    sift_free(w->dead);
    sift_free(w);
}
