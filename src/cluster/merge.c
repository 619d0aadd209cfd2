/*
 * merge.c - one answer out of the answers of several nodes.
 *
 * What: the merge rules of a fanned-out search or aggregation
 * (docs/internals/cluster.md, "Merging"):
 *  - search: hits of every node in one order by (timestamp, content
 *    hash), read back from each hit's "_id", the order every node pages
 *    in; the first `size` are kept.  Totals are summed ("gte" if any node
 *    said so); the cursor is the one after the last hit kept, valid on
 *    every node because the order is the same everywhere.
 *  - histogram: counts summed by bucket key; when the nodes chose
 *    different automatic intervals, the finer buckets are summed into the
 *    coarsest (every fixed interval of ours divides the next larger one
 *    and buckets start on multiples of it); "by" series summed per name,
 *    the `size` largest kept and the rest summed under "_other".
 *  - terms: counts summed by key, the `size` largest kept, the rest
 *    added to "other"; doc_count_error_upper_bound is the sum, over the
 *    nodes that left keys out (other > 0), of the smallest count they
 *    returned: no left-out key can be undercounted by more.
 *  - stats: count, min, max, sum merged exactly, avg recomputed.
 *    Percentiles come from the samples the nodes add to their answer for
 *    a node ("_sample", sift_cluster_put_stats_sample()): when every node
 *    sent all its values the percentiles are those of the union, exact
 *    and equal to one node holding all the data; otherwise each node sent
 *    SIFT_CLUSTER_SAMPLE_SHIP evenly spaced quantiles of its sample,
 *    weighted by its count, and the percentiles are approximate
 *    (percentiles_exact false, a warning).  One holder: its own answer.
 *  - fields: the union; a field's kinds are or-ed, its cardinality is
 *    the largest of the nodes' (a lower bound, as on one node).
 * Hits are copied byte for byte (the numbers in events are never parsed
 * and printed again); only the small parts around them go through
 * jansson.
 *
 * Invariants: an answer that cannot be read is left out whole (flagged in
 * unreadable[]), never half used.
 *
 * Threads: pure functions; any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cluster/cluster_int.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/query.h"
#include "sift/time.h"

#define LOAD_FLAGS (JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL)

/* ---- small helpers ---- */

static uint64_t
get_u64(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v) && json_integer_value(v) > 0)
        return (uint64_t)json_integer_value(v);
    if (json_is_real(v) && json_real_value(v) > 0)
        return (uint64_t)json_real_value(v);
    return 0;
}

/* Warnings of all answers, each once. */
struct warnings {
    json_t *list; /* array of strings */
};

static void
warnings_add(struct warnings *w, json_t *answer)
{
    json_t *arr = json_object_get(answer, "warnings"), *e;
    size_t i;
    json_array_foreach(arr, i, e)
    {
        if (!json_is_string(e))
            continue;
        int dup = 0;
        size_t j;
        json_t *x;
        json_array_foreach(w->list, j, x) dup |= json_equal(x, e);
        if (!dup)
            json_array_append(w->list, e);
    }
}

static void
warnings_add_text(struct warnings *w, const char *text)
{
    json_t *s = json_string(text);
    json_t *arr = json_pack("{s:[o]}", "warnings", s);
    warnings_add(w, arr);
    json_decref(arr);
}

static void
warnings_put(const struct warnings *w, struct sift_buf *out)
{
    if (json_array_size(w->list) == 0)
        return;
    sift_buf_append(out, ",\"warnings\":[", 13);
    size_t i;
    json_t *e;
    json_array_foreach(w->list, i, e)
    {
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_put_json_str(out, json_string_value(e), json_string_length(e));
    }
    sift_buf_putc(out, ']');
}

static void
put_json_value(struct sift_buf *out, json_t *v)
{
    if (json_is_string(v)) {
        sift_buf_put_json_str(out, json_string_value(v), json_string_length(v));
    } else if (json_is_real(v)) {
        sift_buf_put_json_double(out, json_real_value(v));
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (s)
            sift_buf_append(out, s, strlen(s));
        else
            sift_buf_append(out, "null", 4);
        free(s);
    }
}

/* ---- search ---- */

struct hit {
    int64_t ts;
    uint64_t hash;
    uint64_t k_ts, k_hash; /* order keys: ascending = output order */
    const char *p;
    size_t len;
    size_t node; /* answer index: keeps equal keys in node order */
};

static int
cmp_hit(const void *a, const void *b)
{
    const struct hit *x = a, *y = b;
    int c = 0;
    if (x->k_ts != y->k_ts)
        c = x->k_ts < y->k_ts ? -1 : 1;
    else if (x->k_hash != y->k_hash)
        c = x->k_hash < y->k_hash ? -1 : 1;
    if (c == 0 && x->node != y->node)
        c = x->node < y->node ? -1 : 1;
    if (c == 0)
        c = x->p < y->p ? -1 : (x->p > y->p);
    return c;
}

/*
 * Splits the "hits" array at the start of body ({"hits":[...],...}) into
 * its elements.  Sets *rest to the text after the array (starting with
 * ',' or '}').  Returns the number of hits appended to *v, or -1.
 */
