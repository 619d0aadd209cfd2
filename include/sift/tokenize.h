/*
 * tokenize.h - splitting text into index terms.
 *
 * Rules (docs/internals/index.md has the full table and examples):
 *   - A token is a maximal run of ASCII letters and digits and of bytes
 *     >= 0x80 (so UTF-8 words stay whole); every other byte separates.
 *   - ASCII letters are lowercased; other bytes are kept as they are.
 *   - Tokens longer than SIFT_TOKEN_MAX bytes are cut to that length.
 *   Examples: "10.2.3.44:8443" -> 10 2 3 44 8443;  "user_id=42" -> user
 *   id 42;  "c.e.checkout.PaymentClient" -> c e checkout paymentclient.
 * The same function tokenizes documents and query words, so a query word
 * matches exactly the tokens it would have produced in a document.
 * Pure; any thread.
 */
#ifndef SIFT_TOKENIZE_H
#define SIFT_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#define SIFT_TOKEN_MAX 64

/**
 * Called per token: tok is lowercased into a scratch buffer (borrowed for
 * the call), pos is the token's ordinal (0, 1, 2...) and off its byte
 * offset in the input.  Return non-zero to stop.
 */
typedef int (*sift_token_cb)(const char *tok, size_t len, uint32_t pos,
                             size_t off, void *arg);

/** Tokenizes s[0..len); returns the number of tokens seen. */
uint32_t sift_tokenize(const char *s, size_t len, sift_token_cb cb, void *arg);

/** Lowercases ASCII of s[0..len) into out (which has room for len). */
void sift_ascii_lower(const char *s, size_t len, char *out);

#endif /* SIFT_TOKENIZE_H */
