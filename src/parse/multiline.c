/*
 * multiline.c - continuation lines join the event before them
 * (include/sift/multiline.h has the rules users see).
 *
 * Design: the rules are two predicates, "is this text a continuation"
 * (the built-in prefixes or a PCRE2 pattern) and "may this event join
 * that one" (same stream, level, time gap).  sift_parse_lines() (parse.c)
 * applies them line by line to bodies, with the extra "no timestamp of
 * its own" rule only text lines have; sift_multiline_join() applies them
 * to arrays of structured events (broker batches, _bulk).  A joined
 * message is built once, in two passes (find the runs, then size and
 * copy), so a 500-line trace costs one copy, not 500.
 *
 * Invariants: only an event's immediate predecessor is ever joined to;
 * a joined event never exceeds max_lines lines or max_bytes of message;
 * nothing is dropped.
 *
 * Threads: compiled rules are read-only; match data is per call.
 */
#include "sift/multiline.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/config.h"
#include "sift/error.h"

struct sift_multiline {
    struct sift_multiline_opts o;
    char *pattern;    /* owned copy */
    pcre2_code *code; /* NULL = built-in rules */
};

/* Fields that name where an event came from: two events of one stream
 * agree on every one of them (both absent counts as agreeing). */
static const char *const stream_fields[] = {
    "host.name",    "host.hostname", "log.file.path",
    "service.name", "container.id",  "kubernetes.pod.uid",
    "process.pid",  "agent.id",      "_index",
};

void
sift_multiline_opts_init(struct sift_multiline_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->enabled = true;
    o->pattern = "";
    o->max_lines = 500;
    o->max_bytes = 1u << 20;
    o->max_gap_ns = INT64_C(5) * 1000000000;
}

void
sift_multiline_opts_from_config(struct sift_multiline_opts *o,
                                const struct sift_config *cfg)
{
    o->enabled = cfg->multiline != 0;
    o->pattern = cfg->multiline_pattern ? cfg->multiline_pattern : "";
    o->negate = cfg->multiline_negate != 0;
    if (cfg->multiline_max_lines > 0 && cfg->multiline_max_lines <= UINT32_MAX)
        o->max_lines = (uint32_t)cfg->multiline_max_lines;
    if (cfg->max_line_bytes > 0 && cfg->max_line_bytes <= UINT32_MAX)
        o->max_bytes = (uint32_t)cfg->max_line_bytes;
    o->max_gap_ns = cfg->multiline_max_gap_ms * INT64_C(1000000);
}

int
sift_multiline_new(const struct sift_multiline_opts *o,
                   struct sift_multiline **out, char *why, size_t why_len)
{
    struct sift_multiline *m = sift_xcalloc(1, sizeof(*m));
    m->o = *o;
    m->pattern = sift_xstrdup(o->pattern ? o->pattern : "");
    m->o.pattern = m->pattern;
    if (m->pattern[0] != '\0') {
        int ecode;
        PCRE2_SIZE eoff;
        m->code = pcre2_compile((PCRE2_SPTR)m->pattern, PCRE2_ZERO_TERMINATED,
                                0, &ecode, &eoff, NULL);
        if (!m->code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ecode, msg, sizeof(msg));
            if (why && why_len)
                snprintf(why, why_len,
                         "ingest.multiline_pattern: %s at offset %zu",
                         (const char *)msg, (size_t)eoff);
            sift_multiline_free(m);
            *out = NULL;
            return SIFT_EINVAL;
        }
        (void)pcre2_jit_compile(m->code, PCRE2_JIT_COMPLETE);
    }
    *out = m;
    return SIFT_OK;
}

void
sift_multiline_free(struct sift_multiline *m)
{
    if (!m)
        return;
    pcre2_code_free(m->code);
    sift_free(m->pattern);
    sift_free(m);
}

const struct sift_multiline_opts *
sift_multiline_opts(const struct sift_multiline *m)
{
    return &m->o;
}

static int
starts(const char *s, size_t len, const char *prefix)
{
    size_t pl = strlen(prefix);
    return len >= pl && memcmp(s, prefix, pl) == 0;
}

static int
builtin_rule(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    /* Indented: a tab, or two spaces.  One space is not indentation: a
     * syslog MSG (rsyslog's msg property) starts with the space after
     * "tag:", on every message. */
    if (s[0] == '\t' || (s[0] == ' ' && len > 1 && s[1] == ' ')) {
        /* Only whitespace is a blank line, not a continuation. */
        for (size_t i = 1; i < len; i++)
            if (s[i] != ' ' && s[i] != '\t')
                return 1;
        return 0;
    }
    return starts(s, len, "at ") || starts(s, len, "Caused by:") ||
           starts(s, len, "Suppressed:") || starts(s, len, "...");
}

