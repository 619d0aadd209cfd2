/*
 * main.c - `sift`, the command-line client of siftd: subcommand table,
 * help texts, signals and dispatch.
 *
 * Usage: sift [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]; global options
 * may also follow the command.  Every command has --help; `sift help CMD`
 * says the same.  The manual page (docs/man/sift.1.scd) repeats these
 * texts at length; tests/blackbox/test_cli.py checks that every option a
 * --help lists is in the manual.
 *
 * Exit statuses: 0 done, 1 the server answered an error, could not be
 * reached, or rejected events, 2 bad usage or configuration, 130 after
 * Ctrl-C (tail: 0, since Ctrl-C is how a tail ends).
 *
 * Signals: SIGINT/SIGTERM set a flag that transfers and back-off waits
 * poll; SIGPIPE is ignored so a closed stdout is an ordinary write error
 * (sift ... | head ends quietly).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

#define GLOBAL_HELP                                                            \
    "Global options (before or after the command):\n"                          \
    "  --url URL        siftd's address (default " CLI_DEFAULT_URL ";\n"       \
    "                   env SIFT_URL, config key url)\n"                       \
    "  --token TOKEN    bearer token (env SIFT_TOKEN, config key token or\n"   \
    "                   token_file)\n"                                         \
    "  --config FILE    configuration file (env SIFT_CONFIG; default\n"        \
    "                   ~/.config/sift/config)\n"                              \
    "  --cacert FILE    CA certificates for https:// (env SIFT_CACERT)\n"      \
    "  --color WHEN     auto (default: only on a terminal), always, never\n"   \
    "                   (NO_COLOR=1 means never)\n"                            \
    "  --timeout SECS   give up on a request after SECS (default 300)\n"       \
    "  --retries N      retries after 429/503 or no connection (default 8)\n"  \
    "  -h, --help       this help\n"

#define TIME_HELP                                                              \
    "  --from T         start of the range, inclusive: RFC 3339\n"             \
    "                   (2026-11-22T10:00:00Z), epoch ms, now, now-15m\n"      \
    "  --to T           end of the range, exclusive (same forms)\n"

static const char HELP_SEARCH[] =
    "Usage: sift search [OPTIONS] [--] QUERY...\n"
    "\n"
    "Finds events, newest first.  The words of QUERY are joined with\n"
    "spaces (level:error disk = \"level:error disk\"); a query that starts\n"
    "with '-' goes after '--'.\n"
    "\n" TIME_HELP
    "  -n, --limit N    at most N events (default 100; 0 = every match);\n"
    "                   pages beyond one follow the server's cursor\n"
    "  --oldest         oldest first\n"
    "  --json           one JSON hit per line (NDJSON), as the server sent it\n"
    "  --raw            the message of each event, nothing else\n"
    "  --fields A,B     tab-separated values of these fields (time, message,\n"
    "                   template, template_id or any event field)\n"
    "  --count          print how many events match, nothing else\n"
    "\n" GLOBAL_HELP;

static const char HELP_TAIL[] =
    "Usage: sift tail [OPTIONS] [--] [QUERY...]\n"
    "\n"
    "Prints matching events as they arrive, like tail -f, until Ctrl-C.\n"
    "Reconnects (with back-off) when the connection drops or siftd\n"
    "restarts, then shows the events of the gap (found by time, each\n"
    "event once; events with older timestamps are not found).\n"
    "\n"
    "  --from T         first the newest matches since T (oldest first),\n"
    "                   then follow\n"
    "  -n, --limit N    how many of those (default 100; alone: since\n"
    "                   now-1d), like tail -n\n"
    "  --json           one JSON hit per line (NDJSON)\n"
    "  --raw            the message of each event\n"
    "  --fields A,B     tab-separated values of these fields\n"
    "\n" GLOBAL_HELP;

static const char HELP_INGEST[] =
    "Usage: sift ingest [OPTIONS] [FILE...|-]\n"
    "\n"
    "Sends events from files (or stdin: '-' or no FILE) in batches and\n"
    "reports how many were accepted and rejected.  Exit status 1 when any\n"
    "event was rejected.  Retries batches the server refused with 429 or\n"
    "503; a batch over the server's size limit (413) is split.\n"
    "\n"
    "  --format F       text (one event per line: syslog, logfmt or plain\n"
    "                   text, recognised by siftd), ndjson (one JSON object\n"
    "                   per line), bulk (Elasticsearch _bulk) or auto\n"
    "                   (default: ndjson when the first line starts with\n"
    "                   '{', else text)\n"
    "  --field K=V      add field K with value V to every event that has\n"
    "                   no K (repeatable): JSON events get it in sift,\n"
    "                   text lines from siftd (then V may not hold ',')\n"
    "  --batch N        events per request (default 1000; at most 4 MiB)\n"
    "  --index NAME     _index of bulk actions that name none\n"
    "  --json           print the summary as JSON\n"
    "\n" GLOBAL_HELP;

static const char HELP_HIST[] =
    "Usage: sift hist [OPTIONS] [--] [QUERY...]\n"
    "\n"
    "Counts matching events per time interval and draws a bar chart.\n"
    "\n" TIME_HELP
    "  --interval I     bucket width: 30s, 5m, 1h, 1d, 1w, 1M, or auto\n"
    "                   (default: at most 100 buckets over the range)\n"
    "  --by FIELD       one column per value of FIELD (a keyword field)\n"
    "  --size N         with --by: the N most frequent values (default 10)\n"
    "  --json           the server's reply (one JSON line)\n"
    "\n" GLOBAL_HELP;

static const char HELP_TERMS[] =
    "Usage: sift terms [OPTIONS] FIELD [--] [QUERY...]\n"
    "\n"
    "The most common values of FIELD among the matching events.\n"
    "\n" TIME_HELP
    "  --size N         how many values (default 10); --limit is the same\n"
    "  --json           the server's reply (one JSON line)\n"
    "\n" GLOBAL_HELP;

static const char HELP_STATS[] =
    "Usage: sift stats [OPTIONS] FIELD [--] [QUERY...]\n"
    "\n"
    "Count, min, max, average, sum and percentiles of a numeric FIELD\n"
    "over the matching events.\n"
    "\n" TIME_HELP "  --json           the server's reply (one JSON line)\n"
    "\n" GLOBAL_HELP;

static const char HELP_FIELDS[] =
    "Usage: sift fields [OPTIONS]\n"
    "\n"
    "Lists the fields of the stored events with their types.\n"
    "\n"
    "  --names          names only, one per line\n"
    "  --json           the server's reply (one JSON line)\n"
    "\n" GLOBAL_HELP;

static const char HELP_PATTERNS[] =
    "Usage: sift patterns [OPTIONS] [--] [QUERY...]\n"
    "\n"
    "The message templates (patterns) of the matching events, most\n"
    "frequent first.  _template_id:ID in a query finds a template's events.\n"
    "\n" TIME_HELP
    "  --size N         how many templates (default 20); --limit is the same\n"
    "  --json           the server's reply (one JSON line)\n"
    "\n" GLOBAL_HELP;

static const char HELP_ALERTS[] =
    "Usage: sift alerts [OPTIONS]\n"
    "       sift alerts --feedback ID fp|tp\n"
    "\n"
    "Lists anomaly alerts, newest first, or labels one: fp (a false\n"
    "positive: its series alerts less readily from now on) or tp (a true\n"
    "positive).  Labelling needs an admin token.\n"
    "\n"
    "  --state S        firing, resolved or all (default all)\n" TIME_HELP
    "  -n, --limit N    at most N alerts (server default 1000)\n"
    "  --feedback ID    label alert ID with the following fp or tp\n"
    "  --json           one JSON alert per line (with --feedback: the reply)\n"
    "\n" GLOBAL_HELP;

static const char HELP_DELETE[] =
    "Usage: sift delete [OPTIONS] --from T --to T [--] QUERY...\n"
    "       sift delete [OPTIONS] --all-time [--] QUERY...\n"
    "\n"
    "Deletes the events that match QUERY in the range for good (GDPR\n"
    "requests, leaked secrets).  siftd first counts them (a dry run of the\n"
    "same request); sift shows the count and the range as siftd read it\n"
    "and asks you to type 'yes'; without a terminal it needs --yes.  One\n"
    "of --from and --to may be left out (an open end).  Needs an admin\n"
    "token.\n"
    "\n" TIME_HELP
    "  --all-time       no range: every matching event ever stored\n"
    "  --match-all      confirms a query that matches every event ('*')\n"
    "  --dry-run        count the matching events, delete nothing\n"
    "  -y, --yes        do not ask\n"
    "  --json           print the server's reply as JSON\n"
    "\n" GLOBAL_HELP;

static const char HELP_STATUS[] =
    "Usage: sift status [OPTIONS]\n"
    "\n"
    "Health, readiness, the token's name and role, store, tiers and ingest\n"
    "sources (with Kafka lag and Redis pending entries).  Exit status 0\n"
    "only when siftd is healthy and ready.  The store needs an admin\n"
    "token, the rest a reader token.\n"
    "\n"
    "  --json           everything as one JSON object\n"
    "\n" GLOBAL_HELP;

static const struct {
    const char *name;
    cli_cmd_cb run;
    const char *summary;
    const char *help;
} COMMANDS[] = {
    {"search", sift__cli_cmd_search, "find events", HELP_SEARCH},
    {"tail", sift__cli_cmd_tail, "follow new events live", HELP_TAIL},
    {"ingest", sift__cli_cmd_ingest, "send events from files or stdin",
     HELP_INGEST},
    {"hist", sift__cli_cmd_hist, "events per interval, as a bar chart",
     HELP_HIST},
    {"terms", sift__cli_cmd_terms, "most common values of a field", HELP_TERMS},
    {"stats", sift__cli_cmd_stats, "numeric statistics of a field", HELP_STATS},
    {"fields", sift__cli_cmd_fields, "the fields of stored events",
     HELP_FIELDS},
    {"patterns", sift__cli_cmd_patterns, "message templates with counts",
     HELP_PATTERNS},
    {"alerts", sift__cli_cmd_alerts, "anomaly alerts; label them", HELP_ALERTS},
    {"delete", sift__cli_cmd_delete, "delete matching events (asks first)",
     HELP_DELETE},
    {"status", sift__cli_cmd_status, "health, store, tiers, sources, lag",
     HELP_STATUS},
};
#define N_COMMANDS (sizeof(COMMANDS) / sizeof(COMMANDS[0]))

static void
usage(FILE *f)
{
    fputs("Usage: sift [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]\n"
          "\n"
          "The command-line client of siftd, the sift log daemon.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fputs("  help CMD   the options of a command (same as sift CMD --help)\n"
          "\n" GLOBAL_HELP "  --version        print the version\n"
          "\n"
          "Exit status: 0 done; 1 the server answered an error, could not be\n"
          "reached, or rejected events; 2 bad usage or configuration.\n"
          "See sift(1) and docs/cli.md.\n",
          f);
}

static void
on_signal(int sig)
{
    (void)sig;
    sift__cli_interrupted = 1;
}

static int
find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name))
            return (int)i;
    return -1;
}

static int
unknown_command(const char *name)
{
    const char *names[N_COMMANDS + 2];
    for (size_t i = 0; i < N_COMMANDS; i++)
        names[i] = COMMANDS[i].name;
    names[N_COMMANDS] = "help";
    names[N_COMMANDS + 1] = NULL;
    const char *s = sift__cli_suggest(name, names);
    fprintf(stderr, "sift: unknown command '%s'%s%s%s (see 'sift --help')\n",
            name, s ? "; did you mean '" : "", s ? s : "", s ? "'?" : "");
    return CLI_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: waits return EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct cli_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.command = "sift";
    ctx.flags.timeout_s = -1;
    ctx.flags.retries = -1;

    /* Global options before the command: stop at the first operand. */
    static const struct option opts[] = {{"version", no_argument, NULL, 'V'},
                                         CLI_GLOBAL_OPTIONS};
    static char help_all[1];
    ctx.help = help_all;
    int c, rc;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        if (c == 'V') {
            printf("sift %s\n", SIFT_VERSION);
            return CLI_EXIT_OK;
        }
        if (c == 'h') {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        rc = sift__cli_opt_common(&ctx, c, argv, opts);
        if (rc != CLI_CONTINUE)
            return rc;
    }
    if (optind >= argc) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (!strcmp(name, "help")) {
        if (optind + 1 >= argc) {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        int k = find_command(argv[optind + 1]);
        if (k < 0)
            return unknown_command(argv[optind + 1]);
        fputs(COMMANDS[k].help, stdout);
        return CLI_EXIT_OK;
    }
    int k = find_command(name);
    if (k < 0)
        return unknown_command(name);
    ctx.command = COMMANDS[k].name;
    ctx.help = COMMANDS[k].help;
    /* The command parses argv from its name on (argv[0] = the name). */
    rc = COMMANDS[k].run(&ctx, argc - optind, argv + optind);
    if (fflush(stdout) != 0 && !ferror(stdout))
        rc = CLI_EXIT_FAIL;
    sift__cli_ctx_cleanup(&ctx);
    if (sift__cli_interrupted && !strcmp(ctx.command, "tail"))
        return CLI_EXIT_OK;
    return rc < 0 ? CLI_EXIT_FAIL : rc;
}
