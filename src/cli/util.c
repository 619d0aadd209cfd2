/*
 * util.c - what every subcommand of `sift` uses: growable buffers, the
 * options all of them take, error lines and the connection set-up.
 *
 * Design: each subcommand parses its own argv with getopt_long() and a
 * table that ends with CLI_GLOBAL_OPTIONS, so `--url` and friends may
 * come before or after the subcommand name; whatever the subcommand does
 * not know lands in sift__cli_opt_common().  Unknown options are usage
 * errors with the closest known name as a hint ("did you mean --from?"):
 * a mistyped option must never be ignored.
 *
 * Invariants: error lines go to stderr and start with "sift: COMMAND: ";
 * stdout carries only results.  Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "cli_int.h"

volatile sig_atomic_t sift__cli_interrupted;

void *
sift__cli_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("sift: out of memory\n", stderr);
        exit(CLI_EXIT_FAIL);
    }
    return q;
}

char *
sift__cli_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = sift__cli_xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

static void
buf_grow(struct cli_buf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = sift__cli_xrealloc(b->data, cap);
    b->cap = cap;
}

void
sift__cli_buf_add(struct cli_buf *b, const void *p, size_t len)
{
    buf_grow(b, len);
    if (len)
        memcpy(b->data + b->len, p, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void
sift__cli_buf_addf(struct cli_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    buf_grow(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void
sift__cli_buf_free(struct cli_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int
sift__cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sift: %s: ", ctx->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'sift %s --help')\n", ctx->command);
    return CLI_EXIT_USAGE;
}

int
sift__cli_fail(const struct cli_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "sift: %s: ", ctx->command);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

/* Levenshtein distance, bounded: names are short option names. */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    size_t prev[64], cur[64];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t m = sub < del ? sub : del;
            cur[j] = m < ins ? m : ins;
        }
        memcpy(prev, cur, (lb + 1) * sizeof(prev[0]));
    }
    return prev[lb];
}

const char *
sift__cli_suggest(const char *word, const char *const *names)
{
    const char *best = NULL, *prefix = NULL;
    size_t best_d = 3, wl = strlen(word);
    for (size_t i = 0; names[i]; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d < best_d) {
            best = names[i];
            best_d = d;
        }
        /* A prefix of several names is what getopt calls ambiguous. */
        if (!prefix && wl >= 2 && strncmp(names[i], word, wl) == 0)
            prefix = names[i];
    }
    return best ? best : prefix;
}

static int
unknown_option(struct cli_ctx *ctx, const char *arg, const struct option *opts)
{
    if (strncmp(arg, "--", 2) != 0) {
        return sift__cli_usage_error(
            ctx,
            "unknown option '%s' (a query that starts with '-' goes after "
            "'--', e.g. sift %s -- -level:debug)",
            arg, ctx->command);
    }
    char word[64];
    snprintf(word, sizeof(word), "%s", arg + 2);
    char *eq = strchr(word, '=');
    if (eq)
        *eq = '\0';
    const char *names[128];
    size_t n = 0;
    for (size_t i = 0; opts[i].name && n + 1 < 128; i++)
        names[n++] = opts[i].name;
    names[n] = NULL;
    const char *s = sift__cli_suggest(word, names);
    if (s)
        return sift__cli_usage_error(ctx,
                                     "unknown option '--%s'; did you "
                                     "mean '--%s'?",
                                     word, s);
    return sift__cli_usage_error(ctx, "unknown option '--%s'", word);
}

int
sift__cli_opt_uint(const struct cli_ctx *ctx, const char *name, const char *arg,
                   uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!arg || !*arg || *arg == '-')
        goto bad;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || v > max)
        goto bad;
    *out = (uint64_t)v;
    return CLI_CONTINUE;
bad:
    return sift__cli_usage_error(ctx,
                                 "--%s wants a whole number from 0 to "
                                 "%llu, not '%s'",
                                 name, (unsigned long long)max, arg ? arg : "");
}

static int
parse_seconds(struct cli_ctx *ctx, const char *name, const char *arg,
              double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= 0) || v > 86400.0 * 365)
        return sift__cli_usage_error(ctx,
                                     "--%s wants seconds (e.g. 30), "
                                     "not '%s'",
                                     name, arg);
    *out = v;
    return CLI_CONTINUE;
}

