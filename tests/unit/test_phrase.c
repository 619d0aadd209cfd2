/*
 * test_phrase.c - phrases decided by message shapes (index/phrase.c,
 * store/segment_phrase.c).
 *
 * Hand-made shapes check each rule (constant tokens, slot tokens as
 * wildcards with the slot alphabet, bytes >= 0x80 that glue a slot to
 * its neighbours, the 64-byte cut, the verbatim shape); then a random
 * differential: segments of generated messages (words, digit runs, mixed
 * runs, UTF-8 next to digits, long runs, punctuation) and random phrases
 * (windows of real messages, shifted, with a word swapped), where
 * sift_segment_phrase_shapes() must put every doc that holds the phrase
 * (found by tokenizing the message) in sure or maybe, and only such docs
 * in sure.  Last, every byte of the SHAPES and SHAPEDOCS sections
 * flipped in turn (checksums recomputed so only the decoder can notice):
 * the split answers SIFT_ECORRUPT or a valid split, never a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/phrase.h"
#include "sift/segment.h"
#include "sift/tokenize.h"
#include "store/segment_fmt.h"
#include "store/segment_int.h"

/* ---- hand-made shapes ---- */

/* The SHAPES form of pieces (k = n - 1 slots between them). */
static void
pieces(struct sift_buf *b, const char *const *pc, size_t n)
{
    sift_buf_reset(b);
    for (size_t i = 0; i < n; i++) {
        sift_buf_put_varint(b, strlen(pc[i]));
        sift_buf_append(b, pc[i], strlen(pc[i]));
    }
}

static int
classify(const char *const *pc, size_t n_pc, const char *phrase)
{
    struct sift_buf b = SIFT_BUF_INIT;
    pieces(&b, pc, n_pc);
    char *toks[SIFT_PHRASE_MAX_TOKENS];
    size_t lens[SIFT_PHRASE_MAX_TOKENS];
    uint32_t n = 0;
    /* space-separated words, already lower-case tokens */
    char *copy = sift_xstrdup(phrase), *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w && n < 64;
         w = strtok_r(NULL, " ", &save)) {
        toks[n] = w;
        lens[n++] = strlen(w);
    }
    int c =
        sift_phrase_shape((const uint8_t *)b.data, b.len, (uint32_t)(n_pc - 1),
                          (const char *const *)toks, lens, n);
    sift_free(copy);
    sift_buf_cleanup(&b);
    return c;
}

