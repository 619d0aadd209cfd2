/*
 * rules.c - the rules engine (include/sift/rules.h has the contract;
 * docs/alerting.md the behaviour; docs/internals/alerting.md the design).
 *
 * Design.
 *   Rules: an array of entries, each holding a parsed rule (or, for a
 *   stored API rule that no longer validates, its raw JSON and the
 *   error, so nothing the user wrote is dropped), where it came from
 *   (API or the rules file), its schedule, its status counters and the
 *   state of each of its groups.  API rules are kept in
 *   DATA_DIR/rules.ndjson (one checked line each, rewritten atomically
 *   on every change); the rules file is read at start and on SIGHUP.
 *
 *   Scheduling: a 100 ms loop timer compares each rule's next due time
 *   with sift_clock_now_ns() (so the debug clock steps rules as it steps
 *   everything else).  A due rule is queued; at most
 *   rules.max_concurrent evaluations run on the worker pool, each over a
 *   store snapshot taken on the loop (in-memory segments included), so
 *   ingest never waits for a rule.  A rule still queued or running when
 *   it is due again misses that tick: counted, logged, shown as "slow".
 *
 *   State per group: pending since (the condition first held), firing,
 *   and the current alert (a value copy).  The done callback (loop)
 *   applies a result: holds for `for` -> FIRE (or UPDATE re-opening an
 *   alert resolved within rules.cooldown), stops holding -> RESOLVE.
 *   Alerts go to the anomaly service (sift_anomaly_service_emit): one
 *   alerts store, one id counter, silences, the sinks' outboxes.  At
 *   start the state is rebuilt from the rule alerts the store kept.
 *
 * Lifetime: jobs hold a reference on their entry and the engine counts
 * jobs in flight; sift_rules_free() marks the engine closing and the last
 * job's done callback frees it when jobs are still out.
 * Thread: loop thread, except eval_work() (a worker: the rule, the
 * snapshot and the job only).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/anomaly_service.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/config.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/loop.h"
#include "sift/metrics.h"
#include "sift/pool.h"
#include "sift/query.h"
#include "sift/rule.h"
#include "sift/rules.h"
#include "sift/saved.h"
#include "sift/segment.h"
#include "sift/statefile.h"
#include "sift/store.h"

#include "alerting/alerting_int.h"

#define TICK_MS 100
#define NS_PER_MS INT64_C(1000000)

struct gstate {
    char *group; /* "" without group_by */
    int firing;
    int64_t pending_since; /* 0 = not holding */
    struct sift_alert al;  /* current alert; al.id 0 = none */
};

struct rentry {
    struct sift_rule *r; /* NULL: a stored rule that no longer validates */
    char *raw;           /* its JSON when r is NULL */
    char name[SIFT_ALERT_RULE_MAX];
    int from_file;
    int refs; /* the table's + one per job */
    int removed;
    int running, queued;
    int64_t next_due_ns;
    uint64_t evals, failures, missed, groups_dropped;
    uint64_t missed_at_start; /* missed when the running job was queued */
    int64_t last_eval_ns, last_duration_ns;
    uint64_t total_duration_ns;
    double last_value;
    int has_value, slow;
    char last_error[400];
    char warning[400]; /* file rules: a field the store does not know */
    struct gstate *g;
    size_t n_g, cap_g;
};

struct sift_rules {
    struct sift_rules_deps d;
    char *path; /* DATA_DIR/rules.ndjson */
    struct rentry **v;
    size_t n;
    struct rentry **queue;
    size_t n_queue;
    unsigned in_flight;
    struct sift_timer *tick;
    int closing;
};

struct job {
    struct sift_rules *e;
    struct rentry *re;
    struct sift_rule *r; /* borrowed from re (kept alive by re's ref) */
    struct sift_snapshot *snap;
    int64_t now_ns;
    int64_t deadline_mono;
    char **watch;
    size_t n_watch;
    int64_t t0, t1;
    struct sift_rule_result res;
};

/* ------------------------------------------------------------------ */
/* Entries                                                              */
/* ------------------------------------------------------------------ */

static void
states_free(struct rentry *re)
{
    for (size_t i = 0; i < re->n_g; i++)
        sift_free(re->g[i].group);
    sift_free(re->g);
    re->g = NULL;
    re->n_g = re->cap_g = 0;
}

static void
entry_unref(struct rentry *re)
{
    if (--re->refs > 0)
        return;
    sift_rule_free(re->r);
    sift_free(re->raw);
    states_free(re);
    sift_free(re);
}

static long
find(const struct sift_rules *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->v[i]->name, name) == 0)
            return (long)i;
    return -1;
}

static struct gstate *
state_find(struct rentry *re, const char *group, int create)
{
    for (size_t i = 0; i < re->n_g; i++)
        if (strcmp(re->g[i].group, group) == 0)
            return &re->g[i];
    if (!create)
        return NULL;
    if (re->n_g == re->cap_g) {
        re->cap_g = re->cap_g ? re->cap_g * 2 : 4;
        re->g = sift_xrealloc(re->g, re->cap_g * sizeof(*re->g));
    }
    struct gstate *st = &re->g[re->n_g++];
    memset(st, 0, sizeof(*st));
    st->group = sift_xstrdup(group);
    return st;
}

/* ------------------------------------------------------------------ */
/* Alerts of a group                                                    */
/* ------------------------------------------------------------------ */