static long
split_hits(const char *body, size_t len, struct hit **v, size_t *n, size_t *cap,
           size_t node, const char **rest)
{
    static const char head[] = "{\"hits\":[";
    if (len < sizeof(head) - 1 || memcmp(body, head, sizeof(head) - 1) != 0)
        return -1;
    size_t i = sizeof(head) - 1;
    long count = 0;
    while (i < len && body[i] != ']') {
        size_t start = i;
        int depth = 0, in_str = 0;
        for (; i < len; i++) {
            char c = body[i];
            if (in_str) {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    in_str = 0;
            } else if (c == '"') {
                in_str = 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (depth == 0)
                    break;
                depth--;
            } else if (c == ',' && depth == 0) {
                break;
            }
        }
        if (i >= len || depth != 0)
            return -1;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *v = sift_xrealloc(*v, *cap * sizeof(**v));
        }
        struct hit *h = &(*v)[(*n)++];
        h->p = body + start;
        h->len = i - start;
        h->node = node;
        json_t *o = json_loadb(h->p, h->len, LOAD_FLAGS, NULL);
        json_t *id = json_object_get(o, "_id");
        int ok =
            json_is_string(id) &&
            sift_query_hit_key(json_string_value(id), json_string_length(id),
                               &h->ts, &h->hash) == SIFT_OK;
        json_decref(o);
        if (!ok)
            return -1;
        count++;
        if (body[i] == ',')
            i++;
    }
    if (i >= len)
        return -1;
    *rest = body + i + 1;
    return count;
}

static int
merge_search(const struct sift_cluster_query *q,
             const struct sift__cluster_answer *a, size_t n,
             struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    struct hit *hits = NULL;
    size_t n_hits = 0, cap = 0;
    uint64_t total = 0;
    int gte = 0, timed_out = 0, more = 0, n_bad = 0;
    struct warnings w = {json_array()};

    for (size_t k = 0; k < n; k++) {
        size_t before = n_hits;
        const char *rest = NULL;
        long got =
            split_hits(a[k].body, a[k].len, &hits, &n_hits, &cap, k, &rest);
        json_t *o = NULL;
        if (got >= 0) {
            /* The rest as an object of its own: "{" + text after ",". */
            size_t rlen = (size_t)(a[k].body + a[k].len - rest);
            if (rlen > 0 && rest[0] == ',') {
                struct sift_buf t = SIFT_BUF_INIT;
                sift_buf_putc(&t, '{');
                sift_buf_append(&t, rest + 1, rlen - 1);
                o = json_loadb(t.data, t.len, LOAD_FLAGS, NULL);
                sift_buf_cleanup(&t);
            }
        }
        json_t *tot = json_object_get(o, "total");
        if (!json_is_object(tot)) {
            n_hits = before;
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len, "%s", "unreadable search answer");
            json_decref(o);
            continue;
        }
        total += get_u64(tot, "value");
        json_t *rel = json_object_get(tot, "relation");
        gte |=
            json_is_string(rel) && strcmp(json_string_value(rel), "gte") == 0;
        timed_out |= json_is_true(json_object_get(o, "timed_out"));
        more |= json_is_string(json_object_get(o, "cursor"));
        warnings_add(&w, o);
        json_decref(o);
    }

    for (size_t i = 0; i < n_hits; i++) {
        uint64_t k = (uint64_t)hits[i].ts ^ UINT64_C(0x8000000000000000);
        hits[i].k_ts = q->oldest_first ? k : ~k;
        hits[i].k_hash = q->oldest_first ? hits[i].hash : ~hits[i].hash;
    }
    if (n_hits > 1)
        qsort(hits, n_hits, sizeof(*hits), cmp_hit);
    size_t keep = n_hits < q->size ? n_hits : q->size;
    more |= n_hits > keep;

    sift_buf_append(out, "{\"hits\":[", 9);
    for (size_t i = 0; i < keep; i++) {
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_append(out, hits[i].p, hits[i].len);
    }
    sift_buf_appendf(out,
                     "],\"total\":{\"value\":%llu,\"relation\":\"%s\"},"
                     "\"cursor\":",
                     (unsigned long long)total, gte ? "gte" : "eq");
    if (more && keep > 0) {
        const struct hit *last = &hits[keep - 1];
        uint32_t skip = 0;
        for (size_t i = 0; i < keep; i++)
            skip += hits[i].ts == last->ts && hits[i].hash == last->hash;
        int64_t cts;
        uint64_t chash;
        uint32_t cskip;
        int cold;
        if (q->cursor && *q->cursor &&
            sift_query_cursor_read(q->cursor, &cts, &chash, &cskip, &cold) ==
                SIFT_OK &&
            cts == last->ts && chash == last->hash)
            skip += cskip;
        char cur[64];
        sift_query_cursor_after(last->ts, last->hash, skip, q->oldest_first,
                                cur, sizeof(cur));
        sift_buf_appendf(out, "\"%s\"", cur);
    } else {
        sift_buf_append(out, "null", 4);
    }
    sift_buf_appendf(out, ",\"timed_out\":%s", timed_out ? "true" : "false");
    warnings_put(&w, out);
    json_decref(w.list);
    sift_free(hits);
    return n_bad;
}

/* ---- keyed counts (terms, histogram series) ---- */

struct kc {
    char *key; /* JSON text of the key, as a node wrote it */
    uint64_t count;
};

struct kcmap {
    struct kc *v;
    size_t n, cap;
};

static struct kc *
kc_get(struct kcmap *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].key, key) == 0)
            return &m->v[i];
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 32;
        m->v = sift_xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    m->v[m->n].key = sift_xstrdup(key);
    m->v[m->n].count = 0;
    return &m->v[m->n++];
}

static void
kc_free(struct kcmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        sift_free(m->v[i].key);
    sift_free(m->v);
    memset(m, 0, sizeof(*m));
}

