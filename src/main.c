/*
 * main.c - siftd's entry point: arguments, configuration, wiring of the
 * modules, the loop, signals and the ordered shutdown.
 *
 * Start-up: parse arguments; build the configuration (defaults, then the
 * file, then --listen/--data-dir/--set in order, then cross-key checks);
 * create and lock the data directory, read (or create) DATA_DIR/node_id;
 * create loop, pool and HTTP server; listen; write DATA_DIR/siftd.addr;
 * tell systemd READY=1.
 *
 * Shutdown (SIGTERM/SIGINT): STOPPING=1, stop accepting, pause the ingest
 * sources, let in-flight requests and source batches finish (durable and
 * acknowledged) for at most server.shutdown_timeout, then stop the loop
 * and free everything in reverse order of creation (the Kafka source
 * commits and leaves its group last).  A second signal skips the drain.  SIGHUP
 * rebuilds the configuration the same way as at start, applies the keys that
 * can change live and reports the others.
 *
 * Exit codes: 0 clean stop, 1 start-up failure (config, data dir, port),
 * 2 bad command line.
 *
 * Context: the main thread is the loop thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "sift/admin_api.h"
#include "sift/alerting_api.h"
#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/anomaly_api.h"
#include "sift/anomaly_service.h"
#include "sift/api_params.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/cluster.h"
#include "sift/cluster_windows.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/fanout.h"
#include "sift/file.h"
#include "sift/grafana.h"
#include "sift/http.h"
#include "sift/ingest_api.h"
#include "sift/lifecycle.h"
#include "sift/lifecycle_api.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/metrics.h"
#include "sift/metrics_api.h"
#include "sift/node_id.h"
#include "sift/pipeline.h"
#include "sift/pool.h"
#include "sift/query.h"
#include "sift/query_slots.h"
#include "sift/root_api.h"
#include "sift/rules.h"
#include "sift/saved.h"
#include "sift/search_api.h"
#include "sift/security.h"
#include "sift/silences.h"
#include "sift/source.h"
#include "sift/store.h"
#include "sift/ui.h"

#define MAX_SETS 256

struct sift_app {
    /* command line */
    const char *config_path;
    const char *listen_override;
    const char *data_dir_override;
    const char *sets[MAX_SETS];
    size_t n_sets;
    int dry_run; /* repair --dry-run */

    struct sift_config cfg; /* replaced in place on reload */
    struct sift_loop *loop;
    struct sift_pool *pool;
    struct sift_http *http;
    struct sift_timer *watchdog;
    struct sift_timer *drain;
    struct sift_timer *health; /* readiness follows degraded states */
    int ready_state;           /* what /readyz says: 1 ready, 2 degraded */
    char *ready_text;          /* its details JSON (owned) */
    const char *fatal_step;    /* the start-up step that failed */
    int lock_fd;
    char
        node_id[SIFT_NODE_ID_MAX + 1]; /* cluster.node_id or DATA_DIR/node_id */
    struct sift_cluster *cluster;      /* [cluster]: query fan-out */
    struct sift_fanout fanout; /* the cluster, as the endpoints see it */
    struct sift_query_slots
        query_slots;                   /* queries in flight: search, Grafana */
    struct sift_cluster_windows *cwin; /* [cluster]: anomaly counts */
    int stopping;
    int sources_paused; /* the stop drain paused them */
    int64_t drain_deadline_ns;
    char bound[128];
    int addr_written; /* DATA_DIR/siftd.addr is ours to remove */

    /* ---- modules: created in app_start_modules(), stopped in
     * app_stop_modules(), in reverse order of creation ---- */
    struct sift_store *store;
    struct sift_pipeline *pipeline;
    struct sift_ingest_api *ingest_api;
    struct sift_anomaly_service *anomaly;
    struct sift_search_api *search_api;
    /* Endpoint sets whose routes outlive the modules: freed after the
     * HTTP server (see shutdown_app()). */
    struct sift_lifecycle_api *lifecycle_api;
    struct sift_root_api *root_api;
    struct sift_anomaly_api *anomaly_api;
    struct sift_grafana_api *grafana_api;
    struct sift_metrics_api *metrics_api;
    struct sift_saved *saved;       /* saved searches */
    struct sift_silences *silences; /* alert silences */
    struct sift_rules *rules;       /* alert rules engine */
    struct sift_alerting_api *alerting_api;
    struct sift_timer *silence_tick; /* silences starting or ending */

    /* ---- security: tokens, audit, redaction, TLS (before any listen) */
    struct sift_security *security;
    char tls_bound[128];
    struct sift_dlq *dlq;
    struct sift_source_pipe *source_pipe;
    struct sift_source **sources; /* Kafka, Redis streams and lists */
    size_t n_sources;
    struct sift_metrics *metrics; /* freed after the HTTP server */
    struct sift_metrics_sources metrics_sources; /* views app->sources */
};

/* ---------------------------------------------------------------------- */
/* Configuration                                                           */
/* ---------------------------------------------------------------------- */

static void
print_error_stderr(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", msg);
}

static void
log_error_cb(const char *msg, void *arg)
{
    (void)arg;
    SIFT_ERROR("%s", msg);
}

static void
log_warn_cb(const char *msg, void *arg)
{
    (void)arg;
    SIFT_WARN("config reload: %s", msg);
}

/* Reports an override error under the option the user typed. */
struct renamed_cb {
    sift_config_error_cb cb;
    const char *key;    /* "server.listen" */
    const char *option; /* "--listen" */
};

static void
renamed_error(const char *msg, void *arg)
{
    const struct renamed_cb *r = arg;
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "--set %s:", r->key);
    if (strncmp(msg, prefix, strlen(prefix)) == 0) {
        struct sift_buf b = SIFT_BUF_INIT;
        sift_buf_appendf(&b, "%s:%s", r->option, msg + strlen(prefix));
        r->cb(sift_buf_cstr(&b), NULL);
        sift_buf_cleanup(&b);
        return;
    }
    r->cb(msg, NULL);
}

/*
 * Builds a configuration the way start-up and reload both do.  Reports
 * every problem through cb.  Returns SIFT_OK, SIFT_ECONFIG or -errno (the
 * file cannot be read).  cfg is initialised either way.
 */
