/*
 * manifest.c - encode, decode, load and atomically save DATA_DIR/MANIFEST.
 *
 * File form (version 2), text, '\n'-terminated lines, fields split by one
 * space, integers in decimal:
 *
 *   sift-manifest 1
 *   generation <u64>
 *   flushed_seq <u64>
 *   next_segment_id <u64>
 *   segment <id> <tier> <docs> <min_ts> <max_ts> <bytes> <file> <deleted>
 *   position <hi> <lo> <key, %XX-escaped>
 *   checksum <16 hex digits>
 *
 * segment and position lines repeat (zero or more, segments first).  The
 * checksum is XXH64 (seed 0) of every byte before the "checksum" line and
 * is the last line.  Unknown lines, trailing bytes, a wrong version or
 * checksum make the whole file SIFT_ECORRUPT: a manifest is never half
 * believed.  <deleted> is how many of the segment's docs its tombstones
 * held when the manifest was saved (they only grow), so a tombstone file
 * that went missing or back is noticed.  Version 1 files (no <deleted>)
 * still load.  Text keeps the file inspectable with cat during incidents.
 *
 * Context: any thread; the functions touch only their arguments.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "manifest.h"
#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"

void
sift__manifest_init(struct sift_manifest *m)
{
    memset(m, 0, sizeof(*m));
    m->next_seg_id = 1;
}

void
sift__manifest_cleanup(struct sift_manifest *m)
{
    sift__posmap_cleanup(&m->pos);
    sift_free(m->segs);
    sift__manifest_init(m);
}

void
sift__manifest_copy(struct sift_manifest *dst, const struct sift_manifest *src)
{
    sift__manifest_init(dst);
    dst->generation = src->generation;
    dst->flushed_seq = src->flushed_seq;
    dst->next_seg_id = src->next_seg_id;
    for (size_t i = 0; i < src->n_segs; i++)
        sift__manifest_add_seg(dst, &src->segs[i]);
    sift__posmap_merge_all(&dst->pos, &src->pos);
}

void
sift__manifest_add_seg(struct sift_manifest *m,
                       const struct sift_manifest_seg *seg)
{
    if (m->n_segs == m->cap_segs) {
        m->cap_segs = m->cap_segs ? m->cap_segs * 2 : 8;
        m->segs = sift_xrealloc(m->segs, m->cap_segs * sizeof(*m->segs));
    }
    m->segs[m->n_segs++] = *seg;
    if (seg->id >= m->next_seg_id)
        m->next_seg_id = seg->id + 1;
}

int
sift__manifest_remove_seg(struct sift_manifest *m, uint64_t id)
{
    for (size_t i = 0; i < m->n_segs; i++) {
        if (m->segs[i].id != id)
            continue;
        memmove(&m->segs[i], &m->segs[i + 1],
                (m->n_segs - i - 1) * sizeof(*m->segs));
        m->n_segs--;
        return 1;
    }
    return 0;
}

const struct sift_manifest_pos *
sift__posmap_find(const struct sift_posmap *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].key, key) == 0)
            return &m->v[i];
    return NULL;
}

void
sift__posmap_merge(struct sift_posmap *m, const char *key, uint64_t hi,
                   uint64_t lo)
{
    for (size_t i = 0; i < m->n; i++) {
        struct sift_manifest_pos *p = &m->v[i];
        if (strcmp(p->key, key) != 0)
            continue;
        if (hi > p->hi || (hi == p->hi && lo > p->lo)) {
            p->hi = hi;
            p->lo = lo;
        }
        return;
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 8;
        m->v = sift_xrealloc(m->v, m->cap * sizeof(*m->v));
    }
    m->v[m->n].key = sift_xstrdup(key);
    m->v[m->n].hi = hi;
    m->v[m->n].lo = lo;
    m->n++;
}

void
sift__posmap_merge_all(struct sift_posmap *dst, const struct sift_posmap *src)
{
    for (size_t i = 0; i < src->n; i++)
        sift__posmap_merge(dst, src->v[i].key, src->v[i].hi, src->v[i].lo);
}

void
sift__posmap_cleanup(struct sift_posmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        sift_free(m->v[i].key);
    sift_free(m->v);
    memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static void
put_escaped(struct sift_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c > 0x20 && *c < 0x7f && *c != '%') {
            sift_buf_putc(out, (char)*c);
        } else {
            sift_buf_putc(out, '%');
            sift_buf_putc(out, hex[*c >> 4]);
            sift_buf_putc(out, hex[*c & 15]);
        }
    }
}

void
sift__manifest_encode(const struct sift_manifest *m, struct sift_buf *out)
{
    size_t start = out->len;
    sift_buf_appendf(out, "sift-manifest %d\n", SIFT_MANIFEST_VERSION);
    sift_buf_appendf(out, "generation %" PRIu64 "\n", m->generation);
    sift_buf_appendf(out, "flushed_seq %" PRIu64 "\n", m->flushed_seq);
    sift_buf_appendf(out, "next_segment_id %" PRIu64 "\n", m->next_seg_id);
    for (size_t i = 0; i < m->n_segs; i++) {
        const struct sift_manifest_seg *s = &m->segs[i];
        sift_buf_appendf(out,
                         "segment %" PRIu64 " %u %" PRIu64 " %" PRId64
                         " %" PRId64 " %" PRIu64 " %s %" PRIu64 "\n",
                         s->id, (unsigned)s->tier, s->docs, s->min_ts,
                         s->max_ts, s->bytes, s->file, s->deleted);
    }
    for (size_t i = 0; i < m->pos.n; i++) {
        sift_buf_appendf(out, "position %" PRIu64 " %" PRIu64 " ",
                         m->pos.v[i].hi, m->pos.v[i].lo);
        put_escaped(out, m->pos.v[i].key);
        sift_buf_putc(out, '\n');
    }
    uint64_t sum = XXH64(out->data + start, out->len - start, 0);
    sift_buf_appendf(out, "checksum %016" PRIx64 "\n", sum);
}

/* ------------------------------------------------------------------ */
/* Decoding                                                            */
/* ------------------------------------------------------------------ */

