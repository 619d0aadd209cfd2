/*
 * text.c - plain text lines: timestamp sniffing and level sniffing, with
 * the layouts every format shares (dates come from core/time.c).
 *
 * A text event's message is the whole line, unchanged (the timestamp is
 * not stripped: the line stays searchable as it was written and raw ==
 * msg).  The timestamp is looked for at token starts within the first
 * SNIFF_WINDOW bytes and the first SNIFF_TOKENS tokens; the first layout
 * that matches wins (so BGL's epoch column beats its later local-time
 * column).  Layouts without a zone are UTC; layouts without a year take
 * the year of the receive time, or the year before when that would put
 * the event more than a day in the future.  No timestamp: recv time.
 *
 * Level: the first word from a fixed list (INFO, WARN, ERROR...) in the
 * first LEVEL_WINDOW bytes that is upper case, Capitalized, or bracketed
 * ("[error]", "<warn>", "(debug)"); lower-case words in running text are
 * not levels ("in error state").  Normalized to log.level.
 *
 * Pure functions; any thread.
 */
#include <string.h>

#include "sift/clock.h"
#include "sift/error.h"
#include "sift/time.h"

#include "parse/parse_int.h"

#define SNIFF_WINDOW 160
#define SNIFF_TOKENS 8
#define LEVEL_WINDOW 160

/* ------------------------------------------------------------------ */
/* Date arithmetic                                                     */
/* ------------------------------------------------------------------ */

/* The year of ns (UTC). */
static int64_t
year_of_ns(int64_t ns)
{
    int64_t days = ns / SIFT_NS_PER_DAY;
    if (ns < 0 && ns % SIFT_NS_PER_DAY != 0)
        days--;
    int64_t y;
    unsigned m, d;
    sift_time_civil_from_days(days, &y, &m, &d);
    return y;
}

/* Validates the parts and computes ns; false when out of range. */
static bool
make_ns(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
        int64_t frac_ns, int64_t off_s, int64_t *out)
{
    if (y < 1900 || y > 2261 || mo < 1 || mo > 12 || d < 1 ||
        d > sift_time_days_in_month(y, mo) || h > 23 || mi > 59 || s > 60)
        return false;
    int64_t secs = sift_time_days_from_civil(y, mo, d) * 86400 +
                   (int64_t)h * 3600 + (int64_t)mi * 60 + s - off_s;
    *out = secs * SIFT_NS_PER_SEC + frac_ns;
    return true;
}

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
lit(const char *s, size_t len, size_t *i, char c)
{
    if (*i < len && s[*i] == c) {
        (*i)++;
        return true;
    }
    return false;
}

/* hh:mm:ss */
static bool
hms(const char *s, size_t len, size_t *i, unsigned *h, unsigned *m,
    unsigned *sec)
{
    return sift_time_scan_digits(s, len, i, 2, h) && lit(s, len, i, ':') &&
           sift_time_scan_digits(s, len, i, 2, m) && lit(s, len, i, ':') &&
           sift_time_scan_digits(s, len, i, 2, sec);
}

static int
month_from_abbr(const char *s, size_t len, size_t i)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    if (i + 3 > len)
        return 0;
    char a = (char)(s[i] | 0x20), b = (char)(s[i + 1] | 0x20),
         c = (char)(s[i + 2] | 0x20);
    for (int m = 0; m < 12; m++) {
        if (months[(size_t)m * 3] == a && months[(size_t)m * 3 + 1] == b &&
            months[m * 3 + 2] == c)
            return m + 1;
    }
    return 0;
}

/* A year-less date: this year of recv, or the previous one when that
 * lands more than a day after recv. */
