/*
 * segment_stat.c - where the bytes of segment files go.
 *
 * Usage: segment_stat [-v] FILE.seg... (or a directory: every *.seg under
 * it, tiers included) [-r RAW_BYTES]
 *
 * Reads the section tables (store/segment_fmt.h) of the files and prints,
 * summed over them, the bytes per section kind and per (kind, field), in
 * bytes, percent of the files and bytes per doc (and percent of RAW_BYTES
 * when given: the size of the data the files came from).  Then it looks
 * inside the two largest kinds of section:
 *   - DOCS: every block decompressed, its five streams measured raw and
 *     compressed alone at the block's level guess (zstd 3), slot columns
 *     by mode, field values by doc store key;
 *   - TERMS: per field, terms by class (digit runs, words, mixed), their
 *     raw term bytes and postings entry bytes by tag, bitmap bytes.
 * Compressed-alone figures say which part would shrink if encoded
 * differently; they do not add up to the section exactly.
 *
 * Not part of ctest; a measuring tool for docs/benchmarks.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "../src/store/segment_fmt.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/postings.h"

#define MAX_FIELDS 4096
#define MAX_KEYS 4096

static const char *kind_names[] = {
    "?",     "FIELDS",  "TS",      "TERMS",  "KWCOL",     "NUMCOL", "DOCS",
    "ZDICT", "DELETED", "DOCKEYS", "SHAPES", "SHAPEDOCS", "ORIGIN", "SLOTIDX",
    "?14",   "?15",     "?16",     "?17",    "?18",       "?19",    "?20"};

static const char *
kind_name(uint32_t k)
{
    return k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

struct agg {
    uint32_t kind;
    char field[256];
    uint64_t bytes;
    uint64_t count;
};

static struct agg aggs[8192];
static size_t n_aggs;
static uint64_t total_bytes, total_docs, n_files;
static int verbose;

/* DOCS detail */
static uint64_t d_raw[5], d_comp[5], d_blocks, d_comp_total;
static uint64_t slot_mode_raw[4], slot_mode_cols[4], slot_mode_vals[4];
static uint64_t slot_mode_comp[4];
static char key_names[MAX_KEYS][192];
static uint32_t n_key_names;
static uint64_t key_raw[MAX_KEYS], key_vals[MAX_KEYS], key_omit[MAX_KEYS];
static uint64_t key_comp[MAX_KEYS];

/* TERMS detail, per (field, class) */
enum { C_DIGITS, C_WORD, C_MIXED, C_N };
static const char *class_names[] = {"digits", "word", "mixed"};
struct tstat {
    char field[256];
    uint64_t terms[C_N], term_raw[C_N], entry_raw[C_N];
    uint64_t tags[C_N][4], postings[C_N][4], bitmap[C_N];
    uint64_t singles[C_N];
    uint64_t comp_terms[C_N], comp_entries[C_N];
    uint64_t section;
};
static struct tstat tstats[256];
static size_t n_tstats;

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static int
varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    return sift_get_varint(p, end, v);
}

static struct agg *
agg_get(uint32_t kind, const char *field)
{
    for (size_t i = 0; i < n_aggs; i++)
        if (aggs[i].kind == kind && strcmp(aggs[i].field, field) == 0)
            return &aggs[i];
    if (n_aggs == sizeof(aggs) / sizeof(aggs[0]))
        return &aggs[n_aggs - 1];
    struct agg *a = &aggs[n_aggs++];
    a->kind = kind;
    snprintf(a->field, sizeof(a->field), "%s", field);
    return a;
}

static struct tstat *
tstat_get(const char *field)
{
    for (size_t i = 0; i < n_tstats; i++)
        if (strcmp(tstats[i].field, field) == 0)
            return &tstats[i];
    if (n_tstats == sizeof(tstats) / sizeof(tstats[0]))
        return &tstats[n_tstats - 1];
    struct tstat *t = &tstats[n_tstats++];
    snprintf(t->field, sizeof(t->field), "%s", field);
    return t;
}

