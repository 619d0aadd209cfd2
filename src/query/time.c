/*
 * time.c - the request-time parser: from/to bounds of every endpoint that
 * takes a time range (search, export, aggregations, tail, Grafana,
 * patterns, alerts, delete) and the one rule for reversed ranges.
 *
 * Accepted (Elasticsearch's date math, UTC):
 *   anchor  = now | RFC 3339 | YYYY-MM-DD[Thh:mm[:ss[.f]]] (no zone: UTC)
 *             | an epoch number (unit by magnitude, as ingest: s < 1e11 <=
 *             ms < 1e14 <= us < 1e17 <= ns)
 *   expr    = anchor { (+|-)N unit | /unit }      ("||" after a date
 *             anchor, as Elasticsearch writes it, is accepted)
 *   unit    = y M w d h H m s   (M month, m minute; w starts on Monday)
 * so "now-15m", "now/d" (start of today), "now-1d/d", "2024-05-01||+1M".
 * Rounding always goes down: from is inclusive and to exclusive, so
 * from=now/d&to=now/d+1d is exactly today.  Calendar work is core/time.c.
 *
 * Pure; any thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sift/clock.h"
#include "sift/error.h"
#include "sift/query.h"
#include "sift/time.h"

#define TIME_HELP "use RFC 3339, epoch s/ms/us/ns, now-15m or now/d"

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_unit(char c)
{
    return c != '\0' && strchr("yMwdhHms", c) != NULL;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDThh:mm[:ss[.f]]" without a zone, as UTC. */
static int
parse_local(const char *s, size_t len, int64_t *out)
{
    char buf[48];
    if (len == 10) {
        snprintf(buf, sizeof(buf), "%.10sT00:00:00Z", s);
    } else if (len == 16 && (s[10] == 'T' || s[10] == ' ')) {
        snprintf(buf, sizeof(buf), "%.16s:00Z", s);
    } else if (len >= 19 && len < sizeof(buf) - 1 &&
               (s[10] == 'T' || s[10] == ' ')) {
        snprintf(buf, sizeof(buf), "%.*sZ", (int)len, s);
    } else {
        return SIFT_EINVAL;
    }
    return sift_time_parse_rfc3339(buf, strlen(buf), out);
}

/* The anchor of s[0..len): now, a date or an epoch number. */
static int
parse_anchor(const char *s, size_t len, int64_t now_ns, int64_t *out)
{
    if (len == 3 && memcmp(s, "now", 3) == 0) {
        *out = now_ns;
        return SIFT_OK;
    }
    if (sift_time_parse_epoch(s, len, out, NULL) == SIFT_OK)
        return SIFT_OK;
    if (sift_time_parse_rfc3339(s, len, out) == SIFT_OK)
        return SIFT_OK;
    return parse_local(s, len, out);
}

/*
 * Parses s; on failure writes why (a phrase naming what is wrong) and
 * returns SIFT_EINVAL.
 */
static int
parse_math(const char *s, int64_t now_ns, int64_t *out, char *why,
           size_t why_len)
{
    size_t len = strlen(s);
    size_t anchor_len, i;
    if (strncmp(s, "now", 3) == 0) {
        anchor_len = 3;
        i = 3;
    } else {
        const char *bars = strstr(s, "||");
        anchor_len = bars != NULL ? (size_t)(bars - s) : len;
        i = bars != NULL ? anchor_len + 2 : len;
        if (bars != NULL && i == len) {
            snprintf(why, why_len, "nothing after '||'");
            return SIFT_EINVAL;
        }
    }
    int64_t t;
    if (parse_anchor(s, anchor_len, now_ns, &t) < 0) {
        snprintf(why, why_len, "not a time");
        return SIFT_EINVAL;
    }
    while (i < len) {
        char op = s[i++];
        if (op == '/') {
            if (i >= len || !is_unit(s[i])) {
                snprintf(why, why_len,
                         "expected a unit after '/' at %zu (y M w d h m s)", i);
                return SIFT_EINVAL;
            }
            if (sift_time_round_down(t, s[i], &t) < 0) {
                snprintf(why, why_len, "out of range");
                return SIFT_EINVAL;
            }
            i++;
            continue;
        }
        if (op != '+' && op != '-') {
            snprintf(why, why_len,
                     "unexpected '%c' at %zu (expected +N, -N or /unit)", op,
                     i - 1);
            return SIFT_EINVAL;
        }
        int64_t n = 0;
        size_t start = i;
        for (; i < len && is_digit(s[i]); i++) {
            if (n > INT64_C(100000000000))
                break;
            n = n * 10 + (s[i] - '0');
        }
        if (i == start) {
            snprintf(why, why_len, "expected a number after '%c' at %zu", op,
                     start);
            return SIFT_EINVAL;
        }
        if (i >= len || !is_unit(s[i])) {
            snprintf(why, why_len,
                     "expected a unit at %zu (y M w d h m s: 15m is 15 "
                     "minutes, 1M one month)",
                     i);
            return SIFT_EINVAL;
        }
        if (sift_time_add(t, op == '-' ? -n : n, s[i], &t) < 0) {
            snprintf(why, why_len, "out of range");
            return SIFT_EINVAL;
        }
        i++;
    }
    *out = t;
    return SIFT_OK;
}

