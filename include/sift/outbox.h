/*
 * outbox.h - a durable queue of alert notifications for one sink
 * (src/anomaly/outbox.c; docs/internals/anomaly.md, "Outbox").
 *
 * Every notification a sink must deliver is appended to
 * DATA_DIR/outbox/<sink>.log before the first try, so it survives a
 * restart, a kill -9 and (after the next sift_outbox_sync()) a power
 * loss.  The sink driver (sinks.c) takes items in order, tries them,
 * and reports each try: done (delivered: the item is gone), failed
 * (the failed try is counted and persisted, so a restart does not reset
 * the retry budget) or dead (given up: the item and its cause are
 * appended to DATA_DIR/outbox/dead.ndjson, the dead-letter file shared by
 * every sink, and the item is gone).
 *
 * The log is an append-only state file under the state-file rule
 * (include/sift/statefile.h): one JSON object per line with a checksum
 * member; a damaged line is skipped alone and reported, the file as it
 * was is copied to quarantine/ before the start-up rewrite, and a file
 * that cannot be read is moved there (if it cannot even be moved, the
 * outbox runs in memory only rather than overwrite it).  The log is
 * rewritten with only the live items at open and whenever it holds many
 * more lines than live items.
 *
 * Not thread-safe: one owner (the loop thread in siftd).  Appends are
 * write(2) calls (small; they block only on a full page cache), fsyncs
 * happen in sift_outbox_sync().
 */
#ifndef SIFT_OUTBOX_H
#define SIFT_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

struct sift_outbox;

/* One queued notification.  The driver fields are the sink driver's
 * own (never persisted); everything else is read-only for it. */
struct sift_outbox_item {
    uint64_t seq;      /* increasing within one outbox, never reused */
    uint64_t alert_id; /* the alert it notifies about */
    char *key;         /* notification key (sift_alert_notification_key) */
    char *event;       /* "fire", "update", "resolve" */
    char *route;       /* Kafka message key (series); "" = none */
    char *body;        /* what the sink sends, body_len bytes */
    size_t body_len;
    uint32_t attempts; /* failed tries so far (persisted) */
    int64_t queued_ms; /* wall-clock time it was queued */
    /* driver fields */
    int inflight;            /* a try is under way */
    int64_t not_before_mono; /* sift_clock_mono_ns() of the next try */
    char last_cause[160];    /* why the last try failed ("" = none yet) */
};

/* What sift_outbox_open() found. */
struct sift_outbox_report {
    size_t restored;  /* items still to deliver */
    unsigned damaged; /* damaged lines skipped (file kept in quarantine/) */
    unsigned torn;    /* a last line cut by a crash (skipped) */
    int unreadable;   /* the file could not be read (moved aside) */
    int persist_off;  /* the file could not be kept: memory only */
};

/**
 * Opens (creates) DATA_DIR/outbox/<sink>.log and loads the items still
 * to deliver.  max_items bounds the queue (past it the oldest item not
 * in flight is dead-lettered with cause "outbox full").  data_dir and
 * sink are copied.  *report (may be NULL) says what was found; damage
 * is logged.  Returns SIFT_OK or -errno (the outbox directory cannot
 * be created).  Release with sift_outbox_close().
 */
int sift_outbox_open(const char *data_dir, const char *sink, size_t max_items,
                     struct sift_outbox **out,
                     struct sift_outbox_report *report);

/** Syncs and frees.  Items still queued stay in the file.  NULL is fine. */
void sift_outbox_close(struct sift_outbox *ob);

/**
 * Queues a notification (every argument copied; route may be NULL).
 * Appended to the log before this returns.  When the queue is full the
 * oldest item not in flight is dead-lettered first.  Returns the new
 * item (owned by the outbox; valid until it is done or dead).
 */
struct sift_outbox_item *sift_outbox_put(struct sift_outbox *ob,
                                         uint64_t alert_id, const char *key,
                                         const char *event, const char *route,
                                         const char *body, size_t body_len);

/** The item with seq, or NULL (done, dead or unknown). */
struct sift_outbox_item *sift_outbox_find(struct sift_outbox *ob, uint64_t seq);

/**
 * Walks the live items oldest first: *pos starts at 0; each call returns
 * the next item (and advances *pos) or NULL at the end.  Valid until the
 * next put, done, failed or dead.
 */
struct sift_outbox_item *sift_outbox_next(struct sift_outbox *ob, size_t *pos);

/** Delivered: removes it (persisted).  it becomes invalid. */
void sift_outbox_done(struct sift_outbox *ob, struct sift_outbox_item *it);

/** One try failed: it->attempts + 1 (persisted); cause kept in the item. */
void sift_outbox_failed(struct sift_outbox *ob, struct sift_outbox_item *it,
                        const char *cause);

/**
 * Given up: appends {"sink","seq","alert","key","event","attempts",
 * "cause","queued_ms","dead_ms","body"} to DATA_DIR/outbox/dead.ndjson
 * (fsynced) and removes the item.  it becomes invalid.
 */
void sift_outbox_dead(struct sift_outbox *ob, struct sift_outbox_item *it,
                      const char *cause);

/** Live items (queued or in flight). */
size_t sift_outbox_pending(const struct sift_outbox *ob);

/** Items dead-lettered since open (every cause, "outbox full" too). */
uint64_t sift_outbox_dead_count(const struct sift_outbox *ob);

/** fdatasyncs the log when something was appended since the last sync. */
void sift_outbox_sync(struct sift_outbox *ob);

#endif /* SIFT_OUTBOX_H */