/* Most frequent first, then by key: the order of one node's answer. */
static int
cmp_kc(const void *a, const void *b)
{
    const struct kc *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int
merge_terms(const struct sift_cluster_query *q, uint32_t shard_size,
            const struct sift__cluster_answer *a, size_t n,
            struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    struct kcmap m = {0};
    uint64_t other = 0, missing = 0, err_bound = 0;
    int timed_out = 0, n_bad = 0;
    json_t *field = NULL;
    struct warnings w = {json_array()};
    (void)shard_size;
    for (size_t k = 0; k < n; k++) {
        json_t *o = json_loadb(a[k].body, a[k].len, LOAD_FLAGS, NULL);
        json_t *b = json_object_get(o, "buckets");
        if (!json_is_array(b)) {
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len, "%s", "unreadable terms answer");
            json_decref(o);
            continue;
        }
        if (!field)
            field = json_incref(json_object_get(o, "field"));
        size_t i;
        json_t *e;
        uint64_t smallest = 0;
        json_array_foreach(b, i, e)
        {
            char *key = json_dumps(json_object_get(e, "key"),
                                   JSON_ENCODE_ANY | JSON_COMPACT);
            uint64_t c = get_u64(e, "count");
            if (key)
                kc_get(&m, key)->count += c;
            free(key);
            smallest = c;
        }
        uint64_t node_other = get_u64(o, "other");
        other += node_other;
        if (node_other > 0)
            err_bound += smallest;
        missing += get_u64(o, "missing");
        timed_out |= json_is_true(json_object_get(o, "timed_out"));
        warnings_add(&w, o);
        json_decref(o);
    }
    if (m.n > 1)
        qsort(m.v, m.n, sizeof(*m.v), cmp_kc);
    size_t keep = m.n < q->size ? m.n : q->size;
    for (size_t i = keep; i < m.n; i++)
        other += m.v[i].count;
    sift_buf_append(out, "{\"field\":", 9);
    put_json_value(out, field);
    sift_buf_append(out, ",\"buckets\":[", 12);
    for (size_t i = 0; i < keep; i++)
        sift_buf_appendf(out, "%s{\"key\":%s,\"count\":%llu}", i ? "," : "",
                         m.v[i].key, (unsigned long long)m.v[i].count);
    sift_buf_appendf(out,
                     "],\"other\":%llu,\"missing\":%llu,"
                     "\"doc_count_error_upper_bound\":%llu,\"timed_out\":%s",
                     (unsigned long long)other, (unsigned long long)missing,
                     (unsigned long long)err_bound,
                     timed_out ? "true" : "false");
    warnings_put(&w, out);
    json_decref(w.list);
    json_decref(field);
    kc_free(&m);
    return n_bad;
}

/* ---- histogram ---- */

struct bucket {
    int64_t key_ms;
    uint64_t count;
    struct kcmap by;
    uint64_t other;
};

static int
cmp_bucket(const void *a, const void *b)
{
    const struct bucket *x = a, *y = b;
    return x->key_ms < y->key_ms ? -1 : x->key_ms > y->key_ms;
}

static int64_t
floor_to(int64_t v, int64_t step)
{
    int64_t q = v / step;
    if (v % step != 0 && v < 0)
        q--;
    return q * step;
}

/* Holes between the nodes' ranges become empty buckets (fixed
 * intervals only; not for a range of more than a million buckets). */
static void
fill_holes(struct bucket **bkp, size_t *nbp, int64_t iv)
{
    struct bucket *bk = *bkp;
    size_t nb = *nbp;
    if (nb < 2 ||
        (uint64_t)((bk[nb - 1].key_ms - bk[0].key_ms) / iv) >= 1000000u)
        return;
    size_t want = (size_t)((bk[nb - 1].key_ms - bk[0].key_ms) / iv) + 1;
    if (want <= nb)
        return;
    struct bucket *full = sift_xcalloc(want, sizeof(*full));
    size_t j = 0;
    for (size_t i = 0; i < want; i++) {
        int64_t key = bk[0].key_ms + (int64_t)i * iv;
        if (j < nb && bk[j].key_ms == key)
            full[i] = bk[j++];
        else
            full[i].key_ms = key;
    }
    sift_free(bk);
    *bkp = full;
    *nbp = want;
}

/* The interval of the merged histogram: the coarsest one decides, and
 * calendar intervals must all agree.  Marks the answers that are
 * unreadable or disagree in bad[] (why says how) and returns how many. */
static int
agree_interval(json_t *const *o, size_t n, int *bad, int64_t *iv_out,
               const char **cal_out, char *why, size_t why_len)
{
    int64_t iv = 0;
    const char *cal = NULL;
    int n_bad = 0;
    for (size_t k = 0; k < n; k++) {
        json_t *ivj = json_object_get(o[k], "interval_ms");
        if (!json_is_array(json_object_get(o[k], "buckets")) ||
            !json_is_number(ivj) || json_number_value(ivj) <= 0) {
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len, "%s", "unreadable histogram answer");
            continue;
        }
        int64_t v = (int64_t)json_number_value(ivj);
        if (v > iv)
            iv = v;
        json_t *c = json_object_get(o[k], "calendar_interval");
        if (json_is_string(c) && !cal)
            cal = json_string_value(c);
    }
    for (size_t k = 0; k < n; k++) {
        if (bad[k])
            continue;
        int64_t v =
            (int64_t)json_number_value(json_object_get(o[k], "interval_ms"));
        json_t *c = json_object_get(o[k], "calendar_interval");
        const char *kc = json_is_string(c) ? json_string_value(c) : NULL;
        int same_cal =
            (kc == NULL && cal == NULL) || (kc && cal && strcmp(kc, cal) == 0);
        if ((cal || kc) ? !same_cal : iv % v != 0) {
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len,
                     "its histogram interval differs from the other nodes' "
                     "(give interval= explicitly)");
        }
    }
    *iv_out = iv;
    *cal_out = cal;
    return n_bad;
}

