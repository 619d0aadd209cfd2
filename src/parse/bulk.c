/*
 * bulk.c - the Elasticsearch _bulk body, parsed into items.
 *
 * Body: NDJSON, an action line followed (for index/create/update) by a
 * source line.  Empty lines and a trailing '\r' are skipped like in
 * sift_parse_lines().  Every action yields exactly one item, in order:
 *   index/create + source  -> the source parsed as a JSON event; 201, or
 *                             400 with the parse reason
 *   delete                 -> 400 "unsupported action" (no source line)
 *   update + source        -> 400 "unsupported action" (source consumed)
 *   malformed action line  -> 400 with the reason; the next line is taken
 *                             as its source unless it is itself a valid
 *                             action line (so one bad line does not shift
 *                             every later pair)
 *   index/create at EOF    -> 400 "missing source line"
 * An action with no _index takes default_index; with neither it is a 400
 * like Elasticsearch's "index is missing".  A missing _id is generated
 * from the receive time and the item number (hex, 20 characters).
 *
 * The item array is heap memory owned by struct sift_bulk (it grows by
 * doubling); strings and events live in the body and the arena.  The
 * per-item response is written from the items by api/bulk_reply.c.
 *
 * Pure; any thread.
 */
#include <stdio.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/error.h"

#include "parse/parse_int.h"

struct line_iter {
    const char *body;
    size_t len;
    size_t pos;
    size_t line_no;
};

/* Next non-empty line (without '\n' and one trailing '\r'). */
static bool
next_line(struct line_iter *it, const char **line, size_t *len, size_t *line_no)
{
    while (it->pos < it->len) {
        const char *p = it->body + it->pos;
        const char *nl = memchr(p, '\n', it->len - it->pos);
        size_t l = nl ? (size_t)(nl - p) : it->len - it->pos;
        it->pos += l + (nl ? 1 : 0);
        it->line_no++;
        if (l && p[l - 1] == '\r')
            l--;
        if (l == 0)
            continue;
        *line = p;
        *len = l;
        *line_no = it->line_no;
        return true;
    }
    return false;
}

static void
init_ctx(struct sift__pctx *x, const struct sift_parse_opts *o,
         struct sift_arena *arena, struct sift_parse_error *err,
         const char *line, size_t len)
{
    memset(x, 0, sizeof(*x));
    x->o = o;
    x->c = o->compiled;
    x->arena = arena;
    x->err = err;
    x->line = line;
    x->len = len;
    err->reason[0] = '\0';
    err->rc = 0;
}

/* "%016llx%04zx" of the receive time and item number, NUL-terminated
 * (snprintf was ~1% of the _bulk CPU). */
static void
put_id(char *id, uint64_t t, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, t >>= 4)
        id[i] = hex[t & 15];
    for (int i = 19; i >= 16; i--, n >>= 4)
        id[i] = hex[n & 15];
    id[20] = '\0';
}

static struct sift_bulk_item *
push_item(struct sift_bulk *b)
{
    if (b->n_items == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct sift_bulk_item *v = sift_try_realloc(b->items, cap * sizeof(*v));
        if (!v)
            return NULL;
        b->items = v;
        b->cap = cap;
    }
    struct sift_bulk_item *it = &b->items[b->n_items++];
    memset(it, 0, sizeof(*it));
    return it;
}

static int
item_fail(struct sift_arena *arena, struct sift_bulk *b,
          struct sift_bulk_item *it, const char *type, const char *reason)
{
    char *r = sift_arena_strndup(arena, reason, strlen(reason));
    if (!r)
        return SIFT_ENOMEM;
    it->status = 400;
    it->error_type = type;
    it->error_reason = r;
    b->n_errors++;
    return SIFT_OK;
}

/*
 * The common action line, {"create":{"_index":"x","_id":"y"}} without
 * whitespace or escapes, read by a scan instead of the JSON walker (the
 * walker was ~1% of the _bulk CPU).  Accepts only lines the walker
 * accepts with the same result: a known action, at most one _index and
 * one _id, values of printable ASCII without '"' or '\\', names and
 * values within the limits the walker checks.  Anything else returns
 * false and takes the full parse, which also words the error.
 */
static bool
scan_action(const struct sift_parse_opts *o, const char *line, size_t len,
            struct sift_bulk_item *it)
{
    static const char *const names[] = {"index", "create", "delete", "update"};
    static const uint8_t acts[] = {SIFT_BULK_INDEX, SIFT_BULK_CREATE,
                                   SIFT_BULK_DELETE, SIFT_BULK_UPDATE};
    const char *p = line, *end = line + len;
    uint8_t action = SIFT_BULK_INVALID;
    size_t al = 0;

