/*
 * error.c - sift_strerror(), error-buffer formatting and the corruption
 * breakpoint.
 *
 * Context: any thread.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sift/error.h"
#include "sift/log.h"

const char *
sift_strerror(int rc)
{
    switch (rc) {
    case SIFT_OK: return "success";
    case SIFT_ENOMEM: return "out of memory";
    case SIFT_EAGAIN: return "try again";
    case SIFT_EINVAL: return "invalid argument";
    case SIFT_ECORRUPT: return "corrupt data";
    case SIFT_ENOTFOUND: return "not found";
    case SIFT_ELIMIT: return "limit exceeded";
    case SIFT_ECONFIG: return "configuration error";
    case SIFT_EIO: return "I/O error";
    case SIFT_ENOSPACE: return "no space left on device";
    case SIFT_ESHUTDOWN: return "shutting down";
    case SIFT_EPARSE: return "parse error";
    case SIFT_ETIMEOUT: return "timed out";
    case SIFT_EBUSY: return "busy";
    case SIFT_EEXIST: return "already exists";
    default: break;
    }
    if (rc < 0 && rc > -4096)
        return strerror(-rc); /* glibc's strerror is thread-safe for these */
    return "unknown error";
}

void
sift_errbuf_printf(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || !err_len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

int
sift_corrupt_bkpt(const char *file, int line, const char *what)
{
    SIFT_ERROR("corrupt data detected at %s:%d (%s)", file, line,
               what ? what : "?");
    return SIFT_ECORRUPT;
}
