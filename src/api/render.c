/*
 * render.c - JSON replies of the query engine's results (render.h).
 *
 * Design: the engine (query/agg.c, query/topk.c) fills C structures that
 * a cluster can merge; the wire format lives here, in api/, beside the
 * handlers that send it.  Each renderer writes exactly the bytes the API
 * documents (docs/api.md); the unit tests of the aggregations compare
 * whole replies.
 *
 * Invariants: numbers are integers or the shortest round-trip doubles
 * (sift_buf_put_json_double); strings go through sift_buf_put_json_str
 * (valid UTF-8 out); times are RFC 3339 UTC with nanoseconds
 * (core/time.c).
 *
 * Threads: any; no state.
 */
#include "sift/render.h"

#include <inttypes.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/patterns.h"
#include "sift/segment.h"
#include "sift/time.h"

static void
put_timed_out(struct sift_buf *out, int timed_out)
{
    sift_buf_appendf(out, ",\"timed_out\":%s}", timed_out ? "true" : "false");
}

/* Milliseconds rounded towards minus infinity. */
static long long
floor_ms(int64_t ns)
{
    return (long long)(ns / SIFT_NS_PER_MS -
                       (ns < 0 && ns % SIFT_NS_PER_MS ? 1 : 0));
}

/* ---- hits ---- */

