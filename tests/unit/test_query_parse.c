/*
 * test_query_parse.c - the query lexer, parser and planner: every construct
 * parses to the AST we expect, every error says what and where.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "query/query_int.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/time.h"

/* Parses q and returns its dump in a static buffer (or "ERR"). */
static const char *
dump_of(const char *q)
{
    static char out[1024];
    struct sift_query *query;
    struct sift_query_error err = {0};
    int rc = sift_query_parse(q, strlen(q), NULL, &query, &err);
    if (rc < 0) {
        snprintf(out, sizeof(out), "ERR %s: %s", err.type, err.reason);
        return out;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    sift_query_dump(query, &b);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, b.data);
    sift_buf_cleanup(&b);
    sift_query_free(query);
    return out;
}

static void
test_query_parse_constructs(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "(all)"},
        {"   ", "(all)"},
        {"*", "(all)"},
        {"foo", "(term message \"foo\")"},
        {"Foo Bar", "(and (term message \"Foo\") (term message \"Bar\"))"},
        {"a AND b", "(and (term message \"a\") (term message \"b\"))"},
        {"a && b", "(and (term message \"a\") (term message \"b\"))"},
        {"a OR b", "(or (term message \"a\") (term message \"b\"))"},
        {"a || b", "(or (term message \"a\") (term message \"b\"))"},
        {"NOT a", "(not (term message \"a\"))"},
        {"-a", "(not (term message \"a\"))"},
        {"+a", "(term message \"a\")"},
        {"a -b", "(and (term message \"a\") (not (term message \"b\")))"},
        /* precedence NOT > AND > OR */
        {"a OR b c", "(or (term message \"a\") (and (term message \"b\") "
                     "(term message \"c\")))"},
        {"a b OR c", "(or (and (term message \"a\") (term message \"b\")) "
                     "(term message \"c\"))"},
        {"NOT a OR b", "(or (not (term message \"a\")) (term message \"b\"))"},
        {"(a OR b) c", "(and (term message \"c\") (or (term message \"a\") "
                       "(term message \"b\")))"},
        {"a AND (b AND c)", "(and (term message \"a\") (term message \"b\") "
                            "(term message \"c\"))"},
        {"a OR (b OR c) OR d",
         "(or (term message \"a\") (term message \"b\") (term message \"c\") "
         "(term message \"d\"))"},
        {"NOT NOT a", "(not (not (term message \"a\")))"},
        {"\"disk full\"", "(phrase message \"disk full\")"},
        {"\"say \\\"hi\\\"\"", "(phrase message \"say \\\"hi\\\"\")"},
        {"10.2.3.44", "(term message \"10.2.3.44\")"},
        {"level:error", "(term level \"error\")"},
        {"host.name:web-1", "(term host.name \"web-1\")"},
        {"time:10:30", "(term time \"10:30\")"},
        {"level: error", "(term level \"error\")"},
        {"msg:\"a b\"", "(phrase msg \"a b\")"},
        {"pay*", "(prefix message \"pay\")"},
        {"host:web*", "(prefix host \"web\")"},
        {"us?r", "(wildcard message \"us?r\")"},
        {"a*b", "(wildcard message \"a*b\")"},
        {"*ab", "(wildcard message \"*ab\")"},
        {"a\\*b", "(term message \"a*b\")"},
        {"a\\*", "(term message \"a*\")"},
        {"a\\:b", "(term message \"a:b\")"},
        {"path:\\/var\\/log", "(term path \"/var/log\")"},
        {"/ab+c/", "(regex message \"ab+c\")"},
        {"status:/5\\d\\d/", "(regex status \"5\\\\d\\\\d\")"},
        {"path:/a\\/b/", "(regex path \"a/b\")"},
        {"status:>=500", "(range status [500 *])"},
        {"status:>500", "(range status {500 *])"},
        {"status:<=500", "(range status [* 500])"},
        {"status:<500", "(range status [* 500})"},
        {"d:[100 TO 500]", "(range d [100 500])"},
        {"d:{100 TO 500}", "(range d {100 500})"},
        {"d:[100 TO 500}", "(range d [100 500})"},
        {"d:[* TO 5]", "(range d [* 5])"},
        {"d:{* TO *}", "(range d [* *])"},
        {"d:[-1.5 TO 2e3]", "(range d [-1.5 2000])"},
        {"temp:-5", "(term temp \"-5\")"},
        {"_exists_:host", "(exists host)"},
        {"host:*", "(exists host)"},
        {"host:(a OR b)", "(or (term host \"a\") (term host \"b\"))"},
        {"host:(web* -db)",
         "(and (prefix host \"web\") (not (term host \"db\")))"},
        {"level:error AND NOT (service:api OR service:web) status:>=500",
         "(and (term level \"error\") (range status [500 *]) "
         "(not (or (term service \"api\") (term service \"web\"))))"},
        {"\"and\" \"or\" \"not\"",
         "(and (phrase message \"and\") (phrase message \"or\") "
         "(phrase message \"not\"))"},
        {"a or b and not c",
         "(or (term message \"a\") (and (term message \"b\") (not (term "
         "message \"c\"))))"},
        {"level:(error or warn)",
         "(or (term level \"error\") (term level \"warn\"))"},
        {"level:error^2", "(term level \"error\")"},
        {"error^1.5 \"a b\"^3", "(and (term message \"error\") (phrase "
                                "message \"a b\"))"},
        {"(a b)^2", "(and (term message \"a\") (term message \"b\"))"},
        {"\"card declined\"~2", "(phrase message \"card declined\" ~2)"},
        {"\"a b\"~3^2", "(phrase message \"a b\" ~3)"},
        {"x\\^2 y\\~", "(and (term message \"y~\") (term message \"x^2\"))"},
        {"a~b ~x", "(and (term message \"~x\") (term message \"a~b\"))"},
        {"x:or", "(term x \"or\")"},
        {"AND:x", "(term AND \"x\")"},
        {"a\tb\n", "(and (term message \"a\") (term message \"b\"))"},
        /* KQL comparisons without a colon; text that only looks alike
         * stays text. */
        {"duration_ms > 10", "(range duration_ms {10 *])"},
        {"duration_ms>=10", "(range duration_ms [10 *])"},
        {"d<-2.5", "(range d [* -2.5})"},
        {"http.latency <= 1e3", "(range http.latency [* 1000])"},
        {"(a>5 OR b<5)", "(or (range a {5 *]) (range b [* 5}))"},
        {"a>b", "(term message \"a>b\")"},
        {"x > y", "(and (term message \"x\") (term message \">\") "
                  "(term message \"y\"))"},
        {"5 > 3", "(and (term message \"5\") (term message \">\") "
                  "(term message \"3\"))"},
        {"a->b", "(term message \"a->b\")"},
        {"n > 5x", "(and (term message \"n\") (term message \">\") "
                   "(term message \"5x\"))"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = dump_of(cases[i][0]);
        if (strcmp(got, cases[i][1]) != 0)
            fail_msg("query [%s]\n  got      %s\n  expected %s", cases[i][0],
                     got, cases[i][1]);
    }
}

