/*
 * alerting_api.c - HTTP endpoints of rules, silences and saved searches
 * (include/sift/alerting_api.h lists them; docs/alerting.md documents
 * them).
 *
 * Design.  Thin handlers on the loop: parse the JSON body, hand it to the
 * engine object (rules.c, silences.c, saved.c), render its answer.  The
 * engines name every problem; a handler only maps it to a status.  Bodies
 * hold arrays and objects (matchers, labels), so each engine checks the
 * member names itself; the endpoint tables in params.c list the members
 * for the docs.
 *
 * Thread: loop thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sift/alerting_api.h"
#include "sift/alloc.h"
#include "sift/anomaly_service.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/log.h"
#include "sift/rules.h"
#include "sift/saved.h"
#include "sift/silences.h"

#define RULES "/api/v1/rules"
#define SILENCES "/api/v1/silences"
#define SAVED "/api/v1/saved"

struct sift_alerting_api {
    struct sift_alerting_deps d;
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

/* ---- rules ---- */

static void
rules_get(struct sift_http_req *req, void *arg)
{
    struct sift_alerting_api *api = arg;
    const char *name = path_name(req, RULES);
    struct sift_buf b = SIFT_BUF_INIT;
    if (*name) {
        if (sift_rules_one_json(api->d.rules, name, &b) < 0) {
            sift_buf_cleanup(&b);
            sift_http_reply_error(req, 404, "not_found", "no rule \"%.63s\"",
                                  name);
            return;
        }
    } else {
        sift_rules_json(api->d.rules, &b);
    }
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

static void
rules_write(struct sift_http_req *req, void *arg)
{
    struct sift_alerting_api *api = arg;
    const char *method = sift_http_req_method(req);
    const char *name = path_name(req, RULES);
    char err[600];
    int status = 400, created = 0, rc;
    if (strcmp(method, "DELETE") == 0) {
        if (!*name) {
            sift_http_reply_error(req, 405, "method_not_allowed",
                                  "DELETE names a rule: /api/v1/rules/NAME");
            return;
        }
        rc = sift_rules_delete(api->d.rules, name, &status, err, sizeof(err));
        if (rc < 0) {
            sift_http_reply_error(req, status, type_of(status), "%s", err);
            return;
        }
        struct sift_buf b = SIFT_BUF_INIT;
        sift_buf_appendf(&b, "{\"deleted\":\"%s\"}", name);
        sift_http_reply_json(req, 200, &b);
        sift_buf_cleanup(&b);
        return;
    }
    int is_post = strcmp(method, "POST") == 0;
    if (is_post && *name) {
        sift_http_reply_error(req, 405, "method_not_allowed",
                              "POST creates at /api/v1/rules; PUT "
                              "/api/v1/rules/NAME replaces");
        return;
    }
    if (!is_post && !*name) {
        sift_http_reply_error(req, 405, "method_not_allowed",
                              "PUT names a rule: /api/v1/rules/NAME");
        return;
    }
    const char *dr = sift_http_req_param(req, "dry_run");
    int dry = dr && (strcmp(dr, "true") == 0 || *dr == '\0');
    json_t *o = body_object(req);
    if (!o)
        return;
    rc = sift_rules_put(api->d.rules, o, is_post ? NULL : name, is_post, dry,
                        &created, &status, err, sizeof(err));
    json_decref(o);
    if (rc < 0) {
        sift_http_reply_error(req, status,
                              status == 400 ? "invalid_rule" : type_of(status),
                              "%s", err);
        return;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    if (dry) {
        SIFT_BUF_LIT(&b, "{\"valid\":true}");
    } else {
        const char *n = is_post ? NULL : name; /* else the body's */
        SIFT_BUF_LIT(&b, "{\"rule\":");
        size_t len;
        const char *body = sift_http_req_body(req, &len);
        json_error_t jerr;
        json_t *again = json_loadb(body, len, 0, &jerr);
        const char *bn = json_string_value(json_object_get(again, "name"));
        if (sift_rules_one_json(api->d.rules, n ? n : bn ? bn : "", &b) < 0)
            SIFT_BUF_LIT(&b, "null");
        json_decref(again);
        sift_buf_appendf(&b, ",\"created\":%s}", created ? "true" : "false");
    }
    sift_http_reply_json(req, created ? 201 : 200, &b);
    sift_buf_cleanup(&b);
}

/* ---- silences ---- */

static void
silences_get(struct sift_http_req *req, void *arg)
{
    struct sift_alerting_api *api = arg;
    const char *id = path_name(req, SILENCES);
    struct sift_buf b = SIFT_BUF_INIT;
    int64_t now = sift_clock_now_ns();
    if (*id) {
        if (sift_silences_get_json(api->d.silences, id, now, &b) < 0) {
            sift_buf_cleanup(&b);
            sift_http_reply_error(req, 404, "not_found", "no silence \"%.40s\"",
                                  id);
            return;
        }
    } else {
        sift_silences_json(api->d.silences, now,
                           sift_http_req_param(req, "state"), &b);
    }
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

static void
silences_write(struct sift_http_req *req, void *arg)
{
    struct sift_alerting_api *api = arg;
    const char *method = sift_http_req_method(req);
    const char *id = path_name(req, SILENCES);
    int64_t now = sift_clock_now_ns();
    if (strcmp(method, "DELETE") == 0) {
        if (!*id || sift_silences_expire(api->d.silences, id, now) < 0) {
            sift_http_reply_error(req, 404, "not_found", "no silence \"%.40s\"",
                                  id);
            return;
        }
        sift_alerting_api_silences_changed(api);
        struct sift_buf b = SIFT_BUF_INIT;
        sift_buf_appendf(&b, "{\"expired\":\"%s\"}", id);
        sift_http_reply_json(req, 200, &b);
        sift_buf_cleanup(&b);
        return;
    }
    if (*id) {
        sift_http_reply_error(req, 405, "method_not_allowed",
                              "POST /api/v1/silences creates (or, with "
                              "\"id\", replaces) a silence");
        return;
    }
    json_t *o = body_object(req);
    if (!o)
        return;
    char err[400], out_id[33];
    int rc = sift_silences_put(api->d.silences, o, sift_http_req_principal(req),
                               now, out_id, err, sizeof(err));
    json_decref(o);
    if (rc < 0) {
        sift_http_reply_error(req, rc == SIFT_ENOTFOUND ? 404 : 400,
                              rc == SIFT_ENOTFOUND ? "not_found"
                                                   : "invalid_silence",
                              "silence: %s", err);
        return;
    }
    sift_alerting_api_silences_changed(api);
    struct sift_buf b = SIFT_BUF_INIT;
    sift_buf_appendf(&b, "{\"silenceID\":\"%s\",\"silence\":", out_id);
    (void)sift_silences_get_json(api->d.silences, out_id, now, &b);
    sift_buf_putc(&b, '}');
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

/* ---- saved searches ---- */

static void
saved_get(struct sift_http_req *req, void *arg)
{
    struct sift_alerting_api *api = arg;
    const char *name = path_name(req, SAVED);
    struct sift_buf b = SIFT_BUF_INIT;
    if (*name) {
        const struct sift_saved_search *x = sift_saved_get(api->d.saved, name);
        if (!x) {
            sift_buf_cleanup(&b);
            sift_http_reply_error(req, 404, "not_found",
                                  "no saved search \"%.63s\"", name);
            return;
        }
        sift_saved_one_json(x, &b);
    } else {
        sift_saved_json(api->d.saved, &b);
    }
    sift_http_reply_json(req, 200, &b);
    sift_buf_cleanup(&b);
}

static void
saved_write(struct sift_http_req *req, void *arg)
{
    struct sift_alerting_api *api = arg;
    const char *method = sift_http_req_method(req);
    const char *name = path_name(req, SAVED);
    char err[400];
    int status = 400, created = 0, rc;
    enum sift_role role = sift_http_req_role(req);
    if (strcmp(method, "DELETE") == 0) {
        rc = *name ? sift_saved_delete(api->d.saved, name, role, &status, err,
                                       sizeof(err))
                   : (status = 405,
                      snprintf(err, sizeof(err), "DELETE names a saved search"),
                      SIFT_EINVAL);
        if (rc < 0) {
            sift_http_reply_error(req, status, type_of(status), "%s", err);
            return;
        }
        struct sift_buf b = SIFT_BUF_INIT;
        sift_buf_appendf(&b, "{\"deleted\":\"%s\"}", name);
        sift_http_reply_json(req, 200, &b);
        sift_buf_cleanup(&b);
        return;
    }
    int is_post = strcmp(method, "POST") == 0;
    if (is_post == (*name != '\0')) {
        sift_http_reply_error(req, 405, "method_not_allowed",
                              "POST /api/v1/saved creates; PUT "
                              "/api/v1/saved/NAME creates or replaces");
        return;
    }
    json_t *o = body_object(req);
    if (!o)
        return;
    rc = sift_saved_put(api->d.saved, o, is_post ? NULL : name, is_post, role,
                        sift_http_req_principal(req), &created, &status, err,
                        sizeof(err));
    const char *bn = json_string_value(json_object_get(o, "name"));
    char *n = sift_xstrdup(is_post ? (bn ? bn : "") : name);
    json_decref(o);
    if (rc < 0) {
        sift_free(n);
        sift_http_reply_error(req, status, type_of(status), "%s", err);
        return;
    }
    struct sift_buf b = SIFT_BUF_INIT;
    sift_saved_one_json(sift_saved_get(api->d.saved, n), &b);
    sift_free(n);
    sift_http_reply_json(req, created ? 201 : 200, &b);
    sift_buf_cleanup(&b);
}

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
    sift_http_route(http, "GET", RULES, 0, SIFT_ROLE_READER, rules_get, api);
    sift_http_route(http, "GET", RULES "/", SIFT_ROUTE_PREFIX, SIFT_ROLE_READER,
                    rules_get, api);
    sift_http_route(http, "GET", SILENCES, 0, SIFT_ROLE_READER, silences_get,
                    api);
    sift_http_route(http, "GET", SILENCES "/", SIFT_ROUTE_PREFIX,
                    SIFT_ROLE_READER, silences_get, api);
    sift_http_route(http, "GET", SAVED, 0, SIFT_ROLE_READER, saved_get, api);
    sift_http_route(http, "GET", SAVED "/", SIFT_ROUTE_PREFIX, SIFT_ROLE_READER,
                    saved_get, api);
    for (int i = 0; i < 3; i++) {
        if (strcmp(w[i], "PUT") != 0) {
            sift_http_route(http, w[i], RULES, 0, SIFT_ROLE_ADMIN, rules_write,
                            api);
            sift_http_route(http, w[i], SILENCES, 0, SIFT_ROLE_ADMIN,
                            silences_write, api);
            sift_http_route(http, w[i], SAVED, 0, SIFT_ROLE_WRITER, saved_write,
                            api);
        }
        sift_http_route(http, w[i], RULES "/", SIFT_ROUTE_PREFIX,
                        SIFT_ROLE_ADMIN, rules_write, api);
        sift_http_route(http, w[i], SILENCES "/", SIFT_ROUTE_PREFIX,
                        SIFT_ROLE_ADMIN, silences_write, api);
        sift_http_route(http, w[i], SAVED "/", SIFT_ROUTE_PREFIX,
                        SIFT_ROLE_WRITER, saved_write, api);
    }
    *out = api;
    return SIFT_OK;
}

void
sift_alerting_api_free(struct sift_alerting_api *api)
{
    sift_free(api);
}
