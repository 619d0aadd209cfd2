/*
 * node_id.h - the stable identity of one siftd: DATA_DIR/node_id.
 *
 * The id names this node wherever an outside system must tell two siftd
 * apart, or recognise the same one after a restart: Kafka's static group
 * membership (group.instance.id) today, [cluster] node_id later.  It
 * belongs to the data dir, not to the host: a restart, a crash or a new
 * host name keep it; a new data dir gets a new one.  A copied data dir
 * carries the id with it: remove DATA_DIR/node_id in the copy before two
 * nodes run (two members with one id fence each other off in Kafka).
 *
 * The file holds the id and a newline.  It is created once, atomically
 * (temporary file, fsync, rename, directory fsync), so a crash leaves
 * either no file or a whole one.  An operator may write their own id into
 * it while siftd is stopped.
 */
#ifndef SIFT_NODE_ID_H
#define SIFT_NODE_ID_H

#include <stddef.h>

#define SIFT_NODE_ID_MAX 64 /* longest id in bytes, without the NUL */
#define SIFT_NODE_ID_FILE "node_id"

/**
 * True when s[0..len) is a valid node id: 1 to SIFT_NODE_ID_MAX bytes of
 * [A-Za-z0-9._-].  Borrows s.  Pure.
 */
int sift_node_id_valid(const char *s, size_t len);

/**
 * Reads DATA_DIR/node_id into out (out_size >= SIFT_NODE_ID_MAX + 1,
 * NUL-terminated), creating it first when it does not exist: "sift-"
 * and 16 hex digits of fresh randomness.  Surrounding white space in the
 * file is ignored.  *created (may be NULL) is set to 1 when this call
 * made the file.  Returns SIFT_OK, SIFT_ECORRUPT (the file holds no valid
 * id), SIFT_EINVAL (out too small), SIFT_ENOSPACE or -errno.  Does not
 * log.  Borrows data_dir.  Call it while holding the data dir's lock.
 */
int sift_node_id_load(const char *data_dir, char *out, size_t out_size,
                      int *created);

#endif /* SIFT_NODE_ID_H */
