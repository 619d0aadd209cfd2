/*
 * syslog.c - RFC 5424, RFC 3164 and rsyslog's file/forward templates.
 *
 * Accepted shapes (PRI optional except for RFC 5424):
 *   <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD...] MSG       (RFC 5424)
 *   <PRI>Mmm dd hh:mm:ss HOST TAG[pid]: MSG                  (RFC 3164)
 *   <PRI>2024-05-14T09:21:07.412345+00:00 HOST TAG[pid]: MSG (ForwardFormat)
 *   2024-05-14T09:21:07.412345+00:00 HOST TAG[pid]: MSG      (FileFormat)
 *   Mmm dd hh:mm:ss HOST TAG[pid]: MSG                       (syslog files)
 * A trailing LF (FileFormat) has been stripped by the caller.
 *
 * Fields (ECS names): log.syslog.facility.code, log.syslog.severity.code
 * (NUMBER), log.level from the severity, host.name, service.name (APP or
 * TAG), process.pid (NUMBER when numeric), log.syslog.msgid, and each
 * structured-data param as log.syslog.structured_data.<SD-ID>.<name>.
 * The message is MSG (the header is in raw); a UTF-8 BOM is dropped.
 * Header fields are derived (not counted against max_fields); SD params
 * are user fields.  A nil ("-") value yields no field.
 *
 * Pure; any thread.
 */
#include <string.h>

#include "sift/arena.h"
#include "sift/error.h"

#include "parse/parse_int.h"

static const char *const numbers[] = {
    "0",  "1",  "2",  "3",  "4",  "5",  "6",  "7",  "8",  "9",  "10", "11",
    "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22", "23"};

static const char *const sev_level[8] = {"fatal", "fatal",  "fatal", "error",
                                         "warn",  "notice", "info",  "debug"};

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* <PRI>: returns bytes consumed (0 = none) and sets *pri (0..191). */
static size_t
parse_pri(const char *s, size_t len, unsigned *pri)
{
    size_t i = 1;
    unsigned v = 0;
    if (len < 3 || s[0] != '<')
        return 0;
    while (i < len && i <= 3 && is_digit(s[i])) {
        v = v * 10 + (unsigned)(s[i] - '0');
        i++;
    }
    if (i == 1 || i >= len || s[i] != '>' || v > 191)
        return 0;
    *pri = v;
    return i + 1;
}

/* A header token: up to the next space. */
static size_t
token(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] != ' ')
        i++;
    return i;
}

/*
 * TAG[pid]: at s[i]; returns the index after ':' (and one space), or 0
 * when there is no such tag.  Sets the tag and pid spans.
 */
static size_t
parse_tag(const char *s, size_t len, size_t i, size_t *tag_end, size_t *pid_a,
          size_t *pid_b)
{
    size_t a = i;
    *pid_a = *pid_b = 0;
    while (i < len && s[i] != ' ' && s[i] != ':' && s[i] != '[' && i - a < 128)
        i++;
    if (i == a || i >= len)
        return 0;
    *tag_end = i;
    if (s[i] == '[') {
        size_t p = i + 1;
        while (p < len && s[p] != ']' && s[p] != ' ')
            p++;
        if (p >= len || s[p] != ']')
            return 0;
        *pid_a = i + 1;
        *pid_b = p;
        i = p + 1;
    }
    if (i >= len || s[i] != ':')
        return 0;
    i++;
    if (i < len && s[i] == ' ')
        i++;
    return i;
}

/* Timestamp of a non-5424 line: RFC 3339 or BSD; bytes consumed or 0. */
static size_t
parse_ts(const char *s, size_t len, int64_t recv_ns, int64_t *ns)
{
    size_t n = sift__parse_ts_rfc3339_prefix(s, len, ns);
    if (n && s[10] == ' ')
        n = 0; /* "2024-05-14 09:.." is not a syslog timestamp */
    if (!n)
        n = sift__parse_ts_bsd(s, len, recv_ns, ns);
    return n;
}

bool
sift__parse_syslog_sniff(const char *s, size_t len)
{
    int64_t ns;
    size_t tag_end, pa, pb;
    size_t i = parse_ts(s, len, 0, &ns);
    if (!i || i >= len || s[i] != ' ')
        return false;
    i++;
    size_t h = token(s, len, i);
    if (h == i || h >= len || memchr(s + i, ':', h - i) ||
        memchr(s + i, '[', h - i))
        return false;
    return parse_tag(s, len, h + 1, &tag_end, &pa, &pb) != 0;
}

static bool
all_digits(const char *s, size_t len)
{
    if (len == 0 || len > 18)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit(s[i]))
            return false;
    }
    return true;
}