/* Whether name[0..len) is in the comma list (NULL = every field). */
static int
field_wanted(const char *list, const char *name, size_t len)
{
    if (!list)
        return 1;
    const char *p = list;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        while (n && *p == ' ') {
            p++;
            n--;
        }
        while (n && p[n - 1] == ' ')
            n--;
        if (n == len && memcmp(p, name, len) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

/* Appends ,"template":"…" when tmpl knows id; nothing otherwise. */
static void
template_json(uint32_t id, sift_search_template_cb tmpl, void *tmpl_arg,
              struct sift_buf *out)
{
    struct sift_buf text = SIFT_BUF_INIT;
    if (tmpl(tmpl_arg, id, &text) == SIFT_OK) {
        sift_buf_append(out, ",\"template\":", 12);
        sift_buf_put_json_str(out, text.data ? text.data : "", text.len);
    }
    sift_buf_cleanup(&text);
}

void
sift_render_hit(const struct sift_event *ev, uint64_t hash,
                const struct sift_render_hits_opts *opts, struct sift_buf *out)
{
    sift_buf_append(out, "{\"time\":\"", 9);
    sift_time_format_rfc3339(ev->ts_ns, 9, out);
    char id[SIFT_HIT_ID_LEN + 1];
    sift_query_hit_id(ev->ts_ns, hash, id);
    sift_buf_appendf(out, "\",\"ts_ms\":%lld,\"_id\":\"%s\",\"message\":",
                     floor_ms(ev->ts_ns), id);
    sift_buf_put_json_str(out, ev->msg ? ev->msg : "", ev->msg_len);
    if (ev->template_id != SIFT_TEMPLATE_NONE) {
        sift_buf_appendf(out, ",\"template_id\":%u", ev->template_id);
        if (opts->template_text)
            template_json(ev->template_id, opts->template_text,
                          opts->template_arg, out);
    }
    sift_buf_append(out, ",\"fields\":{", 11);
    int first = 1;
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (!field_wanted(opts->fields, f->name, f->name_len))
            continue;
        if (!first)
            sift_buf_putc(out, ',');
        first = 0;
        sift_field_put_json(f, out);
    }
    sift_buf_append(out, "}}", 2);
}

/* Hits of res, reversed or not, with a separator between them and a
 * terminator after each (NDJSON) or neither (inside an array). */
static int
put_hits(const struct sift_search_result *res, int reverse,
         const struct sift_render_hits_opts *opts, struct sift_buf *out)
{
    struct sift_arena *arena = sift_arena_new(16384);
    int rc = SIFT_OK;
    for (uint32_t k = 0; k < res->n_hits; k++) {
        const struct sift_hit *h =
            &res->hits[reverse ? res->n_hits - 1 - k : k];
        struct sift_event ev;
        sift_arena_reset(arena);
        rc = sift_doc_decode((const uint8_t *)res->docs.data + h->doc_off,
                             h->doc_len, arena, &ev);
        if (rc < 0)
            break;
        if (k && !opts->ndjson)
            sift_buf_putc(out, ',');
        sift_render_hit(&ev, h->hash, opts, out);
        if (opts->ndjson)
            sift_buf_putc(out, '\n');
    }
    sift_arena_free(arena);
    return rc;
}

int
sift_render_hits(const struct sift_search_result *res, int reverse,
                 const struct sift_render_hits_opts *opts, struct sift_buf *out)
{
    if (!opts->ndjson)
        sift_buf_putc(out, '[');
    int rc = put_hits(res, reverse, opts, out);
    if (!opts->ndjson)
        sift_buf_putc(out, ']');
    return rc;
}

void
sift_render_search(const struct sift_search_result *res,
                   const struct sift_buf *hits, int64_t took_ms,
                   struct sift_buf *out)
{
    sift_buf_append(out, "{\"hits\":", 8);
    if (hits->len)
        sift_buf_append(out, hits->data, hits->len);
    else
        sift_buf_append(out, "[]", 2);
    sift_buf_appendf(out,
                     ",\"total\":{\"value\":%llu,\"relation\":\"%s\"},"
                     "\"cursor\":",
                     (unsigned long long)res->total,
                     res->total_is_lower_bound ? "gte" : "eq");
    if (res->cursor[0])
        sift_buf_appendf(out, "\"%s\"", res->cursor);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_appendf(out, ",\"took_ms\":%lld,\"timed_out\":%s}",
                     (long long)took_ms, res->timed_out ? "true" : "false");
}

int
sift_render_context(const struct sift_context_result *r,
                    const struct sift_render_hits_opts *opts,
                    struct sift_buf *out)
{
    struct sift_render_hits_opts o = *opts;
    o.ndjson = 0;
    o.fields = NULL; /* context shows whole events */
    sift_buf_append(out, "{\"anchor\":", 10);
    int rc = put_hits(&r->anchor, 0, &o, out);
    if (rc == SIFT_OK) {
        sift_buf_append(out, ",\"before\":", 10);
        rc = sift_render_hits(&r->before, 1, &o, out);
    }
    if (rc == SIFT_OK) {
        sift_buf_append(out, ",\"after\":", 9);
        rc = sift_render_hits(&r->after, 0, &o, out);
    }
    if (rc < 0)
        return rc;
    sift_buf_appendf(out,
                     ",\"by\":\"%s\",\"query\":", sift_context_by_name(r->by));
    sift_buf_put_json_str(out, r->query ? r->query : "", r->query_len);
    sift_buf_appendf(out, ",\"timed_out\":%s}",
                     r->timed_out ? "true" : "false");
    return SIFT_OK;
}

/* ---- aggregations ---- */

void
sift_render_histogram(const struct sift_agg_histo_result *r,
                      struct sift_buf *out)
{
    sift_buf_appendf(out, "{\"interval_ms\":%lld,", (long long)r->interval_ms);
    if (r->calendar_unit != 0)
        sift_buf_appendf(out, "\"calendar_interval\":\"%lld%c\",",
                         (long long)r->calendar_n, r->calendar_unit);
    sift_buf_appendf(out, "\"buckets\":[");
    for (uint32_t b = 0; b < r->n_buckets; b++) {
        sift_buf_appendf(out, "%s{\"key\":%lld,\"time\":\"", b ? "," : "",
                         floor_ms(r->key_ns[b]));
        sift_time_format_rfc3339(r->key_ns[b], 9, out);
        sift_buf_appendf(out, "\",\"count\":%llu",
                         (unsigned long long)r->counts[b]);
        if (r->split) {
            sift_buf_append(out, ",\"by\":{", 7);
            for (uint32_t i = 0; i < r->n_series; i++) {
                sift_buf_put_json_str(out, r->series[i], r->series_len[i]);
                sift_buf_appendf(
                    out, ":%llu%s",
                    (unsigned long long)
                        r->series_counts[(size_t)i * r->n_buckets + b],
                    i + 1 < r->n_series || r->other ? "," : "");
            }
            if (r->other)
                sift_buf_appendf(out, "\"_other\":%llu",
                                 (unsigned long long)r->other[b]);
            sift_buf_putc(out, '}');
        }
        sift_buf_putc(out, '}');
    }
    sift_buf_putc(out, ']');
    put_timed_out(out, r->timed_out);
}

void
sift_render_terms(const struct sift_agg_terms_result *r, struct sift_buf *out)
{
    sift_buf_append(out, "{\"field\":", 9);
    sift_buf_put_json_str(out, r->field ? r->field : "", r->field_len);
    sift_buf_append(out, ",\"buckets\":[", 12);
    for (size_t i = 0; i < r->n_buckets; i++) {
        sift_buf_appendf(out, "%s{\"key\":", i ? "," : "");
        sift_buf_put_json_str(out, r->buckets[i].key, r->buckets[i].key_len);
        sift_buf_appendf(out, ",\"count\":%llu}",
                         (unsigned long long)r->buckets[i].count);
    }
    sift_buf_appendf(out, "],\"other\":%llu,\"missing\":%llu",
                     (unsigned long long)r->other,
                     (unsigned long long)r->missing);
    put_timed_out(out, r->timed_out);
}

void
sift_render_stats(const struct sift_agg_stats_result *r, struct sift_buf *out)
{
    sift_buf_append(out, "{\"field\":", 9);
    sift_buf_put_json_str(out, r->field ? r->field : "", r->field_len);
    sift_buf_appendf(out, ",\"count\":%llu", (unsigned long long)r->count);
    if (r->count == 0) {
        sift_buf_appendf(out, ",\"min\":null,\"max\":null,\"sum\":0,"
                              "\"avg\":null,\"p50\":null,\"p90\":null,"
                              "\"p99\":null,\"percentiles_exact\":true");
    } else {
        const char *names[] = {"min", "max", "sum", "avg", "p50", "p90", "p99"};
        double v[] = {r->min, r->max, r->sum, r->sum / (double)r->count,
                      r->p50, r->p90, r->p99};
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            sift_buf_appendf(out, ",\"%s\":", names[i]);
            sift_buf_put_json_double(out, v[i]);
        }
        sift_buf_appendf(out, ",\"percentiles_exact\":%s",
                         r->percentiles_exact ? "true" : "false");
    }
    put_timed_out(out, r->timed_out);
}

