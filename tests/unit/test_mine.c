/*
 * test_mine.c - unit tests of templates for events (src/anomaly/mine.c):
 * the header's parts become fields only when the event lacks them, the
 * message stays byte-exact, lines of one event share a template whatever
 * their header, sources are kept apart, and templates mined before a
 * source's header shape settled are merged into the ones it settles on.
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
#include "sift/drain.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/mine.h"

struct fx {
    struct sift_mine *m;
    struct sift_arena *a;
};

static int
setup(void **state)
{
    static struct fx f;
    assert_int_equal(sift_mine_new(NULL, &f.m), SIFT_OK);
    f.a = sift_arena_new(65536);
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    sift_mine_free(f->m);
    sift_arena_free(f->a);
    return 0;
}

/* An event with message msg and fields given as "name=value" pairs. */
static void
make(struct fx *f, struct sift_event *ev, const char *msg, int n_fields, ...)
{
    memset(ev, 0, sizeof(*ev));
    ev->msg = msg;
    ev->msg_len = (uint32_t)strlen(msg);
    ev->ts_ns = 1;
    ev->fields = sift_arena_alloc(f->a, 8 * sizeof(struct sift_field));
    va_list ap;
    va_start(ap, n_fields);
    for (int i = 0; i < n_fields; i++) {
        const char *kv = va_arg(ap, const char *);
        const char *eq = strchr(kv, '=');
        struct sift_field *fl = &ev->fields[ev->n_fields++];
        fl->name = kv;
        fl->name_len = (uint32_t)(eq - kv);
        fl->value = eq + 1;
        fl->value_len = (uint32_t)strlen(eq + 1);
        fl->type = SIFT_FT_KEYWORD;
    }
    va_end(ap);
}

static const struct sift_field *
field(const struct sift_event *ev, const char *name)
{
    return sift_event_field(ev, name, strlen(name));
}

static void
assert_field(const struct sift_event *ev, const char *name, const char *value,
             uint8_t type)
{
    const struct sift_field *fl = field(ev, name);
    if (!value) {
        assert_null(fl);
        return;
    }
    assert_non_null(fl);
    assert_int_equal(fl->value_len, strlen(value));
    assert_memory_equal(fl->value, value, fl->value_len);
    assert_int_equal(fl->type, type);
}

static const char *const bodies[] = {
    "Starting service: version 3",     "worker 3 ready",
    "connection from 10.0.0.7 closed", "cache miss for key user:42",
    "disk usage at 81 percent",        "retrying in 5 seconds",
};
#define N_BODIES (sizeof(bodies) / sizeof(bodies[0]))

/*
 * Lines of a Java-style file: the header's level, thread id and logger
 * become log.level, process.pid, process.thread.id and log.logger; the
 * message is untouched; lines of one message share one template.
 */
static void
test_mine_header_fields(void **state)
{
    struct fx *f = *state;
    char line[256];
    uint32_t ids[N_BODIES] = {0};
    for (unsigned i = 0; i < 120; i++) {
        sift_arena_reset(f->a);
        unsigned k = i % N_BODIES;
        snprintf(line, sizeof(line),
                 "2024-03-01 10:00:%02u.%03u %u %u %s com.example.Svc%u: %s",
                 i % 60, i, 4000 + i % 3, 7000 + i % 7, i % 2 ? "WARN" : "INFO",
                 k, bodies[k]);
        char copy[256];
        memcpy(copy, line, sizeof(copy));
        struct sift_event ev;
        make(f, &ev, line, 1, "log.file.path=/var/log/svc.log");
        assert_int_equal(sift_mine_event(f->m, &ev, f->a, NULL), SIFT_OK);
        assert_memory_equal(line, copy, sizeof(copy));
        assert_ptr_equal(ev.msg, line);
        if (i < 12)
            continue; /* the shape is still being learned */
        if (ids[k] == 0)
            ids[k] = ev.template_id;
        assert_int_equal(ev.template_id, ids[k]);
        assert_field(&ev, "log.level", i % 2 ? "warn" : "info",
                     SIFT_FT_KEYWORD);
        char pid[16], tid[16], lg[32];
        snprintf(pid, sizeof(pid), "%u", 4000 + i % 3);
        snprintf(tid, sizeof(tid), "%u", 7000 + i % 7);
        snprintf(lg, sizeof(lg), "com.example.Svc%u", k);
        assert_field(&ev, "process.pid", pid, SIFT_FT_NUMBER);
        assert_field(&ev, "process.thread.id", tid, SIFT_FT_NUMBER);
        assert_field(&ev, "log.logger", lg, SIFT_FT_KEYWORD);
        assert_field(&ev, "log.file.path", "/var/log/svc.log", SIFT_FT_KEYWORD);
    }
    for (unsigned a = 0; a < N_BODIES; a++)
        for (unsigned b = a + 1; b < N_BODIES; b++)
            assert_int_not_equal(ids[a], ids[b]);
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(sift_mine_drain(f->m), ids[2], &info),
                     SIFT_OK);
    assert_string_equal(info.text, "connection from <ip> closed");
}

/* The event's own fields win over the header's. */
static void
test_mine_own_fields_win(void **state)
{
    struct fx *f = *state;
    const char *line = "2024-03-01 10:00:00 1234 ERROR db: pool exhausted";
    struct sift_event ev;
    for (int i = 0; i < 3; i++) {
        sift_arena_reset(f->a);
        make(f, &ev, line, 3, "log.level=info", "process.pid=9",
             "service.name=api");
        assert_int_equal(sift_mine_event(f->m, &ev, f->a, NULL), SIFT_OK);
    }
    assert_field(&ev, "log.level", "info", SIFT_FT_KEYWORD);
    assert_field(&ev, "process.pid", "9", SIFT_FT_KEYWORD);
    assert_field(&ev, "log.logger", "db", SIFT_FT_KEYWORD);
    assert_int_equal(ev.n_fields, 4);
}

