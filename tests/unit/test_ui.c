/*
 * test_ui.c - the web UI's server side (src/api/ui.c) and the asset table
 * the build generates from ui/dist (ui/embed_assets.c): content
 * negotiation (Accept-Encoding, If-None-Match, Accept) and the table's
 * files, each checked against its ETag and its size once inflated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>
#include <zlib.h>

#include "api/ui_assets.h"
#include "sift/http.h"

int accepts_gzip(const char *ae);
int etag_matches(const char *inm, const char *etag);
const struct sift_ui_asset *find_asset(const char *rel);

static void
test_ui_accepts_gzip(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        int want;
    } cases[] = {
        {NULL, 0},
        {"", 0},
        {"gzip", 1},
        {"GZip", 1},
        {"x-gzip", 1},
        {"gzip, deflate, br, zstd", 1},
        {"deflate, gzip;q=1.0, *;q=0.5", 1},
        {"br;q=1.0, gzip ; q=0.8", 1},
        {"gzip;q=0", 0},
        {"gzip; q=0.000", 0},
        {"gzip;q=0.001", 1},
        {"identity", 0},
        {"br, zstd", 0},
        {"*", 1},
        {"*;q=0", 0},
        {"gzip;q=0, *", 0}, /* named with q=0 wins over the wildcard */
        {"*;q=0, gzip", 1},
        {"gzipx", 0},
        {"deflate;level=9;q=0, gzip;foo=bar", 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (accepts_gzip(cases[i].header) != cases[i].want)
            fail_msg("Accept-Encoding [%s]: want %d", cases[i].header,
                     cases[i].want);
}

static void
test_ui_etag_matches(void **state)
{
    (void)state;
    const char *etag = "\"0123456789abcdef\"";
    assert_false(etag_matches(NULL, etag));
    assert_false(etag_matches("", etag));
    assert_true(etag_matches("\"0123456789abcdef\"", etag));
    assert_true(etag_matches("W/\"0123456789abcdef\"", etag));
    assert_true(etag_matches("\"aaaa\", \"0123456789abcdef\"", etag));
    assert_true(etag_matches("*", etag));
    assert_false(etag_matches("\"0123456789abcdee\"", etag));
    assert_false(etag_matches("0123456789abcdef", etag)); /* unquoted */
    assert_false(etag_matches("\"0123456789abcdef", etag));
    assert_false(etag_matches("\"0123456789abcdef\"x", etag));
}

static void
test_ui_wants_html(void **state)
{
    (void)state;
    /* What browsers send when they navigate, and what tools send. */
    assert_true(
        sift_http_accepts_html("text/html,application/xhtml+xml,application/"
                               "xml;q=0.9,image/avif,*/*;q=0.8"));
    assert_true(sift_http_accepts_html("application/xhtml+xml"));
    assert_true(sift_http_accepts_html("TEXT/HTML"));
    assert_false(sift_http_accepts_html(NULL));
    assert_false(sift_http_accepts_html("*/*"));
    assert_false(sift_http_accepts_html("application/json"));
    assert_false(sift_http_accepts_html("text/htmlx"));
}

/* Every file of the table inflates to its size and matches its ETag. */
static void
test_ui_asset_table(void **state)
{
    (void)state;
    assert_null(sift_ui_assets[sift_ui_n_assets].path);
    if (sift_ui_n_assets == 0)
        return; /* built without ui/dist: nothing more to check */
    assert_non_null(find_asset(""));
    assert_ptr_equal(find_asset(""), find_asset("index.html"));
    assert_null(find_asset("no/such/file.js"));
    assert_null(find_asset("../index.html"));
    for (size_t i = 0; i < sift_ui_n_assets; i++) {
        const struct sift_ui_asset *a = &sift_ui_assets[i];
        assert_ptr_equal(find_asset(a->path), a);
        unsigned char *raw = malloc(a->raw_len + 1);
        assert_non_null(raw);
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
        z.next_in = (Bytef *)(uintptr_t)a->gz;
        z.avail_in = (uInt)a->gz_len;
        z.next_out = raw;
        z.avail_out = (uInt)a->raw_len + 1;
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_int_equal(z.total_out, a->raw_len);
        inflateEnd(&z);
        char etag[24];
        snprintf(etag, sizeof(etag), "\"%016llx\"",
                 (unsigned long long)XXH3_64bits(raw, a->raw_len));
        assert_string_equal(a->etag, etag);
        /* Hashed names (the bundler's assets/) are the immutable ones. */
        assert_int_equal(a->immutable, strncmp(a->path, "assets/", 7) == 0);
        if (strcmp(a->path, "index.html") == 0)
            assert_string_equal(a->content_type, "text/html; charset=utf-8");
        free(raw);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ui_accepts_gzip),
        cmocka_unit_test(test_ui_etag_matches),
        cmocka_unit_test(test_ui_wants_html),
        cmocka_unit_test(test_ui_asset_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
