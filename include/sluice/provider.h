/* Upstream wire families. Each is a const ops table; the api layer picks one by the provider
 * key's adapter and never formats a provider's wire itself. Worker thread; pool memory. */
#ifndef SLUICE_PROVIDER_H
#define SLUICE_PROVIDER_H

#include <stdbool.h>

#include "sluice/h2o.h"
#include "sluice/resources.h"
#include "sluice/str.h"

/* Client-facing endpoints that are proxied. */
enum sl_endpoint {
    SL_EP_CHAT = 0,    /* POST /v1/chat/completions */
    SL_EP_COMPLETIONS, /* POST /v1/completions */
    SL_EP_EMBEDDINGS,  /* POST /v1/embeddings */
};

/* The parts of an upstream request that depend on the request, not on the provider. */
struct sl_upstream_call {
    enum sl_endpoint endpoint;
    bool stream;
    bool absolute_form; /* plain-http upstream through a forward proxy */
    struct sl_str request_id;
    const h2o_iovec_t *body; /* the rewritten body, in pieces */
    size_t nbody;
    size_t body_len;
};

/* An upstream error response reduced to the OpenAI envelope's fields (slices into the body;
 * empty when absent). */
struct sl_upstream_error_info {
    struct sl_str message; /* raw JSON string literal (quotes included), or empty */
    struct sl_str type;    /* likewise */
    struct sl_str code;    /* raw JSON value: a string literal or a number */
    struct sl_str param;   /* raw JSON value */
};

struct sl_provider_ops {
    const char *name;
    /* Builds the complete request (head + body pieces) into pool memory. */
    void (*build_request)(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs);
    /* Extracts message/type/code/param from an error body; false when it has none. */
    bool (*parse_error)(struct sl_str body, struct sl_upstream_error_info *out);
};

const struct sl_provider_ops *sl_provider_for(const struct sl_provider_key *key);

extern const struct sl_provider_ops sl_provider_openai;

#endif
