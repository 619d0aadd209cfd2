/*
 * bench_otlp.c - our OTLP protobuf decoder (src/parse/otlp.c on pb.h)
 * against Debian's protobuf-c runtime with message descriptors written
 * here by hand from the published OTLP field numbers (opentelemetry-proto
 * logs/v1, common/v1, resource/v1, collector/logs/v1), on the same
 * payloads, in thread CPU time.
 *
 * Both variants end in the same events: ours is sift_otlp_logs_parse();
 * the protobuf-c variant unpacks the request into protobuf-c's structs,
 * copies them into the decoded form of otlp_int.h and calls the same
 * sift__otlp_emit(), then frees the unpacked message.  A third figure is
 * protobuf-c's unpack and free alone (no events).  Every event of both
 * variants is hashed (time, message, every field name, value and type):
 * the run fails unless the two hashes agree, which also checks the
 * hand-written descriptors.
 *
 * Payloads (none tuned to either decoder): the loghub-2k lines of ten
 * systems (tests/data/loghub-2k), 512 records per request as the SDKs'
 * batch processor sends them, each with a resource of ten attributes
 * (service.*, host.*, process.*, telemetry.sdk.*), a scope, severity,
 * two timestamps, trace and span ids and three record attributes;
 * "string" bodies are the line, "structured" bodies a kvlist holding the
 * line, a double, an array and a nested kvlist.  The requests are packed
 * by protobuf-c itself.
 *
 * Paired runs: each round times ours and protobuf-c back to back (their
 * order alternating) over every request; the figures are medians over
 * the rounds, and the ratio is the median of the per-round ratios.
 *
 * Usage: bench_otlp [rounds]   (default 15; about 1 s per round)
 *        bench_otlp --deep N   (one AnyValue nested N deep through each
 *                               decoder; protobuf-c recurses without a
 *                               bound, so a large N overflows its stack)
 *
 * Single-threaded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "sift/alloc.h"
#include "sift/arena.h"
#include "sift/buf.h"
#include "sift/error.h"
#include "sift/parse.h"

#include "parse/otlp_int.h"

#include "loghub_load.h"

/* ------------------------------------------------------------------ */
/* Hand-written protobuf-c messages and descriptors                    */
/* ------------------------------------------------------------------ */

typedef struct kv_msg kv_msg;
typedef struct any_msg any_msg;

typedef struct {
    ProtobufCMessage base;
    size_t n_values;
    any_msg **values;
} array_msg;

typedef struct {
    ProtobufCMessage base;
    size_t n_values;
    kv_msg **values;
} kvlist_msg;

enum any_case {
    ANY_NONE = 0,
    ANY_STR = 1,
    ANY_BOOL = 2,
    ANY_INT = 3,
    ANY_DOUBLE = 4,
    ANY_ARRAY = 5,
    ANY_KVLIST = 6,
    ANY_BYTES = 7,
};

struct any_msg {
    ProtobufCMessage base;
    uint32_t value_case; /* enum any_case */
    union {
        char *string_value;
        protobuf_c_boolean bool_value;
        int64_t int_value;
        double double_value;
        array_msg *array_value;
        kvlist_msg *kvlist_value;
        ProtobufCBinaryData bytes_value;
    } u;
};

struct kv_msg {
    ProtobufCMessage base;
    char *key;
    any_msg *value;
};

typedef struct {
    ProtobufCMessage base;
    size_t n_attributes;
    kv_msg **attributes;
    uint32_t dropped_attributes_count;
} resource_msg;

typedef struct {
    ProtobufCMessage base;
    char *name;
    char *version;
    size_t n_attributes;
    kv_msg **attributes;
    uint32_t dropped_attributes_count;
} scope_msg;

typedef struct {
    ProtobufCMessage base;
    uint64_t time_unix_nano;
    int32_t severity_number;
    char *severity_text;
    any_msg *body;
    size_t n_attributes;
    kv_msg **attributes;
    uint32_t dropped_attributes_count;
    uint32_t flags;
    ProtobufCBinaryData trace_id;
    ProtobufCBinaryData span_id;
    uint64_t observed_time_unix_nano;
    char *event_name;
} record_msg;

typedef struct {
    ProtobufCMessage base;
    scope_msg *scope;
    size_t n_log_records;
    record_msg **log_records;
    char *schema_url;
} scope_logs_msg;

typedef struct {
    ProtobufCMessage base;
    resource_msg *resource;
    size_t n_scope_logs;
    scope_logs_msg **scope_logs;
    char *schema_url;
} resource_logs_msg;

typedef struct {
    ProtobufCMessage base;
    size_t n_resource_logs;
    resource_logs_msg **resource_logs;
} request_msg;

