/*
 * ui.c - serves the built-in web UI under /ui/ and sends browsers that
 * open the root there.
 *
 * Design: the UI is a static single-page application (sources in ui/,
 * built bundle in ui/dist, docs/ui.md).  Its files are compiled into
 * siftd at build time (ui/embed_assets.c generates the table of
 * src/api/ui_assets.h), already gzip'd, so siftd needs no files on disk,
 * works offline and serves the UI on the same listeners, TLS and limits
 * as the API.  Every reply carries the file's ETag (a conditional request
 * that matches gets 304); files with a content hash in their name
 * (assets/...) may be cached for a year, index.html is revalidated on
 * every load, so a new siftd is picked up at the next page load.  Clients
 * that do not accept gzip get the bytes inflated on the fly.
 *
 * The files are public (role none): they hold no data, and the page must
 * load to ask for a token.  Everything the page shows comes from the API
 * with the user's token, under the API's roles.  The HTML page is sent
 * with a Content-Security-Policy that allows only siftd's own scripts.
 *
 * GET / (and HEAD /) from a browser (Accept names text/html) is
 * redirected to /ui/ by the root handler (root_api.c); other clients get
 * the Elasticsearch root answer there.
 *
 * Context: loop thread only (HTTP handlers).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "api/ui_assets.h"
#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/http.h"
#include "sift/ui.h"

#define UI_PREFIX SIFT_UI_PATH
#define CACHE_IMMUTABLE "public, max-age=31536000, immutable"
#define CSP                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self' "                 \
    "'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "              \
    "object-src 'none'; base-uri 'none'; form-action 'none'; "                 \
    "frame-ancestors 'none'"

/* Skips blanks. */
static const char *
skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/*
 * Whether an Accept-Encoding value allows gzip: "gzip" (or "x-gzip", or
 * "*" when gzip is not named) listed without q=0 (RFC 9110 12.5.3).  NULL
 * (no header) allows identity only.
 */
SIFT_STATIC int
accepts_gzip(const char *ae)
{
    int gzip = -1, star = -1;
    if (ae == NULL)
        return 0;
    for (const char *p = ae; *p;) {
        size_t n = strcspn(p, ",");
        char el[64];
        size_t k = 0;
        for (size_t i = 0; i < n && k + 1 < sizeof(el); i++)
            if (p[i] != ' ' && p[i] != '\t')
                el[k++] = (char)tolower((unsigned char)p[i]);
        el[k] = '\0';
        double q = 1.0;
        char *prm = strchr(el, ';');
        if (prm != NULL)
            *prm++ = '\0';
        while (prm != NULL) {
            char *next = strchr(prm, ';');
            if (next != NULL)
                *next++ = '\0';
            if (strncmp(prm, "q=", 2) == 0)
                q = strtod(prm + 2, NULL);
            prm = next;
        }
        if (strcmp(el, "gzip") == 0 || strcmp(el, "x-gzip") == 0)
            gzip = q > 0;
        else if (strcmp(el, "*") == 0)
            star = q > 0;
        p += n;
        if (*p == ',')
            p++;
    }
    return gzip >= 0 ? gzip : star > 0;
}

/*
 * Whether If-None-Match (a list of entity tags, or "*") names etag.
 * Weak comparison, as RFC 9110 13.1.2 asks for If-None-Match.
 */
