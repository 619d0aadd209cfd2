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
    assert_mask("from 10.0.0.1 port 22", "from <*> port <*>");
    assert_mask("ssh2 alt0", "ssh<*> alt<*>");
    assert_mask("open /var/log/x.log ok", "open <*> ok");
    assert_mask("GET http://a.b/c?d=1", "GET <*>");
    assert_mask("req-38101a0b-2096-447d-96ea-a692162415ae done",
                "req-<*>-<*>-<*>-<*>-<*> done");
    assert_mask("blk_-1608999687919862906 0x1f", "blk_-<*> <*>");
    assert_mask("uid=0 tty=NODEVssh", "uid=<*> tty=NODEVssh");
    assert_mask("took 5ms [1.2.3.4] (42)", "took <*>ms <*> <*>");
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
    assert_string_equal(info.text,
                        "Accepted password for <*> from <*> port <*> ssh<*>");
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
    assert_string_equal(info.text, "connection from <*> closed");
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
    assert_int_equal(sift_drain_load(d, path), SIFT_ECORRUPT);
    assert_int_equal(sift_drain_count(d), 0);
    unlink(path);
    assert_int_equal(sift_drain_load(d, path), -ENOENT);
    sift_drain_free(d);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