static size_t
zsize(const void *p, size_t len, int level)
{
    if (len == 0)
        return 0;
    size_t cap = ZSTD_compressBound(len);
    void *out = malloc(cap);
    size_t r = ZSTD_compress(out, cap, p, len, level);
    free(out);
    return ZSTD_isError(r) ? len : r;
}

static uint8_t *
unzstd(const uint8_t *p, size_t len, size_t raw_len, const ZSTD_DDict *dd,
       ZSTD_DCtx *dctx)
{
    uint8_t *out = malloc(raw_len ? raw_len : 1);
    size_t r = dd ? ZSTD_decompress_usingDDict(dctx, out, raw_len, p, len, dd)
                  : ZSTD_decompressDCtx(dctx, out, raw_len, p, len);
    if (ZSTD_isError(r) || r != raw_len) {
        free(out);
        return NULL;
    }
    return out;
}

/* ---- TERMS ---- */

static int
term_class(const uint8_t *t, size_t len)
{
    int d = 0, a = 0;
    for (size_t i = 0; i < len; i++) {
        if (t[i] >= '0' && t[i] <= '9')
            d = 1;
        else
            a = 1;
    }
    return d && !a ? C_DIGITS : d ? C_MIXED : C_WORD;
}

static void
terms_detail(const char *field, const uint8_t *p, size_t len, ZSTD_DCtx *dctx)
{
    struct tstat *ts = tstat_get(field);
    ts->section += len;
    if (len < 16)
        return;
    uint32_t nt = rd32(p), k = rd32(p + 4), ci = rd32(p + 8);
    (void)nt;
    if (ci + 20ull * k > len)
        return;
    struct sift_buf tb[C_N], eb[C_N];
    for (int c = 0; c < C_N; c++) {
        sift_buf_init(&tb[c]);
        sift_buf_init(&eb[c]);
    }
    uint8_t term[4096 + 64];
    for (uint32_t i = 0; i < k; i++) {
        const uint8_t *e = p + ci + 20ull * i;
        uint32_t foff = rd32(e + 8), clen = rd32(e + 12), rlen = rd32(e + 16);
        if ((uint64_t)foff + clen > len)
            continue;
        uint8_t *raw = unzstd(p + foff, clen, rlen, NULL, dctx);
        if (raw == NULL)
            continue;
        const uint8_t *q = raw, *end = raw + rlen;
        size_t tl = 0;
        while (q < end) {
            const uint8_t *t0 = q;
            uint64_t shared, suf;
            if (varint(&q, end, &shared) || varint(&q, end, &suf) ||
                suf > (uint64_t)(end - q) || shared > tl ||
                shared + suf > sizeof(term))
                break;
            memcpy(term + shared, q, suf);
            tl = shared + suf;
            q += suf;
            const uint8_t *e0 = q;
            struct sift_postings_entry pe;
            if (sift_postings_entry_read(&q, end, &pe) != SIFT_OK)
                break;
            int c = term_class(term, tl);
            ts->terms[c]++;
            ts->term_raw[c] += (uint64_t)(e0 - t0);
            ts->entry_raw[c] += (uint64_t)(q - e0);
            unsigned tag = (unsigned)(pe.tag & 3);
            ts->tags[c][tag]++;
            sift_buf_append(&tb[c], t0, (size_t)(e0 - t0));
            sift_buf_append(&eb[c], e0, (size_t)(q - e0));
            if (tag == SIFT_POSTINGS_ONE) {
                ts->postings[c][tag]++;
                ts->singles[c]++;
            } else if (tag == SIFT_POSTINGS_LIST) {
                ts->postings[c][tag] += 1 + pe.tag2;
            } else if (tag == SIFT_POSTINGS_BITMAP) {
                ts->bitmap[c] += pe.tag2;
            }
        }
        free(raw);
    }
    for (int c = 0; c < C_N; c++) {
        ts->comp_terms[c] += zsize(tb[c].data, tb[c].len, 3);
        ts->comp_entries[c] += zsize(eb[c].data, eb[c].len, 3);
        sift_buf_cleanup(&tb[c]);
        sift_buf_cleanup(&eb[c]);
    }
}

