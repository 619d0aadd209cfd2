/*
 * time.c - civil dates, RFC 3339 parse and format, epoch numbers by
 * magnitude, and calendar rounding: the time library every module uses.
 *
 * Design: nanoseconds since the epoch in an int64, UTC.  One RFC 3339
 * scanner serves both the strict form users type (queries, state files)
 * and, with SIFT_TIME_LENIENT, the zone-less and "+hhmm" forms loggers
 * write (parse/text.c tries it on every candidate token), so the two
 * never drift apart.  Day numbers and
 * dates convert with H. Hinnant's era algorithms (exact for every int64
 * day count we can reach); months and years are calendar units only in
 * sift_time_add() and sift_time_round_down(), everything else is fixed
 * lengths.  The epoch-number rule (s < 1e11 <= ms < 1e14 <= us < 1e17 <=
 * ns) is the one ingest applies to timestamps and queries apply to
 * from/to, so one number means one time everywhere.
 *
 * Invariants: no function reads the clock or the time zone; every
 * multiplication into nanoseconds is range-checked first.
 *
 * Threads: pure; any thread.
 */
#include <stdio.h>
#include <string.h>

#include "sift/clock.h"
#include "sift/error.h"
#include "sift/time.h"

/* ---------------------------------------------------------------------- */
/* Civil dates                                                             */
/* ---------------------------------------------------------------------- */

int64_t
sift_time_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mm = (int64_t)m + (m > 2 ? -3 : 9);
    int64_t doy = (153 * mm + 2) / 5 + (int64_t)d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void
sift_time_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

unsigned
sift_time_days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30,
                                    31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12)
        return 0;
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Splits ts_ns into a day number and the ns into that day (>= 0). */
static void
split_day(int64_t ts_ns, int64_t *days, int64_t *in_day)
{
    *days = ts_ns / SIFT_NS_PER_DAY;
    *in_day = ts_ns % SIFT_NS_PER_DAY;
    if (*in_day < 0) {
        *in_day += SIFT_NS_PER_DAY;
        (*days)--;
    }
}

/* The date of ts_ns and the ns into that day. */
static void
civil_of(int64_t ts_ns, int64_t *y, unsigned *m, unsigned *d, int64_t *in_day)
{
    int64_t days;
    split_day(ts_ns, &days, in_day);
    sift_time_civil_from_days(days, y, m, d);
}

/* Seconds of a day, date and time to ns; SIFT_EINVAL out of range. */
static int
compose(int64_t days, int64_t sec_of_day, int64_t frac_ns, int64_t *out)
{
    /* |days| <= 106751 keeps days * 86400 * 1e9 inside int64. */
    if (days > 106752 || days < -106752)
        return SIFT_EINVAL;
    int64_t secs = days * 86400 + sec_of_day;
    if (secs > INT64_MAX / SIFT_NS_PER_SEC - 1 ||
        secs < INT64_MIN / SIFT_NS_PER_SEC + 1)
        return SIFT_EINVAL;
    *out = secs * SIFT_NS_PER_SEC + frac_ns;
    return SIFT_OK;
}

/* ---------------------------------------------------------------------- */
/* RFC 3339                                                                */
/* ---------------------------------------------------------------------- */

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int
sift_time_scan_digits(const char *s, size_t len, size_t *i, unsigned n,
                      unsigned *out)
{
    unsigned v = 0;
    if (*i + n > len)
        return 0;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];
        if (!is_digit(c))
            return 0;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *out = v;
    return 1;
}

int64_t
sift_time_scan_fraction(const char *s, size_t len, size_t *i)
{
    if (*i + 1 >= len || (s[*i] != '.' && s[*i] != ',') || !is_digit(s[*i + 1]))
        return 0;
    (*i)++;
    int64_t v = 0;
    unsigned n = 0;
    while (*i < len && is_digit(s[*i])) {
        if (n < 9) {
            v = v * 10 + (s[*i] - '0');
            n++;
        }
        (*i)++;
    }
    while (n++ < 9)
        v *= 10;
    return v;
}

static int
lit(const char *s, size_t len, size_t *i, char c)
{
    if (*i < len && s[*i] == c) {
        (*i)++;
        return 1;
    }
    return 0;
}

/*
 * The zone at s[*i]: "Z" or "+hh:mm" (and, lenient, none, "+hhmm" or
 * "+hh").  0 on a malformed zone, or a missing one when strict.
 */
