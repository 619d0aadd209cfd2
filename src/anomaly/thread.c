/*
 * thread.c - the anomaly scoring thread: ring in, alert events out.
 *
 * Design.  The loop thread pushes one 40-byte struct sift_anomaly_rec per
 * event into a bounded SPSC ring (sift_anomaly_push never blocks; a full
 * ring drops and counts).  A record's time is its *arrival* time, so
 * windows follow the clock: an event stamped 2030 or a replay of old
 * history cannot open a window ahead of time or keep one open.  Records
 * whose event happened more than max_lateness before arrival (imports,
 * long backlogs) are counted as late and not scored, so a history import
 * is not a spike.  The scoring thread pops records and counts them into
 * the current window of three kinds of series:
 *   service            "service=S"               spike, drop, error ratio
 *   service + error    "service=S level=error"   spike
 *   service + template "service=S template=N"    new pattern, spike
 * Windows are aligned to window_ns and closed by arrival time (a record
 * of a later window closes the current one, and the empty ones in
 * between) and by wall time (after idle_flush_ns without records, one
 * window per idle_flush_ns).  Closing a window scores
 * every series against its baseline (detector.c), feeds the scores to
 * the alert state machine (alerts.c), then folds the window into the
 * baselines.  A series alerts only after warmup_windows windows; a
 * service first seen after the scorer's warm-up learns for
 * learning_windows more (onboarding: its series and its error and
 * template series do not alert meanwhile).  A template counts as new only
 * after global_warmup_windows windows of the whole scorer and its
 * service's learning, and only when it comes as a burst (>= 5 in a
 * window); the window's new templates of one service raise one
 * new_pattern alert on the service's series, their ids as evidence.
 * Scoring (issue 27: alerts that can be left on).  Every rule is a
 * significance test whose false-alarm rate per series and window is
 * about p = 2.9e-7 at the default threshold 50 (a score is 10 x the
 * normal quantile of a tail probability, detector.c):
 *   spike        the window's count under a negative binomial of the
 *                series' level and observed variance (Poisson when it
 *                is no noisier), and only past a minimum excess (5
 *                events for a service, 3 errors, 10 for a template: a
 *                template seen 2-3 times a window cannot alert on 8);
 *   drop         a lower CUSUM of the negative-binomial likelihood
 *                ratio of a fall to drop_ratio of the level (the
 *                series' own dispersion), threshold ln(ARL0) for an
 *                in-control run of ARL0_DAYS of windows, so a
 *                sustained fall adds up however the windows jitter; only
 *                for a series whose level is >= BUSY_MIN events a window;
 *                and a run of empty windows scored by its own odds
 *                (silence of a busy service: at once; from SILENT_MIN);
 *   error_ratio  binomial log-likelihood-ratio CUSUMs of the window's
 *                errors against the service's own pooled usual share,
 *                one per rise (ratio_score()), threshold ln(2 ARL0), and
 *                this window's binomial tail; over the threshold it fires
 *                at once and holds until the share is back;
 *   spike        also: two windows in a row over the minimum excess,
 *                their sum judged at once (spike_score()).
 * Alert budget: the service's series are scored first (error ratio,
 * drop, new templates, spike) so the most telling opens the service's
 * alert; its other series then attach to it (alerts.c).
 * With cfg.seasonality, count series also keep hour-of-day baselines and
 * their learned daily shape is taken out of the value before scoring.
 *
 * Cluster mode (cfg.cluster; docs/internals/cluster.md, "Anomaly over
 * the cluster").  Records are only counted per (service, template id)
 * into the open local window, which closes by this node's clock grace_ns
 * after its end (windows = arrival time / window_ns: the same instants
 * on every node); its counts become a JSON text kept for the peers (the
 * last PUB_MAX windows, templates by text: ids are per node) and
 * closed() is called.  The peers' texts come back through
 * sift_anomaly_merge_window(); windows are then scored strictly in
 * order, from the sum of every node that answered, by the same code as
 * a single node: every node scores every series (so each keeps the
 * summed history and a takeover starts warm), but only the owner of a
 * series' service (rendezvous hashing over the nodes that answered for
 * that window, this one included) feeds non-zero scores to its alert
 * machine.  A window missing a node (no answer, unreadable, or not in
 * after give_up_ns) is partial: rises are still scored (missing counts
 * only hide them), but no drop is tested and the volume baselines do
 * not learn from it.
 *
 * Threads and ownership (docs/internals/style.md, Ownership and threads).
 *   - The scoring thread owns everything in struct sift_anomaly except
 *     the ring's producer side, the feedback queue and the stop flag.  It
 *     calls no libevent function.
 *   - The loop thread (single producer) calls sift_anomaly_push() only.
 *   - Any thread may call sift_anomaly_feedback() (mutex-protected queue,
 *     drained by the scoring thread) and sift_anomaly_dropped().
 *   - Alert events leave through cfg's callback, on the scoring thread;
 *     siftd's callback copies the alert and hands it to the loop with
 *     sift_loop_post(), where sinks run.
 *   - start/stop/free: the owner (main) thread.
 * sift_anomaly_process()/advance() run the same core synchronously for
 * tests and benches, with no thread started.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <xxhash.h>

#include "anomaly/anomaly_int.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/ring.h"

enum series_type { SER_SERVICE = 1, SER_ERRORS = 2, SER_TEMPLATE = 3 };

struct series {
    uint64_t key;
    char name[SIFT_ALERT_SERIES_MAX];
    uint8_t type;
    uint32_t count;           /* current window */
    uint32_t prev_count;      /* the window before */
    uint32_t errors;          /* current window (service series) */
    uint32_t age;             /* windows closed since creation */
    int is_new;               /* template first seen after global warm-up,
                                 of a service past its learning period */
    uint64_t parent;          /* template series: its service series' key */
    int64_t quiet_until;      /* window index before which it never alerts:
                                 a service first seen after the warm-up
                                 learns (onboarding), and so do its error
                                 and template series */
    uint32_t tid;             /* template series: the template id */
    struct sift_baseline cnt; /* deseasonalized when season != NULL */
    struct sift_baseline ratio;
    double ratio_cusum[2];      /* CUSUMs of the error share's
                                   log-likelihood ratio (nats): a rise of
                                   RATIO_RISE points, a rise of half p0 */
    int ratio_suspect;          /* a ratio CUSUM is past half its threshold */
    int ratio_alarm;            /* a ratio CUSUM crossed its threshold */
    double ratio_end;           /* since then: evidence the share is back
                                   (nats) */
    double err_pool, ev_pool;   /* decayed errors and events (usual share) */
    double drop_cusum;          /* lower CUSUM of the volume (drops) */
    int drop_suspect;           /* drop_cusum is past half its threshold */
    int drop_alarm;             /* drop_cusum crossed its threshold */
    double drop_end;            /* since then: evidence the volume is
                                   back (nats) */
    double drop_mu, drop_c;     /* level and dispersion (variance mu +
                                   c mu^2) when drop_cusum left 0 */
    uint32_t empty_run;         /* windows in a row without an event */
    struct sift_season *season; /* hour-of-day baselines, or NULL */
    struct sift_share_season *share_season; /* service series: the error
                                               share by hour, or NULL */
    int64_t last_seen_win;
    struct series *next; /* hash chain */
    struct series *lru_prev, *lru_next;
};

/* A message to the scoring thread: feedback by id, or a new raise. */
struct fb {
    uint64_t id; /* alert id (label) or series key (raise) */
    enum sift_alert_label label;
    int is_raise;
    double raise;
};

#define FB_MAX 256

struct cl; /* cluster mode, below */
static void cl_new(struct sift_anomaly *an,
                   const struct sift_anomaly_cluster *cfg);
static void cl_free(struct cl *c);

struct sift_anomaly {
    struct sift_anomaly_cfg cfg;
    struct sift_ring *ring;
    struct sift_alerts *alerts;
    /* Scoring-thread state. */
    struct series **buckets;
    uint32_t n_buckets;
    uint32_t n_series;
    struct series *lru_head, *lru_tail;
    int64_t cur_win;                 /* index of the open window, -1 = none */
    double arl0;                     /* in-control run of a CUSUM, windows */
    atomic_uint_least64_t n_windows; /* windows closed */
    atomic_uint_least64_t n_late;    /* records past max_lateness */
    int64_t last_rec_wall_ns;
    int64_t last_idle_close_ns;
    /* New templates of the window being closed: (service key, id). */
    struct newtpl {
        uint64_t parent;
        uint32_t id;
    } * newtpl;
    uint32_t n_newtpl, cap_newtpl;
    /* Cluster mode (cfg.cluster != NULL): see "Cluster" below. */
    struct cl *cl;
    int mute;    /* the series being scored is owned by another node */
    int partial; /* the window being scored is missing a node's counts */
    /* Shared. */
    pthread_t thread;
    int started;
    atomic_int stop;
    pthread_mutex_t fb_mu;
    struct fb fb[FB_MAX];
    unsigned n_fb;
};

