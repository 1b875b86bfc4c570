/* Upstream wire families (reference 3.5, 6). Each is a const ops table reached only through
 * sl_provider_for (keyed by the provider key's adapter or vendor); the pipeline never formats a
 * provider's wire itself. A family says which wire it speaks for what the caller asks, builds
 * the request head (URL, auth, the headers it needs), reads its error bodies and says which
 * failures are worth a retry. Worker thread; pool memory. */
#ifndef SLUICE_PROVIDER_H
#define SLUICE_PROVIDER_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/dialect.h"
#include "sluice/h2o.h"
#include "sluice/resources.h"
#include "sluice/str.h"
#include "sluice/upstream.h"
#include "sluice/xlate.h"

/* The parts of an upstream request that depend on the request, not on the provider. */
struct sl_upstream_call {
    enum sl_op op;
    enum sl_wire wire; /* what the body speaks (sl_provider_ops.wire_for) */
    bool stream;
    bool absolute_form; /* plain-http upstream through a forward proxy */
    struct sl_str request_id;
    struct sl_str model; /* the upstream model id, plain text: for families that put it in the
                            URL (Bedrock's /model/{id}/converse) */
    int64_t unix_time;   /* the wall clock when the call started (seconds): request signing */
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
    /* The wire to send for op when the caller speaks caller: the caller's own when the family
     * serves it natively, else the one the family translates to; SL_WIRE_COUNT when the family
     * cannot serve op at all. */
    enum sl_wire (*wire_for)(enum sl_op op, enum sl_wire caller);
    /* Builds the complete request (head + body pieces) into pool memory. */
    void (*build_request)(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs);
    /* Extracts message/type/code/param from an error body; false when it has none. */
    bool (*parse_error)(struct sl_str body, struct sl_upstream_error_info *out);
    /* True when an error status from this family is worth another attempt (5xx; Anthropic's
     * 529 overloaded). */
    bool (*retryable_status)(int status);
    /* Optional: wire_for for a family whose wire depends on the model too (Bedrock: Claude
     * models take Anthropic callers' own body; Titan and Cohere embeddings their own bodies).
     * model is the upstream model id. NULL: wire_for decides. */
    enum sl_wire (*wire_for_model)(enum sl_op op, enum sl_wire caller, struct sl_str model);
    /* Optional: for a family that names its errors in a response header (Bedrock's
     * x-amzn-ErrorType). Returns the status the non-2xx head h stands for (Bedrock's
     * ModelNotReadyException comes as 429 but is worth a retry: 503) and sets *type to the
     * error's name, a slice of h (empty when none). NULL: the status as sent, no type. */
    int (*classify)(const struct sl_upstream_head *h, struct sl_str *type);
};

const struct sl_provider_ops *sl_provider_for(const struct sl_provider_key *key);

extern const struct sl_provider_ops sl_provider_openai;
extern const struct sl_provider_ops sl_provider_anthropic;
extern const struct sl_provider_ops sl_provider_bedrock;

#endif
