/*
 * ui.h - the built-in web UI: its files under /ui/ (compiled into siftd
 * from ui/dist); main has the root (root_api.h) send browsers there.
 *
 * See src/api/ui.c for caching and compression, docs/ui.md for the UI.
 * Loop thread.
 */
#ifndef SIFT_UI_H
#define SIFT_UI_H

struct sift_http;

/* Where the UI lives; the root sends browsers there (root_api.h). */
#define SIFT_UI_PATH "/ui/"

/**
 * Registers GET /ui (redirect to /ui/) and GET /ui/... (the files;
 * /ui/ is index.html) on http, all open to every client (the files hold no
 * data; the page asks the API for everything with the user's token).
 * Loop thread, at start-up.
 */
void sift_ui_register(struct sift_http *http);

#endif /* SIFT_UI_H */