void
sift_anomaly_cfg_init(struct sift_anomaly_cfg *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->window_ns = 10 * SIFT_NS_PER_SEC;
    cfg->ring_records = 65536;
    cfg->warmup_windows = 30;
    cfg->global_warmup_windows = 30;
    cfg->alpha = 0.05;
    cfg->max_series = 20000;
    cfg->seasonality = 0;
    cfg->season_min_days = 2;
    cfg->drop_ratio = 0.5;
    cfg->drop_windows = 1;
    cfg->alerts.threshold = 50;
    cfg->alerts.hold_windows = 2;
    cfg->alerts.resolve_windows = 3;
    cfg->alerts.cooldown_ns = 300 * SIFT_NS_PER_SEC;
    cfg->alerts.fp_raise = 10;
    cfg->alerts.max_raise = 40;
}

enum sift_anomaly_level
sift_anomaly_level_parse(const char *s, size_t len)
{
    char c = len ? (char)(s[0] | 0x20) : 0;
    char c2 = len > 1 ? (char)(s[1] | 0x20) : 0;
    switch (c) {
    case 'e': /* error, err, emerg */
        return c2 == 'm' ? SIFT_LVL_FATAL : SIFT_LVL_ERROR;
    case 'f': /* fatal */
    case 'c': /* critical, crit */
    case 'a': /* alert */ return SIFT_LVL_FATAL;
    case 'w': /* warn, warning */ return SIFT_LVL_WARN;
    case 'i': /* info */
    case 'n': /* notice */ return SIFT_LVL_INFO;
    case 'd': /* debug */
    case 't': /* trace */ return SIFT_LVL_DEBUG;
    }
    return SIFT_LVL_UNKNOWN;
}

void
sift_anomaly_rec_init(struct sift_anomaly_rec *rec, int64_t ts_ns,
                      const char *service, size_t service_len,
                      enum sift_anomaly_level level, uint32_t template_id)
{
    memset(rec, 0, sizeof(*rec));
    rec->ts_ns = ts_ns;
    rec->template_id = template_id;
    rec->level = (uint8_t)level;
    if (service_len > SIFT_ANOMALY_SERVICE_MAX)
        service_len = SIFT_ANOMALY_SERVICE_MAX;
    if (service_len)
        memcpy(rec->service, service, service_len);
    rec->service_len = (uint8_t)service_len;
}

void
sift_anomaly_rec_set_event_time(struct sift_anomaly_rec *rec, int64_t event_ns)
{
    if (event_ns >= rec->ts_ns) {
        rec->late_s = 0;
        return;
    }
    /* Unsigned: the difference of two int64 times always fits. */
    uint64_t late =
        ((uint64_t)rec->ts_ns - (uint64_t)event_ns) / (uint64_t)SIFT_NS_PER_SEC;
    rec->late_s = late > UINT32_MAX ? UINT32_MAX : (uint32_t)late;
}

int
sift_anomaly_new(const struct sift_anomaly_cfg *cfg, sift_alert_cb cb,
                 void *arg, struct sift_anomaly **out)
{
    struct sift_anomaly *an = sift_xcalloc(1, sizeof(*an));
    an->cfg = *cfg;
    if (an->cfg.window_ns <= 0)
        an->cfg.window_ns = 10 * SIFT_NS_PER_SEC;
    if (an->cfg.idle_flush_ns <= 0)
        an->cfg.idle_flush_ns = an->cfg.window_ns;
    if (an->cfg.alpha <= 0 || an->cfg.alpha > 1)
        an->cfg.alpha = 0.05;
    if (an->cfg.max_series == 0)
        an->cfg.max_series = 20000;
    if (an->cfg.drop_ratio <= 0)
        an->cfg.drop_ratio = 0.5;
    if (an->cfg.drop_ratio > 0.95)
        an->cfg.drop_ratio = 0.95; /* a fall of 5% is the least tested */
    if (an->cfg.drop_windows == 0)
        an->cfg.drop_windows = 1;
    an->arl0 = SIFT__ANOMALY_ARL0_DAYS * 86400.0 * (double)SIFT_NS_PER_SEC /
               (double)an->cfg.window_ns;
    int rc = sift_ring_new(sizeof(struct sift_anomaly_rec),
                           an->cfg.ring_records ? an->cfg.ring_records : 65536,
                           &an->ring);
    if (rc < 0) {
        sift_free(an);
        return rc;
    }
    sift_alerts_new(&an->cfg.alerts, cb, arg, &an->alerts);
    an->n_buckets = 1024;
    an->buckets = sift_xcalloc(an->n_buckets, sizeof(*an->buckets));
    an->cur_win = -1;
    atomic_init(&an->n_late, 0);
    atomic_init(&an->stop, 0);
    pthread_mutex_init(&an->fb_mu, NULL);
    if (cfg->cluster)
        cl_new(an, cfg->cluster);
    an->cfg.cluster = NULL; /* borrowed until here */
    *out = an;
    return SIFT_OK;
}

void
sift_anomaly_free(struct sift_anomaly *an)
{
    if (!an)
        return;
    assert(!an->started);
    for (uint32_t b = 0; b < an->n_buckets; b++) {
        struct series *s = an->buckets[b];
        while (s) {
            struct series *next = s->next;
            sift_free(s->season);
            sift_free(s->share_season);
            sift_free(s);
            s = next;
        }
    }
    sift_free(an->buckets);
    sift_free(an->newtpl);
    cl_free(an->cl);
    sift_alerts_free(an->alerts);
    sift_ring_free(an->ring);
    pthread_mutex_destroy(&an->fb_mu);
    sift_free(an);
}

/* ------------------------------------------------------------------ */
/* Series table (scoring thread)                                        */
/* ------------------------------------------------------------------ */

static void
lru_unlink(struct sift_anomaly *an, struct series *s)
{
    if (s->lru_prev)
        s->lru_prev->lru_next = s->lru_next;
    else
        an->lru_head = s->lru_next;
    if (s->lru_next)
        s->lru_next->lru_prev = s->lru_prev;
    else
        an->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
}

static void
lru_front(struct sift_anomaly *an, struct series *s)
{
    s->lru_next = an->lru_head;
    if (an->lru_head)
        an->lru_head->lru_prev = s;
    an->lru_head = s;
    if (!an->lru_tail)
        an->lru_tail = s;
}

static void
series_evict(struct sift_anomaly *an, struct series *s)
{
    struct series **pp = &an->buckets[s->key & (an->n_buckets - 1)];
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
    lru_unlink(an, s);
    an->n_series--;
    sift_free(s->season);
    sift_free(s->share_season);
    sift_free(s);
}

static void
series_grow(struct sift_anomaly *an)
{
    uint32_t nb = an->n_buckets * 2;
    struct series **nt = sift_xcalloc(nb, sizeof(*nt));
    for (uint32_t b = 0; b < an->n_buckets; b++) {
        struct series *s = an->buckets[b];
        while (s) {
            struct series *next = s->next;
            s->next = nt[s->key & (nb - 1)];
            nt[s->key & (nb - 1)] = s;
            s = next;
        }
    }
    sift_free(an->buckets);
    an->buckets = nt;
    an->n_buckets = nb;
}

static uint64_t
series_key(enum series_type type, const char *name, size_t name_len)
{
    return XXH3_64bits(name, name_len) ^ (uint64_t)type;
}

/* The series of key (created with name when new). */
static struct series *
series_get_key(struct sift_anomaly *an, enum series_type type, uint64_t key,
               const char *name, size_t name_len)
{
    struct series *s = an->buckets[key & (an->n_buckets - 1)];
    while (s && s->key != key)
        s = s->next;
    if (s) {
        if (an->lru_head != s) {
            lru_unlink(an, s);
            lru_front(an, s);
        }
        return s;
    }
    while (an->n_series >= an->cfg.max_series && an->lru_tail)
        series_evict(an, an->lru_tail);
    if (an->n_series >= an->n_buckets)
        series_grow(an);
    s = sift_xcalloc(1, sizeof(*s));
    s->key = key;
    s->type = (uint8_t)type;
    if (name_len >= sizeof(s->name))
        name_len = sizeof(s->name) - 1;
    memcpy(s->name, name, name_len);
    sift_baseline_init(&s->cnt);
    sift_baseline_init(&s->ratio);
    if (an->cfg.seasonality) {
        s->season = sift_xmalloc(sizeof(*s->season));
        sift_season_init(s->season);
        if (type == SER_SERVICE) {
            s->share_season = sift_xmalloc(sizeof(*s->share_season));
            sift_share_season_init(s->share_season);
        }
    }
    s->is_new =
        type == SER_TEMPLATE && an->n_windows >= an->cfg.global_warmup_windows;
    uint32_t b = (uint32_t)(key & (an->n_buckets - 1));
    s->next = an->buckets[b];
    an->buckets[b] = s;
    lru_front(an, s);
    an->n_series++;
    return s;
}

