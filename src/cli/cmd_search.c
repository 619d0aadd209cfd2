/*
 * cmd_search.c - `sift search` and `sift tail`.
 *
 * search: GET /api/v1/search page by page; each page asks for what is
 * still wanted (at most PAGE_MAX hits) and passes the previous page's
 * cursor, so --limit may go past one page (0 = every match).  When the
 * server's query.max_hits is lower than a page, the pages fall back to the
 * server's default size.
 *
 * tail: GET /api/v1/tail, one NDJSON hit per line, for as long as the user
 * wants.  When the connection ends (siftd restarted, idle timeout, network)
 * it reconnects with back-off (0.25 s doubling to 5 s, reset once a
 * connection stands) and says so on stderr; the new connection asks the
 * server to backfill the gap (from= 5 s before the loss, atomically with
 * following) and leaves out, by hit _id, what was shown before the loss;
 * an idle stream gets heartbeats, so 45 s without a byte means a dead
 * connection; an error reply that retrying
 * cannot fix (bad query, bad token) ends it with status 1.  Lines that are
 * not hits ({"gap":N} when the server dropped lines for a slow client,
 * heartbeats) are reported or skipped.  Ctrl-C ends it with status 0.
 *
 * Output: human lines, --json (each hit exactly as the server wrote it),
 * --raw (the message) or --fields a,b (TSV).  A closed stdout (sift ... |
 * head) ends quietly with status 0.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"

#define PAGE_MAX 1000
#define TAIL_BACKOFF_BASE_S 0.25
#define TAIL_BACKOFF_CAP_S 5.0

enum { OUT_HUMAN = 0, OUT_JSON, OUT_RAW, OUT_TSV };

struct printer {
    struct cli_out *o;
    int mode;
    char **names;   /* --fields, NULL-terminated */
    int broken;     /* stdout is gone */
    uint64_t n;     /* hits printed */
    uint64_t limit; /* print no more than this (0: no limit) */
};

static int
print_hit(struct printer *p, const char *raw, size_t len)
{
    FILE *f = p->o->f;
    if (p->mode == OUT_JSON) {
        fwrite(raw, 1, len, f);
        fputc('\n', f);
    } else {
        json_error_t je;
        json_t *hit = json_loadb(raw, len, JSON_ALLOW_NUL, &je);
        if (!json_is_object(hit)) {
            json_decref(hit);
            fprintf(stderr, "sift: skipped a hit that is not a JSON object\n");
            return 0;
        }
        if (p->mode == OUT_RAW)
            sift__cli_hit_raw(p->o, hit);
        else if (p->mode == OUT_TSV)
            sift__cli_hit_tsv(p->o, hit, (const char *const *)p->names);
        else
            sift__cli_hit_human(p->o, hit);
        json_decref(hit);
    }
    p->n++;
    if (ferror(f)) {
        p->broken = 1;
        return 1;
    }
    return 0;
}

static int
page_item(void *arg, const char *item, size_t len)
{
    struct printer *p = arg;
    if (p->limit && p->n >= p->limit)
        return 1; /* pages of the server's size may hold more */
    return print_hit(p, item, len);
}

/* --fields: the names to print and the strings they point into. */
struct field_list {
    char *copy;
    char **names; /* NULL-terminated */
};

/* Splits --fields into fl and the server's fields= value (the names that
 * are event fields, not hit keys such as time). */
static char **
split_fields(const char *spec, struct field_list *fl, struct cli_buf *server)
{
    char *copy = sift__cli_xstrdup(spec);
    size_t n = 1;
    for (const char *c = copy; *c; c++)
        n += *c == ',';
    char **names = sift__cli_xrealloc(NULL, (n + 1) * sizeof(*names));
    size_t k = 0;
    for (char *s = copy;;) {
        char *comma = strchr(s, ',');
        if (comma)
            *comma = '\0';
        while (*s == ' ')
            s++;
        size_t l = strlen(s);
        while (l && s[l - 1] == ' ')
            s[--l] = '\0';
        if (*s) {
            names[k++] = s;
            if (strcmp(s, "time") != 0 && strcmp(s, "ts_ms") != 0 &&
                strcmp(s, "template") != 0 && strcmp(s, "template_id") != 0) {
                if (server->len)
                    sift__cli_buf_add(server, ",", 1);
                sift__cli_buf_add(server, s, strlen(s));
            }
        }
        if (!comma)
            break;
        s = comma + 1;
    }
    names[k] = NULL;
    fl->copy = copy;
    fl->names = names;
    return names;
}

