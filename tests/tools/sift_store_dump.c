/*
 * sift_store_dump.c - opens a data dir with the real store (running
 * recovery: manifest, segment checks, WAL replay) and prints every
 * searchable event as one JSON line, then a summary on stderr.
 *
 * Usage: sift_store_dump DATA_DIR
 *
 * For crash tests and incidents: it needs no HTTP or query engine.  It
 * modifies the directory exactly as a siftd start would (cuts torn WAL
 * tails, quarantines corrupt files, removes orphans), then closes the
 * store cleanly (which flushes).  Do not run it on a live data dir.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/pool.h"
#include "sift/segment.h"
#include "sift/store.h"

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
        return 2;
    }
    struct sift_config cfg;
    struct sift_loop *loop = NULL;
    struct sift_pool *pool = NULL;
    struct sift_store *st = NULL;
    int rc, status = 1;

    sift_log_set_level(SIFT_LOG_WARN);
    sift_config_init(&cfg);
    sift_free(cfg.data_dir);
    cfg.data_dir = sift_xstrdup(argv[1]);
    if ((rc = sift_loop_new(&loop)) < 0 ||
        (rc = sift_pool_new(loop, 1, &pool)) < 0 ||
        (rc = sift_store_open(&cfg, loop, pool, &st)) < 0) {
        fprintf(stderr, "cannot open %s: %s\n", argv[1], sift_strerror(rc));
        goto out;
    }
    struct sift_snapshot *snap = sift_store_snapshot(st);
    struct sift_arena *a = sift_arena_new(1 << 16);
    struct sift_buf doc = SIFT_BUF_INIT, line = SIFT_BUF_INIT;
    uint64_t n = 0, bad = 0;
    for (size_t i = 0; i < sift_snapshot_count(snap); i++) {
        struct sift_segment *seg = sift_snapshot_segment(snap, i);
        const roaring_bitmap_t *del = sift_segment_deleted(seg);
        for (uint32_t d = 0; d < sift_segment_doc_count(seg); d++) {
            struct sift_event ev;
            if (del && roaring_bitmap_contains(del, d))
                continue; /* deleted by query: not searchable */
            sift_buf_reset(&doc);
            sift_arena_reset(a);
            if (sift_segment_doc(seg, d, &doc) != SIFT_OK ||
                sift_doc_decode((const uint8_t *)doc.data, doc.len, a, &ev) !=
                    SIFT_OK) {
                bad++;
                continue;
            }
            sift_buf_reset(&line);
            sift_event_to_json(&ev, &line);
            sift_buf_putc(&line, '\n');
            fwrite(line.data, 1, line.len, stdout);
            n++;
        }
    }
    sift_buf_cleanup(&doc);
    sift_buf_cleanup(&line);
    sift_arena_free(a);
    sift_snapshot_release(snap);
    const char *const *q = sift_store_quarantined(st);
    fprintf(stderr,
            "%llu events, %llu unreadable, quarantined:", (unsigned long long)n,
            (unsigned long long)bad);
    for (size_t i = 0; q[i]; i++)
        fprintf(stderr, " %s", q[i]);
    fprintf(stderr, "\n");
    status = bad ? 1 : 0;
out:
    sift_store_close(st);
    if (pool)
        sift_pool_free(pool);
    if (loop)
        sift_loop_free(loop);
    sift_config_cleanup(&cfg);
    return status;
}
