/*
 * header.c - a line's header (timestamp, level, pid, thread, logger),
 * learned per source, so templates are mined on the rest.  See
 * include/sift/header.h and docs/anomaly.md (Headers).
 *
 * Design.
 *   Slots.  The first MAX_HDR_BYTES of a line are cut into at most
 *   MAX_SLOTS typed slots (scan_line):
 *     T  a timestamp (ts_span: any run of date, time, month, weekday,
 *        year, zone and AM/PM parts holding a time of day, a full date,
 *        or a 10/13-digit epoch in 2000..2100), bare or bracketed, and
 *        only when it starts in the first TS_WINDOW bytes;
 *     N  an integer;  L  a level word (bare, bracketed, or "INFO:");
 *     L1 a one-letter level (logcat's V D I W E F A);
 *     B  a bracketed group ([...], (...), <...>; nesting allowed);
 *     C  a component: "name:", "prog[pid]:", "prog(sub)[pid]:";
 *     D  a separator ("-", "|", "--", ":");  W  any other token.
 *   No slot type knows a product: the layouts are shapes, not formats.
 *
 *   Learning.  Per source the slot types of the first learn_lines lines
 *   are kept (types, blanks after each slot, a hash of each word).  The
 *   model's columns are taken position by position while at least
 *   AGREE of the sampled lines agree: on one type, or (X) on "some plain
 *   token" (W, N or D), or (P) on a word followed by column padding (2+
 *   blanks).  The header is then the longest prefix of those columns
 *   that
 *     - ends on a slot that can end a header (not W or X),
 *     - holds a T, L, L1 or C (something only headers hold),
 *     - has at most one C, as its last slot (a component closes a header),
 *     - has each run of plain words followed by a slot that explains it,
 *       and no longer than that slot allows (RUN_LIMIT: up to four words
 *       before a timestamp, two before a level, one before a component,
 *       bracket, separator or number): hosts, labels and logger names
 *       sit there, sentences do not;
 *     - has in each word column few distinct values or mostly id-like
 *       ones (digits, dots, dashes: hosts, nodes, dotted names);
 *     - leaves a non-empty body in AGREE of the lines.
 *   Until learn_lines lines are in, the model is recomputed on every
 *   line from the lines so far (so the first line is split by its own
 *   shape), with plain words refused unless id-like or padded.
 *
 *   Verifying.  A line matches when its first slots have the model's
 *   types; otherwise its header is the longest prefix it shares with the
 *   model that is itself a valid header (often just the timestamp).  When
 *   more than RELEARN_MISS of a window of lines miss, the source samples
 *   again (at most MAX_RELEARN times) and swaps the model when done.
 *
 *   JSON in message.  A line that is a JSON object is split by its keys:
 *   the body is the raw text of the first of msg, message, log, MESSAGE
 *   (escapes kept), level/logger/pid/tid from their usual keys; that body
 *   is split again as a line of the source (a container log line holding
 *   a text line).
 *
 * Invariants.  Every remembered source is in the hash table and the LRU
 *   list; n_sources <= max_sources; a source has a sample only while it is
 *   learning or relearning.  The body of a split is never empty when the
 *   line has a non-blank byte.
 *
 * Thread: not thread-safe; one owner (siftd: the loop thread).
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/header.h"
#include "sift/parse.h"

#define MAX_SLOTS 16
#define MAX_HDR_BYTES 320u /* a header ends within this many bytes */
#define TS_WINDOW 96u      /* a timestamp slot starts this early */
#define TS_MAX 64u         /* bytes of one timestamp */
#define DEFAULT_MAX_SOURCES 4096u
#define DEFAULT_LEARN 64u
#define DEFAULT_LEARN_MAX 2000u
#define EARLY_LINES 8u      /* fewer sampled lines: plain words refused */
#define AGREE 0.9           /* share of sampled lines a column needs */
#define RELEARN_WINDOW 512u /* lines per verification window */
#define RELEARN_MISS 0.25   /* share of misses that starts relearning */
#define MAX_RELEARN 3u
#define REMINE_MAX_BYTES 2048u /* sampled lines kept for re-mining */

enum stype {
    S_NONE = 0,
    S_T,  /* timestamp */
    S_N,  /* integer */
    S_L,  /* level word */
    S_L1, /* one-letter level */
    S_B,  /* bracketed group */
    S_C,  /* component "name:" */
    S_D,  /* separator */
    S_W,  /* word */
    S_P,  /* model only: word followed by padding */
    S_X,  /* model only: any plain token (W, N or D) */
};

static const char type_letter[] = "?TNLlBCDWPX";

struct slot {
    uint16_t off;
    uint16_t len;
    uint8_t type;
    uint8_t gap;      /* blanks after the slot (capped at 255) */
    uint8_t idlike;   /* W: holds a digit or one of . _ - / @ : $ */
    uint8_t caps;     /* W: 2..10 upper-case letters (LOG, NOTE): may be
                         a level word the list does not know */
    uint8_t name_len; /* C: bytes of the name; B: 0 */
    uint16_t pid_off; /* C "prog[123]:": the digits; 0 len = none */
    uint16_t pid_len;
    const char *level; /* L, L1: normalized */
};

struct line {
    uint32_t n;
    uint32_t end; /* byte after the last scanned slot */
    struct slot s[MAX_SLOTS];
};

/* One sampled line, as learning needs it. */
struct sample_line {
    uint8_t n;
    uint8_t type[MAX_SLOTS];
    uint8_t gap[MAX_SLOTS];
    uint8_t idlike[MAX_SLOTS];
    uint8_t caps[MAX_SLOTS];
    uint32_t body_after; /* bit k: a body remains after the first k slots */
    uint64_t hash[MAX_SLOTS];
    char *text; /* copy of the line (NULL past REMINE_MAX_BYTES) */
    uint32_t len;
    uint32_t tag;    /* the caller's (siftd: the template id it got) */
    uint32_t weight; /* lines of this shape seen while sampling */
    uint64_t sig;    /* the line's shape, see line_sig() */
};

struct model {
    uint8_t n;               /* header slots (0: no header) */
    uint8_t n_cols;          /* columns agreed on (>= n) */
    uint8_t type[MAX_SLOTS]; /* column types */
    uint8_t valid[MAX_SLOTS +
                  1]; /* valid[e]: the first e columns may be a header */
};

/*
 * The last timestamp seen in a T column, digits as '\1' and letters as
 * '\2': a line whose bytes there have the same shape has a timestamp of
 * that length, so ts_span() runs only when the shape changes
 * (fixed-width timestamps are the rule).
 */
#define TPAT_MAX 40

struct tpat {
    uint8_t len; /* 0: none yet */
    char pat[TPAT_MAX];
};

struct source {
    uint64_t key;
    struct tpat tp[MAX_SLOTS]; /* per header column; reset with the model */
    struct source *hnext;
    struct source *lru_prev, *lru_next;
    struct model m;
    struct sample_line *sample; /* learn_lines entries while sampling */
    uint32_t n_sample;          /* distinct shapes sampled */
    uint32_t n_sampling;        /* lines seen since sampling started */
    uint8_t learned;            /* the model was fixed at least once */
    uint8_t relearns;
    uint32_t win_lines, win_miss;
};

struct sift_header {
    struct sample_line *last; /* the line sift_header_tag_last() tags */
    uint32_t max_sources;
    uint32_t learn_lines;     /* distinct shapes sampled */
    uint32_t learn_max_lines; /* lines after which sampling ends anyway */
    struct source **tab;
    uint32_t n_buckets;
    uint32_t n_sources;
    struct source *lru_head, *lru_tail;
};

/* ------------------------------------------------------------------ */
/* Characters                                                           */
/* ------------------------------------------------------------------ */

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static char
lower(char c)
{
    return is_upper(c) ? (char)(c + 32) : c;
}

