/*
 * records.c - the record files of rules, silences and saved searches
 * (DATA_DIR/rules.ndjson, silences.ndjson, saved.ndjson; alerting_int.h
 * has the contract).
 *
 * Design.  Each store keeps its entries in memory and rewrites its file
 * whole on every change: one JSON object per line with the state-file
 * checksum member (core/statefile.c), replaced atomically (core/file.c).
 * Loading follows the state-file rule the same way for the three: an
 * unreadable file is moved aside, a damaged line is skipped and named in
 * the log, the file is kept in quarantine/ before it is rewritten, and a
 * store whose file could not be kept refuses changes.  What a record
 * holds is the store's (saved.c, silences.c, rules.c).
 *
 * Thread: loop thread only.
 */
#include <errno.h>
#include <stddef.h>

#include "sift/alloc.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/file.h"
#include "sift/log.h"
#include "sift/statefile.h"

#include "alerting/alerting_int.h"

struct load_ctx {
    const char *what, *path;
    sift__alerting_record_cb cb;
    void *arg;
    unsigned bad;
};

static int
load_line(char *line, size_t len, unsigned lineno, int ok, int whole, void *arg)
{
    struct load_ctx *c = arg;
    json_error_t jerr;
    json_t *o = ok ? json_loadb(line, len, 0, &jerr) : NULL;
    int rc = SIFT_ECORRUPT;
    if (json_is_object(o)) {
        json_object_del(o, "ck");
        rc = c->cb(c->arg, o);
    }
    json_decref(o);
    /* A torn last line (not whole) is an interrupted write: dropped
     * without a report, as the state-file rule says. */
    if (rc < 0 && whole) {
        c->bad++;
        SIFT_ERROR("%s: %s: line %u is damaged; skipped", c->what, c->path,
                   lineno);
    }
    return 0;
}

int
sift__alerting_records_load(const char *what, const char *data_dir,
                            const char *path, size_t max_bytes, int readonly,
                            sift__alerting_record_cb cb, void *arg,
                            int *persist_off)
{
    char *data = NULL;
    size_t size = 0;
    int rewrite = 0;
    int rc = sift_file_read_all(path, max_bytes, &data, &size);
    if (rc < 0 && rc != -ENOENT) {
        SIFT_ERROR("%s: %s cannot be read: %s", what, path, sift_strerror(rc));
        if (!readonly && sift_statefile_quarantine(data_dir, path, 1,
                                                   "unreadable", NULL) < 0) {
            *persist_off = 1;
            SIFT_ERROR("%s: %s cannot be moved aside either; changes are "
                       "refused until it is fixed",
                       what, path);
        }
    } else if (rc == SIFT_OK) {
        struct load_ctx c = {what, path, cb, arg, 0};
        (void)sift_statefile_lines(data, size, load_line, &c);
        if (c.bad && !readonly) {
            if (sift_statefile_quarantine(data_dir, path, 0, "damaged", NULL) <
                0)
                *persist_off = 1;
            else
                rewrite = 1;
        }
    }
    sift_free(data);
    return rewrite;
}

void
sift__alerting_records_save(const char *what, const char *path, size_t n,
                            sift__alerting_write_cb write, void *arg)
{
    struct sift_buf b = SIFT_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        size_t start = b.len;
        write(arg, i, &b);
        if (b.len > start)
            sift_statefile_line_end(&b, start);
    }
    int rc = sift_file_replace(path, b.data ? b.data : "", b.len, 0640, 0);
    if (rc < 0)
        SIFT_ERROR("%s: cannot write %s: %s", what, path, sift_strerror(rc));
    sift_buf_cleanup(&b);
}