static struct series *
series_get(struct sift_anomaly *an, enum series_type type, const char *name,
           size_t name_len)
{
    return series_get_key(an, type, series_key(type, name, name_len), name,
                          name_len);
}

/* ------------------------------------------------------------------ */
/* Windows                                                              */
/* ------------------------------------------------------------------ */

static int cl_owns(struct sift_anomaly *an, const struct series *s);

static uint64_t
alert_key(const struct series *s, enum sift_alert_kind kind)
{
    return s->key * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)kind;
}

/* Every score reaches the alert machine through here: a series owned by
 * another node (cluster mode) is scored for its history but observes 0,
 * so only its owner raises its alerts. */
static void
observe(struct sift_anomaly *an, uint64_t key, const char *series,
        enum sift_alert_kind kind, double score, uint32_t hold, int64_t ws,
        int64_t we, const struct sift_alert_extra *extra)
{
    if (an->mute) {
        score = 0;
        extra = NULL;
    }
    sift_alerts_observe_with(an->alerts, key, series, kind, score, hold, ws, we,
                             extra);
}

/* Binomial noise of a ratio p over n events: sqrt(p (1 - p) / n). */
static double
sqrt_frac(double p, uint32_t n)
{
    double v = p * (1 - p) / (double)n;
    return v > 0 ? sqrt(v) : 0;
}

