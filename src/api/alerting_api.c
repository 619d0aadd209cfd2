/*
 * alerting_api.c - HTTP endpoints of rules, silences and saved searches
 * (include/sift/alerting_api.h lists them; docs/alerting.md documents
 * them).
 *
 * Design.  Thin handlers on the loop: parse the JSON body, hand it to the
 * engine object (rules.c, silences.c, saved.c), render its answer.  The
 * engines hand out structures (a rule's status, a silence, a saved
 * search) and the replies are written here; a rule's definition is its
 * own serialization (sift_rule_to_json(), the rules file's format), and
 * the files' records, written by the engines, have the same members as
 * the replies (a silence's reply adds its state).  The
 * engines name every problem; a handler only maps it to a status.  Bodies
 * hold arrays and objects (matchers, labels), so each engine checks the
 * member names itself; the endpoint tables in params.c list the members
 * for the docs.
 *
 * Thread: loop thread only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sift/alerting_api.h"
#include "sift/alloc.h"
#include "sift/anomaly_service.h"
#include "sift/auth.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/rule.h"
#include "sift/rules.h"
#include "sift/saved.h"
#include "sift/silences.h"
#include "sift/time.h"

#define RULES "/api/v1/rules"
#define SILENCES "/api/v1/silences"
#define SAVED "/api/v1/saved"

struct binding;

struct sift_alerting_api {
    struct sift_alerting_deps d;
    struct binding *b; /* one per collection (cruds[]) */
};

