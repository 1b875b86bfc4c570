#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/base.h"

_Noreturn void sl__assert_fail(const char *expr, const char *file, int line)
{
    char msg[512];
    int n = snprintf(msg, sizeof(msg), "sluice: assertion failed: %s (%s:%d)\n", expr, file, line);
    if (n > 0)
        (void)!write(2, msg, (size_t)SL_MIN(n, (int)sizeof(msg) - 1));
    abort();
}

static _Noreturn void oom(size_t n, const char *file, int line)
{
    char msg[256];
    int len = snprintf(msg, sizeof(msg), "sluice: out of memory allocating %zu bytes (%s:%d)\n", n,
                       file, line);
    if (len > 0)
        (void)!write(2, msg, (size_t)SL_MIN(len, (int)sizeof(msg) - 1));
    abort();
}

void *sl__xmalloc(size_t n, const char *file, int line)
{
    void *p = malloc(n != 0 ? n : 1);
    if (p == NULL)
        oom(n, file, line);
    return p;
}

void *sl__xcalloc(size_t n, size_t sz, const char *file, int line)
{
    void *p = calloc(n != 0 ? n : 1, sz != 0 ? sz : 1);
    if (p == NULL)
        oom(n * sz, file, line);
    return p;
}

void *sl__xrealloc(void *p, size_t n, const char *file, int line)
{
    void *q = realloc(p, n != 0 ? n : 1);
    if (q == NULL)
        oom(n, file, line);
    return q;
}

char *sl__xstrndup(const char *s, size_t n, const char *file, int line)
{
    size_t len = strnlen(s, n);
    char *d = sl__xmalloc(len + 1, file, line);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *sl_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n == -1)
        oom(0, __FILE__, __LINE__);
    return s;
}
