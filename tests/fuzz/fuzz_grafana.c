/*
 * fuzz_grafana.c - arbitrary bytes as a Grafana /query body (plan, ad-hoc
 * filters, time range) and as engine results (frame shaping).
 */
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../../src/api/grafana_int.h"
#include "sift/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *body = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
    struct sift_gf_limits lim = {.default_hits = 100, .max_hits = 1000};
    struct sift_gf_plan plan;
    struct sift_gf_error err;
    if (body) {
        (void)sift__gf_plan_query(body, &lim, INT64_C(1715677200000000000),
                                  &plan, &err);
        sift__gf_plan_cleanup(&plan);
        struct sift_buf b = SIFT_BUF_INIT;
        (void)sift__gf_filters_query(json_object_get(body, "filters"), &b,
                                     &err);
        sift_buf_cleanup(&b);
    }
    struct sift_gf_target t = {.kind = SIFT_GF_COUNT, .ref_id = "A"};
    char by[] = "service";
    json_t *frames = json_array();
    (void)sift__gf_frame_count(&t, (const char *)data, size, 3, frames);
    t.by = by;
    (void)sift__gf_frame_count(&t, (const char *)data, size, 1000, frames);
    (void)sift__gf_frame_logs(&t, (const char *)data, size, 5, 0, frames);
    (void)sift__gf_frame_terms(&t, (const char *)data, size, frames);
    (void)sift__gf_fields_list((const char *)data, size, SIFT_GF_FIELDS_ALL,
                               SIFT_GF_STYLE_TAGS, frames);
    (void)sift__gf_values_list((const char *)data, size, SIFT_GF_STYLE_VARIABLE,
                               frames);
    json_decref(frames);
    json_decref(body);
    return 0;
}
