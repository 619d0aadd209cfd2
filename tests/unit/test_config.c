/*
 * test_config.c - the config loader: defaults, every error kind with
 * file:line, --set, duration and size parsing, reload diffs, and that the
 * checked-in conf/siftd.conf matches the table and loads cleanly.
 */
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
#include "sift/config.h"
#include "sift/error.h"

/* SIFT_STATIC in config.c, visible in the unit-test build. */
int parse_bool(const char *s, int64_t *out);

struct errs {
    int n;
    char msg[16][256];
};

static void
collect(const char *msg, void *arg)
{
    struct errs *e = arg;
    if (e->n < 16)
        snprintf(e->msg[e->n], sizeof(e->msg[0]), "%s", msg);
    e->n++;
}

static int
has_msg(const struct errs *e, const char *needle)
{
    for (int i = 0; i < e->n && i < 16; i++) {
        if (strstr(e->msg[i], needle) != NULL)
            return 1;
    }
    return 0;
}

struct fixture {
    struct sift_config cfg;
    char path[64];
    struct errs errs;
};

static int
setup(void **state)
{
    struct fixture *f = sift_xcalloc(1, sizeof(*f));
    sift_config_init(&f->cfg);
    snprintf(f->path, sizeof(f->path), "/tmp/sift-test-config-XXXXXX");
    int fd = mkstemp(f->path);
    if (fd < 0)
        return -1;
    close(fd);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    unlink(f->path);
    sift_config_cleanup(&f->cfg);
    sift_free(f);
    return 0;
}

static int
load_text(struct fixture *f, const char *text)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    memset(&f->errs, 0, sizeof(f->errs));
    return sift_config_load_file(&f->cfg, f->path, collect, &f->errs);
}

static void
test_config_defaults_valid(void **state)
{
    struct fixture *f = *state;
    struct errs e = {0};
    assert_string_equal(f->cfg.listen, "127.0.0.1:7700");
    assert_string_equal(f->cfg.data_dir, "./sift-data");
    assert_string_equal(f->cfg.log_level, "info");
    assert_int_equal(f->cfg.workers, 0);
    assert_int_equal(f->cfg.wal_sync_ms, 100);
    assert_int_equal(f->cfg.refresh_ms, 1000);
    assert_int_equal(f->cfg.flush_ms, 10000);
    assert_int_equal(f->cfg.flush_bytes, 64 * 1024 * 1024);
    assert_int_equal(f->cfg.buffer_max_bytes, 256 * 1024 * 1024);
    assert_int_equal(f->cfg.block_bytes, 64 * 1024);
    assert_int_equal(f->cfg.zstd_level, 3);
    assert_int_equal(f->cfg.max_body_bytes, 64 * 1024 * 1024);
    assert_int_equal(f->cfg.max_line_bytes, 1024 * 1024);
    assert_int_equal(f->cfg.query_timeout_ms, 30000);
    assert_int_equal(f->cfg.max_hits, 10000);
    assert_int_equal(f->cfg.default_hits, 100);
    assert_int_equal(f->cfg.anomaly_window_ms, 10000);
    assert_int_equal(f->cfg.anomaly_threshold, 50);
    assert_string_equal(f->cfg.kafka_group, "sift");
    assert_string_equal(f->cfg.redis_group, "sift");
    assert_string_equal(f->cfg.redis_field, "message");
    assert_int_equal(f->cfg.retention_ms, INT64_C(30) * 86400 * 1000);
    assert_string_equal(f->cfg.kafka_brokers, "");
    assert_null(f->cfg.source_path);
    assert_int_equal(sift_config_check(&f->cfg, collect, &e), SIFT_OK);
    assert_int_equal(e.n, 0);
}