int
sift__cli_opt_common(struct cli_ctx *ctx, int c, char **argv,
                     const struct option *opts)
{
    uint64_t n = 0;
    int rc;
    switch (c) {
    case CLI_OPT_URL: ctx->flags.url = optarg; return CLI_CONTINUE;
    case CLI_OPT_TOKEN: ctx->flags.token = optarg; return CLI_CONTINUE;
    case CLI_OPT_CONFIG: ctx->flags.config = optarg; return CLI_CONTINUE;
    case CLI_OPT_CACERT: ctx->flags.cacert = optarg; return CLI_CONTINUE;
    case CLI_OPT_COLOR:
        if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "always") != 0 &&
            strcmp(optarg, "never") != 0)
            return sift__cli_usage_error(ctx,
                                         "--color is auto, always or "
                                         "never, not '%s'",
                                         optarg);
        ctx->flags.color = optarg;
        return CLI_CONTINUE;
    case CLI_OPT_TIMEOUT:
        return parse_seconds(ctx, "timeout", optarg, &ctx->flags.timeout_s);
    case CLI_OPT_RETRIES:
        rc = sift__cli_opt_uint(ctx, "retries", optarg, 1000, &n);
        if (rc == CLI_CONTINUE)
            ctx->flags.retries = (int)n;
        return rc;
    case 'h': fputs(ctx->help, stdout); return CLI_EXIT_OK;
    case ':':
        return sift__cli_usage_error(ctx, "option '%s' needs a value",
                                     argv[optind - 1]);
    case '?':
    default:
        /* getopt_long leaves the offending word just before optind (or,
         * for a short option inside a cluster, at optind). */
        if (optopt && optopt < 256) {
            char s[3] = {'-', (char)optopt, '\0'};
            return unknown_option(ctx, s, opts);
        }
        return unknown_option(ctx, argv[optind - 1], opts);
    }
}

int
sift__cli_connect(struct cli_ctx *ctx)
{
    char err[512];
    if (sift__cli_settings_load(&ctx->settings, &ctx->flags, err, sizeof(err)) <
        0) {
        fprintf(stderr, "sift: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    sift__cli_out_init(&ctx->out, ctx->settings.color);
    ctx->http = sift__cli_http_new(&ctx->settings, ctx->command);
    if (!ctx->http)
        return CLI_EXIT_FAIL;
    return CLI_CONTINUE;
}

void
sift__cli_ctx_cleanup(struct cli_ctx *ctx)
{
    sift__cli_http_free(ctx->http);
    ctx->http = NULL;
    sift__cli_settings_cleanup(&ctx->settings);
}

long
sift__cli_json_items(const char *js, size_t len, const char *key,
                     int (*cb)(void *arg, const char *item, size_t n),
                     void *arg)
{
    jsmn_parser p;
    jsmn_init(&p);
    int n = jsmn_parse(&p, js, len, NULL, 0);
    if (n < 1)
        return -1;
    jsmntok_t *t = sift__cli_xrealloc(NULL, (size_t)n * sizeof(*t));
    jsmn_init(&p);
    long visited = -1;
    if (jsmn_parse(&p, js, len, t, (unsigned)n) != n ||
        t[0].type != JSMN_OBJECT)
        goto out;
    visited = 0;
    size_t klen = strlen(key);
    int i = 1;
    while (i + 1 < n) {
        /* t[i] is a key of the top-level object, t[i + 1] its value. */
        int v = i + 1;
        int next = v + 1;
        while (next < n && t[next].start < t[v].end)
            next++;
        if (t[i].type == JSMN_STRING &&
            (size_t)(t[i].end - t[i].start) == klen &&
            !memcmp(js + t[i].start, key, klen) && t[v].type == JSMN_ARRAY) {
            int e = v + 1;
            while (e < next) {
                visited++;
                /* jsmn's string tokens leave the quotes out */
                int q = t[e].type == JSMN_STRING;
                if (cb(arg, js + t[e].start - q,
                       (size_t)(t[e].end - t[e].start) + 2 * (size_t)q))
                    goto out;
                int after = e + 1;
                while (after < next && t[after].start < t[e].end)
                    after++;
                e = after;
            }
            goto out;
        }
        i = next;
    }
out:
    free(t);
    return visited;
}

void
sift__cli_real(char *out, size_t out_len, double v)
{
    if (v == (double)(long long)v && v > -1e15 && v < 1e15) {
        snprintf(out, out_len, "%.0f", v);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, out_len, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

void
sift__cli_warnings(const struct cli_ctx *ctx, json_t *root)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(root, "warnings"), i, w)
    {
        const char *t = json_string_value(w);
        if (!t)
            continue;
        fprintf(stderr, "sift: %s: warning: ", ctx->command);
        sift__cli_put_safe(stderr, t, strlen(t), NULL);
        fputc('\n', stderr);
    }
}
