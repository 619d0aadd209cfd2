/*
 * mine.h - templates for events: the header learner (header.h) and the
 * template miner (drain.h) together, as the ingest pipeline runs them.
 *
 * For each event: the source is named by its service.name, log.file.path,
 * event.dataset and container.name; the message's header is split off
 * by that source's learned shape; the template is mined on the body; the
 * header's level, pid, thread id and logger become the fields log.level,
 * process.pid, process.thread.id and log.logger when the event does not
 * have them.  The message itself is not changed.
 *
 * Thread: a struct sift_mine is not thread-safe; one owner (siftd: the
 * loop thread, under the template table's mutex).
 */
#ifndef SIFT_MINE_H
#define SIFT_MINE_H

#include <stddef.h>
#include <stdint.h>

#include "sift/drain.h"
#include "sift/header.h"

struct sift_arena;
struct sift_event;
struct sift_mine;

struct sift_mine_cfg {
    struct sift_drain_cfg drain;
    struct sift_header_cfg header;
    int no_header; /* mine whole messages (for comparison in benches) */
};

/**
 * Creates a miner.  cfg may be NULL for the defaults; borrowed.
 * Returns SIFT_OK.  Release with sift_mine_free().
 */
int sift_mine_new(const struct sift_mine_cfg *cfg, struct sift_mine **out);

/** Frees m (and its drain).  NULL is allowed. */
void sift_mine_free(struct sift_mine *m);

/** The template table inside m (borrowed; lives as long as m). */
struct sift_drain *sift_mine_drain(struct sift_mine *m);

/** The header learner inside m (borrowed). */
struct sift_header *sift_mine_header(struct sift_mine *m);

/** The 64-bit source key of ev (see the file comment).  Pure. */
uint64_t sift_mine_source(const struct sift_event *ev);

/**
 * Mines ev: sets ev->template_id and adds the header's fields that ev
 * lacks (the new field array comes from arena; values borrow from
 * ev->msg or static storage).  out_parts (may be NULL) receives the
 * split.  Returns SIFT_OK or SIFT_ENOMEM (arena full; template_id is
 * set anyway).
 */
int sift_mine_event(struct sift_mine *m, struct sift_event *ev,
                    struct sift_arena *arena,
                    struct sift_header_parts *out_parts);

#endif /* SIFT_MINE_H */
