/*
 * lifecycle.c - tiers, merges, retention and delete-by-query on top of the
 * store (docs/internals/lifecycle.md has the long form).
 *
 * Design:
 *   - A timer (every 100 ms) drives everything; the policy (tiers.c) runs
 *     every tiers.check_interval or when forced.  Its deletes become DROP
 *     jobs; its first merge becomes a MERGE job (one merge at a time: the
 *     machine is small and merges are I/O and CPU heavy).
 *   - MERGE, on a worker: train a dictionary (cold), merge the live docs
 *     of the inputs into new images with the target tier's codec, write
 *     each to <tier dir>/<id>.seg (temp, fsync, rename), fsync the dir,
 *     open the files.  Output ids are reserved from the manifest's
 *     next_segment_id before the job starts.
 *   - COMMIT (MERGE and DROP): needs the manifest writer lock, which is the
 *     store's flush_running flag.  On the loop: check the inputs are still
 *     the same segment objects (a delete that tombstoned an input in the
 *     meantime voids the merge, which is retried later), build the next
 *     manifest (inputs out, outputs in).  On a worker: save it.  On the
 *     loop: swap the entries and publish one snapshot (old and new never
 *     both counted, never neither), then unlink the inputs' files.  A crash
 *     before the manifest rename leaves the outputs as orphans, after it
 *     the inputs: the next start deletes whichever the manifest does not
 *     list.
 *   - Deletes: the request is a WAL record (first payload byte 'D').  When
 *     it is durable (live) or replayed (recovery) the store hands it here
 *     in WAL order: the buffer is sealed, and once no older entry is still
 *     building and the manifest lock is free, a worker runs the matcher on
 *     every segment holding older docs.  Disk segments get a tombstone
 *     sidecar <file>.del (portable roaring bitmap, temp + fsync + rename)
 *     and a new reader carrying the bitmap (sift_segment_with_deleted());
 *     in-memory segments are rebuilt without the docs, because their image
 *     is what a flush writes.  One publish makes the delete visible
 *     everywhere.  Until then flushes wait, so the WAL never loses the
 *     record before its effect is durable.
 *   - Retention works per event: the policy drops whole segments whose
 *     newest event is past the retention, and plan_expire() queues an
 *     "expire" op for disk segments that straddle the line, which hides
 *     their old prefix (docs are in time order) with tombstones like a
 *     delete, without a WAL record (time decides it again at every
 *     check); a segment left half dead is rewritten.  Dry-run deletes
 *     count with the same job and change nothing.
 *
 * Invariants:
 *   - Sidecars only grow (union), so a sidecar newer than the manifest is
 *     harmless: the delete it records is durable in the WAL already (or,
 *     for expired events, would be recomputed from the clock).
 *   - An entry with lc_busy set is the input of exactly one job.
 *   - s->manifest changes only on the loop thread, while this module or a
 *     flush holds flush_running.
 *
 * Threads: loop thread, except the *_work functions (workers), which touch
 * only their job struct.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <xxhash.h>

#include "lifecycle_int.h"
#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/lifecycle.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/metrics.h"
#include "sift/pool.h"
#include "sift/time.h"
#include "sift/tokenize.h"
#include "store_int.h"

#define LC_TICK_MS 50
#define LC_DEL_VERSION 1
#define LC_MAX_QUERY (64u << 10)

/* ------------------------------------------------------------------ */
/* State                                                               */
/* ------------------------------------------------------------------ */

enum job_kind { JOB_MERGE, JOB_DROP };

struct job_out {
    uint64_t id;
    struct sift_manifest_seg meta;
    struct sift_segment *seg; /* opened from the file */
    uint64_t raw_bytes;
    int full; /* cut at the memory cap */
};

struct lc_job {
    struct sift_store *store;
    enum job_kind kind;
    const char *reason;
    uint8_t tier;
    int split;
    size_t n_in;
    uint64_t *in_ids;
    struct sift_segment **in_segs; /* refs */
    struct sift_manifest_seg *in_meta;
    uint64_t first_id, n_ids; /* reserved output ids */
    struct sift_segment_opts opts;
    size_t dict_cap;
    uint64_t mem_cap; /* builder bytes one merge may hold; 0 = no cap */
    char *dir;        /* output directory */
    uint64_t n_parts; /* outputs written as part files (emit_part) */
    struct job_out *outs;
    size_t n_outs;
    struct sift_merge_stats st;
    int64_t ns;
    struct sift_manifest next;
    char *data_dir;
    int rc;
    struct lc_job *next_job;
    /* What the outputs record as their origin (opts.origin points here). */
    struct sift_segment_origin origin;
    struct sift_posmap origin_pos;
    struct sift_srcpos *origin_v;
    uint64_t backoff_key; /* MERGE: its inputs and target (back-off) */
};

struct del_target {
    uint64_t id;
    int disk;
    struct sift_segment *seg; /* ref on the current reader */
    char path[4096];          /* sidecar path (disk) */
    struct sift_segment *out; /* new reader (NULL: unchanged / empty) */
    int changed;
    uint64_t matched;
};

struct del_op {
    uint64_t seq;
    char *query;
    size_t qlen;
    int64_t from_ns, to_ns;
    int force;
    int dry;        /* SIFT_DELETE_DRY_RUN: count only */
    int expire;     /* retention: hide docs of ids[] older than to_ns (no WAL
                       record; the next policy run redoes a lost one) */
    int replace;    /* a replace record: query holds its keys, batch its
                       docs (added by the job in the same publish) */
    uint8_t *batch; /* the record's batch payload (owned) */
    size_t batch_len;
    uint64_t *ids;
    size_t n_ids;
    sift_delete_cb cb;
    void *arg;
    int64_t t0_mono;
    int64_t retry_mono; /* after a failure: not before this */
    struct del_op *next;
};

struct del_job {
    struct sift_store *store;
    struct sift__journal *journal; /* the store's; appended by del_work */
    struct del_op *op;
    struct del_target *t;
    size_t n;
    struct sift_segment_opts hot;
    sift_delete_match_cb match;
    uint64_t matched;
    struct sift_segment_builder *builder; /* replace: its batch (owned) */
    struct sift_segment *added;           /* replace: built from it */
    int rc;
};

static void
op_free(struct del_op *op)
{
    sift_free(op->ids);
    sift_free(op->batch);
    sift_free(op->query);
    sift_free(op);
}

/* A live request whose WAL record is not durable yet. */
struct del_req {
    uint64_t seq;
    sift_delete_cb cb;
    void *arg;
    struct sift_store *store;
    struct del_req *next;
};

#define LC_BACKOFF_SLOTS 32
#define LC_BACKOFF_MIN_NS (INT64_C(5) * SIFT_NS_PER_SEC)
#define LC_BACKOFF_MAX_NS (INT64_C(3600) * SIFT_NS_PER_SEC)
#define LC_SPACE_MARGIN (16u << 20) /* bytes a merge leaves free at least */

/* One merge (its inputs and target) that failed, and when to retry it. */
struct merge_backoff {
    uint64_t key;
    unsigned failures;
    int64_t delay_ns;
    int64_t next_mono;
};

struct raw_size {
    uint64_t id;
    uint64_t raw;
};

struct sift__lc {
    char *dirs[SIFT_TIER_COUNT];
    struct sift_timer *timer;
    int started;
    int stopping;
    int64_t last_check_mono;
    int force_check;

    struct lc_job *merge; /* worker phase running */
    struct lc_job *commit_head, **commit_tail;
    int commit_running;

    struct del_op *ops_head, **ops_tail;
    int del_running;
    struct del_req *reqs;
    uint64_t *rewrite;
    size_t n_rewrite;

    struct raw_size *raw; /* raw bytes of merge outputs (for ratios) */
    size_t n_raw;

    /* stats */
    uint64_t merges, merge_bytes_in, merge_bytes_out, merge_docs;
    uint64_t merge_docs_dropped, merges_aborted, merge_failures;
    int64_t merge_ns;
    uint64_t tier_moves[SIFT_TIER_COUNT];
    uint64_t retention_segments, retention_bytes, retention_docs;
    uint64_t expired_docs;  /* hidden one by one in straddling segments */
    uint64_t replaced_docs; /* hidden by replace records (_bulk index) */
    int expire_queued;      /* an expire op waits or runs */
    uint64_t cap_segments, cap_bytes;
    int64_t last_retention_ns; /* wall clock of the last policy run */
    uint64_t last_retention_deleted;
    uint64_t deletes, deleted_docs;

    /* Merges that failed wait before the same merge runs again (doubling
     * from LC_BACKOFF_MIN_NS up to LC_BACKOFF_MAX_NS); merges that would
     * not fit on the disk are held.  Why, for metrics and /readyz. */
    struct merge_backoff backoff[LC_BACKOFF_SLOTS];
    size_t n_backoff;
    const char *held_reason; /* static, or NULL */
    uint64_t held_need, held_free;
};

static void lc_tick(void *arg);
static void try_commit(struct sift_store *s);
static void try_delete(struct sift_store *s);

/* ------------------------------------------------------------------ */
/* Config and paths                                                    */
/* ------------------------------------------------------------------ */

static int64_t
cfgv(const struct sift_store *s, size_t off, int64_t dflt)
{
    if (!s->cfg)
        return dflt;
    int64_t v;
    memcpy(&v, (const char *)s->cfg + off, sizeof(v));
    return v > 0 ? v : dflt;
}
#define LCFG(s, f, d) cfgv((s), offsetof(struct sift_config, f), (d))

static void
tier_opts(const struct sift_store *s, unsigned tier,
          struct sift_segment_opts *o)
{
    sift_segment_opts_init(o);
    o->tier = (uint8_t)tier;
    o->zstd_level = (int)LCFG(s, zstd_level, 3);
    o->block_bytes = (uint32_t)LCFG(s, block_bytes, 64 << 10);
    if (tier == SIFT_TIER_WARM)
        o->zstd_level = (int)LCFG(s, warm_zstd_level, 9);
    if (tier == SIFT_TIER_COLD) {
        o->zstd_level = (int)LCFG(s, cold_zstd_level, 19);
        o->block_bytes = (uint32_t)LCFG(s, cold_block_bytes, 256 << 10);
    }
    if (s->cfg) {
        o->text_fields = s->cfg->text_fields;
        o->keyword_fields = s->cfg->keyword_fields;
        o->numeric_fields = s->cfg->numeric_fields;
    }
}

/* Builder bytes one merge may hold (tiers.merge_memory). */
static uint64_t
merge_mem_cap(const struct sift_store *s)
{
    int64_t v = LCFG(s, merge_memory, 0);
    if (v > 0)
        return (uint64_t)v;
    return (uint64_t)LCFG(s, buffer_max_bytes, 256 << 20) / 2;
}