struct err_case {
    const char *q;
    const char *type;
    int32_t pos;
    const char *reason;
};

static void
test_query_parse_errors(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        {"(a OR b", "query_parse", 7, "expected ')' at 7 (to close '(' at 0)"},
        {"a)", "query_parse", 1, "unexpected ')' at 1"},
        {")", "query_parse", 0, "expected a term at 0"},
        {"()", "query_parse", 1, "expected a term at 1"},
        {"OR a", "query_parse", 0, "expected a term at 0"},
        {"a OR", "query_parse", 4, "expected a term after OR at 4"},
        {"a OR OR b", "query_parse", 5, "expected a term after OR at 5"},
        {"a AND", "query_parse", 5, "expected a term after AND at 5"},
        {"a AND OR b", "query_parse", 6, "expected a term after AND at 6"},
        {"NOT", "query_parse", 3, "expected a term after NOT at 3"},
        {"a -", "query_parse", 3, "expected a term after '-' at 3"},
        {"a - b", "query_parse", 3, "expected a term directly after '-' at 3"},
        {"+ b", "query_parse", 1, "expected a term directly after '+' at 1"},
        {"+", "query_parse", 1, "expected a term after '+' at 1"},
        {"\"abc", "query_parse", 0, "unterminated phrase at 0"},
        {"x \"abc\\\"", "query_parse", 2, "unterminated phrase at 2"},
        {"/abc", "query_parse", 0, "unterminated regex at 0"},
        {"abc\\", "query_parse", 3, "dangling '\\' at 3"},
        {":x", "query_parse", 0, "expected a field name before ':' at 0"},
        {"a :x", "query_parse", 2, "expected a field name before ':' at 2"},
        {"f*:x", "query_parse", 0,
         "wildcards are not allowed in a field name at 0"},
        {"level:", "query_parse", 6, "expected a value after 'level:' at 6"},
        {"level:)", "query_parse", 6, "expected a value after 'level:' at 6"},
        {"status:>=", "query_parse", 9, "expected a number after '>=' at 9"},
        {"status:>abc", "query_parse", 8, "expected a number after '>' at 8"},
        {"status:<0x10", "query_parse", 8, "expected a number after '<' at 8"},
        {"error or", "query_parse", 8,
         "expected a term after 'or' (the operator OR; quote it for the word) "
         "at 8"},
        {"a and", "query_parse", 5,
         "expected a term after 'and' (the operator AND; quote it for the "
         "word) at 5"},
        {"not", "query_parse", 3,
         "expected a term after 'not' (the operator NOT; quote it for the "
         "word) at 3"},
        {"card~", "query_parse", 4,
         "fuzzy search ('~' after a word) is not supported at 4; write \\~ "
         "for a literal '~'"},
        {"level:err~1", "query_parse", 9,
         "fuzzy search ('~' after a word) is not supported at 9; write \\~ "
         "for a literal '~'"},
        {"\"a b\"~", "query_parse", 6,
         "expected a number after '~' (\"a b\"~3: the words within 3 moves) "
         "at 6"},
        {"\"a b a\"~2", "query_parse", 0,
         "proximity (\"...\"~N) with a repeated word is not supported at 0"},
        {"d:[1 5]", "query_parse", 5, "expected 'TO' at 5"},
        {"d:[a TO 5]", "query_parse", 3, "expected a number or '*' at 3"},
        {"d:[1 TO]", "query_parse", 7, "expected a number or '*' at 7"},
        {"d:[1 TO 5", "query_parse", 9, "expected ']' or '}' at 9"},
        {"d:[1 TO 5 x", "query_parse", 10, "expected ']' or '}' at 10"},
        {"d:[9 TO 5]", "query_parse", 2,
         "range lower bound above upper bound at 2"},
        {"host:(a", "query_parse", 7, "expected ')' at 7 (to close '(' at 5)"},
        {"_exists_:", "query_parse", 9,
         "expected a field name after '_exists_:' at 9"},
        {"_exists_:ho*", "query_parse", 9,
         "expected a field name after '_exists_:' at 9"},
        {"/a(/", "invalid_regex", 3,
         "invalid regex: missing closing parenthesis at 3"},
        {"x:/[z-a]/", "invalid_regex", 6,
         "invalid regex: range out of order in character class at 6"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct err_case *c = &cases[i];
        struct sift_query *q = NULL;
        struct sift_query_error err = {0};
        int rc = sift_query_parse(c->q, strlen(c->q), NULL, &q, &err);
        if (rc != SIFT_EPARSE || q != NULL || strcmp(err.type, c->type) ||
            err.position != c->pos || strcmp(err.reason, c->reason) ||
            err.status != 400)
            fail_msg("query [%s]: rc %d type %s pos %d reason [%s]; expected "
                     "%s %d [%s]",
                     c->q, rc, err.type ? err.type : "-", err.position,
                     err.reason, c->type, c->pos, c->reason);
    }
}

