/*
 * cmd_agg.c - `sift hist`, `terms`, `stats`, `fields`, `patterns`: one GET
 * each, printed as a table or a bar chart, or with --json as the server's
 * reply itself (one line).
 *
 * The query is the words after the options (and after FIELD for terms
 * and stats), joined by spaces; --from/--to pass through to the server,
 * which parses every time form it documents.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

enum {
    OPT_FROM = CLI_OPT_FIRST_LOCAL,
    OPT_TO,
    OPT_JSON,
    OPT_INTERVAL,
    OPT_SIZE,
    OPT_NAMES,
    OPT_BY,
};

struct agg_args {
    const char *from, *to, *interval, *by;
    uint64_t size;
    int size_set;
    int json, names;
    int operand; /* argv index of the first operand */
};

static int
parse_args(struct cli_ctx *ctx, int argc, char **argv, struct agg_args *a,
           int want_interval, int want_size, int want_names, int want_range)
{
    static const struct option all[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"json", no_argument, NULL, OPT_JSON},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"size", required_argument, NULL, OPT_SIZE},
        {"limit", required_argument, NULL, OPT_SIZE},
        {"names", no_argument, NULL, OPT_NAMES},
        {"by", required_argument, NULL, OPT_BY},
        CLI_GLOBAL_OPTIONS};
    /* Each command's table: the options it takes, then the global ones. */
    struct option opts[sizeof(all) / sizeof(all[0])];
    size_t n = 0;
    for (size_t i = 0; all[i].name; i++) {
        int v = all[i].val;
        if ((v == OPT_FROM || v == OPT_TO) && !want_range)
            continue;
        if (((v == OPT_INTERVAL || v == OPT_BY) && !want_interval) ||
            (v == OPT_SIZE && !want_size) || (v == OPT_NAMES && !want_names))
            continue;
        opts[n++] = all[i];
    }
    memset(&opts[n], 0, sizeof(opts[n]));
    memset(a, 0, sizeof(*a));
    int c, rc;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FROM: a->from = optarg; break;
        case OPT_TO: a->to = optarg; break;
        case OPT_JSON: a->json = 1; break;
        case OPT_INTERVAL: a->interval = optarg; break;
        case OPT_NAMES: a->names = 1; break;
        case OPT_BY: a->by = optarg; break;
        case OPT_SIZE:
            rc = sift__cli_opt_uint(ctx, "size", optarg, 1000000, &a->size);
            if (rc != CLI_CONTINUE)
                return rc;
            a->size_set = 1;
            break;
        default:
            rc = sift__cli_opt_common(ctx, c, argv, opts);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    a->operand = optind;
    return CLI_CONTINUE;
}

static char *
join_words(int argc, char **argv, int from)
{
    struct cli_buf q = CLI_BUF_INIT;
    for (int i = from; i < argc; i++) {
        if (q.len)
            sift__cli_buf_add(&q, " ", 1);
        sift__cli_buf_add(&q, argv[i], strlen(argv[i]));
    }
    if (!q.data)
        sift__cli_buf_add(&q, "", 0);
    return q.data;
}

/* GETs path; on success *root is the parsed reply and, with --json, the
 * body has been printed.  Returns CLI_CONTINUE or an exit status. */
static int
fetch(struct cli_ctx *ctx, const char *path, const char *const *params,
      int json, json_t **root)
{
    struct cli_req req = {
        .method = "GET", .path = path, .params = params, .idempotent = 1};
    struct cli_reply r;
    int hrc = sift__cli_http_do(ctx->http, &req, &r);
    int rc = CLI_CONTINUE;
    *root = NULL;
    if (hrc == SIFT_ESHUTDOWN) {
        rc = 130;
    } else if (hrc != SIFT_OK || r.status != 200) {
        rc = sift__cli_http_fail(ctx->http, &r);
    } else if (!(*root = sift__cli_json(ctx->http, &r))) {
        rc = CLI_EXIT_FAIL;
    } else {
        sift__cli_warnings(ctx, *root);
    }
    if (rc == CLI_CONTINUE && json) {
        fwrite(r.body.data, 1, r.body.len, ctx->out.f);
        if (!r.body.len || r.body.data[r.body.len - 1] != '\n')
            fputc('\n', ctx->out.f);
    }
    sift__cli_buf_free(&r.body);
    return rc;
}

