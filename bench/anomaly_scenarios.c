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
 * at random times (>= 20 minutes apart), one of four kinds, each labelled
 * with its service and [start, end):
 *   error_spike   6 windows with extra ERROR events: 25% of the volume
 *                 plus 3x the service's usual error count
 *   new_pattern   6 windows with 20 lines/window of one line of a
 *                 never-seen system (Linux/HPC) whose template is new
 *   silence       12 windows with no events from the service
 *   ratio_rise    30 windows where the share of events turned into ERROR
 *                 rises linearly from 0 to 40% (volume unchanged)
 * An alert (FIRE) is a true positive when its series names the incident's
 * service and it fires within [start, end + 3 windows); precision = true
 * alerts / all alerts; recall = incidents with at least one true alert /
 * incidents; time-to-detect = windows from the incident start to the end
 * of the window that fired (ratio_rise: from the first window whose error
 * share exceeds 3x the service's usual share plus 5 points).
 *
 * Usage: anomaly_scenarios [DATA_DIR] [--seeds N] [--hours H] [-v]
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
#define MAX_INC 64
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

enum inc_kind { INC_SPIKE, INC_NEW, INC_SILENCE, INC_RISE, INC_KINDS };
static const char *inc_names[INC_KINDS] = {"error_spike", "new_pattern",
                                           "silence", "ratio_rise"};
static const int inc_len[INC_KINDS] = {6, 6, 12, 30};

struct incident {
    int kind, svc;
    int64_t start_win, end_win;
    int64_t ref_win; /* time-to-detect reference window */
    int detected;
    int64_t ttd; /* windows */
    int novel;   /* new_pattern: index of the unseen line */
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
};

static void
run(uint64_t seed, double hours, int verbose, struct totals *t)
{
    rng_state = seed * UINT64_C(0x9e3779b97f4a7c15) + 1;
    n_fired = 0;
    struct sift_anomaly_cfg cfg;
    sift_anomaly_cfg_init(&cfg);
    cfg.window_ns = WIN_NS;
    struct sift_anomaly *an;
    sift_anomaly_new(&cfg, on_alert, NULL, &an);
    struct sift_drain *d;
    sift_drain_new(NULL, &d);
    int64_t n_win = (int64_t)(hours * 360);
    int64_t t0 = INT64_C(1700000000) * SIFT_NS_PER_SEC / WIN_NS;
    /* Plan incidents. */
    struct incident inc[MAX_INC];
    int n_inc = 0;
    for (int64_t w = 360 + (int64_t)(unif() * 60);
         w + 40 < n_win && n_inc < MAX_INC; w += 120 + (int64_t)(unif() * 60)) {
        struct incident *x = &inc[n_inc];
        x->kind = n_inc % INC_KINDS;
        x->svc = (int)(rnd() % N_SVC);
        x->start_win = w;
        x->end_win = w + inc_len[x->kind];
        x->ref_win = w;
        x->detected = 0;
        x->ttd = -1;
        n_inc++;
    }
    for (int64_t w = 0; w < n_win; w++) {
        double swing = 1 + 0.2 * sin(2 * PI * (double)w / 8640.0);
        for (int s = 0; s < N_SVC; s++) {
            struct incident *x = NULL;
            for (int i = 0; i < n_inc; i++)
                if (inc[i].svc == s && w >= inc[i].start_win &&
                    w < inc[i].end_win)
                    x = &inc[i];
            if (x && x->kind == INC_SILENCE)
                continue;
            int n = poisson(svc_rate[s] * swing);
            double to_err = 0;
            if (x && x->kind == INC_RISE) {
                to_err =
                    0.40 * (double)(w - x->start_win + 1) / inc_len[INC_RISE];
                double share = svcs[s].err_share + to_err;
                if (x->ref_win == x->start_win &&
                    share > 3 * svcs[s].err_share + 0.05)
                    x->ref_win = w + 1; /* sentinel fixed below */
            }
            for (int i = 0; i < n; i++) {
                struct line *l = &svcs[s].lines[rnd() % (uint64_t)svcs[s].n];
                uint8_t lvl = l->level;
                if (to_err > 0 && unif() < to_err)
                    lvl = SIFT_LVL_ERROR;
                emit(an, d, t0 + w, s, l->msg, lvl);
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
    /* Score alerts against labels. */
    int n_true = 0;
    for (int a = 0; a < n_fired; a++) {
        int64_t fw = fired[a].fire_win - t0;
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
            int64_t ref =
                inc[i].kind == INC_RISE && inc[i].ref_win > inc[i].start_win
                    ? inc[i].ref_win - 1
                    : inc[i].start_win;
            int64_t ttd = fw - ref + 1;
            if (!inc[i].detected || ttd < inc[i].ttd)
                inc[i].ttd = ttd;
            inc[i].detected = 1;
        }
        n_true += hit;
        if (verbose)
            printf("  alert %-40s %-12s win %lld %s\n", fired[a].series,
                   sift_alert_kind_name((enum sift_alert_kind)fired[a].kind),
                   (long long)fw, hit ? "TP" : "FP");
    }
    t->n_alerts += n_fired;
    t->n_true += n_true;
    for (int i = 0; i < n_inc; i++) {
        int k = inc[i].kind;
        t->n_inc++;
        t->inc_by_kind[k]++;
        if (inc[i].detected) {
            t->n_det++;
            t->det_by_kind[k]++;
            t->ttd_sum[k] += (double)inc[i].ttd;
            if (inc[i].ttd <= 3) {
                t->n_fast++;
                t->fast_by_kind[k]++;
            }
        }
        if (verbose)
            printf("  incident %-11s %-9s win %lld-%lld %s ttd %lld\n",
                   inc_names[k], svc_names[inc[i].svc],
                   (long long)inc[i].start_win, (long long)inc[i].end_win,
                   inc[i].detected ? "detected" : "MISSED",
                   (long long)inc[i].ttd);
    }
    sift_drain_free(d);
    sift_anomaly_free(an);
}

int
main(int argc, char **argv)
{
    const char *dir = SIFT_SOURCE_DIR "/../shared/data/loghub-2k";
    int seeds = 5, verbose = 0;
    double hours = 12;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc)
            seeds = atoi_checked(argv[++i]);
        else if (strcmp(argv[i], "--hours") == 0 && i + 1 < argc)
            hours = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            dir = argv[i];
    }
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
        if (verbose)
            printf("seed %d\n", s);
        run((uint64_t)s, hours, verbose, &t);
    }
    double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    printf("anomaly scenarios: %d seeds x %.0f simulated hours, 10 s windows, "
           "default scorer settings\n",
           seeds, hours);
    printf("%-12s %9s %9s %14s %12s\n", "incident", "injected", "detected",
           "within 3 win", "mean ttd");
    for (int k = 0; k < INC_KINDS; k++)
        printf("%-12s %9d %9d %14d %12.2f\n", inc_names[k], t.inc_by_kind[k],
               t.det_by_kind[k], t.fast_by_kind[k],
               t.det_by_kind[k] ? t.ttd_sum[k] / t.det_by_kind[k] : 0.0);
    printf("alerts %d, true %d\n", t.n_alerts, t.n_true);
    printf("precision %.3f  recall %.3f  detected within 3 windows %.3f\n",
           t.n_alerts ? (double)t.n_true / t.n_alerts : 1.0,
           t.n_inc ? (double)t.n_det / t.n_inc : 1.0,
           t.n_det ? (double)t.n_fast / t.n_det : 0.0);
    printf("cpu %.1f s\n", cpu);
    return 0;
}
