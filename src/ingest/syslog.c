/*
 * syslog.c - syslog listeners: TCP (RFC 6587 octet counting and LF
 * framing, as rsyslog's omfwd, syslog-ng and `logger --tcp` send) and UDP
 * (one message per datagram, RFC 5426), and TCP in TLS (RFC 5425: the
 * same octet-counted frames inside a TLS session).  Each listener is one
 * source ("syslog-tcp:<addr>", "syslog-udp:<addr>", "syslog-tls:<addr>");
 * its messages take the
 * standard sink (source_pipe.c: the [syslog] format, RFC 5424 and 3164
 * with the syslog parser, and extra_fields) and the pipeline like every
 * source.
 *
 * Design:
 *  - TCP: a libevent listener; one bufferevent per connection.  Framing
 *    is chosen per message as RFC 6587 says: a frame that starts with a
 *    digit 1-9 is octet-counted ("<len> <msg>"), any other is one line up
 *    to LF (a trailing CR and a NUL delimiter are dropped too).  The
 *    bytes of up to batch_max complete messages are handed to the sink as
 *    one batch (the sink copies them); an incomplete one waits for more
 *    bytes; at EOF the bytes left over are a last message.
 *  - A message longer than syslog.max_message_bytes is cut there (the
 *    rest of its frame is skipped), delivered, counted and logged, like
 *    rsyslog's maxMessageSize: nothing goes unnoticed and memory stays
 *    bounded (the input buffer's high-water mark follows the limit).
 *  - syslog.durable = false (default): a connection is read on while its
 *    batches wait for the WAL fsync; a batch the store refuses later
 *    (write error) is lost for the sender and logged, which is what TCP
 *    syslog senders accept from any receiver.  syslog.durable = true: a
 *    connection is not read again until its batch is durable, and a batch
 *    the store failed is delivered again; so what a sender's kernel saw
 *    acknowledged by TCP is at most one batch plus the socket buffers
 *    (syslog has no application acknowledgement: RFC 5425/6587).
 *  - Backpressure: the sink answering SIFT_EBUSY stops reading (the peer
 *    blocks on its TCP window) and retries after retry_ms; nothing read
 *    is dropped.  UDP keeps its batch and stops reading too: the kernel
 *    drops what overflows its socket buffer (UDP has no flow control).
 *  - Limits: syslog.max_connections (more are accepted and closed at
 *    once, logged); connections live until the peer closes them.
 *  - TLS: an OpenSSL bufferevent (accepting) in place of the socket one,
 *    with the [tls] certificate and key (sift_tls_server_ctx_new, loaded
 *    at start); everything above it is the TCP path.  A peer that closes
 *    without close_notify is an EOF like any TCP close (rsyslog and
 *    `openssl s_client` often do), so its last message still counts.
 *    Clients are not asked for certificates.
 *  - Every event gets the keyword fields syslog.peer (the sender's IP)
 *    and syslog.transport (tcp, udp or tls).
 *  - pause (the SIGTERM drain) stops reading and accepting;
 *    stop closes the listener; free closes every connection once its
 *    batches were answered (the store is closed before free).
 *
 * Thread: loop thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "sift/alloc.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/source.h"
#include "sift/tls.h"

#include "ingest/ingest_int.h"

#define UDP_MAX_DGRAM 65535
#define UDP_BATCH_BYTES ((size_t)1024 * 1024) /* datagram bytes per batch */

struct sl_src;

struct sl_conn {
    struct sl_src *s;
    struct bufferevent *bev;
    char peer[INET6_ADDRSTRLEN];
    char key[INET6_ADDRSTRLEN + 16]; /* "peer:port": multi-line stream */
    struct sift_field fields[2];     /* syslog.peer, syslog.transport */
    uint64_t skip;    /* bytes of a cut octet-counted frame still to skip */
    int skip_to_lf;   /* a cut LF frame: skip up to the next LF */
    uint32_t pending; /* batches waiting for their ack */
    size_t held;      /* durable: bytes delivered, not yet acknowledged */
    int eof;          /* the peer closed (or an error): free when idle */
    struct sl_conn *prev, *next;
};

struct sl_batch {
    struct sl_src *s;
    struct sl_conn *c; /* NULL: UDP */
    size_t n_msgs;
    size_t bytes; /* durable TCP: bytes to drain when durable */
    int cut;      /* durable TCP: the batch ended in a cut frame */
};