#define LN PROTOBUF_C_LABEL_NONE
#define LR PROTOBUF_C_LABEL_REPEATED
#define T(x) PROTOBUF_C_TYPE_##x
/* A singular field, a repeated one (count then pointer), a oneof member. */
#define FS(S, name, id, type, desc)                                            \
    {                                                                          \
#name, id, LN, T(type), 0, offsetof(S, name), desc, NULL, 0, 0, NULL,  \
            NULL                                                               \
    }
#define FR(S, name, id, type, desc)                                            \
    {                                                                          \
#name, id, LR, T(type), offsetof(S, n_##name), offsetof(S, name),      \
            desc, NULL, 0, 0, NULL, NULL                                       \
    }
#define FO(name, id, type, desc)                                               \
    {                                                                          \
#name, id, LN, T(type), offsetof(any_msg, value_case),                 \
            offsetof(any_msg, u), desc, NULL, PROTOBUF_C_FIELD_FLAG_ONEOF, 0,  \
            NULL, NULL                                                         \
    }
#define DESC(var, S, fullname, fields, by_name, ranges)                        \
    static const ProtobufCMessageDescriptor var = {                            \
        PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,                                  \
        fullname,                                                              \
        fullname,                                                              \
        #S,                                                                    \
        "opentelemetry.proto",                                                 \
        sizeof(S),                                                             \
        sizeof(fields) / sizeof(fields[0]),                                    \
        fields,                                                                \
        by_name,                                                               \
        sizeof(ranges) / sizeof(ranges[0]) - 1,                                \
        ranges,                                                                \
        NULL,                                                                  \
        NULL,                                                                  \
        NULL,                                                                  \
        NULL}

static const ProtobufCMessageDescriptor any_desc, kv_desc, array_desc,
    kvlist_desc, resource_desc, scope_desc, record_desc, scope_logs_desc,
    resource_logs_desc, request_desc;

/* Field numbers 1..n in one range. */
static const ProtobufCIntRange r1[] = {{1, 0}, {0, 1}};
static const ProtobufCIntRange r2[] = {{1, 0}, {0, 2}};
static const ProtobufCIntRange r3[] = {{1, 0}, {0, 3}};
static const ProtobufCIntRange r4[] = {{1, 0}, {0, 4}};
static const ProtobufCIntRange r7[] = {{1, 0}, {0, 7}};
/* LogRecord: 1-3, then 5-12 (4 is reserved). */
static const ProtobufCIntRange r_record[] = {{1, 0}, {5, 3}, {0, 11}};

static const unsigned by_name_1[] = {0};
static const unsigned by_name_kv[] = {0, 1};
static const unsigned by_name_resource[] = {0, 1};
static const unsigned by_name_scope[] = {0, 3, 1, 2};
static const unsigned by_name_logs[] = {1, 0, 2}; /* items, head, schema */
static const unsigned by_name_any[] = {4, 1, 6, 3, 2, 5, 0};
static const unsigned by_name_record[] = {5, 3, 7, 11, 9, 1, 2, 10, 8, 0, 4};

static const ProtobufCFieldDescriptor array_fields[] = {
    FR(array_msg, values, 1, MESSAGE, &any_desc)};
static const ProtobufCFieldDescriptor kvlist_fields[] = {
    FR(kvlist_msg, values, 1, MESSAGE, &kv_desc)};
static const ProtobufCFieldDescriptor any_fields[] = {
    FO(string_value, 1, STRING, NULL),
    FO(bool_value, 2, BOOL, NULL),
    FO(int_value, 3, INT64, NULL),
    FO(double_value, 4, DOUBLE, NULL),
    FO(array_value, 5, MESSAGE, &array_desc),
    FO(kvlist_value, 6, MESSAGE, &kvlist_desc),
    FO(bytes_value, 7, BYTES, NULL),
};
static const ProtobufCFieldDescriptor kv_fields[] = {
    FS(kv_msg, key, 1, STRING, NULL),
    FS(kv_msg, value, 2, MESSAGE, &any_desc),
};
static const ProtobufCFieldDescriptor resource_fields[] = {
    FR(resource_msg, attributes, 1, MESSAGE, &kv_desc),
    FS(resource_msg, dropped_attributes_count, 2, UINT32, NULL),
};
static const ProtobufCFieldDescriptor scope_fields[] = {
    FS(scope_msg, name, 1, STRING, NULL),
    FS(scope_msg, version, 2, STRING, NULL),
    FR(scope_msg, attributes, 3, MESSAGE, &kv_desc),
    FS(scope_msg, dropped_attributes_count, 4, UINT32, NULL),
};
static const ProtobufCFieldDescriptor record_fields[] = {
    FS(record_msg, time_unix_nano, 1, FIXED64, NULL),
    FS(record_msg, severity_number, 2, INT32, NULL),
    FS(record_msg, severity_text, 3, STRING, NULL),
    FS(record_msg, body, 5, MESSAGE, &any_desc),
    FR(record_msg, attributes, 6, MESSAGE, &kv_desc),
    FS(record_msg, dropped_attributes_count, 7, UINT32, NULL),
    FS(record_msg, flags, 8, FIXED32, NULL),
    FS(record_msg, trace_id, 9, BYTES, NULL),
    FS(record_msg, span_id, 10, BYTES, NULL),
    FS(record_msg, observed_time_unix_nano, 11, FIXED64, NULL),
    FS(record_msg, event_name, 12, STRING, NULL),
};
static const ProtobufCFieldDescriptor scope_logs_fields[] = {
    FS(scope_logs_msg, scope, 1, MESSAGE, &scope_desc),
    FR(scope_logs_msg, log_records, 2, MESSAGE, &record_desc),
    FS(scope_logs_msg, schema_url, 3, STRING, NULL),
};
static const ProtobufCFieldDescriptor resource_logs_fields[] = {
    FS(resource_logs_msg, resource, 1, MESSAGE, &resource_desc),
    FR(resource_logs_msg, scope_logs, 2, MESSAGE, &scope_logs_desc),
    FS(resource_logs_msg, schema_url, 3, STRING, NULL),
};
static const ProtobufCFieldDescriptor request_fields[] = {
    FR(request_msg, resource_logs, 1, MESSAGE, &resource_logs_desc)};