void
sift_render_fields(const struct sift_agg_fields_result *r, struct sift_buf *out)
{
    sift_buf_append(out, "{\"fields\":[", 11);
    for (size_t i = 0; i < r->n; i++) {
        unsigned fl = r->v[i].kinds;
        sift_buf_appendf(out, "%s{\"name\":", i ? "," : "");
        sift_buf_put_json_str(out, r->v[i].name, r->v[i].name_len);
        sift_buf_appendf(out,
                         ",\"text\":%s,\"keyword\":%s,\"number\":%s,"
                         "\"cardinality\":%llu}",
                         fl & SIFT_SEGF_TEXT ? "true" : "false",
                         fl & SIFT_SEGF_KEYWORD ? "true" : "false",
                         fl & SIFT_SEGF_NUMBER ? "true" : "false",
                         (unsigned long long)r->v[i].cardinality);
    }
    sift_buf_append(out, "]}", 2);
}

/* ---- patterns ---- */

static void
put_pattern(const struct sift_patterns_result *r, const struct sift_pattern *p,
            struct sift_buf *out)
{
    sift_buf_appendf(
        out, "{\"template_id\":%" PRIu32 ",\"template\":", p->template_id);
    if (p->text)
        sift_buf_put_json_str(out, p->text, p->text_len);
    else
        SIFT_BUF_LIT(out, "null");
    sift_buf_appendf(out,
                     ",\"count\":%" PRIu64 ",\"first_seen_ms\":%" PRId64
                     ",\"last_seen_ms\":%" PRId64 ",\"sample\":",
                     p->count, p->first_ns / SIFT_NS_PER_MS,
                     p->last_ns / SIFT_NS_PER_MS);
    if (p->sample)
        sift_buf_put_json_str(out, p->sample, p->sample_len);
    else
        SIFT_BUF_LIT(out, "null");
    if (r->n_buckets) {
        SIFT_BUF_LIT(out, ",\"series\":[");
        for (uint32_t b = 0; b < r->n_buckets; b++)
            sift_buf_appendf(out, "%s[%" PRId64 ",%" PRIu32 "]", b ? "," : "",
                             (r->start_ns + (int64_t)b * r->interval_ns) /
                                 SIFT_NS_PER_MS,
                             p->series ? p->series[b] : 0);
        sift_buf_putc(out, ']');
    }
    sift_buf_putc(out, '}');
}

void
sift_render_patterns(const struct sift_patterns_result *r, int64_t took_ms,
                     struct sift_buf *out)
{
    SIFT_BUF_LIT(out, "{\"patterns\":[");
    for (uint32_t i = 0; i < r->n; i++) {
        if (i)
            sift_buf_putc(out, ',');
        put_pattern(r, &r->v[i], out);
    }
    sift_buf_appendf(out, "],\"total\":%" PRIu64 ",\"distinct\":%" PRIu32,
                     r->total, r->distinct);
    if (r->n_buckets)
        sift_buf_appendf(out, ",\"interval_ms\":%" PRId64,
                         r->interval_ns / SIFT_NS_PER_MS);
    for (size_t i = 0; i < r->n_warnings; i++) {
        if (i)
            sift_buf_putc(out, ',');
        else
            SIFT_BUF_LIT(out, ",\"warnings\":[");
        sift_buf_put_json_str(out, r->warnings[i], strlen(r->warnings[i]));
    }
    if (r->n_warnings)
        sift_buf_putc(out, ']');
    sift_buf_appendf(out, ",\"took_ms\":%" PRId64 "}", took_ms);
}
