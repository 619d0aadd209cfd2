/*
 * test_syslog_frame.c - RFC 6587 framing of a syslog TCP stream
 * (src/ingest/syslog_frame.c): octet counting and LF framing chosen per
 * frame, frames split across reads, CR LF and NUL delimiters, cuts at
 * max (octet-counted: the rest to skip; a line: up to its LF), and the
 * last bytes at EOF.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sift/source.h"

static int
frame(const char *s, size_t max, int eof, struct sift_syslog_frame *f)
{
    return sift_syslog_frame_next(s, strlen(s), max, eof, f);
}

static void
expect_msg(const char *s, const struct sift_syslog_frame *f, const char *want)
{
    assert_int_equal(f->msg_len, strlen(want));
    assert_memory_equal(s + f->msg_at, want, f->msg_len);
}

static void
test_syslog_frame_octet_counting(void **state)
{
    (void)state;
    struct sift_syslog_frame f;
    const char *s = "5 hello11 <13>1 x y z";
    assert_int_equal(frame(s, 100, 0, &f), 1);
    expect_msg(s, &f, "hello");
    assert_int_equal(f.used, 7);
    assert_int_equal(frame(s + 7, 100, 0, &f), 1);
    expect_msg(s + 7, &f, "<13>1 x y z");
    assert_false(f.cut);
    /* Incomplete: the count, the space or the body still arriving. */
    assert_int_equal(frame("12", 100, 0, &f), 0);
    assert_int_equal(frame("12 <13>", 100, 0, &f), 0);
    /* A message may hold LF when counted. */
    s = "6 a\nb\r\nc";
    assert_int_equal(frame(s, 100, 0, &f), 1);
    expect_msg(s, &f, "a\nb\r\nc");
}

static void
test_syslog_frame_lines(void **state)
{
    (void)state;
    struct sift_syslog_frame f;
    const char *s = "<13>Jan  2 03:04:05 h app: a\r\n<14>b\0<15>c";
    size_t n = strlen(s) + 1 + 5;
    assert_int_equal(sift_syslog_frame_next(s, n, 100, 0, &f), 1);
    expect_msg(s, &f, "<13>Jan  2 03:04:05 h app: a");
    size_t off = f.used;
    assert_int_equal(sift_syslog_frame_next(s + off, n - off, 100, 0, &f), 1);
    expect_msg(s + off, &f, "<14>b"); /* NUL ends it too */
    off += f.used;
    assert_int_equal(sift_syslog_frame_next(s + off, n - off, 100, 0, &f), 0);
    assert_int_equal(sift_syslog_frame_next(s + off, n - off, 100, 1, &f), 1);
    expect_msg(s + off, &f, "<15>c"); /* the last bytes at EOF */
    /* A line starting with digits but no count after them. */
    assert_int_equal(frame("2024-05-14 x\n", 100, 0, &f), 1);
    expect_msg("2024-05-14 x\n", &f, "2024-05-14 x");
}

static void
test_syslog_frame_cut_at_max(void **state)
{
    (void)state;
    struct sift_syslog_frame f;
    /* Counted: the first max bytes, the rest of the frame skipped. */
    const char *s = "20 0123456789abcdefghij";
    assert_int_equal(frame(s, 8, 0, &f), 1);
    expect_msg(s, &f, "01234567");
    assert_true(f.cut);
    assert_int_equal(f.skip, 12);
    assert_int_equal(f.used, 3 + 8);
    /* Not cut before max bytes are there. */
    assert_int_equal(frame("20 0123", 8, 0, &f), 0);
    /* A line: cut at max, then skipped up to its LF. */
    s = "0123456789abc";
    assert_int_equal(frame(s, 8, 0, &f), 1);
    expect_msg(s, &f, "01234567");
    assert_true(f.cut && f.skip_to_lf);
    assert_int_equal(f.used, 8);
    /* A line whose LF is in reach but past max. */
    s = "0123456789\n";
    assert_int_equal(frame(s, 9, 0, &f), 1);
    expect_msg(s, &f, "012345678");
    assert_true(f.cut);
    assert_false(f.skip_to_lf);
    assert_int_equal(f.used, 11);
    /* Exactly max with CR LF is not cut. */
    s = "01234567\r\n";
    assert_int_equal(frame(s, 8, 0, &f), 1);
    expect_msg(s, &f, "01234567");
    assert_false(f.cut);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syslog_frame_octet_counting),
        cmocka_unit_test(test_syslog_frame_lines),
        cmocka_unit_test(test_syslog_frame_cut_at_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
