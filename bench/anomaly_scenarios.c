/*
 * anomaly_scenarios.c - labelled-incident scenarios for the anomaly scorer,
 * with precision, recall and time-to-detect.
 *
 * Eight services replay loghub-2k lines (HDFS, Hadoop, Spark, Zookeeper,
 * OpenStack, OpenSSH, Apache, BGL), each message mined by sift's template
 * miner and scored by the real scoring core (sift_anomaly_process, the
 * code the thread runs, driven synchronously in event time).  Traffic is
 * steady: every window each service sends Poisson(rate) lines drawn at
 * random from its 2,000 (keeping each line's own level), with a slow
 * +-20% daily-like swing.  After a 1-hour warm-up, incidents are injected
 * at random times (>= 20 minutes apart), one of five kinds, each labelled
 * with its service and [start, end):
 *   error_spike   6 windows with extra ERROR events: 25% of the volume
 *                 plus 3x the service's usual error count
 *   new_pattern   6 windows with 20 lines/window of one line of a
 *                 never-seen system (Linux/HPC) whose template is new
 *   silence       12 windows with no events from the service
 *   ratio_rise    30 windows where the share of events turned into ERROR
 *                 rises linearly from 0 to 40% (volume unchanged)
 *   tmpl_spike    6 windows with max(15, 3x its usual count) extra lines
 *                 of one of the service's own lines (one template storms;
 *                 the service's total moves by 15 lines or so)
 * An alert (FIRE) is a true positive when its series names the incident's
 * service and it fires within [start, end + 3 windows); precision = true
 * alerts / all alerts; recall = incidents with at least one true alert /
 * incidents; time-to-detect = windows from the incident's reference
 * window to the end of the window that fired (at least 1).  The reference
 * is the incident's first window, except for ratio_rise, which has three
 * clocks:
 *   visible  (the one reported against the target) the first window whose
 *            expected error share exceeds the service's usual share by
 *            both 5 points and 2 binomial standard errors of one window
 *            (sqrt(p (1 - p) / expected events)): from there a single
 *            window starts to look off; before it the rise is, window by
 *            window, inside the noise (Apache: 30% errors at 30 lines per
 *            window, one standard error is 8 points);
 *   start    the incident's first window (1.3 points of extra errors);
 *   old      the first window whose share exceeds 3x the usual share plus
 *            5 points (the clock of the first version; it never starts for
 *            Apache and BGL, whose shares of 30% and 19% never triple, so
 *            they fall back to "start", and starts late for Hadoop).
 * --steady runs no incidents (every alert is false), for false-alarm
 * rates over long runs.  --seasonal gives every service a daily shape
 * (2.5x volume 08-18 UTC, steps on the hour, and a 02:00-03:00 batch job
 * sending 30 lines/window of one of its lines) and scores only alerts
 * and incidents after --learn hours; --seasonality turns the scorer's
 * hour-of-day baselines on.
 *
 * Usage: anomaly_scenarios [DATA_DIR] [--seeds N] [--hours H] [--steady]
 *        [--seasonal] [--seasonality] [--learn H] [-v]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sift/alloc.h"
#include "sift/anomaly.h"
#include "sift/buf.h"
#include "sift/clock.h"
#include "sift/drain.h"

#include "loghub_load.h"

#define MAX_LINES 2100
#define N_SVC 8
#define PI 3.14159265358979323846
#define WIN_NS (10 * SIFT_NS_PER_SEC)
#define MAX_INC 400
#define MAX_ALERTS 4096

static const char *svc_names[N_SVC] = {"HDFS",      "Hadoop",    "Spark",
                                       "Zookeeper", "OpenStack", "OpenSSH",
                                       "Apache",    "BGL"};
static const double svc_rate[N_SVC] = {120, 60, 90, 40, 150, 80, 30, 100};

struct line {
    char *msg;
    uint8_t level;
};

struct svc {
    struct line lines[MAX_LINES];
    int n;
    double err_share;
};

enum inc_kind {
    INC_SPIKE,
    INC_NEW,
    INC_SILENCE,
    INC_RISE,
    INC_TSPIKE,
    INC_KINDS
};
static const char *inc_names[INC_KINDS] = {
    "error_spike", "new_pattern", "silence", "ratio_rise", "tmpl_spike"};
static const int inc_len[INC_KINDS] = {6, 6, 12, 30, 6};

/* Time-to-detect clocks of a ratio_rise (see the header). */
enum { CLK_VISIBLE, CLK_START, CLK_OLD, N_CLK };

