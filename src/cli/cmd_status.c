/*
 * cmd_status.c - `sift status`, and the Prometheus text reader it uses
 * for ingest sources and their lag.
 *
 * status reads /healthz, /readyz, /api/v1/whoami (what the token is
 * worth), /api/v1/store (admin), /api/v1/tiers and /metrics (sources, lag,
 * version, uptime), each once and without
 * retries: it reports the state as it is.  What the token may not read is
 * left out with a note; the exit status is 0 only when siftd is healthy
 * and ready.  --json joins the server's own replies (as written) with the
 * sources read from /metrics.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

enum { OPT_JSON = CLI_OPT_FIRST_LOCAL };

/* ---- Prometheus text ---- */

static int
name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == ':' || (!first && c >= '0' && c <= '9');
}

int
sift__cli_prom_line(const char *line, size_t len, struct cli_sample *out)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len || line[i] == '#')
        return 0;
    size_t ns = i;
    if (!name_char(line[i], 1))
        return -1;
    while (i < len && name_char(line[i], 0))
        i++;
    if (i - ns >= sizeof(out->name))
        return -1;
    memcpy(out->name, line + ns, i - ns);
    out->name[i - ns] = '\0';
    out->labels[0] = '\0';
    if (i < len && line[i] == '{') {
        size_t ls = ++i;
        int in_str = 0;
        while (i < len) {
            char c = line[i];
            if (in_str) {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    in_str = 0;
            } else if (c == '"') {
                in_str = 1;
            } else if (c == '}') {
                break;
            }
            i++;
        }
        if (i >= len || i - ls >= sizeof(out->labels))
            return -1;
        memcpy(out->labels, line + ls, i - ls);
        out->labels[i - ls] = '\0';
        i++; /* '}' */
    }
    if (i >= len || (line[i] != ' ' && line[i] != '\t'))
        return -1;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    char num[64];
    size_t vs = i;
    while (i < len && line[i] != ' ' && line[i] != '\t')
        i++;
    if (i == vs || i - vs >= sizeof(num))
        return -1;
    memcpy(num, line + vs, i - vs);
    num[i - vs] = '\0';
    char *end;
    errno = 0;
    out->value = strtod(num, &end);
    if (*end || end == num)
        return -1;
    return 1;
}

int
sift__cli_prom_label(const char *labels, const char *name, char *out,
                     size_t out_len)
{
    size_t nl = strlen(name);
    const char *p = labels;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *k = p;
        while (*p && *p != '=')
            p++;
        if (*p != '=' || p[1] != '"')
            return -1;
        int match = (size_t)(p - k) == nl && !memcmp(k, name, nl);
        p += 2;
        size_t o = 0;
        while (*p && *p != '"') {
            char c = *p++;
            if (c == '\\' && *p) {
                c = *p++;
                if (c == 'n')
                    c = '\n';
            }
            if (match && o + 1 < out_len)
                out[o++] = c;
        }
        if (*p != '"')
            return -1;
        p++;
        if (match) {
            if (out_len)
                out[o] = '\0';
            return 0;
        }
    }
    return -1;
}

/* ---- status ---- */

struct source_row {
    char name[96];
    double ingested, rejected, read, acked, lag, pending;
    int parts_lag, parts_pending;
};

struct status {
    struct source_row rows[32];
    size_t n_rows;
    char version[64];
    double uptime_s;
};

static struct source_row *
row_of(struct status *st, const char *name)
{
    for (size_t i = 0; i < st->n_rows; i++)
        if (!strcmp(st->rows[i].name, name))
            return &st->rows[i];
    if (st->n_rows == sizeof(st->rows) / sizeof(st->rows[0]))
        return NULL;
    struct source_row *r = &st->rows[st->n_rows++];
    memset(r, 0, sizeof(*r));
    r->lag = r->pending = -1;
    snprintf(r->name, sizeof(r->name), "%s", name);
    return r;
}

