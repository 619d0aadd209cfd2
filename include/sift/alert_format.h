/*
 * alert_format.h - an alert's wire formats (src/anomaly/alert_format.c):
 * the sift alert object the sinks publish and the API embeds, and the
 * Alertmanager webhook body.  Pure; any thread.
 */
#ifndef SIFT_ALERT_FORMAT_H
#define SIFT_ALERT_FORMAT_H

#include "sift/anomaly.h"

struct sift_buf;

/**
 * Appends the alert's template evidence as JSON members,
 * ,"templates":[..],"templates_total":N (nothing when it has none).
 */
void sift_alert_templates_json(const struct sift_alert *al,
                               struct sift_buf *out);

/**
 * Appends the series attached to the alert as JSON members,
 * ,"related":[{"series":S,"kind":K},..],"related_total":N (nothing when
 * it has none).
 */
void sift_alert_related_json(const struct sift_alert *al, struct sift_buf *out);

/**
 * Appends alert as a JSON object (the webhook/Redis/API body): id,
 * series, kind, state, score, last_score, threshold, started_ms,
 * updated_ms, resolved_ms, windows, label, query, then rule (null for
 * learned alerts), severity, value, labels (an object), silenced.
 */
void sift_alert_to_json(const struct sift_alert *alert, struct sift_buf *out);

/**
 * Appends an Alertmanager webhook body (version 4) carrying alert as its
 * one alert: labels alertname (the rule, or sift_<kind>), severity,
 * kind and the rule's labels (learned alerts: the series' parts, e.g.
 * service and level); annotations summary, sift_alert_id, sift_event,
 * sift_key and sift_alert (sift's JSON as a string); startsAt, endsAt
 * (0001-01-01T00:00:00Z while firing), generatorURL (external_url +
 * /api/v1/alerts/<id>, "" without one) and fingerprint (the series
 * key).  Pure.
 */
void sift_alert_to_alertmanager(const struct sift_alert *alert,
                                enum sift_alert_event ev,
                                const char *external_url, struct sift_buf *out);

#endif /* SIFT_ALERT_FORMAT_H */
