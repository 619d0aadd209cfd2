/*
 * cmd_admin.c - `sift alerts` (list, feedback) and `sift delete`.
 *
 * delete never removes more than the user saw: it first sends the same
 * request as a dry run (siftd counts exactly what it would delete, and
 * names the confirmations a real run needs: all_time without a range,
 * match_all for a query that matches everything), shows the count and
 * the range as siftd understood it and, unless --yes, asks for "yes" on
 * the terminal (without a terminal and without --yes it refuses).
 * Confirmations are given only by the user's flags (--all-time,
 * --match-all), never added by sift.  --dry-run stops after the count.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_int.h"

enum {
    OPT_FROM = CLI_OPT_FIRST_LOCAL,
    OPT_TO,
    OPT_JSON,
    OPT_STATE,
    OPT_FEEDBACK,
    OPT_DRY_RUN,
    OPT_YES,
    OPT_ALL_TIME,
    OPT_MATCH_ALL,
};

/* ---- alerts ---- */

static int
alerts_feedback(struct cli_ctx *ctx, const char *id, const char *label,
                int json)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(id, &end, 10);
    if (errno || *end || !*id || *id == '-')
        return sift__cli_usage_error(ctx,
                                     "--feedback wants an alert id "
                                     "(a number), not '%s'",
                                     id);
    const char *l = NULL;
    if (!strcmp(label, "fp") || !strcmp(label, "false_positive") ||
        !strcmp(label, "false-positive"))
        l = "false_positive";
    else if (!strcmp(label, "tp") || !strcmp(label, "true_positive") ||
             !strcmp(label, "true-positive"))
        l = "true_positive";
    else
        return sift__cli_usage_error(ctx,
                                     "feedback is fp (false positive) "
                                     "or tp (true positive), not '%s'",
                                     label);
    int rc = sift__cli_connect(ctx);
    if (rc != CLI_CONTINUE)
        return rc;
    char path[64], body[64];
    snprintf(path, sizeof(path), "/api/v1/alerts/%llu/feedback", n);
    snprintf(body, sizeof(body), "{\"label\":\"%s\"}", l);
    struct cli_req req = {.method = "POST",
                          .path = path,
                          .content_type = "application/json",
                          .body = body,
                          .body_len = strlen(body)};
    struct cli_reply r;
    int hrc = sift__cli_http_do(ctx->http, &req, &r);
    if (hrc == SIFT_ESHUTDOWN) {
        sift__cli_buf_free(&r.body);
        return 130;
    }
    if (hrc != SIFT_OK || r.status != 200) {
        rc = sift__cli_http_fail(ctx->http, &r);
        sift__cli_buf_free(&r.body);
        return rc;
    }
    if (json) {
        fwrite(r.body.data, 1, r.body.len, ctx->out.f);
        if (r.body.data[r.body.len - 1] != '\n')
            fputc('\n', ctx->out.f);
        sift__cli_buf_free(&r.body);
        return CLI_EXIT_OK;
    }
    json_t *root = sift__cli_json(ctx->http, &r);
    sift__cli_buf_free(&r.body);
    if (!root)
        return CLI_EXIT_FAIL;
    json_t *th = json_object_get(root, "series_threshold");
    char t[32] = "?";
    if (json_is_number(th))
        sift__cli_real(t, sizeof(t), json_number_value(th));
    fprintf(ctx->out.f,
            "alert %llu marked %s; its series now alerts above "
            "score %s\n",
            n, l, t);
    json_decref(root);
    return CLI_EXIT_OK;
}

static int
print_item(void *arg, const char *item, size_t len)
{
    FILE *f = arg;
    fwrite(item, 1, len, f);
    fputc('\n', f);
    return ferror(f) ? 1 : 0;
}

