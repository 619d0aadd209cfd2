/*
 * test_wal.c - the write-ahead log: round trip, group commit, torn tails
 * at every byte offset, damage in the middle (every byte of a record, a
 * missing or cut file, zeros, stale copies), rotation and trimming, and
 * ENOSPC / fsync failure injection.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "sift/error.h"
#include "sift/log.h"
#include "store/wal.h"

struct fixture {
    char root[64];
    char dir[128];
    char qdir[128];
};

static int
setup(void **state)
{
    struct fixture *f = sift_xcalloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/sift-test-wal-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->dir, sizeof(f->dir), "%s/wal", f->root);
    snprintf(f->qdir, sizeof(f->qdir), "%s/quarantine", f->root);
    assert_int_equal(mkdir(f->qdir, 0755), 0);
    sift_log_set_level(SIFT_LOG_ERROR);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    sift__wal_inject_enospc(0);
    sift__wal_inject_fsync_error(0, 0);
    sift_free(f);
    return 0;
}

/* Payload of record i: i repeated, length varies with i (0 allowed). */
static size_t
make_payload(uint64_t i, uint8_t *buf, size_t cap)
{
    size_t len = (size_t)((i * 37) % 300);
    if (len > cap)
        len = cap;
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)(i + k);
    return len;
}

struct collect {
    uint64_t seqs[4096];
    size_t n;
    int bad_payload;
};

static int
collect_cb(uint64_t seq, const uint8_t *payload, size_t len, void *arg)
{
    struct collect *c = arg;
    uint8_t want[512];
    size_t wlen = make_payload(seq, want, sizeof(want));
    if (wlen != len || memcmp(want, payload, len) != 0)
        c->bad_payload++;
    if (c->n < 4096)
        c->seqs[c->n++] = seq;
    return 0;
}

static void
append_n(struct sift_wal *w, uint64_t first, uint64_t n)
{
    for (uint64_t i = first; i < first + n; i++) {
        uint8_t buf[512];
        size_t len = make_payload(i, buf, sizeof(buf));
        uint64_t seq = 0;
        assert_int_equal(sift__wal_append(w, buf, len, &seq), SIFT_OK);
        assert_int_equal(seq, i);
    }
}

static void
assert_replay(const struct fixture *f, uint64_t from, uint64_t first,
              uint64_t last, struct sift_wal_replay_report *rep)
{
    struct collect *c = sift_xcalloc(1, sizeof(*c));
    assert_int_equal(sift__wal_replay(f->dir, from, collect_cb, c, rep),
                     SIFT_OK);
    sift__wal_report_cleanup(rep);
    assert_int_equal(c->bad_payload, 0);
    assert_int_equal(c->n, last >= first ? last - first + 1 : 0);
    for (size_t i = 0; i < c->n; i++)
        assert_int_equal(c->seqs[i], first + i);
    sift_free(c);
}

static off_t
file_size(const char *dir, uint64_t first_seq)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%020llu.wal", dir,
             (unsigned long long)first_seq);
    if (stat(path, &st) != 0)
        return -1;
    return st.st_size;
}

/* Number of *.wal files in dir. */
static int
count_wal_files(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        n += l > 4 && strcmp(de->d_name + l - 4, ".wal") == 0;
    }
    closedir(d);
    return n;
}

static void
test_wal_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct sift_wal *w;
    struct sift_wal_replay_report rep;

    assert_int_equal(sift__wal_open(f->dir, 1, 1 << 20, &w), SIFT_OK);
    append_n(w, 1, 200);
    assert_int_equal(sift__wal_last_seq(w), 200);
    assert_int_equal(sift__wal_durable_seq(w), 0);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    assert_int_equal(sift__wal_durable_seq(w), 200);
    sift__wal_close(w);

    assert_replay(f, 1, 1, 200, &rep);
    assert_int_equal(rep.last_seq, 200);
    assert_int_equal(rep.corrupt, 0);
    assert_int_equal(rep.torn_bytes, 0);
    assert_replay(f, 150, 150, 200, &rep);
    assert_int_equal(rep.n_records, 51);
    assert_replay(f, 201, 1, 0, &rep);
    assert_int_equal(rep.last_seq, 200);

    /* Reopen and continue: seqs go on without a gap across files. */
    assert_int_equal(sift__wal_open(f->dir, 201, 1 << 20, &w), SIFT_OK);
    append_n(w, 201, 10);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    assert_int_equal(sift__wal_files(w), 2);
    sift__wal_close(w);
    assert_replay(f, 1, 1, 210, &rep);
}