static int
merge_histogram(const struct sift_cluster_query *q,
                const struct sift__cluster_answer *a, size_t n,
                struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    json_t **o = sift_xcalloc(n + 1, sizeof(*o));
    int64_t iv = 0;
    const char *cal = NULL;
    int timed_out = 0, any_by = 0;
    struct warnings w = {json_array()};

    for (size_t k = 0; k < n; k++)
        o[k] = json_loadb(a[k].body, a[k].len, LOAD_FLAGS, NULL);
    int n_bad = agree_interval(o, n, bad, &iv, &cal, why, why_len);

    struct bucket *bk = NULL;
    size_t nb = 0, cap = 0;
    for (size_t k = 0; k < n; k++) {
        if (bad[k])
            continue;
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(o[k], "buckets"), i, e)
        {
            int64_t key = (int64_t)json_number_value(json_object_get(e, "key"));
            if (!cal)
                key = floor_to(key, iv);
            struct bucket *b = NULL;
            for (size_t j = nb; j-- > 0;)
                if (bk[j].key_ms == key) {
                    b = &bk[j];
                    break;
                }
            if (!b) {
                if (nb == cap) {
                    cap = cap ? cap * 2 : 64;
                    bk = sift_xrealloc(bk, cap * sizeof(*bk));
                }
                b = &bk[nb++];
                memset(b, 0, sizeof(*b));
                b->key_ms = key;
            }
            b->count += get_u64(e, "count");
            json_t *by = json_object_get(e, "by");
            if (json_is_object(by)) {
                any_by = 1;
                const char *name;
                json_t *cnt;
                json_object_foreach(by, name, cnt)
                {
                    uint64_t c =
                        json_is_number(cnt) && json_number_value(cnt) > 0
                            ? (uint64_t)json_number_value(cnt)
                            : 0;
                    if (strcmp(name, "_other") == 0) {
                        b->other += c;
                        continue;
                    }
                    json_t *js = json_string(name);
                    char *kt = json_dumps(js, JSON_ENCODE_ANY);
                    json_decref(js);
                    if (kt)
                        kc_get(&b->by, kt)->count += c;
                    free(kt);
                }
            }
        }
        timed_out |= json_is_true(json_object_get(o[k], "timed_out"));
        warnings_add(&w, o[k]);
    }
    if (nb > 1)
        qsort(bk, nb, sizeof(*bk), cmp_bucket);

    if (!cal)
        fill_holes(&bk, &nb, iv);

    /* The `size` largest series overall; the rest is _other. */
    struct kcmap tot = {0};
    for (size_t i = 0; i < nb; i++)
        for (size_t j = 0; j < bk[i].by.n; j++)
            kc_get(&tot, bk[i].by.v[j].key)->count += bk[i].by.v[j].count;
    if (tot.n > 1)
        qsort(tot.v, tot.n, sizeof(*tot.v), cmp_kc);
    size_t keep = tot.n < q->size ? tot.n : q->size;
    int any_other = tot.n > keep;
    for (size_t i = 0; i < nb; i++)
        any_other |= bk[i].other > 0;

    sift_buf_appendf(out, "{\"interval_ms\":%lld,", (long long)iv);
    if (cal) {
        sift_buf_append(out, "\"calendar_interval\":", 20);
        sift_buf_put_json_str(out, cal, strlen(cal));
        sift_buf_putc(out, ',');
    }
    sift_buf_append(out, "\"buckets\":[", 11);
    for (size_t i = 0; i < nb; i++) {
        struct bucket *b = &bk[i];
        sift_buf_appendf(out, "%s{\"key\":%lld,\"time\":\"", i ? "," : "",
                         (long long)b->key_ms);
        sift_time_format_rfc3339(b->key_ms * SIFT_NS_PER_MS, 9, out);
        sift_buf_appendf(out, "\",\"count\":%llu",
                         (unsigned long long)b->count);
        if (any_by) {
            uint64_t other = b->other;
            sift_buf_append(out, ",\"by\":{", 7);
            for (size_t j = 0; j < tot.n; j++) {
                uint64_t c = 0;
                for (size_t x = 0; x < b->by.n; x++)
                    if (strcmp(b->by.v[x].key, tot.v[j].key) == 0)
                        c = b->by.v[x].count;
                if (j >= keep) {
                    other += c;
                    continue;
                }
                sift_buf_appendf(out, "%s%s:%llu", j ? "," : "", tot.v[j].key,
                                 (unsigned long long)c);
            }
            if (any_other)
                sift_buf_appendf(out, "%s\"_other\":%llu", keep ? "," : "",
                                 (unsigned long long)other);
            sift_buf_putc(out, '}');
        }
        sift_buf_putc(out, '}');
        kc_free(&b->by);
    }
    sift_buf_appendf(out, "],\"timed_out\":%s", timed_out ? "true" : "false");
    warnings_put(&w, out);
    json_decref(w.list);
    kc_free(&tot);
    sift_free(bk);
    for (size_t k = 0; k < n; k++)
        json_decref(o[k]);
    sift_free(o);
    return n_bad;
}

