/*
 * service.c - the anomaly service: template miner + scoring thread +
 * alerts store + sinks, wired into siftd's pipeline, loop and HTTP API.
 *
 * Design.
 *   Mining (loop thread, pipeline stage SIFT_STAGE_TEMPLATE): every
 *   event goes through sift_mine_event() (mine.h: the message's header
 *   is split off by the shape learned for its source, the template is
 *   mined on the body, the header's level/pid/thread/logger become
 *   fields the event lacks); the id lands in ev->template_id before the
 *   store append, so the WAL, the segments and "_template_id:N" queries
 *   carry it.  The miner sits in a small refcounted object (struct
 *   sift_anomaly_templates) with a mutex, so workers (patterns, search
 *   hits, the query engine's template-id expansion) can read template
 *   texts and aliases; the loop takes the mutex only around one
 *   sift_mine_event().
 *   Template ids must never be reused for another pattern, also after a
 *   crash: templates are saved to DATA_DIR/templates.txt every
 *   template_save_interval when changed, at stop, and at once whenever
 *   ID_SAVE_BATCH ids were handed out since the last save.  A marker file
 *   (templates.dirty) exists while siftd runs; finding it at start means
 *   the last stop was unclean, and the id counter then skips
 *   ID_SAVE_BATCH ids, past every id the lost run may have stored.
 *
 *   Scoring (SIFT_STAGE_ANOMALY): one 40-byte record per event (time,
 *   service.name, log.level, template id) is pushed into the scoring ring;
 *   a full ring drops and counts (ingest never waits).
 *
 *   Alerts: the scoring thread's callback copies each transition into a
 *   mutex-protected relay queue and posts one drain callback to the loop
 *   (sift_loop_post) when the queue was empty.  On the loop each
 *   transition is merged into the alerts store (the store owns labels:
 *   feedback given through the API wins over the scorer's copy),
 *   appended to DATA_DIR/alerts.ndjson, and queued in every sink's
 *   persistent outbox (sinks.c, outbox.c).  Learned, rule and test alerts
 *   share one id counter (next_alert_id), so the store inserts an id
 *   that arrives after a larger one in order.  The relay
 *   outlives the service when a drain is still posted at stop (it is
 *   freed by that drain), so no posted callback ever sees a freed
 *   service.
 *
 *   Grafana: the service wires itself as the alerts source (annotations)
 *   and the template-text source of the Grafana datasource, and unwires
 *   at stop, before the workers' last done callbacks run.
 *
 *   Alerts store: a ring of at most alerts.max_kept alerts in id order
 *   (binary search by id), plus the feedback raise of each series.  The
 *   file holds one JSON object per line: {"type":"alert",...} (the full
 *   alert after each transition or label) and {"type":"raise",...} (a
 *   series' raise after feedback); replay keeps the last line per id.
 *   It is rewritten (sift_file_replace()) at start and whenever
 *   more than 2 * max_kept + 1000 lines were appended since, so it stays
 *   bounded.  At start the scorer gets back the next id, the raises and
 *   the kept alerts (so an alert firing at stop resolves after restart).
 *
 * Invariants: ids in the alerts ring strictly increase from oldest to
 * newest; a relay message is processed exactly once (by the posted drain
 * or, at stop, synchronously) and freed.
 * Thread: loop thread, except the alert callback (scoring thread) and
 * the template lookups (any thread).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "sift/alert_format.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/anomaly_service.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/drain.h"
#include "sift/error.h"
#include "sift/event.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/mine.h"
#include "sift/node_id.h"
#include "sift/pipeline.h"
#include "sift/query.h"
#include "sift/sinks.h"
#include "sift/statefile.h"

/* Ids handed out between forced template saves, and skipped after an
 * unclean stop. */
#define ID_SAVE_BATCH 2048u
#define MAX_OVERRIDES 64

/* ------------------------------------------------------------------ */
/* Shared template table                                                */
/* ------------------------------------------------------------------ */

struct sift_anomaly_templates {
    pthread_mutex_t mu;
    atomic_int refs;
    struct sift_mine *mine;   /* header learner + miner */
    struct sift_drain *drain; /* the miner's template table */
};

int
sift_anomaly_templates_text(struct sift_anomaly_templates *t, uint32_t id,
                            struct sift_buf *out)
{
    struct sift_drain_info info;
    pthread_mutex_lock(&t->mu);
    int rc = sift_drain_get(t->drain, id, &info);
    if (rc == SIFT_OK)
        sift_buf_append(out, info.text, info.text_len);
    pthread_mutex_unlock(&t->mu);
    return rc;
}

uint32_t
sift_anomaly_templates_resolve(struct sift_anomaly_templates *t, uint32_t id)
{
    pthread_mutex_lock(&t->mu);
    uint32_t r = sift_drain_resolve(t->drain, id);
    pthread_mutex_unlock(&t->mu);
    return r;
}

/* sift_query_template_ids_cb over the shared table. */
static size_t
query_template_ids(void *arg, uint32_t id, uint32_t *ids, size_t max)
{
    return sift_anomaly_templates_ids(arg, id, ids, max);
}

struct alias_walk {
    uint32_t target;
    uint32_t *ids;
    size_t n, max;
};

static int
alias_walk_cb(uint32_t from, uint32_t to, void *arg)
{
    struct alias_walk *w = arg;
    if (to == w->target && w->n < w->max)
        w->ids[w->n++] = from;
    return w->n >= w->max;
}

size_t
sift_anomaly_templates_ids(struct sift_anomaly_templates *t, uint32_t id,
                           uint32_t *ids, size_t max)
{
    if (max == 0)
        return 0;
    pthread_mutex_lock(&t->mu);
    struct alias_walk w = {sift_drain_resolve(t->drain, id), ids, 0, max};
    ids[w.n++] = w.target;
    sift_drain_foreach_alias(t->drain, alias_walk_cb, &w);
    pthread_mutex_unlock(&t->mu);
    return w.n;
}

void
sift_anomaly_templates_unref(struct sift_anomaly_templates *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    sift_mine_free(t->mine);
    pthread_mutex_destroy(&t->mu);
    sift_free(t);
}

/* ------------------------------------------------------------------ */
/* Service                                                              */
/* ------------------------------------------------------------------ */

struct alert_msg {
    struct alert_msg *next;
    enum sift_alert_event ev; /* 0: local window win closed (cluster) */
    int64_t win;
    struct sift_alert al;
};

/* Scoring thread -> loop.  See the file comment for its lifetime. */
struct relay {
    pthread_mutex_t mu;
    struct sift_loop *loop;
    struct sift_anomaly_service *svc; /* NULL once the service is gone */
    struct alert_msg *head, *tail;
    int posted; /* a drain callback is queued on the loop */
};

struct raise_ent {
    uint64_t key;
    double raise;
};

struct override {
    char series[SIFT_ALERT_SERIES_MAX];
    double threshold;
};

struct sift_anomaly_service {
    const struct sift_config *cfg;
    struct sift_loop *loop;
    struct sift_pipeline *pipe;
    struct sift_store *store;
    struct sift_pool *pool;
    char *templates_path;
    char *dirty_path;
    char *alerts_path;

