/*
 * error.h - status codes, sift_strerror() and the corruption/assert helpers.
 *
 * Every function that can fail returns int: SIFT_OK (0) on success or a
 * negative code.  Codes between -1 and -4095 are -errno values; sift's own
 * codes start at -5000 so the two ranges never collide.
 */
#ifndef SIFT_ERROR_H
#define SIFT_ERROR_H

#include <assert.h>
#include <stddef.h>

#define SIFT_OK 0

enum sift_err {
    SIFT_ENOMEM = -5000,   /* an input-sized allocation failed */
    SIFT_EAGAIN = -5001,   /* not done yet; the loop calls again (no failure) */
    SIFT_EINVAL = -5002,   /* invalid argument or input */
    SIFT_ECORRUPT = -5003, /* on-disk data failed a checksum or bound check */
    SIFT_ENOTFOUND = -5004,
    SIFT_ELIMIT = -5005,    /* a configured limit was exceeded */
    SIFT_ECONFIG = -5006,   /* configuration error */
    SIFT_EIO = -5007,       /* I/O error without a better errno */
    SIFT_ENOSPACE = -5008,  /* disk full: stop acknowledging, retry later */
    SIFT_ESHUTDOWN = -5009, /* the object is shutting down */
    SIFT_EPARSE = -5010,    /* input could not be parsed */
    SIFT_ETIMEOUT = -5011,
    SIFT_EBUSY = -5012,
    SIFT_EEXIST = -5013,
};

/**
 * Returns a static description of a status code (SIFT_E* or -errno).
 * Never returns NULL.  Thread-safe.
 */
const char *sift_strerror(int rc);

/**
 * Formats a message into the caller's error buffer err[0..err_len), the
 * (char *err, size_t err_len) pair that constructors and config parsers
 * take.  Does nothing when err is NULL or err_len is 0; truncates like
 * snprintf.  Borrows everything.  Thread-safe.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void
sift_errbuf_printf(char *err, size_t err_len, const char *fmt, ...);

/*
 * SIFT_STATIC marks a file-local function that unit tests call directly:
 * it is `static` except in the SIFT_UNIT_TESTS build.
 */
#ifdef SIFT_UNIT_TESTS
#define SIFT_STATIC
#else
#define SIFT_STATIC static
#endif

/*
 * SIFT_ALWAYS(x) / SIFT_NEVER(x): conditions that cannot happen but from
 * which we recover (decoding data read from disk).  They assert in debug
 * builds and evaluate to the condition in release builds.
 */
#ifndef NDEBUG
#define SIFT_ALWAYS(x) ((x) ? 1 : (assert(0 && #x), 0))
#define SIFT_NEVER(x) ((x) ? (assert(0 && #x), 1) : 0)
#else
#define SIFT_ALWAYS(x) (x)
#define SIFT_NEVER(x) (x)
#endif

/**
 * Logs "corrupt data at FILE:LINE (what)" and returns SIFT_ECORRUPT.  The
 * one place a debugger can break on every corruption report.  Never aborts.
 */
int sift_corrupt_bkpt(const char *file, int line, const char *what);
#define SIFT_CORRUPT_BKPT(what) sift_corrupt_bkpt(__FILE__, __LINE__, (what))

#endif /* SIFT_ERROR_H */
