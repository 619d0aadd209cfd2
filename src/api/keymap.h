/*
 * keymap.h - the _bulk document keys (_index, _id) stored but maybe not
 * searchable yet, so that a create or index right after the first one
 * sees it (Elasticsearch answers such an id from its version map).
 *
 * An entry carries the WAL seq of the batch that stored the key (0 while
 * the request that reserved it is still deciding); sift__keymap_prune()
 * drops the entries whose seq the store reports visible, after which a
 * snapshot lookup finds the key.  Loop thread (not thread-safe).
 */
#ifndef SIFT_API_KEYMAP_H
#define SIFT_API_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

struct sift_doc_key;
struct sift__keymap;

/** An empty map (owned; release with sift__keymap_free()). */
struct sift__keymap *sift__keymap_new(void);
void sift__keymap_free(struct sift__keymap *m);

/** Non-zero when k is in the map.  Borrows k. */
int sift__keymap_has(const struct sift__keymap *m,
                     const struct sift_doc_key *k);
/** Adds k (copied) with seq, or sets the seq of an entry already there. */
void sift__keymap_put(struct sift__keymap *m, const struct sift_doc_key *k,
                      uint64_t seq);
/** Removes k if present. */
void sift__keymap_del(struct sift__keymap *m, const struct sift_doc_key *k);
/** Removes every entry with 0 < seq <= visible_seq; returns how many. */
size_t sift__keymap_prune(struct sift__keymap *m, uint64_t visible_seq);
/** Entries held. */
size_t sift__keymap_size(const struct sift__keymap *m);

#endif /* SIFT_API_KEYMAP_H */