struct sl_src {
    struct sift_source head;
    struct sift_source_env env;
    int udp;
    int tls;          /* TCP in TLS (RFC 5425) */
    SSL_CTX *ssl_ctx; /* tls: loaded by sl_start */
    int durable;
    size_t max_msg;
    int64_t max_conns;
    char *addr;
    struct evconnlistener *lst;
    int fd;            /* UDP socket */
    struct event *rev; /* UDP read event */
    struct event *retry_ev;
    struct sl_conn *conns;
    size_t n_conns;
    int paused; /* owner hold */
    int busy;   /* the sink said EBUSY: retry timer armed */
    int stopped;
    /* UDP: a batch the sink refused, kept for the retry. */
    struct sift_source_msg *umsgs;
    char *ubuf;
    size_t n_umsgs;
    struct sift_field *ufields; /* one syslog.peer field per message */
    char (*upeers)[INET6_ADDRSTRLEN];
    struct sift_source_stats st; /* truncated, refused_conns too */
};

static void conn_process(struct sl_conn *c);

/* The fields every event of a listener gets: syslog.peer (the sender's
 * IP) and syslog.transport (tcp or udp). */
static void
set_fields(struct sift_field f[2], const char *peer, const char *transport)
{
    f[0].name = "syslog.peer";
    f[0].name_len = 11;
    f[0].value = peer;
    f[0].value_len = (uint32_t)strlen(peer);
    f[0].type = SIFT_FT_KEYWORD;
    f[1].name = "syslog.transport";
    f[1].name_len = 16;
    f[1].value = transport;
    f[1].value_len = (uint32_t)strlen(transport);
    f[1].type = SIFT_FT_KEYWORD;
}

/* ------------------------------------------------------------------ */
/* Connections                                                         */
/* ------------------------------------------------------------------ */

static void
conn_free(struct sl_conn *c)
{
    struct sl_src *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->n_conns--;
    bufferevent_free(c->bev);
    sift_free(c);
}

/* Frees c when the peer is gone and nothing of it waits: no batch
 * without its ack, no bytes left to deliver (or the source stopped). */
static void
conn_maybe_free(struct sl_conn *c)
{
    if (c->eof && c->pending == 0 &&
        (c->s->stopped ||
         evbuffer_get_length(bufferevent_get_input(c->bev)) == 0))
        conn_free(c);
}

static void
conn_reading(struct sl_conn *c)
{
    struct sl_src *s = c->s;
    int off = s->paused || s->busy || c->eof || (s->durable && c->pending > 0);
    if (off)
        bufferevent_disable(c->bev, EV_READ);
    else
        bufferevent_enable(c->bev, EV_READ);
}

static void
arm_retry(struct sl_src *s)
{
    s->st.busy_retries++;
    s->busy = 1;
    struct timeval tv = {0,
                         (long)(s->env.retry_ms ? s->env.retry_ms : 50) * 1000};
    evtimer_add(s->retry_ev, &tv);
}

static void
on_ack(void *arg, int rc)
{
    struct sl_batch *b = arg;
    struct sl_src *s = b->s;
    struct sl_conn *c = b->c;
    if (s->st.inflight >= b->n_msgs)
        s->st.inflight -= b->n_msgs;
    else
        s->st.inflight = 0;
    if (rc == SIFT_OK) {
        s->st.msgs_acked += b->n_msgs;
    } else {
        s->st.batches_failed++;
        if (!s->durable || !c)
            SIFT_ERROR("syslog: %s: %zu message%s not stored: %s",
                       s->head.label, b->n_msgs, b->n_msgs == 1 ? "" : "s",
                       sift_strerror(rc));
    }
    if (c) {
        c->pending--;
        if (s->durable) {
            /* The bytes stay in the input buffer until durable; after a
             * failure they are delivered again. */
            if (rc == SIFT_OK)
                evbuffer_drain(bufferevent_get_input(c->bev), b->bytes);
            c->held = 0;
            if (rc != SIFT_OK && b->cut) { /* the cut is redone */
                c->skip = 0;
                c->skip_to_lf = 0;
                s->st.truncated--;
            }
            if (rc != SIFT_OK && !s->stopped) {
                SIFT_WARN("syslog: %s: batch from %s not stored (%s); "
                          "delivering it again",
                          s->head.label, c->peer, sift_strerror(rc));
                arm_retry(s);
            }
        }
        if (!s->busy)
            conn_process(c);
        else
            conn_reading(c);
        conn_maybe_free(c);
    }
    sift_free(b);
}

