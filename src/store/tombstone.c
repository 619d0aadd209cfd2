/*
 * tombstone.c - deleted docs that stay deleted: the tombstone sidecar of a
 * disk segment (<file>.del), the deletes journal (DATA_DIR/deletes.log),
 * and loading a segment's tombstones at start so that damage never brings
 * a deleted event back (docs/internals/lifecycle.md, "Tombstones").
 *
 * Design:
 *   - Sidecar (version 2): a header with the segment's doc count and an
 *     XXH64 of the bitmap, then the portable roaring bitmap.  Version 1
 *     (no checksum) is still read.
 *   - Journal: every delete that reaches segments is appended (fsync'd)
 *     before any sidecar changes, as a checked line (statefile.h):
 *       sift-deletes 1 <since>
 *       <seq> <from_ns> <to_ns> <query in hex, "-" when empty>
 *     <since>: every delete with a WAL seq above it is in the journal (a
 *     journal started on an older store, or one that lost lines, cannot
 *     vouch for what came before).
 *   - Load (start): the sidecar must read back and hold at least as many
 *     docs as the manifest says it did.  If it is missing, damaged or
 *     short, the damaged file is copied to quarantine/ and the tombstones
 *     are rebuilt by running again every journaled delete newer than the
 *     segment's docs (seq > its origin's max_seq: a segment's sidecar only
 *     ever holds deletes that came after its docs, older ones were applied
 *     before it existed).  When that cannot be done exactly (no origin, the
 *     journal does not reach back far enough, the matcher fails) the
 *     segment is *held*: kept on disk and in the manifest but out of every
 *     snapshot, merge and retention until an operator repairs it.  Fail
 *     closed: a deleted event never comes back.
 *
 * Threads: the journal append runs on the worker of the one running
 * delete job; everything else on the loop thread at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "lifecycle_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/statefile.h"
#include "store_int.h"

#define TOMB_MAGIC "SDEL"
#define TOMB_V2_HDR 24u /* magic, version, doc count, zero, XXH64 */
#define JOURNAL_NAME "deletes.log"
#define JOURNAL_MAX_QUERY (64u << 10)

/* ------------------------------------------------------------------ */
/* Sidecar codec                                                       */
/* ------------------------------------------------------------------ */

/*
 * Sidecar version 2 (little-endian):
 *   0  4  "SDEL"
 *   4  4  version, 2
 *   8  4  doc count of the segment
 *   12 4  zero
 *   16 8  XXH64 (seed 0) of the bitmap bytes
 *   24 .. portable roaring bitmap of deleted doc ids (< doc count)
 * Version 1: "SDEL", u32 1, the bitmap (no count, no checksum).
 */
int
sift__tomb_encode(const roaring_bitmap_t *bm, uint32_t n_docs,
                  struct sift_buf *out)
{
    size_t n = roaring_bitmap_portable_size_in_bytes(bm);
    size_t at = out->len;
    sift_buf_reserve(out, TOMB_V2_HDR + n);
    sift_buf_append(out, TOMB_MAGIC, 4);
    sift_buf_put_u32(out, 2);
    sift_buf_put_u32(out, n_docs);
    sift_buf_put_u32(out, 0);
    sift_buf_put_u64(out, 0);
    char *bits = out->data + out->len;
    roaring_bitmap_portable_serialize(bm, bits);
    out->len += n;
    sift_store_u64(out->data + at + 16, XXH64(bits, n, 0));
    return SIFT_OK;
}

