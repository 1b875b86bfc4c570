/* Upstream wire families (reference 3.5, 6). Each is a const ops table reached only through
 * sl_provider_for (keyed by the provider key's adapter or vendor); the pipeline never formats a
 * provider's wire itself. A family says which wire it speaks for what the caller asks, builds
 * the request head (URL, auth, the headers it needs), reads its error bodies and says which
 * failures are worth a retry. Worker thread; pool memory. */
#ifndef SLUICE_PROVIDER_H
#define SLUICE_PROVIDER_H

#include <stdbool.h>

#include "sluice/dialect.h"
#include "sluice/h2o.h"
#include "sluice/resources.h"
#include "sluice/str.h"
#include "sluice/xlate.h"

/* The parts of an upstream request that depend on the request, not on the provider. */
struct sl_upstream_call {
    enum sl_op op;
    enum sl_wire wire; /* what the body speaks (sl_provider_ops.wire_for) */
    /* A call on a stored resource (GET /v1/responses/{id}): its method and its path below the
       api_base ("/responses/<id>/input_items?limit=2"). NULL and empty: POST to the endpoint of
       wire. Only the families whose wire_for admits SL_OP_RESPONSE_STATE see them. */
    const char *method;
    struct sl_str path;
    bool stream;
    bool absolute_form; /* plain-http upstream through a forward proxy */
    struct sl_str request_id;
    /* The caller's anthropic-version and anthropic-beta headers (empty when absent): Anthropic
     * upstreams get them, so a caller pins the API version it was written for. */
    struct sl_str anthropic_version;
    struct sl_str anthropic_beta;
    const h2o_iovec_t *body; /* the upstream body, in pieces */
    size_t nbody;
    size_t body_len;
};

/* An upstream error response reduced to the envelope's fields (slices into the body; empty
 * when absent). */
struct sl_upstream_error_info {
    struct sl_str message; /* raw JSON string literal (quotes included), or empty */
    struct sl_str type;    /* likewise */
    struct sl_str code;    /* raw JSON value: a string literal or a number */
    struct sl_str param;   /* raw JSON value */
};

struct sl_provider_ops {
    const char *name;
    /* The wire to send for op when the caller speaks caller, through key: the caller's own when
     * the family (and, for wires a key may or may not speak, such as Responses, the key's
     * capabilities) serves it natively, else the one the family translates to; SL_WIRE_COUNT
     * when it cannot serve op at all. */
    enum sl_wire (*wire_for)(const struct sl_provider_key *key, enum sl_op op, enum sl_wire caller);
    /* Builds the complete request (head + body pieces) into pool memory. */
    void (*build_request)(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs);
    /* Extracts message/type/code/param from an error body; false when it has none. */
    bool (*parse_error)(struct sl_str body, struct sl_upstream_error_info *out);
    /* True when an error status from this family is worth another attempt (5xx; Anthropic's
     * 529 overloaded). */
    bool (*retryable_status)(int status);
};

const struct sl_provider_ops *sl_provider_for(const struct sl_provider_key *key);

extern const struct sl_provider_ops sl_provider_openai;
extern const struct sl_provider_ops sl_provider_anthropic;

#endif
