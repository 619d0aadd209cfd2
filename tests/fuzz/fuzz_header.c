/*
 * fuzz_header.c - libFuzzer target for header inference and mining
 * (src/anomaly/header.c, mine.c): messages are outside input.
 *
 * Input: lines separated by '\n'; the first byte of each line picks one
 * of four sources (so shapes are learned, changed, re-mined and matched
 * across lines), the rest is the message.  A persistent miner is kept
 * across inputs, with few sources and templates, so eviction of sources
 * and templates happens too.
 * Checks: no memory error (ASan/UBSan); every split's body lies inside
 * the line; the message is not changed; header fields point inside the
 * message or at static level names.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/event.h"
#include "sift/header.h"
#include "sift/mine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const services[4] = {"a", "b", "c", "d"};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sift_mine *m;
    static struct sift_arena *a;
    if (!m) {
        struct sift_mine_cfg cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.drain.max_templates = 64;
        cfg.header.max_sources = 3;
        cfg.header.learn_lines = 8;
        cfg.header.learn_max_lines = 40;
        sift_mine_new(&cfg, &m);
        a = sift_arena_new(1 << 16);
    }
    const char *p = (const char *)data;
    const char *end = p + size;
    char *copy = malloc(size ? size : 1);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)((nl ? nl : end) - p);
        if (len > 0) {
            sift_arena_reset(a);
            const char *msg = p + 1;
            size_t mlen = len - 1;
            memcpy(copy, msg, mlen);
            struct sift_field f = {"service.name", services[p[0] & 3], 12, 1,
                                   SIFT_FT_KEYWORD};
            struct sift_event ev;
            memset(&ev, 0, sizeof(ev));
            ev.msg = msg;
            ev.msg_len = (uint32_t)mlen;
            ev.fields = &f;
            ev.n_fields = 1;
            struct sift_header_parts hp;
            if (sift_mine_event(m, &ev, a, &hp) != 0)
                abort();
            if ((size_t)hp.body_off + hp.body_len > mlen ||
                memcmp(copy, msg, mlen) != 0 || ev.msg != msg)
                abort();
            for (uint32_t i = 0; i < ev.n_fields; i++) {
                const struct sift_field *x = &ev.fields[i];
                int inside =
                    x->value >= msg && x->value + x->value_len <= msg + mlen;
                if (i > 0 && !inside && x->type != SIFT_FT_KEYWORD)
                    abort();
            }
        }
        p = nl ? nl + 1 : end;
    }
    free(copy);
    return 0;
}
