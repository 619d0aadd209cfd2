/*
 * test_wal.c - the write-ahead log: round trip, group commit, torn tails
 * at every byte offset, mid-log corruption, rotation and trimming, and
 * ENOSPC / fsync failure injection.
 */
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
    assert_int_equal(
        sift__wal_replay(f->dir, from, f->qdir, collect_cb, c, rep), SIFT_OK);
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

static void
test_wal_mid_log_corruption_stops_and_quarantines(void **state)
{
    struct fixture *f = *state;
    struct sift_wal *w;
    /* Small files: records 1..N spread over several files. */
    assert_int_equal(sift__wal_open(f->dir, 1, 1024, &w), SIFT_OK);
    append_n(w, 1, 60);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    unsigned n_files = sift__wal_files(w);
    sift__wal_close(w);
    assert_true(n_files >= 4);

    /* Damage the second record of the first file. */
    uint8_t first[512];
    size_t len1 = make_payload(1, first, sizeof(first));
    char path[256];
    snprintf(path, sizeof(path), "%s/%020llu.wal", f->dir, 1ull);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    uint8_t junk = 0xff;
    assert_int_equal(
        pwrite(fd, &junk, 1, (off_t)(SIFT_WAL_HDR_LEN + len1 + 40)), 1);
    close(fd);

    struct sift_wal_replay_report rep;
    assert_replay(f, 1, 1, 1, &rep);
    assert_int_equal(rep.corrupt, 1);
    assert_string_equal(rep.bad_file, "00000000000000000001.wal");
    assert_int_equal(rep.bad_offset, SIFT_WAL_HDR_LEN + len1);
    assert_int_equal(rep.max_seq_seen, 60);
    /* Every file moved to quarantine, none left to replay or reuse. */
    assert_int_equal(file_size(f->dir, 1), -1);
    char qpath[256];
    struct stat st;
    snprintf(qpath, sizeof(qpath), "%s/wal-%020llu.wal", f->qdir, 1ull);
    assert_int_equal(stat(qpath, &st), 0);
    assert_replay(f, 1, 1, 0, &rep);
    assert_int_equal(rep.n_files, 0);
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
    assert_int_equal(sift__wal_replay(f->dir, 51, f->qdir, collect_cb, c, &rep),
                     SIFT_OK);
    assert_int_equal(c->n, 50);
    assert_int_equal(c->seqs[0], 51);
    assert_true(rep.first_seq <= 51);
    assert_int_equal(rep.corrupt, 0);
    sift_free(c);

    /* Trimming everything keeps the current file. */
    sift__wal_trim(w, 1000);
    assert_int_equal(sift__wal_files(w), 1);
    append_n(w, 101, 3);
    assert_int_equal(sift__wal_sync(w), SIFT_OK);
    sift__wal_close(w);
    c = sift_xcalloc(1, sizeof(*c));
    assert_int_equal(
        sift__wal_replay(f->dir, 101, f->qdir, collect_cb, c, &rep), SIFT_OK);
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
            test_wal_mid_log_corruption_stops_and_quarantines, setup, teardown),
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
