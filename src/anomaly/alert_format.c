/*
 * alert_format.c - an alert's wire formats: the sift alert object and
 * the Alertmanager webhook body.
 *
 * These are serialization formats, not HTTP replies: the sinks publish
 * them (webhook bodies, Redis streams, Kafka records, where other
 * systems parse them), and the API embeds the same object in its alert
 * replies (api/anomaly_api.c), so a webhook body and GET /api/v1/alerts
 * agree byte for byte.  The alerts store (alerts.ndjson, service.c)
 * shares the template and related members.  docs/alerts.md documents the
 * shapes; docs/internals/anomaly.md says why they live here.
 *
 * Pure; any thread.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sift/alert_format.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/time.h"

/* Query for the series' events: "service=a level=error template=7" ->
 * service.name:"a" AND level:error AND _template_id:7; an alert with
 * template evidence adds _template_id:(7 OR 9). */
static void
series_query(const struct sift_alert *al, struct sift_buf *q)
{
    const char *series = al->series;
    const char *p = series;
    int first = 1;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        const char *v = eq + 1;
        const char *end = strchr(v, ' ');
        if (!end)
            end = v + strlen(v);
        size_t kl = (size_t)(eq - p);
        if (!first)
            SIFT_BUF_LIT(q, " AND ");
        first = 0;
        if (kl == 7 && memcmp(p, "service", 7) == 0) {
            SIFT_BUF_LIT(q, "service.name:");
            sift_buf_putc(q, '"');
            sift_buf_append(q, v, (size_t)(end - v));
            sift_buf_putc(q, '"');
        } else if (kl == 8 && memcmp(p, "template", 8) == 0) {
            SIFT_BUF_LIT(q, "_template_id:");
            sift_buf_append(q, v, (size_t)(end - v));
        } else {
            sift_buf_append(q, p, (size_t)(end - p));
            q->data[q->len - (size_t)(end - eq)] = ':';
        }
        p = *end ? end + 1 : end;
    }
    if (al->n_templates && !strstr(series, "template=")) {
        sift_buf_append(q, first ? "_template_id:(" : " AND _template_id:(",
                        first ? 14 : 19);
        for (uint32_t i = 0; i < al->n_templates; i++)
            sift_buf_appendf(q, "%s%" PRIu32, i ? " OR " : "",
                             al->templates[i]);
        sift_buf_putc(q, ')');
    }
}

void
sift_alert_templates_json(const struct sift_alert *al, struct sift_buf *out)
{
    if (!al->n_templates)
        return;
    sift_buf_append(out, ",\"templates\":[", 14);
    for (uint32_t i = 0; i < al->n_templates; i++)
        sift_buf_appendf(out, "%s%" PRIu32, i ? "," : "", al->templates[i]);
    sift_buf_appendf(out, "],\"templates_total\":%" PRIu32,
                     al->n_templates_total);
}

void
sift_alert_related_json(const struct sift_alert *al, struct sift_buf *out)
{
    if (!al->n_related)
        return;
    sift_buf_append(out, ",\"related\":[", 12);
    for (uint32_t i = 0; i < al->n_related; i++) {
        sift_buf_append(out, i ? ",{\"series\":" : "{\"series\":", i ? 11 : 10);
        sift_buf_put_json_str(out, al->related[i].series,
                              strlen(al->related[i].series));
        sift_buf_appendf(
            out, ",\"kind\":\"%s\"}",
            sift_alert_kind_name((enum sift_alert_kind)al->related[i].kind));
    }
    sift_buf_appendf(out, "],\"related_total\":%" PRIu32, al->n_related_total);
}

