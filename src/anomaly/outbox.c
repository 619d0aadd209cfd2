/*
 * outbox.c - the durable queue of alert notifications of one sink
 * (include/sift/outbox.h has the contract).
 *
 * Design.  DATA_DIR/outbox/<sink>.log is an append-only log of JSON
 * lines, each ending with the state-file checksum member:
 *
 *   {"op":"next","seq":N}                  first line of a rewritten log
 *   {"op":"put","seq":N,"alert":A,"key":K,"event":E,"route":R,"ms":T,
 *    "body":"<the sink's message as a JSON string>"}
 *   {"op":"fail","seq":N,"n":ATTEMPTS}    a try failed (retry budget)
 *   {"op":"done","seq":N}                  delivered
 *   {"op":"dead","seq":N}                  dead-lettered (dead.ndjson has it)
 *
 * Loading replays the lines in order (a put adds an item, done/dead
 * remove it, fail sets its attempts).  A damaged line is skipped and
 * counted: a lost put loses that notification (logged with its line
 * number), a lost done or dead re-sends one (receivers drop it by its
 * key).  The log is rewritten (sift_file_replace) from the live items
 * at open and when more than REWRITE_MIN lines hold four times more
 * lines than live items.
 *
 * In memory the live items sit in seq order in an array of pointers
 * with holes (a removed item leaves NULL; seqs[] keeps its seq so
 * sift_outbox_find() binary-searches), squeezed when holes outnumber
 * the live items: a delivery costs O(log n), not a memmove of the queue.
 *
 * Invariants: seqs[] is strictly increasing; v[i] is NULL or the item
 * whose seq is seqs[i]; n_live counts the non-NULL v[i].
 * Thread: one owner (the loop thread in siftd).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/outbox.h"
#include "sift/statefile.h"

#define REWRITE_MIN 1024 /* lines appended before a rewrite is considered */

struct sift_outbox {
    char *data_dir;
    char *sink;
    char *path;      /* DATA_DIR/outbox/<sink>.log */
    char *dead_path; /* DATA_DIR/outbox/dead.ndjson */
    size_t max_items;
    struct sift_outbox_item **v;
    uint64_t *seqs;
    size_t head, len, cap; /* v[head..len) in use */
    size_t n_live;
    uint64_t next_seq;
    int fd;          /* the log, O_APPEND; -1 = not written */
    int persist_off; /* the log could not be kept: never rewrite it */
    int dirty;       /* appended since the last fdatasync */
    int write_failing;
    uint64_t lines; /* lines in the log */
    uint64_t dead;
};

static void
item_free(struct sift_outbox_item *it)
{
    if (!it)
        return;
    sift_free(it->key);
    sift_free(it->event);
    sift_free(it->route);
    sift_free(it->body);
    sift_free(it);
}

/* ---- the array of items ---- */

static void
squeeze(struct sift_outbox *ob)
{
    size_t w = 0;
    for (size_t i = ob->head; i < ob->len; i++) {
        if (ob->v[i]) {
            ob->v[w] = ob->v[i];
            ob->seqs[w] = ob->seqs[i];
            w++;
        }
    }
    ob->head = 0;
    ob->len = w;
}

static void
push(struct sift_outbox *ob, struct sift_outbox_item *it)
{
    if (ob->len == ob->cap) {
        if (ob->len - ob->head > 2 * ob->n_live || ob->head > 0)
            squeeze(ob);
        if (ob->len == ob->cap) {
            ob->cap = ob->cap ? ob->cap * 2 : 64;
            ob->v = sift_xrealloc(ob->v, ob->cap * sizeof(*ob->v));
            ob->seqs = sift_xrealloc(ob->seqs, ob->cap * sizeof(*ob->seqs));
        }
    }
    ob->v[ob->len] = it;
    ob->seqs[ob->len] = it->seq;
    ob->len++;
    ob->n_live++;
}

