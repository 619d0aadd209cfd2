/*
 * test_query_context.c - hit ids and the events around one event
 * (src/query/context.c): the "_id" codec, neighbours of the same source
 * checked against a brute-force sort of the events by (time, doc hash),
 * ties on one timestamp, identical copies, deleted anchors, and the
 * groupings (source, service, all, auto) with their errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <xxhash.h>

#include "query/query_int.h"
#include "query_fixture.h"

#define N_EVENTS 48
#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1714557600) * SEC)

struct fx {
    struct qf_events ev;
    uint64_t hash[N_EVENTS + 1]; /* XXH3 of each event's encoded doc */
    struct sift_segment *segs[3];
};

static const char *const hosts[] = {"web-1", "web-2"};
static const char *const paths[] = {"/var/log/app.log", "/var/log/x \"y\".log"};
static const char *const services[] = {"api", "db", "auth"};

/*
 * Event i: message "event i", host hosts[i % 2] (event 40+ use the short
 * name "host"), path paths[i / 2 % 2] (none for 40+), service
 * services[i % 3].  Events 10-13 share one timestamp (ties), event 47 is
 * an identical copy of event 46, and events 44-45 have only a service.
 */
static void
add_events(struct fx *f)
{
    for (int i = 0; i < N_EVENTS; i++) {
        struct sift_event *ev = qf_events_push(&f->ev);
        int64_t t = i >= 10 && i <= 13 ? 10 : i;
        if (i == 47)
            t = 46;
        ev->ts_ns = T0 + t * SEC;
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "event %d", i == 47 ? 46 : i);
        ev->msg = sift_arena_strndup(f->ev.arena, msg, (size_t)len);
        ev->msg_len = (uint32_t)len;
        int k = i == 47 ? 46 : i;
        if (k < 40) {
            qf_add_field(&f->ev, ev, "host.name", hosts[k % 2],
                         strlen(hosts[k % 2]), SIFT_FT_KEYWORD);
            qf_add_field(&f->ev, ev, "log.file.path", paths[k / 2 % 2],
                         strlen(paths[k / 2 % 2]), SIFT_FT_KEYWORD);
        } else if (k < 44) {
            qf_add_field(&f->ev, ev, "host", hosts[k % 2], strlen(hosts[k % 2]),
                         SIFT_FT_KEYWORD);
        }
        qf_add_field(&f->ev, ev, "service.name", services[k % 3],
                     strlen(services[k % 3]), SIFT_FT_KEYWORD);
        struct sift_buf doc = SIFT_BUF_INIT;
        sift_doc_encode(ev, &doc);
        f->hash[i] = XXH3_64bits(doc.data, doc.len);
        sift_buf_cleanup(&doc);
    }
}

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    add_events(f);
    /* Three overlapping segments, one read from a file. */
    for (size_t s = 0; s < 3; s++) {
        size_t idx[N_EVENTS], n = 0;
        for (size_t i = s; i < N_EVENTS; i += 3)
            idx[n++] = i;
        f->segs[s] = qf_build(f->ev.v, idx, n, s == 1);
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    for (size_t s = 0; s < 3; s++)
        sift_segment_unref(f->segs[s]);
    qf_events_free(&f->ev);
    sift_free(f);
    return 0;
}

/* The "_id" of event i. */
static void
id_of(const struct fx *f, int i, char out[SIFT_QUERY_ID_LEN + 1])
{
    sift__query_id_encode(f->ev.v[i].ts_ns, f->hash[i], out);
}

/* Runs context and parses the reply; NULL on error (err filled). */
static json_t *
context(struct fx *f, const char *id, uint32_t before, uint32_t after,
        enum sift_context_by by, struct sift_query_error *err)
{
    struct sift_context_opts o;
    sift_context_opts_init(&o);
    o.id = id;
    o.before = before;
    o.after = after;
    o.by = by;
    struct sift_buf out = SIFT_BUF_INIT;
    memset(err, 0, sizeof(*err));
    struct sift_context_result r;
    int rc = sift_search_context(f->segs, 3, &o, &r, err);
    json_t *j = NULL;
    if (rc == SIFT_OK) {
        static const struct sift_render_hits_opts ro;
        assert_int_equal(sift_render_context(&r, &ro, &out), SIFT_OK);
        json_error_t jerr;
        j = json_loadb(out.data, out.len, 0, &jerr);
        assert_non_null(j);
    }
    sift_context_result_cleanup(&r);
    sift_buf_cleanup(&out);
    return j;
}