int
sift_multiline_is_continuation(const struct sift_multiline *m, const char *s,
                               size_t len)
{
    if (!m || !m->o.enabled)
        return 0;
    if (!m->code)
        return builtin_rule(s, len);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(m->code, NULL);
    if (!md)
        return 0;
    int rc = pcre2_match(m->code, (PCRE2_SPTR)s, len, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    int hit = rc >= 0;
    return m->o.negate ? !hit : hit;
}

static const struct sift_field *
field(const struct sift_event *ev, const char *name)
{
    return sift_event_field(ev, name, strlen(name));
}

static int
same_value(const struct sift_field *a, const struct sift_field *b)
{
    if (!a || !b)
        return a == b;
    return a->value_len == b->value_len &&
           memcmp(a->value, b->value, a->value_len) == 0;
}

int
sift_multiline_same_stream(const struct sift_multiline *m,
                           const struct sift_event *prev,
                           const struct sift_event *next, int next_has_ts)
{
    for (size_t i = 0; i < sizeof(stream_fields) / sizeof(stream_fields[0]);
         i++)
        if (!same_value(field(prev, stream_fields[i]),
                        field(next, stream_fields[i])))
            return 0;
    /* A continuation line has no level of its own, or the same one (a
     * syslog severity is on every line of a trace). */
    const struct sift_field *nl = field(next, "log.level");
    if (nl && !same_value(field(prev, "log.level"), nl))
        return 0;
    if (next_has_ts && m->o.max_gap_ns >= 0) {
        int64_t d = next->ts_ns >= prev->ts_ns ? next->ts_ns - prev->ts_ns
                                               : prev->ts_ns - next->ts_ns;
        if (d < 0 || d > m->o.max_gap_ns)
            return 0;
    }
    return 1;
}

size_t
sift_multiline_join(const struct sift_multiline *m, struct sift_event *evs,
                    size_t n, const char *const *streams, const uint8_t *flags,
                    struct sift_arena *arena, uint32_t *where, size_t *joined)
{
    if (joined)
        *joined = 0;
    if (where)
        for (size_t i = 0; i < n; i++)
            where[i] = (uint32_t)i;
    if (!m || !m->o.enabled || n < 2)
        return n;
    /* Pass 1: head[i] = the event whose run input i belongs to. */
    size_t *head = sift_try_malloc(n * sizeof(*head));
    if (!head)
        return n;
    size_t h = 0, lines = 1, bytes = evs[0].msg_len;
    size_t lt = 0; /* the run's latest event with a time of its own */
    head[0] = 0;
    for (size_t i = 1; i < n; i++) {
        const struct sift_event *e = &evs[i];
        const struct sift_event *last = &evs[lt];
        uint8_t fi = flags ? flags[i] : 0, fh = flags ? flags[h] : 0;
        int join =
            !((fi | fh) & SIFT_ML_KEEP) && lines < m->o.max_lines &&
            bytes + 1 + e->msg_len <= m->o.max_bytes &&
            (!streams || (streams[i] && streams[h] &&
                          strcmp(streams[i], streams[h]) == 0)) &&
            sift_multiline_is_continuation(m, e->msg ? e->msg : "",
                                           e->msg_len) &&
            sift_multiline_same_stream(m, &evs[h], e, 0) &&
            sift_multiline_same_stream(m, last, e, !(fi & SIFT_ML_UNTIMED));
        if (join) {
            head[i] = h;
            lines++;
            bytes += 1 + e->msg_len;
            if (!(fi & SIFT_ML_UNTIMED))
                lt = i;
        } else {
            head[i] = h = lt = i;
            lines = 1;
            bytes = e->msg_len;
        }
    }
    /* Pass 2: build each joined message, compact. */
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        size_t len = evs[i].msg_len;
        while (j < n && head[j] == i)
            len += 1 + evs[j++].msg_len;
        struct sift_event ev = evs[i];
        if (j > i + 1) {
            char *msg = sift_arena_try_alloc(arena, len ? len : 1);
            if (!msg) {
                /* Keep them apart rather than lose any. */
                for (size_t k = i; k < j; k++) {
                    if (where)
                        where[k] = (uint32_t)out;
                    evs[out++] = evs[k];
                }
                i = j;
                continue;
            }
            size_t at = 0;
            if (evs[i].msg_len)
                memcpy(msg, evs[i].msg, evs[i].msg_len);
            at = evs[i].msg_len;
            for (size_t k = i + 1; k < j; k++) {
                msg[at++] = '\n';
                if (evs[k].msg_len)
                    memcpy(msg + at, evs[k].msg, evs[k].msg_len);
                at += evs[k].msg_len;
            }
            ev.msg = msg;
            ev.msg_len = (uint32_t)len;
            if (joined)
                *joined += j - i - 1;
        }
        for (size_t k = i; k < j; k++)
            if (where)
                where[k] = (uint32_t)out;
        evs[out++] = ev;
        i = j;
    }
    sift_free(head);
    return out;
}
