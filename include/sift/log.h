/*
 * log.h - leveled logging to stderr, one line per message.
 *
 * Format: "2026-11-22T21:40:01.123Z siftd[pid] LEVEL message".  When stderr
 * is the journal (JOURNAL_STREAM set) the line starts with the syslog
 * priority prefix "<3>" etc. instead of the timestamp, so journald keeps
 * the level.  Thread-safe: one write(2) per line.
 */
#ifndef SIFT_LOG_H
#define SIFT_LOG_H

enum sift_log_level {
    SIFT_LOG_ERROR = 0,
    SIFT_LOG_WARN = 1,
    SIFT_LOG_INFO = 2,
    SIFT_LOG_DEBUG = 3,
};

/** Sets the most verbose level that is printed (default INFO). */
void sift_log_set_level(enum sift_log_level level);
enum sift_log_level sift_log_get_level(void);
/** Parses "error|warn|info|debug"; returns SIFT_OK or SIFT_EINVAL. */
int sift_log_level_parse(const char *s, enum sift_log_level *out);

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void
sift_log(enum sift_log_level level, const char *fmt, ...);

/**
 * Logs a line a library reports with a syslog severity (0 emerg .. 7
 * debug; librdkafka's log callback): 0-3 as ERROR, 4 as WARN, 5-6 as
 * INFO, 7 as DEBUG, as "<who>: <facility>: <msg>" so it reads like our
 * own lines instead of the library's "%4|ts|FAC|..." to stderr.
 */
void sift_log_syslog(int severity, const char *who, const char *facility,
                     const char *msg);

#define SIFT_ERROR(...) sift_log(SIFT_LOG_ERROR, __VA_ARGS__)
#define SIFT_WARN(...) sift_log(SIFT_LOG_WARN, __VA_ARGS__)
#define SIFT_INFO(...) sift_log(SIFT_LOG_INFO, __VA_ARGS__)
#define SIFT_DEBUG(...)                                                        \
    do {                                                                       \
        if (sift_log_get_level() >= SIFT_LOG_DEBUG)                            \
            sift_log(SIFT_LOG_DEBUG, __VA_ARGS__);                             \
    } while (0)

#endif /* SIFT_LOG_H */
