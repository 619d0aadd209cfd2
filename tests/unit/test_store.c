/*
 * test_store.c - the storage engine end to end on a real loop and pool:
 * append -> durable callback -> refresh -> snapshot; flush -> files and
 * manifest; close + reopen; a kill-style crash (copy the live data dir
 * and open the copy); segment quarantine; disk full (ENOSPC injection on
 * write and on fsync); backpressure; a lost or damaged manifest rebuilt
 * from the segment files, and siftd repair.
 *
 * "Exactly once" is checked by decoding every doc of a snapshot and
 * counting each event id (carried in the message) it holds.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/pool.h"
#include "sift/segment.h"
#include "sift/store.h"
#include "store/manifest.h"
#include "store/store_int.h"
#include "store/wal.h"

#include "store_fixture.h"

#define MAX_IDS 20000

struct fx {
    char root[64];
    char dir[128];
    struct sift_config cfg;
    struct sift_loop *loop;
    struct sift_pool *pool;
    /* acks */
    int acked[MAX_IDS / 10]; /* per batch: 0 pending, 1 ok, -1 failed */
    int ack_order_bad;
    int last_acked;
    int n_acked;
};

static struct fx *
fx_get(void **state)
{
    return *state;
}

static void
cfg_fill(struct sift_config *c, const char *dir)
{
    memset(c, 0, sizeof(*c));
    c->data_dir = (char *)(uintptr_t)dir;
    c->wal_sync_ms = 5;
    c->wal_file_bytes = 16 << 10;
    c->refresh_ms = 50;
    c->flush_ms = 60000; /* tests flush explicitly */
    c->flush_bytes = 64 << 20;
    c->buffer_max_bytes = 64 << 20;
    c->zstd_level = 1;
    c->block_bytes = 16 << 10;
}

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/sift-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/data", f->root);
    cfg_fill(&f->cfg, f->dir);
    sift_log_set_level(SIFT_LOG_ERROR);
    assert_int_equal(sift_loop_new(&f->loop), SIFT_OK);
    assert_int_equal(sift_pool_new(f->loop, 2, &f->pool), SIFT_OK);
    f->last_acked = -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    sift_pool_free(f->pool);
    sift_loop_free(f->loop);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    sift__wal_inject_enospc(0);
    sift__wal_inject_fsync_error(0, 0);
    sift_free(f);
    return 0;
}

/* ---- batches ---- */

struct ack {
    struct fx *f;
    int batch;
};

static struct ack acks[MAX_IDS / 10];

static void
on_durable(void *arg, int rc)
{
    struct ack *a = arg;
    struct fx *f = a->f;
    assert_int_equal(f->acked[a->batch], 0); /* exactly once */
    f->acked[a->batch] = rc == SIFT_OK ? 1 : -1;
    if (rc == SIFT_OK) {
        if (a->batch < f->last_acked)
            f->ack_order_bad++;
        f->last_acked = a->batch;
        f->n_acked++;
    }
}

/* Appends batch b: events with ids b*10 .. b*10+9, position key/offset. */
static int
append_batch(struct fx *f, struct sift_store *st, int b, const char *key)
{
    struct sift_event evs[10];
    struct sift_field fields[10];
    char msgs[10][64];
    for (int i = 0; i < 10; i++) {
        int id = b * 10 + i;
        int len = snprintf(msgs[i], sizeof(msgs[i]),
                           "request id%d served in %d ms", id, id % 97);
        memset(&evs[i], 0, sizeof(evs[i]));
        evs[i].ts_ns =
            INT64_C(1700000000000000000) + (int64_t)id * SIFT_NS_PER_MS;
        evs[i].msg = msgs[i];
        evs[i].msg_len = (uint32_t)len;
        fields[i].name = "service.name";
        fields[i].name_len = 12;
        fields[i].value = (id & 1) ? "api" : "web";
        fields[i].value_len = 3;
        fields[i].type = SIFT_FT_KEYWORD;
        evs[i].fields = &fields[i];
        evs[i].n_fields = 1;
    }
    struct sift_srcpos pos = {key, (uint64_t)b, 0};
    acks[b].f = f;
    acks[b].batch = b;
    return sift_store_append(st, evs, 10, &pos, key ? 1 : 0, on_durable,
                             &acks[b]);
}

