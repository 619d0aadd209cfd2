/*
 * store.c - the storage engine: append -> WAL -> buffer -> sealed
 * in-memory segments -> segment files + manifest, recovery, snapshots.
 *
 * Design (docs/internals/storage.md has the long form):
 *   - sift_store_append() encodes the batch (positions + docs) once into a
 *     WAL payload, writes it with write(2) and keeps the payload in a
 *     pending list.  A dedicated sync thread fsyncs (every wal_sync_ms, or
 *     after every batch when 0).  When the fsync returns, the loop thread
 *     moves every covered batch into the buffer (a segment builder) and
 *     runs its durable callback.  The buffer therefore holds only durable
 *     batches, so a failed fsync never leaves docs behind that a source
 *     will send again.
 *   - Every refresh_ms the buffer is sealed: the builder becomes an entry
 *     and a worker finishes its image and opens it in memory; the done
 *     callback publishes a new snapshot.  Entries are kept in seal order,
 *     so entry i holds exactly the WAL seqs (max_seq_{i-1}, max_seq_i].
 *   - A flush takes the longest prefix of in-memory entries, writes each
 *     image to segments/<id>.seg (temp, fsync, rename), fsyncs the dir,
 *     saves a manifest whose flushed_seq is the prefix's max seq, and
 *     opens the files.  Its done callback swaps each in-memory segment for
 *     its file in one snapshot publish (never both, never neither), and
 *     trims the WAL.
 *   - Recovery (sift_store_open): manifest, segment verification and
 *     quarantine, orphan removal, WAL replay past flushed_seq into sealed
 *     in-memory entries, positions = manifest + replayed batches.
 *
 * Invariants:
 *   - manifest.flushed_seq <= every unflushed entry's seqs; WAL records
 *     <= flushed_seq are in segment files; the WAL is trimmed only after
 *     the manifest saying so is durable.
 *   - A doc is in exactly one of: pending list, buffer, one entry.
 *   - No lock is held across I/O: snap_mu guards a pointer swap, sync_mu
 *     a request hand-off.
 *
 * Threads: everything runs on the loop thread except the sync thread
 * (fsync only, on dup'd fds), worker jobs (image finish, flush I/O) and
 * sift_store_snapshot()/sift_snapshot_*() which any thread may call.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "lifecycle_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/pool.h"
#include "sift/segment.h"
#include "store_int.h"

static void start_sync(struct sift_store *s);
static int append_scratch(struct sift_store *s, size_t n,
                          const struct sift_srcpos *pos, size_t n_pos,
                          sift_durable_cb cb, void *arg, uint64_t *seq_out);
static void maybe_flush(struct sift_store *s, int force);
static void publish(struct sift_store *s);
static void sync_done_posted(void *arg);
static void note_write_error(struct sift_store *s, int rc);

/* ------------------------------------------------------------------ */
/* Batch payload codec                                                 */
/* ------------------------------------------------------------------ */

/*
 * Payload (version 1):
 *   u8      version (1)
 *   varint  n_pos, then per position: varint key_len, key bytes,
 *           varint hi, varint lo
 *   varint  n_docs, then per doc: u32 doc_len, sift_doc_encode() bytes
 */
int
sift__store_batch_encode(const struct sift_event *evs, size_t n,
                         const struct sift_srcpos *pos, size_t n_pos,
                         struct sift_buf *out)
{
    for (size_t i = 0; i < n_pos; i++) {
        size_t kl = pos[i].key ? strlen(pos[i].key) : 0;
        if (kl == 0 || kl > SIFT_STORE_MAX_KEY)
            return SIFT_EINVAL;
    }
    sift_buf_putc(out, (char)SIFT_STORE_BATCH_VERSION);
    sift_buf_put_varint(out, n_pos);
    for (size_t i = 0; i < n_pos; i++) {
        size_t kl = strlen(pos[i].key);
        sift_buf_put_varint(out, kl);
        sift_buf_append(out, pos[i].key, kl);
        sift_buf_put_varint(out, pos[i].hi);
        sift_buf_put_varint(out, pos[i].lo);
    }
    sift_buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        size_t at = out->len;
        sift_buf_put_u32(out, 0);
        sift_doc_encode(&evs[i], out);
        size_t dl = out->len - at - 4;
        if (dl > UINT32_MAX)
            return SIFT_ELIMIT;
        sift_store_u32(out->data + at, (uint32_t)dl);
    }
    return SIFT_OK;
}

int
sift__store_batch_decode(const uint8_t *p, size_t len, struct sift_arena *arena,
                         const struct sift__batch_visitor *v)
{
    const uint8_t *end = p + len;
    uint64_t n_pos, n_docs;
    if (len < 1 || *p != SIFT_STORE_BATCH_VERSION)
        return SIFT_CORRUPT_BKPT("wal batch version");
    p++;
    if (sift_get_varint(&p, end, &n_pos) < 0)
        return SIFT_CORRUPT_BKPT("wal batch n_pos");
    for (uint64_t i = 0; i < n_pos; i++) {
        uint64_t kl, hi, lo;
        char key[SIFT_STORE_MAX_KEY + 1];
        if (sift_get_varint(&p, end, &kl) < 0 || kl == 0 ||
            kl > SIFT_STORE_MAX_KEY || kl > (uint64_t)(end - p))
            return SIFT_CORRUPT_BKPT("wal batch key");
        memcpy(key, p, (size_t)kl);
        key[kl] = '\0';
        p += kl;
        if (memchr(key, '\0', (size_t)kl) != NULL)
            return SIFT_CORRUPT_BKPT("wal batch key NUL");
        if (sift_get_varint(&p, end, &hi) < 0 ||
            sift_get_varint(&p, end, &lo) < 0)
            return SIFT_CORRUPT_BKPT("wal batch position");
        if (v && v->pos) {
            int rc = v->pos(key, hi, lo, v->arg);
            if (rc != 0)
                return rc;
        }
    }
    if (sift_get_varint(&p, end, &n_docs) < 0 ||
        n_docs > (uint64_t)(end - p) / 4)
        return SIFT_CORRUPT_BKPT("wal batch n_docs");
    for (uint64_t i = 0; i < n_docs; i++) {
        uint32_t dl;
        if (sift_get_u32(&p, end, &dl) < 0 || dl > (uint64_t)(end - p))
            return SIFT_CORRUPT_BKPT("wal batch doc length");
        if (v && v->doc) {
            struct sift_event ev;
            int rc = sift_doc_decode(p, dl, arena, &ev);
            if (rc < 0)
                return rc;
            rc = v->doc(&ev, v->arg);
            if (rc != 0)
                return rc;
        }
        p += dl;
    }
    if (p != end)
        return SIFT_CORRUPT_BKPT("wal batch trailing bytes");
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/*
 * File helpers shared with lifecycle.c (declared in store_int.h).  They
 * run on whichever thread calls them: the loop thread at open, worker
 * jobs for flushes and merges.
 */

char *
sift__store_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = sift_xmalloc(la + lb + 2);
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb);
    p[la + 1 + lb] = '\0';
    return p;
}

int
sift__store_ensure_dir(const char *who, const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return SIFT_OK;
    int rc = -errno;
    SIFT_ERROR("%s: cannot create %s: %s", who, path, strerror(errno));
    return rc;
}

