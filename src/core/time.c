/*
 * time.c - civil dates, RFC 3339 parse and format, epoch numbers by
 * magnitude, and calendar rounding: the time library every module uses.
 *
 * Design: nanoseconds since the epoch in an int64, UTC.  Day numbers and
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

int
sift_time_parse_rfc3339(const char *s, size_t len, int64_t *out_ns)
{
    unsigned y, mo, d, h, mi, se;
    if (len < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
        s[16] != ':')
        return SIFT_EINVAL;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &se))
        return SIFT_EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > sift_time_days_in_month(y, mo) ||
        h > 23 || mi > 59 || se > 60)
        return SIFT_EINVAL;
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.' || s[i] == ',') {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
                nd++;
            } else if (nd == 9) {
                nd = 10; /* extra digits are cut */
            }
            i++;
        }
        if (nd == 0)
            return SIFT_EINVAL;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int64_t off_s = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
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
    return compose(sift_time_days_from_civil(y, mo, d),
                   (int64_t)h * 3600 + mi * 60 + se - off_s, frac, out_ns);
}

void
sift_time_format_rfc3339(int64_t ts_ns, int frac_digits, struct sift_buf *out)
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
    sift_buf_appendf(out, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)y, m, d,
                     (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
                     (unsigned)(rem % 60));
    if (frac_digits == 3)
        sift_buf_appendf(out, ".%03lld", (long long)(ns / 1000000));
    else if (frac_digits == 6)
        sift_buf_appendf(out, ".%06lld", (long long)(ns / 1000));
    else if (frac_digits == 9)
        sift_buf_appendf(out, ".%09lld", (long long)ns);
    sift_buf_putc(out, 'Z');
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
