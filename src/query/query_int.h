/*
 * query_int.h - the query module's private shapes: tokens, AST nodes, and
 * the per-segment evaluator shared by exec.c and agg.c.
 */
#ifndef SIFT_QUERY_INT_H
#define SIFT_QUERY_INT_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <roaring/roaring.h>

#include "sift/query.h"

struct sift_arena;
struct sift_segment;

/* ---- lexer (lexer.c) ---- */

enum sift_qtok_kind {
    SIFT_QT_EOF = 0,
    SIFT_QT_LPAREN,
    SIFT_QT_RPAREN,
    SIFT_QT_AND,
    SIFT_QT_OR,
    SIFT_QT_NOT,    /* "NOT" */
    SIFT_QT_MINUS,  /* '-' glued to the next term */
    SIFT_QT_PLUS,   /* '+' glued to the next term */
    SIFT_QT_WORD,   /* raw text, escapes kept; see has_wild / is_field */
    SIFT_QT_PHRASE, /* text between quotes, escapes kept, quotes not */
    SIFT_QT_REGEX,  /* text between slashes, escapes kept */
    SIFT_QT_CMP,    /* >= > <= < ; text holds the operator */
    SIFT_QT_LRANGE, /* '[' or '{' (text[0] says which) */
    SIFT_QT_RRANGE, /* ']' or '}' */
    SIFT_QT_TO,     /* "TO" inside a range */
    SIFT_QT_ERROR,  /* lexical error; reason in the lexer */
};

/* Lexer modes: what may follow decides how bytes are grouped. */
#define SIFT_QLEX_VALUE 0x1u /* after "field:": ':' is a word byte, cmp ops */
#define SIFT_QLEX_RANGE 0x2u /* inside [..]: ']' '}' end words, TO keyword */

struct sift_qtok {
    enum sift_qtok_kind kind;
    const char *text; /* into the query string */
    size_t len;
    uint32_t pos; /* byte offset of the token */
    int has_wild; /* WORD: an unescaped '*' or '?' */
    int is_field; /* WORD: directly followed by ':' (not consumed), or
                     a KQL comparison (kql_cmp) */
    int kql_cmp;  /* WORD: a field name followed by ">= 5" (KQL); the
                     operator is left for the next token (value mode) */
    int lower_op; /* AND/OR/NOT written in lower case ("or") */
    /* A Lucene suffix glued to the token (not part of text/len):
     * "^2" boost (WORD, PHRASE, RPAREN), "~2" slop (PHRASE), "~" or "~1"
     * fuzziness (WORD).  *_pos is the byte offset of '^' or '~'. */
    int has_boost, has_slop, has_fuzzy;
    uint32_t boost_pos, tilde_pos;
    uint32_t slop;
    size_t suffix_len; /* bytes of the suffixes */
};

struct sift_qlexer {
    const char *s;
    size_t len;
    size_t off;
    const char *error; /* static reason when kind == SIFT_QT_ERROR */
    uint32_t error_pos;
};

void sift__query_lex_init(struct sift_qlexer *lx, const char *s, size_t len);
/** Reads the next token in the given mode (SIFT_QLEX_* flags). */
void sift__query_lex_next(struct sift_qlexer *lx, unsigned mode,
                          struct sift_qtok *out);

/* ---- AST ---- */

#define SIFT_QUERY_MAX_PHRASE_TOKENS 64u

enum sift_qnode_kind {
    SIFT_QN_ALL = 1, /* "*", or the empty query */
    SIFT_QN_AND,
    SIFT_QN_OR,
    SIFT_QN_NOT,
    SIFT_QN_TERM,     /* a word: one term, or a phrase if it has tokens */
    SIFT_QN_PHRASE,   /* "quoted" */
    SIFT_QN_PREFIX,   /* pay* */
    SIFT_QN_WILDCARD, /* us?r, a*b (pattern keeps escapes) */
    SIFT_QN_REGEX,    /* /re/, anchored to whole terms, caseless */
    SIFT_QN_RANGE,    /* numeric: [a TO b], {..}, >=, >, <=, < */
    SIFT_QN_EXISTS,   /* _exists_:f, f:* */
};

