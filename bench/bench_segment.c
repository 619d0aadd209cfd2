/*
 * bench_segment.c - segment build throughput and size on loghub lines.
 *
 * Reads the ten loghub-2k systems (tests/data/loghub-2k/<Sys>/<Sys>_2k
 * .log and the structured CSV next to it), replays their lines to N events
 * (-n, default 1,000,000), builds segments of -s docs (default 250,000),
 * writes each image to a temp dir and reports events/s and MB/s (wall and
 * CPU), bytes on disk / raw bytes (index included) per section kind, build
 * and flush time and peak RSS.  Each event carries the line as message,
 * two keyword fields (host.name, service) and the loghub template id.
 *
 * Replay (default, "structured"; the exact rules are in
 * docs/internals/segment.md "Benchmark data"):
 *   - Each system keeps its 2,000 lines in their original order; every
 *     event picks a system uniformly at random and takes that system's
 *     next line, so the ten streams interleave.  Pass p = how many times
 *     the system's lines have been replayed (0 = the original text).
 *   - The line header (the bytes before the CSV's Content column: dates,
 *     times, pids, node names) is kept as it is.
 *   - In the content, a digit run of 6+ digits, or any digit in a token
 *     that mixes digits and letters with 8+ characters (block ids, request
 *     ids, hashes), is an identifier: in pass p > 0 its digits are
 *     replaced by a hash of (original token, p), so every pass brings
 *     fresh ids that recur on the same lines as the originals did.
 *   - Other digit runs (IP octets, ports, counters, sizes, durations) are
 *     drawn from a bounded pool: per event a variant k ~ Zipf(s = 1.1)
 *     over 0..255 is drawn; k = 0 keeps the line's numbers, k > 0 replaces
 *     each short run by a hash of (run, k) of the same length.
 *   - Timestamps advance by exponential gaps with a mean of 1 ms, at
 *     millisecond precision (as parsed from text logs).
 *   - host.name: "<system>-NN", NN ~ Zipf(1.1) over 16 hosts per system;
 *     service: the system name; template id: system * 1000 + EventId.
 * -u: the earlier uniform replay (lines in file order, the last digit of
 *     every second digit run set to a uniformly random digit with p 1/4,
 *     ns timestamps with uniform 0..2 ms gaps, host uniform over 40, no
 *     template id), kept to compare with the earlier numbers.
 *
 * -c DIR instead writes a fuzz seed corpus (small valid images built from
 * loghub lines, some truncated) for fuzz_segment_decode into DIR.
 *
 * One thread; not part of ctest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../src/store/segment_fmt.h"
#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/segment.h"

#define DATA_DIR SIFT_SOURCE_DIR "/tests/data/loghub-2k"
#define N_SYS 10
#define ZIPF_N 256
#define HOSTS 16

static const char *systems[N_SYS] = {
    "Apache", "BGL",     "HDFS",      "HPC",   "Hadoop",
    "Linux",  "OpenSSH", "OpenStack", "Spark", "Zookeeper"};

struct line {
    char *s;
    uint32_t len;
    uint32_t sys;
    uint32_t hdr;      /* bytes before the content */
    uint32_t event_id; /* loghub EventId number (E12 -> 12), 0 unknown */
};

static struct line *lines;
static size_t n_lines, cap_lines;
static size_t sys_first[N_SYS], sys_count[N_SYS];

/* Reads one CSV record's fields (RFC 4180 quoting) from *p; returns the
 * field count (<= max), fields unquoted into out[i] (heap). */