static int
build_config(const struct sift_app *app, struct sift_config *cfg,
             sift_config_error_cb cb)
{
    struct sift_buf tmp = SIFT_BUF_INIT;
    int rc = SIFT_OK;

    sift_config_init(cfg);
    if (app->config_path != NULL) {
        rc = sift_config_load_file(cfg, app->config_path, cb, NULL);
        if (rc < 0 && rc != SIFT_ECONFIG)
            return rc; /* unreadable: nothing else is worth saying */
    }
    if (app->listen_override != NULL) {
        struct renamed_cb r = {cb, "server.listen", "--listen"};
        sift_buf_reset(&tmp);
        sift_buf_appendf(&tmp, "server.listen=%s", app->listen_override);
        if (sift_config_set(cfg, sift_buf_cstr(&tmp), renamed_error, &r) < 0)
            rc = SIFT_ECONFIG;
    }
    if (app->data_dir_override != NULL) {
        struct renamed_cb r = {cb, "server.data_dir", "--data-dir"};
        sift_buf_reset(&tmp);
        sift_buf_appendf(&tmp, "server.data_dir=%s", app->data_dir_override);
        if (sift_config_set(cfg, sift_buf_cstr(&tmp), renamed_error, &r) < 0)
            rc = SIFT_ECONFIG;
    }
    for (size_t i = 0; i < app->n_sets; i++) {
        if (sift_config_set(cfg, app->sets[i], cb, NULL) < 0)
            rc = SIFT_ECONFIG;
    }
    /* Cross-key checks run even after per-key errors: every problem is
     * reported at once. */
    if (sift_config_check(cfg, cb, NULL) < 0)
        rc = SIFT_ECONFIG;
    sift_buf_cleanup(&tmp);
    return rc;
}

static void
apply_log_level(const struct sift_config *cfg)
{
    enum sift_log_level lvl;
    if (sift_log_level_parse(cfg->log_level, &lvl) == SIFT_OK)
        sift_log_set_level(lvl);
}

static void
on_reload(void *arg)
{
    struct sift_app *app = arg;
    struct sift_config next;
    unsigned live = 0, restart = 0;

    if (app->stopping)
        return;
    int rc = build_config(app, &next, log_error_cb);
    if (rc < 0) {
        SIFT_ERROR("config reload failed; keeping the running configuration");
        sift_config_cleanup(&next);
        return;
    }
    sift_config_diff(&app->cfg, &next, &live, &restart, log_warn_cb, NULL);
    sift_config_keep_restart_keys(&next, &app->cfg);
    /* Same storage, new contents: modules holding &app->cfg see it. */
    sift_config_cleanup(&app->cfg);
    memcpy(&app->cfg, &next, sizeof(next));
    apply_log_level(&app->cfg);
    sift_http_apply_config(app->http);
    sift_security_reload(app->security); /* tokens, audit reopen, TLS cert */
    if (app->rules)
        (void)sift_rules_reload(app->rules); /* rules.file; errors logged */
    /* ---- lead: tell modules with live keys to re-read app->cfg ---- */
    SIFT_INFO("configuration reloaded: %u key(s) applied, %u need a restart",
              live, restart);
}

/* ---------------------------------------------------------------------- */
/* Data directory                                                          */
/* ---------------------------------------------------------------------- */

static int
mkdir_p(const char *path)
{
    char *p = sift_xstrdup(path);
    int rc = SIFT_OK;
    for (char *s = p + 1; *s != '\0'; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0750) != 0 && errno != EEXIST) {
            rc = -errno;
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, 0750) != 0 && errno != EEXIST)
        rc = -errno;
out:
    sift_free(p);
    return rc;
}

/* Creates, checks and locks DATA_DIR; one error line on failure. */
static int
open_data_dir(struct sift_app *app)
{
    const char *dir = app->cfg.data_dir;
    struct sift_buf path = SIFT_BUF_INIT;
    struct stat st;
    int rc = mkdir_p(dir);

    if (rc == SIFT_OK && stat(dir, &st) != 0)
        rc = -errno;
    if (rc == SIFT_OK && !S_ISDIR(st.st_mode))
        rc = -ENOTDIR;
    if (rc == SIFT_OK && access(dir, W_OK | X_OK) != 0)
        rc = -errno;
    if (rc < 0) {
        SIFT_ERROR("cannot use data directory %s: %s", dir, sift_strerror(rc));
        goto out;
    }
    sift_buf_appendf(&path, "%s/siftd.lock", dir);
    app->lock_fd =
        open(sift_buf_cstr(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (app->lock_fd < 0) {
        rc = -errno;
        SIFT_ERROR("cannot use data directory %s: %s: %s", dir,
                   sift_buf_cstr(&path), sift_strerror(rc));
        goto out;
    }
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(app->lock_fd, F_SETLK, &fl) != 0) {
        rc = -errno;
        if (rc == -EAGAIN || rc == -EACCES)
            SIFT_ERROR("cannot use data directory %s: another siftd is "
                       "running on it",
                       dir);
        else
            SIFT_ERROR("cannot lock data directory %s: %s", dir,
                       sift_strerror(rc));
        goto out;
    }
    /* The node's id (Kafka static membership; [cluster] later), named in
     * the "listening" line. */
    rc = sift_node_id_load(dir, app->node_id, sizeof(app->node_id), NULL);
    if (rc < 0) {
        SIFT_ERROR("cannot use data directory %s: %s/%s: %s", dir, dir,
                   SIFT_NODE_ID_FILE,
                   rc == SIFT_ECORRUPT
                       ? "not a node id (1 to 64 of A-Z a-z 0-9 . _ -)"
                       : sift_strerror(rc));
        goto out;
    }
    /* [cluster] node_id overrides the data dir's id. */
    if (app->cfg.cluster_node_id && app->cfg.cluster_node_id[0])
        snprintf(app->node_id, sizeof(app->node_id), "%s",
                 app->cfg.cluster_node_id);
out:
    sift_buf_cleanup(&path);
    return rc;
}

/*
 * Start-up check that every directory siftd writes can be written: one
 * clear error naming the directory now, rather than a 503 at the first
 * ingest.  Creates what is missing.  A full disk is not an error here
 * (siftd starts and serves reads, readiness says "disk_full").
 */
static int
check_dir(const char *what, const char *dir)
{
    struct sift_buf probe = SIFT_BUF_INIT;
    int rc = mkdir_p(dir);
    if (rc == SIFT_OK) {
        sift_buf_appendf(&probe, "%s/.siftd-write-probe.%ld", dir,
                         (long)getpid());
        int fd = open(sift_buf_cstr(&probe),
                      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = errno == ENOSPC || errno == EDQUOT ? SIFT_OK : -errno;
        } else {
            close(fd);
            (void)unlink(sift_buf_cstr(&probe));
        }
    }
    if (rc < 0)
        SIFT_ERROR("cannot write to %s %s: %s", what, dir, sift_strerror(rc));
    sift_buf_cleanup(&probe);
    return rc;
}

static int
check_writable_dirs(const struct sift_app *app)
{
    const struct sift_config *c = &app->cfg;
    struct sift_buf p = SIFT_BUF_INIT;
    int rc = SIFT_OK;
    static const struct {
        const char *what, *sub;
    } subs[] = {{"the WAL directory", "wal"},
                {"the segments directory", "segments"},
                {"the warm tier directory", "warm"},
                {"the quarantine directory", "quarantine"}};
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]) && rc == SIFT_OK;
         i++) {
        sift_buf_reset(&p);
        sift_buf_appendf(&p, "%s/%s", c->data_dir, subs[i].sub);
        rc = check_dir(subs[i].what, sift_buf_cstr(&p));
    }
    if (rc == SIFT_OK) {
        sift_buf_reset(&p);
        if (c->cold_path && c->cold_path[0])
            sift_buf_appendf(&p, "%s", c->cold_path);
        else
            sift_buf_appendf(&p, "%s/cold", c->data_dir);
        rc = check_dir("the cold tier directory (tiers.cold_path)",
                       sift_buf_cstr(&p));
    }
    /* Files elsewhere: their directories. */
    const char *files[][2] = {
        {"the dead-letter directory (ingest.dlq_path)", c->dlq_path},
        {"the audit log directory (audit.path)", c->audit_path}};
    for (size_t i = 0; i < 2 && rc == SIFT_OK; i++) {
        const char *f = files[i][1];
        const char *slash = f ? strrchr(f, '/') : NULL;
        if (!f || !f[0] || !slash || slash == f)
            continue;
        sift_buf_reset(&p);
        sift_buf_append(&p, f, (size_t)(slash - f));
        rc = check_dir(files[i][0], sift_buf_cstr(&p));
    }
    sift_buf_cleanup(&p);
    return rc;
}

