#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/base.h"
#include "sluice/cidr.h"

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An IPv4-mapped IPv6 address is the IPv4 address it carries. */
static void set_v6(struct sl_ip *out, const uint8_t b[16])
{
    *out = (struct sl_ip){0};
    if (memcmp(b, v4_mapped_prefix, sizeof(v4_mapped_prefix)) == 0) {
        memcpy(out->b, b + 12, 4);
        out->v4 = true;
        return;
    }
    memcpy(out->b, b, 16);
}

int sl_ip_parse(struct sl_str s, struct sl_ip *out)
{
    char text[SL_IP_TEXT_MAX];
    uint8_t b[16];
    if (s.len == 0 || s.len >= sizeof(text) || memchr(s.ptr, '\0', s.len) != NULL)
        return SL_EPARSE;
    memcpy(text, s.ptr, s.len);
    text[s.len] = '\0';
    if (inet_pton(AF_INET, text, b) == 1) {
        *out = (struct sl_ip){.v4 = true};
        memcpy(out->b, b, 4);
        return SL_OK;
    }
    if (inet_pton(AF_INET6, text, b) == 1) {
        set_v6(out, b);
        return SL_OK;
    }
    return SL_EPARSE;
}

static void clear_host_bits(struct sl_ip *ip, unsigned bits)
{
    unsigned total = ip->v4 ? 32 : 128;
    for (unsigned i = bits; i < total; i++)
        ip->b[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
}

int sl_cidr_parse(struct sl_str s, bool allow_bare, struct sl_cidr *out)
{
    const char *slash = s.len != 0 ? memchr(s.ptr, '/', s.len) : NULL;
    struct sl_ip ip;
    uint64_t bits;
    if (slash == NULL) {
        if (!allow_bare || sl_ip_parse(s, &ip) != SL_OK)
            return SL_EPARSE;
        *out = (struct sl_cidr){ip, (uint8_t)(ip.v4 ? 32 : 128)};
        return SL_OK;
    }
    struct sl_str addr = sl_str_init(s.ptr, (size_t)(slash - s.ptr));
    struct sl_str len = sl_str_init(slash + 1, s.len - addr.len - 1);
    if (sl_ip_parse(addr, &ip) != SL_OK || len.len == 0 || len.len > 3 ||
        sl_str_to_u64(len, 128, &bits) != SL_OK)
        return SL_EPARSE;
    /* "::ffff:10.0.0.0/104" is read as 10.0.0.0/8: the mapped address is IPv4. */
    bool mapped = ip.v4 && memchr(addr.ptr, ':', addr.len) != NULL;
    if (mapped) {
        if (bits < 96)
            return SL_EPARSE;
        bits -= 96;
    }
    if (ip.v4 && bits > 32)
        return SL_EPARSE;
    clear_host_bits(&ip, (unsigned)bits);
    *out = (struct sl_cidr){ip, (uint8_t)bits};
    return SL_OK;
}

bool sl_cidr_contains(const struct sl_cidr *c, const struct sl_ip *ip)
{
    if (c->net.v4 != ip->v4)
        return false;
    unsigned full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(c->net.b, ip->b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (ip->b[full] & mask) == c->net.b[full];
}

bool sl_cidr_any(const struct sl_cidr *v, size_t n, const struct sl_ip *ip)
{
    for (size_t i = 0; i < n; i++) {
        if (sl_cidr_contains(&v[i], ip))
            return true;
    }
    return false;
}

bool sl_ip_from_sockaddr(const struct sockaddr *sa, struct sl_ip *out)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        *out = (struct sl_ip){.v4 = true};
        memcpy(out->b, &in->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        set_v6(out, in6->sin6_addr.s6_addr);
        return true;
    }
    return false;
}

size_t sl_ip_format(const struct sl_ip *ip, char *buf, size_t cap)
{
    SL_ASSERT(cap >= SL_IP_TEXT_MAX);
    const char *r = inet_ntop(ip->v4 ? AF_INET : AF_INET6, ip->b, buf, (socklen_t)cap);
    SL_ASSERT(r != NULL);
    return strlen(buf);
}

int sl_ip_parse_forwarded(struct sl_str token, struct sl_ip *out)
{
    struct sl_str t = sl_str_trim(token);
    if (t.len == 0)
        return SL_EPARSE;
    if (t.ptr[0] == '[') {
        const char *close = memchr(t.ptr, ']', t.len);
        if (close == NULL)
            return SL_EPARSE;
        return sl_ip_parse(sl_str_init(t.ptr + 1, (size_t)(close - t.ptr) - 1), out);
    }
    if (sl_ip_parse(t, out) == SL_OK)
        return SL_OK;
    /* "1.2.3.4:80": an address with a port has exactly one colon (a bare IPv6 address has
     * several and parsed above). */
    const char *colon = memchr(t.ptr, ':', t.len);
    if (colon == NULL || memchr(colon + 1, ':', t.len - (size_t)(colon - t.ptr) - 1) != NULL)
        return SL_EPARSE;
    return sl_ip_parse(sl_str_init(t.ptr, (size_t)(colon - t.ptr)), out);
}

/* Walks the forwarded addresses from the right: the last token of the last instance first. */
struct walk {
    const struct sl_str *values;
    size_t value; /* instance being read, counting down; 0 = done */
    size_t end;   /* the unread part of values[value - 1] is [0, end) */
};

static bool walk_next(struct walk *w, struct sl_ip *ip)
{
    while (w->value != 0) {
        struct sl_str v = w->values[w->value - 1];
        if (w->end == 0) {
            w->value--;
            w->end = w->value != 0 ? w->values[w->value - 1].len + 1 : 0;
            continue;
        }
        /* end is one past the comma that ended the previous token (or len + 1). */
        size_t stop = w->end - 1, start = stop;
        while (start > 0 && v.ptr[start - 1] != ',')
            start--;
        w->end = start;
        if (sl_ip_parse_forwarded(sl_str_init(v.ptr + start, stop - start), ip) == SL_OK)
            return true;
    }
    return false;
}

struct sl_ip sl_real_ip(const struct sl_ip *peer, const struct sl_str *values, size_t nvalues,
                        const struct sl_cidr *trusted, size_t ntrusted, bool recursive)
{
    struct walk w = {values, nvalues, nvalues != 0 ? values[nvalues - 1].len + 1 : 0};
    struct sl_ip ip, leftmost = *peer;
    bool any = false;
    if (!sl_cidr_any(trusted, ntrusted, peer))
        return *peer;
    while (walk_next(&w, &ip)) {
        if (!recursive || !sl_cidr_any(trusted, ntrusted, &ip))
            return ip;
        leftmost = ip;
        any = true;
    }
    return any ? leftmost : *peer;
}
