/*
 * wal.c - the write-ahead log: record format, append, rotation, group
 * commit plumbing, trimming, replay that resynchronises past damage and
 * cuts torn tails.
 *
 * Replay reads every file; at bad bytes it resynchronises on the next
 * whole record with a good checksum and goes on, so damage costs only the
 * records it touched (counted and logged by seq); bad bytes with nothing
 * good after them are a torn tail and are cut.
 *
 * Record format (version 1, all integers little-endian):
 *
 *   offset size  field
 *   0      4     magic "SWAL" (0x53 0x57 0x41 0x4c)
 *   4      2     version (1)
 *   6      2     header length (32)
 *   8      8     seq: 1, 2, 3 ... without gaps across files
 *   16     4     payload length (<= SIFT_WAL_MAX_PAYLOAD)
 *   20     4     reserved, 0
 *   24     8     checksum: XXH64(payload, XXH64(bytes 0..23, seed 0))
 *   32     len   payload (opaque here; the store's batch, see store.c)
 *
 * Files are named "%020llu.wal" after the seq of their first record and
 * have no file header: an empty file is valid.  The first record of a
 * file has the seq in its name; each next record has seq + 1.
 *
 * Invariants kept by the writer (owner thread only, no locks):
 *   - every file in `files` ends on a record boundary once append returns
 *     (a failed write is cut back with ftruncate);
 *   - synced_size of a file is a record boundary and every record before
 *     it has seq <= durable_seq;
 *   - at most one sync request is outstanding; its fds are dups, so the
 *     owner may rotate or close files while a worker fsyncs.
 * Context: owner thread (the loop), except sift__wal_sync_run() and the
 * pure sift__wal_scan().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "wal.h"

static const uint8_t wal_magic[4] = {'S', 'W', 'A', 'L'};

struct wal_file {
    uint64_t first_seq;   /* from the name */
    uint64_t size;        /* bytes written (record boundary) */
    uint64_t synced_size; /* bytes known durable */
    uint64_t sync_size;   /* size captured by the outstanding request */
    int fd;               /* -1 once closed (fully synced, rotated out) */
    char name[32];
};

struct sift_wal {
    char *dir;
    int dir_fd;
    uint64_t file_bytes;
    uint64_t next_seq;
    uint64_t durable_seq;
    struct wal_file *files; /* oldest first; the last may be current */
    unsigned n_files;
    unsigned cap_files;
    int have_current; /* last file takes appends */
    int dir_dirty;    /* a file was created or removed since sync */
    int sync_outstanding;
    unsigned sync_n_files; /* files [0, sync_n_files) are in the request */
    struct sift_buf scratch;
};

/* Failure injection exists in the unit-test build only (wal.h). */
#ifdef SIFT_UNIT_TESTS
static atomic_int inject_enospc;
static atomic_int inject_fsync_n;
static atomic_int inject_fsync_err;

void
sift__wal_inject_enospc(int n)
{
    atomic_store(&inject_enospc, n < 0 ? 0 : n);
}

void
sift__wal_inject_fsync_error(int n, int err)
{
    atomic_store(&inject_fsync_err, err);
    atomic_store(&inject_fsync_n, n < 0 ? 0 : n);
}

static int
take_injection(atomic_int *counter)
{
    int n = atomic_load(counter);
    while (n > 0) {
        if (atomic_compare_exchange_weak(counter, &n, n - 1))
            return 1;
    }
    return 0;
}

/* The fsync's result, or the injected error. */
static int
fsync_injected(int rc)
{
    return rc == SIFT_OK && take_injection(&inject_fsync_n)
               ? -atomic_load(&inject_fsync_err)
               : rc;
}
#else
#define take_injection(counter) 0
#define fsync_injected(rc) (rc)
#endif

/* ------------------------------------------------------------------ */
/* Record format                                                       */
/* ------------------------------------------------------------------ */

static uint64_t
record_checksum(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
    return XXH64(payload, len, XXH64(hdr, 24, 0));
}