/* Reads n (1..max) digits at s[*i]; returns the count read (0: none). */
static unsigned
read_digits(const char *s, size_t len, size_t *i, unsigned max, unsigned *val)
{
    unsigned n = 0, v = 0;
    while (*i < len && n < max && is_digit(s[*i])) {
        v = v * 10 + (unsigned)(s[*i] - '0');
        (*i)++;
        n++;
    }
    *val = v;
    return n;
}

/* ------------------------------------------------------------------ */
/* Timestamps                                                           */
/* ------------------------------------------------------------------ */

enum tkind {
    K_NONE = 0,
    K_DATE,     /* a date with its year: 2015-10-18, 17/06/09, 2005.06.03 */
    K_DATE_MD,  /* month and day only: 03-17, 10.30 (needs a time) */
    K_DATE6,    /* yymmdd (needs a 6-digit time) */
    K_TIME,     /* hh:mm:ss[.,:frac][zone] */
    K_HHMM,     /* hh:mm (a time only after a date or a month) */
    K_TIME6,    /* hhmmss */
    K_DATETIME, /* a date and a time in one token */
    K_MONTH,    /* Jan, January */
    K_WDAY,     /* Sun, Sunday */
    K_DAY,      /* 1..31 */
    K_YEAR,     /* 1970..2099 */
    K_AMPM,
    K_ZONE,
    K_EPOCH, /* 10 digits (s) or 13 (ms), 2000..2100 */
};

/* The three letters of s[0..3) lower-cased, packed. */
static uint32_t
tri(const char *s)
{
    return (uint32_t)(uint8_t)lower(s[0]) << 16 |
           (uint32_t)(uint8_t)lower(s[1]) << 8 | (uint32_t)(uint8_t)lower(s[2]);
}

#define TRI(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))

/*
 * Whether s[0..n) is one of names (3 letters, or the whole name), with an
 * upper-case first letter.  names[k] is the lower-case full name.
 */
static bool
name_in(const char *s, size_t n, const char *const *names, const uint32_t *tris,
        size_t n_names)
{
    if (n < 3 || !is_upper(s[0]))
        return false;
    uint32_t t = tri(s);
    for (size_t k = 0; k < n_names; k++) {
        if (tris[k] != t)
            continue;
        if (n == 3)
            return true;
        const char *w = names[k];
        size_t i = 3;
        while (i < n && w[i] && lower(s[i]) == w[i])
            i++;
        return i == n && w[i] == '\0';
    }
    return false;
}

static bool
is_month(const char *s, size_t n)
{
    static const char *const months[] = {
        "january", "february", "march",     "april",   "may",      "june",
        "july",    "august",   "september", "october", "november", "december"};
    static const uint32_t tris[] = {
        TRI('j', 'a', 'n'), TRI('f', 'e', 'b'), TRI('m', 'a', 'r'),
        TRI('a', 'p', 'r'), TRI('m', 'a', 'y'), TRI('j', 'u', 'n'),
        TRI('j', 'u', 'l'), TRI('a', 'u', 'g'), TRI('s', 'e', 'p'),
        TRI('o', 'c', 't'), TRI('n', 'o', 'v'), TRI('d', 'e', 'c')};
    return name_in(s, n, months, tris, 12);
}

static bool
is_wday(const char *s, size_t n)
{
    static const char *const days[] = {"sunday",    "monday",   "tuesday",
                                       "wednesday", "thursday", "friday",
                                       "saturday"};
    static const uint32_t tris[] = {TRI('s', 'u', 'n'), TRI('m', 'o', 'n'),
                                    TRI('t', 'u', 'e'), TRI('w', 'e', 'd'),
                                    TRI('t', 'h', 'u'), TRI('f', 'r', 'i'),
                                    TRI('s', 'a', 't')};
    return name_in(s, n, days, tris, 7);
}

/*
 * hh:mm[:ss][(.|,|:)frac][zone] at s[*i] (also hh.mm.ss when dots is
 * set: BGL's 2005-06-03-15.42.50.675872).  Moves *i past it.
 */
static bool
time_part(const char *s, size_t n, size_t *i, bool dots)
{
    size_t j = *i;
    unsigned h, m, sec;
    char sep = dots ? '.' : ':';
    if (read_digits(s, n, &j, 2, &h) == 0 || h > 24 || j >= n || s[j] != sep)
        return false;
    j++;
    /* hh:mm needs two minute digits; h:m:s (some loggers do not pad)
     * is taken with seconds. */
    unsigned nm = read_digits(s, n, &j, 2, &m);
    if (nm == 0 || m > 59)
        return false;
    if (j + 1 < n && s[j] == sep && is_digit(s[j + 1])) {
        j++;
        if (read_digits(s, n, &j, 2, &sec) == 0 || sec > 60)
            return false;
        if (j + 1 < n && (s[j] == '.' || s[j] == ',' || s[j] == ':') &&
            is_digit(s[j + 1])) {
            j++;
            unsigned f;
            read_digits(s, n, &j, 9, &f);
        }
    } else if ((j < n && s[j] == sep) || nm != 2) {
        return false;
    }
    /* Zone glued to the time: Z, +hh:mm, +hhmm, -hh. */
    if (j < n && (s[j] == 'Z' || s[j] == 'z')) {
        j++;
    } else if (j + 2 < n && (s[j] == '+' || s[j] == '-') &&
               is_digit(s[j + 1]) && is_digit(s[j + 2])) {
        size_t k = j + 3;
        if (k < n && s[k] == ':')
            k++;
        if (k + 1 < n && is_digit(s[k]) && is_digit(s[k + 1]))
            k += 2;
        j = k;
    }
    *i = j;
    return true;
}

/*
 * A date of three numeric groups joined by one of - / . at s[*i]:
 * y-m-d (4-digit year) or d/m/y, m/d/y (2- or 4-digit year), or
 * dd/Mon/yyyy.  *md is set for a two-group month-day date (03-17).
 */
static bool
date_part(const char *s, size_t n, size_t *i, bool *md)
{
    size_t j = *i;
    unsigned a, b, c;
    unsigned na = read_digits(s, n, &j, 4, &a);
    *md = false;
    if (na == 0 || j >= n)
        return false;
    char sep = s[j];
    if (sep != '-' && sep != '/' && sep != '.')
        return false;
    j++;
    unsigned nb;
    if (j + 3 <= n && is_month(s + j, 3) && sep == '/' && na <= 2) {
        /* dd/Mon/yyyy (web servers' access logs) */
        j += 3;
        if (j >= n || s[j] != '/')
            return false;
        j++;
        if (read_digits(s, n, &j, 4, &c) != 4)
            return false;
        *i = j;
        return a >= 1 && a <= 31;
    }
    nb = read_digits(s, n, &j, 2, &b);
    if (nb == 0)
        return false;
    if (j >= n || s[j] != sep || j + 1 >= n || !is_digit(s[j + 1])) {
        /* Two groups: mm-dd (with a time after it, checked by caller). */
        if (na != 2 || nb != 2 || a < 1 || a > 12 || b < 1 || b > 31)
            return false;
        if (j < n && is_digit(s[j]))
            return false;
        *md = true;
        *i = j;
        return true;
    }
    j++;
    unsigned nc = read_digits(s, n, &j, 4, &c);
    if (j < n && is_digit(s[j]))
        return false;
    if (na == 4) {
        if (nc > 2 || b < 1 || b > 12 || c < 1 || c > 31)
            return false;
    } else if (na <= 2) {
        if (nc != 2 && nc != 4)
            return false;
        /* y/m/d with a 2-digit year (17/06/09) or d/m/y, m/d/y: some
         * order must be a valid date. */
        bool ymd = nc == 2 && b >= 1 && b <= 12 && c >= 1 && c <= 31;
        bool dmy = b >= 1 && b <= 12 && a >= 1 && a <= 31;
        bool mdy = a >= 1 && a <= 12 && b >= 1 && b <= 31;
        if (!ymd && !dmy && !mdy)
            return false;
    } else {
        return false;
    }
    *i = j;
    return true;
}

