/*
 * test_cli.c - the pure parts of `sift`, the command-line client: the
 * configuration file and the order of settings, back-off, ingest
 * batching (text continuations, _bulk pairs, line numbers), labels that
 * keep the event's bytes, terminal escaping, raw JSON items, the
 * Prometheus text reader and option suggestions.  The client against a
 * real siftd is tests/blackbox/test_cli.py.
 */
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

#include "cli_int.h"

/* ---- settings ---- */

static void
test_cli_settings_file_keys_and_comments(void **state)
{
    (void)state;
    struct cli_settings s;
    memset(&s, 0, sizeof(s));
    s.timeout_s = -1;
    s.retries = -1;
    char err[256] = "";
    const char *text = "# a comment\n"
                       "; another\n"
                       "\n"
                       "  url = \"http://logs:7700\"  \r\n"
                       "token=abc def\n"
                       "color = never   ; inline comment\n"
                       "timeout = 2.5\t# comment\n"
                       "retries = 3 # comment\n"
                       "cacert = \"/a b;c #d\" ; quoted\n";
    assert_int_equal(
        sift__cli_settings_parse(&s, "cfg", text, err, sizeof(err)), SIFT_OK);
    assert_string_equal(s.url, "http://logs:7700");
    assert_string_equal(s.token, "abc def");
    assert_int_equal(s.color, CLI_COLOR_NEVER);
    assert_true(s.timeout_s == 2.5);
    assert_int_equal(s.retries, 3);
    assert_string_equal(s.cacert, "/a b;c #d");
    sift__cli_settings_cleanup(&s);
}

static void
test_cli_settings_unknown_key_is_an_error(void **state)
{
    (void)state;
    struct cli_settings s;
    memset(&s, 0, sizeof(s));
    s.timeout_s = -1;
    s.retries = -1;
    char err[256] = "";
    assert_int_equal(sift__cli_settings_parse(&s, "cfg", "url = x\ntokne = y\n",
                                              err, sizeof(err)),
                     SIFT_ECONFIG);
    assert_non_null(strstr(err, "cfg:2: unknown key 'tokne'"));
    assert_non_null(strstr(err, "did you mean 'token'"));
    sift__cli_settings_cleanup(&s);

    memset(&s, 0, sizeof(s));
    s.retries = -1;
    assert_int_equal(sift__cli_settings_parse(&s, "cfg", "retries = 1.5\n", err,
                                              sizeof(err)),
                     SIFT_ECONFIG);
    assert_non_null(strstr(err, "cfg:1: invalid value for 'retries'"));
    /* '#' right after the value is part of it (URLs, tokens) */
    assert_int_equal(sift__cli_settings_parse(&s, "cfg", "retries = 2#x\n", err,
                                              sizeof(err)),
                     SIFT_ECONFIG);
    assert_non_null(strstr(err, "'2#x'"));
    assert_int_equal(
        sift__cli_settings_parse(&s, "cfg", "color = blue\n", err, sizeof(err)),
        SIFT_ECONFIG);
    assert_int_equal(
        sift__cli_settings_parse(&s, "cfg", "just words\n", err, sizeof(err)),
        SIFT_ECONFIG);
    assert_non_null(strstr(err, "expected 'key = value'"));
    sift__cli_settings_cleanup(&s);
}

static char tmpdir[64];

static int
setup_tmp(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cli.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    unsetenv("SIFT_URL");
    unsetenv("SIFT_TOKEN");
    unsetenv("SIFT_CONFIG");
    unsetenv("SIFT_CACERT");
    unsetenv("NO_COLOR");
    setenv("HOME", tmpdir, 1);
    unsetenv("XDG_CONFIG_HOME");
    return 0;
}