static int
add_pid(struct sift__pctx *x, const char *s, size_t len)
{
    if (len == 0 || (len == 1 && s[0] == '-'))
        return SIFT_OK;
    return sift__pctx_add_derived(x, "process.pid", 11, s, len,
                                  all_digits(s, len) ? SIFT_FT_NUMBER
                                                     : SIFT_FT_KEYWORD);
}

static int
add_nonnil(struct sift__pctx *x, const char *name, const char *s, size_t len)
{
    if (len == 0 || (len == 1 && s[0] == '-'))
        return SIFT_OK;
    return sift__pctx_add_derived(x, name, strlen(name), s, len,
                                  SIFT_FT_KEYWORD);
}

/* [id k="v" ...][id2 ...]: adds the params; returns index after it. */
static int
parse_sd(struct sift__pctx *x, size_t *ip)
{
    const char *s = x->line;
    size_t len = x->len, i = *ip;
    static const char prefix[] = "log.syslog.structured_data.";
    const size_t plen = sizeof(prefix) - 1;

    while (i < len && s[i] == '[') {
        size_t id_a = ++i;
        while (i < len && s[i] != ' ' && s[i] != ']' && s[i] != '=' &&
               s[i] != '"')
            i++;
        size_t id_b = i;
        if (id_b == id_a || i >= len)
            goto bad;
        while (i < len && s[i] == ' ') {
            i++;
            size_t na = i;
            while (i < len && s[i] != '=' && s[i] != ' ' && s[i] != ']' &&
                   s[i] != '"')
                i++;
            size_t nb = i;
            if (nb == na || i + 1 >= len || s[i] != '=' || s[i + 1] != '"')
                goto bad;
            i += 2;
            size_t va = i;
            bool esc = false;
            while (i < len && s[i] != '"') {
                if (s[i] == '\\' && i + 1 < len) {
                    esc = true;
                    i++;
                }
                i++;
            }
            if (i >= len)
                goto bad;
            size_t vb = i++;
            const char *v = s + va;
            size_t vl = vb - va;
            if (esc) {
                char *o = sift__pctx_dup(x, v, vl);
                size_t n = 0;
                if (!o)
                    return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
                for (size_t k = 0; k < vl; k++) {
                    if (v[k] == '\\' && k + 1 < vl &&
                        (v[k + 1] == '"' || v[k + 1] == '\\' ||
                         v[k + 1] == ']'))
                        k++;
                    o[n++] = v[k];
                }
                v = o;
                vl = n;
            }
            size_t name_len = plen + (id_b - id_a) + 1 + (nb - na);
            char *name = sift_arena_try_alloc(x->arena, name_len);
            if (!name)
                return sift__pctx_fail(x, SIFT_ENOMEM, 0, "out of memory");
            memcpy(name, prefix, plen);
            memcpy(name + plen, s + id_a, id_b - id_a);
            name[plen + (id_b - id_a)] = '.';
            memcpy(name + plen + (id_b - id_a) + 1, s + na, nb - na);
            int rc = sift__pctx_add(x, name, name_len, v, vl, SIFT_FT_KEYWORD);
            if (rc) {
                x->err->offset = na;
                return rc;
            }
        }
        if (i >= len || s[i] != ']')
            goto bad;
        i++;
    }
    *ip = i;
    return SIFT_OK;
bad:
    return sift__pctx_fail(x, SIFT_EPARSE, i,
                           "invalid structured data at byte %zu", i);
}

static void
set_msg(struct sift__pctx *x, size_t i)
{
    const char *s = x->line;
    if (i > x->len)
        i = x->len;
    if (x->len - i >= 3 && (unsigned char)s[i] == 0xef &&
        (unsigned char)s[i + 1] == 0xbb && (unsigned char)s[i + 2] == 0xbf)
        i += 3;
    x->msg = s + i;
    x->msg_len = (uint32_t)(x->len - i);
}