static void
cut_copy(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Fills the identity of a new alert of group g. */
static void
alert_identity(const struct sift_rule *r, const char *group,
               struct sift_alert *al)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "rule=%s", r->name);
    if (r->group_by)
        sift_buf_appendf(&b, " %s=%s", r->group_by, group);
    if (b.len >= sizeof(al->series)) { /* long value: cut, tagged by hash */
        char tag[16];
        snprintf(tag, sizeof(tag), "~%08x",
                 (unsigned)XXH3_64bits(b.data, b.len));
        b.len = sizeof(al->series) - 1 - strlen(tag);
        sift_buf_append(&b, tag, strlen(tag));
    }
    cut_copy(al->series, sizeof(al->series), b.data, b.len);
    sift_buf_reset(&b);
    sift_buf_appendf(&b, "rule\x1f%s\x1f%s", r->name, group);
    al->series_key = XXH3_64bits(b.data, b.len);
    sift_buf_reset(&b);
    al->kind = SIFT_ALERT_RULE;
    snprintf(al->rule, sizeof(al->rule), "%s", r->name);
    al->severity = (uint8_t)r->severity;
    al->threshold = r->threshold;
    /* Labels: the rule's, plus the group's field and value. */
    size_t ll = strlen(r->labels);
    sift_buf_append(&b, r->labels, ll - 1);
    if (r->group_by) {
        if (ll > 2)
            sift_buf_putc(&b, ',');
        sift_buf_put_json_str(&b, r->group_by, strlen(r->group_by));
        sift_buf_putc(&b, ':');
        size_t room = sizeof(al->labels) - b.len - 8;
        size_t gl = strlen(group);
        sift_buf_put_json_str(&b, group, gl < room / 6 ? gl : room / 6);
    }
    sift_buf_putc(&b, '}');
    cut_copy(al->labels, sizeof(al->labels), b.data, b.len);
    /* The events' query: the rule's and the group's value. */
    sift_buf_reset(&b);
    int all = r->effective[0] == '\0' || strcmp(r->effective, "*") == 0;
    if (!r->group_by) {
        sift_buf_appendf(&b, "%s", r->effective);
    } else {
        if (!all)
            sift_buf_appendf(&b, "(%s) AND ", r->effective);
        sift_buf_appendf(&b, "%s:\"", r->group_by);
        for (const char *p = group; *p; p++) {
            if (*p == '"' || *p == '\\')
                sift_buf_putc(&b, '\\');
            sift_buf_putc(&b, *p);
        }
        sift_buf_putc(&b, '"');
    }
    if (b.len < sizeof(al->query))
        cut_copy(al->query, sizeof(al->query), b.data ? b.data : "", b.len);
    else
        snprintf(al->query, sizeof(al->query), "%s", r->effective);
    sift_buf_cleanup(&b);
}

static void
emit(struct sift_rules *e, enum sift_alert_event ev, struct sift_alert *al)
{
    al->transitions++;
    sift_anomaly_service_emit(e->d.alerts, ev, al);
}

static void
fire(struct sift_rules *e, struct rentry *re, struct gstate *st, int64_t now,
     const struct sift_rule_group *g)
{
    const struct sift_rule *r = re->r;
    struct sift_alert *al = &st->al;
    st->firing = 1;
    int64_t cooldown = e->d.cfg->rules_cooldown_ms * NS_PER_MS;
    if (al->id && al->state == SIFT_ALERT_RESOLVED &&
        now - al->resolved_ns <= cooldown) {
        al->state = SIFT_ALERT_FIRING;
        al->resolved_ns = 0;
        al->updated_ns = now;
        al->value = g->value;
        al->score = al->last_score = 100;
        al->n_windows++;
        emit(e, SIFT_ALERT_EV_UPDATE, al);
        return;
    }
    memset(al, 0, sizeof(*al));
    al->id = sift_anomaly_service_next_alert_id(e->d.alerts);
    alert_identity(r, st->group, al);
    al->state = SIFT_ALERT_FIRING;
    al->score = al->last_score = 100;
    al->started_ns = st->pending_since ? st->pending_since : now;
    al->updated_ns = now;
    al->value = g->value;
    al->n_windows = 1;
    emit(e, SIFT_ALERT_EV_FIRE, al);
}

static void
resolve(struct sift_rules *e, struct gstate *st, int64_t now, double value)
{
    struct sift_alert *al = &st->al;
    st->firing = 0;
    if (!al->id || al->state != SIFT_ALERT_FIRING)
        return;
    al->state = SIFT_ALERT_RESOLVED;
    al->resolved_ns = now;
    al->updated_ns = now;
    al->value = value;
    al->last_score = 0;
    emit(e, SIFT_ALERT_EV_RESOLVE, al);
}

/* Resolves every firing group (rule deleted, disabled or regrouped). */
static void
resolve_all(struct sift_rules *e, struct rentry *re, int64_t now)
{
    for (size_t i = 0; i < re->n_g; i++)
        if (re->g[i].firing)
            resolve(e, &re->g[i], now, re->g[i].al.value);
}

/* Puts ne in the table in place of e->v[i].  The group states move to
 * the new definition unless its grouping changed or it is disabled (then
 * the old alerts resolve); jobs in flight keep the old entry. */
static void
replace_entry(struct sift_rules *e, size_t i, struct rentry *ne, int64_t now)
{
    struct rentry *old = e->v[i];
    const struct sift_rule *r = ne->r;
    int regroup = !old->r ||
                  (old->r->group_by == NULL) != (r->group_by == NULL) ||
                  (r->group_by && strcmp(old->r->group_by, r->group_by) != 0);
    if (regroup || !r->enabled) {
        resolve_all(e, old, now);
    } else {
        ne->g = old->g;
        ne->n_g = old->n_g;
        ne->cap_g = old->cap_g;
        old->g = NULL;
        old->n_g = old->cap_g = 0;
    }
    old->removed = 1;
    e->v[i] = ne;
    entry_unref(old);
}