static void
test_query_parse_depth_limit(void **state)
{
    (void)state;
    char q[400];
    size_t n = 0;
    for (int i = 0; i < 100; i++)
        q[n++] = '(';
    q[n++] = 'a';
    for (int i = 0; i < 100; i++)
        q[n++] = ')';
    struct sift_query *query;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse(q, n, NULL, &query, &err), SIFT_EPARSE);
    assert_string_equal(err.reason, "query nested too deeply (max 64) at 64");
    /* 60 levels are fine. */
    assert_int_equal(sift_query_parse(q + 40, n - 80, NULL, &query, &err),
                     SIFT_OK);
    sift_query_free(query);

    /* 65 tokens in one phrase is over the limit; 64 is fine. */
    n = 0;
    q[n++] = 'x';
    q[n++] = ':';
    q[n++] = '"';
    for (int i = 0; i < 65; i++) {
        q[n++] = 'a';
        q[n++] = ' ';
    }
    q[n++] = '"';
    assert_int_equal(sift_query_parse(q, n, NULL, &query, &err), SIFT_EPARSE);
    assert_string_equal(err.reason, "phrase longer than 64 tokens at 2");
    q[n - 3] = '"';
    assert_int_equal(sift_query_parse(q, n - 2, NULL, &query, &err), SIFT_OK);
    sift_query_free(query);

    memset(q, '-', 200);
    q[200] = 'a';
    assert_int_equal(sift_query_parse(q, 201, NULL, &query, &err), SIFT_EPARSE);
    assert_string_equal(err.type, "query_parse");
}