struct count_ctx {
    struct fx *f;
    int want;
};

static int
all_acked(void *arg)
{
    struct count_ctx *c = arg;
    return c->f->n_acked >= c->want;
}

/* Counts every id in the snapshot; returns total docs, fails on dups. */
static int
count_ids(struct sift_store *st, unsigned char *seen, int max_id)
{
    struct sift_snapshot *snap = sift_store_snapshot(st);
    struct sift_arena *a = sift_arena_new(4096);
    struct sift_buf b = SIFT_BUF_INIT;
    int total = 0;
    memset(seen, 0, (size_t)max_id);
    for (size_t i = 0; i < sift_snapshot_count(snap); i++) {
        struct sift_segment *seg = sift_snapshot_segment(snap, i);
        for (uint32_t d = 0; d < sift_segment_doc_count(seg); d++) {
            struct sift_event ev;
            sift_buf_reset(&b);
            assert_int_equal(sift_segment_doc(seg, d, &b), SIFT_OK);
            sift_arena_reset(a);
            assert_int_equal(
                sift_doc_decode((const uint8_t *)b.data, b.len, a, &ev),
                SIFT_OK);
            char tmp[64];
            size_t n = ev.msg_len < 63 ? ev.msg_len : 63;
            memcpy(tmp, ev.msg, n);
            tmp[n] = '\0';
            int id = -1;
            assert_int_equal(sscanf(tmp, "request id%d", &id), 1);
            assert_true(id >= 0 && id < max_id);
            assert_int_equal(seen[id], 0); /* never twice */
            seen[id] = 1;
            total++;
        }
    }
    sift_buf_cleanup(&b);
    sift_arena_free(a);
    sift_snapshot_release(snap);
    return total;
}

struct docs_ctx {
    struct sift_store *st;
    uint64_t want;
};

static int
docs_visible(void *arg)
{
    struct docs_ctx *c = arg;
    struct sift_store_stats s;
    sift_store_stats(c->st, &s);
    return s.docs >= c->want;
}

static int
count_files(const char *dir, const char *suffix)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "ls '%s' 2>/dev/null | grep -c '%s$'", dir,
             suffix);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = 0;
        pclose(p);
    }
    return n;
}

/* ---- tests ---- */

static void
test_store_append_durable_refresh_snapshot(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    unsigned char seen[1000];
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(sift_store_append(st, NULL, 0, NULL, 0, NULL, NULL),
                     SIFT_EINVAL);
    for (int b = 0; b < 100; b++)
        assert_int_equal(append_batch(f, st, b, "kafka/logs/0"), SIFT_OK);
    /* Callbacks never run inside append. */
    assert_int_equal(f->n_acked, 0);
    struct count_ctx cc = {f, 100};
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    assert_int_equal(f->ack_order_bad, 0);

    struct docs_ctx dc = {st, 1000};
    assert_true(sf_run_until(f->loop, docs_visible, &dc, 5000));
    assert_int_equal(count_ids(st, seen, 1000), 1000);

    struct sift_srcpos pos;
    assert_int_equal(sift_store_position(st, "kafka/logs/0", &pos), SIFT_OK);
    assert_int_equal(pos.hi, 99);
    assert_int_equal(sift_store_position(st, "nope", &pos), SIFT_ENOTFOUND);
    struct sift_store_stats s;
    sift_store_stats(st, &s);
    assert_true(s.wal_fsyncs >= 1);
    assert_true(s.wal_fsyncs <= 100); /* group commit batches fsyncs */
    assert_int_equal(s.docs_buffered, 0);
    assert_true(s.segments_mem >= 1);
    assert_int_equal(sift_store_is_full(st), 0);
    sift_store_close(st);
}

static void
refresh_counter(struct sift_segment *seg, void *arg)
{
    *(uint64_t *)arg += sift_segment_doc_count(seg);
}