static void
policy_from_cfg(const struct sift_store *s, struct sift_tier_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->now_ns = sift_clock_now_ns();
    p->hot_max_age_ns = LCFG(s, hot_max_age_ms, 3600000) * SIFT_NS_PER_MS;
    p->warm_max_age_ns =
        LCFG(s, warm_max_age_ms, INT64_C(7) * 86400000) * SIFT_NS_PER_MS;
    /* 0 is "off" here (keep everything), not "the default". */
    p->retention_ns = s->cfg ? s->cfg->retention_ms * SIFT_NS_PER_MS
                             : INT64_C(30) * 86400000 * SIFT_NS_PER_MS;
    p->max_disk_bytes = (uint64_t)LCFG(s, max_disk_bytes, 0);
    p->hot_segment_bytes = (uint64_t)LCFG(s, hot_segment_bytes, 64 << 20);
    p->warm_segment_bytes = (uint64_t)LCFG(s, warm_segment_bytes, 512 << 20);
    p->merge_factor = (unsigned)LCFG(s, merge_factor, 10);
    /* 7/8: the cap is checked every 64 docs and docs vary in size */
    if (s->builder_bpd > 0) {
        uint64_t d = merge_mem_cap(s) / 8 * 7 / s->builder_bpd;
        p->merge_docs_cap = d ? d : 1;
    }
}

const char *
sift__lc_tier_dir(const struct sift_store *s, unsigned tier)
{
    if (!s->lc || tier >= SIFT_TIER_COUNT)
        return s->seg_dir;
    return s->lc->dirs[tier];
}

void
sift__lc_seg_path(const struct sift_store *s, const struct sift_manifest_seg *m,
                  char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", sift__lc_tier_dir(s, m->tier), m->file);
}

static void
sidecar_path(const char *seg_path, char *buf, size_t len)
{
    if (snprintf(buf, len, "%s%s", seg_path, SIFT_LC_SIDECAR_EXT) >= (int)len)
        buf[0] = '\0'; /* unreachable with PATH_MAX-sized buffers */
}

/* ------------------------------------------------------------------ */
/* Init, start, stop                                                   */
/* ------------------------------------------------------------------ */

int
sift__lc_init(struct sift_store *s)
{
    struct sift__lc *lc = sift_xcalloc(1, sizeof(*lc));
    s->lc = lc;
    lc->commit_tail = &lc->commit_head;
    lc->ops_tail = &lc->ops_head;
    lc->dirs[SIFT_TIER_HOT] = sift_xstrdup(s->seg_dir);
    lc->dirs[SIFT_TIER_WARM] = sift__store_join(s->data_dir, "warm");
    if (s->cfg && s->cfg->cold_path && s->cfg->cold_path[0])
        lc->dirs[SIFT_TIER_COLD] = sift_xstrdup(s->cfg->cold_path);
    else
        lc->dirs[SIFT_TIER_COLD] = sift__store_join(s->data_dir, "cold");
    int rc = sift__store_ensure_dir("lifecycle", lc->dirs[SIFT_TIER_WARM]);
    if (rc == SIFT_OK)
        rc = sift__store_ensure_dir("lifecycle", lc->dirs[SIFT_TIER_COLD]);
    return rc;
}

void
sift__lc_start(struct sift_store *s)
{
    struct sift__lc *lc = s->lc;
    lc->started = 1;
    lc->last_check_mono = sift_clock_mono_ns();
    if (s->loop)
        lc->timer = sift_loop_timer_new(s->loop, LC_TICK_MS, lc_tick, s);
}

void
sift__lc_stop(struct sift_store *s)
{
    struct sift__lc *lc = s->lc;
    if (!lc)
        return;
    lc->stopping = 1;
    if (lc->timer)
        sift_loop_timer_free(lc->timer);
    lc->timer = NULL;
}

static void job_free(struct lc_job *j);
static void job_abort(struct sift_store *s, struct lc_job *j);

void
sift__lc_free(struct sift_store *s)
{
    struct sift__lc *lc = s->lc;
    if (!lc)
        return;
    while (lc->commit_head) {
        struct lc_job *j = lc->commit_head;
        lc->commit_head = j->next_job;
        job_abort(s, j);
    }
    while (lc->ops_head) {
        struct del_op *op = lc->ops_head;
        lc->ops_head = op->next;
        /* Durable in the WAL: the next start applies it. */
        if (op->cb)
            op->cb(op->arg, SIFT_ESHUTDOWN, 0);
        op_free(op);
    }
    while (lc->reqs) {
        struct del_req *r = lc->reqs;
        lc->reqs = r->next;
        r->store = NULL; /* its durable callback may still run */
    }
    for (unsigned i = 0; i < SIFT_TIER_COUNT; i++)
        sift_free(lc->dirs[i]);
    sift_free(lc->rewrite);
    sift_free(lc->raw);
    sift_free(lc);
    s->lc = NULL;
}

/* ------------------------------------------------------------------ */
/* Tombstone sidecars                                                  */
/* ------------------------------------------------------------------ */

/* Tombstones: codec, journal and loading in tombstone.c. */

int
sift__lc_load_tombstones(struct sift_store *s,
                         const struct sift_manifest_seg *m,
                         struct sift_segment **seg, int *held)
{
    char path[4096], side[4200];
    sift__lc_seg_path(s, m, path, sizeof(path));
    sidecar_path(path, side, sizeof(side));
    return sift__tomb_load(s, s->journal, s->match, m, side, seg, held);
}

