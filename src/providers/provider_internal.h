/* What the wire families that put ids in their URL paths (Azure OpenAI, Gemini, Vertex AI) share
 * besides the common head (head.h): a path segment, escaped; and the token prepare step. Not a
 * contract for other areas. */
#ifndef SLUICE_PROVIDER_INTERNAL_H
#define SLUICE_PROVIDER_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/provider.h"

/* Bytes a path segment may take once escaped. */
static inline size_t sl__segment_bound(struct sl_str s)
{
    return s.len * 3;
}

/* s as one path segment (RFC 3986 pchar without ':', which Google's paths use before the
 * method): every other byte percent-encoded, '/' included, so a model id (a wildcard capture
 * comes from the caller) can never leave its segment. */
static inline char *sl__put_segment(char *w, struct sl_str s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~' || c == '@';
        if (plain) {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    return w;
}

/* The prepare step of the families whose credential is traded for tokens (token.h). */
int sl__provider_token_prepare(struct sl_provider_prep *p);

#endif