/* "event N" of a hit object -> N. */
static int
hit_event(const json_t *hit)
{
    const char *m = json_string_value(json_object_get(hit, "message"));
    assert_non_null(m);
    assert_memory_equal(m, "event ", 6);
    return atoi(m + 6);
}

/* The order of search: time, then doc hash. */
static int
cmp_order(const struct fx *f, int a, int b)
{
    if (f->ev.v[a].ts_ns != f->ev.v[b].ts_ns)
        return f->ev.v[a].ts_ns < f->ev.v[b].ts_ns ? -1 : 1;
    if (f->hash[a] != f->hash[b])
        return f->hash[a] < f->hash[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

static int
same_source(int a, int b)
{
    int x = a == 47 ? 46 : a, y = b == 47 ? 46 : b;
    if (x >= 44 || y >= 44)
        return 0; /* no host, no path: not "the same source" here */
    if (x % 2 != y % 2)
        return 0;
    if ((x < 40) != (y < 40))
        return 0;
    return x >= 40 || x / 2 % 2 == y / 2 % 2;
}

/*
 * Brute force: the same-source events sorted by (time, hash); the wanted
 * before/after lists are the neighbours of the anchor's first copy.
 */
static void
expect_context(const struct fx *f, int anchor, uint32_t before, uint32_t after,
               int *want_before, size_t *n_before, int *want_after,
               size_t *n_after)
{
    int order[N_EVENTS];
    size_t n = 0;
    for (int i = 0; i < N_EVENTS; i++)
        if (i == anchor || same_source(anchor, i))
            order[n++] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort by (ts, hash) */
        for (size_t j = i; j > 0 && cmp_order(f, order[j - 1], order[j]) > 0;
             j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t at = 0;
    while (order[at] != anchor &&
           !(f->hash[order[at]] == f->hash[anchor] &&
             f->ev.v[order[at]].ts_ns == f->ev.v[anchor].ts_ns))
        at++;
    /* Copies of the anchor after its first one are "before" it: the
     * before side skips only the anchor, the after side every copy. */
    size_t last_copy = at;
    while (last_copy + 1 < n &&
           f->hash[order[last_copy + 1]] == f->hash[anchor] &&
           f->ev.v[order[last_copy + 1]].ts_ns == f->ev.v[anchor].ts_ns)
        last_copy++;
    int seq[N_EVENTS];
    size_t k = 0;
    for (size_t i = 0; i < at; i++)
        seq[k++] = order[i];
    for (size_t i = at + 1; i <= last_copy; i++)
        seq[k++] = order[i];
    *n_before = k < before ? k : before;
    for (size_t i = 0; i < *n_before; i++)
        want_before[i] = seq[k - *n_before + i];
    *n_after = 0;
    for (size_t i = last_copy + 1; i < n && *n_after < after; i++)
        want_after[(*n_after)++] = order[i];
}

static void
assert_list(const json_t *arr, const int *want, size_t n, const char *what,
            int anchor)
{
    assert_true(json_is_array(arr));
    if (json_array_size(arr) != n)
        fail_msg("anchor %d, %s: %zu hits, want %zu", anchor, what,
                 json_array_size(arr), n);
    for (size_t i = 0; i < n; i++) {
        int got = hit_event(json_array_get(arr, i));
        int w = want[i] == 47 ? 46 : want[i];
        if (got != w)
            fail_msg("anchor %d, %s[%zu]: event %d, want %d", anchor, what, i,
                     got, w);
    }
}

static void
test_query_context_id_codec(void **state)
{
    (void)state;
    static const int64_t ts[] = {
        0, 1, -1, INT64_MAX, INT64_MIN, INT64_C(1714557600123456789)};
    static const uint64_t hs[] = {0, 1, UINT64_MAX,
                                  UINT64_C(0x8000000000000000),
                                  UINT64_C(0x0123456789abcdef)};
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++)
        for (size_t j = 0; j < sizeof(hs) / sizeof(hs[0]); j++) {
            char id[SIFT_QUERY_ID_LEN + 1];
            sift__query_id_encode(ts[i], hs[j], id);
            assert_int_equal(strlen(id), SIFT_QUERY_ID_LEN);
            assert_int_equal(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijk"
                                        "lmnopqrstuvwxyz0123456789-_"),
                             SIFT_QUERY_ID_LEN);
            int64_t t = 7;
            uint64_t h = 7;
            assert_int_equal(sift__query_id_decode(id, strlen(id), &t, &h),
                             SIFT_OK);
            assert_true(t == ts[i]);
            assert_true(h == hs[j]);
        }
    char id[SIFT_QUERY_ID_LEN + 1];
    sift__query_id_encode(42, 42, id);
    int64_t t;
    uint64_t h;
    /* Too short, too long, outside the alphabet, padding. */
    assert_int_equal(sift__query_id_decode(id, SIFT_QUERY_ID_LEN - 1, &t, &h),
                     SIFT_EINVAL);
    char longer[SIFT_QUERY_ID_LEN + 2];
    snprintf(longer, sizeof(longer), "%sA", id);
    assert_int_equal(sift__query_id_decode(longer, strlen(longer), &t, &h),
                     SIFT_EINVAL);
    char bad[SIFT_QUERY_ID_LEN + 1];
    memcpy(bad, id, sizeof(bad));
    bad[5] = '+';
    assert_int_equal(sift__query_id_decode(bad, strlen(bad), &t, &h),
                     SIFT_EINVAL);
    bad[5] = '\0';
    assert_int_equal(sift__query_id_decode(bad, SIFT_QUERY_ID_LEN, &t, &h),
                     SIFT_EINVAL);
    /* Another version byte: "AQ" is version 1, "Ag" version 2. */
    memcpy(bad, id, sizeof(bad));
    bad[1] = 'g';
    assert_int_equal(sift__query_id_decode(bad, strlen(bad), &t, &h),
                     SIFT_EINVAL);
    /* Stray bits past the last byte: a second spelling is refused. */
    memcpy(bad, id, sizeof(bad));
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                        "0123456789-_";
    const char *at = strchr(alpha, bad[SIFT_QUERY_ID_LEN - 1]);
    bad[SIFT_QUERY_ID_LEN - 1] = alpha[(at - alpha) ^ 1];
    assert_int_equal(sift__query_id_decode(bad, strlen(bad), &t, &h),
                     SIFT_EINVAL);
}

/* Hits carry the _id of their stored doc, whatever segment holds it. */
static void
test_query_context_hit_ids(void **state)
{
    struct fx *f = *state;
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("*", 1, NULL, &q, &err), SIFT_OK);
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    o.limit = N_EVENTS;
    struct sift_search_result res;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->segs, 3, q, &o, &res, &err), SIFT_OK);
    json_error_t jerr;
    struct sift_buf text = SIFT_BUF_INIT;
    const char *s = qf_hits_json(&res, NULL, &text);
    json_t *hits = json_loadb(s, text.len, 0, &jerr);
    sift_buf_cleanup(&text);
    assert_int_equal(json_array_size(hits), N_EVENTS);
    size_t i;
    json_t *hit;
    int seen_dup = 0;
    json_array_foreach(hits, i, hit)
    {
        int e = hit_event(hit);
        char want[SIFT_QUERY_ID_LEN + 1];
        id_of(f, e, want);
        assert_string_equal(json_string_value(json_object_get(hit, "_id")),
                            want);
        seen_dup += e == 46;
    }
    assert_int_equal(seen_dup, 2); /* both copies, one _id */
    json_decref(hits);
    sift_search_result_cleanup(&res);
    sift_query_free(q);
}