static void
apply(struct sift_rules *e, struct rentry *re, int64_t now,
      const struct sift_rule_result *res)
{
    const struct sift_rule *r = re->r;
    re->has_value = 0;
    for (size_t i = 0; i < res->n_groups; i++) {
        const struct sift_rule_group *g = &res->groups[i];
        const char *group = g->group ? g->group : "";
        if (g->has_value &&
            (!re->has_value ||
             (sift_rule_op_upward(r->op) ? g->value > re->last_value
                                         : g->value < re->last_value))) {
            re->last_value = g->value;
            re->has_value = 1;
        }
        struct gstate *st = state_find(re, group, g->holds);
        if (!st)
            continue;
        if (g->holds) {
            if (st->firing) {
                st->al.value = g->value;
                st->al.updated_ns = now;
                st->al.n_windows++;
                sift_anomaly_service_touch(e->d.alerts, &st->al);
                continue;
            }
            if (!st->pending_since)
                st->pending_since = now;
            if (now - st->pending_since >= r->for_ns)
                fire(e, re, st, now, g);
        } else {
            st->pending_since = 0;
            if (st->firing)
                resolve(e, st, now, g->value);
        }
    }
    /* Forget groups with nothing left to remember. */
    int64_t cooldown = e->d.cfg->rules_cooldown_ms * NS_PER_MS;
    size_t w = 0;
    for (size_t i = 0; i < re->n_g; i++) {
        struct gstate *st = &re->g[i];
        int keep = st->firing || st->pending_since ||
                   (st->al.id && now - st->al.resolved_ns <= cooldown);
        if (keep)
            re->g[w++] = *st;
        else
            sift_free(st->group);
    }
    re->n_g = w;
}

/* ------------------------------------------------------------------ */
/* Evaluation jobs                                                      */
/* ------------------------------------------------------------------ */

static void
eval_work(void *arg)
{
    struct job *j = arg;
    j->t0 = sift_clock_mono_ns();
    size_t n = sift_snapshot_count(j->snap);
    struct sift_segment **segs = sift_xcalloc(n + 1, sizeof(*segs));
    for (size_t i = 0; i < n; i++)
        segs[i] = sift_snapshot_segment(j->snap, i);
    sift_rule_eval(j->r, segs, n, j->now_ns, j->deadline_mono,
                   (const char *const *)j->watch, j->n_watch, &j->res);
    sift_free(segs);
    j->t1 = sift_clock_mono_ns();
}

static void engine_free_now(struct sift_rules *e);
static void dispatch(struct sift_rules *e);

static void
fmt_secs(int64_t ns, char *out, size_t cap)
{
    snprintf(out, cap, "%.3f s", (double)ns / 1e9);
}

static void
eval_done(void *arg, int cancelled)
{
    struct job *j = arg;
    struct sift_rules *e = j->e;
    struct rentry *re = j->re;
    re->running = 0;
    e->in_flight--;
    if (!cancelled && !e->closing && !re->removed) {
        int64_t took = j->t1 - j->t0;
        re->evals++;
        re->last_eval_ns = j->now_ns;
        re->last_duration_ns = took;
        re->total_duration_ns += (uint64_t)took;
        re->groups_dropped = j->res.groups_dropped;
        /* Slow: longer than the interval, or due again before it ended
         * (queued behind other work included); the next evaluation that
         * is on time clears it, the counters keep the history. */
        re->slow =
            took > re->r->interval_ns || re->missed > re->missed_at_start;
        if (took > re->r->interval_ns) {
            char a[32], b[32];
            fmt_secs(took, a, sizeof(a));
            fmt_secs(re->r->interval_ns, b, sizeof(b));
            SIFT_WARN("rules: rule \"%s\": evaluation took %s, longer than "
                      "its interval %s (%" PRIu64 " tick(s) missed so far)",
                      re->name, a, b, re->missed);
        }
        if (j->res.rc < 0) {
            re->failures++;
            if (strcmp(re->last_error, j->res.error) != 0)
                SIFT_ERROR("rules: rule \"%s\": evaluation failed: %s",
                           re->name, j->res.error);
            snprintf(re->last_error, sizeof(re->last_error), "%s",
                     j->res.error);
        } else {
            re->last_error[0] = '\0';
            apply(e, re, j->now_ns, &j->res);
        }
    }
    sift_rule_result_cleanup(&j->res);
    sift_snapshot_release(j->snap);
    for (size_t i = 0; i < j->n_watch; i++)
        sift_free(j->watch[i]);
    sift_free(j->watch);
    entry_unref(re);
    sift_free(j);
    if (e->closing) {
        if (e->in_flight == 0)
            engine_free_now(e);
        return;
    }
    dispatch(e);
}

static void
start_job(struct sift_rules *e, struct rentry *re, int64_t now)
{
    struct job *j = sift_xcalloc(1, sizeof(*j));
    j->e = e;
    j->re = re;
    j->r = re->r;
    re->refs++;
    re->running = 1;
    e->in_flight++;
    j->snap = sift_store_snapshot(e->d.store);
    j->now_ns = now;
    /* A slow rule is reported (missed ticks); it is stopped only well
     * past its interval, so it still finishes when it is a bit slow. */
    j->deadline_mono = sift_clock_mono_ns() + 3 * re->r->interval_ns;
    if (re->n_g > 0) {
        j->watch = sift_xcalloc(re->n_g, sizeof(*j->watch));
        for (size_t i = 0; i < re->n_g; i++)
            if (re->r->group_by)
                j->watch[j->n_watch++] = sift_xstrdup(re->g[i].group);
    }
    if (sift_pool_submit_class(e->d.pool, SIFT_POOL_QUERY, eval_work, eval_done,
                               j) < 0) {
        /* Stopping: nothing runs; undo. */
        re->running = 0;
        e->in_flight--;
        sift_snapshot_release(j->snap);
        for (size_t i = 0; i < j->n_watch; i++)
            sift_free(j->watch[i]);
        sift_free(j->watch);
        entry_unref(re);
        sift_free(j);
    }
}