struct incident {
    int kind, svc;
    int64_t start_win, end_win;
    int64_t ref[N_CLK]; /* reference window of each clock, -1 = not yet */
    int detected;
    int by_template;    /* tmpl_spike: a template series fired */
    int64_t ttd[N_CLK]; /* windows */
    int novel;          /* new_pattern / tmpl_spike: line index */
    int extra;          /* tmpl_spike: extra lines per window */
};

struct opts {
    double hours;
    int steady;      /* no incidents: every alert is false */
    int shape;       /* business hours x2.5 and a 02:00 batch template */
    int seasonality; /* scorer's hour-of-day baselines */
    double learn_h;  /* alerts and incidents before this are not scored */
    int verbose;
};

struct fired {
    char series[SIFT_ALERT_SERIES_MAX];
    int kind;
    int64_t fire_win; /* window index whose end fired it */
};

static struct fired fired[MAX_ALERTS];
static int n_fired;

/* xorshift64*: deterministic per seed. */
static uint64_t rng_state;
static uint64_t
rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}
static double
unif(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}
static int
poisson(double lambda)
{
    /* Normal approximation is fine at these rates; exact for small. */
    if (lambda > 30) {
        double u1 = unif() + 1e-12, u2 = unif();
        double z = sqrt(-2 * log(u1)) * cos(2 * PI * u2);
        int v = (int)lround(lambda + sqrt(lambda) * z);
        return v < 0 ? 0 : v;
    }
    double l = exp(-lambda), p = 1;
    int k = 0;
    do {
        k++;
        p *= unif();
    } while (p > l);
    return k - 1;
}

static int
atoi_checked(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*end || v < 1 || v > 1000) ? 1 : (int)v;
}

static void
on_alert(enum sift_alert_event ev, const struct sift_alert *al, void *arg)
{
    (void)arg;
    if (ev != SIFT_ALERT_EV_FIRE || n_fired >= MAX_ALERTS)
        return;
    struct fired *f = &fired[n_fired++];
    memcpy(f->series, al->series, sizeof(f->series));
    f->kind = al->kind;
    f->fire_win = al->updated_ns / WIN_NS - 1;
}

static int
load_system(const char *dir, const char *name, struct line *out)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s/%s_2k.log_structured_corrected.csv",
             dir, name, name);
    size_t len;
    char *text = lh_read_file(path, &len);
    if (!text)
        return -1;
    const char *p = text;
    int col = 0, c_content = -1, c_level = -1, eol = 0;
    while (!eol) {
        char *h = lh_csv_field(&p, &eol);
        if (strcmp(h, "Content") == 0)
            c_content = col;
        if (strcmp(h, "Level") == 0)
            c_level = col;
        col++;
        sift_free(h);
    }
    int n = 0;
    while (*p && n < MAX_LINES) {
        col = 0;
        eol = 0;
        out[n].msg = NULL;
        out[n].level = SIFT_LVL_INFO;
        while (!eol) {
            char *f = lh_csv_field(&p, &eol);
            if (col == c_content) {
                out[n].msg = f;
                f = NULL;
            } else if (col == c_level) {
                enum sift_anomaly_level l =
                    sift_anomaly_level_parse(f, strlen(f));
                out[n].level =
                    (uint8_t)(l == SIFT_LVL_UNKNOWN ? SIFT_LVL_INFO : l);
            }
            sift_free(f);
            col++;
        }
        if (out[n].msg)
            n++;
    }
    sift_free(text);
    return n;
}