static void
dim(struct cli_out *o, const char *s)
{
    fprintf(o->f, "%s%s%s", o->color ? "\033[2m" : "", s,
            o->color ? "\033[0m" : "");
}

static void
warn_timed_out(json_t *root)
{
    if (json_is_true(json_object_get(root, "timed_out")))
        fputs("sift: the query timed out on the server; the counts are "
              "partial\n",
              stderr);
}

/* Bucket label: as much of the RFC 3339 time as the interval needs. */
static void
bucket_label(const char *t, long long interval_ms, char *out, size_t len)
{
    size_t n = interval_ms >= 86400000LL ? 10
               : interval_ms >= 60000    ? 16
               : interval_ms >= 1000     ? 19
                                         : 23;
    if (!t || strlen(t) < n) {
        snprintf(out, len, "%s", t ? t : "?");
        return;
    }
    snprintf(out, len, "%.*s", (int)n, t);
    if (n > 10 && len > 10)
        out[10] = ' ';
}

static void
interval_text(long long ms, char *out, size_t len)
{
    static const struct {
        long long ms;
        const char *unit;
    } units[] = {{604800000LL, "w"},
                 {86400000LL, "d"},
                 {3600000LL, "h"},
                 {60000LL, "m"},
                 {1000LL, "s"}};
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms >= units[i].ms && ms % units[i].ms == 0) {
            snprintf(out, len, "%lld%s", ms / units[i].ms, units[i].unit);
            return;
        }
    }
    snprintf(out, len, "%lldms", ms);
}

/* hist --by: the series, largest first (at most MAX_SERIES columns). */
#define MAX_SERIES 8

struct series {
    const char *name; /* borrowed from the reply */
    uint64_t total;
};

static int
series_cmp(const void *a, const void *b)
{
    const struct series *x = a, *y = b;
    if (x->total != y->total)
        return x->total < y->total ? 1 : -1;
    return strcmp(x->name, y->name);
}

static size_t
collect_series(json_t *buckets, struct series *out, size_t cap)
{
    size_t n = 0, i;
    json_t *b;
    json_array_foreach(buckets, i, b)
    {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(b, "by"), k, v)
        {
            size_t j = 0;
            while (j < n && strcmp(out[j].name, k) != 0)
                j++;
            if (j == n) {
                if (n == cap)
                    continue;
                out[n].name = k;
                out[n++].total = 0;
            }
            out[j].total += (uint64_t)json_integer_value(v);
        }
    }
    qsort(out, n, sizeof(out[0]), series_cmp);
    return n;
}