/* ---- stats ---- */

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void
sift_cluster_put_stats_sample(const struct sift_agg_stats_result *r,
                              struct sift_buf *out)
{
    size_t n = r->count ? r->n_sample : 0;
    double *v = sift_xmalloc((n + 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = r->sample[i].v;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t m = n <= SIFT_CLUSTER_SAMPLE_SHIP ? n : SIFT_CLUSTER_SAMPLE_SHIP;
    int complete = r->percentiles_exact && m == n;
    sift_buf_appendf(out, ",\"_sample\":{\"complete\":%s,\"values\":[",
                     complete ? "true" : "false");
    for (size_t i = 0; i < m; i++) {
        /* Evenly spaced ranks, the smallest and largest included. */
        size_t at =
            m == n ? i
                   : (size_t)(((double)i * (double)(n - 1)) / (double)(m - 1) +
                              0.5);
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_put_json_double(out, v[at < n ? at : n - 1]);
    }
    sift_buf_append(out, "]}", 2);
    sift_free(v);
}

/* The nodes' samples (the "_sample" of their answers), each value with
 * the weight of the values it stands for. */
struct samples {
    struct wval {
        double v, w;
    } * v;
    size_t n, cap;
    int missing;  /* a node with values sent none */
    int complete; /* every node sent all its values */
    int started;
};

static void
samples_add(struct samples *sm, json_t *s, uint64_t count)
{
    json_t *vals = json_object_get(s, "values"), *e;
    size_t len = json_array_size(vals), i;
    if (!sm->started) {
        sm->started = 1;
        sm->complete = 1;
    }
    if (!json_is_array(vals) || len == 0) {
        sm->missing = 1;
        return;
    }
    int complete =
        json_is_true(json_object_get(s, "complete")) && (uint64_t)len == count;
    if (!complete)
        sm->complete = 0;
    if (sm->n + len > sm->cap) {
        sm->cap = (sm->n + len) * 2;
        sm->v = sift_xrealloc(sm->v, sm->cap * sizeof(*sm->v));
    }
    double w = (double)count / (double)len;
    json_array_foreach(vals, i, e)
    {
        if (!json_is_number(e)) {
            sm->missing = 1;
            return;
        }
        sm->v[sm->n].v = json_number_value(e);
        sm->v[sm->n].w = w;
        sm->n++;
    }
}

static int
cmp_wval(const void *a, const void *b)
{
    return cmp_double(&((const struct wval *)a)->v,
                      &((const struct wval *)b)->v);
}

/*
 * p50, p90, p99 of the merged samples.  All complete: the values of every
 * node, by the same rule as one node (sift_agg_percentile()).  Otherwise
 * weighted: the value whose weight covers rank pct% of (count - 1).
 */
static int
samples_percentiles(struct samples *sm, double pv[3], int *exact)
{
    static const unsigned pct[3] = {50, 90, 99};
    if (sm->missing || sm->n == 0)
        return SIFT_EINVAL;
    qsort(sm->v, sm->n, sizeof(*sm->v), cmp_wval);
    *exact = sm->complete;
    if (sm->complete) {
        double *d = sift_xmalloc(sm->n * sizeof(*d));
        for (size_t i = 0; i < sm->n; i++)
            d[i] = sm->v[i].v;
        for (size_t k = 0; k < 3; k++)
            pv[k] = sift_agg_percentile(d, sm->n, pct[k]);
        sift_free(d);
        return SIFT_OK;
    }
    double total = 0;
    for (size_t i = 0; i < sm->n; i++)
        total += sm->v[i].w;
    for (size_t k = 0; k < 3; k++) {
        double rank = (total - 1) * (double)pct[k] / 100.0, cum = 0;
        pv[k] = sm->v[sm->n - 1].v;
        for (size_t i = 0; i < sm->n; i++) {
            cum += sm->v[i].w;
            if (cum > rank) {
                pv[k] = sm->v[i].v;
                break;
            }
        }
    }
    return SIFT_OK;
}

static int
merge_stats(const struct sift__cluster_answer *a, size_t n,
            struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    uint64_t count = 0;
    double min = 0, max = 0, sum = 0;
    int n_bad = 0, timed_out = 0, holders = 0;
    json_t *field = NULL, *only = NULL;
    struct warnings w = {json_array()};
    struct samples sm = {0};
    for (size_t k = 0; k < n; k++) {
        json_t *o = json_loadb(a[k].body, a[k].len, LOAD_FLAGS, NULL);
        if (!json_is_number(json_object_get(o, "count"))) {
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len, "%s", "unreadable stats answer");
            json_decref(o);
            continue;
        }
        if (!field)
            field = json_incref(json_object_get(o, "field"));
        uint64_t c = get_u64(o, "count");
        if (c > 0) {
            double mn = json_number_value(json_object_get(o, "min"));
            double mx = json_number_value(json_object_get(o, "max"));
            if (count == 0 || mn < min)
                min = mn;
            if (count == 0 || mx > max)
                max = mx;
            sum += json_number_value(json_object_get(o, "sum"));
            count += c;
            holders++;
            samples_add(&sm, json_object_get(o, "_sample"), c);
            json_decref(only);
            only = json_incref(o);
        }
        timed_out |= json_is_true(json_object_get(o, "timed_out"));
        warnings_add(&w, o);
        json_decref(o);
    }
    sift_buf_append(out, "{\"field\":", 9);
    put_json_value(out, field);
    sift_buf_appendf(out, ",\"count\":%llu", (unsigned long long)count);
    if (count == 0) {
        sift_buf_appendf(out, ",\"min\":null,\"max\":null,\"sum\":0,"
                              "\"avg\":null,\"p50\":null,\"p90\":null,"
                              "\"p99\":null,\"percentiles_exact\":true");
    } else {
        const char *names[] = {"min", "max", "sum", "avg"};
        double v[] = {min, max, sum, sum / (double)count};
        for (size_t i = 0; i < 4; i++) {
            sift_buf_appendf(out, ",\"%s\":", names[i]);
            sift_buf_put_json_double(out, v[i]);
        }
        double pv[3];
        int exact = 0;
        if (holders == 1) {
            const char *pn[] = {"p50", "p90", "p99", "percentiles_exact"};
            for (size_t i = 0; i < 4; i++) {
                sift_buf_appendf(out, ",\"%s\":", pn[i]);
                put_json_value(out, json_object_get(only, pn[i]));
            }
        } else if (samples_percentiles(&sm, pv, &exact) == SIFT_OK) {
            const char *pn[] = {"p50", "p90", "p99"};
            for (size_t i = 0; i < 3; i++) {
                sift_buf_appendf(out, ",\"%s\":", pn[i]);
                sift_buf_put_json_double(out, pv[i]);
            }
            sift_buf_appendf(out, ",\"percentiles_exact\":%s",
                             exact ? "true" : "false");
            if (!exact)
                warnings_add_text(&w, "percentiles merged from each node's "
                                      "sample of its values: approximate");
        } else {
            sift_buf_appendf(out, ",\"p50\":null,\"p90\":null,\"p99\":null,"
                                  "\"percentiles_exact\":false");
            warnings_add_text(&w, "a node sent no sample of its values "
                                  "(an older siftd?): p50, p90 and p99 are "
                                  "null (ask each node with local=true)");
        }
    }
    sift_buf_appendf(out, ",\"timed_out\":%s", timed_out ? "true" : "false");
    warnings_put(&w, out);
    json_decref(w.list);
    json_decref(field);
    json_decref(only);
    sift_free(sm.v);
    return n_bad;
}

/* ---- fields ---- */

static int
merge_fields(const struct sift__cluster_answer *a, size_t n,
             struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    json_t *all = json_object(); /* name -> merged entry */
    int n_bad = 0;
    for (size_t k = 0; k < n; k++) {
        json_t *o = json_loadb(a[k].body, a[k].len, LOAD_FLAGS, NULL);
        json_t *f = json_object_get(o, "fields");
        if (!json_is_array(f)) {
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len, "%s", "unreadable fields answer");
            json_decref(o);
            continue;
        }
        size_t i;
        json_t *e;
        json_array_foreach(f, i, e)
        {
            json_t *name = json_object_get(e, "name");
            if (!json_is_string(name))
                continue;
            json_t *m = json_object_get(all, json_string_value(name));
            if (!m) {
                json_object_set(all, json_string_value(name), e);
                continue;
            }
            static const char *const kinds[] = {"text", "keyword", "number"};
            for (size_t j = 0; j < 3; j++)
                if (json_is_true(json_object_get(e, kinds[j])))
                    json_object_set_new(m, kinds[j], json_true());
            if (get_u64(e, "cardinality") > get_u64(m, "cardinality"))
                json_object_set(m, "cardinality",
                                json_object_get(e, "cardinality"));
        }
        json_decref(o);
    }
    /* Sorted by name, as one node's list. */
    size_t nn = json_object_size(all), i = 0;
    const char **names = sift_xcalloc(nn + 1, sizeof(*names));
    const char *key;
    json_t *v;
    json_object_foreach(all, key, v) names[i++] = key;
    for (size_t x = 1; x < nn; x++)
        for (size_t y = x; y > 0 && strcmp(names[y - 1], names[y]) > 0; y--) {
            const char *t = names[y];
            names[y] = names[y - 1];
            names[y - 1] = t;
        }
    sift_buf_append(out, "{\"fields\":[", 11);
    for (size_t x = 0; x < nn; x++) {
        json_t *e = json_object_get(all, names[x]);
        sift_buf_appendf(out, "%s{\"name\":", x ? "," : "");
        sift_buf_put_json_str(out, names[x], strlen(names[x]));
        sift_buf_appendf(
            out,
            ",\"text\":%s,\"keyword\":%s,\"number\":%s,\"cardinality\":%llu}",
            json_is_true(json_object_get(e, "text")) ? "true" : "false",
            json_is_true(json_object_get(e, "keyword")) ? "true" : "false",
            json_is_true(json_object_get(e, "number")) ? "true" : "false",
            (unsigned long long)get_u64(e, "cardinality"));
    }
    sift_buf_putc(out, ']');
    sift_free(names);
    json_decref(all);
    return n_bad;
}