static bool
make_ns_noyear(int64_t recv_ns, unsigned mo, unsigned d, unsigned h,
               unsigned mi, unsigned s, int64_t frac, int64_t *out)
{
    int64_t y = year_of_ns(recv_ns);
    int64_t ns;
    if (!make_ns(y, mo, d, h, mi, s, frac, 0, &ns)) {
        /* Feb 29 in a non-leap recv year belongs to an earlier year. */
        return make_ns(y - 1, mo, d, h, mi, s, frac, 0, out) ||
               make_ns(y - 4, mo, d, h, mi, s, frac, 0, out);
    }
    if (ns > recv_ns + 86400 * SIFT_NS_PER_SEC) {
        if (!make_ns(y - 1, mo, d, h, mi, s, frac, 0, &ns))
            return false;
    }
    *out = ns;
    return true;
}

/* ------------------------------------------------------------------ */
/* Layouts                                                             */
/* ------------------------------------------------------------------ */

/*
 * YYYY-MM-DD[T ]hh:mm:ss[.,frac][zone]  (ISO 8601 / RFC 3339, Hadoop,
 * Zookeeper, OpenStack, Windows) and BGL's YYYY-MM-DD-hh.mm.ss.ffffff.
 */
static size_t
layout_iso(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, sec;
    if (!sift_time_scan_digits(s, len, &i, 4, &y) || !lit(s, len, &i, '-') ||
        !sift_time_scan_digits(s, len, &i, 2, &mo) || !lit(s, len, &i, '-') ||
        !sift_time_scan_digits(s, len, &i, 2, &d) || i >= len)
        return 0;
    if (s[i] == '-') {
        i++;
        if (!sift_time_scan_digits(s, len, &i, 2, &h) ||
            !lit(s, len, &i, '.') ||
            !sift_time_scan_digits(s, len, &i, 2, &mi) ||
            !lit(s, len, &i, '.') ||
            !sift_time_scan_digits(s, len, &i, 2, &sec))
            return 0;
        int64_t frac = sift_time_scan_fraction(s, len, &i);
        return make_ns(y, mo, d, h, mi, sec, frac, 0, ns) ? i : 0;
    }
    if (y < 1900 || y > 2261)
        return 0;
    return sift_time_scan_rfc3339(s, len, SIFT_TIME_LENIENT, ns);
}

/* YYYY/MM/DD hh:mm:ss[.frac] and yy/MM/dd hh:mm:ss (Spark). */
static size_t
layout_slash(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, sec;
    if (len >= 5 && is_digit(s[2]) && is_digit(s[3]) && s[4] == '/') {
        if (!sift_time_scan_digits(s, len, &i, 4, &y))
            return 0;
    } else {
        if (!sift_time_scan_digits(s, len, &i, 2, &y))
            return 0;
        y += 2000;
    }
    if (!lit(s, len, &i, '/') || !sift_time_scan_digits(s, len, &i, 2, &mo) ||
        !lit(s, len, &i, '/') || !sift_time_scan_digits(s, len, &i, 2, &d) ||
        !lit(s, len, &i, ' ') || !hms(s, len, &i, &h, &mi, &sec))
        return 0;
    int64_t frac = sift_time_scan_fraction(s, len, &i);
    return make_ns(y, mo, d, h, mi, sec, frac, 0, ns) ? i : 0;
}

/* yyMMdd hhmmss (HDFS). */
static size_t
layout_hdfs(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, sec;
    if (!sift_time_scan_digits(s, len, &i, 2, &y) ||
        !sift_time_scan_digits(s, len, &i, 2, &mo) ||
        !sift_time_scan_digits(s, len, &i, 2, &d) || !lit(s, len, &i, ' ') ||
        !sift_time_scan_digits(s, len, &i, 2, &h) ||
        !sift_time_scan_digits(s, len, &i, 2, &mi) ||
        !sift_time_scan_digits(s, len, &i, 2, &sec))
        return 0;
    if (i < len && is_digit(s[i]))
        return 0;
    return make_ns(2000 + y, mo, d, h, mi, sec, 0, 0, ns) ? i : 0;
}