    /* templates */
    struct sift_anomaly_templates *tmpl;
    uint32_t saved_next_id; /* next_id at the last save */
    int tmpl_dirty;
    uint64_t tmpl_saves, tmpl_save_errors;
    struct sift_timer *save_timer;

    /* scoring */
    struct sift_anomaly_cfg acfg;
    struct sift_anomaly *an;
    struct relay *relay;
    uint64_t records_pushed;
    struct override overrides[MAX_OVERRIDES];
    /* Cluster mode ([cluster] peers): the scorer sums every node's counts
     * (docs/internals/cluster.md); ask fetches the peers' (main wires). */
    struct sift_anomaly_cluster clcfg;
    char node_id[SIFT_NODE_ID_MAX + 1];
    sift_anomaly_service_ask_fn ask;
    void *ask_arg;
    uint32_t n_overrides;

    /* alerts store */
    struct sift_alert *ring; /* cap = max_kept */
    size_t cap, first, n;
    struct raise_ent *raises;
    size_t n_raises, cap_raises;
    int fd; /* alerts.ndjson, O_APPEND; -1 when not writable */
    uint64_t lines_since_compact;
    int persist_off; /* alerts.ndjson could not be kept: never rewrite it */
    uint64_t state_damage;     /* state files found damaged at start */
    uint64_t state_lines_lost; /* lines of them skipped */
    uint64_t alert_events;
    /* transitions by [event][kind] (sift_anomaly_service_alert_counts) */
    uint64_t alert_counts[SIFT_ANOMALY_N_EVENTS][SIFT_ANOMALY_N_KINDS];
    struct sift_alert_sinks *sinks;

    _Atomic uint64_t next_alert_id; /* shared by every alert source */
    sift_alert_silenced_cb silenced_cb;
    void *silenced_arg;

    int started;
    int query_hooked; /* sift_query_set_template_ids() points here */
    int stopped;
    int marker_ours; /* templates.dirty was created by this run */
};

/* ------------------------------------------------------------------ */
/* Alerts store                                                         */
/* ------------------------------------------------------------------ */

static struct sift_alert *
ring_at(struct sift_anomaly_service *svc, size_t i)
{
    return &svc->ring[(svc->first + i) % svc->cap];
}