/* ---- DOCS ---- */

struct shapes {
    uint32_t n;
    uint32_t *k; /* slot count per shape */
    uint32_t *shape_of;
    uint32_t n_docs;
};

static int
load_shapes(const uint8_t *sh, size_t sh_len, const uint8_t *sd, size_t sd_len,
            uint32_t n_docs, struct shapes *out, ZSTD_DCtx *dctx)
{
    memset(out, 0, sizeof(*out));
    if (sh_len < 8 || sd_len < 8)
        return -1;
    uint32_t R = rd32(sh), S = rd32(sh + 4);
    uint8_t *raw = unzstd(sh + 8, sh_len - 8, R, NULL, dctx);
    if (!raw)
        return -1;
    out->n = S;
    out->k = calloc(S + 1, sizeof(uint32_t));
    const uint8_t *q = raw, *end = raw + R;
    for (uint32_t s = 0; s < S; s++) {
        uint64_t k, l;
        if (varint(&q, end, &k))
            break;
        out->k[s] = (uint32_t)k;
        for (uint64_t j = 0; j <= k; j++) {
            if (varint(&q, end, &l) || l > (uint64_t)(end - q))
                break;
            q += l;
        }
    }
    free(raw);
    uint32_t R2 = rd32(sd);
    raw = unzstd(sd + 8, sd_len - 8, R2, NULL, dctx);
    if (!raw)
        return -1;
    out->shape_of = calloc(n_docs + 1, sizeof(uint32_t));
    out->n_docs = n_docs;
    q = raw;
    end = raw + R2;
    for (uint32_t s = 0; s < S && q < end; s++) {
        uint64_t c, d, id;
        if (varint(&q, end, &c) || varint(&q, end, &id))
            break;
        if (id < n_docs)
            out->shape_of[id] = s;
        for (uint64_t j = 1; j < c; j++) {
            if (varint(&q, end, &d))
                break;
            id += d;
            if (id < n_docs)
                out->shape_of[id] = s;
        }
    }
    free(raw);
    return 0;
}

