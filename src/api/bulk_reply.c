/*
 * bulk_reply.c - the Elasticsearch _bulk response, from the items that
 * sift_bulk_parse() returned, and its filter_path.
 *
 * One object per item, in order: {"<action>":{"_index":..,"_id":..,
 * "_version":1,"result":"created","_shards":{..},"status":201}} or, for a
 * failed item, {..,"status":400,"error":{"type":..,"reason":..}}, less
 * what filter_path leaves out.  Byte for byte Elasticsearch's shape:
 * Filebeat and Logstash read it.
 *
 * Pure; any thread.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sift/buf.h"
#include "sift/parse.h"
#include "sift/render.h"

/* A JSON string; plain ASCII strings (the usual index and id) in one
 * copy, anything else through the one escaper (valid UTF-8 out). */
static void
put_str(struct sift_buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
            sift_buf_put_json_str(out, s, len);
            return;
        }
    }
    sift_buf_reserve(out, len + 2);
    char *d = out->data + out->len;
    d[0] = '"';
    memcpy(d + 1, s, len);
    d[len + 1] = '"';
    out->len += len + 2;
}

#define LIT(out, s) sift_buf_append((out), (s), sizeof(s) - 1)

/* ------------------------------------------------------------------ */
/* filter_path                                                         */
/* ------------------------------------------------------------------ */

/*
 * The response has a fixed shape, so a filter_path compiles to one bit
 * per leaf: took, errors, and per action name the item's leaves below.
 * A pattern keeps a leaf when it matches the leaf's path or a prefix of
 * it (keeping a whole object, "items.*.error"); "*" in a segment matches
 * any run of characters, a "**" segment any number of segments.  A
 * pattern starting with '-' removes what it matches.  Objects and arrays
 * left empty are not written.
 */
enum {
    BF_INDEX = 1u << 0,
    BF_ID = 1u << 1,
    BF_VERSION = 1u << 2,
    BF_RESULT = 1u << 3,
    BF_SH_TOTAL = 1u << 4,
    BF_SH_OK = 1u << 5,
    BF_SH_FAILED = 1u << 6,
    BF_STATUS = 1u << 7,
    BF_ERR_TYPE = 1u << 8,
    BF_ERR_REASON = 1u << 9,
};
#define BF_SHARDS (BF_SH_TOTAL | BF_SH_OK | BF_SH_FAILED)
#define BF_ERROR (BF_ERR_TYPE | BF_ERR_REASON)
/* What a created item and a failed item have. */
#define BF_CREATED                                                             \
    (BF_INDEX | BF_ID | BF_VERSION | BF_RESULT | BF_SHARDS | BF_STATUS)
#define BF_FAILED (BF_INDEX | BF_ID | BF_STATUS | BF_ERROR)
#define BF_ALL (BF_CREATED | BF_FAILED)

/* The item key of each action (enum sift_bulk_action). */
static const char *const action_names[] = {"index", "index", "create", "delete",
                                           "update"};
#define N_ACTIONS (sizeof(action_names) / sizeof(action_names[0]))

static const struct {
    const char *seg[2];
    uint16_t bit;
} item_leaves[] = {
    {{"_index", NULL}, BF_INDEX},
    {{"_id", NULL}, BF_ID},
    {{"_version", NULL}, BF_VERSION},
    {{"result", NULL}, BF_RESULT},
    {{"_shards", "total"}, BF_SH_TOTAL},
    {{"_shards", "successful"}, BF_SH_OK},
    {{"_shards", "failed"}, BF_SH_FAILED},
    {{"status", NULL}, BF_STATUS},
    {{"error", "type"}, BF_ERR_TYPE},
    {{"error", "reason"}, BF_ERR_REASON},
};

struct seg {
    const char *p;
    size_t len;
};

/* Glob with '*' (any run, empty included) against a whole name. */
static bool
glob_match(const char *p, size_t plen, const char *s)
{
    size_t slen = strlen(s), i = 0, j = 0, star = SIZE_MAX, mark = 0;
    while (j < slen) {
        if (i < plen && p[i] == '*') {
            star = i++;
            mark = j;
        } else if (i < plen && p[i] == s[j]) {
            i++;
            j++;
        } else if (star != SIZE_MAX) {
            i = star + 1;
            j = ++mark;
        } else {
            return false;
        }
    }
    while (i < plen && p[i] == '*')
        i++;
    return i == plen;
}

static bool
is_dstar(const struct seg *s)
{
    return s->len == 2 && s->p[0] == '*' && s->p[1] == '*';
}

