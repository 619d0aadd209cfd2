/*
 * test_query_exec.c - the executor over real segments: the documented
 * examples, pagination with cursors, time ranges, limits and timeouts,
 * and template texts on hits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "query/query_int.h"
#include "query_fixture.h"
#include "sift/clock.h"

struct fx {
    struct qf_events ev;
    struct sift_segment *one[1];   /* everything in one segment */
    struct sift_segment *three[3]; /* split, overlapping, one from a file */
};

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    char path[1024];
    snprintf(path, sizeof(path), "%s/query/events.tsv",
             getenv("SIFT_TEST_DATA") ? getenv("SIFT_TEST_DATA")
                                      : SIFT_SOURCE_DIR "/tests/data");
    if (qf_load_tsv(path, &f->ev) < 0 || f->ev.n != 12)
        return -1;
    f->one[0] = qf_build(f->ev.v, NULL, f->ev.n, 0);
    /* Interleaved so segments overlap in time: 0,3,6,9 / 1,4,7,10 / ... */
    for (size_t s = 0; s < 3; s++) {
        size_t idx[8], n = 0;
        for (size_t i = s; i < f->ev.n; i += 3)
            idx[n++] = i;
        f->three[s] = qf_build(f->ev.v, idx, n, s == 1);
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    sift_segment_unref(f->one[0]);
    for (size_t s = 0; s < 3; s++)
        sift_segment_unref(f->three[s]);
    qf_events_free(&f->ev);
    sift_free(f);
    return 0;
}

/* Runs q oldest first (limit 100) and writes the ids as "1 2 3"/"none". */
static int
run_ids(struct sift_segment *const *segs, size_t n, const char *q, char *out,
        size_t cap)
{
    struct sift_query *query;
    struct sift_query_error err = {0};
    int rc = sift_query_parse(q, strlen(q), NULL, &query, &err);
    if (rc < 0) {
        snprintf(out, cap, "parse error: %s", err.reason);
        return rc;
    }
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    o.oldest_first = 1;
    struct sift_search_result res;
    sift_search_result_init(&res);
    rc = sift_search_exec(segs, n, query, &o, &res, &err);
    if (rc < 0) {
        snprintf(out, cap, "exec error: %s", err.reason);
    } else {
        long ids[64];
        size_t k = qf_hit_ids(&res, ids, 64);
        size_t o2 = 0;
        out[0] = '\0';
        for (size_t i = 0; i < k && o2 + 8 < cap; i++)
            o2 += (size_t)snprintf(out + o2, cap - o2, "%s%ld", i ? " " : "",
                                   ids[i]);
        if (k == 0)
            snprintf(out, cap, "none");
        if (res.total != k)
            snprintf(out + strlen(out), cap - strlen(out), " (total %llu)",
                     (unsigned long long)res.total);
    }
    sift_search_result_cleanup(&res);
    sift_query_free(query);
    return rc;
}

/* Every row of the examples table in docs/query-language.md. */
static void
test_query_exec_documented_examples(void **state)
{
    struct fx *f = *state;
    FILE *doc = fopen(SIFT_SOURCE_DIR "/docs/query-language.md", "r");
    assert_non_null(doc);
    char line[512];
    int in_table = 0, rows = 0;
    while (fgets(line, sizeof(line), doc)) {
        if (strstr(line, "<!-- query-examples -->")) {
            in_table = 1;
            continue;
        }
        if (strstr(line, "<!-- /query-examples -->"))
            break;
        char *a = strchr(line, '`');
        char *b = a ? strchr(a + 1, '`') : NULL;
        if (!in_table || !a || !b)
            continue;
        char q[256], want[128];
        snprintf(q, sizeof(q), "%.*s", (int)(b - a - 1), a + 1);
        char *c = strchr(b, '|');
        assert_non_null(c);
        c++;
        while (*c == ' ')
            c++;
        char *e = strchr(c, '|');
        assert_non_null(e);
        while (e > c && e[-1] == ' ')
            e--;
        snprintf(want, sizeof(want), "%.*s", (int)(e - c), c);
        char got[256];
        run_ids(f->one, 1, q, got, sizeof(got));
        if (strcmp(got, want) != 0)
            fail_msg("one segment: [%s] got [%s] want [%s]", q, got, want);
        run_ids(f->three, 3, q, got, sizeof(got));
        if (strcmp(got, want) != 0)
            fail_msg("three segments: [%s] got [%s] want [%s]", q, got, want);
        rows++;
    }
    fclose(doc);
    assert_true(rows >= 40);
}