static void
dispatch(struct sift_rules *e)
{
    while (e->n_queue > 0 &&
           e->in_flight < (unsigned)e->d.cfg->rules_max_concurrent) {
        struct rentry *re = e->queue[0];
        memmove(&e->queue[0], &e->queue[1],
                (e->n_queue - 1) * sizeof(*e->queue));
        e->n_queue--;
        re->queued = 0;
        if (!re->removed && re->r && re->r->enabled)
            start_job(e, re, sift_clock_now_ns());
        entry_unref(re);
    }
}

static void
on_tick(void *arg)
{
    struct sift_rules *e = arg;
    int64_t now = sift_clock_now_ns();
    for (size_t i = 0; i < e->n; i++) {
        struct rentry *re = e->v[i];
        if (!re->r || !re->r->enabled)
            continue;
        int64_t iv = re->r->interval_ns;
        if (re->next_due_ns == 0 || re->next_due_ns - now > 2 * iv)
            re->next_due_ns = now; /* new, or the clock went back */
        if (now < re->next_due_ns)
            continue;
        if (re->running || re->queued) {
            /* Every tick of the grid that passed counts (the loop or
             * the clock may have moved several intervals at once). */
            uint64_t k = (uint64_t)((now - re->next_due_ns) / iv) + 1;
            re->missed += k;
            re->next_due_ns += (int64_t)(k - 1) * iv;
            char a[32];
            fmt_secs(iv, a, sizeof(a));
            SIFT_WARN("rules: rule \"%s\": still evaluating when due again "
                      "(interval %s); this tick is skipped (%" PRIu64
                      " missed)",
                      re->name, a, re->missed);
        } else {
            e->queue =
                sift_xrealloc(e->queue, (e->n_queue + 1) * sizeof(*e->queue));
            e->queue[e->n_queue++] = re;
            re->refs++;
            re->queued = 1;
            re->missed_at_start = re->missed;
        }
        /* The next tick on the rule's grid after now. */
        re->next_due_ns += iv;
        if (re->next_due_ns <= now)
            re->next_due_ns = now + iv;
    }
    dispatch(e);
}

/* ------------------------------------------------------------------ */
/* Loading, persistence                                                 */
/* ------------------------------------------------------------------ */

static int
saved_lookup(void *arg, const char *name, struct sift_buf *out)
{
    const struct sift_saved_search *x = sift_saved_get(arg, name);
    if (!x)
        return SIFT_ENOTFOUND;
    sift_buf_append(out, x->query, strlen(x->query));
    return SIFT_OK;
}

static void
env_of(const struct sift_rules_deps *d, struct sift_rule_env *env)
{
    env->cfg = d->cfg;
    env->saved = d->saved ? saved_lookup : NULL;
    env->saved_arg = d->saved;
}

/* API rules only: the rules file's rules are the file's. */
static void
record_at(void *arg, size_t i, struct sift_buf *b)
{
    const struct sift_rules *e = arg;
    const struct rentry *re = e->v[i];
    if (re->from_file)
        return;
    if (re->r)
        sift_rule_to_json(re->r, b);
    else
        sift_buf_append(b, re->raw, strlen(re->raw));
}

static void
save(struct sift_rules *e)
{
    sift__alerting_records_save("rules", e->path, e->n, record_at, e);
}

static struct rentry *
entry_new(const char *name, struct sift_rule *r, int from_file)
{
    struct rentry *re = sift_xcalloc(1, sizeof(*re));
    snprintf(re->name, sizeof(re->name), "%s", name);
    re->r = r;
    re->from_file = from_file;
    re->refs = 1;
    return re;
}

static void
table_add(struct sift_rules *e, struct rentry *re)
{
    e->v = sift_xrealloc(e->v, (e->n + 1) * sizeof(*e->v));
    e->v[e->n++] = re;
}

/* One record of rules.ndjson: an API rule with a new name. */
static int
api_record(void *arg, json_t *o)
{
    struct sift_rules *e = arg;
    const char *name = json_string_value(json_object_get(o, "name"));
    if (!name || find(e, name) >= 0)
        return SIFT_ECORRUPT;
    struct sift_rule_env env;
    env_of(&e->d, &env);
    struct sift_rule *r = NULL;
    char err[400];
    struct rentry *re;
    if (sift_rule_from_json(o, &env, &r, err, sizeof(err)) == SIFT_OK) {
        re = entry_new(name, r, 0);
    } else {
        /* Kept as written: the user decides (PUT a fix or DELETE). */
        SIFT_ERROR("rules: stored %s; it is kept but not evaluated", err);
        re = entry_new(name, NULL, 0);
        re->raw = json_dumps(o, JSON_COMPACT);
        snprintf(re->last_error, sizeof(re->last_error), "%s", err);
    }
    table_add(e, re);
    return SIFT_OK;
}

static void
load_api_rules(struct sift_rules *e)
{
    int persist_off = 0; /* unused: rules refuse no change (as before) */
    if (sift__alerting_records_load("rules", e->d.cfg->data_dir, e->path,
                                    256 << 20, 0, api_record, e, &persist_off))
        save(e);
}