/* Every event as anchor, several window sizes, against brute force. */
static void
test_query_context_neighbours(void **state)
{
    struct fx *f = *state;
    static const uint32_t sizes[][2] = {
        {0, 0}, {1, 1}, {3, 2}, {5, 50}, {50, 5}};
    for (int anchor = 0; anchor < 44; anchor++) {
        for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
            char id[SIFT_QUERY_ID_LEN + 1];
            id_of(f, anchor, id);
            struct sift_query_error err;
            json_t *j = context(f, id, sizes[s][0], sizes[s][1],
                                SIFT_CONTEXT_AUTO, &err);
            if (!j)
                fail_msg("anchor %d: %s", anchor, err.reason);
            assert_int_equal(hit_event(json_object_get(j, "anchor")), anchor);
            assert_string_equal(json_string_value(json_object_get(j, "by")),
                                "source");
            int wb[N_EVENTS], wa[N_EVENTS];
            size_t nb, na;
            expect_context(f, anchor, sizes[s][0], sizes[s][1], wb, &nb, wa,
                           &na);
            assert_list(json_object_get(j, "before"), wb, nb, "before", anchor);
            assert_list(json_object_get(j, "after"), wa, na, "after", anchor);
            assert_true(json_is_false(json_object_get(j, "timed_out")));
            json_decref(j);
        }
    }
}