/* The next frame of c's input (see sift_syslog_frame_next()); a cut
 * frame sets the skip state, is counted and logged. */
static int
next_frame(struct sl_conn *c, const char *p, size_t n, size_t *ma, size_t *ml,
           size_t *used)
{
    struct sl_src *s = c->s;
    struct sift_syslog_frame f;
    if (!sift_syslog_frame_next(p, n, s->max_msg, c->eof, &f))
        return 0;
    *ma = f.msg_at;
    *ml = f.msg_len;
    *used = f.used;
    c->skip = f.skip;
    c->skip_to_lf = f.skip_to_lf;
    if (f.cut) {
        s->st.truncated++;
        SIFT_WARN("syslog: %s: a message from %s longer than "
                  "syslog.max_message_bytes (%zu) was cut there",
                  s->head.label, c->peer, s->max_msg);
    }
    return 1;
}

/* Skips what is left of a cut frame; returns 0 while more must come. */
static int
skip_rest(struct sl_conn *c, struct evbuffer *in)
{
    if (c->skip > 0) {
        size_t n = evbuffer_get_length(in);
        size_t k = c->skip < n ? (size_t)c->skip : n;
        evbuffer_drain(in, k);
        c->skip -= k;
        return c->skip == 0;
    }
    if (c->skip_to_lf) {
        struct evbuffer_ptr at = evbuffer_search(in, "\n", 1, NULL);
        if (at.pos < 0) {
            evbuffer_drain(in, evbuffer_get_length(in));
            return 0;
        }
        evbuffer_drain(in, (size_t)at.pos + 1);
        c->skip_to_lf = 0;
    }
    return 1;
}

