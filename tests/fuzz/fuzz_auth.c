/*
 * fuzz_auth.c - libFuzzer target for Authorization header parsing
 * (Bearer and Basic/base64) and the token check.
 *
 * Input: the header value (NUL-terminated copy).  Checks: no memory
 * error, and the decision is 401 unless the input carries a configured
 * token, in which case the principal is that token's name.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "sift/auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOKEN "fuzz-reader-token-0123456789"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sift_auth *a;
    if (!a) {
        struct sift_auth_opts o = {.tokens = "fz:reader:" TOKEN};
        if (sift_auth_new(&o, &a, NULL, 0) != 0)
            abort();
    }
    char *h = malloc(size + 1);
    if (!h)
        return 0;
    memcpy(h, data, size);
    h[size] = '\0';
    struct sockaddr_in peer;
    memset(&peer, 0, sizeof peer);
    peer.sin_family = AF_INET;
    struct sift_auth_result r;
    sift_auth_check(a, (const struct sockaddr *)&peer, h, SIFT_ROLE_READER, &r);
    if (r.decision == SIFT_AUTH_ALLOW && strcmp(r.principal, "fz") != 0)
        abort();
    if (r.decision == SIFT_AUTH_FORBIDDEN)
        abort(); /* a reader token on a reader route is never 403 */
    free(h);
    return 0;
}
