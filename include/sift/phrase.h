/*
 * phrase.h - whether a message shape holds a phrase.
 *
 * A segment stores each message as a shape (constant pieces) and slot
 * values (store/segment_fmt.h SHAPES): a slot is a non-empty run of ASCII
 * letters and digits holding a digit, so whatever its value it is token
 * bytes, and the tokens of every message of one shape sit at the same
 * places: the tokens made only of constant bytes are the same in every
 * message, the ones that take in a slot vary.  Given the tokens of a
 * phrase (sift_tokenize() of the query), sift_phrase_shape() tells from
 * the shape alone whether every message of the shape holds the phrase
 * (it lies in constant tokens), none does (no alignment fits even with
 * the varying tokens as wildcards), or only the slot values can tell.
 *
 * One exception: the shape of one slot between two empty pieces is also
 * the builder's "verbatim" shape (the whole message as one slot value,
 * any text), so it is always SIFT_PHRASE_MAYBE.
 *
 * Pure; any thread.
 */
#ifndef SIFT_PHRASE_H
#define SIFT_PHRASE_H

#include <stddef.h>
#include <stdint.h>

enum sift_phrase_class {
    SIFT_PHRASE_NEVER = 1,  /* no message of the shape holds the phrase */
    SIFT_PHRASE_MAYBE = 2,  /* depends on the slot values: verify */
    SIFT_PHRASE_ALWAYS = 3, /* every message of the shape holds it */
};

#define SIFT_PHRASE_MAX_TOKENS 64 /* tokens of a phrase (bits of a word) */

/**
 * Classifies the shape of k slots whose k + 1 pieces are given as in the
 * SHAPES section (each: varint length, bytes) in p[0..len) against the
 * phrase toks[0..n) (2 <= n <= SIFT_PHRASE_MAX_TOKENS, each as
 * sift_tokenize() makes them: lowercased, cut at SIFT_TOKEN_MAX).
 * Returns a sift_phrase_class, or 0 when the pieces do not parse.
 */
int sift_phrase_shape(const uint8_t *p, size_t len, uint32_t k,
                      const char *const *toks, const size_t *lens, uint32_t n);

/*
 * One alignment of a phrase on a shape's tokens that may fit: req[first ..
 * first + n) are its words that fall on tokens made of exactly one slot
 * (the slot's value must tokenize to that word); open when a word falls
 * on a token that is partly a slot (only the message text can tell).
 * A message of the shape holds the phrase iff some alignment holds.
 */
struct sift_phrase_req {
    uint16_t slot; /* 0-based slot number in the shape */
    uint16_t word; /* index into the phrase's tokens */
};

struct sift_phrase_align {
    uint32_t first, n;
    int open;
};

/**
 * sift_phrase_shape(), and for a SIFT_PHRASE_MAYBE shape the alignments
 * that may fit in al[0 .. *n_al) (their requirements in req).  *n_al is
 * 0 when they did not fit in al_cap / req_cap, for the verbatim shape,
 * and for any other class: then only the text can tell.
 */
int sift_phrase_plan(const uint8_t *p, size_t len, uint32_t k,
                     const char *const *toks, const size_t *lens, uint32_t n,
                     struct sift_phrase_align *al, uint32_t al_cap,
                     struct sift_phrase_req *req, uint32_t req_cap,
                     uint32_t *n_al);

#endif /* SIFT_PHRASE_H */
