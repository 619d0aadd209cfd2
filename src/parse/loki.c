/*
 * loki.c - the Loki push request (POST /loki/api/v1/push) decoded into
 * events: binary protobuf (logproto.PushRequest, after the handler
 * undid its snappy block compression) and JSON.
 *
 *   protobuf  PushRequest { repeated StreamAdapter streams = 1 }
 *             StreamAdapter { string labels = 1 ("{app=\"x\",env=\"prod\"}");
 *                             repeated EntryAdapter entries = 2 }
 *             EntryAdapter { Timestamp timestamp = 1 {int64 seconds = 1,
 *                            int32 nanos = 2}; string line = 2;
 *                            repeated LabelPair structuredMetadata = 3
 *                            {string name = 1, value = 2} }
 *   JSON      {"streams":[{"stream":{"app":"x"},"values":[["<ns>","line"
 *             (,{"trace_id":"..."})],...]}]}; the older {"labels":"{..}",
 *             "entries":[{"ts":"RFC 3339","line":".."}]} too.
 *
 * Mapping, per entry: the line is parsed like any line with format auto
 * (JSON, logfmt, syslog or text: its fields, level and message), its time
 * is the entry's timestamp (Loki's own rule), and the stream's labels and
 * the entry's structured metadata become keyword fields that the line's
 * own fields of the same name override.  service.name comes from the
 * first of the labels service_name, service, app, application when the
 * line has none; log.level from a level, detected_level or severity label
 * or metadata when the line has none.  Events keep no raw bytes (the
 * dead-letter store keeps them as JSON).
 *
 * A body that is not a valid request (bad wire format, a label string
 * that is not {name="value",...}, a timestamp that is not a number) fails
 * as a whole (SIFT_EPARSE); an entry whose line breaks a limit is
 * rejected alone through the callback.
 *
 * Pure; any thread.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

#include "parse/parse_int.h"
#include "parse/pb.h"

/* Labels (or metadata) as keyword fields in the arena. */
struct lset {
    struct sift_field *f;
    uint32_t n, cap;
};

static int
lset_add(struct sift__walk *c, struct lset *l, const char *name, size_t nl,
         const char *value, size_t vl)
{
    if (nl == 0)
        return 0;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 8;
        struct sift_field *f = sift_arena_try_alloc(c->arena, cap * sizeof(*f));
        if (!f) {
            c->nomem = 1;
            return -1;
        }
        if (l->n)
            memcpy(f, l->f, l->n * sizeof(*f));
        l->f = f;
        l->cap = cap;
    }
    struct sift_field *f = &l->f[l->n++];
    f->name = name;
    f->name_len = nl > UINT32_MAX ? UINT32_MAX : (uint32_t)nl;
    f->value = value;
    f->value_len = vl > UINT32_MAX ? UINT32_MAX : (uint32_t)vl;
    f->type = SIFT_FT_KEYWORD;
    return 0;
}

/* ------------------------------------------------------------------ */
/* The label string: {name="value", name="value"}                       */
/* ------------------------------------------------------------------ */

static int
is_name_char(char ch, int first)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
           (!first && ch >= '0' && ch <= '9');
}