/* yyyyMMdd-hh:mm:ss:SSS (HealthApp). */
static size_t
layout_compact(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, sec, ms = 0;
    if (!sift_time_scan_digits(s, len, &i, 4, &y) ||
        !sift_time_scan_digits(s, len, &i, 2, &mo) ||
        !sift_time_scan_digits(s, len, &i, 2, &d) || !lit(s, len, &i, '-') ||
        !hms(s, len, &i, &h, &mi, &sec))
        return 0;
    if (i < len && s[i] == ':') {
        size_t j = i + 1;
        unsigned n = 0;
        while (j < len && is_digit(s[j]) && n < 3) {
            ms = ms * 10 + (unsigned)(s[j] - '0');
            j++;
            n++;
        }
        if (n > 0) {
            while (n++ < 3)
                ms *= 10;
            i = j;
        }
    }
    return make_ns(y, mo, d, h, mi, sec, (int64_t)ms * SIFT_NS_PER_MS, 0, ns)
               ? i
               : 0;
}

/* MM-dd hh:mm:ss[.SSS] (Android logcat), year from recv. */
static size_t
layout_md(const char *s, size_t len, int64_t recv_ns, int64_t *ns)
{
    size_t i = 0;
    unsigned mo, d, h, mi, sec;
    if (!sift_time_scan_digits(s, len, &i, 2, &mo) || !lit(s, len, &i, '-') ||
        !sift_time_scan_digits(s, len, &i, 2, &d) || !lit(s, len, &i, ' ') ||
        !hms(s, len, &i, &h, &mi, &sec))
        return 0;
    int64_t frac = sift_time_scan_fraction(s, len, &i);
    return make_ns_noyear(recv_ns, mo, d, h, mi, sec, frac, ns) ? i : 0;
}

size_t
sift__parse_ts_bsd(const char *s, size_t len, int64_t recv_ns, int64_t *ns)
{
    size_t i = 3;
    unsigned d, h, mi, sec;
    int mo = month_from_abbr(s, len, 0);
    if (!mo || !lit(s, len, &i, ' '))
        return 0;
    if (i < len && s[i] == ' ') {
        i++;
        if (!sift_time_scan_digits(s, len, &i, 1, &d))
            return 0;
    } else if (!sift_time_scan_digits(s, len, &i, 2, &d)) {
        if (!sift_time_scan_digits(s, len, &i, 1, &d))
            return 0;
    }
    if (!lit(s, len, &i, ' ') || !hms(s, len, &i, &h, &mi, &sec))
        return 0;
    int64_t frac = sift_time_scan_fraction(s, len, &i);
    /* "Mmm dd hh:mm:ss YYYY" carries its year. */
    size_t j = i;
    unsigned y;
    if (lit(s, len, &j, ' ') && sift_time_scan_digits(s, len, &j, 4, &y) &&
        (j == len || !is_digit(s[j]))) {
        return make_ns(y, (unsigned)mo, d, h, mi, sec, frac, 0, ns) ? j : 0;
    }
    return make_ns_noyear(recv_ns, (unsigned)mo, d, h, mi, sec, frac, ns) ? i
                                                                          : 0;
}

/* Www Mmm dd hh:mm:ss YYYY (ctime, Apache error log). */
static size_t
layout_ctime(const char *s, size_t len, int64_t *ns)
{
    static const char days[] = "sunmontuewedthufrisat";
    if (len < 24 || s[3] != ' ')
        return 0;
    bool ok = false;
    for (int k = 0; k < 7 && !ok; k++) {
        ok = (s[0] | 0x20) == days[(size_t)k * 3] &&
             (s[1] | 0x20) == days[(size_t)k * 3 + 1] &&
             (s[2] | 0x20) == days[k * 3 + 2];
    }
    if (!ok)
        return 0;
    size_t i = 4;
    unsigned d, h, mi, sec, y;
    int mo = month_from_abbr(s, len, i);
    i += 3;
    if (!mo || !lit(s, len, &i, ' '))
        return 0;
    if (i < len && s[i] == ' ')
        i++;
    if (!sift_time_scan_digits(s, len, &i, 2, &d) &&
        !sift_time_scan_digits(s, len, &i, 1, &d))
        return 0;
    if (!lit(s, len, &i, ' ') || !hms(s, len, &i, &h, &mi, &sec))
        return 0;
    int64_t frac = sift_time_scan_fraction(s, len, &i);
    if (!lit(s, len, &i, ' ') || !sift_time_scan_digits(s, len, &i, 4, &y))
        return 0;
    return make_ns(y, (unsigned)mo, d, h, mi, sec, frac, 0, ns) ? i : 0;
}

