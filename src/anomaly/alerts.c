/*
 * alerts.c - the alert state machine (pure; no threads, no I/O).
 *
 * Per series (key = hash of series name and kind) the machine is:
 *
 *   quiet --score>=thr--> pending(over=1..hold-1) --over==hold--> FIRING
 *   pending --score<thr--> quiet
 *   FIRING --score>=thr--> FIRING (UPDATE event when the peak score rises)
 *   FIRING --resolve_windows below thr--> RESOLVED (RESOLVE event)
 *   RESOLVED --fires again within cooldown--> same alert FIRING (UPDATE)
 *   RESOLVED --fires again after cooldown--> new alert (FIRE)
 *
 * so one incident is one alert (dedup), updated while it lasts.
 *
 * Alert budget: one open alert per service.  A series about to fire a
 * new alert while another alert of its service (the service=S part of
 * the series name) is firing joins that alert instead: it is attached
 * as related evidence (UPDATE event), its state points at that alert
 * (member), and the alert resolves only when every series attached to
 * it is back under (n_open).  So a storm that moves the service's
 * volume, its error count and one template's count is one alert.  An
 * observation may bring evidence (template ids, sift_alerts_observe_with):
 * they are added to the alert while the series is over its threshold.  thr is
 * cfg.threshold plus the series' raise; each false positive adds
 * cfg.fp_raise up to cfg.max_raise, each true positive takes one step
 * back (sift_alerts_raise_step).  A series may have its own base
 * threshold (sift_alerts_set_override, matched by series name).  Alerts
 * live in a ring indexed by (id - 1) % ALERT_SLOTS; the oldest are
 * forgotten by the machine (the alerts store in service.c keeps them and
 * hands back, at start, the next id, the raises and the alerts still
 * open: sift_alerts_set_next_id/set_raise/restore).
 *
 * Invariant: a series has at most one FIRING alert; its id is cur_id.
 * Thread: one owner (the scoring thread in siftd); not thread-safe.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/time.h"

#define ALERT_SLOTS 4096u

struct sstate {
    uint64_t key;
    uint32_t over;  /* consecutive windows over threshold */
    uint32_t under; /* consecutive windows under, while firing */
    int firing;
    uint64_t cur_id; /* latest alert of this series, 0 = none */
    int member;      /* cur_id is another series' alert (attached) */
    double raise;    /* feedback raise of the threshold */
    struct sstate *next;
};

#define MAX_OVERRIDES 64

struct override {
    char series[SIFT_ALERT_SERIES_MAX];
    double threshold;
};

struct sift_alerts {
    struct sift_alerts_cfg cfg;
    struct override overrides[MAX_OVERRIDES];
    uint32_t n_overrides;
    sift_alert_cb cb;
    void *arg;
    struct sstate **buckets;
    uint32_t n_buckets;
    uint32_t n_series;
    uint64_t next_id;
    _Atomic uint64_t *shared_ids; /* when set, ids come from here */
    struct sift_alert *slots;     /* ALERT_SLOTS */
};

static uint64_t
take_id(struct sift_alerts *a)
{
    if (a->shared_ids)
        return atomic_fetch_add(a->shared_ids, 1);
    return a->next_id++;
}

/* Raises the id counter (own or shared) to at least next. */
static void
raise_next_id(struct sift_alerts *a, uint64_t next)
{
    if (next > a->next_id)
        a->next_id = next;
    if (a->shared_ids) {
        uint64_t cur = atomic_load(a->shared_ids);
        while (cur < next &&
               !atomic_compare_exchange_weak(a->shared_ids, &cur, next))
            ;
    }
}

void
sift_alerts_share_ids(struct sift_alerts *a, _Atomic uint64_t *counter)
{
    a->shared_ids = counter;
    raise_next_id(a, a->next_id);
}