DESC(array_desc, array_msg, "common.v1.ArrayValue", array_fields, by_name_1,
     r1);
DESC(kvlist_desc, kvlist_msg, "common.v1.KeyValueList", kvlist_fields,
     by_name_1, r1);
DESC(any_desc, any_msg, "common.v1.AnyValue", any_fields, by_name_any, r7);
DESC(kv_desc, kv_msg, "common.v1.KeyValue", kv_fields, by_name_kv, r2);
DESC(resource_desc, resource_msg, "resource.v1.Resource", resource_fields,
     by_name_resource, r2);
DESC(scope_desc, scope_msg, "common.v1.InstrumentationScope", scope_fields,
     by_name_scope, r4);
DESC(record_desc, record_msg, "logs.v1.LogRecord", record_fields,
     by_name_record, r_record);
DESC(scope_logs_desc, scope_logs_msg, "logs.v1.ScopeLogs", scope_logs_fields,
     by_name_logs, r3);
DESC(resource_logs_desc, resource_logs_msg, "logs.v1.ResourceLogs",
     resource_logs_fields, by_name_logs, r3);
DESC(request_desc, request_msg, "collector.logs.v1.ExportLogsServiceRequest",
     request_fields, by_name_1, r1);

/* ------------------------------------------------------------------ */
/* protobuf-c's structs to the decoded form of otlp_int.h              */
/* ------------------------------------------------------------------ */

static int conv_any(struct sift__walk *c, const any_msg *m,
                    struct sift__otlp_any *out, unsigned depth,
                    const char **bad);

static int
conv_kvs(struct sift__walk *c, kv_msg *const *kvs, size_t n,
         struct sift__otlp_list *l, unsigned depth, const char **bad)
{
    for (size_t i = 0; i < n; i++) {
        struct sift__otlp_any *kv = sift__otlp_alist_push(c, l);
        if (!kv)
            return -1;
        if (kvs[i]->value && conv_any(c, kvs[i]->value, kv, depth, bad) < 0)
            return -1;
        if (kvs[i]->key) {
            size_t kl = strlen(kvs[i]->key);
            kv->key = kvs[i]->key;
            kv->key_len = kl > UINT32_MAX ? UINT32_MAX : (uint32_t)kl;
        }
    }
    return 0;
}

static int
conv_any(struct sift__walk *c, const any_msg *m, struct sift__otlp_any *out,
         unsigned depth, const char **bad)
{
    memset(out, 0, sizeof(*out));
    if (depth > c->o->max_depth) {
        *bad = "nesting deeper than max_depth";
        return 0;
    }
    switch (m->value_case) {
    case ANY_STR:
        out->kind = SIFT__OTLP_STR;
        out->s = m->u.string_value;
        out->len = strlen(m->u.string_value);
        break;
    case ANY_BOOL:
        out->kind = SIFT__OTLP_BOOL;
        out->s = m->u.bool_value ? "true" : "false";
        out->len = m->u.bool_value ? 4 : 5;
        break;
    case ANY_INT:
        out->kind = SIFT__OTLP_INT;
        out->s = sift__otlp_int_text(c, m->u.int_value, &out->len);
        break;
    case ANY_DOUBLE:
        out->kind = SIFT__OTLP_DOUBLE;
        out->s = sift__otlp_double_text(c, m->u.double_value, &out->len);
        break;
    case ANY_BYTES:
        out->kind = SIFT__OTLP_BYTES;
        out->s = sift__otlp_base64(c, m->u.bytes_value.data,
                                   m->u.bytes_value.len, &out->len);
        break;
    case ANY_ARRAY: {
        struct sift__otlp_list l = {NULL, 0, 0};
        out->kind = SIFT__OTLP_ARRAY;
        for (size_t i = 0; i < m->u.array_value->n_values; i++) {
            struct sift__otlp_any *v = sift__otlp_alist_push(c, &l);
            if (!v ||
                conv_any(c, m->u.array_value->values[i], v, depth + 1, bad) < 0)
                return -1;
        }
        out->items = l.v;
        out->n = l.n;
        break;
    }
    case ANY_KVLIST: {
        struct sift__otlp_list l = {NULL, 0, 0};
        out->kind = SIFT__OTLP_KVLIST;
        if (conv_kvs(c, m->u.kvlist_value->values, m->u.kvlist_value->n_values,
                     &l, depth + 1, bad) < 0)
            return -1;
        out->items = l.v;
        out->n = l.n;
        break;
    }
    default: break;
    }
    return c->nomem ? -1 : 0;
}

