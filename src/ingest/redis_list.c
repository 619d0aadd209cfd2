/* stub */
#include "sift/error.h"
#include "sift/source.h"
int
sift_source_redis_list_new(const struct sift_source_env *env,
                             const char *list, struct sift_source **out)
{
    (void)env; (void)list; *out = NULL;
    return SIFT_ECONFIG;
}
