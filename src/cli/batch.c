/*
 * batch.c - cuts what `sift ingest` reads into request bodies.
 *
 * Design: the caller reads its input line by line and offers each line;
 * the batcher either takes it or says "send what you have first".  A
 * batch ends at max_events events or max_bytes bytes, but never where
 * the server would read the next request differently from one long
 * body:
 *   - text: a line siftd would join to the event before it stays in the
 *     same batch: a continuation by its start (a tab or two spaces, "at ",
 *     "Caused by:", "Suppressed:", "..."), or a line without a timestamp
 *     of its own after an event that has one (the exception line of a
 *     trace).  "Has a timestamp" is a guess by the first characters
 *     (a digit, "<PRI>", a month name); a wrong guess only moves where a
 *     batch may end;
 *   - _bulk: an action line and its source line stay together, following
 *     the pairing rules of siftd's _bulk parser (src/parse/bulk.c): index,
 *     create and update take the next line as source, delete takes none,
 *     a malformed action takes the next line unless that line is a valid
 *     action itself.
 * For every item the server will number in its reply (body lines for
 * /api/v1/ingest, actions for _bulk) the batcher records the input line,
 * so a rejected event is reported as FILE:LINE.
 *
 * Invariants: a body never holds a blank line; an offer that answers 1
 * did not take its line (it may have closed a malformed _bulk action into
 * the batch first); an empty batch takes any line.  Single-threaded;
 * pure apart from memory.
 */
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

/* A batch of continuation lines may outgrow max_bytes up to this factor
 * before it is cut anyway (a runaway "trace" must not grow forever). */
#define CONTINUATION_SLACK 4

enum { ACT_NONE = 0, ACT_NEEDS_SOURCE = 1, ACT_MALFORMED = 2 };

void
sift__cli_batcher_init(struct cli_batcher *b, enum cli_format format,
                       size_t max_events, size_t max_bytes,
                       const struct cli_label *labels, size_t n_labels)
{
    memset(b, 0, sizeof(*b));
    b->format = format;
    b->max_events = max_events ? max_events : 1;
    b->max_bytes = max_bytes ? max_bytes : 1;
    b->labels = labels;
    b->n_labels = n_labels;
}

void
sift__cli_batcher_cleanup(struct cli_batcher *b)
{
    sift__cli_buf_free(&b->body);
    sift__cli_buf_free(&b->action);
    free(b->lines);
    free(b->starts);
    memset(b, 0, sizeof(*b));
}

void
sift__cli_batcher_reset(struct cli_batcher *b)
{
    b->body.len = 0;
    if (b->body.data)
        b->body.data[0] = '\0';
    b->n_events = 0;
    b->n_items = 0;
    b->n_lines = 0;
}

/* The next body line starts an item. */
static void
add_item(struct cli_batcher *b)
{
    if (b->n_items == b->cap_items) {
        b->cap_items = b->cap_items ? b->cap_items * 2 : 256;
        b->starts =
            sift__cli_xrealloc(b->starts, b->cap_items * sizeof(b->starts[0]));
    }
    b->starts[b->n_items++] = b->n_lines;
}

int
sift__cli_is_continuation(const char *line, size_t len)
{
    if (!len)
        return 0;
    /* A tab or two spaces (one space is not indentation: rsyslog's msg
     * starts with one), then something other than blanks. */
    if (line[0] == '\t' || (line[0] == ' ' && len > 1 && line[1] == ' ')) {
        for (size_t i = 1; i < len; i++)
            if (line[i] != ' ' && line[i] != '\t')
                return 1;
        return 0;
    }
    static const char *const starts[] = {
        "at ", "Caused by:", "Suppressed:", "...", NULL};
    for (size_t i = 0; starts[i]; i++) {
        size_t n = strlen(starts[i]);
        if (len >= n && !memcmp(line, starts[i], n))
            return 1;
    }
    return 0;
}

int
sift__cli_looks_timestamped(const char *line, size_t len)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
    size_t i = 0;
    if (i < len && line[i] == '[')
        i++;
    if (i < len && line[i] >= '0' && line[i] <= '9')
        return 1; /* 2026-12-07, 12/07/2026, 081109 203615, epochs */
    if (i + 1 < len && line[i] == '<' && line[i + 1] >= '0' &&
        line[i + 1] <= '9')
        return 1; /* syslog <PRI> */
    if (i + 4 <= len && line[i + 3] == ' ')
        for (size_t m = 0; m < 12; m++)
            if (!memcmp(line + i, months[m], 3))
                return 1; /* Nov 22 10:00:00 */
    return 0;
}

/* Whether the event at obj has the dotted key, flat or nested. */
static int
has_path(json_t *obj, const char *key, size_t klen)
{
    if (!json_is_object(obj))
        return 0;
    if (json_object_getn(obj, key, klen))
        return 1;
    for (size_t i = 0; i < klen; i++) {
        if (key[i] != '.')
            continue;
        json_t *sub = json_object_getn(obj, key, i);
        if (sub && has_path(sub, key + i + 1, klen - i - 1))
            return 1;
    }
    return 0;
}

static void
add_json_string(struct cli_buf *out, const char *s)
{
    json_t *v = json_string(s);
    char *e = v ? json_dumps(v, JSON_ENCODE_ANY) : NULL;
    if (e)
        sift__cli_buf_add(out, e, strlen(e));
    else
        sift__cli_buf_add(out, "\"\"", 2); /* invalid UTF-8 in a label */
    free(e);
    json_decref(v);
}