static int
teardown_tmp(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static struct cli_flags
no_flags(void)
{
    struct cli_flags f;
    memset(&f, 0, sizeof(f));
    f.timeout_s = -1;
    f.retries = -1;
    return f;
}

static void
test_cli_settings_flags_beat_env_beat_file(void **state)
{
    (void)state;
    char dir[128], path[160];
    snprintf(dir, sizeof(dir), "%s/.config", tmpdir);
    mkdir(dir, 0700);
    snprintf(dir, sizeof(dir), "%s/.config/sift", tmpdir);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/config", dir);
    write_file(path,
               "url = file:1\ntoken = from-file\ncolor = always\n"
               "retries = 4\n",
               0600);

    struct cli_settings s;
    struct cli_flags f = no_flags();
    char err[256];
    /* the file alone (found through $HOME) */
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_OK);
    assert_string_equal(s.url, "http://file:1");
    assert_string_equal(s.token, "from-file");
    assert_int_equal(s.color, CLI_COLOR_ALWAYS);
    assert_int_equal(s.retries, 4);
    assert_string_equal(s.config_path, path);
    sift__cli_settings_cleanup(&s);

    /* the environment beats the file */
    setenv("SIFT_URL", "http://env:2/", 1);
    setenv("SIFT_TOKEN", "from-env", 1);
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_OK);
    assert_string_equal(s.url, "http://env:2"); /* trailing '/' dropped */
    assert_string_equal(s.token, "from-env");
    sift__cli_settings_cleanup(&s);

    /* flags beat both */
    f.url = "https://flag:3";
    f.token = "from-flag";
    f.color = "never";
    f.retries = 0;
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_OK);
    assert_string_equal(s.url, "https://flag:3");
    assert_string_equal(s.token, "from-flag");
    assert_int_equal(s.color, CLI_COLOR_NEVER);
    assert_int_equal(s.retries, 0);
    sift__cli_settings_cleanup(&s);
    unsetenv("SIFT_URL");
    unsetenv("SIFT_TOKEN");
}

static void
test_cli_settings_defaults_and_missing_files(void **state)
{
    (void)state;
    struct cli_settings s;
    struct cli_flags f = no_flags();
    char err[256];
    /* no file at all: defaults */
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_OK);
    assert_string_equal(s.url, CLI_DEFAULT_URL);
    assert_null(s.token);
    assert_null(s.config_path);
    assert_true(s.timeout_s > 0);
    sift__cli_settings_cleanup(&s);

    /* a file named explicitly must exist */
    f.config = "/nonexistent/sift.conf";
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_ECONFIG);
    assert_non_null(strstr(err, "/nonexistent/sift.conf"));
    f.config = NULL;
    setenv("SIFT_CONFIG", "/nonexistent/env.conf", 1);
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_ECONFIG);
    unsetenv("SIFT_CONFIG");

    /* only http and https */
    f.url = "ftp://x";
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_ECONFIG);
    f.url = "127.0.0.1:9";
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_OK);
    assert_string_equal(s.url, "http://127.0.0.1:9");
    sift__cli_settings_cleanup(&s);
}

static void
test_cli_settings_token_file_and_no_color(void **state)
{
    (void)state;
    char tok[160], cfg[160];
    snprintf(tok, sizeof(tok), "%s/token", tmpdir);
    snprintf(cfg, sizeof(cfg), "%s/c", tmpdir);
    write_file(tok, "  s3cret-token \nsecond line\n", 0600);
    char text[256];
    /* "~/" is the home directory ($HOME is tmpdir here) */
    snprintf(text, sizeof(text), "token_file = ~/token\n");
    write_file(cfg, text, 0600);
    struct cli_settings s;
    struct cli_flags f = no_flags();
    f.config = cfg;
    char err[256];
    setenv("NO_COLOR", "1", 1);
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_OK);
    assert_string_equal(s.token, "s3cret-token");
    assert_int_equal(s.color, CLI_COLOR_NEVER);
    sift__cli_settings_cleanup(&s);
    /* --color beats NO_COLOR */
    f.color = "always";
    assert_int_equal(sift__cli_settings_load(&s, &f, err, sizeof(err)),
                     SIFT_OK);
    assert_int_equal(s.color, CLI_COLOR_ALWAYS);
    sift__cli_settings_cleanup(&s);
    unsetenv("NO_COLOR");
}

/* ---- back-off ---- */

