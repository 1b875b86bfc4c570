/* Translation between wire formats, as pairs from -> to: `from` is the caller's wire (its client
 * dialect), `to` the upstream's. A pair translates the request body on the way out, and the
 * JSON response and the event stream on the way back. When both sides speak the same wire no
 * pair exists (sl_xlate_for returns NULL): the pipeline then splices the caller's bytes (only
 * "model" changes), which keeps passthrough zero-copy.
 *
 * Translators walk their input with the JSON iterator and write their output with the
 * streaming writer (json_w.h): no DOM, no allocation besides the capped output buffer, a scratch
 * buffer no larger than the input for strings that must be decoded (tool arguments), and, for
 * streams, the stage's state in the request pool (freed with it). Pure functions: no I/O, no clock;
 * what varies per request (ids, times, model names) comes in struct sl_xlate_ctx, so golden files
 * and fuzz targets drive them exactly as the pipeline does. Worker thread. */
#ifndef SLUICE_XLATE_H
#define SLUICE_XLATE_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/buf.h"
#include "sluice/filter.h"
#include "sluice/h2o.h"
#include "sluice/json.h"
#include "sluice/str.h"

/* Wire formats. */
enum sl_wire {
    SL_WIRE_CHAT = 0,             /* OpenAI chat completions */
    SL_WIRE_COMPLETIONS,          /* OpenAI legacy completions */
    SL_WIRE_EMBEDDINGS,           /* OpenAI embeddings */
    SL_WIRE_ANTHROPIC,            /* Anthropic Messages */
    SL_WIRE_RESPONSES,            /* OpenAI Responses */
    SL_WIRE_GEMINI,               /* Google generateContent (Gemini API and Vertex AI) */
    SL_WIRE_GEMINI_EMBED,         /* Google batchEmbedContents */
    SL_WIRE_BEDROCK_CONVERSE,     /* Amazon Bedrock Converse and ConverseStream */
    SL_WIRE_BEDROCK_ANTHROPIC,    /* Claude on Bedrock's InvokeModel: Anthropic Messages bodies
                                     with anthropic_version bedrock-2023-05-31, no model */
    SL_WIRE_BEDROCK_TITAN_EMBED,  /* Titan Text Embeddings on InvokeModel */
    SL_WIRE_BEDROCK_COHERE_EMBED, /* Cohere Embed on InvokeModel */
    SL_WIRE_COUNT,
};

const char *sl_wire_name(enum sl_wire w);

/* Token counts of one call, as far as they are known (-1: not reported). input_tokens counts
 * every prompt token, cached ones included (OpenAI's prompt_tokens); cache_read_tokens and
 * cache_creation_tokens say how many of them were read from or written to a prompt cache. */
struct sl_usage {
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_read_tokens;
    int64_t cache_creation_tokens;
    int64_t reasoning_tokens;
};

#define SL_USAGE_UNKNOWN ((struct sl_usage){-1, -1, -1, -1, -1})

/* What a translation needs to know about the request besides the body. */
struct sl_xlate_ctx {
    struct sl_str alias;          /* the model name the caller sent, plain text */
    struct sl_str alias_json;     /* the same, as the JSON string literal the caller sent */
    struct sl_str upstream_model; /* the model id the upstream expects, plain text */
    bool stream;                  /* the caller asked for a stream */
    bool include_usage;           /* OpenAI callers: stream_options.include_usage was true */
    struct sl_str id_seed;        /* unique per request (the request id): for ids a translation
                                     must invent (msg_..., chatcmpl-..., call_...) */
    int64_t created;              /* unix seconds: OpenAI's "created" */
    /* The caller's request body, for replies that depend on what was asked (an embeddings
       caller's encoding_format). Empty when unknown. */
    struct sl_str caller_body;
    /* Requests to Anthropic: leave temperature and top_p out (anthropic-version 2026-10-21
       refuses them as extra inputs); the caller's values are dropped, not refused. */
    bool anthropic_no_sampling;
    /* Anthropic callers: their anthropic-beta header (empty when absent), for wires that carry
       betas in the body (Claude on Bedrock's anthropic_beta). */
    struct sl_str anthropic_beta;
    /* What the caller dialect prepared for its passthrough rewrites in an earlier phase (the
       Responses dialect: the sealer of response ids, respid.h); NULL when it prepared nothing. */
    void *dialect_state;
};

