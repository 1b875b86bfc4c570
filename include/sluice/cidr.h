/* IP addresses and CIDR ranges: parsed from configuration text and from request headers, and
 * matched against each other; plus the client address behind trusted reverse proxies, with
 * nginx's real_ip semantics (set_real_ip_from, real_ip_header, real_ip_recursive). Pure
 * functions: no I/O, no allocation, any thread.
 *
 * An address keeps its family: an IPv4 range never matches an IPv6 address and the other way
 * round (as in the reference gateway), except that an IPv4-mapped IPv6 address (::ffff:a.b.c.d,
 * what a dual-stack listener reports for an IPv4 peer) is read as the IPv4 address it carries. */
#ifndef SLUICE_CIDR_H
#define SLUICE_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/str.h"

struct sockaddr;

struct sl_ip {
    uint8_t b[16]; /* network order; IPv4 in the first 4 bytes, the rest zero */
    bool v4;
};

struct sl_cidr {
    struct sl_ip net; /* host bits cleared */
    uint8_t bits;     /* prefix length: 0..32 for IPv4, 0..128 for IPv6 */
};

/* Longest text sl_ip_format writes, NUL included (INET6_ADDRSTRLEN). */
#define SL_IP_TEXT_MAX 46

/* Parses a dotted IPv4 address or an IPv6 address (RFC 4291 text, no zone, no brackets).
 * Returns 0, or SL_EPARSE. */
int sl_ip_parse(struct sl_str s, struct sl_ip *out);

/* Parses "ADDR/BITS". With allow_bare, a plain address is a host range (/32 or /128). Host
 * bits set below the prefix ("10.1.2.3/8") are cleared, as ipnet and nginx do. Returns 0, or
 * SL_EPARSE. */
int sl_cidr_parse(struct sl_str s, bool allow_bare, struct sl_cidr *out);

bool sl_cidr_contains(const struct sl_cidr *c, const struct sl_ip *ip);
/* True when any of the n ranges contains ip. */
bool sl_cidr_any(const struct sl_cidr *v, size_t n, const struct sl_ip *ip);

/* The address of an AF_INET or AF_INET6 socket address; false for other families. */
bool sl_ip_from_sockaddr(const struct sockaddr *sa, struct sl_ip *out);

/* Writes the address as text ("10.0.0.1", "2001:db8::1") NUL-terminated into buf (at least
 * SL_IP_TEXT_MAX bytes); returns its length. */
size_t sl_ip_format(const struct sl_ip *ip, char *buf, size_t cap);

/* Reads one token of a forwarded-for list: an address, optionally with a port ("1.2.3.4:80")
 * or in brackets ("[::1]", "[::1]:443"), surrounded by optional blanks. Returns 0, or SL_EPARSE
 * for anything else (a host name, "unknown", an obfuscated identifier). */
int sl_ip_parse_forwarded(struct sl_str token, struct sl_ip *out);

/* The client address, as nginx's real_ip module finds it. values are the forwarded header's
 * instances in the order received (each a comma-separated list; tokens that are not addresses
 * are skipped). When peer is not in trusted, peer is the client. Otherwise, without recursive,
 * the client is the rightmost listed address; with recursive, the list is walked from the right
 * and the first address outside trusted is the client, or the leftmost one when every listed
 * address is trusted. An empty list leaves peer. */
struct sl_ip sl_real_ip(const struct sl_ip *peer, const struct sl_str *values, size_t nvalues,
                        const struct sl_cidr *trusted, size_t ntrusted, bool recursive);

#endif
