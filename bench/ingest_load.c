/*
 * ingest_load.c - load generator for the end-to-end ingest benchmark
 * (bench/bench_ingest.sh): Filebeat-shaped JSON events built from the
 * loghub-2k lines, written to a file, produced to Kafka, XADDed to a
 * Redis stream, or POSTed to siftd's _bulk endpoint.
 *
 *   ingest_load file  --out PATH [--bulk] [common]
 *   ingest_load kafka --brokers B --topic T [common]
 *   ingest_load redis --addr HOST:PORT --stream S [--pipeline N] [common]
 *   ingest_load http  --addr HOST:PORT [--conns N] [--batch N]
 *                     [--path /_bulk[?QUERY]] [common]
 *   common: --events N (default 1000000)  --data DIR (loghub-2k)
 *           --tag WORD (in fields.run of every event; default "bench")
 *           --start-ms MS (timestamp of event 0, epoch ms; default now-1h)
 *
 * Events follow the three shapes of docs/internals/wire-formats.md section 2.4,
 * mixed 45:4:1 (plain filestream line, JSON-decoded line with level/logger/
 * latency_ms, multiline record of three joined lines); the message is
 * line i of the ten loghub-2k systems taken round robin, so the byte and
 * token mix is that of real logs.  Every event is distinct (log.offset,
 * timestamp, host).
 *
 * Output: one line on stdout, "events=N bytes=B seconds=S" (bytes = event
 * JSON bytes without separators, the figure MB/s is computed from), plus
 * mode counters.  Exit status 0 only if every event was accepted.
 *
 * Threads: main only, except http mode (one thread per connection over
 * bodies built before the clock starts, so the timed part is I/O only).
 * Every loop is bounded in count; waits are bounded in time.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"

#define MAX_LINES 40000
/* What Filebeat's Elasticsearch output sends (data streams use create). */
#define BULK_ACTION "{\"create\":{\"_index\":\"filebeat-8.13.4\"}}\n"
#define WAIT_SECONDS 300 /* longest any single wait may take */

static const char *const systems[] = {
    "Apache", "BGL",     "HDFS",      "HPC",   "Hadoop",
    "Linux",  "OpenSSH", "OpenStack", "Spark", "Zookeeper",
};
#define N_SYSTEMS (sizeof(systems) / sizeof(systems[0]))

struct line {
    char *text;
    size_t len;
    unsigned sys;
};

static struct line lines[MAX_LINES];
static size_t n_lines;

struct opts {
    const char *mode;
    uint64_t events;
    const char *data;
    const char *tag;
    int64_t start_ms;
    const char *out;
    int bulk;
    const char *brokers;
    const char *topic;
    const char *addr;
    const char *stream;
    unsigned pipeline;
    unsigned conns;
    unsigned batch;
    const char *path;
};

static double
now_s(void)
{
    return (double)sift_clock_mono_ns() / 1e9;
}

/* Reads each system's <Sys>/<Sys>_2k.log into one round-robin table. */
static int
load_lines(const char *dir)
{
    FILE *f[N_SYSTEMS];
    char path[4096];
    char buf[8192];
    int any = 1;

    for (size_t s = 0; s < N_SYSTEMS; s++) {
        snprintf(path, sizeof(path), "%s/%s/%s_2k.log", dir, systems[s],
                 systems[s]);
        f[s] = fopen(path, "r");
        if (!f[s])
            fprintf(stderr, "ingest_load: %s: %s\n", path, strerror(errno));
    }
    while (any && n_lines < MAX_LINES) {
        any = 0;
        for (size_t s = 0; s < N_SYSTEMS && n_lines < MAX_LINES; s++) {
            if (!f[s] || !fgets(buf, sizeof(buf), f[s]))
                continue;
            size_t n = strcspn(buf, "\r\n");
            if (n == 0)
                continue;
            any = 1;
            lines[n_lines].text = sift_xmalloc(n + 1);
            memcpy(lines[n_lines].text, buf, n);
            lines[n_lines].text[n] = '\0';
            lines[n_lines].len = n;
            lines[n_lines].sys = (unsigned)s;
            n_lines++;
        }
    }
    for (size_t s = 0; s < N_SYSTEMS; s++)
        if (f[s])
            fclose(f[s]);
    if (n_lines == 0) {
        fprintf(stderr, "ingest_load: no loghub-2k lines under %s\n", dir);
        return -1;
    }
    return 0;
}

