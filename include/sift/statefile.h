/*
 * statefile.h - one rule for every state file siftd keeps in its data
 * directory (templates, alerts and feedback, the deletes journal, ...):
 * detect damage, keep what could not be read, report it, and lose only
 * what the damage touched.
 *
 * Line files carry a checksum on every line, so a damaged line is
 * skipped alone and the lines around it still load:
 *   - a JSON object line ends with the member ,"ck":"xxxxxxxx" before
 *     its closing brace (the line stays one JSON object);
 *   - any other line ends with a tab and "ck:xxxxxxxx";
 * where xxxxxxxx is the XXH32 (seed 0) of the line without that member or
 * suffix, in lowercase hex.  Lines written before checksums existed have
 * none; callers decide whether to accept them (a file's version says).
 *
 * A state file that is damaged is kept as it is in DATA_DIR/quarantine/
 * (a copy, so the caller may rewrite the file from what it read) and one
 * that cannot be read at all is moved there (so nothing ever overwrites
 * what could not be read).  sift_statefile_quarantine() does either and
 * logs it.
 *
 * Pure functions plus file I/O; any thread.
 */
#ifndef SIFT_STATEFILE_H
#define SIFT_STATEFILE_H

#include <stddef.h>

#include "sift/buf.h"

/**
 * Ends the line that starts at out->data[start] (its bytes are
 * out->data[start..out->len), no newline yet): appends its checksum (a
 * member when the line is a JSON object, a tab suffix otherwise) and the
 * newline.
 */
void sift_statefile_line_end(struct sift_buf *out, size_t start);

/**
 * Checks one line (without its newline).  On SIFT_OK the checksum was
 * good and *len is shortened to the line without the suffix (JSON lines
 * keep their length: the object parses with the member in it).  Returns
 * SIFT_OK, SIFT_ENOTFOUND (no checksum: an older line) or SIFT_ECORRUPT
 * (a checksum that does not match).
 */
int sift_statefile_line_check(const char *line, size_t *len);

/**
 * Non-zero when any line of the file image data[0..size) carries a good
 * checksum: the file was written with checksums, so a line without a good
 * one is damage, not an older line.
 */
int sift_statefile_checked(const char *data, size_t size);

/**
 * Called per line by sift_statefile_lines(): line[0..len) is the line
 * without its newline and checksum suffix, NUL-terminated (JSON lines
 * keep their checksum member); lineno counts from 1; ok is 1 when the
 * line ends with a newline and its checksum is good (or the file has no
 * checksums at all); whole is 0 for a last line without its newline.
 * Returns 0 to go on, non-zero to stop.
 */
typedef int (*sift_statefile_line_cb)(char *line, size_t len, unsigned lineno,
                                      int ok, int whole, void *arg);

/**
 * Walks the lines of a state file image data[0..size) (modified in place:
 * each line is NUL-terminated) and checks each as its file demands
 * (sift_statefile_checked()).  Returns the callback's non-zero value or 0.
 */
int sift_statefile_lines(char *data, size_t size, sift_statefile_line_cb cb,
                         void *arg);

/**
 * Keeps the state file at path in DATA_DIR/quarantine/ as
 * "<name>.<unix seconds>[.n]": a copy when move is 0 (the file was read,
 * some of it damaged), a rename when move is 1 (it could not be read).
 * why goes into the log line.  Returns SIFT_OK (*kept, if not NULL, gets
 * the quarantine name; owned, sift_free()) or -errno; the original is
 * left alone on failure.
 */
int sift_statefile_quarantine(const char *data_dir, const char *path, int move,
                              const char *why, char **kept);

#endif /* SIFT_STATEFILE_H */