static int
by_parent(const void *a, const void *b)
{
    const struct newtpl *x = a, *y = b;
    if (x->parent != y->parent)
        return x->parent < y->parent ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/*
 * Collects the templates that arrive as a new burst in the window being
 * closed: first seen after the scorer's warm-up and their service's
 * learning period, within their first 3 windows, >= NEW_MIN events.
 */
static void
collect_new(struct sift_anomaly *an)
{
    an->n_newtpl = 0;
    for (struct series *s = an->lru_head; s; s = s->lru_next) {
        if (s->type != SER_TEMPLATE || !s->is_new || s->age >= 3 ||
            s->count < SIFT__ANOMALY_NEW_MIN)
            continue;
        if (an->n_newtpl == an->cap_newtpl) {
            an->cap_newtpl = an->cap_newtpl ? an->cap_newtpl * 2 : 64;
            an->newtpl =
                sift_xrealloc(an->newtpl, an->cap_newtpl * sizeof(*an->newtpl));
        }
        an->newtpl[an->n_newtpl].parent = s->parent;
        an->newtpl[an->n_newtpl].id = s->tid;
        an->n_newtpl++;
    }
    if (an->n_newtpl > 1)
        qsort(an->newtpl, an->n_newtpl, sizeof(*an->newtpl), by_parent);
}

/*
 * One new_pattern alert per service: the window's new templates of
 * service s (however many) score 100 and fire at once (hold 1; a burst
 * cannot "hold" as it ages); their ids are the alert's evidence, so a
 * service sending a hundred new templates at once raises one alert.
 */
static void
new_burst(struct sift_anomaly *an, const struct series *s, int64_t ws,
          int64_t we)
{
    uint32_t lo = 0, hi = an->n_newtpl;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (an->newtpl[mid].parent < s->key)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t ids[SIFT_ALERT_TEMPLATES_MAX * 4];
    uint32_t n = 0;
    for (uint32_t i = lo; i < an->n_newtpl && an->newtpl[i].parent == s->key;
         i++)
        if (n < sizeof(ids) / sizeof(ids[0]))
            ids[n++] = an->newtpl[i].id;
    struct sift_alert_extra x = {ids, n};
    observe(an, alert_key(s, SIFT_ALERT_NEW_PATTERN), s->name,
            SIFT_ALERT_NEW_PATTERN, n ? 100 : 0, 1, ws, we, n ? &x : NULL);
}

/*
 * Variance of a count series around its level: the spread its windows
 * showed (1.253 x mean absolute deviation, squared), at least the
 * level itself (counting noise: nothing is quieter than Poisson).
 */
static double
count_var(const struct sift_baseline *b, double mu)
{
    double sd = SIFT__ANOMALY_SIGMA_PER_ABSDEV * b->absdev;
    double v = sd * sd;
    return v > mu ? v : (mu > 0.25 ? mu : 0.25);
}

/*
 * Spike of a count series: this window's count x against mean mu and
 * variance var (its tail's score, only past a minimum absolute excess),
 * held for hold_windows windows like any score; and, when this window and
 * the one before both exceed the level by the minimum excess, the sum of
 * the two against a count of mean 2 mu and variance 2 var: a storm that
 * is not five sigma in either window alone is in two (a template seen 3
 * times a window sending 18 twice: 36 of 6.6, p = 1e-13).  That test
 * spans two windows already, so it fires at once (*hold_one) when over
 * the series' threshold.  It is one test per series and window, and a
 * service may have hundreds of template series: it scores 50 at p* =
 * 1 / (ARL0 x SPIKE2_SERIES), so a service with SPIKE2_SERIES (1,000)
 * steady series raises a false one at most once per ARL0_DAYS (p* =
 * 1.2e-9 at 10 s windows, 2.3e-10 at 2 s).  A one-window burst never
 * passes it.
 */
static double
spike_score(struct sift_anomaly *an, const struct series *s, uint64_t key,
            double x, double mu, double var, double min_excess, int *hold_one)
{
    *hold_one = 0;
    if (x - mu < min_excess)
        return 0;
    double sc = sift_score_from_p(sift_count_upper_p(mu, var, x));
    double xp = s->prev_count;
    if (xp - mu >= min_excess) {
        /* z of the two windows' sum, scaled so that the budget's p*
         * scores 50 (five sigma's place). */
        double pstar = 1.0 / (an->arl0 * SIFT__ANOMALY_SPIKE2_SERIES);
        double z2 = sift_z_from_p(sift_count_upper_p(2 * mu, 2 * var, x + xp));
        double two =
            z2 > 0 ? sift_score_from_z(z2 * 5.0 / sift_z_from_p(pstar)) : 0;
        if (two > sc) {
            *hold_one =
                two >= sift_alerts_series_threshold(an->alerts, key, s->name);
            sc = two;
        }
    }
    return sc;
}

/* Observes the spike score of series s (see spike_score()). */
static void
observe_spike(struct sift_anomaly *an, const struct series *s, double x,
              double mu, double var, double min_excess, int warm, int64_t ws,
              int64_t we)
{
    uint64_t key = alert_key(s, SIFT_ALERT_SPIKE);
    int hold_one = 0;
    double sc =
        warm ? spike_score(an, s, key, x, mu, var, min_excess, &hold_one) : 0;
    observe(an, key, s->name, SIFT_ALERT_SPIKE, sc, hold_one ? 1 : 0, ws, we,
            NULL);
}

/* One window of a CUSUM's alarm (the drop test, the error share's rise):
 * once *top, the CUSUM's value, reaches h the alarm is on and the score
 * holds at h (*top raised to it) until the windows since favour the usual
 * level by RATIO_END_ODDS to one (*end: the evidence for it, llr taken
 * off each window, floored at 0).  Then the alarm ends, *top is 0 and 1 is
 * returned: the caller restarts its CUSUMs from 0. */
static int
alarm_step(int *alarm, double *end, double llr, double *top, double h)
{
    if (!*alarm) {
        if (*top >= h) {
            *alarm = 1;
            *end = 0;
        }
        return 0;
    }
    *end = *end - llr > 0 ? *end - llr : 0;
    if (*end >= log(SIFT__ANOMALY_RATIO_END_ODDS)) {
        *alarm = 0;
        *end = 0;
        *top = 0;
        return 1;
    }
    if (*top < h)
        *top = h;
    return 0;
}

/*
 * Drops and silence of a service's volume.  A lower CUSUM of the
 * window's log-likelihood ratio "the mean fell to drop_ratio of the
 * level" against "it is the level", under negative binomials of the
 * series' own dispersion c (its observed variance is level + c level^2:
 * a constant relative swing of the volume on top of counting noise, c =
 * 0 a Poisson; sift_nb_llr()).  So a sustained fall accumulates however
 * the windows swing, each window weighed by what it says: a fall to half
 * of a level swinging +-30% a window (a 17% standard deviation) adds 4
 * to 5 nats a window; and with a Poisson's variance shrinking with the
 * mean, the test holds for counts of a few events.  Its threshold is h =
 * ln(ARL0) nats: by Wald's bound a steady series crosses it less than
 * once in ARL0 windows (100 days).  Only for a series whose level is at
 * least BUSY_MIN events a window.  And a run of empty windows is scored
 * by its own odds (P(0)^run), so a silence of a busy service alerts at
 * once, and one of a quiet service (from one event a window) once the
 * run is as unlikely as the budget allows.
 */
static double
drop_score(struct sift_anomaly *an, struct series *s, double x, double mu,
           double var, int warm)
{
    s->empty_run = x == 0 ? s->empty_run + 1 : 0;
    if (!warm || mu < SIFT__ANOMALY_BUSY_MIN) {
        s->drop_cusum = 0;
        s->drop_suspect = 0;
        s->drop_alarm = 0;
        s->drop_end = 0;
        if (!warm || !s->empty_run || mu < SIFT__ANOMALY_SILENT_MIN)
            return 0;
        double p0 = sift_count_lower_p(mu, var, 0);
        return sift_score_from_p(pow(p0, (double)s->empty_run));
    }
    /* While the CUSUM is running, the level and dispersion are those of
     * when it left 0: a fall in progress is measured against the normal
     * before it, not against a level that has started to follow it (and
     * a spread it has widened).  Once the level has absorbed half the
     * tested fall (a lasting step down, learned at a tenth of the rate
     * while suspected), the test restarts from it, so such a step's
     * alert resolves. */
    if (s->drop_cusum > 0 &&
        mu < s->drop_mu * (1 - (1 - an->cfg.drop_ratio) / 2))
        s->drop_cusum = 0;
    if (s->drop_cusum <= 0) {
        /* The level is an EWMA of about 2 / alpha windows: its own
         * error (variance var alpha / (2 - alpha)) does not average out
         * over the CUSUM's run, so the fall is measured from one standard
         * error under it (as the error share is measured from one over
         * its pool): a level that happens to sit high does not make a
         * run of ordinary windows look like a fall. */
        double se = sqrt(var * an->cfg.alpha / (2 - an->cfg.alpha));
        s->drop_mu = mu - se > 0.5 * mu ? mu - se : 0.5 * mu;
        s->drop_c = var > mu ? (var - mu) / (mu * mu) : 0;
    }
    mu = s->drop_mu;
    double llr = sift_nb_llr(x, mu, an->cfg.drop_ratio * mu, s->drop_c);
    double c = s->drop_cusum + llr;
    double h = log(an->arl0);
    s->drop_cusum = c <= 0 ? 0 : (c < 2 * h ? c : 2 * h);
    /* After the alarm the score holds at the threshold until the windows
     * since favour the level over the fall by RATIO_END_ODDS to one; then
     * the CUSUM restarts from 0 (the usual restart after a signal): the
     * alert does not flap while the volume stays down, and after the
     * incident it cannot re-fire without a full threshold of new
     * evidence. */
    double top = s->drop_cusum;
    if (alarm_step(&s->drop_alarm, &s->drop_end, llr, &top, h))
        s->drop_cusum = 0;
    s->drop_suspect = top >= h / 2;
    double sc = 50 * top / h;
    if (s->empty_run) {
        double p0 = sift_count_lower_p(mu, mu + s->drop_c * mu * mu, 0);
        double run = sift_score_from_p(pow(p0, (double)s->empty_run));
        sc = run > sc ? run : sc;
    }
    return sc > 100 ? 100 : sc;
}

/*
 * The usual error share of service s (see ratio_score()): the pooled
 * share, at least the prior's pull towards one error in RATIO_PRIOR
 * events (only a service with a share under that is pulled up; a higher
 * share is not biased down), raised by one standard error of the pool
 * (a share estimated from few events does not make its own estimation
 * error look like a rise), at least RATIO_MIN.
 */
static double
ratio_p0(const struct series *s)
{
    double ev = s->ev_pool;
    double p = ev > 0 ? s->err_pool / ev : 0;
    double prior = (s->err_pool + 1) / (ev + SIFT__ANOMALY_RATIO_PRIOR);
    if (prior > p)
        p = prior;
    p += sqrt(p * (1 - p) / (ev + SIFT__ANOMALY_RATIO_PRIOR));
    if (p > 1)
        p = 1;
    return p < SIFT__ANOMALY_RATIO_MIN ? SIFT__ANOMALY_RATIO_MIN : p;
}

/*
 * Error share against the service's own normal.  The usual share p0 is
 * pooled over the service's recent events (errors and events decayed
 * with a memory of RATIO_MEMORY_S of traffic, plus one error in
 * RATIO_PRIOR events for a service with fewer: it still judges its first
 * errors by odds, never by certainty), plus one standard error of the
 * pool, at least RATIO_MIN (ratio_p0()).  Each
 * window adds its binomial log-likelihood ratio of "the share rose to
 * p1" against "it is p0" to two CUSUMs, one per alternative: p1 = p0 +
 * RATIO_RISE (the smallest rise named an incident: near-optimal for a
 * rise of 5 to 10 points whatever p0, e.g. 30% -> 37%) and p1 = p0 +
 * max(RATIO_RISE, p0 / 2) (a large rise on a service whose usual share
 * is already high; the same CUSUM when p0 <= 2 x RATIO_RISE).  A slow
 * rise adds up window by window however few events each window holds.
 * When the share's windows vary more than sampling explains (phi = their
 * variance over the binomial's at the usual volume), every window's
 * evidence is divided by phi (quasi-likelihood).  Each CUSUM's threshold
 * is ln(2 x ARL0): by Wald's bound, on a steady service it crosses it
 * less than once in 2 x ARL0 windows, so the two together less than once
 * in ARL0.  A CUSUM is capped at 1.5 times that, and past the threshold
 * a window favouring p0 halves it (the incident is over).  The score is
 * 50 at the threshold; this window's own binomial tail (deflated by phi
 * too) when that is higher.  *hold_one says a CUSUM is over (it spans
 * windows already: fire at once).  While a CUSUM is past half its
 * threshold the usual share learns at a tenth of the rate (ratio_pool()),
 * so a slow rise is measured against the share before it.  With
 * seasonality, p_hour is the usual share of this hour of the day
 * (weighted towards p0 while the hour is learned); p0 is the higher of
 * the two, so an hour that usually holds more errors (a nightly batch
 * job logging errors) is not a rise, while a quieter hour never lowers
 * the bar.
 */
static double
ratio_score(struct sift_anomaly *an, struct series *s, double thr, int warm,
            double p_hour, int *hold_one)
{
    *hold_one = 0;
    double n = s->count, e = s->errors;
    double p0 = ratio_p0(s);
    if (p_hour > p0)
        p0 = p_hour;
    if (!warm || p0 >= 0.9) {
        s->ratio_cusum[0] = s->ratio_cusum[1] = 0;
        s->ratio_suspect = s->ratio_alarm = 0;
        s->ratio_end = 0;
        return 0;
    }
    if (n == 0)
        return 0; /* no evidence either way */
    /* Dispersion of the share across windows at the usual volume. */
    double nu = s->cnt.level > 1 ? s->cnt.level : 1;
    double bvar = p0 * (1 - p0) / nu;
    double rsd = SIFT__ANOMALY_SIGMA_PER_ABSDEV * s->ratio.absdev;
    /* (Until the share's baseline is past its warm start, a plain mean
     * that any odd window moves, phi is not known: 1.) */
    double phi = s->ratio.n * an->cfg.alpha >= 1 ? rsd * rsd / bvar : 1;
    if (phi < 1)
        phi = 1;
    if (phi > 25)
        phi = 25;
    double h = log(2 * an->arl0);
    double top = 0, llr_max = -INFINITY;
    for (int i = 0; i < 2; i++) {
        double rise = i == 1 && p0 / 2 > SIFT__ANOMALY_RATIO_RISE
                          ? p0 / 2
                          : SIFT__ANOMALY_RATIO_RISE;
        double p1 = p0 + rise < 0.95 ? p0 + rise : 0.95;
        double llr =
            (e * log(p1 / p0) + (n - e) * log((1 - p1) / (1 - p0))) / phi;
        double c = s->ratio_cusum[i] + llr;
        c = c > 0 ? c : 0;
        s->ratio_cusum[i] = c < 1.5 * h ? c : 1.5 * h;
        if (s->ratio_cusum[i] > top)
            top = s->ratio_cusum[i];
        if (llr > llr_max)
            llr_max = llr;
    }
    /* After the alarm, the score holds at the threshold until the windows
     * since favour the usual share over every rise by RATIO_END_ODDS to
     * one; then the CUSUMs restart from 0 (the usual restart after a
     * signal): no flapping while the share stays up, and no re-alarm
     * after the incident without a full threshold of new evidence. */
    if (alarm_step(&s->ratio_alarm, &s->ratio_end, llr_max, &top, h))
        s->ratio_cusum[0] = s->ratio_cusum[1] = 0;
    s->ratio_suspect = top >= h / 2;
    double cus = 50 * top / h;
    double now = 0;
    if (e > n * p0) {
        double z = sift_z_from_p(sift_binom_upper_p(n, e, p0));
        now = z > 0 ? sift_score_from_z(z / sqrt(phi)) : 0;
    }
    *hold_one = cus >= thr;
    double sc = cus > now ? cus : now;
    return sc > 100 ? 100 : sc;
}

/* Folds the window's events and errors into the pooled usual share
 * (memory RATIO_MEMORY_S of time, whatever the window): at a tenth of the
 * weight while a rise is suspected. */
static void
ratio_pool(struct sift_anomaly *an, struct series *s)
{
    double decay = (double)an->cfg.window_ns /
                   (SIFT__ANOMALY_RATIO_MEMORY_S * (double)SIFT_NS_PER_SEC);
    if (decay > 0.5)
        decay = 0.5;
    double d = 1 - decay;
    if (s->ratio_suspect) {
        double w = 0.1;
        s->err_pool = s->err_pool * (1 - w * decay) + w * s->errors;
        s->ev_pool = s->ev_pool * (1 - w * decay) + w * s->count;
        return;
    }
    s->err_pool = s->err_pool * d + s->errors;
    s->ev_pool = s->ev_pool * d + s->count;
}

static void
score_series(struct sift_anomaly *an, struct series *s, int64_t ws, int64_t we)
{
    const struct sift_anomaly_cfg *c = &an->cfg;
    an->mute = an->cl && !cl_owns(an, s);
    /* A learning series is scored (its baselines warm up) but its
     * scores are 0: "warm" is false until its service has learned. */
    int warm = s->cnt.n >= c->warmup_windows && an->cur_win >= s->quiet_until;
    double x = s->count;
    /* With seasonality, the baseline sees the value minus its hour's
     * learned offset; the expected raw count is level + offset. */
    double off = 0, wph = 0;
    int hour = 0;
    if (s->season) {
        wph = (double)(3600 * SIFT_NS_PER_SEC) / (double)c->window_ns;
        hour = sift_season_hour(ws);
        off = sift_season_offset(s->season, hour, wph, c->season_min_days);
    }
    double xa = x - off;
    double floor = sift_count_floor(s->cnt.level + off);
    double mu = s->cnt.level + off;
    if (mu < 0)
        mu = 0;
    double var = count_var(&s->cnt, mu);
    switch ((enum series_type)s->type) {
    case SER_SERVICE: {
        /* Most telling first: the first series of a service over its
         * threshold opens the service's alert, the others attach to it
         * (alerts.c, alert budget). */
        uint64_t rkey = alert_key(s, SIFT_ALERT_ERROR_RATIO);
        double thr = sift_alerts_series_threshold(an->alerts, rkey, s->name);
        double p_hour = 0;
        if (s->share_season) {
            double w;
            double ph = sift_share_season_p(s->share_season, hour, wph,
                                            c->season_min_days, &w);
            double pg = ratio_p0(s);
            p_hour = w * ph + (1 - w) * pg;
        }
        int hold_one;
        double rs = ratio_score(an, s, thr, warm, p_hour, &hold_one);
        observe(an, rkey, s->name, SIFT_ALERT_ERROR_RATIO, rs, hold_one ? 1 : 0,
                ws, we, NULL);
        /* A window missing a node's counts (cluster) cannot tell a drop
         * from the missing node: no drop test, no volume learning. */
        if (!an->partial)
            observe(an, alert_key(s, SIFT_ALERT_DROP), s->name, SIFT_ALERT_DROP,
                    drop_score(an, s, x, mu, var, warm), c->drop_windows, ws,
                    we, NULL);
        new_burst(an, s, ws, we);
        observe_spike(an, s, x, mu, var, SIFT__ANOMALY_SPIKE_EXCESS, warm, ws,
                      we);
        ratio_pool(an, s);
        if (s->share_season)
            sift_share_season_update(s->share_season, hour, s->errors, s->count,
                                     wph);
        if (s->count) {
            double ratio = (double)s->errors / s->count;
            double rfloor =
                SIFT__ANOMALY_RATIO_FLOOR + sqrt_frac(s->ratio.level, s->count);
            sift_baseline_update_w(&s->ratio, ratio, c->alpha, rfloor,
                                   s->ratio_suspect ? 0.1 : 1.0);
        }
        break;
    }
    case SER_ERRORS:
        observe_spike(an, s, x, mu, var, SIFT__ANOMALY_ERR_EXCESS, warm, ws,
                      we);
        break;
    case SER_TEMPLATE: {
        /* New templates alert through their service (new_burst()). A
         * known template's own spike (a retry or timeout line storming
         * while the service's total barely moves), judged by the odds of
         * its count and only past a minimum excess: a template seen two
         * or three times a window does not alert on eight. */
        observe_spike(an, s, x, mu, var, SIFT__ANOMALY_TEMPLATE_SPIKE_MIN, warm,
                      ws, we);
        break;
    }
    }
    /* While a drop is suspected (its CUSUM past half the threshold) the
     * level learns at a tenth of the rate: a fall within the usual
     * window-to-window swing must not become the new normal before it
     * has been tested. */
    if (!an->partial) {
        sift_baseline_update_w(&s->cnt, xa, c->alpha, floor,
                               s->drop_suspect ? 0.1 : 1.0);
        if (s->season)
            sift_season_update(s->season, hour, x, wph);
    }
    s->prev_count = s->count;
    s->count = 0;
    s->errors = 0;
    s->age++;
}

static void
close_window(struct sift_anomaly *an)
{
    int64_t ws = an->cur_win * an->cfg.window_ns;
    int64_t we = ws + an->cfg.window_ns;
    collect_new(an);
    /* Services first, so a service's own series opens its alert and its
     * error and template series attach to it. */
    for (struct series *s = an->lru_head; s; s = s->lru_next)
        if (s->type == SER_SERVICE)
            score_series(an, s, ws, we);
    for (struct series *s = an->lru_head; s; s = s->lru_next)
        if (s->type != SER_SERVICE)
            score_series(an, s, ws, we);
    an->n_windows++;
}

/* Closes windows until the one holding ts_ns is open. */
static void
advance_to(struct sift_anomaly *an, int64_t win)
{
    if (an->cur_win < 0) {
        an->cur_win = win;
        return;
    }
    int64_t gap = win - an->cur_win;
    for (int64_t i = 0; i < gap && i < SIFT__ANOMALY_MAX_GAP; i++) {
        close_window(an);
        an->cur_win++;
    }
    if (an->cur_win < win)
        an->cur_win = win; /* a long gap: skip the rest unscored */
}

void
sift_anomaly_advance(struct sift_anomaly *an, int64_t now_ns)
{
    if (an->cur_win < 0 || an->cl)
        return;
    int64_t win = now_ns / an->cfg.window_ns;
    if (win > an->cur_win)
        advance_to(an, win);
}

/* What a child series needs of its service's series (which the lookups
 * that create the child may evict, at max_series). */
struct svc_ref {
    uint64_t key;
    uint32_t age;
    int64_t quiet;
};

/* Counts n events, errs of them errors, of service svc (len bytes; ""
 * is "-") into its series and its error series. */
static void
count_service(struct sift_anomaly *an, const char *svc, int svc_len, uint32_t n,
              uint32_t errs, struct svc_ref *out)
{
    char name[SIFT_ALERT_SERIES_MAX];
    if (svc_len == 0) {
        svc = "-";
        svc_len = 1;
    }
    int len = snprintf(name, sizeof(name), "service=%.*s", svc_len, svc);
    struct series *s = series_get(an, SER_SERVICE, name, (size_t)len);
    if (s->age == 0 && s->count == 0 && s->quiet_until == 0 &&
        an->n_windows >= an->cfg.global_warmup_windows)
        s->quiet_until = an->cur_win + an->cfg.learning_windows;
    s->count += n;
    out->key = s->key;
    out->age = s->age;
    out->quiet = s->quiet_until;
    if (errs) {
        s->errors += errs;
        len = snprintf(name, sizeof(name), "service=%.*s level=error", svc_len,
                       svc);
        struct series *e = series_get(an, SER_ERRORS, name, (size_t)len);
        e->parent = out->key;
        if (e->quiet_until < out->quiet)
            e->quiet_until = out->quiet;
        e->count += errs;
    }
}

/* Counts n events of template tid (series key, display name) of the
 * service sv. */
static void
count_template(struct sift_anomaly *an, const struct svc_ref *sv, uint64_t key,
               const char *name, size_t name_len, uint32_t tid, uint32_t n)
{
    struct series *t = series_get_key(an, SER_TEMPLATE, key, name, name_len);
    if (t->parent == 0) { /* just created */
        t->parent = sv->key;
        t->tid = tid;
        t->quiet_until = sv->quiet;
        /* Onboarding: a service still in its learning period has only
         * templates to learn, none to alert on. */
        t->is_new &= sv->age >= an->cfg.learning_windows;
    }
    t->count += n;
}

static void cl_process(struct sift_anomaly *an,
                       const struct sift_anomaly_rec *rec);

void
sift_anomaly_process(struct sift_anomaly *an,
                     const struct sift_anomaly_rec *rec)
{
    if (an->cl) {
        cl_process(an, rec);
        return;
    }
    int64_t win = rec->ts_ns / an->cfg.window_ns;
    if (win > an->cur_win)
        advance_to(an, win);
    if (an->cfg.max_lateness_ns > 0 &&
        (int64_t)rec->late_s * SIFT_NS_PER_SEC > an->cfg.max_lateness_ns) {
        atomic_fetch_add_explicit(&an->n_late, 1, memory_order_relaxed);
        return;
    }
    struct svc_ref sv;
    count_service(an, rec->service, rec->service_len, 1,
                  rec->level >= SIFT_LVL_ERROR, &sv);
    if (rec->template_id) {
        char name[SIFT_ALERT_SERIES_MAX];
        int svc_len = rec->service_len;
        const char *svc = rec->service;
        if (svc_len == 0) {
            svc = "-";
            svc_len = 1;
        }
        int n = snprintf(name, sizeof(name), "service=%.*s template=%u",
                         svc_len, svc, rec->template_id);
        count_template(an, &sv, series_key(SER_TEMPLATE, name, (size_t)n), name,
                       (size_t)n, rec->template_id, 1);
    }
}

/* ------------------------------------------------------------------ */
/* Cluster (cfg.cluster): local counts out, every node's sums in        */
/* ------------------------------------------------------------------ */

#define PUB_MAX 16 /* closed local windows kept for the peers */
/* Longest service name taken from a peer (its cut 22 bytes, with bytes
 * that were not UTF-8 written as U+FFFD). */
#define CL_SVC_MAX 66

/* One local count of the open window: a service (tid 0) or one of its
 * templates. */
struct lcount {
    uint64_t h; /* 0: a free slot */
    uint32_t tid;
    uint32_t n, errors;
    uint8_t svc_len;
    char svc[SIFT_ANOMALY_SERVICE_MAX];
};

struct pubwin {
    int64_t win; /* -1: none */
    char *json;
    size_t len;
    int64_t closed_mono; /* when it closed here (sift_clock_mono_ns) */
};

/* The peers' answers for one window, waiting for the scoring thread. */
struct inwin {
    int64_t win;
    size_t n, n_failed;
    char **body;
    size_t *len;
    struct inwin *next;
};

struct cl {
    struct sift_anomaly_cluster cfg;
    char node_id[128];
    uint64_t self_hash;
    int64_t lwin; /* the open local window, -1: not yet */
    struct lcount *lc;
    uint32_t lc_cap, lc_n;
    pthread_mutex_t mu; /* pub, pub_last, inbox */
    struct pubwin pub[PUB_MAX];
    int64_t pub_last;  /* the last window closed here, -1: none */
    int64_t first_win; /* the first window counted here, -1: none yet */
    struct inwin *inbox;
    int64_t merge_next; /* the next window to score, -1: none closed */
    uint64_t *live;     /* node hashes of the window being scored */
    size_t n_live, cap_live;
    uint64_t owned_now, scored_now;
    atomic_uint_least64_t merged, partial, owned, scored;
};

uint64_t
sift_anomaly_node_hash(const char *id, size_t len)
{
    return XXH3_64bits(id, len);
}

uint64_t
sift_anomaly_service_key(const char *service, size_t len)
{
    char name[SIFT_ALERT_SERIES_MAX];
    if (len == 0) {
        service = "-";
        len = 1;
    }
    int n = snprintf(name, sizeof(name), "service=%.*s", (int)len, service);
    return series_key(SER_SERVICE, name, (size_t)n);
}

size_t
sift_anomaly_owner(uint64_t series_key, const uint64_t *nodes, size_t n)
{
    size_t best = 0;
    uint64_t best_w = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t w =
            XXH3_64bits_withSeed(&series_key, sizeof(series_key), nodes[i]);
        if (i == 0 || w > best_w || (w == best_w && nodes[i] < nodes[best])) {
            best = i;
            best_w = w;
        }
    }
    return best;
}