static void
ms_time(json_t *v, char *out, size_t len)
{
    if (!json_is_integer(v) || json_integer_value(v) <= 0) {
        snprintf(out, len, "-");
        return;
    }
    time_t s = (time_t)(json_integer_value(v) / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
}

int
sift__cli_cmd_alerts(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"state", required_argument, NULL, OPT_STATE},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, OPT_JSON},
        {"feedback", required_argument, NULL, OPT_FEEDBACK},
        CLI_GLOBAL_OPTIONS};
    const char *state = NULL, *from = NULL, *to = NULL, *feedback = NULL;
    const char *limit = NULL;
    int json = 0, c, rc;
    uint64_t n = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_STATE:
            if (strcmp(optarg, "firing") != 0 &&
                strcmp(optarg, "resolved") != 0 && strcmp(optarg, "all") != 0)
                return sift__cli_usage_error(ctx,
                                             "--state is firing, "
                                             "resolved or all, not '%s'",
                                             optarg);
            state = optarg;
            break;
        case OPT_FROM: from = optarg; break;
        case OPT_TO: to = optarg; break;
        case 'n':
            rc = sift__cli_opt_uint(ctx, "limit", optarg, 1000000, &n);
            if (rc != CLI_CONTINUE)
                return rc;
            limit = optarg;
            break;
        case OPT_JSON: json = 1; break;
        case OPT_FEEDBACK: feedback = optarg; break;
        default:
            rc = sift__cli_opt_common(ctx, c, argv, opts);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    if (feedback) {
        if (optind + 1 != argc)
            return sift__cli_usage_error(ctx, "--feedback ID takes one "
                                              "label: fp or tp");
        if (state || from || to || limit)
            return sift__cli_usage_error(ctx, "--feedback does not take "
                                              "--state, --from, --to or "
                                              "--limit");
        return alerts_feedback(ctx, feedback, argv[optind], json);
    }
    if (optind < argc)
        return sift__cli_usage_error(ctx,
                                     "unexpected '%s' (did you mean "
                                     "--feedback ID %s?)",
                                     argv[optind], argv[optind]);
    if ((rc = sift__cli_connect(ctx)) != CLI_CONTINUE)
        return rc;
    const char *params[] = {"state", state,   "from", from, "to",
                            to,      "limit", limit,  NULL};
    struct cli_req req = {.method = "GET",
                          .path = "/api/v1/alerts",
                          .params = params,
                          .idempotent = 1};
    struct cli_reply r;
    int hrc = sift__cli_http_do(ctx->http, &req, &r);
    if (hrc == SIFT_ESHUTDOWN) {
        sift__cli_buf_free(&r.body);
        return 130;
    }
    if (hrc != SIFT_OK || r.status != 200) {
        rc = sift__cli_http_fail(ctx->http, &r);
        sift__cli_buf_free(&r.body);
        return rc;
    }
    json_t *root = sift__cli_json(ctx->http, &r);
    if (!root) {
        sift__cli_buf_free(&r.body);
        return CLI_EXIT_FAIL;
    }
    json_t *alerts = json_object_get(root, "alerts");
    size_t i;
    json_t *a;
    if (json) {
        /* NDJSON: one alert per line, as the server wrote it. */
        (void)sift__cli_json_items(r.body.data, r.body.len, "alerts",
                                   print_item, ctx->out.f);
    } else if (!json_array_size(alerts)) {
        fputs("no alerts\n", ctx->out.f);
    } else {
        fprintf(ctx->out.f, "%s%6s  %-8s  %-12s %5s  %-19s  %s%s\n",
                ctx->out.color ? "\033[2m" : "", "id", "state", "kind", "score",
                "started (UTC)", "series", ctx->out.color ? "\033[0m" : "");
        json_array_foreach(alerts, i, a)
        {
            const char *st = json_string_value(json_object_get(a, "state"));
            const char *kind = json_string_value(json_object_get(a, "kind"));
            const char *series =
                json_string_value(json_object_get(a, "series"));
            const char *label = json_string_value(json_object_get(a, "label"));
            char started[32], score[32] = "-";
            ms_time(json_object_get(a, "started_ms"), started, sizeof(started));
            json_t *sc = json_object_get(a, "score");
            /* A rule's alert has no score (the anomaly scorer's): its
             * value and threshold follow the series instead. */
            int rule = kind && !strcmp(kind, "rule");
            if (json_is_number(sc) && !rule)
                snprintf(score, sizeof(score), "%.0f", json_number_value(sc));
            int firing = st && !strcmp(st, "firing");
            fprintf(ctx->out.f, "%6lld  %s%-8s%s  %-12s %5s  %-19s  ",
                    (long long)json_integer_value(json_object_get(a, "id")),
                    ctx->out.color && firing ? "\033[31m" : "", st ? st : "-",
                    ctx->out.color && firing ? "\033[0m" : "",
                    kind ? kind : "-", score, started);
            if (series)
                sift__cli_put_safe(ctx->out.f, series, strlen(series), NULL);
            json_t *v = json_object_get(a, "value");
            if (rule && json_is_number(v))
                fprintf(ctx->out.f, "  value %g (threshold %g)",
                        json_number_value(v),
                        json_number_value(json_object_get(a, "threshold")));
            if (label && *label)
                fprintf(ctx->out.f, "  [%s]", label);
            fputc('\n', ctx->out.f);
        }
    }
    json_decref(root);
    sift__cli_buf_free(&r.body);
    return CLI_EXIT_OK;
}

/* ---- delete ---- */

struct del_req {
    const char *q, *from, *to;
    int all_time, match_all;
};