static void
test_cli_backoff_grows_caps_and_honours_retry_after(void **state)
{
    (void)state;
    /* rnd = 0 gives the lower half, rnd -> 1 the whole step */
    assert_true(sift__cli_backoff_s(1, 0.25, 30, -1, 0) == 0.125);
    assert_true(sift__cli_backoff_s(1, 0.25, 30, -1, 0.999) < 0.25);
    assert_true(sift__cli_backoff_s(2, 0.25, 30, -1, 0) == 0.25);
    assert_true(sift__cli_backoff_s(4, 0.25, 30, -1, 0) == 1.0);
    assert_true(sift__cli_backoff_s(20, 0.25, 30, -1, 0) == 15.0);
    assert_true(sift__cli_backoff_s(20, 0.25, 30, -1, 0.999) <= 30.0);
    /* Retry-After wins when it asks for longer, up to 300 s */
    assert_true(sift__cli_backoff_s(1, 0.25, 30, 2, 0.5) == 2.0);
    assert_true(sift__cli_backoff_s(1, 0.25, 30, 1e6, 0.5) == 300.0);
    assert_true(sift__cli_backoff_s(9, 0.25, 30, 1, 0) == 15.0);
}

/* ---- batching ---- */

static void
offer_all(struct cli_batcher *b, const char *const *lines, size_t n,
          int *cuts_at)
{
    for (size_t i = 0; i < n; i++) {
        int r = sift__cli_batcher_offer(b, lines[i], strlen(lines[i]),
                                        (uint64_t)i + 1);
        if (r) {
            cuts_at[i] = 1;
            sift__cli_batcher_reset(b);
            assert_int_equal(sift__cli_batcher_offer(b, lines[i],
                                                     strlen(lines[i]),
                                                     (uint64_t)i + 1),
                             0);
        }
    }
}

static void
test_cli_batch_events_bytes_and_blank_lines(void **state)
{
    (void)state;
    struct cli_batcher b;
    sift__cli_batcher_init(&b, CLI_FMT_NDJSON, 2, 1000, NULL, 0);
    const char *lines[] = {"{\"a\":1}", "", "\r", "{\"a\":2}", "{\"a\":3}"};
    int cuts[5] = {0};
    offer_all(&b, lines, 5, cuts);
    assert_int_equal(cuts[4], 1); /* third event starts batch two */
    assert_int_equal(b.n_events, 1);
    assert_string_equal(b.body.data, "{\"a\":3}\n");
    assert_int_equal(b.n_lines, 1);
    assert_int_equal(b.lines[0], 5);
    sift__cli_batcher_cleanup(&b);

    /* bytes: an event that does not fit starts a new batch; an event
     * larger than the limit goes alone */
    sift__cli_batcher_init(&b, CLI_FMT_TEXT, 100, 12, NULL, 0);
    const char *t[] = {"aaaa", "bbbb", "cccc", "a-very-long-event-line", "d"};
    int tc[5] = {0};
    offer_all(&b, t, 5, tc);
    assert_int_equal(tc[0] + tc[1], 0);
    assert_int_equal(tc[2], 1);
    assert_int_equal(tc[3], 1);
    assert_int_equal(tc[4], 1);
    assert_string_equal(b.body.data, "d\n");
    sift__cli_batcher_cleanup(&b);
}

