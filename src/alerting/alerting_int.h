/*
 * alerting_int.h - what the files of src/alerting/ share: the record
 * files of rules, silences and saved searches (records.c).  Never
 * included from another folder (tests may).
 */
#ifndef SIFT_ALERTING_INT_H
#define SIFT_ALERTING_INT_H

#include <stddef.h>

#include <jansson.h>

struct sift_buf;

/*
 * One record of a file, parsed from its line with the checksum member
 * removed (o borrowed for the call).  Returns SIFT_OK when the store took
 * it, or a negative code when the line is damaged (it is then counted,
 * reported and kept in quarantine/).
 */
typedef int (*sift__alerting_record_cb)(void *arg, json_t *o);

/* Appends record i of a store (without the newline). */
typedef void (*sift__alerting_write_cb)(void *arg, size_t i,
                                        struct sift_buf *out);

/*
 * Loads the record file path (at most max_bytes) under the state-file
 * rule: a file that cannot be read is moved to DATA_DIR/quarantine/; a
 * damaged line is skipped and reported (what names the store in the
 * log), and the file as it was is copied there.  Nothing is moved or
 * copied when readonly.  *persist_off is set when a file that needs
 * moving or copying could not be: the store must then refuse changes
 * (never overwrite what could not be kept).  Returns 1 when the caller
 * should rewrite the file now (damaged lines dropped and the original
 * kept), else 0.  Loop thread.
 */
int sift__alerting_records_load(const char *what, const char *data_dir,
                                const char *path, size_t max_bytes,
                                int readonly, sift__alerting_record_cb cb,
                                void *arg, int *persist_off);

/*
 * Rewrites path with records 0..n (sift_file_replace: one checked line
 * each, temp file, fsync, rename, directory fsync).  A failure is logged
 * with what; the old file stays.  Loop thread.
 */
void sift__alerting_records_save(const char *what, const char *path, size_t n,
                                 sift__alerting_write_cb write, void *arg);

#endif /* SIFT_ALERTING_INT_H */