/* ---- patterns ---- */

/* One template of the merge, identified by its text. */
struct pat {
    json_t *text;      /* string, or null (evicted or id 0) */
    json_t *id;        /* the asked node's id for it, else the first seen */
    int id_from_first; /* id comes from the first answer (the asked node) */
    uint64_t count;
    int64_t first_ms, last_ms;
    json_t *sample;
    json_t *series; /* object: bucket key (decimal) -> count */
};

static int
cmp_pat(const void *a, const void *b)
{
    const struct pat *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    const char *tx = json_string_value(x->text),
               *ty = json_string_value(y->text);
    return strcmp(tx ? tx : "", ty ? ty : "");
}

/* One merged pattern, as a node writes it, its series in time order. */
static void
put_pat(struct sift_buf *out, const struct pat *p, int first)
{
    sift_buf_appendf(out, "%s{\"template_id\":", first ? "" : ",");
    put_json_value(out, p->id_from_first ? p->id : json_null());
    sift_buf_append(out, ",\"template\":", 12);
    put_json_value(out, p->text);
    sift_buf_appendf(out, ",\"count\":%llu,\"first_seen_ms\":",
                     (unsigned long long)p->count);
    if (p->first_ms != INT64_MAX)
        sift_buf_appendf(out, "%lld", (long long)p->first_ms);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_append(out, ",\"last_seen_ms\":", 16);
    if (p->last_ms != INT64_MIN)
        sift_buf_appendf(out, "%lld", (long long)p->last_ms);
    else
        sift_buf_append(out, "null", 4);
    sift_buf_append(out, ",\"sample\":", 10);
    put_json_value(out, p->sample ? p->sample : json_null());
    /* Series in time order. */
    size_t ns = json_object_size(p->series), x = 0;
    int64_t *keys = sift_xcalloc(ns + 1, sizeof(*keys));
    const char *kk;
    json_t *vv;
    json_object_foreach(p->series, kk, vv) keys[x++] = strtoll(kk, NULL, 10);
    for (size_t r = 1; r < ns; r++)
        for (size_t y = r; y > 0 && keys[y - 1] > keys[y]; y--) {
            int64_t t = keys[y];
            keys[y] = keys[y - 1];
            keys[y - 1] = t;
        }
    sift_buf_append(out, ",\"series\":[", 11);
    for (size_t r = 0; r < ns; r++) {
        char kb[24];
        snprintf(kb, sizeof(kb), "%lld", (long long)keys[r]);
        sift_buf_appendf(out, "%s[%lld,%llu]", r ? "," : "", (long long)keys[r],
                         (unsigned long long)json_number_value(
                             json_object_get(p->series, kb)));
    }
    sift_buf_append(out, "]}", 2);
    sift_free(keys);
}