static void
seg_file_name(char *buf, size_t len, uint64_t id)
{
    snprintf(buf, len, "%020" PRIu64 ".seg", id);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The quarantined list is what quarantine/ holds, not only what this
 * start moved there: an operator sees every file waiting for a look
 * (`/readyz` details) until they remove it.
 */
void
sift_store_rescan_quarantine(struct sift_store *s)
{
    for (size_t i = 0; i < s->n_quarantined; i++)
        sift_free(s->quarantined[i]);
    s->n_quarantined = 0;
    s->stats.quarantined = 0;
    DIR *d = opendir(s->q_dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                sift__store_add_quarantined(s, de->d_name);
        closedir(d);
    }
    if (s->n_quarantined > 1)
        qsort(s->quarantined, s->n_quarantined, sizeof(char *), cmp_str);
}

void
sift__store_add_quarantined(struct sift_store *s, const char *name)
{
    s->quarantined =
        sift_xrealloc(s->quarantined, (s->n_quarantined + 2) * sizeof(char *));
    s->quarantined[s->n_quarantined++] = sift_xstrdup(name);
    s->quarantined[s->n_quarantined] = NULL;
    s->stats.quarantined++;
}

static struct sift_segment_builder *
new_builder(const struct sift_store *s)
{
    struct sift_segment_opts o;
    struct sift_segment_builder *b = NULL;
    sift_segment_opts_init(&o);
    if (s->cfg) {
        if (s->cfg->zstd_level > 0)
            o.zstd_level = (int)s->cfg->zstd_level;
        if (s->cfg->block_bytes > 0)
            o.block_bytes = (uint32_t)s->cfg->block_bytes;
        o.text_fields = s->cfg->text_fields;
        o.keyword_fields = s->cfg->keyword_fields;
        o.numeric_fields = s->cfg->numeric_fields;
    }
    if (sift_segment_builder_new(&o, &b) != SIFT_OK) {
        SIFT_ERROR("store: cannot create a segment builder");
        abort(); /* fixed-size internal state, like sift_xmalloc() */
    }
    return b;
}

static int64_t
cfg_i64(const struct sift_store *s, size_t off, int64_t dflt)
{
    if (!s->cfg)
        return dflt;
    int64_t v;
    memcpy(&v, (const char *)s->cfg + off, sizeof(v));
    return v > 0 ? v : dflt;
}
#define CFG(s, field, dflt)                                                    \
    cfg_i64((s), offsetof(struct sift_config, field), (dflt))

/*
 * Bytes of sealed entries not on disk yet.  Recounted whenever an entry
 * changes state (seal, build done, flush done), so append stays O(1) no
 * matter how many disk segments there are.
 */
static void
recount_sealed(struct sift_store *s)
{
    uint64_t n = 0;
    uint64_t fx = atomic_load_explicit(&s->finish_x16, memory_order_relaxed);
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (e->state == SIFT_ENT_BUILDING && e->builder) {
            /* The builder, and what its build will allocate beside it
             * until the builder is freed. */
            uint64_t bb = sift_segment_builder_bytes(e->builder);
            n += bb + bb * fx / 16;
        } else if (e->state == SIFT_ENT_MEM || e->state == SIFT_ENT_FLUSHING)
            n += e->bytes;
    }
    s->sealed_bytes = n;
}

/*
 * What the unflushed data holds in memory.  A pending batch is still its
 * WAL payload, but once durable it becomes builder memory (terms,
 * postings, columns): about 1.8x the payload on Filebeat events.  Counting
 * it at that size, not as raw bytes, is what keeps a batch accepted just
 * under buffer_max_bytes from growing the buffer past it.
 */
static uint64_t
unflushed_bytes(const struct sift_store *s)
{
    return (uint64_t)s->pend_bytes * s->expand_x16 / 16 +
           sift_segment_builder_bytes(s->builder) + s->sealed_bytes;
}

/*
 * What the unflushed data may hold: buffer_max_bytes less what a running
 * merge holds in its builders, so that ingest and merges together stay
 * within the one budget (a merge coinciding with a full buffer was what
 * made a long backlog peak higher than a short one;
 * docs/internals/ingest-bench.md, "jemalloc").  At most half the budget
 * goes to the merge, so ingest always keeps the other half.
 */
static uint64_t
ingest_limit(const struct sift_store *s)
{
    uint64_t max = (uint64_t)CFG(s, buffer_max_bytes, 256 << 20);
    uint64_t held = atomic_load_explicit(&s->merge_held, memory_order_relaxed);
    return max - (held < max / 2 ? held : max / 2);
}

/* Learns expand_x16 and builder_bpd (the tiered merge's docs cap) from a
 * builder being sealed (enough data only). */
static void
learn_expansion(struct sift_store *s, const struct sift_segment_builder *b)
{
    if (s->buf_raw >= (256u << 10)) {
        uint64_t x = sift_segment_builder_bytes(b) * 16 / s->buf_raw;
        if (x < 16)
            x = 16;
        if (x > 256)
            x = 256;
        s->expand_x16 = (uint32_t)x;
    }
    s->buf_raw = 0;
    uint32_t docs = sift_segment_builder_count(b);
    if (docs >= 1000) {
        uint64_t bpd = sift_segment_builder_bytes(b) / docs;
        /* moving average over about four seals */
        s->builder_bpd = s->builder_bpd ? (s->builder_bpd * 3 + bpd) / 4 : bpd;
    }
}

/* ------------------------------------------------------------------ */
/* Buffer                                                              */
/* ------------------------------------------------------------------ */

static int
buf_pos_cb(const char *key, uint64_t hi, uint64_t lo, void *arg)
{
    struct sift_store *s = arg;
    sift__posmap_merge(&s->buf_pos, key, hi, lo);
    sift__posmap_merge(&s->positions, key, hi, lo);
    return 0;
}

static void seal(struct sift_store *s, int sync_build);

static int
buf_doc_cb(const struct sift_event *ev, void *arg)
{
    struct sift_store *s = arg;
    if (sift_segment_builder_add(s->builder, ev) == SIFT_OK)
        return 0;
    /* Out of memory in the builder: seal what it has, try a fresh one. */
    seal(s, 0);
    if (sift_segment_builder_add(s->builder, ev) == SIFT_OK)
        return 0;
    /*
     * The batch is durable in the WAL but cannot be buffered; continuing
     * would let a flush move flushed_seq past it.  A restart replays it.
     */
    SIFT_ERROR("store: out of memory buffering a durable batch; exiting so "
               "that recovery replays it from the WAL");
    abort();
}

