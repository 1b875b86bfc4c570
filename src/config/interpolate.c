#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"

#include "config_internal.h"
#include "interpolate.h"

const char *sl__env_get(char *const *envp, struct sl_str name)
{
    /* A NUL in the name would end the comparison early and match a shorter variable. */
    if (envp == NULL || name.len == 0 || memchr(name.ptr, '\0', name.len) != NULL)
        return NULL;
    for (size_t i = 0; envp[i] != NULL; i++) {
        const char *e = envp[i];
        if (strncmp(e, name.ptr, name.len) == 0 && e[name.len] == '=')
            return e + name.len + 1;
    }
    return NULL;
}

static bool is_name(struct sl_str n)
{
    for (size_t i = 0; i < n.len; i++) {
        char c = n.ptr[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && (i == 0 || c < '0' || c > '9'))
            return false;
    }
    return n.len > 0;
}

static int fail(struct sl__interp *out, enum sl__interp_status status, struct sl_str name)
{
    out->status = status;
    out->name = name;
    return SL_EPARSE;
}

/* One pass over s: with dst NULL it validates and counts the output bytes into *len; with dst
 * it writes them. Both passes see the same environment, so they agree. */
static int expand(struct sl_str s, char *const *envp, char *dst, size_t *len,
                  struct sl__interp *out)
{
    size_t n = 0;
    out->refs = 0;
    for (size_t i = 0; i < s.len; i++) {
        struct sl_str piece = sl_str_init(s.ptr + i, 1);
        if (s.ptr[i] == '$' && i + 1 < s.len && s.ptr[i + 1] == '$') {
            i++;
        } else if (s.ptr[i] == '$' && i + 1 < s.len && s.ptr[i + 1] == '{') {
            const char *close = memchr(s.ptr + i + 2, '}', s.len - i - 2);
            struct sl_str name = sl_str_init(
                s.ptr + i + 2, close != NULL ? (size_t)(close - s.ptr) - i - 2 : s.len - i - 2);
            if (close == NULL)
                return fail(out, SL__INTERP_UNTERMINATED, name);
            if (name.len == 0)
                return fail(out, SL__INTERP_NO_NAME, name);
            if (!is_name(name))
                return fail(out, SL__INTERP_BAD_NAME, name);
            const char *value = sl__env_get(envp, name);
            if (value == NULL)
                return fail(out, SL__INTERP_UNSET, name);
            if (value[0] == '\0')
                return fail(out, SL__INTERP_EMPTY, name);
            piece = sl_str_from_cstr(value);
            out->refs++;
            i += name.len + 2;
        }
        if (piece.len > out->max - n)
            return fail(out, SL__INTERP_TOO_LONG, SL_STR_NULL);
        if (dst != NULL)
            memcpy(dst + n, piece.ptr, piece.len);
        n += piece.len;
    }
    *len = n;
    return SL_OK;
}

int sl__interpolate(struct sl_str s, char *const *envp, size_t max, struct sl__interp *out)
{
    size_t len = 0, written = 0;
    *out = (struct sl__interp){.max = max};
    if (expand(s, envp, NULL, &len, out) != SL_OK)
        return SL_EPARSE;
    out->text = sl_xmalloc(len + 1);
    int rc = expand(s, envp, out->text, &written, out);
    SL_ASSERT(rc == SL_OK && written == len);
    out->text[len] = '\0';
    out->len = len;
    return SL_OK;
}

const char *sl__interp_describe(const struct sl__interp *r, char *buf, size_t cap)
{
    char name[160];
    sl__cfg_display(name, sizeof(name), r->name);
    switch (r->status) {
    case SL__INTERP_UNSET:
        snprintf(buf, cap, "environment variable %s is not set", name);
        break;
    case SL__INTERP_EMPTY:
        snprintf(buf, cap, "environment variable %s is empty", name);
        break;
    case SL__INTERP_UNTERMINATED:
        snprintf(buf, cap, "unterminated \"${\" (write \"$$\" for a literal \"$\")");
        break;
    case SL__INTERP_NO_NAME:
        snprintf(buf, cap, "empty variable reference \"${}\"");
        break;
    case SL__INTERP_BAD_NAME:
        snprintf(buf, cap,
                 "invalid variable name %s in \"${...}\" (expected letters, digits and "
                 "\"_\")",
                 name);
        break;
    case SL__INTERP_TOO_LONG:
        snprintf(buf, cap, "longer than %zu bytes after interpolation", r->max);
        break;
    case SL__INTERP_OK:
        snprintf(buf, cap, "no problem");
        break;
    }
    return buf;
}