static void
test_phrase_shape_rules(void **state)
{
    (void)state;
    /* "081109 203615 INFO Received block blk_-1 of size 67108864" */
    const char *hdfs[] = {"", " ", " INFO Received block blk_-", " of size ",
                          ""};
    assert_int_equal(classify(hdfs, 5, "received block"), SIFT_PHRASE_ALWAYS);
    assert_int_equal(classify(hdfs, 5, "info received block blk"),
                     SIFT_PHRASE_ALWAYS);
    /* words that are never adjacent in the shape */
    assert_int_equal(classify(hdfs, 5, "block of"), SIFT_PHRASE_NEVER);
    assert_int_equal(classify(hdfs, 5, "received size"), SIFT_PHRASE_NEVER);
    /* a slot in the phrase: depends on the value */
    assert_int_equal(classify(hdfs, 5, "size 67108864"), SIFT_PHRASE_MAYBE);
    assert_int_equal(classify(hdfs, 5, "blk 1 of"), SIFT_PHRASE_MAYBE);
    /* a slot value has a digit and no upper case, no punctuation */
    assert_int_equal(classify(hdfs, 5, "size of"), SIFT_PHRASE_NEVER);
    assert_int_equal(classify(hdfs, 5, "blk abc of"), SIFT_PHRASE_NEVER);
    assert_int_equal(classify(hdfs, 5, "blk a1 of"), SIFT_PHRASE_MAYBE);
    assert_int_equal(classify(hdfs, 5, "blk \xc3\xa9\x31 of"),
                     SIFT_PHRASE_NEVER);
    /* the first tokens are slots */
    assert_int_equal(classify(hdfs, 5, "1 2 info"), SIFT_PHRASE_MAYBE);
    assert_int_equal(classify(hdfs, 5, "1 info"), SIFT_PHRASE_MAYBE);
    assert_int_equal(classify(hdfs, 5, "info 1"), SIFT_PHRASE_NEVER);

    /* UTF-8 glued to a slot: "é12x y", the token is "é12x" */
    const char *glued[] = {"\xc3\xa9", "x y"};
    assert_int_equal(classify(glued, 2, "\xc3\xa9\x31\x32x y"),
                     SIFT_PHRASE_MAYBE);
    assert_int_equal(classify(glued, 2, "\xc3\xa9 y"), SIFT_PHRASE_NEVER);
    assert_int_equal(classify(glued, 2, "ab1x y"), SIFT_PHRASE_NEVER);
    /* two slots in one token through a UTF-8 byte: "1é2 z" */
    const char *two[] = {"", "\xc3\xa9", " z"};
    assert_int_equal(classify(two, 3, "1\xc3\xa9\x32 z"), SIFT_PHRASE_MAYBE);
    /* (conservative: only the bytes before the first slot are checked) */
    assert_int_equal(classify(two, 3, "12 z"), SIFT_PHRASE_MAYBE);
    assert_int_equal(classify(two, 3, "12 y"), SIFT_PHRASE_NEVER);

    /* The 64-byte cut: a slot past it leaves the token constant. */
    char longp[80], phrase[200];
    memset(longp, 'a', 70);
    longp[70] = '\0';
    const char *cut[] = {longp, " end"};
    snprintf(phrase, sizeof(phrase), "%.64s end", longp);
    assert_int_equal(classify(cut, 2, phrase), SIFT_PHRASE_ALWAYS);
    /* ... and inside it the token varies */
    const char *in_cut[] = {"bb", " end"};
    assert_int_equal(classify(in_cut, 2, "bb end"), SIFT_PHRASE_NEVER);
    assert_int_equal(classify(in_cut, 2, "bb7 end"), SIFT_PHRASE_MAYBE);

    /* Upper case in the pieces is lowercased like the tokenizer does. */
    const char *upper[] = {"ERROR Disk FULL on ", ""};
    assert_int_equal(classify(upper, 2, "disk full on"), SIFT_PHRASE_ALWAYS);

    /* One slot between empty pieces is also the verbatim shape. */
    const char *verbatim[] = {"", ""};
    assert_int_equal(classify(verbatim, 2, "a b"), SIFT_PHRASE_MAYBE);
    assert_int_equal(classify(verbatim, 2, "12 34"), SIFT_PHRASE_MAYBE);

    /* Bad pieces parse as 0. */
    uint8_t bad[] = {5, 'a'};
    const char *t[] = {"a", "b"};
    size_t tl[] = {1, 1};
    assert_int_equal(sift_phrase_shape(bad, sizeof(bad), 0, t, tl, 2), 0);
}

/* ---- random differential ---- */

static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint32_t
rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static const char *const words[] = {
    "received", "block",       "of",   "size", "from",    "Error", "disk",
    "FULL",     "user",        "root", "x",    "blk",     "a",     "b",
    "\xc3\xa9", "K\xc3\x96LN", "to",   "on",   "session", "opened"};
static const char *const seps[] = {" ", " ", " ", ": ", ", ", "_", "-",
                                   "/", ".", "=", "  ", "[",  "] "};

