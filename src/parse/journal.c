/*
 * journal.c - the journal export format (what systemd-journal-upload
 * sends, application/vnd.fdo.journal) decoded into events.
 *
 * Format: entries separated by an empty line; each field is either
 * "NAME=value\n" (the value holds no LF) or "NAME\n" followed by a
 * little-endian 64-bit length, that many bytes and "\n" (any bytes).
 * Names are upper-case letters, digits and '_' (the journal's "__" and
 * "_" prefixes mark fields the journal itself or the sender's kernel
 * side added).
 *
 * Mapping, per entry: MESSAGE is parsed like any line with the options
 * (format auto: a JSON or logfmt message gives its fields, level and
 * message); the time is _SOURCE_REALTIME_TIMESTAMP, else
 * __REALTIME_TIMESTAMP (microseconds), else arrival; host.name from
 * _HOSTNAME, service.name from SYSLOG_IDENTIFIER else _COMM, log.level
 * from PRIORITY (0-2 fatal, 3 error, 4 warn, 5 notice, 6 info, 7 debug),
 * process.pid (a number) from _PID, each unless the message gave it; every
 * other field (and those) is kept as a keyword field under its journal
 * name (_SYSTEMD_UNIT:nginx.service), except the monotonic timestamp.
 * A value that is not valid UTF-8 (a binary field) is left out, the
 * message too (the entry then has an empty message and its fields).
 * Events keep no raw bytes.
 *
 * A body that breaks the format (a field without '=' or a length, a
 * length past the end, a bad name) fails as a whole (SIFT_EPARSE); an
 * entry whose message breaks a limit is rejected alone through the
 * callback.  The last entry may end without its empty line.
 *
 * Pure; any thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"
#include "sift/utf8.h"

#include "parse/parse_int.h"

#define MAX_ENTRY_FIELDS 256

struct jfield {
    const char *name, *value;
    size_t nl, vl;
};

static int
name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return 1;
}

static const struct jfield *
jfind(const struct jfield *f, size_t n, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (f[i].nl == nl && memcmp(f[i].name, name, nl) == 0)
            return &f[i];
    return NULL;
}

static int
usec_ns(const struct jfield *f, int64_t *out)
{
    if (!f || f->vl == 0 || f->vl > 18)
        return 0;
    int64_t v = 0;
    for (size_t i = 0; i < f->vl; i++) {
        if (f->value[i] < '0' || f->value[i] > '9')
            return 0;
        v = v * 10 + (f->value[i] - '0');
    }
    if (v <= 0 || v > INT64_MAX / 1000)
        return 0;
    *out = v * 1000;
    return 1;
}

static int
has_field(const struct sift_event *ev, const char *name)
{
    return sift_event_field(ev, name, strlen(name)) != NULL;
}

/* One entry to an event, handed to cb; returns cb's stop value, or
 * SIFT_ENOMEM. */
static int
emit(const struct sift_parse_opts *o, const struct jfield *jf, size_t n,
     size_t no, int64_t recv_ns, struct sift_arena *arena,
     sift_parse_line_cb cb, void *arg)
{
    static const char *const levels[8] = {"fatal", "fatal",  "fatal", "error",
                                          "warn",  "notice", "info",  "debug"};
    const struct jfield *msg = jfind(jf, n, "MESSAGE");
    int64_t at = recv_ns;
    if (!usec_ns(jfind(jf, n, "_SOURCE_REALTIME_TIMESTAMP"), &at))
        usec_ns(jfind(jf, n, "__REALTIME_TIMESTAMP"), &at);
    const char *line = "";
    size_t line_len = 0;
    if (msg && sift_utf8_valid(msg->value, msg->vl)) {
        line = msg->value;
        line_len = msg->vl;
    }
    struct sift_event ev;
    struct sift_parse_error perr;
    memset(&perr, 0, sizeof(perr));
    int rc = sift_parse_event(o, line, line_len, at, arena, &ev, &perr);
    if (rc == SIFT_ENOMEM)
        return rc;
    if (rc != SIFT_OK) {
        perr.line = line;
        perr.line_len = line_len;
        perr.line_no = no;
        return cb(arg, rc, NULL, &perr);
    }
    ev.ts_ns = at;
    struct sift_field *f =
        sift_arena_try_alloc(arena, (ev.n_fields + n + 4) * sizeof(*f));
    if (!f)
        return SIFT_ENOMEM;
    if (ev.n_fields)
        memcpy(f, ev.fields, ev.n_fields * sizeof(*f));
    uint32_t k = ev.n_fields;
    const struct {
        const char *from, *to;
        uint8_t type;
    } ecs[] = {{"_HOSTNAME", "host.name", SIFT_FT_KEYWORD},
               {"SYSLOG_IDENTIFIER", "service.name", SIFT_FT_KEYWORD},
               {"_COMM", "service.name", SIFT_FT_KEYWORD},
               {"_PID", "process.pid", SIFT_FT_NUMBER}};
    for (size_t e = 0; e < sizeof(ecs) / sizeof(ecs[0]); e++) {
        const struct jfield *x = jfind(jf, n, ecs[e].from);
        if (!x || x->vl == 0 || has_field(&ev, ecs[e].to) ||
            !sift_utf8_valid(x->value, x->vl))
            continue;
        int dup = 0;
        for (uint32_t i = ev.n_fields; i < k && !dup; i++)
            dup = f[i].name == ecs[e].to ||
                  (f[i].name_len == strlen(ecs[e].to) &&
                   memcmp(f[i].name, ecs[e].to, f[i].name_len) == 0);
        if (dup)
            continue;
        uint8_t type = ecs[e].type;
        for (size_t d = 0; d < x->vl && type == SIFT_FT_NUMBER; d++)
            if (x->value[d] < '0' || x->value[d] > '9')
                type = SIFT_FT_KEYWORD;
        f[k++] = (struct sift_field){ecs[e].to, x->value,
                                     (uint32_t)strlen(ecs[e].to),
                                     (uint32_t)x->vl, type};
    }
    const struct jfield *pri = jfind(jf, n, "PRIORITY");
    if (pri && pri->vl == 1 && pri->value[0] >= '0' && pri->value[0] <= '7' &&
        !has_field(&ev, "log.level")) {
        const char *lv = levels[pri->value[0] - '0'];
        f[k++] = (struct sift_field){"log.level", lv, 9, (uint32_t)strlen(lv),
                                     SIFT_FT_KEYWORD};
    }
    for (size_t i = 0; i < n; i++) {
        const struct jfield *x = &jf[i];
        if (x == msg ||
            (x->nl == 21 &&
             memcmp(x->name, "__MONOTONIC_TIMESTAMP", 21) == 0) ||
            !sift_utf8_valid(x->value, x->vl) ||
            sift_event_field(&ev, x->name, x->nl))
            continue;
        f[k++] = (struct sift_field){x->name, x->value, (uint32_t)x->nl,
                                     (uint32_t)x->vl, SIFT_FT_KEYWORD};
    }
    ev.fields = f;
    ev.n_fields = k;
    ev.raw = NULL;
    ev.raw_len = 0;
    return cb(arg, SIFT_OK, &ev, NULL);
}

