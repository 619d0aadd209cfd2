/*
 * bench_segment.c - segment build throughput and size on loghub lines.
 *
 * Reads the ten loghub-2k systems (../shared/data/loghub-2k/<Sys>/<Sys>_2k
 * .log), replays their lines to N events (-n, default 1,000,000) with the
 * digits varied (so numbers and ids keep producing new terms, as in real
 * logs) and increasing timestamps, builds segments of -s docs (default
 * 500,000), writes each image to a temp dir and reports events/s, MB/s,
 * bytes on disk / raw bytes (index included), build and flush time and
 * peak RSS.  Each event carries the line as message plus two keyword
 * fields (host.name, service).
 *
 * -c DIR instead writes a fuzz seed corpus (small valid images built from
 * loghub lines, some truncated) for fuzz_segment_decode into DIR.
 *
 * One thread; not part of ctest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/segment.h"

#define DATA_DIR SIFT_SOURCE_DIR "/../shared/data/loghub-2k"

static const char *systems[] = {"Apache", "BGL",     "HDFS",  "HPC",
                                "Hadoop", "Linux",   "OpenSSH",
                                "OpenStack", "Spark", "Zookeeper"};

struct line {
    char *s;
    uint32_t len;
    uint32_t sys;
};

static struct line *lines;
static size_t n_lines, cap_lines;

static void
load(void)
{
    for (uint32_t i = 0; i < 10; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s/%s_2k.log", DATA_DIR, systems[i],
                 systems[i]);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            fprintf(stderr, "bench_segment: %s: %s\n", path, strerror(errno));
            exit(1);
        }
        char *buf = NULL;
        size_t bcap = 0;
        ssize_t n;
        while ((n = getline(&buf, &bcap, f)) > 0) {
            while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
            if (n == 0)
                continue;
            if (n_lines == cap_lines) {
                cap_lines = cap_lines ? cap_lines * 2 : 4096;
                lines = sift_xrealloc(lines, cap_lines * sizeof(*lines));
            }
            lines[n_lines].s = sift_xstrndup(buf, (size_t)n);
            lines[n_lines].len = (uint32_t)n;
            lines[n_lines].sys = i;
            n_lines++;
        }
        free(buf);
        fclose(f);
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Copies line into out, varying the last digit of some digit runs. */
static uint32_t
vary(const struct line *l, char *out)
{
    memcpy(out, l->s, l->len);
    uint64_t r = next_rand();
    for (uint32_t i = 1; i < l->len; i++) {
        if (out[i] >= '0' && out[i] <= '9' &&
            (i + 1 == l->len || out[i + 1] < '0' || out[i + 1] > '9') &&
            out[i - 1] >= '0' && out[i - 1] <= '9') {
            if ((r & 3) == 0)
                out[i] = (char)('0' + (r >> 2) % 10);
            r = r >> 5 | r << 59;
        }
    }
    return l->len;
}

static void
make_event(uint64_t i, char *msg, char *host, struct sift_field *f,
           struct sift_event *ev, int64_t *ts)
{
    const struct line *l = &lines[i % n_lines];
    ev->msg = msg;
    ev->msg_len = vary(l, msg);
    *ts += (int64_t)(next_rand() % 2000000);
    ev->ts_ns = *ts;
    int hl = snprintf(host, 32, "node-%02u", (unsigned)(next_rand() % 40));
    f[0] = (struct sift_field){"host.name", host, 9, (uint32_t)hl,
                               SIFT_FT_KEYWORD};
    const char *svc = systems[l->sys];
    f[1] = (struct sift_field){"service", svc, 7, (uint32_t)strlen(svc),
                               SIFT_FT_KEYWORD};
    ev->fields = f;
    ev->n_fields = 2;
    ev->template_id = SIFT_TEMPLATE_NONE;
}