/* Pages through q with a small limit; returns the ids in page order. */
static size_t
page_all(struct sift_segment *const *segs, size_t n, const char *q,
         uint32_t limit, int oldest, long *ids, size_t max)
{
    struct sift_query *query;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse(q, strlen(q), NULL, &query, &err), 0);
    char cursor[96] = "";
    size_t got = 0;
    for (int page = 0; page < 100; page++) {
        struct sift_search_opts o;
        sift_search_opts_init(&o);
        o.limit = limit;
        o.oldest_first = oldest;
        o.cursor = cursor;
        struct sift_search_result res;
        sift_search_result_init(&res);
        assert_int_equal(sift_search_exec(segs, n, query, &o, &res, &err), 0);
        got += qf_hit_ids(&res, ids + got, max - got);
        assert_true(res.n_hits <= limit);
        int more = res.cursor[0] != '\0';
        if (more)
            assert_int_equal(res.n_hits, limit);
        memcpy(cursor, res.cursor, sizeof(cursor));
        sift_search_result_cleanup(&res);
        if (!more)
            break;
    }
    sift_query_free(query);
    return got;
}

static void
test_query_exec_pagination(void **state)
{
    struct fx *f = *state;
    long a[32], b[32];
    for (uint32_t limit = 1; limit <= 5; limit++) {
        size_t na = page_all(f->one, 1, "*", limit, 0, a, 32);
        size_t nb = page_all(f->three, 3, "*", limit, 0, b, 32);
        assert_int_equal(na, 12);
        assert_int_equal(nb, 12);
        for (size_t i = 0; i < 12; i++) {
            assert_int_equal(a[i], 12 - (long)i); /* newest first */
            assert_int_equal(b[i], a[i]);
        }
        nb =
            page_all(f->three, 3, "level:error OR level:warn", limit, 1, b, 32);
        assert_int_equal(nb, 6);
        static const long want[] = {2, 3, 4, 8, 10, 12};
        for (size_t i = 0; i < 6; i++)
            assert_int_equal(b[i], want[i]);
    }
}

/* Identical events (same time and bytes) are all returned across pages. */
static void
test_query_exec_pagination_identical_docs(void **state)
{
    (void)state;
    struct qf_events ev = {0};
    for (int i = 0; i < 9; i++) {
        struct sift_event *e = qf_events_push(&ev);
        e->ts_ns = (i < 7 ? 1000 : 2000 + i) * SIFT_NS_PER_MS;
        e->msg = i < 7 ? "same line" : "other line";
        e->msg_len = (uint32_t)strlen(e->msg);
    }
    struct sift_segment *segs[2];
    size_t i0[] = {0, 1, 2, 7}, i1[] = {3, 4, 5, 6, 8};
    segs[0] = qf_build(ev.v, i0, 4, 0);
    segs[1] = qf_build(ev.v, i1, 5, 0);
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("line", 4, NULL, &q, &err), 0);
    for (uint32_t limit = 1; limit <= 4; limit++) {
        char cursor[96] = "";
        size_t total = 0, same = 0;
        for (int page = 0; page < 20; page++) {
            struct sift_search_opts o;
            sift_search_opts_init(&o);
            o.limit = limit;
            o.cursor = cursor;
            struct sift_search_result res;
            sift_search_result_init(&res);
            assert_int_equal(sift_search_exec(segs, 2, q, &o, &res, &err), 0);
            assert_int_equal(res.total, 9);
            total += res.n_hits;
            struct sift_buf hits = SIFT_BUF_INIT;
            for (const char *p = qf_hits_json(&res, NULL, &hits);
                 p && (p = strstr(p, "same line")) != NULL; p++)
                same++;
            sift_buf_cleanup(&hits);
            memcpy(cursor, res.cursor, sizeof(cursor));
            sift_search_result_cleanup(&res);
            if (!cursor[0])
                break;
        }
        assert_int_equal(total, 9);
        assert_int_equal(same, 7);
    }
    sift_query_free(q);
    sift_segment_unref(segs[0]);
    sift_segment_unref(segs[1]);
    qf_events_free(&ev);
}

/* ECS names: level/service/host reach log.level/service.name/host.name
 * only in segments without a field of the short name itself. */