size_t
sift__cli_label_line(const char *line, size_t len,
                     const struct cli_label *labels, size_t n_labels,
                     struct cli_buf *out)
{
    size_t lead = 0;
    while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
        lead++;
    json_error_t je;
    json_t *root = NULL;
    if (n_labels && lead < len && line[lead] == '{')
        root = json_loadb(line, len, JSON_ALLOW_NUL, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        sift__cli_buf_add(out, line, len);
        return 0;
    }
    /* Is the object empty?  Then no comma after the inserted labels. */
    size_t after = lead + 1;
    while (after < len && (line[after] == ' ' || line[after] == '\t' ||
                           line[after] == '\r' || line[after] == '\n'))
        after++;
    int empty = json_object_size(root) == 0;
    sift__cli_buf_add(out, line, lead + 1);
    size_t added = 0;
    for (size_t i = 0; i < n_labels; i++) {
        const char *k = labels[i].key;
        if (has_path(root, k, strlen(k)))
            continue;
        /* A label repeated on the command line is added once. */
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= !strcmp(labels[j].key, k);
        if (dup)
            continue;
        if (added)
            sift__cli_buf_add(out, ",", 1);
        add_json_string(out, k);
        sift__cli_buf_add(out, ":", 1);
        add_json_string(out, labels[i].value);
        added++;
    }
    if (added && !empty)
        sift__cli_buf_add(out, ",", 1);
    sift__cli_buf_add(out, line + lead + 1, len - lead - 1);
    json_decref(root);
    return added;
}

/* What a _bulk line is: 0 not an action, 1 index/create/update, 2
 * delete (takes no source). */
static int
bulk_action(const char *line, size_t len)
{
    json_error_t je;
    json_t *root = json_loadb(line, len, 0, &je);
    int kind = 0;
    if (json_is_object(root) && json_object_size(root) == 1) {
        const char *k;
        json_t *v;
        json_object_foreach(root, k, v)
        {
            if (!json_is_object(v))
                break;
            if (!strcmp(k, "index") || !strcmp(k, "create") ||
                !strcmp(k, "update"))
                kind = 1;
            else if (!strcmp(k, "delete"))
                kind = 2;
        }
    }
    json_decref(root);
    return kind;
}

static int
fits(const struct cli_batcher *b, size_t add_bytes)
{
    if (!b->n_events)
        return 1; /* an oversized event goes alone */
    return b->n_events < b->max_events &&
           b->body.len + add_bytes <= b->max_bytes;
}

static void
add_line(struct cli_batcher *b, const char *line, size_t len, int label,
         uint64_t line_no)
{
    if (b->n_lines == b->cap_lines) {
        b->cap_lines = b->cap_lines ? b->cap_lines * 2 : 256;
        b->lines =
            sift__cli_xrealloc(b->lines, b->cap_lines * sizeof(b->lines[0]));
    }
    b->lines[b->n_lines++] = line_no;
    if (label && b->n_labels)
        (void)sift__cli_label_line(line, len, b->labels, b->n_labels, &b->body);
    else
        sift__cli_buf_add(&b->body, line, len);
    sift__cli_buf_add(&b->body, "\n", 1);
}

static int
offer_bulk(struct cli_batcher *b, const char *line, size_t len,
           uint64_t line_no)
{
    if (b->action_kind == ACT_NONE) {
        int kind = bulk_action(line, len);
        if (kind == 2) { /* delete: an item of one line */
            if (!fits(b, len + 1))
                return 1;
            add_item(b);
            add_line(b, line, len, 0, line_no);
            b->n_events++;
            return 0;
        }
        /* index/create/update, or malformed: wait for the next line */
        b->action.len = 0;
        sift__cli_buf_add(&b->action, line, len);
        b->action_line = line_no;
        b->action_kind = kind == 1 ? ACT_NEEDS_SOURCE : ACT_MALFORMED;
        return 0;
    }
    if (b->action_kind == ACT_MALFORMED && bulk_action(line, len)) {
        /* The bad action stands alone; this line starts a new item. */
        if (!fits(b, b->action.len + 1))
            return 1;
        add_item(b);
        add_line(b, b->action.data, b->action.len, 0, b->action_line);
        b->n_events++;
        b->action_kind = ACT_NONE;
        return offer_bulk(b, line, len, line_no);
    }
    if (!fits(b, b->action.len + len + 2))
        return 1;
    add_item(b);
    add_line(b, b->action.data, b->action.len, 0, b->action_line);
    add_line(b, line, len, b->action_kind == ACT_NEEDS_SOURCE, line_no);
    b->n_events++;
    b->action_kind = ACT_NONE;
    return 0;
}

int
sift__cli_batcher_offer(struct cli_batcher *b, const char *line, size_t len,
                        uint64_t line_no)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (!len)
        return 0;
    if (b->format == CLI_FMT_BULK)
        return offer_bulk(b, line, len, line_no);
    if (b->format == CLI_FMT_TEXT && b->n_events &&
        (sift__cli_is_continuation(line, len) ||
         (b->event_ts && !sift__cli_looks_timestamped(line, len)))) {
        if (b->body.len + len + 1 > b->max_bytes * CONTINUATION_SLACK)
            return 1;
        add_item(b);
        add_line(b, line, len, 0, line_no);
        return 0;
    }
    if (!fits(b, len + 1))
        return 1;
    add_item(b);
    add_line(b, line, len, b->format == CLI_FMT_NDJSON, line_no);
    b->n_events++;
    b->event_ts =
        b->format == CLI_FMT_TEXT && sift__cli_looks_timestamped(line, len);
    return 0;
}

int
sift__cli_batcher_finish(struct cli_batcher *b)
{
    if (b->format != CLI_FMT_BULK || b->action_kind == ACT_NONE)
        return 0;
    if (!fits(b, b->action.len + 1))
        return 1;
    add_item(b);
    add_line(b, b->action.data, b->action.len, 0, b->action_line);
    b->n_events++;
    b->action_kind = ACT_NONE;
    return 0;
}