/* The query that selects the source is escaped and runs as a search. */
static void
test_query_context_source_query(void **state)
{
    struct fx *f = *state;
    char id[SIFT_QUERY_ID_LEN + 1];
    id_of(f, 2, id); /* web-1, paths[1] with a quote in it */
    struct sift_query_error err;
    json_t *j = context(f, id, 0, 0, SIFT_CONTEXT_AUTO, &err);
    assert_non_null(j);
    const char *qs = json_string_value(json_object_get(j, "query"));
    assert_string_equal(qs, "host.name:\"web-1\" AND "
                            "log.file.path:\"/var/log/x \\\"y\\\".log\"");
    struct sift_query *q;
    assert_int_equal(sift_query_parse(qs, strlen(qs), NULL, &q, &err), 0);
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    struct sift_search_result res;
    sift_search_result_init(&res);
    assert_int_equal(sift_search_exec(f->segs, 3, q, &o, &res, &err), 0);
    int n = 0;
    for (int i = 0; i < 40; i++)
        n += same_source(2, i);
    assert_int_equal(res.total, (uint64_t)n);
    sift_search_result_cleanup(&res);
    sift_query_free(q);
    json_decref(j);

    /* "host" without a path: the path must be absent from neighbours. */
    id_of(f, 41, id);
    j = context(f, id, 10, 10, SIFT_CONTEXT_AUTO, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "query")),
                        "host:\"web-2\" AND -_exists_:log.file.path");
    int wb[N_EVENTS], wa[N_EVENTS];
    size_t nb, na;
    expect_context(f, 41, 10, 10, wb, &nb, wa, &na);
    assert_list(json_object_get(j, "before"), wb, nb, "before", 41);
    assert_list(json_object_get(j, "after"), wa, na, "after", 41);
    json_decref(j);
}

static void
test_query_context_groupings(void **state)
{
    struct fx *f = *state;
    char id[SIFT_QUERY_ID_LEN + 1];
    struct sift_query_error err;

    /* by=service: same service, any host. */
    id_of(f, 9, id); /* service api (9 % 3 == 0) */
    json_t *j = context(f, id, 2, 2, SIFT_CONTEXT_SERVICE, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "by")), "service");
    assert_string_equal(json_string_value(json_object_get(j, "query")),
                        "service.name:\"api\"");
    json_t *b = json_object_get(j, "before"), *a = json_object_get(j, "after");
    assert_int_equal(json_array_size(b), 2);
    assert_int_equal(hit_event(json_array_get(b, 0)), 3);
    assert_int_equal(hit_event(json_array_get(b, 1)), 6);
    assert_int_equal(json_array_size(a), 2);
    /* 12 sits on the timestamp events 10-13 share; then 15. */
    assert_int_equal(hit_event(json_array_get(a, 0)), 12);
    assert_int_equal(hit_event(json_array_get(a, 1)), 15);
    json_decref(j);

    /* by=all: plain time order. */
    id_of(f, 20, id);
    j = context(f, id, 1, 1, SIFT_CONTEXT_ALL, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "query")), "*");
    assert_int_equal(hit_event(json_array_get(json_object_get(j, "before"), 0)),
                     19);
    assert_int_equal(hit_event(json_array_get(json_object_get(j, "after"), 0)),
                     21);
    json_decref(j);

    /* auto without host or path falls back to the service. */
    id_of(f, 44, id);
    j = context(f, id, 1, 1, SIFT_CONTEXT_AUTO, &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "by")), "service");
    json_decref(j);

    /* by=source on an event without host or path: a clear 400. */
    assert_null(context(f, id, 1, 1, SIFT_CONTEXT_SOURCE, &err));
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, "bad_request");
    assert_non_null(strstr(err.reason, "log.file.path"));

    /* Names round-trip. */
    enum sift_context_by by;
    for (int k = SIFT_CONTEXT_AUTO; k <= SIFT_CONTEXT_ALL; k++) {
        assert_int_equal(
            sift_context_by_parse(sift_context_by_name((enum sift_context_by)k),
                                  &by),
            SIFT_OK);
        assert_int_equal(by, k);
    }
    assert_int_equal(sift_context_by_parse("host", &by), SIFT_EINVAL);
}

