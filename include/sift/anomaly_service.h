/*
 * anomaly_service.h - issue 7 in the daemon: one object owning the
 * template miner, the scoring thread, the alerts store and the alert
 * sinks (see src/anomaly/service.c and docs/anomaly.md).
 *
 * sift_anomaly_service_new() installs two pipeline stages (template
 * mining sets ev->template_id; the anomaly stage pushes one record per
 * event into the scoring ring), loads DATA_DIR/templates.txt and
 * DATA_DIR/alerts.ndjson and starts the scoring thread and the sinks.  It
 * knows nothing of HTTP: the endpoints (src/api/anomaly_api.c), the
 * Grafana annotations and template texts (src/api/grafana.c) and /metrics
 * (sift_metrics_collect_alerts) read what it exports below; main wires
 * them.
 *
 * Threads: every function is loop-thread only unless it says otherwise.
 * Template text lookups are thread-safe (a mutex guards the miner; the
 * loop holds it only while mining one message).
 */
#ifndef SIFT_ANOMALY_SERVICE_H
#define SIFT_ANOMALY_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "sift/anomaly.h"

struct sift_buf;
struct sift_config;
struct sift_loop;
struct sift_pipeline;
struct sift_pool;
struct sift_store;
struct sift_anomaly_service;
struct sift_anomaly_templates;

/**
 * Creates and starts the service.  Borrows every argument for its
 * lifetime (cfg is read at start; later reloads do not change it).
 * Returns SIFT_OK, SIFT_ECONFIG (bad sink settings, logged), -errno (data
 * dir files) or a code from the thread start.  On failure nothing is
 * left installed.  Loop thread, after the pipeline exists.
 */
int sift_anomaly_service_new(const struct sift_config *cfg,
                             struct sift_loop *loop, struct sift_pipeline *pipe,
                             struct sift_store *store, struct sift_pool *pool,
                             struct sift_anomaly_service **out);

/**
 * Stops: removes the pipeline stages, stops the scoring thread (records
 * already queued are scored; the alerts they raise are stored and handed
 * to the sinks), closes the sinks (Kafka gets up to 2 s to deliver),
 * saves the templates and syncs the alerts file.  Idempotent; NULL is
 * fine.  Call before the store closes.
 */
void sift_anomaly_service_stop(struct sift_anomaly_service *svc);

/** Stops if needed and frees.  NULL is fine. */
void sift_anomaly_service_free(struct sift_anomaly_service *svc);

/* ---- alerts store ---- */

/** Called per alert; alert borrows.  Return non-zero to stop the walk. */
typedef int (*sift_alert_each_cb)(const struct sift_alert *alert, void *arg);

/**
 * Calls cb for every kept alert whose time span [started, resolved or
 * still firing) overlaps [from_ns, to_ns), oldest first (increasing id).
 * For the API and the Grafana annotations.
 */
void sift_anomaly_service_alerts(struct sift_anomaly_service *svc,
                                 int64_t from_ns, int64_t to_ns,
                                 sift_alert_each_cb cb, void *arg);

/** Copies alert id into *out.  Returns SIFT_OK or SIFT_ENOTFOUND. */
int sift_anomaly_service_alert_get(struct sift_anomaly_service *svc,
                                   uint64_t id, struct sift_alert *out);

/**
 * Labels alert id (persisted), adapts its series' threshold (the raise
 * goes to the scoring thread) and copies the labelled alert to *out and
 * the series' new threshold to *threshold (either may be NULL).  Returns
 * SIFT_OK, SIFT_ENOTFOUND or SIFT_EINVAL (label NONE).
 */
int sift_anomaly_service_feedback(struct sift_anomaly_service *svc, uint64_t id,
                                  enum sift_alert_label label,
                                  struct sift_alert *out, double *threshold);

/* ---- templates ---- */

/**
 * Appends the text of template id to out (thread-safe; any thread while
 * svc lives).  Returns SIFT_OK or SIFT_ENOTFOUND (unknown, evicted).
 */
int sift_anomaly_service_template_text(struct sift_anomaly_service *svc,
                                       uint32_t id, struct sift_buf *out);

/**
 * A new reference to the service's template table, for jobs that may
 * outlive the service (worker jobs finishing during shutdown).  Release
 * with sift_anomaly_templates_unref().  Loop thread.
 */
struct sift_anomaly_templates *
sift_anomaly_service_templates(struct sift_anomaly_service *svc);

/** Like sift_anomaly_service_template_text().  Any thread. */
int sift_anomaly_templates_text(struct sift_anomaly_templates *t, uint32_t id,
                                struct sift_buf *out);

/**
 * The id a template id now stands for (itself, or the template it was
 * merged into; see sift_drain_resolve()).  Any thread.
 */
uint32_t sift_anomaly_templates_resolve(struct sift_anomaly_templates *t,
                                        uint32_t id);

/**
 * Fills ids[0..max) with every id that stands for the same template as
 * id: the template's own id first, then the ids merged into it.  Returns
 * the count (at least 1 when max > 0).  Any thread.
 */
size_t sift_anomaly_templates_ids(struct sift_anomaly_templates *t, uint32_t id,
                                  uint32_t *ids, size_t max);

/** Drops a reference.  Any thread; NULL is fine. */
void sift_anomaly_templates_unref(struct sift_anomaly_templates *t);

/* ---- cluster ([cluster] peers) ---- */

/** Called with the peers' counts of window win (a borrowed, n answers;
 * n_failed peers did not answer).  Loop thread. */
typedef void (*sift_anomaly_service_window_cb)(
    void *arg, int64_t win, const struct sift_anomaly_answer *a, size_t n,
    size_t n_failed);

