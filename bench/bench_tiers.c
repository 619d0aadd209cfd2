/*
 * bench_tiers.c - bytes on disk per raw byte for the hot, warm and cold
 * codecs, merge throughput, and term-query latency on cold vs hot, on the
 * loghub-2k logs (tests/data/loghub-2k, LICENSE/CITATION there).
 *
 * Usage: bench_tiers [LOGHUB_DIR] [PASSES] [COLD_OUT]
 *   Every *_2k.log line of the ten systems becomes one event (message =
 *   the raw line, 1 ms apart, systems interleaved), repeated PASSES times
 *   (default 5, with the pass number appended so lines differ).  The data
 *   is cut into hot segments of ~1 MiB (as flushes make them), then merged
 *   with the warm codec and with the cold codec (dictionary trained on the
 *   data), the way the lifecycle does.  Sizes include the whole segment
 *   image (index, columns, doc store).  Single thread; well under 2 min.
 *   COLD_OUT: write the cold image there (for scripts/segment_sizes.py).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/store/lifecycle_int.h"
#include "sift/alloc.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/segment.h"

#define MAX_LINES 400000

static char *lines[MAX_LINES];
static size_t n_lines;
static uint64_t raw_bytes;

static void
load(const char *root)
{
    static const char *const sys[] = {"Apache", "BGL",      "HDFS", "HPC",
                                      "Hadoop", "Linux",    "Mac",  "OpenSSH",
                                      "Spark",  "Zookeeper"};
    FILE *f[10] = {0};
    for (int i = 0; i < 10; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/%s/%s_2k.log", root, sys[i], sys[i]);
        f[i] = fopen(p, "r");
    }
    char buf[8192];
    int open = 1;
    while (open && n_lines < MAX_LINES) {
        open = 0;
        for (int i = 0; i < 10; i++) {
            if (!f[i] || !fgets(buf, sizeof(buf), f[i]))
                continue;
            open = 1;
            size_t l = strcspn(buf, "\r\n");
            buf[l] = '\0';
            lines[n_lines++] = sift_xstrdup(buf);
        }
    }
    for (int i = 0; i < 10; i++)
        if (f[i])
            fclose(f[i]);
}

static struct sift_segment *
finish(struct sift_segment_builder *b)
{
    struct sift_buf img = SIFT_BUF_INIT;
    if (sift_segment_builder_finish(b, &img) != SIFT_OK)
        abort();
    size_t len;
    char *d = sift_buf_detach(&img, &len);
    struct sift_segment *s;
    if (sift_segment_open_mem(d, len, &s) != SIFT_OK)
        abort();
    return s;
}

static double
now_s(void)
{
    return (double)sift_clock_mono_ns() / 1e9;
}

/* Median latency (us) of a term lookup + fetching up to 10 docs. */
static double
query_us(struct sift_segment *const *segs, size_t n, const char *term)
{
    double best[9];
    struct sift_buf doc = SIFT_BUF_INIT;
    for (int rep = 0; rep < 9; rep++) {
        double t0 = now_s();
        for (size_t i = 0; i < n; i++) {
            int f = sift_segment_field_find(segs[i], "message", 7);
            roaring_bitmap_t *bm = NULL;
            if (f < 0 ||
                sift_segment_postings(segs[i], (uint32_t)f, term, strlen(term),
                                      &bm) != SIFT_OK ||
                !bm)
                continue;
            roaring_uint32_iterator_t *it = roaring_create_iterator(bm);
            for (int k = 0; k < 10 && it->has_value; k++) {
                sift_buf_reset(&doc);
                (void)sift_segment_doc(segs[i], it->current_value, &doc);
                roaring_advance_uint32_iterator(it);
            }
            roaring_free_uint32_iterator(it);
            roaring_bitmap_free(bm);
        }
        best[rep] = (now_s() - t0) * 1e6;
    }
    sift_buf_cleanup(&doc);
    for (int i = 0; i < 9; i++)
        for (int j = i + 1; j < 9; j++)
            if (best[j] < best[i]) {
                double t = best[i];
                best[i] = best[j];
                best[j] = t;
            }
    return best[4];
}

