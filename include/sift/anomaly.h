/*
 * anomaly.h - anomaly scoring: baseline maths, the alert state machine and
 * the scoring thread.
 *
 * Three layers, each usable alone:
 *   - struct sift_baseline (detector.c): pure, deterministic maths turning
 *     one number per window into a 0-100 score against a robust baseline.
 *   - struct sift_alerts (alerts.c): pure state machine turning per-series
 *     scores into alerts (hold k windows, cooldown, dedup, per-series
 *     thresholds raised by false-positive feedback).
 *   - struct sift_anomaly (thread.c): the one scoring thread, fed by a
 *     bounded SPSC ring of struct sift_anomaly_rec, emitting alert events
 *     through a callback (siftd posts them to the loop with
 *     sift_loop_post() and runs the sinks there).
 *
 * Score meaning: score = clamp(10 * z, 0, 100) where z is the normal
 * quantile of how unlikely the window is under the series' usual
 * behaviour (a count's negative-binomial or Poisson tail, the errors'
 * binomial tail, or a CUSUM of log-likelihood ratios over recent
 * windows measured against its threshold).  50 = as unlikely as five
 * standard deviations (p = 2.9e-7).  See docs/anomaly.md.
 */
#ifndef SIFT_ANOMALY_H
#define SIFT_ANOMALY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct sift_buf;
struct sift_anomaly;
struct sift_anomaly_cluster;

/* ------------------------------------------------------------------ */
/* Detector maths (pure)                                                */
/* ------------------------------------------------------------------ */

/** Robust EWMA baseline of one series.  Transparent value type. */
struct sift_baseline {
    double level;  /* EWMA of the value */
    double absdev; /* EWMA of |value - level| (MAD-like spread) */
    uint32_t n;    /* windows observed */
};

/** Zero baseline (no windows seen). */
void sift_baseline_init(struct sift_baseline *b);

/** Maps |z| to the 0-100 score: clamp(10 * z, 0, 100).  Pure. */
double sift_score_from_z(double z);

/**
 * Folds x into b with weight alpha (0 < alpha <= 1).  The first 1 / alpha
 * windows are a plain mean (nothing clipped: no normal to protect yet);
 * afterwards x is clipped to level +- 3 spreads, and a value more than 2
 * spreads away gets alpha / 10, so an incident does not drag the
 * baseline with it.  A spread is max(1.253 * absdev, floor).  Pure.
 */
void sift_baseline_update(struct sift_baseline *b, double x, double alpha,
                          double floor);

/**
 * sift_baseline_update() with the weight after the warm start multiplied
 * by weight (0 < weight <= 1): a window under suspicion (a drop or a rise
 * being tested) folds in slower, without lengthening the warm start.
 * Pure.
 */
void sift_baseline_update_w(struct sift_baseline *b, double x, double alpha,
                            double floor, double weight);

/**
 * Tail probabilities of a window's count X under a negative binomial of
 * mean mu and variance var (a Poisson when var <= mu): P(X >= x) and
 * P(X <= x) (x rounded up / down to an integer).  Pure.
 */
double sift_count_upper_p(double mu, double var, double x);
double sift_count_lower_p(double mu, double var, double x);

/**
 * Log-likelihood ratio (nats) of a window's count x under a negative
 * binomial of mean m1 against one of mean m0, both of dispersion c
 * (variance m + c m^2; c = 0 is a Poisson): x ln(m1 / m0) + (x + 1/c)
 * ln((1 + c m0) / (1 + c m1)).  Linear in x, so a CUSUM of it is the
 * sequential test of a change of the mean from m0 to m1 when the count
 * swings by a constant relative amount (sqrt(c)) on top of counting
 * noise.  m0, m1 > 0, c >= 0.  Pure.
 */
double sift_nb_llr(double x, double m0, double m1, double c);

/** P(E >= e) for E ~ Binomial(n, p).  Pure. */
double sift_binom_upper_p(double n, double e, double p);