/* Does the pattern match path, or a prefix of it? */
static bool
path_match(const struct seg *pat, size_t np, const char *const *path,
           size_t npath)
{
    if (np == 0)
        return true;
    if (is_dstar(pat))
        return path_match(pat + 1, np - 1, path, npath) ||
               (npath > 0 && path_match(pat, np, path + 1, npath - 1));
    return npath > 0 && glob_match(pat->p, pat->len, path[0]) &&
           path_match(pat + 1, np - 1, path + 1, npath - 1);
}

#define MAX_PATTERN_SEGS 16

/* Splits one pattern at '.', folding runs of "**".  Returns the count,
 * or 0 for a pattern that can match nothing here (more named segments
 * than the response is deep: it still makes the filter an inclusion
 * list). */
static size_t
split_pattern(const char *p, size_t len, struct seg *segs)
{
    size_t n = 0, named = 0;
    while (len > 0 || n == 0) {
        const char *dot = memchr(p, '.', len);
        size_t l = dot ? (size_t)(dot - p) : len;
        struct seg s = {p, l};
        if (!is_dstar(&s)) {
            if (++named > 4)
                return 0;
            segs[n++] = s;
        } else if (n == 0 || !is_dstar(&segs[n - 1])) {
            segs[n++] = s;
        }
        if (!dot)
            break;
        p = dot + 1;
        len -= l + 1;
        if (len == 0) { /* a trailing '.': an empty last segment */
            segs[n++] = (struct seg){p, 0};
            break;
        }
    }
    return n; /* at most 4 named segments with "**" between: < 16 */
}

void
sift_render_bulk_filter(struct sift_bulk_filter *f, const char *filter_path)
{
    f->took = f->errors = true;
    for (size_t a = 0; a < N_ACTIONS; a++)
        f->fields[a] = BF_ALL;
    if (filter_path == NULL || filter_path[0] == '\0')
        return;
    bool any_incl = false, in_took = false, in_err = false;
    bool ex_took = false, ex_err = false;
    uint16_t in[N_ACTIONS] = {0}, ex[N_ACTIONS] = {0};
    const char *p = filter_path;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *q = p;
        while (len > 0 && *q == ' ')
            q++, len--;
        while (len > 0 && q[len - 1] == ' ')
            len--;
        bool excl = len > 0 && *q == '-';
        if (excl)
            q++, len--;
        struct seg segs[MAX_PATTERN_SEGS];
        size_t n = len > 0 ? split_pattern(q, len, segs) : 0;
        if (len > 0)
            any_incl |= !excl;
        if (n > 0) {
            const char *took[] = {"took"}, *errs[] = {"errors"};
            bool *t = excl ? &ex_took : &in_took;
            bool *e = excl ? &ex_err : &in_err;
            uint16_t *m = excl ? ex : in;
            *t |= path_match(segs, n, took, 1);
            *e |= path_match(segs, n, errs, 1);
            for (size_t a = 0; a < N_ACTIONS; a++) {
                for (size_t k = 0;
                     k < sizeof(item_leaves) / sizeof(item_leaves[0]); k++) {
                    const char *path[4] = {"items", action_names[a],
                                           item_leaves[k].seg[0],
                                           item_leaves[k].seg[1]};
                    if (path_match(segs, n, path, path[3] ? 4 : 3))
                        m[a] |= item_leaves[k].bit;
                }
            }
        }
        if (!comma)
            break;
        p = comma + 1;
    }
    f->took = (any_incl ? in_took : true) && !ex_took;
    f->errors = (any_incl ? in_err : true) && !ex_err;
    for (size_t a = 0; a < N_ACTIONS; a++)
        f->fields[a] = (uint16_t)((any_incl ? in[a] : BF_ALL) & ~ex[a]);
}

/* ------------------------------------------------------------------ */
/* The response                                                        */
/* ------------------------------------------------------------------ */

static void
put_status(struct sift_buf *out, unsigned st)
{
    char d[3] = {(char)('0' + st / 100 % 10), (char)('0' + st / 10 % 10),
                 (char)('0' + st % 10)};
    sift_buf_append(out, d, 3);
}

static bool
item_ok(const struct sift_bulk_item *it)
{
    return it->status >= 200 && it->status <= 299;
}

/* The leaves of it that f keeps. */
static unsigned
item_fields(const struct sift_bulk_filter *f, const struct sift_bulk_item *it)
{
    unsigned a = it->action < N_ACTIONS ? it->action : 0;
    return f->fields[a] & (item_ok(it) ? BF_CREATED : BF_FAILED);
}

/* The next member of an object: a comma unless it is the first, then
 * its "key": (a literal). */
