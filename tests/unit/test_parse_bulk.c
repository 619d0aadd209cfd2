/*
 * test_parse_bulk.c - Elasticsearch _bulk bodies: index/create pairs,
 * delete/update, malformed lines, missing sources, default index, id
 * generation, and the response shape (checked by parsing it with jansson).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/parse.h"
#include "sift/render.h"

#include "parse_fixture.h"

static int
setup(void **state)
{
    return pf_setup(state, SIFT_PARSE_AUTO);
}

static int
bulk(struct fx *f, const char *body, const char *dflt)
{
    sift_bulk_cleanup(&f->b);
    return sift_bulk_parse(&f->o, body, strlen(body), dflt, RECV, f->a, &f->b,
                           &f->err);
}

static void
expect_item(const struct sift_bulk_item *it, int action, int status,
            const char *index, const char *id)
{
    assert_int_equal(it->action, action);
    assert_int_equal(it->status, status);
    if (index) {
        assert_int_equal(it->index_len, strlen(index));
        assert_memory_equal(it->index, index, it->index_len);
    } else {
        assert_null(it->index);
    }
    if (id) {
        assert_int_equal(it->id_len, strlen(id));
        assert_memory_equal(it->id, id, it->id_len);
    }
}

static void
test_parse_bulk_index_and_create(void **state)
{
    struct fx *f = *state;
    const char *body =
        "{\"index\":{\"_index\":\"logs\",\"_id\":\"a1\"}}\n"
        "{\"@timestamp\":\"2024-05-14T09:21:07Z\",\"message\":\"one\","
        "\"host\":{\"name\":\"h\"}}\r\n"
        "\n"
        "{\"create\":{\"_index\":\"l\\u006fgs2\",\"routing\":\"x\"}}\n"
        "{\"message\":\"two\"}\n";
    assert_int_equal(bulk(f, body, NULL), SIFT_OK);
    assert_int_equal(f->b.n_items, 2);
    assert_int_equal(f->b.n_errors, 0);
    expect_item(&f->b.items[0], SIFT_BULK_INDEX, 201, "logs", "a1");
    assert_int_equal(f->b.items[0].ev.ts_ns, INT64_C(1715678467000000000));
    assert_memory_equal(f->b.items[0].ev.msg, "one", 3);
    assert_int_equal(f->b.items[0].line_no, 1);
    expect_item(&f->b.items[1], SIFT_BULK_CREATE, 201, "logs2", NULL);
    assert_int_equal(f->b.items[1].line_no, 4);
    /* A generated id: 20 hex characters. */
    assert_int_equal(f->b.items[1].id_len, 20);
    assert_int_equal(f->b.items[1].ev.ts_ns, RECV);
}

static void
test_parse_bulk_unsupported_and_malformed(void **state)
{
    struct fx *f = *state;
    const char *body = "{\"delete\":{\"_index\":\"x\",\"_id\":\"1\"}}\n"
                       "{\"update\":{\"_index\":\"x\",\"_id\":\"2\"}}\n"
                       "{\"doc\":{\"a\":1}}\n"
                       "{\"index\":{\"_index\":\"x\"}}\n"
                       "{\"message\":broken}\n"
                       "not json at all\n"
                       "{\"message\":\"source of the bad action\"}\n"
                       "{\"frobnicate\":{}}\n"
                       "{\"index\":{\"_index\":\"x\",\"_id\":\"ok\"}}\n"
                       "{\"message\":\"fine\"}\n"
                       "{\"index\":{}}\n"
                       "{\"message\":\"no index\"}\n"
                       "{\"index\":{\"_index\":\"x\"}}\n";
    assert_int_equal(bulk(f, body, NULL), SIFT_OK);
    assert_int_equal(f->b.n_items, 8);
    const struct sift_bulk_item *it = f->b.items;
    expect_item(&it[0], SIFT_BULK_DELETE, 400, "x", "1");
    assert_non_null(strstr(it[0].error_reason, "unsupported action: delete"));
    expect_item(&it[1], SIFT_BULK_UPDATE, 400, "x", "2");
    assert_non_null(strstr(it[1].error_reason, "unsupported action: update"));
    expect_item(&it[2], SIFT_BULK_INDEX, 400, "x", NULL);
    assert_string_equal(it[2].error_type, "mapper_parsing_exception");
    assert_non_null(strstr(it[2].error_reason, "line 5: invalid JSON at "
                                               "byte 11"));
    /* The malformed action swallows its source line... */
    expect_item(&it[3], SIFT_BULK_INVALID, 400, NULL, NULL);
    assert_non_null(strstr(it[3].error_reason, "malformed action line 6"));
    /* ...but an unknown action whose next line is an action does not. */
    expect_item(&it[4], SIFT_BULK_INVALID, 400, NULL, NULL);
    assert_non_null(strstr(it[4].error_reason, "unknown bulk action"));
    expect_item(&it[5], SIFT_BULK_INDEX, 201, "x", "ok");
    expect_item(&it[6], SIFT_BULK_INDEX, 400, NULL, NULL);
    assert_string_equal(it[6].error_reason, "index is missing");
    expect_item(&it[7], SIFT_BULK_INDEX, 400, "x", NULL);
    assert_non_null(strstr(it[7].error_reason, "missing source line"));
    assert_int_equal(f->b.n_errors, 7);

    /* A default index fills in for a missing _index. */
    assert_int_equal(bulk(f, "{\"index\":{}}\n{\"a\":1}\n", "dflt"), SIFT_OK);
    expect_item(&f->b.items[0], SIFT_BULK_INDEX, 201, "dflt", NULL);

    /* An empty body is an error of the whole request. */
    assert_int_equal(bulk(f, "\n\r\n", NULL), SIFT_EPARSE);
    assert_non_null(strstr(f->err.reason, "empty"));
}