/* Adds a durable batch (WAL payload) to the buffer. */
static int
buffer_add(struct sift_store *s, uint64_t seq, const uint8_t *payload,
           size_t len)
{
    if (len > 0 && payload[0] == SIFT_LC_DELETE_KIND) /* lifecycle.c */
        return sift__lc_delete_record(s, seq, payload, len);
    if (len > 0 && payload[0] == SIFT_LC_REPLACE_KIND) /* lifecycle.c */
        return sift__lc_replace_record(s, seq, payload, len);
    struct sift__batch_visitor v = {buf_pos_cb, buf_doc_cb, s};
    sift_arena_reset(s->arena);
    int rc = sift__store_batch_decode(payload, len, s->arena, &v);
    if (rc < 0)
        return rc;
    if (s->buf_min_seq == 0)
        s->buf_min_seq = seq;
    if (seq > s->buf_max_seq)
        s->buf_max_seq = seq;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

static int
cmp_seg_min_ts(const void *a, const void *b)
{
    int64_t x = sift_segment_min_ts(*(struct sift_segment *const *)a);
    int64_t y = sift_segment_min_ts(*(struct sift_segment *const *)b);
    return x < y ? -1 : x > y;
}

static void
publish(struct sift_store *s)
{
    struct sift_snapshot *n = sift_xcalloc(1, sizeof(*n));
    atomic_init(&n->refs, 1);
    n->segs = sift_xcalloc(s->n_ents ? s->n_ents : 1, sizeof(*n->segs));
    uint64_t docs = 0, mem = 0, disk = 0, bmem = 0, bdisk = 0;
    for (size_t i = 0; i < s->n_ents; i++) {
        struct sift__entry *e = s->ents[i];
        if (!e->seg)
            continue;
        n->segs[n->n++] = sift_segment_ref(e->seg);
        docs += e->docs;
        if (e->state == SIFT_ENT_DISK) {
            disk++;
            bdisk += e->bytes;
        } else {
            mem++;
            bmem += e->bytes;
        }
    }
    if (n->n > 1)
        qsort(n->segs, n->n, sizeof(*n->segs), cmp_seg_min_ts);
    s->stats.docs = docs;
    s->stats.segments_mem = mem;
    s->stats.segments_disk = disk;
    s->stats.bytes_mem = bmem;
    s->stats.bytes_disk = bdisk;

    pthread_mutex_lock(&s->snap_mu);
    struct sift_snapshot *old = s->snap;
    s->snap = n;
    pthread_mutex_unlock(&s->snap_mu);
    if (old)
        sift_snapshot_release(old);
}

struct sift_snapshot *
sift_store_snapshot(struct sift_store *s)
{
    pthread_mutex_lock(&s->snap_mu);
    struct sift_snapshot *snap = s->snap;
    atomic_fetch_add(&snap->refs, 1);
    pthread_mutex_unlock(&s->snap_mu);
    return snap;
}

void
sift_snapshot_release(struct sift_snapshot *snap)
{
    if (!snap || atomic_fetch_sub(&snap->refs, 1) != 1)
        return;
    for (size_t i = 0; i < snap->n; i++)
        sift_segment_unref(snap->segs[i]);
    sift_free(snap->segs);
    sift_free(snap);
}

size_t
sift_snapshot_count(const struct sift_snapshot *snap)
{
    return snap->n;
}

struct sift_segment *
sift_snapshot_segment(const struct sift_snapshot *snap, size_t i)
{
    return i < snap->n ? snap->segs[i] : NULL;
}

/* ------------------------------------------------------------------ */
/* Entries, seal and build                                             */
/* ------------------------------------------------------------------ */

static struct sift__entry *
entry_push(struct sift_store *s)
{
    if (s->n_ents == s->cap_ents) {
        s->cap_ents = s->cap_ents ? s->cap_ents * 2 : 16;
        s->ents = sift_xrealloc(s->ents, s->cap_ents * sizeof(*s->ents));
    }
    struct sift__entry *e = sift_xcalloc(1, sizeof(*e));
    s->ents[s->n_ents++] = e;
    return e;
}

static void
entry_free(struct sift__entry *e)
{
    if (!e)
        return;
    sift_segment_unref(e->seg);
    if (e->builder)
        sift_segment_builder_free(e->builder);
    sift__posmap_cleanup(&e->pos);
    sift_free(e);
}

/* Finishes a builder into an in-memory segment (any thread). */
static int
build_image(struct sift_segment_builder *b, struct sift_segment **out)
{
    struct sift_buf img = SIFT_BUF_INIT;
    *out = NULL;
    int rc = sift_segment_builder_finish(b, &img);
    if (rc < 0) {
        sift_buf_cleanup(&img);
        return rc;
    }
    size_t len;
    /* Without its doubling slack: the entry holds what it counts. */
    char *data = sift_buf_detach_fit(&img, &len);
    return sift_segment_open_mem(data, len, out);
}

/* Entry went searchable: publish and tell the live tail. */
static void
entry_ready(struct sift_store *s, struct sift__entry *e,
            struct sift_segment *seg)
{
    e->seg = seg;
    e->bytes = sift_segment_bytes(seg);
    e->state = SIFT_ENT_MEM;
    e->build_failed = 0;
    sift_segment_builder_free(e->builder);
    e->builder = NULL;
    publish(s);
    recount_sealed(s);
    if (s->on_refresh)
        s->on_refresh(seg, s->on_refresh_arg);
}

struct build_job {
    struct sift_store *store;
    struct sift__entry *ent;
    struct sift_segment *seg;
    int rc;
    int64_t ns;
};

/*
 * Learns finish_x16 from one build: peak is what the building thread
 * allocated at most (0 where the allocator cannot tell: the default
 * stays).  Only builders of 1 MiB and more teach it: a small build's
 * zstd context and fixed arrays would overstate it.  A moving average
 * over about four builds, kept between 1/4 and 4 (worker thread).
 */
static void
learn_finish(struct sift_store *s, uint64_t builder_bytes, uint64_t peak)
{
    if (peak == 0 || builder_bytes < (1u << 20))
        return;
    uint64_t x = peak * 16 / builder_bytes;
    x = x < 4 ? 4 : x > 64 ? 64 : x;
    uint32_t old = atomic_load_explicit(&s->finish_x16, memory_order_relaxed);
    atomic_store_explicit(&s->finish_x16,
                          (uint32_t)(((uint64_t)old * 3 + x) / 4),
                          memory_order_relaxed);
    SIFT_DEBUG("store: build of a %llu-byte builder peaked at %llu bytes",
               (unsigned long long)builder_bytes, (unsigned long long)peak);
}

static void
build_work(void *arg)
{
    struct build_job *j = arg;
    int64_t t0 = sift_clock_mono_ns(), c0 = sift_clock_thread_cpu_ns();
    uint64_t bb = sift_segment_builder_bytes(j->ent->builder);
    sift_alloc_thread_peak_reset();
    j->rc = build_image(j->ent->builder, &j->seg);
    learn_finish(j->store, bb, sift_alloc_thread_peak());
    j->ns = sift_clock_mono_ns() - t0;
    atomic_fetch_add_explicit(&j->store->build_cpu_ns,
                              (uint64_t)(sift_clock_thread_cpu_ns() - c0),
                              memory_order_relaxed);
}

static void
build_done(void *arg, int cancelled)
{
    struct build_job *j = arg;
    struct sift_store *s = j->store;
    s->jobs_inflight--;
    if (!cancelled && j->rc == SIFT_OK) {
        SIFT_DEBUG("store: sealed %u docs in %.1f ms", j->ent->docs,
                   (double)j->ns / 1e6);
        entry_ready(s, j->ent, j->seg);
    } else {
        if (!cancelled)
            SIFT_ERROR("store: building an in-memory segment failed: %s; "
                       "will retry",
                       sift_strerror(j->rc));
        j->ent->build_failed = 1;
    }
    sift_free(j);
    if (!s->closing)
        maybe_flush(s, 0);
}

static void
build_entry(struct sift_store *s, struct sift__entry *e, int sync_build)
{
    if (!sync_build && s->pool && !s->closing) {
        struct build_job *j = sift_xcalloc(1, sizeof(*j));
        j->store = s;
        j->ent = e;
        e->build_failed = 0;
        if (sift_pool_submit_class(s->pool, SIFT_POOL_BUILD, build_work,
                                   build_done, j) == SIFT_OK) {
            s->jobs_inflight++;
            return;
        }
        sift_free(j);
    }
    struct sift_segment *seg;
    int64_t t0 = sift_clock_mono_ns();
    int rc = build_image(e->builder, &seg);
    if (rc < 0) {
        SIFT_ERROR("store: building an in-memory segment failed: %s",
                   sift_strerror(rc));
        e->build_failed = 1;
        return;
    }
    SIFT_DEBUG("store: sealed %u docs in %.1f ms (loop)", e->docs,
               (double)(sift_clock_mono_ns() - t0) / 1e6);
    entry_ready(s, e, seg);
}

/*
 * Records in a sealed builder where its docs came from (the segment's
 * ORIGIN section), so the file can be placed without the manifest.
 */
static void
set_wal_origin(struct sift_segment_builder *b, uint64_t min_seq,
               uint64_t max_seq, const struct sift_posmap *pos)
{
    struct sift_segment_origin o;
    struct sift_srcpos *v = sift_xcalloc(pos->n + 1, sizeof(*v));
    memset(&o, 0, sizeof(o));
    o.kind = SIFT_SEG_ORIGIN_WAL;
    if (min_seq == 0 || max_seq == 0 || min_seq > max_seq)
        min_seq = max_seq = 0; /* unknown: e.g. no WAL (tests) */
    o.min_seq = min_seq;
    o.max_seq = max_seq;
    for (size_t i = 0; i < pos->n; i++) {
        v[i].key = pos->v[i].key;
        v[i].hi = pos->v[i].hi;
        v[i].lo = pos->v[i].lo;
    }
    o.n_pos = pos->n;
    o.pos = v;
    if (sift_segment_builder_set_origin(b, &o) != SIFT_OK)
        SIFT_WARN("store: cannot record the origin of a sealed segment "
                  "(seqs %" PRIu64 "..%" PRIu64 ")",
                  min_seq, max_seq);
    sift_free(v);
}

/* Seals the buffer into a new entry.  Docs become searchable when built. */
static void
seal(struct sift_store *s, int sync_build)
{
    uint32_t docs = sift_segment_builder_count(s->builder);
    if (docs == 0 && s->buf_pos.n == 0 && s->buf_max_seq == 0)
        return;
    struct sift__entry *e = entry_push(s);
    e->id = s->manifest.next_seg_id++;
    e->max_seq = s->buf_max_seq;
    e->pos = s->buf_pos;
    e->docs = docs;
    uint64_t min_seq = s->buf_min_seq;
    memset(&s->buf_pos, 0, sizeof(s->buf_pos));
    s->buf_max_seq = 0;
    s->buf_min_seq = 0;
    if (docs == 0) {
        /* Positions only: nothing to search, but flushes must carry them. */
        e->state = SIFT_ENT_MEM;
        return;
    }
    set_wal_origin(s->builder, min_seq, e->max_seq, &e->pos);
    e->state = SIFT_ENT_BUILDING;
    e->builder = s->builder;
    learn_expansion(s, e->builder);
    s->builder = new_builder(s);
    recount_sealed(s);
    build_entry(s, e, sync_build);
}

/* ------------------------------------------------------------------ */
/* Group commit                                                        */
/* ------------------------------------------------------------------ */

static void *
sync_main(void *arg)
{
    struct sift_store *s = arg;
    pthread_mutex_lock(&s->sync_mu);
    for (;;) {
        while (!s->sync_have_req && !s->sync_stop)
            pthread_cond_wait(&s->sync_cv, &s->sync_mu);
        if (!s->sync_have_req && s->sync_stop)
            break;
        struct sift_wal_sync req = s->sync_req;
        pthread_mutex_unlock(&s->sync_mu);
        sift__wal_sync_run(&req); /* fsync without the lock */
        pthread_mutex_lock(&s->sync_mu);
        s->sync_req = req;
        s->sync_have_req = 0;
        pthread_cond_broadcast(&s->sync_cv);
        pthread_mutex_unlock(&s->sync_mu);
        sift_loop_post(s->loop, sync_done_posted, s);
        pthread_mutex_lock(&s->sync_mu);
    }
    pthread_mutex_unlock(&s->sync_mu);
    return NULL;
}

/* Runs durable callbacks (or failures) for the pending batches. */
static void
complete_pending(struct sift_store *s, int rc)
{
    uint64_t durable = sift__wal_durable_seq(s->wal);
    while (s->pend_head && (rc != SIFT_OK || s->pend_head->seq <= durable)) {
        struct sift__batch *b = s->pend_head;
        s->pend_head = b->next;
        if (!s->pend_head)
            s->pend_tail = &s->pend_head;
        s->pend_bytes -= b->len;
        s->pend_docs -= b->n_docs;
        int brc = rc;
        if (rc == SIFT_OK) {
            s->buf_raw += b->len;
            brc = buffer_add(s, b->seq, (const uint8_t *)b->payload, b->len);
            if (brc < 0)
                SIFT_ERROR("store: cannot buffer batch %" PRIu64 ": %s", b->seq,
                           sift_strerror(brc));
        }
        sift_free(b->payload);
        if (b->cb)
            b->cb(b->arg, brc);
        sift_free(b);
    }
    s->stats.docs_buffered =
        sift_segment_builder_count(s->builder) + s->pend_docs;
    s->stats.buffer_bytes = unflushed_bytes(s);
    s->stats.wal_bytes = sift__wal_bytes(s->wal);
}

/* Positions = flushed + entries + buffer (after a batch was dropped). */
static void
recompute_positions(struct sift_store *s)
{
    sift__posmap_cleanup(&s->positions);
    sift__posmap_merge_all(&s->positions, &s->manifest.pos);
    for (size_t i = 0; i < s->n_ents; i++)
        sift__posmap_merge_all(&s->positions, &s->ents[i]->pos);
    sift__posmap_merge_all(&s->positions, &s->buf_pos);
}

static void
sync_finish(struct sift_store *s, const struct sift_wal_sync *req)
{
    s->sync_inflight = 0;
    int rc = sift__wal_sync_done(s->wal, req);
    s->stats.wal_fsyncs++;
    s->stats.last_fsync_ns = req->duration_ns;
    sift_histogram_observe(&s->wal_fsync, (double)req->duration_ns / 1e9);
    if (rc != SIFT_OK) {
        if (rc == SIFT_ENOSPACE)
            SIFT_WARN("store: disk full; rejecting appends until space "
                      "returns");
        note_write_error(s, rc);
        complete_pending(s, rc);
        recompute_positions(s);
        return;
    }
    complete_pending(s, SIFT_OK);
}

static void
sync_done_posted(void *arg)
{
    struct sift_store *s = arg;
    struct sift_wal_sync req;
    pthread_mutex_lock(&s->sync_mu);
    req = s->sync_req;
    pthread_mutex_unlock(&s->sync_mu);
    sync_finish(s, &req);
    /* Per-batch mode: whatever arrived during the fsync goes now. */
    if (!s->closing && CFG(s, wal_sync_ms, 0) == 0 && s->pend_head)
        start_sync(s);
}

static void
start_sync(struct sift_store *s)
{
    if (s->sync_inflight || !s->sync_started)
        return;
    struct sift_wal_sync req;
    int rc = sift__wal_sync_prepare(s->wal, &req);
    if (rc <= 0) {
        if (rc < 0)
            SIFT_ERROR("store: cannot prepare a WAL sync: %s",
                       sift_strerror(rc));
        return;
    }
    s->sync_inflight = 1;
    pthread_mutex_lock(&s->sync_mu);
    s->sync_req = req;
    s->sync_have_req = 1;
    pthread_cond_signal(&s->sync_cv);
    pthread_mutex_unlock(&s->sync_mu);
}

/* Synchronous sync on the loop thread (close, no sync thread). */
static void
sync_now(struct sift_store *s)
{
    for (int guard = 0; guard < 64; guard++) {
        struct sift_wal_sync req;
        int rc = sift__wal_sync_prepare(s->wal, &req);
        if (rc < 0) {
            complete_pending(s, rc);
            return;
        }
        if (rc == 0)
            break;
        sift__wal_sync_run(&req);
        sync_finish(s, &req);
    }
    complete_pending(s, s->pend_head ? SIFT_ESHUTDOWN : SIFT_OK);
}

/* ------------------------------------------------------------------ */
/* Flush                                                               */
/* ------------------------------------------------------------------ */

struct flush_item {
    struct sift__entry *ent;
    struct sift_segment *mem;  /* ref on the in-memory segment */
    struct sift_segment *file; /* opened from disk by the job */
    char name[40];
};

struct flush_job {
    struct sift_store *store;
    char *seg_dir;
    char *data_dir;
    struct flush_item *items;
    size_t n;
    struct sift_manifest next; /* what the manifest becomes */
    int rc;
    char err[4200]; /* what failed, for the log */
};

static int
write_seg_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return sift_file_replace(path, data, len, 0644, SIFT_FILE_BATCH);
}