/*
 * Epoch seconds (10 digits, optional fraction) or milliseconds (13
 * digits) as a standalone column, between 2000 and 2100.
 */
static size_t
layout_epoch(const char *s, size_t len, int64_t *ns)
{
    size_t i = 0;
    int64_t v = 0;
    while (i < len && is_digit(s[i]) && i < 14) {
        v = v * 10 + (s[i] - '0');
        i++;
    }
    int64_t frac = 0;
    if (i == 10) {
        if (i < len && s[i] == '.')
            frac = sift_time_scan_fraction(s, len, &i);
        if (v < INT64_C(946684800) || v >= INT64_C(4102444800))
            return 0;
        *ns = v * SIFT_NS_PER_SEC + frac;
    } else if (i == 13) {
        if (v < INT64_C(946684800000) || v >= INT64_C(4102444800000))
            return 0;
        *ns = v * SIFT_NS_PER_MS;
    } else {
        return 0;
    }
    if (i < len && s[i] != ' ' && s[i] != '\t' && s[i] != ']' && s[i] != ',' &&
        s[i] != '|')
        return 0;
    return i;
}

/* Tries every layout at s (a token start). */
static size_t
layout_any(const char *s, size_t len, int64_t recv_ns, int64_t *ns)
{
    size_t n = 0;
    if (len < 8)
        return 0;
    if (is_digit(s[0])) {
        if (is_digit(s[1]) && is_digit(s[2]) && is_digit(s[3])) {
            if (s[4] == '-')
                n = layout_iso(s, len, ns);
            else if (s[4] == '/')
                n = layout_slash(s, len, ns);
            else if (len > 8 && is_digit(s[4]) && s[8] == '-')
                n = layout_compact(s, len, ns);
            if (!n && len > 6 && s[6] == ' ')
                n = layout_hdfs(s, len, ns);
            if (!n)
                n = layout_epoch(s, len, ns);
        } else if (is_digit(s[1]) && s[2] == '/') {
            n = layout_slash(s, len, ns);
        } else if (is_digit(s[1]) && s[2] == '-') {
            n = layout_md(s, len, recv_ns, ns);
        }
    } else if ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) {
        n = sift__parse_ts_bsd(s, len, recv_ns, ns);
        if (!n)
            n = layout_ctime(s, len, ns);
    }
    return n;
}

bool
sift__parse_ts_sniff(const char *s, size_t len, int64_t recv_ns, int64_t *ns,
                     size_t *start, size_t *end)
{
    size_t win = len < SNIFF_WINDOW ? len : SNIFF_WINDOW;
    unsigned tokens = 0;
    size_t i = 0;
    while (i < win && tokens < SNIFF_TOKENS) {
        while (i < win && (s[i] == ' ' || s[i] == '\t' || s[i] == '['))
            i++;
        if (i >= win)
            break;
        size_t n = layout_any(s + i, len - i, recv_ns, ns);
        if (n) {
            *start = i;
            *end = i + n;
            return true;
        }
        tokens++;
        while (i < win && s[i] != ' ' && s[i] != '\t')
            i++;
    }
    return false;
}

size_t
sift__parse_ts_rfc3339_prefix(const char *s, size_t len, int64_t *ns)
{
    if (len < 19 || s[4] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' '))
        return 0;
    return layout_iso(s, len, ns);
}

int
sift_parse_rfc3339(const char *s, size_t len, int64_t *out_ns)
{
    int64_t ns;
    size_t n = sift__parse_ts_rfc3339_prefix(s, len, &ns);
    if (n == 0 || n != len)
        return SIFT_EPARSE;
    *out_ns = ns;
    return SIFT_OK;
}