static int
conv_record(struct sift__walk *c, const record_msg *m,
            struct sift__otlp_rec *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->time_ns = m->time_unix_nano;
    rec->observed_ns = m->observed_time_unix_nano;
    rec->sev_num = m->severity_number < 0 || m->severity_number > 24
                       ? 0
                       : (uint32_t)m->severity_number;
    if (m->severity_text) {
        rec->sev_text = m->severity_text;
        rec->sev_text_len = strlen(m->severity_text);
    }
    if (m->event_name) {
        rec->event_name = m->event_name;
        rec->event_name_len = strlen(m->event_name);
    }
    if (m->body && conv_any(c, m->body, &rec->body, 1, &rec->bad) < 0)
        return -1;
    if (conv_kvs(c, m->attributes, m->n_attributes, &rec->attrs, 1, &rec->bad) <
        0)
        return -1;
    rec->trace_id = sift__otlp_hex_id(c, m->trace_id.data, m->trace_id.len);
    rec->span_id = sift__otlp_hex_id(c, m->span_id.data, m->span_id.len);
    return c->nomem ? -1 : 0;
}

/* The protobuf-c variant of sift_otlp_logs_parse() (binary only). */
static int
pbc_logs_parse(const struct sift_parse_opts *o, const uint8_t *body, size_t len,
               int64_t recv_ns, struct sift_arena *arena, sift_parse_line_cb cb,
               void *arg)
{
    struct sift__walk c;
    int rc = SIFT_OK;
    request_msg *req = (request_msg *)protobuf_c_message_unpack(
        &request_desc, NULL, len, body);
    if (!req)
        return SIFT_EPARSE;
    struct sift_parse_error err;
    sift__walk_init(&c, o, arena, recv_ns, cb, arg, NULL, &err);
    for (size_t i = 0; i < req->n_resource_logs && !c.stop; i++) {
        const resource_logs_msg *rl = req->resource_logs[i];
        struct sift__otlp_group grp;
        memset(&grp, 0, sizeof(grp));
        if (rl->resource &&
            conv_kvs(&c, rl->resource->attributes, rl->resource->n_attributes,
                     &grp.res_attrs, 1, &grp.bad) < 0)
            goto nomem;
        for (size_t j = 0; j < rl->n_scope_logs && !c.stop; j++) {
            const scope_logs_msg *sl = rl->scope_logs[j];
            struct sift__otlp_group sg = grp;
            memset(&sg.scope_attrs, 0, sizeof(sg.scope_attrs));
            sg.scope_name = sg.scope_version = NULL;
            sg.scope_name_len = sg.scope_version_len = 0;
            if (sl->scope) {
                if (sl->scope->name && sl->scope->name[0]) {
                    sg.scope_name = sl->scope->name;
                    sg.scope_name_len = strlen(sl->scope->name);
                }
                if (sl->scope->version && sl->scope->version[0]) {
                    sg.scope_version = sl->scope->version;
                    sg.scope_version_len = strlen(sl->scope->version);
                }
                if (conv_kvs(&c, sl->scope->attributes, sl->scope->n_attributes,
                             &sg.scope_attrs, 1, &sg.bad) < 0)
                    goto nomem;
            }
            for (size_t k = 0; k < sl->n_log_records && !c.stop; k++) {
                struct sift__otlp_rec rec;
                if (conv_record(&c, sl->log_records[k], &rec) < 0)
                    goto nomem;
                sift__otlp_emit(&c, &sg, &rec);
                if (c.nomem)
                    goto nomem;
            }
        }
    }
    rc = c.stop;
    goto out;
nomem:
    rc = SIFT_ENOMEM;
out:
    protobuf_c_message_free_unpacked(&req->base, NULL);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Payloads                                                            */
/* ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Builders: every message lives in one of these pools until packed. */
struct pool {
    void **p;
    size_t n, cap;
};

static void *
pool_new(struct pool *pl, size_t size, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = calloc(1, size);
    if (!m)
        abort();
    m->descriptor = d;
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 256;
        pl->p = realloc(pl->p, pl->cap * sizeof(*pl->p));
        if (!pl->p)
            abort();
    }
    pl->p[pl->n++] = m;
    return m;
}

