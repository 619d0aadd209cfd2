/*
 * bench_wal.c - WAL append and fsync throughput, and the time to seal a
 * buffer (segment builder finish + open) of a given size.
 *
 * Usage: bench_wal [dir] [log file]
 *   dir       scratch directory on the disk to measure (default /tmp)
 *   log file  lines used as messages (default: loghub HDFS_2k.log)
 *
 * Every phase is bounded in count and prints one line.  Not run by ctest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/store/wal.h" /* internal API; bench/ has no src/ path */
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/log.h"
#include "sift/segment.h"

#define MAX_LINES 4000

static char *lines[MAX_LINES];
static size_t n_lines;

static void
load_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    while (f && n_lines < MAX_LINES && fgets(buf, sizeof(buf), f)) {
        size_t n = strcspn(buf, "\n");
        buf[n] = '\0';
        lines[n_lines++] = sift_xstrdup(buf);
    }
    if (f)
        fclose(f);
    if (n_lines == 0)
        lines[n_lines++] = sift_xstrdup("connection reset by peer id=42");
}

static void
make_event(size_t i, struct sift_event *ev, struct sift_field *fl)
{
    memset(ev, 0, sizeof(*ev));
    ev->ts_ns = INT64_C(1700000000000000000) + (int64_t)i * 1000;
    ev->msg = lines[i % n_lines];
    ev->msg_len = (uint32_t)strlen(ev->msg);
    fl[0] = (struct sift_field){"service.name", (i & 3) ? "api" : "db", 12,
                                (i & 3) ? 3u : 2u, SIFT_FT_KEYWORD};
    fl[1] = (struct sift_field){"log.level", (i % 10) ? "info" : "error", 9,
                                (i % 10) ? 4u : 5u, SIFT_FT_KEYWORD};
    ev->fields = fl;
    ev->n_fields = 2;
}

static double
secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static void
bench_append(const char *dir, size_t payload_len, size_t n_records,
             size_t per_sync)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/bench-wal-%d", dir, (int)getpid());
    struct sift_wal *w;
    if (sift__wal_open(path, 1, 64u << 20, &w) != SIFT_OK) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    char *payload = sift_xmalloc(payload_len);
    memset(payload, 'x', payload_len);
    int64_t t0 = sift_clock_mono_ns(), sync_ns = 0;
    size_t n_sync = 0;
    for (size_t i = 0; i < n_records; i++) {
        uint64_t seq;
        if (sift__wal_append(w, payload, payload_len, &seq) != SIFT_OK)
            exit(1);
        if (per_sync && (i + 1) % per_sync == 0) {
            int64_t s0 = sift_clock_mono_ns();
            if (sift__wal_sync(w) != SIFT_OK)
                exit(1);
            sync_ns += sift_clock_mono_ns() - s0;
            n_sync++;
        }
    }
    int64_t dt = sift_clock_mono_ns() - t0;
    printf("wal append %6zu B x %6zu, fsync every %4zu: %9.0f rec/s %7.1f "
           "MB/s, fsyncs %5zu, mean fsync %.3f ms\n",
           payload_len, n_records, per_sync, (double)n_records / secs(dt),
           (double)(n_records * payload_len) / 1e6 / secs(dt), n_sync,
           n_sync ? (double)sync_ns / 1e6 / (double)n_sync : 0.0);
    sift__wal_close(w);
    sift_free(payload);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", path);
}

static void
bench_seal(size_t n_docs)
{
    struct sift_segment_opts o;
    struct sift_segment_builder *b;
    sift_segment_opts_init(&o);
    o.zstd_level = 1;
    if (sift_segment_builder_new(&o, &b) != SIFT_OK)
        exit(1);
    struct sift_buf enc = SIFT_BUF_INIT;
    int64_t t0 = sift_clock_mono_ns();
    for (size_t i = 0; i < n_docs; i++) {
        struct sift_event ev;
        struct sift_field fl[2];
        make_event(i, &ev, fl);
        sift_doc_encode(&ev, &enc); /* what append costs per doc */
        if (sift_segment_builder_add(b, &ev) != SIFT_OK)
            exit(1);
    }
    int64_t t1 = sift_clock_mono_ns();
    struct sift_buf img = SIFT_BUF_INIT;
    if (sift_segment_builder_finish(b, &img) != SIFT_OK)
        exit(1);
    size_t len;
    char *data = sift_buf_detach(&img, &len);
    struct sift_segment *seg;
    if (sift_segment_open_mem(data, len, &seg) != SIFT_OK)
        exit(1);
    int64_t t2 = sift_clock_mono_ns();
    printf("seal %7zu docs: encode+add %7.1f ms, finish+open %7.1f ms, "
           "image %.1f MB\n",
           n_docs, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
           (double)len / 1e6);
    sift_segment_unref(seg);
    sift_segment_builder_free(b);
    sift_buf_cleanup(&enc);
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char def[512];
    snprintf(def, sizeof(def), "%s/tests/data/loghub-2k/HDFS/HDFS_2k.log",
             SIFT_SOURCE_DIR);
    load_lines(argc > 2 ? argv[2] : def);
    sift_log_set_level(SIFT_LOG_WARN);

    bench_append(dir, 4096, 20000, 0);
    bench_append(dir, 4096, 2000, 1);
    bench_append(dir, 4096, 20000, 100);
    bench_append(dir, 65536, 2000, 10);
    bench_seal(10000);
    bench_seal(50000);
    bench_seal(100000);
    for (size_t i = 0; i < n_lines; i++)
        sift_free(lines[i]);
    return 0;
}