static void
test_store_flush_writes_files_and_manifest(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    f->cfg.wal_sync_ms = 0; /* fsync per batch */
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    uint64_t tailed = 0;
    sift_store_on_refresh(st, refresh_counter, &tailed);
    for (int b = 0; b < 300; b++)
        assert_int_equal(append_batch(f, st, b, "redis/s"), SIFT_OK);
    struct count_ctx cc = {f, 300};
    assert_true(sf_run_until(f->loop, all_acked, &cc, 10000));
    assert_int_equal(f->ack_order_bad, 0);
    char waldir[160];
    snprintf(waldir, sizeof(waldir), "%s/wal", f->dir);
    assert_true(count_files(waldir, ".wal") > 1); /* rotated */

    int done = 0;
    sift_store_flush(st, sf_flush_cb, &done);
    assert_true(sf_run_until(f->loop, sf_flag_set, &done, 10000));
    assert_int_equal(done, 1);
    assert_int_equal(tailed, 3000);

    char segdir[160];
    snprintf(segdir, sizeof(segdir), "%s/segments", f->dir);
    assert_true(count_files(segdir, ".seg") >= 1);
    assert_int_equal(count_files(segdir, ".tmp"), 0);
    struct sift_manifest m;
    assert_int_equal(sift__manifest_load(f->dir, &m), SIFT_OK);
    assert_int_equal(m.flushed_seq, 300);
    uint64_t docs = 0;
    for (size_t i = 0; i < m.n_segs; i++)
        docs += m.segs[i].docs;
    assert_int_equal(docs, 3000);
    assert_int_equal(sift__posmap_find(&m.pos, "redis/s")->hi, 299);
    /* Each file says which WAL records it holds (format 5 ORIGIN): the
     * ranges are disjoint, cover 1..300, and the newest reaches the
     * manifest's position. */
    uint64_t covered = 0, max_hi = 0;
    for (size_t i = 0; i < m.n_segs; i++) {
        char path[512];
        struct sift_segment *seg = NULL;
        snprintf(path, sizeof(path), "%s/%s", segdir, m.segs[i].file);
        assert_int_equal(sift_segment_open_file(path, &seg), SIFT_OK);
        const struct sift_segment_origin *o = sift_segment_origin(seg);
        assert_int_equal(o->kind, SIFT_SEG_ORIGIN_WAL);
        assert_true(o->min_seq >= 1 && o->min_seq <= o->max_seq);
        assert_true(o->max_seq <= 300);
        covered += o->max_seq - o->min_seq + 1;
        assert_int_equal(o->n_pos, 1);
        assert_string_equal(o->pos[0].key, "redis/s");
        if (o->pos[0].hi > max_hi)
            max_hi = o->pos[0].hi;
        for (size_t k = 0; k < i; k++) {
            char p2[512];
            struct sift_segment *s2 = NULL;
            snprintf(p2, sizeof(p2), "%s/%s", segdir, m.segs[k].file);
            assert_int_equal(sift_segment_open_file(p2, &s2), SIFT_OK);
            const struct sift_segment_origin *o2 = sift_segment_origin(s2);
            assert_true(o2->max_seq < o->min_seq || o->max_seq < o2->min_seq);
            sift_segment_unref(s2);
        }
        sift_segment_unref(seg);
    }
    assert_int_equal(covered, 300);
    assert_int_equal(max_hi, 299);
    sift__manifest_cleanup(&m);
    /* Every record is in a segment: the WAL holds no file. */
    assert_int_equal(count_files(waldir, ".wal"), 0);

    struct sift_store_stats s;
    sift_store_stats(st, &s);
    assert_int_equal(s.docs, 3000);
    assert_int_equal(s.segments_mem, 0);
    assert_true(s.segments_disk >= 1);
    assert_true(s.flushes >= 1); /* two when a seal was still building */
    unsigned char seen[3000];
    assert_int_equal(count_ids(st, seen, 3000), 3000);
    sift_store_close(st);
}

static void
test_store_close_reopen_exactly_once(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    unsigned char seen[2000];
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    for (int b = 0; b < 80; b++)
        assert_int_equal(append_batch(f, st, b, "kafka/t/1"), SIFT_OK);
    struct count_ctx cc = {f, 80};
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    int done = 0;
    sift_store_flush(st, sf_flush_cb, &done);
    assert_true(sf_run_until(f->loop, sf_flag_set, &done, 5000));
    for (int b = 80; b < 150; b++)
        assert_int_equal(append_batch(f, st, b, "kafka/t/1"), SIFT_OK);
    cc.want = 150;
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    sift_store_close(st);

    for (int round = 0; round < 2; round++) {
        assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st),
                         SIFT_OK);
        /* Searchable at once, before any timer ran. */
        assert_int_equal(count_ids(st, seen, 2000), 1500);
        struct sift_srcpos pos;
        assert_int_equal(sift_store_position(st, "kafka/t/1", &pos), SIFT_OK);
        assert_int_equal(pos.hi, 149);
        sift_store_close(st);
    }
}