static void
put_lower(struct sift_buf *b, const char *s)
{
    for (; *s; s++)
        sift_buf_putc(b, (*s >= 'A' && *s <= 'Z') ? (char)(*s + 32) : *s);
}

static void
put_ts(struct sift_buf *b, int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[32];

    gmtime_r(&t, &tm);
    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
    sift_buf_appendf(b, "\"%s.%03dZ\"", s, (int)(ms % 1000));
}

/* Appends event i (one line of JSON, no newline) to b. */
static void
make_event(const struct opts *o, uint64_t i, struct sift_buf *b)
{
    const struct line *l = &lines[i % n_lines];
    const char *sys = systems[l->sys];
    unsigned host = (unsigned)((i / 7) % 16);
    unsigned shape = (unsigned)(i % 50); /* 0: multiline, 1-4: JSON */
    int64_t ms = o->start_ms + (int64_t)i;

    sift_buf_append(b, "{\"@timestamp\":", 14);
    put_ts(b, ms + 3);
    sift_buf_appendf(b, ",\"@metadata\":{\"beat\":\"filebeat\",\"type\":"
                        "\"_doc\",\"version\":\"8.13.4\"}");
    if (shape >= 1 && shape <= 4) {
        sift_buf_append(b, ",\"ts\":", 6);
        put_ts(b, ms);
        sift_buf_appendf(b, ",\"level\":\"%s\",\"logger\":\"%s\",\"message\":",
                         shape == 1 ? "warn" : "info", sys);
        sift_buf_put_json_str(b, l->text, l->len);
        sift_buf_appendf(b,
                         ",\"order_id\":\"A-%llu\",\"attempt\":%u,"
                         "\"latency_ms\":%u.%u",
                         (unsigned long long)(i % 100000), shape,
                         (unsigned)(i % 997), (unsigned)(i % 10));
        sift_buf_appendf(b,
                         ",\"log\":{\"offset\":%llu,\"file\":{\"path\":"
                         "\"/var/log/",
                         (unsigned long long)(i * 131));
        put_lower(b, sys);
        sift_buf_append(b, "/app.ndjson\"}}", 14);
    } else {
        sift_buf_appendf(b,
                         ",\"log\":{\"offset\":%llu,\"file\":{\"path\":"
                         "\"/var/log/",
                         (unsigned long long)(i * 131));
        put_lower(b, sys);
        sift_buf_appendf(b,
                         ".log\",\"device_id\":\"64769\",\"inode\":"
                         "\"%u\"}%s},\"message\":",
                         1311742u + l->sys,
                         shape == 0 ? ",\"flags\":[\"multiline\"]" : "");
        if (shape == 0) {
            struct sift_buf m = SIFT_BUF_INIT;
            for (unsigned k = 0; k < 3; k++) {
                const struct line *x = &lines[(i + k * N_SYSTEMS) % n_lines];
                if (k)
                    sift_buf_append(&m, "\n\tat ", 5);
                sift_buf_append(&m, x->text, x->len);
            }
            sift_buf_put_json_str(b, m.data, m.len);
            sift_buf_cleanup(&m);
        } else {
            sift_buf_put_json_str(b, l->text, l->len);
        }
    }
    sift_buf_appendf(b,
                     ",\"input\":{\"type\":\"filestream\"},\"fields\":{"
                     "\"env\":\"prod\",\"run\":\"%s\",\"service\":\"",
                     o->tag);
    put_lower(b, sys);
    sift_buf_append(b, "\"},\"tags\":[\"", 12);
    put_lower(b, sys);
    sift_buf_appendf(b,
                     "\"],\"ecs\":{\"version\":\"8.0.0\"},\"host\":{"
                     "\"name\":\"node-%02u\"},\"agent\":{"
                     "\"ephemeral_id\":\"4b8f2f0e-2a51-4c59-9d0a-"
                     "7e51f3f0b6%02u\",\"id\":\"0c6e6a44-1f2b-4f5e-8d3a-"
                     "93c1b7a2e9%02u\",\"name\":\"node-%02u\",\"type\":"
                     "\"filebeat\",\"version\":\"8.13.4\"}}",
                     host, host, host, host);
}

