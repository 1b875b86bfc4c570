#include <arpa/inet.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/url.h"

#define HOST_MAX 253 /* longest DNS name in text form */
#define IPV6_MAX 45  /* longest IPv6 literal in text form, INET6_ADDRSTRLEN - 1 */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static struct sl_str tail(struct sl_str s, size_t from)
{
    return sl_str_init(s.ptr + from, s.len - from);
}

/* Splits off "http://" or "https://" (any case). */
static int parse_scheme(struct sl_str text, struct sl_url *out, struct sl_str *rest,
                        const char **why)
{
    if (text.len >= 8 && sl_str_ieq_lit(sl_str_init(text.ptr, 8), "https://")) {
        out->tls = true;
        *rest = tail(text, 8);
        return SL_OK;
    }
    if (text.len >= 7 && sl_str_ieq_lit(sl_str_init(text.ptr, 7), "http://")) {
        out->tls = false;
        *rest = tail(text, 7);
        return SL_OK;
    }
    /* "ftp://x" names a scheme we refuse; "api.openai.com/v1" names none at all. */
    size_t i = 0;
    while (i < text.len && (is_alpha(text.ptr[i]) || is_digit(text.ptr[i]) || text.ptr[i] == '+' ||
                            text.ptr[i] == '-' || text.ptr[i] == '.'))
        i++;
    bool has_scheme =
        i > 0 && is_alpha(text.ptr[0]) && text.len - i >= 3 && memcmp(text.ptr + i, "://", 3) == 0;
    *why = has_scheme ? "only http and https URLs are supported"
                      : "not an absolute URL (expected http:// or https://)";
    return SL_EPARSE;
}

static int parse_port(struct sl_str s, struct sl_url *out, const char **why)
{
    uint64_t port;
    if (sl_str_to_u64(s, 65535, &port) != SL_OK || port == 0) {
        *why = "invalid port (expected 1 to 65535)";
        return SL_EPARSE;
    }
    out->port = (uint16_t)port;
    out->port_explicit = true;
    return SL_OK;
}

static int parse_ipv6(struct sl_str s, const char **why)
{
    char text[IPV6_MAX + 1];
    unsigned char addr[16];
    if (s.len == 0 || s.len > IPV6_MAX) {
        *why = "invalid IPv6 address";
        return SL_EPARSE;
    }
    memcpy(text, s.ptr, s.len);
    text[s.len] = '\0';
    if (inet_pton(AF_INET6, text, addr) != 1) {
        *why = "invalid IPv6 address";
        return SL_EPARSE;
    }
    return SL_OK;
}

static int parse_ipv4(struct sl_str s, const char **why)
{
    char text[16];
    unsigned char addr[4];
    if (s.len >= sizeof(text)) {
        *why = "invalid IPv4 address";
        return SL_EPARSE;
    }
    memcpy(text, s.ptr, s.len);
    text[s.len] = '\0';
    if (inet_pton(AF_INET, text, addr) != 1) {
        *why = "invalid IPv4 address";
        return SL_EPARSE;
    }
    return SL_OK;
}

/* A DNS name or an IPv4 address: labels of letters, digits, '-' and '_' joined by single dots.
 * A name whose last label is numeric must be a dotted-quad IPv4 address (as browsers require),
 * so "10.0.0.300" is refused here rather than at connect time. */
static int parse_reg_name(struct sl_str s, const char **why)
{
    size_t label = 0;
    bool numeric = true;
    if (s.len == 0) {
        *why = "empty host";
        return SL_EPARSE;
    }
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (c == '.') {
            if (label == 0)
                break;
            label = 0;
            numeric = true;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
            break;
        numeric = numeric && is_digit(c);
        label++;
        if (i + 1 == s.len && s.len <= HOST_MAX)
            return numeric ? parse_ipv4(s, why) : SL_OK;
    }
    *why = "invalid host name";
    return SL_EPARSE;
}

