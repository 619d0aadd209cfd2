/*
 * test_query_diff.c - differential test: random queries answered by sift
 * (postings, columns, segments, top-k, cursors) and by a brute-force scan
 * of the same events written here must agree exactly.
 *
 * Data: loghub-2k lines of several systems (tests/data/loghub-2k),
 * with a keyword level/service/template, a text component, numeric pid
 * and len fields.  The events are spread over several segments whose time
 * ranges overlap (one opened from a file, the others in memory, like the
 * near-real-time segments), and a run of identical timestamps.  About
 * one doc in 16 of every segment but one is tombstoned (live deletes, as
 * delete-by-query makes them); the brute force skips those events.
 *
 * The brute force reads only the AST (query_int.h) and the decoded events:
 * tokens come from sift_tokenize (the documented definition of a word),
 * never from postings or columns.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "query/query_int.h"
#include "query_fixture.h"
#include "sift/clock.h"
#include "sift/loop.h"
#include "sift/pool.h"
#include "sift/tokenize.h"

#define N_SEGS 5

#define N_QUERIES 400
#define N_PAR_QUERIES 120

/*
 * Lines read per system (five systems).  Under a sanitizer (ASan 2-3x,
 * TSan 10-20x slower) the data is smaller, the checks the same: 800 lines
 * each (4,000 events, ~200 tombstoned) instead of the whole 2,000 (10,000
 * events); the brute force, the set-up and every page cost in
 * proportion.  (SIFT_TEST_SANITIZED comes from CMakeLists.txt.)
 */
#ifdef SIFT_TEST_SANITIZED
#define ROWS_PER_SYSTEM 800
#else
#define ROWS_PER_SYSTEM 2000
#endif

/*
 * SIFT_TEST_SCALE_DOWN=k divides the number of random queries by k: the
 * sanitizer stages of scripts/test.sh run fewer (ASan k=2: 200 random
 * queries against the brute force and 60 in every thread configuration;
 * ThreadSanitizer, 10-20x slower, k=8: 50 and 15); the release stage runs
 * them all.
 */
static int
scaled(int n)
{
    const char *e = getenv("SIFT_TEST_SCALE_DOWN");
    long k = e ? strtol(e, NULL, 10) : 1;
    if (k < 1 || k > 100)
        k = 1;
    return (int)(n / k) > 10 ? (int)(n / k) : 10;
}

/* ---- data ---- */

struct toks {
    char **v;
    size_t *len;
    uint32_t n;
};

struct ddata {
    struct qf_events ev;
    struct toks *msg_toks;  /* per event */
    struct toks *comp_toks; /* per event ("component", TEXT) */
    uint64_t *hash;         /* XXH3 of the encoded doc */
    struct sift_segment *segs[N_SEGS];
    unsigned char *deleted; /* per event: tombstoned in its segment */
    size_t n_deleted;
    char **words; /* vocabulary for the generator */
    size_t n_words;
    uint64_t rng;
};

static uint64_t
rnd(struct ddata *d)
{
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return d->rng;
}

static size_t
rndn(struct ddata *d, size_t n)
{
    return (size_t)(rnd(d) % n);
}

static int
tok_cb(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct toks *t = arg;
    (void)pos;
    (void)off;
    if ((t->n & (t->n - 1)) == 0) { /* grow at powers of two */
        t->v = sift_xrealloc(t->v, (t->n * 2 + 1) * sizeof(*t->v));
        t->len = sift_xrealloc(t->len, (t->n * 2 + 1) * sizeof(*t->len));
    }
    t->v[t->n] = sift_xstrndup(tok, len);
    t->len[t->n] = len;
    t->n++;
    return 0;
}

static void
toks_free(struct toks *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        sift_free(t->v[i]);
    sift_free(t->v);
    sift_free(t->len);
}