static int
csv_record(const char **p, const char *end, char **out, int max)
{
    int n = 0;
    const char *s = *p;
    if (s >= end)
        return 0;
    for (;;) {
        struct sift_buf f = SIFT_BUF_INIT;
        if (s < end && *s == '"') {
            s++;
            while (s < end) {
                if (*s == '"' && s + 1 < end && s[1] == '"') {
                    sift_buf_putc(&f, '"');
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    sift_buf_putc(&f, *s++);
                }
            }
        }
        while (s < end && *s != ',' && *s != '\n' && *s != '\r')
            sift_buf_putc(&f, *s++);
        sift_buf_putc(&f, '\0');
        if (n < max)
            out[n++] = f.data;
        else
            sift_buf_cleanup(&f);
        if (s < end && *s == ',') {
            s++;
            continue;
        }
        while (s < end && (*s == '\r' || *s == '\n'))
            s++;
        break;
    }
    *p = s;
    return n;
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "bench_segment: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    struct sift_buf b = SIFT_BUF_INIT;
    char tmp[65536];
    size_t r;
    while ((r = fread(tmp, 1, sizeof(tmp), f)) > 0)
        sift_buf_append(&b, tmp, r);
    fclose(f);
    *len = b.len;
    sift_buf_putc(&b, '\0');
    return b.data;
}

static size_t
rtrim_len(const char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n;
}