static void
test_cli_batch_keeps_stack_traces_whole(void **state)
{
    (void)state;
    struct cli_batcher b;
    sift__cli_batcher_init(&b, CLI_FMT_TEXT, 1, 1 << 20, NULL, 0);
    const char *lines[] = {
        "2026-12-07 11:41:00,000 ERROR boom",
        "java.lang.NullPointerException: x", /* no timestamp: joins */
        "\tat Foo.bar(Foo.java:1)",
        "Caused by: java.io.IOException",
        "\t... 3 more",
        "2026-12-07 11:41:01,000 INFO next",
        "plain line one", /* after a stamped event: joins */
        "Nov 22 10:00:00 host sshd[1]: a syslog line",
    };
    int cuts[8] = {0};
    offer_all(&b, lines, 8, cuts);
    /* one event per batch: the trace stays whole with its event */
    assert_int_equal(cuts[1] + cuts[2] + cuts[3] + cuts[4], 0);
    assert_int_equal(cuts[5], 1);
    assert_int_equal(cuts[6], 0);
    assert_int_equal(cuts[7], 1);
    sift__cli_batcher_cleanup(&b);

    /* text without timestamps: every line is an event of its own */
    sift__cli_batcher_init(&b, CLI_FMT_TEXT, 1, 1 << 20, NULL, 0);
    const char *plain[] = {"first message", "second message", " one space"};
    int pc[3] = {0};
    offer_all(&b, plain, 3, pc);
    assert_int_equal(pc[1] + pc[2], 2);
    sift__cli_batcher_cleanup(&b);

    assert_true(sift__cli_is_continuation("  x", 3));
    assert_true(sift__cli_is_continuation("\tx", 2));
    assert_false(sift__cli_is_continuation(" x", 2));  /* rsyslog's msg */
    assert_false(sift__cli_is_continuation("   ", 3)); /* blank */
    assert_true(sift__cli_is_continuation("at a.b(c)", 9));
    assert_true(sift__cli_is_continuation("Suppressed: x", 13));
    assert_true(sift__cli_is_continuation("... 5 more", 10));
    assert_false(sift__cli_is_continuation("attach", 6));
    assert_false(sift__cli_is_continuation("", 0));
    assert_true(sift__cli_looks_timestamped("[2026-12-07", 11));
    assert_true(sift__cli_looks_timestamped("<13>Nov", 7));
    assert_true(sift__cli_looks_timestamped("Dec  7 10:00", 12));
    assert_false(sift__cli_looks_timestamped("Traceback (most", 15));
    assert_false(sift__cli_looks_timestamped("Decimal x", 9));
}

static int
offer1(struct cli_batcher *b, const char *line, uint64_t line_no)
{
    return sift__cli_batcher_offer(b, line, strlen(line), line_no);
}

static void
test_cli_batch_bulk_pairs(void **state)
{
    (void)state;
    struct cli_batcher b;
    /* one item per batch, so every item boundary shows as a cut */
    sift__cli_batcher_init(&b, CLI_FMT_BULK, 1, 1 << 20, NULL, 0);
    assert_int_equal(offer1(&b, "{\"index\":{\"_index\":\"a\"}}", 1), 0);
    assert_int_equal(b.n_items, 0); /* waits for its source */
    assert_int_equal(offer1(&b, "{\"message\":\"x\"}", 2), 0);
    assert_string_equal(
        b.body.data, "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"x\"}\n");
    /* a delete takes no source: an item of its own */
    assert_int_equal(offer1(&b, "{\"delete\":{\"_id\":\"1\"}}", 3), 1);
    sift__cli_batcher_reset(&b);
    assert_int_equal(offer1(&b, "{\"delete\":{\"_id\":\"1\"}}", 3), 0);
    assert_int_equal(b.n_items, 1);
    /* a malformed action waits for a source ... */
    assert_int_equal(offer1(&b, "not an action", 4), 0);
    assert_int_equal(b.n_items, 1);
    /* ... but a valid action after it makes it an item alone */
    assert_int_equal(offer1(&b, "{\"create\":{}}", 5), 1);
    sift__cli_batcher_reset(&b);
    assert_int_equal(offer1(&b, "{\"create\":{}}", 5), 0);
    assert_string_equal(b.body.data, "not an action\n");
    assert_int_equal(b.lines[b.starts[0]], 4);
    assert_int_equal(offer1(&b, "{\"message\":\"y\"}", 6), 1);
    sift__cli_batcher_reset(&b);
    assert_int_equal(offer1(&b, "{\"message\":\"y\"}", 6), 0);
    assert_string_equal(b.body.data, "{\"create\":{}}\n{\"message\":\"y\"}\n");
    /* a malformed action takes a following non-action line as source */
    assert_int_equal(offer1(&b, "{\"bad\":1", 7), 0);
    assert_int_equal(offer1(&b, "{\"message\":\"z\"}", 8), 1);
    sift__cli_batcher_reset(&b);
    assert_int_equal(offer1(&b, "{\"message\":\"z\"}", 8), 0);
    assert_string_equal(b.body.data, "{\"bad\":1\n{\"message\":\"z\"}\n");
    /* an action at the end: finish() flushes it alone */
    assert_int_equal(offer1(&b, "{\"index\":{}}", 9), 0);
    assert_int_equal(sift__cli_batcher_finish(&b), 1);
    sift__cli_batcher_reset(&b);
    assert_int_equal(sift__cli_batcher_finish(&b), 0);
    assert_string_equal(b.body.data, "{\"index\":{}}\n");
    assert_int_equal(b.n_items, 1);
    assert_int_equal(b.lines[0], 9);
    sift__cli_batcher_cleanup(&b);

    /* with room for everything: item starts map to the action lines */
    const char *lines[] = {
        "{\"index\":{\"_index\":\"a\"}}",
        "{\"message\":\"x\"}",
        "{\"delete\":{\"_id\":\"1\"}}",
        "not an action",
        "{\"create\":{}}",
        "{\"message\":\"y\"}",
        "{\"bad\":1",
        "{\"message\":\"z\"}",
        "{\"index\":{}}",
    };
    sift__cli_batcher_init(&b, CLI_FMT_BULK, 100, 1 << 20, NULL, 0);
    int none[9] = {0};
    offer_all(&b, lines, 9, none);
    for (size_t i = 0; i < 9; i++)
        assert_int_equal(none[i], 0);
    assert_int_equal(sift__cli_batcher_finish(&b), 0);
    assert_int_equal(b.n_items, 6);
    const uint64_t want[] = {1, 3, 4, 5, 7, 9};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(b.lines[b.starts[i]], want[i]);
    sift__cli_batcher_cleanup(&b);
}

