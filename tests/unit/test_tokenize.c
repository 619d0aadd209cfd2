/*
 * test_tokenize.c - tokenizer rules: the documented examples, UTF-8,
 * length cut, stopping, and loghub lines.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sift/buf.h"
#include "sift/tokenize.h"

struct collect {
    struct sift_buf out; /* tokens joined by ' ' */
    uint32_t n;
    uint32_t stop_at; /* stop after this many (0 = never) */
    size_t last_off;
};

static int
collect_cb(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct collect *c = arg;
    assert_int_equal(pos, c->n);
    assert_true(len > 0 && len <= SIFT_TOKEN_MAX);
    if (c->n > 0) {
        assert_true(off > c->last_off);
        sift_buf_putc(&c->out, ' ');
    }
    c->last_off = off;
    sift_buf_append(&c->out, tok, len);
    c->n++;
    return c->stop_at != 0 && c->n >= c->stop_at;
}

static void
check(const char *in, const char *want)
{
    struct collect c;
    memset(&c, 0, sizeof(c));
    uint32_t n = sift_tokenize(in, strlen(in), collect_cb, &c);
    assert_int_equal(n, c.n);
    assert_string_equal(sift_buf_cstr(&c.out), want);
    sift_buf_cleanup(&c.out);
}

static void
test_tokenize_documented_examples(void **state)
{
    (void)state;
    check("10.2.3.44:8443", "10 2 3 44 8443");
    check("user_id=42", "user id 42");
    check("c.e.checkout.PaymentClient", "c e checkout paymentclient");
    check("req 3f2b8c1e-9a4d-4c2b-8f1e-7d6c5b4a3e21 done",
          "req 3f2b8c1e 9a4d 4c2b 8f1e 7d6c5b4a3e21 done");
    check("ERROR: Disk FULL!", "error disk full");
    check("", "");
    check("  ..,;  ", "");
    check("a", "a");
}

static void
test_tokenize_utf8_kept_whole(void **state)
{
    (void)state;
    check("Grüße aus KÖLN", "grüße aus kÖln");
    check("日本語/テキスト", "日本語 テキスト");
    check("naïve-café", "naïve café");
}

static void
test_tokenize_long_token_cut(void **state)
{
    (void)state;
    char in[200], want[SIFT_TOKEN_MAX + 8];
    memset(in, 'A', 150);
    memcpy(in + 150, " tail", 6);
    memset(want, 'a', SIFT_TOKEN_MAX);
    memcpy(want + SIFT_TOKEN_MAX, " tail", 6);
    check(in, want);
}

static void
test_tokenize_offsets_and_stop(void **state)
{
    (void)state;
    struct collect c;
    memset(&c, 0, sizeof(c));
    c.stop_at = 2;
    const char *in = "one two three";
    sift_tokenize(in, strlen(in), collect_cb, &c);
    assert_string_equal(sift_buf_cstr(&c.out), "one two");
    assert_int_equal(c.last_off, 4);
    sift_buf_cleanup(&c.out);
    /* NULL callback only counts. */
    assert_int_equal(sift_tokenize(in, strlen(in), NULL, NULL), 3);
    char low[8];
    sift_ascii_lower("AbC-Ü", 5, low);
    assert_memory_equal(low, "abc-Ü", 5);
}

/* Every token of every loghub line is lowercase and made of token bytes,
 * and re-tokenizing a token yields itself (query words match). */
static int
line_cb(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    (void)pos;
    (void)off;
    uint32_t *count = arg;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)tok[i];
        assert_true((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                    ch >= 0x80);
    }
    struct collect c;
    memset(&c, 0, sizeof(c));
    assert_int_equal(sift_tokenize(tok, len, collect_cb, &c), 1);
    assert_int_equal(c.out.len, len);
    assert_memory_equal(c.out.data, tok, len);
    sift_buf_cleanup(&c.out);
    (*count)++;
    return 0;
}

static void
test_tokenize_loghub_lines(void **state)
{
    (void)state;
    const char *dir = getenv("SIFT_TEST_DATA");
    char path[512];
    snprintf(path, sizeof(path), "%s/loghub-2k/HDFS/HDFS_2k.log",
             dir ? dir : SIFT_SOURCE_DIR "/tests/data");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    uint32_t lines = 0, tokens = 0;
    while (fgets(line, sizeof(line), f) != NULL && lines < 500) {
        sift_tokenize(line, strlen(line), line_cb, &tokens);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 500);
    assert_true(tokens > lines * 5);
    /* A known line shape. */
    check("081109 203615 148 INFO dfs.DataNode$PacketResponder: "
          "PacketResponder 1 for block blk_38865049064139660 terminating",
          "081109 203615 148 info dfs datanode packetresponder "
          "packetresponder 1 for block blk 38865049064139660 terminating");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_documented_examples),
        cmocka_unit_test(test_tokenize_utf8_kept_whole),
        cmocka_unit_test(test_tokenize_long_token_cut),
        cmocka_unit_test(test_tokenize_offsets_and_stop),
        cmocka_unit_test(test_tokenize_loghub_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