/*
 * Classifies one unit s[0..n) of a timestamp (the bytes up to a blank).
 * *used is the bytes that belong to the timestamp (a trailing ',' is
 * taken; anything else left over makes the unit K_NONE).
 */
static enum tkind
ts_unit(const char *s, size_t n, size_t *used)
{
    size_t core = n;
    if (core > 1 && s[core - 1] == ',')
        core--;
    *used = n;
    if (core == 0)
        return K_NONE;
    if (is_alpha(s[0])) {
        size_t a = 0;
        while (a < core && is_alpha(s[a]))
            a++;
        size_t w = a;
        if (a < core && s[a] == '.' && a + 1 == core)
            a++; /* "Jan." */
        if (a != core)
            return K_NONE;
        if (is_month(s, w))
            return K_MONTH;
        if (is_wday(s, w))
            return K_WDAY;
        if (w == 2 && (lower(s[0]) == 'a' || lower(s[0]) == 'p') &&
            lower(s[1]) == 'm')
            return K_AMPM;
        if ((w == 1 && s[0] == 'Z') || (w == 3 && memcmp(s, "UTC", 3) == 0) ||
            (w == 3 && memcmp(s, "GMT", 3) == 0))
            return K_ZONE;
        if ((w == 3 || w == 4) && s[w - 1] == 'T') {
            for (size_t k = 0; k < w; k++)
                if (!is_upper(s[k]))
                    return K_NONE;
            return K_ZONE; /* CET, CEST, PST, EDT ... */
        }
        return K_NONE;
    }
    if ((s[0] == '+' || s[0] == '-') && core >= 3) {
        size_t k = 1;
        unsigned v;
        if (read_digits(s, core, &k, 4, &v) >= 2) {
            if (k < core && s[k] == ':') {
                k++;
                read_digits(s, core, &k, 2, &v);
            }
            if (k == core)
                return K_ZONE;
        }
        return K_NONE;
    }
    if (!is_digit(s[0]))
        return K_NONE;
    size_t nd = 0;
    while (nd < core && is_digit(s[nd]))
        nd++;
    if (nd == core) {
        unsigned v = 0;
        for (size_t k = 0; k < nd && k < 9; k++)
            v = v * 10 + (unsigned)(s[k] - '0');
        if (nd <= 2)
            return v >= 1 && v <= 31 ? K_DAY : K_NONE;
        if (nd == 4)
            return v >= 1970 && v <= 2099 ? K_YEAR : K_NONE;
        if (nd == 6)
            return K_DATE6; /* or K_TIME6, by position */
        if (nd == 10 || nd == 13) {
            /* 2000-01-01 .. 2100-01-01 */
            if (nd == 10 && memcmp(s, "0946684800", 10) >= 0 &&
                memcmp(s, "4102444800", 10) < 0)
                return K_EPOCH;
            if (nd == 13 && memcmp(s, "0946684800000", 13) >= 0 &&
                memcmp(s, "4102444800000", 13) < 0)
                return K_EPOCH;
        }
        return K_NONE;
    }
    if (nd == 10 && s[nd] == '.' && memcmp(s, "0946684800", 10) >= 0 &&
        memcmp(s, "4102444800", 10) < 0) {
        size_t k = nd + 1;
        while (k < core && is_digit(s[k]))
            k++;
        return k == core && k > nd + 1 ? K_EPOCH : K_NONE;
    }
    size_t i = 0;
    if (nd <= 2 && s[nd] == ':') {
        if (time_part(s, core, &i, false) && i == core)
            return i > nd + 3 ? K_TIME : K_HHMM;
        return K_NONE;
    }
    if (nd == 8 && (s[8] == '-' || s[8] == 'T' || s[8] == '_')) {
        /* yyyymmdd-hh:mm:ss */
        i = 9;
        if (time_part(s, core, &i, false) && i == core)
            return K_DATETIME;
        return K_NONE;
    }
    bool md;
    if (!date_part(s, core, &i, &md))
        return K_NONE;
    if (i == core)
        return md ? K_DATE_MD : K_DATE;
    if (md)
        return K_NONE;
    /* Date and time in one token: T, _, -, : or a dotted time after -. */
    char j = s[i];
    if (j == 'T' || j == 't' || j == '_' || j == ':' || j == '-') {
        size_t k = i + 1;
        if (time_part(s, core, &k, false) && k == core)
            return K_DATETIME;
        k = i + 1;
        if (j == '-' && time_part(s, core, &k, true) && k == core)
            return K_DATETIME;
    }
    return K_NONE;
}

static bool
unit_end(char c)
{
    return is_space(c) || c == '|' || c == ']' || c == ')' || c == '>' ||
           c == '"' || c == ';';
}

/*
 * Length of the timestamp that starts at s, or 0.  A timestamp is a run
 * of units (separated by blanks) that holds a time of day, a full date,
 * month + day + year, or is one epoch number.
 */
SIFT_STATIC size_t
ts_span(const char *s, size_t len)
{
    if (len > TS_MAX)
        len = TS_MAX;
    /* Fast rejects: a timestamp starts with a digit, or with a month or
     * weekday name. */
    if (len < 3 || (!is_digit(s[0]) && !is_month(s, 3) && !is_wday(s, 3)))
        return 0;
    size_t p = 0, best = 0;
    bool time = false, date = false, date_pending = false, month = false;
    bool day = false, date6 = false;
    enum tkind prev = K_NONE;
    for (unsigned units = 0; units < 7 && p < len; units++) {
        size_t e = p;
        while (e < len && !unit_end(s[e]))
            e++;
        if (e == p)
            break;
        size_t used;
        enum tkind k = ts_unit(s + p, e - p, &used);
        bool ok = false;
        switch (k) {
        case K_EPOCH:
            if (units == 0)
                return e;
            break;
        case K_DATETIME:
            ok = !time && !date && !date_pending && !month;
            time = date = ok;
            break;
        case K_HHMM:
            if (!date && !date_pending && !month)
                break;
            /* fall through */
        case K_TIME:
            ok = !time;
            time = true;
            if (date_pending)
                date = true;
            break;
        case K_DATE6:
            if (prev == K_DATE6 && !time) {
                ok = time = date = true; /* yymmdd hhmmss */
            } else if (!time && !date && units == 0) {
                date6 = true;
                prev = k;
                p = e;
                while (p < len && is_blank(s[p]))
                    p++;
                continue;
            }
            break;
        case K_DATE:
            ok = !time && !date && !month;
            date = ok;
            break;
        case K_DATE_MD:
            ok = !time && !date && !month && !date_pending;
            date_pending = ok;
            break;
        case K_MONTH:
            ok = !month && !date && !time;
            month = ok;
            break;
        case K_WDAY: ok = !time && !month && !date && units == 0; break;
        case K_DAY:
            ok = (prev == K_MONTH || prev == K_WDAY) && !day && !time;
            day = ok;
            break;
        case K_YEAR:
            /* Only a date that lacks its year takes one (Sun Dec 04
             * 04:47:44 2005, Jun 14, 2019): a number after a full
             * timestamp is a pid or thread id. */
            ok = month && !date && (time || day);
            if (ok)
                date = true;
            break;
        case K_AMPM:
        case K_ZONE:
            ok = prev == K_TIME || prev == K_HHMM || prev == K_DATETIME ||
                 (k == K_ZONE && prev == K_AMPM);
            break;
        default: break;
        }
        (void)date6;
        if (!ok)
            break;
        prev = k;
        /* Valid so far: a time (with or without a date), or a date. */
        if (time || date)
            best = p + used;
        p = e;
        while (p < len && is_blank(s[p]))
            p++;
    }
    return best;
}

