#include <string.h>

#include "head.h"
#include "sluice/base.h"
#include "sluice_version.h"

/* The fixed text of a head (request line words, the tail's names and values, the version) is
 * well under this; the variable parts are added to it. */
#define FIXED_BYTES 384

void sl__head_start(struct sl__head *h, h2o_mem_pool_t *pool, const struct sl_origin *o,
                    const struct sl_upstream_call *call, struct sl_str path, size_t extra)
{
    /* A call on a stored resource names its own path below the base (GET /responses/{id}). */
    if (call->path.len != 0)
        path = call->path;
    const char *method = call->method != NULL ? call->method : "POST";
    h->cap = FIXED_BYTES + extra + strlen(method) + strlen(o->authority) * 2 +
             strlen(o->base_path) + path.len + call->request_id.len;
    h->accept = SL_STR_NULL;
    h->start = h2o_mem_alloc_pool(pool, h->cap);
    char *w = sl_put_cstr(h->start, method);
    w = SL_PUT_LIT(w, " ");
    if (call->absolute_form) {
        w = sl_put_cstr(w, o->tls ? "https://" : "http://");
        w = sl_put_cstr(w, o->authority);
    }
    w = sl_put_cstr(w, o->base_path);
    w = sl_put(w, path.ptr, path.len);
    w = SL_PUT_LIT(w, " HTTP/1.1\r\nHost: ");
    h->w = sl_put_cstr(w, o->authority);
}

void sl__head_finish(struct sl__head *h, h2o_mem_pool_t *pool, const struct sl_upstream_call *call,
                     h2o_iovec_t **bufs, size_t *nbufs)
{
    char *w = SL_PUT_LIT(h->w, "\r\nContent-Type: application/json\r\nAccept: ");
    if (h->accept.len != 0)
        w = sl_put(w, h->accept.ptr, h->accept.len);
    else if (call->stream)
        w = SL_PUT_LIT(w, "text/event-stream");
    else
        w = SL_PUT_LIT(w, "application/json");
    /* identity: an upstream that compresses anyway is decoded by the client (upstream.h). */
    w = SL_PUT_LIT(w, "\r\nAccept-Encoding: identity\r\nUser-Agent: sluice/" SL_VERSION_BASE
                      "\r\nX-Request-Id: ");
    w = sl_put(w, call->request_id.ptr, call->request_id.len);
    w = SL_PUT_LIT(w, "\r\nContent-Length: ");
    w = sl_put_u64(w, call->body_len);
    w = SL_PUT_LIT(w, "\r\n\r\n");
    size_t n = (size_t)(w - h->start);
    SL_ASSERT(n < h->cap);
    h2o_iovec_t *v = h2o_mem_alloc_pool(pool, sizeof(*v) * (call->nbody + 1));
    v[0] = h2o_iovec_init(h->start, n);
    memcpy(v + 1, call->body, sizeof(*v) * call->nbody);
    *bufs = v;
    *nbufs = call->nbody + 1;
}