static void
gen_message(struct sift_buf *m)
{
    sift_buf_reset(m);
    /* a few templates so shapes repeat, plus random variation */
    uint32_t n = 2 + rnd(8);
    uint32_t tmpl = rnd(6);
    for (uint32_t i = 0; i < n; i++) {
        if (i > 0) {
            const char *s = seps[(tmpl + i) % 13];
            if (rnd(8) == 0)
                s = seps[rnd(13)];
            sift_buf_append(m, s, strlen(s));
        }
        uint32_t kind = (tmpl * 7 + i * 3) % 9;
        if (rnd(6) == 0)
            kind = rnd(11);
        char tmp[128];
        switch (kind) {
        case 5:
        case 6:
        case 7:
        case 8:
        case 0:
        case 1: {
            const char *w = words[(tmpl * 5 + i) % 20];
            if (rnd(5) == 0)
                w = words[rnd(20)];
            sift_buf_append(m, w, strlen(w));
            break;
        }
        case 2: /* digits */
            snprintf(tmp, sizeof(tmp), "%u",
                     rnd(4) == 0 ? rnd(1000000) : rnd(4));
            sift_buf_append(m, tmp, strlen(tmp));
            break;
        case 3: /* mixed */
            snprintf(tmp, sizeof(tmp), "%c%u%s", 'a' + (int)rnd(3), rnd(3),
                     rnd(2) ? "ff" : "");
            sift_buf_append(m, tmp, strlen(tmp));
            break;
        case 4: /* UTF-8 glued to digits */
            snprintf(tmp, sizeof(tmp), "\xc3\xa9%u%s", rnd(3),
                     rnd(2) ? "\xc3\xa9" : "");
            sift_buf_append(m, tmp, strlen(tmp));
            break;
        default: { /* a long run with a digit at a random place */
            uint32_t len = 60 + rnd(10), at = rnd(len);
            for (uint32_t j = 0; j < len; j++)
                tmp[j] = j == at ? '7' : 'q';
            sift_buf_append(m, tmp, len);
            break;
        }
        case 9: /* a lone digit run as its own word */
            sift_buf_append(m, "42", 2);
            break;
        }
    }
}

struct toklist {
    char t[64][SIFT_TOKEN_MAX];
    size_t len[64];
    uint32_t n;
};

static int
collect(const char *tok, size_t len, uint32_t pos, size_t off, void *arg)
{
    struct toklist *l = arg;
    (void)pos;
    (void)off;
    if (l->n == 64)
        return 1;
    memcpy(l->t[l->n], tok, len);
    l->len[l->n++] = len;
    return 0;
}

/* Whether the tokens l (a message's, tokenized once) hold the phrase. */
static int
holds(const struct toklist *l, char *const *toks, const size_t *lens,
      uint32_t n)
{
    int found = 0;
    for (uint32_t i = 0; i + n <= l->n && !found; i++) {
        uint32_t j = 0;
        while (j < n && l->len[i + j] == lens[j] &&
               memcmp(l->t[i + j], toks[j], lens[j]) == 0)
            j++;
        found = j == n;
    }
    return found;
}