static long
index_of(const struct sift_outbox *ob, uint64_t seq)
{
    size_t lo = ob->head, hi = ob->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ob->seqs[mid] == seq)
            return ob->v[mid] ? (long)mid : -1;
        if (ob->seqs[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void
remove_at(struct sift_outbox *ob, size_t i)
{
    item_free(ob->v[i]);
    ob->v[i] = NULL;
    ob->n_live--;
    while (ob->head < ob->len && !ob->v[ob->head])
        ob->head++;
    if (ob->head == ob->len)
        ob->head = ob->len = 0;
    else if (ob->len - ob->head > 64 && ob->len - ob->head > 2 * ob->n_live)
        squeeze(ob);
}

/* ---- lines ---- */

static void
line_put(const struct sift_outbox_item *it, struct sift_buf *b)
{
    size_t start = b->len;
    sift_buf_appendf(
        b, "{\"op\":\"put\",\"seq\":%" PRIu64 ",\"alert\":%" PRIu64 ",\"key\":",
        it->seq, it->alert_id);
    sift_buf_put_json_str(b, it->key, strlen(it->key));
    SIFT_BUF_LIT(b, ",\"event\":");
    sift_buf_put_json_str(b, it->event, strlen(it->event));
    SIFT_BUF_LIT(b, ",\"route\":");
    sift_buf_put_json_str_bytes(b, it->route, strlen(it->route));
    sift_buf_appendf(b, ",\"ms\":%" PRId64 ",\"body\":", it->queued_ms);
    sift_buf_put_json_str_bytes(b, it->body, it->body_len);
    sift_buf_putc(b, '}');
    sift_statefile_line_end(b, start);
    if (it->attempts > 0) {
        start = b->len;
        sift_buf_appendf(
            b, "{\"op\":\"fail\",\"seq\":%" PRIu64 ",\"n\":%" PRIu32 "}",
            it->seq, it->attempts);
        sift_statefile_line_end(b, start);
    }
}

static void
line_op(const char *op, uint64_t seq, struct sift_buf *b)
{
    size_t start = b->len;
    sift_buf_appendf(b, "{\"op\":\"%s\",\"seq\":%" PRIu64 "}", op, seq);
    sift_statefile_line_end(b, start);
}

static void rewrite(struct sift_outbox *ob);

static void
append(struct sift_outbox *ob, struct sift_buf *b, unsigned lines)
{
    if (ob->fd < 0 || ob->persist_off)
        return;
    int rc = sift_file_write_all(ob->fd, b->data, b->len);
    if (rc < 0) {
        if (!ob->write_failing)
            SIFT_ERROR("alerts: outbox %s: cannot append (%s); deliveries "
                       "go on from memory and are lost if siftd stops now",
                       ob->path, sift_strerror(rc));
        ob->write_failing = 1;
        return;
    }
    if (ob->write_failing)
        SIFT_INFO("alerts: outbox %s: appends work again", ob->path);
    ob->write_failing = 0;
    ob->dirty = 1;
    ob->lines += lines;
    if (ob->lines > REWRITE_MIN && ob->lines > 4 * (uint64_t)ob->n_live)
        rewrite(ob);
}

/* Rewrites the log from the live items (atomic replace), reopens it. */
static void
rewrite(struct sift_outbox *ob)
{
    if (ob->persist_off)
        return;
    struct sift_buf b = SIFT_BUF_INIT;
    line_op("next", ob->next_seq, &b);
    uint64_t lines = 1;
    for (size_t i = ob->head; i < ob->len; i++) {
        if (ob->v[i]) {
            line_put(ob->v[i], &b);
            lines += ob->v[i]->attempts > 0 ? 2 : 1;
        }
    }
    int rc = sift_file_replace(ob->path, b.data, b.len, 0640, 0);
    sift_buf_cleanup(&b);
    if (rc < 0) {
        SIFT_ERROR("alerts: outbox %s: cannot rewrite: %s", ob->path,
                   sift_strerror(rc));
        return;
    }
    if (ob->fd >= 0)
        close(ob->fd);
    ob->fd = open(ob->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (ob->fd < 0)
        SIFT_ERROR("alerts: outbox %s: cannot open: %s", ob->path,
                   strerror(errno));
    ob->lines = lines;
    ob->dirty = 0;
}

/* ---- loading ---- */

struct load_ctx {
    struct sift_outbox *ob;
    unsigned bad, torn;
};

static char *
dup_str(json_t *o, const char *name, size_t *len)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v))
        return NULL;
    size_t n = json_string_length(v);
    if (len)
        *len = n;
    return sift_xstrndup(json_string_value(v), n);
}