static void
test_query_parse_length_limit(void **state)
{
    (void)state;
    struct sift_query_limits lim = {.max_query_bytes = 8};
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse("abcdefgh", 8, &lim, &q, &err), SIFT_OK);
    sift_query_free(q);
    assert_int_equal(sift_query_parse("abcdefghi", 9, &lim, &q, &err),
                     SIFT_ELIMIT);
    assert_null(q);
    assert_string_equal(err.type, "query_too_long");
    assert_int_equal(err.position, -1);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.reason,
                        "query is 9 bytes, over the limit max_query_bytes=8");
}

static void
test_query_parse_not_nul_terminated(void **state)
{
    (void)state;
    const char buf[] = {'a', ' ', 'b', 'X'};
    struct sift_query *q;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse(buf, 3, NULL, &q, &err), SIFT_OK);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_query_dump(q, &b);
    assert_string_equal(sift_buf_cstr(&b),
                        "(and (term message \"a\") (term message \"b\"))");
    sift_buf_cleanup(&b);
    sift_query_free(q);
}

/* The planner: tokens, lowercase, numbers, and cheapest-first ANDs. */
static void
test_query_plan_prepares_leaves(void **state)
{
    (void)state;
    struct sift_query *q;
    struct sift_query_error err = {0};
    const char *s = "User_ID=42 Status:500 \"Disk FULL\"";
    assert_int_equal(sift_query_parse(s, strlen(s), NULL, &q, &err), SIFT_OK);
    struct sift_qnode *root = q->root;
    assert_int_equal(root->kind, SIFT_QN_AND);
    assert_int_equal(root->n_kids, 3);
    /* Single-token term first, then the multi-token ones in query order. */
    struct sift_qnode *status = root->kids[0];
    assert_string_equal(status->field, "Status");
    assert_int_equal(status->is_number, 1);
    assert_true(status->number == 500.0);
    struct sift_qnode *word = root->kids[1];
    assert_int_equal(word->n_toks, 3);
    assert_string_equal(word->toks[0], "user");
    assert_string_equal(word->toks[1], "id");
    assert_string_equal(word->toks[2], "42");
    assert_string_equal(word->lower, "user_id=42");
    struct sift_qnode *phrase = root->kids[2];
    assert_int_equal(phrase->kind, SIFT_QN_PHRASE);
    assert_int_equal(phrase->n_toks, 2);
    assert_string_equal(phrase->toks[1], "full");
    sift_query_free(q);

    s = "NOT a d:[1 TO 2] /x.*/ b* c";
    assert_int_equal(sift_query_parse(s, strlen(s), NULL, &q, &err), SIFT_OK);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_query_dump(q, &b);
    assert_string_equal(sift_buf_cstr(&b),
                        "(and (term message \"c\") (prefix message \"b\") "
                        "(regex message \"x.*\") (range d [1 2]) "
                        "(not (term message \"a\")))");
    assert_non_null(q->root->kids[2]->re);
    sift_buf_cleanup(&b);
    sift_query_free(q);
}

