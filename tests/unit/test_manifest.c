/*
 * test_manifest.c - manifest encode/decode, atomic save + reload, and
 * rejection of every corrupted or truncated form.
 */
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
#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/log.h"
#include "store/manifest.h"

static int
setup(void **state)
{
    char *root = sift_xstrdup("/tmp/sift-test-manifest-XXXXXX");
    assert_non_null(mkdtemp(root));
    sift_log_set_level(SIFT_LOG_ERROR);
    *state = root;
    return 0;
}

static int
teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
    assert_int_equal(system(cmd), 0);
    sift_free(*state);
    return 0;
}

static void
fill(struct sift_manifest *m)
{
    sift__manifest_init(m);
    m->generation = 41;
    m->flushed_seq = 123456789012ull;
    for (uint64_t i = 1; i <= 3; i++) {
        struct sift_manifest_seg s;
        memset(&s, 0, sizeof(s));
        s.id = i * 10;
        snprintf(s.file, sizeof(s.file), "%020llu.seg",
                 (unsigned long long)s.id);
        s.tier = (uint8_t)(i - 1);
        s.docs = i * 1000;
        s.min_ts = -(int64_t)i;
        s.max_ts = INT64_MAX - (int64_t)i;
        s.bytes = i << 33;
        s.deleted = i * 7;
        sift__manifest_add_seg(m, &s);
    }
    sift__posmap_merge(&m->pos, "kafka/logs/0", 100, 0);
    sift__posmap_merge(&m->pos, "redis/my stream%\n", 1700000000000ull, 7);
    sift__posmap_merge(&m->pos, "kafka/logs/0", 99, 5);  /* older: ignored */
    sift__posmap_merge(&m->pos, "kafka/logs/0", 100, 1); /* newer lo */
}

static void
assert_same(const struct sift_manifest *a, const struct sift_manifest *b)
{
    assert_int_equal(a->generation, b->generation);
    assert_int_equal(a->flushed_seq, b->flushed_seq);
    assert_int_equal(a->next_seg_id, b->next_seg_id);
    assert_int_equal(a->n_segs, b->n_segs);
    for (size_t i = 0; i < a->n_segs; i++) {
        assert_int_equal(a->segs[i].id, b->segs[i].id);
        assert_string_equal(a->segs[i].file, b->segs[i].file);
        assert_int_equal(a->segs[i].tier, b->segs[i].tier);
        assert_int_equal(a->segs[i].docs, b->segs[i].docs);
        assert_int_equal(a->segs[i].min_ts, b->segs[i].min_ts);
        assert_int_equal(a->segs[i].max_ts, b->segs[i].max_ts);
        assert_int_equal(a->segs[i].bytes, b->segs[i].bytes);
        assert_int_equal(a->segs[i].deleted, b->segs[i].deleted);
    }
    assert_int_equal(a->pos.n, b->pos.n);
    for (size_t i = 0; i < a->pos.n; i++) {
        const struct sift_manifest_pos *p =
            sift__posmap_find(&b->pos, a->pos.v[i].key);
        assert_non_null(p);
        assert_int_equal(p->hi, a->pos.v[i].hi);
        assert_int_equal(p->lo, a->pos.v[i].lo);
    }
}

static void
test_manifest_roundtrip(void **state)
{
    (void)state;
    struct sift_manifest m, d;
    struct sift_buf b = SIFT_BUF_INIT;
    fill(&m);
    assert_int_equal(m.next_seg_id, 31);
    const struct sift_manifest_pos *p =
        sift__posmap_find(&m.pos, "kafka/logs/0");
    assert_non_null(p);
    assert_int_equal(p->hi, 100);
    assert_int_equal(p->lo, 1);
    sift__manifest_encode(&m, &b);
    assert_int_equal(sift__manifest_decode(b.data, b.len, &d), SIFT_OK);
    assert_same(&m, &d);
    assert_non_null(sift__posmap_find(&d.pos, "redis/my stream%\n"));

    assert_int_equal(sift__manifest_remove_seg(&d, 20), 1);
    assert_int_equal(sift__manifest_remove_seg(&d, 20), 0);
    assert_int_equal(d.n_segs, 2);
    assert_int_equal(d.segs[1].id, 30);

    struct sift_manifest c;
    sift__manifest_copy(&c, &m);
    assert_same(&m, &c);
    sift__manifest_cleanup(&c);
    sift__manifest_cleanup(&d);
    sift__manifest_cleanup(&m);
    sift_buf_cleanup(&b);
}

static void
test_manifest_every_damage_is_rejected(void **state)
{
    (void)state;
    struct sift_manifest m, d;
    struct sift_buf b = SIFT_BUF_INIT;
    fill(&m);
    sift__manifest_encode(&m, &b);
    char *copy = sift_xmalloc(b.len);
    for (size_t i = 0; i < b.len; i++) {
        memcpy(copy, b.data, b.len);
        copy[i] = (char)(copy[i] ^ 0x01);
        assert_int_equal(sift__manifest_decode(copy, b.len, &d), SIFT_ECORRUPT);
        assert_int_equal(d.n_segs, 0);
        /* Every truncation too. */
        assert_int_equal(sift__manifest_decode(b.data, i, &d), SIFT_ECORRUPT);
    }
    sift_free(copy);
    sift__manifest_cleanup(&m);
    sift_buf_cleanup(&b);
}