static int
bad(struct sift_parse_error *err, size_t at, const char *why)
{
    err->rc = SIFT_EPARSE;
    err->offset = at;
    snprintf(err->reason, sizeof(err->reason),
             "invalid journal export format at byte %zu: %s", at, why);
    return SIFT_EPARSE;
}

int
sift_journal_export_parse(const struct sift_parse_opts *o, const char *body,
                          size_t len, int64_t recv_ns, struct sift_arena *arena,
                          sift_parse_line_cb cb, void *arg,
                          struct sift_parse_error *err)
{
    struct sift_parse_error local;
    struct jfield jf[MAX_ENTRY_FIELDS];
    size_t n = 0, no = 0, i = 0;
    if (!err)
        err = &local;
    memset(err, 0, sizeof(*err));
    /* The whole body is checked before anything is handed on. */
    for (int pass = 0; pass < 2; pass++) {
        i = 0;
        n = 0;
        no = 0;
        while (i <= len) {
            if (i == len || body[i] == '\n') {
                if (n > 0) {
                    no++;
                    if (pass == 1) {
                        int rc = emit(o, jf, n, no, recv_ns, arena, cb, arg);
                        if (rc == SIFT_ENOMEM) {
                            err->rc = rc;
                            snprintf(err->reason, sizeof(err->reason),
                                     "out of memory");
                            return rc;
                        }
                        if (rc)
                            return rc;
                    }
                }
                n = 0;
                i++;
                continue;
            }
            const char *s = body + i;
            const char *nl = memchr(s, '\n', len - i);
            const char *eq = memchr(s, '=', nl ? (size_t)(nl - s) : len - i);
            struct jfield x;
            if (eq) {
                x.name = s;
                x.nl = (size_t)(eq - s);
                x.value = eq + 1;
                x.vl =
                    nl ? (size_t)(nl - eq - 1) : (size_t)(body + len - eq - 1);
                i = nl ? (size_t)(nl - body) + 1 : len;
            } else {
                if (!nl)
                    return bad(err, i, "a field without '=' or a length");
                x.name = s;
                x.nl = (size_t)(nl - s);
                size_t at = (size_t)(nl - body) + 1;
                if (len - at < 8)
                    return bad(err, at, "a binary field's length is cut");
                uint64_t vl = 0;
                for (int b = 7; b >= 0; b--)
                    vl = (vl << 8) | (unsigned char)body[at + (size_t)b];
                at += 8;
                if (vl > len - at || len - at - vl < 1 || body[at + vl] != '\n')
                    return bad(err, at, "a binary field runs past the body");
                x.value = body + at;
                x.vl = (size_t)vl;
                i = at + (size_t)vl + 1;
            }
            if (!name_ok(x.name, x.nl))
                return bad(err, (size_t)(x.name - body),
                           "a field name is not upper-case letters, digits "
                           "and '_'");
            if (n == MAX_ENTRY_FIELDS)
                return bad(err, (size_t)(x.name - body),
                           "an entry has more than 256 fields");
            jf[n++] = x;
        }
    }
    return SIFT_OK;
}
