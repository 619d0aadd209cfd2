/*
 * recover.c - the store's start-up file checks: which manifest to trust,
 * rebuilding it from the segment files when it is lost, and what to do
 * with segment files the manifest does not list (docs/internals/
 * storage.md, "Rebuilding the manifest" and "Files the manifest does not
 * list").
 *
 * Design:
 *   - MANIFEST is the commit point.  When it is missing or damaged, the
 *     store never guesses from it: it takes the newest kept generation
 *     that reads back (MANIFEST.<gen>, manifest.c) as a base and
 *     rebuilds from the files, because files committed after that
 *     generation are live data, not orphans.
 *   - Rebuild: every <id>.seg in every tier directory is opened and
 *     verified.  Format 5 files say where their docs came from (ORIGIN:
 *     kind, WAL seq range, positions, merged input ids).  A merge output
 *     and the inputs it names are the same docs twice: the inputs lose
 *     unless every input is still there and holds more live docs than
 *     the outputs of that merge together (then the merge never committed
 *     and a delete reached its inputs after it read them, so its outputs
 *     lose).  Two sealed segments with overlapping WAL ranges are the
 *     same records twice (a flush that wrote its file but not its
 *     manifest, replayed into a new file later): the older id loses.
 *     flushed_seq is the highest WAL seq any placed file holds (at least
 *     the base's), positions the highest per key over the base and the
 *     placed files.  Nothing is deleted by a rebuild: what loses moves to
 *     quarantine/ (named for why it lost, reported line by line) before
 *     the rebuilt manifest is saved, so a crash in between only repeats
 *     the rebuild.
 *   - Unlisted files with a valid MANIFEST: temp and part files of
 *     interrupted writes are removed; an unlisted segment is removed only
 *     when it is provably redundant - an input of a live merge output,
 *     the output of a merge whose inputs are all still live, or a sealed
 *     segment whose WAL records were all replayed again - and otherwise
 *     kept and reported (`siftd repair` places it).  A corrupt one goes to
 *     quarantine/.  Names the store does not write are left alone.
 *
 * Invariants: a rebuild's manifest lists each doc at most once (by the
 * rules above) and never a file that did not open and verify.
 *
 * Threads: the loop thread, inside sift_store_open(), before any timer or
 * worker runs; sift_store_repair() on the caller's thread with no store
 * running.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lifecycle_int.h"
#include "sift/alloc.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/segment.h"
#include "store_int.h"

/* ------------------------------------------------------------------ */
/* Scanning the tier directories                                       */
/* ------------------------------------------------------------------ */

enum fate {
    FATE_LIVE,
    FATE_SUPERSEDED, /* its docs are in the merge output(s) that named it */
    FATE_VOIDED,     /* a merge output whose inputs won */
    FATE_DUPLICATE,  /* its WAL records are in a newer sealed segment */
    FATE_CORRUPT,
    FATE_UNPLACED, /* no origin and a base manifest that does not list it */
};

struct found {
    uint64_t id;
    unsigned tier;
    char file[64];
    struct sift_segment *seg; /* verified, tombstones applied; NULL corrupt */
    int rc;                   /* open result */
    uint64_t live;            /* docs less tombstones */
    uint64_t deleted;         /* tombstoned docs its sidecar holds */
    int listed;               /* in the base manifest */
    enum fate fate;
    uint64_t by;  /* the id that made it lose */
    int resolved; /* merge output: its merge was judged */
};

struct found_set {
    struct found *v;
    size_t n, cap;
};

static void
found_cleanup(struct found_set *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        sift_segment_unref(fs->v[i].seg);
    sift_free(fs->v);
    memset(fs, 0, sizeof(*fs));
}

static struct found *
found_get(struct found_set *fs, uint64_t id)
{
    for (size_t i = 0; i < fs->n; i++)
        if (fs->v[i].id == id)
            return &fs->v[i];
    return NULL;
}