/* ---- file ---------------------------------------------------------- */

static int
run_file(const struct opts *o, uint64_t *bytes)
{
    FILE *f = fopen(o->out, "w");
    struct sift_buf b = SIFT_BUF_INIT;
    int rc = 0;

    if (!f) {
        fprintf(stderr, "ingest_load: %s: %s\n", o->out, strerror(errno));
        return -1;
    }
    for (uint64_t i = 0; i < o->events; i++) {
        sift_buf_reset(&b);
        if (o->bulk)
            fputs(BULK_ACTION, f);
        make_event(o, i, &b);
        *bytes += b.len;
        sift_buf_putc(&b, '\n');
        if (fwrite(b.data, 1, b.len, f) != b.len) {
            rc = -1;
            break;
        }
    }
    if (fclose(f) != 0)
        rc = -1;
    sift_buf_cleanup(&b);
    return rc;
}

/* ---- kafka --------------------------------------------------------- */

static atomic_ulong kafka_failed;

static void
on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (atomic_fetch_add(&kafka_failed, 1) == 0)
            fprintf(stderr, "ingest_load: delivery: %s\n",
                    rd_kafka_err2str(m->err));
    }
}

static int
kset(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "ingest_load: %s: %s\n", k, err);
        return -1;
    }
    return 0;
}

/* Partition count of the topic (metadata), or -1. */
static int
partition_count(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (n < 1)
        fprintf(stderr, "ingest_load: no metadata for the topic\n");
    return n;
}

/*
 * librdkafka's mock broker keeps only the last 5 MiB of each partition;
 * a backlog that does not fit would silently lose its head.  Sums
 * high - low watermark over the partitions and fails unless it is n.
 */
static int
check_retained(rd_kafka_t *rk, const char *topic, int n_parts, uint64_t n)
{
    uint64_t held = 0;

    for (int p = 0; p < n_parts; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, "ingest_load: watermarks of partition %d\n", p);
            return -1;
        }
        held += (uint64_t)(hi - lo);
    }
    printf("partitions=%d retained=%llu ", n_parts, (unsigned long long)held);
    if (held != n) {
        fprintf(stderr,
                "ingest_load: the broker holds %llu of %llu events "
                "(mock broker: 5 MiB per partition; use more "
                "partitions)\n",
                (unsigned long long)held, (unsigned long long)n);
        return -1;
    }
    return 0;
}

static int
run_kafka(const struct opts *o, uint64_t *bytes)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    struct sift_buf b = SIFT_BUF_INIT;
    char err[256];
    int rc = 0, n_parts = 0;

    if (kset(conf, "bootstrap.servers", o->brokers) < 0 ||
        kset(conf, "linger.ms", "20") < 0 ||
        kset(conf, "batch.num.messages", "10000") < 0 ||
        kset(conf, "batch.size", "262144") < 0 ||
        kset(conf, "queue.buffering.max.messages", "500000") < 0 ||
        kset(conf, "queue.buffering.max.kbytes", "1048576") < 0 ||
        kset(conf, "acks", "1") < 0 || kset(conf, "log_level", "3") < 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "ingest_load: rd_kafka_new: %s\n", err);
        return -1;
    }
    rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    /* Round robin, so every partition holds the same share. */
    n_parts = partition_count(rk, rkt);
    if (n_parts < 1)
        rc = -1;
    for (uint64_t i = 0; i < o->events && rc == 0; i++) {
        int tries = 0;
        sift_buf_reset(&b);
        make_event(o, i, &b);
        *bytes += b.len;
        while (rd_kafka_produce(rkt, (int32_t)(i % (uint64_t)n_parts),
                                RD_KAFKA_MSG_F_COPY, b.data, b.len, NULL, 0,
                                NULL) != 0) {
            if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
                ++tries > WAIT_SECONDS * 10) {
                fprintf(stderr, "ingest_load: produce: %s\n",
                        rd_kafka_err2str(rd_kafka_last_error()));
                rc = -1;
                break;
            }
            rd_kafka_poll(rk, 100);
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, WAIT_SECONDS * 1000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        fprintf(stderr, "ingest_load: flush timed out\n");
        rc = -1;
    }
    if (atomic_load(&kafka_failed))
        rc = -1;
    if (rc == 0)
        rc = check_retained(rk, o->topic, n_parts, o->events);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    sift_buf_cleanup(&b);
    return rc;
}