int
sift__lc_peek_tombstones(const struct sift_store *s,
                         const struct sift_manifest_seg *m,
                         const struct sift_segment *seg, uint64_t *deleted)
{
    char path[4096], side[4200];
    char *data = NULL;
    size_t len = 0;
    *deleted = 0;
    sift__lc_seg_path(s, m, path, sizeof(path));
    sidecar_path(path, side, sizeof(side));
    int rc = sift_file_read_all(side, (size_t)1 << 30, &data, &len);
    if (rc == -ENOENT)
        return SIFT_OK;
    roaring_bitmap_t *bm = NULL;
    if (rc == SIFT_OK)
        rc = sift__tomb_decode(data, len, sift_segment_doc_count(seg), &bm);
    sift_free(data);
    if (rc == SIFT_OK) {
        *deleted = roaring_bitmap_get_cardinality(bm);
        roaring_bitmap_free(bm);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */
/* ------------------------------------------------------------------ */

static struct sift__entry *
find_entry(struct sift_store *s, uint64_t id, size_t *idx)
{
    for (size_t i = 0; i < s->n_ents; i++) {
        if (s->ents[i]->id == id) {
            if (idx)
                *idx = i;
            return s->ents[i];
        }
    }
    return NULL;
}

static void
remove_entry_at(struct sift_store *s, size_t i)
{
    memmove(&s->ents[i], &s->ents[i + 1],
            (s->n_ents - i - 1) * sizeof(*s->ents));
    s->n_ents--;
}

static void
insert_entry_at(struct sift_store *s, size_t i, struct sift__entry *e)
{
    if (s->n_ents == s->cap_ents) {
        s->cap_ents = s->cap_ents ? s->cap_ents * 2 : 16;
        s->ents = sift_xrealloc(s->ents, s->cap_ents * sizeof(*s->ents));
    }
    memmove(&s->ents[i + 1], &s->ents[i], (s->n_ents - i) * sizeof(*s->ents));
    s->ents[i] = e;
    s->n_ents++;
}

static uint64_t
raw_get(const struct sift__lc *lc, uint64_t id)
{
    for (size_t i = 0; i < lc->n_raw; i++)
        if (lc->raw[i].id == id)
            return lc->raw[i].raw;
    return 0;
}

static void
raw_set(struct sift__lc *lc, uint64_t id, uint64_t raw)
{
    lc->raw = sift_xrealloc(lc->raw, (lc->n_raw + 1) * sizeof(*lc->raw));
    lc->raw[lc->n_raw].id = id;
    lc->raw[lc->n_raw].raw = raw;
    lc->n_raw++;
}

static void
raw_drop(struct sift__lc *lc, uint64_t id)
{
    for (size_t i = 0; i < lc->n_raw; i++) {
        if (lc->raw[i].id == id) {
            lc->raw[i] = lc->raw[--lc->n_raw];
            return;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Jobs: merge and drop                                                */
/* ------------------------------------------------------------------ */

static void
job_free(struct lc_job *j)
{
    for (size_t i = 0; i < j->n_in; i++)
        sift_segment_unref(j->in_segs[i]);
    for (size_t i = 0; i < j->n_outs; i++)
        sift_segment_unref(j->outs[i].seg);
    sift_free(j->outs);
    sift_free(j->in_ids);
    sift_free(j->in_segs);
    sift_free(j->in_meta);
    sift_free(j->dir);
    sift_free(j->data_dir);
    sift__manifest_cleanup(&j->next);
    sift__posmap_cleanup(&j->origin_pos);
    sift_free(j->origin_v);
    sift_free(j);
}

/*
 * The origin a merge's outputs record: the ids of its inputs, the least
 * and greatest WAL seq over them and their highest positions, so a
 * rebuilt manifest can tell an output from the inputs it replaced.
 */
static void
job_origin(struct lc_job *j)
{
    struct sift_segment_origin *o = &j->origin;
    memset(o, 0, sizeof(*o));
    o->kind = SIFT_SEG_ORIGIN_MERGE;
    for (size_t i = 0; i < j->n_in; i++) {
        const struct sift_segment_origin *in =
            sift_segment_origin(j->in_segs[i]);
        if (in->max_seq != 0) {
            if (o->min_seq == 0 || in->min_seq < o->min_seq)
                o->min_seq = in->min_seq;
            if (in->max_seq > o->max_seq)
                o->max_seq = in->max_seq;
        }
        for (size_t k = 0; k < in->n_pos; k++)
            sift__posmap_merge(&j->origin_pos, in->pos[k].key, in->pos[k].hi,
                               in->pos[k].lo);
    }
    j->origin_v = sift_xcalloc(j->origin_pos.n + 1, sizeof(*j->origin_v));
    for (size_t k = 0; k < j->origin_pos.n; k++) {
        j->origin_v[k].key = j->origin_pos.v[k].key;
        j->origin_v[k].hi = j->origin_pos.v[k].hi;
        j->origin_v[k].lo = j->origin_pos.v[k].lo;
    }
    o->n_pos = j->origin_pos.n;
    o->pos = j->origin_v;
    o->n_inputs = j->n_in;
    o->inputs = j->in_ids;
    j->opts.origin = o;
}

static void
unbusy(struct sift_store *s, struct lc_job *j)
{
    for (size_t i = 0; i < j->n_in; i++) {
        struct sift__entry *e = find_entry(s, j->in_ids[i], NULL);
        if (e)
            e->lc_busy = 0;
    }
}

/* Job did not commit: its outputs are orphans; remove them now. */
static void
job_abort(struct sift_store *s, struct lc_job *j)
{
    for (size_t i = 0; i < j->n_outs; i++) {
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", j->dir, j->outs[i].meta.file);
        (void)unlink(path);
    }
    unbusy(s, j);
    job_free(j);
}

static struct lc_job *
job_new(struct sift_store *s, enum job_kind kind,
        const struct sift_tier_action *a)
{
    struct lc_job *j = sift_xcalloc(1, sizeof(*j));
    j->store = s;
    j->kind = kind;
    j->reason = a->reason;
    j->tier = a->target_tier;
    j->split = a->split_by_day;
    j->in_ids = sift_xcalloc(a->n_ids, sizeof(*j->in_ids));
    j->in_segs = sift_xcalloc(a->n_ids, sizeof(*j->in_segs));
    j->in_meta = sift_xcalloc(a->n_ids, sizeof(*j->in_meta));
    j->data_dir = sift_xstrdup(s->data_dir);
    sift__manifest_init(&j->next);
    for (size_t i = 0; i < a->n_ids; i++) {
        struct sift__entry *e = find_entry(s, a->ids[i], NULL);
        if (!e || e->state != SIFT_ENT_DISK || !e->seg || e->lc_busy)
            continue;
        e->lc_busy = 1;
        j->in_ids[j->n_in] = e->id;
        j->in_segs[j->n_in] = sift_segment_ref(e->seg);
        j->in_meta[j->n_in] = e->meta;
        j->n_in++;
    }
    return j;
}

/* Where emit_part() puts output seq of job j until it has its id. */
static void
part_path(const struct lc_job *j, uint64_t seq, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%020" PRIu64 "-%" PRIu64 ".part", j->dir,
             j->first_id, seq);
}

/*
 * Merge emit callback: writes a finished output to a part file right
 * away and frees its image, so a merge holds one output image at a time.
 * Outputs get their ids once the merge has ordered them (merge_work
 * renames the parts); a crash leaves parts the next start removes as
 * orphans.
 */
static int
emit_part(void *arg, struct sift_merge_out *o)
{
    struct lc_job *j = arg;
    char path[4200];
    part_path(j, o->seq, path, sizeof(path));
    int rc =
        sift_file_replace(path, o->img.data, o->img.len, 0644, SIFT_FILE_BATCH);
    if (rc < 0) {
        SIFT_ERROR("lifecycle: writing %s: %s", path, sift_strerror(rc));
        return rc;
    }
    sift_buf_cleanup(&o->img);
    j->n_parts++;
    return SIFT_OK;
}

static void
merge_work(void *arg)
{
    struct lc_job *j = arg;
    int64_t t0 = sift_clock_mono_ns(), c0 = sift_clock_thread_cpu_ns();
    void *dict = NULL;
    size_t dict_len = 0;
    struct sift_merge_out *outs = NULL;
    size_t n_outs = 0;
    int rc;

    if (j->tier == SIFT_TIER_COLD && j->dict_cap > 0) {
        rc = sift__segment_train_dict(j->in_segs, j->n_in, j->dict_cap, &dict,
                                      &dict_len);
        if (rc == SIFT_OK) {
            j->opts.zstd_dict = dict;
            j->opts.zstd_dict_len = dict_len;
        } else if (rc != SIFT_ENOTFOUND) {
            goto out;
        }
    }
    struct sift_store *s = j->store;
    rc = sift__segment_merge_emit(j->in_segs, j->n_in, &j->opts, j->split,
                                  j->mem_cap, (size_t)j->n_ids, emit_part, j,
                                  &s->merge_held, &outs, &n_outs, &j->st);
    atomic_store_explicit(&s->merge_held, 0, memory_order_relaxed);
    if (rc < 0)
        goto out;
    if (n_outs > j->n_ids) {
        rc = SIFT_ELIMIT;
        goto out;
    }
    /* The parts, in the merge's order, take the reserved ids. */
    j->outs = sift_xcalloc(n_outs ? n_outs : 1, sizeof(*j->outs));
    for (size_t i = 0; i < n_outs; i++) {
        struct job_out *o = &j->outs[j->n_outs];
        char part[4200], path[4200];
        o->id = j->first_id + i;
        o->raw_bytes = outs[i].raw_bytes;
        o->full = outs[i].full;
        o->meta.id = o->id;
        o->meta.tier = j->tier;
        snprintf(o->meta.file, sizeof(o->meta.file), "%020" PRIu64 ".seg",
                 o->id);
        snprintf(path, sizeof(path), "%s/%s", j->dir, o->meta.file);
        part_path(j, outs[i].seq, part, sizeof(part));
        if (rename(part, path) != 0) {
            rc = -errno;
            SIFT_ERROR("lifecycle: renaming %s: %s", part, strerror(errno));
            goto out;
        }
        j->n_outs++; /* job_abort() removes it from here on */
    }
    if (n_outs > 0 && (rc = sift_file_fsync_dir(j->dir)) < 0)
        goto out;
    for (size_t i = 0; i < j->n_outs; i++) {
        struct job_out *o = &j->outs[i];
        char path[4200];
        snprintf(path, sizeof(path), "%s/%s", j->dir, o->meta.file);
        rc = sift_segment_open_file(path, &o->seg);
        if (rc < 0)
            goto out;
        o->meta.docs = sift_segment_doc_count(o->seg);
        o->meta.min_ts = sift_segment_min_ts(o->seg);
        o->meta.max_ts = sift_segment_max_ts(o->seg);
        o->meta.bytes = sift_segment_bytes(o->seg);
    }
    rc = SIFT_OK;
out:
    /* Parts not renamed (a failed merge or rename) go now (seqs count
     * from 0 in finish order; a renamed part is simply not found);
     * renamed outputs are job_abort()'s if the job fails. */
    if (rc < 0)
        for (uint64_t q = 0; q < j->n_parts; q++) {
            char part[4200];
            part_path(j, q, part, sizeof(part));
            (void)unlink(part);
        }
    sift__merge_outs_free(outs, n_outs);
    sift_free(dict);
    j->opts.zstd_dict = NULL;
    /*
     * The builders' memory is free now but glibc keeps it in this
     * worker's arena (measured: 10-30 MB kept after one merge); hand it
     * back so a one-off merge does not raise RSS for good.
     */
    sift_alloc_release();
    j->rc = rc;
    j->ns = sift_clock_mono_ns() - t0;
    atomic_fetch_add_explicit(&j->store->merge_cpu_ns,
                              (uint64_t)(sift_clock_thread_cpu_ns() - c0),
                              memory_order_relaxed);
}

static void
enqueue_commit(struct sift_store *s, struct lc_job *j)
{
    struct sift__lc *lc = s->lc;
    j->next_job = NULL;
    *lc->commit_tail = j;
    lc->commit_tail = &j->next_job;
}

/* ---- back-off and space ---- */

static int
cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Identifies a merge by its inputs and target, whatever their order. */
static uint64_t
merge_key(const uint64_t *ids, size_t n, unsigned tier)
{
    uint64_t *v = sift_xmalloc((n + 1) * sizeof(*v));
    memcpy(v, ids, n * sizeof(*v));
    qsort(v, n, sizeof(*v), cmp_id);
    v[n] = tier;
    uint64_t k = XXH64(v, (n + 1) * sizeof(*v), 0);
    sift_free(v);
    return k;
}

static struct merge_backoff *
backoff_find(struct sift__lc *lc, uint64_t key)
{
    for (size_t i = 0; i < lc->n_backoff; i++)
        if (lc->backoff[i].key == key)
            return &lc->backoff[i];
    return NULL;
}

static void
backoff_fail(struct sift__lc *lc, const struct lc_job *j)
{
    struct merge_backoff *b = backoff_find(lc, j->backoff_key);
    if (!b) {
        if (lc->n_backoff == LC_BACKOFF_SLOTS) {
            /* Full: forget the one that retries first. */
            size_t old = 0;
            for (size_t i = 1; i < lc->n_backoff; i++)
                if (lc->backoff[i].next_mono < lc->backoff[old].next_mono)
                    old = i;
            lc->backoff[old] = lc->backoff[--lc->n_backoff];
        }
        b = &lc->backoff[lc->n_backoff++];
        memset(b, 0, sizeof(*b));
        b->key = j->backoff_key;
        b->delay_ns = LC_BACKOFF_MIN_NS / 2;
    }
    b->failures++;
    b->delay_ns = b->delay_ns * 2 > LC_BACKOFF_MAX_NS ? LC_BACKOFF_MAX_NS
                                                      : b->delay_ns * 2;
    b->next_mono = sift_clock_mono_ns() + b->delay_ns;
    SIFT_ERROR("lifecycle: %s merge of %zu segments failed: %s; that merge "
               "waits %.0f s before it is tried again (failure %u)",
               j->reason, j->n_in, sift_strerror(j->rc),
               (double)b->delay_ns / 1e9, b->failures);
}

static void
backoff_clear(struct sift__lc *lc, uint64_t key)
{
    struct merge_backoff *b = backoff_find(lc, key);
    if (b)
        *b = lc->backoff[--lc->n_backoff];
}

static size_t
backing_off(const struct sift__lc *lc)
{
    size_t n = 0;
    int64_t now = sift_clock_mono_ns();
    for (size_t i = 0; i < lc->n_backoff; i++)
        n += lc->backoff[i].next_mono > now;
    return n;
}

/*
 * May this merge start now?  Not while it backs off after a failure, nor
 * when its output would not fit: its inputs' bytes (an output is rarely
 * larger) plus a margin must be free on the target tier's disk.  A held
 * merge is logged once per change of reason.
 */
static int
merge_allowed(struct sift_store *s, const struct sift_tier_action *a)
{
    struct sift__lc *lc = s->lc;
    struct merge_backoff *b =
        backoff_find(lc, merge_key(a->ids, a->n_ids, a->target_tier));
    if (b && sift_clock_mono_ns() < b->next_mono)
        return 0;
    uint64_t need = LC_SPACE_MARGIN;
    for (size_t i = 0; i < a->n_ids; i++) {
        const struct sift__entry *e = find_entry(s, a->ids[i], NULL);
        if (e)
            need += e->meta.bytes;
    }
    struct statvfs vf;
    const char *dir =
        lc->dirs[a->target_tier < SIFT_TIER_COUNT ? a->target_tier
                                                  : SIFT_TIER_HOT];
    if (statvfs(dir, &vf) == 0) {
        uint64_t avail = (uint64_t)vf.f_bavail * (uint64_t)vf.f_frsize;
        if (avail < need) {
            if (!lc->held_reason)
                SIFT_WARN("lifecycle: merges held: a %s merge needs about "
                          "%" PRIu64 " MB on %s, %" PRIu64 " MB are free "
                          "(retried as space returns)",
                          a->reason, need >> 20, dir, avail >> 20);
            lc->held_reason = "disk_space";
            lc->held_need = need;
            lc->held_free = avail;
            return 0;
        }
    }
    if (lc->held_reason) {
        SIFT_INFO("lifecycle: merges resume: %" PRIu64 " MB free",
                  lc->held_free >> 20);
        lc->held_reason = NULL;
    }
    return 1;
}

void
sift__lc_health(const struct sift_store *s, struct sift_store_health *out)
{
    const struct sift__lc *lc = s->lc;
    if (!lc)
        return;
    if (lc->held_reason) {
        out->merges_held = "disk space";
        out->merges_held_bytes = lc->held_need;
    } else if (backing_off(lc) > 0) {
        out->merges_held = "backing off after failures";
    }
}

static void
merge_done(void *arg, int cancelled)
{
    struct lc_job *j = arg;
    struct sift_store *s = j->store;
    s->jobs_inflight--;
    s->lc->merge = NULL;
    if (cancelled || j->rc < 0) {
        if (!cancelled) {
            s->lc->merge_failures++;
            backoff_fail(s->lc, j);
        }
        job_abort(s, j);
        return;
    }
    enqueue_commit(s, j);
    try_commit(s);
}

static void
start_merge(struct sift_store *s, const struct sift_tier_action *a)
{
    struct sift__lc *lc = s->lc;
    struct lc_job *j = job_new(s, JOB_MERGE, a);
    if (j->n_in == 0) {
        job_free(j);
        return;
    }
    tier_opts(s, j->tier, &j->opts);
    job_origin(j);
    j->backoff_key = merge_key(a->ids, a->n_ids, a->target_tier);
    if (j->tier == SIFT_TIER_COLD)
        j->dict_cap = (size_t)LCFG(s, cold_dict_bytes, 0);
    j->dir = sift_xstrdup(lc->dirs[j->tier]);
    /* Reserve output ids (one per day touched when split by day). */
    uint64_t n_ids = 1;
    if (j->split) {
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t i = 0; i < j->n_in; i++) {
            if (j->in_meta[i].min_ts < lo)
                lo = j->in_meta[i].min_ts;
            if (j->in_meta[i].max_ts > hi)
                hi = j->in_meta[i].max_ts;
        }
        int64_t days = hi / SIFT_NS_PER_DAY - lo / SIFT_NS_PER_DAY + 2;
        n_ids = days > 0 && days < 100000 ? (uint64_t)days : 100000;
    }
    j->mem_cap = merge_mem_cap(s);
    /* Room for every cut the merge can make: past the reserved ids it
     * would stop cutting and hold the rest of its input in one builder
     * (a 200 MB spike with a 4 MiB cap, bench_ingest backlog).  It checks
     * the cap once per 64 docs and cuts at most once per check, so
     * docs / 64 + 1 bounds the cuts; unused ids are only skipped. */
    if (j->mem_cap > 0) {
        uint64_t docs = 0;
        for (size_t i = 0; i < j->n_in; i++)
            docs += j->in_meta[i].docs;
        n_ids += docs / 64 + 1;
    }
    j->first_id = s->manifest.next_seg_id;
    j->n_ids = n_ids;
    s->manifest.next_seg_id += n_ids;
    SIFT_DEBUG("lifecycle: %s: merging %zu segments into %s", j->reason,
               j->n_in, sift__tier_name(j->tier));
    lc->merge = j;
    if (s->pool && !s->closing &&
        sift_pool_submit_class(s->pool, SIFT_POOL_BACKGROUND, merge_work,
                               merge_done, j) == SIFT_OK) {
        s->jobs_inflight++;
        return;
    }
    merge_work(j);
    s->jobs_inflight++;
    merge_done(j, 0);
}

/* ---- commit ---- */

static void
commit_work(void *arg)
{
    struct lc_job *j = arg;
    j->rc = sift__manifest_save(j->data_dir, &j->next);
}

static void
log_range(const char *what, const struct sift_manifest_seg *m)
{
    SIFT_INFO("lifecycle: %s: deleted segment %s (tier %s, %" PRIu64
              " docs, %" PRIu64 " bytes, time %" PRId64 "..%" PRId64 " ms)",
              what, m->file, sift__tier_name(m->tier), m->docs, m->bytes,
              m->min_ts / SIFT_NS_PER_MS, m->max_ts / SIFT_NS_PER_MS);
}

static void
commit_apply(struct sift_store *s, struct lc_job *j)
{
    struct sift__lc *lc = s->lc;
    uint64_t next_id = s->manifest.next_seg_id;
    sift__manifest_cleanup(&s->manifest);
    s->manifest = j->next;
    sift__manifest_init(&j->next);
    if (next_id > s->manifest.next_seg_id)
        s->manifest.next_seg_id = next_id;

    size_t at = s->n_ents;
    uint64_t docs_in = 0;
    for (size_t i = 0; i < j->n_in; i++) {
        size_t idx;
        struct sift__entry *e = find_entry(s, j->in_ids[i], &idx);
        if (!e)
            continue;
        if (idx < at)
            at = idx;
        docs_in += e->docs;
        remove_entry_at(s, idx);
        sift__store_entry_free(e);
        raw_drop(lc, j->in_ids[i]);
    }
    if (at > s->n_ents)
        at = s->n_ents;
    for (size_t i = 0; i < j->n_outs; i++) {
        struct job_out *o = &j->outs[i];
        struct sift__entry *e = sift_xcalloc(1, sizeof(*e));
        e->id = o->id;
        e->state = SIFT_ENT_DISK;
        e->seg = o->seg;
        o->seg = NULL;
        e->docs = sift_segment_doc_count(e->seg);
        e->bytes = sift_segment_bytes(e->seg);
        e->meta = o->meta;
        e->lc_full = o->full != 0;
        insert_entry_at(s, at + i, e);
        raw_set(lc, o->id, o->raw_bytes);
    }
    sift__store_publish(s);

    /* The manifest no longer lists the inputs: their files can go. */
    for (size_t i = 0; i < j->n_in; i++) {
        char path[4096], side[4200];
        sift__lc_seg_path(s, &j->in_meta[i], path, sizeof(path));
        sidecar_path(path, side, sizeof(side));
        (void)unlink(side);
        if (unlink(path) != 0 && errno != ENOENT)
            SIFT_WARN("lifecycle: cannot remove %s: %s (removed at next "
                      "start)",
                      path, strerror(errno));
        if (j->kind == JOB_DROP) {
            log_range(j->reason, &j->in_meta[i]);
            if (strcmp(j->reason, "size_cap") == 0) {
                lc->cap_segments++;
                lc->cap_bytes += j->in_meta[i].bytes;
            } else {
                lc->retention_segments++;
                lc->retention_bytes += j->in_meta[i].bytes;
                lc->retention_docs += j->in_meta[i].docs;
            }
            lc->last_retention_deleted++;
        }
    }
    if (j->kind == JOB_MERGE) {
        backoff_clear(lc, j->backoff_key);
        lc->merges++;
        lc->merge_bytes_in += j->st.bytes_in;
        lc->merge_bytes_out += j->st.bytes_out;
        lc->merge_docs += j->st.docs_in;
        lc->merge_docs_dropped += j->st.docs_dropped;
        lc->merge_ns += j->ns;
        lc->tier_moves[j->tier]++;
        SIFT_INFO("lifecycle: %s: %zu segments (%" PRIu64 " bytes) -> %zu "
                  "%s segments (%" PRIu64 " bytes), %" PRIu64 " docs, %" PRIu64
                  " deleted docs dropped, %.1f ms, builders peaked at %" PRIu64
                  " bytes (cap %" PRIu64 ", %" PRIu64 " cuts)",
                  j->reason, j->n_in, j->st.bytes_in, j->n_outs,
                  sift__tier_name(j->tier), j->st.bytes_out, j->st.docs_in,
                  j->st.docs_dropped, (double)j->ns / 1e6, j->st.builder_peak,
                  j->mem_cap, j->st.cuts);
        /* Chains of merges continue without waiting a whole interval. */
        lc->force_check = 1;
    }
    (void)docs_in;
}

static void
commit_done(void *arg, int cancelled)
{
    struct lc_job *j = arg;
    struct sift_store *s = j->store;
    struct sift__lc *lc = s->lc;
    s->jobs_inflight--;
    s->flush_running = 0;
    lc->commit_running = 0;
    if (cancelled)
        j->rc = SIFT_ESHUTDOWN;
    if (j->rc == SIFT_OK) {
        commit_apply(s, j);
        job_free(j);
    } else {
        SIFT_ERROR("lifecycle: manifest swap for %s failed: %s", j->reason,
                   sift_strerror(j->rc));
        job_abort(s, j);
    }
    if (s->waiters)
        sift__store_maybe_flush(s, 1);
    if (!s->closing) {
        try_delete(s);
        try_commit(s);
    }
}

/* Inputs still what the job read?  (A delete may have replaced one.) */
static int
job_valid(struct sift_store *s, struct lc_job *j)
{
    for (size_t i = 0; i < j->n_in; i++) {
        struct sift__entry *e = find_entry(s, j->in_ids[i], NULL);
        if (!e || e->state != SIFT_ENT_DISK || e->seg != j->in_segs[i])
            return 0;
    }
    return 1;
}

static void
try_commit(struct sift_store *s)
{
    struct sift__lc *lc = s->lc;
    while (lc->commit_head && !lc->commit_running && !s->flush_running &&
           !lc->del_running) {
        struct lc_job *j = lc->commit_head;
        lc->commit_head = j->next_job;
        if (!lc->commit_head)
            lc->commit_tail = &lc->commit_head;
        if (s->closing || !job_valid(s, j)) {
            if (!s->closing) {
                SIFT_INFO("lifecycle: %s merge voided (an input changed, "
                          "e.g. a delete); it will be planned again",
                          j->reason);
                lc->merges_aborted++;
            }
            job_abort(s, j);
            continue;
        }
        sift__manifest_copy(&j->next, &s->manifest);
        j->next.generation++;
        sift__store_note_deleted(s, &j->next);
        for (size_t i = 0; i < j->n_in; i++)
            sift__manifest_remove_seg(&j->next, j->in_ids[i]);
        for (size_t i = 0; i < j->n_outs; i++)
            sift__manifest_add_seg(&j->next, &j->outs[i].meta);
        s->flush_running = 1;
        lc->commit_running = 1;
        s->jobs_inflight++;
        if (s->pool &&
            sift_pool_submit_class(s->pool, SIFT_POOL_BUILD, commit_work,
                                   commit_done, j) == SIFT_OK)
            return;
        commit_work(j);
        commit_done(j, 0);
    }
}

/* ------------------------------------------------------------------ */
/* Policy                                                              */
/* ------------------------------------------------------------------ */

/*
 * Retention by event, not only by segment: a disk segment whose newest
 * event is young enough to keep it (so the plan does not drop it) may
 * still hold events older than the retention, say ten-day-old events
 * sent together with one fresh event, or a segment made young by a
 * future timestamp.  Those events are hidden with tombstones (a queued
 * expire op, run like a delete but without a WAL record); a segment that
 * ends up half dead is rewritten so the space returns.  Segments a
 * running job holds are left for the next check.
 */
static void
plan_expire(struct sift_store *s, const struct sift_tier_policy *p,
            const struct sift_tier_plan *plan)
{
    struct sift__lc *lc = s->lc;
    if (p->retention_ns <= 0 || lc->expire_queued || s->closing ||
        p->now_ns < INT64_MIN + p->retention_ns)
        return;
    int64_t cut = p->now_ns - p->retention_ns;
    uint64_t *ids = NULL;
    size_t n = 0;
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (e->state != SIFT_ENT_DISK || !e->seg || e->lc_busy ||
            sift_segment_doc_count(e->seg) == 0 ||
            sift_segment_min_ts(e->seg) >= cut)
            continue;
        int dropped = 0; /* the plan deletes it whole already */
        for (size_t a = 0; a < plan->n && !dropped; a++)
            for (size_t k = 0; k < plan->acts[a].n_ids && !dropped; k++)
                dropped = plan->acts[a].kind == SIFT_TIER_ACT_DELETE &&
                          plan->acts[a].ids[k] == e->id;
        if (dropped)
            continue;
        uint32_t lb = sift_segment_ts_lower_bound(e->seg, cut);
        const roaring_bitmap_t *del = sift_segment_deleted(e->seg);
        if (lb == 0 ||
            (del && roaring_bitmap_range_cardinality(del, 0, lb) == lb))
            continue; /* nothing newly expired */
        ids = sift_xrealloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = e->id;
    }
    if (n == 0)
        return;
    struct del_op *op = sift_xcalloc(1, sizeof(*op));
    op->expire = 1;
    op->from_ns = INT64_MIN;
    op->to_ns = cut;
    op->query = sift_xstrdup("");
    op->ids = ids;
    op->n_ids = n;
    op->t0_mono = sift_clock_mono_ns();
    *lc->ops_tail = op;
    lc->ops_tail = &op->next;
    lc->expire_queued = 1;
}

static void
run_policy(struct sift_store *s)
{
    struct sift__lc *lc = s->lc;
    struct sift_tier_policy p;
    policy_from_cfg(s, &p);
    lc->last_check_mono = sift_clock_mono_ns();
    lc->force_check = 0;

    size_t n = 0;
    struct sift_tier_seg *segs =
        sift_xcalloc(s->n_ents ? s->n_ents : 1, sizeof(*segs));
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (e->state != SIFT_ENT_DISK || !e->seg)
            continue;
        struct sift_tier_seg *t = &segs[n++];
        t->id = e->id;
        t->tier = e->meta.tier;
        t->busy = e->lc_busy != 0;
        t->full = e->lc_full != 0;
        t->bytes = e->meta.bytes;
        t->docs = e->meta.docs;
        t->min_ts = e->meta.min_ts;
        t->max_ts = e->meta.max_ts;
    }
    /* Forced rewrites (delete with force) go first: one segment each. */
    if (!lc->merge) {
        while (lc->n_rewrite > 0 && !lc->merge) {
            uint64_t id = lc->rewrite[--lc->n_rewrite];
            struct sift__entry *e = find_entry(s, id, NULL);
            if (!e || e->state != SIFT_ENT_DISK || e->lc_busy)
                continue;
            struct sift_tier_action a;
            memset(&a, 0, sizeof(a));
            a.kind = SIFT_TIER_ACT_MERGE;
            a.target_tier = e->meta.tier;
            a.split_by_day = 0;
            a.reason = "rewrite";
            a.n_ids = 1;
            a.ids = &id;
            if (!merge_allowed(s, &a)) {
                lc->n_rewrite++; /* keep it for the next run */
                break;
            }
            start_merge(s, &a);
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct sift__entry *e = find_entry(s, segs[i].id, NULL);
        segs[i].busy = !e || e->lc_busy; /* a rewrite may have started */
    }
    struct sift_tier_plan plan;
    sift__tier_plan(&p, segs, n, &plan);
    plan_expire(s, &p, &plan);
    lc->last_retention_ns = p.now_ns;
    lc->last_retention_deleted = 0;
    for (size_t i = 0; i < plan.n; i++) {
        const struct sift_tier_action *a = &plan.acts[i];
        if (a->kind == SIFT_TIER_ACT_DELETE) {
            struct lc_job *j = job_new(s, JOB_DROP, a);
            if (j->n_in == 0)
                job_free(j);
            else
                enqueue_commit(s, j);
        } else if (!lc->merge && !s->closing && merge_allowed(s, a)) {
            start_merge(s, a);
        }
    }
    sift__tier_plan_cleanup(&plan);
    sift_free(segs);
    try_commit(s);
}

static void
lc_tick(void *arg)
{
    struct sift_store *s = arg;
    struct sift__lc *lc = s->lc;
    if (!lc || lc->stopping || s->closing)
        return;
    try_commit(s);
    try_delete(s);
    int64_t every = LCFG(s, check_interval_ms, 10000) * SIFT_NS_PER_MS;
    if (!lc->merge && (lc->force_check ||
                       sift_clock_mono_ns() - lc->last_check_mono >= every))
        run_policy(s);
}

void
sift_store_lifecycle_run(struct sift_store *s)
{
    if (!s->lc || s->closing)
        return;
    try_commit(s);
    try_delete(s);
    run_policy(s);
}

int
sift_store_lifecycle_busy(const struct sift_store *s)
{
    const struct sift__lc *lc = s->lc;
    if (!lc)
        return 0;
    return lc->merge != NULL || lc->commit_head != NULL || lc->commit_running ||
           lc->ops_head != NULL || lc->del_running || lc->reqs != NULL ||
           lc->force_check || lc->n_rewrite > 0;
}

/* ------------------------------------------------------------------ */
/* Delete-by-query                                                     */
/* ------------------------------------------------------------------ */

/* ---- document keys (replace records) ---- */

/*
 * The delete half of a replace record is a "query" of its own: the marker
 * below, then per key a varint length and the bytes of _index, the same
 * for _id.  It travels like a query (WAL, journal, tombstone rebuild), and
 * every delete matcher call checks for it first (del_work; the tombstone
 * rebuild through sift__lc_match_keys()): keys match bytes exactly, where
 * keyword terms are case-folded.
 */
#define KEYS_MARKER "\x01keys\x01"
#define KEYS_MARKER_LEN 6

static int
is_keys(const char *q, size_t len)
{
    return len >= KEYS_MARKER_LEN &&
           memcmp(q, KEYS_MARKER, KEYS_MARKER_LEN) == 0;
}

/* The value of field f of doc d equals v[0..vl) exactly. */
static int
doc_field_is(const struct sift_segment *seg, uint32_t d, const char *name,
             const char *v, size_t vl, struct sift_buf *tmp,
             struct sift_arena *a, int *rc)
{
    sift_buf_reset(tmp);
    sift_arena_reset(a);
    struct sift_event ev;
    *rc = sift_segment_doc(seg, d, tmp);
    if (*rc == SIFT_OK)
        *rc = sift_doc_decode((const uint8_t *)tmp->data, tmp->len, a, &ev);
    if (*rc != SIFT_OK)
        return 0;
    const struct sift_field *f = sift_event_field(&ev, name, strlen(name));
    return f && f->value_len == vl && memcmp(f->value, v, vl) == 0;
}

/* Adds to acc the live docs of seg whose _index and _id are exactly
 * index[0..il) and id[0..dl).  tmp and a are scratch. */
static int
key_docs(const struct sift_segment *seg, int fid, const char *index, size_t il,
         const char *id, size_t dl, struct sift_buf *tmp, struct sift_arena *a,
         roaring_bitmap_t *acc)
{
    char low[4096];
    if (dl > sizeof(low))
        return SIFT_OK; /* no keyword term is that long */
    sift_ascii_lower(id, dl, low);
    roaring_bitmap_t *bm = NULL;
    int rc = sift_segment_postings(seg, (uint32_t)fid, low, dl, &bm);
    if (rc < 0 || !bm)
        return rc < 0 ? rc : SIFT_OK;
    const roaring_bitmap_t *del = sift_segment_deleted(seg);
    roaring_uint32_iterator_t *it = roaring_create_iterator(bm);
    for (; it && it->has_value && rc == SIFT_OK;
         roaring_advance_uint32_iterator(it)) {
        uint32_t d = it->current_value;
        if (del && roaring_bitmap_contains(del, d))
            continue;
        /* Keyword terms are case-folded: the stored bytes decide. */
        if (doc_field_is(seg, d, "_id", id, dl, tmp, a, &rc) &&
            doc_field_is(seg, d, "_index", index, il, tmp, a, &rc))
            roaring_bitmap_add(acc, d);
    }
    roaring_free_uint32_iterator(it);
    roaring_bitmap_free(bm);
    return rc;
}

/* Docs of seg whose _index and _id are one of the keys in q (see above). */
static int
match_keys(struct sift_segment *seg, const char *q, size_t len,
           roaring_bitmap_t **out)
{
    const uint8_t *p = (const uint8_t *)q + KEYS_MARKER_LEN;
    const uint8_t *end = (const uint8_t *)q + len;
    *out = roaring_bitmap_create();
    if (!*out)
        return SIFT_ENOMEM;
    int fid = sift_segment_field_find(seg, "_id", 3);
    if (fid < 0)
        return SIFT_OK;
    struct sift_buf tmp = SIFT_BUF_INIT;
    struct sift_arena *a = sift_arena_new(4096);
    int rc = SIFT_OK;
    while (p < end && rc == SIFT_OK) {
        uint64_t il, dl;
        if (sift_get_varint(&p, end, &il) < 0 || il > (uint64_t)(end - p)) {
            rc = SIFT_EPARSE;
            break;
        }
        const char *index = (const char *)p;
        p += il;
        if (sift_get_varint(&p, end, &dl) < 0 || dl > (uint64_t)(end - p)) {
            rc = SIFT_EPARSE;
            break;
        }
        const char *id = (const char *)p;
        p += dl;
        rc = key_docs(seg, fid, index, (size_t)il, id, (size_t)dl, &tmp, a,
                      *out);
    }
    sift_buf_cleanup(&tmp);
    sift_arena_free(a);
    if (rc < 0) {
        roaring_bitmap_free(*out);
        *out = NULL;
    }
    return rc;
}

int
sift_store_keys_find(struct sift_segment *const *segs, size_t n,
                     const struct sift_doc_key *keys, size_t n_keys,
                     uint8_t *found)
{
    memset(found, 0, n_keys);
    struct sift_buf tmp = SIFT_BUF_INIT;
    struct sift_arena *a = sift_arena_new(4096);
    roaring_bitmap_t *acc = roaring_bitmap_create();
    int rc = acc ? SIFT_OK : SIFT_ENOMEM;
    for (size_t i = 0; i < n && rc == SIFT_OK; i++) {
        int fid = sift_segment_field_find(segs[i], "_id", 3);
        if (fid < 0)
            continue;
        for (size_t k = 0; k < n_keys && rc == SIFT_OK; k++) {
            if (found[k])
                continue;
            roaring_bitmap_clear(acc);
            rc = key_docs(segs[i], fid, keys[k].index, keys[k].index_len,
                          keys[k].id, keys[k].id_len, &tmp, a, acc);
            found[k] = !roaring_bitmap_is_empty(acc);
        }
    }
    roaring_bitmap_free(acc);
    sift_buf_cleanup(&tmp);
    sift_arena_free(a);
    return rc;
}

int
sift__lc_match_keys(struct sift_segment *seg, const char *query, size_t len,
                    roaring_bitmap_t **out)
{
    if (!is_keys(query, len))
        return SIFT_ENOTFOUND;
    if (!seg)
        return SIFT_OK;
    return match_keys(seg, query, len, out);
}

void
sift__lc_replace_encode_keys(const struct sift_doc_key *keys, size_t n,
                             struct sift_buf *out)
{
    struct sift_buf q = SIFT_BUF_INIT;
    sift_buf_append(&q, KEYS_MARKER, KEYS_MARKER_LEN);
    for (size_t i = 0; i < n; i++) {
        sift_buf_put_varint(&q, keys[i].index_len);
        sift_buf_append(&q, keys[i].index, keys[i].index_len);
        sift_buf_put_varint(&q, keys[i].id_len);
        sift_buf_append(&q, keys[i].id, keys[i].id_len);
    }
    sift_buf_putc(out, (char)SIFT_LC_REPLACE_KIND);
    sift_buf_putc(out, LC_DEL_VERSION);
    sift_buf_put_varint(out, q.len);
    sift_buf_append(out, q.data, q.len);
    sift_buf_cleanup(&q);
}

/* ---- the built-in matcher ---- */

struct tok_and {
    const struct sift_segment *seg;
    uint32_t field;
    roaring_bitmap_t *acc;
    int rc;
};

static int
and_token(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct tok_and *t = arg;
    (void)pos;
    (void)off;
    roaring_bitmap_t *bm = NULL;
    t->rc = sift_segment_postings(t->seg, t->field, tok, len, &bm);
    if (t->rc < 0)
        return 1;
    if (!bm) {
        roaring_bitmap_clear(t->acc);
        return 1;
    }
    roaring_bitmap_and_inplace(t->acc, bm);
    roaring_bitmap_free(bm);
    return roaring_bitmap_is_empty(t->acc);
}

/* acc &= docs matching one "field:value" or bare word. */
static int
match_term(struct sift_segment *seg, const char *w, size_t wl,
           roaring_bitmap_t *acc)
{
    const char *colon = memchr(w, ':', wl);
    const char *fname = SIFT_MESSAGE_FIELD, *val = w;
    size_t flen = strlen(SIFT_MESSAGE_FIELD), vlen = wl;
    if (colon && colon > w && colon + 1 < w + wl) {
        fname = w;
        flen = (size_t)(colon - w);
        val = colon + 1;
        vlen = wl - flen - 1;
    }
    int f = sift_segment_field_find(seg, fname, flen);
    if (f < 0) {
        roaring_bitmap_clear(acc);
        return SIFT_OK;
    }
    unsigned flags = 0;
    uint32_t n_terms;
    (void)sift_segment_field_info(seg, (uint32_t)f, &flags, &n_terms);
    if (flags & SIFT_SEGF_TEXT) {
        struct tok_and t = {seg, (uint32_t)f, acc, SIFT_OK};
        if (sift_tokenize(val, vlen, and_token, &t) == 0)
            roaring_bitmap_clear(acc);
        return t.rc;
    }
    char *low = sift_try_malloc(vlen + 1);
    if (!low)
        return SIFT_ENOMEM;
    sift_ascii_lower(val, vlen, low);
    roaring_bitmap_t *bm = NULL;
    int rc = sift_segment_postings(seg, (uint32_t)f, low, vlen, &bm);
    sift_free(low);
    if (rc < 0)
        return rc;
    if (!bm) {
        roaring_bitmap_clear(acc);
        return SIFT_OK;
    }
    roaring_bitmap_and_inplace(acc, bm);
    roaring_bitmap_free(bm);
    return SIFT_OK;
}

int
sift_store_match_simple(struct sift_segment *seg, const char *query, size_t len,
                        int64_t from_ns, int64_t to_ns, roaring_bitmap_t **out)
{
    if (!seg)
        return len <= LC_MAX_QUERY ? SIFT_OK : SIFT_EPARSE;
    *out = NULL;
    uint32_t lo = sift_segment_ts_lower_bound(seg, from_ns);
    uint32_t hi = to_ns == INT64_MAX ? sift_segment_doc_count(seg)
                                     : sift_segment_ts_lower_bound(seg, to_ns);
    roaring_bitmap_t *acc = lo < hi ? roaring_bitmap_from_range(lo, hi, 1)
                                    : roaring_bitmap_create();
    if (!acc)
        return SIFT_ENOMEM;
    size_t i = 0;
    int rc = SIFT_OK;
    while (i < len && rc == SIFT_OK && !roaring_bitmap_is_empty(acc)) {
        while (i < len && (query[i] == ' ' || query[i] == '\t'))
            i++;
        size_t j = i;
        while (j < len && query[j] != ' ' && query[j] != '\t')
            j++;
        if (j > i)
            rc = match_term(seg, query + i, j - i, acc);
        i = j;
    }
    if (rc < 0) {
        roaring_bitmap_free(acc);
        return rc;
    }
    *out = acc;
    return SIFT_OK;
}

/* ---- the WAL record ---- */

/*
 * Delete record payload (after the store's WAL framing):
 *   u8 'D', u8 version (1), u8 flags (bit 0 = force rewrite, bit 1 = dry
 *   run: counted when live, skipped on replay),
 *   zvarint from_ns, zvarint to_ns, varint query_len, query bytes.
 */
static uint64_t
zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t
unzz(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static void
encode_delete(struct sift_buf *b, const char *q, size_t len, int64_t from,
              int64_t to, unsigned flags)
{
    sift_buf_putc(b, (char)SIFT_LC_DELETE_KIND);
    sift_buf_putc(b, LC_DEL_VERSION);
    sift_buf_putc(
        b, (char)(flags & (SIFT_DELETE_FORCE_REWRITE | SIFT_DELETE_DRY_RUN)));
    sift_buf_put_varint(b, zz(from));
    sift_buf_put_varint(b, zz(to));
    sift_buf_put_varint(b, len);
    sift_buf_append(b, q, len);
}

static int
decode_delete(const uint8_t *p, size_t len, struct del_op *op)
{
    const uint8_t *end = p + len;
    uint64_t from, to, ql;
    if (len < 3 || p[0] != SIFT_LC_DELETE_KIND || p[1] != LC_DEL_VERSION ||
        p[2] > (SIFT_DELETE_FORCE_REWRITE | SIFT_DELETE_DRY_RUN))
        return SIFT_CORRUPT_BKPT("delete record header");
    op->force = (p[2] & SIFT_DELETE_FORCE_REWRITE) != 0;
    op->dry = (p[2] & SIFT_DELETE_DRY_RUN) != 0;
    p += 3;
    if (sift_get_varint(&p, end, &from) < 0 ||
        sift_get_varint(&p, end, &to) < 0 ||
        sift_get_varint(&p, end, &ql) < 0 || ql != (uint64_t)(end - p) ||
        ql > LC_MAX_QUERY)
        return SIFT_CORRUPT_BKPT("delete record body");
    op->from_ns = unzz(from);
    op->to_ns = unzz(to);
    op->query = sift_xmalloc(ql + 1);
    memcpy(op->query, p, (size_t)ql);
    op->query[ql] = '\0';
    op->qlen = (size_t)ql;
    return SIFT_OK;
}

/* ---- the job ---- */

static int
add_doc_cb(const struct sift_event *ev, void *arg)
{
    return sift_segment_builder_add(arg, ev) == SIFT_OK ? 0 : 1;
}

/* A replace record's own docs, built into the segment it adds. */
static int
build_batch(struct del_job *j)
{
    const struct del_op *op = j->op;
    struct sift_arena *a = sift_arena_new(64 << 10);
    struct sift__batch_visitor v = {NULL, add_doc_cb, j->builder};
    int rc = sift__store_batch_decode(op->batch, op->batch_len, a, &v);
    sift_arena_free(a);
    if (rc == SIFT_OK && sift_segment_builder_count(j->builder) > 0) {
        sift__store_set_origin(j->builder, op->seq);
        struct sift_buf img = SIFT_BUF_INIT;
        rc = sift_segment_builder_finish(j->builder, &img);
        if (rc == SIFT_OK) {
            size_t l;
            char *data = sift_buf_detach_fit(&img, &l);
            rc = sift_segment_open_mem(data, l, &j->added);
        }
        sift_buf_cleanup(&img);
    }
    return rc > 0 ? SIFT_ENOMEM : rc;
}

static void
del_work(void *arg)
{
    struct del_job *j = arg;
    const struct del_op *op = j->op;
    int rc = SIFT_OK;
    char dirs_to_sync[SIFT_TIER_COUNT][4096];
    unsigned n_dirs = 0;

    /* The journal first: a sidecar never holds a delete the journal
     * could not give back if the sidecar were lost. */
    if (!op->dry && !op->expire && j->journal)
        rc = sift__journal_append(j->journal, op->seq, op->from_ns, op->to_ns,
                                  op->query, op->qlen);
    if (rc == SIFT_OK && op->replace)
        rc = build_batch(j);
    for (size_t i = 0; i < j->n && rc == SIFT_OK; i++) {
        struct del_target *t = &j->t[i];
        roaring_bitmap_t *m = NULL;
        if (op->expire) {
            /* Docs are in time order: the expired ones are a prefix. */
            uint32_t lb = sift_segment_ts_lower_bound(t->seg, op->to_ns);
            m = lb ? roaring_bitmap_from_range(0, lb, 1)
                   : roaring_bitmap_create();
            rc = m ? SIFT_OK : SIFT_ENOMEM;
        } else {
            rc = is_keys(op->query, op->qlen)
                     ? match_keys(t->seg, op->query, op->qlen, &m)
                     : j->match(t->seg, op->query, op->qlen, op->from_ns,
                                op->to_ns, &m);
        }
        if (rc < 0)
            break;
        if (!m)
            continue;
        const roaring_bitmap_t *old = sift_segment_deleted(t->seg);
        if (old)
            roaring_bitmap_andnot_inplace(m, old);
        t->matched = roaring_bitmap_get_cardinality(m);
        if (t->matched == 0) {
            roaring_bitmap_free(m);
            continue;
        }
        j->matched += t->matched;
        if (op->dry) {
            roaring_bitmap_free(m);
            continue;
        }
        if (old)
            roaring_bitmap_or_inplace(m, old);
        t->changed = 1;
        if (t->disk) {
            rc = sift__tomb_save(t->path, m, sift_segment_doc_count(t->seg));
            if (rc < 0) {
                SIFT_ERROR("lifecycle: writing tombstones %s: %s", t->path,
                           sift_strerror(rc));
                roaring_bitmap_free(m);
                break;
            }
            char dir[4096];
            snprintf(dir, sizeof(dir), "%s", t->path);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            unsigned k = 0;
            while (k < n_dirs && strcmp(dirs_to_sync[k], dir) != 0)
                k++;
            if (k == n_dirs && n_dirs < SIFT_TIER_COUNT)
                memcpy(dirs_to_sync[n_dirs++], dir, sizeof(dir));
            rc = sift_segment_with_deleted(t->seg, m, &t->out);
            continue;
        }
        /* In memory: rebuild without the docs (a flush writes the image). */
        struct sift_segment *tomb;
        rc = sift_segment_with_deleted(t->seg, m, &tomb);
        if (rc < 0)
            break;
        struct sift_merge_out *outs = NULL;
        size_t n_outs = 0;
        /* The rebuilt image keeps the origin of the one it replaces. */
        struct sift_segment_opts hot = j->hot;
        hot.origin = sift_segment_origin(t->seg);
        rc = sift__segment_merge(&tomb, 1, &hot, 0, 0, 1, &outs, &n_outs, NULL);
        sift_segment_unref(tomb);
        if (rc == SIFT_OK && n_outs == 1) {
            size_t l;
            char *img = sift_buf_detach_fit(&outs[0].img, &l);
            rc = sift_segment_open_mem(img, l, &t->out);
        }
        sift__merge_outs_free(outs, n_outs);
    }
    for (unsigned k = 0; k < n_dirs && rc == SIFT_OK; k++)
        rc = sift_file_fsync_dir(dirs_to_sync[k]);
    j->rc = rc;
}

static void
del_job_free(struct del_job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        sift_segment_unref(j->t[i].seg);
        sift_segment_unref(j->t[i].out);
    }
    if (j->builder)
        sift_segment_builder_free(j->builder);
    sift_segment_unref(j->added);
    sift_free(j->t);
    sift_free(j);
}

static void
del_apply(struct sift_store *s, struct del_job *j)
{
    struct sift__lc *lc = s->lc;
    struct del_op *op = j->op;
    for (size_t i = 0; i < j->n; i++) {
        struct del_target *t = &j->t[i];
        if (!t->changed)
            continue;
        struct sift__entry *e = find_entry(s, t->id, NULL);
        if (!e || e->seg != t->seg)
            continue; /* cannot happen under the manifest lock */
        sift_segment_unref(e->seg);
        e->seg = t->out;
        t->out = NULL;
        int half_dead = 0;
        if (op->expire && e->seg) {
            const roaring_bitmap_t *del = sift_segment_deleted(e->seg);
            uint64_t dead = del ? roaring_bitmap_get_cardinality(del) : 0;
            half_dead = dead * 2 >= sift_segment_doc_count(e->seg);
        }
        if (!t->disk) {
            e->docs = e->seg ? sift_segment_doc_count(e->seg) : 0;
            e->bytes = e->seg ? sift_segment_bytes(e->seg) : 0;
        } else if ((op->force || half_dead) && lc->started) {
            lc->rewrite = sift_xrealloc(lc->rewrite, (lc->n_rewrite + 1) *
                                                         sizeof(*lc->rewrite));
            lc->rewrite[lc->n_rewrite++] = e->id;
            lc->force_check = 1;
        }
    }
    if (op->replace) {
        /* Its docs join in the same publish that hides what they replace. */
        if (j->added) {
            sift__store_insert_entry(s, op->seq, j->added);
            j->added = NULL;
        }
        sift__store_publish(s);
        lc->replaced_docs += j->matched;
        SIFT_DEBUG("lifecycle: replace (WAL seq %" PRIu64 "): %" PRIu64
                   " stored documents replaced",
                   op->seq, j->matched);
        return;
    }
    sift__store_publish(s);
    if (op->expire) {
        lc->expired_docs += j->matched;
        if (j->matched) {
            char before[SIFT_TIME_RFC3339_MAX];
            sift_time_print_rfc3339(op->to_ns, 3, before, sizeof(before));
            SIFT_INFO("lifecycle: retention: %" PRIu64 " events older than "
                      "%s hidden in segments that also hold younger ones "
                      "(%zu checked)",
                      j->matched, before, j->n);
        }
        return;
    }
    lc->deletes++;
    lc->deleted_docs += j->matched;
    /* The range as people read it: RFC 3339 ends, "open" for none. */
    char from[SIFT_TIME_RFC3339_MAX] = "open",
         to[SIFT_TIME_RFC3339_MAX] = "open";
    if (op->from_ns != INT64_MIN)
        sift_time_print_rfc3339(op->from_ns, 3, from, sizeof(from));
    if (op->to_ns != INT64_MAX)
        sift_time_print_rfc3339(op->to_ns, 3, to, sizeof(to));
    SIFT_INFO("lifecycle: delete (WAL seq %" PRIu64 ") query \"%s\" from %s "
              "to %s: %" PRIu64 " events deleted in %zu segments, %.1f ms",
              op->seq, op->query, from, to, j->matched, j->n,
              (double)(sift_clock_mono_ns() - op->t0_mono) / 1e6);
}

static void
del_finish(struct sift_store *s, struct del_job *j)
{
    struct sift__lc *lc = s->lc;
    struct del_op *op = j->op;
    lc->del_running = 0;
    s->flush_running = 0;
    if (op->expire) {
        /* Not in the WAL: the next policy run computes it again. */
        if (j->rc == SIFT_OK)
            del_apply(s, j);
        else
            SIFT_ERROR("lifecycle: retention: hiding expired events failed: "
                       "%s; retrying at the next check",
                       sift_strerror(j->rc));
        lc->ops_head = op->next;
        if (!lc->ops_head)
            lc->ops_tail = &lc->ops_head;
        lc->expire_queued = 0;
        op_free(op);
    } else if (op->dry) {
        /* Nothing changed: answer and drop it, success or not. */
        SIFT_INFO("lifecycle: delete dry run (WAL seq %" PRIu64 ") query "
                  "\"%s\": %" PRIu64 " events would be deleted (%s)",
                  op->seq, op->query, j->matched,
                  j->rc == SIFT_OK ? "ok" : sift_strerror(j->rc));
        lc->ops_head = op->next;
        if (!lc->ops_head)
            lc->ops_tail = &lc->ops_head;
        if (op->cb)
            op->cb(op->arg, j->rc, j->rc == SIFT_OK ? j->matched : 0);
        op_free(op);
    } else if (j->rc == SIFT_OK) {
        del_apply(s, j);
        lc->ops_head = op->next;
        if (!lc->ops_head)
            lc->ops_tail = &lc->ops_head;
        if (op->cb)
            op->cb(op->arg, SIFT_OK, j->matched);
        op_free(op);
    } else {
        /* Durable in the WAL: keep it first in line and retry. */
        SIFT_ERROR("lifecycle: delete (WAL seq %" PRIu64 ") failed: %s; "
                   "retrying",
                   op->seq, sift_strerror(j->rc));
        if (op->cb)
            op->cb(op->arg, j->rc, 0);
        op->cb = NULL;
        op->retry_mono = sift_clock_mono_ns() + 5 * SIFT_NS_PER_SEC;
    }
    del_job_free(j);
    if (lc->started && (s->waiters || (!lc->ops_head && !s->closing)))
        sift__store_maybe_flush(s, s->waiters != NULL);
}

static void
del_done(void *arg, int cancelled)
{
    struct del_job *j = arg;
    struct sift_store *s = j->store;
    s->jobs_inflight--;
    if (cancelled)
        j->rc = SIFT_ESHUTDOWN;
    del_finish(s, j);
    if (!s->closing) {
        try_commit(s);
        try_delete(s);
    }
}

/* Starts the oldest delete when everything it must see is in place. */
static void
try_delete(struct sift_store *s)
{
    struct sift__lc *lc = s->lc;
    struct del_op *op = lc->ops_head;
    if (!op || lc->del_running || lc->commit_running || s->flush_running)
        return;
    if ((lc->stopping && lc->started) ||
        (op->retry_mono && sift_clock_mono_ns() < op->retry_mono))
        return;
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (e->state == SIFT_ENT_BUILDING && e->max_seq <= op->seq)
            return; /* older docs not searchable yet: wait */
    }
    struct del_job *j = sift_xcalloc(1, sizeof(*j));
    j->store = s;
    j->op = op;
    j->match = s->match;
    if (op->replace)
        j->builder = sift__store_new_builder(s);
    j->journal = s->journal;
    tier_opts(s, SIFT_TIER_HOT, &j->hot);
    j->t = sift_xcalloc(s->n_ents ? s->n_ents : 1, sizeof(*j->t));
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (!e->seg)
            continue;
        int disk = e->state == SIFT_ENT_DISK;
        if (op->expire) {
            /* Only the planned disk segments, and none a merge holds: a
             * tombstone would void that merge. */
            size_t k = 0;
            while (k < op->n_ids && op->ids[k] != e->id)
                k++;
            if (!disk || e->lc_busy || k == op->n_ids)
                continue;
        }
        if (!disk && (e->max_seq == 0 || e->max_seq > op->seq))
            continue; /* newer than the delete */
        struct del_target *t = &j->t[j->n++];
        t->id = e->id;
        t->disk = disk;
        t->seg = sift_segment_ref(e->seg);
        if (disk) {
            char path[4096];
            sift__lc_seg_path(s, &e->meta, path, sizeof(path));
            sidecar_path(path, t->path, sizeof(t->path));
        }
    }
    lc->del_running = 1;
    s->flush_running = 1; /* manifest lock: no flush rewrites these */
    s->jobs_inflight++;
    if (lc->started && s->pool && !s->closing &&
        sift_pool_submit_class(s->pool, SIFT_POOL_BUILD, del_work, del_done,
                               j) == SIFT_OK)
        return;
    del_work(j);
    del_done(j, 0);
}