/* The JSON body as an object; replies 400 and returns NULL otherwise. */
static json_t *
body_object(struct sift_http_req *req)
{
    size_t len;
    const char *body = sift_http_req_body(req, &len);
    json_error_t jerr;
    json_t *o = len ? json_loadb(body, len, 0, &jerr) : NULL;
    if (!json_is_object(o)) {
        sift_http_reply_error(
            req, 400, "bad_request", "the body must be a JSON object%s%s",
            o == NULL && len ? ": " : "", o == NULL && len ? jerr.text : "");
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The name after prefix + "/" in the path ("" = none), checked. */
static const char *
path_name(struct sift_http_req *req, const char *prefix)
{
    const char *p = sift_http_req_path(req) + strlen(prefix);
    if (*p == '/')
        p++;
    return p;
}

static const char *
type_of(int status)
{
    return status == 404   ? "not_found"
           : status == 409 ? "conflict"
           : status == 403 ? "forbidden"
           : status == 507 ? "too_many"
           : status == 503 ? "unavailable"
                           : "invalid";
}

/*
 * The three collections share one shape: GET PREFIX lists, GET PREFIX/NAME
 * reads one, POST PREFIX creates, PUT PREFIX/NAME creates or replaces
 * (not for silences: a POST with "id" replaces), DELETE PREFIX/NAME
 * deletes.  One handler pair runs them from a table of what differs.
 */
struct crud;

struct binding {
    struct sift_alerting_api *api;
    const struct crud *k;
};

/* A write's outcome: the reply body (SIFT_OK) or the error. */
struct put_out {
    struct sift_buf reply;
    int status;       /* 200 or 201; the error's status */
    const char *type; /* the error's type; NULL: type_of(status) */
    char err[600];
};

struct crud {
    const char *prefix, *sub, *noun; /* sub: prefix "/" (routes keep it) */
    const char *deleted;             /* the DELETE reply's member */
    const char *write_hint; /* the 405 text of a misplaced POST or PUT */
    int has_put;
    enum sift_role write_role;
    /* Appends one (SIFT_OK) or returns SIFT_ENOTFOUND. */
    int (*one)(struct sift_alerting_api *api, const char *name,
               struct sift_buf *out);
    void (*all)(struct sift_alerting_api *api, struct sift_http_req *req,
                struct sift_buf *out);
    /* Deletes; on an error sets *status and err. */
    int (*del)(struct sift_alerting_api *api, struct sift_http_req *req,
               const char *name, int *status, char *err, size_t err_len);
    /* Creates or replaces from o (name NULL: POST, the body names it). */
    int (*put)(struct sift_alerting_api *api, struct sift_http_req *req,
               const json_t *o, const char *name, struct put_out *out);
    void (*changed)(struct sift_alerting_api *api); /* after a write */
};

static void
crud_get(struct sift_http_req *req, void *arg)
{
    const struct binding *bd = arg;
    const char *name = path_name(req, bd->k->prefix);
    struct sift_buf b = SIFT_BUF_INIT;
    if (*name) {
        if (bd->k->one(bd->api, name, &b) < 0) {
            sift_buf_cleanup(&b);
            sift_http_reply_error(req, 404, "not_found", "no %s \"%.63s\"",
                                  bd->k->noun, name);
            return;
        }
    } else {
        bd->k->all(bd->api, req, &b);
    }
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

static void
crud_write(struct sift_http_req *req, void *arg)
{
    const struct binding *bd = arg;
    const struct crud *k = bd->k;
    const char *method = sift_http_req_method(req);
    const char *name = path_name(req, k->prefix);
    struct put_out o;
    memset(&o, 0, sizeof(o));
    o.status = 400;
    if (strcmp(method, "DELETE") == 0) {
        if (!*name) {
            sift_http_reply_error(req, 405, "method_not_allowed",
                                  "DELETE names a %s: %s/NAME", k->noun,
                                  k->prefix);
            return;
        }
        if (k->del(bd->api, req, name, &o.status, o.err, sizeof(o.err)) < 0) {
            sift_http_reply_error(req, o.status, type_of(o.status), "%s",
                                  o.err);
            return;
        }
        if (k->changed)
            k->changed(bd->api);
        sift_buf_appendf(&o.reply, "{\"%s\":", k->deleted);
        sift_buf_put_json_str(&o.reply, name, strlen(name));
        sift_buf_putc(&o.reply, '}');
        sift_http_reply_json(req, 200, &o.reply);
        sift_buf_cleanup(&o.reply);
        return;
    }
    int is_post = strcmp(method, "POST") == 0;
    if (is_post == (*name != '\0') || (!is_post && !k->has_put)) {
        sift_http_reply_error(req, 405, "method_not_allowed", "%s",
                              k->write_hint);
        return;
    }
    json_t *body = body_object(req);
    if (!body)
        return;
    int rc = k->put(bd->api, req, body, is_post ? NULL : name, &o);
    json_decref(body);
    if (rc < 0) {
        sift_buf_cleanup(&o.reply);
        sift_http_reply_error(req, o.status,
                              o.type ? o.type : type_of(o.status), "%s", o.err);
        return;
    }
    if (k->changed)
        k->changed(bd->api);
    sift_http_reply_json(req, o.status, &o.reply);
    sift_buf_cleanup(&o.reply);
}

/* ---- rules ---- */

#define NS_PER_MS INT64_C(1000000)

/*
 * A rule's reply object: its definition as the rules file and
 * rules.ndjson keep it (sift_rule_to_json(), which round-trips through
 * sift_rule_from_json(); for a stored rule that no longer validates, the
 * JSON it was stored as), plus "source" and "status".
 */
static void
rule_json(const struct sift_rule_status *st, struct sift_buf *out)
{
    size_t start = out->len;
    if (st->rule)
        sift_rule_to_json(st->rule, out);
    else
        sift_buf_append(out, st->raw, strlen(st->raw));
    if (out->len == start || out->data[out->len - 1] != '}')
        return;
    out->len--;
    sift_buf_appendf(out, ",\"source\":\"%s\",\"status\":{",
                     st->from_file ? "file" : "api");
    sift_buf_appendf(out,
                     "\"health\":\"%s\",\"evaluations\":%" PRIu64
                     ",\"failures\":%" PRIu64 ",\"missed\":%" PRIu64
                     ",\"last_evaluation_ms\":%" PRId64
                     ",\"last_duration_ms\":",
                     st->health, st->evaluations, st->failures, st->missed,
                     (int64_t)(st->last_eval_ns / NS_PER_MS));
    sift_buf_put_json_double(out, (double)st->last_duration_ns / 1e6);
    sift_buf_appendf(
        out, ",\"firing\":%zu,\"groups_dropped\":%" PRIu64 ",\"last_value\":",
        st->firing, st->groups_dropped);
    if (st->has_value)
        sift_buf_put_json_double(out, st->last_value);
    else
        SIFT_BUF_LIT(out, "null");
    SIFT_BUF_LIT(out, ",\"last_error\":");
    sift_buf_put_json_str(out, st->last_error, strlen(st->last_error));
    SIFT_BUF_LIT(out, ",\"warning\":");
    sift_buf_put_json_str(out, st->warning, strlen(st->warning));
    SIFT_BUF_LIT(out, "}}");
}

static int
rules_one(struct sift_alerting_api *api, const char *name, struct sift_buf *out)
{
    struct sift_rule_status st;
    if (sift_rules_status_get(api->d.rules, name, &st) < 0)
        return SIFT_ENOTFOUND;
    rule_json(&st, out);
    return SIFT_OK;
}

/* {"rules":[...],"total":N}: definitions, source and status. */
static void
rules_all(struct sift_alerting_api *api, struct sift_http_req *req,
          struct sift_buf *out)
{
    (void)req;
    size_t n = sift_rules_count(api->d.rules);
    SIFT_BUF_LIT(out, "{\"rules\":[");
    for (size_t i = 0; i < n; i++) {
        struct sift_rule_status st;
        if (i)
            sift_buf_putc(out, ',');
        sift_rules_status_at(api->d.rules, i, &st);
        rule_json(&st, out);
    }
    sift_buf_appendf(out, "],\"total\":%zu}", n);
}

static int
rules_del(struct sift_alerting_api *api, struct sift_http_req *req,
          const char *name, int *status, char *err, size_t err_len)
{
    (void)req;
    return sift_rules_delete(api->d.rules, name, status, err, err_len);
}

static int
rules_put(struct sift_alerting_api *api, struct sift_http_req *req,
          const json_t *o, const char *name, struct put_out *out)
{
    const char *dr = sift_http_req_param(req, "dry_run");
    int dry = dr && (strcmp(dr, "true") == 0 || *dr == '\0');
    int created = 0;
    int rc = sift_rules_put(api->d.rules, o, name, name == NULL, dry, &created,
                            &out->status, out->err, sizeof(out->err));
    if (rc < 0) {
        out->type = out->status == 400 ? "invalid_rule" : NULL;
        return rc;
    }
    out->status = created ? 201 : 200;
    if (dry) {
        SIFT_BUF_LIT(&out->reply, "{\"valid\":true}");
        return SIFT_OK;
    }
    const char *bn = json_string_value(json_object_get(o, "name"));
    SIFT_BUF_LIT(&out->reply, "{\"rule\":");
    if (rules_one(api, name ? name : bn ? bn : "", &out->reply) < 0)
        SIFT_BUF_LIT(&out->reply, "null");
    sift_buf_appendf(&out->reply, ",\"created\":%s}",
                     created ? "true" : "false");
    return SIFT_OK;
}

/* ---- silences ---- */

/* A silence's reply object: Alertmanager's shape, with its state now. */
static void
silence_json(const struct sift_silence *x, int64_t now, struct sift_buf *b)
{
    sift_silence_to_json(x, b); /* the record, then its state */
    b->len--;                   /* its closing brace */
    sift_buf_appendf(b, ",\"status\":{\"state\":\"%s\"}}",
                     sift_silence_state_name(sift_silence_state(x, now)));
}

static int
silences_one(struct sift_alerting_api *api, const char *id,
             struct sift_buf *out)
{
    const struct sift_silence *x = sift_silences_get(api->d.silences, id);
    if (!x)
        return SIFT_ENOTFOUND;
    silence_json(x, sift_clock_now_ns(), out);
    return SIFT_OK;
}

/* {"silences":[...]}, newest first; ?state= keeps one state. */
static void
silences_all(struct sift_alerting_api *api, struct sift_http_req *req,
             struct sift_buf *out)
{
    int64_t now = sift_clock_now_ns();
    const char *state = sift_http_req_param(req, "state");
    SIFT_BUF_LIT(out, "{\"silences\":[");
    int first = 1;
    for (size_t k = sift_silences_count(api->d.silences); k-- > 0;) {
        const struct sift_silence *x = sift_silences_at(api->d.silences, k);
        const char *st = sift_silence_state_name(sift_silence_state(x, now));
        if (state && strcmp(state, st) != 0)
            continue;
        if (!first)
            sift_buf_putc(out, ',');
        first = 0;
        silence_json(x, now, out);
    }
    SIFT_BUF_LIT(out, "]}");
}

static int
silences_del(struct sift_alerting_api *api, struct sift_http_req *req,
             const char *id, int *status, char *err, size_t err_len)
{
    (void)req;
    if (sift_silences_expire(api->d.silences, id, sift_clock_now_ns()) < 0) {
        *status = 404;
        snprintf(err, err_len, "no silence \"%.40s\"", id);
        return SIFT_ENOTFOUND;
    }
    return SIFT_OK;
}

static int
silences_put(struct sift_alerting_api *api, struct sift_http_req *req,
             const json_t *o, const char *name, struct put_out *out)
{
    (void)name; /* POST only */
    char err[400], id[33];
    int64_t now = sift_clock_now_ns();
    int rc = sift_silences_put(api->d.silences, o, sift_http_req_principal(req),
                               now, id, err, sizeof(err));
    if (rc < 0) {
        out->status = rc == SIFT_ENOTFOUND ? 404 : 400;
        out->type = rc == SIFT_ENOTFOUND ? "not_found" : "invalid_silence";
        snprintf(out->err, sizeof(out->err), "silence: %s", err);
        return rc;
    }
    out->status = 200;
    sift_buf_appendf(&out->reply, "{\"silenceID\":\"%s\",\"silence\":", id);
    const struct sift_silence *x = sift_silences_get(api->d.silences, id);
    if (x)
        silence_json(x, now, &out->reply);
    sift_buf_putc(&out->reply, '}');
    return SIFT_OK;
}

/* ---- saved searches ---- */

static int
saved_one(struct sift_alerting_api *api, const char *name, struct sift_buf *out)
{
    const struct sift_saved_search *x = sift_saved_get(api->d.saved, name);
    if (!x)
        return SIFT_ENOTFOUND;
    sift_saved_to_json(x, out);
    return SIFT_OK;
}

/* {"saved":[...],"total":N}, sorted by name. */
static void
saved_all(struct sift_alerting_api *api, struct sift_http_req *req,
          struct sift_buf *out)
{
    (void)req;
    size_t n = sift_saved_count(api->d.saved);
    SIFT_BUF_LIT(out, "{\"saved\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sift_buf_putc(out, ',');
        sift_saved_to_json(sift_saved_at(api->d.saved, i), out);
    }
    sift_buf_appendf(out, "],\"total\":%zu}", n);
}

static int
saved_del(struct sift_alerting_api *api, struct sift_http_req *req,
          const char *name, int *status, char *err, size_t err_len)
{
    return sift_saved_delete(api->d.saved, name, sift_http_req_role(req),
                             status, err, err_len);
}

static int
saved_put(struct sift_alerting_api *api, struct sift_http_req *req,
          const json_t *o, const char *name, struct put_out *out)
{
    int created = 0;
    int rc =
        sift_saved_put(api->d.saved, o, name, name == NULL,
                       sift_http_req_role(req), sift_http_req_principal(req),
                       &created, &out->status, out->err, sizeof(out->err));
    if (rc < 0)
        return rc;
    const char *bn = json_string_value(json_object_get(o, "name"));
    out->status = created ? 201 : 200;
    return saved_one(api,
                     name ? name
                     : bn ? bn
                          : "",
                     &out->reply) < 0
               ? (SIFT_BUF_LIT(&out->reply, "null"), SIFT_OK)
               : SIFT_OK;
}

static const struct crud cruds[] = {
    {RULES, RULES "/", "rule", "deleted",
     "POST creates at /api/v1/rules; PUT /api/v1/rules/NAME creates or "
     "replaces",
     1, SIFT_ROLE_ADMIN, rules_one, rules_all, rules_del, rules_put, NULL},
    {SILENCES, SILENCES "/", "silence", "expired",
     "POST /api/v1/silences creates (or, with \"id\", replaces) a silence", 0,
     SIFT_ROLE_ADMIN, silences_one, silences_all, silences_del, silences_put,
     sift_alerting_api_silences_changed},
    {SAVED, SAVED "/", "saved search", "deleted",
     "POST /api/v1/saved creates; PUT /api/v1/saved/NAME creates or "
     "replaces",
     1, SIFT_ROLE_WRITER, saved_one, saved_all, saved_del, saved_put, NULL},
};
#define N_CRUDS (sizeof(cruds) / sizeof(cruds[0]))

/* ---- silences ending: alerts kept silent are sent now ---- */

static int
resend_one(const struct sift_alert *al, void *arg)
{
    struct sift_alerting_api *api = arg;
    if (al->state == SIFT_ALERT_FIRING && al->silenced &&
        !sift_silences_match(api->d.silences, al, sift_clock_now_ns()))
        (void)sift_anomaly_service_resend(api->d.alerts, al->id);
    return 0;
}

void
sift_alerting_api_silences_changed(struct sift_alerting_api *api)
{
    sift_anomaly_service_alerts(api->d.alerts, INT64_MIN, INT64_MAX, resend_one,
                                api);
}

/* ------------------------------------------------------------------ */

int
sift_alerting_api_new(struct sift_http *http,
                      const struct sift_alerting_deps *deps,
                      struct sift_alerting_api **out)
{
    struct sift_alerting_api *api = sift_xcalloc(1, sizeof(*api));
    api->d = *deps;
    static const char *const w[] = {"POST", "PUT", "DELETE"};
    api->b = sift_xcalloc(N_CRUDS, sizeof(*api->b));
    for (size_t c = 0; c < N_CRUDS; c++) {
        const struct crud *k = &cruds[c];
        struct binding *bd = &api->b[c];
        bd->api = api;
        bd->k = k;
        sift_http_route(http, "GET", k->prefix, 0, SIFT_ROLE_READER, crud_get,
                        bd);
        sift_http_route(http, "GET", k->sub, SIFT_ROUTE_PREFIX,
                        SIFT_ROLE_READER, crud_get, bd);
        for (int i = 0; i < 3; i++) {
            if (strcmp(w[i], "PUT") != 0)
                sift_http_route(http, w[i], k->prefix, 0, k->write_role,
                                crud_write, bd);
            sift_http_route(http, w[i], k->sub, SIFT_ROUTE_PREFIX,
                            k->write_role, crud_write, bd);
        }
    }
    *out = api;
    return SIFT_OK;
}

void
sift_alerting_api_free(struct sift_alerting_api *api)
{
    if (api)
        sift_free(api->b);
    sift_free(api);
}