int
sift__cli_cmd_hist(struct cli_ctx *ctx, int argc, char **argv)
{
    struct agg_args a;
    int rc = parse_args(ctx, argc, argv, &a, 1, 1, 0, 1);
    if (rc != CLI_CONTINUE)
        return rc;
    if (a.size_set && !a.by)
        return sift__cli_usage_error(ctx, "--size goes with --by");
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    char *q = join_words(argc, argv, a.operand);
    char size[24];
    snprintf(size, sizeof(size), "%llu", (unsigned long long)a.size);
    const char *params[] = {"q",  q,    "from",     a.from,
                            "to", a.to, "interval", a.interval,
                            "by", a.by, "size",     a.size_set ? size : NULL,
                            NULL};
    json_t *root;
    rc = fetch(ctx, "/api/v1/histogram", params, a.json, &root);
    free(q);
    if (rc != CLI_CONTINUE || a.json) {
        json_decref(root);
        return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
    }
    json_t *buckets = json_object_get(root, "buckets");
    long long iv =
        (long long)json_integer_value(json_object_get(root, "interval_ms"));
    uint64_t max = 0, total = 0;
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b)
    {
        uint64_t cnt =
            (uint64_t)json_integer_value(json_object_get(b, "count"));
        max = cnt > max ? cnt : max;
        total += cnt;
    }
    struct series ser[64];
    size_t n_ser = a.by ? collect_series(buckets, ser, 64) : 0;
    size_t shown = n_ser < MAX_SERIES ? n_ser : MAX_SERIES;
    char ivs[32], head[160];
    interval_text(iv, ivs, sizeof(ivs));
    snprintf(head, sizeof(head), "%llu events, %zu buckets of %s (UTC)%s%s\n",
             (unsigned long long)total, json_array_size(buckets), ivs,
             a.by ? ", by " : "", a.by ? a.by : "");
    dim(&ctx->out, head);
    int count_w = snprintf(NULL, 0, "%llu", (unsigned long long)max);
    int col_w[MAX_SERIES];
    int cols = 0;
    if (shown) {
        /* A header of series names over their columns. */
        char label[40];
        bucket_label(json_string_value(
                         json_object_get(json_array_get(buckets, 0), "time")),
                     iv, label, sizeof(label));
        count_w = count_w < 5 ? 5 : count_w;
        struct cli_buf h = CLI_BUF_INIT;
        sift__cli_buf_addf(&h, "%-*s %*s", (int)strlen(label), "time", count_w,
                           "count");
        for (size_t k = 0; k < shown; k++) {
            int w = snprintf(NULL, 0, "%llu", (unsigned long long)ser[k].total);
            int nl = (int)strlen(ser[k].name);
            nl = nl > 16 ? 16 : nl;
            col_w[k] = w > nl ? w : nl;
            sift__cli_buf_addf(&h, " %*.*s", col_w[k], 16, ser[k].name);
            cols += col_w[k] + 1;
        }
        sift__cli_buf_add(&h, "\n", 1);
        dim(&ctx->out, h.data);
        sift__cli_buf_free(&h);
    }
    json_array_foreach(buckets, i, b)
    {
        char label[40], bar[4 * 400 + 1];
        bucket_label(json_string_value(json_object_get(b, "time")), iv, label,
                     sizeof(label));
        uint64_t cnt =
            (uint64_t)json_integer_value(json_object_get(b, "count"));
        int width = ctx->out.columns - (int)strlen(label) - count_w - 3 - cols;
        sift__cli_bar(bar, sizeof(bar), cnt, max, width, ctx->out.utf8);
        fprintf(ctx->out.f, "%s %*llu", label, count_w,
                (unsigned long long)cnt);
        json_t *by = json_object_get(b, "by");
        for (size_t k = 0; k < shown; k++)
            fprintf(ctx->out.f, " %*lld", col_w[k],
                    (long long)json_integer_value(
                        json_object_get(by, ser[k].name)));
        fprintf(ctx->out.f, " %s%s%s\n", ctx->out.color ? "\033[36m" : "", bar,
                ctx->out.color ? "\033[0m" : "");
    }
    if (n_ser > shown)
        fprintf(stderr,
                "sift: hist: %zu more series not shown (--json has "
                "them all)\n",
                n_ser - shown);
    warn_timed_out(root);
    json_decref(root);
    return CLI_EXIT_OK;
}

static int
need_field(struct cli_ctx *ctx, int argc, const struct agg_args *a)
{
    if (a->operand >= argc)
        return sift__cli_usage_error(ctx,
                                     "which field? (sift %s FIELD "
                                     "[QUERY]; 'sift fields' lists "
                                     "them)",
                                     ctx->command);
    return CLI_CONTINUE;
}