/* Whether this node raises the alerts of series s in the window being
 * scored: the owner of its service among the live nodes. */
static int
cl_owns(struct sift_anomaly *an, const struct series *s)
{
    struct cl *c = an->cl;
    c->scored_now++;
    uint64_t key = s->type == SER_SERVICE ? s->key : s->parent;
    int mine =
        c->n_live <= 1 ||
        c->live[sift_anomaly_owner(key, c->live, c->n_live)] == c->self_hash;
    c->owned_now += (uint64_t)mine;
    return mine;
}

static void
cl_new(struct sift_anomaly *an, const struct sift_anomaly_cluster *cfg)
{
    struct cl *c = sift_xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    snprintf(c->node_id, sizeof(c->node_id), "%s",
             cfg->node_id ? cfg->node_id : "");
    c->cfg.node_id = c->node_id;
    c->self_hash = sift_anomaly_node_hash(c->node_id, strlen(c->node_id));
    c->lwin = -1;
    c->pub_last = -1;
    c->first_win = -1;
    c->merge_next = -1;
    for (int i = 0; i < PUB_MAX; i++)
        c->pub[i].win = -1;
    c->lc_cap = 256;
    c->lc = sift_xcalloc(c->lc_cap, sizeof(*c->lc));
    pthread_mutex_init(&c->mu, NULL);
    an->cl = c;
}