struct sift_qnode {
    enum sift_qnode_kind kind;
    uint32_t pos;      /* byte offset in the query string */
    const char *field; /* NUL-terminated; "message" by default */
    size_t field_len;
    const char *text; /* unescaped value (TERM/PHRASE/PREFIX/REGEX) or
                         pattern with escapes (WILDCARD); NUL-terminated */
    size_t text_len;
    /* RANGE: bounds; an open side has the infinite value and incl = 1. */
    double lo, hi;
    int lo_incl, hi_incl;
    /* AND/OR/NOT children (NOT has exactly one). */
    struct sift_qnode **kids;
    uint32_t n_kids;
    /* Prepared by plan.c (never changed during evaluation). */
    char *lower; /* lowercased text (keyword match, prefix) */
    size_t lower_len;
    char **toks; /* sift_tokenize() tokens of text */
    size_t *tok_lens;
    uint32_t n_toks;
    int is_number; /* text parses as a finite number */
    double number;
    pcre2_code *re;   /* REGEX: compiled once, JIT when available */
    unsigned cost;    /* planner: AND children are run cheapest first */
    int top_conjunct; /* the root, or ANDed into it (no OR/NOT above):
                         a phrase here may be verified lazily */
    uint32_t slop;    /* PHRASE "a b"~N: words within N moves (0 = exact) */
};

#define SIFT_QUERY_MAX_WARNINGS 16u

struct sift_query {
    struct sift_arena *arena; /* owns every node and string */
    struct sift_qnode *root;
    char *text; /* the query string (NUL-terminated copy) */
    size_t text_len;
    /* What the parser reinterpreted (lowercase operators, boosts):
     * arena strings, at most SIFT_QUERY_MAX_WARNINGS. */
    const char *warnings[SIFT_QUERY_MAX_WARNINGS];
    size_t n_warnings;
};

