/*
 * mine.c - templates for events: header split (header.c), then template
 * mining (drain.c) on the body, and the header's parts as fields.  See
 * include/sift/mine.h.
 *
 * Design.  The source key hashes the values of the fields that name
 * where a line was written (service.name, log.file.path, event.dataset,
 * container.name), so lines of one file or service share one learned
 * header shape and lines of different ones never mix.  Fields are added
 * only when absent (an event's own log.level, a syslog pid, win), as
 * KEYWORD (level, logger) or NUMBER (pid, thread id); the event's field
 * array is copied once into the arena with room for them.
 *
 * Invariants: ev->msg is never modified; every added value points into
 * ev->msg or static storage.
 * Thread: one owner (siftd: the loop thread).
 */
#include <string.h>

#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/mine.h"

#define MAX_REMINED 256 /* >= the header learner's sample */

struct sift_mine {
    struct sift_drain *drain;
    struct sift_header *header;
    int no_header;
    /* Re-mined lines of one split: the id each had and the id it gets. */
    uint32_t n_remined;
    uint32_t old_id[MAX_REMINED];
    uint32_t new_id[MAX_REMINED];
    uint32_t weight[MAX_REMINED];
};

int
sift_mine_new(const struct sift_mine_cfg *cfg, struct sift_mine **out)
{
    struct sift_mine *m = sift_xcalloc(1, sizeof(*m));
    sift_drain_new(cfg ? &cfg->drain : NULL, &m->drain);
    sift_header_new(cfg ? &cfg->header : NULL, &m->header);
    m->no_header = cfg ? cfg->no_header : 0;
    *out = m;
    return SIFT_OK;
}

void
sift_mine_free(struct sift_mine *m)
{
    if (!m)
        return;
    sift_drain_free(m->drain);
    sift_header_free(m->header);
    sift_free(m);
}

struct sift_drain *
sift_mine_drain(struct sift_mine *m)
{
    return m->drain;
}

struct sift_header *
sift_mine_header(struct sift_mine *m)
{
    return m->header;
}

static const struct {
    const char *name;
    uint32_t len;
} source_fields[] = {
    {"service.name", 12},
    {"log.file.path", 13},
    {"event.dataset", 13},
    {"container.name", 14},
};
#define N_SOURCE_FIELDS 4

/* The fields the header may add, in this order. */
enum { F_LEVEL, F_PID, F_TID, F_LOGGER, N_HFIELDS };

static const struct {
    const char *name;
    uint32_t len;
    uint8_t type;
} header_fields[N_HFIELDS] = {
    {"log.level", 9, SIFT_FT_KEYWORD},
    {"process.pid", 11, SIFT_FT_NUMBER},
    {"process.thread.id", 17, SIFT_FT_NUMBER},
    {"log.logger", 10, SIFT_FT_KEYWORD},
};

/* One pass over ev's fields: the source fields' values and which header
 * fields the event already has (bit k: header_fields[k]).  The names
 * wanted are 9 to 17 bytes long; a table by length says which of them a
 * field's name can be, so most fields cost one lookup and no compare
 * (this ran per event with eight memcmp() per field: ~2% of ingest). */
#define LOOK_MAX_LEN 17
static unsigned
look(const struct sift_event *ev, const struct sift_field **src)
{
    /* by_len[len]: bits 0-3 the source fields, 4-7 the header fields */
    static const uint8_t by_len[LOOK_MAX_LEN + 1] = {
        [9] = 1u << (4 + F_LEVEL),    [10] = 1u << (4 + F_LOGGER),
        [11] = 1u << (4 + F_PID),     [12] = 1u << 0,
        [13] = (1u << 1) | (1u << 2), [14] = 1u << 3,
        [17] = 1u << (4 + F_TID),
    };
    unsigned have = 0;
    for (size_t k = 0; k < N_SOURCE_FIELDS; k++)
        src[k] = NULL;
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (f->name_len > LOOK_MAX_LEN || by_len[f->name_len] == 0)
            continue;
        unsigned cand = by_len[f->name_len];
        for (size_t k = 0; k < N_SOURCE_FIELDS; k++)
            if ((cand >> k) & 1u && !src[k] &&
                memcmp(f->name, source_fields[k].name, f->name_len) == 0)
                src[k] = f;
        for (unsigned k = 0; k < N_HFIELDS; k++)
            if ((cand >> (4 + k)) & 1u &&
                memcmp(f->name, header_fields[k].name, f->name_len) == 0)
                have |= 1u << k;
    }
    return have;
}

static uint64_t
source_key(const struct sift_field *const *src)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15);
    for (size_t k = 0; k < N_SOURCE_FIELDS; k++) {
        const struct sift_field *f = src[k];
        /* Seeded by the position, so "a" as service or as file differ. */
        uint64_t v =
            f ? XXH3_64bits_withSeed(f->value, f->value_len, k + 1) : k + 1;
        h = (h ^ v) * UINT64_C(0xff51afd7ed558ccd);
        h ^= h >> 32;
    }
    return h;
}