/* Reads and validates a rules file into rules[] (owned by the caller). */
static int
read_file(const struct sift_config *cfg, const char *path,
          struct sift_saved *saved, sift_rules_error_cb cb, void *arg,
          struct sift_rule ***out, size_t *n_out)
{
    char *data = NULL;
    size_t size = 0;
    char msg[600];
    *out = NULL;
    *n_out = 0;
    int rc = sift_file_read_all(path, 64 << 20, &data, &size);
    if (rc < 0) {
        snprintf(msg, sizeof(msg), "rules.file %s: cannot be read: %s", path,
                 sift_strerror(rc));
        cb(msg, arg);
        return rc;
    }
    json_error_t jerr;
    json_t *root = json_loadb(data, size, 0, &jerr);
    sift_free(data);
    if (!root) {
        snprintf(msg, sizeof(msg), "rules.file %s: line %d: %s", path,
                 jerr.line, jerr.text);
        cb(msg, arg);
        return SIFT_ECONFIG;
    }
    json_t *arr = json_is_array(root) ? root : json_object_get(root, "rules");
    if (!json_is_array(arr) ||
        (json_is_object(root) && json_object_size(root) != 1)) {
        snprintf(msg, sizeof(msg),
                 "rules.file %s: expected an array of rules or "
                 "{\"rules\":[...]}",
                 path);
        cb(msg, arg);
        json_decref(root);
        return SIFT_ECONFIG;
    }
    struct sift_rule_deps_env {
        int dummy;
    };
    struct sift_rule_env env = {cfg, saved ? saved_lookup : NULL, saved};
    struct sift_rule **rules =
        sift_xcalloc(json_array_size(arr) + 1, sizeof(*rules));
    size_t n = 0, i;
    json_t *o;
    rc = SIFT_OK;
    json_array_foreach(arr, i, o)
    {
        struct sift_rule *r = NULL;
        char err[400];
        if (sift_rule_from_json(o, &env, &r, err, sizeof(err)) < 0) {
            snprintf(msg, sizeof(msg), "rules.file %s: rule %zu: %s", path,
                     i + 1, err);
            cb(msg, arg);
            rc = SIFT_ECONFIG;
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (strcmp(rules[k]->name, r->name) == 0) {
                snprintf(msg, sizeof(msg),
                         "rules.file %s: rule \"%s\" is defined twice", path,
                         r->name);
                cb(msg, arg);
                rc = SIFT_ECONFIG;
            }
        }
        rules[n++] = r;
    }
    json_decref(root);
    if (rc < 0) {
        for (size_t k = 0; k < n; k++)
            sift_rule_free(rules[k]);
        sift_free(rules);
        return rc;
    }
    *out = rules;
    *n_out = n;
    return SIFT_OK;
}

int
sift_rules_check_file(const struct sift_config *cfg, const char *path,
                      struct sift_saved *saved, sift_rules_error_cb cb,
                      void *arg)
{
    struct sift_rule **rules;
    size_t n;
    int rc = read_file(cfg, path, saved, cb, arg, &rules, &n);
    if (rc < 0)
        return rc == SIFT_ECONFIG ? rc : SIFT_ECONFIG;
    for (size_t i = 0; i < n; i++)
        sift_rule_free(rules[i]);
    sift_free(rules);
    return SIFT_OK;
}

static void
log_error_cb(const char *msg, void *arg)
{
    (void)arg;
    SIFT_ERROR("%s", msg);
}

static int check_fields(struct sift_rules *e, const struct sift_rule *r,
                        char *err, size_t err_len);

/* File rules are checked against the store's fields as API rules are,
 * but a field missing now (not yet ingested, or gone with retention)
 * does not stop the start: it is logged and shown in the rule's status. */
static void
check_file_fields(struct sift_rules *e)
{
    for (size_t i = 0; i < e->n; i++) {
        struct rentry *re = e->v[i];
        char err[400];
        if (!re->from_file || !re->r ||
            check_fields(e, re->r, err, sizeof(err)) == SIFT_OK) {
            if (re->r)
                re->warning[0] = '\0';
            continue;
        }
        if (strcmp(re->warning, err) != 0)
            SIFT_WARN("rules: %s: %s (the rule is evaluated; it matches "
                      "nothing of that field until it is ingested)",
                      e->d.cfg->rules_file, err);
        snprintf(re->warning, sizeof(re->warning), "%s", err);
    }
}

/* Installs the rules of the file (replacing the previous file rules). */
static void
install_file_rules(struct sift_rules *e, struct sift_rule **rules, size_t n)
{
    int64_t now = sift_clock_now_ns();
    /* Old file rules not in the new file: resolve and drop. */
    size_t w = 0;
    for (size_t i = 0; i < e->n; i++) {
        struct rentry *re = e->v[i];
        int keep = 1;
        if (re->from_file) {
            keep = 0;
            for (size_t k = 0; k < n && !keep; k++)
                keep = rules[k] && strcmp(rules[k]->name, re->name) == 0;
        }
        if (keep) {
            e->v[w++] = re;
        } else {
            resolve_all(e, re, now);
            re->removed = 1;
            entry_unref(re);
        }
    }
    e->n = w;
    for (size_t k = 0; k < n; k++) {
        struct sift_rule *r = rules[k];
        long i = find(e, r->name);
        if (i >= 0 && !e->v[i]->from_file) {
            /* An API rule of that name: the file's wins, the API one is
             * kept (not evaluated) so nothing is lost. */
            struct rentry *api = e->v[i];
            SIFT_ERROR("rules: rule \"%s\" is in the rules file and was "
                       "created through the API; the file's is used",
                       r->name);
            resolve_all(e, api, now);
            api->removed = 1;
            e->v[i] = entry_new(r->name, r, 1);
            entry_unref(api);
            continue;
        }
        if (i >= 0) {
            struct rentry *re = e->v[i];
            struct sift_buf a = SIFT_BUF_INIT, b = SIFT_BUF_INIT;
            sift_rule_to_json(re->r, &a);
            sift_rule_to_json(r, &b);
            int same = a.len == b.len && memcmp(a.data, b.data, a.len) == 0 &&
                       strcmp(re->r->effective, r->effective) == 0;
            sift_buf_cleanup(&a);
            sift_buf_cleanup(&b);
            if (same) {
                sift_rule_free(r);
                continue;
            }
            /* Changed: a new entry (jobs in flight keep the old one). */
            replace_entry(e, (size_t)i, entry_new(r->name, r, 1), now);
            continue;
        }
        table_add(e, entry_new(r->name, r, 1));
    }
}