static int
load_put(struct sift_outbox *ob, json_t *o, uint64_t seq)
{
    json_t *alert = json_object_get(o, "alert");
    if (!json_is_integer(alert) || index_of(ob, seq) >= 0 ||
        (ob->len > ob->head && seq <= ob->seqs[ob->len - 1]))
        return -1;
    struct sift_outbox_item *it = sift_xcalloc(1, sizeof(*it));
    it->seq = seq;
    it->alert_id = (uint64_t)json_integer_value(alert);
    it->key = dup_str(o, "key", NULL);
    it->event = dup_str(o, "event", NULL);
    it->route = dup_str(o, "route", NULL);
    it->body = dup_str(o, "body", &it->body_len);
    it->queued_ms = json_integer_value(json_object_get(o, "ms"));
    if (!it->key || !it->event || !it->route || !it->body) {
        item_free(it);
        return -1;
    }
    push(ob, it);
    return 0;
}

static int
load_line(char *line, size_t len, unsigned lineno, int ok, int whole, void *arg)
{
    struct load_ctx *c = arg;
    struct sift_outbox *ob = c->ob;
    json_error_t jerr;
    json_t *o = ok ? json_loadb(line, len, 0, &jerr) : NULL;
    const char *op = o ? json_string_value(json_object_get(o, "op")) : NULL;
    json_t *jseq = o ? json_object_get(o, "seq") : NULL;
    int good = op && json_is_integer(jseq) && json_integer_value(jseq) >= 0;
    uint64_t seq = good ? (uint64_t)json_integer_value(jseq) : 0;
    if (good && strcmp(op, "put") == 0) {
        good = load_put(ob, o, seq) == 0;
    } else if (good && strcmp(op, "next") == 0) {
        /* only raises next_seq (below) */
    } else if (good && (strcmp(op, "done") == 0 || strcmp(op, "dead") == 0)) {
        long i = index_of(ob, seq);
        if (i >= 0)
            remove_at(ob, (size_t)i);
    } else if (good && strcmp(op, "fail") == 0) {
        long i = index_of(ob, seq);
        json_t *n = json_object_get(o, "n");
        if (i >= 0 && json_is_integer(n))
            ob->v[i]->attempts = (uint32_t)json_integer_value(n);
    } else {
        good = 0;
    }
    if (good) {
        if (seq + (strcmp(op, "next") == 0 ? 0 : 1) > ob->next_seq)
            ob->next_seq = seq + (strcmp(op, "next") == 0 ? 0 : 1);
    } else if (!whole) {
        c->torn++;
    } else {
        c->bad++;
        SIFT_ERROR("alerts: outbox %s: line %u is damaged; skipped (a "
                   "notification it queued is lost, one it finished may be "
                   "sent again)",
                   ob->path, lineno);
    }
    json_decref(o);
    return 0;
}

static void
load(struct sift_outbox *ob, struct sift_outbox_report *rep)
{
    char *data = NULL;
    size_t size = 0;
    int rc = sift_file_read_all(ob->path, SIZE_MAX, &data, &size);
    if (rc == -ENOENT)
        return;
    if (rc < 0) {
        rep->unreadable = 1;
        if (sift_statefile_quarantine(ob->data_dir, ob->path, 1, "unreadable",
                                      NULL) < 0) {
            ob->persist_off = 1;
            SIFT_ERROR("alerts: outbox %s cannot be read (%s) nor moved "
                       "aside; notifications of sink %s are kept in memory "
                       "only until it is fixed",
                       ob->path, sift_strerror(rc), ob->sink);
        }
        return;
    }
    struct load_ctx c = {ob, 0, 0};
    (void)sift_statefile_lines(data, size, load_line, &c);
    sift_free(data);
    rep->damaged = c.bad;
    rep->torn = c.torn;
    if (c.torn)
        SIFT_WARN("alerts: outbox %s: the last line was cut by a crash; "
                  "skipped",
                  ob->path);
    if (c.bad) {
        char why[64];
        snprintf(why, sizeof(why), "damaged (%u line%s skipped)", c.bad,
                 c.bad == 1 ? "" : "s");
        if (sift_statefile_quarantine(ob->data_dir, ob->path, 0, why, NULL) < 0)
            ob->persist_off = 1; /* never rewrite what was not kept */
    }
}