/** Regularized incomplete beta I_x(a, b).  Pure. */
double sift_ibeta(double a, double b, double x);

/** z with P(Z >= z) = p for a standard normal Z (37 at p <= 1e-300). */
double sift_z_from_p(double p);

/** Score of a tail probability: 10 x its z, clamped to 0..100.  Pure. */
double sift_score_from_p(double p);

/** Noise floor for a count series with baseline level m: max(1, sqrt(m)). */
double sift_count_floor(double m);

#define SIFT_SEASON_HOURS 24

/** Hour-of-day baselines of one series (UTC hours).  Transparent. */
struct sift_season {
    struct sift_baseline hour[SIFT_SEASON_HOURS];
};

void sift_season_init(struct sift_season *se);

/** UTC hour of day (0..23) of an epoch time in ns.  Pure. */
int sift_season_hour(int64_t ts_ns);

/**
 * Folds one window's value x into its hour's baseline: cumulative mean,
 * then an EWMA with weight 1 / (3 * windows_per_hour) (about three days
 * of that hour).  Pure.
 */
void sift_season_update(struct sift_season *se, int hour, double x,
                        double windows_per_hour);

/**
 * The seasonal offset of hour: (its level - the mean of the 24 levels) x
 * w, where w rises from 0 when the series has one day of windows to 1 at
 * min_days days (0 until every hour has been seen).  The scorer compares
 * value - offset with the global baseline.  Pure.
 */
double sift_season_offset(const struct sift_season *se, int hour,
                          double windows_per_hour, double min_days);

/**
 * Hour-of-day error share of one service (UTC hours): per hour, its
 * errors and events, decayed to remember about three days of that hour,
 * and the windows seen.  Transparent.
 */
struct sift_share_season {
    double err[SIFT_SEASON_HOURS];
    double ev[SIFT_SEASON_HOURS];
    uint32_t n[SIFT_SEASON_HOURS];
};

void sift_share_season_init(struct sift_share_season *ss);

/**
 * Folds one window of hour (errors of events) into its hour's pool, each
 * window decayed by 1 / (3 * windows_per_hour) first.  Pure.
 */
void sift_share_season_update(struct sift_share_season *ss, int hour,
                              double errors, double events,
                              double windows_per_hour);

/**
 * The usual error share of hour: its pooled share plus one standard
 * error of the pool, and through OUT weight how much it is to be
 * trusted: 0 until the hour has been seen on one day, rising linearly to
 * 1 at min_days days of that hour (as sift_season_offset()).  Returns 0
 * (weight 0) for an hour without events.  Pure.
 */
double sift_share_season_p(const struct sift_share_season *ss, int hour,
                           double windows_per_hour, double min_days,
                           double *weight);

/* ------------------------------------------------------------------ */
/* Alerts (pure state machine)                                          */
/* ------------------------------------------------------------------ */

enum sift_alert_kind {
    SIFT_ALERT_SPIKE = 1,       /* count far above baseline */
    SIFT_ALERT_DROP = 2,        /* busy series went (nearly) silent */
    SIFT_ALERT_NEW_PATTERN = 3, /* burst of a template never seen before */
    SIFT_ALERT_ERROR_RATIO = 4, /* errors / events far above baseline */
    SIFT_ALERT_RULE = 5,        /* a written rule's condition held */
    SIFT_ALERT_TEST = 6,        /* a test notification (debug endpoint) */
};

enum sift_alert_state {
    SIFT_ALERT_FIRING = 1,
    SIFT_ALERT_RESOLVED = 2,
};

enum sift_alert_label {
    SIFT_LABEL_NONE = 0,
    SIFT_LABEL_FALSE_POSITIVE = 1,
    SIFT_LABEL_TRUE_POSITIVE = 2,
};

#define SIFT_ALERT_SERIES_MAX 96
#define SIFT_ALERT_TEMPLATES_MAX 8 /* template ids kept as evidence */
#define SIFT_ALERT_RELATED_MAX 4   /* other series kept as evidence */

