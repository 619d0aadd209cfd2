/*
 * cmd_ingest.c - `sift ingest`: files or stdin into siftd, in batches.
 *
 * Design: each input is read line by line and cut into request bodies by
 * the batcher (batch.c): text goes to POST /api/v1/ingest as text/plain
 * (siftd recognises syslog, logfmt and free text per line), NDJSON as
 * application/x-ndjson, Elasticsearch _bulk bodies to POST /api/v1/_bulk.
 * The format is --format, else guessed per input from its first
 * non-blank line ('{' = NDJSON).  --field labels are written into JSON
 * events by the batcher (any value, the line's other bytes unchanged) and
 * passed to siftd as ?_fields= for text, whose lines carry no fields
 * (same rule both ways: added to events that lack the field).  Each reply's
 * counts are added up; rejected lines are reported as FILE:LINE: reason on
 * stderr.
 *
 * Retries (http.c): 429 and 503 mean siftd stored nothing of the batch,
 * so it is sent again after a back-off (Retry-After when given), up to
 * --retries times.  413 (body over http.max_body_bytes) halves the batch
 * and resends the halves; an event too large on its own is counted as
 * rejected.  A connection that breaks after the body was sent leaves the
 * batch's fate unknown: it is NOT resent (it may have been stored; twice
 * would be a duplicate); ingest stops and names the lines concerned.
 *
 * Exit status: 0 when every event was accepted, 1 when any was rejected
 * (or "expired": older than the server's retention, so not stored) or
 * ingest stopped, 2 for a usage error.  Other counts the server adds to
 * its replies ("future": clamped to arrival or dead-lettered, as
 * ingest.future says) are summed and shown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"

#define DEFAULT_BATCH 1000
#define BATCH_BYTES (4u << 20)
#define MAX_LABELS 64
#define MAX_ERRORS_SHOWN 100 /* per run; the rest are only counted */

struct extra {
    char name[32];
    long long n;
};

struct ingest {
    struct cli_ctx *ctx;
    const char *index;       /* --index: _index of _bulk actions naming none */
    const char *text_labels; /* --field as siftd's _fields, for text */
    const char *name;        /* the input being read ("-" = stdin) */
    enum cli_format format;
    long long accepted, rejected, batches, retries;
    struct extra extras[8]; /* other counters in replies ("expired", ...) */
    size_t n_extras;
    long long errors_shown;
    int stopped; /* a fatal error: stop reading */
};

static const char *
format_name(enum cli_format f)
{
    switch (f) {
    case CLI_FMT_TEXT: return "text";
    case CLI_FMT_NDJSON: return "ndjson";
    case CLI_FMT_BULK: return "bulk";
    default: return "auto";
    }
}

/* The input's name for messages. */
static const char *
input_name(const struct ingest *in)
{
    return strcmp(in->name, "-") ? in->name : "<stdin>";
}

static void
report_line(struct ingest *in, uint64_t line_no, const char *reason)
{
    if (in->errors_shown++ >= MAX_ERRORS_SHOWN)
        return;
    fprintf(stderr, "sift: ingest: %s:%llu: ", input_name(in),
            (unsigned long long)line_no);
    sift__cli_put_safe(stderr, reason ? reason : "rejected",
                       strlen(reason ? reason : "rejected"), NULL);
    fputc('\n', stderr);
}

static void
add_extra(struct ingest *in, const char *name, long long n)
{
    for (size_t i = 0; i < in->n_extras; i++) {
        if (!strcmp(in->extras[i].name, name)) {
            in->extras[i].n += n;
            return;
        }
    }
    if (in->n_extras < sizeof(in->extras) / sizeof(in->extras[0])) {
        snprintf(in->extras[in->n_extras].name, sizeof(in->extras[0].name),
                 "%s", name);
        in->extras[in->n_extras++].n = n;
    }
}