static void
test_query_exec_field_aliases(void **state)
{
    (void)state;
    struct qf_events ev = {0};
    static const struct {
        const char *lvl, *svc, *host, *short_lvl, *msg;
    } rows[] = {
        {"error", "api", "web-1", NULL, "disk full"},
        {"info", "db", "web-2", NULL, "disk ok"},
        {"ERROR", "db", "web-1", NULL, "cache miss"},
        /* Segment 2 has a real "level" field: it wins over log.level. */
        {"error", "api", "web-3", "info", "disk full again"},
        {"info", "api", "web-3", "error", "all good"},
    };
    for (size_t i = 0; i < 5; i++) {
        struct sift_event *e = qf_events_push(&ev);
        e->ts_ns = (int64_t)(1000 + i) * SIFT_NS_PER_MS;
        e->msg = rows[i].msg;
        e->msg_len = (uint32_t)strlen(e->msg);
        qf_add_field(&ev, e, "log.level", rows[i].lvl, strlen(rows[i].lvl),
                     SIFT_FT_KEYWORD);
        qf_add_field(&ev, e, "service.name", rows[i].svc, strlen(rows[i].svc),
                     SIFT_FT_KEYWORD);
        qf_add_field(&ev, e, "host.name", rows[i].host, strlen(rows[i].host),
                     SIFT_FT_KEYWORD);
        if (rows[i].short_lvl)
            qf_add_field(&ev, e, "level", rows[i].short_lvl,
                         strlen(rows[i].short_lvl), SIFT_FT_KEYWORD);
        char id[8];
        int n = snprintf(id, sizeof(id), "%zu", i + 1);
        qf_add_field(&ev, e, "id", id, (size_t)n, SIFT_FT_NUMBER);
    }
    size_t i0[] = {0, 1, 2}, i1[] = {3, 4};
    struct sift_segment *segs[2];
    segs[0] = qf_build(ev.v, i0, 3, 0);
    segs[1] = qf_build(ev.v, i1, 2, 1);
    static const struct {
        const char *q, *want;
    } cases[] = {
        {"level:error", "1 3 5"},   {"log.level:error", "1 3 4"},
        {"service:db", "2 3"},      {"host:web-1 AND level:error", "1 3"},
        {"host:web*", "1 2 3 4 5"}, {"_exists_:level", "1 2 3 4 5"},
        {"-level:error", "2 4"},    {"disk AND service:api", "1 4"},
    };
    char got[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(run_ids(segs, 2, cases[i].q, got, sizeof(got)), 0);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got %s, want %s", cases[i].q, got, cases[i].want);
    }
    /* Aggregations resolve their field the same way. */
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("", 0, NULL, &q, &err), 0);
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.field = "level";
    struct sift_buf out = SIFT_BUF_INIT;
    assert_int_equal(qf_terms_json(segs, 1, q, &o, &out, &err), 0);
    assert_non_null(
        strstr(sift_buf_cstr(&out), "{\"key\":\"error\",\"count\":2}"));
    assert_non_null(strstr(sift_buf_cstr(&out), "\"missing\":0"));
    sift_buf_cleanup(&out);
    sift_query_free(q);
    sift_segment_unref(segs[0]);
    sift_segment_unref(segs[1]);
    qf_events_free(&ev);
}

static void
test_query_exec_time_range(void **state)
{
    struct fx *f = *state;
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("*", 1, NULL, &q, &err), 0);
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    o.oldest_first = 1;
    assert_int_equal(
        sift_query_time_parse("2024-05-01T10:02:00Z", 0, &o.from_ns), 0);
    assert_int_equal(sift_query_time_parse("2024-05-01T10:05:00Z", 0, &o.to_ns),
                     0);
    struct sift_search_result res;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->three, 3, q, &o, &res, &err), 0);
    long ids[16];
    assert_int_equal(qf_hit_ids(&res, ids, 16), 3);
    assert_int_equal(ids[0], 3); /* from inclusive */
    assert_int_equal(ids[2], 5); /* to exclusive */
    assert_int_equal(res.total, 3);
    sift_search_result_cleanup(&res);

    /* Count only. */
    sift_search_opts_init(&o);
    o.limit = 0;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->three, 3, q, &o, &res, &err), 0);
    assert_int_equal(res.total, 12);
    assert_int_equal(res.n_hits, 0);
    assert_string_equal(res.cursor, "");
    struct sift_buf json = SIFT_BUF_INIT;
    qf_search_json(&res, 3, &json);
    assert_string_equal(sift_buf_cstr(&json),
                        "{\"hits\":[],\"total\":{\"value\":12,\"relation\":"
                        "\"eq\"},\"cursor\":null,\"took_ms\":3,"
                        "\"timed_out\":false}");
    sift_buf_cleanup(&json);
    sift_search_result_cleanup(&res);
    sift_query_free(q);
}