/* Removes DATA_DIR/siftd.addr once siftd stops listening (the address is
 * no longer served; the data dir is still locked, so it is ours). */
static void
remove_addr_file(struct sift_app *app)
{
    if (!app->addr_written)
        return;
    app->addr_written = 0;
    struct sift_buf path = SIFT_BUF_INIT;
    sift_buf_appendf(&path, "%s/siftd.addr", app->cfg.data_dir);
    if (unlink(sift_buf_cstr(&path)) != 0 && errno != ENOENT)
        SIFT_WARN("cannot remove %s: %s", sift_buf_cstr(&path),
                  strerror(errno));
    sift_buf_cleanup(&path);
}

/* Writes DATA_DIR/siftd.addr atomically (sift_file_replace()). */
static int
write_addr_file(const struct sift_app *app)
{
    struct sift_buf path = SIFT_BUF_INIT, text = SIFT_BUF_INIT;
    sift_buf_appendf(&path, "%s/siftd.addr", app->cfg.data_dir);
    sift_buf_appendf(&text, "%s\n", app->bound);
    int rc =
        sift_file_replace(sift_buf_cstr(&path), text.data, text.len, 0666, 0);
    if (rc < 0)
        SIFT_ERROR("cannot write %s: %s", sift_buf_cstr(&path),
                   sift_strerror(rc));
    sift_buf_cleanup(&path);
    sift_buf_cleanup(&text);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Admin endpoints owned by main                                           */
/* ---------------------------------------------------------------------- */

/* ---------------------------------------------------------------------- */
/* Modules (lead wires store, ingest, query and anomaly here)              */
/* ---------------------------------------------------------------------- */

/* Creates the modules after loop, pool and http exist; may register
 * routes.  Returns SIFT_OK or a code (already logged). */
/* Every second: readiness follows the store's degraded states. */
static void
on_health_tick(void *arg)
{
    struct sift_app *app = arg;
    if (app->stopping || !app->store)
        return;
    struct sift_buf details = SIFT_BUF_INIT;
    int state = sift_admin_ready_details(app->store, &details);
    if (state != app->ready_state ||
        strcmp(sift_buf_cstr(&details),
               app->ready_text ? app->ready_text : "") != 0) {
        if (state == 2 && app->ready_state != 2)
            SIFT_WARN("readiness: degraded: %s", sift_buf_cstr(&details));
        else if (state == 1 && app->ready_state == 2)
            SIFT_INFO("readiness: no longer degraded");
        app->ready_state = state;
        sift_free(app->ready_text);
        app->ready_text = sift_xstrdup(sift_buf_cstr(&details));
        sift_http_set_ready(app->http, state, app->ready_text);
    }
    sift_buf_cleanup(&details);
}

/* Dead letters: every rejected input, with its reason and position. */
static void
dlq_put(void *arg, const char *source, const struct sift_srcpos *pos,
        const char *raw, size_t raw_len, const char *reason)
{
    struct sift_app *app = arg;
    /* ---- security: dead letters are redacted like stored events */
    struct sift_buf red = SIFT_BUF_INIT;
    if (sift_security_redact_raw(app->security, raw, raw_len, &red)) {
        raw = red.data;
        raw_len = red.len;
    }
    int rc = sift_dlq_put(app->dlq, source, pos, reason, raw, raw_len);
    sift_buf_cleanup(&red);
    if (rc < 0)
        SIFT_ERROR("dead-letter store: cannot keep a rejected %s input "
                   "(%s): %s",
                   source, reason, sift_strerror(rc));
}

static void
dlq_sync(void *arg)
{
    struct sift_app *app = arg;
    int rc = sift_dlq_sync(app->dlq);
    if (rc < 0)
        SIFT_ERROR("dead-letter store: fsync failed: %s", sift_strerror(rc));
}

static int
open_dlq(struct sift_app *app)
{
    struct sift_buf path = SIFT_BUF_INIT;
    if (app->cfg.dlq_path && app->cfg.dlq_path[0])
        sift_buf_appendf(&path, "%s", app->cfg.dlq_path);
    else
        sift_buf_appendf(&path, "%s/dlq.ndjson", app->cfg.data_dir);
    /* Synced once per batch that had rejects (the pipeline's hook), not
     * per record, so a flood of bad lines costs one fsync per batch. */
    int rc = sift_dlq_open(sift_buf_cstr(&path), 0, &app->dlq);
    sift_buf_cleanup(&path);
    if (rc < 0)
        return rc;
    sift_pipeline_set_dlq(app->pipeline, dlq_put, dlq_sync, app);
    return SIFT_OK;
}

/* The sources deliver to the parse stage and ask the store where to
 * resume; one sink argument serves both. */
static int
source_deliver(void *arg, const struct sift_source_batch *batch,
               sift_durable_cb ack_cb, void *ack_arg)
{
    struct sift_app *app = arg;
    return sift_source_pipe_deliver(app->source_pipe, batch, ack_cb, ack_arg);
}

static int
source_position(void *arg, const char *key, struct sift_srcpos *out)
{
    struct sift_app *app = arg;
    return sift_source_store_position(app->store, key, out);
}

/* [cluster]: what this node holds of a position key, for its peers. */
static int
cluster_position(void *arg, const char *key, uint64_t *hi)
{
    struct sift_app *app = arg;
    struct sift_srcpos pos;
    if (!app->store || sift_store_position(app->store, key, &pos) < 0)
        return SIFT_ENOTFOUND;
    *hi = pos.hi;
    return SIFT_OK;
}

static int
cluster_settled(void *arg, const char *key)
{
    struct sift_app *app = arg;
    for (size_t i = 0; i < app->n_sources; i++)
        if (!sift_source_settled(app->sources[i], key))
            return 0;
    return 1;
}

/* [cluster]: this node's anomaly counts of a closed window. */
static int
cluster_window(void *arg, int64_t win, struct sift_buf *out)
{
    return sift_anomaly_service_window_json(arg, win, out);
}

/* [cluster]: this node's source partitions, for GET /api/v1/cluster. */
static void
cluster_parts(void *arg, sift_source_part_cb cb, void *cb_arg)
{
    struct sift_app *app = arg;
    for (size_t i = 0; i < app->n_sources; i++)
        sift_source_parts(app->sources[i], cb, cb_arg);
}

static void *
cluster_ask(void *arg, const char *key,
            void (*done)(void *cbarg, int all, int have, uint64_t hi),
            void *cbarg)
{
    return sift_cluster_ask_position(arg, key, done, cbarg);
}

static int
start_sources(struct sift_app *app)
{
    int rc = sift_source_pipe_new(app->pipeline, &app->cfg, &app->source_pipe);
    if (rc < 0)
        return rc;
    struct sift_source_env env;
    memset(&env, 0, sizeof(env));
    env.base = sift_loop_base(app->loop);
    env.cfg = &app->cfg;
    env.sink.deliver = source_deliver;
    env.sink.position = source_position;
    env.sink.arg = app;
    env.node_id = app->node_id;
    if (sift_cluster_active(app->cluster)) {
        env.peers.ask = cluster_ask;
        env.peers.cancel = sift_cluster_ask_cancel;
        env.peers.arg = app->cluster;
        env.peers.wait_ms = app->cfg.cluster_handoff_wait_ms;
    }
    rc = sift_source_create_all(&env, &app->sources, &app->n_sources);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < app->n_sources; i++) {
        rc = sift_source_start(app->sources[i]);
        if (rc < 0)
            return rc;
    }
    return SIFT_OK;
}