/* /api/v1/ingest reply: {"accepted":N,"rejected":M,"errors":[...],...} */
static int
count_ingest(struct ingest *in, json_t *root, const struct cli_batcher *b)
{
    json_t *acc = json_object_get(root, "accepted");
    json_t *rej = json_object_get(root, "rejected");
    if (!json_is_integer(acc))
        return sift__cli_fail(in->ctx, "the server's reply has no "
                                       "'accepted' count");
    in->accepted += json_integer_value(acc);
    long long rejected = json_is_integer(rej) ? json_integer_value(rej) : 0;
    in->rejected += rejected;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (json_is_integer(v) && strcmp(k, "accepted") != 0 &&
            strcmp(k, "rejected") != 0 && strcmp(k, "took_ms") != 0 &&
            json_integer_value(v) != 0)
            add_extra(in, k, json_integer_value(v));
    }
    json_t *errs = json_object_get(root, "errors");
    size_t i, shown = 0;
    json_array_foreach(errs, i, v)
    {
        json_int_t line = json_integer_value(json_object_get(v, "line"));
        const char *why = json_string_value(json_object_get(v, "reason"));
        uint64_t in_line =
            line >= 1 && (size_t)line <= b->n_lines ? b->lines[line - 1] : 0;
        report_line(in, in_line, why);
        shown++;
    }
    if ((long long)shown < rejected && in->errors_shown < MAX_ERRORS_SHOWN)
        fprintf(stderr,
                "sift: ingest: %s: %lld more rejected lines in this batch "
                "(siftd keeps them in its dead-letter store)\n",
                input_name(in), rejected - (long long)shown);
    return CLI_CONTINUE;
}

/* _bulk reply: {"errors":bool,"items":[{"index":{"status":201,...}}]} */
static int
count_bulk(struct ingest *in, json_t *root, const struct cli_batcher *b)
{
    json_t *items = json_object_get(root, "items");
    if (!json_is_array(items))
        return sift__cli_fail(in->ctx, "the server's _bulk reply has no "
                                       "items");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *k;
        json_t *res = NULL, *v;
        json_object_foreach(it, k, v) res = v; /* {"<action>":{...}} */
        json_int_t status = json_integer_value(json_object_get(res, "status"));
        if (status >= 200 && status < 300) {
            in->accepted++;
            continue;
        }
        in->rejected++;
        json_t *err = json_object_get(res, "error");
        const char *why = json_string_value(json_object_get(err, "reason"));
        if (!why)
            why = json_string_value(json_object_get(err, "type"));
        uint64_t line = i < b->n_items ? b->lines[b->starts[i]] : 0;
        char msg[600];
        snprintf(msg, sizeof(msg), "%lld %s", (long long)status,
                 why ? why : "rejected");
        report_line(in, line, msg);
    }
    if (json_array_size(items) != b->n_items)
        fprintf(stderr,
                "sift: ingest: the server answered %zu items for %zu "
                "actions\n",
                json_array_size(items), b->n_items);
    return CLI_CONTINUE;
}

static int send_batch(struct ingest *in, struct cli_batcher *b);

/* 413: resend the batch's lines in two or more smaller batches. */
static int
split_and_send(struct ingest *in, const struct cli_batcher *big)
{
    if (big->n_events <= 1) {
        uint64_t line = big->n_lines ? big->lines[0] : 0;
        report_line(in, line,
                    "larger than the server accepts in one "
                    "request (http.max_body_bytes)");
        in->rejected++;
        return CLI_CONTINUE;
    }
    struct cli_batcher half;
    sift__cli_batcher_init(&half, big->format, (big->n_events + 1) / 2,
                           big->body.len / 2 + 1, NULL, 0);
    int rc = CLI_CONTINUE;
    const char *p = big->body.data, *end = p + big->body.len;
    for (size_t i = 0; i < big->n_lines && rc == CLI_CONTINUE; i++) {
        /* memchr: a line may hold NUL bytes */
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(nl - p);
        while (sift__cli_batcher_offer(&half, p, len, big->lines[i])) {
            rc = send_batch(in, &half);
            sift__cli_batcher_reset(&half);
            if (rc != CLI_CONTINUE)
                break;
        }
        p = nl + 1;
    }
    while (rc == CLI_CONTINUE && sift__cli_batcher_finish(&half)) {
        rc = send_batch(in, &half);
        sift__cli_batcher_reset(&half);
    }
    if (rc == CLI_CONTINUE && half.n_lines)
        rc = send_batch(in, &half);
    sift__cli_batcher_cleanup(&half);
    return rc;
}

