/*
 * kvlist.c - the one reader of "name=value,name:value" field lists
 * (include/sift/kvlist.h).
 *
 * Design: a single pass over the list; items are cut at ',', trimmed of
 * spaces and tabs, split at their first '=' or ':'.  Nothing is copied:
 * the callback gets spans into the list.
 *
 * Threads: pure; any thread.
 */
#include <stdio.h>
#include <string.h>

#include "sift/error.h"
#include "sift/kvlist.h"

static int
blank(char c)
{
    return c == ' ' || c == '\t';
}

int
sift_kvlist_walk(const char *list, sift_kvlist_cb cb, void *arg, char *why,
                 size_t why_len)
{
    size_t len = list != NULL ? strlen(list) : 0;
    for (size_t at = 0; at < len;) {
        const char *item = list + at;
        size_t n = strcspn(item, ",");
        at += n + 1;
        size_t a = 0, b = n;
        while (a < b && blank(item[a]))
            a++;
        while (b > a && blank(item[b - 1]))
            b--;
        if (a == b)
            continue; /* an empty item */
        size_t sep = a + strcspn(item + a, "=:");
        size_t ke = sep < b ? sep : a, vs = sep + 1, ve = b;
        while (ke > a && blank(item[ke - 1]))
            ke--;
        while (vs < ve && blank(item[vs]))
            vs++;
        if (sep >= b || ke == a) {
            snprintf(why, why_len,
                     "\"%.*s\" is not name=value (a list like "
                     "service.name=web,host.name=a1)",
                     (int)(b - a > 60 ? 60 : b - a), item + a);
            return SIFT_EINVAL;
        }
        int rc = cb != NULL ? cb(arg, item + a, ke - a, item + vs,
                                 vs < ve ? ve - vs : 0)
                            : 0;
        if (rc != 0)
            return rc;
    }
    return SIFT_OK;
}
