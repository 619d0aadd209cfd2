/*
 * test_drain.c - unit tests of the template miner (src/anomaly/drain.c).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/drain.h"
#include "sift/error.h"
#include "sift/event.h"

static uint32_t
add(struct sift_drain *d, const char *msg)
{
    return sift_drain_add(d, msg, strlen(msg), 1000);
}

static void
assert_mask(const char *in, const char *want)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_drain_mask(in, strlen(in), &b);
    assert_string_equal(sift_buf_cstr(&b), want);
    sift_buf_cleanup(&b);
}

static void
test_drain_mask_shapes(void **state)
{
    (void)state;
    /* Values are masked by type, keeping what surrounds them. */
    assert_mask("from 10.0.0.1 port 22", "from <ip> port <num>");
    assert_mask("peer 10.0.0.1:8080, [1.2.3.4] (42) -3.5",
                "peer <ip>, [<ip>] (<num>) <num>");
    assert_mask("ssh2 alt0", "ssh<num> alt<num>");
    assert_mask("open /var/log/x.log ok", "open <path> ok");
    assert_mask("GET http://a.b/c?d=1", "GET <url>");
    assert_mask("id 38101a0b-2096-447d-96ea-a692162415ae done",
                "id <uuid> done");
    assert_mask("req-38101a0b-2096-447d-96ea-a692162415ae done",
                "req-<hex>-<num>-<hex>-<hex>-<hex> done");
    assert_mask("blk_-1608999687919862906 0x1f deadbeef01",
                "blk_-<num> <hex> <hex>");
    assert_mask("uid=0 tty=NODEVssh", "uid=<num> tty=NODEVssh");
    assert_mask("took 5ms at 12:01:02 v1.2.3",
                "took <num>ms at <*> v<num>.<num>.<num>");
    assert_mask("  \t ", "");
}

static void
test_drain_same_template_stable_id(void **state)
{
    (void)state;
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    uint32_t a = add(d, "Accepted password for root from 1.2.3.4 port 22 ssh2");
    uint32_t b = add(d, "Accepted password for alice from 5.6.7.8 port 9 ssh2");
    assert_int_not_equal(a, SIFT_TEMPLATE_NONE);
    assert_int_equal(a, b);
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, a, &info), SIFT_OK);
    assert_string_equal(
        info.text, "Accepted password for <*> from <ip> port <num> ssh<num>");
    assert_int_equal(info.count, 2);
    /* Generalized text, same id; match without learning finds it. */
    const char *m = "Accepted password for bob from 9.9.9.9 port 1 ssh2";
    assert_int_equal(sift_drain_match(d, m, strlen(m)), a);
    assert_int_equal(sift_drain_count(d), 1);
    sift_drain_free(d);
}

static void
test_drain_word_conflict_splits(void **state)
{
    (void)state;
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    uint32_t a = add(d, "[instance: 1a2b3c4d] VM Started (Lifecycle Event)");
    uint32_t b = add(d, "[instance: 5e6f7a8b] VM Paused (Lifecycle Event)");
    uint32_t c = add(d, "[instance: 9c0d1e2f] VM Started (Lifecycle Event)");
    assert_int_not_equal(a, b);
    assert_int_equal(a, c);
    assert_int_equal(add(d, ""), SIFT_TEMPLATE_NONE);
    sift_drain_free(d);
}

static void
test_drain_eviction_lru(void **state)
{
    (void)state;
    struct sift_drain_cfg cfg = {3, 0, 0};
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(&cfg, &d), SIFT_OK);
    uint32_t a = add(d, "alpha one");
    uint32_t b = add(d, "beta two three");
    uint32_t c = add(d, "gamma four five six");
    assert_int_equal(add(d, "alpha one"), a); /* a is now most recent */
    uint32_t e = add(d, "delta seven eight nine ten");
    assert_int_equal(sift_drain_count(d), 3);
    assert_int_equal(sift_drain_evicted(d), 1);
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, b, &info), SIFT_ENOTFOUND);
    assert_int_equal(sift_drain_get(d, a, &info), SIFT_OK);
    assert_int_equal(sift_drain_get(d, c, &info), SIFT_OK);
    /* An evicted template comes back with a fresh id, never a reused one. */
    uint32_t b2 = add(d, "beta two three");
    assert_true(b2 > e);
    assert_int_equal(sift_drain_count(d), 3);
    sift_drain_free(d);
}

static void
test_drain_long_message_capped(void **state)
{
    (void)state;
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    struct sift_buf b = SIFT_BUF_INIT;
    for (int i = 0; i < 500; i++)
        sift_buf_appendf(&b, "w%c ", 'a' + i % 26);
    uint32_t id = sift_drain_add(d, b.data, b.len, 1);
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, id, &info), SIFT_OK);
    assert_int_equal(info.n_tokens, SIFT_DRAIN_MAX_TOKENS);
    sift_buf_cleanup(&b);
    sift_drain_free(d);
}