/* ---- redis --------------------------------------------------------- */

static int
split_addr(const char *addr, char *host, size_t host_len, int *port)
{
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    long p;

    if (!colon || (size_t)(colon - addr) >= host_len)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

static int
run_redis(const struct opts *o, uint64_t *bytes)
{
    char host[256];
    int port;
    redisContext *c;
    struct sift_buf b = SIFT_BUF_INIT;
    int rc = 0;

    if (split_addr(o->addr, host, sizeof(host), &port) < 0) {
        fprintf(stderr, "ingest_load: bad --addr %s\n", o->addr);
        return -1;
    }
    c = redisConnect(host, port);
    if (!c || c->err) {
        fprintf(stderr, "ingest_load: redis: %s\n", c ? c->errstr : "oom");
        if (c)
            redisFree(c);
        return -1;
    }
    for (uint64_t i = 0; i < o->events && rc == 0;) {
        uint64_t end = i + o->pipeline;
        if (end > o->events)
            end = o->events;
        for (uint64_t k = i; k < end; k++) {
            sift_buf_reset(&b);
            make_event(o, k, &b);
            *bytes += b.len;
            if (redisAppendCommand(c, "XADD %s * message %b", o->stream, b.data,
                                   b.len) != REDIS_OK) {
                rc = -1;
                break;
            }
        }
        for (uint64_t k = i; k < end && rc == 0; k++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r ||
                r->type == REDIS_REPLY_ERROR) {
                fprintf(stderr, "ingest_load: XADD: %s\n",
                        r ? r->str : c->errstr);
                rc = -1;
            }
            if (r)
                freeReplyObject(r);
        }
        i = end;
    }
    redisFree(c);
    sift_buf_cleanup(&b);
    return rc;
}

/* ---- http ---------------------------------------------------------- */

struct body {
    char *data;
    size_t len;
};

struct http_shared {
    const struct opts *o;
    struct addrinfo *ai;
    struct body *bodies;
    size_t n_bodies;
    atomic_size_t next;
    atomic_ulong retries;
    atomic_ulong item_errors;
    atomic_ulong requests;
    atomic_int failed;
};

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Reads one HTTP/1.1 response with a Content-Length body into *resp.
 * Returns the status code, or -1.
 */