static struct svc svcs[N_SVC];
static struct line novel[2 * MAX_LINES];
static int n_novel;

static void
emit(struct sift_anomaly *an, struct sift_drain *d, int64_t win, int s,
     const char *msg, uint8_t level)
{
    int64_t ts = win * WIN_NS + (int64_t)(unif() * (double)(WIN_NS - 1));
    uint32_t tid = sift_drain_add(d, msg, strlen(msg), ts);
    struct sift_anomaly_rec rec;
    sift_anomaly_rec_init(&rec, ts, svc_names[s], strlen(svc_names[s]),
                          (enum sift_anomaly_level)level, tid);
    sift_anomaly_process(an, &rec);
}

struct totals {
    int n_alerts, n_true, n_inc, n_det, n_fast;
    int inc_by_kind[INC_KINDS], det_by_kind[INC_KINDS], fast_by_kind[INC_KINDS];
    double ttd_sum[INC_KINDS];
    int by_template;
    int rise_fast[N_CLK];
    double rise_sum[N_CLK];
    int fp_by_kind[8];
};

/* Usual count per window of the template of line k of service s. */
static double
template_rate(struct sift_drain *d, int s, int k)
{
    const char *m = svcs[s].lines[k].msg;
    uint32_t id = sift_drain_match(d, m, strlen(m));
    int same = 0;
    for (int i = 0; i < svcs[s].n; i++) {
        const char *o = svcs[s].lines[i].msg;
        same += sift_drain_match(d, o, strlen(o)) == id;
    }
    return svc_rate[s] * (double)same / svcs[s].n;
}

/* Business hours 08-18 UTC at 2.5x, the rest at 1x. */
static double
day_shape(int64_t abs_win)
{
    int h = (int)((abs_win * 10 / 3600) % 24);
    return h >= 8 && h < 18 ? 2.5 : 1.0;
}