int
sift__lc_delete_record(struct sift_store *s, uint64_t seq,
                       const uint8_t *payload, size_t len)
{
    struct sift__lc *lc = s->lc;
    struct del_op *op = sift_xcalloc(1, sizeof(*op));
    int rc = decode_delete(payload, len, op);
    if (rc < 0) {
        sift_free(op);
        return rc;
    }
    op->seq = seq;
    op->t0_mono = sift_clock_mono_ns();
    for (struct del_req **pp = &lc->reqs; *pp; pp = &(*pp)->next) {
        if ((*pp)->seq == seq) {
            struct del_req *r = *pp;
            op->cb = r->cb;
            op->arg = r->arg;
            r->cb = NULL; /* the op answers from now on */
            break;
        }
    }
    /* The record's seq counts as buffered so flushed_seq can pass it. */
    if (s->buf_min_seq == 0)
        s->buf_min_seq = seq;
    if (seq > s->buf_max_seq)
        s->buf_max_seq = seq;
    if (op->dry && !op->cb) {
        /* Replayed, or nobody waits for the count: nothing to do. */
        op_free(op);
        return SIFT_OK;
    }
    /* Everything older than the delete becomes a sealed entry. */
    sift__store_seal(s, !lc->started);
    *lc->ops_tail = op;
    lc->ops_tail = &op->next;
    try_delete(s);
    return SIFT_OK;
}