/* Template texts for search hits: one reference on the anomaly
 * service's template table per search (it outlives the service if a
 * search is still on a worker at shutdown). */
static void *
hits_templates_acquire(void *arg)
{
    return sift_anomaly_service_templates(arg);
}

static int
hits_templates_text(void *handle, uint32_t id, struct sift_buf *out)
{
    return sift_anomaly_templates_text(handle, id, out);
}

static void
hits_templates_release(void *handle)
{
    sift_anomaly_templates_unref(handle);
}

/* How long each class of worker job waited for a worker (issue 26:
 * where queries wait under ingest). */
/* Searches read q=@name from the saved searches (a sift_search_saved_cb
 * over struct sift_saved). */
static int
saved_lookup(void *arg, const char *name, struct sift_saved_view *out)
{
    const struct sift_saved_search *x = sift_saved_get(arg, name);
    if (!x)
        return SIFT_ENOTFOUND;
    out->query = x->query;
    out->from = x->from;
    out->to = x->to;
    out->fields = x->fields;
    return SIFT_OK;
}

static void
pool_metrics(struct sift_buf *out, void *arg)
{
    static const char *const names[SIFT_POOL_CLASSES] = {"query", "build",
                                                         "background"};
    struct sift_pool_wait w[SIFT_POOL_CLASSES];
    for (unsigned c = 0; c < SIFT_POOL_CLASSES; c++)
        sift_pool_wait_stats(arg, (enum sift_pool_class)c, &w[c]);
    sift_metrics_family(out, "sift_worker_jobs_total", SIFT_METRIC_COUNTER,
                        "Worker jobs started, by class.");
    for (unsigned c = 0; c < SIFT_POOL_CLASSES; c++) {
        const char *l[] = {"class", names[c], NULL};
        sift_metrics_sample(out, "sift_worker_jobs_total", l,
                            (double)w[c].jobs);
    }
    sift_metrics_family(out, "sift_worker_queue_seconds_total",
                        SIFT_METRIC_COUNTER,
                        "Time worker jobs waited for a worker, by class "
                        "(queries go first; merges never take the last "
                        "worker).");
    for (unsigned c = 0; c < SIFT_POOL_CLASSES; c++) {
        const char *l[] = {"class", names[c], NULL};
        sift_metrics_sample(out, "sift_worker_queue_seconds_total", l,
                            (double)w[c].wait_ns / 1e9);
    }
    sift_metrics_family(out, "sift_worker_queue_max_seconds", SIFT_METRIC_GAUGE,
                        "The longest a worker job of the class waited.");
    for (unsigned c = 0; c < SIFT_POOL_CLASSES; c++) {
        const char *l[] = {"class", names[c], NULL};
        sift_metrics_sample(out, "sift_worker_queue_max_seconds", l,
                            (double)w[c].max_wait_ns / 1e9);
    }
}

/* Silences decide, per alert transition, whether the sinks get it. */
static int
alert_silenced(void *arg, const struct sift_alert *al)
{
    return sift_silences_match(arg, al, sift_clock_now_ns());
}

static void
on_silence_tick(void *arg)
{
    struct sift_app *app = arg;
    if (sift_silences_changed(app->silences, sift_clock_now_ns()))
        sift_alerting_api_silences_changed(app->alerting_api);
}

/* Saved searches, silences, the rules engine and their endpoints: after
 * the anomaly service (rule alerts share its store and sinks). */
static int
app_start_alerting(struct sift_app *app)
{
    int rc = sift_saved_open(app->cfg.data_dir, &app->cfg, &app->saved);
    if (rc == SIFT_OK)
        rc = sift_silences_open(app->cfg.data_dir, &app->silences);
    if (rc < 0)
        return rc;
    sift_anomaly_service_set_silencer(app->anomaly, alert_silenced,
                                      app->silences);
    (void)sift_silences_changed(app->silences, sift_clock_now_ns());
    const struct sift_rules_deps rd = {.cfg = &app->cfg,
                                       .loop = app->loop,
                                       .pool = app->pool,
                                       .store = app->store,
                                       .alerts = app->anomaly,
                                       .saved = app->saved};
    rc = sift_rules_new(&rd, &app->rules);
    if (rc < 0)
        return rc;
    const struct sift_alerting_deps ad = {.rules = app->rules,
                                          .silences = app->silences,
                                          .saved = app->saved,
                                          .alerts = app->anomaly};
    rc = sift_alerting_api_new(app->http, &ad, &app->alerting_api);
    if (rc < 0)
        return rc;
    app->silence_tick =
        sift_loop_timer_new(app->loop, 1000, on_silence_tick, app);
    return SIFT_OK;
}