int
sift__tomb_decode(const void *data, size_t len, uint32_t n_docs,
                  roaring_bitmap_t **out)
{
    const char *p = data;
    *out = NULL;
    if (len < 8 || memcmp(p, TOMB_MAGIC, 4) != 0)
        return SIFT_CORRUPT_BKPT("tombstones magic");
    uint32_t version = sift_load_u32(p + 4);
    size_t hdr = 8;
    if (version == 2) {
        if (len < TOMB_V2_HDR || sift_load_u32(p + 8) != n_docs ||
            sift_load_u32(p + 12) != 0 ||
            XXH64(p + TOMB_V2_HDR, len - TOMB_V2_HDR, 0) !=
                sift_load_u64(p + 16))
            return SIFT_CORRUPT_BKPT("tombstones header or checksum");
        hdr = TOMB_V2_HDR;
    } else if (version != 1) {
        return SIFT_CORRUPT_BKPT("tombstones version");
    }
    roaring_bitmap_t *bm =
        roaring_bitmap_portable_deserialize_safe(p + hdr, len - hdr);
    if (!bm)
        return SIFT_CORRUPT_BKPT("tombstones bitmap");
    if (roaring_bitmap_portable_size_in_bytes(bm) != len - hdr ||
        (!roaring_bitmap_is_empty(bm) &&
         roaring_bitmap_maximum(bm) >= n_docs)) {
        roaring_bitmap_free(bm);
        return SIFT_CORRUPT_BKPT("tombstones size or doc id");
    }
    *out = bm;
    return SIFT_OK;
}

int
sift__tomb_save(const char *path, const roaring_bitmap_t *bm, uint32_t n_docs)
{
    struct sift_buf b = SIFT_BUF_INIT;
    int rc = sift__tomb_encode(bm, n_docs, &b);
    if (rc == SIFT_OK)
        rc = sift_file_replace(path, b.data, b.len, 0644, SIFT_FILE_BATCH);
    sift_buf_cleanup(&b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The deletes journal                                                 */
/* ------------------------------------------------------------------ */

struct jentry {
    uint64_t seq;
    int64_t from_ns, to_ns;
    char *query; /* NUL-terminated copy; qlen bytes */
    size_t qlen;
};

struct sift__journal {
    char *path;
    int fd;           /* O_APPEND; -1 when it cannot be written */
    uint64_t since;   /* deletes above this seq are all here */
    uint64_t max_seq; /* highest seq journaled */
    struct jentry *v;
    size_t n, cap;
};

static void
put_hex(struct sift_buf *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    if (n == 0) {
        sift_buf_putc(b, '-');
        return;
    }
    for (size_t i = 0; i < n; i++) {
        sift_buf_putc(b, hex[(unsigned char)p[i] >> 4]);
        sift_buf_putc(b, hex[(unsigned char)p[i] & 15]);
    }
}

static int
hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

static void
jentry_line(struct sift_buf *b, const struct jentry *e)
{
    size_t start = b->len;
    sift_buf_appendf(b, "%" PRIu64 " %" PRId64 " %" PRId64 " ", e->seq,
                     e->from_ns, e->to_ns);
    put_hex(b, e->query, e->qlen);
    sift_statefile_line_end(b, start);
}

static void
journal_push(struct sift__journal *j, uint64_t seq, int64_t from, int64_t to,
             const char *q, size_t qlen)
{
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 16;
        j->v = sift_xrealloc(j->v, j->cap * sizeof(*j->v));
    }
    struct jentry *e = &j->v[j->n++];
    e->seq = seq;
    e->from_ns = from;
    e->to_ns = to;
    e->query = sift_xmalloc(qlen + 1);
    memcpy(e->query, q, qlen);
    e->query[qlen] = '\0';
    e->qlen = qlen;
    if (seq > j->max_seq)
        j->max_seq = seq;
}

/* Parses "<seq> <from> <to> <hex|->"; 0 on success. */
static int
parse_jline(struct sift__journal *j, const char *line)
{
    char *end;
    errno = 0;
    unsigned long long seq = strtoull(line, &end, 10);
    if (errno || end == line || *end != ' ' || seq == 0)
        return -1;
    const char *p = end + 1;
    long long from = strtoll(p, &end, 10);
    if (errno || end == p || *end != ' ')
        return -1;
    p = end + 1;
    long long to = strtoll(p, &end, 10);
    if (errno || end == p || *end != ' ' || from >= to)
        return -1;
    p = end + 1;
    size_t hl = strlen(p);
    if (seq <= j->max_seq)
        return -1; /* lines are appended in seq order */
    if (strcmp(p, "-") == 0) {
        journal_push(j, (uint64_t)seq, from, to, "", 0);
        return 0;
    }
    if (hl == 0 || hl % 2 || hl / 2 > JOURNAL_MAX_QUERY)
        return -1;
    char *q = sift_xmalloc(hl / 2 + 1);
    for (size_t i = 0; i < hl / 2; i++) {
        int h = hexval(p[2 * i]), l = hexval(p[2 * i + 1]);
        if (h < 0 || l < 0) {
            sift_free(q);
            return -1;
        }
        q[i] = (char)(h << 4 | l);
    }
    journal_push(j, (uint64_t)seq, from, to, q, hl / 2);
    sift_free(q);
    return 0;
}

static int
journal_rewrite(struct sift__journal *j)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "sift-deletes 1 %" PRIu64, j->since);
    sift_statefile_line_end(&b, 0);
    for (size_t i = 0; i < j->n; i++)
        jentry_line(&b, &j->v[i]);
    int rc = sift_file_replace(j->path, b.data, b.len, 0640, 0);
    sift_buf_cleanup(&b);
    if (rc < 0)
        SIFT_ERROR("lifecycle: cannot rewrite %s: %s", j->path,
                   sift_strerror(rc));
    return rc;
}