/*
 * Two services sending the same text with different headers: each
 * source learns its own shape, and the template (mined on the body) is
 * the same.  An event without a message gets no template.
 */
static void
test_mine_sources_apart_same_template(void **state)
{
    struct fx *f = *state;
    char a[256], b[256];
    struct sift_event ea, eb;
    for (unsigned i = 0; i < 40; i++) {
        const char *m = bodies[i % N_BODIES];
        sift_arena_reset(f->a);
        snprintf(a, sizeof(a), "[2024-03-01 10:00:%02u] [INFO] %s", i % 60, m);
        snprintf(b, sizeof(b), "Mar  1 10:00:%02u host%u app[%u]: %s", i % 60,
                 i % 2, 100 + i, m);
        make(f, &ea, a, 1, "service.name=a");
        make(f, &eb, b, 1, "service.name=b");
        assert_int_equal(sift_mine_event(f->m, &ea, f->a, NULL), SIFT_OK);
        assert_int_equal(sift_mine_event(f->m, &eb, f->a, NULL), SIFT_OK);
        if (i >= 12)
            assert_int_equal(
                sift_drain_resolve(sift_mine_drain(f->m), ea.template_id),
                sift_drain_resolve(sift_mine_drain(f->m), eb.template_id));
    }
    struct sift_event e0;
    make(f, &e0, "", 1, "service.name=a");
    assert_int_equal(sift_mine_event(f->m, &e0, f->a, NULL), SIFT_OK);
    assert_int_equal(e0.template_id, SIFT_TEMPLATE_NONE);
}

/*
 * The first line of a source is mined before its shape is known (here
 * "Starting service:" is taken for a logger); once later lines show the
 * real shape, that first template is merged into the one the line gets
 * now, so its id (stored with the event) names the right template.
 */
static void
test_mine_early_templates_merged(void **state)
{
    struct fx *f = *state;
    char line[256];
    struct sift_event ev;
    uint32_t first = 0, later = 0;
    for (unsigned i = 0; i < 60; i++) {
        sift_arena_reset(f->a);
        snprintf(line, sizeof(line), "2024-03-01 10:00:%02u INFO %s", i % 60,
                 bodies[(i * 5) % N_BODIES]);
        make(f, &ev, line, 1, "service.name=early");
        assert_int_equal(sift_mine_event(f->m, &ev, f->a, NULL), SIFT_OK);
        if (i == 0)
            first = ev.template_id;
        if (i > 0 && (i * 5) % N_BODIES == 0)
            later = ev.template_id;
    }
    assert_int_not_equal(first, SIFT_TEMPLATE_NONE);
    assert_int_not_equal(later, SIFT_TEMPLATE_NONE);
    struct sift_drain *d = sift_mine_drain(f->m);
    assert_int_equal(sift_drain_resolve(d, first),
                     sift_drain_resolve(d, later));
    struct sift_drain_info info;
    assert_int_equal(sift_drain_get(d, first, &info), SIFT_OK);
    assert_string_equal(info.text, "Starting service: version <num>");
    assert_int_equal(info.count, 10);
    assert_true(sift_drain_merged(d) >= 1);
}

/*
 * The source key: each of the four source fields counts, by position (the
 * same value in two of them differs), names of the same length that are
 * not one of them do not count, and an event's own header field is seen
 * wherever it stands among the fields.
 */
static void
test_mine_source_fields_by_name(void **state)
{
    struct fx *f = *state;
    static const char *const src[] = {"service.name=a", "log.file.path=a",
                                      "event.dataset=a", "container.name=a"};
    static const char *const alike[] = {"service.nama=a", "log.file.patx=a",
                                        "event.datase7=a", "container.namE=a"};
    struct sift_event ev;
    make(f, &ev, "x", 0);
    uint64_t none = sift_mine_source(&ev);
    uint64_t key[4];
    for (int k = 0; k < 4; k++) {
        make(f, &ev, "x", 2, "host.name=h", src[k]);
        key[k] = sift_mine_source(&ev);
        assert_true(key[k] != none);
        for (int j = 0; j < k; j++)
            assert_true(key[k] != key[j]);
        make(f, &ev, "x", 2, alike[k], "host.name=h");
        assert_true(sift_mine_source(&ev) == none);
    }
    make(f, &ev, "x", 4, src[3], src[2], src[1], src[0]);
    uint64_t all = sift_mine_source(&ev);
    make(f, &ev, "x", 4, src[0], src[1], src[2], src[3]);
    assert_true(sift_mine_source(&ev) == all);

    const char *line = "2024-03-01 10:00:00 1234 ERROR db: pool exhausted";
    for (int i = 0; i < 3; i++) {
        sift_arena_reset(f->a);
        make(f, &ev, line, 4, "host.name=h", "log.logge=x",
             "process.thread.id=7", "log.logger=own");
        assert_int_equal(sift_mine_event(f->m, &ev, f->a, NULL), SIFT_OK);
    }
    assert_field(&ev, "log.logger", "own", SIFT_FT_KEYWORD);
    assert_field(&ev, "process.thread.id", "7", SIFT_FT_KEYWORD);
    assert_field(&ev, "log.level", "error", SIFT_FT_KEYWORD);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mine_header_fields, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mine_own_fields_win, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mine_sources_apart_same_template,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_mine_early_templates_merged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mine_source_fields_by_name, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