/* A barrier that occupies every worker of the pool: while it holds, no
 * store job (seal, flush, merge) is half-way through, and the loop thread
 * is not running, so the files on disk stand still. */
struct pool_hold {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned n_in;
    int release;
};

static void
pool_hold_work(void *arg)
{
    struct pool_hold *h = arg;
    pthread_mutex_lock(&h->lock);
    h->n_in++;
    pthread_cond_broadcast(&h->cond);
    while (!h->release)
        pthread_cond_wait(&h->cond, &h->lock);
    h->n_in--;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

/* Copies the data dir as a crash would leave it (no close, no flush).  A
 * crash freezes every file at one instant; cp walking a directory while
 * a worker flushes would not (it could copy segments/ before a flush and
 * MANIFEST and the trimmed WAL after it, a state no crash leaves), so the
 * workers are held for the length of the copy. */
static void
crash_copy(struct fx *f, const char *to)
{
    struct pool_hold h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
                          0, 0};
    unsigned n = sift_pool_threads(f->pool);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(sift_pool_submit(f->pool, pool_hold_work, NULL, &h),
                         SIFT_OK);
    pthread_mutex_lock(&h.lock);
    while (h.n_in < n)
        pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, f->dir,
             to);
    int rc = system(cmd);

    pthread_mutex_lock(&h.lock);
    h.release = 1;
    pthread_cond_broadcast(&h.cond);
    while (h.n_in > 0)
        pthread_cond_wait(&h.cond, &h.lock);
    pthread_mutex_unlock(&h.lock);
    assert_int_equal(rc, 0);
}

static void
check_crash_copy(struct fx *f, const char *copy, int n_batches)
{
    struct sift_config c;
    struct sift_store *st;
    static unsigned char seen[MAX_IDS];
    cfg_fill(&c, copy);
    assert_int_equal(sift_store_open(&c, f->loop, f->pool, &st), SIFT_OK);
    count_ids(st, seen, MAX_IDS);
    for (int b = 0; b < n_batches; b++) {
        if (f->acked[b] != 1)
            continue;
        for (int i = 0; i < 10; i++)
            assert_int_equal(seen[b * 10 + i], 1);
    }
    sift_store_close(st);
}

static void
test_store_crash_keeps_every_acked_batch_once(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    char copy[160];
    snprintf(copy, sizeof(copy), "%s/crash", f->root);
    f->cfg.flush_bytes = 8 << 10; /* flushes on its own, often */
    f->cfg.flush_ms = 100;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int b = 0;
    for (int step = 0; step < 12; step++) {
        for (int k = 0; k < 40; k++, b++)
            assert_int_equal(append_batch(f, st, b, "kafka/c/0"), SIFT_OK);
        struct count_ctx cc = {f, b - (step % 3 == 0 ? 20 : 0)};
        assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
        /* Snapshot the directory at whatever point refresh/flush are. */
        crash_copy(f, copy);
        check_crash_copy(f, copy, b);
    }
    sift_store_close(st);
}