/* ------------------------------------------------------------------ */
/* Slots                                                                */
/* ------------------------------------------------------------------ */

/*
 * A level word s[0..n): upper, Capitalized or lower case.  The words are
 * sift_parse_level_normalize()'s, plus upper-case names of common loggers
 * that the shared list (also used for field values, where they are too
 * vague) lacks: LOG, CONFIG, FINER, FINEST.  Looked up by length and
 * first letter: it runs for every short alphabetic header token.
 */
static const char *
level_word(const char *s, size_t n)
{
    static const struct {
        const char *w; /* lower case */
        uint8_t len;
        uint8_t upper_only;
        const char *level;
    } words[] = {
        {"trace", 5, 0, "trace"},       {"debug", 5, 0, "debug"},
        {"dbg", 3, 0, "debug"},         {"verbose", 7, 0, "debug"},
        {"fine", 4, 0, "debug"},        {"info", 4, 0, "info"},
        {"information", 11, 0, "info"}, {"informational", 13, 0, "info"},
        {"notice", 6, 0, "notice"},     {"warn", 4, 0, "warn"},
        {"warning", 7, 0, "warn"},      {"error", 5, 0, "error"},
        {"err", 3, 0, "error"},         {"severe", 6, 0, "error"},
        {"fatal", 5, 0, "fatal"},       {"critical", 8, 0, "fatal"},
        {"crit", 4, 0, "fatal"},        {"alert", 5, 0, "fatal"},
        {"emerg", 5, 0, "fatal"},       {"emergency", 9, 0, "fatal"},
        {"panic", 5, 0, "fatal"},       {"log", 3, 1, "info"},
        {"config", 6, 1, "debug"},      {"finer", 5, 1, "trace"},
        {"finest", 6, 1, "trace"},
    };
    if (n < 3 || n > 13)
        return NULL;
    bool up = is_upper(s[0]), rest_up = true, rest_low = true;
    for (size_t i = 1; i < n; i++) {
        if (!is_alpha(s[i]))
            return NULL;
        rest_up &= is_upper(s[i]);
        rest_low &= !is_upper(s[i]);
    }
    if (!is_alpha(s[0]) || !((up && rest_up) || rest_low))
        return NULL;
    char c0 = lower(s[0]);
    for (size_t k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
        if (words[k].len != n || words[k].w[0] != c0 ||
            (words[k].upper_only && !(up && rest_up)))
            continue;
        size_t i = 1;
        while (i < n && lower(s[i]) == words[k].w[i])
            i++;
        if (i == n)
            return words[k].level;
    }
    return NULL;
}

static const char *
level_letter(char c)
{
    switch (c) {
    case 'V': return "trace";
    case 'D': return "debug";
    case 'I': return "info";
    case 'W': return "warn";
    case 'E': return "error";
    case 'F':
    case 'A': return "fatal";
    default: return NULL;
    }
}

/* Closing bracket matching s[i] within s[0..lim), or 0. */
static size_t
match_close(const char *s, size_t lim, size_t i)
{
    char o = s[i];
    char c = o == '[' ? ']' : o == '(' ? ')' : '>';
    unsigned depth = 0;
    for (size_t j = i; j < lim; j++) {
        if (s[j] == o)
            depth++;
        else if (s[j] == c && --depth == 0)
            return j;
        else if (s[j] == '\n')
            return 0;
    }
    return 0;
}

static bool
name_char(char c)
{
    return is_alpha(c) || is_digit(c) || c == '_' || c == '.' || c == '$' ||
           c == '-' || c == '/' || c == '@' || c == '#' || c == '*';
}

/*
 * A component t[0..n) (n excludes the final ':'): a name, then optional
 * "(...)" and "[...]" groups.  Sets the name's length and the pid (the
 * digits of a trailing "[digits]").
 */
static bool
component(const char *t, size_t n, struct slot *sl, size_t base)
{
    size_t i = 0;
    bool other = false;
    while (i < n && (name_char(t[i]) || t[i] == ':')) {
        other |= !is_digit(t[i]);
        i++;
    }
    if (i == 0 || !other || i > 200 || !name_char(t[0]))
        return false;
    sl->name_len = (uint8_t)(i > 255 ? 255 : i);
    sl->pid_len = 0;
    while (i < n) {
        char o = t[i];
        char c = o == '(' ? ')' : o == '[' ? ']' : 0;
        if (!c)
            return false;
        size_t j = i + 1;
        bool digits = true;
        while (j < n && t[j] != c) {
            digits &= is_digit(t[j]);
            j++;
        }
        if (j >= n)
            return false;
        if (o == '[' && digits && j > i + 1) {
            sl->pid_off = (uint16_t)(base + i + 1);
            sl->pid_len = (uint16_t)(j - i - 1);
        }
        i = j + 1;
    }
    return true;
}

/* Byte classes for classify(): one table lookup per byte. */
enum {
    C_UP = 1,
    C_LOW = 2,
    C_DIG = 4,
    C_ID = 8,    /* digits and . _ - / @ : $ */
    C_STOP = 16, /* ends a token: white space and '|' */
    C_OPEN = 32, /* '[' */
};
static uint8_t cls[256];

static void
cls_init(void)
{
    for (int c = 0; c < 256; c++) {
        uint8_t v = 0;
        if (c >= 'A' && c <= 'Z')
            v = C_UP;
        else if (c >= 'a' && c <= 'z')
            v = C_LOW;
        else if (c >= '0' && c <= '9')
            v = C_DIG | C_ID;
        else if (c == '.' || c == '_' || c == '-' || c == '/' || c == '@' ||
                 c == ':' || c == '$')
            v = C_ID;
        else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
                 c == '\f' || c == '|')
            v = C_STOP;
        else if (c == '[')
            v = C_OPEN;
        cls[c] = v;
    }
}

/*
 * Classifies the token s[off..off+n) into sl; any is the union of its
 * bytes' classes and opened whether it holds a '[' (gathered while its
 * end was found).
 */
static void
classify(const char *s, size_t off, size_t n, unsigned any, bool opened,
         struct slot *sl)
{
    const char *t = s + off;
    size_t core = n;
    if (core > 1 && (t[core - 1] == ',' || t[core - 1] == ':'))
        core--;
    size_t k0 = (t[0] == '-' || t[0] == '+') && core > 1 ? 1 : 0;
    sl->type = S_W;
    if (!(any & (C_UP | C_LOW | C_DIG))) {
        if (n <= 3)
            sl->type = S_D;
        return;
    }
    /* Every byte of the core a digit: a number. */
    int digits = core > k0;
    int alpha = 1, upper = 1;
    for (size_t i = k0; i < core && (digits || alpha); i++) {
        unsigned c = cls[(uint8_t)t[i]];
        digits &= (c & C_DIG) != 0;
        alpha &= (c & (C_UP | C_LOW)) != 0;
        upper &= (c & C_UP) != 0;
    }
    if (digits) {
        sl->type = S_N;
        return;
    }
    if (alpha && k0 == 0 && (sl->level = level_word(t, core)) != NULL) {
        sl->type = S_L;
        return;
    }
    if (n == 1 && (sl->level = level_letter(t[0])) != NULL) {
        sl->type = S_L1;
        return;
    }
    /* "name:" and "file.go:123]" (a bracket closed without being
     * opened in the token: glog's source position) end a header. */
    if (n >= 2 && (t[n - 1] == ':' || (t[n - 1] == ']' && !opened)) &&
        component(t, n - 1, sl, off)) {
        sl->type = S_C;
        return;
    }
    sl->idlike = (any & C_ID) != 0;
    sl->caps = alpha && upper && k0 == 0 && core >= 2 && core <= 10;
}

