/* Hand formatting into a buffer the caller has sized: each function writes at o and returns the
 * end. Used where snprintf measured too costly per request (the access log line, the upstream
 * request head). No bounds are checked here; callers size their buffers for the worst case. */
#ifndef SLUICE_PUT_H
#define SLUICE_PUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline char *sl_put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

#define SL_PUT_LIT(o, s) sl_put((o), (s), sizeof(s) - 1)

static inline char *sl_put_cstr(char *o, const char *s)
{
    return sl_put(o, s, strlen(s));
}

/* Decimal, at most 20 bytes. */
static inline char *sl_put_u64(char *o, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0)
        *o++ = tmp[--n];
    return o;
}

/* Decimal with a leading '-' when negative, at most 20 bytes. */
static inline char *sl_put_i64(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        return sl_put_u64(o, (uint64_t)0 - (uint64_t)v);
    }
    return sl_put_u64(o, (uint64_t)v);
}

#endif
