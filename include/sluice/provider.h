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
    enum sl_wire wire;   /* what the body speaks (sl_provider_ops.wire_for) */
    struct sl_str model; /* the upstream model id, plain text (families that put it in the URL) */
    struct sl_str token; /* the access token prepare obtained (plain text), or empty */
    /* A call on a stored resource (GET /v1/responses/{id}): its method and its path below the
       api_base ("/responses/<id>/input_items?limit=2"). NULL and empty: POST to the endpoint of
       wire. Only the families whose wire_for admits SL_OP_RESPONSE_STATE see them. */
    const char *method;
    struct sl_str path;
    bool stream;
    bool absolute_form; /* plain-http upstream through a forward proxy */
    struct sl_str request_id;
    int64_t unix_time; /* the wall clock when the call started (seconds): request signing */
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
    /* Seconds to wait before retrying, as decimal text, when the body says so (Google's
     * RetryInfo.retryDelay "37s" -> "37"); empty otherwise. A Retry-After header wins. */
    struct sl_str retry_after;
};

struct sl_upstreams;

/* An asynchronous step before the request is built (an OAuth access token): what the family's
 * prepare hook gets, and what it fills. The caller keeps it alive until done() ran or it called
 * sl_provider_prepare_cancel. */
struct sl_provider_prep {
    const struct sl_provider_key *key;
    h2o_mem_pool_t *pool;           /* the request's: the token is copied here */
    struct sl_upstreams *upstreams; /* this worker's upstream client (for a token fetch) */
    h2o_context_t *ctx;             /* this worker's h2o context (its loop and message queue) */
    struct sl_str token;            /* out: the access token (pool memory) */
    char why[320];                  /* out: why it failed (for the caller's 502) */
    /* Called on this worker's loop when prepare returned SL_AGAIN: rc is 0 (token set) or SL_ERR
     * (why set). Never called from inside prepare. */
    void (*done)(struct sl_provider_prep *p, int rc);
    void *ud;
    void *_wait; /* private: the pending wait */
};

struct sl_provider_ops {
    const char *name;
    /* The wire to send for op when the caller speaks caller, through key, to the upstream model
     * id model: the caller's own when the family (and, for wires a key may or may not speak,
     * such as Responses, the key's capabilities) serves it natively, else the one the family
     * translates to (for some families it depends on the model: Claude on Vertex AI speaks
     * Anthropic's wire); SL_WIRE_COUNT when it cannot serve op at all (for this model). */
    enum sl_wire (*wire_for)(const struct sl_provider_key *key, struct sl_str model, enum sl_op op,
                             enum sl_wire caller);
    /* Optional (NULL: nothing to prepare). Gets what build_request needs that may take a while:
     * returns 0 when p->token is ready now, SL_AGAIN when p->done will be called, or SL_ERR with
     * p->why. Never blocks the loop. */
    int (*prepare)(struct sl_provider_prep *p);
    /* Builds the complete request (head + body pieces) into pool memory. */
    void (*build_request)(h2o_mem_pool_t *pool, const struct sl_provider_key *key,
                          const struct sl_upstream_call *call, h2o_iovec_t **bufs, size_t *nbufs);
    /* Extracts message/type/code/param from an error body; false when it has none. */
    bool (*parse_error)(struct sl_str body, struct sl_upstream_error_info *out);
    /* True when an error status from this family is worth another attempt (5xx; Anthropic's
     * 529 overloaded). */
    bool (*retryable_status)(int status);
    /* Optional: for a family that names its errors in a response header (Bedrock's
     * x-amzn-ErrorType). Returns the status the non-2xx head h stands for (Bedrock's
     * ModelNotReadyException comes as 429 but is worth a retry: 503) and sets *type to the
     * error's name, a slice of h (empty when none). NULL: the status as sent, no type. */
    int (*classify)(const struct sl_upstream_head *h, struct sl_str *type);
};

const struct sl_provider_ops *sl_provider_for(const struct sl_provider_key *key);

/* Stops waiting for a prepare that returned SL_AGAIN (the request is going away): done() will not
 * be called. Worker thread. */
void sl_provider_prepare_cancel(struct sl_provider_prep *p);

extern const struct sl_provider_ops sl_provider_openai;
extern const struct sl_provider_ops sl_provider_anthropic;
extern const struct sl_provider_ops sl_provider_bedrock;
extern const struct sl_provider_ops sl_provider_azure;
extern const struct sl_provider_ops sl_provider_gemini;
extern const struct sl_provider_ops sl_provider_vertex;

/* Google's error envelope {"error":{"code","message","status","details"}} (Gemini API, Vertex
 * AI): message, status as the type, code; shared by the gemini and vertex families. */
bool sl_provider_google_error(struct sl_str body, struct sl_upstream_error_info *out);

#endif
