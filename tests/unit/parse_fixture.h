/*
 * parse_fixture.h - shared fixture for the parser tests (test_parse_*.c):
 * parse options compiled for one format, a 64 KiB arena, the event or
 * _bulk result and the error they fill, and field lookups that fail with
 * a readable message.
 *
 * Header-only (static inline functions) because each test_*.c is its own
 * executable.  pf_setup() keeps the fixture in static storage: cmocka runs
 * one test at a time, and pf_teardown() releases everything it holds.
 */
#ifndef SIFT_TEST_PARSE_FIXTURE_H
#define SIFT_TEST_PARSE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

/* Receive time unless a test passes its own: 2023-11-14T22:13:20Z. */
#define RECV INT64_C(1700000000000000000)

struct fx {
    struct sift_parse_opts o;
    struct sift_arena *a;
    struct sift_event ev; /* filled by pf_parse() */
    struct sift_bulk b;   /* filled by test_parse_bulk.c's bulk() */
    struct sift_parse_error err;
};

/* cmocka setup body: options for format, compiled, and a fresh arena. */
static inline int
pf_setup(void **state, enum sift_parse_format format)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    sift_parse_opts_init(&f.o);
    f.o.format = format;
    assert_int_equal(sift_parse_opts_compile(&f.o, NULL), SIFT_OK);
    f.a = sift_arena_new(65536);
    *state = &f;
    return 0;
}

static inline int
pf_teardown(void **state)
{
    struct fx *f = *state;
    sift_bulk_cleanup(&f->b);
    sift_parse_opts_cleanup(&f->o);
    sift_arena_free(f->a);
    return 0;
}

static inline int
pf_parse_at(struct fx *f, const char *s, int64_t recv)
{
    return sift_parse_event(&f->o, s, strlen(s), recv, f->a, &f->ev, &f->err);
}

static inline int
pf_parse(struct fx *f, const char *s)
{
    return pf_parse_at(f, s, RECV);
}

/* The nth field (0-based) called name, or NULL. */
static inline const struct sift_field *
pf_field_n(const struct sift_event *ev, const char *name, int nth)
{
    size_t l = strlen(name);
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *fl = &ev->fields[i];
        if (fl->name_len == l && memcmp(fl->name, name, l) == 0 && nth-- == 0)
            return fl;
    }
    return NULL;
}

/* The first field called name, or NULL. */
static inline const struct sift_field *
pf_field(const struct sift_event *ev, const char *name)
{
    return pf_field_n(ev, name, 0);
}

/* Fails the test unless ev has a field name == value of the given type. */
static inline void
pf_expect_field(const struct sift_event *ev, const char *name,
                const char *value, int type)
{
    const struct sift_field *fl = pf_field(ev, name);
    if (!fl)
        fail_msg("field %s missing", name);
    if (fl->value_len != strlen(value) ||
        memcmp(fl->value, value, fl->value_len) != 0)
        fail_msg("%s = %.*s, want %s", name, (int)fl->value_len, fl->value,
                 value);
    assert_int_equal(fl->type, type);
}

#endif /* SIFT_TEST_PARSE_FIXTURE_H */