static void
test_parse_bulk_limits_per_item(void **state)
{
    struct fx *f = *state;
    f->o.max_fields = 2;
    assert_int_equal(sift_parse_opts_compile(&f->o, NULL), SIFT_OK);
    assert_int_equal(bulk(f,
                          "{\"index\":{\"_index\":\"x\"}}\n"
                          "{\"a\":1,\"b\":2,\"c\":3}\n"
                          "{\"index\":{\"_index\":\"x\"}}\n"
                          "{\"a\":1,\"b\":2}\n",
                          NULL),
                     SIFT_OK);
    assert_int_equal(f->b.items[0].status, 400);
    assert_string_equal(f->b.items[0].error_type, "illegal_argument_exception");
    assert_non_null(strstr(f->b.items[0].error_reason, "more than 2 fields"));
    assert_int_equal(f->b.items[1].status, 201);
}

static void
test_parse_bulk_response_shape(void **state)
{
    struct fx *f = *state;
    struct sift_buf out = SIFT_BUF_INIT;
    assert_int_equal(
        bulk(f,
             "{\"index\":{\"_index\":\"logs\",\"_id\":\"q\\\"1\"}}\n"
             "{\"message\":\"m\"}\n"
             "{\"delete\":{\"_index\":\"logs\",\"_id\":\"2\"}}\n",
             NULL),
        SIFT_OK);
    sift_render_bulk(&f->b, 7, NULL, &out);
    json_error_t je;
    json_t *j = json_loadb(out.data, out.len, 0, &je);
    if (!j)
        fail_msg("response is not JSON: %s: %.*s", je.text, (int)out.len,
                 out.data);
    assert_int_equal(json_integer_value(json_object_get(j, "took")), 7);
    assert_true(json_is_true(json_object_get(j, "errors")));
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    json_t *i0 = json_object_get(json_array_get(items, 0), "index");
    assert_string_equal(json_string_value(json_object_get(i0, "_index")),
                        "logs");
    assert_string_equal(json_string_value(json_object_get(i0, "_id")), "q\"1");
    assert_int_equal(json_integer_value(json_object_get(i0, "status")), 201);
    assert_string_equal(json_string_value(json_object_get(i0, "result")),
                        "created");
    json_t *i1 = json_object_get(json_array_get(items, 1), "delete");
    assert_int_equal(json_integer_value(json_object_get(i1, "status")), 400);
    json_t *e = json_object_get(i1, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        "illegal_argument_exception");
    assert_non_null(json_string_value(json_object_get(e, "reason")));
    json_decref(j);

    /* All good: errors false.  The handler may override a status. */
    sift_buf_reset(&out);
    assert_int_equal(bulk(f, "{\"index\":{\"_index\":\"l\"}}\n{}\n", NULL),
                     SIFT_OK);
    sift_render_bulk(&f->b, 0, NULL, &out);
    assert_non_null(strstr(sift_buf_cstr(&out), "\"errors\":false"));
    f->b.items[0].status = 429;
    f->b.items[0].error_type = "es_rejected_execution_exception";
    f->b.items[0].error_reason = "buffer full";
    sift_buf_reset(&out);
    sift_render_bulk(&f->b, 0, NULL, &out);
    assert_non_null(strstr(sift_buf_cstr(&out), "\"errors\":true"));
    assert_non_null(strstr(sift_buf_cstr(&out), "\"status\":429"));
    sift_buf_cleanup(&out);
}