static void
docs_detail(const uint8_t *p, size_t len, const struct shapes *sh,
            const ZSTD_DDict *dd, ZSTD_DCtx *dctx, uint32_t n_keys,
            uint32_t key_base[])
{
    if (len < 8)
        return;
    uint32_t k = rd32(p);
    struct sift_buf st[4], col, keyb[64];
    for (int i = 0; i < 4; i++)
        sift_buf_init(&st[i]);
    sift_buf_init(&col);
    for (int i = 0; i < 64; i++)
        sift_buf_init(&keyb[i]);
    for (uint32_t b = 0; b < k; b++) {
        const uint8_t *e = p + 8 + 24ull * b;
        if (8 + 24ull * (b + 1) > len)
            break;
        uint32_t first = rd32(e), cnt = rd32(e + 4), clen = rd32(e + 8),
                 rlen = rd32(e + 12);
        uint64_t off = rd64(e + 16);
        if (off + clen > len)
            continue;
        d_comp_total += clen;
        uint8_t *raw = unzstd(p + off, clen, rlen, dd, dctx);
        if (!raw)
            continue;
        d_blocks++;
        const uint8_t *q = raw, *end = raw + rlen;
        uint64_t nfv = 0, nslot = 0;
        uint32_t *dshape = malloc((cnt + 1) * sizeof(uint32_t));
        const uint8_t *s1 = q;
        for (uint32_t i = 0; i < cnt; i++) {
            uint64_t tid, nf;
            varint(&q, end, &tid);
            varint(&q, end, &nf);
            nfv += nf;
            uint32_t g = first + i < sh->n_docs ? sh->shape_of[first + i] : 0;
            dshape[i] = g;
            nslot += sh->k[g];
        }
        d_raw[0] += (uint64_t)(q - s1);
        sift_buf_append(&st[0], s1, (size_t)(q - s1));
        const uint8_t *s2 = q;
        uint32_t *fkey = malloc((nfv + 1) * sizeof(uint32_t));
        for (uint64_t j = 0; j < nfv; j++) {
            uint64_t kk;
            varint(&q, end, &kk);
            fkey[j] = (uint32_t)kk;
        }
        d_raw[1] += (uint64_t)(q - s2);
        sift_buf_append(&st[1], s2, (size_t)(q - s2));
        /* stream 3: shapes ascending, docs in order within */
        const uint8_t *s3 = q;
        uint32_t *order = malloc((cnt + 1) * sizeof(uint32_t));
        uint32_t no = 0;
        /* counting sort by shape (stable) */
        {
            uint32_t maxg = 0;
            for (uint32_t i = 0; i < cnt; i++)
                if (dshape[i] > maxg)
                    maxg = dshape[i];
            uint32_t *at = calloc((size_t)maxg + 2, sizeof(uint32_t));
            for (uint32_t i = 0; i < cnt; i++)
                at[dshape[i] + 1]++;
            for (uint32_t g = 1; g <= maxg + 1; g++)
                at[g] += at[g - 1];
            for (uint32_t i = 0; i < cnt; i++)
                order[at[dshape[i]]++] = i;
            no = cnt;
            free(at);
        }
        for (uint32_t r = 0; r < no;) {
            uint32_t g = dshape[order[r]], re = r;
            while (re < no && dshape[order[re]] == g)
                re++;
            for (uint32_t s = 0; s < sh->k[g]; s++) {
                const uint8_t *c0 = q;
                unsigned mode = *q++;
                uint64_t width = 0;
                if (mode == 3)
                    width = *q++;
                if (mode == 2)
                    varint(&q, end, &width);
                for (uint32_t x = r; x < re; x++) {
                    uint64_t l;
                    if (mode == 3) {
                        q += width;
                    } else if (mode != 0) {
                        varint(&q, end, &l);
                    } else {
                        varint(&q, end, &l);
                        q += l;
                    }
                }
                if (mode < 4) {
                    slot_mode_raw[mode] += (uint64_t)(q - c0);
                    slot_mode_cols[mode]++;
                    slot_mode_vals[mode] += re - r;
                    sift_buf_reset(&col);
                    sift_buf_append(&col, c0, (size_t)(q - c0));
                    slot_mode_comp[mode] += zsize(col.data, col.len, 3);
                }
            }
            r = re;
        }
        d_raw[2] += (uint64_t)(q - s3);
        sift_buf_append(&st[2], s3, (size_t)(q - s3));
        const uint8_t *s4 = q;
        /* stream 4: by key ascending (stable) */
        for (uint32_t key = 0; key < n_keys; key++) {
            const uint8_t *k0 = q;
            for (uint64_t j = 0; j < nfv; j++) {
                if (fkey[j] != key)
                    continue;
                uint64_t v;
                varint(&q, end, &v);
                key_vals[key_base[key]]++;
                if (v == 0)
                    key_omit[key_base[key]]++;
                else
                    q += v - 1;
            }
            key_raw[key_base[key]] += (uint64_t)(q - k0);
            if (key_base[key] < 64)
                sift_buf_append(&keyb[key_base[key]], k0, (size_t)(q - k0));
        }
        d_raw[3] += (uint64_t)(q - s4);
        sift_buf_append(&st[3], s4, (size_t)(q - s4));
        free(order);
        free(fkey);
        free(dshape);
        free(raw);
        /* compress streams alone per ~block to keep it comparable */
        if (st[0].len + st[1].len + st[2].len + st[3].len > (1u << 20) ||
            b + 1 == k) {
            for (int i = 0; i < 4; i++) {
                d_comp[i] += zsize(st[i].data, st[i].len, 3);
                sift_buf_reset(&st[i]);
            }
            for (int i = 0; i < 64; i++) {
                key_comp[i] += zsize(keyb[i].data, keyb[i].len, 3);
                sift_buf_reset(&keyb[i]);
            }
        }
    }
    for (int i = 0; i < 4; i++)
        sift_buf_cleanup(&st[i]);
    for (int i = 0; i < 64; i++)
        sift_buf_cleanup(&keyb[i]);
    sift_buf_cleanup(&col);
}