/* Parses s[0..len) into l; -1 when it is not a label set. */
static int
parse_labels(struct sift__walk *c, const char *s, size_t len, struct lset *l)
{
    size_t i = 0;
    while (i < len && s[i] == ' ')
        i++;
    if (i == len)
        return 0; /* no labels at all */
    if (s[i++] != '{')
        return -1;
    for (int first = 1;; first = 0) {
        while (i < len && s[i] == ' ')
            i++;
        if (i < len && s[i] == '}' && first) {
            i++;
            break;
        }
        size_t a = i;
        while (i < len && is_name_char(s[i], i == a))
            i++;
        if (i == a)
            return -1;
        size_t na = a, nl = i - a;
        while (i < len && s[i] == ' ')
            i++;
        if (i + 1 >= len || s[i] != '=' || s[i + 1] != '"')
            return -1;
        i += 2;
        /* The value, with \\, \", \n, \t, \r escapes. */
        size_t va = i;
        int esc = 0;
        while (i < len && s[i] != '"') {
            if (s[i] == '\\') {
                esc = 1;
                i++;
            }
            i++;
        }
        if (i >= len)
            return -1;
        size_t vl = i - va;
        const char *v = s + va;
        if (esc) {
            char *o = sift_arena_try_alloc(c->arena, vl ? vl : 1);
            if (!o) {
                c->nomem = 1;
                return -1;
            }
            size_t n = 0;
            for (size_t k = va; k < i; k++) {
                char ch = s[k];
                if (ch == '\\' && k + 1 < i) {
                    ch = s[++k];
                    ch = ch == 'n'   ? '\n'
                         : ch == 't' ? '\t'
                         : ch == 'r' ? '\r'
                                     : ch;
                }
                o[n++] = ch;
            }
            v = o;
            vl = n;
        }
        i++; /* closing quote */
        if (lset_add(c, l, s + na, nl, v, vl) < 0)
            return -1;
        while (i < len && s[i] == ' ')
            i++;
        if (i < len && s[i] == ',') {
            i++;
            continue;
        }
        if (i < len && s[i] == '}') {
            i++;
            break;
        }
        return -1;
    }
    while (i < len && s[i] == ' ')
        i++;
    return i == len ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* One entry                                                           */
/* ------------------------------------------------------------------ */

static int
has_field(const struct sift_event *ev, const char *name, size_t nl)
{
    return sift_event_field(ev, name, nl) != NULL;
}

static const struct sift_field *
find(const struct lset *l, const char *name)
{
    size_t nl = strlen(name);
    for (uint32_t i = 0; i < l->n; i++) {
        if (l->f[i].name_len == nl && memcmp(l->f[i].name, name, nl) == 0)
            return &l->f[i];
    }
    return NULL;
}

static void
emit(struct sift__walk *c, const struct lset *labels, const struct lset *meta,
     int64_t ts_ns, const char *line, size_t line_len, const char *raw,
     size_t raw_len)
{
    struct sift_parse_error perr;
    struct sift_event ev;
    c->n++;
    memset(&perr, 0, sizeof(perr));
    int64_t at = ts_ns > 0 ? ts_ns : c->recv_ns;
    int rc = sift_parse_event(c->o, line, line_len, at, c->arena, &ev, &perr);
    if (rc == SIFT_ENOMEM) {
        c->nomem = 1;
        return;
    }
    if (rc != SIFT_OK) {
        perr.line = raw;
        perr.line_len = raw_len;
        perr.line_no = c->n;
        c->stop = c->cb(c->arg, rc, NULL, &perr);
        return;
    }
    ev.ts_ns = at; /* the entry's time is Loki's time */
    /* Labels and metadata, unless the line has the field; then the
     * service and level the line did not give. */
    size_t cap = (size_t)ev.n_fields + labels->n + meta->n + 2;
    struct sift_field *f = sift_arena_try_alloc(c->arena, cap * sizeof(*f));
    if (!f) {
        c->nomem = 1;
        return;
    }
    if (ev.n_fields)
        memcpy(f, ev.fields, ev.n_fields * sizeof(*f));
    uint32_t n = ev.n_fields;
    const struct lset *sets[2] = {meta, labels};
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < sets[k]->n; i++) {
            const struct sift_field *lf = &sets[k]->f[i];
            int dup = 0;
            for (uint32_t j = 0; j < n && !dup; j++)
                dup = f[j].name_len == lf->name_len &&
                      memcmp(f[j].name, lf->name, lf->name_len) == 0;
            if (!dup)
                f[n++] = *lf;
        }
    }
    if (!has_field(&ev, "service.name", 12)) {
        static const char *const svc[] = {"service_name", "service", "app",
                                          "application"};
        for (size_t k = 0; k < 4; k++) {
            const struct sift_field *s = find(labels, svc[k]);
            if (s) {
                f[n] = *s;
                f[n].name = "service.name";
                f[n].name_len = 12;
                n++;
                break;
            }
        }
    }
    if (!has_field(&ev, "log.level", 9)) {
        static const char *const lv[] = {"level", "detected_level", "severity"};
        for (size_t k = 0; k < 6; k++) {
            const struct sift_field *s = find(k < 3 ? meta : labels, lv[k % 3]);
            if (!s)
                continue;
            const char *norm =
                sift_parse_level_normalize(s->value, s->value_len);
            f[n] = *s;
            f[n].name = "log.level";
            f[n].name_len = 9;
            if (norm) {
                f[n].value = norm;
                f[n].value_len = (uint32_t)strlen(norm);
            }
            n++;
            break;
        }
    }
    ev.fields = f;
    ev.n_fields = n;
    ev.raw = NULL;
    ev.raw_len = 0;
    c->stop = c->cb(c->arg, SIFT_OK, &ev, NULL);
}