static void *
pool_array(struct pool *pl, size_t n)
{
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? 2 * pl->cap : 256;
        pl->p = realloc(pl->p, pl->cap * sizeof(*pl->p));
        if (!pl->p)
            abort();
    }
    void *a = calloc(n ? n : 1, sizeof(void *));
    if (!a)
        abort();
    pl->p[pl->n++] = a;
    return a;
}

/* protobuf-c's structs hold char *; the strings packed are never written. */
static char *
mut(const char *s)
{
    char *p;
    memcpy(&p, &s, sizeof(p));
    return p;
}

static any_msg *
any_str(struct pool *pl, const char *s)
{
    any_msg *a = pool_new(pl, sizeof(*a), &any_desc);
    a->value_case = ANY_STR;
    a->u.string_value = mut(s);
    return a;
}

static any_msg *
any_int(struct pool *pl, int64_t v)
{
    any_msg *a = pool_new(pl, sizeof(*a), &any_desc);
    a->value_case = ANY_INT;
    a->u.int_value = v;
    return a;
}

static any_msg *
any_double(struct pool *pl, double v)
{
    any_msg *a = pool_new(pl, sizeof(*a), &any_desc);
    a->value_case = ANY_DOUBLE;
    a->u.double_value = v;
    return a;
}

static kv_msg *
kv(struct pool *pl, const char *key, any_msg *v)
{
    kv_msg *k = pool_new(pl, sizeof(*k), &kv_desc);
    k->key = mut(key);
    k->value = v;
    return k;
}

static void
pool_free(struct pool *pl)
{
    for (size_t i = 0; i < pl->n; i++)
        free(pl->p[i]);
    free(pl->p);
    pl->p = NULL;
    pl->n = pl->cap = 0;
}

#define BATCH 512

static const char *const systems[] = {
    "Apache", "BGL",     "HDFS",      "HPC",   "Hadoop",
    "Linux",  "OpenSSH", "OpenStack", "Spark", "Zookeeper",
};

struct payloads {
    struct sift_buf *body;
    size_t n, cap;
    size_t n_records, bytes;
};

