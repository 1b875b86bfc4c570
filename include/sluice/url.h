/* Upstream base URLs (provider_keys[].api_base): parsing and the normalisation rules of the
 * reference gateway, so a base pasted in any common form reaches the same endpoint. Pure
 * functions; no I/O, no allocation except the caller's sl_buf. */
#ifndef SLUICE_URL_H
#define SLUICE_URL_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/base.h"
#include "sluice/buf.h"
#include "sluice/str.h"

/* Where an upstream lives, derived from a normalised api_base. */
struct sl_origin {
    bool tls;
    char *host; /* connect target, SNI and certificate name; IPv6 without brackets */
    uint16_t port;
    char *authority; /* Host header value: "host" or "host:port" (IPv6 in brackets) */
    char *base_path; /* path prefix without trailing slash: "/v1", "" */
    char *key;       /* "https://host:port": identifies a connection pool */
};

/* Frees what the origin's strings hold and zeroes it. */
void sl_origin_dispose(struct sl_origin *o);

/* A parsed absolute http(s) URL. Slices point into the parsed text. */
struct sl_url {
    bool tls;           /* https */
    struct sl_str host; /* without brackets for IPv6 literals; lower-cased by the caller */
    uint16_t port;      /* explicit or the scheme default */
    bool port_explicit;
    struct sl_str path; /* "" or starting with '/'; no query, no fragment */
    bool host_is_ipv6;
};

/* Parses an absolute "http://" or "https://" URL with a host, an optional port and an optional
 * path. Rejects other schemes, userinfo ("user:pass@"), queries, fragments, empty hosts,
 * invalid ports, spaces and control characters. On failure returns SL_EPARSE and sets *why to
 * a static reason ("only http and https URLs are supported", ...). */
int sl_url_parse(struct sl_str text, struct sl_url *out, const char **why);

/* Normalises an api_base for an OpenAI-compatible upstream and appends it to out (the full base
 * URL without a trailing slash, e.g. "https://api.openai.com/v1"; scheme and host lower-cased, a
 * default port dropped):
 *   - a trailing slash is dropped;
 *   - a pasted endpoint suffix "/chat/completions", "/completions" or "/embeddings" is dropped;
 *   - the bare host https://api.openai.com (no path) gets "/v1".
 * Returns 0, or SL_EPARSE with *why set (see sl_url_parse), or SL_E2BIG when out's cap is
 * reached (out is then left as it was). */
int sl_url_normalize_openai_base(struct sl_str api_base, struct sl_buf *out, const char **why);

/* The same for an Anthropic upstream: the base without "/v1" (the provider adds
 * "/v1/messages"), so a pasted ".../v1", ".../v1/messages" or ".../v1/messages/count_tokens"
 * (with or without a trailing slash) reaches the same endpoint as the bare host. */
int sl_url_normalize_anthropic_base(struct sl_str api_base, struct sl_buf *out, const char **why);

/* The same with no endpoint rules, for families whose paths the provider builds from the model
 * (Bedrock's /model/{id}/converse): scheme and host lower-cased, a default port and trailing
 * slashes dropped, the path otherwise kept. */
int sl_url_normalize_plain_base(struct sl_str api_base, struct sl_buf *out, const char **why);

/* The same with a family's own rules: trailing slashes and any of suffixes (pasted endpoint
 * parts, checked repeatedly: "/openai/", "/v1") are dropped, and a bare host gets bare_path
 * (empty for none). Used for the Azure OpenAI, Gemini and Vertex AI families. */
int sl_url_normalize_base(struct sl_str api_base, const struct sl_str *suffixes, size_t n,
                          struct sl_str bare_path, struct sl_buf *out, const char **why);

#endif
