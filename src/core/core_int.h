/*
 * core_int.h - functions shared inside src/core (and with its tests and
 * fuzz targets), not part of the public interface.
 */
#ifndef SIFT_CORE_INT_H
#define SIFT_CORE_INT_H

#include <stddef.h>

#include "sift/config.h"

/**
 * Loads config text text[0..len) (need not be NUL-terminated) as if it
 * were the file `name`: same reporting and return codes as
 * sift_config_load_file().  Borrows everything.
 */
int sift__config_load_buffer(struct sift_config *cfg, const char *name,
                             const char *text, size_t len,
                             sift_config_error_cb on_error, void *arg);

#endif /* SIFT_CORE_INT_H */
