/*
 * test_keymap.c - the _bulk keys stored but maybe not searchable yet
 * (src/api/keymap.c): put, has, delete with probe runs, growth, and the
 * prune by the store's visible seq.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/keymap.h"
#include "sift/store.h"

static struct sift_doc_key
key(const char *index, const char *id)
{
    struct sift_doc_key k = {index, (uint32_t)strlen(index), id,
                             (uint32_t)strlen(id)};
    return k;
}

static void
test_keymap_put_has_del_prune(void **state)
{
    (void)state;
    struct sift__keymap *m = sift__keymap_new();
    struct sift_doc_key a = key("logs", "a1"), b = key("logs", "A1"),
                        c = key("other", "a1"), d = key("logsa", "1");
    sift__keymap_put(m, &a, 0);
    assert_true(sift__keymap_has(m, &a));
    /* Ids are case-sensitive; the index is part of the key; the bytes
     * between them cannot run together ("logs"+"a1" vs "logsa"+"1"). */
    assert_false(sift__keymap_has(m, &b));
    assert_false(sift__keymap_has(m, &c));
    assert_false(sift__keymap_has(m, &d));
    sift__keymap_put(m, &b, 5);
    sift__keymap_put(m, &a, 7); /* sets the seq */
    assert_int_equal(sift__keymap_size(m), 2);
    assert_int_equal(sift__keymap_prune(m, 6), 1); /* b (5); a is 7 */
    assert_false(sift__keymap_has(m, &b));
    assert_true(sift__keymap_has(m, &a));
    sift__keymap_put(m, &c, 0); /* reserved: never pruned */
    assert_int_equal(sift__keymap_prune(m, 100), 1);
    assert_true(sift__keymap_has(m, &c));
    sift__keymap_del(m, &c);
    assert_int_equal(sift__keymap_size(m), 0);
    sift__keymap_free(m);
}

/* Many keys: growth, and deletes in the middle of probe runs keep every
 * other key findable. */
static void
test_keymap_many_keys(void **state)
{
    (void)state;
    struct sift__keymap *m = sift__keymap_new();
    char ids[5000][12];
    for (int i = 0; i < 5000; i++) {
        snprintf(ids[i], sizeof(ids[i]), "id-%d", i);
        struct sift_doc_key k = key("logs", ids[i]);
        sift__keymap_put(m, &k, (uint64_t)(i % 100) + 1);
    }
    assert_int_equal(sift__keymap_size(m), 5000);
    for (int i = 0; i < 5000; i += 3) {
        struct sift_doc_key k = key("logs", ids[i]);
        sift__keymap_del(m, &k);
    }
    for (int i = 0; i < 5000; i++) {
        struct sift_doc_key k = key("logs", ids[i]);
        assert_int_equal(sift__keymap_has(m, &k), i % 3 != 0);
    }
    /* seqs 1..50 go, 51..100 stay */
    sift__keymap_prune(m, 50);
    for (int i = 0; i < 5000; i++) {
        struct sift_doc_key k = key("logs", ids[i]);
        assert_int_equal(sift__keymap_has(m, &k),
                         i % 3 != 0 && (i % 100) + 1 > 50);
    }
    sift__keymap_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keymap_put_has_del_prune),
        cmocka_unit_test(test_keymap_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