/* _index and _id are fields of the event (searchable), the action's win
 * over the source's; the item's raw bytes span action and source. */
static void
test_parse_bulk_keys_are_fields_and_raw_spans_the_item(void **state)
{
    struct fx *f = *state;
    const char *body = "{\"index\":{\"_index\":\"logs\",\"_id\":\"Ab-1\"}}\n"
                       "{\"message\":\"m1\",\"_id\":\"forged\",\"k\":\"v\"}\n"
                       "{\"create\":{\"_index\":\"logs\"}}\n"
                       "{\"message\":\"m2\"}\n"
                       "{\"create\":{\"_index\":\"logs\",\"_id\":\"x\"}}\n"
                       "not json\n";
    assert_int_equal(bulk(f, body, NULL), SIFT_OK);
    assert_int_equal(f->b.n_items, 3);
    const struct sift_bulk_item *a = &f->b.items[0], *b = &f->b.items[1];
    assert_true(a->id_given);
    assert_false(b->id_given);
    const struct sift_field *id = pf_field(&a->ev, "_id");
    assert_int_equal(id->value_len, 4);
    assert_memory_equal(id->value, "Ab-1", 4);
    assert_int_equal(id->type, SIFT_FT_KEYWORD);
    assert_null(pf_field_n(&a->ev, "_id", 1)); /* the source's is gone */
    assert_memory_equal(pf_field(&a->ev, "_index")->value, "logs", 4);
    assert_non_null(pf_field(&a->ev, "k"));
    /* the generated id is a field too */
    const struct sift_field *gid = pf_field(&b->ev, "_id");
    assert_int_equal(gid->value_len, b->id_len);
    assert_memory_equal(gid->value, b->id, b->id_len);
    /* raw: the action line through the end of the source line */
    const char *src1 = strstr(body, "\n{\"create\"");
    assert_ptr_equal(a->raw, body);
    assert_int_equal(a->raw_len, (size_t)(src1 - body));
    assert_ptr_equal(a->ev.raw, a->raw);
    /* a failed item keeps its bytes too (for the dead-letter store) */
    const struct sift_bulk_item *c = &f->b.items[2];
    assert_int_equal(c->status, 400);
    assert_int_equal(c->raw_len,
                     strlen("{\"create\":{\"_index\":\"logs\",\"_id\":\"x\"}}\n"
                            "not json"));
}

/* Raw bytes in _index and _id are echoed as valid UTF-8 (U+FFFD). */
static void
test_parse_bulk_response_invalid_utf8_ids(void **state)
{
    struct fx *f = *state;
    struct sift_buf out = SIFT_BUF_INIT;
    assert_int_equal(bulk(f,
                          "{\"create\":{\"_index\":\"l\xe9gacy\","
                          "\"_id\":\"id-\xff\"}}\n{\"message\":\"m\"}\n",
                          NULL),
                     SIFT_OK);
    sift_render_bulk(&f->b, 1, NULL, &out);
    json_error_t je;
    json_t *j = json_loadb(out.data, out.len, 0, &je);
    if (!j)
        fail_msg("response is not UTF-8 JSON: %s", je.text);
    json_t *i0 = json_object_get(json_array_get(json_object_get(j, "items"), 0),
                                 "create");
    assert_string_equal(json_string_value(json_object_get(i0, "_index")),
                        "l\xef\xbf\xbdgacy");
    assert_string_equal(json_string_value(json_object_get(i0, "_id")),
                        "id-\xef\xbf\xbd");
    json_decref(j);
    sift_buf_cleanup(&out);
}

/*
 * Compact action lines take a scan instead of the JSON walker; the same
 * line with a leading space always takes the walker.  Both must give the
 * same item, including lines the scan hands over to the walker.
 */