#define MEMBER(out, first, key)                                                \
    do {                                                                       \
        if (!(first))                                                          \
            sift_buf_putc((out), ',');                                         \
        (first) = false;                                                       \
        LIT((out), key);                                                       \
    } while (0)

/* {"<action>":{...}} with the leaves in m (not 0). */
static void
put_item(struct sift_buf *out, const struct sift_bulk_item *it, unsigned m)
{
    unsigned a = it->action < N_ACTIONS ? it->action : 0;
    const char *name = action_names[a];
    bool first = true;
    LIT(out, "{\"");
    sift_buf_append(out, name, strlen(name));
    LIT(out, "\":{");
    if (m & BF_INDEX) {
        MEMBER(out, first, "\"_index\":");
        put_str(out, it->index ? it->index : "", it->index ? it->index_len : 0);
    }
    if (m & BF_ID) {
        MEMBER(out, first, "\"_id\":");
        put_str(out, it->id ? it->id : "", it->id ? it->id_len : 0);
    }
    /* A replaced document's version is not tracked: no _version then. */
    if ((m & BF_VERSION) && it->status != 200)
        MEMBER(out, first, "\"_version\":1");
    if (m & BF_RESULT) {
        if (it->status == 200)
            MEMBER(out, first, "\"result\":\"updated\"");
        else
            MEMBER(out, first, "\"result\":\"created\"");
    }
    if (m & BF_SHARDS) {
        bool in = true;
        MEMBER(out, first, "\"_shards\":{");
        if (m & BF_SH_TOTAL)
            MEMBER(out, in, "\"total\":1");
        if (m & BF_SH_OK)
            MEMBER(out, in, "\"successful\":1");
        if (m & BF_SH_FAILED)
            MEMBER(out, in, "\"failed\":0");
        sift_buf_putc(out, '}');
    }
    if (m & BF_STATUS) {
        MEMBER(out, first, "\"status\":");
        put_status(out, it->status);
    }
    if (m & BF_ERROR) {
        const char *type = it->error_type ? it->error_type : "exception";
        const char *reason = it->error_reason ? it->error_reason : "";
        bool in = true;
        MEMBER(out, first, "\"error\":{");
        if (m & BF_ERR_TYPE) {
            MEMBER(out, in, "\"type\":");
            sift_buf_put_json_str(out, type, strlen(type));
        }
        if (m & BF_ERR_REASON) {
            MEMBER(out, in, "\"reason\":");
            sift_buf_put_json_str(out, reason, strlen(reason));
        }
        sift_buf_putc(out, '}');
    }
    LIT(out, "}}");
}

void
sift_render_bulk(const struct sift_bulk *b, int64_t took_ms,
                 const struct sift_bulk_filter *f, struct sift_buf *out)
{
    struct sift_bulk_filter all;
    if (f == NULL) {
        sift_render_bulk_filter(&all, NULL);
        f = &all;
    }
    bool errors = false, any_item = false;
    for (size_t i = 0; i < b->n_items; i++) {
        errors |= !item_ok(&b->items[i]);
        any_item = any_item || item_fields(f, &b->items[i]) != 0;
    }
    /* ~170 bytes per created item unfiltered, ~25 with Filebeat's filter;
     * pieces are appended without formatting (vsnprintf per item was ~2%
     * of the _bulk CPU). */
    size_t per_item =
        f->fields[SIFT_BULK_CREATE] == (uint16_t)BF_ALL ? 176 : 32;
    sift_buf_reserve(out, b->n_items * per_item + 64);
    bool first = true;
    sift_buf_putc(out, '{');
    if (f->took) {
        MEMBER(out, first, "\"took\":");
        sift_buf_appendf(out, "%lld", (long long)took_ms);
    }
    if (f->errors) {
        MEMBER(out, first, "\"errors\":");
        if (errors)
            LIT(out, "true");
        else
            LIT(out, "false");
    }
    /* Unfiltered, items is always there (even empty). */
    if (any_item || f->fields[SIFT_BULK_INDEX] == (uint16_t)BF_ALL) {
        MEMBER(out, first, "\"items\":[");
        bool first_item = true;
        for (size_t i = 0; i < b->n_items; i++) {
            const struct sift_bulk_item *it = &b->items[i];
            unsigned m = item_fields(f, it);
            if (m == 0)
                continue;
            if (!first_item)
                sift_buf_putc(out, ',');
            first_item = false;
            put_item(out, it, m);
        }
        sift_buf_putc(out, ']');
    }
    sift_buf_putc(out, '}');
}