void
sift__journal_free(struct sift__journal *j)
{
    if (!j)
        return;
    if (j->fd >= 0)
        close(j->fd);
    for (size_t i = 0; i < j->n; i++)
        sift_free(j->v[i].query);
    sift_free(j->v);
    sift_free(j->path);
    sift_free(j);
}

struct jload {
    struct sift__journal *j;
    uint64_t since;
    unsigned bad;
    int damaged_since; /* a line was lost since the last good one */
    int torn;          /* an append a crash cut (its delete is replayed) */
};

static int
journal_line(char *line, size_t len, unsigned lineno, int ok, int whole,
             void *arg)
{
    struct jload *c = arg;
    struct sift__journal *j = c->j;
    unsigned long long v;
    char tail;
    (void)len;
    if (!whole && lineno > 1) {
        /* Cut mid-append: its sidecars never changed and the WAL replays
         * the delete, which is journaled again. */
        c->torn = 1;
        return 0;
    }
    if (lineno == 1 && ok &&
        sscanf(line, "sift-deletes 1 %llu%c", &v, &tail) == 1) {
        c->since = v;
        return 0;
    }
    if (lineno == 1 || !ok || parse_jline(j, line) < 0) {
        c->bad++;
        c->damaged_since = 1;
        SIFT_ERROR("lifecycle: %s: line %u is damaged", j->path, lineno);
        return 0;
    }
    if (c->damaged_since) {
        /* The lost lines had seqs below this one. */
        uint64_t here = j->v[j->n - 1].seq - 1;
        if (here > c->since)
            c->since = here;
        c->damaged_since = 0;
    }
    return 0;
}