/* Rebuilds group states from the rule alerts the store kept. */
struct restore_ctx {
    struct sift_rules *e;
};

static int
restore_one(const struct sift_alert *al, void *arg)
{
    struct restore_ctx *c = arg;
    if (al->kind != SIFT_ALERT_RULE || !al->rule[0])
        return 0;
    long i = find(c->e, al->rule);
    if (i < 0 || !c->e->v[i]->r)
        return 0;
    struct rentry *re = c->e->v[i];
    const char *gb = re->r->group_by;
    char *group = NULL;
    if (gb) {
        json_error_t jerr;
        json_t *o = json_loads(al->labels, 0, &jerr);
        const char *v = json_string_value(json_object_get(o, gb));
        group = sift_xstrdup(v ? v : "");
        json_decref(o);
    }
    struct gstate *st = state_find(re, group ? group : "", 1);
    sift_free(group);
    if (al->id >= st->al.id) { /* the newest alert of the group wins */
        st->al = *al;
        st->firing = al->state == SIFT_ALERT_FIRING;
        st->pending_since = st->firing ? al->started_ns : 0;
    }
    return 0;
}

static void
restore_states(struct sift_rules *e)
{
    struct restore_ctx c = {e};
    sift_anomaly_service_alerts(e->d.alerts, INT64_MIN, INT64_MAX, restore_one,
                                &c);
}

/* Saved searches used by rules: a change must keep them valid, and the
 * rules then read the new query (a rule resolves its saved search when
 * it is built, so it is rebuilt here). */
struct guard_saved {
    const char *name, *query;
};

static int
guard_lookup(void *arg, const char *name, struct sift_buf *out)
{
    const struct guard_saved *g = arg;
    if (strcmp(name, g->name) != 0)
        return SIFT_ENOTFOUND;
    sift_buf_append(out, g->query, strlen(g->query));
    return SIFT_OK;
}

/* Rebuilds rule r with saved search name reading query (NULL on error). */
static struct sift_rule *
rebuild_with(struct sift_rules *e, const struct sift_rule *r, const char *name,
             const char *query, char *err, size_t err_len)
{
    struct sift_buf b = SIFT_BUF_INIT;
    sift_rule_to_json(r, &b);
    json_error_t jerr;
    json_t *o = json_loadb(b.data, b.len, 0, &jerr);
    sift_buf_cleanup(&b);
    struct guard_saved g = {name, query};
    struct sift_rule_env env = {e->d.cfg, guard_lookup, &g};
    struct sift_rule *nr = NULL;
    if (!o || sift_rule_from_json(o, &env, &nr, err, err_len) < 0)
        nr = NULL;
    json_decref(o);
    return nr;
}

static int
saved_guard(void *arg, const char *name, const char *new_query, char *err,
            size_t err_len)
{
    struct sift_rules *e = arg;
    struct sift_rule **nr = sift_xcalloc(e->n + 1, sizeof(*nr));
    int rc = SIFT_OK;
    for (size_t i = 0; i < e->n && rc == SIFT_OK; i++) {
        struct rentry *re = e->v[i];
        if (!re->r || !re->r->saved || strcmp(re->r->saved, name) != 0)
            continue;
        if (!new_query) {
            snprintf(err, err_len,
                     "saved search \"%s\" is used by rule \"%s\"; change the "
                     "rule first",
                     name, re->name);
            rc = SIFT_EINVAL;
            break;
        }
        char why[400];
        nr[i] = rebuild_with(e, re->r, name, new_query, why, sizeof(why));
        if (!nr[i]) {
            snprintf(err, err_len,
                     "saved search \"%s\" is used by rule \"%s\", which would "
                     "break: %s",
                     name, re->name, why);
            rc = SIFT_EINVAL;
        }
    }
    /* All valid: the rules read the new query from now on (their firing
     * groups carry over, as for any edit that keeps group_by). */
    for (size_t i = 0; i < e->n; i++) {
        if (!nr[i])
            continue;
        if (rc < 0) {
            sift_rule_free(nr[i]);
            continue;
        }
        struct rentry *ne = entry_new(e->v[i]->name, nr[i], e->v[i]->from_file);
        replace_entry(e, i, ne, sift_clock_now_ns());
        SIFT_INFO("rules: rule \"%s\" now reads the new query of saved "
                  "search \"%s\"",
                  ne->name, name);
    }
    sift_free(nr);
    return rc;
}

int
sift_rules_new(const struct sift_rules_deps *deps, struct sift_rules **out)
{
    struct sift_rules *e = sift_xcalloc(1, sizeof(*e));
    e->d = *deps;
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "%s/rules.ndjson", deps->cfg->data_dir);
    (void)sift_buf_cstr(&b); /* detach keeps the NUL */
    e->path = sift_buf_detach(&b, NULL);
    load_api_rules(e);
    if (deps->cfg->rules_file[0]) {
        struct sift_rule **rules;
        size_t n;
        if (read_file(deps->cfg, deps->cfg->rules_file, deps->saved,
                      log_error_cb, NULL, &rules, &n) < 0) {
            SIFT_ERROR("rules: %s has errors (above)", deps->cfg->rules_file);
            engine_free_now(e);
            return SIFT_ECONFIG;
        }
        install_file_rules(e, rules, n);
        sift_free(rules);
        check_file_fields(e);
    }
    restore_states(e);
    if (deps->saved)
        sift_saved_set_guard(deps->saved, saved_guard, e);
    e->tick = sift_loop_timer_new(deps->loop, TICK_MS, on_tick, e);
    if (e->n)
        SIFT_INFO("rules: %zu rule(s) loaded", e->n);
    *out = e;
    return SIFT_OK;
}