static void
test_wal_group_commit_target(void **state)
{
    struct fixture *f = *state;
    struct sift_wal *w;
    struct sift_wal_sync req;

    assert_int_equal(sift__wal_open(f->dir, 1, 4096, &w), SIFT_OK);
    struct sift_wal_sync none;
    assert_int_equal(sift__wal_sync_prepare(w, &none), 0);
    append_n(w, 1, 5);
    assert_int_equal(sift__wal_sync_prepare(w, &req), 1);
    assert_int_equal(req.target_seq, 5);
    /* Appends while the fsync runs elsewhere are not covered by it... */
    append_n(w, 6, 40); /* ...and rotate through several small files. */
    sift__wal_sync_run(&req);
    assert_int_equal(sift__wal_sync_done(w, &req), SIFT_OK);
    assert_int_equal(sift__wal_durable_seq(w), 5);
    assert_true(sift__wal_files(w) > 1);
    /* The next group covers everything appended meanwhile. */
    assert_int_equal(sift__wal_sync_prepare(w, &req), 1);
    assert_int_equal(req.target_seq, 45);
    sift__wal_sync_run(&req);
    assert_int_equal(sift__wal_sync_done(w, &req), SIFT_OK);
    assert_int_equal(sift__wal_durable_seq(w), 45);
    sift__wal_close(w);

    struct sift_wal_replay_report rep;
    assert_replay(f, 1, 1, 45, &rep);
}

/* Writes records 1..3, returns the size before record 3 and after it. */
static void
write_three(struct fixture *f, off_t *before, off_t *after)
{
    struct sift_wal *w;
    assert_int_equal(sift__wal_open(f->dir, 1, 1 << 20, &w), SIFT_OK);
    append_n(w, 1, 2);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    *before = file_size(f->dir, 1);
    append_n(w, 3, 1);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    *after = file_size(f->dir, 1);
    sift__wal_close(w);
}

static void
test_wal_torn_tail_every_offset(void **state)
{
    struct fixture *f = *state;
    off_t before, after;
    char path[256];
    snprintf(path, sizeof(path), "%s/%020llu.wal", f->dir, 1ull);

    write_three(f, &before, &after);
    assert_true(after - before > SIFT_WAL_HDR_LEN);
    uint8_t *orig = sift_xmalloc((size_t)after);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, orig, (size_t)after), after);
    close(fd);

    for (off_t cut = before; cut < after; cut++) {
        /* Kill mid-write: the file ends somewhere inside record 3. */
        fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, orig, (size_t)cut), cut);
        close(fd);
        struct sift_wal_replay_report rep;
        assert_replay(f, 1, 1, 2, &rep);
        assert_int_equal(rep.corrupt, 0);
        assert_int_equal(rep.torn_bytes, (uint64_t)(cut - before));
        assert_int_equal(file_size(f->dir, 1), before);
        /* A second replay finds a clean log. */
        assert_replay(f, 1, 1, 2, &rep);
        assert_int_equal(rep.torn_bytes, 0);
    }
    for (off_t bad = before; bad < after; bad++) {
        /* Same-size file with one damaged byte in the last record. */
        fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, orig, (size_t)after), after);
        uint8_t b = (uint8_t)(orig[bad] ^ 0x5a);
        assert_int_equal(pwrite(fd, &b, 1, bad), 1);
        close(fd);
        struct sift_wal_replay_report rep;
        assert_replay(f, 1, 1, 2, &rep);
        assert_int_equal(rep.corrupt, 0);
        assert_int_equal(file_size(f->dir, 1), before);
    }
    sift_free(orig);

    /* Writing resumes right after the last good record. */
    struct sift_wal *w;
    assert_int_equal(sift__wal_open(f->dir, 3, 1 << 20, &w), SIFT_OK);
    append_n(w, 3, 4);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    sift__wal_close(w);
    struct sift_wal_replay_report rep;
    assert_replay(f, 1, 1, 6, &rep);
}

/* The files of a WAL directory, kept to put them back between cases. */
struct wal_copy {
    char name[16][32];
    uint8_t *data[16];
    size_t len[16];
    int n;
};

static void
wal_keep(const struct fixture *f, struct wal_copy *c, uint64_t *firsts)
{
    memset(c, 0, sizeof(*c));
    for (uint64_t seq = 1; seq <= 200 && c->n < 16; seq++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%020llu.wal", f->dir,
                 (unsigned long long)seq);
        FILE *fp = fopen(path, "rb");
        if (!fp)
            continue;
        firsts[c->n] = seq;
        snprintf(c->name[c->n], sizeof(c->name[0]), "%020llu.wal",
                 (unsigned long long)seq);
        c->data[c->n] = sift_xmalloc(8192);
        c->len[c->n] = fread(c->data[c->n], 1, 8192, fp);
        fclose(fp);
        c->n++;
    }
}

