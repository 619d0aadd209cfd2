/*
 * fuzz_reply.c - every JSON reply built from arbitrary stored bytes is
 * valid UTF-8 JSON.
 *
 * The input is an ingest body: each line is parsed (format auto, so JSON
 * objects with raw bytes in names and values, syslog, logfmt and text
 * all occur), and each line's bytes are also added as a keyword field,
 * a field name and a number-typed field, unparsed.  The events are built
 * into a real segment, then every renderer a reply uses runs over it:
 * search hits (JSON and NDJSON, as search, export and tail write them),
 * terms, histogram and field list aggregations, the event JSON, the
 * _bulk response with the bytes as _id and _index, an audit record, an
 * alert and the Grafana logs frame.  Each output must pass jansson's
 * strict decoder (which rejects invalid UTF-8) and sift_utf8_valid();
 * anything else traps.
 */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../../src/api/grafana_int.h"
#include "sift/alert_format.h"
#include "sift/anomaly.h"
#include "sift/arena.h"
#include "sift/audit.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/parse.h"
#include "sift/query.h"
#include "sift/render.h"
#include "sift/segment.h"
#include "sift/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 16

struct ctx {
    struct sift_arena *arena;
    struct sift_event evs[MAX_EVENTS];
    size_t n;
};

/* Traps unless out[0..len) is one valid UTF-8 JSON text (or, with
 * ndjson, one per line). */