/* Id of a "<20 digits>.seg" name, or 0 when the name is not one. */
static uint64_t
seg_id_of(const char *name)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".seg") != 0)
        return 0;
    uint64_t id = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        id = id * 10 + (uint64_t)(name[i] - '0');
    }
    return id;
}

static int
has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), l = strlen(suffix);
    return n > l && strcmp(name + n - l, suffix) == 0;
}

/* Opens and verifies one file found on disk, with its tombstones. */
static void
found_open(struct sift_store *s, struct found *f)
{
    struct sift_manifest_seg m;
    char path[4096];
    memset(&m, 0, sizeof(m));
    m.id = f->id;
    m.tier = (uint8_t)f->tier;
    snprintf(m.file, sizeof(m.file), "%s", f->file);
    sift__lc_seg_path(s, &m, path, sizeof(path));
    f->rc = sift_segment_open_file(path, &f->seg);
    if (f->rc < 0) {
        f->seg = NULL;
        f->fate = FATE_CORRUPT;
        return;
    }
    f->live = sift_segment_doc_count(f->seg);
    /* Only read here: the start's load of the placed segments repairs
     * what needs it (tombstone.c). */
    if (sift__lc_peek_tombstones(s, &m, f->seg, &f->deleted) == SIFT_OK)
        f->live -= f->deleted;
}

static int
cmp_found(const void *a, const void *b)
{
    uint64_t x = ((const struct found *)a)->id,
             y = ((const struct found *)b)->id;
    return x < y ? -1 : x > y;
}