static void
wal_restore(const struct fixture *f, const struct wal_copy *c)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -f '%s'/*.wal", f->dir);
    assert_int_equal(system(cmd), 0);
    for (int i = 0; i < c->n; i++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s", f->dir, c->name[i]);
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        assert_int_equal(fwrite(c->data[i], 1, c->len[i], fp), c->len[i]);
        fclose(fp);
    }
}

static void
wal_copy_free(struct wal_copy *c)
{
    for (int i = 0; i < c->n; i++)
        sift_free(c->data[i]);
}

/* Replays from `from`; every seq from..last arrives but those in
 * [lost_a, lost_b], each once and intact; returns the report. */
static void
expect_all_but(const struct fixture *f, uint64_t from, uint64_t last,
               uint64_t lost_a, uint64_t lost_b,
               struct sift_wal_replay_report *rep)
{
    struct collect *c = sift_xcalloc(1, sizeof(*c));
    assert_int_equal(sift__wal_replay(f->dir, from, collect_cb, c, rep),
                     SIFT_OK);
    assert_int_equal(c->bad_payload, 0);
    size_t k = 0;
    for (uint64_t seq = from; seq <= last; seq++) {
        if (seq >= lost_a && seq <= lost_b)
            continue;
        assert_true(k < c->n);
        assert_int_equal(c->seqs[k], seq);
        k++;
    }
    assert_int_equal(k, c->n);
    sift_free(c);
}

/* Offset of record seq in a file whose first record is first. */
static size_t
record_offset(const uint8_t *p, size_t len, uint64_t first, uint64_t seq)
{
    size_t off = 0;
    for (uint64_t s = first; s < seq; s++) {
        assert_true(off + SIFT_WAL_HDR_LEN <= len);
        off += SIFT_WAL_HDR_LEN +
               (size_t)(p[off + 16] | p[off + 17] << 8 | p[off + 18] << 16);
    }
    return off;
}

/*
 * Damage costs only the records it touched: a flipped byte anywhere in a
 * record loses that record alone (replay resynchronises on the next
 * good header); a missing middle file loses exactly its seqs ("records
 * a..b missing"); a file cut mid-record loses the rest of that file; a
 * zeroed span loses the records it covers; records at or below the
 * flushed position are only reported.  Nothing is moved or cut, except a
 * torn tail.
 */