/* One request of the lines [0, n) of a system. */
static void
build_request(struct payloads *out, const char *sys, char **lines, size_t n,
              int structured, size_t first)
{
    struct pool pl = {NULL, 0, 0};
    static char strs[BATCH][3][64];
    static uint8_t ids[BATCH][24];

    request_msg *req = pool_new(&pl, sizeof(*req), &request_desc);
    resource_logs_msg *rl = pool_new(&pl, sizeof(*rl), &resource_logs_desc);
    resource_msg *res = pool_new(&pl, sizeof(*res), &resource_desc);
    scope_logs_msg *sl = pool_new(&pl, sizeof(*sl), &scope_logs_desc);
    scope_msg *sc = pool_new(&pl, sizeof(*sc), &scope_desc);
    req->n_resource_logs = 1;
    req->resource_logs = pool_array(&pl, 1);
    req->resource_logs[0] = rl;
    rl->resource = res;
    rl->n_scope_logs = 1;
    rl->scope_logs = pool_array(&pl, 1);
    rl->scope_logs[0] = sl;
    rl->schema_url = mut("https://opentelemetry.io/schemas/1.26.0");
    res->n_attributes = 10;
    res->attributes = pool_array(&pl, 10);
    res->attributes[0] = kv(&pl, "service.name", any_str(&pl, sys));
    res->attributes[1] = kv(&pl, "service.version", any_str(&pl, "2.4.1"));
    res->attributes[2] = kv(&pl, "service.namespace", any_str(&pl, "prod"));
    res->attributes[3] = kv(&pl, "host.name", any_str(&pl, "node-17"));
    res->attributes[4] = kv(&pl, "host.arch", any_str(&pl, "amd64"));
    res->attributes[5] = kv(&pl, "process.pid", any_int(&pl, 41237));
    res->attributes[6] =
        kv(&pl, "process.runtime.name", any_str(&pl, "nodejs"));
    res->attributes[7] =
        kv(&pl, "telemetry.sdk.language", any_str(&pl, "nodejs"));
    res->attributes[8] =
        kv(&pl, "telemetry.sdk.name", any_str(&pl, "opentelemetry"));
    res->attributes[9] =
        kv(&pl, "telemetry.sdk.version", any_str(&pl, "1.30.1"));
    sl->scope = sc;
    sc->name = mut("app-logger");
    sc->version = mut("1.0.0");
    sl->n_log_records = n;
    sl->log_records = pool_array(&pl, n);
    for (size_t i = 0; i < n; i++) {
        record_msg *r = pool_new(&pl, sizeof(*r), &record_desc);
        const char *line = lines[i];
        int err = strstr(line, "ERROR") || strstr(line, "error");
        int warn = strstr(line, "WARN") || strstr(line, "warn");
        uint64_t t = 1733600000000000000u + (first + i) * 1000003u;
        r->time_unix_nano = t;
        r->observed_time_unix_nano = t + 250000;
        r->severity_number = err ? 17 : warn ? 13 : 9;
        r->severity_text = mut(err ? "ERROR" : warn ? "WARN" : "INFO");
        for (int k = 0; k < 24; k++)
            ids[i][k] = (uint8_t)rng();
        r->trace_id.data = ids[i];
        r->trace_id.len = 16;
        r->span_id.data = ids[i] + 16;
        r->span_id.len = 8;
        snprintf(strs[i][0], sizeof(strs[i][0]), "/var/log/%s/app.log", sys);
        r->n_attributes = 3;
        r->attributes = pool_array(&pl, 3);
        r->attributes[0] = kv(&pl, "log.file.path", any_str(&pl, strs[i][0]));
        r->attributes[1] =
            kv(&pl, "thread.id", any_int(&pl, (int64_t)(rng() % 64)));
        r->attributes[2] =
            kv(&pl, "code.lineno", any_int(&pl, (int64_t)(rng() % 3000)));
        if (!structured) {
            r->body = any_str(&pl, line);
        } else {
            any_msg *b = pool_new(&pl, sizeof(*b), &any_desc);
            kvlist_msg *l = pool_new(&pl, sizeof(*l), &kvlist_desc);
            array_msg *tags = pool_new(&pl, sizeof(*tags), &array_desc);
            kvlist_msg *user = pool_new(&pl, sizeof(*user), &kvlist_desc);
            any_msg *tv = pool_new(&pl, sizeof(*tv), &any_desc);
            any_msg *uv = pool_new(&pl, sizeof(*uv), &any_desc);
            snprintf(strs[i][1], sizeof(strs[i][1]), "u%llu",
                     (unsigned long long)(rng() % 100000));
            tags->n_values = 2;
            tags->values = pool_array(&pl, 2);
            tags->values[0] = any_str(&pl, sys);
            tags->values[1] = any_str(&pl, err ? "failure" : "ok");
            tv->value_case = ANY_ARRAY;
            tv->u.array_value = tags;
            user->n_values = 2;
            user->values = pool_array(&pl, 2);
            user->values[0] =
                kv(&pl, "id", any_int(&pl, (int64_t)(rng() % 1000000)));
            user->values[1] = kv(&pl, "name", any_str(&pl, strs[i][1]));
            uv->value_case = ANY_KVLIST;
            uv->u.kvlist_value = user;
            l->n_values = 5;
            l->values = pool_array(&pl, 5);
            l->values[0] = kv(&pl, "message", any_str(&pl, line));
            l->values[1] = kv(&pl, "logger", any_str(&pl, "com.example.Svc"));
            l->values[2] = kv(&pl, "duration_ms",
                              any_double(&pl, (double)(rng() % 100000) / 7.0));
            l->values[3] = kv(&pl, "tags", tv);
            l->values[4] = kv(&pl, "user", uv);
            b->value_case = ANY_KVLIST;
            b->u.kvlist_value = l;
            r->body = b;
        }
        sl->log_records[i] = r;
    }
    size_t sz = protobuf_c_message_get_packed_size(&req->base);
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 64;
        out->body = realloc(out->body, out->cap * sizeof(*out->body));
        if (!out->body)
            abort();
    }
    struct sift_buf *b = &out->body[out->n++];
    *b = (struct sift_buf)SIFT_BUF_INIT;
    sift_buf_reserve(b, sz);
    b->len = protobuf_c_message_pack(&req->base, (uint8_t *)b->data);
    out->n_records += n;
    out->bytes += b->len;
    pool_free(&pl);
}