void
sift_alert_to_json(const struct sift_alert *al, struct sift_buf *out)
{
    sift_buf_appendf(out, "{\"id\":%" PRIu64 ",\"series\":", al->id);
    sift_buf_put_json_str(out, al->series, strlen(al->series));
    sift_buf_appendf(out, ",\"kind\":\"%s\",\"state\":\"%s\",\"score\":",
                     sift_alert_kind_name((enum sift_alert_kind)al->kind),
                     al->state == SIFT_ALERT_FIRING ? "firing" : "resolved");
    /* Scores as they are (shortest round trip), never rounded: 49.96
     * under a threshold of 50 must not read as 50.0. */
    sift_buf_put_json_double(out, al->score);
    sift_buf_append(out, ",\"last_score\":", 14);
    sift_buf_put_json_double(out, al->last_score);
    sift_buf_append(out, ",\"threshold\":", 13);
    sift_buf_put_json_double(out, al->threshold);
    sift_buf_appendf(out,
                     ",\"started_ms\":%" PRId64 ",\"updated_ms\":%" PRId64
                     ",\"resolved_ms\":%" PRId64 ",\"windows\":%" PRIu32
                     ",\"label\":\"%s\",\"query\":",
                     al->started_ns / 1000000, al->updated_ns / 1000000,
                     al->resolved_ns / 1000000, al->n_windows,
                     al->label == SIFT_LABEL_FALSE_POSITIVE  ? "false_positive"
                     : al->label == SIFT_LABEL_TRUE_POSITIVE ? "true_positive"
                                                             : "");
    if (al->query[0] != '\0') {
        sift_buf_put_json_str(out, al->query, strlen(al->query));
    } else {
        struct sift_buf q = SIFT_BUF_INIT;
        series_query(al, &q);
        sift_buf_put_json_str(out, q.data ? q.data : "", q.len);
        sift_buf_cleanup(&q);
    }
    SIFT_BUF_LIT(out, ",\"rule\":");
    if (al->rule[0] != '\0')
        sift_buf_put_json_str(out, al->rule, strlen(al->rule));
    else
        SIFT_BUF_LIT(out, "null");
    sift_buf_appendf(
        out, ",\"severity\":\"%s\",\"value\":",
        sift_alert_severity_name((enum sift_alert_severity)al->severity));
    sift_buf_put_json_double(out, al->value);
    SIFT_BUF_LIT(out, ",\"labels\":");
    if (al->labels[0] == '{')
        sift_buf_append(out, al->labels, strlen(al->labels));
    else
        SIFT_BUF_LIT(out, "{}");
    sift_buf_appendf(out, ",\"silenced\":%s", al->silenced ? "true" : "false");
    sift_alert_templates_json(al, out);
    sift_alert_related_json(al, out);
    sift_buf_putc(out, '}');
}

/* ---- Alertmanager's webhook body ---- */

/* Appends the labels of al as JSON members (no braces): alertname, the
 * rule's labels or the series' parts, severity, kind. */
static void
am_labels(const struct sift_alert *al, struct sift_buf *out)
{
    SIFT_BUF_LIT(out, "\"alertname\":");
    if (al->rule[0] != '\0') {
        sift_buf_put_json_str(out, al->rule, strlen(al->rule));
    } else {
        struct sift_buf n = SIFT_BUF_INIT;
        sift_buf_appendf(&n, "sift_%s",
                         sift_alert_kind_name((enum sift_alert_kind)al->kind));
        sift_buf_put_json_str(out, n.data, n.len);
        sift_buf_cleanup(&n);
    }
    if (al->severity != SIFT_SEVERITY_NONE)
        sift_buf_appendf(
            out, ",\"severity\":\"%s\"",
            sift_alert_severity_name((enum sift_alert_severity)al->severity));
    sift_buf_appendf(out, ",\"kind\":\"%s\"",
                     sift_alert_kind_name((enum sift_alert_kind)al->kind));
    size_t ll = strlen(al->labels);
    if (ll > 2 && al->labels[0] == '{' && al->labels[ll - 1] == '}') {
        sift_buf_putc(out, ',');
        sift_buf_append(out, al->labels + 1, ll - 2);
        return;
    }
    /* Learned alerts: "service=a level=error" -> "service":"a",... */
    const char *p = al->series;
    while (*p) {
        const char *eq = strchr(p, '=');
        if (!eq)
            break;
        const char *v = eq + 1;
        const char *end = strchr(v, ' ');
        if (!end)
            end = v + strlen(v);
        sift_buf_putc(out, ',');
        sift_buf_put_json_str(out, p, (size_t)(eq - p));
        sift_buf_putc(out, ':');
        sift_buf_put_json_str(out, v, (size_t)(end - v));
        p = *end ? end + 1 : end;
    }
}