static void
test_phrase_segment_differential(void **state)
{
    (void)state;
    enum { N = 3000, ROUNDS = 3, QUERIES = 300 };
    struct sift_buf *msgs = sift_xcalloc(N, sizeof(*msgs));
    struct toklist *mtoks = sift_xcalloc(N, sizeof(*mtoks));
    for (int round = 0; round < ROUNDS; round++) {
        struct sift_segment_opts opts;
        sift_segment_opts_init(&opts);
        struct sift_segment_builder *b;
        assert_int_equal(sift_segment_builder_new(&opts, &b), SIFT_OK);
        for (uint32_t i = 0; i < N; i++) {
            gen_message(&msgs[i]);
            mtoks[i].n = 0;
            sift_tokenize(msgs[i].data, msgs[i].len, collect, &mtoks[i]);
            struct sift_event ev;
            memset(&ev, 0, sizeof(ev));
            ev.ts_ns = (int64_t)i * 1000;
            ev.msg = msgs[i].data;
            ev.msg_len = (uint32_t)msgs[i].len;
            assert_int_equal(sift_segment_builder_add(b, &ev), SIFT_OK);
        }
        struct sift_buf img = SIFT_BUF_INIT;
        assert_int_equal(sift_segment_builder_finish(b, &img), SIFT_OK);
        sift_segment_builder_free(b);
        struct sift_segment *seg;
        assert_int_equal(sift_segment_open_mem(img.data, img.len, &seg),
                         SIFT_OK);
        int fi = sift_segment_field_find(seg, "message", 7);
        assert_true(fi >= 0);
        uint64_t n_sure = 0, n_maybe = 0, n_true = 0;
        for (int q = 0; q < QUERIES; q++) {
            /* a window of a real message, sometimes perturbed */
            struct toklist *l = sift_xcalloc(1, sizeof(*l));
            const struct sift_buf *src = &msgs[rnd(N)];
            sift_tokenize(src->data, src->len, collect, l);
            if (l->n < 2) {
                sift_free(l);
                continue;
            }
            uint32_t n = 2 + rnd(4);
            if (n > l->n)
                n = l->n;
            uint32_t at = rnd(l->n - n + 1);
            char *toks[8];
            size_t lens[8];
            for (uint32_t j = 0; j < n; j++) {
                toks[j] = l->t[at + j];
                lens[j] = l->len[at + j];
            }
            if (rnd(4) == 0) { /* swap in another word of the corpus */
                struct toklist *o = sift_xcalloc(1, sizeof(*o));
                const struct sift_buf *s2 = &msgs[rnd(N)];
                sift_tokenize(s2->data, s2->len, collect, o);
                if (o->n > 0) {
                    uint32_t j = rnd(n), k = rnd(o->n);
                    memcpy(l->t[at + j], o->t[k], o->len[k]);
                    l->len[at + j] = o->len[k];
                    lens[j] = o->len[k];
                }
                sift_free(o);
            }
            /* candidates: every doc (the split must not need postings) */
            roaring_bitmap_t *cand = roaring_bitmap_from_range(0, N, 1);
            roaring_bitmap_t *sure, *maybe;
            assert_int_equal(
                sift_segment_phrase_shapes(seg, (const char *const *)toks, lens,
                                           n, cand, &sure, &maybe),
                SIFT_OK);
            assert_true(roaring_bitmap_intersect(sure, maybe) == 0);
            for (uint32_t d = 0; d < N; d++) {
                int h = holds(&mtoks[d], toks, lens, n);
                int s = roaring_bitmap_contains(sure, d);
                int m = roaring_bitmap_contains(maybe, d);
                if (s && !h)
                    fail_msg("doc %u in sure without the phrase", d);
                if (h && !s && !m) {
                    print_error("message: [%.*s]\nphrase:", (int)msgs[d].len,
                                msgs[d].data);
                    for (uint32_t j = 0; j < n; j++)
                        print_error(" [%.*s]", (int)lens[j], toks[j]);
                    fail_msg("doc %u holds the phrase, in neither set", d);
                }
                n_true += (uint64_t)h;
            }
            n_sure += roaring_bitmap_get_cardinality(sure);
            n_maybe += roaring_bitmap_get_cardinality(maybe);
            roaring_bitmap_free(cand);
            roaring_bitmap_free(sure);
            roaring_bitmap_free(maybe);
            sift_free(l);
        }
        print_message("round %d: %llu matches, %llu sure, %llu maybe\n", round,
                      (unsigned long long)n_true, (unsigned long long)n_sure,
                      (unsigned long long)n_maybe);
        /* The shapes settle many matches (else the test proves little). */
        assert_true(n_true > 0);
        assert_true(n_sure > n_true / 4);
        sift_segment_unref(seg);
    }
    for (uint32_t i = 0; i < N; i++)
        sift_buf_cleanup(&msgs[i]);
    sift_free(msgs);
    sift_free(mtoks);
}

/*
 * The slot index (SLOTIDX, format 6) decides phrases over slot values:
 * a frequent value (PacketResponder 0..3, size 67108864 in most docs) is
 * settled from the codes alone, exactly; a rare value (a block id) has
 * no entry, so only the docs coded 0 in that slot are left to verify.
 */