static void
app_stop_alerting(struct sift_app *app)
{
    sift_loop_timer_free(app->silence_tick);
    app->silence_tick = NULL;
    sift_rules_free(app->rules); /* jobs in flight finish on their own */
    app->rules = NULL;
    if (app->anomaly)
        sift_anomaly_service_set_silencer(app->anomaly, NULL, NULL);
    sift_alerting_api_free(app->alerting_api);
    app->alerting_api = NULL;
    sift_silences_free(app->silences);
    app->silences = NULL;
    sift_saved_free(app->saved);
    app->saved = NULL;
}

/* Alert copies for Grafana's annotations and "alerts" metric. */
struct alert_copy {
    struct sift_alert *out;
    size_t n, max;
};

static int
copy_alert(const struct sift_alert *al, void *arg)
{
    struct alert_copy *c = arg;
    c->out[c->n++] = *al;
    return c->n == c->max;
}

static size_t
grafana_alerts(void *arg, int64_t from_ns, int64_t to_ns,
               struct sift_alert *out, size_t max)
{
    struct alert_copy c = {out, 0, max};
    if (max > 0)
        sift_anomaly_service_alerts(arg, from_ns, to_ns, copy_alert, &c);
    return c.n;
}

static int
grafana_template(void *arg, uint32_t id, struct sift_buf *out)
{
    return sift_anomaly_service_template_text(arg, id, out);
}

/*
 * The HTTP endpoint sets, each an object wired to the modules it reads,
 * and the /metrics collectors (registered in the order /metrics lists
 * them).  Freed in shutdown_app()'s order.
 */
static void
start_endpoints(struct sift_app *app)
{
    sift_admin_api_register(app->http, app->store);
    const struct sift_root_api_deps root_deps = {.node_name = app->node_id,
                                                 .html_redirect = SIFT_UI_PATH};
    sift_root_api_new(app->http, &root_deps, &app->root_api);
    sift_ui_register(app->http);
    const struct sift_lifecycle_api_deps lc_deps = {
        .store = app->store, .cfg = &app->cfg, .fanout = &app->fanout};
    sift_lifecycle_api_new(app->http, &lc_deps, &app->lifecycle_api);
    const struct sift_anomaly_api_deps an_deps = {.service = app->anomaly,
                                                  .store = app->store,
                                                  .pool = app->pool,
                                                  .cfg = &app->cfg,
                                                  .fanout = &app->fanout};
    sift_anomaly_api_new(app->http, &an_deps, &app->anomaly_api);

    /* GET /metrics: query latency is observed by search and Grafana. */
    sift_metrics_new(&app->metrics);
    sift_metrics_api_new(app->http, app->metrics, &app->metrics_api);
    sift_metrics_register(app->metrics, sift_metrics_collect_alerts,
                          app->anomaly);
    sift_metrics_register(app->metrics, sift_metrics_collect_wal_fsync,
                          app->store);

    const struct sift_search_api_deps search_deps = {
        .fanout = &app->fanout,
        .store = app->store,
        .pool = app->pool,
        .slots = &app->query_slots,
        .loop = app->loop,
        .cfg = &app->cfg,
        .metrics = app->metrics_api,
        .templates = {.acquire = hits_templates_acquire,
                      .text = hits_templates_text,
                      .release = hits_templates_release,
                      .arg = app->anomaly},
        .saved = saved_lookup,
        .saved_arg = app->saved,
    };
    sift_search_api_new(app->http, &search_deps, &app->search_api);

    sift_metrics_register(app->metrics, sift_metrics_collect_store, app->store);
    sift_metrics_register(app->metrics, sift_metrics_collect_pipeline,
                          app->pipeline);
    sift_metrics_register(app->metrics, sift_metrics_collect_config, &app->cfg);
    app->metrics_sources.v = app->sources;
    app->metrics_sources.n = app->n_sources;
    sift_metrics_register(app->metrics, sift_metrics_collect_sources,
                          &app->metrics_sources);
    sift_metrics_register(app->metrics, sift_ingest_api_metrics_collect,
                          app->ingest_api);
    sift_metrics_register(app->metrics, sift_metrics_collect_anomaly,
                          sift_anomaly_service_scorer(app->anomaly));
    sift_metrics_register(app->metrics, sift_metrics_collect_sinks,
                          sift_anomaly_service_sinks(app->anomaly));
    sift_metrics_register(app->metrics, sift_rules_metrics_collect, app->rules);
    sift_metrics_register(app->metrics, sift_security_metrics_collect,
                          app->security); /* refusals, redactions */
    const struct sift_grafana_api_deps gf_deps = {
        .store = app->store,
        .pool = app->pool,
        .slots = &app->query_slots,
        .cfg = &app->cfg,
        .metrics = app->metrics_api,
        .alerts = grafana_alerts,
        .alerts_arg = app->anomaly,
        .template_text = grafana_template,
        .template_arg = app->anomaly,
        .saved = saved_lookup,
        .saved_arg = app->saved,
    };
    sift_grafana_api_new(app->http, &gf_deps, &app->grafana_api);
    sift_metrics_register(app->metrics, sift_store_tiers_metrics, app->store);
    sift_metrics_register(app->metrics, pool_metrics, app->pool);
    if (sift_cluster_active(app->cluster))
        sift_metrics_register(app->metrics, sift_cluster_metrics_collect,
                              app->cluster);
}

