#include <stdint.h>

#include "sluice/base.h"
#include "sluice/str.h"

static inline char ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

bool sl_str_ieq(struct sl_str a, struct sl_str b)
{
    if (a.len != b.len)
        return false;
    for (size_t i = 0; i < a.len; i++) {
        if (ascii_lower(a.ptr[i]) != ascii_lower(b.ptr[i]))
            return false;
    }
    return true;
}

struct sl_str sl_str_trim(struct sl_str s)
{
    while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

int sl_str_to_u64(struct sl_str s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s.len == 0)
        return SL_EPARSE;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c < '0' || c > '9')
            return SL_EPARSE;
        uint64_t d = (uint64_t)(c - '0');
        if (v > (max - d) / 10)
            return SL_EPARSE;
        v = v * 10 + d;
    }
    *out = v;
    return SL_OK;
}

char *sl_str_dup(struct sl_str s)
{
    char *d = sl_xmalloc(s.len + 1);
    if (s.len != 0)
        memcpy(d, s.ptr, s.len);
    d[s.len] = '\0';
    return d;
}
