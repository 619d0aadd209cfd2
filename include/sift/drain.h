/*
 * drain.h - log template mining (Drain-style fixed-depth prefix tree).
 *
 * Every message is tokenized on whitespace, variable-looking parts of each
 * token are masked by type ("<num>", "<hex>", "<ip>", "<uuid>", "<path>",
 * "<url>"), and the token list is matched against the templates that share its
 * token count and first key tokens.  The most similar template above the
 * similarity threshold absorbs the message (positions that differ become
 * "<*>"); otherwise a new template is created.  See docs/anomaly.md and
 * docs/internals/anomaly.md for the masking rules and the measured
 * grouping accuracy.
 *
 * Ids are 32-bit, assigned sequentially from 1 when a template is created
 * and never reused or changed, also when the template text generalizes:
 * the id names the cluster, not its text.  A template merged into another
 * leaves its id as an alias of the other (sift_drain_resolve).  Ids and
 * aliases survive restarts through sift_drain_save() / sift_drain_load().
 *
 * The number of templates is bounded (max_templates); past it, the
 * least-recently-seen template is evicted (its id is retired for good).
 *
 * Thread: a struct sift_drain is not thread-safe; one thread (the loop
 * thread in siftd) uses it.  Pointers returned by lookups borrow and stay
 * valid only until the next call that adds, loads or evicts.
 */
#ifndef SIFT_DRAIN_H
#define SIFT_DRAIN_H

#include <stddef.h>
#include <stdint.h>

struct sift_buf;
struct sift_drain;

struct sift_drain_cfg {
    uint32_t max_templates; /* 0 = default 10000 */
    double sim_threshold;   /* 0 = default (see drain.c) */
    uint32_t
        key_tokens; /* prefix tokens used as tree keys, 0..2; 0 = default */
};

/** Summary of one template (all fields copied; text borrows, see above). */
struct sift_drain_info {
    uint32_t id;
    uint32_t n_tokens;
    uint64_t count; /* messages absorbed since creation */
    int64_t first_seen_ns;
    int64_t last_seen_ns;
    const char *text; /* template, tokens joined by one space; NUL-terminated */
    size_t text_len;
};

/**
 * Creates an empty miner.  cfg may be NULL for defaults; borrowed.
 * Returns SIFT_OK.  Release with sift_drain_free().
 */
int sift_drain_new(const struct sift_drain_cfg *cfg, struct sift_drain **out);

/** Frees d and every template.  NULL is allowed. */
void sift_drain_free(struct sift_drain *d);

/**
 * Mines msg[0..len): returns the id of the template that now covers it
 * (creating or generalizing one), or SIFT_TEMPLATE_NONE (0) when the
 * message has no tokens.  ts_ns updates first/last seen.  Borrows msg.
 * Never fails (internal state is fixed-size per message: long messages
 * are cut at SIFT_DRAIN_MAX_BYTES and SIFT_DRAIN_MAX_TOKENS, the rest
 * becomes one trailing "<*>").
 */
uint32_t sift_drain_add(struct sift_drain *d, const char *msg, size_t len,
                        int64_t ts_ns);

/**
 * Like sift_drain_add() but the message is not counted (no count, time
 * or recency change): templates may be created or generalized.  For
 * re-mining lines already counted (header learning, see mine.h).
 */
uint32_t sift_drain_learn(struct sift_drain *d, const char *msg, size_t len);

/**
 * Finds the template msg would match without changing anything.
 * Returns its id or SIFT_TEMPLATE_NONE when no template matches.
 */
uint32_t sift_drain_match(struct sift_drain *d, const char *msg, size_t len);

/**
 * Looks up a template by id; an id merged into another template finds
 * that template (info.id is then the template's own id).  Returns
 * SIFT_OK (and fills *out, whose text borrows from d) or SIFT_ENOTFOUND
 * (unknown or evicted id).
 */
int sift_drain_get(const struct sift_drain *d, uint32_t id,
                   struct sift_drain_info *out);

/**
 * Folds template `from` into template `into`: counts and times add up,
 * `from` is removed and its id becomes an alias of `into` (searches by
 * it keep finding the events stored with it, see docs/anomaly.md).  The
 * miner also merges by itself when two templates generalize to the same
 * text (the older id stays).  Returns SIFT_OK or SIFT_ENOTFOUND (either
 * is not a live template, or they are the same).
 */
int sift_drain_merge(struct sift_drain *d, uint32_t from, uint32_t into);

/**
 * The id a template id now stands for: id itself, or the template it was
 * merged into (directly: aliases of aliases are kept resolved).  The
 * result may be an evicted id.
 */
uint32_t sift_drain_resolve(const struct sift_drain *d, uint32_t id);

/**
 * Calls fn(from, to) for every alias, oldest merge first; a non-zero
 * return stops the walk.  fn must not call into d.  At most
 * 4 * max_templates aliases (at least 1024) are kept, the oldest quarter
 * forgotten past that.
 */
typedef int (*sift_drain_alias_cb)(uint32_t from, uint32_t to, void *arg);
void sift_drain_foreach_alias(const struct sift_drain *d,
                              sift_drain_alias_cb fn, void *arg);

/** Number of aliases kept / merges done since creation. */
uint32_t sift_drain_aliases(const struct sift_drain *d);
uint64_t sift_drain_merged(const struct sift_drain *d);

/** Number of live templates / templates evicted since creation. */
uint32_t sift_drain_count(const struct sift_drain *d);
uint64_t sift_drain_evicted(const struct sift_drain *d);

/**
 * The id the next new template will get.  sift_drain_skip_ids() moves it
 * n ahead: after an unclean stop, ids handed out after the last save
 * (which stored docs may carry) are never given to other templates.
 */
uint32_t sift_drain_next_id(const struct sift_drain *d);
void sift_drain_skip_ids(struct sift_drain *d, uint32_t n);

/**
 * Calls fn for every live template, most recently seen first.  fn must
 * not call into d.  A non-zero return from fn stops the walk.
 */
typedef int (*sift_drain_each_cb)(const struct sift_drain_info *info,
                                  void *arg);
void sift_drain_foreach(const struct sift_drain *d, sift_drain_each_cb fn,
                        void *arg);

/**
 * Writes the masked token form of msg (what the miner compares) to out,
 * tokens joined by one space.  Pure; for tests and docs.
 */
void sift_drain_mask(const char *msg, size_t len, struct sift_buf *out);

/**
 * Saves every template (id, counts, times, text) and the id counter to
 * path atomically (sift_file_replace()).  Returns SIFT_OK, SIFT_ENOSPACE
 * or -errno, logged here.
 */
int sift_drain_save(const struct sift_drain *d, const char *path);

/**
 * Replaces d's templates with those saved in path.  Damage costs only the
 * lines it touched: a line whose checksum or syntax is bad is skipped and
 * logged with its number, the rest load (sift_drain_load_damage() tells
 * what was skipped; a damaged header leaves the id counter past the
 * highest id read, and the caller should skip further ahead).  Returns
 * SIFT_OK (also with damaged lines), -ENOENT when the file does not exist
 * (d unchanged) or -errno when it cannot be read (d unchanged).
 */
int sift_drain_load(struct sift_drain *d, const char *path);
/**
 * Lines the last sift_drain_load() skipped as damaged; OUT: *header_bad
 * (may be NULL) is 1 when the header was one of them.
 */
uint32_t sift_drain_load_damage(const struct sift_drain *d, int *header_bad);

#define SIFT_DRAIN_MAX_TOKENS 64
#define SIFT_DRAIN_MAX_BYTES 4096

#endif /* SIFT_DRAIN_H */