static void
test_query_lexer_modes(void **state)
{
    (void)state;
    struct sift_qlexer lx;
    struct sift_qtok t;
    const char *s = "a:b<=5 [1 TO 2]";
    sift__query_lex_init(&lx, s, strlen(s));
    sift__query_lex_next(&lx, 0, &t);
    assert_int_equal(t.kind, SIFT_QT_WORD);
    assert_int_equal(t.is_field, 1);
    assert_int_equal(t.len, 1);
    sift__query_lex_next(&lx, SIFT_QLEX_VALUE, &t);
    assert_int_equal(t.kind, SIFT_QT_WORD); /* "b<=5": '<' only starts ops */
    assert_int_equal(t.len, 4);
    sift__query_lex_next(&lx, SIFT_QLEX_VALUE, &t);
    assert_int_equal(t.kind, SIFT_QT_LRANGE);
    sift__query_lex_next(&lx, SIFT_QLEX_RANGE, &t);
    assert_int_equal(t.kind, SIFT_QT_WORD);
    sift__query_lex_next(&lx, SIFT_QLEX_RANGE, &t);
    assert_int_equal(t.kind, SIFT_QT_TO);
    sift__query_lex_next(&lx, SIFT_QLEX_RANGE, &t);
    assert_int_equal(t.kind, SIFT_QT_WORD);
    assert_int_equal(t.pos, 13);
    sift__query_lex_next(&lx, SIFT_QLEX_RANGE, &t);
    assert_int_equal(t.kind, SIFT_QT_RRANGE);
    sift__query_lex_next(&lx, 0, &t);
    assert_int_equal(t.kind, SIFT_QT_EOF);
    assert_int_equal(t.pos, 15);
}