static void
free_fields(struct field_list *fl)
{
    free(fl->copy);
    free(fl->names);
}

/* The words after the options, joined by spaces: sift search a b = "a b". */
static char *
join_query(int argc, char **argv, int from)
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

static int
pick_mode(struct cli_ctx *ctx, int json, int raw, const char *fields, int *mode)
{
    if (json + raw + (fields != NULL) > 1)
        return sift__cli_usage_error(ctx, "--json, --raw and --fields "
                                          "exclude each other");
    *mode = json ? OUT_JSON : raw ? OUT_RAW : fields ? OUT_TSV : OUT_HUMAN;
    return CLI_CONTINUE;
}

enum {
    OPT_FROM = CLI_OPT_FIRST_LOCAL,
    OPT_TO,
    OPT_OLDEST,
    OPT_JSON,
    OPT_RAW,
    OPT_FIELDS,
    OPT_COUNT,
};

/* The reply's total (an object {"value","relation"}), when it has one. */
static void
read_total(json_t *root, double *total, char *rel_buf, size_t rel_size)
{
    json_t *tot = json_object_get(root, "total");
    if (!json_is_object(tot))
        return;
    *total = json_number_value(json_object_get(tot, "value"));
    const char *rel = json_string_value(json_object_get(tot, "relation"));
    snprintf(rel_buf, rel_size, "%s", rel ? rel : "eq");
}

/* --count's output: the number (">=" before it when it is a lower bound),
 * or with --json the total object. */
static void
print_count(struct cli_ctx *ctx, int mode, double total, const char *relation)
{
    if (mode == OUT_JSON)
        fprintf(ctx->out.f, "{\"total\":%.0f,\"relation\":\"%s\"}\n", total,
                relation);
    else
        fprintf(ctx->out.f, "%s%.0f\n", strcmp(relation, "eq") ? ">=" : "",
                total);
}

/* On a terminal, when fewer events were shown than match: how to see
 * more. */
static void
hint_more(uint64_t shown, double total, const char *relation)
{
    if (!isatty(STDOUT_FILENO) || total < 0 || (double)shown >= total)
        return;
    fprintf(stderr,
            "-- %llu of %s%.0f matching events (more with "
            "--limit N, all with --limit 0)\n",
            (unsigned long long)shown, strcmp(relation, "eq") ? ">=" : "",
            total);
}