static void
run(uint64_t seed, const struct opts *o, struct totals *t)
{
    rng_state = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
    n_fired = 0;
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.window_ns = WIN_NS;
    cfg.seasonality = o->seasonality;
    struct sift_anomaly *an;
    sift_anomaly_new(&cfg, on_alert, NULL, &an);
    struct sift_drain *d;
    sift_drain_new(NULL, &d);
    int64_t n_win = (int64_t)(o->hours * 360);
    int64_t learn = (int64_t)(o->learn_h * 360);
    int64_t t0 = INT64_C(1700000000) * SIFT_NS_PER_SEC / WIN_NS;
    /* Batch job lines (seasonal shape): one line per service. */
    int batch_line[N_SVC];
    for (int s = 0; s < N_SVC; s++)
        batch_line[s] = (int)(rnd() % (uint64_t)svcs[s].n);
    /* Plan incidents. */
    struct incident inc[MAX_INC];
    int n_inc = 0;
    for (int64_t w = 360 + (int64_t)(unif() * 60);
         !o->steady && w + 40 < n_win && n_inc < MAX_INC;
         w += 120 + (int64_t)(unif() * 60)) {
        struct incident *x = &inc[n_inc];
        memset(x, 0, sizeof(*x));
        x->kind = n_inc % INC_KINDS;
        x->svc = (int)(rnd() % N_SVC);
        x->start_win = w;
        x->end_win = w + inc_len[x->kind];
        for (int c = 0; c < N_CLK; c++) {
            x->ref[c] = c == CLK_START ? w : -1;
            x->ttd[c] = -1;
        }
        if (x->kind != INC_RISE)
            x->ref[CLK_VISIBLE] = x->ref[CLK_OLD] = w;
        n_inc++;
    }
    for (int64_t w = 0; w < n_win; w++) {
        double swing = 1 + 0.2 * sin(2 * PI * (double)w / 8640.0);
        if (o->shape)
            swing *= day_shape(t0 + w);
        int batch = o->shape && ((t0 + w) * 10 / 3600) % 24 == 2;
        for (int s = 0; s < N_SVC; s++) {
            struct incident *x = NULL;
            for (int i = 0; i < n_inc; i++)
                if (inc[i].svc == s && w >= inc[i].start_win &&
                    w < inc[i].end_win)
                    x = &inc[i];
            if (x && x->kind == INC_SILENCE)
                continue;
            double lambda = svc_rate[s] * swing;
            int n = poisson(lambda);
            double to_err = 0;
            if (x && x->kind == INC_RISE) {
                to_err =
                    0.40 * (double)(w - x->start_win + 1) / inc_len[INC_RISE];
                double p0 = svcs[s].err_share;
                double excess = (1 - p0) * to_err; /* share - p0 */
                double se = sqrt(p0 * (1 - p0) / lambda);
                if (x->ref[CLK_VISIBLE] < 0 && excess >= 0.05 &&
                    excess >= 2 * se)
                    x->ref[CLK_VISIBLE] = w;
                if (x->ref[CLK_OLD] < 0 && p0 + to_err > 3 * p0 + 0.05)
                    x->ref[CLK_OLD] = w;
            }
            for (int i = 0; i < n; i++) {
                struct line *l = &svcs[s].lines[rnd() % (uint64_t)svcs[s].n];
                uint8_t lvl = l->level;
                if (to_err > 0 && unif() < to_err)
                    lvl = SIFT_LVL_ERROR;
                emit(an, d, t0 + w, s, l->msg, lvl);
            }
            if (batch) {
                struct line *l = &svcs[s].lines[batch_line[s]];
                for (int i = 0; i < 30; i++)
                    emit(an, d, t0 + w, s, l->msg, l->level);
            }
            if (x && x->kind == INC_SPIKE) {
                int extra = (int)(0.25 * svc_rate[s] +
                                  3 * svcs[s].err_share * svc_rate[s]);
                for (int i = 0; i < extra; i++) {
                    struct line *l =
                        &svcs[s].lines[rnd() % (uint64_t)svcs[s].n];
                    emit(an, d, t0 + w, s, l->msg, SIFT_LVL_ERROR);
                }
            }
            if (x && x->kind == INC_TSPIKE) {
                if (w == x->start_win) {
                    x->novel = (int)(rnd() % (uint64_t)svcs[s].n);
                    double usual = template_rate(d, s, x->novel);
                    x->extra = (int)(3 * usual) > 15 ? (int)(3 * usual) : 15;
                }
                struct line *l = &svcs[s].lines[x->novel];
                for (int i = 0; i < x->extra; i++)
                    emit(an, d, t0 + w, s, l->msg, l->level);
            }
            if (x && x->kind == INC_NEW) {
                /* A line of an unseen system whose template nobody has
                 * sent yet, picked at the incident's first window. */
                if (w == x->start_win) {
                    int k = (int)(rnd() % (uint64_t)n_novel);
                    for (int tries = 0; tries < n_novel;
                         tries++, k = (k + 1) % n_novel)
                        if (sift_drain_match(d, novel[k].msg,
                                             strlen(novel[k].msg)) == 0)
                            break;
                    x->novel = k;
                }
                for (int i = 0; i < 20; i++)
                    emit(an, d, t0 + w, s, novel[x->novel].msg, SIFT_LVL_INFO);
            }
        }
    }
    sift_anomaly_advance(an, (t0 + n_win + 1) * WIN_NS);
    /* Score alerts against labels (both after the learning period). */
    int n_true = 0, n_alerts = 0;
    for (int a = 0; a < n_fired; a++) {
        int64_t fw = fired[a].fire_win - t0;
        if (fw < learn)
            continue;
        n_alerts++;
        int hit = 0;
        for (int i = 0; i < n_inc; i++) {
            char want[64];
            int wl = snprintf(want, sizeof(want), "service=%s",
                              svc_names[inc[i].svc]);
            if (strncmp(fired[a].series, want, (size_t)wl) != 0 ||
                (fired[a].series[wl] != '\0' && fired[a].series[wl] != ' '))
                continue;
            if (fw < inc[i].start_win || fw >= inc[i].end_win + 3)
                continue;
            hit = 1;
            if (strstr(fired[a].series, " template="))
                inc[i].by_template = 1;
            for (int c = 0; c < N_CLK; c++) {
                int64_t ref =
                    inc[i].ref[c] >= 0 ? inc[i].ref[c] : inc[i].start_win;
                int64_t ttd = fw - ref + 1;
                if (ttd < 1)
                    ttd = 1; /* fired before the clock started */
                if (!inc[i].detected || ttd < inc[i].ttd[c])
                    inc[i].ttd[c] = ttd;
            }
            inc[i].detected = 1;
        }
        n_true += hit;
        if (!hit && fired[a].kind < 8)
            t->fp_by_kind[fired[a].kind]++;
        if (o->verbose)
            printf("  alert %-40s %-12s win %lld %s\n", fired[a].series,
                   sift_alert_kind_name((enum sift_alert_kind)fired[a].kind),
                   (long long)fw, hit ? "TP" : "FP");
    }
    t->n_alerts += n_alerts;
    t->n_true += n_true;
    for (int i = 0; i < n_inc; i++) {
        int k = inc[i].kind;
        if (inc[i].start_win < learn)
            continue;
        t->n_inc++;
        t->inc_by_kind[k]++;
        if (inc[i].detected) {
            int64_t ttd = inc[i].ttd[CLK_VISIBLE];
            t->n_det++;
            t->det_by_kind[k]++;
            t->ttd_sum[k] += (double)ttd;
            if (ttd <= 3) {
                t->n_fast++;
                t->fast_by_kind[k]++;
            }
            t->by_template += k == INC_TSPIKE && inc[i].by_template;
            if (k == INC_RISE) {
                for (int c = 0; c < N_CLK; c++) {
                    t->rise_sum[c] += (double)inc[i].ttd[c];
                    t->rise_fast[c] += inc[i].ttd[c] <= 3;
                }
            }
        }
        if (o->verbose)
            printf("  incident %-11s %-9s win %lld-%lld %s ttd %lld "
                   "(start %lld)\n",
                   inc_names[k], svc_names[inc[i].svc],
                   (long long)inc[i].start_win, (long long)inc[i].end_win,
                   inc[i].detected ? "detected" : "MISSED",
                   (long long)inc[i].ttd[CLK_VISIBLE],
                   (long long)inc[i].ttd[CLK_START]);
    }
    sift_drain_free(d);
    sift_anomaly_free(an);
}