static int
send_batch(struct ingest *in, struct cli_batcher *b)
{
    if (!b->n_lines)
        return CLI_CONTINUE;
    int bulk = b->format == CLI_FMT_BULK;
    const char *params[] = {"index", bulk ? in->index : NULL, "_fields",
                            b->format == CLI_FMT_TEXT ? in->text_labels : NULL,
                            NULL};
    struct cli_req req = {.method = "POST",
                          .params = params,
                          .path = bulk ? "/api/v1/_bulk" : "/api/v1/ingest",
                          .content_type = b->format == CLI_FMT_TEXT
                                              ? "text/plain"
                                              : "application/x-ndjson",
                          .body = b->body.data,
                          .body_len = b->body.len};
    struct cli_reply r;
    int hrc = sift__cli_http_do(in->ctx->http, &req, &r);
    in->batches++;
    in->retries += r.attempts > 1 ? r.attempts - 1 : 0;
    int rc = CLI_CONTINUE;
    if (hrc == SIFT_ESHUTDOWN) {
        fprintf(stderr,
                "sift: ingest: interrupted; lines %llu-%llu of %s "
                "may or may not be stored\n",
                (unsigned long long)b->lines[0],
                (unsigned long long)b->lines[b->n_lines - 1], input_name(in));
        rc = 130;
    } else if (hrc != SIFT_OK) {
        if (r.sent)
            fprintf(stderr,
                    "sift: ingest: %s: connection lost after sending lines "
                    "%llu-%llu of %s (%s): siftd may have stored them; not "
                    "resent, to avoid duplicates\n",
                    sift__cli_http_url(in->ctx->http),
                    (unsigned long long)b->lines[0],
                    (unsigned long long)b->lines[b->n_lines - 1],
                    input_name(in), r.err);
        else
            (void)sift__cli_http_fail(in->ctx->http, &r);
        rc = CLI_EXIT_FAIL;
    } else if (r.status == 413) {
        rc = split_and_send(in, b);
    } else if (r.status != 200) {
        (void)sift__cli_http_fail(in->ctx->http, &r);
        fprintf(stderr, "sift: ingest: stopped at line %llu of %s\n",
                (unsigned long long)b->lines[0], input_name(in));
        rc = CLI_EXIT_FAIL;
    } else {
        json_t *root = sift__cli_json(in->ctx->http, &r);
        rc = !root  ? CLI_EXIT_FAIL
             : bulk ? count_bulk(in, root, b)
                    : count_ingest(in, root, b);
        json_decref(root);
    }
    sift__cli_buf_free(&r.body);
    if (rc != CLI_CONTINUE)
        in->stopped = 1;
    return rc;
}

static enum cli_format
sniff(const char *line, size_t len)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    return i < len && line[i] == '{' ? CLI_FMT_NDJSON : CLI_FMT_TEXT;
}