/* Minimal CSV split (quotes, doubled quotes); fields point into line. */
static int
csv_split(char *line, char **cols, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        if (*p == '"') {
            char *w = ++p, *start = p;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"')
                    p++;
                *w++ = *p++;
            }
            if (*p == '"')
                p++;
            cols[n++] = start;
            *w = '\0';
            if (*p == ',')
                p++;
            else
                break;
            continue;
        }
        cols[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static void
load_system(struct ddata *d, const char *sys, int64_t base_ns)
{
    char path[1024];
    const char *root = getenv("SIFT_TEST_DATA");
    snprintf(path, sizeof(path), "%s/loghub-2k/%s/%s_2k.log_structured.csv",
             root ? root : SIFT_SOURCE_DIR "/tests/data", sys, sys);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char line[8192];
    char *cols[16];
    char *hdr[16];
    char hdrbuf[1024];
    if (!fgets(hdrbuf, sizeof(hdrbuf), f))
        fail_msg("empty %s", path);
    hdrbuf[strcspn(hdrbuf, "\r\n")] = '\0';
    int nh = csv_split(hdrbuf, hdr, 16);
    int c_level = -1, c_comp = -1, c_content = -1, c_event = -1, c_pid = -1;
    for (int i = 0; i < nh; i++) {
        if (!strcmp(hdr[i], "Level"))
            c_level = i;
        else if (!strcmp(hdr[i], "Component"))
            c_comp = i;
        else if (!strcmp(hdr[i], "Content"))
            c_content = i;
        else if (!strcmp(hdr[i], "EventId"))
            c_event = i;
        else if (!strcmp(hdr[i], "Pid"))
            c_pid = i;
    }
    int row = 0;
    while (fgets(line, sizeof(line), f) && row < ROWS_PER_SYSTEM) {
        line[strcspn(line, "\r\n")] = '\0';
        int n = csv_split(line, cols, 16);
        if (n < nh || c_content < 0)
            continue;
        struct sift_event *ev = qf_events_push(&d->ev);
        /* Every 50th event shares the previous timestamp (ties). */
        ev->ts_ns =
            base_ns + (int64_t)(row - (row % 50 == 1)) * 7 * SIFT_NS_PER_MS;
        const char *msg = cols[c_content];
        ev->msg = sift_arena_strndup(d->ev.arena, msg, strlen(msg));
        ev->msg_len = (uint32_t)strlen(msg);
        qf_add_field(&d->ev, ev, "service", sys, strlen(sys), SIFT_FT_KEYWORD);
        if (c_level >= 0 && *cols[c_level])
            qf_add_field(&d->ev, ev, "level", cols[c_level],
                         strlen(cols[c_level]), SIFT_FT_KEYWORD);
        if (c_comp >= 0 && *cols[c_comp])
            qf_add_field(&d->ev, ev, "component", cols[c_comp],
                         strlen(cols[c_comp]), SIFT_FT_TEXT);
        if (c_event >= 0)
            qf_add_field(&d->ev, ev, "template", cols[c_event],
                         strlen(cols[c_event]), SIFT_FT_KEYWORD);
        if (c_pid >= 0 && *cols[c_pid])
            qf_add_field(&d->ev, ev, "pid", cols[c_pid], strlen(cols[c_pid]),
                         SIFT_FT_NUMBER);
        char num[32];
        int nl = snprintf(num, sizeof(num), "%u", ev->msg_len);
        qf_add_field(&d->ev, ev, "len", num, (size_t)nl, SIFT_FT_NUMBER);
        nl = snprintf(num, sizeof(num), "%zu", d->ev.n);
        qf_add_field(&d->ev, ev, "id", num, (size_t)nl, SIFT_FT_NUMBER);
        row++;
    }
    fclose(f);
}

/*
 * Tombstones about 1 doc in 16 of every segment but the last (live
 * deletes, as delete-by-query makes them), and records which events they
 * were, so the brute force leaves them out too.
 */
static void
delete_some(struct ddata *d)
{
    d->deleted = sift_xcalloc(d->ev.n, 1);
    struct sift_buf doc = SIFT_BUF_INIT;
    for (size_t s = 0; s + 1 < N_SEGS; s++) {
        uint32_t n = sift_segment_doc_count(d->segs[s]);
        roaring_bitmap_t *bm = roaring_bitmap_create();
        for (uint32_t doc_id = 0; doc_id < n; doc_id++) {
            if (rndn(d, 16) != 0)
                continue;
            struct sift_arena *a = sift_arena_new(4096);
            struct sift_event ev;
            sift_buf_reset(&doc);
            assert_int_equal(sift_segment_doc(d->segs[s], doc_id, &doc),
                             SIFT_OK);
            assert_int_equal(
                sift_doc_decode((const uint8_t *)doc.data, doc.len, a, &ev),
                SIFT_OK);
            const struct sift_field *f = sift_event_field(&ev, "id", 2);
            assert_non_null(f);
            char num[32];
            assert_true(f->value_len < sizeof(num));
            memcpy(num, f->value, f->value_len);
            num[f->value_len] = '\0';
            long id = strtol(num, NULL, 10);
            assert_true(id >= 1 && (size_t)id <= d->ev.n);
            d->deleted[id - 1] = 1;
            d->n_deleted++;
            roaring_bitmap_add(bm, doc_id);
            sift_arena_free(a);
        }
        struct sift_segment *with;
        assert_int_equal(sift_segment_with_deleted(d->segs[s], bm, &with),
                         SIFT_OK);
        sift_segment_unref(d->segs[s]);
        d->segs[s] = with;
    }
    sift_buf_cleanup(&doc);
    assert_true(d->n_deleted > 100);
}

static int
setup(void **state)
{
    struct ddata *d = sift_xcalloc(1, sizeof(*d));
    d->rng = UINT64_C(0x2545F4914F6CDD1D);
    static const char *const systems[] = {"Apache", "HDFS", "OpenSSH",
                                          "Zookeeper", "Spark"};
    /* Systems overlap in time, so segments built from slices do too. */
    for (size_t s = 0; s < 5; s++)
        load_system(d, systems[s],
                    INT64_C(1700000000000) * SIFT_NS_PER_MS +
                        (int64_t)s * 3000 * SIFT_NS_PER_MS);
    size_t n = d->ev.n;
    d->msg_toks = sift_xcalloc(n, sizeof(*d->msg_toks));
    d->comp_toks = sift_xcalloc(n, sizeof(*d->comp_toks));
    d->hash = sift_xcalloc(n, sizeof(*d->hash));
    struct sift_buf enc = SIFT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const struct sift_event *ev = &d->ev.v[i];
        sift_tokenize(ev->msg, ev->msg_len, tok_cb, &d->msg_toks[i]);
        const struct sift_field *c = sift_event_field(ev, "component", 9);
        if (c)
            sift_tokenize(c->value, c->value_len, tok_cb, &d->comp_toks[i]);
        sift_buf_reset(&enc);
        sift_doc_encode(ev, &enc);
        d->hash[i] = XXH3_64bits(enc.data, enc.len);
        for (uint32_t k = 0; k < d->msg_toks[i].n; k += 3) {
            if ((d->n_words & (d->n_words - 1)) == 0)
                d->words = sift_xrealloc(d->words, (d->n_words * 2 + 1) *
                                                       sizeof(*d->words));
            d->words[d->n_words++] = d->msg_toks[i].v[k];
        }
    }
    sift_buf_cleanup(&enc);
    /* Segment s takes a random 1/N_SEGS of the events. */
    size_t *idx[N_SEGS], cnt[N_SEGS] = {0};
    for (size_t s = 0; s < N_SEGS; s++)
        idx[s] = sift_xmalloc(n * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        size_t s = rndn(d, N_SEGS);
        idx[s][cnt[s]++] = i;
    }
    for (size_t s = 0; s < N_SEGS; s++) {
        d->segs[s] = qf_build(d->ev.v, idx[s], cnt[s], s == 0);
        sift_free(idx[s]);
    }
    delete_some(d);
    *state = d;
    return 0;
}