/* ---- public ---- */

int
sift_outbox_open(const char *data_dir, const char *sink, size_t max_items,
                 struct sift_outbox **out, struct sift_outbox_report *report)
{
    struct sift_outbox_report rep;
    memset(&rep, 0, sizeof(rep));
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "%s/outbox", data_dir);
    if (mkdir(sift_buf_cstr(&b), 0750) != 0 && errno != EEXIST) {
        int rc = -errno;
        SIFT_ERROR("alerts: cannot create %s: %s", sift_buf_cstr(&b),
                   strerror(errno));
        sift_buf_cleanup(&b);
        return rc;
    }
    struct sift_outbox *ob = sift_xcalloc(1, sizeof(*ob));
    ob->data_dir = sift_xstrdup(data_dir);
    ob->sink = sift_xstrdup(sink);
    ob->max_items = max_items > 0 ? max_items : 1;
    ob->fd = -1;
    ob->next_seq = 1;
    size_t dir_len = b.len;
    sift_buf_appendf(&b, "/%s.log", sink);
    ob->path = sift_xstrdup(sift_buf_cstr(&b));
    b.len = dir_len;
    sift_buf_appendf(&b, "/dead.ndjson");
    ob->dead_path = sift_xstrdup(sift_buf_cstr(&b));
    sift_buf_cleanup(&b);

    load(ob, &rep);
    rep.persist_off = ob->persist_off;
    rep.restored = ob->n_live;
    if (ob->n_live > 0)
        SIFT_INFO("alerts: %s: %zu notification(s) still to deliver from %s",
                  sink, ob->n_live, ob->path);
    rewrite(ob); /* drops finished items and torn tails; opens fd */
    if (report)
        *report = rep;
    *out = ob;
    return SIFT_OK;
}

void
sift_outbox_close(struct sift_outbox *ob)
{
    if (!ob)
        return;
    sift_outbox_sync(ob);
    if (ob->fd >= 0)
        close(ob->fd);
    for (size_t i = ob->head; i < ob->len; i++)
        item_free(ob->v[i]);
    sift_free(ob->v);
    sift_free(ob->seqs);
    sift_free(ob->data_dir);
    sift_free(ob->sink);
    sift_free(ob->path);
    sift_free(ob->dead_path);
    sift_free(ob);
}

struct sift_outbox_item *
sift_outbox_put(struct sift_outbox *ob, uint64_t alert_id, const char *key,
                const char *event, const char *route, const char *body,
                size_t body_len)
{
    while (ob->n_live >= ob->max_items) {
        struct sift_outbox_item *old = NULL;
        for (size_t i = ob->head; i < ob->len && !old; i++) {
            if (ob->v[i] && !ob->v[i]->inflight)
                old = ob->v[i];
        }
        if (!old)
            break; /* everything is in flight: a bounded overshoot */
        sift_outbox_dead(ob, old, "outbox full (alerts.outbox_max)");
    }
    struct sift_outbox_item *it = sift_xcalloc(1, sizeof(*it));
    it->seq = ob->next_seq++;
    it->alert_id = alert_id;
    it->key = sift_xstrdup(key);
    it->event = sift_xstrdup(event);
    it->route = sift_xstrdup(route ? route : "");
    it->body = sift_xstrndup(body, body_len);
    it->body_len = body_len;
    it->queued_ms = sift_clock_now_ns() / 1000000;
    push(ob, it);
    struct sift_buf b = SIFT_BUF_INIT;
    line_put(it, &b);
    append(ob, &b, 1);
    sift_buf_cleanup(&b);
    return it;
}