static int
app_start_modules(struct sift_app *app)
{
    /* Recovery runs inside sift_store_new(): manifest, segment checks,
     * WAL replay.  Only after it may anything be acknowledged or served.
     * Deletes speak the query language: WAL replay re-runs durable
     * deletes with the query engine's matcher. */
    const struct sift_store_deps store_deps = {
        .cfg = &app->cfg,
        .loop = app->loop,
        .pool = app->pool,
        .match = sift_query_match_segment,
    };
    int rc = sift_store_new(&store_deps, &app->store);
    if (rc < 0) {
        SIFT_ERROR("cannot open the store in %s: %s", app->cfg.data_dir,
                   sift_strerror(rc));
        return rc;
    }
    sift_pipeline_new(app->store, &app->pipeline);
    sift_pipeline_set_config(app->pipeline, &app->cfg); /* time checks */
    sift_security_attach_pipeline(app->security, app->pipeline); /* redact */
    rc = open_dlq(app);
    if (rc < 0)
        return rc;
    /* Templates, scoring, alerts: installs the pipeline stages before
     * any source can deliver. */
    rc = sift_anomaly_service_new(&app->cfg, app->loop, app->pipeline,
                                  app->store, app->pool, &app->anomaly);
    if (rc < 0)
        return rc;
    rc = app_start_alerting(app);
    if (rc < 0)
        return rc;
    rc = sift_ingest_api_new(app->http, app->pipeline, &app->cfg,
                             &app->ingest_api);
    if (rc < 0)
        return rc;
    sift_ingest_api_set_store(app->ingest_api, app->store, app->pool);
    sift_ingest_api_set_position(app->ingest_api, source_position, app);
    /* [cluster]: searches and aggregations fan out to the peers; a Kafka
     * partition handed over asks the peers how far they hold it. */
    rc = sift_cluster_new(app->loop, &app->cfg, app->node_id, &app->cluster);
    if (rc < 0)
        return rc; /* said why (an https peer's CAs) */
    sift_cluster_fanout_ops(app->cluster, &app->fanout);
    sift_cluster_set_self(app->cluster, app->bound);
    sift_cluster_set_self_tls(app->cluster, app->tls_bound);
    sift_cluster_register(app->cluster, app->http);
    const struct sift_cluster_local cl_local = {.position = cluster_position,
                                                .settled = cluster_settled,
                                                .parts = cluster_parts,
                                                .arg = app};
    sift_cluster_set_local(app->cluster, &cl_local);
    /* [cluster]: the scorer sums every node's window counts. */
    if (sift_cluster_active(app->cluster)) {
        const struct sift_cluster_windows_src wsrc = {.window = cluster_window,
                                                      .arg = app->anomaly};
        sift_cluster_windows_new(app->cluster, app->http, &wsrc, &app->cwin);
        sift_anomaly_service_set_ask(app->anomaly, sift_cluster_windows_ask,
                                     app->cwin);
    }
    rc = start_sources(app);
    if (rc < 0)
        return rc;
    start_endpoints(app);

    sift_store_rescan_quarantine(app->store); /* state files too */
    on_health_tick(app);
    app->health = sift_loop_timer_new(app->loop, 1000, on_health_tick, app);
    return SIFT_OK;
}

/*
 * Drain step: returns non-zero once modules have nothing in flight.  The
 * first call pauses every source, so no new batch starts; what they
 * already handed over becomes durable at the next WAL sync and is
 * acknowledged as it does (Kafka commits, XACK, list removal).  A source
 * is settled when nothing of it is unacknowledged, or when its broker is
 * away (a Redis outage must not hold the stop for shutdown_timeout: the
 * stored positions cover it).
 */
static int
app_modules_idle(struct sift_app *app)
{
    if (!app->sources_paused) {
        for (size_t i = 0; i < app->n_sources; i++)
            sift_source_pause(app->sources[i]);
        app->sources_paused = 1;
    }
    for (size_t i = 0; i < app->n_sources; i++) {
        struct sift_source_stats st;
        sift_source_stats(app->sources[i], &st);
        if (st.inflight > 0 && st.connected)
            return 0;
    }
    return 1;
}

/* Stops modules (they answer or drop their pending requests). */
static void
app_stop_modules(struct sift_app *app)
{
    /* Tails and exports end first: they hold requests and the store.
     * Sources stop reading next; the store's close then syncs the WAL
     * and runs every pending durable callback (HTTP replies, Kafka
     * commits, XACK, list removal), and only then are the sources freed,
     * which sends their last acknowledgements (and leaves the Kafka
     * group). */
    sift_search_api_free(app->search_api);
    sift_cluster_stop(app->cluster);      /* freed after the sources */
    sift_cluster_windows_stop(app->cwin); /* before the service goes */
    app->search_api = NULL;
    for (size_t i = 0; i < app->n_sources; i++)
        sift_source_stop(app->sources[i]);
    /* Grafana jobs finishing later must not call the service or the
     * saved searches; then the alerting modules stop, and before the
     * store closes the service scores what is queued and saves its
     * templates. */
    sift_grafana_api_detach_sources(app->grafana_api);
    app_stop_alerting(app);
    sift_anomaly_service_free(app->anomaly);
    app->anomaly = NULL;
    if (app->store) {
        sift_store_close(app->store);
        app->store = NULL;
    }
    for (size_t i = 0; i < app->n_sources; i++)
        sift_source_free(app->sources[i]);
    sift_cluster_windows_free(app->cwin);
    app->cwin = NULL;
    sift_cluster_free(app->cluster); /* after the sources' last asks */
    app->cluster = NULL;
    sift_free(app->sources);
    app->sources = NULL;
    app->n_sources = 0;
    app->metrics_sources.v = NULL;
    app->metrics_sources.n = 0;
    sift_source_pipe_free(app->source_pipe);
    app->source_pipe = NULL;
    sift_dlq_close(app->dlq);
    app->dlq = NULL;
    sift_ingest_api_free(app->ingest_api);
    app->ingest_api = NULL;
    sift_pipeline_free(app->pipeline);
    app->pipeline = NULL;
}

/* ---------------------------------------------------------------------- */
/* Signals, watchdog, drain                                                */
/* ---------------------------------------------------------------------- */

static void
on_watchdog(void *arg)
{
    (void)arg;
    sd_notify(0, "WATCHDOG=1");
}

static void
on_drain_tick(void *arg)
{
    struct sift_app *app = arg;
    size_t pending = sift_http_pending(app->http);
    int idle = app_modules_idle(app);

    if (pending == 0 && idle) {
        sift_loop_stop(app->loop);
        return;
    }
    if (sift_clock_mono_ns() >= app->drain_deadline_ns) {
        SIFT_WARN("shutdown: server.shutdown_timeout reached with %zu "
                  "request(s) unanswered; stopping anyway",
                  pending);
        sift_loop_stop(app->loop);
    }
}

static void
on_stop_signal(void *arg)
{
    struct sift_app *app = arg;

    if (app->stopping) {
        SIFT_WARN("second stop signal: skipping the drain");
        sift_loop_stop(app->loop);
        return;
    }
    app->stopping = 1;
    sd_notify(0, "STOPPING=1");
    sift_http_stop_accepting(app->http);
    remove_addr_file(app); /* nothing listens there any more */
    sift_search_api_end_tails(app->search_api); /* would hold the drain */
    app->drain_deadline_ns =
        sift_clock_mono_ns() + app->cfg.shutdown_timeout_ms * SIFT_NS_PER_MS;
    app->drain = sift_loop_timer_new(app->loop, 20, on_drain_tick, app);
    on_drain_tick(app);
}

/* ---------------------------------------------------------------------- */
/* Command line                                                            */
/* ---------------------------------------------------------------------- */

