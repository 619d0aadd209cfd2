/*
 * ui_assets.h - the web UI's files as compiled into siftd: a table
 * generated at build time by ui/embed_assets.c from ui/dist, read by
 * src/api/ui.c.  Private to the api module.
 */
#ifndef SIFT_UI_ASSETS_H
#define SIFT_UI_ASSETS_H

#include <stddef.h>

struct sift_ui_asset {
    const char *path;         /* relative to /ui/, e.g. "assets/app-X.js" */
    const char *content_type; /* with charset for text */
    const char *etag;         /* quoted XXH3-64 of the raw bytes */
    int immutable;            /* hashed file name: cache for a year */
    const unsigned char *gz;  /* gzip of the file */
    size_t gz_len;
    size_t raw_len; /* bytes once inflated */
};

/* sift_ui_n_assets entries, then one with path NULL. */
extern const struct sift_ui_asset sift_ui_assets[];
extern const size_t sift_ui_n_assets;

#endif /* SIFT_UI_ASSETS_H */