void
sift_alert_to_alertmanager(const struct sift_alert *al,
                           enum sift_alert_event ev, const char *external_url,
                           struct sift_buf *out)
{
    const char *status = al->state == SIFT_ALERT_FIRING ? "firing" : "resolved";
    struct sift_buf labels = SIFT_BUF_INIT;
    am_labels(al, &labels);
    const char *url = external_url ? external_url : "";
    SIFT_BUF_LIT(out, "{\"version\":\"4\",\"groupKey\":");
    struct sift_buf gk = SIFT_BUF_INIT;
    sift_buf_appendf(&gk, "{}:{series=\"%s\",id=\"%" PRIu64 "\"}", al->series,
                     al->id);
    sift_buf_put_json_str(out, gk.data, gk.len);
    sift_buf_cleanup(&gk);
    sift_buf_appendf(out,
                     ",\"truncatedAlerts\":0,\"status\":\"%s\","
                     "\"receiver\":\"sift\",\"groupLabels\":{},",
                     status);
    SIFT_BUF_LIT(out, "\"commonLabels\":{");
    sift_buf_append(out, labels.data, labels.len);
    SIFT_BUF_LIT(out, "},\"commonAnnotations\":{},\"externalURL\":");
    sift_buf_put_json_str(out, url, strlen(url));
    sift_buf_appendf(out, ",\"alerts\":[{\"status\":\"%s\",\"labels\":{",
                     status);
    sift_buf_append(out, labels.data, labels.len);
    SIFT_BUF_LIT(out, "},\"annotations\":{\"summary\":");
    struct sift_buf sum = SIFT_BUF_INIT;
    if (al->rule[0] != '\0')
        sift_buf_appendf(&sum, "rule %s: value ", al->rule);
    else
        sift_buf_appendf(&sum, "%s %s: score ",
                         sift_alert_kind_name((enum sift_alert_kind)al->kind),
                         al->series);
    char num[40];
    sift_fmt_double(num, sizeof(num), al->rule[0] ? al->value : al->score);
    sift_buf_appendf(&sum, "%s (threshold ", num);
    sift_fmt_double(num, sizeof(num), al->threshold);
    sift_buf_appendf(&sum, "%s)", num);
    sift_buf_put_json_str(out, sum.data, sum.len);
    sift_buf_cleanup(&sum);
    struct sift_buf js = SIFT_BUF_INIT;
    sift_alert_to_json(al, &js);
    /* the query, value and ids as annotations */
    SIFT_BUF_LIT(out, ",\"sift_alert_id\":");
    sift_buf_appendf(&sum, "%" PRIu64, al->id);
    sift_buf_put_json_str(out, sum.data, sum.len);
    sift_buf_cleanup(&sum);
    SIFT_BUF_LIT(out, ",\"sift_event\":");
    const char *evn = ev == SIFT_ALERT_EV_FIRE     ? "fire"
                      : ev == SIFT_ALERT_EV_UPDATE ? "update"
                                                   : "resolve";
    sift_buf_put_json_str(out, evn, strlen(evn));
    SIFT_BUF_LIT(out, ",\"sift_key\":");
    sift_alert_notification_key(al, &sum);
    sift_buf_put_json_str(out, sum.data, sum.len);
    sift_buf_cleanup(&sum);
    SIFT_BUF_LIT(out, ",\"sift_alert\":");
    sift_buf_put_json_str(out, js.data, js.len);
    sift_buf_cleanup(&js);
    SIFT_BUF_LIT(out, "},\"startsAt\":\"");
    sift_time_format_rfc3339(al->started_ns, 3, out);
    SIFT_BUF_LIT(out, "\",\"endsAt\":\"");
    if (al->state == SIFT_ALERT_FIRING)
        SIFT_BUF_LIT(out, "0001-01-01T00:00:00Z");
    else
        sift_time_format_rfc3339(al->resolved_ns, 3, out);
    SIFT_BUF_LIT(out, "\",\"generatorURL\":");
    struct sift_buf gen = SIFT_BUF_INIT;
    if (*url)
        sift_buf_appendf(&gen, "%s/api/v1/alerts/%" PRIu64, url, al->id);
    sift_buf_put_json_str(out, gen.data ? gen.data : "", gen.len);
    sift_buf_cleanup(&gen);
    sift_buf_appendf(out, ",\"fingerprint\":\"%016" PRIx64 "\"}]}",
                     al->series_key);
    sift_buf_cleanup(&labels);
}