/* ------------------------------------------------------------------ */
/* Protobuf                                                            */
/* ------------------------------------------------------------------ */

static int
pb_entry(struct sift__walk *c, const struct sift__pb_field *f,
         const struct lset *labels)
{
    struct sift__pb r, t;
    struct sift__pb_field g, h;
    struct lset meta = {NULL, 0, 0};
    int64_t sec = 0, nanos = 0;
    const char *line = "";
    size_t line_len = 0;
    int k;
    sift__pb_sub(f, &r);
    while ((k = sift__pb_next(&r, &g)) > 0) {
        if (g.num == 1) {
            if (g.wt != SIFT__PB_LEN)
                return -1;
            sift__pb_sub(&g, &t);
            int kk;
            while ((kk = sift__pb_next(&t, &h)) > 0) {
                if (h.wt != SIFT__PB_VARINT)
                    return -1;
                if (h.num == 1)
                    sec = (int64_t)h.v;
                else if (h.num == 2)
                    nanos = (int32_t)(uint32_t)h.v;
            }
            if (kk < 0)
                return -1;
        } else if (g.num == 2) {
            if (g.wt != SIFT__PB_LEN)
                return -1;
            line = (const char *)g.at;
            line_len = g.len;
        } else if (g.num == 3) {
            if (g.wt != SIFT__PB_LEN)
                return -1;
            const char *name = NULL, *value = "";
            size_t nl = 0, vl = 0;
            sift__pb_sub(&g, &t);
            int kk;
            while ((kk = sift__pb_next(&t, &h)) > 0) {
                if ((h.num == 1 || h.num == 2) && h.wt != SIFT__PB_LEN)
                    return -1;
                if (h.num == 1) {
                    name = (const char *)h.at;
                    nl = h.len;
                } else if (h.num == 2) {
                    value = (const char *)h.at;
                    vl = h.len;
                }
            }
            if (kk < 0 || (name && lset_add(c, &meta, name, nl, value, vl) < 0))
                return -1;
        }
    }
    if (k < 0)
        return -1;
    int64_t ts = 0;
    if (sec > 0 && sec < INT64_MAX / 1000000000 - 1 && nanos >= 0 &&
        nanos < 1000000000)
        ts = sec * 1000000000 + nanos;
    emit(c, labels, &meta, ts, line, line_len, (const char *)f->at, f->len);
    return c->nomem ? -1 : 0;
}