static void
test_config_file_sets_values(void **state)
{
    struct fixture *f = *state;
    int rc = load_text(f, "; comment\n"
                          "# another\n"
                          "[server]\n"
                          "listen = 0.0.0.0:0\n"
                          "  log_level = debug   ; inline comment\n"
                          "[store]\n"
                          "wal_sync = 250ms\n"
                          "refresh = 2s\n"
                          "flush_bytes = 16MiB\n"
                          "[tiers]\n"
                          "retention = 7d\n"
                          "[kafka]\n"
                          "brokers = 127.0.0.1:9092\n"
                          "topics = logs,^app-.*\n");
    assert_int_equal(rc, SIFT_OK);
    assert_int_equal(f->errs.n, 0);
    assert_string_equal(f->cfg.listen, "0.0.0.0:0");
    assert_string_equal(f->cfg.log_level, "debug");
    assert_int_equal(f->cfg.wal_sync_ms, 250);
    assert_int_equal(f->cfg.refresh_ms, 2000);
    assert_int_equal(f->cfg.flush_bytes, 16 * 1024 * 1024);
    assert_int_equal(f->cfg.retention_ms, INT64_C(7) * 86400 * 1000);
    assert_string_equal(f->cfg.kafka_brokers, "127.0.0.1:9092");
    assert_string_equal(f->cfg.kafka_topics, "logs,^app-.*");
    assert_string_equal(f->cfg.source_path, f->path);
}

static void
test_config_every_error_reported_with_line(void **state)
{
    struct fixture *f = *state;
    char want[256];
    int rc = load_text(f, "[server]\n"             /* 1 */
                          "bogus = 1\n"            /* 2 unknown key */
                          "workers = many\n"       /* 3 bad value */
                          "workers = 5000\n"       /* 4 out of range */
                          "[nosuch]\n"             /* 5 unknown section */
                          "x = 1\n"                /* 6 (not repeated) */
                          "[store]\n"              /* 7 */
                          "wal_sync = 5 parsecs\n" /* 8 bad duration */
                          "block_bytes = 1TiB\n"   /* 9 out of range */
                          "this line is junk\n"    /* 10 syntax */
                          "[server\n"              /* 11 syntax */
                          "log_level = loud\n");   /* 12 bad enum */
    assert_int_equal(rc, SIFT_ECONFIG);
    assert_int_equal(f->errs.n, 9);
    snprintf(want, sizeof(want), "%s:2: server.bogus: unknown key", f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:3: server.workers: expected an integer",
             f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want),
             "%s:4: server.workers: 5000 is out of range (0 to 1024)", f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:5: [nosuch]: unknown section", f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:8: store.wal_sync: expected a duration",
             f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want),
             "%s:9: store.block_bytes: 1TiB is out of range (4KiB to 16MiB)",
             f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:10: expected 'key = value'", f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:11: missing ']'", f->path);
    assert_true(has_msg(&f->errs, want));
    /* The broken header is ignored, so line 12 is still in [store]. */
    snprintf(want, sizeof(want), "%s:12: store.log_level: unknown key",
             f->path);
    assert_true(has_msg(&f->errs, want));
    /* Keys of an unknown section are not reported one by one. */
    assert_false(has_msg(&f->errs, ":6:"));
}

static void
test_config_enum_and_hostport_errors(void **state)
{
    struct fixture *f = *state;
    char want[256];
    int rc = load_text(f, "[server]\n"
                          "log_level = loud\n"
                          "listen = localhost\n"
                          "[redis]\n"
                          "address = h:99999\n"
                          "[alerts]\n"
                          "webhook_url = ftp://x\n"
                          "[kafka]\n"
                          "group =\n");
    assert_int_equal(rc, SIFT_ECONFIG);
    assert_int_equal(f->errs.n, 5);
    snprintf(want, sizeof(want),
             "%s:2: server.log_level: must be one of error|warn|info|debug",
             f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:3: server.listen: expected host:port",
             f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:5: redis.address: port must be", f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:7: alerts.webhook_url:", f->path);
    assert_true(has_msg(&f->errs, want));
    snprintf(want, sizeof(want), "%s:9: kafka.group: must not be empty",
             f->path);
    assert_true(has_msg(&f->errs, want));
    /* Rejected values leave the previous ones in place. */
    assert_string_equal(f->cfg.log_level, "info");
    assert_string_equal(f->cfg.kafka_group, "sift");
}