static uint32_t
key_index(const char *name, uint8_t type)
{
    char full[160];
    snprintf(full, sizeof(full), "%s/%u", name, type);
    for (uint32_t i = 0; i < n_key_names; i++)
        if (strcmp(key_names[i], full) == 0)
            return i;
    if (n_key_names == MAX_KEYS)
        return MAX_KEYS - 1;
    snprintf(key_names[n_key_names], sizeof(key_names[0]), "%s", full);
    return n_key_names++;
}

static void
stat_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return;
    }
    struct stat st;
    fstat(fd, &st);
    size_t len = (size_t)st.st_size;
    uint8_t *img = malloc(len ? len : 1);
    size_t got = 0;
    while (got < len) {
        ssize_t r = read(fd, img + got, len - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != len || len < SIFT_SEGFMT_HEADER_LEN + SIFT_SEGFMT_TRAILER_LEN ||
        memcmp(img, SIFT_SEGFMT_MAGIC, 8) != 0) {
        fprintf(stderr, "%s: not a segment\n", path);
        free(img);
        return;
    }
    n_files++;
    total_bytes += len;
    uint32_t n_docs = rd32(img + 12), n_fields = rd32(img + 36);
    total_docs += n_docs;
    const uint8_t *tr = img + len - SIFT_SEGFMT_TRAILER_LEN;
    uint64_t sto = rd64(tr);
    uint32_t ns = rd32(tr + 8);
    if (sto + (uint64_t)ns * SIFT_SEGFMT_SECENT_LEN > len) {
        free(img);
        return;
    }
    /* field names from FIELDS */
    static char fnames[MAX_FIELDS][256];
    const uint8_t *sec_fields = NULL, *sec_dockeys = NULL, *sec_docs = NULL,
                  *sec_shapes = NULL, *sec_sdocs = NULL, *sec_zdict = NULL;
    size_t l_fields = 0, l_dockeys = 0, l_docs = 0, l_shapes = 0, l_sdocs = 0,
           l_zdict = 0;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = img + sto + 32ull * i;
        uint32_t kind = rd32(e);
        uint64_t off = rd64(e + 8), sl = rd64(e + 16);
        const uint8_t *sp = img + off;
        switch (kind) {
        case SIFT_SEGSEC_FIELDS:
            sec_fields = sp;
            l_fields = sl;
            break;
        case SIFT_SEGSEC_DOCKEYS:
            sec_dockeys = sp;
            l_dockeys = sl;
            break;
        case SIFT_SEGSEC_DOCS:
            sec_docs = sp;
            l_docs = sl;
            break;
        case SIFT_SEGSEC_SHAPES:
            sec_shapes = sp;
            l_shapes = sl;
            break;
        case SIFT_SEGSEC_SHAPEDOCS:
            sec_sdocs = sp;
            l_sdocs = sl;
            break;
        case SIFT_SEGSEC_ZDICT:
            sec_zdict = sp;
            l_zdict = sl;
            break;
        default: break;
        }
    }
    uint32_t nf = 0;
    if (sec_fields) {
        const uint8_t *q = sec_fields, *end = sec_fields + l_fields;
        for (; nf < n_fields && nf < MAX_FIELDS; nf++) {
            uint64_t nl, nt;
            if (varint(&q, end, &nl) || nl > (uint64_t)(end - q) || nl > 255)
                break;
            memcpy(fnames[nf], q, nl);
            fnames[nf][nl] = 0;
            q += nl;
            q++; /* flags */
            if (varint(&q, end, &nt))
                break;
        }
    }
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    uint64_t accounted = SIFT_SEGFMT_HEADER_LEN + SIFT_SEGFMT_TRAILER_LEN +
                         (uint64_t)ns * SIFT_SEGFMT_SECENT_LEN;
    agg_get(0, "(header, table, trailer, padding)")->count++;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = img + sto + 32ull * i;
        uint32_t kind = rd32(e), field = rd32(e + 4);
        uint64_t off = rd64(e + 8), sl = rd64(e + 16);
        const char *fname = field == UINT32_MAX ? ""
                            : field < nf        ? fnames[field]
                                                : "?";
        struct agg *a = agg_get(kind, fname);
        a->bytes += sl;
        a->count++;
        accounted += sl;
        if (kind == SIFT_SEGSEC_TERMS)
            terms_detail(fname, img + off, sl, dctx);
    }
    agg_get(0, "(header, table, trailer, padding)")->bytes += len - accounted;
    /* DOCS */
    if (sec_docs && sec_shapes && sec_sdocs && sec_dockeys &&
        rd32(img + 8) >= 4) {
        struct shapes sh;
        uint32_t key_base[MAX_KEYS];
        uint32_t n_keys = 0;
        const uint8_t *q = sec_dockeys, *end = sec_dockeys + l_dockeys;
        uint64_t nk;
        if (!varint(&q, end, &nk)) {
            for (; n_keys < nk && n_keys < MAX_KEYS; n_keys++) {
                uint64_t nl;
                char nm[128];
                if (varint(&q, end, &nl) || nl > (uint64_t)(end - q))
                    break;
                size_t cl = nl < sizeof(nm) - 1 ? nl : sizeof(nm) - 1;
                memcpy(nm, q, cl);
                nm[cl] = 0;
                q += nl;
                uint8_t type = *q++;
                key_base[n_keys] = key_index(nm, type);
            }
        }
        ZSTD_DDict *dd =
            sec_zdict ? ZSTD_createDDict(sec_zdict, l_zdict) : NULL;
        if (load_shapes(sec_shapes, l_shapes, sec_sdocs, l_sdocs, n_docs, &sh,
                        dctx) == 0)
            docs_detail(sec_docs, l_docs, &sh, dd, dctx, n_keys, key_base);
        free(sh.k);
        free(sh.shape_of);
        if (dd)
            ZSTD_freeDDict(dd);
    }
    ZSTD_freeDCtx(dctx);
    free(img);
}

