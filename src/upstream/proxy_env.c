#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/log.h"
#include "sluice/proxy_env.h"
#include "sluice/url.h"

static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    }
    return NULL;
}

/* Lower-case first, as curl does; returns the value and the name it came from. */
static const char *env_pair(char *const *envp, const char *lower, const char *upper,
                            const char **which)
{
    const char *v = env_get(envp, lower);
    *which = lower;
    if (v == NULL || *v == '\0') {
        v = env_get(envp, upper);
        *which = upper;
    }
    return v != NULL && *v != '\0' ? v : NULL;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s into dst (at least s.len bytes), as curl decodes the user name and password
 * of a proxy URL: "%XX" becomes that byte, a '%' not followed by two hex digits stays as it is.
 * Returns the decoded length, or -1 for "%00" (curl refuses a NUL in credentials too). */
static ptrdiff_t percent_decode(struct sl_str s, char *dst)
{
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        int hi = i + 2 < s.len && s.ptr[i] == '%' ? hex_value(s.ptr[i + 1]) : -1;
        int lo = hi >= 0 ? hex_value(s.ptr[i + 2]) : -1;
        if (lo < 0) {
            dst[n++] = s.ptr[i];
            continue;
        }
        if (hi == 0 && lo == 0)
            return -1;
        dst[n++] = (char)(hi << 4 | lo);
        i += 2;
    }
    return (ptrdiff_t)n;
}

/* "Basic " and base64 of user:password, each part percent-decoded first: a password holding
 * '@' or ':' can only be written in the URL as %40 or %3A. NULL for a "%00". */
static char *basic_auth(struct sl_str userinfo)
{
    const char *colon = memchr(userinfo.ptr, ':', userinfo.len);
    size_t ulen = colon != NULL ? (size_t)(colon - userinfo.ptr) : userinfo.len;
    char *plain = sl_xmalloc(userinfo.len + 1);
    ptrdiff_t u = percent_decode(sl_str_init(userinfo.ptr, ulen), plain), p = 0;
    if (u >= 0 && colon != NULL) {
        plain[u] = ':';
        p = percent_decode(sl_str_init(colon + 1, userinfo.len - ulen - 1), plain + u + 1);
    }
    char *out = NULL;
    if (u >= 0 && p >= 0) {
        size_t len = (size_t)u + (colon != NULL ? 1 + (size_t)p : 0);
        out = sl_xmalloc(sizeof("Basic ") + 4 * ((len + 2) / 3));
        memcpy(out, "Basic ", 6);
        EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)len);
    }
    OPENSSL_cleanse(plain, userinfo.len + 1);
    free(plain);
    return out;
}

/* The value for a message, quoted and escaped, with the user info of a URL (which holds the
 * proxy password) replaced by "***". */
static const char *shown_value(const char *value, char *buf, size_t cap)
{
    char masked[512];
    const char *start = strstr(value, "://");
    start = start != NULL ? start + 3 : value;
    const char *at = strrchr(start, '@');
    if (at != NULL)
        snprintf(masked, sizeof(masked), "%.*s***%s", (int)(start - value), value, at);
    else
        snprintf(masked, sizeof(masked), "%s", value);
    sl_log_escape(buf, cap, sl_str_from_cstr(masked));
    OPENSSL_cleanse(masked, sizeof(masked));
    return buf;
}

static int parse_target(const char *var, const char *value, struct sl_proxy_target *t,
                        struct sl_diag *diag)
{
    char shown[256];
    struct sl_str v = sl_str_from_cstr(value);
    struct sl_str userinfo = SL_STR_NULL;
    char *text = NULL;
    const char *why = NULL;
    if (sl_str_starts_with(v, SL_STRLIT("https://"))) {
        sl_diag_add(diag, 0,
                    "environment %s=%s: https:// proxies are not supported; use an http:// "
                    "proxy URL (the tunnel to the upstream is still TLS)",
                    var, shown_value(value, shown, sizeof(shown)));
        return SL_ERR;
    }
    if (!sl_str_starts_with(v, SL_STRLIT("http://")))
        text = sl_xasprintf("http://%s", value);
    else
        text = sl_xstrdup(value);
    size_t text_len = strlen(text);
    /* user:password@ is legal for proxies (not for upstreams): split it off before parsing. */
    char *at = strrchr(text, '@');
    char *start = text + strlen("http://");
    if (at != NULL && at > start) {
        userinfo = sl_str_init(start, (size_t)(at - start));
        t->auth_value = basic_auth(userinfo);
        if (t->auth_value == NULL)
            why = "its user name or password holds %00";
        memmove(start, at + 1, strlen(at + 1) + 1);
    }
    struct sl_url url;
    int rc = why != NULL ? SL_EPARSE : sl_url_parse(sl_str_from_cstr(text), &url, &why);
    if (rc != SL_OK || url.path.len > 1) {
        sl_diag_add(diag, 0, "environment %s=%s: invalid proxy URL (%s)", var,
                    shown_value(value, shown, sizeof(shown)),
                    why != NULL ? why : "a proxy URL has no path");
        OPENSSL_cleanse(text, text_len);
        free(text);
        return SL_ERR;
    }
    t->host = sl_str_dup(url.host);
    t->port = url.port_explicit ? url.port : 80;
    t->authority = url.host_is_ipv6 ? sl_xasprintf("[%s]:%u", t->host, t->port)
                                    : sl_xasprintf("%s:%u", t->host, t->port);
    t->display = sl_xasprintf("http://%s", t->authority);
    /* The copy held the password; wipe all of it, including what the memmove left behind. */
    OPENSSL_cleanse(text, text_len);
    free(text);
    return SL_OK;
}