static void
inwin_free(struct inwin *w)
{
    for (size_t i = 0; i < w->n; i++)
        sift_free(w->body[i]);
    sift_free(w->body);
    sift_free(w->len);
    sift_free(w);
}

static void
cl_free(struct cl *c)
{
    if (!c)
        return;
    for (int i = 0; i < PUB_MAX; i++)
        sift_free(c->pub[i].json);
    while (c->inbox) {
        struct inwin *w = c->inbox;
        c->inbox = w->next;
        inwin_free(w);
    }
    sift_free(c->lc);
    sift_free(c->live);
    pthread_mutex_destroy(&c->mu);
    sift_free(c);
}

static struct lcount *
lc_slot(struct cl *c, const char *svc, uint8_t len, uint32_t tid)
{
    if ((c->lc_n + 1) * 2 > c->lc_cap) {
        struct lcount *old = c->lc;
        uint32_t old_cap = c->lc_cap;
        c->lc_cap *= 2;
        c->lc = sift_xcalloc(c->lc_cap, sizeof(*c->lc));
        for (uint32_t i = 0; i < old_cap; i++) {
            if (!old[i].h)
                continue;
            uint32_t j = (uint32_t)old[i].h & (c->lc_cap - 1);
            while (c->lc[j].h)
                j = (j + 1) & (c->lc_cap - 1);
            c->lc[j] = old[i];
        }
        sift_free(old);
    }
    uint64_t h = XXH3_64bits_withSeed(svc, len, tid) | 1;
    uint32_t m = c->lc_cap - 1;
    for (uint32_t i = (uint32_t)h & m;; i = (i + 1) & m) {
        struct lcount *e = &c->lc[i];
        if (!e->h) {
            e->h = h;
            e->tid = tid;
            e->svc_len = len;
            memcpy(e->svc, svc, len);
            c->lc_n++;
            return e;
        }
        if (e->h == h && e->tid == tid && e->svc_len == len &&
            memcmp(e->svc, svc, len) == 0)
            return e;
    }
}

/* The first local window: before it this node was not counting (not
 * running), so it had nothing of those windows (an empty answer). */
static void
cl_start(struct cl *c, int64_t win)
{
    c->lwin = win;
    pthread_mutex_lock(&c->mu);
    c->first_win = win;
    pthread_mutex_unlock(&c->mu);
}

/* Closes local window c->lwin: its counts become a JSON text kept for
 * the peers, and closed() tells the caller to ask them for theirs. */
