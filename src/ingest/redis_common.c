/*
 * redis_common.c - the connection pair the Redis sources share: two
 * async hiredis connections on the libevent adapter (one for commands,
 * one for blocking reads), torn down together and reconnected with
 * backoff (100 ms doubling to 5 s), plus a blocking one-shot command for
 * the final acknowledgements at free time.
 *
 * Invariants: cmd/blk are NULL once hiredis has freed them (connect
 * failure or disconnect callback); a reconnect starts only when both are
 * NULL; on_down runs once per outage, on_up once per recovery.
 * Loop thread only.
 */
#include <string.h>
#include <sys/time.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "sift/alloc.h"
#include "sift/error.h"
#include "sift/log.h"

#include "ingest/ingest_int.h"

static void pair_down(struct sift__redis_pair *rp);

static void
schedule_reconnect(struct sift__redis_pair *rp)
{
    struct timeval tv;

    if (rp->closing || evtimer_pending(rp->ev_reconnect, NULL))
        return;
    rp->backoff_ms = sift__ingest_backoff_next(rp->backoff_ms);
    tv.tv_sec = (time_t)(rp->backoff_ms / 1000);
    tv.tv_usec = (suseconds_t)(rp->backoff_ms % 1000) * 1000;
    evtimer_add(rp->ev_reconnect, &tv);
}

static void
forget(struct sift__redis_pair *rp, const redisAsyncContext *c)
{
    if (c == rp->cmd) {
        rp->cmd = NULL;
        rp->cmd_up = 0;
    }
    if (c == rp->blk) {
        rp->blk = NULL;
        rp->blk_up = 0;
    }
}

static void
on_connect(const redisAsyncContext *c, int status)
{
    struct sift__redis_pair *rp = c->data;

    if (status != REDIS_OK) {
        if (!rp->closing)
            SIFT_WARN("redis: connect %s:%d: %s", rp->host, rp->port,
                      c->errstr);
        forget(rp, c);
        pair_down(rp);
        return;
    }
    if (c == rp->cmd)
        rp->cmd_up = 1;
    if (c == rp->blk)
        rp->blk_up = 1;
    if (rp->cmd_up && rp->blk_up && !rp->up) {
        rp->up = 1;
        rp->backoff_ms = 0;
        if (rp->connects++ > 0)
            rp->reconnects++;
        SIFT_INFO("redis: connected to %s:%d", rp->host, rp->port);
        rp->on_up(rp->owner);
    }
}

static void
on_disconnect(const redisAsyncContext *c, int status)
{
    struct sift__redis_pair *rp = c->data;

    if (status != REDIS_OK && !rp->closing)
        SIFT_WARN("redis: %s:%d went away: %s", rp->host, rp->port, c->errstr);
    forget(rp, c);
    pair_down(rp);
}

/*
 * Drops one context of the pair.  A connected one is disconnected
 * politely (its disconnect callback forgets it; safe from any callback).
 * One still connecting gets no callback from hiredis when it goes, so it
 * is forgotten first and freed at once; we never run inside its callbacks
 * here because it has none in progress.
 */
static void
drop_one(struct sift__redis_pair *rp, redisAsyncContext **pp, int is_up)
{
    redisAsyncContext *ac = *pp;

    (void)rp;
    if (!ac || (ac->c.flags & REDIS_DISCONNECTING))
        return;
    if (is_up) {
        redisAsyncDisconnect(ac);
        return;
    }
    *pp = NULL;
    redisAsyncFree(ac);
}

/* One side failed: drop the other too, tell the owner, retry later. */
static void
pair_down(struct sift__redis_pair *rp)
{
    int was_up = rp->up;

    rp->up = 0;
    if (rp->closing)
        return;
    drop_one(rp, &rp->cmd, rp->cmd_up);
    drop_one(rp, &rp->blk, rp->blk_up);
    if (was_up && !rp->closing)
        rp->on_down(rp->owner);
    schedule_reconnect(rp);
}

static redisAsyncContext *
open_one(struct sift__redis_pair *rp)
{
    redisAsyncContext *ac = redisAsyncConnect(rp->host, rp->port);

    if (!ac)
        return NULL;
    if (ac->err) {
        SIFT_WARN("redis: connect %s:%d: %s", rp->host, rp->port, ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = rp;
    redisLibeventAttach(ac, rp->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    return ac;
}

static void
on_reconnect_timer(evutil_socket_t fd, short what, void *arg)
{
    struct sift__redis_pair *rp = arg;
    (void)fd;
    (void)what;
    sift__redis_pair_connect(rp);
}

void
sift__redis_pair_init(struct sift__redis_pair *rp, struct event_base *base,
                      const char *host, int port, void (*on_up)(void *),
                      void (*on_down)(void *), void *owner)
{
    memset(rp, 0, sizeof(*rp));
    rp->base = base;
    rp->host = sift_xstrdup(host);
    rp->port = port;
    rp->on_up = on_up;
    rp->on_down = on_down;
    rp->owner = owner;
    rp->ev_reconnect = evtimer_new(base, on_reconnect_timer, rp);
}

void
sift__redis_pair_connect(struct sift__redis_pair *rp)
{
    if (rp->closing)
        return;
    if (rp->cmd || rp->blk) {
        /* The last pair is still being torn down. */
        schedule_reconnect(rp);
        return;
    }
    rp->cmd = open_one(rp);
    rp->blk = rp->cmd ? open_one(rp) : NULL;
    if (!rp->cmd || !rp->blk)
        pair_down(rp);
}

void
sift__redis_pair_cleanup(struct sift__redis_pair *rp)
{
    rp->closing = 1;
    rp->up = 0;
    if (rp->cmd)
        redisAsyncFree(rp->cmd);
    if (rp->blk)
        redisAsyncFree(rp->blk);
    rp->cmd = rp->blk = NULL;
    if (rp->ev_reconnect)
        event_free(rp->ev_reconnect);
    rp->ev_reconnect = NULL;
    sift_free(rp->host);
    rp->host = NULL;
}

int
sift__redis_sync_argv(const char *host, int port, int argc, const char **argv,
                      const size_t *argvlen)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    redisReply *r;
    int rc = SIFT_OK;

    if (!c || c->err) {
        SIFT_WARN("redis: final %s to %s:%d: %s", argv[0], host, port,
                  c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return SIFT_EIO;
    }
    redisSetTimeout(c, tv);
    r = redisCommandArgv(c, argc, argv, argvlen);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        SIFT_WARN("redis: final %s: %s", argv[0], r ? r->str : c->errstr);
        rc = SIFT_EIO;
    }
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return rc;
}
