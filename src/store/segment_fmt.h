/*
 * segment_fmt.h - the on-disk segment format, byte by byte.
 *
 * FORMAT VERSION 7 (written); readers also read versions 3 to 6, whose
 * differences are marked "[v3: ...]" to "[v6: ...]" below.
 * A format change updates this comment first, then SIFT_SEGFMT_VERSION,
 * then the files of the section (segment_int.h lists them), and keeps
 * reading the versions before it (files on users' disks);
 * tests/data/segment/format3.seg to format6.seg are fixtures written
 * by those builders.
 *
 * Version 5 added the ORIGIN section (below): where the docs came from
 * (WAL seq range, source positions, merged segment ids), so a segment
 * file can be placed in a rebuilt manifest.  Nothing else changed.
 *
 * Version 6 added the SLOTIDX section (below): per message shape and
 * slot, the frequent slot values as tokens and a code per doc, so a
 * phrase whose words fall in slot values is decided without reading
 * the doc store.  Nothing else changed.
 *
 * Version 7 added NUMCOL mode 2 (integers bit-packed in blocks of 128
 * docs from a line through each block, absent docs in a presence bitmap)
 * and lets the doc store omit a NUMBER value that is the canonical
 * decimal text of its number column's integer (DOCS stream 4, v = 0).
 * Nothing else changed.
 *
 * Conventions
 * -----------
 *   - All fixed-width integers are little-endian.  i64 is two's complement.
 *   - varint = unsigned LEB128 (7 bits per byte, low group first, high bit
 *     set on every byte but the last, at most 10 bytes, the 10th byte <= 1).
 *     sift_buf_put_varint() / sift_get_varint() implement it.
 *   - zvarint = varint of the zigzag form ((v << 1) ^ (v >> 63)).
 *   - Offsets are from the first byte of the image unless said otherwise.
 *   - Every section starts at an offset that is a multiple of 32, and every
 *     frozen roaring bitmap starts at an image offset that is a multiple of
 *     32 (roaring_bitmap_frozen_view() needs a 32-byte aligned pointer; the
 *     image itself is page aligned when mmap'd and copied to a 32-byte
 *     aligned buffer by open_mem when it is not).  Gap bytes are zero.
 *   - Checksums are XXH3_64bits (xxhash >= 0.8, seed 0).
 *   - A frozen bitmap is roaring_bitmap_frozen_serialize() output (CRoaring
 *     0.2.x, little-endian layout).  Its containers are validated before
 *     use (sorted keys, sorted arrays, bitset cardinality, runs in range).
 *
 * Image layout
 * ------------
 *   [header 64 B][section]...[section][section table][trailer 32 B]
 *
 * Header (64 bytes, offset 0)
 *   off size field
 *   0   8    magic "SIFTSEG\0"
 *   8   4    format version (7, or 3 to 6 for older files; a reader
 *            rejects any other version with SIFT_ECORRUPT and logs
 *            "unsupported format version")
 *   12  4    doc count n
 *   16  8    min ts (i64 ns; 0 when n == 0)
 *   24  8    max ts (i64 ns; 0 when n == 0)
 *   32  1    codec: 1 = zstd doc store
 *   33  1    tier (0 hot, 1 warm, 2 cold)
 *   34  2    flags: bit 0 = a ZDICT section is present (the doc store
 *            blocks were compressed with it); other bits 0
 *   36  4    field count
 *   40  8    image length in bytes
 *   48  8    XXH3 of bytes 0..47
 *   56  8    zero
 *
 * Trailer (last 32 bytes of the image)
 *   off size field
 *   0   8    section table offset (multiple of 8)
 *   8   4    section count s (<= SIFT_SEGFMT_MAX_SECTIONS)
 *   12  4    format version (equal to the header's)
 *   16  8    XXH3 of the section table bytes followed by trailer bytes 0..15
 *   24  8    magic "SIFTEND\0"
 *
 * Section table (s entries of 32 bytes, directly before the trailer)
 *   off size field
 *   0   4    kind (SIFT_SEGSEC_*)
 *   4   4    field index, or UINT32_MAX for whole-segment sections
 *   8   8    offset (multiple of 32, >= 64)
 *   16  8    length (offset + length <= section table offset)
 *   24  8    XXH3 of the section bytes
 *   Sections do not overlap; each (kind, field) appears at most once.
 *   Required: FIELDS, TS, DOCS, DOCKEYS, DELETED, SHAPES, SHAPEDOCS,
 *   from version 5 ORIGIN [v3, v4: no ORIGIN; a reader refuses one] and
 *   from version 6 SLOTIDX [v3 to v5: no SLOTIDX; a reader refuses one].
 *   Per field: TERMS when the field has flag TERMS, KWCOL when KEYWORD,
 *   NUMCOL when NUMBER.
 *
 * FIELDS section: for each field, sorted by name (bytewise, shorter first
 * on a common prefix), names unique:
 *   varint name_len (1..255), name bytes, u8 flags (SIFT_SEGF_*),
 *   varint n_terms
 *
 * TS section: the doc timestamps, non-decreasing in doc order, in blocks of
 * 128 docs (the last block may be shorter).
 *   off size field
 *   0   4    block count b = ceil(n / 128)
 *   4   4    zero
 *   8   16*b block index, per block:
 *            i64 base (ts of the block's first doc), u32 byte offset of the
 *            block's entry in the packed area (from its start), u8 bit
 *            width w (0..64), u8 decimal scale e (0..18), 2 zero bytes
 *   8+16b    packed area: per block, varint step s, varint m, then the
 *            values u[i] as unsigned w-bit integers, LSB-first bit
 *            packing, ceil(count * w / 8) bytes, where (all mod 2^64)
 *              (ts[i] - base) / 10^e = i * s + u[i] - m.
 *            The builder picks the largest e that divides every delta of
 *            the block (timestamps of ms or s precision need 6 or 9 fewer
 *            digits), then s = 0, m = 0 (u = the scaled deltas) or s =
 *            the scaled last delta / (count - 1) and m = -(least residual
 *            (ts[i] - base) / 10^e - i * s), whichever gives the smaller
 *            w (a steady rate costs 0 bits per doc).
 *            [v3: no s and m; u[i] = (ts[i] - base) / 10^e.]
 *   doc_ts is O(1); ts_lower_bound is a binary search on the bases and then
 *   in one block.
 *
 * TERMS section (one per field with terms): the field's term dictionary
 * and postings.  Its bytes are specified in include/sift/termdict.h and
 * include/sift/postings.h, beside the index module that writes and reads
 * them (src/index/); postings tag 3 names shapes of the SHAPES section
 * below.  TERMS is the same in every version this build reads (3 to 7).
 *
 * KWCOL section (dictionary column of a KEYWORD field; values are the
 * field's terms, lowercased, so ordinal order = term order):
 *   off size field
 *   0   4    cardinality c (<= term count)
 *   4   1    code width w in bits (1..32, the fewest bits that hold c)
 *   5   3    zero
 *   8   4*(c+1) value offsets from the start of the value blob; value i is
 *            blob[off[i] .. off[i+1]-1), followed by one NUL in the blob
 *   ..  ...  value blob
 *   ..  ceil(n*w/8) codes per doc, w-bit LSB-first packing: the ordinal,
 *            or c = absent; the section ends right after them
 *
 * NUMCOL section (numeric column of a NUMBER field, or _template_id):
 *   off size field
 *   0   1    mode: 0 = plain, 1 = dictionary, 2 = integers (version 7;
 *            [v3 to v6: 0 or 1])
 *   1   7    zero
 *   mode 0:  8*n little-endian IEEE-754 doubles, one per doc; NaN = absent
 *   mode 1:  u32 cardinality c (1..SIFT_SEGFMT_NUM_DICT_MAX), u8 code
 *            width w in bits (1..32, the fewest bits that hold c), 3 zero,
 *            then c distinct non-NaN doubles in ascending order, then
 *            ceil(n*w/8) codes per doc (w-bit LSB-first; c = absent); the
 *            section ends right after them.  The builder uses mode 1 when
 *            the segment has <= SIFT_SEGFMT_NUM_DICT_MAX distinct values
 *            and it is smaller.
 *   mode 2:  every value is an integer v with |v| <= 2^53 (not -0.0),
 *            in blocks of SIFT_SEGFMT_NUM_BLOCK (128) docs, the last one
 *            maybe shorter (cnt docs):
 *     8   4    block count b = ceil(n / 128)
 *     12  4    zero
 *     16  16*b block index, per block: i64 base, u32 byte offset of the
 *              block's entry in the packed area (from its start), u8 bit
 *              width w (0..64), u8 flags (bit 0: presence bitmap; other
 *              bits 0), 2 zero bytes
 *     16+16b   packed area: per block, zvarint step s, varint m, then
 *              when flag bit 0 is set ceil(cnt / 8) bytes of presence
 *              bitmap (bit j, LSB-first, set when doc first + j has a
 *              value; bits past cnt zero) and p = its popcount, else p =
 *              cnt; then u[0..p) as unsigned w-bit integers, LSB-first,
 *              ceil(p * w / 8) bytes.  The r-th doc of the block that
 *              has a value has (all mod 2^64, read as i64)
 *                v = base + r * s + u[r] - m.
 *            A doc without a bit in a block with a bitmap has no value.
 *            The builder writes base = the block's first value (0 when
 *            none), picks s = 0 or s = (last - first) / (p - 1)
 *            (truncated), whichever gives the smaller w, with m =
 *            -(least residual v - base - r * s); and a bitmap only when
 *            some doc of the block has no value.  (A counter such as a
 *            file offset that grows steadily costs its block index and a
 *            few bits per doc.)  It takes the smallest of modes 0, 1
 *            and 2 (mode 2 only when every value qualifies).
 *
 * DOCKEYS section (the doc store's field names): varint key count, then
 * per key: varint name length, name bytes, u8 field type (1..3).  A key
 * is a (name, type) pair; stored docs name their fields by key index.
 * Keys are unique; the section is never longer than the doc store needs.
 *
 * SHAPES section (message shapes, never compressed with the ZDICT):
 *   off size field
 *   0   4    raw length R (<= SIFT_SEGFMT_MAX_BLOCK)
 *   4   4    shape count S (<= SIFT_SEGFMT_MAX_SHAPES)
 *   8   ...  zstd frame of R bytes: per shape, varint slot count k
 *            (0..SIFT_SEGFMT_MAX_SLOTS), then k + 1 constant pieces,
 *            each varint length + bytes.  Nothing after the last shape.
 * A message of shape s is piece 0, slot value 1, piece 1, ..., slot
 * value k, piece k.  The builder's split (deterministic, independent of
 * any template miner): a slot is a maximal run of ASCII letters and
 * digits that contains a digit (numbers, ids, IPs' octets, hex);
 * everything else is constant text; runs after the first
 * SIFT_SEGFMT_MAX_SLOTS stay constant text.  Once the segment has
 * SIFT_SEGFMT_MAX_SHAPES - 1 shapes or their raw bytes pass
 * SIFT_SEGFMT_MAX_BLOCK / 2, further new shapes use the verbatim shape
 * (k = 1, two empty pieces: the message is one slot value).  Readers do
 * not depend on the order of the shapes.
 *
 * SHAPEDOCS section (docs per shape, for postings tag 3, and in version
 * 4 the only record of each doc's shape):
 *   0   4    raw length R (<= SIFT_SEGFMT_MAX_BLOCK), 4 zero bytes
 *   8   ...  zstd frame of R bytes: per shape in id order, varint count c
 *            (>= 1), varint first doc id, c - 1 varint deltas >= 1; the
 *            counts sum to n, every id < n, each doc in exactly one shape
 *            (the one the doc store names).
 *
 * DOCS section (doc store):
 *   off size field
 *   0   4    block count k
 *   4   4    zero
 *   8   24*k block index, per block:
 *            u32 first doc id, u32 doc count c, u32 compressed length,
 *            u32 raw length (<= SIFT_SEGFMT_MAX_BLOCK), u64 offset of the
 *            compressed frame from section start
 *   ..  ...  zstd frames.  Blocks cover docs 0..n-1 in order without gaps.
 *   A raw block of c docs is five streams, one after the other:
 *     1. per doc in doc id order: varint template id (<= UINT32_MAX),
 *        varint field count nf (the doc's shape is the one SHAPEDOCS
 *        lists it under) [v3: varint shape id (< S) first];
 *     2. per doc in doc id order, per field: varint key index (< DOCKEYS
 *        count);
 *     3. slot values: for each shape of the block in ascending id order,
 *        for each slot 1..k of the shape, one column: the values of that
 *        slot of the block's docs of that shape, in doc id order.  (Values
 *        of one slot of one shape sit together, which zstd compresses much
 *        better.)  A column is a u8 mode, then
 *          0: per value varint length, bytes;
 *          1: per value zvarint (v - previous v; the first from 0); each
 *             v < 10^SIFT_SEGFMT_SLOT_DIGITS, the value is v in decimal
 *             without leading zeros;
 *          2: varint width W (1..SIFT_SEGFMT_SLOT_DIGITS), then as 1 with
 *             each v < 10^W, the value is v in decimal zero-padded to W
 *             digits;
 *          3: u8 width B (1..8), then per value B bytes: v as a
 *             little-endian unsigned integer; the value is v in decimal
 *             without leading zeros (1..SIFT_SEGFMT_SLOT_DIGITS_U64
 *             digits, v <= 2^64 - 1).
 *        The builder uses 3 when every value is a digit run without a
 *        leading zero that fits 64 bits and B * count bytes (B: the
 *        fewest bytes that hold the largest) are fewer than the text
 *        estimate (3.3 bits per digit + 1 byte per value) and, when
 *        every value has at most 18 digits, fewer than the varint bytes
 *        of mode 1's deltas; else 1 (all values are digit runs of at
 *        most 18 digits without a leading zero) or 2 (all of one width
 *        of at most 18) when the deltas' varint bytes are fewer than the
 *        text estimate; else 0.  (Random ids, e.g. 19-digit block ids,
 *        take 3; counters and clocks take 1 or 2.)
 *        [v3: no mode byte; always the mode 0 values.]
 *     4. field values: for each key index in ascending order, for each
 *        doc in doc id order, for each of its fields with that key in
 *        field order: varint v, then if v > 0, v - 1 value bytes; v = 0
 *        means the value is the doc's value in the dictionary column
 *        (KWCOL) of the field named like the key (the builder uses it
 *        only when they are byte-equal, i.e. the value is lower-case),
 *        or, in version 7 when that field has no KWCOL but a NUMCOL, the
 *        canonical decimal text of the doc's integer in the NUMCOL
 *        (optional '-', then digits without leading zeros, "0" for 0
 *        and for -0.0, which a mode 1 dictionary may hold for 0; the
 *        value must be an integer with |v| <= 2^53 - a reader meets
 *        anything else, or no value, as corrupt); the builder uses it
 *        only when the stored text is byte-equal to that text of the
 *        doc's number (never for the text "-0");
 *     5. nothing: the streams end exactly at the raw length.
 *   The reader decodes a block once into per-doc value references.  The
 *   timestamp is not stored (the TS column has it); the reader rebuilds
 *   the sift_doc_encode() form from the TS column, stream 1, the shape,
 *   the slot values, DOCKEYS and the keyword columns.
 *
 * SLOTIDX section (version 6; never compressed with the ZDICT):
 *   off size field
 *   0   4    raw length R (<= SIFT_SEGFMT_MAX_BLOCK)
 *   4   4    zero
 *   8   ...  zstd frame of R bytes: per shape of SHAPES in id order, per
 *            slot 1..k of the shape (nothing for a shape of 0 slots),
 *            one column over the shape's docs in SHAPEDOCS order (doc id
 *            order), m = the shape's doc count:
 *              varint c (0..SIFT_SEGFMT_SLOTIDX_MAX), the dictionary size;
 *              c entries, each varint length l (1..SIFT_TOKEN_MAX) and l
 *                bytes, strictly ascending bytewise (shorter first on a
 *                common prefix);
 *              when c > 0: u8 width w (at least the fewest bits that hold
 *                c, at most 32; the builder writes 8 when that is 2..8,
 *                whole bytes that zstd's entropy coder shrinks when some
 *                values are far more frequent), then ceil(m * w / 8)
 *                bytes of codes, w-bit LSB-first, one per doc: i + 1
 *                when the doc's value of this slot tokenizes to entry i,
 *                0 when to no entry.
 *            Nothing after the last column.  A value's token is the value
 *            lowercased (ASCII) and cut at SIFT_TOKEN_MAX bytes, what the
 *            tokenizer makes of it when the slot is a whole token.  An
 *            entry's docs are all coded with it: a doc coded 0 holds
 *            none of the entries in that slot.  Which tokens get entries
 *            is the builder's choice (readers do not depend on it): the
 *            tokens that occur at least m / 32 times in the column,
 *            clamped to 2..SIFT_SEGFMT_SLOTIDX_MIN_COUNT, the most frequent
 *            SIFT_SEGFMT_SLOTIDX_MAX of them (ties: bytewise smaller
 *            first); none for the verbatim shape (one slot between two
 *            empty pieces, whose value is any text).  A code above c
 *            (only in a damaged file the checksum let through) reads as
 *            0: the reader then checks the doc store.
 *
 * ZDICT section (optional, header flag bit 0): the zstd dictionary the doc
 * store blocks were compressed with (SHAPES, SHAPEDOCS and term chunks
 * never use it).  The builder given a dictionary compresses the first
 * block with and without it and drops it (no section, flag 0) unless the
 * saving times the expected block count exceeds its length.
 *
 * DELETED section: a frozen roaring bitmap of deleted doc ids (< n), or
 * zero bytes when nothing is deleted.
 *
 * ORIGIN section (version 5): where the docs came from.
 *   off size field
 *   0   1    layout, 1 (SIFT_SEGFMT_ORIGIN_LAYOUT)
 *   1   1    kind: 0 unknown (built outside the store: tools, tests),
 *            1 sealed from WAL batches by the store, 2 output of a merge
 *            or tier move (SIFT_SEG_ORIGIN_*)
 *   2   ...  varint min_seq, varint max_seq: the WAL sequence numbers of
 *            the first and last record sealed into it (a merge: the
 *            least and greatest over its inputs); both 0 when unknown,
 *            else 1 <= min_seq <= max_seq
 *        varint n_inputs (<= SIFT_SEGFMT_ORIGIN_MAX_INPUTS), then the ids
 *            of the segments a merge took in (file <id:020>.seg), in
 *            ascending order: the first as a varint, each next as a
 *            varint delta >= 1 from the one before
 *        varint n_pos (<= SIFT_SEGFMT_ORIGIN_MAX_POS), then per source
 *            position, sorted bytewise by key, keys unique: varint key
 *            length (1..SIFT_SEGFMT_ORIGIN_MAX_KEY), key bytes (no NUL),
 *            varint hi, varint lo.  Per key the highest position of the
 *            batches sealed into it (batches without docs that were
 *            sealed with it count too; a merge: over its inputs).
 *   and nothing after.  The encoding is canonical (one byte string per
 *   origin).  The store places a file by these facts when its manifest
 *   is lost (docs/internals/storage.md, "Rebuilding the manifest").
 */
