/* What the wire families (src/providers/) share to write a request head: the request line's
 * start, a URL path segment, the headers every family sends, and the final iovec list. Not a
 * contract for other areas. Heads are written with memcpy into a buffer sized for the worst
 * case (snprintf costs more than the rest of a request's head together). */
#ifndef SLUICE_PROVIDER_INTERNAL_H
#define SLUICE_PROVIDER_INTERNAL_H

#include <stdbool.h>
#include <string.h>

#include "sluice/base.h"
#include "sluice/provider.h"
#include "sluice/put.h"
#include "sluice_version.h"

/* Room for the fixed text of a head besides the variable parts each family adds up. */
#define SL__HEAD_FIXED 640

/* "POST " and, through a forward proxy, "http://authority". */
static inline char *sl__put_post(char *w, const struct sl_origin *o, bool absolute)
{
    w = SL_PUT_LIT(w, "POST ");
    if (absolute) {
        w = sl_put_cstr(w, o->tls ? "https://" : "http://");
        w = sl_put_cstr(w, o->authority);
    }
    return w;
}

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

/* " HTTP/1.1\r\nHost: authority\r\n": ends the request line. */
static inline char *sl__put_host(char *w, const struct sl_origin *o)
{
    w = SL_PUT_LIT(w, " HTTP/1.1\r\nHost: ");
    w = sl_put_cstr(w, o->authority);
    return SL_PUT_LIT(w, "\r\n");
}

/* The headers every family sends after its auth, and the blank line. */
static inline char *sl__put_tail(char *w, const struct sl_upstream_call *call, size_t body_len)
{
    w = SL_PUT_LIT(w, "Content-Type: application/json\r\nAccept: ");
    if (call->stream)
        w = SL_PUT_LIT(w, "text/event-stream");
    else
        w = SL_PUT_LIT(w, "application/json");
    /* identity: an upstream that compresses anyway is decoded by the client (upstream.h). */
    w = SL_PUT_LIT(w, "\r\nAccept-Encoding: identity\r\nUser-Agent: sluice/" SL_VERSION_BASE
                      "\r\nX-Request-Id: ");
    w = sl_put(w, call->request_id.ptr, call->request_id.len);
    w = SL_PUT_LIT(w, "\r\nContent-Length: ");
    w = sl_put_u64(w, body_len);
    return SL_PUT_LIT(w, "\r\n\r\n");
}

/* The head (head..end) followed by the body pieces, as the request's iovecs. */
static inline void sl__request_iov(h2o_mem_pool_t *pool, char *head, char *end, size_t cap,
                                   const h2o_iovec_t *body, size_t nbody, h2o_iovec_t **bufs,
                                   size_t *nbufs)
{
    size_t n = (size_t)(end - head);
    SL_ASSERT(n < cap);
    h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(*v) * (nbody + 1));
    v[0] = h2o_iovec_init(head, n);
    memcpy(v + 1, body, sizeof(*v) * nbody);
    *bufs = v;
    *nbufs = nbody + 1;
}

/* The prepare step of the families whose credential is traded for tokens (token.h). */
int sl__provider_token_prepare(struct sl_provider_prep *p);

#endif