/* Delivers the complete messages in c's input buffer, batch by batch. */
static void
conn_process(struct sl_conn *c)
{
    struct sl_src *s = c->s;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    uint32_t max_batch = s->env.batch_max ? s->env.batch_max : 500;
    struct sift_source_msg *msgs = NULL;
    while (!s->paused && !s->busy && !(s->durable && c->pending > 0)) {
        if (!skip_rest(c, in))
            break;
        size_t n = evbuffer_get_length(in);
        if (n == 0)
            break;
        const char *p = (const char *)evbuffer_pullup(in, -1);
        if (!msgs)
            msgs = sift_xcalloc(max_batch, sizeof(*msgs));
        size_t off = 0, k = 0, ma, ml, used;
        int cut = 0;
        while (k < max_batch && !cut &&
               next_frame(c, p + off, n - off, &ma, &ml, &used)) {
            cut = c->skip > 0 || c->skip_to_lf;
            if (ml > 0) {
                struct sift_source_msg *m = &msgs[k++];
                memset(m, 0, sizeof(*m));
                m->data = p + off + ma;
                m->len = (uint32_t)ml;
                m->fields = c->fields;
                m->n_fields = 2;
                m->pos.key = c->key;
            }
            off += used;
        }
        if (off == 0)
            break; /* an incomplete frame: wait for more bytes */
        s->st.msgs_read += k;
        if (k == 0) {
            evbuffer_drain(in, off);
            continue;
        }
        struct sl_batch *b = sift_xcalloc(1, sizeof(*b));
        b->s = s;
        b->c = c;
        b->n_msgs = k;
        b->bytes = off;
        b->cut = cut;
        /* origin "tcp:<addr>": the sink finds the listener's fields by it. */
        struct sift_source_batch batch = {
            "syslog", s->head.label + 7, k, msgs, 0, NULL};
        int rc = s->env.sink.deliver(s->env.sink.arg, &batch, on_ack, b);
        if (rc != SIFT_OK) {
            sift_free(b);
            s->st.msgs_read -= k;
            if (cut) { /* undo: the cut is redone on the retry */
                c->skip = 0;
                c->skip_to_lf = 0;
                s->st.truncated--;
            }
            if (rc != SIFT_EBUSY)
                SIFT_WARN("syslog: %s: the store did not take a batch: %s",
                          s->head.label, sift_strerror(rc));
            arm_retry(s);
            break;
        }
        s->st.msgs_delivered += k;
        s->st.inflight += k;
        c->pending++;
        if (s->durable) {
            c->held = off;
            break; /* drained by on_ack once durable */
        }
        evbuffer_drain(in, off);
    }
    sift_free(msgs);
    conn_reading(c);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_process(arg);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct sl_conn *c = arg;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    c->eof = 1;
    unsigned long tls_err = c->s->tls ? bufferevent_get_openssl_error(bev) : 0;
    if (tls_err) {
        /* A failed handshake (plain text on the TLS port, a client that
         * does not trust the certificate) is worth a line. */
        char reason[256];
        ERR_error_string_n(tls_err, reason, sizeof(reason));
        SIFT_WARN("syslog: %s: TLS connection from %s: %s", c->s->head.label,
                  c->peer, reason);
        while (bufferevent_get_openssl_error(bev))
            ;
    } else if (what & BEV_EVENT_ERROR) {
        SIFT_DEBUG("syslog: %s: connection from %s: %s", c->s->head.label,
                   c->peer, strerror(EVUTIL_SOCKET_ERROR()));
    }
    conn_process(c); /* the bytes left over are a last message */
    conn_maybe_free(c);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
          int salen, void *arg)
{
    struct sl_src *s = arg;
    (void)l;
    (void)salen;
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)(void *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
    } else if (sa->sa_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)(void *)sa;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
        port = ntohs(a->sin_port);
    }
    if ((int64_t)s->n_conns >= s->max_conns) {
        s->st.refused_conns++;
        SIFT_WARN("syslog: %s: connection from %s refused: "
                  "syslog.max_connections (%lld) reached",
                  s->head.label, ip, (long long)s->max_conns);
        evutil_closesocket(fd);
        return;
    }
    struct sl_conn *c = sift_xcalloc(1, sizeof(*c));
    c->s = s;
    snprintf(c->peer, sizeof(c->peer), "%s", ip);
    snprintf(c->key, sizeof(c->key), "%s:%u", ip, port);
    set_fields(c->fields, c->peer, s->tls ? "tls" : "tcp");
    if (s->tls) {
        SSL *ssl = SSL_new(s->ssl_ctx);
        if (ssl)
            c->bev = bufferevent_openssl_socket_new(s->env.base, fd, ssl,
                                                    BUFFEREVENT_SSL_ACCEPTING,
                                                    BEV_OPT_CLOSE_ON_FREE);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(s->env.base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        evutil_closesocket(fd);
        sift_free(c);
        return;
    }
    /* Read at most about a batch of full-size messages ahead. */
    bufferevent_setwatermark(c->bev, EV_READ, 0, 2 * s->max_msg + 65536);
    bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    conn_reading(c);
}

/* ------------------------------------------------------------------ */
/* UDP                                                                 */
/* ------------------------------------------------------------------ */

static void
udp_reading(struct sl_src *s)
{
    if (!s->rev)
        return;
    if (s->paused || s->busy || s->stopped || s->n_umsgs > 0)
        event_del(s->rev);
    else
        event_add(s->rev, NULL);
}