static void
load(void)
{
    for (uint32_t i = 0; i < N_SYS; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s/%s_2k.log", DATA_DIR, systems[i],
                 systems[i]);
        size_t len;
        char *text = slurp(path, &len);
        snprintf(path, sizeof(path), "%s/%s/%s_2k.log_structured_corrected.csv",
                 DATA_DIR, systems[i], systems[i]);
        size_t clen;
        char *csv = slurp(path, &clen);
        const char *cp = csv, *cend = csv + clen;
        char *hdr[32];
        int nh = csv_record(&cp, cend, hdr, 32);
        int c_content = -1, c_event = -1;
        for (int k = 0; k < nh; k++) {
            if (strcmp(hdr[k], "Content") == 0)
                c_content = k;
            if (strcmp(hdr[k], "EventId") == 0)
                c_event = k;
            free(hdr[k]);
        }
        sys_first[i] = n_lines;
        char *p = text, *end = text + len;
        while (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            char *next = nl ? nl + 1 : end;
            while (n > 0 && p[n - 1] == '\r')
                n--;
            if (n == 0) {
                p = next;
                continue;
            }
            if (n_lines == cap_lines) {
                cap_lines = cap_lines ? cap_lines * 2 : 4096;
                lines = sift_xrealloc(lines, cap_lines * sizeof(*lines));
            }
            struct line *l = &lines[n_lines++];
            l->s = sift_xstrndup(p, n);
            l->len = (uint32_t)n;
            l->sys = i;
            l->hdr = 0;
            l->event_id = 0;
            char *rec[32];
            int nr = csv_record(&cp, cend, rec, 32);
            if (c_content >= 0 && nr > c_content) {
                size_t tl = rtrim_len(l->s, n);
                size_t cl = rtrim_len(rec[c_content], strlen(rec[c_content]));
                if (cl <= tl && memcmp(l->s + tl - cl, rec[c_content], cl) == 0)
                    l->hdr = (uint32_t)(tl - cl);
            }
            if (c_event >= 0 && nr > c_event && rec[c_event][0] == 'E')
                l->event_id = (uint32_t)strtoul(rec[c_event] + 1, NULL, 10);
            for (int k = 0; k < nr; k++)
                free(rec[k]);
            p = next;
        }
        sys_count[i] = n_lines - sys_first[i];
        free(text);
        free(csv);
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static double
now_s(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static uint64_t
hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = seed * 0x9e3779b97f4a7c15ull + n;
    for (size_t i = 0; i < n; i++)
        h = mix64(h ^ (uint8_t)s[i]);
    return h;
}

/* Zipf(s = 1.1) cumulative weights over 0..ZIPF_N-1 (and over hosts). */
static double zipf_cdf[ZIPF_N], host_cdf[HOSTS];

static void
zipf_init(double *cdf, int n)
{
    double sum = 0;
    for (int k = 0; k < n; k++) {
        sum += 1.0 / pow((double)(k + 1), 1.1);
        cdf[k] = sum;
    }
    for (int k = 0; k < n; k++)
        cdf[k] /= sum;
}

static int
zipf_draw(const double *cdf, int n)
{
    double u = (double)(next_rand() >> 11) / 9007199254740992.0;
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Rewrites the digits of s[0..n) from hash h, keeping the length and a
 * non-zero leading digit. */
static void
rewrite_digits(char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            continue;
        if (i % 16 == 0)
            h = mix64(h + i);
        unsigned d = (unsigned)(h % 10);
        h /= 10;
        if (i == 0 && s[i] != '0' && d == 0)
            d = 1;
        s[i] = (char)('0' + d);
    }
}

/* The structured replay of one line (see the file comment). */
static uint32_t
vary_structured(const struct line *l, uint64_t pass, unsigned k, char *out)
{
    memcpy(out, l->s, l->len);
    if (pass == 0 && k == 0)
        return l->len;
    size_t i = l->hdr;
    while (i < l->len) {
        if (!is_alnum(out[i])) {
            i++;
            continue;
        }
        size_t s = i, digits = 0;
        while (i < l->len && is_alnum(out[i]))
            digits += (size_t)is_digit(out[i++]);
        size_t n = i - s;
        if (digits == 0)
            continue;
        if (digits != n && n >= 8) { /* mixed id: blk ids, hashes, uuids */
            if (pass > 0)
                rewrite_digits(out + s, n, hash_bytes(l->s + s, n, pass));
            continue;
        }
        /* Each digit run of the token on its own. */
        for (size_t j = s; j < i;) {
            if (!is_digit(out[j])) {
                j++;
                continue;
            }
            size_t r = j;
            while (j < i && is_digit(out[j]))
                j++;
            if (j - r >= 6) {
                if (pass > 0)
                    rewrite_digits(out + r, j - r,
                                   hash_bytes(l->s + r, j - r, pass));
            } else if (k > 0) {
                rewrite_digits(out + r, j - r,
                               hash_bytes(l->s + r, j - r, 1000003u + k));
            }
        }
    }
    return l->len;
}

/* The earlier uniform replay: the last digit of some digit runs. */
static uint32_t
vary_uniform(const struct line *l, char *out)
{
    memcpy(out, l->s, l->len);
    uint64_t r = next_rand();
    for (uint32_t i = 1; i < l->len; i++) {
        if (out[i] >= '0' && out[i] <= '9' &&
            (i + 1 == l->len || out[i + 1] < '0' || out[i + 1] > '9') &&
            out[i - 1] >= '0' && out[i - 1] <= '9') {
            if ((r & 3) == 0)
                out[i] = (char)('0' + (r >> 2) % 10);
            r = r >> 5 | r << 59;
        }
    }
    return l->len;
}

struct gen {
    int uniform;
    int64_t ts;
    uint64_t cursor[N_SYS];
    char msg[4096];
    char host[32];
    char tmpl[16];
    struct sift_field f[3];
};

static void
gen_init(struct gen *g, int uniform)
{
    memset(g, 0, sizeof(*g));
    g->uniform = uniform;
    g->ts = 1700000000000000000;
    zipf_init(zipf_cdf, ZIPF_N);
    zipf_init(host_cdf, HOSTS);
}

static void
make_event(struct gen *g, uint64_t i, struct sift_event *ev)
{
    const struct line *l;
    memset(ev, 0, sizeof(*ev));
    ev->msg = g->msg;
    ev->fields = g->f;
    ev->n_fields = 2;
    ev->template_id = SIFT_TEMPLATE_NONE;
    if (g->uniform) {
        l = &lines[i % n_lines];
        ev->msg_len = vary_uniform(l, g->msg);
        g->ts += (int64_t)(next_rand() % 2000000);
        int hl = snprintf(g->host, sizeof(g->host), "node-%02u",
                          (unsigned)(next_rand() % 40));
        g->f[0] = (struct sift_field){"host.name", g->host, 9, (uint32_t)hl,
                                      SIFT_FT_KEYWORD};
    } else {
        uint32_t sys = (uint32_t)(next_rand() % N_SYS);
        uint64_t c = g->cursor[sys]++;
        l = &lines[sys_first[sys] + c % sys_count[sys]];
        unsigned k = (unsigned)zipf_draw(zipf_cdf, ZIPF_N);
        ev->msg_len = vary_structured(l, c / sys_count[sys], k, g->msg);
        /* Exponential gap, mean 1 ms, millisecond precision. */
        double u = ((double)(next_rand() >> 11) + 1.0) / 9007199254740993.0;
        g->ts += (int64_t)(-log(u) * 1e6);
        g->ts -= g->ts % 1000000;
        int hl = snprintf(g->host, sizeof(g->host), "%s-%02d", systems[sys],
                          zipf_draw(host_cdf, HOSTS));
        g->f[0] = (struct sift_field){"host.name", g->host, 9, (uint32_t)hl,
                                      SIFT_FT_KEYWORD};
        ev->template_id = sys * 1000 + l->event_id;
    }
    ev->ts_ns = g->ts;
    const char *svc = systems[l->sys];
    g->f[1] = (struct sift_field){"service", svc, 7, (uint32_t)strlen(svc),
                                  SIFT_FT_KEYWORD};
}

static int
write_file(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -errno;
    const char *c = p;
    while (len > 0) {
        ssize_t w = write(fd, c, len);
        if (w < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        c += w;
        len -= (size_t)w;
    }
    close(fd);
    return 0;
}

static int
corpus(const char *dir)
{
    static const size_t sizes[] = {1, 5, 20, 60};
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    opts.block_bytes = 1024;
    struct gen g;
    gen_init(&g, 0);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        struct sift_segment_builder *b;
        sift_segment_builder_new(&opts, &b);
        for (size_t i = 0; i < sizes[k]; i++) {
            struct sift_event ev;
            struct sift_field fs[4];
            char off[24];
            make_event(&g, k * 2000 + i * 97, &ev);
            g.f[2] = (struct sift_field){"status", "503", 6, 3, SIFT_FT_NUMBER};
            memcpy(fs, g.f, sizeof(g.f));
            ev.fields = fs;
            ev.n_fields = 3;
            if (i % 3 != 1) { /* an integer column (NUMCOL mode 2) */
                int ol = snprintf(off, sizeof(off), "%zu", i * 137 + i % 5);
                fs[3] = (struct sift_field){"log.offset", off, 10, (uint32_t)ol,
                                            SIFT_FT_NUMBER};
                ev.n_fields = 4;
            }
            if (i % 4 == 3)
                ev.template_id = SIFT_TEMPLATE_NONE;
            sift_segment_builder_add(b, &ev);
        }
        struct sift_buf img = SIFT_BUF_INIT;
        sift_buf_putc(&img, 1); /* mode: reseal */
        if (sift_segment_builder_finish(b, &img) != SIFT_OK)
            return 1;
        sift_segment_builder_free(b);
        char path[512];
        snprintf(path, sizeof(path), "%s/valid_%zu", dir, sizes[k]);
        write_file(path, img.data, img.len);
        img.data[0] = 0; /* mode: checksums as they are */
        snprintf(path, sizeof(path), "%s/valid_raw_%zu", dir, sizes[k]);
        write_file(path, img.data, img.len);
        if (k == 1) {
            img.data[0] = 1;
            snprintf(path, sizeof(path), "%s/trunc_half", dir);
            write_file(path, img.data, img.len / 2);
            snprintf(path, sizeof(path), "%s/trunc_tail", dir);
            write_file(path, img.data, img.len - 7);
        }
        sift_buf_cleanup(&img);
    }
    return 0;
}

struct sample {
    struct sift_buf terms; /* every 64th term, NUL-separated */
    uint32_t seen, n;
};

static int
sample_cb(const char *term, size_t len, void *arg)
{
    struct sample *sm = arg;
    if (sm->seen++ % 64 == 0 && sm->n < 20000) {
        sift_buf_append(&sm->terms, term, len);
        sift_buf_putc(&sm->terms, '\0');
        sm->n++;
    }
    return 0;
}

/* Times random doc fetches and postings lookups on seg (the reader's
 * query-side cost after the format changes). */
static void
read_costs(struct sift_segment *seg, double *doc_us, double *post_us)
{
    uint32_t n = sift_segment_doc_count(seg);
    struct sift_buf buf = SIFT_BUF_INIT;
    double t0 = now_s(CLOCK_MONOTONIC);
    for (int i = 0; i < 2000; i++) {
        sift_buf_reset(&buf);
        if (sift_segment_doc(seg, (uint32_t)(next_rand() % n), &buf) != SIFT_OK)
            exit(1);
    }
    *doc_us = (now_s(CLOCK_MONOTONIC) - t0) / 2000 * 1e6;
    int mf = sift_segment_field_find(seg, "message", 7);
    struct sample sm = {SIFT_BUF_INIT, 0, 0};
    sift_segment_terms(seg, (uint32_t)mf, NULL, 0, sample_cb, &sm);
    const char *t = sm.terms.data;
    t0 = now_s(CLOCK_MONOTONIC);
    for (uint32_t i = 0; i < sm.n; i++) {
        roaring_bitmap_t *bm = NULL;
        size_t l = strlen(t);
        if (sift_segment_postings(seg, (uint32_t)mf, t, l, &bm) != SIFT_OK ||
            bm == NULL)
            exit(1);
        roaring_bitmap_free(bm);
        t += l + 1;
    }
    *post_us = (now_s(CLOCK_MONOTONIC) - t0) / (sm.n ? sm.n : 1) * 1e6;
    sift_buf_cleanup(&sm.terms);
    sift_buf_cleanup(&buf);
}

/* Bytes per section group, read from the image's section table. */
enum { G_DOCS, G_SHAPES, G_TERMS, G_TS, G_KW, G_NUM, G_OTHER, G_N };
static const char *group_names[G_N] = {
    "doc store",       "shapes+shape docs", "terms+postings", "time column",
    "keyword columns", "number columns",    "other"};

static void
account(const uint8_t *img, size_t len, uint64_t *by_group)
{
    const uint8_t *tr = img + len - SIFT_SEGFMT_TRAILER_LEN;
    uint64_t tab = sift_load_u64(tr);
    uint32_t ns = sift_load_u32(tr + 8);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < ns; i++) {
        const uint8_t *e = img + tab + (size_t)i * SIFT_SEGFMT_SECENT_LEN;
        uint32_t kind = sift_load_u32(e);
        uint64_t l = sift_load_u64(e + 16);
        int gi = kind == SIFT_SEGSEC_DOCS || kind == SIFT_SEGSEC_ZDICT ? G_DOCS
                 : kind == SIFT_SEGSEC_SHAPES || kind == SIFT_SEGSEC_SHAPEDOCS
                     ? G_SHAPES
                 : kind == SIFT_SEGSEC_TERMS  ? G_TERMS
                 : kind == SIFT_SEGSEC_TS     ? G_TS
                 : kind == SIFT_SEGSEC_KWCOL  ? G_KW
                 : kind == SIFT_SEGSEC_NUMCOL ? G_NUM
                                              : G_OTHER;
        by_group[gi] += l;
        sum += l;
    }
    by_group[G_OTHER] += len - sum; /* header, table, padding */
}