/** Another series of the same service that went over its threshold
 * while an alert was open: attached to it, not an alert of its own. */
struct sift_alert_related {
    uint8_t kind; /* enum sift_alert_kind */
    char series[SIFT_ALERT_SERIES_MAX];
};

#define SIFT_ALERT_RULE_MAX 64    /* rule name, NUL included */
#define SIFT_ALERT_LABELS_MAX 512 /* labels as a JSON object, NUL included */
#define SIFT_ALERT_QUERY_MAX 1024 /* the events' query, NUL included */

enum sift_alert_severity {
    SIFT_SEVERITY_NONE = 0,
    SIFT_SEVERITY_INFO = 1,
    SIFT_SEVERITY_WARNING = 2,
    SIFT_SEVERITY_CRITICAL = 3,
};

/*
 * One alert as sinks and the API see it (a value copy).  Learned alerts
 * (the scorer) leave the rule fields empty; rule alerts (rules engine)
 * set kind SIFT_ALERT_RULE, rule, severity, labels, query and value, and
 * use score 100 while firing with threshold = the rule's threshold.
 */
struct sift_alert {
    uint64_t id;                        /* unique, increasing */
    char series[SIFT_ALERT_SERIES_MAX]; /* "service=api level=error" */
    uint64_t series_key;                /* hash of series + kind */
    uint8_t kind;                       /* enum sift_alert_kind */
    uint8_t state;                      /* enum sift_alert_state */
    uint8_t label;                      /* enum sift_alert_label */
    double score;                       /* highest score while firing */
    double last_score;
    double threshold;     /* threshold in force when it fired */
    int64_t started_ns;   /* start of the first window over */
    int64_t updated_ns;   /* end of the last window scored */
    int64_t resolved_ns;  /* 0 while firing */
    uint32_t n_windows;   /* windows over threshold */
    uint32_t transitions; /* notifications of this alert so far (1 = fire);
                             with id it names one notification */
    uint8_t severity;     /* enum sift_alert_severity */
    uint8_t silenced;     /* a silence matched its last transition */
    double value;         /* rule alerts: value at the last evaluation */
    char rule[SIFT_ALERT_RULE_MAX];     /* rule name; "" = learned alert */
    char labels[SIFT_ALERT_LABELS_MAX]; /* JSON object text; "" = none */
    char query[SIFT_ALERT_QUERY_MAX];   /* rule alerts; "" = from series */
    /* Evidence: the templates the alert is about (new_pattern: the new
     * templates of the service, first ones seen), and how many there
     * were in all. */
    uint32_t templates[SIFT_ALERT_TEMPLATES_MAX];
    uint32_t n_templates; /* entries used in templates */
    uint32_t n_templates_total;
    /* Alert budget: one open alert per service.  Its other series that
     * go over while it is open are attached here (first ones kept, all
     * counted) instead of firing alerts of their own; the alert resolves
     * when all of them (n_open: series attached and still over, its own
     * included) are back under. */
    struct sift_alert_related related[SIFT_ALERT_RELATED_MAX];
    uint32_t n_related;
    uint32_t n_related_total;
    uint32_t n_open;
};

/** Extra evidence for one observation (see sift_alerts_observe_with). */
struct sift_alert_extra {
    const uint32_t *templates; /* template ids, borrowed */
    uint32_t n_templates;
};

enum sift_alert_event {
    SIFT_ALERT_EV_FIRE = 1,   /* new alert */
    SIFT_ALERT_EV_UPDATE = 2, /* firing alert got a higher score or re-opened */
    SIFT_ALERT_EV_RESOLVE = 3,
};

struct sift_alerts_cfg {
    double threshold;         /* base score threshold, 0..100 */
    uint32_t hold_windows;    /* windows over threshold before firing */
    uint32_t resolve_windows; /* windows under threshold before resolving */
    int64_t cooldown_ns;      /* after resolving, re-open the same alert */
    double fp_raise;          /* threshold raise per false positive */
    double max_raise;         /* bound on the total raise */
};

