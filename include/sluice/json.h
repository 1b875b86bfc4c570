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

/* Convenience for one key in an object that is already known to be valid. Returns 0, SL_ENOENT
 * or SL_EPARSE. */
int sl_json_find(struct sl_str obj, struct sl_str key, struct sl_json_member *out);

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
