/* The request head every wire family writes the same way, shared by src/providers/ (not a
 * public contract): the request line and Host, then the family's own headers (auth, version),
 * then the common tail (content type, accept, identity coding, user agent, request id, length)
 * and the body pieces after the head. Written with memcpy into pool memory (snprintf cost more
 * than the rest of a request's head building put together). */
#ifndef SLUICE_PROVIDERS_HEAD_H
#define SLUICE_PROVIDERS_HEAD_H

#include "sluice/provider.h"
#include "sluice/put.h"

struct sl__head {
    char *start;
    char *w; /* where the family writes its headers: each starts with "\r\n" */
    size_t cap;
    /* The tail's Accept value; empty: by the call (text/event-stream or application/json). Set
     * by a family whose replies are neither (Bedrock's event streams), after sl__head_start. */
    struct sl_str accept;
};

/* "<method> <base_path><path> HTTP/1.1\r\nHost: <authority>" (the absolute form through a
 * forward proxy), with room for extra more bytes of the family's headers. The call's own method
 * and path, when it names them (a stored response's routes), win over POST and path. */
void sl__head_start(struct sl__head *h, h2o_mem_pool_t *pool, const struct sl_origin *o,
                    const struct sl_upstream_call *call, struct sl_str path, size_t extra);

/* The common tail and the blank line; the head and the call's body pieces into *bufs. */
void sl__head_finish(struct sl__head *h, h2o_mem_pool_t *pool, const struct sl_upstream_call *call,
                     h2o_iovec_t **bufs, size_t *nbufs);

#endif
