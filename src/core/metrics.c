/*
 * metrics.c - Prometheus text exposition: collectors and histograms.
 *
 * The registry is a small array of (callback, arg) pairs, appended at
 * start-up and walked by the /metrics handler on the loop thread.
 * Histograms are lock-free: each observation bumps one bucket counter
 * (the first bound >= v) and adds to the sum with a CAS loop; rendering
 * turns the per-bucket counts into the cumulative counts Prometheus
 * expects, so _count always equals the +Inf bucket.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/metrics.h"

struct collector {
    sift_metrics_collect_cb cb;
    void *arg;
};

struct sift_metrics {
    struct collector *items;
    size_t n;
    size_t cap;
};

int
sift_metrics_new(struct sift_metrics **out)
{
    *out = sift_xcalloc(1, sizeof(**out));
    return SIFT_OK;
}

void
sift_metrics_free(struct sift_metrics *m)
{
    if (!m)
        return;
    sift_free(m->items);
    sift_free(m);
}

void
sift_metrics_register(struct sift_metrics *m, sift_metrics_collect_cb cb,
                      void *arg)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->items = sift_xrealloc(m->items, m->cap * sizeof(*m->items));
    }
    m->items[m->n].cb = cb;
    m->items[m->n].arg = arg;
    m->n++;
}

void
sift_metrics_render(struct sift_metrics *m, struct sift_buf *out)
{
    for (size_t i = 0; i < m->n; i++)
        m->items[i].cb(out, m->items[i].arg);
}

void
sift_metrics_family(struct sift_buf *out, const char *name,
                    enum sift_metric_type type, const char *help)
{
    static const char *const names[] = {"counter", "gauge", "histogram"};
    sift_buf_appendf(out, "# HELP %s ", name);
    /* HELP text escapes only backslash and newline. */
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            sift_buf_append(out, "\\\\", 2);
        else if (*p == '\n')
            sift_buf_append(out, "\\n", 2);
        else
            sift_buf_putc(out, *p);
    }
    sift_buf_appendf(out, "\n# TYPE %s %s\n", name, names[type]);
}

static void
put_labels(struct sift_buf *out, const char *const *labels, const char *le)
{
    int any = 0;
    if (labels) {
        for (size_t i = 0; labels[i] && labels[i + 1]; i += 2) {
            sift_buf_putc(out, any ? ',' : '{');
            any = 1;
            sift_buf_appendf(out, "%s=\"", labels[i]);
            for (const char *p = labels[i + 1]; *p; p++) {
                if (*p == '\\' || *p == '"')
                    sift_buf_putc(out, '\\');
                if (*p == '\n') {
                    sift_buf_append(out, "\\n", 2);
                    continue;
                }
                sift_buf_putc(out, *p);
            }
            sift_buf_putc(out, '"');
        }
    }
    if (le) {
        sift_buf_putc(out, any ? ',' : '{');
        any = 1;
        sift_buf_appendf(out, "le=\"%s\"", le);
    }
    if (any)
        sift_buf_putc(out, '}');
}

static void
put_value(struct sift_buf *out, double v)
{
    char tmp[40];
    size_t n = sift_fmt_double(tmp, sizeof(tmp), v); /* NaN, +Inf as well */
    sift_buf_append(out, tmp, n);
}

void
sift_metrics_sample(struct sift_buf *out, const char *name,
                    const char *const *labels, double value)
{
    sift_buf_append(out, name, strlen(name));
    put_labels(out, labels, NULL);
    sift_buf_putc(out, ' ');
    put_value(out, value);
    sift_buf_putc(out, '\n');
}

void
sift_histogram_init(struct sift_histogram *h, const double *bounds,
                    size_t n_bounds)
{
    if (n_bounds > SIFT_HISTOGRAM_MAX_BUCKETS)
        n_bounds = SIFT_HISTOGRAM_MAX_BUCKETS;
    h->n_bounds = n_bounds;
    for (size_t i = 0; i < n_bounds; i++)
        h->bounds[i] = bounds[i];
    for (size_t i = 0; i <= SIFT_HISTOGRAM_MAX_BUCKETS; i++)
        atomic_init(&h->counts[i], 0);
    atomic_init(&h->sum, 0.0);
}

void
sift_histogram_init_latency(struct sift_histogram *h)
{
    static const double b[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                               0.025,  0.05,  0.1,    0.25,  0.5,
                               1,      2.5,   5,      10,    30};
    sift_histogram_init(h, b, sizeof(b) / sizeof(b[0]));
}

void
sift_histogram_observe(struct sift_histogram *h, double v)
{
    size_t i = 0;
    while (i < h->n_bounds && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    double cur = atomic_load_explicit(&h->sum, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &h->sum, &cur, cur + v, memory_order_relaxed, memory_order_relaxed))
        ;
}

void
sift_histogram_render(const struct sift_histogram *h, struct sift_buf *out,
                      const char *name, const char *const *labels)
{
    uint64_t cum = 0;
    char le[64];
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cum += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (i < h->n_bounds)
            sift_fmt_double(le, sizeof(le), h->bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        sift_buf_appendf(out, "%s_bucket", name);
        put_labels(out, labels, le);
        sift_buf_appendf(out, " %llu\n", (unsigned long long)cum);
    }
    sift_buf_appendf(out, "%s_sum", name);
    put_labels(out, labels, NULL);
    sift_buf_putc(out, ' ');
    put_value(out, atomic_load_explicit(&h->sum, memory_order_relaxed));
    sift_buf_appendf(out, "\n%s_count", name);
    put_labels(out, labels, NULL);
    sift_buf_appendf(out, " %llu\n", (unsigned long long)cum);
}