static int parse_authority(struct sl_str a, struct sl_url *out, const char **why)
{
    struct sl_str port = SL_STR_NULL;
    bool has_port = false;
    if (memchr(a.ptr, '@', a.len) != NULL) {
        *why = "user info (user:password@) is not allowed";
        return SL_EPARSE;
    }
    if (a.len == 0) {
        *why = "empty host";
        return SL_EPARSE;
    }
    if (a.ptr[0] == '[') {
        const char *close = memchr(a.ptr, ']', a.len);
        size_t after = close != NULL ? (size_t)(close - a.ptr) + 1 : 0;
        if (close == NULL || (after < a.len && a.ptr[after] != ':')) {
            *why = "invalid IPv6 address";
            return SL_EPARSE;
        }
        out->host = sl_str_init(a.ptr + 1, after - 2);
        out->host_is_ipv6 = true;
        has_port = after < a.len;
        port = has_port ? tail(a, after + 1) : SL_STR_NULL;
        if (parse_ipv6(out->host, why) != SL_OK)
            return SL_EPARSE;
    } else {
        const char *colon = memchr(a.ptr, ':', a.len);
        size_t hl = colon != NULL ? (size_t)(colon - a.ptr) : a.len;
        out->host = sl_str_init(a.ptr, hl);
        has_port = colon != NULL;
        port = has_port ? tail(a, hl + 1) : SL_STR_NULL;
        if (parse_reg_name(out->host, why) != SL_OK)
            return SL_EPARSE;
    }
    out->port = out->tls ? 443 : 80;
    return has_port ? parse_port(port, out, why) : SL_OK;
}

/* RFC 3986 pchar plus '/': unreserved, sub-delims, ':' '@' and %XX escapes. */
static int check_path(struct sl_str p, const char **why)
{
    static const char allowed[] = "-._~!$&'()*+,;=:@/";
    for (size_t i = 0; i < p.len; i++) {
        char c = p.ptr[i];
        if (c == '%') {
            if (i + 2 >= p.len || !is_hex(p.ptr[i + 1]) || !is_hex(p.ptr[i + 2])) {
                *why = "invalid percent-encoding in path";
                return SL_EPARSE;
            }
            i += 2;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && (c == '\0' || strchr(allowed, c) == NULL)) {
            *why = "invalid character in path (percent-encode it)";
            return SL_EPARSE;
        }
    }
    return SL_OK;
}

int sl_url_parse(struct sl_str text, struct sl_url *out, const char **why)
{
    struct sl_url u = {0};
    struct sl_str rest;
    for (size_t i = 0; i < text.len; i++) {
        unsigned char c = (unsigned char)text.ptr[i];
        if (c <= 0x20 || c == 0x7f) {
            *why = "spaces and control characters are not allowed";
            return SL_EPARSE;
        }
    }
    if (parse_scheme(text, &u, &rest, why) != SL_OK)
        return SL_EPARSE;
    if (memchr(rest.ptr, '?', rest.len) != NULL) {
        *why = "a query string is not allowed";
        return SL_EPARSE;
    }
    if (memchr(rest.ptr, '#', rest.len) != NULL) {
        *why = "a fragment is not allowed";
        return SL_EPARSE;
    }
    const char *slash = memchr(rest.ptr, '/', rest.len);
    size_t alen = slash != NULL ? (size_t)(slash - rest.ptr) : rest.len;
    if (parse_authority(sl_str_init(rest.ptr, alen), &u, why) != SL_OK)
        return SL_EPARSE;
    u.path = tail(rest, alen);
    if (check_path(u.path, why) != SL_OK)
        return SL_EPARSE;
    *out = u;
    return SL_OK;
}

#define SUFFIX(s)                                                                                  \
    {                                                                                              \
        (s), sizeof(s) - 1                                                                         \
    }

/* Endpoint paths people paste after the base URL; a longer one must come before any suffix of
 * it ("/chat/completions" before "/completions"). */
static const struct sl_str endpoint_suffixes[] = {
    SUFFIX("/chat/completions"),
    SUFFIX("/completions"),
    SUFFIX("/embeddings"),
};

/* Drops trailing slashes and pasted endpoint suffixes until neither is left, so that
 * normalising a normalised base changes nothing. */
static struct sl_str strip_path(struct sl_str path)
{
    bool again = true;
    while (again) {
        again = false;
        while (path.len > 0 && path.ptr[path.len - 1] == '/') {
            path.len--;
            again = true;
        }
        for (size_t i = 0; i < SL_ARRAY_LEN(endpoint_suffixes); i++) {
            if (sl_str_ends_with(path, endpoint_suffixes[i])) {
                path.len -= endpoint_suffixes[i].len;
                again = true;
                break;
            }
        }
    }
    return path;
}