/* A line split into at most 8 space-separated words (in place). */
struct words {
    char *w[9];
    int n;
};

static int
split(char *line, struct words *ws)
{
    ws->n = 0;
    char *p = line;
    while (*p) {
        if (ws->n == 9)
            return -1;
        ws->w[ws->n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp)
            break;
        *sp = '\0';
        p = sp + 1;
        if (*p == '\0' || *p == ' ')
            return -1; /* empty word */
    }
    return ws->n;
}

static int
get_u64(const char *s, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

static int
get_i64(const char *s, int64_t *out)
{
    if (!((*s >= '0' && *s <= '9') || *s == '-'))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Unescapes s in place; rejects NUL bytes and bad escapes. */
static int
unescape(char *s)
{
    char *o = s;
    for (char *c = s; *c; c++) {
        if (*c != '%') {
            *o++ = *c;
            continue;
        }
        int h = sift_hex_digit(c[1]), l = h < 0 ? -1 : sift_hex_digit(c[2]);
        if (h < 0 || l < 0 || (h == 0 && l == 0))
            return -1;
        *o++ = (char)(h << 4 | l);
        c += 2;
    }
    *o = '\0';
    return 0;
}

static int
valid_file_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(((struct sift_manifest_seg *)0)->file) ||
        s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int
decode_line(struct sift_manifest *m, char *line, int *state)
{
    struct words ws;
    uint64_t v;
    if (split(line, &ws) < 2)
        return -1;
    const char *k = ws.w[0];
    /* Header lines come in a fixed order, then segments, then positions. */
    if (*state < 4) {
        static const char *const order[] = {"sift-manifest", "generation",
                                            "flushed_seq", "next_segment_id"};
        if (strcmp(k, order[*state]) != 0 || ws.n != 2 ||
            get_u64(ws.w[1], &v) < 0)
            return -1;
        switch ((*state)++) {
        case 0:
            m->file_version = (uint32_t)v;
            return v >= 1 && v <= SIFT_MANIFEST_VERSION ? 0 : -2;
        case 1: m->generation = v; return 0;
        case 2: m->flushed_seq = v; return 0;
        default: m->next_seg_id = v; return 0;
        }
    }
    /* Version 1 lines have no deleted count. */
    if (strcmp(k, "segment") == 0 && *state == 4 &&
        ws.n == (m->file_version >= 2 ? 9 : 8)) {
        struct sift_manifest_seg s;
        uint64_t tier;
        memset(&s, 0, sizeof(s));
        if (get_u64(ws.w[1], &s.id) < 0 || get_u64(ws.w[2], &tier) < 0 ||
            tier > 2 || get_u64(ws.w[3], &s.docs) < 0 ||
            get_i64(ws.w[4], &s.min_ts) < 0 ||
            get_i64(ws.w[5], &s.max_ts) < 0 || get_u64(ws.w[6], &s.bytes) < 0 ||
            !valid_file_name(ws.w[7]) ||
            (ws.n == 9 &&
             (get_u64(ws.w[8], &s.deleted) < 0 || s.deleted > s.docs)))
            return -1;
        s.tier = (uint8_t)tier;
        snprintf(s.file, sizeof(s.file), "%s", ws.w[7]);
        for (size_t i = 0; i < m->n_segs; i++)
            if (m->segs[i].id == s.id || strcmp(m->segs[i].file, s.file) == 0)
                return -1;
        uint64_t keep_next = m->next_seg_id;
        sift__manifest_add_seg(m, &s);
        if (s.id >= keep_next)
            return -1; /* ids are handed out below next_segment_id */
        return 0;
    }
    if (strcmp(k, "position") == 0 && *state >= 4 && ws.n == 4) {
        *state = 5;
        uint64_t hi, lo;
        if (get_u64(ws.w[1], &hi) < 0 || get_u64(ws.w[2], &lo) < 0 ||
            unescape(ws.w[3]) < 0 || ws.w[3][0] == '\0' ||
            sift__posmap_find(&m->pos, ws.w[3]) != NULL)
            return -1;
        sift__posmap_merge(&m->pos, ws.w[3], hi, lo);
        return 0;
    }
    return -1;
}

int
sift__manifest_decode(const char *p, size_t len, struct sift_manifest *m)
{
    sift__manifest_init(m);
    /* The checksum line is last: "checksum " + 16 hex + "\n" = 26 bytes. */
    if (len < 26 || p[len - 1] != '\n')
        return SIFT_ECORRUPT;
    size_t body = len - 26;
    if (memcmp(p + body, "checksum ", 9) != 0 ||
        (body > 0 && p[body - 1] != '\n'))
        return SIFT_ECORRUPT;
    uint64_t want = 0;
    for (size_t i = body + 9; i < len - 1; i++) {
        int h = sift_hex_digit(p[i]);
        if (h < 0 || (p[i] >= 'A' && p[i] <= 'F'))
            return SIFT_ECORRUPT;
        want = want << 4 | (uint64_t)h;
    }
    if (XXH64(p, body, 0) != want)
        return SIFT_ECORRUPT;

    char *copy = sift_try_malloc(body + 1);
    if (!copy)
        return SIFT_ENOMEM;
    memcpy(copy, p, body);
    copy[body] = '\0';
    int rc = SIFT_OK, state = 0;
    char *line = copy;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (!nl) {
            rc = SIFT_ECORRUPT;
            break;
        }
        *nl = '\0';
        if (memchr(line, '\0', (size_t)(nl - line)) != NULL ||
            decode_line(m, line, &state) != 0) {
            rc = SIFT_ECORRUPT;
            break;
        }
        line = nl + 1;
    }
    /* Embedded NULs end the string early: make sure we read it all. */
    if (rc == SIFT_OK && (line != copy + body || state < 4))
        rc = SIFT_ECORRUPT;
    sift_free(copy);
    if (rc != SIFT_OK)
        sift__manifest_cleanup(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* Loads DATA_DIR/name (MANIFEST or a kept generation) into m. */
static int
load_named(const char *data_dir, const char *name, struct sift_manifest *m)
{
    char path[4096];
    sift__manifest_init(m);
    if (snprintf(path, sizeof(path), "%s/%s", data_dir, name) >=
        (int)sizeof(path))
        return SIFT_EINVAL;
    char *p = NULL;
    size_t len = 0;
    int rc = sift_file_read_all(path, SIFT_MANIFEST_MAX_BYTES, &p, &len);
    if (rc == -ENOENT)
        return SIFT_ENOTFOUND;
    if (rc == SIFT_ELIMIT) {
        SIFT_ERROR("manifest %s: more than %u bytes is too large", path,
                   SIFT_MANIFEST_MAX_BYTES);
        return SIFT_ECORRUPT;
    }
    if (rc < 0)
        return rc;
    rc = sift__manifest_decode(p, len, m);
    if (rc == SIFT_ECORRUPT)
        SIFT_ERROR("manifest %s is corrupt (bad checksum, version or syntax)",
                   path);
    sift_free(p);
    return rc;
}

int
sift__manifest_load(const char *data_dir, struct sift_manifest *m)
{
    return load_named(data_dir, SIFT_MANIFEST_NAME, m);
}

/* Generation number of a "MANIFEST.<digits>" name, or 0 when it is not one. */
static uint64_t
generation_of(const char *name)
{
    size_t nl = strlen(SIFT_MANIFEST_NAME);
    if (strncmp(name, SIFT_MANIFEST_NAME, nl) != 0 || name[nl] != '.')
        return 0;
    uint64_t g = 0;
    if (get_u64(name + nl + 1, &g) < 0 || strlen(name + nl + 1) > 20)
        return 0;
    return g;
}

static int
cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

int
sift__manifest_generations(const char *data_dir, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(data_dir);
    if (!d)
        return -errno;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        uint64_t g = generation_of(de->d_name);
        if (g == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *out = sift_xrealloc(*out, cap * sizeof(**out));
        }
        (*out)[(*n)++] = g;
    }
    closedir(d);
    if (*n > 1)
        qsort(*out, *n, sizeof(**out), cmp_desc);
    return SIFT_OK;
}

int
sift__manifest_load_generation(const char *data_dir, uint64_t gen,
                               struct sift_manifest *m)
{
    char name[64];
    snprintf(name, sizeof(name), "%s.%" PRIu64, SIFT_MANIFEST_NAME, gen);
    int rc = load_named(data_dir, name, m);
    if (rc == SIFT_OK && m->generation != gen) {
        SIFT_ERROR("manifest %s/%s holds generation %" PRIu64, data_dir, name,
                   m->generation);
        sift__manifest_cleanup(m);
        rc = SIFT_ECORRUPT;
    }
    return rc;
}

/*
 * Keeps the manifest just saved as MANIFEST.<gen> too (a second name for
 * the same file, no copy) and drops the generation SIFT_MANIFEST_KEEP
 * saves older.  MANIFEST stays the commit point; the kept generations are
 * what a start falls back to when MANIFEST is lost or damaged (the older
 * ones are separate files, so damage to one file spares them).  Failures
 * here only cost history: logged, not returned.  The caller fsyncs the
 * directory.
 */
static void
keep_generation(const char *path, uint64_t gen)
{
    char name[4096 + 24]; /* path (< 4096) + "." + a 20-digit generation */
    snprintf(name, sizeof(name), "%s.%" PRIu64, path, gen);
    (void)unlink(name); /* a dead lineage's file of the same number */
    if (link(path, name) != 0)
        SIFT_WARN("manifest: cannot keep generation %" PRIu64 " as %s: %s", gen,
                  name, strerror(errno));
    if (gen > SIFT_MANIFEST_KEEP) {
        snprintf(name, sizeof(name), "%s.%" PRIu64, path,
                 gen - SIFT_MANIFEST_KEEP);
        (void)unlink(name);
    }
}

int
sift__manifest_save(const char *data_dir, const struct sift_manifest *m)
{
    char path[4096];
    struct sift_buf b = SIFT_BUF_INIT;

    if (snprintf(path, sizeof(path), "%s/%s", data_dir, SIFT_MANIFEST_NAME) >=
        (int)sizeof(path))
        return SIFT_EINVAL;
    sift__manifest_encode(m, &b);
    int rc = sift_file_replace(path, b.data, b.len, 0644, SIFT_FILE_BATCH);
    if (rc < 0) {
        SIFT_ERROR("manifest: cannot write %s: %s", path, sift_strerror(rc));
        goto out;
    }
    keep_generation(path, m->generation);
    rc = sift_file_fsync_dir(data_dir);
    if (rc < 0)
        SIFT_ERROR("manifest: fsync dir %s: %s", data_dir, sift_strerror(rc));
out:
    sift_buf_cleanup(&b);
    return rc;
}