int
sift__cli_cmd_terms(struct cli_ctx *ctx, int argc, char **argv)
{
    struct agg_args a;
    int rc = parse_args(ctx, argc, argv, &a, 0, 1, 0, 1);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = need_field(ctx, argc, &a)) != CLI_CONTINUE)
        return rc;
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    const char *field = argv[a.operand];
    char *q = join_words(argc, argv, a.operand + 1);
    char size[24];
    snprintf(size, sizeof(size), "%llu", (unsigned long long)a.size);
    const char *params[] = {
        "field", field, "q",  q,      "from",
        a.from,  "to",  a.to, "size", a.size_set ? size : NULL,
        NULL};
    json_t *root;
    rc = fetch(ctx, "/api/v1/terms", params, a.json, &root);
    free(q);
    if (rc != CLI_CONTINUE || a.json) {
        json_decref(root);
        return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
    }
    json_t *buckets = json_object_get(root, "buckets");
    uint64_t max = 0;
    int key_w = 5;
    size_t i;
    json_t *b;
    json_array_foreach(buckets, i, b)
    {
        uint64_t cnt =
            (uint64_t)json_integer_value(json_object_get(b, "count"));
        max = cnt > max ? cnt : max;
        json_t *k = json_object_get(b, "key");
        int kl = json_is_string(k) ? (int)json_string_length(k) : 12;
        key_w = kl > key_w ? kl : key_w;
    }
    key_w = key_w > 40 ? 40 : key_w;
    int count_w = snprintf(NULL, 0, "%llu", (unsigned long long)max);
    count_w = count_w < 5 ? 5 : count_w;
    char head[128];
    snprintf(head, sizeof(head), "%-*s %*s\n", key_w, "value", count_w,
             "count");
    dim(&ctx->out, head);
    json_array_foreach(buckets, i, b)
    {
        json_t *k = json_object_get(b, "key");
        char tmp[64];
        const char *ks;
        size_t kl;
        if (json_is_string(k)) {
            ks = json_string_value(k);
            kl = json_string_length(k);
        } else if (json_is_real(k)) {
            sift__cli_real(tmp, sizeof(tmp), json_real_value(k));
            ks = tmp;
            kl = strlen(tmp);
        } else {
            snprintf(tmp, sizeof(tmp), "%lld",
                     (long long)json_integer_value(k));
            ks = tmp;
            kl = strlen(tmp);
        }
        if (kl > (size_t)key_w)
            kl = (size_t)key_w; /* cut long values for the table */
        sift__cli_put_safe(ctx->out.f, ks, kl, NULL);
        for (int pad = (int)kl; pad < key_w; pad++)
            fputc(' ', ctx->out.f);
        uint64_t cnt =
            (uint64_t)json_integer_value(json_object_get(b, "count"));
        char bar[4 * 400 + 1];
        sift__cli_bar(bar, sizeof(bar), cnt, max,
                      ctx->out.columns - key_w - count_w - 3, ctx->out.utf8);
        fprintf(ctx->out.f, " %*llu %s%s%s\n", count_w, (unsigned long long)cnt,
                ctx->out.color ? "\033[36m" : "", bar,
                ctx->out.color ? "\033[0m" : "");
    }
    json_int_t other = json_integer_value(json_object_get(root, "other"));
    json_int_t missing = json_integer_value(json_object_get(root, "missing"));
    if (other || missing) {
        char tail[96];
        snprintf(tail, sizeof(tail), "other values %lld, without %s %lld\n",
                 (long long)other, "the field", (long long)missing);
        dim(&ctx->out, tail);
    }
    warn_timed_out(root);
    json_decref(root);
    return CLI_EXIT_OK;
}

int
sift__cli_cmd_stats(struct cli_ctx *ctx, int argc, char **argv)
{
    struct agg_args a;
    int rc = parse_args(ctx, argc, argv, &a, 0, 0, 0, 1);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = need_field(ctx, argc, &a)) != CLI_CONTINUE)
        return rc;
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    const char *field = argv[a.operand];
    char *q = join_words(argc, argv, a.operand + 1);
    const char *params[] = {"field", field, "q",  q,   "from",
                            a.from,  "to",  a.to, NULL};
    json_t *root;
    rc = fetch(ctx, "/api/v1/stats", params, a.json, &root);
    free(q);
    if (rc != CLI_CONTINUE || a.json) {
        json_decref(root);
        return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
    }
    static const char *const keys[] = {"count", "min", "max", "avg", "sum",
                                       "p50",   "p90", "p99", NULL};
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(root, keys[i]);
        char num[64];
        if (json_is_integer(v))
            snprintf(num, sizeof(num), "%lld",
                     (long long)json_integer_value(v));
        else if (json_is_real(v))
            sift__cli_real(num, sizeof(num), json_real_value(v));
        else
            snprintf(num, sizeof(num), "-");
        fprintf(ctx->out.f, "%-6s %s\n", keys[i], num);
    }
    if (json_is_false(json_object_get(root, "percentiles_exact")))
        dim(&ctx->out, "percentiles from a uniform sample of the values\n");
    warn_timed_out(root);
    json_decref(root);
    return CLI_EXIT_OK;
}