static void
test_query_wild_match(void **state)
{
    (void)state;
    static const struct {
        const char *pat, *s;
        int want;
    } cases[] = {
        {"us?r", "user", 1}, {"us?r", "usr", 0},  {"us?r", "users", 0},
        {"a*b", "ab", 1},    {"a*b", "axxb", 1},  {"a*b", "axxbc", 0},
        {"*", "", 1},        {"*a*", "bab", 1},   {"*a*", "bbb", 0},
        {"a\\*b", "a*b", 1}, {"a\\*b", "axb", 0}, {"a\\?", "a?", 1},
        {"**x", "yyx", 1},   {"?", "", 0},        {"a*b*c", "abbbcbc", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = sift__query_wild_match(cases[i].pat, strlen(cases[i].pat),
                                         cases[i].s, strlen(cases[i].s));
        if (got != cases[i].want)
            fail_msg("%s vs %s: %d", cases[i].pat, cases[i].s, got);
    }
}

static void
test_query_time_parse(void **state)
{
    (void)state;
    const int64_t now = INT64_C(1714557600) * SIFT_NS_PER_SEC;
    int64_t v;
    assert_int_equal(sift_query_time_parse("now", now, &v), SIFT_OK);
    assert_true(v == now);
    assert_int_equal(sift_query_time_parse("now-15m", now, &v), SIFT_OK);
    assert_true(v == now - INT64_C(900) * SIFT_NS_PER_SEC);
    assert_int_equal(sift_query_time_parse("now+2h", now, &v), SIFT_OK);
    assert_true(v == now + INT64_C(7200) * SIFT_NS_PER_SEC);
    assert_int_equal(sift_query_time_parse("now-7d", now, &v), SIFT_OK);
    assert_true(v == now - INT64_C(7) * 86400 * SIFT_NS_PER_SEC);
    assert_int_equal(sift_query_time_parse("now-1w", now, &v), SIFT_OK);
    assert_true(v == now - INT64_C(7) * 86400 * SIFT_NS_PER_SEC);
    assert_int_equal(sift_query_time_parse("now-30s", now, &v), SIFT_OK);
    assert_true(v == now - INT64_C(30) * SIFT_NS_PER_SEC);
    assert_int_equal(sift_query_time_parse("1714557600000", now, &v), SIFT_OK);
    assert_true(v == now);
    assert_int_equal(sift_query_time_parse("2024-05-01T10:00:00Z", now, &v),
                     SIFT_OK);
    assert_true(v == now);
    assert_int_equal(
        sift_query_time_parse("2024-05-01T12:00:00.5+02:00", now, &v), SIFT_OK);
    assert_true(v == now + SIFT_NS_PER_SEC / 2);
    assert_int_equal(
        sift_query_time_parse("2024-05-01T10:00:00.000000001Z", now, &v),
        SIFT_OK);
    assert_true(v == now + 1);
    static const char *const bad[] = {
        "",
        "now-",
        "now-5",
        "now-5x",
        "now*5m",
        "now/",
        "now/q",
        "12ab",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-05-01||",
        "2024-05-01+1d",
        "-",
        "nowx",
        "2024-05-01T25:00:00Z",
        "99999999999999999999999",
        "1.",
        "now-100000000000000d",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (sift_query_time_parse(bad[i], now, &v) != SIFT_EINVAL)
            fail_msg("accepted [%s]", bad[i]);

    /* Epoch numbers: the unit by magnitude, as ingest reads them. */
    static const struct {
        const char *s;
        int64_t want;
    } epochs[] = {
        {"1796640000", INT64_C(1796640000) * SIFT_NS_PER_SEC},
        {"1714557600", now},
        {"1714557600.5", now + SIFT_NS_PER_SEC / 2},
        {"1714557600000", now},
        {"1714557600000000", now},
        {"1714557600000000000", now},
        {"0", 0},
        {"-86400", -86400 * SIFT_NS_PER_SEC},
    };
    for (size_t i = 0; i < sizeof(epochs) / sizeof(epochs[0]); i++) {
        assert_int_equal(sift_query_time_parse(epochs[i].s, now, &v), SIFT_OK);
        if (v != epochs[i].want)
            fail_msg("%s: %lld", epochs[i].s, (long long)v);
    }
    /* Date math and rounding (now = 2024-05-01T10:00:00Z, a Wednesday). */
    static const struct {
        const char *s, *want;
    } math[] = {
        {"now/d", "2024-05-01T00:00:00.000000000Z"},
        {"now-1d/d", "2024-04-30T00:00:00.000000000Z"},
        {"now/d+1d", "2024-05-02T00:00:00.000000000Z"},
        {"now/M", "2024-05-01T00:00:00.000000000Z"},
        {"now/y", "2024-01-01T00:00:00.000000000Z"},
        {"now/w", "2024-04-29T00:00:00.000000000Z"},
        {"now/h", "2024-05-01T10:00:00.000000000Z"},
        {"now-5y", "2019-05-01T10:00:00.000000000Z"},
        {"now-1M", "2024-04-01T10:00:00.000000000Z"},
        {"now+15m-30s", "2024-05-01T10:14:30.000000000Z"},
        {"now-2H", "2024-05-01T08:00:00.000000000Z"},
        {"2024-01-31||+1M", "2024-02-29T00:00:00.000000000Z"},
        {"2024-05-01", "2024-05-01T00:00:00.000000000Z"},
        {"2024-05-01T10:00", "2024-05-01T10:00:00.000000000Z"},
        {"2024-05-01T10:00:00", "2024-05-01T10:00:00.000000000Z"},
        {"2024-05-01 10:00:00.25", "2024-05-01T10:00:00.250000000Z"},
        {"2024-05-01T10:20:00Z||/h", "2024-05-01T10:00:00.000000000Z"},
        {"1714557600||-1d", "2024-04-30T10:00:00.000000000Z"},
    };
    struct sift_buf b = SIFT_BUF_INIT;
    for (size_t i = 0; i < sizeof(math) / sizeof(math[0]); i++) {
        assert_int_equal(sift_query_time_parse(math[i].s, now, &v), SIFT_OK);
        sift_buf_reset(&b);
        sift_time_format_rfc3339(v, 9, &b);
        if (strcmp(sift_buf_cstr(&b), math[i].want) != 0)
            fail_msg("%s: %s, want %s", math[i].s, sift_buf_cstr(&b),
                     math[i].want);
    }
    sift_buf_reset(&b);
    sift_time_format_rfc3339(now + 5, 9, &b);
    assert_string_equal(sift_buf_cstr(&b), "2024-05-01T10:00:00.000000005Z");
    sift_buf_cleanup(&b);
}

/* What the parser reinterprets is said in warnings, in query order. */
static void
test_query_parse_warnings(void **state)
{
    (void)state;
    static const char q[] = "payment or disk level:error^2 and not x";
    struct sift_query *query;
    struct sift_query_error err = {0};
    assert_int_equal(sift_query_parse(q, strlen(q), NULL, &query, &err),
                     SIFT_OK);
    assert_int_equal(sift_query_warning_count(query), 4);
    assert_string_equal(sift_query_warning(query, 0),
                        "'or' at 8 read as the operator OR (as in KQL); quote "
                        "it (\"or\") to search for the word");
    assert_string_equal(sift_query_warning(query, 1),
                        "boost '^' at 27 ignored: hits are ordered by time, "
                        "not by score (write \\^ for a literal '^')");
    assert_non_null(strstr(sift_query_warning(query, 2), "'and' at 30"));
    assert_non_null(strstr(sift_query_warning(query, 3), "'not' at 34"));
    assert_null(sift_query_warning(query, 4));
    sift_query_free(query);
    assert_int_equal(sift_query_parse("a OR b", 6, NULL, &query, &err),
                     SIFT_OK);
    assert_int_equal(sift_query_warning_count(query), 0);
    sift_query_free(query);
    /* A KQL comparison says how it was read, before what follows it. */
    static const char k[] = "x duration_ms >= 10 or y";
    assert_int_equal(sift_query_parse(k, strlen(k), NULL, &query, &err),
                     SIFT_OK);
    assert_int_equal(sift_query_warning_count(query), 2);
    assert_string_equal(sift_query_warning(query, 0),
                        "'duration_ms >= 10' at 2 read as the range "
                        "duration_ms:>=10 (as in KQL); quote it to search "
                        "for the text");
    assert_non_null(strstr(sift_query_warning(query, 1), "'or' at 20"));
    sift_query_free(query);
}

/* One rule for reversed ranges, naming both ends; bad bounds name theirs. */
static void
test_query_time_range_rules(void **state)
{
    (void)state;
    const int64_t now = INT64_C(1714557600) * SIFT_NS_PER_SEC;
    int64_t f, t;
    struct sift_query_error err;
    assert_int_equal(sift_query_time_range("now-1h", "now", now, &f, &t, &err),
                     SIFT_OK);
    assert_true(f == now - 3600 * SIFT_NS_PER_SEC && t == now);
    assert_int_equal(sift_query_time_range(NULL, "", now, &f, &t, &err),
                     SIFT_OK);
    assert_true(f == SIFT_TIME_MIN && t == SIFT_TIME_MAX);
    assert_int_equal(sift_query_time_range("now", "now", now, &f, &t, &err),
                     SIFT_OK); /* empty, not reversed */
    assert_int_equal(sift_query_time_range("now", "now-1h", now, &f, &t, &err),
                     SIFT_EINVAL);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, "invalid_time_range");
    assert_string_equal(err.reason,
                        "'from' (now = 2024-05-01T10:00:00.000Z) is after "
                        "'to' (now-1h = 2024-05-01T09:00:00.000Z): the range "
                        "is reversed");
    assert_int_equal(sift_query_time_range("now-15x", NULL, now, &f, &t, &err),
                     SIFT_EINVAL);
    assert_string_equal(err.type, "bad_request");
    assert_non_null(strstr(err.reason, "invalid 'from' (now-15x)"));
    assert_non_null(strstr(err.reason, "unit"));
    assert_int_equal(
        sift_query_time_range(NULL, "yesterday", now, &f, &t, &err),
        SIFT_EINVAL);
    assert_non_null(strstr(err.reason, "invalid 'to' (yesterday): not a time"));
}

static void
test_query_matches_all(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "",
        "*",
        "  ",
        "(*)",
        "* OR jane",
        "jane OR *",
        "NOT NOT *",
        "-(-*)",
        "* AND *",
        "(* OR x) AND (y OR *)",
        "jane OR NOT jane",
        "NOT jane OR jane",
        "service:api OR -service:api",
        "-(a AND -a)",
        "NOT (x AND NOT x)",
        "(a OR b) OR NOT (a OR b)",
        "(a OR b) OR NOT (b OR a)",
    };
    static const char *const no[] = {
        "jane",
        "* AND jane",
        "NOT *",
        "message:*",
        "_exists_:host",
        "jane OR NOT janet",
        "service:api OR -service:web",
        "a AND NOT a",
        "NOT (a OR NOT a)",
        "status:>=0",
        "jane*",
        "/.*/",
        "(a OR b) OR NOT (a OR c)",
    };
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        struct sift_query *q = NULL;
        struct sift_query_error err;
        assert_int_equal(
            sift_query_parse(yes[i], strlen(yes[i]), NULL, &q, &err), SIFT_OK);
        if (!sift_query_matches_all(q))
            fail_msg("\"%s\" should match all", yes[i]);
        sift_query_free(q);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct sift_query *q = NULL;
        struct sift_query_error err;
        assert_int_equal(sift_query_parse(no[i], strlen(no[i]), NULL, &q, &err),
                         SIFT_OK);
        if (sift_query_matches_all(q))
            fail_msg("\"%s\" should not match all", no[i]);
        sift_query_free(q);
    }
    assert_false(sift_query_matches_all(NULL));
}