/** Fills err (type, position, printf reason) and returns rc. */
int sift__query_error(struct sift_query_error *err, int rc, int status,
                      const char *type, int32_t pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/** template_ids.c: _template_id:N terms become an OR over the ids that
 * stand for N's template (when the anomaly service registered them). */
void sift__query_expand_template_ids(struct sift_query *q);

/** plan.c: tokenizes words, lowercases, compiles regexes, orders ANDs. */
int sift__query_plan(struct sift_query *q, struct sift_query_error *err);

/* ---- evaluation (exec.c) ---- */

#define SIFT_QCTX_MAX_DEFERRED 8u

/* A phrase whose adjacency check was left to sift__query_verify_doc(). */
struct sift_qdeferred {
    const struct sift_qnode *n;
    const char *field; /* the name used in this segment (aliases) */
    size_t field_len;
    roaring_bitmap_t *sure; /* owned: docs known to match (their message
                               shape holds the phrase), or NULL */
};

struct sift_qctx {
    const struct sift_segment *seg;
    int64_t deadline_mono_ns; /* 0 = none */
    uint64_t max_expansion;   /* 0 = unlimited */
    struct sift_query_error *err;
    int timed_out;
    uint32_t ticks; /* loop iterations since the last clock read */
    /*
     * Lazy phrase verification (search only): with defer_phrases set, a
     * phrase that is a top conjunct of the query yields its candidates
     * (docs holding every token) and is recorded here; the result of
     * sift__query_eval_segment() is then a superset, and a doc of it
     * matches iff sift__query_verify_doc() says so.  Reset per segment.
     */
    int defer_phrases;
    uint32_t n_deferred;
    struct sift_qdeferred deferred[SIFT_QCTX_MAX_DEFERRED];
    struct sift_buf *doc; /* verification scratch, lazily made */
    struct sift_arena *arena;
};

/**
 * Checks the deferred phrases of ctx on doc d of ctx->seg (reads the doc
 * store).  *match is 1 when every one holds.  Returns SIFT_OK or a
 * negative code with ctx->err filled.
 */
int sift__query_verify_doc(struct sift_qctx *ctx, uint32_t d, int *match);

/** Frees the scratch of ctx (not ctx itself). */
void sift__query_ctx_cleanup(struct sift_qctx *ctx);

/**
 * Evaluates q on one segment over doc ids [lo, hi), minus deleted docs.
 * *out is an owned bitmap.  Returns SIFT_OK, SIFT_ETIMEOUT (ctx->timed_out
 * set; *out NULL), SIFT_ELIMIT (expansion), SIFT_ECORRUPT or SIFT_ENOMEM
 * with ctx->err filled.
 */
int sift__query_eval_segment(const struct sift_query *q, struct sift_qctx *ctx,
                             uint32_t lo, uint32_t hi, roaring_bitmap_t **out);

/**
 * sift__query_eval_segment() on the docs of seg whose ts lies in
 * [from_ns, to_ns); sets ctx->seg to seg.  Same results and ownership.
 */
int sift__query_eval_in_range(const struct sift_query *q, struct sift_qctx *ctx,
                              const struct sift_segment *seg, int64_t from_ns,
                              int64_t to_ns, roaring_bitmap_t **out);

/**
 * Finds field name[0..len) in seg, applying the query-language aliases
 * (level -> log.level, service -> service.name, host -> host.name) only
 * when the name itself is not a field of seg.  Returns the field index or
 * -1; *out_name / *out_len (optional) receive the name actually used.
 */
int sift__query_field_find(const struct sift_segment *seg, const char *name,
                           size_t len, const char **out_name, size_t *out_len);

/**
 * Writes to idx the indexes of the segments of segs[0..n) that may hold
 * docs in [from_ns, to_ns) (not empty, time ranges overlap), in order;
 * returns how many.  idx has room for n.
 */
size_t sift__query_segs_in_range(struct sift_segment *const *segs, size_t n,
                                 int64_t from_ns, int64_t to_ns, size_t *idx);

/** Docs [lo,hi) of seg whose ts lies in [from_ns, to_ns). */
void sift__query_doc_range(const struct sift_segment *seg, int64_t from_ns,
                           int64_t to_ns, uint32_t *lo, uint32_t *hi);

/** Non-zero (and ctx->timed_out set) once the deadline has passed. */
int sift__query_check_deadline(struct sift_qctx *ctx);

/** Wildcard match of a whole term against a pattern with escapes. */
int sift__query_wild_match(const char *pat, size_t pat_len, const char *s,
                           size_t len);

/* ---- parallel fan-out over segments (par.c) ---- */

#define SIFT_QPAR_MAX_LANES 64u

/*
 * Runs one segment into lane (the partial result of the calling lane).
 * ctx is fresh for the call (deadline, expansion limit, err); the callback
 * sets ctx->seg.  Returns SIFT_OK, SIFT_ETIMEOUT (or sets ctx->timed_out)
 * to stop the run as timed out, or a negative code (err filled) to fail
 * it.
 */
typedef int (*sift__qpar_seg_cb)(void *lane, size_t i, struct sift_qctx *ctx,
                                 void *arg);

struct sift__qpar_spec {
    struct sift_pool *pool; /* NULL: the caller runs every segment */
    size_t n;               /* segment indexes 0..n-1 */
    void *lanes;            /* n_lanes partial results of lane_size */
    size_t lane_size;
    sift__qpar_seg_cb cb;
    void *arg;
    int64_t deadline_mono_ns;
    uint64_t max_expansion;
};

/** How many lanes to use for n segments: 1 without a pool. */
unsigned sift__query_par_lanes(struct sift_pool *pool, unsigned parallelism,
                               size_t n);

/**
 * Calls spec->cb for every index in [0, n) over n_lanes lanes (the caller
 * is lane 0, helpers run on spec->pool) and returns when all are done.
 * *timed_out says whether a segment timed out (the rest were skipped).
 * Returns SIFT_OK, or the code and err of the lowest failing segment.
 * Any thread, including a pool worker; spec and the lanes are borrowed.
 */
int sift__query_par_run(const struct sift__qpar_spec *spec, unsigned n_lanes,
                        struct sift_query_error *err, int *timed_out);

/** Segments run by helper lanes (not the caller) since start. */
uint64_t sift__query_par_helped(void);

struct sift_event;
/** Appends one hit (the event's key and encoded bytes) to res. */
void sift__search_result_add(struct sift_search_result *res, int64_t ts_ns,
                             uint64_t hash, const void *doc, size_t len);

/* A hit's "_id": base64url (no padding) of {version 1, ts_ns, hash}, 17
 * bytes as 23 characters. */
#define SIFT_QUERY_ID_VERSION 1
#define SIFT_QUERY_ID_LEN SIFT_HIT_ID_LEN

/** Writes the "_id" of the event (ts_ns, hash) into out.  Pure. */
void sift__query_id_encode(int64_t ts_ns, uint64_t hash,
                           char out[SIFT_QUERY_ID_LEN + 1]);
/**
 * Reads an "_id" (s[0..len), need not be NUL-terminated) back.  Returns
 * SIFT_OK, or SIFT_EINVAL for anything sift__query_id_encode() does not
 * write (wrong length, alphabet or version, stray bits).  Pure.
 */
int sift__query_id_decode(const char *s, size_t len, int64_t *ts_ns,
                          uint64_t *hash);

/**
 * Writes into out[0..cap) the search-after cursor that resumes just past
 * the event (ts_ns, hash) in the given order, skipping skip docs with that
 * exact key (the event itself and identical copies already shown).  Used
 * by context.c to read the events around one event.  Pure.
 */
void sift__query_cursor_at(int64_t ts_ns, uint64_t hash, uint32_t skip,
                           int oldest_first, char *out, size_t cap);

#endif /* SIFT_QUERY_INT_H */