static void
read_metrics(struct status *st, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        struct cli_sample s;
        char src[96];
        if (sift__cli_prom_line(p, l, &s) == 1) {
            if (!strcmp(s.name, "sift_build_info"))
                (void)sift__cli_prom_label(s.labels, "version", st->version,
                                           sizeof(st->version));
            else if (!strcmp(s.name, "sift_uptime_seconds"))
                st->uptime_s = s.value;
            else if (sift__cli_prom_label(s.labels, "source", src,
                                          sizeof(src)) == 0) {
                struct source_row *r = row_of(st, src);
                if (!r)
                    ;
                else if (!strcmp(s.name, "sift_events_ingested_total"))
                    r->ingested += s.value;
                else if (!strcmp(s.name, "sift_events_rejected_total"))
                    r->rejected += s.value;
                else if (!strcmp(s.name, "sift_source_messages_read_total"))
                    r->read += s.value;
                else if (!strcmp(s.name, "sift_source_messages_acked_total"))
                    r->acked += s.value;
                else if (!strcmp(s.name, "sift_kafka_consumer_lag")) {
                    r->lag = (r->lag < 0 ? 0 : r->lag) + s.value;
                    r->parts_lag++;
                } else if (!strcmp(s.name, "sift_redis_pending")) {
                    r->pending = (r->pending < 0 ? 0 : r->pending) + s.value;
                    r->parts_pending++;
                }
            }
        }
        p += l + 1;
    }
}

/* GET path; fills r (caller frees).  Returns the status (0: no answer). */
static long
get_raw(struct cli_ctx *ctx, const char *path, struct cli_reply *r)
{
    struct cli_req req = {
        .method = "GET", .path = path, .idempotent = 1, .no_retry = 1};
    if (sift__cli_http_do(ctx->http, &req, r) != SIFT_OK)
        return 0;
    return r->status;
}

static void
trim_body(struct cli_reply *r)
{
    while (r->body.len && (r->body.data[r->body.len - 1] == '\n' ||
                           r->body.data[r->body.len - 1] == '\r'))
        r->body.data[--r->body.len] = '\0';
}