int
main(int argc, char **argv)
{
    const char *root =
        argc > 1 ? argv[1] : SIFT_SOURCE_DIR "/tests/data/loghub-2k";
    int passes = argc > 2 ? atoi(argv[2]) : 5;
    load(root);
    if (n_lines == 0) {
        fprintf(stderr, "no loghub logs under %s\n", root);
        return 1;
    }
    struct sift_segment_opts hot;
    sift_segment_opts_init(&hot);
    hot.zstd_level = 3;
    struct sift_segment **segs = NULL;
    size_t n_segs = 0;
    struct sift_segment_builder *b;
    if (sift_segment_builder_new(&hot, &b) != SIFT_OK)
        return 1;
    int64_t ts = INT64_C(1700000000) * SIFT_NS_PER_SEC;
    char msg[8300];
    for (int p = 0; p < passes; p++) {
        for (size_t i = 0; i < n_lines; i++) {
            int l = p ? snprintf(msg, sizeof(msg), "%s p%d", lines[i], p)
                      : snprintf(msg, sizeof(msg), "%s", lines[i]);
            struct sift_event ev;
            memset(&ev, 0, sizeof(ev));
            ev.ts_ns = ts;
            ts += SIFT_NS_PER_MS;
            ev.msg = msg;
            ev.msg_len = (uint32_t)l;
            raw_bytes += (uint64_t)l + 1; /* + newline */
            if (sift_segment_builder_add(b, &ev) != SIFT_OK)
                return 1;
            if (sift_segment_builder_bytes(b) >= (4u << 20)) {
                segs = sift_xrealloc(segs, (n_segs + 1) * sizeof(*segs));
                segs[n_segs++] = finish(b);
                sift_segment_builder_reset(b);
            }
        }
    }
    if (sift_segment_builder_count(b) > 0) {
        segs = sift_xrealloc(segs, (n_segs + 1) * sizeof(*segs));
        segs[n_segs++] = finish(b);
    }
    sift_segment_builder_free(b);
    uint64_t hot_bytes = 0;
    for (size_t i = 0; i < n_segs; i++)
        hot_bytes += sift_segment_bytes(segs[i]);

    printf("data: %zu lines x %d passes, %.2f MiB raw, %zu hot segments\n",
           n_lines, passes, (double)raw_bytes / 1048576.0, n_segs);
    printf("hot  (zstd 3, flush-sized):   %9llu bytes  %.2f%% of raw\n",
           (unsigned long long)hot_bytes,
           100.0 * (double)hot_bytes / (double)raw_bytes);

    struct {
        const char *name;
        int level;
        uint32_t block;
        size_t dict;
    } tiers[] = {{"warm (zstd 9, merged)", 9, 64 << 10, 0},
                 {"cold (zstd 19 + dict, day)", 19, 256 << 10, 64 << 10}};
    struct sift_segment *cold = NULL;
    for (int t = 0; t < 2; t++) {
        struct sift_segment_opts o;
        sift_segment_opts_init(&o);
        o.tier = (uint8_t)(t + 1);
        o.zstd_level = tiers[t].level;
        o.block_bytes = tiers[t].block;
        double t0 = now_s();
        void *dict = NULL;
        size_t dl = 0;
        if (tiers[t].dict &&
            sift__segment_train_dict(segs, n_segs, tiers[t].dict, &dict, &dl) ==
                SIFT_OK) {
            o.zstd_dict = dict;
            o.zstd_dict_len = dl;
        }
        double t1 = now_s();
        struct sift_merge_out *outs;
        size_t n_outs;
        struct sift_merge_stats st;
        if (sift__segment_merge(segs, n_segs, &o, 0, 0, 0, &outs, &n_outs,
                                &st) != SIFT_OK ||
            n_outs != 1)
            return 1;
        double t2 = now_s();
        printf("%-30s %9zu bytes  %.2f%% of raw  merge %.1f MB/s in "
               "(%.1f s, dict %.2f s)\n",
               tiers[t].name, outs[0].img.len,
               100.0 * (double)outs[0].img.len / (double)raw_bytes,
               (double)st.bytes_in / 1e6 / (t2 - t0), t2 - t0, t1 - t0);
        if (t == 1) {
            size_t len;
            char *d = sift_buf_detach(&outs[0].img, &len);
            if (argc > 3) {
                FILE *df = fopen(argv[3], "wb");
                if (!df || fwrite(d, 1, len, df) != len || fclose(df) != 0)
                    return 1;
            }
            if (sift_segment_open_mem(d, len, &cold) != SIFT_OK)
                return 1;
        }
        sift__merge_outs_free(outs, n_outs);
        sift_free(dict);
    }
    const char *terms[] = {"error", "block", "session", "failed"};
    for (size_t i = 0; i < 4; i++)
        printf("query \"%s\" (postings + 10 docs): hot %.0f us over %zu "
               "segments, cold %.0f us\n",
               terms[i], query_us(segs, n_segs, terms[i]), n_segs,
               query_us(&cold, 1, terms[i]));
    sift_segment_unref(cold);
    for (size_t i = 0; i < n_segs; i++)
        sift_segment_unref(segs[i]);
    sift_free(segs);
    for (size_t i = 0; i < n_lines; i++)
        sift_free(lines[i]);
    return 0;
}