static void
cl_close_local(struct sift_anomaly *an)
{
    struct cl *c = an->cl;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"win\":%lld,\"node_id\":", (long long)c->lwin);
    sift_buf_put_json_str(&b, c->node_id, strlen(c->node_id));
    sift_buf_append(&b, ",\"services\":[", 13);
    int first = 1;
    for (uint32_t i = 0; i < c->lc_cap; i++) {
        const struct lcount *e = &c->lc[i];
        if (!e->h || e->tid)
            continue;
        sift_buf_append(&b, first ? "[" : ",[", first ? 1 : 2);
        first = 0;
        sift_buf_put_json_str(&b, e->svc, e->svc_len);
        sift_buf_appendf(&b, ",%u,%u]", e->n, e->errors);
    }
    sift_buf_append(&b, "],\"templates\":[", 15);
    first = 1;
    struct sift_buf text = SIFT_BUF_INIT;
    for (uint32_t i = 0; i < c->lc_cap; i++) {
        const struct lcount *e = &c->lc[i];
        if (!e->h || !e->tid)
            continue;
        text.len = 0;
        /* Ids are per node: the peers know a template by its text. */
        if (!c->cfg.text ||
            c->cfg.text(c->cfg.text_arg, e->tid, &text) != SIFT_OK)
            continue;
        sift_buf_append(&b, first ? "[" : ",[", first ? 1 : 2);
        first = 0;
        sift_buf_put_json_str(&b, e->svc, e->svc_len);
        sift_buf_putc(&b, ',');
        sift_buf_put_json_str(&b, text.data, text.len);
        sift_buf_appendf(&b, ",%u,%u]", e->n, e->tid);
    }
    sift_buf_cleanup(&text);
    sift_buf_append(&b, "]}", 2);
    size_t len;
    sift_buf_cstr(&b);
    char *json = sift_buf_detach(&b, &len);
    int64_t win = c->lwin;
    pthread_mutex_lock(&c->mu);
    struct pubwin *p = &c->pub[win % PUB_MAX];
    sift_free(p->json);
    p->win = win;
    p->json = json;
    p->len = len;
    p->closed_mono = sift_clock_mono_ns();
    c->pub_last = win;
    pthread_mutex_unlock(&c->mu);
    memset(c->lc, 0, c->lc_cap * sizeof(*c->lc));
    c->lc_n = 0;
    if (c->merge_next < 0)
        c->merge_next = win;
    if (c->cfg.closed)
        c->cfg.closed(c->cfg.closed_arg, win);
}

/* Closes local windows until win is the open one (a long gap: the last
 * one closed, the rest skipped). */
static void
cl_close_to(struct sift_anomaly *an, int64_t win)
{
    struct cl *c = an->cl;
    if (c->lwin < 0) {
        cl_start(c, win);
        return;
    }
    for (int i = 0; c->lwin < win && i < SIFT__ANOMALY_MAX_GAP; i++) {
        cl_close_local(an);
        c->lwin++;
    }
    if (c->lwin < win)
        c->lwin = win;
}

/* A record counts in the open local window, whatever its own: windows
 * close by this node's clock (cl_tick()), so every node cuts them at
 * the same instants. */
static void
cl_process(struct sift_anomaly *an, const struct sift_anomaly_rec *rec)
{
    struct cl *c = an->cl;
    if (c->lwin < 0)
        cl_start(c, rec->ts_ns / an->cfg.window_ns);
    if (an->cfg.max_lateness_ns > 0 &&
        (int64_t)rec->late_s * SIFT_NS_PER_SEC > an->cfg.max_lateness_ns) {
        atomic_fetch_add_explicit(&an->n_late, 1, memory_order_relaxed);
        return;
    }
    uint8_t len = rec->service_len < SIFT_ANOMALY_SERVICE_MAX
                      ? rec->service_len
                      : SIFT_ANOMALY_SERVICE_MAX;
    struct lcount *e = lc_slot(c, rec->service, len, 0);
    e->n++;
    e->errors += rec->level >= SIFT_LVL_ERROR;
    if (rec->template_id)
        lc_slot(c, rec->service, len, rec->template_id)->n++;
}

/* Adds one node's counts (a sift_anomaly_window_json() text) to the
 * series and the node to the live ones.  Returns 1, 0 when the text is
 * unusable (another window, not ours), -1 for a node already added (one
 * node listed under two addresses: counted once). */
static int
cl_add(struct sift_anomaly *an, const char *body, size_t len, int64_t win)
{
    json_t *o = json_loadb(body, len, 0, NULL);
    json_t *id = json_object_get(o, "node_id");
    json_t *svcs = json_object_get(o, "services");
    json_t *tpls = json_object_get(o, "templates");
    json_t *w = json_object_get(o, "win");
    if (!json_is_string(id) || !json_is_array(svcs) || !json_is_array(tpls) ||
        !json_is_integer(w) || json_integer_value(w) != win) {
        json_decref(o);
        return 0;
    }
    struct cl *c = an->cl;
    uint64_t h =
        sift_anomaly_node_hash(json_string_value(id), json_string_length(id));
    for (size_t i = 0; i < c->n_live; i++)
        if (c->live[i] == h) {
            json_decref(o);
            return -1;
        }
    size_t i;
    json_t *e;
    json_array_foreach(svcs, i, e)
    {
        json_t *name = json_array_get(e, 0);
        json_int_t n = json_integer_value(json_array_get(e, 1));
        json_int_t errs = json_integer_value(json_array_get(e, 2));
        if (!json_is_string(name) || n < 0 || errs < 0 || errs > n ||
            n > UINT32_MAX)
            continue;
        size_t sl = json_string_length(name);
        struct svc_ref sv;
        count_service(an, json_string_value(name),
                      (int)(sl < CL_SVC_MAX ? sl : CL_SVC_MAX), (uint32_t)n,
                      (uint32_t)errs, &sv);
    }
    json_array_foreach(tpls, i, e)
    {
        json_t *name = json_array_get(e, 0);
        json_t *text = json_array_get(e, 1);
        json_int_t n = json_integer_value(json_array_get(e, 2));
        json_int_t tid = json_integer_value(json_array_get(e, 3));
        if (!json_is_string(name) || !json_is_string(text) || n <= 0 ||
            n > UINT32_MAX || tid <= 0 || tid > UINT32_MAX)
            continue;
        size_t sl = json_string_length(name);
        int svc_len = (int)(sl < CL_SVC_MAX ? sl : CL_SVC_MAX);
        const char *svc = json_string_value(name);
        struct svc_ref sv;
        count_service(an, svc, svc_len, 0, 0, &sv);
        /* Keyed by text: ids are per node.  The name keeps the id of
         * the first node that reported it here (this node's own when it
         * has the template: its answer is added first). */
        uint64_t key = XXH3_64bits_withSeed(json_string_value(text),
                                            json_string_length(text), sv.key) ^
                       (uint64_t)SER_TEMPLATE;
        char tname[SIFT_ALERT_SERIES_MAX];
        int tl =
            snprintf(tname, sizeof(tname), "service=%.*s template=%u",
                     svc_len ? svc_len : 1, svc_len ? svc : "-", (uint32_t)tid);
        count_template(an, &sv, key, tname, (size_t)tl, (uint32_t)tid,
                       (uint32_t)n);
    }
    json_decref(o);
    if (c->n_live == c->cap_live) {
        c->cap_live = c->cap_live ? c->cap_live * 2 : 8;
        c->live = sift_xrealloc(c->live, c->cap_live * sizeof(*c->live));
    }
    c->live[c->n_live++] = h;
    return 1;
}

/* Scores window win from this node's counts and the peers' answers (w;
 * NULL: none came in time). */
static void
cl_merge(struct sift_anomaly *an, int64_t win, const struct inwin *w)
{
    struct cl *c = an->cl;
    an->cur_win = win;
    c->n_live = 0;
    size_t failed = w ? w->n_failed : 1;
    pthread_mutex_lock(&c->mu);
    const struct pubwin *p = &c->pub[win % PUB_MAX];
    char *own = p->win == win ? sift_xstrndup(p->json, p->len) : NULL;
    size_t own_len = own ? p->len : 0;
    pthread_mutex_unlock(&c->mu);
    if (!own || cl_add(an, own, own_len, win) != 1) {
        /* Not this node's counts (never: it published them): still
         * scored from the peers', this node counting as live. */
        failed++;
        if (c->n_live == c->cap_live) {
            c->cap_live = c->cap_live ? c->cap_live * 2 : 8;
            c->live = sift_xrealloc(c->live, c->cap_live * sizeof(*c->live));
        }
        c->live[c->n_live++] = c->self_hash;
    }
    sift_free(own);
    for (size_t i = 0; w && i < w->n; i++)
        if (cl_add(an, w->body[i], w->len[i], win) == 0)
            failed++; /* unreadable, or not that window */
    an->partial = failed > 0;
    c->owned_now = c->scored_now = 0;
    close_window(an);
    an->partial = 0;
    an->mute = 0;
    atomic_fetch_add_explicit(&c->merged, 1, memory_order_relaxed);
    if (failed)
        atomic_fetch_add_explicit(&c->partial, 1, memory_order_relaxed);
    atomic_store_explicit(&c->owned, c->owned_now, memory_order_relaxed);
    atomic_store_explicit(&c->scored, c->scored_now, memory_order_relaxed);
}

/* Scoring thread: closes the local windows whose end is grace_ns past,
 * then scores, in window order, every closed window whose answers are in
 * (or whose answers are overdue: give_up_ns after it closed here). */