struct sift_outbox_item *
sift_outbox_find(struct sift_outbox *ob, uint64_t seq)
{
    long i = index_of(ob, seq);
    return i >= 0 ? ob->v[i] : NULL;
}

struct sift_outbox_item *
sift_outbox_next(struct sift_outbox *ob, size_t *pos)
{
    size_t i = ob->head + *pos;
    while (i < ob->len && !ob->v[i])
        i++;
    if (i >= ob->len)
        return NULL;
    *pos = i - ob->head + 1;
    return ob->v[i];
}

static void
finish(struct sift_outbox *ob, struct sift_outbox_item *it, const char *op)
{
    long i = index_of(ob, it->seq);
    if (i < 0)
        return;
    struct sift_buf b = SIFT_BUF_INIT;
    line_op(op, it->seq, &b);
    remove_at(ob, (size_t)i);
    append(ob, &b, 1);
    sift_buf_cleanup(&b);
}

void
sift_outbox_done(struct sift_outbox *ob, struct sift_outbox_item *it)
{
    finish(ob, it, "done");
}

void
sift_outbox_failed(struct sift_outbox *ob, struct sift_outbox_item *it,
                   const char *cause)
{
    it->attempts++;
    snprintf(it->last_cause, sizeof(it->last_cause), "%s", cause);
    struct sift_buf b = SIFT_BUF_INIT;
    size_t start = b.len;
    sift_buf_appendf(&b,
                     "{\"op\":\"fail\",\"seq\":%" PRIu64 ",\"n\":%" PRIu32 "}",
                     it->seq, it->attempts);
    sift_statefile_line_end(&b, start);
    append(ob, &b, 1);
    sift_buf_cleanup(&b);
}

void
sift_outbox_dead(struct sift_outbox *ob, struct sift_outbox_item *it,
                 const char *cause)
{
    struct sift_buf b = SIFT_BUF_INIT;
    SIFT_BUF_LIT(&b, "{\"sink\":");
    sift_buf_put_json_str(&b, ob->sink, strlen(ob->sink));
    sift_buf_appendf(&b, ",\"seq\":%" PRIu64 ",\"alert\":%" PRIu64 ",\"key\":",
                     it->seq, it->alert_id);
    sift_buf_put_json_str(&b, it->key, strlen(it->key));
    SIFT_BUF_LIT(&b, ",\"event\":");
    sift_buf_put_json_str(&b, it->event, strlen(it->event));
    sift_buf_appendf(&b, ",\"attempts\":%" PRIu32 ",\"cause\":", it->attempts);
    sift_buf_put_json_str(&b, cause, strlen(cause));
    sift_buf_appendf(
        &b, ",\"queued_ms\":%" PRId64 ",\"dead_ms\":%" PRId64 ",\"body\":",
        it->queued_ms, sift_clock_now_ns() / 1000000);
    sift_buf_put_json_str(&b, it->body, it->body_len);
    sift_buf_putc(&b, '}');
    sift_statefile_line_end(&b, 0);
    int fd =
        open(ob->dead_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    int rc = fd < 0 ? -errno : sift_file_write_all(fd, b.data, b.len);
    if (rc == SIFT_OK && fdatasync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    sift_buf_cleanup(&b);
    if (rc < 0)
        SIFT_ERROR("alerts: %s: cannot write the dead letter of alert %" PRIu64
                   " (key %s) to %s: %s",
                   ob->sink, it->alert_id, it->key, ob->dead_path,
                   sift_strerror(rc));
    ob->dead++;
    finish(ob, it, "dead");
}

size_t
sift_outbox_pending(const struct sift_outbox *ob)
{
    return ob->n_live;
}

uint64_t
sift_outbox_dead_count(const struct sift_outbox *ob)
{
    return ob->dead;
}

void
sift_outbox_sync(struct sift_outbox *ob)
{
    if (!ob->dirty || ob->fd < 0)
        return;
    if (fdatasync(ob->fd) != 0)
        SIFT_WARN("alerts: outbox %s: fdatasync: %s", ob->path,
                  strerror(errno));
    ob->dirty = 0;
}