/* Length of the timestamp at s if it has tp's shape, else 0. */
static size_t
tpat_match(const struct tpat *tp, const char *s, size_t len)
{
    if (tp->len == 0 || tp->len > len)
        return 0;
    for (size_t i = 0; i < tp->len; i++) {
        char p = tp->pat[i];
        if (p == '\1'   ? !is_digit(s[i])
            : p == '\2' ? !is_alpha(s[i])
                        : s[i] != p)
            return 0;
    }
    if (tp->len < len && !unit_end(s[tp->len]) && s[tp->len] != ',')
        return 0;
    return tp->len;
}

static void
tpat_learn(struct tpat *tp, const char *s, size_t n)
{
    if (n > TPAT_MAX) {
        tp->len = 0;
        return;
    }
    for (size_t i = 0; i < n; i++)
        tp->pat[i] = is_digit(s[i]) ? '\1' : is_alpha(s[i]) ? '\2' : s[i];
    tp->len = (uint8_t)n;
}

/*
 * Cuts line[0..len) into slots.  Pure but for tp (may be NULL): the
 * shapes of the timestamps last seen per slot, used and updated.  A slot
 * never crosses MAX_HDR_BYTES; scanning stops at max_slots or there.
 */
static void
scan_line(const char *s, size_t len, struct line *ln, uint32_t max_slots,
          struct tpat *tp, const uint8_t *expect)
{
    size_t lim = len < MAX_HDR_BYTES ? len : MAX_HDR_BYTES;
    size_t i = 0;
    while (i < lim && is_blank(s[i]))
        i++;
    ln->n = 0;
    ln->end = (uint32_t)i;
    while (i < lim && ln->n < max_slots) {
        struct slot *sl = &ln->s[ln->n];
        memset(sl, 0, sizeof(*sl));
        size_t e = 0;
        size_t n;
        char c = s[i];
        bool fast = false;
        /* With a learned shape, only its timestamp columns are looked at
         * as timestamps (a line that has one elsewhere does not fit the
         * shape either way). */
        bool ts_here = i < TS_WINDOW && (!expect || expect[ln->n] == S_T);
        if (tp && ts_here && (n = tpat_match(&tp[ln->n], s + i, len - i)) > 0) {
            sl->type = S_T;
            e = i + n;
            fast = true;
        } else if (ts_here && (is_digit(c) || is_upper(c)) &&
                   (n = ts_span(s + i, len - i)) > 0 &&
                   (i + n >= len || unit_end(s[i + n]) || s[i + n] == ',')) {
            sl->type = S_T;
            e = i + n;
        } else if (c == '|') {
            sl->type = S_D;
            e = i + 1;
        } else if (c == '[' || c == '(' || c == '<') {
            size_t close = match_close(s, lim, i);
            if (close > i && (close + 1 >= len || is_space(s[close + 1]) ||
                              s[close + 1] == '|' || s[close + 1] == ':' ||
                              s[close + 1] == '[' || s[close + 1] == ',')) {
                const char *in = s + i + 1;
                size_t in_len = close - i - 1;
                while (in_len && is_blank(in[in_len - 1]))
                    in_len--;
                while (in_len && is_blank(in[0]))
                    in++, in_len--;
                bool digits = in_len > 0;
                for (size_t k = 0; k < in_len; k++)
                    digits &= is_digit(in[k]);
                e = close + 1;
                if (in_len && ts_span(in, in_len) == in_len)
                    sl->type = S_T;
                else if ((sl->level = level_word(in, in_len)) != NULL)
                    sl->type = S_L;
                else if (digits) {
                    sl->type = S_N;
                } else {
                    sl->type = S_B;
                }
                if (e < len && s[e] == ':')
                    e++;
            }
        }
        if (!sl->type) {
            unsigned any = 0;
            for (e = i; e < len; e++) {
                unsigned k = cls[(uint8_t)s[e]];
                if (k & C_STOP)
                    break;
                any |= k;
            }
            classify(s, i, e - i, any, (any & C_OPEN) != 0, sl);
        }
        if (e > lim)
            break; /* a slot that runs past the header window */
        if (tp && sl->type == S_T && !fast)
            tpat_learn(&tp[ln->n], s + i, e - i);
        sl->off = (uint16_t)i;
        sl->len = (uint16_t)(e - i);
        size_t g = e;
        while (g < len && is_blank(s[g]))
            g++;
        sl->gap = (uint8_t)(g - e > 255 ? 255 : g - e);
        ln->n++;
        ln->end = (uint32_t)e;
        i = g;
    }
}

/* Whether bytes other than blanks follow byte e of the line. */
static bool
body_after(const char *s, size_t len, size_t e)
{
    while (e < len && is_space(s[e]))
        e++;
    return e < len;
}

void
sift_header_slots(const char *line, size_t len, struct sift_buf *out)
{
    if (cls['a'] == 0)
        cls_init();
    struct line ln;
    scan_line(line, len, &ln, MAX_SLOTS, NULL, NULL);
    for (uint32_t k = 0; k < ln.n; k++)
        sift_buf_putc(out, type_letter[ln.s[k].type]);
}

/* ------------------------------------------------------------------ */
/* Learning                                                             */
/* ------------------------------------------------------------------ */

static bool
plain(uint8_t t)
{
    return t == S_W || t == S_N || t == S_D;
}

/*
 * Does a line's slot type fit a model column type?  Timestamps, brackets
 * and components are the header's skeleton and must be there; a column
 * of levels, numbers or words also takes another plain token (a level
 * column holding "FAILURE", a state column holding "error" in some lines
 * and "status" in others), so one odd value does not cut the header.
 */
static bool
fits(uint8_t col, uint8_t t, uint8_t gap)
{
    if (col == t)
        return true;
    switch (col) {
    case S_T:
    case S_B:
    case S_C: return false;
    case S_P: return t == S_W && gap >= 2;
    default: return plain(t) || t == S_L || t == S_L1;
    }
}

/* How many plain words may stand right before a slot of type t. */
static unsigned
run_limit(uint8_t t)
{
    switch (t) {
    case S_T: return 4;
    case S_L:
    case S_L1: return 2;
    case S_C:
    case S_B:
    case S_D:
    case S_N:
    case S_P: return 1;
    default: return 0;
    }
}