static int
zone(const char *s, size_t len, size_t *i, unsigned flags, int64_t *off_s)
{
    int lenient = (flags & SIFT_TIME_LENIENT) != 0;
    *off_s = 0;
    if (*i < len && (s[*i] == 'Z' || s[*i] == 'z')) {
        (*i)++;
        return 1;
    }
    if (!(*i < len && (s[*i] == '+' || s[*i] == '-') && *i + 2 < len &&
          is_digit(s[*i + 1])))
        return lenient;
    int sign = s[*i] == '-' ? -1 : 1;
    size_t j = *i + 1;
    unsigned hh, mm = 0;
    if (!sift_time_scan_digits(s, len, &j, 2, &hh))
        return 0;
    if (j < len && s[j] == ':') {
        j++;
        if (!sift_time_scan_digits(s, len, &j, 2, &mm))
            return 0;
    } else if (!lenient) {
        return 0;
    } else if (j + 1 < len && is_digit(s[j])) {
        if (!sift_time_scan_digits(s, len, &j, 2, &mm))
            return 0;
    }
    if (hh > 23 || mm > 59)
        return 0;
    *off_s = sign * (int64_t)(hh * 3600 + mm * 60);
    *i = j;
    return 1;
}

size_t
sift_time_scan_rfc3339(const char *s, size_t len, unsigned flags,
                       int64_t *out_ns)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, se;
    if (!sift_time_scan_digits(s, len, &i, 4, &y) || !lit(s, len, &i, '-') ||
        !sift_time_scan_digits(s, len, &i, 2, &mo) || !lit(s, len, &i, '-') ||
        !sift_time_scan_digits(s, len, &i, 2, &d) || i >= len ||
        (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return 0;
    i++;
    if (!sift_time_scan_digits(s, len, &i, 2, &h) || !lit(s, len, &i, ':') ||
        !sift_time_scan_digits(s, len, &i, 2, &mi) || !lit(s, len, &i, ':') ||
        !sift_time_scan_digits(s, len, &i, 2, &se))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > sift_time_days_in_month(y, mo) ||
        h > 23 || mi > 59 || se > 60)
        return 0;
    int64_t frac = sift_time_scan_fraction(s, len, &i);
    int64_t off_s;
    if (!zone(s, len, &i, flags, &off_s))
        return 0;
    if (compose(sift_time_days_from_civil(y, mo, d),
                (int64_t)h * 3600 + (int64_t)mi * 60 + se - off_s, frac,
                out_ns) < 0)
        return 0;
    return i;
}

int
sift_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ns)
{
    int64_t ns;
    size_t n = sift_time_scan_rfc3339(s, len, 0, &ns);
    if (n == 0 || n != len)
        return SIFT_EINVAL;
    *out_ns = ns;
    return SIFT_OK;
}

size_t
sift_time_print_rfc3339(int64_t ts_ns, int frac_digits, char *buf, size_t cap)
{
    int64_t secs = ts_ns / SIFT_NS_PER_SEC;
    int64_t ns = ts_ns % SIFT_NS_PER_SEC;
    if (ns < 0) {
        ns += SIFT_NS_PER_SEC;
        secs--;
    }
    int64_t days = floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    sift_time_civil_from_days(days, &y, &m, &d);
    char frac[12] = "";
    if (frac_digits == 3)
        snprintf(frac, sizeof(frac), ".%03lld", (long long)(ns / 1000000));
    else if (frac_digits == 6)
        snprintf(frac, sizeof(frac), ".%06lld", (long long)(ns / 1000));
    else if (frac_digits == 9)
        snprintf(frac, sizeof(frac), ".%09lld", (long long)ns);
    int n = snprintf(buf, cap, "%04lld-%02u-%02uT%02u:%02u:%02u%sZ",
                     (long long)y, m, d, (unsigned)(rem / 3600),
                     (unsigned)(rem / 60 % 60), (unsigned)(rem % 60), frac);
    if (n < 0)
        return 0;
    return (size_t)n < cap ? (size_t)n : (cap > 0 ? cap - 1 : 0);
}

void
sift_time_format_rfc3339(int64_t ts_ns, int frac_digits, struct sift_buf *out)
{
    char tmp[SIFT_TIME_RFC3339_MAX];
    size_t n = sift_time_print_rfc3339(ts_ns, frac_digits, tmp, sizeof(tmp));
    sift_buf_append(out, tmp, n);
}

/* ---------------------------------------------------------------------- */
/* Epoch numbers                                                           */
/* ---------------------------------------------------------------------- */