static int
read_response(int fd, struct sift_buf *resp)
{
    size_t head_end = 0, body_len = 0;
    int status = -1;

    sift_buf_reset(resp);
    for (int iter = 0; iter < 1 << 20; iter++) {
        if (head_end && resp->len >= head_end + body_len)
            return status;
        sift_buf_reserve(resp, 65536);
        ssize_t r = recv(fd, resp->data + resp->len, 65536, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        resp->len += (size_t)r;
        if (!head_end) {
            const char *e;
            sift_buf_cstr(resp);
            e = strstr(resp->data, "\r\n\r\n");
            if (!e)
                continue;
            head_end = (size_t)(e - resp->data) + 4;
            if (sscanf(resp->data, "HTTP/1.%*d %d", &status) != 1)
                return -1;
            const char *cl = NULL;
            for (const char *q = resp->data; q < e; q++) {
                if (!strncasecmp(q, "\r\ncontent-length:", 17)) {
                    cl = q;
                    break;
                }
            }
            if (!cl)
                return -1;
            body_len = (size_t)strtoull(cl + 17, NULL, 10);
        }
    }
    return -1;
}

static int
connect_to(struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void *
http_worker(void *arg)
{
    struct http_shared *sh = arg;
    struct sift_buf req = SIFT_BUF_INIT, resp = SIFT_BUF_INIT;
    int fd = connect_to(sh->ai);
    double deadline = now_s() + WAIT_SECONDS;

    if (fd < 0) {
        atomic_store(&sh->failed, 1);
        return NULL;
    }
    for (;;) {
        size_t i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->n_bodies || atomic_load(&sh->failed))
            break;
        const struct body *bd = &sh->bodies[i];
        sift_buf_reset(&req);
        sift_buf_appendf(&req,
                         "POST %s HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: application/x-ndjson\r\n"
                         "Content-Length: %zu\r\n\r\n",
                         sh->o->path, sh->o->addr, bd->len);
        for (;;) {
            int status;
            atomic_fetch_add(&sh->requests, 1);
            if (write_all(fd, req.data, req.len) < 0 ||
                write_all(fd, bd->data, bd->len) < 0 ||
                (status = read_response(fd, &resp)) < 0) {
                fprintf(stderr, "ingest_load: http: connection lost\n");
                atomic_store(&sh->failed, 1);
                goto out;
            }
            if (status == 200) {
                sift_buf_cstr(&resp);
                if (strstr(resp.data, "\"errors\":true"))
                    atomic_fetch_add(&sh->item_errors, 1);
                break;
            }
            if ((status != 503 && status != 429) || now_s() > deadline) {
                fprintf(stderr, "ingest_load: http: status %d\n", status);
                atomic_store(&sh->failed, 1);
                goto out;
            }
            atomic_fetch_add(&sh->retries, 1);
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
out:
    close(fd);
    sift_buf_cleanup(&req);
    sift_buf_cleanup(&resp);
    return NULL;
}

static int
run_http(const struct opts *o, uint64_t *bytes, double *t0)
{
    struct http_shared sh;
    struct addrinfo hints, *ai = NULL;
    char host[256], port[16];
    int p;
    pthread_t th[64];
    unsigned n_th = 0;
    int rc = 0;

    memset(&sh, 0, sizeof(sh));
    if (split_addr(o->addr, host, sizeof(host), &p) < 0) {
        fprintf(stderr, "ingest_load: bad --addr %s\n", o->addr);
        return -1;
    }
    snprintf(port, sizeof(port), "%d", p);
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
        fprintf(stderr, "ingest_load: cannot resolve %s\n", o->addr);
        return -1;
    }
    sh.o = o;
    sh.ai = ai;
    sh.n_bodies = (size_t)((o->events + o->batch - 1) / o->batch);
    sh.bodies = sift_xcalloc(sh.n_bodies ? sh.n_bodies : 1, sizeof(*sh.bodies));
    for (size_t k = 0; k < sh.n_bodies; k++) {
        struct sift_buf b = SIFT_BUF_INIT;
        uint64_t first = (uint64_t)k * o->batch;
        uint64_t end = first + o->batch;
        if (end > o->events)
            end = o->events;
        for (uint64_t i = first; i < end; i++) {
            size_t before;
            if (o->bulk)
                sift_buf_append(&b, BULK_ACTION, sizeof(BULK_ACTION) - 1);
            before = b.len;
            make_event(o, i, &b);
            *bytes += b.len - before;
            sift_buf_putc(&b, '\n');
        }
        sh.bodies[k].data = sift_buf_detach(&b, &sh.bodies[k].len);
    }
    /* The clock starts once the bodies exist: the timed part is I/O. */
    *t0 = now_s();
    for (; n_th < o->conns && n_th < 64; n_th++)
        if (pthread_create(&th[n_th], NULL, http_worker, &sh) != 0)
            break;
    for (unsigned k = 0; k < n_th; k++)
        pthread_join(th[k], NULL);
    if (n_th == 0 || atomic_load(&sh.failed) ||
        atomic_load(&sh.next) < sh.n_bodies)
        rc = -1;
    printf("requests=%lu retries=%lu bodies_with_errors=%lu ",
           atomic_load(&sh.requests), atomic_load(&sh.retries),
           atomic_load(&sh.item_errors));
    if (atomic_load(&sh.item_errors))
        rc = -1;
    for (size_t k = 0; k < sh.n_bodies; k++)
        sift_free(sh.bodies[k].data);
    sift_free(sh.bodies);
    freeaddrinfo(ai);
    return rc;
}

/* ---- main ---------------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr, "usage: ingest_load file|kafka|redis|http [--events N] "
                    "[--data DIR] [--tag WORD]\n"
                    "  [--start-ms MS] [--out PATH] [--bulk] [--brokers B] "
                    "[--topic T] [--addr HOST:PORT]\n"
                    "  [--stream S] [--pipeline N] [--conns N] [--batch N] "
                    "[--path P]\n");
}

static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    struct opts o;
    uint64_t bytes = 0, v;
    double t0, t1;
    int rc;

    memset(&o, 0, sizeof(o));
    o.events = 1000000;
    o.data = SIFT_SOURCE_DIR "/tests/data/loghub-2k";
    o.tag = "bench";
    o.start_ms = sift_clock_now_ns() / 1000000 - 3600 * 1000;
    o.pipeline = 1000;
    o.conns = 4;
    o.batch = 1000;
    o.path = "/_bulk";
    if (argc < 2) {
        usage();
        return 2;
    }
    o.mode = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--bulk")) {
            o.bulk = 1;
            continue;
        }
        if (!val) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(a, "--events") && !parse_u64(val, 1, 1000000000, &v))
            o.events = v;
        else if (!strcmp(a, "--data"))
            o.data = val;
        else if (!strcmp(a, "--tag"))
            o.tag = val;
        else if (!strcmp(a, "--start-ms") &&
                 !parse_u64(val, 0, UINT64_C(1) << 50, &v))
            o.start_ms = (int64_t)v;
        else if (!strcmp(a, "--out"))
            o.out = val;
        else if (!strcmp(a, "--brokers"))
            o.brokers = val;
        else if (!strcmp(a, "--topic"))
            o.topic = val;
        else if (!strcmp(a, "--addr"))
            o.addr = val;
        else if (!strcmp(a, "--stream"))
            o.stream = val;
        else if (!strcmp(a, "--pipeline") && !parse_u64(val, 1, 100000, &v))
            o.pipeline = (unsigned)v;
        else if (!strcmp(a, "--conns") && !parse_u64(val, 1, 64, &v))
            o.conns = (unsigned)v;
        else if (!strcmp(a, "--batch") && !parse_u64(val, 1, 1000000, &v))
            o.batch = (unsigned)v;
        else if (!strcmp(a, "--path"))
            o.path = val;
        else {
            usage();
            return 2;
        }
    }
    if (load_lines(o.data) < 0)
        return 1;
    t0 = now_s();
    if (!strcmp(o.mode, "file") && o.out) {
        rc = run_file(&o, &bytes);
    } else if (!strcmp(o.mode, "kafka") && o.brokers && o.topic) {
        rc = run_kafka(&o, &bytes);
    } else if (!strcmp(o.mode, "redis") && o.addr && o.stream) {
        rc = run_redis(&o, &bytes);
    } else if (!strcmp(o.mode, "http") && o.addr) {
        if (!strncmp(o.path, "/_bulk", 6) &&
            (o.path[6] == '\0' || o.path[6] == '?'))
            o.bulk = 1;
        rc = run_http(&o, &bytes, &t0);
    } else {
        usage();
        return 2;
    }
    t1 = now_s();
    printf("events=%llu bytes=%llu seconds=%.3f\n",
           (unsigned long long)o.events, (unsigned long long)bytes, t1 - t0);
    for (size_t i = 0; i < n_lines; i++)
        sift_free(lines[i].text);
    return rc == 0 ? 0 : 1;
}