int
sift_alerts_new(const struct sift_alerts_cfg *cfg, sift_alert_cb cb, void *arg,
                struct sift_alerts **out)
{
    struct sift_alerts *a = sift_xcalloc(1, sizeof(*a));
    a->cfg = *cfg;
    if (a->cfg.hold_windows == 0)
        a->cfg.hold_windows = 1;
    if (a->cfg.resolve_windows == 0)
        a->cfg.resolve_windows = 1;
    a->cb = cb;
    a->arg = arg;
    a->n_buckets = 256;
    a->buckets = sift_xcalloc(a->n_buckets, sizeof(*a->buckets));
    a->next_id = 1;
    a->slots = sift_xcalloc(ALERT_SLOTS, sizeof(*a->slots));
    *out = a;
    return SIFT_OK;
}

void
sift_alerts_free(struct sift_alerts *a)
{
    if (!a)
        return;
    for (uint32_t b = 0; b < a->n_buckets; b++) {
        struct sstate *s = a->buckets[b];
        while (s) {
            struct sstate *next = s->next;
            sift_free(s);
            s = next;
        }
    }
    sift_free(a->buckets);
    sift_free(a->slots);
    sift_free(a);
}

static struct sstate *
find(const struct sift_alerts *a, uint64_t key)
{
    struct sstate *s = a->buckets[key & (a->n_buckets - 1)];
    while (s && s->key != key)
        s = s->next;
    return s;
}

static void
grow(struct sift_alerts *a)
{
    uint32_t nb = a->n_buckets * 2;
    struct sstate **nt = sift_xcalloc(nb, sizeof(*nt));
    for (uint32_t b = 0; b < a->n_buckets; b++) {
        struct sstate *s = a->buckets[b];
        while (s) {
            struct sstate *next = s->next;
            s->next = nt[s->key & (nb - 1)];
            nt[s->key & (nb - 1)] = s;
            s = next;
        }
    }
    sift_free(a->buckets);
    a->buckets = nt;
    a->n_buckets = nb;
}

static struct sstate *
get(struct sift_alerts *a, uint64_t key)
{
    struct sstate *s = find(a, key);
    if (s)
        return s;
    if (a->n_series >= a->n_buckets)
        grow(a);
    s = sift_xcalloc(1, sizeof(*s));
    s->key = key;
    uint32_t b = (uint32_t)(key & (a->n_buckets - 1));
    s->next = a->buckets[b];
    a->buckets[b] = s;
    a->n_series++;
    return s;
}

static struct sift_alert *
slot(const struct sift_alerts *a, uint64_t id)
{
    if (id == 0)
        return NULL;
    struct sift_alert *al = &a->slots[(id - 1) % ALERT_SLOTS];
    return al->id == id ? al : NULL;
}

/* The base threshold of a series: its override, else cfg.threshold. */
static double
base_threshold(const struct sift_alerts *a, const char *series)
{
    for (uint32_t i = 0; series && i < a->n_overrides; i++) {
        if (strcmp(a->overrides[i].series, series) == 0)
            return a->overrides[i].threshold;
    }
    return a->cfg.threshold;
}

static double
threshold_of(const struct sift_alerts *a, const struct sstate *s,
             const char *series)
{
    double t = base_threshold(a, series) + (s ? s->raise : 0);
    return t > 99.9 ? 99.9 : t;
}

double
sift_alerts_threshold(const struct sift_alerts *a, uint64_t key)
{
    return threshold_of(a, find(a, key), NULL);
}

double
sift_alerts_series_threshold(const struct sift_alerts *a, uint64_t key,
                             const char *series)
{
    return threshold_of(a, find(a, key), series);
}

int
sift_alerts_set_override(struct sift_alerts *a, const char *series,
                         double threshold)
{
    size_t n = strlen(series);
    if (n == 0 || n >= SIFT_ALERT_SERIES_MAX)
        return SIFT_EINVAL;
    for (uint32_t i = 0; i < a->n_overrides; i++) {
        if (strcmp(a->overrides[i].series, series) == 0) {
            a->overrides[i].threshold = threshold;
            return SIFT_OK;
        }
    }
    if (a->n_overrides == MAX_OVERRIDES)
        return SIFT_ELIMIT;
    struct override *o = &a->overrides[a->n_overrides++];
    memcpy(o->series, series, n + 1);
    o->threshold = threshold;
    return SIFT_OK;
}