int
sift__journal_open(struct sift_store *s, struct sift__journal **out)
{
    struct sift__journal *j = sift_xcalloc(1, sizeof(*j));
    j->fd = -1;
    j->path = sift__store_join(s->data_dir, JOURNAL_NAME);
    *out = j;
    char *data = NULL;
    size_t size = 0;
    int rc = sift_file_read_all(j->path, SIZE_MAX, &data, &size);
    int rewrite = 0;
    if (rc == -ENOENT) {
        /* Deletes at or below the flushed position, if any, came before
         * the journal: it cannot vouch for them. */
        j->since = s->manifest.flushed_seq;
        rewrite = 1;
    } else if (rc < 0) {
        /* Unreadable: keep it, start a new one that vouches for nothing
         * before now. */
        (void)sift_statefile_quarantine(s->data_dir, j->path, 1, "unreadable",
                                        NULL);
        j->since = s->manifest.flushed_seq;
        rewrite = 1;
    } else {
        struct jload c = {j, 0, 0, 0, 0};
        (void)sift_statefile_lines(data, size, journal_line, &c);
        if (c.damaged_since && s->manifest.flushed_seq > c.since)
            c.since = s->manifest.flushed_seq; /* later ones are replayed */
        if (size == 0)
            c.since = s->manifest.flushed_seq;
        j->since = c.since;
        if (c.bad) {
            char why[64];
            snprintf(why, sizeof(why), "damaged (%u line%s skipped)", c.bad,
                     c.bad == 1 ? "" : "s");
            (void)sift_statefile_quarantine(s->data_dir, j->path, 0, why, NULL);
            rewrite = 1;
        }
        if (c.torn)
            rewrite = 1; /* appends must not follow a partial line */
    }
    sift_free(data);
    if (rewrite)
        (void)journal_rewrite(j);
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (j->fd < 0) {
        rc = -errno;
        SIFT_ERROR("lifecycle: cannot open %s: %s", j->path, strerror(errno));
        return rc;
    }
    return SIFT_OK;
}

int
sift__journal_append(struct sift__journal *j, uint64_t seq, int64_t from_ns,
                     int64_t to_ns, const char *query, size_t qlen)
{
    if (seq <= j->max_seq)
        return SIFT_OK; /* replayed: journaled before */
    if (j->fd < 0)
        return SIFT_EIO;
    struct jentry e = {seq, from_ns, to_ns, (char *)(uintptr_t)query, qlen};
    struct sift_buf b = SIFT_BUF_INIT;
    jentry_line(&b, &e);
    int rc = sift_file_write_all(j->fd, b.data, b.len);
    if (rc == SIFT_OK && fsync(j->fd) != 0)
        rc = -errno;
    sift_buf_cleanup(&b);
    if (rc < 0) {
        SIFT_ERROR("lifecycle: cannot append to %s: %s", j->path,
                   sift_strerror(rc));
        return rc;
    }
    journal_push(j, seq, from_ns, to_ns, query, qlen);
    return SIFT_OK;
}

void
sift__journal_prune(struct sift__journal *j, uint64_t below)
{
    size_t keep = 0;
    while (keep < j->n && j->v[keep].seq <= below)
        keep++;
    /* Rewrite only when it pays: half the lines or more can go. */
    if (keep == 0 || keep * 2 < j->n)
        return;
    for (size_t i = 0; i < keep; i++)
        sift_free(j->v[i].query);
    memmove(j->v, j->v + keep, (j->n - keep) * sizeof(*j->v));
    j->n -= keep;
    if (below > j->since)
        j->since = below;
    if (journal_rewrite(j) == SIFT_OK) {
        if (j->fd >= 0)
            close(j->fd);
        j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
    }
}

/* ------------------------------------------------------------------ */
/* Loading a segment's tombstones                                      */
/* ------------------------------------------------------------------ */

/*
 * The tombstones of seg rebuilt from the journal: every delete newer than
 * its docs, run again.  SIFT_OK with *out (may be empty), or a code when
 * it cannot be done exactly (the caller holds the segment).
 */
static int
rebuild_from_journal(const struct sift__journal *j, struct sift_segment *seg,
                     sift_delete_match_cb match, roaring_bitmap_t **out,
                     size_t *n_applied)
{
    const struct sift_segment_origin *o = sift_segment_origin(seg);
    *out = NULL;
    *n_applied = 0;
    if (!j || o->kind == SIFT_SEG_ORIGIN_UNKNOWN || o->max_seq == 0)
        return SIFT_ENOTFOUND; /* no origin: cannot tell which apply */
    if (o->max_seq < j->since)
        return SIFT_ENOTFOUND; /* deletes it needs may predate the journal */
    roaring_bitmap_t *acc = roaring_bitmap_create();
    if (!acc)
        return SIFT_ENOMEM;
    for (size_t i = 0; i < j->n; i++) {
        const struct jentry *e = &j->v[i];
        if (e->seq <= o->max_seq)
            continue;
        roaring_bitmap_t *m = NULL;
        /* A replace record's keys, else a query for the store's matcher. */
        int rc = sift__lc_match_keys(seg, e->query, e->qlen, &m);
        if (rc == SIFT_ENOTFOUND)
            rc = match(seg, e->query, e->qlen, e->from_ns, e->to_ns, &m);
        if (rc < 0) {
            roaring_bitmap_free(acc);
            return rc;
        }
        if (m) {
            roaring_bitmap_or_inplace(acc, m);
            roaring_bitmap_free(m);
        }
        (*n_applied)++;
    }
    *out = acc;
    return SIFT_OK;
}