/* Delivers the kept UDP batch; returns SIFT_OK or the sink's refusal. */
static int
udp_deliver(struct sl_src *s)
{
    size_t k = s->n_umsgs;
    struct sl_batch *b = sift_xcalloc(1, sizeof(*b));
    b->s = s;
    b->n_msgs = k;
    struct sift_source_batch batch = {
        "syslog", s->head.label + 7, k, s->umsgs, 0, NULL};
    int rc = s->env.sink.deliver(s->env.sink.arg, &batch, on_ack, b);
    if (rc != SIFT_OK) {
        sift_free(b);
        if (rc != SIFT_EBUSY)
            SIFT_WARN("syslog: %s: the store did not take a batch: %s",
                      s->head.label, sift_strerror(rc));
        arm_retry(s);
        return rc;
    }
    s->st.msgs_delivered += k;
    s->st.inflight += k;
    s->n_umsgs = 0;
    return SIFT_OK;
}

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
    struct sl_src *s = arg;
    uint32_t max_batch = s->env.batch_max ? s->env.batch_max : 500;
    size_t per = s->max_msg < UDP_MAX_DGRAM ? s->max_msg : UDP_MAX_DGRAM;
    (void)what;
    if (s->n_umsgs > 0)
        return;
    size_t k = 0, used = 0;
    while (k < max_batch && used + UDP_MAX_DGRAM <= UDP_BATCH_BYTES) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char *at = s->ubuf + used;
        ssize_t r = recvfrom(fd, at, UDP_MAX_DGRAM, MSG_TRUNC,
                             (struct sockaddr *)&ss, &sl);
        if (r < 0)
            break; /* EAGAIN: read it all */
        size_t len = (size_t)r;
        if (len > per) {
            s->st.truncated++;
            SIFT_WARN("syslog: %s: a datagram of %zu bytes cut to %zu",
                      s->head.label, len, per);
            len = per;
        }
        while (len > 0 && (at[len - 1] == '\n' || at[len - 1] == '\r' ||
                           at[len - 1] == '\0'))
            len--;
        if (len == 0)
            continue;
        char *ip = s->upeers[k];
        snprintf(ip, INET6_ADDRSTRLEN, "?");
        if (ss.ss_family == AF_INET6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip,
                      INET6_ADDRSTRLEN);
        else if (ss.ss_family == AF_INET)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip,
                      INET6_ADDRSTRLEN);
        struct sift_field *f = &s->ufields[2 * k];
        set_fields(f, ip, "udp");
        struct sift_source_msg *m = &s->umsgs[k++];
        memset(m, 0, sizeof(*m));
        m->data = at;
        m->len = (uint32_t)len;
        m->fields = f;
        m->n_fields = 2;
        m->pos.key = ip;
        used += len;
    }
    if (k == 0)
        return;
    s->st.msgs_read += k;
    s->n_umsgs = k;
    udp_deliver(s);
    udp_reading(s);
}

/* ------------------------------------------------------------------ */
/* The source                                                          */
/* ------------------------------------------------------------------ */

static void
on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct sl_src *s = arg;
    (void)fd;
    (void)what;
    s->busy = 0;
    if (s->udp) {
        if (s->n_umsgs > 0 && !s->paused)
            udp_deliver(s);
        udp_reading(s);
        return;
    }
    for (struct sl_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_process(c);
        if (s->busy)
            break;
    }
    for (struct sl_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_reading(c);
        conn_maybe_free(c);
    }
}

