/*
 * header.h - finding a log line's header (timestamp, level, pid, thread,
 * logger) so that templates are mined on the rest, without per-format
 * rules: the header's shape is learned per source from its first lines
 * and checked on every following line.
 *
 * A line is cut into typed slots (timestamp, number, level word,
 * bracketed group, "name:" component, separator, word).  Per source
 * (siftd: service, file, dataset), the slot types of the first lines are
 * compared position by position; the header is the longest prefix that
 * nearly all of them share and that ends where headers end (after a
 * timestamp, level, number, bracketed group, component or separator; a
 * plain word only where a header field follows it).  Lines that do not
 * fit the learned shape lose only the part of it they share.  A message
 * that is itself a JSON object ("JSON in message", as container runtimes
 * and structured loggers write) is split by its keys instead: the body is
 * the value of msg / message / log, the level and logger come from their
 * keys.  See docs/anomaly.md (Headers) for the rules and their limits.
 *
 * Thread: a struct sift_header is not thread-safe; one thread uses it
 * (siftd: the loop thread, beside the miner).
 */
#ifndef SIFT_HEADER_H
#define SIFT_HEADER_H

#include <stddef.h>
#include <stdint.h>

struct sift_buf;
struct sift_header;

struct sift_header_cfg {
    uint32_t max_sources;     /* sources remembered (LRU); 0 = 4096 */
    uint32_t learn_lines;     /* distinct line shapes sampled; 0 = 64 */
    uint32_t learn_max_lines; /* lines after which the shape is fixed
                                 anyway; 0 = 2000 */
};

/*
 * The parts of one line.  Offsets are into the line given to
 * sift_header_split(); a part is absent when its length is 0.
 */
struct sift_header_parts {
    uint32_t body_off; /* the body (what templates are mined on) */
    uint32_t body_len;
    uint32_t header_slots; /* slots taken as header (0: none) */
    const char *level;     /* normalized ("info", "error", ...) or NULL */
    uint32_t pid_off, pid_len;
    uint32_t tid_off, tid_len;
    uint32_t logger_off, logger_len;
    int json; /* the line was a JSON object (body = its message value) */
};

/**
 * Creates an empty header learner.  cfg may be NULL for the defaults;
 * borrowed.  Returns SIFT_OK.  Release with sift_header_free().
 */
int sift_header_new(const struct sift_header_cfg *cfg,
                    struct sift_header **out);

/** Frees h.  NULL is allowed. */
void sift_header_free(struct sift_header *h);

/**
 * Re-mining a sampled line after its source's header shape changed:
 * line[0..len) split by the new shape into parts; tag is what the line
 * was tagged with (sift_header_tag_last); weight is how many lines of the
 * same shape (numbers and ids aside) the source sent while sampling,
 * this one included; returns its new tag.
 */
typedef uint32_t (*sift_header_remine_cb)(void *arg, const char *line,
                                          size_t len,
                                          const struct sift_header_parts *parts,
                                          uint32_t tag, uint32_t weight);

/**
 * Splits line[0..len) of the given source (any 64-bit key naming where
 * the line comes from; lines of one source share a format) into header
 * and body, learning the source's header shape on the way.  Fills *out
 * (always: a line without header has body = the whole line).  Borrows
 * line; never fails; O(length of the header).
 *
 * While a source is learning, its lines are kept (up to 2 KiB each);
 * when a line changes the learned shape, remine_cb (may be NULL) is
 * called for each earlier kept line of the source, before this call
 * returns, so that lines split by an early guess get the templates they
 * would get now.  Call sift_header_tag_last() after mining this line.
 */
void sift_header_split(struct sift_header *h, uint64_t source, const char *line,
                       size_t len, struct sift_header_parts *out,
                       sift_header_remine_cb remine_cb, void *arg);

/**
 * Tags the line of the last sift_header_split() call if it was kept for
 * learning (else nothing happens); the tag comes back in remine_cb.
 */
void sift_header_tag_last(struct sift_header *h, uint32_t tag);

/** Number of sources remembered. */
uint32_t sift_header_sources(const struct sift_header *h);

/**
 * Appends the learned header shape of source to out, one letter per
 * slot (T timestamp, N number, L level, B bracketed, C component, D
 * separator, W word, P padded word, X any plain token), or "-" when the
 * source has none or is unknown.  For tests and diagnostics.
 */
void sift_header_describe(const struct sift_header *h, uint64_t source,
                          struct sift_buf *out);

/**
 * Appends the slot letters of one line on its own (no learning), for
 * tests: e.g. "TNLCWNWW" for an HDFS line.  Pure.
 */
void sift_header_slots(const char *line, size_t len, struct sift_buf *out);

#endif /* SIFT_HEADER_H */