int
sift__lc_blocks_flush(const struct sift_store *s)
{
    return s->lc != NULL && s->lc->ops_head != NULL;
}

uint64_t
sift__lc_pending_seq(const struct sift_store *s)
{
    if (!s->lc)
        return 0;
    for (const struct del_op *op = s->lc->ops_head; op; op = op->next)
        if (op->seq && !op->dry)
            return op->seq;
    return s->lc->reqs ? s->lc->reqs->seq : 0;
}

int
sift__lc_replace_record(struct sift_store *s, uint64_t seq,
                        const uint8_t *payload, size_t len)
{
    struct sift__lc *lc = s->lc;
    const uint8_t *p = payload, *end = payload + len;
    uint64_t ql;
    if (len < 3 || p[0] != SIFT_LC_REPLACE_KIND || p[1] != LC_DEL_VERSION)
        return SIFT_CORRUPT_BKPT("replace record header");
    p += 2;
    if (sift_get_varint(&p, end, &ql) < 0 || ql > (uint64_t)(end - p) ||
        ql > LC_MAX_QUERY || !is_keys((const char *)p, (size_t)ql))
        return SIFT_CORRUPT_BKPT("replace record keys");
    struct del_op *op = sift_xcalloc(1, sizeof(*op));
    op->replace = 1;
    op->seq = seq;
    op->from_ns = INT64_MIN;
    op->to_ns = INT64_MAX;
    op->query = sift_xmalloc(ql + 1);
    memcpy(op->query, p, (size_t)ql);
    op->query[ql] = '\0';
    op->qlen = (size_t)ql;
    p += ql;
    op->batch_len = (size_t)(end - p);
    op->batch = sift_xmalloc(op->batch_len ? op->batch_len : 1);
    memcpy(op->batch, p, op->batch_len);
    op->t0_mono = sift_clock_mono_ns();
    /* Everything older becomes a sealed entry; the record's own docs
     * become one when the op is applied (they never enter the buffer). */
    sift__store_seal(s, !lc->started);
    *lc->ops_tail = op;
    lc->ops_tail = &op->next;
    try_delete(s);
    return SIFT_OK;
}

