/*
 * log.c - leveled logging to stderr.
 *
 * Each message is formatted into a stack buffer and written with a single
 * write(2), so lines from different threads never interleave.  Under
 * systemd (JOURNAL_STREAM is set) the line carries the "<N>" priority
 * prefix that journald understands and no timestamp of its own.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sift/clock.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/time.h"

static atomic_int cur_level = SIFT_LOG_INFO;
static atomic_int journal_mode = -1; /* -1 unknown, 0 no, 1 yes */

static const char *const level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
static const int syslog_prio[] = {3, 4, 6, 7};

void
sift_log_set_level(enum sift_log_level level)
{
    atomic_store(&cur_level, (int)level);
}

enum sift_log_level
sift_log_get_level(void)
{
    return (enum sift_log_level)atomic_load_explicit(&cur_level,
                                                     memory_order_relaxed);
}

int
sift_log_level_parse(const char *s, enum sift_log_level *out)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum sift_log_level)i;
            return SIFT_OK;
        }
    }
    return SIFT_EINVAL;
}

void
sift_log(enum sift_log_level level, const char *fmt, ...)
{
    char line[2048];
    size_t n = 0;
    va_list ap;

    if ((int)level > atomic_load_explicit(&cur_level, memory_order_relaxed))
        return;
    int jm = atomic_load(&journal_mode);
    if (jm < 0) {
        jm = getenv("JOURNAL_STREAM") != NULL;
        atomic_store(&journal_mode, jm);
    }
    if (jm) {
        n = (size_t)snprintf(line, sizeof(line), "<%d>%s ", syslog_prio[level],
                             level_names[level]);
    } else {
        char when[SIFT_TIME_RFC3339_MAX];
        sift_time_print_rfc3339(sift_clock_now_ns(), 3, when, sizeof(when));
        n = (size_t)snprintf(line, sizeof(line), "%s siftd[%d] %s ", when,
                             (int)getpid(), level_names[level]);
    }
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w; /* nowhere to report a failing stderr */
}

void
sift_log_syslog(int severity, const char *who, const char *facility,
                const char *msg)
{
    enum sift_log_level l = severity <= 3   ? SIFT_LOG_ERROR
                            : severity == 4 ? SIFT_LOG_WARN
                            : severity <= 6 ? SIFT_LOG_INFO
                                            : SIFT_LOG_DEBUG;
    if (l > sift_log_get_level())
        return;
    sift_log(l, "%s: %s: %s", who, facility != NULL ? facility : "-",
             msg != NULL ? msg : "");
}