static void
test_drain_save_load_roundtrip(void **state)
{
    (void)state;
    char path[] = "/tmp/test_drain_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    uint32_t a = add(d, "connection from 1.2.3.4 closed");
    add(d, "connection from 5.6.7.8 closed");
    uint32_t b = add(d, "disk full on sda1");
    assert_int_equal(sift_drain_save(d, path), SIFT_OK);
    sift_drain_free(d);

    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    assert_int_equal(sift_drain_load(d, path), SIFT_OK);
    assert_int_equal(sift_drain_count(d), 2);
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, a, &info), SIFT_OK);
    assert_int_equal(info.count, 2);
    assert_string_equal(info.text, "connection from <ip> closed");
    assert_int_equal(add(d, "connection from 9.9.9.9 closed"), a);
    assert_int_equal(add(d, "disk full on sda2"), b);
    uint32_t c = add(d, "something entirely new here");
    assert_true(c > b);
    sift_drain_free(d);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("sift-drain 1 5 0\n1 2 3 x\tbroken\n", f);
    fclose(f);
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    /* An older file without checksums: the bad line is skipped alone. */
    assert_int_equal(sift_drain_load(d, path), SIFT_OK);
    assert_int_equal(sift_drain_count(d), 0);
    int hb = -1;
    assert_int_equal(sift_drain_load_damage(d, &hb), 1);
    assert_int_equal(hb, 0);
    assert_int_equal(sift_drain_next_id(d), 5);
    unlink(path);
    assert_int_equal(sift_drain_load(d, path), -ENOENT);
    sift_drain_free(d);
}

/*
 * A damaged templates file costs the lines the damage touched: a byte
 * flipped in any record line loses that template alone (the others keep
 * their ids and texts); flipped in the header, every template loads and
 * the counter stays past every id read; a file cut short loses the cut
 * line; the counter never goes back to an id that was handed out.
 */
static void
test_drain_damaged_lines_cost_only_themselves(void **state)
{
    (void)state;
    char path[] = "/tmp/test_drain_dmg_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    enum { N = 12 };
    uint32_t ids[N];
    char msg[80];
    for (int i = 0; i < N; i++) {
        /* i + 2 tokens: templates of different lengths never merge */
        size_t o = 0;
        for (int k = 0; k < i + 2; k++)
            o += (size_t)snprintf(msg + o, sizeof(msg) - o, "t%c ", 'a' + k);
        ids[i] = add(d, msg);
    }
    uint32_t next = sift_drain_next_id(d);
    assert_int_equal(sift_drain_save(d, path), SIFT_OK);
    sift_drain_free(d);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char orig[8192];
    size_t len = fread(orig, 1, sizeof(orig), f);
    fclose(f);
    assert_true(len > 0 && len < sizeof(orig));
    size_t line_start[N + 2];
    int lines = 0;
    line_start[lines++] = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (orig[i] == '\n')
            line_start[lines++] = i + 1;
    assert_int_equal(lines, N + 1);
    line_start[lines] = len;
    /* Every byte of line 1 (header), line 2 and the last line. */
    int which[] = {0, 1, N};
    for (size_t w = 0; w < 3; w++) {
        int ln = which[w];
        for (size_t off = line_start[ln]; off < line_start[ln + 1]; off++) {
            char copy[8192];
            memcpy(copy, orig, len);
            copy[off] ^= (char)0x04;
            f = fopen(path, "wb");
            assert_non_null(f);
            assert_int_equal(fwrite(copy, 1, len, f), len);
            fclose(f);
            assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
            assert_int_equal(sift_drain_load(d, path), SIFT_OK);
            /* A flipped newline joins this line and the next: both. */
            int joined = off == line_start[ln + 1] - 1 && ln < N;
            int hb = 0;
            assert_int_equal(sift_drain_load_damage(d, &hb), 1);
            assert_int_equal(hb, ln == 0);
            assert_int_equal(sift_drain_count(d), N - (ln > 0) - joined);
            /* Records are saved least recently seen first: line 1 + k is
             * the k-th oldest, i.e. ids[k - 1]. */
            for (int k = 0; k < N; k++) {
                struct sift_drain_info info;
                int lost = ln == k + 1 || (joined && ln + 1 == k + 1);
                int rc = sift_drain_get(d, ids[k], &info);
                assert_int_equal(rc, lost ? SIFT_ENOTFOUND : SIFT_OK);
            }
            assert_true(sift_drain_next_id(d) >=
                        (ln == 0 ? ids[N - 1] + 1 : next));
            sift_drain_free(d);
        }
    }
    /* Cut in the middle of the last line. */
    assert_int_equal(truncate(path, (off_t)(line_start[N] + 5)), 0);
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    assert_int_equal(sift_drain_load(d, path), SIFT_OK);
    assert_int_equal(sift_drain_load_damage(d, NULL), 1);
    assert_int_equal(sift_drain_count(d), N - 1);
    sift_drain_free(d);
    unlink(path);
}