static void
test_query_exec_hit_json_and_fields(void **state)
{
    struct fx *f = *state;
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("10.2.3.44", 9, NULL, &q, &err), 0);
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    struct sift_render_hits_opts ro = {.fields = "status, host"};
    struct sift_search_result res;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->one, 1, q, &o, &res, &err), 0);
    struct sift_buf hits = SIFT_BUF_INIT;
    assert_string_equal(
        qf_hits_json(&res, &ro, &hits),
        "[{\"time\":\"2024-05-01T10:04:00.000000000Z\",\"ts_ms\":1714557840000,"
        "\"_id\":\"AQCgD3hFVcsX4vYBR0voQYU\","
        "\"message\":\"user login ok user=alice from 10.2.3.44\","
        "\"fields\":{\"status\":200,\"host\":\"web-2\"}}]");
    sift_buf_cleanup(&hits);
    sift_search_result_cleanup(&res);
    sift_query_free(q);
}

static void
test_query_exec_limits(void **state)
{
    struct fx *f = *state;
    struct sift_query *q;
    struct sift_query_error err = {0};
    /* Tokens starting with "u": users, user, upstream -> 3 terms. */
    assert_int_equal(sift_query_parse("x OR u*", 7, NULL, &q, &err), 0);
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    o.max_expansion = 2;
    struct sift_search_result res;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->one, 1, q, &o, &res, &err),
                     SIFT_ELIMIT);
    assert_string_equal(err.type, "too_many_terms");
    assert_int_equal(err.status, 400);
    assert_int_equal(err.position, 5);
    assert_string_equal(err.reason,
                        "'u' at 5 matches more than max_expansion=2 terms");
    o.max_expansion = 3;
    assert_int_equal(sift_search_exec(f->one, 1, q, &o, &res, &err), 0);
    assert_int_equal(res.total, 6);
    sift_search_result_cleanup(&res);

    /* A deadline already passed: partial, flagged, not an error. */
    sift_search_opts_init(&o);
    o.deadline_mono_ns = 1;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->three, 3, q, &o, &res, &err), 0);
    assert_int_equal(res.timed_out, 1);
    assert_int_equal(res.total_is_lower_bound, 1);
    struct sift_buf json = SIFT_BUF_INIT;
    qf_search_json(&res, 0, &json);
    assert_non_null(strstr(sift_buf_cstr(&json), "\"relation\":\"gte\""));
    sift_buf_cleanup(&json);
    sift_search_result_cleanup(&res);

    /* Bad cursors. */
    static const char *const bad[] = {"x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                      "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"};
    for (size_t i = 0; i < 3; i++) {
        sift_search_opts_init(&o);
        o.cursor = bad[i];
        sift_search_result_init(&res);
        assert_int_equal(sift_search_exec(f->one, 1, q, &o, &res, &err),
                         SIFT_EINVAL);
        assert_string_equal(err.type, "bad_request");
        sift_search_result_cleanup(&res);
    }
    sift_query_free(q);
}

/* A cursor from a newest-first search is refused by an oldest-first one. */
static void
test_query_exec_cursor_direction(void **state)
{
    struct fx *f = *state;
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("*", 1, NULL, &q, &err), 0);
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    o.limit = 2;
    struct sift_search_result res;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->one, 1, q, &o, &res, &err), 0);
    char cursor[96];
    memcpy(cursor, res.cursor, sizeof(cursor));
    assert_int_equal(strlen(cursor), 32);
    sift_search_result_cleanup(&res);
    o.oldest_first = 1;
    o.cursor = cursor;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->one, 1, q, &o, &res, &err),
                     SIFT_EINVAL);
    sift_search_result_cleanup(&res);
    sift_query_free(q);
}

/* Fake template source: 1 and 2 have texts, 3 is "evicted". */
struct fake_templates {
    int calls;
};

static int
fake_template_text(void *arg, uint32_t id, struct sift_buf *out)
{
    struct fake_templates *ft = arg;
    ft->calls++;
    if (id == 1) {
        sift_buf_append(out, "GET <*> <*>", 11);
        return SIFT_OK;
    }
    if (id == 2) {
        sift_buf_append(out, "disk \"full\" on <*>", 18);
        return SIFT_OK;
    }
    sift_buf_append(out, "partial", 7); /* must not leak into the hit */
    return SIFT_ENOTFOUND;
}

/* Hits carry "template" after "template_id" when the source knows the id;
 * none for template 0 or an unknown id, nor without a source. */