static void
delete_durable(void *arg, int rc)
{
    struct del_req *r = arg;
    struct sift_store *s = r->store;
    if (s && s->lc) {
        for (struct del_req **pp = &s->lc->reqs; *pp; pp = &(*pp)->next) {
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        }
    }
    /* On success the op took the callback over; on failure answer here. */
    if (r->cb)
        r->cb(r->arg, rc < 0 ? rc : SIFT_ESHUTDOWN, 0);
    sift_free(r);
}

int
sift_store_delete(struct sift_store *s, const char *query, size_t len,
                  int64_t from_ns, int64_t to_ns, unsigned flags,
                  sift_delete_cb cb, void *arg)
{
    if (!s->lc || s->closing)
        return SIFT_ESHUTDOWN;
    if (len > LC_MAX_QUERY || from_ns >= to_ns)
        return SIFT_EINVAL;
    int rc = s->match(NULL, query, len, from_ns, to_ns, NULL);
    if (rc < 0)
        return rc;
    struct sift_buf b = SIFT_BUF_INIT;
    encode_delete(&b, query, len, from_ns, to_ns, flags);
    struct del_req *r = sift_xcalloc(1, sizeof(*r));
    r->cb = cb;
    r->arg = arg;
    r->store = s;
    rc = sift__store_append_raw(s, b.data, b.len, delete_durable, r, &r->seq);
    sift_buf_cleanup(&b);
    if (rc < 0) {
        sift_free(r);
        return rc;
    }
    r->next = s->lc->reqs;
    s->lc->reqs = r;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Visibility                                                          */
/* ------------------------------------------------------------------ */

struct tier_sum {
    uint64_t segments, docs, live, bytes, raw, raw_bytes_of;
    int64_t min_ts, max_ts;
};

static void
sum_tiers(struct sift_store *s, struct tier_sum *t, struct tier_sum *mem)
{
    memset(t, 0, sizeof(*t) * SIFT_TIER_COUNT);
    memset(mem, 0, sizeof(*mem));
    for (unsigned i = 0; i < SIFT_TIER_COUNT; i++) {
        t[i].min_ts = INT64_MAX;
        t[i].max_ts = INT64_MIN;
    }
    mem->min_ts = INT64_MAX;
    mem->max_ts = INT64_MIN;
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (!e->seg)
            continue;
        struct tier_sum *x = e->state == SIFT_ENT_DISK && e->meta.tier < 3
                                 ? &t[e->meta.tier]
                                 : mem;
        const roaring_bitmap_t *del = sift_segment_deleted(e->seg);
        uint64_t docs = sift_segment_doc_count(e->seg);
        x->segments++;
        x->docs += docs;
        x->live += docs - (del ? roaring_bitmap_get_cardinality(del) : 0);
        x->bytes += sift_segment_bytes(e->seg);
        uint64_t raw = s->lc ? raw_get(s->lc, e->id) : 0;
        if (raw) {
            x->raw += raw;
            x->raw_bytes_of += sift_segment_bytes(e->seg);
        }
        if (docs) {
            if (sift_segment_min_ts(e->seg) < x->min_ts)
                x->min_ts = sift_segment_min_ts(e->seg);
            if (sift_segment_max_ts(e->seg) > x->max_ts)
                x->max_ts = sift_segment_max_ts(e->seg);
        }
    }
}