static int
pb_request(struct sift__walk *c, const char *body, size_t len)
{
    struct sift__pb r, s;
    struct sift__pb_field g, h;
    int k;
    sift__pb_init(&r, body, len);
    while ((k = sift__pb_next(&r, &g)) > 0 && !c->stop) {
        if (g.num != 1)
            continue;
        if (g.wt != SIFT__PB_LEN)
            return -1;
        /* The labels first (they may follow the entries). */
        struct lset labels = {NULL, 0, 0};
        int kk;
        sift__pb_sub(&g, &s);
        while ((kk = sift__pb_next(&s, &h)) > 0) {
            if ((h.num == 1 || h.num == 2) && h.wt != SIFT__PB_LEN)
                return -1;
            if (h.num == 1 &&
                parse_labels(c, (const char *)h.at, h.len, &labels) < 0) {
                if (!c->nomem)
                    snprintf(c->err->reason, sizeof(c->err->reason),
                             "labels are not {name=\"value\",...}: %.*s",
                             (int)(h.len < 80 ? h.len : 80),
                             (const char *)h.at);
                return -1;
            }
        }
        if (kk < 0)
            return -1;
        sift__pb_sub(&g, &s);
        while ((kk = sift__pb_next(&s, &h)) > 0 && !c->stop) {
            if (h.num == 2 && pb_entry(c, &h, &labels) < 0)
                return -1;
        }
        if (kk < 0)
            return -1;
    }
    return k < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */
/* ------------------------------------------------------------------ */

/* A nanosecond timestamp written as a string or a number. */
static int
json_ns(struct sift__jp *j, int64_t *out)
{
    const char *s = NULL;
    size_t len = 0;
    int t = sift__jp_peek(j);
    if (t == SIFT__JP_STRING) {
        if (sift__jp_string(j, &s, &len) < 0)
            return -1;
    } else if (sift__jp_number(j, &s, &len) < 0) {
        return -1;
    }
    int64_t v = 0;
    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        if (v > (INT64_MAX - d) / 10)
            return -1; /* past 2262: not a time */
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* {"name":"value",...} into l (non-string values are skipped). */
static int
json_kv_object(struct sift__walk *c, struct sift__jp *j, struct lset *l)
{
    const char *k = NULL, *v = NULL;
    size_t kl = 0, vl = 0;
    int rc;
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (sift__jp_peek(j) == SIFT__JP_STRING) {
            if (sift__jp_string(j, &v, &vl) < 0 ||
                lset_add(c, l, k, kl, v, vl) < 0)
                return -1;
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
    }
    return rc;
}

/* ["<ns>", "line"(, {metadata})] */
static int
json_value_entry(struct sift__walk *c, struct sift__jp *j,
                 const struct lset *labels)
{
    struct lset meta = {NULL, 0, 0};
    int64_t ts = 0;
    const char *line = NULL;
    size_t line_len = 0, a = j->pos, b;
    int rc, idx = 0;
    if (sift__jp_enter_array(j) < 0)
        return -1;
    while ((rc = sift__jp_element(j)) > 0) {
        if (idx == 0) {
            if (json_ns(j, &ts) < 0)
                return -1;
        } else if (idx == 1) {
            if (sift__jp_string(j, &line, &line_len) < 0)
                return -1;
        } else if (idx == 2 && sift__jp_peek(j) == SIFT__JP_OBJECT) {
            if (json_kv_object(c, j, &meta) < 0)
                return -1;
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
        idx++;
    }
    if (rc < 0 || idx < 2)
        return -1;
    b = j->pos;
    emit(c, labels, &meta, ts, line, line_len, j->s + a, b - a);
    return c->nomem ? -1 : 0;
}

/* The older {"ts":"RFC 3339","line":".."} entry. */
static int
json_legacy_entry(struct sift__walk *c, struct sift__jp *j,
                  const struct lset *labels)
{
    const char *k, *line = NULL, *ts_s = NULL;
    size_t kl, line_len = 0, ts_len = 0, a = j->pos;
    int rc;
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (kl == 2 && memcmp(k, "ts", 2) == 0) {
            if (sift__jp_string(j, &ts_s, &ts_len) < 0)
                return -1;
        } else if (kl == 4 && memcmp(k, "line", 4) == 0) {
            if (sift__jp_string(j, &line, &line_len) < 0)
                return -1;
        } else if (sift__jp_skip(j, NULL, NULL) < 0) {
            return -1;
        }
    }
    int64_t ts = 0;
    if (rc < 0 || !line ||
        (ts_s && sift_parse_rfc3339(ts_s, ts_len, &ts) != SIFT_OK))
        return -1;
    struct lset none = {NULL, 0, 0};
    emit(c, labels, &none, ts, line, line_len, j->s + a, j->pos - a);
    return c->nomem ? -1 : 0;
}

static int json_stream(struct sift__walk *c, struct sift__jp *j);

static int
json(struct sift__walk *c, const struct sift__jp *outer, size_t a, size_t b,
     int legacy, const struct lset *labels)
{
    struct sift__jp j;
    int rc;
    sift__jp_init(&j, outer->s + a, b - a, SIFT__PARSE_MAX_DEPTH_CAP, c->arena);
    if (sift__jp_enter_array(&j) < 0)
        return -1;
    while ((rc = sift__jp_element(&j)) > 0 && !c->stop) {
        if ((legacy ? json_legacy_entry(c, &j, labels)
                    : json_value_entry(c, &j, labels)) < 0)
            return -1;
    }
    return rc < 0 ? -1 : 0;
}

static int
json_stream(struct sift__walk *c, struct sift__jp *j)
{
    const char *k = NULL, *s = NULL, *unknown = NULL;
    size_t kl = 0, sl = 0, a = 0, b = 0, unknown_len = 0;
    int rc, have = 0, legacy = 0;
    struct lset labels = {NULL, 0, 0};
    if (sift__jp_enter_object(j) < 0)
        return -1;
    while ((rc = sift__jp_member(j, &k, &kl)) > 0) {
        if (kl == 6 && memcmp(k, "stream", 6) == 0) {
            if (json_kv_object(c, j, &labels) < 0)
                return -1;
        } else if (kl == 6 && memcmp(k, "labels", 6) == 0) {
            if (sift__jp_string(j, &s, &sl) < 0 ||
                parse_labels(c, s, sl, &labels) < 0)
                return -1;
        } else if ((kl == 6 && memcmp(k, "values", 6) == 0) ||
                   (kl == 7 && memcmp(k, "entries", 7) == 0)) {
            legacy = k[0] == 'e';
            if (sift__jp_skip(j, &a, &b) < 0)
                return -1;
            have = 1;
        } else {
            if (!unknown) {
                unknown = k;
                unknown_len = kl;
            }
            if (sift__jp_skip(j, NULL, NULL) < 0)
                return -1;
        }
    }
    if (rc < 0)
        return -1;
    if (!have) {
        /* A misspelled "values" would store nothing behind a 204. */
        snprintf(c->err->reason, sizeof(c->err->reason),
                 "invalid Loki push JSON: a stream without \"values\"%s%.*s%s",
                 unknown ? " (unknown key \"" : "",
                 unknown ? (int)(unknown_len > 64 ? 64 : unknown_len) : 0,
                 unknown ? unknown : "", unknown ? "\")" : "");
        return -1;
    }
    return json(c, j, a, b, legacy, &labels);
}

static int
json_request(struct sift__walk *c, const char *body, size_t len)
{
    struct sift__jp j;
    const char *k = NULL;
    size_t kl = 0;
    int rc;
    sift__jp_init(&j, body, len, SIFT__PARSE_MAX_DEPTH_CAP, c->arena);
    if (sift__jp_enter_object(&j) < 0)
        goto bad;
    int streams = 0;
    while ((rc = sift__jp_member(&j, &k, &kl)) > 0 && !c->stop) {
        if (kl == 7 && memcmp(k, "streams", 7) == 0) {
            streams = 1;
            if (sift__jp_enter_array(&j) < 0)
                goto bad;
            int e;
            while ((e = sift__jp_element(&j)) > 0 && !c->stop) {
                if (json_stream(c, &j) < 0)
                    goto bad;
            }
            if (e < 0)
                goto bad;
        } else if (sift__jp_skip(&j, NULL, NULL) < 0) {
            goto bad;
        }
    }
    if (c->stop || c->nomem)
        return 0;
    if (rc < 0 || sift__jp_finish(&j) < 0)
        goto bad;
    if (!streams) {
        snprintf(c->err->reason, sizeof(c->err->reason),
                 "invalid Loki push JSON: no \"streams\" array");
        return -1;
    }
    return 0;
bad:
    if (!c->nomem && !c->stop && !c->err->reason[0]) {
        if (j.err)
            snprintf(c->err->reason, sizeof(c->err->reason),
                     "invalid Loki push JSON at byte %zu: %s", j.err_at, j.err);
        else
            snprintf(c->err->reason, sizeof(c->err->reason),
                     "invalid Loki push JSON: a stream, entry or label set "
                     "is not what the push API takes");
    }
    return -1;
}

int
sift_loki_push_parse(const struct sift_parse_opts *o, int json,
                     const char *body, size_t len, int64_t recv_ns,
                     struct sift_arena *arena, sift_parse_line_cb cb, void *arg,
                     struct sift_parse_error *err)
{
    struct sift_parse_error local;
    struct sift__walk c;
    sift__walk_init(&c, o, arena, recv_ns, cb, arg, err, &local);
    int rc = json ? json_request(&c, body, len) : pb_request(&c, body, len);
    return sift__walk_end(&c, rc,
                          "the body is not a valid Loki protobuf PushRequest");
}