int
sift__cli_cmd_search(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"limit", required_argument, NULL, 'n'},
        {"oldest", no_argument, NULL, OPT_OLDEST},
        {"json", no_argument, NULL, OPT_JSON},
        {"raw", no_argument, NULL, OPT_RAW},
        {"fields", required_argument, NULL, OPT_FIELDS},
        {"count", no_argument, NULL, OPT_COUNT},
        CLI_GLOBAL_OPTIONS};
    const char *from = NULL, *to = NULL, *fields = NULL;
    uint64_t limit = 100;
    int oldest = 0, json = 0, raw = 0, count = 0, c, rc, mode = OUT_HUMAN;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FROM: from = optarg; break;
        case OPT_TO: to = optarg; break;
        case 'n':
            rc = sift__cli_opt_uint(ctx, "limit", optarg, UINT32_MAX, &limit);
            if (rc != CLI_CONTINUE)
                return rc;
            break;
        case OPT_OLDEST: oldest = 1; break;
        case OPT_JSON: json = 1; break;
        case OPT_RAW: raw = 1; break;
        case OPT_FIELDS: fields = optarg; break;
        case OPT_COUNT: count = 1; break;
        default:
            rc = sift__cli_opt_common(ctx, c, argv, opts);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if ((rc = pick_mode(ctx, json, raw, fields, &mode)) != CLI_CONTINUE)
        return rc;
    if (count && (raw || fields))
        return sift__cli_usage_error(ctx, "--count prints a number; it "
                                          "takes --json but not --raw or "
                                          "--fields");
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;

    char *q = join_query(argc, argv, optind);
    struct cli_buf server_fields = CLI_BUF_INIT;
    struct field_list fl = {NULL, NULL};
    char **names = fields ? split_fields(fields, &fl, &server_fields) : NULL;
    struct printer pr = {&ctx->out, mode, names, 0, 0, limit};
    char *cursor = NULL;
    uint64_t remaining = limit; /* 0: all */
    int no_limit_param = 0, first = 1;
    double total = -1;
    char rel_buf[8] = "eq"; /* the total's relation */
    rc = CLI_EXIT_OK;

    for (;;) {
        uint64_t want = count                                  ? 0
                        : (limit == 0 || remaining > PAGE_MAX) ? PAGE_MAX
                                                               : remaining;
        char lim[24];
        snprintf(lim, sizeof(lim), "%llu", (unsigned long long)want);
        const char *params[] = {"q",
                                q,
                                "from",
                                from,
                                "to",
                                to,
                                "limit",
                                no_limit_param ? NULL : lim,
                                "order",
                                oldest ? "asc" : NULL,
                                "cursor",
                                cursor,
                                "fields",
                                server_fields.len ? server_fields.data : NULL,
                                "track_total_hits",
                                count   ? "true"
                                : first ? NULL
                                        : "false",
                                NULL};
        struct cli_req req = {.method = "GET",
                              .path = "/api/v1/search",
                              .params = params,
                              .idempotent = 1};
        struct cli_reply r;
        int hrc = sift__cli_http_do(ctx->http, &req, &r);
        if (hrc == SIFT_ESHUTDOWN) {
            sift__cli_buf_free(&r.body);
            rc = 130;
            break;
        }
        if (hrc == SIFT_OK && r.status == 400 && !no_limit_param &&
            r.body.data && strstr(r.body.data, "\"too_many_hits\"")) {
            /* query.max_hits is below our page: use the server's size. */
            no_limit_param = 1;
            sift__cli_buf_free(&r.body);
            continue;
        }
        if (hrc != SIFT_OK || r.status != 200) {
            rc = sift__cli_http_fail(ctx->http, &r);
            sift__cli_buf_free(&r.body);
            break;
        }
        json_t *root = sift__cli_json(ctx->http, &r);
        if (!root) {
            sift__cli_buf_free(&r.body);
            rc = CLI_EXIT_FAIL;
            break;
        }
        if (first)
            sift__cli_warnings(ctx, root);
        if (first)
            read_total(root, &total, rel_buf, sizeof(rel_buf));
        if (count) {
            print_count(ctx, mode, total, rel_buf);
            json_decref(root);
            sift__cli_buf_free(&r.body);
            break;
        }
        uint64_t before = pr.n;
        long items = sift__cli_json_items(r.body.data, r.body.len, "hits",
                                          page_item, &pr);
        const char *next = json_string_value(json_object_get(root, "cursor"));
        free(cursor);
        cursor = next && *next ? sift__cli_xstrdup(next) : NULL;
        json_decref(root);
        sift__cli_buf_free(&r.body);
        if (items < 0) {
            rc = sift__cli_fail(ctx, "the server's reply has no hits array");
            break;
        }
        fflush(ctx->out.f);
        if (pr.broken)
            break;
        uint64_t got = pr.n - before;
        first = 0;
        if (limit)
            remaining -= got < remaining ? got : remaining;
        if (!cursor || got == 0 || (limit && remaining == 0) ||
            (!no_limit_param && got < want))
            break;
    }
    if (rc == CLI_EXIT_OK && !pr.broken && !count && mode == OUT_HUMAN)
        hint_more(pr.n, total, rel_buf);
    free(cursor);
    free(q);
    free_fields(&fl);
    sift__cli_buf_free(&server_fields);
    return rc;
}

/* ---- tail ---- */

#define TAIL_RECENT 4096        /* ids of the last hits shown, for dedup */
#define TAIL_GAP_LIMIT "1000"   /* gap events the server backfills */
#define TAIL_GAP_MARGIN_MS 5000 /* backfill from this long before the loss */
#define TAIL_IDLE_S 45          /* no byte (not even a heartbeat): dead */
#define ID_MAX 64

/* A sorted set of hit ids (base64url, short). */
struct idset {
    char (*v)[ID_MAX];
    size_t n, cap;
};

static void
idset_add(struct idset *s, const char *id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 256;
        s->v = sift__cli_xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    snprintf(s->v[s->n++], ID_MAX, "%s", id);
}

static int
id_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int
idset_has(const struct idset *s, const char *id)
{
    char key[ID_MAX];
    snprintf(key, sizeof(key), "%s", id);
    return s->n && bsearch(key, s->v, s->n, sizeof(*s->v), id_cmp) != NULL;
}

struct tail {
    struct cli_ctx *ctx;
    struct printer pr;
    long status;        /* of the current connection */
    int connected;      /* a 200 arrived on this connection */
    int ever;           /* some connection stood */
    int lost_said;      /* "reconnecting" was printed */
    struct cli_buf err; /* an error reply's body (status != 200) */
    /* the ids of the last TAIL_RECENT hits shown (a ring) */
    char (*recent)[ID_MAX];
    size_t recent_n, recent_head;
    struct idset shown; /* the ring, sorted, when the stream was lost */
    int64_t lost_at_ms; /* wall clock when the stream was lost */
};

