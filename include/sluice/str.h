/* Slices: a pointer and a length, never NUL-terminated by contract. Everything that comes off
 * the wire is handled as a slice (STYLE B.7). Slices do not own their bytes. */
#ifndef SLUICE_STR_H
#define SLUICE_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct sl_str {
    const char *ptr;
    size_t len;
};

#define SL_STRLIT(s) ((struct sl_str){(s), sizeof(s) - 1})
/* For static initialisers, where a compound literal is not a constant expression. */
#define SL_STR_INIT(s)                                                                             \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }
#define SL_STR_NULL ((struct sl_str){NULL, 0})
/* printf helper: printf("%.*s", SL_STR_FMT(s)) */
#define SL_STR_FMT(s) (int)(s).len, (s).ptr

static inline struct sl_str sl_str_init(const char *ptr, size_t len)
{
    return (struct sl_str){ptr, len};
}

static inline struct sl_str sl_str_from_cstr(const char *s)
{
    return (struct sl_str){s, s != NULL ? strlen(s) : 0};
}

static inline bool sl_str_eq(struct sl_str a, struct sl_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

#define sl_str_eq_lit(s, lit) sl_str_eq((s), SL_STRLIT(lit))

/* ASCII case-insensitive equality (header names, tokens). */
bool sl_str_ieq(struct sl_str a, struct sl_str b);
#define sl_str_ieq_lit(s, lit) sl_str_ieq((s), SL_STRLIT(lit))

static inline bool sl_str_starts_with(struct sl_str s, struct sl_str prefix)
{
    return s.len >= prefix.len && memcmp(s.ptr, prefix.ptr, prefix.len) == 0;
}

static inline bool sl_str_ends_with(struct sl_str s, struct sl_str suffix)
{
    return s.len >= suffix.len && memcmp(s.ptr + s.len - suffix.len, suffix.ptr, suffix.len) == 0;
}

/* Drops leading and trailing ASCII spaces and tabs. */
struct sl_str sl_str_trim(struct sl_str s);

/* Parses a whole slice as a decimal unsigned integer no larger than max. Rejects signs, spaces,
 * empty input and overflow. Returns 0 or SL_EPARSE. */
int sl_str_to_u64(struct sl_str s, uint64_t max, uint64_t *out);

/* Returns a NUL-terminated heap copy (caller frees). */
char *sl_str_dup(struct sl_str s);

#endif
