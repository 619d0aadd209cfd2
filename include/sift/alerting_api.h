/*
 * alerting_api.h - HTTP endpoints of alert rules, silences and saved
 * searches (src/api/alerting_api.c; docs/alerting.md):
 *
 *   GET    /api/v1/rules[/NAME]            reader
 *   POST   /api/v1/rules                   admin  create (?dry_run checks)
 *   PUT    /api/v1/rules/NAME              admin  create or replace
 *   DELETE /api/v1/rules/NAME              admin
 *   GET    /api/v1/silences[/ID]?state=    reader
 *   POST   /api/v1/silences                admin  create (or replace by id)
 *   DELETE /api/v1/silences/ID             admin  expire
 *   GET    /api/v1/saved[/NAME]            reader
 *   POST   /api/v1/saved                   writer create
 *   PUT    /api/v1/saved/NAME              writer create or replace
 *   DELETE /api/v1/saved/NAME              writer
 *
 * Created by main like every endpoint object.  Loop thread.
 */
#ifndef SIFT_ALERTING_API_H
#define SIFT_ALERTING_API_H

struct sift_anomaly_service;
struct sift_http;
struct sift_rules;
struct sift_saved;
struct sift_silences;
struct sift_alerting_api;

/* What the endpoints work on (borrowed for the API's lifetime). */
struct sift_alerting_deps {
    struct sift_rules *rules;
    struct sift_silences *silences;
    struct sift_saved *saved;
    struct sift_anomaly_service *alerts;
};

/** Registers the routes.  Returns SIFT_OK.  Release with _free(). */
int sift_alerting_api_new(struct sift_http *http,
                          const struct sift_alerting_deps *deps,
                          struct sift_alerting_api **out);
void sift_alerting_api_free(struct sift_alerting_api *api);

/**
 * Silences changed (created, expired, or one started or ended): firing
 * alerts kept silent that no silence matches any more are sent now.
 */
void sift_alerting_api_silences_changed(struct sift_alerting_api *api);

#endif /* SIFT_ALERTING_API_H */