static void
test_phrase_slot_index(void **state)
{
    (void)state;
    enum { N = 600 };
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_segment_builder *b;
    assert_int_equal(sift_segment_builder_new(&opts, &b), SIFT_OK);
    static char msgs[N][128];
    uint32_t n_pr1 = 0, n_size = 0, n_id = 0;
    for (uint32_t i = 0; i < N; i++) {
        uint32_t pr = rnd(4);
        unsigned long long id = 1000000000ull + rnd(1000000) * 977ull + i;
        unsigned size = rnd(5) ? 67108864u : 1000u + rnd(100000);
        if (i % 2 == 0)
            snprintf(msgs[i], sizeof(msgs[i]),
                     "PacketResponder %u for block blk_%llu terminating", pr,
                     id);
        else
            snprintf(msgs[i], sizeof(msgs[i]),
                     "Receiving block blk_%llu size %u from %u", id, size, pr);
        n_pr1 += i % 2 == 0 && pr == 1;
        n_size += i % 2 == 1 && size == 67108864u;
        n_id += i == 10;
        struct sift_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.ts_ns = (int64_t)i * 1000;
        ev.msg = msgs[i];
        ev.msg_len = (uint32_t)strlen(msgs[i]);
        assert_int_equal(sift_segment_builder_add(b, &ev), SIFT_OK);
    }
    struct sift_buf img = SIFT_BUF_INIT;
    assert_int_equal(sift_segment_builder_finish(b, &img), SIFT_OK);
    sift_segment_builder_free(b);
    struct sift_segment *seg = NULL;
    size_t l = img.len;
    void *p = sift_buf_detach(&img, &l);
    assert_int_equal(sift_segment_open_mem(p, l, &seg), SIFT_OK);
    roaring_bitmap_t *cand = roaring_bitmap_from_range(0, N, 1);
    char id10[32];
    const char *blk = strstr(msgs[10], "blk_") + 4;
    snprintf(id10, sizeof(id10), "%.*s", (int)strcspn(blk, " "), blk);
    struct {
        const char *w[4];
        uint32_t n;
        uint32_t want_sure, max_maybe;
    } cases[] = {
        {{"packetresponder", "1", "for", "block"}, 4, n_pr1, 0},
        {{"size", "67108864"}, 2, n_size, 0},
        {{"67108864", "from"}, 2, n_size, 0},
        /* "1" is no entry of the size slot: only the docs coded 0 there
         * (a rare size) are left to verify */
        {{"size", "1"}, 2, 0, N / 2 - n_size},
        /* a rare id: no entry; only its shape's docs are verified */
        {{"blk", id10, "terminating"}, 3, 0, N / 2},
        {{"blk", id10, "size"}, 3, 0, N / 2},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        size_t lens[4];
        char *wv[4];
        for (uint32_t j = 0; j < cases[c].n; j++) {
            lens[j] = strlen(cases[c].w[j]);
            wv[j] = (char *)(uintptr_t)cases[c].w[j];
        }
        roaring_bitmap_t *sure = NULL, *maybe = NULL;
        assert_int_equal(sift_segment_phrase_shapes(seg, cases[c].w, lens,
                                                    cases[c].n, cand, &sure,
                                                    &maybe),
                         SIFT_OK);
        if (c < 4)
            assert_int_equal(roaring_bitmap_get_cardinality(sure),
                             cases[c].want_sure);
        assert_true(roaring_bitmap_get_cardinality(maybe) <=
                    cases[c].max_maybe);
        for (uint32_t d = 0; d < N; d++) {
            struct toklist tl;
            tl.n = 0;
            sift_tokenize(msgs[d], strlen(msgs[d]), collect, &tl);
            int h = holds(&tl, wv, lens, cases[c].n);
            if (roaring_bitmap_contains(sure, d))
                assert_true(h);
            else if (h)
                assert_true(roaring_bitmap_contains(maybe, d));
        }
        roaring_bitmap_free(sure);
        roaring_bitmap_free(maybe);
    }
    assert_true(n_pr1 > 30 && n_size > 150 && n_id == 1);
    roaring_bitmap_free(cand);
    sift_segment_unref(seg);
}

/* Offset and length of the section of kind k in a segment image. */
static void
find_section(const struct sift_buf *img, uint32_t k, uint64_t *off,
             uint64_t *len)
{
    const uint8_t *im = (const uint8_t *)img->data;
    uint64_t tab = sift_load_u64(im + img->len - 32);
    uint32_t ns = sift_load_u32(im + img->len - 32 + 8);
    *off = *len = 0;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = im + tab + (size_t)i * 32;
        if (sift_load_u32(e) == k) {
            *off = sift_load_u64(e + 8);
            *len = sift_load_u64(e + 16);
        }
    }
    assert_true(*len > 8);
}