static void
tier_stats(struct sift_tier_stats *out, const char *name,
           const struct tier_sum *t, const char *dir)
{
    out->name = name;
    out->path = dir;
    out->segments = t->segments;
    out->docs = t->live;
    out->deleted_docs = t->docs - t->live;
    out->bytes = t->bytes;
    out->has_range = t->docs && t->min_ts <= t->max_ts;
    out->min_ts_ns = out->has_range ? t->min_ts : 0;
    out->max_ts_ns = out->has_range ? t->max_ts : 0;
    out->has_ratio = t->raw && t->raw_bytes_of;
    out->compression_ratio =
        out->has_ratio ? (double)t->raw / (double)t->raw_bytes_of : 0;
}

void
sift_store_tiers(struct sift_store *s, struct sift_store_tiers *out)
{
    struct tier_sum t[SIFT_TIER_COUNT], mem;
    struct sift__lc *lc = s->lc;
    memset(out, 0, sizeof(*out));
    sum_tiers(s, t, &mem);
    tier_stats(&out->tier[0], "memory", &mem, NULL);
    for (unsigned i = 0; i < SIFT_TIER_COUNT; i++)
        tier_stats(&out->tier[i + 1], sift__tier_name(i), &t[i],
                   sift__lc_tier_dir(s, i));
    if (!lc)
        return;
    out->running = 1;
    for (const struct lc_job *j = lc->commit_head; j; j = j->next_job)
        out->pending_commits++;
    for (const struct del_op *op = lc->ops_head; op; op = op->next)
        out->deletes_pending++;
    if (lc->merge) {
        out->merging = 1;
        out->merge_reason = lc->merge->reason;
        out->merge_target = sift__tier_name(lc->merge->tier);
        out->merge_inputs = lc->merge->n_in;
    }
    out->pending_rewrites = lc->n_rewrite;
    out->merges_done = lc->merges;
    out->merges_aborted = lc->merges_aborted;
    out->merges_failed = lc->merge_failures;
    out->merge_bytes_in = lc->merge_bytes_in;
    out->merge_bytes_out = lc->merge_bytes_out;
    out->merge_docs = lc->merge_docs;
    out->merge_deleted_docs_dropped = lc->merge_docs_dropped;
    out->merge_ns = lc->merge_ns;
    out->to_warm = lc->tier_moves[SIFT_TIER_WARM];
    out->to_cold = lc->tier_moves[SIFT_TIER_COLD];
    out->last_retention_ns = lc->last_retention_ns;
    out->last_run_deleted_segments = lc->last_retention_deleted;
    out->deleted_segments = lc->retention_segments;
    out->deleted_bytes = lc->retention_bytes;
    out->size_cap_deleted_segments = lc->cap_segments;
    out->size_cap_deleted_bytes = lc->cap_bytes;
    out->expired_events = lc->expired_docs;
    out->deletes_done = lc->deletes;
    out->deleted_events = lc->deleted_docs;
}