static void
test_parse_bulk_action_scan_matches_walker(void **state)
{
    struct fx *f = *state;
    static const char *const actions[] = {
        "{\"create\":{\"_index\":\"filebeat-8.13.4\"}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":\"b\"}}",
        "{\"index\":{\"_id\":\"b\",\"_index\":\"a\"}}",
        "{\"index\":{\"_index\":\"a\",\"_id\":\"\"}}",
        "{\"create\":{}}",
        "{\"create\":{\"_index\":\"\"}}",
        "{\"delete\":{\"_id\":\"b\"}}",
        "{\"update\":{\"_index\":\"u\",\"_id\":\"b\"}}",
        "{\"create\":{\"_index\":\"a\",\"_index\":\"b\"}}",
        "{\"create\":{\"_index\":\"a\\\"b\"}}",
        "{\"create\":{\"_index\":1,\"_id\":\"x\"}}",
        "{\"create\":{\"_index\":\"a\",}}",
        "{\"create\":{\"_index\":\"a\"}}x",
        "{\"create\":{\"_index\":\"a\"}",
        "{\"create\":{\"_index\":\"a\"},\"x\":1}",
        "{\"creat\":{}}",
        "{\"bogus\":{\"_index\":\"a\"}}",
    };
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        char body[256], spaced[256]; /* items point into both */
        struct sift_bulk_item fast, slow;
        snprintf(body, sizeof(body), "%s\n{\"message\":\"m\"}\n", actions[i]);
        assert_int_equal(bulk(f, body, "dflt"), SIFT_OK);
        fast = f->b.items[0];
        snprintf(spaced, sizeof(spaced), " %s\n{\"message\":\"m\"}\n",
                 actions[i]);
        assert_int_equal(bulk(f, spaced, "dflt"), SIFT_OK);
        slow = f->b.items[0];
        assert_int_equal(fast.action, slow.action);
        assert_int_equal(fast.status, slow.status);
        assert_int_equal(fast.index_len, slow.index_len);
        assert_memory_equal(fast.index, slow.index, fast.index_len);
        assert_int_equal(fast.id_len, slow.id_len);
        if (slow.id_len != 20) /* generated ids differ only by item */
            assert_memory_equal(fast.id, slow.id, fast.id_len);
        assert_true((fast.error_reason == NULL) == (slow.error_reason == NULL));
    }
    /* The generated id: receive time then item number, in hex. */
    char want[32];
    snprintf(want, sizeof(want), "%016llx%04x", (unsigned long long)RECV, 1u);
    assert_int_equal(bulk(f,
                          "{\"create\":{\"_id\":\"x\"}}\n{}\n"
                          "{\"create\":{}}\n{}\n",
                          "d"),
                     SIFT_OK);
    expect_item(&f->b.items[1], SIFT_BULK_CREATE, 201, "d", want);
}

/* The exact bytes of a created item, as Filebeat's parser sees them. */
static void
test_parse_bulk_response_bytes(void **state)
{
    struct fx *f = *state;
    struct sift_buf out = SIFT_BUF_INIT;
    assert_int_equal(bulk(f,
                          "{\"create\":{\"_index\":\"fb\",\"_id\":\"1\"}}\n{}\n"
                          "{\"index\":{\"_id\":\"t\\tab\"}}\n{}\n",
                          "d\"q"),
                     SIFT_OK);
    sift_render_bulk(&f->b, 5, NULL, &out);
    assert_string_equal(
        sift_buf_cstr(&out),
        "{\"took\":5,\"errors\":false,\"items\":["
        "{\"create\":{\"_index\":\"fb\",\"_id\":\"1\",\"_version\":1,"
        "\"result\":\"created\",\"_shards\":{\"total\":1,\"successful\":1,"
        "\"failed\":0},\"status\":201}},"
        "{\"index\":{\"_index\":\"d\\\"q\",\"_id\":\"t\\tab\",\"_version\":1,"
        "\"result\":\"created\",\"_shards\":{\"total\":1,\"successful\":1,"
        "\"failed\":0},\"status\":201}}]}");
    sift_buf_cleanup(&out);
}

/* The response as filtered by ?filter_path= */
static const char *
filtered(struct fx *f, const char *filter_path, struct sift_buf *out)
{
    struct sift_bulk_filter filt;
    sift_render_bulk_filter(&filt, filter_path);
    sift_buf_reset(out);
    sift_render_bulk(&f->b, 5, &filt, out);
    return sift_buf_cstr(out);
}

/*
 * filter_path, as Filebeat and Logstash send it and in the other forms
 * Elasticsearch accepts: names, "*" inside a name, "**", exclusions.
 */