/** Called for every transition; alert borrows (copy what you keep). */
typedef void (*sift_alert_cb)(enum sift_alert_event ev,
                              const struct sift_alert *alert, void *arg);

struct sift_alerts;

/** Creates the state machine; cfg copied.  Release with sift_alerts_free(). */
int sift_alerts_new(const struct sift_alerts_cfg *cfg, sift_alert_cb cb,
                    void *arg, struct sift_alerts **out);
void sift_alerts_free(struct sift_alerts *a);

/**
 * Feeds one window's score of one series (key = series hash, series =
 * display name, borrowed).  hold overrides cfg.hold_windows when non-zero
 * (new-pattern bursts fire at once).  May call cb.  Pure apart from cb.
 */
void sift_alerts_observe(struct sift_alerts *a, uint64_t key,
                         const char *series, enum sift_alert_kind kind,
                         double score, uint32_t hold, int64_t win_start_ns,
                         int64_t win_end_ns);

/**
 * sift_alerts_observe() with evidence: while the series is over its
 * threshold (pending or firing), extra's template ids are added to the
 * alert (first SIFT_ALERT_TEMPLATES_MAX kept, all counted), also before
 * the FIRE event is emitted.  extra may be NULL.
 */
void sift_alerts_observe_with(struct sift_alerts *a, uint64_t key,
                              const char *series, enum sift_alert_kind kind,
                              double score, uint32_t hold, int64_t win_start_ns,
                              int64_t win_end_ns,
                              const struct sift_alert_extra *extra);

/**
 * Records feedback on alert id.  A false positive raises that series'
 * threshold by fp_raise (total raise bounded by max_raise); a true
 * positive lowers a previous raise by the same step.  Returns SIFT_OK or
 * SIFT_ENOTFOUND.
 */
int sift_alerts_feedback(struct sift_alerts *a, uint64_t id,
                         enum sift_alert_label label);

/**
 * The threshold now in force for series key: cfg.threshold plus the
 * series' feedback raise (per-series overrides are matched by name, so
 * use sift_alerts_series_threshold() when one may apply).
 */
double sift_alerts_threshold(const struct sift_alerts *a, uint64_t key);

/** Same, with the series name (borrowed) so its override applies. */
double sift_alerts_series_threshold(const struct sift_alerts *a, uint64_t key,
                                    const char *series);

/**
 * Gives series (display name, e.g. "service=api level=error"; borrowed)
 * its own base threshold instead of cfg.threshold, for every alert kind
 * of that series.  At most 64 overrides.  Returns SIFT_OK, SIFT_EINVAL
 * (empty or too long a name) or SIFT_ELIMIT.
 */
int sift_alerts_set_override(struct sift_alerts *a, const char *series,
                             double threshold);

/** Sets the feedback raise of series key (clamped to 0..max_raise). */
void sift_alerts_set_raise(struct sift_alerts *a, uint64_t key, double raise);

/** Next alerts get ids >= next_id (never lowers the counter). */
void sift_alerts_set_next_id(struct sift_alerts *a, uint64_t next_id);

/**
 * Puts a persisted alert (borrowed, copied) back into the machine: it
 * becomes its series' current alert, so a FIRING one resolves (or keeps
 * firing) as windows close, and a RESOLVED one may re-open within the
 * cooldown.  Feed alerts in increasing id order.  Raises the id counter
 * past al->id.
 */
void sift_alerts_restore(struct sift_alerts *a, const struct sift_alert *al);

/**
 * The feedback rule, pure: the raise of a series after one of its alerts
 * goes from old_label to new_label (false positive: +fp_raise up to
 * max_raise; true positive: -fp_raise down to 0; no change: same).
 */
double sift_alerts_raise_step(const struct sift_alerts_cfg *cfg, double raise,
                              enum sift_alert_label old_label,
                              enum sift_alert_label new_label);

/** Copies alert id into *out.  Returns SIFT_OK or SIFT_ENOTFOUND. */
int sift_alerts_get(const struct sift_alerts *a, uint64_t id,
                    struct sift_alert *out);