static void
header_fill(uint8_t *hdr, uint64_t seq, const void *payload, size_t len)
{
    memcpy(hdr, wal_magic, 4);
    hdr[4] = SIFT_WAL_VERSION;
    hdr[5] = 0;
    hdr[6] = (uint8_t)SIFT_WAL_HDR_LEN;
    hdr[7] = 0;
    sift_store_u64(hdr + 8, seq);
    sift_store_u32(hdr + 16, (uint32_t)len);
    sift_store_u32(hdr + 20, 0);
    sift_store_u64(hdr + 24,
                   record_checksum(hdr, (const uint8_t *)payload, len));
}

/*
 * Checks the record at p[off..len).  Returns its total length, or 0 when
 * the bytes are not a complete good record.
 */
static size_t
record_check(const uint8_t *p, size_t len, size_t off, uint64_t *seq)
{
    if (len - off < SIFT_WAL_HDR_LEN)
        return 0;
    const uint8_t *h = p + off;
    if (memcmp(h, wal_magic, 4) != 0 || h[4] != SIFT_WAL_VERSION || h[5] != 0 ||
        h[6] != SIFT_WAL_HDR_LEN || h[7] != 0 || sift_load_u32(h + 20) != 0)
        return 0;
    uint32_t plen = sift_load_u32(h + 16);
    if (plen > SIFT_WAL_MAX_PAYLOAD || plen > len - off - SIFT_WAL_HDR_LEN)
        return 0;
    if (record_checksum(h, h + SIFT_WAL_HDR_LEN, plen) != sift_load_u64(h + 24))
        return 0;
    *seq = sift_load_u64(h + 8);
    if (*seq == 0)
        return 0;
    return SIFT_WAL_HDR_LEN + plen;
}

/* First offset > from holding a good record, or 0 when none. */
static size_t
find_next_valid(const uint8_t *p, size_t len, size_t from)
{
    for (size_t i = from;
         len >= SIFT_WAL_HDR_LEN && i <= len - SIFT_WAL_HDR_LEN; i++) {
        uint64_t seq;
        if (p[i] == 'S' && record_check(p, len, i, &seq) > 0)
            return i;
    }
    return 0;
}

int
sift__wal_scan(const uint8_t *p, size_t len, uint64_t expect_seq,
               uint64_t from_seq, sift_wal_record_cb cb, void *arg,
               size_t *good_len, size_t *next_valid, uint64_t *last_seq)
{
    size_t off = 0;
    *next_valid = 0;
    while (off < len) {
        uint64_t seq = 0;
        size_t n = record_check(p, len, off, &seq);
        if (n == 0) {
            *good_len = off;
            *next_valid = find_next_valid(p, len, off + 1);
            return SIFT_ECORRUPT;
        }
        if (expect_seq != 0 && seq != expect_seq) {
            /* A good record out of order is damage, not a torn tail. */
            *good_len = off;
            *next_valid = off;
            return SIFT_ECORRUPT;
        }
        if (seq >= from_seq && cb) {
            int rc =
                cb(seq, p + off + SIFT_WAL_HDR_LEN, n - SIFT_WAL_HDR_LEN, arg);
            if (rc != 0) {
                *good_len = off + n;
                *last_seq = seq;
                return rc;
            }
        }
        *last_seq = seq;
        expect_seq = seq + 1;
        off += n;
    }
    *good_len = off;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Directory helpers                                                   */
/* ------------------------------------------------------------------ */

/* Parses "%020llu.wal"; returns 1 and *seq on a match. */
static int
parse_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != 24 || strcmp(name + 20, ".wal") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *seq = v;
    return v > 0;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists WAL file seqs in dir, sorted.  Returns count or -errno. */
static int
list_files(const char *dir, uint64_t **out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t seq;
        if (!parse_name(e->d_name, &seq))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = sift_xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = seq;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_u64);
    *out = v;
    return (int)n;
}

static void
file_name(char *buf, size_t len, uint64_t seq)
{
    snprintf(buf, len, "%020llu.wal", (unsigned long long)seq);
}