static void
test_query_exec_hit_template_text(void **state)
{
    struct fx *f = *state;
    /* Event k (0-based) gets template k % 4: 0 (none), 1, 2, 3. */
    struct sift_event evs[12];
    memcpy(evs, f->ev.v, sizeof(evs));
    for (uint32_t k = 0; k < 12; k++)
        evs[k].template_id = k % 4;
    struct sift_segment *seg = qf_build(evs, NULL, 12, 0);
    assert_non_null(seg);
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("*", 1, NULL, &q, &err), 0);
    struct fake_templates ft = {0};
    for (int ndjson = 0; ndjson <= 1; ndjson++) {
        struct sift_search_opts o;
        sift_search_opts_init(&o);
        o.oldest_first = 1;
        struct sift_render_hits_opts ro = {.ndjson = ndjson,
                                           .template_text = fake_template_text,
                                           .template_arg = &ft};
        struct sift_search_result res;
        sift_search_result_init(&res);
        ft.calls = 0;
        assert_int_equal(sift_search_exec(&seg, 1, q, &o, &res, &err), 0);
        assert_int_equal(res.n_hits, 12);
        struct sift_buf hits = SIFT_BUF_INIT;
        const char *p = qf_hits_json(&res, &ro, &hits);
        assert_int_equal(ft.calls, 9); /* never asked for id 0 */
        for (uint32_t k = 0; k < 12; k++) {
            json_error_t jerr;
            json_t *hit;
            if (ndjson) {
                const char *nl = strchr(p, '\n');
                assert_non_null(nl);
                hit = json_loadb(p, (size_t)(nl - p), 0, &jerr);
                p = nl + 1;
            } else {
                json_t *arr = json_loads(p, 0, &jerr);
                assert_non_null(arr);
                hit = json_incref(json_array_get(arr, k));
                json_decref(arr);
            }
            assert_non_null(hit);
            json_t *tid = json_object_get(hit, "template_id");
            json_t *text = json_object_get(hit, "template");
            switch (k % 4) {
            case 0:
                assert_null(tid);
                assert_null(text);
                break;
            case 1:
                assert_int_equal(json_integer_value(tid), 1);
                assert_string_equal(json_string_value(text), "GET <*> <*>");
                break;
            case 2:
                assert_int_equal(json_integer_value(tid), 2);
                assert_string_equal(json_string_value(text),
                                    "disk \"full\" on <*>");
                break;
            default:
                assert_int_equal(json_integer_value(tid), 3);
                assert_null(text);
            }
            json_decref(hit);
        }
        sift_buf_cleanup(&hits);
        sift_search_result_cleanup(&res);
    }

    /* Without a source: ids only, never a "template" key. */
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    struct sift_search_result res;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(&seg, 1, q, &o, &res, &err), 0);
    assert_int_equal(res.n_hits, 12);
    struct sift_buf hits = SIFT_BUF_INIT;
    assert_null(strstr(qf_hits_json(&res, NULL, &hits), "\"template\""));
    assert_non_null(strstr(sift_buf_cstr(&hits), "\"template_id\":3"));
    sift_search_result_cleanup(&res);

    /* Exact layout of one hit. */
    sift_query_free(q);
    assert_int_equal(sift_query_parse("favicon", 7, NULL, &q, &err), 0);
    sift_search_opts_init(&o);
    struct sift_render_hits_opts ro = {.fields = "host",
                                       .template_text = fake_template_text,
                                       .template_arg = &ft};
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(&seg, 1, q, &o, &res, &err), 0);
    assert_string_equal(
        qf_hits_json(&res, &ro, &hits),
        "[{\"time\":\"2024-05-01T10:02:00.000000000Z\",\"ts_ms\":1714557720000,"
        "\"_id\":\"AQDwgIcpVcsXF59FlxmQ-VE\","
        "\"message\":\"GET /favicon.ico 404\",\"template_id\":2,"
        "\"template\":\"disk \\\"full\\\" on <*>\","
        "\"fields\":{\"host\":\"web-2\"}}]");
    sift_buf_cleanup(&hits);
    sift_search_result_cleanup(&res);
    sift_query_free(q);
    sift_segment_unref(seg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_exec_documented_examples,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_exec_pagination, setup,
                                        teardown),
        cmocka_unit_test(test_query_exec_pagination_identical_docs),
        cmocka_unit_test(test_query_exec_field_aliases),
        cmocka_unit_test_setup_teardown(test_query_exec_time_range, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_exec_hit_json_and_fields,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_exec_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_exec_cursor_direction, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_exec_hit_template_text,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
