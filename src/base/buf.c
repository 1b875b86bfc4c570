#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/buf.h"

void sl_buf_init(struct sl_buf *b, size_t max)
{
    *b = (struct sl_buf){NULL, 0, 0, max};
}

void sl_buf_dispose(struct sl_buf *b)
{
    free(b->ptr);
    *b = (struct sl_buf){NULL, 0, 0, b->_max};
}

void sl_buf_reset(struct sl_buf *b)
{
    b->len = 0;
}

/* Grows storage to hold need bytes plus a NUL; geometric growth, clamped to the cap. */
static int ensure(struct sl_buf *b, size_t need)
{
    if (need > b->_max)
        return SL_E2BIG;
    if (need + 1 <= b->_alloc)
        return SL_OK;
    size_t alloc = b->_alloc != 0 ? b->_alloc : 64;
    while (alloc < need + 1)
        alloc = alloc > SIZE_MAX / 2 ? SIZE_MAX : alloc * 2;
    if (alloc > b->_max + 1)
        alloc = b->_max + 1;
    b->ptr = sl_xrealloc(b->ptr, alloc);
    b->_alloc = alloc;
    return SL_OK;
}

int sl_buf_append(struct sl_buf *b, const void *p, size_t n)
{
    if (n > SIZE_MAX - b->len - 1)
        return SL_E2BIG;
    int rc = ensure(b, b->len + n);
    if (rc != SL_OK)
        return rc;
    if (n != 0)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return SL_OK;
}

char *sl_buf_reserve(struct sl_buf *b, size_t n)
{
    if (n > SIZE_MAX - b->len - 1 || ensure(b, b->len + n) != SL_OK)
        return NULL;
    return b->ptr + b->len;
}

void sl_buf_commit(struct sl_buf *b, size_t n)
{
    SL_ASSERT(b->len + n < b->_alloc);
    b->len += n;
    b->ptr[b->len] = '\0';
}

int sl_buf_vappendf(struct sl_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, ap2);
    va_end(ap2);
    SL_ASSERT(n >= 0);
    if ((size_t)n < sizeof(small))
        return sl_buf_append(b, small, (size_t)n);
    char *dst = sl_buf_reserve(b, (size_t)n);
    if (dst == NULL)
        return SL_E2BIG;
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    sl_buf_commit(b, (size_t)n);
    return SL_OK;
}

int sl_buf_appendf(struct sl_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = sl_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

void sl_buf_consume(struct sl_buf *b, size_t n)
{
    SL_ASSERT(n <= b->len);
    if (n == 0)
        return;
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = '\0';
}

const char *sl_buf_cstr(struct sl_buf *b)
{
    if (ensure(b, b->len) != SL_OK)
        return NULL;
    b->ptr[b->len] = '\0';
    return b->ptr;
}
