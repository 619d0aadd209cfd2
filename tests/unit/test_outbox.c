/*
 * test_outbox.c - the durable notification queue (src/anomaly/outbox.c):
 * items survive a reopen in order with their failed-try counts, finished
 * ones do not come back, a damaged line costs only itself (and the file
 * is kept in quarantine/), a torn last line is skipped, a full outbox
 * dead-letters its oldest item, dead letters carry their cause, and the
 * log is rewritten instead of growing without bound.
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
#include <jansson.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/outbox.h"

struct fx {
    char root[64];
    char log[128];
    char dead[128];
};

static int
setup(void **state)
{
    struct fx *f = sift_xcalloc(1, sizeof(*f));
    snprintf(f->root, sizeof(f->root), "/tmp/sift-test-outbox-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->log, sizeof(f->log), "%s/outbox/webhook.log", f->root);
    snprintf(f->dead, sizeof(f->dead), "%s/outbox/dead.ndjson", f->root);
    sift_log_set_level(SIFT_LOG_ERROR);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
    sift_free(f);
    return 0;
}

static struct sift_outbox_item *
put(struct sift_outbox *ob, uint64_t id, const char *body)
{
    char key[32];
    snprintf(key, sizeof(key), "%llu-1-0", (unsigned long long)id);
    return sift_outbox_put(ob, id, key, "fire", "service=a", body,
                           strlen(body));
}

static uint64_t
ids_in_order(struct sift_outbox *ob, uint64_t *out, size_t max)
{
    size_t pos = 0, n = 0;
    struct sift_outbox_item *it;
    while ((it = sift_outbox_next(ob, &pos)) != NULL && n < max)
        out[n++] = it->alert_id;
    return n;
}

static void
test_outbox_reopen_keeps_pending_in_order(void **state)
{
    struct fx *f = *state;
    struct sift_outbox *ob;
    struct sift_outbox_report rep;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 100, &ob, &rep),
                     SIFT_OK);
    assert_int_equal(rep.restored, 0);
    struct sift_outbox_item *a = put(ob, 1, "{\"a\":\"\xc3\xa9\"}");
    struct sift_outbox_item *b = put(ob, 2, "{\"b\":2}");
    put(ob, 3, "{\"c\":3}");
    assert_true(b->seq > a->seq);
    sift_outbox_failed(ob, b, "HTTP 503");
    sift_outbox_failed(ob, b, "HTTP 503");
    sift_outbox_done(ob, a);
    assert_int_equal(sift_outbox_pending(ob), 2);
    sift_outbox_close(ob); /* as after a kill -9: nothing else is written */

    assert_int_equal(sift_outbox_open(f->root, "webhook", 100, &ob, &rep),
                     SIFT_OK);
    assert_int_equal(rep.restored, 2);
    assert_int_equal(rep.damaged, 0);
    uint64_t ids[8];
    assert_int_equal(ids_in_order(ob, ids, 8), 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 3);
    size_t pos = 0;
    struct sift_outbox_item *it = sift_outbox_next(ob, &pos);
    assert_int_equal(it->attempts, 2); /* the retry budget survives */
    assert_string_equal(it->key, "2-1-0");
    assert_string_equal(it->route, "service=a");
    assert_memory_equal(it->body, "{\"b\":2}", 7);
    /* New items get seqs past every earlier one. */
    struct sift_outbox_item *d = put(ob, 4, "{}");
    assert_true(d->seq > it->seq);
    assert_ptr_equal(sift_outbox_find(ob, it->seq), it);
    sift_outbox_close(ob);
}

static void
test_outbox_damaged_line_costs_only_itself(void **state)
{
    struct fx *f = *state;
    struct sift_outbox *ob;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 100, &ob, NULL),
                     SIFT_OK);
    for (uint64_t i = 1; i <= 3; i++)
        put(ob, i, "{\"x\":1}");
    sift_outbox_close(ob);
    /* Flip one byte inside the second put (line 3: after "next" and the
     * first put). */
    char *data;
    size_t len;
    assert_int_equal(sift_file_read_all(f->log, 1 << 20, &data, &len), SIFT_OK);
    char *line = data;
    for (int i = 0; i < 2; i++)
        line = strchr(line, '\n') + 1;
    char *alert = strstr(line, "\"alert\":2");
    assert_non_null(alert);
    alert[8] = '7';
    assert_int_equal(sift_file_replace(f->log, data, len, 0640, 0), SIFT_OK);
    sift_free(data);

    struct sift_outbox_report rep;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 100, &ob, &rep),
                     SIFT_OK);
    assert_int_equal(rep.damaged, 1);
    assert_int_equal(rep.restored, 2);
    uint64_t ids[8];
    assert_int_equal(ids_in_order(ob, ids, 8), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 3);
    sift_outbox_close(ob);
    /* The damaged file as it was is kept. */
    char q[160];
    snprintf(q, sizeof(q), "ls %s/quarantine/webhook.log.* >/dev/null",
             f->root);
    assert_int_equal(system(q), 0);
}