    if (o->max_depth < 2 || o->max_field_name_bytes < 6 || len < 8 ||
        p[0] != '{' || p[1] != '"')
        return false;
    p += 2;
    for (size_t i = 0; i < 4; i++) {
        size_t nl = strlen(names[i]);
        if ((size_t)(end - p) > nl + 3 && memcmp(p, names[i], nl) == 0 &&
            memcmp(p + nl, "\":{", 3) == 0) {
            action = acts[i];
            al = nl;
            break;
        }
    }
    if (action == SIFT_BULK_INVALID)
        return false;
    p += al + 3;
    const char *index = NULL, *id = NULL;
    uint32_t index_len = 0, id_len = 0;
    bool first = true;
    while (p < end && *p != '}') {
        if (!first) {
            if (*p != ',')
                return false;
            p++;
        }
        first = false;
        bool is_index;
        if ((size_t)(end - p) > 9 && memcmp(p, "\"_index\":\"", 10) == 0) {
            if (index || al + 7 > o->max_field_name_bytes)
                return false;
            is_index = true;
            p += 10;
        } else if ((size_t)(end - p) > 6 && memcmp(p, "\"_id\":\"", 7) == 0) {
            if (id || al + 4 > o->max_field_name_bytes)
                return false;
            is_index = false;
            p += 7;
        } else {
            return false;
        }
        const char *v = p;
        while (p < end && *p != '"') {
            unsigned char c = (unsigned char)*p;
            if (c < 0x20 || c > 0x7e || c == '\\')
                return false;
            p++;
        }
        if (p == end || (size_t)(p - v) > o->max_value_bytes)
            return false;
        if (is_index) {
            index = v;
            index_len = (uint32_t)(p - v);
        } else {
            id = v;
            id_len = (uint32_t)(p - v);
        }
        p++;
    }
    if ((size_t)(end - p) != 2 || p[0] != '}' || p[1] != '}')
        return false;
    it->action = action;
    it->index = index;
    it->index_len = index_len;
    it->id = id;
    it->id_len = id_len;
    return true;
}

/* Parses a line as an action; err gets the reason when malformed. */
static int
parse_action(const struct sift_parse_opts *o, struct sift_arena *arena,
             const char *line, size_t len, struct sift_bulk_item *it,
             struct sift_parse_error *err)
{
    struct sift__pctx x;
    init_ctx(&x, o, arena, err, line, len);
    if (len > o->max_line_bytes) {
        sift__pctx_fail(&x, SIFT_ELIMIT, 0,
                        "line is %zu bytes, more than max_line_bytes %u", len,
                        o->max_line_bytes);
        it->action = SIFT_BULK_INVALID;
        return SIFT_OK;
    }
    if (scan_action(o, line, len, it))
        return SIFT_OK;
    int rc = sift__parse_bulk_action(&x, &it->action, &it->index,
                                     &it->index_len, &it->id, &it->id_len);
    if (rc == SIFT_ENOMEM)
        return rc;
    if (rc != SIFT_OK)
        it->action = SIFT_BULK_INVALID;
    return SIFT_OK;
}

/* The item's _index and _id become fields of its event (KEYWORD, so
 * _id:abc and _index:logs search them), replacing any the source had. */
static int
add_keys(struct sift_arena *arena, struct sift_bulk_item *it)
{
    struct sift_event *ev = &it->ev;
    struct sift_field *f =
        sift_arena_try_alloc(arena, (ev->n_fields + 2) * sizeof(*f));
    if (!f)
        return SIFT_ENOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *x = &ev->fields[i];
        if ((x->name_len == 3 && memcmp(x->name, "_id", 3) == 0) ||
            (x->name_len == 6 && memcmp(x->name, "_index", 6) == 0))
            continue;
        f[n++] = *x;
    }
    f[n++] = (struct sift_field){"_index", it->index, 6, it->index_len,
                                 SIFT_FT_KEYWORD};
    f[n++] = (struct sift_field){"_id", it->id, 3, it->id_len, SIFT_FT_KEYWORD};
    ev->fields = f;
    ev->n_fields = n;
    /* What arrived is the whole item (a dead letter keeps all of it). */
    if (it->raw) {
        ev->raw = it->raw;
        ev->raw_len = it->raw_len;
    }
    return SIFT_OK;
}

int
sift_bulk_parse(const struct sift_parse_opts *o, const char *body, size_t len,
                const char *default_index, int64_t recv_ns,
                struct sift_arena *arena, struct sift_bulk *out,
                struct sift_parse_error *err)
{
    struct sift_parse_opts json_opts = *o;
    struct sift_parse_error local, e;
    struct line_iter li = {body, len, 0, 0};
    const char *line;
    size_t l, line_no;
    int rc;