static void
test_manifest_save_reload_generations(void **state)
{
    const char *dir = *state;
    struct sift_manifest m, d;
    assert_int_equal(sift__manifest_load(dir, &d), SIFT_ENOTFOUND);
    assert_int_equal(d.n_segs, 0);
    assert_int_equal(d.flushed_seq, 0);
    sift__manifest_cleanup(&d);

    fill(&m);
    assert_int_equal(sift__manifest_save(dir, &m), SIFT_OK);
    assert_int_equal(sift__manifest_load(dir, &d), SIFT_OK);
    assert_same(&m, &d);
    sift__manifest_cleanup(&d);

    /* The next swap replaces the whole file and leaves no temp behind. */
    m.generation++;
    m.flushed_seq += 10;
    sift__manifest_remove_seg(&m, 10);
    assert_int_equal(sift__manifest_save(dir, &m), SIFT_OK);
    assert_int_equal(sift__manifest_load(dir, &d), SIFT_OK);
    assert_int_equal(d.generation, 42);
    assert_int_equal(d.n_segs, 2);
    assert_same(&m, &d);
    sift__manifest_cleanup(&d);
    char tmp[256];
    struct stat st;
    snprintf(tmp, sizeof(tmp), "%s/MANIFEST.tmp", dir);
    assert_int_not_equal(stat(tmp, &st), 0);

    /* A damaged file on disk is refused, not half-read. */
    char path[256];
    snprintf(path, sizeof(path), "%s/MANIFEST", dir);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 30), 1);
    close(fd);
    assert_int_equal(sift__manifest_load(dir, &d), SIFT_ECORRUPT);
    sift__manifest_cleanup(&d);
    sift__manifest_cleanup(&m);
}

static void
test_manifest_rejects_bad_names_and_versions(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "sift-manifest 3\ngeneration 1\nflushed_seq 0\nnext_segment_id 1\n",
        "sift-manifest 0\ngeneration 1\nflushed_seq 0\nnext_segment_id 1\n",
        /* version 2 needs the deleted count, version 1 has none */
        "sift-manifest 2\ngeneration 1\nflushed_seq 0\nnext_segment_id 9\n"
        "segment 1 0 1 0 0 1 a.seg\n",
        "sift-manifest 1\ngeneration 1\nflushed_seq 0\nnext_segment_id 9\n"
        "segment 1 0 1 0 0 1 a.seg 0\n",
        /* more deleted than docs */
        "sift-manifest 2\ngeneration 1\nflushed_seq 0\nnext_segment_id 9\n"
        "segment 1 0 1 0 0 1 a.seg 2\n",
        "sift-manifest 1\ngeneration 1\nflushed_seq 0\nnext_segment_id 9\n"
        "segment 1 0 1 0 0 1 ../etc/passwd\n",
        "sift-manifest 1\ngeneration 1\nflushed_seq 0\nnext_segment_id 2\n"
        "segment 5 0 1 0 0 1 a.seg\n",
        "sift-manifest 1\ngeneration 1\nflushed_seq 0\n",
        "sift-manifest 1\ngeneration 1\nflushed_seq 0\nnext_segment_id 1\n"
        "position 1 1 a%00b\n",
        "sift-manifest 1\ngeneration 1\nflushed_seq 0\nnext_segment_id 1\n"
        "bogus 1\n",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct sift_buf b = SIFT_BUF_INIT;
        struct sift_manifest d;
        sift_buf_append(&b, bodies[i], strlen(bodies[i]));
        /* A correct checksum, so only the content is judged. */
        sift_buf_appendf(
            &b, "checksum %016llx\n",
            (unsigned long long)XXH64(bodies[i], strlen(bodies[i]), 0));
        assert_int_equal(sift__manifest_decode(b.data, b.len, &d),
                         SIFT_ECORRUPT);
        sift_buf_cleanup(&b);
    }
}

/* A version 1 manifest (no deleted counts) still loads. */
static void
test_manifest_reads_version_1(void **state)
{
    (void)state;
    const char *body = "sift-manifest 1\ngeneration 3\nflushed_seq 7\n"
                       "next_segment_id 9\nsegment 4 1 10 5 6 300 "
                       "00000000000000000004.seg\nposition 1 2 k\n";
    struct sift_buf b = SIFT_BUF_INIT;
    struct sift_manifest d;
    sift_buf_append(&b, body, strlen(body));
    sift_buf_appendf(&b, "checksum %016llx\n",
                     (unsigned long long)XXH64(body, strlen(body), 0));
    assert_int_equal(sift__manifest_decode(b.data, b.len, &d), SIFT_OK);
    assert_int_equal(d.file_version, 1);
    assert_int_equal(d.n_segs, 1);
    assert_int_equal(d.segs[0].docs, 10);
    assert_int_equal(d.segs[0].deleted, 0);
    assert_int_equal(d.segs[0].bytes, 300);
    sift_buf_reset(&b);
    sift__manifest_encode(&d, &b); /* written back as version 2 */
    assert_non_null(strstr(sift_buf_cstr(&b), "sift-manifest 2\n"));
    assert_non_null(strstr(sift_buf_cstr(&b), ".seg 0\n"));
    sift__manifest_cleanup(&d);
    sift_buf_cleanup(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_roundtrip),
        cmocka_unit_test(test_manifest_every_damage_is_rejected),
        cmocka_unit_test_setup_teardown(test_manifest_save_reload_generations,
                                        setup, teardown),
        cmocka_unit_test(test_manifest_rejects_bad_names_and_versions),
        cmocka_unit_test(test_manifest_reads_version_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
