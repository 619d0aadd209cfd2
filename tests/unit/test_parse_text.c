/*
 * test_parse_text.c - plain lines: one real line per loghub-2k system with
 * its expected timestamp (computed independently with Python's
 * calendar.timegm, zone-less times read as UTC), level sniffing, year
 * inference, other layouts, and auto-mode logfmt extraction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

#include "parse_fixture.h"

#define S(x) (INT64_C(x) * 1000000000)
#define MS(x) (INT64_C(x) * 1000000)

static int
setup(void **state)
{
    return pf_setup(state, SIFT_PARSE_TEXT);
}

static void
expect_level(const struct sift_event *ev, const char *level)
{
    const struct sift_field *fl = pf_field(ev, "log.level");
    if (!level) {
        assert_null(fl);
        return;
    }
    if (!fl)
        fail_msg("no log.level, want %s", level);
    assert_int_equal(fl->value_len, strlen(level));
    assert_memory_equal(fl->value, level, fl->value_len);
}

static const struct {
    const char *system;
    const char *line;
    int64_t ns;
    const char *level;
} loghub[] = {
    {"Apache",
     "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in "
     "error state 6",
     S(1133671664), "error"},
    {"BGL",
     "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 "
     "2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO "
     "instruction cache parity error corrected",
     S(1117838570), "info"},
    {"HDFS",
     "081109 203615 148 INFO dfs.DataNode$PacketResponder: "
     "PacketResponder 1 for block blk_38865049064139660 terminating",
     S(1226262975), "info"},
    {"HPC",
     "134681 node-246 unix.hw state_change.unavailable 1077804742 1 "
     "Component State Change: Component \\042alt0\\042 is in the "
     "unavailable state (HWID=5089)",
     S(1077804742), NULL},
    {"Hadoop",
     "2015-10-18 18:01:47,978 INFO [main] "
     "org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created "
     "MRAppMaster for application appattempt_1445144423722_0020_1",
     S(1445191307) + MS(978), "info"},
    {"Linux",
     "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication "
     "failure; logname= uid=0 euid=0 tty=NODEVssh ruser= "
     "rhost=218.188.2.4 ",
     S(1686755761), NULL},
    {"OpenSSH",
     "Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster "
     "from 173.234.31.186",
     S(1670655346), NULL},
    {"OpenStack",
     "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 "
     "00:00:00.008 25746 INFO nova.osapi_compute.wsgi.server "
     "[req-38101a0b-2096-447d-96ea-a692162415ae] 10.11.10.1 "
     "\"GET /v2/servers/detail HTTP/1.1\" status: 200",
     S(1494892800) + MS(8), "info"},
    {"Spark",
     "17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: "
     "Registered signal handlers for [TERM, HUP, INT]",
     S(1497039040), "info"},
    {"Zookeeper",
     "2015-07-29 19:04:29,071 - WARN  [SendWorker:188978561024:"
     "QuorumCnxManager$SendWorker@688] - Send worker leaving "
     "thread",
     S(1438196669) + MS(71), "warn"},
};

static void
test_parse_text_loghub_one_line_per_system(void **state)
{
    struct fx *f = *state;
    for (size_t i = 0; i < sizeof(loghub) / sizeof(loghub[0]); i++) {
        assert_int_equal(pf_parse_at(f, loghub[i].line, RECV), SIFT_OK);
        if (f->ev.ts_ns != loghub[i].ns)
            fail_msg("%s: ts %lld want %lld", loghub[i].system,
                     (long long)f->ev.ts_ns, (long long)loghub[i].ns);
        expect_level(&f->ev, loghub[i].level);
        /* The message is the whole line, timestamp included. */
        assert_ptr_equal(f->ev.msg, loghub[i].line);
        assert_int_equal(f->ev.msg_len, strlen(loghub[i].line));
    }
}

/* Every line of the ten loghub files gets a timestamp (when present). */
static void
test_parse_text_loghub_files_all_have_timestamps(void **state)
{
    struct fx *f = *state;
    const char *dir = getenv("SIFT_TEST_DATA");
    if (!dir)
        dir = SIFT_SOURCE_DIR "/tests/data";
    for (size_t k = 0; k < sizeof(loghub) / sizeof(loghub[0]); k++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/loghub-2k/%s/%s_2k.log", dir,
                 loghub[k].system, loghub[k].system);
        FILE *fp = fopen(path, "rb");
        if (!fp)
            fail_msg("cannot open %s", path);
        char line[8192];
        unsigned n = 0, with_ts = 0;
        while (fgets(line, sizeof(line), fp) && n < 2000) {
            n++;
            assert_int_equal(pf_parse_at(f, line, RECV), SIFT_OK);
            with_ts += f->ev.ts_ns != RECV;
            sift_arena_reset(f->a);
        }
        fclose(fp);
        if (with_ts != n)
            fail_msg("%s: %u of %u lines with a timestamp", loghub[k].system,
                     with_ts, n);
    }
}

static void
test_parse_text_year_inference(void **state)
{
    struct fx *f = *state;
    /* recv 2024-01-02: "Dec 31" is last year, "Jan  2" this year. */
    int64_t recv = S(1704153600);
    assert_int_equal(pf_parse_at(f, "Dec 31 23:59:59 h x: y", recv), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, S(1704067199));
    assert_int_equal(pf_parse_at(f, "Jan  2 00:00:00 h x: y", recv), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, S(1704153600));
    /* Up to a day ahead is clock skew, not last year. */
    assert_int_equal(pf_parse_at(f, "Jan  2 23:00:00 h x: y", recv), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, S(1704153600) + S(23 * 3600));
}

