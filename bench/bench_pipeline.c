/*
 * bench_pipeline.c - CPU per event of each stage of siftd's ingest path,
 * in one thread, on an NDJSON file of events (issue 22).
 *
 * The stages are the ones an /api/v1/ingest body goes through, as the
 * daemon calls them: parse (sift_parse_lines, the JSON walk to struct
 * sift_event), mine (sift_mine_event: header split and template), WAL
 * encode (sift_doc_encode, the record the WAL writes), decode
 * (sift_doc_decode, what the store does once the fsync is done), builder
 * add (sift_segment_builder_add: doc store encoding and the index) and
 * build (sift_segment_builder_finish: sort, sections, zstd; a worker in
 * siftd).  What it leaves out: HTTP, the socket, write(2) and fsync,
 * flushes to disk, merges.
 *
 * Each round runs every stage over the same events, each stage timed in
 * thread CPU time; the table gives each stage's minimum over the rounds
 * (the machine is shared: the minimum is the round least disturbed) and
 * the sum, as events per CPU-second.  The miner stays warm across rounds
 * (a steady stream); the builder is reset per segment.
 *
 * Usage: bench_pipeline FILE [--events N] [--seg-events N] [--rounds N]
 *   FILE: NDJSON events, e.g. ../shared/bench/gen.py output.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/mine.h"
#include "sift/parse.h"
#include "sift/segment.h"

enum { S_PARSE, S_MINE, S_ENCODE, S_DECODE, S_ADD, S_BUILD, N_STAGES };
static const char *const stage_name[N_STAGES] = {
    "parse (JSON -> event)",
    "mine (header + template)",
    "WAL encode",
    "WAL decode",
    "builder add (index)",
    "build (finish)",
};

static double
cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct collect {
    struct sift_event *evs;
    size_t n, cap;
};

static int
on_line(void *arg, int rc, struct sift_event *ev,
        const struct sift_parse_error *err)
{
    struct collect *c = arg;
    (void)err;
    if (rc != SIFT_OK)
        return 0;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->evs = realloc(c->evs, c->cap * sizeof(*c->evs));
        if (!c->evs)
            abort();
    }
    c->evs[c->n++] = *ev;
    return 0;
}

static char *
read_lines(const char *path, size_t max_lines, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 20, len = 0, lines = 0;
    char *buf = malloc(cap);
    char line[1 << 16];
    while (lines < max_lines && fgets(line, sizeof(line), f)) {
        size_t l = strlen(line);
        if (len + l + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        if (!buf)
            abort();
        memcpy(buf + len, line, l);
        len += l;
        lines++;
    }
    fclose(f);
    *len_out = len;
    return buf;
}

int
main(int argc, char **argv)
{
    const char *path = NULL;
    size_t n_events = 200000, seg_events = 100000;
    int rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
            n_events = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seg-events") == 0 && i + 1 < argc)
            seg_events = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (!path || rounds < 1 || rounds > 100 || seg_events == 0) {
        fprintf(stderr, "usage: bench_pipeline FILE [--events N] "
                        "[--seg-events N] [--rounds 1-100]\n");
        return 2;
    }
    size_t body_len;
    char *body = read_lines(path, n_events, &body_len);

    struct sift_parse_opts po;
    sift_parse_opts_init(&po);
    po.format = SIFT_PARSE_JSON;
    if (sift_parse_opts_compile(&po, NULL) != SIFT_OK)
        return 1;
    struct sift_mine *mine;
    sift_mine_new(NULL, &mine);
    struct sift_segment_opts so;
    sift_segment_opts_init(&so);
    struct sift_segment_builder *b;
    if (sift_segment_builder_new(&so, &b) != SIFT_OK)
        return 1;

    double best[N_STAGES];
    for (int s = 0; s < N_STAGES; s++)
        best[s] = 1e30;
    size_t n = 0;
    size_t image_bytes = 0;
    for (int r = 0; r < rounds; r++) {
        double t[N_STAGES] = {0};
        struct sift_arena *arena = sift_arena_new(4u << 20);
        struct sift_arena *darena = sift_arena_new(4u << 20);
        struct collect c = {0};
        double t0 = cpu_now();
        sift_parse_lines(&po, body, body_len, 0, arena, on_line, &c, NULL);
        t[S_PARSE] = cpu_now() - t0;
        n = c.n;

        t0 = cpu_now();
        for (size_t i = 0; i < c.n; i++)
            if (sift_mine_event(mine, &c.evs[i], arena, NULL) != SIFT_OK)
                abort();
        t[S_MINE] = cpu_now() - t0;

        struct sift_buf wal = SIFT_BUF_INIT;
        size_t *off = malloc((c.n + 1) * sizeof(*off));
        t0 = cpu_now();
        for (size_t i = 0; i < c.n; i++) {
            off[i] = wal.len;
            sift_doc_encode(&c.evs[i], &wal);
        }
        off[c.n] = wal.len;
        t[S_ENCODE] = cpu_now() - t0;

        struct sift_event *dec = malloc((c.n + 1) * sizeof(*dec));
        t0 = cpu_now();
        for (size_t i = 0; i < c.n; i++)
            if (sift_doc_decode((const uint8_t *)wal.data + off[i],
                                off[i + 1] - off[i], darena,
                                &dec[i]) != SIFT_OK)
                abort();
        t[S_DECODE] = cpu_now() - t0;

        image_bytes = 0;
        for (size_t i = 0; i < c.n; i += seg_events) {
            size_t e = i + seg_events < c.n ? i + seg_events : c.n;
            t0 = cpu_now();
            for (size_t k = i; k < e; k++)
                if (sift_segment_builder_add(b, &dec[k]) != SIFT_OK)
                    abort();
            double t1 = cpu_now();
            struct sift_buf img = SIFT_BUF_INIT;
            if (sift_segment_builder_finish(b, &img) != SIFT_OK)
                abort();
            double t2 = cpu_now();
            t[S_ADD] += t1 - t0;
            t[S_BUILD] += t2 - t1;
            image_bytes += img.len;
            sift_buf_cleanup(&img);
            sift_segment_builder_reset(b);
        }
        for (int s = 0; s < N_STAGES; s++)
            if (t[s] < best[s])
                best[s] = t[s];
        free(dec);
        free(off);
        sift_buf_cleanup(&wal);
        free(c.evs);
        sift_arena_free(darena);
        sift_arena_free(arena);
    }
    double sum = 0;
    printf("%zu events (%.0f bytes each), segments of %zu, best of %d "
           "rounds, thread CPU\n",
           n, n ? (double)body_len / (double)n : 0.0, seg_events, rounds);
    printf("%-26s %10s %14s\n", "stage", "ns/event", "events/CPU-s");
    for (int s = 0; s < N_STAGES; s++) {
        double ns = n ? best[s] * 1e9 / (double)n : 0;
        sum += ns;
        printf("%-26s %10.0f %14.0f\n", stage_name[s], ns,
               ns > 0 ? 1e9 / ns : 0);
    }
    printf("%-26s %10.0f %14.0f\n", "all stages", sum, sum > 0 ? 1e9 / sum : 0);
    printf("segment images: %.1f%% of the input bytes\n",
           body_len ? 100.0 * (double)image_bytes / (double)body_len : 0.0);
    sift_segment_builder_free(b);
    sift_mine_free(mine);
    sift_parse_opts_cleanup(&po);
    free(body);
    return 0;
}
