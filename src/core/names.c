/*
 * names.c - the closest known name to a mistyped one (include/sift/names.h).
 *
 * Design: optimal string alignment distance (Levenshtein plus swaps of
 * neighbours, each substring edited once) over names of at most 64 bytes,
 * ASCII case folded; longer names are never "close".  The bound grows
 * with the name, so "to" is not suggested for "id" but "dyr_run" finds
 * "dry_run".
 *
 * Threads: pure; any thread.
 */
#include "sift/names.h"

#include <string.h>

#define NAME_MAX_LEN 64

static char
fold(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* OSA distance of a[0..al) and b[0..bl), both <= NAME_MAX_LEN. */
static size_t
osa(const char *a, size_t al, const char *b, size_t bl)
{
    size_t d[NAME_MAX_LEN + 1][NAME_MAX_LEN + 1];
    for (size_t i = 0; i <= al; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= bl; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= al; i++) {
        for (size_t j = 1; j <= bl; j++) {
            size_t cost = fold(a[i - 1]) == fold(b[j - 1]) ? 0 : 1;
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
                fold(a[i - 2]) == fold(b[j - 1]) && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[al][bl];
}

static int
is_prefix(const char *p, size_t pl, const char *s)
{
    for (size_t i = 0; i < pl; i++)
        if (s[i] == '\0' || fold(p[i]) != fold(s[i]))
            return 0;
    return 1;
}

const char *
sift_name_closest(const char *given, const char *const *known, size_t n)
{
    size_t gl = strlen(given);
    if (gl == 0 || gl > NAME_MAX_LEN)
        return NULL;
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        size_t kl = strlen(known[i]);
        if (kl > NAME_MAX_LEN)
            continue;
        size_t bound = (gl > kl ? gl : kl) <= 4 ? 1 : 2;
        size_t d = osa(given, gl, known[i], kl);
        if (d <= bound && d < best_d) {
            best = known[i];
            best_d = d;
        }
    }
    if (best || gl < 2)
        return best;
    const char *only = NULL;
    for (size_t i = 0; i < n; i++) {
        if (is_prefix(given, gl, known[i])) {
            if (only)
                return NULL; /* ambiguous */
            only = known[i];
        }
    }
    return only;
}