/* A bound socket for addr ("host:port"); -errno or SIFT_ECONFIG. */
static int
bind_addr(const char *addr, int udp, int *out)
{
    char *host = NULL;
    int port = 0;
    *out = -1;
    if (sift__ingest_parse_addr(addr, &host, &port) < 0 || !strchr(addr, ':'))
        return SIFT_ECONFIG;
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int gai = getaddrinfo(host[0] ? host : NULL, ps, &hints, &ai);
    sift_free(host);
    if (gai != 0)
        return SIFT_ECONFIG;
    int fd = socket(
        ai->ai_family,
        (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int rc = SIFT_OK;
    if (fd < 0) {
        rc = -errno;
    } else {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
            (!udp && listen(fd, 511) != 0)) {
            rc = -errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    *out = fd;
    return rc;
}

static int
sl_start(struct sift_source *src)
{
    struct sl_src *s = (struct sl_src *)src;
    int fd;
    const struct sift_config *cfg = s->env.cfg;
    if (s->tls && !s->ssl_ctx) {
        int rc = sift_tls_server_ctx_new(cfg->tls_cert_file, cfg->tls_key_file,
                                         &s->ssl_ctx);
        if (rc < 0)
            return rc;
    }
    int rc = bind_addr(s->addr, s->udp, &fd);
    if (rc < 0) {
        SIFT_ERROR(
            "syslog: cannot listen on %s (%s): %s", s->addr, s->head.label + 7,
            rc == SIFT_ECONFIG ? "expected host:port" : sift_strerror(rc));
        return rc == SIFT_ECONFIG ? rc : SIFT_EIO;
    }
    s->retry_ev = evtimer_new(s->env.base, on_retry, s);
    if (s->udp) {
        s->fd = fd;
        s->rev = event_new(s->env.base, fd, EV_READ | EV_PERSIST, udp_read, s);
        udp_reading(s);
    } else {
        s->lst = evconnlistener_new(s->env.base, on_accept, s,
                                    LEV_OPT_CLOSE_ON_FREE, -1, fd);
        if (!s->lst) {
            close(fd);
            return SIFT_ENOMEM;
        }
        if (s->paused)
            evconnlistener_disable(s->lst);
    }
    s->st.connected = 1;
    SIFT_INFO("syslog: listening on %s (%s%s)", s->addr,
              s->udp   ? "udp"
              : s->tls ? "tls"
                       : "tcp",
              s->durable && !s->udp ? ", durable" : "");
    return SIFT_OK;
}

static void
sl_pause(struct sift_source *src)
{
    struct sl_src *s = (struct sl_src *)src;
    s->paused++;
    if (s->lst)
        evconnlistener_disable(s->lst);
    for (struct sl_conn *c = s->conns; c; c = c->next)
        conn_reading(c);
    udp_reading(s);
}

static void
sl_stop(struct sift_source *src)
{
    struct sl_src *s = (struct sl_src *)src;
    s->stopped = 1;
    s->paused++;
    if (s->lst) {
        evconnlistener_free(s->lst);
        s->lst = NULL;
    }
    for (struct sl_conn *c = s->conns; c; c = c->next)
        conn_reading(c);
    udp_reading(s);
    s->st.connected = 0;
}

static void
sl_stats(struct sift_source *src, struct sift_source_stats *out)
{
    struct sl_src *s = (struct sl_src *)src;
    *out = s->st;
    out->lag = -1;
    out->paused = s->paused || s->busy;
}

static void
sl_parts(struct sift_source *src, sift_source_part_cb cb, void *arg)
{
    (void)src;
    (void)cb;
    (void)arg;
}

static void
sl_free(struct sift_source *src)
{
    struct sl_src *s = (struct sl_src *)src;
    if (s->lst)
        evconnlistener_free(s->lst);
    while (s->conns) {
        s->conns->pending = 0;
        conn_free(s->conns);
    }
    if (s->rev)
        event_free(s->rev);
    if (s->retry_ev)
        event_free(s->retry_ev);
    if (s->fd >= 0)
        close(s->fd);
    sift_free(s->umsgs);
    sift_free(s->ubuf);
    sift_free(s->ufields);
    sift_free(s->upeers);
    if (s->ssl_ctx)
        SSL_CTX_free(s->ssl_ctx);
    sift_free(s->addr);
    sift_free(s->head.label);
    sift_free(s);
}

static const struct sift_source_ops sl_ops = {
    "syslog", sl_start, sl_pause, sl_stop,
    sl_stats, sl_parts, sl_free,  NULL, /* no positions: always settled */
};

int
sift_source_syslog_new(const struct sift_source_env *env, const char *addr,
                       enum sift_syslog_transport transport,
                       struct sift_source **out)
{
    static const char *const names[] = {"tcp", "udp", "tls"};
    int udp = transport == SIFT_SYSLOG_UDP;
    const struct sift_config *cfg = env->cfg;
    struct sl_src *s = sift_xcalloc(1, sizeof(*s));
    s->head.ops = &sl_ops;
    s->env = *env;
    s->udp = udp;
    s->tls = transport == SIFT_SYSLOG_TLS;
    s->fd = -1;
    s->durable = cfg->syslog_durable != 0;
    s->max_msg = (size_t)cfg->syslog_max_message_bytes;
    s->max_conns = cfg->syslog_max_connections;
    s->addr = sift_xstrdup(addr);
    size_t ll = strlen(addr) + 16;
    s->head.label = sift_xmalloc(ll);
    snprintf(s->head.label, ll, "syslog-%s:%s", names[transport], addr);
    if (udp) {
        uint32_t max_batch = env->batch_max ? env->batch_max : 500;
        s->umsgs = sift_xcalloc(max_batch, sizeof(*s->umsgs));
        s->ufields = sift_xcalloc(2 * (size_t)max_batch, sizeof(*s->ufields));
        s->upeers = sift_xcalloc(max_batch, sizeof(*s->upeers));
        /* Every datagram fits whole before it is cut. */
        s->ubuf = sift_xmalloc(UDP_BATCH_BYTES);
    }
    *out = &s->head;
    return SIFT_OK;
}