/* POSTs /api/v1/delete; *root gets the parsed reply when siftd answered
 * 200 or 400 with a JSON body.  Returns CLI_CONTINUE or an exit status
 * (after printing the error). */
static int
post_delete(struct cli_ctx *ctx, const struct del_req *d, int dry,
            json_t **root, long *status, struct cli_buf *raw)
{
    json_t *body = json_pack("{s:s}", "query", d->q);
    if (!body)
        return sift__cli_fail(ctx, "the query is not valid UTF-8");
    if (d->from)
        json_object_set_new(body, "from", json_string(d->from));
    if (d->to)
        json_object_set_new(body, "to", json_string(d->to));
    if (dry)
        json_object_set_new(body, "dry_run", json_true());
    if (d->all_time)
        json_object_set_new(body, "all_time", json_true());
    if (d->match_all)
        json_object_set_new(body, "match_all", json_true());
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return sift__cli_fail(ctx, "the range is not valid UTF-8");
    struct cli_req req = {.method = "POST",
                          .path = "/api/v1/delete",
                          .content_type = "application/json",
                          .body = text,
                          .body_len = strlen(text)};
    struct cli_reply r;
    int hrc = sift__cli_http_do(ctx->http, &req, &r);
    free(text);
    int rc = CLI_CONTINUE;
    *root = NULL;
    *status = r.status;
    if (hrc == SIFT_ESHUTDOWN) {
        rc = 130;
    } else if (hrc != SIFT_OK || (r.status != 200 && r.status != 400)) {
        rc = sift__cli_http_fail(ctx->http, &r);
    } else {
        json_error_t je;
        *root = json_loadb(r.body.data ? r.body.data : "", r.body.len, 0, &je);
        if (r.status == 400 && !json_object_get(*root, "confirm_needed")) {
            rc = sift__cli_http_fail(ctx->http, &r); /* a plain 400 */
            json_decref(*root);
            *root = NULL;
        } else if (!*root) {
            rc = sift__cli_fail(ctx, "the server's reply is not JSON");
        } else if (raw) {
            raw->len = 0;
            sift__cli_buf_add(raw, r.body.data, r.body.len);
        }
    }
    sift__cli_buf_free(&r.body);
    return rc;
}

/* The flag a confirmation the server asks for maps to. */
static const char *
confirm_flag(const char *name)
{
    if (!strcmp(name, "all_time"))
        return "--all-time (or give --from/--to)";
    if (!strcmp(name, "match_all"))
        return "--match-all (the query matches every event)";
    return name;
}

/* Confirmations the server wants that the command line did not give. */
static int
missing_confirmations(struct cli_ctx *ctx, json_t *root,
                      const struct del_req *d, int report)
{
    json_t *need = json_object_get(root, "confirm_needed");
    size_t i;
    json_t *v;
    int missing = 0;
    json_array_foreach(need, i, v)
    {
        const char *n = json_string_value(v);
        if (!n)
            continue;
        if ((!strcmp(n, "all_time") && d->all_time) ||
            (!strcmp(n, "match_all") && d->match_all))
            continue;
        missing++;
        if (report)
            fprintf(stderr, "sift: %s: a real run needs %s\n", ctx->command,
                    confirm_flag(n));
    }
    return missing;
}

static void
range_text(json_t *root, const char *key, const char *open, char *out,
           size_t len)
{
    const char *t = json_string_value(json_object_get(root, key));
    snprintf(out, len, "%s", t ? t : open);
}

static int
confirm(struct cli_ctx *ctx, double count)
{
    if (!isatty(STDIN_FILENO))
        return sift__cli_usage_error(ctx,
                                     "refusing to delete %.0f events "
                                     "without --yes (no terminal to ask on)",
                                     count);
    fprintf(stderr,
            "Delete these %.0f events for good? Type 'yes' to go on: ", count);
    fflush(stderr);
    char answer[16];
    if (!fgets(answer, sizeof(answer), stdin))
        answer[0] = '\0';
    if (strcmp(answer, "yes\n") != 0 && strcmp(answer, "yes") != 0) {
        fprintf(stderr, "sift: delete: not confirmed; nothing deleted\n");
        return CLI_EXIT_FAIL;
    }
    return CLI_CONTINUE;
}

static void
print_raw(struct cli_ctx *ctx, const struct cli_buf *raw)
{
    fwrite(raw->data, 1, raw->len, ctx->out.f);
    if (!raw->len || raw->data[raw->len - 1] != '\n')
        fputc('\n', ctx->out.f);
}