void
sift_alerts_set_raise(struct sift_alerts *a, uint64_t key, double raise)
{
    if (raise < 0)
        raise = 0;
    if (raise > a->cfg.max_raise)
        raise = a->cfg.max_raise;
    get(a, key)->raise = raise;
}

void
sift_alerts_set_next_id(struct sift_alerts *a, uint64_t next_id)
{
    raise_next_id(a, next_id);
}

void
sift_alerts_restore(struct sift_alerts *a, const struct sift_alert *al)
{
    if (al->id == 0)
        return;
    struct sift_alert *slot_al = &a->slots[(al->id - 1) % ALERT_SLOTS];
    *slot_al = *al;
    /* Attached series are not restored: they attach again if still over. */
    slot_al->n_open = al->state == SIFT_ALERT_FIRING ? 1 : 0;
    struct sstate *s = get(a, al->series_key);
    if (al->id >= s->cur_id) {
        s->cur_id = al->id;
        s->firing = al->state == SIFT_ALERT_FIRING;
        s->over = s->firing ? 1 : 0;
        s->under = 0;
    }
    raise_next_id(a, al->id + 1);
}

double
sift_alerts_raise_step(const struct sift_alerts_cfg *cfg, double raise,
                       enum sift_alert_label old_label,
                       enum sift_alert_label new_label)
{
    if (new_label == old_label)
        return raise;
    if (new_label == SIFT_LABEL_FALSE_POSITIVE) {
        raise += cfg->fp_raise;
        if (raise > cfg->max_raise)
            raise = cfg->max_raise;
    } else if (new_label == SIFT_LABEL_TRUE_POSITIVE) {
        raise -= cfg->fp_raise;
        if (raise < 0)
            raise = 0;
    }
    return raise;
}

static void
emit(struct sift_alerts *a, enum sift_alert_event ev, struct sift_alert *al)
{
    al->transitions++;
    if (a->cb)
        a->cb(ev, al, a->arg);
}

/* Adds extra's template ids to al (each once; all counted). */
static void
add_extra(struct sift_alert *al, const struct sift_alert_extra *x)
{
    if (!x)
        return;
    for (uint32_t i = 0; i < x->n_templates; i++) {
        uint32_t id = x->templates[i];
        uint32_t k = 0;
        while (k < al->n_templates && al->templates[k] != id)
            k++;
        if (k < al->n_templates)
            continue;
        al->n_templates_total++;
        if (al->n_templates < SIFT_ALERT_TEMPLATES_MAX)
            al->templates[al->n_templates++] = id;
    }
}

/* Length of the service part of a series name: without a trailing
 * " level=error" or " template=N". */
static size_t
service_part(const char *series)
{
    size_t n = strlen(series);
    static const char lv[] = " level=error";
    if (n >= sizeof(lv) - 1 &&
        memcmp(series + n - (sizeof(lv) - 1), lv, sizeof(lv) - 1) == 0)
        return n - (sizeof(lv) - 1);
    const char *t = NULL;
    for (const char *p = strstr(series, " template="); p;
         p = strstr(p + 1, " template="))
        t = p;
    if (t) {
        const char *d = t + 10;
        while (*d >= '0' && *d <= '9')
            d++;
        if (*d == '\0' && d > t + 10)
            return (size_t)(t - series);
    }
    return n;
}

/* The firing alert of series' service other than the series' own, or
 * NULL (newest first). */
static struct sift_alert *
service_alert(struct sift_alerts *a, const char *series, uint64_t key)
{
    size_t n = service_part(series);
    struct sift_alert *best = NULL;
    for (uint32_t i = 0; i < ALERT_SLOTS; i++) {
        struct sift_alert *al = &a->slots[i];
        if (al->id == 0 || al->state != SIFT_ALERT_FIRING ||
            al->series_key == key || (best && best->id > al->id))
            continue;
        if (service_part(al->series) == n && memcmp(al->series, series, n) == 0)
            best = al;
    }
    return best;
}