static void
test_parse_text_other_layouts(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *line;
        int64_t ns;
    } cases[] = {
        {"2016-09-28 04:30:30, Info CBS Loaded Servicing Stack", S(1475037030)},
        {"2016-09-28T04:30:30Z svc started", S(1475037030)},
        {"2016-09-28T04:30:30.5+01:00 x", S(1475037030) - S(3600) + MS(500)},
        {"03-17 16:13:38.811  1702  2395 D WindowManager: x",
         S(1679069618) + MS(811)},
        {"20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
         S(1514067329) + MS(606)},
        {"2017/12/23 22:15:29 backup done", S(1514067329)},
        {"[1514067329.25] event", S(1514067329) + MS(250)},
        {"1514067329606 ms epoch", S(1514067329) + MS(606)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(pf_parse_at(f, cases[i].line, RECV), SIFT_OK);
        if (f->ev.ts_ns != cases[i].ns)
            fail_msg("%s: %lld", cases[i].line, (long long)f->ev.ts_ns);
    }
    /* No timestamp, or an impossible date: the receive time. */
    static const char *const none[] = {
        "hello world",
        "",
        "2016-02-30 04:30:30 bad day",
        "12345 not an epoch",
        "999999999 too early",
        "Foo 10 06:55:46 not a month",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        assert_int_equal(pf_parse_at(f, none[i], RECV), SIFT_OK);
        assert_int_equal(f->ev.ts_ns, RECV);
    }
}

static void
test_parse_text_level_sniffing(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *line;
        const char *level;
    } cases[] = {
        {"2024-01-01 00:00:00 ERROR boom", "error"},
        {"x [warning] disk", "warn"},
        {"x <Debug> y", "debug"},
        {"x (trace) y", "trace"},
        {"Critical: fan", "fatal"},
        {"SEVERE: x", "error"},
        {"E NOTICE x", "notice"},
        {"x ERR y", "error"},
        {"FATAL", "fatal"},
        {"the job ran into an error state", NULL}, /* lower-case prose */
        {"ERROR_CODE=5 INFO_X", NULL},             /* not standalone */
        {"log.ERROR x", NULL},
        {"Information only", NULL}, /* not in the list */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(pf_parse_at(f, cases[i].line, RECV), SIFT_OK);
        expect_level(&f->ev, cases[i].level);
    }
    /* Only the first LEVEL_WINDOW (160) bytes are looked at. */
    char late[400];
    memset(late, 'x', 200);
    late[199] = ' ';
    snprintf(late + 200, sizeof(late) - 200, "ERROR y");
    assert_int_equal(pf_parse_at(f, late, RECV), SIFT_OK);
    expect_level(&f->ev, NULL);
    assert_string_equal(sift_parse_level_normalize("WARNING", 7), "warn");
    assert_null(sift_parse_level_normalize("nope", 4));
}

static void
test_parse_text_auto_detects_formats(void **state)
{
    struct fx *f = *state;
    f->o.format = SIFT_PARSE_AUTO;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);

    /* key=value pairs after a timestamp and level: logfmt extraction. */
    const char *l = "2024-05-14T09:21:07Z INFO user=bob msg=\"login ok\" "
                    "took=12";
    assert_int_equal(pf_parse_at(f, l, RECV), SIFT_OK);
    assert_int_equal(f->ev.ts_ns, S(1715678467));
    assert_int_equal(f->ev.msg_len, 8);
    assert_memory_equal(f->ev.msg, "login ok", 8);
    assert_non_null(pf_field(&f->ev, "user"));
    assert_int_equal(pf_field(&f->ev, "took")->type, SIFT_FT_NUMBER);

    /* Prose with a few '=' is text, not logfmt. */
    l = loghub[5].line;
    f->o.format = SIFT_PARSE_TEXT;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    assert_int_equal(pf_parse_at(f, l, RECV), SIFT_OK);
    assert_null(pf_field(&f->ev, "uid"));
    /* Text mode never extracts pairs. */
    assert_int_equal(pf_parse_at(f, "a=1 b=2 c=3", RECV), SIFT_OK);
    assert_int_equal(f->ev.n_fields, 0);

    f->o.format = SIFT_PARSE_AUTO;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    /* Syslog files without PRI are recognised in auto mode. */
    assert_int_equal(pf_parse_at(f, loghub[6].line, RECV), SIFT_OK);
    assert_non_null(pf_field(&f->ev, "host.name"));
    assert_memory_equal(f->ev.msg, "Invalid user", 12);
    /* Leading spaces before '{' still select JSON. */
    assert_int_equal(pf_parse_at(f, "  {\"message\":\"j\"}", RECV), SIFT_OK);
    assert_int_equal(f->ev.msg_len, 1);
    /* CRLF is stripped from text lines. */
    assert_int_equal(pf_parse_at(f, "plain line\r\n", RECV), SIFT_OK);
    assert_int_equal(f->ev.msg_len, 10);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_parse_text_loghub_one_line_per_system, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_text_loghub_files_all_have_timestamps, setup,
            pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_text_year_inference, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_text_other_layouts, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_text_level_sniffing, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_text_auto_detects_formats,
                                        setup, pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
