/* stub */
#include "sift/error.h"
#include "sift/source.h"
int
sift_source_redis_stream_new(const struct sift_source_env *env,
                             const char *stream, struct sift_source **out)
{
    (void)env; (void)stream; *out = NULL;
    return SIFT_ECONFIG;
}
