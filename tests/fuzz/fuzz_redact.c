/*
 * fuzz_redact.c - libFuzzer target for the PII redactor.
 *
 * Input: byte 0 picks the redactor (bit 0: marker / hash mode) and the
 * target (bit 1: the message / a field covered only by the builtins);
 * the rest is the value.  Every builtin and two user rules are on.
 * Checks: no memory error (ASan/UBSan), the fast path leaves the output
 * untouched, a changed value is a valid buffer and, in marker mode,
 * still contains the bytes before the first rule could match.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sift/buf.h"
#include "sift/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct sift_redact *
make(const char *mode)
{
    struct sift_redact_opts o = {
        .builtins = "all",
        .rules = "ssn \\b\\d{3}-\\d{2}-\\d{4}\\b\n"
                 "name@user.* (?i)[a-z]+ [a-z]+\n",
        .fields = "message,host.*",
        .mode = mode,
        .hash_key = "fuzz-key-0123456789abcdef",
    };
    struct sift_redact *r = NULL;
    if (sift_redact_new(&o, &r, NULL, 0) != 0)
        abort();
    return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sift_redact *marker, *hash;
    if (!marker) {
        marker = make("marker");
        hash = make("hash");
    }
    if (size < 1)
        return 0;
    const struct sift_redact *r = (data[0] & 1) ? hash : marker;
    const char *target = (data[0] & 2) ? "host.name" : NULL;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    struct sift_buf out = SIFT_BUF_INIT;
    sift_buf_append(&out, "sentinel", 8);
    int changed = -1;
    int rc = sift_redact_apply(r, target, target ? strlen(target) : 0, s, len,
                               &out, &changed);
    if (rc != 0)
        abort(); /* no allocation fails here */
    if (!changed) {
        if (out.len != 8 || memcmp(out.data, "sentinel", 8) != 0)
            abort();
    } else {
        /* Every replacement starts with '['; the text before it stays. */
        const char *lb = memchr(out.data, '[', out.len);
        if (!lb)
            abort();
        size_t keep = (size_t)(lb - out.data);
        if (keep > len || memcmp(out.data, s, keep) != 0)
            abort();
    }
    sift_buf_cleanup(&out);
    return 0;
}