/** Kind as text: "spike", "drop", "new_pattern", "error_ratio", "rule",
 * "test". */
const char *sift_alert_kind_name(enum sift_alert_kind kind);

/** The kind named name ("spike", ...), or -1.  Pure. */
int sift_alert_kind_parse(const char *name);

/** Severity as text: "", "info", "warning", "critical". */
const char *sift_alert_severity_name(enum sift_alert_severity sev);

/** Parses "info", "warning", "critical" (or ""/"none").  SIFT_OK or
 * SIFT_EINVAL.  Pure. */
int sift_alert_severity_parse(const char *s, enum sift_alert_severity *out);

/**
 * Appends the notification key of alert's current transition:
 * "<id>-<transitions>-<started_ms>", the same for every re-send of one
 * notification and different for every notification (receivers use it
 * to drop duplicates).  Pure.
 */
void sift_alert_notification_key(const struct sift_alert *alert,
                                 struct sift_buf *out);

/**
 * Makes the machine take alert ids from *counter (shared with another
 * allocator, e.g. the rules engine: ids stay unique across both).  The
 * counter holds the next id; set before any alert.  Borrowed for the
 * machine's lifetime.
 */
void sift_alerts_share_ids(struct sift_alerts *a, _Atomic uint64_t *counter);

/* ------------------------------------------------------------------ */
/* The scoring thread                                                   */
/* ------------------------------------------------------------------ */

enum sift_anomaly_level {
    SIFT_LVL_UNKNOWN = 0,
    SIFT_LVL_DEBUG = 1,
    SIFT_LVL_INFO = 2,
    SIFT_LVL_WARN = 3,
    SIFT_LVL_ERROR = 4,
    SIFT_LVL_FATAL = 5,
};

#define SIFT_ANOMALY_SERVICE_MAX 22

/*
 * The fixed record the loop pushes per event (40 bytes).  ts_ns is the
 * event's *arrival* time, which picks its window: no event timestamp (one
 * stamped 2030, a replay of last year) can open a window ahead of the
 * clock or hold one open.  late_s says how long before its arrival the
 * event happened; records later than cfg.max_lateness_ns are not scored.
 */
struct sift_anomaly_rec {
    int64_t ts_ns; /* arrival (sift_clock_now_ns() when pushed) */
    uint32_t template_id;
    uint8_t level;                          /* enum sift_anomaly_level */
    uint8_t service_len;                    /* bytes used in service */
    char service[SIFT_ANOMALY_SERVICE_MAX]; /* cut, not NUL-terminated */
    uint32_t late_s; /* arrival - event time, s (0: on time or ahead) */
};

/** Maps "error", "ERR", "warning", "Info"... to a level.  Pure. */
enum sift_anomaly_level sift_anomaly_level_parse(const char *s, size_t len);

/**
 * Fills rec from event parts (service cut to SIFT_ANOMALY_SERVICE_MAX);
 * ts_ns is the arrival time, late_s is 0.
 */
void sift_anomaly_rec_init(struct sift_anomaly_rec *rec, int64_t ts_ns,
                           const char *service, size_t service_len,
                           enum sift_anomaly_level level, uint32_t template_id);

/** Sets rec->late_s from the event's own time (saturating).  Pure. */
void sift_anomaly_rec_set_event_time(struct sift_anomaly_rec *rec,
                                     int64_t event_ns);