    assert(o && o->compiled && arena && out);
    memset(out, 0, sizeof(*out));
    if (!err)
        err = &local;
    memset(err, 0, sizeof(*err));
    json_opts.format = SIFT_PARSE_JSON;

    bool have = next_line(&li, &line, &l, &line_no);
    if (!have) {
        err->rc = SIFT_EPARSE;
        snprintf(err->reason, sizeof(err->reason),
                 "the bulk request body is empty");
        return SIFT_EPARSE;
    }
    while (have) {
        struct sift_bulk_item *it = push_item(out);
        if (!it)
            return SIFT_ENOMEM;
        it->line_no = line_no;
        it->raw = line;
        it->raw_len = (uint32_t)l;
        rc = parse_action(o, arena, line, l, it, &e);
        if (rc)
            return rc;

        if (!it->index && default_index) {
            it->index = default_index;
            it->index_len = (uint32_t)strlen(default_index);
        }
        /* Share the previous item's copy of an equal index name: the
         * response reads every index back after the whole body went
         * through the pipeline, and one hot copy beats a cache miss per
         * item into the body. */
        if (it->index && out->n_items > 1) {
            const struct sift_bulk_item *prev = &out->items[out->n_items - 2];
            if (prev->index && prev->index != it->index &&
                prev->index_len == it->index_len &&
                memcmp(prev->index, it->index, it->index_len) == 0)
                it->index = prev->index;
        }
        it->id_given = it->id != NULL;
        if (!it->id) {
            char *id = sift_arena_try_alloc(arena, 24);
            if (!id)
                return SIFT_ENOMEM;
            put_id(id, (uint64_t)recv_ns, (out->n_items - 1) & 0xffff);
            it->id = id;
            it->id_len = 20;
        }

        const char *src = NULL;
        size_t src_len = 0, src_no = 0;
        bool needs_source = it->action == SIFT_BULK_INDEX ||
                            it->action == SIFT_BULK_CREATE ||
                            it->action == SIFT_BULK_UPDATE;
        bool got_src = false;
        if (needs_source) {
            got_src = next_line(&li, &src, &src_len, &src_no);
            if (got_src) /* the item's bytes, for the dead-letter store */
                it->raw_len = (uint32_t)(src + src_len - line);
        } else if (it->action == SIFT_BULK_INVALID) {
            /* Take the next line as the bad action's source unless it is
             * a valid action itself. */
            struct line_iter peek = li;
            struct sift_bulk_item probe;
            struct sift_parse_error pe;
            memset(&probe, 0, sizeof(probe));
            if (next_line(&peek, &src, &src_len, &src_no)) {
                rc = parse_action(o, arena, src, src_len, &probe, &pe);
                if (rc)
                    return rc;
                if (probe.action == SIFT_BULK_INVALID)
                    li = peek;
            }
        }

        char reason[SIFT_PARSE_REASON_MAX + 64];
        switch (it->action) {
        case SIFT_BULK_INVALID:
            snprintf(reason, sizeof(reason), "malformed action line %zu: %s",
                     line_no, e.reason);
            rc =
                item_fail(arena, out, it, "illegal_argument_exception", reason);
            break;
        case SIFT_BULK_DELETE:
        case SIFT_BULK_UPDATE:
            snprintf(reason, sizeof(reason),
                     "unsupported action: %s (sift only indexes documents)",
                     it->action == SIFT_BULK_DELETE ? "delete" : "update");
            rc =
                item_fail(arena, out, it, "illegal_argument_exception", reason);
            break;
        default:
            if (!got_src) {
                rc = item_fail(arena, out, it,
                               "action_request_validation_exception",
                               "missing source line after the action");
            } else if (!it->index) {
                rc = item_fail(arena, out, it,
                               "action_request_validation_exception",
                               "index is missing");
            } else {
                rc = sift_parse_event(&json_opts, src, src_len, recv_ns, arena,
                                      &it->ev, &e);
                if (rc == SIFT_ENOMEM)
                    return rc;
                if (rc == SIFT_OK)
                    rc = add_keys(arena, it);
                if (rc == SIFT_ENOMEM)
                    return rc;
                if (rc == SIFT_OK) {
                    it->status = 201;
                } else {
                    snprintf(reason, sizeof(reason),
                             "failed to parse line %zu: %s", src_no, e.reason);
                    rc = item_fail(arena, out, it,
                                   rc == SIFT_ELIMIT
                                       ? "illegal_argument_exception"
                                       : "mapper_parsing_exception",
                                   reason);
                }
            }
            break;
        }
        if (rc)
            return rc;
        have = next_line(&li, &line, &l, &line_no);
    }
    return SIFT_OK;
}

void
sift_bulk_cleanup(struct sift_bulk *b)
{
    sift_free(b->items);
    memset(b, 0, sizeof(*b));
}