static void
test_store_quarantines_corrupt_segment(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    for (int b = 0; b < 20; b++)
        assert_int_equal(append_batch(f, st, b, "k"), SIFT_OK);
    struct count_ctx cc = {f, 20};
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    sift_store_close(st); /* flushes */

    struct sift_manifest m;
    assert_int_equal(sift__manifest_load(f->dir, &m), SIFT_OK);
    assert_int_equal(m.n_segs, 1);
    char path[300], name[64];
    snprintf(name, sizeof(name), "%s", m.segs[0].file);
    snprintf(path, sizeof(path), "%s/segments/%s", f->dir, name);
    sift__manifest_cleanup(&m);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    char junk[16];
    memset(junk, 0xa5, sizeof(junk));
    assert_int_equal(pwrite(fd, junk, sizeof(junk), sb.st_size / 2), 16);
    close(fd);

    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    const char *const *q = sift_store_quarantined(st);
    assert_non_null(q[0]);
    assert_string_equal(q[0], name);
    assert_null(q[1]);
    struct sift_store_stats s;
    sift_store_stats(st, &s);
    assert_int_equal(s.quarantined, 1);
    assert_int_equal(s.docs, 0);
    snprintf(path, sizeof(path), "%s/quarantine/%s", f->dir, name);
    assert_int_equal(stat(path, &sb), 0);
    /* The store keeps working. */
    memset(f->acked, 0, sizeof(f->acked));
    f->n_acked = 0;
    f->last_acked = -1;
    assert_int_equal(append_batch(f, st, 50, "k"), SIFT_OK);
    cc.want = 1;
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    sift_store_close(st);
    /* The manifest no longer lists it; quarantine/ still holds it, so a
     * second start still lists it (until an operator removes it). */
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    assert_string_equal(sift_store_quarantined(st)[0], name);
    sift_store_stats(st, &s);
    assert_int_equal(s.quarantined, 1);
    unsigned char seen[1000];
    assert_int_equal(count_ids(st, seen, 1000), 10);
    sift_store_close(st);
}

static int
not_full(void *arg)
{
    return !sift_store_is_full(arg);
}

static void
test_store_disk_full_rejects_then_recovers(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    unsigned char seen[1000];
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(append_batch(f, st, 0, "k"), SIFT_OK);
    struct count_ctx cc = {f, 1};
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));

    /* Write fails half-way: rejected, nothing acknowledged, no callback. */
    sift__wal_inject_enospc(2); /* the append and the first probe */
    assert_int_equal(append_batch(f, st, 1, "k"), SIFT_ENOSPACE);
    assert_true(sift_store_is_full(st));
    assert_int_equal(append_batch(f, st, 2, "k"), SIFT_ENOSPACE);
    struct sift_store_stats s;
    sift_store_stats(st, &s);
    assert_int_equal(s.appends_rejected, 2);
    /* Space returns: the store notices on its own. */
    assert_true(sf_run_until(f->loop, not_full, st, 5000));
    assert_int_equal(f->acked[1], 0);
    assert_int_equal(f->acked[2], 0);
    assert_int_equal(append_batch(f, st, 3, "k"), SIFT_OK);
    cc.want = 2;
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));

    /* fsync fails: the covered batch is failed and never indexed. */
    sift__wal_inject_fsync_error(1, ENOSPC);
    assert_int_equal(append_batch(f, st, 4, "k"), SIFT_OK);
    assert_true(sf_run_until(f->loop, sf_flag_set, &f->acked[4], 5000));
    assert_int_equal(f->acked[4], -1);
    assert_true(sf_run_until(f->loop, not_full, st, 5000));
    assert_int_equal(append_batch(f, st, 5, "k"), SIFT_OK);
    cc.want = 3;
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    struct sift_srcpos pos;
    assert_int_equal(sift_store_position(st, "k", &pos), SIFT_OK);
    assert_int_equal(pos.hi, 5);
    sift_store_refresh(st);
    struct docs_ctx dc = {st, 30};
    assert_true(sf_run_until(f->loop, docs_visible, &dc, 5000));
    assert_int_equal(count_ids(st, seen, 1000), 30);
    assert_int_equal(seen[40], 0);
    assert_int_equal(seen[50], 1);
    sift_store_close(st);

    /* After restart: batches 0, 3, 5 exactly once, nothing else. */
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(count_ids(st, seen, 1000), 30);
    assert_int_equal(seen[0] + seen[30] + seen[50], 3);
    sift_store_close(st);
}

/* Path of the newest WAL file in dir/wal (by name), or "" when none. */
static void
newest_wal(const char *dir, char *out, size_t len)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "ls '%s/wal' | sort | tail -n 1", dir);
    FILE *p = popen(cmd, "r");
    char name[64] = "";
    if (p) {
        if (!fgets(name, sizeof(name), p))
            name[0] = '\0';
        pclose(p);
    }
    name[strcspn(name, "\n")] = '\0';
    snprintf(out, len, "%s/wal/%s", dir, name);
}