static void
flush_work(void *arg)
{
    struct flush_job *j = arg;
    j->rc = SIFT_OK;
    /*
     * The builders and images of the previous flush are free by now, but
     * glibc keeps them in the worker arenas that built them (measured in
     * the load test: 10-15 MB per arena, RssAnon 26 MB where 15 MB was in
     * use).  Give them back, off the loop thread, at most every 10 s:
     * under a backlog flushes come every second or two, and trimming each
     * time made the next builders fault their pages in again (9x backlog:
     * about a quarter more CPU per event).  flush_running makes this
     * field single-writer.
     */
    int64_t now = sift_clock_mono_ns();
    if (now - j->store->last_trim_ns >= 10 * SIFT_NS_PER_SEC) {
        j->store->last_trim_ns = now;
        sift_alloc_release();
    }
    for (size_t i = 0; i < j->n && j->rc == SIFT_OK; i++) {
        struct flush_item *it = &j->items[i];
        if (!it->mem)
            continue;
        j->rc =
            write_seg_file(j->seg_dir, it->name, sift_segment_image(it->mem),
                           sift_segment_bytes(it->mem));
        if (j->rc < 0) /* logged by flush_apply, once per failure run */
            snprintf(j->err, sizeof(j->err), "writing segment %s/%s",
                     j->seg_dir, it->name);
    }
    if (j->rc == SIFT_OK)
        j->rc = sift_file_fsync_dir(j->seg_dir);
    if (j->rc == SIFT_OK)
        j->rc = sift__manifest_save(j->data_dir, &j->next);
    for (size_t i = 0; i < j->n && j->rc == SIFT_OK; i++) {
        struct flush_item *it = &j->items[i];
        if (!it->mem)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", j->seg_dir, it->name);
        j->rc = sift_segment_open_file(path, &it->file);
    }
    /*
     * On failure the files written so far stay: if the manifest swap did
     * happen they are live; if not, the next start removes them as orphans
     * and the next flush rewrites them.
     */
}

static void
flush_job_free(struct flush_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        sift_segment_unref(j->items[i].mem);
        sift_segment_unref(j->items[i].file);
    }
    sift_free(j->items);
    sift__manifest_cleanup(&j->next);
    sift_free(j->seg_dir);
    sift_free(j->data_dir);
    sift_free(j);
}