static void
usage(FILE *out)
{
    fprintf(out,
            "Usage: siftd [OPTIONS]\n"
            "       siftd repair [--dry-run] [OPTIONS]\n"
            "\n"
            "sift log daemon: ingest (Kafka, Redis, HTTP), index, search and "
            "anomaly alerts.\n"
            "\n"
            "Options:\n"
            "  -c, --config FILE        read the configuration file FILE "
            "(INI)\n"
            "      --check-config       validate the configuration, print OK "
            "or every\n"
            "                           error, and exit (0 = valid)\n"
            "      --listen ADDR:PORT   override server.listen (port 0 = any "
            "free port)\n"
            "      --data-dir DIR       override server.data_dir\n"
            "      --set SECTION.KEY=VALUE\n"
            "                           override any key (repeatable; "
            "applied after the\n"
            "                           file, validated like it)\n"
            "      --repair             same as the repair command: "
            "rebuild MANIFEST\n"
            "                           from the segment files, report "
            "every file, move\n"
            "                           what loses to quarantine/, delete "
            "nothing, exit\n"
            "      --dry-run            with repair: report only, change "
            "nothing\n"
            "      --print-sample-config  print a commented config with "
            "every key\n"
            "      --print-config-reference  print the key reference "
            "(Markdown)\n"
            "      --print-api-params   print every endpoint's parameter "
            "table (Markdown)\n"
            "  -V, --version            print the version and exit\n"
            "  -h, --help               print this help and exit\n"
            "\n"
            "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the "
            "configuration.\n"
            "Once listening, siftd prints \"siftd listening on http://ADDR\" "
            "and writes\n"
            "ADDR to DATA_DIR/siftd.addr.  Documentation: "
            "docs/configuration.md,\n"
            "docs/operations.md.\n");
}

enum mode { MODE_RUN, MODE_CHECK, MODE_DONE, MODE_REPAIR };

/*
 * Parses argv into app.  Returns the mode, or -1 after printing a usage
 * error.  Accepts "--opt value" and "--opt=value".
 */
static int
parse_args(struct sift_app *app, int argc, char **argv)
{
    enum mode mode = MODE_RUN;
    int first = 1;

    if (argc > 1 && strcmp(argv[1], "repair") == 0) {
        mode = MODE_REPAIR;
        first = 2;
    }
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        char name[64];
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        size_t nlen = eq != NULL ? (size_t)(eq - a) : strlen(a);
        if (nlen >= sizeof(name))
            nlen = sizeof(name) - 1;
        memcpy(name, a, nlen);
        name[nlen] = '\0';

        int takes_value =
            strcmp(name, "-c") == 0 || strcmp(name, "--config") == 0 ||
            strcmp(name, "--listen") == 0 || strcmp(name, "--data-dir") == 0 ||
            strcmp(name, "--set") == 0 || strcmp(name, "-s") == 0;
        if (takes_value) {
            if (eq != NULL) {
                val = eq + 1;
            } else if (i + 1 < argc) {
                val = argv[++i];
            } else {
                fprintf(stderr,
                        "siftd: option %s needs a value (see "
                        "--help)\n",
                        name);
                return -1;
            }
        } else if (eq != NULL) {
            fprintf(stderr, "siftd: option %s takes no value (see --help)\n",
                    name);
            return -1;
        }

        if (strcmp(name, "-c") == 0 || strcmp(name, "--config") == 0) {
            app->config_path = val;
        } else if (strcmp(name, "--listen") == 0) {
            app->listen_override = val;
        } else if (strcmp(name, "--data-dir") == 0) {
            app->data_dir_override = val;
        } else if (strcmp(name, "--set") == 0 || strcmp(name, "-s") == 0) {
            if (app->n_sets == MAX_SETS) {
                fprintf(stderr, "siftd: more than %d --set options\n",
                        MAX_SETS);
                return -1;
            }
            app->sets[app->n_sets++] = val;
        } else if (strcmp(name, "--check-config") == 0) {
            mode = MODE_CHECK;
        } else if (strcmp(name, "--repair") == 0) {
            mode = MODE_REPAIR;
        } else if (strcmp(name, "--dry-run") == 0) {
            app->dry_run = 1;
        } else if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) {
            printf("siftd %s\n", SIFT_VERSION);
            return MODE_DONE;
        } else if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0) {
            usage(stdout);
            return MODE_DONE;
        } else if (strcmp(name, "--print-sample-config") == 0) {
            sift_config_dump_sample(stdout);
            return MODE_DONE;
        } else if (strcmp(name, "--print-config-reference") == 0) {
            sift_config_dump_reference(stdout);
            return MODE_DONE;
        } else if (strcmp(name, "--print-api-params") == 0) {
            sift_api_params_print(stdout);
            return MODE_DONE;
        } else {
            fprintf(stderr, "siftd: unknown option '%s' (see --help)\n", a);
            return -1;
        }
    }
    if (app->dry_run && mode != MODE_REPAIR) {
        fprintf(stderr, "siftd: --dry-run goes with repair (see --help)\n");
        return -1;
    }
    return (int)mode;
}

/* ---------------------------------------------------------------------- */
/* main                                                                    */
/* ---------------------------------------------------------------------- */

/* Records which start-up step failed, for the last log line. */
#define STEP(app, what, expr)                                                  \
    do {                                                                       \
        (app)->fatal_step = (what);                                            \
        rc = (expr);                                                           \
        if (rc < 0)                                                            \
            return rc;                                                         \
    } while (0)

