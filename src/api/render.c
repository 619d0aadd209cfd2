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

#include "sift/clock.h"
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
        double v[] = {r->min,
                      r->max,
                      r->sum,
                      r->sum / (double)r->count,
                      r->p50,
                      r->p90,
                      r->p99};
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
sift_render_fields(const struct sift_agg_fields_result *r,
                   struct sift_buf *out)
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