int
sift__cli_cmd_delete(struct cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"yes", no_argument, NULL, OPT_YES},
        {"all-time", no_argument, NULL, OPT_ALL_TIME},
        {"match-all", no_argument, NULL, OPT_MATCH_ALL},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS};
    struct del_req d = {NULL, NULL, NULL, 0, 0};
    int dry = 0, yes = 0, json = 0, c, rc;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":yh", opts, NULL)) != -1) {
        switch (c) {
        case OPT_FROM: d.from = optarg; break;
        case OPT_TO: d.to = optarg; break;
        case OPT_DRY_RUN: dry = 1; break;
        case 'y':
        case OPT_YES: yes = 1; break;
        case OPT_ALL_TIME: d.all_time = 1; break;
        case OPT_MATCH_ALL: d.match_all = 1; break;
        case OPT_JSON: json = 1; break;
        default:
            rc = sift__cli_opt_common(ctx, c, argv, opts);
            if (rc != CLI_CONTINUE)
                return rc;
        }
    }
    struct cli_buf qb = CLI_BUF_INIT, raw = CLI_BUF_INIT;
    for (int i = optind; i < argc; i++) {
        if (qb.len)
            sift__cli_buf_add(&qb, " ", 1);
        sift__cli_buf_add(&qb, argv[i], strlen(argv[i]));
    }
    d.q = qb.data ? qb.data : "";
    json_t *root = NULL;
    long status = 0;
    rc = CLI_CONTINUE;
    if (!*d.q)
        rc = sift__cli_usage_error(ctx, "which events? give a query ('*' "
                                        "with --match-all means every "
                                        "event of the range)");
    else if (d.all_time && (d.from || d.to))
        rc = sift__cli_usage_error(ctx, "--all-time excludes --from and --to");
    else if (!d.all_time && !d.from && !d.to)
        rc = sift__cli_usage_error(ctx, "give the range with --from and/or "
                                        "--to (or --all-time to mean every "
                                        "event ever stored)");
    if (rc == CLI_CONTINUE)
        rc = sift__cli_connect(ctx);
    /* 1. The server's dry run: exactly what this request would delete. */
    if (rc == CLI_CONTINUE)
        rc = post_delete(ctx, &d, 1, &root, &status, &raw);
    if (rc != CLI_CONTINUE)
        goto out;
    if (status != 200 || !json_is_true(json_object_get(root, "dry_run"))) {
        rc = sift__cli_fail(ctx, "the server did not answer the dry run "
                                 "(nothing deleted)");
        goto out;
    }
    double count = json_number_value(json_object_get(root, "matched"));
    char from[64], to[64];
    range_text(root, "from", "the first event", from, sizeof(from));
    range_text(root, "to", "now and later", to, sizeof(to));
    if (dry) {
        if (json)
            print_raw(ctx, &raw);
        else
            fprintf(ctx->out.f,
                    "%.0f events match (dry run: nothing "
                    "deleted)\n",
                    count);
        (void)missing_confirmations(ctx, root, &d, 1);
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (missing_confirmations(ctx, root, &d, 1)) {
        rc = sift__cli_usage_error(ctx, "%.0f events match; nothing deleted",
                                   count);
        goto out;
    }
    if (count == 0) {
        if (json)
            print_raw(ctx, &raw);
        else
            fprintf(ctx->out.f, "0 events match; nothing to delete\n");
        rc = CLI_EXIT_OK;
        goto out;
    }
    if (!yes) {
        fprintf(stderr, "%.0f events match '", count);
        sift__cli_put_safe(stderr, d.q, strlen(d.q), NULL);
        fprintf(stderr, "' from %s to %s%s.\n", from, to,
                d.match_all ? " (every event of the range)" : "");
        if ((rc = confirm(ctx, count)) != CLI_CONTINUE)
            goto out;
    }
    /* 2. The delete itself, with the confirmations the user gave. */
    json_decref(root);
    rc = post_delete(ctx, &d, 0, &root, &status, &raw);
    if (rc != CLI_CONTINUE)
        goto out;
    if (status != 200) {
        /* asked for a confirmation the dry run did not: show it */
        (void)missing_confirmations(ctx, root, &d, 1);
        rc = sift__cli_fail(ctx, "the server refused the delete; nothing "
                                 "deleted");
        goto out;
    }
    json_t *del = json_object_get(root, "deleted");
    if (json) {
        print_raw(ctx, &raw);
        rc = CLI_EXIT_OK;
    } else if (json_is_integer(del)) {
        fprintf(ctx->out.f, "deleted %lld events\n",
                (long long)json_integer_value(del));
        rc = CLI_EXIT_OK;
    } else {
        rc = sift__cli_fail(ctx, "the server's reply does not say what was "
                                 "deleted");
    }
out:
    json_decref(root);
    sift__cli_buf_free(&qb);
    sift__cli_buf_free(&raw);
    return rc;
}