static int
run(struct sift_app *app)
{
    int rc;
    STEP(app, "the data directory", open_data_dir(app));
    STEP(app, "the directories siftd writes", check_writable_dirs(app));
    STEP(app, "the event loop", sift_loop_new(&app->loop));
    STEP(app, "the signal handlers",
         sift_loop_on_signals(app->loop, on_stop_signal, on_reload, app));
    STEP(app, "the worker pool",
         sift_pool_new(app->loop, (unsigned)app->cfg.workers, &app->pool));
    STEP(app, "the HTTP server",
         sift_http_new(app->loop, &app->cfg, &app->http));
    sift_admin_config_register(app->http, &app->cfg);
    /* ---- security: tokens and audit are installed before any listen */
    STEP(app, "security (tokens, audit, redaction)",
         sift_security_new(&app->cfg, app->http, &app->security));
    /* Bind first so a busy port fails fast, before a long recovery. */
    STEP(app, "the listening socket",
         sift_http_listen(app->http, app->cfg.listen, app->bound,
                          sizeof(app->bound)));
    STEP(app, "the TLS listener",
         sift_security_listen_tls(app->security, app->tls_bound,
                                  sizeof(app->tls_bound)));
    sift_security_log_summary(app->security);
    STEP(app, "the modules (store recovery, ingest, anomaly)",
         app_start_modules(app));
    app->fatal_step = NULL;
    sift_api_params_attach(app->http); /* every route is registered now */
    /* Not fatal: the address is on stdout too, and a full disk must not
     * keep siftd from serving reads. */
    if (write_addr_file(app) < 0)
        SIFT_WARN("siftd.addr not written; the address is on stdout");
    else
        app->addr_written = 1;

    SIFT_INFO("siftd %s listening on http://%s (data dir %s, node %s, %u "
              "workers)",
              SIFT_VERSION, app->bound, app->cfg.data_dir, app->node_id,
              sift_pool_threads(app->pool));
    printf("siftd listening on http://%s\n", app->bound);
    if (app->tls_bound[0] != '\0')
        printf("siftd listening on https://%s\n", app->tls_bound);
    fflush(stdout);

    uint64_t wd_usec = 0;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
        uint64_t period_ms = wd_usec / 2000;
        app->watchdog = sift_loop_timer_new(
            app->loop, (uint32_t)(period_ms > 0 ? period_ms : 1), on_watchdog,
            app);
    }
    sd_notifyf(0, "READY=1\nSTATUS=listening on http://%s\nMAINPID=%lu",
               app->bound, (unsigned long)getpid());

    rc = sift_loop_run(app->loop);
    SIFT_INFO("shutting down");
    return rc;
}

static void
shutdown_app(struct sift_app *app)
{
    /* Reverse order of creation; modules first so their pending requests
     * are answered before the server goes away. */
    if (app->http != NULL)
        app_stop_modules(app);
    sift_loop_timer_free(app->drain);
    sift_loop_timer_free(app->watchdog);
    sift_loop_timer_free(app->health);
    app->health = NULL;
    sift_free(app->ready_text);
    sift_pool_free(app->pool);
    /* After the pool: its last done callbacks still answer Grafana. */
    sift_grafana_api_free(app->grafana_api);
    app->grafana_api = NULL;
    sift_http_free(app->http);
    /* Endpoint sets whose routes lived until the server: */
    sift_lifecycle_api_free(app->lifecycle_api);
    app->lifecycle_api = NULL;
    sift_anomaly_api_free(app->anomaly_api);
    app->anomaly_api = NULL;
    sift_root_api_free(app->root_api);
    app->root_api = NULL;
    sift_security_free(app->security); /* after the server that borrows it */
    sift_metrics_api_free(app->metrics_api); /* after every observer */
    app->metrics_api = NULL;
    sift_metrics_free(app->metrics);
    if (app->loop != NULL)
        sift_loop_run_posted(app->loop);
    sift_loop_free(app->loop);
    remove_addr_file(app); /* before the lock goes */
    if (app->lock_fd >= 0)
        close(app->lock_fd);
}

/*
 * siftd repair: rebuilds the manifest from the segment files with the data
 * directory locked (so never under a running siftd), printing the report
 * on stdout.  Exit 0 when the manifest was rebuilt (or, with --dry-run,
 * the report written), 1 otherwise.
 */
static int
repair(struct sift_app *app)
{
    int rc = build_config(app, &app->cfg, print_error_stderr);
    if (rc == SIFT_OK)
        rc = open_data_dir(app);
    if (rc == SIFT_OK) {
        fprintf(stdout, "siftd repair: data directory %s%s\n",
                app->cfg.data_dir, app->dry_run ? " (dry run)" : "");
        rc = sift_store_repair(&app->cfg, app->dry_run, stdout);
    }
    if (rc < 0)
        fprintf(stderr, "siftd repair: failed: %s\n", sift_strerror(rc));
    if (app->lock_fd >= 0)
        close(app->lock_fd);
    sift_config_cleanup(&app->cfg);
    return rc == SIFT_OK ? 0 : 1;
}

/* --check-config: the rules file, with the saved searches of the data
 * dir (read only: nothing is repaired or written). */
static int
check_rules_file(const struct sift_config *cfg)
{
    if (cfg->rules_file[0] == '\0')
        return SIFT_OK;
    struct sift_saved *saved = NULL;
    (void)sift_saved_open_readonly(cfg->data_dir, cfg, &saved);
    int rc = sift_rules_check_file(cfg, cfg->rules_file, saved,
                                   print_error_stderr, NULL);
    sift_saved_free(saved);
    return rc;
}

int
main(int argc, char **argv)
{
    struct sift_app app;
    int exit_code = 0;

    sift_alloc_setup();
    memset(&app, 0, sizeof(app));
    app.lock_fd = -1;
    int mode = parse_args(&app, argc, argv);
    if (mode < 0)
        return 2;
    if (mode == MODE_DONE)
        return 0;

    if (mode == MODE_CHECK) {
        /* Every check the start makes before it touches anything: the
         * keys, the keys together, tokens and redaction, librdkafka's
         * properties, addresses (the systemd unit runs this first). */
        int rc = build_config(&app, &app.cfg, print_error_stderr);
        if (rc == SIFT_OK || rc == SIFT_ECONFIG) {
            if (sift_security_check(&app.cfg, print_error_stderr, NULL) < 0)
                rc = SIFT_ECONFIG;
            if (sift_source_check_config(&app.cfg, print_error_stderr, NULL) <
                0)
                rc = SIFT_ECONFIG;
            if (check_rules_file(&app.cfg) < 0)
                rc = SIFT_ECONFIG;
        }
        if (rc == SIFT_OK)
            printf("OK\n");
        sift_config_cleanup(&app.cfg);
        return rc == SIFT_OK ? 0 : 1;
    }

    if (mode == MODE_REPAIR)
        return repair(&app);

    int rc = build_config(&app, &app.cfg, log_error_cb);
    if (rc < 0) {
        SIFT_ERROR("exiting: siftd cannot start: the configuration %s",
                   rc == SIFT_ECONFIG ? "has errors (above)"
                                      : "cannot be read (above)");
        sift_config_cleanup(&app.cfg);
        return 1;
    }
    apply_log_level(&app.cfg);
    if (app.config_path != NULL)
        SIFT_INFO("configuration loaded from %s", app.config_path);

    rc = run(&app);
    if (rc < 0) {
        exit_code = 1;
        if (app.fatal_step)
            SIFT_ERROR("exiting: siftd cannot start: %s failed (%s); see the "
                       "error above",
                       app.fatal_step, sift_strerror(rc));
        else
            SIFT_ERROR("exiting: %s", sift_strerror(rc));
    }
    shutdown_app(&app);
    sift_config_cleanup(&app.cfg);
    if (exit_code == 0)
        SIFT_INFO("stopped");
    return exit_code;
}
