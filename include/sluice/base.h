/* Basic definitions every module uses: return codes, always-on asserts, allocation that aborts
 * on OOM, and small helper macros. Nothing here knows about HTTP or configuration. */
#ifndef SLUICE_BASE_H
#define SLUICE_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One return convention (STYLE C.13): 0 success, negative SL_E* failure; SL_DONE is a success
 * that also says "nothing more to do" (a reply was sent, a stream was ended). */
enum {
    SL_DONE = 1,
    SL_OK = 0,
    SL_ERR = -1,      /* generic failure; details were reported through the caller's channel */
    SL_AGAIN = -2,    /* need more bytes or a later event */
    SL_DECLINED = -3, /* not mine; try the next handler */
    SL_EPARSE = -4,   /* malformed input */
    SL_E2BIG = -5,    /* a configured size cap was reached */
    SL_ENOENT = -6,   /* not found */
    SL_EEXIST = -7,   /* already present */
};

#define SL_ARRAY_LEN(a)                    (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b)                       ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b)                       ((a) > (b) ? (a) : (b))
#define SL_CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define SL_UNUSED(x)                       ((void)(x))

/* Logs file:line and the failed expression, then aborts; active in every build (STYLE C.15). */
#define SL_ASSERT(expr)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(expr), 0))                                                          \
            sl__assert_fail(#expr, __FILE__, __LINE__);                                            \
    } while (0)

_Noreturn void sl__assert_fail(const char *expr, const char *file, int line);

/* Allocation that cannot fail: out-of-memory aborts with the call site. Peer-controlled sizes
 * must be checked against a configured cap before calling these (STYLE B.12). */
#define sl_xmalloc(n)     sl__xmalloc((n), __FILE__, __LINE__)
#define sl_xcalloc(n, sz) sl__xcalloc((n), (sz), __FILE__, __LINE__)
#define sl_xrealloc(p, n) sl__xrealloc((p), (n), __FILE__, __LINE__)
#define sl_xstrdup(s)     sl__xstrndup((s), (size_t)-1, __FILE__, __LINE__)
#define sl_xstrndup(s, n) sl__xstrndup((s), (n), __FILE__, __LINE__)

void *sl__xmalloc(size_t n, const char *file, int line);
void *sl__xcalloc(size_t n, size_t sz, const char *file, int line);
void *sl__xrealloc(void *p, size_t n, const char *file, int line);
/* Copies at most n bytes of s (stopping at a NUL) into a new NUL-terminated string. */
char *sl__xstrndup(const char *s, size_t n, const char *file, int line);

/* Formats into a new heap string (caller frees). Aborts on OOM. */
char *sl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