static void
test_wal_damage_costs_only_what_it_touched(void **state)
{
    struct fixture *f = *state;
    struct sift_wal *w;
    assert_int_equal(sift__wal_open(f->dir, 1, 1024, &w), SIFT_OK);
    append_n(w, 1, 60);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    sift__wal_close(w);
    struct wal_copy keep;
    uint64_t firsts[16];
    wal_keep(f, &keep, firsts);
    assert_true(keep.n >= 5);
    struct sift_wal_replay_report rep;
    char path[1024];

    /* Every byte of a record in the middle of file 2. */
    int fi = 1;
    uint64_t victim = firsts[fi] + 1;
    assert_true(victim < firsts[fi + 1] - 1);
    size_t at = record_offset(keep.data[fi], keep.len[fi], firsts[fi], victim);
    size_t end =
        record_offset(keep.data[fi], keep.len[fi], firsts[fi], victim + 1);
    snprintf(path, sizeof(path), "%s/%s", f->dir, keep.name[fi]);
    for (size_t off = at; off < end; off++) {
        wal_restore(f, &keep);
        int fd = open(path, O_WRONLY);
        assert_true(fd >= 0);
        uint8_t b = (uint8_t)(keep.data[fi][off] ^ 0x10);
        assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
        close(fd);
        expect_all_but(f, 1, 60, victim, victim, &rep);
        assert_int_equal(rep.lost_records, 1);
        assert_int_equal(rep.n_lost, 1);
        assert_true(rep.lost[0].first == victim && rep.lost[0].last == victim);
        assert_string_equal(rep.lost[0].file, keep.name[fi]);
        assert_int_equal(rep.lost[0].offset, at);
        assert_int_equal(rep.corrupt, 1);
        assert_int_equal(rep.torn_bytes, 0);
        assert_int_equal(rep.max_seq_seen, 60);
        sift__wal_report_cleanup(&rep);
        assert_int_equal(file_size(f->dir, firsts[fi]),
                         (off_t)keep.len[fi]); /* not cut, not moved */
    }

    /* The same damage below the flushed position is only reported. */
    expect_all_but(f, 30, 60, 0, 0, &rep);
    assert_int_equal(rep.lost_records, 0);
    assert_int_equal(rep.lost_flushed, 1);
    assert_int_equal(rep.corrupt, 0);
    sift__wal_report_cleanup(&rep);

    /* A middle file gone: exactly its records, named. */
    wal_restore(f, &keep);
    assert_int_equal(unlink(path), 0);
    expect_all_but(f, 1, 60, firsts[fi], firsts[fi + 1] - 1, &rep);
    assert_int_equal(rep.lost_records, firsts[fi + 1] - firsts[fi]);
    assert_int_equal(rep.n_lost, 1);
    assert_int_equal(rep.lost[0].missing, 1);
    assert_true(rep.lost[0].first == firsts[fi] &&
                rep.lost[0].last == firsts[fi + 1] - 1);
    sift__wal_report_cleanup(&rep);

    /* A middle file cut inside a record: the rest of that file. */
    wal_restore(f, &keep);
    assert_int_equal(truncate(path, (off_t)(at + 10)), 0);
    expect_all_but(f, 1, 60, victim, firsts[fi + 1] - 1, &rep);
    assert_int_equal(rep.lost_records, firsts[fi + 1] - victim);
    assert_int_equal(rep.torn_bytes, 0);
    sift__wal_report_cleanup(&rep);

    /* Zeros over two records and a half. */
    wal_restore(f, &keep);
    size_t z_end =
        record_offset(keep.data[fi], keep.len[fi], firsts[fi], victim + 2) + 5;
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t zeros[2048] = {0};
    assert_int_equal(pwrite(fd, zeros, z_end - at, (off_t)at),
                     (ssize_t)(z_end - at));
    close(fd);
    expect_all_but(f, 1, 60, victim, victim + 2, &rep);
    assert_int_equal(rep.lost_records, 3);
    sift__wal_report_cleanup(&rep);

    /* A stale copy of a record already read is skipped, not replayed. */
    wal_restore(f, &keep);
    snprintf(path, sizeof(path), "%s/%s", f->dir, keep.name[keep.n - 1]);
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    assert_int_equal(fwrite(keep.data[fi] + at, 1, end - at, fp), end - at);
    fclose(fp);
    expect_all_but(f, 1, 60, 0, 0, &rep);
    assert_int_equal(rep.skipped, 1);
    assert_int_equal(rep.lost_records, 0);
    sift__wal_report_cleanup(&rep);

    /* Moving a damaged file aside (what the store does once its good
     * records are in a segment). */
    wal_restore(f, &keep);
    assert_int_equal(sift__wal_quarantine(f->dir, keep.name[fi], f->qdir),
                     SIFT_OK);
    char qpath[1024];
    struct stat st;
    snprintf(qpath, sizeof(qpath), "%s/wal-%s", f->qdir, keep.name[fi]);
    assert_int_equal(stat(qpath, &st), 0);
    assert_int_equal(file_size(f->dir, firsts[fi]), -1);
    assert_int_equal(sift__wal_quarantine(f->dir, "x.wal", f->qdir),
                     SIFT_EINVAL);
    wal_copy_free(&keep);
}

