/*
 * admin_api.c - GET /api/v1/store: what the storage engine holds.
 *
 * Reads sift_store_stats() (cheap counters) on the loop thread and renders
 * them as JSON.  Quarantined segments are listed by name so an operator
 * sees them without reading logs.
 */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "sift/admin_api.h"
#include "sift/buf.h"
#include "sift/config.h"
#include "sift/http.h"
#include "sift/store.h"

void
sift_admin_store_json(struct sift_store *store, struct sift_buf *out)
{
    struct sift_store_stats st;
    sift_store_stats(store, &st);
    sift_buf_appendf(
        out,
        "{\"docs\":%llu,\"docs_buffered\":%llu,"
        "\"segments\":{\"memory\":%llu,\"disk\":%llu},"
        "\"bytes\":{\"disk\":%llu,\"memory\":%llu,\"buffer\":%llu,"
        "\"merge\":%llu,\"wal\":%llu},"
        "\"wal_fsyncs\":%llu,\"last_fsync_ms\":",
        (unsigned long long)st.docs, (unsigned long long)st.docs_buffered,
        (unsigned long long)st.segments_mem,
        (unsigned long long)st.segments_disk, (unsigned long long)st.bytes_disk,
        (unsigned long long)st.bytes_mem, (unsigned long long)st.buffer_bytes,
        (unsigned long long)st.merge_bytes, (unsigned long long)st.wal_bytes,
        (unsigned long long)st.wal_fsyncs);
    /* Durations as they are (shortest round trip), not cut to 3 or 6
     * decimals. */
    sift_buf_put_json_double(out, (double)st.last_fsync_ns / 1e6);
    sift_buf_appendf(out,
                     ",\"flushes\":%llu,\"appends_rejected\":%llu,"
                     "\"full\":%s,\"cpu_seconds\":{\"build\":",
                     (unsigned long long)st.flushes,
                     (unsigned long long)st.appends_rejected,
                     sift_store_is_full(store) ? "true" : "false");
    sift_buf_put_json_double(out, (double)st.build_cpu_ns / 1e9);
    sift_buf_append(out, ",\"merge\":", 9);
    sift_buf_put_json_double(out, (double)st.merge_cpu_ns / 1e9);
    sift_buf_append(out, "},\"quarantined\":[", 17);
    const char *const *q = sift_store_quarantined(store);
    for (size_t i = 0; q && q[i]; i++) {
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_put_json_str(out, q[i], strlen(q[i]));
    }
    sift_buf_append(out, "],\"held\":[", 10);
    const char *const *h = sift_store_held(store);
    for (size_t i = 0; h && h[i]; i++) {
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_put_json_str(out, h[i], strlen(h[i]));
    }
    /* What is degraded (the same as /readyz's details). */
    struct sift_store_health hl;
    sift_store_health(store, &hl);
    sift_buf_appendf(out, "],\"health\":{\"disk_full\":%s,\"wal_error\":",
                     hl.disk_full ? "true" : "false");
    if (hl.write_errno) {
        const char *e = strerror(hl.write_errno);
        sift_buf_put_json_str(out, e, strlen(e));
    } else {
        sift_buf_append(out, "null", 4);
    }
    sift_buf_appendf(out, ",\"free_bytes\":");
    if (hl.free_known)
        sift_buf_appendf(out, "%llu", (unsigned long long)hl.free_bytes);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_appendf(out, ",\"merges_held\":");
    if (hl.merges_held)
        sift_buf_put_json_str(out, hl.merges_held, strlen(hl.merges_held));
    else
        sift_buf_append(out, "null", 4);
    sift_buf_appendf(out,
                     ",\"unplaced_segments\":%llu,\"wal_records_lost\":%llu,"
                     "\"tombstones_rebuilt\":%llu,\"manifest_rebuilt\":%s}}",
                     (unsigned long long)hl.unplaced,
                     (unsigned long long)hl.wal_records_lost,
                     (unsigned long long)st.tombstones_rebuilt,
                     hl.rebuilt ? "true" : "false");
}

static void
handle_store(struct sift_http_req *req, void *arg)
{
    struct sift_buf body = SIFT_BUF_INIT;
    sift_admin_store_json(arg, &body);
    sift_http_reply_json(req, 200, &body);
    sift_buf_cleanup(&body);
}

/* ---- GET /api/v1/config ---- */