static void
test_cli_labels_keep_the_event_bytes(void **state)
{
    (void)state;
    struct cli_label l[] = {
        {"service.name", "web"}, {"env", "pr\"od"}, {"service.name", "again"}};
    struct cli_buf out = CLI_BUF_INIT;
    const char *ev = "{\"message\":\"m\",\"v\":0.1,\"big\":1e400}";
    assert_int_equal(sift__cli_label_line(ev, strlen(ev), l, 3, &out), 0);
    /* 1e400 makes jansson refuse the line: it is sent unchanged */
    assert_string_equal(out.data, ev);
    out.len = 0;

    ev = "{\"message\":\"m\",\"v\":0.1}";
    assert_int_equal(sift__cli_label_line(ev, strlen(ev), l, 3, &out), 2);
    assert_string_equal(out.data, "{\"service.name\":\"web\",\"env\":"
                                  "\"pr\\\"od\",\"message\":\"m\",\"v\":0.1}");
    out.len = 0;

    /* the event's own value wins, flat or nested */
    ev = "{\"service\":{\"name\":\"api\"},\"env\":\"dev\"}";
    assert_int_equal(sift__cli_label_line(ev, strlen(ev), l, 3, &out), 0);
    assert_string_equal(out.data, ev);
    out.len = 0;
    ev = " { } ";
    assert_int_equal(sift__cli_label_line(ev, strlen(ev), l, 2, &out), 2);
    assert_string_equal(out.data,
                        " {\"service.name\":\"web\",\"env\":\"pr\\\"od\" } ");
    out.len = 0;
    /* not an object: unchanged */
    ev = "[1,2]";
    assert_int_equal(sift__cli_label_line(ev, strlen(ev), l, 2, &out), 0);
    assert_string_equal(out.data, ev);
    sift__cli_buf_free(&out);
}

static void
test_cli_batch_labels_sources_not_actions(void **state)
{
    (void)state;
    struct cli_label l[] = {{"host", "h1"}};
    struct cli_batcher b;
    sift__cli_batcher_init(&b, CLI_FMT_BULK, 10, 1 << 20, l, 1);
    const char *lines[] = {"{\"index\":{}}", "{\"a\":1}", "{\"delete\":{}}"};
    int cuts[3] = {0};
    offer_all(&b, lines, 3, cuts);
    /* the source is labelled, the actions are not */
    assert_string_equal(b.body.data, "{\"index\":{}}\n{\"host\":\"h1\",\"a\":1}"
                                     "\n{\"delete\":{}}\n");
    sift__cli_batcher_cleanup(&b);
}

/* ---- rendering ---- */

static char *
capture(void (*fn)(FILE *, const void *), const void *arg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    fn(f, arg);
    fclose(f);
    return buf;
}

static void
put_plain(FILE *f, const void *arg)
{
    const char *s = arg;
    sift__cli_put_safe(f, s, strlen(s), NULL);
}

