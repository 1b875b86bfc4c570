/* Client dialects: one ops table per client format (OpenAI chat/completions/embeddings,
 * Anthropic Messages, OpenAI Responses). A dialect owns what the caller's
 * format decides: the checks on a request body, how errors look and which status a caller sees
 * for an upstream's, the stream encoder at the end of every stream's filter chain (it owns the
 * terminator: [DONE] for OpenAI, message_stop for Anthropic), and the passthrough rewrite used
 * when the upstream speaks the same wire (only "model" changes; usage is read on the way).
 * Pure: no I/O; state in the request pool. Worker thread. */
#ifndef SLUICE_DIALECT_H
#define SLUICE_DIALECT_H

#include <stdbool.h>

#include "sluice/buf.h"
#include "sluice/filter.h"
#include "sluice/h2o.h"
#include "sluice/json.h"
#include "sluice/respid.h"
#include "sluice/splice.h"
#include "sluice/str.h"
#include "sluice/xlate.h"

/* What the caller asks for, as the route says. */
enum sl_op {
    SL_OP_CHAT = 0,     /* a generation: chat completions, messages */
    SL_OP_COMPLETIONS,  /* legacy completions */
    SL_OP_EMBEDDINGS,   /* embeddings */
    SL_OP_COUNT_TOKENS, /* Anthropic count_tokens */
    /* A stored response: retrieve, delete, cancel, list its input items (GET, DELETE, POST
       /v1/responses/{id}...). Only an upstream that speaks the Responses wire has them. */
    SL_OP_RESPONSE_STATE,
};

/* A caller's request body as inspection found it: slices into the body. */
struct sl_call {
    struct sl_str body;
    struct sl_json_member model;                /* a non-empty JSON string */
    struct sl_json_member stream_options;       /* OpenAI: for the splice that forces usage */
    bool stream;                                /* "stream": true */
    bool include_usage;                         /* OpenAI: stream_options.include_usage was true */
    struct sl_json_member previous_response_id; /* Responses: a string, or absent */
};

/* What the Responses routes hand their dialect as sl_xlate_ctx.dialect_state (api/responses.c
 * fills it, in the request's pool): how to seal the upstream's response ids (respid.h), and
 * room for the sealed ids of a JSON reply, which its splice points at until it is sent. */
struct sl_responses_state {
    struct sl_str secret; /* the sealing secret: responses.id_secrets[0], else the key's api_key */
    struct sl_respid_claims claims;
    bool stored; /* a stored response's call (GET /v1/responses/{id}): no tokens were spent */
    /* private */
    char _sealed[2][SL_RESPID_MAX_TEXT + 2]; /* "id" and "previous_response_id", quoted */
};

/* What a passthrough JSON rewrite decided. */
enum sl_rewrite {
    SL_REWRITE_OK = 0, /* emit the splice */
    SL_REWRITE_RAW,    /* not a JSON object: leave it alone */
    SL_REWRITE_DROP,   /* emit nothing */
    SL_REWRITE_REFUSE, /* "model" repeats more often than a splice can rewrite */
};

struct sl_dialect {
    const char *name; /* "openai", "anthropic": for logs */
    /* Checks body for op and fills call. Returns 0, or SL_EPARSE with the reason for the 400
     * in why ("missing field \"model\"", "duplicate key \"model\""). */
    int (*inspect)(enum sl_op op, struct sl_str body, struct sl_call *call, char *why,
                   size_t whylen);
    /* The status a caller sees for an upstream's error status. */
    int (*upstream_status)(int status);
    /* An error body in this dialect's envelope. type and code are the error table's (code NULL:
     * the same as type); status helps dialects that derive their type from it. upstream_type,
     * when set, is the upstream's own type, kept by dialects that pass it through. */
    struct sl_str (*error_body)(h2o_mem_pool_t *pool, int status, const char *type,
                                const char *code, struct sl_str message,
                                struct sl_str upstream_type);
    /* The stream's last stage: writes this dialect's framing into *out. */
    struct sl_filter *(*encoder)(h2o_mem_pool_t *pool, struct sl_buf *out);
    /* Same wire upstream: prepares sp (initialised here over call->body) to produce the
     * upstream body, with "model" replaced by model_json (and whatever else the wire needs for
     * the gateway to read usage). */
    void (*passthrough_request)(const struct sl_call *call, struct sl_str model_json, bool stream,
                                struct sl_splice *sp);
    /* Same wire upstream: the stage that rewrites its events for the caller. */
    sl_xlate_stream_fn *passthrough_stream;
    /* Same wire upstream: plans the rewrite of a JSON response into sp (initialised here). */
    enum sl_rewrite (*passthrough_json)(const struct sl_xlate_ctx *c, struct sl_str body,
                                        struct sl_str alias_json, struct sl_splice *sp,
                                        struct sl_usage *usage);
};

extern const struct sl_dialect sl_dialect_openai;
extern const struct sl_dialect sl_dialect_anthropic;
extern const struct sl_dialect sl_dialect_responses;

/* The OpenAI error envelope {"error":{"message","type","code"}}: message cut to 1024 bytes, type
 * and code (NULL: the same as type) under 128 bytes, everything JSON-escaped. */
struct sl_str sl_openai_error_body(h2o_mem_pool_t *pool, const char *type, const char *code,
                                   struct sl_str message);

#endif