#ifndef SIFT_STORE_SEGMENT_FMT_H
#define SIFT_STORE_SEGMENT_FMT_H

#include <stdint.h>

#define SIFT_SEGFMT_MAGIC "SIFTSEG\0"
#define SIFT_SEGFMT_END_MAGIC "SIFTEND\0"
#define SIFT_SEGFMT_VERSION 7u     /* written */
#define SIFT_SEGFMT_VERSION_MIN 3u /* oldest read */
#define SIFT_SEGFMT_HEADER_LEN 64u
#define SIFT_SEGFMT_TRAILER_LEN 32u
#define SIFT_SEGFMT_SECENT_LEN 32u
#define SIFT_SEGFMT_ALIGN 32u
#define SIFT_SEGFMT_CODEC_ZSTD 1u
#define SIFT_SEGFMT_FLAG_ZDICT 0x1u

#define SIFT_SEGFMT_TS_BLOCK 128u /* docs per timestamp block */

/*
 * 10^e for the timestamp block scale (byte 13 of a block index entry):
 * deltas are stored divided by 10^e.  Exponents past 18 do not occur in
 * valid files; they read as 0 (scale 1) so a corrupt byte cannot index
 * out of range.
 */
static inline uint64_t
sift__segfmt_pow10(unsigned e)
{
    static const uint64_t pow10[19] = {
        UINT64_C(1),
        UINT64_C(10),
        UINT64_C(100),
        UINT64_C(1000),
        UINT64_C(10000),
        UINT64_C(100000),
        UINT64_C(1000000),
        UINT64_C(10000000),
        UINT64_C(100000000),
        UINT64_C(1000000000),
        UINT64_C(10000000000),
        UINT64_C(100000000000),
        UINT64_C(1000000000000),
        UINT64_C(10000000000000),
        UINT64_C(100000000000000),
        UINT64_C(1000000000000000),
        UINT64_C(10000000000000000),
        UINT64_C(100000000000000000),
        UINT64_C(1000000000000000000),
    };
    return e <= 18 ? pow10[e] : 1;
}
#define SIFT_SEGFMT_NUM_DICT_MAX 65536u   /* largest numeric dictionary */
#define SIFT_SEGFMT_NUM_BLOCK 128u        /* docs per NUMCOL mode 2 block */
#define SIFT_SEGFMT_MAX_NAME 255u         /* longest field name, bytes */
#define SIFT_SEGFMT_MAX_BLOCK (64u << 20) /* largest raw doc block, bytes */
#define SIFT_SEGFMT_MAX_SECTIONS 65536u
#define SIFT_SEGFMT_SLOT_DIGITS                                                \
    18u /* longest delta-coded slot value, digits                              \
         */
