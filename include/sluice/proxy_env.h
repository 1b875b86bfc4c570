/* Outbound HTTP proxies from the environment, the way curl and most HTTP clients read them:
 * HTTPS_PROXY for https upstreams (reached through a CONNECT tunnel), HTTP_PROXY for plain-http
 * upstreams (absolute-form requests), NO_PROXY for exceptions. Lower-case names win over
 * upper-case ones. Read once at start-up. */
#ifndef SLUICE_PROXY_ENV_H
#define SLUICE_PROXY_ENV_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/diag.h"

struct sl_proxy_target {
    char *host; /* IPv6 without brackets */
    uint16_t port;
    char *authority;  /* "host:port" for the CONNECT line and Host header */
    char *auth_value; /* "Basic <base64>" from user:password in the URL, or NULL; secret */
    char *display;    /* "http://host:port" without credentials, for logs */
};

struct sl_no_proxy_entry {
    char *host;    /* lower-case name or domain suffix (".example.com"), or an address */
    uint16_t port; /* 0 = any port */
    bool is_cidr;
    int family; /* AF_INET / AF_INET6 for addresses and CIDRs, 0 for names */
    uint8_t addr[16];
    unsigned prefix;
};

struct sl_proxy_env {
    bool has_https; /* used for https origins */
    struct sl_proxy_target https;
    bool has_http; /* used for http origins */
    struct sl_proxy_target http;
    bool no_proxy_all; /* NO_PROXY=* */
    struct sl_no_proxy_entry *no_proxy;
    size_t n_no_proxy;
};

/* Reads the variables from envp (NULL-terminated "NAME=value"). Only http:// proxy URLs are
 * supported ("host:port" without a scheme means http://). Problems are reported through diag
 * naming the variable (credentials are never printed). Returns 0 or SL_ERR. */
int sl_proxy_env_load(char *const *envp, struct sl_proxy_env *out, struct sl_diag *diag);
void sl_proxy_env_dispose(struct sl_proxy_env *pe);

/* The proxy to use for an origin, or NULL for a direct connection (no proxy configured for
 * its scheme, or NO_PROXY matches: "*", an exact host, a domain suffix with or without a
 * leading dot, an IP address or a CIDR block, each optionally with ":port"). */
const struct sl_proxy_target *sl_proxy_env_select(const struct sl_proxy_env *pe, bool tls,
                                                  const char *host, uint16_t port);

#endif