/* kafka.instance_id follows Kafka's rule for ids; empty is the default. */
static void
test_config_kafka_instance_id(void **state)
{
    struct fixture *f = *state;
    char want[256];

    assert_string_equal(f->cfg.kafka_instance_id, "");
    assert_int_equal(load_text(f, "[kafka]\ninstance_id = node-7.a_b\n"),
                     SIFT_OK);
    assert_string_equal(f->cfg.kafka_instance_id, "node-7.a_b");
    assert_int_equal(load_text(f, "[kafka]\ninstance_id = node 7\n"),
                     SIFT_ECONFIG);
    snprintf(want, sizeof(want),
             "%s:2: kafka.instance_id: only letters, digits, '.', '_' and "
             "'-' are allowed",
             f->path);
    assert_true(has_msg(&f->errs, want));
    assert_string_equal(f->cfg.kafka_instance_id, "node-7.a_b");
}

static void
test_config_key_outside_section_and_long_line(void **state)
{
    struct fixture *f = *state;
    char text[2048], want[256];
    char props[600];
    memset(props, 'a', sizeof(props) - 1);
    props[sizeof(props) - 1] = '\0';
    props[0] = 'x';
    props[1] = '=';
    snprintf(text, sizeof(text),
             "orphan = 1\n[kafka]\nproperties = %s ; trailing comment\n",
             props);
    int rc = load_text(f, text);
    assert_int_equal(rc, SIFT_ECONFIG);
    assert_int_equal(f->errs.n, 1);
    snprintf(want, sizeof(want), "%s:1: orphan: key outside", f->path);
    assert_true(has_msg(&f->errs, want));
    /* The long line was still parsed, comment stripped. */
    assert_string_equal(f->cfg.kafka_properties, props);
}

static void
test_config_missing_file(void **state)
{
    struct fixture *f = *state;
    struct errs e = {0};
    int rc =
        sift_config_load_file(&f->cfg, "/nonexistent/siftd.conf", collect, &e);
    assert_int_equal(rc, -2); /* -ENOENT */
    assert_int_equal(e.n, 1);
    assert_true(has_msg(&e, "/nonexistent/siftd.conf: cannot open config "
                            "file: No such file or directory"));
}

static void
test_config_set_validated_like_file(void **state)
{
    struct fixture *f = *state;
    struct errs e = {0};
    assert_int_equal(
        sift_config_set(&f->cfg, "query.max_hits=500", collect, &e), SIFT_OK);
    assert_int_equal(f->cfg.max_hits, 500);
    assert_int_equal(
        sift_config_set(&f->cfg, "store.refresh=250ms", collect, &e), SIFT_OK);
    assert_int_equal(f->cfg.refresh_ms, 250);
    assert_int_equal(e.n, 0);

    assert_int_equal(sift_config_set(&f->cfg, "query.max_hits=0", collect, &e),
                     SIFT_ECONFIG);
    assert_true(has_msg(&e, "--set query.max_hits: 0 is out of range"));
    assert_int_equal(sift_config_set(&f->cfg, "query.nope=1", collect, &e),
                     SIFT_ECONFIG);
    assert_true(has_msg(&e, "--set query.nope: unknown key"));
    assert_int_equal(sift_config_set(&f->cfg, "zzz.nope=1", collect, &e),
                     SIFT_ECONFIG);
    assert_true(has_msg(&e, "--set zzz.nope: unknown section"));
    assert_int_equal(sift_config_set(&f->cfg, "noequals", collect, &e),
                     SIFT_ECONFIG);
    assert_true(has_msg(&e, "--set noequals: expected SECTION.KEY=VALUE"));
    assert_int_equal(sift_config_set(&f->cfg, "store.flush=soon", collect, &e),
                     SIFT_ECONFIG);
    assert_true(has_msg(&e, "--set store.flush: expected a duration"));
    assert_int_equal(e.n, 5);
    assert_int_equal(f->cfg.max_hits, 500);
}