int
sift_time_parse_epoch(const char *s, size_t len, int64_t *out_ns,
                      const char **unit_out)
{
    size_t i = 0;
    int neg = 0;
    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i >= len || s[i] < '0' || s[i] > '9')
        return SIFT_EINVAL;
    int64_t ip = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (ip > (INT64_MAX - 9) / 10)
            return SIFT_EINVAL;
        ip = ip * 10 + (s[i] - '0');
    }
    int64_t frac = 0, scale = 1;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (scale < INT64_C(1000000000)) {
                frac = frac * 10 + (s[i] - '0');
                scale *= 10;
            }
        }
        if (i == start)
            return SIFT_EINVAL;
    }
    if (i != len)
        return SIFT_EINVAL;
    int64_t unit; /* ns per unit */
    const char *name;
    if (ip < INT64_C(100000000000)) {
        unit = SIFT_NS_PER_SEC;
        name = "s";
    } else if (ip < INT64_C(100000000000000)) {
        unit = SIFT_NS_PER_MS;
        name = "ms";
    } else if (ip < INT64_C(100000000000000000)) {
        unit = 1000;
        name = "us";
    } else {
        unit = 1;
        name = "ns";
    }
    /* Room for the fraction too (it adds less than one unit). */
    if (ip > (INT64_MAX - unit) / unit)
        return SIFT_EINVAL;
    int64_t v = ip * unit + (frac * unit) / scale;
    *out_ns = neg ? -v : v;
    if (unit_out != NULL)
        *unit_out = name;
    return SIFT_OK;
}

/* ---------------------------------------------------------------------- */
/* Calendar arithmetic                                                     */
/* ---------------------------------------------------------------------- */

static int64_t
fixed_unit_ns(char unit)
{
    switch (unit) {
    case 'w': return 7 * SIFT_NS_PER_DAY;
    case 'd': return SIFT_NS_PER_DAY;
    case 'h':
    case 'H': return SIFT_NS_PER_HOUR;
    case 'm': return SIFT_NS_PER_MIN;
    case 's': return SIFT_NS_PER_SEC;
    default: return 0;
    }
}

int
sift_time_round_down(int64_t ts_ns, char unit, int64_t *out_ns)
{
    if (unit == 'y' || unit == 'M') {
        int64_t y, in_day;
        unsigned m, d;
        civil_of(ts_ns, &y, &m, &d, &in_day);
        return compose(sift_time_days_from_civil(y, unit == 'y' ? 1 : m, 1), 0,
                       0, out_ns);
    }
    if (unit == 'w') {
        /* 1970-01-01 was a Thursday: weeks start on Monday, day -3. */
        int64_t days, in_day;
        split_day(ts_ns, &days, &in_day);
        int64_t monday = days - ((days + 3) % 7 + 7) % 7;
        return compose(monday, 0, 0, out_ns);
    }
    int64_t u = fixed_unit_ns(unit);
    if (u == 0)
        return SIFT_EINVAL;
    int64_t q = floor_div(ts_ns, u);
    if (q < INT64_MIN / u)
        return SIFT_EINVAL;
    *out_ns = q * u;
    return SIFT_OK;
}

int
sift_time_add(int64_t ts_ns, int64_t n, char unit, int64_t *out_ns)
{
    if (unit == 'y' || unit == 'M') {
        int64_t y, in_day;
        unsigned m, d;
        civil_of(ts_ns, &y, &m, &d, &in_day);
        if (n > 1000000 || n < -1000000)
            return SIFT_EINVAL;
        int64_t months = y * 12 + (m - 1) + (unit == 'y' ? n * 12 : n);
        int64_t ny = floor_div(months, 12);
        unsigned nm = (unsigned)(months - ny * 12) + 1;
        unsigned dim = sift_time_days_in_month(ny, nm);
        int64_t out;
        if (compose(sift_time_days_from_civil(ny, nm, d < dim ? d : dim), 0, 0,
                    &out) < 0 ||
            out > INT64_MAX - in_day)
            return SIFT_EINVAL;
        *out_ns = out + in_day;
        return SIFT_OK;
    }
    int64_t u = fixed_unit_ns(unit);
    if (u == 0)
        return SIFT_EINVAL;
    if (n > INT64_MAX / u || n < INT64_MIN / u)
        return SIFT_EINVAL;
    int64_t delta = n * u;
    if ((delta > 0 && ts_ns > INT64_MAX - delta) ||
        (delta < 0 && ts_ns < INT64_MIN - delta))
        return SIFT_EINVAL;
    *out_ns = ts_ns + delta;
    return SIFT_OK;
}