static void
cl_tick(struct sift_anomaly *an, int64_t now)
{
    struct cl *c = an->cl;
    int64_t open = (now - c->cfg.grace_ns) / an->cfg.window_ns;
    if (c->lwin < 0)
        cl_start(c, now / an->cfg.window_ns);
    else if (open > c->lwin)
        cl_close_to(an, open);
    while (c->merge_next >= 0) {
        int64_t win = c->merge_next;
        struct inwin *got = NULL;
        pthread_mutex_lock(&c->mu);
        for (struct inwin **pp = &c->inbox; *pp;) {
            struct inwin *w = *pp;
            if (w->win < win) { /* given up on already */
                *pp = w->next;
                inwin_free(w);
                continue;
            }
            if (w->win == win) {
                *pp = w->next;
                got = w;
                break;
            }
            pp = &w->next;
        }
        const struct pubwin *p = &c->pub[win % PUB_MAX];
        int closed = win <= c->pub_last;
        int overdue =
            closed && (p->win != win || sift_clock_mono_ns() - p->closed_mono >=
                                            c->cfg.give_up_ns);
        pthread_mutex_unlock(&c->mu);
        if (!got && !overdue)
            break;
        if (got || p->win == win)
            cl_merge(an, win, got);
        if (got)
            inwin_free(got);
        c->merge_next++;
    }
}

int
sift_anomaly_window_json(struct sift_anomaly *an, int64_t win,
                         struct sift_buf *out)
{
    struct cl *c = an->cl;
    if (!c || win < 0)
        return SIFT_ENOTFOUND;
    pthread_mutex_lock(&c->mu);
    int rc = SIFT_ENOTFOUND;
    if (c->first_win >= 0 && win < c->first_win) {
        sift_buf_appendf(out, "{\"win\":%lld,\"node_id\":", (long long)win);
        sift_buf_put_json_str(out, c->node_id, strlen(c->node_id));
        sift_buf_append(out, ",\"services\":[],\"templates\":[]}", 30);
        rc = SIFT_OK;
    } else if (win > c->pub_last) {
        rc = SIFT_EAGAIN;
    } else if (c->pub[win % PUB_MAX].win == win) {
        sift_buf_append(out, c->pub[win % PUB_MAX].json,
                        c->pub[win % PUB_MAX].len);
        rc = SIFT_OK;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void
sift_anomaly_merge_window(struct sift_anomaly *an, int64_t win,
                          const struct sift_anomaly_answer *a, size_t n,
                          size_t n_failed)
{
    struct cl *c = an->cl;
    if (!c)
        return;
    struct inwin *w = sift_xcalloc(1, sizeof(*w));
    w->win = win;
    w->n = n;
    w->n_failed = n_failed;
    w->body = sift_xcalloc(n ? n : 1, sizeof(*w->body));
    w->len = sift_xcalloc(n ? n : 1, sizeof(*w->len));
    for (size_t i = 0; i < n; i++) {
        w->body[i] = sift_xstrndup(a[i].body, a[i].len);
        w->len[i] = a[i].len;
    }
    pthread_mutex_lock(&c->mu);
    w->next = c->inbox;
    c->inbox = w;
    pthread_mutex_unlock(&c->mu);
}

void
sift_anomaly_cluster_stats(const struct sift_anomaly *an,
                           struct sift_anomaly_cluster_stats *out)
{
    memset(out, 0, sizeof(*out));
    const struct cl *c = an->cl;
    if (!c)
        return;
    out->merged = atomic_load_explicit(&c->merged, memory_order_relaxed);
    out->partial = atomic_load_explicit(&c->partial, memory_order_relaxed);
    out->owned = atomic_load_explicit(&c->owned, memory_order_relaxed);
    out->series = atomic_load_explicit(&c->scored, memory_order_relaxed);
}

/* ------------------------------------------------------------------ */
/* Thread                                                               */
/* ------------------------------------------------------------------ */

static void
drain_feedback(struct sift_anomaly *an)
{
    struct fb local[FB_MAX];
    unsigned n;
    pthread_mutex_lock(&an->fb_mu);
    n = an->n_fb;
    memcpy(local, an->fb, n * sizeof(local[0]));
    an->n_fb = 0;
    pthread_mutex_unlock(&an->fb_mu);
    for (unsigned i = 0; i < n; i++) {
        if (local[i].is_raise)
            sift_alerts_set_raise(an->alerts, local[i].id, local[i].raise);
        else if (sift_alerts_feedback(an->alerts, local[i].id, local[i].label) <
                 0)
            SIFT_WARN("anomaly: feedback for unknown alert %llu",
                      (unsigned long long)local[i].id);
    }
}

static void *
thread_main(void *arg)
{
    struct sift_anomaly *an = arg;
    struct sift_anomaly_rec rec;
    for (;;) {
        int stopping = atomic_load_explicit(&an->stop, memory_order_acquire);
        /* Cluster: the clock is read before the ring, so every record
         * pushed before that instant is counted before its window closes
         * (records carry their push time). */
        int64_t cl_now = an->cl ? sift_clock_now_ns() : 0;
        unsigned n = 0;
        while (n < 4096 && sift_ring_pop(an->ring, &rec)) {
            sift_anomaly_process(an, &rec);
            n++;
        }
        int64_t now = sift_clock_now_ns();
        if (n)
            an->last_rec_wall_ns = now;
        drain_feedback(an);
        if (an->cl)
            cl_tick(an, cl_now);
        /* With no record for idle_flush_ns of wall time, close the open
         * window, and one more per further idle_flush_ns: silence still
         * ends windows, at the pace of the wall clock, also when event
         * times are far from it (replays). */
        if (!an->cl && n == 0 && an->cur_win >= 0 && an->last_rec_wall_ns > 0 &&
            now - an->last_rec_wall_ns >= an->cfg.idle_flush_ns &&
            now - an->last_idle_close_ns >= an->cfg.idle_flush_ns) {
            advance_to(an, an->cur_win + 1);
            an->last_idle_close_ns = now;
        }
        if (stopping && n == 0)
            break;
        if (n == 0) {
            struct timespec ts = {0, 2L * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int
sift_anomaly_start(struct sift_anomaly *an)
{
    assert(!an->started);
    atomic_store(&an->stop, 0);
    int rc = pthread_create(&an->thread, NULL, thread_main, an);
    if (rc != 0) {
        SIFT_ERROR("anomaly: cannot start thread: %s", strerror(rc));
        return -rc;
    }
    an->started = 1;
    return SIFT_OK;
}

void
sift_anomaly_stop(struct sift_anomaly *an)
{
    if (!an->started)
        return;
    atomic_store_explicit(&an->stop, 1, memory_order_release);
    pthread_join(an->thread, NULL);
    an->started = 0;
}

int
sift_anomaly_push(struct sift_anomaly *an, const struct sift_anomaly_rec *rec)
{
    return sift_ring_push(an->ring, rec);
}

uint64_t
sift_anomaly_late(const struct sift_anomaly *an)
{
    return atomic_load_explicit(&an->n_late, memory_order_relaxed);
}

uint64_t
sift_anomaly_dropped(const struct sift_anomaly *an)
{
    return sift_ring_dropped(an->ring);
}

static void
fb_queue(struct sift_anomaly *an, const struct fb *m)
{
    pthread_mutex_lock(&an->fb_mu);
    if (an->n_fb < FB_MAX) {
        an->fb[an->n_fb++] = *m;
    } else {
        SIFT_WARN("anomaly: feedback queue full, dropping feedback for %llu",
                  (unsigned long long)m->id);
    }
    pthread_mutex_unlock(&an->fb_mu);
}

void
sift_anomaly_feedback(struct sift_anomaly *an, uint64_t id,
                      enum sift_alert_label label)
{
    struct fb m = {id, label, 0, 0};
    fb_queue(an, &m);
}

void
sift_anomaly_set_raise(struct sift_anomaly *an, uint64_t key, double raise)
{
    if (!an->started) {
        sift_alerts_set_raise(an->alerts, key, raise);
        return;
    }
    struct fb m = {key, SIFT_LABEL_NONE, 1, raise};
    fb_queue(an, &m);
}

uint64_t
sift_anomaly_windows(const struct sift_anomaly *an)
{
    return atomic_load_explicit(&an->n_windows, memory_order_relaxed);
}

void
sift_anomaly_set_next_alert_id(struct sift_anomaly *an, uint64_t next_id)
{
    assert(!an->started);
    sift_alerts_set_next_id(an->alerts, next_id);
}

void
sift_anomaly_share_alert_ids(struct sift_anomaly *an, _Atomic uint64_t *counter)
{
    assert(!an->started);
    sift_alerts_share_ids(an->alerts, counter);
}

void
sift_anomaly_restore_alert(struct sift_anomaly *an, const struct sift_alert *al)
{
    assert(!an->started);
    sift_alerts_restore(an->alerts, al);
}

int
sift_anomaly_set_override(struct sift_anomaly *an, const char *series,
                          double threshold)
{
    assert(!an->started);
    return sift_alerts_set_override(an->alerts, series, threshold);
}