int
sift_rules_reload(struct sift_rules *e)
{
    const char *path = e->d.cfg->rules_file;
    struct sift_rule **rules = NULL;
    size_t n = 0;
    if (path[0] && read_file(e->d.cfg, path, e->d.saved, log_error_cb, NULL,
                             &rules, &n) < 0) {
        SIFT_ERROR("rules: %s has errors (above); the rules in force are "
                   "kept",
                   path);
        return SIFT_ECONFIG;
    }
    install_file_rules(e, rules, n);
    sift_free(rules);
    check_file_fields(e);
    SIFT_INFO("rules: reloaded; %zu rule(s)", e->n);
    return SIFT_OK;
}

static void
engine_free_now(struct sift_rules *e)
{
    for (size_t i = 0; i < e->n; i++)
        entry_unref(e->v[i]);
    for (size_t i = 0; i < e->n_queue; i++)
        entry_unref(e->queue[i]);
    sift_free(e->queue);
    sift_free(e->v);
    sift_free(e->path);
    sift_free(e);
}

void
sift_rules_free(struct sift_rules *e)
{
    if (!e)
        return;
    sift_loop_timer_free(e->tick);
    e->tick = NULL;
    if (e->d.saved)
        sift_saved_set_guard(e->d.saved, NULL, NULL);
    e->closing = 1;
    if (e->in_flight == 0)
        engine_free_now(e);
}

size_t
sift_rules_count(const struct sift_rules *e)
{
    return e->n;
}

/* ------------------------------------------------------------------ */
/* API                                                                  */
/* ------------------------------------------------------------------ */

/* Checks the fields the rule names against the store (API rules). */
struct field_ctx {
    struct sift_segment **segs;
    size_t n;
    const char *rule;
    char *err;
    size_t err_len;
};

static int
check_one_field(struct field_ctx *c, const char *field, unsigned need,
                const char *what)
{
    char near[128] = "";
    unsigned kinds =
        sift_agg_field_kinds(c->segs, c->n, field, near, sizeof(near));
    if (kinds == 0) {
        snprintf(c->err, c->err_len,
                 "rule \"%s\": %s: unknown field '%s'%s%s%s", c->rule, what,
                 field, near[0] ? " (closest: " : "", near, near[0] ? ")" : "");
        return SIFT_EINVAL;
    }
    if (need && !(kinds & need)) {
        snprintf(c->err, c->err_len,
                 "rule \"%s\": %s: field '%s' holds no %s values", c->rule,
                 what, field, need == SIFT_SEGF_NUMBER ? "numeric" : "keyword");
        return SIFT_EINVAL;
    }
    return SIFT_OK;
}

static int
query_field_cb(const char *field, size_t len, uint32_t pos, void *arg)
{
    (void)pos;
    struct field_ctx *c = arg;
    if (len > 0 && field[0] == '_')
        return 0; /* _template_id, _exists_, _id: built in */
    char *f = sift_xstrndup(field, len);
    int rc = check_one_field(c, f, 0, "query");
    sift_free(f);
    return rc < 0;
}

static int
check_fields(struct sift_rules *e, const struct sift_rule *r, char *err,
             size_t err_len)
{
    struct sift_snapshot *snap = sift_store_snapshot(e->d.store);
    size_t n = sift_snapshot_count(snap);
    struct sift_segment **segs = sift_xcalloc(n + 1, sizeof(*segs));
    uint64_t docs = 0;
    for (size_t i = 0; i < n; i++) {
        segs[i] = sift_snapshot_segment(snap, i);
        docs += sift_segment_doc_count(segs[i]);
    }
    int rc = SIFT_OK;
    struct field_ctx c = {segs, n, r->name, err, err_len};
    if (docs > 0) { /* an empty store knows no field yet */
        if (sift_query_each_field(r->q, query_field_cb, &c) ||
            (r->q_den && sift_query_each_field(r->q_den, query_field_cb, &c)))
            rc = SIFT_EINVAL;
        if (rc == SIFT_OK && r->group_by)
            rc =
                check_one_field(&c, r->group_by, SIFT_SEGF_KEYWORD, "group_by");
        if (rc == SIFT_OK && r->field)
            rc = check_one_field(&c, r->field, SIFT_SEGF_NUMBER, "condition");
    }
    sift_free(segs);
    sift_snapshot_release(snap);
    return rc;
}

#define FAIL(st, ...)                                                          \
    do {                                                                       \
        *status = (st);                                                        \
        snprintf(err, err_len, __VA_ARGS__);                                   \
        return (st) == 404 ? SIFT_ENOTFOUND : SIFT_EINVAL;                     \
    } while (0)

int
sift_rules_put(struct sift_rules *e, const json_t *o, const char *name,
               int create_only, int dry_run, int *created, int *status,
               char *err, size_t err_len)
{
    *created = 0;
    if (!json_is_object(o))
        FAIL(400, "expected a JSON object (a rule)");
    const char *bn = json_string_value(json_object_get(o, "name"));
    json_t *copy = json_deep_copy(o);
    if (name && !bn)
        json_object_set_new(copy, "name", json_string(name));
    else if (name && strcmp(bn, name) != 0) {
        json_decref(copy);
        FAIL(400, "the body names rule \"%.63s\", the path \"%.63s\"", bn,
             name);
    }
    struct sift_rule_env env;
    env_of(&e->d, &env);
    struct sift_rule *r = NULL;
    int rc = sift_rule_from_json(copy, &env, &r, err, err_len);
    json_decref(copy);
    if (rc < 0) {
        *status = 400;
        return rc;
    }
    rc = check_fields(e, r, err, err_len);
    if (rc < 0) {
        sift_rule_free(r);
        *status = 400;
        return rc;
    }
    long i = find(e, r->name);
    if (i >= 0 && e->v[i]->from_file) {
        snprintf(err, err_len,
                 "rule \"%s\" is defined in the rules file (%s); change it "
                 "there",
                 r->name, e->d.cfg->rules_file);
        sift_rule_free(r);
        *status = 409;
        return SIFT_EINVAL;
    }
    if (i >= 0 && create_only) {
        snprintf(err, err_len,
                 "rule \"%s\" exists (PUT /api/v1/rules/%s replaces it)",
                 r->name, r->name);
        sift_rule_free(r);
        *status = 409;
        return SIFT_EINVAL;
    }
    if (i < 0 && e->n >= (size_t)e->d.cfg->rules_max) {
        snprintf(err, err_len, "at most %" PRId64 " rules (rules.max_rules)",
                 e->d.cfg->rules_max);
        sift_rule_free(r);
        *status = 507;
        return SIFT_ELIMIT;
    }
    if (dry_run) {
        sift_rule_free(r);
        return SIFT_OK;
    }
    struct rentry *ne = entry_new(r->name, r, 0);
    int64_t now = sift_clock_now_ns();
    if (i >= 0) {
        replace_entry(e, (size_t)i, ne, now);
    } else {
        table_add(e, ne);
        *created = 1;
    }
    save(e);
    SIFT_INFO("rules: rule \"%s\" %s", ne->name,
              *created ? "created" : "replaced");
    return SIFT_OK;
}

