/* The mock's JSON helpers: a one-pass validating scanner that finds a few top-level members of
 * an object without building a DOM, a string escaper, and a bump writer for building response
 * bodies in preallocated buffers. Pure functions; no allocation, no globals. */
#ifndef SLUICE_MOCK_MJSON_H
#define SLUICE_MOCK_MJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/base.h"
#include "sluice/str.h"

#define MJ_MAX_DEPTH 64

enum mj_type {
    MJ_ABSENT = 0, /* member not present */
    MJ_NULL,
    MJ_TRUE,
    MJ_FALSE,
    MJ_NUMBER,
    MJ_STRING,
    MJ_ARRAY,
    MJ_OBJECT,
};

/* A key for mj_scan_object usable in static initialisers (SL_STRLIT is a compound literal). */
#define MJ_KEY(lit)                                                                                \
    {                                                                                              \
        (lit), sizeof(lit) - 1                                                                     \
    }

struct mj_value {
    enum mj_type type;
    struct sl_str raw; /* the value's bytes in the document (strings keep their quotes) */
};

/* Validates doc as one JSON object (RFC 8259 grammar, valid UTF-8 in strings, nesting no deeper
 * than MJ_MAX_DEPTH) and finds the top-level members named keys[0..n) (plain ASCII names, compared
 * after unescaping). out[i].type is MJ_ABSENT for a key not present; a repeated key's last
 * occurrence wins. out[i].raw points into doc. Returns 0 or SL_EPARSE. */
int mj_scan_object(struct sl_str doc, const struct sl_str *keys, size_t n, struct mj_value *out);

/* Validates doc as any single JSON value. Returns 0 or SL_EPARSE. */
int mj_validate(struct sl_str doc);

/* Walks the members of an object or the elements of an array that was already validated (for
 * example by mj_scan_object on the document holding it), without building a DOM. */
struct mj_iter {
    const unsigned char *p;
    const unsigned char *end;
};

/* Starts a walk over v, which must be an MJ_OBJECT or MJ_ARRAY value from a validated document. */
void mj_iter_init(struct mj_iter *it, struct mj_value v);
/* The next member of an object: *key is its raw name token (quotes included), *v its value.
 * Returns false after the last member. */
bool mj_next_member(struct mj_iter *it, struct sl_str *key, struct mj_value *v);
/* The next element of an array. Returns false after the last element. */
bool mj_next_elem(struct mj_iter *it, struct mj_value *v);

/* Decodes the string token raw (quotes included, from a validated document) into dst, which must
 * hold raw.len bytes. Returns the decoded length. Escaped surrogate pairs become one UTF-8
 * sequence; a lone escaped surrogate becomes U+FFFD. */
size_t mj_unescape(struct sl_str raw, char *dst);
/* true when the string token raw decodes to exactly lit (at most 256 bytes). */
bool mj_str_is(struct sl_str raw, const char *lit);

/* The most bytes mj_escape writes for an input of n bytes (quotes included). */
static inline size_t mj_escape_bound(size_t n)
{
    return 6 * n + 2;
}

/* Writes s to dst as a JSON string literal with its quotes. Control characters, '"' and '\\' are
 * escaped; valid UTF-8 is copied as-is and each invalid byte becomes \ufffd, so any input yields
 * valid JSON. dst must hold mj_escape_bound(s.len) bytes. Returns the bytes written. */
size_t mj_escape(char *dst, struct sl_str s);

/* A bump writer over a caller-provided buffer. Writing past the end is a bug in the caller's size
 * estimate and aborts (SL_ASSERT), so an undersized buffer can never corrupt memory. */
struct mj_writer {
    char *ptr;
    char *end;
};

static inline void mj_put(struct mj_writer *w, const void *p, size_t n)
{
    SL_ASSERT((size_t)(w->end - w->ptr) >= n);
    memcpy(w->ptr, p, n);
    w->ptr += n;
}

static inline void mj_put_str(struct mj_writer *w, struct sl_str s)
{
    mj_put(w, s.ptr, s.len);
}

#define MJ_PUT_LIT(w, lit) mj_put((w), (lit), sizeof(lit) - 1)

/* Writes v in decimal (at most 20 bytes). */
void mj_put_u64(struct mj_writer *w, uint64_t v);
/* Writes s escaped as a JSON string literal (mj_escape). */
void mj_put_escaped(struct mj_writer *w, struct sl_str s);

#endif