static void
test_phrase_damaged_shapes(void **state)
{
    (void)state;
    enum { N = 300 };
    static const char *const msgs[] = {
        "Received block blk_-1608999687919862906 of size 91178 from "
        "/10.250.10.6",
        "PacketResponder 1 for block blk_38865049064139660 terminating",
        "session opened for user root by (uid=0)",
        "Verification succeeded for blk_-4980916519894289629",
    };
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    struct sift_segment_builder *b;
    assert_int_equal(sift_segment_builder_new(&opts, &b), SIFT_OK);
    char buf[160];
    for (uint32_t i = 0; i < N; i++) {
        /* vary the slot values so the slot columns are not constant */
        snprintf(buf, sizeof(buf), "%s %u", msgs[i % 4], i * 7919u);
        struct sift_event ev;
        memset(&ev, 0, sizeof(ev));
        ev.ts_ns = (int64_t)i * 1000;
        ev.msg = buf;
        ev.msg_len = (uint32_t)strlen(buf);
        assert_int_equal(sift_segment_builder_add(b, &ev), SIFT_OK);
    }
    struct sift_buf img = SIFT_BUF_INIT;
    assert_int_equal(sift_segment_builder_finish(b, &img), SIFT_OK);
    sift_segment_builder_free(b);
    const char *toks[] = {"received", "block"};
    const size_t lens[] = {8, 5};
    /* a phrase over a slot value: the slot index is read */
    const char *stoks[] = {"packetresponder", "1"};
    const size_t slens[] = {15, 1};
    roaring_bitmap_t *cand = roaring_bitmap_from_range(0, N, 1);
    static const uint32_t kinds[] = {SIFT_SEGSEC_SHAPES, SIFT_SEGSEC_SHAPEDOCS,
                                     SIFT_SEGSEC_SLOTIDX};
    for (size_t ki = 0; ki < 3; ki++) {
        const char *const *qt = ki == 2 ? stoks : toks;
        const size_t *ql = ki == 2 ? slens : lens;
        uint64_t off, len;
        find_section(&img, kinds[ki], &off, &len);
        unsigned corrupt = 0, ok = 0;
        for (uint64_t k = 0; k < len; k++) {
            uint8_t *copy = sift_xmalloc(img.len);
            memcpy(copy, img.data, img.len);
            copy[off + k] ^= 0xff;
            sift__segment_reseal(copy, img.len);
            struct sift_segment *x = NULL;
            int rc = sift_segment_open_mem(copy, img.len, &x);
            if (rc != SIFT_OK) {
                assert_int_equal(rc, SIFT_ECORRUPT);
                corrupt++;
                continue;
            }
            roaring_bitmap_t *sure = NULL, *maybe = NULL;
            rc = sift_segment_phrase_shapes(x, qt, ql, 2, cand, &sure, &maybe);
            if (k < 4) /* the raw length: the frame cannot match it */
                assert_int_equal(rc, SIFT_ECORRUPT);
            if (rc == SIFT_OK) {
                /* a flip inside a piece may change the shapes' text: the
                 * split is still two disjoint subsets of cand */
                assert_true(roaring_bitmap_is_subset(sure, cand));
                assert_true(roaring_bitmap_is_subset(maybe, cand));
                assert_false(roaring_bitmap_intersect(sure, maybe));
                roaring_bitmap_free(sure);
                roaring_bitmap_free(maybe);
                ok++;
            } else {
                assert_int_equal(rc, SIFT_ECORRUPT);
                assert_null(sure);
                assert_null(maybe);
                corrupt++;
            }
            sift_segment_unref(x);
        }
        /* most flips hit compressed bytes the decoder must refuse */
        assert_true(corrupt > len / 2);
        (void)ok;
    }
    /* A doc id past the segment is refused, not read. */
    struct sift_segment *seg = NULL;
    size_t l = img.len;
    void *p = sift_buf_detach(&img, &l);
    assert_int_equal(sift_segment_open_mem(p, l, &seg), SIFT_OK);
    roaring_bitmap_add(cand, N + 5);
    roaring_bitmap_t *sure = NULL, *maybe = NULL;
    assert_int_equal(
        sift_segment_phrase_shapes(seg, toks, lens, 2, cand, &sure, &maybe),
        SIFT_EINVAL);
    assert_null(sure);
    assert_null(maybe);
    /* ... and a single word is not a phrase. */
    assert_int_equal(
        sift_segment_phrase_shapes(seg, toks, lens, 1, cand, &sure, &maybe),
        SIFT_EINVAL);
    sift_segment_unref(seg);
    roaring_bitmap_free(cand);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phrase_shape_rules),
        cmocka_unit_test(test_phrase_segment_differential),
        cmocka_unit_test(test_phrase_slot_index),
        cmocka_unit_test(test_phrase_damaged_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