static void
test_wal_rotation_and_trim(void **state)
{
    struct fixture *f = *state;
    struct sift_wal *w;
    assert_int_equal(sift__wal_open(f->dir, 1, 2048, &w), SIFT_OK);
    append_n(w, 1, 100);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    unsigned n0 = sift__wal_files(w);
    assert_true(n0 >= 5);
    uint64_t bytes0 = sift__wal_bytes(w);

    /* Nothing is trimmed before its records are flushed elsewhere. */
    assert_int_equal(sift__wal_trim(w, 0), 0);
    unsigned removed = sift__wal_trim(w, 50);
    assert_true(removed >= 1);
    assert_int_equal(sift__wal_files(w), n0 - removed);
    assert_true(sift__wal_bytes(w) < bytes0);
    /* Record 51 must survive in the first remaining file. */
    struct sift_wal_replay_report rep;
    struct collect *c = sift_xcalloc(1, sizeof(*c));
    assert_int_equal(sift__wal_replay(f->dir, 51, collect_cb, c, &rep),
                     SIFT_OK);
    sift__wal_report_cleanup(&rep);
    assert_int_equal(c->n, 50);
    assert_int_equal(c->seqs[0], 51);
    assert_true(rep.first_seq <= 51);
    assert_int_equal(rep.corrupt, 0);
    sift_free(c);

    /* Trimming up to a seq inside the current file keeps it. */
    sift__wal_trim(w, 99);
    assert_int_equal(sift__wal_files(w), 1);
    assert_true(sift__wal_bytes(w) > 0);
    /* Once every record is flushed the current file goes too (the WAL
     * of an idle store takes no space), and appends start a new one. */
    sift__wal_trim(w, 100);
    assert_int_equal(sift__wal_files(w), 0);
    assert_int_equal(sift__wal_bytes(w), 0);
    assert_int_equal(count_wal_files(f->dir), 0);
    append_n(w, 101, 3);
    assert_int_equal(sift__wal_files(w), 1);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    sift__wal_close(w);
    c = sift_xcalloc(1, sizeof(*c));
    assert_int_equal(sift__wal_replay(f->dir, 101, collect_cb, c, &rep),
                     SIFT_OK);
    sift__wal_report_cleanup(&rep);
    assert_int_equal(c->n, 3);
    assert_int_equal(rep.last_seq, 103);
    sift_free(c);
}

static void
test_wal_enospc_injection(void **state)
{
    struct fixture *f = *state;
    struct sift_wal *w;
    assert_int_equal(sift__wal_open(f->dir, 1, 1 << 20, &w), SIFT_OK);
    append_n(w, 1, 3);
    uint64_t bytes = sift__wal_bytes(w);

    sift__wal_inject_enospc(2);
    uint8_t buf[512];
    size_t len = make_payload(4, buf, sizeof(buf));
    uint64_t seq = 0;
    assert_int_equal(sift__wal_append(w, buf, len, &seq), SIFT_ENOSPACE);
    assert_int_equal(sift__wal_bytes(w), bytes);
    assert_int_equal(file_size(f->dir, 1), (off_t)bytes);
    assert_int_equal(sift__wal_probe_space(w, 4096), SIFT_ENOSPACE);
    assert_int_equal(file_size(f->dir, 1), (off_t)bytes);
    /* Space is back: the same seq is used, nothing is skipped. */
    assert_int_equal(sift__wal_probe_space(w, 4096), SIFT_OK);
    assert_int_equal(file_size(f->dir, 1), (off_t)bytes);
    append_n(w, 4, 2);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    sift__wal_close(w);
    struct sift_wal_replay_report rep;
    assert_replay(f, 1, 1, 5, &rep);
    assert_int_equal(rep.torn_bytes, 0);
}

static void
test_wal_fsync_failure_rolls_back(void **state)
{
    struct fixture *f = *state;
    struct sift_wal *w;
    assert_int_equal(sift__wal_open(f->dir, 1, 1024, &w), SIFT_OK);
    append_n(w, 1, 3);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    append_n(w, 4, 30); /* spills into new files */
    sift__wal_inject_fsync_error(1, ENOSPC);
    assert_int_equal(sift__wal_sync(w), SIFT_ENOSPACE);
    assert_int_equal(sift__wal_durable_seq(w), 3);
    assert_int_equal(sift__wal_last_seq(w), 3);
    /* The records 4.. are gone from disk; appends reuse their seqs. */
    struct sift_wal_replay_report rep;
    assert_replay(f, 1, 1, 3, &rep);
    assert_int_equal(rep.corrupt, 0);
    append_n(w, 4, 5);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    sift__wal_close(w);
    assert_replay(f, 1, 1, 8, &rep);
    assert_int_equal(rep.corrupt, 0);
    assert_int_equal(rep.torn_bytes, 0);
}

static void
test_wal_scan_rejects_garbage(void **state)
{
    (void)state;
    uint8_t junk[200];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 7);
    size_t good = 1, next = 1;
    uint64_t last = 0;
    assert_int_equal(sift__wal_scan(junk, sizeof(junk), 0, 0, NULL, NULL, &good,
                                    &next, &last),
                     SIFT_ECORRUPT);
    assert_int_equal(good, 0);
    assert_int_equal(next, 0);
    assert_int_equal(
        sift__wal_scan(junk, 0, 0, 0, NULL, NULL, &good, &next, &last),
        SIFT_OK);
    assert_int_equal(good, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wal_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_group_commit_target, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_torn_tail_every_offset, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_damage_costs_only_what_it_touched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_rotation_and_trim, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_enospc_injection, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wal_fsync_failure_rolls_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_scan_rejects_garbage, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