static int64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
remember(struct tail *t, const char *id)
{
    if (!t->recent)
        t->recent = sift__cli_xrealloc(NULL, TAIL_RECENT * sizeof(*t->recent));
    snprintf(t->recent[t->recent_head], ID_MAX, "%s", id);
    t->recent_head = (t->recent_head + 1) % TAIL_RECENT;
    if (t->recent_n < TAIL_RECENT)
        t->recent_n++;
}

/* The stream is lost: what was shown so far, for the backfill's dedup. */
static void
snapshot_shown(struct tail *t)
{
    t->shown.n = 0;
    for (size_t i = 0; i < t->recent_n; i++)
        idset_add(&t->shown, t->recent[i]);
    if (t->shown.n)
        qsort(t->shown.v, t->shown.n, sizeof(*t->shown.v), id_cmp);
}

static void
tail_status(void *arg, long status)
{
    struct tail *t = arg;
    t->status = status;
    if (status != 200)
        return;
    t->connected = 1;
    if (t->lost_said) {
        fprintf(stderr,
                "sift: tail: reconnected to %s; the events of the gap follow "
                "(found by time since shortly before the loss: events with "
                "older timestamps are not)\n",
                sift__cli_http_url(t->ctx->http));
        t->lost_said = 0;
    }
    t->ever = 1;
}

static int
tail_line(void *arg, const char *line, size_t len)
{
    struct tail *t = arg;
    if (t->status != 200) {
        sift__cli_buf_add(&t->err, line, len);
        return 0;
    }
    if (!len || t->pr.broken)
        return t->pr.broken;
    json_error_t je;
    json_t *v = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        return 0; /* not ours to judge: skip */
    }
    int stop = 0;
    json_t *gap = json_object_get(v, "gap");
    json_t *err = json_object_get(v, "error");
    if (json_object_get(v, "time") || json_object_get(v, "message")) {
        /* After a reconnect the server's backfill repeats what was shown
         * just before the loss: leave it out. */
        const char *id = json_string_value(json_object_get(v, "_id"));
        if (!id || !idset_has(&t->shown, id)) {
            stop = print_hit(&t->pr, line, len);
            fflush(t->pr.o->f);
            if (ferror(t->pr.o->f)) {
                t->pr.broken = 1;
                stop = 1;
            }
            if (id)
                remember(t, id);
        }
    } else if (json_is_integer(gap)) {
        fprintf(stderr,
                "sift: tail: the server dropped %lld events this client "
                "read too slowly\n",
                (long long)json_integer_value(gap));
    } else if (err) {
        const char *why = json_string_value(json_object_get(err, "reason"));
        fprintf(stderr, "sift: tail: the server ended the stream: ");
        if (why)
            sift__cli_put_safe(stderr, why, strlen(why), NULL);
        fputc('\n', stderr);
    } else if (json_is_object(json_object_get(v, "_nodes"))) {
        /* A cluster: a node that does not stream is named. */
        json_t *nodes = json_object_get(v, "_nodes");
        json_t *f = json_object_get(nodes, "failures");
        size_t i;
        json_t *x;
        json_array_foreach(f, i, x)
        {
            const char *node = json_string_value(json_object_get(x, "node"));
            const char *why = json_string_value(json_object_get(x, "reason"));
            fprintf(stderr, "sift: tail: node ");
            sift__cli_put_safe(stderr, node ? node : "?",
                               node ? strlen(node) : 1, NULL);
            fprintf(stderr, " does not stream: ");
            sift__cli_put_safe(stderr, why ? why : "", why ? strlen(why) : 0,
                               NULL);
            fputc('\n', stderr);
        }
    }
    /* anything else (heartbeats, notices) is skipped */
    json_decref(v);
    return stop;
}