static void
test_config_syslog_listener_fields(void **state)
{
    struct fixture *f = *state;
    struct errs e = {0};
    assert_int_equal(sift_config_set(&f->cfg,
                                     "syslog.tcp=127.0.0.1:5514, "
                                     "[::1]:5515 site=dmz env=edge",
                                     collect, &e),
                     SIFT_OK);
    assert_string_equal(f->cfg.syslog_tcp,
                        "127.0.0.1:5514, [::1]:5515 site=dmz env=edge");
    assert_int_equal(
        sift_config_set(&f->cfg, "syslog.udp=127.0.0.1:514 site", collect, &e),
        SIFT_ECONFIG);
    assert_true(has_msg(&e, "fields are name=value words after its "
                            "host:port, got \"site\""));
    assert_int_equal(
        sift_config_set(&f->cfg, "syslog.udp=site=dmz", collect, &e),
        SIFT_ECONFIG);
    assert_true(has_msg(&e, "expected host:port, got \"site=dmz\""));
    assert_int_equal(e.n, 2);
    /* a TLS listener needs the [tls] certificate and key */
    assert_int_equal(
        sift_config_set(&f->cfg, "syslog.tls=127.0.0.1:6514", collect, &e),
        SIFT_OK);
    assert_int_equal(sift_config_check(&f->cfg, collect, &e), SIFT_ECONFIG);
    assert_true(has_msg(&e, "syslog.tls: tls.cert_file and tls.key_file "
                            "must be set"));
}

static void
test_config_anomaly_alpha_and_series_thresholds(void **state)
{
    struct fixture *f = *state;
    struct errs e = {0};
    assert_string_equal(f->cfg.anomaly_alpha, "0.05");
    assert_int_equal(sift_config_set(&f->cfg, "anomaly.alpha=0.2", collect, &e),
                     SIFT_OK);
    assert_string_equal(f->cfg.anomaly_alpha, "0.2");
    assert_int_equal(sift_config_set(&f->cfg,
                                     "anomaly.series_thresholds=service=api "
                                     "level=error:70, service=batch:90",
                                     collect, &e),
                     SIFT_OK);
    assert_int_equal(e.n, 0);
    assert_int_equal(sift_config_set(&f->cfg, "anomaly.alpha=0", collect, &e),
                     SIFT_ECONFIG);
    assert_int_equal(sift_config_set(&f->cfg, "anomaly.alpha=1.5", collect, &e),
                     SIFT_ECONFIG);
    assert_int_equal(
        sift_config_set(&f->cfg, "anomaly.alpha=fast", collect, &e),
        SIFT_ECONFIG);
    assert_true(has_msg(&e, "--set anomaly.alpha: expected a number above 0"));
    assert_int_equal(sift_config_set(&f->cfg,
                                     "anomaly.series_thresholds=service=a:101",
                                     collect, &e),
                     SIFT_ECONFIG);
    assert_int_equal(sift_config_set(&f->cfg,
                                     "anomaly.series_thresholds=service=a",
                                     collect, &e),
                     SIFT_ECONFIG);
    assert_int_equal(
        sift_config_set(&f->cfg, "anomaly.series_thresholds=:50", collect, &e),
        SIFT_ECONFIG);
    assert_true(has_msg(&e, "--set anomaly.series_thresholds: expected "
                            "series:N"));
    assert_int_equal(e.n, 6);
    /* Rejected values keep the last good one. */
    assert_string_equal(f->cfg.anomaly_alpha, "0.2");
    assert_int_equal(
        sift_config_set(&f->cfg, "alerts.webhook_url=https://x/y", collect, &e),
        SIFT_ECONFIG);
    assert_true(has_msg(&e, "https is not supported"));
    /* Cluster peers: http:// or https:// with a port, nothing else. */
    assert_int_equal(sift_config_set(&f->cfg,
                                     "cluster.peers=http://10.0.0.1:7700, "
                                     "https://node-2.lan:7443/",
                                     collect, &e),
                     SIFT_OK);
    assert_int_equal(sift_config_set(&f->cfg,
                                     "cluster.peers=ftp://10.0.0.1:7700",
                                     collect, &e),
                     SIFT_ECONFIG);
    assert_true(has_msg(&e, "each peer must be http://host:port or "
                            "https://host:port"));
    assert_int_equal(
        sift_config_set(&f->cfg, "cluster.peers=https://10.0.0.1", collect, &e),
        SIFT_ECONFIG);
}