int
sift__tomb_load(struct sift_store *s, const struct sift__journal *j,
                sift_delete_match_cb match, const struct sift_manifest_seg *m,
                const char *side, struct sift_segment **seg, int *held)
{
    *held = 0;
    uint32_t n_docs = sift_segment_doc_count(*seg);
    char *data = NULL;
    size_t len = 0;
    roaring_bitmap_t *bm = NULL;
    const char *problem = NULL;
    int rc = sift_file_read_all(side, (size_t)1 << 30, &data, &len);
    if (rc == -ENOENT) {
        if (m->deleted > 0)
            problem = "missing";
    } else if (rc < 0) {
        problem = "unreadable";
    } else if (sift__tomb_decode(data, len, n_docs, &bm) < 0) {
        problem = "damaged";
    } else if (roaring_bitmap_get_cardinality(bm) < m->deleted) {
        problem = "older than the manifest";
    }
    sift_free(data);
    if (!problem && !bm)
        return SIFT_OK;
    if (problem) {
        s->stats.tombstones_damaged++;
        if (rc != -ENOENT)
            (void)sift_statefile_quarantine(s->data_dir, side, 0, problem,
                                            NULL);
        roaring_bitmap_t *rebuilt = NULL;
        size_t applied = 0;
        int brc = rebuild_from_journal(j, *seg, match, &rebuilt, &applied);
        if (brc < 0) {
            if (bm) /* this CRoaring crashes on NULL */
                roaring_bitmap_free(bm);
            *held = 1;
            SIFT_ERROR("lifecycle: tombstones %s are %s and cannot be "
                       "rebuilt (%s); segment %s (%u docs) is held out of "
                       "queries, merges and retention so no deleted event "
                       "comes back (docs/operations.md, \"When files are "
                       "damaged\")",
                       side, problem,
                       brc == SIFT_ENOTFOUND
                           ? "the deletes journal does not reach back to "
                             "its docs"
                           : sift_strerror(brc),
                       m->file, n_docs);
            return SIFT_OK;
        }
        /* What a readable but short sidecar held stays (deletes only
         * add). */
        if (bm) {
            roaring_bitmap_or_inplace(rebuilt, bm);
            roaring_bitmap_free(bm);
        }
        bm = rebuilt;
        rc = sift__tomb_save(side, bm, n_docs);
        if (rc == SIFT_OK)
            rc = sift_file_fsync_parent(side);
        if (rc < 0)
            SIFT_WARN("lifecycle: cannot rewrite %s (%s); rebuilt in memory, "
                      "again at the next start",
                      side, sift_strerror(rc));
        SIFT_WARN("lifecycle: tombstones %s were %s; rebuilt from %s (%zu "
                  "delete%s run again, %llu docs deleted)",
                  side, problem, JOURNAL_NAME, applied, applied == 1 ? "" : "s",
                  (unsigned long long)roaring_bitmap_get_cardinality(bm));
        s->stats.tombstones_rebuilt++;
    }
    if (roaring_bitmap_is_empty(bm)) {
        roaring_bitmap_free(bm);
        return SIFT_OK;
    }
    struct sift_segment *n;
    rc = sift_segment_with_deleted(*seg, bm, &n);
    if (rc < 0)
        return rc;
    sift_segment_unref(*seg);
    *seg = n;
    return SIFT_OK;
}