/* Attaches series (kind) to al as related evidence (each once). */
static void
add_related(struct sift_alert *al, const char *series,
            enum sift_alert_kind kind)
{
    for (uint32_t i = 0; i < al->n_related; i++)
        if (al->related[i].kind == kind &&
            strcmp(al->related[i].series, series) == 0)
            return;
    al->n_related_total++;
    if (al->n_related >= SIFT_ALERT_RELATED_MAX)
        return;
    struct sift_alert_related *r = &al->related[al->n_related++];
    r->kind = (uint8_t)kind;
    snprintf(r->series, sizeof(r->series), "%s", series);
}

void
sift_alerts_observe(struct sift_alerts *a, uint64_t key, const char *series,
                    enum sift_alert_kind kind, double score, uint32_t hold,
                    int64_t win_start_ns, int64_t win_end_ns)
{
    sift_alerts_observe_with(a, key, series, kind, score, hold, win_start_ns,
                             win_end_ns, NULL);
}

void
sift_alerts_observe_with(struct sift_alerts *a, uint64_t key,
                         const char *series, enum sift_alert_kind kind,
                         double score, uint32_t hold, int64_t win_start_ns,
                         int64_t win_end_ns,
                         const struct sift_alert_extra *extra)
{
    struct sstate *s = find(a, key);
    double thr = threshold_of(a, s, series);
    if (score < thr && (!s || (s->over == 0 && !s->firing)))
        return; /* quiet series need no state */
    if (!s)
        s = get(a, key);
    struct sift_alert *al = slot(a, s->cur_id);
    if (score >= thr) {
        s->under = 0;
        s->over++;
        if (s->firing && al && s->member) {
            uint32_t had = al->n_templates_total;
            add_extra(al, extra);
            if (al->n_templates_total != had)
                emit(a, SIFT_ALERT_EV_UPDATE, al);
            return;
        }
        if (s->firing && al) {
            uint32_t had = al->n_templates_total;
            add_extra(al, extra);
            al->n_windows++;
            al->last_score = score;
            al->updated_ns = win_end_ns;
            if (score > al->score || al->n_templates_total != had) {
                al->score = score > al->score ? score : al->score;
                emit(a, SIFT_ALERT_EV_UPDATE, al);
            }
            return;
        }
        s->firing = 0;
        if (s->over < (hold ? hold : a->cfg.hold_windows))
            return;
        s->firing = 1;
        if (al && al->state == SIFT_ALERT_RESOLVED &&
            win_end_ns - al->resolved_ns <= a->cfg.cooldown_ns) {
            al->state = SIFT_ALERT_FIRING;
            al->resolved_ns = 0;
            al->n_open = 1;
            al->n_windows += s->over;
            al->last_score = score;
            al->score = score > al->score ? score : al->score;
            al->updated_ns = win_end_ns;
            add_extra(al, extra);
            emit(a, SIFT_ALERT_EV_UPDATE, al);
            return;
        }
        struct sift_alert *g = service_alert(a, series, key);
        if (g) { /* alert budget: join the service's open alert */
            s->member = 1;
            s->cur_id = g->id;
            g->n_open++;
            add_related(g, series, kind);
            add_extra(g, extra);
            g->updated_ns =
                win_end_ns > g->updated_ns ? win_end_ns : g->updated_ns;
            emit(a, SIFT_ALERT_EV_UPDATE, g);
            return;
        }
        s->member = 0;
        uint64_t id = take_id(a);
        al = &a->slots[(id - 1) % ALERT_SLOTS];
        memset(al, 0, sizeof(*al));
        al->id = id;
        size_t n = strlen(series);
        if (n >= sizeof(al->series))
            n = sizeof(al->series) - 1;
        memcpy(al->series, series, n);
        al->series_key = key;
        al->kind = (uint8_t)kind;
        al->state = SIFT_ALERT_FIRING;
        al->score = al->last_score = score;
        al->threshold = thr;
        int64_t win = win_end_ns - win_start_ns;
        al->started_ns = win_start_ns - (int64_t)(s->over - 1) * win;
        al->updated_ns = win_end_ns;
        al->n_windows = s->over;
        al->n_open = 1;
        add_extra(al, extra);
        s->cur_id = id;
        emit(a, SIFT_ALERT_EV_FIRE, al);
        return;
    }
    s->over = 0;
    if (!s->firing)
        return;
    if (!al) { /* forgotten by the ring: nothing left to resolve */
        s->firing = 0;
        return;
    }
    if (!s->member) {
        al->last_score = score;
        al->updated_ns = win_end_ns;
    }
    if (++s->under >= a->cfg.resolve_windows) {
        s->firing = 0;
        s->under = 0;
        if (al->n_open > 0)
            al->n_open--;
        if (al->n_open > 0 || al->state != SIFT_ALERT_FIRING)
            return; /* other series of the incident are still over */
        al->state = SIFT_ALERT_RESOLVED;
        al->resolved_ns = win_end_ns;
        al->updated_ns = win_end_ns;
        emit(a, SIFT_ALERT_EV_RESOLVE, al);
    }
}