int
sift__cli_cmd_tail(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, OPT_JSON},
        {"raw", no_argument, NULL, OPT_RAW},
        {"fields", required_argument, NULL, OPT_FIELDS},
        CLI_GLOBAL_OPTIONS};
    const char *fields = NULL, *from = NULL, *limit = NULL;
    uint64_t n = 0;
    int json = 0, raw = 0, c, rc, mode = OUT_HUMAN;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FROM: from = optarg; break;
        case 'n':
            rc = sift__cli_opt_uint(ctx, "limit", optarg, UINT32_MAX, &n);
            if (rc != CLI_CONTINUE)
                return rc;
            limit = optarg;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_RAW: raw = 1; break;
        case OPT_FIELDS: fields = optarg; break;
        default:
            rc = sift__cli_opt_common(ctx, c, argv, opts);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if ((rc = pick_mode(ctx, json, raw, fields, &mode)) != CLI_CONTINUE)
        return rc;
    if (limit && !from)
        from = "now-1d"; /* like tail -n: the last N, from a day back */
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    char *q = join_query(argc, argv, optind);
    struct cli_buf server_fields = CLI_BUF_INIT;
    struct field_list fl = {NULL, NULL};
    char **names = fields ? split_fields(fields, &fl, &server_fields) : NULL;
    struct tail t;
    memset(&t, 0, sizeof(t));
    t.ctx = ctx;
    t.pr = (struct printer){&ctx->out, mode, names, 0, 0, 0};
    char gap_from[32];
    /* params[5] and [7]: from and limit, the user's on the first
     * connection, the gap's on every reconnect */
    const char *params[] = {
        "q",      *q ? q : NULL,
        "fields", server_fields.len ? server_fields.data : NULL,
        "from",   from,
        "limit",  limit,
        NULL};
    struct cli_req req = {.method = "GET",
                          .path = "/api/v1/tail",
                          .params = params,
                          .no_retry = 1,
                          .idle_timeout_s = TAIL_IDLE_S,
                          .on_line = tail_line,
                          .on_status = tail_status,
                          .line_arg = &t};
    int failures = 0, small_gap = 0;
    rc = CLI_EXIT_OK;
    while (!sift__cli_interrupted && !t.pr.broken) {
        struct cli_reply r;
        t.status = 0;
        t.connected = 0;
        t.err.len = 0;
        int hrc = sift__cli_http_do(ctx->http, &req, &r);
        if (hrc == SIFT_ESHUTDOWN || sift__cli_interrupted || t.pr.broken) {
            sift__cli_buf_free(&r.body);
            break;
        }
        if (r.status == 400 && t.ever && !small_gap && t.err.data &&
            strstr(t.err.data, "\"too_many_hits\"")) {
            /* query.max_hits is below the gap's limit: the default one */
            small_gap = 1;
            params[7] = NULL;
            sift__cli_buf_free(&r.body);
            continue;
        }
        int transient = r.status == 0 || r.status == 200 || r.status == 429 ||
                        r.status == 503 || r.status == 502 || r.status == 504;
        if (r.status && r.status != 200) {
            /* An error reply: show it the way every command does. */
            r.body.len = 0;
            sift__cli_buf_add(&r.body, t.err.data ? t.err.data : "", t.err.len);
            if (!transient || !t.ever) {
                rc = sift__cli_http_fail(ctx->http, &r);
                sift__cli_buf_free(&r.body);
                break;
            }
        } else if (r.status == 0 && !t.ever) {
            rc = sift__cli_http_fail(ctx->http, &r);
            sift__cli_buf_free(&r.body);
            break;
        }
        if (!t.lost_said) {
            t.lost_at_ms = wall_ms();
            snapshot_shown(&t);
            fprintf(stderr,
                    "sift: tail: connection to %s lost (%s); "
                    "reconnecting\n",
                    sift__cli_http_url(ctx->http),
                    r.status == 200 ? "the server closed the stream"
                    : r.status      ? "the server is busy"
                    : t.connected   ? "no line, not even a heartbeat"
                    : r.err[0]      ? r.err
                                    : "no answer");
            t.lost_said = 1;
            /* The next connection starts with the server's backfill of
             * the gap (newest TAIL_GAP_LIMIT since shortly before the
             * loss), atomically with following. */
            snprintf(gap_from, sizeof(gap_from), "%lld",
                     (long long)(t.lost_at_ms - TAIL_GAP_MARGIN_MS));
            params[5] = gap_from;
            params[7] = small_gap ? NULL : TAIL_GAP_LIMIT;
        }
        sift__cli_buf_free(&r.body);
        failures = t.connected ? 1 : failures + 1;
        double wait =
            sift__cli_backoff_s(failures, TAIL_BACKOFF_BASE_S,
                                TAIL_BACKOFF_CAP_S, r.retry_after_s, 0.5);
        if (sift__cli_sleep(wait) < 0)
            break;
    }
    fflush(ctx->out.f);
    free(q);
    free_fields(&fl);
    sift__cli_buf_free(&server_fields);
    sift__cli_buf_free(&t.err);
    free(t.recent);
    free(t.shown.v);
    return rc;
}