static void
test_store_torn_wal_tail_after_crash(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    unsigned char seen[1000];
    char copy[160], wal[400];
    snprintf(copy, sizeof(copy), "%s/crash", f->root);
    f->cfg.wal_file_bytes = 1 << 20; /* one file */
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    for (int b = 0; b < 30; b++)
        assert_int_equal(append_batch(f, st, b, "kafka/x/0"), SIFT_OK);
    struct count_ctx cc = {f, 30};
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    crash_copy(f, copy);
    sift_store_close(st);

    /* A record that was being written when the power went. */
    newest_wal(copy, wal, sizeof(wal));
    FILE *w = fopen(wal, "ab");
    assert_non_null(w);
    assert_int_equal(fwrite("SWAL\1\0 \0garbage", 1, 16, w), 16);
    fclose(w);
    struct stat sb;
    assert_int_equal(stat(wal, &sb), 0);
    off_t torn_size = sb.st_size;

    struct sift_config c;
    cfg_fill(&c, copy);
    assert_int_equal(sift_store_open(&c, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(count_ids(st, seen, 1000), 300);
    assert_null(sift_store_quarantined(st)[0]);
    assert_int_equal(stat(wal, &sb), 0);
    assert_int_equal(sb.st_size, torn_size - 16); /* cut, not kept */
    struct sift_srcpos pos;
    assert_int_equal(sift_store_position(st, "kafka/x/0", &pos), SIFT_OK);
    assert_int_equal(pos.hi, 29);
    sift_store_close(st);
}

static void
test_store_damaged_wal_record_costs_only_itself(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    unsigned char seen[1000];
    char copy[160], wal[400];
    snprintf(copy, sizeof(copy), "%s/crash", f->root);
    f->cfg.wal_file_bytes = 1 << 20;
    f->cfg.wal_sync_ms = 0;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    for (int b = 0; b < 10; b++) {
        assert_int_equal(append_batch(f, st, b, "kafka/y/0"), SIFT_OK);
        struct count_ctx cc = {f, b + 1};
        assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    }
    crash_copy(f, copy);
    sift_store_close(st);

    /* Flip a byte inside the 5th record's payload: records 6..10 are good. */
    newest_wal(copy, wal, sizeof(wal));
    FILE *w = fopen(wal, "r+b");
    assert_non_null(w);
    uint8_t hdr[SIFT_WAL_HDR_LEN];
    long off = 0;
    for (int r = 0; r < 4; r++) {
        assert_int_equal(fseek(w, off, SEEK_SET), 0);
        assert_int_equal(fread(hdr, 1, sizeof(hdr), w), sizeof(hdr));
        off += (long)SIFT_WAL_HDR_LEN +
               (long)(hdr[16] | hdr[17] << 8 | hdr[18] << 16);
    }
    assert_int_equal(fseek(w, off + SIFT_WAL_HDR_LEN + 3, SEEK_SET), 0);
    assert_int_equal(fputc(0x7f, w), 0x7f);
    fclose(w);

    struct sift_config c;
    cfg_fill(&c, copy);
    assert_int_equal(sift_store_open(&c, f->loop, f->pool, &st), SIFT_OK);
    /* Replay went on past the damage: only batch 4 (seq 5) is gone. */
    assert_int_equal(count_ids(st, seen, 1000), 90);
    for (int id = 40; id < 50; id++)
        assert_int_equal(seen[id], 0);
    struct sift_store_stats ss;
    sift_store_stats(st, &ss);
    assert_int_equal(ss.wal_records_lost, 1);
    const char *const *q = sift_store_quarantined(st);
    assert_non_null(q[0]);
    assert_true(strncmp(q[0], "wal-", 4) == 0);
    struct sift_srcpos pos;
    assert_int_equal(sift_store_position(st, "kafka/y/0", &pos), SIFT_OK);
    assert_int_equal(pos.hi, 9);
    /* What was replayed around the damage was flushed before the damaged
     * file moved: a crash right after this start keeps it. */
    struct sift_manifest m;
    assert_int_equal(sift__manifest_load(copy, &m), SIFT_OK);
    assert_int_equal(m.flushed_seq, 10);
    sift__manifest_cleanup(&m);
    char copy2[200], cmd[600];
    snprintf(copy2, sizeof(copy2), "%s/crash2", f->root);
    snprintf(cmd, sizeof(cmd), "cp -a '%s' '%s'", copy, copy2);
    assert_int_equal(system(cmd), 0);
    struct sift_config c2;
    struct sift_store *st2;
    cfg_fill(&c2, copy2);
    assert_int_equal(sift_store_open(&c2, f->loop, f->pool, &st2), SIFT_OK);
    assert_int_equal(count_ids(st2, seen, 1000), 90);
    /* quarantine/ still holds the file: still listed after a restart. */
    q = sift_store_quarantined(st2);
    assert_non_null(q[0]);
    assert_true(strncmp(q[0], "wal-", 4) == 0);
    sift_store_close(st2);
    /* New appends get fresh seqs above everything seen, and survive. */
    memset(f->acked, 0, sizeof(f->acked));
    f->n_acked = 0;
    f->last_acked = -1;
    assert_int_equal(append_batch(f, st, 4, "kafka/y/0"), SIFT_OK);
    struct count_ctx cc = {f, 1};
    assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
    sift_store_close(st);
    assert_int_equal(sift_store_open(&c, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(count_ids(st, seen, 1000), 100);
    sift_store_close(st);
}

static void
test_store_backpressure(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    f->cfg.buffer_max_bytes = 8 << 10;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int b = 0, rc = SIFT_OK;
    while (b < 1000 && (rc = append_batch(f, st, b, "k")) == SIFT_OK)
        b++;
    assert_int_equal(rc, SIFT_EBUSY);
    assert_true(b > 0);
    assert_true(sift_store_is_full(st));
    struct sift_store_stats s;
    sift_store_stats(st, &s);
    assert_int_equal(s.appends_rejected, 1);
    /* Once flushed, appends are accepted again. */
    assert_true(sf_run_until(f->loop, not_full, st, 10000));
    assert_int_equal(append_batch(f, st, b, "k"), SIFT_OK);
    sift_store_close(st);
}

/* Segment files in the hot directory of a data dir. */
static int
seg_files(const char *dir)
{
    char d[300];
    snprintf(d, sizeof(d), "%s/segments", dir);
    return count_files(d, ".seg");
}

static void
flip_byte(const char *path, long off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    if (off < 0)
        off += st.st_size;
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

/* Opens a copy: every acked batch once, the position where it was,
 * whether the manifest was rebuilt, and no segment file deleted. */
static void
check_copy(struct fx *f, const char *copy, int n_batches, int want_rebuilt)
{
    struct sift_config c;
    struct sift_store *st;
    static unsigned char seen[MAX_IDS];
    int files = seg_files(copy);
    cfg_fill(&c, copy);
    assert_int_equal(sift_store_open(&c, f->loop, f->pool, &st), SIFT_OK);
    assert_int_equal(st->rebuilt, want_rebuilt);
    int total = count_ids(st, seen, MAX_IDS);
    int want = 0;
    for (int b = 0; b < n_batches; b++)
        for (int i = 0; i < 10; i++) {
            assert_int_equal(seen[b * 10 + i], 1);
            want++;
        }
    assert_int_equal(total, want);
    struct sift_srcpos pos;
    assert_int_equal(sift_store_position(st, "kafka/m/0", &pos), SIFT_OK);
    assert_int_equal(pos.hi, (uint64_t)n_batches - 1);
    assert_int_equal(seg_files(copy), files);
    sift_store_close(st);
}

/*
 * A lost or damaged MANIFEST costs nothing: the start falls back to a
 * kept generation and rebuilds from the segment files (format 5 origins),
 * keeping every event once, the source positions and every file; with
 * no generation left it rebuilds from the files alone; a MANIFEST older
 * than a kept generation (an old copy put back) is rebuilt too.
 * `siftd repair` does the same offline; --dry-run changes nothing.
 */
static void
test_store_manifest_lost_or_damaged_rebuilds(void **state)
{
    struct fx *f = fx_get(state);
    struct sift_store *st;
    assert_int_equal(sift_store_open(&f->cfg, f->loop, f->pool, &st), SIFT_OK);
    int b = 0;
    for (int round = 0; round < 5; round++) {
        for (int k = 0; k < 10; k++, b++)
            assert_int_equal(append_batch(f, st, b, "kafka/m/0"), SIFT_OK);
        struct count_ctx cc = {f, b};
        assert_true(sf_run_until(f->loop, all_acked, &cc, 5000));
        if (round < 4) { /* the last round stays in the WAL only */
            int done = 0;
            sift_store_flush(st, sf_flush_cb, &done);
            assert_true(sf_run_until(f->loop, sf_flag_set, &done, 10000));
        }
    }
    char pristine[160], copy[160], path[300], cmd[700];
    snprintf(pristine, sizeof(pristine), "%s/pristine", f->root);
    snprintf(copy, sizeof(copy), "%s/copy", f->root);
    crash_copy(f, pristine);
    sift_store_close(st);
    assert_true(seg_files(pristine) >= 4);

#define FRESH_COPY()                                                           \
    do {                                                                       \
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", copy,     \
                 pristine, copy);                                              \
        assert_int_equal(system(cmd), 0);                                      \
    } while (0)

    /* Nothing wrong: no rebuild. */
    FRESH_COPY();
    check_copy(f, copy, b, 0);

    /* MANIFEST deleted. */
    FRESH_COPY();
    snprintf(path, sizeof(path), "%s/MANIFEST", copy);
    assert_int_equal(unlink(path), 0);
    check_copy(f, copy, b, 1);
    check_copy(f, copy, b, 0); /* the rebuilt one was saved */

    /* One byte of MANIFEST damaged, at the start, middle and end. */
    static const long offs[] = {0, 40, -3};
    for (size_t k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
        FRESH_COPY();
        flip_byte(path, offs[k]);
        check_copy(f, copy, b, 1);
    }

    /* Every generation gone too: from the files alone. */
    FRESH_COPY();
    snprintf(cmd, sizeof(cmd), "rm -f '%s'/MANIFEST*", copy);
    assert_int_equal(system(cmd), 0);
    check_copy(f, copy, b, 1);

    /* An old MANIFEST put back over the current one. */
    FRESH_COPY();
    uint64_t *gens = NULL;
    size_t n_gens = 0;
    assert_int_equal(sift__manifest_generations(copy, &gens, &n_gens), SIFT_OK);
    assert_true(n_gens >= 3);
    snprintf(cmd, sizeof(cmd), "cp '%s/MANIFEST.%llu' '%s/MANIFEST'", copy,
             (unsigned long long)gens[n_gens - 1], copy);
    sift_free(gens);
    assert_int_equal(system(cmd), 0);
    check_copy(f, copy, b, 1);

    /* siftd repair, dry run then for real. */
    FRESH_COPY();
    assert_int_equal(unlink(path), 0);
    char rpath[200];
    snprintf(rpath, sizeof(rpath), "%s/report", f->root);
    struct sift_config c;
    cfg_fill(&c, copy);
    FILE *out = fopen(rpath, "w+");
    assert_non_null(out);
    assert_int_equal(sift_store_repair(&c, 1, out), SIFT_OK);
    struct stat sb;
    assert_int_not_equal(stat(path, &sb), 0); /* dry run: still missing */
    assert_int_equal(sift_store_repair(&c, 0, out), SIFT_OK);
    assert_int_equal(stat(path, &sb), 0);
    rewind(out);
    char line[512];
    int placed = 0, saved = 0;
    while (fgets(line, sizeof(line), out)) {
        placed += strncmp(line, "placed", 6) == 0;
        saved += strncmp(line, "saved", 5) == 0;
    }
    fclose(out);
    assert_int_equal(placed, 2 * seg_files(copy));
    assert_int_equal(saved, 1);
    check_copy(f, copy, b, 0);
#undef FRESH_COPY
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_store_append_durable_refresh_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_flush_writes_files_and_manifest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_close_reopen_exactly_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_crash_keeps_every_acked_batch_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_quarantines_corrupt_segment,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_disk_full_rejects_then_recovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_torn_wal_tail_after_crash,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_damaged_wal_record_costs_only_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_backpressure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_store_manifest_lost_or_damaged_rebuilds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