int
sift_query_time_parse(const char *s, int64_t now_ns, int64_t *out_ns)
{
    char why[96];
    if (s == NULL || *s == '\0')
        return SIFT_EINVAL;
    return parse_math(s, now_ns, out_ns, why, sizeof(why));
}

int
sift_query_time_explain(const char *s, char *why, size_t why_len)
{
    int64_t v;
    if (s == NULL || *s == '\0') {
        snprintf(why, why_len, "empty; " TIME_HELP);
        return SIFT_EINVAL;
    }
    char what[96];
    if (parse_math(s, 0, &v, what, sizeof(what)) == SIFT_OK)
        return SIFT_OK;
    snprintf(why, why_len, "%.90s; " TIME_HELP, what);
    return SIFT_EINVAL;
}

int
sift_query_time_bound(const char *name, const char *s, int64_t now_ns,
                      int64_t *out_ns, struct sift_query_error *err)
{
    char why[96];
    if (s == NULL || *s == '\0' ||
        parse_math(s, now_ns, out_ns, why, sizeof(why)) < 0) {
        if (s == NULL || *s == '\0')
            snprintf(why, sizeof(why), "empty");
        err->type = "bad_request";
        err->status = 400;
        err->position = -1;
        snprintf(err->reason, sizeof(err->reason),
                 "invalid '%.16s' (%.40s): %.60s; " TIME_HELP, name,
                 s != NULL ? s : "", why);
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

int
sift_query_time_check(const char *from_name, const char *from_text,
                      int64_t from_ns, const char *to_name, const char *to_text,
                      int64_t to_ns, struct sift_query_error *err)
{
    if (from_ns <= to_ns)
        return SIFT_OK;
    struct sift_buf a = SIFT_BUF_INIT, b = SIFT_BUF_INIT;
    sift_time_format_rfc3339(from_ns, 3, &a);
    sift_time_format_rfc3339(to_ns, 3, &b);
    err->type = "invalid_time_range";
    err->status = 400;
    err->position = -1;
    snprintf(err->reason, sizeof(err->reason),
             "'%s' (%.24s = %s) is after '%s' (%.24s = %s): the range is "
             "reversed",
             from_name, from_text, sift_buf_cstr(&a), to_name, to_text,
             sift_buf_cstr(&b));
    sift_buf_cleanup(&a);
    sift_buf_cleanup(&b);
    return SIFT_EINVAL;
}

int
sift_query_time_range(const char *from, const char *to, int64_t now_ns,
                      int64_t *from_ns, int64_t *to_ns,
                      struct sift_query_error *err)
{
    *from_ns = SIFT_TIME_MIN;
    *to_ns = SIFT_TIME_MAX;
    if (from != NULL && *from != '\0' &&
        sift_query_time_bound("from", from, now_ns, from_ns, err) < 0)
        return SIFT_EINVAL;
    if (to != NULL && *to != '\0' &&
        sift_query_time_bound("to", to, now_ns, to_ns, err) < 0)
        return SIFT_EINVAL;
    return sift_query_time_check("from", from != NULL ? from : "", *from_ns,
                                 "to", to != NULL ? to : "", *to_ns, err);
}