static int
write_file(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -errno;
    const char *c = p;
    while (len > 0) {
        ssize_t w = write(fd, c, len);
        if (w < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        c += w;
        len -= (size_t)w;
    }
    close(fd);
    return 0;
}

static int
corpus(const char *dir)
{
    static const size_t sizes[] = {1, 5, 20, 60};
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 1024;
    int64_t ts = 1700000000000000000;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct sift_segment_builder *b;
        sift_segment_builder_new(&opts, &b);
        for (size_t i = 0; i < sizes[k]; i++) {
            char msg[4096], host[32];
            struct sift_field f[3];
            struct sift_event ev;
            memset(&ev, 0, sizeof(ev));
            make_event(k * 2000 + i * 97, msg, host, f, &ev, &ts);
            f[2] = (struct sift_field){"status", "503", 6, 3, SIFT_FT_NUMBER};
            ev.n_fields = 3;
            ev.template_id = (uint32_t)(i % 3);
            sift_segment_builder_add(b, &ev);
        }
        struct sift_buf img = SIFT_BUF_INIT;
        sift_buf_putc(&img, 1); /* mode: reseal */
        if (sift_segment_builder_finish(b, &img) != SIFT_OK)
            return 1;
        sift_segment_builder_free(b);
        char path[512];
        snprintf(path, sizeof(path), "%s/valid_%zu", dir, sizes[k]);
        write_file(path, img.data, img.len);
        img.data[0] = 0; /* mode: checksums as they are */
        snprintf(path, sizeof(path), "%s/valid_raw_%zu", dir, sizes[k]);
        write_file(path, img.data, img.len);
        if (k == 1) {
            img.data[0] = 1;
            snprintf(path, sizeof(path), "%s/trunc_half", dir);
            write_file(path, img.data, img.len / 2);
            snprintf(path, sizeof(path), "%s/trunc_tail", dir);
            write_file(path, img.data, img.len - 7);
        }
        sift_buf_cleanup(&img);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    uint64_t n = 1000000;
    uint32_t seg_docs = 500000;
    const char *corpus_dir = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "n:s:c:")) != -1) {
        switch (opt) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 's': seg_docs = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c': corpus_dir = optarg; break;
        default:
            fprintf(stderr, "usage: bench_segment [-n events] [-s docs per "
                            "segment] [-c corpus_dir]\n");
            return 2;
        }
    }
    load();
    if (corpus_dir != NULL)
        return corpus(corpus_dir);
    if (seg_docs == 0)
        seg_docs = 500000;

    char dir[] = "/tmp/sift_bench_segXXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_segment_builder *b;
    sift_segment_builder_new(&opts, &b);
    struct sift_buf img = SIFT_BUF_INIT;
    char msg[4096], host[32];
    struct sift_field f[2];
    struct sift_event ev;
    memset(&ev, 0, sizeof(ev));
    int64_t ts = 1700000000000000000;
    uint64_t raw = 0, disk = 0;
    double t_add = 0, t_finish = 0, t_write = 0;
    unsigned n_segs = 0;
    for (uint64_t i = 0; i < n;) {
        double t0 = now_s();
        uint32_t k = 0;
        for (; k < seg_docs && i < n; k++, i++) {
            make_event(i, msg, host, f, &ev, &ts);
            raw += ev.msg_len + 1;
            if (sift_segment_builder_add(b, &ev) != SIFT_OK)
                return 1;
        }
        double t1 = now_s();
        sift_buf_reset(&img);
        int rc = sift_segment_builder_finish(b, &img);
        if (rc != SIFT_OK) {
            fprintf(stderr, "finish: %s\n", sift_strerror(rc));
            return 1;
        }
        sift_segment_builder_reset(b);
        double t2 = now_s();
        char path[600];
        snprintf(path, sizeof(path), "%s/seg%u", dir, n_segs++);
        if (write_file(path, img.data, img.len) != 0)
            return 1;
        double t3 = now_s();
        /* Check the image opens (not timed). */
        struct sift_segment *seg;
        if (sift_segment_open_file(path, &seg) != SIFT_OK) {
            fprintf(stderr, "bench_segment: reopen failed\n");
            return 1;
        }
        double t4 = now_s();
        if (sift_segment_doc_count(seg) != k)
            return 1;
        sift_segment_unref(seg);
        if (getenv("SIFT_BENCH_KEEP") == NULL)
            unlink(path);
        fprintf(stderr, "segment %u: %u docs, %.1f MB, open %.1f ms\n",
                n_segs, k, (double)img.len / 1e6, (t4 - t3) * 1e3);
        disk += img.len;
        t_add += t1 - t0;
        t_finish += t2 - t1;
        t_write += t3 - t2;
    }
    rmdir(dir);
    double total = t_add + t_finish + t_write;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench_segment: %llu events in %u segments, %.0f events/s, "
           "%.1f MB/s raw, disk/raw %.2f%% (%.1f MB / %.1f MB), add %.2fs "
           "finish %.2fs write %.2fs, peak RSS %ld MB\n",
           (unsigned long long)n, n_segs, (double)n / total,
           (double)raw / 1e6 / total, 100.0 * (double)disk / (double)raw,
           (double)disk / 1e6, (double)raw / 1e6, t_add, t_finish, t_write,
           ru.ru_maxrss / 1024);
    sift_buf_cleanup(&img);
    sift_segment_builder_free(b);
    for (size_t i = 0; i < n_lines; i++)
        sift_free(lines[i].s);
    sift_free(lines);
    return 0;
}
