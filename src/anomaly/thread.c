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

#include <xxhash.h>

#include "anomaly/anomaly_int.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
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

static struct series *
series_get(struct sift_anomaly *an, enum series_type type, const char *name,
           size_t name_len)
{
    uint64_t key = series_key(type, name, name_len);
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

/* ------------------------------------------------------------------ */
/* Windows                                                              */
/* ------------------------------------------------------------------ */

static uint64_t
alert_key(const struct series *s, enum sift_alert_kind kind)
{
    return s->key * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)kind;
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
    sift_alerts_observe_with(an->alerts, alert_key(s, SIFT_ALERT_NEW_PATTERN),
                             s->name, SIFT_ALERT_NEW_PATTERN, n ? 100 : 0, 1,
                             ws, we, n ? &x : NULL);
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
    sift_alerts_observe(an->alerts, key, s->name, SIFT_ALERT_SPIKE, sc,
                        hold_one ? 1 : 0, ws, we);
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
    if (s->drop_alarm) {
        s->drop_end = s->drop_end - llr > 0 ? s->drop_end - llr : 0;
        if (s->drop_end >= log(SIFT__ANOMALY_RATIO_END_ODDS)) {
            s->drop_alarm = 0;
            s->drop_end = 0;
            s->drop_cusum = top = 0;
        } else if (top < h) {
            top = h;
        }
    } else if (top >= h) {
        s->drop_alarm = 1;
        s->drop_end = 0;
    }
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
    if (s->ratio_alarm) {
        s->ratio_end -= llr_max;
        if (s->ratio_end < 0)
            s->ratio_end = 0;
        if (s->ratio_end >= log(SIFT__ANOMALY_RATIO_END_ODDS)) {
            s->ratio_alarm = 0;
            s->ratio_end = 0;
            s->ratio_cusum[0] = s->ratio_cusum[1] = top = 0;
        } else if (top < h) {
            top = h;
        }
    } else if (top >= h) {
        s->ratio_alarm = 1;
        s->ratio_end = 0;
    }
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
        sift_alerts_observe(an->alerts, rkey, s->name, SIFT_ALERT_ERROR_RATIO,
                            rs, hold_one ? 1 : 0, ws, we);
        sift_alerts_observe(
            an->alerts, alert_key(s, SIFT_ALERT_DROP), s->name, SIFT_ALERT_DROP,
            drop_score(an, s, x, mu, var, warm), c->drop_windows, ws, we);
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
    sift_baseline_update_w(&s->cnt, xa, c->alpha, floor,
                           s->drop_suspect ? 0.1 : 1.0);
    if (s->season)
        sift_season_update(s->season, hour, x, wph);
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
    if (an->cur_win < 0)
        return;
    int64_t win = now_ns / an->cfg.window_ns;
    if (win > an->cur_win)
        advance_to(an, win);
}

void
sift_anomaly_process(struct sift_anomaly *an,
                     const struct sift_anomaly_rec *rec)
{
    int64_t win = rec->ts_ns / an->cfg.window_ns;
    if (win > an->cur_win)
        advance_to(an, win);
    if (an->cfg.max_lateness_ns > 0 &&
        (int64_t)rec->late_s * SIFT_NS_PER_SEC > an->cfg.max_lateness_ns) {
        atomic_fetch_add_explicit(&an->n_late, 1, memory_order_relaxed);
        return;
    }
    char name[SIFT_ALERT_SERIES_MAX];
    int svc_len = rec->service_len;
    const char *svc = rec->service;
    if (svc_len == 0) {
        svc = "-";
        svc_len = 1;
    }
    int n = snprintf(name, sizeof(name), "service=%.*s", svc_len, svc);
    struct series *s = series_get(an, SER_SERVICE, name, (size_t)n);
    if (s->age == 0 && s->count == 0 && s->quiet_until == 0 &&
        an->n_windows >= an->cfg.global_warmup_windows)
        s->quiet_until = an->cur_win + an->cfg.learning_windows;
    s->count++;
    /* s may be evicted by the lookups below (max_series): keep what the
     * child series need. */
    uint64_t svc_key = s->key;
    uint32_t svc_age = s->age;
    int64_t svc_quiet = s->quiet_until;
    int is_err = rec->level >= SIFT_LVL_ERROR;
    if (is_err) {
        s->errors++;
        n = snprintf(name, sizeof(name), "service=%.*s level=error", svc_len,
                     svc);
        struct series *e = series_get(an, SER_ERRORS, name, (size_t)n);
        if (e->quiet_until < svc_quiet)
            e->quiet_until = svc_quiet;
        e->count++;
    }
    if (rec->template_id) {
        n = snprintf(name, sizeof(name), "service=%.*s template=%u", svc_len,
                     svc, rec->template_id);
        struct series *t = series_get(an, SER_TEMPLATE, name, (size_t)n);
        if (t->parent == 0) { /* just created */
            t->parent = svc_key;
            t->tid = rec->template_id;
            t->quiet_until = svc_quiet;
            /* Onboarding: a service still in its learning period has
             * only templates to learn, none to alert on. */
            t->is_new &= svc_age >= an->cfg.learning_windows;
        }
        t->count++;
    }
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
        unsigned n = 0;
        while (n < 4096 && sift_ring_pop(an->ring, &rec)) {
            sift_anomaly_process(an, &rec);
            n++;
        }
        int64_t now = sift_clock_now_ns();
        if (n)
            an->last_rec_wall_ns = now;
        drain_feedback(an);
        /* With no record for idle_flush_ns of wall time, close the open
         * window, and one more per further idle_flush_ns: silence still
         * ends windows, at the pace of the wall clock, also when event
         * times are far from it (replays). */
        if (n == 0 && an->cur_win >= 0 && an->last_rec_wall_ns > 0 &&
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