/* Identical copies are listed once, before the anchor. */
static void
test_query_context_identical_copies(void **state)
{
    struct fx *f = *state;
    char id[SIFT_QUERY_ID_LEN + 1];
    id_of(f, 46, id);
    struct sift_query_error err;
    json_t *j = context(f, id, 5, 5, SIFT_CONTEXT_ALL, &err);
    assert_non_null(j);
    json_t *b = json_object_get(j, "before"), *a = json_object_get(j, "after");
    assert_int_equal(hit_event(json_array_get(b, json_array_size(b) - 1)), 46);
    assert_int_equal(json_array_size(a), 0);
    assert_int_equal(hit_event(json_array_get(b, json_array_size(b) - 2)), 45);
    json_decref(j);
}

/* Unknown, malformed and deleted anchors. */
static void
test_query_context_errors(void **state)
{
    struct fx *f = *state;
    struct sift_query_error err;
    char id[SIFT_QUERY_ID_LEN + 1];

    assert_null(context(f, "nope", 1, 1, SIFT_CONTEXT_AUTO, &err));
    assert_int_equal(err.status, 400);
    assert_null(context(f, NULL, 1, 1, SIFT_CONTEXT_AUTO, &err));
    assert_int_equal(err.status, 400);

    /* A well-formed id nobody has: right time, wrong hash. */
    sift__query_id_encode(f->ev.v[5].ts_ns, f->hash[5] ^ 1, id);
    assert_null(context(f, id, 1, 1, SIFT_CONTEXT_AUTO, &err));
    assert_int_equal(err.status, 404);
    assert_string_equal(err.type, "event_not_found");

    /* Delete event 5 (segment 2, doc 1): it is no anchor, no neighbour. */
    struct sift_segment *live = f->segs[2];
    struct sift_segment *del = NULL;
    roaring_bitmap_t *bits = roaring_bitmap_create();
    roaring_bitmap_add(bits, 1);
    assert_int_equal(sift_segment_with_deleted(live, bits, &del), SIFT_OK);
    f->segs[2] = del;
    id_of(f, 5, id);
    assert_null(context(f, id, 1, 1, SIFT_CONTEXT_AUTO, &err));
    assert_int_equal(err.status, 404);
    id_of(f, 4, id);
    json_t *j = context(f, id, 0, 50, SIFT_CONTEXT_ALL, &err);
    assert_non_null(j);
    json_t *a = json_object_get(j, "after");
    size_t i;
    json_t *hit;
    json_array_foreach(a, i, hit) assert_int_not_equal(hit_event(hit), 5);
    assert_int_equal(hit_event(json_array_get(a, 0)), 6);
    json_decref(j);
    f->segs[2] = live;
    sift_segment_unref(del);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_context_id_codec),
        cmocka_unit_test(test_query_context_hit_ids),
        cmocka_unit_test(test_query_context_neighbours),
        cmocka_unit_test(test_query_context_source_query),
        cmocka_unit_test(test_query_context_groupings),
        cmocka_unit_test(test_query_context_identical_copies),
        cmocka_unit_test(test_query_context_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
