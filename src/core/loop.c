/*
 * loop.c - the main libevent loop, signals, timers and cross-thread posts.
 *
 * Design: one event_base per process, created after
 * evthread_use_pthreads() so event_base_loopbreak() works from any
 * thread.  Other threads never touch libevent: sift_loop_post() appends
 * (fn, arg) to a mutex-protected FIFO and writes to an eventfd; the loop
 * watches the eventfd, takes the whole list under the lock and runs it
 * outside the lock, so a callback may post again without deadlock.
 *
 * Signals are libevent signal events (the handler only writes to
 * libevent's internal socketpair), so the callbacks run as ordinary loop
 * callbacks where anything is allowed.  SIGPIPE is ignored process-wide:
 * a client that goes away shows up as EPIPE on the write instead.
 *
 * Stop: sift_loop_stop() sets a flag and wakes the loop through the
 * eventfd; the wakeup callback breaks the loop.  That closes the race in
 * which a stop arriving just before event_base_loop() starts is lost.
 *
 * Context: sift_loop_post() and sift_loop_stop() from any thread; the rest
 * on the loop thread.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/log.h"
#include "sift/loop.h"

struct post_node {
    sift_loop_cb fn;
    void *arg;
    struct post_node *next;
};

struct sift_loop {
    struct event_base *base;
    int wake_fd; /* eventfd; written by post/stop */
    struct event *wake_ev;
    pthread_mutex_t lock; /* guards head/tail */
    struct post_node *head;
    struct post_node *tail;
    atomic_int stop_requested;
    struct event *sig_ev[3]; /* SIGTERM, SIGINT, SIGHUP */
    sift_loop_cb on_stop;
    sift_loop_cb on_reload;
    void *sig_arg;
};

struct sift_timer {
    struct event *ev;
    sift_loop_cb fn;
    void *arg;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static int evthread_rc;

/* libevent's own messages go through our log, in our format. */
static void
libevent_log(int severity, const char *msg)
{
    enum sift_log_level lvl = severity >= EVENT_LOG_ERR    ? SIFT_LOG_ERROR
                              : severity == EVENT_LOG_WARN ? SIFT_LOG_WARN
                                                           : SIFT_LOG_DEBUG;
    sift_log(lvl, "libevent: %s", msg);
}

static void
init_evthread(void)
{
    event_set_log_callback(libevent_log);
    evthread_rc = evthread_use_pthreads();
}

static void
wake(struct sift_loop *loop)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake. */
    ssize_t w = write(loop->wake_fd, &one, sizeof(one));
    (void)w;
}

/* Takes the posted list and runs it in FIFO order. */
static void
run_posted(struct sift_loop *loop)
{
    pthread_mutex_lock(&loop->lock);
    struct post_node *n = loop->head;
    loop->head = loop->tail = NULL;
    pthread_mutex_unlock(&loop->lock);

    while (n != NULL) {
        struct post_node *next = n->next;
        n->fn(n->arg);
        sift_free(n);
        n = next;
    }
}

static void
on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct sift_loop *loop = arg;
    uint64_t v;
    (void)what;

    ssize_t r = read(fd, &v, sizeof(v));
    (void)r; /* EAGAIN: a spurious wakeup, nothing to drain */
    run_posted(loop);
    if (atomic_load(&loop->stop_requested))
        event_base_loopbreak(loop->base);
}

int
sift_loop_new(struct sift_loop **out)
{
    struct sift_loop *loop = NULL;
    int rc;

    pthread_once(&evthread_once, init_evthread);
    if (evthread_rc != 0) {
        SIFT_ERROR("evthread_use_pthreads failed");
        return SIFT_EINVAL;
    }
    /* A vanished peer must surface as EPIPE, not kill the daemon. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);

    loop = sift_xcalloc(1, sizeof(*loop));
    loop->wake_fd = -1;
    pthread_mutex_init(&loop->lock, NULL);
    loop->base = event_base_new();
    if (loop->base == NULL) {
        SIFT_ERROR("event_base_new failed");
        rc = SIFT_ENOMEM;
        goto fail;
    }
    loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wake_fd < 0) {
        rc = -errno;
        SIFT_ERROR("eventfd: %s", sift_strerror(rc));
        goto fail;
    }
    loop->wake_ev = event_new(loop->base, loop->wake_fd, EV_READ | EV_PERSIST,
                              on_wake, loop);
    if (loop->wake_ev == NULL || event_add(loop->wake_ev, NULL) != 0) {
        SIFT_ERROR("cannot watch the loop's eventfd");
        rc = SIFT_ENOMEM;
        goto fail;
    }
    *out = loop;
    return SIFT_OK;
fail:
    sift_loop_free(loop);
    return rc;
}

void
sift_loop_free(struct sift_loop *loop)
{
    if (loop == NULL)
        return;
    for (int i = 0; i < 3; i++) {
        if (loop->sig_ev[i] != NULL)
            event_free(loop->sig_ev[i]);
    }
    if (loop->wake_ev != NULL)
        event_free(loop->wake_ev);
    if (loop->wake_fd >= 0)
        close(loop->wake_fd);
    /* Anything still posted is dropped, as the contract says. */
    struct post_node *n = loop->head;
    while (n != NULL) {
        struct post_node *next = n->next;
        sift_free(n);
        n = next;
    }
    if (loop->base != NULL)
        event_base_free(loop->base);
    pthread_mutex_destroy(&loop->lock);
    sift_free(loop);
}