static void
learn(struct source *src, bool provisional, bool early)
{
    struct model *m = &src->m;
    const struct sample_line *sm = src->sample;
    uint32_t n = src->n_sample;
    uint32_t need = (uint32_t)(AGREE * n + 0.999);
    if (need == 0)
        need = 1;
    bool alive[DEFAULT_LEARN * 4];
    uint32_t n_alive = n;
    for (uint32_t i = 0; i < n; i++)
        alive[i] = true;
    memset(m, 0, sizeof(*m));

    /* Columns: position by position while AGREE of the lines agree. */
    uint8_t col = 0;
    for (; col < MAX_SLOTS; col++) {
        uint32_t cnt[S_X + 1] = {0};
        uint32_t padded = 0, caps = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (!alive[i] || sm[i].n <= col)
                continue;
            cnt[sm[i].type[col]]++;
            padded += sm[i].type[col] == S_W && sm[i].gap[col] >= 2;
            caps += sm[i].type[col] == S_W && sm[i].caps[col];
        }
        /* A level column may hold words the level list lacks (LOG,
         * FAILURE): levels for at least half, capitals for the rest. */
        if (cnt[S_L] * 2 >= need && cnt[S_L] + caps >= need) {
            cnt[S_L] += caps;
            cnt[S_W] -= caps;
        }
        uint8_t best = S_NONE;
        for (unsigned t = S_T; t <= S_W; t++)
            if (best == S_NONE || cnt[t] > cnt[best])
                best = (uint8_t)t;
        uint8_t ct;
        if (best == S_W && padded >= need)
            ct = S_P;
        else if (cnt[best] >= need)
            ct = best;
        else if (cnt[S_W] + cnt[S_N] + cnt[S_D] + cnt[S_L] + cnt[S_L1] >= need)
            ct = S_X;
        else
            break;
        m->type[col] = ct;
        for (uint32_t i = 0; i < n; i++) {
            if (alive[i] &&
                (sm[i].n <= col || !fits(ct, sm[i].type[col], sm[i].gap[col])))
                alive[i] = false, n_alive--;
        }
    }
    m->n_cols = col;
    (void)n_alive;

    /* Word columns whose values are nearly all id-like. */
    bool idcol[MAX_SLOTS];
    for (uint8_t k = 0; k < m->n_cols; k++) {
        uint32_t n_w = 0, n_id = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (sm[i].n <= k || sm[i].type[k] != S_W)
                continue;
            n_w++;
            n_id += sm[i].idlike[k];
        }
        idcol[k] = n_w > 0 && n_id * 10 >= n_w * 9;
    }

    /* Valid header ends among those columns; the header is the last. */
    for (uint8_t e = 1; e <= m->n_cols; e++) {
        uint8_t last = m->type[e - 1];
        bool ok = last != S_W && last != S_X;
        bool strong = false;
        for (uint8_t k = 0; k < e && ok; k++) {
            uint8_t t = m->type[k];
            strong |= t == S_T || t == S_L || t == S_L1;
            if (t == S_C && k != e - 1)
                ok = false;
        }
        /* Runs of plain words, each explained by what follows it; words
         * that look like ids (hosts, nodes, dotted names) are values of
         * a header field and do not count. */
        unsigned run = 0;
        for (uint8_t k = 0; k < e && ok; k++) {
            uint8_t t = m->type[k];
            if (t == S_W || t == S_X) {
                run += !idcol[k];
                continue;
            }
            if (run > run_limit(t))
                ok = false;
            run = 0;
        }
        /* Word columns after the last timestamp or level (where a
         * header may already have ended): few values, or values that
         * look like ids.  Before it every word is a header field. */
        uint8_t last_strong = 0;
        for (uint8_t k = 0; k < e; k++)
            if (m->type[k] == S_T || m->type[k] == S_L || m->type[k] == S_L1)
                last_strong = k;
        for (uint8_t k = (uint8_t)(last_strong + 1); k < e && ok; k++) {
            /* A padded column is a column; so is a word that a separator
             * follows ("logger - message"). */
            if (m->type[k] != S_W || (k + 1 < e && m->type[k + 1] == S_D))
                continue;
            uint64_t seen[DEFAULT_LEARN * 4];
            uint32_t n_seen = 0, n_id = 0, n_w = 0;
            for (uint32_t i = 0; i < n; i++) {
                if (sm[i].n <= k || sm[i].type[k] != S_W)
                    continue;
                n_w++;
                n_id += sm[i].idlike[k];
                uint32_t s = 0;
                while (s < n_seen && seen[s] != sm[i].hash[k])
                    s++;
                if (s == n_seen)
                    seen[n_seen++] = sm[i].hash[k];
            }
            bool ids = n_id * 10 >= n_w * 9;
            bool few = n_seen <= (n >= 12 ? n / 4 : 3);
            if (!ids && ((early && m->type[k] != S_P) || !few))
                ok = false;
        }
        /* A provisional header (the sample is not complete) stops at its
         * last timestamp or level, but for numbers, brackets, components
         * and separators right after it: stripping too little now only
         * costs templates that are merged when the shape grows. */
        if (provisional && ok) {
            for (uint8_t k = (uint8_t)(last_strong + 1); k < e && ok; k++) {
                uint8_t t = m->type[k];
                ok = t == S_C || t == S_B || t == S_N || t == S_D;
            }
        }
        if (ok) {
            /* The body left after e slots, in AGREE of the lines. */
            uint32_t with_body = 0;
            for (uint32_t i = 0; i < n; i++)
                with_body += (sm[i].body_after >> e) & 1u;
            ok = strong && with_body >= need;
        }
        m->valid[e] = ok;
        if (ok)
            m->n = e;
    }
}

/* ------------------------------------------------------------------ */
/* Sources                                                              */
/* ------------------------------------------------------------------ */

int
sift_header_new(const struct sift_header_cfg *cfg, struct sift_header **out)
{
    struct sift_header *h = sift_xcalloc(1, sizeof(*h));
    if (cls['a'] == 0)
        cls_init(); /* idempotent */
    h->max_sources = DEFAULT_MAX_SOURCES;
    h->learn_lines = DEFAULT_LEARN;
    h->learn_max_lines = DEFAULT_LEARN_MAX;
    if (cfg && cfg->learn_max_lines)
        h->learn_max_lines = cfg->learn_max_lines;
    if (cfg && cfg->max_sources)
        h->max_sources = cfg->max_sources;
    if (cfg && cfg->learn_lines)
        h->learn_lines = cfg->learn_lines > DEFAULT_LEARN * 4
                             ? DEFAULT_LEARN * 4
                             : cfg->learn_lines;
    h->n_buckets = 64;
    h->tab = sift_xcalloc(h->n_buckets, sizeof(*h->tab));
    *out = h;
    return SIFT_OK;
}

static void
lru_unlink(struct sift_header *h, struct source *s)
{
    if (s->lru_prev)
        s->lru_prev->lru_next = s->lru_next;
    else
        h->lru_head = s->lru_next;
    if (s->lru_next)
        s->lru_next->lru_prev = s->lru_prev;
    else
        h->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
}

static void
lru_push(struct sift_header *h, struct source *s)
{
    s->lru_next = h->lru_head;
    if (h->lru_head)
        h->lru_head->lru_prev = s;
    h->lru_head = s;
    if (!h->lru_tail)
        h->lru_tail = s;
}

static void
sample_free(struct source *s)
{
    if (!s->sample)
        return;
    for (uint32_t i = 0; i < s->n_sample; i++)
        sift_free(s->sample[i].text);
    sift_free(s->sample);
    s->sample = NULL;
    s->n_sample = 0;
}

