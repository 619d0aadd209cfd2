/*
 * journal_api.c - POST /upload, what systemd-journal-upload sends
 * (Content-Type application/vnd.fdo.journal: the journal export format,
 * usually chunked), as systemd-journal-remote takes it.
 *
 * Design: sift_journal_export_parse() makes one event per entry; the
 * batch takes the pipeline like every source and is answered after the
 * WAL fsync (202, as journal-remote answers; the uploader moves its
 * cursor on any 2xx).  Exactly once across re-sends: the uploader sends
 * again from its last saved cursor when an upload was not answered, so
 * every batch stores, with its events, the position
 * "journald/<seqnum id>" = the largest sequence number (the cursor's s=
 * and i=) of its entries, and entries at or below the stored position
 * are skipped.  Two uploads of the same journal at the same time can
 * both pass the check (one uploader per journal is the normal set-up).
 * A body that is not the export format is a 400 (nothing stored); a full
 * buffer or disk a 503 with Retry-After (the uploader retries).  Loop
 * thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/parse.h"

#include "api/ingest_int.h"

#define MAX_SEQNUM_IDS 8 /* journals (seqnum ids) per upload */

struct jstate {
    struct sift__ingest_req *r;
    struct {
        char key[64];    /* "journald/<seqnum id>" */
        uint64_t stored; /* held before this request; 0 = none */
        uint64_t max;    /* the largest in this request */
    } ids[MAX_SEQNUM_IDS];
    size_t n_ids;
};

/* s=<id> and i=<hex> of a cursor; 0 when it has neither. */
static int
cursor_parse(const char *c, size_t len, const char **id, size_t *id_len,
             uint64_t *seq)
{
    int have_s = 0, have_i = 0;
    size_t i = 0;
    while (i < len) {
        size_t a = i;
        while (i < len && c[i] != ';')
            i++;
        if (i - a > 2 && c[a] == 's' && c[a + 1] == '=') {
            *id = c + a + 2;
            *id_len = i - a - 2;
            have_s = *id_len > 0 && *id_len <= 40;
        } else if (i - a > 2 && i - a <= 18 && c[a] == 'i' && c[a + 1] == '=') {
            uint64_t v = 0;
            have_i = 1;
            for (size_t k = a + 2; k < i; k++) {
                char h = c[k];
                int d = h >= '0' && h <= '9'   ? h - '0'
                        : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                               : -1;
                if (d < 0)
                    have_i = 0;
                v = v * 16 + (uint64_t)(d < 0 ? 0 : d);
            }
            *seq = v;
        }
        i++;
    }
    return have_s && have_i;
}

static int
on_entry(void *arg, int rc, struct sift_event *ev,
         const struct sift_parse_error *err)
{
    struct jstate *j = arg;
    if (rc == SIFT_OK) {
        const struct sift_field *cur = sift_event_field(ev, "__CURSOR", 8);
        const char *id = NULL;
        size_t id_len = 0;
        uint64_t seq = 0;
        if (cur &&
            cursor_parse(cur->value, cur->value_len, &id, &id_len, &seq)) {
            char key[64];
            snprintf(key, sizeof(key), "journald/%.*s", (int)id_len, id);
            size_t k = 0;
            while (k < j->n_ids && strcmp(j->ids[k].key, key) != 0)
                k++;
            if (k == j->n_ids && k < MAX_SEQNUM_IDS) {
                struct sift_srcpos pos;
                memcpy(j->ids[k].key, key, sizeof(key));
                j->ids[k].stored =
                    sift__ingest_position(j->r->api, key, &pos) == SIFT_OK
                        ? pos.hi
                        : 0;
                j->ids[k].max = 0;
                j->n_ids++;
            }
            if (k < j->n_ids) {
                if (j->ids[k].stored && seq <= j->ids[k].stored) {
                    j->r->n_skipped++;
                    return 0; /* stored by an earlier upload */
                }
                if (seq > j->ids[k].max)
                    j->ids[k].max = seq;
            }
        }
    }
    return sift__ingest_on_record(j->r, rc, ev, err);
}

static void
reply_upload(struct sift__ingest_req *r, int rc)
{
    if (rc < 0) {
        sift__ingest_reply_refused(r->req, rc);
        return;
    }
    size_t refused = r->n_rejects + sift__ingest_refused_by_time(r);
    struct sift_buf m = SIFT_BUF_INIT;
    sift_buf_appendf(&m, "OK: %zu stored", r->counts.stored);
    if (r->n_skipped)
        sift_buf_appendf(&m, ", %zu already stored before", r->n_skipped);
    if (refused)
        sift_buf_appendf(&m, ", %zu not stored (dead-letter file)", refused);
    sift_buf_append(&m, ".\n", 2);
    sift_http_reply(r->req, 202, "text/plain; charset=utf-8", m.data, m.len);
    sift_buf_cleanup(&m);
}

static void
handle_upload(struct sift_http_req *req, void *arg)
{
    struct sift_ingest_api *api = arg;
    const char *ct = sift_http_req_header(req, "Content-Type");
    if (!sift__ingest_media_is(ct, "application/vnd.fdo.journal")) {
        sift__ingest_count_bad(api, "journald");
        sift_http_reply_error(req, 415, "unsupported_media_type",
                              "POST /upload takes the journal export format "
                              "(Content-Type: application/vnd.fdo.journal)");
        return;
    }
    size_t len = 0;
    const char *body = sift_http_req_body(req, &len);
    struct sift_arena *a = sift_http_req_arena(req);
    struct sift__ingest_req *r = sift__ingest_req_new(api, req, "journald");
    struct jstate *j = sift_arena_alloc(a, sizeof(*j));
    memset(j, 0, sizeof(*j));
    j->r = r;
    struct sift_parse_error err;
    int rc = sift_journal_export_parse(sift__ingest_opts(api, SIFT_PARSE_AUTO),
                                       body, len, sift_clock_now_ns(), a,
                                       on_entry, j, &err);
    if (rc == SIFT_EPARSE) {
        sift__ingest_count_bad(api, "journald");
        sift_http_reply_error(req, 400, "invalid_journal_export", "%s",
                              err.reason);
        return;
    }
    if (rc == SIFT_ENOMEM)
        r->failed_rc = rc;
    size_t n_pos = 0;
    for (size_t k = 0; k < j->n_ids; k++)
        n_pos += j->ids[k].max > 0;
    if (n_pos) {
        r->pos = sift_arena_try_alloc(a, n_pos * sizeof(*r->pos));
        if (!r->pos) {
            r->failed_rc = SIFT_ENOMEM;
        } else {
            for (size_t k = 0; k < j->n_ids; k++) {
                if (j->ids[k].max == 0)
                    continue;
                struct sift_srcpos *p = &r->pos[r->n_pos++];
                p->key =
                    sift_arena_strndup(a, j->ids[k].key, strlen(j->ids[k].key));
                p->hi = j->ids[k].max;
                p->lo = 0;
            }
        }
    }
    sift__ingest_submit(r, reply_upload);
}

void
sift__journal_api_register(struct sift_http *http, struct sift_ingest_api *api)
{
    sift_http_route(http, "POST", "/upload", SIFT_ROUTE_RAW_BODY,
                    SIFT_ROLE_WRITER, handle_upload, api);
}