static int
merge_patterns(const struct sift_cluster_query *q, uint32_t shard_size,
               const struct sift__cluster_answer *a, size_t n,
               struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    json_t **o = sift_xcalloc(n + 1, sizeof(*o));
    int64_t iv = 0;
    int n_bad = 0, lower_bound = 0;
    uint64_t total = 0, max_distinct = 0;
    struct warnings w = {json_array()};
    /* The widest series bucket: finer ones are summed into it. */
    for (size_t k = 0; k < n; k++) {
        o[k] = json_loadb(a[k].body, a[k].len, LOAD_FLAGS, NULL);
        if (!json_is_array(json_object_get(o[k], "patterns"))) {
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len, "%s", "unreadable patterns answer");
            continue;
        }
        int64_t x = (int64_t)get_u64(o[k], "interval_ms");
        if (x > iv)
            iv = x;
    }
    struct pat *v = NULL;
    size_t nv = 0, cap = 0;
    json_t *by_text = json_object(); /* text -> index + 1 */
    for (size_t k = 0; k < n; k++) {
        if (bad[k])
            continue;
        int64_t x = (int64_t)get_u64(o[k], "interval_ms");
        if (x > 0 && iv % x != 0) {
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len,
                     "its pattern series interval (%lld ms) does not divide "
                     "the others' (%lld ms): give interval=",
                     (long long)x, (long long)iv);
            continue;
        }
        json_t *list = json_object_get(o[k], "patterns"), *e;
        size_t i;
        total += get_u64(o[k], "total");
        uint64_t d = get_u64(o[k], "distinct");
        if (d > max_distinct)
            max_distinct = d;
        if (d > json_array_size(list))
            lower_bound = 1;
        warnings_add(&w, o[k]);
        json_array_foreach(list, i, e)
        {
            json_t *text = json_object_get(e, "template");
            struct pat *p = NULL;
            if (json_is_string(text)) {
                json_t *at = json_object_get(by_text, json_string_value(text));
                if (at)
                    p = &v[json_integer_value(at) - 1];
            }
            if (!p) {
                if (nv == cap) {
                    cap = cap ? cap * 2 : 64;
                    v = sift_xrealloc(v, cap * sizeof(*v));
                }
                p = &v[nv++];
                memset(p, 0, sizeof(*p));
                p->text = json_incref(text ? text : json_null());
                p->id = json_incref(json_object_get(e, "template_id"));
                p->id_from_first = k == 0;
                p->first_ms = INT64_MAX;
                p->last_ms = INT64_MIN;
                p->series = json_object();
                if (json_is_string(text))
                    json_object_set_new(by_text, json_string_value(text),
                                        json_integer((json_int_t)nv));
            }
            p->count += get_u64(e, "count");
            json_t *fs = json_object_get(e, "first_seen_ms");
            json_t *ls = json_object_get(e, "last_seen_ms");
            if (json_is_number(fs) &&
                (int64_t)json_number_value(fs) < p->first_ms)
                p->first_ms = (int64_t)json_number_value(fs);
            if (json_is_number(ls) &&
                (int64_t)json_number_value(ls) > p->last_ms) {
                p->last_ms = (int64_t)json_number_value(ls);
                json_decref(p->sample);
                p->sample = json_incref(json_object_get(e, "sample"));
            }
            json_t *ser = json_object_get(e, "series"), *pt;
            size_t j;
            json_array_foreach(ser, j, pt)
            {
                json_t *t = json_array_get(pt, 0), *c = json_array_get(pt, 1);
                if (!json_is_number(t) || !json_is_number(c))
                    continue;
                int64_t key = (int64_t)json_number_value(t);
                if (iv > 0)
                    key = floor_to(key, iv);
                char kb[24];
                snprintf(kb, sizeof(kb), "%lld", (long long)key);
                json_t *cur = json_object_get(p->series, kb);
                double sum =
                    json_number_value(c) + (cur ? json_number_value(cur) : 0.0);
                json_object_set_new(p->series, kb, json_real(sum));
            }
        }
    }
    qsort(v, nv, sizeof(*v), cmp_pat);
    uint32_t keep = q->size ? q->size : (uint32_t)nv;
    if (shard_size && keep > shard_size)
        keep = shard_size;
    sift_buf_append(out, "{\"patterns\":[", 13);
    for (size_t i = 0; i < nv; i++) {
        struct pat *p = &v[i];
        if (i < keep)
            put_pat(out, p, i == 0);
        json_decref(p->text);
        json_decref(p->id);
        json_decref(p->sample);
        json_decref(p->series);
    }
    uint64_t distinct = nv > max_distinct ? nv : max_distinct;
    if (lower_bound)
        warnings_add_text(&w, "distinct counts the templates the nodes "
                              "returned: a lower bound (a node has more "
                              "templates than it was asked for)");
    sift_buf_appendf(
        out, "],\"total\":%llu,\"distinct\":%llu,\"interval_ms\":%lld",
        (unsigned long long)total, (unsigned long long)distinct, (long long)iv);
    warnings_put(&w, out);
    json_decref(w.list);
    json_decref(by_text);
    sift_free(v);
    for (size_t k = 0; k < n; k++)
        json_decref(o[k]);
    sift_free(o);
    return n_bad;
}