/** Asks the peers for their counts of window win; calls done(done_arg,
 * ...) once on the loop, or never when the asker is stopping. */
typedef void (*sift_anomaly_service_ask_fn)(void *arg, int64_t win,
                                            sift_anomaly_service_window_cb done,
                                            void *done_arg);

/**
 * Cluster mode (the service found [cluster] peers in its config): wires
 * how a closed window's counts are asked of the peers (main: the
 * cluster's sift_cluster_windows_ask()).  Unwired, windows are scored
 * from this node's counts alone.  Loop thread.
 */
void sift_anomaly_service_set_ask(struct sift_anomaly_service *svc,
                                  sift_anomaly_service_ask_fn ask, void *arg);

/** sift_anomaly_window_json() of the service's scorer (GET
 * /api/v1/cluster/anomaly).  Any thread. */
int sift_anomaly_service_window_json(struct sift_anomaly_service *svc,
                                     int64_t win, struct sift_buf *out);

/** sift_anomaly_cluster_stats() of the service's scorer. */
void sift_anomaly_service_cluster_stats(struct sift_anomaly_service *svc,
                                        struct sift_anomaly_cluster_stats *out);

/* ---- counters ---- */

struct sift_anomaly_service_stats {
    uint32_t templates; /* live templates */
    uint64_t templates_evicted;
    uint64_t templates_merged; /* merges (ids kept as aliases) */
    uint32_t template_aliases; /* aliases kept */
    uint32_t header_sources;   /* sources whose header shape is known */
    uint64_t template_saves;
    uint64_t template_save_errors;
    uint64_t records_pushed;  /* into the scoring ring */
    uint64_t records_dropped; /* ring full */
    uint64_t records_late;    /* past anomaly.max_lateness: not scored */
    uint64_t windows;         /* closed by the scoring thread */
    uint64_t alerts_kept;     /* in the alerts store */
    uint64_t alert_events;    /* fire/update/resolve received */
    uint64_t webhook_sent, webhook_failed;
    uint64_t redis_sent, redis_failed;
    uint64_t kafka_sent, kafka_failed;
    /* templates.txt and alerts.ndjson found damaged or unreadable at start
     * (kept in quarantine/), and their lines skipped. */
    uint64_t state_files_damaged;
    uint64_t state_lines_skipped;
    int alerts_persist_off; /* alerts.ndjson could not be kept: not written */
};

/** Copies the counters. */
void sift_anomaly_service_stats(struct sift_anomaly_service *svc,
                                struct sift_anomaly_service_stats *out);

/* Alert transitions counted by [event][kind]: index 0 holds values out of
 * range (enum sift_alert_event 1..3, enum sift_alert_kind 1..4). */
#define SIFT_ANOMALY_N_EVENTS 4
#define SIFT_ANOMALY_N_KINDS 5

/** Copies the alert transitions received since start (never reset). */
void sift_anomaly_service_alert_counts(
    struct sift_anomaly_service *svc,
    uint64_t out[SIFT_ANOMALY_N_EVENTS][SIFT_ANOMALY_N_KINDS]);

/**
 * Test notifications (POST /api/v1/debug/alerts): count alerts of kind
 * "test" (series "test=<id>") fire, and resolve at once when resolve is
 * set, through the alerts store and every sink's outbox, exactly as
 * learned and rule alerts do.  Their ids go to ids[0..count) (may be
 * NULL).  Returns SIFT_OK or SIFT_ESHUTDOWN.
 */
int sift_anomaly_service_test_alerts(struct sift_anomaly_service *svc,
                                     uint32_t count, int resolve,
                                     uint64_t *ids);

/* ---- alerts from other sources (rules) ---- */

/** A new alert id from the counter every alert source shares.  Loop. */
uint64_t sift_anomaly_service_next_alert_id(struct sift_anomaly_service *svc);

/**
 * One transition of an alert from another source (the rules engine):
 * stored, persisted and queued in every sink's outbox exactly as the
 * scorer's (silences apply).  al borrowed; al->transitions must already
 * count this transition.  Loop thread.
 */
void sift_anomaly_service_emit(struct sift_anomaly_service *svc,
                               enum sift_alert_event ev,
                               const struct sift_alert *al);

/**
 * Updates the kept copy of alert al->id (value, last score, updated
 * time, windows) without a notification and without persisting it (a
 * rule re-evaluated while firing).  Unknown ids are ignored.  Loop.
 */
void sift_anomaly_service_touch(struct sift_anomaly_service *svc,
                                const struct sift_alert *al);

/** Non-zero when a silence matches al now (al borrowed).  Loop thread. */
typedef int (*sift_alert_silenced_cb)(void *arg, const struct sift_alert *al);

/**
 * Installs the silences: every transition asks cb, and a silenced one is
 * stored (marked "silenced") but not sent.  cb NULL removes it.  Loop.
 */
void sift_anomaly_service_set_silencer(struct sift_anomaly_service *svc,
                                       sift_alert_silenced_cb cb, void *arg);

/**
 * For a firing alert whose last transition was silenced: asks the
 * silences again and, when none matches any more, sends it as a fire
 * (a new notification).  Returns SIFT_OK or SIFT_ENOTFOUND.  Loop.
 */
int sift_anomaly_service_resend(struct sift_anomaly_service *svc, uint64_t id);

/**
 * The scorer and the sinks (borrowed; valid until the service stops), for
 * the /metrics collectors sift_metrics_collect_anomaly/_sinks.
 */
struct sift_anomaly *
sift_anomaly_service_scorer(struct sift_anomaly_service *svc);
struct sift_alert_sinks *
sift_anomaly_service_sinks(struct sift_anomaly_service *svc);

#endif /* SIFT_ANOMALY_SERVICE_H */
