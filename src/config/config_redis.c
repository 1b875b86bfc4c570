/* Redis URLs (ratelimit.redis.url): redis://[[username]:password@]host[:port][/database], and
 * rediss:// for TLS, as redis-cli and the reference gateway's client read them. Pure: no I/O.
 * Messages never quote the url: it may carry a password. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sluice/base.h"

#include "config_internal.h"

#define REDIS_DEFAULT_PORT 6379

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

/* Decodes %XX escapes (a password may contain '@' or ':'); false on a bad escape. */
static bool percent_decode(struct sl_str in, char **out)
{
    char *o = sl_xmalloc(in.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < in.len; i++) {
        char c = in.ptr[i];
        if (c != '%') {
            o[n++] = c;
            continue;
        }
        int hi = i + 2 < in.len ? hex_value(in.ptr[i + 1]) : -1;
        int lo = i + 2 < in.len ? hex_value(in.ptr[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            free(o);
            return false;
        }
        o[n++] = (char)(hi << 4 | lo);
        i += 2;
    }
    o[n] = '\0';
    *out = o;
    return true;
}

static int fail(const char *why, const char **out)
{
    *out = why;
    return SL_EPARSE;
}

static int parse_userinfo(struct sl_str ui, struct sl__redis_url *u, const char **why)
{
    const char *colon = memchr(ui.ptr, ':', ui.len);
    struct sl_str user = colon != NULL ? sl_str_init(ui.ptr, (size_t)(colon - ui.ptr)) : ui;
    struct sl_str pass =
        colon != NULL ? sl_str_init(colon + 1, ui.len - user.len - 1) : SL_STR_NULL;
    /* "redis://secret@host" is read as a password, as redis-cli does. */
    if (colon == NULL) {
        pass = user;
        user = SL_STR_NULL;
    }
    if (user.len != 0 && !percent_decode(user, &u->username))
        return fail("the user name has a bad %-escape", why);
    if (pass.len != 0 && !percent_decode(pass, &u->password))
        return fail("the password has a bad %-escape", why);
    return SL_OK;
}

static int parse_host_port(struct sl_str hp, struct sl__redis_url *u, const char **why)
{
    struct sl_str host = hp, port = SL_STR_NULL;
    if (hp.len != 0 && hp.ptr[0] == '[') {
        const char *close = memchr(hp.ptr, ']', hp.len);
        if (close == NULL)
            return fail("an IPv6 address is missing its \"]\"", why);
        host = sl_str_init(hp.ptr + 1, (size_t)(close - hp.ptr - 1));
        struct sl_str rest = sl_str_init(close + 1, hp.len - host.len - 2);
        if (rest.len != 0 && rest.ptr[0] != ':')
            return fail("unexpected text after the IPv6 address", why);
        if (rest.len != 0)
            port = sl_str_init(rest.ptr + 1, rest.len - 1);
    } else {
        const char *colon = memchr(hp.ptr, ':', hp.len);
        if (colon != NULL) {
            host = sl_str_init(hp.ptr, (size_t)(colon - hp.ptr));
            port = sl_str_init(colon + 1, hp.len - host.len - 1);
        }
    }
    if (host.len == 0)
        return fail("the host is missing", why);
    for (size_t i = 0; i < host.len; i++) {
        char c = host.ptr[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '?' || c == '#' || c == '@')
            return fail("the host contains a character that is not allowed", why);
    }
    uint64_t p = REDIS_DEFAULT_PORT;
    if (port.ptr != NULL && (sl_str_to_u64(port, 65535, &p) != SL_OK || p == 0))
        return fail("the port is not a number from 1 to 65535", why);
    u->host = sl_str_dup(host);
    u->port = (uint16_t)p;
    return SL_OK;
}

int sl__redis_url_parse(struct sl_str text, struct sl__redis_url *u, const char **why)
{
    *u = (struct sl__redis_url){0};
    struct sl_str rest;
    if (sl_str_starts_with(text, SL_STRLIT("redis://"))) {
        rest = sl_str_init(text.ptr + 8, text.len - 8);
    } else if (sl_str_starts_with(text, SL_STRLIT("rediss://"))) {
        u->tls = true;
        rest = sl_str_init(text.ptr + 9, text.len - 9);
    } else {
        return fail("expected a redis:// or rediss:// url", why);
    }
    if (memchr(rest.ptr, '?', rest.len) != NULL || memchr(rest.ptr, '#', rest.len) != NULL) {
        sl__redis_url_dispose(u);
        return fail("query strings and fragments are not supported", why);
    }
    const char *slash = memchr(rest.ptr, '/', rest.len);
    struct sl_str authority =
        sl_str_init(rest.ptr, slash != NULL ? (size_t)(slash - rest.ptr) : rest.len);
    struct sl_str path =
        slash != NULL ? sl_str_init(slash + 1, rest.len - authority.len - 1) : SL_STR_NULL;
    const char *at = NULL;
    for (size_t i = authority.len; i > 0; i--) {
        if (authority.ptr[i - 1] == '@') {
            at = authority.ptr + i - 1;
            break;
        }
    }
    int rc = SL_OK;
    if (at != NULL) {
        rc = parse_userinfo(sl_str_init(authority.ptr, (size_t)(at - authority.ptr)), u, why);
        authority = sl_str_init(at + 1, authority.len - (size_t)(at - authority.ptr) - 1);
    }
    if (rc == SL_OK)
        rc = parse_host_port(authority, u, why);
    if (rc == SL_OK && path.len != 0) {
        if (sl_str_to_u64(path, INT32_MAX, &u->database) != SL_OK)
            rc = fail("the path must be a database number", why);
        else
            u->has_database = true;
    }
    if (rc != SL_OK)
        sl__redis_url_dispose(u);
    return rc;
}

void sl__redis_url_dispose(struct sl__redis_url *u)
{
    free(u->host);
    free(u->username);
    if (u->password != NULL)
        OPENSSL_cleanse(u->password, strlen(u->password));
    free(u->password);
    *u = (struct sl__redis_url){0};
}