void
sift_store_tiers_metrics(struct sift_buf *out, void *arg)
{
    struct sift_store *s = arg;
    struct tier_sum t[SIFT_TIER_COUNT], mem;
    struct sift__lc *lc = s->lc;
    sum_tiers(s, t, &mem);
    static const struct {
        const char *name, *help;
        size_t off;
    } fams[] = {
        {"sift_tier_segments", "Segments per tier (memory = not flushed).",
         offsetof(struct tier_sum, segments)},
        {"sift_tier_docs", "Live (not deleted) docs per tier.",
         offsetof(struct tier_sum, live)},
        {"sift_tier_bytes", "Segment bytes per tier.",
         offsetof(struct tier_sum, bytes)},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        sift_metrics_family(out, fams[f].name, SIFT_METRIC_GAUGE, fams[f].help);
        for (unsigned i = 0; i <= SIFT_TIER_COUNT; i++) {
            const struct tier_sum *x = i < SIFT_TIER_COUNT ? &t[i] : &mem;
            uint64_t v;
            memcpy(&v, (const char *)x + fams[f].off, sizeof(v));
            const char *labels[] = {
                "tier", i < SIFT_TIER_COUNT ? sift__tier_name(i) : "memory",
                NULL};
            sift_metrics_sample(out, fams[f].name, labels, (double)v);
        }
    }
    if (!lc)
        return;
    sift_metrics_family(out, "sift_merges_total", SIFT_METRIC_COUNTER,
                        "Merges committed (incl. tier moves).");
    sift_metrics_sample(out, "sift_merges_total", NULL, (double)lc->merges);
    sift_metrics_family(out, "sift_merge_bytes_written_total",
                        SIFT_METRIC_COUNTER, "Bytes written by merges.");
    sift_metrics_sample(out, "sift_merge_bytes_written_total", NULL,
                        (double)lc->merge_bytes_out);
    sift_metrics_family(out, "sift_merge_bytes_read_total", SIFT_METRIC_COUNTER,
                        "Segment bytes merged.");
    sift_metrics_sample(out, "sift_merge_bytes_read_total", NULL,
                        (double)lc->merge_bytes_in);
    sift_metrics_family(out, "sift_merge_seconds_total", SIFT_METRIC_COUNTER,
                        "Time spent in merge jobs.");
    sift_metrics_sample(out, "sift_merge_seconds_total", NULL,
                        (double)lc->merge_ns / 1e9);
    sift_metrics_family(out, "sift_merge_failures_total", SIFT_METRIC_COUNTER,
                        "Merges that failed (each then backs off).");
    sift_metrics_sample(out, "sift_merge_failures_total", NULL,
                        (double)lc->merge_failures);
    sift_metrics_family(out, "sift_merges_backing_off", SIFT_METRIC_GAUGE,
                        "Merges waiting after a failure before they are "
                        "tried again (doubling from 5 s to 1 h).");
    sift_metrics_sample(out, "sift_merges_backing_off", NULL,
                        (double)backing_off(lc));
    sift_metrics_family(out, "sift_merges_held", SIFT_METRIC_GAUGE,
                        "1 while merges are held because their output would "
                        "not fit on the disk.");
    const char *ld[] = {"reason", "disk_space", NULL};
    sift_metrics_sample(out, "sift_merges_held", ld,
                        lc->held_reason ? 1.0 : 0.0);
    sift_metrics_family(out, "sift_merges_pending", SIFT_METRIC_GAUGE,
                        "Merges running or waiting to commit.");
    size_t pending = lc->merge ? 1 : 0;
    for (const struct lc_job *j = lc->commit_head; j; j = j->next_job)
        pending++;
    sift_metrics_sample(out, "sift_merges_pending", NULL, (double)pending);
    sift_metrics_family(out, "sift_retention_deleted_segments_total",
                        SIFT_METRIC_COUNTER,
                        "Segments deleted by the lifecycle.");
    const char *lr[] = {"reason", "retention", NULL};
    const char *lc_[] = {"reason", "size_cap", NULL};
    sift_metrics_sample(out, "sift_retention_deleted_segments_total", lr,
                        (double)lc->retention_segments);
    sift_metrics_sample(out, "sift_retention_deleted_segments_total", lc_,
                        (double)lc->cap_segments);
    sift_metrics_family(out, "sift_retention_last_run_timestamp_seconds",
                        SIFT_METRIC_GAUGE,
                        "Wall clock of the last lifecycle policy run.");
    sift_metrics_sample(out, "sift_retention_last_run_timestamp_seconds", NULL,
                        (double)lc->last_retention_ns / 1e9);
    sift_metrics_family(out, "sift_retention_expired_events_total",
                        SIFT_METRIC_COUNTER,
                        "Events past the retention hidden one by one in "
                        "segments that also hold younger events.");
    sift_metrics_sample(out, "sift_retention_expired_events_total", NULL,
                        (double)lc->expired_docs);
    sift_metrics_family(out, "sift_deleted_events_total", SIFT_METRIC_COUNTER,
                        "Events deleted by delete-by-query.");
    sift_metrics_sample(out, "sift_deleted_events_total", NULL,
                        (double)lc->deleted_docs);
}