int
main(int argc, char **argv)
{
    uint64_t n = 1000000;
    uint32_t seg_docs = 250000;
    const char *corpus_dir = NULL, *dump_path = NULL;
    int uniform = 0, cold = 0, opt, zset = 0, bset = 0;
    struct sift_segment_opts opts;
    sift_segment_opts_init(&opts);
    while ((opt = getopt(argc, argv, "n:s:c:uz:b:d:C")) != -1) {
        switch (opt) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 's': seg_docs = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c': corpus_dir = optarg; break;
        case 'd': dump_path = optarg; break;
        case 'u': uniform = 1; break;
        case 'z':
            opts.zstd_level = atoi(optarg);
            zset = 1;
            break;
        case 'b':
            opts.block_bytes = (uint32_t)strtoul(optarg, NULL, 10);
            bset = 1;
            break;
        case 'C': cold = 1; break;
        default:
            fprintf(stderr, "usage: bench_segment [-n events] [-s docs per "
                            "segment] [-u] [-z zstd level] [-b block bytes] "
                            "[-c corpus_dir] [-d dump_text_file] [-C]\n");
            return 2;
        }
    }
    load();
    if (corpus_dir != NULL)
        return corpus(corpus_dir);
    if (seg_docs == 0)
        seg_docs = 250000;
    if (dump_path != NULL) { /* the replayed text only, one line per event */
        FILE *df = fopen(dump_path, "w");
        struct gen g;
        gen_init(&g, uniform);
        for (uint64_t i = 0; i < n && df != NULL; i++) {
            struct sift_event ev;
            make_event(&g, i, &ev);
            fwrite(ev.msg, 1, ev.msg_len, df);
            fputc('\n', df);
        }
        return df != NULL && fclose(df) == 0 ? 0 : 1;
    }

    char dir[] = "/tmp/sift_bench_segXXXXXX";
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    struct sift_segment_builder *b;
    struct sift_buf img = SIFT_BUF_INIT, dict = SIFT_BUF_INIT;
    struct gen g;
    gen_init(&g, uniform);
    struct sift_event ev;
    double t_train = 0;
    if (cold) {
        /* Cold tier: zstd 19, 1 MiB blocks and a dictionary trained on a
         * hot segment of the seg_docs events that precede the measured
         * ones (untimed: a tier trains once and reuses it). */
        double t0 = now_s(CLOCK_MONOTONIC);
        struct sift_segment_opts hot;
        sift_segment_opts_init(&hot);
        sift_segment_builder_new(&hot, &b);
        for (uint32_t k = 0; k < seg_docs; k++) {
            make_event(&g, k, &ev);
            sift_segment_builder_add(b, &ev);
        }
        struct sift_segment *hs = NULL;
        if (sift_segment_builder_finish(b, &img) != SIFT_OK ||
            sift_segment_open_mem(img.data, img.len, &hs) != SIFT_OK ||
            sift_segment_dict_train(&hs, 1, 112u << 10, &dict) != SIFT_OK) {
            fprintf(stderr, "bench_segment: dictionary training failed\n");
            return 1;
        }
        img = (struct sift_buf)SIFT_BUF_INIT; /* owned by hs now */
        sift_segment_unref(hs);
        sift_segment_builder_free(b);
        if (!zset)
            opts.zstd_level = 19;
        if (!bset)
            opts.block_bytes = 1u << 20;
        opts.tier = 2;
        opts.zstd_dict = dict.data;
        opts.zstd_dict_len = dict.len;
        t_train = now_s(CLOCK_MONOTONIC) - t0;
    }
    sift_segment_builder_new(&opts, &b);
    uint64_t raw = 0, disk = 0, by_group[G_N] = {0};
    double t_add = 0, t_finish = 0, t_write = 0, cpu = 0, max_finish = 0;
    unsigned n_segs = 0;
    for (uint64_t i = 0; i < n;) {
        double c0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
        double t0 = now_s(CLOCK_MONOTONIC);
        uint32_t k = 0;
        for (; k < seg_docs && i < n; k++, i++) {
            make_event(&g, i, &ev);
            raw += ev.msg_len + 1;
            if (sift_segment_builder_add(b, &ev) != SIFT_OK)
                return 1;
        }
        double t1 = now_s(CLOCK_MONOTONIC);
        sift_buf_reset(&img);
        int rc = sift_segment_builder_finish(b, &img);
        if (rc != SIFT_OK) {
            fprintf(stderr, "finish: %s\n", sift_strerror(rc));
            return 1;
        }
        sift_segment_builder_reset(b);
        double t2 = now_s(CLOCK_MONOTONIC);
        char path[600];
        snprintf(path, sizeof(path), "%s/seg%u", dir, n_segs++);
        if (write_file(path, img.data, img.len) != 0)
            return 1;
        double t3 = now_s(CLOCK_MONOTONIC);
        cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
        /* Check the image opens (not timed). */
        struct sift_segment *seg;
        if (sift_segment_open_file(path, &seg) != SIFT_OK) {
            fprintf(stderr, "bench_segment: reopen failed\n");
            return 1;
        }
        double t4 = now_s(CLOCK_MONOTONIC);
        if (sift_segment_doc_count(seg) != k)
            return 1;
        double doc_us = 0, post_us = 0;
        if (n_segs == 1)
            read_costs(seg, &doc_us, &post_us);
        sift_segment_unref(seg);
        if (getenv("SIFT_BENCH_KEEP") == NULL)
            unlink(path);
        fprintf(stderr,
                "segment %u: %u docs, %.1f MB, finish %.2f s, open "
                "%.1f ms\n",
                n_segs, k, (double)img.len / 1e6, t2 - t1, (t4 - t3) * 1e3);
        if (n_segs == 1)
            printf("  segment 1 reads: random doc fetch %.1f us, message "
                   "term postings %.1f us (every 64th term, in order)\n",
                   doc_us, post_us);
        account((const uint8_t *)img.data, img.len, by_group);
        disk += img.len;
        t_add += t1 - t0;
        t_finish += t2 - t1;
        t_write += t3 - t2;
        if (t2 - t1 > max_finish)
            max_finish = t2 - t1;
    }
    rmdir(dir);
    double total = t_add + t_finish + t_write;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("bench_segment (%s replay, %szstd %d, %u B blocks): %llu events in "
           "%u segments of <= %u\n",
           uniform ? "uniform" : "structured", cold ? "COLD, " : "",
           opts.zstd_level, opts.block_bytes, (unsigned long long)n, n_segs,
           seg_docs);
    if (cold)
        printf("  cold: %zu B dictionary trained in %.2fs (untimed) on the "
               "%u events before the measured ones\n",
               dict.len, t_train, seg_docs);
    printf("  wall: %.0f events/s, %.1f MB/s raw (add %.2fs, finish %.2fs, "
           "write %.2fs; slowest flush %.2fs)\n",
           (double)n / total, (double)raw / 1e6 / total, t_add, t_finish,
           t_write, max_finish);
    printf("  cpu:  %.0f events/s, %.1f MB/s raw (%.2fs)\n", (double)n / cpu,
           (double)raw / 1e6 / cpu, cpu);
    printf("  disk/raw %.2f%% (%.2f MB / %.2f MB, %.1f B/event raw)\n",
           100.0 * (double)disk / (double)raw, (double)disk / 1e6,
           (double)raw / 1e6, (double)raw / (double)n);
    for (int gi = 0; gi < G_N; gi++)
        printf("    %-16s %6.2f%%  %8.2f MB\n", group_names[gi],
               100.0 * (double)by_group[gi] / (double)raw,
               (double)by_group[gi] / 1e6);
    printf("  peak RSS %ld MB\n", ru.ru_maxrss / 1024);
    sift_buf_cleanup(&img);
    sift_buf_cleanup(&dict);
    sift_segment_builder_free(b);
    for (size_t i = 0; i < n_lines; i++)
        sift_free(lines[i].s);
    sift_free(lines);
    return 0;
}