/* A fake lister: 7 and 9 were merged into 8; 5 stands alone. */
static size_t
fake_ids(void *arg, uint32_t id, uint32_t *ids, size_t max)
{
    int *calls = arg;
    (*calls)++;
    if (id == 5 || max < 3)
        return ids[0] = id, 1;
    ids[0] = 8;
    ids[1] = 7;
    ids[2] = 9;
    return 3;
}

static void
test_query_parse_template_id_aliases(void **state)
{
    (void)state;
    int calls = 0;
    assert_string_equal(dump_of("_template_id:7"), "(term _template_id \"7\")");
    sift_query_set_template_ids(fake_ids, &calls);
    assert_string_equal(dump_of("_template_id:7"),
                        "(or (term _template_id \"8\") (term _template_id "
                        "\"7\") (term _template_id \"9\"))");
    assert_string_equal(dump_of("_template_id:5 error"),
                        "(and (term _template_id \"5\") (term message "
                        "\"error\"))");
    assert_string_equal(
        dump_of("NOT _template_id:(9 OR x)"),
        "(not (or (or (term _template_id \"8\") (term _template_id \"7\") "
        "(term _template_id \"9\")) (term _template_id \"x\")))");
    assert_string_equal(dump_of("_template_id:>=7"),
                        "(range _template_id [7 *])");
    assert_int_equal(calls, 3);
    sift_query_set_template_ids(NULL, NULL);
    assert_string_equal(dump_of("_template_id:7"), "(term _template_id \"7\")");
    assert_int_equal(calls, 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_parse_constructs),
        cmocka_unit_test(test_query_time_range_rules),
        cmocka_unit_test(test_query_parse_warnings),
        cmocka_unit_test(test_query_parse_errors),
        cmocka_unit_test(test_query_parse_depth_limit),
        cmocka_unit_test(test_query_parse_length_limit),
        cmocka_unit_test(test_query_parse_not_nul_terminated),
        cmocka_unit_test(test_query_parse_template_id_aliases),
        cmocka_unit_test(test_query_plan_prepares_leaves),
        cmocka_unit_test(test_query_lexer_modes),
        cmocka_unit_test(test_query_wild_match),
        cmocka_unit_test(test_query_time_parse),
        cmocka_unit_test(test_query_matches_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
