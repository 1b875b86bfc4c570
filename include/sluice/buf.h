/* A growable byte buffer with a hard cap fixed at init (STYLE B.8). Appending past the cap
 * fails with SL_E2BIG and leaves the buffer unchanged; it never grows without bound. */
#ifndef SLUICE_BUF_H
#define SLUICE_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "sluice/str.h"

struct sl_buf {
    char *ptr;
    size_t len;
    size_t _alloc; /* bytes allocated at ptr */
    size_t _max;   /* hard cap on len */
};

/* Initialises an empty buffer that may hold at most max bytes. Allocates nothing yet. */
void sl_buf_init(struct sl_buf *b, size_t max);
/* Frees the storage; the buffer may be reused after another sl_buf_init. */
void sl_buf_dispose(struct sl_buf *b);
/* Empties the buffer but keeps its storage for reuse. */
void sl_buf_reset(struct sl_buf *b);

/* Appends n bytes. Returns 0, or SL_E2BIG if the result would exceed the cap. */
int sl_buf_append(struct sl_buf *b, const void *p, size_t n);
static inline int sl_buf_append_str(struct sl_buf *b, struct sl_str s)
{
    return sl_buf_append(b, s.ptr, s.len);
}
/* Appends formatted text (no NUL counted in len). Returns 0 or SL_E2BIG. */
int sl_buf_appendf(struct sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int sl_buf_vappendf(struct sl_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Ensures room for n more bytes and returns a pointer to them, or NULL past the cap; commit
 * what was written with sl_buf_commit. */
char *sl_buf_reserve(struct sl_buf *b, size_t n);
void sl_buf_commit(struct sl_buf *b, size_t n);

/* Removes the first n bytes (n <= len). */
void sl_buf_consume(struct sl_buf *b, size_t n);

/* Returns a NUL-terminated view (a terminator is kept after len; it does not count). Returns
 * NULL only if the cap leaves no room for the terminator. */
const char *sl_buf_cstr(struct sl_buf *b);

static inline struct sl_str sl_buf_str(const struct sl_buf *b)
{
    return (struct sl_str){b->ptr, b->len};
}

#endif