static int
ingest_stream(struct ingest *in, FILE *f, enum cli_format want, size_t batch,
              const struct cli_label *labels, size_t n_labels)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    uint64_t line_no = 0;
    struct cli_batcher b;
    int started = 0, rc = CLI_CONTINUE;
    while (rc == CLI_CONTINUE && (n = getline(&line, &cap, f)) >= 0) {
        line_no++;
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (!started) {
            size_t i = 0;
            while (i < len &&
                   (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
                i++;
            if (i == len)
                continue; /* blank lines before the first event */
            enum cli_format fmt = want ? want : sniff(line, len);
            if (fmt == CLI_FMT_TEXT && n_labels && !in->text_labels) {
                rc = sift__cli_usage_error(
                    in->ctx,
                    "%s: this input is text, where --field goes as "
                    "siftd's _fields list: a value cannot hold ',' and a "
                    "name cannot hold ':'",
                    input_name(in));
                break;
            }
            sift__cli_batcher_init(&b, fmt, batch, BATCH_BYTES, labels,
                                   n_labels);
            in->format = fmt;
            started = 1;
        }
        while (rc == CLI_CONTINUE &&
               sift__cli_batcher_offer(&b, line, len, line_no)) {
            rc = send_batch(in, &b);
            sift__cli_batcher_reset(&b);
        }
        if (sift__cli_interrupted && rc == CLI_CONTINUE)
            rc = 130;
    }
    if (rc == CLI_CONTINUE && ferror(f)) {
        rc = sift__cli_fail(in->ctx, "%s: read error: %s", input_name(in),
                            strerror(errno));
    }
    if (started) {
        while (rc == CLI_CONTINUE && sift__cli_batcher_finish(&b)) {
            rc = send_batch(in, &b);
            sift__cli_batcher_reset(&b);
        }
        if (rc == CLI_CONTINUE)
            rc = send_batch(in, &b);
        sift__cli_batcher_cleanup(&b);
    }
    free(line);
    return rc;
}

enum {
    OPT_FORMAT = CLI_OPT_FIRST_LOCAL,
    OPT_FIELD,
    OPT_BATCH,
    OPT_JSON,
    OPT_INDEX,
};

/* Prints what the server did with the input (with --json as one
 * object), and on stderr the events it did not store as sent.  Returns how
 * many were expired. */
static long long
report(const struct ingest *in, int json)
{
    if (json) {
        printf("{\"accepted\":%lld,\"rejected\":%lld", in->accepted,
               in->rejected);
        for (size_t i = 0; i < in->n_extras; i++)
            printf(",\"%s\":%lld", in->extras[i].name, in->extras[i].n);
        printf(",\"batches\":%lld,\"retries\":%lld,\"complete\":%s}\n",
               in->batches, in->retries, in->stopped ? "false" : "true");
    } else {
        printf("accepted %lld, rejected %lld", in->accepted, in->rejected);
        for (size_t i = 0; i < in->n_extras; i++)
            printf(", %s %lld", in->extras[i].name, in->extras[i].n);
        printf(" (%lld request%s", in->batches, in->batches == 1 ? "" : "s");
        if (in->retries)
            printf(", %lld retried after 429/503", in->retries);
        printf(in->format ? ", %s)\n" : ")\n", format_name(in->format));
    }
    fflush(stdout);
    /* Expired events (older than the server's retention) were not stored
     * either: dead-lettered like rejected ones.  "future" ones were
     * stored at their arrival time (ingest.future = clamp, the default)
     * or dead-lettered (reject); the reply does not say which. */
    long long expired = 0;
    for (size_t i = 0; i < in->n_extras; i++)
        if (!strcmp(in->extras[i].name, "expired"))
            expired += in->extras[i].n;
    long long future = 0;
    for (size_t i = 0; i < in->n_extras; i++)
        if (!strcmp(in->extras[i].name, "future"))
            future += in->extras[i].n;
    if (expired)
        fprintf(stderr,
                "sift: ingest: %lld events were older than the server's "
                "retention and were not stored (siftd keeps them in its "
                "dead-letter store)\n",
                expired);
    if (future)
        fprintf(stderr,
                "sift: ingest: %lld events were stamped too far in the "
                "future: siftd stored them at their arrival time (original "
                "time in _ts_original) or dead-lettered them, as its "
                "ingest.future says\n",
                future);
    return expired;
}

int
sift__cli_cmd_ingest(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"field", required_argument, NULL, OPT_FIELD},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"json", no_argument, NULL, OPT_JSON},
        {"index", required_argument, NULL, OPT_INDEX},
        CLI_GLOBAL_OPTIONS};
    enum cli_format format = CLI_FMT_AUTO;
    const char *index = NULL;
    struct cli_buf text_labels = CLI_BUF_INIT;
    struct cli_label labels[MAX_LABELS];
    char *label_store[MAX_LABELS];
    size_t n_labels = 0;
    uint64_t batch = DEFAULT_BATCH;
    int json = 0, c, rc;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FORMAT:
            if (!strcmp(optarg, "text"))
                format = CLI_FMT_TEXT;
            else if (!strcmp(optarg, "ndjson") || !strcmp(optarg, "json"))
                format = CLI_FMT_NDJSON;
            else if (!strcmp(optarg, "bulk"))
                format = CLI_FMT_BULK;
            else if (!strcmp(optarg, "auto"))
                format = CLI_FMT_AUTO;
            else
                return sift__cli_usage_error(ctx,
                                             "--format is text, ndjson, "
                                             "bulk or auto, not '%s'",
                                             optarg);
            break;
        case OPT_FIELD: {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return sift__cli_usage_error(ctx,
                                             "--field wants KEY=VALUE, not "
                                             "'%s'",
                                             optarg);
            if (n_labels == MAX_LABELS)
                return sift__cli_usage_error(ctx,
                                             "at most %d --field "
                                             "options",
                                             MAX_LABELS);
            char *k = sift__cli_xstrdup(optarg);
            k[eq - optarg] = '\0';
            label_store[n_labels] = k;
            labels[n_labels].key = k;
            labels[n_labels].value = k + (eq - optarg) + 1;
            n_labels++;
            break;
        }
        case OPT_BATCH:
            rc = sift__cli_opt_uint(ctx, "batch", optarg, 1000000, &batch);
            if (rc != CLI_CONTINUE)
                goto out;
            if (!batch) {
                rc = sift__cli_usage_error(ctx, "--batch must be at least "
                                                "1");
                goto out;
            }
            break;
        case OPT_JSON: json = 1; break;
        case OPT_INDEX: index = optarg; break;
        default:
            rc = sift__cli_opt_common(ctx, c, argv, opts);
            if (rc != CLI_CONTINUE)
                goto out;
        }
    }
    if (index && format != CLI_FMT_BULK) {
        rc = sift__cli_usage_error(ctx, "--index is for --format bulk");
        goto out;
    }
    int n_inputs = argc - optind;
    if (n_inputs == 0 && isatty(STDIN_FILENO)) {
        rc = sift__cli_usage_error(ctx, "no input: name files, or pipe "
                                        "into 'sift ingest' (or give '-')");
        goto out;
    }
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        goto out;

    /* Text lines carry no fields: their labels go as siftd's _fields
     * (name:value,...; the same rule: added where an event lacks them). */
    int text_ok = 1;
    for (size_t i = 0; i < n_labels; i++) {
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= !strcmp(labels[j].key, labels[i].key);
        if (dup)
            continue;
        const char *v = labels[i].value;
        size_t vl = strlen(v);
        if (strchr(v, ',') || strpbrk(labels[i].key, ":,") || !vl ||
            v[0] == ' ' || v[0] == '\t' || v[vl - 1] == ' ' ||
            v[vl - 1] == '\t')
            text_ok = 0;
        sift__cli_buf_addf(&text_labels, "%s%s:%s", text_labels.len ? "," : "",
                           labels[i].key, v);
    }

    struct ingest in;
    memset(&in, 0, sizeof(in));
    in.ctx = ctx;
    in.index = index;
    in.text_labels = n_labels && text_ok ? text_labels.data : NULL;
    rc = CLI_CONTINUE;
    for (int i = 0;
         (i < n_inputs || (n_inputs == 0 && i == 0)) && rc == CLI_CONTINUE;
         i++) {
        const char *name = n_inputs ? argv[optind + i] : "-";
        in.name = name;
        FILE *f = strcmp(name, "-") ? fopen(name, "rb") : stdin;
        if (!f) {
            rc = sift__cli_fail(ctx, "%s: %s", name, strerror(errno));
            break;
        }
        rc = ingest_stream(&in, f, format, (size_t)batch, labels, n_labels);
        if (f != stdin)
            fclose(f);
    }
    if (rc == CLI_EXIT_USAGE && !in.batches)
        goto out;

    long long expired = report(&in, json);
    if (rc == CLI_CONTINUE)
        rc = in.rejected || expired ? CLI_EXIT_FAIL : CLI_EXIT_OK;
out:
    sift__cli_buf_free(&text_labels);
    for (size_t i = 0; i < n_labels; i++)
        free(label_store[i]);
    return rc;
}