struct config_json {
    struct sift_buf *out;
    const char *section; /* the open section, NULL before the first */
};

static void
config_value_json(void *arg, const struct sift_config_value *v)
{
    struct config_json *c = arg;
    struct sift_buf *out = c->out;
    if (!c->section || strcmp(c->section, v->section) != 0) {
        if (c->section)
            sift_buf_append(out, "},", 2);
        c->section = v->section;
        sift_buf_put_json_str(out, v->section, strlen(v->section));
        sift_buf_append(out, ":{", 2);
    } else {
        sift_buf_putc(out, ',');
    }
    sift_buf_put_json_str(out, v->name, strlen(v->name));
    sift_buf_putc(out, ':');
    if (v->kind == SIFT_CONFIG_STRING)
        sift_buf_put_json_str(out, v->str, strlen(v->str));
    else if (v->kind == SIFT_CONFIG_BOOL)
        sift_buf_appendf(out, "%s", v->num ? "true" : "false");
    else
        sift_buf_appendf(out, "%" PRId64, v->num);
}

static void
handle_config(struct sift_http_req *req, void *arg)
{
    struct sift_buf b = SIFT_BUF_INIT;
    struct config_json c = {&b, NULL};
    sift_buf_putc(&b, '{');
    sift_config_each(arg, config_value_json, &c);
    if (c.section)
        sift_buf_putc(&b, '}');
    sift_buf_append(&b, "}\n", 2);
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

void
sift_admin_config_register(struct sift_http *http,
                           const struct sift_config *cfg)
{
    sift_http_route(http, "GET", "/api/v1/config", 0, SIFT_ROLE_ADMIN,
                    handle_config, (void *)(uintptr_t)cfg);
}

/* ---- GET /readyz details ---- */

static void
put_names(struct sift_buf *out, const char *key, const char *const *v)
{
    sift_buf_appendf(out, "\"%s\":[", key);
    for (size_t i = 0; v && v[i]; i++) {
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_put_json_str(out, v[i], strlen(v[i]));
    }
    sift_buf_putc(out, ']');
}

/* What /readyz says beyond "ready" (admin_api.h). */
int
sift_admin_ready_details(struct sift_store *store, struct sift_buf *out)
{
    struct sift_store_health h;
    sift_store_health(store, &h);
    sift_buf_putc(out, '{');
    put_names(out, "quarantined", sift_store_quarantined(store));
    sift_buf_putc(out, ',');
    put_names(out, "held", sift_store_held(store));
    sift_buf_append(out, ",\"degraded\":[", 13);
    int n = 0;
    if (h.disk_full) {
        sift_buf_appendf(out,
                         "%s{\"reason\":\"disk_full\",\"free_bytes\":%llu,"
                         "\"detail\":\"ingest answers 503 until space "
                         "returns; queries are answered\"}",
                         n++ ? "," : "", (unsigned long long)h.free_bytes);
    }
    if (h.write_errno) {
        struct sift_buf d = SIFT_BUF_INIT;
        sift_buf_appendf(&d,
                         "the WAL cannot be written: %s; ingest answers 503",
                         strerror(h.write_errno));
        sift_buf_appendf(out, "%s{\"reason\":\"wal_unwritable\",\"detail\":",
                         n++ ? "," : "");
        sift_buf_put_json_str(out, d.data, d.len);
        sift_buf_putc(out, '}');
        sift_buf_cleanup(&d);
    }
    if (h.held) {
        sift_buf_appendf(out,
                         "%s{\"reason\":\"segments_held\",\"count\":%zu,"
                         "\"detail\":\"tombstones unreadable: their events "
                         "are not searched until repaired\"}",
                         n++ ? "," : "", h.held);
    }
    if (h.merges_held) {
        sift_buf_appendf(
            out, "%s{\"reason\":\"merges_held\",\"detail\":", n++ ? "," : "");
        sift_buf_put_json_str(out, h.merges_held, strlen(h.merges_held));
        sift_buf_putc(out, '}');
    }
    sift_buf_append(out, "]}", 2);
    return n ? 2 : 1;
}

void
sift_admin_api_register(struct sift_http *http, struct sift_store *store)
{
    /* "stats" of issue 9: process and storage internals are admin-only
     * (readers get the same numbers, aggregated, from /metrics). */
    sift_http_route(http, "GET", "/api/v1/store", 0, SIFT_ROLE_ADMIN,
                    handle_store, store);
}