/* Logical index of id, or -1. */
static long
ring_find(struct sift_anomaly_service *svc, uint64_t id)
{
    size_t lo = 0, hi = svc->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t v = ring_at(svc, mid)->id;
        if (v == id)
            return (long)mid;
        if (v < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Inserts or replaces al (by id).  Returns the stored copy or NULL when
 * the id is older than everything kept (dropped). */
static struct sift_alert *
store_put(struct sift_anomaly_service *svc, const struct sift_alert *al)
{
    long i = ring_find(svc, al->id);
    if (i >= 0) {
        struct sift_alert *dst = ring_at(svc, (size_t)i);
        *dst = *al;
        return dst;
    }
    if (svc->n == svc->cap && al->id < ring_at(svc, 0)->id)
        return NULL; /* older than everything kept: dropped */
    if (svc->n == svc->cap) {
        svc->first = (svc->first + 1) % svc->cap;
        svc->n--;
    }
    /* Ids come from two allocators (scorer, rules) sharing one counter,
     * so a new id may be older than the newest kept: insert in order
     * (it is near the end; few moves). */
    size_t at = svc->n;
    while (at > 0 && ring_at(svc, at - 1)->id > al->id) {
        *ring_at(svc, at) = *ring_at(svc, at - 1);
        at--;
    }
    struct sift_alert *dst = ring_at(svc, at);
    *dst = *al;
    svc->n++;
    return dst;
}

static double *
raise_slot(struct sift_anomaly_service *svc, uint64_t key, int create)
{
    for (size_t i = 0; i < svc->n_raises; i++) {
        if (svc->raises[i].key == key)
            return &svc->raises[i].raise;
    }
    if (!create)
        return NULL;
    if (svc->n_raises == svc->cap_raises) {
        svc->cap_raises = svc->cap_raises ? svc->cap_raises * 2 : 16;
        svc->raises =
            sift_xrealloc(svc->raises, svc->cap_raises * sizeof(*svc->raises));
    }
    svc->raises[svc->n_raises].key = key;
    svc->raises[svc->n_raises].raise = 0;
    return &svc->raises[svc->n_raises++].raise;
}

static double
base_threshold(const struct sift_anomaly_service *svc, const char *series)
{
    for (uint32_t i = 0; i < svc->n_overrides; i++) {
        if (strcmp(svc->overrides[i].series, series) == 0)
            return svc->overrides[i].threshold;
    }
    return svc->acfg.alerts.threshold;
}

/* One persisted line for an alert (internal form: key and enums). */
static void
line_alert(const struct sift_alert *al, struct sift_buf *b)
{
    size_t start = b->len;
    sift_buf_appendf(
        b, "{\"type\":\"alert\",\"id\":%" PRIu64 ",\"series\":", al->id);
    sift_buf_put_json_str(b, al->series, strlen(al->series));
    sift_buf_appendf(b,
                     ",\"key\":\"%016" PRIx64
                     "\",\"kind\":%u,\"state\":%u,\"label\":%u,"
                     "\"score\":%.17g,\"last_score\":%.17g,\"threshold\":%.17g,"
                     "\"started_ns\":%" PRId64 ",\"updated_ns\":%" PRId64
                     ",\"resolved_ns\":%" PRId64 ",\"windows\":%" PRIu32,
                     al->series_key, al->kind, al->state, al->label, al->score,
                     al->last_score, al->threshold, al->started_ns,
                     al->updated_ns, al->resolved_ns, al->n_windows);
    sift_alert_templates_json(al, b);
    sift_alert_related_json(al, b);
    sift_buf_appendf(b, ",\"transitions\":%" PRIu32, al->transitions);
    if (al->rule[0] != '\0') {
        SIFT_BUF_LIT(b, ",\"rule\":");
        sift_buf_put_json_str(b, al->rule, strlen(al->rule));
        sift_buf_appendf(b, ",\"severity\":%u,\"value\":%.17g", al->severity,
                         al->value);
        SIFT_BUF_LIT(b, ",\"labels\":");
        sift_buf_put_json_str(b, al->labels, strlen(al->labels));
        SIFT_BUF_LIT(b, ",\"query\":");
        sift_buf_put_json_str(b, al->query, strlen(al->query));
    }
    if (al->silenced)
        SIFT_BUF_LIT(b, ",\"silenced\":1");
    sift_buf_putc(b, '}');
    sift_statefile_line_end(b, start); /* checksum member and newline */
}

static void
line_raise(uint64_t key, double raise, struct sift_buf *b)
{
    size_t start = b->len;
    sift_buf_appendf(
        b, "{\"type\":\"raise\",\"key\":\"%016" PRIx64 "\",\"value\":%.17g}",
        key, raise);
    sift_statefile_line_end(b, start);
}

static void compact(struct sift_anomaly_service *svc);

/* Appends lines to alerts.ndjson; compacts when it has grown enough. */
static void
persist(struct sift_anomaly_service *svc, struct sift_buf *b, unsigned lines)
{
    if (svc->fd < 0 || svc->persist_off)
        return;
    int rc = sift_file_write_all(svc->fd, b->data, b->len);
    if (rc < 0) {
        SIFT_ERROR("anomaly: cannot append to %s: %s", svc->alerts_path,
                   sift_strerror(rc));
        return;
    }
    svc->lines_since_compact += lines;
    if (svc->lines_since_compact > 2 * (uint64_t)svc->cap + 1000)
        compact(svc);
}

/* Rewrites alerts.ndjson from memory (sift_file_replace()), reopens. */
static void
compact(struct sift_anomaly_service *svc)
{
    if (svc->persist_off)
        return;
    struct sift_buf b = SIFT_BUF_INIT;
    for (size_t i = 0; i < svc->n; i++)
        line_alert(ring_at(svc, i), &b);
    for (size_t i = 0; i < svc->n_raises; i++) {
        if (svc->raises[i].raise > 0)
            line_raise(svc->raises[i].key, svc->raises[i].raise, &b);
    }
    int rc = sift_file_replace(svc->alerts_path, b.data, b.len, 0640, 0);
    if (rc < 0) {
        SIFT_ERROR("anomaly: cannot rewrite %s: %s", svc->alerts_path,
                   sift_strerror(rc));
    } else {
        if (svc->fd >= 0)
            close(svc->fd);
        svc->fd = open(svc->alerts_path,
                       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (svc->fd < 0)
            SIFT_ERROR("anomaly: cannot open %s: %s", svc->alerts_path,
                       strerror(errno));
        svc->lines_since_compact = 0;
    }
    sift_buf_cleanup(&b);
}

static int
parse_key(const char *s, uint64_t *out)
{
    if (!s)
        return SIFT_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 16);
    if (errno || end == s || *end)
        return SIFT_EINVAL;
    *out = (uint64_t)v;
    return SIFT_OK;
}

static int
alert_from_json(json_t *o, struct sift_alert *al)
{
    memset(al, 0, sizeof(*al));
    json_t *id = json_object_get(o, "id");
    const char *series = json_string_value(json_object_get(o, "series"));
    if (!json_is_integer(id) || json_integer_value(id) <= 0 || !series ||
        parse_key(json_string_value(json_object_get(o, "key")),
                  &al->series_key) < 0)
        return SIFT_ECORRUPT;
    al->id = (uint64_t)json_integer_value(id);
    snprintf(al->series, sizeof(al->series), "%s", series);
    al->kind = (uint8_t)json_integer_value(json_object_get(o, "kind"));
    al->state = (uint8_t)json_integer_value(json_object_get(o, "state"));
    al->label = (uint8_t)json_integer_value(json_object_get(o, "label"));
    al->score = json_number_value(json_object_get(o, "score"));
    al->last_score = json_number_value(json_object_get(o, "last_score"));
    al->threshold = json_number_value(json_object_get(o, "threshold"));
    al->started_ns = json_integer_value(json_object_get(o, "started_ns"));
    al->updated_ns = json_integer_value(json_object_get(o, "updated_ns"));
    al->resolved_ns = json_integer_value(json_object_get(o, "resolved_ns"));
    al->n_windows = (uint32_t)json_integer_value(json_object_get(o, "windows"));
    json_t *tv = json_object_get(o, "templates");
    for (size_t i = 0; json_is_array(tv) && i < json_array_size(tv) &&
                       al->n_templates < SIFT_ALERT_TEMPLATES_MAX;
         i++) {
        json_int_t v = json_integer_value(json_array_get(tv, i));
        if (v > 0 && v <= (json_int_t)UINT32_MAX)
            al->templates[al->n_templates++] = (uint32_t)v;
    }
    json_int_t tt = json_integer_value(json_object_get(o, "templates_total"));
    al->n_templates_total =
        tt > (json_int_t)al->n_templates && tt <= (json_int_t)UINT32_MAX
            ? (uint32_t)tt
            : al->n_templates;
    json_t *rv = json_object_get(o, "related");
    for (size_t i = 0; json_is_array(rv) && i < json_array_size(rv) &&
                       al->n_related < SIFT_ALERT_RELATED_MAX;
         i++) {
        json_t *r = json_array_get(rv, i);
        const char *rs = json_string_value(json_object_get(r, "series"));
        const char *rk = json_string_value(json_object_get(r, "kind"));
        int k = rk ? sift_alert_kind_parse(rk) : -1;
        if (!rs || k < 0)
            continue;
        struct sift_alert_related *x = &al->related[al->n_related++];
        x->kind = (uint8_t)k;
        snprintf(x->series, sizeof(x->series), "%s", rs);
    }
    json_int_t rt = json_integer_value(json_object_get(o, "related_total"));
    al->n_related_total =
        rt > (json_int_t)al->n_related && rt <= (json_int_t)UINT32_MAX
            ? (uint32_t)rt
            : al->n_related;
    al->transitions =
        (uint32_t)json_integer_value(json_object_get(o, "transitions"));
    al->silenced = json_integer_value(json_object_get(o, "silenced")) != 0;
    const char *rule = json_string_value(json_object_get(o, "rule"));
    if (rule) {
        snprintf(al->rule, sizeof(al->rule), "%s", rule);
        al->severity =
            (uint8_t)json_integer_value(json_object_get(o, "severity"));
        al->value = json_number_value(json_object_get(o, "value"));
        const char *v = json_string_value(json_object_get(o, "labels"));
        snprintf(al->labels, sizeof(al->labels), "%s", v ? v : "");
        v = json_string_value(json_object_get(o, "query"));
        snprintf(al->query, sizeof(al->query), "%s", v ? v : "");
    }
    if (al->kind < SIFT_ALERT_SPIKE || al->kind > SIFT_ALERT_TEST ||
        (al->state != SIFT_ALERT_FIRING && al->state != SIFT_ALERT_RESOLVED) ||
        al->label > SIFT_LABEL_TRUE_POSITIVE)
        return SIFT_ECORRUPT;
    return SIFT_OK;
}

/*
 * Replays alerts.ndjson into the store (one rule for state files,
 * include/sift/statefile.h): a damaged line (bad checksum or syntax) is
 * skipped alone and reported, and the file as it was is copied to
 * quarantine/ before the start-up compaction rewrites it; a last line
 * without its newline is an append a crash cut (skipped, not damage).  A
 * file that cannot be read is moved to quarantine/ and the service
 * starts without its history; if even that fails, alerts are not
 * persisted this run (svc->persist_off) rather than overwriting it.
 */
struct alerts_ctx {
    struct sift_anomaly_service *svc;
    unsigned bad, torn, n;
};

static int
alerts_line(char *line, size_t len, unsigned lineno, int ok, int whole,
            void *arg)
{
    struct alerts_ctx *c = arg;
    struct sift_anomaly_service *svc = c->svc;
    json_error_t jerr;
    json_t *o = ok ? json_loadb(line, len, 0, &jerr) : NULL;
    const char *type = o ? json_string_value(json_object_get(o, "type")) : NULL;
    struct sift_alert al;
    uint64_t key;
    /* Lines are replayed in order; the ring needs ids in order, so a line
     * for an id older than the newest kept updates it in place. */
    if (type && strcmp(type, "alert") == 0 &&
        alert_from_json(o, &al) == SIFT_OK) {
        store_put(svc, &al);
        c->n++;
    } else if (type && strcmp(type, "raise") == 0 &&
               parse_key(json_string_value(json_object_get(o, "key")), &key) ==
                   SIFT_OK &&
               json_is_number(json_object_get(o, "value"))) {
        *raise_slot(svc, key, 1) =
            json_number_value(json_object_get(o, "value"));
    } else if (!whole) {
        c->torn++;
    } else {
        c->bad++;
        SIFT_ERROR("anomaly: %s: line %u is damaged; skipped", svc->alerts_path,
                   lineno);
    }
    json_decref(o);
    return 0;
}

static void
load_alerts(struct sift_anomaly_service *svc)
{
    char *data = NULL;
    size_t size = 0;
    int rc = sift_file_read_all(svc->alerts_path, SIZE_MAX, &data, &size);
    if (rc == -ENOENT)
        return;
    if (rc < 0) {
        svc->state_damage++;
        if (sift_statefile_quarantine(svc->cfg->data_dir, svc->alerts_path, 1,
                                      "unreadable", NULL) < 0) {
            svc->persist_off = 1;
            SIFT_ERROR("anomaly: %s cannot be read (%s) nor moved aside; "
                       "alerts are not persisted until it is fixed",
                       svc->alerts_path, sift_strerror(rc));
        }
        return;
    }
    struct alerts_ctx c = {svc, 0, 0, 0};
    (void)sift_statefile_lines(data, size, alerts_line, &c);
    sift_free(data);
    if (c.torn)
        SIFT_WARN("anomaly: %s: the last line was cut by a crash; skipped",
                  svc->alerts_path);
    if (c.bad) {
        svc->state_damage++;
        svc->state_lines_lost += c.bad;
        char why[64];
        snprintf(why, sizeof(why), "damaged (%u line%s skipped)", c.bad,
                 c.bad == 1 ? "" : "s");
        if (sift_statefile_quarantine(svc->cfg->data_dir, svc->alerts_path, 0,
                                      why, NULL) < 0)
            svc->persist_off = 1; /* never rewrite what was not kept */
    }
    if (c.n)
        SIFT_INFO("anomaly: %zu alert(s) restored from %s", svc->n,
                  svc->alerts_path);
}

/* Hands the persisted state back to the scorer (before its start). */
static void
restore_scorer(struct sift_anomaly_service *svc)
{
    if (svc->n > 0)
        sift_anomaly_set_next_alert_id(svc->an,
                                       ring_at(svc, svc->n - 1)->id + 1);
    for (size_t i = 0; i < svc->n; i++)
        sift_anomaly_restore_alert(svc->an, ring_at(svc, i));
    for (size_t i = 0; i < svc->n_raises; i++)
        sift_anomaly_set_raise(svc->an, svc->raises[i].key,
                               svc->raises[i].raise);
}

/* A transition (scorer, rules, test), on the loop: merge, persist,
 * deliver unless a silence matches. */
static void
handle_alert(struct sift_anomaly_service *svc, enum sift_alert_event ev,
             const struct sift_alert *in)
{
    struct sift_alert al = *in;
    long i = ring_find(svc, al.id);
    if (i >= 0)
        al.label = ring_at(svc, (size_t)i)->label; /* the store owns labels */
    al.silenced =
        svc->silenced_cb && svc->silenced_cb(svc->silenced_arg, &al) ? 1 : 0;
    store_put(svc, &al);
    svc->alert_events++;
    svc->alert_counts[ev >= 1 && ev < SIFT_ANOMALY_N_EVENTS ? ev : 0]
                     [al.kind >= 1 && al.kind < SIFT_ANOMALY_N_KINDS ? al.kind
                                                                     : 0]++;
    struct sift_buf b = SIFT_BUF_INIT;
    line_alert(&al, &b);
    persist(svc, &b, 1);
    sift_buf_cleanup(&b);
    if (ev == SIFT_ALERT_EV_FIRE)
        SIFT_INFO("anomaly: alert %" PRIu64 " fired: %s %s score %.0f", al.id,
                  al.series, sift_alert_kind_name(al.kind), al.score);
    else if (ev == SIFT_ALERT_EV_RESOLVE)
        SIFT_INFO("anomaly: alert %" PRIu64 " resolved: %s %s", al.id,
                  al.series, sift_alert_kind_name(al.kind));
    if (al.silenced)
        SIFT_INFO("alerts: alert %" PRIu64 " (%s, %s) silenced: not sent",
                  al.id, al.series,
                  ev == SIFT_ALERT_EV_FIRE     ? "fire"
                  : ev == SIFT_ALERT_EV_UPDATE ? "update"
                                               : "resolve");
    else if (svc->sinks)
        sift_alert_sinks_send(svc->sinks, ev, &al);
}

/* ------------------------------------------------------------------ */
/* Relay: scoring thread -> loop                                        */
/* ------------------------------------------------------------------ */

static struct alert_msg *
relay_take(struct relay *r)
{
    pthread_mutex_lock(&r->mu);
    struct alert_msg *list = r->head;
    r->head = r->tail = NULL;
    pthread_mutex_unlock(&r->mu);
    return list;
}

static void window_closed(struct sift_anomaly_service *svc, int64_t win);

static void
relay_process(struct sift_anomaly_service *svc, struct alert_msg *list)
{
    while (list) {
        struct alert_msg *next = list->next;
        if (svc && list->ev == 0)
            window_closed(svc, list->win);
        else if (svc)
            handle_alert(svc, list->ev, &list->al);
        sift_free(list);
        list = next;
    }
}

static void
relay_drain(void *arg)
{
    struct relay *r = arg;
    pthread_mutex_lock(&r->mu);
    struct alert_msg *list = r->head;
    r->head = r->tail = NULL;
    r->posted = 0;
    struct sift_anomaly_service *svc = r->svc;
    pthread_mutex_unlock(&r->mu);
    relay_process(svc, list);
    if (!svc) { /* the service stopped while this drain was queued */
        pthread_mutex_destroy(&r->mu);
        sift_free(r);
    }
}

static void
relay_push(struct relay *r, struct alert_msg *m)
{
    pthread_mutex_lock(&r->mu);
    if (r->tail)
        r->tail->next = m;
    else
        r->head = m;
    r->tail = m;
    int post = !r->posted;
    r->posted = 1;
    pthread_mutex_unlock(&r->mu);
    if (post)
        sift_loop_post(r->loop, relay_drain, r);
}

/* Scoring thread: copy, queue, wake the loop once per batch. */
static void
on_alert_thread(enum sift_alert_event ev, const struct sift_alert *al,
                void *arg)
{
    struct alert_msg *m = sift_xmalloc(sizeof(*m));
    m->next = NULL;
    m->ev = ev;
    m->win = 0;
    m->al = *al;
    relay_push(arg, m);
}

/* Scoring thread (cluster): local window win closed; the loop asks the
 * peers for theirs (window_closed()). */
static void
on_window_thread(void *arg, int64_t win)
{
    struct alert_msg *m = sift_xcalloc(1, sizeof(*m));
    m->win = win;
    relay_push(arg, m);
}

/* Any thread: a template's text for the peers (ids are per node). */
static int
window_text(void *arg, uint32_t id, struct sift_buf *out)
{
    return sift_anomaly_templates_text(arg, id, out);
}

/* The peers' counts of win (or none: not wired, the cluster stopping)
 * go to the scorer. */
static void
on_window_answers(void *arg, int64_t win, const struct sift_anomaly_answer *a,
                  size_t n, size_t n_failed)
{
    struct sift_anomaly_service *svc = arg;
    sift_anomaly_merge_window(svc->an, win, a, n, n_failed);
}

static void
window_closed(struct sift_anomaly_service *svc, int64_t win)
{
    if (svc->ask && !svc->stopped)
        svc->ask(svc->ask_arg, win, on_window_answers, svc);
    else
        sift_anomaly_merge_window(svc->an, win, NULL, 0, 0);
}

void
sift_anomaly_service_set_ask(struct sift_anomaly_service *svc,
                             sift_anomaly_service_ask_fn ask, void *arg)
{
    svc->ask = ask;
    svc->ask_arg = arg;
}

int
sift_anomaly_service_window_json(struct sift_anomaly_service *svc, int64_t win,
                                 struct sift_buf *out)
{
    return sift_anomaly_window_json(svc->an, win, out);
}

void
sift_anomaly_service_cluster_stats(struct sift_anomaly_service *svc,
                                   struct sift_anomaly_cluster_stats *out)
{
    sift_anomaly_cluster_stats(svc->an, out);
}

/* ------------------------------------------------------------------ */
/* Templates                                                            */
/* ------------------------------------------------------------------ */

static const char *
cfg_data_dir(const struct sift_anomaly_service *svc)
{
    return svc->cfg->data_dir;
}

static void
save_templates(struct sift_anomaly_service *svc)
{
    struct sift_drain *d = svc->tmpl->drain;
    /* Only the loop mutates the miner, so reading it here needs no lock. */
    uint32_t next = sift_drain_next_id(d);
    int rc = sift_drain_save(d, svc->templates_path);
    if (rc < 0) {
        svc->tmpl_save_errors++;
        SIFT_ERROR("anomaly: cannot save templates to %s: %s",
                   svc->templates_path, sift_strerror(rc));
        return;
    }
    svc->tmpl_saves++;
    svc->tmpl_dirty = 0;
    svc->saved_next_id = next;
}

static void
on_save_timer(void *arg)
{
    struct sift_anomaly_service *svc = arg;
    if (svc->tmpl_dirty)
        save_templates(svc);
}

static int
stage_template(void *arg, struct sift_event *ev, struct sift_arena *arena)
{
    struct sift_anomaly_service *svc = arg;
    struct sift_anomaly_templates *t = svc->tmpl;
    pthread_mutex_lock(&t->mu);
    int rc = sift_mine_event(t->mine, ev, arena, NULL);
    uint32_t next = sift_drain_next_id(t->drain);
    pthread_mutex_unlock(&t->mu);
    if (rc < 0)
        return rc; /* the arena is full: the batch is refused */
    svc->tmpl_dirty = 1;
    /* Unsigned difference: also right across the counter's wrap. */
    if (next - svc->saved_next_id >= ID_SAVE_BATCH)
        save_templates(svc);
    return SIFT_OK;
}

static int
stage_anomaly(void *arg, struct sift_event *ev, struct sift_arena *arena)
{
    struct sift_anomaly_service *svc = arg;
    (void)arena;
    const struct sift_field *svc_f = sift_event_field(ev, "service.name", 12);
    const struct sift_field *lvl_f = sift_event_field(ev, "log.level", 9);
    struct sift_anomaly_rec rec;
    /* The window is picked by arrival: no event time can hold one open. */
    sift_anomaly_rec_init(
        &rec, sift_clock_now_ns(), svc_f ? svc_f->value : NULL,
        svc_f ? svc_f->value_len : 0,
        lvl_f ? sift_anomaly_level_parse(lvl_f->value, lvl_f->value_len)
              : SIFT_LVL_UNKNOWN,
        ev->template_id);
    sift_anomaly_rec_set_event_time(&rec, ev->ts_ns);
    if (sift_anomaly_push(svc->an, &rec) == SIFT_OK)
        svc->records_pushed++;
    return SIFT_OK; /* a full ring drops and counts; ingest goes on */
}

static int
open_templates(struct sift_anomaly_service *svc)
{
    struct sift_mine_cfg mcfg;
    memset(&mcfg, 0, sizeof(mcfg));
    mcfg.drain.max_templates = (uint32_t)svc->cfg->max_templates;
    struct sift_anomaly_templates *t = sift_xcalloc(1, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->refs, 1);
    sift_mine_new(&mcfg, &t->mine);
    t->drain = sift_mine_drain(t->mine);
    svc->tmpl = t;

    /* One rule for state files (include/sift/statefile.h): a damaged
     * line costs its template's text alone, the file as it was is kept
     * in quarantine/ before the next save rewrites it, and a file that
     * cannot be read is moved there; ids are never handed out twice. */
    int rc = sift_drain_load(t->drain, svc->templates_path);
    int header_bad = 0;
    uint32_t bad =
        rc == SIFT_OK ? sift_drain_load_damage(t->drain, &header_bad) : 0;
    if (rc < 0 && rc != -ENOENT) {
        svc->state_damage++;
        rc = sift_statefile_quarantine(cfg_data_dir(svc), svc->templates_path,
                                       1, "unreadable", NULL);
        if (rc < 0) {
            SIFT_ERROR("anomaly: %s can neither be read nor moved aside; "
                       "refusing to start over it (template ids must not "
                       "be reused)",
                       svc->templates_path);
            return rc;
        }
        header_bad = 1;
    } else if (bad > 0) {
        char why[64];
        svc->state_damage++;
        svc->state_lines_lost += bad;
        snprintf(why, sizeof(why), "damaged (%u line%s skipped)", bad,
                 bad == 1 ? "" : "s");
        (void)sift_statefile_quarantine(cfg_data_dir(svc), svc->templates_path,
                                        0, why, NULL);
        svc->tmpl_dirty = 1; /* rewrite it clean at the next save */
    }
    if (header_bad) {
        /* Stored docs may carry ids above any we read; skip far. */
        sift_drain_skip_ids(t->drain, 1u << 24);
        svc->tmpl_dirty = 1;
    }
    if (rc == SIFT_OK)
        SIFT_INFO("anomaly: %u template(s) loaded from %s",
                  sift_drain_count(t->drain), svc->templates_path);
    svc->saved_next_id = sift_drain_next_id(t->drain);

    struct stat st;
    if (stat(svc->dirty_path, &st) == 0) {
        SIFT_WARN("anomaly: the last stop was unclean; template ids skip %u "
                  "ahead",
                  ID_SAVE_BATCH);
        sift_drain_skip_ids(t->drain, ID_SAVE_BATCH);
        save_templates(svc);
    }
    int fd = open(svc->dirty_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        rc = -errno;
        SIFT_ERROR("anomaly: cannot create %s: %s", svc->dirty_path,
                   sift_strerror(rc));
        return rc;
    }
    close(fd);
    svc->marker_ours = 1;
    return SIFT_OK;
}

/* ------------------------------------------------------------------ */
/* Configuration                                                        */
/* ------------------------------------------------------------------ */

/* "series:N,series:N" (validated by the config table). */
static int
parse_overrides(struct sift_anomaly_service *svc, const char *s)
{
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *colon = NULL;
        for (size_t i = 0; i < len; i++) {
            if (p[i] == ':')
                colon = p + i;
        }
        if (colon) {
            const char *name = p;
            size_t nlen = (size_t)(colon - p);
            while (nlen > 0 && *name == ' ') {
                name++;
                nlen--;
            }
            while (nlen > 0 && name[nlen - 1] == ' ')
                nlen--;
            double thr = strtod(colon + 1, NULL);
            if (svc->n_overrides == MAX_OVERRIDES ||
                nlen >= SIFT_ALERT_SERIES_MAX || nlen == 0) {
                SIFT_ERROR("anomaly.series_thresholds: at most %d series of "
                           "at most %d bytes",
                           MAX_OVERRIDES, SIFT_ALERT_SERIES_MAX - 1);
                return SIFT_ECONFIG;
            }
            struct override *o = &svc->overrides[svc->n_overrides++];
            memcpy(o->series, name, nlen);
            o->series[nlen] = '\0';
            o->threshold = thr;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return SIFT_OK;
}

static void
anomaly_cfg_from(const struct sift_config *cfg, struct sift_anomaly_cfg *a)
{
    sift_anomaly_cfg_init(a);
    a->window_ns = cfg->anomaly_window_ms * SIFT_NS_PER_MS;
    a->ring_records = (uint32_t)cfg->anomaly_ring_size;
    a->warmup_windows = (uint32_t)cfg->anomaly_warmup_windows;
    a->global_warmup_windows = (uint32_t)cfg->anomaly_warmup_windows;
    /* Whole windows, rounded up: a service is "known" once it has been
     * seen for the learning period of event time. */
    a->learning_windows = (uint32_t)((cfg->anomaly_learning_period_ms +
                                      cfg->anomaly_window_ms - 1) /
                                     cfg->anomaly_window_ms);
    a->alpha = strtod(cfg->anomaly_alpha, NULL);
    a->drop_ratio = strtod(cfg->anomaly_drop_ratio, NULL);
    a->drop_windows = (uint32_t)cfg->anomaly_drop_windows;
    a->idle_flush_ns = cfg->anomaly_idle_flush_ms * SIFT_NS_PER_MS;
    a->max_lateness_ns = cfg->anomaly_max_lateness_ms * SIFT_NS_PER_MS;
    a->max_series = (uint32_t)cfg->anomaly_max_series;
    a->seasonality = cfg->anomaly_seasonality != 0;
    a->season_min_days = (double)cfg->anomaly_seasonality_days;
    a->alerts.threshold = (double)cfg->anomaly_threshold;
    a->alerts.hold_windows = (uint32_t)cfg->anomaly_hold_windows;
    a->alerts.resolve_windows = (uint32_t)cfg->anomaly_resolve_windows;
    a->alerts.cooldown_ns = cfg->anomaly_cooldown_ms * SIFT_NS_PER_MS;
    a->alerts.fp_raise = (double)cfg->anomaly_fp_raise;
    a->alerts.max_raise = (double)cfg->anomaly_max_raise;
}

/*
 * Cluster mode: this node's id (as main names it: [cluster] node_id, else
 * DATA_DIR/node_id), windows closing a tenth of a window (at most 1 s)
 * after their end, and a window's answers given up on after twice
 * cluster.timeout (the asks end within one).
 */
static int
cluster_cfg_from(struct sift_anomaly_service *svc)
{
    const struct sift_config *cfg = svc->cfg;
    if (cfg->cluster_node_id && cfg->cluster_node_id[0]) {
        snprintf(svc->node_id, sizeof(svc->node_id), "%s",
                 cfg->cluster_node_id);
    } else {
        int rc = sift_node_id_load(cfg->data_dir, svc->node_id,
                                   sizeof(svc->node_id), NULL);
        if (rc < 0)
            return rc;
    }
    int64_t w = svc->acfg.window_ns;
    svc->clcfg.node_id = svc->node_id;
    svc->clcfg.grace_ns = w / 10 < SIFT_NS_PER_SEC ? w / 10 : SIFT_NS_PER_SEC;
    svc->clcfg.give_up_ns = 2 * cfg->cluster_timeout_ms * SIFT_NS_PER_MS;
    svc->clcfg.closed = on_window_thread;
    svc->clcfg.closed_arg = svc->relay;
    svc->clcfg.text = window_text;
    svc->clcfg.text_arg = svc->tmpl;
    svc->acfg.cluster = &svc->clcfg;
    return SIFT_OK;
}

static char *
data_path(const struct sift_config *cfg, const char *name)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "%s/%s", cfg->data_dir, name);
    sift_buf_cstr(&b); /* detach hands over the bytes as they are */
    return sift_buf_detach(&b, NULL);
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                           */
/* ------------------------------------------------------------------ */

int
sift_anomaly_service_new(const struct sift_config *cfg, struct sift_loop *loop,
                         struct sift_pipeline *pipe, struct sift_store *store,
                         struct sift_pool *pool,
                         struct sift_anomaly_service **out)
{
    struct sift_anomaly_service *svc = sift_xcalloc(1, sizeof(*svc));
    int rc;
    svc->cfg = cfg;
    svc->loop = loop;
    svc->pipe = pipe;
    svc->store = store;
    svc->pool = pool;
    svc->fd = -1;
    svc->templates_path = data_path(cfg, "templates.txt");
    svc->dirty_path = data_path(cfg, "templates.dirty");
    svc->alerts_path = data_path(cfg, "alerts.ndjson");
    svc->cap = (size_t)cfg->alert_max_kept;
    svc->ring = sift_xcalloc(svc->cap, sizeof(*svc->ring));

    rc = open_templates(svc);
    if (rc < 0)
        goto fail;

    anomaly_cfg_from(cfg, &svc->acfg);
    svc->relay = sift_xcalloc(1, sizeof(*svc->relay));
    pthread_mutex_init(&svc->relay->mu, NULL);
    svc->relay->loop = loop;
    svc->relay->svc = svc;
    if (cfg->cluster_peers && cfg->cluster_peers[0]) {
        rc = cluster_cfg_from(svc);
        if (rc < 0)
            goto fail;
    }
    rc = sift_anomaly_new(&svc->acfg, on_alert_thread, svc->relay, &svc->an);
    if (rc < 0)
        goto fail;
    /* One id space for learned, rule and test alerts. */
    atomic_init(&svc->next_alert_id, 1);
    sift_anomaly_share_alert_ids(svc->an, &svc->next_alert_id);
    rc = parse_overrides(svc, cfg->anomaly_series_thresholds);
    if (rc < 0)
        goto fail;
    for (uint32_t i = 0; i < svc->n_overrides; i++)
        sift_anomaly_set_override(svc->an, svc->overrides[i].series,
                                  svc->overrides[i].threshold);

    load_alerts(svc);
    restore_scorer(svc);
    compact(svc); /* drops torn tails and superseded lines; opens fd */

    enum sift_webhook_format fmt = SIFT_WEBHOOK_SIFT;
    (void)sift_webhook_format_parse(cfg->alert_webhook_format, &fmt);
    struct sift_alert_sinks_cfg scfg = {
        .data_dir = cfg->data_dir,
        .webhook_url = cfg->alert_webhook_url,
        .webhook_format = fmt,
        .webhook_timeout_ms = cfg->alert_webhook_timeout_ms,
        .webhook_concurrency = (uint32_t)cfg->alert_webhook_concurrency,
        .retries = (uint32_t)(cfg->alert_webhook_retries >= 0
                                  ? cfg->alert_webhook_retries
                                  : cfg->alert_retries),
        .backoff_ms = cfg->alert_backoff_ms,
        .backoff_max_ms = cfg->alert_backoff_max_ms,
        .outbox_max = (size_t)cfg->alert_outbox_max,
        .external_url = cfg->alert_external_url,
        .redis_address = cfg->alert_redis_address[0] ? cfg->alert_redis_address
                                                     : cfg->redis_address,
        .redis_channel = cfg->alert_redis_channel,
        .redis_stream = cfg->alert_redis_stream,
        .kafka_brokers = cfg->kafka_brokers,
        .kafka_topic = cfg->alert_kafka_topic,
        .kafka_properties = cfg->kafka_properties,
    };
    if (cfg->alert_kafka_topic[0] && !cfg->kafka_brokers[0])
        SIFT_WARN("alerts.kafka_topic is set but kafka.brokers is empty: no "
                  "Kafka alerts");
    if ((cfg->alert_redis_channel[0] || cfg->alert_redis_stream[0]) &&
        !scfg.redis_address[0])
        SIFT_WARN("alerts.redis_channel/redis_stream set but no Redis "
                  "address (alerts.redis_address, redis.address): no Redis "
                  "alerts");
    rc = sift_alert_sinks_new(sift_loop_base(loop), &scfg, &svc->sinks);
    if (rc < 0) {
        svc->sinks = NULL;
        goto fail;
    }

    rc = sift_anomaly_start(svc->an);
    if (rc < 0)
        goto fail;
    svc->started = 1;
    sift_pipeline_set_stage(pipe, SIFT_STAGE_TEMPLATE, stage_template, svc);
    sift_pipeline_set_stage(pipe, SIFT_STAGE_ANOMALY, stage_anomaly, svc);
    svc->save_timer = sift_loop_timer_new(loop, (uint32_t)cfg->template_save_ms,
                                          on_save_timer, svc);
    sift_query_set_template_ids(query_template_ids, svc->tmpl);
    svc->query_hooked = 1;
    *out = svc;
    return SIFT_OK;
fail:
    sift_anomaly_service_free(svc);
    return rc;
}

void
sift_anomaly_service_stop(struct sift_anomaly_service *svc)
{
    if (!svc || svc->stopped)
        return;
    svc->stopped = 1;
    if (svc->query_hooked) {
        /* Queries finishing during shutdown must not call back. */
        sift_query_set_template_ids(NULL, NULL);
        svc->query_hooked = 0;
    }
    if (svc->pipe) {
        sift_pipeline_set_stage(svc->pipe, SIFT_STAGE_TEMPLATE, NULL, NULL);
        sift_pipeline_set_stage(svc->pipe, SIFT_STAGE_ANOMALY, NULL, NULL);
    }
    sift_loop_timer_free(svc->save_timer);
    svc->save_timer = NULL;
    if (svc->an && svc->started) {
        sift_anomaly_stop(svc->an); /* scores what is queued; may alert */
        svc->started = 0;
    }
    if (svc->relay) {
        /* The thread is joined: nothing adds to the relay any more. */
        relay_process(svc, relay_take(svc->relay));
        pthread_mutex_lock(&svc->relay->mu);
        svc->relay->svc = NULL;
        int posted = svc->relay->posted;
        pthread_mutex_unlock(&svc->relay->mu);
        if (!posted) {
            pthread_mutex_destroy(&svc->relay->mu);
            sift_free(svc->relay);
        }
        svc->relay = NULL; /* else the queued drain frees it */
    }
    sift_alert_sinks_free(svc->sinks);
    svc->sinks = NULL;
    if (svc->tmpl) {
        if (svc->tmpl_dirty)
            save_templates(svc);
        if (svc->marker_ours && !svc->tmpl_dirty && svc->tmpl_save_errors == 0)
            unlink(svc->dirty_path); /* clean stop: ids are all saved */
    }
    if (svc->fd >= 0) {
        if (fsync(svc->fd) != 0)
            SIFT_WARN("anomaly: fsync %s: %s", svc->alerts_path,
                      strerror(errno));
        close(svc->fd);
        svc->fd = -1;
    }
}

void
sift_anomaly_service_free(struct sift_anomaly_service *svc)
{
    if (!svc)
        return;
    sift_anomaly_service_stop(svc);
    sift_anomaly_free(svc->an);
    sift_anomaly_templates_unref(svc->tmpl);
    sift_free(svc->ring);
    sift_free(svc->raises);
    sift_free(svc->templates_path);
    sift_free(svc->dirty_path);
    sift_free(svc->alerts_path);
    sift_free(svc);
}

/* ------------------------------------------------------------------ */
/* Queries                                                              */
/* ------------------------------------------------------------------ */

void
sift_anomaly_service_alerts(struct sift_anomaly_service *svc, int64_t from_ns,
                            int64_t to_ns, sift_alert_each_cb cb, void *arg)
{
    for (size_t i = 0; i < svc->n; i++) {
        const struct sift_alert *al = ring_at(svc, i);
        int64_t end = al->state == SIFT_ALERT_FIRING || al->resolved_ns == 0
                          ? INT64_MAX
                          : al->resolved_ns;
        if (al->started_ns >= to_ns || end < from_ns)
            continue;
        if (cb(al, arg))
            return;
    }
}

int
sift_anomaly_service_alert_get(struct sift_anomaly_service *svc, uint64_t id,
                               struct sift_alert *out)
{
    long i = ring_find(svc, id);
    if (i < 0)
        return SIFT_ENOTFOUND;
    *out = *ring_at(svc, (size_t)i);
    return SIFT_OK;
}

int
sift_anomaly_service_feedback(struct sift_anomaly_service *svc, uint64_t id,
                              enum sift_alert_label label,
                              struct sift_alert *out, double *threshold)
{
    if (label != SIFT_LABEL_FALSE_POSITIVE && label != SIFT_LABEL_TRUE_POSITIVE)
        return SIFT_EINVAL;
    long i = ring_find(svc, id);
    if (i < 0)
        return SIFT_ENOTFOUND;
    struct sift_alert *al = ring_at(svc, (size_t)i);
    double *raise = raise_slot(svc, al->series_key, 1);
    double next = sift_alerts_raise_step(
        &svc->acfg.alerts, *raise, (enum sift_alert_label)al->label, label);
    struct sift_buf b = SIFT_BUF_INIT;
    unsigned lines = 0;
    if (al->label != (uint8_t)label) {
        al->label = (uint8_t)label;
        line_alert(al, &b);
        lines++;
    }
    if (next != *raise) {
        *raise = next;
        line_raise(al->series_key, next, &b);
        lines++;
        sift_anomaly_set_raise(svc->an, al->series_key, next);
    }
    if (lines) {
        SIFT_INFO("anomaly: alert %" PRIu64 " marked %s; %s threshold %.0f", id,
                  label == SIFT_LABEL_FALSE_POSITIVE ? "false_positive"
                                                     : "true_positive",
                  al->series, base_threshold(svc, al->series) + next);
        persist(svc, &b, lines);
    }
    sift_buf_cleanup(&b);
    /* persist() may compact, which does not move ring entries. */
    if (out)
        *out = *al;
    if (threshold) {
        double t = base_threshold(svc, al->series) + next;
        *threshold = t > 99.9 ? 99.9 : t;
    }
    return SIFT_OK;
}

int
sift_anomaly_service_template_text(struct sift_anomaly_service *svc,
                                   uint32_t id, struct sift_buf *out)
{
    return sift_anomaly_templates_text(svc->tmpl, id, out);
}

struct sift_anomaly_templates *
sift_anomaly_service_templates(struct sift_anomaly_service *svc)
{
    atomic_fetch_add(&svc->tmpl->refs, 1);
    return svc->tmpl;
}

void
sift_anomaly_service_alert_counts(
    struct sift_anomaly_service *svc,
    uint64_t out[SIFT_ANOMALY_N_EVENTS][SIFT_ANOMALY_N_KINDS])
{
    memcpy(out, svc->alert_counts, sizeof(svc->alert_counts));
}

void
sift_anomaly_service_stats(struct sift_anomaly_service *svc,
                           struct sift_anomaly_service_stats *out)
{
    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&svc->tmpl->mu);
    out->templates = sift_drain_count(svc->tmpl->drain);
    out->templates_evicted = sift_drain_evicted(svc->tmpl->drain);
    out->templates_merged = sift_drain_merged(svc->tmpl->drain);
    out->template_aliases = sift_drain_aliases(svc->tmpl->drain);
    out->header_sources =
        sift_header_sources(sift_mine_header(svc->tmpl->mine));
    pthread_mutex_unlock(&svc->tmpl->mu);
    out->template_saves = svc->tmpl_saves;
    out->template_save_errors = svc->tmpl_save_errors;
    out->records_pushed = svc->records_pushed;
    out->records_dropped = svc->an ? sift_anomaly_dropped(svc->an) : 0;
    out->records_late = svc->an ? sift_anomaly_late(svc->an) : 0;
    out->windows = svc->an ? sift_anomaly_windows(svc->an) : 0;
    out->alerts_kept = svc->n;
    out->alert_events = svc->alert_events;
    out->state_files_damaged = svc->state_damage;
    out->state_lines_skipped = svc->state_lines_lost;
    out->alerts_persist_off = svc->persist_off;
    if (svc->sinks) {
        struct sift_sinks_stats st;
        sift_alert_sinks_stats(svc->sinks, &st);
        out->webhook_sent = st.webhook_sent;
        out->webhook_failed = st.webhook_failed;
        out->redis_sent = st.redis_sent;
        out->redis_failed = st.redis_failed;
        out->kafka_sent = st.kafka_sent;
        out->kafka_failed = st.kafka_failed;
    }
}

int
sift_anomaly_service_test_alerts(struct sift_anomaly_service *svc,
                                 uint32_t count, int resolve, uint64_t *ids)
{
    if (svc->stopped)
        return SIFT_ESHUTDOWN;
    for (uint32_t i = 0; i < count; i++) {
        struct sift_alert al;
        memset(&al, 0, sizeof(al));
        al.id = atomic_fetch_add(&svc->next_alert_id, 1);
        snprintf(al.series, sizeof(al.series), "test=%" PRIu64, al.id);
        al.series_key = al.id * 0x9E3779B97F4A7C15ull;
        al.kind = SIFT_ALERT_TEST;
        al.state = SIFT_ALERT_FIRING;
        al.score = al.last_score = 100;
        al.threshold = 50;
        al.started_ns = al.updated_ns = sift_clock_now_ns();
        al.n_windows = 1;
        al.transitions = 1;
        handle_alert(svc, SIFT_ALERT_EV_FIRE, &al);
        if (resolve) {
            al.state = SIFT_ALERT_RESOLVED;
            al.resolved_ns = al.updated_ns;
            al.transitions++;
            handle_alert(svc, SIFT_ALERT_EV_RESOLVE, &al);
        }
        if (ids)
            ids[i] = al.id;
    }
    return SIFT_OK;
}

uint64_t
sift_anomaly_service_next_alert_id(struct sift_anomaly_service *svc)
{
    return atomic_fetch_add(&svc->next_alert_id, 1);
}

void
sift_anomaly_service_emit(struct sift_anomaly_service *svc,
                          enum sift_alert_event ev, const struct sift_alert *al)
{
    if (!svc->stopped)
        handle_alert(svc, ev, al);
}

void
sift_anomaly_service_touch(struct sift_anomaly_service *svc,
                           const struct sift_alert *al)
{
    long i = ring_find(svc, al->id);
    if (i < 0)
        return;
    struct sift_alert *dst = ring_at(svc, (size_t)i);
    dst->value = al->value;
    dst->last_score = al->last_score;
    dst->updated_ns = al->updated_ns;
    dst->n_windows = al->n_windows;
}

void
sift_anomaly_service_set_silencer(struct sift_anomaly_service *svc,
                                  sift_alert_silenced_cb cb, void *arg)
{
    svc->silenced_cb = cb;
    svc->silenced_arg = arg;
}

int
sift_anomaly_service_resend(struct sift_anomaly_service *svc, uint64_t id)
{
    long i = ring_find(svc, id);
    if (i < 0 || svc->stopped)
        return SIFT_ENOTFOUND;
    struct sift_alert al = *ring_at(svc, (size_t)i);
    if (al.state != SIFT_ALERT_FIRING || !al.silenced)
        return SIFT_OK;
    al.transitions++;
    handle_alert(svc, SIFT_ALERT_EV_FIRE, &al);
    return SIFT_OK;
}

struct sift_anomaly *
sift_anomaly_service_scorer(struct sift_anomaly_service *svc)
{
    return svc->an;
}

struct sift_alert_sinks *
sift_anomaly_service_sinks(struct sift_anomaly_service *svc)
{
    return svc->sinks;
}