uint64_t
sift_mine_source(const struct sift_event *ev)
{
    const struct sift_field *src[N_SOURCE_FIELDS];
    look(ev, src);
    return source_key(src);
}

static int
add_fields(struct sift_event *ev, struct sift_arena *arena,
           const struct sift_header_parts *p, unsigned have)
{
    const char *val[N_HFIELDS] = {
        p->level,
        p->pid_len ? ev->msg + p->pid_off : NULL,
        p->tid_len ? ev->msg + p->tid_off : NULL,
        p->logger_len ? ev->msg + p->logger_off : NULL,
    };
    uint32_t vlen[N_HFIELDS] = {p->level ? (uint32_t)strlen(p->level) : 0,
                                p->pid_len, p->tid_len, p->logger_len};
    unsigned n_add = 0;
    for (unsigned k = 0; k < N_HFIELDS; k++) {
        if ((have >> k) & 1u)
            val[k] = NULL;
        n_add += val[k] && vlen[k];
    }
    if (n_add == 0)
        return SIFT_OK;
    struct sift_field *f = sift_arena_try_alloc(
        arena, (ev->n_fields + n_add) * sizeof(struct sift_field));
    if (!f)
        return SIFT_ENOMEM;
    if (ev->n_fields)
        memcpy(f, ev->fields, ev->n_fields * sizeof(*f));
    uint32_t n = ev->n_fields;
    for (unsigned k = 0; k < N_HFIELDS; k++) {
        if (!val[k] || !vlen[k])
            continue;
        f[n].name = header_fields[k].name;
        f[n].name_len = header_fields[k].len;
        f[n].value = val[k];
        f[n].value_len = vlen[k];
        f[n].type = header_fields[k].type;
        n++;
    }
    ev->fields = f;
    ev->n_fields = n;
    return SIFT_OK;
}

/* sift_header_remine_cb: mine the line's new body, remember the move. */
static uint32_t
remine_cb(void *arg, const char *line, size_t len,
          const struct sift_header_parts *p, uint32_t tag, uint32_t weight)
{
    struct sift_mine *m = arg;
    (void)len;
    uint32_t id = sift_drain_learn(m->drain, line + p->body_off, p->body_len);
    if (m->n_remined < MAX_REMINED) {
        m->old_id[m->n_remined] = tag;
        m->new_id[m->n_remined] = id;
        m->weight[m->n_remined] = weight;
        m->n_remined++;
    }
    return id;
}

/*
 * After re-mining: a template that only the re-mined lines (and lines of
 * their shapes) ever had, and whose lines all went to one other template,
 * is merged into it (its id becomes an alias, so the events stored with
 * it stay findable).
 */
static void
fold_remined(struct sift_mine *m)
{
    for (uint32_t i = 0; i < m->n_remined; i++) {
        uint32_t old = m->old_id[i];
        if (old == SIFT_TEMPLATE_NONE)
            continue;
        uint32_t to = m->new_id[i], lines = 0;
        int one = 1;
        for (uint32_t j = i; j < m->n_remined; j++) {
            if (m->old_id[j] != old)
                continue;
            lines += m->weight[j];
            one &= m->new_id[j] == to;
            if (j > i)
                m->old_id[j] = SIFT_TEMPLATE_NONE; /* decided here */
        }
        struct sift_drain_info info;
        if (!one || to == old || to == SIFT_TEMPLATE_NONE ||
            sift_drain_get(m->drain, old, &info) != SIFT_OK || info.id != old ||
            info.count != lines)
            continue;
        sift_drain_merge(m->drain, old, to);
    }
    m->n_remined = 0;
}

int
sift_mine_event(struct sift_mine *m, struct sift_event *ev,
                struct sift_arena *arena, struct sift_header_parts *out_parts)
{
    const char *msg = ev->msg ? ev->msg : "";
    struct sift_header_parts p;
    memset(&p, 0, sizeof(p));
    p.body_len = ev->msg_len;
    const struct sift_field *src[N_SOURCE_FIELDS];
    unsigned have = look(ev, src);
    if (!m->no_header && ev->msg_len) {
        m->n_remined = 0;
        sift_header_split(m->header, source_key(src), msg, ev->msg_len, &p,
                          remine_cb, m);
        if (m->n_remined)
            fold_remined(m);
    }
    if (out_parts)
        *out_parts = p;
    if (p.body_len)
        ev->template_id =
            sift_drain_add(m->drain, msg + p.body_off, p.body_len, ev->ts_ns);
    else
        ev->template_id = sift_drain_add(m->drain, msg, ev->msg_len, ev->ts_ns);
    if (!m->no_header)
        sift_header_tag_last(m->header, ev->template_id);
    return add_fields(ev, arena, &p, have);
}