static void
duration(double s, char *out, size_t len)
{
    long long t = (long long)s;
    if (t >= 86400)
        snprintf(out, len, "%lldd %lldh", t / 86400, t % 86400 / 3600);
    else if (t >= 3600)
        snprintf(out, len, "%lldh %lldm", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(out, len, "%lldm %llds", t / 60, t % 60);
    else
        snprintf(out, len, "%llds", t);
}

static double
num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

/* The replies status read (NULL: not readable or not JSON). */
struct replies {
    json_t *health, *ready, *store, *tiers, *whoami;
    long ready_code, store_code, tiers_code, metrics_code;
};

/* "access": what the token is worth (GET /api/v1/whoami). */
static void
print_access(FILE *f, json_t *who)
{
    if (!who)
        return; /* a siftd without whoami */
    const char *role = json_string_value(json_object_get(who, "role"));
    const char *name = json_string_value(json_object_get(who, "principal"));
    const char *why = json_string_value(json_object_get(who, "reason"));
    if (!json_is_true(json_object_get(who, "tokens_configured"))) {
        fputs("access   no tokens configured (loopback clients only)\n", f);
    } else if (json_is_true(json_object_get(who, "authenticated")) && role) {
        fputs("access   token '", f);
        sift__cli_put_safe(f, name ? name : "?", strlen(name ? name : "?"),
                           NULL);
        fprintf(f, "' (%s)\n", role);
    } else {
        fputs("access   not authenticated", f);
        if (why) {
            fputs(": ", f);
            sift__cli_put_safe(f, why, strlen(why), NULL);
        }
        fputc('\n', f);
    }
}

static void
print_status_human(struct cli_ctx *ctx, struct status *st,
                   const struct replies *rp)
{
    json_t *health = rp->health, *ready = rp->ready, *store = rp->store;
    json_t *tiers = rp->tiers;
    long ready_code = rp->ready_code, store_code = rp->store_code;
    long tiers_code = rp->tiers_code, metrics_code = rp->metrics_code;
    FILE *f = ctx->out.f;
    int color = ctx->out.color;
    char a[32], b[32];
    fprintf(f, "server   %s", sift__cli_http_url(ctx->http));
    if (st->version[0]) {
        duration(st->uptime_s, a, sizeof(a));
        fprintf(f, " (siftd %s, up %s)", st->version, a);
    }
    fputc('\n', f);
    const char *hs = json_string_value(json_object_get(health, "status"));
    const char *rs = json_string_value(json_object_get(ready, "status"));
    int ok = hs && !strcmp(hs, "ok") && ready_code == 200;
    fprintf(f, "health   %s%s, %s%s\n",
            color ? (ok ? "\033[32m" : "\033[31m") : "", hs ? hs : "no answer",
            rs ? rs : "not ready", color ? "\033[0m" : "");
    print_access(f, rp->whoami);
    json_t *quar =
        json_object_get(json_object_get(ready, "details"), "quarantined");
    if (json_array_size(quar))
        fprintf(f, "         %zu quarantined segments\n",
                json_array_size(quar));
    if (store) {
        sift__cli_bytes(a, sizeof(a),
                        num(json_object_get(store, "bytes"), "disk"));
        sift__cli_bytes(b, sizeof(b),
                        num(json_object_get(store, "bytes"), "wal"));
        json_t *segs = json_object_get(store, "segments");
        fprintf(f,
                "store    %.0f docs (%.0f buffered), %.0f segments in "
                "memory, %.0f on disk (%s), WAL %s%s\n",
                num(store, "docs"), num(store, "docs_buffered"),
                num(segs, "memory"), num(segs, "disk"), a, b,
                json_is_true(json_object_get(store, "full")) ? ", FULL" : "");
    } else {
        fprintf(f, "store    (%s)\n",
                store_code == 401 || store_code == 403 ? "needs an admin token"
                                                       : "not available");
    }
    json_t *t = json_object_get(tiers, "tiers");
    if (json_is_object(t)) {
        static const char *const names[] = {"memory", "hot", "warm", "cold",
                                            NULL};
        for (size_t i = 0; names[i]; i++) {
            json_t *x = json_object_get(t, names[i]);
            if (!x)
                continue;
            sift__cli_bytes(a, sizeof(a), num(x, "bytes"));
            fprintf(f, "%s %-6s %4.0f segments %12.0f docs %11s\n",
                    i ? "        " : "tiers   ", names[i], num(x, "segments"),
                    num(x, "docs"), a);
        }
    } else {
        fprintf(f, "tiers    (%s)\n",
                tiers_code == 401 || tiers_code == 403 ? "needs a reader token"
                                                       : "not available");
    }
    if (metrics_code != 200) {
        fprintf(f, "sources  (%s)\n",
                metrics_code == 401 || metrics_code == 403
                    ? "needs a reader token"
                    : "not available");
        return;
    }
    for (size_t i = 0; i < st->n_rows; i++) {
        struct source_row *r = &st->rows[i];
        fprintf(f, "%s %-8s", i ? "        " : "sources ", r->name);
        if (r->read > 0 || r->acked > 0)
            fprintf(f, " read %.0f, acked %.0f,", r->read, r->acked);
        fprintf(f, " ingested %.0f, rejected %.0f", r->ingested, r->rejected);
        if (r->lag >= 0)
            fprintf(f, ", lag %.0f (%d partitions)", r->lag, r->parts_lag);
        if (r->pending >= 0)
            fprintf(f, ", pending %.0f (%d keys)", r->pending,
                    r->parts_pending);
        fputc('\n', f);
    }
    if (!st->n_rows)
        fputs("sources  none yet\n", f);
}

static void
raw_or_null(struct cli_buf *out, const char *key, long code,
            struct cli_reply *r)
{
    sift__cli_buf_addf(out, ",\"%s\":", key);
    if (code == 200 && r->body.len)
        sift__cli_buf_add(out, r->body.data, r->body.len);
    else
        sift__cli_buf_add(out, "null", 4);
}

int
sift__cli_cmd_status(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, NULL, OPT_JSON},
                                         CLI_GLOBAL_OPTIONS};
    int json = 0, c, rc;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == OPT_JSON) {
            json = 1;
            continue;
        }
        rc = sift__cli_opt_common(ctx, c, argv, opts);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind < argc)
        return sift__cli_usage_error(ctx, "takes no arguments ('%s')",
                                     argv[optind]);
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    struct cli_reply rh, rr, rs, rt, rm, rw;
    long hc = get_raw(ctx, "/healthz", &rh);
    if (hc == 0) {
        rc = sift__cli_http_fail(ctx->http, &rh);
        sift__cli_buf_free(&rh.body);
        return rc;
    }
    long rcode = get_raw(ctx, "/readyz", &rr);
    long sc = get_raw(ctx, "/api/v1/store", &rs);
    long tc = get_raw(ctx, "/api/v1/tiers", &rt);
    long mc = get_raw(ctx, "/metrics", &rm);
    long wc = get_raw(ctx, "/api/v1/whoami", &rw);
    struct status st;
    memset(&st, 0, sizeof(st));
    if (mc == 200)
        read_metrics(&st, rm.body.data, rm.body.len);
    trim_body(&rh);
    trim_body(&rr);
    trim_body(&rs);
    trim_body(&rt);
    trim_body(&rw);
    json_error_t je;
    json_t *health =
        json_loadb(rh.body.data ? rh.body.data : "", rh.body.len, 0, &je);
    json_t *ready =
        json_loadb(rr.body.data ? rr.body.data : "", rr.body.len, 0, &je);
    json_t *store =
        sc == 200 ? json_loadb(rs.body.data, rs.body.len, 0, &je) : NULL;
    json_t *tiers =
        tc == 200 ? json_loadb(rt.body.data, rt.body.len, 0, &je) : NULL;
    json_t *whoami =
        wc == 200 ? json_loadb(rw.body.data, rw.body.len, 0, &je) : NULL;
    const char *hs = json_string_value(json_object_get(health, "status"));
    int ok = hc == 200 && hs && !strcmp(hs, "ok") && rcode == 200;
    if (json) {
        struct cli_buf out = CLI_BUF_INIT;
        json_t *url = json_string(sift__cli_http_url(ctx->http));
        char *u = json_dumps(url, JSON_ENCODE_ANY);
        json_decref(url);
        sift__cli_buf_addf(&out, "{\"url\":%s,\"ok\":%s", u ? u : "null",
                           ok ? "true" : "false");
        free(u);
        if (st.version[0])
            sift__cli_buf_addf(&out, ",\"version\":\"%s\",\"uptime_s\":%.0f",
                               st.version, st.uptime_s);
        raw_or_null(&out, "health", health ? 200 : 0, &rh);
        raw_or_null(&out, "ready", ready ? 200 : 0, &rr);
        raw_or_null(&out, "store", store ? 200 : 0, &rs);
        raw_or_null(&out, "tiers", tiers ? 200 : 0, &rt);
        raw_or_null(&out, "access", whoami ? 200 : 0, &rw);
        sift__cli_buf_addf(&out, ",\"sources\":");
        if (mc != 200) {
            sift__cli_buf_add(&out, "null", 4);
        } else {
            sift__cli_buf_add(&out, "[", 1);
            for (size_t i = 0; i < st.n_rows; i++) {
                struct source_row *r = &st.rows[i];
                json_t *nm = json_string(r->name);
                char *ns = json_dumps(nm, JSON_ENCODE_ANY);
                json_decref(nm);
                sift__cli_buf_addf(&out,
                                   "%s{\"source\":%s,\"ingested\":%.0f,"
                                   "\"rejected\":%.0f,\"read\":%.0f,"
                                   "\"acked\":%.0f",
                                   i ? "," : "", ns ? ns : "null", r->ingested,
                                   r->rejected, r->read, r->acked);
                free(ns);
                if (r->lag >= 0)
                    sift__cli_buf_addf(&out, ",\"lag\":%.0f", r->lag);
                if (r->pending >= 0)
                    sift__cli_buf_addf(&out, ",\"pending\":%.0f", r->pending);
                sift__cli_buf_add(&out, "}", 1);
            }
            sift__cli_buf_add(&out, "]", 1);
        }
        sift__cli_buf_add(&out, "}\n", 2);
        fwrite(out.data, 1, out.len, ctx->out.f);
        sift__cli_buf_free(&out);
    } else {
        struct replies rp = {health, ready, store, tiers, whoami,
                             rcode,  sc,    tc,    mc};
        print_status_human(ctx, &st, &rp);
    }
    json_decref(health);
    json_decref(ready);
    json_decref(store);
    json_decref(tiers);
    json_decref(whoami);
    sift__cli_buf_free(&rh.body);
    sift__cli_buf_free(&rw.body);
    sift__cli_buf_free(&rr.body);
    sift__cli_buf_free(&rs.body);
    sift__cli_buf_free(&rt.body);
    sift__cli_buf_free(&rm.body);
    return ok ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