static int
path_join(char *buf, size_t len, const char *dir, const char *name)
{
    int n = snprintf(buf, len, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= len ? SIFT_EINVAL : SIFT_OK;
}

/* Reads a whole file into an owned buffer (release with sift_free()). */
static int
read_file(const char *path, uint8_t **out, size_t *len_out)
{
    char *p;
    int rc = sift_file_read_all(path, SIZE_MAX, &p, len_out);
    *out = (uint8_t *)p;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Replay                                                              */
/* ------------------------------------------------------------------ */

void
sift__wal_report_cleanup(struct sift_wal_replay_report *r)
{
    sift_free(r->lost);
    r->lost = NULL;
    r->n_lost = 0;
}

/* Replay state: the damage being crossed, if any. */
struct replay_state {
    const char *dir;
    uint64_t from_seq;
    uint64_t expect; /* seq the next record should have (0: unknown) */
    int gap_open;    /* bad bytes or a missing file since expect */
    int gap_missing; /* the gap began at a missing file */
    uint64_t gap_from;
    char gap_file[32];
    uint64_t gap_off;
    size_t gap_file_idx; /* index of the file where it began */
    struct sift_wal_replay_report *r;
};

/* Records first..last could not be read: counts, keeps and logs them. */
static void
lost_range(struct replay_state *st, uint64_t first, uint64_t last,
           const char *file, uint64_t off, int missing)
{
    struct sift_wal_replay_report *r = st->r;
    if (first == 0 || last < first)
        return;
    r->lost = sift_xrealloc(r->lost, (r->n_lost + 1) * sizeof(*r->lost));
    struct sift_wal_lost *l = &r->lost[r->n_lost++];
    memset(l, 0, sizeof(*l));
    l->first = first;
    l->last = last;
    l->offset = off;
    l->missing = missing;
    snprintf(l->file, sizeof(l->file), "%s", file);
    /* Records below from_seq are in segment files already. */
    uint64_t flushed = st->from_seq > 0 ? st->from_seq - 1 : 0;
    uint64_t old = last <= flushed    ? last - first + 1
                   : first <= flushed ? flushed - first + 1
                                      : 0;
    uint64_t needed = last - first + 1 - old;
    r->lost_flushed += old;
    r->lost_records += needed;
    l->needed = needed > 0;
    if (needed > 0 && r->bad_file[0] == '\0' && !missing) {
        snprintf(r->bad_file, sizeof(r->bad_file), "%s", file);
        r->bad_offset = off;
    }
    char where[96];
    if (missing)
        snprintf(where, sizeof(where), "the WAL file holding them is gone");
    else
        snprintf(where, sizeof(where), "%s is damaged at offset %llu", file,
                 (unsigned long long)off);
    if (needed > 0)
        SIFT_ERROR("wal: records %llu..%llu lost: %s; their events (%llu "
                   "record%s not yet in segments) are gone",
                   (unsigned long long)first, (unsigned long long)last, where,
                   (unsigned long long)needed, needed == 1 ? "" : "s");
    else
        SIFT_WARN("wal: records %llu..%llu unreadable: %s; not needed "
                  "(already in segments)",
                  (unsigned long long)first, (unsigned long long)last, where);
}

/* A good record with seq arrived: ends a gap, notes a jump. */
static void
close_gap(struct replay_state *st, uint64_t seq, const char *file, uint64_t off)
{
    if (st->gap_open) {
        uint64_t from = st->gap_from ? st->gap_from : seq;
        lost_range(st, from, seq - 1, st->gap_file, st->gap_off,
                   st->gap_missing);
        st->gap_open = 0;
    } else if (st->expect != 0 && seq > st->expect) {
        /* Whole records gone without a trace of bad bytes. */
        lost_range(st, st->expect, seq - 1, file, off, 0);
    }
}

static void
open_gap(struct replay_state *st, const char *file, uint64_t off, size_t idx,
         int missing)
{
    if (st->gap_open)
        return;
    st->gap_open = 1;
    st->gap_missing = missing;
    st->gap_from = st->expect;
    snprintf(st->gap_file, sizeof(st->gap_file), "%s", file);
    st->gap_off = off;
    st->gap_file_idx = idx;
}

/*
 * Replays one file image.  At bad bytes it resynchronises on the next
 * offset that holds a whole record with a good checksum; records older
 * than expected (stale copies) are skipped.  Returns 0 or the callback's
 * non-zero value.
 */
static int
replay_file(struct replay_state *st, const char *name, size_t idx,
            const uint8_t *p, size_t len, sift_wal_record_cb cb, void *arg)
{
    struct sift_wal_replay_report *r = st->r;
    size_t off = 0;
    while (off < len) {
        uint64_t seq = 0;
        size_t n = p[off] == 'S' ? record_check(p, len, off, &seq) : 0;
        if (n == 0) {
            open_gap(st, name, off, idx, 0);
            size_t nv = find_next_valid(p, len, off + 1);
            off = nv ? nv : len;
            continue;
        }
        if (st->expect != 0 && seq < st->expect) {
            r->skipped++; /* a stale copy of a record already read */
            off += n;
            continue;
        }
        close_gap(st, seq, name, off);
        if (seq >= st->from_seq) {
            r->n_records++;
            if (cb) {
                int rc = cb(seq, p + off + SIFT_WAL_HDR_LEN,
                            n - SIFT_WAL_HDR_LEN, arg);
                if (rc != 0)
                    return rc;
            }
        }
        if (r->first_seq == 0)
            r->first_seq = seq;
        r->last_seq = seq;
        if (seq > r->max_seq_seen)
            r->max_seq_seen = seq;
        st->expect = seq + 1;
        off += n;
    }
    return 0;
}

int
sift__wal_quarantine(const char *dir, const char *name,
                     const char *quarantine_dir)
{
    uint64_t seq;
    char src[4096], dst[4096], qname[48];
    if (!parse_name(name, &seq))
        return SIFT_EINVAL;
    snprintf(qname, sizeof(qname), "wal-%s", name);
    if (path_join(src, sizeof(src), dir, name) != SIFT_OK ||
        path_join(dst, sizeof(dst), quarantine_dir, qname) != SIFT_OK)
        return SIFT_EINVAL;
    if (rename(src, dst) != 0) {
        int rc = -errno;
        SIFT_ERROR("wal: cannot move %s to %s: %s", src, dst, strerror(errno));
        return rc;
    }
    SIFT_WARN("wal: moved the damaged %s to %s", src, dst);
    (void)sift_file_fsync_dir(quarantine_dir);
    (void)sift_file_fsync_dir(dir);
    return SIFT_OK;
}

static int
cut_file(const char *path, size_t len)
{
    if (truncate(path, (off_t)len) != 0) {
        int rc = -errno;
        SIFT_ERROR("wal: truncate %s: %s", path, strerror(errno));
        return rc;
    }
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    return SIFT_OK;
}

/*
 * Bad bytes with no good record after them anywhere: a torn tail, the
 * bytes of writes a crash interrupted (never acknowledged).  The file is
 * cut where they start and later files are emptied.  When they start
 * with a whole record whose header is plausible but whose checksum is
 * not, its seq is named: that was a torn write or damage to the last
 * record.
 */
static int
cut_torn_tail(struct replay_state *st, const uint64_t *seqs, size_t n)
{
    struct sift_wal_replay_report *r = st->r;
    char name[32], path[4096];
    uint8_t *p = NULL;
    size_t len = 0;
    file_name(name, sizeof(name), seqs[st->gap_file_idx]);
    int rc = path_join(path, sizeof(path), st->dir, name);
    if (rc == SIFT_OK)
        rc = read_file(path, &p, &len);
    if (rc < 0)
        return rc;
    size_t at = (size_t)st->gap_off;
    r->torn_bytes = len - at;
    const uint8_t *h = p + at;
    if (len - at >= SIFT_WAL_HDR_LEN && memcmp(h, wal_magic, 4) == 0 &&
        sift_load_u64(h + 8) == st->expect && st->expect != 0 &&
        (uint64_t)sift_load_u32(h + 16) + SIFT_WAL_HDR_LEN == len - at)
        SIFT_WARN("wal: %s: record %llu at offset %zu does not verify and "
                  "nothing follows it: a write cut by a crash (never "
                  "acknowledged) or damage to the last record; cut",
                  path, (unsigned long long)st->expect, at);
    else
        SIFT_WARN("wal: %s: cutting a torn tail of %zu bytes at offset %zu "
                  "(after seq %llu)",
                  path, len - at, at, (unsigned long long)r->last_seq);
    sift_free(p);
    rc = cut_file(path, at);
    for (size_t k = st->gap_file_idx + 1; rc == SIFT_OK && k < n; k++) {
        char later[32], lpath[4096];
        file_name(later, sizeof(later), seqs[k]);
        if (path_join(lpath, sizeof(lpath), st->dir, later) == SIFT_OK)
            rc = cut_file(lpath, 0);
    }
    st->gap_open = 0;
    return rc;
}

int
sift__wal_replay(const char *dir, uint64_t from_seq, sift_wal_record_cb cb,
                 void *arg, struct sift_wal_replay_report *r)
{
    uint64_t *seqs = NULL;
    uint8_t *p = NULL;
    int rc = SIFT_OK;
    struct replay_state st;

    memset(r, 0, sizeof(*r));
    memset(&st, 0, sizeof(st));
    st.dir = dir;
    st.from_seq = from_seq;
    st.r = r;
    int n = list_files(dir, &seqs);
    if (n == -ENOENT)
        return SIFT_OK;
    if (n < 0)
        return n;
    r->n_files = (unsigned)n;

    for (size_t i = 0; i < (size_t)n; i++) {
        char name[32], path[4096];
        size_t len = 0;
        file_name(name, sizeof(name), seqs[i]);
        rc = path_join(path, sizeof(path), dir, name);
        if (rc < 0)
            goto out;
        rc = read_file(path, &p, &len);
        if (rc < 0) {
            SIFT_ERROR("wal: cannot read %s: %s", path, sift_strerror(rc));
            goto out;
        }
        if (len == 0) {
            sift_free(p);
            p = NULL;
            continue;
        }
        if (st.expect == 0 && i == 0 && from_seq > 0 && seqs[0] > from_seq) {
            /* Records the first file should start with are gone. */
            st.expect = from_seq;
            open_gap(&st, name, 0, i, 1);
        } else if (st.expect == 0) {
            st.expect = seqs[i]; /* the name says where it starts */
        } else if (seqs[i] > st.expect) {
            open_gap(&st, name, 0, i, 1); /* a file between is missing */
        }
        rc = replay_file(&st, name, i, p, len, cb, arg);
        sift_free(p);
        p = NULL;
        if (rc != 0)
            goto out;
    }
    if (st.gap_open) {
        if (st.gap_missing) {
            /* Only missing files, nothing after: nothing was lost that a
             * later record shows; the writer restarts above max seen. */
            st.gap_open = 0;
        } else {
            rc = cut_torn_tail(&st, seqs, (size_t)n);
        }
    }
    r->corrupt = r->lost_records > 0;
out:
    sift_free(p);
    sift_free(seqs);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

static struct wal_file *
files_push(struct sift_wal *w)
{
    if (w->n_files == w->cap_files) {
        w->cap_files = w->cap_files ? w->cap_files * 2 : 8;
        w->files = sift_xrealloc(w->files, w->cap_files * sizeof(*w->files));
    }
    struct wal_file *f = &w->files[w->n_files++];
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    return f;
}

static void
files_remove(struct sift_wal *w, unsigned i)
{
    memmove(&w->files[i], &w->files[i + 1],
            (w->n_files - i - 1) * sizeof(*w->files));
    w->n_files--;
}

int
sift__wal_open(const char *dir, uint64_t next_seq, uint64_t file_bytes,
               struct sift_wal **out)
{
    assert(next_seq >= 1);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;

    struct sift_wal *w = sift_xcalloc(1, sizeof(*w));
    w->dir = sift_xstrdup(dir);
    w->dir_fd = dfd;
    w->file_bytes = file_bytes ? file_bytes : (64u << 20);
    w->next_seq = next_seq;
    w->durable_seq = next_seq - 1;
    sift_buf_init(&w->scratch);

    uint64_t *seqs = NULL;
    int n = list_files(dir, &seqs);
    if (n < 0) {
        int rc = n;
        sift__wal_close(w);
        return rc;
    }
    for (int i = 0; i < n; i++) {
        char name[32], path[4096];
        file_name(name, sizeof(name), seqs[i]);
        if (path_join(path, sizeof(path), dir, name) != SIFT_OK)
            continue;
        if (seqs[i] >= next_seq) {
            /* Holds nothing we will read (replay cut it to empty). */
            if (unlink(path) == 0)
                w->dir_dirty = 1;
            continue;
        }
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        struct wal_file *f = files_push(w);
        f->first_seq = seqs[i];
        f->size = f->synced_size = (uint64_t)st.st_size;
        snprintf(f->name, sizeof(f->name), "%s", name);
    }
    sift_free(seqs);
    *out = w;
    return SIFT_OK;
}

void
sift__wal_close(struct sift_wal *w)
{
    if (!w)
        return;
    for (unsigned i = 0; i < w->n_files; i++)
        if (w->files[i].fd >= 0)
            close(w->files[i].fd);
    if (w->dir_fd >= 0)
        close(w->dir_fd);
    sift_buf_cleanup(&w->scratch);
    sift_free(w->files);
    sift_free(w->dir);
    sift_free(w);
}

static int
errno_to_rc(int e)
{
    if (e == ENOSPC || e == EDQUOT)
        return SIFT_ENOSPACE;
    return -e;
}

/* pwrite all of p at off; -errno on failure (bytes may be partly written). */
static int
write_all(int fd, const void *p, size_t len, uint64_t off)
{
    const char *c = p;
    if (take_injection(&inject_enospc)) {
        /* Simulate a device that fills up half-way through the record. */
        size_t half = len / 2;
        if (half > 0 && pwrite(fd, c, half, (off_t)off) < 0)
            return -errno;
        return -ENOSPC;
    }
    while (len > 0) {
        ssize_t n = pwrite(fd, c, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        c += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return SIFT_OK;
}

static int
start_file(struct sift_wal *w)
{
    char name[32], path[4096];
    file_name(name, sizeof(name), w->next_seq);
    int rc = path_join(path, sizeof(path), w->dir, name);
    if (rc < 0)
        return rc;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        SIFT_ERROR("wal: cannot create %s: %s", path, strerror(errno));
        return errno_to_rc(-rc);
    }
    struct wal_file *f = files_push(w);
    f->first_seq = w->next_seq;
    f->fd = fd;
    snprintf(f->name, sizeof(f->name), "%s", name);
    w->have_current = 1;
    w->dir_dirty = 1;
    return SIFT_OK;
}

int
sift__wal_append(struct sift_wal *w, const void *payload, size_t len,
                 uint64_t *seq_out)
{
    if (len > SIFT_WAL_MAX_PAYLOAD)
        return SIFT_EINVAL;
    int rc;
    if (w->have_current) {
        struct wal_file *cur = &w->files[w->n_files - 1];
        if (cur->size >= w->file_bytes && cur->size > 0)
            w->have_current = 0; /* rotate; the fd stays until synced */
    }
    if (!w->have_current) {
        unsigned open_files = 0; /* files with unsynced bytes keep an fd */
        for (unsigned i = 0; i < w->n_files; i++)
            open_files += w->files[i].fd >= 0;
        if (w->sync_outstanding && open_files >= SIFT_WAL_SYNC_MAX_FDS * 4) {
            /* Far too many unsynced files: let the fsyncs catch up. */
            return SIFT_EBUSY;
        }
        rc = start_file(w);
        if (rc < 0)
            return rc;
    }
    struct wal_file *cur = &w->files[w->n_files - 1];

    sift_buf_reset(&w->scratch);
    sift_buf_reserve(&w->scratch, SIFT_WAL_HDR_LEN + len);
    uint8_t *hdr = (uint8_t *)w->scratch.data;
    header_fill(hdr, w->next_seq, payload, len);
    if (len)
        memcpy(hdr + SIFT_WAL_HDR_LEN, payload, len);

    rc = write_all(cur->fd, hdr, SIFT_WAL_HDR_LEN + len, cur->size);
    if (rc < 0) {
        int e = -rc;
        /* Never leave part of a record behind a live process. */
        if (ftruncate(cur->fd, (off_t)cur->size) != 0)
            SIFT_ERROR("wal: cannot cut %s back to %llu bytes: %s", cur->name,
                       (unsigned long long)cur->size, strerror(errno));
        rc = errno_to_rc(e);
        if (rc == SIFT_ENOSPACE)
            SIFT_WARN("wal: disk full appending seq %llu to %s",
                      (unsigned long long)w->next_seq, cur->name);
        else
            SIFT_ERROR("wal: write %s: %s", cur->name, strerror(e));
        return rc;
    }
    cur->size += SIFT_WAL_HDR_LEN + len;
    *seq_out = w->next_seq++;
    return SIFT_OK;
}

uint64_t
sift__wal_last_seq(const struct sift_wal *w)
{
    return w->next_seq - 1;
}

uint64_t
sift__wal_durable_seq(const struct sift_wal *w)
{
    return w->durable_seq;
}

uint64_t
sift__wal_bytes(const struct sift_wal *w)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < w->n_files; i++)
        n += w->files[i].size;
    return n;
}

unsigned
sift__wal_files(const struct sift_wal *w)
{
    return w->n_files;
}

/* ------------------------------------------------------------------ */
/* Group commit                                                        */
/* ------------------------------------------------------------------ */

int
sift__wal_sync_prepare(struct sift_wal *w, struct sift_wal_sync *req)
{
    assert(!w->sync_outstanding);
    memset(req, 0, sizeof(*req));
    req->dir_fd = -1;
    req->target_seq = w->durable_seq;
    if (w->next_seq - 1 == w->durable_seq && !w->dir_dirty)
        return 0;

    unsigned i, last_incl = 0;
    int any = 0;
    for (i = 0; i < w->n_files; i++) {
        struct wal_file *f = &w->files[i];
        f->sync_size = f->synced_size;
        if (f->size == f->synced_size || f->fd < 0)
            continue;
        if (req->n_fds == SIFT_WAL_SYNC_MAX_FDS)
            break;
        int fd = dup(f->fd);
        if (fd < 0) {
            int rc = -errno;
            for (unsigned k = 0; k < req->n_fds; k++)
                close(req->fds[k]);
            return rc;
        }
        req->fds[req->n_fds++] = fd;
        f->sync_size = f->size;
        last_incl = i;
        any = 1;
    }
    if (i == w->n_files) {
        req->target_seq = w->next_seq - 1;
    } else if (any) {
        /* Capped: durable up to the end of the last included file. */
        req->target_seq = w->files[last_incl + 1].first_seq - 1;
    }
    w->sync_n_files = i;
    if (w->dir_dirty) {
        req->dir_fd = dup(w->dir_fd);
        w->dir_dirty = 0;
    }
    w->sync_outstanding = 1;
    return 1;
}

void
sift__wal_sync_run(struct sift_wal_sync *req)
{
    int64_t t0 = sift_clock_mono_ns();
    req->rc = SIFT_OK;
    for (unsigned i = 0; i < req->n_fds; i++) {
        int rc = fsync(req->fds[i]) == 0 ? SIFT_OK : -errno;
        rc = fsync_injected(rc);
        if (rc < 0 && req->rc == SIFT_OK)
            req->rc = rc;
        close(req->fds[i]);
        req->fds[i] = -1;
    }
    if (req->dir_fd >= 0) {
        if (fsync(req->dir_fd) != 0 && req->rc == SIFT_OK)
            req->rc = -errno;
        close(req->dir_fd);
        req->dir_fd = -1;
    }
    req->duration_ns = sift_clock_mono_ns() - t0;
}

/* Cuts every file back to its durable size; later files are removed. */
static void
rollback(struct sift_wal *w)
{
    for (unsigned i = w->n_files; i-- > 0;) {
        struct wal_file *f = &w->files[i];
        if (f->synced_size == f->size) {
            if (f->fd >= 0)
                close(f->fd);
            f->fd = -1;
            continue;
        }
        char path[4096];
        if (path_join(path, sizeof(path), w->dir, f->name) != SIFT_OK)
            continue;
        if (f->first_seq > w->durable_seq) {
            if (f->fd >= 0)
                close(f->fd);
            if (unlink(path) != 0)
                SIFT_ERROR("wal: cannot remove %s: %s", path, strerror(errno));
            files_remove(w, i);
            continue;
        }
        if (truncate(path, (off_t)f->synced_size) != 0)
            SIFT_ERROR("wal: cannot cut %s back to %llu bytes: %s", path,
                       (unsigned long long)f->synced_size, strerror(errno));
        f->size = f->synced_size;
        if (f->fd >= 0)
            close(f->fd);
        f->fd = -1;
    }
    /* Appends continue in a fresh file named after the reused seq. */
    w->have_current = 0;
    w->next_seq = w->durable_seq + 1;
    w->dir_dirty = 1;
}

int
sift__wal_sync_done(struct sift_wal *w, const struct sift_wal_sync *req)
{
    assert(w->sync_outstanding);
    w->sync_outstanding = 0;
    if (req->rc != SIFT_OK) {
        int rc =
            req->rc > -4096 && req->rc < 0 ? errno_to_rc(-req->rc) : req->rc;
        SIFT_ERROR("wal: fsync failed: %s; dropping records %llu..%llu",
                   sift_strerror(req->rc),
                   (unsigned long long)(w->durable_seq + 1),
                   (unsigned long long)(w->next_seq - 1));
        w->dir_dirty = 1;
        rollback(w);
        return rc;
    }
    if (req->target_seq > w->durable_seq)
        w->durable_seq = req->target_seq;
    for (unsigned i = 0; i < w->sync_n_files && i < w->n_files; i++) {
        struct wal_file *f = &w->files[i];
        f->synced_size = f->sync_size;
        int is_current = w->have_current && i + 1 == w->n_files;
        if (!is_current && f->fd >= 0 && f->synced_size == f->size) {
            close(f->fd);
            f->fd = -1;
        }
    }
    return SIFT_OK;
}

int
sift__wal_sync(struct sift_wal *w)
{
    struct sift_wal_sync req;
    int rc = sift__wal_sync_prepare(w, &req);
    if (rc <= 0)
        return rc;
    sift__wal_sync_run(&req);
    rc = sift__wal_sync_done(w, &req);
    /* A capped request leaves more to do. */
    if (rc == SIFT_OK && w->durable_seq < w->next_seq - 1)
        return sift__wal_sync(w);
    return rc;
}

unsigned
sift__wal_trim(struct sift_wal *w, uint64_t upto_seq)
{
    unsigned removed = 0;
    /* File i holds seqs [first_i, first_{i+1}); never touch the current. */
    while (w->n_files >= 2 && w->files[1].first_seq - 1 <= upto_seq) {
        struct wal_file *f = &w->files[0];
        char path[4096];
        if (path_join(path, sizeof(path), w->dir, f->name) == SIFT_OK &&
            unlink(path) != 0 && errno != ENOENT) {
            SIFT_ERROR("wal: cannot remove %s: %s", path, strerror(errno));
            break;
        }
        if (f->fd >= 0)
            close(f->fd);
        files_remove(w, 0);
        if (w->sync_outstanding && w->sync_n_files > 0)
            w->sync_n_files--; /* keep the request's range aligned */
        w->dir_dirty = 1;
        removed++;
    }
    /* The file taking appends goes too once every record in it is flushed
     * and durable and no fsync is running: the WAL of an idle store is
     * then empty instead of holding up to file_bytes of flushed records.
     * The next append starts a new file named by its seq. */
    if (w->n_files == 1 && w->have_current && !w->sync_outstanding &&
        w->files[0].size > 0 && w->next_seq - 1 <= upto_seq &&
        w->durable_seq == w->next_seq - 1) {
        struct wal_file *f = &w->files[0];
        char path[4096];
        if (path_join(path, sizeof(path), w->dir, f->name) == SIFT_OK &&
            unlink(path) != 0 && errno != ENOENT) {
            SIFT_ERROR("wal: cannot remove %s: %s", path, strerror(errno));
            return removed;
        }
        if (f->fd >= 0)
            close(f->fd);
        files_remove(w, 0);
        w->have_current = 0;
        w->dir_dirty = 1;
        removed++;
    }
    return removed;
}

int
sift__wal_probe_space(struct sift_wal *w, size_t len)
{
    int rc;
    if (!w->have_current) {
        rc = start_file(w);
        if (rc < 0)
            return rc;
    }
    struct wal_file *cur = &w->files[w->n_files - 1];
    void *zeros = sift_xcalloc(1, len ? len : 1);
    rc = write_all(cur->fd, zeros, len, cur->size);
    sift_free(zeros);
    if (ftruncate(cur->fd, (off_t)cur->size) != 0 && rc == SIFT_OK)
        rc = -errno;
    return rc < 0 ? errno_to_rc(-rc) : SIFT_OK;
}