static void
source_remove(struct sift_header *h, struct source *s)
{
    struct source **pp = &h->tab[s->key & (h->n_buckets - 1)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    lru_unlink(h, s);
    if (h->last >= s->sample && s->sample &&
        h->last < s->sample + h->learn_lines)
        h->last = NULL;
    sample_free(s);
    sift_free(s);
    h->n_sources--;
}

void
sift_header_free(struct sift_header *h)
{
    if (!h)
        return;
    while (h->lru_head)
        source_remove(h, h->lru_head);
    sift_free(h->tab);
    sift_free(h);
}

uint32_t
sift_header_sources(const struct sift_header *h)
{
    return h->n_sources;
}

static struct source *
source_find(const struct sift_header *h, uint64_t key)
{
    struct source *s = h->tab[key & (h->n_buckets - 1)];
    while (s && s->key != key)
        s = s->hnext;
    return s;
}

static void
grow(struct sift_header *h)
{
    uint32_t nb = h->n_buckets * 2;
    struct source **nt = sift_xcalloc(nb, sizeof(*nt));
    for (uint32_t b = 0; b < h->n_buckets; b++) {
        struct source *s = h->tab[b];
        while (s) {
            struct source *next = s->hnext;
            s->hnext = nt[s->key & (nb - 1)];
            nt[s->key & (nb - 1)] = s;
            s = next;
        }
    }
    sift_free(h->tab);
    h->tab = nt;
    h->n_buckets = nb;
}

static struct source *
source_get(struct sift_header *h, uint64_t key)
{
    struct source *s = source_find(h, key);
    if (s) {
        if (h->lru_head != s) {
            lru_unlink(h, s);
            lru_push(h, s);
        }
        return s;
    }
    while (h->n_sources >= h->max_sources && h->lru_tail)
        source_remove(h, h->lru_tail);
    if (h->n_sources >= h->n_buckets)
        grow(h);
    s = sift_xcalloc(1, sizeof(*s));
    s->key = key;
    s->sample = sift_xcalloc(h->learn_lines, sizeof(*s->sample));
    uint32_t b = (uint32_t)(key & (h->n_buckets - 1));
    s->hnext = h->tab[b];
    h->tab[b] = s;
    lru_push(h, s);
    h->n_sources++;
    return s;
}

/*
 * A line's shape for sampling: its slot types and the words that are
 * not id-like.  Lines of one event share it (numbers, hosts, ids and
 * times differ); lines of different events rarely do.  Sampling one
 * line per shape makes the learned columns those that every kind of
 * line agrees on, however skewed the traffic (a burst of one event).
 */
static uint64_t
line_sig(const char *s, const struct line *ln)
{
    uint64_t h = ln->n;
    for (uint32_t k = 0; k < ln->n; k++) {
        const struct slot *x = &ln->s[k];
        uint64_t v = x->type;
        if ((x->type == S_W || x->type == S_C) && !x->idlike)
            v ^= XXH3_64bits(s + x->off, x->len);
        h = (h ^ v) * UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    return h;
}

/* Adds the line to src's sample if its shape is new (else counts it on
 * the sampled line of that shape); returns the sampled entry or NULL. */
static struct sample_line *
sample_add(struct source *src, const char *s, size_t len, const struct line *ln)
{
    uint64_t sig = line_sig(s, ln);
    src->n_sampling++;
    for (uint32_t i = 0; i < src->n_sample; i++) {
        if (src->sample[i].sig == sig) {
            src->sample[i].weight++;
            return NULL;
        }
    }
    struct sample_line *sl = &src->sample[src->n_sample++];
    sl->sig = sig;
    sl->weight = 1;
    sl->n = (uint8_t)ln->n;
    sl->body_after = 0;
    sl->text = len <= REMINE_MAX_BYTES ? sift_xstrndup(s, len) : NULL;
    sl->len = (uint32_t)len;
    sl->tag = 0;
    for (uint32_t k = 0; k < ln->n; k++) {
        const struct slot *x = &ln->s[k];
        sl->type[k] = x->type;
        sl->gap[k] = x->gap;
        sl->idlike[k] = x->idlike;
        sl->caps[k] = x->caps;
        sl->hash[k] = x->type == S_W ? XXH3_64bits(s + x->off, x->len) : 0;
        if (body_after(s, len, (size_t)x->off + x->len))
            sl->body_after |= 1u << (k + 1);
    }
    return sl;
}

/* ------------------------------------------------------------------ */
/* Splitting                                                            */
/* ------------------------------------------------------------------ */

/* Fills the header parts of out from the first e slots of ln. */
static void
take_header(const char *s, size_t len, const struct line *ln,
            const struct model *m, uint32_t e, struct sift_header_parts *out)
{
    const struct slot *last = &ln->s[e - 1];
    size_t b = (size_t)last->off + last->len;
    while (b < len && is_space(s[b]))
        b++;
    out->body_off = (uint32_t)b;
    out->body_len = (uint32_t)(len - b);
    out->header_slots = e;
    bool after_ts = false;
    unsigned n_num = 0;
    for (uint32_t k = 0; k < e; k++) {
        const struct slot *x = &ln->s[k];
        switch (x->type) {
        case S_T:
            after_ts = true;
            n_num = 0;
            break;
        case S_L:
        case S_L1:
            if (!out->level)
                out->level = x->level;
            break;
        case S_N:
            /* Numbers after the timestamp: pid, then thread id. */
            if (!after_ts)
                break;
            if (n_num == 0 && !out->pid_len) {
                out->pid_off = x->off;
                out->pid_len = x->len;
                if (s[x->off] == '[') /* "[1234]" */
                    out->pid_off++, out->pid_len -= 2;
            } else if (n_num == 1 && !out->tid_len) {
                out->tid_off = x->off;
                out->tid_len = x->len;
            }
            n_num++;
            break;
        case S_C:
            out->logger_off = x->off;
            out->logger_len = x->name_len;
            if (x->pid_len) {
                out->pid_off = x->pid_off;
                out->pid_len = x->pid_len;
            }
            break;
        case S_W:
            /* A word right before a separator or bracket closing the
             * header ("logger - msg", "logger [req] msg"). */
            if (k + 1 < e && m && m->type[k] == S_W &&
                (ln->s[k + 1].type == S_D || ln->s[k + 1].type == S_B) &&
                !out->logger_len && x->len <= 255) {
                out->logger_off = x->off;
                out->logger_len = x->len;
            }
            break;
        default: break;
        }
    }
    /* A trailing ',' or ':' is not part of a pid or thread id. */
    while (out->pid_len && !is_digit(s[out->pid_off + out->pid_len - 1]))
        out->pid_len--;
    while (out->tid_len && !is_digit(s[out->tid_off + out->tid_len - 1]))
        out->tid_len--;
}

/* Splits one scanned line by model m (no learning); returns whether it
 * matched the model in full. */
static bool
apply(const struct model *m, const char *s, size_t len, const struct line *ln,
      struct sift_header_parts *out)
{
    uint32_t k = 0;
    while (k < m->n && k < ln->n &&
           fits(m->type[k], ln->s[k].type, ln->s[k].gap))
        k++;
    uint32_t e = k;
    if (k < m->n) {
        while (e > 0 && !m->valid[e])
            e--;
    }
    if (e > 0 &&
        body_after(s, len, (size_t)ln->s[e - 1].off + ln->s[e - 1].len))
        take_header(s, len, ln, m, e, out);
    return k == m->n;
}

static bool
model_same(const struct model *a, const struct model *b)
{
    return a->n == b->n && memcmp(a->type, b->type, a->n) == 0;
}

/*
 * The model changed: split the sampled lines again and let the caller
 * re-mine them (each line's tag becomes what the callback returns).
 */
static void
remine(struct source *src, uint32_t n, sift_header_remine_cb cb, void *arg)
{
    for (uint32_t i = 0; i < n; i++) {
        struct sample_line *sl = &src->sample[i];
        if (!sl->text)
            continue;
        struct line ln;
        struct sift_header_parts p;
        memset(&p, 0, sizeof(p));
        p.body_len = sl->len;
        scan_line(sl->text, sl->len, &ln, MAX_SLOTS, NULL, NULL);
        apply(&src->m, sl->text, sl->len, &ln, &p);
        sl->tag = cb(arg, sl->text, sl->len, &p, sl->tag, sl->weight);
    }
}

static void
split_text(struct sift_header *h, uint64_t key, const char *s, size_t len,
           struct sift_header_parts *out, sift_header_remine_cb cb, void *arg)
{
    struct line ln;
    struct source *src = source_get(h, key);
    /* A learned source needs only the slots of its header. */
    scan_line(s, len, &ln, src->sample ? MAX_SLOTS : src->m.n,
              src->sample ? NULL : src->tp, src->sample ? NULL : src->m.type);
    struct model before = src->m;
    bool changed = false;
    if (src->sample) {
        struct sample_line *sl = sample_add(src, s, len, &ln);
        h->last = sl;
        bool done = src->n_sample == h->learn_lines ||
                    src->n_sampling >= h->learn_max_lines;
        if ((sl && !src->learned) || done) {
            learn(src, false, false);
            changed = !model_same(&before, &src->m);
        }
        if (changed && cb)
            remine(src, sl ? src->n_sample - 1 : src->n_sample, cb, arg);
        if (done) {
            h->last = NULL;
            sample_free(src);
            memset(src->tp, 0, sizeof(src->tp));
            src->learned = 1;
            src->win_lines = src->win_miss = 0;
        }
    }
    if (!apply(&src->m, s, len, &ln, out))
        src->win_miss++;
    if (src->learned && !src->sample && ++src->win_lines >= RELEARN_WINDOW) {
        if (src->win_miss > RELEARN_MISS * src->win_lines &&
            src->relearns < MAX_RELEARN) {
            src->relearns++;
            src->sample = sift_xcalloc(h->learn_lines, sizeof(*src->sample));
            src->n_sample = 0;
            src->n_sampling = 0;
        }
        src->win_lines = src->win_miss = 0;
    }
}

/* ---- JSON in message ---------------------------------------------- */

/* Skips a JSON string at s[*i] == '"'; returns false if unterminated. */
static bool
json_skip_string(const char *s, size_t len, size_t *i)
{
    size_t j = *i + 1;
    while (j < len && s[j] != '"') {
        if (s[j] == '\\')
            j++;
        j++;
    }
    if (j >= len)
        return false;
    *i = j + 1;
    return true;
}

/* Skips any JSON value at s[*i]. */
static bool
json_skip_value(const char *s, size_t len, size_t *i)
{
    if (*i >= len)
        return false;
    if (s[*i] == '"')
        return json_skip_string(s, len, i);
    if (s[*i] == '{' || s[*i] == '[') {
        unsigned depth = 0;
        size_t j = *i;
        while (j < len) {
            char c = s[j];
            if (c == '"') {
                if (!json_skip_string(s, len, &j))
                    return false;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0) {
                *i = j + 1;
                return true;
            }
            j++;
        }
        return false;
    }
    size_t j = *i;
    while (j < len && s[j] != ',' && s[j] != '}' && !is_space(s[j]))
        j++;
    if (j == *i)
        return false;
    *i = j;
    return true;
}

static bool
key_is(const char *k, size_t n, const char *const *names, size_t n_names,
       int *rank)
{
    for (size_t r = 0; r < n_names; r++) {
        if (strlen(names[r]) == n && memcmp(names[r], k, n) == 0) {
            *rank = (int)r;
            return true;
        }
    }
    return false;
}

/*
 * A line that is one JSON object: body = its message value.  Returns
 * false (out untouched) when the line is not a JSON object with a
 * string message.
 */
static bool
split_json(const char *s, size_t len, struct sift_header_parts *out,
           size_t *inner_off, size_t *inner_len)
{
    static const char *const msg_keys[] = {"msg", "message", "log", "MESSAGE",
                                           "text"};
    static const char *const lvl_keys[] = {"level", "lvl", "severity",
                                           "levelname", "log.level"};
    static const char *const lgr_keys[] = {"logger", "logger_name", "name",
                                           "component", "log.logger"};
    size_t i = 0;
    while (i < len && is_space(s[i]))
        i++;
    if (i >= len || s[i] != '{')
        return false;
    i++;
    int msg_rank = 99, lvl_rank = 99, lgr_rank = 99;
    size_t m_off = 0, m_len = 0;
    struct sift_header_parts p;
    memset(&p, 0, sizeof(p));
    for (;;) {
        while (i < len && is_space(s[i]))
            i++;
        if (i < len && s[i] == '}')
            break;
        if (i >= len || s[i] != '"')
            return false;
        size_t k_off = i + 1;
        if (!json_skip_string(s, len, &i))
            return false;
        size_t k_len = i - 1 - k_off;
        while (i < len && is_space(s[i]))
            i++;
        if (i >= len || s[i] != ':')
            return false;
        i++;
        while (i < len && is_space(s[i]))
            i++;
        size_t v_off = i;
        if (!json_skip_value(s, len, &i))
            return false;
        bool str = s[v_off] == '"';
        size_t sv_off = v_off + 1, sv_len = str ? i - v_off - 2 : 0;
        const char *k = s + k_off;
        int r;
        if (str && key_is(k, k_len, msg_keys, 5, &r) && r < msg_rank) {
            msg_rank = r;
            m_off = sv_off;
            m_len = sv_len;
        } else if (str && key_is(k, k_len, lvl_keys, 5, &r) && r < lvl_rank) {
            const char *lv = sift_parse_level_normalize(s + sv_off, sv_len);
            if (lv) {
                lvl_rank = r;
                p.level = lv;
            }
        } else if (str && key_is(k, k_len, lgr_keys, 5, &r) && r < lgr_rank &&
                   sv_len > 0) {
            lgr_rank = r;
            p.logger_off = (uint32_t)sv_off;
            p.logger_len = (uint32_t)sv_len;
        } else if (k_len == 3 && memcmp(k, "pid", 3) == 0 && !str) {
            p.pid_off = (uint32_t)v_off;
            p.pid_len = (uint32_t)(i - v_off);
        } else if (k_len == 3 && memcmp(k, "tid", 3) == 0 && !str) {
            p.tid_off = (uint32_t)v_off;
            p.tid_len = (uint32_t)(i - v_off);
        }
        while (i < len && is_space(s[i]))
            i++;
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '}')
            break;
        return false;
    }
    if (msg_rank == 99 || m_len == 0)
        return false;
    for (uint32_t q = 0; q < p.pid_len; q++)
        if (!is_digit(s[p.pid_off + q]))
            p.pid_len = 0;
    for (uint32_t q = 0; q < p.tid_len; q++)
        if (!is_digit(s[p.tid_off + q]))
            p.tid_len = 0;
    p.json = 1;
    p.body_off = (uint32_t)m_off;
    p.body_len = (uint32_t)m_len;
    *out = p;
    *inner_off = m_off;
    *inner_len = m_len;
    return true;
}

void
sift_header_split(struct sift_header *h, uint64_t source, const char *line,
                  size_t len, struct sift_header_parts *out,
                  sift_header_remine_cb remine_cb, void *arg)
{
    h->last = NULL;
    memset(out, 0, sizeof(*out));
    if (len > UINT32_MAX)
        len = UINT32_MAX;
    out->body_len = (uint32_t)len;
    size_t in_off, in_len;
    if (len && (line[0] == '{' || is_space(line[0])) &&
        split_json(line, len, out, &in_off, &in_len)) {
        /* The message inside may carry a header of its own. */
        struct sift_header_parts in;
        memset(&in, 0, sizeof(in));
        in.body_len = (uint32_t)in_len;
        split_text(h, source ^ UINT64_C(0x6a736f6e6d736731), line + in_off,
                   in_len, &in, NULL, NULL);
        out->body_off = (uint32_t)(in_off + in.body_off);
        out->body_len = in.body_len;
        out->header_slots = in.header_slots;
        if (!out->level)
            out->level = in.level;
        if (!out->logger_len && in.logger_len) {
            out->logger_off = (uint32_t)(in_off + in.logger_off);
            out->logger_len = in.logger_len;
        }
        if (!out->pid_len && in.pid_len) {
            out->pid_off = (uint32_t)(in_off + in.pid_off);
            out->pid_len = in.pid_len;
        }
        if (!out->tid_len && in.tid_len) {
            out->tid_off = (uint32_t)(in_off + in.tid_off);
            out->tid_len = in.tid_len;
        }
        return;
    }
    split_text(h, source, line, len, out, remine_cb, arg);
}

void
sift_header_tag_last(struct sift_header *h, uint32_t tag)
{
    if (h->last)
        h->last->tag = tag;
}

void
sift_header_describe(const struct sift_header *h, uint64_t source,
                     struct sift_buf *out)
{
    const struct source *s = source_find(h, source);
    if (!s || s->m.n == 0) {
        sift_buf_putc(out, '-');
        return;
    }
    for (uint32_t k = 0; k < s->m.n; k++)
        sift_buf_putc(out, type_letter[s->m.type[k]]);
}