static void
test_outbox_torn_tail_is_skipped(void **state)
{
    struct fx *f = *state;
    struct sift_outbox *ob;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 100, &ob, NULL),
                     SIFT_OK);
    put(ob, 1, "{}");
    sift_outbox_close(ob);
    FILE *fp = fopen(f->log, "a");
    assert_non_null(fp);
    fputs("{\"op\":\"put\",\"seq\":9,\"alert\":9,\"ke", fp);
    fclose(fp);
    struct sift_outbox_report rep;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 100, &ob, &rep),
                     SIFT_OK);
    assert_int_equal(rep.torn, 1);
    assert_int_equal(rep.damaged, 0);
    assert_int_equal(rep.restored, 1);
    sift_outbox_close(ob);
}

static void
test_outbox_full_and_dead_letters(void **state)
{
    struct fx *f = *state;
    struct sift_outbox *ob;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 3, &ob, NULL),
                     SIFT_OK);
    for (uint64_t i = 1; i <= 3; i++)
        put(ob, i, "{}");
    size_t pos = 0;
    sift_outbox_next(ob, &pos)->inflight = 1; /* alert 1 is being tried */
    put(ob, 4, "{}");                         /* full: alert 2 goes */
    assert_int_equal(sift_outbox_pending(ob), 3);
    struct sift_outbox_item *it = sift_outbox_find(ob, 3);
    assert_non_null(it);
    sift_outbox_failed(ob, it, "HTTP 500 boom");
    sift_outbox_dead(ob, it, "HTTP 500 boom");
    assert_int_equal(sift_outbox_dead_count(ob), 2);
    sift_outbox_close(ob);

    char *data;
    size_t len;
    assert_int_equal(sift_file_read_all(f->dead, 1 << 20, &data, &len),
                     SIFT_OK);
    json_error_t jerr;
    char *nl = strchr(data, '\n');
    json_t *o = json_loadb(data, (size_t)(nl - data), 0, &jerr);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "alert")), 2);
    assert_string_equal(json_string_value(json_object_get(o, "cause")),
                        "outbox full (alerts.outbox_max)");
    assert_string_equal(json_string_value(json_object_get(o, "sink")),
                        "webhook");
    json_decref(o);
    o = json_loads(nl + 1, JSON_DISABLE_EOF_CHECK, &jerr);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "alert")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "attempts")), 1);
    assert_string_equal(json_string_value(json_object_get(o, "cause")),
                        "HTTP 500 boom");
    assert_string_equal(json_string_value(json_object_get(o, "key")), "3-1-0");
    json_decref(o);
    sift_free(data);

    struct sift_outbox_report rep;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 3, &ob, &rep),
                     SIFT_OK);
    uint64_t ids[8];
    assert_int_equal(ids_in_order(ob, ids, 8), 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 4);
    sift_outbox_close(ob);
}

static void
test_outbox_log_is_rewritten(void **state)
{
    struct fx *f = *state;
    struct sift_outbox *ob;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 100000, &ob, NULL),
                     SIFT_OK);
    struct sift_outbox_item *keep = put(ob, 1, "{}");
    uint64_t keep_seq = keep->seq;
    for (uint64_t i = 2; i < 5000; i++)
        sift_outbox_done(ob, put(ob, i, "{\"some\":\"body\"}"));
    sift_outbox_close(ob);
    struct stat st;
    assert_int_equal(stat(f->log, &st), 0);
    assert_true(st.st_size < 200 * 1024); /* 5000 items would be ~1 MB */
    struct sift_outbox_report rep;
    assert_int_equal(sift_outbox_open(f->root, "webhook", 100000, &ob, &rep),
                     SIFT_OK);
    assert_int_equal(rep.restored, 1);
    assert_non_null(sift_outbox_find(ob, keep_seq));
    assert_true(put(ob, 9, "{}")->seq >= 5000); /* seqs never reused */
    sift_outbox_close(ob);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_outbox_reopen_keeps_pending_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_outbox_damaged_line_costs_only_itself, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_torn_tail_is_skipped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_full_and_dead_letters,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_log_is_rewritten, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