int
sift_alerts_feedback(struct sift_alerts *a, uint64_t id,
                     enum sift_alert_label label)
{
    struct sift_alert *al = slot(a, id);
    if (!al)
        return SIFT_ENOTFOUND;
    struct sstate *s = get(a, al->series_key);
    s->raise = sift_alerts_raise_step(&a->cfg, s->raise,
                                      (enum sift_alert_label)al->label, label);
    al->label = (uint8_t)label;
    return SIFT_OK;
}

int
sift_alerts_get(const struct sift_alerts *a, uint64_t id,
                struct sift_alert *out)
{
    struct sift_alert *al = slot(a, id);
    if (!al)
        return SIFT_ENOTFOUND;
    *out = *al;
    return SIFT_OK;
}

const char *
sift_alert_kind_name(enum sift_alert_kind kind)
{
    switch (kind) {
    case SIFT_ALERT_SPIKE: return "spike";
    case SIFT_ALERT_DROP: return "drop";
    case SIFT_ALERT_NEW_PATTERN: return "new_pattern";
    case SIFT_ALERT_ERROR_RATIO: return "error_ratio";
    case SIFT_ALERT_RULE: return "rule";
    case SIFT_ALERT_TEST: return "test";
    }
    return "unknown";
}

int
sift_alert_kind_parse(const char *name)
{
    for (int k = SIFT_ALERT_SPIKE; k <= SIFT_ALERT_ERROR_RATIO; k++)
        if (strcmp(name, sift_alert_kind_name((enum sift_alert_kind)k)) == 0)
            return k;
    return -1;
}

const char *
sift_alert_severity_name(enum sift_alert_severity sev)
{
    switch (sev) {
    case SIFT_SEVERITY_NONE: return "";
    case SIFT_SEVERITY_INFO: return "info";
    case SIFT_SEVERITY_WARNING: return "warning";
    case SIFT_SEVERITY_CRITICAL: return "critical";
    }
    return "";
}

int
sift_alert_severity_parse(const char *s, enum sift_alert_severity *out)
{
    static const char *const names[] = {"", "info", "warning", "critical"};
    for (unsigned i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum sift_alert_severity)i;
            return SIFT_OK;
        }
    }
    if (strcmp(s, "none") == 0) {
        *out = SIFT_SEVERITY_NONE;
        return SIFT_OK;
    }
    return SIFT_EINVAL;
}

void
sift_alert_notification_key(const struct sift_alert *al, struct sift_buf *out)
{
    sift_buf_appendf(out, "%" PRIu64 "-%" PRIu32 "-%" PRId64, al->id,
                     al->transitions, al->started_ns / 1000000);
}