/* Caps on what a peer controls, besides the output buffer's size. */
#define SL_XLATE_MAX_TOOL_CALLS 256  /* tool calls (tool_use blocks) in one message or stream */
#define SL_XLATE_MAX_BLOCKS     4096 /* content blocks in one streamed message */
#define SL_XLATE_MAX_ID         256  /* ids and error types a stream stage keeps between events */
#define SL_XLATE_MAX_DEPTH      SL_JSON_DEFAULT_MAX_DEPTH /* nesting of any document read */

/* Caller body -> upstream body, appended to out (whose cap is the limit). Returns 0;
 * SL_EPARSE when the body cannot be translated, with a reason for the caller's 400 in why
 * ("messages[2].content[0]: unsupported block type \"audio\""); or SL_E2BIG at the cap. */
typedef int sl_xlate_request_fn(const struct sl_xlate_ctx *c, struct sl_str body,
                                struct sl_buf *out, char *why, size_t whylen);

/* Upstream JSON response -> caller JSON response (model = the alias), appended to out; usage
 * filled from the upstream's. Returns 0; SL_EPARSE with why when the upstream's JSON is not what
 * its wire promises (the caller gets 502 upstream_decode_error); SL_ERR with why when the
 * upstream answered 2xx but refused the request itself (Gemini's promptFeedback.blockReason: the
 * caller gets 400, naming the reason); or SL_E2BIG. */
typedef int sl_xlate_response_fn(const struct sl_xlate_ctx *c, struct sl_str body,
                                 struct sl_buf *out, struct sl_usage *usage, char *why,
                                 size_t whylen);

/* A stream stage (filter.h) that turns upstream events into caller events, allocated in pool,
 * passing its output to next (the caller dialect's encoder, or another stage). It fills usage
 * as the upstream reports it. It never emits the caller dialect's terminator ([DONE],
 * message_stop): the encoder owns it, and writes it when on_end reaches it. */
typedef struct sl_filter *sl_xlate_stream_fn(h2o_mem_pool_t *pool, const struct sl_xlate_ctx *c,
                                             struct sl_usage *usage, struct sl_filter *next);

struct sl_xlate_pair {
    enum sl_wire from, to;
    sl_xlate_request_fn *request;
    sl_xlate_response_fn *response;
    sl_xlate_stream_fn *stream;
    /* A pair composed through chat (from -> CHAT -> to) has no functions of its own: via[0] is
     * {from, CHAT} and via[1] is {CHAT, to}. Use it through the sl_xlate_* calls below. */
    const struct sl_xlate_pair *via[2];
};

/* The pair translating from one wire to another (from != to: the same wire needs no pair), or
 * NULL when no translation exists (the caller then answers 400: this model cannot serve this
 * route). Each wire only implements its pairs with SL_WIRE_CHAT (embeddings excepted: their
 * wires pair with each other and compose with nothing): between two other wires the pair
 * composes {from, CHAT} and {CHAT, to}. Any thread. */
const struct sl_xlate_pair *sl_xlate_for(enum sl_wire from, enum sl_wire to);

/* The pair's translators, composed when the pair is (the intermediate chat document lives in a
 * buffer capped like out and freed before return; the intermediate stream asks for usage so the
 * outer stage can report it). Same contracts as the typedefs above. */
int sl_xlate_request(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c,
                     struct sl_str body, struct sl_buf *out, char *why, size_t whylen);
int sl_xlate_response(const struct sl_xlate_pair *p, const struct sl_xlate_ctx *c,
                      struct sl_str body, struct sl_buf *out, struct sl_usage *usage, char *why,
                      size_t whylen);
struct sl_filter *sl_xlate_stream(const struct sl_xlate_pair *p, h2o_mem_pool_t *pool,
                                  const struct sl_xlate_ctx *c, struct sl_usage *usage,
                                  struct sl_filter *next);

#endif