struct event_base *
sift_loop_base(struct sift_loop *loop)
{
    return loop->base;
}

int
sift_loop_run(struct sift_loop *loop)
{
    int rc = SIFT_OK;

    if (!atomic_load(&loop->stop_requested)) {
        if (event_base_loop(loop->base, EVLOOP_NO_EXIT_ON_EMPTY) < 0) {
            SIFT_ERROR("event_base_loop failed");
            rc = SIFT_EIO;
        }
    }
    /* Consumed: the loop may be run again (the shutdown drain does). */
    atomic_store(&loop->stop_requested, 0);
    return rc;
}

void
sift_loop_stop(struct sift_loop *loop)
{
    atomic_store(&loop->stop_requested, 1);
    wake(loop);
}

void
sift_loop_post(struct sift_loop *loop, sift_loop_cb fn, void *arg)
{
    struct post_node *n = sift_xmalloc(sizeof(*n));
    n->fn = fn;
    n->arg = arg;
    n->next = NULL;

    pthread_mutex_lock(&loop->lock);
    int was_empty = loop->head == NULL;
    if (loop->tail != NULL)
        loop->tail->next = n;
    else
        loop->head = n;
    loop->tail = n;
    pthread_mutex_unlock(&loop->lock);
    if (was_empty)
        wake(loop);
}

void
sift_loop_run_posted(struct sift_loop *loop)
{
    /* Callbacks may post more (a done callback freeing the next stage);
     * keep going until the list stays empty, bounded against a cycle. */
    for (int round = 0; round < 1000; round++) {
        pthread_mutex_lock(&loop->lock);
        int empty = loop->head == NULL;
        pthread_mutex_unlock(&loop->lock);
        if (empty)
            return;
        run_posted(loop);
    }
    SIFT_WARN("posted callbacks keep posting; giving up after 1000 rounds");
}

/* ---------------------------------------------------------------------- */
/* Signals                                                                 */
/* ---------------------------------------------------------------------- */

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct sift_loop *loop = arg;
    (void)what;

    if (sig == SIGHUP) {
        SIFT_INFO("SIGHUP received: reloading configuration");
        if (loop->on_reload != NULL)
            loop->on_reload(loop->sig_arg);
        return;
    }
    SIFT_INFO("%s received: shutting down",
              sig == SIGTERM ? "SIGTERM" : "SIGINT");
    if (loop->on_stop != NULL)
        loop->on_stop(loop->sig_arg);
    else
        sift_loop_stop(loop);
}

int
sift_loop_on_signals(struct sift_loop *loop, sift_loop_cb on_stop,
                     sift_loop_cb on_reload, void *arg)
{
    static const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};

    loop->on_stop = on_stop;
    loop->on_reload = on_reload;
    loop->sig_arg = arg;
    for (int i = 0; i < 3; i++) {
        if (loop->sig_ev[i] != NULL)
            continue;
        loop->sig_ev[i] = evsignal_new(loop->base, sigs[i], on_signal, loop);
        if (loop->sig_ev[i] == NULL || event_add(loop->sig_ev[i], NULL) != 0) {
            SIFT_ERROR("cannot install handler for signal %d", sigs[i]);
            return SIFT_EINVAL;
        }
    }
    return SIFT_OK;
}

/* ---------------------------------------------------------------------- */
/* Timers                                                                  */
/* ---------------------------------------------------------------------- */

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sift_timer *t = arg;
    (void)fd;
    (void)what;
    t->fn(t->arg);
}

struct sift_timer *
sift_loop_timer_new(struct sift_loop *loop, uint32_t period_ms, sift_loop_cb fn,
                    void *arg)
{
    assert(period_ms > 0);
    struct sift_timer *t = sift_xcalloc(1, sizeof(*t));
    struct timeval tv = {(time_t)(period_ms / 1000),
                         (suseconds_t)((period_ms % 1000) * 1000)};

    t->fn = fn;
    t->arg = arg;
    t->ev = event_new(loop->base, -1, EV_PERSIST, on_timer, t);
    if (t->ev == NULL || event_add(t->ev, &tv) != 0) {
        /* Only fails on OOM inside libevent; treat like sift_xmalloc. */
        SIFT_ERROR("cannot create a %u ms timer", period_ms);
        abort();
    }
    return t;
}

void
sift_loop_timer_free(struct sift_timer *t)
{
    if (t == NULL)
        return;
    event_free(t->ev);
    sift_free(t);
}