static void
put_indented(FILE *f, const void *arg)
{
    const char *s = arg;
    sift__cli_put_safe(f, s, strlen(s), "  ");
}

static void
test_cli_put_safe_defuses_terminal_escapes(void **state)
{
    (void)state;
    char *s = capture(put_plain, "red\033[31m bell\a caf\xc3\xa9 bad\xff");
    assert_string_equal(s, "red\\x1b[31m bell\\x07 caf\xc3\xa9 bad\\xff");
    free(s);
    /* a C1 control encoded in UTF-8 (U+009B, CSI) and an overlong '/' */
    s = capture(put_plain, "a\xc2\x9b"
                           "b\xc0\xaf");
    assert_string_equal(s, "a\\xc2\\x9bb\\xc0\\xaf");
    free(s);
    s = capture(put_indented, "line1\nline2\tx");
    assert_string_equal(s, "line1\n  line2\tx");
    free(s);
    s = capture(put_plain, "line1\nline2");
    assert_string_equal(s, "line1\\nline2");
    free(s);
}

static void
test_cli_time_bar_bytes_real(void **state)
{
    (void)state;
    char t[64];
    sift__cli_time_short("2026-11-22T10:00:02.123456789Z", t, sizeof(t));
    assert_string_equal(t, "2026-11-22T10:00:02.123Z");
    sift__cli_time_short("odd", t, sizeof(t));
    assert_string_equal(t, "odd");
    sift__cli_time_short(NULL, t, sizeof(t));
    assert_string_equal(t, "-");

    char bar[256];
    sift__cli_bar(bar, sizeof(bar), 10, 10, 4, 0);
    assert_string_equal(bar, "####");
    sift__cli_bar(bar, sizeof(bar), 5, 10, 4, 0);
    assert_string_equal(bar, "##");
    sift__cli_bar(bar, sizeof(bar), 1, 1000, 4, 0);
    assert_string_equal(bar, "#"); /* non-zero always shows */
    sift__cli_bar(bar, sizeof(bar), 0, 10, 4, 0);
    assert_string_equal(bar, "");
    sift__cli_bar(bar, sizeof(bar), 9, 16, 2, 1); /* 9 eighths */
    assert_string_equal(bar, "\u2588\u258f");
    sift__cli_bar(bar, 4, 10, 10, 4, 1); /* truncated, still a string */
    assert_string_equal(bar, "\u2588");

    sift__cli_bytes(t, sizeof(t), 512);
    assert_string_equal(t, "512 B");
    sift__cli_bytes(t, sizeof(t), 2272);
    assert_string_equal(t, "2.2 KiB");
    sift__cli_bytes(t, sizeof(t), 3.5 * 1024 * 1024 * 1024);
    assert_string_equal(t, "3.5 GiB");

    sift__cli_real(t, sizeof(t), 0.1);
    assert_string_equal(t, "0.1");
    sift__cli_real(t, sizeof(t), 1121.0000000000002);
    assert_string_equal(t, "1121.0000000000002");
    sift__cli_real(t, sizeof(t), 200);
    assert_string_equal(t, "200");
}

/* ---- raw JSON items ---- */

struct items {
    char got[8][64];
    int n;
    int stop_after;
};

static int
collect(void *arg, const char *item, size_t len)
{
    struct items *it = arg;
    snprintf(it->got[it->n++], sizeof(it->got[0]), "%.*s", (int)len, item);
    return it->stop_after && it->n >= it->stop_after;
}

static void
test_cli_json_items_are_raw(void **state)
{
    (void)state;
    const char *js = "{\"total\":{\"value\":2},\"hits\":[{\"v\":0.1,\"a\":[1,"
                     "{\"b\":2}]},\"s\\\"q\",3],\"cursor\":null}";
    struct items it = {.n = 0};
    assert_int_equal(sift__cli_json_items(js, strlen(js), "hits", collect, &it),
                     3);
    assert_string_equal(it.got[0], "{\"v\":0.1,\"a\":[1,{\"b\":2}]}");
    assert_string_equal(it.got[1], "\"s\\\"q\"");
    assert_string_equal(it.got[2], "3");
    /* a key inside a nested object is not a top-level key */
    it.n = 0;
    assert_int_equal(sift__cli_json_items(js, strlen(js), "a", collect, &it),
                     0);
    it.n = 0;
    it.stop_after = 1;
    assert_int_equal(sift__cli_json_items(js, strlen(js), "hits", collect, &it),
                     1);
    assert_int_equal(sift__cli_json_items("[1]", 3, "hits", collect, &it), -1);
    assert_int_equal(
        sift__cli_json_items("{\"hits\":", 8, "hits", collect, &it), -1);
}

