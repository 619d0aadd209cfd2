/*
 * fuzz_journal.c - libFuzzer target for the journal export format decoder
 * (sift_journal_export_parse(), what systemd-journal-upload sends).
 *
 * The input is the body.  Every event is walked (ASan checks its pointers
 * are readable), every field must have a name, a rejected entry must
 * carry a reason, and a body refused as a whole must say why and must
 * not have handed on any event first.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sift/arena.h"
#include "sift/error.h"
#include "sift/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
    size_t sum, n;
};

static int
on_entry(void *arg, int rc, struct sift_event *ev,
         const struct sift_parse_error *err)
{
    struct ctx *c = arg;
    c->n++;
    if (rc != SIFT_OK) {
        if (!err || err->reason[0] == '\0')
            __builtin_trap();
        return 0;
    }
    for (uint32_t i = 0; i < ev->msg_len; i++)
        c->sum += (unsigned char)ev->msg[i];
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        if (f->name_len == 0)
            __builtin_trap();
        for (uint32_t k = 0; k < f->value_len; k++)
            c->sum += (unsigned char)f->value[k];
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sift_parse_opts o;
    sift_parse_opts_init(&o);
    if (sift_parse_opts_compile(&o, NULL) != SIFT_OK)
        __builtin_trap();
    struct sift_arena *a = sift_arena_new(65536);
    struct ctx c = {0, 0};
    struct sift_parse_error err;
    int rc = sift_journal_export_parse(&o, (const char *)data, size,
                                       INT64_C(1700000000000000000), a,
                                       on_entry, &c, &err);
    if (rc == SIFT_EPARSE && (err.reason[0] == '\0' || c.n != 0))
        __builtin_trap();
    sift_arena_free(a);
    sift_parse_opts_cleanup(&o);
    return 0;
}