static void
test_parse_bulk_response_filter_path(void **state)
{
    struct fx *f = *state;
    struct sift_buf out = SIFT_BUF_INIT, all = SIFT_BUF_INIT;
    assert_int_equal(bulk(f,
                          "{\"create\":{\"_index\":\"fb\",\"_id\":\"1\"}}\n{}\n"
                          "{\"index\":{\"_id\":\"2\"}}\n{}\n",
                          "d"),
                     SIFT_OK);
    /* Filebeat's filter: a created item is its status only. */
    assert_string_equal(
        filtered(f, "errors,items.*.error,items.*.status", &out),
        "{\"errors\":false,\"items\":[{\"create\":{\"status\":"
        "201}},{\"index\":{\"status\":201}}]}");
    /* Nothing kept in any item: no items at all. */
    assert_string_equal(filtered(f, "errors,items.*.error", &out),
                        "{\"errors\":false}");
    assert_string_equal(filtered(f, " took ", &out), "{\"took\":5}");
    assert_string_equal(filtered(f, "nothing.here", &out), "{}");
    assert_string_equal(filtered(f, "items.*._shards.total.deeper", &out),
                        "{}");
    /* "*" within a name; "**" at any depth. */
    assert_string_equal(filtered(f, "items.cr*.status", &out),
                        "{\"items\":[{\"create\":{\"status\":201}}]}");
    assert_string_equal(filtered(f, "items.**.total,**._id", &out),
                        "{\"items\":[{\"create\":{\"_id\":\"1\",\"_shards\":"
                        "{\"total\":1}}},{\"index\":{\"_id\":\"2\",\"_shards\":"
                        "{\"total\":1}}}]}");
    /* A prefix keeps the whole object under it. */
    assert_string_equal(filtered(f, "items.index._shards", &out),
                        "{\"items\":[{\"index\":{\"_shards\":{\"total\":1,"
                        "\"successful\":1,\"failed\":0}}}]}");
    /* Only exclusions: everything else stays. */
    assert_string_equal(
        filtered(f, "-took,-items.*._shards,-items.*.result,-**._version",
                 &out),
        "{\"errors\":false,\"items\":[{\"create\":{\"_index\":\"fb\",\"_id\":"
        "\"1\",\"status\":201}},{\"index\":{\"_index\":\"d\",\"_id\":\"2\","
        "\"status\":201}}]}");
    /* Everything, three ways, is the unfiltered response. */
    sift_render_bulk(&f->b, 5, NULL, &all);
    assert_string_equal(filtered(f, "*", &out), sift_buf_cstr(&all));
    assert_string_equal(filtered(f, "**", &out), sift_buf_cstr(&all));
    assert_string_equal(filtered(f, "", &out), sift_buf_cstr(&all));

    /* A failed item keeps its error under Filebeat's filter. */
    assert_int_equal(bulk(f,
                          "{\"create\":{\"_index\":\"fb\"}}\n{}\n"
                          "{\"delete\":{\"_index\":\"fb\",\"_id\":\"x\"}}\n",
                          NULL),
                     SIFT_OK);
    const char *r = filtered(f, "errors,items.*.error,items.*.status", &out);
    json_error_t je;
    json_t *j = json_loads(r, 0, &je);
    if (!j)
        fail_msg("not JSON: %s: %s", je.text, r);
    assert_true(json_is_true(json_object_get(j, "errors")));
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 2);
    json_t *i0 = json_object_get(json_array_get(items, 0), "create");
    assert_int_equal(json_object_size(i0), 1);
    assert_int_equal(json_integer_value(json_object_get(i0, "status")), 201);
    json_t *i1 = json_object_get(json_array_get(items, 1), "delete");
    assert_int_equal(json_object_size(i1), 2);
    assert_int_equal(json_integer_value(json_object_get(i1, "status")), 400);
    json_t *e = json_object_get(i1, "error");
    assert_string_equal(json_string_value(json_object_get(e, "type")),
                        "illegal_argument_exception");
    assert_non_null(
        strstr(json_string_value(json_object_get(e, "reason")), "delete"));
    json_decref(j);
    /* Only the error type of failed items. */
    assert_string_equal(filtered(f, "items.*.error.type", &out),
                        "{\"items\":[{\"delete\":{\"error\":{\"type\":"
                        "\"illegal_argument_exception\"}}}]}");
    sift_buf_cleanup(&all);
    sift_buf_cleanup(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_parse_bulk_index_and_create, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_bulk_unsupported_and_malformed, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_bulk_limits_per_item, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_bulk_response_shape, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_bulk_action_scan_matches_walker, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_bulk_response_invalid_utf8_ids, setup, pf_teardown),
        cmocka_unit_test_setup_teardown(
            test_parse_bulk_keys_are_fields_and_raw_spans_the_item, setup,
            pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_bulk_response_bytes, setup,
                                        pf_teardown),
        cmocka_unit_test_setup_teardown(test_parse_bulk_response_filter_path,
                                        setup, pf_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