static void
test_config_parse_durations_and_sizes(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(sift_parse_duration_ms("250ms", &v), 0);
    assert_int_equal(v, 250);
    assert_int_equal(sift_parse_duration_ms("10s", &v), 0);
    assert_int_equal(v, 10000);
    assert_int_equal(sift_parse_duration_ms("5m", &v), 0);
    assert_int_equal(v, 300000);
    assert_int_equal(sift_parse_duration_ms("2h", &v), 0);
    assert_int_equal(v, 7200000);
    assert_int_equal(sift_parse_duration_ms("7d", &v), 0);
    assert_int_equal(v, INT64_C(604800000));
    assert_int_equal(sift_parse_duration_ms("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(sift_parse_duration_ms(" 3 s ", &v), 0);
    assert_int_equal(v, 3000);
    assert_int_equal(sift_parse_duration_ms("", &v), SIFT_EINVAL);
    assert_int_equal(sift_parse_duration_ms("-1s", &v), SIFT_EINVAL);
    assert_int_equal(sift_parse_duration_ms("1.5s", &v), SIFT_EINVAL);
    assert_int_equal(sift_parse_duration_ms("10 parsecs", &v), SIFT_EINVAL);
    assert_int_equal(sift_parse_duration_ms("9999999999999999999", &v),
                     SIFT_EINVAL);
    assert_int_equal(sift_parse_duration_ms("999999999999999d", &v),
                     SIFT_EINVAL);

    assert_int_equal(sift_parse_bytes("512", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(sift_parse_bytes("64KiB", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(sift_parse_bytes("16MiB", &v), 0);
    assert_int_equal(v, 16 * 1024 * 1024);
    assert_int_equal(sift_parse_bytes("2GiB", &v), 0);
    assert_int_equal(v, INT64_C(2) * 1024 * 1024 * 1024);
    assert_int_equal(sift_parse_bytes("3KB", &v), 0);
    assert_int_equal(v, 3000);
    assert_int_equal(sift_parse_bytes("5MB", &v), 0);
    assert_int_equal(v, 5000000);
    assert_int_equal(sift_parse_bytes("1GB", &v), 0);
    assert_int_equal(v, 1000000000);
    assert_int_equal(sift_parse_bytes("7 mib", &v), 0);
    assert_int_equal(v, 7 * 1024 * 1024);
    assert_int_equal(sift_parse_bytes("lots", &v), SIFT_EINVAL);
    assert_int_equal(sift_parse_bytes("1XB", &v), SIFT_EINVAL);
    assert_int_equal(sift_parse_bytes("99999999999TiB", &v), SIFT_EINVAL);
}

static void
test_config_bool_parse(void **state)
{
    (void)state;
    int64_t v = 5;
    assert_int_equal(parse_bool("yes", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(parse_bool("Off", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_bool("maybe", &v), SIFT_EINVAL);
}

static void
test_config_reload_diff(void **state)
{
    struct fixture *f = *state;
    struct sift_config next;
    struct errs e = {0};
    unsigned live = 99, restart = 99;

    sift_config_copy(&next, &f->cfg);
    sift_config_diff(&f->cfg, &next, &live, &restart, collect, &e);
    assert_int_equal(live, 0);
    assert_int_equal(restart, 0);
    assert_int_equal(e.n, 0);

    assert_int_equal(
        sift_config_set(&next, "server.log_level=debug", collect, &e), 0);
    assert_int_equal(sift_config_set(&next, "query.max_hits=42", collect, &e),
                     0);
    assert_int_equal(
        sift_config_set(&next, "server.listen=127.0.0.1:9999", collect, &e), 0);
    assert_int_equal(sift_config_set(&next, "store.refresh=5s", collect, &e),
                     0);
    sift_config_diff(&f->cfg, &next, &live, &restart, collect, &e);
    assert_int_equal(live, 2);
    assert_int_equal(restart, 2);
    assert_int_equal(e.n, 2);
    assert_true(has_msg(&e, "server.listen changed from \"127.0.0.1:7700\" to "
                            "\"127.0.0.1:9999\": requires a restart"));
    assert_true(has_msg(&e, "store.refresh changed from 1s to 5s: requires a "
                            "restart"));

    sift_config_keep_restart_keys(&next, &f->cfg);
    assert_string_equal(next.listen, "127.0.0.1:7700");
    assert_int_equal(next.refresh_ms, 1000);
    assert_string_equal(next.log_level, "debug");
    assert_int_equal(next.max_hits, 42);
    sift_config_cleanup(&next);
}

static void
test_config_cross_key_check(void **state)
{
    struct fixture *f = *state;
    struct errs e = {0};
    assert_int_equal(sift_config_set(&f->cfg, "query.max_hits=10", collect, &e),
                     0);
    assert_int_equal(sift_config_check(&f->cfg, collect, &e), SIFT_ECONFIG);
    assert_int_equal(e.n, 1);
    assert_true(has_msg(&e, "query.default_hits: 100 is larger than "
                            "query.max_hits (10)"));
}

static char *
slurp(FILE *fp, size_t *len)
{
    struct sift_buf b = SIFT_BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        sift_buf_append(&b, tmp, n);
    sift_buf_cstr(&b);
    return sift_buf_detach(&b, len);
}

static void
test_config_sample_file_matches_table_and_loads(void **state)
{
    struct fixture *f = *state;
    char path[512];
    size_t want_len, have_len;
    struct errs e = {0};

    FILE *mem = tmpfile();
    assert_non_null(mem);
    sift_config_dump_sample(mem);
    rewind(mem);
    char *want = slurp(mem, &want_len);
    fclose(mem);

    snprintf(path, sizeof(path), "%s/conf/siftd.conf", SIFT_SOURCE_DIR);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *have = slurp(fp, &have_len);
    fclose(fp);
    /* Regenerate with: siftd --print-sample-config > conf/siftd.conf */
    assert_string_equal(have, want);

    struct sift_config c;
    sift_config_init(&c);
    assert_int_equal(sift_config_load_file(&c, path, collect, &e), SIFT_OK);
    assert_int_equal(e.n, 0);
    /* Loading the commented sample changes nothing. */
    unsigned live, restart;
    sift_config_diff(&f->cfg, &c, &live, &restart, NULL, NULL);
    assert_int_equal(live + restart, 0);
    sift_config_cleanup(&c);
    sift_free(want);
    sift_free(have);
}

/* Writes each key as "section.name=value;" (GET /api/v1/config's JSON
 * is written by api/admin_api.c from the same walk). */
static void
each_text(void *arg, const struct sift_config_value *v)
{
    struct sift_buf *b = arg;
    if (v->kind == SIFT_CONFIG_STRING)
        sift_buf_appendf(b, "%s.%s=%s;", v->section, v->name, v->str);
    else
        sift_buf_appendf(b, "%s.%s=%lld;", v->section, v->name,
                         (long long)v->num);
}

static void
test_config_each(void **state)
{
    struct fixture *f = *state;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_config_each(&f->cfg, each_text, &b);
    const char *s = sift_buf_cstr(&b);
    assert_int_equal(strncmp(s, "server.listen=127.0.0.1:7700;", 29), 0);
    assert_non_null(strstr(s, ";server.log_level=info;"));
    assert_non_null(strstr(s, ";store.wal_sync=100;"));
    sift_buf_cleanup(&b);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_config_defaults_valid),
        T(test_config_file_sets_values),
        T(test_config_every_error_reported_with_line),
        T(test_config_enum_and_hostport_errors),
        T(test_config_kafka_instance_id),
        T(test_config_key_outside_section_and_long_line),
        T(test_config_missing_file),
        T(test_config_set_validated_like_file),
        T(test_config_anomaly_alpha_and_series_thresholds),
        T(test_config_syslog_listener_fields),
        T(test_config_parse_durations_and_sizes),
        T(test_config_bool_parse),
        T(test_config_reload_diff),
        T(test_config_cross_key_check),
        T(test_config_sample_file_matches_table_and_loads),
        T(test_config_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