/* ---- Prometheus text ---- */

static void
test_cli_prometheus_lines(void **state)
{
    (void)state;
    struct cli_sample s;
    const char *l = "sift_kafka_consumer_lag{source=\"kafka\",partition="
                    "\"kafka/a\\\"}b/0\"} 42";
    assert_int_equal(sift__cli_prom_line(l, strlen(l), &s), 1);
    assert_string_equal(s.name, "sift_kafka_consumer_lag");
    assert_true(s.value == 42);
    char v[64];
    assert_int_equal(sift__cli_prom_label(s.labels, "partition", v, sizeof(v)),
                     0);
    assert_string_equal(v, "kafka/a\"}b/0");
    assert_int_equal(sift__cli_prom_label(s.labels, "source", v, sizeof(v)), 0);
    assert_string_equal(v, "kafka");
    assert_int_equal(sift__cli_prom_label(s.labels, "nope", v, sizeof(v)), -1);

    l = "process_cpu_seconds_total 5.25 1700000000000";
    assert_int_equal(sift__cli_prom_line(l, strlen(l), &s), 1);
    assert_true(s.value == 5.25);
    assert_string_equal(s.labels, "");
    l = "# HELP x y";
    assert_int_equal(sift__cli_prom_line(l, strlen(l), &s), 0);
    assert_int_equal(sift__cli_prom_line("", 0, &s), 0);
    l = "x{a=\"1\" 3";
    assert_int_equal(sift__cli_prom_line(l, strlen(l), &s), -1);
    l = "x 3z";
    assert_int_equal(sift__cli_prom_line(l, strlen(l), &s), -1);
    l = "9x 3";
    assert_int_equal(sift__cli_prom_line(l, strlen(l), &s), -1);
    l = "x +Inf";
    assert_int_equal(sift__cli_prom_line(l, strlen(l), &s), 1);
}

static void
test_cli_suggest_closest_name(void **state)
{
    (void)state;
    const char *const names[] = {"from", "to", "limit", "oldest", NULL};
    assert_string_equal(sift__cli_suggest("form", names), "from");
    assert_string_equal(sift__cli_suggest("limt", names), "limit");
    assert_string_equal(sift__cli_suggest("old", names), "oldest");
    assert_null(sift__cli_suggest("banana", names));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_settings_file_keys_and_comments),
        cmocka_unit_test(test_cli_settings_unknown_key_is_an_error),
        cmocka_unit_test_setup_teardown(
            test_cli_settings_flags_beat_env_beat_file, setup_tmp,
            teardown_tmp),
        cmocka_unit_test_setup_teardown(
            test_cli_settings_defaults_and_missing_files, setup_tmp,
            teardown_tmp),
        cmocka_unit_test_setup_teardown(
            test_cli_settings_token_file_and_no_color, setup_tmp, teardown_tmp),
        cmocka_unit_test(test_cli_backoff_grows_caps_and_honours_retry_after),
        cmocka_unit_test(test_cli_batch_events_bytes_and_blank_lines),
        cmocka_unit_test(test_cli_batch_keeps_stack_traces_whole),
        cmocka_unit_test(test_cli_batch_bulk_pairs),
        cmocka_unit_test(test_cli_labels_keep_the_event_bytes),
        cmocka_unit_test(test_cli_batch_labels_sources_not_actions),
        cmocka_unit_test(test_cli_put_safe_defuses_terminal_escapes),
        cmocka_unit_test(test_cli_time_bar_bytes_real),
        cmocka_unit_test(test_cli_json_items_are_raw),
        cmocka_unit_test(test_cli_prometheus_lines),
        cmocka_unit_test(test_cli_suggest_closest_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