static int append_lower(struct sl_buf *out, struct sl_str s)
{
    char *dst = sl_buf_reserve(out, s.len);
    if (dst == NULL)
        return SL_E2BIG;
    for (size_t i = 0; i < s.len; i++)
        dst[i] = lower(s.ptr[i]);
    sl_buf_commit(out, s.len);
    return SL_OK;
}

/* Appends scheme, lower-cased host, a non-default port and path to out. */
static int append_base(const struct sl_url *u, struct sl_str path, struct sl_buf *out,
                       const char **why)
{
    size_t keep = out->len;
    int rc = sl_buf_append_str(out, u->tls ? SL_STRLIT("https://") : SL_STRLIT("http://"));
    if (rc == SL_OK && u->host_is_ipv6)
        rc = sl_buf_append(out, "[", 1);
    if (rc == SL_OK)
        rc = append_lower(out, u->host);
    if (rc == SL_OK && u->host_is_ipv6)
        rc = sl_buf_append(out, "]", 1);
    if (rc == SL_OK && u->port != (u->tls ? 443 : 80))
        rc = sl_buf_appendf(out, ":%u", (unsigned)u->port);
    if (rc == SL_OK)
        rc = sl_buf_append_str(out, path);
    if (rc != SL_OK) {
        out->len = keep;
        if (out->ptr != NULL)
            out->ptr[keep] = '\0';
        *why = "the URL is longer than the output buffer allows";
        return SL_E2BIG;
    }
    return SL_OK;
}

int sl_url_normalize_openai_base(struct sl_str api_base, struct sl_buf *out, const char **why)
{
    struct sl_url u;
    if (sl_url_parse(api_base, &u, why) != SL_OK)
        return SL_EPARSE;
    struct sl_str path = strip_path(u.path);
    if (path.len == 0 && sl_str_ieq_lit(u.host, "api.openai.com"))
        path = SL_STRLIT("/v1");
    return append_base(&u, path, out, why);
}

int sl_url_normalize_anthropic_base(struct sl_str api_base, struct sl_buf *out, const char **why)
{
    static const struct sl_str suffixes[] = {SL_STR_INIT("/messages/count_tokens"),
                                             SL_STR_INIT("/messages"), SL_STR_INIT("/v1")};
    struct sl_url u;
    if (sl_url_parse(api_base, &u, why) != SL_OK)
        return SL_EPARSE;
    struct sl_str path = u.path;
    for (size_t i = 0; i < SL_ARRAY_LEN(suffixes); i++) {
        while (path.len > 0 && path.ptr[path.len - 1] == '/')
            path.len--;
        if (sl_str_ends_with(path, suffixes[i]))
            path.len -= suffixes[i].len;
    }
    while (path.len > 0 && path.ptr[path.len - 1] == '/')
        path.len--;
    return append_base(&u, path, out, why);
}

int sl_url_normalize_plain_base(struct sl_str api_base, struct sl_buf *out, const char **why)
{
    struct sl_url u;
    if (sl_url_parse(api_base, &u, why) != SL_OK)
        return SL_EPARSE;
    struct sl_str path = u.path;
    while (path.len > 0 && path.ptr[path.len - 1] == '/')
        path.len--;
    return append_base(&u, path, out, why);
}

int sl_url_normalize_base(struct sl_str api_base, const struct sl_str *suffixes, size_t n,
                          struct sl_str bare_path, struct sl_buf *out, const char **why)
{
    struct sl_url u;
    bool again = true;
    if (sl_url_parse(api_base, &u, why) != SL_OK)
        return SL_EPARSE;
    struct sl_str path = u.path;
    while (again) {
        again = false;
        while (path.len > 0 && path.ptr[path.len - 1] == '/') {
            path.len--;
            again = true;
        }
        for (size_t i = 0; i < n && !again; i++) {
            if (sl_str_ends_with(path, suffixes[i])) {
                path.len -= suffixes[i].len;
                again = true;
            }
        }
    }
    if (path.len == 0)
        path = bare_path;
    return append_base(&u, path, out, why);
}

void sl_origin_dispose(struct sl_origin *o)
{
    free(o->host);
    free(o->authority);
    free(o->base_path);
    free(o->key);
    *o = (struct sl_origin){0};
}