static int
load_payloads(struct payloads *out, int structured)
{
    char path[512];
    for (size_t k = 0; k < sizeof(systems) / sizeof(systems[0]); k++) {
        size_t len = 0;
        snprintf(path, sizeof(path), "%s/tests/data/loghub-2k/%s/%s_2k.log",
                 SIFT_SOURCE_DIR, systems[k], systems[k]);
        char *text = lh_read_file(path, &len);
        if (!text) {
            fprintf(stderr, "cannot read %s\n", path);
            return -1;
        }
        char *lines[BATCH];
        size_t n = 0, first = 0;
        for (char *p = text; *p;) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            if (*p)
                lines[n++] = p;
            p = nl ? nl + 1 : p + strlen(p);
            if (n == BATCH) {
                build_request(out, systems[k], lines, n, structured, first);
                first += n;
                n = 0;
            }
        }
        if (n)
            build_request(out, systems[k], lines, n, structured, first);
        sift_free(text);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Measuring                                                           */
/* ------------------------------------------------------------------ */

struct digest {
    uint64_t h;
    size_t n_events, n_rejected;
};

static void
mix(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3u;
    *h = (*h ^ 0xff) * 0x100000001b3u;
}

static int
on_event(void *arg, int rc, struct sift_event *ev,
         const struct sift_parse_error *err)
{
    struct digest *d = arg;
    (void)err;
    if (rc != SIFT_OK) {
        d->n_rejected++;
        return 0;
    }
    d->n_events++;
    mix(&d->h, &ev->ts_ns, sizeof(ev->ts_ns));
    mix(&d->h, ev->msg, ev->msg_len);
    for (uint32_t i = 0; i < ev->n_fields; i++) {
        const struct sift_field *f = &ev->fields[i];
        mix(&d->h, f->name, f->name_len);
        mix(&d->h, f->value, f->value_len);
        mix(&d->h, &f->type, 1);
    }
    return 0;
}

static double
cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

enum variant { OURS, PBC, PBC_UNPACK };

/* One pass over every request; returns CPU ns. */
static double
pass(enum variant v, const struct payloads *pl, const struct sift_parse_opts *o,
     struct sift_arena *arena, struct digest *d)
{
    double t0 = cpu_ns();
    for (size_t i = 0; i < pl->n; i++) {
        const struct sift_buf *b = &pl->body[i];
        int rc = SIFT_OK;
        if (v == OURS) {
            rc = sift_otlp_logs_parse(o, 0, b->data, b->len, 0, arena, on_event,
                                      d, NULL);
        } else if (v == PBC) {
            rc = pbc_logs_parse(o, (const uint8_t *)b->data, b->len, 0, arena,
                                on_event, d);
        } else {
            ProtobufCMessage *m = protobuf_c_message_unpack(
                &request_desc, NULL, b->len, (const uint8_t *)b->data);
            if (!m)
                rc = SIFT_EPARSE;
            else
                protobuf_c_message_free_unpacked(m, NULL);
        }
        if (rc != SIFT_OK) {
            fprintf(stderr, "request %zu: rc %d\n", i, rc);
            exit(1);
        }
        sift_arena_reset(arena);
    }
    return cpu_ns() - t0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int
run_set(const char *name, int structured, int rounds,
        const struct sift_parse_opts *o, struct sift_arena *arena)
{
    struct payloads pl = {NULL, 0, 0, 0, 0};
    if (load_payloads(&pl, structured) < 0)
        return -1;
    struct digest da = {0xcbf29ce484222325u, 0, 0};
    struct digest db = {0xcbf29ce484222325u, 0, 0};
    pass(OURS, &pl, o, arena, &da); /* warm-up, and the equality check */
    pass(PBC, &pl, o, arena, &db);
    if (da.h != db.h || da.n_events != db.n_events || da.n_rejected ||
        db.n_rejected || da.n_events != pl.n_records) {
        fprintf(stderr,
                "%s: the decoders disagree (events %zu/%zu, rejected "
                "%zu/%zu, hash %016llx/%016llx)\n",
                name, da.n_events, db.n_events, da.n_rejected, db.n_rejected,
                (unsigned long long)da.h, (unsigned long long)db.h);
        return -1;
    }
    double *a = calloc((size_t)rounds, sizeof(double));
    double *b = calloc((size_t)rounds, sizeof(double));
    double *u = calloc((size_t)rounds, sizeof(double));
    double *ratio = calloc((size_t)rounds, sizeof(double));
    if (!a || !b || !u || !ratio)
        abort();
    /* Enough passes per round for about a third of a second each. */
    int reps = 1;
    double one = pass(OURS, &pl, o, arena, &da);
    if (one > 0 && one < 3e8)
        reps = (int)(3e8 / one);
    for (int r = 0; r < rounds; r++) {
        double ta = 0, tb = 0, tu = 0;
        for (int k = 0; k < reps; k++) {
            if ((r + k) % 2 == 0) {
                ta += pass(OURS, &pl, o, arena, &da);
                tb += pass(PBC, &pl, o, arena, &db);
            } else {
                tb += pass(PBC, &pl, o, arena, &db);
                ta += pass(OURS, &pl, o, arena, &da);
            }
            tu += pass(PBC_UNPACK, &pl, o, arena, &db);
        }
        double per = (double)reps * (double)pl.n_records;
        a[r] = ta / per;
        b[r] = tb / per;
        u[r] = tu / per;
        ratio[r] = tb / ta;
    }
    double rmin = ratio[0], rmax = ratio[0];
    for (int r = 1; r < rounds; r++) {
        rmin = ratio[r] < rmin ? ratio[r] : rmin;
        rmax = ratio[r] > rmax ? ratio[r] : rmax;
    }
    double ma = median(a, (size_t)rounds);
    printf("%-10s %7zu %6zu %9.0f %9.0f %11.0f %9.2f %5.2f-%.2f %8.0f\n", name,
           pl.n_records, pl.bytes / pl.n_records, ma, median(b, (size_t)rounds),
           median(u, (size_t)rounds), median(ratio, (size_t)rounds), rmin, rmax,
           (double)pl.bytes / (double)pl.n_records / ma * 1e3);
    free(a);
    free(b);
    free(u);
    free(ratio);
    for (size_t i = 0; i < pl.n; i++)
        sift_buf_cleanup(&pl.body[i]);
    free(pl.body);
    return 0;
}

static size_t
varint_len(size_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void
put_varint(struct sift_buf *b, size_t v)
{
    while (v >= 0x80) {
        sift_buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    sift_buf_putc(b, (char)v);
}

/*
 * A request with one record whose body is an AnyValue nested n deep
 * (an array holding an array ... holding "x"): each level is 4-8 bytes.
 * The sizes are computed from the inside out, then the bytes written
 * from the outside in.
 */
static int
run_deep(long n, const struct sift_parse_opts *o, struct sift_arena *arena)
{
    if (n < 1 || n > 10000000)
        return 1;
    /* Level 0 is AnyValue{string_value "x"}; then ArrayValue{values: 1}
     * and AnyValue{array_value: 5} alternate; then LogRecord{body: 5},
     * ScopeLogs{log_records: 2}, ResourceLogs{scope_logs: 2}, and the
     * request{resource_logs: 1}. */
    size_t levels = 2 * (size_t)n + 4;
    size_t *size = calloc(levels + 1, sizeof(*size));
    uint8_t *tag = calloc(levels + 1, 1);
    if (!size || !tag)
        abort();
    static const uint8_t outer[] = {0x2a, 0x12, 0x12, 0x0a};
    size[0] = 3;
    for (size_t i = 1; i <= levels; i++) {
        tag[i] = i > 2 * (size_t)n ? outer[i - 2 * (size_t)n - 1]
                 : i % 2           ? 0x0a
                                   : 0x2a;
        size[i] = 1 + varint_len(size[i - 1]) + size[i - 1];
    }
    struct sift_buf v = SIFT_BUF_INIT;
    sift_buf_reserve(&v, size[levels]);
    for (size_t i = levels; i >= 1; i--) {
        sift_buf_putc(&v, (char)tag[i]);
        put_varint(&v, size[i - 1]);
    }
    sift_buf_append(&v, "\x0a\x01x", 3);
    free(size);
    free(tag);
    printf("request of %zu bytes, body nested %ld deep\n", v.len, n);
    fflush(stdout);
    struct digest d = {0, 0, 0};
    int rc =
        sift_otlp_logs_parse(o, 0, v.data, v.len, 0, arena, on_event, &d, NULL);
    printf("ours:       rc %d, %zu events, %zu rejected\n", rc, d.n_events,
           d.n_rejected);
    fflush(stdout);
    sift_arena_reset(arena);
    memset(&d, 0, sizeof(d));
    rc = pbc_logs_parse(o, (const uint8_t *)v.data, v.len, 0, arena, on_event,
                        &d);
    printf("protobuf-c: rc %d, %zu events, %zu rejected\n", rc, d.n_events,
           d.n_rejected);
    sift_buf_cleanup(&v);
    return 0;
}

int
main(int argc, char **argv)
{
    struct sift_parse_opts o;
    struct sift_arena *arena = sift_arena_new(1 << 20);
    int rounds = 15, rc = 0;

    sift_parse_opts_init(&o);
    if (sift_parse_opts_compile(&o, NULL) != 0 || !arena)
        return 1;
    if (argc > 2 && strcmp(argv[1], "--deep") == 0) {
        rc = run_deep(strtol(argv[2], NULL, 10), &o, arena);
        goto out;
    }
    if (argc > 1)
        rounds = (int)strtol(argv[1], NULL, 10);
    if (rounds < 1 || rounds > 1000)
        rounds = 15;
    printf("OTLP protobuf decode to events, CPU ns per record, median of %d "
           "paired rounds\n",
           rounds);
    printf("%-10s %7s %6s %9s %9s %11s %9s %10s %8s\n", "bodies", "records",
           "B/rec", "ours", "pbc", "pbc-unpack", "pbc/ours", "range",
           "ours MB/s");
    if (run_set("string", 0, rounds, &o, arena) < 0 ||
        run_set("structured", 1, rounds, &o, arena) < 0)
        rc = 1;
out:
    sift_arena_free(arena);
    sift_parse_opts_cleanup(&o);
    return rc;
}
