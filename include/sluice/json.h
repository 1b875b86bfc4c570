/* A hand-written, allocation-free JSON scanner for the hot path. The gateway rarely needs a DOM:
 * it needs to know that a body is well-formed, where a few top-level members are (model,
 * stream, usage, ...), and to splice new bytes in their place. One pass over the document does
 * all of that; values are returned as slices into the caller's buffer.
 *
 * Well-formed means RFC 8259: one value with optional surrounding whitespace, strings with valid
 * escapes and valid UTF-8 (no overlongs, no surrogates encoded in UTF-8, no unpaired \u
 * surrogate escapes), numbers in JSON grammar, nesting no deeper than the given limit. */
#ifndef SLUICE_JSON_H
#define SLUICE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sluice/buf.h"
#include "sluice/str.h"

#define SL_JSON_DEFAULT_MAX_DEPTH 128
/* Hard ceiling on max_depth: nesting is tracked in a fixed bitset on the stack, never allocated.
 * A larger max_depth is treated as this value. */
#define SL_JSON_MAX_DEPTH 1024

enum sl_json_type {
    SL_JSON_ABSENT = 0, /* member not present */
    SL_JSON_NULL,
    SL_JSON_TRUE,
    SL_JSON_FALSE,
    SL_JSON_NUMBER,
    SL_JSON_STRING,
    SL_JSON_ARRAY,
    SL_JSON_OBJECT,
};

struct sl_json_member {
    enum sl_json_type type;
    struct sl_str value;  /* raw bytes of the value (strings keep their quotes) */
    struct sl_str member; /* raw bytes from the key's opening quote to the value's end */
    size_t count;         /* arrays and objects: number of elements / members */
    unsigned seen;        /* sl_json_scan_object: how often the key occurred (last one kept) */
};

/* Why a document was rejected: a static message and the byte offset where it was noticed. */
struct sl_json_error {
    const char *why;
    size_t at;
};

/* Validates doc as a single JSON value. Returns 0, or SL_EPARSE with *err filled. */
int sl_json_validate(struct sl_str doc, unsigned max_depth, struct sl_json_error *err);

/* Validates doc (which must be an object) and, in the same pass, finds the top-level members
 * named keys[0..n) (compared after unescaping). out[i].type is SL_JSON_ABSENT for a key not
 * present; when a key repeats, the last occurrence wins (as in JavaScript's JSON.parse).
 * Returns 0, or SL_EPARSE with *err filled (also when doc is valid JSON but not an object). */
int sl_json_scan_object(struct sl_str doc, unsigned max_depth, const struct sl_str *keys, size_t n,
                        struct sl_json_member *out, struct sl_json_error *err);

/* A cheaper cousin of sl_json_scan_object for documents that are only relayed, never judged
 * (an upstream's stream events): it follows the object's structure (strings with their
 * escapes, nesting) to find the top-level members named keys, but does not check what lies
 * inside strings, numbers or literals. out[i] is filled as by sl_json_scan_object, except that
 * an array or object member's count is only 0 (empty) or 1 (not empty). Returns 0, or
 * SL_EPARSE when the structure does not hold (then nothing should be spliced into doc). */
int sl_json_skim_object(struct sl_str doc, const struct sl_str *keys, size_t n,
                        struct sl_json_member *out);

/* Convenience for one key in an object that is already known to be valid. Returns 0, SL_ENOENT
 * or SL_EPARSE. */
int sl_json_find(struct sl_str obj, struct sl_str key, struct sl_json_member *out);

/* A member name as it appears in the document: the bytes between its quotes, and whether they
 * contain escapes (then compare with sl_json_key_eq, which decodes). */
struct sl_json_key {
    struct sl_str raw;
    bool escaped;
};

bool sl__json_escaped_key_eq(struct sl_json_key key, struct sl_str s);

/* True when key, decoded, equals the plain UTF-8 text s. Inline: walks compare every member
 * name with a few wanted ones, and the length test settles nearly all of them. */
static inline bool sl_json_key_eq(struct sl_json_key key, struct sl_str s)
{
    if (key.escaped)
        return sl__json_escaped_key_eq(key, s);
    return key.raw.len == s.len && (s.len == 0 || memcmp(key.raw.ptr, s.ptr, s.len) == 0);
}