static void
check(const char *out, size_t len, int ndjson)
{
    if (!sift_utf8_valid(out, len))
        __builtin_trap();
    size_t at = 0;
    while (at < len) {
        size_t end = len;
        if (ndjson) {
            const char *nl = memchr(out + at, '\n', len - at);
            end = nl ? (size_t)(nl - out) : len;
        }
        if (end > at) {
            /* jansson refuses "\u0000" in object keys, valid JSON that a
             * NUL in a field name gives: check it as "\u0001". */
            char *t = malloc(end - at + 1);
            memcpy(t, out + at, end - at);
            for (char *p = t; (p = memmem(p, (size_t)(t + (end - at) - p),
                                          "\\u0000", 6)) != NULL;
                 p += 6)
                p[5] = '1';
            json_error_t jerr;
            json_t *j = json_loadb(t, end - at,
                                   JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
            free(t);
            if (!j) {
                fprintf(stderr, "invalid JSON (%s): %.*s\n", jerr.text,
                        (int)(end - at), out + at);
                __builtin_trap();
            }
            json_decref(j);
        }
        at = end + 1;
    }
}

static void
check_buf(struct sift_buf *b, int ndjson)
{
    check(b->data ? b->data : "", b->len, ndjson);
    sift_buf_reset(b);
}

static int
on_line(void *arg, int rc, struct sift_event *ev,
        const struct sift_parse_error *err)
{
    struct ctx *c = arg;
    (void)err;
    if (rc != SIFT_OK || c->n == MAX_EVENTS)
        return c->n == MAX_EVENTS;
    /* The line's own bytes, unparsed, as a field value, a field name and
     * a NUMBER field (bare in JSON only if it is a JSON number). */
    uint32_t nf = ev->n_fields + 3;
    struct sift_field *f = sift_arena_alloc(c->arena, nf * sizeof(*f));
    if (ev->n_fields)
        memcpy(f, ev->fields, ev->n_fields * sizeof(*f));
    uint32_t rl = ev->raw_len > 200 ? 200 : ev->raw_len;
    f[ev->n_fields] =
        (struct sift_field){"raw", ev->raw, 3, rl, SIFT_FT_KEYWORD};
    f[ev->n_fields + 1] =
        (struct sift_field){ev->raw, "x", rl ? rl : 1, 1, SIFT_FT_TEXT};
    if (rl == 0)
        f[ev->n_fields + 1].name = "empty";
    f[ev->n_fields + 2] =
        (struct sift_field){"num", ev->raw, 3, rl, SIFT_FT_NUMBER};
    ev->fields = f;
    ev->n_fields = nf;
    ev->template_id = (uint32_t)c->n + 1;
    c->evs[c->n++] = *ev;
    return 0;
}

static int
template_text(void *arg, uint32_t id, struct sift_buf *out)
{
    const struct ctx *c = arg;
    if (id == 0 || id > c->n)
        return SIFT_ENOTFOUND;
    const struct sift_event *ev = &c->evs[id - 1];
    sift_buf_append(out, ev->msg, ev->msg_len > 64 ? 64 : ev->msg_len);
    return SIFT_OK;
}

static void
run_queries(struct ctx *c, struct sift_segment *seg, struct sift_buf *out)
{
    struct sift_query *q = NULL;
    struct sift_query_error qe;
    if (sift_query_parse("*", 1, NULL, &q, &qe) != SIFT_OK)
        __builtin_trap();
    for (int ndjson = 0; ndjson <= 1; ndjson++) {
        struct sift_search_opts so;
        sift_search_opts_init(&so);
        so.limit = MAX_EVENTS;
        struct sift_render_hits_opts ro = {.ndjson = ndjson,
                                           .template_text = template_text,
                                           .template_arg = c};
        struct sift_search_result res;
        sift_search_result_init(&res);
        if (sift_search_exec(&seg, 1, q, &so, &res, &qe) != SIFT_OK)
            __builtin_trap();
        struct sift_buf hits = SIFT_BUF_INIT;
        if (sift_render_hits(&res, 0, &ro, &hits) != SIFT_OK)
            __builtin_trap();
        check(hits.data ? hits.data : "", hits.len, ndjson);
        if (!ndjson) {
            sift_render_search(&res, &hits, 1, out);
            check_buf(out, 0);
            json_t *frames = json_array();
            struct sift_gf_target t = {.kind = SIFT_GF_LOGS, .ref_id = "A"};
            int frc = sift__gf_frame_logs(&t, hits.data, hits.len, res.total, 0,
                                          frames);
            /* jansson cannot load a NUL in a key: an error, never a wrong
             * frame. */
            if (frc != SIFT_OK && !memmem(hits.data, hits.len, "\\u0000", 6))
                __builtin_trap();
            char *s = json_dumps(frames, JSON_COMPACT);
            if (!s)
                __builtin_trap();
            check(s, strlen(s), 0);
            free(s);
            json_decref(frames);
        }
        sift_buf_cleanup(&hits);
        sift_search_result_cleanup(&res);
    }
    static const char *const fields[] = {"raw", "message", "host.name",
                                         "service.name"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        struct sift_agg_opts ao;
        sift_agg_opts_init(&ao);
        ao.field = fields[i];
        ao.size = 10;
        struct sift_agg_terms_result tr;
        if (sift_agg_terms(&seg, 1, q, &ao, &tr, &qe) == SIFT_OK) {
            sift_render_terms(&tr, out);
            check_buf(out, 0);
        }
        sift_agg_terms_result_cleanup(&tr);
        sift_buf_reset(out);
        ao.interval_ms = 3600000;
        struct sift_agg_histo_result hr;
        if (sift_agg_histogram(&seg, 1, q, &ao, &hr, &qe) == SIFT_OK) {
            sift_render_histogram(&hr, out);
            check_buf(out, 0);
        }
        sift_agg_histo_result_cleanup(&hr);
        sift_buf_reset(out);
    }
    struct sift_agg_fields_result fr;
    sift_agg_fields(&seg, 1, &fr);
    sift_render_fields(&fr, out);
    sift_agg_fields_result_cleanup(&fr);
    check_buf(out, 0);
    sift_query_free(q);
}

static void
run_others(struct ctx *c, const char *body, size_t len, struct sift_buf *out)
{
    for (size_t i = 0; i < c->n; i++) {
        sift_event_to_json(&c->evs[i], out);
        check_buf(out, 0);
    }
    /* _bulk: every item's _index and _id are input bytes. */
    struct sift_bulk bulk = {0};
    bulk.items = calloc(c->n + 1, sizeof(*bulk.items));
    for (size_t i = 0; i < c->n; i++) {
        struct sift_bulk_item *it = &bulk.items[bulk.n_items++];
        it->action = (uint8_t)(i % 2 ? SIFT_BULK_CREATE : SIFT_BULK_INDEX);
        it->status = (uint16_t)(i % 3 ? 201 : 400);
        it->index = c->evs[i].raw;
        it->index_len = c->evs[i].raw_len > 100 ? 100 : c->evs[i].raw_len;
        it->id = c->evs[i].msg;
        it->id_len = c->evs[i].msg_len > 100 ? 100 : c->evs[i].msg_len;
        if (it->status != 201) {
            it->error_type = "mapper_parsing_exception";
            it->error_reason =
                sift_arena_strndup(c->arena, c->evs[i].raw, it->index_len);
        }
    }
    sift_render_bulk(&bulk, 1, NULL, out);
    check_buf(out, 0);
    free(bulk.items);
    /* An audit record and an alert with the bytes in their strings. */
    char details[512];
    size_t dl = len < sizeof(details) - 1 ? len : sizeof(details) - 1;
    memcpy(details, body, dl);
    details[dl] = '\0';
    sift_audit_format(out, 0, details, "127.0.0.1:1", "POST /api/v1/delete",
                      200, details);
    check_buf(out, 0);
    struct sift_alert al;
    memset(&al, 0, sizeof(al));
    snprintf(al.series, sizeof(al.series), "service=%s", details);
    sift_alert_to_json(&al, out);
    check_buf(out, 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    struct sift_parse_opts o;
    sift_parse_opts_init(&o);
    if (sift_parse_opts_compile(&o, NULL) != SIFT_OK)
        __builtin_trap();
    struct ctx c;
    memset(&c, 0, sizeof(c));
    c.arena = sift_arena_new(1 << 16);
    const char *body = (const char *)data;
    sift_parse_lines(&o, body, size, INT64_C(1715677200000000000), c.arena,
                     on_line, &c, NULL);
    struct sift_buf out = SIFT_BUF_INIT;
    if (c.n > 0) {
        struct sift_segment_opts so;
        sift_segment_opts_init(&so);
        struct sift_segment_builder *b = NULL;
        if (sift_segment_builder_new(&so, &b) != SIFT_OK)
            __builtin_trap();
        for (size_t i = 0; i < c.n; i++)
            if (sift_segment_builder_add(b, &c.evs[i]) != SIFT_OK)
                __builtin_trap();
        struct sift_buf img = SIFT_BUF_INIT;
        if (sift_segment_builder_finish(b, &img) != SIFT_OK)
            __builtin_trap();
        sift_segment_builder_free(b);
        size_t il;
        char *mem = sift_buf_detach(&img, &il);
        struct sift_segment *seg = NULL;
        if (sift_segment_open_mem(mem, il, &seg) != SIFT_OK)
            __builtin_trap();
        run_queries(&c, seg, &out);
        sift_segment_unref(seg);
        run_others(&c, body, size, &out);
    }
    sift_buf_cleanup(&out);
    sift_arena_free(c.arena);
    sift_parse_opts_cleanup(&o);
    return 0;
}