struct sift_anomaly_cfg {
    int64_t window_ns;              /* default 10 s */
    uint32_t ring_records;          /* ring capacity (rounded up to 2^k) */
    uint32_t warmup_windows;        /* windows a series needs before alerting */
    uint32_t global_warmup_windows; /* windows before "new pattern" counts */
    double alpha;                   /* EWMA weight per window */
    int64_t idle_flush_ns;          /* close windows by wall time after this
                                       much silence (0 = window_ns) */
    int64_t max_lateness_ns;        /* records whose event happened longer than
                                       this before arrival (history imports,
                                       backlogs) are counted as late, not scored;
                                       0 = score all */
    uint32_t max_series;       /* memory cap; least-recently-seen evicted */
    uint32_t learning_windows; /* windows a service is seen before its
                                  templates can be "new" (onboarding) */
    double drop_ratio;         /* the fall a drop test is tuned to (0.5) */
    uint32_t drop_windows;     /* windows a drop score must hold (1) */
    int seasonality;           /* hour-of-day baselines for count series */
    double season_min_days;    /* days until the daily shape has full weight */
    struct sift_alerts_cfg alerts;
    /* Several nodes ([cluster] peers): NULL = a single node, scored as
     * always.  Borrowed until sift_anomaly_new() returns (copied). */
    const struct sift_anomaly_cluster *cluster;
};

/*
 * Cluster mode (docs/internals/cluster.md, "Anomaly over the cluster").
 * Every node counts its own events per series in wall-clock aligned
 * windows (window = arrival time / window_ns on every node); a window
 * closes locally grace_ns after its end, its counts are published
 * (sift_anomaly_window_json()) and closed() is called; the caller asks
 * the peers for theirs and hands them back (sift_anomaly_merge_window()).
 * The scoring thread then scores the sums, in window order, on every
 * node (so every node keeps the summed history of every series), but
 * feeds the alert machine only with the series it owns: the owner of a
 * series is the live node of highest rendezvous weight for its service
 * (sift_anomaly_owner()); live = this node and the nodes that answered
 * for that window.  Template series are keyed by template text.
 */
struct sift_anomaly_cluster {
    const char *node_id; /* this node's id (copied) */
    int64_t grace_ns;    /* a window closes this long after its end */
    int64_t give_up_ns;  /* merge with what came after this long (mono) */
    /* Scoring thread: window win closed here and is published.  Must not
     * block (siftd queues it to the loop). */
    void (*closed)(void *arg, int64_t win);
    void *closed_arg;
    /* Scoring thread: the text of template id appended to out; SIFT_OK
     * or SIFT_ENOTFOUND.  Thread-safe lookup. */
    int (*text)(void *arg, uint32_t id, struct sift_buf *out);
    void *text_arg;
};

/**
 * The rendezvous weight owner of a series among n nodes: the index of
 * the node hash (sift_anomaly_node_hash()) with the highest
 * XXH3(series_key, seed = node hash); ties (never seen) go to the lower
 * hash.  Deterministic, about 1 / n of the keys per node, and when a node
 * leaves only its own keys move.  n > 0.  Pure.
 */
size_t sift_anomaly_owner(uint64_t series_key, const uint64_t *nodes, size_t n);

/** The hash of node id (len bytes) that sift_anomaly_owner() takes. */
uint64_t sift_anomaly_node_hash(const char *id, size_t len);

/** The key sift_anomaly_owner() is given for a service's series: every
 * series of one service (its volume, errors, templates) has one owner. */
uint64_t sift_anomaly_service_key(const char *service, size_t len);

/**
 * Cluster mode: appends the published counts of local window win to out
 * ({"win","node_id","services":[[name,events,errors]...],
 * "templates":[[service,text,events,id]...]}).  Returns SIFT_OK,
 * SIFT_EAGAIN (not closed here yet) or SIFT_ENOTFOUND (too old, or not a
 * cluster).  Any thread.
 */
int sift_anomaly_window_json(struct sift_anomaly *an, int64_t win,
                             struct sift_buf *out);

/** One peer's answer for a window: the body of sift_anomaly_window_json()
 * on that node (borrowed). */
struct sift_anomaly_answer {
    const char *body;
    size_t len;
};

/**
 * Cluster mode: the peers' counts of window win (n answers, copied) and
 * how many peers did not answer (n_failed: the window is partial).  The
 * scoring thread sums them with its own and scores the window.  Any
 * thread; never blocks for long.
 */
void sift_anomaly_merge_window(struct sift_anomaly *an, int64_t win,
                               const struct sift_anomaly_answer *a, size_t n,
                               size_t n_failed);

