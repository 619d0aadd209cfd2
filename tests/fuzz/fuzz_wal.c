/*
 * fuzz_wal.c - arbitrary bytes as a WAL file.
 *
 * Two paths per input: the in-memory scanner (sift__wal_scan) with every
 * good record's payload decoded as a store batch (positions + docs), and
 * the on-disk replay (sift__wal_replay) of the bytes written as a WAL
 * file, which exercises resynchronisation past damage and torn-tail
 * truncation.  Neither may crash, leak or read out of bounds; a second
 * replay must find the same records and damage and nothing to cut.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/log.h"
/* Internal store API; fuzz targets get no src/ include path. */
#include "../../src/store/store_int.h"
#include "../../src/store/wal.h"

static char dir[128], wal_dir[160], wal_file[200];

static int
on_pos(const char *key, uint64_t hi, uint64_t lo, void *arg)
{
    (void)hi;
    (void)lo;
    *(size_t *)arg += strlen(key);
    return 0;
}

static int
on_doc(const struct sift_event *ev, void *arg)
{
    *(size_t *)arg += ev->msg_len + ev->n_fields;
    return 0;
}

static int
on_record(uint64_t seq, const uint8_t *p, size_t len, void *arg)
{
    struct sift_arena *a = arg;
    size_t sink = 0;
    struct sift__batch_visitor v = {on_pos, on_doc, &sink};
    (void)seq;
    sift_arena_reset(a);
    (void)sift__store_batch_decode(p, len, a, &v);
    return 0;
}

static void
init_dirs(void)
{
    if (dir[0])
        return;
    snprintf(dir, sizeof(dir), "/tmp/fuzz_wal-%d", (int)getpid());
    snprintf(wal_dir, sizeof(wal_dir), "%s/wal", dir);
    snprintf(wal_file, sizeof(wal_file), "%s/%020d.wal", wal_dir, 1);
    mkdir(dir, 0755);
    mkdir(wal_dir, 0755);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sift_arena *arena;
    if (!arena)
        arena = sift_arena_new(4096);
    init_dirs();
    /* Below ERROR: the expected corruption reports would flood the run. */
    sift_log_set_level((enum sift_log_level) - 1);

    size_t good = 0, next = 0;
    uint64_t last = 0;
    int rc =
        sift__wal_scan(data, size, 0, 0, on_record, arena, &good, &next, &last);
    if (rc == SIFT_OK && good != size)
        abort();
    if (good > size || next > size)
        abort();

    FILE *f = fopen(wal_file, "wb");
    if (!f)
        return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    struct sift_wal_replay_report rep;
    rc = sift__wal_replay(wal_dir, 1, on_record, arena, &rep);
    if (rc == SIFT_OK) {
        /* Whatever was cut, a second replay finds the same records and
         * the same damage, and nothing more to cut. */
        struct sift_wal_replay_report again;
        if (sift__wal_replay(wal_dir, 1, NULL, NULL, &again) != SIFT_OK ||
            again.torn_bytes != 0 || again.last_seq != rep.last_seq ||
            again.n_records != rep.n_records ||
            again.lost_records != rep.lost_records)
            abort();
        sift__wal_report_cleanup(&again);
    }
    sift__wal_report_cleanup(&rep);
    unlink(wal_file);
    return 0;
}