/* ---- alerts ---- */

struct al {
    int64_t started;
    uint64_t id;
    const char *node;
    const char *p; /* the alert as its node wrote it */
    size_t len;
};

/*
 * Splits the array at the start of body ({"alerts":[...],...}) into its
 * elements, appended to *v (raw text, never parsed and printed again).
 * Returns the number appended, or -1.
 */
static long
split_alerts(const char *body, size_t len, const char *node, struct al **v,
             size_t *n, size_t *cap)
{
    static const char head[] = "{\"alerts\":[";
    if (len < sizeof(head) - 1 || memcmp(body, head, sizeof(head) - 1) != 0)
        return -1;
    size_t i = sizeof(head) - 1;
    long count = 0;
    while (i < len && body[i] != ']') {
        size_t start = i;
        int depth = 0, in_str = 0;
        for (; i < len; i++) {
            char c = body[i];
            if (in_str) {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    in_str = 0;
            } else if (c == '"') {
                in_str = 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (depth == 0)
                    break;
                depth--;
            } else if (c == ',' && depth == 0) {
                break;
            }
        }
        if (i >= len || depth != 0)
            return -1;
        json_t *o = json_loadb(body + start, i - start, LOAD_FLAGS, NULL);
        if (!json_is_object(o)) {
            json_decref(o);
            return -1;
        }
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 64;
            *v = sift_xrealloc(*v, *cap * sizeof(**v));
        }
        struct al *x = &(*v)[(*n)++];
        x->started =
            (int64_t)json_number_value(json_object_get(o, "started_ms"));
        x->id = get_u64(o, "id");
        x->node = node;
        x->p = body + start;
        x->len = i - start;
        json_decref(o);
        count++;
        if (body[i] == ',')
            i++;
    }
    return i < len ? count : -1;
}

static int
cmp_al(const void *a, const void *b)
{
    const struct al *x = a, *y = b;
    if (x->started != y->started)
        return x->started > y->started ? -1 : 1;
    int c = strcmp(x->node, y->node);
    if (c)
        return c;
    return x->id > y->id ? -1 : x->id < y->id;
}

static int
merge_alerts(const struct sift_cluster_query *q,
             const struct sift__cluster_answer *a, size_t n,
             struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    struct al *v = NULL;
    size_t nv = 0, cap = 0;
    uint64_t total = 0;
    int n_bad = 0;
    for (size_t k = 0; k < n; k++) {
        size_t before = nv;
        json_t *o = json_loadb(a[k].body, a[k].len, LOAD_FLAGS, NULL);
        if (!json_is_object(o) ||
            split_alerts(a[k].body, a[k].len, a[k].node_id ? a[k].node_id : "",
                         &v, &nv, &cap) < 0) {
            nv = before;
            bad[k] = 1;
            n_bad++;
            snprintf(why, why_len, "%s", "unreadable alerts answer");
            json_decref(o);
            continue;
        }
        total += get_u64(o, "total");
        json_decref(o);
    }
    qsort(v, nv, sizeof(*v), cmp_al);
    size_t keep = q->size && q->size < nv ? q->size : nv;
    sift_buf_append(out, "{\"alerts\":[", 11);
    for (size_t i = 0; i < keep; i++) {
        /* The alert as its node wrote it, plus the node: ids are per
         * node (GET /api/v1/alerts/{id} and feedback go to that node). */
        if (i)
            sift_buf_putc(out, ',');
        sift_buf_append(out, v[i].p, v[i].len - 1);
        sift_buf_append(out, ",\"node_id\":", 11);
        sift_buf_put_json_str(out, v[i].node, strlen(v[i].node));
        sift_buf_putc(out, '}');
    }
    sift_buf_appendf(out, "],\"total\":%llu", (unsigned long long)total);
    sift_free(v);
    return n_bad;
}

int
sift__cluster_merge(const struct sift_cluster_query *q, uint32_t shard_size,
                    const struct sift__cluster_answer *a, size_t n,
                    struct sift_buf *out, int *bad, char *why, size_t why_len)
{
    switch (q->kind) {
    case SIFT_CLUSTER_SEARCH:
        return merge_search(q, a, n, out, bad, why, why_len);
    case SIFT_CLUSTER_TERMS:
        return merge_terms(q, shard_size, a, n, out, bad, why, why_len);
    case SIFT_CLUSTER_HISTOGRAM:
        return merge_histogram(q, a, n, out, bad, why, why_len);
    case SIFT_CLUSTER_STATS: return merge_stats(a, n, out, bad, why, why_len);
    case SIFT_CLUSTER_FIELDS: return merge_fields(a, n, out, bad, why, why_len);
    case SIFT_CLUSTER_PATTERNS:
        return merge_patterns(q, shard_size, a, n, out, bad, why, why_len);
    case SIFT_CLUSTER_ALERTS:
        return merge_alerts(q, a, n, out, bad, why, why_len);
    case SIFT_CLUSTER_DELETE: /* cluster.c: delete_finish() */
    case SIFT_CLUSTER_STATUS: /* cluster.c: status_finish() */
    case SIFT_CLUSTER_EXPORT: /* stream.c */
    case SIFT_CLUSTER_TAIL:
    case SIFT_CLUSTER_CONTEXT: /* cluster.c: context_first() */ break;
    }
    return 0;
}