/** Cluster mode counters.  Any thread. */
struct sift_anomaly_cluster_stats {
    uint64_t merged;  /* windows scored from the nodes' sums */
    uint64_t partial; /* of them, with a node missing */
    uint64_t owned;   /* series owned by this node in the last window */
    uint64_t series;  /* series scored in the last window */
};
void sift_anomaly_cluster_stats(const struct sift_anomaly *an,
                                struct sift_anomaly_cluster_stats *out);

/** Fills cfg with defaults (10 s windows, threshold 50, hold 2, ...). */
void sift_anomaly_cfg_init(struct sift_anomaly_cfg *cfg);

struct sift_anomaly;

/**
 * Creates the scorer (not started).  cb runs on the scoring thread for
 * each alert transition; it must not block (siftd copies the alert and
 * sift_loop_post()s it).  Returns SIFT_OK or SIFT_ENOMEM.
 */
int sift_anomaly_new(const struct sift_anomaly_cfg *cfg, sift_alert_cb cb,
                     void *arg, struct sift_anomaly **out);

/** Starts the thread.  Returns SIFT_OK or -errno.  Owner thread. */
int sift_anomaly_start(struct sift_anomaly *an);

/** Stops and joins the thread (pending records are scored first). */
void sift_anomaly_stop(struct sift_anomaly *an);

/** Frees; the thread must be stopped (or never started). */
void sift_anomaly_free(struct sift_anomaly *an);

/**
 * Queues one record.  Single producer (the loop thread).  Never blocks;
 * returns SIFT_OK or SIFT_ELIMIT when the ring is full (dropped, counted).
 */
int sift_anomaly_push(struct sift_anomaly *an,
                      const struct sift_anomaly_rec *rec);

/** Records dropped because the ring was full.  Any thread. */
uint64_t sift_anomaly_dropped(const struct sift_anomaly *an);

/** Records past cfg.max_lateness_ns, not scored.  Any thread. */
uint64_t sift_anomaly_late(const struct sift_anomaly *an);

/** Windows closed so far (approximate from another thread).  Any thread. */
uint64_t sift_anomaly_windows(const struct sift_anomaly *an);

/**
 * Restoring state before sift_anomaly_start() (owner thread, thread not
 * running): the id counter, persisted alerts (sift_alerts_restore) and
 * per-series base thresholds (sift_alerts_set_override; returns its
 * code).
 */
void sift_anomaly_set_next_alert_id(struct sift_anomaly *an, uint64_t next_id);
/** sift_alerts_share_ids() on the scorer's machine (before start). */
void sift_anomaly_share_alert_ids(struct sift_anomaly *an,
                                  _Atomic uint64_t *counter);
void sift_anomaly_restore_alert(struct sift_anomaly *an,
                                const struct sift_alert *al);
int sift_anomaly_set_override(struct sift_anomaly *an, const char *series,
                              double threshold);

/**
 * Queues a new feedback raise for series key to the scoring thread (the
 * alerts store computed it with sift_alerts_raise_step()).  Before start
 * it applies at once.  Any thread; never blocks for long.
 */
void sift_anomaly_set_raise(struct sift_anomaly *an, uint64_t key,
                            double raise);

/**
 * Queues feedback for alert id to the scoring thread (applied within one
 * poll interval).  Any thread; never blocks for long.
 */
void sift_anomaly_feedback(struct sift_anomaly *an, uint64_t id,
                           enum sift_alert_label label);

/**
 * Synchronous core for tests and the scenario bench: processes rec as
 * the thread would (no ring, no thread).  Do not mix with a started
 * thread.
 */
void sift_anomaly_process(struct sift_anomaly *an,
                          const struct sift_anomaly_rec *rec);

/** Closes every window ending at or before now_ns (synchronous core). */
void sift_anomaly_advance(struct sift_anomaly *an, int64_t now_ns);

#endif /* SIFT_ANOMALY_H */