SIFT_STATIC int
etag_matches(const char *inm, const char *etag)
{
    if (inm == NULL)
        return 0;
    size_t elen = strlen(etag);
    for (const char *p = inm; *p;) {
        p = skip_blanks(p);
        if (*p == '*')
            return 1;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        size_t n = strcspn(p, ", \t");
        if (n == elen && memcmp(p, etag, n) == 0)
            return 1;
        p += n;
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    return 0;
}

/* The asset at rel ("" means index.html), or NULL. */
SIFT_STATIC const struct sift_ui_asset *
find_asset(const char *rel)
{
    if (*rel == '\0')
        rel = "index.html";
    for (size_t i = 0; i < sift_ui_n_assets; i++)
        if (strcmp(sift_ui_assets[i].path, rel) == 0)
            return &sift_ui_assets[i];
    return NULL;
}

/* Inflates a gzip'd asset into a new buffer of raw_len bytes, or NULL. */
static unsigned char *
inflate_asset(const struct sift_ui_asset *a)
{
    unsigned char *out = sift_try_malloc(a->raw_len ? a->raw_len : 1);
    if (out == NULL)
        return NULL;
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK) {
        sift_free(out);
        return NULL;
    }
    z.next_in = (Bytef *)(uintptr_t)a->gz;
    z.avail_in = (uInt)a->gz_len;
    z.next_out = out;
    z.avail_out = (uInt)a->raw_len;
    int zr = inflate(&z, Z_FINISH);
    size_t got = z.total_out;
    inflateEnd(&z);
    if (zr != Z_STREAM_END || got != a->raw_len) {
        sift_free(out);
        return NULL;
    }
    return out;
}

static void
send_asset(struct sift_http_req *req, const struct sift_ui_asset *a)
{
    sift_http_add_header(req, "ETag", a->etag);
    sift_http_add_header(req, "Cache-Control",
                         a->immutable ? CACHE_IMMUTABLE : "no-cache");
    sift_http_add_header(req, "Vary", "Accept-Encoding");
    sift_http_add_header(req, "X-Content-Type-Options", "nosniff");
    if (strncmp(a->content_type, "text/html", 9) == 0) {
        sift_http_add_header(req, "Content-Security-Policy", CSP);
        sift_http_add_header(req, "X-Frame-Options", "DENY");
        sift_http_add_header(req, "Referrer-Policy", "no-referrer");
    }
    if (etag_matches(sift_http_req_header(req, "If-None-Match"), a->etag)) {
        sift_http_reply(req, 304, NULL, NULL, 0);
        return;
    }
    if (accepts_gzip(sift_http_req_header(req, "Accept-Encoding"))) {
        sift_http_add_header(req, "Content-Encoding", "gzip");
        sift_http_reply(req, 200, a->content_type, a->gz, a->gz_len);
        return;
    }
    unsigned char *raw = inflate_asset(a);
    if (raw == NULL) {
        sift_http_reply_error(req, 503, "out_of_memory",
                              "cannot inflate %s (ask with "
                              "Accept-Encoding: gzip)",
                              a->path);
        return;
    }
    sift_http_reply(req, 200, a->content_type, raw, a->raw_len);
    sift_free(raw);
}

static void
on_ui(struct sift_http_req *req, void *arg)
{
    (void)arg;
    const char *path = sift_http_req_path(req);
    if (strcmp(path, "/ui") == 0) {
        sift_http_add_header(req, "Location", UI_PREFIX);
        sift_http_reply(req, 301, NULL, NULL, 0);
        return;
    }
    const struct sift_ui_asset *a = find_asset(path + strlen(UI_PREFIX));
    if (a == NULL) {
        if (sift_ui_n_assets == 0)
            sift_http_reply_error(req, 404, "not_found",
                                  "this siftd was built without the web UI "
                                  "(ui/dist was empty)");
        else
            sift_http_reply_error(req, 404, "not_found",
                                  "no such file in the web UI: %.200s", path);
        return;
    }
    send_asset(req, a);
}

void
sift_ui_register(struct sift_http *http)
{
    /* GET / is root_api.c's (the Elasticsearch root); main has it send
     * browsers here (SIFT_UI_PATH). */
    sift_http_route(http, "GET", "/ui", 0, SIFT_ROLE_NONE, on_ui, NULL);
    sift_http_route(http, "GET", UI_PREFIX, SIFT_ROUTE_PREFIX, SIFT_ROLE_NONE,
                    on_ui, NULL);
}