int
main(int argc, char **argv)
{
    const char *dir = SIFT_SOURCE_DIR "/tests/data/loghub-2k";
    int seeds = 5;
    struct opts o = {12, 0, 0, 0, 0, 0};
    int hours_set = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
            seeds = atoi_checked(argv[++i]);
        else if (strcmp(argv[i], "--hours") == 0 && i + 1 < argc) {
            o.hours = strtod(argv[++i], NULL);
            hours_set = 1;
        } else if (strcmp(argv[i], "--learn") == 0 && i + 1 < argc)
            o.learn_h = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--steady") == 0)
            o.steady = 1;
        else if (strcmp(argv[i], "--seasonal") == 0)
            o.shape = 1;
        else if (strcmp(argv[i], "--seasonality") == 0)
            o.seasonality = 1;
        else if (strcmp(argv[i], "-v") == 0)
            o.verbose = 1;
        else
            dir = argv[i];
    }
    if (o.hours <= 0 || o.hours > 24 * 30) {
        fprintf(stderr, "--hours must be in (0, 720]\n");
        return 2;
    }
    if (o.shape && !hours_set)
        o.hours = 96;
    if (o.shape && o.learn_h == 0)
        o.learn_h = 48;
    for (int s = 0; s < N_SVC; s++) {
        svcs[s].n = load_system(dir, svc_names[s], svcs[s].lines);
        if (svcs[s].n <= 0) {
            fprintf(stderr, "cannot read %s data under %s\n", svc_names[s],
                    dir);
            return 1;
        }
        int e = 0;
        for (int i = 0; i < svcs[s].n; i++)
            e += svcs[s].lines[i].level >= SIFT_LVL_ERROR;
        svcs[s].err_share = (double)e / svcs[s].n;
    }
    int a = load_system(dir, "Linux", novel);
    int b = load_system(dir, "HPC", novel + (a > 0 ? a : 0));
    n_novel = (a > 0 ? a : 0) + (b > 0 ? b : 0);
    if (n_novel <= 0) {
        fprintf(stderr, "cannot read Linux/HPC data\n");
        return 1;
    }
    struct totals t;
    memset(&t, 0, sizeof(t));
    clock_t c0 = clock();
    for (int s = 1; s <= seeds; s++) {
        if (o.verbose)
            printf("seed %d\n", s);
        run((uint64_t)s, &o, &t);
    }
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("anomaly scenarios: %d seeds x %.0f simulated hours, 10 s windows, "
           "default scorer settings%s%s%s\n",
           seeds, o.hours, o.steady ? ", no incidents" : "",
           o.shape ? ", daily shape" : "",
           o.seasonality ? ", seasonality on" : "");
    if (o.learn_h > 0)
        printf("scored after %.0f hours of learning\n", o.learn_h);
    printf("%-12s %9s %9s %14s %12s\n", "incident", "injected", "detected",
           "within 3 win", "mean ttd");
    for (int k = 0; k < INC_KINDS; k++)
        printf("%-12s %9d %9d %14d %12.2f\n", inc_names[k], t.inc_by_kind[k],
               t.det_by_kind[k], t.fast_by_kind[k],
               t.det_by_kind[k] ? t.ttd_sum[k] / t.det_by_kind[k] : 0.0);
    int rd = t.det_by_kind[INC_RISE];
    if (rd) {
        printf("ratio_rise clocks (within 3 / mean ttd): visible %d / %.2f, "
               "start %d / %.2f, old (3x + 5 points) %d / %.2f\n",
               t.rise_fast[CLK_VISIBLE], t.rise_sum[CLK_VISIBLE] / rd,
               t.rise_fast[CLK_START], t.rise_sum[CLK_START] / rd,
               t.rise_fast[CLK_OLD], t.rise_sum[CLK_OLD] / rd);
    }
    if (t.det_by_kind[INC_TSPIKE])
        printf("tmpl_spike detected by a template series: %d of %d\n",
               t.by_template, t.det_by_kind[INC_TSPIKE]);
    printf("alerts %d, true %d; false by kind: spike %d, drop %d, "
           "new_pattern %d, error_ratio %d\n",
           t.n_alerts, t.n_true, t.fp_by_kind[SIFT_ALERT_SPIKE],
           t.fp_by_kind[SIFT_ALERT_DROP], t.fp_by_kind[SIFT_ALERT_NEW_PATTERN],
           t.fp_by_kind[SIFT_ALERT_ERROR_RATIO]);
    printf("precision %.3f  recall %.3f  detected within 3 windows %.3f\n",
           t.n_alerts ? (double)t.n_true / t.n_alerts : 1.0,
           t.n_inc ? (double)t.n_det / t.n_inc : 1.0,
           t.n_det ? (double)t.n_fast / t.n_det : 0.0);
    printf("cpu %.1f s\n", cpu);
    return 0;
}