static int
teardown(void **state)
{
    struct ddata *d = *state;
    for (size_t s = 0; s < N_SEGS; s++)
        sift_segment_unref(d->segs[s]);
    for (size_t i = 0; i < d->ev.n; i++) {
        toks_free(&d->msg_toks[i]);
        toks_free(&d->comp_toks[i]);
    }
    sift_free(d->msg_toks);
    sift_free(d->comp_toks);
    sift_free(d->hash);
    sift_free(d->deleted);
    sift_free(d->words);
    qf_events_free(&d->ev);
    sift_free(d);
    return 0;
}

/* ---- brute force ---- */

static int
glob(const char *p, size_t pn, const char *s, size_t sn)
{
    if (pn == 0)
        return sn == 0;
    if (p[0] == '*')
        return glob(p + 1, pn - 1, s, sn) ||
               (sn > 0 && glob(p, pn, s + 1, sn - 1));
    if (sn == 0)
        return 0;
    if (p[0] == '\\' && pn > 1)
        return p[1] == s[0] && glob(p + 2, pn - 2, s + 1, sn - 1);
    return (p[0] == '?' || p[0] == s[0]) && glob(p + 1, pn - 1, s + 1, sn - 1);
}

static int
num_of(const char *s, size_t len, double *out)
{
    char tmp[64];
    if (len == 0 || len >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    *out = strtod(tmp, &end);
    return end == tmp + len;
}

static pcre2_match_data *g_md; /* generated regexes have no groups */

static int
term_matches(const struct sift_qnode *n, const char *t, size_t len)
{
    switch (n->kind) {
    case SIFT_QN_PREFIX:
        return len >= n->lower_len && memcmp(t, n->lower, n->lower_len) == 0;
    case SIFT_QN_WILDCARD: return glob(n->lower, n->lower_len, t, len);
    case SIFT_QN_REGEX:
        return pcre2_match(n->re, (PCRE2_SPTR)t, len, 0, 0, g_md, NULL) >= 0;
    default: return 0;
    }
}

static int
brute(const struct ddata *d, size_t i, const struct sift_qnode *n)
{
    const struct sift_event *ev = &d->ev.v[i];
    switch (n->kind) {
    case SIFT_QN_ALL: return 1;
    case SIFT_QN_AND:
        for (uint32_t k = 0; k < n->n_kids; k++)
            if (!brute(d, i, n->kids[k]))
                return 0;
        return 1;
    case SIFT_QN_OR:
        for (uint32_t k = 0; k < n->n_kids; k++)
            if (brute(d, i, n->kids[k]))
                return 1;
        return 0;
    case SIFT_QN_NOT: return !brute(d, i, n->kids[0]);
    default: break;
    }
    /* Leaves: find the field, its type and its tokens. */
    const struct toks *tk = NULL;
    const struct sift_field *f = NULL;
    int type;
    if (!strcmp(n->field, "message")) {
        tk = &d->msg_toks[i];
        type = SIFT_FT_TEXT;
    } else {
        f = sift_event_field(ev, n->field, n->field_len);
        if (!f)
            return 0;
        type = f->type;
        if (type == SIFT_FT_TEXT)
            tk = &d->comp_toks[i];
    }
    char lower[512];
    size_t ll = 0;
    if (f) {
        ll = f->value_len < sizeof(lower) ? f->value_len : sizeof(lower) - 1;
        sift_ascii_lower(f->value, ll, lower);
    }
    double v;
    switch (n->kind) {
    case SIFT_QN_TERM:
    case SIFT_QN_PHRASE:
        if (type == SIFT_FT_NUMBER && n->is_number)
            return num_of(f->value, f->value_len, &v) && v == n->number;
        if (type == SIFT_FT_TEXT) {
            if (n->n_toks == 0)
                return 0;
            for (uint32_t s = 0; s + n->n_toks <= tk->n; s++) {
                uint32_t k = 0;
                while (k < n->n_toks && tk->len[s + k] == n->tok_lens[k] &&
                       !memcmp(tk->v[s + k], n->toks[k], n->tok_lens[k]))
                    k++;
                if (k == n->n_toks)
                    return 1;
            }
            return 0;
        }
        return ll == n->lower_len && !memcmp(lower, n->lower, ll);
    case SIFT_QN_PREFIX:
    case SIFT_QN_WILDCARD:
    case SIFT_QN_REGEX:
        if (type == SIFT_FT_TEXT) {
            for (uint32_t s = 0; s < tk->n; s++)
                if (term_matches(n, tk->v[s], tk->len[s]))
                    return 1;
            return 0;
        }
        return term_matches(n, lower, ll);
    case SIFT_QN_RANGE:
        if (type != SIFT_FT_NUMBER || !num_of(f->value, f->value_len, &v))
            return 0;
        return (n->lo_incl ? v >= n->lo : v > n->lo) &&
               (n->hi_incl ? v <= n->hi : v < n->hi);
    case SIFT_QN_EXISTS: return tk ? tk->n > 0 : 1;
    default: return 0;
    }
}

/* ---- query generator ---- */

static void
gen_word(struct ddata *d, struct sift_buf *q)
{
    const char *w = d->words[rndn(d, d->n_words)];
    /* Escape a leading char so AND/OR/NOT/TO stay words, and every
     * special byte inside. */
    for (size_t i = 0; w[i]; i++) {
        if (i == 0 || strchr("\\():\"*?/-+[]{}<>", w[i]))
            sift_buf_putc(q, '\\');
        sift_buf_putc(q, w[i]);
    }
}

static void
gen_leaf(struct ddata *d, struct sift_buf *q)
{
    static const char *const levels[] = {"INFO",   "warn",  "Error",
                                         "notice", "DEBUG", "fatal"};
    static const char *const svcs[] = {"apache",    "HDFS",  "openssh",
                                       "zookeeper", "spark", "nope"};
    switch (rndn(d, 16)) {
    case 0:
    case 1:
    case 2: gen_word(d, q); break;
    case 3: { /* a phrase of two adjacent tokens of a real message */
        size_t i = rndn(d, d->ev.n);
        const struct toks *t = &d->msg_toks[i];
        if (t->n < 2) {
            gen_word(d, q);
            break;
        }
        size_t s = rndn(d, t->n - 1);
        sift_buf_appendf(q, "\"%s %s\"", t->v[s], t->v[s + 1]);
        break;
    }
    case 4: { /* a raw chunk of a message: punctuation makes phrases */
        const struct sift_event *ev = &d->ev.v[rndn(d, d->ev.n)];
        sift_buf_putc(q, '"');
        size_t st = rndn(d, ev->msg_len + 1);
        size_t len = rndn(d, 24);
        for (size_t k = st; k < ev->msg_len && k < st + len; k++) {
            if (ev->msg[k] == '"' || ev->msg[k] == '\\')
                sift_buf_putc(q, '\\');
            sift_buf_putc(q, ev->msg[k]);
        }
        sift_buf_putc(q, '"');
        break;
    }
    case 5: sift_buf_appendf(q, "level:%s", levels[rndn(d, 6)]); break;
    case 6: sift_buf_appendf(q, "service:%s", svcs[rndn(d, 6)]); break;
    case 7: { /* prefix of a word */
        const char *w = d->words[rndn(d, d->n_words)];
        size_t n = 1 + rndn(d, 3);
        if (strlen(w) < n || !((w[0] >= 'a' && w[0] <= 'z')))
            sift_buf_appendf(q, "ab*");
        else
            sift_buf_appendf(q, "%.*s*", (int)n, w);
        break;
    }
    case 8: { /* wildcard: a word with one letter replaced by ? */
        const char *w = d->words[rndn(d, d->n_words)];
        size_t n = strlen(w);
        if (n < 3 || !(w[0] >= 'a' && w[0] <= 'z')) {
            sift_buf_appendf(q, "b?ock");
            break;
        }
        size_t k = 1 + rndn(d, n - 1);
        sift_buf_appendf(q, "%.*s%c%s", (int)k, w, rndn(d, 2) ? '?' : '*',
                         w + k + 1 <= w + n ? w + k + 1 : "");
        break;
    }
    case 9:
        sift_buf_appendf(q, "/%c[a-z]*%s/", "abcdefrst"[rndn(d, 9)],
                         rndn(d, 2) ? "" : "d");
        break;
    case 10:
        sift_buf_appendf(q, "len:[%zu TO %zu%c", rndn(d, 60), 60 + rndn(d, 80),
                         rndn(d, 2) ? ']' : '}');
        break;
    case 11:
        sift_buf_appendf(q, "pid:%s%zu", rndn(d, 2) ? ">=" : "<",
                         rndn(d, 30000));
        break;
    case 12:
        sift_buf_appendf(q, "_exists_:%s",
                         rndn(d, 2) ? "component"
                                    : (rndn(d, 2) ? "pid" : "level"));
        break;
    case 13: sift_buf_appendf(q, "template:E%zu", 1 + rndn(d, 40)); break;
    case 14:
        sift_buf_appendf(q, "component:%s",
                         rndn(d, 2) ? "dfs.DataNode" : "executor");
        break;
    default: sift_buf_appendf(q, "id:%zu", rndn(d, d->ev.n + 10)); break;
    }
}

static void
gen_expr(struct ddata *d, struct sift_buf *q, int depth)
{
    if (depth <= 0 || rndn(d, 3) == 0) {
        if (rndn(d, 6) == 0)
            sift_buf_putc(q, '-');
        gen_leaf(d, q);
        return;
    }
    static const char *const ops[] = {" AND ", " OR ", " ", " AND NOT "};
    size_t k = 2 + rndn(d, 2);
    sift_buf_putc(q, '(');
    for (size_t i = 0; i < k; i++) {
        if (i)
            sift_buf_appendf(q, "%s", ops[rndn(d, 4)]);
        gen_expr(d, q, depth - 1);
    }
    sift_buf_putc(q, ')');
}

/* ---- the test ---- */

struct bhit {
    int64_t ts;
    uint64_t hash;
    long id;
};

static int
cmp_bhit_newest(const void *a, const void *b)
{
    const struct bhit *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts > y->ts ? -1 : 1;
    if (x->hash != y->hash)
        return x->hash > y->hash ? -1 : 1;
    return 0;
}

static void
test_query_diff_random_queries(void **state)
{
    struct ddata *d = *state;
    size_t n = d->ev.n;
    assert_true(n >= 4 * ROWS_PER_SYSTEM);
    struct bhit *want = sift_xmalloc(n * sizeof(*want));
    long *got = sift_xmalloc((n + 1) * sizeof(*got));
    size_t nonempty = 0, n_lower = 0;
    g_md = pcre2_match_data_create(16, NULL);
    int n_queries = scaled(N_QUERIES);
    for (int qi = 0; qi < n_queries; qi++) {
        struct sift_buf qs = SIFT_BUF_INIT;
        gen_expr(d, &qs, 3);
        struct sift_query *q;
        struct sift_query_error err = {0};
        int rc = sift_query_parse(qs.data, qs.len, NULL, &q, &err);
        if (rc < 0)
            fail_msg("generated query does not parse: [%s]: %s",
                     sift_buf_cstr(&qs), err.reason);
        /* Brute force, newest first by (ts, hash). */
        size_t nw = 0;
        for (size_t i = 0; i < n; i++) {
            if (d->deleted[i] || !brute(d, i, q->root))
                continue;
            want[nw].ts = d->ev.v[i].ts_ns;
            want[nw].hash = d->hash[i];
            want[nw].id = (long)i + 1;
            nw++;
        }
        if (nw > 1)
            qsort(want, nw, sizeof(*want), cmp_bhit_newest);
        nonempty += nw > 0;

        /* sift: pages of a random size, following the cursor. */
        /* At most ~25 pages, so the test stays fast under sanitizers. */
        uint32_t limit = (uint32_t)(1 + rndn(d, 400) + nw / 25);
        char cursor[96] = "";
        size_t ng = 0;
        for (int page = 0; page < 10000; page++) {
            struct sift_search_opts o;
            sift_search_opts_init(&o);
            o.limit = limit;
            o.cursor = cursor;
            struct sift_search_result res;
            sift_search_result_init(&res);
            rc = sift_search_exec(d->segs, N_SEGS, q, &o, &res, &err);
            if (rc < 0)
                fail_msg("[%s]: %s", sift_buf_cstr(&qs), err.reason);
            if (res.total != nw)
                fail_msg("[%s]: total %llu, brute force %zu",
                         sift_buf_cstr(&qs), (unsigned long long)res.total, nw);
            ng += qf_hit_ids(&res, got + ng, n + 1 - ng);
            memcpy(cursor, res.cursor, sizeof(cursor));
            sift_search_result_cleanup(&res);
            if (!cursor[0] || ng > n)
                break;
        }
        if (ng != nw)
            fail_msg("[%s]: paged %zu hits, brute force %zu",
                     sift_buf_cstr(&qs), ng, nw);
        for (size_t i = 0; i < nw; i++)
            if (got[i] != want[i].id)
                fail_msg("[%s] limit %u: hit %zu is id %ld, brute force %ld",
                         sift_buf_cstr(&qs), limit, i, got[i], want[i].id);

        /* Bounded total (lazy phrase verification): the same hits; the
         * total exact or a lower bound of at least min(bound, matches). */
        uint64_t bound = 1 + rndn(d, 60);
        cursor[0] = '\0';
        ng = 0;
        for (int page = 0; page < 10000; page++) {
            struct sift_search_opts o;
            sift_search_opts_init(&o);
            o.limit = limit;
            o.cursor = cursor;
            o.track_total_hits = bound;
            struct sift_search_result res;
            sift_search_result_init(&res);
            rc = sift_search_exec(d->segs, N_SEGS, q, &o, &res, &err);
            if (rc < 0)
                fail_msg("[%s]: %s", sift_buf_cstr(&qs), err.reason);
            uint64_t floor = bound < nw ? bound : nw;
            if (res.total > nw || res.total < floor ||
                (!res.total_is_lower_bound && res.total != nw))
                fail_msg("[%s] track_total_hits %llu: total %llu (%s), "
                         "brute force %zu",
                         sift_buf_cstr(&qs), (unsigned long long)bound,
                         (unsigned long long)res.total,
                         res.total_is_lower_bound ? "gte" : "eq", nw);
            n_lower += res.total_is_lower_bound ? 1u : 0u;
            ng += qf_hit_ids(&res, got + ng, n + 1 - ng);
            memcpy(cursor, res.cursor, sizeof(cursor));
            sift_search_result_cleanup(&res);
            if (!cursor[0] || ng > n)
                break;
        }
        if (ng != nw)
            fail_msg("[%s] track_total_hits: paged %zu hits, brute force %zu",
                     sift_buf_cstr(&qs), ng, nw);
        for (size_t i = 0; i < nw; i++)
            if (got[i] != want[i].id)
                fail_msg("[%s] track_total_hits, limit %u: hit %zu is id %ld,"
                         " brute force %ld",
                         sift_buf_cstr(&qs), limit, i, got[i], want[i].id);
        sift_query_free(q);
        sift_buf_cleanup(&qs);
    }
    /* The generator must produce queries that actually select things. */
    assert_true(nonempty > (size_t)n_queries / 3);
    /* The lazy path really ran and cut counts short. */
    assert_true(n_lower > 0);
    pcre2_match_data_free(g_md);
    sift_free(want);
    sift_free(got);
}

/* ---- parallel = sequential ---- */

/* Runs one search page and renders everything the caller sees. */
static void
search_page(struct ddata *d, const struct sift_query *q, struct sift_pool *pool,
            unsigned parallelism, uint32_t limit, int oldest,
            const char *cursor, struct sift_buf *out, char *next_cursor)
{
    struct sift_search_opts o;
    sift_search_opts_init(&o);
    o.limit = limit;
    o.oldest_first = oldest;
    o.cursor = cursor;
    o.pool = pool;
    o.parallelism = parallelism;
    o.track_total_hits = limit % 2 ? 25 : 0; /* lazy path for odd limits */
    struct sift_search_result res;
    sift_search_result_init(&res);
    struct sift_query_error err = {0};
    int rc = sift_search_exec(d->segs, N_SEGS, q, &o, &res, &err);
    sift_buf_appendf(out, "rc=%d ", rc);
    if (rc == SIFT_OK) {
        qf_search_json(&res, 0, out);
        memcpy(next_cursor, res.cursor, sizeof(res.cursor));
    } else {
        next_cursor[0] = '\0';
    }
    sift_search_result_cleanup(&res);
}

/* Histogram, terms and stats of q, rendered one after the other. */
static void
aggs(struct ddata *d, const struct sift_query *q, struct sift_pool *pool,
     unsigned parallelism, int variant, struct sift_buf *out)
{
    static const char *const terms_fields[] = {"template", "level", "component",
                                               "service"};
    static const char *const stats_fields[] = {"len", "pid"};
    struct sift_agg_opts o;
    sift_agg_opts_init(&o);
    o.pool = pool;
    o.parallelism = parallelism;
    struct sift_query_error err = {0};
    o.field = variant % 2 ? "level" : NULL;
    o.size = 3;
    sift_buf_appendf(
        out, " h%d:", qf_histogram_json(d->segs, N_SEGS, q, &o, out, &err));
    o.field = terms_fields[variant % 4];
    o.size = 5;
    sift_buf_appendf(out,
                     " t%d:", qf_terms_json(d->segs, N_SEGS, q, &o, out, &err));
    o.field = stats_fields[variant % 2];
    sift_buf_appendf(out,
                     " s%d:", qf_stats_json(d->segs, N_SEGS, q, &o, out, &err));
}

static void
test_query_diff_parallel_same_results(void **state)
{
    struct ddata *d = *state;
    struct sift_loop *loop;
    struct sift_pool *pool;
    assert_int_equal(sift_loop_new(&loop), 0);
    assert_int_equal(sift_pool_new(loop, 4, &pool), 0);
    uint64_t helped0 = sift__query_par_helped();
    static const unsigned parallelism[] = {2, 0};
    int n_par = scaled(N_PAR_QUERIES);
    for (int qi = 0; qi < n_par; qi++) {
        struct sift_buf qs = SIFT_BUF_INIT;
        gen_expr(d, &qs, 3);
        struct sift_query *q;
        struct sift_query_error err = {0};
        assert_int_equal(sift_query_parse(qs.data, qs.len, NULL, &q, &err), 0);
        uint32_t limit = (uint32_t)(1 + rndn(d, 300));
        int oldest = (int)rndn(d, 2);
        struct sift_buf want = SIFT_BUF_INIT;
        char cursor[96] = "", next[96];
        /* Sequential: three pages and the aggregations. */
        for (int page = 0; page < 3; page++) {
            search_page(d, q, NULL, 0, limit, oldest, cursor, &want, next);
            memcpy(cursor, next, sizeof(cursor));
        }
        aggs(d, q, NULL, 0, qi, &want);
        for (size_t k = 0; k < 2; k++) {
            struct sift_buf got = SIFT_BUF_INIT;
            cursor[0] = '\0';
            for (int page = 0; page < 3; page++) {
                search_page(d, q, pool, parallelism[k], limit, oldest, cursor,
                            &got, next);
                memcpy(cursor, next, sizeof(cursor));
            }
            aggs(d, q, pool, parallelism[k], qi, &got);
            if (got.len != want.len || memcmp(got.data, want.data, got.len))
                fail_msg("[%s] parallelism %u:\n got  %s\n want %s",
                         sift_buf_cstr(&qs), parallelism[k],
                         sift_buf_cstr(&got), sift_buf_cstr(&want));
            sift_buf_cleanup(&got);
        }
        sift_buf_cleanup(&want);
        sift_query_free(q);
        sift_buf_cleanup(&qs);
    }
    /* Helper lanes really ran segments (not just the caller). */
    assert_true(sift__query_par_helped() > helped0);
    sift_pool_free(pool);
    sift_loop_free(loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_diff_random_queries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_query_diff_parallel_same_results,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
