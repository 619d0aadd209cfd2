/*
 * tokenize.c - splits text into index terms.
 *
 * Design: one pass over the bytes with a 256-entry class table.  A token
 * is a maximal run of ASCII letters, digits and bytes >= 0x80 (so UTF-8
 * sequences stay inside words); everything else separates.  ASCII letters
 * are lowercased into a small stack scratch buffer handed to the callback;
 * tokens longer than SIFT_TOKEN_MAX are cut (the rest of the run is
 * skipped, so one long run yields one token).  Rules and examples:
 * docs/internals/index.md.
 *
 * Invariants: the same function serves documents and query words.  The
 * cut at SIFT_TOKEN_MAX may split a UTF-8 sequence; both sides cut the
 * same way, so matching is unaffected.
 *
 * Threads: pure, any thread.
 */
#include <stddef.h>
#include <stdint.h>

#include "sift/tokenize.h"

/* 0 = separator, 1 = token byte kept as is, 2 = ASCII upper-case letter. */
static const uint8_t tok_class[256] = {
    ['0'] = 1,  ['1'] = 1,  ['2'] = 1,  ['3'] = 1,  ['4'] = 1,  ['5'] = 1,
    ['6'] = 1,  ['7'] = 1,  ['8'] = 1,  ['9'] = 1,  ['a'] = 1,  ['b'] = 1,
    ['c'] = 1,  ['d'] = 1,  ['e'] = 1,  ['f'] = 1,  ['g'] = 1,  ['h'] = 1,
    ['i'] = 1,  ['j'] = 1,  ['k'] = 1,  ['l'] = 1,  ['m'] = 1,  ['n'] = 1,
    ['o'] = 1,  ['p'] = 1,  ['q'] = 1,  ['r'] = 1,  ['s'] = 1,  ['t'] = 1,
    ['u'] = 1,  ['v'] = 1,  ['w'] = 1,  ['x'] = 1,  ['y'] = 1,  ['z'] = 1,
    ['A'] = 2,  ['B'] = 2,  ['C'] = 2,  ['D'] = 2,  ['E'] = 2,  ['F'] = 2,
    ['G'] = 2,  ['H'] = 2,  ['I'] = 2,  ['J'] = 2,  ['K'] = 2,  ['L'] = 2,
    ['M'] = 2,  ['N'] = 2,  ['O'] = 2,  ['P'] = 2,  ['Q'] = 2,  ['R'] = 2,
    ['S'] = 2,  ['T'] = 2,  ['U'] = 2,  ['V'] = 2,  ['W'] = 2,  ['X'] = 2,
    ['Y'] = 2,  ['Z'] = 2,  [0x80] = 1, [0x81] = 1, [0x82] = 1, [0x83] = 1,
    [0x84] = 1, [0x85] = 1, [0x86] = 1, [0x87] = 1, [0x88] = 1, [0x89] = 1,
    [0x8a] = 1, [0x8b] = 1, [0x8c] = 1, [0x8d] = 1, [0x8e] = 1, [0x8f] = 1,
    [0x90] = 1, [0x91] = 1, [0x92] = 1, [0x93] = 1, [0x94] = 1, [0x95] = 1,
    [0x96] = 1, [0x97] = 1, [0x98] = 1, [0x99] = 1, [0x9a] = 1, [0x9b] = 1,
    [0x9c] = 1, [0x9d] = 1, [0x9e] = 1, [0x9f] = 1, [0xa0] = 1, [0xa1] = 1,
    [0xa2] = 1, [0xa3] = 1, [0xa4] = 1, [0xa5] = 1, [0xa6] = 1, [0xa7] = 1,
    [0xa8] = 1, [0xa9] = 1, [0xaa] = 1, [0xab] = 1, [0xac] = 1, [0xad] = 1,
    [0xae] = 1, [0xaf] = 1, [0xb0] = 1, [0xb1] = 1, [0xb2] = 1, [0xb3] = 1,
    [0xb4] = 1, [0xb5] = 1, [0xb6] = 1, [0xb7] = 1, [0xb8] = 1, [0xb9] = 1,
    [0xba] = 1, [0xbb] = 1, [0xbc] = 1, [0xbd] = 1, [0xbe] = 1, [0xbf] = 1,
    [0xc0] = 1, [0xc1] = 1, [0xc2] = 1, [0xc3] = 1, [0xc4] = 1, [0xc5] = 1,
    [0xc6] = 1, [0xc7] = 1, [0xc8] = 1, [0xc9] = 1, [0xca] = 1, [0xcb] = 1,
    [0xcc] = 1, [0xcd] = 1, [0xce] = 1, [0xcf] = 1, [0xd0] = 1, [0xd1] = 1,
    [0xd2] = 1, [0xd3] = 1, [0xd4] = 1, [0xd5] = 1, [0xd6] = 1, [0xd7] = 1,
    [0xd8] = 1, [0xd9] = 1, [0xda] = 1, [0xdb] = 1, [0xdc] = 1, [0xdd] = 1,
    [0xde] = 1, [0xdf] = 1, [0xe0] = 1, [0xe1] = 1, [0xe2] = 1, [0xe3] = 1,
    [0xe4] = 1, [0xe5] = 1, [0xe6] = 1, [0xe7] = 1, [0xe8] = 1, [0xe9] = 1,
    [0xea] = 1, [0xeb] = 1, [0xec] = 1, [0xed] = 1, [0xee] = 1, [0xef] = 1,
    [0xf0] = 1, [0xf1] = 1, [0xf2] = 1, [0xf3] = 1, [0xf4] = 1, [0xf5] = 1,
    [0xf6] = 1, [0xf7] = 1, [0xf8] = 1, [0xf9] = 1, [0xfa] = 1, [0xfb] = 1,
    [0xfc] = 1, [0xfd] = 1, [0xfe] = 1, [0xff] = 1,
};

uint32_t
sift_tokenize(const char *s, size_t len, sift_token_cb cb, void *arg)
{
    const uint8_t *p = (const uint8_t *)s;
    char tok[SIFT_TOKEN_MAX];
    uint32_t pos = 0;
    size_t i = 0;

    while (i < len) {
        while (i < len && tok_class[p[i]] == 0)
            i++;
        if (i >= len)
            break;
        size_t start = i;
        size_t n = 0;
        while (i < len && tok_class[p[i]] != 0) {
            if (n < SIFT_TOKEN_MAX) {
                uint8_t c = p[i];
                tok[n++] = (char)(tok_class[c] == 2 ? c + 32 : c);
            }
            i++;
        }
        uint32_t this_pos = pos++;
        if (cb != NULL && cb(tok, n, this_pos, start, arg) != 0)
            break;
    }
    return pos;
}

void
sift_ascii_lower(const char *s, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
}