/* Every <id>.seg in the tier directories, by id (opened when open_them). */
static int
scan_segments(struct sift_store *s, struct found_set *fs, int open_them)
{
    for (unsigned tier = 0; tier < SIFT_TIER_COUNT; tier++) {
        const char *dir = sift__lc_tier_dir(s, tier);
        DIR *d = opendir(dir);
        if (!d) {
            if (errno == ENOENT)
                continue;
            int rc = -errno;
            SIFT_ERROR("store: cannot list %s: %s", dir, strerror(errno));
            return rc;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            uint64_t id = seg_id_of(de->d_name);
            if (id == 0 || found_get(fs, id) != NULL)
                continue; /* the same id in two tiers: the first wins */
            if (fs->n == fs->cap) {
                fs->cap = fs->cap ? fs->cap * 2 : 16;
                fs->v = sift_xrealloc(fs->v, fs->cap * sizeof(*fs->v));
            }
            struct found *f = &fs->v[fs->n++];
            memset(f, 0, sizeof(*f));
            f->id = id;
            f->tier = tier;
            memcpy(f->file, de->d_name, 25); /* 24 chars and the NUL */
        }
        closedir(d);
    }
    if (fs->n > 1)
        qsort(fs->v, fs->n, sizeof(*fs->v), cmp_found);
    for (size_t i = 0; open_them && i < fs->n; i++)
        found_open(s, &fs->v[i]);
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Rebuild                                                             */
/* ------------------------------------------------------------------ */

static void say(struct sift_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(struct sift_buf *out, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sift_buf_appendf(out, "%s\n", line);
}

static const struct sift_segment_origin *
origin_of(const struct found *f)
{
    return f->seg ? sift_segment_origin(f->seg) : NULL;
}

/* Same input set (the outputs of one merge job). */
static int
same_inputs(const struct sift_segment_origin *a,
            const struct sift_segment_origin *b)
{
    return a->n_inputs == b->n_inputs &&
           memcmp(a->inputs, b->inputs, a->n_inputs * sizeof(uint64_t)) == 0;
}

/*
 * Merge outputs against the inputs they name, newest merge first (a later
 * merge may have taken an earlier one's output in).  See the file
 * comment for the rule.
 */
static void
resolve_merges(struct found_set *fs)
{
    for (size_t pass = 0; pass < fs->n; pass++) {
        /* the newest unresolved merge output */
        struct found *x = NULL;
        for (size_t i = 0; i < fs->n; i++) {
            struct found *f = &fs->v[i];
            const struct sift_segment_origin *o = origin_of(f);
            if (!o || o->kind != SIFT_SEG_ORIGIN_MERGE || f->resolved)
                continue;
            if (!x || f->id > x->id)
                x = f;
        }
        if (!x)
            return;
        const struct sift_segment_origin *xo = origin_of(x);
        uint64_t out_docs = 0, in_live = 0;
        size_t present = 0;
        for (size_t i = 0; i < fs->n; i++) {
            struct found *f = &fs->v[i];
            const struct sift_segment_origin *o = origin_of(f);
            if (o && o->kind == SIFT_SEG_ORIGIN_MERGE && same_inputs(o, xo)) {
                f->resolved = 1; /* the outputs of one merge go together */
                out_docs += sift_segment_doc_count(f->seg);
            }
        }
        for (size_t k = 0; k < xo->n_inputs; k++) {
            struct found *in = found_get(fs, xo->inputs[k]);
            if (in && in->fate != FATE_CORRUPT) {
                present++;
                in_live += in->live;
            }
        }
        /* An output a later merge took in had committed: its inputs
         * lose whatever the counts say. */
        int inputs_win = x->fate == FATE_LIVE && present == xo->n_inputs &&
                         present > 0 && in_live != out_docs;
        for (size_t i = 0; i < fs->n; i++) {
            struct found *f = &fs->v[i];
            const struct sift_segment_origin *o = origin_of(f);
            if (inputs_win && o && o->kind == SIFT_SEG_ORIGIN_MERGE &&
                same_inputs(o, xo) && f->fate == FATE_LIVE) {
                f->fate = FATE_VOIDED;
                f->by = xo->inputs[0];
            }
        }
        if (inputs_win)
            continue;
        for (size_t k = 0; k < xo->n_inputs; k++) {
            struct found *in = found_get(fs, xo->inputs[k]);
            if (in && in->fate == FATE_LIVE) {
                in->fate = FATE_SUPERSEDED;
                in->by = x->id;
            }
        }
    }
}

/* Sealed segments holding the same WAL records: the newer id stays. */
static void
resolve_duplicates(struct found_set *fs)
{
    for (size_t i = 0; i < fs->n; i++) {
        struct found *a = &fs->v[i];
        const struct sift_segment_origin *ao = origin_of(a);
        if (a->fate != FATE_LIVE || !ao || ao->kind != SIFT_SEG_ORIGIN_WAL ||
            ao->max_seq == 0)
            continue;
        for (size_t k = 0; k < fs->n; k++) {
            struct found *b = &fs->v[k];
            const struct sift_segment_origin *bo = origin_of(b);
            if (k == i || b->fate != FATE_LIVE || !bo ||
                bo->kind != SIFT_SEG_ORIGIN_WAL || bo->max_seq == 0 ||
                b->id < a->id)
                continue;
            if (ao->max_seq >= bo->min_seq && bo->max_seq >= ao->min_seq) {
                a->fate = FATE_DUPLICATE;
                a->by = b->id;
                break;
            }
        }
    }
}

static const char *
fate_name(enum fate f)
{
    switch (f) {
    case FATE_LIVE: return "placed";
    case FATE_SUPERSEDED: return "superseded";
    case FATE_VOIDED: return "voided";
    case FATE_DUPLICATE: return "duplicate";
    case FATE_CORRUPT: return "corrupt";
    default: return "unplaced";
    }
}

/*
 * Moves a file that lost (and its tombstones) to quarantine/<qname>, so
 * that nothing a rebuild judged is ever deleted and a later start does
 * not take it for a crash leftover.
 */
static int
move_aside(struct sift_store *s, const struct found *f, const char *qname)
{
    const char *dir = sift__lc_tier_dir(s, f->tier);
    char src[4096], dst[4096];
    snprintf(src, sizeof(src), "%s/%s%s", dir, f->file, SIFT_LC_SIDECAR_EXT);
    snprintf(dst, sizeof(dst), "%s/%s%s", s->q_dir, qname, SIFT_LC_SIDECAR_EXT);
    if (rename(src, dst) != 0 && errno != ENOENT)
        return -errno;
    snprintf(src, sizeof(src), "%s/%s", dir, f->file);
    snprintf(dst, sizeof(dst), "%s/%s", s->q_dir, qname);
    if (rename(src, dst) != 0)
        return -errno;
    (void)sift_file_fsync_dir(s->q_dir);
    (void)sift_file_fsync_dir(dir);
    sift__store_add_quarantined(s, qname);
    return SIFT_OK;
}

int
sift__store_rebuild_manifest(struct sift_store *s,
                             const struct sift_manifest *base,
                             struct sift_manifest *out, struct sift_buf *report,
                             int apply)
{
    struct found_set fs;
    memset(&fs, 0, sizeof(fs));
    sift__manifest_init(out);
    int rc = scan_segments(s, &fs, 1);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < fs.n; i++) {
        struct found *f = &fs.v[i];
        for (size_t k = 0; base && k < base->n_segs; k++)
            if (base->segs[k].id == f->id)
                f->listed = 1;
        const struct sift_segment_origin *o = origin_of(f);
        /* A file without an origin (format 4) is placed only when the
         * base lists it or there is no base to go by. */
        if (f->fate == FATE_LIVE && o && o->kind == SIFT_SEG_ORIGIN_UNKNOWN &&
            base && base->generation > 0 && !f->listed)
            f->fate = FATE_UNPLACED;
    }
    resolve_merges(&fs);
    resolve_duplicates(&fs);

    out->generation = base ? base->generation : 0;
    out->flushed_seq = base ? base->flushed_seq : 0;
    out->next_seg_id = base && base->next_seg_id > 1 ? base->next_seg_id : 1;
    if (base)
        sift__posmap_merge_all(&out->pos, &base->pos);
    size_t counts[FATE_UNPLACED + 1] = {0};
    for (size_t i = 0; i < fs.n; i++) {
        struct found *f = &fs.v[i];
        counts[f->fate]++;
        if (f->id >= out->next_seg_id)
            out->next_seg_id = f->id + 1;
        const struct sift_segment_origin *o = origin_of(f);
        char seqs[64] = "seqs unknown";
        if (o && o->max_seq)
            snprintf(seqs, sizeof(seqs), "WAL seqs %" PRIu64 "..%" PRIu64,
                     o->min_seq, o->max_seq);
        if (f->fate != FATE_LIVE) {
            char by[48] = "", what[128] = "";
            if (f->by)
                snprintf(by, sizeof(by), " (by %020" PRIu64 ".seg)", f->by);
            if (f->fate == FATE_CORRUPT)
                snprintf(what, sizeof(what), "%s", sift_strerror(f->rc));
            else
                snprintf(what, sizeof(what), "%u docs, %s",
                         sift_segment_doc_count(f->seg), seqs);
            const char *done = "left in place";
            char qname[96];
            snprintf(qname, sizeof(qname), "%s-%s", fate_name(f->fate),
                     f->file);
            if (apply && move_aside(s, f, qname) == SIFT_OK)
                done = "moved to quarantine/";
            say(report, "%-10s %s/%s (%s)%s: not placed, %s%s",
                fate_name(f->fate), sift__tier_name(f->tier), f->file, what, by,
                done, strcmp(done, "left in place") ? qname : "");
            continue;
        }
        struct sift_manifest_seg m;
        memset(&m, 0, sizeof(m));
        m.id = f->id;
        m.tier = (uint8_t)f->tier;
        snprintf(m.file, sizeof(m.file), "%s", f->file);
        m.docs = sift_segment_doc_count(f->seg);
        m.min_ts = sift_segment_min_ts(f->seg);
        m.max_ts = sift_segment_max_ts(f->seg);
        m.bytes = sift_segment_bytes(f->seg);
        /* The count a lost or shorter sidecar is checked against. */
        m.deleted = f->deleted;
        for (size_t k = 0; base && k < base->n_segs; k++)
            if (base->segs[k].id == f->id && base->segs[k].deleted > m.deleted)
                m.deleted = base->segs[k].deleted;
        sift__manifest_add_seg(out, &m);
        if (o && o->max_seq > out->flushed_seq)
            out->flushed_seq = o->max_seq;
        for (size_t k = 0; o && k < o->n_pos; k++)
            sift__posmap_merge(&out->pos, o->pos[k].key, o->pos[k].hi,
                               o->pos[k].lo);
        say(report,
            "placed     %s/%s (%" PRIu64 " docs, %" PRIu64 " live, %s%s)",
            sift__tier_name(f->tier), f->file, m.docs, f->live, seqs,
            o && o->kind == SIFT_SEG_ORIGIN_MERGE     ? ", a merge"
            : o && o->kind == SIFT_SEG_ORIGIN_UNKNOWN ? ", no origin (format 4)"
                                                      : "");
    }
    for (size_t k = 0; base && k < base->n_segs; k++) {
        const struct found *f = found_get(&fs, base->segs[k].id);
        if (!f)
            say(report,
                "missing    %s/%s (%" PRIu64 " docs): listed by the base "
                "manifest, not on disk (removed after it, or lost)",
                sift__tier_name(base->segs[k].tier), base->segs[k].file,
                base->segs[k].docs);
    }
    say(report,
        "result     %zu placed, %zu superseded, %zu voided, %zu duplicate, "
        "%zu corrupt, %zu unplaced; flushed_seq %" PRIu64
        ", next_segment_id %" PRIu64 ", %zu source positions",
        counts[FATE_LIVE], counts[FATE_SUPERSEDED], counts[FATE_VOIDED],
        counts[FATE_DUPLICATE], counts[FATE_CORRUPT], counts[FATE_UNPLACED],
        out->flushed_seq, out->next_seg_id, out->pos.n);
done:
    found_cleanup(&fs);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Choosing the manifest at open                                       */
/* ------------------------------------------------------------------ */

/* The newest kept generation that reads back, into *m; 0 when none. */
static uint64_t
newest_valid_generation(const char *data_dir, struct sift_manifest *m,
                        uint64_t *max_gen)
{
    uint64_t *gens = NULL;
    size_t n = 0;
    sift__manifest_init(m);
    *max_gen = 0;
    if (sift__manifest_generations(data_dir, &gens, &n) < 0)
        return 0;
    uint64_t found = 0;
    for (size_t i = 0; i < n && !found; i++) {
        if (gens[i] > *max_gen)
            *max_gen = gens[i];
        if (sift__manifest_load_generation(data_dir, gens[i], m) == SIFT_OK)
            found = gens[i];
    }
    if (n > 0 && gens[0] > *max_gen)
        *max_gen = gens[0];
    sift_free(gens);
    return found;
}

int
sift__store_choose_manifest(struct sift_store *s)
{
    struct sift_manifest cur, gen;
    uint64_t max_gen = 0;
    int rc = sift__manifest_load(s->data_dir, &cur);
    if (rc < 0 && rc != SIFT_ENOTFOUND && rc != SIFT_ECORRUPT) {
        SIFT_ERROR("store: cannot read the manifest of %s: %s", s->data_dir,
                   sift_strerror(rc));
        return rc;
    }
    uint64_t g = newest_valid_generation(s->data_dir, &gen, &max_gen);
    if (rc == SIFT_OK && (g == 0 || g <= cur.generation)) {
        sift__manifest_cleanup(&gen);
        sift__manifest_cleanup(&s->manifest);
        s->manifest = cur;
        return SIFT_OK;
    }
    const char *why = rc == SIFT_ENOTFOUND  ? "missing"
                      : rc == SIFT_ECORRUPT ? "damaged"
                                            : "older than a kept generation "
                                              "(replaced by an older copy?)";
    if (rc == SIFT_ENOTFOUND && g == 0) {
        struct found_set fs;
        memset(&fs, 0, sizeof(fs));
        int src = scan_segments(s, &fs, 0);
        size_t n = fs.n;
        found_cleanup(&fs);
        if (src < 0)
            return src;
        if (n == 0)
            return SIFT_OK; /* a new store */
    }
    /* Base: the newer of a readable MANIFEST and the newest kept one. */
    struct sift_manifest *base = NULL;
    if (rc == SIFT_OK && cur.generation >= g)
        base = &cur;
    else if (g > 0)
        base = &gen;
    if (base)
        SIFT_WARN("store: MANIFEST of %s is %s; rebuilding it from the "
                  "segment files on top of generation %" PRIu64
                  " (nothing is deleted)",
                  s->data_dir, why, base->generation);
    else
        SIFT_WARN("store: MANIFEST of %s is %s and no earlier generation "
                  "reads back; rebuilding it from the segment files "
                  "(nothing is deleted)",
                  s->data_dir, why);
    struct sift_manifest next;
    struct sift_buf report = SIFT_BUF_INIT;
    int brc = sift__store_rebuild_manifest(s, base, &next, &report, 1);
    uint64_t top = max_gen;
    if (rc == SIFT_OK && cur.generation > top)
        top = cur.generation;
    sift__manifest_cleanup(&cur);
    sift__manifest_cleanup(&gen);
    if (brc < 0) {
        sift_buf_cleanup(&report);
        return brc;
    }
    for (char *line = report.data; line && line < report.data + report.len;) {
        char *nl =
            memchr(line, '\n', (size_t)(report.data + report.len - line));
        if (!nl)
            break;
        SIFT_WARN("store: rebuild: %.*s", (int)(nl - line), line);
        line = nl + 1;
    }
    sift_buf_cleanup(&report);
    next.generation = (top > next.generation ? top : next.generation) + 1;
    int src = sift__manifest_save(s->data_dir, &next);
    if (src < 0)
        SIFT_WARN("store: cannot save the rebuilt manifest (%s); running on "
                  "it, the next flush saves it",
                  sift_strerror(src));
    sift__manifest_cleanup(&s->manifest);
    s->manifest = next;
    s->rebuilt = 1;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Files the manifest does not list                                    */
/* ------------------------------------------------------------------ */

static int
is_listed(const struct sift_store *s, uint64_t id)
{
    for (size_t i = 0; i < s->manifest.n_segs; i++)
        if (s->manifest.segs[i].id == id)
            return 1;
    return 0;
}

/* A live segment names id as one of its merge inputs. */
static int
superseded_by_live(const struct sift_store *s, uint64_t id)
{
    for (size_t i = 0; i < s->n_ents; i++) {
        const struct sift__entry *e = s->ents[i];
        if (!e->seg || e->state != SIFT_ENT_DISK)
            continue;
        const struct sift_segment_origin *o = sift_segment_origin(e->seg);
        for (size_t k = 0; k < o->n_inputs; k++)
            if (o->inputs[k] == id)
                return 1;
    }
    return 0;
}

static void
remove_seg_file(const struct sift_store *s, unsigned tier, const char *file,
                const char *why)
{
    char path[4096], side[4200];
    snprintf(path, sizeof(path), "%s/%s", sift__lc_tier_dir(s, tier), file);
    snprintf(side, sizeof(side), "%s%s", path, SIFT_LC_SIDECAR_EXT);
    (void)unlink(side);
    if (unlink(path) == 0)
        SIFT_INFO("store: removed %s (%s)", path, why);
    else if (errno != ENOENT)
        SIFT_WARN("store: cannot remove %s (%s): %s", path, why,
                  strerror(errno));
}

/* Calls cb(dir, name) for every entry of every tier directory but the
 * dot files; fsyncs a directory when cb returns non-zero for one of its
 * names (it removed something). */
static void
each_tier_file(const struct sift_store *s,
               int (*cb)(const char *dir, const char *name))
{
    for (unsigned tier = 0; tier < SIFT_TIER_COUNT; tier++) {
        const char *dir = sift__lc_tier_dir(s, tier);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *de;
        int removed = 0;
        while ((de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                removed |= cb(dir, de->d_name);
        closedir(d);
        if (removed)
            (void)sift_file_fsync_dir(dir);
    }
}

/* Temp and part files are writes that never finished. */
static int
drop_unfinished(const char *dir, const char *name)
{
    if (!has_suffix(name, ".tmp") && !has_suffix(name, ".part"))
        return 0;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (unlink(path) != 0)
        return 0;
    SIFT_INFO("store: removed %s (an interrupted write)", path);
    return 1;
}

/* A tombstone sidecar whose segment file is gone. */
static int
drop_lone_sidecar(const char *dir, const char *name)
{
    char seg[256], path[4096];
    struct stat st;
    size_t nl = strlen(name), el = strlen(SIFT_LC_SIDECAR_EXT);
    if (!has_suffix(name, SIFT_LC_SIDECAR_EXT) || nl - el >= sizeof(seg))
        return 0;
    memcpy(seg, name, nl - el);
    seg[nl - el] = '\0';
    snprintf(path, sizeof(path), "%s/%s", dir, seg);
    if (seg_id_of(seg) == 0 || stat(path, &st) == 0)
        return 0;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (unlink(path) != 0)
        return 0;
    SIFT_INFO("store: removed %s (its segment is gone)", path);
    return 1;
}

int
sift__store_sweep_unlisted(struct sift_store *s)
{
    struct found_set fs;
    memset(&fs, 0, sizeof(fs));
    each_tier_file(s, drop_unfinished);
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/%s.tmp", s->data_dir, SIFT_MANIFEST_NAME);
    (void)unlink(tmp);

    int rc = scan_segments(s, &fs, 0);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < fs.n; i++) {
        struct found *f = &fs.v[i];
        if (is_listed(s, f->id))
            continue;
        if (f->id >= s->manifest.next_seg_id)
            s->manifest.next_seg_id = f->id + 1; /* never reuse its name */
        found_open(s, f);
        if (f->fate == FATE_CORRUPT) {
            SIFT_ERROR("store: %s/%s is not in MANIFEST and does not "
                       "verify (%s); moved to quarantine/",
                       sift__lc_tier_dir(s, f->tier), f->file,
                       sift_strerror(f->rc));
            if (sift__store_quarantine_file(s, sift__lc_tier_dir(s, f->tier),
                                            f->file) == SIFT_OK)
                sift__store_add_quarantined(s, f->file);
            continue;
        }
        const struct sift_segment_origin *o = sift_segment_origin(f->seg);
        if (superseded_by_live(s, f->id)) {
            remove_seg_file(s, f->tier, f->file,
                            "the input of a live merge output");
            continue;
        }
        if (o->kind == SIFT_SEG_ORIGIN_MERGE && o->n_inputs > 0) {
            int all = 1;
            for (size_t k = 0; k < o->n_inputs && all; k++)
                all = is_listed(s, o->inputs[k]);
            if (all) {
                remove_seg_file(s, f->tier, f->file,
                                "a merge that did not commit; its inputs "
                                "are live");
                continue;
            }
        }
        if (o->kind == SIFT_SEG_ORIGIN_WAL && o->min_seq > 0 &&
            o->min_seq > s->manifest.flushed_seq) {
            /* A flush that wrote its file but not its manifest: the WAL
             * replays the same records; decided after the replay. */
            s->unflushed = sift_xrealloc(
                s->unflushed, (s->n_unflushed + 1) * sizeof(*s->unflushed));
            struct sift__unflushed *u = &s->unflushed[s->n_unflushed++];
            u->id = f->id;
            u->tier = f->tier;
            u->min_seq = o->min_seq;
            u->max_seq = o->max_seq;
            continue;
        }
        SIFT_WARN("store: %s/%s (%u docs) is not in MANIFEST and may hold "
                  "live data; kept (run `siftd repair` to place it)",
                  sift__lc_tier_dir(s, f->tier), f->file,
                  sift_segment_doc_count(f->seg));
        s->stats.unplaced++;
    }
    found_cleanup(&fs);
    each_tier_file(s, drop_lone_sidecar);
    return SIFT_OK;
}

/* The replay delivered every record in first..last. */
static int
replayed_whole(const struct sift_wal_replay_report *rep, uint64_t from,
               uint64_t first, uint64_t last)
{
    if (first < from || last > rep->last_seq || rep->n_records == 0)
        return 0;
    for (size_t i = 0; i < rep->n_lost; i++)
        if (rep->lost[i].first <= last && first <= rep->lost[i].last)
            return 0;
    return 1;
}

void
sift__store_sweep_after_replay(struct sift_store *s, uint64_t replayed_from,
                               const struct sift_wal_replay_report *rep)
{
    for (size_t i = 0; i < s->n_unflushed; i++) {
        const struct sift__unflushed *u = &s->unflushed[i];
        char file[32];
        snprintf(file, sizeof(file), "%020" PRIu64 ".seg", u->id);
        if (replayed_whole(rep, replayed_from, u->min_seq, u->max_seq)) {
            remove_seg_file(s, u->tier, file,
                            "a flush that did not commit; the WAL replayed "
                            "its records");
            continue;
        }
        SIFT_WARN("store: %s/%s holds WAL records %" PRIu64 "..%" PRIu64
                  " that the WAL did not replay whole; kept (run `siftd "
                  "repair` to place it)",
                  sift__lc_tier_dir(s, u->tier), file, u->min_seq, u->max_seq);
        s->stats.unplaced++;
    }
    sift_free(s->unflushed);
    s->unflushed = NULL;
    s->n_unflushed = 0;
}

/* ------------------------------------------------------------------ */
/* siftd repair                                                        */
/* ------------------------------------------------------------------ */

int
sift_store_repair(const struct sift_config *cfg, int dry_run, FILE *out)
{
    struct sift_store *s = NULL;
    int rc = sift__store_new_bare(cfg, &s);
    if (rc < 0) {
        fprintf(out, "repair: cannot use the data directory: %s\n",
                sift_strerror(rc));
        return rc;
    }
    struct sift_manifest cur, gen, next;
    uint64_t max_gen = 0;
    int lrc = sift__manifest_load(s->data_dir, &cur);
    uint64_t g = newest_valid_generation(s->data_dir, &gen, &max_gen);
    const struct sift_manifest *base = NULL;
    if (lrc == SIFT_OK) {
        fprintf(out,
                "manifest   MANIFEST reads back (generation %" PRIu64
                "): used as the base\n",
                cur.generation);
        base = &cur;
    } else if (g > 0) {
        fprintf(out,
                "manifest   MANIFEST %s; base: kept generation %" PRIu64 "\n",
                lrc == SIFT_ENOTFOUND ? "is missing" : "does not read back", g);
        base = &gen;
    } else {
        fprintf(out,
                "manifest   MANIFEST %s and no kept generation reads "
                "back: rebuilding from the files alone\n",
                lrc == SIFT_ENOTFOUND ? "is missing" : "does not read back");
    }
    struct sift_buf report = SIFT_BUF_INIT;
    rc = sift__store_rebuild_manifest(s, base, &next, &report, !dry_run);
    if (rc == SIFT_OK) {
        fwrite(report.data, 1, report.len, out);
        uint64_t top = max_gen;
        if (lrc == SIFT_OK && cur.generation > top)
            top = cur.generation;
        next.generation = (top > next.generation ? top : next.generation) + 1;
        if (dry_run) {
            fprintf(out, "dry run    nothing was changed\n");
        } else {
            rc = sift__manifest_save(s->data_dir, &next);
            if (rc == SIFT_OK)
                fprintf(out,
                        "saved      MANIFEST generation %" PRIu64
                        " (%zu segments)\n",
                        next.generation, next.n_segs);
            else
                fprintf(out, "repair: cannot save the manifest: %s\n",
                        sift_strerror(rc));
        }
        sift__manifest_cleanup(&next);
    } else {
        fprintf(out, "repair: %s\n", sift_strerror(rc));
    }
    sift_buf_cleanup(&report);
    sift__manifest_cleanup(&cur);
    sift__manifest_cleanup(&gen);
    s->closing = 1;
    sift_store_close(s);
    return rc;
}