static void
run_waiters(struct sift_store *s, int rc)
{
    struct sift__flush_waiter **pp = &s->waiters;
    while (*pp) {
        struct sift__flush_waiter *w = *pp;
        if (rc == SIFT_OK && w->target_seq > s->manifest.flushed_seq) {
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        if (w->cb)
            w->cb(w->arg, rc);
        sift_free(w);
    }
}

/*
 * A flush failed: everything stays in memory and in the WAL.  The next
 * attempt waits 1 s, doubling up to 60 s (a full disk must not be hit
 * every flush tick), and is logged once per run of failures.
 */
static void
flush_failed(struct sift_store *s, const struct flush_job *j)
{
    s->flush_failures++;
    int shift = s->flush_failures > 7 ? 6 : (int)s->flush_failures - 1;
    int64_t delay = (INT64_C(1) << shift) * SIFT_NS_PER_SEC;
    if (delay > SIFT_STORE_FLUSH_BACKOFF_MAX_NS)
        delay = SIFT_STORE_FLUSH_BACKOFF_MAX_NS;
    s->flush_retry_mono = sift_clock_mono_ns() + delay;
    if (s->flush_failures == 1 || j->rc != s->flush_fail_rc)
        SIFT_ERROR("store: flush failed%s%s: %s; the data stays in memory and "
                   "in the WAL, retried with back-off (1 s doubling to 60 s)",
                   j->err[0] ? ": " : "", j->err, sift_strerror(j->rc));
    else
        SIFT_DEBUG("store: flush failed again (%u): %s", s->flush_failures,
                   sift_strerror(j->rc));
    s->flush_fail_rc = j->rc;
}

/* Deletes the WAL files whose records are all in segment files (the
 * current one too once nothing in it is left to flush). */
static void
trim_wal(struct sift_store *s)
{
    if (!s->wal) /* NULL while recovery flushes before the WAL opens */
        return;
    unsigned trimmed = sift__wal_trim(s->wal, s->manifest.flushed_seq);
    if (trimmed)
        SIFT_DEBUG("store: trimmed %u WAL files (flushed seq %" PRIu64 ")",
                   trimmed, s->manifest.flushed_seq);
    s->stats.wal_bytes = sift__wal_bytes(s->wal);
}

static void
flush_apply(struct sift_store *s, struct flush_job *j)
{
    s->flush_running = 0;
    if (j->rc != SIFT_OK) {
        for (size_t i = 0; i < j->n; i++)
            if (j->items[i].ent->state == SIFT_ENT_FLUSHING)
                j->items[i].ent->state = SIFT_ENT_MEM;
        flush_failed(s, j);
        if (s->closing)
            run_waiters(s, j->rc);
        flush_job_free(j);
        return;
    }
    if (s->flush_failures > 0) {
        SIFT_INFO("store: flushes succeed again after %u failed attempts",
                  s->flush_failures);
        s->flush_failures = 0;
        s->flush_retry_mono = 0;
    }
    /* The new manifest is durable: swap memory for files in one publish. */
    uint64_t next_id = s->manifest.next_seg_id; /* ids sealed meanwhile */
    sift__manifest_cleanup(&s->manifest);
    s->manifest = j->next;
    sift__manifest_init(&j->next);
    if (next_id > s->manifest.next_seg_id)
        s->manifest.next_seg_id = next_id;
    for (size_t i = 0; i < j->n; i++) {
        struct flush_item *it = &j->items[i];
        struct sift__entry *e = it->ent;
        if (!it->file) {
            /* No docs: the entry only carried positions; it is done. */
            for (size_t x = 0; x < s->n_ents; x++) {
                if (s->ents[x] == e) {
                    memmove(&s->ents[x], &s->ents[x + 1],
                            (s->n_ents - x - 1) * sizeof(*s->ents));
                    s->n_ents--;
                    break;
                }
            }
            entry_free(e);
            continue;
        }
        sift_segment_unref(e->seg);
        e->seg = it->file;
        it->file = NULL;
        e->state = SIFT_ENT_DISK;
        e->bytes = sift_segment_bytes(e->seg);
    }
    recount_sealed(s);
    publish(s);
    s->stats.flushes++;
    trim_wal(s);
    s->stats.buffer_bytes = unflushed_bytes(s);
    flush_job_free(j);
    run_waiters(s, SIFT_OK);
}

static void
flush_done(void *arg, int cancelled)
{
    struct flush_job *j = arg;
    struct sift_store *s = j->store;
    s->jobs_inflight--;
    if (cancelled)
        j->rc = SIFT_ESHUTDOWN;
    int ok = j->rc == SIFT_OK;
    flush_apply(s, j);
    /* After a failure the flush timer retries; never spin on a full disk. */
    if (ok && !s->closing && s->waiters)
        maybe_flush(s, 1);
}

/* Builds the flush job for the longest flushable prefix; NULL if none. */
static struct flush_job *
flush_prepare(struct sift_store *s)
{
    size_t first = 0;
    while (first < s->n_ents && s->ents[first]->state == SIFT_ENT_DISK)
        first++;
    size_t last = first;
    while (last < s->n_ents && s->ents[last]->state == SIFT_ENT_MEM)
        last++;
    /* After a damaged WAL, the manifest must also skip the lost seqs. */
    int floor = s->flush_floor > s->manifest.flushed_seq && last == s->n_ents;
    if (last == first && !floor)
        return NULL;

    struct flush_job *j = sift_xcalloc(1, sizeof(*j));
    j->store = s;
    j->seg_dir = sift_xstrdup(s->seg_dir);
    j->data_dir = sift_xstrdup(s->data_dir);
    j->items = sift_xcalloc(last - first, sizeof(*j->items));
    sift__manifest_copy(&j->next, &s->manifest);
    j->next.generation++;
    sift__store_note_deleted(s, &j->next);
    for (size_t i = first; i < last; i++) {
        struct sift__entry *e = s->ents[i];
        struct flush_item *it = &j->items[j->n++];
        it->ent = e;
        e->state = SIFT_ENT_FLUSHING;
        if (e->max_seq > j->next.flushed_seq)
            j->next.flushed_seq = e->max_seq;
        sift__posmap_merge_all(&j->next.pos, &e->pos);
        if (!e->seg)
            continue;
        it->mem = sift_segment_ref(e->seg);
        seg_file_name(it->name, sizeof(it->name), e->id);
        struct sift_manifest_seg *m = &e->meta;
        memset(m, 0, sizeof(*m));
        m->id = e->id;
        snprintf(m->file, sizeof(m->file), "%s", it->name);
        m->tier = sift_segment_tier(e->seg);
        m->docs = sift_segment_doc_count(e->seg);
        m->min_ts = sift_segment_min_ts(e->seg);
        m->max_ts = sift_segment_max_ts(e->seg);
        m->bytes = sift_segment_bytes(e->seg);
        sift__manifest_add_seg(&j->next, m);
    }
    if (s->manifest.next_seg_id > j->next.next_seg_id)
        j->next.next_seg_id = s->manifest.next_seg_id;
    if (floor && s->flush_floor > j->next.flushed_seq)
        j->next.flushed_seq = s->flush_floor;
    return j;
}

static void
maybe_flush(struct sift_store *s, int force)
{
    if (s->flush_running || sift__lc_blocks_flush(s))
        return;
    if (s->flush_retry_mono && !s->closing &&
        sift_clock_mono_ns() < s->flush_retry_mono)
        return; /* backing off after a failed flush */
    if (!force) {
        uint64_t mem = 0;
        for (size_t i = 0; i < s->n_ents; i++)
            if (s->ents[i]->state == SIFT_ENT_MEM)
                mem += s->ents[i]->bytes + 1;
        uint64_t limit = (uint64_t)CFG(s, flush_bytes, 64 << 20);
        if (mem == 0 || (mem < limit && !s->waiters))
            return;
    }
    struct flush_job *j = flush_prepare(s);
    if (!j) {
        if (s->waiters) {
            /* Nothing sealed is pending: satisfied unless still building. */
            int building = 0;
            for (size_t i = 0; i < s->n_ents; i++)
                building |= s->ents[i]->state == SIFT_ENT_BUILDING;
            if (!building)
                run_waiters(s, SIFT_OK);
        }
        return;
    }
    s->flush_running = 1;
    if (s->pool && !s->closing &&
        sift_pool_submit_class(s->pool, SIFT_POOL_BUILD, flush_work, flush_done,
                               j) == SIFT_OK) {
        s->jobs_inflight++;
        return;
    }
    flush_work(j);
    flush_apply(s, j);
}

/* ------------------------------------------------------------------ */
/* Timers                                                              */
/* ------------------------------------------------------------------ */

static void
retry_failed_builds(struct sift_store *s)
{
    for (size_t i = 0; i < s->n_ents; i++) {
        struct sift__entry *e = s->ents[i];
        if (e->state == SIFT_ENT_BUILDING && e->build_failed)
            build_entry(s, e, 0);
    }
}

static void
on_refresh_timer(void *arg)
{
    struct sift_store *s = arg;
    retry_failed_builds(s);
    seal(s, 0);
    s->stats.docs_buffered =
        sift_segment_builder_count(s->builder) + s->pend_docs;
    maybe_flush(s, 0);
}

static void
on_sync_timer(void *arg)
{
    start_sync(arg);
}

static void
on_flush_timer(void *arg)
{
    struct sift_store *s = arg;
    seal(s, 0);
    maybe_flush(s, 1);
    /* A flush trims when it lands; this catches the last file of an idle
     * store when the fsync was still running at that moment. */
    if (!s->flush_running)
        trim_wal(s);
}

static void
on_full_timer(void *arg)
{
    struct sift_store *s = arg;
    if (!s->full && !s->werr)
        return;
    int rc = sift__wal_probe_space(s->wal, SIFT_STORE_PROBE_BYTES);
    if (rc == SIFT_OK) {
        SIFT_INFO("store: the WAL is writable again (%s before); accepting "
                  "appends",
                  s->full ? "disk full" : strerror(s->werr));
        s->full = 0;
        s->werr = 0;
        s->flush_retry_mono = 0; /* flush what waited, now */
    } else if (rc != SIFT_ENOSPACE && rc < 0 && rc > -4096) {
        s->full = 0;
        s->werr = -rc;
    }
}

/* A WAL write failed: refuse appends until a probe write succeeds. */
static void
note_write_error(struct sift_store *s, int rc)
{
    if (rc == SIFT_ENOSPACE) {
        s->full = 1;
    } else if (rc < 0 && rc > -4096 && rc != -EINVAL) {
        if (!s->werr)
            SIFT_ERROR("store: the WAL cannot be written (%s); refusing "
                       "appends until it can",
                       strerror(-rc));
        s->werr = -rc;
    }
}

/* The code an append gets while writes are refused, or SIFT_OK. */
static int
write_blocked(struct sift_store *s)
{
    if (s->full)
        return SIFT_ENOSPACE;
    if (s->werr)
        return -s->werr;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Public: append, position, flush                                     */
/* ------------------------------------------------------------------ */

/* Whether an append may go ahead now: SIFT_OK, or the refusal (closing,
 * a write error or full disk, the buffer over its limit). */
static int
append_admit(struct sift_store *s)
{
    if (s->closing)
        return SIFT_ESHUTDOWN;
    int blocked = write_blocked(s);
    if (blocked < 0) {
        s->stats.appends_rejected++;
        return blocked;
    }
    if (unflushed_bytes(s) >= ingest_limit(s)) {
        s->stats.appends_rejected++;
        seal(s, 0);
        maybe_flush(s, 1);
        return SIFT_EBUSY;
    }
    return SIFT_OK;
}

int
sift_store_append(struct sift_store *s, const struct sift_event *evs, size_t n,
                  const struct sift_srcpos *pos, size_t n_pos,
                  sift_durable_cb cb, void *arg)
{
    if (n == 0 && n_pos == 0)
        return SIFT_EINVAL;
    int rc = append_admit(s);
    if (rc < 0)
        return rc;
    sift_buf_reset(&s->scratch);
    rc = sift__store_batch_encode(evs, n, pos, n_pos, &s->scratch);
    if (rc < 0)
        return rc;
    return append_scratch(s, n, pos, n_pos, cb, arg, NULL);
}

/* Appends s->scratch to the WAL and the pending list (see append). */
static int
append_scratch(struct sift_store *s, size_t n, const struct sift_srcpos *pos,
               size_t n_pos, sift_durable_cb cb, void *arg, uint64_t *seq_out)
{
    uint64_t seq;
    int rc = sift__wal_append(s->wal, s->scratch.data, s->scratch.len, &seq);
    if (rc < 0) {
        s->stats.appends_rejected++;
        note_write_error(s, rc);
        return rc;
    }
    struct sift__batch *b = sift_xcalloc(1, sizeof(*b));
    b->seq = seq;
    b->payload = sift_xmalloc(s->scratch.len ? s->scratch.len : 1);
    memcpy(b->payload, s->scratch.data, s->scratch.len);
    b->len = s->scratch.len;
    b->n_docs = (uint32_t)n;
    b->cb = cb;
    b->arg = arg;
    *s->pend_tail = b;
    s->pend_tail = &b->next;
    s->pend_bytes += b->len;
    s->pend_docs += n;
    for (size_t i = 0; i < n_pos; i++)
        sift__posmap_merge(&s->positions, pos[i].key, pos[i].hi, pos[i].lo);
    s->stats.wal_bytes = sift__wal_bytes(s->wal);
    s->stats.docs_buffered += n;
    if (CFG(s, wal_sync_ms, 0) == 0)
        start_sync(s);
    if (seq_out)
        *seq_out = seq;
    s->last_seq = seq;
    return SIFT_OK;
}

int
sift_store_position(struct sift_store *s, const char *key,
                    struct sift_srcpos *out)
{
    const struct sift_manifest_pos *p = sift__posmap_find(&s->positions, key);
    if (!p)
        return SIFT_ENOTFOUND;
    out->key = p->key;
    out->hi = p->hi;
    out->lo = p->lo;
    return SIFT_OK;
}

int
sift_store_is_full(const struct sift_store *s)
{
    return s->full || s->werr || unflushed_bytes(s) >= ingest_limit(s);
}

void
sift_store_health(const struct sift_store *s, struct sift_store_health *out)
{
    memset(out, 0, sizeof(*out));
    out->disk_full = s->full;
    out->write_errno = s->werr;
    struct statvfs vf;
    if (statvfs(s->data_dir, &vf) == 0) {
        out->free_bytes = (uint64_t)vf.f_bavail * (uint64_t)vf.f_frsize;
        out->free_known = 1;
        /* Full before any write notices: appends would only fail. */
        if (out->free_bytes < SIFT_STORE_PROBE_BYTES)
            out->disk_full = 1;
    }
    out->held = s->n_held;
    out->quarantined = s->n_quarantined;
    out->unplaced = s->stats.unplaced;
    out->wal_records_lost = s->stats.wal_records_lost;
    out->rebuilt = s->rebuilt;
    sift__lc_health(s, out);
}

void
sift_store_on_refresh(struct sift_store *s, sift_refresh_cb cb, void *arg)
{
    s->on_refresh = cb;
    s->on_refresh_arg = arg;
}

void
sift_store_refresh(struct sift_store *s)
{
    seal(s, 0);
}

void
sift_store_flush(struct sift_store *s, sift_durable_cb cb, void *arg)
{
    seal(s, 0);
    uint64_t target = 0;
    for (size_t i = 0; i < s->n_ents; i++)
        if (s->ents[i]->max_seq > target)
            target = s->ents[i]->max_seq;
    if (target <= s->manifest.flushed_seq) {
        if (cb)
            cb(arg, SIFT_OK);
        return;
    }
    struct sift__flush_waiter *w = sift_xcalloc(1, sizeof(*w));
    w->target_seq = target;
    w->cb = cb;
    w->arg = arg;
    w->next = s->waiters;
    s->waiters = w;
    maybe_flush(s, 1);
}

const struct sift_histogram *
sift_store_wal_fsync_histogram(const struct sift_store *store)
{
    return &store->wal_fsync;
}

void
sift_store_stats(const struct sift_store *s, struct sift_store_stats *out)
{
    *out = s->stats;
    out->buffer_bytes = unflushed_bytes(s);
    out->merge_bytes =
        atomic_load_explicit(&s->merge_held, memory_order_relaxed);
    out->build_cpu_ns =
        atomic_load_explicit(&s->build_cpu_ns, memory_order_relaxed);
    out->merge_cpu_ns =
        atomic_load_explicit(&s->merge_cpu_ns, memory_order_relaxed);
    out->wal_bytes = sift__wal_bytes(s->wal);
    uint64_t building = 0;
    for (size_t i = 0; i < s->n_ents; i++)
        if (s->ents[i]->state == SIFT_ENT_BUILDING)
            building += s->ents[i]->docs;
    out->docs_buffered =
        sift_segment_builder_count(s->builder) + s->pend_docs + building;
}

const char *const *
sift_store_held(const struct sift_store *s)
{
    static const char *const none[] = {NULL};
    return s->held_names ? (const char *const *)s->held_names : none;
}

void
sift__store_note_deleted(const struct sift_store *s, struct sift_manifest *m)
{
    for (size_t i = 0; i < m->n_segs; i++) {
        for (size_t k = 0; k < s->n_ents; k++) {
            const struct sift__entry *e = s->ents[k];
            if (e->id != m->segs[i].id || e->state != SIFT_ENT_DISK || !e->seg)
                continue;
            const roaring_bitmap_t *d = sift_segment_deleted(e->seg);
            m->segs[i].deleted = d ? roaring_bitmap_get_cardinality(d) : 0;
        }
    }
}

const char *const *
sift_store_quarantined(const struct sift_store *s)
{
    static const char *const none[] = {NULL};
    return s->quarantined ? (const char *const *)s->quarantined : none;
}

/* ------------------------------------------------------------------ */
/* Open and recovery                                                   */
/* ------------------------------------------------------------------ */

int
sift__store_quarantine_file(struct sift_store *s, const char *dir,
                            const char *name)
{
    char src[4096], dst[4096];
    snprintf(src, sizeof(src), "%s/%s", dir, name);
    snprintf(dst, sizeof(dst), "%s/%s", s->q_dir, name);
    if (rename(src, dst) != 0 && errno != ENOENT) {
        int rc = -errno;
        SIFT_ERROR("store: cannot move %s to %s: %s", src, dst,
                   strerror(errno));
        return rc;
    }
    (void)sift_file_fsync_dir(s->q_dir);
    (void)sift_file_fsync_dir(dir);
    return SIFT_OK;
}

static int
load_segments(struct sift_store *s)
{
    int changed = 0;
    for (size_t i = 0; i < s->manifest.n_segs;) {
        struct sift_manifest_seg *m = &s->manifest.segs[i];
        char path[4096];
        struct sift_segment *seg = NULL;
        sift__lc_seg_path(s, m, path, sizeof(path));
        int rc = sift_segment_open_file(path, &seg);
        if (rc == SIFT_OK && sift_segment_doc_count(seg) != m->docs) {
            SIFT_ERROR("store: %s holds %u docs, the manifest says %" PRIu64,
                       path, sift_segment_doc_count(seg), m->docs);
            sift_segment_unref(seg);
            rc = SIFT_ECORRUPT;
        }
        if (rc == SIFT_ECORRUPT || rc == -ENOENT || rc == -EINVAL) {
            if (rc == -ENOENT) {
                SIFT_ERROR("store: segment %s is missing; its %" PRIu64
                           " docs are no longer searchable",
                           path, m->docs);
            } else {
                int qrc = sift__store_quarantine_file(
                    s, sift__lc_tier_dir(s, m->tier), m->file);
                SIFT_ERROR("store: segment %s is corrupt; %s (its %" PRIu64
                           " docs are no longer searchable)",
                           path,
                           qrc == SIFT_OK ? "moved it to quarantine/"
                                          : "left it in place",
                           m->docs);
            }
            sift__store_add_quarantined(s, m->file);
            sift__manifest_remove_seg(&s->manifest, m->id);
            changed = 1;
            continue;
        }
        if (rc < 0) {
            SIFT_ERROR("store: cannot open segment %s: %s", path,
                       sift_strerror(rc));
            return rc;
        }
        int held = 0;
        rc = sift__lc_load_tombstones(s, m, &seg, &held);
        if (rc < 0) {
            sift_segment_unref(seg);
            return rc;
        }
        struct sift__entry *e = entry_push(s);
        e->id = m->id;
        e->state = SIFT_ENT_DISK;
        e->meta = *m;
        i++;
        if (held) {
            /* Fail closed: listed, kept, never served (tombstone.c). */
            sift_segment_unref(seg);
            e->held = 1;
            s->held_names =
                sift_xrealloc(s->held_names, (s->n_held + 2) * sizeof(char *));
            s->held_names[s->n_held++] = sift_xstrdup(m->file);
            s->held_names[s->n_held] = NULL;
            s->stats.held++;
            continue;
        }
        e->seg = seg;
        e->docs = sift_segment_doc_count(seg);
        e->bytes = sift_segment_bytes(seg);
    }
    if (changed) {
        s->manifest.generation++;
        int rc = sift__manifest_save(s->data_dir, &s->manifest);
        if (rc < 0)
            return rc;
    }
    return SIFT_OK;
}

static int
replay_cb(uint64_t seq, const uint8_t *payload, size_t len, void *arg)
{
    struct sift_store *s = arg;
    int rc = buffer_add(s, seq, payload, len);
    if (rc < 0) {
        /* Not damage (the checksum is good) but a record this build cannot
         * read: lose it alone, as damage would, rather than refuse to
         * start. */
        SIFT_ERROR("store: WAL record %" PRIu64 " has a good checksum but "
                   "does not decode (%s); skipped, its events are lost",
                   seq, sift_strerror(rc));
        s->stats.wal_records_lost++;
    }
    /* Keep replayed segments at a reasonable size. */
    if (sift_segment_builder_bytes(s->builder) >=
        (uint64_t)CFG(s, flush_bytes, 64 << 20))
        seal(s, 1);
    return 0;
}

/*
 * Deletes older than every live segment's docs are needed by no
 * tombstone rebuild (tombstone.c); segments without an origin, or held,
 * keep the journal whole.
 */
static void
prune_journal(struct sift_store *s)
{
    uint64_t below = UINT64_MAX;
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        uint64_t m = e->seg ? sift_segment_origin(e->seg)->max_seq : 0;
        if (m < below)
            below = m;
    }
    if (below != UINT64_MAX && below > 0)
        sift__journal_prune(s->journal, below);
}

static int
sync_thread_start(struct sift_store *s)
{
    int e = pthread_create(&s->sync_thread, NULL, sync_main, s);
    if (e != 0) {
        SIFT_ERROR("store: cannot start the WAL sync thread: %s", strerror(e));
        return -e;
    }
    s->sync_started = 1;
    return SIFT_OK;
}

/* The store's state before recovery: directories made, nothing loaded. */
static struct sift_store *
store_alloc(const struct sift_config *cfg, struct sift_loop *loop,
            struct sift_pool *pool)
{
    struct sift_store *s = sift_xcalloc(1, sizeof(*s));
    atomic_init(&s->merge_held, 0);
    s->cfg = cfg;
    s->loop = loop;
    s->pool = pool;
    s->match = sift_store_match_simple;
    static const double fsync_bounds[] = {
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5};
    sift_histogram_init(&s->wal_fsync, fsync_bounds,
                        sizeof(fsync_bounds) / sizeof(fsync_bounds[0]));
    s->data_dir =
        sift_xstrdup(cfg && cfg->data_dir ? cfg->data_dir : "./sift-data");
    s->seg_dir = sift__store_join(s->data_dir, "segments");
    s->wal_dir = sift__store_join(s->data_dir, "wal");
    s->q_dir = sift__store_join(s->data_dir, "quarantine");
    s->pend_tail = &s->pend_head;
    s->arena = sift_arena_new(64 << 10);
    sift_buf_init(&s->scratch);
    pthread_mutex_init(&s->snap_mu, NULL);
    pthread_mutex_init(&s->sync_mu, NULL);
    pthread_cond_init(&s->sync_cv, NULL);
    sift__manifest_init(&s->manifest);
    s->builder = new_builder(s);
    s->expand_x16 = 32; /* 2x until the first sealed builder measures it */
    /* Half the builder until a build measures it (Filebeat events take
     * 0.33-0.37: image, sort arrays, zstd; docs/internals/storage.md). */
    atomic_init(&s->finish_x16, 8);
    publish(s);
    return s;
}

static int
store_dirs(struct sift_store *s)
{
    int rc;
    if ((rc = sift__store_ensure_dir("store", s->data_dir)) < 0 ||
        (rc = sift__store_ensure_dir("store", s->seg_dir)) < 0 ||
        (rc = sift__store_ensure_dir("store", s->wal_dir)) < 0 ||
        (rc = sift__store_ensure_dir("store", s->q_dir)) < 0 ||
        (rc = sift__lc_init(s)) < 0)
        return rc;
    return SIFT_OK;
}

int
sift__store_new_bare(const struct sift_config *cfg, struct sift_store **out)
{
    struct sift_store *s = store_alloc(cfg, NULL, NULL);
    int rc = store_dirs(s);
    if (rc < 0) {
        s->closing = 1;
        sift_store_close(s);
        *out = NULL;
        return rc;
    }
    *out = s;
    return SIFT_OK;
}

int
sift_store_open(const struct sift_config *cfg, struct sift_loop *loop,
                struct sift_pool *pool, struct sift_store **out)
{
    struct sift_store_deps deps = {cfg, loop, pool, NULL};
    return sift_store_new(&deps, out);
}

int
sift_store_new(const struct sift_store_deps *deps, struct sift_store **out)
{
    struct sift_store *s = store_alloc(deps->cfg, deps->loop, deps->pool);
    if (deps->match != NULL)
        s->match = deps->match;
    int rc = store_dirs(s);
    if (rc < 0)
        goto fail;

    rc = sift__store_choose_manifest(s);
    if (rc < 0)
        goto fail;
    rc = sift__journal_open(s, &s->journal);
    if (rc < 0)
        goto fail;
    rc = load_segments(s);
    if (rc < 0)
        goto fail;
    prune_journal(s);
    rc = sift__store_sweep_unlisted(s);
    if (rc < 0)
        goto fail;
    sift__posmap_merge_all(&s->positions, &s->manifest.pos);
    uint64_t replay_from = s->manifest.flushed_seq + 1;

    struct sift_wal_replay_report rep;
    rc = sift__wal_replay(s->wal_dir, replay_from, replay_cb, s, &rep);
    if (rc < 0) {
        SIFT_ERROR("store: WAL replay failed: %s", sift_strerror(rc));
        goto fail;
    }
    seal(s, 1);
    s->stats.wal_records_lost += rep.lost_records;
    sift__store_sweep_after_replay(s, replay_from, &rep);
    if (rep.corrupt) {
        /*
         * The damaged files still hold good records that now live only in
         * memory.  Flush them (with a flushed_seq past every seq seen)
         * before those files move to quarantine/, so a crash right after
         * start loses nothing the damage did not take.
         */
        s->flush_floor = rep.max_seq_seen;
        struct flush_job *j = flush_prepare(s);
        if (j) {
            s->flush_running = 1;
            flush_work(j);
            rc = j->rc;
            flush_apply(s, j);
            if (rc < 0) {
                SIFT_ERROR("store: cannot flush the WAL records replayed "
                           "around the damage: %s",
                           sift_strerror(rc));
                sift__wal_report_cleanup(&rep);
                goto fail;
            }
        }
        for (size_t i = 0; i < rep.n_lost; i++) {
            const struct sift_wal_lost *l = &rep.lost[i];
            int dup = 0;
            for (size_t k = 0; k < i; k++)
                dup |= strcmp(rep.lost[k].file, l->file) == 0;
            if (!l->needed || l->missing || dup)
                continue;
            if (sift__wal_quarantine(s->wal_dir, l->file, s->q_dir) ==
                SIFT_OK) {
                char name[80];
                snprintf(name, sizeof(name), "wal-%s", l->file);
                sift__store_add_quarantined(s, name);
            }
        }
    }
    sift__wal_report_cleanup(&rep);
    uint64_t next = s->manifest.flushed_seq;
    if (rep.last_seq > next)
        next = rep.last_seq;
    if (rep.max_seq_seen > next)
        next = rep.max_seq_seen;
    rc = sift__wal_open(s->wal_dir, next + 1,
                        (uint64_t)CFG(s, wal_file_bytes, 64 << 20), &s->wal);
    if (rc < 0) {
        SIFT_ERROR("store: cannot open the WAL in %s: %s", s->wal_dir,
                   sift_strerror(rc));
        goto fail;
    }
    publish(s);
    sift_store_rescan_quarantine(s);
    if (rep.n_records > 0)
        SIFT_INFO("store: %s: %zu segments on disk, %" PRIu64 " WAL records "
                  "replayed (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64
                  " lost, %zu quarantined",
                  s->data_dir, s->manifest.n_segs, rep.n_records, replay_from,
                  rep.last_seq, rep.lost_records, s->n_quarantined);
    else
        SIFT_INFO("store: %s: %zu segments on disk, no WAL record to replay, "
                  "%" PRIu64 " lost, %zu quarantined",
                  s->data_dir, s->manifest.n_segs, rep.lost_records,
                  s->n_quarantined);

    struct sift_loop *loop = s->loop;
    if (loop) {
        rc = sync_thread_start(s);
        if (rc < 0)
            goto fail;
        s->t_refresh = sift_loop_timer_new(
            loop, (uint32_t)CFG(s, refresh_ms, 1000), on_refresh_timer, s);
        if (CFG(s, wal_sync_ms, 0) > 0)
            s->t_sync = sift_loop_timer_new(
                loop, (uint32_t)CFG(s, wal_sync_ms, 100), on_sync_timer, s);
        s->t_flush = sift_loop_timer_new(
            loop, (uint32_t)CFG(s, flush_ms, 30000), on_flush_timer, s);
        s->t_full = sift_loop_timer_new(loop, SIFT_STORE_FULL_RETRY_MS,
                                        on_full_timer, s);
        sift__lc_start(s);
    }
    *out = s;
    return SIFT_OK;
fail:
    s->closing = 1;
    sift_store_close(s);
    *out = NULL;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Close                                                               */
/* ------------------------------------------------------------------ */

static void
drain_jobs(struct sift_store *s)
{
    while (s->jobs_inflight > 0 || s->sync_inflight) {
        sift_loop_run_posted(s->loop);
        if (s->jobs_inflight == 0 && !s->sync_inflight)
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

void
sift_store_close(struct sift_store *s)
{
    if (!s)
        return;
    int healthy = !s->closing;
    s->closing = 1;
    struct sift_timer *timers[] = {s->t_refresh, s->t_sync, s->t_flush,
                                   s->t_full};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        if (timers[i])
            sift_loop_timer_free(timers[i]);
    s->t_refresh = s->t_sync = s->t_flush = s->t_full = NULL;
    sift__lc_stop(s);
    if (s->loop)
        drain_jobs(s);
    if (s->sync_started) {
        pthread_mutex_lock(&s->sync_mu);
        s->sync_stop = 1;
        pthread_cond_signal(&s->sync_cv);
        pthread_mutex_unlock(&s->sync_mu);
        pthread_join(s->sync_thread, NULL);
        s->sync_started = 0;
    }
    if (s->wal) {
        /* Final group commit: every accepted batch gets its callback. */
        sync_now(s);
        if (healthy) {
            /*
             * Fast restart: seal and flush now (synchronously, the loop is
             * stopping) so the next start replays nothing.  If this fails
             * the WAL still has everything.
             */
            seal(s, 1);
            retry_failed_builds(s);
            maybe_flush(s, 1);
        }
    }
    run_waiters(s, SIFT_ESHUTDOWN);
    sift__lc_free(s);
    for (size_t i = 0; i < s->n_ents; i++)
        entry_free(s->ents[i]);
    sift_free(s->ents);
    sift_snapshot_release(s->snap);
    if (s->builder)
        sift_segment_builder_free(s->builder);
    sift__wal_close(s->wal);
    sift__manifest_cleanup(&s->manifest);
    sift__posmap_cleanup(&s->buf_pos);
    sift__posmap_cleanup(&s->positions);
    for (size_t i = 0; i < s->n_quarantined; i++)
        sift_free(s->quarantined[i]);
    sift_free(s->quarantined);
    sift_free(s->unflushed);
    for (size_t i = 0; i < s->n_held; i++)
        sift_free(s->held_names[i]);
    sift_free(s->held_names);
    sift__journal_free(s->journal);
    sift_arena_free(s->arena);
    sift_buf_cleanup(&s->scratch);
    pthread_mutex_destroy(&s->snap_mu);
    pthread_mutex_destroy(&s->sync_mu);
    pthread_cond_destroy(&s->sync_cv);
    sift_free(s->data_dir);
    sift_free(s->seg_dir);
    sift_free(s->wal_dir);
    sift_free(s->q_dir);
    sift_free(s);
}

/* ------------------------------------------------------------------ */
/* Lifecycle hooks (lifecycle.c; see store_int.h)                      */
/* ------------------------------------------------------------------ */

void
sift__store_seal(struct sift_store *s, int sync_build)
{
    seal(s, sync_build);
}

void
sift__store_publish(struct sift_store *s)
{
    publish(s);
}

void
sift__store_maybe_flush(struct sift_store *s, int force)
{
    maybe_flush(s, force);
}

void
sift__store_entry_free(struct sift__entry *e)
{
    entry_free(e);
}

/* ---- replace records (lifecycle.c runs them) ---- */

struct sift_segment_builder *
sift__store_new_builder(const struct sift_store *s)
{
    return new_builder(s);
}

void
sift__store_set_origin(struct sift_segment_builder *b, uint64_t seq)
{
    struct sift_posmap none;
    memset(&none, 0, sizeof(none));
    set_wal_origin(b, seq, seq, &none);
}

void
sift__store_insert_entry(struct sift_store *s, uint64_t seq,
                         struct sift_segment *seg)
{
    struct sift__entry *e = entry_push(s);
    e->id = s->manifest.next_seg_id++;
    e->state = SIFT_ENT_MEM;
    e->max_seq = seq;
    e->seg = seg;
    e->docs = seg ? sift_segment_doc_count(seg) : 0;
    e->bytes = seg ? sift_segment_bytes(seg) : 0;
    /* Seal order: after every entry holding older records. */
    size_t at = s->n_ents - 1;
    while (at > 0) {
        const struct sift__entry *prev = s->ents[at - 1];
        if (prev->state == SIFT_ENT_DISK || prev->max_seq == 0 ||
            prev->max_seq <= seq)
            break;
        s->ents[at] = s->ents[at - 1];
        at--;
    }
    s->ents[at] = e;
    recount_sealed(s);
}

int
sift_store_append_replacing(struct sift_store *s, const struct sift_event *evs,
                            size_t n, const struct sift_doc_key *keys,
                            size_t n_keys, sift_durable_cb cb, void *arg)
{
    if (n_keys == 0)
        return sift_store_append(s, evs, n, NULL, 0, cb, arg);
    if (n == 0)
        return SIFT_EINVAL;
    int rc = append_admit(s);
    if (rc < 0)
        return rc;
    sift_buf_reset(&s->scratch);
    sift__lc_replace_encode_keys(keys, n_keys, &s->scratch);
    rc = sift__store_batch_encode(evs, n, NULL, 0, &s->scratch);
    if (rc < 0)
        return rc;
    return append_scratch(s, n, NULL, 0, cb, arg, NULL);
}

uint64_t
sift_store_last_seq(const struct sift_store *s)
{
    return s->last_seq;
}

uint64_t
sift_store_visible_seq(const struct sift_store *s)
{
    uint64_t v = s->last_seq;
    if (s->pend_head && s->pend_head->seq - 1 < v)
        v = s->pend_head->seq - 1;
    if (s->buf_min_seq && s->buf_min_seq - 1 < v)
        v = s->buf_min_seq - 1;
    uint64_t prev = s->manifest.flushed_seq;
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (e->state == SIFT_ENT_DISK || e->max_seq == 0)
            continue;
        if (e->state == SIFT_ENT_BUILDING) {
            if (prev < v)
                v = prev;
            break;
        }
        prev = e->max_seq;
    }
    uint64_t op = sift__lc_pending_seq(s);
    if (op && op - 1 < v)
        v = op - 1;
    return v;
}

int
sift__store_append_raw(struct sift_store *s, const void *payload, size_t len,
                       sift_durable_cb cb, void *arg, uint64_t *seq_out)
{
    if (s->closing)
        return SIFT_ESHUTDOWN;
    int blocked = write_blocked(s);
    if (blocked < 0) {
        s->stats.appends_rejected++;
        return blocked;
    }
    sift_buf_reset(&s->scratch);
    sift_buf_append(&s->scratch, payload, len);
    return append_scratch(s, 0, NULL, 0, cb, arg, seq_out);
}
