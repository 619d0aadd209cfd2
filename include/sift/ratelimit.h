/*
 * ratelimit.h - token buckets per key (token name, client address) in a
 * bounded table.
 *
 * Each key has a bucket of `burst` tokens refilled at `rate_per_sec`.  A
 * request takes `cost` tokens (1 per request is the usual choice) or is
 * refused with the number of seconds after which it would succeed, for the
 * Retry-After header of a 429.  The table holds at most max_keys keys;
 * when full, an idle key (bucket already full again: forgetting it loses
 * nothing) is evicted first, otherwise CLOCK picks one that was not used
 * recently, new keys first, so a client cycling through addresses can
 * neither grow memory nor push out a key that keeps coming back.
 * Hashing uses a per-table random seed against hash flooding.
 *
 * One table per limit (e.g. one for ingest, one for queries), used from
 * one thread at a time (the loop thread); no locks.
 */
#ifndef SIFT_RATELIMIT_H
#define SIFT_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

struct sift_ratelimit;

#define SIFT_RATELIMIT_KEY_MAX                                                 \
    64 /* key bytes compared; longer keys are                                  \
          told apart by a 64-bit hash */
#define SIFT_RATELIMIT_DEFAULT_KEYS 4096

struct sift_ratelimit_opts {
    double rate_per_sec; /* refill; <= 0 disables the limit (always allow) */
    double burst;        /* bucket size; < 1 is taken as 1 */
    size_t max_keys;     /* table bound; 0 = SIFT_RATELIMIT_DEFAULT_KEYS */
};

/** Creates a table.  Returns SIFT_OK; release with sift_ratelimit_free(). */
int sift_ratelimit_new(const struct sift_ratelimit_opts *opts,
                       struct sift_ratelimit **out);
void sift_ratelimit_free(struct sift_ratelimit *rl);

/**
 * Takes cost tokens from key's bucket at monotonic time now_ns
 * (sift_clock_mono_ns()).  A cost above burst is charged as burst, so
 * one big request is possible once the bucket is full.  Returns SIFT_OK
 * (allowed) or SIFT_ELIMIT with *retry_after_s >= 1 set (seconds until
 * the same request would be allowed, rounded up).  key is borrowed.
 */
int sift_ratelimit_take(struct sift_ratelimit *rl, const char *key,
                        size_t key_len, double cost, int64_t now_ns,
                        uint32_t *retry_after_s);

/** Keys currently held (<= max_keys). */
size_t sift_ratelimit_n_keys(const struct sift_ratelimit *rl);
/** Requests refused so far (for /metrics). */
uint64_t sift_ratelimit_n_refused(const struct sift_ratelimit *rl);

/**
 * Writes the rate-limit key of a client address into out[0..out_len):
 * "a:1.2.3.4" for IPv4 (and IPv4-mapped IPv6), "a:2001:db8:1:2::/64" for
 * IPv6 (a client usually owns a whole /64, so it counts as one), "a:?"
 * for anything else.  Returns the key length (truncated to out_len - 1).
 */
size_t sift_ratelimit_addr_key(const struct sockaddr *sa, char *out,
                               size_t out_len);

#endif /* SIFT_RATELIMIT_H */