int
sift_rules_delete(struct sift_rules *e, const char *name, int *status,
                  char *err, size_t err_len)
{
    long i = find(e, name);
    if (i < 0)
        FAIL(404, "no rule \"%.63s\"", name);
    struct rentry *re = e->v[i];
    if (re->from_file)
        FAIL(409,
             "rule \"%s\" is defined in the rules file (%s); remove it "
             "there",
             name, e->d.cfg->rules_file);
    resolve_all(e, re, sift_clock_now_ns());
    re->removed = 1;
    memmove(&e->v[i], &e->v[i + 1], (e->n - (size_t)i - 1) * sizeof(*e->v));
    e->n--;
    entry_unref(re);
    save(e);
    SIFT_INFO("rules: rule \"%s\" deleted", name);
    return SIFT_OK;
}

/* invalid, error, slow (the last evaluation was, or the one in flight
 * missed ticks), pending or ok. */
static const char *
health_of(const struct rentry *re)
{
    int slow = re->slow || ((re->running || re->queued) &&
                            re->missed > re->missed_at_start);
    return !re->r              ? "invalid"
           : re->last_error[0] ? "error"
           : slow              ? "slow"
           : re->evals == 0    ? "pending"
                               : "ok";
}

static void
status_of(const struct rentry *re, struct sift_rule_status *out)
{
    memset(out, 0, sizeof(*out));
    out->name = re->name;
    out->rule = re->r;
    out->raw = re->raw;
    out->from_file = re->from_file;
    out->health = health_of(re);
    out->evaluations = re->evals;
    out->failures = re->failures;
    out->missed = re->missed;
    out->groups_dropped = re->groups_dropped;
    out->last_eval_ns = re->last_eval_ns;
    out->last_duration_ns = re->last_duration_ns;
    for (size_t i = 0; i < re->n_g; i++)
        out->firing += re->g[i].firing ? 1u : 0u;
    out->has_value = re->has_value;
    out->last_value = re->last_value;
    out->last_error = re->last_error;
    out->warning = re->warning;
}

void
sift_rules_status_at(const struct sift_rules *e, size_t i,
                     struct sift_rule_status *out)
{
    assert(i < e->n);
    status_of(e->v[i], out);
}

int
sift_rules_status_get(const struct sift_rules *e, const char *name,
                      struct sift_rule_status *out)
{
    long i = find(e, name);
    if (i < 0)
        return SIFT_ENOTFOUND;
    status_of(e->v[i], out);
    return SIFT_OK;
}

void
sift_rules_metrics_collect(struct sift_buf *out, void *arg)
{
    struct sift_rules *e = arg;
    static const struct {
        const char *name, *help;
        enum sift_metric_type type;
    } fams[] = {
        {"sift_rule_evaluations_total", "Evaluations of the rule.",
         SIFT_METRIC_COUNTER},
        {"sift_rule_evaluation_failures_total",
         "Evaluations that failed (see /api/v1/rules).", SIFT_METRIC_COUNTER},
        {"sift_rule_evaluations_missed_total",
         "Ticks skipped because the previous evaluation still ran (the rule "
         "is slower than its interval).",
         SIFT_METRIC_COUNTER},
        {"sift_rule_evaluation_seconds_total",
         "Worker time spent evaluating the rule.", SIFT_METRIC_COUNTER},
        {"sift_rule_last_evaluation_seconds",
         "Duration of the rule's last evaluation.", SIFT_METRIC_GAUGE},
        {"sift_rule_firing", "Groups of the rule firing now.",
         SIFT_METRIC_GAUGE},
        {"sift_rule_health",
         "1 for the rule's health now (label health: ok, pending, slow, "
         "error, invalid).",
         SIFT_METRIC_GAUGE},
    };
    for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
        sift_metrics_family(out, fams[f].name, fams[f].type, fams[f].help);
        for (size_t i = 0; i < e->n; i++) {
            const struct rentry *re = e->v[i];
            const char *l[] = {"rule", re->name, f == 6 ? "health" : NULL,
                               health_of(re), NULL};
            double v = 0;
            if (f == 0)
                v = (double)re->evals;
            else if (f == 1)
                v = (double)re->failures;
            else if (f == 2)
                v = (double)re->missed;
            else if (f == 3)
                v = (double)re->total_duration_ns / 1e9;
            else if (f == 4)
                v = (double)re->last_duration_ns / 1e9;
            else if (f == 6)
                v = 1;
            else
                for (size_t k = 0; k < re->n_g; k++)
                    v += re->g[k].firing;
            sift_metrics_sample(out, fams[f].name, l, v);
        }
    }
}