#define SIFT_SEGFMT_SLOT_DIGITS_U64                                            \
    20u                                   /* longest mode 3 slot value, digits \
                                           */
#define SIFT_SEGFMT_MAX_SLOTS 255u        /* slots per message shape */
#define SIFT_SEGFMT_MAX_SHAPES (1u << 20) /* shapes per segment */

enum sift_segsec_kind {
    SIFT_SEGSEC_FIELDS = 1,
    SIFT_SEGSEC_TS = 2,
    SIFT_SEGSEC_TERMS = 3,
    SIFT_SEGSEC_KWCOL = 4,
    SIFT_SEGSEC_NUMCOL = 5,
    SIFT_SEGSEC_DOCS = 6,
    SIFT_SEGSEC_ZDICT = 7,
    SIFT_SEGSEC_DELETED = 8,
    SIFT_SEGSEC_DOCKEYS = 9,
    SIFT_SEGSEC_SHAPES = 10,
    SIFT_SEGSEC_SHAPEDOCS = 11,
    SIFT_SEGSEC_ORIGIN = 12,  /* version >= 5 */
    SIFT_SEGSEC_SLOTIDX = 13, /* version >= 6 */
};

#define SIFT_SEGFMT_SLOTIDX_MAX 4095u    /* entries per slot column */
#define SIFT_SEGFMT_SLOTIDX_MIN_COUNT 8u /* docs for an entry (builder) */

#define SIFT_SEGFMT_ORIGIN_LAYOUT 1u
#define SIFT_SEGFMT_ORIGIN_MAX_INPUTS (1u << 20) /* merged segment ids */
#define SIFT_SEGFMT_ORIGIN_MAX_POS 65536u        /* source positions */
#define SIFT_SEGFMT_ORIGIN_MAX_KEY 1024u         /* bytes in a source key */

#endif /* SIFT_STORE_SEGMENT_FMT_H */