/* Iterates the elements of one array or the members of one object, validating each value in
 * full before returning it, so a loop that runs to the end has validated the whole container
 * in one pass (the closing bracket and anything after it are checked by the last call). Used
 * by code that must see every member (duplicate keys, repeated "model" in replies) or walk
 * arrays (translation). No allocation; slices point into the container. */
struct sl_json_iter {
    /* private */
    const unsigned char *_p, *_end, *_base;
    const char *_why;
    const unsigned char *_at;
    unsigned _max_depth;
    bool _object;
    bool _first;
    bool _closed;
};

/* Starts on doc, which must be an array or an object (surrounding whitespace allowed). Returns
 * 0, or SL_EPARSE (see sl_json_iter_error). */
int sl_json_iter_init(struct sl_json_iter *it, struct sl_str doc, unsigned max_depth);

static inline bool sl_json_iter_is_object(const struct sl_json_iter *it)
{
    return it->_object;
}

/* Produces the next element: returns 1 with *val filled (and, in an object, *key; key may be
 * NULL for arrays), 0 after the last one once the rest of doc was checked, or SL_EPARSE. */
int sl_json_iter_next(struct sl_json_iter *it, struct sl_json_key *key, struct sl_json_member *val);

/* Why the iteration failed. */
struct sl_json_error sl_json_iter_error(const struct sl_json_iter *it);

/* Remembers the member names of one object to find a repeated one, decoding escapes
 * ("model" and "mod\u0065l" are the same name). Small objects are compared linearly; past
 * 16 names a hash table takes over. Lives on the stack; nothing to dispose. */
#define SL_JSON_KEYSET_MAX 1024
struct sl_json_keyset {
    /* private */
    size_t _n;
    uint64_t _tags; /* one bit per (length, first byte, last byte) class of plain names */
    bool _escaped;  /* some name had escapes: tags cannot rule anything out */
    struct sl_json_key _keys[SL_JSON_KEYSET_MAX];
    uint32_t _hash[SL_JSON_KEYSET_MAX];      /* of the decoded name: most compares stop here */
    uint16_t _slots[SL_JSON_KEYSET_MAX * 2]; /* index + 1 into _keys; 0 = empty */
};

void sl_json_keyset_init(struct sl_json_keyset *s);

/* Adds key. Returns 0, SL_EEXIST when the name was added before, or SL_E2BIG past
 * SL_JSON_KEYSET_MAX names. */
int sl_json_keyset_add(struct sl_json_keyset *s, struct sl_json_key key);

/* sl_json_scan_object for a document whose top-level member names must all differ: returns
 * SL_EEXIST at the first name that repeats an earlier one (escapes decoded), with *dup set to it
 * and err->why "duplicate key" at its opening quote. Objects with more than SL_JSON_KEYSET_MAX
 * members are refused (SL_E2BIG). seen is the caller's scratch (it is large for a stack frame
 * deep in a callback chain, so the caller decides where it lives). */
int sl_json_scan_unique(struct sl_str doc, unsigned max_depth, const struct sl_str *keys, size_t n,
                        struct sl_json_member *out, struct sl_json_error *err,
                        struct sl_json_keyset *seen, struct sl_json_key *dup);

/* Decodes a raw JSON string value (with its quotes) into dst, as UTF-8. Returns 0, SL_EPARSE
 * for a malformed string, or SL_E2BIG when dst's cap is reached. */
int sl_json_unescape(struct sl_str raw, struct sl_buf *dst);

/* Appends s as a JSON string literal (quotes included), escaping ", \ and control characters;
 * bytes >= 0x80 are copied as-is (callers pass UTF-8). Returns 0 or SL_E2BIG. */
int sl_json_escape(struct sl_buf *dst, struct sl_str s);

/* Parses a raw JSON number that is a non-negative integer fitting in uint64_t. Returns 0 or
 * SL_EPARSE (fractions, exponents, negatives and overflow are rejected). */
int sl_json_to_u64(struct sl_str raw, uint64_t *out);

#endif