static int
parse_5424(struct sift__pctx *x, size_t i)
{
    const char *s = x->line;
    size_t len = x->len;
    int rc;

    /* TIMESTAMP */
    size_t e = token(s, len, i);
    if (!(e - i == 1 && s[i] == '-')) {
        int64_t ns;
        if (sift_parse_rfc3339(s + i, e - i, &ns) != SIFT_OK)
            return sift__pctx_fail(x, SIFT_EPARSE, i,
                                   "invalid RFC 5424 timestamp at byte %zu", i);
        x->ts_ns = ns;
        x->have_ts = true;
    }
    /* HOST APP PROCID MSGID */
    size_t span[4][2];
    for (int k = 0; k < 4; k++) {
        if (e >= len || s[e] != ' ')
            return sift__pctx_fail(x, SIFT_EPARSE, e,
                                   "truncated RFC 5424 header at byte %zu", e);
        i = e + 1;
        e = token(s, len, i);
        if (e == i)
            return sift__pctx_fail(x, SIFT_EPARSE, i,
                                   "empty RFC 5424 header field at byte %zu",
                                   i);
        span[k][0] = i;
        span[k][1] = e;
    }
    if ((rc = add_nonnil(x, "host.name", s + span[0][0],
                         span[0][1] - span[0][0])) ||
        (rc = add_nonnil(x, "service.name", s + span[1][0],
                         span[1][1] - span[1][0])) ||
        (rc = add_pid(x, s + span[2][0], span[2][1] - span[2][0])) ||
        (rc = add_nonnil(x, "log.syslog.msgid", s + span[3][0],
                         span[3][1] - span[3][0])))
        return rc;
    /* SD */
    if (e >= len || s[e] != ' ')
        return sift__pctx_fail(x, SIFT_EPARSE, e,
                               "missing RFC 5424 structured data at byte %zu",
                               e);
    i = e + 1;
    if (i < len && s[i] == '-') {
        i++;
    } else if (i < len && s[i] == '[') {
        rc = parse_sd(x, &i);
        if (rc)
            return rc;
    } else {
        return sift__pctx_fail(x, SIFT_EPARSE, i,
                               "invalid structured data at byte %zu", i);
    }
    if (i < len && s[i] != ' ')
        return sift__pctx_fail(x, SIFT_EPARSE, i,
                               "invalid structured data at byte %zu", i);
    set_msg(x, i + 1);
    return SIFT_OK;
}

int
sift__parse_syslog(struct sift__pctx *x)
{
    const char *s = x->line;
    size_t len = x->len;
    unsigned pri = 0;
    int rc;

    /* Derived header fields plus SD params (bounded by '=' count). */
    uint32_t n_eq = 0;
    for (const char *p = s; (p = memchr(p, '=', (size_t)(s + len - p))); p++)
        n_eq++;
    rc = sift__pctx_reserve(x, n_eq + 8);
    if (rc)
        return rc;

    size_t i = parse_pri(s, len, &pri);
    bool have_pri = i > 0;
    if (have_pri) {
        unsigned fac = pri >> 3, sev = pri & 7;
        if ((rc = sift__pctx_add_derived(x, "log.syslog.facility.code", 24,
                                         numbers[fac], strlen(numbers[fac]),
                                         SIFT_FT_NUMBER)) ||
            (rc = sift__pctx_add_derived(x, "log.syslog.severity.code", 24,
                                         numbers[sev], 1, SIFT_FT_NUMBER)) ||
            (rc = sift__pctx_add_derived(x, "log.level", 9, sev_level[sev],
                                         strlen(sev_level[sev]),
                                         SIFT_FT_KEYWORD)))
            return rc;
        /* RFC 5424: VERSION (1-2 digits) then a space. */
        if (i + 1 < len && s[i] >= '1' && s[i] <= '9' &&
            (s[i + 1] == ' ' ||
             (i + 2 < len && is_digit(s[i + 1]) && s[i + 2] == ' '))) {
            size_t v = i + (s[i + 1] == ' ' ? 2 : 3);
            return parse_5424(x, v);
        }
    }

    int64_t ns;
    size_t n = parse_ts(s + i, len - i, x->recv_ns, &ns);
    if (!n) {
        if (!have_pri)
            return sift__pctx_fail(x, SIFT_EPARSE, i,
                                   "no syslog timestamp at byte %zu", i);
        /* <PRI> then free text: keep it as the message. */
        set_msg(x, i);
        return SIFT_OK;
    }
    x->ts_ns = ns;
    x->have_ts = true;
    i += n;
    if (i >= len) {
        set_msg(x, len);
        return SIFT_OK;
    }
    if (s[i] != ' ')
        return sift__pctx_fail(x, SIFT_EPARSE, i,
                               "expected a space after the timestamp at "
                               "byte %zu",
                               i);
    i++;
    size_t h = token(s, len, i);
    size_t tag_end = 0, pa = 0, pb = 0, after;
    /* RFC 3164 allows a message with no host: "TAG: msg" right away. */
    after = parse_tag(s, len, i, &tag_end, &pa, &pb);
    if (after && tag_end <= h &&
        (h == len || s[h - 1] == ':' || s[h - 1] == ']')) {
        /* The first token is already a TAG: no hostname. */
    } else {
        if ((rc = add_nonnil(x, "host.name", s + i, h - i)))
            return rc;
        i = h < len ? h + 1 : len;
        after = parse_tag(s, len, i, &tag_end, &pa, &pb);
    }
    if (after) {
        if ((rc = add_nonnil(x, "service.name", s + i, tag_end - i)) ||
            (rc = add_pid(x, s + pa, pb - pa)))
            return rc;
        i = after;
    }
    set_msg(x, i);
    return SIFT_OK;
}