/* Tiny deterministic generator for the shape tests below. */
static uint32_t
next_rand(uint64_t *st)
{
    *st = *st * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
    return (uint32_t)(*st >> 33);
}

/*
 * The miner caches which template absorbed a message shape; the cache
 * must never answer differently from a full match.  After add(m) returns
 * id, a fresh full match of m (sift_drain_match does not use the cache)
 * must give id again.  Few words, numbers and a small template limit
 * make shapes repeat while templates generalize and get evicted, which
 * is when a stale cache entry would give a wrong or freed template.
 */
static void
test_drain_shape_cache_agrees_with_match(void **state)
{
    (void)state;
    static const char *const words[] = {"open", "close", "read", "user",
                                        "disk", "net",   "alpha"};
    struct sift_drain_cfg cfg = {12, 0, 0};
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(&cfg, &d), SIFT_OK);
    uint64_t st = 42;
    uint32_t hits_same = 0;
    for (int i = 0; i < 20000; i++) {
        char msg[256];
        size_t o = 0;
        unsigned n = 2 + next_rand(&st) % 4;
        for (unsigned k = 0; k < n; k++) {
            uint32_t r = next_rand(&st);
            /* Words early in the message, numbers late: varied keys. */
            if (r % 5 < 3 - (k > 1))
                o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%s ",
                                      words[(r >> 8) % 7]);
            else
                o += (size_t)snprintf(msg + o, sizeof(msg) - o, "%u ",
                                      (r >> 8) % 50);
        }
        uint32_t id = sift_drain_add(d, msg, o, i);
        assert_int_not_equal(id, SIFT_TEMPLATE_NONE);
        assert_int_equal(sift_drain_match(d, msg, o), id);
        hits_same += add(d, msg) == id;
    }
    /* Repeating a message right away mostly finds the same template. */
    assert_true(hits_same > 10000);
    assert_true(sift_drain_evicted(d) > 0);
    sift_drain_free(d);
}

/* A cached template that is evicted must not be returned (ASan would
 * also see the freed cluster). */
static void
test_drain_shape_cache_after_eviction(void **state)
{
    (void)state;
    struct sift_drain_cfg cfg = {2, 0, 0};
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(&cfg, &d), SIFT_OK);
    uint32_t a = add(d, "alpha one");
    assert_int_equal(add(d, "alpha one"), a); /* now cached */
    add(d, "beta two three");
    add(d, "gamma four five six"); /* evicts a */
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, a, &info), SIFT_ENOTFOUND);
    uint32_t a2 = add(d, "alpha one");
    assert_true(a2 > a);
    assert_int_equal(sift_drain_get(d, a2, &info), SIFT_OK);
    assert_string_equal(info.text, "alpha one");
    assert_int_equal(add(d, "alpha one"), a2);
    sift_drain_free(d);
}

/*
 * A template made only of wildcards would group unrelated lines: the
 * miner never generalizes a template's last constant away.  Each line
 * below differs from the previous one in one more position (7 of 8
 * tokens equal, similarity 0.875), so the template loses one constant
 * per line; the line that would take its last one starts a new template.
 */
static void
test_drain_never_all_wildcards(void **state)
{
    (void)state;
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    /* Times mask to "<*>" (so the tree keys are wildcards and every
     * line meets the template); hyphenated words hold no digits to mask
     * and are not plain words (no conflict penalty). */
    static const char *const w[] = {
        "1:2:3 4:5:6 xc-ka xd-ka xe-ka xf-ka xg-ka xh-ka",
        "1:2:3 4:5:6 xc-kb xd-ka xe-ka xf-ka xg-ka xh-ka",
        "1:2:3 4:5:6 xc-kb xd-kb xe-ka xf-ka xg-ka xh-ka",
        "1:2:3 4:5:6 xc-kb xd-kb xe-kb xf-ka xg-ka xh-ka",
        "1:2:3 4:5:6 xc-kb xd-kb xe-kb xf-kb xg-ka xh-ka",
        "1:2:3 4:5:6 xc-kb xd-kb xe-kb xf-kb xg-kb xh-ka",
        "1:2:3 4:5:6 xc-kb xd-kb xe-kb xf-kb xg-kb xh-kb"};
    uint32_t first = add(d, w[0]);
    for (size_t i = 1; i + 1 < sizeof(w) / sizeof(w[0]); i++)
        assert_int_equal(add(d, w[i]), first);
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, first, &info), SIFT_OK);
    assert_string_equal(info.text, "<*> <*> <*> <*> <*> <*> <*> xh-ka");
    uint32_t last = add(d, w[6]);
    assert_int_not_equal(last, first);
    assert_int_equal(sift_drain_get(d, first, &info), SIFT_OK);
    assert_string_equal(info.text, "<*> <*> <*> <*> <*> <*> <*> xh-ka");
    sift_drain_free(d);
}

