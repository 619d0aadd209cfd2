/*
 * time.c - time bounds for queries (from/to) and RFC 3339 output.
 *
 * Accepted: "now", "now-15m" / "now+2h" (units s m h d w), epoch
 * milliseconds, and RFC 3339 with a mandatory zone ("Z" or "+02:00") and
 * up to nine fractional digits.  Everything is integer arithmetic in
 * nanoseconds with overflow checks; no libc time zone is consulted.  Pure;
 * any thread.
 */
#include <stdint.h>
#include <string.h>

#include "sift/clock.h"
#include "sift/error.h"
#include "sift/query.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int
digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SIFT_EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return SIFT_OK;
}

static int
parse_relative(const char *s, int64_t now_ns, int64_t *out)
{
    size_t len = strlen(s);
    if (len == 3) {
        *out = now_ns;
        return SIFT_OK;
    }
    if (len < 5 || (s[3] != '-' && s[3] != '+'))
        return SIFT_EINVAL;
    int64_t n = 0;
    size_t i = 4;
    for (; i < len - 1; i++) {
        if (s[i] < '0' || s[i] > '9' || n > INT64_C(100000000))
            return SIFT_EINVAL;
        n = n * 10 + (s[i] - '0');
    }
    if (i == 4)
        return SIFT_EINVAL;
    int64_t unit;
    switch (s[len - 1]) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return SIFT_EINVAL;
    }
    /* n <= 1e8 keeps n * unit from overflowing; the ns product is checked. */
    int64_t secs = n * unit;
    if (secs > INT64_MAX / SIFT_NS_PER_SEC)
        return SIFT_EINVAL;
    int64_t delta = secs * SIFT_NS_PER_SEC;
    if (s[3] == '-') {
        if (now_ns < INT64_MIN + delta)
            return SIFT_EINVAL;
        *out = now_ns - delta;
    } else {
        if (now_ns > INT64_MAX - delta)
            return SIFT_EINVAL;
        *out = now_ns + delta;
    }
    return SIFT_OK;
}

static int
parse_rfc3339(const char *s, int64_t *out)
{
    size_t len = strlen(s);
    unsigned y, mo, d, h, mi, se;
    if (len < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return SIFT_EINVAL;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &se))
        return SIFT_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return SIFT_EINVAL;
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
                nd++;
            }
            i++;
        }
        if (nd == 0)
            return SIFT_EINVAL;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int64_t off_s = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        off_s = 0;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') &&
               s[i + 3] == ':') {
        unsigned oh, om;
        if (digits(s + i + 1, 2, &oh) || digits(s + i + 4, 2, &om) || oh > 23 ||
            om > 59)
            return SIFT_EINVAL;
        off_s = (int64_t)(oh * 3600 + om * 60);
        if (s[i] == '-')
            off_s = -off_s;
    } else {
        return SIFT_EINVAL;
    }
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + se - off_s;
    /* Years 0..9999 keep secs*1e9 within int64 only for ~1678..2262. */
    if (secs > INT64_MAX / SIFT_NS_PER_SEC - 1 ||
        secs < INT64_MIN / SIFT_NS_PER_SEC + 1)
        return SIFT_EINVAL;
    *out = secs * SIFT_NS_PER_SEC + frac;
    return SIFT_OK;
}

int
sift_query_time_parse(const char *s, int64_t now_ns, int64_t *out_ns)
{
    if (!s || !*s)
        return SIFT_EINVAL;
    if (strncmp(s, "now", 3) == 0)
        return parse_relative(s, now_ns, out_ns);
    size_t len = strlen(s);
    size_t i = s[0] == '-' ? 1 : 0;
    int all_digits = len > i;
    for (size_t j = i; j < len; j++)
        if (s[j] < '0' || s[j] > '9')
            all_digits = 0;
    if (all_digits) {
        if (len - i > 16)
            return SIFT_EINVAL; /* beyond year 2262 in ns anyway */
        int64_t ms = 0;
        for (size_t j = i; j < len; j++)
            ms = ms * 10 + (s[j] - '0');
        if (ms > INT64_MAX / SIFT_NS_PER_MS)
            return SIFT_EINVAL;
        *out_ns = (i ? -ms : ms) * SIFT_NS_PER_MS;
        return SIFT_OK;
    }
    return parse_rfc3339(s, out_ns);
}

void
sift_query_format_time(int64_t ts_ns, struct sift_buf *out)
{
    int64_t secs = ts_ns / SIFT_NS_PER_SEC;
    int64_t ns = ts_ns % SIFT_NS_PER_SEC;
    if (ns < 0) {
        ns += SIFT_NS_PER_SEC;
        secs--;
    }
    int64_t days = secs / 86400;
    int64_t rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    sift_buf_appendf(out, "%04lld-%02u-%02uT%02u:%02u:%02u.%09lldZ",
                     (long long)y, m, d, (unsigned)(rem / 3600),
                     (unsigned)(rem / 60 % 60), (unsigned)(rem % 60),
                     (long long)ns);
}