static void target_dispose(struct sl_proxy_target *t)
{
    if (t->auth_value != NULL)
        OPENSSL_cleanse(t->auth_value, strlen(t->auth_value));
    free(t->auth_value);
    free(t->host);
    free(t->authority);
    free(t->display);
    memset(t, 0, sizeof(*t));
}

static void lower(char *s)
{
    for (; *s != '\0'; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
}

/* Splits "host", "host:port", "[v6]:port", "10.0.0.0/8" into an entry. */
static void parse_no_proxy_entry(char *tok, struct sl_no_proxy_entry *e)
{
    char *host = tok, *colon = NULL, *slash = NULL;
    if (tok[0] == '[') {
        char *end = strchr(tok, ']');
        if (end != NULL) {
            *end = '\0';
            host = tok + 1;
            colon = end[1] == ':' ? end + 1 : NULL;
        }
    } else if (strchr(tok, ':') == strrchr(tok, ':')) {
        colon = strchr(tok, ':'); /* one colon: host:port; several: a bare IPv6 address */
    }
    if (colon != NULL) {
        *colon = '\0';
        e->port = (uint16_t)strtoul(colon + 1, NULL, 10);
    }
    slash = strchr(host, '/');
    if (slash != NULL) {
        *slash = '\0';
        e->prefix = (unsigned)strtoul(slash + 1, NULL, 10);
    }
    lower(host);
    if (inet_pton(AF_INET, host, e->addr) == 1) {
        e->family = AF_INET;
        e->is_cidr = slash != NULL && e->prefix <= 32;
    } else if (inet_pton(AF_INET6, host, e->addr) == 1) {
        e->family = AF_INET6;
        e->is_cidr = slash != NULL && e->prefix <= 128;
    }
    e->host = sl_xstrdup(host);
}

static void parse_no_proxy(const char *value, struct sl_proxy_env *pe)
{
    char *copy = sl_xstrdup(value), *save = NULL;
    for (char *tok = strtok_r(copy, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (strcmp(tok, "*") == 0) {
            pe->no_proxy_all = true;
            continue;
        }
        pe->no_proxy = sl_xrealloc(pe->no_proxy, (pe->n_no_proxy + 1) * sizeof(*pe->no_proxy));
        struct sl_no_proxy_entry *e = &pe->no_proxy[pe->n_no_proxy++];
        memset(e, 0, sizeof(*e));
        parse_no_proxy_entry(tok, e);
    }
    free(copy);
}

int sl_proxy_env_load(char *const *envp, struct sl_proxy_env *out, struct sl_diag *diag)
{
    const char *which;
    int rc = SL_OK;
    memset(out, 0, sizeof(*out));
    const char *v = env_pair(envp, "https_proxy", "HTTPS_PROXY", &which);
    if (v != NULL) {
        if (parse_target(which, v, &out->https, diag) == SL_OK)
            out->has_https = true;
        else
            rc = SL_ERR;
    }
    v = env_pair(envp, "http_proxy", "HTTP_PROXY", &which);
    if (v != NULL) {
        if (parse_target(which, v, &out->http, diag) == SL_OK)
            out->has_http = true;
        else
            rc = SL_ERR;
    }
    v = env_pair(envp, "no_proxy", "NO_PROXY", &which);
    if (v != NULL)
        parse_no_proxy(v, out);
    if (rc != SL_OK)
        sl_proxy_env_dispose(out);
    return rc;
}

void sl_proxy_env_dispose(struct sl_proxy_env *pe)
{
    target_dispose(&pe->https);
    target_dispose(&pe->http);
    for (size_t i = 0; i < pe->n_no_proxy; i++)
        free(pe->no_proxy[i].host);
    free(pe->no_proxy);
    memset(pe, 0, sizeof(*pe));
}

static bool cidr_match(const struct sl_no_proxy_entry *e, const uint8_t *addr)
{
    unsigned bits = e->prefix, i = 0;
    for (; bits >= 8; bits -= 8, i++) {
        if (e->addr[i] != addr[i])
            return false;
    }
    if (bits == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - bits));
    return (e->addr[i] & mask) == (addr[i] & mask);
}

static bool entry_matches(const struct sl_no_proxy_entry *e, const char *host, uint16_t port)
{
    if (e->port != 0 && e->port != port)
        return false;
    uint8_t addr[16];
    if (e->family != 0 && inet_pton(e->family, host, addr) == 1) {
        if (e->is_cidr)
            return cidr_match(e, addr);
        return memcmp(addr, e->addr, e->family == AF_INET ? 4 : 16) == 0;
    }
    if (e->family != 0)
        return false;
    /* Names: exact, or a domain suffix with or without the leading dot. */
    const char *suffix = e->host[0] == '.' ? e->host + 1 : e->host;
    size_t hl = strlen(host), sl = strlen(suffix);
    if (sl == 0 || hl < sl || strcasecmp(host + hl - sl, suffix) != 0)
        return false;
    return hl == sl || host[hl - sl - 1] == '.';
}

const struct sl_proxy_target *sl_proxy_env_select(const struct sl_proxy_env *pe, bool tls,
                                                  const char *host, uint16_t port)
{
    if (tls ? !pe->has_https : !pe->has_http)
        return NULL;
    if (pe->no_proxy_all)
        return NULL;
    for (size_t i = 0; i < pe->n_no_proxy; i++) {
        if (entry_matches(&pe->no_proxy[i], host, port))
            return NULL;
    }
    return tls ? &pe->https : &pe->http;
}