/*
 * Merging: the old id becomes an alias of the template it was merged
 * into; lookups by it find that template; counts add up; aliases of
 * aliases follow; save and load keep them; learn() creates templates
 * without counting.
 */
static void
test_drain_merge_keeps_old_ids(void **state)
{
    (void)state;
    char path[] = "/tmp/test_drain_merge_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct sift_drain *d;
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    uint32_t a = add(d, "disk full on volume data");
    add(d, "disk full on volume data");
    uint32_t b = add(d, "worker pool drained after shutdown");
    uint32_t c = sift_drain_learn(d, "cache warmed up in background", 29);
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, c, &info), SIFT_OK);
    assert_int_equal(info.count, 0);
    assert_int_equal(sift_drain_merge(d, a, c), SIFT_OK);
    assert_int_equal(sift_drain_merge(d, a, c), SIFT_ENOTFOUND);
    assert_int_equal(sift_drain_merge(d, b, b), SIFT_ENOTFOUND);
    assert_int_equal(sift_drain_resolve(d, a), c);
    assert_int_equal(sift_drain_resolve(d, b), b);
    assert_int_equal(sift_drain_get(d, a, &info), SIFT_OK);
    assert_int_equal(info.id, c);
    assert_int_equal(info.count, 2);
    assert_string_equal(info.text, "cache warmed up in background");
    /* c merged into b: a follows to b. */
    assert_int_equal(sift_drain_merge(d, c, b), SIFT_OK);
    assert_int_equal(sift_drain_resolve(d, a), b);
    assert_int_equal(sift_drain_resolve(d, c), b);
    assert_int_equal(sift_drain_aliases(d), 2);
    assert_int_equal(sift_drain_merged(d), 2);
    assert_int_equal(sift_drain_count(d), 1);
    assert_int_equal(sift_drain_save(d, path), SIFT_OK);
    uint32_t next = sift_drain_next_id(d);
    sift_drain_free(d);

    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    assert_int_equal(sift_drain_load(d, path), SIFT_OK);
    assert_int_equal(sift_drain_resolve(d, a), b);
    assert_int_equal(sift_drain_resolve(d, c), b);
    assert_int_equal(sift_drain_get(d, a, &info), SIFT_OK);
    assert_int_equal(info.id, b);
    assert_int_equal(info.count, 3);
    assert_int_equal(sift_drain_next_id(d), next);
    /* A new template never takes a merged-away id. */
    uint32_t e = add(d, "something entirely different happened");
    assert_true(e > c);
    sift_drain_free(d);

    /* Version 1 files (no aliases) still load; a bad alias line costs
     * only itself. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("sift-drain 1 5 0\n3 2 1 2\tdisk full on <*>\n", f);
    fclose(f);
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    assert_int_equal(sift_drain_load(d, path), SIFT_OK);
    assert_int_equal(sift_drain_count(d), 1);
    sift_drain_free(d);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("sift-drain 2 5 0\n3 2 1 2\tdisk full on <*>\n= 4 x\n= 6 3\n", f);
    fclose(f);
    assert_int_equal(sift_drain_new(NULL, &d), SIFT_OK);
    assert_int_equal(sift_drain_load(d, path), SIFT_OK);
    int header_bad = 1;
    assert_int_equal(sift_drain_load_damage(d, &header_bad), 1);
    assert_int_equal(header_bad, 0);
    assert_int_equal(sift_drain_count(d), 1);
    assert_int_equal(sift_drain_resolve(d, 6), 3);
    assert_int_equal(sift_drain_next_id(d), 7); /* past the alias too */
    sift_drain_free(d);
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drain_mask_shapes),
        cmocka_unit_test(test_drain_same_template_stable_id),
        cmocka_unit_test(test_drain_word_conflict_splits),
        cmocka_unit_test(test_drain_eviction_lru),
        cmocka_unit_test(test_drain_long_message_capped),
        cmocka_unit_test(test_drain_save_load_roundtrip),
        cmocka_unit_test(test_drain_damaged_lines_cost_only_themselves),
        cmocka_unit_test(test_drain_shape_cache_agrees_with_match),
        cmocka_unit_test(test_drain_shape_cache_after_eviction),
        cmocka_unit_test(test_drain_never_all_wildcards),
        cmocka_unit_test(test_drain_merge_keeps_old_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