/*
 * An epoch number whose unit is inferred from its magnitude (the rule of
 * sift_time_parse_epoch(), shared with query time bounds).  Negative or
 * non-decimal: false.
 */
static bool
epoch_value(const char *s, size_t len, int64_t *ns)
{
    return len > 0 && is_digit(s[0]) &&
           sift_time_parse_epoch(s, len, ns, NULL) == SIFT_OK;
}

bool
sift__parse_ts_value(const char *s, size_t len, int64_t recv_ns, int64_t *ns)
{
    if (len == 0)
        return false;
    if (is_digit(s[0]) && epoch_value(s, len, ns))
        return true;
    size_t n = layout_any(s, len, recv_ns, ns);
    if (n == len)
        return true;
    /* "[Sun Dec 04 04:47:44 2005]" and similar bracketed values. */
    if (len > 2 && s[0] == '[' && s[len - 1] == ']')
        return layout_any(s + 1, len - 2, recv_ns, ns) == len - 2;
    return false;
}

/* ------------------------------------------------------------------ */
/* Levels                                                              */
/* ------------------------------------------------------------------ */

static bool
is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool
word_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '$';
}

const char *
sift__parse_level_sniff(const char *s, size_t len)
{
    static const char *const words[] = {
        "info",  "warn",  "warning",  "error",  "err",    "fatal",
        "debug", "trace", "critical", "severe", "notice",
    };
    size_t win = len < LEVEL_WINDOW ? len : LEVEL_WINDOW;
    size_t i = 0;
    while (i < win) {
        while (i < win && !is_alpha(s[i]))
            i++;
        size_t a = i;
        while (i < len && is_alpha(s[i]))
            i++;
        size_t wl = i - a;
        if (wl < 3 || wl > 8)
            continue;
        if ((a > 0 && word_char(s[a - 1])) || (i < len && word_char(s[i])))
            continue;
        bool upper = true, cap = s[a] >= 'A' && s[a] <= 'Z';
        for (size_t k = a; k < i; k++) {
            if (s[k] < 'A' || s[k] > 'Z')
                upper = false;
            if (k > a && !(s[k] >= 'a' && s[k] <= 'z'))
                cap = false;
        }
        bool bracketed = a > 0 && i < len &&
                         ((s[a - 1] == '[' && s[i] == ']') ||
                          (s[a - 1] == '<' && s[i] == '>') ||
                          (s[a - 1] == '(' && s[i] == ')'));
        if (!upper && !cap && !bracketed)
            continue;
        char low[8];
        for (size_t k = 0; k < wl; k++)
            low[k] = (char)(s[a + k] | 0x20);
        for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
            if (strlen(words[w]) == wl && memcmp(words[w], low, wl) == 0)
                return sift_parse_level_normalize(low, wl);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The text format                                                     */
/* ------------------------------------------------------------------ */

int
sift__parse_text(struct sift__pctx *x, bool extract_logfmt)
{
    size_t a, b;
    int64_t ns;
    uint32_t n_pairs = 0;
    int rc;

    x->msg = x->line;
    x->msg_len = (uint32_t)x->len;
    if (sift__parse_ts_sniff(x->line, x->len, x->recv_ns, &ns, &a, &b)) {
        x->ts_ns = ns;
        x->have_ts = true;
    }
    if (extract_logfmt && sift__parse_logfmt_looks(x->line, x->len, &n_pairs)) {
        /* A key=value line: its msg=/level=/ts= keys win. */
        x->scan_msg = true;
        x->msg_alias = true;
        x->scan_ts = true;
        rc = sift__pctx_reserve(x, n_pairs);
        if (rc)
            return rc;
        return sift__parse_logfmt_fields(x, x->line, x->len, 0);
    }
    rc = sift__pctx_reserve(x, 0);
    if (rc)
        return rc;
    const char *lvl = sift__parse_level_sniff(x->line, x->len);
    if (lvl)
        return sift__pctx_add_derived(x, "log.level", 9, lvl, strlen(lvl),
                                      SIFT_FT_KEYWORD);
    return SIFT_OK;
}
