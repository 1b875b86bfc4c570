#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/config.h"
#include "sluice/str.h"

static void format_text(struct sl_addr *a)
{
    char host[INET6_ADDRSTRLEN];
    uint16_t port = sl_addr_port(a);
    if (a->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)&a->ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        snprintf(a->text, sizeof(a->text), "[%s]:%u", host, port);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)&a->ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        snprintf(a->text, sizeof(a->text), "%s:%u", host, port);
    }
}

/* Host is a bracketed IPv6 literal or a dotted IPv4 quad; names are refused because a listener
 * binds an address, and resolving here would block and depend on the resolver at boot. */
static int parse_host(struct sl_str host, struct sl_addr *out)
{
    char buf[INET6_ADDRSTRLEN + 2];
    if (host.len < 2 || host.len >= sizeof(buf))
        return SL_EPARSE;
    bool v6 = host.ptr[0] == '[';
    if (v6 && host.ptr[host.len - 1] != ']')
        return SL_EPARSE;
    if (v6)
        host = sl_str_init(host.ptr + 1, host.len - 2);
    memcpy(buf, host.ptr, host.len);
    buf[host.len] = '\0';
    memset(out, 0, sizeof(*out));
    if (v6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&out->ss;
        s6->sin6_family = AF_INET6;
        out->len = sizeof(*s6);
        return inet_pton(AF_INET6, buf, &s6->sin6_addr) == 1 ? SL_OK : SL_EPARSE;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&out->ss;
    s4->sin_family = AF_INET;
    out->len = sizeof(*s4);
    return inet_pton(AF_INET, buf, &s4->sin_addr) == 1 ? SL_OK : SL_EPARSE;
}

int sl_addr_parse(const char *text, struct sl_addr *out)
{
    struct sl_str s = sl_str_from_cstr(text);
    const char *colon = s.len != 0 ? memrchr(s.ptr, ':', s.len) : NULL;
    if (colon == NULL)
        return SL_EPARSE;
    struct sl_str host = sl_str_init(s.ptr, (size_t)(colon - s.ptr));
    struct sl_str port_text = sl_str_init(colon + 1, s.len - host.len - 1);
    uint64_t port;
    /* At most five digits, so "0000080" is not taken for port 80 by accident. */
    if (port_text.len > 5 || sl_str_to_u64(port_text, 65535, &port) != SL_OK)
        return SL_EPARSE;
    struct sl_addr a;
    if (parse_host(host, &a) != SL_OK)
        return SL_EPARSE;
    sl_addr_set_port(&a, (uint16_t)port);
    *out = a;
    return SL_OK;
}

uint16_t sl_addr_port(const struct sl_addr *a)
{
    if (a->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)&a->ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)(const void *)&a->ss)->sin_port);
}

void sl_addr_set_port(struct sl_addr *a, uint16_t port)
{
    if (a->ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)&a->ss)->sin6_port = htons(port);
    else
        ((struct sockaddr_in *)(void *)&a->ss)->sin_port = htons(port);
    format_text(a);
}