static void
walk(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        stat_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char sub[4096];
        snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
        size_t nl = strlen(de->d_name);
        struct stat s2;
        if (stat(sub, &s2) != 0)
            continue;
        if (S_ISDIR(s2.st_mode))
            walk(sub);
        else if (nl > 4 && strcmp(de->d_name + nl - 4, ".seg") == 0)
            stat_file(sub);
    }
    closedir(d);
}

static int
cmp_agg(const void *a, const void *b)
{
    const struct agg *x = a, *y = b;
    return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

static void
pct_line(const char *what, uint64_t bytes, double raw)
{
    printf("  %-44s %12llu  %6.2f%%  %7.2f B/doc", what,
           (unsigned long long)bytes,
           total_bytes ? 100.0 * (double)bytes / (double)total_bytes : 0.0,
           total_docs ? (double)bytes / (double)total_docs : 0.0);
    if (raw > 0)
        printf("  %6.3f%% of raw", 100.0 * (double)bytes / raw);
    printf("\n");
}

int
main(int argc, char **argv)
{
    double raw = 0;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            raw = strtod(argv[++i], NULL);
        else
            walk(argv[i]);
    }
    if (n_files == 0) {
        fprintf(stderr,
                "usage: segment_stat [-v] [-r RAW_BYTES] FILE.seg|DIR...\n");
        return 2;
    }
    printf("%llu files, %llu docs, %llu bytes (%.2f B/doc)\n",
           (unsigned long long)n_files, (unsigned long long)total_docs,
           (unsigned long long)total_bytes,
           total_docs ? (double)total_bytes / (double)total_docs : 0.0);
    /* by kind */
    printf("\nby section kind:\n");
    for (uint32_t k = 0; k <= 20; k++) {
        uint64_t b = 0;
        int any = 0;
        for (size_t j = 0; j < n_aggs; j++)
            if (aggs[j].kind == k) {
                b += aggs[j].bytes;
                any = 1;
            }
        if (any)
            pct_line(k == 0 ? "(header, table, trailer, padding)"
                            : kind_name(k),
                     b, raw);
    }
    qsort(aggs, n_aggs, sizeof(aggs[0]), cmp_agg);
    printf("\nby section and field (largest first):\n");
    for (size_t j = 0; j < n_aggs; j++) {
        if (!verbose && j >= 40)
            break;
        char what[300];
        snprintf(what, sizeof(what), "%s %s", kind_name(aggs[j].kind),
                 aggs[j].field);
        pct_line(what, aggs[j].bytes, raw);
    }
    if (d_blocks) {
        printf("\nDOCS: %llu blocks, %llu compressed bytes\n",
               (unsigned long long)d_blocks, (unsigned long long)d_comp_total);
        const char *sn[] = {"1 template id + field count", "2 field keys",
                            "3 slot values", "4 field values"};
        for (int s = 0; s < 4; s++)
            printf("  stream %-28s raw %12llu  alone zstd3 %12llu  %6.2f "
                   "B/doc\n",
                   sn[s], (unsigned long long)d_raw[s],
                   (unsigned long long)d_comp[s],
                   (double)d_comp[s] / (double)total_docs);
        const char *mn[] = {"text", "delta", "delta fixed width",
                            "fixed bytes"};
        for (int m = 0; m < 4; m++)
            if (slot_mode_cols[m])
                printf("  slot mode %d %-18s columns %9llu values %11llu raw "
                       "%11llu alone %11llu (%.2f B/doc)\n",
                       m, mn[m], (unsigned long long)slot_mode_cols[m],
                       (unsigned long long)slot_mode_vals[m],
                       (unsigned long long)slot_mode_raw[m],
                       (unsigned long long)slot_mode_comp[m],
                       (double)slot_mode_comp[m] / (double)total_docs);
        printf("  field values by doc store key (name/type): values, "
               "omitted (= its column), raw, alone zstd3\n");
        for (uint32_t kk = 0; kk < n_key_names; kk++)
            printf("    %-40s %10llu %10llu %12llu %10llu (%.2f B/doc)\n",
                   key_names[kk], (unsigned long long)key_vals[kk],
                   (unsigned long long)key_omit[kk],
                   (unsigned long long)key_raw[kk],
                   (unsigned long long)(kk < 64 ? key_comp[kk] : 0),
                   kk < 64 ? (double)key_comp[kk] / (double)total_docs : 0.0);
    }
    for (size_t j = 0; j < n_tstats; j++) {
        struct tstat *t = &tstats[j];
        printf("\nTERMS %s: %llu bytes (%.2f B/doc)\n", t->field,
               (unsigned long long)t->section,
               (double)t->section / (double)total_docs);
        for (int c = 0; c < C_N; c++) {
            if (!t->terms[c])
                continue;
            printf("  %-7s terms %10llu (once %10llu) term bytes raw %10llu "
                   "alone %9llu | entries raw %10llu alone %9llu | tags "
                   "one %llu list %llu bitmap %llu shapes %llu | bitmap "
                   "bytes %llu | postings in lists %llu\n",
                   class_names[c], (unsigned long long)t->terms[c],
                   (unsigned long long)t->singles[c],
                   (unsigned long long)t->term_raw[c],
                   (unsigned long long)t->comp_terms[c],
                   (unsigned long long)t->entry_raw[c],
                   (unsigned long long)t->comp_entries[c],
                   (unsigned long long)t->tags[c][0],
                   (unsigned long long)t->tags[c][1],
                   (unsigned long long)t->tags[c][2],
                   (unsigned long long)t->tags[c][3],
                   (unsigned long long)t->bitmap[c],
                   (unsigned long long)t->postings[c][1]);
        }
    }
    return 0;
}