int
sift__cli_cmd_fields(struct cli_ctx *ctx, int argc, char **argv)
{
    struct agg_args a;
    int rc = parse_args(ctx, argc, argv, &a, 0, 0, 1, 0);
    if (rc != CLI_CONTINUE)
        return rc;
    if (a.operand < argc)
        return sift__cli_usage_error(ctx, "takes no query ('%s')",
                                     argv[a.operand]);
    if (a.json && a.names)
        return sift__cli_usage_error(ctx, "--json and --names exclude each "
                                          "other");
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    json_t *root;
    rc = fetch(ctx, "/api/v1/fields", NULL, a.json, &root);
    if (rc != CLI_CONTINUE || a.json) {
        json_decref(root);
        return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
    }
    json_t *fields = json_object_get(root, "fields");
    size_t i;
    json_t *f;
    int name_w = 4;
    json_array_foreach(fields, i, f)
    {
        json_t *n = json_object_get(f, "name");
        int l = (int)json_string_length(n);
        name_w = l > name_w ? l : name_w;
    }
    name_w = name_w > 48 ? 48 : name_w;
    if (!a.names) {
        char head[128];
        snprintf(head, sizeof(head), "%-*s %-20s %s\n", name_w, "name", "type",
                 "distinct (at least)");
        dim(&ctx->out, head);
    }
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (!name)
            continue;
        sift__cli_put_safe(ctx->out.f, name, strlen(name), NULL);
        if (a.names) {
            fputc('\n', ctx->out.f);
            continue;
        }
        for (int pad = (int)strlen(name); pad < name_w; pad++)
            fputc(' ', ctx->out.f);
        char types[64] = "";
        static const char *const kinds[] = {"text", "keyword", "number", NULL};
        for (size_t k = 0; kinds[k]; k++) {
            if (json_is_true(json_object_get(f, kinds[k]))) {
                if (types[0])
                    strncat(types, ",", sizeof(types) - strlen(types) - 1);
                strncat(types, kinds[k], sizeof(types) - strlen(types) - 1);
            }
        }
        json_t *card = json_object_get(f, "cardinality");
        fprintf(ctx->out.f, " %-20s %lld\n", types[0] ? types : "-",
                (long long)json_integer_value(card));
    }
    json_decref(root);
    return CLI_EXIT_OK;
}

int
sift__cli_cmd_patterns(struct cli_ctx *ctx, int argc, char **argv)
{
    struct agg_args a;
    int rc = parse_args(ctx, argc, argv, &a, 0, 1, 0, 1);
    if (rc != CLI_CONTINUE)
        return rc;
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    char *q = join_words(argc, argv, a.operand);
    char size[24];
    snprintf(size, sizeof(size), "%llu", (unsigned long long)a.size);
    const char *params[] = {"q",  q,    "from", a.from,
                            "to", a.to, "size", a.size_set ? size : NULL,
                            NULL};
    json_t *root;
    rc = fetch(ctx, "/api/v1/patterns", params, a.json, &root);
    free(q);
    if (rc != CLI_CONTINUE || a.json) {
        json_decref(root);
        return rc == CLI_CONTINUE ? CLI_EXIT_OK : rc;
    }
    json_t *pats = json_object_get(root, "patterns");
    size_t i;
    json_t *p;
    long long max = 0;
    json_array_foreach(pats, i, p)
    {
        long long cnt =
            (long long)json_integer_value(json_object_get(p, "count"));
        max = cnt > max ? cnt : max;
    }
    int count_w = snprintf(NULL, 0, "%lld", max);
    count_w = count_w < 5 ? 5 : count_w;
    char head[96];
    snprintf(head, sizeof(head), "%*s %6s  %s\n", count_w, "count", "id",
             "template");
    dim(&ctx->out, head);
    json_array_foreach(pats, i, p)
    {
        json_t *t = json_object_get(p, "template");
        json_t *s = json_object_get(p, "sample");
        fprintf(
            ctx->out.f, "%*lld %6lld  ", count_w,
            (long long)json_integer_value(json_object_get(p, "count")),
            (long long)json_integer_value(json_object_get(p, "template_id")));
        if (json_is_string(t))
            sift__cli_put_safe(ctx->out.f, json_string_value(t),
                               json_string_length(t), NULL);
        else if (json_is_string(s))
            sift__cli_put_safe(ctx->out.f, json_string_value(s),
                               json_string_length(s), NULL);
        fputc('\n', ctx->out.f);
    }
    char foot[96];
    snprintf(foot, sizeof(foot), "%lld events, %lld patterns\n",
             (long long)json_integer_value(json_object_get(root, "total")),
             (long long)json_integer_value(json_object_get(root, "distinct")));
    dim(&ctx->out, foot);
    warn_timed_out(root);
    json_decref(root);
    return CLI_EXIT_OK;
}
